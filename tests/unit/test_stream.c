/*
 * test_stream.c -- the stream format (lib/stream.c) and the text readers
 * (lib/textio.c): exact round trips of every column kind and of the
 * metadata, the record layout checked by an independent parse (jansson and
 * zlib here, not stream.c), concatenated members, a stream cut at every byte
 * offset and with every byte flipped (always an error naming a record, never
 * a clean short read), hand-made records whose header numbers lie (valid
 * crc32, bad shapes/offsets), and TSV/JSON Lines reading rules.
 * Exits non-zero on any failure.
 */
#include "config.h"
#include "stream.h"
#include "textio.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static int failures;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            failures++;                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fputc('\n', stderr);                           \
        }                                                  \
    } while (0)

/* --- a sample stream in memory ------------------------------------------------------ */

static void sample_meta(struct ctk_stream_meta *m, const char *history)
{
    ctk_meta_init(m);
    ctk_meta_add_col(m, "id", CTK_COL_DENSE, CTK_I64, 0);
    ctk_meta_add_col(m, "label", CTK_COL_STRING, CTK_U8, 0);
    ctk_meta_add_col(m, "text", CTK_COL_STRING, CTK_U8, 0);
    ctk_meta_add_col(m, "emb", CTK_COL_DENSE, CTK_F32, 3);
    ctk_meta_add_col(m, "ids", CTK_COL_RAGGED, CTK_I32, 0);
    ctk_meta_add_col(m, "score", CTK_COL_DENSE, CTK_F32, 0);
    ctk_meta_set_model(m, "tiny-model");
    m->dim = 3;
    m->normalized = 1;
    char *labels[] = {"neg", "pos", "caf\xc3\xa9"};
    ctk_meta_set_labels(m, 3, labels);
    ctk_meta_add_history(m, history);
    ctk_meta_set(m, "seed", "42");
}

/* Row r's values, a function of the global row number g. */
static void row_values(int64_t g, char *label, char *text, float *emb, int32_t *ids, int *nids,
                       float *score)
{
    sprintf(label, "%s", g % 2 ? "pos" : "neg");
    if (g % 5 == 0) text[0] = '\0';
    else sprintf(text, "row %lld \xe2\x82\xac\ttab", (long long)g);
    for (int k = 0; k < 3; k++) emb[k] = (float)g / 7.0f + (float)k * 1e-7f;
    *nids = (int)(g % 4);
    for (int k = 0; k < *nids; k++) ids[k] = (int32_t)(g * 10 + k - 20);
    *score = g % 3 ? 1.0f / (float)g : -0.0f;
}

/* Write nchunks chunks of rows_per rows into a memory buffer. */
static char *write_sample(size_t *len, int nchunks, int rows_per, const char *history)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    struct ctk_stream_meta m;
    struct ctk_stream s;
    struct ctk_chunk c = {0};
    struct ctk_err e;
    sample_meta(&m, history);
    if (ctk_stream_open_write(&s, f, "mem", &m, &e) < 0) {
        fprintf(stderr, "open_write: %s\n", e.msg);
        exit(1);
    }
    int64_t g = 1;
    for (int ch = 0; ch < nchunks; ch++) {
        ctk_chunk_reset(&c, &m);
        int64_t *id = ctk_col_dense_reserve(&c, &m, 0, rows_per);
        float *emb = ctk_col_dense_reserve(&c, &m, 3, rows_per);
        float *score = ctk_col_dense_reserve(&c, &m, 5, rows_per);
        for (int r = 0; r < rows_per; r++, g++) {
            char label[16], text[64];
            int32_t ids[8];
            int nids;
            row_values(g, label, text, emb + 3 * r, ids, &nids, &score[r]);
            id[r] = g;
            ctk_col_append(&c, &m, 1, label, (int64_t)strlen(label));
            ctk_col_append(&c, &m, 2, text, (int64_t)strlen(text));
            ctk_col_append(&c, &m, 4, ids, nids);
        }
        c.rows = rows_per;
        if (ctk_chunk_write(&s, &c, &e) < 0) {
            fprintf(stderr, "chunk_write: %s\n", e.msg);
            exit(1);
        }
    }
    if (ctk_stream_close(&s, &e) < 0) {
        fprintf(stderr, "close: %s\n", e.msg);
        exit(1);
    }
    fclose(f);
    ctk_meta_free(&m);
    ctk_chunk_free(&c);
    return buf;
}

/* Read a buffer: 0 with *rows on a complete stream, -1 with e otherwise. */
static int read_all(const char *buf, size_t len, int64_t *rows, int check_values, struct ctk_err *e)
{
    FILE *f = fmemopen((void *)buf, len ? len : 1, "rb");
    if (len == 0) fgetc(f);
    struct ctk_stream s;
    struct ctk_chunk c = {0};
    int rc = ctk_stream_open_readf(&s, f, "mem", e);
    *rows = 0;
    if (rc == 0) {
        while ((rc = ctk_chunk_read(&s, &c, e)) == 1) {
            for (int64_t r = 0; check_values && r < c.rows; r++) {
                int64_t g = *rows + r + 1, n;
                char label[16], text[64];
                float emb[3], score;
                int32_t ids[8];
                int nids;
                row_values(g, label, text, emb, ids, &nids, &score);
                CHECK(((int64_t *)c.cols[0].data)[r] == g, "id of row %lld", (long long)g);
                const char *p = ctk_col_row(&c, &s.meta, 1, r, &n);
                CHECK(n == (int64_t)strlen(label) && !memcmp(p, label, (size_t)n), "label of row %lld", (long long)g);
                p = ctk_col_row(&c, &s.meta, 2, r, &n);
                CHECK(n == (int64_t)strlen(text) && !memcmp(p, text, (size_t)n), "text of row %lld", (long long)g);
                const float *fe = ctk_col_row(&c, &s.meta, 3, r, &n);
                CHECK(n == 3 && !memcmp(fe, emb, sizeof emb), "emb of row %lld", (long long)g);
                const int32_t *pi = ctk_col_row(&c, &s.meta, 4, r, &n);
                CHECK(n == nids && (n == 0 || !memcmp(pi, ids, (size_t)n * 4)), "ids of row %lld", (long long)g);
                const float *ps = ctk_col_row(&c, &s.meta, 5, r, &n);
                CHECK(n == 1 && !memcmp(ps, &score, 4), "score of row %lld", (long long)g);
            }
            *rows += c.rows;
        }
        struct ctk_err e2;
        ctk_stream_close(&s, &e2);
    }
    ctk_chunk_free(&c);
    fclose(f);
    return rc;
}

/* --- the tests ----------------------------------------------------------------------- */

static void test_roundtrip(void)
{
    size_t len;
    char *buf = write_sample(&len, 3, 7, "test-writer --x");
    int64_t rows;
    struct ctk_err e;
    CHECK(read_all(buf, len, &rows, 1, &e) == 0, "round trip: %s", e.msg);
    CHECK(rows == 21, "round trip: %lld rows, expected 21", (long long)rows);

    /* Metadata comes back. */
    FILE *f = fmemopen(buf, len, "rb");
    struct ctk_stream s;
    CHECK(ctk_stream_open_readf(&s, f, "mem", &e) == 0, "open: %s", e.msg);
    struct ctk_stream_meta *m = &s.meta;
    CHECK(m->ncols == 6 && !strcmp(m->cols[3].name, "emb") && m->cols[3].width == 3 &&
              m->cols[4].kind == CTK_COL_RAGGED && m->cols[4].dtype == CTK_I32,
          "schema");
    CHECK(m->model && !strcmp(m->model, "tiny-model"), "model");
    CHECK(m->dim == 3 && m->normalized == 1, "dim/normalized");
    CHECK(m->nlabels == 3 && !strcmp(m->labels[2], "caf\xc3\xa9"), "labels");
    CHECK(m->nhistory == 1 && !strcmp(m->history[0], "test-writer --x"), "history");
    CHECK(ctk_meta_get(m, "seed") && !strcmp(ctk_meta_get(m, "seed"), "42"), "extra metadata");
    ctk_stream_close(&s, &e);
    fclose(f);
    free(buf);
}

/* The bytes, parsed here with jansson and zlib: magic, then safetensors records. */
static void test_layout(void)
{
    size_t len;
    unsigned char *b = (unsigned char *)write_sample(&len, 2, 4, "layout");
    CHECK(len > 8 && !memcmp(b, "\x89" "CTK\r\n\x1a\n", 8), "magic");
    size_t pos = 8;
    const char *kinds[] = {"header", "chunk", "chunk", "end"};
    for (int rec = 0; rec < 4 && pos + 8 <= len; rec++) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | b[pos + (size_t)i];
        CHECK(n % 8 == 0, "record %d: header length %llu not a multiple of 8", rec, (unsigned long long)n);
        json_error_t je;
        json_t *h = json_loadb((char *)b + pos + 8, n, 0, &je);
        CHECK(h != NULL, "record %d: header is not JSON: %s", rec, je.text);
        if (!h) break;
        const json_t *md = json_object_get(h, "__metadata__");
        CHECK(!strcmp(json_string_value(json_object_get(md, "kind")), kinds[rec]), "record %d kind", rec);
        CHECK(!strncmp((char *)b + pos + 8, "{\"__metadata__\":{\"crc32\":\"", 26), "record %d crc first", rec);
        /* Data area: the tensors, contiguous from 0. */
        uint64_t end = 0, total = 0;
        const char *key;
        json_t *v;
        json_object_foreach(h, key, v) {
            if (!strcmp(key, "__metadata__")) continue;
            const json_t *off = json_object_get(v, "data_offsets");
            uint64_t b0 = (uint64_t)json_integer_value(json_array_get(off, 0));
            uint64_t b1 = (uint64_t)json_integer_value(json_array_get(off, 1));
            CHECK(b0 == end, "record %d: tensor %s begins at %llu, expected %llu", rec, key,
                  (unsigned long long)b0, (unsigned long long)end);
            end = b1;
            total += b1 - b0;
        }
        if (rec == 1) {
            CHECK(json_object_get(h, "text.offsets") && json_object_get(h, "emb"), "chunk tensors");
            const json_t *sh = json_object_get(json_object_get(h, "emb"), "shape");
            CHECK(json_integer_value(json_array_get(sh, 0)) == 4 &&
                      json_integer_value(json_array_get(sh, 1)) == 3, "emb shape [4,3]");
            /* id tensor: I64 little-endian 1..4 */
            const json_t *off = json_object_get(json_object_get(h, "id"), "data_offsets");
            size_t at = pos + 8 + n + (size_t)json_integer_value(json_array_get(off, 0));
            int64_t id2;
            memcpy(&id2, b + at + 8, 8);
            CHECK(id2 == 2, "second id reads %lld", (long long)id2);
        }
        /* crc32 over the header (digits zeroed) and the data area. */
        unsigned want = (unsigned)strtoul(json_string_value(json_object_get(md, "crc32")), NULL, 16);
        char *hz = malloc(n);
        memcpy(hz, b + pos + 8, n);
        memcpy(hz + 26, "00000000", 8);
        uLong crc = crc32(0, (Bytef *)hz, (uInt)n);
        crc = crc32(crc, b + pos + 8 + n, (uInt)total);
        free(hz);
        CHECK(crc == want, "record %d: crc32 %08lx, header says %08x", rec, crc, want);
        pos += 8 + n + total;
        json_decref(h);
    }
    CHECK(pos == len, "records cover the stream (%zu of %zu bytes)", pos, len);
    free(b);
}

/* Cut at every offset: never a clean end, always a message naming the record. */
static void test_truncation(void)
{
    size_t len;
    char *buf = write_sample(&len, 3, 3, "trunc");
    int bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        int64_t rows;
        struct ctk_err e = {{0}};
        int rc = read_all(buf, cut, &rows, 0, &e);
        int named = strstr(e.msg, "chunk") || strstr(e.msg, "record") || strstr(e.msg, "not a ctk stream");
        if (rc != -1 || !named) {
            if (bad++ < 5) fprintf(stderr, "cut at %zu: rc %d, message '%s'\n", cut, rc, e.msg);
        }
    }
    CHECK(bad == 0, "%d of %zu cut streams were not errors naming a record", bad, len);
    free(buf);
}

/* Every byte flipped (two ways): an error, never a different stream. */
static void test_flips(void)
{
    size_t len;
    char *buf = write_sample(&len, 2, 3, "flips");
    int bad = 0;
    for (size_t i = 0; i < len; i++)
        for (int mask = 0x01; mask <= 0x80; mask <<= 7) {
            buf[i] ^= (char)mask;
            int64_t rows;
            struct ctk_err e = {{0}};
            int rc = read_all(buf, len, &rows, 0, &e);
            if (rc != -1 && bad++ < 5)
                fprintf(stderr, "flip 0x%02x at byte %zu: rc %d, rows %lld\n", mask, i, rc, (long long)rows);
            buf[i] ^= (char)mask;
        }
    CHECK(bad == 0, "%d flipped streams were read without an error", bad);
    free(buf);
}

static void test_concat(void)
{
    size_t la, lb;
    char *a = write_sample(&la, 2, 3, "first");
    char *b = write_sample(&lb, 1, 5, "second, another history");
    char *ab = malloc(la + lb);
    memcpy(ab, a, la);
    memcpy(ab + la, b, lb);
    int64_t rows;
    struct ctk_err e;
    CHECK(read_all(ab, la + lb, &rows, 0, &e) == 0 && rows == 11, "cat a b reads as one stream: %s",
          e.msg);
    /* A member with another schema: an error naming the member. */
    char *t = NULL;
    size_t lt;
    FILE *f = open_memstream(&t, &lt);
    struct ctk_stream_meta m;
    struct ctk_stream s;
    ctk_meta_init(&m);
    ctk_meta_add_col(&m, "text", CTK_COL_STRING, CTK_U8, 0);
    ctk_stream_open_write(&s, f, "mem", &m, &e);
    ctk_stream_close(&s, &e);
    fclose(f);
    char *at = malloc(la + lt);
    memcpy(at, a, la);
    memcpy(at + la, t, lt);
    CHECK(read_all(at, la + lt, &rows, 0, &e) == -1 && strstr(e.msg, "member 2") &&
              strstr(e.msg, "columns"), "a member with another schema: '%s'", e.msg);
    /* Other labels: an error too. */
    ctk_meta_free(&m);
    free(t);
    t = NULL;
    f = open_memstream(&t, &lt);
    sample_meta(&m, "x");
    char *labels[] = {"a", "b"};
    ctk_meta_set_labels(&m, 2, labels);
    ctk_stream_open_write(&s, f, "mem", &m, &e);
    ctk_stream_close(&s, &e);
    fclose(f);
    at = realloc(at, la + lt);
    memcpy(at + la, t, lt);
    CHECK(read_all(at, la + lt, &rows, 0, &e) == -1 && strstr(e.msg, "label"), "other labels: '%s'", e.msg);
    /* Garbage after the end record. */
    memcpy(at + la, "garbage!", 8);
    CHECK(read_all(at, la + 8, &rows, 0, &e) == -1 && strstr(e.msg, "garbage"), "trailing garbage: '%s'", e.msg);
    ctk_meta_free(&m);
    free(a);
    free(b);
    free(ab);
    free(at);
    free(t);
}

/* A stream with one hand-made chunk record: header JSON h (crc32 computed here), data d. */
static char *craft(size_t *len, const char *schema, const char *tensors, const char *rows,
                   const void *d, size_t dn, const char *end_rows)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    char h[4096];
    fwrite("\x89" "CTK\r\n\x1a\n", 1, 8, f);
    for (int rec = 0; rec < 3; rec++) {
        if (rec == 0)
            snprintf(h, sizeof h, "{\"__metadata__\":{\"crc32\":\"00000000\",\"kind\":\"header\","
                                  "\"version\":\"1\",\"schema\":\"%s\",\"history\":\"[]\"}}", schema);
        else if (rec == 1)
            snprintf(h, sizeof h, "{\"__metadata__\":{\"crc32\":\"00000000\",\"kind\":\"chunk\","
                                  "\"chunk\":\"1\",\"rows\":\"%s\"}%s}", rows, tensors);
        else
            snprintf(h, sizeof h, "{\"__metadata__\":{\"crc32\":\"00000000\",\"kind\":\"end\","
                                  "\"rows\":\"%s\",\"chunks\":\"1\"}}", end_rows);
        size_t n = strlen(h);
        uLong crc = crc32(0, (Bytef *)h, (uInt)n);
        if (rec == 1) crc = crc32(crc, d, (uInt)dn);
        char hex[9];
        snprintf(hex, sizeof hex, "%08lx", crc);
        memcpy(h + 26, hex, 8);
        uint64_t n64 = n;
        fwrite(&n64, 8, 1, f);
        fwrite(h, 1, n, f);
        if (rec == 1) fwrite(d, 1, dn, f);
    }
    fclose(f);
    return buf;
}

static void test_lies(void)
{
    const char *schema = "[{\\\"name\\\":\\\"text\\\",\\\"kind\\\":\\\"string\\\",\\\"dtype\\\":\\\"U8\\\",\\\"width\\\":0}]";
    struct { int64_t off[3]; char bytes[5]; } d = {{0, 2, 5}, "abcde"};
    struct {
        const char *tensors, *rows, *expect;
    } cases[] = {
        /* the good one first */
        {",\"text.offsets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
         "\"text\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[24,29]}", "2", NULL},
        {",\"text.offsets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
         "\"text\":{\"dtype\":\"U8\",\"shape\":[5000000000],\"data_offsets\":[24,5000000024]}", "2", "out of range"},
        {",\"text.offsets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
         "\"text\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[20,25]}", "2", "hole or overlap"},
        {",\"text.offsets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
         "\"text\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[24,29]}", "2", "shape needs"},
        {",\"text.offsets\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[0,12]},"
         "\"text\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[12,17]}", "2", "dtype"},
        {",\"text.offsets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
         "\"text\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[24,29]}", "3", "expected [4]"},
        {",\"text.offsets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
         "\"text\":{\"dtype\":\"U8\",\"shape\":[-5],\"data_offsets\":[24,29]}", "2", "bad shape"},
        {",\"text.offsets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}", "2", "tensors"},
        {",\"text.offsets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
         "\"text\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[24,29]},"
         "\"other\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[29,29]}", "2", "tensors"},
        {",\"text.offsets\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
         "\"text\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[24,29]}", "99999999999", "row count"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *buf = craft(&len, schema, cases[i].tensors, cases[i].rows, &d, 29, cases[i].rows);
        int64_t rows;
        struct ctk_err e = {{0}};
        int rc = read_all(buf, len, &rows, 0, &e);
        if (!cases[i].expect)
            CHECK(rc == 0 && rows == 2, "hand-made good record: %s", e.msg);
        else
            CHECK(rc == -1 && strstr(e.msg, cases[i].expect) && strstr(e.msg, "chunk 1"),
                  "lie %zu: rc %d, message '%s' (expected '%s')", i, rc, e.msg, cases[i].expect);
        free(buf);
    }
    /* Offsets that decrease, or end past the values. */
    int64_t bad_offs[][3] = {{0, 4, 3}, {1, 2, 5}, {0, 2, 4}};
    const char *msgs[] = {"decrease", "start at 0", "last offset"};
    for (int i = 0; i < 3; i++) {
        memcpy(d.off, bad_offs[i], sizeof d.off);
        size_t len;
        char *buf = craft(&len, schema, cases[0].tensors, "2", &d, 29, "2");
        int64_t rows;
        struct ctk_err e = {{0}};
        CHECK(read_all(buf, len, &rows, 0, &e) == -1 && strstr(e.msg, msgs[i]), "bad offsets %d: '%s'", i, e.msg);
        free(buf);
    }
    /* The end record counts other rows: chunks lost. */
    memcpy(d.off, (int64_t[]){0, 2, 5}, sizeof d.off);
    size_t len;
    char *buf = craft(&len, schema, cases[0].tensors, "2", &d, 29, "7");
    int64_t rows;
    struct ctk_err e = {{0}};
    CHECK(read_all(buf, len, &rows, 0, &e) == -1 && strstr(e.msg, "end record"), "end count: '%s'", e.msg);
    free(buf);
}

/* --- text ------------------------------------------------------------------------------- */

static char tmpdir[64];

static const char *tmpfile_with(const char *name, const char *content, size_t n)
{
    static char path[8][128];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    fwrite(content, 1, n, f);
    fclose(f);
    return p;
}

#define TF(name, str) tmpfile_with(name, str, strlen(str))

/* Read text into one string "col=val|col=val;" per row, for comparison. */
static int read_text(const char *const *paths, int n, const struct ctk_text_opts *o, char *out,
                     size_t cap, struct ctk_err *e)
{
    struct ctk_stream s;
    struct ctk_chunk c = {0};
    if (ctk_input_open(&s, paths, n, o, e) < 0) return -1;
    size_t k = 0;
    out[0] = '\0';
    int rc;
    k += (size_t)snprintf(out + k, cap - k, "[");
    for (int i = 0; i < s.meta.ncols; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? "," : "", s.meta.cols[i].name);
    k += (size_t)snprintf(out + k, cap - k, "]");
    while ((rc = ctk_chunk_read(&s, &c, e)) == 1)
        for (int64_t r = 0; r < c.rows; r++) {
            for (int i = 0; i < s.meta.ncols; i++) {
                int64_t len;
                const void *p = ctk_col_row(&c, &s.meta, i, r, &len);
                if (s.meta.cols[i].dtype == CTK_I64)
                    k += (size_t)snprintf(out + k, cap - k, "%s%lld", i ? "|" : "", (long long)*(const int64_t *)p);
                else if (s.meta.cols[i].dtype == CTK_U8)
                    k += (size_t)snprintf(out + k, cap - k, "%s%.*s", i ? "|" : "", (int)len, (const char *)p);
                else {
                    k += (size_t)snprintf(out + k, cap - k, "%s", i ? "|" : "");
                    for (int64_t j = 0; j < len; j++) {
                        if (s.meta.cols[i].dtype == CTK_I32)
                            k += (size_t)snprintf(out + k, cap - k, "%s%d", j ? " " : "", ((const int32_t *)p)[j]);
                        else
                            k += (size_t)snprintf(out + k, cap - k, "%s%g", j ? " " : "", (double)((const float *)p)[j]);
                    }
                }
            }
            k += (size_t)snprintf(out + k, cap - k, ";");
        }
    struct ctk_err e2;
    ctk_stream_close(&s, &e2);
    ctk_chunk_free(&c);
    return rc;
}

static void expect_text(const char *what, const char *const *paths, int n, const struct ctk_text_opts *o,
                        const char *want)
{
    char got[4096];
    struct ctk_err e = {{0}};
    int rc = read_text(paths, n, o, got, sizeof got, &e);
    if (want[0] == '!')
        CHECK(rc == -1 && strstr(e.msg, want + 1), "%s: expected error '%s', got rc %d '%s' / '%s'",
              what, want + 1, rc, e.msg, got);
    else
        CHECK(rc == 0 && !strcmp(got, want), "%s:\n  got  %s\n  want %s\n  (%s)", what, got, want, e.msg);
}

static void test_text(void)
{
    struct ctk_text_opts o = {0};
    const char *p[3];
    p[0] = TF("a.tsv", "one\n\ntwo\r\n");
    expect_text("one field", p, 1, &o, "[id,text]1|one;2|;3|two\r;");
    p[0] = TF("b.tsv", "\n\npos\tgood\nneg\tbad");
    expect_text("two fields, leading blank lines, no final newline", p, 1, &o,
                "[id,label,text]1||;2||;3|pos|good;4|neg|bad;");
    p[0] = TF("c.tsv", "5.0\ta\tb\n1\tc\td\n");
    expect_text("three fields", p, 1, &o, "[id,label,text1,text2]1|5.0|a|b;2|1|c|d;");
    p[0] = TF("d.tsv", "pos\tgood\nneg\tbad\textra\n");
    expect_text("field count differs", p, 1, &o, "!d.tsv:2: 3 fields where 2 are expected");
    o.header = 1;
    p[0] = TF("e.tsv", "score\ttext1\ttext2\n1\ta\tb\n");
    p[1] = TF("f.tsv", "score\ttext1\ttext2\n2\tc\td\n\n");
    expect_text("header, two files, ids continue", p, 2, &o,
                "[id,score,text1,text2]2|1|a|b;4|2|c|d;5|||;");
    p[1] = TF("g.tsv", "score\ttext\n");
    expect_text("header differs", p, 2, &o, "!g.tsv:1: the header line differs");
    p[0] = TF("h.tsv", "id\ttext\nx7\thello\n");
    expect_text("string id column", p, 1, &o, "[id,text]x7|hello;");
    p[0] = TF("i.tsv", "a\ta\n");
    expect_text("duplicate header names", p, 1, &o, "!named twice");
    o.header = 0;
    o.names = "label,anchor";
    o.id_offset = 100;
    p[0] = TF("j.tsv", "x\ty\n");
    expect_text("names and id offset", p, 1, &o, "[id,label,anchor]101|x|y;");
    memset(&o, 0, sizeof o);
    o.format = CTK_TEXT_JSONL;
    p[0] = TF("k.jsonl", "{\"text\":\"a\\tb\",\"score\":0.5,\"ids\":[1,2]}\n{\"ids\":[],\"score\":2,\"text\":\"\"}\n");
    expect_text("jsonl", p, 1, &o, "[id,text,score,ids]1|a\tb|0.5|1 2;2||2|;");
    p[0] = TF("l.jsonl", "{\"text\":\"a\"}\n{\"text\":3}\n");
    expect_text("jsonl type change", p, 1, &o, "!l.jsonl:2: 'text' is not a string");
    p[0] = TF("m.jsonl", "{\"text\":\"a\"}\n\n");
    expect_text("jsonl empty line", p, 1, &o, "!m.jsonl:2: empty line");
    /* a stream is recognised whatever the format says */
    size_t len;
    char *buf = write_sample(&len, 1, 2, "x");
    p[0] = tmpfile_with("n.ctk", buf, len);
    free(buf);
    struct ctk_stream s;
    struct ctk_err e;
    CHECK(ctk_input_open(&s, p, 1, &o, &e) == 0 && ctk_input_is_stream(&s) && s.meta.ncols == 6,
          "input_open of a stream");
    ctk_stream_close(&s, &e);
    /* nearly the magic: damaged, not text */
    p[0] = TF("o.ctk", "\x89" "CTK\r\n\x1b\nxxxx");
    memset(&o, 0, sizeof o);
    expect_text("damaged magic", p, 1, &o, "!magic bytes are damaged");
    p[0] = TF("p.ctk", "\x89" "CT");
    expect_text("cut magic", p, 1, &o, "!magic bytes are cut short");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_stream.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrip();
    test_layout();
    test_truncation();
    test_flips();
    test_concat();
    test_lies();
    test_text();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    if (failures) {
        fprintf(stderr, "test_stream: %d failures\n", failures);
        return 1;
    }
    printf("test_stream: all passed\n");
    return 0;
}
