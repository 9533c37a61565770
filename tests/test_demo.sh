#!/bin/sh
# tests/test_demo.sh — runs the short demo (--quick) and checks its machine-readable lines:
#   - it exits 0 and reports all six losses;
#   - for every loss the training loss falls (last epoch below the first);
#   - for every loss the final validation mean IoU beats the chance level the demo prints;
#   - the same seed gives the same RESULT/FINAL lines twice (determinism);
#   - the three PNGs are written and start with the PNG signature.
# Usage: sh tests/test_demo.sh [path/to/demo]   (default: build/demo). Exits non-zero on failure.
DEMO=${1:-${BUILD:-build}/demo}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/segloss-demo.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
pass=0
fail=0
check() { # check NAME CONDITION-EXIT-STATUS
    if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1"; fi
}

if [ ! -x "$DEMO" ]; then
    echo "test_demo: $DEMO not found (build it with: make $DEMO)"
    echo "0 passed, 1 failed"
    exit 1
fi

"$DEMO" --quick --machine --out "$TMP/out" > "$TMP/run1.txt" 2>&1
rc=$?
cat "$TMP/run1.txt"
echo "---- checks"
check "demo --quick exits 0" $([ $rc -eq 0 ]; echo $?)

chance=$(awk '/^CHANCE /{ sub("val_miou=", "", $2); print $2 }' "$TMP/run1.txt")
[ -n "$chance" ] || chance=1
for loss in ce weighted_ce focal dice focal_dice tversky; do
    # first and last epoch of this loss
    res=$(awk -v L="$loss" '
        $1 == "RESULT" {
            split($0, kv, " "); name = ""; tl = ""; vm = ""
            for (i in kv) { split(kv[i], p, "="); if (p[1] == "loss") name = p[2];
                            if (p[1] == "train_loss") tl = p[2]; if (p[1] == "val_miou") vm = p[2] }
            if (name == L) { n++; if (n == 1) first = tl; last = tl; lastm = vm }
        }
        END { if (n == 0) print "none"; else print n, first, last, lastm }' "$TMP/run1.txt")
    if [ "$res" = "none" ]; then
        check "$loss: reported" 1
        continue
    fi
    set -- $res
    check "$loss: training loss falls over $1 epochs ($2 -> $3)" \
        $(awk -v a="$2" -v b="$3" 'BEGIN { exit !(b + 0 < a + 0) }'; echo $?)
    check "$loss: validation mean IoU $4 beats chance $chance" \
        $(awk -v m="$4" -v c="$chance" 'BEGIN { exit !(m + 0 > c + 0.05) }'; echo $?)
done

"$DEMO" --quick --machine --out "$TMP/out2" > "$TMP/run2.txt" 2>&1
grep -E '^(RESULT|FINAL|CHANCE|SUMMARY)' "$TMP/run1.txt" > "$TMP/m1.txt"
grep -E '^(RESULT|FINAL|CHANCE|SUMMARY)' "$TMP/run2.txt" > "$TMP/m2.txt"
check "same seed, same results (determinism)" $(cmp -s "$TMP/m1.txt" "$TMP/m2.txt"; echo $?)

for png in data predictions curves; do
    sig=$(od -An -tx1 -N8 "$TMP/out/$png.png" 2>/dev/null | tr -d ' \n')
    check "$png.png written (PNG signature)" $([ "$sig" = "89504e470d0a1a0a" ]; echo $?)
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
