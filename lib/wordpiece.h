/*
 * wordpiece.h -- BERT's text pipeline as Hugging Face's tokenizers (Rust)
 * runs it: BertNormalizer, BertPreTokenizer and the WordPiece model.
 *
 *   normalize:     clean_text (drop NUL, U+FFFD and Cc/Cf/Co; White_Space
 *                  becomes ' '), space out CJK ideographs, then NFD and drop
 *                  Mn (strip_accents), then lower case char by char.
 *   pre-tokenize:  split on White_Space (removed) and around each
 *                  punctuation character (kept as a word of its own).
 *   WordPiece:     greedy longest match from the left, later pieces looked
 *                  up with the "##" prefix; a word longer than
 *                  max_input_chars_per_word characters, or with a piece that
 *                  matches nothing, becomes the single unknown token.
 *
 * References: tokenizers/src/normalizers/bert.rs, pre_tokenizers/bert.rs,
 * models/wordpiece/mod.rs (huggingface/tokenizers); Devlin et al. 2019.
 *
 * Ownership: a struct ctk_wordpiece owns its vocabulary (ctk_wordpiece_free);
 * a struct ctk_ids / ctk_text owns its array (ctk_ids_free / free(t->s)).
 * Scratch buffers (struct ctk_wp_scratch) belong to one thread at a time.
 */
#ifndef CTK_WORDPIECE_H
#define CTK_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

/* A growable array of token ids. */
struct ctk_ids {
    int32_t *v;
    size_t n, cap;
};
void ctk_ids_push(struct ctk_ids *a, int32_t id);
void ctk_ids_free(struct ctk_ids *a);

/* A growable byte buffer (normalized text). */
struct ctk_text {
    unsigned char *s;
    size_t n, cap;
};

/* BertNormalizer settings (strip_accents already resolved: null = lowercase). */
struct ctk_bert_norm {
    int clean_text, chinese, strip_accents, lowercase;
};

/* A string -> id hash table (open addressing over an arena of bytes). */
struct ctk_strmap {
    struct ctk_strmap_slot *slots; /* mask+1 slots */
    size_t mask, count;
    char *arena;
    size_t arena_len, arena_cap;
    size_t maxlen; /* longest key in bytes */
};

struct ctk_wordpiece {
    struct ctk_strmap whole;    /* every vocabulary entry, by its full text */
    struct ctk_strmap cont;     /* entries that begin with the prefix, keyed by the rest */
    char **id_tok;              /* (nids) token text of each id, NULL for a gap */
    int32_t nids;               /* 1 + largest id */
    int32_t unk_id;             /* id of unk_token in the vocabulary */
    char *unk_token;
    char *prefix;               /* continuing_subword_prefix, "##" */
    int max_chars;              /* max_input_chars_per_word, 100 */
};

/* Scratch of one thread: code point buffers for the non-ASCII path. */
struct ctk_wp_scratch {
    uint32_t *cp, *cp2;
    size_t cap, cap2;
};
void ctk_wp_scratch_free(struct ctk_wp_scratch *s);

void ctk_strmap_init(struct ctk_strmap *m);
void ctk_strmap_free(struct ctk_strmap *m);
/* Insert or replace key -> id. */
void ctk_strmap_put(struct ctk_strmap *m, const char *key, size_t len, int32_t id);
/* The id of key, or -1. */
int32_t ctk_strmap_get(const struct ctk_strmap *m, const char *key, size_t len);

/*
 * Start an empty WordPiece model; add entries with ctk_wordpiece_add (a later
 * entry with the same text replaces the id, as when Rust reads vocab.txt),
 * then ctk_wordpiece_finish resolves unk_token (returns -1 when the
 * vocabulary does not have it).
 */
void ctk_wordpiece_init(struct ctk_wordpiece *wp, const char *unk_token, const char *prefix,
                        int max_chars);
void ctk_wordpiece_add(struct ctk_wordpiece *wp, const char *tok, size_t len, int32_t id);
int ctk_wordpiece_finish(struct ctk_wordpiece *wp);
void ctk_wordpiece_free(struct ctk_wordpiece *wp);
/* Token text of id, or NULL. */
const char *ctk_wordpiece_token(const struct ctk_wordpiece *wp, int32_t id);

/*
 * Normalize s (n bytes of valid UTF-8) and append the result to out.
 */
void ctk_bert_normalize(const struct ctk_bert_norm *bn, struct ctk_wp_scratch *sc,
                        const unsigned char *s, size_t n, struct ctk_text *out);

/*
 * Pre-tokenize normalized text s (n bytes, valid UTF-8) and append the
 * WordPiece ids of each word to ids.
 */
void ctk_bert_pretok_wordpiece(const struct ctk_wordpiece *wp, const unsigned char *s, size_t n,
                               struct ctk_ids *ids);

/* WordPiece of one word (nbytes of UTF-8, nchars code points): append ids. */
void ctk_wordpiece_word(const struct ctk_wordpiece *wp, const unsigned char *w, size_t nbytes,
                        size_t nchars, struct ctk_ids *ids);

#endif
