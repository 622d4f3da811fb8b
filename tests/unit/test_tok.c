/*
 * test_tok.c -- conformance of the tokenizer with Hugging Face's tokenizers
 * (Rust crate 0.22, through its npm binding; tests/ref/tok_ref.js made the
 * expected ids, tests/data/tok/README says which).
 *
 * For every model folder (tokenizer.json: bert-base-uncased, all-MiniLM-L6-v2,
 * all-mpnet-base-v2; vocab.txt + tokenizer_config.json: bert-base-cased,
 * bert-base-multilingual-cased, bert-base-uncased) and every line of the
 * conformance corpus: ids with special tokens, without, truncated to 8, 32
 * and 128 (Rust keeps the first max-2 tokens, then adds [CLS]/[SEP]), and
 * 1000 sentence pairs with type ids, untruncated, truncated (LongestFirst)
 * and without special tokens. Then the second corpus (text from the man
 * pages, docs and translations of this machine, many languages), a third of
 * random code points from every plane, and the UTF-8 rules:
 * WHATWG maximal-subpart replacement (Unicode 15 §3.9, Table 3-8 examples)
 * and `ab\xFFcd` -> 101 5925 2094 102.
 *
 * Usage: test_tok [DATADIR]   (default $CTK_SRCDIR/tests/data/tok)
 * Exits 1 on any mismatch, printing the first few.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "err.h"
#include "fsutil.h"
#include "json.h"
#include "tokenizer.h"
#include "unicode.h"
#include "check.h"

static const char *datadir;
static char tmpdir[256];

/* Whole content of a gzip file, NUL-terminated; *len its length. */
static char *read_gz(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "test_tok: cannot open %s\n", path);
        exit(1);
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = xmalloc(cap);
    int r;
    while ((r = gzread(f, buf + n, (unsigned)(cap - n - 1))) > 0) {
        n += (size_t)r;
        if (cap - n < 2) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    if (r < 0) {
        fprintf(stderr, "test_tok: %s: read error\n", path);
        exit(1);
    }
    gzclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Lines of a buffer split on '\n' (the last line may lack one). */
struct lines {
    char **s;
    size_t *len;
    size_t n;
};

static void split_lines(char *buf, size_t n, struct lines *L)
{
    L->n = 0;
    L->s = NULL;
    L->len = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && buf[j] != '\n')
            j++;
        if (L->n == cap) {
            cap = cap ? 2 * cap : 1024;
            L->s = xreallocarray(L->s, cap, sizeof *L->s);
            L->len = xreallocarray(L->len, cap, sizeof *L->len);
        }
        L->s[L->n] = buf + i;
        L->len[L->n++] = j - i;
        i = j + 1;
    }
}

/* Parse "1 2 3" (up to a tab or the end) into ids; returns the end. */
static const char *parse_ids(const char *s, size_t n, struct ctk_ids *ids)
{
    const char *end = s + n;
    ids->n = 0;
    while (s < end && *s != '\t') {
        if (*s == ' ') {
            s++;
            continue;
        }
        ctk_ids_push(ids, (int32_t)strtol(s, (char **)&s, 10));
    }
    return s;
}

static int same(const struct ctk_ids *a, const int32_t *b, size_t nb)
{
    return a->n == nb && (nb == 0 || memcmp(a->v, b, nb * sizeof *b) == 0);
}

static void report(const char *what, size_t line, const struct ctk_ids *got, const int32_t *want,
                   size_t nwant, int *shown)
{
    check_failures++;
    if ((*shown)++ >= 3)
        return;
    fprintf(stderr, "  %s line %zu:\n    got ", what, line);
    for (size_t k = 0; k < got->n && k < 40; k++)
        fprintf(stderr, " %d", got->v[k]);
    fprintf(stderr, "\n    want");
    for (size_t k = 0; k < nwant && k < 40; k++)
        fprintf(stderr, " %d", want[k]);
    fprintf(stderr, "\n");
}

/* Decompress tests/data/tok/models/NAME/FILE.gz into tmpdir/NAME/FILE. */
static char *unpack_model(const char *name, const char *const *files)
{
    char *dir = ctk_path_join(tmpdir, name);
    struct ctk_err e;
    if (ctk_mkdirs(dir, &e) < 0)
        ctk_die_err(&e);
    for (int i = 0; files[i]; i++) {
        char src[1024];
        snprintf(src, sizeof src, "%s/models/%s/%s.gz", datadir, name, files[i]);
        size_t len;
        char *buf = read_gz(src, &len);
        char *dst = ctk_path_join(dir, files[i]);
        if (ctk_write_file_atomic(dst, buf, len, &e) < 0)
            ctk_die_err(&e);
        free(dst);
        free(buf);
    }
    return dir;
}

/* Tokens of one line, sanitized as ctk-tok does. */
static void encode_line(const struct ctk_tokenizer *t, struct ctk_tok_scratch *sc,
                        const char *s, size_t n, struct ctk_ids *out)
{
    static unsigned char *clean;
    static size_t cap;
    size_t len;
    ctk_utf8_sanitize((const unsigned char *)s, n, &clean, &cap, &len);
    out->n = 0;
    ctk_tokenizer_encode(t, sc, clean, len, out);
}

struct model {
    const char *name;          /* folder under models/ */
    const char *files[4];
    const char *ids;           /* conformance.<ids>.ids.gz */
    const char *pairs;         /* pairs.<pairs>.*.tsv.gz */
};

static void check_model(const struct model *m, const struct lines *text)
{
    struct ctk_err e;
    char *dir = unpack_model(m->name, m->files);
    struct ctk_tokenizer t;
    if (ctk_tokenizer_load(&t, dir, &e) < 0)
        ctk_die_err(&e);
    struct ctk_tok_scratch sc = {0};
    struct ctk_ids raw = {0}, rawb = {0}, got = {0}, types = {0}, want = {0}, wtypes = {0};
    int before = check_failures;

    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/conformance.%s.ids.gz", datadir, m->ids);
    char *buf = read_gz(path, &len);
    struct lines L;
    split_lines(buf, len, &L);
    if (L.n != text->n) {
        fprintf(stderr, "%s: %zu expected lines for %zu texts\n", path, L.n, text->n);
        check_failures++;
    }
    int shown[6] = {0};
    const int maxl[3] = {8, 32, 128};
    size_t checked = 0;
    for (size_t i = 0; i < L.n && i < text->n; i++) {
        parse_ids(L.s[i], L.len[i], &want);
        encode_line(&t, &sc, text->s[i], text->len[i], &raw);
        /* with special tokens, no truncation */
        ctk_tokenizer_post(&t, raw.v, raw.n, NULL, 0, 1, 0, &got, NULL, &e);
        if (!same(&got, want.v, want.n))
            report("special", i + 1, &got, want.v, want.n, &shown[0]);
        /* without: the expected ids less the first and last */
        ctk_tokenizer_post(&t, raw.v, raw.n, NULL, 0, 0, 0, &got, NULL, &e);
        if (want.n < 2 || !same(&got, want.v + 1, want.n - 2))
            report("no-special", i + 1, &got, want.v + 1, want.n - 2, &shown[1]);
        /* truncated: the first max-2 tokens, then the special tokens */
        for (int k = 0; k < 3; k++) {
            if (ctk_tokenizer_post(&t, raw.v, raw.n, NULL, 0, 1, maxl[k], &got, NULL, &e) < 0)
                ctk_die_err(&e);
            size_t keep = want.n - 2 < (size_t)maxl[k] - 2 ? want.n - 2 : (size_t)maxl[k] - 2;
            int32_t w[130];
            w[0] = want.v[0];
            memcpy(w + 1, want.v + 1, keep * sizeof *w);
            w[keep + 1] = want.v[want.n - 1];
            if (!same(&got, w, keep + 2))
                report(k == 0 ? "max 8" : k == 1 ? "max 32" : "max 128", i + 1, &got, w,
                       keep + 2, &shown[2 + (k > 0)]);
        }
        checked++;
    }
    free(L.s);
    free(L.len);
    free(buf);

    /* pairs: (line i, line i+1) for i = 0, 3, 6, ... */
    const char *settings[4] = {"max0", "max32", "max128", "nospecial.max32"};
    const int64_t smax[4] = {0, 32, 128, 32};
    size_t npairs = 0;
    for (int s = 0; s < 4; s++) {
        snprintf(path, sizeof path, "%s/pairs.%s.%s.tsv.gz", datadir, m->pairs, settings[s]);
        buf = read_gz(path, &len);
        split_lines(buf, len, &L);
        int pshown = 0;
        for (size_t p = 0; p < L.n; p++) {
            size_t i = 3 * p;
            const char *tab = parse_ids(L.s[p], L.len[p], &want);
            parse_ids(tab + 1, L.len[p] - (size_t)(tab + 1 - L.s[p]), &wtypes);
            encode_line(&t, &sc, text->s[i], text->len[i], &raw);
            encode_line(&t, &sc, text->s[i + 1], text->len[i + 1], &rawb);
            if (ctk_tokenizer_post(&t, raw.v, raw.n, rawb.v, rawb.n, s != 3, smax[s], &got,
                                   &types, &e) < 0)
                ctk_die_err(&e);
            if (!same(&got, want.v, want.n))
                report(settings[s], i + 1, &got, want.v, want.n, &pshown);
            else if (!same(&types, wtypes.v, wtypes.n))
                report("type ids", i + 1, &types, wtypes.v, wtypes.n, &pshown);
            npairs++;
        }
        free(L.s);
        free(L.len);
        free(buf);
    }
    printf("%-34s %zu lines x 5 settings, %zu pairs: %s\n", m->name, checked, npairs,
           check_failures == before ? "all equal" : "MISMATCH");
    ctk_tokenizer_free(&t);
    ctk_tok_scratch_free(&sc);
    ctk_ids_free(&raw);
    ctk_ids_free(&rawb);
    ctk_ids_free(&got);
    ctk_ids_free(&types);
    ctk_ids_free(&want);
    ctk_ids_free(&wtypes);
    free(dir);
}

/* The other corpora: corpus2 (text of this machine: man pages, docs,
 * translations), corpus3 (random code points of every plane). */
static void check_corpus(const char *corpus, const struct model *m)
{
    char path[1024];
    size_t len, lenw;
    snprintf(path, sizeof path, "%s/%s.txt.gz", datadir, corpus);
    char *tbuf = read_gz(path, &len);
    struct lines T, L;
    split_lines(tbuf, len, &T);
    snprintf(path, sizeof path, "%s/%s.%s.ids.gz", datadir, corpus, m->ids);
    char *wbuf = read_gz(path, &lenw);
    split_lines(wbuf, lenw, &L);
    struct ctk_err e;
    char *dir = ctk_path_join(tmpdir, m->name);
    struct ctk_tokenizer t;
    if (ctk_tokenizer_load(&t, dir, &e) < 0)
        ctk_die_err(&e);
    struct ctk_tok_scratch sc = {0};
    struct ctk_ids raw = {0}, got = {0}, want = {0};
    int before = check_failures, shown = 0;
    if (L.n != T.n) {
        fprintf(stderr, "%s: %zu expected lines for %zu texts\n", corpus, L.n, T.n);
        check_failures++;
    }
    for (size_t i = 0; i < L.n && i < T.n; i++) {
        parse_ids(L.s[i], L.len[i], &want);
        encode_line(&t, &sc, T.s[i], T.len[i], &raw);
        ctk_tokenizer_post(&t, raw.v, raw.n, NULL, 0, 1, 0, &got, NULL, &e);
        if (!same(&got, want.v, want.n))
            report(corpus, i + 1, &got, want.v, want.n, &shown);
    }
    printf("%-34s %s %zu lines: %s\n", m->name, corpus, T.n,
           check_failures == before ? "all equal" : "MISMATCH");
    ctk_tokenizer_free(&t);
    ctk_tok_scratch_free(&sc);
    ctk_ids_free(&raw);
    ctk_ids_free(&got);
    ctk_ids_free(&want);
    free(T.s), free(T.len), free(L.s), free(L.len);
    free(tbuf), free(wbuf), free(dir);
}

/*
 * Added tokens with every flag (lstrip, rstrip, single_word, normalized,
 * overlapping contents): bert-base-uncased's tokenizer.json plus the tokens
 * of added_tokens.json, on added_tokens.txt, against added_tokens.ids (made
 * by tests/ref/tok_ref.js from the same tokenizer.json).
 */
static void check_added(void)
{
    char path[1024];
    size_t len;
    struct ctk_err e;
    snprintf(path, sizeof path, "%s/models/bert-base-uncased/tokenizer.json.gz", datadir);
    char *buf = read_gz(path, &len);
    json_t *j = ctk_json_load_buf(buf, len, path, &e);
    snprintf(path, sizeof path, "%s/added_tokens.json", datadir);
    json_t *extra = ctk_json_load_file(path, &e);
    if (!j || !extra)
        ctk_die_err(&e);
    json_array_extend(json_object_get(j, "added_tokens"), extra);
    char *dir = ctk_path_join(tmpdir, "added");
    char *tj = ctk_path_join(dir, "tokenizer.json");
    if (ctk_mkdirs(dir, &e) < 0 || ctk_json_save_file(j, tj, &e) < 0)
        ctk_die_err(&e);
    struct ctk_tokenizer t;
    if (ctk_tokenizer_load(&t, dir, &e) < 0)
        ctk_die_err(&e);
    snprintf(path, sizeof path, "%s/added_tokens.txt", datadir);
    size_t tlen, wlen;
    char *text = ctk_read_file(path, &tlen, &e);
    snprintf(path, sizeof path, "%s/added_tokens.ids", datadir);
    char *want = ctk_read_file(path, &wlen, &e);
    if (!text || !want)
        ctk_die_err(&e);
    struct lines T, L;
    split_lines(text, tlen, &T);
    split_lines(want, wlen, &L);
    struct ctk_tok_scratch sc = {0};
    struct ctk_ids raw = {0}, got = {0}, w = {0};
    int before = check_failures, shown = 0;
    if (T.n != L.n) {
        fprintf(stderr, "added_tokens: %zu lines, %zu expected\n", T.n, L.n);
        check_failures++;
    }
    for (size_t i = 0; i < T.n && i < L.n; i++) {
        parse_ids(L.s[i], L.len[i], &w);
        encode_line(&t, &sc, T.s[i], T.len[i], &raw);
        ctk_tokenizer_post(&t, raw.v, raw.n, NULL, 0, 1, 0, &got, NULL, &e);
        if (!same(&got, w.v, w.n))
            report("added tokens", i + 1, &got, w.v, w.n, &shown);
    }
    printf("%-34s %zu lines: %s\n", "added tokens, every flag", T.n,
           check_failures == before ? "all equal" : "MISMATCH");
    ctk_tokenizer_free(&t);
    ctk_tok_scratch_free(&sc);
    ctk_ids_free(&raw);
    ctk_ids_free(&got);
    ctk_ids_free(&w);
    free(T.s), free(T.len), free(L.s), free(L.len);
    free(text), free(want), free(buf), free(dir), free(tj);
    json_decref(j);
    json_decref(extra);
}

/* WHATWG / Unicode §3.9 maximal subparts: the cases of Table 3-8 and more. */
static void check_utf8(void)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out; /* with U+FFFD as "\xEF\xBF\xBD" */
        size_t bad;
    } cases[] = {
        {"a\xF1\x80\x80\xE1\x80\xC2" "b\x80" "c\x80\xBF" "d", 13,
         "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d", 6},
        {"\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 2},             /* overlong */
        {"\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 3}, /* surrogate */
        {"\xF4\x90\x80\x80", 4,
         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 4},       /* > U+10FFFF */
        {"\xE2\x82", 2, "\xEF\xBF\xBD", 1},                          /* truncated at end */
        {"\xF0\x9F\x98", 3, "\xEF\xBF\xBD", 1},
        {"\xE2\x82\xAC\xF0\x9F\x98\x80", 7, "\xE2\x82\xAC\xF0\x9F\x98\x80", 0}, /* valid */
        {"\xFF\xFE", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 2},
        {"\xE0\x80\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 3},
        {"\xF0\x80\x80\x80", 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 4},
    };
    unsigned char *out = NULL;
    size_t cap = 0, len;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t bad = ctk_utf8_sanitize((const unsigned char *)cases[i].in, cases[i].n, &out,
                                       &cap, &len);
        size_t first = ctk_utf8_check((const unsigned char *)cases[i].in, cases[i].n);
        if (bad != cases[i].bad || len != strlen(cases[i].out) ||
            memcmp(out, cases[i].out, len) != 0 || (first == cases[i].n) != (bad == 0)) {
            fprintf(stderr, "utf8 case %zu: %zu replacements (want %zu), %zu bytes\n", i, bad,
                    cases[i].bad, len);
            check_failures++;
        }
    }
    free(out);
}

/* `ab\xFFcd` -> `abcd` -> 101 5925 2094 102 (bert-base-uncased). */
static void check_invalid_rule(void)
{
    char *dir = ctk_path_join(tmpdir, "bert-base-uncased");
    struct ctk_tokenizer t;
    struct ctk_err e;
    if (ctk_tokenizer_load(&t, dir, &e) < 0)
        ctk_die_err(&e);
    struct ctk_tok_scratch sc = {0};
    struct ctk_ids raw = {0}, got = {0};
    const int32_t want[] = {101, 5925, 2094, 102};
    int shown = 0;
    encode_line(&t, &sc, "ab\xFF" "cd", 5, &raw);
    ctk_tokenizer_post(&t, raw.v, raw.n, NULL, 0, 1, 0, &got, NULL, &e);
    if (!same(&got, want, 4))
        report("ab\\xFFcd", 1, &got, want, 4, &shown);
    else
        printf("%-34s ab\\xFFcd -> 101 5925 2094 102\n", "invalid UTF-8 rule");
    ctk_tokenizer_free(&t);
    ctk_tok_scratch_free(&sc);
    ctk_ids_free(&raw);
    ctk_ids_free(&got);
    free(dir);
}

/* A tokenizer.json with a field ctk does not implement is refused by name. */
static void check_refusals(void)
{
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"normalizer\":{\"type\":\"NFC\"},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
         "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0}}}", "normalizer.type"},
        {"{\"normalizer\":{\"type\":\"BertNormalizer\"},\"pre_tokenizer\":{\"type\":"
         "\"BertPreTokenizer\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"[UNK]\":0}}}",
         "model.type"},
        {"{\"normalizer\":{\"type\":\"BertNormalizer\",\"foo\":1},\"pre_tokenizer\":{\"type\":"
         "\"BertPreTokenizer\"},\"model\":{\"vocab\":{\"[UNK]\":0}}}", "normalizer.foo"},
        {"{\"normalizer\":{\"type\":\"BertNormalizer\"},\"pre_tokenizer\":{\"type\":"
         "\"Whitespace\"},\"model\":{\"vocab\":{\"[UNK]\":0}}}", "pre_tokenizer"},
        {"{\"normalizer\":{\"type\":\"BertNormalizer\"},\"pre_tokenizer\":{\"type\":"
         "\"BertPreTokenizer\"},\"model\":{\"vocab\":{\"[UNK]\":0}},\"extra\":{}}",
         "tokenizer.extra"},
        {"{\"normalizer\":{\"type\":\"BertNormalizer\"},\"pre_tokenizer\":{\"type\":"
         "\"BertPreTokenizer\"},\"model\":{\"vocab\":{\"[UNK]\":0}},\"post_processor\":"
         "{\"type\":\"ByteLevel\"}}", "post_processor.type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = ctk_path_join(tmpdir, "bad.json");
        struct ctk_err e;
        struct ctk_tokenizer t;
        if (ctk_write_file_atomic(p, cases[i].json, strlen(cases[i].json), &e) < 0)
            ctk_die_err(&e);
        if (ctk_tokenizer_load_json(&t, p, &e) == 0) {
            fprintf(stderr, "refusal case %zu: accepted\n", i);
            check_failures++;
            ctk_tokenizer_free(&t);
        } else if (!strstr(e.msg, cases[i].needle)) {
            fprintf(stderr, "refusal case %zu: message does not name %s: %s\n", i,
                    cases[i].needle, e.msg);
            check_failures++;
            ctk_tokenizer_free(&t);
        } else {
            ctk_tokenizer_free(&t);
        }
        unlink(p);
        free(p);
    }
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_tok: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    ctk_init("test_tok", argc, argv);
    char *dd = NULL;
    if (argc > 1)
        datadir = argv[1];
    else {
        const char *src = getenv("CTK_SRCDIR");
        dd = ctk_path_join(src ? src : ".", "tests/data/tok");
        datadir = dd;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_tok.XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("test_tok: mkdtemp");
        return 1;
    }
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/conformance.txt.gz", datadir);
    char *text = read_gz(path, &len);
    struct lines T;
    split_lines(text, len, &T);

    static const struct model models[] = {
        {"bert-base-uncased", {"tokenizer.json", NULL}, "bert-base-uncased", "bert-base-uncased"},
        {"all-MiniLM-L6-v2", {"tokenizer.json", "sentence_bert_config.json", NULL},
         "bert-base-uncased", "all-MiniLM-L6-v2"},
        {"bert-base-uncased-vocab", {"vocab.txt", "tokenizer_config.json", NULL},
         "bert-base-uncased", "bert-base-uncased"},
        {"bert-base-cased", {"vocab.txt", "tokenizer_config.json", NULL}, "bert-base-cased",
         "bert-base-cased"},
        {"bert-base-multilingual-cased", {"vocab.txt", "tokenizer_config.json", NULL},
         "bert-base-multilingual-cased", "bert-base-multilingual-cased"},
        {"all-mpnet-base-v2", {"tokenizer.json", "tokenizer_config.json", NULL},
         "all-mpnet-base-v2", "all-mpnet-base-v2"},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_model(&models[i], &T);
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        check_corpus("corpus2", &models[i]);
        check_corpus("corpus3", &models[i]);
    }
    check_added();
    check_utf8();
    check_invalid_rule();
    check_refusals();
    remove_tree(tmpdir);
    free(T.s);
    free(T.len);
    free(text);
    free(dd);
    return check_exit("test_tok");
}
