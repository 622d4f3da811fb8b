/*
 * nndescent.c -- NN-descent (see nndescent.h).
 *
 * Each point keeps a bounded max-heap of its k-1 best neighbours found so far
 * (itself is added at the end), each entry flagged "new" until it has taken
 * part in a local join. The heaps start from the leaves of a forest of
 * random projection trees (every pair of points sharing a leaf is offered),
 * topped up with random points. An iteration samples, for every point, up to
 * max_candidates new and old neighbours (forward and reverse, by random
 * priority), then joins new x new and new x old pairs of each list: every
 * pair's distance is offered to both points' heaps. Heaps are updated under
 * a per-point lock so that the joins can run on several threads.
 *
 * Random choices that threads share come from hashes of (seed, what, where)
 * rather than from one generator's sequence, so that the result does not
 * depend on how the work was split.
 */
#include "config.h"
#include "nndescent.h"
#include "err.h"
#include "parallel.h"
#include "rng.h"
#include "simd.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void ctk_nndescent_opts_default(struct ctk_nndescent_opts *o)
{
    *o = (struct ctk_nndescent_opts){.metric = CTK_METRIC_EUCLIDEAN, .max_iters = 10, .delta = 0.001, .n_trees = -1,
                                     .threads = 1};
}

/* A random 64-bit number for (seed, a, b): one splitmix64 step of their mix. */
static uint64_t hash3(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t s = seed ^ (a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL);
    return ctk_splitmix64(&s);
}

/*
 * Dot product with 32 partial sums, which GCC vectorises at any vector width
 * to the same result: two AVX-512 registers, or four AVX2 ones, so that the
 * additions do not all wait on one register.
 */
CTK_SIMD_CLONES static float dot(const float *u, const float *v, int64_t d)
{
    float acc[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= d; i += 32)
        for (int j = 0; j < 32; j++) acc[j] += u[i + j] * v[i + j];
    float s = 0;
    for (; i < d; i++) s += u[i] * v[i];
    for (int j = 0; j < 32; j++) s += acc[j];
    return s;
}

/* ---- random projection trees -------------------------------------------------------- */

struct rp_build {
    const float *x;
    int64_t d;
    int cosine;      /* rows are unit vectors: hyperplanes through the origin */
    int leaf_size;
    struct ctk_rng rng;
    float *normal;   /* (d) scratch */
    int32_t *perm;
    int64_t *leaf_start, nleaves;
};

/* Deeper than this, nodes are halved at random: a bound on the recursion whatever the data. */
#define RP_MAX_DEPTH 48

/*
 * Split perm[lo, hi) by the hyperplane equidistant from two of its points
 * (for cosine: through the origin, normal to the difference of the two unit
 * vectors), points on the plane to a random side, as pynndescent does.
 * Returns the first index of the right side; lo or hi if one side is empty.
 */
static int64_t rp_split(struct rp_build *b, int64_t lo, int64_t hi)
{
    int64_t m = hi - lo, d = b->d;
    int64_t ia = lo + (int64_t)ctk_rng_below(&b->rng, (uint64_t)m);
    int64_t ib = lo + (int64_t)ctk_rng_below(&b->rng, (uint64_t)(m - 1));
    if (ib >= ia) ib++;
    const float *pa = b->x + (int64_t)b->perm[ia] * d, *pb = b->x + (int64_t)b->perm[ib] * d;
    float offset = 0;
    for (int64_t c = 0; c < d; c++) {
        b->normal[c] = pa[c] - pb[c];
        offset -= b->normal[c] * (pa[c] + pb[c]) * 0.5f;
    }
    if (b->cosine) offset = 0;
    int64_t l = lo, r = hi;
    while (l < r) {
        float margin = dot(b->normal, b->x + (int64_t)b->perm[l] * d, d) + offset;
        int right = fabsf(margin) < 1e-8f ? (int)(ctk_rng_next(&b->rng) >> 63) : margin < 0;
        if (right) {
            r--;
            int32_t t = b->perm[l];
            b->perm[l] = b->perm[r], b->perm[r] = t;
        } else {
            l++;
        }
    }
    return l;
}

static void rp_node(struct rp_build *b, int64_t lo, int64_t hi, int depth)
{
    if (hi - lo <= b->leaf_size) {
        b->leaf_start[b->nleaves++] = lo;
        return;
    }
    int64_t mid = depth < RP_MAX_DEPTH ? rp_split(b, lo, hi) : lo;
    if (mid == lo || mid == hi) mid = lo + (hi - lo) / 2; /* all on one side (duplicates): halve */
    rp_node(b, lo, mid, depth + 1);
    rp_node(b, mid, hi, depth + 1);
}

int64_t ctk_rp_tree(const float *x, int64_t n, int64_t d, int cosine, int leaf_size, uint64_t seed, int32_t *perm,
                    int64_t *leaf_start)
{
    struct rp_build b = {.x = x, .d = d, .cosine = cosine, .leaf_size = leaf_size < 1 ? 1 : leaf_size,
                         .perm = perm, .leaf_start = leaf_start};
    ctk_rng_seed(&b.rng, seed);
    b.normal = xmallocarray((size_t)(d > 0 ? d : 1), sizeof *b.normal);
    for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    if (n > 0) rp_node(&b, 0, n, 0);
    leaf_start[b.nleaves] = n;
    free(b.normal);
    return b.nleaves;
}

/* ---- neighbour heaps ---------------------------------------------------------------- */

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
    float dt = dot(s->x + a * s->d, s->x + b * s->d, s->d);
    if (s->cosine) return fmaxf(0.0f, 1.0f - dt);
    return fmaxf(0.0f, s->sq[a] + s->sq[b] - 2.0f * dt);
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

/* ---- initial heaps: RP-tree leaves, then random points ---------------------------- */

struct forest_job {
    struct nnd *s;
    int n_trees, leaf_size;
    uint64_t seed;
};

/* Trees [lo, hi): build each, offer every pair within each leaf. */
static void forest_range(void *arg, int t, int64_t lo, int64_t hi)
{
    struct forest_job *f = arg;
    struct nnd *s = f->s;
    int32_t *perm = xmallocarray((size_t)s->n, sizeof *perm);
    int64_t *start = xmallocarray((size_t)s->n + 1, sizeof *start);
    for (int64_t tree = lo; tree < hi; tree++) {
        int64_t nl = ctk_rp_tree(s->x, s->n, s->d, s->cosine, f->leaf_size, hash3(f->seed, 1, (uint64_t)tree), perm,
                                 start);
        for (int64_t l = 0; l < nl; l++)
            for (int64_t a = start[l]; a < start[l + 1]; a++)
                for (int64_t b = a + 1; b < start[l + 1]; b++) {
                    float dd = pair_dist(s, perm[a], perm[b]);
                    heap_push(s, perm[a], perm[b], dd);
                    heap_push(s, perm[b], perm[a], dd);
                }
    }
    free(perm);
    free(start);
}

struct fill_job {
    struct nnd *s;
    uint64_t seed;
};

/* Points [lo, hi) with room left in their heaps get random neighbours. */
static void fill_range(void *arg, int t, int64_t lo, int64_t hi)
{
    struct fill_job *f = arg;
    struct nnd *s = f->s;
    for (int64_t i = lo; i < hi; i++)
        for (int tries = 0; tries < 4 * s->kk && s->hidx[i * s->kk] < 0; tries++) {
            int32_t j = (int32_t)(hash3(f->seed, 2, (uint64_t)(i * s->kk + tries)) % (uint64_t)s->n);
            heap_push(s, i, j, pair_dist(s, i, j));
        }
}

/* ---- candidates and local joins ------------------------------------------------------ */

/* Candidate lists: up to mc entries per point, kept by smallest random priority. */
struct cand {
    int32_t *idx;  /* (n, mc), -1 empty */
    uint32_t *prio; /* (n, mc) */
    int mc;
};

static void cand_add(struct cand *c, int64_t i, int32_t j, uint32_t pr)
{
    int32_t *ci = c->idx + i * c->mc;
    uint32_t *cp = c->prio + i * c->mc;
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

struct cand_job {
    struct nnd *s;
    struct cand *nw, *old;
    uint64_t seed;
    int iter;
};

/*
 * The candidate lists of points [lo, hi): every heap entry (i, j) is a
 * candidate of i and of j, new or old as its flag, with one priority for
 * both. Each range scans all entries and keeps what falls in it, so that
 * ranges write only their own lists (as pynndescent's parallel version).
 */
static void cand_range(void *arg, int t, int64_t lo, int64_t hi)
{
    struct cand_job *cj = arg;
    struct nnd *s = cj->s;
    int kk = s->kk, mc = cj->nw->mc;
    for (int64_t i = lo * mc; i < hi * mc; i++) cj->nw->idx[i] = cj->old->idx[i] = -1;
    for (int64_t i = 0; i < s->n; i++)
        for (int e = 0; e < kk; e++) {
            int32_t j = s->hidx[i * kk + e];
            if (j < 0 || ((i < lo || i >= hi) && (j < lo || j >= hi))) continue;
            uint32_t pr = (uint32_t)hash3(cj->seed, 3 + (uint64_t)cj->iter, (uint64_t)(i * kk + e));
            struct cand *c = s->hnew[i * kk + e] ? cj->nw : cj->old;
            if (i >= lo && i < hi) cand_add(c, i, j, pr);
            if (j >= lo && j < hi) cand_add(c, j, (int32_t)i, pr);
        }
    /* entries sampled as new candidates are old from now on */
    for (int64_t i = lo; i < hi; i++)
        for (int e = 0; e < kk; e++) {
            if (!s->hnew[i * kk + e]) continue;
            for (int c = 0; c < mc; c++)
                if (cj->nw->idx[i * mc + c] == s->hidx[i * kk + e]) {
                    s->hnew[i * kk + e] = 0;
                    break;
                }
        }
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

/* ---- the search ---------------------------------------------------------------------- */

int ctk_nndescent_default_trees(int64_t n)
{
    int t = 5 + (int)lround(sqrt((double)n) / 20.0);
    return t < 8 ? t : 8;
}

/* Unit rows (cosine) or squared norms (euclidean): what pair_dist needs besides x. */
static void prepare_points(struct nnd *s, const float *x, float **unit, float **sq)
{
    int64_t n = s->n, d = s->d;
    if (s->cosine) {
        *unit = xmallocarray((size_t)(n * d), sizeof **unit);
        for (int64_t i = 0; i < n; i++) {
            double t = 0;
            for (int64_t c = 0; c < d; c++) t += (double)x[i * d + c] * x[i * d + c];
            double inv = t > 0 ? 1 / sqrt(t) : 0;
            for (int64_t c = 0; c < d; c++) (*unit)[i * d + c] = (float)(x[i * d + c] * inv);
        }
        s->x = *unit;
    } else {
        *sq = xmallocarray((size_t)n, sizeof **sq);
        for (int64_t i = 0; i < n; i++) {
            double t = 0;
            for (int64_t c = 0; c < d; c++) t += (double)x[i * d + c] * x[i * d + c];
            (*sq)[i] = (float)t;
        }
        s->sq = *sq;
    }
}

/* Sort each heap ascending into idx/dist (k), the point itself first. */
static void write_result(const struct nnd *s, int k, int64_t *idx, float *dist)
{
    int kk = s->kk;
    for (int64_t i = 0; i < s->n; i++) {
        int32_t *hi = s->hidx + i * kk;
        float *hd = s->hdist + i * kk;
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
            dist[i * k + t + 1] = hi[t] < 0 ? INFINITY : s->cosine ? hd[t] : sqrtf(hd[t]);
        }
    }
}

void ctk_nndescent(const float *x, int64_t n, int64_t d, int k, const struct ctk_nndescent_opts *o, int64_t *idx,
                   float *dist)
{
    struct nnd s = {x, NULL, n, d, o->metric == CTK_METRIC_COSINE, k - 1, NULL, NULL, NULL, NULL};
    float *unit = NULL, *sq = NULL;
    prepare_points(&s, x, &unit, &sq);
    int kk = s.kk, threads = o->threads;
    s.hidx = xmallocarray((size_t)(n * kk), sizeof *s.hidx);
    s.hdist = xmallocarray((size_t)(n * kk), sizeof *s.hdist);
    s.hnew = xmallocarray((size_t)(n * kk), sizeof *s.hnew);
    s.lock = xmallocarray((size_t)n, sizeof *s.lock);
    for (int64_t i = 0; i < n; i++) atomic_flag_clear(&s.lock[i]);
    for (int64_t i = 0; i < n * kk; i++) s.hidx[i] = -1, s.hdist[i] = INFINITY, s.hnew[i] = 0;

    int n_trees = o->n_trees >= 0 ? o->n_trees : ctk_nndescent_default_trees(n);
    struct forest_job fj = {&s, n_trees, o->leaf_size > 0 ? o->leaf_size : (k > 10 ? k : 10), o->seed};
    ctk_parallel_for(n_trees, threads, forest_range, &fj);
    struct fill_job fl = {&s, o->seed};
    ctk_parallel_for(n, threads, fill_range, &fl);

    int mc = o->max_candidates > 0 ? o->max_candidates : (k < 60 ? k : 60);
    struct cand nw = {xmallocarray((size_t)(n * mc), sizeof(int32_t)), xmallocarray((size_t)(n * mc), sizeof(uint32_t)), mc};
    struct cand old = {xmallocarray((size_t)(n * mc), sizeof(int32_t)), xmallocarray((size_t)(n * mc), sizeof(uint32_t)), mc};
    for (int it = 0; it < o->max_iters; it++) {
        struct cand_job cj = {&s, &nw, &old, o->seed, it};
        ctk_parallel_for(n, threads, cand_range, &cj);
        struct join_job jb = {&s, &nw, &old, {0}};
        ctk_parallel_for(n, threads, join_range, &jb);
        long updates = 0;
        for (int t = 0; t < CTK_MAX_THREADS; t++) updates += jb.updates[t];
        if (o->verbose) ctk_progress("NN-descent iteration %d: %ld updates", it + 1, updates);
        if (updates <= o->delta * (double)n * k) break;
    }
    if (o->verbose) ctk_progress_done();
    write_result(&s, k, idx, dist);
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
