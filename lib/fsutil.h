/*
 * fsutil.h -- files written whole or not at all, and files read whole.
 *
 * No ctk program leaves a half-written file: outputs go to a temporary name
 * in the same folder and are renamed into place once complete and flushed.
 */
#ifndef CTK_FSUTIL_H
#define CTK_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

/* Write len bytes to path atomically (temporary file, fsync, rename). */
int ctk_write_file_atomic(const char *path, const void *buf, size_t len, struct ctk_err *e);

/*
 * An output file being written: ctk_atomic_open() creates "PATH.tmp-XXXXXX"
 * beside PATH; ctk_atomic_commit() flushes, fsyncs and renames it to PATH;
 * ctk_atomic_abort() removes it.
 */
struct ctk_atomic {
    FILE *f;
    char *path;
    char *tmp;
};
int ctk_atomic_open(struct ctk_atomic *a, const char *path, struct ctk_err *e);
int ctk_atomic_commit(struct ctk_atomic *a, struct ctk_err *e);
void ctk_atomic_abort(struct ctk_atomic *a);

/* Read a whole file into a NUL-terminated buffer the caller frees. */
char *ctk_read_file(const char *path, size_t *len, struct ctk_err *e);

/* mkdir -p; 0 when the folder exists afterwards. */
int ctk_mkdirs(const char *path, struct ctk_err *e);

/* "DIR/NAME" in a new buffer the caller frees. */
char *ctk_path_join(const char *dir, const char *name);

#endif
