/*
 * test_loss.c -- every loss of lib/loss.c against (1) values worked out by
 * hand, (2) PyTorch on the fixtures of tests/golden/loss (made by
 * tests/ref/loss_ref.py with sentence-transformers' definitions, and the
 * hard-negative class mask), and (3)
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
    int32_t *label, *nlabel; /* nlabel: ((K-2), S) classes of the hard negatives */
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
        } else if (!strcmp(line, "nlabel")) {
            size_t m = (size_t)((f->K - 2) * f->S);
            double *l = read_values(sp, m, path, line);
            f->nlabel = xmallocarray(m, sizeof(int32_t));
            for (size_t i = 0; i < m; i++)
                f->nlabel[i] = (int32_t)l[i];
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
    double loss = ctk_loss_compute_labeled(&f.o, f.K, f.S, f.D, f.emb, g, f.score, f.label,
                                           f.nlabel);

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
        double lp = ctk_loss_compute_labeled(&f.o, f.K, f.S, f.D, f.emb, g2, f.score, f.label,
                                             f.nlabel);
        f.emb[i] = x - h;
        double lm = ctk_loss_compute_labeled(&f.o, f.K, f.S, f.D, f.emb, g2, f.score, f.label,
                                             f.nlabel);
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
    free(f.nlabel);
}

/* --- the class mask over hard negatives ------------------------------------ */

static double run_labeled(const struct ctk_loss_opts *o, int K, int64_t S, int64_t D,
                          const double *emb, double *g, const int32_t *label,
                          const int32_t *nlabel)
{
    return ctk_loss_compute_labeled(o, K, S, D, emb, g, NULL, label, nlabel);
}

/*
 * MNRL written out directly from its definition (loss.h), without the
 * library's matrix layout: for anchor i, logsumexp over the kept candidates
 * minus the target's score; candidates are every positive and every hard
 * negative; kept unless (j != i positive of i's label) or (hard negative of
 * i's label). Non-symmetric.
 */
static double mnrl_direct(double scale, int K, int64_t S, int64_t D, const double *emb,
                          const int32_t *label, const int32_t *nlabel)
{
    double loss = 0;
    for (int64_t i = 0; i < S; i++) {
        const double *a = emb + i * D;
        double se = 0, target = 0;
        for (int c = 1; c < K; c++)
            for (int64_t j = 0; j < S; j++) {
                const double *x = emb + ((int64_t)c * S + j) * D;
                double ax = 0, aa = 0, xx = 0;
                for (int64_t d = 0; d < D; d++) {
                    ax += a[d] * x[d];
                    aa += a[d] * a[d];
                    xx += x[d] * x[d];
                }
                double z = scale * ax / (sqrt(aa) * sqrt(xx));
                if (c == 1 && j == i)
                    target = z;
                else if (c == 1 && label[j] == label[i])
                    continue;
                else if (c >= 2 && nlabel[(c - 2) * S + j] == label[i])
                    continue;
                se += exp(z);
            }
        loss += (log(se) - target) / (double)S;
    }
    return loss;
}

static void neglabel_checks(void)
{
    struct ctk_loss_opts o;
    ctk_loss_defaults(&o, CTK_LOSS_MNRL);
    o.scale = 1;
    /*
     * Two rows of classes 0 and 1, K = 3. Anchors and positives (1,0), (0,1);
     * row 0's mined negative is (0,1), of class 1, row 1's is (1,0), of
     * class 0. Anchor 0's candidates score p0 1, p1 0, n0 0, n1 1: without
     * negative labels the loss is log(2e + 2) - 1 = log(2 + 2/e); with them
     * n1 (class 0, anchor 0's class) leaves the softmax: log(e + 2) - 1 =
     * log(1 + 2/e). Row 1 mirrors row 0.
     */
    double e3[] = {1, 0, 0, 1, /* positives */ 1, 0, 0, 1, /* negatives */ 0, 1, 1, 0};
    int32_t lab[] = {0, 1}, nlab[] = {1, 0}, own[] = {0, 0};
    double g[12];
    check("mnrl hard negatives unlabeled", run_labeled(&o, 3, 2, 2, e3, g, lab, NULL),
          log(2 + 2 / exp(1.0)), 1e-14);
    check("mnrl hard negatives masked", run_labeled(&o, 3, 2, 2, e3, g, lab, nlab),
          log(1 + 2 / exp(1.0)), 1e-14);
    /* nlabel {0, 0}: anchor 0 loses n0 and n1: log(e + 1) - 1; anchor 1 nothing */
    check("mnrl own hard negative of the anchor's class masked",
          run_labeled(&o, 3, 2, 2, e3, g, lab, own),
          0.5 * (log(1 + 1 / exp(1.0)) + log(2 + 2 / exp(1.0))), 1e-14);
    /* the positive -> anchor direction scores anchors only: the mask of the
       anchors applies (none here, the labels differ), so it adds log(1 + 1/e) */
    o.symmetric = 1;
    check("mnrl symmetric hard negatives masked", run_labeled(&o, 3, 2, 2, e3, g, lab, nlab),
          0.5 * (log(1 + 2 / exp(1.0)) + log(1 + 1 / exp(1.0))), 1e-14);
    o.symmetric = 0;
    /* no anchor labels: the negatives' labels are not used */
    check("mnrl negative labels without anchor labels", run_labeled(&o, 3, 2, 2, e3, g, NULL, nlab),
          log(2 + 2 / exp(1.0)), 1e-14);

    /* unknown (-1) negative labels: the very same numbers as no negative labels */
    ctk_loss_defaults(&o, CTK_LOSS_MNRL);
    enum { K = 4, S = 6, D = 5 };
    double emb[K * S * D], gl[K * S * D], gu[K * S * D], gfd[K * S * D];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < K * S * D; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        emb[i] = (double)(x >> 11) / 9007199254740992.0 * 2 - 1;
    }
    int32_t rl[S] = {0, 1, 2, 0, 1, 2};
    int32_t nl[(K - 2) * S] = {1, 2, 0, -1, 0, 1, /* column 3 */ 2, 0, 1, 1, -1, 0};
    int32_t nu[(K - 2) * S];
    for (int i = 0; i < (K - 2) * S; i++)
        nu[i] = -1;
    double lu = run_labeled(&o, K, S, D, emb, gu, rl, nu);
    double l0 = run_labeled(&o, K, S, D, emb, gl, rl, NULL);
    if (lu != l0 || memcmp(gu, gl, sizeof gu) != 0) {
        printf("FAIL mnrl: unknown negative labels change the loss or its gradient\n");
        failures++;
    }

    /* the masked loss against its direct definition and central differences */
    for (int sym = 0; sym < 2; sym++) {
        o.symmetric = sym;
        double l = run_labeled(&o, K, S, D, emb, gl, rl, nl);
        if (!sym) {
            check("mnrl masked vs direct", l, mnrl_direct(o.scale, K, S, D, emb, rl, nl), 1e-12);
            check("mnrl unlabeled negatives vs direct", lu,
                  mnrl_direct(o.scale, K, S, D, emb, rl, nu), 1e-12);
            if (!(fabs(l - lu) > 1e-3)) {
                printf("FAIL mnrl: the negative labels do not change the loss\n");
                failures++;
            }
        }
        double gmax = 0, dfd = 0;
        for (int i = 0; i < K * S * D; i++) {
            if (fabs(gl[i]) > gmax)
                gmax = fabs(gl[i]);
            double v = emb[i], h = 1e-6 * (1.0 + fabs(v));
            emb[i] = v + h;
            double lp = run_labeled(&o, K, S, D, emb, gfd, rl, nl);
            emb[i] = v - h;
            double lm = run_labeled(&o, K, S, D, emb, gfd, rl, nl);
            emb[i] = v;
            double fd = (lp - lm) / (2 * h);
            if (fabs(fd - gl[i]) > dfd)
                dfd = fabs(fd - gl[i]);
        }
        printf("%-30s loss %.10f  grad rel err vs finite differences %.2e\n",
               sym ? "direct-neglabels-symmetric" : "direct-neglabels", l, dfd / gmax);
        if (dfd / gmax > 1e-6) {
            printf("FAIL mnrl-neglabels%s: gradient differs from finite differences\n",
                   sym ? "-symmetric" : "");
            failures++;
        }
    }
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
        "mnrl-neglabels", "mnrl-neglabels-symmetric",
    };
    hand_checks();
    neglabel_checks();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_fixture(dir, cases[i]);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
