/* ---- kernels/loss_kernels.h: THE KERNELS, written once over the vocabulary ------------- */
#ifndef SEGLOSS__ISA
/* Opened on its own (an editor, make check-parts): compile them with the scalar vocabulary. */
#include "isa_scalar.h"
#else
/* Each isa_*.h compiles this file once with SEGLOSS__ISA set to avx512, avx2, neon or scalar;
   SEGLOSS__V(op) names that ISA's vocabulary (the contract: isa_scalar.h), SEGLOSS__K(name)
   the function compiled for it.

   Reproducibility: every path runs the same operation sequence per position, with explicit
   fused multiply-adds (never a product fed straight into an add, so no compiler contraction
   can differ between paths), and sums in 16 virtual lanes combined in one fixed tree. The
   FMA paths (avx512, avx2, native neon, scalar with fmaf) therefore give bit-identical
   results; "sse2" has no FMA and differs by rounding. */

#define SEGLOSS__V(op) SEGLOSS__CAT(SEGLOSS__CAT(segloss__, SEGLOSS__ISA), _##op)
#define SEGLOSS__K(name) SEGLOSS__CAT(segloss__##name##__, SEGLOSS__ISA)
#define SEGLOSS__F SEGLOSS__V(f)
#define SEGLOSS__I SEGLOSS__V(i)
#define SEGLOSS__M SEGLOSS__V(m)
#define SEGLOSS__W SEGLOSS__CAT(SEGLOSS__CAT(SEGLOSS__, SEGLOSS__ISA), _W)
#define SEGLOSS__U (SEGLOSS__LANES / SEGLOSS__W)  /* vectors per 16-lane group */
#define SEGLOSS__SPLAT(x) SEGLOSS__V(set1)(x) /* x in every lane */
/* load/store cnt lanes (cnt == W in the main loop, so the branch folds away) */
#define SEGLOSS__LD(p, cnt) ((cnt) == SEGLOSS__W ? SEGLOSS__V(load)(p) : SEGLOSS__V(loadn)(p, cnt))
#define SEGLOSS__ST(p, v, cnt) \
    do { if ((cnt) == SEGLOSS__W) SEGLOSS__V(store)(p, v); else SEGLOSS__V(storen)(p, v, cnt); } while (0)

/* exp(x) for x <= 0, all the kernels need: Cephes polynomial after a two-step ln2 reduction.
   Measured over every float in [-87.3365, 0] against the correctly rounded result: at most
   1.01 ULP (tests/vmath.c). Below, x is clamped: the result is at most FLT_MIN (2^-126), an
   absolute error no softmax sum (>= 1) can see, and it is never 0, so e_y / s stays defined.
   NaN stays NaN. */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(exp)(SEGLOSS__F x)
{
    const SEGLOSS__F magic = SEGLOSS__SPLAT(12582912.0f);
    SEGLOSS__F xc = SEGLOSS__V(max)(SEGLOSS__SPLAT(-87.33654475f), x); /* NaN kept */
    SEGLOSS__F t = SEGLOSS__V(fma)(xc, SEGLOSS__SPLAT(1.44269504089f), magic);    /* n + magic */
    SEGLOSS__F n = SEGLOSS__V(sub)(t, magic);
    SEGLOSS__F r = SEGLOSS__V(fma)(n, SEGLOSS__SPLAT(-0.693359375f), xc);
    SEGLOSS__F p;
    r = SEGLOSS__V(fma)(n, SEGLOSS__SPLAT(2.12194440e-4f), r);
    p = SEGLOSS__V(fma)(SEGLOSS__SPLAT(1.9875691500e-4f), r, SEGLOSS__SPLAT(1.3981999507e-3f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__SPLAT(8.3334519073e-3f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__SPLAT(4.1665795894e-2f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__SPLAT(1.6666665459e-1f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__SPLAT(5.0000001201e-1f));
    p = SEGLOSS__V(fma)(p, SEGLOSS__V(mul)(r, r), r);
    p = SEGLOSS__V(add)(p, SEGLOSS__SPLAT(1.0f));
    /* times 2^n, n in [-126, 0], by adding n to p's exponent field: the low bits of t hold
       n + 0x400000 + magic's mantissa, and shifting them up by 23 keeps n mod 2^9, which
       the 32-bit add turns into n. p >= 0.7 has exponent field >= 126, so the sum stays >= 0. */
    return SEGLOSS__V(asflt)(SEGLOSS__V(iadd)(SEGLOSS__V(asint)(p), SEGLOSS__V(shl23)(SEGLOSS__V(asint)(t))));
}

/* log of a normal positive x (or NaN), its exponent field biased by 8388608 + bias (126, or
   150 for an input scaled by 2^24). Cephes polynomial on the mantissa in [sqrt(1/2), sqrt(2)). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log_core)(SEGLOSS__F x, SEGLOSS__F bias)
{
    const SEGLOSS__F one = SEGLOSS__SPLAT(1.0f), zero = SEGLOSS__SPLAT(0.0f);
    SEGLOSS__I bits = SEGLOSS__V(asint)(x);
    /* exponent field as a float, exactly: 2^23 + k built from bits, minus 2^23 */
    SEGLOSS__F e = SEGLOSS__V(sub)(SEGLOSS__V(asflt)(SEGLOSS__V(ior)(SEGLOSS__V(shr23)(bits), SEGLOSS__V(set1i)(0x4B000000))),
                                   bias);
    SEGLOSS__F m = SEGLOSS__V(asflt)(SEGLOSS__V(ior)(SEGLOSS__V(iand)(bits, SEGLOSS__V(set1i)(0x007FFFFF)),
                                                    SEGLOSS__V(set1i)(0x3F000000))); /* [0.5, 1) */
    SEGLOSS__M small = SEGLOSS__V(lt)(m, SEGLOSS__SPLAT(0.707106781186547524f));
    SEGLOSS__F f = SEGLOSS__V(add)(SEGLOSS__V(sub)(m, one), SEGLOSS__V(sel)(small, m, zero));
    SEGLOSS__F z, p, y;
    e = SEGLOSS__V(sub)(e, SEGLOSS__V(sel)(small, one, zero));
    z = SEGLOSS__V(mul)(f, f);
    p = SEGLOSS__V(fma)(SEGLOSS__SPLAT(7.0376836292e-2f), f, SEGLOSS__SPLAT(-1.1514610310e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(1.1676998740e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(-1.2420140846e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(1.4249322787e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(-1.6668057665e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(2.0000714765e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(-2.4999993993e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__SPLAT(3.3333331174e-1f));
    y = SEGLOSS__V(mul)(SEGLOSS__V(mul)(p, f), z);
    y = SEGLOSS__V(fma)(e, SEGLOSS__SPLAT(-2.12194440e-4f), y);
    y = SEGLOSS__V(fma)(z, SEGLOSS__SPLAT(-0.5f), y);
    y = SEGLOSS__V(add)(f, y);
    y = SEGLOSS__V(fma)(e, SEGLOSS__SPLAT(0.693359375f), y);
    return SEGLOSS__V(add)(y, SEGLOSS__V(sub)(x, x)); /* + 0, or NaN for a NaN x */
}

/* log(x) for finite x >= 0 (denormals included; log(0) = -inf; NaN stays NaN). Measured over
   every float in (0, FLT_MAX] against the correctly rounded result: at most 0.83 ULP
   (tests/vmath.c). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log)(SEGLOSS__F x)
{
    SEGLOSS__M tiny = SEGLOSS__V(lt)(x, SEGLOSS__SPLAT(FLT_MIN));
    SEGLOSS__F y = SEGLOSS__K(log_core)(SEGLOSS__V(sel)(tiny, SEGLOSS__V(mul)(x, SEGLOSS__SPLAT(16777216.0f)), x),
                                        SEGLOSS__V(sel)(tiny, SEGLOSS__SPLAT(8388608.0f + 150.0f), SEGLOSS__SPLAT(8388608.0f + 126.0f)));
    return SEGLOSS__V(sel)(SEGLOSS__V(lt)(x, SEGLOSS__SPLAT(1e-45f)), SEGLOSS__SPLAT(-INFINITY), y);
}

/* log(1 + u) for finite u >= 0, accurate for tiny u: log(w) of w = 1 + u, plus the rounding
   error of w times inv_w ~ 1/w (the correction is tiny, so 1/w to a few ULP is plenty).
   Measured over every float in [0, FLT_MAX]: at most 1.26 ULP (tests/vmath.c). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log1p_w)(SEGLOSS__F u, SEGLOSS__F w, SEGLOSS__F inv_w)
{
    SEGLOSS__F c = SEGLOSS__V(sub)(u, SEGLOSS__V(sub)(w, SEGLOSS__SPLAT(1.0f)));
    return SEGLOSS__V(fma)(c, inv_w, SEGLOSS__K(log_core)(w, SEGLOSS__SPLAT(8388608.0f + 126.0f))); /* w >= 1 */
}
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log1p)(SEGLOSS__F u)
{
    SEGLOSS__F w = SEGLOSS__V(add)(u, SEGLOSS__SPLAT(1.0f));
    return SEGLOSS__K(log1p_w)(u, w, SEGLOSS__V(div)(SEGLOSS__SPLAT(1.0f), w));
}

/* Labels as class indices: y[i] = label of position pos + i, -1 where it equals ignore_index,
   for i < n (n <= SEGLOSS__BLOCK), and -1 on up to the next multiple of 16. With cnt, each
   class's count is added to cnt[c] (classes, C <= SEGLOSS__VCOUNT), or the count of labels
   not ignored to cnt[0] (!classes). With check, returns nonzero when a label is neither a class
   nor ignore_index (a block runner converts labels already checked). uint8 and int32 labels go
   W at a time. */
SEGLOSS__VINLINE SEGLOSS__I SEGLOSS__K(label_vec)(SEGLOSS__I v, SEGLOSS__I ignv, SEGLOSS__I cm1, SEGLOSS__I *bad,
                                                 const int has_ign, const int check)
{
    const SEGLOSS__I zero = SEGLOSS__V(set1i)(0);
    const SEGLOSS__I s = has_ign ? SEGLOSS__V(imask)(SEGLOSS__V(ieq)(v, ignv)) : zero; /* ignored lanes */
    if (check) {
        const SEGLOSS__I v0 = SEGLOSS__V(iandn)(s, v);                                  /* ... as class 0 */
        *bad = SEGLOSS__V(ior)(*bad, SEGLOSS__V(ior)(SEGLOSS__V(imask)(SEGLOSS__V(igt)(v0, cm1)),
                                                      SEGLOSS__V(imask)(SEGLOSS__V(igt)(zero, v0))));
    }
    return SEGLOSS__V(ior)(v, s);
}
SEGLOSS__VINLINE int SEGLOSS__K(labels_vec)(const void *src, int n, int32_t *y, int32_t C, int32_t ign,
                                            const int u8, const int has_ign, const int check)
{
    const SEGLOSS__I cm1 = SEGLOSS__V(set1i)(C - 1), ignv = SEGLOSS__V(set1i)(ign);
    const int full = n - n % SEGLOSS__W;
    SEGLOSS__I bad = SEGLOSS__V(set1i)(0);
    int32_t t[SEGLOSS__W];
    int i, k;
    for (i = 0; i < full; i += SEGLOSS__W) {
        const SEGLOSS__I v = u8 ? SEGLOSS__V(loadu8)((const uint8_t *)src + i) : SEGLOSS__V(loadi)((const int32_t *)src + i);
        SEGLOSS__V(storei)(y + i, SEGLOSS__K(label_vec)(v, ignv, cm1, &bad, has_ign, check));
    }
    if (full < n) { /* the tail, padded with class 0 */
        for (k = 0; k < SEGLOSS__W; k++)
            t[k] = full + k >= n ? 0 : u8 ? ((const uint8_t *)src)[full + k] : ((const int32_t *)src)[full + k];
        SEGLOSS__V(storei)(t, SEGLOSS__K(label_vec)(SEGLOSS__V(loadi)(t), ignv, cm1, &bad, has_ign, check));
        for (k = 0; full + k < n; k++) y[full + k] = t[k];
    }
    if (!check) return 0;
    SEGLOSS__V(storei)(t, bad);
    for (k = 1; k < SEGLOSS__W; k++) t[0] |= t[k];
    return t[0] != 0;
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE int SEGLOSS__K(labels)(const segloss_input *in, int64_t ignore, int64_t pos, int n,
                                                       int32_t *y, int64_t *cnt, int classes, int check)
{
    const int32_t C = (int32_t)in->c; /* in->c <= INT32_MAX, checked with the input */
    const int padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    int i, c, bad = 0;
    if (in->label_type == SEGLOSS_LABEL_I64) {
        const int64_t *src = (const int64_t *)in->labels + pos;
        for (i = 0; i < n; i++) {
            const int64_t v = src[i];
            const int skip = v == ignore;
            bad |= !skip & ((uint64_t)v >= (uint64_t)C);
            y[i] = skip ? -1 : (int32_t)v;
        }
    } else {
        /* an ignore_index the type cannot hold matches nothing */
        const int u8 = in->label_type == SEGLOSS_LABEL_U8;
        const int has_ign = u8 ? ignore >= 0 && ignore <= 255 : ignore >= INT32_MIN && ignore <= INT32_MAX;
        const void *src = u8 ? (const void *)((const uint8_t *)in->labels + pos) : (const void *)((const int32_t *)in->labels + pos);
        const int32_t ign = has_ign ? (int32_t)ignore : 0;
        switch (u8 * 4 + has_ign * 2 + (check != 0)) {
        case 0: SEGLOSS__K(labels_vec)(src, n, y, C, ign, 0, 0, 0); break;
        case 1: bad = SEGLOSS__K(labels_vec)(src, n, y, C, ign, 0, 0, 1); break;
        case 2: SEGLOSS__K(labels_vec)(src, n, y, C, ign, 0, 1, 0); break;
        case 3: bad = SEGLOSS__K(labels_vec)(src, n, y, C, ign, 0, 1, 1); break;
        case 4: SEGLOSS__K(labels_vec)(src, n, y, C, ign, 1, 0, 0); break;
        case 5: bad = SEGLOSS__K(labels_vec)(src, n, y, C, ign, 1, 0, 1); break;
        case 6: SEGLOSS__K(labels_vec)(src, n, y, C, ign, 1, 1, 0); break;
        default: bad = SEGLOSS__K(labels_vec)(src, n, y, C, ign, 1, 1, 1); break;
        }
    }
    for (i = n; i < padded; i++) y[i] = -1;
    if (cnt)
        for (c = 0; c < (classes ? C : 1); c++) { /* counted as -1 per match */
            const SEGLOSS__I cls = SEGLOSS__V(set1i)(classes ? c : -1);
            SEGLOSS__I acc = SEGLOSS__V(set1i)(0);
            int32_t t[SEGLOSS__W];
            int64_t sum = 0;
            for (i = 0; i < padded; i += SEGLOSS__W) {
                const SEGLOSS__I v = SEGLOSS__V(loadi)(y + i);
                acc = SEGLOSS__V(iadd)(acc, SEGLOSS__V(imask)(classes ? SEGLOSS__V(ieq)(v, cls) : SEGLOSS__V(igt)(v, cls)));
            }
            SEGLOSS__V(storei)(t, acc);
            for (i = 0; i < SEGLOSS__W; i++) sum -= t[i];
            cnt[c] += sum;
        }
    return bad;
}

/* A block is processed in phases, each a loop over the block's vectors that hands its
   results to the next through these L1-resident arrays. Short loop bodies let the CPU overlap
   the long dependency chain of one position (max, exp, sum, divide, log) with its
   neighbours'; one fused body per vector would leave it waiting on that chain. */
typedef struct {
    float m[SEGLOSS__BLOCK], d[SEGLOSS__BLOCK];    /* max, max - z_y                        */
    float q[SEGLOSS__BLOCK], ey[SEGLOSS__BLOCK];   /* sum_{c != y} e_c, e_y (e_c = e^(z_c - m)) */
    float wy[SEGLOSS__BLOCK];                      /* CE-family coefficient w[y]            */
    float ea[SEGLOSS__BLOCK], by[SEGLOSS__BLOCK];  /* Dice: sum_c e_c (A_c - A_r), B_y      */
    float ar[SEGLOSS__BLOCK], dy[SEGLOSS__BLOCK];  /* Dice: A_r (r: largest logit), A_y - A_r */
    float k0[SEGLOSS__BLOCK], k1[SEGLOSS__BLOCK], k2[SEGLOSS__BLOCK]; /* gradient coefficients */
    float l[SEGLOSS__BLOCK];                       /* weighted loss term (scaled), grad kernel */
    /* label smoothing: sum_c w_c (m - z_c) (grad kernel); log s and the position's weight,
       then the smoothing term's coefficient (stats kernel) */
    float sm[SEGLOSS__BLOCK], ls[SEGLOSS__BLOCK], mw[SEGLOSS__BLOCK];
} SEGLOSS__K(blk_t);

/* Lanes of vector i that hold positions of the block (0 for the padding past n). */
#define SEGLOSS__CNT(n, i) ((n) - (i) >= SEGLOSS__W ? SEGLOSS__W : (n) > (i) ? (n) - (i) : 0)

/* Phase 1, one vector of positions: the max, the exponentials (parked at park[c * ps], pcnt
   lanes, when park != NULL) and the sums the later phases need (w[y] for the grad kernel,
   the Dice sums when dice). The Dice sum is taken relative to A_r, r the class of the largest
   logit (the first, on a tie): its own term is exactly 0, so where p_r is close to 1 the sum
   is a small number with all its digits rather than A_r plus a small number (see grad_body). */
SEGLOSS__VINLINE void SEGLOSS__K(soft)(const segloss__args *a, const int C, const int grad, const int dice, int i, const int cnt,
                                      float *park, int64_t ps, const int pcnt, SEGLOSS__K(blk_t) *b, const int copy)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f);
    const float *z = a->z + i;
    const SEGLOSS__I y = SEGLOSS__V(loadi)(a->y + i);
    SEGLOSS__F m = SEGLOSS__LD(z, cnt), q = zero, ey = zero, zy = zero, wy = zero, ea = zero, by = zero, ay = zero;
    SEGLOSS__F ar = dice ? SEGLOSS__SPLAT(a->A[0]) : zero, sm = zero;
    const int smooth = grad && a->sw != NULL;
    /* a->prefetch needs blocks shorter than SEGLOSS__BLOCK: C is then no small constant */
    const int pf = C > SEGLOSS__TBUF / SEGLOSS__BLOCK && a->prefetch;
    int c; /* with copy, the max pass leaves the logits where their exponentials go (a->alias) */
    if (copy) SEGLOSS__ST(park + i, m, pcnt);
    if (pf) SEGLOSS__PREFETCH(z + a->prefetch);
    SEGLOSS__UNROLL for (c = 1; c < C; c++) {
        const SEGLOSS__F zc = SEGLOSS__LD(z + c * a->zs, cnt);
        if (pf) SEGLOSS__PREFETCH(z + c * a->zs + a->prefetch);
        if (copy) SEGLOSS__ST(park + c * ps + i, zc, pcnt);
        if (dice) ar = SEGLOSS__V(sel)(SEGLOSS__V(lt)(m, zc), SEGLOSS__SPLAT(a->A[c]), ar);
        m = SEGLOSS__V(max)(m, zc);
    }
    SEGLOSS__UNROLL for (c = 0; c < C; c++) {
        SEGLOSS__F zc = copy ? SEGLOSS__LD(park + c * ps + i, pcnt) : SEGLOSS__LD(z + c * a->zs, cnt);
        SEGLOSS__F ec = SEGLOSS__K(exp)(SEGLOSS__V(sub)(zc, m));
        SEGLOSS__M is = SEGLOSS__V(ieq)(y, SEGLOSS__V(set1i)(c));
        if (park) SEGLOSS__ST(park + c * ps + i, ec, pcnt);
        q = SEGLOSS__V(add)(q, SEGLOSS__V(sel)(is, zero, ec));
        ey = SEGLOSS__V(sel)(is, ec, ey);
        zy = SEGLOSS__V(sel)(is, zc, zy);
        if (grad) wy = SEGLOSS__V(sel)(is, SEGLOSS__SPLAT(a->w[c]), wy);
        if (smooth) sm = SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->w[c]), SEGLOSS__V(sub)(m, zc), sm);
        if (dice) {
            ea = SEGLOSS__V(fma)(ec, SEGLOSS__V(sub)(SEGLOSS__SPLAT(a->A[c]), ar), ea);
            ay = SEGLOSS__V(sel)(is, SEGLOSS__SPLAT(a->A[c]), ay);
            by = SEGLOSS__V(sel)(is, SEGLOSS__SPLAT(a->B[c]), by);
        }
    }
    SEGLOSS__V(store)(b->m + i, m);
    SEGLOSS__V(store)(b->d + i, SEGLOSS__V(sub)(m, zy));
    SEGLOSS__V(store)(b->q + i, q);
    SEGLOSS__V(store)(b->ey + i, ey);
    if (grad) SEGLOSS__V(store)(b->wy + i, wy);
    if (smooth) SEGLOSS__V(store)(b->sm + i, sm);
    if (dice) {
        SEGLOSS__V(store)(b->ea + i, ea);
        SEGLOSS__V(store)(b->by + i, by);
        SEGLOSS__V(store)(b->ar + i, ar);
        SEGLOSS__V(store)(b->dy + i, SEGLOSS__V(sub)(ay, ar));
    }
}

/* Phase 1 over the block, padding included (its labels are -1, its logits read as 0): whole
   vectors with C constant, then the last partial ones in one shared copy. */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(soft_tail)(const segloss__args *a, int grad, int dice, int i, float *park,
                                                           int64_t ps, int own_park, SEGLOSS__K(blk_t) *b)
{
    const int n = a->npos, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    for (; i < padded; i += SEGLOSS__W) {
        const int cnt = SEGLOSS__CNT(n, i);
        SEGLOSS__K(soft)(a, a->c, grad, dice, i, cnt, park, ps, own_park ? SEGLOSS__W : cnt, b, a->alias && park);
    }
}
SEGLOSS__VINLINE void SEGLOSS__K(soft_all)(const segloss__args *a, const int C, const int grad, const int dice, float *park,
                                          int64_t ps, const int own_park, SEGLOSS__K(blk_t) *b)
{
    const segloss__args la = *a; /* a copy the parking stores cannot alias: fields stay in registers */
    const int full = a->npos - a->npos % SEGLOSS__W;
    int i;
    if (C > 4 && la.alias && park) /* (more than 4 classes per set needs more than 4 classes) */
        for (i = 0; i < full; i += SEGLOSS__W) SEGLOSS__K(soft)(&la, C, grad, dice, i, SEGLOSS__W, park, ps, SEGLOSS__W, b, 1);
    else
        for (i = 0; i < full; i += SEGLOSS__W) SEGLOSS__K(soft)(&la, C, grad, dice, i, SEGLOSS__W, park, ps, SEGLOSS__W, b, 0);
    if (i < a->npos || i % SEGLOSS__LANES) SEGLOSS__K(soft_tail)(a, grad, dice, i, park, ps, own_park, b);
}

/* Phase 2 math of one vector: softmax and (focal) cross-entropy terms from phase 1's sums. */
typedef struct {
    SEGLOSS__F inv_s, py, q, lf, ff; /* 1/sum, p_y, 1 - p_y, focal term (-log p_y for CE), its grad factor */
    SEGLOSS__F ls;                   /* log s: -log p_c = (m - z_c) + log s                    */
} SEGLOSS__K(tail_t);
SEGLOSS__VINLINE SEGLOSS__K(tail_t) SEGLOSS__K(tail)(const segloss__args *a, const SEGLOSS__K(blk_t) *b, int i,
                                                    const int want_l, const int focal, const int want_grad)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f);
    const SEGLOSS__F ey = SEGLOSS__V(load)(b->ey + i), q_sum = SEGLOSS__V(load)(b->q + i);
    const SEGLOSS__F s = SEGLOSS__V(add)(q_sum, ey);
    SEGLOSS__K(tail_t) t;
    SEGLOSS__F q, u, l;
    int c;
    t.inv_s = SEGLOSS__V(div)(one, s);
    t.py = SEGLOSS__V(mul)(ey, t.inv_s);
    t.q = q = SEGLOSS__V(mul)(q_sum, t.inv_s); /* 1 - p_y without cancellation */
    t.lf = t.ls = zero;
    t.ff = one;
    if (!want_l) return t; /* no CE-family term, or plain CE's gradient: no log needed */
    /* -log p_y = (m - z_y) + log1p(s - 1), s - 1 = q_sum + (e_y - 1). Where y holds the max,
       e_y = 1 exactly and s - 1 = q_sum: the confident case, whose tiny loss keeps its digits.
       Elsewhere p_y <= 1/2, so the loss is at least log 2 and the sum's rounding is harmless.
       1 + u ~ s, so 1/s serves the log1p correction. */
    u = SEGLOSS__V(add)(q_sum, SEGLOSS__V(sub)(ey, one));
    t.ls = SEGLOSS__K(log1p_w)(u, SEGLOSS__V(add)(u, one), t.inv_s);
    l = SEGLOSS__V(add)(SEGLOSS__V(load)(b->d + i), t.ls);
    t.lf = l;
    if (focal) { /* gamma != 0 */
        SEGLOSS__F qg = q;
        if (a->gamma_int > 0) {
            for (c = 1; c < a->gamma_int; c++) qg = SEGLOSS__V(mul)(qg, q);
        } else {
            qg = SEGLOSS__K(exp)(SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->gamma), SEGLOSS__K(log)(q)));
        }
        t.lf = SEGLOSS__V(mul)(qg, l);
        if (want_grad) {
            /* dFL/dz = q^g (1 + g p_y r) (p - onehot), r = -log(p_y)/q -> 1 as q -> 0 */
            SEGLOSS__F r = SEGLOSS__V(sel)(SEGLOSS__V(lt)(zero, q), SEGLOSS__V(div)(l, q), one);
            SEGLOSS__F g = SEGLOSS__V(sel)(SEGLOSS__V(lt)(zero, t.py), SEGLOSS__V(mul)(t.py, r), zero);
            t.ff = SEGLOSS__V(mul)(qg, SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->gamma), g, one));
        }
    }
    return t;
}

/* Phase 3 of the statistics kernel, class c: its three sums over the block, from the
   class's exponentials ecs and the per-position 1/sum (k0) and scaled focal term (k1, with ce). */
SEGLOSS__VINLINE void SEGLOSS__K(stats_class)(const segloss__args *a, const SEGLOSS__K(blk_t) *b, const float *ecs, int c,
                                             int padded, const int ce)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f);
    const SEGLOSS__I cls = SEGLOSS__V(set1i)(c), none = SEGLOSS__V(set1i)(-1);
    SEGLOSS__F accl[SEGLOSS__U], acci[SEGLOSS__U], accp[SEGLOSS__U], accs[SEGLOSS__U];
    int i, u;
    for (u = 0; u < SEGLOSS__U; u++) accl[u] = acci[u] = accp[u] = accs[u] = zero;
    for (i = 0; i < padded; i += SEGLOSS__LANES)
        SEGLOSS__UNROLL for (u = 0; u < SEGLOSS__U; u++) {
            const int at = i + u * SEGLOSS__W;
            SEGLOSS__I y = SEGLOSS__V(loadi)(a->y + at);
            SEGLOSS__M is = SEGLOSS__V(ieq)(y, cls);
            SEGLOSS__F p = SEGLOSS__V(mul)(SEGLOSS__V(load)(ecs + at), SEGLOSS__V(load)(b->k0 + at));
            accp[u] = SEGLOSS__V(add)(accp[u], SEGLOSS__V(sel)(SEGLOSS__V(igt)(y, none), p, zero));
            acci[u] = SEGLOSS__V(add)(acci[u], SEGLOSS__V(sel)(is, p, zero));
            if (ce) accl[u] = SEGLOSS__V(add)(accl[u], SEGLOSS__V(sel)(is, SEGLOSS__V(load)(b->k1 + at), zero));
            if (ce && a->sum_s) { /* -log p_c = log s + (m - z_c), weighted and scaled */
                const SEGLOSS__F nl = SEGLOSS__V(add)(SEGLOSS__V(load)(b->ls + at),
                                                      SEGLOSS__V(sub)(SEGLOSS__V(load)(b->m + at),
                                                                      SEGLOSS__LD(a->z + c * a->zs + at, SEGLOSS__CNT(a->npos, at))));
                accs[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(SEGLOSS__V(igt)(y, none), nl, zero), SEGLOSS__V(load)(b->mw + at), accs[u]);
            }
        }
    if (ce) a->sum_l[c] += SEGLOSS__V(sum16)(accl) / SEGLOSS__LOSS_SCALE;
    if (ce && a->sum_s) a->sum_s[c] += SEGLOSS__V(sum16)(accs) / SEGLOSS__LOSS_SCALE;
    a->sum_i[c] += SEGLOSS__V(sum16)(acci);
    a->sum_p[c] += SEGLOSS__V(sum16)(accp);
}

/* Per-class statistics of one block: sum_l[c] += sum_{y=c} focal term (a loss with a CE-family
   term only), sum_i[c] += sum_{y=c} p_c, sum_p[c] += sum p_c, over valid positions. Phases 1
   and 2 find each position's softmax; phase 3 runs class by class so that the sums of a class
   stay in registers. */
SEGLOSS__VINLINE void SEGLOSS__K(stats_body)(const segloss__args *a, const int C)
{
    SEGLOSS__K(blk_t) b;
    float eb[SEGLOSS__TBUF];
    const int n = a->npos, W = SEGLOSS__W, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    const int keep = C * padded <= SEGLOSS__TBUF; /* else recompute exp */
    int i, c;
    SEGLOSS__K(soft_all)(a, C, 0, 0, keep ? eb : NULL, padded, 1, &b);
    for (i = 0; i < padded; i += W) {
        SEGLOSS__K(tail_t) t = SEGLOSS__K(tail)(a, &b, i, a->ce, a->gamma != 0.0f, 0);
        /* a weight map scales the position's p (k0 = m / s) and its term: exact for m = 1 */
        const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + i, SEGLOSS__CNT(n, i)) : SEGLOSS__SPLAT(1.0f);
        SEGLOSS__V(store)(b.k0 + i, a->m ? SEGLOSS__V(mul)(t.inv_s, m) : t.inv_s);
        if (a->ce) SEGLOSS__V(store)(b.k1 + i, SEGLOSS__V(mul)(SEGLOSS__V(mul)(t.lf, SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE)), m));
        if (a->sum_s) { /* label smoothing: sum_V m (-log p_c) per class, in stats_class */
            SEGLOSS__V(store)(b.ls + i, t.ls);
            SEGLOSS__V(store)(b.mw + i, SEGLOSS__V(mul)(m, SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE)));
        }
    }
    for (c = 0; c < C; c++) {
        const float *z = a->z + c * a->zs;
        if (!keep) /* this class's exponentials again, into the (unused) buffer */
            for (i = 0; i < padded; i += W)
                SEGLOSS__V(store)(eb + i, SEGLOSS__K(exp)(SEGLOSS__V(sub)(SEGLOSS__LD(z + i, SEGLOSS__CNT(n, i)), SEGLOSS__V(load)(b.m + i))));
        if (a->ce) SEGLOSS__K(stats_class)(a, &b, keep ? eb + c * padded : eb, c, padded, 1);
        else SEGLOSS__K(stats_class)(a, &b, keep ? eb + c * padded : eb, c, padded, 0);
    }
}

/* Phase 2 of the gradient kernel: per position, the loss term and the gradient coefficients
   (k0, k1, k2). Independent of C, so compiled once per ISA and Dice flag, not per C. */
SEGLOSS__VINLINE void SEGLOSS__K(coefs_body)(const segloss__args *ap, SEGLOSS__K(blk_t) *b, int padded,
                                             const int want_l, const int focal, const int dice)
{
    const segloss__args la = *ap, *a = &la; /* as in soft_all */
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f);
    const SEGLOSS__I none = SEGLOSS__V(set1i)(-1);
    const int W = SEGLOSS__W, n = a->npos;
    int i;
    for (i = 0; i < padded; i += W) {
        const SEGLOSS__K(tail_t) t = SEGLOSS__K(tail)(a, b, i, want_l, focal, a->g != NULL);
        const SEGLOSS__F wy = SEGLOSS__V(load)(b->wy + i);
        const SEGLOSS__F nf = SEGLOSS__V(mul)(SEGLOSS__V(sub)(zero, wy), t.ff); /* -f */
        /* a weight map scales the whole gradient of the position (k0 and k2; k1 is inside k0's
           product) and its loss term: exact for m = 1, so a map of ones changes no bit */
        const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + i, SEGLOSS__CNT(n, i)) : one;
        /* label smoothing (gamma = 0, so ff = 1): the coefficient of every p_k becomes
           f' = (1 - eps) w_y + (eps / C) W and the label's CE entry (1 - eps)(-w_y q) +
           (eps / C)(W p_y - w_y); phase 3 adds -(eps / C) w_k to the other entries */
        const int smooth = a->sw != NULL;
        const SEGLOSS__F fs = smooth ? SEGLOSS__V(fma)(wy, SEGLOSS__SPLAT(1.0f - a->eps), SEGLOSS__SPLAT(a->eps_w)) : wy;
        const SEGLOSS__F ce_y = smooth ? SEGLOSS__V(fma)(SEGLOSS__V(mul)(nf, t.q), SEGLOSS__SPLAT(1.0f - a->eps),
                                                         SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->eps_c),
                                                                         SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->eps_sum), t.py, SEGLOSS__V(sub)(zero, wy))))
                                       : SEGLOSS__V(mul)(nf, t.q);
        SEGLOSS__F k0, k2;
        if (a->loss || a->each) {
            const SEGLOSS__M valid = SEGLOSS__V(igt)(SEGLOSS__V(loadi)(a->y + i), none);
            /* weighted, normalised term; smoothed: (1 - eps) w_y l + (eps / C) sum_c w_c (-log p_c) */
            const SEGLOSS__F l = !smooth ? SEGLOSS__V(mul)(wy, t.lf)
                                         : SEGLOSS__V(fma)(SEGLOSS__V(mul)(wy, t.lf), SEGLOSS__SPLAT(1.0f - a->eps),
                                                           SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->eps_c),
                                                                           SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->eps_sum), t.ls, SEGLOSS__V(load)(b->sm + i))));
            if (a->loss)
                SEGLOSS__V(store)(b->l + i, SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(SEGLOSS__V(mul)(l, SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE)), m), zero));
            if (a->each) /* the unreduced term w[y] m l: the normalisation undone */
                SEGLOSS__ST(a->each + i, SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(SEGLOSS__V(mul)(l, SEGLOSS__SPLAT(a->each_scale)), m), zero),
                            SEGLOSS__CNT(n, i));
        }
        if (dice) { /* D', S and ly as in grad_body's comment */
            const SEGLOSS__F by = SEGLOSS__V(load)(b->by + i);
            const SEGLOSS__F dp = SEGLOSS__V(mul)(SEGLOSS__V(load)(b->ea + i), t.inv_s);           /* D' */
            const SEGLOSS__F S = SEGLOSS__V(fma)(t.py, by, dp);                                   /* D' + p_y B_y */
            const SEGLOSS__F ly = SEGLOSS__V(sub)(SEGLOSS__V(fma)(t.q, by, SEGLOSS__V(load)(b->dy + i)), dp);
            k0 = t.inv_s;
            SEGLOSS__V(store)(b->k1 + i, smooth ? SEGLOSS__V(sub)(fs, S) : SEGLOSS__V(fma)(wy, t.ff, SEGLOSS__V(sub)(zero, S))); /* f - D' - p_y B_y */
            k2 = SEGLOSS__V(fma)(t.py, ly, ce_y);                                              /* the label's entry */
        } else {
            k0 = SEGLOSS__V(mul)(t.inv_s, smooth ? fs : SEGLOSS__V(sub)(zero, nf)); /* f / s */
            k2 = ce_y;                                                              /* -f q */
        }
        if (smooth) SEGLOSS__V(store)(b->mw + i, m);
        if (a->m) {
            k0 = SEGLOSS__V(mul)(k0, m);
            k2 = SEGLOSS__V(mul)(k2, m);
        }
        SEGLOSS__V(store)(b->k0 + i, k0);
        SEGLOSS__V(store)(b->k2 + i, k2);
    }
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(coefs)(const segloss__args *a, SEGLOSS__K(blk_t) *b, int padded,
                                                          int want_l, int dice)
{
    switch (dice * 3 + (want_l && a->gamma != 0.0f ? 2 : want_l != 0)) { /* want_l: a loss or unreduced terms */
    case 0: SEGLOSS__K(coefs_body)(a, b, padded, 0, 0, 0); break;
    case 1: SEGLOSS__K(coefs_body)(a, b, padded, 1, 0, 0); break;
    case 2: SEGLOSS__K(coefs_body)(a, b, padded, 1, 1, 0); break;
    case 3: SEGLOSS__K(coefs_body)(a, b, padded, 0, 0, 1); break;
    case 4: SEGLOSS__K(coefs_body)(a, b, padded, 1, 0, 1); break;
    default: SEGLOSS__K(coefs_body)(a, b, padded, 1, 1, 1); break;
    }
}

/* Phase 3 of one vector: what every class of it needs, loaded once (the gradient stores may
   alias anything for the compiler, so it would reload them for every class otherwise). */
typedef struct {
    SEGLOSS__I y;
    SEGLOSS__F k0, k1, k2, ar, mw;
    SEGLOSS__M valid;
} SEGLOSS__K(vec_t);
SEGLOSS__VINLINE SEGLOSS__K(vec_t) SEGLOSS__K(vec)(const segloss__args *a, const SEGLOSS__K(blk_t) *b, int i, const int dice)
{
    SEGLOSS__K(vec_t) v;
    v.y = SEGLOSS__V(loadi)(a->y + i);
    v.k0 = SEGLOSS__V(load)(b->k0 + i);
    v.k1 = dice ? SEGLOSS__V(load)(b->k1 + i) : v.k0;
    v.ar = dice ? SEGLOSS__V(load)(b->ar + i) : v.k0;
    v.k2 = SEGLOSS__V(load)(b->k2 + i);
    v.mw = a->sw ? SEGLOSS__V(load)(b->mw + i) : v.k0;
    v.valid = SEGLOSS__V(igt)(v.y, SEGLOSS__V(set1i)(-1));
    return v;
}
/* Phase 3, class c of vector v at position i: the gradient of cnt positions from the parked
   exponential and the coefficients (the label's entry whole, from phase 2), stored plainly or
   (stream) with a 16-byte aligned non-temporal store. */
SEGLOSS__VINLINE void SEGLOSS__K(out)(const segloss__args *a, const SEGLOSS__K(vec_t) *v, const float *park, int64_t ps,
                                     int c, const int dice, int i, const int cnt, const int stream)
{
    const SEGLOSS__F coef = dice ? SEGLOSS__V(mul)(v->k0, SEGLOSS__V(add)(SEGLOSS__V(sub)(SEGLOSS__SPLAT(a->A[c]), v->ar), v->k1))
                                 : v->k0;
    const int pcnt = park == a->g ? cnt : SEGLOSS__W; /* the stack buffer is padded */
    float *g = a->g + c * a->gs + i;
    const SEGLOSS__F e = SEGLOSS__LD(park + c * ps + i, pcnt);
    SEGLOSS__F gv = SEGLOSS__V(sel)(SEGLOSS__V(ieq)(v->y, SEGLOSS__V(set1i)(c)), v->k2,
                                    a->sw ? SEGLOSS__V(fma)(e, coef, SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->sw[c]), v->mw))
                                          : SEGLOSS__V(mul)(e, coef));
    gv = SEGLOSS__V(sel)(v->valid, gv, SEGLOSS__SPLAT(0.0f));
    if (stream) SEGLOSS__V(stream)(g, gv);
    else SEGLOSS__ST(g, gv, cnt);
}

/* Phase 3 plane by plane over the block's whole vectors: streamed (each write-combining buffer
   fills whole lines in turn), or where the planes alias in the cache (each line is written
   whole before the next). */
SEGLOSS__VINLINE void SEGLOSS__K(out_planes)(const segloss__args *a, const SEGLOSS__K(blk_t) *b, const float *park, int64_t ps,
                                            int C, const int dice, int full, const int stream)
{
    int c, i;
    for (c = 0; c < C; c++)
        for (i = 0; i < full; i += SEGLOSS__W) {
            const SEGLOSS__K(vec_t) v = SEGLOSS__K(vec)(a, b, i, dice);
            SEGLOSS__K(out)(a, &v, park, ps, c, dice, i, SEGLOSS__W, stream);
        }
}

/* Gradient of one block (a->g != NULL), and with a->loss the weighted focal/CE loss in the
   same pass (a->g == NULL: the loss alone, the CE family's loss-only pass):
   dL/dz_k = f (p_k - [k = y]) + p_k (d_k - sum_j p_j d_j),  f = w_y ff,  d_c = A_c + B_c [y = c],
   in forms that keep every entry's relative accuracy where the softmax is confident (api.h
   section 7): with r the class of the largest logit, q = 1 - p_y = sum_{c != y} p_c and
   D' = sum_j p_j (A_j - A_r) (so sum_j p_j d_j = A_r + D' + p_y B_y, as sum_j p_j = 1),
     k != y:  p_k ((A_k - A_r) + f - D' - p_y B_y)     phase 3, from k0 = 1/s, k1 and A_r
     k == y:  p_y ((A_y - A_r) + q B_y - D') - f q     phase 2, whole (k2)
   Where p_r is near 1, q and D' are small sums of small terms, each with its own digits, and
   A_r - A_r is exactly 0: no entry is the rounded difference of two O(1) numbers (p_y - 1, or
   A_r - sum_j p_j A_j). Without Dice (A = B = 0) the entries are f p_k and -f q.
   Phase 1 parks the exponentials (on the stack when they fit, else in the gradient buffer),
   phase 2 finds per position the coefficients, phase 3 turns the parked exponentials into
   the gradient. */
SEGLOSS__VINLINE void SEGLOSS__K(grad_body)(const segloss__args *a, const int C, const int dice)
{
    SEGLOSS__K(blk_t) b;
    float eb[SEGLOSS__TBUF];
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f);
    const int n = a->npos, W = SEGLOSS__W, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    const int keep = C * padded <= SEGLOSS__TBUF; /* else park in the gradient buffer */
    const int want_l = a->ce && (a->gamma != 0.0f || a->loss != NULL || a->each != NULL);
    float *park = !a->g ? NULL : keep ? eb : a->g;
    const int64_t ps = keep ? padded : a->gs;
    SEGLOSS__F acc[SEGLOSS__U];
    int i, c, u;
    SEGLOSS__K(soft_all)(a, C, 1, dice, park, ps, keep, &b);
    SEGLOSS__K(coefs)(a, &b, padded, want_l, dice);
    if (a->loss) { /* unrolled: each accumulator stays in a register */
        for (u = 0; u < SEGLOSS__U; u++) acc[u] = zero;
        for (i = 0; i < padded; i += SEGLOSS__LANES)
            SEGLOSS__UNROLL for (u = 0; u < SEGLOSS__U; u++) acc[u] = SEGLOSS__V(add)(acc[u], SEGLOSS__V(load)(b.l + i + u * W));
        *a->loss += SEGLOSS__V(sum16)(acc) / SEGLOSS__LOSS_SCALE;
    }
    if (!a->g) return;
    {
        const segloss__args la = *a; /* as in soft_all */
        const int full = n - n % W;
        /* every store of the block is 16-byte aligned when the base and the plane stride are */
        const int stream = la.stream && !(((uintptr_t)la.g | (uintptr_t)(la.gs * (int64_t)sizeof(float))) & 15);
        SEGLOSS__K(vec_t) v;
        if (stream) SEGLOSS__K(out_planes)(&la, &b, park, ps, C, dice, full, 1);
        else if (la.alias) SEGLOSS__K(out_planes)(&la, &b, park, ps, C, dice, full, 0);
        else
            for (i = 0; i < full; i += W) {
                v = SEGLOSS__K(vec)(&la, &b, i, dice);
                SEGLOSS__UNROLL for (c = 0; c < C; c++) SEGLOSS__K(out)(&la, &v, park, ps, c, dice, i, W, 0);
            }
        if (full < n) {
            v = SEGLOSS__K(vec)(&la, &b, full, dice);
            for (c = 0; c < C; c++) SEGLOSS__K(out)(&la, &v, park, ps, c, dice, full, n - full, 0);
        }
    }
}

/* Entry points: small C compiled with C constant (loops unrolled). */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(stats)(const segloss__args *a)
{
    switch (a->c) {
    case 2: SEGLOSS__K(stats_body)(a, 2); break;
    case 3: SEGLOSS__K(stats_body)(a, 3); break;
    case 4: SEGLOSS__K(stats_body)(a, 4); break;
    default: SEGLOSS__K(stats_body)(a, a->c); break;
    }
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(grad)(const segloss__args *a)
{
    const int dice = a->A != NULL;
    switch (a->c * 2 + dice) {
    case 4: SEGLOSS__K(grad_body)(a, 2, 0); break;
    case 5: SEGLOSS__K(grad_body)(a, 2, 1); break;
    case 6: SEGLOSS__K(grad_body)(a, 3, 0); break;
    case 7: SEGLOSS__K(grad_body)(a, 3, 1); break;
    case 8: SEGLOSS__K(grad_body)(a, 4, 0); break;
    case 9: SEGLOSS__K(grad_body)(a, 4, 1); break;
    default:
        if (dice) SEGLOSS__K(grad_body)(a, a->c, 1);
        else SEGLOSS__K(grad_body)(a, a->c, 0);
        break;
    }
}

/* NHWC rows <-> class planes, for np positions of C classes: position i, class c is at
   rows[i * C + c] and planes[c * ps + i]. dir SEGLOSS__TO_PLANES copies rows (src) to planes
   (dst), SEGLOSS__TO_ROWS planes (src) to rows (dst), SEGLOSS__TO_ROWS_NT the same with
   non-temporal stores (C = 2 or 4 and dst 16-byte aligned: whole rows fill lines in order).
   W positions and four classes at a time through the transposes: when 4 does not divide C the
   last four overlap the four before (those move twice, unchanged). Two classes are
   (de)interleaved in whole vectors. One and three are read and written four floats wide, and
   unrows4 writes its rows in increasing order, so each row's spill is overwritten by the next
   row. Rows that would spill past the block, and the positions past the last whole vector, are
   copied one by one. */
SEGLOSS__VINLINE void SEGLOSS__K(transpose_c)(const float *src, float *dst, int64_t ps, int full, int C,
                                             const int dir, const int nk)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f);
    const int nt = dir == SEGLOSS__TO_ROWS_NT;
    int i, c, k;
    if (nk == 2) { /* W rows of 2 are two whole vectors */
        for (i = 0; i < full; i += SEGLOSS__W) {
            SEGLOSS__F v[2];
            if (dir == SEGLOSS__TO_PLANES) {
                v[0] = SEGLOSS__V(load)(src + 2 * i);
                v[1] = SEGLOSS__V(load)(src + 2 * i + SEGLOSS__W);
                SEGLOSS__V(deint2)(v);
                SEGLOSS__V(store)(dst + i, v[0]);
                SEGLOSS__V(store)(dst + ps + i, v[1]);
            } else {
                v[0] = SEGLOSS__V(load)(src + i);
                v[1] = SEGLOSS__V(load)(src + ps + i);
                SEGLOSS__V(int2)(v);
                SEGLOSS__UNROLL for (k = 0; k < 2; k++) {
                    if (nt) SEGLOSS__V(stream)(dst + 2 * i + k * SEGLOSS__W, v[k]);
                    else SEGLOSS__V(store)(dst + 2 * i + k * SEGLOSS__W, v[k]);
                }
            }
        }
        return;
    }
    for (i = 0; i < full; i += SEGLOSS__W) /* position-major: each row's lines are used up at once */
        for (c = 0; c < C; c += 4) {
            const int c0 = c + 4 <= C || C < 4 ? c : C - 4;
            SEGLOSS__F v[4];
            if (dir == SEGLOSS__TO_PLANES) {
                SEGLOSS__V(rows4)(src + (int64_t)i * C + c0, C, v);
                SEGLOSS__UNROLL for (k = 0; k < nk; k++) SEGLOSS__V(store)(dst + (c0 + k) * ps + i, v[k]);
            } else {
                SEGLOSS__UNROLL for (k = 0; k < 4; k++) v[k] = k < nk ? SEGLOSS__V(load)(src + (c0 + k) * ps + i) : zero;
                SEGLOSS__V(unrows4)(dst + (int64_t)i * C + c0, C, v, nt);
            }
        }
}
/* dir as a constant; non-temporal rows only with nk 2 and 4 (callers ask for them at C = 2 or 4) */
SEGLOSS__VINLINE void SEGLOSS__K(transpose_n)(const float *src, float *dst, int64_t ps, int full, int C, int dir,
                                             const int nk)
{
    if (dir == SEGLOSS__TO_PLANES) SEGLOSS__K(transpose_c)(src, dst, ps, full, C, SEGLOSS__TO_PLANES, nk);
    else if (dir == SEGLOSS__TO_ROWS_NT && nk % 2 == 0) SEGLOSS__K(transpose_c)(src, dst, ps, full, C, SEGLOSS__TO_ROWS_NT, nk);
    else SEGLOSS__K(transpose_c)(src, dst, ps, full, C, SEGLOSS__TO_ROWS, nk);
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(transpose)(const float *src, float *dst, int64_t ps, int np, int C,
                                                           int dir)
{
    /* rows whose four floats lie inside the block */
    const int fit = C >= 4 || C == 2 ? np : np * C >= 4 ? (np * C - 4) / C + 1 : 0, full = fit - fit % SEGLOSS__W;
    const int to_planes = dir == SEGLOSS__TO_PLANES;
    const int64_t si = to_planes ? C : 1, sc = to_planes ? 1 : ps, di = to_planes ? 1 : C, dc = to_planes ? ps : 1;
    switch (C < 4 ? C : 4) {
    case 1: SEGLOSS__K(transpose_n)(src, dst, ps, full, C, dir, 1); break;
    case 2: SEGLOSS__K(transpose_n)(src, dst, ps, full, C, dir, 2); break;
    case 3: SEGLOSS__K(transpose_n)(src, dst, ps, full, C, dir, 3); break;
    default: SEGLOSS__K(transpose_n)(src, dst, ps, full, C, dir, 4); break;
    }
    if (full < np) segloss__copy_strided(src + full * si, si, sc, dst + full * di, di, dc, np - full, C);
}

/* Per position i < np, the class of its largest logit (class c at z[c * zs + i]) as a float,
   ties to the lowest class; a NaN is never taken (class 0 when all are). For the confusion
   counts; exact while C <= 2^24. */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(argmax)(const float *z, int64_t zs, int np, int C, float *idx)
{
    int i, c;
    for (i = 0; i < np; i += SEGLOSS__W) {
        const int cnt = np - i < SEGLOSS__W ? np - i : SEGLOSS__W;
        SEGLOSS__F best = SEGLOSS__LD(z + i, cnt), bi = SEGLOSS__SPLAT(0.0f);
        SEGLOSS__M set = SEGLOSS__V(ord)(best); /* lanes holding a number */
        for (c = 1; c < C; c++) {
            const SEGLOSS__F v = SEGLOSS__LD(z + c * zs + i, cnt);
            const SEGLOSS__M take = SEGLOSS__V(mor)(SEGLOSS__V(lt)(best, v), SEGLOSS__V(mandn)(set, SEGLOSS__V(ord)(v)));
            best = SEGLOSS__V(sel)(take, v, best);
            bi = SEGLOSS__V(sel)(take, SEGLOSS__SPLAT((float)c), bi);
            set = SEGLOSS__V(mor)(set, take);
        }
        SEGLOSS__ST(idx + i, bi, cnt);
    }
}

/* The vector math alone (op 0 exp, 1 log, 2 log1p), for the exhaustive ULP tests. */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(vmath)(int op, const float *x, float *y, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i += SEGLOSS__W) {
        const int cnt = n - i < SEGLOSS__W ? (int)(n - i) : SEGLOSS__W;
        SEGLOSS__F v = SEGLOSS__V(loadn)(x + i, cnt);
        v = op == 0 ? SEGLOSS__K(exp)(v) : op == 1 ? SEGLOSS__K(log)(v) : SEGLOSS__K(log1p)(v);
        SEGLOSS__V(storen)(y + i, v, cnt);
    }
}

#include "sigmoid_kernels.h"

#undef SEGLOSS__V
#undef SEGLOSS__K
#undef SEGLOSS__F
#undef SEGLOSS__I
#undef SEGLOSS__M
#undef SEGLOSS__W
#undef SEGLOSS__U
#undef SEGLOSS__SPLAT
#undef SEGLOSS__LD
#undef SEGLOSS__ST
#undef SEGLOSS__CNT
#endif /* SEGLOSS__ISA */
