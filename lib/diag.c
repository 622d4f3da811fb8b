/*
 * diag.c -- measurements of the geometry of an embedding space (see diag.h).
 *
 * The formulas, with u = x/|x| the unit rows:
 *   alignment   E_pos |u - v|^2                       (Wang & Isola 2020, alpha = 2)
 *   uniformity  log E_{i<j} exp(-2 |u_i - u_j|^2)      (Wang & Isola 2020, t = 2)
 *   mean cosine (|sum u|^2 - sum |u|^2) / (n (n-1))   exact over all pairs, one pass
 *   silhouette  (b - a) / max(a, b) with cosine distance 1 - cos, averaged over rows
 *               (Rousseeuw 1987; scikit-learn's silhouette_samples)
 *   effective rank exp(-sum p log p), p = s / sum s    (Roy & Vetterli 2007)
 */
#include "config.h"
#include "diag.h"
#include "hash.h"
#include "rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (shipped inside OpenBLAS), Fortran calling convention with the
 * hidden lengths of the character arguments that gfortran appends. */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
                    const int *lda, double *w, double *work, const int *lwork,
                    int *iwork, const int *liwork, int *info, size_t ljobz, size_t luplo);

#define ACC_BLOCK 1024
#define GRAM_BLOCK 256

/* --- one pass over every row ------------------------------------------------ */

void ctk_diag_acc_init(struct ctk_diag_acc *a, int d)
{
    memset(a, 0, sizeof *a);
    a->d = d;
    a->norm_min = INFINITY;
    a->norm_max = 0;
    a->mean = xcalloc((size_t)d, sizeof(double));
    a->scatter = xmallocarray((size_t)d * d, sizeof(double));
    memset(a->scatter, 0, (size_t)d * d * sizeof(double));
    a->block = ACC_BLOCK;
    a->ubuf = xmallocarray((size_t)a->block * d, sizeof(double));
    a->sbuf = xmallocarray((size_t)d * d + d, sizeof(double));
}

void ctk_diag_acc_free(struct ctk_diag_acc *a)
{
    free(a->mean);
    free(a->scatter);
    free(a->ccount);
    free(a->csum);
    free(a->ubuf);
    free(a->sbuf);
    memset(a, 0, sizeof *a);
}

static void grow_classes(struct ctk_diag_acc *a, int need)
{
    if (need <= a->ccap) return;
    int cap = a->ccap ? a->ccap : 8;
    while (cap < need) cap *= 2;
    a->ccount = xreallocarray(a->ccount, (size_t)cap, sizeof *a->ccount);
    a->csum = xreallocarray(a->csum, (size_t)cap * a->d, sizeof *a->csum);
    memset(a->ccount + a->ccap, 0, (size_t)(cap - a->ccap) * sizeof *a->ccount);
    memset(a->csum + (size_t)a->ccap * a->d, 0, (size_t)(cap - a->ccap) * a->d * sizeof *a->csum);
    a->ccap = cap;
}

/* Merge the nb unit rows in a->ubuf into the mean and scatter (Chan et al. 1979). */
static void merge_block(struct ctk_diag_acc *a, int64_t nb)
{
    int d = a->d;
    double *u = a->ubuf, *s = a->sbuf, *mb = a->sbuf + (size_t)d * d;
    memset(mb, 0, (size_t)d * sizeof *mb);
    for (int64_t i = 0; i < nb; i++)
        for (int k = 0; k < d; k++) mb[k] += u[i * d + k];
    for (int k = 0; k < d; k++) mb[k] /= (double)nb;
    for (int64_t i = 0; i < nb; i++)
        for (int k = 0; k < d; k++) u[i * d + k] -= mb[k];
    /* s = U^T U over the centred block (upper triangle) */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)nb, 1.0, u, d, 0.0, s, d);
    double na = (double)a->n, nt = na + (double)nb, f = na * (double)nb / nt;
    for (int i = 0; i < d; i++) {
        double di = mb[i] - a->mean[i];
        for (int j = i; j < d; j++) {
            double dj = mb[j] - a->mean[j];
            a->scatter[(size_t)i * d + j] += s[(size_t)i * d + j] + di * dj * f;
        }
    }
    for (int k = 0; k < d; k++) a->mean[k] += (mb[k] - a->mean[k]) * (double)nb / nt;
    a->n += nb;
}

void ctk_diag_acc_add(struct ctk_diag_acc *a, const float *x, const int32_t *y, int64_t n)
{
    int d = a->d;
    int64_t nb = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        a->rows++;
        int64_t bad = 0;
        double ss = 0;
        for (int k = 0; k < d; k++) {
            if (!isfinite(r[k])) bad++;
            else ss += (double)r[k] * r[k];
        }
        if (bad) {
            a->nonfinite_rows++;
            a->nonfinite_values += bad;
            continue;
        }
        double nr = sqrt(ss);
        a->norm_sum += nr;
        a->norm_sumsq += ss;
        if (nr < a->norm_min) a->norm_min = nr;
        if (nr > a->norm_max) a->norm_max = nr;
        if (nr == 0) {
            a->zero_rows++;
            continue;
        }
        double *u = a->ubuf + (size_t)nb * d;
        for (int k = 0; k < d; k++) u[k] = r[k] / nr;
        if (y && y[i] >= 0) {
            grow_classes(a, y[i] + 1);
            if (y[i] + 1 > a->nclass) a->nclass = y[i] + 1;
            a->ccount[y[i]]++;
            double *cs = a->csum + (size_t)y[i] * d;
            for (int k = 0; k < d; k++) cs[k] += u[k];
        }
        if (++nb == a->block) {
            merge_block(a, nb);
            nb = 0;
        }
    }
    if (nb) merge_block(a, nb);
}

double ctk_diag_acc_mean_cosine(const struct ctk_diag_acc *a)
{
    if (a->n < 2) return NAN;
    double n = (double)a->n, s2 = 0;
    for (int k = 0; k < a->d; k++) s2 += a->mean[k] * a->mean[k];
    return (s2 * n * n - n) / (n * (n - 1));
}

void ctk_diag_acc_variance(const struct ctk_diag_acc *a, double *var)
{
    for (int k = 0; k < a->d; k++)
        var[k] = a->n ? a->scatter[(size_t)k * a->d + k] / (double)a->n : NAN;
}

double ctk_diag_acc_total_variance(const struct ctk_diag_acc *a)
{
    if (!a->n) return NAN;
    double t = 0;
    for (int k = 0; k < a->d; k++) t += a->scatter[(size_t)k * a->d + k];
    return t / (double)a->n;
}

int ctk_diag_acc_spectrum(const struct ctk_diag_acc *a, double *eig, struct ctk_err *e)
{
    int d = a->d, info = 0, lwork = -1, liwork = -1, iw;
    if (a->n < 1) return ctk_err_set(e, "no usable rows: the spectrum needs at least one");
    double *c = xmallocarray((size_t)d * d, sizeof(double)), wq;
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++)
            c[(size_t)i * d + j] = c[(size_t)j * d + i] = a->scatter[(size_t)i * d + j] / (double)a->n;
    dsyevd_("N", "U", &d, c, &d, eig, &wq, &lwork, &iw, &liwork, &info, 1, 1);
    if (info == 0) {
        lwork = (int)wq;
        liwork = iw;
        double *work = xmallocarray((size_t)lwork, sizeof(double));
        int *iwork = xmallocarray((size_t)(liwork > 1 ? liwork : 1), sizeof(int));
        dsyevd_("N", "U", &d, c, &d, eig, work, &lwork, iwork, &liwork, &info, 1, 1);
        free(work);
        free(iwork);
    }
    free(c);
    if (info != 0) return ctk_err_set(e, "LAPACK dsyevd failed (info %d) on the %dx%d covariance", info, d, d);
    /* ascending -> descending; round-off below zero -> 0 */
    for (int i = 0, j = d - 1; i < j; i++, j--) {
        double t = eig[i];
        eig[i] = eig[j];
        eig[j] = t;
    }
    for (int i = 0; i < d; i++)
        if (eig[i] < 0) eig[i] = 0;
    return 0;
}

void ctk_diag_acc_classes(const struct ctk_diag_acc *a, struct ctk_diag_class *out, double *cc)
{
    int d = a->d, C = a->nclass;
    double *nrm = xcalloc((size_t)(C ? C : 1), sizeof(double));
    for (int c = 0; c < C; c++) {
        const double *s = a->csum + (size_t)c * d;
        double s2 = 0;
        for (int k = 0; k < d; k++) s2 += s[k] * s[k];
        nrm[c] = sqrt(s2);
        double m = (double)a->ccount[c];
        out[c].size = a->ccount[c];
        out[c].intra_cos = m >= 2 ? (s2 - m) / (m * (m - 1)) : NAN;
        out[c].rms_dist = m >= 1 ? sqrt(fmax(0, 1 - s2 / (m * m))) : NAN;
    }
    for (int c = 0; c < C; c++)
        for (int b = 0; b < C; b++) {
            double dot = 0;
            const double *s = a->csum + (size_t)c * d, *t = a->csum + (size_t)b * d;
            if (nrm[c] > 0 && nrm[b] > 0) {
                for (int k = 0; k < d; k++) dot += s[k] * t[k];
                cc[(size_t)c * C + b] = dot / (nrm[c] * nrm[b]);
            } else
                cc[(size_t)c * C + b] = NAN;
        }
    for (int c = 0; c < C; c++) {
        int best = -1;
        for (int b = 0; b < C; b++)
            if (b != c && a->ccount[b] && a->ccount[c] &&
                (best < 0 || cc[(size_t)c * C + b] > cc[(size_t)c * C + best]))
                best = b;
        out[c].nearest = best;
        if (best < 0) {
            out[c].nearest_cos = out[c].cross_cos = out[c].margin = NAN;
            continue;
        }
        double dot = 0;
        const double *s = a->csum + (size_t)c * d, *t = a->csum + (size_t)best * d;
        for (int k = 0; k < d; k++) dot += s[k] * t[k];
        out[c].nearest_cos = cc[(size_t)c * C + best];
        out[c].cross_cos = dot / ((double)a->ccount[c] * (double)a->ccount[best]);
        out[c].margin = out[c].intra_cos - out[c].cross_cos;
    }
    free(nrm);
}

double ctk_diag_acc_label_alignment(const struct ctk_diag_acc *a)
{
    /* |u - v|^2 = 2 - 2 cos for unit rows; sum over pairs of one class of cos
     * is (|s_c|^2 - m) / 2 for unordered pairs. */
    double pairs = 0, sumd = 0;
    for (int c = 0; c < a->nclass; c++) {
        double m = (double)a->ccount[c];
        if (m < 2) continue;
        const double *s = a->csum + (size_t)c * a->d;
        double s2 = 0;
        for (int k = 0; k < a->d; k++) s2 += s[k] * s[k];
        double p = m * (m - 1) / 2;
        pairs += p;
        sumd += 2 * p - (s2 - m);
    }
    return pairs > 0 ? sumd / pairs : NAN;
}

/* --- spectrum summaries --------------------------------------------------------- */

double ctk_diag_top_share(const double *eig, int d, int k)
{
    double t = 0, s = 0;
    for (int i = 0; i < d; i++) {
        t += eig[i];
        if (i < k) s += eig[i];
    }
    return t > 0 ? s / t : NAN;
}

double ctk_diag_effective_rank(const double *eig, int d)
{
    double t = 0, h = 0;
    for (int i = 0; i < d; i++) t += sqrt(eig[i]);
    if (!(t > 0)) return NAN;
    for (int i = 0; i < d; i++) {
        double p = sqrt(eig[i]) / t;
        if (p > 0) h -= p * log(p);
    }
    return exp(h);
}

/* --- reservoir ---------------------------------------------------------------------- */

void ctk_diag_reservoir_init(struct ctk_diag_reservoir *r, int d, int64_t cap, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->d = d;
    r->cap = cap;
    ctk_rng_seed(&r->rng, seed);
}

void ctk_diag_reservoir_free(struct ctk_diag_reservoir *r)
{
    free(r->x);
    free(r->y);
    memset(r, 0, sizeof *r);
}

void ctk_diag_reservoir_add(struct ctk_diag_reservoir *r, const float *x, int32_t y)
{
    int64_t slot;
    r->seen++;
    if (r->n < r->cap) {
        if (r->n == r->alloc) { /* grow as rows come, up to cap */
            r->alloc = r->alloc ? 2 * r->alloc : 1024;
            if (r->alloc > r->cap) r->alloc = r->cap;
            r->x = xreallocarray(r->x, (size_t)r->alloc, (size_t)r->d * sizeof(float));
            r->y = xreallocarray(r->y, (size_t)r->alloc, sizeof(int32_t));
        }
        slot = r->n++;
    } else {
        slot = (int64_t)ctk_rng_below(&r->rng, (uint64_t)r->seen);
        if (slot >= r->cap) return;
    }
    memcpy(r->x + (size_t)slot * r->d, x, (size_t)r->d * sizeof(float));
    r->y[slot] = y;
}

int64_t ctk_diag_sample_rows(int64_t npairs)
{
    if (npairs < 1) return 2;
    int64_t r = (int64_t)floor((1 + sqrt(1 + 8.0 * (double)npairs)) / 2);
    while (r > 2 && r * (r - 1) / 2 > npairs) r--;
    while ((r + 1) * r / 2 <= npairs) r++;
    return r < 2 ? 2 : r;
}

/* --- pairwise figures ------------------------------------------------------------------ */

/* Unit rows of x in double: u (n, D). */
static double *unit_rows(const float *x, int64_t n, int d)
{
    double *u = xmallocarray((size_t)n * d, sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        double ss = 0;
        for (int k = 0; k < d; k++) ss += (double)r[k] * r[k];
        double nr = sqrt(ss);
        for (int k = 0; k < d; k++) u[(size_t)i * d + k] = nr > 0 ? r[k] / nr : 0;
    }
    return u;
}

/* Insert (g, j) into the top-k list (sims descending) of length *len. */
static void topk_insert(double *sim, int32_t *idx, int *len, int k, double g, int32_t j)
{
    int p = *len;
    if (p == k) {
        if (!(g > sim[k - 1])) return;
        p = k - 1;
    } else
        (*len)++;
    while (p > 0 && g > sim[p - 1]) {
        sim[p] = sim[p - 1];
        idx[p] = idx[p - 1];
        p--;
    }
    sim[p] = g;
    idx[p] = j;
}

void ctk_diag_pairwise(struct ctk_diag_pairwise *p, const float *x, const int32_t *y,
                       int64_t n, int d, int nclass, const double *centroids, int k)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->pairs = n * (n - 1) / 2;
    p->nclass = y ? nclass : 0;
    p->uniformity = p->mean_cos = p->silhouette = p->knn_acc = NAN;
    int C = p->nclass;
    double *u = unit_rows(x, n, d);
    double *own = NULL;
    if (C) {
        p->csize = xcalloc((size_t)C, sizeof *p->csize);
        p->cdist = xcalloc((size_t)C, sizeof *p->cdist);
        p->confusion = xcalloc((size_t)C * C, sizeof *p->confusion);
        for (int64_t i = 0; i < n; i++) p->csize[y[i]]++;
        if (!centroids) {
            own = xcalloc((size_t)C * d, sizeof(double));
            for (int64_t i = 0; i < n; i++)
                for (int q = 0; q < d; q++) own[(size_t)y[i] * d + q] += u[(size_t)i * d + q];
            for (int c = 0; c < C; c++)
                for (int q = 0; q < d; q++)
                    if (p->csize[c]) own[(size_t)c * d + q] /= (double)p->csize[c];
            centroids = own;
        }
        for (int64_t i = 0; i < n; i++) {
            const double *c = centroids + (size_t)y[i] * d, *r = u + (size_t)i * d;
            double s = 0;
            for (int q = 0; q < d; q++) s += (r[q] - c[q]) * (r[q] - c[q]);
            p->cdist[y[i]] += sqrt(s);
        }
        for (int c = 0; c < C; c++) p->cdist[c] = p->csize[c] ? p->cdist[c] / (double)p->csize[c] : NAN;
    }
    int present = 0;
    for (int c = 0; c < C; c++) present += p->csize[c] > 0;
    int kk = k < n - 1 ? k : (int)(n - 1);
    p->k = k;
    int do_knn = C && kk >= 1;
    int do_sil = C && present >= 2 && present <= n - 1;

    int64_t B = GRAM_BLOCK < n ? GRAM_BLOCK : n;
    double *g = xmallocarray((size_t)B * (n ? n : 1), sizeof(double));
    double *csumd = C ? xmallocarray((size_t)C, sizeof(double)) : NULL;
    double *tsim = xmallocarray((size_t)(kk > 0 ? kk : 1), sizeof(double));
    int32_t *tidx = xmallocarray((size_t)(kk > 0 ? kk : 1), sizeof(int32_t));
    int64_t *votes = C ? xmallocarray((size_t)C, sizeof(int64_t)) : NULL;
    double usum = 0, csum = 0, silsum = 0;
    int64_t correct = 0;
    for (int64_t i0 = 0; i0 < n; i0 += B) {
        int64_t nb = n - i0 < B ? n - i0 : B;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)n, d, 1.0,
                    u + (size_t)i0 * d, d, u, d, 0.0, g, (int)n);
        for (int64_t bi = 0; bi < nb; bi++) {
            int64_t i = i0 + bi;
            const double *gi = g + (size_t)bi * n;
            for (int64_t j = i + 1; j < n; j++) {
                double dd = 2 - 2 * gi[j]; /* |u_i - u_j|^2 of unit rows */
                usum += exp(-2 * (dd > 0 ? dd : 0));
                csum += gi[j];
            }
            if (do_sil) {
                memset(csumd, 0, (size_t)C * sizeof(double));
                for (int64_t j = 0; j < n; j++) {
                    if (j == i) continue;
                    double dist = 1 - gi[j];
                    csumd[y[j]] += dist < 0 ? 0 : dist > 2 ? 2 : dist;
                }
                int yi = y[i];
                double s = 0;
                if (p->csize[yi] > 1) {
                    double a = csumd[yi] / (double)(p->csize[yi] - 1), b = INFINITY;
                    for (int c = 0; c < C; c++)
                        if (c != yi && p->csize[c] && csumd[c] / (double)p->csize[c] < b)
                            b = csumd[c] / (double)p->csize[c];
                    double m = a > b ? a : b;
                    s = m > 0 ? (b - a) / m : 0;
                }
                silsum += s;
            }
            if (do_knn) {
                int len = 0;
                for (int64_t j = 0; j < n; j++)
                    if (j != i) topk_insert(tsim, tidx, &len, kk, gi[j], (int32_t)j);
                memset(votes, 0, (size_t)C * sizeof(int64_t));
                for (int t = 0; t < len; t++) votes[y[tidx[t]]]++;
                int best = 0;
                for (int c = 1; c < C; c++)
                    if (votes[c] > votes[best]) best = c;
                p->confusion[(size_t)y[i] * C + best]++;
                correct += best == y[i];
            }
        }
    }
    if (n >= 2) {
        p->uniformity = log(usum / (double)p->pairs);
        p->mean_cos = csum / (double)p->pairs;
    }
    if (do_sil) p->silhouette = silsum / (double)n;
    if (do_knn) p->knn_acc = (double)correct / (double)n;
    free(g);
    free(csumd);
    free(tsim);
    free(tidx);
    free(votes);
    free(own);
    free(u);
}

void ctk_diag_pairwise_free(struct ctk_diag_pairwise *p)
{
    free(p->confusion);
    free(p->csize);
    free(p->cdist);
    memset(p, 0, sizeof *p);
}

/* --- whole-matrix forms ------------------------------------------------------------------ */

void ctk_diag_pair_cosines(double *cos, const float *a, const float *b, int64_t n, int d)
{
    for (int64_t i = 0; i < n; i++) {
        const float *p = a + (size_t)i * d, *q = b + (size_t)i * d;
        double pp = 0, qq = 0, pq = 0;
        for (int k = 0; k < d; k++) {
            pp += (double)p[k] * p[k];
            qq += (double)q[k] * q[k];
            pq += (double)p[k] * q[k];
        }
        cos[i] = (pp > 0 && qq > 0 && isfinite(pp + qq + pq)) ? pq / (sqrt(pp) * sqrt(qq)) : NAN;
    }
}

double ctk_diag_alignment(const float *a, const float *b, int64_t n, int d)
{
    if (n < 1) return NAN;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = a + (size_t)i * d, *q = b + (size_t)i * d;
        double pp = 0, qq = 0;
        for (int k = 0; k < d; k++) {
            pp += (double)p[k] * p[k];
            qq += (double)q[k] * q[k];
        }
        pp = sqrt(pp);
        qq = sqrt(qq);
        double dd = 0;
        for (int k = 0; k < d; k++) {
            double t = p[k] / pp - q[k] / qq;
            dd += t * t;
        }
        s += dd;
    }
    return s / (double)n;
}

double ctk_diag_uniformity(const float *x, int64_t n, int d)
{
    struct ctk_diag_pairwise p;
    ctk_diag_pairwise(&p, x, NULL, n, d, 0, NULL, 0);
    double r = p.uniformity;
    ctk_diag_pairwise_free(&p);
    return r;
}

double ctk_diag_silhouette(const float *x, const int32_t *y, int64_t n, int d, int nclass)
{
    struct ctk_diag_pairwise p;
    ctk_diag_pairwise(&p, x, y, n, d, nclass, NULL, 1);
    double r = p.silhouette;
    ctk_diag_pairwise_free(&p);
    return r;
}

double ctk_diag_knn_accuracy(const float *x, const int32_t *y, int64_t n, int d, int nclass, int k)
{
    struct ctk_diag_pairwise p;
    ctk_diag_pairwise(&p, x, y, n, d, nclass, NULL, k);
    double r = p.knn_acc;
    ctk_diag_pairwise_free(&p);
    return r;
}

/* --- ranks ------------------------------------------------------------------------------- */

struct vi {
    double v;
    int64_t i;
};

static int cmp_vi(const void *a, const void *b)
{
    const struct vi *p = a, *q = b;
    if (p->v < q->v) return -1;
    if (p->v > q->v) return 1;
    return (p->i > q->i) - (p->i < q->i);
}

void ctk_diag_rank(double *rank, const double *x, int64_t n)
{
    struct vi *t = xmallocarray((size_t)(n ? n : 1), sizeof *t);
    for (int64_t i = 0; i < n; i++) t[i] = (struct vi){x[i], i};
    qsort(t, (size_t)n, sizeof *t, cmp_vi);
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && t[j + 1].v == t[i].v) j++;
        double r = (double)(i + j) / 2 + 1; /* average of ranks i+1 .. j+1 */
        for (int64_t q = i; q <= j; q++) rank[t[q].i] = r;
        i = j + 1;
    }
    free(t);
}

double ctk_diag_spearman(const double *x, const double *y, int64_t n)
{
    if (n < 2) return NAN;
    double *rx = xmallocarray((size_t)n, sizeof(double)), *ry = xmallocarray((size_t)n, sizeof(double));
    ctk_diag_rank(rx, x, n);
    ctk_diag_rank(ry, y, n);
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) {
        mx += rx[i];
        my += ry[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = rx[i] - mx, b = ry[i] - my;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    free(rx);
    free(ry);
    return (sxx > 0 && syy > 0) ? sxy / sqrt(sxx * syy) : NAN;
}

/* --- class names ------------------------------------------------------------------------------ */

void ctk_diag_labels_init(struct ctk_diag_labels *l)
{
    memset(l, 0, sizeof *l);
    l->hcap = 64;
    l->hash = xmallocarray((size_t)l->hcap, sizeof(int));
    for (int i = 0; i < l->hcap; i++) l->hash[i] = -1;
}

void ctk_diag_labels_free(struct ctk_diag_labels *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    free(l->hash);
    memset(l, 0, sizeof *l);
}

static void rehash(struct ctk_diag_labels *l)
{
    free(l->hash);
    l->hcap *= 2;
    l->hash = xmallocarray((size_t)l->hcap, sizeof(int));
    for (int i = 0; i < l->hcap; i++) l->hash[i] = -1;
    for (int c = 0; c < l->n; c++) {
        uint64_t h = ctk_fnv1a64(CTK_FNV1A64_OFFSET, l->names[c], strlen(l->names[c])) & (uint64_t)(l->hcap - 1);
        while (l->hash[h] >= 0) h = (h + 1) & (uint64_t)(l->hcap - 1);
        l->hash[h] = c;
    }
}

int ctk_diag_labels_intern(struct ctk_diag_labels *l, const char *name, size_t len)
{
    if (2 * (l->n + 1) > l->hcap) rehash(l);
    uint64_t mask = (uint64_t)(l->hcap - 1), h = ctk_fnv1a64(CTK_FNV1A64_OFFSET, name, len) & mask;
    for (; l->hash[h] >= 0; h = (h + 1) & mask) {
        const char *s = l->names[l->hash[h]];
        if (strlen(s) == len && memcmp(s, name, len) == 0) return l->hash[h];
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->names = xreallocarray(l->names, (size_t)l->cap, sizeof(char *));
    }
    char *s = xmalloc(len + 1);
    memcpy(s, name, len);
    s[len] = 0;
    l->names[l->n] = s;
    l->hash[h] = l->n;
    return l->n++;
}
