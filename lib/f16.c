/*
 * f16.c -- half and bfloat16 conversions (see f16.h).
 *
 * Bit layouts: F16 is 1 sign, 5 exponent (bias 15), 10 mantissa bits;
 * BF16 is the top 16 bits of a float (1, 8 with bias 127, 7). Rounding to
 * nearest even: add the discarded bits' half-way mark, plus one when the
 * kept part is odd, and let a mantissa carry ripple into the exponent
 * (which correctly turns the largest finite value + carry into infinity).
 */
#include "config.h"
#include "f16.h"

#include <string.h>

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float ctk_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f)                      /* inf, nan: payload kept */
        return u2f(sign | 0x7f800000 | (man << 13));
    if (exp)                              /* normal: rebias 15 -> 127 */
        return u2f(sign | ((exp + 112) << 23) | (man << 13));
    /* zero or subnormal: man * 2^-24, exact in float */
    float f = (float)man * 0x1p-24f;
    return sign ? -f : f;
}

uint16_t ctk_f32_to_f16(float f)
{
    uint32_t x = f2u(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t exp = (x >> 23) & 0xff, man = x & 0x7fffff;
    if (exp == 0xff) {                    /* inf stays inf; nan stays a quiet nan */
        if (!man) return (uint16_t)(sign | 0x7c00);
        return (uint16_t)(sign | 0x7e00 | (man >> 13));
    }
    int e = (int)exp - 127 + 15;          /* exponent in F16's bias */
    if (e >= 0x1f)                        /* >= 2^16: beyond the largest half */
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        /*
         * Subnormal half (or zero): the result's mantissa is value / 2^-24
         * = (man | 2^23) * 2^(exp - 126), i.e. the 24-bit significand
         * shifted right by 14 - e. Below 2^-25 everything rounds to 0.
         */
        if (e < -10) return (uint16_t)sign;
        uint32_t m = man | 0x800000;
        int shift = 14 - e;
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++; /* 0x3ff + 1 = smallest normal */
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float ctk_bf16_to_f32(uint16_t h)
{
    return u2f((uint32_t)h << 16);
}

uint16_t ctk_f32_to_bf16(float f)
{
    uint32_t x = f2u(f);
    if ((x & 0x7f800000) == 0x7f800000 && (x & 0x7fffff))
        return (uint16_t)((x >> 16) | 0x40);   /* quiet nan, never rounded into inf */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static uint16_t load16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void store16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }

void ctk_f16_to_f32_n(float *dst, const void *src, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) dst[i] = ctk_f16_to_f32(load16(p + 2 * i));
}

void ctk_bf16_to_f32_n(float *dst, const void *src, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) dst[i] = ctk_bf16_to_f32(load16(p + 2 * i));
}

void ctk_f32_to_f16_n(void *dst, const float *src, size_t n)
{
    unsigned char *p = dst;
    for (size_t i = 0; i < n; i++) store16(p + 2 * i, ctk_f32_to_f16(src[i]));
}

void ctk_f32_to_bf16_n(void *dst, const float *src, size_t n)
{
    unsigned char *p = dst;
    for (size_t i = 0; i < n; i++) store16(p + 2 * i, ctk_f32_to_bf16(src[i]));
}
