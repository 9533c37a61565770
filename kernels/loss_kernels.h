#else /* SEGLOSS__KERNEL_PASS ============================================================== */
/* THE KERNELS, written once. The implementation re-includes this header once per ISA with
   SEGLOSS__ISA set to avx512, avx2, neon or scalar; SEGLOSS__V(op) names that ISA's
   vocabulary (kernels/isa_*.h), SEGLOSS__K(name) the instantiated function.

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
#define SEGLOSS__C1(x) SEGLOSS__V(set1)(x)
/* load/store cnt lanes (cnt == W in the main loop, so the branch folds away) */
#define SEGLOSS__LD(p, cnt) ((cnt) == SEGLOSS__W ? SEGLOSS__V(load)(p) : SEGLOSS__V(loadn)(p, cnt))
#define SEGLOSS__ST(p, v, cnt) \
    do { if ((cnt) == SEGLOSS__W) SEGLOSS__V(store)(p, v); else SEGLOSS__V(storen)(p, v, cnt); } while (0)

/* exp(x) for x <= 0, all the kernels need. Results below FLT_MIN (x < -87.3365) are 0; NaN
   stays NaN. Cephes
   polynomial after a two-step ln2 reduction. Measured over every float in [-87.3365, 0]
   against the correctly rounded result: at most 1.01 ULP (tests/vmath.c). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(exp)(SEGLOSS__F x)
{
    const SEGLOSS__F lo = SEGLOSS__C1(-87.33654475f), magic = SEGLOSS__C1(12582912.0f);
    SEGLOSS__F xc = SEGLOSS__V(max)(lo, x); /* NaN kept */
    SEGLOSS__F t = SEGLOSS__V(fma)(xc, SEGLOSS__C1(1.44269504089f), magic);    /* n + magic */
    SEGLOSS__F n = SEGLOSS__V(sub)(t, magic);
    SEGLOSS__F r = SEGLOSS__V(fma)(n, SEGLOSS__C1(-0.693359375f), xc);
    SEGLOSS__F p, y;
    r = SEGLOSS__V(fma)(n, SEGLOSS__C1(2.12194440e-4f), r);
    p = SEGLOSS__V(fma)(SEGLOSS__C1(1.9875691500e-4f), r, SEGLOSS__C1(1.3981999507e-3f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__C1(8.3334519073e-3f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__C1(4.1665795894e-2f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__C1(1.6666665459e-1f));
    p = SEGLOSS__V(fma)(p, r, SEGLOSS__C1(5.0000001201e-1f));
    p = SEGLOSS__V(fma)(p, SEGLOSS__V(mul)(r, r), r);
    p = SEGLOSS__V(add)(p, SEGLOSS__C1(1.0f));
    /* 2^n: the low bits of t hold n + 0x400000 + magic's mantissa; shifting them into the
       exponent field drops magic's bits. */
    y = SEGLOSS__V(mul)(p, SEGLOSS__V(asflt)(SEGLOSS__V(shl23)(
            SEGLOSS__V(iadd)(SEGLOSS__V(asint)(t), SEGLOSS__V(set1i)(127)))));
    return SEGLOSS__V(sel)(SEGLOSS__V(lt)(x, lo), SEGLOSS__C1(0.0f), y);
}

/* log of a normal positive x (or NaN), its exponent field biased by 8388608 + bias (126, or
   150 for an input scaled by 2^24). Cephes polynomial on the mantissa in [sqrt(1/2), sqrt(2)). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log_core)(SEGLOSS__F x, SEGLOSS__F bias)
{
    const SEGLOSS__F one = SEGLOSS__C1(1.0f), zero = SEGLOSS__C1(0.0f);
    SEGLOSS__I bits = SEGLOSS__V(asint)(x);
    /* exponent field as a float, exactly: 2^23 + k built from bits, minus 2^23 */
    SEGLOSS__F e = SEGLOSS__V(sub)(SEGLOSS__V(asflt)(SEGLOSS__V(ior)(SEGLOSS__V(shr23)(bits), SEGLOSS__V(set1i)(0x4B000000))),
                                   bias);
    SEGLOSS__F m = SEGLOSS__V(asflt)(SEGLOSS__V(ior)(SEGLOSS__V(iand)(bits, SEGLOSS__V(set1i)(0x007FFFFF)),
                                                    SEGLOSS__V(set1i)(0x3F000000))); /* [0.5, 1) */
    SEGLOSS__M small = SEGLOSS__V(lt)(m, SEGLOSS__C1(0.707106781186547524f));
    SEGLOSS__F f = SEGLOSS__V(add)(SEGLOSS__V(sub)(m, one), SEGLOSS__V(sel)(small, m, zero));
    SEGLOSS__F z, p, y;
    e = SEGLOSS__V(sub)(e, SEGLOSS__V(sel)(small, one, zero));
    z = SEGLOSS__V(mul)(f, f);
    p = SEGLOSS__V(fma)(SEGLOSS__C1(7.0376836292e-2f), f, SEGLOSS__C1(-1.1514610310e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__C1(1.1676998740e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__C1(-1.2420140846e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__C1(1.4249322787e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__C1(-1.6668057665e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__C1(2.0000714765e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__C1(-2.4999993993e-1f));
    p = SEGLOSS__V(fma)(p, f, SEGLOSS__C1(3.3333331174e-1f));
    y = SEGLOSS__V(mul)(SEGLOSS__V(mul)(p, f), z);
    y = SEGLOSS__V(fma)(e, SEGLOSS__C1(-2.12194440e-4f), y);
    y = SEGLOSS__V(fma)(z, SEGLOSS__C1(-0.5f), y);
    y = SEGLOSS__V(add)(f, y);
    y = SEGLOSS__V(fma)(e, SEGLOSS__C1(0.693359375f), y);
    return SEGLOSS__V(add)(y, SEGLOSS__V(sub)(x, x)); /* + 0, or NaN for a NaN x */
}

/* log(x) for finite x >= 0 (denormals included; log(0) = -inf; NaN stays NaN). Measured over
   every float in (0, FLT_MAX] against the correctly rounded result: at most 0.83 ULP
   (tests/vmath.c). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log)(SEGLOSS__F x)
{
    SEGLOSS__M tiny = SEGLOSS__V(lt)(x, SEGLOSS__C1(FLT_MIN));
    SEGLOSS__F y = SEGLOSS__K(log_core)(SEGLOSS__V(sel)(tiny, SEGLOSS__V(mul)(x, SEGLOSS__C1(16777216.0f)), x),
                                        SEGLOSS__V(sel)(tiny, SEGLOSS__C1(8388608.0f + 150.0f), SEGLOSS__C1(8388608.0f + 126.0f)));
    return SEGLOSS__V(sel)(SEGLOSS__V(lt)(x, SEGLOSS__C1(1e-45f)), SEGLOSS__C1(-INFINITY), y);
}

/* log(1 + u) for finite u >= 0, accurate for tiny u: log(w) of w = 1 + u, plus the rounding
   error of w times inv_w ~ 1/w (the correction is tiny, so 1/w to a few ULP is plenty).
   Measured over every float in [0, FLT_MAX]: at most 1.26 ULP (tests/vmath.c). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log1p_w)(SEGLOSS__F u, SEGLOSS__F w, SEGLOSS__F inv_w)
{
    SEGLOSS__F c = SEGLOSS__V(sub)(u, SEGLOSS__V(sub)(w, SEGLOSS__C1(1.0f)));
    return SEGLOSS__V(fma)(c, inv_w, SEGLOSS__K(log_core)(w, SEGLOSS__C1(8388608.0f + 126.0f))); /* w >= 1 */
}
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(log1p)(SEGLOSS__F u)
{
    SEGLOSS__F w = SEGLOSS__V(add)(u, SEGLOSS__C1(1.0f));
    return SEGLOSS__K(log1p_w)(u, w, SEGLOSS__V(div)(SEGLOSS__C1(1.0f), w));
}

/* Softmax of one vector of positions: what every kernel needs per position. */
typedef struct {
    SEGLOSS__F m, inv_s, py, l, lf, ff; /* max, 1/sum, p_y, -log p_y, focal term, grad factor */
    SEGLOSS__F ea, by;                  /* Dice: sum_c e_c A_c, B_y                         */
} SEGLOSS__K(head_t);

/* e[c] receives exp(z_c - m) when e != NULL (small C, kept in registers); otherwise, when
   park != NULL, it is parked in memory at park[c * ps] for the caller to reuse.
   want_grad adds ff, ea, by. */
SEGLOSS__VINLINE SEGLOSS__K(head_t) SEGLOSS__K(head)(const segloss__args *a, const int C, int i, const int cnt,
                                                    SEGLOSS__I y, SEGLOSS__F *e, float *park, int64_t ps,
                                                    const int want_grad)
{
    const SEGLOSS__F zero = SEGLOSS__C1(0.0f), one = SEGLOSS__C1(1.0f);
    const float *z = a->z + i;
    SEGLOSS__K(head_t) h;
    SEGLOSS__F q_sum = zero, ey = zero, zy = zero, s, u, q;
    SEGLOSS__M big;
    int c;
    h.m = SEGLOSS__LD(z, cnt);
    SEGLOSS__UNROLL for (c = 1; c < C; c++) h.m = SEGLOSS__V(max)(h.m, SEGLOSS__LD(z + c * a->zs, cnt));
    h.ea = zero;
    h.by = zero;
    SEGLOSS__UNROLL for (c = 0; c < C; c++) {
        SEGLOSS__F zc = SEGLOSS__LD(z + c * a->zs, cnt);
        SEGLOSS__F ec = SEGLOSS__K(exp)(SEGLOSS__V(sub)(zc, h.m));
        SEGLOSS__M is = SEGLOSS__V(ieq)(y, SEGLOSS__V(set1i)(c));
        if (e) e[c] = ec;
        else if (park) SEGLOSS__ST(park + c * ps, ec, cnt);
        q_sum = SEGLOSS__V(add)(q_sum, SEGLOSS__V(sel)(is, zero, ec)); /* sum over c != y */
        ey = SEGLOSS__V(sel)(is, ec, ey);
        zy = SEGLOSS__V(sel)(is, zc, zy);
        if (want_grad && a->A) {
            h.ea = SEGLOSS__V(fma)(ec, SEGLOSS__C1(a->A[c]), h.ea);
            h.by = SEGLOSS__V(sel)(is, SEGLOSS__C1(a->B[c]), h.by);
        }
    }
    s = SEGLOSS__V(add)(q_sum, ey);
    h.inv_s = SEGLOSS__V(div)(one, s);
    h.py = SEGLOSS__V(mul)(ey, h.inv_s);
    q = SEGLOSS__V(mul)(q_sum, h.inv_s);                    /* 1 - p_y without cancellation */
    /* -log p_y = log1p(sum_{c!=y} e_c / e_y); when e_y underflows, log(s) + m - z_y. */
    big = SEGLOSS__V(lt)(ey, SEGLOSS__C1(5.421011e-20f));   /* 2^-64 */
    u = SEGLOSS__V(sel)(big, SEGLOSS__V(sub)(s, one), SEGLOSS__V(div)(q_sum, ey));
    /* 1 + u = s / e_y, so p_y ~ 1/(1 + u) serves the log1p correction (1/s when big) */
    h.l = SEGLOSS__V(add)(SEGLOSS__K(log1p_w)(u, SEGLOSS__V(add)(u, one), SEGLOSS__V(sel)(big, h.inv_s, h.py)),
                          SEGLOSS__V(sel)(big, SEGLOSS__V(sub)(h.m, zy), zero));
    h.lf = h.l;
    h.ff = one;
    if (a->gamma != 0.0f) {
        SEGLOSS__F qg = q;
        if (a->gamma_int > 0) {
            for (c = 1; c < a->gamma_int; c++) qg = SEGLOSS__V(mul)(qg, q);
        } else {
            qg = SEGLOSS__K(exp)(SEGLOSS__V(mul)(SEGLOSS__C1(a->gamma), SEGLOSS__K(log)(q)));
        }
        h.lf = SEGLOSS__V(mul)(qg, h.l);
        if (want_grad) {
            /* dFL/dz = q^g (1 + g p_y r) (p - onehot), r = -log(p_y)/q -> 1 as q -> 0 */
            SEGLOSS__F r = SEGLOSS__V(sel)(SEGLOSS__V(lt)(zero, q), SEGLOSS__V(div)(h.l, q), one);
            SEGLOSS__F t = SEGLOSS__V(sel)(SEGLOSS__V(lt)(zero, h.py), SEGLOSS__V(mul)(h.py, r), zero);
            h.ff = SEGLOSS__V(mul)(qg, SEGLOSS__V(fma)(SEGLOSS__C1(a->gamma), t, one));
        }
    }
    return h;
}

/* Per-class statistics of one block: sum_l[c] += sum_{y=c} focal term, sum_i[c] += sum_{y=c}
   p_c, sum_p[c] += sum p_c, over valid positions. Pass 1 finds each position's softmax; pass 2 runs
   class by class so that the three sums of a class stay in registers. */
SEGLOSS__VINLINE void SEGLOSS__K(stats_body)(const segloss__args *a, const int C)
{
    float bm[SEGLOSS__BLOCK], bi[SEGLOSS__BLOCK], bl[SEGLOSS__BLOCK], eb[SEGLOSS__EBUF * SEGLOSS__BLOCK];
    const SEGLOSS__F zero = SEGLOSS__C1(0.0f);
    const int n = a->npos, W = SEGLOSS__W, keep = C <= SEGLOSS__EBUF; /* else recompute exp */
    int i, c;
    for (i = 0; i < n; i += W) {
        SEGLOSS__K(head_t) h;
        if (i + W <= n) h = SEGLOSS__K(head)(a, C, i, W, SEGLOSS__V(loadi)(a->y + i), NULL, keep ? eb + i : NULL, SEGLOSS__BLOCK, 0);
        else h = SEGLOSS__K(head)(a, C, i, n - i, SEGLOSS__V(loadi)(a->y + i), NULL, keep ? eb + i : NULL, SEGLOSS__BLOCK, 0);
        SEGLOSS__V(store)(bm + i, h.m);
        SEGLOSS__V(store)(bi + i, h.inv_s);
        SEGLOSS__V(store)(bl + i, SEGLOSS__V(mul)(h.lf, SEGLOSS__C1(SEGLOSS__LOSS_SCALE)));
    }
    for (c = 0; c < C; c++) {
        SEGLOSS__F accl[SEGLOSS__U], acci[SEGLOSS__U], accp[SEGLOSS__U];
        float lane[SEGLOSS__LANES];
        const float *z = a->z + c * a->zs;
        const SEGLOSS__I cls = SEGLOSS__V(set1i)(c), none = SEGLOSS__V(set1i)(-1);
        int u;
        for (u = 0; u < SEGLOSS__U; u++) accl[u] = acci[u] = accp[u] = zero;
        for (i = 0; i < n; i += W) {
            const int cnt = n - i < W ? n - i : W;
            const int k = (i / W) % SEGLOSS__U;
            SEGLOSS__I y = SEGLOSS__V(loadi)(a->y + i);
            SEGLOSS__M is = SEGLOSS__V(ieq)(y, cls);
            SEGLOSS__F ec = keep ? SEGLOSS__V(load)(eb + c * SEGLOSS__BLOCK + i)
                                 : SEGLOSS__K(exp)(SEGLOSS__V(sub)(SEGLOSS__LD(z + i, cnt), SEGLOSS__V(load)(bm + i)));
            SEGLOSS__F p = SEGLOSS__V(mul)(ec, SEGLOSS__V(load)(bi + i));
            accp[k] = SEGLOSS__V(add)(accp[k], SEGLOSS__V(sel)(SEGLOSS__V(igt)(y, none), p, zero));
            acci[k] = SEGLOSS__V(add)(acci[k], SEGLOSS__V(sel)(is, p, zero));
            accl[k] = SEGLOSS__V(add)(accl[k], SEGLOSS__V(sel)(is, SEGLOSS__V(load)(bl + i), zero));
        }
        for (u = 0; u < SEGLOSS__U; u++) SEGLOSS__V(store)(lane + u * W, accl[u]);
        a->sum_l[c] += segloss__lanes_sum(lane) / SEGLOSS__LOSS_SCALE;
        for (u = 0; u < SEGLOSS__U; u++) SEGLOSS__V(store)(lane + u * W, acci[u]);
        a->sum_i[c] += segloss__lanes_sum(lane);
        for (u = 0; u < SEGLOSS__U; u++) SEGLOSS__V(store)(lane + u * W, accp[u]);
        a->sum_p[c] += segloss__lanes_sum(lane);
    }
}

/* One vector of positions i .. i+cnt-1 (cnt == W but at the block's end). */
SEGLOSS__VINLINE void SEGLOSS__K(grad_vec)(const segloss__args *a, const int C, const int in_regs, int i,
                                           const int cnt, SEGLOSS__F *acc)
{
    const SEGLOSS__F zero = SEGLOSS__C1(0.0f);
    SEGLOSS__F e[4];
    SEGLOSS__I y = SEGLOSS__V(loadi)(a->y + i);
    SEGLOSS__M valid = SEGLOSS__V(igt)(y, SEGLOSS__V(set1i)(-1));
    SEGLOSS__K(head_t) h = SEGLOSS__K(head)(a, C, i, cnt, y, in_regs ? e : NULL, a->g ? a->g + i : NULL, a->gs, 1);
    SEGLOSS__F wy = SEGLOSS__V(load)(a->wy + i);
    SEGLOSS__F nf = SEGLOSS__V(mul)(SEGLOSS__V(sub)(zero, wy), h.ff);          /* -f */
    SEGLOSS__F t, v, ts;
    int c;
    if (a->loss)
        *acc = SEGLOSS__V(add)(*acc, SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(wy, SEGLOSS__V(mul)(h.lf, SEGLOSS__C1(SEGLOSS__LOSS_SCALE))), zero));
    if (!a->g) return;
    if (a->A) {
        SEGLOSS__F s = SEGLOSS__V(fma)(h.ea, h.inv_s, SEGLOSS__V(mul)(h.py, h.by));
        t = SEGLOSS__V(fma)(wy, h.ff, SEGLOSS__V(sub)(zero, s));                 /* f - S */
        v = SEGLOSS__V(fma)(h.py, h.by, nf);                                     /* p_y B_y - f */
    } else {
        t = SEGLOSS__V(sub)(zero, nf);
        v = nf;
    }
    ts = SEGLOSS__V(mul)(h.inv_s, t); /* dL/dz_k = e_k ts + ... without a Dice term */
    SEGLOSS__UNROLL for (c = 0; c < C; c++) {
        float *g = a->g + c * a->gs + i;
        SEGLOSS__F ec = in_regs ? e[c] : SEGLOSS__LD(g, cnt);
        SEGLOSS__F coef = a->A ? SEGLOSS__V(mul)(h.inv_s, SEGLOSS__V(add)(SEGLOSS__C1(a->A[c]), t)) : ts;
        SEGLOSS__F gv = SEGLOSS__V(fma)(ec, coef, SEGLOSS__V(sel)(SEGLOSS__V(ieq)(y, SEGLOSS__V(set1i)(c)), v, zero));
        SEGLOSS__ST(g, SEGLOSS__V(sel)(valid, gv, zero), cnt);
    }
}

/* Gradient of one block (a->g != NULL), and with a->loss the weighted focal/CE loss in the
   same pass (a->g == NULL: the loss alone, the CE family's loss-only pass):
   dL/dz_k = p_k (f + A_k - S) + [k = y] (p_y B_y - f), f = wy * ff, S = sum_j p_j A_j + p_y B_y.
   Small C keeps the exponentials in registers; larger C parks them in the gradient buffer. */
SEGLOSS__VINLINE void SEGLOSS__K(grad_body)(const segloss__args *a, const int C, const int in_regs)
{
    const int n = a->npos, W = SEGLOSS__W, full = n - n % W;
    SEGLOSS__F acc[SEGLOSS__U];
    int i, u;
    for (u = 0; u < SEGLOSS__U; u++) acc[u] = SEGLOSS__C1(0.0f);
    for (i = 0; i < full; i += W) SEGLOSS__K(grad_vec)(a, C, in_regs, i, W, &acc[(i / W) % SEGLOSS__U]);
    if (i < n) SEGLOSS__K(grad_vec)(a, C, in_regs, i, n - i, &acc[(i / W) % SEGLOSS__U]);
    if (a->loss) {
        float lane[SEGLOSS__LANES];
        for (u = 0; u < SEGLOSS__U; u++) SEGLOSS__V(store)(lane + u * W, acc[u]);
        *a->loss += segloss__lanes_sum(lane) / SEGLOSS__LOSS_SCALE;
    }
}

/* Entry points: small C compiled with C constant (loops unrolled, exponentials in registers). */
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
    switch (a->c) {
    case 2: SEGLOSS__K(grad_body)(a, 2, 1); break;
    case 3: SEGLOSS__K(grad_body)(a, 3, 1); break;
    case 4: SEGLOSS__K(grad_body)(a, 4, 1); break;
    default: SEGLOSS__K(grad_body)(a, a->c, 0); break;
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

#undef SEGLOSS__V
#undef SEGLOSS__K
#undef SEGLOSS__F
#undef SEGLOSS__I
#undef SEGLOSS__M
#undef SEGLOSS__W
#undef SEGLOSS__U
#undef SEGLOSS__C1
#undef SEGLOSS__LD
#undef SEGLOSS__ST
#endif /* SEGLOSS__KERNEL_PASS */
