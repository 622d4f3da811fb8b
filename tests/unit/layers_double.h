/*
 * layers_double.h -- lib/layers.c compiled in double precision, its
 * functions renamed d_NAME (tests/unit/layers_double.c), for the
 * finite-difference gradient checks of test_layers.c. Include after layers.h.
 */
#ifndef CTK_LAYERS_DOUBLE_H
#define CTK_LAYERS_DOUBLE_H

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
#undef CTK_LAYERS_H
#include "layers.h"
#undef float
#undef linear_forward
#undef linear_forward_cols
#undef linear_backward
#undef linear_backward_part
#undef layernorm_forward
#undef layernorm_backward
#undef residual_layernorm_forward
#undef residual_forward
#undef residual_backward
#undef gelu_forward
#undef bias_gelu_forward
#undef bias_residual_layernorm_forward
#undef gelu_backward
#undef dropout_forward
#undef dropout_forward_part
#undef dropout_backward_part
#undef dropout_backward
#undef softmax_rows
#undef attention_forward
#undef attention_backward
#undef embeddings_forward
#undef embeddings_backward
#undef pool_forward
#undef pool_backward
#undef normalize_forward
#undef normalize_backward

#endif
