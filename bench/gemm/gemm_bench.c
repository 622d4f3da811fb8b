/*
 * gemm_bench.c -- lib/gemm.c's product over packed weights against
 * OpenBLAS's sgemm on the same inputs, one thread, for a linear layer's
 * shape: out (M, OC) = a (M, K) · wᵀ + b.
 *
 * The weights rotate among 8 copies (as a model's layers do) so that they
 * come from beyond L2; each engine's best of 5 rounds of REPS calls is
 * kept, the rounds alternating between the two. sgemm's time includes
 * copying the bias into out, as lib/layers.c's linear_forward does.
 *
 * On a CPU with AMX (ctk_gemm_amx_available), the AMX kernel of
 * lib/gemm_amx.c is timed too, on the same weights split into its pieces.
 *
 * With "attention" first: attention of one sequence in inference,
 * ctk_gemm_attention's one pass against the path it replaced, lib/layers.c's
 * attention_forward (OpenBLAS's sgemm for q·kᵀ and for the weighted sum,
 * softmax_rows between), all H heads of a T-token sequence; GFLOP/s count
 * the two products (4·T²·hs per head), best of 5 alternating rounds.
 *
 * With -t N (N > 1): both on N threads, ctk's through ctk_gemm_packed_pool
 * (the split the encoders use), OpenBLAS's with openblas_set_num_threads.
 *
 * Usage: gemm_bench [-t N] M K OC [REPS]
 *        gemm_bench attention T HS H [REPS]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "gemm.h"
#include "layers.h"
#include "pool.h"

#define COPIES 8

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "gemm_bench: out of memory\n");
        exit(1);
    }
    return p;
}

/* gemm_bench attention T HS H [REPS] */
static int attention_main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: gemm_bench attention T HS H [REPS]\n");
        return 2;
    }
    int64_t T = atoll(argv[1]), hs = atoll(argv[2]), H = atoll(argv[3]), C = H * hs;
    double flop = 4.0 * (double)(T * T * hs * H);
    int reps = argc > 4 ? atoi(argv[4]) : (int)(2e8 / flop + 3);
    if (T <= 0 || hs <= 0 || H <= 0 || reps <= 0) {
        fprintf(stderr, "gemm_bench: T, HS, H and REPS must be positive\n");
        return 2;
    }
    if (!ctk_gemm_attention_fits(hs)) {
        fprintf(stderr, "gemm_bench: no AVX-512F, or HS not a multiple of 32\n");
        return 77;
    }
    size_t nwork = ctk_gemm_attention_work(T, hs);
    float *qkv = floats((size_t)(T * 3 * C)), *o1 = floats((size_t)(T * C));
    float *o2 = floats((size_t)(T * C));
    float *work = floats(nwork > (size_t)(2 * T * T) ? nwork : (size_t)(2 * T * T));
    srand(1);
    for (int64_t i = 0; i < T * 3 * C; i++) qkv[i] = 2 * ((float)rand() / (float)RAND_MAX - 0.5f);
    float scale = 1 / sqrtf((float)hs);
    double best_b = 1e30, best_f = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) attention_forward(o1, NULL, qkv, work, 0, 0, T, C, H, 0, H, NULL);
        double t1 = now();
        for (int r = 0; r < reps; r++)
            for (int64_t h = 0; h < H; h++)
                ctk_gemm_attention(o2, C, qkv, C, hs, T, h, scale, NULL, work);
        double t2 = now();
        best_b = t1 - t0 < best_b ? t1 - t0 : best_b;
        best_f = t2 - t1 < best_f ? t2 - t1 : best_f;
    }
    double worst = 0;
    for (int64_t i = 0; i < T * C; i++) {
        double d = fabs((double)o1[i] - o2[i]);
        worst = d > worst ? d : worst;
    }
    printf("T=%-4lld hs=%-3lld H=%-3lld sgemm+softmax %6.1f GFLOP/s  one pass %6.1f GFLOP/s  "
           "one pass/sgemm speed %.2fx  max |diff| %.1e\n", (long long)T, (long long)hs,
           (long long)H, flop * reps / best_b / 1e9, flop * reps / best_f / 1e9, best_b / best_f,
           worst);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "attention") == 0) return attention_main(argc - 1, argv + 1);
    int threads = 1;
    if (argc > 2 && strcmp(argv[1], "-t") == 0) {
        threads = atoi(argv[2]);
        argc -= 2;
        argv += 2;
    }
    if (argc < 4 || threads < 1) {
        fprintf(stderr, "usage: gemm_bench [-t N] M K OC [REPS]\n");
        return 2;
    }
    int64_t M = atoll(argv[1]), K = atoll(argv[2]), OC = atoll(argv[3]);
    int reps = argc > 4 ? atoi(argv[4]) : (int)(20000 / (M > 0 ? M : 1) + 3);
    if (M <= 0 || K <= 0 || OC <= 0 || reps <= 0) {
        fprintf(stderr, "gemm_bench: M, K, OC and REPS must be positive\n");
        return 2;
    }
    if (!ctk_gemm_available()) {
        fprintf(stderr, "gemm_bench: this CPU has no AVX-512F\n");
        return 77;
    }
    size_t nw = (size_t)(OC * K);
    float *a = floats((size_t)(M * K)), *b = floats((size_t)OC), *tmp = floats(nw);
    float *o1 = floats((size_t)(M * OC)), *o2 = floats((size_t)(M * OC));
    float *work = floats((size_t)threads * ctk_gemm_work(K)), *o3 = floats((size_t)(M * OC));
    struct ctk_pool pool;
    ctk_pool_init(&pool, threads);
    openblas_set_num_threads(threads);
    float *w[COPIES], *wp[COPIES];
    void *wx[COPIES] = {NULL};
    int amx = threads == 1 && ctk_gemm_amx_available();
    void *wxk = amx ? malloc(ctk_gemm_amx_work(K)) : NULL; /* the AMX kernel's working space */
    if (amx && !wxk) return fprintf(stderr, "gemm_bench: out of memory\n"), 1;
    srand(1);
    for (int64_t i = 0; i < M * K; i++) a[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int64_t i = 0; i < OC; i++) b[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int c = 0; c < COPIES; c++) {
        w[c] = floats(nw);
        wp[c] = floats(nw);
        for (size_t i = 0; i < nw; i++) w[c][i] = (float)rand() / (float)RAND_MAX - 0.5f;
        memcpy(wp[c], w[c], nw * sizeof *tmp);
        ctk_gemm_pack(wp[c], OC, K, tmp);
        if (amx) {
            wx[c] = malloc(ctk_gemm_amx_size(OC, K));
            if (!wx[c]) return fprintf(stderr, "gemm_bench: out of memory\n"), 1;
            ctk_gemm_amx_pack(wx[c], w[c], OC, K);
        }
    }
    double best_s = 1e30, best_p = 1e30, best_x = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            for (int64_t m = 0; m < M; m++) memcpy(o1 + m * OC, b, (size_t)OC * sizeof *b);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)OC, (int)K, 1, a,
                        (int)K, w[r % COPIES], (int)K, 1, o1, (int)OC);
        }
        double t1 = now();
        for (int r = 0; r < reps; r++)
            if (threads > 1)
                ctk_gemm_packed_pool(&pool, work, o2, a, wp[r % COPIES], b, CTK_GEMM_NONE, M, K,
                                     OC);
            else
                ctk_gemm_packed(o2, OC, a, K, wp[r % COPIES], b, CTK_GEMM_NONE, M, K, OC, 0, OC,
                                work);
        double t2 = now();
        for (int r = 0; amx && r < reps; r++)
            ctk_gemm_amx(o3, OC, a, K, wx[r % COPIES], b, CTK_GEMM_NONE, M, K, OC, 0, OC, wxk);
        double t3 = now();
        best_s = t1 - t0 < best_s ? t1 - t0 : best_s;
        best_p = t2 - t1 < best_p ? t2 - t1 : best_p;
        best_x = t3 - t2 < best_x ? t3 - t2 : best_x;
    }
    /* the last call of each used the same copy of the weights */
    double worst = 0, worst_x = 0;
    for (int64_t i = 0; i < M * OC; i++) {
        double d = fabs((double)o1[i] - o2[i]), dx = amx ? fabs((double)o1[i] - o3[i]) : 0;
        worst = d > worst ? d : worst;
        worst_x = dx > worst_x ? dx : worst_x;
    }
    double flop = 2.0 * (double)M * (double)K * (double)OC * reps;
    printf("M=%-5lld K=%-5lld OC=%-5lld j=%d sgemm %6.1f GFLOP/s  packed %6.1f GFLOP/s  "
           "packed/sgemm speed %.2fx  max |diff| %.1e\n", (long long)M, (long long)K, (long long)OC,
           threads, flop / best_s / 1e9, flop / best_p / 1e9, best_s / best_p, worst);
    if (amx)
        printf("%-25s amx   %6.1f GFLOP/s  amx/sgemm speed %.2fx  amx/packed speed %.2fx  max "
               "|diff| %.1e\n", "", flop / best_x / 1e9, best_s / best_x, best_p / best_x, worst_x);
    ctk_pool_free(&pool);
    return 0;
}
