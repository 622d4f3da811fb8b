/*
 * knn_bench -- exact top-k cosine search of lib/knn.c on random unit
 * vectors: NQ queries against NX corpus rows of dimension D.
 *
 *   knn_bench [NQ NX D K]        (defaults 10000 100000 384 10)
 *
 * Prints the wall time of the search (data generation excluded), the
 * throughput and the peak resident memory; bench/knn/knn_numpy.py does the
 * same blocked search with numpy over OpenBLAS on the same data (both make
 * it with the same generator, see gen()). With CHECK=1 it prints a checksum
 * of the neighbour indices so both can be compared.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>


#include "blas.h"
#include "err.h"
#include "knn.h"

/* SplitMix64 uniform in [0, 1), two of them per Box-Muller normal: the same
 * numbers as knn_numpy.py's gen(). */
static uint64_t sm_state;
static double next_unit(void)
{
    uint64_t z = (sm_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static float *gen(int64_t n, int64_t d, uint64_t seed)
{
    float *a = xmallocarray((size_t)(n * d), sizeof *a);
    sm_state = seed;
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int64_t t = 0; t < d; t++) {
            double u1 = next_unit(), u2 = next_unit();
            double g = sqrt(-2.0 * log1p(-u1)) * cos(6.283185307179586 * u2);
            a[i * d + t] = (float)g;
            ss += g * g;
        }
        for (int64_t t = 0; t < d; t++)
            a[i * d + t] = (float)(a[i * d + t] / sqrt(ss));
    }
    return a;
}

int main(int argc, char **argv)
{
    ctk_init("knn_bench", argc, argv);
    ctk_blas_init(argc, argv);
    int64_t nq = argc > 1 ? atoll(argv[1]) : 10000;
    int64_t nx = argc > 2 ? atoll(argv[2]) : 100000;
    int64_t d = argc > 3 ? atoll(argv[3]) : 384;
    int k = argc > 4 ? atoi(argv[4]) : 10;
    int threads = ctk_threads(0);
    ctk_blas_set_threads(threads);
    float *X = gen(nx, d, 1), *Q = gen(nq, d, 2);
    int64_t *idx = xmallocarray((size_t)(nq * k), sizeof *idx);
    float *sc = xmallocarray((size_t)(nq * k), sizeof *sc);
    double t0 = ctk_now();
    ctk_knn_search(Q, nq, X, nx, d, k, CTK_METRIC_COSINE, 0, threads, idx, sc);
    double t = ctk_now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("ctk knn: %lld queries x %lld corpus, d=%lld, k=%d, %d threads: %.3f s "
           "(%.1f GFLOP/s in the products), peak RSS %.0f MB\n",
           (long long)nq, (long long)nx, (long long)d, k, threads, t,
           2.0 * nq * nx * d / t * 1e-9, ru.ru_maxrss / 1024.0);
    if (getenv("CHECK")) {
        uint64_t h = 0;
        for (int64_t i = 0; i < nq * k; i++)
            h = h * 1000003u + (uint64_t)idx[i];
        printf("index checksum %llu, first row:", (unsigned long long)h);
        for (int t2 = 0; t2 < k; t2++)
            printf(" %lld", (long long)idx[t2]);
        printf("\n");
    }
    free(X);
    free(Q);
    free(idx);
    free(sc);
    return 0;
}
