/*
 * bert.h -- the BERT family as a ctk encoder (encoder.h): model folders whose
 * config.json says "model_type": "bert" (all-MiniLM-L6-v2, BGE, E5,
 * paraphrase-MiniLM, ...), forward exactly as Hugging Face's BertModel
 * computes it, then sentence-transformers' Pooling and Normalize, and the
 * backward pass of all of it for training: the shared transformer of
 * transformer.h (which also has what the encoder offers beyond encoder.h),
 * with token type embeddings and positions counted from 0 in each sequence.
 *
 * Ownership: ctk_bert_open() returns an encoder freed by ctk_encoder_free().
 */
#ifndef CTK_BERT_H
#define CTK_BERT_H

#include "encoder.h"
#include "err.h"

/* Open the folder dir (already known to say model_type "bert"). */
struct ctk_encoder *ctk_bert_open(const char *dir, int threads, struct ctk_err *e);

#endif
