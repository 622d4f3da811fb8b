/*
 * nndescent.h -- approximate k nearest neighbours by NN-descent (Dong,
 * Moses & Li 2011, as pynndescent runs it): start from the points that share
 * a leaf of a forest of random projection trees (Dasgupta & Freund 2008;
 * pynndescent's initialisation), then repeatedly compare each point's
 * neighbours with each other ("a neighbour of a neighbour is likely a
 * neighbour"), sampling new candidates, until few lists change. For data
 * sets too large for the exact blocked search of knn.h.
 *
 * Ownership: the caller owns x and the outputs.
 */
#ifndef CTK_NNDESCENT_H
#define CTK_NNDESCENT_H

#include <stdint.h>

#include "knn.h"

struct ctk_nndescent_opts {
    enum ctk_metric metric;
    int max_iters;      /* 10 */
    double delta;       /* stop when fewer than delta * n * k lists changed (0.001) */
    int max_candidates; /* candidates sampled per point an iteration (0: min(60, k)) */
    int n_trees;        /* random projection trees (-1: ctk_nndescent_default_trees) */
    int leaf_size;      /* points a leaf at most (0: max(10, k)) */
    uint64_t seed;
    int threads;
    int verbose;
};

void ctk_nndescent_opts_default(struct ctk_nndescent_opts *o);

/*
 * Trees for n points: umap-learn's forest size, 5 + round(sqrt(n) / 20),
 * but at most 8 (umap-learn: 64). Each tree reads all the points once a
 * level; on high-dimensional data (384-d Gaussian mixtures of 50,000
 * points) the trees past 8 took longer than the NN-descent iterations they
 * saved, for a recall 0.02 higher.
 */
int ctk_nndescent_default_trees(int64_t n);

/*
 * idx (n, k), dist (n, k): each point's k approximate nearest points, the
 * point itself first at distance 0, then by increasing distance (euclidean,
 * or cosine distance 1 - cos).
 */
void ctk_nndescent(const float *x, int64_t n, int64_t d, int k, const struct ctk_nndescent_opts *o, int64_t *idx,
                   float *dist);

/*
 * One random projection tree of the n points x (n, d): nodes are split by
 * the hyperplane equidistant from two random points of the node (through
 * the origin when cosine, for unit rows) until at most leaf_size points are
 * left. perm (n) gets a permutation of 0 .. n-1 in which leaf l is
 * perm[leaf_start[l] .. leaf_start[l+1]); leaf_start needs n + 1 entries.
 * Returns the number of leaves. The same seed gives the same tree.
 */
int64_t ctk_rp_tree(const float *x, int64_t n, int64_t d, int cosine, int leaf_size, uint64_t seed, int32_t *perm,
                    int64_t *leaf_start);

#endif
