/*
 * amx_emu.h -- the AMX tile instructions and AVX512-BF16's conversion that
 * lib/gemm_amx.c uses, carried out in C as Intel's Software Developer's
 * Manual defines them, so that the kernel's layouts and loops can be
 * checked on a CPU without AMX (tests/unit/test_gemm_amx.c).
 *
 *   LDTILECFG / TILERELEASE   rows and bytes per row of each of 8 tiles
 *   TILELOADD / TILESTORED    rows × colsb bytes from / to memory, stride
 *   TILEZERO                  all zero
 *   TDPBF16PS c, a, b         c[m][n] += a[m][2k]·b[k][2n], then
 *                             += a[m][2k+1]·b[k][2n+1], k over a's pairs,
 *                             in float, round to nearest even, denormal
 *                             inputs and results flushed to zero
 *   VCVTNEPS2BF16             float to bfloat16, round to nearest even,
 *                             denormal inputs taken as zero
 *
 * Include after <immintrin.h>: the intrinsics' names are redefined here.
 */
#ifndef CTK_AMX_EMU_H
#define CTK_AMX_EMU_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static _Thread_local struct { /* per thread, as the tile registers are */
    uint8_t rows[8];
    uint16_t colsb[8];
    uint8_t data[8][16][64];
} emu_tiles;

static inline float emu_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static inline uint32_t emu_u32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float emu_ftz(float x)
{
    return (emu_u32(x) & 0x7f800000u) == 0 ? emu_f32(emu_u32(x) & 0x80000000u) : x;
}

static inline uint16_t emu_bf16(float x)
{
    uint32_t u = emu_u32(emu_ftz(x));
    if ((u & 0x7f800000u) == 0x7f800000u) return (uint16_t)((u >> 16) | ((u & 0xffffu) ? 0x40 : 0));
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline void emu_tile_loadconfig(const void *cfg)
{
    const uint8_t *c = cfg;
    for (int t = 0; t < 8; t++) {
        memcpy(&emu_tiles.colsb[t], c + 16 + 2 * t, 2);
        emu_tiles.rows[t] = c[48 + t];
    }
}

static inline void emu_tile_release(void) { memset(&emu_tiles, 0, sizeof emu_tiles); }

static inline void emu_tile_loadd(int t, const void *base, long stride)
{
    for (int r = 0; r < emu_tiles.rows[t]; r++)
        memcpy(emu_tiles.data[t][r], (const char *)base + r * stride, emu_tiles.colsb[t]);
}

static inline void emu_tile_stored(int t, void *base, long stride)
{
    for (int r = 0; r < emu_tiles.rows[t]; r++)
        memcpy((char *)base + r * stride, emu_tiles.data[t][r], emu_tiles.colsb[t]);
}

static inline void emu_tile_zero(int t) { memset(emu_tiles.data[t], 0, sizeof emu_tiles.data[t]); }

static inline float emu_bf(const uint8_t *row, int i)
{
    uint16_t h;
    memcpy(&h, row + 2 * i, 2);
    return emu_ftz(emu_f32((uint32_t)h << 16));
}

static inline void emu_tile_dpbf16ps(int c, int a, int b)
{
    for (int m = 0; m < emu_tiles.rows[c]; m++)
        for (int n = 0; n < emu_tiles.colsb[c] / 4; n++) {
            float acc;
            memcpy(&acc, emu_tiles.data[c][m] + 4 * n, 4);
            for (int k = 0; k < emu_tiles.colsb[a] / 4; k++) {
                acc = emu_ftz(acc + emu_bf(emu_tiles.data[a][m], 2 * k) *
                                        emu_bf(emu_tiles.data[b][k], 2 * n));
                acc = emu_ftz(acc + emu_bf(emu_tiles.data[a][m], 2 * k + 1) *
                                        emu_bf(emu_tiles.data[b][k], 2 * n + 1));
            }
            memcpy(emu_tiles.data[c][m] + 4 * n, &acc, 4);
        }
}

__attribute__((target("avx512f"))) static inline __m256bh emu_cvtneps_pbh(__m512 x)
{
    float f[16];
    uint16_t h[16];
    __m256bh r;
    _mm512_storeu_ps(f, x);
    for (int i = 0; i < 16; i++) h[i] = emu_bf16(f[i]);
    memcpy(&r, h, sizeof r);
    return r;
}

#undef _tile_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbf16ps
#define _tile_loadconfig emu_tile_loadconfig
#define _tile_release emu_tile_release
#define _tile_loadd(t, base, stride) emu_tile_loadd(t, base, stride)
#define _tile_stored(t, base, stride) emu_tile_stored(t, base, stride)
#define _tile_zero(t) emu_tile_zero(t)
#define _tile_dpbf16ps(c, a, b) emu_tile_dpbf16ps(c, a, b)
#define _mm512_cvtneps_pbh emu_cvtneps_pbh

#endif
