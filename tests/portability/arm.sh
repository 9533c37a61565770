#!/usr/bin/env bash
# tests/portability/arm.sh A64_PROBE X86_PROBE — the probe cross-built for aarch64, run under
# qemu-aarch64 on the baseline CPU (cortex-a53) and on every extension (max): each must select
# neon, and hold the NEON path and the AVX2/AVX-512 kernels (SIMDe maps them onto NEON) to the
# scalar path bit for bit. Then the scalar path's fingerprint must be the same bits on x86
# (X86_PROBE, run natively) and on aarch64: one more check.
# QEMU_A64: how to run an aarch64 program (default: qemu-aarch64 -L /usr/aarch64-linux-gnu).
# Ends with "N passed, M failed": the probes' counts plus the fingerprint check.
set -u
a64=$1 x86=$2
qemu=${QEMU_A64:-qemu-aarch64 -L /usr/aarch64-linux-gnu}
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
{
  for cpu in cortex-a53 max; do
    echo "== qemu-aarch64 -cpu $cpu"; $qemu -cpu $cpu "$a64" --expect neon --fingerprint
  done
  x86fp=$("$x86" --fingerprint | grep fingerprint)
  armfp=$($qemu -cpu max "$a64" --fingerprint | grep fingerprint)
  echo "x86 $x86fp, aarch64 $armfp"
  if [ "$x86fp" = "$armfp" ]; then echo "FINGERPRINT same bits on x86 and aarch64"; else echo "FAIL fingerprints differ"; fi
} 2>&1 | tee "$log"
awk '/ passed, [0-9]+ failed/ {p += $1; f += $3} /^FAIL fingerprints/ {f++} /^FINGERPRINT/ {p++}
     END {print p " passed, " f " failed"; exit f > 0}' "$log"
