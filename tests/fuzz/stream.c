/*
 * tests/fuzz/stream.c -- libFuzzer target for the stream reader: any bytes,
 * read as a stream (gzip included) chunk by chunk, must end in chunks or an
 * error, never a crash, an out-of-bounds access or unbounded memory.
 * The first byte picks the reader: even = ctk_stream_open_readf, odd =
 * ctk_input_open1 (stream or TSV text, what filters use).
 */
#include "config.h"
#include "stream.h"
#include "textio.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    int mode = data[0] & 1;
    FILE *f = fmemopen((void *)(data + 1), size - 1 ? size - 1 : 1, "rb");
    if (!f) return 0;
    if (size == 1) fgetc(f); /* an empty input */
    struct ctk_stream s;
    struct ctk_chunk c = {0};
    struct ctk_err e;
    int rc;
    if (mode == 0) {
        rc = ctk_stream_open_readf(&s, f, "fuzz", &e);
    } else {
        /* stdin is replaced by the fuzz input for ctk_input_open1(NULL). */
        FILE *saved = stdin;
        stdin = f;
        rc = ctk_input_open1(&s, NULL, NULL, &e);
        stdin = saved;
    }
    if (rc == 0) {
        while ((rc = ctk_chunk_read(&s, &c, &e)) == 1) {
            /* Touch every row of every column, as a filter would. */
            for (int i = 0; i < s.meta.ncols; i++)
                for (int64_t r = 0; r < c.rows; r++) {
                    int64_t n;
                    const unsigned char *p = ctk_col_row(&c, &s.meta, i, r, &n);
                    size_t bytes = (size_t)n * ctk_dtype_size(s.meta.cols[i].dtype);
                    volatile unsigned char sink = 0;
                    if (bytes) sink ^= p[0] ^ p[bytes - 1];
                    (void)sink;
                }
        }
        ctk_stream_close(&s, &e);
    }
    ctk_chunk_free(&c);
    fclose(f);
    return 0;
}
