/*
 * stream.h -- the ctk stream: how every filter talks to the next.
 *
 * THE LAYOUT (full specification with a worked example: ctk-stream(5))
 *
 *   stream  = member+                     (cat of streams is a stream)
 *   member  = MAGIC header-record chunk-record* end-record
 *   MAGIC   = the 8 bytes  \x89 C T K \r \n \x1a \n
 *   record  = a complete safetensors file: u64 little-endian header length N,
 *             N bytes of JSON header, then the data area.
 *
 * Every record's JSON header begins with {"__metadata__":{"crc32":"XXXXXXXX",
 * and its __metadata__ says "kind": "header" | "chunk" | "end". crc32 is zlib's
 * crc32 of the header (with the eight hex digits written as 00000000) followed
 * by the data area, so that a flipped byte anywhere is caught.
 *
 *   header: no tensors; metadata "version": "1", "schema" (JSON list of
 *           columns: name, kind, dtype, width), "history", and when known
 *           "model", "dim", "normalized" ("true"/"false"), "labels" (JSON
 *           lists as strings, since safetensors metadata is str->str), plus
 *           any other key, carried through filters unchanged.
 *   chunk:  "chunk": its number in the member from 1, "rows": n (all
 *           metadata values are strings); one tensor per dense column (shape
 *           [n] or [n,width]), two per ragged or string column: NAME (values,
 *           I32/I64/F32, or U8 bytes for strings) and NAME.offsets (I64 [n+1],
 *           offsets[0] = 0, nondecreasing, last = number of values).
 *   end:    no tensors; "rows": total rows of the member, "chunks": count.
 *
 * Shapes are in safetensors (PyTorch) order, outermost first. Dense and
 * ragged columns hold F32, I32 or I64; string columns U8. A reader refuses
 * headers over 16 MiB and data areas over 1 GiB. Members concatenate when
 * schema, model, dim, normalized and labels agree (histories may differ).
 * Text (TSV, JSON Lines, .npy, lines) is read into the same struct by
 * lib/textio.h: ctk_input_open() opens a stream or text alike.
 *
 * Ownership: ctk_chunk_read() reuses the chunk's buffers; pointers into a
 * chunk die at the next read or ctk_chunk_free(). A stream's meta is owned by
 * the stream and freed by ctk_stream_close(); ctk_meta_copy() makes an
 * independent copy the caller frees with ctk_meta_free().
 *
 * Building a chunk (writers): ctk_chunk_reset(c, m), then for each row fill
 * dense columns through ctk_col_dense_reserve() and append to ragged/string
 * columns with ctk_col_append() (which counts rows in c->cols[i].n), then set
 * c->rows yourself and call ctk_chunk_write(). A filter that adds columns to
 * a chunk it read appends to the new columns the same way: ctk_chunk_read()
 * leaves every column past the input's schema empty (n = 0).
 */
#ifndef CTK_STREAM_H
#define CTK_STREAM_H

#include <stdint.h>
#include <stdio.h>

#include "dtype.h"
#include "err.h"

#define CTK_STREAM_MAGIC "\x89" "CTK\r\n\x1a\n"
#define CTK_MAX_COLS 64
#define CTK_COL_NAME_MAX 64

enum ctk_col_kind {
    CTK_COL_DENSE,  /* fixed width per row: emb F32 [n,d], id I64 [n], score F32 [n] */
    CTK_COL_RAGGED, /* variable length numeric rows: ids I32 + offsets */
    CTK_COL_STRING, /* one byte string per row: text U8 + offsets */
};


/* One column of the schema. */
struct ctk_col_spec {
    char name[CTK_COL_NAME_MAX];
    enum ctk_col_kind kind;
    enum ctk_dtype dtype;
    int64_t width; /* dense: elements per row; 0 = scalar column, stored as shape [n] */
};

/* What a stream says about itself (its header record). */
struct ctk_stream_meta {
    int ncols;
    struct ctk_col_spec cols[CTK_MAX_COLS];
    char *model;      /* identity of the model that made the embeddings/tokens, or NULL */
    int64_t dim;      /* embedding dimension, 0 if none */
    int normalized;   /* 1 vectors are unit length, 0 not, -1 unknown */
    int nlabels;      /* label names, in class-index order */
    char **labels;
    int nhistory;     /* command lines that made this stream, oldest first */
    char **history;
    int nextra;       /* other metadata, carried unchanged */
    char **extra_keys;
    char **extra_vals;
};

/* The data of one column in the current chunk. */
struct ctk_col {
    void *data;       /* dense: rows*max(width,1) elements; ragged/string: offsets[rows] elements */
    int64_t *offsets; /* ragged/string: rows+1 entries; NULL for dense */
    size_t data_cap;  /* bytes allocated (reuse across chunks) */
    size_t off_cap;   /* entries allocated */
    int64_t n;        /* ragged/string: rows appended so far by ctk_col_append */
};

/* A chunk: rows of every column of the schema, in schema order. */
struct ctk_chunk {
    int64_t rows;
    int ncols;
    struct ctk_col cols[CTK_MAX_COLS];
};

struct ctk_stream {
    struct ctk_stream_meta meta;
    /* private */
    FILE *f;
    const char *name;   /* file name for messages ("stdin" for -) */
    int writing, own_file;
    int64_t chunk_index; /* number of the chunk last read/written, from 0 */
    int64_t rows_member, chunks_member;
    int64_t rows_total;
    void *priv;
};

/* --- metadata ----------------------------------------------------------- */

void ctk_meta_init(struct ctk_stream_meta *m);
void ctk_meta_free(struct ctk_stream_meta *m);
void ctk_meta_copy(struct ctk_stream_meta *dst, const struct ctk_stream_meta *src);
/* Index of a column by name, or -1. */
int ctk_meta_find(const struct ctk_stream_meta *m, const char *name);
/* Append a column (dies if the schema is full or the name exists); returns its index. */
int ctk_meta_add_col(struct ctk_stream_meta *m, const char *name, enum ctk_col_kind kind,
                     enum ctk_dtype dtype, int64_t width);
/*
 * 0 when name can name a column, else -1 with e saying why: 1..63 bytes of
 * UTF-8, no control character, no ',' (column lists use it), not ending in
 * ".offsets" and not "__metadata__" (tensor names of the record).
 */
int ctk_col_name_check(const char *name, struct ctk_err *e);
/* Remove a column by index. */
void ctk_meta_drop_col(struct ctk_stream_meta *m, int idx);
void ctk_meta_set_model(struct ctk_stream_meta *m, const char *model);
void ctk_meta_set_labels(struct ctk_stream_meta *m, int n, char *const *labels);
void ctk_meta_add_history(struct ctk_stream_meta *m, const char *cmdline);
/* Extra key/values: get returns NULL when absent; set replaces. */
const char *ctk_meta_get(const struct ctk_stream_meta *m, const char *key);
void ctk_meta_set(struct ctk_stream_meta *m, const char *key, const char *val);

/* --- reading ------------------------------------------------------------- */

/*
 * Open path ("-" or NULL: stdin) and read the header. Returns 0, or -1 with e
 * naming the file and what is wrong ("not a ctk stream", truncated, crc...).
 */
int ctk_stream_open_read(struct ctk_stream *s, const char *path, struct ctk_err *e);
/* The same over an open FILE (not closed by ctk_stream_close); name is for messages. */
int ctk_stream_open_readf(struct ctk_stream *s, FILE *f, const char *name, struct ctk_err *e);
/*
 * Read the next chunk into c (its buffers reused). Returns 1 with a chunk,
 * 0 at the end of the last member, -1 on error (truncation, bad crc, bad
 * shapes, a following member whose schema differs...), e naming the file and
 * chunk number. A member's header read in passing is checked against the
 * first member's schema; its history and labels must agree too.
 */
int ctk_chunk_read(struct ctk_stream *s, struct ctk_chunk *c, struct ctk_err *e);

/* --- writing ------------------------------------------------------------- */

/*
 * Start writing a stream to f with metadata m (copied). The caller appends
 * its command line to the history first (ctk_meta_add_history(m, ctk_cmdline())).
 */
int ctk_stream_open_write(struct ctk_stream *s, FILE *f, const char *name,
                          const struct ctk_stream_meta *m, struct ctk_err *e);
/* Write one chunk; its columns follow s->meta's schema. Zero-row chunks are skipped. */
int ctk_chunk_write(struct ctk_stream *s, const struct ctk_chunk *c, struct ctk_err *e);
/* Writing: write the end record and flush. Reading: release. Both free s->meta. */
int ctk_stream_close(struct ctk_stream *s, struct ctk_err *e);

/* --- building chunks ---------------------------------------------------- */

/* Size c for the schema of m with no rows (every column's n = 0); keeps buffers. */
void ctk_chunk_reset(struct ctk_chunk *c, const struct ctk_stream_meta *m);
void ctk_chunk_free(struct ctk_chunk *c);
/* Make room for rows dense rows in column i (sets nothing else). Returns data. */
void *ctk_col_dense_reserve(struct ctk_chunk *c, const struct ctk_stream_meta *m, int i, int64_t rows);
/* Append one row to a ragged/string column i (n elements of its dtype). */
void ctk_col_append(struct ctk_chunk *c, const struct ctk_stream_meta *m, int i,
                    const void *values, int64_t n);
/* Row r of any column: pointer to its first element and its length (dense:
 * max(width,1)); never NULL, even for an empty row. */
const void *ctk_col_row(const struct ctk_chunk *c, const struct ctk_stream_meta *m, int i,
                        int64_t r, int64_t *n);

/* Suggested chunk size for writers: rows per chunk (about 8 MB of data). */
#define CTK_CHUNK_ROWS 4096

#endif
