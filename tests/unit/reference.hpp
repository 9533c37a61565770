// tests/unit/reference.hpp — an independent float64 reference of every segloss loss and option,
// written from the formulas in segloss.h's section 7 (Semantics), not from the library's code,
// plus the fixtures the core tests share: random problems, a library runner and error measures.
//
// The reference is deliberately plain: double everywhere, a max-shifted softmax, explicit
// loops, the gradient from the softmax Jacobian  dL/dz_k = p_k (dL/dp_k - sum_j p_j dL/dp_j).
// Conventions (the library documents the same): a Dice/Tversky denominator of 0 gives
// D_c = 1 with zero gradient; no valid position gives loss 0, gradient 0, valid 0; a CE-family
// weight sum of 0 gives a CE term of 0.
#ifndef SEGLOSS_TESTS_REFERENCE_HPP
#define SEGLOSS_TESTS_REFERENCE_HPP

#include "../../segloss.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ref {

// ---------------------------------------------------------------------------------------------
// Layout and label access
// ---------------------------------------------------------------------------------------------

inline int64_t elem_index(segloss_layout layout, int64_t C, int64_t S, int64_t n, int64_t c, int64_t s) {
    return layout == SEGLOSS_NCHW ? (n * C + c) * S + s : (n * S + s) * C + c;
}

inline int64_t label_at(const segloss_input &in, int64_t pos) {
    switch (in.label_type) {
    case SEGLOSS_LABEL_U8: return static_cast<const uint8_t *>(in.labels)[pos];
    case SEGLOSS_LABEL_I32: return static_cast<const int32_t *>(in.labels)[pos];
    case SEGLOSS_LABEL_I64: return static_cast<const int64_t *>(in.labels)[pos];
    default: throw std::invalid_argument("reference: unknown label type");
    }
}

inline bool is_ce_family(segloss_loss_type t) {
    return t == SEGLOSS_CE || t == SEGLOSS_WEIGHTED_CE || t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE;
}
inline bool is_overlap_family(segloss_loss_type t) {
    return t == SEGLOSS_DICE || t == SEGLOSS_FOCAL_DICE || t == SEGLOSS_TVERSKY;
}
inline bool uses_gamma(segloss_loss_type t) { return t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE; }

// ---------------------------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------------------------

struct RefOut {
    double loss = 0, ce_term = 0, dice_term = 0;
    int64_t valid = 0;
    std::vector<double> grad;  // in the logits' layout; empty when not requested
    // The size of the gradient's ingredients before they cancel: max over valid positions of
    // the CE-family coefficient w[y]/sum(w) (x focal_weight) and of dice_weight * (|A| + |B|)
    // of the Dice/Tversky dL/dp. A float32 implementation cannot resolve a gradient much below
    // float epsilon times this (e.g. saturated softmax, where the true gradient is ~0).
    double grad_scale = 0;
};

// Class weights the CE-family term uses: explicit, automatic inverse frequency, or all 1.
inline std::vector<double> ref_class_weights(const segloss_config &cfg, const segloss_input &in) {
    const int64_t C = in.c, P = in.n * in.s;
    std::vector<double> w(static_cast<size_t>(C), 1.0);
    if (cfg.class_weights) {
        for (int64_t c = 0; c < C; ++c) w[c] = cfg.class_weights[c];
    } else if (cfg.use_class_weighting) {
        std::vector<double> count(static_cast<size_t>(C), 0.0);
        double valid = 0;
        for (int64_t i = 0; i < P; ++i) {
            int64_t y = label_at(in, i);
            if (y == cfg.ignore_index) continue;
            count[y] += 1;
            valid += 1;
        }
        for (int64_t c = 0; c < C; ++c) w[c] = count[c] > 0 ? valid / count[c] : 0.0;
    }
    return w;
}

// Loss (and gradient when want_grad) of cfg on `in`'s labels and shape, with the logits z given
// in double (in.logits is not read). Labels must be valid (checked: throws otherwise).
inline RefOut ref_loss_d(const segloss_config &cfg, const segloss_input &in, const std::vector<double> &z,
                         bool want_grad = true) {
    const int64_t N = in.n, C = in.c, S = in.s;
    const segloss_loss_type type = cfg.loss_type;
    RefOut out;
    if (want_grad) out.grad.assign(static_cast<size_t>(N * C * S), 0.0);

    // Softmax per position, in double, max-shifted.
    std::vector<double> p(static_cast<size_t>(N * C * S), 0.0), logp(p.size(), 0.0);
    std::vector<int64_t> y(static_cast<size_t>(N * S));
    std::vector<char> valid(static_cast<size_t>(N * S), 0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
            const int64_t pos = n * S + s;
            y[pos] = label_at(in, pos);
            if (y[pos] == cfg.ignore_index) continue;
            if (y[pos] < 0 || y[pos] >= C) throw std::invalid_argument("reference: label out of range");
            valid[pos] = 1;
            out.valid++;
            double m = -INFINITY;
            for (int64_t c = 0; c < C; ++c) m = std::max(m, z[elem_index(in.layout, C, S, n, c, s)]);
            double sum = 0;
            for (int64_t c = 0; c < C; ++c) sum += std::exp(z[elem_index(in.layout, C, S, n, c, s)] - m);
            const double lse = std::log(sum);
            for (int64_t c = 0; c < C; ++c) {
                const int64_t e = elem_index(in.layout, C, S, n, c, s);
                logp[e] = z[e] - m - lse;
                p[e] = std::exp(logp[e]);
            }
        }

    // dL/dp per element, for the overlap terms (the CE term goes straight to dL/dz).
    std::vector<double> dLdp(want_grad && is_overlap_family(type) ? p.size() : 0, 0.0);
    std::vector<double> dLdz_ce(want_grad && is_ce_family(type) ? p.size() : 0, 0.0);
    double ce_scale = 0, dice_scale = 0;

    // ---- CE / weighted CE / focal ---------------------------------------------------------
    if (is_ce_family(type)) {
        const std::vector<double> w = ref_class_weights(cfg, in);
        const double gamma = uses_gamma(type) ? cfg.focal_gamma : 0.0;
        double num = 0, den = 0;
        for (int64_t n = 0; n < N; ++n)
            for (int64_t s = 0; s < S; ++s) {
                const int64_t pos = n * S + s;
                if (!valid[pos]) continue;
                const int64_t yy = y[pos];
                const double logpy = logp[elem_index(in.layout, C, S, n, yy, s)];
                double q = 0;  // 1 - p_y without cancellation
                for (int64_t c = 0; c < C; ++c)
                    if (c != yy) q += p[elem_index(in.layout, C, S, n, c, s)];
                const double qg = std::pow(q, gamma);  // pow(0, 0) == 1
                num += w[yy] * (-qg * logpy);
                den += w[yy];
            }
        const bool mean = cfg.reduction == SEGLOSS_MEAN;
        out.ce_term = mean ? (den > 0 ? num / den : 0.0) : num;
        const double scale = mean ? (den > 0 ? 1.0 / den : 0.0) : 1.0;
        if (want_grad)
            for (int64_t n = 0; n < N; ++n)
                for (int64_t s = 0; s < S; ++s) {
                    const int64_t pos = n * S + s;
                    if (!valid[pos]) continue;
                    const int64_t yy = y[pos];
                    const double py = p[elem_index(in.layout, C, S, n, yy, s)];
                    const double logpy = logp[elem_index(in.layout, C, S, n, yy, s)];
                    double q = 0;
                    for (int64_t c = 0; c < C; ++c)
                        if (c != yy) q += p[elem_index(in.layout, C, S, n, c, s)];
                    // d/dz_k of -q^g log p_y = -q^g (1 + g p_y r) (delta_ky - p_k), r = -log(p_y)/q
                    const double r = q > 1e-12 ? -logpy / q : 1.0 + 0.5 * q;
                    const double coef = -std::pow(q, gamma) * (1.0 + gamma * py * r) * w[yy] * scale;
                    ce_scale = std::max(ce_scale, std::fabs(w[yy] * scale) * (1.0 + gamma));
                    for (int64_t k = 0; k < C; ++k) {
                        const int64_t e = elem_index(in.layout, C, S, n, k, s);
                        dLdz_ce[e] = coef * ((k == yy ? 1.0 : 0.0) - p[e]);
                    }
                }
    }

    // ---- Dice / Tversky ---------------------------------------------------------------------
    if (is_overlap_family(type)) {
        const bool tversky = type == SEGLOSS_TVERSKY;
        const double sm = cfg.dice_smooth, a = cfg.tversky_alpha, b = cfg.tversky_beta;
        const int64_t groups = cfg.per_sample ? N : 1;
        const int64_t k0 = cfg.include_background ? 0 : 1;
        const int64_t pairs = groups * std::max<int64_t>(C - k0, 0);
        std::vector<double> I(static_cast<size_t>(groups * C), 0.0), Ps(I.size(), 0.0), G(I.size(), 0.0);
        for (int64_t n = 0; n < N; ++n)
            for (int64_t s = 0; s < S; ++s) {
                if (!valid[n * S + s]) continue;
                const int64_t g = cfg.per_sample ? n : 0;
                for (int64_t c = 0; c < C; ++c) {
                    const double pc = p[elem_index(in.layout, C, S, n, c, s)];
                    Ps[g * C + c] += pc;
                    if (c == y[n * S + s]) {
                        I[g * C + c] += pc;
                        G[g * C + c] += 1;
                    }
                }
            }
        // dD/dp_c(i) = A[g,c] * onehot_c(i) + B[g,c]
        std::vector<double> A(I.size(), 0.0), B(I.size(), 0.0);
        double sum_one_minus = 0;
        for (int64_t g = 0; g < groups; ++g)
            for (int64_t c = k0; c < C; ++c) {
                const size_t j = static_cast<size_t>(g * C + c);
                double num, den, D;
                if (!tversky) {
                    num = 2 * I[j] + sm;
                    den = Ps[j] + G[j] + sm;
                } else {
                    num = I[j] + sm;
                    den = I[j] + a * (Ps[j] - I[j]) + b * (G[j] - I[j]) + sm;
                }
                if (den == 0) {
                    D = 1.0;
                } else {
                    D = num / den;
                    if (!tversky) {
                        A[j] = 2.0 / den;
                        B[j] = -num / (den * den);
                    } else {
                        A[j] = 1.0 / den - num * (1.0 - a - b) / (den * den);
                        B[j] = -num * a / (den * den);
                    }
                }
                sum_one_minus += 1.0 - D;
            }
        const bool mean = cfg.reduction == SEGLOSS_MEAN;
        out.dice_term = mean ? (pairs > 0 ? sum_one_minus / static_cast<double>(pairs) : 0.0) : sum_one_minus;
        const double factor = mean ? (pairs > 0 ? 1.0 / static_cast<double>(pairs) : 0.0) : 1.0;
        if (want_grad)
            for (int64_t n = 0; n < N; ++n)
                for (int64_t s = 0; s < S; ++s) {
                    if (!valid[n * S + s]) continue;
                    const int64_t g = cfg.per_sample ? n : 0;
                    for (int64_t c = k0; c < C; ++c) {
                        const size_t j = static_cast<size_t>(g * C + c);
                        const double dD = A[j] * (c == y[n * S + s] ? 1.0 : 0.0) + B[j];
                        dice_scale = std::max(dice_scale, factor * (std::fabs(A[j]) + std::fabs(B[j])));
                        dLdp[elem_index(in.layout, C, S, n, c, s)] = -factor * dD;
                    }
                }
    }

    // ---- combination ------------------------------------------------------------------------
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
                double dot = 0;
                if (!dLdp.empty())
                    for (int64_t c = 0; c < C; ++c) {
                        const int64_t e = elem_index(in.layout, C, S, n, c, s);
                        dot += p[e] * dLdp[e];
                    }
                for (int64_t k = 0; k < C; ++k) {
                    const int64_t e = elem_index(in.layout, C, S, n, k, s);
                    double g = 0;
                    if (!dLdz_ce.empty()) g += wce * dLdz_ce[e];
                    if (!dLdp.empty()) g += wd * p[e] * (dLdp[e] - dot);
                    out.grad[e] = g;
                }
            }
    return out;
}

inline std::vector<double> logits_as_double(const segloss_input &in) {
    const size_t total = static_cast<size_t>(in.n * in.c * in.s);
    return std::vector<double>(in.logits, in.logits + total);
}

// The reference on the input's own (float) logits.
inline RefOut ref_loss(const segloss_config &cfg, const segloss_input &in, bool want_grad = true) {
    return ref_loss_d(cfg, in, logits_as_double(in), want_grad);
}

// Central differences of the float64 reference loss with respect to every logit.
inline std::vector<double> ref_fd_grad(const segloss_config &cfg, const segloss_input &in, double rel_step = 1e-6) {
    std::vector<double> z = logits_as_double(in);
    std::vector<double> g(z.size(), 0.0);
    for (size_t j = 0; j < z.size(); ++j) {
        const double z0 = z[j];
        const double h = rel_step * std::max(1.0, std::fabs(z0));
        z[j] = z0 + h;
        const double lp = ref_loss_d(cfg, in, z, false).loss;
        z[j] = z0 - h;
        const double lm = ref_loss_d(cfg, in, z, false).loss;
        z[j] = z0;
        g[j] = (lp - lm) / (2 * h);
    }
    return g;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: random problems
// ---------------------------------------------------------------------------------------------

struct ProblemSpec {
    int64_t n = 2, c = 4, s = 37;
    segloss_layout layout = SEGLOSS_NCHW;
    segloss_label_type label_type = SEGLOSS_LABEL_I64;
    double logit_scale = 2.0;      // standard deviation of the logits
    double label_bias = 1.5;       // added to the true class's logit (predictions correlate)
    double p_ignore = 0.0;         // probability that a position carries ignore_index
    int64_t ignore_index = -100;   // use 255 with u8 labels to get ignored positions
    int64_t classes_used = -1;     // labels drawn from [0, classes_used) (-1: all C)
    bool skewed = true;            // class k drawn with probability ~ 1/(k+1)
};

struct Problem {
    ProblemSpec spec;
    std::vector<float> logits;
    std::vector<int64_t> y;        // canonical labels (ignored positions hold ignore_index)
    std::vector<uint8_t> y8;
    std::vector<int32_t> y32;
    std::vector<int64_t> y64;

    int64_t total() const { return spec.n * spec.c * spec.s; }
    const void *labels_ptr(segloss_label_type t) const {
        switch (t) {
        case SEGLOSS_LABEL_U8: return y8.data();
        case SEGLOSS_LABEL_I32: return y32.data();
        default: return y64.data();
        }
    }
    segloss_input input() const {
        segloss_input in;
        in.logits = logits.data();
        in.labels = labels_ptr(spec.label_type);
        in.label_type = spec.label_type;
        in.n = spec.n;
        in.c = spec.c;
        in.s = spec.s;
        in.layout = spec.layout;
        return in;
    }
    // Stores labels in all three types (values that do not fit a type are stored truncated;
    // only use that type when they fit).
    void set_labels(const std::vector<int64_t> &labels) {
        y = labels;
        y8.resize(y.size());
        y32.resize(y.size());
        y64 = y;
        for (size_t i = 0; i < y.size(); ++i) {
            y8[i] = static_cast<uint8_t>(y[i]);
            y32[i] = static_cast<int32_t>(y[i]);
        }
    }
    float &logit(int64_t n, int64_t c, int64_t s) {
        return logits[static_cast<size_t>(elem_index(spec.layout, spec.c, spec.s, n, c, s))];
    }
    float logit(int64_t n, int64_t c, int64_t s) const {
        return logits[static_cast<size_t>(elem_index(spec.layout, spec.c, spec.s, n, c, s))];
    }
};

inline Problem make_problem(std::mt19937 &rng, const ProblemSpec &spec) {
    Problem p;
    p.spec = spec;
    const int64_t N = spec.n, C = spec.c, S = spec.s;
    const int64_t used = spec.classes_used > 0 ? std::min(spec.classes_used, C) : C;
    std::vector<double> prob(static_cast<size_t>(used));
    for (int64_t k = 0; k < used; ++k) prob[k] = spec.skewed ? 1.0 / static_cast<double>(k + 1) : 1.0;
    std::discrete_distribution<int> pick(prob.begin(), prob.end());
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    std::normal_distribution<double> normal(0.0, spec.logit_scale);

    std::vector<int64_t> labels(static_cast<size_t>(N * S));
    for (auto &l : labels) l = u01(rng) < spec.p_ignore ? spec.ignore_index : pick(rng);
    p.set_labels(labels);
    p.logits.resize(static_cast<size_t>(N * C * S));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s)
            for (int64_t c = 0; c < C; ++c) {
                double v = normal(rng);
                if (c == labels[n * S + s]) v += spec.label_bias;
                p.logit(n, c, s) = static_cast<float>(v);
            }
    return p;
}

// The same logical problem in the other layout.
inline Problem with_layout(const Problem &src, segloss_layout layout) {
    Problem p = src;
    p.spec.layout = layout;
    for (int64_t n = 0; n < src.spec.n; ++n)
        for (int64_t c = 0; c < src.spec.c; ++c)
            for (int64_t s = 0; s < src.spec.s; ++s) p.logit(n, c, s) = src.logit(n, c, s);
    return p;
}

inline Problem with_label_type(const Problem &src, segloss_label_type t) {
    Problem p = src;
    p.spec.label_type = t;
    return p;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: running the library, measuring errors
// ---------------------------------------------------------------------------------------------

struct LibOut {
    segloss_status status = SEGLOSS_OK;
    segloss_result result{};
    std::vector<float> grad;  // empty when run without a gradient
};

inline LibOut run_lib(const segloss_config &cfg, const segloss_input &in, bool with_grad = true) {
    LibOut o;
    std::memset(&o.result, 0, sizeof o.result);
    if (with_grad) o.grad.assign(static_cast<size_t>(in.n * in.c * in.s), 12345.0f);
    o.status = segloss_compute(&cfg, &in, with_grad ? o.grad.data() : nullptr, &o.result);
    return o;
}

// |a - b| relative to |ref|, with an absolute floor of 0.1 (i.e. 1e-6 relative <=> 1e-7 absolute
// when the value is near 0).
inline double rel_err(double got, double want) {
    if (std::isnan(got) != std::isnan(want)) return INFINITY;
    return std::fabs(got - want) / std::max(std::fabs(want), 0.1);
}

inline double max_abs(const std::vector<double> &v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::fabs(x));
    return m;
}

// max_i |got_i - want_i| / max(max_i |want_i|, floor); when both are 0, max |got_i| itself.
// Pass floor = 0.1 * RefOut::grad_scale when comparing a float32 gradient with the reference:
// where the softmax saturates the true gradient is ~0 and float32 rounding of its ingredients
// (~1e-7 of grad_scale) dominates; the floor turns the 1e-5 relative bound into an absolute
// one of 1e-6 * grad_scale there.
template <class T>
inline double grad_err(const std::vector<T> &got, const std::vector<double> &want, double floor = 0.0) {
    if (got.size() != want.size()) return INFINITY;
    double m = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
        if (!(d <= m)) m = std::isnan(d) ? INFINITY : d;
    }
    const double scale = std::max(max_abs(want), floor);
    return scale > 0 ? m / scale : m;
}

template <class T>
inline bool all_finite(const std::vector<T> &v) {
    for (T x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

inline const char *layout_name(segloss_layout l) { return l == SEGLOSS_NCHW ? "NCHW" : "NHWC"; }
inline const char *label_type_name(segloss_label_type t) {
    return t == SEGLOSS_LABEL_U8 ? "u8" : t == SEGLOSS_LABEL_I32 ? "i32" : "i64";
}
inline const char *loss_type_name(segloss_loss_type t) {
    static const char *const names[] = {"ce", "weighted_ce", "focal", "dice", "focal_dice", "tversky"};
    return (int)t >= 0 && (int)t < 6 ? names[t] : "?";
}

inline std::string describe(const segloss_config &cfg) {
    std::ostringstream o;
    o << loss_type_name(cfg.loss_type) << " gamma=" << cfg.focal_gamma << " fw=" << cfg.focal_weight
      << " dw=" << cfg.dice_weight << " smooth=" << cfg.dice_smooth << " alpha=" << cfg.tversky_alpha
      << " beta=" << cfg.tversky_beta << " weights=" << (cfg.class_weights ? "explicit" : cfg.use_class_weighting ? "auto" : "none")
      << " ignore=" << cfg.ignore_index << " bg=" << cfg.include_background << " per_sample=" << cfg.per_sample
      << " reduction=" << (cfg.reduction == SEGLOSS_SUM ? "sum" : "mean");
    return o.str();
}

inline std::string describe(const Problem &p) {
    std::ostringstream o;
    o << "N=" << p.spec.n << " C=" << p.spec.c << " S=" << p.spec.s << " " << layout_name(p.spec.layout) << " "
      << label_type_name(p.spec.label_type) << " p_ignore=" << p.spec.p_ignore << " ignore_index=" << p.spec.ignore_index
      << " scale=" << p.spec.logit_scale << " classes_used=" << p.spec.classes_used;
    return o.str();
}

// Explicit class weights for C classes: distinct, positive, one of them 0 when C > 2.
inline std::vector<float> explicit_weights(int64_t C) {
    std::vector<float> w(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) w[c] = 0.25f + 0.5f * static_cast<float>((c * 7) % 5);
    if (C > 2) w[C - 1] = 0.0f;
    return w;
}

// The SIMD paths compiled in, in the order the tests walk them: scalar first, then up to the
// best (segloss_isa_name lists them best first). Some may not run on this CPU.
inline const std::vector<std::string> &all_isas() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> paths;
        for (int i = segloss_isa_count() - 1; i >= 0; --i) paths.push_back(segloss_isa_name(i));
        return paths;
    }();
    return v;
}

// Forces an ISA for the lifetime of the guard; restores automatic selection afterwards.
struct IsaGuard {
    segloss_status status;
    explicit IsaGuard(const std::string &isa) : status(segloss_set_isa(isa.c_str())) {}
    ~IsaGuard() { segloss_set_isa(nullptr); }
    IsaGuard(const IsaGuard &) = delete;
    IsaGuard &operator=(const IsaGuard &) = delete;
};

}  // namespace ref

#endif  // SEGLOSS_TESTS_REFERENCE_HPP
