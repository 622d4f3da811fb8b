/*
 * kdtree.h -- a k-d tree over n points in d dimensions (Bentley 1975; the
 * sliding-midpoint variants aside: each node splits its points at the median
 * of its box's widest dimension), for exact nearest-neighbour searches in
 * the few dimensions where a tree prunes (say d <= 16; beyond that a scan
 * is as fast).
 *
 * The points are copied in tree order: node i holds tree positions
 * [start[i], end[i]), point perm[j] of the input is at position j, its
 * coordinates at x + j * d. Node 0 is the root; a node's children have
 * larger numbers than the node (so a loop from the last node to the first
 * visits children before parents); left[i] is -1 for a leaf, else the
 * children are left[i] and right[i]. lo and hi (nnodes, d) are the nodes'
 * bounding boxes.
 *
 * Distances are Euclidean, summed in double over the float coordinates in
 * dimension order, so that a search returns exactly what a scan computing
 * the same sum returns.
 */
#ifndef CTK_KDTREE_H
#define CTK_KDTREE_H

#include <stdint.h>

#include "knn.h"

struct ctk_kdtree {
    int64_t n, d, nnodes;
    int64_t *perm;          /* (n) input index of each tree position */
    float *x;               /* (n, d) the points in tree order */
    int64_t *start, *end;   /* (nnodes) each node's positions */
    int64_t *left, *right;  /* (nnodes) children, -1 for a leaf */
    float *lo, *hi;         /* (nnodes, d) bounding boxes */
};

/* Builds the tree of x (n, d), at most leaf_size points a leaf (>= 1). */
void ctk_kdtree_build(struct ctk_kdtree *t, const float *x, int64_t n, int64_t d, int64_t leaf_size);
void ctk_kdtree_free(struct ctk_kdtree *t);

/* Squared distance between tree positions i and j. */
static inline double ctk_kdtree_dist2(const struct ctk_kdtree *t, int64_t i, int64_t j)
{
    const float *u = t->x + i * t->d, *v = t->x + j * t->d;
    double s = 0;
    for (int64_t k = 0; k < t->d; k++) {
        double a = (double)u[k] - v[k];
        s += a * a;
    }
    return s;
}

/* Squared distance from q (d coordinates) to node's box: 0 inside it. */
double ctk_kdtree_box_dist2(const struct ctk_kdtree *t, int64_t node, const float *q);

/*
 * The k-th smallest squared distance from tree position i to the other
 * positions (1 <= k <= n - 1; points equal to i's count, i itself does not).
 * heap is scratch of k hits.
 */
double ctk_kdtree_kth_dist2(const struct ctk_kdtree *t, int64_t i, int64_t k, struct ctk_hit *heap);

#endif
