/*
 * gemm_simd.h -- what the product kernels (gemm.c, gemm_amx.c) apply in
 * registers before they store: GELU (erf), 16 floats at a time; and the
 * masks of partial vectors.
 * Included by x86-64 builds only.
 */
#ifndef CTK_GEMM_SIMD_H
#define CTK_GEMM_SIMD_H

#include <immintrin.h>
#include <stdint.h>

#define CTK_GEMM_AVX512 __attribute__((target("avx512f")))

/* The mask of a vector's first n lanes: none when n <= 0, all 16 when n >= 16. */
static inline __mmask16 ctk_gemm_lanes(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/*
 * e^x, 16 at a time: x = k·ln2 + r (ln2 in two parts), e^r by its Taylor
 * series to r^7, times 2^k (scalef); 0 below -87, as layers.c's vexp.
 */
CTK_GEMM_AVX512 static inline __m512 ctk_gemm_exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LE_OQ);
    return _mm512_maskz_mov_ps((__mmask16)~under, _mm512_scalef_ps(p, k));
}

/*
 * GELU (erf), 16 at a time: 0.5·x·(1 + erf(x/√2)), erf by the Numerical
 * Recipes fit that layers.c's verf uses (erfc = t·exp(-z² + P(t)),
 * t = 1/(1 + z/2), fractional error below 1.2e-7), the reciprocal by
 * rcp14 and one Newton step instead of a division.
 */
CTK_GEMM_AVX512 static inline __m512 ctk_gemm_gelu16(__m512 x)
{
    __m512 xs = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    __m512 z = _mm512_abs_ps(xs);
    __m512 d = _mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f));
    __m512 t = _mm512_rcp14_ps(d);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.0f)));
    static const float c[] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                              -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f};
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < 10; i++) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(c[i]));
    __m512 erfc = _mm512_mul_ps(t, ctk_gemm_exp16(_mm512_fnmadd_ps(z, z, p)));
    __m512 r = _mm512_sub_ps(_mm512_set1_ps(1.0f), erfc);
    /* erf has the sign of x */
    r = _mm512_castsi512_ps(_mm512_or_epi32(
        _mm512_castps_si512(r),
        _mm512_and_epi32(_mm512_castps_si512(xs), _mm512_set1_epi32((int)0x80000000u))));
    __m512 hx = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
    return _mm512_fmadd_ps(hx, r, hx);
}

#endif
