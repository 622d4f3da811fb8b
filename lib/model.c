/*
 * model.c -- sentence-transformers model folders: loading (configs,
 * modules, validated mmap'd weights, identity hash) and writing a folder
 * whole (see model.h for the layout and the atomicity rule).
 */
#define _GNU_SOURCE 1
#include "config.h"
#include "model.h"
#include "fsutil.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*----------------------------------------------------------------------------
 * XXH64, from the xxHash specification (doc/xxhash_spec.md, "XXH64")
 *--------------------------------------------------------------------------*/

#define P1 0x9E3779B185EBCA87u
#define P2 0xC2B2AE3D27D4EB4Fu
#define P3 0x165667B19E3779F9u
#define P4 0x85EBCA77C2B2AE63u
#define P5 0x27D4EB2F165667C5u

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t xround(uint64_t acc, uint64_t lane) { return rotl64(acc + lane * P2, 31) * P1; }
static uint64_t xmerge(uint64_t acc, uint64_t v) { return (acc ^ xround(0, v)) * P1 + P4; }

uint64_t ctk_hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data, *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        for (; end - p >= 32; p += 32) {
            v1 = xround(v1, rd64(p));
            v2 = xround(v2, rd64(p + 8));
            v3 = xround(v3, rd64(p + 16));
            v4 = xround(v4, rd64(p + 24));
        }
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xmerge(h, v1);
        h = xmerge(h, v2);
        h = xmerge(h, v3);
        h = xmerge(h, v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)n;
    for (; end - p >= 8; p += 8) h = rotl64(h ^ xround(0, rd64(p)), 27) * P1 + P4;
    if (end - p >= 4) {
        h = rotl64(h ^ (uint64_t)rd32(p) * P1, 23) * P2 + P3;
        p += 4;
    }
    for (; p < end; p++) h = rotl64(h ^ (uint64_t)*p * P5, 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/*----------------------------------------------------------------------------
 * Loading
 *--------------------------------------------------------------------------*/

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Path of NAME in folder dir if the file exists, else NULL. */
static char *file_in(const char *dir, const char *name)
{
    char *p = ctk_path_join(dir, name);
    if (exists(p)) return p;
    free(p);
    return NULL;
}

/* The last dot-separated component of a module type: "Pooling" for "...models.Pooling". */
static const char *type_tail(const char *type)
{
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

/* A module path must stay inside the folder. */
static int safe_relpath(const char *p)
{
    if (p[0] == '/') return 0;
    for (const char *s = p; *s;) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        if (len == 2 && s[0] == '.' && s[1] == '.') return 0;
        if (!slash) break;
        s = slash + 1;
    }
    return 1;
}

/* modules.json: the Transformer's and the Pooling's paths, and Normalize. */
static int load_modules(struct ctk_model *m, char **pool_path, struct ctk_err *e)
{
    char *path = ctk_path_join(m->dir, "modules.json");
    int rc = 0;
    if (!exists(path)) {
        m->has_modules = 0;
        m->tpath = xstrdup("");
        free(path);
        return 0;
    }
    m->has_modules = 1;
    json_t *root = ctk_json_load_file(path, e);
    if (!root) {
        free(path);
        return -1;
    }
    if (!json_is_array(root)) {
        rc = ctk_err_set(e, "%s: expected a list of modules", path);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(root); i++) {
        json_t *mod = json_array_get(root, i);
        const char *type, *mpath;
        char what[64];
        snprintf(what, sizeof what, "module %zu", i);
        if (!json_is_object(mod)) {
            rc = ctk_err_set(e, "%s: module %zu is not an object", path, i);
            goto out;
        }
        if (ctk_json_get_str(mod, "type", NULL, &type, what, e) < 0 ||
            ctk_json_get_str(mod, "path", NULL, &mpath, what, e) < 0) {
            rc = ctk_err_set(e, "%s: %s", path, e->msg);
            goto out;
        }
        if (!type || !mpath) {
            rc = ctk_err_set(e, "%s: module %zu has no \"%s\"", path, i, type ? "path" : "type");
            goto out;
        }
        if (!safe_relpath(mpath)) {
            rc = ctk_err_set(e, "%s: module %zu: path \"%s\" leaves the model folder", path, i,
                             mpath);
            goto out;
        }
        const char *t = type_tail(type);
        if (strcmp(t, "Transformer") == 0 && !m->tpath && !*pool_path) {
            m->tpath = xstrdup(mpath);
        } else if (strcmp(t, "Pooling") == 0 && m->tpath && !*pool_path) {
            *pool_path = ctk_path_join(m->dir, mpath);
        } else if (strcmp(t, "Normalize") == 0 && *pool_path && !m->normalize) {
            m->normalize = 1;
        } else {
            rc = ctk_err_set(e, "%s: module %zu has type \"%s\" at this place; ctk runs "
                             "Transformer, then Pooling, then an optional Normalize", path, i, type);
            goto out;
        }
    }
    if (!m->tpath || !*pool_path)
        rc = ctk_err_set(e, "%s: no %s module", path, m->tpath ? "Pooling" : "Transformer");
out:
    json_decref(root);
    free(path);
    return rc;
}

static int get_pos(const json_t *o, const char *key, int64_t dflt, int64_t max, int64_t *out,
                   const char *path, struct ctk_err *e)
{
    if (ctk_json_get_int(o, key, dflt, out, path, e) < 0) return -1;
    if (*out == INT64_MIN)
        return ctk_err_set(e, "%s: \"%s\" is missing", path, key);
    if (*out < 1 || *out > max)
        return ctk_err_set(e, "%s: \"%s\" is %lld; expected 1 to %lld", path, key,
                           (long long)*out, (long long)max);
    return 0;
}

static int get_name(const json_t *o, const char *key, const char *dflt, char *out, size_t size,
                    const char *path, struct ctk_err *e)
{
    const char *s;
    if (ctk_json_get_str(o, key, dflt, &s, path, e) < 0) return -1;
    if (!s) return ctk_err_set(e, "%s: \"%s\" is missing", path, key);
    if (strlen(s) >= size)
        return ctk_err_set(e, "%s: \"%s\" is too long (\"%.40s...\")", path, key, s);
    strcpy(out, s);
    return 0;
}

static int get_prob(const json_t *o, const char *key, double dflt, double *out, const char *path,
                    struct ctk_err *e)
{
    if (ctk_json_get_num(o, key, dflt, out, path, e) < 0) return -1;
    if (!(*out >= 0 && *out < 1))
        return ctk_err_set(e, "%s: \"%s\" is %g; expected 0 <= p < 1", path, key, *out);
    return 0;
}

/* config.json with BertConfig's / MPNetConfig's defaults. */
static int load_config(struct ctk_model *m, struct ctk_err *e)
{
    struct ctk_model_config *c = &m->cfg;
    char *path = ctk_path_join(m->tdir, "config.json");
    json_t *o = ctk_json_load_file(path, e);
    int rc = -1;
    if (!o) goto out;
    if (!json_is_object(o)) {
        ctk_err_set(e, "%s: expected a JSON object", path);
        goto out;
    }
    if (get_name(o, "model_type", NULL, c->model_type, sizeof c->model_type, path, e) < 0)
        goto out;
    int mpnet = strcmp(c->model_type, "mpnet") == 0;
    if (get_pos(o, "vocab_size", INT64_MIN, 1 << 24, &c->vocab_size, path, e) < 0 ||
        get_pos(o, "hidden_size", INT64_MIN, 1 << 16, &c->hidden_size, path, e) < 0 ||
        get_pos(o, "num_hidden_layers", INT64_MIN, 1024, &c->num_hidden_layers, path, e) < 0 ||
        get_pos(o, "num_attention_heads", INT64_MIN, 1024, &c->num_attention_heads, path, e) < 0 ||
        get_pos(o, "intermediate_size", INT64_MIN, 1 << 20, &c->intermediate_size, path, e) < 0 ||
        get_pos(o, "max_position_embeddings", mpnet ? 514 : 512, 1 << 20,
                &c->max_position_embeddings, path, e) < 0 ||
        get_name(o, "hidden_act", "gelu", c->hidden_act, sizeof c->hidden_act, path, e) < 0 ||
        get_name(o, "position_embedding_type", "absolute", c->position_embedding_type,
                 sizeof c->position_embedding_type, path, e) < 0 ||
        get_prob(o, "hidden_dropout_prob", 0.1, &c->hidden_dropout_prob, path, e) < 0 ||
        get_prob(o, "attention_probs_dropout_prob", 0.1, &c->attention_probs_dropout_prob,
                 path, e) < 0 ||
        ctk_json_get_int(o, "type_vocab_size", mpnet ? 0 : 2, &c->type_vocab_size, path, e) < 0 ||
        ctk_json_get_int(o, "pad_token_id", mpnet ? 1 : 0, &c->pad_token_id, path, e) < 0 ||
        ctk_json_get_int(o, "relative_attention_num_buckets", mpnet ? 32 : 0,
                         &c->relative_attention_num_buckets, path, e) < 0 ||
        ctk_json_get_num(o, "layer_norm_eps", mpnet ? 1e-5 : 1e-12, &c->layer_norm_eps, path, e) < 0 ||
        ctk_json_get_num(o, "initializer_range", 0.02, &c->initializer_range, path, e) < 0)
        goto out;
    if (c->hidden_size % c->num_attention_heads) {
        ctk_err_set(e, "%s: \"hidden_size\" (%lld) is not a multiple of \"num_attention_heads\" "
                    "(%lld)", path, (long long)c->hidden_size, (long long)c->num_attention_heads);
        goto out;
    }
    if (c->type_vocab_size < 0 || c->type_vocab_size > 1 << 16) {
        ctk_err_set(e, "%s: \"type_vocab_size\" is %lld; expected 0 to 65536", path,
                    (long long)c->type_vocab_size);
        goto out;
    }
    if (c->pad_token_id < 0 || c->pad_token_id >= c->vocab_size) {
        ctk_err_set(e, "%s: \"pad_token_id\" is %lld; expected 0 to vocab_size - 1 (%lld)", path,
                    (long long)c->pad_token_id, (long long)c->vocab_size - 1);
        goto out;
    }
    if (c->relative_attention_num_buckets < 0 || c->relative_attention_num_buckets > 1 << 16) {
        ctk_err_set(e, "%s: \"relative_attention_num_buckets\" is %lld; expected 0 to 65536",
                    path, (long long)c->relative_attention_num_buckets);
        goto out;
    }
    if (!(c->layer_norm_eps > 0 && c->layer_norm_eps < 1)) {
        ctk_err_set(e, "%s: \"layer_norm_eps\" is %g; expected 0 < eps < 1", path,
                    c->layer_norm_eps);
        goto out;
    }
    if (!(c->initializer_range >= 0 && isfinite(c->initializer_range))) {
        ctk_err_set(e, "%s: \"initializer_range\" is %g; expected a finite value >= 0", path,
                    c->initializer_range);
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    free(path);
    return rc;
}

static const char *pool_names[] = {
    [CTK_POOL_MEAN] = "mean", [CTK_POOL_CLS] = "cls", [CTK_POOL_MAX] = "max",
    [CTK_POOL_MEAN_SQRT_LEN] = "mean_sqrt_len_tokens", [CTK_POOL_WEIGHTEDMEAN] = "weightedmean",
    [CTK_POOL_LASTTOKEN] = "lasttoken",
};

const char *ctk_pool_mode_name(enum ctk_pool_mode mode)
{
    return (unsigned)mode < sizeof pool_names / sizeof *pool_names ? pool_names[mode] : NULL;
}

static int *pool_flag(struct ctk_pooling_config *p, enum ctk_pool_mode mode)
{
    switch (mode) {
    case CTK_POOL_MEAN: return &p->mean;
    case CTK_POOL_CLS: return &p->cls;
    case CTK_POOL_MAX: return &p->max;
    case CTK_POOL_MEAN_SQRT_LEN: return &p->mean_sqrt_len;
    case CTK_POOL_WEIGHTEDMEAN: return &p->weightedmean;
    case CTK_POOL_LASTTOKEN: return &p->lasttoken;
    }
    return NULL;
}

static int set_pool_name(struct ctk_pooling_config *p, const json_t *v, const char *path,
                         struct ctk_err *e)
{
    if (!json_is_string(v))
        return ctk_err_set(e, "%s: \"pooling_mode\" must be a string or a list of strings", path);
    for (int k = 0; k <= CTK_POOL_LASTTOKEN; k++)
        if (strcmp(json_string_value(v), pool_names[k]) == 0) {
            *pool_flag(p, (enum ctk_pool_mode)k) = 1;
            return 0;
        }
    return ctk_err_set(e, "%s: \"pooling_mode\" \"%s\" is unknown (known: mean, cls, max, "
                       "mean_sqrt_len_tokens, weightedmean, lasttoken)", path,
                       json_string_value(v));
}

/*
 * 1_Pooling/config.json in either spelling: sentence-transformers < 5 writes
 * word_embedding_dimension and one pooling_mode_*_tokens flag per mode; 5.x
 * writes embedding_dimension and "pooling_mode": "mean" (or a list).
 */
static int load_pooling(struct ctk_model *m, const char *dir, struct ctk_err *e)
{
    struct ctk_pooling_config *p = &m->pool;
    if (!dir) {                     /* plain Hugging Face folder: mean pooling */
        p->dim = m->cfg.hidden_size;
        p->mean = 1;
        p->include_prompt = 1;
        return 0;
    }
    char *path = ctk_path_join(dir, "config.json");
    json_t *o = ctk_json_load_file(path, e);
    int rc = -1;
    if (!o) goto out;
    if (!json_is_object(o)) {
        ctk_err_set(e, "%s: expected a JSON object", path);
        goto out;
    }
    int64_t d1, d2;
    if (ctk_json_get_int(o, "word_embedding_dimension", -1, &d1, path, e) < 0 ||
        ctk_json_get_int(o, "embedding_dimension", -1, &d2, path, e) < 0 ||
        ctk_json_get_bool(o, "pooling_mode_cls_token", 0, &p->cls, path, e) < 0 ||
        ctk_json_get_bool(o, "pooling_mode_mean_tokens", 0, &p->mean, path, e) < 0 ||
        ctk_json_get_bool(o, "pooling_mode_max_tokens", 0, &p->max, path, e) < 0 ||
        ctk_json_get_bool(o, "pooling_mode_mean_sqrt_len_tokens", 0, &p->mean_sqrt_len, path, e) < 0 ||
        ctk_json_get_bool(o, "pooling_mode_weightedmean_tokens", 0, &p->weightedmean, path, e) < 0 ||
        ctk_json_get_bool(o, "pooling_mode_lasttoken", 0, &p->lasttoken, path, e) < 0 ||
        ctk_json_get_bool(o, "include_prompt", 1, &p->include_prompt, path, e) < 0)
        goto out;
    p->dim = d1 != -1 ? d1 : d2;
    const json_t *mode = json_object_get(o, "pooling_mode");
    if (json_is_array(mode)) {
        for (size_t i = 0; i < json_array_size(mode); i++)
            if (set_pool_name(p, json_array_get(mode, i), path, e) < 0) goto out;
    } else if (mode && !json_is_null(mode) && set_pool_name(p, mode, path, e) < 0) {
        goto out;
    }
    if (p->dim == -1) {
        ctk_err_set(e, "%s: \"word_embedding_dimension\" is missing", path);
        goto out;
    }
    if (p->dim != m->cfg.hidden_size) {
        ctk_err_set(e, "%s: \"word_embedding_dimension\" is %lld but the model's hidden_size "
                    "is %lld", path, (long long)p->dim, (long long)m->cfg.hidden_size);
        goto out;
    }
    if (!(p->cls || p->mean || p->max || p->mean_sqrt_len || p->weightedmean || p->lasttoken)) {
        ctk_err_set(e, "%s: no pooling mode is set (pooling_mode_mean_tokens, ...)", path);
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    free(path);
    return rc;
}

/*
 * The longest input: sentence_bert_config.json's max_seq_length, else the
 * tokenizer's model_max_length, capped by the position table (MPNet's
 * positions start after padding_idx, so it holds max_position_embeddings
 * - pad_token_id - 1 of them).
 */
static int load_seq_config(struct ctk_model *m, struct ctk_err *e)
{
    int64_t limit = m->cfg.max_position_embeddings;
    if (strcmp(m->cfg.model_type, "mpnet") == 0) limit -= m->cfg.pad_token_id + 1;
    if (limit < 1)
        return ctk_err_set(e, "%s/config.json: \"max_position_embeddings\" (%lld) leaves no "
                           "room for a token", m->tdir, (long long)m->cfg.max_position_embeddings);
    int64_t msl = -1;
    char *path = ctk_path_join(m->tdir, "sentence_bert_config.json");
    if (exists(path)) {
        json_t *o = ctk_json_load_file(path, e);
        int bad = !o || ctk_json_get_int(o, "max_seq_length", -1, &msl, path, e) < 0 ||
                  ctk_json_get_bool(o, "do_lower_case", 0, &m->do_lower_case, path, e) < 0;
        json_decref(o);
        if (!bad && msl != -1 && msl < 1)
            bad = ctk_err_set(e, "%s: \"max_seq_length\" is %lld; expected > 0", path,
                              (long long)msl) < 0;
        if (!bad && msl > limit)
            bad = ctk_err_set(e, "%s: \"max_seq_length\" is %lld but the model has positions "
                              "for %lld tokens", path, (long long)msl, (long long)limit) < 0;
        if (bad) {
            free(path);
            return -1;
        }
    }
    free(path);
    if (msl == -1 && m->tokenizer_config) {
        json_t *o = ctk_json_load_file(m->tokenizer_config, e);
        if (!o) return -1;
        const json_t *v = json_object_get(o, "model_max_length");
        if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < limit)
            msl = json_integer_value(v);
        json_decref(o);
    }
    m->max_seq_length = msl == -1 ? limit : msl;
    return 0;
}

static int load_weights(struct ctk_model *m, struct ctk_err *e)
{
    m->weights_path = ctk_path_join(m->tdir, "model.safetensors");
    if (!exists(m->weights_path)) {
        char *bin = file_in(m->tdir, "pytorch_model.bin");
        char *idx = file_in(m->tdir, "model.safetensors.index.json");
        if (bin)
            ctk_err_set(e, "%s: no model.safetensors, only pytorch_model.bin (a Python pickle, "
                        "which ctk does not execute): convert it to model.safetensors", m->tdir);
        else if (idx)
            ctk_err_set(e, "%s: weights split in shards (model.safetensors.index.json): ctk "
                        "reads one model.safetensors", m->tdir);
        else
            ctk_err_set(e, "%s: no model.safetensors", m->tdir);
        free(bin);
        free(idx);
        return -1;
    }
    if (ctk_st_open(&m->st, m->weights_path, e) < 0) return -1;
    m->has_weights = 1;
    m->weights_hash = ctk_hash64(m->st.map, m->st.map_len, 0);
    size_t n = strlen(m->name) + 18;
    m->identity = xmalloc(n);
    snprintf(m->identity, n, "%s@%016llx", m->name, (unsigned long long)m->weights_hash);
    return 0;
}

static char *base_name(const char *dir)
{
    char *real = realpath(dir, NULL);
    char *copy = xstrdup(real ? real : dir);
    free(real);
    char *b = xstrdup(basename(copy));
    free(copy);
    return b;
}

int ctk_model_open(struct ctk_model *m, const char *dir, int flags, struct ctk_err *e)
{
    struct stat sb;
    char *pool_path = NULL;
    memset(m, 0, sizeof *m);
    m->dir = xstrdup(dir);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        ctk_err_set(e, "%s: %s", dir, stat(dir, &sb) != 0 ? strerror(errno)
                                                          : "not a folder (a model is a folder)");
        goto fail;
    }
    m->name = base_name(dir);
    if (load_modules(m, &pool_path, e) < 0) goto fail;
    m->tdir = *m->tpath ? ctk_path_join(dir, m->tpath) : xstrdup(dir);
    m->vocab_txt = file_in(m->tdir, "vocab.txt");
    m->tokenizer_json = file_in(m->tdir, "tokenizer.json");
    m->tokenizer_config = file_in(m->tdir, "tokenizer_config.json");
    if (load_config(m, e) < 0 || load_pooling(m, pool_path, e) < 0 ||
        load_seq_config(m, e) < 0)
        goto fail;
    if (!(flags & CTK_MODEL_NO_WEIGHTS) && load_weights(m, e) < 0) goto fail;
    free(pool_path);
    return 0;
fail:
    free(pool_path);
    ctk_model_close(m);
    return -1;
}

void ctk_model_close(struct ctk_model *m)
{
    if (m->has_weights) ctk_st_close(&m->st);
    free(m->dir);
    free(m->name);
    free(m->tdir);
    free(m->tpath);
    free(m->vocab_txt);
    free(m->tokenizer_json);
    free(m->tokenizer_config);
    free(m->weights_path);
    free(m->identity);
    memset(m, 0, sizeof *m);
}

int ctk_model_pool_mode(const struct ctk_model *m, enum ctk_pool_mode *mode, struct ctk_err *e)
{
    struct ctk_pooling_config p = m->pool;
    int n = 0;
    for (int k = 0; k <= CTK_POOL_LASTTOKEN; k++)
        if (*pool_flag(&p, (enum ctk_pool_mode)k)) {
            *mode = (enum ctk_pool_mode)k;
            n++;
        }
    if (n != 1)
        return ctk_err_set(e, "%s: %d pooling modes are set; ctk runs exactly one", m->dir, n);
    return 0;
}

const struct ctk_st_tensor *ctk_model_tensor(const struct ctk_model *m, const char *name)
{
    if (!m->has_weights) return NULL;
    const struct ctk_st_tensor *t = ctk_st_find(&m->st, name);
    if (t) return t;
    char buf[512];
    if ((size_t)snprintf(buf, sizeof buf, "%s.%s", m->cfg.model_type, name) >= sizeof buf)
        return NULL;
    return ctk_st_find(&m->st, buf);
}

/* Drops the whole pages of [p, p + len) that lie in st's file mapping (none for open_mem). */
static void release_pages(const struct ctk_st *st, const void *p, size_t len)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    uintptr_t base = (uintptr_t)st->map, top = base + st->map_len;
    lo = (lo + pg - 1) / pg * pg;
    hi = hi / pg * pg;
    if (!st->map || lo < base || hi > top || hi <= lo) return;
    madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

int ctk_model_read(const struct ctk_model *m, const char *name, int ndim, const int64_t *shape,
                   float *out, struct ctk_err *e)
{
    const struct ctk_st_tensor *t = ctk_model_tensor(m, name);
    if (!t)
        return ctk_err_set(e, "%s: no tensor \"%s\" (nor \"%s.%s\")",
                           m->weights_path ? m->weights_path : m->dir, name, m->cfg.model_type,
                           name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char got[128], want[128];
        return ctk_err_set(e, "%s: tensor \"%s\" has shape %s, expected %s", m->weights_path,
                           t->name, ctk_st_shape_str(got, sizeof got, t->ndim, t->shape),
                           ctk_st_shape_str(want, sizeof want, ndim, shape));
    }
    /*
     * A block at a time, each block's mapped pages dropped once copied, so
     * that loading a model holds one copy of its weights, not two: the
     * mapping is private and read-only, so a page dropped and touched again
     * is read back from the file.
     */
    size_t es = ctk_dtype_size(t->dtype), block = (size_t)1 << 18;
    size_t i = 0;
    do {
        struct ctk_st_tensor part = *t;
        part.nelem = t->nelem - i < block ? t->nelem - i : block;
        part.data = (const unsigned char *)t->data + i * es;
        if (ctk_st_read_f32(&m->st, &part, out + i, part.nelem, e) < 0) return -1;
        release_pages(&m->st, part.data, part.nelem * es);
    } while ((i += block) < t->nelem);
    return 0;
}

/*----------------------------------------------------------------------------
 * Writing a folder whole
 *--------------------------------------------------------------------------*/

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int ctk_remove_tree(const char *path)
{
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int ctk_copy_file(const char *from, const char *to, struct ctk_err *e)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return ctk_err_set(e, "cannot open %s: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (out < 0) {
        int err = errno;
        close(in);
        return ctk_err_set(e, "cannot create %s: %s", to, strerror(err));
    }
    char buf[1 << 16];
    ssize_t got;
    int rc = 0;
    while ((got = read(in, buf, sizeof buf)) != 0) {
        if (got < 0) {
            if (errno == EINTR) continue;
            rc = ctk_err_set(e, "cannot read %s: %s", from, strerror(errno));
            break;
        }
        for (ssize_t off = 0; off < got;) {
            ssize_t w = write(out, buf + off, (size_t)(got - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                rc = ctk_err_set(e, "cannot write %s: %s", to, strerror(errno));
                break;
            }
            off += w;
        }
        if (rc) break;
    }
    if (rc == 0 && fsync(out) != 0 && errno != EINVAL)
        rc = ctk_err_set(e, "cannot write %s: %s", to, strerror(errno));
    if (close(out) != 0 && rc == 0)
        rc = ctk_err_set(e, "cannot write %s: %s", to, strerror(errno));
    close(in);
    return rc;
}

/* Split dst (trailing slashes removed) into its parent folder and base name. */
static void split_path(const char *dst, char **parent, char **base)
{
    char *d = xstrdup(dst);
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/') d[--n] = '\0';
    char *a = xstrdup(d), *b = xstrdup(d);
    *parent = xstrdup(dirname(a));
    *base = xstrdup(basename(b));
    free(a);
    free(b);
    free(d);
}

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *de;
    int empty = 1;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

int ctk_model_dir_begin(struct ctk_model_dir *w, const char *dst, int force, struct ctk_err *e)
{
    struct stat sb;
    w->dst = w->tmp = NULL;
    if (stat(dst, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return ctk_err_set(e, "%s exists and is not a folder", dst);
        if (!force && !dir_is_empty(dst))
            return ctk_err_set(e, "%s exists and is not empty; refusing to replace it "
                               "(force it, e.g. with --force)", dst);
    }
    char *parent, *base;
    split_path(dst, &parent, &base);
    if (ctk_mkdirs(parent, e) < 0) {
        free(parent);
        free(base);
        return -1;
    }
    size_t n = strlen(parent) + strlen(base) + 16;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s/.%s.tmp-XXXXXX", parent, base);
    free(parent);
    free(base);
    if (!mkdtemp(tmp)) {
        int err = errno;
        free(tmp);
        return ctk_err_set(e, "cannot create a folder beside %s: %s", dst, strerror(err));
    }
    mode_t mask = umask(0);       /* mkdtemp makes 0700: give the folder mkdir's mode */
    umask(mask);
    chmod(tmp, 0777 & ~mask);
    w->dst = xstrdup(dst);
    w->tmp = tmp;
    return 0;
}

/* fsync a folder so that a rename in it is durable. */
static void sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int ctk_model_dir_commit(struct ctk_model_dir *w, struct ctk_err *e)
{
    struct stat sb;
    int rc = 0;
    char *parent, *base;
    split_path(w->dst, &parent, &base);
    if (stat(w->dst, &sb) != 0) {
        if (rename(w->tmp, w->dst) != 0)
            rc = ctk_err_set(e, "cannot rename %s to %s: %s", w->tmp, w->dst, strerror(errno));
    } else if (renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->dst, RENAME_EXCHANGE) == 0) {
        ctk_remove_tree(w->tmp);    /* the old folder, now under the temporary name */
    } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
        /* No atomic exchange here: move the old folder aside, then the new one in. */
        size_t n = strlen(parent) + strlen(base) + 16;
        char *old = xmalloc(n);
        snprintf(old, n, "%s/.%s.old-XXXXXX", parent, base);
        if (!mkdtemp(old) || rmdir(old) != 0 || rename(w->dst, old) != 0)
            rc = ctk_err_set(e, "cannot move %s aside: %s", w->dst, strerror(errno));
        else if (rename(w->tmp, w->dst) != 0)
            rc = ctk_err_set(e, "cannot rename %s to %s: %s (the old folder is %s)", w->tmp,
                             w->dst, strerror(errno), old);
        else
            ctk_remove_tree(old);
        free(old);
    } else {
        rc = ctk_err_set(e, "cannot replace %s: %s", w->dst, strerror(errno));
    }
    if (rc == 0) sync_dir(parent);
    free(parent);
    free(base);
    if (rc) {
        ctk_model_dir_abort(w);
        return -1;
    }
    free(w->dst);
    free(w->tmp);
    w->dst = w->tmp = NULL;
    return 0;
}

void ctk_model_dir_abort(struct ctk_model_dir *w)
{
    if (w->tmp) ctk_remove_tree(w->tmp);
    free(w->dst);
    free(w->tmp);
    w->dst = w->tmp = NULL;
}

/* Files that hold weights: stale once new weights are written, never copied. */
static int is_weights_file(const char *name)
{
    static const char *const names[] = {
        "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
        "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack", "rust_model.ot",
        "model.onnx",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    size_t n = strlen(name);
    if (strncmp(name, "model-", 6) == 0 && n > 12 && strcmp(name + n - 12, ".safetensors") == 0)
        return 1;
    if (strncmp(name, "pytorch_model-", 14) == 0 && n > 4 && strcmp(name + n - 4, ".bin") == 0)
        return 1;
    return 0;
}

/*
 * Copy folder from into folder to (which exists), following symbolic links
 * (a Hugging Face cache snapshot is links into its blobs), skipping hidden
 * entries, exported runtimes (onnx/, openvino/) and, in the Transformer's
 * folder (weights_here), the weights files.
 */
static int copy_tree(const char *from, const char *to, int weights_here, const char *tfrom,
                     int depth, struct ctk_err *e)
{
    if (depth > 8) return ctk_err_set(e, "%s: folders nested too deep (a link loop?)", from);
    DIR *d = opendir(from);
    if (!d) return ctk_err_set(e, "cannot read folder %s: %s", from, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] == '.') continue;
        if (weights_here && is_weights_file(nm)) continue;
        char *src = ctk_path_join(from, nm), *dst = ctk_path_join(to, nm);
        struct stat sb;
        if (stat(src, &sb) != 0) {
            rc = ctk_err_set(e, "cannot read %s: %s", src, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            if (strcmp(nm, "onnx") && strcmp(nm, "openvino")) {
                if (mkdir(dst, 0777) != 0 && errno != EEXIST)
                    rc = ctk_err_set(e, "cannot create folder %s: %s", dst, strerror(errno));
                else
                    rc = copy_tree(src, dst, strcmp(src, tfrom) == 0, tfrom, depth + 1, e);
            }
        } else if (S_ISREG(sb.st_mode)) {
            rc = ctk_copy_file(src, dst, e);
        }
        free(src);
        free(dst);
    }
    closedir(d);
    return rc;
}

int ctk_model_save(const struct ctk_model *src, const char *dst, const struct ctk_st_wtensor *t,
                   size_t n, const char *const *meta, struct ctk_err *e)
{
    static const char *const pt[] = {"format", "pt", NULL};
    struct ctk_model_dir w;
    if (ctk_model_dir_begin(&w, dst, 1, e) < 0) return -1;
    char *tfrom = src->tdir;
    char *tto = *src->tpath ? ctk_path_join(w.tmp, src->tpath) : xstrdup(w.tmp);
    char *wpath = ctk_path_join(tto, "model.safetensors");
    int rc = copy_tree(src->dir, w.tmp, strcmp(src->dir, tfrom) == 0 || !*src->tpath, tfrom, 0, e);
    if (rc == 0) rc = ctk_mkdirs(tto, e);
    if (rc == 0) rc = ctk_st_write(wpath, t, n, meta ? meta : pt, e);
    free(tto);
    free(wpath);
    if (rc == 0) return ctk_model_dir_commit(&w, e);
    ctk_model_dir_abort(&w);
    return -1;
}
