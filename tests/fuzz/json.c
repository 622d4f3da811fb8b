/*
 * tests/fuzz/json.c -- libFuzzer target for JSON reading (lib/json.h over
 * jansson) as ctk uses it for model configs, tokenizer files and safetensors
 * headers: any input is refused with a message or parsed; a parsed value,
 * printed compactly and parsed again, must be equal to itself, and the
 * typed getters must not crash on whatever the keys hold.
 */
#include "config.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctk_err e;
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
