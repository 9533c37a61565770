// tests/unit/test_confident.cpp — exact gradients on confident pixels (issue #15, item 6).
//
// Where the softmax is confident, p_r >= 1 - 1e-6 for its largest class r, every gradient entry
// keeps its relative accuracy: the CE family's label entry is -f (1 - p_y) (f = w_y ff / sum w)
// with 1 - p_y the sum of the others, not f (p_y - 1) with p_y rounded near 1; the Dice
// family's p_k (d_k - sum_j p_j d_j) at the confident class is O(1 - p_r), not the rounded
// difference of two O(1) numbers. The other tests compare a gradient with its largest entry, which hides such entries;
// here EACH entry is checked against float64 with a bound of its own:
//
//     |g_k - ref_k| <= 1e-5 |ref_k| + 32 u sigma_k,     u = 2^-24 (float32 unit roundoff)
//     sigma_k = |f| |p_k - [k = y]| + min(p_k, 1 - p_k) M,   M = 2 max_c |a_c| + |b_y|
//
// with dL/dp_c = a_c + b_c [y = c] the Dice/Tversky derivative (times dice_weight, 0 without
// one) and f the CE-family coefficient (times focal_weight). sigma_k is the size of what entry
// k is made of: f (p_k - [k = y]) exactly, and p_k (d_k - sum_j p_j d_j) =
// p_k sum_{j != k} p_j (d_k - d_j), whose sum is at most (1 - p_k) M and whose prefactor is at
// most p_k. The kernels (kernels/loss_kernels.h, grad_body) form the label's entry as
// -f q + p_y ((A_y - A_r) + q B_y - D') and the others as p_k ((A_k - A_r) + f - D' - p_y B_y),
// with r the class of the largest logit, q = sum_{c != y} p_c and D' = sum_j p_j (A_j - A_r):
// sums of ingredients each no larger than sigma_k, each formed with a few roundings, the
// sums over classes with C - 1. So the error is a relative one (exp, sum, division: well
// inside 1e-5) where the ingredients do not cancel, and at most about (2 C + 10) u sigma_k
// where they do, plus what the float32 Dice coefficients carry (A_k - A_r of two nearly
// equal float32 numbers); 32 u covers C <= 21 here, and the measured worst is 4 u sigma_k.
// The form f (p_y - 1) is off by up to u f there, 10^5 to 10^6 times this bound. The logits are multiples of 2^-12 below 2^5, so z_c - max is exact in
// float32 and the kernels' own roundings are what is measured.
//
// Positions: 60 % confident and right (the label leads every other logit by 14 to 20 more than
// log(C - 1), so p_y >= 1 - 1e-6), 20 % confident and wrong (another class leads the same way),
// 15 % ordinary, 5 % ignored; every loss, C = 2, 3, 4, 5 (the kernels' unrolled counts and one
// more) and 21 (exponentials parked in the gradient buffer), both layouts, one block and
// several, on every path this CPU runs. The last test case prints the worst relative errors.
#include "catch2/catch.hpp"
#include "../../segloss.h"
#include "reference.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

const double kRel = 1e-5;                    // the relative part of the bound
const double kUlps = 32.0;                   // the absolute part, in units of u sigma_k
const double kU = 1.0 / 16777216.0;          // 2^-24

enum Kind { RIGHT, WRONG, ORDINARY, IGNORED };

// The largest relative errors |g - ref| / |ref| seen, per path and loss: the label entry and
// the other entries of confident-right positions, every entry of confident-wrong ones; and
// the largest error as a fraction of the bound.
struct Worst {
    double label = 0, other = 0, wrong = 0, bound = 0;
    long entries = 0;
};
std::map<std::string, std::map<std::string, Worst>> &worst_table() {
    static std::map<std::string, std::map<std::string, Worst>> t;
    return t;
}

struct ConfProblem {
    int64_t n, c, s;
    segloss_layout layout;
    std::vector<float> z;
    std::vector<int64_t> y;
    std::vector<int> kind;  // per position
    int64_t at(int64_t n_, int64_t c_, int64_t s_) const { return ref::elem_index(layout, c, s, n_, c_, s_); }
    segloss_input input() const {
        segloss_input in;
        in.logits = z.data();
        in.labels = y.data();
        in.label_type = SEGLOSS_LABEL_I64;
        in.n = n;
        in.c = c;
        in.s = s;
        in.layout = layout;
        return in;
    }
};

// Logits are multiples of 2^-12 in (-32, 32), so that z_c - max is exact in float32 and the
// kernels' own roundings are what is measured.
float grid(double v) { return static_cast<float>(std::ldexp(std::nearbyint(std::ldexp(v, 12)), -12)); }

ConfProblem make_confident(std::mt19937 &rng, int64_t N, int64_t C, int64_t S, segloss_layout layout) {
    ConfProblem p;
    p.n = N;
    p.c = C;
    p.s = S;
    p.layout = layout;
    p.z.assign(static_cast<size_t>(N * C * S), 0.0f);
    p.y.assign(static_cast<size_t>(N * S), 0);
    p.kind.assign(static_cast<size_t>(N * S), ORDINARY);
    std::uniform_real_distribution<double> u01(0.0, 1.0), base(-4.0, 4.0), gap(14.0, 20.0);
    std::normal_distribution<double> normal(0.0, 2.0);
    std::uniform_int_distribution<int64_t> cls(0, C - 1);
    const double lead = C > 2 ? std::log(static_cast<double>(C - 1)) : 0.0;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
            const size_t pos = static_cast<size_t>(n * S + s);
            const double r = u01(rng);
            const Kind k = C == 1 ? ORDINARY : r < 0.60 ? RIGHT : r < 0.80 ? WRONG : r < 0.95 ? ORDINARY : IGNORED;
            const int64_t y = cls(rng);
            int64_t top = y;  // the class that leads
            if (k == WRONG) top = (y + 1 + cls(rng) % (C - 1)) % C;
            const double b = base(rng);
            for (int64_t c = 0; c < C; ++c) {
                double v = normal(rng);
                if (k == RIGHT || k == WRONG) v = c == top ? b : b - lead - gap(rng);
                p.z[static_cast<size_t>(p.at(n, c, s))] = grid(v);
            }
            p.kind[pos] = k;
            p.y[pos] = k == IGNORED ? -100 : y;
        }
    return p;
}

struct Expected {
    std::vector<double> g, sigma, py;  // per element (py: p of the position's top class)
};

// The float64 reference, in the stable forms: 1 - p_y as the sum of the others, the softmax
// product as p_k sum_{j != k} p_j (d_k - d_j). cfg as the library takes it.
Expected reference(const segloss_config &cfg, const ConfProblem &pr) {
    const int64_t N = pr.n, C = pr.c, S = pr.s;
    const segloss_loss_type t = cfg.loss_type;
    const bool ce = ref::is_ce_family(t), dice = ref::is_overlap_family(t);
    const bool fd = t == SEGLOSS_FOCAL_DICE;
    const double fw = fd ? cfg.focal_weight : 1.0, dw = fd ? cfg.dice_weight : 1.0;
    const double gamma = ref::uses_gamma(t) ? cfg.focal_gamma : 0.0;
    const bool mean = cfg.reduction == SEGLOSS_MEAN;
    Expected e;
    e.g.assign(pr.z.size(), 0.0);
    e.sigma.assign(pr.z.size(), 0.0);
    e.py.assign(pr.z.size(), 0.0);
    std::vector<double> p(pr.z.size(), 0.0), q(static_cast<size_t>(N * S), 0.0), logpy(q.size(), 0.0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
            const size_t pos = static_cast<size_t>(n * S + s);
            if (pr.y[pos] < 0) continue;
            const int64_t y = pr.y[pos];
            double m = -INFINITY, sum = 0, others = 0;
            for (int64_t c = 0; c < C; ++c) m = std::max(m, static_cast<double>(pr.z[pr.at(n, c, s)]));
            for (int64_t c = 0; c < C; ++c) {
                const double ec = std::exp(static_cast<double>(pr.z[pr.at(n, c, s)]) - m);
                sum += ec;
                if (c != y) others += ec;
            }
            for (int64_t c = 0; c < C; ++c) p[pr.at(n, c, s)] = std::exp(static_cast<double>(pr.z[pr.at(n, c, s)]) - m) / sum;
            q[pos] = others / sum;
            const double zy = static_cast<double>(pr.z[pr.at(n, y, s)]) - m;
            logpy[pos] = zy - std::log1p(others + std::expm1(zy));
        }
    // CE family: f per position
    std::vector<double> f(q.size(), 0.0);
    if (ce) {
        const segloss_input in = pr.input();
        const std::vector<double> w = ref::ref_class_weights(cfg, in);
        double wsum = 0;
        for (size_t pos = 0; pos < q.size(); ++pos)
            if (pr.y[pos] >= 0) wsum += w[static_cast<size_t>(pr.y[pos])];
        const double scale = mean ? (wsum > 0 ? 1.0 / wsum : 0.0) : 1.0;
        for (int64_t n = 0; n < N; ++n)
            for (int64_t s = 0; s < S; ++s) {
                const size_t pos = static_cast<size_t>(n * S + s);
                if (pr.y[pos] < 0) continue;
                const double py = p[pr.at(n, pr.y[pos], s)];
                const double r = q[pos] > 0 ? -logpy[pos] / q[pos] : 1.0;
                const double ff = std::pow(q[pos], gamma) * (1.0 + gamma * py * r);
                f[pos] = fw * w[static_cast<size_t>(pr.y[pos])] * scale * ff;
            }
    }
    // Dice family: dL/dp_c = a[g][c] + b[g][c] [y = c]
    const int64_t G = cfg.per_sample ? N : 1, k0 = cfg.include_background ? 0 : 1;
    std::vector<double> a(static_cast<size_t>(G * C), 0.0), b(a.size(), 0.0);
    if (dice) {
        std::vector<double> I(a.size(), 0.0), P(a.size(), 0.0), Gc(a.size(), 0.0);
        for (int64_t n = 0; n < N; ++n)
            for (int64_t s = 0; s < S; ++s) {
                const size_t pos = static_cast<size_t>(n * S + s);
                if (pr.y[pos] < 0) continue;
                const int64_t g = cfg.per_sample ? n : 0;
                for (int64_t c = 0; c < C; ++c) {
                    P[g * C + c] += p[pr.at(n, c, s)];
                    if (c == pr.y[pos]) {
                        I[g * C + c] += p[pr.at(n, c, s)];
                        Gc[g * C + c] += 1;
                    }
                }
            }
        const bool tv = t == SEGLOSS_TVERSKY;
        const double sm = cfg.dice_smooth, al = cfg.tversky_alpha, be = cfg.tversky_beta;
        const double pairs = static_cast<double>(G * std::max<int64_t>(C - k0, 0));
        const double factor = dw * (mean ? (pairs > 0 ? 1.0 / pairs : 0.0) : 1.0);
        for (int64_t g = 0; g < G; ++g)
            for (int64_t c = k0; c < C; ++c) {
                const size_t j = static_cast<size_t>(g * C + c);
                const double num = tv ? I[j] + sm : 2 * I[j] + sm;
                const double den = tv ? I[j] + al * (P[j] - I[j]) + be * (Gc[j] - I[j]) + sm : P[j] + Gc[j] + sm;
                if (den == 0) continue;
                // L = 1 - num/den: dL/dp = -(dnum den - num dden) / den^2
                if (tv) {
                    a[j] = factor * num * al / (den * den);
                    b[j] = -factor * (1.0 / den - num * (1.0 - al - be) / (den * den));
                } else {
                    a[j] = factor * num / (den * den);
                    b[j] = -factor * 2.0 / den;
                }
            }
    }
    std::vector<double> d(static_cast<size_t>(C));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
            const size_t pos = static_cast<size_t>(n * S + s);
            if (pr.y[pos] < 0) continue;
            const int64_t y = pr.y[pos], g = cfg.per_sample ? n : 0;
            double amax = 0, ptop = 0;
            for (int64_t c = 0; c < C; ++c) {
                d[c] = a[g * C + c] + (c == y ? b[g * C + c] : 0.0);
                amax = std::max(amax, std::fabs(a[g * C + c]));
                ptop = std::max(ptop, p[pr.at(n, c, s)]);
            }
            const double M = 2 * amax + std::fabs(b[g * C + y]);
            for (int64_t k = 0; k < C; ++k) {
                const int64_t ek = pr.at(n, k, s);
                const double pk = p[ek], one_minus = k == y ? q[pos] : 1.0 - pk;
                double jac = 0;
                if (dice)
                    for (int64_t j = 0; j < C; ++j)
                        if (j != k) jac += p[pr.at(n, j, s)] * (d[k] - d[j]);
                const double ce_k = k == y ? -f[pos] * q[pos] : f[pos] * pk;
                e.g[ek] = ce_k + pk * jac;
                e.sigma[ek] = std::fabs(f[pos]) * (k == y ? q[pos] : pk) + std::min(pk, one_minus) * M;
                e.py[ek] = ptop;
            }
        }
    return e;
}

struct Config {
    const char *name;
    segloss_config cfg;
};

std::vector<Config> configs() {
    std::vector<Config> out;
    auto add = [&](const char *name, segloss_loss_type t) -> segloss_config & {
        Config c;
        c.name = name;
        segloss_config_init(&c.cfg, t);
        out.push_back(c);
        return out.back().cfg;
    };
    add("ce", SEGLOSS_CE);
    add("ce", SEGLOSS_CE).reduction = SEGLOSS_SUM;
    add("weighted_ce", SEGLOSS_WEIGHTED_CE);
    add("focal", SEGLOSS_FOCAL);                       // gamma 2
    add("focal", SEGLOSS_FOCAL).focal_gamma = 0.5f;    // through exp(gamma log q)
    add("focal", SEGLOSS_FOCAL).focal_gamma = 1.0f;
    add("dice", SEGLOSS_DICE);
    {
        segloss_config &c = add("dice", SEGLOSS_DICE);
        c.per_sample = 1;
        c.include_background = 0;
    }
    add("focal_dice", SEGLOSS_FOCAL_DICE);
    {
        segloss_config &c = add("focal_dice", SEGLOSS_FOCAL_DICE);
        c.focal_gamma = 0.0f;
        c.focal_weight = 1.0f;
        c.dice_weight = 1.0f;
        c.use_class_weighting = 1;
    }
    add("tversky", SEGLOSS_TVERSKY);
    {
        segloss_config &c = add("tversky", SEGLOSS_TVERSKY);
        c.tversky_alpha = 0.3f;
        c.tversky_beta = 0.9f;
        c.include_background = 0;
        c.per_sample = 1;
        c.reduction = SEGLOSS_SUM;
    }
    return out;
}

// Runs cfg on the problem; checks each entry; returns the number of entries past the bound.
long check_entries(const std::string &isa, const Config &c, const ConfProblem &pr, std::string &first_bad) {
    const segloss_input in = pr.input();
    std::vector<float> grad(pr.z.size(), 12345.0f);
    segloss_result res;
    REQUIRE(segloss_compute(&c.cfg, &in, grad.data(), &res) == SEGLOSS_OK);
    const Expected e = reference(c.cfg, pr);
    Worst &w = worst_table()[isa][c.name];
    long bad = 0;
    for (int64_t n = 0; n < pr.n; ++n)
        for (int64_t s = 0; s < pr.s; ++s) {
            const size_t pos = static_cast<size_t>(n * pr.s + s);
            for (int64_t k = 0; k < pr.c; ++k) {
                const int64_t ek = pr.at(n, k, s);
                const double got = grad[static_cast<size_t>(ek)], want = e.g[static_cast<size_t>(ek)];
                const double err = std::fabs(got - want);
                const double bound = kRel * std::fabs(want) + kUlps * kU * e.sigma[static_cast<size_t>(ek)];
                const double rel = want != 0 ? err / std::fabs(want) : (err > 0 ? INFINITY : 0.0);
                w.entries++;
                if (pr.kind[pos] == RIGHT) {
                    if (k == pr.y[pos]) w.label = std::max(w.label, rel);
                    else w.other = std::max(w.other, rel);
                } else if (pr.kind[pos] == WRONG) {
                    w.wrong = std::max(w.wrong, rel);
                }
                if (bound > 0) w.bound = std::max(w.bound, err / bound);
                if (!(err <= bound)) {  // NaN fails too
                    if (!bad++) {
                        std::ostringstream o;
                        o.precision(9);
                        o << "n " << n << " c " << k << " s " << s << " (label " << pr.y[pos] << ", kind " << pr.kind[pos]
                          << ", p_top " << e.py[static_cast<size_t>(ek)] << "): got " << got << " want " << want
                          << " rel err " << rel << " bound " << bound;
                        first_bad = o.str();
                    }
                }
            }
        }
    return bad;
}

}  // namespace

TEST_CASE("confident pixels: every gradient entry within 1e-5 relative (+ 32 u of its scale) of float64",
          "[losses][isa][confident]") {
    const std::vector<Config> cfgs = configs();
    for (const std::string &isa : ref::all_isas()) {
        if (!segloss_isa_supported(isa.c_str())) {
            std::cout << "SKIP: " << isa << " not supported on this CPU (confident-pixel tests not run on that path)\n";
            continue;
        }
        ref::IsaGuard guard(isa);
        REQUIRE(guard.status == SEGLOSS_OK);
        REQUIRE(std::string(segloss_active_isa()) == isa);
        std::mt19937 rng(20240615u);
        for (int64_t C : {2, 3, 4, 5, 21})
            for (segloss_layout layout : {SEGLOSS_NCHW, SEGLOSS_NHWC})
                for (int64_t S : {37, 300}) {
                    const ConfProblem pr = make_confident(rng, 2, C, S, layout);
                    for (const Config &c : cfgs) {
                        std::string first_bad;
                        const long bad = check_entries(isa, c, pr, first_bad);
                        INFO("isa " << isa << " " << c.name << " gamma " << c.cfg.focal_gamma << " C " << C << " S " << S
                                    << " " << ref::layout_name(layout) << ": " << bad << " entries past the bound; first: "
                                    << first_bad);
                        CHECK(bad == 0);
                    }
                }
    }
}

TEST_CASE("confident pixels: report of the worst relative errors per path and loss", "[report][confident]") {
    std::ostringstream o;
    o << "\n==== confident pixels (p >= 1 - 1e-6): worst |g - ref| / |ref| per entry ====\n"
      << "label: the label's entry, right and confident; other: the other entries there;\n"
      << "wrong: every entry where another class is confident; bound: worst error / bound\n";
    char line[160];
    std::snprintf(line, sizeof line, "%-8s %-12s %9s %10s %10s %10s %8s\n", "isa", "loss", "entries", "label", "other",
                  "wrong", "bound");
    o << line;
    for (const auto &isa : worst_table())
        for (const auto &row : isa.second) {
            const Worst &w = row.second;
            std::snprintf(line, sizeof line, "%-8s %-12s %9ld %10.3e %10.3e %10.3e %8.3f\n", isa.first.c_str(),
                          row.first.c_str(), w.entries, w.label, w.other, w.wrong, w.bound);
            o << line;
        }
    if (worst_table().empty()) o << "(the confident-pixel test did not run in this process)\n";
    std::cout << o.str() << std::flush;
    SUCCEED("report printed");
}
