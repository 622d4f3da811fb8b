/*
 * layers.c -- forward and backward of each transformer layer (see layers.h).
 *
 * Linear layers and the two products of attention go through BLAS sgemm,
 * row-major, weights (OC, C) as PyTorch stores them. The elementwise passes
 * (LayerNorm, GELU, softmax) are plain loops written so that the compiler
 * vectorises them; the hot ones are compiled for AVX-512, AVX2 and the
 * baseline and chosen at load time (target_clones), since the library itself
 * is built for the baseline x86-64.
 *
 * With CTK_LAYERS_DOUBLE defined (and float #defined to double by the
 * includer, tests/unit/test_layers.c) the same code runs in double precision
 * over dgemm and libm's exp and erf, for finite-difference gradient checks.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cblas.h>

#include "layers.h"
#include "rng.h"

#ifdef CTK_LAYERS_DOUBLE
#define GEMM cblas_dgemm
#define HOT
#define HOT64
#define sqrtf sqrt
#define fabsf fabs
#else
#define GEMM cblas_sgemm
#pragma GCC optimize("O3")
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(CTK_FUZZ)
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
/* loops of 64-bit products (dropout's hash): x86-64-v4 (AVX-512 with DQ) has them in vectors */
#define HOT64 __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define HOT
#define HOT64
#endif
#endif

/* ------------------------------------------------------------------------ */
/* Elementwise math                                                          */

#ifdef CTK_LAYERS_DOUBLE
static inline float vexp(float x) { return exp(x); }
static inline float verf(float x) { return erf(x); }
#else
/*
 * e^x in single precision without a call, so that loops over it vectorise:
 * x = k·ln2 + r with |r| <= ln2/2 (ln2 split in two for an exact product),
 * e^r by its Taylor series to r^7 (truncation below 1e-8 relative), times 2^k
 * put into the exponent bits. Within 2 ulp of expf over [-87, 88]; below
 * that it returns 0 (softmax and erfc only need the underflow).
 */
static inline float vexp(float x)
{
    union {
        float f;
        int32_t i;
    } u;
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float k = x * 1.44269504f;
    k = (k + 12582912.0f) - 12582912.0f; /* round to nearest (1.5·2^23 trick) */
    float r = x - k * 0.693145751953125f; /* ln2 high part, exact in k·hi */
    r = r - k * 1.428606765330187e-06f;   /* ln2 low part */
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    u.i = ((int32_t)k + 127) << 23;
    return x <= -87.0f ? 0.0f : p * u.f;
}

/*
 * erf(x) = 1 - erfc(|x|) with the sign of x, erfc by the Chebyshev fit
 * t·exp(-z² + P(t)), t = 1/(1 + z/2), of Numerical Recipes (erfcc, fractional
 * error below 1.2e-7 everywhere): a GELU within about one float ulp of
 * libm's, checked against erf() in double by tests/unit/test_bert.c.
 */
static inline float verf(float x)
{
    float z = fabsf(x);
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float erfc = t * vexp(-z * z + p);
    float r = 1.0f - erfc;
    return x < 0 ? -r : r;
}
#endif

/* ------------------------------------------------------------------------ */
/* Linear                                                                    */

void linear_forward_cols(float *out, const float *inp, const float *w, const float *b, int64_t N,
                         int64_t C, int64_t OC, int64_t o0, int64_t o1)
{
    if (N == 0 || o1 <= o0) return;
    if (b)
        for (int64_t n = 0; n < N; n++)
            memcpy(out + n * OC + o0, b + o0, (size_t)(o1 - o0) * sizeof *out);
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, N, o1 - o0, C, 1, inp, C, w + o0 * C, C,
         b ? 1 : 0, out + o0, OC);
}

void linear_forward(float *out, const float *inp, const float *w, const float *b,
                    int64_t N, int64_t C, int64_t OC)
{
    linear_forward_cols(out, inp, w, b, N, C, OC, 0, OC);
}

/* db[o] += Σ_n dout[n, o], o in [o0, o1), n in order (rows of stride OC). */
HOT static void bias_grad(float *db, const float *dout, int64_t N, int64_t OC, int64_t o0,
                          int64_t o1)
{
    for (int64_t n = 0; n < N; n++) {
        const float *d = dout + n * OC;
        for (int64_t o = o0; o < o1; o++) db[o] += d[o];
    }
}

void linear_backward_part(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int64_t N, int64_t C, int64_t OC, int64_t c0,
                          int64_t c1, int64_t o0, int64_t o1)
{
    /* forward: out = inp·wᵀ + b */
    if (N == 0) return;
    if (dinp && c1 > c0)
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, c1 - c0, OC, 1, dout, OC, w + c0, C, 1,
             dinp + c0, C);
    if (dw && o1 > o0)
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, C, N, 1, dout + o0, OC, inp, C, 1,
             dw + o0 * C, C);
    if (db) bias_grad(db, dout, N, OC, o0, o1);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int64_t N, int64_t C, int64_t OC)
{
    linear_backward_part(dinp, dw, db, dout, inp, w, N, C, OC, 0, C, 0, OC);
}

/* ------------------------------------------------------------------------ */
/* LayerNorm                                                                 */

/*
 * Reductions in lanes: lane l adds elements l, l + NLANES, ... (GCC's vector
 * extensions, as wide as the processor's registers allow), the lanes then
 * added in a fixed order. GCC vectorises no float reduction without leave
 * to reassociate; this one is reassociated by us, the same way every time,
 * so a row gives the same bits on every call.
 */
typedef float lane_vec __attribute__((vector_size(64)));
#define NLANES ((int64_t)(sizeof(lane_vec) / sizeof(float)))

/* Σ x[i] */
static inline float lane_sum(const float *x, int64_t n)
{
    lane_vec sv = {0}, v;
    int64_t j = 0;
    for (; j + NLANES <= n; j += NLANES) {
        memcpy(&v, x + j, sizeof v);
        sv += v;
    }
    float s = 0;
    for (int64_t l = 0; l < NLANES; l++) s += sv[l];
    for (; j < n; j++) s += x[j];
    return s;
}

/* Σ (x[i] - m)² */
static inline float lane_sum_sqdev(const float *x, float m, int64_t n)
{
    lane_vec sv = {0}, v;
    int64_t j = 0;
    for (; j + NLANES <= n; j += NLANES) {
        memcpy(&v, x + j, sizeof v);
        v -= m;
        sv += v * v;
    }
    float s = 0;
    for (int64_t l = 0; l < NLANES; l++) s += sv[l];
    for (; j < n; j++) s += (x[j] - m) * (x[j] - m);
    return s;
}

HOT static void layernorm_row(float *out, float *mean, float *rstd, const float *x,
                              const float *w, const float *b, float eps, int64_t C)
{
    float m = lane_sum(x, C) / C;
    float r = 1 / sqrtf(lane_sum_sqdev(x, m, C) / C + eps);
    for (int64_t i = 0; i < C; i++) out[i] = (x[i] - m) * r * w[i] + b[i];
    if (mean) *mean = m;
    if (rstd) *rstd = r;
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, float eps, int64_t N, int64_t C)
{
    for (int64_t n = 0; n < N; n++)
        layernorm_row(out + n * C, mean ? mean + n : NULL, rstd ? rstd + n : NULL, inp + n * C,
                      w, b, eps, C);
}

HOT static void add_rows(float *res, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) res[i] = a[i] + b[i];
}

HOT static void add3_rows(float *res, const float *a, const float *ab, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) res[i] = (a[i] + ab[i]) + b[i];
}

void bias_residual_layernorm_forward(float *out, float *res, float *mean, float *rstd,
                                     const float *a, const float *abias, const float *b,
                                     const float *w, const float *bias, float eps, int64_t N,
                                     int64_t C)
{
    for (int64_t n = 0; n < N; n++) {
        if (abias) add3_rows(res + n * C, a + n * C, abias, b + n * C, C);
        else add_rows(res + n * C, a + n * C, b + n * C, C);
        layernorm_row(out + n * C, mean ? mean + n : NULL, rstd ? rstd + n : NULL, res + n * C,
                      w, bias, eps, C);
    }
}

void residual_layernorm_forward(float *out, float *res, float *mean, float *rstd,
                                const float *a, const float *b, const float *w,
                                const float *bias, float eps, int64_t N, int64_t C)
{
    bias_residual_layernorm_forward(out, res, mean, rstd, a, NULL, b, w, bias, eps, N, C);
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *mean, const float *rstd, const float *w, int64_t N, int64_t C)
{
    /*
     * forward: xhat = (x - mean)·rstd, out = xhat·w + b. With g = dout·w:
     * dx = rstd·(g - mean(g) - xhat·mean(g·xhat)) (llm.c layernorm_backward).
     */
    for (int64_t n = 0; n < N; n++) {
        const float *d = dout + n * C, *x = inp + n * C;
        float m = mean[n], r = rstd[n];
        float gmean = 0, gxmean = 0;
        for (int64_t i = 0; i < C; i++) {
            float xh = (x[i] - m) * r, g = d[i] * w[i];
            gmean += g;
            gxmean += g * xh;
        }
        gmean /= C;
        gxmean /= C;
        for (int64_t i = 0; i < C; i++) {
            float xh = (x[i] - m) * r;
            if (db) db[i] += d[i];
            if (dw) dw[i] += xh * d[i];
            if (dinp) dinp[n * C + i] += r * (d[i] * w[i] - gmean - xh * gxmean);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Residual                                                                  */

void residual_forward(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void residual_backward(float *da, float *db, const float *dout, int64_t n)
{
    /* forward: out = a + b */
    for (int64_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

/* ------------------------------------------------------------------------ */
/* GELU                                                                      */

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

HOT void gelu_forward(float *out, const float *inp, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + verf(x * (float)SQRT1_2));
    }
}

HOT static void bias_gelu_row(float *out, float *pre, const float *inp, const float *b, int64_t C)
{
    for (int64_t i = 0; i < C; i++) {
        float x = inp[i] + b[i];
        pre[i] = x;
        out[i] = 0.5f * x * (1.0f + verf(x * (float)SQRT1_2));
    }
}

void bias_gelu_forward(float *out, float *pre, const float *inp, const float *b, int64_t N,
                       int64_t C)
{
    for (int64_t n = 0; n < N; n++) bias_gelu_row(out + n * C, pre + n * C, inp + n * C, b, C);
}

HOT void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n)
{
    /* forward: y = x·Φ(x); dy/dx = Φ(x) + x·φ(x), φ(x) = e^(-x²/2)/√(2π) */
    for (int64_t i = 0; i < n; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + verf(x * (float)SQRT1_2));
        float pdf = (float)INV_SQRT_2PI * vexp(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

/* ------------------------------------------------------------------------ */
/* Dropout                                                                   */

/*
 * The dropout draw of element i for seed: output i of the project's
 * splitmix64 stream started at seed (lib/rng.h's ctk_splitmix64, inlined
 * here so that the loops vectorise), as a uniform float in [0, 1) from its
 * top 24 bits, the way lib/rng.h derives floats. A function of (seed, i)
 * alone, so that backward redraws forward's mask, in any thread.
 */
static inline float drop_u(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

HOT64 void dropout_forward_part(float *out, const float *inp, float p, uint64_t seed, int64_t i0,
                                int64_t i1)
{
    if (p <= 0) {
        if (out != inp && i1 > i0) memmove(out + i0, inp + i0, (size_t)(i1 - i0) * sizeof *out);
        return;
    }
    float scale = 1 / (1 - p);
    for (int64_t i = i0; i < i1; i++)
        out[i] = drop_u(seed, (uint64_t)i) < p ? 0 : inp[i] * scale;
}

void dropout_forward(float *out, const float *inp, float p, uint64_t seed, int64_t n)
{
    dropout_forward_part(out, inp, p, seed, 0, n);
}

HOT64 void dropout_backward_part(float *dinp, const float *dout, float p, uint64_t seed,
                                 int64_t i0, int64_t i1)
{
    /* forward: out = inp·mask/(1-p) */
    if (p <= 0) {
        for (int64_t i = i0; i < i1; i++) dinp[i] += dout[i];
        return;
    }
    float scale = 1 / (1 - p);
    for (int64_t i = i0; i < i1; i++)
        if (!(drop_u(seed, (uint64_t)i) < p)) dinp[i] += dout[i] * scale;
}

void dropout_backward(float *dinp, const float *dout, float p, uint64_t seed, int64_t n)
{
    dropout_backward_part(dinp, dout, p, seed, 0, n);
}

/* ------------------------------------------------------------------------ */
/* Attention                                                                 */

/* The maximum and the sum in lanes (see lane_sum); exp by vexp. */
HOT void softmax_rows(float *a, int64_t T)
{
    for (int64_t i = 0; i < T; i++) {
        float *r = a + i * T;
        lane_vec mv, x;
        for (int64_t l = 0; l < NLANES; l++) mv[l] = r[0];
        int64_t j = 0;
        for (; j + NLANES <= T; j += NLANES) {
            memcpy(&x, r + j, sizeof x);
            __typeof__(x > mv) gt = x > mv; /* lanes of all ones where x is larger */
            mv = (lane_vec)(((__typeof__(gt))x & gt) | ((__typeof__(gt))mv & ~gt));
        }
        float mx = r[0];
        for (int64_t l = 0; l < NLANES; l++) mx = mv[l] > mx ? mv[l] : mx;
        for (; j < T; j++) mx = r[j] > mx ? r[j] : mx;
        for (j = 0; j + NLANES <= T; j += NLANES)
            for (int64_t l = 0; l < NLANES; l++) r[j + l] = vexp(r[j + l] - mx);
        if (j < T) { /* the tail in a whole vector, padded with what exp takes to 0 */
            float tail[NLANES] = {0};
            int64_t n = T - j;
            memcpy(tail, r + j, (size_t)n * sizeof *r);
            for (int64_t l = 0; l < NLANES; l++) tail[l] = vexp(l < n ? tail[l] - mx : -100.0f);
            memcpy(r + j, tail, (size_t)n * sizeof *r);
        }
        float inv = 1 / lane_sum(r, T);
        for (j = 0; j < T; j++) r[j] *= inv;
    }
}

void attention_forward(float *out, float *att, const float *qkv, float *scratch, float p,
                       uint64_t seed, int64_t T, int64_t C, int64_t H, int64_t h0, int64_t h1,
                       const float *bias)
{
    int64_t hs = C / H, C3 = 3 * C;
    float scale = 1 / sqrtf((float)hs);
    for (int64_t h = h0; h < h1; h++) {
        const float *q = qkv + h * hs, *k = qkv + C + h * hs, *v = qkv + 2 * C + h * hs;
        float *a = att ? att + h * T * T : scratch;
        /* a = q·kᵀ/√hs (+ the bias of offset j - i), then softmax over keys */
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, C3, k, C3, 0, a, T);
        if (bias)
            for (int64_t i = 0; i < T; i++) {
                const float *bi = bias + (h - h0) * (2 * T - 1) + T - 1 - i;
                for (int64_t j = 0; j < T; j++) a[i * T + j] += bi[j];
            }
        softmax_rows(a, T);
        const float *ad = a;
        if (p > 0) {
            float ps = 1 / (1 - p);
            for (int64_t i = 0; i < T * T; i++)
                scratch[i] = drop_u(seed, (uint64_t)(h * T * T + i)) < p ? 0 : a[i] * ps;
            ad = scratch;
        }
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1, ad, T, v, C3, 0,
             out + h * hs, C);
    }
}

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *att,
                        const float *qkv, float p, uint64_t seed, int64_t T, int64_t C,
                        int64_t H, int64_t h0, int64_t h1, float *dbias)
{
    /*
     * forward, per head: A = softmax(Z = Q·Kᵀ·scale + B), A' = dropout(A), O = A'·V.
     * dA' = dO·Vᵀ, dV = A'ᵀ·dO; dA = dA'·mask/(1-p);
     * dZ = A ⊙ (dA - rowsum(dA ⊙ A)) (softmax); dQ = scale·dZ·K, dK = scale·dZᵀ·Q;
     * dB of offset r = Σ dZ[i, j] over j - i = r.
     */
    int64_t hs = C / H, C3 = 3 * C;
    float scale = 1 / sqrtf((float)hs);
    float *da = scratch, *ad = scratch + T * T;
    float ps = p > 0 ? 1 / (1 - p) : 1;
    for (int64_t h = h0; h < h1; h++) {
        const float *q = qkv + h * hs, *k = qkv + C + h * hs, *v = qkv + 2 * C + h * hs;
        float *dq = dqkv + h * hs, *dk = dqkv + C + h * hs, *dv = dqkv + 2 * C + h * hs;
        const float *a = att + h * T * T, *do_ = dout + h * hs;
        const float *a_used = a;
        if (p > 0) {
            for (int64_t i = 0; i < T * T; i++)
                ad[i] = drop_u(seed, (uint64_t)(h * T * T + i)) < p ? 0 : a[i] * ps;
            a_used = ad;
        }
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1, do_, C, v, C3, 0, da, T);
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1, a_used, T, do_, C, 1, dv, C3);
        if (p > 0) {
            for (int64_t i = 0; i < T * T; i++) {
                if (drop_u(seed, (uint64_t)(h * T * T + i)) < p) da[i] = 0;
                else da[i] *= ps;
            }
        }
        for (int64_t i = 0; i < T; i++) {
            float *d = da + i * T;
            const float *ar = a + i * T;
            float dot = 0;
            for (int64_t j = 0; j < T; j++) dot += d[j] * ar[j];
            for (int64_t j = 0; j < T; j++) d[j] = ar[j] * (d[j] - dot);
            if (dbias) {
                float *bi = dbias + (h - h0) * (2 * T - 1) + T - 1 - i;
                for (int64_t j = 0; j < T; j++) bi[j] += d[j];
            }
        }
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, scale, da, T, k, C3, 1, dq, C3);
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, scale, da, T, q, C3, 1, dk, C3);
    }
}

/* ------------------------------------------------------------------------ */
/* Embeddings                                                                */

void embeddings_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                        const int32_t *pos, const int64_t *offsets, const float *wte,
                        const float *wpe, const float *wtt, int64_t S, int64_t C)
{
    for (int64_t s = 0; s < S; s++)
        for (int64_t n = offsets[s]; n < offsets[s + 1]; n++) {
            const float *we = wte + (int64_t)ids[n] * C;
            const float *pe = wpe + (pos ? (int64_t)pos[n] : n - offsets[s]) * C;
            float *o = out + n * C;
            if (wtt) {
                const float *te = wtt + (type_ids ? (int64_t)type_ids[n] : 0) * C;
                for (int64_t i = 0; i < C; i++) o[i] = we[i] + pe[i] + te[i];
            } else {
                for (int64_t i = 0; i < C; i++) o[i] = we[i] + pe[i];
            }
        }
}

void embeddings_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                         const int32_t *ids, const int32_t *type_ids, const int32_t *pos,
                         const int64_t *offsets, int64_t S, int64_t C)
{
    /* forward: out[n] = wte[ids[n]] + wpe[position] + wtt[type]: scatter-add dout */
    for (int64_t s = 0; s < S; s++)
        for (int64_t n = offsets[s]; n < offsets[s + 1]; n++) {
            const float *d = dout + n * C;
            float *we = dwte ? dwte + (int64_t)ids[n] * C : NULL;
            float *pe = dwpe ? dwpe + (pos ? (int64_t)pos[n] : n - offsets[s]) * C : NULL;
            float *te = dwtt ? dwtt + (type_ids ? (int64_t)type_ids[n] : 0) * C : NULL;
            for (int64_t i = 0; i < C; i++) {
                if (we) we[i] += d[i];
                if (pe) pe[i] += d[i];
                if (te) te[i] += d[i];
            }
        }
}

/* ------------------------------------------------------------------------ */
/* Pooling and normalisation                                                 */

void pool_forward(float *out, int64_t *argmax, const float *inp, const int64_t *offsets,
                  enum ctk_pool_mode mode, int64_t S, int64_t C)
{
    for (int64_t s = 0; s < S; s++) {
        int64_t b = offsets[s], T = offsets[s + 1] - b;
        float *o = out + s * C;
        if (T == 0) {
            memset(o, 0, (size_t)C * sizeof *o);
            if (argmax)
                for (int64_t i = 0; i < C; i++) argmax[s * C + i] = -1;
            continue;
        }
        switch (mode) {
        case CTK_POOL_CLS:
            memcpy(o, inp + b * C, (size_t)C * sizeof *o);
            break;
        case CTK_POOL_MAX:
            for (int64_t i = 0; i < C; i++) {
                float m = inp[b * C + i];
                int64_t am = b;
                for (int64_t n = b + 1; n < b + T; n++)
                    if (inp[n * C + i] > m) m = inp[n * C + i], am = n;
                o[i] = m;
                if (argmax) argmax[s * C + i] = am;
            }
            break;
        default: /* CTK_POOL_MEAN, CTK_POOL_MEAN_SQRT_LEN */ {
            /* sum in token order, as torch.sum over the sequence dimension */
            memcpy(o, inp + b * C, (size_t)C * sizeof *o);
            for (int64_t n = b + 1; n < b + T; n++)
                for (int64_t i = 0; i < C; i++) o[i] += inp[n * C + i];
            float div = mode == CTK_POOL_MEAN ? (float)T : sqrtf((float)T);
            for (int64_t i = 0; i < C; i++) o[i] /= div;
            break;
        }
        }
    }
}

void pool_backward(float *dinp, const float *dout, const int64_t *argmax, const int64_t *offsets,
                   enum ctk_pool_mode mode, int64_t S, int64_t C)
{
    /* forward: cls copies token 0, max picks argmax, mean/mean_sqrt_len sum and divide */
    for (int64_t s = 0; s < S; s++) {
        int64_t b = offsets[s], T = offsets[s + 1] - b;
        const float *d = dout + s * C;
        if (T == 0) continue;
        switch (mode) {
        case CTK_POOL_CLS:
            for (int64_t i = 0; i < C; i++) dinp[b * C + i] += d[i];
            break;
        case CTK_POOL_MAX:
            for (int64_t i = 0; i < C; i++) dinp[argmax[s * C + i] * C + i] += d[i];
            break;
        default: /* CTK_POOL_MEAN, CTK_POOL_MEAN_SQRT_LEN */ {
            float div = mode == CTK_POOL_MEAN ? (float)T : sqrtf((float)T);
            for (int64_t n = b; n < b + T; n++)
                for (int64_t i = 0; i < C; i++) dinp[n * C + i] += d[i] / div;
            break;
        }
        }
    }
}

void normalize_forward(float *out, float *norm, const float *inp, int64_t S, int64_t D)
{
    for (int64_t s = 0; s < S; s++) {
        const float *x = inp + s * D;
        double ss = 0;
        for (int64_t i = 0; i < D; i++) ss += (double)x[i] * x[i];
        float nr = (float)sqrt(ss);
        if (norm) norm[s] = nr;
        float div = nr > 1e-12f ? nr : 1e-12f;
        for (int64_t i = 0; i < D; i++) out[s * D + i] = x[i] / div;
    }
}

void normalize_backward(float *dinp, const float *dout, const float *inp, const float *norm,
                        int64_t S, int64_t D)
{
    /*
     * forward: y = x/‖x‖ (x/1e-12 when ‖x‖ <= 1e-12).
     * dx = (dy - y·(y·dy))/‖x‖; below the clamp, dx = dy/1e-12.
     */
    for (int64_t s = 0; s < S; s++) {
        const float *x = inp + s * D, *d = dout + s * D;
        float nr = norm[s];
        if (!(nr > 1e-12f)) {
            for (int64_t i = 0; i < D; i++) dinp[s * D + i] += d[i] / 1e-12f;
            continue;
        }
        double dot = 0;
        for (int64_t i = 0; i < D; i++) dot += (double)x[i] * d[i];
        float yd = (float)(dot / nr);
        for (int64_t i = 0; i < D; i++) dinp[s * D + i] += (d[i] - x[i] / nr * yd) / nr;
    }
}
