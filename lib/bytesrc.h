/*
 * bytesrc.h -- buffered byte input over one or more files, with gzip read
 * transparently (detected by the magic bytes 1f 8b, not by the file name).
 *
 * The stream reader (stream.c) and the text readers (textio.c) read through
 * this, so that "x.tsv.gz", "x.ctk.gz" and "zcat x.gz |" all work the same.
 * Several files are read one after the other; the reader sees the end of
 * each file (ctk_src_read returns short) and calls ctk_src_next() to go on,
 * so that it can decide what a file boundary means (a new stream member, a
 * new header line).
 *
 * Ownership: the src owns its buffers and the FILEs it opened; the caller's
 * path strings must outlive it.
 */
#ifndef CTK_BYTESRC_H
#define CTK_BYTESRC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <zlib.h>

#include "err.h"

struct ctk_src {
    const char *const *paths; /* files to read in turn ("-" = stdin) */
    int npaths, cur;
    const char *name;         /* current file's name for messages ("stdin" for -) */
    FILE *f;
    int own;                  /* f was opened here */
    int gz;                   /* current file is gzip */
    z_stream z;
    int zinit;
    int zend;                 /* the last gzip member ended */
    unsigned char *in;        /* compressed bytes (gzip only) */
    size_t in_cap;
    unsigned char *buf;       /* bytes for the reader */
    size_t cap, pos, len;
    int eof;                  /* current file has no more bytes */
    uint64_t offset;          /* bytes of the current file consumed by the reader */
    const char *one[1];
};

/* Open path ("-" or NULL = stdin). */
int ctk_src_open(struct ctk_src *s, const char *path, struct ctk_err *e);
/* Open n files read in turn (n = 0: stdin). paths must outlive s. */
int ctk_src_open_list(struct ctk_src *s, const char *const *paths, int n, struct ctk_err *e);
/* Read from an open FILE (not closed by ctk_src_close). */
int ctk_src_openf(struct ctk_src *s, FILE *f, const char *name, struct ctk_err *e);
/* Read up to n bytes of the current file into dst (dst NULL: skip them). Returns the
 * count, short only at the end of the file, or -1 on a read or gzip error. */
ssize_t ctk_src_read(struct ctk_src *s, void *dst, size_t n, struct ctk_err *e);
/* Make up to n bytes available at s->buf + s->pos without consuming them;
 * returns how many are available (fewer only at the end of the file), or -1. */
ssize_t ctk_src_peek(struct ctk_src *s, size_t n, struct ctk_err *e);
/*
 * One line of the current file, without its '\n', into *line (grown as
 * needed, NUL-terminated; the bytes may hold NULs, so use the length).
 * Returns the length, -1 at the end of the file, -2 on error. *nl is set to
 * 1 when the line ended with '\n', 0 for a last line without one.
 */
ssize_t ctk_src_getline(struct ctk_src *s, char **line, size_t *cap, int *nl, struct ctk_err *e);
/* Go on to the next file: 1 when there is one, 0 when none is left, -1 on error. */
int ctk_src_next(struct ctk_src *s, struct ctk_err *e);
void ctk_src_close(struct ctk_src *s);

#endif
