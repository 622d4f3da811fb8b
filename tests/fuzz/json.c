/*
 * tests/fuzz/json.c -- libFuzzer target for JSON reading (lib/json.h over
 * jansson) as ctk uses it for model configs, tokenizer files and safetensors
 * headers: any input is refused with a message or parsed; a parsed value,
 * printed compactly and parsed again, must be equal to itself, and the
 * typed getters must not crash on whatever the keys hold.
 *
 * Each input (after its first byte) is also loaded as one file of a model folder
 * (the first byte picks config.json, modules.json, 1_Pooling/config.json,
 * sentence_bert_config.json or tokenizer_config.json; the other files are
 * those of all-MiniLM-L6-v2), so that every range and type check of
 * lib/model.c meets hostile values: it must load or refuse with a message.
 */
#define _GNU_SOURCE 1
#include "config.h"
#include "fsutil.h"
#include "json.h"
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

/*
 * The folder is DIR/ctk-fuzz-json.PID; libFuzzer ends without running
 * atexit handlers, so each run removes the folders of processes that no
 * longer exist.
 */
static void make_dir(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    DIR *d = opendir(base);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        long pid;
        char end;
        if (sscanf(de->d_name, "ctk-fuzz-json.%ld%c", &pid, &end) == 1 && pid > 0 &&
            kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            char *p = ctk_path_join(base, de->d_name);
            ctk_remove_tree(p);
            free(p);
        }
    }
    if (d) closedir(d);
    snprintf(dir, sizeof dir, "%s/ctk-fuzz-json.%ld", base, (long)getpid());
    struct ctk_err e;
    char *p = ctk_path_join(dir, "1_Pooling");
    if (ctk_mkdirs(p, &e) < 0) abort();
    free(p);
}
static const char *files[] = {"config.json", "modules.json", "1_Pooling/config.json",
                              "sentence_bert_config.json", "tokenizer_config.json"};
static const char *good[] = {
    "{\"model_type\": \"bert\", \"vocab_size\": 30522, \"hidden_size\": 384, "
    "\"num_hidden_layers\": 6, \"num_attention_heads\": 12, \"intermediate_size\": 1536}",
    "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, "
    "{\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}, "
    "{\"path\": \"2_Normalize\", \"type\": \"sentence_transformers.models.Normalize\"}]",
    "{\"word_embedding_dimension\": 384, \"pooling_mode_mean_tokens\": true}",
    "{\"max_seq_length\": 256}",
    "{\"model_max_length\": 512}",
};

static void put(int i, const char *text, size_t n)
{
    char *p = ctk_path_join(dir, files[i]);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    fwrite(text, 1, n, f);
    fclose(f);
    free(p);
}

/* Load the folder with file k replaced by buf. */
static void load_folder(int k, const char *buf, size_t n)
{
    struct ctk_err e;
    static int made;
    if (!made++) make_dir();
    static int last = -1;               /* the file replaced last time */
    if (last < 0)
        for (int i = 0; i < 5; i++) put(i, good[i], strlen(good[i]));
    else if (last != k)
        put(last, good[last], strlen(good[last]));
    put(k, buf, n);
    last = k;
    struct ctk_model m;
    e.msg[0] = '\0';
    if (ctk_model_open(&m, dir, CTK_MODEL_NO_WEIGHTS, &e) == 0) {
        enum ctk_pool_mode mode;
        ctk_model_pool_mode(&m, &mode, &e);
        ctk_model_close(&m);
    } else if (!e.msg[0]) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctk_err e;
    if (size > 1) load_folder(data[0] % 5, (const char *)data + 1, size - 1);
    e.msg[0] = '\0';
    json_t *v = ctk_json_load_buf((const char *)data, size, "fuzz", &e);
    if (!v) {
        if (!e.msg[0]) abort();
        return 0;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (!s) abort();
    json_t *w = ctk_json_load_buf(s, strlen(s), "fuzz-dump", &e);
    if (!w || !json_equal(v, w)) abort();
    if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) {
            int64_t i;
            double d;
            int b;
            const char *str;
            ctk_json_get_int(v, key, 0, &i, "fuzz", &e);
            ctk_json_get_num(v, key, 0, &d, "fuzz", &e);
            ctk_json_get_bool(v, key, 0, &b, "fuzz", &e);
            ctk_json_get_str(v, key, NULL, &str, "fuzz", &e);
        }
    }
    json_decref(w);
    free(s);
    json_decref(v);
    return 0;
}
