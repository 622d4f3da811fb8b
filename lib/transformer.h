/*
 * transformer.h -- the encoders of the BERT family and MPNet as ctk encoders
 * (encoder.h). The two are one post-LayerNorm transformer; what tells them
 * apart is small and lives in bert.c and mpnet.c as a struct
 * ctk_transformer_kind: the checks of config.json, the tensors' names, the
 * position ids, token type embeddings (BERT) and the relative position bias
 * (MPNet).
 *
 * The forward is Hugging Face's BertModel and MPNetModel (modeling_bert.py,
 * modeling_mpnet.py):
 *   x = dropout(LayerNorm(wte[id] + wpe[pos] (+ wtt[type], BERT)))
 *   bias[h, i, j] = relb[bucket(j - i), h]     (MPNet; one table for all layers)
 *   per layer:  qkv = x·Wqkvᵀ + b
 *               y = softmax(q·kᵀ/√hs (+ bias)) · v, per sequence and head
 *               h = LayerNorm(x + dropout(y·Woᵀ + bo))
 *               x = LayerNorm(h + dropout(gelu(h·Wiᵀ + bi)·W2ᵀ + b2))
 * then sentence-transformers' Pooling module and, when the folder has one,
 * Normalize. backward() is that list read bottom-up; the bias table's
 * gradient sums the attention scores' gradients over every layer, sequence
 * and (i, j) of its bucket.
 *
 * Batches are packed (struct ctk_tokens: sequences end to end, no padding):
 * every linear layer is one product over all tokens of the batch; attention
 * runs per sequence and head.
 *
 * Parameters (encoder.h's params) carry Hugging Face's names without the
 * model's prefix ("bert.", "mpnet."), in one allocation laid out by layer
 * like llm.c's ParameterTensors: query, key and value of a layer are
 * adjacent, so that Q, K and V are one (3C, C) matrix and one product. The
 * pooler (unused by sentence-transformers) is kept aside and written back
 * unchanged on save.
 *
 * Threads: the encoder runs its products, attention and row-wise passes on
 * its own pool (layers_par.h; the count given to ctk_transformer_open) and
 * sets OpenBLAS to one thread per call, process-wide, so that the two never
 * compete for the cores; other sgemm calls in the process run
 * single-threaded afterwards. CTK_BERT_BLAS_THREADS set in the environment:
 * OpenBLAS's own threads for the products instead. Every item of work is
 * computed the same way whatever thread runs it, and every sum across items
 * is added in a fixed order: results do not depend on the number of threads.
 *
 * Ownership: ctk_transformer_open() returns an encoder freed by
 * ctk_encoder_free(), which frees its parameters, gradients and buffers.
 */
#ifndef CTK_TRANSFORMER_H
#define CTK_TRANSFORMER_H

#include <stdint.h>

#include "encoder.h"
#include "err.h"
#include "model.h"

/* Sizes and rates, from config.json. */
struct ctk_transformer_config {
    int64_t V;  /* vocabulary */
    int64_t P;  /* rows of the position table */
    int64_t TT; /* token types (0: no type embeddings) */
    int64_t NB; /* rows of the relative position bias table (0: none) */
    int64_t C, H, I, L;
    float eps;
    float hidden_p, att_p; /* dropout rates */
};

/* What a model type adds to the shared transformer. */
struct ctk_transformer_kind {
    const char *model_type; /* config.json's, and the encoder's kind: "bert", "mpnet" */
    /*
     * The names of a layer's tensors after "encoder.layer.N.", each followed
     * by ".weight" and ".bias": query, key, value, the attention's output
     * dense layer and the LayerNorm after it (the FFN's are the same in
     * both: intermediate.dense, output.dense, output.LayerNorm).
     */
    const char *q, *k, *v, *o, *ln1;
    /*
     * What config.json says that only this kind reads: c comes filled with
     * the common sizes and rates (TT and NB 0); config sets TT or NB and
     * refuses what the kind does not allow, naming the file and key.
     */
    int (*config)(struct ctk_transformer_config *c, const struct ctk_model *m, struct ctk_err *e);
    /*
     * Position ids of a batch's tokens (pos, N of them), or NULL: a token's
     * index in its sequence. pos_offset: rows of the position table no
     * sequence reaches the end of (MPNet's padding_idx + 1).
     */
    void (*positions)(int32_t *pos, const int32_t *ids, const int64_t *offsets, int64_t S);
    int64_t pos_offset;
    /* The bias table's row of offset j - i (NB > 0). */
    int (*bucket)(int64_t rel);
};

/* Open the folder dir, whose config.json names kind's model_type. */
struct ctk_encoder *ctk_transformer_open(const struct ctk_transformer_kind *kind, const char *dir,
                                         int threads, struct ctk_err *e);

/* An encoder opened by ctk_transformer_open (BERT or MPNet)? */
int ctk_is_transformer(const struct ctk_encoder *enc);

/*
 * Choose the pooling, overriding the folder's 1_Pooling (tests): mode "mean",
 * "cls", "max" or "mean_sqrt_len_tokens". Whether to normalise is
 * enc->normalize, read at every forward.
 */
int ctk_transformer_set_pooling(struct ctk_encoder *enc, const char *mode, struct ctk_err *e);

/*
 * Dropout rates in training, overriding config.json's hidden_dropout_prob
 * and attention_probs_dropout_prob (0, 0: deterministic training steps, as
 * gradient checks need).
 */
int ctk_transformer_set_dropout(struct ctk_encoder *enc, double hidden, double attention,
                                struct ctk_err *e);

/*
 * The last hidden state of the last forward call: (N, C) token embeddings,
 * packed as the batch was; valid until the next forward or free.
 */
const float *ctk_transformer_last_hidden(const struct ctk_encoder *enc, int64_t *N, int64_t *C);

/*
 * Gradients for training (ctk_encoder_alloc_grads calls it): one zeroed slab
 * in the parameters' layout, params[i].g pointing into it.
 */
void ctk_transformer_alloc_grads(struct ctk_encoder *enc);

/* Tokens a sequence may have: config.json's max_position_embeddings less kind's pos_offset. */
int64_t ctk_transformer_positions(const struct ctk_encoder *enc);

#endif
