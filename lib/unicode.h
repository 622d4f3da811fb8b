/*
 * unicode.h -- UTF-8 decoding and the character classes of BERT tokenisation.
 *
 * Decoding follows the WHATWG Encoding Standard's UTF-8 decoder (the same
 * "substitution of maximal subparts" as Unicode §3.9 and Rust's
 * String::from_utf8_lossy): each maximal subpart of an ill-formed sequence
 * becomes one U+FFFD. ctk_utf8_sanitize() copies text with that replacement;
 * ctk_utf8_check() finds the first invalid byte (strict mode).
 *
 * The classes are those of Hugging Face's tokenizers (Rust), which matter
 * byte for byte for the ids: its BertNormalizer and BertPreTokenizer take
 * control/format/private-use characters, non-spacing marks and punctuation
 * from the crate unicode_categories 0.1.1 (Unicode 8.0 tables, kept in
 * unicode_tables.h), whitespace from Rust's char::is_whitespace (current
 * White_Space), lower case from Rust's char::to_lowercase (full mapping: İ
 * gives i + U+0307) and NFD from current Unicode (utf8proc).
 *
 * Ownership: nothing here allocates except ctk_utf8_sanitize, which grows the
 * caller's buffer (free it with free()).
 */
#ifndef CTK_UNICODE_H
#define CTK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Class bits of one code point (ctk_uc_class). */
enum {
    CTK_UC_CONTROL = 1,  /* removed by clean_text: Cc, Cf, Co (Unicode 8.0), except \t \n \r */
    CTK_UC_SPACE = 2,    /* White_Space (Rust char::is_whitespace) */
    CTK_UC_PUNCT = 4,    /* ASCII punctuation and symbols, or P* (Unicode 8.0) */
    CTK_UC_MN = 8,       /* Mn (Unicode 8.0): removed by strip_accents after NFD */
    CTK_UC_CJK = 16,     /* CJK ideograph ranges of the Rust BertNormalizer */
};

/* Class bits of cp (0 for a plain letter/symbol/unassigned code point). */
unsigned ctk_uc_class(uint32_t cp);

/*
 * Decode one code point from valid UTF-8 at s (n > 0 bytes available).
 * Stores the code point and returns the number of bytes used. The input must
 * be valid (sanitized); on invalid input it returns 1 and U+FFFD.
 */
size_t ctk_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Encode cp as UTF-8 into out (4 bytes room); returns its length. */
size_t ctk_utf8_put(uint32_t cp, unsigned char *out);

/*
 * Length of the valid prefix of s, or n when all of s is valid UTF-8.
 * (Strict mode: the first invalid byte is at the returned offset.)
 */
size_t ctk_utf8_check(const unsigned char *s, size_t n);

/*
 * Copy s (n bytes) to *out (capacity *cap, grown with xrealloc), replacing
 * each maximal subpart of an ill-formed sequence with U+FFFD (EF BF BD).
 * Sets *outlen; returns the number of replacements made.
 */
size_t ctk_utf8_sanitize(const unsigned char *s, size_t n, unsigned char **out,
                         size_t *cap, size_t *outlen);

/*
 * Canonical decomposition (NFD) of one code point into out (room for
 * CTK_UC_MAXDECOMP); returns the count. Hangul syllables become jamo.
 */
#define CTK_UC_MAXDECOMP 32
int ctk_uc_decompose(uint32_t cp, uint32_t *out);

/* Canonical combining class of cp (0 for starters). */
int ctk_uc_ccc(uint32_t cp);

/*
 * Lower case as Rust's char::to_lowercase: writes 1 or 2 code points to out
 * and returns the count (U+0130 İ is the only one with 2).
 */
int ctk_uc_tolower(uint32_t cp, uint32_t *out);

#endif
