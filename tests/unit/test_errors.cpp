// tests/unit/test_errors.cpp — every error status of segloss_compute and of the two-phase entry
// points: the code, a message, the gradient and statistics buffers left byte-for-byte
// untouched, and the result struct reporting the error as api.h documents (NaN terms, valid 0,
// bad_position) or untouched when cfg, in or out is NULL.
#include "catch2/catch.hpp"
#include "../../segloss.h"
#include "reference.hpp"

#include <cstring>
#include <limits>

using ref::Problem;
using ref::ProblemSpec;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// Output buffers filled with canaries, and a snapshot to prove they were not touched.
struct Canary {
    std::vector<float> grad;
    segloss_result result;
    std::vector<unsigned char> grad_bytes, result_bytes;

    explicit Canary(size_t n) : grad(n) {
        // alternate a NaN payload and an ordinary value, so both "any write" and "write of a
        // NaN" would show
        const uint32_t nan_bits = 0x7fc00badu;
        for (size_t i = 0; i < n; ++i) {
            if (i % 2 == 0) std::memcpy(&grad[i], &nan_bits, 4);
            else grad[i] = 12345.0f;
        }
        std::memset(&result, 0xAB, sizeof result);
        grad_bytes.assign(reinterpret_cast<unsigned char *>(grad.data()),
                          reinterpret_cast<unsigned char *>(grad.data()) + n * sizeof(float));
        result_bytes.assign(reinterpret_cast<unsigned char *>(&result),
                            reinterpret_cast<unsigned char *>(&result) + sizeof result);
    }
    bool grad_untouched() const {
        return grad.empty() || std::memcmp(grad.data(), grad_bytes.data(), grad_bytes.size()) == 0;
    }
    bool result_untouched() const { return std::memcmp(&result, result_bytes.data(), sizeof result) == 0; }
    // api.h (segloss_compute): "on error grad is untouched and *out only reports the error
    // (loss, ce_term and dice_term NaN, valid 0, bad_position the offending position or -1);
    // *out is untouched only when out itself or cfg or in is NULL."
    bool result_reports_error(int64_t bad_position) const {
        return std::isnan(result.loss) && std::isnan(result.ce_term) && std::isnan(result.dice_term) &&
               result.valid == 0 && result.bad_position == bad_position;
    }
};

void check_message(segloss_status st) {
    const char *msg = segloss_status_string(st);
    const char *ok = segloss_status_string(SEGLOSS_OK);
    REQUIRE(msg != nullptr);
    REQUIRE(ok != nullptr);
    CHECK(std::strlen(msg) > 0);
    CHECK(std::string(msg) != std::string(ok));
}

// A small valid problem: N=2, C=3, S=10, NCHW, i64 labels, no ignored position.
Problem base_problem(segloss_layout layout = SEGLOSS_NCHW) {
    std::mt19937 rng(777);
    ProblemSpec spec;
    spec.n = 2;
    spec.c = 3;
    spec.s = 10;
    spec.layout = layout;
    return ref::make_problem(rng, spec);
}

segloss_config config(segloss_loss_type t) {
    segloss_config cfg;
    segloss_config_init(&cfg, t);
    return cfg;
}

// segloss_compute(cfg, in, canary grad, canary out) returns `want`, leaves grad untouched, and
// *out reports the error (or is untouched when cfg or in is NULL). grad_elems: canary size.
void expect_compute_error(segloss_status want, const segloss_config *cfg, const segloss_input *in,
                          size_t grad_elems = 60, bool pass_out = true) {
    Canary k(grad_elems);
    const segloss_status st = segloss_compute(cfg, in, k.grad.data(), pass_out ? &k.result : nullptr);
    CHECK(st == want);
    check_message(st);
    CHECK(k.grad_untouched());
    if (cfg && in) CHECK(k.result_reports_error(-1));
    else CHECK(k.result_untouched());
}

// Runs the check for every loss type with the given mutation applied to a fresh config.
template <class Mutate>
void expect_error_for_losses(segloss_status want, std::initializer_list<segloss_loss_type> losses, Mutate mutate) {
    const Problem p = base_problem();
    for (segloss_loss_type t : losses) {
        segloss_config cfg = config(t);
        mutate(cfg);
        const segloss_input in = p.input();
        INFO(ref::describe(cfg));
        expect_compute_error(want, &cfg, &in, static_cast<size_t>(p.total()));
    }
}

const std::initializer_list<segloss_loss_type> kAll = {SEGLOSS_CE,   SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL,
                                                       SEGLOSS_DICE, SEGLOSS_FOCAL_DICE,  SEGLOSS_TVERSKY};

}  // namespace

TEST_CASE("status strings: every status has its own non-empty message", "[errors]") {
    std::vector<std::string> seen;
    for (int s = SEGLOSS_OK; s <= SEGLOSS_ERR_PARSE; ++s) {
        const char *m = segloss_status_string(static_cast<segloss_status>(s));
        REQUIRE(m != nullptr);
        CHECK(std::strlen(m) > 0);
        INFO("status " << s << ": " << m);
        CHECK(std::find(seen.begin(), seen.end(), std::string(m)) == seen.end());
        seen.push_back(m);
    }
    const char *unknown = segloss_status_string(static_cast<segloss_status>(99));
    REQUIRE(unknown != nullptr);
    CHECK(std::strlen(unknown) > 0);
}

TEST_CASE("the base problem of the error tests is valid (so each error below has one cause)", "[errors]") {
    const Problem p = base_problem();
    for (segloss_loss_type t : kAll) {
        const segloss_config cfg = config(t);
        const ref::LibOut o = ref::run_lib(cfg, p.input());
        CHECK(o.status == SEGLOSS_OK);
    }
}

TEST_CASE("SEGLOSS_ERR_NULL: NULL cfg, input, logits, labels or result", "[errors]") {
    const Problem p = base_problem();
    const segloss_config cfg = config(SEGLOSS_FOCAL_DICE);
    const segloss_input in = p.input();
    SECTION("cfg") { expect_compute_error(SEGLOSS_ERR_NULL, nullptr, &in); }
    SECTION("input") { expect_compute_error(SEGLOSS_ERR_NULL, &cfg, nullptr); }
    SECTION("logits") {
        segloss_input bad = in;
        bad.logits = nullptr;
        expect_compute_error(SEGLOSS_ERR_NULL, &cfg, &bad);
    }
    SECTION("labels") {
        segloss_input bad = in;
        bad.labels = nullptr;
        expect_compute_error(SEGLOSS_ERR_NULL, &cfg, &bad);
    }
    SECTION("result") {
        Canary k(60);  // api.h: "out is required"
        CHECK(segloss_compute(&cfg, &in, k.grad.data(), nullptr) == SEGLOSS_ERR_NULL);
        CHECK(k.grad_untouched());
    }
}

TEST_CASE("SEGLOSS_ERR_SHAPE: n, c or s zero, negative, or a product that overflows int64", "[errors]") {
    const Problem p = base_problem();
    const segloss_config cfg = config(SEGLOSS_CE);
    const int64_t big = int64_t(1) << 22;
    struct Shape {
        int64_t n, c, s;
    };
    const Shape shapes[] = {{0, 3, 10},  {2, 0, 10},  {2, 3, 0},   {-1, 3, 10}, {2, -3, 10},
                            {2, 3, -10}, {big, big, big}, {INT64_MAX, 2, 1}, {1, INT64_MAX, 3},
                            {INT64_MIN, 3, 10}};
    for (const Shape &sh : shapes) {
        segloss_input in = p.input();
        in.n = sh.n;
        in.c = sh.c;
        in.s = sh.s;
        INFO("n=" << sh.n << " c=" << sh.c << " s=" << sh.s);
        expect_compute_error(SEGLOSS_ERR_SHAPE, &cfg, &in);
    }
}

TEST_CASE("SEGLOSS_ERR_ENUM: unknown loss type, label type, layout or reduction", "[errors]") {
    // Unknown values: just past the last enumerator, 7, 99 and 2^31-1. The *_MAX_ENUM =
    // 0x7FFFFFFF enumerators make 0..2^31-1 defined values of each enum in C++; negative values
    // are outside a C++ enum's range (undefined behaviour), so they are tested from C, in
    // tests/reliability/regress.c.
    const Problem p = base_problem();
    struct Bad {
        int loss, label, layout, reduction;
    };
    for (const Bad &b : {Bad{SEGLOSS_LOSS_COUNT, 5, 2, 2}, Bad{7, 5, 99, 99}, Bad{99, 99, 0x7FFFFFFF, 0x7FFFFFFF}, Bad{0x7FFFFFFF, 0x7FFFFFFF, 2, 2}}) {
        INFO("loss " << b.loss << " label " << b.label << " layout " << b.layout << " reduction " << b.reduction);
        segloss_config cfg = config(SEGLOSS_CE);
        segloss_input in = p.input();
        cfg.loss_type = static_cast<segloss_loss_type>(b.loss);
        expect_compute_error(SEGLOSS_ERR_ENUM, &cfg, &in);
        cfg = config(SEGLOSS_CE);
        cfg.reduction = static_cast<segloss_reduction>(b.reduction);
        expect_compute_error(SEGLOSS_ERR_ENUM, &cfg, &in);
        cfg = config(SEGLOSS_CE);
        in.label_type = static_cast<segloss_label_type>(b.label);
        expect_compute_error(SEGLOSS_ERR_ENUM, &cfg, &in);
        in = p.input();
        in.layout = static_cast<segloss_layout>(b.layout);
        expect_compute_error(SEGLOSS_ERR_ENUM, &cfg, &in);
    }
}

TEST_CASE("SEGLOSS_ERR_PARAM: gamma, smooth, alpha, beta out of domain or NaN; both combination weights 0",
          "[errors]") {
    for (float bad : {-0.5f, kNaN, kInf, -kInf}) {
        INFO("bad value " << bad);
        expect_error_for_losses(SEGLOSS_ERR_PARAM, {SEGLOSS_FOCAL, SEGLOSS_FOCAL_DICE},
                                [&](segloss_config &c) { c.focal_gamma = bad; });
        expect_error_for_losses(SEGLOSS_ERR_PARAM, {SEGLOSS_DICE, SEGLOSS_FOCAL_DICE, SEGLOSS_TVERSKY},
                                [&](segloss_config &c) { c.dice_smooth = bad; });
        expect_error_for_losses(SEGLOSS_ERR_PARAM, {SEGLOSS_TVERSKY}, [&](segloss_config &c) { c.tversky_alpha = bad; });
        expect_error_for_losses(SEGLOSS_ERR_PARAM, {SEGLOSS_TVERSKY}, [&](segloss_config &c) { c.tversky_beta = bad; });
        expect_error_for_losses(SEGLOSS_ERR_PARAM, {SEGLOSS_FOCAL_DICE}, [&](segloss_config &c) { c.focal_weight = bad; });
        expect_error_for_losses(SEGLOSS_ERR_PARAM, {SEGLOSS_FOCAL_DICE}, [&](segloss_config &c) { c.dice_weight = bad; });
    }
    expect_error_for_losses(SEGLOSS_ERR_PARAM, {SEGLOSS_FOCAL_DICE}, [](segloss_config &c) {
        c.focal_weight = 0.0f;
        c.dice_weight = 0.0f;
    });
}

TEST_CASE("SEGLOSS_ERR_WEIGHTS: a negative, NaN or infinite class weight", "[errors]") {
    for (float bad : {-1.0f, -1e-30f, kNaN, kInf}) {
        for (int where = 0; where < 3; ++where) {
            float w[3] = {1.0f, 2.0f, 0.5f};
            w[where] = bad;
            INFO("weight[" << where << "] = " << bad);
            expect_error_for_losses(SEGLOSS_ERR_WEIGHTS, {SEGLOSS_CE, SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL, SEGLOSS_FOCAL_DICE},
                                    [&](segloss_config &c) { c.class_weights = w; });
        }
    }
}

namespace {
// A label error: status LABEL, gradient untouched, *out reports the error with bad_position =
// the first bad flat index n*S+s.
template <class T>
void expect_label_error(std::vector<T> labels, int64_t ignore_index, segloss_label_type lt, int64_t first_bad,
                        segloss_layout layout = SEGLOSS_NCHW) {
    const Problem p = base_problem(layout);
    REQUIRE(labels.size() == static_cast<size_t>(p.spec.n * p.spec.s));
    for (segloss_loss_type t : kAll) {
        segloss_config cfg = config(t);
        cfg.ignore_index = ignore_index;
        segloss_input in = p.input();
        in.labels = labels.data();
        in.label_type = lt;
        INFO(ref::describe(cfg) << " expected first bad position " << first_bad);
        Canary k(static_cast<size_t>(p.total()));
        const segloss_status st = segloss_compute(&cfg, &in, k.grad.data(), &k.result);
        CHECK(st == SEGLOSS_ERR_LABEL);
        check_message(st);
        CHECK(k.grad_untouched());
        CHECK(k.result.bad_position == first_bad);
        CHECK(k.result_reports_error(first_bad));
    }
}
}  // namespace

TEST_CASE("SEGLOSS_ERR_LABEL: label C, -1, or 255 in u8 without ignore_index 255; first position reported",
          "[errors]") {
    const size_t P = 20;  // N=2 x S=10
    SECTION("label == C (i64), later ones bad too") {
        std::vector<int64_t> y(P, 1);
        y[13] = 3;
        y[17] = 7;
        expect_label_error(y, -100, SEGLOSS_LABEL_I64, 13);
    }
    SECTION("label -1 with ignore_index -100 (i32)") {
        std::vector<int32_t> y(P, 0);
        y[4] = -1;
        expect_label_error(y, -100, SEGLOSS_LABEL_I32, 4);
    }
    SECTION("label 255 in u8 with ignore_index -100") {
        std::vector<uint8_t> y(P, 2);
        y[19] = 255;
        expect_label_error(y, -100, SEGLOSS_LABEL_U8, 19);
    }
    SECTION("ignore_index positions before a bad one are skipped, NHWC") {
        std::vector<int64_t> y(P, 0);
        y[0] = 255;
        y[1] = 255;
        y[2] = -100;
        expect_label_error(y, 255, SEGLOSS_LABEL_I64, 2, SEGLOSS_NHWC);
    }
    SECTION("the very first position") {
        std::vector<int32_t> y(P, 0);
        y[0] = 3;
        y[11] = 3;
        expect_label_error(y, -100, SEGLOSS_LABEL_I32, 0);
    }
    SECTION("a large int64 label that truncates to a valid int32 is still bad") {
        std::vector<int64_t> y(P, 0);
        y[9] = (int64_t(1) << 32) + 1;
        expect_label_error(y, -100, SEGLOSS_LABEL_I64, 9);
    }
}

TEST_CASE("SEGLOSS_ERR_NONFINITE: check_finite with a NaN or infinite logit reports the first element", "[errors]") {
    for (segloss_layout layout : {SEGLOSS_NCHW, SEGLOSS_NHWC})
        for (float bad : {kNaN, kInf, -kInf})
            for (segloss_loss_type t : kAll) {
                Problem p = base_problem(layout);
                p.logits[37] = bad;
                p.logits[51] = kNaN;
                segloss_config cfg = config(t);
                cfg.check_finite = 1;
                const segloss_input in = p.input();
                INFO(ref::describe(cfg) << " " << ref::layout_name(layout) << " bad=" << bad);
                Canary k(static_cast<size_t>(p.total()));
                const segloss_status st = segloss_compute(&cfg, &in, k.grad.data(), &k.result);
                CHECK(st == SEGLOSS_ERR_NONFINITE);
                check_message(st);
                CHECK(k.grad_untouched());
                CHECK(k.result.bad_position == 37);
                CHECK(k.result_reports_error(37));
            }
}

TEST_CASE("check_finite accepts finite logits, including +-FLT_MAX", "[errors]") {
    Problem p = base_problem();
    p.logits[3] = std::numeric_limits<float>::max();
    p.logits[4] = -std::numeric_limits<float>::max();
    segloss_config cfg = config(SEGLOSS_CE);
    cfg.check_finite = 1;
    const ref::LibOut o = ref::run_lib(cfg, p.input());
    CHECK(o.status == SEGLOSS_OK);
}

TEST_CASE("SEGLOSS_ERR_ALIAS: a gradient buffer that partly overlaps the logits", "[errors]") {
    const Problem p = base_problem();
    const size_t total = static_cast<size_t>(p.total());
    for (segloss_loss_type t : kAll)
        for (ptrdiff_t shift : {ptrdiff_t(1), ptrdiff_t(-1), ptrdiff_t(total / 2), -ptrdiff_t(total - 1)}) {
            // one buffer with room on both sides; logits in the middle
            std::vector<float> buf(3 * total, 0.0f);
            std::copy(p.logits.begin(), p.logits.end(), buf.begin() + total);
            std::vector<float> snapshot = buf;
            segloss_input in = p.input();
            in.logits = buf.data() + total;
            const segloss_config cfg = config(t);
            Canary k(0);
            INFO(ref::describe(cfg) << " shift " << shift);
            const segloss_status st = segloss_compute(&cfg, &in, buf.data() + total + shift, &k.result);
            CHECK(st == SEGLOSS_ERR_ALIAS);
            check_message(st);
            CHECK(std::memcmp(buf.data(), snapshot.data(), buf.size() * sizeof(float)) == 0);
            CHECK(k.result_reports_error(-1));
        }
}

TEST_CASE("a gradient buffer adjacent to the logits is not an alias", "[errors]") {
    const Problem p = base_problem();
    const size_t total = static_cast<size_t>(p.total());
    std::vector<float> buf(2 * total);
    std::copy(p.logits.begin(), p.logits.end(), buf.begin());
    segloss_input in = p.input();
    in.logits = buf.data();
    const segloss_config cfg = config(SEGLOSS_DICE);
    segloss_result r;
    CHECK(segloss_compute(&cfg, &in, buf.data() + total, &r) == SEGLOSS_OK);
}

// ---- two-phase entry points -----------------------------------------------------------------

namespace {
// A valid focal_dice (per_sample) batch with its statistics accumulated.
struct TwoPhase {
    Problem p;
    segloss_config cfg;
    segloss_input in;
    std::vector<double> buf;
    segloss_stats st;
    TwoPhase() : p(base_problem()), cfg(config(SEGLOSS_FOCAL_DICE)) {
        cfg.per_sample = 1;
        in = p.input();
        const int64_t len = segloss_stats_len(&cfg, p.spec.n, p.spec.c);
        REQUIRE(len > 0);
        buf.assign(static_cast<size_t>(len), 0.0);
        st.n = p.spec.n;
        st.c = p.spec.c;
        st.sum = buf.data();
        REQUIRE(segloss_accumulate(&cfg, &in, 0, &st) == SEGLOSS_OK);
    }
};

// stats buffer untouched by a failed accumulate
void expect_accumulate_error(segloss_status want, const segloss_config *cfg, const segloss_input *in, int64_t first,
                             segloss_stats *st) {
    std::vector<double> before;
    if (st && st->sum && st->n > 0 && st->c > 0 && cfg) {
        const int64_t len = segloss_stats_len(cfg, st->n, st->c);
        if (len > 0) before.assign(st->sum, st->sum + len);
    }
    const segloss_status s = segloss_accumulate(cfg, in, first, st);
    CHECK(s == want);
    check_message(s);
    if (!before.empty()) CHECK(std::memcmp(before.data(), st->sum, before.size() * sizeof(double)) == 0);
}

void expect_backward_error(segloss_status want, const segloss_config *cfg, const segloss_input *in, int64_t first,
                           const segloss_stats *st, size_t grad_elems = 60, bool pass_grad = true) {
    Canary k(grad_elems);
    const segloss_status s = segloss_backward(cfg, in, first, st, pass_grad ? k.grad.data() : nullptr);
    CHECK(s == want);
    check_message(s);
    CHECK(k.grad_untouched());
}

// segloss_finish reports an error in *out the way segloss_compute does: *out is untouched only
// when cfg, stats or out itself is NULL (api.h).
void expect_finish_error(segloss_status want, const segloss_config *cfg, const segloss_stats *st) {
    Canary k(0);
    const segloss_status s = segloss_finish(cfg, st, &k.result);
    CHECK(s == want);
    check_message(s);
    if (!cfg || !st) CHECK(k.result_untouched());
    else CHECK(k.result_reports_error(-1));
}
}  // namespace

TEST_CASE("segloss_stats_len: 0 for an invalid configuration or batch", "[errors][twophase]") {
    const segloss_config cfg = config(SEGLOSS_DICE);
    CHECK(segloss_stats_len(&cfg, 2, 3) > 0);
    CHECK(segloss_stats_len(nullptr, 2, 3) == 0);
    CHECK(segloss_stats_len(&cfg, 0, 3) == 0);
    CHECK(segloss_stats_len(&cfg, 2, 0) == 0);
    CHECK(segloss_stats_len(&cfg, -2, 3) == 0);
    CHECK(segloss_stats_len(&cfg, 2, -3) == 0);
    CHECK(segloss_stats_len(&cfg, int64_t(1) << 40, int64_t(1) << 40) == 0);
    segloss_config bad = cfg;
    bad.loss_type = static_cast<segloss_loss_type>(99);
    CHECK(segloss_stats_len(&bad, 2, 3) == 0);
}

TEST_CASE("segloss_accumulate errors: NULLs, stats that do not match, first_sample out of range", "[errors][twophase]") {
    TwoPhase t;
    segloss_input in = t.in;
    SECTION("NULL cfg, slice, stats, stats->sum") {
        expect_accumulate_error(SEGLOSS_ERR_NULL, nullptr, &in, 0, &t.st);
        expect_accumulate_error(SEGLOSS_ERR_NULL, &t.cfg, nullptr, 0, &t.st);
        expect_accumulate_error(SEGLOSS_ERR_NULL, &t.cfg, &in, 0, nullptr);
        segloss_stats no_sum = t.st;
        no_sum.sum = nullptr;
        expect_accumulate_error(SEGLOSS_ERR_NULL, &t.cfg, &in, 0, &no_sum);
    }
    SECTION("stats for another class count") {
        segloss_stats other = t.st;
        other.c = 4;
        std::vector<double> big(static_cast<size_t>(segloss_stats_len(&t.cfg, other.n, other.c)), 0.0);
        other.sum = big.data();
        expect_accumulate_error(SEGLOSS_ERR_STATS, &t.cfg, &in, 0, &other);
    }
    SECTION("slice beyond the batch the stats describe") {
        segloss_input one = in;
        one.n = 1;
        expect_accumulate_error(SEGLOSS_ERR_STATS, &t.cfg, &one, 2, &t.st);
        expect_accumulate_error(SEGLOSS_ERR_STATS, &t.cfg, &one, -1, &t.st);
        expect_accumulate_error(SEGLOSS_ERR_STATS, &t.cfg, &in, 1, &t.st);  // samples 1..2 of 2
    }
    SECTION("the slice's own errors: shape, enum, label") {
        segloss_input bad = in;
        bad.s = 0;
        expect_accumulate_error(SEGLOSS_ERR_SHAPE, &t.cfg, &bad, 0, &t.st);
        bad = in;
        bad.layout = static_cast<segloss_layout>(7);
        expect_accumulate_error(SEGLOSS_ERR_ENUM, &t.cfg, &bad, 0, &t.st);
        std::vector<int64_t> y(t.p.y64);
        y[5] = 3;
        bad = in;
        bad.labels = y.data();
        expect_accumulate_error(SEGLOSS_ERR_LABEL, &t.cfg, &bad, 0, &t.st);
        segloss_config badcfg = t.cfg;
        badcfg.dice_smooth = -1.0f;
        expect_accumulate_error(SEGLOSS_ERR_PARAM, &badcfg, &in, 0, &t.st);
    }
}

TEST_CASE("segloss_finish errors: NULLs and stats that do not describe a batch", "[errors][twophase]") {
    TwoPhase t;
    SECTION("NULL cfg, stats, stats->sum, out") {
        expect_finish_error(SEGLOSS_ERR_NULL, nullptr, &t.st);
        expect_finish_error(SEGLOSS_ERR_NULL, &t.cfg, nullptr);
        segloss_stats no_sum = t.st;
        no_sum.sum = nullptr;
        expect_finish_error(SEGLOSS_ERR_NULL, &t.cfg, &no_sum);
        CHECK(segloss_finish(&t.cfg, &t.st, nullptr) == SEGLOSS_ERR_NULL);
    }
    SECTION("stats with n or c <= 0") {
        segloss_stats bad = t.st;
        bad.n = 0;
        Canary k(0);
        const segloss_status s = segloss_finish(&t.cfg, &bad, &k.result);
        CHECK((s == SEGLOSS_ERR_STATS || s == SEGLOSS_ERR_SHAPE));
        CHECK(k.result_reports_error(-1));
        bad = t.st;
        bad.c = -1;
        Canary k2(0);
        const segloss_status s2 = segloss_finish(&t.cfg, &bad, &k2.result);
        CHECK((s2 == SEGLOSS_ERR_STATS || s2 == SEGLOSS_ERR_SHAPE));
        CHECK(k2.result_reports_error(-1));
    }
    SECTION("bad configuration") {
        segloss_config bad = t.cfg;
        bad.focal_gamma = kNaN;
        expect_finish_error(SEGLOSS_ERR_PARAM, &bad, &t.st);
        bad = t.cfg;
        bad.reduction = static_cast<segloss_reduction>(5);
        expect_finish_error(SEGLOSS_ERR_ENUM, &bad, &t.st);
    }
}

TEST_CASE("segloss_backward errors: NULLs, mismatched stats, out of range, alias", "[errors][twophase]") {
    TwoPhase t;
    segloss_input in = t.in;
    const size_t total = static_cast<size_t>(t.p.total());
    SECTION("NULL cfg, slice, stats, stats->sum, grad") {
        expect_backward_error(SEGLOSS_ERR_NULL, nullptr, &in, 0, &t.st, total);
        expect_backward_error(SEGLOSS_ERR_NULL, &t.cfg, nullptr, 0, &t.st, total);
        expect_backward_error(SEGLOSS_ERR_NULL, &t.cfg, &in, 0, nullptr, total);
        segloss_stats no_sum = t.st;
        no_sum.sum = nullptr;
        expect_backward_error(SEGLOSS_ERR_NULL, &t.cfg, &in, 0, &no_sum, total);
        expect_backward_error(SEGLOSS_ERR_NULL, &t.cfg, &in, 0, &t.st, total, false);
    }
    SECTION("stats for another class count, slice out of range") {
        segloss_stats other = t.st;
        other.c = 4;
        std::vector<double> big(static_cast<size_t>(segloss_stats_len(&t.cfg, other.n, other.c)), 0.0);
        other.sum = big.data();
        expect_backward_error(SEGLOSS_ERR_STATS, &t.cfg, &in, 0, &other, total);
        segloss_input one = in;
        one.n = 1;
        expect_backward_error(SEGLOSS_ERR_STATS, &t.cfg, &one, 2, &t.st, total);
        expect_backward_error(SEGLOSS_ERR_STATS, &t.cfg, &one, -1, &t.st, total);
        expect_backward_error(SEGLOSS_ERR_STATS, &t.cfg, &in, 1, &t.st, total);
    }
    SECTION("partial overlap of grad and logits") {
        std::vector<float> buf(2 * total + 2);
        std::copy(t.p.logits.begin(), t.p.logits.end(), buf.begin());
        const std::vector<float> snapshot = buf;
        segloss_input alias = in;
        alias.logits = buf.data();
        CHECK(segloss_backward(&t.cfg, &alias, 0, &t.st, buf.data() + 1) == SEGLOSS_ERR_ALIAS);
        CHECK(buf == snapshot);
    }
}

TEST_CASE("SEGLOSS_ERR_ISA: unknown path names and paths this CPU cannot run are refused", "[errors]") {
    const std::string before = segloss_active_isa();
    for (const char *name : {"bogus", "", "AVX2", "avx2 "}) {
        INFO("name '" << name << "'");
        const segloss_status st = segloss_set_isa(name);
        CHECK(st == SEGLOSS_ERR_ISA);
        check_message(st);
        CHECK(std::string(segloss_active_isa()) == before);
        CHECK(segloss_isa_supported(name) == 0);
    }
    for (const std::string &isa : ref::all_isas()) {
        if (segloss_isa_supported(isa.c_str())) continue;
        INFO("unsupported here: " << isa);
        CHECK(segloss_set_isa(isa.c_str()) == SEGLOSS_ERR_ISA);
        CHECK(std::string(segloss_active_isa()) == before);
    }
    CHECK(segloss_isa_supported(nullptr) == 0);
    CHECK(segloss_set_isa(nullptr) == SEGLOSS_OK);
    CHECK(segloss_set_isa("auto") == SEGLOSS_OK);
    CHECK(segloss_isa_supported(segloss_active_isa()) == 1);
}
