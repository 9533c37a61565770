/* tests/reliability/threads_determinism.c — results are the same bits for any thread count.
   Every loss x both layouts x per_sample on/off x every path this CPU runs x two shapes (C = 4
   with 3 chunks per sample; C = 20 with whole samples grouped into chunks), on the built-in
   pool with 1, 2, 3 and 8 threads and on a caller's pool (segloss_set_parallel_for: 3
   threads that take the chunks in reverse order): segloss_compute (loss, terms, gradient),
   the two-phase API (statistics, finish, backward), segloss_confusion and
   segloss_label_histogram must equal the 1-thread bits exactly; so must the one-pass pair
   (segloss_accumulate_labels, segloss_finish, segloss_backward_loss), whose gradient must
   also equal segloss_backward's bits and whose loss must be segloss_compute's within 1e-12. Run by `make test-threads`. */
#define SEGLOSS_IMPLEMENTATION
#include "../../segloss.h"
#include "../check.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* ---- the caller's pool: 3 threads, chunks taken from the last to the first ---------------- */
typedef struct rev_job {
    void (*task)(void *, int64_t);
    void *task_ctx;
    int64_t next; /* counts down */
    pthread_mutex_t mu;
} rev_job;

static void *rev_worker(void *arg)
{
    rev_job *j = (rev_job *)arg;
    for (;;) {
        int64_t i;
        pthread_mutex_lock(&j->mu);
        i = --j->next;
        pthread_mutex_unlock(&j->mu);
        if (i < 0) return NULL;
        j->task(j->task_ctx, i);
    }
}

static int64_t hook_calls;
static void reverse_pool(void *ctx, void (*task)(void *, int64_t), void *task_ctx, int64_t count)
{
    rev_job j;
    pthread_t t[3];
    int k;
    (void)ctx;
    hook_calls++;
    j.task = task;
    j.task_ctx = task_ctx;
    j.next = count;
    pthread_mutex_init(&j.mu, NULL);
    for (k = 0; k < 3; k++) pthread_create(&t[k], NULL, rev_worker, &j);
    for (k = 0; k < 3; k++) pthread_join(t[k], NULL);
    pthread_mutex_destroy(&j.mu);
}

/* ---- one full set of answers --------------------------------------------------------------- */
typedef struct answers {
    segloss_result r, r2, r3; /* compute; finish of the two-phase run; of the one-pass run   */
    float *grad, *grad2, *grad3; /* compute; backward of the slices; backward_loss           */
    double *stats3, part;  /* accumulate_labels' statistics; backward_loss's parts, summed    */
    double *stats;
    int64_t stats_len;
    int64_t *conf, *hist;
    segloss_status st[8];
} answers;

typedef struct shape { int64_t n, c, s; } shape;

static void run_all(const segloss_config *cfg, const segloss_input *in, answers *a)
{
    const int64_t cut = 1; /* slices: sample 0, then samples 1..n-1 */
    segloss_input s1 = *in, s2 = *in;
    segloss_stats st;
    size_t sz = (size_t)(in->n * in->c * in->s);
    const size_t lsz = 1; /* uint8 labels */
    memset(a->st, 0, sizeof a->st);
    memset(a->grad, 0, sz * sizeof(float));
    memset(a->grad2, 0, sz * sizeof(float));
    memset(a->stats, 0, (size_t)a->stats_len * sizeof(double));
    memset(a->conf, 0, (size_t)(in->c * in->c) * sizeof(int64_t));
    memset(a->hist, 0, (size_t)in->c * sizeof(int64_t));
    a->st[0] = segloss_compute(cfg, in, a->grad, &a->r);
    s1.n = cut;
    s2.n = in->n - cut;
    s2.logits = in->logits + cut * in->c * in->s;
    s2.labels = (const uint8_t *)in->labels + cut * in->s * lsz;
    st.n = in->n;
    st.c = in->c;
    st.sum = a->stats;
    a->st[1] = segloss_accumulate(cfg, &s2, cut, &st); /* out of order, as the API allows */
    a->st[1] |= segloss_accumulate(cfg, &s1, 0, &st);
    a->st[2] = segloss_finish(cfg, &st, &a->r2);
    a->st[3] = segloss_backward(cfg, &s1, 0, &st, a->grad2);
    a->st[3] |= segloss_backward(cfg, &s2, cut, &st, a->grad2 + cut * in->c * in->s);
    /* the one-pass pair: accumulate_labels, finish, backward_loss (parts added in slice order) */
    memset(a->grad3, 0, sz * sizeof(float));
    memset(a->stats3, 0, (size_t)a->stats_len * sizeof(double));
    st.sum = a->stats3;
    a->st[6] = segloss_accumulate_labels(cfg, &s1, 0, &st);
    a->st[6] |= segloss_accumulate_labels(cfg, &s2, cut, &st);
    a->st[6] |= segloss_finish(cfg, &st, &a->r3);
    a->part = 0.0;
    a->st[7] = segloss_backward_loss(cfg, &s1, 0, &st, a->grad3, &a->part);
    a->st[7] |= segloss_backward_loss(cfg, &s2, cut, &st, a->grad3 + cut * in->c * in->s, &a->part);
    a->st[4] = segloss_confusion(in, cfg->ignore_index, a->conf);
    a->st[5] = segloss_label_histogram(in, cfg->ignore_index, a->hist);
}

static int same(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

static int same_result(const segloss_result *a, const segloss_result *b)
{
    return same(&a->loss, &b->loss, sizeof(double)) && same(&a->ce_term, &b->ce_term, sizeof(double)) &&
           same(&a->dice_term, &b->dice_term, sizeof(double)) && a->valid == b->valid;
}

int main(void)
{
    static const shape shapes[] = { {3, 4, 40000}, {16, 20, 5000} };
    static const int counts[] = {2, 3, 8};
    int si, isa, configs = 0;
    for (si = 0; si < 2; si++) {
        const shape sh = shapes[si];
        const size_t sz = (size_t)(sh.n * sh.c * sh.s);
        float *logits = (float *)malloc(sz * sizeof(float));
        uint8_t *labels = (uint8_t *)malloc((size_t)(sh.n * sh.s));
        answers want, got;
        size_t i;
        uint32_t x = 12345u + (uint32_t)si;
        for (i = 0; i < sz; i++) {
            x = x * 1664525u + 1013904223u;
            logits[i] = (float)(x >> 8) / 16777216.0f * 8.0f - 4.0f;
        }
        for (i = 0; i < (size_t)(sh.n * sh.s); i++) {
            x = x * 1664525u + 1013904223u;
            labels[i] = (x >> 24) % 17 == 0 ? 255 : (uint8_t)((x >> 8) % (uint32_t)sh.c);
        }
        {   /* the most any configuration of the loop below needs: per-sample groups */
            segloss_config big;
            segloss_config_init(&big, SEGLOSS_DICE);
            big.per_sample = 1;
            want.stats_len = got.stats_len = segloss_stats_len(&big, sh.n, sh.c);
        }
        want.grad = (float *)malloc(sz * sizeof(float));
        want.grad2 = (float *)malloc(sz * sizeof(float));
        want.grad3 = (float *)malloc(sz * sizeof(float));
        got.grad3 = (float *)malloc(sz * sizeof(float));
        want.stats3 = (double *)malloc((size_t)want.stats_len * sizeof(double));
        got.stats3 = (double *)malloc((size_t)want.stats_len * sizeof(double));
        got.grad = (float *)malloc(sz * sizeof(float));
        got.grad2 = (float *)malloc(sz * sizeof(float));
        want.stats = (double *)malloc((size_t)want.stats_len * sizeof(double));
        got.stats = (double *)malloc((size_t)got.stats_len * sizeof(double));
        want.conf = (int64_t *)malloc((size_t)(sh.c * sh.c) * sizeof(int64_t));
        got.conf = (int64_t *)malloc((size_t)(sh.c * sh.c) * sizeof(int64_t));
        want.hist = (int64_t *)malloc((size_t)sh.c * sizeof(int64_t));
        got.hist = (int64_t *)malloc((size_t)sh.c * sizeof(int64_t));
        for (isa = 0; isa < segloss_isa_count(); isa++) {
            const char *name = segloss_isa_name(isa);
            int loss, layout, ps, t;
            if (!segloss_isa_supported(name) || segloss_set_isa(name) != SEGLOSS_OK) continue;
            for (loss = 0; loss < SEGLOSS_LOSS_COUNT; loss++)
                for (layout = 0; layout < 2; layout++)
                    for (ps = 0; ps < 2; ps++) {
                        segloss_config cfg;
                        segloss_input in;
                        segloss_config_init(&cfg, (segloss_loss_type)loss);
                        cfg.ignore_index = 255;
                        cfg.per_sample = ps;
                        in.logits = logits;
                        in.labels = labels;
                        in.label_type = SEGLOSS_LABEL_U8;
                        in.n = sh.n;
                        in.c = sh.c;
                        in.s = sh.s;
                        in.layout = (segloss_layout)layout;
                        configs++;
                        segloss_set_parallel_for(NULL, NULL);
                        segloss_set_threads(1);
                        run_all(&cfg, &in, &want);
                        CHECK(!want.st[0] && !want.st[1] && !want.st[2] && !want.st[3] && !want.st[4] && !want.st[5] &&
                              !want.st[6] && !want.st[7],
                              "[%s] loss %d layout %d per_sample %d: a call failed", name, loss, layout, ps);
                        /* the one-pass pair: the same gradient bits as accumulate + backward (the
                           weights and Dice coefficients come from the same exact counts and
                           sums), and the loss within rounding of segloss_compute's */
                        {
                            const double l3 = want.r3.loss + want.part, l = want.r.loss;
                            CHECK(same(want.grad3, want.grad2, sz * sizeof(float)) &&
                                  fabs(l3 - l) <= 1e-12 * fabs(l) && want.r3.valid == want.r.valid,
                                  "[%s] loss %d layout %d per_sample %d: one-pass pair: loss %.17g vs %.17g", name,
                                  loss, layout, ps, l3, l);
                        }
                        for (t = 0; t < 4; t++) {
                            const int k = t < 3 ? counts[t] : 3;
                            const char *how = t < 3 ? "pool" : "hook";
                            if (t < 3) segloss_set_threads(k);
                            else segloss_set_parallel_for(reverse_pool, NULL), segloss_set_threads(1);
                            run_all(&cfg, &in, &got);
                            CHECK(same_result(&want.r, &got.r) && same(want.grad, got.grad, sz * sizeof(float)),
                                  "[%s] C=%d loss %d layout %d per_sample %d %s %d: compute differs", name,
                                  (int)sh.c, loss, layout, ps, how, k);
                            CHECK(same(want.stats, got.stats, (size_t)want.stats_len * sizeof(double)) &&
                                  same_result(&want.r2, &got.r2) && same(want.grad2, got.grad2, sz * sizeof(float)),
                                  "[%s] C=%d loss %d layout %d per_sample %d %s %d: two-phase differs", name,
                                  (int)sh.c, loss, layout, ps, how, k);
                            CHECK(same(want.conf, got.conf, (size_t)(sh.c * sh.c) * sizeof(int64_t)) &&
                                  same(want.hist, got.hist, (size_t)sh.c * sizeof(int64_t)),
                                  "[%s] C=%d loss %d layout %d per_sample %d %s %d: confusion/histogram differ",
                                  name, (int)sh.c, loss, layout, ps, how, k);
                            CHECK(same(want.stats3, got.stats3, (size_t)want.stats_len * sizeof(double)) &&
                                  same_result(&want.r3, &got.r3) && same(&want.part, &got.part, sizeof(double)) &&
                                  same(want.grad3, got.grad3, sz * sizeof(float)),
                                  "[%s] C=%d loss %d layout %d per_sample %d %s %d: one-pass pair differs", name,
                                  (int)sh.c, loss, layout, ps, how, k);
                        }
                    }
        }
        segloss_set_parallel_for(NULL, NULL);
        free(logits); free(labels); free(want.grad); free(want.grad2); free(got.grad); free(got.grad2);
        free(want.stats); free(got.stats); free(want.conf); free(got.conf); free(want.hist); free(got.hist);
        free(want.grad3); free(got.grad3); free(want.stats3); free(got.stats3);
    }
    segloss_set_isa(NULL);
    {
        /* check_finite: the first non-finite logit, whatever the threads, at chunk edges (2^18) */
        enum { FN = 3, FC = 5, FS = 70000 };
        const int64_t tot = (int64_t)FN * FC * FS, spots[] = {0, 1, 262143, 262144, 262145, 500000, tot - 1};
        float *z = (float *)malloc(sizeof(float) * (size_t)tot), *g = (float *)malloc(sizeof(float) * (size_t)tot);
        uint8_t *y = (uint8_t *)malloc((size_t)FN * FS);
        int t, si2;
        int64_t i;
        for (i = 0; i < (int64_t)FN * FS; i++) y[i] = (uint8_t)(i % FC);
        for (t = 0; t < 3; t++) {
            if (t < 2) segloss_set_parallel_for(NULL, NULL), segloss_set_threads(t ? 3 : 1);
            else segloss_set_parallel_for(reverse_pool, NULL);
            for (si2 = 0; si2 < 7; si2++) {
                segloss_config cfg;
                segloss_input in = { z, y, SEGLOSS_LABEL_U8, FN, FC, FS, SEGLOSS_NCHW };
                segloss_result r;
                segloss_status st;
                for (i = 0; i < tot; i++) z[i] = 0.5f;
                z[spots[si2]] = NAN;
                if (si2 + 1 < 7) z[spots[si2 + 1]] = INFINITY;
                segloss_config_init(&cfg, SEGLOSS_DICE);
                cfg.check_finite = 1;
                st = segloss_compute(&cfg, &in, g, &r);
                CHECK(st == SEGLOSS_ERR_NONFINITE && r.bad_position == spots[si2],
                      "check_finite, %s: NaN at %lld reported as %lld (status %d)", t == 2 ? "hook" : "pool",
                      (long long)spots[si2], (long long)r.bad_position, (int)st);
            }
        }
        segloss_set_parallel_for(NULL, NULL);
        segloss_set_threads(1);
        free(z); free(g); free(y);
    }
    CHECK(hook_calls > 0, "the caller's pool was never called");
    printf("threads_determinism: %d configurations x {2, 3, 8 threads, reverse 3-thread hook} vs 1 thread; "
           "hook called %lld times\n", configs, (long long)hook_calls);
    return check_report();
}
