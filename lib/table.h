/*
 * table.h -- whole streams in memory, for the filters that need every row
 * at once (UMAP, t-SNE, HDBSCAN, plots): read all chunks into one, then
 * write it back out in chunks with columns added or dropped.
 *
 * Ownership: the chunks are the caller's (ctk_chunk_free); rows are copied.
 */
#ifndef CTK_TABLE_H
#define CTK_TABLE_H

#include "stream.h"

/*
 * Append rows [r0, r1) of src (schema sm) to dst (schema dm): dst column i
 * gets the rows of src column map[i], which must have the same kind, dtype
 * and width; a dst column with map[i] < 0 is left for the caller to fill
 * (a dense one is grown to the new row count). dst->rows grows by r1 - r0.
 */
void ctk_chunk_append_rows(struct ctk_chunk *dst, const struct ctk_stream_meta *dm, const struct ctk_chunk *src,
                           const struct ctk_stream_meta *sm, const int *map, int64_t r0, int64_t r1);

/* Read every remaining chunk of s into all (reset first). Returns 0, or -1 with e set. */
int ctk_stream_read_all(struct ctk_stream *s, struct ctk_chunk *all, struct ctk_err *e);

/*
 * Index of the dense F32 column `name` of m with width >= 1, or -1 with e
 * saying what the stream has instead (for "-c COLUMN" options).
 */
int ctk_meta_find_vectors(const struct ctk_stream_meta *m, const char *name, struct ctk_err *e);

/*
 * Class index per row from the string column `name` (labels) or an I32/I64
 * column (cluster ids, -1 noise): names (caller frees each and the array)
 * in the order of m's label list when it has one, else in byte order;
 * numeric ids keep their order. Returns the number of classes, or -1.
 */
int ctk_rows_classes(const struct ctk_chunk *c, const struct ctk_stream_meta *m, const char *name, int32_t *cls,
                     char ***names, struct ctk_err *e);

#endif
