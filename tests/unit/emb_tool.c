/*
 * emb_tool -- embedding streams for the head's tests and benchmark, without
 * an encoder:
 *
 *   emb_tool tsv [-m MODEL] [-d DIM] [--no-id] < label<TAB>x1 x2 ...
 *       one row a line; the stream has columns id (I64, line number),
 *       label (string), emb (F32 [n, d]); -d sets the header's "dim"
 *       (default: the width of the rows, so a test can make it lie).
 *   emb_tool random N D [-m MODEL] [-s SEED] [-l LABELS] [-c ROWS]
 *       N random unit vectors of dimension D (Gaussian, normalised), labels
 *       c0..c{LABELS-1}, in chunks of ROWS (default 4096): for the 1M-row
 *       throughput measurement, without committing big files. The
 *       vectors come from lib/rng.h's generator (seed SEED, default 1).
 *   emb_tool cols [-m MODEL] SPEC < TSV
 *       any typed stream (ctk-mine-negatives' tests): SPEC lists the
 *       columns, one per TSV field, as NAME:TYPE separated by commas: s a
 *       string, f a dense F32 vector (numbers separated by spaces, the
 *       width of the first row), i a ragged I32 row of token ids (numbers
 *       separated by spaces). Example:
 *         emb_tool cols -m fixture 'label:s,text:s,emb:f'
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"
#include "stream.h"

/* Set the model and the history of m, and start the stream on stdout. */
static void open_out(struct ctk_stream *s, struct ctk_stream_meta *m, const char *model)
{
    struct ctk_err e;
    if (model)
        ctk_meta_set_model(m, model);
    ctk_meta_add_history(m, ctk_cmdline());
    if (ctk_stream_open_write(s, stdout, "stdout", m, &e))
        ctk_die_err(&e);
}

static void begin(struct ctk_stream *s, struct ctk_stream_meta *m, const char *model,
                  int64_t dim, int64_t width, int with_id, int normalized)
{
    ctk_meta_init(m);
    if (with_id)
        ctk_meta_add_col(m, "id", CTK_COL_DENSE, CTK_I64, 0);
    ctk_meta_add_col(m, "label", CTK_COL_STRING, CTK_U8, 0);
    ctk_meta_add_col(m, "emb", CTK_COL_DENSE, CTK_F32, width);
    m->dim = dim;
    m->normalized = normalized;
    open_out(s, m, model);
}

/* emb_tool cols: the TSV fields as the columns of spec_arg. */
static void cols(const char *model, const char *spec_arg)
{
    char *spec = xstrdup(spec_arg);
    char names[CTK_MAX_COLS][CTK_COL_NAME_MAX];
    char types[CTK_MAX_COLS];
    int nc = 0;
    for (char *tok = strtok(spec, ","); tok; tok = strtok(NULL, ",")) {
        char *colon = strrchr(tok, ':');
        if (!colon || nc == CTK_MAX_COLS || colon - tok >= CTK_COL_NAME_MAX)
            ctk_usage("bad column spec '%s'", tok);
        *colon = '\0';
        snprintf(names[nc], CTK_COL_NAME_MAX, "%s", tok);
        types[nc++] = colon[1];
    }
    /* read every line first: the vector width comes from the first row */
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char **lines = NULL;
    int64_t n = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        lines = xreallocarray(lines, (size_t)n + 1, sizeof *lines);
        lines[n++] = xstrdup(line);
    }
    free(line);
    int64_t width[CTK_MAX_COLS] = {0};
    struct ctk_stream_meta m;
    ctk_meta_init(&m);
    for (int k = 0; k < nc; k++) {
        if (types[k] == 'f') {
            if (n == 0)
                ctk_die("a vector column needs a first row for its width");
            char *copy = xstrdup(lines[0]), *f = copy;
            for (int t = 0; t < k && f; t++) {
                f = strchr(f, '\t');
                if (f)
                    f++;
            }
            if (!f)
                ctk_die("line 1: fewer fields than columns");
            char *end = strchr(f, '\t');
            if (end)
                *end = '\0';
            for (char *w = strtok(f, " "); w; w = strtok(NULL, " "))
                width[k]++;
            free(copy);
            ctk_meta_add_col(&m, names[k], CTK_COL_DENSE, CTK_F32, width[k]);
            if (!m.dim)
                m.dim = width[k];
        } else if (types[k] == 'i') {
            ctk_meta_add_col(&m, names[k], CTK_COL_RAGGED, CTK_I32, 0);
        } else if (types[k] == 's') {
            ctk_meta_add_col(&m, names[k], CTK_COL_STRING, CTK_U8, 0);
        } else {
            ctk_usage("type '%c' of column %s is not s, f or i", types[k], names[k]);
        }
    }
    struct ctk_stream out;
    struct ctk_err e;
    open_out(&out, &m, model);
    struct ctk_chunk ck = {0};
    ctk_chunk_reset(&ck, &out.meta);
    int32_t *iv = xmallocarray(4096, sizeof *iv);
    for (int64_t r = 0; r < n; r++) {
        char *f = lines[r];
        for (int k = 0; k < nc; k++) {
            if (!f)
                ctk_die("line %lld: fewer fields than columns", (long long)r + 1);
            char *next = strchr(f, '\t');
            if (next)
                *next++ = '\0';
            if (types[k] == 's') {
                ctk_col_append(&ck, &out.meta, k, f, (int64_t)strlen(f));
            } else if (types[k] == 'i') {
                int64_t c = 0;
                for (char *w = strtok(f, " "); w && c < 4096; w = strtok(NULL, " "))
                    iv[c++] = (int32_t)strtol(w, NULL, 10);
                ctk_col_append(&ck, &out.meta, k, iv, c);
            } else {
                float *p = (float *)ctk_col_dense_reserve(&ck, &out.meta, k, r + 1) + r * width[k];
                int64_t c = 0;
                for (char *w = strtok(f, " "); w; w = strtok(NULL, " ")) {
                    if (c == width[k])
                        ctk_die("line %lld: more than %lld numbers in %s", (long long)r + 1,
                                (long long)width[k], names[k]);
                    p[c++] = strtof(w, NULL);
                }
                if (c != width[k])
                    ctk_die("line %lld: %lld numbers in %s, want %lld", (long long)r + 1, (long long)c,
                            names[k], (long long)width[k]);
            }
            f = next;
        }
        ck.rows = r + 1;
        free(lines[r]);
    }
    if (n && ctk_chunk_write(&out, &ck, &e))
        ctk_die_err(&e);
    if (ctk_stream_close(&out, &e))
        ctk_die_err(&e);
    free(lines);
    free(iv);
    free(spec);
    ctk_chunk_free(&ck);
    ctk_meta_free(&m);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"no-id", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL;
    int64_t dim = -1, chunk = CTK_CHUNK_ROWS;
    int with_id = 1, nlabels = 2, c;
    uint64_t seed = 1;
    ctk_init("emb_tool", argc, argv);
    while ((c = getopt_long(argc, argv, "m:d:s:l:c:", lo, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': dim = atoll(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'l': nlabels = atoi(optarg); break;
        case 'c': chunk = atoll(optarg); break;
        case 'n': with_id = 0; break;
        default: ctk_usage("bad option");
        }
    }
    if (optind >= argc)
        ctk_usage("tsv, random or cols");
    ctk_check_binary_stdout();
    if (strcmp(argv[optind], "cols") == 0) {
        if (optind + 1 >= argc)
            ctk_usage("usage: emb_tool cols [-m MODEL] NAME:TYPE,... < TSV");
        cols(model, argv[optind + 1]);
        return 0;
    }
    struct ctk_stream s;
    struct ctk_stream_meta m;
    struct ctk_chunk ck = {0};
    struct ctk_err e;
    const int ie = with_id ? 2 : 1, il = with_id ? 1 : 0;

    if (strcmp(argv[optind], "random") == 0) {
        if (optind + 2 >= argc)
            ctk_usage("random N D");
        int64_t N = atoll(argv[optind + 1]), D = atoll(argv[optind + 2]);
        struct ctk_rng rng;
        ctk_rng_seed(&rng, seed);
        begin(&s, &m, model, D, D, with_id, 1);
        for (int64_t r0 = 0; r0 < N; r0 += chunk) {
            int64_t n = N - r0 < chunk ? N - r0 : chunk;
            ctk_chunk_reset(&ck, &m);
            ck.rows = n;
            float *x = ctk_col_dense_reserve(&ck, &m, ie, n);
            int64_t *id = with_id ? ctk_col_dense_reserve(&ck, &m, 0, n) : NULL;
            for (int64_t r = 0; r < n; r++) {
                double ss = 0;
                for (int64_t t = 0; t < D; t++) {
                    double g = ctk_rng_normal(&rng);
                    x[r * D + t] = (float)g;
                    ss += g * g;
                }
                for (int64_t t = 0; t < D; t++)
                    x[r * D + t] = (float)(x[r * D + t] / sqrt(ss));
                char lab[32];
                int len = snprintf(lab, sizeof lab, "c%d", (int)((r0 + r) % nlabels));
                ctk_col_append(&ck, &m, il, lab, len);
                if (id)
                    id[r] = r0 + r + 1;
            }
            if (ctk_chunk_write(&s, &ck, &e))
                ctk_die_err(&e);
        }
    } else if (strcmp(argv[optind], "tsv") == 0) {
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        int64_t width = -1, lineno = 0, n = 0;
        float *row = NULL;
        while ((len = getline(&line, &lcap, stdin)) > 0) {
            lineno++;
            line[strcspn(line, "\n")] = 0;
            char *tab = strchr(line, '\t');
            if (!tab)
                ctk_die("stdin:%lld: no tab", (long long)lineno);
            *tab = 0;
            int64_t w = 0;
            row = xreallocarray(row, (size_t)lcap, sizeof *row);
            for (char *p = tab + 1, *end;; p = end) {
                double v = strtod(p, &end);
                if (end == p)
                    break;
                row[w++] = (float)v;
            }
            if (width < 0) {
                width = w;
                begin(&s, &m, model, dim >= 0 ? dim : w, w, with_id, -1);
                ctk_chunk_reset(&ck, &m);
            }
            if (w != width)
                ctk_die("stdin:%lld: %lld values, the first row had %lld", (long long)lineno,
                        (long long)w, (long long)width);
            if (n == chunk) {
                ck.rows = n;
                if (ctk_chunk_write(&s, &ck, &e))
                    ctk_die_err(&e);
                ctk_chunk_reset(&ck, &m);
                n = 0;
            }
            float *x = ctk_col_dense_reserve(&ck, &m, ie, n + 1);
            memcpy(x + n * width, row, (size_t)width * sizeof *x);
            if (with_id)
                ((int64_t *)ctk_col_dense_reserve(&ck, &m, 0, n + 1))[n] = lineno;
            ctk_col_append(&ck, &m, il, line, (int64_t)strlen(line));
            n++;
        }
        if (width < 0)
            ctk_die("stdin: no rows");
        ck.rows = n;
        if (ctk_chunk_write(&s, &ck, &e))
            ctk_die_err(&e);
        free(line);
        free(row);
    } else {
        ctk_usage("tsv, random or cols");
    }
    if (ctk_stream_close(&s, &e))
        ctk_die_err(&e);
    ctk_chunk_free(&ck);
    ctk_meta_free(&m);
    return 0;
}
