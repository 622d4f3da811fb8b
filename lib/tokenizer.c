/*
 * tokenizer.c -- loading tokenizer.json / vocab.txt and encoding texts
 * exactly as Hugging Face's tokenizers (Rust) does; see tokenizer.h.
 *
 * References: tokenizers/src/tokenizer/added_vocabulary.rs (find_matches,
 * extract_and_normalize), processors/template.rs, processors/bert.rs,
 * processors/roberta.rs, utils/truncation.rs; transformers'
 * BertTokenizerFast for the vocab.txt route.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <utf8proc.h>

#include "err.h"
#include "fsutil.h"
#include "json.h"
#include "model.h"
#include "tokenizer.h"
#include "unicode.h"

void ctk_tok_scratch_free(struct ctk_tok_scratch *s)
{
    ctk_wp_scratch_free(&s->wp);
    free(s->norm.s);
    ctk_ids_free(&s->b);
    memset(s, 0, sizeof *s);
}

void ctk_tokenizer_free(struct ctk_tokenizer *t)
{
    ctk_wordpiece_free(&t->wp);
    for (int i = 0; i < t->nadded; i++)
        free(t->added[i].content);
    free(t->added);
    free(t->source);
    memset(t, 0, sizeof *t);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void add_token(struct ctk_tokenizer *t, const char *content, size_t len, int32_t id,
                      int single_word, int lstrip, int rstrip, int normalized, int special)
{
    t->added = xreallocarray(t->added, (size_t)t->nadded + 1, sizeof *t->added);
    struct ctk_added_token *a = &t->added[t->nadded++];
    a->content = xmalloc(len + 1);
    memcpy(a->content, content, len);
    a->content[len] = 0;
    a->len = len;
    a->id = id;
    a->single_word = single_word, a->lstrip = lstrip, a->rstrip = rstrip;
    a->normalized = normalized, a->special = special;
}

/* After the added tokens are known: the normalized ones are matched in their
 * normalized form (the normalizer applied to their content, as Rust does). */
static void finish_added(struct ctk_tokenizer *t)
{
    struct ctk_wp_scratch sc = {0};
    for (int i = 0; i < t->nadded; i++) {
        struct ctk_added_token *a = &t->added[i];
        if (a->len == 0)
            continue;
        if (!a->normalized) {
            t->has_raw_added = 1;
            unsigned char c = (unsigned char)a->content[0];
            t->first_raw[c >> 3] |= (unsigned char)(1u << (c & 7));
        } else {
            t->has_norm_added = 1;
            if (t->has_normalizer) {
                struct ctk_text out = {0};
                size_t cap = 0, len;
                unsigned char *clean = NULL;
                ctk_utf8_sanitize((const unsigned char *)a->content, a->len, &clean, &cap, &len);
                ctk_bert_normalize(&t->norm, &sc, clean, len, &out);
                free(clean);
                free(a->content);
                a->content = xmalloc(out.n + 1);
                memcpy(a->content, out.s, out.n);
                a->content[out.n] = 0;
                a->len = out.n;
                free(out.s);
            }
        }
    }
    ctk_wp_scratch_free(&sc);
}

/* --- tokenizer.json ------------------------------------------------------------ */

/* Refuse any key of obj not in the NULL-terminated list ok. */
static int only_keys(const json_t *obj, const char *what, const char *const *ok,
                     const char *path, struct ctk_err *e)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int known = 0;
        for (int i = 0; ok[i]; i++)
            if (strcmp(key, ok[i]) == 0)
                known = 1;
        if (!known)
            return ctk_err_set(e, "%s: %s.%s is not supported by ctk-tok (it reads BERT/MPNet "
                               "WordPiece tokenizers); use a model whose tokenizer ctk supports",
                               path, what, key);
    }
    return 0;
}

static int parse_normalizer(struct ctk_tokenizer *t, const json_t *n, const char *path,
                            struct ctk_err *e)
{
    if (!n || json_is_null(n))
        return ctk_err_set(e, "%s: \"normalizer\" is null; ctk-tok needs a BertNormalizer", path);
    const char *type;
    if (!json_is_object(n) || ctk_json_get_str(n, "type", NULL, &type, "normalizer", e) < 0)
        return ctk_err_set(e, "%s: \"normalizer\" must be an object", path);
    if (!type || strcmp(type, "BertNormalizer") != 0)
        return ctk_err_set(e, "%s: normalizer.type \"%s\" is not supported (only BertNormalizer)",
                           path, type ? type : "(none)");
    static const char *const ok[] = {"type", "clean_text", "handle_chinese_chars",
                                     "strip_accents", "lowercase", NULL};
    if (only_keys(n, "normalizer", ok, path, e) < 0)
        return -1;
    int lower, strip;
    if (ctk_json_get_bool(n, "clean_text", 1, &t->norm.clean_text, "normalizer", e) < 0 ||
        ctk_json_get_bool(n, "handle_chinese_chars", 1, &t->norm.chinese, "normalizer", e) < 0 ||
        ctk_json_get_bool(n, "lowercase", 1, &lower, "normalizer", e) < 0 ||
        ctk_json_get_bool(n, "strip_accents", -1, &strip, "normalizer", e) < 0)
        return -1;
    t->norm.lowercase = lower;
    t->norm.strip_accents = strip < 0 ? lower : strip; /* null: follow lowercase */
    t->has_normalizer = 1;
    return 0;
}

static int parse_special(const json_t *sp, const char *name, struct ctk_tpl_item *it,
                         const char *path, struct ctk_err *e)
{
    const json_t *tok = sp ? json_object_get(sp, name) : NULL;
    const json_t *ids = tok ? json_object_get(tok, "ids") : NULL;
    if (!json_is_array(ids) || json_array_size(ids) < 1 || json_array_size(ids) > 8)
        return ctk_err_set(e, "%s: post_processor.special_tokens has no ids for \"%s\"", path,
                           name);
    it->nids = (int)json_array_size(ids);
    for (int k = 0; k < it->nids; k++) {
        const json_t *v = json_array_get(ids, (size_t)k);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
            return ctk_err_set(e, "%s: bad id for special token \"%s\"", path, name);
        it->ids[k] = (int32_t)json_integer_value(v);
    }
    return 0;
}

static int parse_template(const json_t *list, const json_t *sp, struct ctk_template *tp,
                          const char *what, const char *path, struct ctk_err *e)
{
    if (!json_is_array(list) || json_array_size(list) > 16)
        return ctk_err_set(e, "%s: post_processor.%s must be a list of at most 16 items", path,
                           what);
    tp->n = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *item = json_array_get(list, i);
        struct ctk_tpl_item *it = &tp->items[tp->n++];
        const json_t *s = json_object_get(item, "SpecialToken");
        const json_t *q = json_object_get(item, "Sequence");
        const json_t *body = s ? s : q;
        const char *id;
        int64_t type_id;
        if (!body || json_object_size(item) != 1 ||
            ctk_json_get_str(body, "id", NULL, &id, "post_processor", e) < 0 || !id ||
            ctk_json_get_int(body, "type_id", 0, &type_id, "post_processor", e) < 0)
            return ctk_err_set(e, "%s: post_processor.%s item %zu is neither SpecialToken nor "
                               "Sequence", path, what, i);
        it->type_id = (int)type_id;
        if (s) {
            it->seq = -1;
            if (parse_special(sp, id, it, path, e) < 0)
                return -1;
        } else if (strcmp(id, "A") == 0) {
            it->seq = 0;
        } else if (strcmp(id, "B") == 0) {
            it->seq = 1;
        } else {
            return ctk_err_set(e, "%s: post_processor.%s: unknown sequence \"%s\"", path, what, id);
        }
    }
    return 0;
}

/* ["[SEP]", 102] of BertProcessing/RobertaProcessing. */
static int parse_pair_token(const json_t *v, struct ctk_tpl_item *it, const char *what,
                            const char *path, struct ctk_err *e)
{
    const json_t *id = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(id) ||
        json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX)
        return ctk_err_set(e, "%s: post_processor.%s must be [\"token\", id]", path, what);
    it->seq = -1;
    it->nids = 1;
    it->ids[0] = (int32_t)json_integer_value(id);
    it->type_id = 0;
    return 0;
}

static void make_template(struct ctk_tokenizer *t, struct ctk_tpl_item cls,
                          struct ctk_tpl_item sep, int roberta)
{
    struct ctk_tpl_item a = {.seq = 0}, b = {.seq = 1, .type_id = roberta ? 0 : 1};
    struct ctk_tpl_item sep1 = sep;
    sep1.type_id = roberta ? 0 : 1;
    t->single.n = 0;
    t->single.items[t->single.n++] = cls;
    t->single.items[t->single.n++] = a;
    t->single.items[t->single.n++] = sep;
    t->pair = t->single;
    if (roberta)
        t->pair.items[t->pair.n++] = sep;
    t->pair.items[t->pair.n++] = b;
    t->pair.items[t->pair.n++] = sep1;
}

static int parse_post(struct ctk_tokenizer *t, const json_t *p, const char *path,
                      struct ctk_err *e)
{
    if (!p || json_is_null(p)) {
        t->has_post = 0;
        return 0;
    }
    const char *type = NULL;
    if (!json_is_object(p) || ctk_json_get_str(p, "type", NULL, &type, "post_processor", e) < 0 ||
        !type)
        return ctk_err_set(e, "%s: \"post_processor\" must be an object with a type", path);
    t->has_post = 1;
    if (strcmp(type, "TemplateProcessing") == 0) {
        static const char *const ok[] = {"type", "single", "pair", "special_tokens", NULL};
        if (only_keys(p, "post_processor", ok, path, e) < 0)
            return -1;
        const json_t *sp = json_object_get(p, "special_tokens");
        if (parse_template(json_object_get(p, "single"), sp, &t->single, "single", path, e) < 0 ||
            parse_template(json_object_get(p, "pair"), sp, &t->pair, "pair", path, e) < 0)
            return -1;
        return 0;
    }
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        int roberta = type[0] == 'R';
        static const char *const okb[] = {"type", "sep", "cls", NULL};
        static const char *const okr[] = {"type", "sep", "cls", "trim_offsets",
                                          "add_prefix_space", NULL};
        if (only_keys(p, "post_processor", roberta ? okr : okb, path, e) < 0)
            return -1;
        struct ctk_tpl_item cls, sep;
        if (parse_pair_token(json_object_get(p, "cls"), &cls, "cls", path, e) < 0 ||
            parse_pair_token(json_object_get(p, "sep"), &sep, "sep", path, e) < 0)
            return -1;
        make_template(t, cls, sep, roberta);
        t->zero_type_ids = roberta;
        return 0;
    }
    return ctk_err_set(e, "%s: post_processor.type \"%s\" is not supported (TemplateProcessing, "
                       "BertProcessing, RobertaProcessing)", path, type);
}

static int parse_model(struct ctk_tokenizer *t, const json_t *m, const char *path,
                       struct ctk_err *e)
{
    const char *type, *unk, *prefix;
    int64_t maxc;
    if (!json_is_object(m))
        return ctk_err_set(e, "%s: \"model\" must be an object", path);
    if (ctk_json_get_str(m, "type", "WordPiece", &type, "model", e) < 0)
        return -1;
    if (strcmp(type, "WordPiece") != 0)
        return ctk_err_set(e, "%s: model.type \"%s\" is not supported (only WordPiece)", path,
                           type);
    static const char *const ok[] = {"type", "unk_token", "continuing_subword_prefix",
                                     "max_input_chars_per_word", "vocab", NULL};
    if (only_keys(m, "model", ok, path, e) < 0)
        return -1;
    if (ctk_json_get_str(m, "unk_token", "[UNK]", &unk, "model", e) < 0 ||
        ctk_json_get_str(m, "continuing_subword_prefix", "##", &prefix, "model", e) < 0 ||
        ctk_json_get_int(m, "max_input_chars_per_word", 100, &maxc, "model", e) < 0)
        return -1;
    if (maxc < 0 || maxc > INT32_MAX)
        return ctk_err_set(e, "%s: model.max_input_chars_per_word %lld out of range", path,
                           (long long)maxc);
    const json_t *vocab = json_object_get(m, "vocab");
    if (!json_is_object(vocab) || json_object_size(vocab) == 0)
        return ctk_err_set(e, "%s: model.vocab must be a non-empty object", path);
    ctk_wordpiece_init(&t->wp, unk, prefix, (int)maxc);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= (1 << 28))
            return ctk_err_set(e, "%s: model.vocab[\"%s\"] is not a valid id", path, key);
        ctk_wordpiece_add(&t->wp, key, strlen(key), (int32_t)json_integer_value(v));
    }
    if (ctk_wordpiece_finish(&t->wp) < 0)
        return ctk_err_set(e, "%s: model.unk_token \"%s\" is not in model.vocab", path, unk);
    return 0;
}

static int parse_added(struct ctk_tokenizer *t, const json_t *list, const char *path,
                       struct ctk_err *e)
{
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return ctk_err_set(e, "%s: \"added_tokens\" must be a list", path);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *a = json_array_get(list, i);
        static const char *const ok[] = {"id", "content", "single_word", "lstrip", "rstrip",
                                         "normalized", "special", NULL};
        if (!json_is_object(a) || only_keys(a, "added_tokens[]", ok, path, e) < 0)
            return ctk_err_set(e, "%s: added_tokens[%zu] is not a token object", path, i);
        const json_t *c = json_object_get(a, "content");
        int64_t id;
        int sw, ls, rs, nm, sp;
        if (!json_is_string(c) || ctk_json_get_int(a, "id", -1, &id, "added_tokens", e) < 0 ||
            id < 0 || id >= (1 << 28))
            return ctk_err_set(e, "%s: added_tokens[%zu] needs a content and an id", path, i);
        if (ctk_json_get_bool(a, "single_word", 0, &sw, "added_tokens", e) < 0 ||
            ctk_json_get_bool(a, "lstrip", 0, &ls, "added_tokens", e) < 0 ||
            ctk_json_get_bool(a, "rstrip", 0, &rs, "added_tokens", e) < 0 ||
            ctk_json_get_bool(a, "special", 0, &sp, "added_tokens", e) < 0 ||
            ctk_json_get_bool(a, "normalized", !sp, &nm, "added_tokens", e) < 0)
            return -1;
        add_token(t, json_string_value(c), json_string_length(c), (int32_t)id, sw, ls, rs, nm, sp);
    }
    return 0;
}

int ctk_tokenizer_load_json(struct ctk_tokenizer *t, const char *path, struct ctk_err *e)
{
    memset(t, 0, sizeof *t);
    t->source = xstrdup(path);
    json_t *j = ctk_json_load_file(path, e);
    if (!j)
        return -1;
    int rc = -1;
    static const char *const ok[] = {"version", "truncation", "padding", "added_tokens",
                                     "normalizer", "pre_tokenizer", "post_processor",
                                     "decoder", "model", NULL};
    if (!json_is_object(j)) {
        ctk_err_set(e, "%s: not a tokenizer.json (not a JSON object)", path);
        goto out;
    }
    if (only_keys(j, "tokenizer", ok, path, e) < 0)
        goto out;
    const json_t *pre = json_object_get(j, "pre_tokenizer");
    const char *ptype = NULL;
    if (!json_is_object(pre) ||
        ctk_json_get_str(pre, "type", NULL, &ptype, "pre_tokenizer", e) < 0 || !ptype ||
        strcmp(ptype, "BertPreTokenizer") != 0 || json_object_size(pre) != 1) {
        ctk_err_set(e, "%s: pre_tokenizer %s is not supported (only {\"type\": "
                    "\"BertPreTokenizer\"})", path, ptype ? ptype : "(none)");
        goto out;
    }
    if (parse_normalizer(t, json_object_get(j, "normalizer"), path, e) < 0 ||
        parse_model(t, json_object_get(j, "model"), path, e) < 0 ||
        parse_added(t, json_object_get(j, "added_tokens"), path, e) < 0 ||
        parse_post(t, json_object_get(j, "post_processor"), path, e) < 0)
        goto out;
    finish_added(t);
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* --- vocab.txt + tokenizer_config.json -------------------------------------------- */

/* Rust's str::trim_end: drop trailing White_Space characters. */
static size_t trim_end(const char *s, size_t n)
{
    while (n > 0) {
        size_t k = n - 1;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        uint32_t cp;
        ctk_utf8_next((const unsigned char *)s + k, n - k, &cp);
        if (!(ctk_uc_class(cp) & CTK_UC_SPACE))
            break;
        n = k;
    }
    return n;
}

static int load_vocab_txt(struct ctk_tokenizer *t, const char *dir, struct ctk_err *e)
{
    char *vpath = ctk_path_join(dir, "vocab.txt");
    char *cpath = ctk_path_join(dir, "tokenizer_config.json");
    json_t *cfg = NULL;
    size_t len;
    char *buf = NULL;
    int rc = -1;
    t->source = xstrdup(vpath);
    int lower = 1, strip = -1, chinese = 1, basic = 1;
    const char *names[5][2] = {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"},
                               {"pad_token", "[PAD]"}, {"cls_token", "[CLS]"},
                               {"mask_token", "[MASK]"}};
    const char *tok[5];
    for (int i = 0; i < 5; i++)
        tok[i] = names[i][1];
    if (file_exists(cpath)) {
        if (!(cfg = ctk_json_load_file(cpath, e)))
            goto out;
        if (ctk_json_get_bool(cfg, "do_lower_case", 1, &lower, cpath, e) < 0 ||
            ctk_json_get_bool(cfg, "strip_accents", -1, &strip, cpath, e) < 0 ||
            ctk_json_get_bool(cfg, "tokenize_chinese_chars", 1, &chinese, cpath, e) < 0 ||
            ctk_json_get_bool(cfg, "do_basic_tokenize", 1, &basic, cpath, e) < 0)
            goto out;
        if (!basic) {
            ctk_err_set(e, "%s: do_basic_tokenize false is not supported", cpath);
            goto out;
        }
        for (int i = 0; i < 5; i++) {
            const json_t *v = json_object_get(cfg, names[i][0]);
            if (json_is_object(v)) /* AddedToken serialised as {"content": ...} */
                v = json_object_get(v, "content");
            if (json_is_string(v))
                tok[i] = json_string_value(v);
        }
    }
    t->norm = (struct ctk_bert_norm){1, chinese, strip < 0 ? lower : strip, lower};
    t->has_normalizer = 1;
    if (!(buf = ctk_read_file(vpath, &len, e)))
        goto out;
    ctk_wordpiece_init(&t->wp, tok[0], "##", 100);
    int32_t id = 0;
    for (size_t i = 0; i < len; id++) {
        size_t j = i;
        while (j < len && buf[j] != '\n')
            j++;
        if (ctk_utf8_check((const unsigned char *)buf + i, j - i) != j - i) {
            ctk_err_set(e, "%s:%d: invalid UTF-8", vpath, id + 1);
            goto out;
        }
        ctk_wordpiece_add(&t->wp, buf + i, trim_end(buf + i, j - i), id);
        i = j + 1;
    }
    if (ctk_wordpiece_finish(&t->wp) < 0) {
        ctk_err_set(e, "%s: the unknown token \"%s\" is not in the vocabulary", vpath, tok[0]);
        goto out;
    }
    /* The special tokens, as transformers adds them (special, not normalized);
     * one missing from the vocabulary gets the next id, as in Rust. */
    int32_t next = (int32_t)t->wp.whole.count, ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = ctk_strmap_get(&t->wp.whole, tok[i], strlen(tok[i]));
        if (ids[i] < 0)
            ids[i] = next++;
        add_token(t, tok[i], strlen(tok[i]), ids[i], 0, 0, 0, 0, 1);
    }
    struct ctk_tpl_item cls = {.seq = -1, .ids = {ids[3]}, .nids = 1};
    struct ctk_tpl_item sep = {.seq = -1, .ids = {ids[1]}, .nids = 1};
    make_template(t, cls, sep, 0);
    t->has_post = 1;
    finish_added(t);
    rc = 0;
out:
    if (cfg)
        json_decref(cfg);
    free(buf);
    free(vpath);
    free(cpath);
    return rc;
}

/* max_seq_length of sentence_bert_config.json, else model_max_length of
 * tokenizer_config.json when it is a real limit (transformers writes 1e30
 * for "none"), else the positions of config.json (max_position_embeddings,
 * less the padding_idx + 1 offset of RoBERTa-style position ids), else 0. */
static int model_max_length(const char *dir, int64_t *out, struct ctk_err *e)
{
    *out = 0;
    const char *files[3] = {"sentence_bert_config.json", "tokenizer_config.json", "config.json"};
    const char *keys[3] = {"max_seq_length", "model_max_length", "max_position_embeddings"};
    for (int i = 0; i < 3 && *out == 0; i++) {
        char *p = ctk_path_join(dir, files[i]);
        if (file_exists(p)) {
            json_t *j = ctk_json_load_file(p, e);
            if (!j) {
                free(p);
                return -1;
            }
            const json_t *v = json_object_get(j, keys[i]);
            if (json_is_integer(v) && json_integer_value(v) > 0 &&
                json_integer_value(v) < 1000000)
                *out = json_integer_value(v);
            const json_t *mt = json_object_get(j, "model_type");
            if (i == 2 && *out > 2 && json_is_string(mt) &&
                (strcmp(json_string_value(mt), "mpnet") == 0 ||
                 strcmp(json_string_value(mt), "roberta") == 0 ||
                 strcmp(json_string_value(mt), "xlm-roberta") == 0))
                *out -= 2;
            json_decref(j);
        }
        free(p);
    }
    return 0;
}

int ctk_tokenizer_load(struct ctk_tokenizer *t, const char *dir, struct ctk_err *e)
{
    char *tj = ctk_path_join(dir, "tokenizer.json");
    char *vt = ctk_path_join(dir, "vocab.txt");
    char *sub = NULL;
    int rc;
    if (!file_exists(tj) && !file_exists(vt)) {
        /* the older sentence-transformers layout keeps them in 0_Transformer */
        sub = ctk_path_join(dir, "0_Transformer");
        free(tj);
        free(vt);
        tj = ctk_path_join(sub, "tokenizer.json");
        vt = ctk_path_join(sub, "vocab.txt");
        if (file_exists(tj) || file_exists(vt))
            dir = sub;
    }
    if (file_exists(tj)) {
        rc = ctk_tokenizer_load_json(t, tj, e);
    } else if (file_exists(vt)) {
        memset(t, 0, sizeof *t);
        rc = load_vocab_txt(t, dir, e);
    } else {
        memset(t, 0, sizeof *t);
        rc = ctk_err_set(e, "%s: no tokenizer.json or vocab.txt in this model folder", dir);
    }
    free(tj);
    free(vt);
    if (rc == 0)
        rc = model_max_length(dir, &t->max_length, e);
    free(sub);
    if (rc < 0)
        ctk_tokenizer_free(t);
    return rc;
}

/* --- encoding ------------------------------------------------------------------ */

/* regex \w of the character ending before s+i / starting at s+i. */
static int is_word_cp(uint32_t cp)
{
    if (cp == 0x200C || cp == 0x200D)
        return 1;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_ME) ||
           c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_PC;
}

static uint32_t cp_before(const unsigned char *s, size_t i)
{
    size_t k = i - 1;
    while (k > 0 && (s[k] & 0xC0) == 0x80)
        k--;
    uint32_t cp;
    ctk_utf8_next(s + k, i - k, &cp);
    return cp;
}

/*
 * The next added token (of the raw or normalized kind) in s[from, n): the
 * leftmost match, longest among those starting there. Returns its index and
 * sets *at, or -1.
 */
static int next_match(const struct ctk_tokenizer *t, int normalized, const unsigned char *s,
                      size_t from, size_t n, size_t *at)
{
    for (size_t i = from; i < n; i++) {
        if (!normalized && !(t->first_raw[s[i] >> 3] & (1u << (s[i] & 7))))
            continue;
        int best = -1;
        for (int k = 0; k < t->nadded; k++) {
            const struct ctk_added_token *a = &t->added[k];
            if (a->normalized != normalized || a->len == 0 || a->len > n - i ||
                memcmp(s + i, a->content, a->len) != 0)
                continue;
            if (best < 0 || a->len > t->added[best].len)
                best = k;
        }
        if (best >= 0) {
            *at = i;
            return best;
        }
    }
    return -1;
}

typedef void (*piece_fn)(const struct ctk_tokenizer *t, struct ctk_tok_scratch *sc,
                         const unsigned char *s, size_t n, struct ctk_ids *ids);

/* Split s on added tokens of one kind (find_matches); tokens go to ids, the
 * text between them to fn. */
static void split_added(const struct ctk_tokenizer *t, struct ctk_tok_scratch *sc, int normalized,
                        const unsigned char *s, size_t n, struct ctk_ids *ids, piece_fn fn)
{
    size_t done = 0, from = 0, at;
    int k;
    while (from < n && (k = next_match(t, normalized, s, from, n, &at)) >= 0) {
        const struct ctk_added_token *a = &t->added[k];
        size_t start = at, stop = at + a->len;
        from = stop;
        if (a->single_word) {
            int left = start == 0 || !is_word_cp(cp_before(s, start));
            uint32_t nx = 0;
            if (stop < n)
                ctk_utf8_next(s + stop, n - stop, &nx);
            int right = stop == n || !is_word_cp(nx);
            if (!left || !right)
                continue;
        }
        if (a->lstrip) {
            while (start > done && (ctk_uc_class(cp_before(s, start)) & CTK_UC_SPACE)) {
                size_t k2 = start - 1;
                while (k2 > 0 && (s[k2] & 0xC0) == 0x80)
                    k2--;
                start = k2;
            }
        }
        if (a->rstrip) {
            while (stop < n) {
                uint32_t cp;
                size_t l = ctk_utf8_next(s + stop, n - stop, &cp);
                if (!(ctk_uc_class(cp) & CTK_UC_SPACE))
                    break;
                stop += l;
            }
            from = stop;
        }
        if (start > done)
            fn(t, sc, s + done, start - done, ids);
        ctk_ids_push(ids, a->id);
        done = stop;
    }
    if (done < n)
        fn(t, sc, s + done, n - done, ids);
}

static void pretok_piece(const struct ctk_tokenizer *t, struct ctk_tok_scratch *sc,
                         const unsigned char *s, size_t n, struct ctk_ids *ids)
{
    ctk_bert_pretok_wordpiece(&t->wp, s, n, ids);
}

static void normalize_piece(const struct ctk_tokenizer *t, struct ctk_tok_scratch *sc,
                            const unsigned char *s, size_t n, struct ctk_ids *ids)
{
    sc->norm.n = 0;
    if (t->has_normalizer)
        ctk_bert_normalize(&t->norm, &sc->wp, s, n, &sc->norm);
    else {
        if (sc->norm.cap < n) {
            sc->norm.cap = n;
            sc->norm.s = xrealloc(sc->norm.s, n);
        }
        memcpy(sc->norm.s, s, n);
        sc->norm.n = n;
    }
    if (t->has_norm_added)
        split_added(t, sc, 1, sc->norm.s, sc->norm.n, ids, pretok_piece);
    else
        ctk_bert_pretok_wordpiece(&t->wp, sc->norm.s, sc->norm.n, ids);
}

void ctk_tokenizer_encode(const struct ctk_tokenizer *t, struct ctk_tok_scratch *sc,
                          const unsigned char *s, size_t n, struct ctk_ids *ids)
{
    if (t->has_raw_added)
        split_added(t, sc, 0, s, n, ids, normalize_piece);
    else
        normalize_piece(t, sc, s, n, ids);
}

int ctk_tokenizer_added(const struct ctk_tokenizer *t, int pair)
{
    if (!t->has_post)
        return 0;
    const struct ctk_template *tp = pair ? &t->pair : &t->single;
    int n = 0;
    for (int i = 0; i < tp->n; i++)
        if (tp->items[i].seq < 0)
            n += tp->items[i].nids;
    return n;
}

int ctk_tokenizer_post(const struct ctk_tokenizer *t, const int32_t *a, size_t na,
                       const int32_t *b, size_t nb, int add_special, int64_t max_length,
                       struct ctk_ids *ids, struct ctk_ids *type_ids, struct ctk_err *e)
{
    int pair = b != NULL;
    ids->n = 0;
    if (type_ids)
        type_ids->n = 0;
    /* 1. truncation (truncate_encodings, LongestFirst, direction right) */
    if (max_length > 0) {
        int64_t added = add_special ? ctk_tokenizer_added(t, pair) : 0;
        if (max_length < added)
            return ctk_err_set(e, "maximum length %lld cannot hold the %lld special tokens",
                               (long long)max_length, (long long)added);
        size_t m = (size_t)(max_length - added);
        if (na + nb > m) {
            if (!pair) {
                na = m;
            } else {
                size_t n1 = na, n2 = nb;
                int swap = n1 > n2;
                if (swap) {
                    size_t x = n1;
                    n1 = n2, n2 = x;
                }
                if (n1 > m)
                    n2 = n1;
                else
                    n2 = n1 > m - n1 ? n1 : m - n1;
                if (n1 + n2 > m) {
                    n1 = m / 2;
                    n2 = n1 + m % 2;
                }
                if (swap) {
                    size_t x = n1;
                    n1 = n2, n2 = x;
                }
                if (na > n1)
                    na = n1;
                if (nb > n2)
                    nb = n2;
            }
        }
    }
    /* 2. the template (or plain concatenation without special tokens) */
    const struct ctk_template *tp = pair ? &t->pair : &t->single;
    if (!t->has_post || !add_special) {
        /* Without special tokens the template still gives each sequence its
         * type id (TemplateProcessing); BERT-style: A 0, B 1; RoBERTa: all 0. */
        int ta = 0, tb = t->zero_type_ids ? 0 : 1;
        if (t->has_post && !t->zero_type_ids)
            for (int i = 0; i < tp->n; i++) {
                if (tp->items[i].seq == 0)
                    ta = tp->items[i].type_id;
                if (tp->items[i].seq == 1)
                    tb = tp->items[i].type_id;
            }
        for (size_t i = 0; i < na; i++) {
            ctk_ids_push(ids, a[i]);
            if (type_ids)
                ctk_ids_push(type_ids, ta);
        }
        for (size_t i = 0; i < nb; i++) {
            ctk_ids_push(ids, b[i]);
            if (type_ids)
                ctk_ids_push(type_ids, tb);
        }
        return 0;
    }
    for (int i = 0; i < tp->n; i++) {
        const struct ctk_tpl_item *it = &tp->items[i];
        const int32_t *src = it->seq < 0 ? it->ids : it->seq == 0 ? a : b;
        size_t cnt = it->seq < 0 ? (size_t)it->nids : it->seq == 0 ? na : nb;
        for (size_t k = 0; k < cnt; k++) {
            ctk_ids_push(ids, src[k]);
            if (type_ids)
                ctk_ids_push(type_ids, t->zero_type_ids ? 0 : it->type_id);
        }
    }
    return 0;
}

const char *ctk_tokenizer_token(const struct ctk_tokenizer *t, int32_t id)
{
    for (int i = 0; i < t->nadded; i++)
        if (t->added[i].id == id && !t->added[i].normalized)
            return t->added[i].content;
    return ctk_wordpiece_token(&t->wp, id);
}

char *ctk_tokenizer_identity(const char *dir)
{
    struct ctk_model m;
    struct ctk_err e;
    if (ctk_model_open(&m, dir, 0, &e) == 0) {
        char *id = xstrdup(m.identity);
        ctk_model_close(&m);
        return id;
    }
    char *real = realpath(dir, NULL);
    const char *p = real ? real : dir;
    size_t n = strlen(p), k;
    while (n > 1 && p[n - 1] == '/')
        n--;
    for (k = n; k > 0 && p[k - 1] != '/'; k--)
        ;
    char *id = xmalloc(n - k + 1);
    memcpy(id, p + k, n - k);
    id[n - k] = 0;
    free(real);
    return id;
}
