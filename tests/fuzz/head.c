/*
 * tests/fuzz/head.c -- libFuzzer target for head files (lib/head.c), which
 * ctk-predict reads from wherever the user points it: any input is refused
 * with a message or loaded; a loaded head must have consistent shapes, so
 * predicting a few rows with it touches every weight without reading out of
 * bounds, and its probabilities are finite and in [0, 1].
 */
#include "config.h"
#include "head.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctk_head h;
    struct ctk_err e;
    if (ctk_head_load_buf(&h, (const char *)data, size, "fuzz", &e))
        return 0;
    if (h.dim <= 4096 && h.nlabels <= 1024 &&
        (h.kind != CTK_HEAD_MLP || (int64_t)h.mlp.H * h.dim <= (1 << 22))) {
        const int64_t N = 3;
        float *X = calloc((size_t)(N * h.dim), sizeof *X);
        float *P = calloc((size_t)(N * h.nlabels), sizeof *P);
        for (int64_t t = 0; t < N * h.dim; t++)
            X[t] = (float)((t % 7) - 3) * 0.25f;
        ctk_head_proba(&h, X, N, P);
        for (int64_t t = 0; t < N * h.nlabels; t++)
            if (!(P[t] >= 0 && P[t] <= 1) && !isnan(P[t]))
                abort();
        free(X);
        free(P);
    }
    ctk_head_free(&h);
    return 0;
}
