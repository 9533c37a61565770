/* ---- kernels/isa_neon.h: the vocabulary (isa_scalar.h) for the NEON API, 4 lanes: native
        on aarch64, SIMDe over SSE2 on x86 (the "sse2" path) ------------------------------- */
#ifndef SEGLOSS__ISA_NEON_H
#define SEGLOSS__ISA_NEON_H
#include "base.h"
#ifdef SEGLOSS__HAVE_NEON_API
#include <simde/arm/neon.h>
typedef simde_float32x4_t segloss__neon_f;
typedef simde_int32x4_t segloss__neon_i;
typedef simde_uint32x4_t segloss__neon_m;
#define SEGLOSS__neon_W 4
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_set1(float a) { return simde_vdupq_n_f32(a); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_load(const float *p) { return simde_vld1q_f32(p); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_loadn(const float *p, int n)
{ float t[4] = {0, 0, 0, 0}; memcpy(t, p, (size_t)n * sizeof(float)); return simde_vld1q_f32(t); }
SEGLOSS__VINLINE void segloss__neon_store(float *p, simde_float32x4_t a) { simde_vst1q_f32(p, a); }
SEGLOSS__VINLINE void segloss__neon_storen(float *p, simde_float32x4_t a, int n)
{ float t[4]; simde_vst1q_f32(t, a); memcpy(p, t, (size_t)n * sizeof(float)); }
/* a non-temporal store on x86 (p 16-byte aligned); aarch64 has no such hint worth its cost */
SEGLOSS__VINLINE void segloss__neon_stream(float *p, simde_float32x4_t a)
{
#if defined(SIMDE_X86_SSE_NATIVE) && !defined(SIMDE_ARM_NEON_A32V7_NATIVE)
    _mm_stream_ps(p, a);
#else
    simde_vst1q_f32(p, a);
#endif
}
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_add(simde_float32x4_t a, simde_float32x4_t b) { return simde_vaddq_f32(a, b); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_sub(simde_float32x4_t a, simde_float32x4_t b) { return simde_vsubq_f32(a, b); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_mul(simde_float32x4_t a, simde_float32x4_t b) { return simde_vmulq_f32(a, b); }
/* SIMDe 0.7.4 has no vdivq_f32; both targets have an IEEE vector divide. */
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_div(simde_float32x4_t a, simde_float32x4_t b)
{
#if defined(SIMDE_ARM_NEON_A64V8_NATIVE)
    return vdivq_f32(a, b);
#elif defined(SIMDE_X86_SSE_NATIVE)
    return _mm_div_ps(a, b);
#else
    float x[4], y[4];
    int i;
    simde_vst1q_f32(x, a);
    simde_vst1q_f32(y, b);
    for (i = 0; i < 4; i++) x[i] /= y[i];
    return simde_vld1q_f32(x);
#endif
}
/* Fused on aarch64; on SSE2 SIMDe computes a*b rounded, then +c: the one unfused path. */
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_fma(simde_float32x4_t a, simde_float32x4_t b, simde_float32x4_t c) { return simde_vfmaq_f32(c, a, b); }
/* NEON max propagates NaN from either side; x86 returns b. Either way a NaN in b survives. */
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_max(simde_float32x4_t a, simde_float32x4_t b) { return simde_vmaxq_f32(a, b); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_lt(simde_float32x4_t a, simde_float32x4_t b) { return simde_vcltq_f32(a, b); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_ord(simde_float32x4_t a) { return simde_vceqq_f32(a, a); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_mor(simde_uint32x4_t a, simde_uint32x4_t b) { return simde_vorrq_u32(a, b); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_mandn(simde_uint32x4_t a, simde_uint32x4_t b) { return simde_vbicq_u32(b, a); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_sel(simde_uint32x4_t m, simde_float32x4_t a, simde_float32x4_t b) { return simde_vbslq_f32(m, a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_loadi(const int32_t *p) { return simde_vld1q_s32(p); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_loadu8(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return simde_vreinterpretq_s32_u32(simde_vmovl_u16(simde_vget_low_u16(simde_vmovl_u8(simde_vcreate_u8(w)))));
}
SEGLOSS__VINLINE void segloss__neon_storei(int32_t *p, simde_int32x4_t a) { simde_vst1q_s32(p, a); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_set1i(int32_t a) { return simde_vdupq_n_s32(a); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_ieq(simde_int32x4_t a, simde_int32x4_t b) { return simde_vceqq_s32(a, b); }
SEGLOSS__VINLINE simde_uint32x4_t segloss__neon_igt(simde_int32x4_t a, simde_int32x4_t b) { return simde_vcgtq_s32(a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_imask(simde_uint32x4_t m) { return simde_vreinterpretq_s32_u32(m); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_asint(simde_float32x4_t a) { return simde_vreinterpretq_s32_f32(a); }
SEGLOSS__VINLINE simde_float32x4_t segloss__neon_asflt(simde_int32x4_t a) { return simde_vreinterpretq_f32_s32(a); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_iadd(simde_int32x4_t a, simde_int32x4_t b) { return simde_vaddq_s32(a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_iand(simde_int32x4_t a, simde_int32x4_t b) { return simde_vandq_s32(a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_ior(simde_int32x4_t a, simde_int32x4_t b) { return simde_vorrq_s32(a, b); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_iandn(simde_int32x4_t a, simde_int32x4_t b) { return simde_vbicq_s32(b, a); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_shl23(simde_int32x4_t a) { return simde_vshlq_n_s32(a, 23); }
SEGLOSS__VINLINE simde_int32x4_t segloss__neon_shr23(simde_int32x4_t a)
{ return simde_vreinterpretq_s32_u32(simde_vshrq_n_u32(simde_vreinterpretq_u32_s32(a), 23)); }
/* rows4/unrows4 as for AVX2: four rows, one 4x4 transpose (its own inverse) */
SEGLOSS__VINLINE void segloss__neon_tr4(simde_float32x4_t v[4])
{
    const simde_float32x4_t t0 = simde_vzip1q_f32(v[0], v[2]), t1 = simde_vzip2q_f32(v[0], v[2]);
    const simde_float32x4_t t2 = simde_vzip1q_f32(v[1], v[3]), t3 = simde_vzip2q_f32(v[1], v[3]);
    v[0] = simde_vzip1q_f32(t0, t2);
    v[1] = simde_vzip2q_f32(t0, t2);
    v[2] = simde_vzip1q_f32(t1, t3);
    v[3] = simde_vzip2q_f32(t1, t3);
}
SEGLOSS__VINLINE void segloss__neon_rows4(const float *p, int64_t s, simde_float32x4_t v[4])
{
    int k;
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) v[k] = simde_vld1q_f32(p + k * s);
    segloss__neon_tr4(v);
}
SEGLOSS__VINLINE void segloss__neon_unrows4(float *p, int64_t s, simde_float32x4_t v[4], const int nt)
{
    int k;
    segloss__neon_tr4(v);
    SEGLOSS__UNROLL for (k = 0; k < 4; k++) {
        if (nt) segloss__neon_stream(p + k * s, v[k]);
        else simde_vst1q_f32(p + k * s, v[k]);
    }
}
/* deint2/int2 as for AVX2 */
SEGLOSS__VINLINE void segloss__neon_deint2(simde_float32x4_t v[2])
{
    const simde_float32x4_t a = v[0], b = v[1];
    v[0] = simde_vuzp1q_f32(a, b);
    v[1] = simde_vuzp2q_f32(a, b);
}
SEGLOSS__VINLINE void segloss__neon_int2(simde_float32x4_t v[2])
{
    const simde_float32x4_t a = v[0], b = v[1];
    v[0] = simde_vzip1q_f32(a, b);
    v[1] = simde_vzip2q_f32(a, b);
}
/* as for AVX2; acc[k] holds lanes 4k to 4k+3. widen_add: a + b in double, lanes 0-1 in *lo,
   lanes 2-3 in *hi. */
SEGLOSS__VINLINE void segloss__neon_widen_add(simde_float32x4_t a, simde_float32x4_t b, simde_float64x2_t *lo,
                                             simde_float64x2_t *hi)
{
    *lo = simde_vaddq_f64(simde_vcvt_f64_f32(simde_vget_low_f32(a)), simde_vcvt_f64_f32(simde_vget_low_f32(b)));
    *hi = simde_vaddq_f64(simde_vcvt_f64_f32(simde_vget_high_f32(a)), simde_vcvt_f64_f32(simde_vget_high_f32(b)));
}
SEGLOSS__VINLINE double segloss__neon_sum16(const simde_float32x4_t acc[4])
{
    simde_float64x2_t t01, t23, t45, t67, h;
    segloss__neon_widen_add(acc[0], acc[2], &t01, &t23); /* t[i] = lane i + lane i+8 */
    segloss__neon_widen_add(acc[1], acc[3], &t45, &t67);
    h = simde_vaddq_f64(simde_vaddq_f64(t01, t45), simde_vaddq_f64(t23, t67)); /* (t0+t4)+(t2+t6), (t1+t5)+(t3+t7) */
    return simde_vgetq_lane_f64(h, 0) + simde_vgetq_lane_f64(h, 1);
}
#define SEGLOSS__ISA neon
#define SEGLOSS__KERNEL_PASS
#include SEGLOSS_HEADER_FILE
#undef SEGLOSS__KERNEL_PASS
#undef SEGLOSS__ISA
#endif /* SEGLOSS__HAVE_NEON_API */
#endif /* SEGLOSS__ISA_NEON_H */
