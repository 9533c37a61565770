// tests/unit/test_twophase.cpp — accumulate / finish / backward over any slicing of the batch give
// what one segloss_compute gives (segloss.h section 4: segloss_compute runs exactly these
// phases), and statistics add up element-wise.
#include "catch2/catch.hpp"
#include "../../segloss.h"
#include "reference.hpp"

#include <algorithm>
#include <iostream>

using ref::Problem;
using ref::ProblemSpec;

namespace {

// One slice: samples [first, first + n), positions [s0, s0 + len) of each (len == S unless n == 1).
struct Slice {
    int64_t first, n, s0, len;
};

segloss_input slice_input(const Problem &p, const Slice &sl) {
    const int64_t C = p.spec.c, S = p.spec.s;
    segloss_input in = p.input();
    const size_t label_size = p.spec.label_type == SEGLOSS_LABEL_U8 ? 1 : p.spec.label_type == SEGLOSS_LABEL_I32 ? 4 : 8;
    const int64_t pos0 = sl.first * S + sl.s0;  // flat position of the slice's first label
    in.labels = static_cast<const char *>(in.labels) + pos0 * static_cast<int64_t>(label_size);
    in.logits = p.logits.data() + (p.spec.layout == SEGLOSS_NCHW ? sl.first * C * S : pos0 * C);
    in.n = sl.n;
    in.s = sl.len;
    return in;
}

// Samples cut into random contiguous ranges.
std::vector<Slice> sample_slicing(std::mt19937 &rng, int64_t N, int64_t S) {
    std::vector<Slice> out;
    for (int64_t first = 0; first < N;) {
        const int64_t n = 1 + static_cast<int64_t>(rng() % static_cast<unsigned>(N - first));
        out.push_back({first, n, 0, S});
        first += n;
    }
    return out;
}

// NHWC: each sample either whole or cut into random position ranges; some whole samples merged.
std::vector<Slice> position_slicing(std::mt19937 &rng, int64_t N, int64_t S) {
    std::vector<Slice> out;
    for (int64_t n = 0; n < N; ++n) {
        if (rng() % 4 == 0 && n + 1 < N) {  // two whole samples in one slice
            out.push_back({n, 2, 0, S});
            ++n;
            continue;
        }
        for (int64_t s0 = 0; s0 < S;) {
            const int64_t len = 1 + static_cast<int64_t>(rng() % static_cast<unsigned>(std::min<int64_t>(S - s0, 40)));
            out.push_back({n, 1, s0, len});
            s0 += len;
        }
    }
    return out;
}

struct TwoPhaseOut {
    segloss_result result{};
    std::vector<float> grad;
    std::vector<double> stats;
};

// accumulate every slice (shuffled order), finish, backward every slice (another order).
TwoPhaseOut run_two_phase(const segloss_config &cfg, const Problem &p, std::vector<Slice> slices, std::mt19937 &rng) {
    TwoPhaseOut o;
    const int64_t len = segloss_stats_len(&cfg, p.spec.n, p.spec.c);
    REQUIRE(len > 0);
    o.stats.assign(static_cast<size_t>(len), 0.0);
    segloss_stats st = {p.spec.n, p.spec.c, o.stats.data()};
    std::shuffle(slices.begin(), slices.end(), rng);
    for (const Slice &sl : slices) {
        const segloss_input in = slice_input(p, sl);
        REQUIRE(segloss_accumulate(&cfg, &in, sl.first, &st) == SEGLOSS_OK);
    }
    REQUIRE(segloss_finish(&cfg, &st, &o.result) == SEGLOSS_OK);
    o.grad.assign(static_cast<size_t>(p.total()), 12345.0f);
    std::shuffle(slices.begin(), slices.end(), rng);
    for (const Slice &sl : slices) {
        const segloss_input in = slice_input(p, sl);
        const int64_t off = static_cast<int64_t>(in.logits - p.logits.data());
        REQUIRE(segloss_backward(&cfg, &in, sl.first, &st, o.grad.data() + off) == SEGLOSS_OK);
    }
    return o;
}

std::string describe(const std::vector<Slice> &slices) {
    std::ostringstream o;
    for (const Slice &s : slices) o << "[n" << s.first << "+" << s.n << " s" << s.s0 << "+" << s.len << "] ";
    return o.str();
}

// Configurations: every loss, per_sample on/off, both reductions, automatic weights for the
// CE family (the counts must add up across slices too).
std::vector<segloss_config> configs() {
    std::vector<segloss_config> out;
    const segloss_loss_type all[] = {SEGLOSS_CE,   SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL,
                                     SEGLOSS_DICE, SEGLOSS_FOCAL_DICE,  SEGLOSS_TVERSKY};
    for (segloss_loss_type t : all)
        for (int ps = 0; ps < 2; ++ps)
            for (segloss_reduction r : {SEGLOSS_MEAN, SEGLOSS_SUM}) {
                segloss_config c;
                segloss_config_init(&c, t);
                c.per_sample = ps;
                c.reduction = r;
                c.include_background = ps;  // both values covered
                if (t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE) c.use_class_weighting = 1;
                if (t == SEGLOSS_FOCAL && ps) c.focal_gamma = 0.5f;
                out.push_back(c);
            }
    return out;
}

struct Worst {
    double loss_samples = 0, loss_positions = 0, grad = 0;
};
Worst &worst() {
    static Worst w;
    return w;
}

void compare_with_compute(segloss_config cfg, const Problem &p, const std::vector<Slice> &slices,
                          std::mt19937 &rng, bool position_slices) {
    cfg.ignore_index = p.spec.ignore_index;
    INFO(ref::describe(cfg) << " | " << ref::describe(p) << " | slices " << describe(slices));
    const TwoPhaseOut two = run_two_phase(cfg, p, slices, rng);
    const ref::LibOut one = ref::run_lib(cfg, p.input(), true);
    const ref::LibOut one_loss_only = ref::run_lib(cfg, p.input(), false);
    REQUIRE(one.status == SEGLOSS_OK);
    REQUIRE(one_loss_only.status == SEGLOSS_OK);
    // Sample-range slices keep every float block of the one-call path, so for Dice and Tversky
    // only the double sums are reassociated: 1e-9. The CE family's one call sums w[y] * term in
    // its fused pass, while the two phases sum per class and weight at the end; position ranges
    // (NHWC) also move float block boundaries: 1e-6 for both.
    const bool ce_family = cfg.loss_type == SEGLOSS_CE || cfg.loss_type == SEGLOSS_WEIGHTED_CE ||
                           cfg.loss_type == SEGLOSS_FOCAL;
    const double loss_tol = position_slices || ce_family ? 1e-6 : 1e-9;
    const double e_loss = std::max(ref::rel_err(two.result.loss, one_loss_only.result.loss),
                                   std::max(ref::rel_err(two.result.ce_term, one_loss_only.result.ce_term),
                                            ref::rel_err(two.result.dice_term, one_loss_only.result.dice_term)));
    double &w = position_slices ? worst().loss_positions : worst().loss_samples;
    w = std::max(w, e_loss);
    INFO("two-phase loss " << two.result.loss << " one call " << one_loss_only.result.loss);
    CHECK(e_loss <= loss_tol);
    CHECK(ref::rel_err(two.result.loss, one.result.loss) <= 1e-6);  // fused CE path: float lanes
    CHECK(two.result.valid == one.result.valid);
    CHECK(two.result.bad_position == -1);
    const double e_grad = ref::grad_err(two.grad, std::vector<double>(one.grad.begin(), one.grad.end()));
    worst().grad = std::max(worst().grad, e_grad);
    CHECK(e_grad <= 1e-6);
}

}  // namespace

TEST_CASE("two-phase over random sample-range slicings equals one segloss_compute (NCHW and NHWC)",
          "[twophase]") {
    std::mt19937 rng(4242);
    for (const segloss_config &cfg : configs())
        for (segloss_layout layout : {SEGLOSS_NCHW, SEGLOSS_NHWC})
            for (int rep = 0; rep < 3; ++rep) {
                ProblemSpec spec;
                spec.n = 1 + static_cast<int64_t>(rng() % 5);
                spec.c = 2 + static_cast<int64_t>(rng() % 5);
                spec.s = 1 + static_cast<int64_t>(rng() % 300);
                spec.layout = layout;
                spec.label_type = static_cast<segloss_label_type>(rep % 3);
                spec.ignore_index = spec.label_type == SEGLOSS_LABEL_U8 ? 255 : -100;
                spec.p_ignore = 0.1;
                const Problem p = ref::make_problem(rng, spec);
                compare_with_compute(cfg, p, sample_slicing(rng, spec.n, spec.s), rng, false);
            }
}

TEST_CASE("two-phase over NHWC position ranges within samples equals one segloss_compute", "[twophase]") {
    std::mt19937 rng(4343);
    for (const segloss_config &cfg : configs())
        for (int rep = 0; rep < 3; ++rep) {
            ProblemSpec spec;
            spec.n = 1 + static_cast<int64_t>(rng() % 4);
            spec.c = 2 + static_cast<int64_t>(rng() % 6);
            spec.s = 1 + static_cast<int64_t>(rng() % 600);
            spec.layout = SEGLOSS_NHWC;
            spec.label_type = static_cast<segloss_label_type>(rep % 3);
            spec.ignore_index = spec.label_type == SEGLOSS_LABEL_U8 ? 255 : -100;
            spec.p_ignore = 0.1;
            const Problem p = ref::make_problem(rng, spec);
            compare_with_compute(cfg, p, position_slicing(rng, spec.n, spec.s), rng, true);
        }
}

TEST_CASE("two-phase: one slice per sample, per_sample Dice lands in that sample's statistics", "[twophase]") {
    // The minimal case of slicing: N=2, each sample accumulated on its own.
    std::mt19937 rng(4444);
    for (segloss_loss_type t : {SEGLOSS_DICE, SEGLOSS_TVERSKY, SEGLOSS_FOCAL_DICE})
        for (segloss_layout layout : {SEGLOSS_NCHW, SEGLOSS_NHWC}) {
            segloss_config cfg;
            segloss_config_init(&cfg, t);
            cfg.per_sample = 1;
            ProblemSpec spec;
            spec.n = 2;
            spec.c = 3;
            spec.s = 20;
            spec.layout = layout;
            const Problem p = ref::make_problem(rng, spec);
            const std::vector<Slice> slices = {{0, 1, 0, spec.s}, {1, 1, 0, spec.s}};
            compare_with_compute(cfg, p, slices, rng, false);
        }
}

TEST_CASE("statistics of two halves, summed element-wise, equal one accumulate over the whole", "[twophase]") {
    std::mt19937 rng(4545);
    for (segloss_config cfg : configs())
        for (segloss_layout layout : {SEGLOSS_NCHW, SEGLOSS_NHWC}) {
            ProblemSpec spec;
            spec.n = 2 + static_cast<int64_t>(rng() % 4);
            spec.c = 2 + static_cast<int64_t>(rng() % 5);
            spec.s = 1 + static_cast<int64_t>(rng() % 200);
            spec.layout = layout;
            spec.p_ignore = 0.1;
            const Problem p = ref::make_problem(rng, spec);
            INFO(ref::describe(cfg) << " | " << ref::describe(p));
            const int64_t len = segloss_stats_len(&cfg, spec.n, spec.c);
            REQUIRE(len > 0);
            std::vector<double> whole(static_cast<size_t>(len), 0.0), a(whole), b(whole);
            segloss_stats sw = {spec.n, spec.c, whole.data()}, sa = {spec.n, spec.c, a.data()}, sb = {spec.n, spec.c, b.data()};
            const int64_t half = spec.n / 2;
            const segloss_input all = slice_input(p, {0, spec.n, 0, spec.s});
            const segloss_input first = slice_input(p, {0, half, 0, spec.s});
            const segloss_input second = slice_input(p, {half, spec.n - half, 0, spec.s});
            REQUIRE(segloss_accumulate(&cfg, &all, 0, &sw) == SEGLOSS_OK);
            REQUIRE(segloss_accumulate(&cfg, &first, 0, &sa) == SEGLOSS_OK);
            REQUIRE(segloss_accumulate(&cfg, &second, half, &sb) == SEGLOSS_OK);
            double scale = 0, err = 0;
            for (size_t i = 0; i < whole.size(); ++i) {
                scale = std::max(scale, std::fabs(whole[i]));
                err = std::max(err, std::fabs(a[i] + b[i] - whole[i]));
            }
            CHECK(err <= 1e-12 * std::max(scale, 1.0));
            // and finishing the summed statistics gives the whole batch's loss
            std::vector<double> sum(whole.size());
            for (size_t i = 0; i < sum.size(); ++i) sum[i] = a[i] + b[i];
            segloss_stats ss = {spec.n, spec.c, sum.data()};
            segloss_result r1, r2;
            REQUIRE(segloss_finish(&cfg, &ss, &r1) == SEGLOSS_OK);
            REQUIRE(segloss_finish(&cfg, &sw, &r2) == SEGLOSS_OK);
            CHECK(ref::rel_err(r1.loss, r2.loss) <= 1e-12);
            CHECK(r1.valid == r2.valid);
        }
}

TEST_CASE("two-phase matches the float64 reference, including per_sample with single-sample slices", "[twophase]") {
    std::mt19937 rng(4646);
    for (segloss_config cfg : configs()) {
        ProblemSpec spec;
        spec.n = 3;
        spec.c = 4;
        spec.s = 50;
        spec.layout = SEGLOSS_NHWC;
        spec.p_ignore = 0.1;
        const Problem p = ref::make_problem(rng, spec);
        const std::vector<Slice> slices = position_slicing(rng, spec.n, spec.s);
        INFO(ref::describe(cfg) << " | " << ref::describe(p) << " | slices " << describe(slices));
        const TwoPhaseOut two = run_two_phase(cfg, p, slices, rng);
        const ref::RefOut want = ref::ref_loss(cfg, p.input());
        CHECK(ref::rel_err(two.result.loss, want.loss) <= 1e-6);
        CHECK(ref::grad_err(two.grad, want.grad, 0.1 * want.grad_scale) <= 1e-5);
    }
}

TEST_CASE("zz report: two-phase vs one call, largest differences", "[report][twophase]") {
    std::cout << "\n==== segloss two-phase vs segloss_compute ====\n"
              << "max loss rel diff, sample-range slices:   " << worst().loss_samples << "\n"
              << "max loss rel diff, NHWC position slices:  " << worst().loss_positions << "\n"
              << "max grad diff / max|grad|:                " << worst().grad << "\n"
              << std::flush;
    SUCCEED("report printed");
}
