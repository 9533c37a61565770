#!/usr/bin/env bash
# tests/portability/isa_audit.sh OBJ... — what each function of the implementation really executes.
# Every function named *avx2* must use ymm registers, and vfmadd unless it only moves or
# compares data (the labels, transpose and argmax kernels); every *avx512* one zmm; no
# other function may contain a VEX/EVEX instruction (v-mnemonic on xmm/ymm/zmm), so the
# library runs on a CPU with SSE2 only. Ends with "N passed, M failed".
set -u
pass=0 fail=0
for obj in "$@"; do
  report=$(objdump -d --no-show-raw-insn "$obj" | awk -v obj="$obj" '
    /^[0-9a-f]+ <.*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
    fn != "" && /\t/ {
      split($0, f, "\t"); ins = f[2]; mn = ins; sub(/ .*/, "", mn)
      if (ins ~ /%ymm/) ymm[fn]++
      if (ins ~ /%zmm/) zmm[fn]++
      if (mn ~ /^vfn?madd/) fma[fn]++
      if (mn ~ /^v/ && ins ~ /%[xyz]mm/) vex[fn]++
      seen[fn] = 1
    }
    END {
      for (fn in seen) {
        if (fn ~ /avx512/) { print (zmm[fn] ? "ok" : "FAIL"), fn, "zmm=" zmm[fn]+0 }
        else if (fn ~ /avx2/) { print ((ymm[fn] && (fma[fn] || fn ~ /labels|transpose|argmax/)) ? "ok" : "FAIL"), fn, "ymm=" ymm[fn]+0, "vfmadd=" fma[fn]+0 }
        else if (vex[fn]) print "FAIL", fn, "has " vex[fn] " VEX/EVEX instructions outside an AVX kernel"
      }
    }')
  kernels=$(echo "$report" | grep -c '^ok')
  bad=$(echo "$report" | grep '^FAIL')
  if [ "$kernels" -ge 4 ] && [ -z "$bad" ]; then
    pass=$((pass + 1)); echo "audit ok: $obj ($kernels AVX kernels checked, no VEX code elsewhere)"
  else
    fail=$((fail + 1)); echo "audit FAILED: $obj ($kernels AVX kernels ok)"; echo "$bad"
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
