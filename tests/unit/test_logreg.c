/*
 * test_logreg.c -- lib/logreg.c against scikit-learn 1.2's
 * LogisticRegression(solver='lbfgs', multi_class='multinomial') (and
 * OneVsRestClassifier over it for multi-label rows): coef_, intercept_ and
 * predict_proba on the fixtures tests/ref/logreg_ref.py wrote into
 * tests/golden/logreg/. Tolerance 1e-4 absolute on every number.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "logreg.h"

#define TOL 1e-4

struct tcase {
    const char *name;
    double C;
    int balanced;
    int multilabel;
};

static const struct tcase cases[] = {
    {"binary", 1.0, 0, 0},
    {"binary_c10", 10.0, 0, 0},
    {"binary_balanced", 1.0, 1, 0},
    {"multiclass", 1.0, 0, 0},
    {"multiclass_balanced", 1.0, 1, 0},
    {"unnormalized_c01", 0.1, 1, 0},
    {"multilabel", 1.0, 0, 1},
    {"multilabel_balanced", 1.0, 1, 1},
};

static const char *srcdir;

/* Class names, one a line. */
static int read_classes(const char *name, char names[][64])
{
    FILE *f = fixture_open(srcdir, "logreg", name, "classes");
    int K = 0;
    while (K < 16 && fgets(names[K], 64, f)) {
        names[K][strcspn(names[K], "\n")] = 0;
        K++;
    }
    fclose(f);
    return K;
}

static int class_index(char names[][64], int K, const char *s, size_t len)
{
    for (int k = 0; k < K; k++)
        if (strlen(names[k]) == len && memcmp(names[k], s, len) == 0)
            return k;
    ctk_die("label '%.*s' not among the classes", (int)len, s);
}

static double maxdiff(const double *a, const double *b, int64_t n)
{
    double m = 0;
    for (int64_t t = 0; t < n; t++)
        if (fabs(a[t] - b[t]) > m)
            m = fabs(a[t] - b[t]);
    return m;
}

static int run(const struct tcase *tc)
{
    char names[16][64];
    int K = read_classes(tc->name, names);

    /* label<TAB>x1 x2 ... */
    FILE *f = fixture_open(srcdir, "logreg", tc->name, "tsv");
    char line[65536];
    int64_t N = 0, D = 0, cap = 0;
    float *X = NULL;
    int32_t *y = NULL;
    uint8_t *Y = NULL;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            ctk_die("%s.tsv: no tab", tc->name);
        if (N == cap) {
            cap = cap ? 2 * cap : 64;
            y = xreallocarray(y, cap, sizeof *y);
            Y = xreallocarray(Y, cap * K, 1);
        }
        memset(Y + N * K, 0, K);
        if (tc->multilabel) {
            const char *s = line;
            while (s < tab) {
                const char *c = memchr(s, ',', tab - s);
                const char *e = c ? c : tab;
                Y[N * K + class_index(names, K, s, e - s)] = 1;
                s = e + 1;
            }
        } else {
            y[N] = class_index(names, K, line, tab - line);
        }
        int64_t d = 0;
        char *p = tab + 1, *end;
        float v[4096];
        for (;;) {
            double x = strtod(p, &end);
            if (end == p)
                break;
            v[d++] = (float)x;
            p = end;
        }
        if (D == 0)
            D = d;
        if (d != D)
            ctk_die("%s.tsv: ragged rows", tc->name);
        X = xreallocarray(X, cap * D, sizeof *X);
        memcpy(X + N * D, v, D * sizeof *X);
        N++;
    }
    fclose(f);

    struct ctk_logreg_opts o;
    ctk_logreg_opts_default(&o);
    o.C = tc->C;
    o.balanced = tc->balanced;
    struct ctk_logreg m = {0};
    struct ctk_logreg_report r;
    struct ctk_err e;
    int rc = tc->multilabel ? ctk_logreg_fit_multilabel(&m, X, N, D, Y, K, &o, &r, &e)
                            : ctk_logreg_fit(&m, X, N, D, y, K, &o, &r, &e);
    if (rc)
        ctk_die_err(&e);

    int64_t nc, ni, np;
    double *coef = fixture_numbers(srcdir, "logreg", tc->name, "coef", &nc);
    double *icpt = fixture_numbers(srcdir, "logreg", tc->name, "intercept", &ni);
    double *proba = fixture_numbers(srcdir, "logreg", tc->name, "proba", &np);
    int ok = 1;
    if (nc != (int64_t)m.rows * D || ni != m.rows || np != N * K) {
        printf("FAIL %s: shapes: coef %lld (want %lld), intercept %lld (want %d), proba %lld (want %lld)\n",
               tc->name, (long long)nc, (long long)m.rows * D, (long long)ni, m.rows,
               (long long)np, (long long)(N * K));
        ok = 0;
    }
    float *P = xmallocarray(N * K, sizeof *P);
    ctk_logreg_proba(&m, X, N, P);
    double *Pd = xmallocarray(N * K, sizeof *Pd);
    for (int64_t t = 0; t < N * K; t++)
        Pd[t] = P[t];
    double dc = ok ? maxdiff(m.coef, coef, nc) : INFINITY;
    double di = ok ? maxdiff(m.intercept, icpt, ni) : INFINITY;
    double dp = ok ? maxdiff(Pd, proba, np) : INFINITY;
    ok = ok && dc <= TOL && di <= TOL && dp <= TOL && r.converged;
    printf("%s %-20s N=%lld D=%lld K=%d coef (%d,%lld): max|diff| coef %.2e intercept %.2e "
           "proba %.2e (%d iterations, |grad| %.1e%s)\n",
           ok ? "ok  " : "FAIL", tc->name, (long long)N, (long long)D, K, m.rows, (long long)D,
           dc, di, dp, r.iterations, r.grad_norm, r.converged ? "" : ", NOT CONVERGED");
    if (!ok && nc == (int64_t)m.rows * D)
        for (int t = 0; t < 4 && t < nc; t++)
            printf("    coef[%d] got %.9g want %.9g\n", t, m.coef[t], coef[t]);
    ctk_logreg_free(&m);
    free(coef);
    free(icpt);
    free(proba);
    free(P);
    free(Pd);
    free(X);
    free(y);
    free(Y);
    return ok;
}

/* A class missing from y and a label on every row are refused, not fitted. */
static int refusals(void)
{
    float X[8] = {1, 0, 0, 1, 1, 1, 0, 0};
    uint8_t Y[8] = {1, 0, 1, 1, 1, 0, 1, 0};
    struct ctk_logreg_opts o;
    ctk_logreg_opts_default(&o);
    struct ctk_logreg m = {0};
    struct ctk_logreg_report r;
    struct ctk_err e;
    int32_t y1[4] = {0, 0, 0, 0};
    int ok = ctk_logreg_fit(&m, X, 4, 2, y1, 1, &o, &r, &e) == -1;
    ok = ok && ctk_logreg_fit_multilabel(&m, X, 4, 2, Y, 2, &o, &r, &e) == -1 &&
         strstr(e.msg, "every row") != NULL;
    ctk_logreg_free(&m);
    printf("%s refusals (one class; a label on every row)\n", ok ? "ok  " : "FAIL");
    return ok;
}

int main(void)
{
    srcdir = getenv("CTK_SRCDIR");
    if (!srcdir)
        srcdir = ".";
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        check_failures += !run(&cases[c]);
    check_failures += !refusals();
    return check_exit("test_logreg");
}
