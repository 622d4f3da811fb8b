/*
 * diag_gen.c -- embedding streams with planted pathologies, for the tests
 * of ctk-diag (tests/bats/diag.bats) and for timing it on large inputs.
 *
 *   diag-gen SCENARIO [ROWS [DIM [SEED]]] > stream
 *
 * Scenarios (e_k is the k-th unit vector, noise N(0, s^2) per dimension):
 *   healthy    two classes 'a','b' around e0 and e1, s = 0.15: separated
 *   collapse   every row e0 + noise s = 0.01, no labels
 *   cone       e0 + noise s = 0.15, no labels: mean cosine about 0.58
 *   overlap    'a','b' from N(0, I) shifted by -0.3 e0 and +0.3 e0
 *   dominant   'big' 90% around e0, 'small' 10% around e1, s = 0.15
 *   nan        healthy, with a NaN in every 50th row
 *   pairs      text1.emb, text2.emb, score: 1 positive to 10 negatives
 *   pairs-ok   the same, 1 to 1
 *   pairs-fn   1 to 1, a third of the negatives near-copies (false negatives)
 *   sts-good   text1.emb, text2.emb, score in [0,5]; text2 is text1 plus noise
 *              shrinking as the score grows (high Spearman)
 *   sts-bad    the same with noise unrelated to the score (low Spearman)
 *   random     N(0, I), no labels (for timing: ROWS x DIM)
 *
 *   diag-gen fixture FILE > stream
 *
 * writes the rows x and labels y ("c0", "c1", ...) of a reference fixture
 * (tests/golden/diag/random.txt, "KEY COUNT values" lines) as a stream, so
 * that ctk-diag's report can be checked against numpy end to end.
 */
#include "config.h"
#include "err.h"
#include "rng.h"
#include "stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gen {
    const char *name;
    int64_t rows;
    int d;
    struct ctk_rng rng;
    struct ctk_stream out;
    struct ctk_stream_meta meta;
    struct ctk_chunk ck;
};

/* Row x (D) = scale * e_axis + noise s (axis < 0: no centre). */
static void row(struct gen *g, float *x, int axis, float scale, float s)
{
    for (int k = 0; k < g->d; k++) x[k] = ctk_rng_normal_f32(&g->rng, 0, s);
    if (axis >= 0) x[axis % g->d] += scale;
}

static void emb_stream(struct gen *g, int labelled)
{
    struct ctk_err e;
    int ei = ctk_meta_add_col(&g->meta, "emb", CTK_COL_DENSE, CTK_F32, g->d);
    int li = labelled ? ctk_meta_add_col(&g->meta, "label", CTK_COL_STRING, CTK_U8, 0) : -1;
    g->meta.dim = g->d;
    if (ctk_stream_open_write(&g->out, stdout, "stdout", &g->meta, &e)) ctk_die_err(&e);
    for (int64_t r0 = 0; r0 < g->rows; r0 += CTK_CHUNK_ROWS) {
        int64_t n = g->rows - r0 < CTK_CHUNK_ROWS ? g->rows - r0 : CTK_CHUNK_ROWS;
        ctk_chunk_reset(&g->ck, &g->meta);
        float *x = ctk_col_dense_reserve(&g->ck, &g->meta, ei, n);
        for (int64_t i = 0; i < n; i++) {
            int64_t r = r0 + i;
            float *xr = x + (size_t)i * g->d;
            const char *lab = NULL;
            if (!strcmp(g->name, "healthy") || !strcmp(g->name, "nan")) {
                lab = r % 2 ? "b" : "a";
                row(g, xr, r % 2, 1, 0.15f);
                if (!strcmp(g->name, "nan") && r % 50 == 7) xr[3] = NAN;
            } else if (!strcmp(g->name, "collapse")) {
                row(g, xr, 0, 1, 0.01f);
            } else if (!strcmp(g->name, "cone")) {
                row(g, xr, 0, 1, 0.15f);
            } else if (!strcmp(g->name, "overlap")) {
                lab = r % 2 ? "b" : "a";
                row(g, xr, 0, r % 2 ? 0.3f : -0.3f, 1);
            } else if (!strcmp(g->name, "dominant")) {
                int big = r % 10 != 0;
                lab = big ? "big" : "small";
                row(g, xr, big ? 0 : 1, 1, 0.15f);
            } else {
                row(g, xr, -1, 0, 1);
            }
            if (lab) ctk_col_append(&g->ck, &g->meta, li, lab, (int64_t)strlen(lab));
        }
        g->ck.rows = n;
        if (ctk_chunk_write(&g->out, &g->ck, &e)) ctk_die_err(&e);
    }
}

static void pair_stream(struct gen *g)
{
    struct ctk_err e;
    int ai = ctk_meta_add_col(&g->meta, "text1.emb", CTK_COL_DENSE, CTK_F32, g->d);
    int bi = ctk_meta_add_col(&g->meta, "text2.emb", CTK_COL_DENSE, CTK_F32, g->d);
    int si = ctk_meta_add_col(&g->meta, "score", CTK_COL_DENSE, CTK_F32, 0);
    g->meta.dim = g->d;
    if (ctk_stream_open_write(&g->out, stdout, "stdout", &g->meta, &e)) ctk_die_err(&e);
    int sts = !strncmp(g->name, "sts", 3), per = !strcmp(g->name, "pairs") ? 11 : 2;
    for (int64_t r0 = 0; r0 < g->rows; r0 += CTK_CHUNK_ROWS) {
        int64_t n = g->rows - r0 < CTK_CHUNK_ROWS ? g->rows - r0 : CTK_CHUNK_ROWS;
        ctk_chunk_reset(&g->ck, &g->meta);
        float *a = ctk_col_dense_reserve(&g->ck, &g->meta, ai, n);
        float *b = ctk_col_dense_reserve(&g->ck, &g->meta, bi, n);
        float *sc = ctk_col_dense_reserve(&g->ck, &g->meta, si, n);
        for (int64_t i = 0; i < n; i++) {
            float *x = a + (size_t)i * g->d, *y = b + (size_t)i * g->d;
            row(g, x, -1, 0, 1);
            if (sts) {
                float gold = (float)ctk_rng_below(&g->rng, 11) / 2; /* 0, 0.5, ... 5: ties */
                float s = !strcmp(g->name, "sts-good") ? 0.1f + (5 - gold) * 0.3f
                                                       : 0.1f + (float)ctk_rng_double(&g->rng) * 1.5f;
                for (int k = 0; k < g->d; k++) y[k] = x[k] + ctk_rng_normal_f32(&g->rng, 0, s);
                sc[i] = gold;
            } else if ((r0 + i) % per == 0) {
                for (int k = 0; k < g->d; k++) y[k] = x[k] + ctk_rng_normal_f32(&g->rng, 0, 0.3f);
                sc[i] = 1;
            } else {
                if (!strcmp(g->name, "pairs-fn") && (r0 + i) % 6 == 1)
                    for (int k = 0; k < g->d; k++) y[k] = x[k] + ctk_rng_normal_f32(&g->rng, 0, 0.3f);
                else
                    row(g, y, -1, 0, 1);
                sc[i] = 0;
            }
        }
        g->ck.rows = n;
        if (ctk_chunk_write(&g->out, &g->ck, &e)) ctk_die_err(&e);
    }
}

/* The values of record key in a fixture file (count in *n); NULL if absent. */
static double *fixture_record(const char *path, const char *key, int64_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) ctk_die("cannot open %s", path);
    char *line = NULL, k[32];
    size_t cap = 0;
    double *v = NULL;
    while (!v && getline(&line, &cap, f) > 0) {
        int len = 0;
        long long cnt;
        if (line[0] == '#' || sscanf(line, "%31s %lld%n", k, &cnt, &len) != 2 || strcmp(k, key)) continue;
        char *p = line + len, *q;
        v = xmallocarray((size_t)cnt, sizeof(double));
        for (long long i = 0; i < cnt; i++, p = q) v[i] = strtod(p, &q);
        *n = cnt;
    }
    free(line);
    fclose(f);
    if (!v) ctk_die("%s has no record '%s'", path, key);
    return v;
}

static void fixture_stream(struct gen *g, const char *path)
{
    struct ctk_err e;
    int64_t nshape, nx, ny;
    double *shape = fixture_record(path, "shape", &nshape), *x = fixture_record(path, "x", &nx),
           *y = fixture_record(path, "y", &ny);
    g->rows = (int64_t)shape[0];
    g->d = (int)shape[1];
    if (nx != g->rows * g->d || ny != g->rows) ctk_die("%s: x or y of the wrong size", path);
    int ei = ctk_meta_add_col(&g->meta, "emb", CTK_COL_DENSE, CTK_F32, g->d);
    int li = ctk_meta_add_col(&g->meta, "label", CTK_COL_STRING, CTK_U8, 0);
    g->meta.dim = g->d;
    if (ctk_stream_open_write(&g->out, stdout, "stdout", &g->meta, &e)) ctk_die_err(&e);
    ctk_chunk_reset(&g->ck, &g->meta);
    float *xe = ctk_col_dense_reserve(&g->ck, &g->meta, ei, g->rows);
    for (int64_t i = 0; i < nx; i++) xe[i] = (float)x[i];
    for (int64_t i = 0; i < g->rows; i++) {
        char lab[32];
        snprintf(lab, sizeof lab, "c%d", (int)y[i]);
        ctk_col_append(&g->ck, &g->meta, li, lab, (int64_t)strlen(lab));
    }
    g->ck.rows = g->rows;
    if (ctk_chunk_write(&g->out, &g->ck, &e)) ctk_die_err(&e);
    free(shape);
    free(x);
    free(y);
}

int main(int argc, char **argv)
{
    static const char *const known[] = {"healthy", "collapse", "cone", "overlap", "dominant", "nan",
                                        "pairs", "pairs-ok", "pairs-fn", "sts-good", "sts-bad", "random"};
    struct gen g = {0};
    struct ctk_err e;
    ctk_init("diag-gen", argc, argv);
    if (argc < 2 || argc > 5) ctk_usage("usage: diag-gen SCENARIO [ROWS [DIM [SEED]]]");
    g.name = argv[1];
    if (!strcmp(g.name, "fixture")) {
        if (argc != 3) ctk_usage("usage: diag-gen fixture FILE");
        ctk_check_binary_stdout();
        ctk_meta_init(&g.meta);
        ctk_meta_add_history(&g.meta, ctk_cmdline());
        fixture_stream(&g, argv[2]);
        if (ctk_stream_close(&g.out, &e)) ctk_die_err(&e);
        ctk_chunk_free(&g.ck);
        ctk_meta_free(&g.meta);
        return 0;
    }
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) ok |= !strcmp(g.name, known[i]);
    if (!ok) ctk_usage("unknown scenario '%s'", g.name);
    g.rows = argc > 2 ? atoll(argv[2]) : 400;
    g.d = argc > 3 ? atoi(argv[3]) : 16;
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 7;
    if (g.rows < 1 || g.d < 2) ctk_usage("ROWS >= 1 and DIM >= 2");
    ctk_check_binary_stdout();
    ctk_rng_seed(&g.rng, seed);
    ctk_meta_init(&g.meta);
    ctk_meta_add_history(&g.meta, ctk_cmdline());
    if (!strncmp(g.name, "pairs", 5) || !strncmp(g.name, "sts", 3)) pair_stream(&g);
    else emb_stream(&g, strcmp(g.name, "collapse") && strcmp(g.name, "cone") && strcmp(g.name, "random"));
    if (ctk_stream_close(&g.out, &e)) ctk_die_err(&e);
    ctk_chunk_free(&g.ck);
    ctk_meta_free(&g.meta);
    return 0;
}
