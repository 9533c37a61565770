#!/bin/sh
# tests/consumers/run.sh — segloss used the three ways docs/install.md gives, as a newcomer would:
#   1. `make install DESTDIR=<stage> PREFIX=/usr`, then consumer.c and consumer.cpp compiled
#      with the flags of `pkg-config --cflags --libs segloss` (PKG_CONFIG_PATH and
#      PKG_CONFIG_SYSROOT_DIR pointing into the stage);
#   2. the same install through CMake: find_package(segloss X.Y.Z CONFIG REQUIRED) with
#      CMAKE_PREFIX_PATH=<stage>/usr (tests/consumers/CMakeLists.txt);
#   3. add_subdirectory of this checkout (the same CMakeLists.txt, SEGLOSS_SOURCE_DIR).
# Each way builds both programs and runs them (each checks a known loss and exits 0). Also:
# `cmake --install` of CMakeLists.txt writes the same files as `make install`, `make uninstall`
# removes what install wrote, and tests/consumers/version.sh (the versions agree).
# The programs are built at -O0 (CMake's default) with SEGLOSS_NO_AVX512: the implementation
# then compiles in about 5 s of CPU with gcc 12 instead of 6.5 (11 at -O2); the Makefile's
# suites test the AVX-512 path. Six such compiles: about 2 minutes on a busy 2-core machine.
# Prints one line per check and ends with "N passed, M failed"; exits non-zero on a failure.
# Usage: sh tests/consumers/run.sh [WORK_DIR]   (default: a temporary directory, removed)
root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
here=$root/tests/consumers
if [ $# -ge 1 ]; then
    rm -rf "$1" && mkdir -p "$1" || exit 1
    work=$(cd "$1" && pwd)
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/segloss-consumers.XXXXXX") || exit 1
    trap 'rm -rf "$work"' EXIT INT TERM
fi
CC=${CC:-cc}
CXX=${CXX:-c++}
stage=$work/stage
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# show LOG: the end of a log under a failure
show() { sed 's/^/  | /' "$1" | tail -n "${2:-25}"; }
# make ARGS: this checkout's Makefile, not the caller's make flags (jobserver, -k)
mk() { MAKEFLAGS= MFLAGS= make --no-print-directory -C "$root" "$@"; }

v=$(for part in MAJOR MINOR PATCH; do
        sed -n "s/^#define SEGLOSS_VERSION_$part  *\([0-9][0-9]*\) *\$/\1/p" "$root/segloss.h" | head -n 1
    done | paste -sd. -)
echo "segloss $v from $root; work in $work"

# run NAME BINARY: it exits 0 and reports the version of the header it was built with
run() {
    if [ ! -x "$2" ]; then bad "$1: not built"; return; fi
    out=$("$2" 2>&1)
    rc=$?
    if [ $rc -ne 0 ]; then bad "$1: exit status $rc"; echo "$out" | sed 's/^/  | /'
    elif ! echo "$out" | grep -q "segloss $v: ok\$"; then bad "$1: no 'segloss $v: ok'"; echo "$out" | sed 's/^/  | /'
    else ok "$1: $out"; fi
}

# ---- the install ---------------------------------------------------------------------------
if mk install DESTDIR="$stage" PREFIX=/usr > "$work/install.log" 2>&1; then
    ok "make install DESTDIR=$stage PREFIX=/usr: $(cd "$stage" && find . -type f | sort | tr '\n' ' ')"
else
    bad "make install"; show "$work/install.log"
fi

# ---- 1. pkg-config ---------------------------------------------------------------------------
pc() { PKG_CONFIG_PATH="$stage/usr/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config "$@"; }
cflags=$(pc --cflags segloss 2>&1)
libs=$(pc --libs segloss 2>&1)
defined=$(PKG_CONFIG_PATH="$stage/usr/share/pkgconfig" pkg-config --define-prefix --cflags --libs segloss 2>&1)
case "$cflags" in
    *"-I$stage/usr/include"*) ok "pkg-config --cflags --libs segloss: $cflags $libs (--define-prefix: $defined)" ;;
    *) bad "pkg-config --cflags segloss: '$cflags' does not name $stage/usr/include" ;;
esac
mkdir -p "$work/pkg-config"
# the two compiles at once (two cores are common here); -O0 since the flags are not the point
$CC -std=c99 -O0 -Wall -Wextra -Werror -DSEGLOSS_NO_AVX512 $cflags "$here/consumer.c" \
    -o "$work/pkg-config/consumer_c" $libs > "$work/pkg-config/c.log" 2>&1 &
c_pid=$!
$CXX -std=c++11 -O0 -Wall -Wextra -Werror -DSEGLOSS_NO_AVX512 $cflags "$here/consumer.cpp" \
    -o "$work/pkg-config/consumer_cpp" $libs > "$work/pkg-config/cpp.log" 2>&1
cpp_rc=$?
if wait $c_pid; then
    run "pkg-config, C99 ($CC)" "$work/pkg-config/consumer_c"
else
    bad "pkg-config, C99: $CC does not compile consumer.c"; show "$work/pkg-config/c.log"
fi
if [ $cpp_rc -eq 0 ]; then
    run "pkg-config, C++11 ($CXX)" "$work/pkg-config/consumer_cpp"
else
    bad "pkg-config, C++11: $CXX does not compile consumer.cpp"; show "$work/pkg-config/cpp.log"
fi

# ---- 2. and 3. CMake: find_package of the install, add_subdirectory of the checkout --------
# cmake_way NAME DIR ARGS...: configure tests/consumers, build, run both programs
cmake_way() {
    name=$1 dir=$work/$2
    shift 2
    if ! cmake -S "$here" -B "$dir" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON "$@" > "$dir.log" 2>&1; then
        bad "$name: cmake does not configure"; show "$dir.log"; return
    fi
    if ! cmake --build "$dir" -j 2 >> "$dir.log" 2>&1; then
        bad "$name: does not build"; show "$dir.log"; return
    fi
    run "$name, C99" "$dir/consumer_c"
    run "$name, C++11" "$dir/consumer_cpp"
}
cmake_way "find_package(segloss $v CONFIG REQUIRED)" cmake-package \
    -DCMAKE_PREFIX_PATH="$stage/usr" -DSEGLOSS_WANT_VERSION="$v"
found=$(sed -n 's/^segloss_DIR:[A-Z]*=//p' "$work/cmake-package/CMakeCache.txt" 2>/dev/null)
if [ "$found" = "$stage/usr/share/cmake/segloss" ]; then ok "find_package used the install: segloss_DIR=$found"
else bad "find_package found segloss_DIR='$found', not $stage/usr/share/cmake/segloss"; fi
cmake_way "add_subdirectory($root)" cmake-subdir -DSEGLOSS_SOURCE_DIR="$root"

# ---- the same package from CMakeLists.txt, and uninstall -------------------------------------
if cmake -S "$root" -B "$work/cmake-install" -DCMAKE_INSTALL_PREFIX=/usr > "$work/cmake-install.log" 2>&1 &&
   DESTDIR="$work/cmake-stage" cmake --install "$work/cmake-install" >> "$work/cmake-install.log" 2>&1; then
    if diff -r "$stage" "$work/cmake-stage" > "$work/cmake-diff.log" 2>&1; then
        ok "cmake --install writes the same files as make install"
    else
        bad "cmake --install and make install differ"; show "$work/cmake-diff.log"
    fi
else
    bad "cmake --install"; show "$work/cmake-install.log"
fi
if mk uninstall DESTDIR="$stage" PREFIX=/usr > "$work/uninstall.log" 2>&1; then
    left=$(cd "$stage" && find . \( -type f -o -name segloss \) | sort | tr '\n' ' ')
    if [ -z "$left" ]; then ok "make uninstall removes every file and directory install wrote for segloss"
    else bad "make uninstall leaves $left"; fi
else
    bad "make uninstall"; show "$work/uninstall.log"
fi

# ---- the versions ------------------------------------------------------------------------------
sh "$here/version.sh" "$work/version" > "$work/version.log" 2>&1
sed '$d' "$work/version.log" | sed 's/^/  version: /'
counts=$(tail -n 1 "$work/version.log")
vp=$(echo "$counts" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
vf=$(echo "$counts" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
if [ -z "$vp" ]; then bad "version.sh: no result line"; else pass=$((pass + vp)); fail=$((fail + vf)); fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
