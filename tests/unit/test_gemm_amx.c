/*
 * test_gemm_amx.c -- lib/gemm_amx.c, the product on AMX tiles over weights
 * split into three bfloat16 pieces, with the tile instructions carried out
 * by tests/unit/amx_emu.h, so that it runs on any CPU with AVX-512F and
 * AVX-512BW (skipped otherwise, exit 77). Against a plain loop in double:
 *
 *  1. packing then unpacking gives the weight back bit for bit: the three
 *     pieces sum exactly to each float, over magnitudes from 2^-30 to 2^30,
 *     whatever OC (a narrow last panel) and K (a partial block of 32);
 *  2. every output within float rounding of Σ a·w (+ b) computed in double,
 *     over sizes that hit every tail: M around the 32-row pair of tiles and
 *     the 64-row block, OC around the 32-column panel, K around the 32-k
 *     block, with and without bias, an output row stride wider than OC;
 *  3. each row bit-identical to that row computed alone, a range of panels
 *     identical to those columns of the full product, nothing written
 *     outside the columns asked for;
 *  4. GELU after the bias within 3e-7 of GELU in double of the same sums.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>

#include "amx_emu.h"

#define ctk_gemm_amx_available emu_amx_available
#define ctk_gemm_amx_size emu_amx_size
#define ctk_gemm_amx_work emu_amx_work
#define ctk_gemm_amx_pack emu_amx_pack
#define ctk_gemm_amx_unpack emu_amx_unpack
#define ctk_gemm_amx emu_amx
#include "gemm_amx.c"

#include "gemm_check.h"

/* 1. */
static void check_roundtrip(struct ctk_rng *r, int64_t OC, int64_t K)
{
    float *w = random_floats(r, OC * K), *back = guarded(OC * K);
    for (int64_t i = 0; i < OC * K; i++) w[i] = ldexpf(w[i], (int)(i % 61) - 30);
    void *wp = xmalloc(emu_amx_size(OC, K));
    emu_amx_pack(wp, w, OC, K);
    emu_amx_unpack(back, wp, OC, K);
    CHECK(memcmp(back, w, (size_t)(OC * K) * sizeof *w) == 0,
          "OC=%lld K=%lld: unpack(pack(w)) is not w", (long long)OC, (long long)K);
    free(w);
    free(back);
    free(wp);
}

static void amx(float *out, int64_t ldo, const float *a, int64_t lda, const void *wp,
                const float *bias, int act, int64_t M, int64_t K, int64_t OC, int64_t n0,
                int64_t n1, void *work)
{
    emu_amx(out, ldo, a, lda, wp, bias, act, M, K, OC, n0, n1, work);
}

static double worst_rel; /* largest error seen, over Σ|a·w| + |b| */

/* 2. and 3. (gemm_check.h) */
static void check_case(struct ctk_rng *r, int64_t M, int64_t OC, int64_t K, int bias)
{
    float *a = random_floats(r, M * K), *w = random_floats(r, OC * K);
    float *b = bias ? random_floats(r, OC) : NULL;
    void *wp = xmalloc(emu_amx_size(OC, K)), *work = xmalloc(emu_amx_work(K));
    emu_amx_pack(wp, w, OC, K);
    double e = check_product(amx, a, w, wp, b, M, OC, K, work);
    worst_rel = e > worst_rel ? e : worst_rel;
    free(a);
    free(w);
    free(b);
    free(wp);
    free(work);
}

/* 4. */
static void check_gelu(struct ctk_rng *r, int64_t M, int64_t OC, int64_t K)
{
    float *a = random_floats(r, M * K), *w = random_floats(r, OC * K), *b = random_floats(r, OC);
    for (int64_t i = 0; i < M * K; i++) a[i] *= 4; /* sums over [-10, 10] and beyond */
    void *wp = xmalloc(emu_amx_size(OC, K)), *work = xmalloc(emu_amx_work(K));
    emu_amx_pack(wp, w, OC, K);
    double worst = check_gelu_after(amx, a, wp, b, M, OC, K, work);
    CHECK(worst <= 3e-7, "M=%lld OC=%lld K=%lld: GELU off by %.3g relative", (long long)M,
          (long long)OC, (long long)K, worst);
    printf("GELU after the AMX product: worst error relative to 1 + |gelu| %.3g (tolerance 3e-7)\n",
           worst);
    free(a);
    free(w);
    free(b);
    free(wp);
    free(work);
}

int main(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw")) {
        printf("test_gemm_amx: skipped (no AVX-512F and AVX-512BW to run the kernel's own "
               "vector code)\n");
        return 77;
    }
    struct ctk_rng r;
    ctk_rng_seed(&r, 12);
    static const int64_t OCs[] = {1, 17, 32, 33, 70};
    static const int64_t Ks[] = {1, 15, 16, 17, 31, 32, 33, 65};
    for (size_t j = 0; j < sizeof OCs / sizeof *OCs; j++)
        for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++) check_roundtrip(&r, OCs[j], Ks[k]);
    static const int64_t Ms[] = {1, 15, 16, 17, 31, 32, 33, 65};
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof OCs / sizeof *OCs; j++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k += 2)
                check_case(&r, Ms[i], OCs[j], Ks[k], (int)((i + j + k) % 2));
    check_case(&r, 70, 40, 384, 1); /* a block of 64 rows and a partial one, 12 blocks of k */
    printf("AMX product against double: worst error relative to sum |a*w| + |b| %.3g "
           "(tolerance 1e-6)\n", worst_rel);
    check_gelu(&r, 40, 50, 64);
    return check_exit("test_gemm_amx");
}
