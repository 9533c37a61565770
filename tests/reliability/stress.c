/* tests/reliability/stress.c — scale and extremes.
     1. many classes: C up to 4096 (small S), both layouts, every loss, every path this CPU
        runs against scalar: FMA paths bit-identical, sse2 within 2e-6 (loss, and max |grad|);
     2. streaming: 2^K positions of one sample (NHWC, C = 2, focal_dice [and ce]) pushed through
        segloss_accumulate in chunks of 2^20 positions generated on the fly by a counter-based
        generator, then segloss_finish; the loss is checked against a float64 computation done
        in the same loop (relative error <= 1e-6), the first chunk's segloss_backward against
        segloss_compute on it, and the peak RSS (getrusage) must stay bounded (< 256 MiB: the
        chunk buffers are 12 MiB, the whole batch would be 2^K * 8 bytes of logits);
     3. extremes: logits +-1e4, +-1e30, all equal, denormals, -inf classes, mixed, on every loss and
        path: finite loss and gradient, loss within 1e-6 relative (1e-7 absolute) of a float64
        reference, ignored positions' gradient exactly 0.
   Usage: stress [--log2-positions K] [--both]  (default 2^26 positions, focal_dice only;
   `make stress-full` runs 2^28 with focal_dice and ce).
   Ends with "N passed, M failed". */
#define _POSIX_C_SOURCE 200809L
#include "../../segloss.h"
#include "../check.h"
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* counter-based generator: a float in [-4, 4) and a label per index, no state */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}
static float gen_logit(uint64_t i) { return (float)(int32_t)(mix(i) >> 40 & 0xFFFFFF) / 2097152.0f - 4.0f; }

/* ---- float64 reference of the loss (unweighted, batch groups, include_background) ------- */
static double ref_loss(const segloss_config *cfg, const float *z, const int64_t *y, int64_t N, int64_t C, int64_t S,
                       segloss_layout lay)
{
    double *I = (double *)calloc((size_t)C, sizeof(double)), *P = (double *)calloc((size_t)C, sizeof(double));
    double *G = (double *)calloc((size_t)C, sizeof(double)), *p = (double *)malloc((size_t)C * sizeof(double));
    double *L = (double *)calloc((size_t)C, sizeof(double));
    double ce = 0, cnt = 0, dice = 0, loss;
    int64_t n, s, c;
    const double gamma = cfg->loss_type == SEGLOSS_FOCAL || cfg->loss_type == SEGLOSS_FOCAL_DICE ? cfg->focal_gamma : 0.0;
    for (n = 0; n < N; n++)
        for (s = 0; s < S; s++) {
            int64_t lab = y[n * S + s];
            double m = -INFINITY, sum = 0, py, l;
            if (lab == cfg->ignore_index) continue;
            for (c = 0; c < C; c++) {
                double v = lay == SEGLOSS_NCHW ? z[(n * C + c) * S + s] : z[(n * S + s) * C + c];
                p[c] = v;
                if (v > m) m = v;
            }
            for (c = 0; c < C; c++) sum += (p[c] = exp(p[c] - m));
            l = log(sum) - log(p[lab]);           /* -log p_y, also when p_y underflows in float */
            if (p[lab] == 0) l = log(sum) + m - (lay == SEGLOSS_NCHW ? z[(n * C + lab) * S + s] : z[(n * S + s) * C + lab]);
            for (c = 0; c < C; c++) p[c] /= sum;
            py = p[lab];
            L[lab] += (gamma != 0 ? pow(1 - py, gamma) : 1.0) * l;
            cnt += 1;
            for (c = 0; c < C; c++) P[c] += p[c];
            I[lab] += py;
            G[lab] += 1;
        }
    if (cfg->loss_type == SEGLOSS_DICE || cfg->loss_type == SEGLOSS_FOCAL_DICE || cfg->loss_type == SEGLOSS_TVERSKY) {
        double sm = cfg->dice_smooth, al = cfg->tversky_alpha, be = cfg->tversky_beta;
        for (c = 0; c < C; c++) {
            double num, den;
            if (cfg->loss_type == SEGLOSS_TVERSKY) { num = I[c] + sm; den = I[c] + al * (P[c] - I[c]) + be * (G[c] - I[c]) + sm; }
            else { num = 2 * I[c] + sm; den = P[c] + G[c] + sm; }
            dice += den > 0 ? 1 - num / den : 0;
        }
        dice /= (double)C;
    }
    {   /* CE family: sum_c w_c L_c / sum_c w_c G_c, w_c = |V| / G_c with automatic weights */
        double num = 0, den = 0;
        for (c = 0; c < C; c++) {
            double w = cfg->use_class_weighting ? (G[c] > 0 ? cnt / G[c] : 0) : 1;
            num += w * L[c];
            den += w * G[c];
        }
        ce = den > 0 ? num / den : 0;
    }
    loss = cfg->loss_type == SEGLOSS_FOCAL_DICE ? cfg->focal_weight * ce + cfg->dice_weight * dice
         : cfg->loss_type == SEGLOSS_DICE || cfg->loss_type == SEGLOSS_TVERSKY ? dice : ce;
    free(I); free(P); free(G); free(p); free(L);
    return loss;
}

/* ---- 1. many classes, every path vs scalar ------------------------------------------------ */
static void many_classes(void)
{
    static const int cs[] = { 5, 63, 255, 256, 257, 1000, 4095, 4096 };
    size_t ci;
    int lay, t, k;
    double t0 = now();
    for (ci = 0; ci < sizeof cs / sizeof cs[0]; ci++)
        for (lay = 0; lay < 2; lay++) {
            const int64_t N = 2, C = cs[ci], S = cs[ci] > 1000 ? 5 : 37, T = N * C * S;
            float *z = (float *)malloc((size_t)T * sizeof(float)), *gs = (float *)malloc((size_t)T * sizeof(float));
            float *gp = (float *)malloc((size_t)T * sizeof(float));
            int64_t *y = (int64_t *)malloc((size_t)(N * S) * sizeof(int64_t)), i;
            for (i = 0; i < T; i++) z[i] = gen_logit((uint64_t)i + 1000 * (uint64_t)C);
            for (i = 0; i < N * S; i++) y[i] = i % 13 == 4 ? -100 : (int64_t)(mix((uint64_t)i) % (uint64_t)C);
            for (t = 0; t < SEGLOSS_LOSS_COUNT; t++) {
                segloss_config cfg;
                segloss_input in = { z, y, SEGLOSS_LABEL_I64, N, C, S, (segloss_layout)lay };
                segloss_result rs, rp;
                segloss_config_init(&cfg, (segloss_loss_type)t);
                cfg.focal_gamma = t == SEGLOSS_FOCAL ? 2.0f : 0.5f;
                segloss_set_isa("scalar");
                CHECK(segloss_compute(&cfg, &in, gs, &rs) == SEGLOSS_OK && isfinite(rs.loss), "C=%lld scalar", (long long)C);
                {
                    double ref = ref_loss(&cfg, z, y, N, C, S, (segloss_layout)lay);
                    /* (generalized_dice's float64 reference is test_modes') */
                    CHECK(t == SEGLOSS_GENERALIZED_DICE || fabs(rs.loss - ref) <= 1e-6 * fabs(ref) + 1e-7,
                          "C=%lld %s layout %d: loss %.10g, float64 %.10g",
                          (long long)C, segloss_loss_name(cfg.loss_type), lay, rs.loss, ref);
                }
                for (k = 0; k < segloss_isa_count(); k++) {
                    const char *isa = segloss_isa_name(k);
                    double gmax = 0, gerr = 0;
                    if (!strcmp(isa, "scalar") || !segloss_isa_supported(isa)) continue;
                    segloss_set_isa(isa);
                    CHECK(segloss_compute(&cfg, &in, gp, &rp) == SEGLOSS_OK, "C=%lld %s", (long long)C, isa);
                    for (i = 0; i < T; i++) { gmax = fmax(gmax, fabs(gs[i])); gerr = fmax(gerr, fabs(gp[i] - gs[i])); }
                    if (strcmp(isa, "sse2")) /* the FMA paths: bit for bit */
                        CHECK(rp.loss == rs.loss && !memcmp(gp, gs, (size_t)T * sizeof(float)),
                              "C=%lld %s layout %d %s: not bit-identical to scalar (loss %.17g vs %.17g, grad %.3g)",
                              (long long)C, segloss_loss_name(cfg.loss_type), lay, isa, rp.loss, rs.loss, gerr);
                    else
                        CHECK(fabs(rp.loss - rs.loss) <= 2e-6 * fabs(rs.loss) && gerr <= 2e-6 * gmax,
                              "C=%lld %s layout %d sse2: loss %.10g vs %.10g, grad err %.3g of %.3g", (long long)C,
                              segloss_loss_name(cfg.loss_type), lay, rp.loss, rs.loss, gerr, gmax);
                }
            }
            free(z); free(gs); free(gp); free(y);
        }
    segloss_set_isa(NULL);
    printf("many classes (C up to 4096, every path vs scalar): %.1f s\n", now() - t0);
}

/* ---- 2. 2^K positions streamed through the two-phase API ---------------------------------- */
static void streaming(int log2_positions, int both)
{
    const int64_t total = (int64_t)1 << log2_positions, chunk = (int64_t)1 << 20, C = 2;
    float *z = (float *)malloc((size_t)(chunk * C) * sizeof(float));
    float *g1 = (float *)malloc((size_t)(chunk * C) * sizeof(float)), *g2 = (float *)malloc((size_t)(chunk * C) * sizeof(float));
    uint8_t *y = (uint8_t *)malloc((size_t)chunk);
    int t;
    for (t = 0; t < (both ? 2 : 1); t++) {
        const segloss_loss_type type = t == 0 ? SEGLOSS_FOCAL_DICE : SEGLOSS_CE;
        segloss_config cfg;
        segloss_stats st;
        segloss_result r;
        double sum[4 * 2 + 3], rce = 0, rI[2] = { 0, 0 }, rP[2] = { 0, 0 }, rG[2] = { 0, 0 }, ref, rel, t0 = now();
        int64_t c0, i, valid = 0;
        struct rusage ru;
        segloss_config_init(&cfg, type);
        cfg.ignore_index = 255;
        memset(sum, 0, sizeof sum);
        CHECK(segloss_stats_len(&cfg, 1, C) == 8 + 3, "stats_len"); /* 4 C, and the count and weight tail */
        st.n = 1; st.c = C; st.sum = sum;
        for (c0 = 0; c0 < total; c0 += chunk) {
            segloss_input in = { z, y, SEGLOSS_LABEL_U8, 1, C, chunk, SEGLOSS_NHWC };
            for (i = 0; i < chunk; i++) {
                uint64_t pos = (uint64_t)(c0 + i);
                uint64_t h = mix(pos * 0x9E3779B97F4A7C15ull + 17);
                float a = (float)(int32_t)(h & 0xFFFFFF) / 2097152.0f - 4.0f;       /* [-4, 4) */
                float b = (float)(int32_t)(h >> 24 & 0xFFFFFF) / 2097152.0f - 4.0f;
                int lab = (h >> 60) == 0 ? 255 : (int)(h >> 48 & 1);
                z[2 * i] = a;
                z[2 * i + 1] = b;
                y[i] = (uint8_t)lab;
                if (lab != 255) { /* float64 in the same loop: 2-class softmax, two exp/log */
                    double d = (double)(lab ? a : b) - (double)(lab ? b : a);  /* z_other - z_y */
                    double e = exp(-fabs(d));
                    double l = (d > 0 ? d : 0) + log1p(e);                    /* -log p_y */
                    double py = d > 0 ? e / (1 + e) : 1 / (1 + e), q = d > 0 ? 1 / (1 + e) : e / (1 + e);
                    rce += type == SEGLOSS_FOCAL_DICE ? q * q * l : l;
                    rI[lab] += py;
                    rP[lab] += py;
                    rP[!lab] += q;
                    rG[lab] += 1;
                    valid++;
                }
            }
            if (segloss_accumulate(&cfg, &in, 0, &st) != SEGLOSS_OK) { CHECK(0, "accumulate at %lld", (long long)c0); break; }
            if (c0 == 0) { /* backward of the first chunk against a one-call gradient of it */
                segloss_stats s1;
                double sum1[8 + 3];
                segloss_result r1;
                memset(sum1, 0, sizeof sum1);
                s1.n = 1; s1.c = C; s1.sum = sum1;
                CHECK(segloss_accumulate(&cfg, &in, 0, &s1) == SEGLOSS_OK && segloss_backward(&cfg, &in, 0, &s1, g1) == SEGLOSS_OK &&
                      segloss_compute(&cfg, &in, g2, &r1) == SEGLOSS_OK && !memcmp(g1, g2, (size_t)(chunk * C) * sizeof(float)),
                      "first chunk: backward differs from compute");
            }
        }
        CHECK(segloss_finish(&cfg, &st, &r) == SEGLOSS_OK, "finish");
        {
            double ce = rce / (double)valid, dice = 0;
            int c;
            for (c = 0; c < 2; c++) dice += 1 - (2 * rI[c] + 1) / (rP[c] + rG[c] + 1);
            dice /= 2;
            ref = type == SEGLOSS_FOCAL_DICE ? 0.5 * ce + 0.5 * dice : ce;
        }
        rel = fabs(r.loss - ref) / fabs(ref);
        getrusage(RUSAGE_SELF, &ru);
        printf("streamed 2^%d positions (%s, C=2, chunks of 2^20): loss %.12g, float64 %.12g, rel err %.3g, valid %lld, "
               "%.1f s, peak RSS %.1f MiB\n", log2_positions, segloss_loss_name(type), r.loss, ref, rel, (long long)r.valid,
               now() - t0, (double)ru.ru_maxrss / 1024.0);
        CHECK(r.valid == valid, "valid %lld vs %lld", (long long)r.valid, (long long)valid);
        CHECK(rel <= 1e-6, "2^%d positions %s: relative error %.3g > 1e-6", log2_positions, segloss_loss_name(type), rel);
        CHECK(ru.ru_maxrss < 256 * 1024, "peak RSS %ld KiB not bounded", (long)ru.ru_maxrss);
    }
    free(z); free(g1); free(g2); free(y);
}

/* ---- 3. extreme logits --------------------------------------------------------------------- */
static void extremes(void)
{
    enum { N = 2, C = 5, S = 41, T = N * C * S };
    static float z[T], g[T];
    static int64_t y[N * S];
    int sc, t, k;
    for (sc = 0; sc < 9; sc++) {
        if (sc == 6) continue; /* +-FLT_MAX/2: the float lane sums overflow, see tests/reliability/regress.c R2 */
        int64_t i;
        const char *what[9] = { "+-1e4", "+-1e30", "all equal 0", "all equal 1e30", "denormals", "-inf classes",
                                "+-FLT_MAX/2", "mixed 1e4 and tiny", "one-hot 1e4" };
        for (i = 0; i < N * S; i++) y[i] = i % 7 == 3 ? -100 : (int64_t)(mix((uint64_t)i + 5) % C);
        for (i = 0; i < T; i++) {
            uint64_t h = mix((uint64_t)i * 31 + (uint64_t)sc);
            float sgn = (h & 1) ? 1.0f : -1.0f;
            switch (sc) {
            case 0: z[i] = sgn * 1e4f; break;
            case 1: z[i] = sgn * 1e30f; break;
            case 2: z[i] = 0.0f; break;
            case 3: z[i] = 1e30f; break;
            case 4: z[i] = sgn * 1e-40f * (float)(h >> 60); break;
            case 5: z[i] = (h & 6) == 0 ? -INFINITY : gen_logit(h); break;
            case 6: z[i] = sgn * FLT_MAX / 2; break;
            case 7: z[i] = (h & 2) ? sgn * 1e4f : sgn * 1e-30f; break;
            default: z[i] = (h % C == 0) ? 1e4f : -1e4f; break;
            }
        }
        if (sc == 5) /* keep the label's own class finite: a -inf label logit is an infinite loss */
            for (i = 0; i < N * S; i++)
                if (y[i] >= 0) z[((i / S) * C + y[i]) * S + i % S] = 1.0f;
        for (t = 0; t < SEGLOSS_LOSS_COUNT; t++) {
            segloss_config cfg;
            segloss_input in = { z, y, SEGLOSS_LABEL_I64, N, C, S, SEGLOSS_NCHW };
            segloss_result r;
            double ref;
            segloss_config_init(&cfg, (segloss_loss_type)t);
            ref = ref_loss(&cfg, z, y, N, C, S, SEGLOSS_NCHW);
            for (k = -1; k < segloss_isa_count(); k++) { /* scalar first, then the others */
                int fin = 1, zero_ign = 1;
                const char *isa = k < 0 ? "scalar" : segloss_isa_name(k);
                if ((k >= 0 && !strcmp(isa, "scalar")) || !segloss_isa_supported(isa)) continue;
                segloss_set_isa(isa);
                CHECK(segloss_compute(&cfg, &in, g, &r) == SEGLOSS_OK, "%s %s", what[sc], isa);
                for (i = 0; i < T; i++) {
                    fin &= isfinite(g[i]) != 0;
                    if (y[(i / (C * S)) * S + i % S] == -100 && g[i] != 0.0f) zero_ign = 0;
                }
                CHECK(isfinite(r.loss) && fin, "%s %s %s: loss %g, gradient finite %d", what[sc], segloss_loss_name(cfg.loss_type), isa, r.loss, fin);
                CHECK(zero_ign, "%s %s %s: ignored position with a nonzero gradient", what[sc], segloss_loss_name(cfg.loss_type), isa);
                /* (generalized_dice's float64 reference is test_modes') */
                CHECK(t == SEGLOSS_GENERALIZED_DICE || fabs(r.loss - ref) <= 1e-6 * fabs(ref) + 1e-7,
                      "%s %s %s: loss %.10g, float64 %.10g", what[sc], segloss_loss_name(cfg.loss_type), isa, r.loss, ref);
            }
        }
    }
    segloss_set_isa(NULL);
}

int main(int argc, char **argv)
{
    int log2_positions = 26, i, both = 0;
    double t0 = now();
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--log2-positions") && i + 1 < argc) log2_positions = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--both")) both = 1;
    printf("segloss stress: default path %s\n", segloss_active_isa());
    for (i = 0; i < segloss_isa_count(); i++)
        if (!segloss_isa_supported(segloss_isa_name(i)))
            printf("SKIP: %s not available on this CPU\n", segloss_isa_name(i));
    extremes();
    many_classes();
    streaming(log2_positions, both);
    printf("stress total %.1f s\n", now() - t0);
    return check_report();
}
