/*
 * test_umap.c -- the kernels under ctk-umap's speed: the fast power of
 * lib/simd.h against libm's pow in double; random projection trees (the
 * leaves partition the points, leaves are small, a seed repeats the tree);
 * NN-descent's recall against the exact k-NN of lib/knn.c, a different
 * algorithm, on clustered and on uniform data, for both metrics and on
 * several threads; and ctk_umap_fit with a seed giving the same bits twice.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "knn.h"
#include "nndescent.h"
#include "rng.h"
#include "simd.h"
#include "umap.h"
#include "check.h"

static void test_pow(void)
{
    double worst = 0;
    for (int i = 0; i <= 6000; i++) {
        float x = (float)pow(10.0, -30 + 60.0 * i / 6000);
        for (float b = -2.0f; b <= 2.0f; b += 0.125f) {
            double ref = pow((double)x, (double)b);
            if (ref > 1e37 || ref < 1e-37) continue; /* clamped to float's normal range */
            double got = ctk_pow_fast(x, b);
            worst = fmax(worst, fabs(got / ref - 1));
        }
    }
    printf("pow_fast         max relative error %.3g\n", worst);
    CHECK(worst < 1e-5, "ctk_pow_fast relative error %g", worst);
    ctk_v4sf v = ctk_pow_fast4((ctk_v4sf){0.5f, 2.0f, 1e-3f, 77.0f}, 0.9f);
    const float xs[4] = {0.5f, 2.0f, 1e-3f, 77.0f};
    for (int l = 0; l < 4; l++)
        CHECK(fabs(v[l] / pow(xs[l], 0.9) - 1) < 1e-5, "ctk_pow_fast4 lane %d: %g", l, v[l]);
    CHECK(ctk_pow_fast(0.0f, 0.9f) > 0 && ctk_pow_fast(0.0f, 0.9f) < 1e-30f, "0^0.9 is not tiny");
    CHECK(isfinite(ctk_pow_fast(0.0f, -2.0f)) && isfinite(ctk_pow_fast(1e-45f, 2.0f)), "pow_fast: not finite");
}

/* n points in d dimensions: c Gaussian clusters (c > 0), or uniform in the cube (c = 0). */
static float *points(int64_t n, int64_t d, int c, uint64_t seed)
{
    struct ctk_rng r;
    ctk_rng_seed(&r, seed);
    float *centre = xmallocarray((size_t)((c > 0 ? c : 1) * d), sizeof *centre);
    for (int64_t i = 0; i < (c > 0 ? c : 1) * d; i++) centre[i] = ctk_rng_normal_f32(&r, 0, 3);
    float *x = xmallocarray((size_t)(n * d), sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = c > 0 ? (int64_t)ctk_rng_below(&r, (uint64_t)c) : 0;
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = c > 0 ? centre[k * d + j] + ctk_rng_normal_f32(&r, 0, 1) : ctk_rng_float(&r);
    }
    free(centre);
    return x;
}

static void test_rp_tree(void)
{
    int64_t n = 3000, d = 24;
    float *x = points(n, d, 5, 11);
    int32_t *perm = xmallocarray((size_t)n, sizeof *perm), *perm2 = xmallocarray((size_t)n, sizeof *perm2);
    int64_t *start = xmallocarray((size_t)n + 1, sizeof *start), *start2 = xmallocarray((size_t)n + 1, sizeof *start2);
    for (int cosine = 0; cosine <= 1; cosine++) {
        int64_t nl = ctk_rp_tree(x, n, d, cosine, 20, 5, perm, start);
        char *seen = xcalloc((size_t)n, 1);
        int ok = 1, small = 1;
        for (int64_t i = 0; i < n; i++) {
            if (perm[i] < 0 || perm[i] >= n || seen[perm[i]]) ok = 0;
            else seen[perm[i]] = 1;
        }
        for (int64_t l = 0; l < nl; l++)
            if (start[l + 1] - start[l] > 20 || start[l + 1] <= start[l]) small = 0;
        CHECK(ok, "rp tree (cosine %d): perm is not a permutation", cosine);
        CHECK(start[0] == 0 && start[nl] == n && small, "rp tree (cosine %d): leaves do not tile 0..n in 1..20", cosine);
        CHECK(nl >= n / 20, "rp tree: %lld leaves for %lld points of leaf size 20", (long long)nl, (long long)n);
        int64_t nl2 = ctk_rp_tree(x, n, d, cosine, 20, 5, perm2, start2);
        CHECK(nl2 == nl && !memcmp(perm, perm2, sizeof *perm * (size_t)n), "rp tree: the same seed, another tree");
        printf("rp_tree          cosine %d: %lld leaves\n", cosine, (long long)nl);
        free(seen);
    }
    /* all points equal: no hyperplane separates them, the nodes are halved */
    for (int64_t i = 0; i < n * d; i++) x[i] = 1.0f;
    int64_t nl = ctk_rp_tree(x, n, d, 0, 20, 5, perm, start);
    int small = 1;
    for (int64_t l = 0; l < nl; l++) small &= start[l + 1] - start[l] <= 20;
    CHECK(small && start[nl] == n, "rp tree of equal points: a leaf larger than 20");
    free(x);
    free(perm);
    free(perm2);
    free(start);
    free(start2);
}

/* Share of the exact k-1 neighbours (the point itself left out) that NN-descent finds. */
static double recall(const float *x, int64_t n, int64_t d, int k, enum ctk_metric m, int threads)
{
    int64_t *ei = xmallocarray((size_t)(n * (k - 1)), sizeof *ei), *ai = xmallocarray((size_t)(n * k), sizeof *ai);
    float *es = xmallocarray((size_t)(n * (k - 1)), sizeof *es), *ad = xmallocarray((size_t)(n * k), sizeof *ad);
    ctk_knn_search(x, n, x, n, d, k - 1, m, 1, threads, ei, es);
    struct ctk_nndescent_opts o;
    ctk_nndescent_opts_default(&o);
    o.metric = m, o.seed = 3, o.threads = threads;
    ctk_nndescent(x, n, d, k, &o, ai, ad);
    int64_t hit = 0, self_first = 1;
    for (int64_t i = 0; i < n; i++) {
        self_first &= ai[i * k] == i;
        for (int a = 0; a < k - 1; a++)
            for (int b = 1; b < k; b++)
                if (ei[i * (k - 1) + a] == ai[i * k + b]) {
                    hit++;
                    break;
                }
    }
    CHECK(self_first, "NN-descent: a point is not its own first neighbour");
    free(ei);
    free(ai);
    free(es);
    free(ad);
    return (double)hit / (double)(n * (k - 1));
}

static void test_nndescent(void)
{
    int64_t n = 4000, d = 32;
    /* uniform in 8 dimensions: no clusters for the trees to find, yet a recall NN-descent can reach */
    float *clustered = points(n, d, 8, 21), *uniform = points(n, 8, 0, 22);
    for (int threads = 1; threads <= 2; threads++) {
        double r1 = recall(clustered, n, d, 15, CTK_METRIC_EUCLIDEAN, threads);
        double r2 = recall(clustered, n, d, 15, CTK_METRIC_COSINE, threads);
        double r3 = recall(uniform, n, 8, 15, CTK_METRIC_EUCLIDEAN, threads);
        printf("nndescent        threads %d recall: clustered %.4f, cosine %.4f, uniform %.4f\n", threads, r1, r2, r3);
        CHECK(r1 >= 0.95 && r2 >= 0.95 && r3 >= 0.95, "NN-descent recall below 0.95");
    }
    free(clustered);
    free(uniform);
}

/* A seed gives the same bits twice, through NN-descent and the SGD. */
static void test_fit_repeats(void)
{
    int64_t n = 600, d = 16;
    float *x = points(n, d, 3, 31);
    float *a = xmallocarray((size_t)(n * 2), sizeof *a), *b = xmallocarray((size_t)(n * 2), sizeof *b);
    struct ctk_umap_opts o;
    ctk_umap_opts_default(&o);
    o.seed = 9, o.deterministic = 1, o.threads = 2, o.exact_max = 100, o.n_epochs = 50;
    struct ctk_err e;
    CHECK(ctk_umap_fit(x, n, d, &o, a, NULL, &e) == 0, "fit: %s", e.msg);
    CHECK(ctk_umap_fit(x, n, d, &o, b, NULL, &e) == 0, "fit: %s", e.msg);
    CHECK(!memcmp(a, b, sizeof *a * (size_t)(n * 2)), "ctk_umap_fit with a seed differs run to run");
    free(x);
    free(a);
    free(b);
}

int main(void)
{
    test_pow();
    test_rp_tree();
    test_nndescent();
    test_fit_repeats();
    return check_exit("test_umap");
}
