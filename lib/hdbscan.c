/*
 * hdbscan.c -- HDBSCAN (see hdbscan.h). The steps and their names follow the
 * hdbscan library (McInnes, Healy & Astels 2017) so that the results can be
 * compared point by point:
 *
 *   core(a)  = distance from a to its min_samples-th nearest other point
 *   mr(a,b)  = max(core(a), core(b), d(a,b))           mutual reachability
 *   MST of mr: for Euclidean points in at most KD_MAX_DIM dimensions, core
 *     distances by k-d tree searches and the MST by Boruvka's algorithm with
 *     a k-d tree (each round, every point's least edge to another
 *     component, subtrees pruned by their box, their least core distance
 *     and the component's least edge so far); otherwise core distances by a
 *     scan and Prim's algorithm over the complete graph (O(n^2), no n^2
 *     memory). Both give the same edge weights; equal weights are ordered
 *     by (smaller point, larger point) in Boruvka's tree, by Prim's order in
 *     Prim's
 *   single-linkage hierarchy: MST edges by weight, merged with union-find,
 *     node n+i made by the i-th merge (scipy's linkage layout)
 *   condensed tree: walk the hierarchy from the root; a split where both
 *     sides have >= min_cluster_size points makes two new clusters, otherwise
 *     the small side's points "fall out" of the cluster at lambda = 1/distance
 *   stability(c) = sum over c's rows of (lambda - lambda_birth(c)) * size
 *   selection: eom keeps a cluster when its stability is at least that of
 *     its selected descendants; leaf keeps the leaves of the cluster tree
 *   label of a point: its selected ancestor cluster, else -1 (noise)
 *   probability: min(lambda_point, lambda_max(c)) / lambda_max(c)
 */
#include "config.h"
#include "hdbscan.h"
#include "kdtree.h"
#include "parallel.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Up to this many dimensions a k-d tree prunes enough to beat a scan. */
#define KD_MAX_DIM 16
#define KD_LEAF 16

/* ---- distances --------------------------------------------------------------- */

struct points {
    const float *x; /* (n, d); unit rows for the cosine metric */
    int64_t n, d;
    int cosine;
};

static double dist(const struct points *p, int64_t a, int64_t b)
{
    const float *u = p->x + a * p->d, *v = p->x + b * p->d;
    double s = 0;
    if (p->cosine) {
        for (int64_t k = 0; k < p->d; k++) s += (double)u[k] * v[k];
        double c = 1.0 - s;
        return c > 0 ? c : 0;
    }
    for (int64_t k = 0; k < p->d; k++) {
        double t = (double)u[k] - v[k];
        s += t * t;
    }
    return sqrt(s);
}

/* ---- core distances (threads over rows) ----------------------------------------- */

struct core_job {
    const struct points *p;     /* a scan over these points, */
    const struct ctk_kdtree *t; /* or, when not NULL, searches of this tree (by tree position) */
    int64_t k;
    double *core;
};

/* core[a] for a in [lo, hi): the k-th smallest distance to another point (lib/knn.h's top-k heap). */
static void core_range(void *arg, int t, int64_t lo, int64_t hi)
{
    (void)t;
    struct core_job *j = arg;
    struct ctk_hit *h = xmallocarray((size_t)j->k, sizeof *h);
    for (int64_t a = lo; a < hi; a++) {
        if (j->t) {
            j->core[a] = sqrt(ctk_kdtree_kth_dist2(j->t, a, j->k, h));
            continue;
        }
        int64_t n = 0;
        for (int64_t b = 0; b < j->p->n; b++)
            if (b != a) n = ctk_topk_offer(h, n, j->k, (struct ctk_hit){-dist(j->p, a, b), b});
        j->core[a] = -h[0].s;
    }
    free(h);
}

static void core_distances(const struct points *p, int64_t k, int threads, double *core)
{
    struct core_job job = {p, NULL, k, core};
    ctk_parallel_for(p->n, threads, core_range, &job);
}

/* ---- minimum spanning tree of mutual reachability (Prim) ----------------------- */

struct edge {
    int64_t a, b;
    double w;
    int64_t order; /* position in Prim's output: ties keep it */
};

static void prim_mst(const struct points *p, const double *core, struct edge *mst)
{
    int64_t n = p->n;
    char *in_tree = xcalloc((size_t)n, 1);
    double *best = xmallocarray((size_t)n, sizeof *best);
    int64_t *from = xmallocarray((size_t)n, sizeof *from);
    for (int64_t i = 0; i < n; i++) best[i] = INFINITY, from[i] = -1;
    int64_t cur = 0;
    for (int64_t step = 0; step < n - 1; step++) {
        in_tree[cur] = 1;
        double bw = INFINITY;
        int64_t bj = -1;
        for (int64_t j = 0; j < n; j++) {
            if (in_tree[j]) continue;
            double d = dist(p, cur, j);
            if (core[cur] > d) d = core[cur];
            if (core[j] > d) d = core[j];
            if (d < best[j]) best[j] = d, from[j] = cur;
            if (best[j] < bw || bj < 0) bw = best[j], bj = j;
        }
        mst[step] = (struct edge){from[bj], bj, bw, step};
        cur = bj;
    }
    free(in_tree);
    free(best);
    free(from);
}

/* ---- minimum spanning tree of mutual reachability (Boruvka, k-d tree) ---------- */

/* Union-find root of i, halving the path. */
static int64_t uf_find(int64_t *parent, int64_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}


/*
 * Everything is indexed by tree position. bound[c] holds the least edge
 * weight found so far this round by any point of component c, as the bits of
 * a non-negative double (whose order as integers is their order as numbers),
 * so that threads prune with each other's finds. It only ever prunes
 * subtrees that cannot hold an edge as light as one already found, so the
 * edge each component ends with does not depend on the threads' timing.
 */
struct boruvka {
    const struct ctk_kdtree *t;
    const double *core;        /* core distance of each position */
    double *node_core;         /* least core distance in each node */
    int64_t *comp;             /* component of each position */
    int64_t *node_comp;        /* the component of all of a node's points, -1 if several */
    _Atomic uint64_t *bound;   /* per component */
    double *best_w;            /* each position's least edge: weight, other end */
    int64_t *best_q;
};

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Edge (p, q) weighing w is lighter than (p2, q2) weighing w2: by weight, then input indices. */
static int lighter(const struct ctk_kdtree *t, double w, int64_t p, int64_t q, double w2, int64_t p2,
                   int64_t q2)
{
    if (w != w2) return w < w2;
    if (q2 < 0) return 1;
    int64_t a = t->perm[p], b = t->perm[q], a2 = t->perm[p2], b2 = t->perm[q2];
    int64_t lo = a < b ? a : b, hi = a < b ? b : a, lo2 = a2 < b2 ? a2 : b2, hi2 = a2 < b2 ? b2 : a2;
    return lo != lo2 ? lo < lo2 : hi < hi2;
}

static void lower_bound(_Atomic uint64_t *b, double w)
{
    uint64_t cur = atomic_load_explicit(b, memory_order_relaxed), v = dbits(w);
    while (v < cur && !atomic_compare_exchange_weak_explicit(b, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

/* Lower bound of the weight of an edge from p (core cp, coordinates xp) into node. */
static double node_bound(const struct boruvka *B, int64_t node, const float *xp, double cp)
{
    double lb = sqrt(ctk_kdtree_box_dist2(B->t, node, xp));
    if (lb < cp) lb = cp;
    return lb > B->node_core[node] ? lb : B->node_core[node];
}

static void least_edge(struct boruvka *B, int64_t node, int64_t p, double lb)
{
    const struct ctk_kdtree *t = B->t;
    int64_t c = B->comp[p];
    double cp = B->core[p];
    if (B->node_comp[node] == c) return;
    double bound = bitsd(atomic_load_explicit(&B->bound[c], memory_order_relaxed));
    if (lb > B->best_w[p] || lb > bound) return;
    if (t->left[node] < 0) {
        for (int64_t q = t->start[node]; q < t->end[node]; q++) {
            if (B->comp[q] == c) continue;
            double w = sqrt(ctk_kdtree_dist2(t, p, q));
            if (w < cp) w = cp;
            if (w < B->core[q]) w = B->core[q];
            if (lighter(t, w, p, q, B->best_w[p], p, B->best_q[p])) B->best_w[p] = w, B->best_q[p] = q;
        }
        if (B->best_q[p] >= 0) lower_bound(&B->bound[c], B->best_w[p]);
        return;
    }
    const float *xp = t->x + p * t->d;
    int64_t a = t->left[node], b = t->right[node];
    double la = node_bound(B, a, xp, cp), lb2 = node_bound(B, b, xp, cp);
    if (lb2 < la) {
        int64_t tn = a;
        a = b, b = tn;
        double td = la;
        la = lb2, lb2 = td;
    }
    least_edge(B, a, p, la);
    least_edge(B, b, p, lb2);
}

static void least_edge_range(void *arg, int th, int64_t lo, int64_t hi)
{
    (void)th;
    struct boruvka *B = arg;
    for (int64_t p = lo; p < hi; p++) {
        B->best_w[p] = INFINITY;
        B->best_q[p] = -1;
        least_edge(B, 0, p, B->core[p]);
    }
}

/* The MST of the Euclidean points p (core distances to the ms-th neighbour) into mst (n - 1). */
static void boruvka_mst(const struct points *p, int64_t ms, int threads, struct edge *mst)
{
    int64_t n = p->n;
    struct ctk_kdtree t;
    ctk_kdtree_build(&t, p->x, n, p->d, KD_LEAF);
    struct boruvka B = {.t = &t};
    double *core = xmallocarray((size_t)n, sizeof *core);
    struct core_job cj = {p, &t, ms, core};
    ctk_parallel_for(n, threads, core_range, &cj);
    B.core = core;
    B.node_core = xmallocarray((size_t)t.nnodes, sizeof *B.node_core);
    for (int64_t i = t.nnodes - 1; i >= 0; i--) {
        if (t.left[i] < 0) {
            double m = INFINITY;
            for (int64_t q = t.start[i]; q < t.end[i]; q++) if (core[q] < m) m = core[q];
            B.node_core[i] = m;
        } else {
            double l = B.node_core[t.left[i]], r = B.node_core[t.right[i]];
            B.node_core[i] = l < r ? l : r;
        }
    }
    int64_t *parent = xmallocarray((size_t)n, sizeof *parent);
    for (int64_t i = 0; i < n; i++) parent[i] = i;
    B.comp = xmallocarray((size_t)n, sizeof *B.comp);
    B.node_comp = xmallocarray((size_t)t.nnodes, sizeof *B.node_comp);
    B.bound = xmallocarray((size_t)n, sizeof *B.bound);
    B.best_w = xmallocarray((size_t)n, sizeof *B.best_w);
    B.best_q = xmallocarray((size_t)n, sizeof *B.best_q);
    int64_t *cp = xmallocarray((size_t)n, sizeof *cp); /* per component: its least edge's ends */
    int64_t edges = 0;
    while (edges < n - 1) {
        for (int64_t i = 0; i < n; i++) B.comp[i] = uf_find(parent, i);
        for (int64_t i = t.nnodes - 1; i >= 0; i--) {
            int64_t c;
            if (t.left[i] < 0) {
                c = B.comp[t.start[i]];
                for (int64_t q = t.start[i] + 1; q < t.end[i] && c >= 0; q++)
                    if (B.comp[q] != c) c = -1;
            } else {
                c = B.node_comp[t.left[i]] == B.node_comp[t.right[i]] ? B.node_comp[t.left[i]] : -1;
            }
            B.node_comp[i] = c;
        }
        for (int64_t i = 0; i < n; i++) {
            atomic_init(&B.bound[i], dbits(INFINITY));
            cp[i] = -1;
        }
        ctk_parallel_for(n, threads, least_edge_range, &B);
        for (int64_t i = 0; i < n; i++) {
            int64_t c = B.comp[i], j = cp[c];
            if (B.best_q[i] >= 0 &&
                (j < 0 || lighter(&t, B.best_w[i], i, B.best_q[i], B.best_w[j], j, B.best_q[j])))
                cp[c] = i;
        }
        int64_t before = edges;
        for (int64_t c = 0; c < n; c++) {
            int64_t i = cp[c];
            if (i < 0) continue;
            int64_t a = uf_find(parent, i), b = uf_find(parent, B.best_q[i]);
            if (a == b) continue; /* the other component chose the same edge */
            parent[a] = b;
            int64_t u = t.perm[i], v = t.perm[B.best_q[i]];
            int64_t lo = u < v ? u : v, hi = u < v ? v : u;
            /* from the component to the point it reaches, as the hdbscan library orients them */
            mst[edges++] = (struct edge){u, v, B.best_w[i], lo * n + hi};
        }
        if (edges == before)
            ctk_die("hdbscan: Boruvka's round added no edge (a bug)");
    }
    free(cp);
    free(B.best_q);
    free(B.best_w);
    free((void *)B.bound);
    free(B.node_comp);
    free(B.comp);
    free(parent);
    free(B.node_core);
    free(core);
    ctk_kdtree_free(&t);
}

/* ---- single-linkage hierarchy --------------------------------------------------- */

struct merge { /* row of the hierarchy: node n+i joins left and right at distance */
    int64_t left, right, size;
    double dist;
};

static int cmp_edge(const void *x, const void *y)
{
    const struct edge *a = x, *b = y;
    if (a->w != b->w) return a->w < b->w ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static void single_linkage(struct edge *mst, int64_t n, struct merge *h)
{
    struct edge *e = mst;
    qsort(e, (size_t)(n - 1), sizeof *e, cmp_edge);
    int64_t *parent = xmallocarray((size_t)(2 * n - 1), sizeof *parent);
    int64_t *size = xmallocarray((size_t)(2 * n - 1), sizeof *size);
    for (int64_t i = 0; i < 2 * n - 1; i++) parent[i] = i, size[i] = i < n;
    for (int64_t i = 0; i < n - 1; i++) {
        int64_t a = uf_find(parent, e[i].a), b = uf_find(parent, e[i].b);
        int64_t node = n + i;
        h[i] = (struct merge){a, b, size[a] + size[b], e[i].w};
        parent[a] = parent[b] = node;
        size[node] = size[a] + size[b];
    }
    free(parent);
    free(size);
}

/* ---- condensed tree ------------------------------------------------------------ */

struct ctree {
    int64_t *parent, *child, *size; /* rows: child (a point < n, or a cluster >= n) of parent */
    double *lambda;                 /* 1/distance at which the child left the parent */
    int64_t rows, cap;
    int64_t nclusters;              /* cluster ids n .. n+nclusters-1; n is the root */
};

static void ctree_add(struct ctree *t, int64_t parent, int64_t child, double lambda, int64_t size)
{
    if (t->rows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->parent = xreallocarray(t->parent, (size_t)t->cap, sizeof *t->parent);
        t->child = xreallocarray(t->child, (size_t)t->cap, sizeof *t->child);
        t->size = xreallocarray(t->size, (size_t)t->cap, sizeof *t->size);
        t->lambda = xreallocarray(t->lambda, (size_t)t->cap, sizeof *t->lambda);
    }
    t->parent[t->rows] = parent, t->child[t->rows] = child;
    t->lambda[t->rows] = lambda, t->size[t->rows] = size;
    t->rows++;
}

static int64_t node_size(const struct merge *h, int64_t n, int64_t node)
{
    return node < n ? 1 : h[node - n].size;
}

/* Every point under hierarchy node `node` falls out of cluster `label` at lambda. */
static void fall_out(const struct merge *h, int64_t n, int64_t node, int64_t label, double lambda, char *ignore,
                     int64_t *stack, struct ctree *t)
{
    int64_t sp = 0;
    stack[sp++] = node;
    while (sp) {
        int64_t v = stack[--sp];
        ignore[v] = 1;
        if (v < n) {
            ctree_add(t, label, v, lambda, 1);
        } else {
            stack[sp++] = h[v - n].right;
            stack[sp++] = h[v - n].left;
        }
    }
}

static void condense(const struct merge *h, int64_t n, int64_t mcs, struct ctree *t)
{
    int64_t root = 2 * n - 2, nodes = 2 * n - 1;
    int64_t *relabel = xmallocarray((size_t)nodes, sizeof *relabel);
    char *ignore = xcalloc((size_t)nodes, 1);
    int64_t *queue = xmallocarray((size_t)nodes, sizeof *queue);
    int64_t *stack = xmallocarray((size_t)nodes, sizeof *stack);
    int64_t next_label = n + 1, qh = 0, qt = 0;
    relabel[root] = n;
    queue[qt++] = root; /* breadth first, left before right, as hdbscan's bfs_from_hierarchy */
    while (qh < qt) {
        int64_t node = queue[qh++];
        if (node < n) continue;
        queue[qt++] = h[node - n].left;
        queue[qt++] = h[node - n].right;
        if (ignore[node]) continue;
        int64_t left = h[node - n].left, right = h[node - n].right;
        double d = h[node - n].dist, lambda = d > 0 ? 1.0 / d : INFINITY;
        int64_t lc = node_size(h, n, left), rc = node_size(h, n, right);
        if (lc >= mcs && rc >= mcs) {
            relabel[left] = next_label++;
            ctree_add(t, relabel[node], relabel[left], lambda, lc);
            relabel[right] = next_label++;
            ctree_add(t, relabel[node], relabel[right], lambda, rc);
        } else if (lc < mcs && rc < mcs) {
            fall_out(h, n, left, relabel[node], lambda, ignore, stack, t);
            fall_out(h, n, right, relabel[node], lambda, ignore, stack, t);
        } else if (lc < mcs) {
            relabel[right] = relabel[node];
            fall_out(h, n, left, relabel[node], lambda, ignore, stack, t);
        } else {
            relabel[left] = relabel[node];
            fall_out(h, n, right, relabel[node], lambda, ignore, stack, t);
        }
    }
    t->nclusters = next_label - n;
    free(relabel);
    free(ignore);
    free(queue);
    free(stack);
}

/* ---- stability and selection --------------------------------------------------- */

int64_t ctk_hdbscan(const float *x, int64_t n, int64_t d, const struct ctk_hdbscan_opts *o, int32_t *labels,
                    float *prob, struct ctk_err *e)
{
    int64_t mcs = o->min_cluster_size, ms = o->min_samples ? o->min_samples : o->min_cluster_size;
    if (mcs < 2) return ctk_err_set(e, "min_cluster_size must be at least 2 (it is %lld)", (long long)mcs);
    if (ms < 1) return ctk_err_set(e, "min_samples must be at least 1 (it is %lld)", (long long)ms);
    if (n < 2) {
        for (int64_t i = 0; i < n; i++) labels[i] = -1, prob[i] = 0;
        return 0;
    }
    if (ms > n - 1) ms = n - 1;
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i])) return ctk_err_set(e, "point %lld has a non-finite coordinate", (long long)(i / d));

    struct points p = {x, n, d, o->metric == CTK_HDBSCAN_COSINE};
    float *unit = NULL;
    if (p.cosine) {
        unit = xmallocarray((size_t)(n * d), sizeof *unit);
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) s += (double)x[i * d + k] * x[i * d + k];
            double inv = s > 0 ? 1.0 / sqrt(s) : 0;
            for (int64_t k = 0; k < d; k++) unit[i * d + k] = (float)(x[i * d + k] * inv);
        }
        p.x = unit;
    }
    struct edge *mst = xmallocarray((size_t)(n - 1), sizeof *mst);
    if (!p.cosine && d <= KD_MAX_DIM) {
        boruvka_mst(&p, ms, o->threads, mst);
    } else {
        double *core = xmallocarray((size_t)n, sizeof *core);
        core_distances(&p, ms, o->threads, core);
        prim_mst(&p, core, mst);
        free(core);
    }
    free(unit);
    struct merge *h = xmallocarray((size_t)(n - 1), sizeof *h);
    single_linkage(mst, n, h);
    free(mst);
    struct ctree t = {0};
    condense(h, n, mcs, &t);
    free(h);

    int64_t nc = t.nclusters; /* cluster c is node n + c */
    double *birth = xcalloc((size_t)nc, sizeof *birth), *stab = xcalloc((size_t)nc, sizeof *stab);
    double *death = xcalloc((size_t)nc, sizeof *death); /* largest lambda of any child row */
    int64_t *cparent = xmallocarray((size_t)nc, sizeof *cparent);
    for (int64_t c = 0; c < nc; c++) cparent[c] = -1;
    for (int64_t r = 0; r < t.rows; r++)
        if (t.child[r] >= n) birth[t.child[r] - n] = t.lambda[r], cparent[t.child[r] - n] = t.parent[r] - n;
    for (int64_t r = 0; r < t.rows; r++) {
        int64_t c = t.parent[r] - n;
        stab[c] += (t.lambda[r] - birth[c]) * (double)t.size[r];
        if (t.lambda[r] > death[c]) death[c] = t.lambda[r];
    }

    /* selection over clusters other than the root, children (larger ids) first */
    char *selected = xcalloc((size_t)nc, 1), *has_child = xcalloc((size_t)nc, 1);
    for (int64_t c = 1; c < nc; c++) has_child[cparent[c]] = 1;
    if (o->selection == CTK_HDBSCAN_LEAF) {
        for (int64_t c = 1; c < nc; c++) selected[c] = !has_child[c];
    } else {
        double *sub = xcalloc((size_t)nc, sizeof *sub); /* stability of the selected clusters below c */
        for (int64_t c = nc - 1; c >= 1; c--) {
            if (has_child[c] && sub[c] > stab[c]) {
                stab[c] = sub[c];
            } else {
                selected[c] = 1;
                /* deselect every descendant: they have larger ids, already visited */
                for (int64_t q = c + 1; q < nc; q++) {
                    int64_t a = cparent[q];
                    while (a > c) a = cparent[a];
                    if (a == c) selected[q] = 0;
                }
            }
            sub[cparent[c]] += stab[c];
        }
        free(sub);
    }

    /* labels: clusters numbered in increasing id order, as hdbscan's cluster_label_map */
    int64_t *label_of = xmallocarray((size_t)nc, sizeof *label_of), nsel = 0;
    for (int64_t c = 0; c < nc; c++) label_of[c] = selected[c] ? nsel++ : -1;
    for (int64_t i = 0; i < n; i++) labels[i] = -1, prob[i] = 0;
    for (int64_t r = 0; r < t.rows; r++) {
        if (t.child[r] >= n) continue;
        int64_t pt = t.child[r], c = t.parent[r] - n;
        while (c > 0 && !selected[c]) c = cparent[c];
        if (c <= 0) continue;
        labels[pt] = (int32_t)label_of[c];
        double ml = death[c], l = t.lambda[r];
        prob[pt] = (ml == 0 || !isfinite(l)) ? 1.0f : (float)((l < ml ? l : ml) / ml);
    }
    free(birth);
    free(stab);
    free(death);
    free(cparent);
    free(selected);
    free(has_child);
    free(label_of);
    free(t.parent);
    free(t.child);
    free(t.size);
    free(t.lambda);
    return nsel;
}
