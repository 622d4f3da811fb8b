/*
 * projhead.c -- the training-only projection head (see projhead.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "err.h"
#include "projhead.h"
#include "rng.h"

void ctk_projhead_init(struct ctk_projhead *h, int64_t D, uint64_t seed)
{
    memset(h, 0, sizeof *h);
    h->D = D;
    h->w = xmallocarray((size_t)(D * D), sizeof(float));
    h->b = xmallocarray((size_t)D, sizeof(float));
    h->gw = xcalloc((size_t)(D * D), sizeof(float));
    h->gb = xcalloc((size_t)D, sizeof(float));
    struct ctk_rng rng;
    ctk_rng_seed_stream(&rng, seed, 0x70726f6aULL); /* "proj" */
    float bound = (float)(1.0 / sqrt((double)D));
    for (int64_t i = 0; i < D * D; i++)
        h->w[i] = (2.0f * ctk_rng_float(&rng) - 1.0f) * bound;
    for (int64_t i = 0; i < D; i++)
        h->b[i] = (2.0f * ctk_rng_float(&rng) - 1.0f) * bound;
    h->pw = (struct ctk_param){.name = "projection.weight", .w = h->w, .g = h->gw,
                               .n = (size_t)(D * D), .ndim = 2, .shape = {D, D}, .decay = 1};
    h->pb = (struct ctk_param){.name = "projection.bias", .w = h->b, .g = h->gb, .n = (size_t)D,
                               .ndim = 1, .shape = {D}, .decay = 0};
}

void ctk_projhead_free(struct ctk_projhead *h)
{
    free(h->w);
    free(h->b);
    free(h->gw);
    free(h->gb);
    free(h->in);
    free(h->out);
    free(h->dz);
    memset(h, 0, sizeof *h);
}

static void reserve(struct ctk_projhead *h, size_t n)
{
    if (n <= h->cap)
        return;
    h->in = xreallocarray(h->in, n, sizeof(float));
    h->out = xreallocarray(h->out, n, sizeof(float));
    h->dz = xreallocarray(h->dz, n, sizeof(float));
    h->cap = n;
}

void ctk_projhead_forward(struct ctk_projhead *h, float *out, const float *in, int64_t S)
{
    int64_t D = h->D;
    reserve(h, (size_t)(S * D));
    memcpy(h->in, in, (size_t)(S * D) * sizeof(float));
    for (int64_t s = 0; s < S; s++)
        memcpy(h->out + s * D, h->b, (size_t)D * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)S, (int)D, (int)D, 1.0f, in, (int)D,
                h->w, (int)D, 1.0f, h->out, (int)D);
    for (int64_t i = 0; i < S * D; i++)
        h->out[i] = tanhf(h->out[i]);
    memcpy(out, h->out, (size_t)(S * D) * sizeof(float));
}

/*
 * Forward was out = tanh(z), z = in Wᵀ + b. So dz = dout (1 - out^2),
 * dW += dzᵀ in, db += sum over rows of dz, din = dz W.
 */
void ctk_projhead_backward(struct ctk_projhead *h, float *din, const float *dout, int64_t S)
{
    int64_t D = h->D;
    float *dz = h->dz;
    for (int64_t i = 0; i < S * D; i++)
        dz[i] = dout[i] * (1.0f - h->out[i] * h->out[i]);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)D, (int)D, (int)S, 1.0f, dz, (int)D,
                h->in, (int)D, 1.0f, h->gw, (int)D);
    for (int64_t s = 0; s < S; s++)
        for (int64_t j = 0; j < D; j++)
            h->gb[j] += dz[s * D + j];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)S, (int)D, (int)D, 1.0f, dz,
                (int)D, h->w, (int)D, 0.0f, din, (int)D);
}
