/* tests/reliability/regress.c — regression tests for what the fuzzers and sanitizers found, and the
   validation audit of every public entry point (api.h sections 2-6): NULL pointers, bad
   enums, bad sizes (zero, negative, products that overflow int64), bad parameters, grad
   aliasing (in place accepted, partial overlap rejected), "nothing is written on error"
   (canary-filled outputs compared byte for byte), and misaligned / odd-sized buffers
   (accepted, bit-identical to aligned ones).

   Every group runs in a forked child on every SIMD path this CPU runs (or only on the path
   SEGLOSS_ISA names, which is how `make test-valgrind` drives it), so that a crash is one
   failure and the rest still runs. Built against the implementation in tests/impl.c
   (ASan+UBSan in test-regress, plain -O1 -g under valgrind in test-valgrind).
   --quick: smaller inputs (for valgrind). Ends with "N passed, M failed".
   --paths: only lists the paths it would run, one a line (tests/reliability/valgrind.sh asks
   under valgrind, which runs no AVX-512). */
#define _POSIX_C_SOURCE 200809L
#include "../../segloss.h"
#include "../check.h"
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int quick;

static uint32_t rng_state = 1u;
static uint32_t rnd(void) { rng_state = rng_state * 1664525u + 1013904223u; return rng_state >> 8; }
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)rnd() / 16777216.0f; }

static int same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }
static int is_nan(double v) { return v != v; }

static segloss_input mk_input(const float *z, const void *y, segloss_label_type lt, int64_t n, int64_t c,
                              int64_t s, segloss_layout lay)
{
    segloss_input in;
    in.logits = z;
    in.labels = y;
    in.label_type = lt;
    in.n = n;
    in.c = c;
    in.s = s;
    in.layout = lay;
    return in;
}

#define CANARY 0xA5
static void canary(void *p, size_t n) { memset(p, CANARY, n); }
static int untouched(const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i] != CANARY) return 0;
    return 1;
}

/* ======================================================================================== */
/* REGRESSIONS                                                                              */
/* ======================================================================================== */

/* R1 (found by review + ASan, fuzz_compute with C up to 300 cannot reach it): NHWC with
   C > 4096 (SEGLOSS__TBUF) overflowed the stack transpose buffers zt/gt in segloss__run
   (kernels/driver.h: B = SEGLOSS__TBUF / C > 0 ? ... : 1, then zt[c * B + i] for c < C).
   All-zero logits: loss log(C), gradient (1/C - [k = y]) / valid, NHWC == NCHW. */
static void r1_nhwc_many_classes(void)
{
    static const int cs[] = { 4097, 4096, 5000, 9000 };
    int k;
    for (k = 0; k < (quick ? 1 : 4); k++) {
        const int C = cs[k], S = 3;
        float *z = (float *)calloc((size_t)C * S, sizeof(float));
        float *g1 = (float *)malloc((size_t)C * S * sizeof(float));
        float *g2 = (float *)malloc((size_t)C * S * sizeof(float));
        int32_t y[3] = { 0, C - 1, 7 };
        segloss_config cfg;
        segloss_input in = mk_input(z, y, SEGLOSS_LABEL_I32, 1, C, S, SEGLOSS_NHWC);
        segloss_result r1, r2;
        segloss_status s1, s2;
        double expect = log((double)C);
        int t;
        for (t = 0; t < (quick ? 2 : SEGLOSS_LOSS_COUNT); t++) {
            segloss_config_init(&cfg, (segloss_loss_type)t);
            in.layout = SEGLOSS_NHWC;
            s1 = segloss_compute(&cfg, &in, g1, &r1);
            in.layout = SEGLOSS_NCHW; /* all logits equal: the same input in either layout */
            s2 = segloss_compute(&cfg, &in, g2, &r2);
            CHECK(s1 == SEGLOSS_OK && s2 == SEGLOSS_OK, "C=%d %s: status %d %d", C, segloss_loss_name(cfg.loss_type), s1, s2);
            CHECK(fabs(r1.loss - r2.loss) <= 1e-6 * fabs(r2.loss) + 1e-12, "C=%d %s NHWC loss %.9g, NCHW %.9g", C,
                  segloss_loss_name(cfg.loss_type), r1.loss, r2.loss);
            if (t == SEGLOSS_CE) {
                int i, bad = 0;
                CHECK(fabs(r1.loss - expect) <= 1e-6 * expect, "C=%d ce loss %.9g expected log(C) = %.9g", C, r1.loss, expect);
                for (i = 0; i < S; i++) {
                    int c;
                    for (c = 0; c < C; c++) {
                        double want = (1.0 / C - (c == y[i])) / S;
                        if (fabs(g1[i * C + c] - want) > 1e-6 * fabs(want) + 1e-9) bad++;
                    }
                }
                CHECK(bad == 0, "C=%d ce NHWC gradient: %d entries wrong", C, bad);
            }
        }
        free(z);
        free(g1);
        free(g2);
    }
}


/* R2 (found by tests/reliability/stress.c, extreme logits +-FLT_MAX/2): the per-class loss sums of the
   statistics kernel are float lanes (16 lanes, flushed to double every 256 positions), so
   they overflow to +inf once 16 positions of one lane carry a loss above FLT_MAX/16 ~ 2.1e37,
   i.e. logits around +-1.1e37. The fused CE/focal gradient pass sums wy * l (wy = 1/|V|) and
   stays finite, so the same input gave a finite ce loss with a gradient and +inf without
   one (since the working-tree change that runs ce/focal through the fused pass also without
   a gradient, that half passes), and focal_dice, whose focal term then always came from the
   statistics kernel, still gave +inf. kernels/loss_kernels.h stats_body: accl[k] =
   add(accl[k], sel(is, bl)) in float, summed per block by sum16. (focal_dice with a gradient
   now sums its focal term in the gradient pass, so it is checked with and without one.)
   Expected: ce 2.2e37 with and without grad; focal_dice 0.5 * 2.2e37 + 0.5 * dice, finite,
   with and without grad. */
static void r2_float_lane_overflow(void)
{
    enum { C = 2, S = 256 };
    static float z[C * S], g[C * S];
    static uint8_t y[S];
    segloss_config cfg;
    segloss_input in = mk_input(z, y, SEGLOSS_LABEL_U8, 1, C, S, SEGLOSS_NCHW);
    segloss_result rg, rn;
    int i;
    for (i = 0; i < S; i++) {
        y[i] = 0;
        z[i] = -1.1e37f;      /* class 0 (the label) */
        z[S + i] = 1.1e37f;   /* class 1 */
    }
    segloss_config_init(&cfg, SEGLOSS_CE);
    CHECK(segloss_compute(&cfg, &in, g, &rg) == SEGLOSS_OK, "with grad");
    CHECK(segloss_compute(&cfg, &in, NULL, &rn) == SEGLOSS_OK, "without grad");
    CHECK(fabs(rg.loss - 2.2e37) <= 1e-6 * 2.2e37, "ce with grad: loss %g, expected 2.2e37", rg.loss);
    CHECK(fabs(rn.loss - 2.2e37) <= 1e-6 * 2.2e37, "ce without grad: loss %g, expected 2.2e37", rn.loss);
    segloss_config_init(&cfg, SEGLOSS_FOCAL_DICE);
    CHECK(segloss_compute(&cfg, &in, g, &rg) == SEGLOSS_OK, "focal_dice with grad");
    CHECK(segloss_compute(&cfg, &in, NULL, &rn) == SEGLOSS_OK, "focal_dice without grad");
    CHECK(rg.loss == rg.loss && rg.loss < 1e38 && rg.loss > 1e37, "focal_dice with grad: loss %g, expected 0.5 * 2.2e37 + 0.5 * dice", rg.loss);
    CHECK(rn.loss == rn.loss && rn.loss < 1e38 && rn.loss > 1e37, "focal_dice without grad: loss %g, expected 0.5 * 2.2e37 + 0.5 * dice", rn.loss);
}


/* R3 (found by review of the int32 label loop, then fuzz_compute with ignore_index outside
   the int32 range): for SEGLOSS_LABEL_I32 an ignore_index that int32 cannot hold (here
   2^32 + 1) was truncated to int32 (= 1) in kernels/driver.h SEGLOSS__LABEL_LOOP
   (`const W ign = ... : (MIN) < 0 ? (W)ignore : -1`), so every label 1 was ignored. A label
   is ignored only when it equals ignore_index as an integer: here no label is, all 4 count. */
static void r3_ignore_index_outside_int32(void)
{
    static const float z[2 * 4] = { 1.0f, 0.5f, -1.0f, 2.0f, 0.0f, 1.5f, 1.0f, -2.0f };
    static const int32_t y32[4] = { 0, 1, 1, 0 };
    static const int64_t y64[4] = { 0, 1, 1, 0 };
    const int64_t ignores[3] = { ((int64_t)1 << 32) + 1, INT64_MIN + 1, (int64_t)INT32_MAX + 2 };
    int k, t;
    for (k = 0; k < 3; k++)
        for (t = 0; t < SEGLOSS_LOSS_COUNT; t++) {
            segloss_config cfg;
            segloss_input a = mk_input(z, y32, SEGLOSS_LABEL_I32, 1, 2, 4, SEGLOSS_NCHW);
            segloss_input b = mk_input(z, y64, SEGLOSS_LABEL_I64, 1, 2, 4, SEGLOSS_NCHW);
            segloss_result ra, rb;
            float ga[8], gb[8];
            int64_t counts[2] = { 0, 0 };
            segloss_config_init(&cfg, (segloss_loss_type)t);
            cfg.ignore_index = ignores[k];
            CHECK(segloss_compute(&cfg, &a, ga, &ra) == SEGLOSS_OK && segloss_compute(&cfg, &b, gb, &rb) == SEGLOSS_OK, "status");
            CHECK(ra.valid == 4 && rb.valid == 4, "ignore_index %lld %s: valid %lld (int32 labels), %lld (int64 labels), expected 4",
                  (long long)cfg.ignore_index, segloss_loss_name(cfg.loss_type), (long long)ra.valid, (long long)rb.valid);
            CHECK(ra.loss == rb.loss && same_bits(ga, gb, sizeof ga), "ignore_index %lld %s: int32 labels (loss %.9g) differ from int64 (%.9g)",
                  (long long)cfg.ignore_index, segloss_loss_name(cfg.loss_type), ra.loss, rb.loss);
            CHECK(segloss_label_histogram(&a, cfg.ignore_index, counts) == SEGLOSS_OK && counts[0] == 2 && counts[1] == 2,
                  "histogram %lld %lld", (long long)counts[0], (long long)counts[1]);
        }
}

/* ======================================================================================== */
/* VALIDATION AUDIT                                                                         */
/* ======================================================================================== */

enum { AN = 2, AC = 3, AS = 37 }; /* a small valid batch */
static float az[AN * AC * AS];
static uint8_t ay[AN * AS];
static void audit_data(void)
{
    int i;
    rng_state = 99u;
    for (i = 0; i < AN * AC * AS; i++) az[i] = frand(-3, 3);
    for (i = 0; i < AN * AS; i++) ay[i] = (uint8_t)(i % 9 == 4 ? 255 : rnd() % AC);
}

/* segloss_compute: every error status, out reports it, grad untouched */
static void audit_compute(void)
{
    segloss_config cfg, bad;
    segloss_input in, b;
    segloss_result r;
    float g[AN * AC * AS];
    int64_t big = (int64_t)1 << 40;
    struct { int64_t n, c, s; } shapes[] = {
        { 0, AC, AS }, { AN, 0, AS }, { AN, AC, 0 }, { -1, AC, AS }, { AN, -3, AS }, { AN, AC, -37 },
        { 1, (int64_t)INT32_MAX + 1, 1 }, { big, big, big }, { INT64_MAX, 1, 2 }, { 2, 1, INT64_MAX },
        { 1, 2, INT64_MAX / 2 + 1 }, { (int64_t)1 << 31, (int64_t)1 << 31, (int64_t)1 << 31 },
        { (int64_t)1 << 20, 1 << 20, (int64_t)1 << 24 }, /* 2^64 elements: wraps to 0 */
        { INT64_MIN, AC, AS }, { 1, INT32_MAX, INT64_MAX / INT32_MAX + 1 },
    };
    size_t k;
    audit_data();
    segloss_config_init(&cfg, SEGLOSS_FOCAL_DICE);
    cfg.ignore_index = 255;
    in = mk_input(az, ay, SEGLOSS_LABEL_U8, AN, AC, AS, SEGLOSS_NCHW);
    CHECK(segloss_compute(&cfg, &in, g, &r) == SEGLOSS_OK && r.loss == r.loss, "valid batch");

    /* NULL cfg / in / out: ERR_NULL, *out untouched */
    canary(&r, sizeof r);
    CHECK(segloss_compute(NULL, &in, g, &r) == SEGLOSS_ERR_NULL && untouched(&r, sizeof r), "cfg NULL");
    CHECK(segloss_compute(&cfg, NULL, g, &r) == SEGLOSS_ERR_NULL && untouched(&r, sizeof r), "in NULL");
    canary(g, sizeof g);
    CHECK(segloss_compute(&cfg, &in, g, NULL) == SEGLOSS_ERR_NULL && untouched(g, sizeof g), "out NULL");

#define EXPECT_ERR(cfgp, inp, want, what) do { \
        canary(g, sizeof g); canary(&r, sizeof r); \
        segloss_status st_ = segloss_compute(cfgp, inp, g, &r); \
        CHECK(st_ == (want), "%s: status %d (%s), want %d", what, st_, segloss_status_string(st_), want); \
        CHECK(untouched(g, sizeof g), "%s: grad written on error", what); \
        CHECK(is_nan(r.loss) && is_nan(r.ce_term) && is_nan(r.dice_term) && r.valid == 0, "%s: out not reporting the error", what); \
    } while (0)

    b = in; b.logits = NULL; EXPECT_ERR(&cfg, &b, SEGLOSS_ERR_NULL, "logits NULL");
    b = in; b.labels = NULL; EXPECT_ERR(&cfg, &b, SEGLOSS_ERR_NULL, "labels NULL");
    for (k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        char what[96];
        b = in; b.n = shapes[k].n; b.c = shapes[k].c; b.s = shapes[k].s;
        snprintf(what, sizeof what, "shape %lld x %lld x %lld", (long long)b.n, (long long)b.c, (long long)b.s);
        EXPECT_ERR(&cfg, &b, SEGLOSS_ERR_SHAPE, what);
        b.logits = NULL; b.labels = NULL; /* shape is judged before the pointers: still SHAPE */
        EXPECT_ERR(&cfg, &b, SEGLOSS_ERR_SHAPE, what);
    }
    b = in; b.label_type = (segloss_label_type)5; EXPECT_ERR(&cfg, &b, SEGLOSS_ERR_ENUM, "label_type 5");
    b = in; b.label_type = (segloss_label_type)-1; EXPECT_ERR(&cfg, &b, SEGLOSS_ERR_ENUM, "label_type -1");
    b = in; b.layout = (segloss_layout)2; EXPECT_ERR(&cfg, &b, SEGLOSS_ERR_ENUM, "layout 2");
    bad = cfg; bad.loss_type = (segloss_loss_type)SEGLOSS_LOSS_COUNT; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_ENUM, "loss_type 7");
    bad = cfg; bad.loss_type = (segloss_loss_type)-1; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_ENUM, "loss_type -1");
    bad = cfg; bad.reduction = (segloss_reduction)2; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_ENUM, "reduction 2");
    bad = cfg; bad.reduction = (segloss_reduction)-1; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_ENUM, "reduction -1");
    {
        const float badv[] = { NAN, -NAN, INFINITY, -INFINITY, -1.0f, -FLT_MIN, -1e-45f };
        for (k = 0; k < sizeof badv / sizeof badv[0]; k++) {
            char what[64];
            snprintf(what, sizeof what, "param %g", (double)badv[k]);
            bad = cfg; bad.focal_gamma = badv[k]; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_PARAM, what);
            bad = cfg; bad.focal_weight = badv[k]; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_PARAM, what);
            bad = cfg; bad.dice_weight = badv[k]; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_PARAM, what);
            bad = cfg; bad.dice_smooth = badv[k]; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_PARAM, what);
            segloss_config_init(&bad, SEGLOSS_TVERSKY); bad.ignore_index = 255;
            bad.tversky_alpha = badv[k]; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_PARAM, what);
            segloss_config_init(&bad, SEGLOSS_TVERSKY); bad.ignore_index = 255;
            bad.tversky_beta = badv[k]; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_PARAM, what);
        }
        bad = cfg; bad.focal_weight = 0; bad.dice_weight = 0; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_PARAM, "both weights 0");
        /* parameters a loss does not use are not judged */
        segloss_config_init(&bad, SEGLOSS_CE); bad.ignore_index = 255; bad.focal_gamma = NAN; bad.dice_smooth = -1;
        CHECK(segloss_compute(&bad, &in, g, &r) == SEGLOSS_OK, "ce ignores gamma/smooth");
        /* -0.0 is >= 0 */
        bad = cfg; bad.focal_gamma = -0.0f; bad.dice_smooth = -0.0f;
        CHECK(segloss_compute(&bad, &in, g, &r) == SEGLOSS_OK && r.loss == r.loss, "-0.0 parameters");
    }
    {
        float w[AC] = { 1, 1, 1 };
        const float badw[] = { -1.0f, NAN, INFINITY, -INFINITY };
        for (k = 0; k < 4; k++) {
            w[2] = badw[k];
            bad = cfg; bad.class_weights = w; EXPECT_ERR(&bad, &in, SEGLOSS_ERR_WEIGHTS, "bad class weight");
        }
        w[2] = 0.0f;
        bad = cfg; bad.class_weights = w;
        CHECK(segloss_compute(&bad, &in, g, &r) == SEGLOSS_OK, "zero class weight is fine");
        w[2] = NAN; /* dice and tversky take no class weights: not judged */
        segloss_config_init(&bad, SEGLOSS_DICE); bad.ignore_index = 255; bad.class_weights = w;
        CHECK(segloss_compute(&bad, &in, g, &r) == SEGLOSS_OK, "dice ignores class_weights");
    }
    {   /* labels: C, 254 (not ignore), negative int32/int64, ignore_index only */
        uint8_t yb[AN * AS];
        int32_t y32[AN * AS];
        int64_t y64[AN * AS];
        int i;
        memcpy(yb, ay, sizeof yb);
        yb[40] = AC;
        b = in; b.labels = yb;
        EXPECT_ERR(&cfg, &b, SEGLOSS_ERR_LABEL, "label == C");
        CHECK(r.bad_position == 40, "bad_position %lld", (long long)r.bad_position);
        for (i = 0; i < AN * AS; i++) { y32[i] = ay[i] == 255 ? -100 : ay[i]; y64[i] = y32[i]; }
        y32[5] = -1; y64[70] = INT64_MIN;
        bad = cfg; bad.ignore_index = -100;
        b = in; b.labels = y32; b.label_type = SEGLOSS_LABEL_I32;
        EXPECT_ERR(&bad, &b, SEGLOSS_ERR_LABEL, "label -1");
        CHECK(r.bad_position == 5, "bad_position %lld", (long long)r.bad_position);
        b.labels = y64; b.label_type = SEGLOSS_LABEL_I64;
        EXPECT_ERR(&bad, &b, SEGLOSS_ERR_LABEL, "label INT64_MIN");
        CHECK(r.bad_position == 70, "bad_position %lld", (long long)r.bad_position);
        y64[70] = INT64_MIN; bad.ignore_index = INT64_MIN; /* unless it is the ignore_index */
        for (i = 0; i < AN * AS; i++) if (y64[i] == -100) y64[i] = INT64_MIN;
        CHECK(segloss_compute(&bad, &b, g, &r) == SEGLOSS_OK, "ignore_index INT64_MIN");
        for (i = 0; i < AN * AS; i++) yb[i] = 255;
        b = in; b.labels = yb;
        for (i = 0; i < SEGLOSS_LOSS_COUNT; i++) { /* no valid position: loss 0, grad 0, valid 0 */
            int j, nz = 0;
            segloss_config_init(&bad, (segloss_loss_type)i);
            bad.ignore_index = 255;
            canary(g, sizeof g);
            CHECK(segloss_compute(&bad, &b, g, &r) == SEGLOSS_OK && r.loss == 0.0 && r.valid == 0,
                  "all ignored %s: loss %g valid %lld", segloss_loss_name(bad.loss_type), r.loss, (long long)r.valid);
            for (j = 0; j < AN * AC * AS; j++) nz += g[j] != 0.0f;
            CHECK(nz == 0, "all ignored %s: %d nonzero gradients", segloss_loss_name(bad.loss_type), nz);
        }
    }
    {   /* check_finite */
        float zb[AN * AC * AS];
        const float nf[] = { NAN, INFINITY, -INFINITY };
        for (k = 0; k < 3; k++) {
            memcpy(zb, az, sizeof zb);
            zb[77] = nf[k];
            bad = cfg; bad.check_finite = 1;
            b = in; b.logits = zb;
            EXPECT_ERR(&bad, &b, SEGLOSS_ERR_NONFINITE, "check_finite");
            CHECK(r.bad_position == 77, "bad_position %lld", (long long)r.bad_position);
        }
    }
}

/* grad aliasing: exactly in place is supported (bit-identical to a separate buffer); any
   partial overlap, from either side, is SEGLOSS_ERR_ALIAS with nothing written */
static void audit_alias(void)
{
    enum { T = AN * AC * AS };
    float big[3 * T], ref[T];
    segloss_config cfg;
    segloss_input in;
    segloss_result r, r2;
    int t, lay;
    const int offs[] = { 1, -1, T - 1, -(T - 1), T / 2 };
    size_t k;
    audit_data();
    for (lay = 0; lay < 2; lay++)
        for (t = 0; t < SEGLOSS_LOSS_COUNT; t++) {
            segloss_config_init(&cfg, (segloss_loss_type)t);
            cfg.ignore_index = 255;
            memcpy(big + T, az, sizeof az);
            in = mk_input(big + T, ay, SEGLOSS_LABEL_U8, AN, AC, AS, (segloss_layout)lay);
            CHECK(segloss_compute(&cfg, &in, ref, &r) == SEGLOSS_OK, "separate buffer");
            CHECK(segloss_compute(&cfg, &in, big + T, &r2) == SEGLOSS_OK, "in place");
            CHECK(r.loss == r2.loss && same_bits(ref, big + T, sizeof ref), "%s %s: in-place differs from separate",
                  segloss_loss_name(cfg.loss_type), lay ? "NHWC" : "NCHW");
            for (k = 0; k < sizeof offs / sizeof offs[0]; k++) {
                memcpy(big + T, az, sizeof az);
                canary(big, T * sizeof(float));
                canary(big + 2 * T, T * sizeof(float));
                CHECK(segloss_compute(&cfg, &in, big + T + offs[k], &r) == SEGLOSS_ERR_ALIAS, "overlap %d", offs[k]);
                CHECK(untouched(big, T * sizeof(float)) && untouched(big + 2 * T, T * sizeof(float)) &&
                          same_bits(big + T, az, sizeof az), "overlap %d: something written", offs[k]);
            }
            /* adjacent but disjoint is fine */
            CHECK(segloss_compute(&cfg, &in, big + 2 * T, &r) == SEGLOSS_OK && same_bits(big + 2 * T, ref, sizeof ref), "adjacent after");
            CHECK(segloss_compute(&cfg, &in, big, &r) == SEGLOSS_OK && same_bits(big, ref, sizeof ref), "adjacent before");
        }
}

/* misaligned and odd-sized buffers give the same bits as aligned ones, on every loss/layout/type */
static void audit_misaligned(void)
{
    const int shapes[][3] = { { 1, 2, 1 }, { 1, 3, 5 }, { 2, 5, 17 }, { 3, 4, 33 }, { 1, 7, 263 }, { 2, 19, 51 } };
    size_t si;
    for (si = 0; si < (quick ? 4 : sizeof shapes / sizeof shapes[0]); si++) {
        const int N = shapes[si][0], C = shapes[si][1], S = shapes[si][2], T = N * C * S;
        float *za = (float *)malloc((size_t)T * sizeof(float)), *zm0 = (float *)malloc((size_t)(T + 3) * sizeof(float));
        float *ga = (float *)malloc((size_t)T * sizeof(float)), *gm0 = (float *)malloc((size_t)(T + 3) * sizeof(float));
        int64_t *y64 = (int64_t *)malloc((size_t)(N * S + 1) * sizeof(int64_t));
        int32_t *y32 = (int32_t *)malloc((size_t)(N * S + 1) * sizeof(int32_t));
        uint8_t *y8 = (uint8_t *)malloc((size_t)(N * S + 3));
        float *zm = zm0 + 1, *gm = gm0 + 3; /* 4 and 12 bytes past malloc's alignment */
        int i, t, lay, lt;
        rng_state = 7u + (uint32_t)si;
        for (i = 0; i < T; i++) za[i] = zm[i] = frand(-5, 5);
        for (i = 0; i < N * S; i++) {
            int v = i % 7 == 3 ? -1 : (int)(rnd() % (unsigned)C);
            y64[i + 1] = v; y32[i + 1] = v; y8[i + 3] = (uint8_t)(v < 0 ? 200 : v);
        }
        for (lay = 0; lay < 2; lay++)
            for (lt = 0; lt < 3; lt++)
                for (t = 0; t < SEGLOSS_LOSS_COUNT; t++) {
                    segloss_config cfg;
                    segloss_input in;
                    segloss_result ra, rm;
                    const void *ym = lt == 0 ? (const void *)(y8 + 3) : lt == 1 ? (const void *)(y32 + 1) : (const void *)(y64 + 1);
                    uint8_t *ya8 = (uint8_t *)malloc((size_t)N * S);
                    int32_t *ya32 = (int32_t *)malloc((size_t)N * S * sizeof(int32_t));
                    int64_t *ya64 = (int64_t *)malloc((size_t)N * S * sizeof(int64_t));
                    const void *ya = lt == 0 ? (const void *)ya8 : lt == 1 ? (const void *)ya32 : (const void *)ya64;
                    segloss_status s1, s2;
                    memcpy(ya8, y8 + 3, (size_t)N * S);
                    memcpy(ya32, y32 + 1, (size_t)N * S * sizeof(int32_t));
                    memcpy(ya64, y64 + 1, (size_t)N * S * sizeof(int64_t));
                    segloss_config_init(&cfg, (segloss_loss_type)t);
                    cfg.ignore_index = lt == 0 ? 200 : -1;
                    cfg.per_sample = t & 1;
                    in = mk_input(za, ya, (segloss_label_type)lt, N, C, S, (segloss_layout)lay);
                    s1 = segloss_compute(&cfg, &in, ga, &ra);
                    in.logits = zm; in.labels = ym;
                    s2 = segloss_compute(&cfg, &in, gm, &rm);
                    CHECK(s1 == SEGLOSS_OK && s2 == SEGLOSS_OK && ra.loss == rm.loss && same_bits(ga, gm, (size_t)T * sizeof(float)),
                          "misaligned %dx%dx%d %s layout %d labels %d", N, C, S, segloss_loss_name(cfg.loss_type), lay, lt);
                    /* in place on the misaligned buffer */
                    s2 = segloss_compute(&cfg, &in, zm, &rm);
                    CHECK(s2 == SEGLOSS_OK && ra.loss == rm.loss && same_bits(ga, zm, (size_t)T * sizeof(float)),
                          "misaligned in place %dx%dx%d %s", N, C, S, segloss_loss_name(cfg.loss_type));
                    memcpy(zm, za, (size_t)T * sizeof(float));
                    free(ya8); free(ya32); free(ya64);
                }
        free(za); free(zm0); free(ga); free(gm0); free(y64); free(y32); free(y8);
    }
}

/* two-phase API: NULLs, stats mismatch, first_sample range (incl. overflow), untouched on error */
static void audit_twophase(void)
{
    segloss_config cfg;
    segloss_input in, b;
    segloss_stats st, sb;
    segloss_result r;
    double sum[2 * 4 * AC + 3], sum_copy[2 * 4 * AC + 3]; /* 2 samples' sums, then the tail */
    float g[AN * AC * AS];
    int64_t len;
    audit_data();
    segloss_config_init(&cfg, SEGLOSS_DICE);
    cfg.ignore_index = 255;
    cfg.per_sample = 1;
    in = mk_input(az, ay, SEGLOSS_LABEL_U8, AN, AC, AS, SEGLOSS_NCHW);
    len = segloss_stats_len(&cfg, AN, AC);
    CHECK(len == 2 * 4 * AC + 3, "stats_len %lld", (long long)len);
    CHECK(segloss_stats_len(NULL, AN, AC) == 0, "stats_len NULL cfg");
    CHECK(segloss_stats_len(&cfg, 0, AC) == 0 && segloss_stats_len(&cfg, AN, 0) == 0 && segloss_stats_len(&cfg, -1, AC) == 0,
          "stats_len bad sizes");
    CHECK(segloss_stats_len(&cfg, INT64_MAX, INT32_MAX) == 0, "stats_len overflow");
    CHECK(segloss_stats_len(&cfg, 1, (int64_t)INT32_MAX + 1) == 0, "stats_len c > INT32_MAX");
    {
        segloss_config bc = cfg;
        bc.loss_type = (segloss_loss_type)9;
        CHECK(segloss_stats_len(&bc, AN, AC) == 0, "stats_len bad config");
    }
    memset(sum, 0, sizeof sum);
    st.n = AN; st.c = AC; st.sum = sum;
    CHECK(segloss_accumulate(&cfg, &in, 0, &st) == SEGLOSS_OK, "accumulate");
    memcpy(sum_copy, sum, sizeof sum);
#define EXPECT_ACC(cfgp, slicep, first, stp, want, what) do { \
        segloss_status s_ = segloss_accumulate(cfgp, slicep, first, stp); \
        CHECK(s_ == (want), "accumulate %s: %d want %d", what, s_, want); \
        CHECK(same_bits(sum, sum_copy, sizeof sum), "accumulate %s: sums written on error", what); } while (0)
    EXPECT_ACC(NULL, &in, 0, &st, SEGLOSS_ERR_NULL, "cfg NULL");
    EXPECT_ACC(&cfg, NULL, 0, &st, SEGLOSS_ERR_NULL, "slice NULL");
    EXPECT_ACC(&cfg, &in, 0, NULL, SEGLOSS_ERR_NULL, "stats NULL");
    sb = st; sb.sum = NULL; EXPECT_ACC(&cfg, &in, 0, &sb, SEGLOSS_ERR_NULL, "stats->sum NULL");
    sb = st; sb.c = AC + 1; EXPECT_ACC(&cfg, &in, 0, &sb, SEGLOSS_ERR_STATS, "stats c mismatch");
    sb = st; sb.n = 0; EXPECT_ACC(&cfg, &in, 0, &sb, SEGLOSS_ERR_STATS, "stats n 0");
    EXPECT_ACC(&cfg, &in, -1, &st, SEGLOSS_ERR_STATS, "first -1");
    EXPECT_ACC(&cfg, &in, 1, &st, SEGLOSS_ERR_STATS, "first + n > stats n");
    EXPECT_ACC(&cfg, &in, INT64_MAX, &st, SEGLOSS_ERR_STATS, "first INT64_MAX");
    EXPECT_ACC(&cfg, &in, INT64_MIN, &st, SEGLOSS_ERR_STATS, "first INT64_MIN");
    b = in; b.n = INT64_MAX; EXPECT_ACC(&cfg, &b, 0, &st, SEGLOSS_ERR_SHAPE, "slice n overflow");
    b = in; b.c = (int64_t)1 << 40; b.s = (int64_t)1 << 40; EXPECT_ACC(&cfg, &b, 0, &st, SEGLOSS_ERR_SHAPE, "slice c*s overflow");
    b = in; b.logits = NULL; EXPECT_ACC(&cfg, &b, 0, &st, SEGLOSS_ERR_NULL, "slice logits NULL");
    {
        uint8_t yb[AN * AS];
        memcpy(yb, ay, sizeof yb);
        yb[AN * AS - 1] = 7;
        b = in; b.labels = yb; EXPECT_ACC(&cfg, &b, 0, &st, SEGLOSS_ERR_LABEL, "bad label in the last position");
    }
    {
        segloss_config bc = cfg;
        float w[AC] = { 1, -1, 1 };
        bc.loss_type = SEGLOSS_FOCAL_DICE; bc.class_weights = w; bc.per_sample = 0;
        EXPECT_ACC(&bc, &in, 0, &st, SEGLOSS_ERR_WEIGHTS, "bad weights");
        bc = cfg; bc.dice_smooth = NAN;
        EXPECT_ACC(&bc, &in, 0, &st, SEGLOSS_ERR_PARAM, "bad smooth");
    }
    /* finish */
    /* api.h: errors are reported in *out as by segloss_compute, untouched when cfg, stats or out is NULL */
    canary(&r, sizeof r);
    CHECK(segloss_finish(NULL, &st, &r) == SEGLOSS_ERR_NULL && untouched(&r, sizeof r), "finish cfg NULL");
    CHECK(segloss_finish(&cfg, NULL, &r) == SEGLOSS_ERR_NULL && untouched(&r, sizeof r), "finish stats NULL");
    CHECK(segloss_finish(&cfg, &st, NULL) == SEGLOSS_ERR_NULL, "finish out NULL");
    sb = st; sb.sum = NULL; CHECK(segloss_finish(&cfg, &sb, &r) == SEGLOSS_ERR_NULL && is_nan(r.loss) && r.valid == 0, "finish sum NULL");
    {
        segloss_config bc = cfg;
        bc.reduction = (segloss_reduction)5;
        canary(&r, sizeof r);
        CHECK(segloss_finish(&bc, &st, &r) == SEGLOSS_ERR_ENUM && is_nan(r.loss), "finish bad config");
    }
    sb = st; sb.n = 0; CHECK(segloss_finish(&cfg, &sb, &r) == SEGLOSS_ERR_STATS && is_nan(r.loss), "finish n 0");
    sb = st; sb.c = -2; CHECK(segloss_finish(&cfg, &sb, &r) == SEGLOSS_ERR_STATS, "finish c -2");
    sb = st; sb.c = (int64_t)INT32_MAX + 1; CHECK(segloss_finish(&cfg, &sb, &r) == SEGLOSS_ERR_STATS, "finish c > INT32_MAX");
    CHECK(segloss_finish(&cfg, &st, &r) == SEGLOSS_OK && r.loss == r.loss, "finish");
    {   /* accumulate + finish + backward == compute (bitwise for the loss is not promised: 1e-12) */
        segloss_result rc;
        float gc[AN * AC * AS];
        CHECK(segloss_compute(&cfg, &in, gc, &rc) == SEGLOSS_OK && fabs(rc.loss - r.loss) <= 1e-12 * fabs(rc.loss), "finish vs compute");
        CHECK(segloss_backward(&cfg, &in, 0, &st, g) == SEGLOSS_OK && same_bits(g, gc, sizeof g), "backward vs compute");
    }
    /* backward */
#define EXPECT_BWD(cfgp, slicep, first, stp, gp, want, what) do { \
        segloss_status s_; canary(g, sizeof g); s_ = segloss_backward(cfgp, slicep, first, stp, gp); \
        CHECK(s_ == (want), "backward %s: %d want %d", what, s_, want); \
        CHECK(untouched(g, sizeof g), "backward %s: grad written on error", what); } while (0)
    EXPECT_BWD(NULL, &in, 0, &st, g, SEGLOSS_ERR_NULL, "cfg NULL");
    EXPECT_BWD(&cfg, NULL, 0, &st, g, SEGLOSS_ERR_NULL, "slice NULL");
    EXPECT_BWD(&cfg, &in, 0, NULL, g, SEGLOSS_ERR_NULL, "stats NULL");
    EXPECT_BWD(&cfg, &in, 0, &st, NULL, SEGLOSS_ERR_NULL, "grad NULL");
    sb = st; sb.c = 2; EXPECT_BWD(&cfg, &in, 0, &sb, g, SEGLOSS_ERR_STATS, "stats c");
    EXPECT_BWD(&cfg, &in, 1, &st, g, SEGLOSS_ERR_STATS, "first + n > stats n");
    EXPECT_BWD(&cfg, &in, INT64_MAX, &st, g, SEGLOSS_ERR_STATS, "first INT64_MAX");
    b = in; b.s = INT64_MAX; EXPECT_BWD(&cfg, &b, 0, &st, g, SEGLOSS_ERR_SHAPE, "s INT64_MAX");
    {
        uint8_t yb[AN * AS];
        memcpy(yb, ay, sizeof yb);
        yb[3] = 3;
        b = in; b.labels = yb; EXPECT_BWD(&cfg, &b, 0, &st, g, SEGLOSS_ERR_LABEL, "bad label");
    }
    {
        float zb[AN * AC * AS + 1];
        int k;
        memcpy(zb, az, sizeof az);
        b = in; b.logits = zb;
        CHECK(segloss_backward(&cfg, &b, 0, &st, zb + 1) == SEGLOSS_ERR_ALIAS, "backward overlap");
        CHECK(same_bits(zb, az, sizeof az), "backward overlap: logits written");
        CHECK(segloss_backward(&cfg, &b, 0, &st, zb) == SEGLOSS_OK, "backward in place");
        segloss_backward(&cfg, &in, 0, &st, g);
        for (k = 0; k < AN * AC * AS && zb[k] == g[k]; k++) {}
        CHECK(k == AN * AC * AS, "backward in place differs at %d", k);
    }
}

/* histogram, class weights, weights_for, confusion, metrics, formats, advice, text, ISA */
static void audit_misc(void)
{
    segloss_input in, b;
    segloss_config cfg;
    int64_t counts[AC], conf[AC * AC], copy[AC * AC];
    float w[AC];
    char buf[512];
    segloss_class_metrics m[AC];
    segloss_advice adv;
    int len, k;
    audit_data();
    in = mk_input(az, ay, SEGLOSS_LABEL_U8, AN, AC, AS, SEGLOSS_NHWC);
    /* histogram */
    memset(counts, 0, sizeof counts);
    CHECK(segloss_label_histogram(&in, 255, NULL) == SEGLOSS_ERR_NULL, "histogram counts NULL");
    CHECK(segloss_label_histogram(NULL, 255, counts) == SEGLOSS_ERR_NULL, "histogram in NULL");
    b = in; b.labels = NULL; CHECK(segloss_label_histogram(&b, 255, counts) == SEGLOSS_ERR_NULL, "histogram labels NULL");
    b = in; b.n = (int64_t)1 << 62; b.s = 8; CHECK(segloss_label_histogram(&b, 255, counts) == SEGLOSS_ERR_SHAPE, "histogram n*s overflow");
    b = in; b.c = 0; CHECK(segloss_label_histogram(&b, 255, counts) == SEGLOSS_ERR_SHAPE, "histogram c 0");
    b = in; b.label_type = (segloss_label_type)7; CHECK(segloss_label_histogram(&b, 255, counts) == SEGLOSS_ERR_ENUM, "histogram enum");
    CHECK(segloss_label_histogram(&in, -100, counts) == SEGLOSS_ERR_LABEL, "histogram label 255 not ignored");
    CHECK(counts[0] == 0 && counts[1] == 0 && counts[2] == 0, "histogram: counts written on error");
    b = in; b.logits = NULL;
    CHECK(segloss_label_histogram(&b, 255, counts) == SEGLOSS_OK && counts[0] + counts[1] + counts[2] > 0, "histogram without logits");
    /* class weights */
    CHECK(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, NULL, AC, w) == SEGLOSS_ERR_NULL, "class_weights counts NULL");
    CHECK(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, counts, AC, NULL) == SEGLOSS_ERR_NULL, "class_weights weights NULL");
    CHECK(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, counts, 0, w) == SEGLOSS_ERR_SHAPE, "class_weights c 0");
    CHECK(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, counts, -5, w) == SEGLOSS_ERR_SHAPE, "class_weights c < 0");
    CHECK(segloss_class_weights((segloss_weighting)4, counts, AC, w) == SEGLOSS_ERR_ENUM, "class_weights method 4");
    CHECK(segloss_class_weights((segloss_weighting)-1, counts, AC, w) == SEGLOSS_ERR_ENUM, "class_weights method -1");
    {
        int64_t neg[AC] = { 5, -1, 3 }, huge[AC] = { INT64_MAX, 1, INT64_MAX };
        canary(w, sizeof w);
        CHECK(segloss_class_weights(SEGLOSS_WEIGHT_MEDIAN, neg, AC, w) == SEGLOSS_ERR_PARAM && untouched(w, sizeof w), "negative count");
        for (k = 0; k < 4; k++) {
            int j, fin = 1;
            CHECK(segloss_class_weights((segloss_weighting)k, huge, AC, w) == SEGLOSS_OK, "huge counts");
            for (j = 0; j < AC; j++) fin &= w[j] >= 0 && w[j] <= FLT_MAX;
            CHECK(fin, "huge counts method %d: weights %g %g %g", k, w[0], w[1], w[2]);
        }
    }
    /* weights_for */
    segloss_config_init(&cfg, SEGLOSS_WEIGHTED_CE);
    cfg.ignore_index = 255;
    CHECK(segloss_weights_for(NULL, &in, w) == SEGLOSS_ERR_NULL && segloss_weights_for(&cfg, NULL, w) == SEGLOSS_ERR_NULL &&
          segloss_weights_for(&cfg, &in, NULL) == SEGLOSS_ERR_NULL, "weights_for NULL");
    b = in; b.logits = NULL; CHECK(segloss_weights_for(&cfg, &b, w) == SEGLOSS_OK, "weights_for without logits");
    b = in; b.s = -1; CHECK(segloss_weights_for(&cfg, &b, w) == SEGLOSS_ERR_SHAPE, "weights_for shape");
    /* confusion */
    memset(conf, 0, sizeof conf);
    CHECK(segloss_confusion(NULL, 255, conf) == SEGLOSS_ERR_NULL && segloss_confusion(&in, 255, NULL) == SEGLOSS_ERR_NULL, "confusion NULL");
    b = in; b.logits = NULL; CHECK(segloss_confusion(&b, 255, conf) == SEGLOSS_ERR_NULL, "confusion logits NULL");
    b = in; b.n = INT64_MAX / 2; b.c = 4; CHECK(segloss_confusion(&b, 255, conf) == SEGLOSS_ERR_SHAPE, "confusion overflow");
    CHECK(segloss_confusion(&in, 0, conf) == SEGLOSS_ERR_LABEL, "confusion bad label");
    for (k = 0; k < AC * AC; k++) CHECK(conf[k] == 0, "confusion written on error");
    {
        float zn[AN * AC * AS];
        memcpy(zn, az, sizeof zn);
        for (k = 0; k < AN * AC * AS; k += 5) zn[k] = NAN;
        zn[1] = INFINITY; zn[2] = -INFINITY;
        b = in; b.logits = zn;
        CHECK(segloss_confusion(&b, 255, conf) == SEGLOSS_OK, "confusion with NaN logits");
        b.layout = SEGLOSS_NCHW;
        CHECK(segloss_confusion(&b, 255, conf) == SEGLOSS_OK, "confusion with NaN logits NCHW");
    }
    memcpy(copy, conf, sizeof conf);
    /* metrics */
    CHECK(is_nan(segloss_metrics(NULL, AC, m)) && is_nan(segloss_metrics(conf, 0, m)) && is_nan(segloss_metrics(conf, -1, m)), "metrics invalid");
    CHECK(segloss_metrics(conf, AC, NULL) == segloss_metrics(conf, AC, m), "metrics per_class NULL");
    CHECK(same_bits(conf, copy, sizeof conf), "metrics modified confusion");
    /* metrics_format: -1 on bad input (buf emptied), snprintf semantics for every size */
    buf[0] = 'x';
    CHECK(segloss_metrics_format(NULL, AC, NULL, buf, sizeof buf) == -1 && buf[0] == 0, "metrics_format NULL");
    CHECK(segloss_metrics_format(m, 0, NULL, buf, sizeof buf) == -1, "metrics_format c 0");
    CHECK(segloss_metrics_format(m, INT64_MAX, NULL, buf, sizeof buf) == -1, "metrics_format c huge");
    len = segloss_metrics_format(m, AC, NULL, NULL, 0);
    CHECK(len > 0 && len < (int)sizeof buf, "metrics_format length %d", len);
    for (k = 0; k <= len + 1; k++) {
        char *small = (char *)malloc((size_t)k + 1);
        int l2;
        small[k] = 'Z';
        l2 = segloss_metrics_format(m, AC, NULL, k ? small : NULL, (size_t)k);
        CHECK(l2 == len && small[k] == 'Z' && (k == 0 || strlen(small) == (size_t)(k - 1 < len ? k - 1 : len)), "metrics_format size %d", k);
        free(small);
    }
    {
        const char *names[AC] = { NULL, "a-name-that-is-longer-than-the-column-and-longer-than-sixty-four-characters-xxxxxxxx", "" };
        segloss_class_metrics mm[AC];
        memcpy(mm, m, sizeof mm);
        mm[0].recall = 1e300; mm[1].precision = -INFINITY; mm[2].iou = NAN;
        CHECK(segloss_metrics_format(mm, AC, names, buf, sizeof buf) > 0, "metrics_format odd values");
    }
    /* config_format */
    segloss_config_init(&cfg, SEGLOSS_FOCAL_DICE);
    CHECK(segloss_config_format(NULL, NULL, 0, buf, sizeof buf) == -1 && buf[0] == 0, "config_format NULL");
    {
        segloss_config bc = cfg;
        bc.loss_type = (segloss_loss_type)17;
        CHECK(segloss_config_format(&bc, NULL, 0, buf, sizeof buf) == -1, "config_format bad type");
    }
    CHECK(segloss_config_format(&cfg, w, 0, buf, sizeof buf) == -1 && segloss_config_format(&cfg, w, -1, buf, sizeof buf) == -1 &&
          segloss_config_format(&cfg, w, INT64_MAX, buf, sizeof buf) == -1, "config_format bad c");
    len = segloss_config_format(&cfg, w, AC, NULL, 0);
    for (k = 0; k <= len + 1; k++) {
        char *small = (char *)malloc((size_t)k + 1);
        int l2;
        small[k] = 'Z';
        l2 = segloss_config_format(&cfg, w, AC, k ? small : NULL, (size_t)k);
        CHECK(l2 == len && small[k] == 'Z' && (k == 0 || strlen(small) == (size_t)(k - 1 < len ? k - 1 : len)), "config_format size %d", k);
        free(small);
    }
    /* config_parse */
    {
        segloss_config c2, before;
        char e1[1], e5[5];
        memset(&c2, 0x5A, sizeof c2);
        before = c2;
        CHECK(segloss_config_parse(NULL, &c2, buf, sizeof buf) == SEGLOSS_ERR_NULL, "parse text NULL");
        CHECK(segloss_config_parse("loss_type=ce", NULL, buf, sizeof buf) == SEGLOSS_ERR_NULL, "parse cfg NULL");
        CHECK(segloss_config_parse("loss_type=nope", &c2, NULL, 0) == SEGLOSS_ERR_PARSE, "parse err NULL");
        CHECK(segloss_config_parse("gamma=-1", &c2, buf, 0) == SEGLOSS_ERR_PARSE, "parse err size 0");
        e1[0] = 'q';
        CHECK(segloss_config_parse("gamma=1,gamma=2", &c2, e1, 1) == SEGLOSS_ERR_PARSE && e1[0] == 0, "parse err size 1");
        CHECK(segloss_config_parse("x y z", &c2, e5, sizeof e5) == SEGLOSS_ERR_PARSE && strlen(e5) == 4, "parse err size 5");
        CHECK(segloss_config_parse("gamma=1e39", &c2, e5, sizeof e5) == SEGLOSS_ERR_PARSE, "parse beyond float");
        CHECK(segloss_config_parse("gamma=nan", &c2, e5, sizeof e5) == SEGLOSS_ERR_PARSE, "parse nan");
        CHECK(segloss_config_parse("ignore_index=9223372036854775808", &c2, e5, sizeof e5) == SEGLOSS_ERR_PARSE, "parse int64 overflow");
        CHECK(segloss_config_parse("loss_type='focal_dice', focal_weight=0, dice_weight=0", &c2, buf, sizeof buf) == SEGLOSS_ERR_PARSE, "parse both weights 0");
        CHECK(same_bits(&c2, &before, sizeof c2), "parse wrote cfg on error");
        CHECK(segloss_config_parse("ignore_index=-9223372036854775808", &c2, buf, sizeof buf) == SEGLOSS_OK && c2.ignore_index == INT64_MIN, "parse INT64_MIN");
    }
    /* advise: never crashes, always a valid config */
    segloss_advise(NULL, NULL, 0, NULL, 0, NULL);
    segloss_advise(NULL, NULL, 0, NULL, 0, &adv);
    CHECK(adv.config.loss_type == SEGLOSS_CE && strlen(adv.reason) > 0, "advise nothing known");
    {
        segloss_config bc;
        segloss_config_init(&bc, (segloss_loss_type)42);
        segloss_advise(counts, m, -3, &bc, 1, &adv);
        CHECK((unsigned)adv.config.loss_type < SEGLOSS_LOSS_COUNT && strlen(adv.reason) < sizeof adv.reason, "advise odd input");
    }
    /* names, strings, version, ISA */
    for (k = -2; k < 16; k++) CHECK(segloss_status_string((segloss_status)k) != NULL, "status_string %d", k);
    CHECK(segloss_loss_name((segloss_loss_type)-1) == NULL && segloss_loss_name((segloss_loss_type)SEGLOSS_LOSS_COUNT) == NULL, "loss_name unknown");
    {
        segloss_loss_type lt = SEGLOSS_DICE;
        CHECK(segloss_loss_from_name(NULL, &lt) == SEGLOSS_ERR_NULL && segloss_loss_from_name("ce", NULL) == SEGLOSS_ERR_NULL, "from_name NULL");
        CHECK(segloss_loss_from_name("", &lt) == SEGLOSS_ERR_ENUM && segloss_loss_from_name("CE", &lt) == SEGLOSS_ERR_ENUM && lt == SEGLOSS_DICE, "from_name unknown");
    }
    segloss_config_init(NULL, SEGLOSS_CE);
    CHECK(segloss_version() == SEGLOSS_VERSION_NUMBER, "version");
    CHECK(segloss_isa_supported(NULL) == 0 && segloss_isa_supported("") == 0 && segloss_isa_supported("AVX2") == 0, "isa_supported junk");
    {
        char active[16];
        snprintf(active, sizeof active, "%s", segloss_active_isa());
        CHECK(segloss_set_isa("bogus") == SEGLOSS_ERR_ISA && segloss_set_isa("") == SEGLOSS_ERR_ISA, "set_isa junk");
        CHECK(strcmp(segloss_active_isa(), active) == 0, "a refused set_isa changed the path");
        if (!segloss_isa_supported("avx512")) CHECK(segloss_set_isa("avx512") == SEGLOSS_ERR_ISA, "set_isa avx512 unsupported");
    }
}

/* ======================================================================================== */

typedef struct { const char *name; void (*fn)(void); } group;
static const group groups[] = {
    { "R1 NHWC C > 4096 stack overflow", r1_nhwc_many_classes },
    { "R2 float lane sums overflow near 1e37", r2_float_lane_overflow },
    { "R3 int32 labels, ignore_index outside int32", r3_ignore_index_outside_int32 },
    { "audit compute", audit_compute },
    { "audit alias", audit_alias },
    { "audit misaligned", audit_misaligned },
    { "audit two-phase", audit_twophase },
    { "audit misc", audit_misc },
};

/* Runs a group in a child; a crash or a sanitizer exit is one failure. */
static void run_group(const group *gr, const char *isa)
{
    int fd[2], status = 0, counts[2] = { 0, 0 };
    pid_t pid;
    fflush(stdout);
    if (pipe(fd) != 0) { perror("pipe"); exit(2); }
    pid = fork();
    if (pid == 0) {
        char where[128];
        close(fd[0]);
        check_passed = check_failed = 0; /* this group's counts only */
        snprintf(where, sizeof where, "[%s] %s", isa, gr->name);
        check_where = where; /* CHECK's failures read "FAIL [isa] group: file:line: ..." */
        if (segloss_set_isa(isa) != SEGLOSS_OK) { printf("FAIL cannot set %s\n", isa); _exit(3); }
        gr->fn();
        counts[0] = check_passed;
        counts[1] = check_failed;
        if (write(fd[1], counts, sizeof counts) != (ssize_t)sizeof counts) _exit(4);
        fflush(stdout);
        _exit(0);
    }
    close(fd[1]);
    if (read(fd[0], counts, sizeof counts) != (ssize_t)sizeof counts) counts[0] = counts[1] = 0;
    close(fd[0]);
    waitpid(pid, &status, 0);
    check_passed += counts[0];
    check_failed += counts[1];
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        check_count(0); /* a crash or a sanitizer exit: one failure (a clean exit adds none) */
        if (WIFSIGNALED(status)) printf("FAIL [%s] %s: killed by signal %d\n", isa, gr->name, WTERMSIG(status));
        else printf("FAIL [%s] %s: exit status %d (sanitizer report above?)\n", isa, gr->name, WEXITSTATUS(status));
    } else {
        printf("ok   [%s] %s: %d checks, %d failed\n", isa, gr->name, counts[0] + counts[1], counts[1]);
    }
}

int main(int argc, char **argv)
{
    const char *env = getenv("SEGLOSS_ISA");
    size_t i;
    int k, list = 0;
    for (i = 1; i < (size_t)argc; i++)
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--paths")) list = 1;
    if (list) {
        for (k = segloss_isa_count() - 1; k >= 0; k--)
            if (segloss_isa_supported(segloss_isa_name(k))) printf("%s\n", segloss_isa_name(k));
        return 0;
    }
    printf("segloss regress: default path %s\n", segloss_active_isa());
    for (k = segloss_isa_count() - 1; k >= 0; k--) { /* the compiled-in paths, scalar first */
        const char *isa = segloss_isa_name(k);
        if (env && *env && strcmp(env, isa)) continue; /* SEGLOSS_ISA: that path only */
        if (!segloss_isa_supported(isa)) {
            printf("SKIP: %s not available on this CPU\n", isa);
            continue;
        }
        for (i = 0; i < sizeof groups / sizeof groups[0]; i++) run_group(&groups[i], isa);
    }
    return check_report();
}
