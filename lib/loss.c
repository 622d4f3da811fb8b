/*
 * loss.c -- contrastive losses and their gradients (see loss.h for the
 * definitions; the reference is sentence-transformers' losses module and
 * PyTorch's functional ops they call).
 *
 * Dimension letters: S rows in the batch, K texts per row, D embedding
 * dimension, M = (K - 1) S candidates of MNRL.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "err.h"
#include "loss.h"

static const char *const loss_names[] = {
    [CTK_LOSS_MNRL] = "mnrl",
    [CTK_LOSS_COSINE] = "cosine",
    [CTK_LOSS_CONTRASTIVE] = "contrastive",
    [CTK_LOSS_ONLINE_CONTRASTIVE] = "online-contrastive",
    [CTK_LOSS_TRIPLET] = "triplet",
    [CTK_LOSS_SIMCSE] = "simcse",
};

const char *ctk_loss_name(enum ctk_loss_kind k)
{
    return loss_names[k];
}

int ctk_loss_parse(const char *s, enum ctk_loss_kind *k)
{
    for (size_t i = 0; i < sizeof loss_names / sizeof loss_names[0]; i++)
        if (strcmp(s, loss_names[i]) == 0) {
            *k = (enum ctk_loss_kind)i;
            return 0;
        }
    return -1;
}

void ctk_loss_defaults(struct ctk_loss_opts *o, enum ctk_loss_kind k)
{
    memset(o, 0, sizeof *o);
    o->kind = k;
    o->scale = 20.0;
    o->symmetric = 0;
    if (k == CTK_LOSS_TRIPLET) {
        o->margin = 5.0;
        o->distance = CTK_DIST_EUCLIDEAN;
    } else {
        o->margin = 0.5;
        o->distance = CTK_DIST_COSINE;
    }
}

void ctk_loss_columns(enum ctk_loss_kind k, int *kmin, int *kmax)
{
    switch (k) {
    case CTK_LOSS_MNRL: *kmin = 2; *kmax = -1; break;
    case CTK_LOSS_SIMCSE: *kmin = 2; *kmax = 2; break;
    case CTK_LOSS_TRIPLET: *kmin = 3; *kmax = 3; break;
    default: *kmin = 2; *kmax = 2; break;
    }
}

int ctk_loss_needs_score(enum ctk_loss_kind k)
{
    return k == CTK_LOSS_COSINE || k == CTK_LOSS_CONTRASTIVE || k == CTK_LOSS_ONLINE_CONTRASTIVE;
}

/* --- building blocks --------------------------------------------------- */

/*
 * Row-wise L2 normalisation as torch.nn.functional.normalize (eps 1e-12):
 * xn = x / max(||x||, eps). norm (R) keeps max(||x||, eps) for backward.
 */
static void normalize_forward(double *xn, double *norm, const double *x, int64_t R, int64_t D)
{
    for (int64_t r = 0; r < R; r++) {
        const double *xr = x + r * D;
        double s = 0;
        for (int64_t d = 0; d < D; d++)
            s += xr[d] * xr[d];
        double n = sqrt(s);
        if (n < 1e-12)
            n = 1e-12;
        norm[r] = n;
        for (int64_t d = 0; d < D; d++)
            xn[r * D + d] = xr[d] / n;
    }
}

/*
 * Backward of normalize: with n = ||x|| > eps, d xn / d x = (I - xn xnᵀ) / n,
 * so dx = (dxn - xn (xn·dxn)) / n. Below eps the divisor is the constant eps
 * and dx = dxn / eps. Accumulates into dx.
 */
static void normalize_backward(double *dx, const double *dxn, const double *xn,
                               const double *norm, const double *x, int64_t R, int64_t D)
{
    for (int64_t r = 0; r < R; r++) {
        const double *g = dxn + r * D, *y = xn + r * D;
        double s = 0, xx = 0;
        for (int64_t d = 0; d < D; d++) {
            s += y[d] * g[d];
            xx += x[r * D + d] * x[r * D + d];
        }
        int clamped = sqrt(xx) < 1e-12;
        for (int64_t d = 0; d < D; d++)
            dx[r * D + d] += clamped ? g[d] / norm[r] : (g[d] - y[d] * s) / norm[r];
    }
}

/*
 * torch.nn.functional.cosine_similarity(x, y) for one pair (eps 1e-8):
 * cos = x·y / sqrt(max(|x|^2 |y|^2, eps^2)). With dcos the upstream
 * gradient, accumulates d/dx = dcos (y / (|x||y|) - cos x / |x|^2) and the
 * mirror into dx, dy (when the clamp is active the divisor is constant).
 */
static double cos_pair(const double *x, const double *y, int64_t D)
{
    double xy = 0, xx = 0, yy = 0;
    for (int64_t d = 0; d < D; d++) {
        xy += x[d] * y[d];
        xx += x[d] * x[d];
        yy += y[d] * y[d];
    }
    double den2 = xx * yy;
    return xy / sqrt(den2 > 1e-16 ? den2 : 1e-16);
}

static void cos_pair_backward(double *dx, double *dy, double dcos, const double *x,
                              const double *y, int64_t D)
{
    double xy = 0, xx = 0, yy = 0;
    for (int64_t d = 0; d < D; d++) {
        xy += x[d] * y[d];
        xx += x[d] * x[d];
        yy += y[d] * y[d];
    }
    double den2 = xx * yy;
    if (den2 <= 1e-16) {
        for (int64_t d = 0; d < D; d++) {
            dx[d] += dcos * y[d] / 1e-8;
            dy[d] += dcos * x[d] / 1e-8;
        }
        return;
    }
    double den = sqrt(den2), c = xy / den;
    for (int64_t d = 0; d < D; d++) {
        dx[d] += dcos * (y[d] / den - c * x[d] / xx);
        dy[d] += dcos * (x[d] / den - c * y[d] / yy);
    }
}

#define PAIRWISE_EPS 1e-6 /* torch.nn.functional.pairwise_distance's eps */

/* Distance between x and y (loss.h), for the pair losses. */
static double distance(enum ctk_distance k, const double *x, const double *y, int64_t D)
{
    if (k == CTK_DIST_COSINE)
        return 1.0 - cos_pair(x, y, D);
    double s = 0;
    for (int64_t d = 0; d < D; d++) {
        double t = x[d] - y[d] + PAIRWISE_EPS;
        s += t * t;
    }
    return sqrt(s);
}

/*
 * Backward of distance: cosine: d(1 - cos) = -dcos; euclidean:
 * d ||t|| / dx = t / ||t|| with t = x - y + eps (0 at t = 0, as torch's norm).
 */
static void distance_backward(enum ctk_distance k, double *dx, double *dy, double ddist,
                              const double *x, const double *y, int64_t D)
{
    if (ddist == 0)
        return;
    if (k == CTK_DIST_COSINE) {
        cos_pair_backward(dx, dy, -ddist, x, y, D);
        return;
    }
    double n = distance(k, x, y, D);
    if (n == 0)
        return;
    for (int64_t d = 0; d < D; d++) {
        double g = ddist * (x[d] - y[d] + PAIRWISE_EPS) / n;
        dx[d] += g;
        dy[d] -= g;
    }
}

static double relu(double x)
{
    return x > 0 ? x : 0;
}

/* --- MNRL / InfoNCE ----------------------------------------------------- */

/*
 * Cross-entropy of one row of logits z (n), target t, over the entries with
 * keep[j] (keep == NULL: all), added into dz scaled by w: dz_j += w (p_j -
 * [j == t]). Returns -log p_t.
 */
static double xent_row(const double *z, const unsigned char *keep, int64_t n, int64_t t,
                       double *dz, int64_t dz_stride, double w)
{
    double mx = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        if ((!keep || keep[j]) && z[j] > mx)
            mx = z[j];
    double se = 0;
    for (int64_t j = 0; j < n; j++)
        if (!keep || keep[j])
            se += exp(z[j] - mx);
    double lse = mx + log(se);
    for (int64_t j = 0; j < n; j++)
        if (!keep || keep[j])
            dz[j * dz_stride] += w * exp(z[j] - lse);
    dz[t * dz_stride] -= w;
    return lse - z[t];
}

static double mnrl(const struct ctk_loss_opts *o, int K, int64_t S, int64_t D,
                   const double *emb, double *demb, const int32_t *label, const int32_t *nlabel)
{
    int64_t M = (int64_t)(K - 1) * S;
    double *xn = xmallocarray((size_t)(K * S * D), sizeof(double));
    double *dxn = xcalloc((size_t)(K * S * D), sizeof(double));
    double *norm = xmallocarray((size_t)(K * S), sizeof(double));
    double *z = xmallocarray((size_t)(S * M), sizeof(double));
    double *dz = xcalloc((size_t)(S * M), sizeof(double));
    unsigned char *keep = xmalloc((size_t)(M > S ? M : S));
    const double *an = xn, *cn = xn + S * D;

    normalize_forward(xn, norm, emb, K * S, D);
    /* z = scale * an · cnᵀ  (S, M): cos_sim(anchors, candidates) * scale */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)S, (int)M, (int)D, o->scale, an,
                (int)D, cn, (int)D, 0.0, z, (int)M);

    double w = o->symmetric ? 0.5 / (double)S : 1.0 / (double)S;
    double loss = 0;
    /*
     * anchor i -> candidates: target i; masked: the positives j != i and the
     * hard negatives (any row, i's own too) of anchor i's label
     */
    for (int64_t i = 0; i < S; i++) {
        memset(keep, 1, (size_t)M);
        if (label)
            for (int64_t j = 0; j < S; j++)
                if (j != i && label[j] == label[i])
                    keep[j] = 0;
        if (label && nlabel)
            for (int64_t j = S; j < M; j++)
                if (nlabel[j - S] >= 0 && nlabel[j - S] == label[i])
                    keep[j] = 0;
        loss += w * xent_row(z + i * M, keep, M, i, dz + i * M, 1, w);
    }
    /* positive i -> anchors (column i of z's first S columns): target i */
    if (o->symmetric) {
        double *col = xmallocarray((size_t)S, sizeof(double));
        for (int64_t i = 0; i < S; i++) {
            for (int64_t j = 0; j < S; j++)
                col[j] = z[j * M + i];
            memset(keep, 1, (size_t)S);
            if (label)
                for (int64_t j = 0; j < S; j++)
                    if (j != i && label[j] == label[i])
                        keep[j] = 0;
            loss += w * xent_row(col, keep, S, i, dz + i, M, w);
        }
        free(col);
    }
    /* z = s An Cnᵀ: dAn = s dz Cn, dCn = s dzᵀ An */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)S, (int)D, (int)M, o->scale, dz,
                (int)M, cn, (int)D, 0.0, dxn, (int)D);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)M, (int)D, (int)S, o->scale, dz,
                (int)M, an, (int)D, 0.0, dxn + S * D, (int)D);
    normalize_backward(demb, dxn, xn, norm, emb, K * S, D);

    free(xn);
    free(dxn);
    free(norm);
    free(z);
    free(dz);
    free(keep);
    return loss;
}

/* --- pair and triplet losses ------------------------------------------- */

static double cosine_mse(int64_t S, int64_t D, const double *a, const double *b, double *da,
                         double *db, const double *score)
{
    double loss = 0;
    for (int64_t i = 0; i < S; i++) {
        double c = cos_pair(a + i * D, b + i * D, D), r = c - score[i];
        loss += r * r / (double)S;
        cos_pair_backward(da + i * D, db + i * D, 2.0 * r / (double)S, a + i * D, b + i * D, D);
    }
    return loss;
}

static double contrastive(const struct ctk_loss_opts *o, int64_t S, int64_t D, const double *a,
                          const double *b, double *da, double *db, const double *y)
{
    double loss = 0;
    for (int64_t i = 0; i < S; i++) {
        double d = distance(o->distance, a + i * D, b + i * D, D), h = relu(o->margin - d);
        loss += 0.5 * (y[i] * d * d + (1.0 - y[i]) * h * h) / (double)S;
        double dd = (y[i] * d - (1.0 - y[i]) * h) / (double)S;
        distance_backward(o->distance, da + i * D, db + i * D, dd, a + i * D, b + i * D, D);
    }
    return loss;
}

/*
 * OnlineContrastiveLoss: the thresholds are constants of the batch (torch
 * selects with boolean masks, which carry no gradient).
 */
static double online_contrastive(const struct ctk_loss_opts *o, int64_t S, int64_t D,
                                 const double *a, const double *b, double *da, double *db,
                                 const double *y)
{
    double *dist = xmallocarray((size_t)S, sizeof(double));
    int64_t npos = 0, nneg = 0;
    double pos_max = -INFINITY, neg_min = INFINITY, pos_sum = 0, neg_sum = 0;
    for (int64_t i = 0; i < S; i++) {
        dist[i] = distance(o->distance, a + i * D, b + i * D, D);
        if (y[i] == 1.0) {
            npos++;
            pos_sum += dist[i];
            if (dist[i] > pos_max)
                pos_max = dist[i];
        } else if (y[i] == 0.0) {
            nneg++;
            neg_sum += dist[i];
            if (dist[i] < neg_min)
                neg_min = dist[i];
        }
    }
    double neg_thr = npos > 1 ? pos_max : neg_sum / (double)nneg;
    double pos_thr = nneg > 1 ? neg_min : pos_sum / (double)npos;
    double loss = 0;
    for (int64_t i = 0; i < S; i++) {
        double d = dist[i], dd = 0;
        if (y[i] == 1.0 && d > pos_thr) {
            loss += d * d;
            dd = 2.0 * d;
        } else if (y[i] == 0.0 && d < neg_thr) {
            double h = relu(o->margin - d);
            loss += h * h;
            dd = -2.0 * h;
        }
        distance_backward(o->distance, da + i * D, db + i * D, dd, a + i * D, b + i * D, D);
    }
    free(dist);
    return loss;
}

static double triplet(const struct ctk_loss_opts *o, int64_t S, int64_t D, const double *a,
                      const double *p, const double *n, double *da, double *dp, double *dn)
{
    double loss = 0;
    for (int64_t i = 0; i < S; i++) {
        const double *ai = a + i * D, *pi = p + i * D, *ni = n + i * D;
        double t = distance(o->distance, ai, pi, D) - distance(o->distance, ai, ni, D) + o->margin;
        if (t <= 0)
            continue; /* relu: no gradient at or below the kink, as torch */
        loss += t / (double)S;
        distance_backward(o->distance, da + i * D, dp + i * D, 1.0 / (double)S, ai, pi, D);
        distance_backward(o->distance, da + i * D, dn + i * D, -1.0 / (double)S, ai, ni, D);
    }
    return loss;
}

double ctk_loss_compute(const struct ctk_loss_opts *o, int K, int64_t S, int64_t D,
                        const double *emb, double *demb, const double *score,
                        const int32_t *label)
{
    return ctk_loss_compute_labeled(o, K, S, D, emb, demb, score, label, NULL);
}

double ctk_loss_compute_labeled(const struct ctk_loss_opts *o, int K, int64_t S, int64_t D,
                                const double *emb, double *demb, const double *score,
                                const int32_t *label, const int32_t *nlabel)
{
    int kmin, kmax;
    ctk_loss_columns(o->kind, &kmin, &kmax);
    assert(S >= 1 && D >= 1 && K >= kmin && (kmax < 0 || K <= kmax));
    assert(!ctk_loss_needs_score(o->kind) || score);
    memset(demb, 0, (size_t)(K * S * D) * sizeof(double));
    const double *e0 = emb, *e1 = emb + S * D;
    double *d0 = demb, *d1 = demb + S * D;
    switch (o->kind) {
    case CTK_LOSS_MNRL:
    case CTK_LOSS_SIMCSE:
        return mnrl(o, K, S, D, emb, demb, label, K > 2 ? nlabel : NULL);
    case CTK_LOSS_COSINE:
        return cosine_mse(S, D, e0, e1, d0, d1, score);
    case CTK_LOSS_CONTRASTIVE:
        return contrastive(o, S, D, e0, e1, d0, d1, score);
    case CTK_LOSS_ONLINE_CONTRASTIVE:
        return online_contrastive(o, S, D, e0, e1, d0, d1, score);
    case CTK_LOSS_TRIPLET:
        return triplet(o, S, D, e0, e1, emb + 2 * S * D, d0, d1, demb + 2 * S * D);
    }
    return NAN;
}
