/*
 * test_mpnet.c -- the MPNet encoder (lib/mpnet.c) against the PyTorch
 * reference (tests/ref/mpnet_ref.py, float64):
 *
 *  - the relative position buckets of -1100..1100 as torch computes them;
 *  - forward: pooled embeddings (mean, cls, max, mean_sqrt_len; normalised
 *    and not) and sampled token embeddings for the models `ctk-init-model
 *    --preset tiny-mpnet|mpnet-base --seed 1` (made here at test time with
 *    the all-mpnet-base-v2 tokenizer.json of tests/data/tok), on a batch of
 *    1 to 512 tokens with a <pad> inside some sequences
 *    (tests/golden/mpnet/PRESET.safetensors);
 *  - the same embeddings with 1 and 2 threads and in batches of 1 and 3;
 *  - dropout seeded and on only in training; save and reopen gives the same
 *    embeddings; refusals name the field.
 * Gradients and training steps: tests/bats/mpnet.bats (train_grads, ctk-train-mnrl).
 *
 * Needs ctk-init-model in $CTK_BUILDDIR/bin. Prints every figure; exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "encoder.h"
#include "mpnet.h"
#include "transformer.h"
#include "safetensors.h"

static int failures;
static char tmpdir[] = "/tmp/ctk-test-mpnet-XXXXXX";
static const char *srcdir = ".", *builddir = ".";

static void check(const char *what, double v, double tol)
{
    int bad = !(v <= tol);
    printf("%-62s %.3g (tolerance %.0e)%s\n", what, v, tol, bad ? "  FAIL" : "");
    failures += bad;
}

static void die(const char *msg)
{
    fprintf(stderr, "test_mpnet: %s\n", msg);
    exit(1);
}

static void run(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "test_mpnet: failed: %s\n", cmd);
        exit(1);
    }
}

static void make_model(const char *preset, char *dir, size_t size)
{
    snprintf(dir, size, "%s/%s", tmpdir, preset);
    if (access(dir, F_OK) == 0) return;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s/bin/ctk-init-model' -q --preset %s --seed 1 --vocab "
             "'%s/tokenizer.json' -o '%s'", builddir, preset, tmpdir, dir);
    run(cmd);
}

static struct ctk_encoder *open_enc(const char *dir, int threads)
{
    struct ctk_err e;
    struct ctk_encoder *enc = ctk_encoder_open(dir, threads, &e);
    if (!enc) die(e.msg);
    if (!ctk_is_transformer(enc) || strcmp(enc->kind, "mpnet") != 0) die("not opened as MPNet");
    return enc;
}

struct batch {
    struct ctk_st st;
    struct ctk_tokens t;
};

static void load_batch(struct batch *b, const char *path)
{
    struct ctk_err e;
    if (ctk_st_open(&b->st, path, &e) < 0) die(e.msg);
    const struct ctk_st_tensor *ti = ctk_st_find(&b->st, "ids"), *to = ctk_st_find(&b->st, "offsets");
    if (!ti || !to) die("golden file without ids, offsets");
    int32_t *ids = malloc(ti->nelem * 4);
    int64_t *offs = malloc(to->nelem * 8);
    memcpy(ids, ti->data, ti->nelem * 4);
    memcpy(offs, to->data, to->nelem * 8);
    b->t = (struct ctk_tokens){(int64_t)to->nelem - 1, ids, NULL, offs};
}

static void free_batch(struct batch *b)
{
    free((void *)b->t.ids);
    free((void *)b->t.offsets);
    ctk_st_close(&b->st);
}

static float *golden_f32(struct batch *b, const char *name, size_t *n)
{
    struct ctk_err e;
    const struct ctk_st_tensor *t = ctk_st_find(&b->st, name);
    if (!t) die("golden file lacks a tensor");
    float *x = ctk_st_get_f32(&b->st, t, &e);
    if (!x) die(e.msg);
    if (n) *n = t->nelem;
    return x;
}

static double maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        m = d > m ? d : m;
    }
    return m;
}

static void encode(struct ctk_encoder *enc, const struct ctk_tokens *t, float *emb, int train,
                   uint64_t seed)
{
    struct ctk_err e;
    if (enc->ops->forward(enc, t, emb, train, seed, &e) < 0) die(e.msg);
}

static void bucket_checks(void)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/tests/golden/mpnet/tiny-mpnet.safetensors", srcdir);
    struct batch b;
    load_batch(&b, path);
    const struct ctk_st_tensor *t = ctk_st_find(&b.st, "buckets");
    if (!t || t->nelem != 2201) die("golden file without buckets[2201]");
    int32_t *want = malloc(t->nelem * 4);
    memcpy(want, t->data, t->nelem * 4);
    int bad = 0;
    for (int64_t r = -1100; r <= 1100; r++)
        if (ctk_mpnet_bucket(r) != want[r + 1100]) {
            if (bad < 5) printf("    bucket(%lld): %d, torch %d\n", (long long)r, ctk_mpnet_bucket(r), want[r + 1100]);
            bad++;
        }
    check("relative position buckets -1100..1100 differing from torch's", bad, 0);
    free(want);
    free_batch(&b);
}

static const char *modes[] = {"mean", "cls", "max", "mean_sqrt_len"};
static const char *mode_names[] = {"mean", "cls", "max", "mean_sqrt_len_tokens"};

static void forward_checks(const char *preset)
{
    char dir[2048], path[2048], what[4096];
    make_model(preset, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/golden/mpnet/%s.safetensors", srcdir, preset);
    struct batch b;
    load_batch(&b, path);
    struct ctk_encoder *enc = open_enc(dir, 2);
    struct ctk_err e;
    float *emb = malloc((size_t)(b.t.S * enc->dim) * sizeof *emb);
    for (int m = 0; m < 4; m++)
        for (int norm = 0; norm < 2; norm++) {
            if (ctk_transformer_set_pooling(enc, mode_names[m], &e) < 0) die(e.msg);
            enc->normalize = norm;
            encode(enc, &b.t, emb, 0, 0);
            snprintf(path, sizeof path, "pool.%s%s", modes[m], norm ? ".norm" : "");
            size_t n;
            float *want = golden_f32(&b, path, &n);
            if (n != (size_t)(b.t.S * enc->dim)) die("golden pooled size differs");
            snprintf(what, sizeof what, "%s %s: max abs diff", preset, path);
            /* mean_sqrt_len sums up to 512 rows / sqrt(512): 22 times the scale of a mean */
            check(what, maxdiff(emb, want, n), strcmp(modes[m], "mean_sqrt_len") || norm ? 1e-5 : 1e-4);
            free(want);
        }
    int64_t N, C;
    const float *h = ctk_transformer_last_hidden(enc, &N, &C);
    size_t nt;
    float *want = golden_f32(&b, "tokens", &nt);
    const struct ctk_st_tensor *rows = ctk_st_find(&b.st, "tokens.rows");
    int64_t *r = malloc(rows->nelem * 8);
    memcpy(r, rows->data, rows->nelem * 8);
    double md = 0;
    for (size_t k = 0; k < rows->nelem; k++) {
        double d = maxdiff(h + r[k] * C, want + k * C, (size_t)C);
        md = d > md ? d : md;
    }
    snprintf(what, sizeof what, "%s token embeddings (%zu rows): max abs diff", preset, rows->nelem);
    check(what, md, 1e-4);
    free(r);
    free(want);
    free(emb);
    ctk_encoder_free(enc);
    free_batch(&b);
}

static void invariance_checks(const char *preset)
{
    char dir[2048], path[2048], what[4096];
    make_model(preset, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/golden/mpnet/%s.safetensors", srcdir, preset);
    struct batch b;
    load_batch(&b, path);
    struct ctk_encoder *e1 = open_enc(dir, 1), *e2 = open_enc(dir, 2);
    int64_t S = b.t.S, D = e1->dim;
    float *ref = malloc((size_t)(S * D) * sizeof *ref), *emb = malloc((size_t)(S * D) * sizeof *emb);
    encode(e1, &b.t, ref, 0, 0);
    encode(e2, &b.t, emb, 0, 0);
    snprintf(what, sizeof what, "%s: 1 thread vs 2 threads, max abs diff", preset);
    check(what, maxdiff(ref, emb, (size_t)(S * D)), 1e-6);
    int sizes[] = {1, 3};
    for (int k = 0; k < 2; k++) {
        for (int64_t s0 = S - (S - 1) % sizes[k] - 1; s0 >= 0; s0 -= sizes[k]) {
            int64_t n = S - s0 < sizes[k] ? S - s0 : sizes[k];
            int64_t offs[8];
            for (int64_t i = 0; i <= n; i++) offs[i] = b.t.offsets[s0 + i] - b.t.offsets[s0];
            struct ctk_tokens t = {n, b.t.ids + b.t.offsets[s0], NULL, offs};
            encode(e2, &t, emb + s0 * D, 0, 0);
        }
        snprintf(what, sizeof what, "%s: batches of %d vs one batch, max abs diff", preset, sizes[k]);
        check(what, maxdiff(ref, emb, (size_t)(S * D)), 1e-6);
    }
    free(ref);
    free(emb);
    ctk_encoder_free(e1);
    ctk_encoder_free(e2);
    free_batch(&b);
}

/* dropout seeded, only in training; training forward without dropout = inference; save, reopen. */
static void dropout_and_save_checks(void)
{
    char dir[2048], path[2048], out[2100];
    make_model("tiny-mpnet", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/golden/mpnet/tiny-mpnet.safetensors", srcdir);
    struct batch b;
    load_batch(&b, path);
    struct ctk_encoder *enc = open_enc(dir, 2);
    int64_t S = b.t.S, D = enc->dim;
    size_t n = (size_t)(S * D);
    float *e0 = malloc(n * 4), *e1 = malloc(n * 4), *e2 = malloc(n * 4), *e3 = malloc(n * 4);
    encode(enc, &b.t, e0, 0, 0);
    encode(enc, &b.t, e1, 1, 7);
    encode(enc, &b.t, e2, 1, 7);
    encode(enc, &b.t, e3, 1, 8);
    check("training forward, same seed twice: max abs diff", maxdiff(e1, e2, n), 0);
    check("training forward, dropout on: differs from inference (want > 1e-3)",
          maxdiff(e0, e1, n) > 1e-3 ? 0 : 1, 0);
    check("training forward, other seed: differs (want > 1e-3)", maxdiff(e1, e3, n) > 1e-3 ? 0 : 1, 0);
    struct ctk_err e;
    if (ctk_transformer_set_dropout(enc, 0, 0, &e) < 0) die(e.msg);
    encode(enc, &b.t, e1, 1, 7);
    check("training forward, dropout off, vs inference: max abs diff", maxdiff(e0, e1, n), 1e-6);
    snprintf(out, sizeof out, "%s/saved", tmpdir);
    if (enc->ops->save(enc, out, &e) < 0) die(e.msg);
    struct ctk_encoder *re = open_enc(out, 1);
    encode(re, &b.t, e2, 0, 0);
    check("saved and reopened: max abs diff", maxdiff(e0, e2, n), 0);
    int same = re->nparams == enc->nparams;
    for (int i = 0; same && i < re->nparams; i++) same = strcmp(re->params[i].name, enc->params[i].name) == 0;
    check("saved and reopened: the same tensor names (0 = yes)", !same, 0);
    ctk_encoder_free(re);
    free(e0);
    free(e1);
    free(e2);
    free(e3);
    ctk_encoder_free(enc);
    free_batch(&b);
}

/* A folder with config.json's field set to value must be refused naming the field. */
static void refusal(const char *dir, const char *field, const char *value)
{
    char cmd[8192], bad[2100];
    snprintf(bad, sizeof bad, "%s/bad", tmpdir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s' && sed -i 's/\"%s\": [^,]*/\"%s\": %s/' "
             "'%s/config.json'", bad, dir, bad, field, field, value, bad);
    run(cmd);
    struct ctk_err e;
    struct ctk_encoder *enc = ctk_encoder_open(bad, 1, &e);
    char what[256];
    snprintf(what, sizeof what, "config %s %s: refused naming the field (0 = yes)", field, value);
    int ok = !enc && strstr(e.msg, field) != NULL;
    if (!ok) printf("    %s\n", enc ? "(opened)" : e.msg);
    check(what, !ok, 0);
    if (enc) ctk_encoder_free(enc);
}

int main(int argc, char **argv)
{
    if (getenv("CTK_SRCDIR")) srcdir = getenv("CTK_SRCDIR");
    if (getenv("CTK_BUILDDIR")) builddir = getenv("CTK_BUILDDIR");
    if (!mkdtemp(tmpdir)) die("cannot make a temporary folder");
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
#ifdef CTK_TEST_AMX /* test_mpnet_amx: the small model only, on the emulated AMX kernel */
    int amx_emu_begin(void);
    quick = amx_emu_begin();
#endif
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s/tests/data/tok/models/all-mpnet-base-v2/tokenizer.json.gz' "
             "> '%s/tokenizer.json'", srcdir, tmpdir);
    run(cmd);
    bucket_checks();
    const char *presets[] = {"tiny-mpnet", "mpnet-base"};
    for (int p = 0; p < (quick ? 1 : 2); p++) {
        forward_checks(presets[p]);
        invariance_checks(presets[p]);
    }
    dropout_and_save_checks();
    char tiny[4096];
    make_model("tiny-mpnet", tiny, sizeof tiny);
    refusal(tiny, "hidden_act", "\"relu\"");
    refusal(tiny, "num_attention_heads", "5");
    refusal(tiny, "relative_attention_num_buckets", "16");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "test_mpnet: could not remove %s\n", tmpdir);
    if (failures) printf("test_mpnet: %d check(s) failed\n", failures);
    return failures != 0;
}
