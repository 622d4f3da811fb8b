/*
 * test_hdbscan.c -- HDBSCAN against the hdbscan library (fixtures made by
 * tests/ref/hdbscan_ref.py): adjusted Rand index >= 0.95 on every case, with
 * the share of identical labels and the largest probability difference
 * the share of identical labels printed and the probabilities compared where
 * the labels agree (clusters matched by overlap); a case small enough to
 * check by hand; the k-d tree against a scan; and the k-d tree path against
 * Prim's on the same distances.
 */
#include "config.h"
#include "hdbscan.h"
#include "kdtree.h"
#include "rng.h"
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

/*
 * Relabels a (clusters 0..K-1, noise -1) by the label of b each cluster
 * overlaps most, so that points can be compared whatever order the two
 * implementations number their clusters in. Noise stays noise.
 */
static void match_labels(int32_t *a, const int32_t *b, int64_t n)
{
    int32_t amax = -1, bmax = -1;
    for (int64_t i = 0; i < n; i++) {
        if (a[i] > amax) amax = a[i];
        if (b[i] > bmax) bmax = b[i];
    }
    int ra = amax + 1, rb = bmax + 2;
    long *m = calloc((size_t)(ra ? ra : 1) * rb, sizeof *m);
    int32_t *to = malloc((size_t)(ra ? ra : 1) * sizeof *to);
    for (int64_t i = 0; i < n; i++)
        if (a[i] >= 0) m[a[i] * rb + b[i] + 1]++;
    for (int k = 0; k < ra; k++) {
        int best = 0;
        for (int j = 1; j < rb; j++)
            if (m[k * rb + j] > m[k * rb + best]) best = j;
        to[k] = best - 1;
    }
    for (int64_t i = 0; i < n; i++)
        if (a[i] >= 0) a[i] = to[a[i]];
    free(m);
    free(to);
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
    double a = ari(lab, rlab, n);
    match_labels(lab, rlab, n);
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
    printf("%-14s n=%lld clusters %lld (reference %d)  ARI %.4f  same label %.1f%%  max prob diff %.2g\n", name,
           n, (long long)nc, rmax + 1, a, 100.0 * same / n, pdiff);
    CHECK(a >= 0.95, "%s: ARI %.4f below 0.95", name, a);
    CHECK(pdiff <= 1e-6, "%s: probabilities differ by %.2g where the labels agree", name, pdiff);
    free(x);
    free(prob);
    free(rprob);
    free(lab);
    free(rlab);
}

/* n points of c Gaussian blobs in d dimensions, every tenth a copy of the one before. */
static float *blobs(int64_t n, int64_t d, int c, uint64_t seed)
{
    struct ctk_rng r;
    ctk_rng_seed(&r, seed);
    float *centre = malloc((size_t)(c * d) * sizeof *centre), *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < c * d; i++) centre[i] = ctk_rng_normal_f32(&r, 0, 8);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = (int64_t)ctk_rng_below(&r, (uint64_t)c);
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = i % 10 == 9 ? x[(i - 1) * d + j] : ctk_rng_normal_f32(&r, centre[k * d + j], 1);
    }
    free(centre);
    return x;
}

/*
 * The k-d tree: its order is a permutation, each node's points lie in its
 * box, leaves hold at most the leaf size, and the k-th neighbour distance
 * equals a scan's, duplicates included.
 */
static void check_kdtree(void)
{
    int64_t n = 1500, d = 4, k = 7;
    float *x = blobs(n, d, 5, 3);
    struct ctk_kdtree t;
    ctk_kdtree_build(&t, x, n, d, 8);
    char *seen = calloc((size_t)n, 1);
    int ok = 1;
    for (int64_t i = 0; i < n; i++) ok &= t.perm[i] >= 0 && t.perm[i] < n && !seen[t.perm[i]]++;
    CHECK(ok, "kdtree: perm is not a permutation");
    for (int64_t node = 0; node < t.nnodes; node++) {
        if (t.left[node] < 0) {
            CHECK(t.end[node] - t.start[node] <= 8, "kdtree: leaf %lld holds %lld points", (long long)node,
                  (long long)(t.end[node] - t.start[node]));
        } else {
            CHECK(t.left[node] > node && t.right[node] > node &&
                      t.start[t.left[node]] == t.start[node] && t.end[t.left[node]] == t.start[t.right[node]] &&
                      t.end[t.right[node]] == t.end[node],
                  "kdtree: node %lld's children do not split its range", (long long)node);
        }
        for (int64_t j = t.start[node]; j < t.end[node]; j++)
            ok &= ctk_kdtree_box_dist2(&t, node, x + t.perm[j] * d) == 0 &&
                  memcmp(t.x + j * d, x + t.perm[j] * d, (size_t)d * sizeof *x) == 0;
    }
    CHECK(ok, "kdtree: a point outside its node's box, or copied wrong");
    struct ctk_hit *heap = malloc((size_t)k * sizeof *heap);
    double *all = malloc((size_t)n * sizeof *all), worst = 0;
    for (int64_t i = 0; i < n; i += 7) {
        int64_t m = 0;
        for (int64_t j = 0; j < n; j++) /* the scan, in input order */
            if (j != t.perm[i]) {
                double s = 0;
                for (int64_t q = 0; q < d; q++) {
                    double a = (double)x[t.perm[i] * d + q] - x[j * d + q];
                    s += a * a;
                }
                all[m++] = s;
            }
        for (int64_t a = 0; a < k; a++) /* partial selection sort: the k smallest */
            for (int64_t b = a + 1; b < m; b++)
                if (all[b] < all[a]) {
                    double tmp = all[a];
                    all[a] = all[b];
                    all[b] = tmp;
                }
        double got = ctk_kdtree_kth_dist2(&t, i, k, heap);
        if (fabs(got - all[k - 1]) > worst) worst = fabs(got - all[k - 1]);
    }
    CHECK(worst == 0, "kdtree: k-th neighbour distance differs from a scan's by %.3g", worst);
    ctk_kdtree_free(&t);
    free(heap);
    free(all);
    free(seen);
    free(x);
}

/*
 * The k-d tree path (Euclidean, <= 16 dimensions) against the scan and
 * Prim path on the same points padded with zeros to 20 dimensions (the same
 * distances to the last bit): the same clusters and probabilities; and the
 * same result with 1 and 2 threads.
 */
static void check_paths(void)
{
    int64_t n = 3000, d = 5, D = 20;
    float *x = blobs(n, d, 6, 11), *xp = calloc((size_t)(n * D), sizeof *xp);
    for (int64_t i = 0; i < n; i++) memcpy(xp + i * D, x + i * d, (size_t)d * sizeof *x);
    int32_t *l1 = malloc((size_t)n * sizeof *l1), *l2 = malloc((size_t)n * sizeof *l2),
            *lp = malloc((size_t)n * sizeof *lp);
    float *p1 = malloc((size_t)n * sizeof *p1), *p2 = malloc((size_t)n * sizeof *p2),
          *pp = malloc((size_t)n * sizeof *pp);
    struct ctk_hdbscan_opts o = {25, 10, CTK_HDBSCAN_EOM, CTK_HDBSCAN_EUCLIDEAN, 1};
    struct ctk_err e;
    int64_t c1 = ctk_hdbscan(x, n, d, &o, l1, p1, &e);
    o.threads = 2;
    int64_t c2 = ctk_hdbscan(x, n, d, &o, l2, p2, &e);
    int64_t cp = ctk_hdbscan(xp, n, D, &o, lp, pp, &e);
    CHECK(c1 >= 2 && c1 == c2 && c1 == cp, "paths: %lld, %lld (2 threads) and %lld (Prim) clusters",
          (long long)c1, (long long)c2, (long long)cp);
    CHECK(memcmp(l1, l2, (size_t)n * sizeof *l1) == 0 && memcmp(p1, p2, (size_t)n * sizeof *p1) == 0,
          "paths: 1 and 2 threads differ");
    double a = ari(l1, lp, n);
    match_labels(lp, l1, n);
    long same = 0;
    double pd = 0;
    for (int64_t i = 0; i < n; i++)
        if (l1[i] == lp[i]) {
            same++;
            if (fabs(p1[i] - pp[i]) > pd) pd = fabs(p1[i] - pp[i]);
        }
    printf("k-d tree vs Prim: n=%lld clusters %lld  ARI %.4f  same label %.1f%%  max prob diff %.2g\n",
           (long long)n, (long long)c1, a, 100.0 * same / n, pd);
    CHECK(a == 1 && same == n && pd == 0, "paths: the k-d tree and Prim's differ");
    free(x);
    free(xp);
    free(l1);
    free(l2);
    free(lp);
    free(p1);
    free(p2);
    free(pp);
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
    check_kdtree();
    check_paths();
    return check_exit("test_hdbscan");
}
