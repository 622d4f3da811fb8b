/*
 * transformer_check.h -- what test_bert.c and test_mpnet.c share: the
 * encoders of both model types are lib/transformer.c, checked the same way
 * against their PyTorch fixtures.
 *
 *   check(what, v, tol)     prints the figure; v above tol is a failure
 *   die(msg), run(cmd)      stop the test on a broken set-up
 *   open_enc(dir, threads)  ctk_encoder_open, dying on an error or on an
 *                           encoder of another kind than KIND
 *   load_batch(b, path)     a fixture's batch: ids, offsets and, when it has
 *                           them, type_ids (a safetensors file of
 *                           tests/golden)
 *   golden_f32(b, name, n)  one of its tensors as floats
 *   maxdiff(a, b, n)        the largest |a - b|
 *   encode(enc, t, emb, train, seed)
 *   forward_checks(dir, fixture, label)
 *                           pooled embeddings (4 poolings, normalised and
 *                           not) and sampled token embeddings against the
 *                           fixture: 1e-5 (mean_sqrt_len unnormalised,
 *                           22 times a mean's scale at 512 tokens: 1e-4),
 *                           token embeddings 1e-4
 *   invariance_checks(dir, fixture, label)
 *                           1 vs 2 threads, batches of 1 and 3 vs one: 1e-6
 *   refusal(dir, key, value)
 *                           config.json's key set to value must be refused
 *                           with a message naming the key
 *   test_begin(argc, argv)  reads CTK_SRCDIR and CTK_BUILDDIR, makes tmpdir;
 *                           returns 1 for a quick run (--quick, or the
 *                           emulated AMX kernel of the _amx builds, where
 *                           the small model only is checked)
 *   test_end()              removes tmpdir; main's exit status
 *
 * The includer defines TEST_NAME ("test_bert"), KIND (the model type its
 * folders say: "bert") and TMPDIR_TEMPLATE, and sets srcdir and builddir
 * from the environment.
 */
#ifndef CTK_TEST_TRANSFORMER_CHECK_H
#define CTK_TEST_TRANSFORMER_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "safetensors.h"
#include "transformer.h"

static int failures;
static char tmpdir[] = TMPDIR_TEMPLATE;
static const char *srcdir = ".", *builddir = ".";

static inline void check(const char *what, double v, double tol)
{
    int bad = !(v <= tol);
    printf("%-62s %.3g (tolerance %.0e)%s\n", what, v, tol, bad ? "  FAIL" : "");
    failures += bad;
}

static inline void die(const char *msg)
{
    fprintf(stderr, "%s: %s\n", TEST_NAME, msg);
    exit(1);
}

static inline void run(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "%s: failed: %s\n", TEST_NAME, cmd);
        exit(1);
    }
}

static inline struct ctk_encoder *open_enc(const char *dir, int threads)
{
    struct ctk_err e;
    struct ctk_encoder *enc = ctk_encoder_open(dir, threads, &e);
    if (!enc) die(e.msg);
    if (!ctk_is_transformer(enc) || strcmp(enc->kind, KIND) != 0) die("not opened as " KIND);
    return enc;
}

struct batch {
    struct ctk_st st;
    struct ctk_tokens t;
};

static inline void load_batch(struct batch *b, const char *path)
{
    struct ctk_err e;
    if (ctk_st_open(&b->st, path, &e) < 0) die(e.msg);
    const struct ctk_st_tensor *ti = ctk_st_find(&b->st, "ids"),
                               *tt = ctk_st_find(&b->st, "type_ids"),
                               *to = ctk_st_find(&b->st, "offsets");
    if (!ti || !to) die("fixture without ids and offsets");
    /* copies: mmap'd tensors need not be aligned */
    int32_t *ids = malloc(ti->nelem * 4), *types = tt ? malloc(tt->nelem * 4) : NULL;
    int64_t *offs = malloc(to->nelem * 8);
    memcpy(ids, ti->data, ti->nelem * 4);
    if (tt) memcpy(types, tt->data, tt->nelem * 4);
    memcpy(offs, to->data, to->nelem * 8);
    b->t = (struct ctk_tokens){(int64_t)to->nelem - 1, ids, types, offs};
}

static inline void free_batch(struct batch *b)
{
    free((void *)b->t.ids);
    free((void *)b->t.type_ids);
    free((void *)b->t.offsets);
    ctk_st_close(&b->st);
}

static inline float *golden_f32(struct batch *b, const char *name, size_t *n)
{
    struct ctk_err e;
    const struct ctk_st_tensor *t = ctk_st_find(&b->st, name);
    if (!t) {
        fprintf(stderr, "%s: the fixture has no %s\n", TEST_NAME, name);
        exit(1);
    }
    float *x = ctk_st_get_f32(&b->st, t, &e);
    if (!x) die(e.msg);
    if (n) *n = t->nelem;
    return x;
}

static inline double maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        m = d > m ? d : m;
    }
    return m;
}

static inline void encode(struct ctk_encoder *enc, const struct ctk_tokens *t, float *emb,
                          int train, uint64_t seed)
{
    struct ctk_err e;
    if (enc->ops->forward(enc, t, emb, train, seed, &e) < 0) die(e.msg);
}

static const char *modes[] = {"mean", "cls", "max", "mean_sqrt_len"};
static const char *mode_names[] = {"mean", "cls", "max", "mean_sqrt_len_tokens"};

static inline void forward_checks(const char *dir, const char *fixture, const char *label)
{
    char name[256], what[4096];
    struct batch b;
    load_batch(&b, fixture);
    struct ctk_encoder *enc = open_enc(dir, 2);
    struct ctk_err e;
    float *emb = malloc((size_t)(b.t.S * enc->dim) * sizeof *emb);
    for (int m = 0; m < 4; m++)
        for (int norm = 0; norm < 2; norm++) {
            if (ctk_transformer_set_pooling(enc, mode_names[m], &e) < 0) die(e.msg);
            enc->normalize = norm;
            encode(enc, &b.t, emb, 0, 0);
            snprintf(name, sizeof name, "pool.%s%s", modes[m], norm ? ".norm" : "");
            size_t n;
            float *want = golden_f32(&b, name, &n);
            if (n != (size_t)(b.t.S * enc->dim)) die("the fixture's pooled size differs");
            snprintf(what, sizeof what, "%s %s: max abs diff", label, name);
            check(what, maxdiff(emb, want, n), strcmp(modes[m], "mean_sqrt_len") || norm ? 1e-5 : 1e-4);
            free(want);
        }
    /* token embeddings: the sampled rows of the last hidden state */
    int64_t N, C;
    const float *h = ctk_transformer_last_hidden(enc, &N, &C);
    float *want = golden_f32(&b, "tokens", NULL);
    const struct ctk_st_tensor *rows = ctk_st_find(&b.st, "tokens.rows");
    if (!rows) die("the fixture has no tokens.rows");
    int64_t *r = malloc(rows->nelem * 8);
    memcpy(r, rows->data, rows->nelem * 8);
    double md = 0;
    for (size_t k = 0; k < rows->nelem; k++) {
        double d = maxdiff(h + r[k] * C, want + k * C, (size_t)C);
        md = d > md ? d : md;
    }
    snprintf(what, sizeof what, "%s token embeddings (%zu rows): max abs diff", label, rows->nelem);
    check(what, md, 1e-4);
    free(r);
    free(want);
    free(emb);
    ctk_encoder_free(enc);
    free_batch(&b);
}

static inline void invariance_checks(const char *dir, const char *fixture, const char *label)
{
    char what[4096];
    struct batch b;
    load_batch(&b, fixture);
    struct ctk_encoder *e1 = open_enc(dir, 1), *e2 = open_enc(dir, 2);
    int64_t S = b.t.S, D = e1->dim;
    float *ref = malloc((size_t)(S * D) * sizeof *ref), *emb = malloc((size_t)(S * D) * sizeof *emb);
    encode(e1, &b.t, ref, 0, 0);
    encode(e2, &b.t, emb, 0, 0);
    snprintf(what, sizeof what, "%s: 1 thread vs 2 threads, max abs diff", label);
    check(what, maxdiff(ref, emb, (size_t)(S * D)), 1e-6);
    int sizes[] = {1, 3};
    for (int k = 0; k < 2; k++) {
        /* the same sequences in batches of sizes[k], in reverse order of batches */
        for (int64_t s0 = S - (S - 1) % sizes[k] - 1; s0 >= 0; s0 -= sizes[k]) {
            int64_t n = S - s0 < sizes[k] ? S - s0 : sizes[k];
            int64_t offs[8];
            for (int64_t i = 0; i <= n; i++) offs[i] = b.t.offsets[s0 + i] - b.t.offsets[s0];
            const int32_t *types = b.t.type_ids ? b.t.type_ids + b.t.offsets[s0] : NULL;
            struct ctk_tokens t = {n, b.t.ids + b.t.offsets[s0], types, offs};
            encode(e2, &t, emb + s0 * D, 0, 0);
        }
        snprintf(what, sizeof what, "%s: batches of %d vs one batch, max abs diff", label, sizes[k]);
        check(what, maxdiff(ref, emb, (size_t)(S * D)), 1e-6);
    }
    free(ref);
    free(emb);
    ctk_encoder_free(e1);
    ctk_encoder_free(e2);
    free_batch(&b);
}

static inline void refusal(const char *src, const char *key, const char *val)
{
    char dir[4096], cmd[16384];
    snprintf(dir, sizeof dir, "%s/bad-%s", tmpdir, key);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && cp -r '%s' '%s' && sed -i 's/\"%s\": *[^,}]*/\"%s\": %s/' '%s/config.json'",
             dir, src, dir, key, key, val, dir);
    run(cmd);
    struct ctk_err e;
    struct ctk_encoder *enc = ctk_encoder_open(dir, 1, &e);
    char what[256];
    snprintf(what, sizeof what, "config %s %s: refused naming the field (0 = yes)", key, val);
    int ok = !enc && strstr(e.msg, key) != NULL;
    if (!ok) printf("    %s\n", enc ? "(opened)" : e.msg);
    check(what, !ok, 0);
    if (enc) ctk_encoder_free(enc);
}

static inline int test_begin(int argc, char **argv)
{
    if (getenv("CTK_SRCDIR")) srcdir = getenv("CTK_SRCDIR");
    if (getenv("CTK_BUILDDIR")) builddir = getenv("CTK_BUILDDIR");
    if (!mkdtemp(tmpdir)) die("cannot make a temporary folder");
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
#ifdef CTK_TEST_AMX
    int amx_emu_begin(void);
    quick = amx_emu_begin();
#endif
    return quick;
}

static inline int test_end(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "%s: could not remove %s\n", TEST_NAME, tmpdir);
    if (failures) printf("%s: %d check(s) failed\n", TEST_NAME, failures);
    return failures != 0;
}

#endif
