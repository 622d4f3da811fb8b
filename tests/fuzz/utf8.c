/*
 * tests/fuzz/utf8.c -- libFuzzer target for ctk-tok's text path: arbitrary
 * bytes through UTF-8 sanitizing (WHATWG replacement) and the whole
 * tokenizer (added tokens with every flag, BertNormalizer with every
 * option, BertPreTokenizer, WordPiece, truncation, pairs).
 *
 * Checks, besides ASan/UBSan's: the sanitized text is valid UTF-8; valid
 * input comes back unchanged with no replacement, invalid input has at least
 * one; sanitizing is idempotent; a second, plainly written decoder (Unicode
 * §3.9 Table 3-7 ranges, one U+FFFD per maximal subpart) agrees on the
 * number of replacements; every id is in the vocabulary; truncation keeps
 * the length limit.
 *
 * Run: make fuzz FUZZ_TARGETS=utf8 FUZZ_SECONDS=600
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fsutil.h"
#include "tokenizer.h"
#include "unicode.h"

static struct ctk_tokenizer tok[4];
static struct ctk_tok_scratch sc;

/* A small tokenizer.json with each kind of added token; %s: normalizer options. */
static const char *json_fmt =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
    "\"added_tokens\":["
    "{\"id\":0,\"content\":\"[PAD]\",\"special\":true,\"normalized\":false},"
    "{\"id\":1,\"content\":\"[UNK]\",\"special\":true,\"normalized\":false},"
    "{\"id\":2,\"content\":\"[CLS]\",\"special\":true,\"normalized\":false},"
    "{\"id\":3,\"content\":\"[SEP]\",\"special\":true,\"normalized\":false},"
    "{\"id\":4,\"content\":\"<mask>\",\"special\":true,\"normalized\":false,\"lstrip\":true},"
    "{\"id\":5,\"content\":\"<unk>\",\"special\":true,\"normalized\":true,\"rstrip\":true},"
    "{\"id\":6,\"content\":\"ab\",\"special\":false,\"normalized\":true,\"single_word\":true}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",%s},"
    "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\","
    "\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
    "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
    "\"pair\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
    "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}},"
    "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":1}}],"
    "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},"
    "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}},"
    "\"decoder\":null,"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
    "\"max_input_chars_per_word\":12,\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,"
    "\"<mask>\":4,\"<unk>\":5,\"ab\":6,\"a\":7,\"b\":8,\"c\":9,\"##a\":10,\"##b\":11,\"##c\":12,"
    "\"abc\":13,\"##bc\":14,\"e\":15,\"##e\":16,\"\\u00e9\":17,\"##\\u00e9\":18,\"\\u4e00\":19,"
    "\".\":20,\",\":21,\"##\\u0301\":22,\"i\":23,\"##\\u0307\":24,\"\\u03c3\":25}}}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *norm[4] = {
        "\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true",
        "\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":false",
        "\"clean_text\":false,\"handle_chinese_chars\":false,\"strip_accents\":true,\"lowercase\":false",
        "\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":false,\"lowercase\":true",
    };
    char path[] = "/tmp/ctk-fuzz-utf8-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    for (int k = 0; k < 4; k++) {
        char buf[8192];
        struct ctk_err e;
        snprintf(buf, sizeof buf, json_fmt, norm[k]);
        if (ctk_write_file_atomic(path, buf, strlen(buf), &e) < 0 ||
            ctk_tokenizer_load_json(&tok[k], path, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            abort();
        }
    }
    unlink(path);
    return 0;
}

/* Replacements by a second decoder written from Unicode Table 3-7. */
static size_t count_bad(const uint8_t *s, size_t n)
{
    size_t i = 0, bad = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) need = 1;
        else if (b == 0xE0) need = 2, lo = 0xA0;
        else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) need = 2;
        else if (b == 0xED) need = 2, hi = 0x9F;
        else if (b == 0xF0) need = 3, lo = 0x90;
        else if (b >= 0xF1 && b <= 0xF3) need = 3;
        else if (b == 0xF4) need = 3, hi = 0x8F;
        else {
            bad++, i++;
            continue;
        }
        size_t k = 1;
        while (k <= need && i + k < n && s[i + k] >= lo && s[i + k] <= hi) {
            lo = 0x80, hi = 0xBF;
            k++;
        }
        if (k <= need)
            bad++;
        i += k;
    }
    return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char *out, *out2;
    static size_t cap, cap2;
    size_t len, len2;
    size_t bad = ctk_utf8_sanitize(data, size, &out, &cap, &len);
    if (ctk_utf8_check(out, len) != len)
        abort();
    size_t valid = ctk_utf8_check(data, size);
    if ((valid == size) != (bad == 0))
        abort();
    if (bad == 0 && (len != size || memcmp(out, data, size) != 0))
        abort();
    if (bad != count_bad(data, size))
        abort();
    if (ctk_utf8_sanitize(out, len, &out2, &cap2, &len2) != 0 || len2 != len ||
        memcmp(out, out2, len) != 0)
        abort();

    const struct ctk_tokenizer *t = &tok[size % 4];
    struct ctk_ids a = {0}, b = {0}, ids = {0}, types = {0};
    struct ctk_err e;
    size_t half = len / 2;
    while (half > 0 && (out[half] & 0xC0) == 0x80)
        half--;
    ctk_tokenizer_encode(t, &sc, out, half, &a);
    ctk_tokenizer_encode(t, &sc, out + half, len - half, &b);
    int64_t maxlen = size % 7 == 0 ? 0 : (int64_t)(size % 23) + 5;
    if (ctk_tokenizer_post(t, a.v, a.n, b.v, b.n, 1, maxlen, &ids, &types, &e) < 0)
        abort();
    if (maxlen && ids.n > (size_t)maxlen)
        abort();
    if (types.n != ids.n)
        abort();
    for (size_t k = 0; k < ids.n; k++)
        if (ids.v[k] < 0 || ids.v[k] > 25)
            abort();
    ctk_tokenizer_post(t, a.v, a.n, NULL, 0, size & 1, maxlen, &ids, NULL, &e);
    if (maxlen && ids.n > (size_t)maxlen)
        abort();
    ctk_ids_free(&a);
    ctk_ids_free(&b);
    ctk_ids_free(&ids);
    ctk_ids_free(&types);
    return 0;
}
