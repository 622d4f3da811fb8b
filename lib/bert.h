/*
 * bert.h -- the BERT family as a ctk encoder (encoder.h): model folders whose
 * config.json says "model_type": "bert" (all-MiniLM-L6-v2, BGE, E5,
 * paraphrase-MiniLM, ...), forward exactly as Hugging Face's BertModel
 * computes it, then sentence-transformers' Pooling and Normalize, and the
 * backward pass of all of it for training.
 *
 * Batches are packed (struct ctk_tokens: sequences end to end, no padding):
 * every linear layer is one sgemm over all tokens of the batch; attention
 * runs per sequence and head, spread over the encoder's threads.
 *
 * Parameters (encoder.h's params) carry Hugging Face's names without the
 * "bert." prefix, in one allocation laid out by layer like llm.c's
 * ParameterTensors: query, key and value of a layer are adjacent, so that Q,
 * K and V are one (3C, C) matrix and one sgemm. The pooler (unused by
 * sentence-transformers) is kept aside and written back unchanged on save.
 *
 * Threads: the encoder runs its matrix products and attention on its own
 * threads (the count given to ctk_bert_open) and sets OpenBLAS to one thread
 * per call, process-wide, so that the two never compete for the cores; other
 * sgemm calls in the process run single-threaded afterwards.
 *
 * Ownership: ctk_bert_open() returns an encoder freed by ctk_encoder_free(),
 * which frees its parameters, gradients and buffers.
 */
#ifndef CTK_BERT_H
#define CTK_BERT_H

#include <stdint.h>

#include "encoder.h"
#include "err.h"

/* Open the folder dir (already known to say model_type "bert"). */
struct ctk_encoder *ctk_bert_open(const char *dir, int threads, struct ctk_err *e);

/*
 * Choose the pooling, overriding the folder's 1_Pooling (tests): mode "mean",
 * "cls", "max" or "mean_sqrt_len_tokens". Whether to normalise is
 * enc->normalize, read at every forward.
 */
int ctk_bert_set_pooling(struct ctk_encoder *enc, const char *mode, struct ctk_err *e);

/*
 * Dropout rates in training, overriding config.json's hidden_dropout_prob
 * and attention_probs_dropout_prob (0, 0: deterministic training steps, as
 * gradient checks need).
 */
int ctk_bert_set_dropout(struct ctk_encoder *enc, double hidden, double attention,
                         struct ctk_err *e);

/*
 * The last hidden state of the last forward call: (N, C) token embeddings,
 * packed as the batch was; valid until the next forward or free.
 */
const float *ctk_bert_last_hidden(const struct ctk_encoder *enc, int64_t *N, int64_t *C);

/*
 * Gradients for training (ctk_encoder_alloc_grads calls it): one zeroed slab
 * in the parameters' layout, params[i].g pointing into it.
 */
void ctk_bert_alloc_grads(struct ctk_encoder *enc);

/* Tokens a sequence may have: config.json's max_position_embeddings. */
int64_t ctk_bert_positions(const struct ctk_encoder *enc);

/* An encoder of kind "bert"? */
int ctk_is_bert(const struct ctk_encoder *enc);

#endif
