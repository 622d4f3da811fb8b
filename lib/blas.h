/*
 * blas.h -- OpenBLAS set up for ctk: the right kernels and the thread count.
 *
 * Distribution builds of OpenBLAS pick their kernels from the CPU at load
 * time, and a release older than the CPU falls back to generic ones (Debian
 * 12's 0.3.21 runs its "Prescott" SSE3 kernels on recent Xeons, 5 to 7 times
 * slower at sgemm). OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so
 * ctk_blas_init() re-executes the program once with it set when the core
 * OpenBLAS chose is a generic one on a CPU with AVX-512F (SkylakeX kernels)
 * or AVX2 and FMA (Haswell kernels).
 *
 * Control: OPENBLAS_CORETYPE set by the user is obeyed as is (no check, no
 * re-exec). CTK_BLAS_CORETYPE=NAME selects the kernels NAME (any OpenBLAS
 * core name) whatever was detected; CTK_BLAS_CORETYPE=auto (or unset) is the
 * check above; CTK_BLAS_CORETYPE=none leaves OpenBLAS's choice alone.
 *
 * Ownership: nothing to free.
 */
#ifndef CTK_BLAS_H
#define CTK_BLAS_H

/*
 * Call first thing in main(), before reading any input: may re-execute the
 * program (same arguments) with OPENBLAS_CORETYPE set. Returns normally
 * otherwise; a failed re-exec is a warning, and the program runs on.
 */
void ctk_blas_init(int argc, char **argv);

/* The kernels in use ("SkylakeX", "Haswell", "Prescott", ...). */
const char *ctk_blas_corename(void);

/*
 * The kernels a CPU with these features should use when OpenBLAS reports
 * corename, or NULL to leave it (pure function: tests/unit/test_blas.c).
 */
const char *ctk_blas_better_core(const char *corename, int avx512f, int avx2_fma);

/* Threads OpenBLAS uses for each call (openblas_set_num_threads). */
void ctk_blas_set_threads(int n);

#endif
