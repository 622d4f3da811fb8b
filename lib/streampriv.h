/*
 * streampriv.h -- what stream.c and textio.c share and filters don't use:
 * a stream reader over an open byte source, and streams whose chunks come
 * from another format (TSV, JSON Lines, .npy) through a function.
 */
#ifndef CTK_STREAMPRIV_H
#define CTK_STREAMPRIV_H

#include "bytesrc.h"
#include "stream.h"

/* Read a ctk stream from src (allocated with malloc), which s owns from now on,
 * also on failure. */
int ctk_stream_open_src(struct ctk_stream *s, struct ctk_src *src, struct ctk_err *e);

/*
 * A stream whose chunks come from rd(state, ...), which returns 1/0/-1 as
 * ctk_chunk_read does; cl(state) releases state at ctk_stream_close. The
 * caller fills s->meta after this call.
 */
typedef int (*ctk_source_read_fn)(void *state, struct ctk_stream *s, struct ctk_chunk *c,
                                  struct ctk_err *e);
typedef void (*ctk_source_close_fn)(void *state);
void ctk_stream_open_source(struct ctk_stream *s, const char *name, ctk_source_read_fn rd,
                            ctk_source_close_fn cl, void *state);

/* 1 when s reads through a source function (text), 0 for a ctk stream. */
int ctk_stream_is_source(const struct ctk_stream *s);

/* UTF-8: 1 when the n bytes are valid UTF-8 (no overlongs or surrogates). */
int ctk_utf8_valid(const char *p, size_t n);

/* Parse a nonnegative decimal integer string strictly; -1 when it is not one. */
int ctk_parse_u63(const char *s, int64_t *out);

#endif
