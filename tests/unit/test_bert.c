/*
 * test_bert.c -- the BERT encoder (lib/bert.c on lib/transformer.c) against
 * the PyTorch reference (tests/ref/bert_ref.py, computing in float64):
 *
 *  - forward: pooled embeddings (mean, cls, max, mean_sqrt_len; normalised
 *    and not) and token embeddings (last hidden state), for the models
 *    `ctk-init-model --preset tiny|minilm-l6 --seed 1` in F32 and F16, made
 *    here at test time (same bytes everywhere), on a batch of sequences of
 *    1 to 512 tokens (tests/golden/bert/PRESET.DTYPE.safetensors);
 *  - the same embeddings with 1 and 2 threads and whatever the batch size;
 *  - backward: the gradient of every parameter for the loss sum(w * emb),
 *    dropout off (tests/golden/bert/PRESET.grad.safetensors; for minilm-l6
 *    a sample of rows of each tensor), per-tensor relative L2 error;
 *  - dropout: seeded (same seed, same embeddings), on only in training;
 *  - save and reopen gives the same embeddings; refusals of unsupported
 *    configurations name the field.
 *
 * Needs ctk-init-model in $CTK_BUILDDIR/bin (make check provides it).
 * Prints every figure; exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bert.h"
#include "blas.h"
#include "fsutil.h"

#define TEST_NAME "test_bert"
#define KIND "bert"
#define TMPDIR_TEMPLATE "/tmp/ctk-test-bert-XXXXXX"
#include "transformer_check.h"

static void make_model(const char *preset, const char *dtype, char *dir, size_t size)
{
    snprintf(dir, size, "%s/%s-%s", tmpdir, preset, dtype);
    if (access(dir, F_OK) == 0) return;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s/bin/ctk-init-model' -q --preset %s --seed 1 --dtype %s -o '%s'",
             builddir, preset, dtype, dir);
    run(cmd);
}

/* The fixture of a preset and dtype, and the forward and invariance checks on it. */
static void model_checks(const char *preset, const char *dtype, int invariance)
{
    char dir[2048], path[2048], label[256];
    make_model(preset, dtype, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/golden/bert/%s.%s.safetensors", srcdir, preset, dtype);
    snprintf(label, sizeof label, "%s %s", preset, dtype);
    forward_checks(dir, path, label);
    if (invariance) invariance_checks(dir, path, preset);
}

/* --- backward against the reference ----------------------------------------- */

static void grad_checks(const char *preset, const char *file)
{
    char dir[2048], path[2048], what[4096];
    make_model(preset, "f32", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/golden/bert/%s.safetensors", srcdir, file);
    struct batch b;
    load_batch(&b, path);
    struct ctk_encoder *enc = open_enc(dir, 2);
    struct ctk_err e;
    const char *pool = ctk_st_meta(&b.st, "pooling"), *norm = ctk_st_meta(&b.st, "normalize");
    if (!pool || !norm) die("grad golden without pooling/normalize metadata");
    const char *pm = strcmp(pool, "mean_sqrt_len") == 0 ? "mean_sqrt_len_tokens" : pool;
    if (ctk_transformer_set_pooling(enc, pm, &e) < 0 || ctk_transformer_set_dropout(enc, 0, 0, &e) < 0) die(e.msg);
    enc->normalize = atoi(norm);
    int64_t S = b.t.S, D = enc->dim;
    float *emb = malloc((size_t)(S * D) * sizeof *emb), *w = golden_f32(&b, "w", NULL);
    float *loss_ref = golden_f32(&b, "loss", NULL);
    ctk_encoder_alloc_grads(enc);
    if (enc->ops->forward(enc, &b.t, emb, 1, 123, &e) < 0) die(e.msg);
    double loss = 0;
    for (int64_t i = 0; i < S * D; i++) loss += (double)emb[i] * w[i];
    printf("%s (pooling %s, normalize %s):\n", file, pool, norm);
    snprintf(what, sizeof what, "%s: loss sum(w*emb), relative diff", preset);
    check(what, fabs(loss - loss_ref[0]) / fabs(loss_ref[0]), 1e-5);
    enc->ops->backward(enc, w);
    double worst = 0;
    const char *worst_name = "";
    int zero_ok = 1;
    for (int i = 0; i < enc->nparams; i++) {
        const struct ctk_param *p = &enc->params[i];
        char nm[300];
        snprintf(nm, sizeof nm, "grad.%s", p->name);
        size_t n;
        float *g = golden_f32(&b, nm, &n);
        snprintf(nm, sizeof nm, "grad.%s.rows", p->name);
        const struct ctk_st_tensor *rt = ctk_st_find(&b.st, nm);
        size_t rowlen = p->ndim == 2 ? (size_t)p->shape[1] : 1;
        size_t nrows = rt ? rt->nelem : n / rowlen;
        double num = 0, den = 0, mine = 0;
        for (size_t k = 0; k < nrows; k++) {
            int64_t row = (int64_t)k;
            if (rt) memcpy(&row, (const char *)rt->data + 8 * k, 8);
            for (size_t j = 0; j < rowlen; j++) {
                double a = p->g[(size_t)row * rowlen + j], r = g[k * rowlen + j];
                num += (a - r) * (a - r);
                den += r * r;
                mine += a * a;
            }
        }
        if (sqrt(den) < 1e-6) {
            /* a gradient that is zero in exact arithmetic (the key bias: softmax
               ignores a constant added to a row of scores): ours must be tiny */
            if (sqrt(mine) > 1e-5) {
                printf("%s: %s should be 0, has norm %.3g\n", preset, p->name, sqrt(mine));
                zero_ok = 0;
            }
        } else if (sqrt(num / den) > worst) {
            worst = sqrt(num / den);
            worst_name = p->name;
        }
        free(g);
    }
    snprintf(what, sizeof what, "%s: worst per-tensor relative L2 gradient error", preset);
    check(what, worst, 1e-4);
    printf("    (worst tensor: %s)\n", worst_name);
    snprintf(what, sizeof what, "%s: zero gradients stay below 1e-5 (0 = yes)", preset);
    check(what, !zero_ok, 0);
    free(emb);
    free(w);
    free(loss_ref);
    ctk_encoder_free(enc);
    free_batch(&b);
}

/* --- dropout, save, refusals -------------------------------------------------- */

static void dropout_and_save_checks(void)
{
    char dir[4096], path[4096];
    make_model("tiny", "f32", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/golden/bert/tiny.f32.safetensors", srcdir);
    struct batch b;
    load_batch(&b, path);
    struct ctk_encoder *enc = open_enc(dir, 2);
    struct ctk_err e;
    int64_t S = b.t.S, D = enc->dim;
    size_t n = (size_t)(S * D);
    float *a = malloc(n * 4), *t1 = malloc(n * 4), *t2 = malloc(n * 4), *t3 = malloc(n * 4);
    encode(enc, &b.t, a, 0, 0);
    if (enc->ops->forward(enc, &b.t, t1, 1, 5, &e) < 0 || enc->ops->forward(enc, &b.t, t2, 1, 5, &e) < 0 ||
        enc->ops->forward(enc, &b.t, t3, 1, 6, &e) < 0)
        die(e.msg);
    check("dropout: training, same seed: max abs diff", maxdiff(t1, t2, n), 0);
    check("dropout: training, other seed differs (0 = yes)", maxdiff(t1, t3, n) < 1e-3, 0);
    check("dropout: training differs from inference (0 = yes)", maxdiff(t1, a, n) < 1e-3, 0);
    encode(enc, &b.t, t2, 0, 0);
    check("dropout: inference after training unchanged: max abs diff", maxdiff(a, t2, n), 0);

    snprintf(path, sizeof path, "%s/saved", tmpdir);
    if (enc->ops->save(enc, path, &e) < 0) die(e.msg);
    struct ctk_encoder *re = open_enc(path, 1);
    encode(re, &b.t, t2, 0, 0);
    check("save and reopen: max abs diff", maxdiff(a, t2, n), 0);
    ctk_encoder_free(re);
    ctk_encoder_free(enc);
    free(a), free(t1), free(t2), free(t3);
    free_batch(&b);
}

/*
 * With dropout on, backward must use forward's masks: the directional
 * derivative of loss = sum(w * emb) along a random direction v of all
 * parameters, by central differences (same seed, so the same masks), against
 * g . v. And the gradients do not depend on the number of threads.
 */
static void dropout_gradient_checks(void)
{
    char dir[2048], path[4096];
    make_model("tiny", "f32", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/golden/bert/tiny.grad.safetensors", srcdir);
    struct batch b;
    load_batch(&b, path);
    struct ctk_encoder *enc = open_enc(dir, 2), *e1 = open_enc(dir, 1);
    struct ctk_err e;
    int64_t S = b.t.S, D = enc->dim;
    float *emb = malloc((size_t)(S * D) * 4), *w = golden_f32(&b, "w", NULL);
    ctk_encoder_alloc_grads(enc);
    ctk_encoder_alloc_grads(e1);
    uint64_t seed = 9;
    if (enc->ops->forward(enc, &b.t, emb, 1, seed, &e) < 0 || e1->ops->forward(e1, &b.t, emb, 1, seed, &e) < 0)
        die(e.msg);
    enc->ops->backward(enc, w);
    e1->ops->backward(e1, w);
    double gdiff = 0;
    for (int i = 0; i < enc->nparams; i++)
        for (size_t k = 0; k < enc->params[i].n; k++)
            gdiff = fmax(gdiff, fabs((double)enc->params[i].g[k] - e1->params[i].g[k]));
    check("dropout on: gradients, 1 vs 2 threads, max abs diff", gdiff, 0);
    /* direction: ±1 on every parameter element, scaled by eps */
    double gv = 0, eps = 1e-3;
    uint64_t st = 77;
    for (int i = 0; i < enc->nparams; i++)
        for (size_t k = 0; k < enc->params[i].n; k++) {
            uint64_t z = (st += 0x9e3779b97f4a7c15ULL);
            double v = (z >> 63) ? 1 : -1;
            gv += v * enc->params[i].g[k];
        }
    double lp = 0, lm = 0;
    for (int sign = 1; sign >= -1; sign -= 2) {
        st = 77;
        for (int i = 0; i < enc->nparams; i++)
            for (size_t k = 0; k < enc->params[i].n; k++) {
                uint64_t z = (st += 0x9e3779b97f4a7c15ULL);
                enc->params[i].w[k] += (float)(sign * eps * ((z >> 63) ? 1 : -1));
            }
        if (enc->ops->forward(enc, &b.t, emb, 1, seed, &e) < 0) die(e.msg);
        double l = 0;
        for (int64_t i = 0; i < S * D; i++) l += (double)emb[i] * w[i];
        if (sign > 0) lp = l;
        else lm = l;
        st = 77;
        for (int i = 0; i < enc->nparams; i++)
            for (size_t k = 0; k < enc->params[i].n; k++) {
                uint64_t z = (st += 0x9e3779b97f4a7c15ULL);
                enc->params[i].w[k] -= (float)(sign * eps * ((z >> 63) ? 1 : -1));
            }
    }
    double num = (lp - lm) / (2 * eps);
    printf("    dropout on: directional derivative %.6g by differences, %.6g by backward\n", num, gv);
    check("dropout on: directional derivative, relative diff", fabs(num - gv) / fabs(gv), 1e-2);
    free(emb);
    free(w);
    ctk_encoder_free(enc);
    ctk_encoder_free(e1);
    free_batch(&b);
}

/* Weights named "bert.*" (BertForMaskedLM checkpoints) and BF16 weights load too. */
static void naming_and_bf16_checks(void)
{
    char dir[2048], path[8192], pdir[2048], cmd[8192];
    make_model("tiny", "f32", dir, sizeof dir);
    snprintf(pdir, sizeof pdir, "%s/prefixed", tmpdir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", pdir, dir, pdir);
    if (system(cmd) != 0) die("cannot copy a model folder");
    struct ctk_err e;
    struct ctk_st st;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (ctk_st_open(&st, path, &e) < 0) die(e.msg);
    struct ctk_st_wtensor *wt = calloc(st.ntensors, sizeof *wt);
    char **names = calloc(st.ntensors, sizeof *names);
    for (size_t i = 0; i < st.ntensors; i++) {
        const struct ctk_st_tensor *t = &st.tensors[i];
        names[i] = malloc(strlen(t->name) + 8);
        sprintf(names[i], "bert.%s", t->name);
        wt[i].name = names[i];
        wt[i].dtype = t->dtype;
        wt[i].ndim = t->ndim;
        memcpy(wt[i].shape, t->shape, sizeof t->shape);
        wt[i].data = t->data;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", pdir);
    if (ctk_st_write(path, wt, st.ntensors, NULL, &e) < 0) die(e.msg);
    for (size_t i = 0; i < st.ntensors; i++) free(names[i]);
    free(names);
    free(wt);
    ctk_st_close(&st);

    snprintf(path, sizeof path, "%s/tests/golden/bert/tiny.f32.safetensors", srcdir);
    struct batch b;
    load_batch(&b, path);
    struct ctk_encoder *a = open_enc(dir, 1), *p = open_enc(pdir, 1);
    size_t n = (size_t)(b.t.S * a->dim);
    float *ea = malloc(n * 4), *ep = malloc(n * 4);
    encode(a, &b.t, ea, 0, 0);
    encode(p, &b.t, ep, 0, 0);
    check("weights named bert.*: max abs diff", maxdiff(ea, ep, n), 0);
    ctk_encoder_free(p);

    /* BF16: the same model rounded to 8 bits of mantissa; no reference, so
       the embeddings must stay close to F32's (normalised: cosine above 0.999) */
    make_model("tiny", "bf16", pdir, sizeof pdir);
    p = open_enc(pdir, 1);
    encode(p, &b.t, ep, 0, 0);
    double worst = 1;
    for (int64_t s = 0; s < b.t.S; s++) {
        double dot = 0;
        for (int64_t i = 0; i < a->dim; i++) dot += (double)ea[s * a->dim + i] * ep[s * a->dim + i];
        worst = dot < worst ? dot : worst;
    }
    check("BF16 weights: 1 - worst cosine to F32's embeddings", 1 - worst, 1e-3);
    ctk_encoder_free(p);
    ctk_encoder_free(a);
    free(ea), free(ep);
    free_batch(&b);
}

int main(int argc, char **argv)
{
    int quick = test_begin(argc, argv);
    const char *presets[] = {"tiny", "minilm-l6"};
    for (int p = 0; p < (quick ? 1 : 2); p++) {
        model_checks(presets[p], "f32", 1);
        model_checks(presets[p], "f16", 0);
        char file[64];
        snprintf(file, sizeof file, "%s.grad", presets[p]);
        grad_checks(presets[p], file);
    }
    grad_checks("tiny", "tiny.grad-max");
    dropout_and_save_checks();
    naming_and_bf16_checks();
    dropout_gradient_checks();
    /* OpenBLAS kernel choice (blas.h): generic fallbacks are replaced, good kernels kept */
    struct { const char *core; int avx512, avx2; const char *want; } bc[] = {
        {"Prescott", 1, 1, "SkylakeX"}, {"Prescott", 0, 1, "Haswell"}, {"Core2", 0, 1, "Haswell"},
        {"Nehalem", 1, 1, "SkylakeX"}, {"Sandybridge", 0, 1, "Haswell"}, {"Prescott", 0, 0, NULL},
        {"Haswell", 0, 1, NULL}, {"Haswell", 1, 1, "SkylakeX"}, {"SkylakeX", 1, 1, NULL},
        {"Cooperlake", 1, 1, NULL}, {"Zen", 0, 1, NULL}, {"SapphireRapids", 1, 1, NULL}};
    int bad = 0;
    for (size_t i = 0; i < sizeof bc / sizeof *bc; i++) {
        const char *got = ctk_blas_better_core(bc[i].core, bc[i].avx512, bc[i].avx2);
        if (!(got == bc[i].want || (got && bc[i].want && strcmp(got, bc[i].want) == 0))) {
            printf("    %s (avx512f %d, avx2 %d): got %s, want %s\n", bc[i].core, bc[i].avx512,
                   bc[i].avx2, got ? got : "none", bc[i].want ? bc[i].want : "none");
            bad++;
        }
    }
    check("OpenBLAS kernel choice: wrong answers", bad, 0);
    printf("    (this machine: OpenBLAS runs its %s kernels)\n", ctk_blas_corename());

    char tiny[4096];
    make_model("tiny", "f32", tiny, sizeof tiny);
    refusal(tiny, "hidden_act", "\"relu\"");
    refusal(tiny, "position_embedding_type", "\"relative_key\"");
    refusal(tiny, "num_attention_heads", "5");
    refusal(tiny, "model_type", "\"gpt2\"");
    return test_end();
}
