/*
 * gemm_amx.c -- the linear layers' product on AMX tiles, to float accuracy.
 *
 * AMX multiplies bfloat16 (8 significant bits) into float accumulators,
 * 16 times the rate of AVX-512's float FMAs. A float x splits exactly into
 * three bfloat16 pieces, x = x0 + x1 + x2 (each the residual of the last
 * rounded to nearest: 8 + 8 + 8 of x's 24 bits), and a product x·y into
 * the six products of pieces whose order sum is at most 2:
 *     x0y0 + x0y1 + x1y0 + x1y1 + x0y2 + x2y0,
 * each exact in float; what is left out (x1y2, x2y1, x2y2) is below
 * 2^-24·|xy|, the rounding of one float product. Six tile products per
 * block of k take 6/16 of the time of float FMAs at the peak rates, at most
 * 2.7 times the AVX-512 kernel's speed; what it reaches on a given CPU is
 * for bench/gemm/run to say (it times this kernel where AMX is present).
 * Sums are accumulated in float.
 *
 * Layout. Weights (OC, K) are packed once into panels of 32 columns; per
 * panel, blocks of 32 k; per block, for each 16-column half, the three
 * pieces as tiles of 16 rows (pairs of k) × 16 columns × 2 (the k pair),
 * AMX's B operand layout: 6 KB a block. Rows of a are split per pair of
 * 16-row tiles into [k block][piece][tile][16 rows][32 k]. K and OC are
 * padded with zeros to whole blocks and panels.
 *
 * The kernel holds 32 rows × 32 columns in four accumulator tiles and, per
 * block of k, loads a's pieces two tiles at a time and the weight's pieces
 * two at a time: 18 tile loads for 24 tile products. Every output is the
 * same sequence of tile products, block after block from zero, whatever
 * the rows, columns or thread: results are bit-identical across batches.
 */
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gemm_simd.h"

#define AMX __attribute__((target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")))
#define KB_OF(K) (((K) + 31) / 32)
#define BLOCK 3072 /* uint16 of one panel's block of k: 2 halves × 3 pieces × 512 */

int ctk_gemm_amx_available(void)
{
    static int have = -1;
    if (have < 0) {
        unsigned a, b, c, d, a1 = 0, b1, c1, d1;
        have = 0;
        __builtin_cpu_init();
        /* CPUID leaf 7: EDX bit 22 AMX-BF16, bit 24 AMX-TILE; sub-leaf 1, EAX bit 5 AVX512-BF16 */
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) &&
            (d >> 22 & 1) && (d >> 24 & 1) && (a1 >> 5 & 1) && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512bw"))
            /* the kernel must grant the tile data state to the process (Linux 5.16 and later) */
            have = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */,
                           18 /* XFEATURE_XTILEDATA */) == 0;
    }
    return have;
}

size_t ctk_gemm_amx_size(int64_t OC, int64_t K)
{
    return (size_t)((OC + 31) / 32) * (size_t)KB_OF(K) * BLOCK * sizeof(uint16_t);
}

size_t ctk_gemm_amx_work(int64_t K)
{
    /* two pairs of row tiles: 64 rows of a's pieces */
    return (size_t)2 * (size_t)KB_OF(K > 0 ? K : 1) * 3 * 1024 * sizeof(uint16_t);
}

/* 16 floats into their three bfloat16 pieces (rounded to nearest even). */
AMX static inline void split16(__m512 x, __m256i *p0, __m256i *p1, __m256i *p2)
{
    __m256bh h0 = _mm512_cvtneps_pbh(x);
    __m512 f0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h0), 16));
    __m512 r = _mm512_sub_ps(x, f0);
    __m256bh h1 = _mm512_cvtneps_pbh(r);
    __m512 f1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h1), 16));
    __m256bh h2 = _mm512_cvtneps_pbh(_mm512_sub_ps(r, f1));
    *p0 = (__m256i)h0;
    *p1 = (__m256i)h1;
    *p2 = (__m256i)h2;
}

static inline float bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

AMX void ctk_gemm_amx_pack(void *dst, const float *w, int64_t OC, int64_t K)
{
    uint16_t *o = dst;
    int64_t KB = KB_OF(K);
    memset(o, 0, ctk_gemm_amx_size(OC, K));
    uint16_t p[3][16];
    for (int64_t n = 0; n < OC; n++) {
        uint16_t *col = o + (n / 32) * KB * BLOCK + (n % 32 / 16) * 1536 + (n % 16) * 2;
        for (int64_t k = 0; k < K; k += 16) {
            __mmask16 m = ctk_gemm_lanes(K - k);
            __m256i v[3];
            split16(_mm512_maskz_loadu_ps(m, w + n * K + k), &v[0], &v[1], &v[2]);
            for (int q = 0; q < 3; q++) _mm256_storeu_si256((__m256i *)p[q], v[q]);
            for (int64_t j = 0; j < 16 && k + j < K; j++) {
                int64_t kk = k + j;
                uint16_t *t = col + (kk / 32) * BLOCK + (kk % 32 / 2) * 32 + kk % 2;
                for (int q = 0; q < 3; q++) t[q * 512] = p[q][j];
            }
        }
    }
}

void ctk_gemm_amx_unpack(float *w, const void *src, int64_t OC, int64_t K)
{
    const uint16_t *o = src;
    int64_t KB = KB_OF(K);
    for (int64_t n = 0; n < OC; n++) {
        const uint16_t *col = o + (n / 32) * KB * BLOCK + (n % 32 / 16) * 1536 + (n % 16) * 2;
        for (int64_t k = 0; k < K; k++) {
            const uint16_t *t = col + (k / 32) * BLOCK + (k % 32 / 2) * 32 + k % 2;
            w[n * K + k] = (bf16_to_float(t[0]) + bf16_to_float(t[512])) + bf16_to_float(t[1024]);
        }
    }
}

/* Rows r0 .. r0+mr-1 of a (mr <= 32, the rest zero) into a pair of row tiles' pieces. */
AMX static void split_rows(uint16_t *d, const float *a, int64_t lda, int64_t r0, int mr, int64_t K)
{
    int64_t KB = KB_OF(K);
    for (int i = 0; i < 32; i++) {
        uint16_t *row = d + (i / 16) * 512 + (i % 16) * 32;
        if (i >= mr) {
            for (int64_t kb = 0; kb < KB; kb++)
                for (int q = 0; q < 3; q++) memset(row + kb * 3072 + q * 1024, 0, 64);
            continue;
        }
        const float *src = a + (r0 + i) * lda;
        for (int64_t k = 0; k < KB * 32; k += 16) {
            __mmask16 m = ctk_gemm_lanes(K - k);
            __m256i v[3];
            split16(_mm512_maskz_loadu_ps(m, src + k), &v[0], &v[1], &v[2]);
            uint16_t *t = row + (k / 32) * 3072 + k % 32;
            for (int q = 0; q < 3; q++) _mm256_storeu_si256((__m256i *)(t + q * 1024), v[q]);
        }
    }
}

struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

/*
 * 32 rows (ap: split_rows) × one panel (bp), all of K, into c (32 × 32
 * floats). Tiles 0-3 accumulate rows 0-15 / 16-31 × columns 0-15 / 16-31;
 * 4 and 5 hold a piece of a's two row tiles, 6 and 7 a piece of the two
 * column halves.
 */
AMX static void kernel(float *c, const uint16_t *ap, const uint16_t *bp, int64_t KB)
{
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
#define PRODUCTS(qb)                                                                           \
    _tile_loadd(6, B + (qb) * 512, 64);                                                        \
    _tile_loadd(7, B + 1536 + (qb) * 512, 64);                                                 \
    _tile_dpbf16ps(0, 4, 6);                                                                   \
    _tile_dpbf16ps(1, 4, 7);                                                                   \
    _tile_dpbf16ps(2, 5, 6);                                                                   \
    _tile_dpbf16ps(3, 5, 7);
    for (int64_t kb = 0; kb < KB; kb++) {
        const uint16_t *A = ap + kb * 3072, *B = bp + kb * BLOCK;
        /* smallest first: x2y0, x1y1, x1y0, x0y2, x0y1, x0y0 */
        _tile_loadd(4, A + 2048, 64);
        _tile_loadd(5, A + 2048 + 512, 64);
        PRODUCTS(0)
        _tile_loadd(4, A + 1024, 64);
        _tile_loadd(5, A + 1024 + 512, 64);
        PRODUCTS(1)
        PRODUCTS(0)
        _tile_loadd(4, A, 64);
        _tile_loadd(5, A + 512, 64);
        PRODUCTS(2)
        PRODUCTS(1)
        PRODUCTS(0)
    }
#undef PRODUCTS
    _tile_stored(0, c, 128);
    _tile_stored(1, c + 16, 128);
    _tile_stored(2, c + 16 * 32, 128);
    _tile_stored(3, c + 16 * 32 + 16, 128);
}

AMX void ctk_gemm_amx(float *out, int64_t ldo, const float *a, int64_t lda, const void *wp,
                      const float *bias, int act, int64_t M, int64_t K, int64_t OC, int64_t n0,
                      int64_t n1, void *work)
{
    struct tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.colsb[i] = 64;
        cfg.rows[i] = 16;
    }
    _tile_loadconfig(&cfg);
    int64_t KB = KB_OF(K), p0 = n0 / 32, p1 = (n1 + 31) / 32;
    uint16_t *ap = work;
    float c[32 * 32] __attribute__((aligned(64)));
    for (int64_t m0 = 0; m0 < M; m0 += 64) {
        int64_t mc = M - m0 < 64 ? M - m0 : 64;
        for (int64_t r = 0; r < mc; r += 32)
            split_rows(ap + r / 32 * KB * 3072, a, lda, m0 + r, mc - r < 32 ? (int)(mc - r) : 32, K);
        for (int64_t p = p0; p < p1; p++) {
            int64_t nr = OC - p * 32 < 32 ? OC - p * 32 : 32;
            __mmask16 k0 = ctk_gemm_lanes(nr), k1 = ctk_gemm_lanes(nr - 16);
            __m512 b0 = bias ? _mm512_maskz_loadu_ps(k0, bias + p * 32) : _mm512_setzero_ps();
            __m512 b1 = bias ? _mm512_maskz_loadu_ps(k1, bias + p * 32 + 16) : _mm512_setzero_ps();
            for (int64_t r = 0; r < mc; r += 32) {
                kernel(c, ap + r / 32 * KB * 3072, (const uint16_t *)wp + p * KB * BLOCK, KB);
                int64_t rows = mc - r < 32 ? mc - r : 32;
                for (int64_t i = 0; i < rows; i++) {
                    __m512 v0 = _mm512_add_ps(_mm512_load_ps(c + i * 32), b0);
                    __m512 v1 = _mm512_add_ps(_mm512_load_ps(c + i * 32 + 16), b1);
                    if (act == CTK_GEMM_GELU) {
                        v0 = ctk_gemm_gelu16(v0);
                        v1 = ctk_gemm_gelu16(v1);
                    }
                    float *o = out + (m0 + r + i) * ldo + p * 32;
                    _mm512_mask_storeu_ps(o, k0, v0);
                    _mm512_mask_storeu_ps(o + 16, k1, v1);
                }
            }
        }
    }
    _tile_release();
}

#else /* no AMX */

int ctk_gemm_amx_available(void) { return 0; }
size_t ctk_gemm_amx_size(int64_t OC, int64_t K) { return 0; }
size_t ctk_gemm_amx_work(int64_t K) { return 0; }
void ctk_gemm_amx_pack(void *dst, const float *w, int64_t OC, int64_t K) { abort(); }
void ctk_gemm_amx_unpack(float *w, const void *src, int64_t OC, int64_t K) { abort(); }
void ctk_gemm_amx(float *out, int64_t ldo, const float *a, int64_t lda, const void *wp,
                  const float *bias, int act, int64_t M, int64_t K, int64_t OC, int64_t n0,
                  int64_t n1, void *work)
{
    abort();
}

#endif
