/*
 * f16.h -- IEEE 754 half precision (F16) and bfloat16 (BF16) to and from
 * float, as safetensors files store them.
 *
 * float -> F16/BF16 rounds to nearest, ties to even; values too large for
 * the format become infinity, values too small become (signed) zero or a
 * subnormal; NaN stays a quiet NaN with its sign. F16/BF16 -> float is exact.
 * The n-element forms read and write little-endian 16-bit words at any
 * alignment (mmap'd tensors need not be aligned).
 */
#ifndef CTK_F16_H
#define CTK_F16_H

#include <stddef.h>
#include <stdint.h>

float ctk_f16_to_f32(uint16_t h);
uint16_t ctk_f32_to_f16(float f);
float ctk_bf16_to_f32(uint16_t h);
uint16_t ctk_f32_to_bf16(float f);

/* dst[i] = value of the i-th little-endian half in src, i < n. */
void ctk_f16_to_f32_n(float *dst, const void *src, size_t n);
void ctk_bf16_to_f32_n(float *dst, const void *src, size_t n);
/* The i-th little-endian half of dst = rounded src[i], i < n. */
void ctk_f32_to_f16_n(void *dst, const float *src, size_t n);
void ctk_f32_to_bf16_n(void *dst, const float *src, size_t n);

#endif
