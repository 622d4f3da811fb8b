/*
 * umap.c -- UMAP (see umap.h). Each step names the umap-learn 0.5 function it
 * follows (umap_.py, layouts.py, spectral.py) so the two can be read side
 * by side.
 */
#include "config.h"
#include "umap.h"
#include "simd.h"
#include "nndescent.h"
#include "parallel.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ctk_umap_opts_default(struct ctk_umap_opts *o)
{
    *o = (struct ctk_umap_opts){
        .n_neighbors = 15, .n_components = 2, .min_dist = 0.1, .spread = 1.0, .n_epochs = 0,
        .learning_rate = 1.0, .negative_sample_rate = 5, .repulsion_strength = 1.0,
        .local_connectivity = 1.0, .set_op_mix_ratio = 1.0, .metric = CTK_METRIC_EUCLIDEAN,
        .seed = 0, .deterministic = 0, .threads = 1, .exact_max = 20000,
    };
}

/* ---- a, b: least squares fit of 1/(1 + a x^2b) (find_ab_params) ------------------ */

/*
 * umap-learn fits with scipy's curve_fit (Levenberg-Marquardt) on 300 points
 * of [0, 3 spread]: y = 1 below min_dist, exp(-(x - min_dist)/spread) above.
 * The same problem by Levenberg-Marquardt in double, from a = b = 1.
 */
void ctk_umap_find_ab(double spread, double min_dist, double *a_out, double *b_out)
{
    enum { N = 300 };
    double xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = spread * 3 * i / (N - 1);
        ys[i] = xs[i] < min_dist ? 1.0 : exp(-(xs[i] - min_dist) / spread);
    }
    double a = 1, b = 1, lambda = 1e-3;
    double cost = 0;
    for (int i = 0; i < N; i++) {
        double r = 1 / (1 + a * pow(xs[i], 2 * b)) - ys[i];
        cost += r * r;
    }
    for (int it = 0; it < 500; it++) {
        double jtj[2][2] = {{0, 0}, {0, 0}}, jtr[2] = {0, 0};
        for (int i = 0; i < N; i++) {
            double x = xs[i];
            double p = x > 0 ? pow(x, 2 * b) : 0, f = 1 / (1 + a * p), r = f - ys[i];
            double da = -f * f * p, db = x > 0 ? -f * f * a * p * 2 * log(x) : 0;
            jtj[0][0] += da * da, jtj[0][1] += da * db, jtj[1][1] += db * db;
            jtr[0] += da * r, jtr[1] += db * r;
        }
        jtj[1][0] = jtj[0][1];
        for (;;) {
            double m00 = jtj[0][0] * (1 + lambda), m11 = jtj[1][1] * (1 + lambda), m01 = jtj[0][1];
            double det = m00 * m11 - m01 * m01;
            double sa = -(m11 * jtr[0] - m01 * jtr[1]) / det, sb = -(m00 * jtr[1] - m01 * jtr[0]) / det;
            double na = a + sa, nb = b + sb, nc = 0;
            for (int i = 0; i < N; i++) {
                double r = 1 / (1 + na * pow(xs[i], 2 * nb)) - ys[i];
                nc += r * r;
            }
            if (nc < cost) {
                int done = cost - nc < 1e-15 * (1 + cost);
                a = na, b = nb, cost = nc, lambda *= 0.3;
                if (done) it = 500;
                break;
            }
            lambda *= 10;
            if (lambda > 1e12) {
                it = 500;
                break;
            }
        }
    }
    *a_out = a, *b_out = b;
}

/* ---- k nearest neighbours, the point itself first (nearest_neighbors) ------------- */

/* dist (n, k) as UMAP's metric: euclidean distance, or cosine distance 1 - cos. */
static void knn_graph(const float *x, int64_t n, int64_t d, const struct ctk_umap_opts *o, int64_t *idx,
                      float *dist)
{
    int k = o->n_neighbors;
    if (n <= o->exact_max) {
        struct ctk_knn *s = ctk_knn_new(x, n, d, k - 1, o->metric, 0, o->threads);
        for (int64_t b = 0; b < n; b += 4096) ctk_knn_add(s, x + b * d, n - b < 4096 ? n - b : 4096, b);
        int64_t *ti = xmallocarray((size_t)(n * (k - 1)), sizeof *ti);
        float *ts = xmallocarray((size_t)(n * (k - 1)), sizeof *ts);
        ctk_knn_result(s, ti, ts);
        ctk_knn_free(s);
        for (int64_t i = 0; i < n; i++) {
            idx[i * k] = i, dist[i * k] = 0;
            for (int j = 1; j < k; j++) {
                float sc = ts[i * (k - 1) + j - 1];
                idx[i * k + j] = ti[i * (k - 1) + j - 1];
                dist[i * k + j] = o->metric == CTK_METRIC_COSINE ? fmaxf(0.0f, 1.0f - sc) : sc;
            }
        }
        free(ti);
        free(ts);
    } else {
        struct ctk_nndescent_opts no;
        ctk_nndescent_opts_default(&no);
        no.metric = o->metric, no.seed = o->seed, no.verbose = o->verbose;
        no.max_candidates = 60; /* as umap-learn's nearest_neighbors asks of NNDescent */
        no.threads = o->deterministic ? 1 : o->threads; /* threads may break ties in another order */
        ctk_nndescent(x, n, d, k, &no, idx, dist);
    }
}

/* ---- smooth k-NN distances (smooth_knn_dist) -------------------------------------- */

#define SMOOTH_K_TOLERANCE 1e-5
#define MIN_K_DIST_SCALE 1e-3

static void smooth_knn_dist(const float *dist, int64_t n, int k, double local_connectivity, double *sigma,
                            double *rho)
{
    double target = log2((double)k), mean_all = 0;
    for (int64_t i = 0; i < n * k; i++) mean_all += dist[i];
    mean_all /= (double)(n * k);
    for (int64_t i = 0; i < n; i++) {
        const float *di = dist + i * k;
        /* rho: distance to the local_connectivity-th nonzero neighbour, interpolated */
        double nonzero[1024];
        int nz = 0;
        for (int j = 0; j < k && nz < 1024; j++)
            if (di[j] > 0) nonzero[nz++] = di[j];
        rho[i] = 0;
        int index = (int)floor(local_connectivity);
        double interp = local_connectivity - index;
        if (nz >= local_connectivity) {
            if (index > 0) {
                rho[i] = nonzero[index - 1];
                if (interp > SMOOTH_K_TOLERANCE) rho[i] += interp * (nonzero[index] - nonzero[index - 1]);
            } else {
                rho[i] = interp * nonzero[0];
            }
        } else if (nz > 0) {
            double m = 0;
            for (int j = 0; j < nz; j++) m = nonzero[j] > m ? nonzero[j] : m;
            rho[i] = m;
        }
        double lo = 0, hi = INFINITY, mid = 1;
        for (int it = 0; it < 64; it++) {
            double psum = 0;
            for (int j = 1; j < k; j++) {
                double t = di[j] - rho[i];
                psum += t > 0 ? exp(-t / mid) : 1.0;
            }
            if (fabs(psum - target) < SMOOTH_K_TOLERANCE) break;
            if (psum > target) {
                hi = mid;
                mid = (lo + hi) / 2;
            } else {
                lo = mid;
                mid = isinf(hi) ? mid * 2 : (lo + hi) / 2;
            }
        }
        sigma[i] = mid;
        double mean_i = 0;
        for (int j = 0; j < k; j++) mean_i += di[j];
        mean_i /= k;
        if (rho[i] > 0) {
            if (sigma[i] < MIN_K_DIST_SCALE * mean_i) sigma[i] = MIN_K_DIST_SCALE * mean_i;
        } else if (sigma[i] < MIN_K_DIST_SCALE * mean_all) {
            sigma[i] = MIN_K_DIST_SCALE * mean_all;
        }
    }
}

/* ---- fuzzy simplicial set (compute_membership_strengths + fuzzy union) ------------ */

struct coo {
    int64_t n;       /* vertices */
    int64_t nnz;
    int64_t *row, *col;
    double *val;
};

/* An entry of row r of P (transposed 0) or of P^T (transposed 1), in r's bucket. */
struct entry {
    double v;
    int32_t c;
    int32_t transposed;
};

static int entry_before(const struct entry *a, const struct entry *b)
{
    return a->c != b->c ? a->c < b->c : a->transposed < b->transposed;
}

static int cmp_entry(const void *x, const void *y)
{
    return entry_before(x, y) ? -1 : entry_before(y, x);
}

/* A row's bucket by (column, transposed): rows hold about 2k entries, a hub (a point many call near) more. */
static void sort_bucket(struct entry *e, int64_t m)
{
    if (m > 64) {
        qsort(e, (size_t)m, sizeof *e, cmp_entry);
        return;
    }
    for (int64_t i = 1; i < m; i++) {
        struct entry x = e[i];
        int64_t j = i;
        for (; j > 0 && entry_before(&x, &e[j - 1]); j--) e[j] = e[j - 1];
        e[j] = x;
    }
}

/*
 * P[i,j] = exp(-(d_ij - rho_i)/sigma_i) (1 when d_ij <= rho_i, 0 for i itself);
 * the union is P + P^T - mix * P.P^T with mix = set_op_mix_ratio (1: fuzzy union,
 * 0: intersection P.P^T). Result in row-major (row, col) order. The entries of
 * P and P^T are bucketed by row (a counting sort), then each bucket sorted by
 * column, so that P[r,c] and P[c,r] meet.
 */
static void fuzzy_simplicial_set(const int64_t *idx, const float *dist, int64_t n, int k, const double *sigma,
                                 const double *rho, double mix, struct coo *g)
{
    int64_t *start = xcalloc((size_t)n + 1, sizeof *start);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            int64_t c = idx[i * k + j];
            if (c < 0 || c == i) continue;
            start[i + 1]++, start[c + 1]++;
        }
    for (int64_t r = 0; r < n; r++) start[r + 1] += start[r];
    int64_t m = start[n], *fill = xmallocarray((size_t)n, sizeof *fill);
    memcpy(fill, start, sizeof *fill * (size_t)n);
    struct entry *t = xmallocarray((size_t)(m > 0 ? m : 1), sizeof *t);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            int64_t c = idx[i * k + j];
            if (c < 0 || c == i) continue;
            double dd = dist[i * k + j] - rho[i];
            double v = dd <= 0 || sigma[i] == 0 ? 1.0 : exp(-dd / sigma[i]);
            t[fill[i]++] = (struct entry){v, (int32_t)c, 0};
            t[fill[c]++] = (struct entry){v, (int32_t)i, 1};
        }
    free(fill);
    g->n = n;
    g->row = xmallocarray((size_t)(m > 0 ? m : 1), sizeof *g->row);
    g->col = xmallocarray((size_t)(m > 0 ? m : 1), sizeof *g->col);
    g->val = xmallocarray((size_t)(m > 0 ? m : 1), sizeof *g->val);
    g->nnz = 0;
    for (int64_t r = 0; r < n; r++) {
        sort_bucket(t + start[r], start[r + 1] - start[r]);
        for (int64_t s = start[r], e; s < start[r + 1]; s = e) {
            double p = 0, q = 0; /* P[r,c] and P[c,r] */
            for (e = s; e < start[r + 1] && t[e].c == t[s].c; e++) {
                if (t[e].transposed)
                    q = t[e].v;
                else
                    p = t[e].v;
            }
            double v = mix * (p + q - p * q) + (1 - mix) * (p * q);
            if (v > 0) g->row[g->nnz] = r, g->col[g->nnz] = t[s].c, g->val[g->nnz] = v, g->nnz++;
        }
    }
    free(t);
    free(start);
}

static void coo_free(struct coo *g)
{
    free(g->row);
    free(g->col);
    free(g->val);
}

/* ---- spectral initialisation (spectral_layout) ------------------------------------- */

/* Connected components of the graph (union-find); returns their count. */
static int64_t components(const struct coo *g)
{
    int64_t *p = xmallocarray((size_t)g->n, sizeof *p), count = g->n;
    for (int64_t i = 0; i < g->n; i++) p[i] = i;
    for (int64_t e = 0; e < g->nnz; e++) {
        int64_t a = g->row[e], b = g->col[e];
        while (p[a] != a) a = p[a] = p[p[a]];
        while (p[b] != b) b = p[b] = p[p[b]];
        if (a != b) p[a] = b, count--;
    }
    free(p);
    return count;
}

/* Eigen-decomposition of a small symmetric matrix by cyclic Jacobi: values w, vectors as columns of v. */
static void jacobi_eigen(double *a, int m, double *w, double *v)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) v[i * m + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++) off += a[i * m + j] * a[i * m + j];
        if (off < 1e-30) break;
        for (int p = 0; p < m; p++)
            for (int q = p + 1; q < m; q++) {
                if (fabs(a[p * m + q]) < 1e-300) continue;
                double theta = (a[q * m + q] - a[p * m + p]) / (2 * a[p * m + q]);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int r = 0; r < m; r++) {
                    double arp = a[r * m + p], arq = a[r * m + q];
                    a[r * m + p] = c * arp - s * arq, a[r * m + q] = s * arp + c * arq;
                }
                for (int r = 0; r < m; r++) {
                    double apr = a[p * m + r], aqr = a[q * m + r];
                    a[p * m + r] = c * apr - s * aqr, a[q * m + r] = s * apr + c * aqr;
                }
                for (int r = 0; r < m; r++) {
                    double vrp = v[r * m + p], vrq = v[r * m + q];
                    v[r * m + p] = c * vrp - s * vrq, v[r * m + q] = s * vrp + c * vrq;
                }
            }
    }
    for (int i = 0; i < m; i++) w[i] = a[i * m + i];
}

/* Orthonormalise the columns of q (n, m), row-major, by modified Gram-Schmidt against v0 and each other. */
static void orthonormalise(double *q, int64_t n, int m, const double *v0)
{
    for (int c = 0; c < m; c++) {
        for (int pass = 0; pass < 2; pass++) {
            double dot = 0;
            for (int64_t i = 0; i < n; i++) dot += q[i * m + c] * v0[i];
            for (int64_t i = 0; i < n; i++) q[i * m + c] -= dot * v0[i];
            for (int b = 0; b < c; b++) {
                dot = 0;
                for (int64_t i = 0; i < n; i++) dot += q[i * m + c] * q[i * m + b];
                for (int64_t i = 0; i < n; i++) q[i * m + c] -= dot * q[i * m + b];
            }
        }
        double nr = 0;
        for (int64_t i = 0; i < n; i++) nr += q[i * m + c] * q[i * m + c];
        nr = sqrt(nr);
        for (int64_t i = 0; i < n; i++) q[i * m + c] = nr > 0 ? q[i * m + c] / nr : 0;
    }
}

/*
 * The dim eigenvectors of the normalised Laplacian L = I - D^-1/2 A D^-1/2 with
 * the smallest eigenvalues after the trivial one: the largest of
 * S = (I + D^-1/2 A D^-1/2)/2 after v0 = D^1/2 1. Subspace iteration on S with
 * v0 deflated and Rayleigh-Ritz every few steps, to umap-learn's tolerance
 * (eigsh tol 1e-4). Returns 0, or -1 if it did not converge.
 */
static int spectral_layout(const struct coo *g, int dim, struct ctk_rng *rng, float *out)
{
    int64_t n = g->n;
    int m = dim + 4 < n - 1 ? dim + 4 : (int)(n - 1); /* a few guard vectors speed convergence */
    if (m < dim) return -1;
    double *deg = xcalloc((size_t)n, sizeof *deg), *v0 = xmallocarray((size_t)n, sizeof *v0);
    for (int64_t e = 0; e < g->nnz; e++) deg[g->row[e]] += g->val[e];
    double nv = 0;
    for (int64_t i = 0; i < n; i++) nv += deg[i];
    for (int64_t i = 0; i < n; i++) v0[i] = sqrt(deg[i] / nv), deg[i] = deg[i] > 0 ? 1 / sqrt(deg[i]) : 0;
    double *q = xmallocarray((size_t)(n * m), sizeof *q), *z = xmallocarray((size_t)(n * m), sizeof *z);
    for (int64_t i = 0; i < n * m; i++) q[i] = ctk_rng_normal(rng);
    orthonormalise(q, n, m, v0);
    double *t = xmallocarray((size_t)(m * m), sizeof *t), *w = xmallocarray((size_t)m, sizeof *w),
           *vv = xmallocarray((size_t)(m * m), sizeof *vv), *prev = xcalloc((size_t)m, sizeof *prev);
    int ok = 0;
    for (int it = 0; it < 1000 && !ok; it++) {
        /* z = S q */
        for (int64_t i = 0; i < n * m; i++) z[i] = 0.5 * q[i];
        for (int64_t e = 0; e < g->nnz; e++) {
            double s = 0.5 * deg[g->row[e]] * g->val[e] * deg[g->col[e]];
            const double *qc = q + g->col[e] * m;
            double *zr = z + g->row[e] * m;
            for (int c = 0; c < m; c++) zr[c] += s * qc[c];
        }
        if (it % 10 == 9) {
            /* Rayleigh-Ritz: T = q^T S q, rotate q onto its eigenvectors */
            for (int a = 0; a < m; a++)
                for (int b = 0; b < m; b++) {
                    double s = 0;
                    for (int64_t i = 0; i < n; i++) s += q[i * m + a] * z[i * m + b];
                    t[a * m + b] = s;
                }
            for (int a = 0; a < m; a++)
                for (int b = a + 1; b < m; b++) t[a * m + b] = t[b * m + a] = (t[a * m + b] + t[b * m + a]) / 2;
            jacobi_eigen(t, m, w, vv);
            /* order by eigenvalue, largest first */
            int ord[64];
            for (int a = 0; a < m; a++) ord[a] = a;
            for (int a = 0; a < m; a++)
                for (int b = a + 1; b < m; b++)
                    if (w[ord[b]] > w[ord[a]]) {
                        int tmp = ord[a];
                        ord[a] = ord[b], ord[b] = tmp;
                    }
            double delta = 0;
            for (int a = 0; a < dim; a++) delta = fmax(delta, fabs(w[ord[a]] - prev[a]));
            for (int a = 0; a < m; a++) prev[a] = w[ord[a]];
            /* residual check of the wanted vectors: ||S x - w x|| for x = q V */
            double *row = xmallocarray((size_t)m, sizeof *row), *rz = xmallocarray((size_t)m, sizeof *rz);
            for (int64_t i = 0; i < n; i++) {
                for (int a = 0; a < m; a++) {
                    double s = 0, sz = 0;
                    for (int b = 0; b < m; b++) s += q[i * m + b] * vv[b * m + ord[a]], sz += z[i * m + b] * vv[b * m + ord[a]];
                    row[a] = s, rz[a] = sz;
                }
                for (int a = 0; a < m; a++) q[i * m + a] = row[a], z[i * m + a] = rz[a];
            }
            double res = 0;
            for (int a = 0; a < dim; a++) {
                double r2 = 0;
                for (int64_t i = 0; i < n; i++) {
                    double r = z[i * m + a] - prev[a] * q[i * m + a];
                    r2 += r * r;
                }
                res = fmax(res, sqrt(r2));
            }
            free(row);
            free(rz);
            if (res < 1e-4 || (delta < 1e-10 && it > 100)) ok = 1;
        }
        if (!ok) {
            double *s = q;
            q = z, z = s;
            orthonormalise(q, n, m, v0);
        }
    }
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < dim; c++) out[i * dim + c] = (float)q[i * m + c];
    free(deg);
    free(v0);
    free(q);
    free(z);
    free(t);
    free(w);
    free(vv);
    free(prev);
    return 0;
}

/* ---- SGD with negative sampling (optimize_layout_euclidean) ----------------------- */

struct layout {
    float *head;          /* (n_head, dim) embedding being optimised */
    const float *tail;    /* (n_tail, dim) embedding edges point into (== head when fitting) */
    int64_t n_tail;
    int dim;
    int move_other;
    const int64_t *ehead, *etail;
    const double *epochs_per_sample;
    int64_t nedges;
    double a, b, gamma, initial_alpha, neg_rate;
    int n_epochs;
};

/* umap-learn's clip of each gradient coordinate to [-4, 4]. */
static inline ctk_v4sf clip4v(ctk_v4sf v)
{
    const ctk_v4sf hi = {4, 4, 4, 4};
    return ctk_v4_max(ctk_v4_min(v, hi), -hi);
}

/*
 * One sample of edge cur -> oth, then nneg negative samples: cur pulled
 * towards oth (and oth towards cur when move_other), pushed away from nneg
 * random tail points, as umap-learn's _optimize_layout_euclidean_single_epoch.
 * umap-learn moves cur after each of them, so that every power waits on the
 * one before; here they are scored four at a time from the same position,
 * in the four lanes of a vector (the positive sample in lane 0 of the first
 * four), and their steps added: a step is at most 4 alpha a coordinate, so
 * the scores barely differ. One power d^2b serves both the attraction
 * -2ab d^2(b-1) / (1 + a d^2b), with d^2(b-1) = d^2b / d^2, and the
 * repulsion 2 gamma b / ((0.001 + d^2) (1 + a d^2b)). A lane without a
 * sample points at cur itself: distance 0, no step, as for a duplicate.
 */
static inline __attribute__((always_inline)) void sample_edge_dim(const struct layout *L, float *cur, float *oth,
                                                                   int64_t nneg, float alpha, struct ctk_rng *rng,
                                                                   int dim)
{
    float a = (float)L->a, b = (float)L->b, gamma2b = 2.0f * (float)L->gamma * b, ab2 = -2.0f * a * b;
    const ctk_v4sf zero = {0, 0, 0, 0};
    ctk_v4sf diff[64]; /* n_components <= 64 */
    for (int64_t p0 = 0; p0 <= nneg; p0 += 4) {
        const float *o[4];
        for (int q = 0; q < 4; q++) {
            int64_t p = p0 + q; /* 0: the positive sample, 1 .. nneg: the negative ones */
            o[q] = p == 0 ? oth : p <= nneg ? L->tail + (int64_t)ctk_rng_index(rng, (uint32_t)L->n_tail) * dim : cur;
        }
        ctk_v4sf dd = zero;
        for (int c = 0; c < dim; c++) {
            diff[c] = cur[c] - (ctk_v4sf){o[0][c], o[1][c], o[2][c], o[3][c]};
            dd += diff[c] * diff[c];
        }
        ctk_v4sf pb = ctk_pow_fast4(dd, b);
        ctk_v4sf coef = gamma2b / ((0.001f + dd) * (a * pb + 1.0f));
        if (p0 == 0) coef[0] = ab2 * pb[0] / (dd[0] * (a * pb[0] + 1.0f));
        coef = (ctk_v4sf)((ctk_v4si)coef & (dd > zero)); /* zero where dd is 0 */
        for (int c = 0; c < dim; c++) {
            ctk_v4sf g = clip4v(coef * diff[c]) * alpha;
            if (p0 == 0 && L->move_other) oth[c] -= g[0];
            cur[c] += g[0] + g[1] + g[2] + g[3];
        }
    }
}

/* The common 2-D layout compiled apart: dim a constant, its loops unrolled into registers. */
static void sample_edge(const struct layout *L, float *cur, float *oth, int64_t nneg, float alpha,
                        struct ctk_rng *rng)
{
    if (L->dim == 2)
        sample_edge_dim(L, cur, oth, nneg, alpha, rng, 2);
    else
        sample_edge_dim(L, cur, oth, nneg, alpha, rng, L->dim);
}

/* One epoch over edges [lo, hi): sample what is due. */
static void sgd_epoch(const struct layout *L, int epoch, float alpha, int64_t lo, int64_t hi, double *next_sample,
                      double *next_neg, struct ctk_rng *rng)
{
    int dim = L->dim;
    for (int64_t i = lo; i < hi; i++) {
        if (next_sample[i] > epoch || L->epochs_per_sample[i] <= 0) continue;
        double eps_neg = L->epochs_per_sample[i] / L->neg_rate;
        int64_t nneg = (int64_t)((epoch - next_neg[i]) / eps_neg);
        sample_edge(L, L->head + L->ehead[i] * dim, (float *)L->tail + L->etail[i] * dim, nneg, alpha, rng);
        next_sample[i] += L->epochs_per_sample[i];
        next_neg[i] += (double)nneg * eps_neg;
    }
}

struct sgd_run {
    const struct layout *L;
    int epoch;
    float alpha;
    double *next_sample, *next_neg;
    struct ctk_rng rng[CTK_MAX_THREADS]; /* one generator a range of edges */
};

static void sgd_range(void *arg, int t, int64_t lo, int64_t hi)
{
    struct sgd_run *r = arg;
    sgd_epoch(r->L, r->epoch, r->alpha, lo, hi, r->next_sample, r->next_neg, &r->rng[t]);
}

/*
 * Run every epoch. Deterministic: one thread, one generator. Otherwise the
 * edges are split among threads that update the embedding without locks
 * (Hogwild, as umap-learn's parallel=True): faster, not repeatable.
 */
static void optimize_layout(const struct layout *L, uint64_t seed, int threads, int deterministic, int verbose)
{
    struct sgd_run *r = xcalloc(1, sizeof *r);
    r->L = L;
    r->next_sample = xmallocarray((size_t)L->nedges, sizeof *r->next_sample);
    r->next_neg = xmallocarray((size_t)L->nedges, sizeof *r->next_neg);
    for (int64_t i = 0; i < L->nedges; i++) {
        r->next_sample[i] = L->epochs_per_sample[i];
        r->next_neg[i] = L->epochs_per_sample[i] / L->neg_rate;
    }
    if (deterministic || threads < 1) threads = 1;
    for (int t = 0; t < CTK_MAX_THREADS; t++) ctk_rng_seed_stream(&r->rng[t], seed, (uint64_t)t + 1);
    for (int epoch = 0; epoch < L->n_epochs; epoch++) {
        r->epoch = epoch;
        r->alpha = (float)(L->initial_alpha * (1.0 - (double)epoch / L->n_epochs));
        ctk_parallel_for(L->nedges, threads, sgd_range, r);
        if (verbose && (epoch % 10 == 0 || epoch == L->n_epochs - 1))
            ctk_progress("epoch %d/%d", epoch + 1, L->n_epochs);
    }
    if (verbose) ctk_progress_done();
    free(r->next_sample);
    free(r->next_neg);
    free(r);
}

/* make_epochs_per_sample: an edge of weight w is sampled n_epochs * w / max(w) times. */
static double *epochs_per_sample(const double *w, int64_t m, int n_epochs)
{
    double mx = 0;
    for (int64_t i = 0; i < m; i++) mx = w[i] > mx ? w[i] : mx;
    double *eps = xmallocarray((size_t)m, sizeof *eps);
    for (int64_t i = 0; i < m; i++) {
        double ns = n_epochs * (w[i] / mx);
        eps[i] = ns > 0 ? n_epochs / ns : -1;
    }
    return eps;
}

/* ---- fit ------------------------------------------------------------------------------ */

static int check_opts(const struct ctk_umap_opts *o, int64_t n, struct ctk_err *e)
{
    if (o->n_neighbors < 2) return ctk_err_set(e, "n_neighbors must be at least 2 (it is %d)", o->n_neighbors);
    if (o->n_components < 1 || o->n_components > 64)
        return ctk_err_set(e, "n_components must be from 1 to 64 (it is %d)", o->n_components);
    if (o->min_dist < 0 || o->spread <= 0 || o->min_dist > o->spread)
        return ctk_err_set(e, "min_dist (%g) must be from 0 to spread (%g)", o->min_dist, o->spread);
    if (o->learning_rate <= 0 || o->negative_sample_rate < 0 || o->n_epochs < 0)
        return ctk_err_set(e, "learning_rate must be positive, negative_sample_rate and n_epochs not negative");
    if (n > INT32_MAX) /* NN-descent and the negative samples index points in 32 bits */
        return ctk_err_set(e, "%lld points are too many (at most %d)", (long long)n, INT32_MAX);
    if (n <= o->n_neighbors)
        return ctk_err_set(e, "%lld points are too few for n_neighbors %d (need more points than neighbours)",
                           (long long)n, o->n_neighbors);
    return 0;
}

/* The graph's edges below max/n_epochs are dropped (simplicial_set_embedding). */
static void prune(struct coo *g, int n_epochs)
{
    double mx = 0;
    for (int64_t i = 0; i < g->nnz; i++) mx = g->val[i] > mx ? g->val[i] : mx;
    int64_t m = 0;
    for (int64_t i = 0; i < g->nnz; i++)
        if (g->val[i] >= mx / n_epochs) g->row[m] = g->row[i], g->col[m] = g->col[i], g->val[m] = g->val[i], m++;
    g->nnz = m;
}

int ctk_umap_fit(const float *x, int64_t n, int64_t d, const struct ctk_umap_opts *o, float *out,
                 struct ctk_umap_model *model, struct ctk_err *e)
{
    if (check_opts(o, n, e) < 0) return -1;
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i])) return ctk_err_set(e, "row %lld has a non-finite value", (long long)(i / d));
    int k = o->n_neighbors, dim = o->n_components;
    int n_epochs = o->n_epochs ? o->n_epochs : n <= 10000 ? 500 : 200;
    struct ctk_rng rng;
    ctk_rng_seed(&rng, o->seed);

    int64_t *idx = xmallocarray((size_t)(n * k), sizeof *idx);
    float *dist = xmallocarray((size_t)(n * k), sizeof *dist);
    if (o->verbose) ctk_progress("nearest neighbours of %lld points", (long long)n);
    knn_graph(x, n, d, o, idx, dist);
    double *sigma = xmallocarray((size_t)n, sizeof *sigma), *rho = xmallocarray((size_t)n, sizeof *rho);
    smooth_knn_dist(dist, n, k, o->local_connectivity, sigma, rho);
    struct coo g;
    fuzzy_simplicial_set(idx, dist, n, k, sigma, rho, o->set_op_mix_ratio, &g);
    free(idx);
    free(dist);
    free(sigma);
    free(rho);
    prune(&g, n_epochs);

    /* initialisation, scaled as simplicial_set_embedding does */
    int spectral = !o->random_init && components(&g) == 1;
    if (o->verbose) ctk_progress("%s initialisation", spectral ? "spectral" : "random");
    if (spectral && spectral_layout(&g, dim, &rng, out) == 0) {
        double mx = 0;
        for (int64_t i = 0; i < n * dim; i++) mx = fmax(mx, fabs(out[i]));
        double expansion = mx > 0 ? 10.0 / mx : 1;
        for (int64_t i = 0; i < n * dim; i++) out[i] = (float)(out[i] * expansion + 0.0001 * ctk_rng_normal(&rng));
    } else {
        for (int64_t i = 0; i < n * dim; i++) out[i] = (float)(-10.0 + 20.0 * ctk_rng_double(&rng));
    }
    for (int c = 0; c < dim; c++) {
        double mn = INFINITY, mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) mn = fmin(mn, out[i * dim + c]), mx = fmax(mx, out[i * dim + c]);
        double span = mx > mn ? mx - mn : 1;
        for (int64_t i = 0; i < n; i++) out[i * dim + c] = (float)(10.0 * (out[i * dim + c] - mn) / span);
    }

    struct layout L = {0};
    ctk_umap_find_ab(o->spread, o->min_dist, &L.a, &L.b);
    double *eps = epochs_per_sample(g.val, g.nnz, n_epochs);
    L.head = out, L.tail = out, L.n_tail = n, L.dim = dim, L.move_other = 1;
    L.ehead = g.row, L.etail = g.col, L.epochs_per_sample = eps, L.nedges = g.nnz;
    L.gamma = o->repulsion_strength, L.initial_alpha = o->learning_rate, L.neg_rate = o->negative_sample_rate;
    L.n_epochs = n_epochs;
    if (L.neg_rate <= 0) L.neg_rate = 1e-300; /* no negative samples: the divisions give none */
    optimize_layout(&L, ctk_rng_next(&rng), o->threads, o->deterministic, o->verbose);
    free(eps);
    coo_free(&g);

    if (model) {
        model->opts = *o;
        model->a = L.a, model->b = L.b, model->n = n, model->d = d;
        model->x = xmallocarray((size_t)(n * d), sizeof *model->x);
        memcpy(model->x, x, sizeof *x * (size_t)(n * d));
        model->emb = xmallocarray((size_t)(n * dim), sizeof *model->emb);
        memcpy(model->emb, out, sizeof *out * (size_t)(n * dim));
    }
    return 0;
}

/* ---- transform ------------------------------------------------------------------------- */

/*
 * umap-learn's transform: the new points' k nearest training points, their
 * membership strengths (smooth_knn_dist with local_connectivity - 1), an
 * initial position at the strength-weighted mean of those neighbours'
 * embeddings, then SGD moving only the new points (n_epochs: a third of the
 * model's, or 100 / 30 by size) at a quarter of the learning rate.
 */
int ctk_umap_transform(const struct ctk_umap_model *M, const float *y, int64_t m, float *out, struct ctk_err *e)
{
    const struct ctk_umap_opts *o = &M->opts;
    int k = o->n_neighbors, dim = o->n_components;
    if (m == 0) return 0;
    for (int64_t i = 0; i < m * M->d; i++)
        if (!isfinite(y[i])) return ctk_err_set(e, "row %lld has a non-finite value", (long long)(i / M->d));
    int64_t *idx = xmallocarray((size_t)(m * k), sizeof *idx);
    float *sc = xmallocarray((size_t)(m * k), sizeof *sc), *dist = xmallocarray((size_t)(m * k), sizeof *dist);
    struct ctk_knn *s = ctk_knn_new(y, m, M->d, k, o->metric, -1, o->threads);
    for (int64_t b = 0; b < M->n; b += 4096) ctk_knn_add(s, M->x + b * M->d, M->n - b < 4096 ? M->n - b : 4096, b);
    ctk_knn_result(s, idx, sc);
    ctk_knn_free(s);
    for (int64_t i = 0; i < m * k; i++) dist[i] = o->metric == CTK_METRIC_COSINE ? fmaxf(0.0f, 1.0f - sc[i]) : sc[i];
    free(sc);
    double *sigma = xmallocarray((size_t)m, sizeof *sigma), *rho = xmallocarray((size_t)m, sizeof *rho);
    /* as umap-learn: local connectivity one less, the first neighbour skipped in the sum */
    double lc = o->local_connectivity - 1;
    smooth_knn_dist(dist, m, k, lc > 0 ? lc : 0, sigma, rho);
    int n_epochs = o->n_epochs ? o->n_epochs / 3 : M->n <= 10000 ? 100 : 30;
    if (n_epochs < 1) n_epochs = 1;
    int64_t ne = m * k;
    int64_t *eh = xmallocarray((size_t)ne, sizeof *eh), *et = xmallocarray((size_t)ne, sizeof *et);
    double *w = xmallocarray((size_t)ne, sizeof *w), mx = 0;
    for (int64_t i = 0; i < m; i++) {
        double tot = 0;
        for (int j = 0; j < k; j++) {
            double dd = dist[i * k + j] - rho[i];
            double v = dd <= 0 || sigma[i] == 0 ? 1.0 : exp(-dd / sigma[i]);
            eh[i * k + j] = i, et[i * k + j] = idx[i * k + j], w[i * k + j] = v;
            tot += v;
            mx = fmax(mx, v);
        }
        for (int c = 0; c < dim; c++) {
            double acc = 0;
            for (int j = 0; j < k; j++)
                if (idx[i * k + j] >= 0) acc += w[i * k + j] / tot * M->emb[idx[i * k + j] * dim + c];
            out[i * dim + c] = (float)acc;
        }
    }
    for (int64_t i = 0; i < ne; i++)
        if (w[i] < mx / n_epochs || et[i] < 0) w[i] = 0;
    double *eps = epochs_per_sample(w, ne, n_epochs);
    struct layout L = {out, M->emb, M->n, dim, 0, eh, et, eps, ne, M->a, M->b, o->repulsion_strength,
                       o->learning_rate / 4, o->negative_sample_rate > 0 ? o->negative_sample_rate : 1e-300,
                       n_epochs};
    optimize_layout(&L, o->seed ^ 0x7472616e73666f72ULL, o->threads, o->deterministic, 0);
    free(eps);
    free(eh);
    free(et);
    free(w);
    free(idx);
    free(dist);
    free(sigma);
    free(rho);
    return 0;
}

void ctk_umap_model_free(struct ctk_umap_model *M)
{
    free(M->x);
    free(M->emb);
    M->x = M->emb = NULL;
}
