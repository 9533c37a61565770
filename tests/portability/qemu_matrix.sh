#!/usr/bin/env bash
# tests/portability/qemu_matrix.sh PROBE UNSAFE_PROBE — run the probe on emulated x86 CPUs.
# Each model must select the expected path and pass; forcing AVX2 on a CPU without it (a
# test-only build) must die with SIGILL, which proves the matrix can fail.
set -u
probe=$1 unsafe=$2
pass=0 fail=0
run() { # model expected
  out=$(qemu-x86_64 -cpu "$1" "$probe" --expect "$2" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "qemu $1: selects $2, $(echo "$out" | tail -n 1)"
  else fail=$((fail + 1)); echo "qemu $1: FAILED (rc $rc)"; echo "$out" | grep -E 'FAIL|selected' | head; fi
}
run qemu64,-sse3 sse2
run Nehalem sse2
run SandyBridge sse2
run Haswell,-fma sse2
run Haswell,-xsave sse2
run Haswell avx2
(SEGLOSS_ISA=avx2 exec qemu-x86_64 -cpu Nehalem "$unsafe") > /dev/null 2>&1; rc=$?
if [ $rc -eq 132 ]; then pass=$((pass + 1)); echo "qemu Nehalem: forced avx2 dies with SIGILL (rc 132), as it must"
else fail=$((fail + 1)); echo "qemu Nehalem: forced avx2 gave rc $rc, expected SIGILL (132)"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
