/* ---- kernels/isa_scalar.h: the vector vocabulary's contract, and its scalar reference ---- */
#ifndef SEGLOSS__ISA_SCALAR_H
#define SEGLOSS__ISA_SCALAR_H
#include "base.h"
/* THE VOCABULARY. The kernels (loss_kernels.h) are written once over these types and ops;
   each isa_*.h defines them as segloss__<isa>_<op> and then compiles the kernels with them.
   Every vocabulary must give these exact results, so that the FMA paths agree bit for bit.

   types   f: W floats   i: W int32   m: W-lane mask (all-ones/zero lanes, a k register on
           AVX-512, an int here);  SEGLOSS__<isa>_W: the lane count W (16 divides by W).
   memory  load/store: W floats, unaligned.  loadn/storen(p, n): the first n < W lanes (the
           others read as 0, never touched).  stream: store around the caches where the ISA
           has it (x86; p 16-byte aligned), a plain store elsewhere.  loadi/storei: W int32.
           loadu8: W bytes, zero-extended to int32.
   float   add sub mul div: IEEE, one rounding.  fma(a, b, c) = a*b + c with ONE rounding
           (the sse2 path alone rounds twice: it has no FMA).  set1(x): x in every lane.
           max(a, b): a if a > b, else b; so a NaN in b always survives, a NaN in a only on NEON.
   masks   lt(a, b): a < b, false where either is NaN.  ord(a): a is not NaN.  mor: a | b.
           mandn(a, b): b and not a.  sel(m, a, b): a where m, else b.
   int     set1i, iadd (wraps), iand, ior, iandn(a, b) = ~a & b, ieq and igt (to masks),
           imask (mask to int32 -1/0), shl23 / shr23 (logical shifts), asint / asflt (bit casts).
   shapes  rows4(p, s, v): W rows of 4 floats at p + r*s into v[c] lane r = class c of row r;
           unrows4(p, s, v, nt) writes them back row by row in increasing order (rows may
           overlap, s < 4), non-temporal when nt.  deint2/int2: the same for rows of 2 floats
           held as 2 contiguous vectors, in place.
   sums    sum16(acc): the 16 lane sums of a block (acc holds 16 / W vectors) combined in double
           in one tree: t[i] = lane i + lane i+8, then t[i] + t[i+4], then (t0 + t2) + (t1 + t3).
           No other order is allowed: it is what makes the paths' sums identical.

   The scalar vocabulary below is the reference: one lane, fmaf for fma. */
typedef float segloss__scalar_f;
typedef int32_t segloss__scalar_i;
typedef int segloss__scalar_m;
#define SEGLOSS__scalar_W 1
SEGLOSS__VINLINE float segloss__scalar_set1(float a) { return a; }
SEGLOSS__VINLINE float segloss__scalar_load(const float *p) { return *p; }
SEGLOSS__VINLINE float segloss__scalar_loadn(const float *p, int n) { return n > 0 ? *p : 0.0f; }
SEGLOSS__VINLINE void segloss__scalar_store(float *p, float a) { *p = a; }
SEGLOSS__VINLINE void segloss__scalar_storen(float *p, float a, int n) { if (n > 0) *p = a; }
SEGLOSS__VINLINE void segloss__scalar_stream(float *p, float a) { *p = a; }
SEGLOSS__VINLINE float segloss__scalar_add(float a, float b) { return a + b; }
SEGLOSS__VINLINE float segloss__scalar_sub(float a, float b) { return a - b; }
SEGLOSS__VINLINE float segloss__scalar_mul(float a, float b) { return a * b; }
SEGLOSS__VINLINE float segloss__scalar_div(float a, float b) { return a / b; }
SEGLOSS__VINLINE float segloss__scalar_fma(float a, float b, float c) { return fmaf(a, b, c); }
/* max returns b when either is NaN, like x86 maxps: NaN in b propagates. */
SEGLOSS__VINLINE float segloss__scalar_max(float a, float b) { return a > b ? a : b; }
SEGLOSS__VINLINE int segloss__scalar_lt(float a, float b) { return a < b; }
SEGLOSS__VINLINE int segloss__scalar_ord(float a) { return a == a; }
SEGLOSS__VINLINE int segloss__scalar_mor(int a, int b) { return a | b; }
SEGLOSS__VINLINE int segloss__scalar_mandn(int a, int b) { return !a && b; }
SEGLOSS__VINLINE float segloss__scalar_sel(int m, float a, float b) { return m ? a : b; }
SEGLOSS__VINLINE int32_t segloss__scalar_loadi(const int32_t *p) { return *p; }
SEGLOSS__VINLINE int32_t segloss__scalar_loadu8(const uint8_t *p) { return *p; }
SEGLOSS__VINLINE void segloss__scalar_storei(int32_t *p, int32_t a) { *p = a; }
SEGLOSS__VINLINE int32_t segloss__scalar_set1i(int32_t a) { return a; }
SEGLOSS__VINLINE int segloss__scalar_ieq(int32_t a, int32_t b) { return a == b; }
SEGLOSS__VINLINE int segloss__scalar_igt(int32_t a, int32_t b) { return a > b; }
SEGLOSS__VINLINE int32_t segloss__scalar_imask(int m) { return -m; }
SEGLOSS__VINLINE int32_t segloss__scalar_asint(float a) { int32_t r; memcpy(&r, &a, 4); return r; }
SEGLOSS__VINLINE float segloss__scalar_asflt(int32_t a) { float r; memcpy(&r, &a, 4); return r; }
SEGLOSS__VINLINE int32_t segloss__scalar_iadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
SEGLOSS__VINLINE int32_t segloss__scalar_iand(int32_t a, int32_t b) { return a & b; }
SEGLOSS__VINLINE int32_t segloss__scalar_ior(int32_t a, int32_t b) { return a | b; }
SEGLOSS__VINLINE int32_t segloss__scalar_iandn(int32_t a, int32_t b) { return ~a & b; }
SEGLOSS__VINLINE int32_t segloss__scalar_shl23(int32_t a) { return (int32_t)((uint32_t)a << 23); }
SEGLOSS__VINLINE int32_t segloss__scalar_shr23(int32_t a) { return (int32_t)((uint32_t)a >> 23); }
SEGLOSS__VINLINE void segloss__scalar_rows4(const float *p, int64_t s, float v[4])
{ (void)s; v[0] = p[0]; v[1] = p[1]; v[2] = p[2]; v[3] = p[3]; }
SEGLOSS__VINLINE void segloss__scalar_unrows4(float *p, int64_t s, float v[4], const int nt)
{ (void)s; (void)nt; p[0] = v[0]; p[1] = v[1]; p[2] = v[2]; p[3] = v[3]; }
/* sum16: the sixteen lane sums of a block combined in the one canonical tree: (i, i+8), then
   (i, i+4), (i, i+2), (i, i+1), in double. Every vocabulary's sum16 does these same adds, in
   registers, so the order never depends on the vector width. */
SEGLOSS__VINLINE double segloss__scalar_sum16(const float acc[16])
{
    double t[8];
    int i;
    for (i = 0; i < 8; i++) t[i] = (double)acc[i] + (double)acc[i + 8];
    for (i = 0; i < 4; i++) t[i] += t[i + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}
SEGLOSS__VINLINE void segloss__scalar_deint2(float v[2]) { (void)v; } /* one row: already in place */
SEGLOSS__VINLINE void segloss__scalar_int2(float v[2]) { (void)v; }
#define SEGLOSS__ISA scalar
#define SEGLOSS__KERNEL_PASS
#include SEGLOSS_HEADER_FILE
#undef SEGLOSS__KERNEL_PASS
#undef SEGLOSS__ISA
#endif /* SEGLOSS__ISA_SCALAR_H */
