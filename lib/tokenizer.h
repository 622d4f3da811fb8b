/*
 * tokenizer.h -- a model folder's tokenizer, as Hugging Face's tokenizers
 * (Rust) loads and runs it: added tokens, BertNormalizer, BertPreTokenizer,
 * WordPiece, truncation and the post-processor's template.
 *
 * Loading (ctk_tokenizer_load): tokenizer.json when the folder has one, else
 * vocab.txt with tokenizer_config.json (do_lower_case, strip_accents,
 * tokenize_chinese_chars, the special token names) as transformers'
 * BertTokenizerFast builds it. A tokenizer.json field this code does not
 * implement is refused by name, never ignored. Its "truncation" and
 * "padding" are not used: ctk takes the maximum length from the model
 * (sentence_bert_config.json max_seq_length, else tokenizer_config.json
 * model_max_length) or the user, and never pads.
 *
 * Encoding a text (ctk_tokenizer_encode):
 *   1. added tokens that are not "normalized" are found in the raw text
 *      (leftmost-longest, with their single_word/lstrip/rstrip flags);
 *   2. each piece between them is normalized, then split on the "normalized"
 *      added tokens, and the rest pre-tokenized and run through WordPiece.
 * ctk_tokenizer_post then truncates (LongestFirst, as truncate_encodings in
 * tokenizers/src/utils/truncation.rs, keeping room for the special tokens)
 * and applies the template: [CLS] A [SEP] (B [SEP]) for BERT, <s> A </s>
 * (</s> B </s>) for MPNet.
 *
 * Ownership: the tokenizer owns everything it loaded (ctk_tokenizer_free);
 * it is read-only after loading, so threads share it, each with its own
 * struct ctk_tok_scratch.
 */
#ifndef CTK_TOKENIZER_H
#define CTK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "wordpiece.h"

struct ctk_added_token {
    char *content;
    size_t len;
    int32_t id;
    int single_word, lstrip, rstrip, normalized, special;
};

/* One item of a post-processor template: a special token or a sequence. */
struct ctk_tpl_item {
    int seq;        /* -1: special token; 0: sequence A; 1: sequence B */
    int32_t ids[8]; /* the special token's ids */
    int nids;
    int type_id;
};

struct ctk_template {
    int n;
    struct ctk_tpl_item items[16];
};

struct ctk_tokenizer {
    struct ctk_bert_norm norm;
    int has_normalizer;
    struct ctk_wordpiece wp;
    struct ctk_added_token *added; /* every added token, raw ones and normalized ones */
    int nadded;
    int has_raw_added, has_norm_added;
    int has_post;                  /* 0: no post-processor (no special tokens added) */
    int zero_type_ids;             /* RobertaProcessing: every type id is 0 */
    struct ctk_template single, pair;
    int64_t max_length;            /* the model's maximum, 0 when none is known */
    char *source;                  /* file the tokenizer came from (messages) */
    unsigned char first_raw[32];   /* bitmap: first bytes of raw added tokens */
};

/* Per-thread buffers for encoding. */
struct ctk_tok_scratch {
    struct ctk_wp_scratch wp;
    struct ctk_text norm;
    struct ctk_ids b;     /* second text of a pair */
};
void ctk_tok_scratch_free(struct ctk_tok_scratch *s);

/*
 * Load the tokenizer of model folder dir. Returns 0, or -1 with e naming the
 * file and the field it cannot use.
 */
int ctk_tokenizer_load(struct ctk_tokenizer *t, const char *dir, struct ctk_err *e);
/* The same from one tokenizer.json file (max_length 0). */
int ctk_tokenizer_load_json(struct ctk_tokenizer *t, const char *path, struct ctk_err *e);
void ctk_tokenizer_free(struct ctk_tokenizer *t);

/*
 * Append the ids of text s (n bytes of valid UTF-8: sanitize first) to ids,
 * without special tokens and without truncation.
 */
void ctk_tokenizer_encode(const struct ctk_tokenizer *t, struct ctk_tok_scratch *sc,
                          const unsigned char *s, size_t n, struct ctk_ids *ids);

/* Number of special tokens the template adds (pair: 1 for a pair). */
int ctk_tokenizer_added(const struct ctk_tokenizer *t, int pair);

/*
 * Truncate a (and b, when not NULL: a pair) to max_length tokens in all
 * (0: no limit), counting the special tokens when add_special, then write
 * the final ids to ids and, when type_ids is not NULL, the type ids. Both
 * outputs are reset first. Returns -1 (e set) when max_length cannot hold
 * the special tokens.
 */
int ctk_tokenizer_post(const struct ctk_tokenizer *t, const int32_t *a, size_t na,
                       const int32_t *b, size_t nb, int add_special, int64_t max_length,
                       struct ctk_ids *ids, struct ctk_ids *type_ids, struct ctk_err *e);

/*
 * The identity of model folder dir for stream metadata (model.h's
 * "NAME@hash" when it has weights, else the folder's base name); free() it.
 */
char *ctk_tokenizer_identity(const char *dir);

/* Token text of id (vocabulary or added token), or NULL. */
const char *ctk_tokenizer_token(const struct ctk_tokenizer *t, int32_t id);

#endif
