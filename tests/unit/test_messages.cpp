// tests/unit/test_messages.cpp — segloss_error_message: for every error it explains, the
// message names the bad value, where it is and the fix; nothing is written to grad on error;
// with cfg, in or result NULL it still says what it can; it never writes past size.
#include "catch2/catch.hpp"
#include "../../segloss.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();
const float kCanary = 12345.0f;

// N=2, C=4, S=64 (8x8), uint8 labels 0..3, logits small and finite; grad full of canaries.
struct Batch {
    std::vector<float> logits, grad;
    std::vector<uint8_t> labels;
    segloss_input in;
    segloss_config cfg;
    segloss_result r;

    explicit Batch(segloss_loss_type t = SEGLOSS_FOCAL_DICE, segloss_layout layout = SEGLOSS_NCHW)
        : logits(2 * 4 * 64), grad(2 * 4 * 64, kCanary), labels(2 * 64) {
        for (size_t i = 0; i < logits.size(); ++i) logits[i] = 0.25f * static_cast<float>(i % 7) - 0.75f;
        for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i * 7 / 3 % 4);
        in.logits = logits.data();
        in.labels = labels.data();
        in.label_type = SEGLOSS_LABEL_U8;
        in.n = 2;
        in.c = 4;
        in.s = 64;
        in.layout = layout;
        segloss_config_init(&cfg, t);
        std::memset(&r, 0, sizeof r);
    }
    segloss_status run() { return segloss_compute(&cfg, &in, grad.data(), &r); }
    bool grad_untouched() const {
        for (float g : grad)
            if (g != kCanary) return false;
        return true;
    }
};

std::string message(segloss_status st, const segloss_config *cfg, const segloss_input *in, const segloss_result *r) {
    char buf[1024];
    const char *m = segloss_error_message(st, cfg, in, r, buf, sizeof buf);
    REQUIRE(m == buf);
    return std::string(m);
}

bool has(const std::string &msg, const std::string &part) { return msg.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("label 255 in uint8 labels with the default ignore_index: value, place, classes, fix", "[messages]") {
    Batch b;
    b.labels[64 + 17] = 255;  // sample 1, position 17
    const segloss_status st = b.run();
    REQUIRE(st == SEGLOSS_ERR_LABEL);
    CHECK(b.grad_untouched());
    const std::string m = message(st, &b.cfg, &b.in, &b.r);
    INFO(m);
    CHECK(has(m, "label 255 at sample 1, position 17 is not a class"));
    CHECK(has(m, "C = 4 classes: 0..3"));
    CHECK(has(m, "not ignore_index (-100)"));
    CHECK(has(m, "if 255 marks pixels to ignore, set ignore_index = 255"));
    // without the result it finds the label again; without cfg it still names value and place
    CHECK(message(st, &b.cfg, &b.in, nullptr) == m);
    const std::string no_cfg = message(st, nullptr, &b.in, &b.r);
    CHECK(has(no_cfg, "label 255 at sample 1, position 17"));
    CHECK(has(no_cfg, "set ignore_index = 255"));
    // the fix it names works
    b.cfg.ignore_index = 255;
    CHECK(b.run() == SEGLOSS_OK);
    CHECK(b.r.valid == 2 * 64 - 1);
}

TEST_CASE("a label past the classes or negative: the ignore fix, and the class count", "[messages]") {
    Batch b;
    std::vector<int32_t> y(b.labels.begin(), b.labels.end());
    b.in.labels = y.data();
    b.in.label_type = SEGLOSS_LABEL_I32;
    y[3] = 7;
    REQUIRE(b.run() == SEGLOSS_ERR_LABEL);
    CHECK(b.grad_untouched());
    std::string m = message(SEGLOSS_ERR_LABEL, &b.cfg, &b.in, &b.r);
    INFO(m);
    CHECK(has(m, "label 7 at sample 0, position 3"));
    CHECK(has(m, "set ignore_index = 7"));
    CHECK(has(m, "c must be at least 8"));
    y[3] = 0;
    y[100] = -1;
    REQUIRE(b.run() == SEGLOSS_ERR_LABEL);
    m = message(SEGLOSS_ERR_LABEL, &b.cfg, &b.in, &b.r);
    INFO(m);
    CHECK(has(m, "label -1 at sample 1, position 36"));
    CHECK(has(m, "set ignore_index = -1"));
    CHECK(b.grad_untouched());
}

TEST_CASE("a non-finite logit: its value and (n, c, s) in either layout", "[messages]") {
    for (segloss_layout layout : {SEGLOSS_NCHW, SEGLOSS_NHWC}) {
        Batch b(SEGLOSS_CE, layout);
        b.cfg.check_finite = 1;
        // sample 1, class 2, position 5
        const size_t at = layout == SEGLOSS_NCHW ? (1 * 4 + 2) * 64 + 5 : (1 * 64 + 5) * 4 + 2;
        for (float bad : {kNaN, kInf, -kInf}) {
            b.logits[at] = bad;
            const segloss_status st = b.run();
            REQUIRE(st == SEGLOSS_ERR_NONFINITE);
            CHECK(b.grad_untouched());
            const std::string m = message(st, &b.cfg, &b.in, &b.r);
            INFO(m);
            CHECK(has(m, std::string("logit ") + (bad != bad ? "nan" : bad > 0 ? "inf" : "-inf")));
            CHECK(has(m, "sample 1, class 2, position 5"));
            CHECK(has(m, "element " + std::to_string(at)));
            CHECK(has(m, layout == SEGLOSS_NCHW ? "NCHW" : "NHWC"));
            CHECK(message(st, &b.cfg, &b.in, nullptr) == m);
        }
    }
}

TEST_CASE("a parameter out of its domain: which one, its value, the domain", "[messages]") {
    struct Case {
        segloss_loss_type t;
        const char *field;
        float segloss_config::*member;
        float value;
        const char *shown;
    };
    const Case cases[] = {
        {SEGLOSS_FOCAL, "focal_gamma", &segloss_config::focal_gamma, -1.0f, "-1"},
        {SEGLOSS_FOCAL_DICE, "focal_gamma", &segloss_config::focal_gamma, kNaN, "nan"},
        {SEGLOSS_FOCAL_DICE, "focal_weight", &segloss_config::focal_weight, -0.5f, "-0.5"},
        {SEGLOSS_FOCAL_DICE, "dice_weight", &segloss_config::dice_weight, kInf, "inf"},
        {SEGLOSS_DICE, "dice_smooth", &segloss_config::dice_smooth, -2.0f, "-2"},
        {SEGLOSS_TVERSKY, "tversky_alpha", &segloss_config::tversky_alpha, -0.25f, "-0.25"},
        {SEGLOSS_TVERSKY, "tversky_beta", &segloss_config::tversky_beta, kNaN, "nan"},
    };
    for (const Case &c : cases) {
        Batch b(c.t);
        b.cfg.*c.member = c.value;
        const segloss_status st = b.run();
        REQUIRE(st == SEGLOSS_ERR_PARAM);
        CHECK(b.grad_untouched());
        const std::string m = message(st, &b.cfg, &b.in, &b.r);
        INFO(m);
        CHECK(has(m, std::string(c.field) + " = " + c.shown));
        CHECK(has(m, "finite and >= 0"));
        CHECK(has(m, "the default is"));
    }
    Batch b(SEGLOSS_FOCAL_DICE);
    b.cfg.focal_weight = 0.0f;
    b.cfg.dice_weight = 0.0f;
    REQUIRE(b.run() == SEGLOSS_ERR_PARAM);
    CHECK(b.grad_untouched());
    const std::string m = message(SEGLOSS_ERR_PARAM, &b.cfg, &b.in, &b.r);
    INFO(m);
    CHECK(has(m, "focal_weight = 0 and dice_weight = 0"));
    CHECK(has(m, "at least one of them must be > 0"));
}

TEST_CASE("a bad class weight: which class and its value", "[messages]") {
    Batch b(SEGLOSS_CE);
    const float w[4] = {1.0f, 2.0f, -3.0f, 1.0f};
    b.cfg.class_weights = w;
    REQUIRE(b.run() == SEGLOSS_ERR_WEIGHTS);
    CHECK(b.grad_untouched());
    const std::string m = message(SEGLOSS_ERR_WEIGHTS, &b.cfg, &b.in, &b.r);
    INFO(m);
    CHECK(has(m, "class_weights[2] = -3"));
    CHECK(has(m, "finite and >= 0"));
}

TEST_CASE("a bad shape: which of n, c and s", "[messages]") {
    struct Case {
        int64_t n, c, s;
        const char *part;
    };
    const int64_t M = int64_t(1) << 20;
    const Case cases[] = {
        {0, 4, 64, "n = 0"},
        {2, -1, 64, "c = -1"},
        {2, 4, 0, "s = 0"},
        {2, int64_t(1) << 40, 64, "c = 1099511627776: at most 2147483647 classes"},
        {M, M, M, "n x c x s = 1048576 x 1048576 x 1048576"},
    };
    for (const Case &c : cases) {
        Batch b;
        b.in.n = c.n;
        b.in.c = c.c;
        b.in.s = c.s;
        const segloss_status st = b.run();
        REQUIRE(st == SEGLOSS_ERR_SHAPE);
        CHECK(b.grad_untouched());
        const std::string m = message(st, &b.cfg, &b.in, &b.r);
        INFO(m);
        CHECK(has(m, c.part));
    }
}

TEST_CASE("a shape larger than any address space is SEGLOSS_ERR_SHAPE, not an overlap", "[messages][errors]") {
    // Before: 2^60 logits (2^62 bytes) passed the shape check, and a gradient right after
    // the logits was reported as "grad overlaps logits".
    Batch b(SEGLOSS_CE);
    std::vector<float> both(64);
    std::vector<int64_t> y(64, 0);
    b.in.logits = both.data();
    b.in.labels = y.data();
    b.in.label_type = SEGLOSS_LABEL_I64;
    b.in.n = b.in.c = b.in.s = int64_t(1) << 20;
    CHECK(segloss_compute(&b.cfg, &b.in, both.data() + 32, &b.r) == SEGLOSS_ERR_SHAPE);
    std::string m = message(SEGLOSS_ERR_SHAPE, &b.cfg, &b.in, &b.r);
    INFO(m);
    CHECK(has(m, "more than any address space"));
    CHECK(has(m, "check n (samples), c (classes) and s"));
    // the largest shape accepted on 64-bit (2^57 bytes of logits) is judged for overlap
    if (sizeof(void *) == 8) {
        b.in.n = 1;
        b.in.c = 1;
        b.in.s = int64_t(1) << 54;  // labels: 2^57 bytes of int64, the limit
        b.cfg.activation = SEGLOSS_SIGMOID; // one channel
        segloss_stats st = {1, 1, nullptr};
        double sums[7] = {0, 0, 0, 0, 0, 0, 0};
        st.sum = sums;
        CHECK(segloss_backward(&b.cfg, &b.in, 0, &st, both.data() + 32) == SEGLOSS_ERR_ALIAS);
        b.in.s += 1;
        CHECK(segloss_backward(&b.cfg, &b.in, 0, &st, both.data() + 32) == SEGLOSS_ERR_SHAPE);
    }
    // real overlap is still SEGLOSS_ERR_ALIAS, and a gradient right after the logits is fine
    Batch a(SEGLOSS_CE);
    std::vector<float> buf(2 * a.logits.size() + 8);
    std::copy(a.logits.begin(), a.logits.end(), buf.begin());
    a.in.logits = buf.data();
    CHECK(segloss_compute(&a.cfg, &a.in, buf.data() + a.logits.size() - 1, &a.r) == SEGLOSS_ERR_ALIAS);
    CHECK(segloss_compute(&a.cfg, &a.in, buf.data() + a.logits.size(), &a.r) == SEGLOSS_OK);
}

TEST_CASE("an unknown enum value: which field", "[messages]") {
    {
        Batch b;
        b.cfg.loss_type = static_cast<segloss_loss_type>(9);
        REQUIRE(b.run() == SEGLOSS_ERR_ENUM);
        CHECK(b.grad_untouched());
        const std::string m = message(SEGLOSS_ERR_ENUM, &b.cfg, &b.in, &b.r);
        CHECK(has(m, "loss_type = 9"));
        CHECK(has(m, "segloss_loss_from_name"));
    }
    {
        Batch b;
        b.cfg.reduction = static_cast<segloss_reduction>(2);
        REQUIRE(b.run() == SEGLOSS_ERR_ENUM);
        CHECK(has(message(SEGLOSS_ERR_ENUM, &b.cfg, &b.in, &b.r), "reduction = 2"));
    }
    {
        Batch b;
        b.in.label_type = static_cast<segloss_label_type>(5);
        REQUIRE(b.run() == SEGLOSS_ERR_ENUM);
        CHECK(has(message(SEGLOSS_ERR_ENUM, &b.cfg, &b.in, &b.r), "label_type = 5"));
    }
    {
        Batch b;
        b.in.layout = static_cast<segloss_layout>(7);
        REQUIRE(b.run() == SEGLOSS_ERR_ENUM);
        CHECK(has(message(SEGLOSS_ERR_ENUM, &b.cfg, &b.in, &b.r), "layout = 7"));
        CHECK(b.grad_untouched());
    }
}

TEST_CASE("an overlap: the logits' range and where grad may lie", "[messages]") {
    Batch b;
    std::vector<float> buf(3 * b.logits.size());
    std::copy(b.logits.begin(), b.logits.end(), buf.begin() + b.logits.size());
    std::vector<float> snapshot = buf;
    b.in.logits = buf.data() + b.logits.size();
    const segloss_status st = segloss_compute(&b.cfg, &b.in, buf.data() + b.logits.size() + 3, &b.r);
    REQUIRE(st == SEGLOSS_ERR_ALIAS);
    CHECK(buf == snapshot);
    const std::string m = message(st, &b.cfg, &b.in, &b.r);
    INFO(m);
    char range[96];
    const unsigned long long a = static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(b.in.logits));
    std::snprintf(range, sizeof range, "[0x%llx, 0x%llx)", a, a + 2048ull);
    CHECK(has(m, range));
    CHECK(has(m, "2 x 4 x 64 floats, 2048 bytes"));
    CHECK(has(m, "grad = logits for in place"));
}

TEST_CASE("NULL pointers: which one", "[messages]") {
    Batch b;
    b.in.labels = nullptr;
    REQUIRE(b.run() == SEGLOSS_ERR_NULL);
    CHECK(b.grad_untouched());
    CHECK(has(message(SEGLOSS_ERR_NULL, &b.cfg, &b.in, &b.r), "in->labels is NULL"));
    b.in.labels = b.labels.data();
    b.in.logits = nullptr;
    REQUIRE(b.run() == SEGLOSS_ERR_NULL);
    CHECK(has(message(SEGLOSS_ERR_NULL, &b.cfg, &b.in, &b.r), "in->logits is NULL"));
}

TEST_CASE("segloss_error_message without cfg, input or result, and small buffers", "[messages]") {
    for (int s = 0; s <= SEGLOSS_ERR_BUILD + 2; ++s) {
        const segloss_status st = static_cast<segloss_status>(s);
        const std::string m = message(st, nullptr, nullptr, nullptr);
        INFO("status " << s << ": " << m);
        CHECK(!m.empty());
        if (s <= SEGLOSS_ERR_BUILD) CHECK(has(m, segloss_status_string(st)));
    }
    CHECK(segloss_error_message(SEGLOSS_ERR_LABEL, nullptr, nullptr, nullptr, nullptr, 100) == nullptr);
    char small[12];
    std::memset(small, 'x', sizeof small);
    CHECK(segloss_error_message(SEGLOSS_ERR_LABEL, nullptr, nullptr, nullptr, small, 0) == small);
    CHECK(small[0] == 'x');  // size 0: nothing written
    Batch b;
    b.labels[17] = 255;
    REQUIRE(b.run() == SEGLOSS_ERR_LABEL);
    CHECK(segloss_error_message(SEGLOSS_ERR_LABEL, &b.cfg, &b.in, &b.r, small, 8) == small);
    CHECK(std::string(small) == "label 2");  // truncated to 7 characters and the 0
    CHECK(small[8] == 'x');
    // a result from another call (bad_position of a valid label) does not mislead it
    segloss_result other = b.r;
    other.bad_position = 3;
    CHECK(has(message(SEGLOSS_ERR_LABEL, &b.cfg, &b.in, &other), "label 255 at sample 0, position 17"));
}

TEST_CASE("segloss_status_string hints at the fix", "[messages]") {
    CHECK(has(segloss_status_string(SEGLOSS_ERR_LABEL), "not in [0, C) and not ignore_index"));
    CHECK(has(segloss_status_string(SEGLOSS_ERR_LABEL), "ignore_index = 255"));
    CHECK(has(segloss_status_string(SEGLOSS_ERR_SHAPE), "every spatial dimension flattened"));
    CHECK(has(segloss_status_string(SEGLOSS_ERR_ALIAS), "same buffer"));
}
