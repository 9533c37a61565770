#!/bin/sh
# tests/summary.sh RESULTS_DIR EXPECTED — the end of `make test`. Every check wrote one line
# "NAME: N passed, M failed" to RESULTS_DIR/NAME.txt; this prints them and the total.
# Fails if any check failed, or if fewer than EXPECTED checks wrote a line: a check that could
# not even be built writes none, and must not pass unnoticed.
results=$1 expected=$2
echo "==== segloss test summary ===="
cat "$results"/*.txt
awk '{p += $2; f += $4} END {print "total: " p " passed, " f " failed"; exit f > 0}' "$results"/*.txt || exit 1
have=$(ls "$results" | wc -l)
if [ "$have" -lt "$expected" ]; then
    echo "only $have of $expected checks wrote a result line"
    exit 1
fi
