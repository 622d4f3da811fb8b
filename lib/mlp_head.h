/*
 * mlp_head.h -- a small MLP classification head: one hidden ReLU layer,
 * then softmax over K classes (or, multi-label, a sigmoid per label), for
 * embeddings whose classes a hyperplane does not separate.
 *
 * Objective and training follow scikit-learn's MLPClassifier(
 * hidden_layer_sizes=(H,), activation='relu', solver='lbfgs', alpha)
 * (sklearn 1.2, neural_network/_multilayer_perceptron.py):
 *
 *   f = (1/N) sum_i w_i * loss_i + alpha / (2N) * (||W1||^2 + ||W2||^2)
 *
 * loss_i the cross-entropy of the softmax output (multi-label: the sum of
 * the K binary log-losses), biases unpenalised, w_i 1 or balanced class
 * weights; full-batch L-BFGS (liblbfgs) from Glorot-uniform weights drawn
 * from the seed (bound sqrt(6 / (fan_in + fan_out)), biases too, as
 * scikit-learn's _init_coef for ReLU). One difference: scikit-learn gives a
 * binary problem a single logistic output; here a binary head has two
 * softmax outputs (the same model family).
 *
 * Layout (PyTorch's): W1 (H, D), b1 (H), W2 (K, H), b2 (K), one slab.
 *
 * Ownership: struct ctk_mlp owns its slab (ctk_mlp_free).
 */
#ifndef CTK_MLP_HEAD_H
#define CTK_MLP_HEAD_H

#include <stdint.h>

#include "err.h"
#include "logreg.h"

struct ctk_mlp {
    int K;          /* classes or labels */
    int64_t D;      /* input (embedding) dimension */
    int H;          /* hidden units */
    int multilabel; /* 1: K sigmoid outputs */
    double *params; /* the slab: W1 (H, D), b1 (H), W2 (K, H), b2 (K) */
    double *W1, *b1, *W2, *b2; /* views into params */
    float *params_f; /* float copy for prediction, made on first use */
};

struct ctk_mlp_opts {
    int hidden;      /* H */
    double alpha;    /* L2 strength (scikit-learn's alpha, default 1e-4) */
    int balanced;    /* balanced class weights (single-label) */
    int max_iter;    /* L-BFGS iterations (default 200, scikit-learn's) */
    double tol;      /* gradient tolerance, relative (default 1e-6) */
    uint64_t seed;   /* weight initialisation */
};

void ctk_mlp_opts_default(struct ctk_mlp_opts *o);

/* Allocate a zero model. */
void ctk_mlp_init(struct ctk_mlp *m, int K, int64_t D, int H, int multilabel);
void ctk_mlp_free(struct ctk_mlp *m);
/* Number of parameters: H*D + H + K*H + K. */
int64_t ctk_mlp_nparams(const struct ctk_mlp *m);

/*
 * Fit on X (N, D): single-label y (N) in [0, K) (Y NULL), or multi-label
 * Y (N, K) of 0/1 (y NULL). r: iterations, final objective, convergence.
 */
int ctk_mlp_fit(struct ctk_mlp *m, const float *X, int64_t N, int64_t D, const int32_t *y,
                const uint8_t *Y, int K, int multilabel, const struct ctk_mlp_opts *o,
                struct ctk_logreg_report *r, struct ctk_err *e);

/*
 * The objective f at the model's current parameters, and its gradient into
 * grad (nparams, may be NULL), on X (N, D) with labels as for ctk_mlp_fit
 * and unit sample weights. For tests (finite differences, scikit-learn's
 * loss_).
 */
double ctk_mlp_objective(const struct ctk_mlp *m, const float *X, int64_t N, const int32_t *y,
                         const uint8_t *Y, double alpha, double *grad);

/* Probabilities P (N, K) for X (N, D). */
void ctk_mlp_proba(struct ctk_mlp *m, const float *X, int64_t N, float *P);

#endif
