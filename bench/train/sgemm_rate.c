/*
 * sgemm_rate.c -- GFLOP/s of OpenBLAS's cblas_sgemm on the largest linear
 * layer shape of a minilm-l6 training step (2 x 64 x 32 tokens, 384 -> 1536),
 * best of 10: the ceiling bench/train/run.sh divides by.
 * Usage: sgemm_rate THREADS
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1, M = 4096, K = 384, N = 1536;
    openblas_set_num_threads(threads);
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K),
          *c = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (int i = 0; i < N * K; i++)
        b[i] = (float)(i % 5) * 0.1f;
    double best = 0;
    for (int rep = 0; rep < 10; rep++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        double gf = 2.0 * M * N * K / s / 1e9;
        if (gf > best)
            best = gf;
    }
    printf("%.1f\n", best);
    free(a);
    free(b);
    free(c);
    return 0;
}
