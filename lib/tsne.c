/*
 * tsne.c -- t-SNE (see tsne.h). Names follow scikit-learn 1.2's _t_sne.py,
 * _utils.pyx and _barnes_hut_tsne.pyx so the two read side by side.
 */
#include "config.h"
#include "tsne.h"
#include "knn.h"
#include "parallel.h"
#include "rng.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);

#define MACHINE_EPSILON DBL_EPSILON
#define PERPLEXITY_TOLERANCE 1e-5
#define EXPLORATION_N_ITER 250
#define N_ITER_CHECK 50

void ctk_tsne_opts_default(struct ctk_tsne_opts *o)
{
    *o = (struct ctk_tsne_opts){.n_components = 2, .perplexity = 30, .early_exaggeration = 12,
                                .learning_rate = 0, .n_iter = 1000, .n_iter_without_progress = 300,
                                .min_grad_norm = 1e-7, .angle = 0.5, .threads = 1};
}

/* ---- affinities: _binary_search_perplexity over k squared distances a row ------------ */

static void binary_search_perplexity(const float *sqd, int64_t n, int64_t k, double perplexity, int skip_self,
                                     double *P)
{
    double desired_entropy = log(perplexity);
    for (int64_t i = 0; i < n; i++) {
        double beta_min = -INFINITY, beta_max = INFINITY, beta = 1.0;
        const float *di = sqd + i * k;
        double *pi = P + i * k;
        for (int step = 0; step < 100; step++) {
            double sum_p = 0;
            for (int64_t j = 0; j < k; j++) {
                pi[j] = (skip_self && j == i) ? 0 : exp(-(double)di[j] * beta);
                sum_p += pi[j];
            }
            if (sum_p == 0) sum_p = 1e-8;
            double sum_dp = 0;
            for (int64_t j = 0; j < k; j++) {
                pi[j] /= sum_p;
                sum_dp += di[j] * pi[j];
            }
            double diff = log(sum_p) + beta * sum_dp - desired_entropy;
            if (fabs(diff) <= PERPLEXITY_TOLERANCE) break;
            if (diff > 0) {
                beta_min = beta;
                beta = isinf(beta_max) ? beta * 2 : (beta + beta_max) / 2;
            } else {
                beta_max = beta;
                beta = isinf(beta_min) ? beta / 2 : (beta + beta_min) / 2;
            }
        }
    }
}

/* Sparse symmetric P (CSR): P = (C + C^T) / sum, the joint probabilities. */
struct csr {
    int64_t n;
    int64_t *ptr; /* (n+1) */
    int64_t *col;
    double *val;
};

struct entry {
    int64_t r, c;
    double v;
};

static int cmp_entry(const void *x, const void *y)
{
    const struct entry *a = x, *b = y;
    if (a->r != b->r) return a->r < b->r ? -1 : 1;
    return a->c < b->c ? -1 : a->c > b->c;
}

static void joint_probabilities_nn(const int64_t *idx, const double *cond, int64_t n, int64_t k, struct csr *P)
{
    size_t m = 0, cap = (size_t)(2 * n * k);
    struct entry *t = xmallocarray(cap, sizeof *t);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
            int64_t c = idx[i * k + j];
            if (c < 0) continue;
            t[m++] = (struct entry){i, c, cond[i * k + j]};
            t[m++] = (struct entry){c, i, cond[i * k + j]};
        }
    qsort(t, m, sizeof *t, cmp_entry);
    P->n = n;
    P->ptr = xcalloc((size_t)n + 1, sizeof *P->ptr);
    P->col = xmallocarray(m ? m : 1, sizeof *P->col);
    P->val = xmallocarray(m ? m : 1, sizeof *P->val);
    size_t nz = 0;
    double sum = 0;
    for (size_t s = 0; s < m;) {
        size_t e = s;
        double v = 0;
        while (e < m && t[e].r == t[s].r && t[e].c == t[s].c) v += t[e++].v;
        P->col[nz] = t[s].c, P->val[nz] = v, P->ptr[t[s].r + 1]++;
        sum += v;
        nz++;
        s = e;
    }
    for (int64_t i = 0; i < n; i++) P->ptr[i + 1] += P->ptr[i];
    double norm = sum > MACHINE_EPSILON ? sum : MACHINE_EPSILON;
    for (size_t z = 0; z < nz; z++) P->val[z] /= norm;
    free(t);
}

/* ---- initialisation: PCA, scaled to std 1e-4 along the first component ------------------ */

static int pca_init(const float *x, int64_t n, int64_t d, int dim, float *out)
{
    double *mean = xcalloc((size_t)d, sizeof *mean);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) mean[c] += x[i * d + c];
    for (int64_t c = 0; c < d; c++) mean[c] /= (double)n;
    float *xc = xmallocarray((size_t)(n * d), sizeof *xc), *cov = xmallocarray((size_t)(d * d), sizeof *cov);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) xc[i * d + c] = (float)(x[i * d + c] - mean[c]);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0f, xc, (int)d, 0.0f, cov, (int)d);
    double *a = xmallocarray((size_t)(d * d), sizeof *a), *w = xmallocarray((size_t)d, sizeof *w);
    /* row-major upper = column-major lower; dsyevd reads "L" */
    for (int64_t r = 0; r < d; r++)
        for (int64_t c = 0; c < d; c++) a[r * d + c] = r <= c ? cov[r * d + c] : cov[c * d + r];
    int nd = (int)d, info = 0, lwork = -1, liwork = -1, iw;
    double wq;
    dsyevd_("V", "U", &nd, a, &nd, w, &wq, &lwork, &iw, &liwork, &info, 1, 1);
    lwork = (int)wq, liwork = iw;
    double *work = xmallocarray((size_t)lwork, sizeof *work);
    int *iwork = xmallocarray((size_t)liwork, sizeof *iwork);
    dsyevd_("V", "U", &nd, a, &nd, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work);
    free(iwork);
    if (info == 0) {
        /* eigenvalues ascending; eigenvector k is column k of the column-major a: a[k*d + r] */
        for (int c = 0; c < dim; c++) {
            const double *v = a + (d - 1 - c) * d;
            /* sign: the largest absolute loading positive (scikit-learn's svd_flip) */
            int64_t am = 0;
            for (int64_t r = 1; r < d; r++)
                if (fabs(v[r]) > fabs(v[am])) am = r;
            double sg = v[am] < 0 ? -1 : 1;
            for (int64_t i = 0; i < n; i++) {
                double s = 0;
                for (int64_t r = 0; r < d; r++) s += (double)xc[i * d + r] * v[r];
                out[i * dim + c] = (float)(sg * s);
            }
        }
        double m0 = 0, s0 = 0;
        for (int64_t i = 0; i < n; i++) m0 += out[i * dim];
        m0 /= (double)n;
        for (int64_t i = 0; i < n; i++) s0 += (out[i * dim] - m0) * (out[i * dim] - m0);
        s0 = sqrt(s0 / (double)n);
        for (int64_t i = 0; i < n * dim; i++) out[i] = (float)(out[i] / (s0 > 0 ? s0 : 1) * 1e-4);
    }
    free(mean);
    free(xc);
    free(cov);
    free(a);
    free(w);
    return info == 0 ? 0 : -1;
}

/* ---- Barnes-Hut quadtree over the 2-D embedding ------------------------------------------- */

struct qnode {
    double cx, cy, hw;     /* cell centre and half width */
    double mx, my;         /* centre of mass */
    int64_t count;
    int64_t child[4];      /* -1: none */
    int64_t point;         /* a leaf's point, -1 when internal or empty */
    int depth;
};

struct qtree {
    struct qnode *nodes;
    int64_t n, cap;
};

static int64_t qt_new(struct qtree *t, double cx, double cy, double hw, int depth)
{
    if (t->n == t->cap) t->nodes = xreallocarray(t->nodes, (size_t)(t->cap = t->cap ? 2 * t->cap : 1024), sizeof *t->nodes);
    t->nodes[t->n] = (struct qnode){cx, cy, hw, 0, 0, 0, {-1, -1, -1, -1}, -1, depth};
    return t->n++;
}

static int quadrant(const struct qnode *q, double x, double y)
{
    return (x >= q->cx) + 2 * (y >= q->cy);
}

static void qt_insert(struct qtree *t, const float *y, int64_t i)
{
    int64_t node = 0;
    double px = y[2 * i], py = y[2 * i + 1];
    for (;;) {
        struct qnode *q = &t->nodes[node];
        q->mx = (q->mx * q->count + px) / (q->count + 1);
        q->my = (q->my * q->count + py) / (q->count + 1);
        q->count++;
        if (q->count == 1) {
            q->point = i;
            return;
        }
        if (q->depth >= 48) return; /* coincident points stay together in a deep leaf */
        if (q->point >= 0) {        /* split a leaf: push its point one level down */
            int64_t old = q->point;
            q->point = -1;
            int k = quadrant(q, y[2 * old], y[2 * old + 1]);
            double hw = q->hw / 2, cx = q->cx + (k & 1 ? hw : -hw), cy = q->cy + (k & 2 ? hw : -hw);
            int64_t c = qt_new(t, cx, cy, hw, q->depth + 1);
            q = &t->nodes[node];
            q->child[k] = c;
            struct qnode *cn = &t->nodes[c];
            cn->mx = y[2 * old], cn->my = y[2 * old + 1], cn->count = 1, cn->point = old;
        }
        int k = quadrant(q, px, py);
        if (q->child[k] < 0) {
            double hw = q->hw / 2, cx = q->cx + (k & 1 ? hw : -hw), cy = q->cy + (k & 2 ? hw : -hw);
            int64_t c = qt_new(t, cx, cy, hw, q->depth + 1);
            t->nodes[node].child[k] = c;
        }
        node = t->nodes[node].child[k];
    }
}

static void qt_build(struct qtree *t, const float *y, int64_t n)
{
    double mnx = INFINITY, mxx = -INFINITY, mny = INFINITY, mxy = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        mnx = fmin(mnx, y[2 * i]), mxx = fmax(mxx, y[2 * i]);
        mny = fmin(mny, y[2 * i + 1]), mxy = fmax(mxy, y[2 * i + 1]);
    }
    double hw = fmax(mxx - mnx, mxy - mny) / 2 * (1 + 1e-6) + 1e-12;
    t->n = 0;
    qt_new(t, (mnx + mxx) / 2, (mny + mxy) / 2, hw, 0);
    for (int64_t i = 0; i < n; i++) qt_insert(t, y, i);
}

/* Negative force on point i and its share of Z = sum q_ij, summarising far cells (width/dist < theta). */
static void qt_negative(const struct qtree *t, const float *y, int64_t i, double theta, double *fx, double *fy,
                        double *sumq, int64_t *stack)
{
    double px = y[2 * i], py = y[2 * i + 1];
    int64_t sp = 0;
    stack[sp++] = 0;
    *fx = *fy = *sumq = 0;
    while (sp) {
        const struct qnode *q = &t->nodes[stack[--sp]];
        if (q->count == 0) continue;
        double dx = px - q->mx, dy = py - q->my, d2 = dx * dx + dy * dy;
        int leaf = q->point >= 0 || q->depth >= 48;
        if (leaf || (d2 > 0 && 2 * q->hw / sqrt(d2) < theta)) {
            /* not the point itself: a leaf holding it (coincident points share a deep leaf) */
            int64_t cnt = q->count - (leaf && (q->point == i || (q->depth >= 48 && d2 < 1e-24)));
            if (cnt <= 0) continue;
            double qz = 1 / (1 + d2);
            *sumq += cnt * qz;
            double mult = cnt * qz * qz;
            *fx += mult * dx, *fy += mult * dy;
            continue;
        }
        for (int k = 0; k < 4; k++)
            if (q->child[k] >= 0) stack[sp++] = q->child[k];
    }
}

/* ---- gradients ----------------------------------------------------------------------------- */

struct grad_ctx {
    const struct csr *P;        /* Barnes-Hut */
    const double *Pd;           /* exact: (n, n) */
    const float *y;
    int64_t n;
    int dim;
    double theta;
    const struct qtree *qt;
    double *grad;               /* (n, dim) repulsive part, unnormalised: sum_j w_ij^2 (y_i - y_j) */
    double *attr;               /* (n, dim) attractive part: sum_j p_ij w_ij (y_i - y_j) */
    double *sumq;               /* per thread: its share of Z = sum_ij w_ij */
};

/* Rows lo..hi of both parts; w_ij = (1 + |y_i - y_j|^2)^-1. */
static void grad_range(void *arg, int t, int64_t lo, int64_t hi)
{
    struct grad_ctx *g = arg;
    const float *y = g->y;
    int dim = g->dim;
    double sq = 0;
    if (g->P) {
        int64_t *stack = xmallocarray((size_t)(4 * g->qt->n + 8), sizeof *stack);
        for (int64_t i = lo; i < hi; i++) {
            double fx, fy, zq, ax = 0, ay = 0;
            qt_negative(g->qt, y, i, g->theta, &fx, &fy, &zq, stack);
            sq += zq;
            g->grad[2 * i] = fx, g->grad[2 * i + 1] = fy;
            for (int64_t z = g->P->ptr[i]; z < g->P->ptr[i + 1]; z++) {
                int64_t k = g->P->col[z];
                double dx = (double)y[2 * i] - y[2 * k], dy = (double)y[2 * i + 1] - y[2 * k + 1];
                double pw = g->P->val[z] / (1 + dx * dx + dy * dy);
                ax += pw * dx, ay += pw * dy;
            }
            g->attr[2 * i] = ax, g->attr[2 * i + 1] = ay;
        }
        free(stack);
        g->sumq[t] = sq;
        return;
    }
    double *diff = xmallocarray((size_t)dim, sizeof *diff);
    for (int64_t i = lo; i < hi; i++) {
        for (int c = 0; c < dim; c++) g->grad[i * dim + c] = g->attr[i * dim + c] = 0;
        for (int64_t k = 0; k < g->n; k++) {
            if (k == i) continue;
            double d2 = 0;
            for (int c = 0; c < dim; c++) diff[c] = (double)y[i * dim + c] - y[k * dim + c], d2 += diff[c] * diff[c];
            double w = 1 / (1 + d2), pw = g->Pd[i * g->n + k] * w;
            sq += w;
            for (int c = 0; c < dim; c++) g->attr[i * dim + c] += pw * diff[c], g->grad[i * dim + c] += w * w * diff[c];
        }
    }
    free(diff);
    g->sumq[t] = sq;
}

/*
 * KL(P || Q) and its gradient dC/dy_i = 4 sum_j (p_ij - q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j)
 * (one degree of freedom). Barnes-Hut: the attractive part over P's nonzeros exactly, the
 * repulsive part q_ij^2 Z by the quadtree. The KL value is computed when want_error.
 */
static double kl_gradient(struct grad_ctx *g, int threads, int want_error)
{
    int64_t n = g->n;
    int dim = g->dim;
    double *gsum = xcalloc(CTK_MAX_THREADS, sizeof *gsum);
    g->sumq = gsum;
    struct qtree qt = {0};
    if (g->P) {
        qt_build(&qt, g->y, n);
        g->qt = &qt;
    }
    ctk_parallel_for(n, threads, grad_range, g);
    double Z = 0;
    for (int t = 0; t < CTK_MAX_THREADS; t++) Z += gsum[t];
    Z = fmax(Z, MACHINE_EPSILON);
    /* dC/dy_i = 4 (sum_j p_ij w_ij (y_i - y_j) - sum_j q_ij w_ij (y_i - y_j)), q_ij = w_ij / Z */
    for (int64_t i = 0; i < n * dim; i++) g->grad[i] = 4 * (g->attr[i] - g->grad[i] / Z);
    double error = 0;
    if (want_error) {
        if (g->P) {
            for (int64_t i = 0; i < n; i++)
                for (int64_t z = g->P->ptr[i]; z < g->P->ptr[i + 1]; z++) {
                    int64_t k = g->P->col[z];
                    double dx = (double)g->y[2 * i] - g->y[2 * k], dy = (double)g->y[2 * i + 1] - g->y[2 * k + 1];
                    double q = fmax(1 / (1 + dx * dx + dy * dy) / Z, MACHINE_EPSILON), p = g->P->val[z];
                    error += p * log(fmax(p, MACHINE_EPSILON) / q);
                }
        } else {
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < n; k++) {
                    if (k == i) continue;
                    double d2 = 0;
                    for (int c = 0; c < dim; c++) {
                        double t = (double)g->y[i * dim + c] - g->y[k * dim + c];
                        d2 += t * t;
                    }
                    double q = fmax(1 / (1 + d2) / Z, MACHINE_EPSILON), p = fmax(g->Pd[i * n + k], MACHINE_EPSILON);
                    error += p * log(p / q);
                }
        }
    }
    free(qt.nodes);
    free(gsum);
    return error;
}

/* ---- optimisation: _gradient_descent -------------------------------------------------------- */

static int gradient_descent(struct grad_ctx *g, float *y, int it0, int n_iter, double momentum, double lr,
                            int n_iter_without_progress, double min_grad_norm, int threads, int verbose,
                            double *err_out)
{
    int64_t m = g->n * g->dim;
    double *update = xcalloc((size_t)m, sizeof *update), *gains = xmallocarray((size_t)m, sizeof *gains);
    for (int64_t i = 0; i < m; i++) gains[i] = 1;
    double best_error = DBL_MAX, error = DBL_MAX;
    int best_iter = it0, i;
    for (i = it0; i < n_iter; i++) {
        int check = (i + 1) % N_ITER_CHECK == 0;
        double e = kl_gradient(g, threads, check || i == n_iter - 1);
        if (check || i == n_iter - 1) error = e;
        double gn = 0;
        for (int64_t k = 0; k < m; k++) {
            double gr = g->grad[k];
            if (update[k] * gr < 0)
                gains[k] += 0.2;
            else
                gains[k] *= 0.8;
            if (gains[k] < 0.01) gains[k] = 0.01;
            gr *= gains[k];
            gn += gr * gr;
            update[k] = momentum * update[k] - lr * gr;
            y[k] = (float)(y[k] + update[k]);
        }
        if (check) {
            if (verbose) ctk_progress("iteration %d: KL divergence %.4f, gradient norm %.2g", i + 1, error, sqrt(gn));
            if (error < best_error)
                best_error = error, best_iter = i;
            else if (i - best_iter > n_iter_without_progress)
                break;
            if (sqrt(gn) <= min_grad_norm) break;
        }
    }
    free(update);
    free(gains);
    *err_out = error;
    return i;
}

int ctk_tsne(const float *x, int64_t n, int64_t d, const struct ctk_tsne_opts *o, float *out, double *kl,
             struct ctk_err *e)
{
    int dim = o->n_components;
    if (o->perplexity <= 0) return ctk_err_set(e, "perplexity must be positive (it is %g)", o->perplexity);
    if (n < 2 || (double)n <= o->perplexity)
        return ctk_err_set(e, "perplexity (%g) must be less than the number of points (%lld)", o->perplexity,
                           (long long)n);
    if (!o->exact && dim != 2) return ctk_err_set(e, "Barnes-Hut t-SNE draws 2 dimensions; use the exact method for %d", dim);
    if (dim < 1 || dim > 64) return ctk_err_set(e, "n_components must be from 1 to 64 (it is %d)", dim);
    if (o->exact && n > 20000)
        return ctk_err_set(e, "exact t-SNE on %lld points needs an n x n matrix; use Barnes-Hut", (long long)n);
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i])) return ctk_err_set(e, "row %lld has a non-finite value", (long long)(i / d));
    int threads = o->threads;
    struct grad_ctx g = {0};
    g.n = n, g.dim = dim, g.theta = o->angle, g.y = out;
    g.grad = xmallocarray((size_t)(n * dim), sizeof *g.grad);
    g.attr = xmallocarray((size_t)(n * dim), sizeof *g.attr);
    struct csr P = {0};
    double *Pd = NULL;

    if (o->verbose) ctk_progress("affinities of %lld points", (long long)n);
    if (o->exact) {
        /* squared euclidean distances, all pairs */
        float *sqd = xmallocarray((size_t)(n * n), sizeof *sqd);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < n; k++) {
                double s = 0;
                for (int64_t c = 0; c < d; c++) {
                    double t = (double)x[i * d + c] - x[k * d + c];
                    s += t * t;
                }
                sqd[i * n + k] = (float)s;
            }
        Pd = xmallocarray((size_t)(n * n), sizeof *Pd);
        binary_search_perplexity(sqd, n, n, o->perplexity, 1, Pd);
        free(sqd);
        double sum = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = i + 1; k < n; k++) {
                double v = Pd[i * n + k] + Pd[k * n + i];
                Pd[i * n + k] = Pd[k * n + i] = v;
                sum += 2 * v;
            }
        sum = fmax(sum, MACHINE_EPSILON);
        for (int64_t i = 0; i < n * n; i++) Pd[i] = fmax(Pd[i] / sum, MACHINE_EPSILON);
        for (int64_t i = 0; i < n; i++) Pd[i * n + i] = 0;
        g.Pd = Pd;
    } else {
        int64_t k = (int64_t)(3 * o->perplexity + 1);
        if (k > n - 1) k = n - 1;
        int64_t *idx = xmallocarray((size_t)(n * k), sizeof *idx);
        float *sc = xmallocarray((size_t)(n * k), sizeof *sc);
        struct ctk_knn *s = ctk_knn_new(x, n, d, (int)k, CTK_METRIC_EUCLIDEAN, 0, threads);
        for (int64_t b = 0; b < n; b += 4096) ctk_knn_add(s, x + b * d, n - b < 4096 ? n - b : 4096, b);
        ctk_knn_result(s, idx, sc);
        ctk_knn_free(s);
        for (int64_t i = 0; i < n * k; i++) sc[i] = sc[i] * sc[i];
        double *cond = xmallocarray((size_t)(n * k), sizeof *cond);
        binary_search_perplexity(sc, n, k, o->perplexity, 0, cond);
        joint_probabilities_nn(idx, cond, n, k, &P);
        free(idx);
        free(sc);
        free(cond);
        g.P = &P;
    }

    if (o->random_init || pca_init(x, n, d, dim, out) < 0) {
        struct ctk_rng rng;
        ctk_rng_seed(&rng, o->seed);
        for (int64_t i = 0; i < n * dim; i++) out[i] = (float)(1e-4 * ctk_rng_normal(&rng));
    }
    double lr = o->learning_rate > 0 ? o->learning_rate : fmax((double)n / o->early_exaggeration / 4, 50);

    /* early exaggeration, then the rest with more momentum (_tsne) */
    double scale = o->early_exaggeration;
    if (g.P)
        for (int64_t z = 0; z < P.ptr[n]; z++) P.val[z] *= scale;
    else
        for (int64_t i = 0; i < n * n; i++) Pd[i] *= scale;
    double err;
    int it = gradient_descent(&g, out, 0, EXPLORATION_N_ITER < o->n_iter ? EXPLORATION_N_ITER : o->n_iter, 0.5, lr,
                              EXPLORATION_N_ITER, o->min_grad_norm, threads, o->verbose, &err);
    if (g.P)
        for (int64_t z = 0; z < P.ptr[n]; z++) P.val[z] /= scale;
    else
        for (int64_t i = 0; i < n * n; i++) Pd[i] /= scale;
    if (o->n_iter > EXPLORATION_N_ITER)
        gradient_descent(&g, out, it + 1, o->n_iter, 0.8, lr, o->n_iter_without_progress, o->min_grad_norm, threads,
                         o->verbose, &err);
    if (o->verbose) ctk_progress_done();
    if (kl) *kl = err;
    free(g.grad);
    free(g.attr);
    free(Pd);
    free(P.ptr);
    free(P.col);
    free(P.val);
    return 0;
}
