/*
 * rng.c -- splitmix64 seeding, xoshiro256** and derived distributions
 * (see rng.h for the exact definitions, which tests/ref/rng.py mirrors).
 */
#include "config.h"
#include "rng.h"

#include <math.h>
#include <string.h>

uint64_t ctk_splitmix64(uint64_t *state)
{
    return ctk_splitmix64_mix(*state += 0x9e3779b97f4a7c15u);
}

void ctk_rng_seed(struct ctk_rng *r, uint64_t seed)
{
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) r->s[i] = ctk_splitmix64(&sm);
    r->has_spare = 0;
    r->spare = 0;
}

void ctk_rng_seed_stream(struct ctk_rng *r, uint64_t seed, uint64_t k)
{
    ctk_rng_seed(r, seed ^ (k * 0x9e3779b97f4a7c15u));
}

float ctk_rng_float(struct ctk_rng *r)
{
    return (float)(ctk_rng_next(r) >> 40) * 0x1p-24f;
}

double ctk_rng_double(struct ctk_rng *r)
{
    return (double)(ctk_rng_next(r) >> 11) * 0x1p-53;
}

uint64_t ctk_rng_below(struct ctk_rng *r, uint64_t n)
{
    /* Values below 2^64 mod n would make the low residues more likely. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = ctk_rng_next(r);
        if (x >= threshold) return x % n;
    }
}

double ctk_rng_normal(struct ctk_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - ctk_rng_double(r);   /* (0, 1]: log is finite */
    double u2 = ctk_rng_double(r);
    double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}

float ctk_rng_normal_f32(struct ctk_rng *r, float mean, float std)
{
    return (float)((double)mean + (double)std * ctk_rng_normal(r));
}

void ctk_rng_fill_normal(struct ctk_rng *r, float *x, size_t n, float mean, float std)
{
    for (size_t i = 0; i < n; i++) x[i] = ctk_rng_normal_f32(r, mean, std);
}

void ctk_rng_shuffle(struct ctk_rng *r, void *base, size_t n, size_t size)
{
    unsigned char *p = base, tmp[256];
    if (n < 2) return;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)ctk_rng_below(r, (uint64_t)i + 1);
        if (j == i) continue;
        unsigned char *a = p + i * size, *b = p + j * size;
        for (size_t off = 0; off < size; off += sizeof tmp) {
            size_t m = size - off < sizeof tmp ? size - off : sizeof tmp;
            memcpy(tmp, a + off, m);
            memcpy(a + off, b + off, m);
            memcpy(b + off, tmp, m);
        }
    }
}
