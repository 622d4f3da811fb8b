/*
 * amx_emu_lib.c -- lib/gemm_amx.c under its own names, its tile
 * instructions carried out by amx_emu.h, for test_bert_amx and
 * test_mpnet_amx: linked before libctk.a, it stands in for the library's
 * gemm_amx.o, so that CTK_GEMM_KERNEL=amx runs whole encoders on the AMX
 * kernel's code on any CPU with AVX-512F and AVX-512BW.
 */
#include <immintrin.h>

#include "amx_emu.h"

#define ctk_gemm_amx_available hardware_amx_available
#include "gemm_amx.c"
#undef ctk_gemm_amx_available

int ctk_gemm_amx_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}
