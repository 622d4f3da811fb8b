/*
 * rng.h -- the project's seeded random numbers: the same seed gives the same
 * numbers on every machine (integer arithmetic only, except normals).
 *
 * Generator: xoshiro256** (Blackman and Vigna, "Scrambled linear
 * pseudorandom number generators", 2018), its 256-bit state filled from the
 * 64-bit seed by four outputs of splitmix64 (Steele, Lea and Flood, 2014),
 * as the authors recommend. tests/ref/rng.py implements the same algorithms
 * in Python; tests/unit/test_rng.c checks this code against its values.
 *
 * Derived numbers:
 *   uniform float  = (x >> 40) * 2^-24      in [0, 1), 24 random bits
 *   uniform double = (x >> 11) * 2^-53      in [0, 1), 53 random bits
 *   below(n)       = x % n, redrawing x while x < 2^64 mod n (no bias)
 *   index(n)       = n < 2^32: the high 32 bits of m = (x >> 32) * n, redrawing
 *                    x while the low 32 bits of m are below 2^32 mod n (no
 *                    bias; Lemire, "Fast random integer generation in an
 *                    interval", 2019). A multiply instead of below's two
 *                    divisions, for hot loops; its values differ from below's.
 *   normal         = Box-Muller in double: with u1 = 1 - uniform double,
 *                    u2 = uniform double, r = sqrt(-2 ln u1), the pair
 *                    (r cos 2 pi u2, r sin 2 pi u2), returned one at a time
 *                    (cos first; the sin value is kept for the next call).
 *                    Results are rounded to float by ctk_rng_normal_f32, so
 *                    a last-bit difference between two libm's log/cos
 *                    almost never shows.
 *   shuffle        = Fisher-Yates from the last element down: swap i with
 *                    below(i + 1).
 *
 * Ownership: the state is a plain struct on the caller's side; no allocation.
 */
#ifndef CTK_RNG_H
#define CTK_RNG_H

#include <stddef.h>
#include <stdint.h>

struct ctk_rng {
    uint64_t s[4];
    double spare;       /* second Box-Muller value */
    int has_spare;
};

/* splitmix64's output function (Stafford's Mix13), a bijection of 64-bit words. */
static inline uint64_t ctk_splitmix64_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* One splitmix64 step: advances *state, returns the next output. */
uint64_t ctk_splitmix64(uint64_t *state);

void ctk_rng_seed(struct ctk_rng *r, uint64_t seed);
/* The next 64 bits (inline: the SGD of lib/umap.c draws one per negative sample). */
static inline uint64_t ctk_rng_next(struct ctk_rng *r);
float ctk_rng_float(struct ctk_rng *r);
double ctk_rng_double(struct ctk_rng *r);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t ctk_rng_below(struct ctk_rng *r, uint64_t n);
/* Uniform in [0, n), 0 < n < 2^32, without bias, by a multiply (see above). */
static inline uint32_t ctk_rng_index(struct ctk_rng *r, uint32_t n);
/* Standard normal (mean 0, deviation 1). */
double ctk_rng_normal(struct ctk_rng *r);
/* mean + std * normal, rounded to float. */
float ctk_rng_normal_f32(struct ctk_rng *r, float mean, float std);
/* Fill x (n) with normal(mean, std) values, in order. */
void ctk_rng_fill_normal(struct ctk_rng *r, float *x, size_t n, float mean, float std);
/* Shuffle n elements of size bytes in place (Fisher-Yates). */
void ctk_rng_shuffle(struct ctk_rng *r, void *base, size_t n, size_t size);
/*
 * A generator for stream k of a seed (e.g. a thread, an epoch or a batch),
 * independent of how many numbers other streams drew: seeded with
 * splitmix64 outputs of seed ^ (k * golden ratio constant).
 */
void ctk_rng_seed_stream(struct ctk_rng *r, uint64_t seed, uint64_t k);

static inline uint64_t ctk_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t ctk_rng_next(struct ctk_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = ctk_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ctk_rng_rotl(s[3], 45);
    return result;
}

static inline uint32_t ctk_rng_index(struct ctk_rng *r, uint32_t n)
{
    uint64_t m = (ctk_rng_next(r) >> 32) * n;
    if ((uint32_t)m < n) { /* only then can the low part fall below 2^32 mod n */
        uint32_t threshold = (0u - n) % n;
        while ((uint32_t)m < threshold) m = (ctk_rng_next(r) >> 32) * n;
    }
    return (uint32_t)(m >> 32);
}

#endif
