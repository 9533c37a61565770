#!/bin/sh
# tests/consumers/version.sh — the version is defined once, by SEGLOSS_VERSION_MAJOR, _MINOR and
# _PATCH in kernels/api.h; everything else that states it must agree:
#   - segloss.h (generated from kernels/), and the banner "segloss.h vX.Y.Z" of kernels/segloss.h;
#   - CHANGELOG.md's latest released heading "## [X.Y.Z]";
#   - what `make install` writes (segloss.pc's Version, seglossConfigVersion.cmake's
#     PACKAGE_VERSION), and what `cmake --install` writes;
#   - find_package(segloss X.Y.Z) finds it, and the version file refuses a later minor
#     version (0.x) or major version.
# One line per check, then "N passed, M failed"; exits non-zero if any failed.
# Usage: sh tests/consumers/version.sh [WORK_DIR]   (default: a temporary directory, removed)
root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
if [ $# -ge 1 ]; then
    work=$1
    rm -rf "$work" && mkdir -p "$work" || exit 1
    work=$(cd "$work" && pwd)
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/segloss-version.XXXXXX") || exit 1
    trap 'rm -rf "$work"' EXIT INT TERM
fi
pass=0
fail=0
# same WHAT GOT WANT
same() {
    if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1: $2"
    else fail=$((fail + 1)); echo "FAIL $1: '$2', want '$3'"; fi
}

# X.Y.Z from the SEGLOSS_VERSION_* lines of a header
header_version() {
    for part in MAJOR MINOR PATCH; do
        sed -n "s/^#define SEGLOSS_VERSION_$part  *\([0-9][0-9]*\) *\$/\1/p" "$1" | head -n 1
    done | paste -sd. -
}
v=$(header_version "$root/kernels/api.h")
case $v in
    [0-9]*.[0-9]*.[0-9]*) pass=$((pass + 1)); echo "ok   kernels/api.h defines $v" ;;
    *) echo "FAIL kernels/api.h: no SEGLOSS_VERSION_MAJOR/MINOR/PATCH ('$v')"; echo "0 passed, 1 failed"; exit 1 ;;
esac
major=${v%%.*}
minor=${v#*.}
minor=${minor%%.*}

same "segloss.h" "$(header_version "$root/segloss.h")" "$v"
same "kernels/segloss.h banner" "$(sed -n '1s/.*segloss\.h v\([0-9][0-9.]*\).*/\1/p' "$root/kernels/segloss.h")" "$v"
same "CHANGELOG.md latest release" \
    "$(sed -n 's/^## \[\([0-9][0-9.]*\)\].*/\1/p' "$root/CHANGELOG.md" | head -n 1)" "$v"

# the package files, as each build system installs them
MAKEFLAGS= MFLAGS= make --no-print-directory -C "$root" install DESTDIR="$work/make" PREFIX=/usr > "$work/make.log" 2>&1 \
    || { echo "FAIL make install:"; sed 's/^/  | /' "$work/make.log"; }
cmake -S "$root" -B "$work/cmake-build" -DCMAKE_INSTALL_PREFIX=/usr > "$work/cmake.log" 2>&1 &&
    DESTDIR="$work/cmake" cmake --install "$work/cmake-build" >> "$work/cmake.log" 2>&1 ||
    { echo "FAIL cmake --install:"; sed 's/^/  | /' "$work/cmake.log" | tail -n 20; }
for how in make cmake; do
    pc=$work/$how/usr/share/pkgconfig/segloss.pc
    cv=$work/$how/usr/share/cmake/segloss/seglossConfigVersion.cmake
    same "$how install: segloss.pc Version" "$(sed -n 's/^Version: *//p' "$pc" 2>/dev/null)" "$v"
    same "$how install: seglossConfigVersion.cmake" \
        "$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")$/\1/p' "$cv" 2>/dev/null)" "$v"
done
same "pkg-config --modversion" \
    "$(PKG_CONFIG_PATH="$work/make/usr/share/pkgconfig" pkg-config --modversion segloss 2>&1)" "$v"

# find_package against the version file: a project that only looks
mkdir -p "$work/find"
cat > "$work/find/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.14)
project(find_segloss LANGUAGES NONE)
find_package(segloss ${WANT} CONFIG)
message(STATUS "found=${segloss_FOUND} version=${segloss_VERSION}")
EOF
# lookup WANT: "found=1 version=X.Y.Z" or "found=0 version=..."
lookup() {
    rm -rf "$work/find/b"
    cmake -S "$work/find" -B "$work/find/b" -DWANT="$1" -DCMAKE_PREFIX_PATH="$work/make/usr" \
        -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON 2>&1 |
        sed -n 's/^-- found=\(1\|TRUE\|ON\) version=\(.*\)/found version=\2/p; s/^-- found=\(0\|FALSE\|OFF\|\) version=.*/not found/p'
}
same "find_package(segloss $v)" "$(lookup "$v")" "found version=$v"
same "find_package(segloss $major.$minor)" "$(lookup "$major.$minor")" "found version=$v"
same "find_package(segloss $((major + 1)).0)" "$(lookup "$((major + 1)).0")" "not found"
if [ "$major" -eq 0 ]; then
    same "find_package(segloss 0.$((minor + 1)))" "$(lookup "0.$((minor + 1))")" "not found"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
