#!/bin/sh
# tests/unit/catch2_counts.sh LOG — Catch2's closing summary in LOG as "N passed, M failed"
# (test cases), the form the Makefile's `record` macro reads. Catch2 ends with either
#   test cases: 65 | 64 passed | 1 failed          or    All tests passed (... in 65 test cases)
# Prints nothing if LOG has neither (the suite did not finish): `record` then counts a failure.
sed -nE 's/^test cases: *([0-9]+) \| *([0-9]+) passed \| *([0-9]+) failed.*/\2 passed, \3 failed/p;
         s/^All tests passed \(.* in ([0-9]+) test cases?\)/\1 passed, 0 failed/p' "$1"
