/*
 * att_bench.c -- attention of one sequence in inference: lib/gemm.c's one
 * pass (ctk_gemm_attention) against the path it replaced, lib/layers.c's
 * attention_forward (OpenBLAS's sgemm for q·kᵀ and for the weighted sum,
 * softmax_rows between), one thread, all H heads of a T-token sequence.
 *
 * Each engine's best of 5 rounds of REPS sequences is kept, the rounds
 * alternating between the two; GFLOP/s count the two products (4·T²·hs per
 * head).
 *
 * Usage: att_bench T HS H [REPS]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gemm.h"
#include "layers.h"

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
        fprintf(stderr, "att_bench: out of memory\n");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: att_bench T HS H [REPS]\n");
        return 2;
    }
    int64_t T = atoll(argv[1]), hs = atoll(argv[2]), H = atoll(argv[3]), C = H * hs;
    double flop = 4.0 * (double)(T * T * hs * H);
    int reps = argc > 4 ? atoi(argv[4]) : (int)(2e8 / flop + 3);
    if (T <= 0 || hs <= 0 || H <= 0 || reps <= 0) {
        fprintf(stderr, "att_bench: T, HS, H and REPS must be positive\n");
        return 2;
    }
    if (!ctk_gemm_attention_fits(hs)) {
        fprintf(stderr, "att_bench: no AVX-512F, or HS not a multiple of 32\n");
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
        for (int r = 0; r < reps; r++) attention_forward(o1, NULL, qkv, work, 0, 0, T, C, H, 0, H);
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
