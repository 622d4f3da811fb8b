/*
 * test_hdbscan.c -- HDBSCAN against the hdbscan library (fixtures made by
 * tests/ref/hdbscan_ref.py): adjusted Rand index >= 0.95 on every case, with
 * the share of identical labels and the largest probability difference
 * printed; and a case small enough to check by hand.
 */
#include "config.h"
#include "hdbscan.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Adjusted Rand index (Hubert & Arabie 1985) of two labelings; -1 is a label like any other. */
static double ari(const int32_t *a, const int32_t *b, int64_t n)
{
    int32_t amax = 0, bmax = 0;
    for (int64_t i = 0; i < n; i++) {
        if (a[i] + 1 > amax) amax = a[i] + 1;
        if (b[i] + 1 > bmax) bmax = b[i] + 1;
    }
    int ra = amax + 1, rb = bmax + 1;
    double *m = calloc((size_t)ra * rb, sizeof *m), *sa = calloc((size_t)ra, sizeof *sa),
           *sb = calloc((size_t)rb, sizeof *sb);
    for (int64_t i = 0; i < n; i++) m[(a[i] + 1) * rb + (b[i] + 1)]++, sa[a[i] + 1]++, sb[b[i] + 1]++;
    double idx = 0, ca = 0, cb = 0;
    for (int i = 0; i < ra * rb; i++) idx += m[i] * (m[i] - 1) / 2;
    for (int i = 0; i < ra; i++) ca += sa[i] * (sa[i] - 1) / 2;
    for (int i = 0; i < rb; i++) cb += sb[i] * (sb[i] - 1) / 2;
    double total = (double)n * (n - 1) / 2, expected = ca * cb / total, maxi = (ca + cb) / 2;
    free(m);
    free(sa);
    free(sb);
    return maxi == expected ? 1.0 : (idx - expected) / (maxi - expected);
}

static void check_fixture(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/hdbscan/%s.txt", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        CHECK(0, "cannot open %s", path);
        return;
    }
    long long n, d, mcs, ms;
    char sel[16], metric[16];
    if (fscanf(f, "%lld %lld %lld %lld %15s %15s", &n, &d, &mcs, &ms, sel, metric) != 6) {
        CHECK(0, "%s: bad header", path);
        fclose(f);
        return;
    }
    float *x = malloc(sizeof *x * n * d), *prob = malloc(sizeof *prob * n), *rprob = malloc(sizeof *rprob * n);
    int32_t *lab = malloc(sizeof *lab * n), *rlab = malloc(sizeof *rlab * n);
    for (long long i = 0; i < n; i++) {
        for (long long k = 0; k < d; k++)
            if (fscanf(f, "%f", &x[i * d + k]) != 1) CHECK(0, "%s: short data", path);
        if (fscanf(f, "%d %f", &rlab[i], &rprob[i]) != 2) CHECK(0, "%s: short data", path);
    }
    fclose(f);
    struct ctk_hdbscan_opts o = {mcs, ms, strcmp(sel, "leaf") ? CTK_HDBSCAN_EOM : CTK_HDBSCAN_LEAF,
                                 strcmp(metric, "cosine") ? CTK_HDBSCAN_EUCLIDEAN : CTK_HDBSCAN_COSINE, 2};
    struct ctk_err e;
    int64_t nc = ctk_hdbscan(x, n, d, &o, lab, prob, &e);
    CHECK(nc >= 0, "%s: %s", name, e.msg);
    int32_t rmax = -1;
    long same = 0;
    double pdiff = 0;
    for (long long i = 0; i < n; i++) {
        if (rlab[i] > rmax) rmax = rlab[i];
        if (lab[i] == rlab[i]) {
            same++;
            if (fabs(prob[i] - rprob[i]) > pdiff) pdiff = fabs(prob[i] - rprob[i]);
        }
    }
    double a = ari(lab, rlab, n);
    printf("%-14s n=%lld clusters %lld (reference %d)  ARI %.4f  same label %.1f%%  max prob diff %.2g\n", name,
           n, (long long)nc, rmax + 1, a, 100.0 * same / n, pdiff);
    CHECK(a >= 0.95, "%s: ARI %.4f below 0.95", name, a);
    free(x);
    free(prob);
    free(rprob);
    free(lab);
    free(rlab);
}

int main(void)
{
    const char *dir = getenv("CTK_SRCDIR");
    if (!dir) dir = ".";
    /* by hand: two groups of three points, far apart; min_cluster_size 3 makes each a cluster */
    float x[] = {0, 0, 0.1f, 0, 0, 0.1f, 10, 10, 10.1f, 10, 10, 10.1f};
    int32_t lab[6];
    float prob[6];
    struct ctk_hdbscan_opts o = {3, 2, CTK_HDBSCAN_EOM, CTK_HDBSCAN_EUCLIDEAN, 1};
    struct ctk_err e;
    int64_t nc = ctk_hdbscan(x, 6, 2, &o, lab, prob, &e);
    CHECK(nc == 2, "hand case: %lld clusters, expected 2", (long long)nc);
    CHECK(lab[0] == lab[1] && lab[1] == lab[2] && lab[3] == lab[4] && lab[4] == lab[5] && lab[0] != lab[3] &&
              lab[0] >= 0 && lab[3] >= 0,
          "hand case: labels %d %d %d / %d %d %d", lab[0], lab[1], lab[2], lab[3], lab[4], lab[5]);
    o.min_cluster_size = 1;
    CHECK(ctk_hdbscan(x, 6, 2, &o, lab, prob, &e) < 0 && strstr(e.msg, "min_cluster_size"),
          "min_cluster_size 1 accepted");

    const char *cases[] = {"blobs2d", "blobs2d_leaf", "blobs8d", "nested"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_fixture(dir, cases[i]);
    return check_exit("test_hdbscan");
}
