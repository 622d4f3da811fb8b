/*
 * test_model.c -- model folders (lib/model.c) and JSON reading.
 *
 *   test_model SRCDIR      loads the real configs copied from Hugging Face
 *                          folders into SRCDIR/tests/data/vocab, builds small
 *                          folders (both layouts) in a temporary folder,
 *                          checks loading, refusals, saving and the XXH64
 *                          identity hash (expected values from the xxHash
 *                          library itself: tests/ref/xxh64.py).
 *   test_model --load DIR  loads a model folder and prints what was read
 *                          (tests/bats/init-model.bats checks it).
 *   test_model --canon F   prints JSON file F in a canonical form that
 *                          tests/ref/json_canon.py also prints from Python's
 *                          json module; tests/bats/weights.bats compares them.
 */
#include "config.h"
#include "fsutil.h"
#include "json.h"
#include "model.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*----------------------------------------------------------------------------
 * Canonical JSON: strings with every byte outside printable ASCII written as
 * \u{HEX} of its code point, numbers as integers or %.17g, objects in file order.
 *--------------------------------------------------------------------------*/

static void canon_str(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    putchar('"');
    while (p < end) {
        unsigned c = *p++;
        int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
        if (more) c &= 0x3f >> more;
        while (more-- && p < end) c = c << 6 | (*p++ & 0x3f);
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c >= 0x20 && c < 0x7f) putchar((int)c);
        else printf("\\u{%x}", c);
    }
    putchar('"');
}

static void canon(const json_t *v)
{
    size_t i;
    const char *key;
    json_t *x;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        putchar('{');
        i = 0;
        json_object_foreach((json_t *)v, key, x) {
            if (i++) putchar(',');
            canon_str(key, json_object_iter_key_len(json_object_key_to_iter(key)));
            putchar(':');
            canon(x);
        }
        putchar('}');
        break;
    case JSON_ARRAY:
        putchar('[');
        json_array_foreach(v, i, x) {
            if (i) putchar(',');
            canon(x);
        }
        putchar(']');
        break;
    case JSON_STRING: canon_str(json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: printf("%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: printf("%.17g", json_real_value(v)); break;
    case JSON_TRUE: printf("true"); break;
    case JSON_FALSE: printf("false"); break;
    case JSON_NULL: printf("null"); break;
    }
}

/*----------------------------------------------------------------------------
 * Folders
 *--------------------------------------------------------------------------*/

static char tmpdir[] = "/tmp/test_model.XXXXXX";

static void put(const char *dir, const char *name, const char *text)
{
    char *p = ctk_path_join(dir, name);
    struct ctk_err e;
    char *slash = strrchr(p, '/');
    *slash = '\0';
    ctk_mkdirs(p, &e);
    *slash = '/';
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        printf("cannot write %s\n", p);
        exit(99);
    }
    free(p);
}

static char *slurp(const char *dir, const char *name)
{
    char *p = ctk_path_join(dir, name);
    char *s = ctk_read_file(p, NULL, NULL);
    free(p);
    return s;
}

static void test_real_configs(const char *src)
{
    struct ctk_model m;
    struct ctk_err e;
    char *dir = ctk_path_join(src, "tests/data/vocab/all-MiniLM-L6-v2");
    if (ctk_model_open(&m, dir, CTK_MODEL_NO_WEIGHTS, &e) < 0) {
        CHECK(0, "all-MiniLM-L6-v2: %s", e.msg);
    } else {
        struct ctk_model_config *c = &m.cfg;
        CHECK(strcmp(c->model_type, "bert") == 0 && c->vocab_size == 30522 &&
              c->hidden_size == 384 && c->num_hidden_layers == 6 && c->num_attention_heads == 12 &&
              c->intermediate_size == 1536 && strcmp(c->hidden_act, "gelu") == 0 &&
              c->max_position_embeddings == 512 && c->type_vocab_size == 2 &&
              c->layer_norm_eps == 1e-12 && c->hidden_dropout_prob == 0.1 &&
              c->attention_probs_dropout_prob == 0.1 &&
              strcmp(c->position_embedding_type, "absolute") == 0 && c->pad_token_id == 0 &&
              c->initializer_range == 0.02 && c->relative_attention_num_buckets == 0,
              "all-MiniLM-L6-v2 config.json");
        enum ctk_pool_mode mode = CTK_POOL_CLS;
        CHECK(ctk_model_pool_mode(&m, &mode, &e) == 0 && mode == CTK_POOL_MEAN &&
              m.pool.dim == 384, "all-MiniLM-L6-v2 pooling");
        CHECK(m.normalize && m.max_seq_length == 256 && m.has_modules && !*m.tpath &&
              m.do_lower_case == 0 && m.tokenizer_config && !m.has_weights,
              "all-MiniLM-L6-v2 modules (normalize %d, max_seq_length %lld)", m.normalize,
              (long long)m.max_seq_length);
        CHECK(strcmp(m.name, "all-MiniLM-L6-v2") == 0, "name %s", m.name);
        ctk_model_close(&m);
    }
    free(dir);

    dir = ctk_path_join(src, "tests/data/vocab/all-mpnet-base-v2");
    if (ctk_model_open(&m, dir, CTK_MODEL_NO_WEIGHTS, &e) < 0) {
        CHECK(0, "all-mpnet-base-v2: %s", e.msg);
    } else {
        struct ctk_model_config *c = &m.cfg;
        CHECK(strcmp(c->model_type, "mpnet") == 0 && c->vocab_size == 30527 &&
              c->hidden_size == 768 && c->num_hidden_layers == 12 && c->intermediate_size == 3072 &&
              c->max_position_embeddings == 514 && c->type_vocab_size == 0 &&
              c->layer_norm_eps == 1e-5 && c->pad_token_id == 1 &&
              c->relative_attention_num_buckets == 32, "all-mpnet-base-v2 config.json");
        enum ctk_pool_mode mode = CTK_POOL_CLS;
        CHECK(ctk_model_pool_mode(&m, &mode, &e) == 0 && mode == CTK_POOL_MEAN &&
              m.pool.dim == 768 && m.pool.include_prompt, "all-mpnet-base-v2 pooling (new spelling)");
        /* no max_seq_length: tokenizer_config.json's model_max_length (384) */
        CHECK(m.normalize && m.max_seq_length == 384, "all-mpnet-base-v2 max_seq_length %lld",
              (long long)m.max_seq_length);
        ctk_model_close(&m);
    }
    free(dir);
}

static const char *tiny_config =
    "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"vocab_size\": 10,\n"
    " \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,\n"
    " \"intermediate_size\": 16, \"max_position_embeddings\": 16}\n";

/* A tiny folder in the older layout (Transformer in 0_Transformer), CLS pooling. */
static void make_old_layout(const char *dir, float *emb)
{
    put(dir, "modules.json",
        "[{\"idx\": 0, \"name\": \"0\", \"path\": \"0_Transformer\", "
        "\"type\": \"sentence_transformers.models.Transformer\"},\n"
        " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", "
        "\"type\": \"sentence_transformers.models.Pooling\"}]\n");
    put(dir, "0_Transformer/config.json", tiny_config);
    put(dir, "0_Transformer/sentence_bert_config.json", "{\"max_seq_length\": 12, \"do_lower_case\": true}");
    put(dir, "0_Transformer/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nd\ne\n");
    put(dir, "0_Transformer/pytorch_model.bin", "stale pickle");
    put(dir, "1_Pooling/config.json",
        "{\"word_embedding_dimension\": 8, \"pooling_mode_cls_token\": true, "
        "\"pooling_mode_mean_tokens\": false, \"pooling_mode_max_tokens\": false, "
        "\"pooling_mode_mean_sqrt_len_tokens\": false}");
    put(dir, "README.md", "tiny\n");
    for (int i = 0; i < 80; i++) emb[i] = (float)i / 64.0f - 0.5f;
    struct ctk_st_wtensor t[] = {
        {.name = "bert.embeddings.word_embeddings.weight", .dtype = CTK_F16, .ndim = 2,
         .shape = {10, 8}, .data = emb, .from_f32 = 1},
    };
    char *w = ctk_path_join(dir, "0_Transformer/model.safetensors");
    struct ctk_err e;
    CHECK(ctk_st_write(w, t, 1, NULL, &e) == 0, "write %s: %s", w, e.msg);
    free(w);
}

static void test_old_layout_and_save(void)
{
    char *dir = ctk_path_join(tmpdir, "tiny-old");
    float emb[80], out[80];
    make_old_layout(dir, emb);
    struct ctk_model m;
    struct ctk_err e;
    if (ctk_model_open(&m, dir, 0, &e) < 0) {
        CHECK(0, "tiny-old: %s", e.msg);
        free(dir);
        return;
    }
    enum ctk_pool_mode mode = CTK_POOL_MEAN;
    CHECK(strcmp(m.tpath, "0_Transformer") == 0 && m.cfg.hidden_size == 8 &&
          m.max_seq_length == 12 && m.do_lower_case && !m.normalize && m.vocab_txt &&
          ctk_model_pool_mode(&m, &mode, &e) == 0 && mode == CTK_POOL_CLS,
          "tiny-old layout");
    /* Defaults from BertConfig where config.json says nothing. */
    CHECK(m.cfg.type_vocab_size == 2 && m.cfg.layer_norm_eps == 1e-12 &&
          strcmp(m.cfg.hidden_act, "gelu") == 0 && m.cfg.initializer_range == 0.02, "defaults");
    int64_t shape[2] = {10, 8}, bad[2] = {8, 10};
    CHECK(ctk_model_read(&m, "embeddings.word_embeddings.weight", 2, shape, out, &e) == 0,
          "lookup without the bert. prefix: %s", e.msg);
    int exact = 1;
    for (int i = 0; i < 80; i++) exact &= out[i] == emb[i];   /* i/64 - 0.5 is exact in F16 */
    CHECK(exact, "F16 weights read back");
    CHECK(ctk_model_read(&m, "embeddings.word_embeddings.weight", 2, bad, out, &e) < 0 &&
          strstr(e.msg, "has shape [10, 8], expected [8, 10]") && strstr(e.msg, "model.safetensors"),
          "shape mismatch message: %s", e.msg);
    CHECK(ctk_model_read(&m, "pooler.dense.weight", 2, shape, out, &e) < 0 &&
          strstr(e.msg, "no tensor \"pooler.dense.weight\""), "missing tensor message: %s", e.msg);
    /* Identity: base name and the XXH64 of the weights file. */
    size_t len;
    char *w = ctk_path_join(dir, "0_Transformer/model.safetensors");
    char *bytes = ctk_read_file(w, &len, &e);
    char want[64];
    snprintf(want, sizeof want, "tiny-old@%016llx", (unsigned long long)ctk_hash64(bytes, len, 0));
    CHECK(strcmp(m.identity, want) == 0, "identity %s, expected %s", m.identity, want);
    free(bytes);
    free(w);

    /* Save with new weights: everything else copied, stale weights dropped. */
    float neu[80];
    for (int i = 0; i < 80; i++) neu[i] = (float)i;
    struct ctk_st_wtensor t = {.name = "embeddings.word_embeddings.weight", .dtype = CTK_F32,
                               .ndim = 2, .shape = {10, 8}, .data = neu, .from_f32 = 1};
    char *dst = ctk_path_join(tmpdir, "saved/tiny");
    CHECK(ctk_model_save(&m, dst, &t, 1, NULL, &e) == 0, "save: %s", e.msg);
    const char *same[] = {"modules.json", "README.md", "0_Transformer/config.json",
                          "0_Transformer/vocab.txt", "0_Transformer/sentence_bert_config.json",
                          "1_Pooling/config.json"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        char *a = slurp(dir, same[i]), *b = slurp(dst, same[i]);
        CHECK(a && b && strcmp(a, b) == 0, "saved %s differs or is missing", same[i]);
        free(a);
        free(b);
    }
    char *stale = ctk_path_join(dst, "0_Transformer/pytorch_model.bin");
    CHECK(access(stale, F_OK) != 0, "stale pytorch_model.bin copied");
    free(stale);
    struct ctk_model m2;
    if (ctk_model_open(&m2, dst, 0, &e) < 0) {
        CHECK(0, "reload saved: %s", e.msg);
    } else {
        CHECK(ctk_model_read(&m2, "embeddings.word_embeddings.weight", 2, shape, out, &e) == 0 &&
              out[79] == 79.0f, "saved weights");
        CHECK(strcmp(ctk_st_meta(&m2.st, "format"), "pt") == 0, "format metadata");
        CHECK(strncmp(m2.identity, "tiny@", 5) == 0 && strcmp(m2.identity + 4, m.identity + 8) != 0,
              "saved identity %s", m2.identity);
        /* Save over itself (the folder being read). */
        neu[0] = -1;
        CHECK(ctk_model_save(&m2, dst, &t, 1, NULL, &e) == 0, "save over itself: %s", e.msg);
        ctk_model_close(&m2);
        CHECK(ctk_model_open(&m2, dst, 0, &e) == 0 &&
              ctk_model_read(&m2, "embeddings.word_embeddings.weight", 2, shape, out, &e) == 0 &&
              out[0] == -1.0f, "saved over itself: %s", e.msg);
        ctk_model_close(&m2);
    }
    /* No temporary folders left beside it. */
    char *parent = ctk_path_join(tmpdir, "saved");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A %s)\" = tiny", parent);
    CHECK(system(cmd) == 0, "leftovers in %s", parent);
    free(parent);
    /* A non-empty destination is refused without force. */
    struct ctk_model_dir wd;
    CHECK(ctk_model_dir_begin(&wd, dst, 0, &e) < 0 && strstr(e.msg, "not empty"), "no force: %s",
          e.msg);
    ctk_model_close(&m);
    free(dst);
    free(dir);
}

/* Each broken folder must be refused with a message naming the file and the field. */
static void expect_refused(const char *name, const char *file, const char *text,
                           const char *needle1, const char *needle2)
{
    char *dir = ctk_path_join(tmpdir, name);
    float emb[80];
    make_old_layout(dir, emb);
    if (file) put(dir, file, text);
    struct ctk_model m;
    struct ctk_err e;
    int rc = ctk_model_open(&m, dir, 0, &e);
    CHECK(rc < 0, "%s accepted", name);
    if (rc == 0) ctk_model_close(&m);
    else CHECK(strstr(e.msg, needle1) && strstr(e.msg, needle2), "%s: message \"%s\"", name, e.msg);
    free(dir);
}

static void test_refusals(void)
{
    expect_refused("no-hidden", "0_Transformer/config.json",
                   "{\"model_type\": \"bert\", \"vocab_size\": 10, \"num_hidden_layers\": 1, "
                   "\"num_attention_heads\": 2, \"intermediate_size\": 16}",
                   "0_Transformer/config.json", "\"hidden_size\" is missing");
    expect_refused("str-hidden", "0_Transformer/config.json",
                   "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": \"8\", "
                   "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 16}",
                   "config.json", "\"hidden_size\" must be an integer");
    expect_refused("no-type", "0_Transformer/config.json", "{\"hidden_size\": 8}",
                   "config.json", "\"model_type\" is missing");
    expect_refused("heads", "0_Transformer/config.json",
                   "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 8, "
                   "\"num_hidden_layers\": 1, \"num_attention_heads\": 3, \"intermediate_size\": 16}",
                   "config.json", "not a multiple of \"num_attention_heads\"");
    expect_refused("neg", "0_Transformer/config.json",
                   "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 8, "
                   "\"num_hidden_layers\": -1, \"num_attention_heads\": 2, \"intermediate_size\": 16}",
                   "config.json", "\"num_hidden_layers\" is -1");
    expect_refused("eps", "0_Transformer/config.json",
                   "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 8, "
                   "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 16, "
                   "\"layer_norm_eps\": 0}", "config.json", "layer_norm_eps");
    expect_refused("badjson", "0_Transformer/config.json", "{\"model_type\": \"bert\",}",
                   "0_Transformer/config.json:1:", "");
    expect_refused("dense", "modules.json",
                   "[{\"path\": \"0_Transformer\", \"type\": \"sentence_transformers.models.Transformer\"},"
                   " {\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"},"
                   " {\"path\": \"2_Dense\", \"type\": \"sentence_transformers.models.Dense\"}]",
                   "modules.json", "sentence_transformers.models.Dense");
    expect_refused("escape", "modules.json",
                   "[{\"path\": \"../x\", \"type\": \"sentence_transformers.models.Transformer\"}]",
                   "modules.json", "leaves the model folder");
    expect_refused("nopool", "modules.json",
                   "[{\"path\": \"0_Transformer\", \"type\": \"sentence_transformers.models.Transformer\"}]",
                   "modules.json", "no Pooling module");
    expect_refused("pooldim", "1_Pooling/config.json",
                   "{\"word_embedding_dimension\": 384, \"pooling_mode_mean_tokens\": true}",
                   "1_Pooling/config.json", "\"word_embedding_dimension\" is 384");
    expect_refused("poolnone", "1_Pooling/config.json", "{\"word_embedding_dimension\": 8}",
                   "1_Pooling/config.json", "no pooling mode");
    expect_refused("poolname", "1_Pooling/config.json",
                   "{\"embedding_dimension\": 8, \"pooling_mode\": \"median\"}",
                   "1_Pooling/config.json", "\"median\"");
    expect_refused("msl", "0_Transformer/sentence_bert_config.json", "{\"max_seq_length\": 17}",
                   "sentence_bert_config.json", "\"max_seq_length\" is 17");
    expect_refused("weights", "0_Transformer/model.safetensors", "not a safetensors file",
                   "0_Transformer/model.safetensors", "limit");

    char *dir = ctk_path_join(tmpdir, "pickle");
    float emb[80];
    struct ctk_model m;
    struct ctk_err e;
    make_old_layout(dir, emb);
    char *w = ctk_path_join(dir, "0_Transformer/model.safetensors");
    unlink(w);
    CHECK(ctk_model_open(&m, dir, 0, &e) < 0 && strstr(e.msg, "pytorch_model.bin"),
          "pickle only: %s", e.msg);
    CHECK(ctk_model_open(&m, dir, CTK_MODEL_NO_WEIGHTS, &e) == 0, "configs only: %s", e.msg);
    ctk_model_close(&m);
    free(w);
    free(dir);
    CHECK(ctk_model_open(&m, "/nonexistent/model", 0, &e) < 0 && strstr(e.msg, "/nonexistent/model"),
          "missing folder: %s", e.msg);
}

/* A plain Hugging Face folder (no modules.json): mean pooling, no Normalize. */
static void test_plain_hf(void)
{
    char *dir = ctk_path_join(tmpdir, "plain");
    put(dir, "config.json", tiny_config);
    struct ctk_model m;
    struct ctk_err e;
    if (ctk_model_open(&m, dir, CTK_MODEL_NO_WEIGHTS, &e) < 0) {
        CHECK(0, "plain: %s", e.msg);
    } else {
        CHECK(!m.has_modules && m.pool.mean && !m.pool.cls && !m.normalize &&
              m.max_seq_length == 16, "plain folder");
        ctk_model_close(&m);
    }
    free(dir);
}

static void test_hash(void)
{
    /* From the xxHash library (tests/ref/xxh64.py): byte i of input n is (i*31 + n) % 251. */
    static const struct { size_t n; uint64_t seed, h; } v[] = {
        {0, 0, 0xef46db3751d8e999u},    {0, 7, 0x95f0626f6f0a4409u},
        {1, 0, 0x8a4127811b21e730u},    {1, 7, 0xdda1aaaf9c0a4056u},
        {3, 0, 0x9e1742546614a101u},    {3, 7, 0xa36fc7626af6e159u},
        {4, 0, 0xce148d42b72f8212u},    {4, 7, 0x13900cd9adb2c4f1u},
        {7, 0, 0xafbefc3d6c6f9a8eu},    {7, 7, 0xa98b8f4fa312b820u},
        {8, 0, 0xc1ac0b4c0c6b163cu},    {8, 7, 0x0cb68dde6ddff06du},
        {31, 0, 0x33a8eba345527b8eu},   {31, 7, 0xcb0c096ed75fa75bu},
        {32, 0, 0xf839c865d8238a39u},   {32, 7, 0xbb852f328dd3018au},
        {33, 0, 0x30e71652517caf8du},   {33, 7, 0xe0f399d8ab3cbdccu},
        {63, 0, 0x0951a158d61b6f68u},   {63, 7, 0xe5bc5ef19d887341u},
        {64, 0, 0x00dae1e383e3f572u},   {64, 7, 0x47d143122682f09cu},
        {100, 0, 0x9db315ffa842a346u},  {100, 7, 0xca7c253b3dcc7776u},
        {1000, 0, 0x65306e8cc696fd27u}, {1000, 7, 0x7bc74266bc63ec3du},
    };
    unsigned char buf[1001];
    for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
        for (size_t i = 0; i < v[k].n; i++) buf[i + 1] = (unsigned char)((i * 31 + v[k].n) % 251);
        uint64_t h = ctk_hash64(buf + 1, v[k].n, v[k].seed);   /* unaligned on purpose */
        CHECK(h == v[k].h, "XXH64(len %zu, seed %llu) = %016llx, expected %016llx", v[k].n,
              (unsigned long long)v[k].seed, (unsigned long long)h, (unsigned long long)v[k].h);
    }
    CHECK(ctk_hash64("abc", 3, 0) == 0x44bc2cf5ad770999u, "XXH64(abc)");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--canon") == 0) {
        struct ctk_err e;
        json_t *v = ctk_json_load_file(argv[2], &e);
        if (!v) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        canon(v);
        putchar('\n');
        json_decref(v);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--load") == 0) {
        struct ctk_model m;
        struct ctk_err e;
        enum ctk_pool_mode mode;
        if (ctk_model_open(&m, argv[2], 0, &e) < 0 || ctk_model_pool_mode(&m, &mode, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        struct ctk_model_config *c = &m.cfg;
        printf("%s vocab=%lld hidden=%lld layers=%lld heads=%lld intermediate=%lld "
               "positions=%lld types=%lld pad=%lld eps=%g pooling=%s normalize=%d "
               "max_seq_length=%lld tensors=%zu\n%s\n",
               c->model_type, (long long)c->vocab_size, (long long)c->hidden_size,
               (long long)c->num_hidden_layers, (long long)c->num_attention_heads,
               (long long)c->intermediate_size, (long long)c->max_position_embeddings,
               (long long)c->type_vocab_size, (long long)c->pad_token_id, c->layer_norm_eps,
               ctk_pool_mode_name(mode), m.normalize, (long long)m.max_seq_length,
               m.st.ntensors, m.identity);
        ctk_model_close(&m);
        return 0;
    }
    const char *src = argc > 1 ? argv[1] : getenv("CTK_SRCDIR");
    if (!src) src = ".";
    if (!mkdtemp(tmpdir)) return 99;
    test_hash();
    test_real_configs(src);
    test_old_layout_and_save();
    test_refusals();
    test_plain_hf();
    ctk_remove_tree(tmpdir);
    return check_exit("test_model");
}
