/*
 * pool.c -- a persistent pool of threads (see pool.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pool.h"

struct worker_arg {
    struct ctk_pool *p;
    int thread;
};

/*
 * Waiting: a short spin first (a forward pass runs a job per layer and
 * step, microseconds apart), then sleep on the condition variable.
 */
#define POOL_SPINS 4000
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void pool_work(struct ctk_pool *p, int thread)
{
    for (;;) {
        int64_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->nitems) break;
        p->fn(p->ctx, i, thread);
    }
}

static void *pool_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct ctk_pool *p = wa->p;
    unsigned seen = 0;
    for (;;) {
        for (int k = 0; k < POOL_SPINS && atomic_load(&p->gen) == seen && !atomic_load(&p->quit); k++)
            cpu_relax();
        if (atomic_load(&p->gen) == seen) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->go, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load(&p->gen);
        pool_work(p, wa->thread);
        if (atomic_fetch_sub(&p->busy, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    free(wa);
    return NULL;
}

void ctk_pool_init(struct ctk_pool *p, int nthreads)
{
    memset(p, 0, sizeof *p);
    p->nthreads = nthreads < 1 ? 1 : nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->tid = xcalloc((size_t)p->nthreads, sizeof *p->tid);
    for (int t = 1; t < p->nthreads; t++) {
        struct worker_arg *wa = xmalloc(sizeof *wa);
        wa->p = p;
        wa->thread = t;
        if (pthread_create(&p->tid[t], NULL, pool_main, wa) != 0)
            ctk_die("cannot start a thread; try -j 1");
    }
}

void ctk_pool_run(struct ctk_pool *p, int64_t n, ctk_item_fn fn, void *ctx)
{
    if (n <= 0) return;
    p->fn = fn;
    p->ctx = ctx;
    p->nitems = n;
    atomic_store(&p->next, 0);
    if (p->nthreads == 1 || n == 1) {
        pool_work(p, 0);
        return;
    }
    atomic_store(&p->busy, p->nthreads - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    pool_work(p, 0);
    for (int k = 0; k < POOL_SPINS && atomic_load(&p->busy) > 0; k++) cpu_relax();
    if (atomic_load(&p->busy) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->busy) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void ctk_pool_free(struct ctk_pool *p)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->nthreads; t++) pthread_join(p->tid[t], NULL);
    free(p->tid);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
}

struct ranges {
    ctk_range_fn fn;
    void *arg;
    int64_t n, parts;
};

static void range_item(void *ctx, int64_t k, int thread)
{
    struct ranges *r = ctx;
    int64_t lo = r->n * k / r->parts, hi = r->n * (k + 1) / r->parts;
    if (hi > lo) r->fn(r->arg, thread, lo, hi);
}

void ctk_pool_ranges(struct ctk_pool *p, int64_t n, int parts, ctk_range_fn fn, void *arg)
{
    if (parts > p->nthreads) parts = p->nthreads;
    if (parts > n) parts = (int)n;
    if (parts < 1) parts = 1;
    struct ranges r = {fn, arg, n, parts};
    ctk_pool_run(p, parts, range_item, &r);
}
