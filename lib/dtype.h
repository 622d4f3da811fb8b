/*
 * dtype.h -- element types of tensors, as safetensors names them. One list
 * for the weights files and the stream (which allows a subset: see
 * ctk-stream(5)).
 */
#ifndef CTK_DTYPE_H
#define CTK_DTYPE_H

#include <stddef.h>

enum ctk_dtype {
    CTK_F32, CTK_F16, CTK_BF16, CTK_I32, CTK_I64, CTK_U8,
    CTK_BOOL, CTK_I8, CTK_U16, CTK_I16, CTK_U32, CTK_U64, CTK_F64,
    CTK_DTYPE_COUNT
};

/* "F32" etc.; NULL for a value outside the enum. */
const char *ctk_dtype_name(enum ctk_dtype t);
/* Bytes per element; 0 for a value outside the enum. */
size_t ctk_dtype_size(enum ctk_dtype t);
/* 0 and *out set when s names a dtype, else -1. */
int ctk_dtype_parse(const char *s, enum ctk_dtype *out);

#endif
