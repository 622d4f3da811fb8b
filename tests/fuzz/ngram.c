/*
 * tests/fuzz/ngram.c -- libFuzzer target for the built-in encoder's
 * featuriser and forward pass: arbitrary bytes (invalid UTF-8, controls,
 * any script) through ctk_ngram_features under several configurations,
 * then the encoder.
 *
 * Checks, besides ASan/UBSan's: every id is in [0, buckets); the count does
 * not depend on the room given (a short buffer gets a prefix of the same
 * ids); featurising is deterministic; the embedding is finite and of unit
 * length (or zero for a text without features).
 *
 * Run: make fuzz FUZZ_TARGETS=ngram FUZZ_SECONDS=600
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "err.h"
#include "ngram.h"

static struct ctk_encoder *enc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctk_ngram_cfg c;
    struct ctk_err e;
    if (size > 4096) return 0;
    ctk_ngram_cfg_default(&c);
    c.buckets = 4099;
    c.dim = 8;
    if (!enc) enc = ctk_ngram_new(&c, &e);
    int64_t cap = (int64_t)size * 40 + 16;
    int32_t *ids = malloc((size_t)cap * sizeof *ids), *ids2 = malloc((size_t)cap * sizeof *ids);
    int64_t n = ctk_ngram_features(&c, (const char *)data, size, ids, cap);
    if (n < 0 || n > cap) abort();
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c.buckets) abort();
    int64_t short_cap = n / 2;
    if (ctk_ngram_features(&c, (const char *)data, size, ids2, short_cap) != n) abort();
    if (memcmp(ids, ids2, (size_t)short_cap * sizeof *ids) != 0) abort();
    float emb[8];
    int64_t off[2] = {0, n};
    struct ctk_tokens t = {.S = 1, .ids = ids, .offsets = off};
    if (enc->ops->forward(enc, &t, emb, 0, 0, &e) < 0) abort();
    double nn = 0;
    for (int j = 0; j < 8; j++) {
        if (!isfinite(emb[j])) abort();
        nn += (double)emb[j] * emb[j];
    }
    if (n > 0 ? fabs(nn - 1) > 1e-4 : nn != 0) abort();
    /* other configurations: words only, characters only, a tiny table */
    c.word_min = c.word_max = 0;
    c.char_min = 1;
    c.char_max = 16;
    c.buckets = 1;
    n = ctk_ngram_features(&c, (const char *)data, size, ids, cap);
    for (int64_t i = 0; i < n && i < cap; i++)
        if (ids[i] != 0) abort();
    ctk_ngram_cfg_default(&c);
    c.char_min = c.char_max = 0;
    c.word_max = 8;
    n = ctk_ngram_features(&c, (const char *)data, size, ids, cap);
    for (int64_t i = 0; i < n && i < cap; i++)
        if (ids[i] < 0 || ids[i] >= c.buckets) abort();
    free(ids);
    free(ids2);
    return 0;
}
