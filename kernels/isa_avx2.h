/* ---- kernels/isa_avx2.h: the vocabulary (isa_scalar.h) for AVX2 + FMA, 8 lanes --------- */
#ifndef SEGLOSS__ISA_AVX2_H
#define SEGLOSS__ISA_AVX2_H
#include "base.h"
#ifdef SEGLOSS__HAVE_AVX2
/* SIMDe picks native code from SIMDE_X86_*_NATIVE when it parses a header, and sets them only
   from the compiler's flags, which are the user's baseline here. We set them by hand for this
   region only, all three (AVX2 implies AVX, and we want FMA); without them SIMDe would compile
   its portable fallbacks, slow and not fused. On ARM (tests) SIMDe maps the API to NEON. */
#if SEGLOSS__X86 && !defined(SIMDE_X86_AVX2_NATIVE)
#define SEGLOSS__SET_AVX2 1
#define SIMDE_X86_AVX_NATIVE
#define SIMDE_X86_AVX2_NATIVE
#define SIMDE_X86_FMA_NATIVE
#endif
SEGLOSS__TARGET_BEGIN("avx,avx2,fma")
#include <simde/x86/avx2.h>
#include <simde/x86/fma.h>
typedef simde__m256 segloss__avx2_f;
typedef simde__m256i segloss__avx2_i;
typedef simde__m256 segloss__avx2_m;
#define SEGLOSS__avx2_W 8
SEGLOSS__VINLINE simde__m256 segloss__avx2_set1(float a) { return simde_mm256_set1_ps(a); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_load(const float *p) { return simde_mm256_loadu_ps(p); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_loadn(const float *p, int n)
{ float t[8] = {0, 0, 0, 0, 0, 0, 0, 0}; memcpy(t, p, (size_t)n * sizeof(float)); return simde_mm256_loadu_ps(t); }
SEGLOSS__VINLINE void segloss__avx2_store(float *p, simde__m256 a) { simde_mm256_storeu_ps(p, a); }
SEGLOSS__VINLINE void segloss__avx2_storen(float *p, simde__m256 a, int n)
{ float t[8]; simde_mm256_storeu_ps(t, a); memcpy(p, t, (size_t)n * sizeof(float)); }
/* Non-temporal, p 16-byte aligned (what malloc gives): two 128-bit halves, which the write-
   combining buffer joins as it would one 256-bit store. */
SEGLOSS__VINLINE void segloss__avx2_stream(float *p, simde__m256 a)
{
    simde_mm_stream_ps(p, simde_mm256_castps256_ps128(a));
    simde_mm_stream_ps(p + 4, simde_mm256_extractf128_ps(a, 1));
}
SEGLOSS__VINLINE simde__m256 segloss__avx2_add(simde__m256 a, simde__m256 b) { return simde_mm256_add_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_sub(simde__m256 a, simde__m256 b) { return simde_mm256_sub_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_mul(simde__m256 a, simde__m256 b) { return simde_mm256_mul_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_div(simde__m256 a, simde__m256 b) { return simde_mm256_div_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_fma(simde__m256 a, simde__m256 b, simde__m256 c) { return simde_mm256_fmadd_ps(a, b, c); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_max(simde__m256 a, simde__m256 b) { return simde_mm256_max_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_lt(simde__m256 a, simde__m256 b) { return simde_mm256_cmp_ps(a, b, SIMDE_CMP_LT_OQ); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_ord(simde__m256 a) { return simde_mm256_cmp_ps(a, a, SIMDE_CMP_ORD_Q); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_mor(simde__m256 a, simde__m256 b) { return simde_mm256_or_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_mandn(simde__m256 a, simde__m256 b) { return simde_mm256_andnot_ps(a, b); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_sel(simde__m256 m, simde__m256 a, simde__m256 b) { return simde_mm256_blendv_ps(b, a, m); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_loadi(const int32_t *p) { return simde_mm256_loadu_si256((const simde__m256i *)(const void *)p); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_loadu8(const uint8_t *p) { return simde_mm256_cvtepu8_epi32(simde_mm_loadl_epi64((const simde__m128i *)(const void *)p)); }
SEGLOSS__VINLINE void segloss__avx2_storei(int32_t *p, simde__m256i a) { simde_mm256_storeu_si256((simde__m256i *)(void *)p, a); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_set1i(int32_t a) { return simde_mm256_set1_epi32(a); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_ieq(simde__m256i a, simde__m256i b) { return simde_mm256_castsi256_ps(simde_mm256_cmpeq_epi32(a, b)); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_igt(simde__m256i a, simde__m256i b) { return simde_mm256_castsi256_ps(simde_mm256_cmpgt_epi32(a, b)); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_imask(simde__m256 m) { return simde_mm256_castps_si256(m); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_asint(simde__m256 a) { return simde_mm256_castps_si256(a); }
SEGLOSS__VINLINE simde__m256 segloss__avx2_asflt(simde__m256i a) { return simde_mm256_castsi256_ps(a); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_iadd(simde__m256i a, simde__m256i b) { return simde_mm256_add_epi32(a, b); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_iand(simde__m256i a, simde__m256i b) { return simde_mm256_and_si256(a, b); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_ior(simde__m256i a, simde__m256i b) { return simde_mm256_or_si256(a, b); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_iandn(simde__m256i a, simde__m256i b) { return simde_mm256_andnot_si256(a, b); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_shl23(simde__m256i a) { return simde_mm256_slli_epi32(a, 23); }
SEGLOSS__VINLINE simde__m256i segloss__avx2_shr23(simde__m256i a) { return simde_mm256_srli_epi32(a, 23); }
/* 4x4 transposes within each 128-bit half (their own inverse) */
SEGLOSS__VINLINE void segloss__avx2_tr4(simde__m256 v[4])
{
    const simde__m256 t0 = simde_mm256_unpacklo_ps(v[0], v[1]), t1 = simde_mm256_unpackhi_ps(v[0], v[1]);
    const simde__m256 t2 = simde_mm256_unpacklo_ps(v[2], v[3]), t3 = simde_mm256_unpackhi_ps(v[2], v[3]);
    v[0] = simde_mm256_shuffle_ps(t0, t2, SIMDE_MM_SHUFFLE(1, 0, 1, 0));
    v[1] = simde_mm256_shuffle_ps(t0, t2, SIMDE_MM_SHUFFLE(3, 2, 3, 2));
    v[2] = simde_mm256_shuffle_ps(t1, t3, SIMDE_MM_SHUFFLE(1, 0, 1, 0));
    v[3] = simde_mm256_shuffle_ps(t1, t3, SIMDE_MM_SHUFFLE(3, 2, 3, 2));
}
/* rows4: W rows of 4 floats, row r at p + r * s, as 4 vectors: v[c] lane r = p[r * s + c].
   unrows4 writes them back, row by row in increasing order (rows may overlap, s < 4), with nt
   non-temporally (rows 16-byte aligned). Vector k carries rows k and k + 4, so the transposes
   order them. */
SEGLOSS__VINLINE void segloss__avx2_rows4(const float *p, int64_t s, simde__m256 v[4])
{
    int k;
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) v[k] = simde_mm256_loadu2_m128(p + (k + 4) * s, p + k * s);
    segloss__avx2_tr4(v);
}
/* one 128-bit row, plain or non-temporal (p 16-byte aligned); the AVX-512 unrows4 uses it too */
SEGLOSS__VINLINE void segloss__avx2_row(float *p, simde__m128 a, const int nt)
{
    if (nt) simde_mm_stream_ps(p, a);
    else simde_mm_storeu_ps(p, a);
}
SEGLOSS__VINLINE void segloss__avx2_unrows4(float *p, int64_t s, simde__m256 v[4], const int nt)
{
    int k;
    segloss__avx2_tr4(v);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + k * s, simde_mm256_castps256_ps128(v[k]), nt);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + (k + 4) * s, simde_mm256_extractf128_ps(v[k], 1), nt);
}
/* deint2: W rows of 2 floats, held as 2 vectors of W contiguous floats, to v[c] lane r =
   class c of row r; int2 is its inverse. */
SEGLOSS__VINLINE void segloss__avx2_deint2(simde__m256 v[2])
{
    const simde__m256 a = v[0], b = v[1];
    /* per 128-bit half: rows 0, 1, 4, 5 | 2, 3, 6, 7; the 64-bit permute restores the order */
    v[0] = simde_mm256_castpd_ps(simde_mm256_permute4x64_pd(
        simde_mm256_castps_pd(simde_mm256_shuffle_ps(a, b, SIMDE_MM_SHUFFLE(2, 0, 2, 0))), SIMDE_MM_SHUFFLE(3, 1, 2, 0)));
    v[1] = simde_mm256_castpd_ps(simde_mm256_permute4x64_pd(
        simde_mm256_castps_pd(simde_mm256_shuffle_ps(a, b, SIMDE_MM_SHUFFLE(3, 1, 3, 1))), SIMDE_MM_SHUFFLE(3, 1, 2, 0)));
}
SEGLOSS__VINLINE void segloss__avx2_int2(simde__m256 v[2])
{
    const simde__m256 lo = simde_mm256_unpacklo_ps(v[0], v[1]), hi = simde_mm256_unpackhi_ps(v[0], v[1]);
    v[0] = simde_mm256_permute2f128_ps(lo, hi, 0x20);
    v[1] = simde_mm256_permute2f128_ps(lo, hi, 0x31);
}
/* sum16 (see the scalar one): acc[0] holds lanes 0-7, acc[1] lanes 8-15. In registers: lanes
   stored as vectors and read back as scalars would stall each read on store forwarding. */
SEGLOSS__VINLINE double segloss__avx2_sum4d(simde__m256d t) /* (t0 + t2) + (t1 + t3) */
{
    const simde__m128d h = simde_mm_add_pd(simde_mm256_castpd256_pd128(t), simde_mm256_extractf128_pd(t, 1));
    return simde_mm_cvtsd_f64(h) + simde_mm_cvtsd_f64(simde_mm_unpackhi_pd(h, h));
}
SEGLOSS__VINLINE double segloss__avx2_sum16(const simde__m256 acc[2])
{
    const simde__m256d lo = simde_mm256_add_pd(simde_mm256_cvtps_pd(simde_mm256_castps256_ps128(acc[0])),
                                               simde_mm256_cvtps_pd(simde_mm256_castps256_ps128(acc[1])));
    const simde__m256d hi = simde_mm256_add_pd(simde_mm256_cvtps_pd(simde_mm256_extractf128_ps(acc[0], 1)),
                                               simde_mm256_cvtps_pd(simde_mm256_extractf128_ps(acc[1], 1)));
    return segloss__avx2_sum4d(simde_mm256_add_pd(lo, hi)); /* lane i + lane i+8, then t[i] + t[i+4] */
}
#define SEGLOSS__ISA avx2
#define SEGLOSS__KERNEL_PASS
#include SEGLOSS_HEADER_FILE
#undef SEGLOSS__KERNEL_PASS
#undef SEGLOSS__ISA
SEGLOSS__TARGET_END
/* What follows is compiled at the user's flags again. */
#ifdef SEGLOSS__SET_AVX2
#undef SEGLOSS__SET_AVX2
#undef SIMDE_X86_AVX_NATIVE
#undef SIMDE_X86_AVX2_NATIVE
#undef SIMDE_X86_FMA_NATIVE
#endif
#endif /* SEGLOSS__HAVE_AVX2 */
#endif /* SEGLOSS__ISA_AVX2_H */
