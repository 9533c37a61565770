// tests/unit/test_losses.cpp — every loss and option against the float64 reference (reference.hpp),
// on every SIMD path this CPU runs; the reference against finite differences; the identities
// that follow from the formulas (segloss.h section 7, Semantics); edge cases. The last test
// case prints the largest errors per loss and path.
#include "catch2/catch.hpp"
#include "../../segloss.h"
#include "reference.hpp"

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

using ref::Problem;
using ref::ProblemSpec;

namespace {

// ---- tolerances: loss within 1e-6 relative (1e-7 absolute below 0.1, ref::rel_err), --------
// ---- each gradient entry within 1e-5 of the largest (ref::grad_err) -------------------------
const double kLossTol = 1e-6;
const double kGradTol = 1e-5;

// ---- the largest errors seen, per ISA and loss type, printed by "zz report" -----------------
struct MaxErr {
    double loss = 0, grad = 0;
    long cases = 0;
};
std::map<std::string, std::map<std::string, MaxErr>> &error_table() {
    static std::map<std::string, std::map<std::string, MaxErr>> t;
    return t;
}
double &loss_only_diff() {  // largest loss difference between grad == NULL and grad != NULL
    static double d = 0;
    return d;
}
void record(const std::string &isa, segloss_loss_type t, double loss_err, double grad_err) {
    MaxErr &e = error_table()[isa][ref::loss_type_name(t)];
    e.loss = std::max(e.loss, loss_err);
    e.grad = std::max(e.grad, grad_err);
    e.cases++;
}

// ---- walking the SIMD paths ----------------------------------------------------------------
void warn_skip_once(const std::string &isa) {
    static std::set<std::string> warned;
    if (warned.insert(isa).second)
        std::cout << "SKIP: " << isa << " not supported on this CPU (numeric tests not run on that path)\n";
}

// Runs body(isa) once per path this CPU supports, each in its own section, with that path forced.
template <class Body>
void for_each_isa(Body body) {
    for (const std::string &isa : ref::all_isas()) {
        if (!segloss_isa_supported(isa.c_str())) {
            warn_skip_once(isa);
            continue;
        }
        DYNAMIC_SECTION("isa " << isa) {
            ref::IsaGuard guard(isa);
            REQUIRE(guard.status == SEGLOSS_OK);
            REQUIRE(std::string(segloss_active_isa()) == isa);
            body(isa);
        }
    }
}

// ---- configurations ------------------------------------------------------------------------
enum class Weights { none, automatic, explicit_ };

struct Variant {
    segloss_config cfg;
    Weights weights;
};

Variant variant(segloss_loss_type t, Weights w = Weights::none) {
    Variant v;
    segloss_config_init(&v.cfg, t);
    v.weights = w;
    return v;
}

// cfg with the weights mode applied for C classes; `storage` holds explicit weights.
segloss_config materialise(const Variant &v, const Problem &p, std::vector<float> &storage) {
    segloss_config cfg = v.cfg;
    cfg.ignore_index = p.spec.ignore_index;
    switch (v.weights) {
    case Weights::none:
        cfg.use_class_weighting = 0;
        cfg.class_weights = nullptr;
        break;
    case Weights::automatic:
        cfg.use_class_weighting = 1;
        cfg.class_weights = nullptr;
        break;
    case Weights::explicit_:  // use_class_weighting keeps the loss's default: explicit weights win
        storage = ref::explicit_weights(p.spec.c);
        cfg.class_weights = storage.data();
        break;
    }
    return cfg;
}

const Weights kAllWeights[] = {Weights::none, Weights::automatic, Weights::explicit_};
const segloss_reduction kReductions[] = {SEGLOSS_MEAN, SEGLOSS_SUM};
const segloss_loss_type kAllLosses[] = {SEGLOSS_CE,         SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL,
                                        SEGLOSS_DICE,       SEGLOSS_FOCAL_DICE,  SEGLOSS_TVERSKY};
const float kGammas[] = {0.0f, 0.5f, 1.0f, 2.0f, 3.0f, 5.0f};

// Every loss type x its options.
std::vector<Variant> option_matrix() {
    std::vector<Variant> out;
    for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_WEIGHTED_CE})
        for (Weights w : kAllWeights)
            for (segloss_reduction r : kReductions) {
                Variant v = variant(t, w);
                v.cfg.reduction = r;
                out.push_back(v);
            }
    for (float g : kGammas)
        for (Weights w : kAllWeights)
            for (segloss_reduction r : kReductions) {
                Variant v = variant(SEGLOSS_FOCAL, w);
                v.cfg.focal_gamma = g;
                v.cfg.reduction = r;
                out.push_back(v);
            }
    for (int bg = 0; bg < 2; ++bg)
        for (int ps = 0; ps < 2; ++ps)
            for (segloss_reduction r : kReductions) {
                for (float sm : {0.0f, 1.0f, 0.01f}) {
                    Variant v = variant(SEGLOSS_DICE);
                    v.cfg.dice_smooth = sm;
                    v.cfg.include_background = bg;
                    v.cfg.per_sample = ps;
                    v.cfg.reduction = r;
                    out.push_back(v);
                }
                const float ab[][2] = {{0.7f, 0.3f}, {0.5f, 0.5f}, {1.0f, 1.0f}, {0.2f, 0.9f}, {0.0f, 1.0f}};
                for (const auto &a : ab)
                    for (float sm : {0.0f, 1.0f}) {
                        Variant v = variant(SEGLOSS_TVERSKY);
                        v.cfg.tversky_alpha = a[0];
                        v.cfg.tversky_beta = a[1];
                        v.cfg.dice_smooth = sm;
                        v.cfg.include_background = bg;
                        v.cfg.per_sample = ps;
                        v.cfg.reduction = r;
                        out.push_back(v);
                    }
                const float fwdw[][2] = {{0.5f, 0.5f}, {1.0f, 0.0f}, {0.0f, 1.0f}, {0.3f, 2.0f}};
                int k = 0;
                for (float g : {0.0f, 0.5f, 2.0f, 3.0f})
                    for (Weights w : kAllWeights) {
                        Variant v = variant(SEGLOSS_FOCAL_DICE, w);
                        v.cfg.focal_gamma = g;
                        v.cfg.focal_weight = fwdw[k % 4][0];
                        v.cfg.dice_weight = fwdw[k % 4][1];
                        v.cfg.dice_smooth = (k % 3 == 0) ? 0.0f : 1.0f;
                        v.cfg.include_background = bg;
                        v.cfg.per_sample = ps;
                        v.cfg.reduction = r;
                        out.push_back(v);
                        ++k;
                    }
            }
    return out;
}

// One representative configuration per loss type, with non-default options switched on.
std::vector<Variant> representatives() {
    std::vector<Variant> out;
    out.push_back(variant(SEGLOSS_CE));
    out.push_back(variant(SEGLOSS_WEIGHTED_CE, Weights::automatic));
    Variant f = variant(SEGLOSS_FOCAL, Weights::explicit_);
    f.cfg.focal_gamma = 0.5f;
    out.push_back(f);
    Variant d = variant(SEGLOSS_DICE);
    d.cfg.per_sample = 1;
    d.cfg.include_background = 0;
    out.push_back(d);
    Variant fd = variant(SEGLOSS_FOCAL_DICE, Weights::automatic);
    fd.cfg.focal_weight = 0.3f;
    fd.cfg.dice_weight = 2.0f;
    out.push_back(fd);
    Variant tv = variant(SEGLOSS_TVERSKY);
    tv.cfg.reduction = SEGLOSS_SUM;
    out.push_back(tv);
    return out;
}

// ---- the central check: library vs reference -------------------------------------------------
void check_vs_reference(const std::string &isa, const Variant &v, const Problem &p) {
    std::vector<float> storage;
    const segloss_config cfg = materialise(v, p, storage);
    const segloss_input in = p.input();
    INFO("isa " << isa << ": " << ref::describe(cfg) << " | " << ref::describe(p));
    const ref::RefOut want = ref::ref_loss(cfg, in);
    const ref::LibOut got = ref::run_lib(cfg, in);
    REQUIRE(got.status == SEGLOSS_OK);
    const double loss_err = std::max(ref::rel_err(got.result.loss, want.loss),
                                     std::max(ref::rel_err(got.result.ce_term, want.ce_term),
                                              ref::rel_err(got.result.dice_term, want.dice_term)));
    const double grad_err = ref::grad_err(got.grad, want.grad, 0.1 * want.grad_scale);
    record(isa, cfg.loss_type, loss_err, grad_err);
    INFO("loss " << got.result.loss << " want " << want.loss << "; ce_term " << got.result.ce_term << " want "
                 << want.ce_term << "; dice_term " << got.result.dice_term << " want " << want.dice_term);
    CHECK(loss_err <= kLossTol);
    CHECK(grad_err <= kGradTol);
    CHECK(got.result.valid == want.valid);
    CHECK(got.result.bad_position == -1);
    CHECK(std::isfinite(got.result.loss));
    CHECK(ref::all_finite(got.grad));
}

std::mt19937 seeded(unsigned salt) { return std::mt19937(20240611u + salt); }

const segloss_layout kLayouts[] = {SEGLOSS_NCHW, SEGLOSS_NHWC};
const segloss_label_type kLabelTypes[] = {SEGLOSS_LABEL_U8, SEGLOSS_LABEL_I32, SEGLOSS_LABEL_I64};

// A spec with ignored positions; ignore_index is 255 for u8 and -100 otherwise, or (every
// `in_range_every`-th call) a class value in [0, C), which also ignores genuine labels.
ProblemSpec mixed_spec(std::mt19937 &rng, segloss_layout layout, segloss_label_type lt, int k) {
    static const int64_t Ns[] = {1, 2, 3};
    static const int64_t Cs[] = {2, 3, 4, 5, 8};
    ProblemSpec s;
    s.n = Ns[rng() % 3];
    s.c = Cs[rng() % 5];
    s.s = 1 + static_cast<int64_t>(rng() % 70);
    s.layout = layout;
    s.label_type = lt;
    s.p_ignore = 0.15;
    s.ignore_index = lt == SEGLOSS_LABEL_U8 ? 255 : -100;
    if (k % 7 == 3) s.ignore_index = 1;
    return s;
}

}  // namespace

// =============================================================================================

TEST_CASE("library matches the float64 reference for every loss x option x layout x label type", "[losses][isa]") {
    const std::vector<Variant> matrix = option_matrix();
    for_each_isa([&](const std::string &isa) {
        std::mt19937 rng = seeded(1);
        int k = 0;
        for (const Variant &v : matrix)
            for (segloss_layout layout : kLayouts)
                for (segloss_label_type lt : kLabelTypes) {
                    const Problem p = ref::make_problem(rng, mixed_spec(rng, layout, lt, k++));
                    check_vs_reference(isa, v, p);
                }
    });
}

TEST_CASE("library matches the reference for every S in 1..67 and at 255, 256, 257, 1000", "[losses][isa][sizes]") {
    std::vector<int64_t> sizes;
    for (int64_t s = 1; s <= 67; ++s) sizes.push_back(s);
    for (int64_t s : {255, 256, 257, 1000}) sizes.push_back(s);
    static const int64_t Cs[] = {2, 3, 4, 5, 7, 8, 9, 16, 17};
    const std::vector<Variant> reps = representatives();
    for_each_isa([&](const std::string &isa) {
        std::mt19937 rng = seeded(2);
        int k = 0;
        for (int64_t S : sizes)
            for (segloss_layout layout : kLayouts)
                for (const Variant &v : reps) {
                    ProblemSpec spec;
                    spec.n = 2;
                    spec.c = Cs[k++ % 9];
                    spec.s = S;
                    spec.layout = layout;
                    spec.p_ignore = 0.1;
                    check_vs_reference(isa, v, ref::make_problem(rng, spec));
                }
    });
}

TEST_CASE("library matches the reference for C = 2, 150 and class counts around vector widths", "[losses][isa][classes]") {
    static const int64_t Cs[] = {2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 150};
    const std::vector<Variant> reps = representatives();
    for_each_isa([&](const std::string &isa) {
        std::mt19937 rng = seeded(3);
        for (int64_t C : Cs)
            for (int64_t S : {13, 64})
                for (segloss_layout layout : kLayouts)
                    for (Variant v : reps) {
                        ProblemSpec spec;
                        spec.n = 2;
                        spec.c = C;
                        spec.s = S;
                        spec.layout = layout;
                        spec.p_ignore = 0.1;
                        spec.skewed = C < 40;
                        check_vs_reference(isa, v, ref::make_problem(rng, spec));
                    }
    });
}

TEST_CASE("large batch (2^17 positions): loss still within 1e-6 of the reference", "[losses][isa][large]") {
    const std::vector<Variant> reps = representatives();
    for_each_isa([&](const std::string &isa) {
        std::mt19937 rng = seeded(17);
        for (const Variant &v : reps) {
            ProblemSpec spec;
            spec.n = 2;
            spec.c = 4;
            spec.s = int64_t(1) << 16;
            spec.layout = (v.cfg.loss_type % 2) ? SEGLOSS_NHWC : SEGLOSS_NCHW;
            spec.p_ignore = 0.05;
            check_vs_reference(isa, v, ref::make_problem(rng, spec));
        }
    });
}

TEST_CASE("reference analytic gradient matches central finite differences for every loss and option", "[reference]") {
    std::mt19937 rng = seeded(4);
    int k = 0;
    for (const Variant &v : option_matrix())
        for (segloss_layout layout : kLayouts) {
            ProblemSpec spec;
            spec.n = 2;
            spec.c = 3;
            spec.s = 5;
            spec.layout = layout;
            spec.label_type = kLabelTypes[k % 3];
            spec.ignore_index = spec.label_type == SEGLOSS_LABEL_U8 ? 255 : -100;
            spec.p_ignore = 0.2;
            ++k;
            const Problem p = ref::make_problem(rng, spec);
            std::vector<float> storage;
            const segloss_config cfg = materialise(v, p, storage);
            const ref::RefOut analytic = ref::ref_loss(cfg, p.input());
            const std::vector<double> fd = ref::ref_fd_grad(cfg, p.input());
            INFO(ref::describe(cfg) << " | " << ref::describe(p));
            CHECK(ref::grad_err(fd, analytic.grad) <= 1e-6);
        }
}

TEST_CASE("reference sanity: hand-computed values", "[reference]") {
    // One position, two classes, logits (0, 0): p = (1/2, 1/2).
    const float z[2] = {0.0f, 0.0f};
    const int64_t y[1] = {1};
    const segloss_input in = {z, y, SEGLOSS_LABEL_I64, 1, 2, 1, SEGLOSS_NCHW};
    segloss_config cfg;
    segloss_config_init(&cfg, SEGLOSS_CE);
    CHECK(ref::ref_loss(cfg, in).loss == Approx(std::log(2.0)).epsilon(1e-15));
    cfg.loss_type = SEGLOSS_FOCAL;
    cfg.focal_gamma = 2.0f;  // -(1/2)^2 log(1/2)
    CHECK(ref::ref_loss(cfg, in).loss == Approx(0.25 * std::log(2.0)).epsilon(1e-15));
    segloss_config_init(&cfg, SEGLOSS_DICE);  // s = 1: I=(0,1/2) P=(1/2,1/2) G=(0,1)
    cfg.dice_smooth = 1.0f;
    cfg.include_background = 1;
    const double d0 = 1.0 / 1.5, d1 = 2.0 / 2.5;
    CHECK(ref::ref_loss(cfg, in).loss == Approx(1.0 - 0.5 * (d0 + d1)).epsilon(1e-15));
    segloss_config_init(&cfg, SEGLOSS_TVERSKY);  // a=0.7 b=0.3: T1 = 1.5 / (0.5 + 0.7*0 + 0.3*0.5 + 1)
    cfg.include_background = 0;
    cfg.dice_smooth = 1.0f;
    CHECK(ref::ref_loss(cfg, in).loss == Approx(1.0 - 1.5 / (0.5 + 0.3f * 0.5 + 1.0)).epsilon(1e-7));
}

// ---- identities that follow from the formulas of segloss.h section 7 ------------------------

namespace {
void check_same(const ref::LibOut &a, const ref::LibOut &b, double loss_tol = kLossTol, double grad_tol = kGradTol) {
    REQUIRE(a.status == SEGLOSS_OK);
    REQUIRE(b.status == SEGLOSS_OK);
    CHECK(ref::rel_err(a.result.loss, b.result.loss) <= loss_tol);
    CHECK(a.result.valid == b.result.valid);
    CHECK(ref::grad_err(a.grad, std::vector<double>(b.grad.begin(), b.grad.end())) <= grad_tol);
}

Problem default_problem(std::mt19937 &rng, segloss_layout layout = SEGLOSS_NCHW, int64_t S = 45) {
    ProblemSpec spec;
    spec.n = 3;
    spec.c = 5;
    spec.s = S;
    spec.layout = layout;
    spec.p_ignore = 0.15;
    return ref::make_problem(rng, spec);
}
}  // namespace

TEST_CASE("focal with gamma=0 equals weighted_ce, and ce when unweighted", "[losses][isa][identity]") {
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(5);
        for (segloss_layout layout : kLayouts)
            for (Weights w : kAllWeights)
                for (segloss_reduction r : kReductions) {
                    const Problem p = default_problem(rng, layout);
                    std::vector<float> s1, s2, s3;
                    Variant vf = variant(SEGLOSS_FOCAL, w), vw = variant(SEGLOSS_WEIGHTED_CE, w), vc = variant(SEGLOSS_CE, w);
                    vf.cfg.focal_gamma = 0.0f;
                    vf.cfg.reduction = vw.cfg.reduction = vc.cfg.reduction = r;
                    const segloss_config cf = materialise(vf, p, s1), cw = materialise(vw, p, s2), cc = materialise(vc, p, s3);
                    INFO(ref::describe(cf) << " | " << ref::describe(p));
                    const ref::LibOut focal = ref::run_lib(cf, p.input());
                    check_same(focal, ref::run_lib(cw, p.input()));
                    check_same(focal, ref::run_lib(cc, p.input()));
                }
    });
}

TEST_CASE("tversky with alpha=beta=0.5 and smooth s equals dice with smooth 2s", "[losses][isa][identity]") {
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(6);
        for (segloss_layout layout : kLayouts)
            for (float sm : {0.0f, 0.5f, 1.0f})
                for (int ps = 0; ps < 2; ++ps)
                    for (int bg = 0; bg < 2; ++bg) {
                        const Problem p = default_problem(rng, layout);
                        Variant t = variant(SEGLOSS_TVERSKY), d = variant(SEGLOSS_DICE);
                        t.cfg.tversky_alpha = t.cfg.tversky_beta = 0.5f;
                        t.cfg.dice_smooth = sm;
                        d.cfg.dice_smooth = 2 * sm;
                        t.cfg.per_sample = d.cfg.per_sample = ps;
                        t.cfg.include_background = d.cfg.include_background = bg;
                        std::vector<float> s1, s2;
                        const segloss_config ct = materialise(t, p, s1), cd = materialise(d, p, s2);
                        INFO(ref::describe(ct) << " | " << ref::describe(p));
                        check_same(ref::run_lib(ct, p.input()), ref::run_lib(cd, p.input()));
                    }
    });
}

TEST_CASE("per_sample with N=1 equals batch statistics", "[losses][isa][identity]") {
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(7);
        for (segloss_loss_type t : kAllLosses)
            for (segloss_layout layout : kLayouts)
                for (segloss_reduction r : kReductions) {
                    ProblemSpec spec;
                    spec.n = 1;
                    spec.c = 4;
                    spec.s = 61;
                    spec.layout = layout;
                    spec.p_ignore = 0.1;
                    const Problem p = ref::make_problem(rng, spec);
                    Variant a = variant(t), b = variant(t);
                    a.cfg.per_sample = 1;
                    b.cfg.per_sample = 0;
                    a.cfg.reduction = b.cfg.reduction = r;
                    std::vector<float> s1, s2;
                    const segloss_config ca = materialise(a, p, s1), cb = materialise(b, p, s2);
                    INFO(ref::describe(ca) << " | " << ref::describe(p));
                    check_same(ref::run_lib(ca, p.input()), ref::run_lib(cb, p.input()));
                }
    });
}

TEST_CASE("NCHW and NHWC of the same data give the same loss and the transposed gradient", "[losses][isa][identity]") {
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(8);
        for (const Variant &v : representatives())
            for (int64_t S : {1, 7, 64, 100}) {
                const Problem nchw = default_problem(rng, SEGLOSS_NCHW, S);
                const Problem nhwc = ref::with_layout(nchw, SEGLOSS_NHWC);
                std::vector<float> st;
                const segloss_config cfg = materialise(v, nchw, st);
                INFO(ref::describe(cfg) << " | " << ref::describe(nchw));
                const ref::LibOut a = ref::run_lib(cfg, nchw.input()), b = ref::run_lib(cfg, nhwc.input());
                REQUIRE(a.status == SEGLOSS_OK);
                REQUIRE(b.status == SEGLOSS_OK);
                CHECK(ref::rel_err(a.result.loss, b.result.loss) <= kLossTol);
                // transpose b's gradient back to NCHW
                Problem gb = nhwc;
                gb.logits = b.grad;
                const Problem gb_nchw = ref::with_layout(gb, SEGLOSS_NCHW);
                CHECK(ref::grad_err(a.grad, std::vector<double>(gb_nchw.logits.begin(), gb_nchw.logits.end())) <= kGradTol);
            }
    });
}

TEST_CASE("u8, i32 and i64 labels give bit-identical results", "[losses][isa][identity]") {
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(9);
        for (const Variant &v : representatives())
            for (segloss_layout layout : kLayouts) {
                ProblemSpec spec;
                spec.n = 2;
                spec.c = 6;
                spec.s = 77;
                spec.layout = layout;
                spec.p_ignore = 0.2;
                spec.ignore_index = 255;  // representable in all three types
                const Problem p = ref::make_problem(rng, spec);
                std::vector<float> st;
                const segloss_config cfg = materialise(v, p, st);
                INFO(ref::describe(cfg) << " | " << ref::describe(p));
                const ref::LibOut u8 = ref::run_lib(cfg, ref::with_label_type(p, SEGLOSS_LABEL_U8).input());
                for (segloss_label_type lt : {SEGLOSS_LABEL_I32, SEGLOSS_LABEL_I64}) {
                    const ref::LibOut o = ref::run_lib(cfg, ref::with_label_type(p, lt).input());
                    REQUIRE(o.status == SEGLOSS_OK);
                    CHECK(o.result.loss == u8.result.loss);
                    CHECK(o.result.valid == u8.result.valid);
                    CHECK(o.grad == u8.grad);
                }
            }
    });
}

TEST_CASE("NHWC equals NCHW bit for bit for C from 1 to 9, 21 and 150 (the transposes only move data)",
          "[losses][isa][identity]") {
    // Same blocks, same planes: the gradient transposed back and the loss must be identical.
    // C < 4 and C not a multiple of 4 take the four-wide and overlapping transposes; S crosses
    // vector, 16-lane and block edges.
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(31);
        const std::vector<Variant> reps = representatives();
        int k = 0;
        for (int64_t C : {1, 2, 3, 4, 5, 6, 7, 9, 21, 150}) // C = 1: the sigmoid
            for (int64_t S : {1, 3, 7, 8, 17, 33, 255, 300}) {
                ProblemSpec spec;
                spec.n = 2;
                spec.c = C;
                spec.s = S;
                spec.p_ignore = 0.1;
                const Problem nchw = ref::make_problem(rng, spec);
                const Problem nhwc = ref::with_layout(nchw, SEGLOSS_NHWC);
                std::vector<float> st;
                segloss_config cfg = materialise(reps[k++ % reps.size()], nchw, st);
                if (C == 1) cfg.activation = SEGLOSS_SIGMOID; // softmax needs two classes
                INFO(ref::describe(cfg) << " | " << ref::describe(nchw));
                const ref::LibOut a = ref::run_lib(cfg, nchw.input()), b = ref::run_lib(cfg, nhwc.input());
                REQUIRE(a.status == SEGLOSS_OK);
                REQUIRE(b.status == SEGLOSS_OK);
                CHECK(a.result.loss == b.result.loss);
                Problem gb = nhwc;
                gb.logits = b.grad;
                const Problem gb_nchw = ref::with_layout(gb, SEGLOSS_NCHW);
                CHECK(std::memcmp(a.grad.data(), gb_nchw.logits.data(), a.grad.size() * sizeof(float)) == 0);
            }
    });
}

TEST_CASE("ignoring positions equals removing them (NHWC, N=1)", "[losses][isa][identity]") {
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(10);
        for (const Variant &v : representatives())
            for (int64_t S : {5, 33, 200}) {
                ProblemSpec spec;
                spec.n = 1;
                spec.c = 4;
                spec.s = S;
                spec.layout = SEGLOSS_NHWC;
                spec.p_ignore = 0.3;
                const Problem p = ref::make_problem(rng, spec);
                // the same problem with the ignored positions cut out
                Problem cut = p;
                cut.logits.clear();
                std::vector<int64_t> kept_labels;
                for (int64_t s = 0; s < S; ++s) {
                    if (p.y[s] == spec.ignore_index) continue;
                    kept_labels.push_back(p.y[s]);
                    for (int64_t c = 0; c < spec.c; ++c) cut.logits.push_back(p.logit(0, c, s));
                }
                if (kept_labels.empty()) continue;
                cut.set_labels(kept_labels);
                cut.spec.s = static_cast<int64_t>(kept_labels.size());
                std::vector<float> st;
                const segloss_config cfg = materialise(v, p, st);
                INFO(ref::describe(cfg) << " | " << ref::describe(p));
                const ref::LibOut full = ref::run_lib(cfg, p.input()), less = ref::run_lib(cfg, cut.input());
                REQUIRE(full.status == SEGLOSS_OK);
                REQUIRE(less.status == SEGLOSS_OK);
                CHECK(ref::rel_err(full.result.loss, less.result.loss) <= kLossTol);
                CHECK(full.result.valid == less.result.valid);
                // gradient: kept positions equal, ignored positions exactly 0
                std::vector<double> expect(full.grad.size(), 0.0);
                size_t j = 0;
                for (int64_t s = 0; s < S; ++s) {
                    if (p.y[s] == spec.ignore_index) continue;
                    for (int64_t c = 0; c < spec.c; ++c) expect[s * spec.c + c] = less.grad[j++];
                }
                CHECK(ref::grad_err(full.grad, expect) <= kGradTol);
                bool ignored_zero = true;
                for (int64_t s = 0; s < S; ++s)
                    if (p.y[s] == spec.ignore_index)
                        for (int64_t c = 0; c < spec.c; ++c) ignored_zero = ignored_zero && full.grad[s * spec.c + c] == 0.0f;
                CHECK(ignored_zero);
            }
    });
}

// ---- edge cases -------------------------------------------------------------------------------

TEST_CASE("all positions ignored: loss 0, gradient 0, valid 0, no NaN", "[losses][isa][edge]") {
    for_each_isa([&](const std::string &isa) {
        std::mt19937 rng = seeded(11);
        for (const Variant &base : option_matrix())
            for (segloss_layout layout : kLayouts) {
                ProblemSpec spec;
                spec.n = 2;
                spec.c = 3;
                spec.s = 19;
                spec.layout = layout;
                spec.p_ignore = 1.0;
                const Problem p = ref::make_problem(rng, spec);
                std::vector<float> st;
                const segloss_config cfg = materialise(base, p, st);
                INFO(ref::describe(cfg) << " | " << ref::describe(p));
                const ref::LibOut o = ref::run_lib(cfg, p.input());
                REQUIRE(o.status == SEGLOSS_OK);
                CHECK(o.result.loss == 0.0);
                CHECK(o.result.ce_term == 0.0);
                CHECK(o.result.dice_term == 0.0);
                CHECK(o.result.valid == 0);
                CHECK(std::all_of(o.grad.begin(), o.grad.end(), [](float g) { return g == 0.0f; }));
                record(isa, cfg.loss_type, std::fabs(o.result.loss), ref::max_abs(std::vector<double>(o.grad.begin(), o.grad.end())));
            }
    });
}

TEST_CASE("absent classes, class weights zero on every present class", "[losses][isa][edge]") {
    for_each_isa([&](const std::string &isa) {
        std::mt19937 rng = seeded(12);
        for (const Variant &base : option_matrix()) {
            ProblemSpec spec;
            spec.n = 2;
            spec.c = 6;
            spec.s = 23;
            spec.layout = (rng() & 1) ? SEGLOSS_NHWC : SEGLOSS_NCHW;
            spec.classes_used = 2;  // classes 2..5 absent
            spec.p_ignore = 0.1;
            check_vs_reference(isa, base, ref::make_problem(rng, spec));
        }
        // explicit weights that are 0 for the only classes present: CE term 0, no NaN
        for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL, SEGLOSS_FOCAL_DICE}) {
            ProblemSpec spec;
            spec.c = 4;
            spec.classes_used = 2;
            const Problem p = ref::make_problem(rng, spec);
            const float w[4] = {0.0f, 0.0f, 1.0f, 2.0f};
            segloss_config cfg;
            segloss_config_init(&cfg, t);
            cfg.class_weights = w;
            INFO(ref::describe(cfg) << " | " << ref::describe(p));
            const ref::RefOut want = ref::ref_loss(cfg, p.input());
            const ref::LibOut got = ref::run_lib(cfg, p.input());
            REQUIRE(got.status == SEGLOSS_OK);
            CHECK(got.result.ce_term == 0.0);
            CHECK(ref::rel_err(got.result.loss, want.loss) <= kLossTol);
            CHECK(ref::grad_err(got.grad, want.grad, 0.1 * want.grad_scale) <= kGradTol);
            CHECK(ref::all_finite(got.grad));
        }
    });
}

TEST_CASE("extreme logits (+-1e4, huge spread) and all-equal logits stay finite and exact", "[losses][isa][edge]") {
    for_each_isa([&](const std::string &isa) {
        std::mt19937 rng = seeded(13);
        std::uniform_int_distribution<int> coin(0, 1);
        std::uniform_real_distribution<double> wide(-1e4, 1e4);
        int k = 0;
        for (const Variant &base : representatives())
            for (segloss_layout layout : kLayouts)
                for (int kind = 0; kind < 5; ++kind) {
                    ProblemSpec spec;
                    spec.n = 2;
                    spec.c = 5;
                    spec.s = 37 + k++ % 5;
                    spec.layout = layout;
                    spec.p_ignore = 0.1;
                    Problem p = ref::make_problem(rng, spec);
                    for (float &z : p.logits) {
                        switch (kind) {
                        case 0: z = coin(rng) ? 1e4f : -1e4f; break;           // saturated both ways
                        case 1: z = static_cast<float>(wide(rng)); break;      // wide spread
                        case 2: z = 0.0f; break;                               // all equal
                        case 3: z = 1e4f; break;                               // all equal, large
                        case 4: z = -1e4f; break;                              // all equal, very negative
                        }
                    }
                    check_vs_reference(isa, base, p);
                }
    });
}

TEST_CASE("confident predictions: tiny CE-family losses keep their relative accuracy", "[losses][isa][edge]") {
    // The labelled class leads every other by about delta, so each term is ~C e^-delta. delta
    // stays below 20: beyond, the float64 reference's log(sum) itself loses the digits.
    for_each_isa([&](const std::string &isa) {
        std::mt19937 rng = seeded(21);
        std::uniform_real_distribution<double> jitter(0.0, 1.0);
        const std::vector<Variant> reps = representatives();
        for (int k = 0; k < 3; ++k)  // ce, weighted_ce, focal
            for (segloss_layout layout : kLayouts)
                for (double delta : {3.0, 9.0, 19.0}) {
                    ProblemSpec spec;
                    spec.n = 2;
                    spec.c = 5;
                    spec.s = 45;
                    spec.layout = layout;
                    Problem p = ref::make_problem(rng, spec);
                    for (int64_t n = 0; n < spec.n; ++n)
                        for (int64_t s = 0; s < spec.s; ++s)
                            for (int64_t c = 0; c < spec.c; ++c)
                                p.logits[ref::elem_index(layout, spec.c, spec.s, n, c, s)] =
                                    c == p.y[n * spec.s + s] ? 1.0f : static_cast<float>(1.0 - delta - jitter(rng));
                    check_vs_reference(isa, reps[k], p);  // its loss check is absolute below 0.1
                    std::vector<float> storage;
                    const segloss_config cfg = materialise(reps[k], p, storage);
                    const double want = ref::ref_loss(cfg, p.input()).loss, got = ref::run_lib(cfg, p.input()).result.loss;
                    INFO("isa " << isa << ": " << ref::describe(cfg) << " | delta " << delta << ": loss " << got << " want " << want);
                    CHECK(std::fabs(got - want) <= 1e-5 * want);
                }
    });
}

TEST_CASE("C = 1: the softmax refuses it, naming the sigmoid; the sigmoid without background has an empty K",
          "[losses][isa][edge]") {
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(16);
        for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_DICE, SEGLOSS_TVERSKY, SEGLOSS_FOCAL_DICE})
            for (segloss_layout layout : kLayouts) {
                ProblemSpec spec;
                spec.c = 1;
                spec.layout = layout;
                const Problem p = ref::make_problem(rng, spec);
                segloss_config cfg;
                segloss_config_init(&cfg, t);
                cfg.include_background = 0;
                INFO(ref::describe(cfg) << " | " << ref::describe(p));
                const segloss_input in = p.input();
                ref::LibOut o = ref::run_lib(cfg, in);
                REQUIRE(o.status == SEGLOSS_ERR_PARAM); // a constant loss: softmax over one class
                char msg[512];
                CHECK(std::string(segloss_error_message(o.status, &cfg, &in, &o.result, msg, sizeof msg)).find("SEGLOSS_SIGMOID") !=
                      std::string::npos);
                cfg.activation = SEGLOSS_SIGMOID;
                o = ref::run_lib(cfg, in);
                REQUIRE(o.status == SEGLOSS_OK);
                CHECK(o.result.dice_term == 0.0);
                if (t == SEGLOSS_DICE || t == SEGLOSS_TVERSKY) {
                    CHECK(o.result.loss == 0.0);
                    CHECK(std::all_of(o.grad.begin(), o.grad.end(), [](float g) { return g == 0.0f; }));
                } else {
                    CHECK(o.result.loss > 0.0); // the BCE or focal term of the one channel
                }
            }
    });
}

TEST_CASE("a gradient pointer of NULL gives the same loss (loss only)", "[losses][isa]") {
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(14);
        for (const Variant &v : option_matrix())
            for (segloss_layout layout : kLayouts) {
                const Problem p = default_problem(rng, layout, 1 + rng() % 90);
                std::vector<float> st;
                const segloss_config cfg = materialise(v, p, st);
                INFO(ref::describe(cfg) << " | " << ref::describe(p));
                const ref::LibOut with = ref::run_lib(cfg, p.input(), true), without = ref::run_lib(cfg, p.input(), false);
                REQUIRE(without.status == SEGLOSS_OK);
                // CE and focal fold the loss into the gradient pass, so the two sum in a
                // different order: equal to float32 reassociation, not bit for bit.
                const double d = std::max(ref::rel_err(without.result.loss, with.result.loss),
                                          std::max(ref::rel_err(without.result.ce_term, with.result.ce_term),
                                                   ref::rel_err(without.result.dice_term, with.result.dice_term)));
                loss_only_diff() = std::max(loss_only_diff(), d);
                CHECK(d <= kLossTol);
                CHECK(without.result.valid == with.result.valid);
            }
    });
}

TEST_CASE("in place: grad == logits overwrites the logits with the same gradient", "[losses][isa]") {
    for_each_isa([&](const std::string &) {
        std::mt19937 rng = seeded(15);
        for (const Variant &v : option_matrix())
            for (segloss_layout layout : kLayouts) {
                const Problem p = default_problem(rng, layout, 1 + rng() % 90);
                std::vector<float> st;
                const segloss_config cfg = materialise(v, p, st);
                INFO(ref::describe(cfg) << " | " << ref::describe(p));
                const ref::LibOut separate = ref::run_lib(cfg, p.input());
                std::vector<float> buf = p.logits;
                segloss_input in = p.input();
                in.logits = buf.data();
                segloss_result r;
                REQUIRE(segloss_compute(&cfg, &in, buf.data(), &r) == SEGLOSS_OK);
                CHECK(r.loss == separate.result.loss);
                CHECK(buf == separate.grad);
            }
    });
}

// ---- the closing table ----------------------------------------------------------------------

TEST_CASE("confusion counts match a scalar argmax on every path, with ties, infinities and NaN", "[metrics][isa]") {
    // Logits from a small set, so that ties, +-inf and NaN are everywhere; C up to 5000 takes
    // NHWC through the transposes and, past the buffer, row by row.
    const float vals[] = {-INFINITY, -1.0f, 0.0f, 0.0f, 2.0f, 2.0f, INFINITY, NAN};
    for_each_isa([&](const std::string &isa) {
        std::mt19937 rng = seeded(22);
        std::uniform_int_distribution<int> pick(0, 7);
        for (int64_t C : {1, 2, 3, 4, 5, 9, 21, 300, 5000})
            for (segloss_layout layout : kLayouts)
                for (int64_t S : {1, 7, 300}) {
                    // past the buffer (C > 4096) only NHWC reads rows, and C*C counts are large
                    if (C > 4096 && (layout != SEGLOSS_NHWC || S != 7)) continue;
                    const int64_t N = 2;
                    std::vector<float> z((size_t)(N * C * S));
                    std::vector<int64_t> y((size_t)(N * S));
                    for (float &v : z) v = vals[pick(rng)];
                    for (int64_t &l : y) l = pick(rng) == 0 ? -100 : (int64_t)(rng() % (uint64_t)C);
                    std::vector<int64_t> want((size_t)(C * C), 0), got((size_t)(C * C), 0);
                    for (int64_t n = 0; n < N; ++n)
                        for (int64_t s = 0; s < S; ++s) {
                            int64_t best = -1;
                            float bv = 0.0f;
                            for (int64_t c = 0; c < C; ++c) {
                                const float v = z[(size_t)ref::elem_index(layout, C, S, n, c, s)];
                                if (!std::isnan(v) && (best < 0 || v > bv)) {
                                    bv = v;
                                    best = c;
                                }
                            }
                            const int64_t l = y[(size_t)(n * S + s)];
                            if (l >= 0) want[(size_t)(l * C + (best < 0 ? 0 : best))]++;
                        }
                    segloss_input in;
                    in.logits = z.data();
                    in.labels = y.data();
                    in.label_type = SEGLOSS_LABEL_I64;
                    in.n = N;
                    in.c = C;
                    in.s = S;
                    in.layout = layout;
                    INFO("isa " << isa << " C " << C << " S " << S << (layout == SEGLOSS_NHWC ? " NHWC" : " NCHW"));
                    REQUIRE(segloss_confusion(&in, -100, got.data()) == SEGLOSS_OK);
                    size_t wrong = 0;  // counted: Catch would print all C*C entries
                    for (size_t i = 0; i < got.size(); ++i) wrong += got[i] != want[i];
                    CHECK(wrong == 0);
                }
    });
}

TEST_CASE("zz report: largest loss and gradient errors vs the float64 reference, per ISA and loss", "[report]") {
    std::ostringstream o;
    o << "\n==== segloss max errors vs float64 reference ====\n"
      << "loss error = |lib - ref| / max(|ref|, 0.1) over loss, ce_term, dice_term;\n"
      << "grad error = max |lib - ref| / max(max |ref grad|, 0.1 * grad_scale), grad_scale = size of the\n"
      << "             gradient's ingredients before cancellation (matters only where the softmax saturates)\n";
    if (error_table().empty()) o << "(no numeric test ran in this process)\n";
    o << std::left << std::setw(8) << "isa" << std::setw(13) << "loss" << std::setw(8) << "cases" << std::setw(14)
      << "max loss err" << "max grad err\n";
    for (const auto &isa : error_table())
        for (const auto &row : isa.second) {
            char a[32], b[32];
            std::snprintf(a, sizeof a, "%.3e", row.second.loss);
            std::snprintf(b, sizeof b, "%.3e", row.second.grad);
            o << std::left << std::setw(8) << isa.first << std::setw(13) << row.first << std::setw(8) << row.second.cases
              << std::setw(14) << a << b << "\n";
        }
    o << "loss with grad == NULL vs with a gradient: max rel diff " << loss_only_diff() << "\n";
    std::cout << o.str() << std::flush;
    SUCCEED("report printed");
}
