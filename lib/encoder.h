/*
 * encoder.h -- what ctk-encode and ctk-train-mnrl need of a sentence
 * encoder, whatever its kind: the BERT family (bert.h), MPNet, and the
 * built-in hashed n-gram encoder (ngram.h).
 *
 * An encoder maps a batch of token sequences (packed, no padding) to one
 * pooled embedding per sequence. For training it keeps what its forward pass
 * saved and accumulates parameter gradients in backward. Parameters are
 * listed as named flat tensors so that one optimizer serves every kind; a
 * tensor updated sparsely (embedding rows) lists the rows its last backward
 * touched, so that the optimizer visits only those.
 *
 * Ownership: ctk_encoder_open() returns an encoder freed by ctk_encoder_free();
 * params and their buffers belong to the encoder.
 */
#ifndef CTK_ENCODER_H
#define CTK_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* A batch of S token sequences packed end to end (N tokens in all). */
struct ctk_tokens {
    int64_t S;
    const int32_t *ids;      /* (N) token or feature ids */
    const int32_t *type_ids; /* (N) segment ids, or NULL (all 0) */
    const int64_t *offsets;  /* (S+1) sequence s is ids[offsets[s] .. offsets[s+1]) */
};

/* One parameter tensor, PyTorch shape, with its gradient (same layout). */
struct ctk_param {
    const char *name;   /* safetensors name, e.g. "encoder.layer.0.attention.self.query.weight" */
    float *w;           /* (n) */
    float *g;           /* (n) accumulated gradient; NULL while not training */
    size_t n;
    int ndim;
    int64_t shape[4];
    int decay;          /* AdamW applies weight decay (not biases, not LayerNorm) */
    /* sparse row updates (embedding tables): rows touched by the last backward */
    size_t row_len;     /* 0: dense tensor */
    int64_t *touched;
    size_t ntouched;
};

struct ctk_encoder;

struct ctk_encoder_ops {
    /*
     * Pooled (and, if the model says so, normalised) embeddings of t into
     * emb (S x dim). train: dropout on, with masks drawn from seed (the same
     * seed gives the same masks, which GradCache's second pass relies on),
     * and activations kept for backward.
     */
    int (*forward)(struct ctk_encoder *enc, const struct ctk_tokens *t, float *emb, int train,
                   uint64_t seed, struct ctk_err *e);
    /* Accumulate parameter gradients from demb (S x dim), for the last training forward. */
    void (*backward)(struct ctk_encoder *enc, const float *demb);
    /* Write the model folder (sentence-transformers layout) to dir. */
    int (*save)(struct ctk_encoder *enc, const char *dir, struct ctk_err *e);
    void (*free)(struct ctk_encoder *enc);
};

struct ctk_encoder {
    const struct ctk_encoder_ops *ops;
    const char *kind;       /* "bert", "mpnet", "ctk-ngram" */
    char *identity;         /* model name and weights hash, for stream metadata */
    int64_t dim;            /* embedding dimension */
    int normalize;          /* output is L2-normalised */
    int64_t max_seq_length; /* tokens per sequence the model takes */
    int nparams;
    struct ctk_param *params;
    void *impl;
};

/*
 * Open the model folder dir (NULL: the built-in n-gram encoder), choosing
 * the implementation from config.json's model_type. threads: compute threads.
 */
struct ctk_encoder *ctk_encoder_open(const char *dir, int threads, struct ctk_err *e);
/* Allocate (zeroed) gradient buffers for every parameter: training mode. */
void ctk_encoder_alloc_grads(struct ctk_encoder *enc);
void ctk_encoder_zero_grads(struct ctk_encoder *enc);
void ctk_encoder_free(struct ctk_encoder *enc);

#endif
