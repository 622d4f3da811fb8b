/*
 * hash.h -- the project's non-cryptographic 64-bit hashes, written once.
 *
 *   ctk_fnv1a64(h, p, n): 64-bit FNV-1a (Fowler, Noll, Vo) of n bytes,
 *       continuing from h (start from CTK_FNV1A64_OFFSET, or from it XOR a
 *       seed); prime 0x100000001b3.
 *   ctk_fmix64(k): MurmurHash3's 64-bit finaliser (Appleby), a bijection
 *       of 64-bit words that spreads every input bit over the output.
 *
 * Used where an identifier must be reproducible across machines and
 * languages (lib/ngram.h's feature ids), by hash tables (lib/diag.c) and by
 * stateless pseudorandom choices (bin/ctk-mkpairs.c).
 */
#ifndef CTK_HASH_H
#define CTK_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CTK_FNV1A64_OFFSET 0xcbf29ce484222325ULL

static inline uint64_t ctk_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static inline uint64_t ctk_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

#endif
