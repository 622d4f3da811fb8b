/*
 * tsne.h -- t-SNE (van der Maaten & Hinton 2008; Barnes-Hut: van der
 * Maaten 2014), as scikit-learn 1.2's TSNE computes it: conditional
 * Gaussians of the given perplexity (binary search on each point's
 * precision), symmetrised; Student-t similarities in the embedding; gradient
 * descent with momentum and per-coordinate gains, early exaggeration for the
 * first 250 iterations; PCA initialisation.
 *
 * Ownership: the caller owns x and out.
 */
#ifndef CTK_TSNE_H
#define CTK_TSNE_H

#include <stdint.h>

#include "err.h"

struct ctk_tsne_opts {
    int n_components;          /* 2 (Barnes-Hut: 2 only) */
    double perplexity;         /* 30 */
    double early_exaggeration; /* 12 */
    double learning_rate;      /* <= 0: "auto", max(n / early_exaggeration / 4, 50) */
    int n_iter;                /* 1000 */
    int n_iter_without_progress; /* 300 */
    double min_grad_norm;      /* 1e-7 */
    double angle;              /* Barnes-Hut theta, 0.5 */
    int exact;                 /* 1: exact O(n^2) gradient; 0: Barnes-Hut */
    int random_init;           /* 1: N(0, 1e-4) instead of PCA */
    uint64_t seed;
    int threads;
    int verbose;
};

void ctk_tsne_opts_default(struct ctk_tsne_opts *o);

/* Embed x (n, d) into out (n, n_components); *kl gets the final KL divergence when not NULL. */
int ctk_tsne(const float *x, int64_t n, int64_t d, const struct ctk_tsne_opts *o, float *out, double *kl,
             struct ctk_err *e);

#endif
