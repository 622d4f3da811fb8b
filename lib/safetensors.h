/*
 * safetensors.h -- reading and writing safetensors files
 * (https://github.com/huggingface/safetensors, "Format").
 *
 * The format: an 8-byte little-endian unsigned header length N, N bytes of
 * UTF-8 JSON, then the data area. The JSON object maps each tensor name to
 * {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * (offsets relative to the data area, end exclusive, row-major data,
 * little-endian), plus an optional "__metadata__" object of string values.
 *
 * Reading validates everything before anything is used, so that a file
 * whose header lies is an error, never an out-of-bounds read: N against the
 * file size and a 100 MB cap (the Rust crate's), well-formed JSON (jansson,
 * duplicate keys refused), a known dtype, a shape of non-negative integers
 * whose element and byte counts do not overflow, data_offsets inside the
 * data area and equal in length to the shape's bytes, and, as the reference
 * implementation requires, tensors that tile the data area exactly: sorted
 * by offset, no overlap, no gap, no trailing bytes.
 *
 * Writing lays tensors out in the order given, pads the header with spaces
 * to a multiple of 8 bytes (as the Rust crate does, so that every tensor
 * starts 8-aligned in the file), and writes atomically (fsutil.h).
 *
 * Ownership: ctk_st_open() maps the file; tensor data pointers, names and
 * metadata strings live until ctk_st_close(). ctk_st_open_mem() borrows the
 * caller's buffer, which must outlive the struct.
 */
#ifndef CTK_SAFETENSORS_H
#define CTK_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dtype.h"
#include "err.h"

#define CTK_ST_MAXDIM 8
#define CTK_ST_MAX_HEADER 100000000u


struct ctk_st_tensor {
    char *name;
    enum ctk_dtype dtype;
    int ndim;
    int64_t shape[CTK_ST_MAXDIM];
    size_t nelem;               /* product of shape (1 for a scalar) */
    size_t begin, end;          /* byte offsets in the data area */
    const void *data;           /* begin of the tensor's bytes; any alignment */
};

struct ctk_st {
    char *what;                 /* path or name, for messages */
    void *map;                  /* mmap'd file, or NULL for open_mem */
    size_t map_len;
    const unsigned char *data;  /* data area */
    size_t data_len;
    size_t header_len;
    size_t ntensors;
    struct ctk_st_tensor *tensors;  /* in header order */
    size_t nmeta;
    char **meta_keys, **meta_vals;  /* __metadata__, in header order */
};

/* Map and validate the file at path. -1 with e set (naming the file and field) on any problem. */
int ctk_st_open(struct ctk_st *st, const char *path, struct ctk_err *e);
/* Validate a safetensors record held in memory (len bytes); what names it in messages. */
int ctk_st_open_mem(struct ctk_st *st, const void *buf, size_t len, const char *what,
                    struct ctk_err *e);
void ctk_st_close(struct ctk_st *st);

/* The tensor called name, or NULL. */
const struct ctk_st_tensor *ctk_st_find(const struct ctk_st *st, const char *name);
/* The __metadata__ value of key, or NULL. */
const char *ctk_st_meta(const struct ctk_st *st, const char *key);

/*
 * The tensor's values as float into out (n floats, n == t->nelem): F32
 * copied, F16/BF16 widened exactly, F64 rounded. Other dtypes are an error
 * naming the tensor and its dtype.
 */
int ctk_st_read_f32(const struct ctk_st *st, const struct ctk_st_tensor *t, float *out,
                    size_t n, struct ctk_err *e);
/* The same into a new buffer the caller frees; NULL with e set on error. */
float *ctk_st_get_f32(const struct ctk_st *st, const struct ctk_st_tensor *t, struct ctk_err *e);
/* Shape as "[a, b]" into buf (for messages); returns buf. */
char *ctk_st_shape_str(char *buf, size_t size, int ndim, const int64_t *shape);

/* One tensor to write. */
struct ctk_st_wtensor {
    const char *name;
    enum ctk_dtype dtype;       /* dtype in the file */
    int ndim;
    int64_t shape[CTK_ST_MAXDIM];
    const void *data;           /* nelem values: float when from_f32, else dtype's bytes (little-endian) */
    int from_f32;               /* data is float, converted to dtype (F32, F16 or BF16) */
};

/*
 * Write n tensors and the metadata meta (key, value, key, value, ..., NULL;
 * or NULL for none) to path atomically. Names must be unique and must not
 * be "__metadata__".
 */
int ctk_st_write(const char *path, const struct ctk_st_wtensor *t, size_t n,
                 const char *const *meta, struct ctk_err *e);
/* The same to an open FILE (what names it in messages); not atomic. */
int ctk_st_write_file(FILE *f, const char *what, const struct ctk_st_wtensor *t, size_t n,
                      const char *const *meta, struct ctk_err *e);

#endif
