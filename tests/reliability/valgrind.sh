#!/usr/bin/env bash
# tests/reliability/valgrind.sh REGRESS — regress --quick under valgrind memcheck, once per SIMD
# path valgrind can run (regress --paths under valgrind lists them: valgrind has no AVX-512),
# with SEGLOSS_ISA set to it. Exit 1 is a failed check (counted in regress's own line); 99
# (--error-exitcode) is a memcheck error, and any other exit a crash: VALGRIND-FAIL.
# Ends with "N passed, M failed": regress's counts plus one failure per VALGRIND-FAIL.
set -u
regress=$1
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
paths=$($vg "$regress" --paths) || { echo "VALGRIND-FAIL: $regress --paths failed under valgrind"; paths=; }
{
  [ -n "$paths" ] || echo "VALGRIND-FAIL: no path to run"
  for isa in $paths; do
    echo "== valgrind memcheck, SEGLOSS_ISA=$isa"
    SEGLOSS_ISA=$isa $vg "$regress" --quick; rc=$?
    [ $rc -le 1 ] || echo "VALGRIND-FAIL $isa: memcheck errors or a crash (exit $rc)"
  done
} 2>&1 | tee "$log"
awk '/^[0-9]+ passed, [0-9]+ failed/ {p += $1; f += $3} /^VALGRIND-FAIL/ {f++}
     END {print p " passed, " f " failed"; exit f > 0}' "$log"
