/* ---- kernels/sigmoid_kernels.h: the sigmoid kernels, written once over the vocabulary ---- */
#ifndef SEGLOSS__ISA
/* Opened on its own (an editor, make check-parts): compile them with the scalar vocabulary. */
#include "isa_scalar.h"
#else
/* Included by loss_kernels.h, once per ISA, with its vocabulary macros and its exp and log1p.
   Under the sigmoid every element (position, channel) is its own binary problem, so a block
   is processed class plane by class plane: per element p = sigmoid(z), the loss term and
   the gradient need nothing from the other channels. One body serves the statistics and the
   gradient pass; the flags are constants in each compiled copy. */

/* One element vector: the sigmoid, its complement and the two softplus terms, all formed
   without cancellation from e = exp(-|z|) in (0, 1]:
     p = sigmoid(z), pm = 1 - p = sigmoid(-z), each 1/(1 + e) or e/(1 + e);
     softplus(z) = -log(1 - p) = max(z, 0) + log1p(e), softplus(-z) = -log p = max(-z, 0) + log1p(e). */
typedef struct {
    SEGLOSS__F p, pm, sp_pos, sp_neg;
} SEGLOSS__K(sig_t);
SEGLOSS__VINLINE SEGLOSS__K(sig_t) SEGLOSS__K(sig)(SEGLOSS__F z, const int want_log)
{
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f);
    const SEGLOSS__F nz = SEGLOSS__V(sub)(zero, z);
    const SEGLOSS__F e = SEGLOSS__K(exp)(SEGLOSS__V(sub)(zero, SEGLOSS__V(max)(z, nz))); /* NaN kept */
    const SEGLOSS__F w = SEGLOSS__V(add)(one, e), inv = SEGLOSS__V(div)(one, w), einv = SEGLOSS__V(mul)(e, inv);
    const SEGLOSS__M neg = SEGLOSS__V(lt)(z, zero);
    SEGLOSS__K(sig_t) s;
    s.p = SEGLOSS__V(sel)(neg, einv, inv);
    s.pm = SEGLOSS__V(sel)(neg, inv, einv);
    if (want_log) {
        const SEGLOSS__F l1 = SEGLOSS__K(log1p_w)(e, w, inv);
        s.sp_pos = SEGLOSS__V(add)(SEGLOSS__V(max)(zero, z), l1);
        s.sp_neg = SEGLOSS__V(add)(SEGLOSS__V(max)(zero, nz), l1);
    } else {
        s.sp_pos = s.sp_neg = zero;
    }
    return s;
}

/* u^gamma for u in [0, 1]: products for integral gamma 1..16, else exp(gamma log u) (0 at u = 0). */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(powg)(const segloss__args *a, SEGLOSS__F u)
{
    SEGLOSS__F r = u;
    int k;
    if (a->gamma_int > 0) {
        for (k = 1; k < a->gamma_int; k++) r = SEGLOSS__V(mul)(r, u);
        return r;
    }
    r = SEGLOSS__K(exp)(SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->gamma), SEGLOSS__K(log)(u)));
    return SEGLOSS__V(sel)(SEGLOSS__V(lt)(SEGLOSS__SPLAT(0.0f), u), r, SEGLOSS__SPLAT(0.0f));
}

/* One vector of class c: the target t (0 where the position is not valid) and the validity. */
SEGLOSS__VINLINE SEGLOSS__F SEGLOSS__K(sig_target)(const segloss__args *a, int c, int i, const int cnt, const int dense,
                                                   SEGLOSS__M *valid)
{
    const SEGLOSS__I y = SEGLOSS__V(loadi)(a->y + i);
    *valid = SEGLOSS__V(igt)(y, SEGLOSS__V(set1i)(-1));
    if (dense) return SEGLOSS__V(sel)(*valid, SEGLOSS__LD(a->t + c * a->ts + i, cnt), SEGLOSS__SPLAT(0.0f));
    /* labels: one channel holds label 1 (C = 1), else channel c holds label c */
    return SEGLOSS__V(sel)(SEGLOSS__V(ieq)(y, SEGLOSS__V(set1i)(a->c == 1 ? 1 : c)), SEGLOSS__SPLAT(1.0f),
                           SEGLOSS__SPLAT(0.0f));
}

/* The sigmoid kernel over one block, class by class. Per element, with m the position's weight
   and t its target (every term is 0 where the position is not valid, whatever its logit):
     stats (a->sum_i != NULL)  sum_i[c] += m p t, sum_p[c] += m p, and with a->ce the CE-family
                               parts: sum_l[c] += m l_neg (BCE) or m l (focal), and for BCE
                               sum_lp[c] += m l_pos, l_pos = t softplus(-z), l_neg = (1 - t) softplus(z)
     backward (no sums)        with a->g the gradient
                               dL/dz = m (sk[c] (1 - t) p - sk[C + c] t pm)            BCE
                                     = m sk[c] a_t (u^g (p - t) + g u^g (p pm / u) (1 - 2 t) bce)   focal
                                     + m (A[c] + B[c] t) p pm                        Dice family
                               with a->loss the CE-family loss m (sk[c] l_neg + sk[C + c] l_pos)
                               (focal: m sk[c] a_t u^g bce), and with a->each the unreduced term
                               m (sk[2C + c] l_neg + sk[3C + c] l_pos) (focal: m sk[2C + c] ...).
   sk holds the CE coefficients the driver derived (class weight, pos_weight, normalisation). */
SEGLOSS__VINLINE void SEGLOSS__K(sig_body)(const segloss__args *ap, const int dense, const int focal, const int dice,
                                          const int grad)
{
    const segloss__args la = *ap, *a = &la; /* a copy the stores cannot alias: fields stay in registers */
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f), scale = SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE);
    const SEGLOSS__F a1 = SEGLOSS__SPLAT(a->alpha < 0.0f ? 0.0f : 2.0f * a->alpha - 1.0f);
    const SEGLOSS__F a0 = SEGLOSS__SPLAT(a->alpha < 0.0f ? 1.0f : 1.0f - a->alpha);
    const int n = a->npos, W = SEGLOSS__W, C = a->c, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    const int ce = a->ce, want_log = ce && (!grad || a->loss || a->each || focal);
    const int want_g = grad && (a->g != NULL); /* the backward pass may want only the loss */
    SEGLOSS__F accl[SEGLOSS__U], accq[SEGLOSS__U], acci[SEGLOSS__U], accp[SEGLOSS__U], acct[SEGLOSS__U];
    int c, i, u;
    for (u = 0; u < SEGLOSS__U; u++) acct[u] = zero;
    for (c = 0; c < C; c++) {
        const SEGLOSS__F kn = ce && grad ? SEGLOSS__SPLAT(a->sk[c]) : zero, kp = ce && grad ? SEGLOSS__SPLAT(a->sk[C + c]) : zero;
        const SEGLOSS__F rn = a->each ? SEGLOSS__SPLAT(a->sk[2 * C + c]) : zero, rp = a->each ? SEGLOSS__SPLAT(a->sk[3 * C + c]) : zero;
        const SEGLOSS__F dA = dice && grad ? SEGLOSS__SPLAT(a->A[c]) : zero, dB = dice && grad ? SEGLOSS__SPLAT(a->B[c]) : zero;
        for (u = 0; u < SEGLOSS__U; u++) accl[u] = accq[u] = acci[u] = accp[u] = zero;
        for (i = 0; i < padded; i += SEGLOSS__LANES)
            for (u = 0; u < SEGLOSS__U; u++) { /* not unrolled: the body is long, and 16 copies of it (scalar) only cost compile time */
                const int at = i + u * W, cnt = SEGLOSS__CNT(n, at);
                SEGLOSS__M valid;
                const SEGLOSS__F t = SEGLOSS__K(sig_target)(a, c, at, cnt, dense, &valid);
                const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + at, cnt) : one; /* applied where valid */
                const SEGLOSS__F z = SEGLOSS__LD(a->z + c * a->zs + at, cnt);
                const SEGLOSS__K(sig_t) s = SEGLOSS__K(sig)(z, want_log);
                const SEGLOSS__F nt = SEGLOSS__V(sub)(one, t);
                SEGLOSS__F lneg = zero, lpos = zero, g = zero, at_ug = zero, bce = zero;
                if (want_log) {
                    lneg = SEGLOSS__V(mul)(nt, s.sp_pos);
                    lpos = SEGLOSS__V(mul)(t, s.sp_neg);
                }
                if (focal) { /* u = 1 - p_t, a_t u^gamma bce: the focal term in lneg, lpos 0 */
                    const SEGLOSS__F uu = SEGLOSS__V(fma)(t, s.pm, SEGLOSS__V(mul)(nt, s.p));
                    const SEGLOSS__F ug = a->gamma == 0.0f ? one : SEGLOSS__K(powg)(a, uu);
                    bce = SEGLOSS__V(fma)(nt, s.sp_pos, lpos); /* lneg + lpos, the product fused explicitly */
                    at_ug = SEGLOSS__V(mul)(SEGLOSS__V(fma)(t, a1, a0), ug);
                    lneg = SEGLOSS__V(mul)(at_ug, bce);
                    lpos = zero;
                    if (want_g) {
                        /* p - t without cancellation, and g (p pm / u)(1 - 2t) bce, p pm / u < 1 */
                        const SEGLOSS__F pt = SEGLOSS__V(fma)(nt, s.p, SEGLOSS__V(mul)(SEGLOSS__V(sub)(zero, t), s.pm));
                        const SEGLOSS__F r = SEGLOSS__V(sel)(SEGLOSS__V(lt)(zero, uu),
                                                             SEGLOSS__V(div)(SEGLOSS__V(mul)(s.p, s.pm), uu), zero);
                        const SEGLOSS__F d = SEGLOSS__V(fma)(SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->gamma), r),
                                                             SEGLOSS__V(mul)(SEGLOSS__V(sub)(nt, t), bce), pt);
                        g = SEGLOSS__V(mul)(kn, SEGLOSS__V(mul)(at_ug, d));
                    }
                } else if (ce && want_g) {
                    g = SEGLOSS__V(fma)(kn, SEGLOSS__V(mul)(nt, s.p), SEGLOSS__V(mul)(SEGLOSS__V(sub)(zero, kp), SEGLOSS__V(mul)(t, s.pm)));
                }
                if (grad) {
                    if (want_g && dice) g = SEGLOSS__V(fma)(SEGLOSS__V(fma)(dB, t, dA), SEGLOSS__V(mul)(s.p, s.pm), g);
                    if (want_g) SEGLOSS__ST(a->g + c * a->gs + at, SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, g), zero), cnt);
                    if (a->loss) {
                        const SEGLOSS__F l = focal ? SEGLOSS__V(mul)(kn, lneg) : SEGLOSS__V(fma)(kn, lneg, SEGLOSS__V(mul)(kp, lpos));
                        acct[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, l), zero), scale, acct[u]);
                    }
                    if (a->each) {
                        const SEGLOSS__F l = focal ? SEGLOSS__V(mul)(rn, lneg) : SEGLOSS__V(fma)(rn, lneg, SEGLOSS__V(mul)(rp, lpos));
                        SEGLOSS__ST(a->each + c * a->es + at, SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, l), zero), cnt);
                    }
                } else {
                    const SEGLOSS__F mp = SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, s.p), zero);
                    if (dice) {
                        acci[u] = SEGLOSS__V(fma)(mp, t, acci[u]);
                        accp[u] = SEGLOSS__V(add)(accp[u], mp);
                    }
                    if (ce) {
                        accl[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, lneg), zero), scale, accl[u]);
                        if (!focal) accq[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, lpos), zero), scale, accq[u]);
                    }
                }
            }
        if (!grad) {
            if (dice) {
                a->sum_i[c] += SEGLOSS__V(sum16)(acci);
                a->sum_p[c] += SEGLOSS__V(sum16)(accp);
            }
            if (ce) {
                a->sum_l[c] += SEGLOSS__V(sum16)(accl) / SEGLOSS__LOSS_SCALE;
                if (!focal) a->sum_lp[c] += SEGLOSS__V(sum16)(accq) / SEGLOSS__LOSS_SCALE;
            }
        }
    }
    if (grad && a->loss) *a->loss += SEGLOSS__V(sum16)(acct) / SEGLOSS__LOSS_SCALE;
}

/* Entry point: the flags as constants. The statistics pass has sums to add (a->sum_i); the
   backward pass a gradient, a loss or unreduced terms to write. */
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(sigmoid)(const segloss__args *a)
{
    const int grad = a->sum_i == NULL;
    const int dense = a->t != NULL, focal = a->ce && a->focal, dice = grad ? a->A != NULL : a->dice;
    switch (grad * 8 + dense * 4 + focal * 2 + dice) {
    case 0: SEGLOSS__K(sig_body)(a, 0, 0, 0, 0); break;
    case 1: SEGLOSS__K(sig_body)(a, 0, 0, 1, 0); break;
    case 2: SEGLOSS__K(sig_body)(a, 0, 1, 0, 0); break;
    case 3: SEGLOSS__K(sig_body)(a, 0, 1, 1, 0); break;
    case 4: SEGLOSS__K(sig_body)(a, 1, 0, 0, 0); break;
    case 5: SEGLOSS__K(sig_body)(a, 1, 0, 1, 0); break;
    case 6: SEGLOSS__K(sig_body)(a, 1, 1, 0, 0); break;
    case 7: SEGLOSS__K(sig_body)(a, 1, 1, 1, 0); break;
    case 8: SEGLOSS__K(sig_body)(a, 0, 0, 0, 1); break;
    case 9: SEGLOSS__K(sig_body)(a, 0, 0, 1, 1); break;
    case 10: SEGLOSS__K(sig_body)(a, 0, 1, 0, 1); break;
    case 11: SEGLOSS__K(sig_body)(a, 0, 1, 1, 1); break;
    case 12: SEGLOSS__K(sig_body)(a, 1, 0, 0, 1); break;
    case 13: SEGLOSS__K(sig_body)(a, 1, 0, 1, 1); break;
    case 14: SEGLOSS__K(sig_body)(a, 1, 1, 0, 1); break;
    default: SEGLOSS__K(sig_body)(a, 1, 1, 1, 1); break;
    }
}
/* The softmax with per-channel (soft) targets t, F.cross_entropy with a probability target:
   per position, with t' = (1 - eps) t + eps / C and ls = log sum_c e^(z_c - m),
     l = sum_c w_c t'_c (-log p_c) = sum_c w_c t'_c ((m - z_c) + ls),
     dl/dz_k = p_k T - w_k t'_k,  T = sum_c w_c t'_c.
   Statistics pass (a->sum_l): sum_l[c] += m t'_c (-log p_c) per class (the weights come after
   the sums). Backward pass: with w = a->sk (normalised, times focal_weight), the gradient
   m (p_k T - w_k t'_k), the loss sum m l, the unreduced terms m l * each_scale. The exponentials
   are parked in the gradient (written over each logit after its last read, so in place works). */
SEGLOSS__VINLINE void SEGLOSS__K(soft_targets_body)(const segloss__args *ap, const int grad)
{
    const segloss__args la = *ap, *a = &la;
    const SEGLOSS__F zero = SEGLOSS__SPLAT(0.0f), one = SEGLOSS__SPLAT(1.0f), scale = SEGLOSS__SPLAT(SEGLOSS__LOSS_SCALE);
    const SEGLOSS__F keep = SEGLOSS__SPLAT(1.0f - a->eps), add = SEGLOSS__SPLAT(a->eps / (float)a->c);
    const int n = a->npos, W = SEGLOSS__W, C = a->c, padded = (n + SEGLOSS__LANES - 1) & ~(SEGLOSS__LANES - 1);
    SEGLOSS__F acc[SEGLOSS__U];
    float mx[SEGLOSS__BLOCK], ls[SEGLOSS__BLOCK];
    int c, i, u;
    for (u = 0; u < SEGLOSS__U; u++) acc[u] = zero;
    for (i = 0; i < padded; i += SEGLOSS__LANES)
        for (u = 0; u < SEGLOSS__U; u++) { /* not unrolled, as in sig_body */
            const int at = i + u * W, cnt = SEGLOSS__CNT(n, at);
            const SEGLOSS__M valid = SEGLOSS__V(igt)(SEGLOSS__V(loadi)(a->y + at), SEGLOSS__V(set1i)(-1));
            const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + at, cnt) : one;
            SEGLOSS__F z0 = SEGLOSS__LD(a->z + at, cnt), s = zero, T = zero, sm = zero, l;
            for (c = 1; c < C; c++) z0 = SEGLOSS__V(max)(z0, SEGLOSS__LD(a->z + c * a->zs + at, cnt));
            for (c = 0; c < C; c++) {
                const SEGLOSS__F zc = SEGLOSS__LD(a->z + c * a->zs + at, cnt);
                const SEGLOSS__F e = SEGLOSS__K(exp)(SEGLOSS__V(sub)(zc, z0));
                s = SEGLOSS__V(add)(s, e);
                if (grad) {
                    const SEGLOSS__F tc = SEGLOSS__V(fma)(SEGLOSS__LD(a->t + c * a->ts + at, cnt), keep, add);
                    const SEGLOSS__F wt = SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->sk[c]), tc);
                    T = SEGLOSS__V(fma)(SEGLOSS__SPLAT(a->sk[c]), tc, T); /* never a product into an add */
                    sm = SEGLOSS__V(fma)(wt, SEGLOSS__V(sub)(z0, zc), sm);
                    if (a->g) SEGLOSS__ST(a->g + c * a->gs + at, e, cnt);
                }
            }
            l = SEGLOSS__K(log)(s); /* s >= 1 */
            if (!grad) {
                SEGLOSS__V(store)(mx + at, z0);
                SEGLOSS__V(store)(ls + at, SEGLOSS__V(sel)(valid, l, zero));
                continue;
            }
            l = SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(m, SEGLOSS__V(fma)(T, l, sm)), zero);
            acc[u] = SEGLOSS__V(fma)(l, scale, acc[u]);
            if (a->each) SEGLOSS__ST(a->each + at, SEGLOSS__V(mul)(l, SEGLOSS__SPLAT(a->each_scale)), cnt);
            if (a->g) {
                const SEGLOSS__F mis = SEGLOSS__V(sel)(valid, SEGLOSS__V(div)(m, s), zero), mv = SEGLOSS__V(sel)(valid, m, zero);
                for (c = 0; c < C; c++) {
                    const SEGLOSS__F wt = SEGLOSS__V(mul)(SEGLOSS__SPLAT(a->sk[c]),
                                                          SEGLOSS__V(fma)(SEGLOSS__LD(a->t + c * a->ts + at, cnt), keep, add));
                    float *g = a->g + c * a->gs + at;
                    SEGLOSS__ST(g, SEGLOSS__V(fma)(SEGLOSS__V(mul)(SEGLOSS__LD(g, cnt), mis), T, SEGLOSS__V(mul)(SEGLOSS__V(sub)(zero, wt), mv)), cnt);
                }
            }
        }
    if (grad) {
        if (a->loss) *a->loss += SEGLOSS__V(sum16)(acc) / SEGLOSS__LOSS_SCALE;
        return;
    }
    for (c = 0; c < C; c++) { /* class by class: its sum stays in registers */
        for (u = 0; u < SEGLOSS__U; u++) acc[u] = zero;
        for (i = 0; i < padded; i += SEGLOSS__LANES)
            for (u = 0; u < SEGLOSS__U; u++) { /* not unrolled: the body is long, and 16 copies of it (scalar) only cost compile time */
                const int at = i + u * W, cnt = SEGLOSS__CNT(n, at);
                const SEGLOSS__M valid = SEGLOSS__V(igt)(SEGLOSS__V(loadi)(a->y + at), SEGLOSS__V(set1i)(-1));
                const SEGLOSS__F m = a->m ? SEGLOSS__LD(a->m + at, cnt) : one;
                const SEGLOSS__F tc = SEGLOSS__V(fma)(SEGLOSS__LD(a->t + c * a->ts + at, cnt), keep, add);
                const SEGLOSS__F nl = SEGLOSS__V(add)(SEGLOSS__V(load)(ls + at),
                                                      SEGLOSS__V(sub)(SEGLOSS__V(load)(mx + at), SEGLOSS__LD(a->z + c * a->zs + at, cnt)));
                acc[u] = SEGLOSS__V(fma)(SEGLOSS__V(sel)(valid, SEGLOSS__V(mul)(SEGLOSS__V(mul)(m, tc), nl), zero), scale, acc[u]);
            }
        a->sum_l[c] += SEGLOSS__V(sum16)(acc) / SEGLOSS__LOSS_SCALE;
    }
}
SEGLOSS__PRIVATE SEGLOSS__NOINLINE void SEGLOSS__K(soft_targets)(const segloss__args *a)
{
    if (a->sum_l) SEGLOSS__K(soft_targets_body)(a, 0);
    else SEGLOSS__K(soft_targets_body)(a, 1);
}
#endif /* SEGLOSS__ISA */
