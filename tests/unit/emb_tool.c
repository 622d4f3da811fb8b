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
 *       throughput measurement, without committing big files.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "stream.h"

static uint64_t rng_state;
static double urand(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void begin(struct ctk_stream *s, struct ctk_stream_meta *m, const char *model,
                  int64_t dim, int64_t width, int with_id, int normalized)
{
    struct ctk_err e;
    ctk_meta_init(m);
    if (with_id)
        ctk_meta_add_col(m, "id", CTK_COL_DENSE, CTK_I64, 0);
    ctk_meta_add_col(m, "label", CTK_COL_STRING, CTK_U8, 0);
    ctk_meta_add_col(m, "emb", CTK_COL_DENSE, CTK_F32, width);
    if (model)
        ctk_meta_set_model(m, model);
    m->dim = dim;
    m->normalized = normalized;
    ctk_meta_add_history(m, ctk_cmdline());
    if (ctk_stream_open_write(s, stdout, "stdout", m, &e))
        ctk_die_err(&e);
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
        ctk_usage("tsv or random");
    ctk_check_binary_stdout();
    struct ctk_stream s;
    struct ctk_stream_meta m;
    struct ctk_chunk ck = {0};
    struct ctk_err e;
    const int ie = with_id ? 2 : 1, il = with_id ? 1 : 0;

    if (strcmp(argv[optind], "random") == 0) {
        if (optind + 2 >= argc)
            ctk_usage("random N D");
        int64_t N = atoll(argv[optind + 1]), D = atoll(argv[optind + 2]);
        rng_state = 0x9E3779B97F4A7C15ULL ^ (seed * 0xBF58476D1CE4E5B9ULL);
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
                    double u1 = urand() + 1e-300, u2 = urand();
                    double g = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
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
        ctk_usage("tsv or random");
    }
    if (ctk_stream_close(&s, &e))
        ctk_die_err(&e);
    ctk_chunk_free(&ck);
    ctk_meta_free(&m);
    return 0;
}
