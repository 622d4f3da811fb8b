/*
 * wordpiece.c -- BertNormalizer, BertPreTokenizer and WordPiece, exact to
 * Hugging Face's tokenizers (Rust); see wordpiece.h for the rules.
 *
 * Speed: pure-ASCII text (most English) takes a byte loop; anything else is
 * decoded to code points once per text. The vocabulary is two open-addressing
 * hash tables (whole words, continuation pieces without their prefix), so a
 * lookup never builds "##piece", and pieces longer than the longest entry are
 * never tried.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "unicode.h"
#include "wordpiece.h"

/* --- growable arrays ------------------------------------------------------ */

void ctk_ids_push(struct ctk_ids *a, int32_t id)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->v = xreallocarray(a->v, a->cap, sizeof *a->v);
    }
    a->v[a->n++] = id;
}

void ctk_ids_free(struct ctk_ids *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static void text_reserve(struct ctk_text *t, size_t more)
{
    if (t->cap - t->n >= more)
        return;
    size_t cap = t->cap ? t->cap : 256;
    while (cap - t->n < more) {
        if (cap > SIZE_MAX / 2)
            ctk_die("text too large");
        cap *= 2;
    }
    t->s = xrealloc(t->s, cap);
    t->cap = cap;
}

void ctk_wp_scratch_free(struct ctk_wp_scratch *s)
{
    free(s->cp);
    free(s->cp2);
    memset(s, 0, sizeof *s);
}

static uint32_t *cp_reserve(uint32_t **p, size_t *cap, size_t n)
{
    if (*cap < n) {
        *cap = n < 256 ? 256 : n;
        *p = xreallocarray(*p, *cap, sizeof **p);
    }
    return *p;
}

/* --- string -> id hash ------------------------------------------------------ */

struct ctk_strmap_slot {
    uint32_t tag;  /* high half of the key's hash, never 0; 0 = empty slot */
    uint32_t off;  /* key bytes in the arena */
    uint32_t len;
    int32_t id;
};

static inline uint32_t hash_tag(uint64_t h)
{
    uint32_t t = (uint32_t)(h >> 32);
    return t ? t : 1;
}

static inline int same_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* A 64-bit hash of short byte strings (FNV-1a over 8-byte words, then mixed). */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        s += 8, n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

void ctk_strmap_init(struct ctk_strmap *m)
{
    memset(m, 0, sizeof *m);
    m->mask = 1023;
    m->slots = xcalloc(m->mask + 1, sizeof *m->slots);
}

void ctk_strmap_free(struct ctk_strmap *m)
{
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static void strmap_grow(struct ctk_strmap *m)
{
    size_t nmask = 2 * m->mask + 1;
    struct ctk_strmap_slot *ns = xcalloc(nmask + 1, sizeof *ns);
    for (size_t i = 0; i <= m->mask; i++) {
        struct ctk_strmap_slot *s = &m->slots[i];
        if (!s->tag)
            continue;
        size_t j = hash_bytes(m->arena + s->off, s->len) & nmask;
        while (ns[j].tag)
            j = (j + 1) & nmask;
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->mask = nmask;
}

void ctk_strmap_put(struct ctk_strmap *m, const char *key, size_t len, int32_t id)
{
    if (len > UINT32_MAX / 2 || m->arena_len > UINT32_MAX / 2)
        ctk_die("vocabulary too large");
    uint64_t h = hash_bytes(key, len);
    uint32_t tag = hash_tag(h);
    size_t j = h & m->mask;
    for (; m->slots[j].tag; j = (j + 1) & m->mask) {
        struct ctk_strmap_slot *s = &m->slots[j];
        if (s->tag == tag && s->len == len && same_bytes(m->arena + s->off, key, len)) {
            s->id = id;
            return;
        }
    }
    if (m->arena_cap - m->arena_len < len + 1) {
        size_t cap = m->arena_cap ? m->arena_cap : 4096;
        while (cap - m->arena_len < len + 1)
            cap *= 2;
        m->arena = xrealloc(m->arena, cap);
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->arena_len, key, len);
    m->arena[m->arena_len + len] = 0;
    m->slots[j] = (struct ctk_strmap_slot){tag, (uint32_t)m->arena_len, (uint32_t)len, id};
    m->arena_len += len + 1;
    if (len > m->maxlen)
        m->maxlen = len;
    if (++m->count * 2 > m->mask)
        strmap_grow(m);
}

int32_t ctk_strmap_get(const struct ctk_strmap *m, const char *key, size_t len)
{
    uint64_t h = hash_bytes(key, len);
    uint32_t tag = hash_tag(h);
    for (size_t j = h & m->mask; m->slots[j].tag; j = (j + 1) & m->mask) {
        const struct ctk_strmap_slot *s = &m->slots[j];
        if (s->tag == tag && s->len == len && same_bytes(m->arena + s->off, key, len))
            return s->id;
    }
    return -1;
}

/* --- the WordPiece model ------------------------------------------------------ */

void ctk_wordpiece_init(struct ctk_wordpiece *wp, const char *unk_token, const char *prefix,
                        int max_chars)
{
    memset(wp, 0, sizeof *wp);
    ctk_strmap_init(&wp->whole);
    ctk_strmap_init(&wp->cont);
    wp->unk_token = xstrdup(unk_token);
    wp->prefix = xstrdup(prefix);
    wp->max_chars = max_chars;
    wp->unk_id = -1;
}

void ctk_wordpiece_add(struct ctk_wordpiece *wp, const char *tok, size_t len, int32_t id)
{
    size_t pl = strlen(wp->prefix);
    ctk_strmap_put(&wp->whole, tok, len, id);
    if (pl && len >= pl && memcmp(tok, wp->prefix, pl) == 0)
        ctk_strmap_put(&wp->cont, tok + pl, len - pl, id);
    if (id >= wp->nids) {
        int32_t n = wp->nids ? wp->nids : 1024;
        while (n <= id)
            n *= 2;
        wp->id_tok = xreallocarray(wp->id_tok, (size_t)n, sizeof *wp->id_tok);
        memset(wp->id_tok + wp->nids, 0, (size_t)(n - wp->nids) * sizeof *wp->id_tok);
        wp->nids = n;
    }
    free(wp->id_tok[id]);
    char *t = xmalloc(len + 1);
    memcpy(t, tok, len);
    t[len] = 0;
    wp->id_tok[id] = t;
}

int ctk_wordpiece_finish(struct ctk_wordpiece *wp)
{
    wp->unk_id = ctk_strmap_get(&wp->whole, wp->unk_token, strlen(wp->unk_token));
    return wp->unk_id < 0 ? -1 : 0;
}

void ctk_wordpiece_free(struct ctk_wordpiece *wp)
{
    ctk_strmap_free(&wp->whole);
    ctk_strmap_free(&wp->cont);
    for (int32_t i = 0; i < wp->nids; i++)
        free(wp->id_tok[i]);
    free(wp->id_tok);
    free(wp->unk_token);
    free(wp->prefix);
    memset(wp, 0, sizeof *wp);
}

const char *ctk_wordpiece_token(const struct ctk_wordpiece *wp, int32_t id)
{
    return id >= 0 && id < wp->nids ? wp->id_tok[id] : NULL;
}

void ctk_wordpiece_word(const struct ctk_wordpiece *wp, const unsigned char *w, size_t nbytes,
                        size_t nchars, struct ctk_ids *ids)
{
    if (nchars > (size_t)wp->max_chars) {
        ctk_ids_push(ids, wp->unk_id);
        return;
    }
    size_t mark = ids->n, start = 0;
    while (start < nbytes) {
        const struct ctk_strmap *m = start ? &wp->cont : &wp->whole;
        size_t end = nbytes;
        if (end - start > m->maxlen) {
            end = start + m->maxlen;
            while (end > start && (w[end] & 0xC0) == 0x80)
                end--; /* back to a character boundary */
        }
        int32_t id = -1;
        while (end > start) {
            id = ctk_strmap_get(m, (const char *)w + start, end - start);
            if (id >= 0)
                break;
            do
                end--;
            while (end > start && (w[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            ids->n = mark;
            ctk_ids_push(ids, wp->unk_id);
            return;
        }
        ctk_ids_push(ids, id);
        start = end;
    }
}

/* --- BertPreTokenizer ------------------------------------------------------------ */

/* Classes of ASCII bytes: 1 = White_Space, 2 = punctuation (every ASCII symbol). */
static unsigned char ascii_pretok[128];
static unsigned char ascii_norm[128]; /* 0 keep, 1 drop (control), 2 becomes ' ' */
static int tables_ready;

static void init_ascii_tables(void)
{
    if (__atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE))
        return;
    for (uint32_t c = 0; c < 128; c++) {
        unsigned cl = ctk_uc_class(c);
        ascii_pretok[c] = (cl & CTK_UC_SPACE) ? 1 : (cl & CTK_UC_PUNCT) ? 2 : 0;
        ascii_norm[c] = (c == 0 || (cl & CTK_UC_CONTROL)) ? 1 : (cl & CTK_UC_SPACE) ? 2 : 0;
    }
    __atomic_store_n(&tables_ready, 1, __ATOMIC_RELEASE);
}

void ctk_bert_pretok_wordpiece(const struct ctk_wordpiece *wp, const unsigned char *s, size_t n,
                               struct ctk_ids *ids)
{
    init_ascii_tables();
    size_t i = 0, wstart = 0, wchars = 0;
    while (i < n) {
        uint32_t cp;
        size_t len;
        unsigned cl;
        if (s[i] < 0x80) {
            cp = s[i], len = 1;
            cl = ascii_pretok[cp];
        } else {
            len = ctk_utf8_next(s + i, n - i, &cp);
            unsigned u = ctk_uc_class(cp);
            cl = (u & CTK_UC_SPACE) ? 1 : (u & CTK_UC_PUNCT) ? 2 : 0;
        }
        if (cl) {
            if (wchars)
                ctk_wordpiece_word(wp, s + wstart, i - wstart, wchars, ids);
            if (cl == 2)
                ctk_wordpiece_word(wp, s + i, len, 1, ids);
            wchars = 0;
            wstart = i + len;
        } else {
            wchars++;
        }
        i += len;
    }
    if (wchars)
        ctk_wordpiece_word(wp, s + wstart, n - wstart, wchars, ids);
}

/* --- BertNormalizer ------------------------------------------------------------------ */

static void normalize_ascii(const struct ctk_bert_norm *bn, const unsigned char *s, size_t n,
                            struct ctk_text *out)
{
    text_reserve(out, n);
    unsigned char *o = out->s + out->n;
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (bn->clean_text) {
            if (ascii_norm[c] == 1)
                continue;
            if (ascii_norm[c] == 2)
                c = ' ';
        }
        if (bn->lowercase && c >= 'A' && c <= 'Z')
            c += 32;
        *o++ = (unsigned char)c;
    }
    out->n = (size_t)(o - out->s);
}

/*
 * Canonical ordering (Unicode §3.11): within each run of non-starters, sort
 * by combining class, stably (insertion sort; runs are short).
 */
static void canonical_order(uint32_t *c, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int cc = ctk_uc_ccc(c[i]);
        if (cc == 0)
            continue;
        size_t j = i;
        while (j > 0) {
            int pc = ctk_uc_ccc(c[j - 1]);
            if (pc == 0 || pc <= cc)
                break;
            uint32_t t = c[j - 1];
            c[j - 1] = c[j];
            c[j] = t;
            j--;
        }
    }
}

void ctk_bert_normalize(const struct ctk_bert_norm *bn, struct ctk_wp_scratch *sc,
                        const unsigned char *s, size_t n, struct ctk_text *out)
{
    init_ascii_tables();
    size_t i;
    for (i = 0; i < n && s[i] < 0x80; i++)
        ;
    if (i == n) {
        normalize_ascii(bn, s, n, out);
        return;
    }
    /* 1. clean_text and CJK spacing, to code points (at most 3 per byte) */
    uint32_t *a = cp_reserve(&sc->cp, &sc->cap, 3 * n + 1);
    size_t na = 0;
    for (i = 0; i < n;) {
        uint32_t cp;
        i += ctk_utf8_next(s + i, n - i, &cp);
        unsigned cl = ctk_uc_class(cp);
        if (bn->clean_text) {
            if (cp == 0 || cp == 0xFFFD || (cl & CTK_UC_CONTROL))
                continue;
            if (cl & CTK_UC_SPACE)
                cp = ' ', cl = ctk_uc_class(' ');
        }
        if (bn->chinese && (cl & CTK_UC_CJK)) {
            a[na++] = ' ';
            a[na++] = cp;
            a[na++] = ' ';
        } else {
            a[na++] = cp;
        }
    }
    /* 2. strip_accents: NFD of the whole text, then drop Mn */
    if (bn->strip_accents) {
        size_t nb = 0, capb = na + 16;
        uint32_t *b = cp_reserve(&sc->cp2, &sc->cap2, capb);
        for (size_t k = 0; k < na; k++) {
            if (capb - nb < CTK_UC_MAXDECOMP) {
                capb = 2 * capb + CTK_UC_MAXDECOMP;
                b = cp_reserve(&sc->cp2, &sc->cap2, capb);
            }
            if (a[k] < 0x80)
                b[nb++] = a[k];
            else
                nb += (size_t)ctk_uc_decompose(a[k], b + nb);
        }
        canonical_order(b, nb);
        size_t m = 0;
        for (size_t k = 0; k < nb; k++)
            if (b[k] < 0x80 || !(ctk_uc_class(b[k]) & CTK_UC_MN))
                b[m++] = b[k];
        a = b, na = m;
    }
    /* 3. lowercase, char by char, and back to UTF-8 */
    text_reserve(out, 8 * na);
    unsigned char *o = out->s + out->n;
    for (size_t k = 0; k < na; k++) {
        uint32_t lc[2];
        int nl = 1;
        if (bn->lowercase)
            nl = ctk_uc_tolower(a[k], lc);
        else
            lc[0] = a[k];
        for (int q = 0; q < nl; q++)
            o += ctk_utf8_put(lc[q], o);
    }
    out->n = (size_t)(o - out->s);
}
