/*
 * tests/fuzz/safetensors.c -- libFuzzer target for the safetensors reader.
 *
 * Any input must be either refused with a message or accepted as a record
 * whose every tensor lies inside the input (AddressSanitizer checks each
 * byte read). An accepted record, written back by ctk's writer, must parse
 * again to the same tensors, dtypes, shapes, bytes and metadata.
 */
#include "config.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void same_or_abort(const struct ctk_st *a, const struct ctk_st *b)
{
    if (a->ntensors != b->ntensors || a->nmeta != b->nmeta) abort();
    for (size_t i = 0; i < a->ntensors; i++) {
        const struct ctk_st_tensor *x = &a->tensors[i], *y = ctk_st_find(b, x->name);
        if (!y || x->dtype != y->dtype || x->ndim != y->ndim || x->nelem != y->nelem) abort();
        for (int k = 0; k < x->ndim; k++)
            if (x->shape[k] != y->shape[k]) abort();
        if (x->end - x->begin != y->end - y->begin) abort();
        if (memcmp(x->data, y->data, x->end - x->begin) != 0) abort();
    }
    for (size_t i = 0; i < a->nmeta; i++) {
        const char *v = ctk_st_meta(b, a->meta_keys[i]);
        if (!v || strcmp(v, a->meta_vals[i]) != 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctk_st st;
    struct ctk_err e;
    if (ctk_st_open_mem(&st, data, size, "fuzz", &e) < 0) {
        if (!e.msg[0]) abort();             /* a refusal always says why */
        return 0;
    }
    /* Read every byte of every tensor; floats through the converters. */
    unsigned sum = 0;
    for (size_t i = 0; i < st.ntensors; i++) {
        const struct ctk_st_tensor *t = &st.tensors[i];
        if (t->end > st.data_len || t->begin > t->end) abort();
        for (size_t k = t->begin; k < t->end; k++) sum += st.data[k];
        if (t->nelem <= (1u << 20)) {
            float *f = malloc((t->nelem ? t->nelem : 1) * sizeof *f);
            int rc = ctk_st_read_f32(&st, t, f, t->nelem, &e);
            int is_float = t->dtype == CTK_F32 || t->dtype == CTK_F16 ||
                           t->dtype == CTK_BF16 || t->dtype == CTK_F64;
            if ((rc == 0) != is_float) abort();
            free(f);
        }
        if (ctk_st_find(&st, t->name) == NULL) abort();
    }
    (void)sum;
    /* Write it back and read it again. */
    struct ctk_st_wtensor *w = calloc(st.ntensors + 1, sizeof *w);
    for (size_t i = 0; i < st.ntensors; i++) {
        const struct ctk_st_tensor *t = &st.tensors[i];
        w[i].name = t->name;
        w[i].dtype = t->dtype;
        w[i].ndim = t->ndim;
        memcpy(w[i].shape, t->shape, sizeof t->shape);
        w[i].data = t->data;
    }
    const char **meta = calloc(2 * st.nmeta + 1, sizeof *meta);
    for (size_t i = 0; i < st.nmeta; i++) {
        meta[2 * i] = st.meta_keys[i];
        meta[2 * i + 1] = st.meta_vals[i];
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (ctk_st_write_file(f, "fuzz-out", w, st.ntensors, meta, &e) < 0) abort();
    fclose(f);
    struct ctk_st st2;
    if (ctk_st_open_mem(&st2, buf, len, "fuzz-out", &e) < 0) {
        fprintf(stderr, "rewritten record refused: %s\n", e.msg);
        abort();
    }
    if ((8 + st2.header_len) % 8) abort();
    same_or_abort(&st, &st2);
    ctk_st_close(&st2);
    free(buf);
    free(meta);
    free(w);
    ctk_st_close(&st);
    return 0;
}
