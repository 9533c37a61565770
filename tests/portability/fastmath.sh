#!/usr/bin/env bash
# tests/portability/fastmath.sh BUILD_DIR — the implementation compiled with users' fast-math
# flags gives the plain build's results, or is refused: at compile time where a macro reveals
# the flags (clang -ffast-math), at first call where none does (clang -fassociative-math).
# Ends with "N passed, M failed", one count per build.
set -u
out=${1:-build}/fastmath
src=tests/portability/fastmath.c
mkdir -p "$out"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -f "$2" ] && tail -n 5 "$2"; }

# the plain build: its fingerprint is the reference
if gcc -O2 -std=c99 -Wall -Wextra -Werror "$src" -o "$out/plain" -lm && "$out/plain" > "$out/plain.log"; then
  ref=$(grep '^fingerprint' "$out/plain.log"); ok "gcc -O2 (reference, $ref)"
else
  ref=none; bad "gcc -O2 (reference)" "$out/plain.log"
fi

# the same answers: every check of fastmath.c passes and the fingerprint is the plain one
same() {
  local name=$1; shift
  if "$@" -std=c99 -Wall -Wextra -Werror "$src" -o "$out/$name" -lm 2> "$out/$name.log" &&
     "$out/$name" > "$out/$name.log" 2>&1 && grep -qx "$ref" "$out/$name.log"; then ok "$* : same results"
  else bad "$* : same results" "$out/$name.log"; fi
}
same gcc-Ofast gcc -Ofast
same gcc-fast-nofinite gcc -O2 -ffast-math -fno-finite-math-only
same gcc-finite gcc -O2 -ffinite-math-only
same clang-finite clang -O2 -ffinite-math-only

# refused at compile time, with a message that says what to do
refused_compile() {
  local name=$1; shift
  if ! "$@" -std=c99 "$src" -o "$out/$name" -lm > "$out/$name.log" 2>&1 &&
     grep -q 'compile the file that defines SEGLOSS_IMPLEMENTATION without them' "$out/$name.log"; then
    ok "$* : refused at compile time"
  else bad "$* : refused at compile time" "$out/$name.log"; fi
}
refused_compile clang-fast clang -O2 -ffast-math
refused_compile clang-Ofast clang -Ofast

# no macro tells: refused by the self-test at the first call, with a message on stderr
refused_run() {
  local name=$1; shift
  if "$@" -std=c99 "$src" -o "$out/$name" -lm > "$out/$name.log" 2>&1 &&
     "$out/$name" > "$out/$name.log" 2>&1 && grep -qx refused "$out/$name.log" &&
     grep -q 'without fast-math flags' "$out/$name.log"; then ok "$* : refused at the first call"
  else bad "$* : refused at the first call" "$out/$name.log"; fi
}
refused_run clang-assoc clang -O2 -fassociative-math -fno-signed-zeros -fno-trapping-math
refused_run clang-fast-nofinite clang -O2 -ffast-math -fno-finite-math-only

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
