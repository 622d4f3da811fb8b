/*
 * logreg.h -- multinomial logistic regression with an L2 penalty, the
 * classification head of SetFit (Tunstall et al. 2022), fitted as
 * scikit-learn's LogisticRegression(C=C, solver='lbfgs',
 * multi_class='multinomial') defines it (sklearn 1.2,
 * linear_model/_logistic.py and _linear_loss.py):
 *
 *   minimise over W (K, D), b (K):
 *     sum_i w_i * (logsumexp(z_i) - z_i[y_i]) + 0.5/C * ||W||_F^2,
 *     z_i = W x_i + b,
 *
 * the intercepts b unpenalised, w_i the sample weights: 1, or with
 * class_weight='balanced' N / (K * count(y_i)). Optimised with L-BFGS
 * (liblbfgs) from zero, in double, to a tight tolerance, so that the result
 * is the optimum itself (scikit-learn reaches it with a small tol).
 *
 * Shapes as scikit-learn gives them:
 *   K > 2 classes: coef (K, D), intercept (K); P = softmax(z).
 *   K == 2: the 2-class softmax is fitted, and, as scikit-learn does, one
 *     row is kept: coef (1, D) = class 1's row, P = softmax([-d, d]) with
 *     d = coef x + intercept.
 *   multi-label (one-vs-rest, scikit-learn's OneVsRestClassifier over the
 *     same estimator): one binary model per label, coef (K, D), label k's
 *     probability softmax([-d_k, d_k])[1], each label on its own.
 *
 * Ownership: a struct ctk_logreg owns coef and intercept (ctk_logreg_free);
 * the fit functions only read X and the labels.
 */
#ifndef CTK_LOGREG_H
#define CTK_LOGREG_H

#include <stdint.h>

#include "err.h"

struct ctk_logreg {
    int K;             /* classes (labels, for a multi-label model) */
    int64_t D;         /* features: the embedding dimension */
    int multilabel;    /* 1: K independent binary models */
    int rows;          /* rows of coef: 1 for a single-label binary model, else K */
    double *coef;      /* (rows, D) */
    double *intercept; /* (rows) */
    float *coef_f;     /* (rows, D) float copy for prediction, made on first use */
};

struct ctk_logreg_opts {
    double C;      /* inverse regularisation strength, > 0 (scikit-learn's C, default 1) */
    int balanced;  /* class_weight='balanced' */
    int max_iter;  /* L-BFGS iterations per model */
    double tol;    /* stop when |grad| <= tol * max(1, |params|) */
};

/* Defaults: C 1, no class weights, 1000 iterations, tol 1e-10. */
void ctk_logreg_opts_default(struct ctk_logreg_opts *o);

/* What a fit did (for multi-label: the worst over the labels). */
struct ctk_logreg_report {
    int iterations;   /* L-BFGS iterations (largest over the models) */
    int converged;    /* 1 when every model met tol, or stalled at rounding level */
    double loss;      /* final objective (summed over the models) */
    double grad_norm; /* final relative gradient norm (largest) */
};

/* Allocate a zero model. */
void ctk_logreg_init(struct ctk_logreg *m, int K, int64_t D, int multilabel);
void ctk_logreg_free(struct ctk_logreg *m);

/*
 * Single-label fit: X (N, D) row-major, y (N) class indices in [0, K),
 * K >= 2, every class present. Returns 0, or -1 with e set (liblbfgs failed
 * for a reason other than reaching the tolerance or rounding level).
 */
int ctk_logreg_fit(struct ctk_logreg *m, const float *X, int64_t N, int64_t D,
                   const int32_t *y, int K, const struct ctk_logreg_opts *o,
                   struct ctk_logreg_report *r, struct ctk_err *e);

/*
 * Multi-label fit, one-vs-rest: Y (N, K) with Y[i*K+k] = 1 when row i has
 * label k. Every label must be on some rows and off others (e names the
 * first that is not).
 */
int ctk_logreg_fit_multilabel(struct ctk_logreg *m, const float *X, int64_t N, int64_t D,
                              const uint8_t *Y, int K, const struct ctk_logreg_opts *o,
                              struct ctk_logreg_report *r, struct ctk_err *e);

/*
 * Probabilities P (N, K) for X (N, D): softmax over classes, or per label
 * for a multi-label model. Uses sgemm over coef_f (made on first call).
 */
void ctk_logreg_proba(struct ctk_logreg *m, const float *X, int64_t N, float *P);

/* --- pieces shared by the heads (logreg.c, mlp_head.c) ------------------- */

/* X (N, D) widened to double: a new array (free it). */
double *ctk_head_to_double(const float *X, int64_t N, int64_t D);
/*
 * Sample weights w (N): 1, or when balanced n / (K * count(class y[i]))
 * (scikit-learn's compute_class_weight('balanced')).
 */
void ctk_head_class_weights(double *w, const int32_t *y, int64_t N, int K, int balanced);
/* The logistic function 1 / (1 + exp(-x)), written to not overflow. */
float ctk_head_sigmoid(float x);
/* z (K) replaced by softmax(z) (max-shifted, summed in double). */
void ctk_head_softmax(float *z, int K);

#endif
