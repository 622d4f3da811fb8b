/*
 * mpnet.h -- MPNet as a ctk encoder (encoder.h): model folders whose
 * config.json says "model_type": "mpnet" (all-mpnet-base-v2,
 * paraphrase-mpnet-base-v2, SetFit's default body), forward exactly as
 * Hugging Face's MPNetModel computes it, then sentence-transformers'
 * Pooling and Normalize (layers.h), and the backward pass of all of it.
 *
 * What MPNet adds to BERT (modeling_mpnet.py):
 *   - positions as RoBERTa counts them: token n of a sequence has position
 *     padding_idx + (number of non-<pad> tokens up to and including n), and
 *     a <pad> token has position padding_idx (padding_idx = 1, fixed by
 *     MPNetEmbeddings); no token types;
 *   - one relative position bias table (encoder.relative_attention_bias,
 *     (buckets, H)), shared by all layers and added to every layer's
 *     attention scores: score[h,i,j] += table[bucket(j - i), h], bucket as
 *     T5's bidirectional relative_position_bucket (32 buckets, max distance
 *     128);
 *   - names: encoder.layer.N.attention.attn.{q,k,v,o}, attention.LayerNorm.
 *
 * Everything else is the shared transformer of transformer.h (which also
 * has what the encoder offers beyond encoder.h).
 *
 * Ownership: ctk_mpnet_open() returns an encoder freed by ctk_encoder_free().
 */
#ifndef CTK_MPNET_H
#define CTK_MPNET_H

#include <stdint.h>

#include "encoder.h"
#include "err.h"

/* Open the folder dir (already known to say model_type "mpnet"). */
struct ctk_encoder *ctk_mpnet_open(const char *dir, int threads, struct ctk_err *e);

/* T5/MPNet relative_position_bucket(rel = key position - query position), 32 buckets, 128. */
int ctk_mpnet_bucket(int64_t rel);

#endif
