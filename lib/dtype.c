/*
 * dtype.c -- element types (see dtype.h).
 */
#include "config.h"
#include "dtype.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[CTK_DTYPE_COUNT] = {
    [CTK_F32] = {"F32", 4},   [CTK_F16] = {"F16", 2}, [CTK_BF16] = {"BF16", 2}, [CTK_I32] = {"I32", 4},
    [CTK_I64] = {"I64", 8},   [CTK_U8] = {"U8", 1},   [CTK_BOOL] = {"BOOL", 1}, [CTK_I8] = {"I8", 1},
    [CTK_U16] = {"U16", 2},   [CTK_I16] = {"I16", 2}, [CTK_U32] = {"U32", 4},   [CTK_U64] = {"U64", 8},
    [CTK_F64] = {"F64", 8},
};

const char *ctk_dtype_name(enum ctk_dtype t)
{
    return (unsigned)t < CTK_DTYPE_COUNT ? dtypes[t].name : NULL;
}

size_t ctk_dtype_size(enum ctk_dtype t)
{
    return (unsigned)t < CTK_DTYPE_COUNT ? dtypes[t].size : 0;
}

int ctk_dtype_parse(const char *s, enum ctk_dtype *out)
{
    for (int i = 0; i < CTK_DTYPE_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (enum ctk_dtype)i;
            return 0;
        }
    return -1;
}
