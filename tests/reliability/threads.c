/* tests/reliability/threads.c — eight threads make their first call at the same moment (the dispatch is
   resolved lazily), then keep computing. Built with -fsanitize=thread: the run must be clean,
   and every thread must get the single-threaded answer bit for bit. */
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
    return check_report();
}
