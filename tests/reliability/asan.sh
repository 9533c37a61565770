#!/usr/bin/env bash
# tests/reliability/asan.sh SUITE PROBE — the Catch2 suite and the two-translation-unit probe,
# both built with AddressSanitizer + UBSan; ASAN_OPTIONS and UBSAN_OPTIONS come from the
# caller (the Makefile's SAN_ENV). The probe runs without leak checking: it keeps its reference
# gradients to the end on purpose. A run killed by a signal (exit >= 128) prints SANITIZER-FAIL.
# Ends with "N passed, M failed": the suite's test cases and the probe's checks, plus one
# failure per SANITIZER-FAIL line and per sanitizer report.
set -u
suite=$1 probe=$2
here=$(dirname "$0")
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
{
  echo "== Catch2 suite under ASan+UBSan (exclude:[report])"
  "$suite" 'exclude:[report]'; rc=$?
  [ $rc -lt 128 ] || echo "SANITIZER-FAIL Catch2 suite killed (exit $rc)"
  echo "== probe (C, two translation units) under ASan+UBSan (no leak check: probe.c keeps its reference gradients)"
  ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=1 "$probe"; rc=$?
  [ $rc -lt 128 ] || echo "SANITIZER-FAIL probe killed (exit $rc)"
} 2>&1 | tee "$log"
counts=$(sh "$here/../unit/catch2_counts.sh" "$log")
if [ -n "$counts" ]; then echo "$counts"; echo "$counts" >> "$log"; fi
awk '/^[0-9]+ passed, [0-9]+ failed/ {p += $1; f += $3} /^SANITIZER-FAIL/ {f++}
     /(ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer)/ {f++}
     END {print p " passed, " f " failed"; exit f > 0}' "$log"
