/*
 * diag.h -- measurements of the geometry of an embedding space.
 *
 * Follows section 5 of the ctk reference (contrastive-learning-nlp.md) and
 * Wang & Isola, "Understanding Contrastive Representation Learning through
 * Alignment and Uniformity on the Hypersphere" (ICML 2020, arXiv:2005.10242).
 *
 * Every geometric figure is computed on the unit-normalised rows u = x/|x|
 * (cosine geometry, independent of scale); only the norm statistics look at
 * the raw rows. Rows holding a NaN or an Inf, and rows of norm zero, are
 * counted and left out of every other figure.
 *
 * Two kinds of computation, so that a million rows fit in bounded memory:
 *
 *   struct ctk_diag_acc   one pass over every row, O(D^2 + C*D) memory:
 *                         counts, norms, the mean and covariance of u (hence
 *                         variance per dimension, the spectrum, the effective
 *                         rank), the exact mean cosine over all pairs, per
 *                         class sums (hence exact intra-class mean cosine,
 *                         centroid cosines, margins).
 *   ctk_diag_pairwise()   over a matrix of rows in memory (all rows when they
 *                         are few, else a uniform sample kept by struct
 *                         ctk_diag_reservoir): uniformity, silhouette,
 *                         leave-one-out k-NN accuracy and confusion, mean
 *                         distance to the class centroid.
 *
 * The whole-matrix functions (ctk_diag_uniformity, ctk_diag_silhouette...)
 * are the same code called on one matrix; the unit tests check them against
 * numpy/scipy/scikit-learn.
 *
 * Shapes: x (N, D) row-major float; labels y (N) class indices in [0, C).
 * Ownership: _init/_free pairs on caller storage; callers pass output
 * buffers sized as each comment says.
 */
#ifndef CTK_DIAG_H
#define CTK_DIAG_H

#include <stdint.h>

#include "err.h"
#include "rng.h"

/* --- one pass over every row ----------------------------------------------- */

struct ctk_diag_acc {
    int d;                     /* D */
    int64_t rows;              /* rows seen */
    int64_t n;                 /* rows used: finite and of nonzero norm */
    int64_t nonfinite_rows;    /* rows with a NaN or an Inf */
    int64_t nonfinite_values;  /* NaN or Inf values in those rows */
    int64_t zero_rows;         /* finite rows of norm zero */
    double norm_sum, norm_sumsq, norm_min, norm_max; /* raw L2 norms of finite rows */
    double *mean;              /* (D) mean of u */
    double *scatter;           /* (D, D) sum of (u - mean)(u - mean)^T */
    int nclass;                /* classes seen so far (largest index + 1) */
    int64_t *ccount;           /* (C) rows used per class */
    double *csum;              /* (C, D) sum of u per class */
    /* private */
    int ccap;
    double *ubuf;              /* (block, D) unit rows of a block, double */
    double *sbuf;              /* (D, D) scatter of one block, then (D) its mean */
    int64_t block;
};

void ctk_diag_acc_init(struct ctk_diag_acc *a, int d);
void ctk_diag_acc_free(struct ctk_diag_acc *a);
/*
 * Add n rows x (n, D); y (n) class indices >= 0, or NULL when there are no
 * labels. The scatter of each block of rows is merged with Chan, Golub and
 * LeVeque's pairwise update, in double precision.
 */
void ctk_diag_acc_add(struct ctk_diag_acc *a, const float *x, const int32_t *y, int64_t n);

/* Mean cosine over all ordered pairs i != j of used rows: (|sum u|^2 - n) / (n (n-1)). */
double ctk_diag_acc_mean_cosine(const struct ctk_diag_acc *a);
/* Variance per dimension of u (ddof 0, as numpy.var): var (D). */
void ctk_diag_acc_variance(const struct ctk_diag_acc *a, double *var);
/* Total variance of u: the sum of var, = 1 - |mean|^2. */
double ctk_diag_acc_total_variance(const struct ctk_diag_acc *a);
/*
 * Eigenvalues of the covariance of u (ddof 0), descending, into eig (D),
 * with LAPACK dsyevd; tiny negative round-off is set to 0. -1 on failure.
 */
int ctk_diag_acc_spectrum(const struct ctk_diag_acc *a, double *eig, struct ctk_err *e);

/* Per class figures from the exact sums (all used rows). */
struct ctk_diag_class {
    int64_t size;
    double intra_cos;     /* mean cosine over pairs of distinct members (NaN if size < 2) */
    double rms_dist;      /* sqrt(mean |u - c|^2) = sqrt(1 - |c|^2), c = mean of u */
    int nearest;          /* other class whose centroid has the highest cosine, -1 if none */
    double nearest_cos;   /* that centroid cosine */
    double cross_cos;     /* mean cosine between members of this class and of nearest */
    double margin;        /* intra_cos - cross_cos */
};
/* out (C); cc (C, C) cosines between class centroids (NaN for an empty class). */
void ctk_diag_acc_classes(const struct ctk_diag_acc *a, struct ctk_diag_class *out, double *cc);
/* Mean |u_i - u_j|^2 over same-class pairs (alignment from labels); NaN without pairs. */
double ctk_diag_acc_label_alignment(const struct ctk_diag_acc *a);

/* --- spectrum summaries ------------------------------------------------------ */

/* Share of sum(eig) in the k largest eigenvalues (eig descending, D of them). */
double ctk_diag_top_share(const double *eig, int d, int k);
/*
 * Effective rank (Roy & Vetterli 2007): exp(H(p)), p_i = s_i / sum s, with s_i
 * the singular values of the centred matrix of u, i.e. sqrt of the covariance
 * eigenvalues (the scale cancels). 1 for a line, D for an isotropic cloud.
 */
double ctk_diag_effective_rank(const double *eig, int d);

/* --- a uniform sample of rows ------------------------------------------------ */

/* Algorithm R (Vitter 1985) with the project's seeded generator (rng.h). */
struct ctk_diag_reservoir {
    int d;
    int64_t cap;   /* rows kept at most */
    int64_t n;     /* rows kept */
    int64_t seen;  /* rows offered */
    float *x;      /* (n, D), grown up to (cap, D) */
    int32_t *y;    /* (n) */
    int64_t alloc; /* rows allocated */
    struct ctk_rng rng;
};
void ctk_diag_reservoir_init(struct ctk_diag_reservoir *r, int d, int64_t cap, uint64_t seed);
void ctk_diag_reservoir_free(struct ctk_diag_reservoir *r);
/* Offer one row (copied); y is -1 without labels. */
void ctk_diag_reservoir_add(struct ctk_diag_reservoir *r, const float *x, int32_t y);

/* Rows whose pairs number at most npairs: the largest R with R(R-1)/2 <= npairs (>= 2). */
int64_t ctk_diag_sample_rows(int64_t npairs);

/* --- pairwise figures over rows in memory ------------------------------------ */

struct ctk_diag_pairwise {
    int64_t n;            /* rows */
    int64_t pairs;        /* n (n-1) / 2 */
    double uniformity;    /* log mean over i<j of exp(-2 |u_i - u_j|^2) */
    double mean_cos;      /* mean cosine over i<j */
    /* with labels (nclass >= 1): */
    int nclass;
    double silhouette;    /* as sklearn silhouette_score(metric="cosine"); NaN unless 2 <= classes present <= n-1 */
    int k;                /* neighbours asked for (at most n - 1 used) */
    double knn_acc;       /* leave-one-out k-NN accuracy; NaN without labels */
    int64_t *confusion;   /* (C, C) rows of class a voted b by their k neighbours */
    int64_t *csize;       /* (C) rows of each class */
    double *cdist;        /* (C) mean |u - c| to the class centroid c (NaN if absent) */
};

/*
 * Pairwise figures of n rows x (n, D), all finite and of nonzero norm;
 * y (n) class indices in [0, nclass) or NULL (nclass 0). centroids (C, D) is
 * the mean of u per class to measure distances to, or NULL to use this
 * matrix's own. k-NN: the k nearest by cosine other than the row itself,
 * uniform majority vote, ties to the smaller class index (scikit-learn's
 * KNeighborsClassifier). Blocked double-precision Gram products (BLAS dgemm),
 * O(block * n) memory. p is initialised here; free with ctk_diag_pairwise_free.
 */
void ctk_diag_pairwise(struct ctk_diag_pairwise *p, const float *x, const int32_t *y,
                       int64_t n, int d, int nclass, const double *centroids, int k);
void ctk_diag_pairwise_free(struct ctk_diag_pairwise *p);

/* --- whole-matrix forms (the above on one matrix) ---------------------------- */

/* Mean over rows of |a_i/|a_i| - b_i/|b_i||^2 (Wang & Isola's alignment, alpha 2). */
double ctk_diag_alignment(const float *a, const float *b, int64_t n, int d);
double ctk_diag_uniformity(const float *x, int64_t n, int d);
double ctk_diag_silhouette(const float *x, const int32_t *y, int64_t n, int d, int nclass);
double ctk_diag_knn_accuracy(const float *x, const int32_t *y, int64_t n, int d, int nclass, int k);

/* --- pairs and rank correlation ---------------------------------------------- */

/* cos (n): cosine of a_i and b_i (NaN when a norm is zero or a value not finite). */
void ctk_diag_pair_cosines(double *cos, const float *a, const float *b, int64_t n, int d);
/* Spearman's rho with ties given their average rank (scipy.stats.spearmanr); NaN if a side is constant. */
double ctk_diag_spearman(const double *x, const double *y, int64_t n);
/* Ranks 1..n of x into rank (n), ties averaged. */
void ctk_diag_rank(double *rank, const double *x, int64_t n);

/* --- class names ---------------------------------------------------------------- */

/* Label strings to class indices in order of first appearance. */
struct ctk_diag_labels {
    int n;          /* classes */
    char **names;   /* (n) */
    /* private */
    int cap, hcap;
    int *hash;      /* open addressing, -1 empty */
};
void ctk_diag_labels_init(struct ctk_diag_labels *l);
void ctk_diag_labels_free(struct ctk_diag_labels *l);
/* Index of name (len bytes), added when new. */
int ctk_diag_labels_intern(struct ctk_diag_labels *l, const char *name, size_t len);

#endif
