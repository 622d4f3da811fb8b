/*
 * test_gemm_small.c -- lib/gemm_small.c against a plain loop in double:
 *
 *  1. every output within float rounding of Σ a·w (+ b) computed in double,
 *     over sizes that hit every tail: M not a multiple of the 3-row tile,
 *     N not a multiple of the 8-column tile, K below, at and past 16-lane
 *     steps, with and without bias, with an output row stride wider than N;
 *  2. each output row bit-identical to that row computed alone (M = 1), and
 *     each column range identical to the same columns of the full product:
 *     the results of a batch must not depend on its other rows or on how
 *     threads split the columns;
 *  3. outputs outside the M x N block left untouched.
 *
 * Skipped (exit 77) on a CPU without AVX-512F, where callers use sgemm.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm_small.h"
#include "rng.h"

#define GUARD -12345.0f

static float *random_floats(struct ctk_rng *r, int64_t n)
{
    float *x = xmallocarray((size_t)(n ? n : 1), sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = 2 * ctk_rng_float(r) - 1;
    return x;
}

static void check_case(struct ctk_rng *r, int64_t M, int64_t N, int64_t K, int bias)
{
    int64_t ldo = N + 3;
    float *a = random_floats(r, M * K), *w = random_floats(r, N * K);
    float *b = bias ? random_floats(r, N) : NULL;
    float *out = xmallocarray((size_t)(M * ldo), sizeof *out);
    for (int64_t i = 0; i < M * ldo; i++) out[i] = GUARD;
    ctk_gemm_small(out, ldo, a, w, b, M, N, K);

    /* 1. against double: |err| <= 1e-6 · (Σ|a·w| + |b|) (float rounding of K terms) */
    int bad = 0;
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = 0; n < N && !bad; n++) {
            double s = b ? b[n] : 0, mag = b ? fabs(b[n]) : 0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)a[m * K + k] * w[n * K + k];
                mag += fabs((double)a[m * K + k] * w[n * K + k]);
            }
            if (fabs(out[m * ldo + n] - s) > 1e-6 * mag + 1e-30) {
                printf("FAIL M=%lld N=%lld K=%lld bias=%d: out[%lld][%lld] = %.9g, want %.9g\n",
                       (long long)M, (long long)N, (long long)K, bias, (long long)m, (long long)n,
                       out[m * ldo + n], s);
                check_failures++;
                bad = 1;
            }
        }
    /* 3. the padding of each row untouched */
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = N; n < ldo; n++)
            CHECK(out[m * ldo + n] == GUARD, "M=%lld N=%lld K=%lld: wrote past column N",
                  (long long)M, (long long)N, (long long)K);

    /* 2. a row alone, and a column range (a thread's share), give the same bits */
    float *one = xmallocarray((size_t)(N ? N : 1), sizeof *one);
    for (int64_t m = 0; m < M; m++) {
        ctk_gemm_small(one, N, a + m * K, w, b, 1, N, K);
        CHECK(memcmp(one, out + m * ldo, (size_t)N * sizeof *one) == 0,
              "M=%lld N=%lld K=%lld: row %lld differs computed alone", (long long)M, (long long)N,
              (long long)K, (long long)m);
    }
    int64_t n0 = N / 3, n1 = N - N / 4;
    if (n1 > n0) {
        float *part = xmallocarray((size_t)(M * ldo), sizeof *part);
        ctk_gemm_small(part + n0, ldo, a, w + n0 * K, b ? b + n0 : NULL, M, n1 - n0, K);
        for (int64_t m = 0; m < M; m++)
            CHECK(memcmp(part + m * ldo + n0, out + m * ldo + n0,
                         (size_t)(n1 - n0) * sizeof *part) == 0,
                  "M=%lld N=%lld K=%lld: columns %lld..%lld differ computed apart", (long long)M,
                  (long long)N, (long long)K, (long long)n0, (long long)n1);
        free(part);
    }
    free(one);
    free(a);
    free(w);
    free(b);
    free(out);
}

int main(void)
{
    if (!ctk_gemm_small_available()) {
        printf("test_gemm_small: skipped (no AVX-512F; sgemm is used)\n");
        return 77;
    }
    struct ctk_rng r;
    ctk_rng_seed(&r, 7);
    static const int64_t Ms[] = {1, 2, 3, 4, 5, 7, 16, 25, CTK_GEMM_SMALL_MAX_M};
    static const int64_t Ns[] = {1, 3, 8, 9, 17, 40};
    static const int64_t Ks[] = {1, 5, 15, 16, 17, 33, 384};
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof Ns / sizeof *Ns; j++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
                for (int bias = 0; bias < 2; bias++) check_case(&r, Ms[i], Ns[j], Ks[k], bias);
    /* a linear layer's real shape: MiniLM's FFN output, K = 1536 */
    check_case(&r, 11, 384, 1536, 1);
    return check_exit("test_gemm_small");
}
