/*
 * gemm_small.c -- the unpacked small-M product of a linear layer (see
 * gemm_small.h).
 *
 * The library is built for baseline x86-64: the kernel is compiled for
 * AVX-512F alone (target attribute) and only called when the CPU has it.
 */
#include <stdlib.h>

#include "gemm_small.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MR 3 /* rows of a per tile */
#define NR 8 /* rows of w (output columns) per tile */
#define AVX512 __attribute__((target("avx512f")))

int ctk_gemm_small_available(void)
{
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return have;
}

/* The low and high 256 bits of v added. */
AVX512 static inline __m256 half_sum(__m512 v)
{
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

/*
 * [Σ v0, ..., Σ v7]: the 16 lanes of each vector summed, by the same tree for
 * each. (Arguments by value: an array would keep the accumulators in memory.)
 */
AVX512 static inline __m256 sum_lanes8(__m512 v0, __m512 v1, __m512 v2, __m512 v3, __m512 v4,
                                       __m512 v5, __m512 v6, __m512 v7)
{
    __m256 t0 = _mm256_hadd_ps(half_sum(v0), half_sum(v1));
    __m256 t1 = _mm256_hadd_ps(half_sum(v2), half_sum(v3));
    __m256 t2 = _mm256_hadd_ps(half_sum(v4), half_sum(v5));
    __m256 t3 = _mm256_hadd_ps(half_sum(v6), half_sum(v7));
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    /* u0 holds the sums of v0..v3 split over its two 128-bit halves, u1 those of v4..v7 */
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/*
 * One tile: rows a[0..MR-1] against rows w[0..NR-1], K long; the first mr
 * rows and nr columns are written to out (row stride ldo). Rows past mr or
 * nr point at the last real one (computed, not stored), so the tails run the
 * same code. Meanwhile lines pf .. pf + 64·npf of the next weights are
 * fetched into cache, a few per step: a layer's weights come from memory
 * (the model is larger than the cache), and the hardware prefetcher alone
 * leaves the kernel waiting for them.
 */
AVX512 static void tile(float *out, int64_t ldo, const float *const a[MR], const float *const w[NR],
                        const float *b, int mr, int nr, int64_t K, const char *pf, int64_t npf)
{
    __m512 acc[MR][NR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t per_step = (npf + (K + 15) / 16 - 1) / ((K + 15) / 16);
    for (int64_t k = 0; k < K; k += 16) {
        /* lanes past K read as 0 (a mask of all ones but in the last step when K % 16) */
        __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 av[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) av[i] = _mm512_maskz_loadu_ps(m, a[i] + k);
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            __m512 wv = _mm512_maskz_loadu_ps(m, w[j] + k);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) acc[i][j] = _mm512_fmadd_ps(av[i], wv, acc[i][j]);
        }
        for (int64_t l = 0; l < per_step && npf > 0; l++, npf--, pf += 64) _mm_prefetch(pf, _MM_HINT_T0);
    }
    /* all MR sums first: indexing acc by the variable mr would keep it in memory */
    __m256 sums[MR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
        sums[i] = sum_lanes8(acc[i][0], acc[i][1], acc[i][2], acc[i][3], acc[i][4], acc[i][5],
                             acc[i][6], acc[i][7]);
    for (int i = 0; i < mr; i++) {
        float *o = out + i * ldo;
        __m256 s = sums[i];
        if (nr == NR) {
            if (b) s = _mm256_add_ps(s, _mm256_loadu_ps(b));
            _mm256_storeu_ps(o, s);
        } else {
            float t[NR];
            _mm256_storeu_ps(t, s);
            for (int j = 0; j < nr; j++) o[j] = b ? t[j] + b[j] : t[j];
        }
    }
}

/*
 * Columns outside, rows inside: a block of NR weight rows (a few KB) stays
 * in L1 while every row of a passes by, so the weight is read from memory
 * once per call.
 */
AVX512 void ctk_gemm_small(float *out, int64_t ldo, const float *a, const float *w, const float *b,
                           int64_t M, int64_t N, int64_t K)
{
    for (int64_t n0 = 0; n0 < N; n0 += NR) {
        int nr = N - n0 < NR ? (int)(N - n0) : NR;
        const float *wr[NR];
        for (int j = 0; j < NR; j++) wr[j] = w + (n0 + (j < nr ? j : nr - 1)) * K;
        /* the row tiles share the fetching of the next block of weights, line by line */
        int64_t next = N - (n0 + NR) < NR ? N - (n0 + NR) : NR, tiles = (M + MR - 1) / MR;
        const char *pf = next > 0 ? (const char *)(w + (n0 + NR) * K) : NULL;
        int64_t lines = next > 0 ? (next * K * (int64_t)sizeof *w + 63) / 64 : 0;
        for (int64_t m0 = 0, t = 0; m0 < M; m0 += MR, t++) {
            int mr = M - m0 < MR ? (int)(M - m0) : MR;
            const float *ar[MR];
            for (int i = 0; i < MR; i++) ar[i] = a + (m0 + (i < mr ? i : mr - 1)) * K;
            int64_t l0 = lines * t / tiles, l1 = lines * (t + 1) / tiles;
            tile(out + m0 * ldo + n0, ldo, ar, wr, b ? b + n0 : NULL, mr, nr, K,
                 pf ? pf + 64 * l0 : NULL, l1 - l0);
        }
    }
}

#else /* not x86-64 with GCC or clang: sgemm always */

int ctk_gemm_small_available(void) { return 0; }

void ctk_gemm_small(float *out, int64_t ldo, const float *a, const float *w, const float *b,
                    int64_t M, int64_t N, int64_t K)
{
    abort(); /* callers check ctk_gemm_small_available() first */
}

#endif
