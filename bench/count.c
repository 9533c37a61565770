/* bench/count.c — the driver of `make bench-count`: instructions per position under
   valgrind --tool=callgrind (bench/count.py runs it and prints the table).

       valgrind --tool=callgrind --instr-atstart=no ... count [--s=S] [--n=N] [--c=C] [--k1=K1] [--k2=K2]

   For every loss and mode (loss only, loss + gradient), on the path SEGLOSS_ISA selects (the
   driver prints the path it got, so a refused SEGLOSS_ISA is seen): one warm call, then K1
   calls, then K2 calls of N x S positions, each group between CALLGRIND_ZERO_STATS and
   CALLGRIND_DUMP_STATS_AT("<loss>/<mode>/k<K>"). The dumps' difference divided by
   (K2 - K1) N S is the cost of one position: what every call pays once (validation, the
   plan, the dispatch) and the client requests themselves cancel, except its share of the
   K2 - K1 extra calls, which is (per-call cost) / (N S).
   Inputs are bench/bench.cpp's: float32 logits ~ N(0, 2), uint8 labels 80/10/7/3 % over four
   classes (other C: class 0 80 %, the rest uniform), NCHW, each loss's defaults. Outside
   valgrind the client requests do nothing and the driver only runs the calls. */
#include "../segloss.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__has_include)
#if !__has_include(<valgrind/callgrind.h>)
#error "bench/count.c needs valgrind's client-request headers: apt-get install valgrind"
#endif
#endif
#include <valgrind/callgrind.h>

static uint64_t rng_x = 0x5E6105500ull;
static uint64_t rng_next(void) /* xorshift64*, as bench.cpp */
{
    rng_x ^= rng_x >> 12;
    rng_x ^= rng_x << 25;
    rng_x ^= rng_x >> 27;
    return rng_x * 0x2545F4914F6CDD1Dull;
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }

static uint8_t draw_label(double u, int c)
{
    int k;
    if (c == 4) return u < 0.80 ? 0 : u < 0.90 ? 1 : u < 0.97 ? 2 : 3;
    if (u < 0.80 || c == 1) return 0;
    k = 1 + (int)((u - 0.80) / 0.20 * (c - 1));
    return (uint8_t)(k < c - 1 ? k : c - 1);
}

static long arg(int argc, char **argv, const char *name, long def)
{
    size_t len = strlen(name);
    int i;
    for (i = 1; i < argc; i++)
        if (!strncmp(argv[i], name, len) && argv[i][len] == '=') return strtol(argv[i] + len + 1, NULL, 10);
    return def;
}

int main(int argc, char **argv)
{
    const long n = arg(argc, argv, "--n", 2), c = arg(argc, argv, "--c", 4), s = arg(argc, argv, "--s", 8192);
    const long k1 = arg(argc, argv, "--k1", 1), k2 = arg(argc, argv, "--k2", 3);
    const size_t count = (size_t)(n * c * s);
    float *logits, *grad;
    uint8_t *labels;
    segloss_input in;
    size_t i;
    int t, m;
    if (n < 1 || c < 1 || c > 255 || s < 1 || k1 < 0 || k2 <= k1) {
        fprintf(stderr, "usage: %s [--n=N] [--c=C (1..255)] [--s=S] [--k1=K1] [--k2=K2 > K1]\n", argv[0]);
        return 2;
    }
    logits = (float *)malloc(count * sizeof(float));
    grad = (float *)malloc(count * sizeof(float));
    labels = (uint8_t *)malloc((size_t)(n * s));
    if (!logits || !grad || !labels) {
        fprintf(stderr, "count: out of memory\n");
        return 1;
    }
    for (i = 0; i < count; i += 2) { /* Box-Muller, two normals per draw */
        double u1 = 1.0 - rng_uniform(), u2 = rng_uniform();
        double r = sqrt(2.0) * sqrt(-2.0 * log(u1));
        logits[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < count) logits[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
    for (i = 0; i < (size_t)(n * s); i++) labels[i] = draw_label(rng_uniform(), (int)c);
    memset(grad, 0, count * sizeof(float));
    in.logits = logits;
    in.labels = labels;
    in.label_type = SEGLOSS_LABEL_U8;
    in.n = n;
    in.c = c;
    in.s = s;
    in.layout = SEGLOSS_NCHW;
    printf("path %s n %ld c %ld s %ld k1 %ld k2 %ld\n", segloss_active_isa(), n, c, s, k1, k2);
    CALLGRIND_START_INSTRUMENTATION;
    for (t = 0; t < SEGLOSS_LOSS_COUNT; t++)
        for (m = 0; m < 2; m++) {
            segloss_config cfg;
            segloss_result res;
            float *g = m ? grad : NULL;
            char label[64];
            long k;
            segloss_config_init(&cfg, (segloss_loss_type)t);
            if (segloss_compute(&cfg, &in, g, &res) != SEGLOSS_OK) { /* the warm call */
                fprintf(stderr, "count: %s failed\n", segloss_loss_name((segloss_loss_type)t));
                return 1;
            }
            CALLGRIND_ZERO_STATS;
            for (k = 0; k < k1; k++) segloss_compute(&cfg, &in, g, &res);
            snprintf(label, sizeof label, "%s/%s/k%ld", segloss_loss_name((segloss_loss_type)t), m ? "grad" : "loss", k1);
            CALLGRIND_DUMP_STATS_AT(label);
            for (k = 0; k < k2; k++) segloss_compute(&cfg, &in, g, &res);
            snprintf(label, sizeof label, "%s/%s/k%ld", segloss_loss_name((segloss_loss_type)t), m ? "grad" : "loss", k2);
            CALLGRIND_DUMP_STATS_AT(label);
            printf("%s %s loss %.9g\n", segloss_loss_name((segloss_loss_type)t), m ? "grad" : "loss", res.loss);
        }
    CALLGRIND_STOP_INSTRUMENTATION;
    free(logits);
    free(grad);
    free(labels);
    return 0;
}
