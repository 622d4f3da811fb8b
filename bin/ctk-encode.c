/*
 * ctk-encode -- token streams to sentence embeddings.
 *
 * Reads a stream from ctk-tok (ragged I32 columns "ids" and "X.ids", with
 * "type_ids"/"X.type_ids" when present), encodes every token column with the
 * model of -m DIR (the built-in n-gram encoder without -m), and writes the
 * stream with "emb"/"X.emb" (F32 [n, d]) appended, every other column kept.
 * Within each chunk rows are sorted by length, encoded in packed batches,
 * and written back in input order; memory is bounded by the chunk.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transformer.h"
#include "blas.h"
#include "encoder.h"
#include "err.h"
#include "gemm.h"
#include "stream.h"

struct opts {
    const char *model;   /* -m DIR, or NULL: the built-in encoder */
    const char *input;   /* file or "-" */
    int normalize;       /* 1, 0, or -1: as the model says */
    int64_t batch;       /* sequences per forward call */
    int threads;
    int layer_output;    /* also write token embeddings (X.hidden) */
    int any_tokens;      /* accept tokens made with another model's tokenizer */
};

static void usage(void)
{
    printf("Usage: %s [OPTION]... [FILE]\n", ctk_progname());
    printf("Turn a token stream (from ctk-tok) into sentence embeddings: for every token column\n"
           "ids or X.ids, append emb or X.emb (F32, one row of d values per input row).\n"
           "With no FILE, or when FILE is -, read standard input.\n"
           "\n"
           "  -m, --model DIR          model folder (sentence-transformers layout; BERT family);\n"
           "                           without it, the built-in n-gram encoder\n"
           "      --normalize          L2-normalise the embeddings\n"
           "      --no-normalize       do not, even if the model has a Normalize module\n"
           "                           (default: as the model folder says)\n"
           "  -b, --batch-size N       sequences per batch (default 32)\n"
           "  -j, --threads N          compute threads (default: CTK_THREADS, else all cores)\n"
           "      --layer-output       also write the token embeddings (last hidden state) of\n"
           "                           each row as X.hidden (ragged F32: T x d values)\n"
           "      --any-tokens         accept tokens made with another model's tokenizer\n"
           "  -q, --quiet              no progress or warnings\n"
           "      --help               show this help and exit\n"
           "      --version            show the version and exit\n"
           "\n"
           "Environment: CTK_BLAS_CORETYPE selects OpenBLAS kernels, CTK_GEMM_KERNEL the\n"
           "linear layers' product: avx512, sgemm or amx (see ctk-encode(1));\n"
           "running now on OpenBLAS's %s kernels, products by %s.\n", ctk_blas_corename(),
           ctk_gemm_kind_name());
    exit(CTK_EXIT_OK);
}

static int64_t parse_count(const char *opt, const char *arg, int64_t max)
{
    char *end;
    long long v = strtoll(arg, &end, 10);
    if (*arg == 0 || *end || v < 1 || v > max)
        ctk_usage("%s must be an integer from 1 to %lld; you gave '%s'", opt, (long long)max, arg);
    return v;
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { O_NORM = 256, O_NONORM, O_LAYER, O_ANY, O_HELP, O_VERSION };
    static const struct option lo[] = {
        {"model", required_argument, 0, 'm'}, {"normalize", no_argument, 0, O_NORM},
        {"no-normalize", no_argument, 0, O_NONORM}, {"batch-size", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 'j'}, {"layer-output", no_argument, 0, O_LAYER},
        {"any-tokens", no_argument, 0, O_ANY}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, O_HELP}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->normalize = -1;
    o->batch = 32;
    o->input = "-";
    int c;
    while ((c = getopt_long(argc, argv, "m:b:j:q", lo, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case O_NORM: o->normalize = 1; break;
        case O_NONORM: o->normalize = 0; break;
        case 'b': o->batch = parse_count("--batch-size", optarg, 1 << 20); break;
        case 'j': o->threads = (int)parse_count("--threads", optarg, 1024); break;
        case O_LAYER: o->layer_output = 1; break;
        case O_ANY: o->any_tokens = 1; break;
        case 'q': ctk_set_quiet(1); break;
        case O_HELP: usage(); break;
        case O_VERSION: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (optind < argc) o->input = argv[optind++];
    if (optind < argc) ctk_usage("one input file at most; you gave '%s' too", argv[optind]);
}

/* One token column to encode: its ids, type ids, and the columns we add. */
struct job {
    int ids, types;  /* input columns (types -1: none) */
    int emb, hidden; /* output columns (hidden -1: none) */
};

/* The token columns of the input: "ids" and every "X.ids" (ragged I32). */
static int find_jobs(const struct ctk_stream_meta *in, struct ctk_stream_meta *out,
                     struct job *jobs, const struct opts *o, int64_t dim)
{
    int n = 0;
    for (int i = 0; i < in->ncols; i++) {
        const struct ctk_col_spec *cs = &in->cols[i];
        size_t len = strlen(cs->name);
        char prefix[CTK_COL_NAME_MAX], name[CTK_COL_NAME_MAX + 16];
        if (strcmp(cs->name, "ids") == 0) {
            prefix[0] = 0;
        } else if (len > 4 && strcmp(cs->name + len - 4, ".ids") == 0) {
            snprintf(prefix, sizeof prefix, "%.*s.", (int)(len - 4), cs->name);
        } else {
            continue;
        }
        if (cs->kind != CTK_COL_RAGGED || cs->dtype != CTK_I32)
            ctk_die("%s: column '%s' is not a ragged I32 column of token ids (made by ctk-tok?)",
                    o->input, cs->name);
        struct job *j = &jobs[n++];
        j->ids = i;
        snprintf(name, sizeof name, "%stype_ids", prefix);
        j->types = ctk_meta_find(in, name);
        if (j->types >= 0 && (in->cols[j->types].kind != CTK_COL_RAGGED || in->cols[j->types].dtype != CTK_I32))
            ctk_die("%s: column '%s' is not a ragged I32 column of token type ids", o->input, name);
        snprintf(name, sizeof name, "%semb", prefix);
        if (ctk_meta_find(out, name) >= 0)
            ctk_die("%s: the input already has a column '%s' (encoded twice?)", o->input, name);
        j->emb = ctk_meta_add_col(out, name, CTK_COL_DENSE, CTK_F32, dim);
        j->hidden = -1;
        if (o->layer_output) {
            snprintf(name, sizeof name, "%shidden", prefix);
            j->hidden = ctk_meta_add_col(out, name, CTK_COL_RAGGED, CTK_F32, 0);
        }
    }
    if (n == 0)
        ctk_die("%s: no token column (ids or X.ids): make the input with ctk-tok", o->input);
    return n;
}

/* Scratch reused across chunks. */
struct work {
    int64_t *order, *offs;
    int32_t *ids, *types;
    float *emb, *hidden;
    size_t cap_rows, cap_tok, cap_hidden;
};

static const struct ctk_col *col_of(const struct ctk_chunk *c, int i) { return &c->cols[i]; }

static struct {
    const int64_t *off;
} sort_ctx;

static int by_length(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int64_t lx = sort_ctx.off[x + 1] - sort_ctx.off[x], ly = sort_ctx.off[y + 1] - sort_ctx.off[y];
    if (lx != ly) return lx < ly ? 1 : -1; /* longest first */
    return x < y ? -1 : x > y;
}

static void encode_column(struct ctk_encoder *enc, const struct opts *o, struct ctk_chunk *c,
                          const struct ctk_stream_meta *om, const struct job *j, int64_t chunkno,
                          struct work *w)
{
    int64_t rows = c->rows, D = enc->dim;
    const struct ctk_col *ic = col_of(c, j->ids);
    const int64_t *off = ic->offsets;
    const int32_t *ids = ic->data;
    const int32_t *types = j->types >= 0 ? col_of(c, j->types)->data : NULL;
    if (j->types >= 0) {
        const int64_t *toff = col_of(c, j->types)->offsets;
        for (int64_t r = 0; r <= rows; r++)
            if (toff[r] != off[r])
                ctk_die("%s: chunk %lld, row %lld: '%s' and '%s' differ in length", o->input,
                        (long long)chunkno + 1, (long long)r + 1, om->cols[j->ids].name,
                        om->cols[j->types].name);
    }
    int64_t limit = ctk_is_transformer(enc) ? ctk_transformer_positions(enc) : INT64_MAX;
    for (int64_t r = 0; r < rows; r++)
        if (off[r + 1] - off[r] > limit)
            ctk_die("%s: chunk %lld, row %lld: %lld tokens in '%s', more than the model's %lld "
                    "positions: tokenize with ctk-tok -m DIR --max-length %lld",
                    o->input, (long long)chunkno + 1, (long long)r + 1, (long long)(off[r + 1] - off[r]),
                    om->cols[j->ids].name, (long long)limit, (long long)limit);

    if ((size_t)rows + 1 > w->cap_rows) {
        w->cap_rows = (size_t)rows + 1;
        w->order = xreallocarray(w->order, w->cap_rows, sizeof *w->order);
        w->offs = xreallocarray(w->offs, w->cap_rows, sizeof *w->offs);
    }
    size_t ntok = (size_t)off[rows];
    if (ntok + 1 > w->cap_tok) {
        w->cap_tok = ntok + 1;
        w->ids = xreallocarray(w->ids, w->cap_tok, sizeof *w->ids);
        w->types = xreallocarray(w->types, w->cap_tok, sizeof *w->types);
    }
    if (j->hidden >= 0 && ntok * (size_t)D > w->cap_hidden) {
        w->cap_hidden = ntok * (size_t)D;
        w->hidden = xreallocarray(w->hidden, w->cap_hidden, sizeof *w->hidden);
    }
    w->emb = xreallocarray(w->emb, (size_t)(o->batch * D), sizeof *w->emb);
    float *out = ctk_col_dense_reserve(c, om, j->emb, rows);

    /* sort the chunk's rows by length (the window), encode in batches, scatter back */
    for (int64_t r = 0; r < rows; r++) w->order[r] = r;
    sort_ctx.off = off;
    qsort(w->order, (size_t)rows, sizeof *w->order, by_length);
    for (int64_t b0 = 0; b0 < rows; b0 += o->batch) {
        int64_t n = rows - b0 < o->batch ? rows - b0 : o->batch, pos = 0;
        w->offs[0] = 0;
        for (int64_t k = 0; k < n; k++) {
            int64_t r = w->order[b0 + k], len = off[r + 1] - off[r];
            memcpy(w->ids + pos, ids + off[r], (size_t)len * sizeof *ids);
            if (types) memcpy(w->types + pos, types + off[r], (size_t)len * sizeof *types);
            pos += len;
            w->offs[k + 1] = pos;
        }
        struct ctk_tokens t = {n, w->ids, types ? w->types : NULL, w->offs};
        struct ctk_err e;
        if (enc->ops->forward(enc, &t, w->emb, 0, 0, &e) < 0)
            ctk_die("%s: chunk %lld, column '%s': %s", o->input, (long long)chunkno + 1,
                    om->cols[j->ids].name, e.msg);
        for (int64_t k = 0; k < n; k++)
            memcpy(out + w->order[b0 + k] * D, w->emb + k * D, (size_t)D * sizeof *out);
        if (j->hidden >= 0) {
            const float *h = ctk_transformer_last_hidden(enc, NULL, NULL);
            for (int64_t k = 0; k < n; k++) {
                int64_t r = w->order[b0 + k];
                memcpy(w->hidden + off[r] * D, h + w->offs[k] * D,
                       (size_t)((off[r + 1] - off[r]) * D) * sizeof *h);
            }
        }
    }
    if (j->hidden >= 0)
        for (int64_t r = 0; r < rows; r++)
            ctk_col_append(c, om, j->hidden, w->hidden + off[r] * D, (off[r + 1] - off[r]) * D);
}

int main(int argc, char **argv)
{
    ctk_init("ctk-encode", argc, argv);
    ctk_blas_init(argc, argv); /* may re-execute with faster OpenBLAS kernels */
    struct opts o;
    parse_options(argc, argv, &o);
    ctk_check_binary_stdout();

    struct ctk_err e;
    struct ctk_encoder *enc = ctk_encoder_open(o.model, ctk_threads(o.threads), &e);
    if (!enc) ctk_die_err(&e);
    if (o.normalize >= 0) {
        if (ctk_is_transformer(enc)) enc->normalize = o.normalize;
        else if (o.normalize != enc->normalize)
            ctk_usage("the %s encoder's output is %s: drop --%snormalize", enc->kind,
                      enc->normalize ? "always normalised" : "never normalised",
                      o.normalize ? "" : "no-");
    }
    if (o.layer_output && !ctk_is_transformer(enc))
        ctk_usage("--layer-output needs a transformer model (-m DIR): the %s encoder has no "
                  "token embeddings", enc->kind);

    struct ctk_stream in, out;
    if (ctk_stream_open_read(&in, o.input, &e) < 0) ctk_die_err(&e);
    if (in.meta.model && strcmp(in.meta.model, enc->identity) != 0 && !o.any_tokens)
        ctk_die("%s: the tokens were made for model '%s', not '%s': tokenize with "
                "ctk-tok %s%s, or pass --any-tokens if both share one vocabulary",
                o.input, in.meta.model, enc->identity, o.model ? "-m " : "",
                o.model ? o.model : "(no -m)");
    struct ctk_stream_meta om;
    ctk_meta_copy(&om, &in.meta);
    struct job jobs[CTK_MAX_COLS];
    int njobs = find_jobs(&in.meta, &om, jobs, &o, enc->dim);
    ctk_meta_set_model(&om, enc->identity);
    om.dim = enc->dim;
    om.normalized = enc->normalize;
    ctk_meta_add_history(&om, ctk_cmdline());
    /* the output starts once the first chunk is encoded: an error there leaves stdout empty */
    int started = 0;

    struct ctk_chunk c = {0};
    struct work w = {0};
    int64_t total = 0, chunkno = 0;
    int rc;
    while ((rc = ctk_chunk_read(&in, &c, &e)) == 1) {
        for (int k = 0; k < njobs; k++) {
            if (jobs[k].hidden >= 0) {
                c.cols[jobs[k].hidden].n = 0;
                if (c.cols[jobs[k].hidden].offsets) c.cols[jobs[k].hidden].offsets[0] = 0;
            }
            encode_column(enc, &o, &c, &om, &jobs[k], chunkno, &w);
        }
        c.ncols = om.ncols;
        if (!started && ctk_stream_open_write(&out, stdout, "stdout", &om, &e) < 0) ctk_die_err(&e);
        started = 1;
        if (ctk_chunk_write(&out, &c, &e) < 0) ctk_die_err(&e);
        total += c.rows;
        chunkno++;
        ctk_progress("%lld rows", (long long)total);
    }
    if (rc < 0) ctk_die_err(&e);
    if (!started && ctk_stream_open_write(&out, stdout, "stdout", &om, &e) < 0) ctk_die_err(&e);
    ctk_progress_done();
    if (ctk_stream_close(&out, &e) < 0) ctk_die_err(&e);
    ctk_stream_close(&in, &e);
    ctk_meta_free(&om);
    ctk_chunk_free(&c);
    free(w.order), free(w.offs), free(w.ids), free(w.types), free(w.emb), free(w.hidden);
    ctk_encoder_free(enc);
    return 0;
}
