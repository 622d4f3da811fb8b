/*
 * sgemm_peak.c -- the machine's sgemm ceiling for bench/encode: GFLOP/s of
 * OpenBLAS's cblas_sgemm on the shapes of a MiniLM/BERT linear layer
 * (M tokens x K in -> N out), best of several runs.
 * Build: cc -O2 sgemm_peak.c $(pkg-config --cflags --libs openblas) -o sgemm_peak
 * Usage: sgemm_peak THREADS
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    openblas_set_num_threads(threads);
    static const int shapes[][3] = {{2048, 384, 384}, {2048, 1536, 384}, {2048, 384, 1536},
                                    {2048, 768, 768}, {2048, 3072, 768}};
    printf("core %s, %d thread(s)\n", openblas_get_corename(), threads);
    double best_all = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K),
              *c = malloc(sizeof(float) * M * N);
        for (long i = 0; i < (long)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
        for (long i = 0; i < (long)N * K; i++) b[i] = (float)(i % 5) * 0.1f;
        double best = 1e30;
        for (int r = 0; r < 7; r++) {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
            double t = now() - t0;
            if (r && t < best) best = t;
        }
        double gf = 2.0 * M * N * K / best / 1e9;
        if (gf > best_all) best_all = gf;
        printf("M=%d N=%d K=%d: %.1f GFLOP/s\n", M, N, K, gf);
        free(a);
        free(b);
        free(c);
    }
    printf("peak %.1f GFLOP/s\n", best_all);
    return 0;
}
