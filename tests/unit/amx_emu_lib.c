/*
 * amx_emu_lib.c -- lib/gemm_amx.c under its own names, its tile
 * instructions carried out by amx_emu.h, for test_bert_amx and
 * test_mpnet_amx: linked before libctk.a, it stands in for the library's
 * gemm_amx.o, so that CTK_GEMM_KERNEL=amx runs whole encoders on the AMX
 * kernel's code on any CPU with AVX-512F and AVX-512BW; amx_emu_begin
 * asks for it.
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>

#include "amx_emu.h"

#define ctk_gemm_amx_available hardware_amx_available
#include "gemm_amx.c"
#undef ctk_gemm_amx_available

int ctk_gemm_amx_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

/* Ask for the AMX kernel (CTK_GEMM_KERNEL=amx) and say whether it runs; returns 1. */
int amx_emu_begin(void)
{
    setenv("CTK_GEMM_KERNEL", "amx", 1);
    printf("product kernel: %s\n", ctk_gemm_kind() == 2
                                        ? "AMX (emulated)"
                                        : "not AMX: this CPU lacks AVX-512F or AVX-512BW");
    return 1;
}
