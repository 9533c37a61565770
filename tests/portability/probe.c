/* tests/portability/probe.c — a user's translation unit (the implementation is in tests/impl.c).
   Run natively, under qemu-x86_64 -cpu MODEL and under qemu-aarch64, it checks:
     - which path dispatch selected (--expect NAME), and, on x86, that it agrees with the
       compiler's own __builtin_cpu_supports;
     - every path this CPU runs against the scalar path on every loss, both layouts, ragged
       sizes and extreme logits: the FMA paths (avx512, avx2, neon) must be bit-identical to
       scalar, sse2 within 2e-6 (relative loss, and of max|grad|); the confusion counts, with
       ties, infinities and NaN among the logits, identical on every path;
     - --fingerprint: prints a hash of the scalar path's losses and gradients, which must be the
       same on every machine (the Makefile compares x86 with aarch64).
   Ends with "N passed, M failed". */
#include "../../segloss.h"
#include "../check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One check: "FAIL what [isa] detail" when it fails. */
static void check(int ok, const char *what, const char *isa, const char *detail)
{
    if (!check_count(ok)) printf("FAIL %s [%s] %s\n", what, isa, detail);
}

static uint32_t rng = 12345u;
static float frand(float lo, float hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(rng >> 8) / 16777216.0f;
}

typedef struct { int n, c, s; segloss_layout layout; float scale; } shape;

static const shape shapes[] = {
    { 1, 4, 1, SEGLOSS_NCHW, 3 },  { 2, 4, 37, SEGLOSS_NCHW, 3 }, { 1, 2, 16, SEGLOSS_NHWC, 3 },
    { 3, 3, 67, SEGLOSS_NHWC, 3 }, { 2, 21, 100, SEGLOSS_NCHW, 4 }, { 1, 150, 33, SEGLOSS_NHWC, 4 },
    { 2, 5, 300, SEGLOSS_NCHW, 3 }, { 1, 4, 257, SEGLOSS_NCHW, 1e4f }, { 2, 4, 53, SEGLOSS_NHWC, 3 },
    { 1, 9, 41, SEGLOSS_NHWC, 3 }, { 1, 21, 210, SEGLOSS_NHWC, 4 }, { 2, 2, 300, SEGLOSS_NHWC, 3 },
    { 1, 3, 517, SEGLOSS_NHWC, 3 }, { 2, 1, 45, SEGLOSS_NHWC, 3 }, { 1, 6, 77, SEGLOSS_NHWC, 3 },
};

/* Hash of raw bits, order-sensitive (FNV-1a). */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Runs every loss under both activations on every shape on `isa` (the softmax needs C >= 2),
   the second of each pair with a weight map (and label smoothing where it applies); returns a hash, and compares with `ref` outputs. */
static uint64_t run_all(const char *isa, float **ref_grad, double *ref_loss, int compare, int exact)
{
    uint64_t h = 1469598103934665603ull;
    int k = 0, si, t, g;
    static const float gammas[] = { 0.5f, 2.0f };
    if (segloss_set_isa(isa) != SEGLOSS_OK) return 0;
    for (si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
        const shape sh = shapes[si];
        size_t total = (size_t)sh.n * sh.c * sh.s, np = (size_t)sh.n * sh.s, i;
        float *z = (float *)malloc(total * sizeof(float)), *map = (float *)malloc(np * sizeof(float));
        int64_t *y = (int64_t *)malloc(np * sizeof(int64_t));
        const int64_t classes = sh.c == 1 ? 2 : sh.c; /* one sigmoid channel: labels 0 and 1 */
        rng = 777u + (uint32_t)si;
        for (i = 0; i < total; i++) z[i] = frand(-sh.scale, sh.scale);
        for (i = 0; i < np; i++) y[i] = i % 11 == 5 ? -100 : (int64_t)(frand(0, 1) * classes) % classes;
        for (i = 0; i < np; i++) map[i] = i % 5 == 1 ? 0.0f : frand(0, 3);
        for (t = 0; t < 2 * SEGLOSS_LOSS_COUNT; t++)
            for (g = 0; g < 2; g++, k++) {
                segloss_config cfg;
                segloss_input in;
                segloss_result r;
                float *grad = (float *)malloc(total * sizeof(float));
                char detail[160];
                segloss_config_init(&cfg, (segloss_loss_type)(t % SEGLOSS_LOSS_COUNT));
                cfg.activation = t < SEGLOSS_LOSS_COUNT ? SEGLOSS_SOFTMAX : SEGLOSS_SIGMOID;
                if (cfg.activation == SEGLOSS_SOFTMAX && sh.c == 1) {
                    free(grad);
                    continue;
                }
                cfg.weight_map = g ? map : NULL;
                cfg.focal_gamma = gammas[g];
                if (g && cfg.activation == SEGLOSS_SOFTMAX && cfg.loss_type != SEGLOSS_FOCAL && cfg.loss_type != SEGLOSS_FOCAL_DICE)
                    cfg.label_smoothing = 0.1f;
                cfg.per_sample = g;
                cfg.include_background = !g;
                in.logits = z; in.labels = y; in.label_type = SEGLOSS_LABEL_I64;
                in.n = sh.n; in.c = sh.c; in.s = sh.s; in.layout = sh.layout;
                if (segloss_compute(&cfg, &in, grad, &r) != SEGLOSS_OK) {
                    check(0, "compute", isa, segloss_loss_name(cfg.loss_type));
                    free(grad);
                    continue;
                }
                h = fnv(h, &r.loss, sizeof r.loss);
                h = fnv(h, grad, total * sizeof(float));
                if (!compare) {
                    ref_loss[k] = r.loss;
                    ref_grad[k] = grad;
                    continue;
                }
                {
                    double gmax = 0, gerr = 0, lerr = fabs(r.loss - ref_loss[k]) / fmax(fabs(ref_loss[k]), 1e-30);
                    int same = r.loss == ref_loss[k] && !memcmp(grad, ref_grad[k], total * sizeof(float));
                    for (i = 0; i < total; i++) {
                        gmax = fmax(gmax, fabs(ref_grad[k][i]));
                        gerr = fmax(gerr, fabs(grad[i] - ref_grad[k][i]));
                    }
                    snprintf(detail, sizeof detail, "%s shape %d gamma %.1f: loss rel %.3g grad %.3g of max",
                             segloss_loss_name(cfg.loss_type), si, cfg.focal_gamma, lerr, gmax > 0 ? gerr / gmax : gerr);
                    check(exact ? same : lerr <= 2e-6 && gerr <= 2e-6 * gmax, exact ? "bit-identical to scalar" : "close to scalar", isa, detail);
                }
                free(grad);
            }
        free(z);
        free(y);
        free(map);
    }
    return h;
}

/* Confusion counts on every shape, logits drawn from a set full of ties, infinities and NaN;
   with compare, each shape's counts must equal ref's (the scalar path's). */
static void run_confusion(const char *isa, int64_t **ref, int compare)
{
    static const float vals[] = { -INFINITY, -1.0f, 0.0f, 2.0f, 2.0f, INFINITY, NAN, NAN };
    int si;
    if (segloss_set_isa(isa) != SEGLOSS_OK) return;
    for (si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
        const shape sh = shapes[si];
        size_t total = (size_t)sh.n * sh.c * sh.s, np = (size_t)sh.n * sh.s, i;
        float *z = (float *)malloc(total * sizeof(float));
        int64_t *y = (int64_t *)malloc(np * sizeof(int64_t));
        int64_t *conf = (int64_t *)calloc((size_t)sh.c * sh.c, sizeof(int64_t));
        segloss_input in;
        rng = 991u + (uint32_t)si;
        for (i = 0; i < total; i++) z[i] = vals[(int)frand(0, 8) & 7];
        for (i = 0; i < np; i++) y[i] = i % 11 == 5 ? -100 : (int64_t)(frand(0, 1) * sh.c) % sh.c;
        in.logits = z; in.labels = y; in.label_type = SEGLOSS_LABEL_I64;
        in.n = sh.n; in.c = sh.c; in.s = sh.s; in.layout = sh.layout;
        check(segloss_confusion(&in, -100, conf) == SEGLOSS_OK, "confusion", isa, "status");
        if (compare) {
            char detail[64];
            snprintf(detail, sizeof detail, "shape %d", si);
            check(!memcmp(conf, ref[si], (size_t)sh.c * sh.c * sizeof(int64_t)), "confusion identical to scalar", isa, detail);
            free(conf);
        } else {
            ref[si] = conf;
        }
        free(z);
        free(y);
    }
}

/* NCHW planes 1024 floats apart share their cache sets, so the gradient is written plane by
   plane there (segloss__planes_alias): it must equal the NHWC result on the same values, bit for
   bit, which never takes that path. With the default streaming threshold nothing here streams. */
static void check_aliasing_planes(const char *isa)
{
    enum { C = 21, S = 1024 };
    static float z[C * S], zt[C * S], g[C * S], gt[C * S];
    static uint8_t y[S];
    static const segloss_loss_type losses[] = { SEGLOSS_CE, SEGLOSS_DICE };
    int k, c, i, same;
    rng = 4242u;
    for (i = 0; i < S; i++) {
        y[i] = (uint8_t)(frand(0.0f, 1.0f) < 0.5f ? 0 : (int)frand(1.0f, (float)C - 0.01f));
        for (c = 0; c < C; c++) zt[i * C + c] = z[c * S + i] = frand(-4.0f, 4.0f);
    }
    if (segloss_set_isa(isa) != SEGLOSS_OK) return;
    for (k = 0; k < 2; k++) {
        segloss_config cfg;
        segloss_input a = { z, y, SEGLOSS_LABEL_U8, 1, C, S, SEGLOSS_NCHW }, b = a;
        segloss_result ra, rb;
        b.logits = zt;
        b.layout = SEGLOSS_NHWC;
        segloss_config_init(&cfg, losses[k]);
        same = segloss_compute(&cfg, &a, g, &ra) == SEGLOSS_OK && segloss_compute(&cfg, &b, gt, &rb) == SEGLOSS_OK &&
               memcmp(&ra.loss, &rb.loss, sizeof ra.loss) == 0;
        for (i = 0; same && i < S; i++)
            for (c = 0; c < C; c++) same &= memcmp(&g[c * S + i], &gt[i * C + c], sizeof(float)) == 0;
        check(same, "NCHW with aliasing planes (C=21, S=1024) equals NHWC bit for bit", isa, k ? "dice" : "ce");
    }
}

int main(int argc, char **argv)
{
    const char *expect = NULL;
    float *ref_grad[512];
    int64_t *ref_conf[sizeof shapes / sizeof shapes[0]];
    double ref_loss[512];
    uint64_t fp;
    int i, fingerprint = 0;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--expect") && i + 1 < argc) expect = argv[++i];
        else if (!strcmp(argv[i], "--fingerprint")) fingerprint = 1;
    }
    printf("segloss %d, selected path: %s\n", segloss_version(), segloss_active_isa());
    if (expect) check(!strcmp(segloss_active_isa(), expect), "selected path", segloss_active_isa(), expect);
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    {   /* the compiler's detection (libgcc / compiler-rt) must agree with ours */
        int level = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
                    __builtin_cpu_supports("fma") ? 2
                  : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
        check(segloss_isa_supported("avx2") == (level >= 1), "detection agrees on avx2", "cpuid", "");
        if (segloss_isa_supported("avx512") || level == 2)
            check(segloss_isa_supported("avx512") == (level >= 2), "detection agrees on avx512", "cpuid", "");
    }
#endif
    if (getenv("SEGLOSS_ISA")) { /* negative control: run the forced path as the user would */
        const char *isa = segloss_active_isa();
        run_all(isa, ref_grad, ref_loss, 0, 0);
        printf("ran %s\n", isa);
        return 0;
    }
    fp = run_all("scalar", ref_grad, ref_loss, 0, 0);
    run_confusion("scalar", ref_conf, 0);
    check_aliasing_planes("scalar");
    if (fingerprint) printf("fingerprint %016llx\n", (unsigned long long)fp);
    /* every other path compiled in, held to scalar; sse2 (no FMA) within 2e-6, the rest bit for bit */
    for (i = 0; i < segloss_isa_count(); i++) {
        const char *isa = segloss_isa_name(i);
        if (!strcmp(isa, "scalar")) continue;
        if (!segloss_isa_supported(isa)) {
            printf("SKIP: %s not available on this CPU%s\n", isa,
                   !strcmp(isa, "avx512") ? " (AVX-512 is checked only where the CPU has it)" : "");
            continue;
        }
        run_all(isa, ref_grad, ref_loss, 1, strcmp(isa, "sse2") != 0);
        run_confusion(isa, ref_conf, 1);
        check_aliasing_planes(isa);
        printf("checked %s against scalar\n", isa);
    }
    segloss_set_isa(NULL);
    return check_report();
}
