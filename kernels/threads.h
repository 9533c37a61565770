/* ---- kernels/threads.h: the chunk runner: a built-in pool, or the caller's parallel-for ---- */
#ifndef SEGLOSS__THREADS_H
#define SEGLOSS__THREADS_H
#include "base.h"

/* Every entry point cuts its work into chunks fixed by the shape alone (driver.h, metrics.h),
   each with its own partial sums, combined in chunk order afterwards: the bits never depend on
   how many threads ran the chunks, nor on which thread ran which, nor in what order. This part
   only runs chunks: segloss__parallel_for(task, ctx, count) calls task(ctx, i) once for every
   i < count and returns when all have returned. It hands them to

     - the caller's parallel-for, when one is set (segloss_set_parallel_for);
     - else the built-in pool of segloss_set_threads(k) threads (the calling thread is one of
       them): POSIX threads, created at the first call that needs them and kept, waiting on a
       condition variable. One call uses the pool at a time; a call that finds it busy (another
       thread's call) runs its chunks on its own thread instead, with the same result;
     - else, and always for one chunk, the calling thread, in order.

   SEGLOSS_NO_THREADS, Windows and other systems without <pthread.h>: no pool (the hook still
   works). */

#if !defined(SEGLOSS_NO_THREADS) && !defined(_WIN32) && \
    (defined(__unix__) || defined(__unix) || defined(__APPLE__)) && (defined(__GNUC__) || defined(__clang__))
#define SEGLOSS__POOL 1
#include <pthread.h>
#else
#define SEGLOSS__POOL 0
#endif

/* Positions below which a call runs on the calling thread alone, whatever the setting: CE on
   2 threads vs 1 (make bench-scaling, 2 vCPUs) was 0.86 x at 32K positions, 1.10 x at 64K,
   1.29 x at 128K: 64K is the break-even. */
#ifndef SEGLOSS_PARALLEL_MIN
#define SEGLOSS_PARALLEL_MIN (1 << 16)
#endif
/* The most threads segloss_set_threads and SEGLOSS_THREADS may ask for. */
#define SEGLOSS__MAX_THREADS 256

typedef void (*segloss__task_fn)(void *task_ctx, int64_t i);

#if SEGLOSS__POOL
#define SEGLOSS__ALOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define SEGLOSS__ASTORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#else
#define SEGLOSS__ALOAD(p) (*(p))
#define SEGLOSS__ASTORE(p, v) (*(p) = (v))
#endif

/* The setting: 0 = not read yet (SEGLOSS_THREADS at first use), else the thread count. */
static int segloss__threads_set;
/* The caller's parallel-for and its context, set together under segloss__hook_lock. */
static segloss_parallel_for_fn segloss__hook_fn;
static void *segloss__hook_ctx;

SEGLOSS__PRIVATE int segloss__clamp_threads(long k)
{
    return k < 1 ? 1 : k > SEGLOSS__MAX_THREADS ? SEGLOSS__MAX_THREADS : (int)k;
}

SEGLOSS__PRIVATE int segloss__threads_wanted(void)
{
    int k = SEGLOSS__ALOAD(&segloss__threads_set);
    if (!k) { /* racing first calls read the same variable and store the same value */
        const char *env = getenv("SEGLOSS_THREADS");
        k = env && *env ? segloss__clamp_threads(strtol(env, NULL, 10)) : 1;
        SEGLOSS__ASTORE(&segloss__threads_set, k);
    }
    return k;
}

SEGLOSS__API void segloss_set_threads(int k)
{
    SEGLOSS__ASTORE(&segloss__threads_set, k > 0 ? segloss__clamp_threads(k) : 0);
}

SEGLOSS__API int segloss_get_threads(void) { return segloss__threads_wanted(); }

#if SEGLOSS__POOL
static pthread_mutex_t segloss__hook_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct segloss__pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t tid[SEGLOSS__MAX_THREADS];
    int workers;            /* threads besides the caller                                     */
    int busy;               /* a call is using the pool (or resizing it)                      */
    int stop;               /* workers: leave                                                 */
    segloss__task_fn task;  /* the current job: task(ctx, i) for i < count                    */
    void *ctx;
    int64_t count, next, finished;
} segloss__pool;

static segloss__pool segloss__the_pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                                           PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0, NULL, NULL, 0, 0, 0 };

/* Take chunks until none is left; called with mu held, returns with mu held. */
SEGLOSS__PRIVATE void segloss__pool_drain(segloss__pool *p)
{
    while (p->next < p->count) {
        const int64_t i = p->next++;
        segloss__task_fn task = p->task;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        task(ctx, i);
        pthread_mutex_lock(&p->mu);
        if (++p->finished == p->count) pthread_cond_signal(&p->done);
    }
}

SEGLOSS__PRIVATE void *segloss__pool_worker(void *arg)
{
    segloss__pool *p = (segloss__pool *)arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next >= p->count) pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        segloss__pool_drain(p);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* A child of fork() has only the thread that forked: forget the workers (they are not there)
   and start the pool afresh. */
SEGLOSS__PRIVATE void segloss__pool_atfork_child(void)
{
    segloss__pool *p = &segloss__the_pool;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = p->busy = p->stop = 0;
    p->count = p->next = p->finished = 0;
    pthread_mutex_init(&segloss__hook_lock, NULL);
}

/* With mu held and busy set: stop the workers, then start k - 1 new ones. */
SEGLOSS__PRIVATE void segloss__pool_resize(segloss__pool *p, int k)
{
    static int atfork_done;
    int i, old = p->workers;
    if (!atfork_done) { /* under mu, busy: once */
        pthread_atfork(NULL, NULL, segloss__pool_atfork_child);
        atfork_done = 1;
    }
    if (old) {
        p->stop = 1;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        for (i = 0; i < old; i++) pthread_join(p->tid[i], NULL);
        pthread_mutex_lock(&p->mu);
        p->stop = 0;
    }
    p->workers = 0;
    for (i = 0; i < k - 1; i++) {
        if (pthread_create(&p->tid[i], NULL, segloss__pool_worker, p) != 0) break; /* fewer threads */
        p->workers++;
    }
}
#endif /* SEGLOSS__POOL */

SEGLOSS__API void segloss_set_parallel_for(segloss_parallel_for_fn fn, void *ctx)
{
#if SEGLOSS__POOL
    pthread_mutex_lock(&segloss__hook_lock);
#endif
    segloss__hook_fn = fn;
    segloss__hook_ctx = fn ? ctx : NULL;
#if SEGLOSS__POOL
    pthread_mutex_unlock(&segloss__hook_lock);
#endif
}

/* Run task(ctx, i) for every i < count. positions: the work's size, for the threshold. */
SEGLOSS__PRIVATE void segloss__parallel_for(segloss__task_fn task, void *ctx, int64_t count, int64_t positions)
{
    segloss_parallel_for_fn fn;
    void *hctx;
    int64_t i;
    int k;
    if (count > 1 && positions >= SEGLOSS_PARALLEL_MIN) {
#if SEGLOSS__POOL
        pthread_mutex_lock(&segloss__hook_lock);
#endif
        fn = segloss__hook_fn;
        hctx = segloss__hook_ctx;
#if SEGLOSS__POOL
        pthread_mutex_unlock(&segloss__hook_lock);
#endif
        if (fn) {
            fn(hctx, task, ctx, count);
            return;
        }
        k = segloss__threads_wanted();
#if SEGLOSS__POOL
        if (k > 1) {
            segloss__pool *p = &segloss__the_pool;
            pthread_mutex_lock(&p->mu);
            if (!p->busy) {
                p->busy = 1;
                if (p->workers != k - 1) segloss__pool_resize(p, k);
                p->task = task;
                p->ctx = ctx;
                p->next = p->finished = 0;
                p->count = count;
                pthread_cond_broadcast(&p->work);
                segloss__pool_drain(p);
                while (p->finished < p->count) pthread_cond_wait(&p->done, &p->mu);
                p->count = p->next = 0;
                p->task = NULL;
                p->ctx = NULL;
                p->busy = 0;
                pthread_mutex_unlock(&p->mu);
                return;
            }
            pthread_mutex_unlock(&p->mu); /* another call has it: run here */
        }
#else
        (void)k;
#endif
    }
    for (i = 0; i < count; i++) task(ctx, i);
}

#endif /* SEGLOSS__THREADS_H */
