#!/bin/sh
# readme_example.sh — the README's "Drop it in" program must work as written.
# Takes the first ```c block after the "## Drop it in" heading of README.md, compiles it
# against the repository's segloss.h as C99 (gcc, clang) and as C++11 (g++, clang++) with
# -O2 -Wall -Wextra -Werror, and runs each binary: it must exit 0 and print "loss <number>".
# One check per compiler (compile + run); ends with "N passed, M failed".
# Usage: sh tests/readme_example.sh [BUILD_DIR]
#   BUILD_DIR given: works in BUILD_DIR/readme-example (kept); otherwise in a temporary
#   directory (removed).
# The repository root is the nearest directory above this script holding README.md and
# segloss.h, so the script may live in any folder of the repository.

root=$(cd "$(dirname "$0")" && pwd) || exit 1
while [ ! -f "$root/README.md" ] || [ ! -f "$root/segloss.h" ]; do
    [ "$root" = / ] && { echo "readme_example: no README.md and segloss.h above $0"; echo "0 passed, 1 failed"; exit 1; }
    root=$(dirname "$root")
done

if [ $# -ge 1 ]; then
    work=$1/readme-example
    rm -rf "$work" && mkdir -p "$work" || exit 1
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/segloss-readme.XXXXXX") || exit 1
    trap 'rm -rf "$work"' EXIT INT TERM
fi

pass=0
fail=0

# the first ```c block of the "## Drop it in" section
if ! awk '
    /^## / { section = ($0 ~ /^## Drop it in[ \t]*$/); if (inblock) exit; next }
    section && !inblock && /^```c[ \t]*$/ { inblock = 1; next }
    inblock && /^```/ { found = 1; exit }
    inblock { print }
    END { exit !found }' "$root/README.md" > "$work/example.c"; then
    echo "FAIL README.md: no complete \`\`\`c block after \"## Drop it in\""
    echo "0 passed, 1 failed"
    exit 1
fi
echo "README example: $(wc -l < "$work/example.c") lines, compiled against $root/segloss.h"

# check NAME COMPILER ARGS...: compile example.c with COMPILER ARGS, run the binary
check() {
    name=$1
    shift
    bin=$work/example-$name
    if ! command -v "$1" > /dev/null 2>&1; then
        fail=$((fail + 1)); echo "FAIL $name: $1 not found"; return
    fi
    if ! "$@" -I"$root" "$work/example.c" -o "$bin" -lm > "$work/$name.log" 2>&1; then
        fail=$((fail + 1)); echo "FAIL $name: does not compile: $*"; sed 's/^/  | /' "$work/$name.log" | head -n 30; return
    fi
    out=$("$bin" 2>&1); rc=$?
    if [ $rc -ne 0 ]; then
        fail=$((fail + 1)); echo "FAIL $name: exit status $rc"; echo "$out" | sed 's/^/  | /' | head -n 10
    elif ! echo "$out" | grep -Eq '^loss [0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?( |$)'; then
        fail=$((fail + 1)); echo "FAIL $name: prints no loss"; echo "$out" | sed 's/^/  | /' | head -n 10
    else
        pass=$((pass + 1)); echo "ok   $name: $out"
    fi
}

check gcc-c99       gcc     -std=c99   -O2 -Wall -Wextra -Werror
check clang-c99     clang   -std=c99   -O2 -Wall -Wextra -Werror
check g++-c++11     g++     -std=c++11 -O2 -Wall -Wextra -Werror -x c++
check clang++-c++11 clang++ -std=c++11 -O2 -Wall -Wextra -Werror -x c++

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
