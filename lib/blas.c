/*
 * blas.c -- OpenBLAS kernel selection and threads (see blas.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "err.h"

/* OpenBLAS's own entry points (cblas.h declares them too, not in every version). */
char *openblas_get_corename(void);
void openblas_set_num_threads(int num_threads);

const char *ctk_blas_corename(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

/*
 * Cores whose sgemm kernels use AVX2/FMA or AVX-512: leave them alone. Any
 * other name (Prescott, Core2, Nehalem, Sandybridge, Barcelona, ...) on a
 * CPU with those instructions is a fallback worth replacing.
 */
static const char *const modern[] = {"haswell", "skylakex", "cooperlake", "sapphirerapids",
                                     "zen", "excavator", "steamroller", NULL};

const char *ctk_blas_better_core(const char *corename, int avx512f, int avx2_fma)
{
    if (!avx512f && !avx2_fma) return NULL;
    for (int i = 0; modern[i]; i++)
        if (corename && strcasecmp(corename, modern[i]) == 0) {
            /* Haswell kernels on an AVX-512 CPU: the 512-bit ones are faster */
            if (avx512f && strcasecmp(corename, "haswell") == 0) return "SkylakeX";
            return NULL;
        }
    return avx512f ? "SkylakeX" : "Haswell";
}

void ctk_blas_init(int argc, char **argv)
{
    (void)argc;
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's choice */
    const char *want = getenv("CTK_BLAS_CORETYPE");
    if (want && strcasecmp(want, "none") == 0) return;
    if (!want || !*want || strcasecmp(want, "auto") == 0) {
#if defined(__x86_64__) && defined(__GNUC__)
        __builtin_cpu_init();
        want = ctk_blas_better_core(ctk_blas_corename(), __builtin_cpu_supports("avx512f"),
                                    __builtin_cpu_supports("avx2") &&
                                        __builtin_cpu_supports("fma"));
#else
        want = NULL;
#endif
        if (!want) return;
    } else if (strcasecmp(want, ctk_blas_corename()) == 0) {
        return;
    }
    /* OpenBLAS chose its kernels when it loaded: run again with the variable set */
    if (setenv("OPENBLAS_CORETYPE", want, 1) != 0) return;
    fflush(NULL);
    execv("/proc/self/exe", argv);
    ctk_warn("cannot re-execute with OPENBLAS_CORETYPE=%s (running on OpenBLAS's %s kernels, "
             "slower): set OPENBLAS_CORETYPE=%s yourself", want, ctk_blas_corename(), want);
}

void ctk_blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
