/*
 * test_mine -- the hard-negative selection (mine.h) and BM25 (bm25.h).
 *
 *   1. Every guard, with a candidate list built to trigger it, against
 *      expectations worked out by hand from mine_hard_negatives' rules.
 *   2. Exactness on random data: the blocked search (knn.h) + the
 *      selection give the same negatives as an exhaustive search written
 *      plainly here (every corpus row scored in double, sorted, filtered),
 *      with duplicate vectors so that ties must go to the smaller index.
 *   3. BM25 scores of a hand-computed case (the arithmetic is below).
 *   4. Random sampling: seeded, within the window, all distinct; the
 *      summary figures; the curriculum order and stages.
 * Exit status 1 on any mismatch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm25.h"
#include "err.h"
#include "knn.h"
#include "mine.h"
#include "rng.h"
#include "check.h"

/* Run the selection on (idx, score, why) triples; returns the chosen count. */
static int run(const struct ctk_mine_opts *o, double pos, const double *sc, const int *why, int n,
               int64_t *got, int64_t drops[CTK_MINE_NDROP])
{
    struct ctk_mine_cand c[64], out[64];
    for (int i = 0; i < n; i++)
        c[i] = (struct ctk_mine_cand){i, sc[i], why ? why[i] : CTK_MINE_KEEP};
    struct ctk_rng r;
    ctk_rng_seed(&r, 1);
    memset(drops, 0, CTK_MINE_NDROP * sizeof *drops);
    int k = ctk_mine_select(o, pos, c, n, &r, out, drops);
    for (int i = 0; i < k; i++)
        got[i] = out[i].idx;
    return k;
}

static void expect(const char *what, int k, const int64_t *got, int kw, const int64_t *want)
{
    int ok = k == kw;
    for (int i = 0; ok && i < k; i++)
        ok = got[i] == want[i];
    if (!ok) {
        printf("FAIL %s: got", what);
        for (int i = 0; i < k; i++)
            printf(" %lld", (long long)got[i]);
        printf(", want");
        for (int i = 0; i < kw; i++)
            printf(" %lld", (long long)want[i]);
        printf("\n");
        check_failures++;
    }
}

static void test_guards(void)
{
    /* candidates 0..7, scores falling, listed out of order on purpose */
    const double sc[8] = {0.90, 0.80, 0.70, 0.60, 0.50, 0.40, 0.30, 0.20};
    int64_t got[16], d[CTK_MINE_NDROP];
    struct ctk_mine_opts o;
    int k;

    /* defaults: top 3 of the pool of range_max = 3 */
    ctk_mine_opts_default(&o);
    CHECK(ctk_mine_range_max(&o) == 3, "default range_max %lld, want 3", (long long)ctk_mine_range_max(&o));
    k = run(&o, 0.95, sc, NULL, 8, got, d);
    expect("defaults", k, got, 3, (int64_t[]){0, 1, 2});

    /* exclusions do not count as ranks: self 0, positive 1, duplicate 3, label 4 */
    int why[8] = {CTK_MINE_SELF, CTK_MINE_POSITIVE, CTK_MINE_KEEP, CTK_MINE_DUPLICATE,
                  CTK_MINE_LABEL, CTK_MINE_KEEP, CTK_MINE_KEEP, CTK_MINE_KEEP};
    k = run(&o, 0.95, sc, why, 8, got, d);
    expect("exclusions", k, got, 3, (int64_t[]){2, 5, 6});
    CHECK(d[CTK_MINE_SELF] == 1 && d[CTK_MINE_POSITIVE] == 1 && d[CTK_MINE_DUPLICATE] == 1 &&
              d[CTK_MINE_LABEL] == 1,
          "exclusion counts %lld %lld %lld %lld", (long long)d[0], (long long)d[1], (long long)d[2],
          (long long)d[3]);

    /* range_max: the pool is the 2 nearest, so only 2 even with num 3 */
    o.range_max = 2;
    k = run(&o, 0.95, sc, NULL, 8, got, d);
    expect("range_max", k, got, 2, (int64_t[]){0, 1});

    /* range_min: skip the 2 best survivors of the pool of 5 */
    ctk_mine_opts_default(&o);
    o.range_min = 2;
    o.range_max = 5;
    k = run(&o, 0.95, sc, NULL, 8, got, d);
    expect("range_min", k, got, 3, (int64_t[]){2, 3, 4});
    CHECK(d[CTK_MINE_RANGE_MIN] == 2, "range_min drops %lld, want 2", (long long)d[CTK_MINE_RANGE_MIN]);

    /* margin 0.15 against positive 0.80: keep s <= 0.65 (0.9, 0.8, 0.7 dropped) */
    ctk_mine_opts_default(&o);
    o.margin = 0.15;
    CHECK(ctk_mine_range_max(&o) == 30, "range_max with a margin %lld, want 30",
          (long long)ctk_mine_range_max(&o));
    k = run(&o, 0.80, sc, NULL, 8, got, d);
    expect("margin", k, got, 3, (int64_t[]){3, 4, 5});
    CHECK(d[CTK_MINE_MARGIN] == 3, "margin drops %lld, want 3", (long long)d[CTK_MINE_MARGIN]);
    /* margin 0: the negative may equal the positive's score, not exceed it */
    o.margin = 0;
    k = run(&o, 0.80, sc, NULL, 8, got, d);
    expect("margin 0", k, got, 3, (int64_t[]){1, 2, 3});

    /* relative margin 0.25 against 0.80: keep s <= 0.60 */
    ctk_mine_opts_default(&o);
    o.relative_margin = 0.25;
    k = run(&o, 0.80, sc, NULL, 8, got, d);
    expect("relative margin", k, got, 3, (int64_t[]){3, 4, 5});
    CHECK(d[CTK_MINE_RELATIVE_MARGIN] == 3, "relative margin drops %lld, want 3",
          (long long)d[CTK_MINE_RELATIVE_MARGIN]);

    /* max_score 0.55: 0.9 .. 0.6 dropped */
    ctk_mine_opts_default(&o);
    o.max_score = 0.55;
    k = run(&o, 0.95, sc, NULL, 8, got, d);
    expect("max_score", k, got, 3, (int64_t[]){4, 5, 6});
    CHECK(d[CTK_MINE_MAX_SCORE] == 4, "max_score drops %lld, want 4", (long long)d[CTK_MINE_MAX_SCORE]);

    /* min_score 0.75 with a pool of 5: only 0.9, 0.8 pass; 0.7, 0.6, 0.5 dropped */
    ctk_mine_opts_default(&o);
    o.min_score = 0.75;
    o.range_max = 5;
    k = run(&o, 0.95, sc, NULL, 8, got, d);
    expect("min_score", k, got, 2, (int64_t[]){0, 1});
    CHECK(d[CTK_MINE_MIN_SCORE] == 3, "min_score drops %lld, want 3", (long long)d[CTK_MINE_MIN_SCORE]);

    /* one guard per candidate: margin first, then max_score */
    ctk_mine_opts_default(&o);
    o.margin = 0.05;   /* pos 0.80: drops 0.9, 0.8 */
    o.max_score = 0.65; /* then drops 0.7 */
    k = run(&o, 0.80, sc, NULL, 8, got, d);
    expect("margin + max_score", k, got, 3, (int64_t[]){3, 4, 5});
    CHECK(d[CTK_MINE_MARGIN] == 2 && d[CTK_MINE_MAX_SCORE] == 1, "margin %lld max %lld, want 2 1",
          (long long)d[CTK_MINE_MARGIN], (long long)d[CTK_MINE_MAX_SCORE]);

    /* range_min counts survivors of the guards (mine_hard_negatives' slice) */
    ctk_mine_opts_default(&o);
    o.max_score = 0.75; /* drops 0.9, 0.8 */
    o.range_min = 1;    /* then skips 0.7 */
    o.range_max = 6;
    k = run(&o, 0.95, sc, NULL, 8, got, d);
    expect("range_min after guards", k, got, 3, (int64_t[]){3, 4, 5});

    /* ties: equal scores keep the order given (the search's: smaller index first) */
    {
        struct ctk_mine_cand c[4] = {{7, 0.5, -1}, {3, 0.5, -1}, {5, 0.6, -1}, {1, 0.5, -1}}, out[4];
        struct ctk_rng r;
        ctk_rng_seed(&r, 1);
        ctk_mine_opts_default(&o);
        memset(d, 0, sizeof d);
        k = ctk_mine_select(&o, 1.0, c, 4, &r, out, d);
        int64_t g[3] = {out[0].idx, out[1].idx, out[2].idx};
        expect("ties", k, g, 3, (int64_t[]){5, 7, 3});
    }
}

/* --- random sampling ---------------------------------------------------------- */

static void test_random(void)
{
    double sc[40];
    for (int i = 0; i < 40; i++)
        sc[i] = 1.0 - i * 0.01;
    struct ctk_mine_opts o;
    ctk_mine_opts_default(&o);
    o.sampling = CTK_MINE_RANDOM;
    o.num_negatives = 4;
    o.range_min = 5;
    o.range_max = 25;
    int seen[40] = {0};
    for (uint64_t seed = 0; seed < 200; seed++) {
        struct ctk_mine_cand c[40], out[40], again[40];
        for (int i = 0; i < 40; i++)
            c[i] = (struct ctk_mine_cand){i, sc[i], -1};
        struct ctk_rng r;
        int64_t d[CTK_MINE_NDROP] = {0};
        ctk_rng_seed(&r, seed);
        int k = ctk_mine_select(&o, 2.0, c, 40, &r, out, d);
        CHECK(k == 4, "random: %d chosen, want 4", k);
        for (int i = 0; i < k; i++) {
            CHECK(out[i].idx >= 5 && out[i].idx < 25, "random: %lld outside the window [5, 25)",
                  (long long)out[i].idx);
            if (i)
                CHECK(out[i].idx > out[i - 1].idx, "random: not in score order or repeated");
            seen[out[i].idx]++;
        }
        for (int i = 0; i < 40; i++)
            c[i] = (struct ctk_mine_cand){i, sc[i], -1};
        ctk_rng_seed(&r, seed);
        int k2 = ctk_mine_select(&o, 2.0, c, 40, &r, again, d);
        for (int i = 0; i < k && k2 == k; i++)
            CHECK(again[i].idx == out[i].idx, "random: the same seed gave another sample");
    }
    int spread = 0;
    for (int i = 5; i < 25; i++)
        spread += seen[i] > 0;
    CHECK(spread == 20, "random: only %d of the 20 window rows ever sampled", spread);
    /* fewer survivors than asked: all of them */
    struct ctk_mine_cand c[3] = {{0, 0.3, -1}, {1, 0.2, -1}, {2, 0.1, -1}}, out[3];
    struct ctk_rng r;
    int64_t d[CTK_MINE_NDROP] = {0};
    ctk_rng_seed(&r, 3);
    o.range_min = 0;
    int k = ctk_mine_select(&o, 2.0, c, 3, &r, out, d);
    CHECK(k == 3 && out[0].idx == 0 && out[2].idx == 2, "random with 3 survivors: %d", k);
}

/* --- exactness against an exhaustive search ------------------------------------ */

struct ref {
    double s;
    int64_t j;
};

static int ref_cmp(const void *pa, const void *pb)
{
    const struct ref *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s > b->s ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

static void test_exhaustive(void)
{
    enum { NX = 700, NQ = 60, D = 16 };
    float *X = xmallocarray(NX * D, sizeof *X), *Q = xmallocarray(NQ * D, sizeof *Q);
    struct ctk_rng r;
    ctk_rng_seed(&r, 7);
    ctk_rng_fill_normal(&r, X, NX * D, 0, 1);
    ctk_rng_fill_normal(&r, Q, NQ * D, 0, 1);
    /* ties: rows 100..149 repeat rows 0..49 exactly; queries 0..9 are rows 200..209 */
    memcpy(X + 100 * D, X, 50 * D * sizeof *X);
    memcpy(Q, X + 200 * D, 10 * D * sizeof *Q);
    /* each query's "positive" is a random other row; "self" is 200+i for the first ten */
    int64_t pos[NQ], self[NQ];
    for (int i = 0; i < NQ; i++) {
        pos[i] = (int64_t)ctk_rng_below(&r, NX);
        self[i] = i < 10 ? 200 + i : -1;
    }
    struct ctk_mine_opts o;
    ctk_mine_opts_default(&o);
    o.num_negatives = 5;
    o.range_min = 1;
    o.range_max = 12;
    o.margin = 0.02;
    const int K = (int)(o.range_max + 2); /* + self + one positive */
    int64_t *idx = xmallocarray(NQ * K, sizeof *idx);
    float *score = xmallocarray(NQ * K, sizeof *score);
    ctk_knn_search(Q, NQ, X, NX, D, K, CTK_METRIC_COSINE, 0, 1, idx, score);
    int64_t mism = 0, ties_seen = 0;
    double maxdiff = 0;
    for (int i = 0; i < NQ; i++) {
        /* exhaustive: every row in double */
        struct ref all[NX];
        double qq = 0;
        for (int t = 0; t < D; t++)
            qq += (double)Q[i * D + t] * Q[i * D + t];
        for (int j = 0; j < NX; j++) {
            double dot = 0, xx = 0;
            for (int t = 0; t < D; t++) {
                dot += (double)Q[i * D + t] * X[j * D + t];
                xx += (double)X[j * D + t] * X[j * D + t];
            }
            all[j] = (struct ref){dot / sqrt(qq * xx), j};
        }
        double ps = all[pos[i]].s;
        qsort(all, NX, sizeof *all, ref_cmp);
        int64_t want[8];
        int nw = 0, rank = 0, surv = 0;
        for (int j = 0; j < NX && rank < o.range_max; j++) {
            if (all[j].j == self[i] || all[j].j == pos[i])
                continue;
            rank++;
            if (all[j].s + o.margin > ps)
                continue;
            if (surv++ < o.range_min)
                continue;
            if (nw < o.num_negatives)
                want[nw++] = all[j].j;
        }
        for (int j = 0; j + 1 < NX; j++)
            ties_seen += all[j].s == all[j + 1].s && j < K;
        /* the library path */
        struct ctk_mine_cand c[64], out[8];
        for (int t = 0; t < K; t++) {
            int64_t j = idx[i * K + t];
            int why = j == self[i] ? CTK_MINE_SELF : j == pos[i] ? CTK_MINE_POSITIVE : CTK_MINE_KEEP;
            c[t] = (struct ctk_mine_cand){j, score[i * K + t], why};
        }
        /* float scores from knn vs the double ones: rescore in double as the program's
         * comparison would see them -- knn ranks in double, its float output is rounded */
        for (int t = 0; t < K; t++) {
            double dot = 0, xx = 0;
            for (int u = 0; u < D; u++) {
                dot += (double)Q[i * D + u] * X[c[t].idx * D + u];
                xx += (double)X[c[t].idx * D + u] * X[c[t].idx * D + u];
            }
            double s = dot / sqrt(qq * xx);
            if (fabs(s - c[t].score) > maxdiff)
                maxdiff = fabs(s - c[t].score);
        }
        int64_t drops[CTK_MINE_NDROP] = {0};
        struct ctk_rng rr;
        ctk_rng_seed(&rr, 1);
        int k = ctk_mine_select(&o, ps, c, K, &rr, out, drops);
        int ok = k == nw;
        for (int t = 0; ok && t < k; t++)
            ok = out[t].idx == want[t];
        if (!ok) {
            mism++;
            printf("query %d: got", i);
            for (int t = 0; t < k; t++)
                printf(" %lld", (long long)out[t].idx);
            printf(", want");
            for (int t = 0; t < nw; t++)
                printf(" %lld", (long long)want[t]);
            printf("\n");
        }
    }
    printf("exhaustive: %d queries, %lld mismatches, %lld ties near the top, max |float - double| "
           "score %.3g\n",
           NQ, (long long)mism, (long long)ties_seen, maxdiff);
    CHECK(mism == 0, "%lld queries differ from the exhaustive search", (long long)mism);
    CHECK(ties_seen > 0, "the data were meant to have ties");
    CHECK(maxdiff < 1e-6, "scores differ from double by %g", maxdiff);
    free(X);
    free(Q);
    free(idx);
    free(score);
}

/* --- BM25 ----------------------------------------------------------------------- */

static void test_bm25(void)
{
    /*
     * Documents: d0 = [1 2 3], d1 = [2 2 4 5], d2 = [1 1 1], d3 = [6]; N = 4,
     * avgdl = 11/4 = 2.75, k1 = 1.2, b = 0.75.
     * idf(1) = idf(2) = ln(1 + (4 - 2 + 0.5)/(2 + 0.5)) = ln 2 = 0.693147;
     * idf(6) = ln(1 + 3.5/1.5) = ln(10/3) = 1.203973.
     * Query [2 1 2] (token 2 twice):
     *   d0: |d| = 3, K = 1.2 (0.25 + 0.75 * 3/2.75) = 1.281818; each token has tf 1:
     *       w = ln2 * 1 * 2.2 / (1 + K) = 0.668303; three occurrences: 2.004880.
     *   d1: |d| = 4, K = 1.2 (0.25 + 0.75 * 4/2.75) = 1.609091; token 2 tf 2:
     *       w = ln2 * 2 * 2.2 / (2 + K) = 0.845046; twice: 1.690092.
     *   d2: |d| = 3, token 1 tf 3: ln2 * 3 * 2.2 / (3 + 1.281818) = 1.068418.
     *   d3: no shared token: 0 (not returned).
     * A text outside the index, [2 9] (|d| = 2, K = 1.2 (0.25 + 0.75 * 2/2.75) =
     *   0.954545): token 2 tf 1, w = ln2 * 2.2 / 1.954545 = 0.780194; twice: 1.560387.
     */
    const int32_t ids[] = {1, 2, 3, 2, 2, 4, 5, 1, 1, 1, 6};
    const int64_t off[] = {0, 3, 7, 10, 11};
    struct ctk_bm25 ix;
    struct ctk_err e;
    if (ctk_bm25_build(&ix, ids, off, 4, NULL, 1.2, 0.75, &e) < 0) {
        printf("FAIL bm25 build: %s\n", e.msg);
        check_failures++;
        return;
    }
    CHECK(fabs(ctk_bm25_idf(&ix, 1) - 0.693147180559945) < 1e-12, "idf(1) %.15g", ctk_bm25_idf(&ix, 1));
    CHECK(fabs(ctk_bm25_idf(&ix, 6) - 1.20397280432594) < 1e-12, "idf(6) %.15g", ctk_bm25_idf(&ix, 6));
    CHECK(ctk_bm25_idf(&ix, 7) == 0 && ctk_bm25_idf(&ix, 99) == 0, "idf of an absent token");
    const int32_t q[] = {2, 1, 2};
    struct ctk_bm25_search s;
    ctk_bm25_search_init(&s, &ix);
    int64_t got[4];
    double sc[4];
    int64_t n = ctk_bm25_topk(&ix, &s, q, 3, NULL, 4, got, sc);
    const int64_t want[3] = {0, 1, 2};
    const double wsc[3] = {2.004879892774981, 1.6900918659496904, 1.0684179471051385};
    double md = 0;
    CHECK(n == 3, "bm25: %lld documents, want 3", (long long)n);
    for (int i = 0; i < 3 && i < n; i++) {
        CHECK(got[i] == want[i], "bm25 rank %d: doc %lld, want %lld", i, (long long)got[i],
              (long long)want[i]);
        if (fabs(sc[i] - wsc[i]) > md)
            md = fabs(sc[i] - wsc[i]);
    }
    printf("bm25: max score diff %.3g\n", md);
    CHECK(md < 1e-12, "bm25 scores differ by %g", md);
    for (int i = 0; i < 4; i++) { /* the text scorer agrees on indexed documents */
        double t = ctk_bm25_score_text(&ix, q, 3, ids + off[i], off[i + 1] - off[i]);
        double w = i < 3 ? wsc[i] : 0.0;
        CHECK(fabs(t - w) < 1e-12, "bm25 score_text doc %d: %.15g want %.15g", i, t, w);
    }
    const int32_t outside[] = {2, 9};
    double t = ctk_bm25_score_text(&ix, q, 3, outside, 2);
    CHECK(fabs(t - 1.5603871413535513) < 1e-12, "bm25 outside text %.15g", t);
    /* skip and k: skipping doc 0, the best 1 is doc 1 */
    uint8_t skip[4] = {1, 0, 0, 0};
    n = ctk_bm25_topk(&ix, &s, q, 3, skip, 1, got, sc);
    CHECK(n == 1 && got[0] == 1, "bm25 skip: %lld docs, first %lld", (long long)n, (long long)got[0]);
    /* the accumulators were cleared: the same search again gives the same */
    n = ctk_bm25_topk(&ix, &s, q, 3, NULL, 4, got, sc);
    CHECK(n == 3 && fabs(sc[0] - wsc[0]) < 1e-12, "bm25 second search %.15g", sc[0]);
    ctk_bm25_search_free(&s);
    ctk_bm25_free(&ix);
    /* rows not indexed are out of N and avgdl: index d0, d1 only */
    uint8_t only[4] = {1, 1, 0, 0};
    ctk_bm25_build(&ix, ids, off, 4, only, 1.2, 0.75, &e);
    CHECK(ix.ndocs == 2 && fabs(ix.avgdl - 3.5) < 1e-15, "bm25 subset: N %lld avgdl %g",
          (long long)ix.ndocs, ix.avgdl);
    CHECK(fabs(ctk_bm25_idf(&ix, 1) - log(1 + 1.5 / 1.5)) < 1e-15, "bm25 subset idf(1)");
    ctk_bm25_free(&ix);
    /* ties go to the smaller row */
    const int32_t tids[] = {5, 5, 5};
    const int64_t toff[] = {0, 1, 2, 3};
    ctk_bm25_build(&ix, tids, toff, 3, NULL, 1.2, 0.75, &e);
    ctk_bm25_search_init(&s, &ix);
    n = ctk_bm25_topk(&ix, &s, tids, 1, NULL, 2, got, sc);
    CHECK(n == 2 && got[0] == 0 && got[1] == 1, "bm25 ties: %lld %lld", (long long)got[0], (long long)got[1]);
    ctk_bm25_search_free(&s);
    ctk_bm25_free(&ix);
    const int32_t bad[] = {-3};
    const int64_t boff[] = {0, 1};
    CHECK(ctk_bm25_build(&ix, bad, boff, 1, NULL, 1.2, 0.75, &e) < 0, "negative token id accepted");
}

/* --- summary figures, curriculum --------------------------------------------------- */

static void test_stats_curriculum(void)
{
    /* numpy: x = [4, 1, 3, 2, 10]; mean 4, std(ddof=1) sqrt(12.5), quantiles 2, 3, 4 */
    double x[5] = {4, 1, 3, 2, 10};
    struct ctk_mine_stats s;
    ctk_mine_stats(x, 5, &s);
    CHECK(s.mean == 4 && fabs(s.std - sqrt(12.5)) < 1e-15 && s.min == 1 && s.max == 10 && s.q25 == 2 &&
              s.median == 3 && s.q75 == 4,
          "stats: mean %g std %g q25 %g median %g q75 %g", s.mean, s.std, s.q25, s.median, s.q75);
    /* interpolation: [1, 2, 3, 4]: q25 = 1.75, median 2.5, q75 = 3.25 */
    double y[4] = {4, 3, 2, 1};
    ctk_mine_stats(y, 4, &s);
    CHECK(s.q25 == 1.75 && s.median == 2.5 && s.q75 == 3.25, "stats quartiles %g %g %g", s.q25, s.median,
          s.q75);
    ctk_mine_stats(y, 0, &s);
    CHECK(isnan(s.mean) && s.n == 0, "stats of nothing");

    const double key[6] = {0.5, 0.1, 0.9, 0.1, 0.3, 0.7};
    int64_t order[6];
    ctk_mine_curriculum(key, 6, order);
    const int64_t want[6] = {1, 3, 4, 0, 5, 2};
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= order[i] == want[i];
    CHECK(ok, "curriculum order %lld %lld %lld %lld %lld %lld", (long long)order[0], (long long)order[1],
          (long long)order[2], (long long)order[3], (long long)order[4], (long long)order[5]);
    /* 7 rows in 3 stages: 1 1 1 2 2 3 3 (1 + floor(3 r / 7)) */
    const int32_t ws[7] = {1, 1, 1, 2, 2, 3, 3};
    for (int r = 0; r < 7; r++)
        CHECK(ctk_mine_stage(r, 7, 3) == ws[r], "stage of %d: %d want %d", r, ctk_mine_stage(r, 7, 3), ws[r]);
}

int main(void)
{
    test_guards();
    test_random();
    test_exhaustive();
    test_bm25();
    test_stats_curriculum();
    return check_exit("test_mine");
}
