#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS DIR TARGET... — each libFuzzer target DIR/TARGET in turn for SECONDS,
# from the committed seeds in tests/fuzz/corpus/TARGET. The seeds are only read: new inputs go
# to a scratch corpus DIR/corpus-TARGET (emptied first), crashes to DIR/TARGET-crash-*, the
# run's log to DIR/TARGET.log. ASAN_OPTIONS/UBSAN_OPTIONS come from the caller; FUZZ_RSS is
# the memory limit in MB (default 2048).
# One "1 passed, 0 failed" per clean run, FUZZ-FAIL and the log's tail otherwise; each run's
# executions and peak memory; ends with "N passed, M failed".
set -u
secs=$1 dir=$2
shift 2
corpus=$(dirname "$0")/corpus
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
{
  for t in "$@"; do
    rm -rf "$dir/corpus-$t"; mkdir -p "$dir/corpus-$t"
    echo "== $t: $secs s"
    if "$dir/$t" "$dir/corpus-$t" "$corpus/$t" -max_total_time="$secs" -rss_limit_mb="${FUZZ_RSS:-2048}" \
         -timeout=10 -print_final_stats=1 -artifact_prefix="$dir/$t-" > "$dir/$t.log" 2>&1
    then echo "1 passed, 0 failed"
    else echo "FUZZ-FAIL $t: see $dir/$t.log and $dir/$t-crash-*"; tail -40 "$dir/$t.log" | sed "s/^/  | /"; fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+ *DONE' "$dir/$t.log"
  done
} 2>&1 | tee "$log"
awk '/^[0-9]+ passed, [0-9]+ failed/ {p += $1; f += $3} /^FUZZ-FAIL/ {f++}
     END {print p " passed, " f " failed"; exit f > 0}' "$log"
