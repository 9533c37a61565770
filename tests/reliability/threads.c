/* tests/reliability/threads.c — eight threads make their first call at the same moment (the dispatch is
   resolved lazily), then keep computing. Then threaded calls: four threads call at once on
   an input big enough for the built-in pool (3 threads; one call gets the pool, the others
   run on their own threads), while a fifth changes the thread count; then the same through a
   caller's parallel-for. Built with -fsanitize=thread: the run must be clean, and every
   answer must be the single-threaded one bit for bit. */
#define SEGLOSS_IMPLEMENTATION
#include "../../segloss.h"
#include "../check.h"
#include <pthread.h>
#include <stdio.h>

enum { THREADS = 8, N = 2, C = 4, S = 333 };
static float logits[N * C * S];
static uint8_t labels[N * S];
static pthread_barrier_t start;
static double answer[THREADS];

static double run_once(void)
{
    segloss_config cfg;
    segloss_input in = { logits, labels, SEGLOSS_LABEL_U8, N, C, S, SEGLOSS_NCHW };
    segloss_result r;
    float grad[N * C * S];
    segloss_config_init(&cfg, SEGLOSS_FOCAL_DICE);
    cfg.use_class_weighting = 1;
    if (segloss_compute(&cfg, &in, grad, &r) != SEGLOSS_OK) return -1;
    return r.loss + grad[7];
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg, k;
    pthread_barrier_wait(&start);
    for (k = 0; k < 20; k++) answer[id] = run_once();
    return NULL;
}

/* ---- threaded calls ---------------------------------------------------------------------- */
enum { BN = 2, BC = 4, BS = 40000, CALLERS = 4 };
static float big_logits[BN * BC * BS];
static uint8_t big_labels[BN * BS];
static double big_answer[CALLERS];
static pthread_barrier_t big_start;

static double run_big(segloss_loss_type t, int id)
{
    segloss_config cfg;
    segloss_input in = { big_logits, big_labels, SEGLOSS_LABEL_U8, BN, BC, BS, SEGLOSS_NHWC };
    segloss_result r;
    static float grads[CALLERS + 1][BN * BC * BS];
    float *grad = grads[id];
    int64_t conf[BC * BC] = {0}, k;
    double h = 0.0;
    segloss_config_init(&cfg, t);
    if (segloss_compute(&cfg, &in, grad, &r) != SEGLOSS_OK) return -1;
    if (segloss_confusion(&in, -100, conf) != SEGLOSS_OK) return -2;
    for (k = 0; k < BC * BC; k++) h = h * 3.0 + (double)conf[k];
    for (k = 0; k < BN * BC * BS; k += 997) h += grad[k];
    return r.loss + h;
}

static void *big_worker(void *arg)
{
    int id = (int)(intptr_t)arg, k;
    pthread_barrier_wait(&big_start);
    for (k = 0; k < 3; k++) big_answer[id] = run_big(id & 1 ? SEGLOSS_DICE : SEGLOSS_FOCAL, id);
    return NULL;
}

static void *setter(void *arg)
{
    int k;
    (void)arg;
    pthread_barrier_wait(&big_start);
    for (k = 0; k < 20; k++) segloss_set_threads(k % 2 ? 2 : 3);
    return NULL;
}

/* a caller's parallel-for: a thread per chunk, at most 4 at once */
typedef struct hook_job { void (*task)(void *, int64_t); void *ctx; int64_t i; } hook_job;
static void *hook_one(void *arg)
{
    hook_job *h = (hook_job *)arg;
    h->task(h->ctx, h->i);
    return NULL;
}
static void thread_hook(void *ctx, void (*task)(void *, int64_t), void *task_ctx, int64_t count)
{
    int64_t i, j;
    (void)ctx;
    for (i = 0; i < count; i += 4) {
        pthread_t t[4];
        hook_job h[4];
        for (j = 0; j < 4 && i + j < count; j++) {
            h[j].task = task, h[j].ctx = task_ctx, h[j].i = i + j;
            pthread_create(&t[j], NULL, hook_one, &h[j]);
        }
        for (j = 0; j < 4 && i + j < count; j++) pthread_join(t[j], NULL);
    }
}

static void threaded_calls(void)
{
    pthread_t t[CALLERS + 1];
    double want[2];
    int i, round;
    for (i = 0; i < BN * BC * BS; i++) big_logits[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
    for (i = 0; i < BN * BS; i++) big_labels[i] = (uint8_t)((i * 31) % 10 < 7 ? 0 : (i * 13) % 4);
    segloss_set_threads(1);
    want[0] = run_big(SEGLOSS_FOCAL, CALLERS);
    want[1] = run_big(SEGLOSS_DICE, CALLERS);
    for (round = 0; round < 2; round++) {
        if (round == 0) segloss_set_threads(3);
        else segloss_set_parallel_for(thread_hook, NULL);
        pthread_barrier_init(&big_start, NULL, CALLERS + 1);
        for (i = 0; i < CALLERS; i++) pthread_create(&t[i], NULL, big_worker, (void *)(intptr_t)i);
        pthread_create(&t[CALLERS], NULL, setter, NULL);
        for (i = 0; i <= CALLERS; i++) pthread_join(t[i], NULL);
        pthread_barrier_destroy(&big_start);
        for (i = 0; i < CALLERS; i++) check_count(big_answer[i] == want[i & 1]);
    }
    segloss_set_parallel_for(NULL, NULL);
    segloss_set_threads(1);
    printf("threads: %d callers at once on the built-in pool (2-3 threads, resized meanwhile) and on a "
           "caller's parallel-for\n", CALLERS);
}

int main(void)
{
    pthread_t t[THREADS];
    int i;
    double want;
    for (i = 0; i < N * C * S; i++) logits[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
    for (i = 0; i < N * S; i++) labels[i] = (uint8_t)((i * 31) % 10 < 7 ? 0 : (i * 13) % 4);
    pthread_barrier_init(&start, NULL, THREADS);
    for (i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    for (i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    want = run_once();
    for (i = 0; i < THREADS; i++) check_count(answer[i] == want);
    printf("threads: %d threads raced the first call on path %s\n", THREADS, segloss_active_isa());
    threaded_calls();
    return check_report();
}
