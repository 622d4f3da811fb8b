/*
 * diagreport.h -- the figures of one embedding space gathered for a report,
 * the verdicts drawn from them, and the report as JSON (hence YAML) or as a
 * text table.
 *
 * The verdicts follow the "Diagnosing Embedding Quality" quick-reference
 * table of the ctk reference (contrastive-learning-nlp.md): each names a
 * symptom, the numbers that show it, the likely cause and the fix. A verdict
 * is drawn only from figures that were measured, against the thresholds
 * below (documented in ctk-diag(1)).
 *
 * Ownership: struct ctk_diag_space owns its arrays (ctk_diag_space_free);
 * label names are borrowed from the caller and must outlive the report.
 */
#ifndef CTK_DIAGREPORT_H
#define CTK_DIAGREPORT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"

/* Thresholds of the verdicts. */
#define CTK_DIAG_COLLAPSE_COS 0.9      /* mean cosine of random pairs at or above: collapse */
#define CTK_DIAG_CONE_COS 0.4          /* mean cosine (between classes, with labels) at or above: cone */
#define CTK_DIAG_OVERLAP_CONFUSION 0.2 /* share of a class's rows voted into one other class by k-NN */
#define CTK_DIAG_OVERLAP_SILHOUETTE 0.05 /* silhouette below: classes not separated */
#define CTK_DIAG_OVERLAP_MIN_ROWS 5    /* rows a class needs in the sample to be judged */
#define CTK_DIAG_DOMINANCE_RATIO 4.0   /* largest / smallest class size at or above */
#define CTK_DIAG_PAIR_RATIO 3.0        /* negatives : positives (or the reverse) at or above */
#define CTK_DIAG_PAIR_CLASS_RATIO 4.0  /* most / fewest positive pairs per class at or above */
#define CTK_DIAG_FALSENEG_SHARE 0.1    /* negatives as similar as the mean positive, share at or above */
#define CTK_DIAG_FALSENEG_MIN 20       /* negative pairs needed to judge */
#define CTK_DIAG_FORGET_DROP 0.02      /* STS Spearman lost at or above */

enum ctk_symptom {
    CTK_SYM_NAN,
    CTK_SYM_ZERO,
    CTK_SYM_COLLAPSE,
    CTK_SYM_ANISOTROPY,
    CTK_SYM_OVERLAP,
    CTK_SYM_DOMINANCE,
    CTK_SYM_PAIR_IMBALANCE,
    CTK_SYM_FALSE_NEGATIVES,
    CTK_SYM_FORGETTING,
    CTK_NSYMPTOMS
};
/* "nan", "zero-vectors", "collapse", "anisotropy", "class-overlap",
 * "class-dominance", "pair-imbalance", "false-negatives", "forgetting". */
extern const char *const ctk_symptom_names[CTK_NSYMPTOMS];
/* Index of a symptom name, or -1. */
int ctk_symptom_parse(const char *name);

/* Everything measured about one space. NaN marks a figure not measured. */
struct ctk_diag_space {
    const char *name;          /* input file name, for the report */
    int d;
    int64_t rows, used, nonfinite_rows, nonfinite_values, zero_rows;
    double norm_mean, norm_std, norm_min, norm_max;
    double mean_cos, total_var, cross_cos; /* cross_cos: mean cosine of pairs from different classes */
    double *var;               /* (D) variance per dimension of the unit rows */
    double *eig;               /* (D) covariance eigenvalues, descending */
    double top1, top10, erank;
    int64_t dead_dims;         /* dimensions of variance below 1e-10 */
    /* the sample for pairwise figures */
    int64_t sample_rows, sample_pairs;
    uint64_t seed;
    double uniformity;
    /* classes (nclass 0: no labels) */
    int nclass;
    const char *const *labels; /* (C) names, borrowed */
    struct ctk_diag_class *cls;/* (C) */
    double *cc;                /* (C, C) centroid cosines */
    double *cdist;             /* (C) mean distance to centroid (sample) */
    int64_t *csample;          /* (C) rows of the class in the sample */
    int64_t *confusion;        /* (C, C) k-NN votes in the sample */
    double label_alignment, silhouette, knn_acc;
    int k;
    /* --pairs */
    int has_pairs;
    int64_t pairs, pos, neg, pairs_bad;
    double alignment, pos_cos, neg_cos;
    int64_t neg_high;          /* negatives with cosine >= pos_cos (to 1e-4) */
    int npclass;               /* classes of the pair stream's label column, 0 if none */
    const char *const *plabels;
    int64_t *ppos, *pneg;      /* (npclass) */
    /* --sts */
    int has_sts;
    int64_t sts_pairs, sts_bad;
    double spearman;
};

void ctk_diag_space_init(struct ctk_diag_space *s);
void ctk_diag_space_free(struct ctk_diag_space *s);
/*
 * Fill s from the one pass a and the pairwise figures p of the sample
 * (p may be NULL when fewer than 2 rows were usable). labels: C names.
 */
int ctk_diag_space_fill(struct ctk_diag_space *s, const struct ctk_diag_acc *a,
                        const struct ctk_diag_pairwise *p, const char *const *labels,
                        struct ctk_err *e);

struct ctk_diag_verdict {
    enum ctk_symptom sym;
    char evidence[768];
    const char *cause, *fix;
};

/*
 * The verdicts for space s (before, for forgetting, may be NULL) into out
 * (room for max); returns how many.
 */
int ctk_diag_verdicts(const struct ctk_diag_space *s, const struct ctk_diag_space *before,
                      struct ctk_diag_verdict *out, int max);

/* The report as a JSON value (new reference); before may be NULL. */
json_t *ctk_diag_report_json(const struct ctk_diag_space *s, const struct ctk_diag_space *before,
                             const struct ctk_diag_verdict *v, int nv);
/* The report as aligned text tables. */
void ctk_diag_report_text(FILE *f, const struct ctk_diag_space *s, const struct ctk_diag_space *before,
                          const struct ctk_diag_verdict *v, int nv);

#endif
