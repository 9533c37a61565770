#!/usr/bin/env bash
# tests/portability/run_builds.sh PROGRAM... — runs every program of the build matrix (each a
# probe, or the SEGLOSS_STATIC program, built warning-free with one compiler and standard),
# its output to PROGRAM.log; a failure prints the log's tail.
# Ends with "N passed, M failed", one count per program.
set -u
pass=0 fail=0
for b in "$@"; do
  if "$b" > "$b.log" 2>&1; then pass=$((pass + 1))
  else fail=$((fail + 1)); echo "FAILED: $b"; tail -5 "$b.log"; fi
done
echo "build matrix: $pass builds compiled warning-free and passed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
