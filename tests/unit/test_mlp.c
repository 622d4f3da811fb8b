/*
 * test_mlp.c -- lib/mlp_head.c against scikit-learn's MLPClassifier
 * (solver='lbfgs', relu) on the fixtures of tests/ref/mlp_ref.py:
 *   - with scikit-learn's fitted weights loaded, predict_proba equal within
 *     1e-5 and the objective equal to scikit-learn's loss_ (same model,
 *     same loss, same regularisation);
 *   - the gradient equal to central finite differences of the objective;
 *   - ctk's own fit separates concentric rings (training accuracy >= 0.95)
 *     where the logistic-regression head cannot (<= 0.7).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "logreg.h"
#include "mlp_head.h"

static const char *srcdir;

struct data {
    int64_t N, D;
    int K;
    char names[8][32];
    float *X;
    int32_t *y;
    uint8_t *Y;
};

static int class_index(struct data *d, const char *s, size_t len)
{
    for (int k = 0; k < d->K; k++)
        if (strlen(d->names[k]) == len && memcmp(d->names[k], s, len) == 0)
            return k;
    ctk_die("label '%.*s' unknown", (int)len, s);
}

static void read_data(const char *name, int multilabel, struct data *d)
{
    memset(d, 0, sizeof *d);
    FILE *f = fixture_open(srcdir, "mlp", name, "classes");
    while (d->K < 8 && fgets(d->names[d->K], 32, f)) {
        d->names[d->K][strcspn(d->names[d->K], "\n")] = 0;
        d->K++;
    }
    fclose(f);
    f = fixture_open(srcdir, "mlp", name, "tsv");
    char line[8192];
    int64_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (d->N == cap) {
            cap = cap ? 2 * cap : 64;
            d->y = xreallocarray(d->y, cap, sizeof *d->y);
            d->Y = xreallocarray(d->Y, cap, d->K);
            d->X = xreallocarray(d->X, cap, 64 * sizeof *d->X);
        }
        memset(d->Y + d->N * d->K, 0, d->K);
        if (multilabel) {
            for (const char *s = line; s < tab;) {
                const char *c = memchr(s, ',', tab - s), *e = c ? c : tab;
                d->Y[d->N * d->K + class_index(d, s, e - s)] = 1;
                s = e + 1;
            }
        } else {
            d->y[d->N] = class_index(d, line, tab - line);
        }
        int64_t w = 0;
        for (char *p = tab + 1, *end;; p = end) {
            double v = strtod(p, &end);
            if (end == p)
                break;
            d->X[d->N * 64 + w++] = (float)v;
        }
        d->D = w;
        d->N++;
    }
    fclose(f);
    /* pack rows (stride 64 -> D) */
    for (int64_t i = 0; i < d->N; i++)
        memmove(d->X + i * d->D, d->X + i * 64, d->D * sizeof *d->X);
}

static void free_data(struct data *d)
{
    free(d->X);
    free(d->y);
    free(d->Y);
}

static void report(const char *what, int ok, const char *fmt, double a, double b)
{
    printf("%s %s: ", ok ? "ok  " : "FAIL", what);
    printf(fmt, a, b);
    printf("\n");
    check_failures += !ok;
}

/* scikit-learn's weights in a ctk MLP: probabilities, objective, gradient. */
static void against_sklearn(const char *name, int multilabel)
{
    struct data d;
    read_data(name, multilabel, &d);
    int64_t nm, np, npr;
    double *meta = fixture_numbers(srcdir, "mlp", name, "meta", &nm);
    double *params = fixture_numbers(srcdir, "mlp", name, "params", &np);
    double *proba = fixture_numbers(srcdir, "mlp", name, "proba", &npr);
    struct ctk_mlp m;
    ctk_mlp_init(&m, d.K, d.D, (int)meta[0], multilabel);
    if (np != ctk_mlp_nparams(&m) || npr != d.N * d.K)
        ctk_die("%s: fixture sizes: %lld params (want %lld), %lld probabilities (want %lld)",
                name, (long long)np, (long long)ctk_mlp_nparams(&m), (long long)npr,
                (long long)(d.N * d.K));
    memcpy(m.params, params, np * sizeof *params);

    float *P = xmallocarray(d.N * d.K, sizeof *P);
    ctk_mlp_proba(&m, d.X, d.N, P);
    double dp = 0;
    for (int64_t t = 0; t < d.N * d.K; t++)
        if (fabs(P[t] - proba[t]) > dp)
            dp = fabs(P[t] - proba[t]);
    char what[128];
    snprintf(what, sizeof what, "%s: predict_proba with scikit-learn's weights", name);
    report(what, dp <= 1e-5, "max diff %.2e (N=%.0f)", dp, (double)d.N);

    double *g = xmallocarray(np, sizeof *g);
    double f = ctk_mlp_objective(&m, d.X, d.N, multilabel ? NULL : d.y, multilabel ? d.Y : NULL,
                                 meta[1], g);
    snprintf(what, sizeof what, "%s: objective equals scikit-learn's loss_", name);
    report(what, fabs(f - meta[2]) <= 1e-9 + 1e-9 * fabs(meta[2]), "%.12g vs %.12g", f, meta[2]);

    /* Central differences at weights moved off scikit-learn's optimum. */
    for (int64_t t = 0; t < np; t++)
        m.params[t] += 0.05 * sin((double)t);
    ctk_mlp_objective(&m, d.X, d.N, multilabel ? NULL : d.y, multilabel ? d.Y : NULL, meta[1], g);
    double worst = 0;
    for (int64_t t = 0; t < np; t++) {
        const double h = 1e-6, keep = m.params[t];
        m.params[t] = keep + h;
        double fp = ctk_mlp_objective(&m, d.X, d.N, multilabel ? NULL : d.y,
                                      multilabel ? d.Y : NULL, meta[1], NULL);
        m.params[t] = keep - h;
        double fm = ctk_mlp_objective(&m, d.X, d.N, multilabel ? NULL : d.y,
                                      multilabel ? d.Y : NULL, meta[1], NULL);
        m.params[t] = keep;
        double fd = (fp - fm) / (2 * h), err = fabs(fd - g[t]) / (1e-4 + fabs(fd));
        if (err > worst)
            worst = err;
    }
    snprintf(what, sizeof what, "%s: gradient vs central differences", name);
    report(what, worst <= 1e-5, "max relative error %.2e over %.0f parameters", worst,
           (double)np);
    ctk_mlp_free(&m);
    free(P);
    free(g);
    free(meta);
    free(params);
    free(proba);
    free_data(&d);
}

static double accuracy(const float *P, const int32_t *y, int64_t N, int K)
{
    int64_t good = 0;
    for (int64_t i = 0; i < N; i++) {
        int b = 0;
        for (int k = 1; k < K; k++)
            if (P[i * K + k] > P[i * K + b])
                b = k;
        good += b == y[i];
    }
    return (double)good / (double)N;
}

/* ctk's own fit on the rings: the MLP separates them, a linear head cannot. */
static void training(void)
{
    struct data d;
    read_data("rings", 0, &d);
    struct ctk_mlp_opts o;
    ctk_mlp_opts_default(&o);
    o.hidden = 16;
    o.max_iter = 500;
    o.seed = 3;
    struct ctk_mlp m = {0};
    struct ctk_logreg_report r;
    struct ctk_err e;
    if (ctk_mlp_fit(&m, d.X, d.N, d.D, d.y, NULL, d.K, 0, &o, &r, &e))
        ctk_die_err(&e);
    float *P = xmallocarray(d.N * d.K, sizeof *P);
    ctk_mlp_proba(&m, d.X, d.N, P);
    double acc = accuracy(P, d.y, d.N, d.K);
    struct ctk_logreg lr = {0};
    struct ctk_logreg_opts lo;
    ctk_logreg_opts_default(&lo);
    if (ctk_logreg_fit(&lr, d.X, d.N, d.D, d.y, d.K, &lo, &r, &e))
        ctk_die_err(&e);
    ctk_logreg_proba(&lr, d.X, d.N, P);
    double lacc = accuracy(P, d.y, d.N, d.K);
    report("rings: ctk's MLP fit separates them, logistic regression cannot",
           acc >= 0.95 && lacc <= 0.7, "MLP training accuracy %.3f, logistic regression %.3f",
           acc, lacc);
    /* The same seed gives the same head. */
    struct ctk_mlp m2 = {0};
    if (ctk_mlp_fit(&m2, d.X, d.N, d.D, d.y, NULL, d.K, 0, &o, &r, &e))
        ctk_die_err(&e);
    int same = memcmp(m.params, m2.params, ctk_mlp_nparams(&m) * sizeof(double)) == 0;
    report("rings: a seed gives the same weights", same, "bit for bit", 0, 0);
    ctk_mlp_free(&m);
    ctk_mlp_free(&m2);
    ctk_logreg_free(&lr);
    free(P);
    free_data(&d);
}

int main(void)
{
    srcdir = getenv("CTK_SRCDIR");
    if (!srcdir)
        srcdir = ".";
    against_sklearn("rings", 0);
    against_sklearn("multilabel", 1);
    training();
    return check_exit("test_mlp");
}
