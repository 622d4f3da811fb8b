/*
 * ctk-tok -- text to token ids, exactly as Hugging Face's tokenizers (Rust)
 * makes them for the same model folder (see lib/tokenizer.h), or the
 * built-in n-gram encoder's hashed features when no model is named.
 *
 * Reads TSV (as ctk-cat does), raw lines (-f lines: each whole line, tabs and
 * NUL bytes included, is one text) or a ctk stream; writes a stream with
 * X.ids (ragged I32) for each text column X ("ids" for "text"), or one
 * X.ids/X.type_ids for a pair (--pair X,Y), keeping every other column.
 * Chunk by chunk, so memory stays bounded; -j N splits each chunk's rows
 * between threads and writes them back in input order.
 */
#include "config.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "opts.h"
#include "fsutil.h"
#include "json.h"
#include "ngram.h"
#include "stream.h"
#include "textio.h"
#include "tokenizer.h"
#include "unicode.h"

struct opts {
    const char *model;          /* -m DIR; NULL: the built-in n-gram encoder */
    int64_t max_length;         /* -1: the model's */
    int special;                /* add [CLS]/[SEP] (or the template's tokens) */
    int show;                   /* tokens as text for a person */
    int lines;                  /* -f lines */
    struct ctk_text_opts text;  /* TSV / JSON Lines reading */
    int strict;                 /* --utf8=strict */
    char *pair[2];              /* --pair A,B */
    const char *columns;        /* --columns LIST: the text columns */
    int keep_text;
    int threads;
    const char *const *files;
    int nfiles;
};

/* What turns a text into ids: a tokenizer, or the n-gram featuriser. */
struct toker {
    int ngram;
    struct ctk_tokenizer tok;
    struct ctk_ngram_cfg ncfg;
    char *identity;
    int64_t max_length;         /* 0: none */
    int special;
};

/* One text column (or a pair) to tokenise, and where its ids go. */
struct job {
    int src[2];                 /* input column(s); src[1] = -1 unless a pair */
    int ids_col, types_col;     /* output columns; types_col -1 unless a pair */
};

/* What one thread makes from its rows. */
struct slice {
    int64_t r0, r1;
    struct ctk_ids ids[CTK_MAX_COLS], types[CTK_MAX_COLS];
    int64_t *len[CTK_MAX_COLS]; /* (r1-r0) ids per row, per job */
    int64_t lencap;
    int64_t bad;                /* invalid UTF-8 sequences replaced */
    int64_t bad_row;            /* first row with one, -1 if none */
    struct ctk_tok_scratch sc;
    unsigned char *clean;
    size_t cleancap;
    struct ctk_ids a, b;
    int32_t *feat;
    int64_t featcap;
    int failed;
    struct ctk_err err;
};

struct work {
    const struct opts *o;
    const struct toker *tk;
    const struct ctk_stream_meta *in;
    const struct ctk_chunk *ck;
    const struct job *jobs;
    int njobs;
};

struct worker {
    const struct work *w;
    struct slice *s;
};

static void usage(void)
{
    printf("Usage: ctk-tok [OPTION]... [FILE]...\n"
           "Turn text into token ids: a ctk stream with X.ids for each text column X.\n"
           "FILE is TSV (text, label<TAB>text, or columns named by --header/--names), raw\n"
           "lines with -f lines, or a ctk stream; none or - reads standard input.\n\n"
           "  -m, --model DIR          model folder (tokenizer.json, or vocab.txt with\n"
           "                           tokenizer_config.json); without it, the built-in\n"
           "                           n-gram encoder's hashed features\n"
           "      --max-length N       at most N tokens per sequence, special tokens\n"
           "                           included (default: the model's max_seq_length;\n"
           "                           0: no limit)\n"
           "      --no-special-tokens  no [CLS]/[SEP] (or <s>/</s>)\n"
           "      --pair A,B           tokenise columns A and B as one sentence pair into\n"
           "                           A.ids and A.type_ids (ids/type_ids for text)\n"
           "      --columns LIST       the text columns to tokenise (default: every string\n"
           "                           column but label, pred and X.label)\n"
           "      --keep-text          keep the text columns in the output\n"
           "  -f, --format FMT         input text format: tsv (default), jsonl, or lines\n"
           "      --header             TSV: the first line names the columns\n"
           "      --names LIST         TSV: name the columns (e.g. label,text)\n"
           "      --utf8=MODE          invalid UTF-8: replace (default; each bad sequence\n"
           "                           becomes U+FFFD, one warning) or strict (an error)\n"
           "      --show               print the tokens as text, one row per line\n"
           "  -j, --threads N          tokenise with N threads (default: CTK_THREADS or\n"
           "                           the number of processors); output order is kept\n"
           "  -q, --quiet              no warnings or progress\n"
           "  -h, --help               show this help and exit\n"
           "      --version            show the version and exit\n\n"
           "Exit status: 0 success, 1 data or runtime error, 2 usage error.\n"
           "See ctk-tok(1).\n");
    exit(CTK_EXIT_OK);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { O_MAXLEN = 256, O_NOSPECIAL, O_PAIR, O_COLUMNS, O_KEEP, O_HEADER, O_NAMES, O_UTF8,
           O_SHOW, O_VERSION };
    static const struct option lo[] = {
        {"model", required_argument, 0, 'm'},
        {"max-length", required_argument, 0, O_MAXLEN},
        {"no-special-tokens", no_argument, 0, O_NOSPECIAL},
        {"pair", required_argument, 0, O_PAIR},
        {"columns", required_argument, 0, O_COLUMNS},
        {"keep-text", no_argument, 0, O_KEEP},
        {"format", required_argument, 0, 'f'},
        {"header", no_argument, 0, O_HEADER},
        {"names", required_argument, 0, O_NAMES},
        {"utf8", required_argument, 0, O_UTF8},
        {"show", no_argument, 0, O_SHOW},
        {"threads", required_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->max_length = -1;
    o->special = 1;
    int c, threads = 0;
    while ((c = getopt_long(argc, argv, "m:f:j:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case O_MAXLEN: o->max_length = ctk_opt_int64("--max-length", optarg, 0, 1000000000); break;
        case O_NOSPECIAL: o->special = 0; break;
        case O_PAIR: {
            char *comma = strchr(optarg, ',');
            if (!comma || comma == optarg || !comma[1] || strchr(comma + 1, ','))
                ctk_usage("--pair takes two column names, A,B: not '%s'", optarg);
            o->pair[0] = xstrdup(optarg);
            o->pair[0][comma - optarg] = 0;
            o->pair[1] = xstrdup(comma + 1);
            break;
        }
        case O_COLUMNS: o->columns = optarg; break;
        case O_KEEP: o->keep_text = 1; break;
        case 'f':
            if (strcmp(optarg, "lines") == 0)
                o->lines = 1;
            else if (ctk_text_format_parse(optarg, &o->text.format) < 0 ||
                     o->text.format == CTK_TEXT_NPY)
                ctk_usage("-f must be tsv, jsonl or lines, not '%s'", optarg);
            break;
        case O_HEADER: o->text.header = 1; break;
        case O_NAMES: o->text.names = optarg; break;
        case O_UTF8:
            if (strcmp(optarg, "strict") == 0)
                o->strict = 1;
            else if (strcmp(optarg, "replace") != 0)
                ctk_usage("--utf8 must be replace or strict, not '%s'", optarg);
            break;
        case O_SHOW: o->show = 1; break;
        case 'j': threads = (int)ctk_opt_int64("-j", optarg, 0, 1000000000); break;
        case 'q': ctk_set_quiet(1); break;
        case 'h': usage(); break;
        case O_VERSION: ctk_version(); break;
        default: ctk_usage("unknown option"); /* getopt printed which */
        }
    }
    if (o->lines && (o->text.header || o->text.names))
        ctk_usage("-f lines reads each whole line as one text: --header and --names are for TSV");
    if (o->pair[0] && o->columns)
        ctk_usage("--pair and --columns cannot be combined");
    if (o->show && o->keep_text)
        ctk_usage("--show prints tokens only: --keep-text is for stream output");
    o->threads = ctk_threads(threads);
    o->files = (const char *const *)argv + optind;
    o->nfiles = argc - optind;
}

/* config.json says "model_type": "ctk-ngram"? */
static int is_ngram_folder(const char *dir)
{
    char *p = ctk_path_join(dir, "config.json");
    struct stat st;
    int r = 0;
    if (stat(p, &st) == 0) {
        struct ctk_err e;
        json_t *j = ctk_json_load_file(p, &e);
        if (!j)
            ctk_die_err(&e);
        const json_t *t = json_object_get(j, "model_type");
        r = json_is_string(t) && strcmp(json_string_value(t), "ctk-ngram") == 0;
        json_decref(j);
    }
    free(p);
    return r;
}

static void open_toker(const struct opts *o, struct toker *tk)
{
    struct ctk_err e;
    memset(tk, 0, sizeof *tk);
    tk->special = o->special;
    if (!o->model || is_ngram_folder(o->model)) {
        tk->ngram = 1;
        if (ctk_ngram_cfg_load(o->model, &tk->ncfg, &e) < 0)
            ctk_die_err(&e);
        struct ctk_encoder *enc = ctk_ngram_open(o->model, 1, &e);
        if (!enc)
            ctk_die_err(&e);
        tk->identity = xstrdup(enc->identity);
        enc->ops->free(enc);
        tk->max_length = o->max_length >= 0 ? o->max_length : tk->ncfg.max_features;
        if (tk->max_length == 0 || tk->max_length > tk->ncfg.max_features)
            tk->max_length = tk->ncfg.max_features;
        if (o->pair[0])
            ctk_usage("--pair needs a transformer model (-m DIR): the built-in n-gram encoder "
                      "takes one text at a time");
        if (o->show)
            ctk_usage("--show needs a model folder with a vocabulary (-m DIR): the built-in "
                      "encoder's features are hashes");
        return;
    }
    if (ctk_tokenizer_load(&tk->tok, o->model, &e) < 0)
        ctk_die_err(&e);
    tk->identity = ctk_tokenizer_identity(o->model);
    tk->max_length = o->max_length >= 0 ? o->max_length : tk->tok.max_length;
    if (tk->max_length > 0 && o->special &&
        tk->max_length < ctk_tokenizer_added(&tk->tok, o->pair[0] != NULL) + 1)
        ctk_usage("--max-length %lld leaves no room for text after the %d special tokens",
                  (long long)tk->max_length, ctk_tokenizer_added(&tk->tok, o->pair[0] != NULL));
}

static void free_toker(struct toker *tk)
{
    if (!tk->ngram)
        ctk_tokenizer_free(&tk->tok);
    free(tk->identity);
}

/* --- which columns ------------------------------------------------------------ */

/*
 * Not text by default: label, pred, and X.label (the label of column X, as
 * ctk-mine-negatives writes negative.label).
 */
static int is_label_col(const char *n)
{
    size_t k = strlen(n);
    return strcmp(n, "label") == 0 || strcmp(n, "pred") == 0 ||
           (k > 6 && strcmp(n + k - 6, ".label") == 0);
}

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *q = strchr(p, ',');
        size_t k = q ? (size_t)(q - p) : strlen(p);
        if (k == n && memcmp(p, name, n) == 0)
            return 1;
        if (!q)
            break;
        p = q + 1;
    }
    return 0;
}

/* "ids" for "text", "X.ids" otherwise. */
static void out_name(char *buf, const char *col, const char *suffix)
{
    if (strcmp(col, "text") == 0)
        snprintf(buf, CTK_COL_NAME_MAX, "%s", suffix);
    else if (snprintf(buf, CTK_COL_NAME_MAX, "%s.%s", col, suffix) >= CTK_COL_NAME_MAX)
        ctk_die("column name '%s.%s' is too long (at most %d bytes)", col, suffix,
                CTK_COL_NAME_MAX - 1);
}

static int string_col(const struct ctk_stream_meta *m, const char *name, const char *what)
{
    int i = ctk_meta_find(m, name);
    if (i < 0)
        ctk_die("the input has no column '%s' (%s); its columns are listed by 'ctk-cat --schema'",
                name, what);
    if (m->cols[i].kind != CTK_COL_STRING)
        ctk_die("column '%s' is not a text (string) column", name);
    return i;
}

/*
 * The output schema: the input's, the text columns dropped (unless
 * --keep-text), the ids columns appended. src_of[k] is the input column of
 * output column k, or -1 for a column made here.
 */
static int plan(const struct opts *o, const struct ctk_stream_meta *in, struct ctk_stream_meta *out,
                struct job *jobs, int *src_of)
{
    int njobs = 0, used[CTK_MAX_COLS] = {0};
    if (o->pair[0]) {
        jobs[0].src[0] = string_col(in, o->pair[0], "--pair");
        jobs[0].src[1] = string_col(in, o->pair[1], "--pair");
        used[jobs[0].src[0]] = used[jobs[0].src[1]] = 1;
        njobs = 1;
    } else {
        if (o->columns)
            for (const char *p = o->columns; *p;) {
                const char *q = strchr(p, ',');
                char name[CTK_COL_NAME_MAX];
                size_t k = q ? (size_t)(q - p) : strlen(p);
                if (k == 0 || k >= sizeof name)
                    ctk_usage("--columns: bad column list '%s'", o->columns);
                memcpy(name, p, k);
                name[k] = 0;
                string_col(in, name, "--columns");
                if (!q)
                    break;
                p = q + 1;
            }
        for (int i = 0; i < in->ncols; i++) {
            const char *n = in->cols[i].name;
            if (in->cols[i].kind != CTK_COL_STRING)
                continue;
            if (o->columns ? !in_list(o->columns, n) : is_label_col(n))
                continue;
            jobs[njobs].src[0] = i;
            jobs[njobs].src[1] = -1;
            used[i] = 1;
            njobs++;
        }
        if (njobs == 0)
            ctk_die("the input has no text column to tokenise (string columns other than "
                    "label); name them with --columns");
    }
    ctk_meta_init(out);
    ctk_meta_copy(out, in);
    int nout = 0;
    /* keep the columns not tokenised, in order (and the texts with --keep-text) */
    for (int i = in->ncols - 1; i >= 0; i--)
        if (used[i] && !o->keep_text)
            ctk_meta_drop_col(out, i);
    for (int i = 0; i < in->ncols; i++)
        if (!used[i] || o->keep_text)
            src_of[nout++] = i;
    for (int j = 0; j < njobs; j++) {
        char name[CTK_COL_NAME_MAX];
        out_name(name, in->cols[jobs[j].src[0]].name, "ids");
        if (ctk_meta_find(out, name) >= 0)
            ctk_die("the input already has a column '%s': tokenised twice?", name);
        jobs[j].ids_col = ctk_meta_add_col(out, name, CTK_COL_RAGGED, CTK_I32, 0);
        src_of[nout++] = -1;
        jobs[j].types_col = -1;
        if (jobs[j].src[1] >= 0) {
            out_name(name, in->cols[jobs[j].src[0]].name, "type_ids");
            if (ctk_meta_find(out, name) >= 0)
                ctk_die("the input already has a column '%s': tokenised twice?", name);
            jobs[j].types_col = ctk_meta_add_col(out, name, CTK_COL_RAGGED, CTK_I32, 0);
            src_of[nout++] = -1;
        }
    }
    return njobs;
}

/* --- tokenising rows ------------------------------------------------------------- */

/* Text of row r of column i as valid UTF-8 (sanitized into s->clean when needed). */
static const unsigned char *clean_text(const struct work *w, struct slice *s, int i, int64_t r,
                                       size_t *len)
{
    int64_t n;
    const unsigned char *t = ctk_col_row(w->ck, w->in, i, r, &n);
    if (ctk_utf8_check(t, (size_t)n) == (size_t)n) {
        *len = (size_t)n;
        return t;
    }
    if (s->bad_row < 0)
        s->bad_row = r;
    if (w->o->strict) {
        *len = 0;
        return NULL;
    }
    s->bad += (int64_t)ctk_utf8_sanitize(t, (size_t)n, &s->clean, &s->cleancap, len);
    return s->clean;
}

static void tokenise_rows(const struct work *w, struct slice *s)
{
    const struct toker *tk = w->tk;
    for (int j = 0; j < w->njobs; j++) {
        s->ids[j].n = 0;
        s->types[j].n = 0;
    }
    int64_t rows = s->r1 - s->r0;
    if (rows > s->lencap) {
        for (int j = 0; j < w->njobs; j++)
            s->len[j] = xreallocarray(s->len[j], (size_t)rows, sizeof(int64_t));
        s->lencap = rows;
    }
    for (int64_t r = s->r0; r < s->r1; r++) {
        for (int j = 0; j < w->njobs; j++) {
            const struct job *jb = &w->jobs[j];
            size_t na, nb = 0;
            const unsigned char *ta = clean_text(w, s, jb->src[0], r, &na);
            if (!ta)
                return; /* strict: the caller reports bad_row */
            size_t before = s->ids[j].n;
            if (tk->ngram) {
                if (s->featcap < tk->max_length) {
                    s->featcap = tk->max_length;
                    s->feat = xreallocarray(s->feat, (size_t)s->featcap, sizeof *s->feat);
                }
                int64_t nf = ctk_ngram_features(&tk->ncfg, (const char *)ta, na, s->feat,
                                                tk->max_length);
                if (nf > tk->max_length)
                    nf = tk->max_length;
                for (int64_t k = 0; k < nf; k++)
                    ctk_ids_push(&s->ids[j], s->feat[k]);
            } else {
                s->a.n = 0;
                ctk_tokenizer_encode(&tk->tok, &s->sc, ta, na, &s->a);
                struct ctk_ids out = {0}, types = {0};
                if (jb->src[1] >= 0) {
                    /* ta may live in s->clean: tokenise A before cleaning B */
                    const unsigned char *tb = clean_text(w, s, jb->src[1], r, &nb);
                    if (!tb)
                        return;
                    s->b.n = 0;
                    ctk_tokenizer_encode(&tk->tok, &s->sc, tb, nb, &s->b);
                }
                if (ctk_tokenizer_post(&tk->tok, s->a.v, s->a.n, jb->src[1] >= 0 ? s->b.v : NULL,
                                       s->b.n, tk->special, tk->max_length, &out,
                                       jb->src[1] >= 0 ? &types : NULL, &s->err) < 0) {
                    s->failed = 1;
                    return;
                }
                for (size_t k = 0; k < out.n; k++)
                    ctk_ids_push(&s->ids[j], out.v[k]);
                for (size_t k = 0; k < types.n; k++)
                    ctk_ids_push(&s->types[j], types.v[k]);
                ctk_ids_free(&out);
                ctk_ids_free(&types);
            }
            s->len[j][r - s->r0] = (int64_t)(s->ids[j].n - before);
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    tokenise_rows(wk->w, wk->s);
    return NULL;
}

/* Line number of row r for messages: the id column when there is one. */
static long long row_line(const struct ctk_stream_meta *m, const struct ctk_chunk *ck, int64_t r,
                          int64_t base)
{
    int i = ctk_meta_find(m, "id");
    if (i >= 0 && m->cols[i].kind == CTK_COL_DENSE && m->cols[i].dtype == CTK_I64 &&
        m->cols[i].width == 0)
        return (long long)((const int64_t *)ck->cols[i].data)[r];
    return (long long)(base + r + 1);
}

/* --- -f lines: each whole line is one text ------------------------------------------ */

struct line_reader {
    const char *const *files;
    int nfiles, cur;
    FILE *f;
    const char *name;
    int64_t lineno;
    char *buf;
    size_t cap;
};

static int line_next(struct line_reader *lr, ssize_t *len)
{
    for (;;) {
        if (!lr->f) {
            if (lr->cur >= (lr->nfiles ? lr->nfiles : 1))
                return 0;
            const char *p = lr->nfiles ? lr->files[lr->cur] : "-";
            lr->cur++;
            lr->name = strcmp(p, "-") ? p : "stdin";
            lr->f = strcmp(p, "-") ? fopen(p, "rb") : stdin;
            if (!lr->f)
                ctk_die("%s: cannot open: %m", p);
        }
        ssize_t n = getdelim(&lr->buf, &lr->cap, '\n', lr->f);
        if (n >= 0) {
            if (n > 0 && lr->buf[n - 1] == '\n')
                n--;
            lr->lineno++;
            *len = n;
            return 1;
        }
        if (ferror(lr->f))
            ctk_die("%s: read error: %m", lr->name);
        if (lr->f != stdin)
            fclose(lr->f);
        lr->f = NULL;
    }
}

/* A chunk of up to CTK_CHUNK_ROWS lines (or about 8 MB). Returns its rows. */
static int64_t read_lines_chunk(struct line_reader *lr, const struct ctk_stream_meta *m,
                                struct ctk_chunk *ck)
{
    ctk_chunk_reset(ck, m);
    int64_t rows = 0;
    size_t bytes = 0;
    ssize_t n;
    int64_t *ids = ctk_col_dense_reserve(ck, m, 0, CTK_CHUNK_ROWS);
    while (rows < CTK_CHUNK_ROWS && bytes < (8u << 20) && line_next(lr, &n)) {
        ids[rows] = lr->lineno;
        ctk_col_append(ck, m, 1, lr->buf, (int64_t)n);
        bytes += (size_t)n;
        rows++;
    }
    ck->rows = rows;
    return rows;
}

/* --- output --------------------------------------------------------------------------- */

static void copy_col(struct ctk_chunk *dst, const struct ctk_stream_meta *dm, int k,
                     const struct ctk_chunk *src, const struct ctk_stream_meta *sm, int i,
                     int64_t rows)
{
    const struct ctk_col_spec *cs = &sm->cols[i];
    if (cs->kind == CTK_COL_DENSE) {
        size_t w = (size_t)(cs->width ? cs->width : 1) * ctk_dtype_size(cs->dtype);
        void *d = ctk_col_dense_reserve(dst, dm, k, rows);
        memcpy(d, src->cols[i].data, (size_t)rows * w);
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        int64_t n;
        const void *p = ctk_col_row(src, sm, i, r, &n);
        ctk_col_append(dst, dm, k, p, n);
    }
}

static void show_rows(const struct toker *tk, const struct job *jobs, int njobs,
                      struct slice *sl, int nsl)
{
    for (int t = 0; t < nsl; t++) {
        size_t off[CTK_MAX_COLS] = {0};
        for (int64_t r = 0; r < sl[t].r1 - sl[t].r0; r++) {
            for (int j = 0; j < njobs; j++) {
                if (j)
                    putchar('\t');
                int64_t n = sl[t].len[j][r];
                for (int64_t k = 0; k < n; k++) {
                    const char *s = ctk_tokenizer_token(&tk->tok, sl[t].ids[j].v[off[j] + k]);
                    if (k)
                        putchar(' ');
                    fputs(s ? s : "?", stdout);
                }
                off[j] += (size_t)n;
            }
            putchar('\n');
        }
    }
}

/* Everything the chunk loop needs. */
struct run {
    const struct opts *o;
    const struct toker *tk;
    const struct ctk_stream_meta *inm;
    struct job jobs[CTK_MAX_COLS];
    int njobs;
    int src_of[CTK_MAX_COLS];  /* input column of each output column, -1: made here */
    int nth, used;             /* threads, slices with rows in this chunk */
    struct slice *sl;
    pthread_t *th;
    struct worker *wk;
    int64_t rows_before;       /* rows of the chunks before this one */
    int64_t bad;               /* invalid UTF-8 sequences replaced so far */
    long long bad_line;        /* line of the first, -1 if none */
};

/*
 * Tokenise chunk ck: its rows split into nth contiguous slices, one thread
 * each (this thread takes the first), so that writing the slices in order
 * keeps the input order. Dies on invalid UTF-8 in strict mode.
 */
static void tokenise_chunk(struct run *R, const struct ctk_chunk *ck)
{
    struct work w = {R->o, R->tk, R->inm, ck, R->jobs, R->njobs};
    int64_t rows = ck->rows, per = (rows + R->nth - 1) / R->nth;
    R->used = 0;
    for (int t = 0; t < R->nth; t++) {
        struct slice *s = &R->sl[t];
        s->r0 = t * per < rows ? t * per : rows;
        s->r1 = (t + 1) * per < rows ? (t + 1) * per : rows;
        s->bad_row = -1;
        s->bad = 0;
        R->wk[t] = (struct worker){&w, s};
        if (s->r1 > s->r0)
            R->used = t + 1;
    }
    for (int t = 1; t < R->used; t++)
        if (pthread_create(&R->th[t], NULL, worker_main, &R->wk[t]) != 0)
            ctk_die("cannot start a thread");
    if (R->used > 0)
        tokenise_rows(&w, &R->sl[0]);
    for (int t = 1; t < R->used; t++)
        pthread_join(R->th[t], NULL);
    for (int t = 0; t < R->used; t++) {
        struct slice *s = &R->sl[t];
        if (s->failed)
            ctk_die("line %lld: %s", row_line(R->inm, ck, s->r0, R->rows_before), s->err.msg);
        if (s->bad_row >= 0 && R->o->strict)
            ctk_die("line %lld: invalid UTF-8 (--utf8=strict); clean the input or use "
                    "--utf8=replace", row_line(R->inm, ck, s->bad_row, R->rows_before));
        if (s->bad_row >= 0 && R->bad_line < 0)
            R->bad_line = row_line(R->inm, ck, s->bad_row, R->rows_before);
        R->bad += s->bad;
    }
}

/* The output chunk: the columns carried over, then the slices' ids in order. */
static void build_output(const struct run *R, const struct ctk_chunk *ck,
                         const struct ctk_stream_meta *om, struct ctk_chunk *oc)
{
    ctk_chunk_reset(oc, om);
    for (int k = 0; k < om->ncols; k++)
        if (R->src_of[k] >= 0)
            copy_col(oc, om, k, ck, R->inm, R->src_of[k], ck->rows);
    for (int j = 0; j < R->njobs; j++)
        for (int t = 0; t < R->used; t++) {
            const struct slice *s = &R->sl[t];
            size_t off = 0;
            for (int64_t r = 0; r < s->r1 - s->r0; r++) {
                int64_t n = s->len[j][r];
                ctk_col_append(oc, om, R->jobs[j].ids_col, s->ids[j].v + off, n);
                if (R->jobs[j].types_col >= 0)
                    ctk_col_append(oc, om, R->jobs[j].types_col, s->types[j].v + off, n);
                off += (size_t)n;
            }
        }
    oc->rows = ck->rows;
}

static void free_run(struct run *R)
{
    for (int t = 0; t < R->nth; t++) {
        struct slice *s = &R->sl[t];
        for (int j = 0; j < R->njobs; j++) {
            ctk_ids_free(&s->ids[j]);
            ctk_ids_free(&s->types[j]);
            free(s->len[j]);
        }
        ctk_tok_scratch_free(&s->sc);
        ctk_ids_free(&s->a);
        ctk_ids_free(&s->b);
        free(s->clean);
        free(s->feat);
    }
    free(R->sl);
    free(R->th);
    free(R->wk);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct toker tk;
    struct ctk_stream in = {0}, out = {0};
    struct ctk_stream_meta lines_meta, outm;
    struct ctk_chunk ck = {0}, oc = {0};
    struct ctk_err e;
    struct line_reader lr = {0};
    struct run R = {0};

    ctk_init("ctk-tok", argc, argv);
    parse_options(argc, argv, &o);
    open_toker(&o, &tk);

    if (o.lines) {
        ctk_meta_init(&lines_meta);
        ctk_meta_add_col(&lines_meta, "id", CTK_COL_DENSE, CTK_I64, 0);
        ctk_meta_add_col(&lines_meta, "text", CTK_COL_STRING, CTK_U8, 0);
        lr.files = o.files;
        lr.nfiles = o.nfiles;
        R.inm = &lines_meta;
    } else {
        if (ctk_input_open(&in, o.files, o.nfiles, &o.text, &e) < 0)
            ctk_die_err(&e);
        R.inm = &in.meta;
    }
    R.o = &o;
    R.tk = &tk;
    R.njobs = plan(&o, R.inm, &outm, R.jobs, R.src_of);
    ctk_meta_set_model(&outm, tk.identity);
    char buf[64];
    snprintf(buf, sizeof buf, "%lld", (long long)tk.max_length);
    ctk_meta_set(&outm, "max_length", buf);
    ctk_meta_add_history(&outm, ctk_cmdline());
    if (!o.show)
        ctk_check_binary_stdout();
    /* The stream is opened once the first chunk is tokenised, so that an
     * error in it (strict UTF-8, a bad column) leaves stdout empty. */
    int opened = 0;

    R.nth = o.threads < 1 ? 1 : o.threads;
    R.sl = xcalloc((size_t)R.nth, sizeof *R.sl);
    R.th = xcalloc((size_t)R.nth, sizeof *R.th);
    R.wk = xcalloc((size_t)R.nth, sizeof *R.wk);
    R.bad_line = -1;
    for (;;) {
        int rc;
        if (o.lines)
            rc = read_lines_chunk(&lr, R.inm, &ck) > 0;
        else if ((rc = ctk_chunk_read(&in, &ck, &e)) < 0)
            ctk_die_err(&e);
        if (rc == 0)
            break;
        tokenise_chunk(&R, &ck);
        if (o.show) {
            show_rows(&tk, R.jobs, R.njobs, R.sl, R.used);
        } else {
            if (!opened && ctk_stream_open_write(&out, stdout, "stdout", &outm, &e) < 0)
                ctk_die_err(&e);
            opened = 1;
            build_output(&R, &ck, &out.meta, &oc);
            if (ctk_chunk_write(&out, &oc, &e) < 0)
                ctk_die_err(&e);
        }
        R.rows_before += ck.rows;
        ctk_progress("%lld rows", (long long)R.rows_before);
    }
    ctk_progress_done();
    if (R.bad > 0 && !ctk_quiet())
        ctk_warn("%lld invalid UTF-8 sequence%s replaced with U+FFFD (first on line %lld); "
                 "--utf8=strict makes this an error", (long long)R.bad, R.bad == 1 ? "" : "s",
                 R.bad_line);
    if (!o.show && !opened && ctk_stream_open_write(&out, stdout, "stdout", &outm, &e) < 0)
        ctk_die_err(&e);
    if (!o.show && ctk_stream_close(&out, &e) < 0)
        ctk_die_err(&e);
    if (!o.lines && ctk_stream_close(&in, &e) < 0)
        ctk_die_err(&e);
    if (o.lines)
        ctk_meta_free(&lines_meta);
    free(lr.buf);
    free_run(&R);
    ctk_meta_free(&outm);
    ctk_chunk_free(&ck);
    ctk_chunk_free(&oc);
    free(o.pair[0]);
    free(o.pair[1]);
    free_toker(&tk);
    return 0;
}
