/* tests/vmath.c — the kernels' exp, log and log1p against the correctly rounded double result,
   over EVERY float of the domain the kernels feed them:
       exp(x)    x in [-87.3365, 0]   (x = z - max z, and gamma * log q)
       log(x)    x in (0, FLT_MAX]    (log q, q = 1 - p_y; denormals included)
       log1p(u)  u in [0, FLT_MAX]    (-log p_y = log1p(sum_{c!=y} e_c / e_y))
   on every path this CPU runs (the scalar path on every 61st float: it is slow and is proved
   bit-identical to the FMA paths), plus the edges: exp below the domain (and of -inf) is in
   (0, FLT_MIN], never 0,
   log(0) = -inf, NaN stays NaN. Prints the largest error in ULP per path and fails when it
   exceeds the bound documented in kernels/loss_kernels.h.
   `vmath --every N` takes every Nth float instead (N odd, so that every mantissa residue and
   every binade is still met): `make test` runs N = 7, `make test-vmath-full` every float. */
#define SEGLOSS_IMPLEMENTATION
#include "../segloss.h"
#include "check.h"
#include <math.h>
#include <pthread.h>
#include <stdio.h>

/* documented bounds, in ULP of the correctly rounded float result */
static const double bound[3] = { 1.05, 0.9, 1.3 };
static const char *const fname[3] = { "exp", "log", "log1p" };

#define MAXISA 8
typedef struct {
    const segloss__isa_table *isa[MAXISA];
    int nisa, op;
    uint32_t lo, hi;      /* bit patterns, inclusive */
    uint32_t every;       /* take every this many bit patterns */
    double max_ulp[MAXISA];
    float worst[MAXISA];
} job;

static float from_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }

static double ulp_err(float y, double r)
{
    float rf = (float)r, up;
    double spacing;
    if (isnan(r)) return isnan(y) ? 0 : INFINITY;
    if (isinf(r)) return y == (float)r ? 0 : INFINITY;
    up = nextafterf(fabsf(rf), INFINITY);
    spacing = isinf(up) ? (double)fabsf(rf) - (double)nextafterf(fabsf(rf), 0) : (double)up - (double)fabsf(rf);
    return fabs((double)y - r) / spacing;
}

/* The reference is computed once per float; each path is compared with it (the scalar path
   on every 61st float of those only). */
static void *run(void *arg)
{
    enum { CHUNK = 1 << 14, STRIDE = 61 };
    job *j = (job *)arg;
    float *x = (float *)malloc(CHUNK * sizeof(float)), *y = (float *)malloc(CHUNK * sizeof(float));
    float *xs = (float *)malloc(CHUNK * sizeof(float));
    double *r = (double *)malloc(CHUNK * sizeof(double));
    uint64_t b = j->lo;
    int k;
    while (b <= j->hi) {
        int n = 0, i;
        for (; n < CHUNK && b <= j->hi; b += j->every) x[n++] = from_bits((uint32_t)b);
        for (i = 0; i < n; i++)
            r[i] = j->op == 0 ? exp((double)x[i]) : j->op == 1 ? log((double)x[i]) : log1p((double)x[i]);
        for (k = 0; k < j->nisa; k++) {
            const int step = strcmp(j->isa[k]->name, "scalar") ? 1 : STRIDE;
            int m = 0;
            for (i = 0; i < n; i += step) xs[m++] = x[i];
            j->isa[k]->vmath(j->op, xs, y, m);
            for (i = 0; i < m; i++) {
                double e = ulp_err(y[i], r[i * step]);
                if (e > j->max_ulp[k]) { j->max_ulp[k] = e; j->worst[k] = xs[i]; }
            }
        }
    }
    free(x); free(y); free(xs); free(r);
    return NULL;
}

static uint32_t bits_of(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/* the domain of each op as bit-pattern ranges */
static void domain(int op, uint32_t *lo, uint32_t *hi)
{
    if (op == 0) { *lo = 0x80000000u; *hi = bits_of(-87.33654f); }      /* -0 .. -87.3365 */
    else if (op == 1) { *lo = 1u; *hi = 0x7F7FFFFFu; }                    /* denorm_min .. FLT_MAX */
    else { *lo = 0u; *hi = 0x7F7FFFFFu; }                                 /* 0 .. FLT_MAX */
}

static int edges(const segloss__isa_table *isa)
{
    float x[6] = { -87.34f, -100.0f, -INFINITY, NAN, -1e30f, 0.0f }, y[6];
    float lx[3] = { 0.0f, NAN, 1.0f }, ly[3];
    int bad = 0;
    isa->vmath(0, x, y, 6);
    for (int i = 0; i < 6; i++)
        if (i != 3 && i != 5) bad |= !(y[i] > 0.0f && y[i] <= FLT_MIN);
    bad |= !(isnan(y[3]) && y[5] == 1.0f);
    isa->vmath(1, lx, ly, 3);
    bad |= !(isinf(ly[0]) && ly[0] < 0 && isnan(ly[1]) && ly[2] == 0.0f);
    isa->vmath(2, lx, ly, 3);
    bad |= !(ly[0] == 0.0f && isnan(ly[1]));
    if (bad) printf("FAIL %s: edge values (exp underflow in (0, FLT_MIN], log(0) = -inf, NaN stays NaN)\n", isa->name);
    return !bad;
}

int main(int argc, char **argv)
{
    int k, op;
    const long every = argc == 3 && !strcmp(argv[1], "--every") ? strtol(argv[2], NULL, 10) : 1;
    job j[2];
    if (argc != 1 && !(argc == 3 && every >= 1 && every % 2)) {
        fprintf(stderr, "usage: vmath [--every N]  (N odd)\n");
        return 2;
    }
    memset(j, 0, sizeof j);
    j[0].every = j[1].every = (uint32_t)every;
    for (k = 0; k < SEGLOSS__NISA; k++) {
        const segloss__isa_table *isa = &segloss__isa_list[k];
        if (!segloss__cpu_runs(isa->name)) {
            printf("SKIP: %s not available on this CPU\n", isa->name);
            continue;
        }
        check_count(edges(isa));
        j[0].isa[j[0].nisa++] = j[1].isa[j[1].nisa++] = isa;
    }
    for (op = 0; op < 3; op++) {
        pthread_t t;
        uint32_t lo, hi;
        domain(op, &lo, &hi);
        for (k = 0; k < 2; k++) {
            memset(j[k].max_ulp, 0, sizeof j[k].max_ulp);
            j[k].op = op;
        }
        j[0].lo = lo; j[0].hi = lo + (hi - lo) / 2;
        j[1].lo = j[0].hi + 1; j[1].hi = hi;
        pthread_create(&t, NULL, run, &j[1]);
        run(&j[0]);
        pthread_join(t, NULL);
        for (k = 0; k < j[0].nisa; k++) {
            int w = j[1].max_ulp[k] > j[0].max_ulp[k];
            double m = j[w].max_ulp[k];
            printf("%-7s %-6s max error %.3f ulp at %a (1 in %ld of %u floats)  bound %.2f\n", j[0].isa[k]->name,
                   fname[op], m, (double)j[w].worst[k], strcmp(j[0].isa[k]->name, "scalar") ? every : 61 * every,
                   hi - lo + 1, bound[op]);
            if (!check_count(m <= bound[op])) printf("FAIL %s %s exceeds its bound\n", j[0].isa[k]->name, fname[op]);
        }
    }
    return check_report();
}
