/* bench/scaling.c — thread scaling of segloss_compute beside copies run with as many threads.
   64 MiB of NCHW logits (N=4, C=4, S=2^20), uint8 labels, a separate 64 MiB gradient: CE and
   Dice loss+gradient on 1..T threads (built-in pool), each beside memcpy and a non-temporal
   copy of the logits (64 MiB read, 64 MiB written, as the gradient pass) split over the same
   number of threads. The machine may be shared: the cases are taken in turns, REPS rounds, and
   the medians reported. Then the small-call cost: CE loss+gradient of 16K..1M positions on 1
   and 2 threads (built with SEGLOSS_PARALLEL_MIN=0, so that threads are used at every size),
   which is what SEGLOSS_PARALLEL_MIN's default is chosen from.
       usage: scaling [max_threads (default: nproc)] [reps (default 9)]                     */
#define SEGLOSS_IMPLEMENTATION
#include "../segloss.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_NT 1
#else
#define HAVE_NT 0
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- copies over k threads ------------------------------------------------------------------ */
typedef struct copy_part { float *dst; const float *src; size_t n; int nt; } copy_part;
static void *copy_run(void *arg)
{
    copy_part *p = (copy_part *)arg;
#if HAVE_NT
    if (p->nt) {
        size_t i;
        for (i = 0; i + 16 <= p->n; i += 16) {
            _mm_stream_ps(p->dst + i, _mm_load_ps(p->src + i));
            _mm_stream_ps(p->dst + i + 4, _mm_load_ps(p->src + i + 4));
            _mm_stream_ps(p->dst + i + 8, _mm_load_ps(p->src + i + 8));
            _mm_stream_ps(p->dst + i + 12, _mm_load_ps(p->src + i + 12));
        }
        for (; i < p->n; i++) p->dst[i] = p->src[i];
        _mm_sfence();
        return NULL;
    }
#endif
    memcpy(p->dst, p->src, p->n * sizeof(float));
    return NULL;
}
static void copy_threads(float *dst, const float *src, size_t n, int k, int nt)
{
    pthread_t t[64];
    copy_part p[64];
    size_t per = (n / (size_t)k + 15) & ~(size_t)15;
    int i;
    for (i = 0; i < k; i++) {
        size_t b = per * (size_t)i, e = b + per < n ? b + per : n;
        p[i].dst = dst + b, p[i].src = src + b, p[i].n = e > b ? e - b : 0, p[i].nt = nt;
        if (i) pthread_create(&t[i], NULL, copy_run, &p[i]);
    }
    copy_run(&p[0]);
    for (i = 1; i < k; i++) pthread_join(t[i], NULL);
}

enum { OP_CE, OP_DICE, OP_MEMCPY, OP_NT, NOPS };
static const char *const op_name[NOPS] = {"CE loss+grad", "Dice loss+grad", "memcpy", "non-temporal copy"};

int main(int argc, char **argv)
{
    const int64_t N = 4, C = 4, S = (int64_t)1 << 20;
    const size_t total = (size_t)(N * C * S);
    int maxt = argc > 1 ? atoi(argv[1]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    float *logits, *grad;
    uint8_t *labels;
    double *times[NOPS][64], med[NOPS][64];
    segloss_input in;
    int r, k, op;
    size_t i;
    if (maxt < 1) maxt = 1;
    if (maxt > 64) maxt = 64;
    if (reps < 1) reps = 1;
    if (posix_memalign((void **)&logits, 64, total * sizeof(float)) ||
        posix_memalign((void **)&grad, 64, total * sizeof(float)) || !(labels = (uint8_t *)malloc((size_t)(N * S))))
        return 1;
    for (i = 0; i < total; i++) logits[i] = (float)((i * 7919u) % 1000u) / 250.0f - 2.0f;
    for (i = 0; i < (size_t)(N * S); i++) labels[i] = (uint8_t)((i * 31u) % 10u < 6u ? 0u : (i * 13u) % 4u);
    memset(grad, 0, total * sizeof(float));
    in.logits = logits;
    in.labels = labels;
    in.label_type = SEGLOSS_LABEL_U8;
    in.n = N, in.c = C, in.s = S;
    in.layout = SEGLOSS_NCHW;
    for (op = 0; op < NOPS; op++)
        for (k = 1; k <= maxt; k++) times[op][k - 1] = (double *)calloc((size_t)reps, sizeof(double));
    printf("scaling: %s path, 64 MiB NCHW logits (N=4, C=4, S=2^20), %d threads at most, %d rounds in turns\n",
           segloss_active_isa(), maxt, reps);
    for (r = -1; r < reps; r++) /* round -1 warms up (pages, pool) */
        for (k = 1; k <= maxt; k++)
            for (op = 0; op < NOPS; op++) {
                segloss_config cfg;
                segloss_result res;
                double t0, t1;
                segloss_set_threads(k);
                segloss_config_init(&cfg, op == OP_DICE ? SEGLOSS_DICE : SEGLOSS_CE);
                t0 = now();
                if (op == OP_CE || op == OP_DICE) segloss_compute(&cfg, &in, grad, &res);
                else copy_threads(grad, logits, total, k, op == OP_NT);
                t1 = now();
                if (r >= 0) times[op][k - 1][r] = t1 - t0;
            }
    for (op = 0; op < NOPS; op++)
        for (k = 1; k <= maxt; k++) med[op][k - 1] = median(times[op][k - 1], reps);
    printf("\n| threads | CE ms | CE speed-up | CE x memcpy | CE x NT copy | Dice ms | Dice speed-up | Dice x memcpy "
           "| Dice x NT copy | memcpy ms | NT copy ms |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (k = 1; k <= maxt; k++)
        printf("| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", k,
               1e3 * med[OP_CE][k - 1], med[OP_CE][0] / med[OP_CE][k - 1], med[OP_CE][k - 1] / med[OP_MEMCPY][k - 1],
               med[OP_CE][k - 1] / med[OP_NT][k - 1], 1e3 * med[OP_DICE][k - 1],
               med[OP_DICE][0] / med[OP_DICE][k - 1], med[OP_DICE][k - 1] / med[OP_MEMCPY][k - 1],
               med[OP_DICE][k - 1] / med[OP_NT][k - 1], 1e3 * med[OP_MEMCPY][k - 1], 1e3 * med[OP_NT][k - 1]);
    (void)op_name;
    /* ---- small calls: does a second thread pay? ------------------------------------------- */
    printf("\nsmall calls, CE loss+grad, NCHW C=4, one sample (threads at every size here):\n"
           "| positions | 1 thread us | %d threads us | ratio |\n|---:|---:|---:|---:|\n", maxt);
    {
        static const int64_t sizes[] = {16384, 32768, 65536, 131072, 262144, 1048576};
        size_t si;
        for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            double t[2][41], m[2];
            segloss_input sm = in;
            int rr, w;
            sm.n = 1;
            sm.s = sizes[si];
            for (rr = 0; rr < 41; rr++)
                for (w = 0; w < 2; w++) {
                    segloss_config cfg;
                    segloss_result res;
                    double t0;
                    segloss_set_threads(w ? maxt : 1);
                    segloss_config_init(&cfg, SEGLOSS_CE);
                    t0 = now();
                    segloss_compute(&cfg, &sm, grad, &res);
                    t[w][rr] = now() - t0;
                }
            m[0] = median(t[0], 41);
            m[1] = median(t[1], 41);
            printf("| %lld | %.1f | %.1f | %.2f |\n", (long long)sizes[si], 1e6 * m[0], 1e6 * m[1], m[0] / m[1]);
        }
    }
    return 0;
}
