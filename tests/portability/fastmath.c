/* tests/portability/fastmath.c — a program whose one translation unit holds the implementation
   and is compiled with the fast-math flags users compile whole projects with (gcc -Ofast,
   -ffast-math -fno-finite-math-only, -ffinite-math-only; clang's refusals are checked by
   tests/portability/fastmath.sh). It checks what such flags used to break:
     - check_finite still finds a NaN and an infinite logit, at the right position;
     - NaN and infinite parameters (focal_gamma, dice_smooth, a class weight) are still refused;
     - a NaN logit still gives a NaN loss where check_finite is off;
     - every path still agrees bit for bit with scalar (sse2 within 2e-6) on every loss;
   and prints the scalar path's hash of losses and gradients, which fastmath.sh compares with
   the plain build's. Or, where the self-test refuses the build: every call returns
   SEGLOSS_ERR_BUILD, and it prints "refused". Ends with "N passed, M failed". */
#define SEGLOSS_IMPLEMENTATION
#include "../../segloss.h"
#include "../check.h"
#include <string.h>

/* NaN and infinity made from their bits: a fast-math compiler may fold the NAN macro */
static float bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static int is_nan(double d) { uint64_t b; memcpy(&b, &d, 8); return (b & 0x7FFFFFFFFFFFFFFFull) > 0x7FF0000000000000ull; }

enum { N = 2, C = 4, S = 203 };
static float z[N * C * S], g[N * C * S];
static uint8_t y[N * S];

static segloss_status run(segloss_config *cfg, float *grad, segloss_result *r)
{
    segloss_input in;
    in.logits = z; in.labels = y; in.label_type = SEGLOSS_LABEL_U8;
    in.n = N; in.c = C; in.s = S; in.layout = SEGLOSS_NCHW;
    return segloss_compute(cfg, &in, grad, r);
}

int main(void)
{
    const float nan = bits(0x7FC00000u), inf = bits(0x7F800000u);
    uint32_t rng = 7u;
    uint64_t h = 14695981039346656037ull;
    float w[C] = {1.0f, 2.0f, 0.5f, 3.0f};
    segloss_config cfg;
    segloss_result r;
    int i, t, k;
    for (i = 0; i < N * C * S; i++) { rng = rng * 1664525u + 1013904223u; z[i] = (float)((int)(rng >> 20) - 2048) / 256.0f; }
    for (i = 0; i < N * S; i++) y[i] = (uint8_t)(i % 11 == 0 ? 255 : (i * 7) % C);

    segloss_config_init(&cfg, SEGLOSS_CE);
    cfg.ignore_index = 255;
    if (run(&cfg, NULL, &r) == SEGLOSS_ERR_BUILD) {
        printf("refused\n");
        for (t = 0; t < SEGLOSS_LOSS_COUNT; t++) {
            segloss_config_init(&cfg, (segloss_loss_type)t);
            CHECK(run(&cfg, g, &r) == SEGLOSS_ERR_BUILD, "loss %d", t);
        }
        return check_report();
    }

    /* check_finite and parameter validation */
    cfg.check_finite = 1;
    z[5 * S + 18] = nan;
    CHECK(run(&cfg, g, &r) == SEGLOSS_ERR_NONFINITE && r.bad_position == 5 * S + 18, "NaN logit: %lld",
          (long long)r.bad_position);
    z[5 * S + 18] = -inf;
    CHECK(run(&cfg, g, &r) == SEGLOSS_ERR_NONFINITE && r.bad_position == 5 * S + 18, "-inf logit");
    cfg.check_finite = 0;
    z[5 * S + 18] = nan;
    CHECK(run(&cfg, NULL, &r) == SEGLOSS_OK && is_nan(r.loss), "NaN logit gives a NaN loss: %g", r.loss);
    z[5 * S + 18] = 0.25f;
    segloss_config_init(&cfg, SEGLOSS_FOCAL);
    cfg.ignore_index = 255;
    cfg.focal_gamma = nan;
    CHECK(run(&cfg, g, &r) == SEGLOSS_ERR_PARAM, "NaN focal_gamma");
    cfg.focal_gamma = inf;
    CHECK(run(&cfg, g, &r) == SEGLOSS_ERR_PARAM, "infinite focal_gamma");
    segloss_config_init(&cfg, SEGLOSS_DICE);
    cfg.dice_smooth = nan;
    CHECK(run(&cfg, g, &r) == SEGLOSS_ERR_PARAM, "NaN dice_smooth");
    segloss_config_init(&cfg, SEGLOSS_WEIGHTED_CE);
    cfg.ignore_index = 255;
    w[2] = nan;
    cfg.class_weights = w;
    CHECK(run(&cfg, g, &r) == SEGLOSS_ERR_WEIGHTS, "NaN class weight");
    w[2] = 0.5f;

    /* every path against scalar, every loss; the scalar results hashed */
    for (t = 0; t < SEGLOSS_LOSS_COUNT; t++) {
        static float ref[N * C * S];
        double ref_loss;
        segloss_config_init(&cfg, (segloss_loss_type)t);
        cfg.ignore_index = 255;
        segloss_set_isa("scalar");
        CHECK(run(&cfg, ref, &r) == SEGLOSS_OK, "scalar loss %d", t);
        ref_loss = r.loss;
        for (i = 0; i < N * C * S; i++) { uint32_t b; memcpy(&b, &ref[i], 4); h = (h ^ b) * 1099511628211ull; }
        { uint64_t b; memcpy(&b, &ref_loss, 8); h = (h ^ b) * 1099511628211ull; }
        for (k = 0; k < segloss_isa_count(); k++) {
            const char *isa = segloss_isa_name(k);
            const int fma = strcmp(isa, "sse2") != 0;
            double worst = 0.0, gmax = 0.0;
            if (segloss_set_isa(isa) != SEGLOSS_OK) continue;
            CHECK(run(&cfg, g, &r) == SEGLOSS_OK, "%s loss %d", isa, t);
            for (i = 0; i < N * C * S; i++) {
                const double d = (double)g[i] - (double)ref[i], a = (double)ref[i];
                if ((d < 0 ? -d : d) > worst) worst = d < 0 ? -d : d;
                if ((a < 0 ? -a : a) > gmax) gmax = a < 0 ? -a : a;
            }
            if (fma) CHECK(r.loss == ref_loss && worst == 0.0, "%s loss %d bit-identical to scalar", isa, t);
            else CHECK(worst <= 2e-6 * gmax && (r.loss - ref_loss) <= 2e-6 * ref_loss &&
                       (ref_loss - r.loss) <= 2e-6 * ref_loss, "%s loss %d within 2e-6 of scalar", isa, t);
        }
    }
    segloss_set_isa(NULL);
    printf("fingerprint %016llx\n", (unsigned long long)h);
    return check_report();
}
