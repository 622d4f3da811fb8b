/*
 * ngram.h -- the built-in sentence encoder: hashed word and character
 * n-grams, an embedding bag, an optional dense layer, L2 normalisation.
 *
 * It needs no file: untrained, it is a seeded random projection of lexical
 * features (identical on every machine), and ctk-train-mnrl fine-tunes it
 * like any other encoder (encoder.h), with sparse updates of the embedding
 * rows a batch used. After fastText's subword features (Bojanowski et al.
 * 2017) and its hashing trick; the bag of features is a sentence encoder in
 * the sense of SBERT (section 2 of the reference) once trained with a
 * contrastive loss, which is what SetFit's first stage does (section 3).
 *
 * FEATURES (ctk_ngram_features), for a text:
 *   1. UTF-8 is decoded (an invalid byte reads as U+FFFD) and lower-cased
 *      with utf8proc's simple case mapping.
 *   2. It is cut into tokens: a word is a maximal run of letters, marks and
 *      digits (Unicode categories L*, M*, N*, and '_'), an apostrophe (' or
 *      U+2019) between two such characters staying inside the word
 *      ("don't"); every other character that is not white space or a
 *      control character is a token of its own ("?", ",").
 *   3. For token i, in this order: the word n-grams ending at i for n in
 *      [word_min, word_max] (tokens joined by one space: "data pipeline"),
 *      then, for word tokens only, the character n-grams of "<" token ">"
 *      for n in [char_min, char_max], by start position then length,
 *      counted in code points ("<da", "<dat", "<data", "dat", ...).
 *   4. Each feature's bytes are hashed, and the hash modulo buckets is its
 *      id. Repeated features repeat their id (a bag, not a set).
 *
 * THE HASH (so that other languages can reproduce ids): 64-bit FNV-1a
 * (offset basis 0xcbf29ce484222325 XOR hash_seed, prime 0x100000001b3) over
 * one tag byte ('w' for a word n-gram, 'c' for a character n-gram)
 * followed by the feature's UTF-8 bytes, then MurmurHash3's 64-bit
 * finaliser (fmix64) so that the low bits are well mixed; id = h % buckets.
 *
 * THE ENCODER, for a sequence of feature ids x_1..x_n (D = dim):
 *   p = (1/n) sum_k E[x_k]          (pooling "mean"; "sqrtn": 1/sqrt(n))
 *   h = tanh(W p + b)               (when dense; activation "identity": W p + b)
 *   out = h / max(|h|, 1e-12)
 * E (buckets, D) starts as E[r][j] ~ N(0, init_std^2) drawn from a
 * generator seeded by (init_seed, r) alone, W as the identity and b as 0,
 * so that the untrained encoder is exactly the normalised random projection
 * of the bag of features when there is no dense layer, and nearly so with
 * one (tanh is close to the identity at this scale). In training mode each
 * feature occurrence is dropped with probability feature_dropout (masks
 * drawn from the forward's seed), SimCSE's dropout noise for a bag model.
 *
 * MEMORY: rows of E are made only when a text first uses them (the table is
 * one zero-filled allocation whose pages the kernel maps on first touch), so
 * the untrained encoder over a few thousand sentences holds a few MB, not
 * buckets x D x 4 bytes (256 MB at the defaults 2^18 x 256). Gradients and
 * optimizer moments follow the same pattern when they are allocated with
 * calloc and visited through the touched rows only. A saved model folder
 * stores only the rows that differ from their seeded initial value
 * (tensors "embeddings.rows" I64 [k] and "embeddings.values" F32 [k, D]),
 * so a model fine-tuned on a few dozen sentences is a few MB on disk.
 *
 * DEFAULTS: 2^18 buckets, D = 256, words 1-2, characters 3-5, mean
 * pooling, no dense layer, feature dropout 0.1. The dense layer is off by
 * default because on 8 to 16 examples per class its D x D weights overfit:
 * with it, SetFit-style fine-tuning on 16 examples per class lost 10
 * points on AG News and 2 on emotion against the bag alone, and gained 1 on
 * CR (bench/setfit/README.md). A folder holding only a
 * config.json ("model_type": "ctk-ngram" and any of the keys above, e.g.
 * "dense": true, "dim": 128) opens as the untrained encoder of that
 * configuration, which is how ctk-train-mnrl starts from another one.
 *
 * Ownership: ctk_ngram_open() returns an encoder freed by
 * ctk_encoder_free(); the featuriser writes into the caller's buffer.
 */
#ifndef CTK_NGRAM_H
#define CTK_NGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "encoder.h"
#include "err.h"

enum ctk_ngram_pooling { CTK_NGRAM_MEAN, CTK_NGRAM_SQRTN };
enum ctk_ngram_act { CTK_NGRAM_TANH, CTK_NGRAM_IDENTITY };

struct ctk_ngram_cfg {
    int64_t buckets;          /* number of hashed ids (rows of E); default 2^18 */
    int64_t dim;              /* D, default 256 */
    int word_min, word_max;   /* word n-gram lengths, default 1..2 (0..0: none) */
    int char_min, char_max;   /* character n-gram lengths, default 3..5 (0..0: none) */
    uint64_t hash_seed;       /* default 0 */
    uint64_t init_seed;       /* seed of E's initial rows, default 1 */
    double init_std;          /* default 1/sqrt(D) (rows of unit length on average) */
    int dense;                /* dense layer D -> D, default 0 (see below) */
    enum ctk_ngram_act activation;   /* default tanh */
    enum ctk_ngram_pooling pooling;  /* default mean */
    double feature_dropout;   /* training only, default 0.1 */
    int64_t max_features;     /* features kept per text, default 8192 */
};

/* The defaults above (the built-in encoder's configuration). */
void ctk_ngram_cfg_default(struct ctk_ngram_cfg *cfg);

/*
 * The configuration of model folder dir (NULL: the built-in defaults),
 * read from its config.json, checked for range. Returns 0 or -1 with e set.
 */
int ctk_ngram_cfg_load(const char *dir, struct ctk_ngram_cfg *cfg, struct ctk_err *e);

/*
 * Feature ids of text (len bytes, need not be NUL-terminated) into ids
 * (room for cap). Returns the number of features the text has, which may
 * exceed cap: then only the first cap were written (callers truncate at
 * cfg->max_features).
 */
int64_t ctk_ngram_features(const struct ctk_ngram_cfg *cfg, const char *text, size_t len,
                           int32_t *ids, int64_t cap);

/* The hash of one feature (tag 'w' or 'c', bytes s[0..n)), before the modulo. */
uint64_t ctk_ngram_hash(uint64_t seed, char tag, const char *s, size_t n);

/*
 * A name for the featuriser's configuration (what makes ids comparable),
 * e.g. "ctk-ngram-features/v1 b=262144 w=1-2 c=3-5 seed=0", into buf.
 */
void ctk_ngram_features_name(const struct ctk_ngram_cfg *cfg, char *buf, size_t size);

/* Initial value of row r of E (D floats), a function of (init_seed, r) only. */
void ctk_ngram_init_row(const struct ctk_ngram_cfg *cfg, int64_t r, float *row);

/*
 * Open the encoder of model folder dir (config.json "model_type":
 * "ctk-ngram", model.safetensors), or the built-in untrained encoder when
 * dir is NULL. threads is accepted for the interface (the bag is cheap;
 * the dense layer uses OpenBLAS's threads).
 */
struct ctk_encoder *ctk_ngram_open(const char *dir, int threads, struct ctk_err *e);

/* A fresh untrained encoder with configuration cfg (ctk-init-model, tests). */
struct ctk_encoder *ctk_ngram_new(const struct ctk_ngram_cfg *cfg, struct ctk_err *e);

#endif
