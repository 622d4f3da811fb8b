/*
 * parallel.c -- ranges of work on threads (see parallel.h).
 */
#include "config.h"
#include "parallel.h"

#include <pthread.h>

struct range_job {
    ctk_range_fn fn;
    void *arg;
    int t;
    int64_t lo, hi;
};

static void *run_range(void *p)
{
    struct range_job *j = p;
    j->fn(j->arg, j->t, j->lo, j->hi);
    return NULL;
}

void ctk_parallel_for(int64_t n, int threads, ctk_range_fn fn, void *arg)
{
    int T = threads < 1 ? 1 : threads > CTK_MAX_THREADS ? CTK_MAX_THREADS : threads;
    if (n < T) T = n < 1 ? 1 : (int)n;
    struct range_job jobs[CTK_MAX_THREADS];
    pthread_t tid[CTK_MAX_THREADS];
    int started[CTK_MAX_THREADS] = {0};
    for (int t = 0; t < T; t++) {
        jobs[t] = (struct range_job){fn, arg, t, n * t / T, n * (t + 1) / T};
        if (t > 0) started[t] = pthread_create(&tid[t], NULL, run_range, &jobs[t]) == 0;
    }
    run_range(&jobs[0]);
    for (int t = 1; t < T; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            run_range(&jobs[t]);
    }
}
