/*
 * ctk-fit-head -- fit a logistic-regression classification head on labeled
 * embeddings (SetFit's second stage, Tunstall et al. 2022).
 *
 * Reads an embedding stream with an `emb` and a `label` column, fits
 * multinomial logistic regression with L2 as scikit-learn's
 * LogisticRegression(C, solver='lbfgs', multi_class='multinomial') does
 * (lib/logreg.h), or one binary model per label for --multi-label rows, or
 * with --mlp a one-hidden-layer MLP (lib/mlp_head.h), and writes the head
 * file (lib/head.h) atomically.
 */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "err.h"
#include "opts.h"
#include "head.h"
#include "logreg.h"
#include "mlp_head.h"
#include "stream.h"

struct opts {
    const char *input;  /* "-" for stdin */
    const char *output; /* head file */
    const char *emb_col, *label_col;
    struct ctk_logreg_opts lr;
    struct ctk_mlp_opts mlp;
    int use_mlp, max_iter_given;
    int multilabel;
    int threads;
};

static void usage(void)
{
    printf("Usage: ctk-fit-head -o HEAD [OPTION]... [FILE]\n"
           "Fit a logistic-regression head on the labeled embeddings of FILE (a stream from\n"
           "ctk-encode with 'emb' and 'label' columns; stdin when FILE is - or absent).\n"
           "\n"
           "  -o, --output HEAD        write the head to HEAD (required)\n"
           "  -C, --C NUM              inverse regularisation strength, as scikit-learn's C\n"
           "                           (default 1.0; smaller is stronger)\n"
           "      --class-weight W     none (default) or balanced: weight each class by\n"
           "                           rows / (classes * rows of the class)\n"
           "      --max-iter N         L-BFGS iterations per model (default 1000; MLP 200)\n"
           "      --tol NUM            stop when |gradient| <= NUM * max(1, |weights|)\n"
           "                           (default 1e-10)\n"
           "      --multi-label        labels are comma-separated sets: one binary model per\n"
           "                           label (one-vs-rest)\n"
           "      --mlp HIDDEN         fit a one-hidden-layer MLP (HIDDEN ReLU units) instead,\n"
           "                           as scikit-learn's MLPClassifier(solver='lbfgs')\n"
           "      --alpha NUM          MLP: L2 strength (default 1e-4)\n"
           "      --seed N             MLP: seed of the initial weights (default 42)\n"
           "      --emb-column NAME    embedding column (default emb)\n"
           "      --label-column NAME  label column (default label)\n"
           "  -j, --threads N          threads for the matrix products (default: CTK_THREADS\n"
           "                           or all processors)\n"
           "  -q, --quiet              no summary on stderr\n"
           "      --help               show this help and exit\n"
           "      --version            show the version and exit\n"
           "\n"
           "Rows with an empty label are skipped (with --multi-label they are rows with\n"
           "none of the labels). Exit status: 0 ok, 1 error, 2 usage error.\n");
    exit(CTK_EXIT_OK);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { OPT_CW = 256, OPT_MAXIT, OPT_TOL, OPT_ML, OPT_EMB, OPT_LAB, OPT_MLP, OPT_ALPHA, OPT_SEED,
           OPT_HELP, OPT_VER };
    static const struct option lo[] = {
        {"output", required_argument, NULL, 'o'},
        {"C", required_argument, NULL, 'C'},
        {"class-weight", required_argument, NULL, OPT_CW},
        {"max-iter", required_argument, NULL, OPT_MAXIT},
        {"tol", required_argument, NULL, OPT_TOL},
        {"multi-label", no_argument, NULL, OPT_ML},
        {"mlp", required_argument, NULL, OPT_MLP},
        {"alpha", required_argument, NULL, OPT_ALPHA},
        {"seed", required_argument, NULL, OPT_SEED},
        {"emb-column", required_argument, NULL, OPT_EMB},
        {"label-column", required_argument, NULL, OPT_LAB},
        {"threads", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VER},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->input = "-";
    o->emb_col = "emb";
    o->label_col = "label";
    ctk_logreg_opts_default(&o->lr);
    ctk_mlp_opts_default(&o->mlp);
    int c;
    while ((c = getopt_long(argc, argv, "o:C:j:q", lo, NULL)) != -1) {
        switch (c) {
        case 'o': o->output = optarg; break;
        case 'C':
            o->lr.C = ctk_opt_double("-C", optarg, -INFINITY, INFINITY);
            if (!(o->lr.C > 0))
                ctk_usage("-C must be positive; you gave %s", optarg);
            break;
        case OPT_CW:
            if (strcmp(optarg, "balanced") == 0)
                o->lr.balanced = 1;
            else if (strcmp(optarg, "none") == 0)
                o->lr.balanced = 0;
            else
                ctk_usage("--class-weight: '%s' is not one of: none, balanced", optarg);
            break;
        case OPT_MAXIT:
            o->lr.max_iter = (int)ctk_opt_int64("--max-iter", optarg, 1, 10000000);
            o->max_iter_given = 1;
            break;
        case OPT_MLP:
            o->use_mlp = 1;
            o->mlp.hidden = (int)ctk_opt_int64("--mlp", optarg, 1, 65536);
            break;
        case OPT_ALPHA:
            o->mlp.alpha = ctk_opt_double("--alpha", optarg, -INFINITY, INFINITY);
            if (!(o->mlp.alpha >= 0))
                ctk_usage("--alpha must not be negative; you gave %s", optarg);
            break;
        case OPT_SEED: o->mlp.seed = (uint64_t)ctk_opt_int64("--seed", optarg, 0, INT64_MAX); break;
        case OPT_TOL:
            o->lr.tol = ctk_opt_double("--tol", optarg, -INFINITY, INFINITY);
            if (!(o->lr.tol >= 0))
                ctk_usage("--tol must not be negative; you gave %s", optarg);
            break;
        case OPT_ML: o->multilabel = 1; break;
        case OPT_EMB: o->emb_col = optarg; break;
        case OPT_LAB: o->label_col = optarg; break;
        case 'j': o->threads = (int)ctk_opt_int64("--threads", optarg, 1, 4096); break;
        case 'q': ctk_set_quiet(1); break;
        case OPT_HELP: usage(); break;
        case OPT_VER: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (!o->output)
        ctk_usage("no head file given: -o HEAD is required");
    if (o->use_mlp && o->multilabel && o->lr.balanced)
        ctk_usage("--class-weight balanced is for single-label heads when --mlp is given");
    o->mlp.balanced = o->lr.balanced;
    if (o->max_iter_given)
        o->mlp.max_iter = o->lr.max_iter;
    if (optind < argc)
        o->input = argv[optind++];
    if (optind < argc)
        ctk_usage("one input at most; '%s' is extra", argv[optind]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Distinct labels (or, multi-label, comma-separated items), sorted as scikit-learn's classes_. */
static char **collect_classes(const struct ctk_labeled *L, int multilabel, int *K)
{
    size_t n = 0, cap = 16;
    char **v = xmallocarray(cap, sizeof *v);
    for (int64_t i = 0; i < L->n; i++) {
        const char *s = L->text + L->off[i];
        if (!*s)
            continue;
        while (1) {
            size_t len = multilabel ? strcspn(s, ",") : strlen(s);
            if (n == cap)
                v = xreallocarray(v, cap *= 2, sizeof *v);
            v[n] = xmalloc(len + 1);
            memcpy(v[n], s, len);
            v[n][len] = 0;
            n++;
            if (!multilabel || !s[len])
                break;
            s += len + 1;
        }
    }
    qsort(v, n, sizeof *v, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        if (u > 0 && strcmp(v[u - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[u++] = v[i];
    }
    *K = (int)u;
    return v;
}

static int class_of(char **classes, int K, const char *s)
{
    char **p = bsearch(&s, classes, (size_t)K, sizeof *classes, cmp_str);
    return p ? (int)(p - classes) : -1;
}

/* Training accuracy (single-label) or per-label accuracy (multi-label), for the summary. */
static double train_accuracy(struct ctk_head *h, const float *X, int64_t N, const int32_t *y,
                             const uint8_t *Y)
{
    const int K = h->nlabels;
    float *P = xmallocarray((size_t)N * (size_t)K, sizeof *P);
    ctk_head_proba(h, X, N, P);
    int64_t good = 0, total = 0;
    for (int64_t i = 0; i < N; i++) {
        const float *p = P + i * K;
        if (h->multilabel) {
            for (int k = 0; k < K; k++)
                good += (p[k] >= 0.5f) == (Y[i * K + k] != 0);
            total += K;
        } else {
            int best = 0;
            for (int k = 1; k < K; k++)
                if (p[k] > p[best])
                    best = k;
            good += best == y[i];
            total++;
        }
    }
    free(P);
    return total ? (double)good / (double)total : 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ctk_labeled L;
    struct ctk_err e;

    ctk_init("ctk-fit-head", argc, argv);
    ctk_blas_init(argc, argv);
    parse_options(argc, argv, &o);
    ctk_blas_set_threads(ctk_threads(o.threads));
    const char *what = strcmp(o.input, "-") ? o.input : "stdin";
    if (ctk_labeled_read(&L, o.input, o.emb_col, o.label_col, &e))
        ctk_die_err(&e);

    int K;
    char **classes = collect_classes(&L, o.multilabel, &K);
    if (!o.multilabel) {
        for (int k = 0; k < K; k++)
            if (strchr(classes[k], ','))
                ctk_die("%s: label '%s' holds a comma: for rows with several labels use "
                        "--multi-label", what, classes[k]);
        if (K < 2)
            ctk_die("%s: %s: a classifier needs at least two classes", what,
                    K ? "every labeled row has the same label" : "no row has a label");
    } else if (K < 1) {
        ctk_die("%s: no row has a label", what);
    }

    /* Rows to fit on, with their classes. */
    const int64_t D = L.d;
    float *X = xmallocarray((size_t)(L.n > 0 ? L.n : 1), (size_t)D * sizeof *X);
    int32_t *y = xmallocarray((size_t)(L.n > 0 ? L.n : 1), sizeof *y);
    uint8_t *Y = o.multilabel ? xcalloc((size_t)(L.n > 0 ? L.n : 1), (size_t)K) : NULL;
    int64_t N = 0, skipped = 0;
    for (int64_t i = 0; i < L.n; i++) {
        char *s = L.text + L.off[i];
        if (!o.multilabel) {
            if (!*s) {
                skipped++;
                continue;
            }
            y[N] = class_of(classes, K, s);
        } else {
            for (char *t = strtok(s, ","); t; t = strtok(NULL, ","))
                if (*t)
                    Y[N * K + class_of(classes, K, t)] = 1;
        }
        memcpy(X + N * D, L.emb + i * D, (size_t)D * sizeof *X);
        N++;
    }
    if (skipped)
        ctk_warn("%s: skipped %lld row(s) with an empty label", what, (long long)skipped);

    struct ctk_head h = {0};
    struct ctk_logreg_report r = {0};
    double t0 = ctk_now();
    int rc;
    if (o.use_mlp) {
        h.kind = CTK_HEAD_MLP;
        h.alpha = o.mlp.alpha;
        h.seed = o.mlp.seed;
        rc = ctk_mlp_fit(&h.mlp, X, N, D, o.multilabel ? NULL : y, Y, K, o.multilabel, &o.mlp, &r,
                         &e);
    } else {
        rc = o.multilabel ? ctk_logreg_fit_multilabel(&h.lr, X, N, D, Y, K, &o.lr, &r, &e)
                          : ctk_logreg_fit(&h.lr, X, N, D, y, K, &o.lr, &r, &e);
    }
    if (rc)
        ctk_die("%s: %s", what, e.msg);
    if (!r.converged)
        ctk_warn("L-BFGS did not converge in %d iterations (relative gradient %.2g); the head "
                 "is written, but raise --max-iter or %s", r.iterations, r.grad_norm,
                 o.use_mlp ? "raise --alpha" : "lower -C");

    h.nlabels = K;
    h.labels = classes;
    h.multilabel = o.multilabel;
    h.model = L.meta.model ? xstrdup(L.meta.model) : NULL;
    h.dim = D;
    h.normalized = L.meta.normalized;
    h.C = o.lr.C;
    h.balanced = o.lr.balanced;
    h.fit_rows = N;
    h.fit = r;
    h.nhistory = L.meta.nhistory + 1;
    h.history = xmallocarray((size_t)h.nhistory, sizeof *h.history);
    for (int i = 0; i < L.meta.nhistory; i++)
        h.history[i] = xstrdup(L.meta.history[i]);
    h.history[L.meta.nhistory] = xstrdup(ctk_cmdline());
    if (ctk_head_save(&h, o.output, &e))
        ctk_die_err(&e);

    if (!ctk_quiet())
        fprintf(stderr, "ctk-fit-head: %lld rows, %d %s, dimension %lld: %d L-BFGS iterations "
                "in %.2f s, loss %.6g, training accuracy %.4f%s; wrote %s\n",
                (long long)N, K, o.multilabel ? "labels" : "classes", (long long)D,
                r.iterations, ctk_now() - t0, r.loss, train_accuracy(&h, X, N, y, Y),
                o.multilabel ? " (per label)" : "", o.output);
    ctk_head_free(&h);
    ctk_labeled_free(&L);
    free(X);
    free(y);
    free(Y);
    return CTK_EXIT_OK;
}
