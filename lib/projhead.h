/*
 * projhead.h -- the projection head of --projection-head: a square dense
 * layer and tanh between the pooled embedding and the contrastive loss,
 * used while training only (SimCLR's decoupling of the representation from
 * the space the loss shapes; unsupervised SimCSE trains through the same
 * dense+tanh MLP and drops it afterwards).
 *
 *     out = tanh(in Wᵀ + b)      in, out (S, D); W (D, D); b (D)
 *
 * W and b start as PyTorch's nn.Linear does, U(-1/sqrt(D), 1/sqrt(D)),
 * drawn from rng stream "proj" of the seed.
 *
 * Ownership: ctk_projhead_init() fills caller storage freed by
 * ctk_projhead_free(); the head keeps its last input and output for backward.
 */
#ifndef CTK_PROJHEAD_H
#define CTK_PROJHEAD_H

#include <stdint.h>

#include "encoder.h"

struct ctk_projhead {
    int64_t D;
    float *w, *b;       /* (D, D), (D) */
    float *gw, *gb;     /* their gradients, accumulated by backward */
    struct ctk_param pw, pb; /* "projection.weight" (decayed), "projection.bias" */
    float *in, *out;    /* (S, D) saved by forward */
    float *dz;          /* (S, D) scratch of backward */
    size_t cap;         /* floats allocated in in, out, dz */
};

void ctk_projhead_init(struct ctk_projhead *h, int64_t D, uint64_t seed);
void ctk_projhead_free(struct ctk_projhead *h);
/* out (S, D) = tanh(in Wᵀ + b); keeps in and out for backward. */
void ctk_projhead_forward(struct ctk_projhead *h, float *out, const float *in, int64_t S);
/* From dout (S, D): gw, gb += their gradients; din (S, D) written. */
void ctk_projhead_backward(struct ctk_projhead *h, float *din, const float *dout, int64_t S);

#endif
