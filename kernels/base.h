/* ======================================================================================== */
/* 8. IMPLEMENTATION                                                                         */
/* ======================================================================================== */
/* ---- kernels/base.h: system headers, compiler and platform macros, the kernels' arguments - */
#ifndef SEGLOSS__BASE_H
#define SEGLOSS__BASE_H
#include "api.h"

/* Every system header comes first: a header first parsed inside a target region (isa_*.h)
   would tie its inline functions to that ISA, and a later plain-flags user would then call
   AVX code on any CPU, or fail to inline across the mismatch. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#if defined(SEGLOSS_MALLOC) != defined(SEGLOSS_FREE)
#error "segloss: define both SEGLOSS_MALLOC and SEGLOSS_FREE, or neither"
#endif
#ifndef SEGLOSS_MALLOC
#define SEGLOSS_MALLOC(sz) malloc(sz)
#define SEGLOSS_FREE(p) free(p)
#endif
#ifndef SEGLOSS_HEADER_FILE
#define SEGLOSS_HEADER_FILE "segloss.h"
#endif

#ifdef SEGLOSS_STATIC
#define SEGLOSS__API static
#else
#define SEGLOSS__API
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SEGLOSS__PRIVATE static __attribute__((unused))
#define SEGLOSS__VINLINE static inline __attribute__((always_inline, unused))
#define SEGLOSS__NOINLINE __attribute__((noinline))
#define SEGLOSS__PRAGMA(x) _Pragma(#x)
#define SEGLOSS__UNROLL SEGLOSS__PRAGMA(GCC unroll 16)
#else
#define SEGLOSS__PRIVATE static
#define SEGLOSS__VINLINE static __forceinline
#define SEGLOSS__NOINLINE __declspec(noinline)
#define SEGLOSS__UNROLL
#endif

#if defined(__GNUC__) || defined(__clang__) || defined(_MSC_VER)
#define SEGLOSS__RESTRICT __restrict
#else
#define SEGLOSS__RESTRICT
#endif
/* Fetch the line holding p into the caches; a hint, never a fault. */
#if defined(__GNUC__) || defined(__clang__)
#define SEGLOSS__PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define SEGLOSS__PREFETCH(p) ((void)(p))
#endif
#define SEGLOSS__CAT_(a, b) a##b
#define SEGLOSS__CAT(a, b) SEGLOSS__CAT_(a, b)

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define SEGLOSS__X86 1
#else
#define SEGLOSS__X86 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64) || defined(__ARM_NEON)
#define SEGLOSS__ARM 1
#else
#define SEGLOSS__ARM 0
#endif
#if SEGLOSS__X86 && (defined(__GNUC__) || defined(__clang__)) && !defined(SEGLOSS_NO_SIMD)
#define SEGLOSS__HAVE_AVX2 1
#if !defined(SEGLOSS_NO_AVX512)
#define SEGLOSS__HAVE_AVX512 1
#endif
#elif SEGLOSS__ARM && defined(SEGLOSS_TEST_X86_API_ON_ARM)
#define SEGLOSS__HAVE_AVX2 1   /* tests only: the AVX2- and AVX-512-API kernels, which SIMDe */
#define SEGLOSS__HAVE_AVX512 1 /* maps to NEON: the only place the AVX-512 kernels can run here */
#endif
#if (SEGLOSS__X86 || SEGLOSS__ARM) && !defined(SEGLOSS_NO_SIMD)
#define SEGLOSS__HAVE_NEON_API 1 /* native NEON on ARM, SIMDe over SSE2 on x86 ("sse2") */
#endif
#if SEGLOSS__X86
#include <immintrin.h>
#if defined(__GNUC__) || defined(__clang__)
#include <cpuid.h>
#endif
#endif

/* Positions per kernel call. A multiple of 16: the kernels sum in 16 virtual lanes (position
   i of a block goes to lane i % 16) whatever the vector width, and combine the lanes in one
   fixed tree, so every FMA path sums in the same order. */
#define SEGLOSS__BLOCK 256
#define SEGLOSS__LANES 16
/* Loss terms enter the float lanes scaled by 1/16 (exact): a lane adds 16 per block, so any
   finite per-position loss sums without overflow. */
#define SEGLOSS__LOSS_SCALE 0.0625f
/* Class-planar block buffers on the stack (NHWC transposes, the kernels' exponentials) hold
   this many floats: blocks have fewer positions when C > 16, so that they fit. */
#define SEGLOSS__TBUF 4096
/* Labels are counted with vector compares up to this many classes, above with small integer
   histograms up to SEGLOSS__HIST classes (a power of two), above that one by one. */
#define SEGLOSS__VCOUNT 8
#define SEGLOSS__HIST 64

/* Arguments of one kernel call: one block of positions of one sample, class-planar. */
typedef struct segloss__args {
    const float *z;      /* logits of class c at z[c * zs + i], i < npos                    */
    float *g;            /* gradient, same addressing with gs (may equal z: in place)       */
    int64_t zs, gs;
    const int32_t *y;    /* label per position, -1 = ignored; padded with -1 to a x16       */
    const float *w;      /* grad/loss: the CE-family term's coefficient per class, or NULL   */
    int npos, c;
    int ce;              /* the loss has a CE-family term (else its terms are not computed)  */
    float gamma;         /* focal gamma (0 = cross entropy)                                   */
    int gamma_int;       /* gamma as an integer 1..16, or 0 when gamma is 0 or not integral   */
    const float *A, *B;  /* Dice/Tversky: dL/dp_c(i) = A[c] + B[c] * [y_i == c]; NULL = none  */
    double *sum_l, *sum_i, *sum_p; /* stats: per-class sums of focal term, p_c at y = c, p_c */
    double *loss;        /* grad with loss: adds sum of w[y] * focal term                      */
    int stream;          /* grad: write aligned vectors with non-temporal stores              */
    int alias;           /* the planes alias in the cache (segloss__planes_alias): phase 1 reads */
                         /* each logit once (its second read from the park), phase 3 writes    */
                         /* plane after plane                                                  */
    int prefetch;        /* > 0: phase 1 prefetches each logit this many floats ahead (the next */
                         /* block of many NCHW planes read from DRAM)                          */
    /* the sigmoid kernel (sigmoid_kernels.h) */
    const float *t;      /* per-channel targets, class c at t[c * ts + i]; NULL: from the labels */
    int64_t ts;
    const float *m;      /* weight of position i (weight map); NULL: 1                          */
    const float *sk;     /* 4C CE coefficients: gradient/loss (negative, positive terms), then   */
                         /* the unreduced terms' (negative, positive)                          */
    float alpha;         /* focal alpha; < 0: none                                              */
    int focal;           /* the CE-family term is the sigmoid focal term (else BCE)             */
    int dice;            /* stats: a Dice-family term wants I and P                             */
    double *sum_lp;      /* stats: per-class sums of BCE's positive part                        */
    float *each;         /* unreduced terms, same addressing with es (NULL: not wanted; softmax: */
    int64_t es;          /* one per position, at each[i])                                       */
    float each_scale;    /* softmax: what undoes w's normalisation in the unreduced terms       */
    /* softmax label smoothing eps: sw[c] = -(eps / C) w_c (NULL: none), eps_c = eps / C, eps_sum
       = sum_c w_c, eps_w = eps_c eps_sum (w: the normalised coefficients); stats: sum_s[c] +=
       sum_V m (-log p_c) */
    const float *sw;
    float eps, eps_c, eps_sum, eps_w;
    double *sum_s;
} segloss__args;

typedef void (*segloss__kernel_fn)(const segloss__args *);
enum { SEGLOSS__TO_ROWS, SEGLOSS__TO_PLANES, SEGLOSS__TO_ROWS_NT };
typedef struct segloss__isa_table {
    const char *name;
    segloss__kernel_fn stats;      /* per-class L, I, P                                       */
    segloss__kernel_fn grad;       /* gradient; with a->loss != NULL also the weighted loss    */
    int (*labels)(const segloss_input *in, int64_t ignore, int64_t pos, int n, int32_t *y, int64_t *cnt, int classes,
                  int check);
    void (*vmath)(int op, const float *x, float *y, int64_t n); /* exp/log/log1p, for the tests */
    /* NHWC rows <-> class planes, dir one of these (see the kernel) */
    void (*transpose)(const float *src, float *dst, int64_t ps, int np, int c, int dir);
    void (*argmax)(const float *z, int64_t zs, int np, int c, float *idx); /* confusion counts */
    segloss__kernel_fn sigmoid;    /* sigmoid statistics (a->sum_i) or backward               */
    segloss__kernel_fn soft_targets; /* softmax with per-channel targets: statistics or backward */
} segloss__isa_table;

/* Gradients of at least this many bytes are written around the caches (non-temporal stores,
   x86): they would only evict the logits and labels still to be read, and the write skips
   reading each line first. Smaller ones stay in cache for the caller's next step. */
#ifndef SEGLOSS_STREAM_BYTES
#define SEGLOSS_STREAM_BYTES (16u << 20)
#endif

/* Orders non-temporal stores before whatever the caller does next. */
SEGLOSS__PRIVATE void segloss__sfence(void)
{
#if SEGLOSS__X86 && (defined(__GNUC__) || defined(__clang__))
    __asm__ __volatile__("sfence" ::: "memory");
#endif
}

/* dst[0, n) = src[0, n), with non-temporal stores where x86 has them (the 16-byte aligned
   middle): an NHWC gradient's rows, transposed in a stack buffer, on their way out. */
SEGLOSS__PRIVATE void segloss__stream_copy(float *dst, const float *src, int64_t n)
{
#if SEGLOSS__X86 && !defined(SEGLOSS_NO_SIMD)
    int64_t i = 0;
    for (; i < n && ((uintptr_t)(dst + i) & 15); i++) dst[i] = src[i];
    for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = src[i];
#else
    memcpy(dst, src, (size_t)n * sizeof(float));
#endif
}

/* Copies np positions of C classes, position i class c from src[i * si + c * sc] to
   dst[i * di + c * dc]: what the kernels' NHWC transposes leave over. Small C is a constant,
   so that the class loop unrolls. */
SEGLOSS__VINLINE void segloss__copy_c(const float *src, int64_t si, int64_t sc, float *dst, int64_t di, int64_t dc,
                                     int np, const int C)
{
    int i, c;
    for (i = 0; i < np; i++)
        for (c = 0; c < C; c++) dst[i * di + c * dc] = src[i * si + c * sc];
}
SEGLOSS__PRIVATE void segloss__copy_strided(const float *src, int64_t si, int64_t sc, float *dst, int64_t di,
                                             int64_t dc, int np, int C)
{
    switch (C) {
    case 1: segloss__copy_c(src, si, sc, dst, di, dc, np, 1); break;
    case 2: segloss__copy_c(src, si, sc, dst, di, dc, np, 2); break;
    case 3: segloss__copy_c(src, si, sc, dst, di, dc, np, 3); break;
    case 4: segloss__copy_c(src, si, sc, dst, di, dc, np, 4); break;
    default: segloss__copy_c(src, si, sc, dst, di, dc, np, C); break;
    }
}

/* ---- SIMD regions. Each kernels/isa_*.h opens its ISA's region, includes SIMDe's view of
   that ISA, defines the vocabulary and re-includes this header to instantiate the kernels. */
#if !defined(SEGLOSS_NO_SIMD) && defined(SIMDE_X86_AVX_H) && !defined(SIMDE_X86_AVX2_NATIVE)
#error "segloss: in the implementation file, include segloss.h before any SIMDe header"
#endif
#if !SEGLOSS__X86
#define SEGLOSS__TARGET_BEGIN(t)
#define SEGLOSS__TARGET_END
#elif defined(__clang__)
#define SEGLOSS__TARGET_BEGIN(t) SEGLOSS__PRAGMA(clang attribute push(__attribute__((target(t))), apply_to = function))
#define SEGLOSS__TARGET_END SEGLOSS__PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define SEGLOSS__TARGET_BEGIN(t) SEGLOSS__PRAGMA(GCC push_options) SEGLOSS__PRAGMA(GCC target(t))
#define SEGLOSS__TARGET_END SEGLOSS__PRAGMA(GCC pop_options)
#endif
/* Without SIMDe the first include below stopped the build at "simde/x86/sse4.2.h: No such
   file" with no hint. An #error instead, and not a silent fall back to the scalar path: that
   would make every call 20-50x slower with nothing to say why. The SIMD paths are then
   dropped, so that this is the only error. (__has_include: gcc 5, clang; elsewhere the
   include's own error.) */
#if defined(SEGLOSS__HAVE_NEON_API) && defined(__has_include)
#if !__has_include(<simde/x86/sse4.2.h>) || !__has_include(<simde/arm/neon.h>)
#error "segloss: SIMDe not found: install it (Debian/Ubuntu: apt install libsimde-dev) or add its include path, or define SEGLOSS_NO_SIMD for the scalar path only (20-50x slower)"
#undef SEGLOSS__HAVE_NEON_API
#undef SEGLOSS__HAVE_AVX2
#undef SEGLOSS__HAVE_AVX512
#endif
#endif
#if SEGLOSS__X86 && defined(SEGLOSS__HAVE_NEON_API)
#include <simde/x86/sse4.2.h> /* the 128-bit x86 API at the user's flags, before any region */
#endif

#endif /* SEGLOSS__BASE_H */
