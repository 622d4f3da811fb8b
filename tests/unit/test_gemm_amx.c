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

#include "check.h"
#include "err.h"
#include "rng.h"

#define GUARD -12345.0f

static float *random_floats(struct ctk_rng *r, int64_t n)
{
    float *x = xmallocarray((size_t)(n ? n : 1), sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = 2 * ctk_rng_float(r) - 1;
    return x;
}

static float *guarded(int64_t n)
{
    float *x = xmallocarray((size_t)(n ? n : 1), sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = GUARD;
    return x;
}

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

static double worst_rel; /* largest error seen, over Σ|a·w| + |b| */

/* 2. and 3. */
static void check_case(struct ctk_rng *r, int64_t M, int64_t OC, int64_t K, int bias)
{
    int64_t ldo = OC + 3;
    float *a = random_floats(r, M * K), *w = random_floats(r, OC * K);
    float *b = bias ? random_floats(r, OC) : NULL;
    void *wp = xmalloc(emu_amx_size(OC, K)), *work = xmalloc(emu_amx_work(K));
    emu_amx_pack(wp, w, OC, K);

    float *out = guarded(M * ldo);
    emu_amx(out, ldo, a, K, wp, b, CTK_GEMM_NONE, M, K, OC, 0, OC, work);
    int bad = 0;
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = 0; n < OC && !bad; n++) {
            double s = b ? b[n] : 0, mag = b ? fabs(b[n]) : 0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)a[m * K + k] * w[n * K + k];
                mag += fabs((double)a[m * K + k] * w[n * K + k]);
            }
            double err = fabs(out[m * ldo + n] - s) / (mag + 1e-30);
            worst_rel = err > worst_rel ? err : worst_rel;
            if (err > 1e-6) {
                printf("FAIL M=%lld OC=%lld K=%lld bias=%d: out[%lld][%lld] = %.9g, want %.9g\n",
                       (long long)M, (long long)OC, (long long)K, bias, (long long)m,
                       (long long)n, out[m * ldo + n], s);
                check_failures++;
                bad = 1;
            }
        }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = OC; n < ldo; n++)
            CHECK(out[m * ldo + n] == GUARD, "M=%lld OC=%lld K=%lld: wrote past column OC",
                  (long long)M, (long long)OC, (long long)K);

    float *one = guarded(OC);
    for (int64_t m = 0; m < M; m++) {
        emu_amx(one, OC, a + m * K, K, wp, b, CTK_GEMM_NONE, 1, K, OC, 0, OC, work);
        CHECK(memcmp(one, out + m * ldo, (size_t)OC * sizeof *one) == 0,
              "M=%lld OC=%lld K=%lld: row %lld differs computed alone", (long long)M,
              (long long)OC, (long long)K, (long long)m);
    }
    if (OC > 32) {
        int64_t n0 = 32, n1 = OC > 64 ? 64 : OC;
        float *part = guarded(M * ldo);
        emu_amx(part, ldo, a, K, wp, b, CTK_GEMM_NONE, M, K, OC, n0, n1, work);
        for (int64_t m = 0; m < M; m++) {
            CHECK(memcmp(part + m * ldo + n0, out + m * ldo + n0,
                         (size_t)(n1 - n0) * sizeof *part) == 0,
                  "M=%lld OC=%lld K=%lld: columns %lld..%lld differ computed apart", (long long)M,
                  (long long)OC, (long long)K, (long long)n0, (long long)n1);
            for (int64_t n = 0; n < ldo; n++)
                if (n < n0 || n >= n1)
                    CHECK(part[m * ldo + n] == GUARD,
                          "M=%lld OC=%lld K=%lld: wrote outside columns %lld..%lld",
                          (long long)M, (long long)OC, (long long)K, (long long)n0,
                          (long long)n1);
        }
        free(part);
    }
    free(one);
    free(a);
    free(w);
    free(b);
    free(wp);
    free(work);
    free(out);
}

/* 4. */
static void check_gelu(struct ctk_rng *r, int64_t M, int64_t OC, int64_t K)
{
    float *a = random_floats(r, M * K), *w = random_floats(r, OC * K), *b = random_floats(r, OC);
    for (int64_t i = 0; i < M * K; i++) a[i] *= 4; /* sums over [-10, 10] and beyond */
    void *wp = xmalloc(emu_amx_size(OC, K)), *work = xmalloc(emu_amx_work(K));
    float *pre = xmallocarray((size_t)(M * OC), sizeof *pre);
    float *got = xmallocarray((size_t)(M * OC), sizeof *got);
    emu_amx_pack(wp, w, OC, K);
    emu_amx(pre, OC, a, K, wp, b, CTK_GEMM_NONE, M, K, OC, 0, OC, work);
    emu_amx(got, OC, a, K, wp, b, CTK_GEMM_GELU, M, K, OC, 0, OC, work);
    double worst = 0;
    for (int64_t i = 0; i < M * OC; i++) {
        double x = pre[i], g = 0.5 * x * (1 + erf(x / sqrt(2.0)));
        double err = fabs(got[i] - g) / (1 + fabs(g));
        worst = err > worst ? err : worst;
    }
    CHECK(worst <= 3e-7, "M=%lld OC=%lld K=%lld: GELU off by %.3g relative", (long long)M,
          (long long)OC, (long long)K, worst);
    printf("GELU after the AMX product: worst error relative to 1 + |gelu| %.3g (tolerance 3e-7)\n",
           worst);
    free(a);
    free(w);
    free(b);
    free(wp);
    free(work);
    free(pre);
    free(got);
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
