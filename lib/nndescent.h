/*
 * nndescent.h -- approximate k nearest neighbours by NN-descent (Dong,
 * Moses & Li 2011, as pynndescent runs it): start from random neighbour
 * lists, then repeatedly compare each point's neighbours with each other
 * ("a neighbour of a neighbour is likely a neighbour"), sampling new
 * candidates, until few lists change. For data sets too large for the exact
 * blocked search of knn.h.
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
    int max_candidates; /* candidates sampled per point an iteration (min(60, k)) */
    uint64_t seed;
    int threads;
    int verbose;
};

void ctk_nndescent_opts_default(struct ctk_nndescent_opts *o);

/*
 * idx (n, k), dist (n, k): each point's k approximate nearest points, the
 * point itself first at distance 0, then by increasing distance (euclidean,
 * or cosine distance 1 - cos).
 */
void ctk_nndescent(const float *x, int64_t n, int64_t d, int k, const struct ctk_nndescent_opts *o, int64_t *idx,
                   float *dist);

#endif
