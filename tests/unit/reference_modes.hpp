// tests/unit/reference_modes.hpp — an independent float64 reference of the modes of issue #17:
// the sigmoid activation (integer labels and per-channel targets), weight maps, label
// smoothing, generalized Dice and the unreduced terms, written from the formulas of segloss.h
// section 7 (SIGMOID, LABEL SMOOTHING, WEIGHT MAP, generalized_dice) and section 3
// (segloss_compute_unreduced), not from the library's code; plus the fixtures of
// tests/unit/test_modes.cpp.
//
// It covers the softmax modes too, so that with no map and no smoothing it must agree with
// reference.hpp (a test checks that), and it is as plain as that one: double everywhere, a
// max-shifted softmax, a sigmoid and softplus formed without overflow, explicit loops, and the
// gradient by the chain rule: the CE-family term straight to dL/dz, the overlap terms through
// dL/dp (softmax Jacobian, or p (1 - p) per element under the sigmoid).
// Conventions, as section 7 states them: a Dice/Tversky/generalized Dice denominator of 0
// gives a ratio of 1 with zero gradient; a CE-family denominator of 0 gives a term of 0.
#ifndef SEGLOSS_TESTS_REFERENCE_MODES_HPP
#define SEGLOSS_TESTS_REFERENCE_MODES_HPP

#include "reference.hpp"

namespace ref {

// ---------------------------------------------------------------------------------------------
// Access to the new input fields
// ---------------------------------------------------------------------------------------------

inline bool is_target_type(segloss_label_type t) { return t == SEGLOSS_TARGET_U8 || t == SEGLOSS_TARGET_F32; }
inline bool is_dice_family(segloss_loss_type t) { return is_overlap_family(t) || t == SEGLOSS_GENERALIZED_DICE; }

// Per-channel target at element index e (TARGET_U8 / TARGET_F32: the logits' index).
inline double target_at(const segloss_input &in, int64_t e) {
    if (in.label_type == SEGLOSS_TARGET_U8) return static_cast<const uint8_t *>(in.labels)[e];
    if (in.label_type == SEGLOSS_TARGET_F32) return static_cast<const float *>(in.labels)[e];
    throw std::invalid_argument("reference: not a target type");
}

// The weight map lives in the configuration, indexed as the call's labels (n*S + s).
inline double map_at(const segloss_config &cfg, int64_t pos) { return cfg.weight_map ? cfg.weight_map[pos] : 1.0; }

// softplus(x) = log(1 + e^x) and sigmoid(x), neither overflowing for any finite x.
inline double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
inline double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
    const double e = std::exp(x);
    return e / (1.0 + e);
}

// The number of floats segloss_compute_unreduced writes (section 3): the CE family one per
// position (softmax) or element (sigmoid); Dice/Tversky one per (group, class in K);
// generalized Dice one per group; focal_dice none (it has no unreduced form).
inline int64_t ref_unreduced_len(const segloss_config &cfg, const segloss_input &in) {
    const int64_t groups = cfg.per_sample ? in.n : 1;
    const int64_t K = in.c - (cfg.include_background ? 0 : 1);
    switch (cfg.loss_type) {
    case SEGLOSS_CE:
    case SEGLOSS_WEIGHTED_CE:
    case SEGLOSS_FOCAL: return cfg.activation == SEGLOSS_SIGMOID ? in.n * in.c * in.s : in.n * in.s;
    case SEGLOSS_DICE:
    case SEGLOSS_TVERSKY: return groups * K;
    case SEGLOSS_GENERALIZED_DICE: return groups;
    default: return 0;
    }
}

// ---------------------------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------------------------

struct ModeOut {
    double loss = 0, ce_term = 0, dice_term = 0;
    int64_t valid = 0;         // positions that take part (every position with targets)
    std::vector<double> grad;  // in the logits' layout; empty when not requested
    std::vector<double> terms; // the unreduced terms (ref_unreduced_len of them)
    double grad_scale = 0;     // as RefOut::grad_scale: the size of the ingredients of an entry
};

// Softmax class weights of the CE-family term: explicit, automatic (sum_V m / G_c with
// G_c = sum_V m g_c, 0 where G_c = 0), or all 1. `valid`, `m` are per position, `t` the targets
// per element (one-hot of the labels, or the probability targets), `at(pos, c)` their index.
template <class At>
inline std::vector<double> modes_class_weights(const segloss_config &cfg, int64_t C, const std::vector<char> &valid,
                                               const std::vector<double> &t, const std::vector<double> &m, At at) {
    std::vector<double> w(static_cast<size_t>(C), 1.0);
    if (cfg.class_weights) {
        for (int64_t c = 0; c < C; ++c) w[c] = cfg.class_weights[c];
    } else if (cfg.use_class_weighting && cfg.activation == SEGLOSS_SOFTMAX) {
        std::vector<double> count(static_cast<size_t>(C), 0.0);
        double total = 0;
        for (size_t i = 0; i < valid.size(); ++i)
            if (valid[i]) {
                for (int64_t c = 0; c < C; ++c) count[c] += m[i] * t[at(static_cast<int64_t>(i), c)];
                total += m[i];
            }
        for (int64_t c = 0; c < C; ++c) w[c] = count[c] > 0 ? total / count[c] : 0.0;
    }
    return w;
}

// Loss, unreduced terms and (when want_grad) gradient of cfg (and its map) on `in`'s labels and shape,
// with the logits z given in double (in.logits is not read). Throws on a label the section
// does not allow (the library reports those as errors).
inline ModeOut ref_modes_d(const segloss_config &cfg, const segloss_input &in, const std::vector<double> &z,
                           bool want_grad = true) {
    const int64_t N = in.n, C = in.c, S = in.s, P = N * S, E = N * C * S;
    const segloss_loss_type type = cfg.loss_type;
    const bool sig = cfg.activation == SEGLOSS_SIGMOID;
    const bool targets = is_target_type(in.label_type);
    const bool mean = cfg.reduction == SEGLOSS_MEAN;
    if (!sig && C < 2) throw std::invalid_argument("reference: softmax needs C >= 2");
    if (!sig && targets && type != SEGLOSS_CE && type != SEGLOSS_WEIGHTED_CE)
        throw std::invalid_argument("reference: softmax probability targets are for ce and weighted_ce");
    auto at = [&](int64_t n, int64_t c, int64_t s) { return elem_index(in.layout, C, S, n, c, s); };

    ModeOut out;
    if (want_grad) out.grad.assign(static_cast<size_t>(E), 0.0);

    // Positions: valid, label, map weight. Elements: target t, p, 1 - p (sigmoid), log p (softmax).
    std::vector<char> valid(static_cast<size_t>(P), 0);
    std::vector<int64_t> y(static_cast<size_t>(P), -1);
    std::vector<double> m(static_cast<size_t>(P), 0.0);
    std::vector<double> t(static_cast<size_t>(E), 0.0), p(t.size(), 0.0), q(t.size(), 0.0), logp(t.size(), 0.0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
            const int64_t pos = n * S + s;
            m[pos] = map_at(cfg, pos);
            if (!targets) {
                const int64_t label = label_at(in, pos);
                if (label == cfg.ignore_index) continue;
                const int64_t top = sig && C == 1 ? 2 : C;  // C = 1: the label is the target, 0 or 1
                if (label < 0 || label >= top) throw std::invalid_argument("reference: label out of range");
                y[pos] = label;
            }
            valid[pos] = 1;
            out.valid++;
            for (int64_t c = 0; c < C; ++c) {
                const int64_t e = at(n, c, s);
                if (targets) t[e] = target_at(in, e);
                else if (sig && C == 1) t[e] = static_cast<double>(y[pos]);
                else t[e] = y[pos] == c ? 1.0 : 0.0;
            }
            if (sig) {
                for (int64_t c = 0; c < C; ++c) {
                    const int64_t e = at(n, c, s);
                    p[e] = sigmoid(z[e]);
                    q[e] = sigmoid(-z[e]);
                }
            } else {
                // log p_c = z_c - z_r - log1p(sum_{c != r} e^{z_c - z_r}), r the largest logit:
                // log1p keeps -log p_r accurate when the softmax is confident.
                int64_t r = 0;
                for (int64_t c = 1; c < C; ++c)
                    if (z[at(n, c, s)] > z[at(n, r, s)]) r = c;
                const double zr = z[at(n, r, s)];
                double rest = 0;
                for (int64_t c = 0; c < C; ++c)
                    if (c != r) rest += std::exp(z[at(n, c, s)] - zr);
                const double lse = std::log1p(rest);
                for (int64_t c = 0; c < C; ++c) {
                    const int64_t e = at(n, c, s);
                    logp[e] = z[e] - zr - lse;
                    p[e] = std::exp(logp[e]);
                }
                for (int64_t c = 0; c < C; ++c) {  // 1 - p_c as the sum of the others
                    double o = 0;
                    for (int64_t k = 0; k < C; ++k)
                        if (k != c) o += p[at(n, k, s)];
                    q[at(n, c, s)] = o;
                }
            }
        }

    std::vector<double> dLdz_ce(want_grad && is_ce_family(type) ? t.size() : 0, 0.0);
    std::vector<double> dLdp(want_grad && is_dice_family(type) ? t.size() : 0, 0.0);
    double ce_scale = 0, dice_scale = 0;
    const bool unreduced = type != SEGLOSS_FOCAL_DICE;
    if (unreduced) out.terms.assign(static_cast<size_t>(ref_unreduced_len(cfg, in)), 0.0);

    // ---- CE / weighted CE / focal -------------------------------------------------------------
    if (is_ce_family(type)) {
        const double gamma = uses_gamma(type) ? cfg.focal_gamma : 0.0;
        const std::vector<double> w = modes_class_weights(cfg, C, valid, t, m, [&](int64_t pos, int64_t c) {
            return at(pos / S, c, pos % S);
        });
        double num = 0, den = 0;
        // Every element's (softmax: position's) term, m and weights included, and its
        // derivatives d term / dz_k, gathered first; the reduction scales them afterwards.
        std::vector<double> term_pos(static_cast<size_t>(sig ? E : P), 0.0);
        std::vector<double> dterm(want_grad ? static_cast<size_t>(E) : 0, 0.0);
        if (!sig && targets) {
            // Probability targets: l = sum_c w_c t'_c (-log p_c), t' = (1 - eps) t + eps / C, the
            // mean over positions weighted by m alone (F.cross_entropy with a float target);
            // d l / dz_k = p_k sum_c w_c t'_c - w_k t'_k.
            const double eps = cfg.label_smoothing;
            for (int64_t n = 0; n < N; ++n)
                for (int64_t s = 0; s < S; ++s) {
                    const int64_t pos = n * S + s;
                    double term = 0, wt = 0, wmax = 0;
                    for (int64_t c = 0; c < C; ++c) {
                        const int64_t e = at(n, c, s);
                        const double tc = (1 - eps) * t[e] + eps / static_cast<double>(C);
                        if (w[c] * tc != 0) term += w[c] * tc * -logp[e];
                        wt += w[c] * tc;
                        wmax = std::max(wmax, std::fabs(w[c] * tc));
                    }
                    term_pos[pos] = m[pos] * term;
                    num += m[pos] * term;
                    den += m[pos];
                    if (want_grad) {
                        for (int64_t k = 0; k < C; ++k) {
                            const int64_t e = at(n, k, s);
                            const double tk = (1 - eps) * t[e] + eps / static_cast<double>(C);
                            dterm[e] = m[pos] * (p[e] * wt - w[k] * tk);
                        }
                        ce_scale = std::max(ce_scale, m[pos] * (std::fabs(wt) + wmax));
                    }
                }
        } else if (!sig) {
            const double eps = cfg.label_smoothing;
            double W = 0;
            for (double wc : w) W += wc;
            for (int64_t n = 0; n < N; ++n)
                for (int64_t s = 0; s < S; ++s) {
                    const int64_t pos = n * S + s;
                    if (!valid[pos]) continue;
                    const int64_t yy = y[pos];
                    const int64_t ey = at(n, yy, s);
                    const double qy = q[ey], nll = -logp[ey];
                    const double qg = std::pow(qy, gamma);  // pow(0, 0) == 1
                    double smooth = 0;                      // sum_c w_c (-log p_c)
                    if (eps != 0)
                        for (int64_t c = 0; c < C; ++c)
                            if (w[c] != 0) smooth += w[c] * -logp[at(n, c, s)];
                    const double term = (1 - eps) * w[yy] * qg * nll + eps / static_cast<double>(C) * smooth;
                    term_pos[pos] = m[pos] * term;
                    num += m[pos] * term;
                    den += m[pos] * w[yy];
                    if (want_grad) {
                        // d(-q^g log p_y)/dz_k = -q^g (1 + g p_y r) ([k = y] - p_k), r = -log(p_y) / q
                        // (q = 0 only where p_y = 1 in double: the limit r = 1);
                        // d(-log p_c)/dz_k = p_k - [k = c].
                        const double r = qy > 0 ? nll / qy : 1.0;
                        const double cf = -qg * (1 + gamma * p[ey] * r) * w[yy];
                        for (int64_t k = 0; k < C; ++k) {
                            const int64_t e = at(n, k, s);
                            const double focal_part = cf * ((k == yy ? 1.0 : 0.0) - p[e]);
                            const double smooth_part = W * p[e] - w[k];
                            dterm[e] = m[pos] * ((1 - eps) * focal_part + eps / static_cast<double>(C) * smooth_part);
                        }
                        ce_scale = std::max(ce_scale, m[pos] * ((1 - eps) * w[yy] * (1 + gamma) + eps * W / C));
                    }
                }
        } else {
            // pos_weight: given, else automatic where use_class_weighting is set, else 1; the
            // focal terms take none. Automatic follows use_class_weighting, not the loss type:
            // as under the softmax, ce and weighted_ce are one formula that differ only in that
            // flag's default (section 7, LOSSES), and class weights stay as given (NULL = 1).
            std::vector<double> pw(static_cast<size_t>(C), 1.0);
            const bool bce = type == SEGLOSS_CE || type == SEGLOSS_WEIGHTED_CE;
            if (bce && cfg.pos_weight) {
                for (int64_t c = 0; c < C; ++c) pw[c] = cfg.pos_weight[c];
            } else if (bce && cfg.use_class_weighting) {
                for (int64_t c = 0; c < C; ++c) {
                    double neg = 0, posw = 0;
                    for (int64_t n = 0; n < N; ++n)
                        for (int64_t s = 0; s < S; ++s) {
                            const int64_t pos = n * S + s;
                            if (!valid[pos]) continue;
                            const double tt = t[at(n, c, s)];
                            neg += m[pos] * (1 - tt);
                            posw += m[pos] * tt;
                        }
                    pw[c] = posw > 0 ? neg / posw : 1.0;
                }
            }
            const bool focal = uses_gamma(type);
            const double alpha = cfg.focal_alpha;
            for (int64_t n = 0; n < N; ++n)
                for (int64_t s = 0; s < S; ++s) {
                    const int64_t pos = n * S + s;
                    if (!valid[pos]) continue;
                    den += static_cast<double>(C) * m[pos];
                    for (int64_t c = 0; c < C; ++c) {
                        const int64_t e = at(n, c, s);
                        const double tt = t[e], pp = p[e], qq = q[e];
                        double l, dl;  // the element's loss and its derivative in z
                        if (!focal) {
                            // pw t softplus(-z) + (1 - t) softplus(z); d/dz = -pw t (1-p) + (1-t) p
                            l = pw[c] * tt * softplus(-z[e]) + (1 - tt) * softplus(z[e]);
                            dl = -pw[c] * tt * qq + (1 - tt) * pp;
                        } else {
                            // a_t u^g B, B = BCE(z, t), u = t (1 - p) + (1 - t) p:
                            // d/dz = a_t (g u^(g-1) u' B + u^g (p - t)), u' = (1 - 2t) p (1 - p)
                            const double at_ = alpha < 0 ? 1.0 : alpha * tt + (1 - alpha) * (1 - tt);
                            const double B = tt * softplus(-z[e]) + (1 - tt) * softplus(z[e]);
                            const double u = tt * qq + (1 - tt) * pp;
                            const double ug = std::pow(u, gamma);
                            const double du = (1 - 2 * tt) * pp * qq;
                            const double dB = -tt * qq + (1 - tt) * pp;
                            l = at_ * ug * B;
                            dl = at_ * ((gamma != 0 ? gamma * std::pow(u, gamma - 1) * du * B : 0.0) + ug * dB);
                        }
                        term_pos[e] = w[c] * m[pos] * l;
                        num += w[c] * m[pos] * l;
                        if (want_grad) {
                            dterm[e] = w[c] * m[pos] * dl;
                            ce_scale = std::max(ce_scale, std::fabs(w[c]) * m[pos] * (1 + pw[c]) * (1 + gamma));
                        }
                    }
                }
        }
        out.ce_term = mean ? (den > 0 ? num / den : 0.0) : num;
        const double scale = mean ? (den > 0 ? 1.0 / den : 0.0) : 1.0;
        ce_scale *= scale;
        if (unreduced) out.terms = term_pos;
        if (want_grad)
            for (size_t e = 0; e < dterm.size(); ++e) dLdz_ce[e] = scale * dterm[e];
    }

    // ---- Dice / Tversky / generalized Dice ------------------------------------------------------
    if (is_dice_family(type)) {
        const bool tversky = type == SEGLOSS_TVERSKY, gd = type == SEGLOSS_GENERALIZED_DICE;
        const double sm = cfg.dice_smooth, a = cfg.tversky_alpha, b = cfg.tversky_beta;
        const int64_t groups = cfg.per_sample ? N : 1;
        const int64_t k0 = cfg.include_background ? 0 : 1;
        const int64_t K = C - k0;
        std::vector<double> I(static_cast<size_t>(groups * C), 0.0), Ps(I.size(), 0.0), G(I.size(), 0.0);
        for (int64_t n = 0; n < N; ++n)
            for (int64_t s = 0; s < S; ++s) {
                const int64_t pos = n * S + s;
                if (!valid[pos]) continue;
                const int64_t g = cfg.per_sample ? n : 0;
                for (int64_t c = 0; c < C; ++c) {
                    const int64_t e = at(n, c, s);
                    I[g * C + c] += m[pos] * p[e] * t[e];
                    Ps[g * C + c] += m[pos] * p[e];
                    G[g * C + c] += m[pos] * t[e];
                }
            }
        // dL/dp_c(i) (before the reduction's factor) = -m_i (A[g,c] t_ic + B[g,c])
        std::vector<double> A(I.size(), 0.0), B(I.size(), 0.0);
        double total = 0;  // sum of the unreduced terms
        for (int64_t g = 0; g < groups; ++g) {
            if (gd) {
                // v_c = 1 / G_c^2; classes absent from the group take the largest finite v
                // of the group (0 if none), as MONAI replaces its infinite weights.
                std::vector<double> v(static_cast<size_t>(C), 0.0);
                double vmax = 0;
                for (int64_t c = k0; c < C; ++c) {
                    const double Gc = G[g * C + c];
                    if (Gc > 0) {
                        v[c] = 1.0 / (Gc * Gc);
                        if (std::isfinite(v[c])) vmax = std::max(vmax, v[c]);
                    }
                }
                for (int64_t c = k0; c < C; ++c)
                    if (!(G[g * C + c] > 0) || !std::isfinite(v[c])) v[c] = vmax;
                double num = sm, den = sm;
                for (int64_t c = k0; c < C; ++c) {
                    num += 2 * v[c] * I[g * C + c];
                    den += v[c] * (Ps[g * C + c] + G[g * C + c]);
                }
                double D = 1.0;
                if (den != 0) {
                    D = num / den;
                    for (int64_t c = k0; c < C; ++c) {
                        A[g * C + c] = 2 * v[c] / den;
                        B[g * C + c] = -num * v[c] / (den * den);
                    }
                }
                out.terms[static_cast<size_t>(g)] = 1.0 - D;
                total += 1.0 - D;
                continue;
            }
            for (int64_t c = k0; c < C; ++c) {
                const size_t j = static_cast<size_t>(g * C + c);
                double num, den, D = 1.0;
                if (!tversky) {
                    num = 2 * I[j] + sm;
                    den = Ps[j] + G[j] + sm;
                } else {
                    num = I[j] + sm;
                    den = I[j] + a * (Ps[j] - I[j]) + b * (G[j] - I[j]) + sm;
                }
                if (den != 0) {
                    D = num / den;
                    if (!tversky) {
                        A[j] = 2.0 / den;
                        B[j] = -num / (den * den);
                    } else {  // den = (1 - a - b) I + a P + b G + s
                        A[j] = 1.0 / den - num * (1.0 - a - b) / (den * den);
                        B[j] = -num * a / (den * den);
                    }
                }
                if (unreduced) out.terms[static_cast<size_t>(g * K + (c - k0))] = 1.0 - D;
                total += 1.0 - D;
            }
        }
        const double count = static_cast<double>(gd ? groups : groups * K);
        out.dice_term = mean ? (count > 0 ? total / count : 0.0) : total;
        const double factor = mean ? (count > 0 ? 1.0 / count : 0.0) : 1.0;
        if (want_grad)
            for (int64_t n = 0; n < N; ++n)
                for (int64_t s = 0; s < S; ++s) {
                    const int64_t pos = n * S + s;
                    if (!valid[pos]) continue;
                    const int64_t g = cfg.per_sample ? n : 0;
                    for (int64_t c = k0; c < C; ++c) {
                        const size_t j = static_cast<size_t>(g * C + c);
                        const int64_t e = at(n, c, s);
                        dLdp[e] = -factor * m[pos] * (A[j] * t[e] + B[j]);
                        dice_scale = std::max(dice_scale, factor * m[pos] * (std::fabs(A[j]) + std::fabs(B[j])));
                    }
                }
    }

    // ---- combination and the chain rule through the activation ---------------------------------
    double wce = 1, wd = 1;
    if (type == SEGLOSS_FOCAL_DICE) {
        wce = cfg.focal_weight;
        wd = cfg.dice_weight;
        out.loss = wce * out.ce_term + wd * out.dice_term;
    } else {
        out.loss = is_ce_family(type) ? out.ce_term : out.dice_term;
    }
    out.grad_scale = std::max(std::fabs(wce) * ce_scale, std::fabs(wd) * dice_scale);
    if (want_grad)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t s = 0; s < S; ++s) {
                if (!valid[n * S + s]) continue;
                double dot = 0;  // softmax: sum_j p_j dL/dp_j
                if (!dLdp.empty() && !sig)
                    for (int64_t c = 0; c < C; ++c) dot += p[at(n, c, s)] * dLdp[at(n, c, s)];
                for (int64_t k = 0; k < C; ++k) {
                    const int64_t e = at(n, k, s);
                    double g = 0;
                    if (!dLdz_ce.empty()) g += wce * dLdz_ce[e];
                    if (!dLdp.empty()) g += wd * (sig ? dLdp[e] * p[e] * q[e] : p[e] * (dLdp[e] - dot));
                    out.grad[e] = g;
                }
            }
    return out;
}

inline ModeOut ref_modes(const segloss_config &cfg, const segloss_input &in, bool want_grad = true) {
    return ref_modes_d(cfg, in, logits_as_double(in), want_grad);
}

// Central differences of the float64 reference loss with respect to every logit. The step is a
// power of two times max(1, |z|): truncation error ~h^2 |L'''| ~ 1e-10, rounding ~1e-16 |L| / h
// ~ 1e-11 |L|, both far below the tolerance of the comparison; the divisor is the difference
// of the two perturbed logits as stored.
inline std::vector<double> ref_modes_fd_grad(const segloss_config &cfg, const segloss_input &in,
                                             double rel_step = 1.0 / 131072) {
    std::vector<double> z = logits_as_double(in);
    std::vector<double> g(z.size(), 0.0);
    for (size_t j = 0; j < z.size(); ++j) {
        const double z0 = z[j];
        const double h = rel_step * std::max(1.0, std::fabs(z0));
        const double zp = z0 + h, zm = z0 - h;
        z[j] = zp;
        const double lp = ref_modes_d(cfg, in, z, false).loss;
        z[j] = zm;
        const double lm = ref_modes_d(cfg, in, z, false).loss;
        z[j] = z0;
        g[j] = (lp - lm) / (zp - zm);
    }
    return g;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: random problems with the new inputs
// ---------------------------------------------------------------------------------------------

enum class MapKind { none, random, ones, zero_sample };

struct ModeSpec {
    int64_t n = 2, c = 3, s = 5;
    segloss_layout layout = SEGLOSS_NCHW;
    segloss_label_type label_type = SEGLOSS_LABEL_I64;  // or TARGET_U8 / TARGET_F32 (sigmoid)
    segloss_activation activation = SEGLOSS_SOFTMAX;
    double logit_scale = 2.0;     // standard deviation of the logits
    double label_bias = 1.5;      // pushes the logits towards the targets
    double p_ignore = 0.0;        // probability of ignore_index at a position (integer labels)
    int64_t ignore_index = -100;
    MapKind map = MapKind::none;  // random: uniform in [0, 3) with 20% zeros; zero_sample: the
                                  // random map with sample 0 all zeros
};

struct ModeProblem {
    ModeSpec spec;
    std::vector<float> logits;
    std::vector<int64_t> y;       // integer labels (ignored positions hold ignore_index)
    std::vector<uint8_t> y8;
    std::vector<int32_t> y32;
    std::vector<int64_t> y64;
    std::vector<uint8_t> t8;      // per-element targets, at the logits' index
    std::vector<float> tf;
    std::vector<float> map;       // empty: no weight map

    int64_t total() const { return spec.n * spec.c * spec.s; }
    const void *labels_ptr() const {
        switch (spec.label_type) {
        case SEGLOSS_LABEL_U8: return y8.data();
        case SEGLOSS_LABEL_I32: return y32.data();
        case SEGLOSS_LABEL_I64: return y64.data();
        case SEGLOSS_TARGET_U8: return t8.data();
        default: return tf.data();
        }
    }
    segloss_input input() const {
        segloss_input in;
        std::memset(&in, 0, sizeof in);
        in.logits = logits.data();
        in.labels = labels_ptr();
        in.label_type = spec.label_type;
        in.n = spec.n;
        in.c = spec.c;
        in.s = spec.s;
        in.layout = spec.layout;
        return in;
    }
    // cfg with this problem's weight map (NULL when it has none).
    segloss_config with_map(segloss_config cfg) const {
        cfg.weight_map = map.empty() ? nullptr : map.data();
        return cfg;
    }
    void set_labels(const std::vector<int64_t> &labels) {
        y = labels;
        y64 = labels;
        y8.assign(y.size(), 0);
        y32.assign(y.size(), 0);
        for (size_t i = 0; i < y.size(); ++i) {
            y8[i] = static_cast<uint8_t>(y[i]);
            y32[i] = static_cast<int32_t>(y[i]);
        }
    }
    // The problem with its integer labels as per-channel targets (one-vs-rest; C = 1: the
    // label), for a problem without ignored positions.
    ModeProblem as_targets(segloss_label_type t) const {
        ModeProblem o = *this;
        o.spec.label_type = t;
        o.t8.assign(static_cast<size_t>(total()), 0);
        o.tf.assign(o.t8.size(), 0.0f);
        for (int64_t n = 0; n < spec.n; ++n)
            for (int64_t s = 0; s < spec.s; ++s)
                for (int64_t c = 0; c < spec.c; ++c) {
                    const int64_t label = y[n * spec.s + s];
                    const bool on = spec.c == 1 ? label == 1 : label == c;
                    const size_t e = static_cast<size_t>(elem_index(spec.layout, spec.c, spec.s, n, c, s));
                    o.t8[e] = on ? 1 : 0;
                    o.tf[e] = on ? 1.0f : 0.0f;
                }
        return o;
    }
};

inline ModeProblem make_mode_problem(std::mt19937 &rng, const ModeSpec &spec) {
    ModeProblem p;
    p.spec = spec;
    const int64_t N = spec.n, C = spec.c, S = spec.s;
    const bool targets = is_target_type(spec.label_type);
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    std::normal_distribution<double> normal(0.0, spec.logit_scale);
    // Labels: class k with probability ~ 1/(k+1) (C = 1 under the sigmoid: 0 or 1).
    const int64_t classes = C == 1 ? 2 : C;
    std::vector<double> prob(static_cast<size_t>(classes));
    for (int64_t k = 0; k < classes; ++k) prob[k] = 1.0 / static_cast<double>(k + 1);
    std::discrete_distribution<int> pick(prob.begin(), prob.end());
    std::vector<int64_t> labels(static_cast<size_t>(N * S));
    for (auto &l : labels) l = !targets && u01(rng) < spec.p_ignore ? spec.ignore_index : pick(rng);
    p.set_labels(labels);
    // Targets: masks with channel-dependent density; soft targets uniform, 10% exact 0 and 1 each.
    p.t8.assign(static_cast<size_t>(N * C * S), 0);
    p.tf.assign(p.t8.size(), 0.0f);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t s = 0; s < S; ++s) {
                const size_t e = static_cast<size_t>(elem_index(spec.layout, C, S, n, c, s));
                p.t8[e] = u01(rng) < 0.6 / static_cast<double>(c + 1) ? 1 : 0;
                const double r = u01(rng);
                p.tf[e] = r < 0.1 ? 0.0f : r < 0.2 ? 1.0f : static_cast<float>(u01(rng));
            }
    p.logits.resize(static_cast<size_t>(N * C * S));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s)
            for (int64_t c = 0; c < C; ++c) {
                const int64_t e = elem_index(spec.layout, C, S, n, c, s);
                const int64_t label = labels[n * S + s];
                double target;  // in [0, 1]: where the logit leans
                if (spec.label_type == SEGLOSS_TARGET_U8) target = p.t8[e];
                else if (spec.label_type == SEGLOSS_TARGET_F32) target = p.tf[e];
                else target = (C == 1 ? label == 1 : label == c) ? 1.0 : 0.0;
                double v = normal(rng);
                if (spec.activation == SEGLOSS_SIGMOID) v += spec.label_bias * (2 * target - 1);
                else v += spec.label_bias * target;
                p.logits[static_cast<size_t>(e)] = static_cast<float>(v);
            }
    if (spec.map != MapKind::none) {
        p.map.assign(static_cast<size_t>(N * S), 1.0f);
        if (spec.map != MapKind::ones)
            for (auto &w : p.map) w = u01(rng) < 0.2 ? 0.0f : static_cast<float>(3 * u01(rng));
        if (spec.map == MapKind::zero_sample)
            for (int64_t s = 0; s < S; ++s) p.map[static_cast<size_t>(s)] = 0.0f;
    }
    return p;
}

inline const char *label_kind_name(segloss_label_type t) {
    switch (t) {
    case SEGLOSS_LABEL_U8: return "u8";
    case SEGLOSS_LABEL_I32: return "i32";
    case SEGLOSS_LABEL_I64: return "i64";
    case SEGLOSS_TARGET_U8: return "target_u8";
    case SEGLOSS_TARGET_F32: return "target_f32";
    default: return "?";
    }
}
inline const char *map_kind_name(MapKind k) {
    return k == MapKind::none ? "none" : k == MapKind::random ? "random" : k == MapKind::ones ? "ones" : "zero_sample";
}
inline const char *mode_loss_name(segloss_loss_type t) {
    return t == SEGLOSS_GENERALIZED_DICE ? "generalized_dice" : loss_type_name(t);
}

inline std::string describe_modes(const segloss_config &cfg) {
    std::ostringstream o;
    o << (cfg.activation == SEGLOSS_SIGMOID ? "sigmoid " : "softmax ") << mode_loss_name(cfg.loss_type)
      << " gamma=" << cfg.focal_gamma << " alpha_f=" << cfg.focal_alpha << " eps=" << cfg.label_smoothing
      << " fw=" << cfg.focal_weight << " dw=" << cfg.dice_weight << " smooth=" << cfg.dice_smooth
      << " tv=" << cfg.tversky_alpha << "/" << cfg.tversky_beta
      << " weights=" << (cfg.class_weights ? "explicit" : cfg.use_class_weighting ? "auto" : "none")
      << " pos_weight=" << (cfg.pos_weight ? "explicit" : "null") << " ignore=" << cfg.ignore_index
      << " bg=" << cfg.include_background << " per_sample=" << cfg.per_sample
      << " reduction=" << (cfg.reduction == SEGLOSS_SUM ? "sum" : "mean");
    return o.str();
}

inline std::string describe_modes(const ModeProblem &p) {
    std::ostringstream o;
    o << "N=" << p.spec.n << " C=" << p.spec.c << " S=" << p.spec.s << " " << layout_name(p.spec.layout) << " "
      << label_kind_name(p.spec.label_type) << " p_ignore=" << p.spec.p_ignore
      << " ignore_index=" << p.spec.ignore_index << " map=" << map_kind_name(p.spec.map);
    return o.str();
}

}  // namespace ref

#endif  // SEGLOSS_TESTS_REFERENCE_MODES_HPP
