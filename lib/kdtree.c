/*
 * kdtree.c -- the k-d tree of kdtree.h: median splits on the widest
 * dimension, and the k-th-neighbour search (lib/knn.h's top-k heap,
 * nearer child first, a subtree pruned when its box is farther than the
 * k-th best so far).
 */
#include "config.h"
#include "kdtree.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

struct build {
    struct ctk_kdtree *t;
    const float *x;          /* the input points */
    int64_t leaf_size, cap;  /* nodes allocated */
};

static int64_t new_node(struct build *b, int64_t start, int64_t end)
{
    struct ctk_kdtree *t = b->t;
    if (t->nnodes == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        t->start = xreallocarray(t->start, (size_t)b->cap, sizeof *t->start);
        t->end = xreallocarray(t->end, (size_t)b->cap, sizeof *t->end);
        t->left = xreallocarray(t->left, (size_t)b->cap, sizeof *t->left);
        t->right = xreallocarray(t->right, (size_t)b->cap, sizeof *t->right);
        t->lo = xreallocarray(t->lo, (size_t)(b->cap * t->d), sizeof *t->lo);
        t->hi = xreallocarray(t->hi, (size_t)(b->cap * t->d), sizeof *t->hi);
    }
    int64_t i = t->nnodes++;
    t->start[i] = start;
    t->end[i] = end;
    t->left[i] = t->right[i] = -1;
    float *lo = t->lo + i * t->d, *hi = t->hi + i * t->d;
    for (int64_t k = 0; k < t->d; k++)
        lo[k] = hi[k] = b->x[t->perm[start] * t->d + k];
    for (int64_t j = start + 1; j < end; j++) {
        const float *p = b->x + t->perm[j] * t->d;
        for (int64_t k = 0; k < t->d; k++) {
            if (p[k] < lo[k]) lo[k] = p[k];
            if (p[k] > hi[k]) hi[k] = p[k];
        }
    }
    return i;
}

/* Reorders perm[s, e) so that position m holds the point of rank m - s by coordinate k. */
static void select_nth(const float *x, int64_t d, int64_t k, int64_t *perm, int64_t s, int64_t e, int64_t m)
{
    while (e - s > 1) {
        float pivot = x[perm[s + (e - s) / 2] * d + k];
        int64_t i = s, j = e - 1;
        while (i <= j) { /* Hoare's partition */
            while (x[perm[i] * d + k] < pivot) i++;
            while (x[perm[j] * d + k] > pivot) j--;
            if (i <= j) {
                int64_t tmp = perm[i];
                perm[i++] = perm[j];
                perm[j--] = tmp;
            }
        }
        if (m <= j)
            e = j + 1;
        else if (m >= i)
            s = i;
        else
            return; /* positions j+1 .. i-1 equal the pivot */
    }
}

static void split(struct build *b, int64_t node)
{
    struct ctk_kdtree *t = b->t;
    int64_t s = t->start[node], e = t->end[node];
    if (e - s <= b->leaf_size)
        return;
    const float *lo = t->lo + node * t->d, *hi = t->hi + node * t->d;
    int64_t k = 0;
    for (int64_t j = 1; j < t->d; j++)
        if (hi[j] - lo[j] > hi[k] - lo[k]) k = j;
    if (!(hi[k] > lo[k]))
        return; /* every point the same: nothing to split */
    int64_t m = s + (e - s) / 2;
    select_nth(b->x, t->d, k, t->perm, s, e, m);
    int64_t l = new_node(b, s, m);
    int64_t r = new_node(b, m, e);
    t->left[node] = l;
    t->right[node] = r;
    split(b, l);
    split(b, r);
}

void ctk_kdtree_build(struct ctk_kdtree *t, const float *x, int64_t n, int64_t d, int64_t leaf_size)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    t->d = d;
    t->perm = xmallocarray((size_t)(n ? n : 1), sizeof *t->perm);
    for (int64_t i = 0; i < n; i++) t->perm[i] = i;
    struct build b = {t, x, leaf_size < 1 ? 1 : leaf_size, 0};
    if (n > 0)
        split(&b, new_node(&b, 0, n));
    t->x = xmallocarray((size_t)(n * d > 0 ? n * d : 1), sizeof *t->x);
    for (int64_t i = 0; i < n; i++)
        memcpy(t->x + i * d, x + t->perm[i] * d, (size_t)d * sizeof *x);
}

void ctk_kdtree_free(struct ctk_kdtree *t)
{
    free(t->perm);
    free(t->x);
    free(t->start);
    free(t->end);
    free(t->left);
    free(t->right);
    free(t->lo);
    free(t->hi);
    memset(t, 0, sizeof *t);
}

double ctk_kdtree_box_dist2(const struct ctk_kdtree *t, int64_t node, const float *q)
{
    const float *lo = t->lo + node * t->d, *hi = t->hi + node * t->d;
    double s = 0;
    for (int64_t k = 0; k < t->d; k++) {
        double g = q[k] < lo[k] ? (double)lo[k] - q[k] : q[k] > hi[k] ? (double)q[k] - hi[k] : 0;
        s += g * g;
    }
    return s;
}

/* ---- k-th neighbour ------------------------------------------------------------ */

struct kth {
    const struct ctk_kdtree *t;
    int64_t i, k, n;    /* query position, heap capacity and size */
    struct ctk_hit *h;  /* the n nearest, scored by minus the squared distance */
};

static void kth_search(struct kth *q, int64_t node)
{
    const struct ctk_kdtree *t = q->t;
    if (t->left[node] < 0) {
        for (int64_t j = t->start[node]; j < t->end[node]; j++)
            if (j != q->i)
                q->n = ctk_topk_offer(q->h, q->n, q->k, (struct ctk_hit){-ctk_kdtree_dist2(t, q->i, j), j});
        return;
    }
    const float *p = t->x + q->i * t->d;
    int64_t a = t->left[node], b = t->right[node];
    double da = ctk_kdtree_box_dist2(t, a, p), db = ctk_kdtree_box_dist2(t, b, p);
    if (db < da) {
        int64_t tn = a;
        a = b, b = tn;
        double td = da;
        da = db, db = td;
    }
    if (q->n < q->k || da <= -q->h[0].s) kth_search(q, a);
    if (q->n < q->k || db <= -q->h[0].s) kth_search(q, b);
}

double ctk_kdtree_kth_dist2(const struct ctk_kdtree *t, int64_t i, int64_t k, struct ctk_hit *heap)
{
    struct kth q = {t, i, k, 0, heap};
    kth_search(&q, 0);
    return -q.h[0].s;
}
