/*
 * test_loss.c -- every loss of lib/loss.c against (1) values worked out by
 * hand, (2) PyTorch on the fixtures of tests/golden/loss (made by
 * tests/ref/loss_ref.py with sentence-transformers' definitions), and (3)
 * central finite differences of the loss itself, in double.
 * Exits non-zero on any mismatch, printing the worst difference.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fsutil.h"
#include "loss.h"

static int failures;

static void check(const char *what, double got, double want, double tol)
{
    double diff = fabs(got - want);
    if (!(diff <= tol * (1.0 + fabs(want)))) {
        printf("FAIL %s: got %.17g want %.17g (diff %.3g)\n", what, got, want, diff);
        failures++;
    }
}

/* --- hand-checked values ------------------------------------------------ */

static double run(struct ctk_loss_opts *o, int K, int64_t S, int64_t D, const double *emb,
                  const double *score, const int32_t *label)
{
    double *g = xmallocarray((size_t)(K * S * D), sizeof(double));
    double l = ctk_loss_compute(o, K, S, D, emb, g, score, label);
    free(g);
    return l;
}

static void hand_checks(void)
{
    struct ctk_loss_opts o;

    /* MNRL, scale 1: scores are the identity, loss = log(1 + e^-1) per row */
    double ap[] = {1, 0, 0, 1, /* positives, any length */ 2, 0, 0, 3};
    ctk_loss_defaults(&o, CTK_LOSS_MNRL);
    o.scale = 1;
    check("mnrl scale 1", run(&o, 2, 2, 2, ap, NULL, NULL), log1p(exp(-1.0)), 1e-14);
    o.symmetric = 1;
    check("mnrl symmetric scale 1", run(&o, 2, 2, 2, ap, NULL, NULL), log1p(exp(-1.0)), 1e-14);
    /* both rows of one class: the other positive is masked, the softmax has one term */
    int32_t same[] = {4, 4};
    check("mnrl masked", run(&o, 2, 2, 2, ap, NULL, same), 0.0, 1e-14);
    /* scale 20 (the default): log(1 + e^-20) */
    ctk_loss_defaults(&o, CTK_LOSS_MNRL);
    check("mnrl scale 20", run(&o, 2, 2, 2, ap, NULL, NULL), log1p(exp(-20.0)), 1e-12);

    /* cosine: cos((1,0),(1,1)) = 1/sqrt2, target 1 */
    double cp[] = {1, 0, 1, 1};
    double one = 1;
    ctk_loss_defaults(&o, CTK_LOSS_COSINE);
    check("cosine", run(&o, 2, 1, 2, cp, &one, NULL), pow(1 - 1 / sqrt(2.0), 2), 1e-14);

    /* contrastive, cosine distance 1 between orthogonal vectors, margin 0.5:
       positive 0.5 * 1^2, negative 0.5 * relu(0.5 - 1)^2 = 0; mean 0.25 */
    double orth[] = {1, 0, 1, 0, 0, 1, 0, 1};
    double y[] = {1, 0};
    ctk_loss_defaults(&o, CTK_LOSS_CONTRASTIVE);
    check("contrastive", run(&o, 2, 2, 2, orth, y, NULL), 0.25, 1e-14);

    /* triplet, euclidean, margin 5: |a-p| = 5, |a-n| = 1 -> 9 (eps 1e-6 moves it by ~1.4e-6) */
    double tr[] = {0, 0, 3, 4, 0, 1};
    ctk_loss_defaults(&o, CTK_LOSS_TRIPLET);
    check("triplet", run(&o, 3, 1, 2, tr, NULL, NULL), 9.0, 1e-6);

    /* online contrastive: cosine distances pos 0.2, 0.6, neg 0.1, 0.9: the
       negative at 0.1 (< 0.6) and both positives (> 0.1) are hard:
       0.2^2 + 0.6^2 + (0.5 - 0.1)^2 = 0.56 */
    double oc[16] = {1, 0, 1, 0, 1, 0, 1, 0, 0.8, 0.6, 0.4, sqrt(1 - 0.16), 0.9, sqrt(0.19),
                     0.1, sqrt(0.99)};
    double ys[] = {1, 1, 0, 0};
    ctk_loss_defaults(&o, CTK_LOSS_ONLINE_CONTRASTIVE);
    check("online-contrastive", run(&o, 2, 4, 2, oc, ys, NULL), 0.56, 1e-12);
}

/* --- fixtures from PyTorch ---------------------------------------------- */

struct fixture {
    struct ctk_loss_opts o;
    int K;
    int64_t S, D;
    double *emb, *grad, *score, loss;
    int32_t *label;
};

static double *read_values(char *s, size_t n, const char *path, const char *key)
{
    double *v = xmallocarray(n, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        char *end;
        v[i] = strtod(s, &end);
        if (end == s)
            ctk_die("%s: %s: expected %zu values, found %zu", path, key, n, i);
        s = end;
    }
    return v;
}

static void load_fixture(const char *path, struct fixture *f)
{
    struct ctk_err e;
    char *text = ctk_read_file(path, NULL, &e);
    if (!text)
        ctk_die_err(&e);
    memset(f, 0, sizeof *f);
    enum ctk_loss_kind kind = CTK_LOSS_MNRL;
    char *save, *line;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            ctk_die("%s: malformed line '%s'", path, line);
        *sp++ = 0;
        size_t n = (size_t)(f->K * f->S * f->D);
        if (!strcmp(line, "kind")) {
            if (ctk_loss_parse(sp, &kind) < 0)
                ctk_die("%s: unknown loss %s", path, sp);
            ctk_loss_defaults(&f->o, kind);
        } else if (!strcmp(line, "scale"))
            f->o.scale = atof(sp);
        else if (!strcmp(line, "margin"))
            f->o.margin = atof(sp);
        else if (!strcmp(line, "distance"))
            f->o.distance = !strcmp(sp, "cosine") ? CTK_DIST_COSINE : CTK_DIST_EUCLIDEAN;
        else if (!strcmp(line, "symmetric"))
            f->o.symmetric = atoi(sp);
        else if (!strcmp(line, "K"))
            f->K = atoi(sp);
        else if (!strcmp(line, "S"))
            f->S = atoi(sp);
        else if (!strcmp(line, "D"))
            f->D = atoi(sp);
        else if (!strcmp(line, "score"))
            f->score = read_values(sp, (size_t)f->S, path, line);
        else if (!strcmp(line, "label")) {
            double *l = read_values(sp, (size_t)f->S, path, line);
            f->label = xmallocarray((size_t)f->S, sizeof(int32_t));
            for (int64_t i = 0; i < f->S; i++)
                f->label[i] = (int32_t)l[i];
            free(l);
        } else if (!strcmp(line, "emb"))
            f->emb = read_values(sp, n, path, line);
        else if (!strcmp(line, "grad"))
            f->grad = read_values(sp, n, path, line);
        else if (!strcmp(line, "loss"))
            f->loss = atof(sp);
        else
            ctk_die("%s: unknown key %s", path, line);
    }
    if (!f->emb || !f->grad)
        ctk_die("%s: no emb or grad", path);
    free(text);
}

/* The analytic gradient against PyTorch's and against central differences. */
static void check_fixture(const char *dir, const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.txt", dir, name);
    struct fixture f;
    load_fixture(path, &f);
    size_t n = (size_t)(f.K * f.S * f.D);
    double *g = xmallocarray(n, sizeof(double)), *g2 = xmallocarray(n, sizeof(double));
    double loss = ctk_loss_compute(&f.o, f.K, f.S, f.D, f.emb, g, f.score, f.label);

    char what[2200];
    snprintf(what, sizeof what, "%s: loss vs torch", name);
    check(what, loss, f.loss, 1e-12);
    /* errors relative to the largest gradient entry, so that tiny entries
       (rounding noise in both) do not dominate */
    double gmax = 0, dt = 0, dfd = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(f.grad[i]) > gmax)
            gmax = fabs(f.grad[i]);
    for (size_t i = 0; i < n; i++) {
        if (fabs(g[i] - f.grad[i]) > dt)
            dt = fabs(g[i] - f.grad[i]);
        /* central difference, h scaled to the value */
        double x = f.emb[i], h = 1e-6 * (1.0 + fabs(x));
        f.emb[i] = x + h;
        double lp = ctk_loss_compute(&f.o, f.K, f.S, f.D, f.emb, g2, f.score, f.label);
        f.emb[i] = x - h;
        double lm = ctk_loss_compute(&f.o, f.K, f.S, f.D, f.emb, g2, f.score, f.label);
        f.emb[i] = x;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - g[i]) > dfd)
            dfd = fabs(fd - g[i]);
    }
    double max_torch = dt / gmax, max_fd = dfd / gmax;
    printf("%-30s loss %.10f  grad rel err vs torch %.2e  vs finite differences %.2e\n", name,
           loss, max_torch, max_fd);
    if (max_torch > 1e-9) {
        printf("FAIL %s: gradient differs from torch\n", name);
        failures++;
    }
    if (max_fd > 1e-6) {
        printf("FAIL %s: gradient differs from finite differences\n", name);
        failures++;
    }
    free(g);
    free(g2);
    free(f.emb);
    free(f.grad);
    free(f.score);
    free(f.label);
}

int main(int argc, char **argv)
{
    ctk_init("test_loss", argc, argv);
    const char *src = getenv("CTK_SRCDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/loss", src ? src : ".");
    static const char *const cases[] = {
        "mnrl", "mnrl-hardneg", "mnrl-scale7", "mnrl-symmetric", "mnrl-labels",
        "mnrl-labels-symmetric", "simcse", "cosine", "contrastive", "contrastive-euclidean",
        "online-contrastive", "online-contrastive-euclidean", "triplet", "triplet-cosine",
    };
    hand_checks();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_fixture(dir, cases[i]);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
