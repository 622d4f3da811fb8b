/*
 * textio.h -- plain formats in and out of streams: TSV, JSON Lines, NumPy .npy.
 *
 * Every ctk program that reads text reads it through here, so that ctk-cat,
 * ctk-tok, ctk-mkpairs... split lines and name columns the same way. The
 * readers fill a struct ctk_stream: after ctk_text_open() or ctk_input_open()
 * a filter calls ctk_chunk_read() and ctk_stream_close() exactly as for a
 * ctk stream, and s->meta holds the schema. Files ending in anything, gzip
 * or not (detected by their first bytes), are read alike.
 *
 * TSV (the default). One row per line; lines end at '\n' (a '\r' before it
 * stays in the last field, so that output reproduces input byte for byte);
 * fields are split at every tab and kept byte for byte: no quoting, no
 * backslash escapes, no UTF-8 check (ctk-tok decides what invalid UTF-8
 * means). Columns:
 *   - with opts.header: the first line of each file names them (later files'
 *     header lines must be the same);
 *   - with opts.names ("label,text1,text2"): named by the list;
 *   - otherwise from the field count of the first non-empty line: 1 field is
 *     `text`, 2 are `label`, `text`, k >= 3 are `label`, `text1` ... `text(k-1)`.
 *   All are string columns. Unless one of them is called `id`, an I64 column
 *   `id` comes first, holding each row's line number (1-based, counted over
 *   all the files as if they were one, header lines included) plus
 *   opts.id_offset. Every line must have the same number of fields, except an
 *   empty line, which is a row of empty fields: any other line with a
 *   different count is an error naming the file and line.
 *
 * JSON Lines (-f jsonl). One JSON object per line, all with the same keys
 * (any order); the first line decides the columns, in its key order: a
 * string is a string column, a number an F32 scalar column, an array of
 * integers a ragged I32 column and an array of numbers a ragged F32 column.
 * An integer `id` is the I64 id column (a string `id` a string one); without
 * an `id` key the line number is the id, as for TSV. Empty lines are errors.
 *
 * Lines (-f lines). Each whole line, tabs and all, is the one column `text`
 * (after the `id` of line numbers); empty lines are rows, as for TSV.
 *
 * NumPy .npy (-f npy). A 1-D or 2-D array (little- or big-endian f4, f8, i4,
 * i8; C order) becomes one dense column (opts.npy_col, "emb" by default;
 * f8 is read as F32) after an I64 `id` column of row numbers from 1.
 *
 * Ownership: the stream owns its reader; ctk_stream_close() releases it. The
 * paths given to the open functions must outlive the stream.
 */
#ifndef CTK_TEXTIO_H
#define CTK_TEXTIO_H

#include <stdint.h>
#include <stdio.h>

#include "stream.h"

enum ctk_text_format { CTK_TEXT_TSV, CTK_TEXT_JSONL, CTK_TEXT_NPY, CTK_TEXT_LINES };

struct ctk_text_opts {
    enum ctk_text_format format; /* CTK_TEXT_TSV when zeroed */
    int header;                  /* TSV: each file's first line names the columns */
    const char *names;           /* TSV: comma-separated column names, or NULL */
    const char *npy_col;         /* .npy: the column's name; NULL = "emb" */
    int64_t id_offset;           /* added to every line-number id (shards: see ctk-stream(5)) */
    int64_t chunk_rows;          /* rows per chunk; 0 = CTK_CHUNK_ROWS */
};

/* Parse "tsv", "jsonl", "npy" or "lines"; -1 when it is none of them. */
int ctk_text_format_parse(const char *s, enum ctk_text_format *f);

/*
 * Open text files (n = 0: stdin; "-" is stdin) read one after the other as
 * one table. o may be NULL (TSV defaults). Returns 0 with s->meta holding the
 * schema, or -1 with e naming the file and line. The history is empty: a
 * filter appends its own command line to the meta it writes.
 */
int ctk_text_open(struct ctk_stream *s, const char *const *paths, int n,
                  const struct ctk_text_opts *o, struct ctk_err *e);

/*
 * Open "any input": a ctk stream when the first file starts with the stream's
 * magic bytes (after gunzip), text in format o->format otherwise. All files
 * must be of the kind of the first. Filters use this so that they read both
 * `ctk-cat -t stream x.tsv | ctk-tok` and `ctk-tok x.tsv`.
 */
int ctk_input_open(struct ctk_stream *s, const char *const *paths, int n,
                   const struct ctk_text_opts *o, struct ctk_err *e);
/* One file or stdin (path NULL or "-"): the common case. */
int ctk_input_open1(struct ctk_stream *s, const char *path, const struct ctk_text_opts *o,
                    struct ctk_err *e);
/* 1 when s reads a ctk stream, 0 when it reads text (TSV, JSON Lines, .npy). */
int ctk_input_is_stream(const struct ctk_stream *s);

/*
 * Writing text from chunks. cols lists the schema columns to write, in order
 * (ncols of them). TSV: fields separated by tabs, numbers of a dense or
 * ragged column separated by spaces (F32 as %.9g, which reads back to the
 * same float), strings as their bytes except that a tab is written as the two
 * characters \t and a newline as \n (TSV cannot hold them; backslashes are
 * written as they are, so TSV read by ctk comes back byte for byte); a row
 * whose fields are all empty strings is an empty line. header writes the
 * column names first. Lines: one string column, its bytes as they are but a
 * newline written as \n. JSON Lines: one object per row, strings must be UTF-8.
 * npy: exactly one dense column; the shape is written once all rows are
 * known (the output is rewritten in place when seekable, else the data go
 * through a temporary file).
 */
struct ctk_text_writer {
    enum ctk_text_format format;
    FILE *f;
    const char *name;
    struct ctk_stream_meta meta; /* copy of the input's schema */
    int cols[CTK_MAX_COLS];
    int ncols;
    int64_t rows;
    FILE *tmp;       /* npy through a temporary file */
    long long start; /* npy: offset of the header when seekable, else -1 */
    char *buf;       /* line buffer */
    size_t cap;
};
int ctk_text_write_begin(struct ctk_text_writer *w, FILE *f, const char *name,
                         enum ctk_text_format format, const struct ctk_stream_meta *m,
                         const int *cols, int ncols, int header, struct ctk_err *e);
int ctk_text_write_chunk(struct ctk_text_writer *w, const struct ctk_chunk *c, struct ctk_err *e);
/* Finish (npy: write the header), flush; frees w's buffers. */
int ctk_text_write_end(struct ctk_text_writer *w, struct ctk_err *e);

#endif
