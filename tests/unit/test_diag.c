/*
 * test_diag.c -- lib/diag: each figure on small cases checked by hand, then
 * against numpy/scipy/scikit-learn on random data (tests/golden/diag/random.txt,
 * made by tests/ref/diag_ref.py) to |got - ref| <= 1e-6 + 1e-6 |ref|.
 * Exits 1 on any mismatch.
 */
#include "config.h"
#include "diag.h"
#include "diagreport.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- hand-checked cases ------------------------------------------------------ */

static void test_hand(void)
{
    /* alignment: (1,0)~(0,2) are orthogonal, |u-v|^2 = 2; (3,0)~(1,0) coincide: mean 1 */
    float a[] = {1, 0, 3, 0}, b[] = {0, 2, 1, 0};
    check_close1("alignment", ctk_diag_alignment(a, b, 2, 2), 1.0, 1e-12, 1e-12);

    /* uniformity: two antipodes, |u-v|^2 = 4: log exp(-8) = -8 */
    float anti[] = {1, 0, -1, 0};
    check_close1("uniformity antipodes", ctk_diag_uniformity(anti, 2, 2), -8.0, 1e-12, 1e-12);
    /* three points (1,0),(0,1),(-1,0): squared distances 2, 2, 4 */
    float three[] = {1, 0, 0, 1, -1, 0};
    check_close1("uniformity three", ctk_diag_uniformity(three, 3, 2), log((2 * exp(-4.0) + exp(-8.0)) / 3), 1e-12, 1e-12);

    /* mean cosine, variance, spectrum: (1,0),(0,1),(1,0): cosines 0, 1, 0 */
    struct ctk_diag_acc acc;
    struct ctk_err e;
    float m3[] = {1, 0, 0, 5, 2, 0};
    ctk_diag_acc_init(&acc, 2);
    ctk_diag_acc_add(&acc, m3, NULL, 3);
    check_close1("mean cosine", ctk_diag_acc_mean_cosine(&acc), 1.0 / 3, 1e-12, 1e-12);
    double var[2], eig[2];
    ctk_diag_acc_variance(&acc, var);
    /* u1 column (1,0,1): var 2/9; u2 (0,1,0): var 2/9 */
    check_close1("variance[0]", var[0], 2.0 / 9, 1e-12, 1e-12);
    check_close1("variance[1]", var[1], 2.0 / 9, 1e-12, 1e-12);
    /* covariance [[2/9,-2/9],[-2/9,2/9]]: eigenvalues 4/9 and 0 -> a line, effective rank 1 */
    if (ctk_diag_acc_spectrum(&acc, eig, &e)) {
        printf("FAIL spectrum: %s\n", e.msg);
        check_failures++;
    }
    check_close1("eig[0]", eig[0], 4.0 / 9, 1e-12, 1e-12);
    check_close1("eig[1]", eig[1], 0, 1e-12, 1e-12);
    check_close1("effective rank line", ctk_diag_effective_rank(eig, 2), 1.0, 1e-12, 1e-12);
    check_close1("top1 share line", ctk_diag_top_share(eig, 2, 1), 1.0, 1e-12, 1e-12);
    ctk_diag_acc_free(&acc);

    /* isotropic: +-e1, +-e2: eigenvalues 1/2, 1/2 -> effective rank 2, mean cosine -1/3 */
    float iso[] = {1, 0, -1, 0, 0, 1, 0, -1};
    ctk_diag_acc_init(&acc, 2);
    ctk_diag_acc_add(&acc, iso, NULL, 4);
    ctk_diag_acc_spectrum(&acc, eig, &e);
    check_close1("effective rank iso", ctk_diag_effective_rank(eig, 2), 2.0, 1e-12, 1e-12);
    check_close1("top1 share iso", ctk_diag_top_share(eig, 2, 1), 0.5, 1e-12, 1e-12);
    check_close1("total variance iso", ctk_diag_acc_total_variance(&acc), 1.0, 1e-12, 1e-12);
    check_close1("mean cosine iso", ctk_diag_acc_mean_cosine(&acc), -1.0 / 3, 1e-12, 1e-12);
    ctk_diag_acc_free(&acc);

    /* NaN, Inf and zero rows are counted and left out; norms of finite rows */
    float bad[] = {3, 4, NAN, 1, 0, 0, INFINITY, -INFINITY, 0, 2};
    int32_t by[] = {0, 0, 1, 1, 1};
    ctk_diag_acc_init(&acc, 2);
    ctk_diag_acc_add(&acc, bad, by, 5);
    if (acc.rows != 5 || acc.n != 2 || acc.nonfinite_rows != 2 || acc.nonfinite_values != 3 ||
        acc.zero_rows != 1) {
        printf("FAIL bad rows: rows %lld n %lld nonfinite %lld/%lld zero %lld\n", (long long)acc.rows,
               (long long)acc.n, (long long)acc.nonfinite_rows, (long long)acc.nonfinite_values,
               (long long)acc.zero_rows);
        check_failures++;
    }
    check_close1("norm max", acc.norm_max, 5, 1e-12, 1e-12);
    check_close1("norm min", acc.norm_min, 0, 1e-12, 1e-12);
    check_close1("norm mean", acc.norm_sum / 3, 7.0 / 3, 1e-12, 1e-12);
    ctk_diag_acc_free(&acc);

    /* classes: c0 {(1,0),(0,1)}: intra cosine 0, centroid (.5,.5), rms distance sqrt(.5);
     * c1 {(-1,0),(-2,0)}: intra 1, centroid (-1,0); centroid cosine -sqrt(.5);
     * cross mean cosine c0-c1 = -1/2; margins 0.5 and 1.5 */
    float cx[] = {1, 0, 0, 1, -1, 0, -2, 0};
    int32_t cy[] = {0, 0, 1, 1};
    struct ctk_diag_class cl[2];
    double cc[4];
    ctk_diag_acc_init(&acc, 2);
    ctk_diag_acc_add(&acc, cx, cy, 4);
    ctk_diag_acc_classes(&acc, cl, cc);
    check_close1("intra c0", cl[0].intra_cos, 0, 1e-12, 1e-12);
    check_close1("intra c1", cl[1].intra_cos, 1, 1e-12, 1e-12);
    check_close1("rms c0", cl[0].rms_dist, sqrt(0.5), 1e-12, 1e-12);
    check_close1("centroid cos", cc[1], -sqrt(0.5), 1e-12, 1e-12);
    check_close1("cross c0", cl[0].cross_cos, -0.5, 1e-12, 1e-12);
    check_close1("margin c0", cl[0].margin, 0.5, 1e-12, 1e-12);
    check_close1("margin c1", cl[1].margin, 1.5, 1e-12, 1e-12);
    /* same-class pairs: |(1,0)-(0,1)|^2 = 2, |(-1,0)-(-1,0)|^2 = 0 */
    check_close1("label alignment", ctk_diag_acc_label_alignment(&acc), 1.0, 1e-12, 1e-12);
    ctk_diag_acc_free(&acc);

    /* silhouette: classes at two orthogonal points: a = 0, b = 1: s = 1 */
    float s1[] = {1, 0, 2, 0, 0, 1, 0, 3};
    int32_t sy1[] = {0, 0, 1, 1};
    check_close1("silhouette separated", ctk_diag_silhouette(s1, sy1, 4, 2, 2), 1.0, 1e-12, 1e-12);
    /* each class holds one of each point: a = 1, b = 1/2: s = -1/2 */
    float s2[] = {1, 0, 0, 1, 1, 0, 0, 1};
    check_close1("silhouette mixed", ctk_diag_silhouette(s2, sy1, 4, 2, 2), -0.5, 1e-12, 1e-12);

    /* 1-NN: (0.6,0.8) of class 0 is nearest to (0.1,0.9) of class 1: 4 of 5 right */
    float kx[] = {1, 0, 0.9f, 0.1f, 0, 1, 0.1f, 0.9f, 0.6f, 0.8f};
    int32_t ky[] = {0, 0, 1, 1, 0};
    check_close1("1-NN accuracy", ctk_diag_knn_accuracy(kx, ky, 5, 2, 2, 1), 0.8, 1e-12, 1e-12);

    /* Spearman: one swap among 4: 1 - 6*2/(4*15) = 0.8; ranks with ties averaged */
    double sx[] = {1, 2, 3, 4}, sy[] = {1, 3, 2, 4}, tx[] = {10, 20, 20, 30}, rk[4];
    check_close1("spearman", ctk_diag_spearman(sx, sy, 4), 0.8, 1e-12, 1e-12);
    ctk_diag_rank(rk, tx, 4);
    check_close1("rank[1]", rk[1], 2.5, 0, 0);
    check_close1("rank[2]", rk[2], 2.5, 0, 0);
    check_close1("rank[3]", rk[3], 4, 0, 0);
    double cst[] = {1, 1, 1, 1};
    check_close1("spearman constant", ctk_diag_spearman(sx, cst, 4), NAN, 0, 0);

    /* sample size from a number of pairs */
    check_close1("sample rows 1", (double)ctk_diag_sample_rows(1), 2, 0, 0);
    check_close1("sample rows 3", (double)ctk_diag_sample_rows(3), 3, 0, 0);
    check_close1("sample rows 8386560", (double)ctk_diag_sample_rows(8386560), 4096, 0, 0);
    check_close1("sample rows 8386559", (double)ctk_diag_sample_rows(8386559), 4095, 0, 0);

    /* reservoir: keeps everything up to cap, then cap rows; each row equally
     * likely: 20000 trials of 10 rows into 2 slots, each row kept ~4000 times */
    int64_t kept[10] = {0};
    for (int t = 0; t < 20000; t++) {
        struct ctk_diag_reservoir r;
        ctk_diag_reservoir_init(&r, 1, 2, (uint64_t)t);
        for (int i = 0; i < 10; i++) {
            float v = (float)i;
            ctk_diag_reservoir_add(&r, &v, i);
        }
        for (int i = 0; i < r.n; i++) kept[r.y[i]]++;
        ctk_diag_reservoir_free(&r);
    }
    for (int i = 0; i < 10; i++)
        if (kept[i] < 3700 || kept[i] > 4300) { /* binomial sd ~57 */
            printf("FAIL reservoir: row %d kept %lld times of 20000 (want ~4000)\n", i, (long long)kept[i]);
            check_failures++;
        }

    /* labels */
    struct ctk_diag_labels l;
    ctk_diag_labels_init(&l);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "class%d", i);
        if (ctk_diag_labels_intern(&l, name, strlen(name)) != i) {
            printf("FAIL labels: %s\n", name);
            check_failures++;
            break;
        }
    }
    if (ctk_diag_labels_intern(&l, "class7xyz", 6) != 7 || l.n != 1000) {
        printf("FAIL labels lookup\n");
        check_failures++;
    }
    ctk_diag_labels_free(&l);
}

/* --- verdicts: each threshold on both sides of its boundary ------------------------ */

static int has(const struct ctk_diag_space *s, const struct ctk_diag_space *b, enum ctk_symptom sym)
{
    struct ctk_diag_verdict v[16];
    int n = ctk_diag_verdicts(s, b, v, 16), f = 0;
    for (int i = 0; i < n; i++) f |= v[i].sym == sym;
    return f;
}

static void expect(const char *what, int got, int want)
{
    if (got != want) {
        printf("FAIL verdict %s: %s, want %s\n", what, got ? "found" : "not found", want ? "found" : "not found");
        check_failures++;
    }
}

static void test_verdicts(void)
{
    static const char *const names[] = {"a", "b"};
    struct ctk_diag_space s, b;
    struct ctk_diag_class cls[2] = {{.size = 100}, {.size = 100}};
    int64_t csample[2] = {10, 10}, conf[4] = {10, 0, 0, 10};

    ctk_diag_space_init(&s);
    s.d = 8;
    s.rows = s.used = 200;
    s.mean_cos = 0.0;
    expect("nothing", has(&s, NULL, CTK_SYM_COLLAPSE) | has(&s, NULL, CTK_SYM_ANISOTROPY), 0);
    s.mean_cos = 0.9;
    expect("collapse at 0.90", has(&s, NULL, CTK_SYM_COLLAPSE), 1);
    expect("no cone when collapsed", has(&s, NULL, CTK_SYM_ANISOTROPY), 0);
    s.mean_cos = 0.8999;
    expect("collapse below 0.90", has(&s, NULL, CTK_SYM_COLLAPSE), 0);
    expect("cone at 0.8999", has(&s, NULL, CTK_SYM_ANISOTROPY), 1);
    s.mean_cos = 0.3999;
    expect("cone below 0.40", has(&s, NULL, CTK_SYM_ANISOTROPY), 0);
    s.rows = 201, s.nonfinite_rows = 1;
    expect("nan", has(&s, NULL, CTK_SYM_NAN), 1);
    s.nonfinite_rows = 0, s.zero_rows = 1;
    expect("zero", has(&s, NULL, CTK_SYM_ZERO), 1);
    s.zero_rows = 0;

    /* with labels, the cone is judged on pairs of different classes */
    s.nclass = 2, s.labels = names, s.cls = cls, s.csample = csample, s.confusion = conf, s.k = 10;
    s.silhouette = 0.5, s.knn_acc = 1;
    s.mean_cos = 0.6, s.cross_cos = 0.1;
    expect("no cone: classes apart", has(&s, NULL, CTK_SYM_ANISOTROPY), 0);
    s.cross_cos = 0.4;
    expect("cone between classes", has(&s, NULL, CTK_SYM_ANISOTROPY), 1);
    s.cross_cos = 0.1;
    expect("no overlap", has(&s, NULL, CTK_SYM_OVERLAP), 0);
    conf[0] = 8, conf[1] = 2; /* 20% of a voted b */
    expect("overlap at 20%", has(&s, NULL, CTK_SYM_OVERLAP), 1);
    conf[0] = 9, conf[1] = 1;
    expect("no overlap at 10%", has(&s, NULL, CTK_SYM_OVERLAP), 0);
    s.silhouette = 0.0499;
    expect("overlap: silhouette below 0.05", has(&s, NULL, CTK_SYM_OVERLAP), 1);
    s.silhouette = 0.5;
    csample[0] = 4, conf[0] = 2, conf[1] = 2; /* too few rows to judge */
    expect("no overlap under 5 rows", has(&s, NULL, CTK_SYM_OVERLAP), 0);
    cls[0].size = 400;
    expect("dominance at 4:1", has(&s, NULL, CTK_SYM_DOMINANCE), 1);
    cls[0].size = 399;
    expect("no dominance below 4:1", has(&s, NULL, CTK_SYM_DOMINANCE), 0);

    /* pairs */
    s.has_pairs = 1, s.pos = 100, s.neg = 300, s.pos_cos = 0.8;
    expect("pair imbalance at 3:1", has(&s, NULL, CTK_SYM_PAIR_IMBALANCE), 1);
    s.neg = 299;
    expect("no pair imbalance below 3:1", has(&s, NULL, CTK_SYM_PAIR_IMBALANCE), 0);
    s.pos = 0, s.pos_cos = NAN;
    expect("pair imbalance: no positives", has(&s, NULL, CTK_SYM_PAIR_IMBALANCE), 1);
    s.pos = 100, s.neg = 0;
    expect("positives only: in-batch negatives", has(&s, NULL, CTK_SYM_PAIR_IMBALANCE), 0);
    s.neg = 100, s.pos_cos = 0.8, s.neg_high = 10;
    expect("false negatives at 10%", has(&s, NULL, CTK_SYM_FALSE_NEGATIVES), 1);
    s.neg_high = 9;
    expect("no false negatives below 10%", has(&s, NULL, CTK_SYM_FALSE_NEGATIVES), 0);

    /* forgetting */
    ctk_diag_space_init(&b);
    s.has_sts = b.has_sts = 1;
    b.spearman = 0.80, s.spearman = 0.78;
    expect("forgetting at 0.02", has(&s, &b, CTK_SYM_FORGETTING), 1);
    s.spearman = 0.7801;
    expect("no forgetting below 0.02", has(&s, &b, CTK_SYM_FORGETTING), 0);
    expect("no forgetting without before", has(&s, NULL, CTK_SYM_FORGETTING), 0);

    expect("symptom names", ctk_symptom_parse("class-overlap") == CTK_SYM_OVERLAP &&
                                ctk_symptom_parse("forgetting") == CTK_SYM_FORGETTING &&
                                ctk_symptom_parse("nope") == -1, 1);
}

/* --- numpy reference ------------------------------------------------------------ */

struct rec {
    char key[32];
    int64_t n;
    double *v;
};
static struct rec recs[64];
static int nrecs;

static void load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '#') continue;
        struct rec *r = &recs[nrecs++];
        char *p = line, *q;
        int len = 0;
        sscanf(p, "%31s %lld%n", r->key, (long long *)&r->n, &len);
        p += len;
        r->v = xmallocarray((size_t)r->n, sizeof(double));
        for (int64_t i = 0; i < r->n; i++) {
            r->v[i] = strtod(p, &q);
            p = q;
        }
    }
    free(line);
    fclose(f);
}

static const struct rec *get(const char *key)
{
    for (int i = 0; i < nrecs; i++)
        if (!strcmp(recs[i].key, key)) return &recs[i];
    printf("FAIL fixture has no %s\n", key);
    exit(1);
}

static float *floats(const char *key)
{
    const struct rec *r = get(key);
    float *f = xmallocarray((size_t)r->n, sizeof(float));
    for (int64_t i = 0; i < r->n; i++) f[i] = (float)r->v[i];
    return f;
}

static void test_reference(const char *path)
{
    const double tol = 1e-6;
    load(path);
    const double *shape = get("shape")->v;
    int N = (int)shape[0], D = (int)shape[1], C = (int)shape[2], K = (int)shape[3];
    float *x = floats("x"), *a = floats("a"), *b = floats("b");
    int32_t *y = xmallocarray((size_t)N, sizeof(int32_t));
    for (int i = 0; i < N; i++) y[i] = (int32_t)get("y")->v[i];
    int64_t P = get("a")->n / D;

    check_close1("alignment", ctk_diag_alignment(a, b, P, D), get("alignment")->v[0], tol, tol);
    double *pc = xmallocarray((size_t)P, sizeof(double));
    ctk_diag_pair_cosines(pc, a, b, P, D);
    check_close("pair cosines", pc, get("pair_cos")->v, P, tol, tol);
    check_close1("spearman", ctk_diag_spearman(pc, get("gold")->v, P), get("spearman")->v[0], tol, tol);

    /* the one pass, fed in uneven chunks with bad rows between them */
    struct ctk_diag_acc acc;
    struct ctk_err e;
    ctk_diag_acc_init(&acc, D);
    float *junk = xcalloc((size_t)D, sizeof(float));
    int32_t jy = 0;
    for (int i = 0, step = 1; i < N; i += step, step = step % 13 + 4) {
        int n = i + step <= N ? step : N - i;
        ctk_diag_acc_add(&acc, x + (size_t)i * D, y + i, n);
        junk[0] = (i & 1) ? NAN : 0;
        ctk_diag_acc_add(&acc, junk, &jy, 1);
    }
    check_close1("mean cosine", ctk_diag_acc_mean_cosine(&acc), get("mean_cos")->v[0], tol, tol);
    double *var = xmallocarray((size_t)D, sizeof(double)), *eig = xmallocarray((size_t)D, sizeof(double));
    ctk_diag_acc_variance(&acc, var);
    check_close("variance", var, get("variance")->v, D, tol, tol);
    check_close1("total variance", ctk_diag_acc_total_variance(&acc), get("total_variance")->v[0], tol, tol);
    if (ctk_diag_acc_spectrum(&acc, eig, &e)) {
        printf("FAIL spectrum: %s\n", e.msg);
        check_failures++;
    }
    check_close("eigenvalues", eig, get("eig")->v, D, tol, tol);
    check_close1("top1 share", ctk_diag_top_share(eig, D, 1), get("top1")->v[0], tol, tol);
    check_close1("top3 share", ctk_diag_top_share(eig, D, 3), get("top3")->v[0], tol, tol);
    check_close1("effective rank", ctk_diag_effective_rank(eig, D), get("erank")->v[0], tol, tol);

    struct ctk_diag_class *cl = xmallocarray((size_t)C, sizeof *cl);
    double *cc = xmallocarray((size_t)C * C, sizeof(double)), t[6][16];
    if (acc.nclass != C) {
        printf("FAIL classes: %d, want %d\n", acc.nclass, C);
        check_failures++;
    }
    ctk_diag_acc_classes(&acc, cl, cc);
    for (int c = 0; c < C; c++) {
        t[0][c] = (double)cl[c].size;
        t[1][c] = cl[c].intra_cos;
        t[2][c] = cl[c].rms_dist;
        t[3][c] = cl[c].nearest;
        t[4][c] = cl[c].cross_cos;
        t[5][c] = cl[c].margin;
    }
    check_close("class size", t[0], get("class_size")->v, C, 0, 0);
    check_close("class intra cos", t[1], get("class_intra")->v, C, tol, tol);
    check_close("class rms dist", t[2], get("class_rms")->v, C, tol, tol);
    check_close("class nearest", t[3], get("class_nearest")->v, C, 0, 0);
    check_close("class cross cos", t[4], get("class_cross")->v, C, tol, tol);
    check_close("class margin", t[5], get("class_margin")->v, C, tol, tol);
    check_close("centroid cosines", cc, get("centroid_cos")->v, (int64_t)C * C, tol, tol);
    check_close1("label alignment", ctk_diag_acc_label_alignment(&acc), get("label_alignment")->v[0], tol, tol);

    /* pairwise over all rows, with the exact centroids of the one pass */
    double *cent = xmallocarray((size_t)C * D, sizeof(double));
    for (int c = 0; c < C; c++)
        for (int k = 0; k < D; k++) cent[c * D + k] = acc.csum[c * D + k] / (double)acc.ccount[c];
    struct ctk_diag_pairwise pw;
    ctk_diag_pairwise(&pw, x, y, N, D, C, cent, K);
    check_close1("uniformity", pw.uniformity, get("uniformity")->v[0], tol, tol);
    check_close1("pair mean cosine", pw.mean_cos, get("mean_cos")->v[0], tol, tol);
    check_close1("silhouette", pw.silhouette, get("silhouette")->v[0], tol, tol);
    check_close1("k-NN accuracy", pw.knn_acc, get("knn_acc")->v[0], tol, tol);
    check_close("class cdist", pw.cdist, get("class_cdist")->v, C, tol, tol);
    double *conf = xmallocarray((size_t)C * C, sizeof(double));
    for (int i = 0; i < C * C; i++) conf[i] = (double)pw.confusion[i];
    check_close("k-NN confusion", conf, get("confusion")->v, (int64_t)C * C, 0, 0);
    ctk_diag_pairwise_free(&pw);
    /* the same without given centroids */
    ctk_diag_pairwise(&pw, x, y, N, D, C, NULL, K);
    check_close("class cdist own", pw.cdist, get("class_cdist")->v, C, tol, tol);
    ctk_diag_pairwise_free(&pw);
    check_close1("uniformity fn", ctk_diag_uniformity(x, N, D), get("uniformity")->v[0], tol, tol);
    check_close1("silhouette fn", ctk_diag_silhouette(x, y, N, D, C), get("silhouette")->v[0], tol, tol);
    check_close1("k-NN fn", ctk_diag_knn_accuracy(x, y, N, D, C, K), get("knn_acc")->v[0], tol, tol);

    ctk_diag_acc_free(&acc);
    free(x), free(a), free(b), free(y), free(pc), free(junk), free(var), free(eig);
    free(cl), free(cc), free(cent), free(conf);
    for (int i = 0; i < nrecs; i++) free(recs[i].v);
}

int main(int argc, char **argv)
{
    const char *src = getenv("CTK_SRCDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/diag/random.txt", argc > 1 ? argv[1] : src ? src : ".");
    test_hand();
    test_verdicts();
    test_reference(path);
    return check_exit("test_diag");
}
