/*
 * test_knn.c -- exact k-NN (lib/knn.c) against a brute force in double.
 *
 * The reference scores every (query, corpus) pair in double, sorts by
 * score (ties by the smaller index) and keeps k. The blocked search must
 * return the same indices, in the same order, and the same scores. Cases:
 * cosine and euclidean; query == corpus excluding self; several query and
 * corpus tiles; corpus blocks offered out of order; vectors of small
 * integers, which make many exact ties; k larger than the corpus; a zero
 * vector.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "knn.h"
#include "rng.h"
#include "check.h"

/* Reproducible data: lib/rng.h, seeded in main. */
static struct ctk_rng rng;

struct ref {
    double s;
    int64_t j;
};

static int ref_cmp(const void *a, const void *b)
{
    const struct ref *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* Brute force: idx/score (nq, k), -1/NAN past the candidates. */
static void brute(const float *Q, int64_t nq, const float *X, int64_t nx, int64_t d, int k,
                  enum ctk_metric m, int self, int64_t *idx, float *score)
{
    struct ref *r = xmallocarray(nx, sizeof *r);
    for (int64_t i = 0; i < nq; i++) {
        int64_t n = 0;
        double qq = 0;
        for (int64_t t = 0; t < d; t++)
            qq += (double)Q[i * d + t] * Q[i * d + t];
        double qn = sqrt(qq);
        for (int64_t j = 0; j < nx; j++) {
            if (self && j == i)
                continue;
            double dot = 0, xx = 0, dd = 0;
            for (int64_t t = 0; t < d; t++) {
                double a = Q[i * d + t], b = X[j * d + t];
                dot += a * b;
                xx += b * b;
                dd += (a - b) * (a - b);
            }
            double xn = sqrt(xx);
            double s;
            if (m == CTK_METRIC_COSINE)
                s = qn * xn > 0 ? dot / (qn * xn) : 0.0;
            else
                s = -dd;
            r[n++] = (struct ref){s, j};
        }
        qsort(r, (size_t)n, sizeof *r, ref_cmp);
        for (int t = 0; t < k; t++) {
            if (t < n) {
                idx[i * k + t] = r[t].j;
                score[i * k + t] = m == CTK_METRIC_COSINE ? (float)r[t].s : (float)sqrt(-r[t].s);
            } else {
                idx[i * k + t] = -1;
                score[i * k + t] = NAN;
            }
        }
    }
    free(r);
}

/* mode 0: ctk_knn_search; 1: corpus blocks offered last first, odd sizes. */
static void check(const char *name, const float *Q, int64_t nq, const float *X, int64_t nx,
                  int64_t d, int k, enum ctk_metric m, int self, int mode, int threads)
{
    size_t nk = (size_t)nq * k;
    int64_t *ri = xmallocarray(nk, sizeof *ri), *gi = xmallocarray(nk, sizeof *gi);
    float *rs = xmallocarray(nk, sizeof *rs), *gs = xmallocarray(nk, sizeof *gs);
    brute(Q, nq, X, nx, d, k, m, self, ri, rs);
    if (mode == 0) {
        ctk_knn_search(Q, nq, X, nx, d, k, m, self, threads, gi, gs);
    } else {
        struct ctk_knn *s = ctk_knn_new(Q, nq, d, k, m, self ? 0 : -1, threads);
        int64_t step = 777;
        int64_t last = (nx - 1) / step * step;
        for (int64_t x0 = last; x0 >= 0; x0 -= step) {
            int64_t n = nx - x0 < step ? nx - x0 : step;
            ctk_knn_add(s, X + x0 * d, n, x0);
        }
        ctk_knn_result(s, gi, gs);
        ctk_knn_free(s);
    }
    int64_t bad = 0;
    double maxd = 0;
    for (size_t t = 0; t < nk; t++) {
        if (ri[t] != gi[t]) {
            if (bad < 5)
                fprintf(stderr, "  %s: query %zu rank %zu: got %lld (%.9g), want %lld (%.9g)\n",
                        name, t / k, t % k, (long long)gi[t], gs[t], (long long)ri[t], rs[t]);
            bad++;
            continue;
        }
        if (ri[t] < 0) {
            if (!isnan(gs[t]))
                bad++;
            continue;
        }
        double df = fabs((double)gs[t] - rs[t]);
        if (df > maxd)
            maxd = df;
    }
    int ok = bad == 0 && maxd <= 1e-6;
    printf("%s %s: nq=%lld nx=%lld d=%lld k=%d: %lld index mismatches, max score diff %.3g\n",
           ok ? "ok  " : "FAIL", name, (long long)nq, (long long)nx, (long long)d, k,
           (long long)bad, maxd);
    if (!ok)
        check_failures++;
    free(ri);
    free(gi);
    free(rs);
    free(gs);
}

static float *randn(int64_t n, int64_t d)
{
    float *a = xmallocarray((size_t)(n * d), sizeof *a);
    ctk_rng_fill_normal(&rng, a, (size_t)(n * d), 0, 1);
    return a;
}

/* Entries in {-1, 0, 1}: many vectors coincide or tie in score. */
static float *ternary(int64_t n, int64_t d)
{
    float *a = xmallocarray((size_t)(n * d), sizeof *a);
    for (int64_t t = 0; t < n * d; t++)
        a[t] = (float)((int)ctk_rng_below(&rng, 3) - 1);
    return a;
}

int main(void)
{
    ctk_rng_seed(&rng, 88172645463325252ULL);
    float *X = randn(5000, 24);
    float *Q = randn(1100, 24);
    check("cosine, 2 query tiles x 2 corpus tiles", Q, 1100, X, 5000, 24, 10,
          CTK_METRIC_COSINE, 0, 0, 2);
    check("euclidean, 2 query tiles x 2 corpus tiles", Q, 1100, X, 5000, 24, 10,
          CTK_METRIC_EUCLIDEAN, 0, 0, 2);
    check("cosine, blocks out of order", Q, 300, X, 5000, 24, 7, CTK_METRIC_COSINE, 0, 1, 1);
    check("euclidean, blocks out of order", Q, 300, X, 5000, 24, 7, CTK_METRIC_EUCLIDEAN, 0, 1, 2);
    check("cosine, query == corpus, self excluded", X, 2000, X, 2000, 24, 15,
          CTK_METRIC_COSINE, 1, 0, 2);
    check("euclidean, query == corpus, self excluded, out of order", X, 2000, X, 2000, 24, 15,
          CTK_METRIC_EUCLIDEAN, 1, 1, 2);

    float *T = ternary(3000, 6);
    check("cosine ties (ternary vectors)", T, 500, T, 3000, 6, 20, CTK_METRIC_COSINE, 0, 0, 2);
    check("euclidean ties (ternary vectors)", T, 500, T, 3000, 6, 20, CTK_METRIC_EUCLIDEAN, 0, 1, 2);
    check("cosine ties, self excluded", T, 3000, T, 3000, 6, 5, CTK_METRIC_COSINE, 1, 1, 2);

    float *S = randn(8, 384);
    memset(S + 3 * 384, 0, 384 * sizeof *S); /* a zero vector */
    check("k larger than the corpus, a zero vector", S, 8, S, 8, 384, 12, CTK_METRIC_COSINE, 1, 0, 1);
    check("k larger than the corpus (euclidean)", S, 8, S, 8, 384, 12, CTK_METRIC_EUCLIDEAN, 0, 0, 1);

    free(X);
    free(Q);
    free(T);
    free(S);
    return check_exit("test_knn");
}
