/*
 * ctk-mine-negatives -- add hard negatives to (anchor, positive) pairs,
 * mined from a corpus by cosine similarity (exact top-k, knn.h) or by BM25
 * (bm25.h), with the guards of sentence-transformers' mine_hard_negatives
 * against false negatives (mine.h), and an easy-to-hard curriculum
 * (reference, section 4).
 *
 * Inputs: the pairs, a stream with string columns anchor and positive
 * (label optional) and, for --method model, anchor.emb and positive.emb
 * (ctk-tok --keep-text | ctk-encode of the pairs), for --method bm25
 * anchor.ids and positive.ids; the corpus (--corpus FILE), a stream with
 * text (label optional) and emb or ids, made with the same model.
 *
 * The corpus is read twice: once for its texts, labels (and BM25 tokens),
 * once for its embeddings, block by block, so that a cosine search holds
 * the queries, one corpus chunk and one score tile whatever the corpus
 * size. Before the search the corpus is de-duplicated (one row per text,
 * the first) and each anchor searches only the rows not of its label: the
 * anchors are grouped by label, and each group's search is offered the
 * other labels' rows. What remains to exclude in the ranked lists is the
 * anchor's own text and its positives, at most 1 + max positives rows, so
 * a search of range_max + 1 + max positives candidates is enough.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm25.h"
#include "err.h"
#include "opts.h"
#include "knn.h"
#include "mine.h"
#include "rng.h"
#include "stream.h"
#include "table.h"
#include "textio.h"

enum method { METHOD_MODEL, METHOD_BM25 };
enum format { FORMAT_TRIPLET, FORMAT_NTUPLE };

struct opts {
    const char *input;  /* pairs, "-" for stdin */
    const char *corpus;
    enum method method;
    enum format format;
    struct ctk_mine_opts mine;
    uint64_t seed;
    int curriculum;
    int32_t stages;     /* 0: no stage column */
    double k1, b;
    const char *anchor_col, *positive_col, *text_col, *label_col;
    int threads;
};

static void usage(void)
{
    printf("Usage: ctk-mine-negatives --corpus CORPUS [OPTION]... [PAIRS]\n"
           "Add hard negatives to (anchor, positive) pairs: for each anchor, the corpus texts\n"
           "nearest to it that are true negatives (never the anchor, its positives, a\n"
           "duplicate of either, nor a text of the anchor's label). PAIRS is a stream with\n"
           "anchor and positive (label optional) and anchor.emb/positive.emb from ctk-encode\n"
           "(anchor.ids/positive.ids from ctk-tok for --method bm25); stdin when absent or -.\n"
           "\n"
           "  -c, --corpus FILE          where negatives come from: a stream with text (label\n"
           "                             optional) and emb (ids for bm25), same model (required)\n"
           "  -M, --method M             model (default: cosine of the embeddings) or bm25\n"
           "  -n, --num-negatives N      negatives per anchor, at most (3)\n"
           "      --range-min N          skip the N nearest candidates that pass the guards (0)\n"
           "      --range-max N          consider only the N nearest true negatives (default\n"
           "                             range-min + N, or + 10 N with a margin or max-score)\n"
           "      --max-score X          drop candidates scoring above X\n"
           "      --min-score X          drop candidates scoring below X\n"
           "      --margin X             drop candidates with score + X > the positive's score\n"
           "      --relative-margin X    drop candidates scoring above (1 - X) x the positive's\n"
           "      --sampling-strategy S  top (default: the nearest) or random (within the window)\n"
           "      --seed N               random sampling (default 42)\n"
           "  -f, --format F             triplet (default: one row per negative, column\n"
           "                             negative) or n-tuple (columns negative, negative2, ...;\n"
           "                             rows short of N negatives are left out)\n"
           "      --curriculum           order the rows from easy to hard negatives (by score)\n"
           "      --stages N             curriculum order and a column stage, 1 (easy) .. N\n"
           "      --k1 X                 BM25 k1 (1.2)\n"
           "      --b X                  BM25 b (0.75)\n"
           "      --anchor-column NAME   (anchor)\n"
           "      --positive-column NAME (positive)\n"
           "      --text-column NAME     the corpus text column (text)\n"
           "      --label-column NAME    label column of both inputs (label)\n"
           "  -j, --threads N            threads (default: CTK_THREADS or all processors)\n"
           "  -q, --quiet                no summary or warnings\n"
           "      --help                 show this help and exit\n"
           "      --version              show the version and exit\n"
           "\n"
           "Output: a stream of the pairs' text and scalar columns with the negatives (and\n"
           "negative.score, positive.score), ready for ctk-tok and ctk-train-mnrl. A summary\n"
           "goes to stderr. Exit status: 0 success, 1 data or runtime error, 2 usage error.\n"
           "See ctk-mine-negatives(1).\n");
    exit(CTK_EXIT_OK);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum {
        OPT_RMIN = 256, OPT_RMAX, OPT_MAXS, OPT_MINS, OPT_MARGIN, OPT_RMARGIN, OPT_SAMPLING,
        OPT_SEED, OPT_CURR, OPT_STAGES, OPT_K1, OPT_B, OPT_ACOL, OPT_PCOL, OPT_TCOL, OPT_LCOL,
        OPT_HELP, OPT_VERSION,
    };
    static const struct option lo[] = {
        {"corpus", required_argument, NULL, 'c'},
        {"method", required_argument, NULL, 'M'},
        {"num-negatives", required_argument, NULL, 'n'},
        {"range-min", required_argument, NULL, OPT_RMIN},
        {"range-max", required_argument, NULL, OPT_RMAX},
        {"max-score", required_argument, NULL, OPT_MAXS},
        {"min-score", required_argument, NULL, OPT_MINS},
        {"margin", required_argument, NULL, OPT_MARGIN},
        {"relative-margin", required_argument, NULL, OPT_RMARGIN},
        {"sampling-strategy", required_argument, NULL, OPT_SAMPLING},
        {"seed", required_argument, NULL, OPT_SEED},
        {"format", required_argument, NULL, 'f'},
        {"curriculum", no_argument, NULL, OPT_CURR},
        {"stages", required_argument, NULL, OPT_STAGES},
        {"k1", required_argument, NULL, OPT_K1},
        {"b", required_argument, NULL, OPT_B},
        {"anchor-column", required_argument, NULL, OPT_ACOL},
        {"positive-column", required_argument, NULL, OPT_PCOL},
        {"text-column", required_argument, NULL, OPT_TCOL},
        {"label-column", required_argument, NULL, OPT_LCOL},
        {"threads", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->input = "-";
    ctk_mine_opts_default(&o->mine);
    o->seed = 42;
    o->k1 = 1.2;
    o->b = 0.75;
    o->anchor_col = "anchor";
    o->positive_col = "positive";
    o->text_col = "text";
    o->label_col = "label";
    int c;
    while ((c = getopt_long(argc, argv, "c:M:n:f:j:q", lo, NULL)) != -1) {
        switch (c) {
        case 'c': o->corpus = optarg; break;
        case 'M':
            if (strcmp(optarg, "model") == 0)
                o->method = METHOD_MODEL;
            else if (strcmp(optarg, "bm25") == 0)
                o->method = METHOD_BM25;
            else
                ctk_usage("--method: '%s' is not one of: model, bm25", optarg);
            break;
        case 'n': o->mine.num_negatives = (int)ctk_opt_int64("--num-negatives", optarg, 1, 1000); break;
        case OPT_RMIN: o->mine.range_min = ctk_opt_int64("--range-min", optarg, 0, 1000000); break;
        case OPT_RMAX: o->mine.range_max = ctk_opt_int64("--range-max", optarg, 1, 1000000); break;
        case OPT_MAXS: o->mine.max_score = ctk_opt_double("--max-score", optarg, -1e30, 1e30); break;
        case OPT_MINS: o->mine.min_score = ctk_opt_double("--min-score", optarg, -1e30, 1e30); break;
        case OPT_MARGIN: o->mine.margin = ctk_opt_double("--margin", optarg, -1e30, 1e30); break;
        case OPT_RMARGIN:
            o->mine.relative_margin = ctk_opt_double("--relative-margin", optarg, 0, 1);
            break;
        case OPT_SAMPLING:
            if (strcmp(optarg, "top") == 0)
                o->mine.sampling = CTK_MINE_TOP;
            else if (strcmp(optarg, "random") == 0)
                o->mine.sampling = CTK_MINE_RANDOM;
            else
                ctk_usage("--sampling-strategy: '%s' is not one of: top, random", optarg);
            break;
        case OPT_SEED: o->seed = (uint64_t)ctk_opt_int64("--seed", optarg, 0, INT64_MAX); break;
        case 'f':
            if (strcmp(optarg, "triplet") == 0)
                o->format = FORMAT_TRIPLET;
            else if (strcmp(optarg, "n-tuple") == 0)
                o->format = FORMAT_NTUPLE;
            else
                ctk_usage("--format: '%s' is not one of: triplet, n-tuple", optarg);
            break;
        case OPT_CURR: o->curriculum = 1; break;
        case OPT_STAGES: o->stages = (int32_t)ctk_opt_int64("--stages", optarg, 1, 1000); break;
        case OPT_K1: o->k1 = ctk_opt_double("--k1", optarg, 0, 1000); break;
        case OPT_B: o->b = ctk_opt_double("--b", optarg, 0, 1); break;
        case OPT_ACOL: o->anchor_col = optarg; break;
        case OPT_PCOL: o->positive_col = optarg; break;
        case OPT_TCOL: o->text_col = optarg; break;
        case OPT_LCOL: o->label_col = optarg; break;
        case 'j': o->threads = (int)ctk_opt_int64("--threads", optarg, 1, 4096); break;
        case 'q': ctk_set_quiet(1); break;
        case OPT_HELP: usage(); break;
        case OPT_VERSION: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (!o->corpus)
        ctk_usage("no corpus given: --corpus FILE is required (a stream from ctk-encode, or "
                  "ctk-tok for --method bm25)");
    if (o->mine.range_max > 0 && o->mine.range_max <= o->mine.range_min)
        ctk_usage("--range-max %lld must be larger than --range-min %lld",
                  (long long)o->mine.range_max, (long long)o->mine.range_min);
    if (!isnan(o->mine.max_score) && !isnan(o->mine.min_score) && o->mine.min_score > o->mine.max_score)
        ctk_usage("--min-score %g is above --max-score %g: no candidate could pass",
                  o->mine.min_score, o->mine.max_score);
    if (o->stages)
        o->curriculum = 1;
    if (optind < argc)
        o->input = argv[optind++];
    if (optind < argc)
        ctk_usage("one PAIRS input at most; '%s' is extra", argv[optind]);
    o->threads = ctk_threads(o->threads);
}

/* --- strings to rows: an open-addressing hash table -------------------------- */

struct strtab {
    int64_t *slot;  /* (cap) row, -1 empty */
    size_t cap;
    size_t n;
    const char *const *base;  /* the arena holding the keys */
    const int64_t *const *off; /* key r is (*base)[(*off)[r] .. (*off)[r+1]) */
};

static uint64_t hash_bytes(const char *s, int64_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int64_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static void strtab_init(struct strtab *t, size_t expect, const char *const *base,
                        const int64_t *const *off)
{
    t->cap = 16;
    while (t->cap < 2 * expect + 16)
        t->cap *= 2;
    t->slot = xmallocarray(t->cap, sizeof *t->slot);
    for (size_t i = 0; i < t->cap; i++)
        t->slot[i] = -1;
    t->n = 0;
    t->base = base;
    t->off = off;
}

/* The row holding text (s, n), or -1; with add >= 0, insert add when absent. */
static int64_t strtab_find(struct strtab *t, const char *s, int64_t n, int64_t add)
{
    size_t mask = t->cap - 1, i = (size_t)hash_bytes(s, n) & mask;
    for (;; i = (i + 1) & mask) {
        int64_t r = t->slot[i];
        if (r < 0)
            break;
        const int64_t *off = *t->off;
        if (off[r + 1] - off[r] == n && memcmp(*t->base + off[r], s, (size_t)n) == 0)
            return r;
    }
    if (add < 0)
        return -1;
    t->slot[i] = add;
    if (++t->n * 2 > t->cap) { /* grow: rehash every row */
        size_t oc = t->cap;
        int64_t *old = t->slot;
        t->cap *= 2;
        t->slot = xmallocarray(t->cap, sizeof *t->slot);
        for (size_t k = 0; k < t->cap; k++)
            t->slot[k] = -1;
        for (size_t k = 0; k < oc; k++) {
            int64_t r = old[k];
            if (r < 0)
                continue;
            const int64_t *off = *t->off;
            size_t j = (size_t)hash_bytes(*t->base + off[r], off[r + 1] - off[r]) & (t->cap - 1);
            while (t->slot[j] >= 0)
                j = (j + 1) & (t->cap - 1);
            t->slot[j] = r;
        }
        free(old);
    }
    return add;
}

/* --- the corpus, first pass: texts, labels, tokens ----------------------------- */

#define LABEL_NONE (-1)
#define LABEL_CONFLICT (-2) /* the text occurs with two labels */

struct corpus {
    int64_t n;
    char *text;       /* arena */
    int64_t *toff;    /* (n+1) */
    size_t tcap;
    int64_t *uniq;    /* (n) first row with the same text */
    int32_t *label;   /* (n) class, LABEL_NONE; on first rows possibly LABEL_CONFLICT */
    int nclass;
    char **class_name;
    int has_label;    /* the corpus has a label column */
    int32_t *ids;     /* bm25: tokens of every row */
    int64_t *ioff;    /* (n+1) */
    size_t icap;
    int64_t d;        /* model: embedding width */
    int64_t ndup, nconflict;
    int64_t (*both)[2]; /* (nboth) sorted (first row, class) of every text with two labels */
    int64_t nboth, bothcap;
    struct strtab texts;
    struct ctk_stream_meta meta;
    int emb_col;
};

static int class_of(struct corpus *c, const char *s, int64_t n, int add)
{
    for (int k = 0; k < c->nclass; k++)
        if ((int64_t)strlen(c->class_name[k]) == n && memcmp(c->class_name[k], s, (size_t)n) == 0)
            return k;
    if (!add)
        return LABEL_NONE;
    c->class_name = xreallocarray(c->class_name, (size_t)c->nclass + 1, sizeof *c->class_name);
    char *p = xmalloc((size_t)n + 1);
    memcpy(p, s, (size_t)n);
    p[n] = '\0';
    c->class_name[c->nclass] = p;
    return c->nclass++;
}

static void grow_bytes(void **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    *p = xrealloc(*p, c);
    *cap = c;
}

static const char *model_name(const struct ctk_stream_meta *m)
{
    return m->model ? m->model : "(none)";
}

/* Column i of m, of the kind and type asked, or die naming what is there. */
static int need_col(const struct ctk_stream_meta *m, const char *file, const char *name,
                    enum ctk_col_kind kind, enum ctk_dtype dt, const char *hint)
{
    int i = ctk_meta_find(m, name);
    if (i < 0)
        ctk_die("%s: no column '%s'; %s", file, name, hint);
    if (m->cols[i].kind != kind || m->cols[i].dtype != dt || (kind == CTK_COL_DENSE && m->cols[i].width < 1))
        ctk_die("%s: column '%s' is not %s", file, name,
                kind == CTK_COL_STRING ? "a string column"
                : kind == CTK_COL_RAGGED ? "a ragged I32 token column"
                                         : "a dense F32 embedding column");
    return i;
}

/* Remember that the text of row first has label class k (texts with two labels). */
static void add_both(struct corpus *c, int64_t first, int32_t k)
{
    if (c->nboth == c->bothcap) {
        c->bothcap = c->bothcap ? 2 * c->bothcap : 64;
        c->both = xreallocarray(c->both, (size_t)c->bothcap, sizeof *c->both);
    }
    c->both[c->nboth][0] = first;
    c->both[c->nboth][1] = k;
    c->nboth++;
}

static int cmp_pair(const void *pa, const void *pb)
{
    const int64_t *a = pa, *b = pb;
    if (a[0] != b[0])
        return (a[0] > b[0]) - (a[0] < b[0]);
    return (a[1] > b[1]) - (a[1] < b[1]);
}

static void read_corpus_texts(struct corpus *c, const struct opts *o, const struct ctk_stream_meta *pm)
{
    struct ctk_stream s;
    struct ctk_chunk ck = {0};
    struct ctk_err e;
    memset(c, 0, sizeof *c);
    if (ctk_stream_open_read(&s, o->corpus, &e) < 0)
        ctk_die_err(&e);
    const int tc = need_col(&s.meta, o->corpus, o->text_col, CTK_COL_STRING, CTK_U8,
                            "the corpus needs its texts (ctk-tok --keep-text)");
    int lc = ctk_meta_find(&s.meta, o->label_col);
    if (lc >= 0 && s.meta.cols[lc].kind != CTK_COL_STRING)
        ctk_die("%s: column '%s' is not a string column", o->corpus, o->label_col);
    c->has_label = lc >= 0;
    int ic = -1;
    if (o->method == METHOD_MODEL) {
        c->emb_col = need_col(&s.meta, o->corpus, "emb", CTK_COL_DENSE, CTK_F32,
                              "embed the corpus with ctk-encode (same model as the pairs)");
        c->d = s.meta.cols[c->emb_col].width;
    } else {
        ic = need_col(&s.meta, o->corpus, "ids", CTK_COL_RAGGED, CTK_I32,
                      "tokenise the corpus with ctk-tok (same model as the pairs)");
    }
    if (strcmp(model_name(&s.meta), model_name(pm)) != 0)
        ctk_die("%s: made with model '%s', but the pairs with model '%s'; %s the corpus and the "
                "pairs with the same model",
                o->corpus, model_name(&s.meta), model_name(pm),
                o->method == METHOD_MODEL ? "encode" : "tokenise");
    for (int k = 0; k < s.meta.nlabels; k++) /* the stream's label order first */
        class_of(c, s.meta.labels[k], (int64_t)strlen(s.meta.labels[k]), 1);
    ctk_meta_copy(&c->meta, &s.meta);
    c->toff = xmalloc(sizeof *c->toff);
    c->toff[0] = 0;
    c->text = xmalloc(1);
    c->tcap = 1;
    if (ic >= 0) {
        c->ioff = xmalloc(sizeof *c->ioff);
        c->ioff[0] = 0;
    }
    strtab_init(&c->texts, 1024, (const char *const *)&c->text, (const int64_t *const *)&c->toff);
    size_t rcap = 0;
    int rc;
    while ((rc = ctk_chunk_read(&s, &ck, &e)) == 1) {
        if ((size_t)(c->n + ck.rows) > rcap) {
            while ((size_t)(c->n + ck.rows) > rcap)
                rcap = rcap ? 2 * rcap : 4096;
            c->toff = xreallocarray(c->toff, rcap + 1, sizeof *c->toff);
            c->uniq = xreallocarray(c->uniq, rcap, sizeof *c->uniq);
            c->label = xreallocarray(c->label, rcap, sizeof *c->label);
            if (ic >= 0)
                c->ioff = xreallocarray(c->ioff, rcap + 1, sizeof *c->ioff);
        }
        for (int64_t r = 0; r < ck.rows; r++) {
            int64_t j = c->n, len;
            const char *t = ctk_col_row(&ck, &s.meta, tc, r, &len);
            grow_bytes((void **)&c->text, &c->tcap, (size_t)(c->toff[j] + len));
            memcpy(c->text + c->toff[j], t, (size_t)len);
            c->toff[j + 1] = c->toff[j] + len;
            int32_t lab = LABEL_NONE;
            if (lc >= 0) {
                int64_t ll;
                const char *l = ctk_col_row(&ck, &s.meta, lc, r, &ll);
                lab = class_of(c, l, ll, 1);
            }
            c->label[j] = lab;
            if (ic >= 0) {
                int64_t nt;
                const int32_t *ids = ctk_col_row(&ck, &s.meta, ic, r, &nt);
                grow_bytes((void **)&c->ids, &c->icap, (size_t)(c->ioff[j] + nt) * sizeof *c->ids);
                memcpy(c->ids + c->ioff[j], ids, (size_t)nt * sizeof *ids);
                c->ioff[j + 1] = c->ioff[j] + nt;
            }
            c->n++;
            int64_t first = strtab_find(&c->texts, c->text + c->toff[j], len, j);
            c->uniq[j] = first;
            if (first != j) {
                c->ndup++;
                if (c->label[first] != lab && c->label[first] != LABEL_CONFLICT) {
                    add_both(c, first, c->label[first]);
                    c->label[first] = LABEL_CONFLICT;
                    c->nconflict++;
                }
                if (c->label[first] == LABEL_CONFLICT)
                    add_both(c, first, lab);
            }
        }
    }
    if (rc < 0)
        ctk_die_err(&e);
    if (c->nboth) qsort(c->both, (size_t)c->nboth, sizeof *c->both, cmp_pair);
    ctk_chunk_free(&ck);
    ctk_stream_close(&s, &e);
}

static void free_corpus(struct corpus *c)
{
    free(c->text);
    free(c->toff);
    free(c->uniq);
    free(c->label);
    for (int k = 0; k < c->nclass; k++)
        free(c->class_name[k]);
    free(c->class_name);
    free(c->ids);
    free(c->ioff);
    free(c->texts.slot);
    free(c->both);
    ctk_meta_free(&c->meta);
}

/*
 * Row j may be a negative of an anchor of group g (0: no label, else class
 * g-1): it is the first row of its text, and no row of that text has the
 * anchor's label.
 */
static int eligible(const struct corpus *c, int64_t j, int g)
{
    if (c->uniq[j] != j)
        return 0;
    if (g == 0)
        return 1;
    if (c->label[j] != LABEL_CONFLICT)
        return c->label[j] != g - 1;
    int64_t key[2] = {j, g - 1};
    return bsearch(key, c->both, (size_t)c->nboth, sizeof *c->both, cmp_pair) == NULL;
}

/* --- the pairs ---------------------------------------------------------------- */

struct pairs {
    struct ctk_stream_meta meta;
    struct ctk_chunk all;
    int64_t n;
    int ac, pc, lc;      /* anchor, positive, label columns (lc -1) */
    int aemb, pemb;      /* model */
    int aids, pids;      /* bm25 */
    int64_t *self;       /* (n) corpus row of the anchor's text, or -1 */
    int64_t *rep;        /* (n) the first pair of the same anchor text and group: searched once */
    int64_t nrep;
    int *group;          /* (n) 0, or 1 + class excluded */
    int64_t *pos_first;  /* (n) this anchor's positives: posrow[pos_first[i] .. pos_first[i]+pos_n[i]) */
    int32_t *pos_n;
    int64_t *posrow;
    int32_t maxpos;
    double *pos_score;   /* (n) */
};

static void read_pairs(struct pairs *p, const struct opts *o)
{
    struct ctk_stream s;
    struct ctk_err e;
    memset(p, 0, sizeof *p);
    if (ctk_input_open1(&s, o->input, NULL, &e) < 0)
        ctk_die_err(&e);
    const char *name = strcmp(o->input, "-") == 0 ? "stdin" : o->input;
    p->ac = need_col(&s.meta, name, o->anchor_col, CTK_COL_STRING, CTK_U8,
                     "the pairs need anchor and positive texts (ctk-mkpairs -f mnrl; ctk-tok --keep-text)");
    p->pc = need_col(&s.meta, name, o->positive_col, CTK_COL_STRING, CTK_U8,
                     "the pairs need anchor and positive texts (ctk-mkpairs -f mnrl; ctk-tok --keep-text)");
    p->lc = ctk_meta_find(&s.meta, o->label_col);
    if (p->lc >= 0 && s.meta.cols[p->lc].kind != CTK_COL_STRING)
        ctk_die("%s: column '%s' is not a string column", name, o->label_col);
    char a[CTK_COL_NAME_MAX + 16], b[CTK_COL_NAME_MAX + 16];
    if (o->method == METHOD_MODEL) {
        snprintf(a, sizeof a, "%s.emb", o->anchor_col);
        snprintf(b, sizeof b, "%s.emb", o->positive_col);
        const char *hint = "embed the pairs first: ctk-tok --keep-text PAIRS | ctk-encode";
        p->aemb = need_col(&s.meta, name, a, CTK_COL_DENSE, CTK_F32, hint);
        p->pemb = need_col(&s.meta, name, b, CTK_COL_DENSE, CTK_F32, hint);
        if (s.meta.cols[p->aemb].width != s.meta.cols[p->pemb].width)
            ctk_die("%s: %s has width %lld but %s %lld", name, a, (long long)s.meta.cols[p->aemb].width,
                    b, (long long)s.meta.cols[p->pemb].width);
    } else {
        snprintf(a, sizeof a, "%s.ids", o->anchor_col);
        snprintf(b, sizeof b, "%s.ids", o->positive_col);
        const char *hint = "tokenise the pairs first: ctk-tok --keep-text PAIRS";
        p->aids = need_col(&s.meta, name, a, CTK_COL_RAGGED, CTK_I32, hint);
        p->pids = need_col(&s.meta, name, b, CTK_COL_RAGGED, CTK_I32, hint);
    }
    if (ctk_stream_read_all(&s, &p->all, &e) < 0)
        ctk_die_err(&e);
    ctk_meta_copy(&p->meta, &s.meta);
    p->n = p->all.rows;
    ctk_stream_close(&s, &e);
}

static void free_pairs(struct pairs *p)
{
    ctk_chunk_free(&p->all);
    ctk_meta_free(&p->meta);
    free(p->self);
    free(p->group);
    free(p->rep);
    free(p->pos_first);
    free(p->pos_n);
    free(p->posrow);
    free(p->pos_score);
}

static const char *row_str(const struct pairs *p, int col, int64_t r, int64_t *len)
{
    return ctk_col_row(&p->all, &p->meta, col, r, len);
}

/*
 * Each pair's place in the corpus: the row of its anchor's text, the rows
 * of every positive any pair gives its anchor (the same anchor text may
 * come with several positives, all of them positives), and its group: the
 * class to withhold, from the pair's label, else from the corpus label of
 * the anchor's text, else of the positive's.
 */
static void locate_pairs(struct pairs *p, struct corpus *c)
{
    const int64_t n = p->n;
    p->self = xmallocarray(n ? (size_t)n : 1, sizeof *p->self);
    p->group = xcalloc(n ? (size_t)n : 1, sizeof *p->group);
    int64_t *pos = xmallocarray(n ? (size_t)n : 1, sizeof *pos);
    for (int64_t i = 0; i < n; i++) {
        int64_t la, lp;
        const char *a = row_str(p, p->ac, i, &la), *b = row_str(p, p->pc, i, &lp);
        p->self[i] = strtab_find(&c->texts, a, la, -1);
        pos[i] = strtab_find(&c->texts, b, lp, -1);
        int cls = LABEL_NONE;
        if (p->lc >= 0) {
            int64_t ll;
            const char *l = row_str(p, p->lc, i, &ll);
            cls = class_of(c, l, ll, 0);
        } else if (p->self[i] >= 0 && c->label[p->self[i]] >= 0) {
            cls = c->label[p->self[i]];
        } else if (pos[i] >= 0 && c->label[pos[i]] >= 0) {
            cls = c->label[pos[i]];
        }
        p->group[i] = cls >= 0 ? cls + 1 : 0;
    }
    /* group the pairs by anchor text: a table over the pairs' anchor column */
    struct ctk_col *col = &p->all.cols[p->ac];
    const char *abase = col->data;
    const int64_t *aoff = col->offsets;
    struct strtab at;
    strtab_init(&at, (size_t)n, &abase, &aoff);
    int64_t *first = xmallocarray(n ? (size_t)n : 1, sizeof *first);
    int32_t *cnt = xcalloc(n ? (size_t)n : 1, sizeof *cnt);
    for (int64_t i = 0; i < n; i++) {
        first[i] = strtab_find(&at, abase + aoff[i], aoff[i + 1] - aoff[i], i);
        cnt[first[i]]++;
    }
    /* per anchor text, its positives' corpus rows (distinct, -1 left out) */
    int64_t *start = xmallocarray(n ? (size_t)n : 1, sizeof *start), run = 0;
    for (int64_t i = 0; i < n; i++)
        if (first[i] == i) {
            start[i] = run;
            run += cnt[i];
        }
    int64_t *rows = xmallocarray(run ? (size_t)run : 1, sizeof *rows);
    int32_t *filled = xcalloc(n ? (size_t)n : 1, sizeof *filled);
    for (int64_t i = 0; i < n; i++) {
        int64_t f = first[i];
        if (pos[i] < 0)
            continue;
        int dup = 0;
        for (int32_t t = 0; t < filled[f]; t++)
            dup |= rows[start[f] + t] == pos[i];
        if (!dup)
            rows[start[f] + filled[f]++] = pos[i];
    }
    p->pos_first = xmallocarray(n ? (size_t)n : 1, sizeof *p->pos_first);
    p->pos_n = xmallocarray(n ? (size_t)n : 1, sizeof *p->pos_n);
    p->maxpos = 0;
    for (int64_t i = 0; i < n; i++) {
        p->pos_first[i] = start[first[i]];
        p->pos_n[i] = filled[first[i]];
        if (p->pos_n[i] > p->maxpos)
            p->maxpos = p->pos_n[i];
    }
    p->posrow = rows;
    free(pos);
    /* one search per anchor text and group (mkpairs repeats each anchor many times) */
    p->rep = xmallocarray(n ? (size_t)n : 1, sizeof *p->rep);
    p->nrep = 0;
    for (int64_t i = 0; i < n; i++) {
        p->rep[i] = p->group[first[i]] == p->group[i] ? first[i] : i;
        p->nrep += p->rep[i] == i;
    }
    free(first);
    free(cnt);
    free(start);
    free(filled);
    free(at.slot);
}

static double cosine_d(const float *a, const float *b, int64_t d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int64_t t = 0; t < d; t++) {
        ab += (double)a[t] * b[t];
        aa += (double)a[t] * a[t];
        bb += (double)b[t] * b[t];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* --- the searches: K candidates per pair into cidx/cscore (n, K) ---------------- */

/* The pairs that repeat an anchor get the candidates of its first pair. */
static void copy_from_reps(const struct pairs *p, int K, int64_t *cidx, double *cscore)
{
    for (int64_t i = 0; i < p->n; i++) {
        int64_t r = p->rep[i];
        if (r == i)
            continue;
        memcpy(cidx + i * K, cidx + r * K, (size_t)K * sizeof *cidx);
        memcpy(cscore + i * K, cscore + r * K, (size_t)K * sizeof *cscore);
    }
}

static void search_model(const struct opts *o, struct pairs *p, struct corpus *c, int K,
                         int64_t *cidx, double *cscore)
{
    const int64_t n = p->n, d = c->d;
    if (p->meta.cols[p->aemb].width != d)
        ctk_die("the pairs' embeddings have dimension %lld but the corpus's %lld",
                (long long)p->meta.cols[p->aemb].width, (long long)d);
    const float *A = p->all.cols[p->aemb].data, *P = p->all.cols[p->pemb].data;
    for (int64_t i = 0; i < n; i++)
        p->pos_score[i] = cosine_d(A + i * d, P + i * d, d);
    const int G = c->nclass + 1;
    int64_t *gn = xcalloc((size_t)G, sizeof *gn);
    for (int64_t i = 0; i < n; i++)
        gn[p->group[i]] += p->rep[i] == i;
    /* per group: its queries gathered, a search, and how many corpus rows it was offered */
    struct ctk_knn **knn = xcalloc((size_t)G, sizeof *knn);
    float **Q = xcalloc((size_t)G, sizeof *Q);
    int64_t **qrow = xcalloc((size_t)G, sizeof *qrow);
    int64_t *offered = xcalloc((size_t)G, sizeof *offered);
    int all_eligible_single = G == 1 && c->ndup == 0;
    for (int g = 0; g < G; g++) {
        if (!gn[g])
            continue;
        Q[g] = xmallocarray((size_t)(gn[g] * d), sizeof *Q[g]);
        qrow[g] = xmallocarray((size_t)gn[g], sizeof *qrow[g]);
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (p->group[i] == g && p->rep[i] == i) {
                memcpy(Q[g] + m * d, A + i * d, (size_t)d * sizeof *A);
                qrow[g][m++] = i;
            }
        knn[g] = ctk_knn_new(Q[g], gn[g], d, K, CTK_METRIC_COSINE, -1, o->threads);
    }
    /* second pass over the corpus: its embeddings, chunk by chunk */
    struct ctk_stream s;
    struct ctk_chunk ck = {0};
    struct ctk_err e;
    if (ctk_stream_open_read(&s, o->corpus, &e) < 0)
        ctk_die_err(&e);
    if (s.meta.ncols != c->meta.ncols || ctk_meta_find(&s.meta, "emb") != c->emb_col)
        ctk_die("%s: changed between its two readings (the corpus must be a file, not a pipe)", o->corpus);
    float *buf = NULL;
    size_t bcap = 0;
    int64_t row0 = 0;
    int rc;
    while ((rc = ctk_chunk_read(&s, &ck, &e)) == 1) {
        if (row0 + ck.rows > c->n)
            ctk_die("%s: more rows on the second reading than on the first (the corpus must be a "
                    "file, not a pipe)", o->corpus);
        const float *X = ck.cols[c->emb_col].data;
        for (int g = 0; g < G; g++) {
            if (!knn[g])
                continue;
            if (all_eligible_single) {
                ctk_knn_add(knn[g], X, ck.rows, offered[g]);
                offered[g] += ck.rows;
                continue;
            }
            grow_bytes((void **)&buf, &bcap, (size_t)(ck.rows * d) * sizeof *buf);
            int64_t m = 0;
            for (int64_t r = 0; r < ck.rows; r++)
                if (eligible(c, row0 + r, g))
                    memcpy(buf + (m++) * d, X + r * d, (size_t)d * sizeof *X);
            if (m)
                ctk_knn_add(knn[g], buf, m, offered[g]);
            offered[g] += m;
        }
        row0 += ck.rows;
        ctk_progress("corpus: %lld rows searched", (long long)row0);
    }
    if (rc < 0)
        ctk_die_err(&e);
    ctk_progress_done();
    if (row0 != c->n)
        ctk_die("%s: %lld rows on the second reading, %lld on the first (the corpus must be a file, "
                "not a pipe)", o->corpus, (long long)row0, (long long)c->n);
    ctk_chunk_free(&ck);
    ctk_stream_close(&s, &e);
    free(buf);
    /* results, the offered numbering mapped back to corpus rows */
    for (int g = 0; g < G; g++) {
        if (!knn[g])
            continue;
        int64_t *map = NULL;
        if (!all_eligible_single) {
            map = xmallocarray(offered[g] ? (size_t)offered[g] : 1, sizeof *map);
            int64_t m = 0;
            for (int64_t j = 0; j < c->n; j++)
                if (eligible(c, j, g))
                    map[m++] = j;
        }
        int64_t *ri = xmallocarray((size_t)(gn[g] * K), sizeof *ri);
        float *rs = xmallocarray((size_t)(gn[g] * K), sizeof *rs);
        ctk_knn_result(knn[g], ri, rs);
        for (int64_t q = 0; q < gn[g]; q++) {
            int64_t i = qrow[g][q];
            for (int t = 0; t < K; t++) {
                int64_t j = ri[q * K + t];
                cidx[i * K + t] = j < 0 ? -1 : map ? map[j] : j;
                cscore[i * K + t] = rs[q * K + t];
            }
        }
        free(ri);
        free(rs);
        free(map);
        ctk_knn_free(knn[g]);
        free(Q[g]);
        free(qrow[g]);
    }
    free(knn);
    free(Q);
    free(qrow);
    free(offered);
    free(gn);
    copy_from_reps(p, K, cidx, cscore);
}

struct bm25_job {
    const struct ctk_bm25 *ix;
    const struct pairs *p;
    uint8_t *const *skip;
    int K;
    int64_t i0, i1;
    int64_t *cidx;
    double *cscore;
};

/* The searches of pairs i0 .. i1-1 (their first pairs only), one thread. */
static void *bm25_worker(void *arg)
{
    struct bm25_job *jb = arg;
    const struct pairs *p = jb->p;
    const int K = jb->K;
    struct ctk_bm25_search ss;
    ctk_bm25_search_init(&ss, jb->ix);
    for (int64_t i = jb->i0; i < jb->i1; i++) {
        if (p->rep[i] != i)
            continue;
        int64_t na;
        const int32_t *a = ctk_col_row(&p->all, &p->meta, p->aids, i, &na);
        int64_t got = ctk_bm25_topk(jb->ix, &ss, a, na, jb->skip[p->group[i]], K, jb->cidx + i * K,
                                    jb->cscore + i * K);
        for (int64_t t = got; t < K; t++) {
            jb->cidx[i * K + t] = -1;
            jb->cscore[i * K + t] = NAN;
        }
    }
    ctk_bm25_search_free(&ss);
    return NULL;
}

static void search_bm25(const struct opts *o, struct pairs *p, struct corpus *c, int K,
                        int64_t *cidx, double *cscore)
{
    struct ctk_bm25 ix;
    struct ctk_err e;
    uint8_t *idx1 = xmallocarray(c->n ? (size_t)c->n : 1, 1);
    for (int64_t j = 0; j < c->n; j++)
        idx1[j] = c->uniq[j] == j;
    if (ctk_bm25_build(&ix, c->ids, c->ioff, c->n, idx1, o->k1, o->b, &e) < 0)
        ctk_die("%s: %s", o->corpus, e.msg);
    free(idx1);
    const int G = c->nclass + 1;
    uint8_t **skip = xcalloc((size_t)G, sizeof *skip);
    for (int64_t i = 0; i < p->n; i++) {
        int g = p->group[i];
        if (!skip[g]) {
            skip[g] = xmallocarray(c->n ? (size_t)c->n : 1, 1);
            for (int64_t j = 0; j < c->n; j++)
                skip[g][j] = !eligible(c, j, g);
        }
        int64_t na, np;
        const int32_t *a = ctk_col_row(&p->all, &p->meta, p->aids, i, &na);
        const int32_t *b = ctk_col_row(&p->all, &p->meta, p->pids, i, &np);
        p->pos_score[i] = ctk_bm25_score_text(&ix, a, na, b, np);
    }
    /* the pairs split among the threads; each result depends on its pair only */
    int T = o->threads < 1 ? 1 : o->threads > 64 ? 64 : o->threads;
    if (T > p->nrep)
        T = p->nrep > 0 ? (int)p->nrep : 1;
    struct bm25_job jobs[64];
    pthread_t tid[64];
    int started = 0;
    for (int t = 0; t < T; t++)
        jobs[t] = (struct bm25_job){&ix, p, skip, K, p->n * t / T, p->n * (t + 1) / T, cidx, cscore};
    for (int t = 1; t < T; t++) {
        if (pthread_create(&tid[t], NULL, bm25_worker, &jobs[t]) != 0)
            break;
        started = t;
    }
    bm25_worker(&jobs[0]);
    for (int t = started + 1; t < T; t++)
        bm25_worker(&jobs[t]);
    for (int t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    copy_from_reps(p, K, cidx, cscore);
    for (int g = 0; g < G; g++)
        free(skip[g]);
    free(skip);
    ctk_bm25_free(&ix);
}

/* --- output --------------------------------------------------------------------- */

/* A column the output keeps: text and scalars, not tokens nor embeddings. */
static int keep_col(const struct ctk_col_spec *s)
{
    if (s->kind == CTK_COL_STRING)
        return 1;
    return s->kind == CTK_COL_DENSE && s->width == 0;
}

struct mined {
    int64_t pair;   /* source row */
    int first;      /* first chosen negative of the pair in chosen[] */
    double key;     /* curriculum key: the score of the row's (hardest) negative */
};

/* What was chosen, for the output and the summary. */
struct choice {
    int N;                       /* num_negatives */
    struct ctk_mine_cand *chosen; /* (n, N) nearest first */
    int *nchosen;                /* (n) */
    int64_t drops[CTK_MINE_NDROP];
    int64_t *hist;               /* (N+1) anchors by number of negatives */
    struct mined *rows;          /* (nrows) output rows, in output order */
    int64_t nrows;
};

/*
 * Mark each pair's candidates (its anchor's row, its positives) and let
 * ctk_mine_select choose; random sampling draws from a generator seeded by
 * (seed, pair row), so that the result does not depend on threads.
 */
static void choose_negatives(const struct opts *o, const struct pairs *p, int K, const int64_t *cidx,
                             const double *cscore, struct choice *ch)
{
    const int64_t n = p->n;
    const int N = ch->N = o->mine.num_negatives;
    struct ctk_mine_cand *cand = xmallocarray((size_t)K, sizeof *cand);
    ch->chosen = xmallocarray(n ? (size_t)(n * N) : 1, sizeof *ch->chosen);
    ch->nchosen = xcalloc(n ? (size_t)n : 1, sizeof *ch->nchosen);
    ch->hist = xcalloc((size_t)N + 1, sizeof *ch->hist);
    memset(ch->drops, 0, sizeof ch->drops);
    for (int64_t i = 0; i < n; i++) {
        int64_t m = 0;
        for (int t = 0; t < K; t++) {
            int64_t j = cidx[i * K + t];
            if (j < 0)
                continue;
            int why = CTK_MINE_KEEP;
            if (j == p->self[i])
                why = CTK_MINE_SELF;
            for (int32_t u = 0; u < p->pos_n[i] && why == CTK_MINE_KEEP; u++)
                if (p->posrow[p->pos_first[i] + u] == j)
                    why = CTK_MINE_POSITIVE;
            cand[m++] = (struct ctk_mine_cand){j, cscore[i * K + t], why};
        }
        struct ctk_rng rng;
        ctk_rng_seed_stream(&rng, o->seed, (uint64_t)i);
        ch->nchosen[i] = ctk_mine_select(&o->mine, p->pos_score[i], cand, m, &rng, ch->chosen + i * N,
                                         ch->drops);
        ch->hist[ch->nchosen[i]]++;
    }
    free(cand);
}

/* The output rows: triplet, one per negative; n-tuple, one per complete pair; then the curriculum. */
static void plan_rows(const struct opts *o, const struct pairs *p, struct choice *ch)
{
    const int N = ch->N;
    int64_t nrows = 0;
    for (int64_t i = 0; i < p->n; i++)
        nrows += o->format == FORMAT_TRIPLET ? ch->nchosen[i] : ch->nchosen[i] == N;
    struct mined *rows = xmallocarray(nrows ? (size_t)nrows : 1, sizeof *rows);
    int64_t r = 0;
    for (int64_t i = 0; i < p->n; i++) {
        if (o->format == FORMAT_TRIPLET) {
            for (int t = 0; t < ch->nchosen[i]; t++)
                rows[r++] = (struct mined){i, t, ch->chosen[i * N + t].score};
        } else if (ch->nchosen[i] == N) {
            rows[r++] = (struct mined){i, 0, ch->chosen[i * N].score};
        }
    }
    ch->nrows = nrows;
    ch->rows = rows;
    if (!o->curriculum)
        return;
    double *key = xmallocarray(nrows ? (size_t)nrows : 1, sizeof *key);
    int64_t *order = xmallocarray(nrows ? (size_t)nrows : 1, sizeof *order);
    for (int64_t k = 0; k < nrows; k++)
        key[k] = rows[k].key;
    ctk_mine_curriculum(key, nrows, order);
    ch->rows = xmallocarray(nrows ? (size_t)nrows : 1, sizeof *ch->rows);
    for (int64_t k = 0; k < nrows; k++)
        ch->rows[k] = rows[order[k]];
    free(rows);
    free(key);
    free(order);
}

/*
 * The output: the pairs' text and scalar columns, then negative[K],
 * negative[K].score and, when the corpus has labels, negative[K].label (the
 * negative's corpus label, empty for a text with two labels), so that
 * ctk-train-mnrl can mask the negatives of an anchor's class that other
 * rows bring into the batch; then positive.score and stage. The model identity goes with
 * the embeddings and tokens, which are dropped.
 */
static void write_output(const struct opts *o, const struct pairs *p, const struct corpus *c,
                         const struct choice *ch)
{
    struct ctk_stream_meta om;
    struct ctk_err e;
    ctk_meta_copy(&om, &p->meta);
    int map[CTK_MAX_COLS];
    for (int k = om.ncols - 1; k >= 0; k--)
        if (!keep_col(&om.cols[k]))
            ctk_meta_drop_col(&om, k);
    for (int k = 0; k < om.ncols; k++)
        map[k] = ctk_meta_find(&p->meta, om.cols[k].name);
    const int N = ch->N, nneg = o->format == FORMAT_TRIPLET ? 1 : N;
    const int per = c->has_label ? 3 : 2;
    if (om.ncols + per * nneg + 2 > CTK_MAX_COLS)
        ctk_die("--num-negatives %d: the output would have more than %d columns; use --format triplet",
                N, CTK_MAX_COLS);
    int negcol[CTK_MAX_COLS], negscol[CTK_MAX_COLS], neglcol[CTK_MAX_COLS];
    for (int t = 0; t < nneg; t++) {
        char nm[64], sc[80], lb[80];
        if (t == 0)
            snprintf(nm, sizeof nm, "negative");
        else
            snprintf(nm, sizeof nm, "negative%d", t + 1);
        snprintf(sc, sizeof sc, "%s.score", nm);
        snprintf(lb, sizeof lb, "%s.label", nm);
        if (ctk_meta_find(&om, nm) >= 0 || ctk_meta_find(&om, sc) >= 0 ||
            ctk_meta_find(&om, lb) >= 0)
            ctk_die("the pairs already have a column '%s' (mined already?)", nm);
        negcol[t] = ctk_meta_add_col(&om, nm, CTK_COL_STRING, CTK_U8, 0);
        negscol[t] = ctk_meta_add_col(&om, sc, CTK_COL_DENSE, CTK_F32, 0);
        map[negcol[t]] = map[negscol[t]] = -1;
        neglcol[t] = -1;
        if (c->has_label) {
            neglcol[t] = ctk_meta_add_col(&om, lb, CTK_COL_STRING, CTK_U8, 0);
            map[neglcol[t]] = -1;
        }
    }
    if (ctk_meta_find(&om, "positive.score") >= 0 || (o->stages && ctk_meta_find(&om, "stage") >= 0))
        ctk_die("the pairs already have a column positive.score or stage (mined already?)");
    int poscol = ctk_meta_add_col(&om, "positive.score", CTK_COL_DENSE, CTK_F32, 0);
    map[poscol] = -1;
    int stagecol = -1;
    if (o->stages) {
        stagecol = ctk_meta_add_col(&om, "stage", CTK_COL_DENSE, CTK_I32, 0);
        map[stagecol] = -1;
    }
    ctk_meta_set_model(&om, NULL);
    om.dim = 0;
    om.normalized = -1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s negatives from %s (%s)", o->method == METHOD_MODEL ? "cosine" : "bm25",
             o->corpus, model_name(&p->meta));
    ctk_meta_set(&om, "mined", buf);
    ctk_meta_add_history(&om, ctk_cmdline());

    struct ctk_stream out;
    if (ctk_stream_open_write(&out, stdout, "stdout", &om, &e) < 0)
        ctk_die_err(&e);
    struct ctk_chunk ck = {0};
    for (int64_t k0 = 0; k0 < ch->nrows; k0 += CTK_CHUNK_ROWS) {
        int64_t k1 = k0 + CTK_CHUNK_ROWS < ch->nrows ? k0 + CTK_CHUNK_ROWS : ch->nrows;
        ctk_chunk_reset(&ck, &out.meta);
        for (int64_t k = k0; k < k1; k++) {
            const struct mined *mr = &ch->rows[k];
            int64_t base = ck.rows;
            ctk_chunk_append_rows(&ck, &out.meta, &p->all, &p->meta, map, mr->pair, mr->pair + 1);
            for (int t = 0; t < nneg; t++) {
                const struct ctk_mine_cand *cd = &ch->chosen[mr->pair * N + mr->first + t];
                ctk_col_append(&ck, &out.meta, negcol[t], c->text + c->toff[cd->idx],
                               c->toff[cd->idx + 1] - c->toff[cd->idx]);
                ((float *)ck.cols[negscol[t]].data)[base] = (float)cd->score;
                if (neglcol[t] >= 0) {
                    int32_t lab = c->label[cd->idx];
                    const char *ln = lab >= 0 ? c->class_name[lab] : "";
                    ctk_col_append(&ck, &out.meta, neglcol[t], ln, (int64_t)strlen(ln));
                }
            }
            ((float *)ck.cols[poscol].data)[base] = (float)p->pos_score[mr->pair];
            if (stagecol >= 0)
                ((int32_t *)ck.cols[stagecol].data)[base] = ctk_mine_stage(k, ch->nrows, o->stages);
        }
        if (ctk_chunk_write(&out, &ck, &e) < 0)
            ctk_die_err(&e);
    }
    if (ctk_stream_close(&out, &e) < 0)
        ctk_die_err(&e);
    if (fflush(stdout) != 0 || ferror(stdout))
        ctk_die("stdout: write error");
    ctk_chunk_free(&ck);
    ctk_meta_free(&om);
}

/* One row of the score table: label and three figures. */
static void stats_row(FILE *f, const char *label, double a, double b, double c)
{
    fprintf(f, "%-7s %12.4f %12.4f %12.4f\n", label, a, b, c);
}

/* The summary on stderr, after mine_hard_negatives' report. */
static void print_summary(const struct opts *o, const struct pairs *p, const struct corpus *c,
                          const struct choice *ch)
{
    FILE *f = stderr;
    const int64_t n = p->n;
    const int N = ch->N;
    fprintf(f, "%s: %lld pairs (%lld distinct anchors), corpus %lld rows (%lld distinct texts), method %s\n",
            ctk_progname(), (long long)n, (long long)p->nrep, (long long)c->n, (long long)(c->n - c->ndup),
            o->method == METHOD_MODEL ? "model (cosine)" : "bm25");
    fprintf(f, "anchors by number of negatives:");
    for (int t = 0; t <= N; t++)
        fprintf(f, " %d: %lld%s", t, (long long)ch->hist[t], t < N ? "," : "\n");
    int64_t nneg = 0;
    for (int64_t i = 0; i < n; i++)
        nneg += ch->nchosen[i];
    double *ps = xmallocarray(n ? (size_t)n : 1, sizeof *ps);
    double *ns = xmallocarray(nneg ? (size_t)nneg : 1, sizeof *ns);
    double *ds = xmallocarray(nneg ? (size_t)nneg : 1, sizeof *ds);
    int64_t q = 0;
    for (int64_t i = 0; i < n; i++) {
        ps[i] = p->pos_score[i];
        for (int t = 0; t < ch->nchosen[i]; t++) {
            ns[q] = ch->chosen[i * N + t].score;
            ds[q++] = p->pos_score[i] - ch->chosen[i * N + t].score;
        }
    }
    struct ctk_mine_stats sp, sn, sd;
    ctk_mine_stats(ps, n, &sp);
    ctk_mine_stats(ns, nneg, &sn);
    ctk_mine_stats(ds, nneg, &sd);
    fprintf(f, "%-7s %12s %12s %12s\n", "score", "positive", "negative", "difference");
    fprintf(f, "%-7s %12lld %12lld\n", "count", (long long)sp.n, (long long)sn.n);
    stats_row(f, "mean", sp.mean, sn.mean, sd.mean);
    stats_row(f, "median", sp.median, sn.median, sd.median);
    stats_row(f, "std", sp.std, sn.std, sd.std);
    stats_row(f, "min", sp.min, sn.min, sd.min);
    stats_row(f, "25%", sp.q25, sn.q25, sd.q25);
    stats_row(f, "50%", sp.q50, sn.q50, sd.q50);
    stats_row(f, "75%", sp.q75, sn.q75, sd.q75);
    stats_row(f, "max", sp.max, sn.max, sd.max);
    free(ps);
    free(ns);
    free(ds);
    int64_t withheld = 0;
    if (c->nclass) {
        int64_t *per = xcalloc((size_t)c->nclass + 1, sizeof *per);
        for (int64_t j = 0; j < c->n; j++)
            if (c->uniq[j] == j)
                for (int g = 1; g <= c->nclass; g++)
                    per[g] += !eligible(c, j, g);
        for (int64_t i = 0; i < n; i++)
            withheld += per[p->group[i]];
        free(per);
    }
    fprintf(f, "never candidates: %lld duplicate corpus rows, %lld texts with two labels, "
               "%lld (anchor, corpus text) pairs of the anchor's label\n",
            (long long)c->ndup, (long long)c->nconflict, (long long)withheld);
    fprintf(f, "dropped candidates:");
    for (int k = 0; k < CTK_MINE_NDROP; k++)
        if (k != CTK_MINE_DUPLICATE && k != CTK_MINE_LABEL)
            fprintf(f, " %s %lld%s", ctk_mine_drop_name(k), (long long)ch->drops[k],
                    k + 1 < CTK_MINE_NDROP ? "," : "\n");
    fprintf(f, "output: %lld rows (%s%s)\n", (long long)ch->nrows,
            o->format == FORMAT_TRIPLET ? "triplet" : "n-tuple",
            o->stages ? ", curriculum stages" : o->curriculum ? ", curriculum order" : "");
    if (ch->hist[N] < n)
        fprintf(f, "%lld anchors got fewer than %d negatives; a larger --range-max (now %lld) or "
                   "looser guards would find more\n",
                (long long)(n - ch->hist[N]), N, (long long)ctk_mine_range_max(&o->mine));
}

int main(int argc, char **argv)
{
    struct opts o;
    struct pairs p;
    struct corpus c;
    struct choice ch;

    ctk_init("ctk-mine-negatives", argc, argv);
    parse_options(argc, argv, &o);
    ctk_check_binary_stdout();
    read_pairs(&p, &o);
    read_corpus_texts(&c, &o, &p.meta);
    locate_pairs(&p, &c);

    /* K candidates per anchor: the pool of true negatives plus what may still be excluded */
    const int64_t range_max = ctk_mine_range_max(&o.mine);
    if (range_max + 1 + p.maxpos > 1000000)
        ctk_die("--range-max %lld: too many candidates per anchor", (long long)range_max);
    const int K = (int)(range_max + 1 + p.maxpos);
    int64_t *cidx = xmallocarray(p.n ? (size_t)(p.n * K) : 1, sizeof *cidx);
    double *cscore = xmallocarray(p.n ? (size_t)(p.n * K) : 1, sizeof *cscore);
    p.pos_score = xmallocarray(p.n ? (size_t)p.n : 1, sizeof *p.pos_score);
    if (o.method == METHOD_MODEL)
        search_model(&o, &p, &c, K, cidx, cscore);
    else
        search_bm25(&o, &p, &c, K, cidx, cscore);

    choose_negatives(&o, &p, K, cidx, cscore, &ch);
    free(cidx);
    free(cscore);
    plan_rows(&o, &p, &ch);
    write_output(&o, &p, &c, &ch);
    if (!ctk_quiet())
        print_summary(&o, &p, &c, &ch);

    free(ch.chosen);
    free(ch.nchosen);
    free(ch.hist);
    free(ch.rows);
    free_pairs(&p);
    free_corpus(&c);
    return 0;
}
