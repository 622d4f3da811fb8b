/*
 * layers_double.c -- lib/layers.c in double precision (see layers_double.h):
 * the same source with float meaning double, dgemm for sgemm and libm's exp
 * and erf for the single-precision approximations.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cblas.h>

#include "model.h"
#include "rng.h"

#define CTK_LAYERS_DOUBLE 1
#define linear_forward d_linear_forward
#define linear_forward_cols d_linear_forward_cols
#define linear_backward d_linear_backward
#define linear_backward_part d_linear_backward_part
#define layernorm_forward d_layernorm_forward
#define layernorm_backward d_layernorm_backward
#define residual_layernorm_forward d_residual_layernorm_forward
#define residual_forward d_residual_forward
#define residual_backward d_residual_backward
#define gelu_forward d_gelu_forward
#define bias_gelu_forward d_bias_gelu_forward
#define bias_residual_layernorm_forward d_bias_residual_layernorm_forward
#define gelu_backward d_gelu_backward
#define dropout_forward d_dropout_forward
#define dropout_forward_part d_dropout_forward_part
#define dropout_backward_part d_dropout_backward_part
#define dropout_backward d_dropout_backward
#define softmax_rows d_softmax_rows
#define attention_forward d_attention_forward
#define attention_backward d_attention_backward
#define embeddings_forward d_embeddings_forward
#define embeddings_backward d_embeddings_backward
#define pool_forward d_pool_forward
#define pool_backward d_pool_backward
#define normalize_forward d_normalize_forward
#define normalize_backward d_normalize_backward
#define float double
#include "../../lib/layers.c"
