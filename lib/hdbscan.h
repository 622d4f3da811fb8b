/*
 * hdbscan.h -- HDBSCAN clustering (Campello, Moulavi & Sander 2013; the
 * accelerated formulation of McInnes & Healy 2017, as the hdbscan library
 * computes it): core distances, mutual reachability, its minimum spanning
 * tree, the single-linkage hierarchy, the tree condensed by
 * min_cluster_size, cluster stability, and selection by excess of mass (eom)
 * or leaves (leaf). Noise is labelled -1.
 *
 * Ownership: the caller passes and owns every array.
 */
#ifndef CTK_HDBSCAN_H
#define CTK_HDBSCAN_H

#include <stdint.h>

#include "err.h"

enum ctk_hdbscan_metric { CTK_HDBSCAN_EUCLIDEAN, CTK_HDBSCAN_COSINE };
enum ctk_hdbscan_select { CTK_HDBSCAN_EOM, CTK_HDBSCAN_LEAF };

struct ctk_hdbscan_opts {
    int64_t min_cluster_size;  /* >= 2 (hdbscan's default 5) */
    int64_t min_samples;       /* core distance: distance to the min_samples-th other point; 0: min_cluster_size */
    enum ctk_hdbscan_select selection;
    enum ctk_hdbscan_metric metric;
    int threads;
};

/*
 * Cluster the n points x (n, d): labels (n) in 0..nclusters-1 or -1, and
 * probabilities (n) of membership in [0,1] (0 for noise). Returns the number
 * of clusters, or -1 with e set.
 */
int64_t ctk_hdbscan(const float *x, int64_t n, int64_t d, const struct ctk_hdbscan_opts *o,
                    int32_t *labels, float *probabilities, struct ctk_err *e);

#endif
