/*
 * mine_tool -- small typed streams for ctk-mine-negatives' tests, without
 * an encoder: TSV in, a ctk stream out.
 *
 *   mine_tool [-m MODEL] SPEC < TSV
 *
 * SPEC lists the columns, one per TSV field, as NAME:TYPE separated by
 * commas: s a string, f a dense F32 vector (numbers separated by spaces,
 * the width of the first row), i a ragged I32 row of token ids (numbers
 * separated by spaces). -m sets the stream's model. Example:
 *   mine_tool -m fixture 'label:s,text:s,emb:f'
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "stream.h"

int main(int argc, char **argv)
{
    ctk_init("mine_tool", argc, argv);
    const char *model = NULL;
    int a = 1;
    if (a + 1 < argc && strcmp(argv[a], "-m") == 0) {
        model = argv[a + 1];
        a += 2;
    }
    if (a >= argc)
        ctk_usage("usage: mine_tool [-m MODEL] NAME:TYPE,... < TSV");
    char *spec = xstrdup(argv[a]);
    char names[CTK_MAX_COLS][CTK_COL_NAME_MAX];
    char types[CTK_MAX_COLS];
    int nc = 0;
    for (char *tok = strtok(spec, ","); tok; tok = strtok(NULL, ",")) {
        char *colon = strrchr(tok, ':');
        if (!colon || nc == CTK_MAX_COLS || colon - tok >= CTK_COL_NAME_MAX)
            ctk_usage("bad column spec '%s'", tok);
        *colon = '\0';
        snprintf(names[nc], CTK_COL_NAME_MAX, "%s", tok);
        types[nc++] = colon[1];
    }
    /* read every line first: the vector width comes from the first row */
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char **lines = NULL;
    int64_t n = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        lines = xreallocarray(lines, (size_t)n + 1, sizeof *lines);
        lines[n++] = xstrdup(line);
    }
    free(line);
    int64_t width[CTK_MAX_COLS] = {0};
    struct ctk_stream_meta m;
    ctk_meta_init(&m);
    for (int k = 0; k < nc; k++) {
        if (types[k] == 'f') {
            if (n == 0)
                ctk_die("a vector column needs a first row for its width");
            char *copy = xstrdup(lines[0]), *f = copy;
            for (int t = 0; t < k && f; t++) {
                f = strchr(f, '\t');
                if (f)
                    f++;
            }
            if (!f)
                ctk_die("line 1: fewer fields than columns");
            char *end = strchr(f, '\t');
            if (end)
                *end = '\0';
            for (char *w = strtok(f, " "); w; w = strtok(NULL, " "))
                width[k]++;
            free(copy);
            ctk_meta_add_col(&m, names[k], CTK_COL_DENSE, CTK_F32, width[k]);
            if (!m.dim)
                m.dim = width[k];
        } else if (types[k] == 'i') {
            ctk_meta_add_col(&m, names[k], CTK_COL_RAGGED, CTK_I32, 0);
        } else if (types[k] == 's') {
            ctk_meta_add_col(&m, names[k], CTK_COL_STRING, CTK_U8, 0);
        } else {
            ctk_usage("type '%c' of column %s is not s, f or i", types[k], names[k]);
        }
    }
    if (model)
        ctk_meta_set_model(&m, model);
    ctk_meta_add_history(&m, ctk_cmdline());
    struct ctk_stream out;
    struct ctk_err e;
    if (ctk_stream_open_write(&out, stdout, "stdout", &m, &e))
        ctk_die_err(&e);
    struct ctk_chunk ck = {0};
    ctk_chunk_reset(&ck, &out.meta);
    int32_t *iv = xmallocarray(4096, sizeof *iv);
    for (int64_t r = 0; r < n; r++) {
        char *f = lines[r];
        for (int k = 0; k < nc; k++) {
            if (!f)
                ctk_die("line %lld: fewer fields than columns", (long long)r + 1);
            char *next = strchr(f, '\t');
            if (next)
                *next++ = '\0';
            if (types[k] == 's') {
                ctk_col_append(&ck, &out.meta, k, f, (int64_t)strlen(f));
            } else if (types[k] == 'i') {
                int64_t c = 0;
                for (char *w = strtok(f, " "); w && c < 4096; w = strtok(NULL, " "))
                    iv[c++] = (int32_t)strtol(w, NULL, 10);
                ctk_col_append(&ck, &out.meta, k, iv, c);
            } else {
                float *p = (float *)ctk_col_dense_reserve(&ck, &out.meta, k, r + 1) + r * width[k];
                int64_t c = 0;
                for (char *w = strtok(f, " "); w; w = strtok(NULL, " ")) {
                    if (c == width[k])
                        ctk_die("line %lld: more than %lld numbers in %s", (long long)r + 1,
                                (long long)width[k], names[k]);
                    p[c++] = strtof(w, NULL);
                }
                if (c != width[k])
                    ctk_die("line %lld: %lld numbers in %s, want %lld", (long long)r + 1, (long long)c,
                            names[k], (long long)width[k]);
            }
            f = next;
        }
        ck.rows = r + 1;
        free(lines[r]);
    }
    if (n && ctk_chunk_write(&out, &ck, &e))
        ctk_die_err(&e);
    if (ctk_stream_close(&out, &e))
        ctk_die_err(&e);
    free(lines);
    free(iv);
    free(spec);
    ctk_chunk_free(&ck);
    ctk_meta_free(&m);
    return 0;
}
