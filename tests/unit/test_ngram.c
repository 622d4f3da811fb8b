/*
 * test_ngram.c -- the built-in n-gram encoder against independent references:
 *   - the hash against published FNV-1a 64 test vectors and MurmurHash3's fmix64;
 *   - feature ids against tests/golden/ngram_features.tsv, made by
 *     tests/ref/ngram_features.py (a separate Python implementation of the
 *     spec in ngram.h), and a hand-derived feature list;
 *   - forward against a direct computation in double;
 *   - backward against central finite differences of that double computation;
 *   - dropout masks replayed by seed; touched rows; save and open round trip.
 * Exits non-zero on any mismatch.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "encoder.h"
#include "err.h"
#include "ngram.h"
#include "rng.h"
#include "check.h"

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static void test_hash(void)
{
    /* FNV-1a 64 test vectors (Fowler/Noll/Vo reference test suite) */
    CHECK(ctk_ngram_hash(0, 'a', "", 0) == fmix64(0xaf63dc4c8601ec8cULL), "fnv1a64(\"a\")");
    CHECK(ctk_ngram_hash(0, 'f', "oobar", 5) == fmix64(0x85944171f73967e8ULL), "fnv1a64(\"foobar\")");
    CHECK(ctk_ngram_hash(1, 'f', "oobar", 5) != ctk_ngram_hash(0, 'f', "oobar", 5), "seed changes the hash");
}

/* A hand-derived feature list: "Hi, don't!" with words 1-2 and characters 3-4. */
static void test_features_hand(void)
{
    struct ctk_ngram_cfg c;
    ctk_ngram_cfg_default(&c);
    c.buckets = 1000003;
    c.char_min = 3;
    c.char_max = 4;
    /* tokens: "hi" "," "don't" "!" */
    static const struct { char tag; const char *s; } want[] = {
        {'w', "hi"}, {'c', "<hi"}, {'c', "<hi>"}, {'c', "hi>"},
        {'w', ","}, {'w', "hi ,"},
        {'w', "don't"}, {'w', ", don't"},
        {'c', "<do"}, {'c', "<don"}, {'c', "don"}, {'c', "don'"}, {'c', "on'"}, {'c', "on't"},
        {'c', "n't"}, {'c', "n't>"}, {'c', "'t>"},
        {'w', "!"}, {'w', "don't !"},
    };
    size_t nw = sizeof want / sizeof want[0];
    int32_t ids[64];
    const char *text = "Hi, DON'T!";
    int64_t n = ctk_ngram_features(&c, text, strlen(text), ids, 64);
    CHECK(n == (int64_t)nw, "hand list: %lld features, want %zu", (long long)n, nw);
    for (size_t i = 0; i < nw && (int64_t)i < n; i++) {
        int32_t id = (int32_t)(ctk_ngram_hash(0, want[i].tag, want[i].s, strlen(want[i].s)) %
                               (uint64_t)c.buckets);
        CHECK(ids[i] == id, "hand list: feature %zu (%c \"%s\") id %d, want %d", i, want[i].tag,
              want[i].s, ids[i], id);
    }
    /* truncation reports the full count */
    CHECK(ctk_ngram_features(&c, text, strlen(text), ids, 3) == (int64_t)nw, "count beyond cap");
    CHECK(ctk_ngram_features(&c, "", 0, ids, 64) == 0, "empty text has no features");
    CHECK(ctk_ngram_features(&c, " \t\n", 3, ids, 64) == 0, "white space has no features");
}

/* Golden ids from the Python reference: lines "text<TAB>id id id...". */
static void test_features_golden(const char *srcdir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/ngram_features.tsv", srcdir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    struct ctk_ngram_cfg c;
    ctk_ngram_cfg_default(&c);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lines = 0;
    int32_t *ids = xmallocarray(65536, sizeof *ids);
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') line[--len] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        /* the text is written with \t \n \\ escaped */
        char *t = line, *w = line;
        for (; *t; t++) {
            if (*t == '\\' && t[1]) {
                t++;
                *w++ = *t == 't' ? '\t' : *t == 'n' ? '\n' : *t;
            } else
                *w++ = *t;
        }
        size_t tlen = (size_t)(w - line);
        int64_t n = ctk_ngram_features(&c, line, tlen, ids, 65536);
        int64_t k = 0;
        int bad = 0;
        for (char *p = tab + 1; *p;) {
            long v = strtol(p, &p, 10);
            if (k >= n || ids[k] != v) bad = 1;
            k++;
        }
        CHECK(!bad && k == n, "golden line %d (\"%.40s\"): %lld ids, want %lld, or an id differs",
              lines + 1, line, (long long)n, (long long)k);
        lines++;
    }
    CHECK(lines >= 10, "golden file has %d lines", lines);
    free(ids);
    free(line);
    fclose(f);
}

/* Training mode as encoder.c sets it up: zeroed gradient buffers. */
static void alloc_grads(struct ctk_encoder *enc)
{
    for (int i = 0; i < enc->nparams; i++) enc->params[i].g = xcalloc(enc->params[i].n, sizeof(float));
}

static void free_encoder(struct ctk_encoder *enc) { enc->ops->free(enc); }

/* --- the encoder against a double-precision direct computation --------- */

struct batch {
    int64_t S;
    int32_t ids[32];
    int64_t off[8];
};

/* out (S x D) in double from the parameter tensors of enc. */
static void ref_forward(const struct ctk_encoder *enc, const struct ctk_ngram_cfg *c,
                        const struct batch *b, double *out)
{
    int64_t D = c->dim;
    const float *E = enc->params[0].w;
    for (int64_t s = 0; s < b->S; s++) {
        double p[64] = {0}, h[64];
        int64_t n = b->off[s + 1] - b->off[s];
        for (int64_t k = b->off[s]; k < b->off[s + 1]; k++)
            for (int64_t j = 0; j < D; j++) p[j] += E[b->ids[k] * D + j];
        double sc = n == 0 ? 0 : c->pooling == CTK_NGRAM_MEAN ? 1.0 / n : 1.0 / sqrt((double)n);
        for (int64_t j = 0; j < D; j++) p[j] *= sc;
        if (c->dense) {
            const float *W = enc->params[1].w, *bb = enc->params[2].w;
            for (int64_t i = 0; i < D; i++) {
                double z = bb[i];
                for (int64_t j = 0; j < D; j++) z += (double)W[i * D + j] * p[j];
                h[i] = c->activation == CTK_NGRAM_TANH ? tanh(z) : z;
            }
        } else
            memcpy(h, p, sizeof h);
        double nn = 0;
        for (int64_t j = 0; j < D; j++) nn += h[j] * h[j];
        nn = sqrt(nn);
        if (nn < 1e-12) nn = 1e-12;
        for (int64_t j = 0; j < D; j++) out[s * D + j] = h[j] / nn;
    }
}

static double ref_loss(const struct ctk_encoder *enc, const struct ctk_ngram_cfg *c,
                       const struct batch *b, const float *dout)
{
    double out[8 * 64], L = 0;
    ref_forward(enc, c, b, out);
    for (int64_t i = 0; i < b->S * c->dim; i++) L += dout[i] * out[i];
    return L;
}

static void test_encoder(struct ctk_ngram_cfg c, const char *what)
{
    struct ctk_err e;
    int64_t D = c.dim;
    struct ctk_encoder *enc = ctk_ngram_new(&c, &e);
    CHECK(enc != NULL, "%s: new: %s", what, e.msg);
    if (!enc) return;
    CHECK(enc->dim == D && enc->normalize == 1 && strcmp(enc->kind, "ctk-ngram") == 0, "%s: fields", what);
    struct ctk_rng g;
    ctk_rng_seed(&g, 7);
    if (c.dense) {
        /* a non-trivial dense layer, so that its gradients are checked */
        for (size_t i = 0; i < enc->params[1].n; i++) enc->params[1].w[i] += ctk_rng_normal_f32(&g, 0, 0.3f);
        for (size_t i = 0; i < enc->params[2].n; i++) enc->params[2].w[i] = ctk_rng_normal_f32(&g, 0, 0.1f);
    }
    /* sequences: repeated id, a sequence of one, an empty sequence */
    struct batch b = {.S = 4, .ids = {3, 17, 3, 40, 5, 17, 62, 9, 9, 0}, .off = {0, 4, 5, 5, 10}};
    struct ctk_tokens t = {.S = b.S, .ids = b.ids, .offsets = b.off};
    float emb[8 * 64];
    CHECK(enc->ops->forward(enc, &t, emb, 0, 0, &e) == 0, "%s: forward: %s", what, e.msg);
    /* rows are now made: the reference reads them from params[0].w */
    double ref[8 * 64];
    ref_forward(enc, &c, &b, ref);
    double maxd = 0;
    for (int64_t i = 0; i < b.S * D; i++) maxd = fmax(maxd, fabs(emb[i] - ref[i]));
    printf("%s: forward max |diff| %.3g\n", what, maxd);
    CHECK(maxd < 1e-5, "%s: forward differs from the direct computation by %g", what, maxd);
    /* the made rows are the seeded initial rows */
    float row[64];
    ctk_ngram_init_row(&c, 40, row);
    CHECK(memcmp(row, enc->params[0].w + 40 * D, (size_t)D * sizeof(float)) == 0, "%s: row 40 init", what);
    struct ctk_rng rr;
    ctk_rng_seed_stream(&rr, c.init_seed, 40);
    float r0 = ctk_rng_normal_f32(&rr, 0, (float)c.init_std);
    CHECK(row[0] == r0, "%s: row 40 is not rng stream 40's first normal (%g vs %g)", what, row[0], r0);

    /* backward vs central differences of the double reference */
    alloc_grads(enc);
    float dout[8 * 64];
    for (int64_t i = 0; i < b.S * D; i++) dout[i] = ctk_rng_normal_f32(&g, 0, 1);
    CHECK(enc->ops->forward(enc, &t, emb, 1, 99, &e) == 0, "%s: train forward: %s", what, e.msg);
    enc->ops->backward(enc, dout);
    struct ctk_param *pe = &enc->params[0];
    /* touched = the distinct ids of the batch */
    int want_touched[64] = {0}, ndistinct = 0;
    for (int k = 0; k < 10; k++) if (!want_touched[b.ids[k]]++) ndistinct++;
    CHECK((int)pe->ntouched == ndistinct, "%s: %zu touched rows, want %d", what, pe->ntouched, ndistinct);
    for (size_t i = 0; i < pe->ntouched; i++)
        CHECK(pe->touched[i] >= 0 && pe->touched[i] < 64 && want_touched[pe->touched[i]],
              "%s: touched row %lld not in the batch", what, (long long)pe->touched[i]);
    double worst = 0;
    for (int pi = 0; pi < enc->nparams; pi++) {
        struct ctk_param *p = &enc->params[pi];
        for (size_t i = 0; i < p->n; i++) {
            if (pi == 0 && !want_touched[i / (size_t)D]) {
                CHECK(p->g[i] == 0, "%s: gradient of an untouched row %zu", what, i / (size_t)D);
                continue;
            }
            float w0 = p->w[i];
            double hh = 1e-3;
            p->w[i] = (float)(w0 + hh);
            double hp = p->w[i] - (double)w0;
            double Lp = ref_loss(enc, &c, &b, dout);
            p->w[i] = (float)(w0 - hh);
            double hm = (double)w0 - p->w[i];
            double Lm = ref_loss(enc, &c, &b, dout);
            p->w[i] = w0;
            double fd = (Lp - Lm) / (hp + hm);
            double d = fabs(fd - p->g[i]) / (1e-3 + fabs(fd));
            if (d > worst) worst = d;
            if (d > 2e-2)
                CHECK(0, "%s: %s[%zu]: backward %g, finite differences %g", what, p->name, i, p->g[i], fd);
        }
    }
    printf("%s: backward max relative diff vs finite differences %.3g\n", what, worst);
    /* a second backward accumulates and lists the same rows */
    size_t nt = pe->ntouched;
    float g0 = pe->g[3 * D];
    enc->ops->backward(enc, dout);
    CHECK(pe->ntouched == nt, "%s: a repeated backward lists other rows", what);
    CHECK(fabsf(pe->g[3 * D] - 2 * g0) <= 1e-6f * (1 + fabsf(g0)), "%s: backward does not accumulate", what);
    free_encoder(enc);
}

static void test_dropout_and_save(void)
{
    struct ctk_err e;
    struct ctk_ngram_cfg c;
    ctk_ngram_cfg_default(&c);
    c.buckets = 4096;
    c.dim = 16;
    c.init_std = 0.25;
    c.feature_dropout = 0.5;
    c.dense = 1;
    struct ctk_encoder *enc = ctk_ngram_new(&c, &e);
    int32_t ids[200];
    const char *txt = "We plan to build a data pipeline next quarter";
    int64_t n = ctk_ngram_features(&c, txt, strlen(txt), ids, 200);
    int64_t off[2] = {0, n};
    struct ctk_tokens t = {.S = 1, .ids = ids, .offsets = off};
    float a[16], b[16], c1[16], d[16];
    enc->ops->forward(enc, &t, a, 1, 5, &e);
    enc->ops->forward(enc, &t, b, 1, 5, &e);
    enc->ops->forward(enc, &t, c1, 1, 6, &e);
    enc->ops->forward(enc, &t, d, 0, 5, &e);
    CHECK(memcmp(a, b, sizeof a) == 0, "dropout: the same seed gives different masks");
    CHECK(memcmp(a, c1, sizeof a) != 0, "dropout: another seed gives the same masks");
    CHECK(memcmp(a, d, sizeof a) != 0, "dropout: applied outside training");

    /* change a row and the dense layer, save, open, compare */
    enc->params[0].w[ids[0] * 16 + 3] += 0.5f;
    enc->params[1].w[5] = 0.25f;
    char dir[] = "/tmp/test_ngram.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char model[300];
    snprintf(model, sizeof model, "%s/m", dir);
    CHECK(enc->ops->save(enc, model, &e) == 0, "save: %s", e.msg);
    struct ctk_encoder *back = ctk_ngram_open(model, 1, &e);
    CHECK(back != NULL, "open: %s", e.msg);
    if (back) {
        float x[16];
        enc->ops->forward(enc, &t, d, 0, 0, &e);
        back->ops->forward(back, &t, x, 0, 0, &e);
        CHECK(memcmp(d, x, sizeof x) == 0, "save/open: embeddings differ");
        CHECK(strstr(back->identity, "ctk-ngram") != NULL, "identity %s", back->identity);
        free_encoder(back);
    }
    /* a config of another model type is refused */
    char cfgp[400], cmd[900];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", model);
    FILE *f = fopen(cfgp, "w");
    fputs("{\"model_type\": \"bert\"}\n", f);
    fclose(f);
    back = ctk_ngram_open(model, 1, &e);
    CHECK(back == NULL && strstr(e.msg, "ctk-ngram"), "wrong model_type accepted (%s)", e.msg);
    /* config.json alone: the untrained encoder of that configuration */
    snprintf(cmd, sizeof cmd, "%s/model.safetensors", model);
    unlink(cmd);
    f = fopen(cfgp, "w");
    fputs("{\"model_type\": \"ctk-ngram\", \"dim\": 12, \"buckets\": 100, \"dense\": true}\n", f);
    fclose(f);
    back = ctk_ngram_open(model, 1, &e);
    CHECK(back && back->dim == 12 && back->nparams == 3 && back->params[0].shape[0] == 100,
          "config-only folder (%s)", back ? "opened" : e.msg);
    if (back) free_encoder(back);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free_encoder(enc);

    /* the built-in encoder is the same everywhere: opened twice, equal */
    struct ctk_encoder *b1 = ctk_ngram_open(NULL, 1, &e), *b2 = ctk_ngram_open(NULL, 1, &e);
    struct ctk_ngram_cfg dc;
    ctk_ngram_cfg_default(&dc);
    int32_t *bid = xmallocarray(400, sizeof *bid);
    int64_t bn = ctk_ngram_features(&dc, txt, strlen(txt), bid, 400);
    int64_t boff[2] = {0, bn};
    struct ctk_tokens bt = {.S = 1, .ids = bid, .offsets = boff};
    float *e1 = xmallocarray(256, sizeof(float)), *e2 = xmallocarray(256, sizeof(float));
    b1->ops->forward(b1, &bt, e1, 0, 0, &e);
    b2->ops->forward(b2, &bt, e2, 0, 0, &e);
    double nn = 0;
    for (int j = 0; j < 256; j++) nn += (double)e1[j] * e1[j];
    CHECK(memcmp(e1, e2, 256 * sizeof(float)) == 0 && fabs(nn - 1) < 1e-5, "built-in encoder");
    /* out-of-range ids are refused */
    int32_t bad = 1 << 20;
    int64_t boff1[2] = {0, 1};
    struct ctk_tokens badt = {.S = 1, .ids = &bad, .offsets = boff1};
    CHECK(b1->ops->forward(b1, &badt, e1, 0, 0, &e) < 0 && strstr(e.msg, "out of range"), "bad id");
    free(bid);
    free(e1);
    free(e2);
    free_encoder(b1);
    free_encoder(b2);
}

int main(void)
{
    const char *srcdir = getenv("CTK_SRCDIR");
    if (!srcdir) srcdir = ".";
    test_hash();
    test_features_hand();
    test_features_golden(srcdir);

    struct ctk_ngram_cfg c;
    ctk_ngram_cfg_default(&c);
    c.buckets = 64;
    c.dim = 6;
    c.init_std = 0.5;
    c.feature_dropout = 0;
    c.dense = 1;
    test_encoder(c, "dense tanh mean");
    c.pooling = CTK_NGRAM_SQRTN;
    c.activation = CTK_NGRAM_IDENTITY;
    test_encoder(c, "dense identity sqrtn");
    c.dense = 0;
    c.pooling = CTK_NGRAM_MEAN;
    test_encoder(c, "no dense");
    test_dropout_and_save();
    return check_exit("test_ngram");
}
