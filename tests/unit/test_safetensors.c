/*
 * test_safetensors.c -- F16/BF16 conversions against hand-computed bit
 * patterns (and the compiler's own _Float16 conversion where it has one),
 * the safetensors writer against a byte layout written out by hand, and
 * the reader against a table of malformed headers, each of which must be
 * refused with a message naming the problem.
 */
#include "config.h"
#include "f16.h"
#include "rng.h"
#include "safetensors.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static void test_f16(void)
{
    /* float bits -> expected half bits, each worked out by hand from the layouts. */
    static const struct { uint32_t f; uint16_t h; const char *why; } to16[] = {
        {0x3f800000, 0x3c00, "1"},
        {0xc0000000, 0xc000, "-2"},
        {0x00000000, 0x0000, "+0"},
        {0x80000000, 0x8000, "-0"},
        {0x477fe000, 0x7bff, "65504, largest half"},
        {0x477fefff, 0x7bff, "65519.99 rounds down"},
        {0x477ff000, 0x7c00, "65520: tie, odd 0x7bff rounds up to inf"},
        {0x7f800000, 0x7c00, "inf"},
        {0xff800000, 0xfc00, "-inf"},
        {0x7fc00000, 0x7e00, "nan stays quiet nan"},
        {0x7f800001, 0x7e00, "signalling nan becomes quiet"},
        {0x3dcccccd, 0x2e66, "0.1"},
        {0x3f801000, 0x3c00, "1 + 2^-11: tie, even stays"},
        {0x3f803000, 0x3c02, "1 + 3*2^-11: tie, odd rounds up"},
        {0x3f801001, 0x3c01, "just above the tie"},
        {0x38800000, 0x0400, "2^-14, smallest normal"},
        {0x387fc000, 0x03ff, "1023*2^-24, largest subnormal"},
        {0x33800000, 0x0001, "2^-24, smallest subnormal"},
        {0x33000000, 0x0000, "2^-25: tie, rounds to even 0"},
        {0x33400000, 0x0001, "1.5*2^-25 rounds up"},
        {0x33c00000, 0x0002, "1.5*2^-24: tie, odd 1 rounds to 2"},
        {0x387fe000, 0x0400, "1023.5*2^-24 rounds up into the smallest normal"},
        {0x32ffffff, 0x0000, "below 2^-25"},
        {0x00000001, 0x0000, "float subnormal"},
        {0xb3800000, 0x8001, "-2^-24"},
    };
    for (size_t i = 0; i < sizeof to16 / sizeof *to16; i++) {
        uint16_t h = ctk_f32_to_f16(u2f(to16[i].f));
        CHECK(h == to16[i].h, "f32_to_f16(%08x: %s) = %04x, expected %04x", to16[i].f, to16[i].why,
              h, to16[i].h);
    }
    static const struct { uint16_t h; uint32_t f; } from16[] = {
        {0x0001, 0x33800000}, {0x03ff, 0x387fc000}, {0x0400, 0x38800000}, {0x3555, 0x3eaaa000},
        {0x7bff, 0x477fe000}, {0xfc00, 0xff800000}, {0x8000, 0x80000000}, {0xc000, 0xc0000000},
    };
    for (size_t i = 0; i < sizeof from16 / sizeof *from16; i++) {
        uint32_t f = f2u(ctk_f16_to_f32(from16[i].h));
        CHECK(f == from16[i].f, "f16_to_f32(%04x) = %08x, expected %08x", from16[i].h, f,
              from16[i].f);
    }
    CHECK(isnan(ctk_f16_to_f32(0x7e00)) && isnan(ctk_f16_to_f32(0xfd01)), "f16 nan");
    /* Every finite half survives half -> float -> half. */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
        if (ctk_f32_to_f16(ctk_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
#ifdef __FLT16_MAX__
    /* The compiler's conversion (IEEE round to nearest even) as a second reference. */
    struct ctk_rng r;
    ctk_rng_seed(&r, 1);
    bad = 0;
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)ctk_rng_next(&r);
        float f = u2f(u);
        if (isnan(f)) continue;
        _Float16 c = (_Float16)f;
        uint16_t ch;
        memcpy(&ch, &c, 2);
        if (ctk_f32_to_f16(f) != ch && bad++ < 5)
            printf("  f32_to_f16(%08x) = %04x, compiler %04x\n", u, ctk_f32_to_f16(f), ch);
    }
    CHECK(bad == 0, "%d random floats convert unlike the compiler's _Float16", bad);
#endif
}

static void test_bf16(void)
{
    static const struct { uint32_t f; uint16_t h; const char *why; } to16[] = {
        {0x3f800000, 0x3f80, "1"},
        {0x3f808000, 0x3f80, "1 + 2^-8: tie, even stays"},
        {0x3f818000, 0x3f82, "1 + 3*2^-8: tie, odd rounds up"},
        {0x3f808001, 0x3f81, "just above the tie"},
        {0x40490fdb, 0x4049, "pi"},
        {0x40498000, 0x404a, "tie with odd 0x4049"},
        {0x7f7fffff, 0x7f80, "largest float rounds to inf"},
        {0xff800000, 0xff80, "-inf"},
        {0x7fc00001, 0x7fc0, "nan"},
        {0x7f800001, 0x7fc0, "signalling nan becomes quiet, not inf"},
        {0x00008000, 0x0000, "subnormal tie, even 0"},
        {0x00018000, 0x0002, "subnormal tie, odd 1 rounds to 2"},
        {0x80000000, 0x8000, "-0"},
    };
    for (size_t i = 0; i < sizeof to16 / sizeof *to16; i++) {
        uint16_t h = ctk_f32_to_bf16(u2f(to16[i].f));
        CHECK(h == to16[i].h, "f32_to_bf16(%08x: %s) = %04x, expected %04x", to16[i].f,
              to16[i].why, h, to16[i].h);
    }
    CHECK(f2u(ctk_bf16_to_f32(0x4049)) == 0x40490000, "bf16_to_f32(4049)");
    CHECK(f2u(ctk_bf16_to_f32(0x0001)) == 0x00010000, "bf16_to_f32(0001)");
}

/* A safetensors record from a header string and data_len bytes of data (value i at byte i). */
static unsigned char *record(const char *header, size_t hlen_field, size_t data_len, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    unsigned char *b = malloc(*len + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hlen_field >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (unsigned char)i;
    return b;
}

static void expect_refused(const char *header, size_t data_len, const char *needle)
{
    size_t len;
    unsigned char *b = record(header, strlen(header), data_len, &len);
    struct ctk_st st;
    struct ctk_err e = {{0}};
    int rc = ctk_st_open_mem(&st, b, len, "bad.safetensors", &e);
    CHECK(rc < 0, "accepted: %s", header);
    if (rc == 0) ctk_st_close(&st);
    else CHECK(strstr(e.msg, needle) && strstr(e.msg, "bad.safetensors"),
               "header %s: message \"%s\" lacks \"%s\"", header, e.msg, needle);
    free(b);
}

static void test_reader_refuses(void)
{
    struct ctk_st st;
    struct ctk_err e;
    size_t len;
    unsigned char *b;

    CHECK(ctk_st_open_mem(&st, "\x01\0\0", 3, "x", &e) < 0 && strstr(e.msg, "too short"),
          "3-byte file: %s", e.msg);
    b = record("{}", 200, 0, &len);
    CHECK(ctk_st_open_mem(&st, b, len, "x", &e) < 0 && strstr(e.msg, "runs past"),
          "header past end: %s", e.msg);
    free(b);
    b = record("{}", (size_t)1 << 40, 0, &len);
    CHECK(ctk_st_open_mem(&st, b, len, "x", &e) < 0 && strstr(e.msg, "limit"),
          "huge header: %s", e.msg);
    free(b);

    const char *ok1 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    b = record(ok1, strlen(ok1), 8, &len);
    CHECK(ctk_st_open_mem(&st, b, len, "x", &e) == 0, "valid record refused: %s", e.msg);
    ctk_st_close(&st);
    free(b);

    expect_refused("[1]", 0, "'{'");
    expect_refused("{\"a\":", 0, "invalid JSON");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate");
    expect_refused("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                   "\"F8_E4M3\"");
    expect_refused("{\"a\":{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "dtype");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, "shape[0]");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", 1, "shape[0]");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":{},\"data_offsets\":[0,1]}}", 1, "shape");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4611686018427387904,4],"
                   "\"data_offsets\":[0,1]}}", 1, "overflows");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2305843009213693952,2],"
                   "\"data_offsets\":[0,1]}}", 1, "overflows");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                   "\"data_offsets\":[0,1]}}", 1, "dimensions");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 3, "outside");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[3,1]}}", 4, "outside");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2,3]}}", 2,
                   "data_offsets");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,-2]}}", 2,
                   "data_offsets");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[2]}}", 2, "data_offsets");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"x\":1}}", 2,
                   "unknown field \"x\"");
    expect_refused("{\"a\":[]}", 0, "not an object");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                   "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6, "overlaps");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                   "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[6,8]}}", 8, "unused");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 5, "trailing");
    expect_refused("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__");
    expect_refused("{\"__metadata__\":[]}", 0, "__metadata__");
    expect_refused("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "NUL");
    expect_refused("{\"__metadata__\":{\"k\":\"a\\u0000\"}}", 0, "NUL");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x", 1,
                   "invalid JSON");
    expect_refused("{\"\xff\":1}", 0, "invalid JSON");

    /* Reading an integer tensor as float is refused, naming its dtype. */
    const char *i32 = "{\"n\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    b = record(i32, strlen(i32), 4, &len);
    CHECK(ctk_st_open_mem(&st, b, len, "x", &e) == 0, "I32 record refused: %s", e.msg);
    float f;
    CHECK(ctk_st_read_f32(&st, ctk_st_find(&st, "n"), &f, 1, &e) < 0 && strstr(e.msg, "I32"),
          "I32 read as float: %s", e.msg);
    ctk_st_close(&st);
    free(b);
}

/* The writer's bytes for one small file, written out by hand. */
static void test_writer_layout(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/layout.safetensors", dir);
    const float a[2] = {1.0f, 2.0f};
    struct ctk_st_wtensor t = {.name = "a", .dtype = CTK_F32, .ndim = 1, .shape = {2},
                               .data = a, .from_f32 = 1};
    const char *meta[] = {"format", "pt", NULL};
    struct ctk_err e;
    CHECK(ctk_st_write(path, &t, 1, meta, &e) == 0, "write: %s", e.msg);
    /* 85 bytes of JSON padded with 3 spaces to 88. */
    const char hdr[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ";
    unsigned char want[8 + 88 + 8] = {88, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want + 8, hdr, 88);
    memcpy(want + 96, "\x00\x00\x80\x3f\x00\x00\x00\x40", 8);
    unsigned char got[200];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(got, 1, sizeof got, f) : 0;
    if (f) fclose(f);
    CHECK(n == sizeof want && memcmp(got, want, n) == 0, "layout.safetensors differs (%zu bytes)", n);
}

static void test_roundtrip(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    float w[3 * 5], half[7];
    for (int i = 0; i < 15; i++) w[i] = (float)i * 0.37f - 2.0f;
    for (int i = 0; i < 7; i++) half[i] = 1.0f / (float)(i + 1);
    int32_t ids[4] = {-1, 0, 7, 2147483647};
    int64_t big[2] = {-5, (int64_t)1 << 40};
    uint8_t bytes[3] = {'a', 'b', 'c'};
    float scalar = 3.5f;
    struct ctk_st_wtensor t[] = {
        {.name = "w", .dtype = CTK_F32, .ndim = 2, .shape = {3, 5}, .data = w, .from_f32 = 1},
        {.name = "h16", .dtype = CTK_F16, .ndim = 1, .shape = {7}, .data = half, .from_f32 = 1},
        {.name = "hb", .dtype = CTK_BF16, .ndim = 1, .shape = {7}, .data = half, .from_f32 = 1},
        {.name = "ids", .dtype = CTK_I32, .ndim = 1, .shape = {4}, .data = ids},
        {.name = "big", .dtype = CTK_I64, .ndim = 1, .shape = {2}, .data = big},
        {.name = "text", .dtype = CTK_U8, .ndim = 1, .shape = {3}, .data = bytes},
        {.name = "empty", .dtype = CTK_F32, .ndim = 2, .shape = {0, 4}, .data = w},
        {.name = "scalar", .dtype = CTK_F32, .ndim = 0, .data = &scalar},
        {.name = "\xc3\xa9t\xc3\xa9 \"q\"", .dtype = CTK_U8, .ndim = 1, .shape = {1}, .data = bytes},
    };
    size_t nt = sizeof t / sizeof *t;
    const char *meta[] = {"format", "pt", "note", "caf\xc3\xa9 \"x\"", NULL};
    struct ctk_err e;
    CHECK(ctk_st_write(path, t, nt, meta, &e) == 0, "write: %s", e.msg);
    struct ctk_st st;
    if (ctk_st_open(&st, path, &e) < 0) {
        CHECK(0, "read back: %s", e.msg);
        return;
    }
    CHECK(st.ntensors == nt, "ntensors %zu", st.ntensors);
    CHECK((8 + st.header_len) % 8 == 0, "header length %zu not padded to 8", st.header_len);
    for (size_t i = 0; i < nt && i < st.ntensors; i++)
        CHECK(strcmp(st.tensors[i].name, t[i].name) == 0, "order: %s", st.tensors[i].name);
    CHECK(st.nmeta == 2 && strcmp(ctk_st_meta(&st, "note"), "caf\xc3\xa9 \"x\"") == 0, "metadata");
    float out[15];
    const struct ctk_st_tensor *x = ctk_st_find(&st, "w");
    CHECK(x && x->ndim == 2 && x->shape[0] == 3 && x->shape[1] == 5 && x->begin == 0, "w info");
    CHECK(x && ctk_st_read_f32(&st, x, out, 15, &e) == 0 && memcmp(out, w, sizeof w) == 0, "w data");
    CHECK(x && ctk_st_read_f32(&st, x, out, 14, &e) < 0 && strstr(e.msg, "15 elements"),
          "wrong count accepted: %s", e.msg);
    x = ctk_st_find(&st, "h16");
    float *g = x ? ctk_st_get_f32(&st, x, &e) : NULL;
    for (int i = 0; g && i < 7; i++)
        CHECK(g[i] == ctk_f16_to_f32(ctk_f32_to_f16(half[i])) && fabsf(g[i] - half[i]) < 1e-3f,
              "h16[%d] = %g", i, g[i]);
    CHECK(x && x->end - x->begin == 14, "h16 bytes");
    free(g);
    x = ctk_st_find(&st, "hb");
    g = x ? ctk_st_get_f32(&st, x, &e) : NULL;
    for (int i = 0; g && i < 7; i++)
        CHECK(g[i] == ctk_bf16_to_f32(ctk_f32_to_bf16(half[i])), "hb[%d] = %g", i, g[i]);
    free(g);
    x = ctk_st_find(&st, "ids");
    CHECK(x && x->dtype == CTK_I32 && memcmp(x->data, ids, sizeof ids) == 0, "ids");
    x = ctk_st_find(&st, "big");
    CHECK(x && x->dtype == CTK_I64 && memcmp(x->data, big, sizeof big) == 0, "big");
    x = ctk_st_find(&st, "text");
    CHECK(x && x->dtype == CTK_U8 && memcmp(x->data, "abc", 3) == 0, "text");
    x = ctk_st_find(&st, "empty");
    CHECK(x && x->nelem == 0 && x->begin == x->end, "empty");
    x = ctk_st_find(&st, "scalar");
    CHECK(x && x->ndim == 0 && x->nelem == 1 && ctk_st_read_f32(&st, x, out, 1, &e) == 0 &&
          out[0] == 3.5f, "scalar");
    CHECK(ctk_st_find(&st, "\xc3\xa9t\xc3\xa9 \"q\"") != NULL, "non-ASCII name");
    CHECK(ctk_st_find(&st, "nope") == NULL, "absent name found");
    ctk_st_close(&st);

    /* Duplicate names are refused by the writer; nothing is left behind. */
    struct ctk_st_wtensor dup[2] = {t[0], t[0]};
    snprintf(path, sizeof path, "%s/dup.safetensors", dir);
    CHECK(ctk_st_write(path, dup, 2, NULL, &e) < 0 && strstr(e.msg, "twice"), "dup: %s", e.msg);
    CHECK(access(path, F_OK) != 0, "dup.safetensors left behind");
    /* A file on disk that is not safetensors. */
    snprintf(path, sizeof path, "%s/short", dir);
    FILE *f = fopen(path, "w");
    fputs("abc", f);
    fclose(f);
    CHECK(ctk_st_open(&st, path, &e) < 0 && strstr(e.msg, path), "short file: %s", e.msg);
    CHECK(ctk_st_open(&st, dir, &e) < 0 && strstr(e.msg, "regular"), "folder: %s", e.msg);
}

/*
 * test_safetensors --write FILE: a file of every dtype ctk writes, with
 * values tests/bats/weights.bats checks through an independent reader.
 */
static int write_sample(const char *path)
{
    const float f[6] = {1.0f, -2.5f, 0.1f, 65504.0f, 1e-8f, 3.0f};
    const int32_t i32[3] = {-1, 0, 2147483647};
    const int64_t i64[2] = {-5, (int64_t)1 << 40};
    const uint8_t u8[3] = {'a', 'b', 'c'};
    const float scalar = 0.5f;
    struct ctk_st_wtensor t[] = {
        {.name = "f32", .dtype = CTK_F32, .ndim = 2, .shape = {2, 3}, .data = f, .from_f32 = 1},
        {.name = "f16", .dtype = CTK_F16, .ndim = 1, .shape = {6}, .data = f, .from_f32 = 1},
        {.name = "bf16", .dtype = CTK_BF16, .ndim = 1, .shape = {6}, .data = f, .from_f32 = 1},
        {.name = "i32", .dtype = CTK_I32, .ndim = 1, .shape = {3}, .data = i32},
        {.name = "i64", .dtype = CTK_I64, .ndim = 1, .shape = {2}, .data = i64},
        {.name = "u8", .dtype = CTK_U8, .ndim = 1, .shape = {3}, .data = u8},
        {.name = "empty", .dtype = CTK_F32, .ndim = 2, .shape = {0, 4}, .data = f},
        {.name = "scalar", .dtype = CTK_F32, .ndim = 0, .data = &scalar},
        {.name = "caf\xc3\xa9", .dtype = CTK_U8, .ndim = 1, .shape = {1}, .data = u8},
    };
    const char *meta[] = {"format", "pt", "note", "\xc3\xa9t\xc3\xa9", NULL};
    struct ctk_err e;
    if (ctk_st_write(path, t, sizeof t / sizeof *t, meta, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) return write_sample(argv[2]);
    char dir[] = "/tmp/test_safetensors.XXXXXX";
    if (!mkdtemp(dir)) return 99;
    test_f16();
    test_bf16();
    test_reader_refuses();
    test_writer_layout(dir);
    test_roundtrip(dir);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) check_failures++;
    return check_exit("test_safetensors");
}
