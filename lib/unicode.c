/*
 * unicode.c -- UTF-8 decoding (WHATWG maximal subparts) and the character
 * classes of Hugging Face's BertNormalizer/BertPreTokenizer (see unicode.h).
 *
 * Classes of the Basic Multilingual Plane are looked up in a 64 KB table
 * built once from the range tables; astral code points by binary search.
 */
#include <pthread.h>
#include <string.h>

#include <utf8proc.h>

#include "err.h"
#include "unicode.h"
#include "unicode_tables.h"

#define NRANGES(t) (sizeof(t) / sizeof((t)[0]))

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid][0])
            hi = mid;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

/* White_Space (PropList.txt), what Rust's char::is_whitespace tests. */
static int is_white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* The CJK ranges of the Rust BertNormalizer (is_chinese_char). Python's slow
 * tokenizer starts one range at U+2B820; the Rust crate at U+2B920. */
static int is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static unsigned classify(uint32_t cp)
{
    unsigned c = 0;
    if (cp != '\t' && cp != '\n' && cp != '\r' &&
        in_ranges(bert_other_ranges, NRANGES(bert_other_ranges), cp))
        c |= CTK_UC_CONTROL;
    if (is_white_space(cp))
        c |= CTK_UC_SPACE;
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126) || in_ranges(bert_punct_ranges, NRANGES(bert_punct_ranges), cp))
        c |= CTK_UC_PUNCT;
    if (in_ranges(bert_mn_ranges, NRANGES(bert_mn_ranges), cp))
        c |= CTK_UC_MN;
    if (is_cjk(cp))
        c |= CTK_UC_CJK;
    return c;
}

static unsigned char bmp_class[0x10000];
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

static void build_bmp(void)
{
    for (uint32_t cp = 0; cp < 0x10000; cp++)
        bmp_class[cp] = (unsigned char)classify(cp);
}

unsigned ctk_uc_class(uint32_t cp)
{
    if (cp < 0x10000) {
        pthread_once(&bmp_once, build_bmp);
        return bmp_class[cp];
    }
    return classify(cp);
}

size_t ctk_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF && n >= 2) {
        *cp = ((b & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (b >= 0xE0 && b <= 0xEF && n >= 3) {
        *cp = ((b & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4 && n >= 4) {
        *cp = ((b & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        return 4;
    }
    *cp = 0xFFFD;
    return 1;
}

size_t ctk_utf8_put(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Length of the well-formed sequence starting at s[0] (a non-ASCII byte), or
 * 0 when it is ill-formed; then *sub is the length of its maximal subpart
 * (the lead byte and the continuation bytes that were still acceptable),
 * which the WHATWG decoder replaces with one U+FFFD.
 */
static size_t sequence_length(const unsigned char *s, size_t n, size_t *sub)
{
    unsigned b = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (b >= 0xC2 && b <= 0xDF)
        need = 1;
    else if (b == 0xE0)
        need = 2, lo = 0xA0;
    else if (b == 0xED)
        need = 2, hi = 0x9F;
    else if (b >= 0xE1 && b <= 0xEF)
        need = 2;
    else if (b == 0xF0)
        need = 3, lo = 0x90;
    else if (b == 0xF4)
        need = 3, hi = 0x8F;
    else if (b >= 0xF1 && b <= 0xF3)
        need = 3;
    else {
        *sub = 1;
        return 0;
    }
    size_t j = 1;
    for (size_t k = 0; k < need; k++, j++) {
        if (j >= n || s[j] < lo || s[j] > hi) {
            *sub = j;
            return 0;
        }
        lo = 0x80, hi = 0xBF;
    }
    return j;
}

size_t ctk_utf8_check(const unsigned char *s, size_t n)
{
    size_t i = 0, sub;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = sequence_length(s + i, n - i, &sub);
        if (len == 0)
            return i;
        i += len;
    }
    return n;
}

size_t ctk_utf8_sanitize(const unsigned char *s, size_t n, unsigned char **out,
                         size_t *cap, size_t *outlen)
{
    /* Each input byte gives at most 3 output bytes (one U+FFFD). */
    size_t need;
    if (ctk_mul_overflow(n, 3, &need))
        ctk_die("text of %zu bytes is too large", n);
    if (*cap < need + 1) {
        *cap = need + 1;
        *out = xrealloc(*out, *cap);
    }
    unsigned char *o = *out;
    size_t i = 0, k = 0, bad = 0, sub;
    while (i < n) {
        if (s[i] < 0x80) {
            o[k++] = s[i++];
            continue;
        }
        size_t len = sequence_length(s + i, n - i, &sub);
        if (len) {
            memcpy(o + k, s + i, len);
            k += len, i += len;
        } else {
            o[k++] = 0xEF, o[k++] = 0xBF, o[k++] = 0xBD;
            i += sub;
            bad++;
        }
    }
    *outlen = k;
    return bad;
}

int ctk_uc_decompose(uint32_t cp, uint32_t *out)
{
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, (utf8proc_int32_t *)out,
                                                 CTK_UC_MAXDECOMP, UTF8PROC_DECOMPOSE, &last);
    if (n < 1 || n > CTK_UC_MAXDECOMP) {
        out[0] = cp;
        return 1;
    }
    return (int)n;
}

int ctk_uc_ccc(uint32_t cp)
{
    return utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
}

int ctk_uc_tolower(uint32_t cp, uint32_t *out)
{
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    if (cp == 0x130) { /* SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE */
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}
