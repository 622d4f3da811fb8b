/*
 * pool.h -- a persistent pool of threads for the transformer's many small
 * jobs (a forward pass runs a dozen per layer, microseconds apart, and at
 * batch 1 a few hundred thousand in a run: starting a thread for each costs
 * more than the job, and more still when the cores are busy).
 *
 * ctk_pool_run(p, n, fn, ctx) calls fn(ctx, item, thread) for items 0 .. n-1
 * on the pool's threads (thread 0 the caller's), items handed out in order
 * to whichever thread is free, and returns when all are done. Idle workers
 * spin briefly, then sleep. ctk_pool_ranges(p, n, parts, fn, arg) is
 * lib/parallel.h's ctk_parallel_for on the pool: fn(arg, thread, lo, hi)
 * over at most parts contiguous ranges covering 0 .. n-1.
 *
 * A job must not depend on which thread runs it (thread only picks scratch
 * space), so results do not depend on the number of threads.
 * Ownership: ctk_pool_free() stops the threads.
 */
#ifndef CTK_POOL_H
#define CTK_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "parallel.h" /* ctk_range_fn */

typedef void (*ctk_item_fn)(void *ctx, int64_t item, int thread);

struct ctk_pool {
    int nthreads; /* including the caller */
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    ctk_item_fn fn;
    void *ctx;
    int64_t nitems;
    atomic_llong next;
    atomic_int busy;   /* workers still running the current job */
    atomic_uint gen;   /* job number, bumped for each run */
    atomic_int quit;
};

/* nthreads in all: the caller and nthreads - 1 workers; dies when one cannot start. */
void ctk_pool_init(struct ctk_pool *p, int nthreads);
void ctk_pool_run(struct ctk_pool *p, int64_t n, ctk_item_fn fn, void *ctx);
void ctk_pool_ranges(struct ctk_pool *p, int64_t n, int parts, ctk_range_fn fn, void *arg);
void ctk_pool_free(struct ctk_pool *p);

#endif
