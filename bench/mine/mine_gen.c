/*
 * mine_gen -- benchmark inputs for ctk-mine-negatives: random unit vectors
 * as embedding streams, without an encoder.
 *
 *   mine_gen corpus N D SEED > corpus.ctk   columns id, text ("doc<i>"), emb
 *   mine_gen pairs N D SEED > pairs.ctk     columns id, anchor ("q<i>"),
 *                                           positive ("p<i>"), anchor.emb,
 *                                           positive.emb
 * Gaussian vectors normalised to unit length (rng.h's generator), model
 * "bench", written in chunks of CTK_CHUNK_ROWS rows. bench/mine/run.sh
 * exports the vectors to .npy with ctk-cat so that numpy searches the very
 * same numbers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"
#include "stream.h"

static void unit(struct ctk_rng *r, float *v, int64_t d)
{
    double ss = 0;
    for (int64_t t = 0; t < d; t++) {
        v[t] = (float)ctk_rng_normal(r);
        ss += (double)v[t] * v[t];
    }
    for (int64_t t = 0; t < d; t++)
        v[t] = (float)(v[t] / sqrt(ss));
}

int main(int argc, char **argv)
{
    ctk_init("mine_gen", argc, argv);
    if (argc != 5 || (strcmp(argv[1], "corpus") && strcmp(argv[1], "pairs")))
        ctk_usage("usage: mine_gen corpus|pairs N D SEED");
    const int pairs = strcmp(argv[1], "pairs") == 0;
    const int64_t n = atoll(argv[2]), d = atoll(argv[3]);
    struct ctk_rng r;
    ctk_rng_seed(&r, strtoull(argv[4], NULL, 10));
    ctk_check_binary_stdout();
    struct ctk_stream_meta m;
    ctk_meta_init(&m);
    ctk_meta_add_col(&m, "id", CTK_COL_DENSE, CTK_I64, 0);
    if (pairs) {
        ctk_meta_add_col(&m, "anchor", CTK_COL_STRING, CTK_U8, 0);
        ctk_meta_add_col(&m, "positive", CTK_COL_STRING, CTK_U8, 0);
        ctk_meta_add_col(&m, "anchor.emb", CTK_COL_DENSE, CTK_F32, d);
        ctk_meta_add_col(&m, "positive.emb", CTK_COL_DENSE, CTK_F32, d);
    } else {
        ctk_meta_add_col(&m, "text", CTK_COL_STRING, CTK_U8, 0);
        ctk_meta_add_col(&m, "emb", CTK_COL_DENSE, CTK_F32, d);
    }
    ctk_meta_set_model(&m, "bench");
    m.dim = d;
    m.normalized = 1;
    ctk_meta_add_history(&m, ctk_cmdline());
    struct ctk_stream out;
    struct ctk_err e;
    if (ctk_stream_open_write(&out, stdout, "stdout", &m, &e))
        ctk_die_err(&e);
    struct ctk_chunk ck = {0};
    char buf[64];
    for (int64_t r0 = 0; r0 < n; r0 += CTK_CHUNK_ROWS) {
        int64_t rows = n - r0 < CTK_CHUNK_ROWS ? n - r0 : CTK_CHUNK_ROWS;
        ctk_chunk_reset(&ck, &out.meta);
        int64_t *id = ctk_col_dense_reserve(&ck, &out.meta, 0, rows);
        int e1 = pairs ? 3 : 2;
        float *v1 = ctk_col_dense_reserve(&ck, &out.meta, e1, rows);
        float *v2 = pairs ? ctk_col_dense_reserve(&ck, &out.meta, 4, rows) : NULL;
        for (int64_t i = 0; i < rows; i++) {
            id[i] = r0 + i + 1;
            int len = snprintf(buf, sizeof buf, "%s%lld", pairs ? "q" : "doc", (long long)(r0 + i));
            ctk_col_append(&ck, &out.meta, 1, buf, len);
            unit(&r, v1 + i * d, d);
            if (pairs) {
                len = snprintf(buf, sizeof buf, "p%lld", (long long)(r0 + i));
                ctk_col_append(&ck, &out.meta, 2, buf, len);
                unit(&r, v2 + i * d, d);
            }
        }
        ck.rows = rows;
        if (ctk_chunk_write(&out, &ck, &e))
            ctk_die_err(&e);
    }
    if (ctk_stream_close(&out, &e))
        ctk_die_err(&e);
    ctk_chunk_free(&ck);
    ctk_meta_free(&m);
    return 0;
}
