/*
 * umap.h -- UMAP (McInnes, Healy & Melville 2018), computed as umap-learn
 * 0.5 computes it: k nearest neighbours (the point itself first), smooth
 * k-NN distances (rho, sigma by binary search), fuzzy simplicial set with
 * fuzzy union, spectral initialisation from the normalised Laplacian (random
 * for a disconnected graph), and SGD with negative sampling on the curve
 * 1/(1 + a d^2b) fitted from min_dist and spread.
 *
 * Ownership: the caller owns x and out; a model (for transform) owns copies
 * of what it needs and is freed by ctk_umap_model_free().
 */
#ifndef CTK_UMAP_H
#define CTK_UMAP_H

#include <stdint.h>

#include "err.h"
#include "knn.h"

struct ctk_umap_opts {
    int n_neighbors;             /* 15 */
    int n_components;            /* 2 */
    double min_dist;             /* 0.1 */
    double spread;               /* 1.0 */
    int n_epochs;                /* 0: 500 for n <= 10000, else 200 (umap-learn) */
    double learning_rate;        /* 1.0 */
    double negative_sample_rate; /* 5 */
    double repulsion_strength;   /* gamma, 1.0 */
    double local_connectivity;   /* 1.0 */
    double set_op_mix_ratio;     /* 1.0: fuzzy union */
    enum ctk_metric metric;      /* euclidean */
    int random_init;             /* 1: uniform in [-10,10] instead of spectral */
    uint64_t seed;
    int deterministic;           /* 1: single-threaded SGD, same result for the same seed */
    int threads;
    int64_t exact_max;           /* exact k-NN up to this many points, NN-descent beyond */
    int verbose;                 /* progress on stderr (a terminal only) */
};

void ctk_umap_opts_default(struct ctk_umap_opts *o);

/* a and b of 1/(1 + a x^(2b)) fitted to the min_dist/spread curve (umap-learn's find_ab_params). */
void ctk_umap_find_ab(double spread, double min_dist, double *a, double *b);

/* What --save-model keeps: the training points and their embedding. */
struct ctk_umap_model {
    struct ctk_umap_opts opts;
    double a, b;
    int64_t n, d;
    float *x;   /* (n, d) training points */
    float *emb; /* (n, n_components) their embedding */
};

/*
 * Embed the n points x (n, d) into out (n, n_components). When model is not
 * NULL it is filled for ctk_umap_transform. Returns 0, or -1 with e set.
 */
int ctk_umap_fit(const float *x, int64_t n, int64_t d, const struct ctk_umap_opts *o, float *out,
                 struct ctk_umap_model *model, struct ctk_err *e);

/* Place m new points y (m, d) into the model's embedding: out (m, n_components). */
int ctk_umap_transform(const struct ctk_umap_model *model, const float *y, int64_t m, float *out,
                       struct ctk_err *e);

void ctk_umap_model_free(struct ctk_umap_model *model);

#endif
