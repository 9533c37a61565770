/* ---- kernels/isa_avx512.h: the vocabulary (isa_scalar.h) for AVX-512F, 16 lanes, k masks  */
#ifndef SEGLOSS__ISA_AVX512_H
#define SEGLOSS__ISA_AVX512_H
#include "base.h"
#include "isa_avx2.h" /* its sum16, on each 256-bit half */
#ifdef SEGLOSS__HAVE_AVX512
/* Native SIMDe for this region, as in isa_avx2.h: AVX-512F, and the AVX2 trio it implies
   where the user's flags did not already give it. */
#if SEGLOSS__X86 && !defined(SIMDE_X86_AVX512F_NATIVE)
#define SEGLOSS__SET_AVX512 1
#define SIMDE_X86_AVX512F_NATIVE
#endif
#if SEGLOSS__X86 && !defined(SIMDE_X86_AVX2_NATIVE)
#define SEGLOSS__SET_AVX512_AVX2 1
#define SIMDE_X86_AVX_NATIVE
#define SIMDE_X86_AVX2_NATIVE
#define SIMDE_X86_FMA_NATIVE
#endif
/* The target string and the detection in kernels/dispatch.h must name the same features. */
SEGLOSS__TARGET_BEGIN("avx512f,avx,avx2,fma")
#if defined(__GNUC__) && !defined(__clang__)
/* GCC 12's own avx512fintrin.h self-initialises _mm512_undefined_*(): a false positive in C++ */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* SIMDe's AVX-512 header brings <complex.h> in strict C; its macro I must not reach the user. */
#ifndef I
#define SEGLOSS__UNDEF_I
#endif
#include <simde/x86/avx512.h>
#ifdef SEGLOSS__UNDEF_I
#undef SEGLOSS__UNDEF_I
#undef I
#endif
typedef simde__m512 segloss__avx512_f;
typedef simde__m512i segloss__avx512_i;
typedef simde__mmask16 segloss__avx512_m;
#define SEGLOSS__avx512_W 16
SEGLOSS__VINLINE simde__m512 segloss__avx512_set1(float a) { return simde_mm512_set1_ps(a); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_load(const float *p) { return simde_mm512_loadu_ps(p); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_loadn(const float *p, int n)
{ float t[16] = {0}; memcpy(t, p, (size_t)n * sizeof(float)); return simde_mm512_loadu_ps(t); }
SEGLOSS__VINLINE void segloss__avx512_store(float *p, simde__m512 a) { simde_mm512_storeu_ps(p, a); }
SEGLOSS__VINLINE void segloss__avx512_storen(float *p, simde__m512 a, int n)
{ float t[16]; simde_mm512_storeu_ps(t, a); memcpy(p, t, (size_t)n * sizeof(float)); }
SEGLOSS__VINLINE void segloss__avx512_stream(float *p, simde__m512 a) /* p 16-byte aligned, see AVX2 */
{
#if defined(SIMDE_X86_AVX512F_NATIVE)
    if (!((uintptr_t)p & 63)) {
        _mm512_stream_ps(p, a);
    } else {
        _mm_stream_ps(p, _mm512_extractf32x4_ps(a, 0));
        _mm_stream_ps(p + 4, _mm512_extractf32x4_ps(a, 1));
        _mm_stream_ps(p + 8, _mm512_extractf32x4_ps(a, 2));
        _mm_stream_ps(p + 12, _mm512_extractf32x4_ps(a, 3));
    }
#else
    simde_mm512_storeu_ps(p, a);
#endif
}
SEGLOSS__VINLINE simde__m512 segloss__avx512_add(simde__m512 a, simde__m512 b) { return simde_mm512_add_ps(a, b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_sub(simde__m512 a, simde__m512 b) { return simde_mm512_sub_ps(a, b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_mul(simde__m512 a, simde__m512 b) { return simde_mm512_mul_ps(a, b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_div(simde__m512 a, simde__m512 b) { return simde_mm512_div_ps(a, b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_fma(simde__m512 a, simde__m512 b, simde__m512 c) { return simde_mm512_fmadd_ps(a, b, c); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_max(simde__m512 a, simde__m512 b) { return simde_mm512_max_ps(a, b); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_lt(simde__m512 a, simde__m512 b) { return simde_mm512_cmp_ps_mask(a, b, SIMDE_CMP_LT_OQ); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_ord(simde__m512 a) { return simde_mm512_cmp_ps_mask(a, a, SIMDE_CMP_ORD_Q); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_mor(simde__mmask16 a, simde__mmask16 b) { return (simde__mmask16)(a | b); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_mandn(simde__mmask16 a, simde__mmask16 b) { return (simde__mmask16)(~a & b); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_sel(simde__mmask16 m, simde__m512 a, simde__m512 b) { return simde_mm512_mask_blend_ps(m, b, a); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_loadi(const int32_t *p) { return simde_mm512_loadu_si512((const void *)p); }
/* SIMDe 0.7.4 has no 512-bit cvtepu8_epi32: two 256-bit halves (vpmovzxbd ymm is AVX2) */
SEGLOSS__VINLINE simde__m512i segloss__avx512_loadu8(const uint8_t *p)
{
    simde__m256i lo = simde_mm256_cvtepu8_epi32(simde_mm_loadl_epi64((const simde__m128i *)(const void *)p));
    simde__m256i hi = simde_mm256_cvtepu8_epi32(simde_mm_loadl_epi64((const simde__m128i *)(const void *)(p + 8)));
    return simde_mm512_inserti64x4(simde_mm512_castsi256_si512(lo), hi, 1);
}
SEGLOSS__VINLINE void segloss__avx512_storei(int32_t *p, simde__m512i a) { simde_mm512_storeu_si512((void *)p, a); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_set1i(int32_t a) { return simde_mm512_set1_epi32(a); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_ieq(simde__m512i a, simde__m512i b) { return simde_mm512_cmpeq_epi32_mask(a, b); }
SEGLOSS__VINLINE simde__mmask16 segloss__avx512_igt(simde__m512i a, simde__m512i b) { return simde_mm512_cmpgt_epi32_mask(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_imask(simde__mmask16 m) { return simde_mm512_maskz_mov_epi32(m, simde_mm512_set1_epi32(-1)); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_asint(simde__m512 a) { return simde_mm512_castps_si512(a); }
SEGLOSS__VINLINE simde__m512 segloss__avx512_asflt(simde__m512i a) { return simde_mm512_castsi512_ps(a); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_iadd(simde__m512i a, simde__m512i b) { return simde_mm512_add_epi32(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_iand(simde__m512i a, simde__m512i b) { return simde_mm512_and_si512(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_ior(simde__m512i a, simde__m512i b) { return simde_mm512_or_si512(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_iandn(simde__m512i a, simde__m512i b) { return simde_mm512_andnot_si512(a, b); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_shl23(simde__m512i a) { return simde_mm512_slli_epi32(a, 23); }
SEGLOSS__VINLINE simde__m512i segloss__avx512_shr23(simde__m512i a) { return simde_mm512_srli_epi32(a, 23); }
/* as for AVX2: vector k carries rows k, k + 4, k + 8, k + 12 */
SEGLOSS__VINLINE void segloss__avx512_tr4(simde__m512 v[4])
{
    const simde__m512 t0 = simde_mm512_unpacklo_ps(v[0], v[1]), t1 = simde_mm512_unpackhi_ps(v[0], v[1]);
    const simde__m512 t2 = simde_mm512_unpacklo_ps(v[2], v[3]), t3 = simde_mm512_unpackhi_ps(v[2], v[3]);
    v[0] = simde_mm512_shuffle_ps(t0, t2, SIMDE_MM_SHUFFLE(1, 0, 1, 0));
    v[1] = simde_mm512_shuffle_ps(t0, t2, SIMDE_MM_SHUFFLE(3, 2, 3, 2));
    v[2] = simde_mm512_shuffle_ps(t1, t3, SIMDE_MM_SHUFFLE(1, 0, 1, 0));
    v[3] = simde_mm512_shuffle_ps(t1, t3, SIMDE_MM_SHUFFLE(3, 2, 3, 2));
}
SEGLOSS__VINLINE void segloss__avx512_rows4(const float *p, int64_t s, simde__m512 v[4])
{
    int k;
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) {
        simde__m512 x = simde_mm512_castps128_ps512(simde_mm_loadu_ps(p + k * s));
        x = simde_mm512_insertf32x4(x, simde_mm_loadu_ps(p + (k + 4) * s), 1);
        x = simde_mm512_insertf32x4(x, simde_mm_loadu_ps(p + (k + 8) * s), 2);
        v[k] = simde_mm512_insertf32x4(x, simde_mm_loadu_ps(p + (k + 12) * s), 3);
    }
    segloss__avx512_tr4(v);
}
SEGLOSS__VINLINE void segloss__avx512_unrows4(float *p, int64_t s, simde__m512 v[4], const int nt)
{
    int k;
    segloss__avx512_tr4(v);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + k * s, simde_mm512_extractf32x4_ps(v[k], 0), nt);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + (k + 4) * s, simde_mm512_extractf32x4_ps(v[k], 1), nt);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + (k + 8) * s, simde_mm512_extractf32x4_ps(v[k], 2), nt);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) segloss__avx2_row(p + (k + 12) * s, simde_mm512_extractf32x4_ps(v[k], 3), nt);
}
/* as for AVX2 */
SEGLOSS__VINLINE void segloss__avx512_deint2(simde__m512 v[2])
{
    const simde__m512 a = v[0], b = v[1];
    const simde__m512i even = simde_mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    v[0] = simde_mm512_permutex2var_ps(a, even, b);
    v[1] = simde_mm512_permutex2var_ps(a, simde_mm512_add_epi32(even, simde_mm512_set1_epi32(1)), b);
}
SEGLOSS__VINLINE void segloss__avx512_int2(simde__m512 v[2])
{
    const simde__m512 a = v[0], b = v[1];
    const simde__m512i lo = simde_mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    v[0] = simde_mm512_permutex2var_ps(a, lo, b);
    v[1] = simde_mm512_permutex2var_ps(a, simde_mm512_add_epi32(lo, simde_mm512_set1_epi32(8)), b);
}
/* the AVX2 sum16 of the two 256-bit halves */
SEGLOSS__VINLINE double segloss__avx512_sum16(const simde__m512 acc[1])
{
    const simde__m256 h[2] = {simde_mm512_castps512_ps256(acc[0]),
                              simde_mm256_castpd_ps(simde_mm512_extractf64x4_pd(simde_mm512_castps_pd(acc[0]), 1))};
    return segloss__avx2_sum16(h);
}
#define SEGLOSS__ISA avx512
#define SEGLOSS__KERNEL_PASS
#include SEGLOSS_HEADER_FILE
#undef SEGLOSS__KERNEL_PASS
#undef SEGLOSS__ISA
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
SEGLOSS__TARGET_END
/* What follows is compiled at the user's flags again. */
#ifdef SEGLOSS__SET_AVX512
#undef SEGLOSS__SET_AVX512
#undef SIMDE_X86_AVX512F_NATIVE
#endif
#ifdef SEGLOSS__SET_AVX512_AVX2
#undef SEGLOSS__SET_AVX512_AVX2
#undef SIMDE_X86_AVX_NATIVE
#undef SIMDE_X86_AVX2_NATIVE
#undef SIMDE_X86_FMA_NATIVE
#endif
#endif /* SEGLOSS__HAVE_AVX512 */
#endif /* SEGLOSS__ISA_AVX512_H */
