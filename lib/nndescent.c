/*
 * nndescent.c -- NN-descent (see nndescent.h).
 *
 * Each point keeps a bounded max-heap of its k-1 best neighbours found so far
 * (itself is added at the end), each entry flagged "new" until it has taken
 * part in a local join. An iteration samples, for every point, up to
 * max_candidates new and old neighbours (forward and reverse, by random
 * priority), then joins new x new and new x old pairs of each list: every
 * pair's distance is offered to both points' heaps. Heaps are updated under
 * a per-point lock so that the joins can run on several threads.
 */
#include "config.h"
#include "nndescent.h"
#include "err.h"
#include "parallel.h"
#include "rng.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void ctk_nndescent_opts_default(struct ctk_nndescent_opts *o)
{
    *o = (struct ctk_nndescent_opts){CTK_METRIC_EUCLIDEAN, 10, 0.001, 0, 0, 1, 0};
}

struct nnd {
    const float *x;   /* (n, d) points; unit rows for cosine */
    const float *sq;  /* (n) squared norms (euclidean) */
    int64_t n, d;
    int cosine;
    int kk;           /* heap size: k - 1 */
    int32_t *hidx;    /* (n, kk) */
    float *hdist;     /* (n, kk), max-heap: hdist[0] largest */
    uint8_t *hnew;    /* (n, kk) */
    atomic_flag *lock;
};

/* Distance used during the search: squared euclidean, or 1 - cos. */
static float pair_dist(const struct nnd *s, int64_t a, int64_t b)
{
    const float *u = s->x + a * s->d, *v = s->x + b * s->d;
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= s->d; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += u[i + j] * v[i + j];
    float dot = 0;
    for (; i < s->d; i++) dot += u[i] * v[i];
    for (int j = 0; j < 16; j++) dot += acc[j];
    if (s->cosine) return fmaxf(0.0f, 1.0f - dot);
    return fmaxf(0.0f, s->sq[a] + s->sq[b] - 2.0f * dot);
}

/* Offer j at distance dd to i's heap; 1 if it entered. */
static int heap_push(struct nnd *s, int64_t i, int32_t j, float dd)
{
    if (i == j) return 0;
    float *hd = s->hdist + i * s->kk;
    if (dd >= hd[0]) return 0;
    while (atomic_flag_test_and_set_explicit(&s->lock[i], memory_order_acquire))
        ;
    int32_t *hi = s->hidx + i * s->kk;
    uint8_t *hn = s->hnew + i * s->kk;
    int ok = dd < hd[0];
    for (int t = 0; ok && t < s->kk; t++)
        if (hi[t] == j) ok = 0;
    if (ok) {
        int p = 0, kk = s->kk;
        for (;;) {
            int l = 2 * p + 1, r = l + 1, m = p;
            float mv = dd;
            if (l < kk && hd[l] > mv) m = l, mv = hd[l];
            if (r < kk && hd[r] > mv) m = r;
            if (m == p) break;
            hd[p] = hd[m], hi[p] = hi[m], hn[p] = hn[m];
            p = m;
        }
        hd[p] = dd, hi[p] = j, hn[p] = 1;
    }
    atomic_flag_clear_explicit(&s->lock[i], memory_order_release);
    return ok;
}

/* Candidate lists: up to mc entries per point, kept by smallest random priority. */
struct cand {
    int32_t *idx;  /* (n, mc), -1 empty */
    float *prio;   /* (n, mc) */
    int mc;
};

static void cand_add(struct cand *c, int64_t i, int32_t j, float pr)
{
    int32_t *ci = c->idx + i * c->mc;
    float *cp = c->prio + i * c->mc;
    int worst = 0;
    for (int t = 0; t < c->mc; t++) {
        if (ci[t] == j) return;
        if (ci[t] < 0) {
            ci[t] = j, cp[t] = pr;
            return;
        }
        if (cp[t] > cp[worst]) worst = t;
    }
    if (pr < cp[worst]) ci[worst] = j, cp[worst] = pr;
}

struct join_job {
    struct nnd *s;
    const struct cand *nw, *old;
    long updates[CTK_MAX_THREADS];
};

static void join_range(void *arg, int t, int64_t lo, int64_t hi)
{
    struct join_job *jb = arg;
    struct nnd *s = jb->s;
    int mc = jb->nw->mc;
    long updates = 0;
    for (int64_t i = lo; i < hi; i++) {
        const int32_t *ni = jb->nw->idx + i * mc, *oi = jb->old->idx + i * mc;
        for (int a = 0; a < mc; a++) {
            int32_t p = ni[a];
            if (p < 0) continue;
            for (int b = a + 1; b < mc; b++) {
                int32_t q = ni[b];
                if (q < 0) continue;
                float dd = pair_dist(s, p, q);
                updates += heap_push(s, p, q, dd) + heap_push(s, q, p, dd);
            }
            for (int b = 0; b < mc; b++) {
                int32_t q = oi[b];
                if (q < 0 || q == p) continue;
                float dd = pair_dist(s, p, q);
                updates += heap_push(s, p, q, dd) + heap_push(s, q, p, dd);
            }
        }
    }
    jb->updates[t] = updates;
}

void ctk_nndescent(const float *x, int64_t n, int64_t d, int k, const struct ctk_nndescent_opts *o, int64_t *idx,
                   float *dist)
{
    struct nnd s = {x, NULL, n, d, o->metric == CTK_METRIC_COSINE, k - 1, NULL, NULL, NULL, NULL};
    float *unit = NULL, *sq = NULL;
    if (s.cosine) {
        unit = xmallocarray((size_t)(n * d), sizeof *unit);
        for (int64_t i = 0; i < n; i++) {
            double t = 0;
            for (int64_t c = 0; c < d; c++) t += (double)x[i * d + c] * x[i * d + c];
            double inv = t > 0 ? 1 / sqrt(t) : 0;
            for (int64_t c = 0; c < d; c++) unit[i * d + c] = (float)(x[i * d + c] * inv);
        }
        s.x = unit;
    } else {
        sq = xmallocarray((size_t)n, sizeof *sq);
        for (int64_t i = 0; i < n; i++) {
            double t = 0;
            for (int64_t c = 0; c < d; c++) t += (double)x[i * d + c] * x[i * d + c];
            sq[i] = (float)t;
        }
        s.sq = sq;
    }
    int kk = s.kk;
    s.hidx = xmallocarray((size_t)(n * kk), sizeof *s.hidx);
    s.hdist = xmallocarray((size_t)(n * kk), sizeof *s.hdist);
    s.hnew = xmallocarray((size_t)(n * kk), sizeof *s.hnew);
    s.lock = xmallocarray((size_t)n, sizeof *s.lock);
    for (int64_t i = 0; i < n; i++) atomic_flag_clear(&s.lock[i]);
    for (int64_t i = 0; i < n * kk; i++) s.hidx[i] = -1, s.hdist[i] = INFINITY, s.hnew[i] = 0;

    struct ctk_rng rng;
    ctk_rng_seed(&rng, o->seed);
    /* random initial neighbours */
    for (int64_t i = 0; i < n; i++)
        for (int t = 0; t < kk; t++) {
            int32_t j = (int32_t)ctk_rng_below(&rng, (uint64_t)n);
            heap_push(&s, i, j, pair_dist(&s, i, j));
        }

    int mc = o->max_candidates > 0 ? o->max_candidates : (k < 60 ? k : 60);
    struct cand nw = {xmallocarray((size_t)(n * mc), sizeof(int32_t)), xmallocarray((size_t)(n * mc), sizeof(float)), mc};
    struct cand old = {xmallocarray((size_t)(n * mc), sizeof(int32_t)), xmallocarray((size_t)(n * mc), sizeof(float)), mc};
    int threads = o->threads;
    for (int it = 0; it < o->max_iters; it++) {
        for (int64_t i = 0; i < n * mc; i++) nw.idx[i] = old.idx[i] = -1;
        for (int64_t i = 0; i < n; i++)
            for (int t = 0; t < kk; t++) {
                int32_t j = s.hidx[i * kk + t];
                if (j < 0) continue;
                float pr = ctk_rng_float(&rng);
                struct cand *c = s.hnew[i * kk + t] ? &nw : &old;
                cand_add(c, i, j, pr);
                cand_add(c, j, (int32_t)i, pr);
            }
        /* entries sampled as new candidates are old from now on */
        for (int64_t i = 0; i < n; i++)
            for (int t = 0; t < kk; t++) {
                if (!s.hnew[i * kk + t]) continue;
                for (int c = 0; c < mc; c++)
                    if (nw.idx[i * mc + c] == s.hidx[i * kk + t]) {
                        s.hnew[i * kk + t] = 0;
                        break;
                    }
            }
        struct join_job jb = {&s, &nw, &old, {0}};
        ctk_parallel_for(n, threads, join_range, &jb);
        long updates = 0;
        for (int t = 0; t < CTK_MAX_THREADS; t++) updates += jb.updates[t];
        if (o->verbose) ctk_progress("NN-descent iteration %d: %ld updates", it + 1, updates);
        if (updates <= o->delta * (double)n * k) break;
    }
    if (o->verbose) ctk_progress_done();

    /* sort each heap ascending, put the point itself first */
    for (int64_t i = 0; i < n; i++) {
        int32_t *hi = s.hidx + i * kk;
        float *hd = s.hdist + i * kk;
        for (int a = 1; a < kk; a++) /* insertion sort: kk is small */
            for (int b = a; b > 0 && (hd[b] < hd[b - 1] || (hd[b] == hd[b - 1] && hi[b] < hi[b - 1])); b--) {
                float tf = hd[b];
                hd[b] = hd[b - 1], hd[b - 1] = tf;
                int32_t ti = hi[b];
                hi[b] = hi[b - 1], hi[b - 1] = ti;
            }
        idx[i * k] = i, dist[i * k] = 0;
        for (int t = 0; t < kk; t++) {
            idx[i * k + t + 1] = hi[t];
            dist[i * k + t + 1] = hi[t] < 0 ? INFINITY : s.cosine ? hd[t] : sqrtf(hd[t]);
        }
    }
    free(nw.idx);
    free(nw.prio);
    free(old.idx);
    free(old.prio);
    free(s.hidx);
    free(s.hdist);
    free(s.hnew);
    free((void *)s.lock);
    free(unit);
    free(sq);
}
