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
 *  5. attention for inference (ctk_gemm_attention) within 2e-6 + 1e-5
 *     relative of softmax(q·kᵀ·scale + bias)·v in double, for T around the
 *     14-row blocks and the 16- and 32-key tiles, head sizes 32 to 128,
 *     with and without the relative bias; working space filled with NaN
 *     first, the other heads' columns of out left untouched.
 *
 * Skipped (exit 77) on a CPU without AVX-512F, where callers keep sgemm.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_check.h"
#include "pool.h"

static void packed(float *out, int64_t ldo, const float *a, int64_t lda, const void *wp,
                   const float *bias, int act, int64_t M, int64_t K, int64_t OC, int64_t n0,
                   int64_t n1, void *work)
{
    ctk_gemm_packed(out, ldo, a, lda, wp, bias, act, M, K, OC, n0, n1, work);
}

static void check_case(struct ctk_rng *r, int64_t M, int64_t OC, int64_t K, int bias)
{
    float *a = random_floats(r, M * K), *w = random_floats(r, OC * K);
    float *b = bias ? random_floats(r, OC) : NULL;
    float *wp = xmallocarray((size_t)(OC * K), sizeof *wp);
    float *tmp = xmallocarray((size_t)(OC * K), sizeof *tmp);
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

    /* 2. and 3. (gemm_check.h) */
    check_product(packed, a, w, wp, b, M, OC, K, work);
    free(a);
    free(w);
    free(b);
    free(wp);
    free(tmp);
    free(work);
}

/* 4. GELU after the bias against GELU in double of the same sums; the pool's split against one call */
static void check_pool(struct ctk_rng *r, int threads, int64_t M, int64_t OC, int64_t K, int act)
{
    float *a = random_floats(r, M * K), *wp = random_floats(r, OC * K), *b = random_floats(r, OC);
    float *want = xmallocarray((size_t)(M * OC), sizeof *want), *got = guarded(M * OC);
    float *work = xmallocarray((size_t)threads * ctk_gemm_work(K), sizeof *work);
    ctk_gemm_packed(want, OC, a, K, wp, b, act, M, K, OC, 0, OC, work);
    if (act == CTK_GEMM_GELU) {
        double worst = check_gelu_after(packed, a, wp, b, M, OC, K, work);
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

static double check_attention(struct ctk_rng *r, int64_t T, int64_t hs, int with_bias)
{
    int64_t H = 3, C = H * hs, ldo = C + 5, h = 1;
    float *qkv = random_floats(r, T * 3 * C), *brow = random_floats(r, 2 * T - 1);
    for (int64_t i = 0; i < T * 3 * C; i++) qkv[i] *= 2; /* scores spread over several units */
    float *out = xmallocarray((size_t)(T * ldo), sizeof *out);
    for (int64_t i = 0; i < T * ldo; i++) out[i] = 7;
    size_t nw = ctk_gemm_attention_work(T, hs);
    float *work = xmallocarray(nw, sizeof *work);
    for (size_t i = 0; i < nw; i++) work[i] = NAN;
    float scale = 1 / sqrtf((float)hs);
    const float *bias = with_bias ? brow : NULL;
    ctk_gemm_attention(out, ldo, qkv, C, hs, T, h, scale, bias, work);

    double *p = xmallocarray((size_t)T, sizeof *p);
    double worst = 0;
    int untouched = 1;
    for (int64_t i = 0; i < T; i++) {
        const float *q = qkv + i * 3 * C + h * hs;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < T; j++) {
            const float *k = qkv + j * 3 * C + C + h * hs;
            double d = 0;
            for (int64_t c = 0; c < hs; c++) d += (double)q[c] * k[c];
            p[j] = d * scale + (bias ? bias[T - 1 - i + j] : 0);
            mx = p[j] > mx ? p[j] : mx;
        }
        for (int64_t j = 0; j < T; j++) sum += p[j] = exp(p[j] - mx);
        for (int64_t c = 0; c < hs; c++) {
            double want = 0;
            for (int64_t j = 0; j < T; j++)
                want += p[j] / sum * qkv[j * 3 * C + 2 * C + h * hs + c];
            double err = fabs(out[i * ldo + h * hs + c] - want) / (2e-6 + 1e-5 * fabs(want));
            if (!(err <= worst)) worst = isnan(err) ? INFINITY : err;
        }
        for (int64_t c = 0; c < ldo; c++)
            if ((c < h * hs || c >= (h + 1) * hs) && out[i * ldo + c] != 7) untouched = 0;
    }
    CHECK(worst <= 1, "attention T=%lld hs=%lld bias=%d: off by %.3g of the tolerance",
          (long long)T, (long long)hs, with_bias, worst);
    CHECK(untouched, "attention T=%lld hs=%lld: wrote outside head %lld's columns", (long long)T,
          (long long)hs, (long long)h);
    free(p);
    free(work);
    free(out);
    free(qkv);
    free(brow);
    return worst;
}

int main(void)
{
    setenv("CTK_GEMM_KERNEL", "avx512", 1); /* the pool runs this kernel, whatever is asked */
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
    static const int64_t Ts[] = {1, 2, 13, 14, 15, 16, 17, 28, 31, 32, 33, 70, 130};
    static const int64_t hss[] = {32, 64, 128};
    double worst = 0;
    for (size_t i = 0; i < sizeof Ts / sizeof *Ts; i++)
        for (size_t j = 0; j < sizeof hss / sizeof *hss; j++)
            for (int bias = 0; bias < 2; bias++) {
                double w = check_attention(&r, Ts[i], hss[j], bias);
                worst = w > worst ? w : worst;
            }
    printf("attention: worst error %.3g of the tolerance (2e-6 + 1e-5 relative)\n", worst);
    CHECK(!ctk_gemm_attention_fits(48) && ctk_gemm_attention_fits(64),
          "attention: fits for head sizes that are multiples of 32 only");
    return check_exit("test_gemm");
}
