/*
 * parallel.h -- split a range of work among threads.
 *
 * ctk_parallel_for(n, T, fn, arg) calls fn(arg, t, lo, hi) for T contiguous
 * ranges [lo, hi) covering [0, n), range t on its own thread (range 0 on the
 * caller's), and returns when all are done. A thread that cannot be started
 * has its range run by the caller, so the work is always done.
 */
#ifndef CTK_PARALLEL_H
#define CTK_PARALLEL_H

#include <stdint.h>

#define CTK_MAX_THREADS 64

typedef void (*ctk_range_fn)(void *arg, int t, int64_t lo, int64_t hi);

/* Runs with min(threads, n, CTK_MAX_THREADS) ranges (at least 1). */
void ctk_parallel_for(int64_t n, int threads, ctk_range_fn fn, void *arg);

#endif
