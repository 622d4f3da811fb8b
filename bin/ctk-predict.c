/*
 * ctk-predict -- label embeddings with a head from ctk-fit-head, with a
 * probability and, on request, neighbour agreement as a second confidence
 * signal (reference section 6: "if the nearest neighbors are a mix of plan
 * and build examples, the model is uncertain").
 *
 * Streaming: one chunk in memory at a time, so a cron job labels millions
 * of rows in bounded memory. Output TSV, JSON Lines, or the input stream
 * with pred/prob/agree columns appended (DESIGN.md's column names).
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "err.h"
#include "opts.h"
#include "head.h"
#include "knn.h"
#include "logreg.h"
#include "stream.h"

enum format { FMT_TSV, FMT_JSONL, FMT_STREAM };

struct opts {
    const char *input, *head;
    enum format format;
    int topk;               /* 0: none */
    const char *neighbors;  /* labeled embeddings, or NULL */
    int k;
    double min_conf;        /* 0: never leave a row unlabeled on probability */
    double min_agree;       /* < 0: not asked */
    const char *emb_col, *label_col;
    int header;
    int threads;
};

static void usage(void)
{
    printf("Usage: ctk-predict --head HEAD [OPTION]... [FILE]\n"
           "Label the embeddings of FILE (a stream from ctk-encode; stdin when FILE is - or\n"
           "absent) with a head from ctk-fit-head.\n"
           "\n"
           "  -H, --head HEAD          the head file (required)\n"
           "  -f, --format FMT         tsv (default): id, label, prob[, agree]; jsonl: one\n"
           "                           JSON object a row; stream: the input stream with\n"
           "                           pred, prob[, agree] columns appended\n"
           "  -t, --top-k K            also list the K most probable labels with their\n"
           "                           probabilities (tsv, jsonl)\n"
           "      --neighbors FILE     labeled embeddings (emb and label columns): report\n"
           "                           the share of the k nearest (cosine) whose label\n"
           "                           agrees with the prediction\n"
           "  -k, --neighbors-k N      neighbours to consult (default 10)\n"
           "      --min-confidence P   leave the label empty when its probability is below P\n"
           "      --min-agreement A    leave the label empty when neighbour agreement is\n"
           "                           below A (needs --neighbors)\n"
           "      --header             tsv: begin with a line of column names\n"
           "      --emb-column NAME    embedding column (default emb)\n"
           "      --label-column NAME  label column of --neighbors (default label)\n"
           "  -j, --threads N          threads (default: CTK_THREADS or all processors)\n"
           "  -q, --quiet              no warnings\n"
           "      --help               show this help and exit\n"
           "      --version            show the version and exit\n"
           "\n"
           "The row id is the input's 'id' column, or the row number from 1. Refuses\n"
           "embeddings of another model or dimension than the head's.\n"
           "Exit status: 0 ok, 1 error, 2 usage error.\n");
    exit(CTK_EXIT_OK);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { OPT_NB = 256, OPT_MINC, OPT_MINA, OPT_HDR, OPT_EMB, OPT_LAB, OPT_HELP, OPT_VER };
    static const struct option lo[] = {
        {"head", required_argument, NULL, 'H'},
        {"format", required_argument, NULL, 'f'},
        {"top-k", required_argument, NULL, 't'},
        {"neighbors", required_argument, NULL, OPT_NB},
        {"neighbors-k", required_argument, NULL, 'k'},
        {"min-confidence", required_argument, NULL, OPT_MINC},
        {"min-agreement", required_argument, NULL, OPT_MINA},
        {"header", no_argument, NULL, OPT_HDR},
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
    o->k = 10;
    o->min_agree = -1;
    o->emb_col = "emb";
    o->label_col = "label";
    int c;
    while ((c = getopt_long(argc, argv, "H:f:t:k:j:q", lo, NULL)) != -1) {
        switch (c) {
        case 'H': o->head = optarg; break;
        case 'f':
            if (strcmp(optarg, "tsv") == 0)
                o->format = FMT_TSV;
            else if (strcmp(optarg, "jsonl") == 0)
                o->format = FMT_JSONL;
            else if (strcmp(optarg, "stream") == 0)
                o->format = FMT_STREAM;
            else
                ctk_usage("--format: '%s' is not one of: tsv, jsonl, stream", optarg);
            break;
        case 't': o->topk = (int)ctk_opt_int64("--top-k", optarg, 1, 1000000); break;
        case OPT_NB: o->neighbors = optarg; break;
        case 'k': o->k = (int)ctk_opt_int64("-k", optarg, 1, 100000); break;
        case OPT_MINC: o->min_conf = ctk_opt_double("--min-confidence", optarg, 0, 1); break;
        case OPT_MINA: o->min_agree = ctk_opt_double("--min-agreement", optarg, 0, 1); break;
        case OPT_HDR: o->header = 1; break;
        case OPT_EMB: o->emb_col = optarg; break;
        case OPT_LAB: o->label_col = optarg; break;
        case 'j': o->threads = (int)ctk_opt_int64("--threads", optarg, 1, 4096); break;
        case 'q': ctk_set_quiet(1); break;
        case OPT_HELP: usage(); break;
        case OPT_VER: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (!o->head)
        ctk_usage("no head given: --head HEAD is required (make one with ctk-fit-head)");
    if (o->min_agree >= 0 && !o->neighbors)
        ctk_usage("--min-agreement needs --neighbors LABELED_EMB");
    if (o->topk && o->format == FMT_STREAM)
        ctk_usage("--top-k is for --format tsv or jsonl");
    if (o->header && o->format != FMT_TSV)
        ctk_usage("--header is for --format tsv");
    if (optind < argc)
        o->input = argv[optind++];
    if (optind < argc)
        ctk_usage("one input at most; '%s' is extra", argv[optind]);
}

/*
 * The labeled neighbours in the head's terms: single-label, the class index
 * of each row (-1 for a label the head does not know, which never agrees);
 * multi-label, a K-byte membership vector and a flag for unknown labels.
 */
struct neighbors {
    struct ctk_labeled L;
    int32_t *cls;   /* (n) single-label */
    uint8_t *sets;  /* (n, K) multi-label; sets[i*K + K] unused */
    uint8_t *unknown; /* (n) multi-label: the row has a label the head lacks */
};

static int label_index(const struct ctk_head *h, const char *s, size_t len)
{
    for (int k = 0; k < h->nlabels; k++)
        if (strlen(h->labels[k]) == len && memcmp(h->labels[k], s, len) == 0)
            return k;
    return -1;
}

static void load_neighbors(struct neighbors *nb, const struct opts *o, const struct ctk_head *h)
{
    struct ctk_err e;
    if (ctk_labeled_read(&nb->L, o->neighbors, o->emb_col, o->label_col, &e))
        ctk_die_err(&e);
    if (ctk_head_check_meta(h, &nb->L.meta, o->neighbors, o->head, &e))
        ctk_die_err(&e);
    if (nb->L.d != h->dim)
        ctk_die("%s: embeddings of dimension %lld, but the head %s has dimension %lld",
                o->neighbors, (long long)nb->L.d, o->head, (long long)h->dim);
    if (nb->L.n == 0)
        ctk_die("%s: no labeled rows to take neighbours from", o->neighbors);
    const int K = h->nlabels;
    int64_t unknown = 0;
    if (!h->multilabel) {
        nb->cls = xmallocarray((size_t)nb->L.n, sizeof *nb->cls);
        for (int64_t i = 0; i < nb->L.n; i++) {
            const char *s = nb->L.text + nb->L.off[i];
            nb->cls[i] = label_index(h, s, strlen(s));
            unknown += nb->cls[i] < 0;
        }
    } else {
        nb->sets = xcalloc((size_t)nb->L.n, (size_t)K);
        nb->unknown = xcalloc((size_t)nb->L.n, 1);
        for (int64_t i = 0; i < nb->L.n; i++) {
            const char *s = nb->L.text + nb->L.off[i];
            while (*s) {
                size_t len = strcspn(s, ",");
                int k = label_index(h, s, len);
                if (k >= 0)
                    nb->sets[i * K + k] = 1;
                else if (len)
                    nb->unknown[i] = 1;
                s += len + (s[len] == ',');
            }
            unknown += nb->unknown[i];
        }
    }
    if (unknown)
        ctk_warn("%s: %lld row(s) have labels the head does not know; they never agree",
                 o->neighbors, (long long)unknown);
}

static void free_neighbors(struct neighbors *nb)
{
    ctk_labeled_free(&nb->L);
    free(nb->cls);
    free(nb->sets);
    free(nb->unknown);
}

/* --- output helpers -------------------------------------------------------- */

/* A TSV field: tab, newline and carriage return written as \t, \n, \r. */
static void tsv_put(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\t')
            fputs("\\t", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else
            putc(c, f);
    }
}

static void json_put(FILE *f, const char *s, size_t n)
{
    putc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            putc('\\', f);
            putc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            putc(c, f);
        }
    }
    putc('"', f);
}

/* --- one row's decision ------------------------------------------------------ */

struct decision {
    char *label;     /* the label written, "" when none or below a threshold */
    size_t len, cap;
    int unlabeled;   /* 1 when a threshold emptied it */
    float prob;
    float agree;     /* NAN when not asked */
};

static void label_set(struct decision *d, const char *s, size_t n, int append)
{
    size_t at = append ? d->len : 0;
    size_t need = at + (append && at ? 1 : 0) + n + 1;
    if (need > d->cap)
        d->label = xrealloc(d->label, d->cap = need * 2);
    if (append && at)
        d->label[at++] = ',';
    memcpy(d->label + at, s, n);
    d->len = at + n;
    d->label[d->len] = 0;
}

/*
 * Decide row i: single-label, the most probable class and its probability;
 * multi-label, every label with probability >= 0.5 and as prob the
 * confidence of the least certain of the K yes/no decisions,
 * min_k max(p_k, 1 - p_k). Agreement: the share of the neighbours whose
 * label (multi-label: label set) equals the prediction.
 */
static void decide(const struct ctk_head *h, const float *p, const int64_t *nbr, int nk,
                   const struct neighbors *nb, const struct opts *o, struct decision *d,
                   uint8_t *set)
{
    const int K = h->nlabels;
    int best = 0;
    d->len = 0;
    label_set(d, "", 0, 0);
    if (!h->multilabel) {
        for (int k = 1; k < K; k++)
            if (p[k] > p[best])
                best = k;
        d->prob = p[best];
        label_set(d, h->labels[best], strlen(h->labels[best]), 0);
    } else {
        float conf = 1;
        for (int k = 0; k < K; k++) {
            set[k] = p[k] >= 0.5f;
            float c = set[k] ? p[k] : 1 - p[k];
            if (c < conf)
                conf = c;
            if (set[k])
                label_set(d, h->labels[k], strlen(h->labels[k]), 1);
        }
        d->prob = conf;
    }
    d->agree = NAN;
    if (nbr) {
        int found = 0, agree = 0;
        for (int t = 0; t < nk; t++) {
            int64_t j = nbr[t];
            if (j < 0)
                break;
            found++;
            if (!h->multilabel)
                agree += nb->cls[j] == best;
            else
                agree += !nb->unknown[j] && memcmp(nb->sets + j * K, set, (size_t)K) == 0;
        }
        d->agree = found ? (float)agree / (float)found : NAN;
    }
    d->unlabeled = d->prob < o->min_conf || (o->min_agree >= 0 && !(d->agree >= o->min_agree));
    if (d->unlabeled)
        label_set(d, "", 0, 0);
}

/* Class indices by falling probability, ties by index (for --top-k). */
static void top_classes(const float *p, int K, int *order, int n)
{
    for (int t = 0; t < n; t++) {
        int best = -1;
        for (int k = 0; k < K; k++) {
            int used = 0;
            for (int u = 0; u < t; u++)
                used |= order[u] == k;
            if (!used && (best < 0 || p[k] > p[best]))
                best = k;
        }
        order[t] = best;
    }
}

/* --- the id of a row ---------------------------------------------------------- */

struct idcol {
    int col;          /* -1: row numbers */
    enum ctk_col_kind kind;
    enum ctk_dtype dtype;
};

static void put_id(FILE *f, const struct idcol *ic, const struct ctk_chunk *c,
                   const struct ctk_stream_meta *m, int64_t r, int64_t rowno, int json)
{
    if (ic->col < 0) {
        fprintf(f, "%" PRId64, rowno);
    } else if (ic->kind == CTK_COL_STRING) {
        int64_t n;
        const char *s = ctk_col_row(c, m, ic->col, r, &n);
        if (json)
            json_put(f, s, (size_t)n);
        else
            tsv_put(f, s, (size_t)n);
    } else if (ic->dtype == CTK_I64) {
        fprintf(f, "%" PRId64, ((const int64_t *)c->cols[ic->col].data)[r]);
    } else {
        fprintf(f, "%" PRId32, ((const int32_t *)c->cols[ic->col].data)[r]);
    }
}

static struct idcol find_id(const struct ctk_stream_meta *m)
{
    struct idcol ic = {ctk_meta_find(m, "id"), CTK_COL_DENSE, CTK_I64};
    if (ic.col >= 0) {
        const struct ctk_col_spec *s = &m->cols[ic.col];
        ic.kind = s->kind;
        ic.dtype = s->dtype;
        int ok = s->kind == CTK_COL_STRING ||
                 (s->kind == CTK_COL_DENSE && s->width <= 1 &&
                  (s->dtype == CTK_I64 || s->dtype == CTK_I32));
        if (!ok)
            ic.col = -1; /* an id column of another shape: number the rows instead */
    }
    return ic;
}

/* --- stream output ------------------------------------------------------------ */

struct streamout {
    struct ctk_stream s;
    struct ctk_stream_meta own_meta; /* pred, prob[, agree] only */
    struct ctk_chunk own;
    int kept[CTK_MAX_COLS];          /* input columns carried, in order */
    int nkept;
};

static void stream_begin(struct streamout *so, const struct ctk_stream_meta *in,
                         const struct opts *o)
{
    struct ctk_stream_meta m;
    struct ctk_err e;
    ctk_meta_copy(&m, in);
    /* A second prediction replaces the columns of the first. */
    so->nkept = 0;
    for (int i = 0; i < in->ncols; i++) {
        const char *n = in->cols[i].name;
        if (strcmp(n, "pred") && strcmp(n, "prob") && strcmp(n, "agree"))
            so->kept[so->nkept++] = i;
    }
    for (int i = m.ncols - 1; i >= 0; i--) {
        const char *n = m.cols[i].name;
        if (!strcmp(n, "pred") || !strcmp(n, "prob") || !strcmp(n, "agree"))
            ctk_meta_drop_col(&m, i);
    }
    ctk_meta_init(&so->own_meta);
    ctk_meta_add_col(&so->own_meta, "pred", CTK_COL_STRING, CTK_U8, 0);
    ctk_meta_add_col(&so->own_meta, "prob", CTK_COL_DENSE, CTK_F32, 0);
    if (o->neighbors)
        ctk_meta_add_col(&so->own_meta, "agree", CTK_COL_DENSE, CTK_F32, 0);
    for (int i = 0; i < so->own_meta.ncols; i++)
        ctk_meta_add_col(&m, so->own_meta.cols[i].name, so->own_meta.cols[i].kind,
                         so->own_meta.cols[i].dtype, so->own_meta.cols[i].width);
    ctk_meta_add_history(&m, ctk_cmdline());
    if (ctk_stream_open_write(&so->s, stdout, "stdout", &m, &e))
        ctk_die_err(&e);
    ctk_meta_free(&m);
    memset(&so->own, 0, sizeof so->own);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ctk_head h;
    struct ctk_stream in;
    struct ctk_chunk c = {0};
    struct ctk_err e;
    struct neighbors nb = {0};

    ctk_init("ctk-predict", argc, argv);
    ctk_blas_init(argc, argv);
    parse_options(argc, argv, &o);
    if (o.format == FMT_STREAM)
        ctk_check_binary_stdout();
    int threads = ctk_threads(o.threads);
    ctk_blas_set_threads(threads);
    if (ctk_head_load(&h, o.head, &e))
        ctk_die_err(&e);
    if (o.neighbors)
        load_neighbors(&nb, &o, &h);

    if (ctk_stream_open_read(&in, o.input, &e))
        ctk_die_err(&e);
    const char *what = strcmp(o.input, "-") ? o.input : "stdin";
    if (ctk_head_check_meta(&h, &in.meta, what, o.head, &e))
        ctk_die_err(&e);
    int64_t d;
    int ie = ctk_emb_column(&in.meta, o.emb_col, what, &d, &e);
    if (ie < 0)
        ctk_die_err(&e);
    if (d != h.dim)
        ctk_die("%s: embeddings of dimension %lld, but the head %s was fitted on dimension %lld",
                what, (long long)d, o.head, (long long)h.dim);
    struct idcol ic = find_id(&in.meta);

    const int K = h.nlabels;
    const int topk = o.topk > K ? K : o.topk;
    const int nk = o.neighbors ? (o.k < nb.L.n ? o.k : (int)nb.L.n) : 0;
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);

    struct streamout so;
    if (o.format == FMT_STREAM)
        stream_begin(&so, &in.meta, &o);
    if (o.format == FMT_TSV && o.header) {
        printf("id\tlabel\tprob%s", o.neighbors ? "\tagree" : "");
        for (int t = 1; t <= topk; t++)
            printf("\tlabel%d\tprob%d", t, t);
        putchar('\n');
    }

    float *P = NULL;
    int64_t *nbr = NULL;
    int64_t cap = 0, rowno = 0;
    struct decision dc = {0};
    uint8_t *set = xcalloc((size_t)K, 1);
    int *order = xcalloc((size_t)(topk > 0 ? topk : 1), sizeof *order);
    int rc;
    while ((rc = ctk_chunk_read(&in, &c, &e)) == 1) {
        const int64_t n = c.rows;
        const float *X = c.cols[ie].data;
        for (int64_t t = 0; t < n * d; t++)
            if (!isfinite(X[t]))
                ctk_die("%s: chunk %lld, row %lld: the embedding has a non-finite value",
                        what, (long long)in.chunk_index, (long long)(t / d + 1));
        if (n > cap) {
            cap = n;
            P = xreallocarray(P, (size_t)cap, (size_t)K * sizeof *P);
            if (nk)
                nbr = xreallocarray(nbr, (size_t)cap, (size_t)nk * sizeof *nbr);
        }
        ctk_head_proba(&h, X, n, P);
        if (nk)
            ctk_knn_search(X, n, nb.L.emb, nb.L.n, d, nk, CTK_METRIC_COSINE, 0, threads, nbr,
                           NULL);
        if (o.format == FMT_STREAM) {
            ctk_chunk_reset(&so.own, &so.own_meta);
            float *prob = ctk_col_dense_reserve(&so.own, &so.own_meta, 1, n);
            float *agree = nk ? ctk_col_dense_reserve(&so.own, &so.own_meta, 2, n) : NULL;
            for (int64_t r = 0; r < n; r++) {
                decide(&h, P + r * K, nk ? nbr + r * nk : NULL, nk, &nb, &o, &dc, set);
                ctk_col_append(&so.own, &so.own_meta, 0, dc.label, (int64_t)dc.len);
                prob[r] = dc.prob;
                if (agree)
                    agree[r] = dc.agree;
            }
            so.own.rows = n;
            /* The output chunk: the input's columns (borrowed), then ours. */
            struct ctk_chunk out = {0};
            out.rows = n;
            for (int j = 0; j < so.nkept; j++)
                out.cols[out.ncols++] = c.cols[so.kept[j]];
            for (int j = 0; j < so.own_meta.ncols; j++)
                out.cols[out.ncols++] = so.own.cols[j];
            if (ctk_chunk_write(&so.s, &out, &e))
                ctk_die_err(&e);
            rowno += n;
            continue;
        }
        for (int64_t r = 0; r < n; r++) {
            const float *p = P + r * K;
            decide(&h, p, nk ? nbr + r * nk : NULL, nk, &nb, &o, &dc, set);
            rowno++;
            if (topk)
                top_classes(p, K, order, topk);
            if (o.format == FMT_TSV) {
                put_id(stdout, &ic, &c, &in.meta, r, rowno, 0);
                putchar('\t');
                tsv_put(stdout, dc.label, dc.len);
                printf("\t%.6f", dc.prob);
                if (nk)
                    printf("\t%.6f", dc.agree);
                for (int t = 0; t < topk; t++) {
                    putchar('\t');
                    tsv_put(stdout, h.labels[order[t]], strlen(h.labels[order[t]]));
                    printf("\t%.6f", p[order[t]]);
                }
                putchar('\n');
            } else {
                fputs("{\"id\":", stdout);
                put_id(stdout, &ic, &c, &in.meta, r, rowno, 1);
                fputs(",\"label\":", stdout);
                if (dc.unlabeled)
                    fputs("null", stdout);
                else
                    json_put(stdout, dc.label, dc.len);
                printf(",\"prob\":%.6f", dc.prob);
                if (nk)
                    printf(",\"agree\":%.6f", dc.agree);
                if (topk) {
                    fputs(",\"top\":[", stdout);
                    for (int t = 0; t < topk; t++) {
                        fputs(t ? ",{\"label\":" : "{\"label\":", stdout);
                        json_put(stdout, h.labels[order[t]], strlen(h.labels[order[t]]));
                        printf(",\"prob\":%.6f}", p[order[t]]);
                    }
                    putchar(']');
                }
                fputs("}\n", stdout);
            }
        }
    }
    if (rc < 0)
        ctk_die_err(&e);
    if (o.format == FMT_STREAM) {
        if (ctk_stream_close(&so.s, &e))
            ctk_die_err(&e);
        ctk_chunk_free(&so.own);
        ctk_meta_free(&so.own_meta);
    }
    if (ctk_stream_close(&in, &e))
        ctk_die_err(&e);
    ctk_chunk_free(&c);
    free(P);
    free(nbr);
    free(dc.label);
    free(set);
    free(order);
    free_neighbors(&nb);
    ctk_head_free(&h);
    return CTK_EXIT_OK;
}
