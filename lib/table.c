/*
 * table.c -- whole streams in memory (see table.h).
 */
#include "config.h"
#include "table.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void ctk_chunk_append_rows(struct ctk_chunk *dst, const struct ctk_stream_meta *dm, const struct ctk_chunk *src,
                           const struct ctk_stream_meta *sm, const int *map, int64_t r0, int64_t r1)
{
    int64_t base = dst->rows, n = r1 - r0;
    for (int i = 0; i < dm->ncols; i++) {
        const struct ctk_col_spec *ds = &dm->cols[i];
        if (ds->kind == CTK_COL_DENSE) {
            size_t row = (size_t)(ds->width ? ds->width : 1) * ctk_dtype_size(ds->dtype);
            char *p = ctk_col_dense_reserve(dst, dm, i, base + n);
            if (map[i] >= 0)
                memcpy(p + (size_t)base * row, (const char *)src->cols[map[i]].data + (size_t)r0 * row,
                       (size_t)n * row);
            continue;
        }
        if (map[i] < 0) continue;
        for (int64_t r = r0; r < r1; r++) {
            int64_t len;
            const void *v = ctk_col_row(src, sm, map[i], r, &len);
            ctk_col_append(dst, dm, i, v, len);
        }
    }
    dst->rows = base + n;
}

int ctk_stream_read_all(struct ctk_stream *s, struct ctk_chunk *all, struct ctk_err *e)
{
    struct ctk_chunk c = {0};
    int map[CTK_MAX_COLS], rc;
    for (int i = 0; i < s->meta.ncols; i++) map[i] = i;
    ctk_chunk_reset(all, &s->meta);
    while ((rc = ctk_chunk_read(s, &c, e)) == 1) ctk_chunk_append_rows(all, &s->meta, &c, &s->meta, map, 0, c.rows);
    ctk_chunk_free(&c);
    return rc < 0 ? -1 : 0;
}

int ctk_meta_find_vectors(const struct ctk_stream_meta *m, const char *name, struct ctk_err *e)
{
    int i = ctk_meta_find(m, name);
    if (i < 0) {
        char have[512] = "";
        for (int j = 0; j < m->ncols; j++)
            if (m->cols[j].kind == CTK_COL_DENSE && m->cols[j].dtype == CTK_F32 && m->cols[j].width >= 1 &&
                strlen(have) + strlen(m->cols[j].name) + 3 < sizeof have) {
                if (*have) strcat(have, ", ");
                strcat(have, m->cols[j].name);
            }
        return ctk_err_set(e, "the input has no column '%s'%s%s", name,
                           *have ? "; its vector columns are: " : " (nor any F32 vector column)", have);
    }
    const struct ctk_col_spec *c = &m->cols[i];
    if (c->kind != CTK_COL_DENSE || c->dtype != CTK_F32 || c->width < 1)
        return ctk_err_set(e, "column '%s' is not a dense F32 vector column (it is %s %s)", name,
                           c->kind == CTK_COL_DENSE ? "dense" : c->kind == CTK_COL_RAGGED ? "ragged" : "string",
                           ctk_dtype_name(c->dtype));
    return i;
}

int ctk_rows_classes(const struct ctk_chunk *c, const struct ctk_stream_meta *m, const char *name, int32_t *cls,
                     char ***names_out, struct ctk_err *e)
{
    int i = ctk_meta_find(m, name);
    if (i < 0) return ctk_err_set(e, "the input has no column '%s' to colour by", name);
    const struct ctk_col_spec *cs = &m->cols[i];
    char **names = NULL;
    int nn = 0;
    if (cs->kind == CTK_COL_STRING) {
        for (int k = 0; k < m->nlabels; k++) {
            names = xreallocarray(names, (size_t)nn + 1, sizeof *names);
            names[nn++] = xstrdup(m->labels[k]);
        }
        for (int64_t r = 0; r < c->rows; r++) {
            int64_t len;
            const char *v = ctk_col_row(c, m, i, r, &len);
            int k;
            for (k = 0; k < nn; k++)
                if ((int64_t)strlen(names[k]) == len && !memcmp(names[k], v, (size_t)len)) break;
            if (k == nn) {
                if (nn >= 4096) {
                    for (int j = 0; j < nn; j++) free(names[j]);
                    free(names);
                    return ctk_err_set(e, "column '%s' has more than 4096 distinct values", name);
                }
                names = xreallocarray(names, (size_t)nn + 1, sizeof *names);
                names[nn] = xmalloc((size_t)len + 1);
                memcpy(names[nn], v, (size_t)len);
                names[nn][len] = '\0';
                nn++;
            }
            cls[r] = k;
        }
        if (m->nlabels == 0 && nn > 1) { /* no label list: classes in byte order of their names */
            int *order = xmallocarray((size_t)nn, sizeof *order), *rank = xmallocarray((size_t)nn, sizeof *rank);
            for (int k = 0; k < nn; k++) order[k] = k;
            for (int a = 1; a < nn; a++)
                for (int b = a; b > 0 && strcmp(names[order[b]], names[order[b - 1]]) < 0; b--) {
                    int t = order[b];
                    order[b] = order[b - 1], order[b - 1] = t;
                }
            char **sorted = xmallocarray((size_t)nn, sizeof *sorted);
            for (int k = 0; k < nn; k++) sorted[k] = names[order[k]], rank[order[k]] = k;
            for (int64_t r = 0; r < c->rows; r++) cls[r] = rank[cls[r]];
            free(names);
            names = sorted;
            free(order);
            free(rank);
        }
    } else if (cs->kind == CTK_COL_DENSE && cs->width <= 1 && (cs->dtype == CTK_I32 || cs->dtype == CTK_I64)) {
        int64_t mx = -1;
        for (int64_t r = 0; r < c->rows; r++) {
            int64_t v = cs->dtype == CTK_I32 ? ((const int32_t *)c->cols[i].data)[r]
                                             : ((const int64_t *)c->cols[i].data)[r];
            if (v < -1 || v >= 4096)
                return ctk_err_set(e, "column '%s', row %" PRId64 ": class %" PRId64 " is outside -1..4095", name,
                                   r + 1, v);
            cls[r] = (int32_t)v;
            if (v > mx) mx = v;
        }
        for (int64_t k = 0; k <= mx; k++) {
            char buf[32];
            snprintf(buf, sizeof buf, "%s %" PRId64, name, k);
            names = xreallocarray(names, (size_t)nn + 1, sizeof *names);
            names[nn++] = xstrdup(buf);
        }
    } else {
        return ctk_err_set(e, "column '%s' is neither labels (strings) nor class ids (I32/I64)", name);
    }
    *names_out = names;
    return nn;
}
