/*
 * simd.h -- vector helpers for the hot loops of UMAP and NN-descent.
 *
 * CTK_SIMD_CLONES before a function compiles it for AVX-512, AVX2 and
 * baseline x86-64, the one for the running processor chosen at load time
 * (GCC's target_clones, an ifunc of glibc): for loops written so that GCC
 * vectorises them, whose width then follows the processor. Elsewhere it is
 * nothing and the function is compiled once.
 *
 * ctk_pow_fast4 / ctk_pow_fast: x^b in float, four at a time, for UMAP's
 * SGD, which takes one power per positive and per negative sample.
 *
 * x^b = 2^(b log2 x), with neither division nor table: log2 x is the
 * exponent of x plus log2 of its mantissa m in [0.75, 1.5), a degree 6
 * polynomial in m - 1; 2^y is 2^round(y), made in the exponent bits, times
 * 2^(y - round(y)), a degree 5 polynomial (both Chebyshev fits, to 7e-7 and
 * 1e-7). Relative error below 1e-5 for x from 1e-30 to 1e30 and |b| <= 2
 * (tests/unit/test_umap.c), far below the noise of stochastic gradients.
 * b log2 x is clamped to [-126, 126]: no infinities, no subnormals. x = 0
 * is taken as 2^-127 (a result of 2^-126 or less for b near 1; callers
 * mask the lanes of zero distances); subnormal x, as a number near 2^-127.
 *
 * Written with GCC's vector extensions (GCC and clang): four lanes in
 * SSE2's registers, the baseline of x86-64, and in NEON's on arm64.
 */
#ifndef CTK_SIMD_H
#define CTK_SIMD_H

#include <stdint.h>

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__)
#define CTK_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CTK_SIMD_CLONES
#endif

typedef float ctk_v4sf __attribute__((vector_size(16)));
typedef int32_t ctk_v4si __attribute__((vector_size(16)));
typedef uint32_t ctk_v4su __attribute__((vector_size(16)));

/*
 * Lane-wise minimum and maximum: SSE's minps/maxps where there is SSE, a
 * bitwise select on the comparison's mask elsewhere (GCC's vector
 * extensions have no ?: in C).
 */
#ifdef __SSE__
#include <xmmintrin.h>
static inline ctk_v4sf ctk_v4_min(ctk_v4sf a, ctk_v4sf b) { return (ctk_v4sf)_mm_min_ps((__m128)a, (__m128)b); }
static inline ctk_v4sf ctk_v4_max(ctk_v4sf a, ctk_v4sf b) { return (ctk_v4sf)_mm_max_ps((__m128)a, (__m128)b); }
#else
static inline ctk_v4sf ctk_v4_min(ctk_v4sf a, ctk_v4sf b)
{
    ctk_v4si m = a < b;
    return (ctk_v4sf)((m & (ctk_v4si)a) | (~m & (ctk_v4si)b));
}
static inline ctk_v4sf ctk_v4_max(ctk_v4sf a, ctk_v4sf b)
{
    ctk_v4si m = a > b;
    return (ctk_v4sf)((m & (ctk_v4si)a) | (~m & (ctk_v4si)b));
}
#endif

static inline ctk_v4sf ctk_pow_fast4(ctk_v4sf x, float b)
{
    const ctk_v4sf lim = {126, 126, 126, 126};
    /* x = 2^e m with m in [0.75, 1.5): less the bits of 0.75, the exponent field is e */
    ctk_v4si u = (ctk_v4si)x;
    ctk_v4si e = (u - 0x3f400000) >> 23; /* arithmetic shift: e < 0 below 0.75 */
    ctk_v4sf m = (ctk_v4sf)((ctk_v4su)u - ((ctk_v4su)e << 23));
    ctk_v4sf t = m - 1.0f;
    ctk_v4sf lg = t * (1.44269633f + t * (-0.721328263f + t * (0.480624041f + t * (-0.36154728f +
                  t * (0.298291864f + t * (-0.242766529f + t * 0.119985271f))))));
    ctk_v4sf y = b * (__builtin_convertvector(e, ctk_v4sf) + lg);
    y = ctk_v4_max(ctk_v4_min(y, lim), -lim);
    /* nearest integer: y + 126.5 is positive, so truncation floors it */
    ctk_v4si i = __builtin_convertvector(y + 126.5f, ctk_v4si) - 126;
    ctk_v4sf f = y - __builtin_convertvector(i, ctk_v4sf); /* [-0.5, 0.5] */
    ctk_v4sf p = 1.00000008f + f * (0.693147207f + f * (0.240221073f + f * (0.055503272f +
                 f * (0.00967604193f + f * 0.00134004369f))));
    return p * (ctk_v4sf)((ctk_v4su)(i + 127) << 23);
}

static inline float ctk_pow_fast(float x, float b)
{
    return ctk_pow_fast4((ctk_v4sf){x, x, x, x}, b)[0];
}

#endif
