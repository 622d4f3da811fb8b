/*
 * gemm_check.h -- what test_gemm and test_gemm_amx check of a product
 * kernel over packed weights, out (M, OC; row stride ldo) = a · wᵀ (+ b):
 *
 *  - every output within float rounding of the sum computed in double:
 *    |err| <= 1e-6 · (Σ|a·w| + |b|);
 *  - nothing written past column OC (the output's stride is wider);
 *  - each row bit-identical to that row computed alone, and the second
 *    panel of 32 columns computed apart identical to those columns of the
 *    full product, nothing written outside them: results must not depend
 *    on the batch's other rows or on how threads split the work.
 */
#ifndef CTK_TEST_GEMM_CHECK_H
#define CTK_TEST_GEMM_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "gemm.h"
#include "rng.h"

#define GUARD -12345.0f

/* The kernel under test: wp its packed weight, work its working space. */
typedef void gemm_fn(float *out, int64_t ldo, const float *a, int64_t lda, const void *wp,
                     const float *bias, int act, int64_t M, int64_t K, int64_t OC, int64_t n0,
                     int64_t n1, void *work);

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

/* The checks above for a (M, K), w (OC, K), b (OC, or NULL); returns the worst relative error. */
static double check_product(gemm_fn *f, const float *a, const float *w, const void *wp,
                            const float *b, int64_t M, int64_t OC, int64_t K, void *work)
{
    int64_t ldo = OC + 3;
    double worst = 0;
    float *out = guarded(M * ldo);
    f(out, ldo, a, K, wp, b, CTK_GEMM_NONE, M, K, OC, 0, OC, work);
    int bad = 0;
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = 0; n < OC && !bad; n++) {
            double s = b ? b[n] : 0, mag = b ? fabs(b[n]) : 0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)a[m * K + k] * w[n * K + k];
                mag += fabs((double)a[m * K + k] * w[n * K + k]);
            }
            double err = fabs(out[m * ldo + n] - s) / (mag + 1e-30);
            worst = err > worst ? err : worst;
            if (err > 1e-6) {
                printf("FAIL M=%lld OC=%lld K=%lld bias=%d: out[%lld][%lld] = %.9g, want %.9g\n",
                       (long long)M, (long long)OC, (long long)K, b != NULL, (long long)m,
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
        f(one, OC, a + m * K, K, wp, b, CTK_GEMM_NONE, 1, K, OC, 0, OC, work);
        CHECK(memcmp(one, out + m * ldo, (size_t)OC * sizeof *one) == 0,
              "M=%lld OC=%lld K=%lld: row %lld differs computed alone", (long long)M,
              (long long)OC, (long long)K, (long long)m);
    }
    if (OC > 32) {
        int64_t n0 = 32, n1 = OC > 64 ? 64 : OC;
        float *part = guarded(M * ldo);
        f(part, ldo, a, K, wp, b, CTK_GEMM_NONE, M, K, OC, n0, n1, work);
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
    free(out);
    return worst;
}

/* GELU applied by the kernel against GELU in double of the kernel's own sums. */
static double check_gelu_after(gemm_fn *f, const float *a, const void *wp, const float *b,
                               int64_t M, int64_t OC, int64_t K, void *work)
{
    float *pre = xmallocarray((size_t)(M * OC), sizeof *pre);
    float *got = xmallocarray((size_t)(M * OC), sizeof *got);
    f(pre, OC, a, K, wp, b, CTK_GEMM_NONE, M, K, OC, 0, OC, work);
    f(got, OC, a, K, wp, b, CTK_GEMM_GELU, M, K, OC, 0, OC, work);
    double worst = 0;
    for (int64_t i = 0; i < M * OC; i++) {
        double x = pre[i], g = 0.5 * x * (1 + erf(x / sqrt(2.0)));
        double err = fabs(got[i] - g) / (1 + fabs(g));
        worst = err > worst ? err : worst;
    }
    free(pre);
    free(got);
    return worst;
}

#endif
