#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS DIR TARGET... — each libFuzzer target DIR/TARGET in turn for SECONDS,
# from the committed seeds in tests/fuzz/corpus/TARGET. The seeds are only read: new inputs go
# to a scratch corpus DIR/corpus-TARGET (emptied first), crashes to DIR/TARGET-crash-*, the
# run's log to DIR/TARGET.log. ASAN_OPTIONS/UBSAN_OPTIONS come from the caller; FUZZ_RSS is
# the memory limit in MB (default 2048). libFuzzer writes a file for every new input, hundreds a
# second early in a short run: on a disk creating them took a fifth of fuzz_compute's time,
# so the scratch corpus lives in FUZZ_SCRATCH (default /dev/shm, a tmpfs) during the run and
# is moved to DIR/corpus-TARGET after it (where FUZZ_SCRATCH is not writable, DIR is used).
# FUZZ_FLAGS_TARGET: extra libFuzzer flags for TARGET. Before its run each committed seed runs
# once with FUZZ_COMPUTE_DEEP_EVERY=1, so that fuzz_compute checks every seed deep (in the run
# itself one input in 32 is), whatever its hash; the other targets ignore the variable.
# One "1 passed, 0 failed" per clean run, FUZZ-FAIL and the log's tail otherwise; each run's
# executions and peak memory; ends with "N passed, M failed".
set -u
secs=$1 dir=$2
shift 2
corpus=$(dirname "$0")/corpus
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
{
  work=
  trap '[ -z "$work" ] || rm -rf "$work"' EXIT
  for t in "$@"; do
    rm -rf "$dir/corpus-$t"; mkdir -p "$dir/corpus-$t"
    work=$(mktemp -d "${FUZZ_SCRATCH:-/dev/shm}/segloss-$t.XXXXXX" 2>/dev/null) || work=
    flags=FUZZ_FLAGS_$t
    flags=${!flags:-}
    echo "== $t: the committed seeds, then $secs s${flags:+ ($flags)}"
    if ! FUZZ_COMPUTE_DEEP_EVERY=1 "$dir/$t" -rss_limit_mb="${FUZZ_RSS:-2048}" -timeout=10 \
           -artifact_prefix="$dir/$t-" "$corpus/$t"/* > "$dir/$t.seeds.log" 2>&1
    then echo "FUZZ-FAIL $t: a committed seed, see $dir/$t.seeds.log"; tail -40 "$dir/$t.seeds.log" | sed "s/^/  | /"
    elif "$dir/$t" "${work:-$dir/corpus-$t}" "$corpus/$t" -max_total_time="$secs" -rss_limit_mb="${FUZZ_RSS:-2048}" \
         -timeout=10 -print_final_stats=1 -artifact_prefix="$dir/$t-" $flags > "$dir/$t.log" 2>&1
    then echo "1 passed, 0 failed"
    else echo "FUZZ-FAIL $t: see $dir/$t.log and $dir/$t-crash-*"; tail -40 "$dir/$t.log" | sed "s/^/  | /"; fi
    if [ -n "$work" ]; then cp -R "$work/." "$dir/corpus-$t/"; rm -rf "$work"; work=; fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+[[:space:]]+DONE' "$dir/$t.log"
  done
} 2>&1 | tee "$log"
awk '/^[0-9]+ passed, [0-9]+ failed/ {p += $1; f += $3} /^FUZZ-FAIL/ {f++}
     END {print p " passed, " f " failed"; exit f > 0}' "$log"
