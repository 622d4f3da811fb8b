/*
 * test_gemm.c -- lib/gemm.c, the product over packed weights, against a
 * plain loop in double:
 *
 *  1. packing then unpacking gives the weight back, bit for bit, whatever
 *     OC (a narrow last panel) and K;
 *  2. every output within float rounding of Σ a·w (+ b) computed in double,
 *     over sizes that hit every tail: M around the 14-row tile and across
 *     blocks of rows, OC around the 32-column panel, K around the 16-step
 *     transpose and across chunks of k, with and without bias, with an
 *     output row stride wider than OC;
 *  3. each output row bit-identical to that row computed alone (M = 1), and
 *     a range of panels identical to the same columns of the full product:
 *     results must not depend on the batch's other rows or on how threads
 *     split the work; outputs outside the asked block left untouched;
 *  4. GELU after the bias within 3e-7 of GELU computed in double (relative
 *     to 1 + |GELU|) on the same sums and over [-20, 20]; the pool's
 *     version, with 1 and 3 threads, row or column split, with and without
 *     GELU, bit-identical to the single call.
 *
 * Skipped (exit 77) on a CPU without AVX-512F, where callers keep sgemm.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm.h"
#include "pool.h"
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

static void check_case(struct ctk_rng *r, int64_t M, int64_t OC, int64_t K, int bias)
{
    int64_t ldo = OC + 3;
    float *a = random_floats(r, M * K), *w = random_floats(r, OC * K);
    float *b = bias ? random_floats(r, OC) : NULL;
    float *wp = xmallocarray((size_t)(OC * K), sizeof *wp), *tmp = xmallocarray((size_t)(OC * K), sizeof *tmp);
    float *work = xmallocarray(ctk_gemm_work(K), sizeof *work);

    /* 1. pack, unpack */
    memcpy(wp, w, (size_t)(OC * K) * sizeof *w);
    ctk_gemm_pack(wp, OC, K, tmp);
    float *back = xmallocarray((size_t)(OC * K), sizeof *back);
    memcpy(back, wp, (size_t)(OC * K) * sizeof *back);
    ctk_gemm_unpack(back, OC, K, tmp);
    CHECK(memcmp(back, w, (size_t)(OC * K) * sizeof *w) == 0,
          "OC=%lld K=%lld: unpack(pack(w)) is not w", (long long)OC, (long long)K);
    free(back);

    float *out = guarded(M * ldo);
    ctk_gemm_packed(out, ldo, a, K, wp, b, CTK_GEMM_NONE, M, K, OC, 0, OC, work);

    /* 2. against double: |err| <= 1e-6 · (Σ|a·w| + |b|) (float rounding of K terms) */
    int bad = 0;
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = 0; n < OC && !bad; n++) {
            double s = b ? b[n] : 0, mag = b ? fabs(b[n]) : 0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)a[m * K + k] * w[n * K + k];
                mag += fabs((double)a[m * K + k] * w[n * K + k]);
            }
            if (fabs(out[m * ldo + n] - s) > 1e-6 * mag + 1e-30) {
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

    /* 3. a row alone; the panels from the second on, or the second alone */
    float *one = guarded(OC);
    for (int64_t m = 0; m < M; m++) {
        ctk_gemm_packed(one, OC, a + m * K, K, wp, b, CTK_GEMM_NONE, 1, K, OC, 0, OC, work);
        CHECK(memcmp(one, out + m * ldo, (size_t)OC * sizeof *one) == 0,
              "M=%lld OC=%lld K=%lld: row %lld differs computed alone", (long long)M,
              (long long)OC, (long long)K, (long long)m);
    }
    if (OC > CTK_GEMM_NR) {
        int64_t n0 = CTK_GEMM_NR, n1 = OC > 2 * CTK_GEMM_NR ? 2 * CTK_GEMM_NR : OC;
        float *part = guarded(M * ldo);
        ctk_gemm_packed(part, ldo, a, K, wp, b, CTK_GEMM_NONE, M, K, OC, n0, n1, work);
        for (int64_t m = 0; m < M; m++) {
            CHECK(memcmp(part + m * ldo + n0, out + m * ldo + n0,
                         (size_t)(n1 - n0) * sizeof *part) == 0,
                  "M=%lld OC=%lld K=%lld: columns %lld..%lld differ computed apart", (long long)M,
                  (long long)OC, (long long)K, (long long)n0, (long long)n1);
            for (int64_t n = 0; n < ldo; n++)
                if (n < n0 || n >= n1)
                    CHECK(part[m * ldo + n] == GUARD, "M=%lld OC=%lld K=%lld: wrote outside "
                          "columns %lld..%lld", (long long)M, (long long)OC, (long long)K,
                          (long long)n0, (long long)n1);
        }
        free(part);
    }
    free(one);
    free(a);
    free(w);
    free(b);
    free(wp);
    free(tmp);
    free(work);
    free(out);
}

/* 4. GELU after the bias against GELU in double of the same sums; the pool's split against one call */
static void check_pool(struct ctk_rng *r, int threads, int64_t M, int64_t OC, int64_t K, int act)
{
    float *a = random_floats(r, M * K), *wp = random_floats(r, OC * K), *b = random_floats(r, OC);
    float *pre = xmallocarray((size_t)(M * OC), sizeof *pre);
    float *want = xmallocarray((size_t)(M * OC), sizeof *want), *got = guarded(M * OC);
    float *work = xmallocarray((size_t)threads * ctk_gemm_work(K), sizeof *work);
    ctk_gemm_packed(want, OC, a, K, wp, b, act, M, K, OC, 0, OC, work);
    if (act == CTK_GEMM_GELU) {
        ctk_gemm_packed(pre, OC, a, K, wp, b, CTK_GEMM_NONE, M, K, OC, 0, OC, work);
        double worst = 0;
        for (int64_t i = 0; i < M * OC; i++) {
            double x = pre[i], g = 0.5 * x * (1 + erf(x / sqrt(2.0)));
            double err = fabs(want[i] - g) / (1 + fabs(g));
            worst = err > worst ? err : worst;
        }
        CHECK(worst <= 3e-7, "M=%lld OC=%lld K=%lld: GELU off by %.3g relative", (long long)M,
              (long long)OC, (long long)K, worst);
    }
    struct ctk_pool pool;
    ctk_pool_init(&pool, threads);
    ctk_gemm_packed_pool(&pool, work, got, a, wp, b, act, M, K, OC);
    ctk_pool_free(&pool);
    CHECK(memcmp(got, want, (size_t)(M * OC) * sizeof *got) == 0,
          "pool of %d, M=%lld OC=%lld K=%lld act=%d: differs from one call", threads,
          (long long)M, (long long)OC, (long long)K, act);
    free(a);
    free(wp);
    free(b);
    free(pre);
    free(want);
    free(got);
    free(work);
}

/* GELU over the whole range the FFN produces, including its tails and the underflow of erfc */
static void check_gelu_range(void)
{
    int64_t n = 4001;
    float *a = xmallocarray((size_t)n, sizeof *a), *out = xmallocarray((size_t)n, sizeof *out);
    float w = 1, *work = xmallocarray(ctk_gemm_work(1), sizeof *work);
    for (int64_t i = 0; i < n; i++) a[i] = -20 + 40.0f * (float)i / (float)(n - 1);
    ctk_gemm_packed(out, 1, a, 1, &w, NULL, CTK_GEMM_GELU, n, 1, 1, 0, 1, work);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = a[i], g = 0.5 * x * (1 + erf(x / sqrt(2.0)));
        double err = fabs(out[i] - g) / (1 + fabs(g));
        worst = err > worst ? err : worst;
    }
    CHECK(worst <= 3e-7, "GELU on [-20, 20] off by %.3g relative", worst);
    printf("GELU on [-20, 20]: worst error relative to 1 + |gelu| %.3g (tolerance 3e-7)\n", worst);
    free(a);
    free(out);
    free(work);
}

int main(void)
{
    setenv("CTK_GEMM_KERNEL", "avx512", 1); /* the pool's product: this kernel's, whatever is asked */
    if (!ctk_gemm_available()) {
        printf("test_gemm: skipped (no AVX-512F; sgemm is used)\n");
        return 77;
    }
    struct ctk_rng r;
    ctk_rng_seed(&r, 11);
    static const int64_t Ms[] = {1, 2, 13, 14, 15, 29};
    static const int64_t OCs[] = {1, 17, 32, 33, 70};
    static const int64_t Ks[] = {1, 15, 16, 17, 40, 385};
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof OCs / sizeof *OCs; j++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
                for (int bias = 0; bias < 2; bias++) check_case(&r, Ms[i], OCs[j], Ks[k], bias);
    /* blocks of rows: with K = 1536 a block is 70 rows */
    check_case(&r, 150, 40, 1536, 1);
    /* a linear layer's real shape: MiniLM's FFN output */
    check_case(&r, 20, 384, 1536, 1);
    check_gelu_range();
    for (int act = CTK_GEMM_NONE; act <= CTK_GEMM_GELU; act++) {
        check_pool(&r, 1, 30, 100, 48, act);
        check_pool(&r, 3, 30, 100, 48, act);   /* columns split */
        check_pool(&r, 3, 250, 70, 33, act);   /* rows split */
        check_pool(&r, 2, 300, 64, 1536, act); /* rows split, blocks of rows */
    }
    return check_exit("test_gemm");
}
