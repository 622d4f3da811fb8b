/*
 * knn.c -- exact k nearest neighbours, blocked through sgemm (see knn.h).
 *
 * For a tile of queries x corpus rows, sgemm gives float dot products; a
 * row is a candidate for a query's heap when its float score is within a
 * margin of the heap's worst kept score. The margin bounds the rounding
 * error of a float dot product of length d (Higham, "Accuracy and Stability
 * of Numerical Algorithms", 3.1: |fl(x.y) - x.y| <= d u |x||y|, u = 2^-24),
 * taken twice over. Candidates are scored again in double and kept in a
 * min-heap of size k ordered by (score, index), so the top k is the one a
 * double brute force gives, ties to the smaller index.
 */
#include "knn.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"


struct ctk_knn {
    const float *Q;  /* (nq, d) borrowed */
    int64_t nq, d;
    int k;
    enum ctk_metric metric;
    int64_t self_base;
    int threads;
    double margin;   /* cosine: absolute; euclidean: times (|q|+|x|)^2 */
    double *qn;      /* (nq) |q| in double */
    float *qinv;     /* (nq) 1/|q| (0 for a zero vector) */
    float *qsq;      /* (nq) |q|^2 */
    float *qlen;     /* (nq) |q| */
    struct ctk_hit *heap; /* (nq, k) */
    int *nheap;       /* (nq) */
    float *tile;      /* (CTK_KNN_QBLOCK, CTK_KNN_BLOCK) */
    double *xn;       /* (CTK_KNN_BLOCK) corpus block norms, double */
    float *xinv, *xsq, *xlen; /* (CTK_KNN_BLOCK) */
};

int ctk_metric_parse(const char *s, enum ctk_metric *m)
{
    if (strcmp(s, "cosine") == 0)
        *m = CTK_METRIC_COSINE;
    else if (strcmp(s, "euclidean") == 0)
        *m = CTK_METRIC_EUCLIDEAN;
    else
        return -1;
    return 0;
}

const char *ctk_metric_name(enum ctk_metric m)
{
    return m == CTK_METRIC_COSINE ? "cosine" : "euclidean";
}

/*
 * Double dot products with four partial sums: the additions of one sum wait
 * on each other, four sums keep the FPU busy. The order is fixed, so equal
 * vectors always get equal scores.
 */
static double dot_d(const float *a, const float *b, int64_t d)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t t = 0;
    for (; t + 4 <= d; t += 4) {
        s0 += (double)a[t] * (double)b[t];
        s1 += (double)a[t + 1] * (double)b[t + 1];
        s2 += (double)a[t + 2] * (double)b[t + 2];
        s3 += (double)a[t + 3] * (double)b[t + 3];
    }
    for (; t < d; t++)
        s0 += (double)a[t] * (double)b[t];
    return (s0 + s1) + (s2 + s3);
}

static double sqdist_d(const float *a, const float *b, int64_t d)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t t = 0;
    for (; t + 4 <= d; t += 4) {
        double u0 = (double)a[t] - b[t], u1 = (double)a[t + 1] - b[t + 1];
        double u2 = (double)a[t + 2] - b[t + 2], u3 = (double)a[t + 3] - b[t + 3];
        s0 += u0 * u0;
        s1 += u1 * u1;
        s2 += u2 * u2;
        s3 += u3 * u3;
    }
    for (; t < d; t++) {
        double u = (double)a[t] - b[t];
        s0 += u * u;
    }
    return (s0 + s1) + (s2 + s3);
}

static double norm_d(const float *a, int64_t d)
{
    return sqrt(dot_d(a, a, d));
}

struct ctk_knn *ctk_knn_new(const float *Q, int64_t nq, int64_t d, int k,
                            enum ctk_metric metric, int64_t self_base, int threads)
{
    struct ctk_knn *s = xcalloc(1, sizeof *s);
    s->Q = Q;
    s->nq = nq;
    s->d = d;
    s->k = k;
    s->metric = metric;
    s->self_base = self_base;
    s->threads = threads > 0 ? threads : 1;
    s->margin = 2.0 * (double)(d + 4) * ldexp(1.0, -24) + 1e-6;
    s->qn = xmallocarray(nq > 0 ? nq : 1, sizeof *s->qn);
    s->qinv = xmallocarray(nq > 0 ? nq : 1, sizeof *s->qinv);
    s->qsq = xmallocarray(nq > 0 ? nq : 1, sizeof *s->qsq);
    s->qlen = xmallocarray(nq > 0 ? nq : 1, sizeof *s->qlen);
    for (int64_t i = 0; i < nq; i++) {
        double n = norm_d(Q + i * d, d);
        s->qn[i] = n;
        s->qinv[i] = n > 0 ? (float)(1.0 / n) : 0.0f;
        s->qsq[i] = (float)(n * n);
        s->qlen[i] = (float)n;
    }
    size_t nh;
    if (ctk_mul_overflow((size_t)(nq > 0 ? nq : 1), (size_t)(k > 0 ? k : 1), &nh))
        ctk_die("knn: %lld queries x k=%d is too large", (long long)nq, k);
    s->heap = xmallocarray(nh, sizeof *s->heap);
    s->nheap = xcalloc(nq > 0 ? nq : 1, sizeof *s->nheap);
    s->tile = xmallocarray((size_t)CTK_KNN_QBLOCK * CTK_KNN_BLOCK, sizeof *s->tile);
    s->xn = xmallocarray(CTK_KNN_BLOCK, sizeof *s->xn);
    s->xinv = xmallocarray(CTK_KNN_BLOCK, sizeof *s->xinv);
    s->xsq = xmallocarray(CTK_KNN_BLOCK, sizeof *s->xsq);
    s->xlen = xmallocarray(CTK_KNN_BLOCK, sizeof *s->xlen);
    return s;
}

void ctk_knn_free(struct ctk_knn *s)
{
    if (!s)
        return;
    free(s->qn);
    free(s->qinv);
    free(s->qsq);
    free(s->qlen);
    free(s->heap);
    free(s->nheap);
    free(s->tile);
    free(s->xn);
    free(s->xinv);
    free(s->xsq);
    free(s->xlen);
    free(s);
}

/* One worker's share of a tile: queries q0+r0 .. q0+r1-1 against X (xb rows). */
struct scan_job {
    struct ctk_knn *s;
    const float *X;
    int64_t xb, first, q0, r0, r1;
};

/*
 * For each query row of the tile: the float score of each corpus row, as
 * "larger is nearer", decides with a slack whether to score it in double
 * and offer it to the query's heap.
 */
static void scan_rows(struct scan_job *jb)
{
    struct ctk_knn *s = jb->s;
    const int64_t d = s->d, xb = jb->xb;
    const int k = s->k;
    const int cosine = s->metric == CTK_METRIC_COSINE;
    if (k <= 0)
        return;
    for (int64_t r = jb->r0; r < jb->r1; r++) {
        int64_t i = jb->q0 + r;
        const float *row = s->tile + r * xb;
        const float *q = s->Q + i * d;
        struct ctk_hit *h = s->heap + i * (int64_t)k;
        int n = s->nheap[i];
        int64_t self = s->self_base >= 0 ? s->self_base + i - jb->first : -1;
        const float qinv = s->qinv[i], qsq = s->qsq[i], qlen = s->qlen[i];
        const double qn = s->qn[i];
        double thr = n < k ? -INFINITY : h[0].s;
        for (int64_t j = 0; j < xb; j++) {
            float fs;
            double slack;
            if (cosine) {
                fs = row[j] * qinv * s->xinv[j];
                slack = s->margin;
            } else {
                fs = 2.0f * row[j] - qsq - s->xsq[j];
                float l = qlen + s->xlen[j];
                slack = s->margin * (double)l * l;
            }
            if (!((double)fs >= thr - slack) || j == self)
                continue;
            const float *x = jb->X + j * d;
            /* larger is nearer: cosine, or minus the squared distance */
            struct ctk_hit c = {0, jb->first + j};
            if (cosine) {
                double den = qn * s->xn[j];
                c.s = den > 0 ? dot_d(q, x, d) / den : 0.0;
            } else {
                c.s = -sqdist_d(q, x, d);
            }
            n = (int)ctk_topk_offer(h, n, k, c);
            if (n == k)
                thr = h[0].s;
        }
        s->nheap[i] = n;
    }
}

static void *scan_thread(void *arg)
{
    scan_rows(arg);
    return NULL;
}

/* Scan a tile of qb queries, splitting its rows among the workers. */
static void scan_tile(struct ctk_knn *s, const float *X, int64_t xb, int64_t first,
                      int64_t q0, int64_t qb)
{
    int T = s->threads;
    if (T > qb)
        T = (int)qb;
    if ((double)qb * (double)xb < 65536.0 || T < 1)
        T = 1; /* too little work to be worth a thread */
    if (T > 64)
        T = 64;
    struct scan_job jobs[64];
    pthread_t tid[64];
    for (int t = 0; t < T; t++) {
        jobs[t] = (struct scan_job){s, X, xb, first, q0, qb * t / T, qb * (t + 1) / T};
    }
    int started = 0;
    for (int t = 1; t < T; t++) {
        if (pthread_create(&tid[t], NULL, scan_thread, &jobs[t]) != 0)
            break;
        started = t;
    }
    scan_rows(&jobs[0]);
    for (int t = started + 1; t < T; t++) /* threads that failed to start: do their share here */
        scan_rows(&jobs[t]);
    for (int t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
}

void ctk_knn_add(struct ctk_knn *s, const float *X, int64_t n, int64_t first)
{
    const int64_t d = s->d;
    for (int64_t x0 = 0; x0 < n; x0 += CTK_KNN_BLOCK) {
        int64_t xb = n - x0 < CTK_KNN_BLOCK ? n - x0 : CTK_KNN_BLOCK;
        const float *Xb = X + x0 * d;
        for (int64_t j = 0; j < xb; j++) {
            double nn = norm_d(Xb + j * d, d);
            s->xn[j] = nn;
            s->xinv[j] = nn > 0 ? (float)(1.0 / nn) : 0.0f;
            s->xsq[j] = (float)(nn * nn);
            s->xlen[j] = (float)nn;
        }
        for (int64_t q0 = 0; q0 < s->nq; q0 += CTK_KNN_QBLOCK) {
            int64_t qb = s->nq - q0 < CTK_KNN_QBLOCK ? s->nq - q0 : CTK_KNN_QBLOCK;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qb, (int)xb, (int)d,
                        1.0f, s->Q + q0 * d, (int)d, Xb, (int)d, 0.0f, s->tile, (int)xb);
            scan_tile(s, Xb, xb, first + x0, q0, qb);
        }
    }
}

void ctk_knn_result(const struct ctk_knn *s, int64_t *idx, float *score)
{
    const int k = s->k;
    struct ctk_hit *tmp = xmallocarray(k > 0 ? k : 1, sizeof *tmp);
    for (int64_t i = 0; i < s->nq; i++) {
        int n = s->nheap[i];
        memcpy(tmp, s->heap + i * (int64_t)k, (size_t)n * sizeof *tmp);
        ctk_topk_sort(tmp, n);
        for (int t = 0; t < k; t++) {
            int64_t o = i * (int64_t)k + t;
            if (t < n) {
                if (idx)
                    idx[o] = tmp[t].j;
                if (score)
                    score[o] = s->metric == CTK_METRIC_COSINE ? (float)tmp[t].s
                                                              : (float)sqrt(-tmp[t].s);
            } else {
                if (idx)
                    idx[o] = -1;
                if (score)
                    score[o] = NAN;
            }
        }
    }
    free(tmp);
}

void ctk_knn_search(const float *Q, int64_t nq, const float *X, int64_t nx, int64_t d, int k,
                    enum ctk_metric metric, int self, int threads, int64_t *idx, float *score)
{
    struct ctk_knn *s = ctk_knn_new(Q, nq, d, k, metric, self ? 0 : -1, threads);
    ctk_knn_add(s, X, nx, 0);
    ctk_knn_result(s, idx, score);
    ctk_knn_free(s);
}

/* --- top-k selection ---------------------------------------------------- */

/* a is worse than b: lower score, or equal score and larger index. */
static inline int worse(const struct ctk_hit *a, const struct ctk_hit *b)
{
    return a->s < b->s || (a->s == b->s && a->j > b->j);
}

/* Min-heap on "worse": h[0] is the worst hit kept. */
static void sift_down(struct ctk_hit *h, int64_t n, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct ctk_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(struct ctk_hit *h, int64_t i)
{
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!worse(&h[i], &h[p]))
            return;
        struct ctk_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

int64_t ctk_topk_offer(struct ctk_hit *h, int64_t n, int64_t k, struct ctk_hit c)
{
    if (n < k) {
        h[n] = c;
        sift_up(h, n);
        return n + 1;
    }
    if (worse(&h[0], &c)) {
        h[0] = c;
        sift_down(h, n, 0);
    }
    return n;
}

static int nearer_first(const void *a, const void *b)
{
    const struct ctk_hit *x = a, *y = b;
    if (worse(y, x))
        return -1;
    if (worse(x, y))
        return 1;
    return 0;
}

void ctk_topk_sort(struct ctk_hit *h, int64_t n)
{
    qsort(h, (size_t)n, sizeof *h, nearer_first);
}
