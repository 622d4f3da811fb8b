/*
 * ctk-diag -- measure and diagnose the geometry of an embedding space.
 *
 * Reads an embedding stream (an "emb" column, "label" when present) in one
 * pass: exact streaming figures over every row (lib/diag's struct
 * ctk_diag_acc), pairwise figures over a uniform sample of rows (reservoir),
 * then draws verdicts from the reference's "Diagnosing Embedding Quality"
 * table (lib/diagreport) and prints them as a text table, YAML or JSON.
 * Optional: a pair stream (--pairs) for alignment and pair balance, a
 * stream of encoded STS pairs (--sts) for the Spearman correlation of cosine
 * with gold scores, and a second space (--compare BEFORE) for deltas and
 * catastrophic forgetting.
 */
#include "config.h"
#include "diag.h"
#include "diagreport.h"
#include "err.h"
#include "opts.h"
#include "f16.h"
#include "stream.h"
#include "yamlout.h"

#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLASSES 1000 /* the centroid cosines and k-NN confusion are C x C */
#define DEFAULT_SAMPLE_PAIRS 8386560 /* all pairs of 4096 rows */
#define MAX_SAMPLE_PAIRS 2000000000LL

enum format { FMT_TEXT, FMT_YAML, FMT_JSON };

struct opts {
    const char *input, *compare;         /* embedding streams */
    const char *pairs, *pairs_before;    /* pair streams */
    const char *sts, *sts_before;        /* STS pair streams */
    const char *column, *label_column;
    enum format format;
    int fail_on[CTK_NSYMPTOMS];
    int64_t sample_pairs;
    uint64_t seed;
    int k, threads;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ctk-diag [OPTION]... [INPUT]\n"
            "Measure the geometry of the embeddings in INPUT (a ctk stream with an 'emb'\n"
            "column, and 'label' when present; '-' or none: stdin) and say what is wrong.\n"
            "\n"
            "  -p, --pairs=PAIRS        encoded pair stream (anchor.emb/positive.emb[/negative*.emb],\n"
            "                           or text1.emb/text2.emb with score 1/0): alignment, pair balance\n"
            "  -s, --sts=PAIRS          encoded sentence pairs with a gold 'score' (0-5):\n"
            "                           Spearman correlation of cosine with the gold scores\n"
            "  -c, --compare=BEFORE     the same space before fine-tuning: side by side, with deltas\n"
            "      --pairs-before=PAIRS pair stream encoded by the BEFORE model\n"
            "      --sts-before=PAIRS   STS pairs encoded by the BEFORE model (forgetting)\n"
            "  -f, --format=FMT         text (default), yaml or json\n"
            "  -F, --fail-on=SYMPTOM[,SYMPTOM...]\n"
            "                           exit 1 when one of these is found (or 'any'): nan,\n"
            "                           zero-vectors, collapse, anisotropy, class-overlap,\n"
            "                           class-dominance, pair-imbalance, false-negatives,\n"
            "                           forgetting\n"
            "  -n, --sample-pairs=N     pairwise figures (uniformity, silhouette, k-NN) over all\n"
            "                           pairs of a uniform sample of R rows, R(R-1)/2 <= N\n"
            "                           (default %d: 4096 rows); exact when all rows fit\n"
            "      --seed=S             seed of the sample (default 1)\n"
            "  -k, --neighbours=K       neighbours of the k-NN accuracy (default 10)\n"
            "      --column=NAME        embedding column (default 'emb')\n"
            "      --label-column=NAME  label column (default 'label' when present)\n"
            "  -j, --threads=N          BLAS threads (default: CTK_THREADS or all processors)\n"
            "  -q, --quiet              no progress\n"
            "      --help               show this help and exit\n"
            "      --version            show the version and exit\n"
            "\n"
            "Exit status: 0 ok, 1 error or a --fail-on symptom found, 2 usage error.\n"
            "Thresholds of the verdicts: ctk-diag(1).\n",
            DEFAULT_SAMPLE_PAIRS);
}

static void parse_fail_on(struct opts *o, const char *arg)
{
    char *s = xstrdup(arg), *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "any")) {
            for (int i = 0; i < CTK_NSYMPTOMS; i++) o->fail_on[i] = 1;
            continue;
        }
        int i = ctk_symptom_parse(t);
        if (i < 0) {
            char names[256] = "";
            for (int j = 0; j < CTK_NSYMPTOMS; j++) {
                strcat(names, ctk_symptom_names[j]);
                strcat(names, ", ");
            }
            ctk_usage("--fail-on: unknown symptom '%s' (known: %sany)", t, names);
        }
        o->fail_on[i] = 1;
    }
    free(s);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { OPT_HELP = 256, OPT_VERSION, OPT_SEED, OPT_COLUMN, OPT_LABEL, OPT_PB, OPT_SB };
    static const struct option longopts[] = {
        {"pairs", required_argument, 0, 'p'},
        {"sts", required_argument, 0, 's'},
        {"compare", required_argument, 0, 'c'},
        {"pairs-before", required_argument, 0, OPT_PB},
        {"sts-before", required_argument, 0, OPT_SB},
        {"format", required_argument, 0, 'f'},
        {"fail-on", required_argument, 0, 'F'},
        {"sample-pairs", required_argument, 0, 'n'},
        {"seed", required_argument, 0, OPT_SEED},
        {"neighbours", required_argument, 0, 'k'},
        {"neighbors", required_argument, 0, 'k'},
        {"column", required_argument, 0, OPT_COLUMN},
        {"label-column", required_argument, 0, OPT_LABEL},
        {"threads", required_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, OPT_HELP},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->format = FMT_TEXT;
    o->sample_pairs = DEFAULT_SAMPLE_PAIRS;
    o->seed = 1;
    o->k = 10;
    o->column = "emb";
    int c;
    while ((c = getopt_long(argc, argv, "p:s:c:f:F:n:k:j:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o->pairs = optarg; break;
        case 's': o->sts = optarg; break;
        case 'c': o->compare = optarg; break;
        case OPT_PB: o->pairs_before = optarg; break;
        case OPT_SB: o->sts_before = optarg; break;
        case 'f':
            if (!strcmp(optarg, "text")) o->format = FMT_TEXT;
            else if (!strcmp(optarg, "yaml")) o->format = FMT_YAML;
            else if (!strcmp(optarg, "json")) o->format = FMT_JSON;
            else ctk_usage("--format must be text, yaml or json; you gave '%s'", optarg);
            break;
        case 'F': parse_fail_on(o, optarg); break;
        case 'n': o->sample_pairs = ctk_opt_int64("--sample-pairs", optarg, 1, MAX_SAMPLE_PAIRS); break;
        case OPT_SEED: o->seed = (uint64_t)ctk_opt_int64("--seed", optarg, 0, INT64_MAX); break;
        case 'k': o->k = (int)ctk_opt_int64("-k", optarg, 1, 1000); break;
        case OPT_COLUMN: o->column = optarg; break;
        case OPT_LABEL: o->label_column = optarg; break;
        case 'j': o->threads = (int)ctk_opt_int64("--threads", optarg, 1, 1024); break;
        case 'q': ctk_set_quiet(1); break;
        case OPT_HELP: usage(stdout); exit(0);
        case OPT_VERSION: ctk_version();
        default: ctk_usage("unknown option");
        }
    }
    if (optind < argc) o->input = argv[optind++];
    if (optind < argc) ctk_usage("one INPUT at most; '%s' is extra", argv[optind]);
    if ((o->pairs_before || o->sts_before) && !o->compare)
        ctk_usage("--pairs-before and --sts-before describe the --compare space; give --compare BEFORE");
    if (o->sts_before && !o->sts) ctk_usage("--sts-before needs --sts (the same pairs encoded by the new model)");
    int stdin_users = (!o->input || !strcmp(o->input, "-")) + (o->compare && !strcmp(o->compare, "-")) +
                      (o->pairs && !strcmp(o->pairs, "-")) + (o->sts && !strcmp(o->sts, "-")) +
                      (o->pairs_before && !strcmp(o->pairs_before, "-")) +
                      (o->sts_before && !strcmp(o->sts_before, "-"));
    if (stdin_users > 1) ctk_usage("only one input can be stdin ('-'); name the others as files");
}

/* --- reading columns ------------------------------------------------------------------ */

static const char *sname(const char *path) { return !path || !strcmp(path, "-") ? "stdin" : path; }

static void open_stream(struct ctk_stream *s, const char *path)
{
    struct ctk_err e;
    if (ctk_stream_open_read(s, path && strcmp(path, "-") ? path : NULL, &e)) ctk_die_err(&e);
}

static int is_emb_col(const struct ctk_col_spec *c)
{
    return c->kind == CTK_COL_DENSE && c->width > 0 &&
           (c->dtype == CTK_F32 || c->dtype == CTK_F16 || c->dtype == CTK_BF16);
}

static void list_columns(const struct ctk_stream_meta *m, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < m->ncols && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", m->cols[i].name);
}

/* An embedding column by name; dies naming the columns there are. */
static int emb_column(const struct ctk_stream *s, const char *name, const char *path)
{
    int i = ctk_meta_find(&s->meta, name);
    char cols[512];
    list_columns(&s->meta, cols, sizeof cols);
    if (i < 0)
        ctk_die("%s has no '%s' column (it has: %s); name the embedding column with --column",
                sname(path), name, cols);
    if (!is_emb_col(&s->meta.cols[i]))
        ctk_die("%s: column '%s' is not an embedding (dense F32/F16/BF16 rows of width >= 1)", sname(path), name);
    return i;
}

/* Column i of chunk c as floats (n, width): the data itself when F32, else converted into *buf. */
static const float *floats_of(const struct ctk_stream *s, const struct ctk_chunk *c, int i, float **buf,
                              size_t *cap)
{
    const struct ctk_col_spec *sp = &s->meta.cols[i];
    size_t n = (size_t)c->rows * (size_t)sp->width;
    if (sp->dtype == CTK_F32) return c->cols[i].data;
    if (n > *cap) {
        *buf = xreallocarray(*buf, n, sizeof(float));
        *cap = n;
    }
    if (sp->dtype == CTK_F16) ctk_f16_to_f32_n(*buf, c->cols[i].data, n);
    else ctk_bf16_to_f32_n(*buf, c->cols[i].data, n);
    return *buf;
}

/* A scalar numeric column (score) as double. */
static double scalar_at(const struct ctk_col_spec *sp, const struct ctk_col *col, int64_t r)
{
    switch (sp->dtype) {
    case CTK_F32: return ((const float *)col->data)[r];
    case CTK_I32: return ((const int32_t *)col->data)[r];
    case CTK_I64: return (double)((const int64_t *)col->data)[r];
    case CTK_F16: return ctk_f16_to_f32(((const uint16_t *)col->data)[r]);
    case CTK_BF16: return ctk_bf16_to_f32(((const uint16_t *)col->data)[r]);
    default: return NAN;
    }
}

static int score_column(const struct ctk_stream *s, const char *path, const char *what)
{
    int i = ctk_meta_find(&s->meta, "score");
    if (i < 0) {
        char cols[512];
        list_columns(&s->meta, cols, sizeof cols);
        ctk_die("%s (%s) has no 'score' column (it has: %s)", sname(path), what, cols);
    }
    const struct ctk_col_spec *sp = &s->meta.cols[i];
    if (sp->kind != CTK_COL_DENSE || sp->width != 0 || sp->dtype == CTK_U8)
        ctk_die("%s: column 'score' must hold one number per row", sname(path));
    return i;
}

/*
 * Class index of row r of label column li: a string names the class; an
 * integer is an index into the stream's label names (or its own name).
 */
static int32_t label_of(const struct ctk_stream *s, const struct ctk_chunk *c, int li, int64_t r,
                        struct ctk_diag_labels *l, const char *path)
{
    const struct ctk_col_spec *sp = &s->meta.cols[li];
    char buf[32];
    const char *name;
    size_t len;
    if (sp->kind == CTK_COL_STRING) {
        int64_t n;
        name = ctk_col_row(c, &s->meta, li, r, &n);
        len = (size_t)n;
    } else {
        int64_t v = sp->dtype == CTK_I64 ? ((const int64_t *)c->cols[li].data)[r]
                                         : ((const int32_t *)c->cols[li].data)[r];
        if (v >= 0 && v < s->meta.nlabels) name = s->meta.labels[v];
        else {
            snprintf(buf, sizeof buf, "%" PRId64, v);
            name = buf;
        }
        len = strlen(name);
    }
    int k = ctk_diag_labels_intern(l, name, len);
    if (l->n > MAX_CLASSES)
        ctk_die("%s: more than %d distinct labels (chunk %lld); is '%s' really a class label? "
                "Name another with --label-column",
                sname(path), MAX_CLASSES, (long long)s->chunk_index, sp->name);
    return k;
}

static int label_column(const struct ctk_stream *s, const char *name, int required, const char *path)
{
    int i = ctk_meta_find(&s->meta, name);
    if (i < 0) {
        if (required) ctk_die("%s has no label column '%s'", sname(path), name);
        return -1;
    }
    const struct ctk_col_spec *sp = &s->meta.cols[i];
    if (!(sp->kind == CTK_COL_STRING ||
          (sp->kind == CTK_COL_DENSE && sp->width == 0 && (sp->dtype == CTK_I32 || sp->dtype == CTK_I64))))
        ctk_die("%s: label column '%s' must be strings or integer class indices", sname(path), name);
    return i;
}

/* --- the embedding space ----------------------------------------------------------------- */

static int row_usable(const float *x, int d)
{
    double ss = 0;
    for (int k = 0; k < d; k++) {
        if (!isfinite(x[k])) return 0;
        ss += (double)x[k] * x[k];
    }
    return ss > 0;
}

static void read_space(const char *path, const struct opts *o, struct ctk_diag_labels *labels,
                       struct ctk_diag_space *sp)
{
    struct ctk_stream s;
    struct ctk_chunk c = {0};
    struct ctk_err e;
    open_stream(&s, path);
    int ei = emb_column(&s, o->column, path);
    int d = (int)s.meta.cols[ei].width;
    int li = label_column(&s, o->label_column ? o->label_column : "label", o->label_column != NULL, path);
    struct ctk_diag_acc acc;
    struct ctk_diag_reservoir res;
    ctk_diag_acc_init(&acc, d);
    ctk_diag_reservoir_init(&res, d, ctk_diag_sample_rows(o->sample_pairs), o->seed);
    int32_t *y = NULL;
    size_t ycap = 0, fcap = 0;
    float *fbuf = NULL;
    double t0 = ctk_now();
    int r;
    while ((r = ctk_chunk_read(&s, &c, &e)) == 1) {
        const float *x = floats_of(&s, &c, ei, &fbuf, &fcap);
        if (li >= 0) {
            if ((size_t)c.rows > ycap) {
                ycap = (size_t)c.rows;
                y = xreallocarray(y, ycap, sizeof *y);
            }
            for (int64_t i = 0; i < c.rows; i++) y[i] = label_of(&s, &c, li, i, labels, path);
        }
        ctk_diag_acc_add(&acc, x, li >= 0 ? y : NULL, c.rows);
        for (int64_t i = 0; i < c.rows; i++)
            if (row_usable(x + (size_t)i * d, d)) ctk_diag_reservoir_add(&res, x + (size_t)i * d, li >= 0 ? y[i] : -1);
        ctk_progress("%s: %lld rows (%.0f rows/s)", sname(path), (long long)acc.rows,
                     (double)acc.rows / (ctk_now() - t0 + 1e-9));
    }
    if (r < 0) ctk_die_err(&e);
    ctk_progress_done();
    if (acc.rows == 0) ctk_die("%s holds no rows: nothing to measure", sname(path));
    struct ctk_diag_pairwise pw;
    int have_pw = res.n >= 2;
    if (have_pw) {
        double *cent = NULL;
        int C = li >= 0 ? acc.nclass : 0;
        if (C) {
            cent = xmallocarray((size_t)C * d, sizeof(double));
            for (int q = 0; q < C; q++)
                for (int k = 0; k < d; k++)
                    cent[(size_t)q * d + k] = acc.ccount[q] ? acc.csum[(size_t)q * d + k] / (double)acc.ccount[q] : 0;
        }
        ctk_progress("%s: pairwise figures over %lld rows", sname(path), (long long)res.n);
        ctk_diag_pairwise(&pw, res.x, C ? res.y : NULL, res.n, d, C, cent, o->k);
        ctk_progress_done();
        free(cent);
    }
    sp->name = sname(path);
    sp->seed = o->seed;
    if (ctk_diag_space_fill(sp, &acc, have_pw ? &pw : NULL, NULL, &e)) ctk_die_err(&e);
    if (have_pw) ctk_diag_pairwise_free(&pw);
    ctk_diag_reservoir_free(&res);
    ctk_diag_acc_free(&acc);
    free(y);
    free(fbuf);
    ctk_chunk_free(&c);
    if (ctk_stream_close(&s, &e)) ctk_die_err(&e);
}

/* --- pair streams ------------------------------------------------------------------------------ */

#define HIST_BINS 20000

static int cos_bin(double c)
{
    int b = (int)floor((c + 1) * (HIST_BINS / 2));
    return b < 0 ? 0 : b > HIST_BINS ? HIST_BINS : b;
}

static void read_pairs(const char *path, struct ctk_diag_labels *pl, struct ctk_diag_space *sp)
{
    struct ctk_stream s;
    struct ctk_chunk c = {0};
    struct ctk_err e;
    open_stream(&s, path);
    int ai = ctk_meta_find(&s.meta, "anchor.emb"), pi = ctk_meta_find(&s.meta, "positive.emb"), si = -1;
    int negs[CTK_MAX_COLS], nneg = 0;
    if (ai >= 0 && pi >= 0) {
        for (int i = 0; i < s.meta.ncols; i++)
            if (!strncmp(s.meta.cols[i].name, "negative", 8) && strstr(s.meta.cols[i].name, ".emb") &&
                is_emb_col(&s.meta.cols[i]))
                negs[nneg++] = i;
    } else {
        ai = ctk_meta_find(&s.meta, "text1.emb");
        pi = ctk_meta_find(&s.meta, "text2.emb");
        if (ai < 0 || pi < 0) {
            char cols[512];
            list_columns(&s.meta, cols, sizeof cols);
            ctk_die("%s (--pairs) has neither anchor.emb/positive.emb nor text1.emb/text2.emb "
                    "(it has: %s); encode the pairs with ctk-encode",
                    sname(path), cols);
        }
        si = score_column(&s, path, "--pairs");
    }
    emb_column(&s, s.meta.cols[ai].name, path);
    emb_column(&s, s.meta.cols[pi].name, path);
    int d = (int)s.meta.cols[ai].width;
    for (int q = 0; q < nneg; q++)
        if (s.meta.cols[negs[q]].width != d) ctk_die("%s: embedding columns of different widths", sname(path));
    if (s.meta.cols[pi].width != d) ctk_die("%s: embedding columns of different widths", sname(path));
    int li = label_column(&s, "label", 0, path);
    float *b1 = NULL, *b2 = NULL;
    size_t c1 = 0, c2 = 0, cc = 0;
    double *cs = NULL, sum_align = 0, sum_pos = 0, sum_neg = 0;
    /* negative cosines in bins of 1e-4 over [-1, 1], to count later those at or
     * above the mean positive cosine (known only at the end) */
    int64_t *hist = xcalloc(HIST_BINS + 1, sizeof *hist);
    int64_t npos = 0, nneg_used = 0;
    int r;
    sp->has_pairs = 1;
    while ((r = ctk_chunk_read(&s, &c, &e)) == 1) {
        if ((size_t)c.rows > cc) {
            cc = (size_t)c.rows;
            cs = xreallocarray(cs, cc, sizeof *cs);
        }
        const float *a = floats_of(&s, &c, ai, &b1, &c1);
        for (int q = -1; q < nneg; q++) {
            const float *b = floats_of(&s, &c, q < 0 ? pi : negs[q], &b2, &c2);
            ctk_diag_pair_cosines(cs, a, b, c.rows, d);
            for (int64_t i = 0; i < c.rows; i++) {
                int positive = q < 0 && (si < 0 || scalar_at(&s.meta.cols[si], &c.cols[si], i) >= 0.5);
                int cls = li >= 0 ? label_of(&s, &c, li, i, pl, path) : -1;
                sp->pairs++;
                if (positive) sp->pos++;
                else sp->neg++;
                if (cls >= 0) {
                    if (cls >= sp->npclass) {
                        sp->ppos = xreallocarray(sp->ppos, (size_t)pl->n, sizeof(int64_t));
                        sp->pneg = xreallocarray(sp->pneg, (size_t)pl->n, sizeof(int64_t));
                        for (int k = sp->npclass; k < pl->n; k++) sp->ppos[k] = sp->pneg[k] = 0;
                        sp->npclass = pl->n;
                    }
                    if (positive) sp->ppos[cls]++;
                    else sp->pneg[cls]++;
                }
                if (isnan(cs[i])) {
                    sp->pairs_bad++;
                    continue;
                }
                if (positive) {
                    npos++;
                    sum_pos += cs[i];
                    sum_align += 2 - 2 * cs[i]; /* |u - v|^2 of unit rows */
                } else {
                    nneg_used++;
                    sum_neg += cs[i];
                    hist[cos_bin(cs[i])]++;
                }
            }
        }
    }
    if (r < 0) ctk_die_err(&e);
    if (npos) {
        sp->alignment = sum_align / (double)npos;
        sp->pos_cos = sum_pos / (double)npos;
    }
    if (nneg_used) sp->neg_cos = sum_neg / (double)nneg_used;
    if (npos)
        for (int b = cos_bin(sp->pos_cos); b <= HIST_BINS; b++) sp->neg_high += hist[b];
    free(hist);
    free(b1);
    free(b2);
    free(cs);
    ctk_chunk_free(&c);
    if (ctk_stream_close(&s, &e)) ctk_die_err(&e);
}

static void read_sts(const char *path, struct ctk_diag_space *sp)
{
    struct ctk_stream s;
    struct ctk_chunk c = {0};
    struct ctk_err e;
    open_stream(&s, path);
    int ai = ctk_meta_find(&s.meta, "text1.emb"), bi = ctk_meta_find(&s.meta, "text2.emb");
    if (ai < 0 || bi < 0) { /* else the first two embedding columns */
        ai = bi = -1;
        for (int i = 0; i < s.meta.ncols; i++)
            if (is_emb_col(&s.meta.cols[i])) {
                if (ai < 0) ai = i;
                else if (bi < 0) bi = i;
            }
        if (bi < 0) {
            char cols[512];
            list_columns(&s.meta, cols, sizeof cols);
            ctk_die("%s (--sts) needs two embedding columns, text1.emb and text2.emb (it has: %s)",
                    sname(path), cols);
        }
    }
    emb_column(&s, s.meta.cols[ai].name, path);
    emb_column(&s, s.meta.cols[bi].name, path);
    int d = (int)s.meta.cols[ai].width;
    if (s.meta.cols[bi].width != d)
        ctk_die("%s: %s and %s have different widths", sname(path), s.meta.cols[ai].name, s.meta.cols[bi].name);
    int si = score_column(&s, path, "--sts");
    float *b1 = NULL, *b2 = NULL;
    size_t c1 = 0, c2 = 0, cap = 0, n = 0, tc = 0;
    double *cos = NULL, *gold = NULL, *t = NULL;
    int r;
    while ((r = ctk_chunk_read(&s, &c, &e)) == 1) {
        if ((size_t)c.rows > tc) {
            tc = (size_t)c.rows;
            t = xreallocarray(t, tc, sizeof *t);
        }
        ctk_diag_pair_cosines(t, floats_of(&s, &c, ai, &b1, &c1), floats_of(&s, &c, bi, &b2, &c2), c.rows, d);
        for (int64_t i = 0; i < c.rows; i++) {
            double g = scalar_at(&s.meta.cols[si], &c.cols[si], i);
            sp->sts_pairs++;
            if (isnan(t[i]) || !isfinite(g)) {
                sp->sts_bad++;
                continue;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                cos = xreallocarray(cos, cap, sizeof *cos);
                gold = xreallocarray(gold, cap, sizeof *gold);
            }
            cos[n] = t[i];
            gold[n++] = g;
        }
    }
    if (r < 0) ctk_die_err(&e);
    if (sp->sts_pairs == 0) ctk_die("%s (--sts) holds no pairs", sname(path));
    sp->has_sts = 1;
    sp->spearman = ctk_diag_spearman(cos, gold, (int64_t)n);
    free(cos);
    free(gold);
    free(t);
    free(b1);
    free(b2);
    ctk_chunk_free(&c);
    if (ctk_stream_close(&s, &e)) ctk_die_err(&e);
}

/* --- the report ------------------------------------------------------------------------------------ */

static void write_report(const struct opts *o, const struct ctk_diag_space *after,
                         const struct ctk_diag_space *before, const struct ctk_diag_verdict *v, int nv)
{
    struct ctk_err e;
    if (o->format == FMT_TEXT) {
        ctk_diag_report_text(stdout, after, before, v, nv);
        return;
    }
    json_t *root = ctk_diag_report_json(after, before, v, nv);
    if (o->format == FMT_JSON) {
        if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(8)) == 0) fputc('\n', stdout);
    } else if (ctk_yaml_write(stdout, root, &e))
        ctk_die_err(&e);
    json_decref(root);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ctk_diag_labels labels, plabels;
    struct ctk_diag_space after, before;
    struct ctk_diag_verdict v[32];

    ctk_init("ctk-diag", argc, argv);
    parse_options(argc, argv, &o);
    openblas_set_num_threads(ctk_threads(o.threads));
    ctk_diag_labels_init(&labels);
    ctk_diag_labels_init(&plabels);
    ctk_diag_space_init(&after);
    ctk_diag_space_init(&before);

    read_space(o.input, &o, &labels, &after);
    if (o.pairs) read_pairs(o.pairs, &plabels, &after);
    if (o.sts) read_sts(o.sts, &after);
    if (o.compare) {
        read_space(o.compare, &o, &labels, &before);
        if (o.pairs_before) read_pairs(o.pairs_before, &plabels, &before);
        if (o.sts_before) read_sts(o.sts_before, &before);
    }
    /* label names are final only now (both spaces share them) */
    after.labels = before.labels = (const char *const *)labels.names;
    after.plabels = before.plabels = (const char *const *)plabels.names;

    int nv = ctk_diag_verdicts(&after, o.compare ? &before : NULL, v, 32);
    write_report(&o, &after, o.compare ? &before : NULL, v, nv);
    int fail = 0;
    for (int i = 0; i < nv; i++)
        if (o.fail_on[v[i].sym]) {
            fail = 1;
            ctk_warn("%s found (--fail-on)", ctk_symptom_names[v[i].sym]);
        }
    ctk_diag_space_free(&after);
    ctk_diag_space_free(&before);
    ctk_diag_labels_free(&labels);
    ctk_diag_labels_free(&plabels);
    return fail ? CTK_EXIT_FAILURE : CTK_EXIT_OK;
}
