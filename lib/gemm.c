/*
 * gemm.c -- a linear layer's product over a weight packed once, and
 * attention for inference on the same kind of kernel (see gemm.h).
 *
 * Blocking, outside in: rows of a in blocks (as many 14-row tiles as 512 KB
 * holds with all of K: a block stays in L2), then the panels of the
 * columns asked for, then k in chunks of at most KC (a panel's chunk, up to
 * 48 KB, stays in L1 while the block's tiles pass by; the partial sums of a
 * chunk are stored in out and taken up by the next, which leaves every
 * output's chain of operations unchanged), then the tiles. The first tile
 * of a chunk fetches the next chunk of weights into L2 as it goes: with
 * the few rows of one sentence each weight serves one or two tiles only and
 * comes from memory.
 *
 * a's rows are copied per block into the order the kernel reads them, a
 * tile at a time: for each k the tile's rows side by side, 16 floats (one
 * cache line) per k whatever the tile's height, made by 16 × 16 transposes
 * in registers.
 *
 * Attention, per sequence and head: a block of 14 query rows against all
 * keys (packed as the rows of a above, 16 keys per tile), the exponentials
 * in place, then the block's outputs over the values' rows as they lie in
 * qkv; the scores stay in L1, and the division by each row's sum is done
 * once per output instead of once per probability.
 *
 * The library is built for baseline x86-64: the kernels are compiled for
 * AVX-512F (target attribute); callers check ctk_gemm_available() and keep
 * sgemm on unpacked weights elsewhere.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gemm.h"
#include "err.h"
#include "pool.h"

#define NR CTK_GEMM_NR
#define MR 14  /* rows per tile: 2 × 14 accumulators of the 32 registers */
#define AS 16  /* floats per k of a packed tile (MR rounded up to a cache line) */
#define KC 384 /* at most this many k per chunk */
#define PFA 16 /* steps of k ahead that a packed tile is fetched */

/* Width of panel p of a weight with OC columns. */
static int64_t panel_width(int64_t p, int64_t OC)
{
    return OC - p * NR < NR ? OC - p * NR : NR;
}

/* What ctk_gemm_packed needs: one tile of a over all of K, CTK_GEMM_WORK at least. */
static size_t packed_work(int64_t K)
{
    size_t min = (size_t)(AS * (K > 0 ? K : 1));
    return min > CTK_GEMM_WORK ? min : CTK_GEMM_WORK;
}

size_t ctk_gemm_work(int64_t K)
{
    size_t min = packed_work(K), amx = ctk_gemm_amx_work(K) / sizeof(float);
    return ctk_gemm_kind() == 2 && amx > min ? amx : min;
}

/* Rows per block: as many whole tiles as the working space holds with all of K. */
static int64_t block_rows(int64_t K)
{
    int64_t tiles = (int64_t)packed_work(K) / (AS * K);
    return (tiles < 1 ? 1 : tiles) * MR;
}

/* w between PyTorch's (OC, K) row-major layout and the panels' (pack 1: to panels). */
static void repack(float *w, int64_t OC, int64_t K, float *tmp, int pack)
{
    memcpy(tmp, w, (size_t)(OC * K) * sizeof *w);
    for (int64_t p = 0; p * NR < OC; p++) {
        int64_t nr = panel_width(p, OC);
        for (int64_t j = 0; j < nr; j++)
            for (int64_t k = 0; k < K; k++) {
                int64_t row_major = (p * NR + j) * K + k, panel = p * NR * K + k * nr + j;
                if (pack) w[panel] = tmp[row_major];
                else w[row_major] = tmp[panel];
            }
    }
}

void ctk_gemm_pack(float *w, int64_t OC, int64_t K, float *tmp) { repack(w, OC, K, tmp, 1); }

void ctk_gemm_unpack(float *w, int64_t OC, int64_t K, float *tmp) { repack(w, OC, K, tmp, 0); }

/*
 * The kernel in use: 2 AMX, 1 AVX-512, 0 none (sgemm). AVX-512 where the
 * CPU has it; CTK_GEMM_KERNEL=sgemm turns it off, CTK_GEMM_KERNEL=amx asks
 * for AMX (taken where the CPU and the kernel allow it, else AVX-512).
 */
int ctk_gemm_kind(void)
{
    static int kind = -1;
    if (kind < 0) {
        const char *env = getenv("CTK_GEMM_KERNEL");
        int most = 1;
        if (env && !strcmp(env, "sgemm")) most = 0;
        else if (env && !strcmp(env, "amx")) most = 2;
        else if (env && *env && strcmp(env, "avx512"))
            ctk_warn("CTK_GEMM_KERNEL=%s is none of avx512, sgemm or amx: taking avx512", env);
        kind = most >= 2 && ctk_gemm_amx_available() ? 2 : most >= 1 && ctk_gemm_avx512() ? 1 : 0;
    }
    return kind;
}

const char *ctk_gemm_kind_name(void)
{
    static const char *names[] = {"OpenBLAS's sgemm", "AVX-512 on packed weights",
                                  "AMX tiles on bfloat16 pieces"};
    return names[ctk_gemm_kind()];
}

int ctk_gemm_available(void) { return ctk_gemm_kind() > 0; }

/* Return whole pages of [p, p + bytes) to the system; they read as zeros when next touched. */
static void release_pages(void *p, size_t bytes)
{
#ifdef MADV_DONTNEED
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = ((uintptr_t)p + page - 1) / page * page,
              hi = ((uintptr_t)p + bytes) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
    (void)p;
    (void)bytes;
#endif
}

/* The four arrays of g (L matrices each) and the (OC, K) shape of their matrices. */
static void layer_arrays(const struct ctk_gemm_layers *g, float *w[4], int64_t oc[4], int64_t k[4])
{
    int64_t C = g->C, F = g->F;
    float *arrays[] = {g->qkvw, g->attprojw, g->fcw, g->fcprojw};
    int64_t ocs[] = {3 * C, C, F, C}, ks[] = {C, C, C, F};
    memcpy(w, arrays, sizeof arrays);
    memcpy(oc, ocs, sizeof ocs);
    memcpy(k, ks, sizeof ks);
}

void ctk_gemm_layers_set(struct ctk_gemm_layers *g, int packed)
{
    if (g->packed == packed) return;
    int64_t C = g->C, F = g->F, L = g->L, oc[4], k[4];
    float *w[4];
    layer_arrays(g, w, oc, k);
    if (ctk_gemm_kind() == 2) {
        /* into their own buffer (the pieces take 6 bytes a weight); the floats' pages are
         * returned to the system meanwhile and rebuilt, exactly, on unpacking */
        if (packed) {
            size_t total = 0;
            for (int i = 0; i < 4; i++) {
                g->amx_off[i] = total;
                total += (size_t)L * ctk_gemm_amx_size(oc[i], k[i]);
            }
            g->amx = xmalloc(total ? total : 1);
        }
        for (int i = 0; i < 4; i++) {
            size_t one = ctk_gemm_amx_size(oc[i], k[i]);
            for (int64_t l = 0; l < L; l++) {
                char *wp = (char *)g->amx + g->amx_off[i] + (size_t)l * one;
                if (packed) ctk_gemm_amx_pack(wp, w[i] + l * oc[i] * k[i], oc[i], k[i]);
                else ctk_gemm_amx_unpack(w[i] + l * oc[i] * k[i], wp, oc[i], k[i]);
            }
            if (packed) release_pages(w[i], (size_t)(L * oc[i] * k[i]) * sizeof(float));
        }
        if (!packed) {
            free(g->amx);
            g->amx = NULL;
        }
    } else {
        float *tmp = xmallocarray((size_t)(F > 3 * C ? F : 3 * C) * (size_t)C, sizeof *tmp);
        for (int i = 0; i < 4; i++)
            for (int64_t l = 0; l < L; l++) repack(w[i] + l * oc[i] * k[i], oc[i], k[i], tmp, packed);
        free(tmp);
    }
    if (packed && !g->work)
        g->work = xmallocarray((size_t)g->threads * ctk_gemm_work(F > C ? F : C), sizeof *g->work);
    g->packed = packed;
}

const void *ctk_gemm_layers_weight(const struct ctk_gemm_layers *g, const float *w)
{
    if (ctk_gemm_kind() != 2) return w;
    int64_t oc[4], k[4];
    float *base[4];
    layer_arrays(g, base, oc, k);
    for (int i = 0; i < 4; i++) {
        int64_t n = oc[i] * k[i];
        if (w >= base[i] && w < base[i] + g->L * n && (w - base[i]) % n == 0)
            return (const char *)g->amx + g->amx_off[i] +
                   (size_t)((w - base[i]) / n) * ctk_gemm_amx_size(oc[i], k[i]);
    }
    abort(); /* not one of the layers' weights */
}

void ctk_gemm_layers_free(struct ctk_gemm_layers *g)
{
    free(g->work);
    g->work = NULL;
    free(g->amx);
    g->amx = NULL;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include "gemm_simd.h"

#define AVX512 __attribute__((target("avx512f,prfchw")))

int ctk_gemm_avx512(void)
{
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return have;
}

/*
 * Rows r0 .. r0+mr-1 of a, k = 0 .. K-1, into ap: ap[k·AS + i] (rows mr ..
 * AS-1 zero), by 16 × 16 transposes in registers: unpacks of pairs of
 * floats, of pairs of doubles, then two shuffles of 128-bit lanes.
 */
AVX512 static void pack_tile(float *ap, const float *a, int64_t lda, int64_t r0, int mr, int64_t K)
{
    /* vector j of the last stage holds column col[j] (the unpacks' pairs come out swapped) */
    static const int col[16] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
    const float *src = a + r0 * lda;
    for (int64_t k = 0; k < K; k += 16) {
        __mmask16 m = ctk_gemm_lanes(K - k);
        __m512 r[16], t[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            r[i] = i < mr ? _mm512_maskz_loadu_ps(m, src + i * lda + k) : _mm512_setzero_ps();
#pragma GCC unroll 8
        for (int i = 0; i < 16; i += 2) {
            t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < 16; i += 4)
#pragma GCC unroll 2
            for (int j = 0; j < 2; j++) {
                __m512d x = _mm512_castps_pd(t[i + j]), y = _mm512_castps_pd(t[i + j + 2]);
                r[i + j] = _mm512_castpd_ps(_mm512_unpacklo_pd(x, y));
                r[i + j + 2] = _mm512_castpd_ps(_mm512_unpackhi_pd(x, y));
            }
#pragma GCC unroll 2
        for (int i = 0; i < 16; i += 8)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
                t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
            }
        float *d = ap + k * AS;
        if (K - k >= 16) {
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                _mm512_storeu_ps(d + col[j] * AS, _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88));
                _mm512_storeu_ps(d + col[j + 8] * AS, _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd));
            }
        } else {
            for (int j = 0; j < 8; j++) {
                if (col[j] < K - k) _mm512_storeu_ps(d + col[j] * AS, _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88));
                if (col[j + 8] < K - k)
                    _mm512_storeu_ps(d + col[j + 8] * AS, _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd));
            }
        }
    }
}

/*
 * One tile: mr rows (packed, ap) × the nr columns of a panel chunk (wp, row
 * stride ws: 32, or nr in a narrow last panel), kc steps of k. acc: take up
 * the partial sums in out; last: the last chunk, which adds bias (unless
 * NULL) and applies GELU when gelu. pf: the next chunk of weights to fetch
 * into cache, or NULL. mr and full are constants where it is inlined, so
 * that the accumulators live in registers.
 */
AVX512 static inline __attribute__((always_inline)) void
tile(const int mr, const int full, float *out, int64_t ldo, const float *ap, const float *wp,
     int64_t kc, int nr, int acc, int last, const float *bias, int gelu, const char *pf)
{
    __m512 c0[MR], c1[MR];
    __mmask16 m0 = full ? 0xffff : ctk_gemm_lanes(nr);
    __mmask16 m1 = full ? 0xffff : ctk_gemm_lanes(nr - 16);
    int64_t ws = full ? NR : nr;
    /* ask for the tile's output lines now: the stores at the end would wait for them */
    if (last)
        for (int i = 0; i < mr; i++) {
            __builtin_prefetch(out + i * ldo, 1, 3);
            __builtin_prefetch(out + i * ldo + 16, 1, 3);
        }
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        if (acc) {
            c0[i] = _mm512_maskz_loadu_ps(m0, out + i * ldo);
            c1[i] = _mm512_maskz_loadu_ps(m1, out + i * ldo + 16);
        } else {
            c0[i] = _mm512_setzero_ps();
            c1[i] = _mm512_setzero_ps();
        }
    }
    /* step kk of k: the tile's rows against the panel's columns */
#define STEP(kk)                                                                               \
    do {                                                                                       \
        const float *w_ = wp + (kk) * ws;                                                      \
        __m512 b0 = full ? _mm512_loadu_ps(w_) : _mm512_maskz_loadu_ps(m0, w_);                \
        __m512 b1 = full ? _mm512_loadu_ps(w_ + 16) : _mm512_maskz_loadu_ps(m1, w_ + 16);      \
        _Pragma("GCC unroll 14") for (int i = 0; i < mr; i++) {                                \
            __m512 av = _mm512_set1_ps(ap[(kk) * AS + i]);                                     \
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);                                            \
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);                                            \
        }                                                                                      \
    } while (0)
    int64_t k = 0;
    if (pf)
        for (; k + 2 <= kc; k += 2, ap += 2 * AS, wp += 2 * ws, pf += 256) {
            _mm_prefetch((const char *)(ap + PFA * AS), _MM_HINT_T0);
            _mm_prefetch((const char *)(ap + (PFA + 1) * AS), _MM_HINT_T0);
            _mm_prefetch(pf, _MM_HINT_T1);
            _mm_prefetch(pf + 64, _MM_HINT_T1);
            _mm_prefetch(pf + 128, _MM_HINT_T1);
            _mm_prefetch(pf + 192, _MM_HINT_T1);
            STEP(0);
            STEP(1);
        }
    else
        for (; k + 2 <= kc; k += 2, ap += 2 * AS, wp += 2 * ws) {
            _mm_prefetch((const char *)(ap + PFA * AS), _MM_HINT_T0);
            _mm_prefetch((const char *)(ap + (PFA + 1) * AS), _MM_HINT_T0);
            STEP(0);
            STEP(1);
        }
    if (k < kc) STEP(0);
#undef STEP
    __m512 bb0 = _mm512_setzero_ps(), bb1 = _mm512_setzero_ps();
    if (last && bias) {
        bb0 = _mm512_maskz_loadu_ps(m0, bias);
        bb1 = _mm512_maskz_loadu_ps(m1, bias + 16);
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            c0[i] = _mm512_add_ps(c0[i], bb0);
            c1[i] = _mm512_add_ps(c1[i], bb1);
        }
    }
    if (last && gelu)
        for (int i = 0; i < mr; i++) {
            c0[i] = ctk_gemm_gelu16(c0[i]);
            c1[i] = ctk_gemm_gelu16(c1[i]);
        }
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        if (full) {
            _mm512_storeu_ps(out + i * ldo, c0[i]);
            _mm512_storeu_ps(out + i * ldo + 16, c1[i]);
        } else {
            _mm512_mask_storeu_ps(out + i * ldo, m0, c0[i]);
            _mm512_mask_storeu_ps(out + i * ldo + 16, m1, c1[i]);
        }
    }
}

#define TILE_CASE(n)                                                                           \
    case n:                                                                                    \
        if (nr == NR) tile(n, 1, out, ldo, ap, wp, kc, nr, acc, last, bias, gelu, pf);         \
        else tile(n, 0, out, ldo, ap, wp, kc, nr, acc, last, bias, gelu, pf);                  \
        break;

AVX512 static void tile_any(int mr, float *out, int64_t ldo, const float *ap, const float *wp,
                            int64_t kc, int nr, int acc, int last, const float *bias, int gelu,
                            const char *pf)
{
    switch (mr) {
        TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6)
        TILE_CASE(7) TILE_CASE(8) TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
        TILE_CASE(13) TILE_CASE(14)
    default: abort();
    }
}

void ctk_gemm_packed(float *out, int64_t ldo, const float *a, int64_t lda, const float *wp,
                     const float *bias, int act, int64_t M, int64_t K, int64_t OC, int64_t n0,
                     int64_t n1, float *work)
{
    int64_t p0 = n0 / NR, p1 = (n1 + NR - 1) / NR;
    int64_t MC = block_rows(K);
    /* chunks of k as even as they come, KC at most */
    int64_t nch = (K + KC - 1) / KC, kcs = (K + nch - 1) / nch;
    for (int64_t m0 = 0; m0 < M; m0 += MC) {
        int64_t mc = M - m0 < MC ? M - m0 : MC;
        for (int64_t r = 0; r < mc; r += MR) {
            int mr = mc - r < MR ? (int)(mc - r) : MR;
            pack_tile(work + r / MR * AS * K, a, lda, m0 + r, mr, K);
        }
        for (int64_t p = p0; p < p1; p++) {
            int nr = (int)panel_width(p, OC);
            const float *pan = wp + p * NR * K;
            for (int64_t k0 = 0; k0 < K; k0 += kcs) {
                int64_t kc = K - k0 < kcs ? K - k0 : kcs;
                int last = k0 + kc == K;
                /* the first tile fetches the chunk that follows this one into L2 (into L1, the
                 * line fill buffers would cap the rate at which weights stream from memory) */
                const char *pf = NULL;
                if (!last) pf = (const char *)(pan + (k0 + kc) * nr);
                else if (p + 1 < p1) pf = (const char *)(wp + (p + 1) * NR * K);
                for (int64_t r = 0; r < mc; r += MR) {
                    int mr = mc - r < MR ? (int)(mc - r) : MR;
                    tile_any(mr, out + (m0 + r) * ldo + p * NR, ldo, work + (r / MR * K + k0) * AS,
                             pan + k0 * nr, kc, nr, k0 > 0, last, bias ? bias + p * NR : NULL,
                             act == CTK_GEMM_GELU, r == 0 ? pf : NULL);
                }
            }
        }
    }
}

struct pool_job {
    float *out, *work;
    const float *a;
    const void *wp;
    const float *bias;
    int act;
    int64_t M, K, OC;
    int64_t rows, cols; /* rows and columns per item */
    size_t work_floats;
};

static void pool_item(void *ctx, int64_t item, int thread)
{
    struct pool_job *j = ctx;
    int64_t ncol = (j->OC + j->cols - 1) / j->cols;
    int64_t m0 = item / ncol * j->rows, m1 = m0 + j->rows < j->M ? m0 + j->rows : j->M;
    int64_t n0 = item % ncol * j->cols, n1 = n0 + j->cols < j->OC ? n0 + j->cols : j->OC;
    float *out = j->out + m0 * j->OC, *work = j->work + (size_t)thread * j->work_floats;
    if (ctk_gemm_kind() == 2)
        ctk_gemm_amx(out, j->OC, j->a + m0 * j->K, j->K, j->wp, j->bias, j->act, m1 - m0, j->K,
                     j->OC, n0, n1, work);
    else
        ctk_gemm_packed(out, j->OC, j->a + m0 * j->K, j->K, j->wp, j->bias, j->act, m1 - m0,
                        j->K, j->OC, n0, n1, work);
}

/*
 * Many rows: each thread takes an equal share of them, all columns (each
 * packs only its rows of a, and reads all the weight, from L3); few rows:
 * a share of the columns each, all rows (each reads its part of the
 * weight). Shares of rows are not rounded to whole 14-row tiles: with 800
 * rows on 2 threads that made 29 tiles against 28 and a 2-row one.
 */
void ctk_gemm_packed_pool(struct ctk_pool *pool, float *work, float *out, const float *a,
                          const void *wp, const float *bias, int act, int64_t M, int64_t K,
                          int64_t OC)
{
    int64_t T = pool->nthreads, rows = M, cols = OC;
    if (M == 0 || OC == 0) return;
    /* AVX-512: even shares (a row's result does not depend on its tile); AMX: whole tiles */
    int64_t mr = ctk_gemm_kind() == 2 ? 32 : 1;
    if (M >= 64 * T) rows = ((M + T - 1) / T + mr - 1) / mr * mr;
    else cols = ((OC + T - 1) / T + NR - 1) / NR * NR;
    struct pool_job j = {out, work, a, wp, bias, act, M, K, OC, rows, cols, ctk_gemm_work(K)};
    ctk_pool_run(pool, (M + rows - 1) / rows * ((OC + cols - 1) / cols), pool_item, &j);
}

/* ------------------------------------------------------------------------ */
/* Attention of one sequence and head, for inference                         */

int ctk_gemm_attention_fits(int64_t hs) { return ctk_gemm_available() && hs > 0 && hs % 32 == 0; }

/* Keys' columns rounded up to whole pairs of vectors. */
static int64_t att_cols(int64_t T) { return (T + 31) / 32 * 32; }

size_t ctk_gemm_attention_work(int64_t T, int64_t hs)
{
    return (size_t)(att_cols(T) * (hs + MR));
}

/*
 * acc[i] (rows i < mr, 32 columns in two vectors) = Σ_k a[i·lda + k] ·
 * (b0, b1)[k·ldb ..]: the scores (a the queries, b the keys as packed
 * tiles, 16 floats per k) or the weighted sum (a the scores, b the values'
 * rows). Then into out's rows: the scores (inv NULL) times scale, plus
 * the relative bias brow[T-1 - i + j] when brow (m0, m1: its columns
 * within T); the weighted sum times inv[i].
 */
AVX512 static inline __attribute__((always_inline)) void
att_tile(const int mr, const float *a, int64_t lda, const float *b0p, const float *b1p,
         int64_t ldb, int64_t kc, float *out, int64_t ldo, const float *inv, float scale,
         const float *brow, int64_t bias0, __mmask16 m0, __mmask16 m1)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b0p + k * ldb), b1 = _mm512_loadu_ps(b1p + k * ldb);
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[i * lda + k]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
    }
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        if (inv) {
            __m512 f = _mm512_set1_ps(inv[i]);
            _mm512_storeu_ps(out + i * ldo, _mm512_mul_ps(c0[i], f));
            _mm512_storeu_ps(out + i * ldo + 16, _mm512_mul_ps(c1[i], f));
        } else {
            __m512 f = _mm512_set1_ps(scale);
            c0[i] = _mm512_mul_ps(c0[i], f);
            c1[i] = _mm512_mul_ps(c1[i], f);
            if (brow) {
                const float *br = brow + bias0 - i;
                c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(m0, br));
                c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(m1, br + 16));
            }
            _mm512_storeu_ps(out + i * ldo, c0[i]);
            _mm512_storeu_ps(out + i * ldo + 16, c1[i]);
        }
    }
}

#define ATT_CASE(n)                                                                            \
    case n:                                                                                    \
        att_tile(n, a, lda, b0p, b1p, ldb, kc, out, ldo, inv, scale, brow, bias0, m0, m1);     \
        break;

AVX512 static void att_tile_any(int mr, const float *a, int64_t lda, const float *b0p,
                                const float *b1p, int64_t ldb, int64_t kc, float *out,
                                int64_t ldo, const float *inv, float scale, const float *brow,
                                int64_t bias0, __mmask16 m0, __mmask16 m1)
{
    switch (mr) {
        ATT_CASE(1) ATT_CASE(2) ATT_CASE(3) ATT_CASE(4) ATT_CASE(5) ATT_CASE(6) ATT_CASE(7)
        ATT_CASE(8) ATT_CASE(9) ATT_CASE(10) ATT_CASE(11) ATT_CASE(12) ATT_CASE(13) ATT_CASE(14)
    default: abort();
    }
}

/* Row r of the scores (n valid of its columns) to e^(s - max); returns 1 / the sum. */
AVX512 static float att_exp_row(float *r, int64_t n)
{
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n; j += 16) {
        mv = _mm512_mask_max_ps(mv, ctk_gemm_lanes(n - j), mv, _mm512_loadu_ps(r + j));
    }
    __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(mv)), sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        __m512 x = _mm512_sub_ps(_mm512_loadu_ps(r + j), mx);
        __m512 e = _mm512_maskz_mov_ps(ctk_gemm_lanes(n - j), ctk_gemm_exp16(x));
        _mm512_storeu_ps(r + j, e);
        sum = _mm512_add_ps(sum, e);
    }
    return 1 / _mm512_reduce_add_ps(sum);
}

/*
 * Per block of query rows: the block's scores against all keys (packed once
 * per call as tiles of 16 keys, k-major), their exponentials in place, then
 * the block's outputs, 32 columns at a time, scaled by the rows' 1 / sum:
 * the scores never leave L1.
 */
void ctk_gemm_attention(float *out, int64_t ldo, const float *qkv, int64_t C, int64_t hs,
                        int64_t T, int64_t h, float scale, const float *brow, float *work)
{
    int64_t C3 = 3 * C, Tp = att_cols(T);
    const float *q = qkv + h * hs, *k = qkv + C + h * hs, *v = qkv + 2 * C + h * hs;
    float *kt = work, *s = work + Tp * hs, inv[MR];
    for (int64_t j = 0; j < Tp; j += 16) {
        if (j < T) pack_tile(kt + j * hs, k, C3, j, T - j < 16 ? (int)(T - j) : 16, hs);
        else memset(kt + j * hs, 0, (size_t)(16 * hs) * sizeof *kt);
    }
    for (int64_t i0 = 0; i0 < T; i0 += MR) {
        int mr = T - i0 < MR ? (int)(T - i0) : MR;
        for (int64_t j = 0; j < Tp; j += 32)
            att_tile_any(mr, q + i0 * C3, C3, kt + j * hs, kt + (j + 16) * hs, 16, hs, s + j, Tp,
                         NULL, scale, brow, T - 1 - i0 + j, ctk_gemm_lanes(T - j),
                         ctk_gemm_lanes(T - j - 16));
        for (int i = 0; i < mr; i++) inv[i] = att_exp_row(s + i * Tp, T);
        for (int64_t c = 0; c < hs; c += 32)
            att_tile_any(mr, s, Tp, v + c, v + c + 16, C3, T, out + i0 * ldo + h * hs + c, ldo,
                         inv, 0, NULL, 0, 0, 0);
    }
}

#else /* not x86-64 with GCC or clang: callers keep sgemm */

int ctk_gemm_avx512(void) { return 0; }

void ctk_gemm_packed(float *out, int64_t ldo, const float *a, int64_t lda, const float *wp,
                     const float *bias, int act, int64_t M, int64_t K, int64_t OC, int64_t n0,
                     int64_t n1, float *work)
{
    abort(); /* callers check ctk_gemm_available() first */
}

void ctk_gemm_packed_pool(struct ctk_pool *pool, float *work, float *out, const float *a,
                          const void *wp, const float *bias, int act, int64_t M, int64_t K,
                          int64_t OC)
{
    abort();
}

int ctk_gemm_attention_fits(int64_t hs) { return 0; }

size_t ctk_gemm_attention_work(int64_t T, int64_t hs) { return 0; }

void ctk_gemm_attention(float *out, int64_t ldo, const float *qkv, int64_t C, int64_t hs,
                        int64_t T, int64_t h, float scale, const float *brow, float *work)
{
    abort();
}

#endif
