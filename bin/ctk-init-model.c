/*
 * ctk-init-model -- write a randomly initialised model folder in the
 * sentence-transformers layout, initialised as Hugging Face initialises
 * BertModel / MPNetModel (_init_weights): Linear and Embedding weights
 * drawn from normal(0, initializer_range), the padding_idx row of an
 * Embedding zeroed, biases 0, LayerNorm weight 1 and bias 0.
 *
 * The numbers come from lib/rng.h (xoshiro256** seeded with --seed), drawn
 * tensor by tensor in the order the folder's model.safetensors lists them,
 * row-major, so the same seed gives the same bytes on every machine.
 */
#include "config.h"
#include "err.h"
#include "opts.h"
#include "fsutil.h"
#include "json.h"
#include "model.h"
#include "rng.h"
#include "safetensors.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The shapes a preset gives; any of them can be overridden on the command line. */
struct preset {
    const char *name;
    const char *arch;               /* "bert" or "mpnet" */
    int64_t layers, hidden, heads, intermediate, max_positions, type_vocab;
    int64_t vocab_size;             /* 0: the vocabulary file's size */
    int64_t max_seq_length;
};

static const struct preset presets[] = {
    {"tiny", "bert", 2, 32, 4, 64, 512, 2, 0, 512},
    {"minilm-l6", "bert", 6, 384, 12, 1536, 512, 2, 30522, 256},
    {"minilm-l12", "bert", 12, 384, 12, 1536, 512, 2, 30522, 256},
    {"bert-base", "bert", 12, 768, 12, 3072, 512, 2, 30522, 512},
    {"tiny-mpnet", "mpnet", 2, 32, 4, 64, 514, 0, 0, 512},
    {"mpnet-base", "mpnet", 12, 768, 12, 3072, 514, 0, 30527, 384},
};

struct opts {
    const struct preset *p;
    int64_t layers, hidden, heads, intermediate, vocab_size, max_positions, max_seq_length;
    const char *vocab;              /* vocab.txt (bert) or tokenizer.json (mpnet) */
    uint64_t seed;
    const char *pooling;
    int normalize;
    enum ctk_dtype dtype;
    int cased;                      /* -1: guess from the vocabulary */
    const char *out;
    int force;
};

static void usage(void)
{
    printf("Usage: ctk-init-model [OPTION]... -o DIR\n"
           "Write a randomly initialised model folder (sentence-transformers layout).\n\n"
           "  -p, --preset NAME        tiny (default), minilm-l6, minilm-l12, bert-base,\n"
           "                           tiny-mpnet, mpnet-base\n"
           "  -o, --output DIR         the folder to write (created; must be empty or absent)\n"
           "      --force              replace a non-empty DIR\n"
           "      --layers N           number of transformer layers\n"
           "      --hidden N           hidden size\n"
           "      --heads N            attention heads (must divide the hidden size)\n"
           "      --intermediate N     feed-forward size\n"
           "      --vocab-size N       vocabulary size (must match the vocabulary file)\n"
           "      --max-positions N    position embeddings\n"
           "      --max-seq-length N   sentence_bert_config.json's max_seq_length\n"
           "      --vocab FILE         vocab.txt (BERT; default: the installed\n"
           "                           bert-base-uncased vocabulary) or tokenizer.json (MPNet)\n"
           "      --cased, --uncased   whether the tokenizer lower-cases (default: guessed\n"
           "                           from the vocabulary)\n"
           "  -s, --seed N             random seed (default 0)\n"
           "      --pooling MODE       mean (default), cls, max, mean_sqrt_len_tokens\n"
           "      --no-normalize       no Normalize module after the pooling\n"
           "      --dtype TYPE         f32 (default), f16, bf16\n"
           "  -q, --quiet              no progress messages\n"
           "      --help               show this help and exit\n"
           "      --version            show the version and exit\n");
    exit(CTK_EXIT_OK);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { O_FORCE = 256, O_LAYERS, O_HIDDEN, O_HEADS, O_INTER, O_VSIZE, O_MAXPOS, O_MSL,
           O_VOCAB, O_CASED, O_UNCASED, O_POOL, O_NONORM, O_DTYPE, O_HELP, O_VERSION };
    static const struct option lo[] = {
        {"preset", required_argument, 0, 'p'},    {"output", required_argument, 0, 'o'},
        {"force", no_argument, 0, O_FORCE},       {"layers", required_argument, 0, O_LAYERS},
        {"hidden", required_argument, 0, O_HIDDEN}, {"heads", required_argument, 0, O_HEADS},
        {"intermediate", required_argument, 0, O_INTER},
        {"vocab-size", required_argument, 0, O_VSIZE},
        {"max-positions", required_argument, 0, O_MAXPOS},
        {"max-seq-length", required_argument, 0, O_MSL},
        {"vocab", required_argument, 0, O_VOCAB}, {"cased", no_argument, 0, O_CASED},
        {"uncased", no_argument, 0, O_UNCASED},   {"seed", required_argument, 0, 's'},
        {"pooling", required_argument, 0, O_POOL}, {"no-normalize", no_argument, 0, O_NONORM},
        {"dtype", required_argument, 0, O_DTYPE}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, O_HELP},         {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0},
    };
    const char *preset = "tiny";
    memset(o, 0, sizeof *o);
    o->pooling = "mean";
    o->normalize = 1;
    o->dtype = CTK_F32;
    o->cased = -1;
    int c;
    while ((c = getopt_long(argc, argv, "p:o:s:q", lo, NULL)) != -1) {
        switch (c) {
        case 'p': preset = optarg; break;
        case 'o': o->out = optarg; break;
        case O_FORCE: o->force = 1; break;
        case O_LAYERS: o->layers = ctk_opt_int64("--layers", optarg, 1, 1024); break;
        case O_HIDDEN: o->hidden = ctk_opt_int64("--hidden", optarg, 1, 1 << 16); break;
        case O_HEADS: o->heads = ctk_opt_int64("--heads", optarg, 1, 1024); break;
        case O_INTER: o->intermediate = ctk_opt_int64("--intermediate", optarg, 1, 1 << 20); break;
        case O_VSIZE: o->vocab_size = ctk_opt_int64("--vocab-size", optarg, 1, 1 << 24); break;
        case O_MAXPOS: o->max_positions = ctk_opt_int64("--max-positions", optarg, 1, 1 << 20); break;
        case O_MSL: o->max_seq_length = ctk_opt_int64("--max-seq-length", optarg, 1, 1 << 20); break;
        case O_VOCAB: o->vocab = optarg; break;
        case O_CASED: o->cased = 1; break;
        case O_UNCASED: o->cased = 0; break;
        case 's': {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                ctk_usage("--seed must be a non-negative integer; you gave '%s'", optarg);
            o->seed = v;
            break;
        }
        case O_POOL: o->pooling = optarg; break;
        case O_NONORM: o->normalize = 0; break;
        case O_DTYPE:
            if (strcmp(optarg, "f32") == 0) o->dtype = CTK_F32;
            else if (strcmp(optarg, "f16") == 0) o->dtype = CTK_F16;
            else if (strcmp(optarg, "bf16") == 0) o->dtype = CTK_BF16;
            else ctk_usage("--dtype must be f32, f16 or bf16; you gave '%s'", optarg);
            break;
        case 'q': ctk_set_quiet(1); break;
        case O_HELP: usage(); break;
        case O_VERSION: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (optind < argc) ctk_usage("unexpected argument '%s'", argv[optind]);
    if (!o->out) ctk_usage("no output folder: give -o DIR");
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (strcmp(preset, presets[i].name) == 0) o->p = &presets[i];
    if (!o->p)
        ctk_usage("unknown preset '%s' (tiny, minilm-l6, minilm-l12, bert-base, tiny-mpnet, "
                  "mpnet-base)", preset);
    if (strcmp(o->pooling, "mean") && strcmp(o->pooling, "cls") && strcmp(o->pooling, "max") &&
        strcmp(o->pooling, "mean_sqrt_len_tokens"))
        ctk_usage("--pooling must be mean, cls, max or mean_sqrt_len_tokens; you gave '%s'",
                  o->pooling);
    if (!o->layers) o->layers = o->p->layers;
    if (!o->hidden) o->hidden = o->p->hidden;
    if (!o->heads) o->heads = o->p->heads;
    if (!o->intermediate) o->intermediate = o->p->intermediate;
    if (!o->max_positions) o->max_positions = o->p->max_positions;
    if (o->hidden % o->heads)
        ctk_usage("the hidden size (%lld) must be a multiple of the number of heads (%lld)",
                  (long long)o->hidden, (long long)o->heads);
    int64_t limit = o->max_positions - (strcmp(o->p->arch, "mpnet") == 0 ? 2 : 0);
    if (limit < 1) ctk_usage("--max-positions %lld leaves no room for a token", (long long)o->max_positions);
    if (!o->max_seq_length) o->max_seq_length = o->p->max_seq_length < limit ? o->p->max_seq_length : limit;
    if (o->max_seq_length > limit)
        ctk_usage("--max-seq-length %lld exceeds the %lld positions of the model",
                  (long long)o->max_seq_length, (long long)limit);
}

/*----------------------------------------------------------------------------
 * Vocabulary
 *--------------------------------------------------------------------------*/

struct vocab {
    char *path;
    char *text;                     /* vocab.txt's bytes (BERT) */
    size_t len;
    int64_t size;
    int64_t pad_id;
    int cased;
};

static const char *default_vocab(void)
{
    static char path[4096];
    const char *dir = getenv("CTK_DATA");
    if (!dir || !*dir) dir = CTK_DATADIR;
    snprintf(path, sizeof path, "%s/bert-base-uncased-vocab.txt", dir);
    return path;
}

/* vocab.txt: one token a line; [PAD]'s line is the padding id; cased if capitals are common. */
static void read_vocab_txt(struct vocab *v, const char *path)
{
    struct ctk_err e;
    v->path = xstrdup(path);
    v->text = ctk_read_file(path, &v->len, &e);
    if (!v->text) ctk_die("%s (give a vocab.txt with --vocab)", e.msg);
    if (v->len == 0) ctk_die("%s: empty vocabulary", path);
    if (memchr(v->text, '\0', v->len)) ctk_die("%s: not a vocab.txt (NUL byte)", path);
    int64_t caps = 0;
    v->pad_id = -1;
    char *s = v->text;
    for (int64_t line = 0; *s; line++) {
        char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        if (n && s[n - 1] == '\r') n--;
        if (n == 5 && memcmp(s, "[PAD]", 5) == 0 && v->pad_id < 0) v->pad_id = line;
        if (n && s[0] != '[' && s[0] >= 'A' && s[0] <= 'Z') caps++;
        v->size = line + 1;
        if (!nl) break;
        s = nl + 1;
    }
    if (v->pad_id < 0) v->pad_id = 0;
    v->cased = caps * 100 > v->size;      /* bert-base-cased: ~20%; uncased: none */
}

/* tokenizer.json (MPNet): the size of model.vocab and the id of "<pad>". */
static void read_tokenizer_json(struct vocab *v, const char *path)
{
    struct ctk_err e;
    v->path = xstrdup(path);
    json_t *t = ctk_json_load_file(path, &e);
    if (!t) ctk_die("%s", e.msg);
    json_t *voc = json_object_get(json_object_get(t, "model"), "vocab");
    if (!json_is_object(voc) || json_object_size(voc) == 0)
        ctk_die("%s: no \"model\": {\"vocab\": {...}} (a WordPiece tokenizer.json is needed)", path);
    v->size = (int64_t)json_object_size(voc);
    json_t *pad = json_object_get(voc, "<pad>");
    v->pad_id = json_is_integer(pad) ? json_integer_value(pad) : 1;
    if (v->pad_id < 0 || v->pad_id >= v->size)
        ctk_die("%s: \"<pad>\" has id %lld, outside the vocabulary", path, (long long)v->pad_id);
    v->cased = 0;
    json_decref(t);
}

/*----------------------------------------------------------------------------
 * Weights: the state_dict of BertModel / MPNetModel, in its order
 *--------------------------------------------------------------------------*/

enum init { NORMAL, ZEROS, ONES };

struct wlist {
    struct ctk_st_wtensor *t;
    enum init *init;
    int64_t *pad_row;               /* row to zero after drawing, or -1 */
    size_t n, cap;
    size_t total;                   /* floats in all */
};

static void add(struct wlist *w, enum init init, int64_t pad_row, int ndim, int64_t d0, int64_t d1,
                const char *fmt, ...) CTK_PRINTF(7, 8);

static void add(struct wlist *w, enum init init, int64_t pad_row, int ndim, int64_t d0, int64_t d1,
                const char *fmt, ...)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->t = xreallocarray(w->t, w->cap, sizeof *w->t);
        w->init = xreallocarray(w->init, w->cap, sizeof *w->init);
        w->pad_row = xreallocarray(w->pad_row, w->cap, sizeof *w->pad_row);
    }
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct ctk_st_wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(buf);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->from_f32 = 1;
    w->init[w->n] = init;
    w->pad_row[w->n] = pad_row;
    w->total += (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    w->n++;
}

/* A Linear layer: weight (out, in) normal, bias (out) zero. */
static void linear(struct wlist *w, int64_t out, int64_t in, const char *name)
{
    add(w, NORMAL, -1, 2, out, in, "%s.weight", name);
    add(w, ZEROS, -1, 1, out, 0, "%s.bias", name);
}

static void layernorm(struct wlist *w, int64_t c, const char *name)
{
    add(w, ONES, -1, 1, c, 0, "%s.weight", name);
    add(w, ZEROS, -1, 1, c, 0, "%s.bias", name);
}

static void bert_weights(struct wlist *w, const struct opts *o, const struct vocab *v)
{
    int64_t C = o->hidden, I = o->intermediate;
    char name[128];
    add(w, NORMAL, v->pad_id, 2, o->vocab_size, C, "embeddings.word_embeddings.weight");
    add(w, NORMAL, -1, 2, o->max_positions, C, "embeddings.position_embeddings.weight");
    add(w, NORMAL, -1, 2, o->p->type_vocab, C, "embeddings.token_type_embeddings.weight");
    layernorm(w, C, "embeddings.LayerNorm");
    for (int64_t l = 0; l < o->layers; l++) {
        const char *qkv[] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "encoder.layer.%lld.attention.self.%s", (long long)l, qkv[k]);
            linear(w, C, C, name);
        }
        snprintf(name, sizeof name, "encoder.layer.%lld.attention.output.dense", (long long)l);
        linear(w, C, C, name);
        snprintf(name, sizeof name, "encoder.layer.%lld.attention.output.LayerNorm", (long long)l);
        layernorm(w, C, name);
        snprintf(name, sizeof name, "encoder.layer.%lld.intermediate.dense", (long long)l);
        linear(w, I, C, name);
        snprintf(name, sizeof name, "encoder.layer.%lld.output.dense", (long long)l);
        linear(w, C, I, name);
        snprintf(name, sizeof name, "encoder.layer.%lld.output.LayerNorm", (long long)l);
        layernorm(w, C, name);
    }
    linear(w, C, C, "pooler.dense");
}

/*
 * MPNetModel: no token types; word and position embeddings both have
 * padding_idx = pad_token_id; one relative attention bias table shared by
 * the layers (encoder.relative_attention_bias, an Embedding of 32 buckets
 * by heads).
 */
static void mpnet_weights(struct wlist *w, const struct opts *o, const struct vocab *v)
{
    int64_t C = o->hidden, I = o->intermediate;
    char name[128];
    add(w, NORMAL, v->pad_id, 2, o->vocab_size, C, "embeddings.word_embeddings.weight");
    add(w, NORMAL, v->pad_id, 2, o->max_positions, C, "embeddings.position_embeddings.weight");
    layernorm(w, C, "embeddings.LayerNorm");
    for (int64_t l = 0; l < o->layers; l++) {
        const char *qkvo[] = {"q", "k", "v", "o"};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "encoder.layer.%lld.attention.attn.%s", (long long)l, qkvo[k]);
            linear(w, C, C, name);
        }
        snprintf(name, sizeof name, "encoder.layer.%lld.attention.LayerNorm", (long long)l);
        layernorm(w, C, name);
        snprintf(name, sizeof name, "encoder.layer.%lld.intermediate.dense", (long long)l);
        linear(w, I, C, name);
        snprintf(name, sizeof name, "encoder.layer.%lld.output.dense", (long long)l);
        linear(w, C, I, name);
        snprintf(name, sizeof name, "encoder.layer.%lld.output.LayerNorm", (long long)l);
        layernorm(w, C, name);
    }
    add(w, NORMAL, -1, 2, 32, o->heads, "encoder.relative_attention_bias.weight");
    linear(w, C, C, "pooler.dense");
}

/* One slab for all tensors, filled in list order from one generator. */
static float *init_weights(struct wlist *w, const struct opts *o, double std)
{
    float *slab = xmallocarray(w->total ? w->total : 1, sizeof *slab);
    struct ctk_rng r;
    ctk_rng_seed(&r, o->seed);
    size_t at = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct ctk_st_wtensor *t = &w->t[i];
        size_t n = (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
        float *x = slab + at;
        if (w->init[i] == NORMAL) ctk_rng_fill_normal(&r, x, n, 0.0f, (float)std);
        else for (size_t k = 0; k < n; k++) x[k] = w->init[i] == ONES ? 1.0f : 0.0f;
        if (w->pad_row[i] >= 0)
            memset(x + (size_t)w->pad_row[i] * (size_t)t->shape[1], 0, (size_t)t->shape[1] * sizeof *x);
        t->dtype = o->dtype;
        t->data = x;
        at += n;
        ctk_progress("initialising %zu/%zu tensors", i + 1, w->n);
    }
    ctk_progress_done();
    return slab;
}

/*----------------------------------------------------------------------------
 * Folder files
 *--------------------------------------------------------------------------*/

static void save_json(json_t *v, const char *dir, const char *name)
{
    struct ctk_err e;
    char *path = ctk_path_join(dir, name);
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (!s) ctk_die("%s: cannot serialise JSON", path);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n';
    if (ctk_write_file_atomic(path, s, n + 1, &e) < 0) ctk_die_err(&e);
    free(s);
    free(path);
    json_decref(v);
}

static const char *dtype_torch(enum ctk_dtype t)
{
    return t == CTK_F16 ? "float16" : t == CTK_BF16 ? "bfloat16" : "float32";
}

/* config.json as transformers writes it (keys sorted). */
static json_t *hf_config(const struct opts *o, const struct vocab *v, double std)
{
    int mpnet = strcmp(o->p->arch, "mpnet") == 0;
    json_t *c = json_object();
    json_object_set_new(c, "architectures", json_pack("[s]", mpnet ? "MPNetModel" : "BertModel"));
    json_object_set_new(c, "attention_probs_dropout_prob", json_real(0.1));
    if (mpnet) json_object_set_new(c, "bos_token_id", json_integer(0));
    if (!mpnet) json_object_set_new(c, "classifier_dropout", json_null());
    if (mpnet) json_object_set_new(c, "eos_token_id", json_integer(2));
    json_object_set_new(c, "hidden_act", json_string("gelu"));
    json_object_set_new(c, "hidden_dropout_prob", json_real(0.1));
    json_object_set_new(c, "hidden_size", json_integer(o->hidden));
    json_object_set_new(c, "initializer_range", json_real(std));
    json_object_set_new(c, "intermediate_size", json_integer(o->intermediate));
    json_object_set_new(c, "layer_norm_eps", json_real(mpnet ? 1e-5 : 1e-12));
    json_object_set_new(c, "max_position_embeddings", json_integer(o->max_positions));
    json_object_set_new(c, "model_type", json_string(mpnet ? "mpnet" : "bert"));
    json_object_set_new(c, "num_attention_heads", json_integer(o->heads));
    json_object_set_new(c, "num_hidden_layers", json_integer(o->layers));
    json_object_set_new(c, "pad_token_id", json_integer(v->pad_id));
    if (!mpnet) json_object_set_new(c, "position_embedding_type", json_string("absolute"));
    if (mpnet) json_object_set_new(c, "relative_attention_num_buckets", json_integer(32));
    json_object_set_new(c, "torch_dtype", json_string(dtype_torch(o->dtype)));
    if (!mpnet) json_object_set_new(c, "type_vocab_size", json_integer(o->p->type_vocab));
    if (!mpnet) json_object_set_new(c, "use_cache", json_true());
    json_object_set_new(c, "vocab_size", json_integer(o->vocab_size));
    return c;
}

static json_t *module(int idx, const char *path, const char *type)
{
    char name[16];
    snprintf(name, sizeof name, "%d", idx);
    return json_pack("{s:i, s:s, s:s, s:s}", "idx", idx, "name", name, "path", path, "type", type);
}

static void write_st_files(const struct opts *o, const struct vocab *v, const char *dir)
{
    struct ctk_err e;
    json_t *mods = json_array();
    json_array_append_new(mods, module(0, "", "sentence_transformers.models.Transformer"));
    json_array_append_new(mods, module(1, "1_Pooling", "sentence_transformers.models.Pooling"));
    if (o->normalize)
        json_array_append_new(mods, module(2, "2_Normalize", "sentence_transformers.models.Normalize"));
    save_json(mods, dir, "modules.json");

    char *pool = ctk_path_join(dir, "1_Pooling");
    if (ctk_mkdirs(pool, &e) < 0) ctk_die_err(&e);
    json_t *p = json_object();
    json_object_set_new(p, "word_embedding_dimension", json_integer(o->hidden));
    json_object_set_new(p, "pooling_mode_cls_token", json_boolean(!strcmp(o->pooling, "cls")));
    json_object_set_new(p, "pooling_mode_mean_tokens", json_boolean(!strcmp(o->pooling, "mean")));
    json_object_set_new(p, "pooling_mode_max_tokens", json_boolean(!strcmp(o->pooling, "max")));
    json_object_set_new(p, "pooling_mode_mean_sqrt_len_tokens",
                        json_boolean(!strcmp(o->pooling, "mean_sqrt_len_tokens")));
    json_object_set_new(p, "pooling_mode_weightedmean_tokens", json_false());
    json_object_set_new(p, "pooling_mode_lasttoken", json_false());
    json_object_set_new(p, "include_prompt", json_true());
    save_json(p, pool, "config.json");
    free(pool);
    if (o->normalize) {
        char *norm = ctk_path_join(dir, "2_Normalize");
        if (ctk_mkdirs(norm, &e) < 0) ctk_die_err(&e);
        free(norm);
    }
    save_json(json_pack("{s:I, s:b}", "max_seq_length", (json_int_t)o->max_seq_length,
                        "do_lower_case", 0),
              dir, "sentence_bert_config.json");
    save_json(json_pack("{s:{s:s}, s:s, s:{}, s:n, s:s}", "__version__", "ctk", PACKAGE_VERSION,
                        "model_type", "SentenceTransformer", "prompts", "default_prompt_name",
                        "similarity_fn_name", "cosine"),
              dir, "config_sentence_transformers.json");
}

static void write_tokenizer_files(const struct opts *o, const struct vocab *v, const char *dir)
{
    struct ctk_err e;
    int lower = o->cased >= 0 ? !o->cased : !v->cased;
    if (strcmp(o->p->arch, "mpnet") == 0) {
        char *to = ctk_path_join(dir, "tokenizer.json");
        if (ctk_copy_file(v->path, to, &e) < 0) ctk_die_err(&e);
        free(to);
        save_json(json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:n, s:s, s:I}",
                            "do_lower_case", lower, "bos_token", "<s>", "eos_token", "</s>",
                            "unk_token", "[UNK]", "sep_token", "</s>", "pad_token", "<pad>",
                            "cls_token", "<s>", "mask_token", "<mask>",
                            "tokenize_chinese_chars", 1, "strip_accents",
                            "tokenizer_class", "MPNetTokenizer",
                            "model_max_length", (json_int_t)o->max_seq_length),
                  dir, "tokenizer_config.json");
        save_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "bos_token", "<s>",
                            "eos_token", "</s>", "unk_token", "[UNK]", "sep_token", "</s>",
                            "pad_token", "<pad>", "cls_token", "<s>", "mask_token", "<mask>"),
                  dir, "special_tokens_map.json");
        return;
    }
    char *to = ctk_path_join(dir, "vocab.txt");
    if (ctk_write_file_atomic(to, v->text, v->len, &e) < 0) ctk_die_err(&e);
    free(to);
    save_json(json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:b, s:n, s:b, s:s, s:I}",
                        "do_lower_case", lower, "unk_token", "[UNK]", "sep_token", "[SEP]",
                        "pad_token", "[PAD]", "cls_token", "[CLS]", "mask_token", "[MASK]",
                        "tokenize_chinese_chars", 1, "strip_accents", "do_basic_tokenize", 1,
                        "tokenizer_class", "BertTokenizer",
                        "model_max_length", (json_int_t)o->max_positions),
              dir, "tokenizer_config.json");
    save_json(json_pack("{s:s, s:s, s:s, s:s, s:s}", "unk_token", "[UNK]", "sep_token", "[SEP]",
                        "pad_token", "[PAD]", "cls_token", "[CLS]", "mask_token", "[MASK]"),
              dir, "special_tokens_map.json");
}

int main(int argc, char **argv)
{
    struct opts o;
    struct vocab v = {0};
    struct wlist w = {0};
    struct ctk_model_dir d;
    struct ctk_err e;
    const double std = 0.02;

    ctk_init("ctk-init-model", argc, argv);
    parse_options(argc, argv, &o);
    int mpnet = strcmp(o.p->arch, "mpnet") == 0;
    if (mpnet && !o.vocab)
        ctk_usage("preset %s needs --vocab FILE: an MPNet tokenizer.json", o.p->name);
    if (mpnet) read_tokenizer_json(&v, o.vocab);
    else read_vocab_txt(&v, o.vocab ? o.vocab : default_vocab());
    if (o.vocab_size && o.vocab_size != v.size)
        ctk_usage("--vocab-size %lld, but %s holds %lld tokens", (long long)o.vocab_size, v.path,
                  (long long)v.size);
    if (!o.vocab_size && o.p->vocab_size && o.p->vocab_size != v.size && !o.vocab)
        ctk_die("%s holds %lld tokens, preset %s expects %lld", v.path, (long long)v.size,
                o.p->name, (long long)o.p->vocab_size);
    o.vocab_size = v.size;

    if (ctk_model_dir_begin(&d, o.out, o.force, &e) < 0) ctk_die_err(&e);
    if (mpnet) mpnet_weights(&w, &o, &v);
    else bert_weights(&w, &o, &v);
    float *slab = init_weights(&w, &o, std);
    char *wpath = ctk_path_join(d.tmp, "model.safetensors");
    static const char *const meta[] = {"format", "pt", NULL};
    if (ctk_st_write(wpath, w.t, w.n, meta, &e) < 0) {
        ctk_model_dir_abort(&d);
        ctk_die_err(&e);
    }
    save_json(hf_config(&o, &v, std), d.tmp, "config.json");
    write_st_files(&o, &v, d.tmp);
    write_tokenizer_files(&o, &v, d.tmp);
    if (ctk_model_dir_commit(&d, &e) < 0) ctk_die_err(&e);
    if (!ctk_quiet())
        fprintf(stderr, "ctk-init-model: wrote %s (%s, %lld layers, hidden %lld, %zu parameters, seed %llu)\n",
                o.out, o.p->name, (long long)o.layers, (long long)o.hidden, w.total,
                (unsigned long long)o.seed);
    for (size_t i = 0; i < w.n; i++) free((char *)w.t[i].name);
    free(w.t);
    free(w.init);
    free(w.pad_row);
    free(slab);
    free(wpath);
    free(v.path);
    free(v.text);
    return 0;
}
