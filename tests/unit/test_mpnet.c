/*
 * test_mpnet.c -- the MPNet encoder (lib/mpnet.c on lib/transformer.c)
 * against the PyTorch reference (tests/ref/mpnet_ref.py, float64):
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

#include "mpnet.h"

#define TEST_NAME "test_mpnet"
#define KIND "mpnet"
#define TMPDIR_TEMPLATE "/tmp/ctk-test-mpnet-XXXXXX"
#include "transformer_check.h"

static void make_model(const char *preset, char *dir, size_t size)
{
    snprintf(dir, size, "%s/%s", tmpdir, preset);
    if (access(dir, F_OK) == 0) return;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s/bin/ctk-init-model' -q --preset %s --seed 1 --vocab "
             "'%s/tokenizer.json' -o '%s'", builddir, preset, tmpdir, dir);
    run(cmd);
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

/* The fixture of a preset, and the forward and invariance checks on it. */
static void model_checks(const char *preset)
{
    char dir[2048], path[2048];
    make_model(preset, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/golden/mpnet/%s.safetensors", srcdir, preset);
    forward_checks(dir, path, preset);
    invariance_checks(dir, path, preset);
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

int main(int argc, char **argv)
{
    int quick = test_begin(argc, argv);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s/tests/data/tok/models/all-mpnet-base-v2/tokenizer.json.gz' "
             "> '%s/tokenizer.json'", srcdir, tmpdir);
    run(cmd);
    bucket_checks();
    const char *presets[] = {"tiny-mpnet", "mpnet-base"};
    for (int p = 0; p < (quick ? 1 : 2); p++) model_checks(presets[p]);
    dropout_and_save_checks();
    char tiny[4096];
    make_model("tiny-mpnet", tiny, sizeof tiny);
    refusal(tiny, "hidden_act", "\"relu\"");
    refusal(tiny, "num_attention_heads", "5");
    refusal(tiny, "relative_attention_num_buckets", "16");
    return test_end();
}
