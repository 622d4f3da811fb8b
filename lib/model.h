/*
 * model.h -- model folders in the sentence-transformers layout.
 *
 *   DIR/modules.json                 the pipeline: Transformer, Pooling, Normalize
 *   DIR/config.json                  Hugging Face config (model_type, sizes, ...)
 *   DIR/model.safetensors            weights
 *   DIR/sentence_bert_config.json    max_seq_length, do_lower_case
 *   DIR/vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json
 *   DIR/config_sentence_transformers.json
 *   DIR/1_Pooling/config.json        pooling mode
 *   DIR/2_Normalize/                 (no files)
 *
 * The Transformer module lives at modules.json's path: "" (current layout,
 * files at the top) or "0_Transformer" (older layout, with config.json,
 * weights, tokenizer files and sentence_bert_config.json in that folder);
 * both load. A folder without modules.json is a plain Hugging Face model:
 * Transformer at the top, mean pooling, no Normalize (what
 * sentence-transformers does with such a folder).
 *
 * Loading refuses, naming the file and field, any config value that is
 * missing, of the wrong type or out of range, and module types it cannot
 * run (e.g. Dense). The weights are mmap'd and validated (safetensors.h);
 * the model's identity for stream metadata is the folder's base name, '@',
 * and the XXH64 hash (seed 0) of model.safetensors' bytes in 16 hex digits:
 * "all-MiniLM-L6-v2@3f2a0c9d1e7b5a46".
 *
 * Writing (ctk_model_save): the new folder is built whole in a temporary
 * folder beside the destination (".NAME.tmp-XXXXXX"), then renamed into
 * place; an existing destination is swapped with it atomically
 * (renameat2 RENAME_EXCHANGE; on file systems without it, two renames) and
 * the old one removed. A reader never sees a half-written model. Every file
 * of the source folder is copied unchanged (tokenizer files, configs,
 * README, module folders), except stale weights (pytorch_model.bin,
 * tf_model.h5, ONNX exports, ...), and model.safetensors is written anew in
 * the Transformer's folder, so the layout is the source's.
 *
 * Ownership: ctk_model_open() fills caller storage freed by
 * ctk_model_close(); strings and tensors returned are borrowed from it.
 */
#ifndef CTK_MODEL_H
#define CTK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "safetensors.h"

/* config.json, with Hugging Face's names and defaults (BertConfig, MPNetConfig). */
struct ctk_model_config {
    char model_type[32];                /* "bert", "mpnet", ... (required) */
    int64_t vocab_size;
    int64_t hidden_size;
    int64_t num_hidden_layers;
    int64_t num_attention_heads;
    int64_t intermediate_size;
    char hidden_act[32];                /* "gelu" */
    int64_t max_position_embeddings;    /* bert 512, mpnet 514 */
    int64_t type_vocab_size;            /* bert 2; mpnet 0 (no token types) */
    double layer_norm_eps;              /* bert 1e-12, mpnet 1e-5 */
    double hidden_dropout_prob;
    double attention_probs_dropout_prob;
    char position_embedding_type[32];   /* "absolute" */
    int64_t pad_token_id;               /* bert 0, mpnet 1 */
    double initializer_range;
    int64_t relative_attention_num_buckets; /* mpnet 32; 0 otherwise */
};

/* 1_Pooling/config.json: which poolings are concatenated (usually one). */
struct ctk_pooling_config {
    int64_t dim;                        /* word_embedding_dimension */
    int cls, mean, max, mean_sqrt_len, weightedmean, lasttoken;
    int include_prompt;
};

enum ctk_pool_mode { CTK_POOL_MEAN, CTK_POOL_CLS, CTK_POOL_MAX, CTK_POOL_MEAN_SQRT_LEN,
                     CTK_POOL_WEIGHTEDMEAN, CTK_POOL_LASTTOKEN };

struct ctk_model {
    char *dir;                  /* as given */
    char *name;                 /* base name of the folder */
    char *tdir;                 /* the Transformer's folder (dir, or dir/0_Transformer) */
    char *tpath;                /* its modules.json path: "" or "0_Transformer" */
    int has_modules;            /* modules.json present */
    struct ctk_model_config cfg;
    struct ctk_pooling_config pool;
    int normalize;              /* a Normalize module follows the pooling */
    int64_t max_seq_length;     /* sentence_bert_config.json, else tokenizer/positions limit */
    int do_lower_case;          /* sentence_bert_config.json's (tokenizer_config.json has its own) */
    char *vocab_txt;            /* tdir/vocab.txt or NULL */
    char *tokenizer_json;       /* tdir/tokenizer.json or NULL */
    char *tokenizer_config;     /* tdir/tokenizer_config.json or NULL */
    int has_weights;            /* opened with weights */
    char *weights_path;         /* tdir/model.safetensors */
    struct ctk_st st;
    uint64_t weights_hash;      /* XXH64 of model.safetensors */
    char *identity;             /* "NAME@hash" */
};

enum { CTK_MODEL_NO_WEIGHTS = 1 };   /* ctk_model_open flag: configs only (e.g. for a tokenizer) */

int ctk_model_open(struct ctk_model *m, const char *dir, int flags, struct ctk_err *e);
void ctk_model_close(struct ctk_model *m);

/* The single pooling mode, or -1 with e set when several are concatenated or none is set. */
int ctk_model_pool_mode(const struct ctk_model *m, enum ctk_pool_mode *mode, struct ctk_err *e);
/* "mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken". */
const char *ctk_pool_mode_name(enum ctk_pool_mode mode);

/*
 * The weights tensor name, trying it as given, then with the model_type
 * prefix ("bert." + name, "mpnet." + name) that checkpoints saved from
 * BertForMaskedLM and the like carry. NULL when absent.
 */
const struct ctk_st_tensor *ctk_model_tensor(const struct ctk_model *m, const char *name);
/*
 * Read tensor name as float into out, checking its shape against
 * shape[ndim]; the error names the file, the tensor and both shapes. The
 * file's mapped pages are dropped as they are copied, so that a model
 * loaded tensor by tensor is held once, not twice.
 */
int ctk_model_read(const struct ctk_model *m, const char *name, int ndim, const int64_t *shape,
                   float *out, struct ctk_err *e);

/*
 * Write the model folder dst: src's files (see above) plus new weights t[n]
 * with metadata meta (NULL: {"format": "pt"}, which transformers requires).
 * src may be dst itself.
 */
int ctk_model_save(const struct ctk_model *src, const char *dst, const struct ctk_st_wtensor *t,
                   size_t n, const char *const *meta, struct ctk_err *e);

/*
 * Building a folder whole (ctk_model_save and ctk-init-model use it):
 * _begin() makes the temporary folder (refusing a non-empty existing dst
 * unless force), the caller fills w->tmp, _commit() puts it in place,
 * _abort() removes it.
 */
struct ctk_model_dir {
    char *dst;
    char *tmp;
};
int ctk_model_dir_begin(struct ctk_model_dir *w, const char *dst, int force, struct ctk_err *e);
int ctk_model_dir_commit(struct ctk_model_dir *w, struct ctk_err *e);
void ctk_model_dir_abort(struct ctk_model_dir *w);
/* rm -r path (files and folders); 0 on success. */
int ctk_remove_tree(const char *path);
/* Copy file from to path to (created, fsync'd). */
int ctk_copy_file(const char *from, const char *to, struct ctk_err *e);

/* XXH64 (Collet's xxHash, 64-bit) of p[n] with seed. */
uint64_t ctk_hash64(const void *p, size_t n, uint64_t seed);

#endif
