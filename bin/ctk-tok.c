/*
 * ctk-tok -- text to token ids, exactly as Hugging Face's tokenizers (Rust)
 * makes them for the same model folder (see lib/tokenizer.h), or the
 * built-in n-gram encoder's hashed features when no model is named.
 *
 * Reads TSV (as ctk-cat does), raw lines (-f lines: each whole line, tabs and
 * NUL bytes included, is one text) or a ctk stream; writes a stream with
 * X.ids (ragged I32) for each text column X ("ids" for "text"), or one
 * X.ids/X.type_ids for a pair (--pair X,Y), keeping every other column.
 * Chunk by chunk, so memory stays bounded; with -j N, N threads tokenise
 * whole chunks while the input is read and the output written beside them,
 * in input order (see struct run).
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

/* --- tokenising a chunk ------------------------------------------------------------ */

/* What one tokenising thread keeps from chunk to chunk. */
struct ctx {
    struct ctk_tok_scratch sc;
    unsigned char *clean;       /* a text made valid UTF-8 */
    size_t cleancap;
    struct ctk_ids a, b;        /* the texts' ids, before the template */
    struct ctk_ids out, types;  /* after it */
    int32_t *feat;              /* n-gram features */
    int64_t featcap;
};

/* One chunk on its way: read, then tokenised into its output, then written. */
enum slot_state { SLOT_FREE, SLOT_READ, SLOT_DONE };

struct slot {
    enum slot_state state;
    int64_t rows_before;        /* rows of the chunks before this one */
    struct ctk_chunk in, out;
    char *show;                 /* --show: the chunk's lines of tokens */
    size_t showlen;
    int64_t bad;                /* invalid UTF-8 sequences replaced */
    int64_t bad_row;            /* first row with one, -1 if none */
    int64_t fail_row;           /* first row the template refused (err), -1 if none */
    struct ctk_err err;
};

/* Where chunks come from: a stream or TSV (in), or raw lines (lr). */
struct source {
    int lines;
    struct ctk_stream in;
    struct line_reader lr;
    const struct ctk_stream_meta *meta;
};

/*
 * Everything the chunk loop needs. With one thread the main thread reads,
 * tokenises and writes each chunk in turn. With N > 1 the main thread reads
 * chunks into a ring of N + 2 slots, N workers each take the next chunk read
 * and make its whole output (the carried columns, the ids, or the --show
 * text), and a writer thread writes the slots in input order: reading,
 * tokenising and writing overlap, nothing is assembled serially, and at most
 * N + 2 chunks are held at once.
 */
struct run {
    const struct opts *o;
    const struct toker *tk;
    const struct ctk_stream_meta *inm, *outm;
    struct job jobs[CTK_MAX_COLS];
    int njobs;
    int src_of[CTK_MAX_COLS];  /* input column of each output column, -1: made here */
    int nth;
    struct slot *slots;
    int nslots;
    pthread_mutex_t mu;        /* guards the slots' states, nread, ntaken, eof */
    pthread_cond_t cv;         /* broadcast on every change of them */
    int64_t nread, ntaken;     /* chunks read, chunks taken by a worker */
    int eof;
    /* the writer's */
    struct ctk_stream out;
    int opened;
    int64_t rows_written;
    int64_t bad;               /* invalid UTF-8 sequences replaced so far */
    long long bad_line;        /* line of the first, -1 if none */
};

/* Text of row r of column i as valid UTF-8 (sanitized into c->clean when needed). */
static const unsigned char *clean_text(const struct run *R, struct ctx *c, struct slot *s, int i,
                                       int64_t r, size_t *len)
{
    int64_t n;
    const unsigned char *t = ctk_col_row(&s->in, R->inm, i, r, &n);
    if (ctk_utf8_check(t, (size_t)n) == (size_t)n) {
        *len = (size_t)n;
        return t;
    }
    if (s->bad_row < 0)
        s->bad_row = r;
    if (R->o->strict) {
        *len = 0;
        return NULL;
    }
    s->bad += (int64_t)ctk_utf8_sanitize(t, (size_t)n, &c->clean, &c->cleancap, len);
    return c->clean;
}

/* The tokens of ids as text, space-separated. */
static void show_ids(FILE *f, const struct ctk_tokenizer *tok, const int32_t *ids, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const char *t = ctk_tokenizer_token(tok, ids[k]);
        if (k)
            putc(' ', f);
        fputs(t ? t : "?", f);
    }
}

/*
 * Row r of job jb into c->out (and c->types for a pair). Returns 0, or -1
 * on invalid UTF-8 with --utf8=strict (s->bad_row says where) or when the
 * template refuses the row (s->err).
 */
static int tokenise_row(const struct run *R, struct ctx *c, struct slot *s, const struct job *jb,
                        int64_t r)
{
    const struct toker *tk = R->tk;
    size_t na, nb = 0;
    const unsigned char *ta = clean_text(R, c, s, jb->src[0], r, &na);
    if (!ta)
        return -1;
    c->out.n = 0;
    if (tk->ngram) {
        if (c->featcap < tk->max_length) {
            c->featcap = tk->max_length;
            c->feat = xreallocarray(c->feat, (size_t)c->featcap, sizeof *c->feat);
        }
        int64_t nf = ctk_ngram_features(&tk->ncfg, (const char *)ta, na, c->feat, tk->max_length);
        if (nf > tk->max_length)
            nf = tk->max_length;
        for (int64_t k = 0; k < nf; k++)
            ctk_ids_push(&c->out, c->feat[k]);
        return 0;
    }
    int pair = jb->src[1] >= 0;
    c->a.n = 0;
    ctk_tokenizer_encode(&tk->tok, &c->sc, ta, na, &c->a);
    if (pair) {
        /* ta may live in c->clean: tokenise A before cleaning B */
        const unsigned char *tb = clean_text(R, c, s, jb->src[1], r, &nb);
        if (!tb)
            return -1;
        c->b.n = 0;
        ctk_tokenizer_encode(&tk->tok, &c->sc, tb, nb, &c->b);
    }
    if (ctk_tokenizer_post(&tk->tok, c->a.v, c->a.n, pair ? c->b.v : NULL, c->b.n, tk->special,
                           tk->max_length, &c->out, pair ? &c->types : NULL, &s->err) < 0) {
        s->fail_row = r;
        return -1;
    }
    return 0;
}

/*
 * The whole output of slot s: the columns carried over and the ids, or the
 * --show lines. Stops at the first row in error; the writer reports it.
 */
static void tokenise_chunk(const struct run *R, struct ctx *c, struct slot *s)
{
    const struct ctk_stream_meta *om = R->outm;
    int64_t rows = s->in.rows;
    FILE *show = NULL;
    s->bad = 0;
    s->bad_row = s->fail_row = -1;
    if (R->o->show) {
        free(s->show);
        s->show = NULL;
        if (!(show = open_memstream(&s->show, &s->showlen)))
            ctk_die("out of memory");
    } else {
        ctk_chunk_reset(&s->out, om);
        for (int k = 0; k < om->ncols; k++)
            if (R->src_of[k] >= 0)
                copy_col(&s->out, om, k, &s->in, R->inm, R->src_of[k], rows);
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int j = 0; j < R->njobs; j++) {
            const struct job *jb = &R->jobs[j];
            if (tokenise_row(R, c, s, jb, r) < 0)
                goto end;
            if (show) {
                if (j)
                    putc('\t', show);
                show_ids(show, &R->tk->tok, c->out.v, c->out.n);
                continue;
            }
            ctk_col_append(&s->out, om, jb->ids_col, c->out.v, (int64_t)c->out.n);
            if (jb->types_col >= 0)
                ctk_col_append(&s->out, om, jb->types_col, c->types.v, (int64_t)c->types.n);
        }
        if (show)
            putc('\n', show);
    }
    s->out.rows = rows;
end:
    if (show && fclose(show) != 0)
        ctk_die("out of memory");
}

static void free_ctx(struct ctx *c)
{
    ctk_tok_scratch_free(&c->sc);
    free(c->clean);
    ctk_ids_free(&c->a);
    ctk_ids_free(&c->b);
    ctk_ids_free(&c->out);
    ctk_ids_free(&c->types);
    free(c->feat);
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

/* --- reading, writing, the threads -------------------------------------------------- */

/* The next chunk into ck. Returns 1, or 0 at the end of the input. */
static int source_read(struct source *src, struct ctk_chunk *ck)
{
    if (src->lines)
        return read_lines_chunk(&src->lr, src->meta, ck) > 0;
    struct ctk_err e;
    int rc = ctk_chunk_read(&src->in, ck, &e);
    if (rc < 0)
        ctk_die_err(&e);
    return rc;
}

/*
 * Slot s, in input order: dies on its first error, else writes it. The
 * stream is opened with the first chunk written, so that an error in it
 * (strict UTF-8, a refused row) leaves stdout empty.
 */
static void write_slot(struct run *R, struct slot *s)
{
    struct ctk_err e;
    /* a chunk stops at its first error: under --utf8=strict a bad row, else a refused one */
    if (s->bad_row >= 0 && R->o->strict)
        ctk_die("line %lld: invalid UTF-8 (--utf8=strict); clean the input or use "
                "--utf8=replace", row_line(R->inm, &s->in, s->bad_row, s->rows_before));
    if (s->fail_row >= 0)
        ctk_die("line %lld: %s", row_line(R->inm, &s->in, s->fail_row, s->rows_before), s->err.msg);
    if (s->bad_row >= 0 && R->bad_line < 0)
        R->bad_line = row_line(R->inm, &s->in, s->bad_row, s->rows_before);
    R->bad += s->bad;
    if (R->o->show) {
        if (fwrite(s->show, 1, s->showlen, stdout) != s->showlen)
            ctk_die("stdout: write error: %m");
    } else {
        if (!R->opened && ctk_stream_open_write(&R->out, stdout, "stdout", R->outm, &e) < 0)
            ctk_die_err(&e);
        R->opened = 1;
        if (ctk_chunk_write(&R->out, &s->out, &e) < 0)
            ctk_die_err(&e);
    }
    R->rows_written += s->in.rows;
    ctk_progress("%lld rows", (long long)R->rows_written);
}

struct worker {
    struct run *R;
    struct ctx ctx;
};

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct run *R = wk->R;
    pthread_mutex_lock(&R->mu);
    for (;;) {
        while (R->ntaken == R->nread && !R->eof)
            pthread_cond_wait(&R->cv, &R->mu);
        if (R->ntaken == R->nread)
            break; /* the end, and every chunk taken */
        struct slot *s = &R->slots[R->ntaken++ % R->nslots];
        pthread_mutex_unlock(&R->mu);
        tokenise_chunk(R, &wk->ctx, s);
        pthread_mutex_lock(&R->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&R->cv);
    }
    pthread_mutex_unlock(&R->mu);
    return NULL;
}

/* Slot seq % nslots holds chunk seq from its reading until the writer frees it. */
static void *writer_main(void *arg)
{
    struct run *R = arg;
    for (int64_t seq = 0;; seq++) {
        struct slot *s = &R->slots[seq % R->nslots];
        pthread_mutex_lock(&R->mu);
        while (!(seq < R->nread && s->state == SLOT_DONE) && !(seq == R->nread && R->eof))
            pthread_cond_wait(&R->cv, &R->mu);
        int end = seq == R->nread;
        pthread_mutex_unlock(&R->mu);
        if (end)
            return NULL;
        write_slot(R, s);
        pthread_mutex_lock(&R->mu);
        s->state = SLOT_FREE;
        pthread_cond_broadcast(&R->cv);
        pthread_mutex_unlock(&R->mu);
    }
}

static void run_serial(struct run *R, struct source *src)
{
    struct ctx c = {0};
    struct slot *s = &R->slots[0];
    int64_t rows = 0;
    while (source_read(src, &s->in) > 0) {
        s->rows_before = rows;
        rows += s->in.rows;
        tokenise_chunk(R, &c, s);
        write_slot(R, s);
    }
    free_ctx(&c);
}

static void run_parallel(struct run *R, struct source *src)
{
    struct worker *wk = xcalloc((size_t)R->nth, sizeof *wk);
    pthread_t *th = xcalloc((size_t)R->nth + 1, sizeof *th);
    pthread_mutex_init(&R->mu, NULL);
    pthread_cond_init(&R->cv, NULL);
    for (int t = 0; t < R->nth; t++) {
        wk[t].R = R;
        if (pthread_create(&th[t], NULL, worker_main, &wk[t]) != 0)
            ctk_die("cannot start a thread");
    }
    if (pthread_create(&th[R->nth], NULL, writer_main, R) != 0)
        ctk_die("cannot start a thread");
    int64_t rows = 0;
    for (int64_t seq = 0;; seq++) {
        struct slot *s = &R->slots[seq % R->nslots];
        pthread_mutex_lock(&R->mu);
        while (s->state != SLOT_FREE)
            pthread_cond_wait(&R->cv, &R->mu);
        pthread_mutex_unlock(&R->mu);
        int more = source_read(src, &s->in); /* the slot is the reader's while free */
        pthread_mutex_lock(&R->mu);
        if (!more) {
            R->eof = 1;
            pthread_cond_broadcast(&R->cv);
            pthread_mutex_unlock(&R->mu);
            break;
        }
        s->rows_before = rows;
        rows += s->in.rows;
        s->state = SLOT_READ;
        R->nread++;
        pthread_cond_broadcast(&R->cv);
        pthread_mutex_unlock(&R->mu);
    }
    for (int t = 0; t <= R->nth; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < R->nth; t++)
        free_ctx(&wk[t].ctx);
    pthread_cond_destroy(&R->cv);
    pthread_mutex_destroy(&R->mu);
    free(wk);
    free(th);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct toker tk;
    struct ctk_stream_meta lines_meta, outm;
    struct ctk_err e;
    struct source src = {0};
    struct run R = {0};

    ctk_init("ctk-tok", argc, argv);
    parse_options(argc, argv, &o);
    open_toker(&o, &tk);

    if (o.lines) {
        ctk_meta_init(&lines_meta);
        ctk_meta_add_col(&lines_meta, "id", CTK_COL_DENSE, CTK_I64, 0);
        ctk_meta_add_col(&lines_meta, "text", CTK_COL_STRING, CTK_U8, 0);
        src.lines = 1;
        src.lr.files = o.files;
        src.lr.nfiles = o.nfiles;
        src.meta = &lines_meta;
    } else {
        if (ctk_input_open(&src.in, o.files, o.nfiles, &o.text, &e) < 0)
            ctk_die_err(&e);
        src.meta = &src.in.meta;
    }
    R.o = &o;
    R.tk = &tk;
    R.inm = src.meta;
    R.njobs = plan(&o, R.inm, &outm, R.jobs, R.src_of);
    ctk_meta_set_model(&outm, tk.identity);
    char buf[64];
    snprintf(buf, sizeof buf, "%lld", (long long)tk.max_length);
    ctk_meta_set(&outm, "max_length", buf);
    ctk_meta_add_history(&outm, ctk_cmdline());
    R.outm = &outm;
    if (!o.show)
        ctk_check_binary_stdout();

    R.nth = o.threads < 1 ? 1 : o.threads;
    R.nslots = R.nth > 1 ? R.nth + 2 : 1;
    R.slots = xcalloc((size_t)R.nslots, sizeof *R.slots);
    R.bad_line = -1;
    if (R.nth > 1)
        run_parallel(&R, &src);
    else
        run_serial(&R, &src);
    ctk_progress_done();
    if (R.bad > 0 && !ctk_quiet())
        ctk_warn("%lld invalid UTF-8 sequence%s replaced with U+FFFD (first on line %lld); "
                 "--utf8=strict makes this an error", (long long)R.bad, R.bad == 1 ? "" : "s",
                 R.bad_line);
    if (!o.show && !R.opened && ctk_stream_open_write(&R.out, stdout, "stdout", &outm, &e) < 0)
        ctk_die_err(&e);
    if (!o.show && ctk_stream_close(&R.out, &e) < 0)
        ctk_die_err(&e);
    if (o.show && fflush(stdout) != 0)
        ctk_die("stdout: write error: %m");
    if (o.lines)
        ctk_meta_free(&lines_meta);
    else if (ctk_stream_close(&src.in, &e) < 0)
        ctk_die_err(&e);
    for (int k = 0; k < R.nslots; k++) {
        ctk_chunk_free(&R.slots[k].in);
        ctk_chunk_free(&R.slots[k].out);
        free(R.slots[k].show);
    }
    free(R.slots);
    free(src.lr.buf);
    ctk_meta_free(&outm);
    free(o.pair[0]);
    free(o.pair[1]);
    free_toker(&tk);
    return 0;
}
