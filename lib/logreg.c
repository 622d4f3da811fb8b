/*
 * logreg.c -- multinomial logistic regression with L2, fitted with liblbfgs
 * (see logreg.h for the objective and the shapes, which follow
 * scikit-learn 1.2's LogisticRegression(solver='lbfgs',
 * multi_class='multinomial')).
 *
 * Gradient of the objective (Bishop, PRML 4.3.4), with G the (N, K) matrix
 * G[i,k] = w_i * (softmax(z_i)[k] - [y_i == k]):
 *   dW = G^T X + W / C,   db = sum_i G[i, :].
 * Both products go through dgemm; everything is in double.
 */
#include "logreg.h"

#include <cblas.h>
#include <lbfgs.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ctk_logreg_opts_default(struct ctk_logreg_opts *o)
{
    o->C = 1.0;
    o->balanced = 0;
    o->max_iter = 1000;
    o->tol = 1e-10;
}

void ctk_logreg_init(struct ctk_logreg *m, int K, int64_t D, int multilabel)
{
    memset(m, 0, sizeof *m);
    m->K = K;
    m->D = D;
    m->multilabel = multilabel;
    m->rows = (!multilabel && K == 2) ? 1 : K;
    m->coef = xcalloc((size_t)m->rows * (size_t)D, sizeof *m->coef);
    m->intercept = xcalloc((size_t)m->rows, sizeof *m->intercept);
}

void ctk_logreg_free(struct ctk_logreg *m)
{
    free(m->coef);
    free(m->intercept);
    free(m->coef_f);
    memset(m, 0, sizeof *m);
}

/* One softmax problem: K classes over Xd (N, D) double, weights w (N). */
struct problem {
    const double *X; /* (N, D) */
    int64_t N, D;
    int K;
    const int32_t *y; /* (N) */
    const double *w;  /* (N) */
    double invC;
    double *G;        /* (N, K) logits, then the pointwise gradient */
    int iterations;
};

/*
 * liblbfgs callback: objective and gradient at x = [W (K, D) row-major, b (K)].
 */
static lbfgsfloatval_t evaluate(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g,
                                const int n, const lbfgsfloatval_t step)
{
    struct problem *p = inst;
    const int K = p->K;
    const int64_t N = p->N, D = p->D;
    const double *W = x, *b = x + (int64_t)K * D;
    double *gW = g, *gb = g + (int64_t)K * D;
    double *G = p->G;

    /* z = X W^T + b */
    for (int64_t i = 0; i < N; i++)
        memcpy(G + i * K, b, (size_t)K * sizeof *G);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, K, (int)D, 1.0, p->X, (int)D,
                W, (int)D, 1.0, G, K);

    double loss = 0;
    for (int k = 0; k < K; k++)
        gb[k] = 0;
    for (int64_t i = 0; i < N; i++) {
        double *z = G + i * K;
        double mx = z[0];
        for (int k = 1; k < K; k++)
            if (z[k] > mx)
                mx = z[k];
        double se = 0;
        for (int k = 0; k < K; k++)
            se += exp(z[k] - mx);
        double lse = mx + log(se);
        loss += p->w[i] * (lse - z[p->y[i]]);
        for (int k = 0; k < K; k++) {
            double pk = exp(z[k] - lse);
            z[k] = p->w[i] * (pk - (k == p->y[i]));
            gb[k] += z[k];
        }
    }
    /* dW = G^T X + W / C */
    memcpy(gW, W, (size_t)K * (size_t)D * sizeof *gW);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)D, (int)N, 1.0, G, K, p->X,
                (int)D, p->invC, gW, (int)D);
    double sq = 0;
    for (int64_t t = 0; t < (int64_t)K * D; t++)
        sq += W[t] * W[t];
    return loss + 0.5 * p->invC * sq;
}

static int progress(void *inst, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g,
                    const lbfgsfloatval_t fx, const lbfgsfloatval_t xnorm,
                    const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n, int k,
                    int ls)
{
    struct problem *p = inst;
    p->iterations = k;
    return 0;
}

static double norm2(const double *v, int64_t n)
{
    double s = 0;
    for (int64_t t = 0; t < n; t++)
        s += v[t] * v[t];
    return sqrt(s);
}

/*
 * Minimise problem p from zero; on return W (K, D) and b (K) hold the
 * solution. Fills the report's fields for this model.
 */
static int solve(struct problem *p, const struct ctk_logreg_opts *o, double *W, double *b,
                 struct ctk_logreg_report *r, struct ctk_err *e)
{
    const int64_t n = (int64_t)p->K * p->D + p->K;
    if (n > INT32_MAX)
        return ctk_err_set(e, "logistic regression: %d classes x %lld dimensions is too many "
                           "parameters", p->K, (long long)p->D);
    lbfgsfloatval_t *x = lbfgs_malloc((int)n);
    lbfgsfloatval_t *g = lbfgs_malloc((int)n);
    if (!x || !g)
        ctk_die("out of memory (logistic regression, %lld parameters)", (long long)n);
    memset(x, 0, (size_t)n * sizeof *x);

    lbfgs_parameter_t par;
    lbfgs_parameter_init(&par);
    par.m = 10;               /* scipy's L-BFGS-B default maxcor */
    par.epsilon = o->tol;
    par.max_iterations = o->max_iter;
    par.max_linesearch = 50;  /* scikit-learn's maxls */
    lbfgsfloatval_t fx = 0;
    p->iterations = 0;
    int ret = lbfgs((int)n, x, &fx, evaluate, progress, p, &par);

    /* The solution's gradient, whatever the reason liblbfgs stopped. */
    fx = evaluate(p, x, g, (int)n, 0);
    double xn = norm2(x, n), gn = norm2(g, n) / (xn > 1 ? xn : 1);
    r->iterations = p->iterations;
    r->loss = fx;
    r->grad_norm = gn;
    switch (ret) {
    case LBFGS_SUCCESS:
    case LBFGS_STOP:
    case LBFGS_ALREADY_MINIMIZED:
        r->converged = 1;
        break;
    case LBFGSERR_MAXIMUMITERATION:
        r->converged = 0;
        break;
    case LBFGSERR_ROUNDING_ERROR:
    case LBFGSERR_MINIMUMSTEP:
    case LBFGSERR_MAXIMUMSTEP:
    case LBFGSERR_MAXIMUMLINESEARCH:
    case LBFGSERR_WIDTHTOOSMALL:
    case LBFGSERR_INCORRECT_TMINMAX:
        /* The line search cannot improve f in floating point: converged at
         * rounding level when the gradient is within scikit-learn's default
         * tolerance (1e-4), else a failure to report. */
        r->converged = gn <= 1e-4;
        break;
    default:
        lbfgs_free(x);
        lbfgs_free(g);
        return ctk_err_set(e, "logistic regression: L-BFGS failed (liblbfgs error %d)", ret);
    }
    memcpy(W, x, (size_t)p->K * (size_t)p->D * sizeof *W);
    memcpy(b, x + (int64_t)p->K * p->D, (size_t)p->K * sizeof *b);
    lbfgs_free(x);
    lbfgs_free(g);
    return 0;
}

static void merge_report(struct ctk_logreg_report *all, const struct ctk_logreg_report *one,
                         int first)
{
    if (first) {
        *all = *one;
        return;
    }
    if (one->iterations > all->iterations)
        all->iterations = one->iterations;
    all->converged = all->converged && one->converged;
    all->loss += one->loss;
    if (one->grad_norm > all->grad_norm)
        all->grad_norm = one->grad_norm;
}

/*
 * A binary model from the 2-class softmax solution W (2, D), b (2): at the
 * optimum W[0] = -W[1] (and b[0] = -b[1] from the zero start, the intercept
 * gradients summing to zero), and scikit-learn keeps W[1]. Halving the
 * difference is the same number and cancels the optimiser's residual
 * asymmetry.
 */
static void keep_class1(const double *W, const double *b, int64_t D, double *coef, double *icpt)
{
    for (int64_t t = 0; t < D; t++)
        coef[t] = 0.5 * (W[D + t] - W[t]);
    *icpt = 0.5 * (b[1] - b[0]);
}

int ctk_logreg_fit(struct ctk_logreg *m, const float *X, int64_t N, int64_t D,
                   const int32_t *y, int K, const struct ctk_logreg_opts *o,
                   struct ctk_logreg_report *r, struct ctk_err *e)
{
    if (K < 2)
        return ctk_err_set(e, "logistic regression needs at least 2 classes, got %d", K);
    ctk_logreg_free(m);
    ctk_logreg_init(m, K, D, 0);
    double *Xd = ctk_head_to_double(X, N, D);
    double *w = xmallocarray((size_t)N, sizeof *w);
    ctk_head_class_weights(w, y, N, K, o->balanced);
    struct problem p = {Xd, N, D, K, y, w, 1.0 / o->C,
                        xmallocarray((size_t)N * (size_t)K, sizeof(double)), 0};
    double *W = xmallocarray((size_t)K * (size_t)D, sizeof *W);
    double *b = xmallocarray((size_t)K, sizeof *b);
    int rc = solve(&p, o, W, b, r, e);
    if (rc == 0) {
        if (K == 2) {
            keep_class1(W, b, D, m->coef, m->intercept);
        } else {
            /* The softmax is unchanged by a shift of all intercepts; the
             * zero start keeps their sum at zero, which we restore exactly. */
            double mean = 0;
            for (int k = 0; k < K; k++)
                mean += b[k] / K;
            memcpy(m->coef, W, (size_t)K * (size_t)D * sizeof *W);
            for (int k = 0; k < K; k++)
                m->intercept[k] = b[k] - mean;
        }
    }
    free(W);
    free(b);
    free(p.G);
    free(w);
    free(Xd);
    return rc;
}

int ctk_logreg_fit_multilabel(struct ctk_logreg *m, const float *X, int64_t N, int64_t D,
                              const uint8_t *Y, int K, const struct ctk_logreg_opts *o,
                              struct ctk_logreg_report *r, struct ctk_err *e)
{
    if (K < 1)
        return ctk_err_set(e, "multi-label logistic regression needs at least 1 label");
    for (int k = 0; k < K; k++) {
        int64_t pos = 0;
        for (int64_t i = 0; i < N; i++)
            pos += Y[i * K + k] != 0;
        if (pos == 0 || pos == N)
            return ctk_err_set(e, "label %d is on %s row: a one-vs-rest model needs rows with "
                               "and rows without each label", k, pos ? "every" : "no");
    }
    ctk_logreg_free(m);
    ctk_logreg_init(m, K, D, 1);
    double *Xd = ctk_head_to_double(X, N, D);
    double *w = xmallocarray((size_t)N, sizeof *w);
    int32_t *yb = xmallocarray((size_t)N, sizeof *yb);
    double *G = xmallocarray((size_t)N * 2, sizeof *G);
    double *W2 = xmallocarray((size_t)2 * (size_t)D, sizeof *W2);
    double b2[2];
    int rc = 0;
    for (int k = 0; k < K && rc == 0; k++) {
        for (int64_t i = 0; i < N; i++)
            yb[i] = Y[i * K + k] != 0;
        ctk_head_class_weights(w, yb, N, 2, o->balanced);
        struct problem p = {Xd, N, D, 2, yb, w, 1.0 / o->C, G, 0};
        struct ctk_logreg_report one;
        rc = solve(&p, o, W2, b2, &one, e);
        if (rc == 0) {
            keep_class1(W2, b2, D, m->coef + (int64_t)k * D, &m->intercept[k]);
            merge_report(r, &one, k == 0);
        }
    }
    free(W2);
    free(G);
    free(yb);
    free(w);
    free(Xd);
    return rc;
}

void ctk_logreg_proba(struct ctk_logreg *m, const float *X, int64_t N, float *P)
{
    const int K = m->K, R = m->rows;
    const int64_t D = m->D;
    if (!m->coef_f) {
        m->coef_f = xmallocarray((size_t)R * (size_t)D, sizeof *m->coef_f);
        for (int64_t t = 0; t < (int64_t)R * D; t++)
            m->coef_f[t] = (float)m->coef[t];
    }
    if (N <= 0)
        return;
    /* logits into P: (N, R) with row stride K (R <= K) */
    for (int64_t i = 0; i < N; i++)
        for (int r = 0; r < R; r++)
            P[i * K + r] = (float)m->intercept[r];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, R, (int)D, 1.0f, X, (int)D,
                m->coef_f, (int)D, 1.0f, P, K);
    for (int64_t i = 0; i < N; i++) {
        float *z = P + i * K;
        if (m->multilabel) {
            for (int k = 0; k < K; k++)
                z[k] = ctk_head_sigmoid(2.0f * z[k]);
        } else if (R == 1) {
            float d = z[0];
            z[1] = ctk_head_sigmoid(2.0f * d);
            z[0] = ctk_head_sigmoid(-2.0f * d);
        } else {
            ctk_head_softmax(z, K);
        }
    }
}

/* --- pieces shared by the heads ------------------------------------------ */

double *ctk_head_to_double(const float *X, int64_t N, int64_t D)
{
    double *Xd = xmallocarray((size_t)N * (size_t)D, sizeof *Xd);
    for (int64_t t = 0; t < N * D; t++)
        Xd[t] = X[t];
    return Xd;
}

/* Sample weights: 1, or balanced n / (K * count(class)) (scikit-learn's compute_class_weight). */
void ctk_head_class_weights(double *w, const int32_t *y, int64_t N, int K, int balanced)
{
    if (!balanced) {
        for (int64_t i = 0; i < N; i++)
            w[i] = 1.0;
        return;
    }
    int64_t *cnt = xcalloc((size_t)K, sizeof *cnt);
    for (int64_t i = 0; i < N; i++)
        cnt[y[i]]++;
    for (int64_t i = 0; i < N; i++)
        w[i] = (double)N / ((double)K * (double)cnt[y[i]]);
    free(cnt);
}

float ctk_head_sigmoid(float x)
{
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float t = expf(x);
    return t / (1.0f + t);
}

void ctk_head_softmax(float *z, int K)
{
    float mx = z[0];
    for (int k = 1; k < K; k++)
        if (z[k] > mx)
            mx = z[k];
    double se = 0;
    for (int k = 0; k < K; k++) {
        z[k] = expf(z[k] - mx);
        se += z[k];
    }
    for (int k = 0; k < K; k++)
        z[k] = (float)(z[k] / se);
}
