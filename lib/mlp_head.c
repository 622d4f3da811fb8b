/*
 * mlp_head.c -- one-hidden-layer MLP head fitted with full-batch L-BFGS
 * (see mlp_head.h; objective as scikit-learn's MLPClassifier with
 * solver='lbfgs').
 *
 * Forward:  A = X W1^T + b1,  Hh = relu(A),  Z = Hh W2^T + b2,
 *           P = softmax(Z) (multi-label: sigmoid(Z)).
 * Backward (the forward read bottom-up), G = w_i/N * (P - Y):
 *           dW2 = G^T Hh + alpha/N W2,  db2 = sum_i G,
 *           dHh = G W2,  dA = dHh * [A > 0],
 *           dW1 = dA^T X + alpha/N W1,  db1 = sum_i dA.
 */
#include "mlp_head.h"

#include <cblas.h>
#include <lbfgs.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "logreg.h"
#include "rng.h"

void ctk_mlp_opts_default(struct ctk_mlp_opts *o)
{
    o->hidden = 100;
    o->alpha = 1e-4;
    o->balanced = 0;
    o->max_iter = 200;
    o->tol = 1e-6;
    o->seed = 42;
}

int64_t ctk_mlp_nparams(const struct ctk_mlp *m)
{
    return (int64_t)m->H * m->D + m->H + (int64_t)m->K * m->H + m->K;
}

static void carve(struct ctk_mlp *m)
{
    m->W1 = m->params;
    m->b1 = m->W1 + (int64_t)m->H * m->D;
    m->W2 = m->b1 + m->H;
    m->b2 = m->W2 + (int64_t)m->K * m->H;
}

void ctk_mlp_init(struct ctk_mlp *m, int K, int64_t D, int H, int multilabel)
{
    memset(m, 0, sizeof *m);
    m->K = K;
    m->D = D;
    m->H = H;
    m->multilabel = multilabel;
    m->params = xcalloc((size_t)ctk_mlp_nparams(m), sizeof *m->params);
    carve(m);
}

void ctk_mlp_free(struct ctk_mlp *m)
{
    free(m->params);
    free(m->params_f);
    memset(m, 0, sizeof *m);
}

/* A full-batch problem in double. */
struct mproblem {
    const double *X;     /* (N, D) */
    int64_t N, D;
    int H, K, multilabel;
    const int32_t *y;    /* (N) single-label */
    const uint8_t *Y;    /* (N, K) multi-label */
    const double *w;     /* (N) sample weights */
    double alpha;
    double *Hh;          /* (N, H) relu(A) */
    double *G;           /* (N, K) logits, then dloss/dZ */
    double *dHh;         /* (N, H) */
    int iterations;
};

/* f and its gradient g at x (the slab layout of struct ctk_mlp). */
static double objective(struct mproblem *p, const double *x, double *g)
{
    const int64_t N = p->N, D = p->D;
    const int H = p->H, K = p->K;
    const double *W1 = x, *b1 = W1 + (int64_t)H * D, *W2 = b1 + H, *b2 = W2 + (int64_t)K * H;

    for (int64_t i = 0; i < N; i++)
        memcpy(p->Hh + i * H, b1, (size_t)H * sizeof(double));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, H, (int)D, 1.0, p->X, (int)D,
                W1, (int)D, 1.0, p->Hh, H);
    for (int64_t t = 0; t < N * H; t++)
        if (p->Hh[t] < 0)
            p->Hh[t] = 0;
    for (int64_t i = 0; i < N; i++)
        memcpy(p->G + i * K, b2, (size_t)K * sizeof(double));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, K, H, 1.0, p->Hh, H, W2, H,
                1.0, p->G, K);

    double loss = 0;
    for (int64_t i = 0; i < N; i++) {
        double *z = p->G + i * K, wi = p->w[i] / (double)N;
        if (p->multilabel) {
            for (int k = 0; k < K; k++) {
                double yk = p->Y[i * K + k] ? 1.0 : 0.0;
                /* log(1 + e^z) - y z, and sigmoid(z), without overflow */
                double sp = (z[k] > 0 ? z[k] : 0) + log1p(exp(-fabs(z[k])));
                loss += wi * (sp - yk * z[k]);
                double s = z[k] >= 0 ? 1 / (1 + exp(-z[k])) : exp(z[k]) / (1 + exp(z[k]));
                z[k] = wi * (s - yk);
            }
        } else {
            double mx = z[0];
            for (int k = 1; k < K; k++)
                if (z[k] > mx)
                    mx = z[k];
            double se = 0;
            for (int k = 0; k < K; k++)
                se += exp(z[k] - mx);
            double lse = mx + log(se);
            loss += wi * (lse - z[p->y[i]]);
            for (int k = 0; k < K; k++)
                z[k] = wi * (exp(z[k] - lse) - (k == p->y[i]));
        }
    }
    double sq = 0;
    for (int64_t t = 0; t < (int64_t)H * D; t++)
        sq += W1[t] * W1[t];
    for (int64_t t = 0; t < (int64_t)K * H; t++)
        sq += W2[t] * W2[t];
    double f = loss + 0.5 * p->alpha / (double)N * sq;
    if (!g)
        return f;

    const double reg = p->alpha / (double)N;
    double *gW1 = g, *gb1 = gW1 + (int64_t)H * D, *gW2 = gb1 + H, *gb2 = gW2 + (int64_t)K * H;
    /* dW2 = G^T Hh + alpha/N W2; db2 = sum G */
    memcpy(gW2, W2, (size_t)K * H * sizeof(double));
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, H, (int)N, 1.0, p->G, K, p->Hh, H,
                reg, gW2, H);
    for (int k = 0; k < K; k++)
        gb2[k] = 0;
    for (int64_t i = 0; i < N; i++)
        for (int k = 0; k < K; k++)
            gb2[k] += p->G[i * K + k];
    /* dHh = G W2, masked by relu's derivative */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, H, K, 1.0, p->G, K, W2, H,
                0.0, p->dHh, H);
    for (int64_t t = 0; t < N * H; t++)
        if (!(p->Hh[t] > 0))
            p->dHh[t] = 0;
    /* dW1 = dA^T X + alpha/N W1; db1 = sum dA */
    memcpy(gW1, W1, (size_t)H * D * sizeof(double));
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, (int)D, (int)N, 1.0, p->dHh, H,
                p->X, (int)D, reg, gW1, (int)D);
    for (int h = 0; h < H; h++)
        gb1[h] = 0;
    for (int64_t i = 0; i < N; i++)
        for (int h = 0; h < H; h++)
            gb1[h] += p->dHh[i * H + h];
    return f;
}

static lbfgsfloatval_t evaluate(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g,
                                const int n, const lbfgsfloatval_t step)
{
    return objective(inst, x, g);
}

static int progress(void *inst, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g,
                    const lbfgsfloatval_t fx, const lbfgsfloatval_t xnorm,
                    const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n, int k,
                    int ls)
{
    ((struct mproblem *)inst)->iterations = k;
    return 0;
}

static void problem_init(struct mproblem *p, const struct ctk_mlp *m, const double *X, int64_t N,
                         const int32_t *y, const uint8_t *Y, const double *w, double alpha)
{
    *p = (struct mproblem){X, N, m->D, m->H, m->K, m->multilabel, y, Y, w, alpha,
                           xmallocarray((size_t)N, (size_t)m->H * sizeof(double)),
                           xmallocarray((size_t)N, (size_t)m->K * sizeof(double)),
                           xmallocarray((size_t)N, (size_t)m->H * sizeof(double)), 0};
}

static void problem_free(struct mproblem *p)
{
    free(p->Hh);
    free(p->G);
    free(p->dHh);
}

double ctk_mlp_objective(const struct ctk_mlp *m, const float *X, int64_t N, const int32_t *y,
                         const uint8_t *Y, double alpha, double *grad)
{
    double *Xd = ctk_head_to_double(X, N, m->D);
    double *w = xmallocarray((size_t)N, sizeof *w);
    for (int64_t i = 0; i < N; i++)
        w[i] = 1;
    struct mproblem p;
    problem_init(&p, m, Xd, N, y, Y, w, alpha);
    double f = objective(&p, m->params, grad);
    problem_free(&p);
    free(w);
    free(Xd);
    return f;
}

/* Glorot-uniform weights and biases, bound sqrt(6 / (fan_in + fan_out)). */
static void init_layer(struct ctk_rng *r, double *W, double *b, int64_t fan_in, int64_t fan_out)
{
    double bound = sqrt(6.0 / (double)(fan_in + fan_out));
    for (int64_t t = 0; t < fan_in * fan_out; t++)
        W[t] = (2 * ctk_rng_double(r) - 1) * bound;
    for (int64_t t = 0; t < fan_out; t++)
        b[t] = (2 * ctk_rng_double(r) - 1) * bound;
}

int ctk_mlp_fit(struct ctk_mlp *m, const float *X, int64_t N, int64_t D, const int32_t *y,
                const uint8_t *Y, int K, int multilabel, const struct ctk_mlp_opts *o,
                struct ctk_logreg_report *r, struct ctk_err *e)
{
    if (!multilabel && K < 2)
        return ctk_err_set(e, "an MLP head needs at least 2 classes, got %d", K);
    if (o->hidden < 1)
        return ctk_err_set(e, "an MLP head needs at least 1 hidden unit");
    ctk_mlp_free(m);
    ctk_mlp_init(m, K, D, o->hidden, multilabel);
    int64_t n = ctk_mlp_nparams(m);
    if (n > INT32_MAX)
        return ctk_err_set(e, "MLP head: %lld parameters is too many", (long long)n);

    struct ctk_rng rng;
    ctk_rng_seed_stream(&rng, o->seed, 0x6d6c70 /* "mlp" */);
    init_layer(&rng, m->W1, m->b1, D, m->H);
    init_layer(&rng, m->W2, m->b2, m->H, K);

    double *w = xmallocarray((size_t)N, sizeof *w);
    ctk_head_class_weights(w, y, N, K, o->balanced && !multilabel);
    double *Xd = ctk_head_to_double(X, N, D);
    struct mproblem p;
    problem_init(&p, m, Xd, N, y, Y, w, o->alpha);

    lbfgsfloatval_t *x = lbfgs_malloc((int)n);
    if (!x)
        ctk_die("out of memory (MLP head, %lld parameters)", (long long)n);
    memcpy(x, m->params, (size_t)n * sizeof *x);
    lbfgs_parameter_t par;
    lbfgs_parameter_init(&par);
    par.m = 10;
    par.epsilon = o->tol;
    par.max_iterations = o->max_iter;
    par.max_linesearch = 50;
    lbfgsfloatval_t fx = 0;
    int ret = lbfgs((int)n, x, &fx, evaluate, progress, &p, &par);
    double *g = xmallocarray((size_t)n, sizeof *g);
    fx = objective(&p, x, g);
    double xn = 0, gn = 0;
    for (int64_t t = 0; t < n; t++) {
        xn += x[t] * x[t];
        gn += g[t] * g[t];
    }
    gn = sqrt(gn) / (sqrt(xn) > 1 ? sqrt(xn) : 1);
    r->iterations = p.iterations;
    r->loss = fx;
    r->grad_norm = gn;
    int rc = 0;
    if (ret == LBFGS_SUCCESS || ret == LBFGS_STOP || ret == LBFGS_ALREADY_MINIMIZED)
        r->converged = 1;
    else if (ret == LBFGSERR_MAXIMUMITERATION)
        r->converged = 0;
    else if (ret == LBFGSERR_ROUNDING_ERROR || ret == LBFGSERR_MINIMUMSTEP ||
             ret == LBFGSERR_MAXIMUMSTEP || ret == LBFGSERR_MAXIMUMLINESEARCH ||
             ret == LBFGSERR_WIDTHTOOSMALL || ret == LBFGSERR_INCORRECT_TMINMAX)
        r->converged = gn <= 1e-4; /* stalled at rounding level: see logreg.c */
    else
        rc = ctk_err_set(e, "MLP head: L-BFGS failed (liblbfgs error %d)", ret);
    if (rc == 0)
        memcpy(m->params, x, (size_t)n * sizeof *x);
    free(g);
    lbfgs_free(x);
    problem_free(&p);
    free(Xd);
    free(w);
    return rc;
}

void ctk_mlp_proba(struct ctk_mlp *m, const float *X, int64_t N, float *P)
{
    const int H = m->H, K = m->K;
    const int64_t D = m->D, n = ctk_mlp_nparams(m);
    if (!m->params_f) {
        m->params_f = xmallocarray((size_t)n, sizeof *m->params_f);
        for (int64_t t = 0; t < n; t++)
            m->params_f[t] = (float)m->params[t];
    }
    if (N <= 0)
        return;
    const float *W1 = m->params_f, *b1 = W1 + (int64_t)H * D, *W2 = b1 + H,
                *b2 = W2 + (int64_t)K * H;
    float *Hh = xmallocarray((size_t)N, (size_t)H * sizeof *Hh);
    for (int64_t i = 0; i < N; i++)
        memcpy(Hh + i * H, b1, (size_t)H * sizeof *Hh);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, H, (int)D, 1.0f, X, (int)D, W1,
                (int)D, 1.0f, Hh, H);
    for (int64_t t = 0; t < N * H; t++)
        if (Hh[t] < 0)
            Hh[t] = 0;
    for (int64_t i = 0; i < N; i++)
        memcpy(P + i * K, b2, (size_t)K * sizeof *P);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, K, H, 1.0f, Hh, H, W2, H, 1.0f,
                P, K);
    free(Hh);
    for (int64_t i = 0; i < N; i++) {
        float *z = P + i * K;
        if (m->multilabel) {
            for (int k = 0; k < K; k++)
                z[k] = ctk_head_sigmoid(z[k]);
        } else {
            ctk_head_softmax(z, K);
        }
    }
}
