/*
 * test_layers.c -- every layer of lib/layers.c:
 *
 *  1. forward against PyTorch (tests/golden/layers/layers.safetensors, made
 *     by tests/ref/layers_ref.py), in the library's single precision and in
 *     the same code compiled in double (layers_double.c);
 *  2. backward against central finite differences of the double build, for
 *     every input and parameter of every layer (linear, LayerNorm and its
 *     residual form, GELU, dropout, attention with and without dropout,
 *     embeddings, the four poolings, normalize): the relative L2 error of
 *     each gradient must stay below 1e-7.
 *
 * Prints the worst difference of each check; exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "layers_double.h"
#include "rng.h"
#include "safetensors.h"

static int failures;
static struct ctk_st golden;

/* --- helpers --------------------------------------------------------------- */

static const struct ctk_st_tensor *tensor(const char *name)
{
    const struct ctk_st_tensor *t = ctk_st_find(&golden, name);
    if (!t) {
        fprintf(stderr, "test_layers: golden file has no tensor %s\n", name);
        exit(1);
    }
    return t;
}

static float *getf(const char *name, size_t *n)
{
    struct ctk_err e;
    const struct ctk_st_tensor *t = tensor(name);
    float *x = ctk_st_get_f32(&golden, t, &e);
    if (!x) {
        fprintf(stderr, "test_layers: %s\n", e.msg);
        exit(1);
    }
    if (n) *n = t->nelem;
    return x;
}

static void check(const char *what, double diff, double tol)
{
    int bad = !(diff <= tol);
    printf("%-44s %.3g (tolerance %.0e)%s\n", what, diff, tol, bad ? "  FAIL" : "");
    failures += bad;
}

/* max |a - b| / max(1, |b|) between a float result and the expected values */
static double diff_f(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(1, fabs(b[i]));
        m = d > m ? d : m;
    }
    return m;
}

static double diff_d(const double *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(1, fabs(b[i]));
        m = d > m ? d : m;
    }
    return m;
}

static struct ctk_rng rng;

static double *randn(size_t n, double scale)
{
    double *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = scale * ctk_rng_normal(&rng);
    return x;
}

static double *zeros(size_t n) { return calloc(n, sizeof(double)); }

/* --- 1. forward against PyTorch -------------------------------------------- */

static void forward_tests(void)
{
    size_t n;
    /* linear */
    float *x = getf("linear.x", NULL), *w = getf("linear.w", NULL), *b = getf("linear.b", NULL);
    float *want = getf("linear.out", &n), out[64];
    double dx[64], dw[64], db[8], dout[64];
    linear_forward(out, x, w, b, 5, 7, 3);
    check("linear forward (float)", diff_f(out, want, n), 1e-6);
    for (int i = 0; i < 35; i++) dx[i] = x[i];
    for (int i = 0; i < 21; i++) dw[i] = w[i];
    for (int i = 0; i < 3; i++) db[i] = b[i];
    d_linear_forward(dout, dx, dw, db, 5, 7, 3);
    check("linear forward (double)", diff_d(dout, want, n), 1e-7);
    free(x), free(w), free(b), free(want);

    /* layernorm and residual layernorm */
    x = getf("ln.x", NULL);
    float *x2 = getf("ln.x2", NULL);
    w = getf("ln.w", NULL), b = getf("ln.b", NULL), want = getf("ln.out", &n);
    float res[64], mean[4], rstd[4];
    layernorm_forward(out, mean, rstd, x, w, b, 1e-12f, 4, 16);
    check("layernorm forward (float)", diff_f(out, want, n), 2e-6);
    float *want2 = getf("ln.res_out", NULL);
    residual_layernorm_forward(out, res, mean, rstd, x, x2, w, b, 1e-12f, 4, 16);
    check("residual layernorm forward (float)", diff_f(out, want2, n), 2e-6);
    /* the bias folded into the same pass: the same numbers as adding it first */
    float xb[64], out2[64], ab[16];
    for (int i = 0; i < 16; i++) ab[i] = 0.25f * (float)(i % 5) - 0.5f;
    for (int i = 0; i < 64; i++) xb[i] = x[i] + ab[i % 16];
    residual_layernorm_forward(out, res, mean, rstd, xb, x2, w, b, 1e-12f, 4, 16);
    bias_residual_layernorm_forward(out2, res, mean, rstd, x, ab, x2, w, b, 1e-12f, 4, 16);
    check("bias + residual layernorm = residual layernorm of a + bias", diff_f(out2, out, 64), 0);
    double ddx[64], ddx2[64], dres[64], dmean[4], drstd[4], dlw[16], dlb[16];
    for (int i = 0; i < 64; i++) ddx[i] = x[i], ddx2[i] = x2[i];
    for (int i = 0; i < 16; i++) dlw[i] = w[i], dlb[i] = b[i];
    d_residual_layernorm_forward(dout, dres, dmean, drstd, ddx, ddx2, dlw, dlb, 1e-12, 4, 16);
    check("residual layernorm forward (double)", diff_d(dout, want2, n), 1e-7);
    free(x), free(x2), free(w), free(b), free(want), free(want2);

    /* gelu over [-9, 9] */
    x = getf("gelu.x", &n), want = getf("gelu.out", NULL);
    float g[73];
    gelu_forward(g, x, (int64_t)n);
    check("gelu forward (float, erf approximation)", diff_f(g, want, n), 3e-7);
    {
        float pre[72], g2[72], gb[8];
        for (int i = 0; i < 8; i++) gb[i] = 0.5f * (float)i - 2;
        for (int i = 0; i < 72; i++) pre[i] = x[i] + gb[i % 8];
        gelu_forward(g2, pre, 72);
        float pre2[72], g3[72];
        bias_gelu_forward(g3, pre2, x, gb, 9, 8);
        check("bias_gelu = gelu of inp + bias", diff_f(g3, g2, 72) + diff_f(pre2, pre, 72), 0);
    }
    double dg[73], dgx[73];
    for (size_t i = 0; i < n; i++) dgx[i] = x[i];
    d_gelu_forward(dg, dgx, (int64_t)n);
    check("gelu forward (double)", diff_d(dg, want, n), 1e-7);
    free(x), free(want);

    /* attention */
    float *qkv = getf("att.qkv", NULL), att[2 * 25], scratch[2 * 25];
    want = getf("att.out", &n);
    float *probs = getf("att.probs", NULL);
    attention_forward(out, att, qkv, scratch, 0, 0, 5, 8, 2, 0, 2, NULL);
    check("attention forward (float)", diff_f(out, want, n), 1e-6);
    check("attention probabilities (float)", diff_f(att, probs, 50), 1e-6);
    double dqkv[120], datt[50], dscr[50], dao[40];
    for (int i = 0; i < 120; i++) dqkv[i] = qkv[i];
    d_attention_forward(dao, datt, dqkv, dscr, 0, 0, 5, 8, 2, 0, 2, NULL);
    check("attention forward (double)", diff_d(dao, want, n), 1e-7);
    free(qkv), free(want), free(probs);

    /* pooling */
    x = getf("pool.x", NULL);
    const int64_t *offs = tensor("pool.offsets")->data;
    int64_t offsets[4];
    memcpy(offsets, offs, sizeof offsets);
    const char *names[] = {"pool.mean", "pool.cls", "pool.max", "pool.mean_sqrt_len"};
    enum ctk_pool_mode modes[] = {CTK_POOL_MEAN, CTK_POOL_CLS, CTK_POOL_MAX, CTK_POOL_MEAN_SQRT_LEN};
    for (int m = 0; m < 4; m++) {
        float po[18];
        int64_t am[18];
        want = getf(names[m], &n);
        pool_forward(po, am, x, offsets, modes[m], 3, 6);
        char what[64];
        snprintf(what, sizeof what, "%s forward (float)", names[m]);
        check(what, diff_f(po, want, n), 1e-6);
        free(want);
    }
    free(x);

    /* normalize */
    x = getf("norm.x", &n), want = getf("norm.out", NULL);
    float no[18], nn[3];
    normalize_forward(no, nn, x, 3, 6);
    check("normalize forward (float)", diff_f(no, want, n), 1e-6);
    free(x), free(want);

    /* embeddings */
    float *wte = getf("emb.wte", NULL), *wpe = getf("emb.wpe", NULL), *wtt = getf("emb.wtt", NULL);
    want = getf("emb.out", &n);
    const int32_t *ids = tensor("emb.ids")->data, *types = tensor("emb.type_ids")->data;
    int32_t ids_[6], types_[6];
    int64_t eoff[3];
    memcpy(ids_, ids, sizeof ids_);
    memcpy(types_, types, sizeof types_);
    memcpy(eoff, tensor("emb.offsets")->data, sizeof eoff);
    float eo[24];
    embeddings_forward(eo, ids_, types_, NULL, eoff, wte, wpe, wtt, 2, 4);
    check("embeddings forward (float)", diff_f(eo, want, n), 1e-6);
    {
        /* given positions, no type embeddings: row n is wte[ids[n]] + wpe[pos[n]] */
        int32_t pos[6] = {1, 0, 2, 1, 0, 2};
        float ep[24], sum[24];
        embeddings_forward(ep, ids_, types_, pos, eoff, wte, wpe, NULL, 2, 4);
        for (int64_t r = 0; r < eoff[2]; r++)
            for (int i = 0; i < 4; i++) sum[r * 4 + i] = wte[ids_[r] * 4 + i] + wpe[pos[r] * 4 + i];
        check("embeddings forward, positions given, no types", diff_f(ep, sum, (size_t)(eoff[2] * 4)), 0);
    }
    free(wte), free(wpe), free(wtt), free(want);

    /* dropout: rate, scaling and determinism */
    int64_t nd = 100000;
    float *ones = malloc(nd * sizeof *ones), *d1 = malloc(nd * sizeof *d1), *d2 = malloc(nd * sizeof *d2);
    for (int64_t i = 0; i < nd; i++) ones[i] = 1;
    dropout_forward(d1, ones, 0.25f, 42, nd);
    dropout_forward(d2, ones, 0.25f, 42, nd);
    int64_t dropped = 0, same = 1, scaled = 1;
    for (int64_t i = 0; i < nd; i++) {
        dropped += d1[i] == 0;
        same &= d1[i] == d2[i];
        scaled &= d1[i] == 0 || fabsf(d1[i] - 1 / 0.75f) < 1e-6f;
    }
    check("dropout: |fraction dropped - 0.25|", fabs(dropped / (double)nd - 0.25), 0.005);
    check("dropout: same seed, same mask (0 = yes)", !same, 0);
    check("dropout: kept values scaled by 1/(1-p) (0 = yes)", !scaled, 0);
    int64_t rng_mismatch = 0; /* the mask is lib/rng.h's splitmix64 stream from the seed */
    for (int64_t i = 0; i < nd; i++) {
        uint64_t st = 42 + (uint64_t)i * 0x9e3779b97f4a7c15ULL;
        float u = (float)(ctk_splitmix64(&st) >> 40) * (1.0f / 16777216.0f);
        rng_mismatch += (u < 0.25f) != (d1[i] == 0);
    }
    check("dropout: mask from lib/rng.h's splitmix64 (mismatches)", (double)rng_mismatch, 0);
    dropout_forward(d2, ones, 0.25f, 43, nd);
    int64_t differ = 0;
    for (int64_t i = 0; i < nd; i++) differ += d1[i] != d2[i];
    check("dropout: another seed changes the mask (0 = yes)", differ < nd / 10, 0);
    free(ones), free(d1), free(d2);
}

/* --- 2. finite differences --------------------------------------------------- */

/*
 * f(ctx, out) computes the layer's output (nout) from the current inputs;
 * the loss is Σ w·out. x (n) is one input whose analytic gradient is g.
 */
typedef void (*fwd_fn)(void *ctx, double *out);

static void fd(const char *what, double *x, size_t n, const double *g, fwd_fn f, void *ctx,
               const double *w, size_t nout)
{
    double *out = malloc(nout * sizeof *out), h = 1e-5, err = 0, ref = 0;
    for (size_t j = 0; j < n; j++) {
        double save = x[j], lp = 0, lm = 0;
        x[j] = save + h;
        f(ctx, out);
        for (size_t i = 0; i < nout; i++) lp += w[i] * out[i];
        x[j] = save - h;
        f(ctx, out);
        for (size_t i = 0; i < nout; i++) lm += w[i] * out[i];
        x[j] = save;
        double num = (lp - lm) / (2 * h);
        err += (num - g[j]) * (num - g[j]);
        ref += num * num;
    }
    char buf[96];
    snprintf(buf, sizeof buf, "gradient %s", what);
    check(buf, sqrt(err / (ref > 0 ? ref : 1)), 1e-7);
    free(out);
}

/* linear */
struct lin { double *x, *w, *b; int64_t N, C, OC; };
static void lin_f(void *c, double *out)
{
    struct lin *l = c;
    d_linear_forward(out, l->x, l->w, l->b, l->N, l->C, l->OC);
}
static void fd_linear(void)
{
    struct lin l = {randn(4 * 6, 1), randn(5 * 6, 1), randn(5, 1), 4, 6, 5};
    double *w = randn(4 * 5, 1), *dx = zeros(24), *dw = zeros(30), *db = zeros(5);
    d_linear_backward(dx, dw, db, w, l.x, l.w, 4, 6, 5);
    fd("linear dinp", l.x, 24, dx, lin_f, &l, w, 20);
    fd("linear dweight", l.w, 30, dw, lin_f, &l, w, 20);
    fd("linear dbias", l.b, 5, db, lin_f, &l, w, 20);
    free(l.x), free(l.w), free(l.b), free(w), free(dx), free(dw), free(db);
}

/* layernorm, as residual_layernorm (res = a + b) */
struct ln { double *a, *b, *w, *bias, *res, *mean, *rstd; int64_t N, C; };
static void ln_f(void *c, double *out)
{
    struct ln *l = c;
    d_residual_layernorm_forward(out, l->res, l->mean, l->rstd, l->a, l->b, l->w, l->bias, 1e-12,
                                 l->N, l->C);
}
static void fd_layernorm(void)
{
    int64_t N = 3, C = 8;
    struct ln l = {randn(N * C, 2), randn(N * C, 1), randn(C, 1), randn(C, 1), zeros(N * C),
                   zeros(N), zeros(N), N, C};
    double *w = randn(N * C, 1), *out = zeros(N * C), *dres = zeros(N * C), *dw = zeros(C),
           *db = zeros(C), *da = zeros(N * C), *dbb = zeros(N * C);
    ln_f(&l, out);
    d_layernorm_backward(dres, dw, db, w, l.res, l.mean, l.rstd, l.w, N, C);
    d_residual_backward(da, dbb, dres, N * C);
    fd("layernorm dinp (residual a)", l.a, N * C, da, ln_f, &l, w, N * C);
    fd("layernorm dinp (residual b)", l.b, N * C, dbb, ln_f, &l, w, N * C);
    fd("layernorm dweight", l.w, C, dw, ln_f, &l, w, N * C);
    fd("layernorm dbias", l.bias, C, db, ln_f, &l, w, N * C);
    free(l.a), free(l.b), free(l.w), free(l.bias), free(l.res), free(l.mean), free(l.rstd);
    free(w), free(out), free(dres), free(dw), free(db), free(da), free(dbb);
}

/* gelu */
struct gl { double *x; int64_t n; };
static void gelu_f(void *c, double *out)
{
    struct gl *g = c;
    d_gelu_forward(out, g->x, g->n);
}
static void fd_gelu(void)
{
    struct gl g = {randn(40, 2), 40};
    double *w = randn(40, 1), *dx = zeros(40);
    d_gelu_backward(dx, w, g.x, 40);
    fd("gelu", g.x, 40, dx, gelu_f, &g, w, 40);
    free(g.x), free(w), free(dx);
}

/* dropout */
struct dr { double *x; int64_t n; };
static void drop_f(void *c, double *out)
{
    struct dr *d = c;
    d_dropout_forward(out, d->x, 0.3, 99, d->n);
}
static void fd_dropout(void)
{
    struct dr d = {randn(50, 1), 50};
    double *w = randn(50, 1), *dx = zeros(50);
    d_dropout_backward(dx, w, 0.3, 99, 50);
    fd("dropout (p 0.3)", d.x, 50, dx, drop_f, &d, w, 50);
    free(d.x), free(w), free(dx);
}

/* attention of one sequence, all heads; with bias, a relative position bias per head and offset */
struct at { double *qkv, *att, *scratch, *bias; double p; int64_t T, C, H; };
static void att_f(void *c, double *out)
{
    struct at *a = c;
    d_attention_forward(out, a->att, a->qkv, a->scratch, a->p, 7, a->T, a->C, a->H, 0, a->H, a->bias);
}
static void fd_attention(double p, int bias)
{
    int64_t T = 6, C = 8, H = 2, nb = H * (2 * T - 1);
    struct at a = {randn(T * 3 * C, 1), zeros(H * T * T), zeros(2 * T * T), bias ? randn(nb, 1) : NULL,
                   p, T, C, H};
    double *w = randn(T * C, 1), *out = zeros(T * C), *dqkv = zeros(T * 3 * C), *scr = zeros(2 * T * T);
    double *dbias = bias ? zeros(nb) : NULL;
    att_f(&a, out);
    d_attention_backward(dqkv, scr, w, a.att, a.qkv, p, 7, T, C, H, 0, H, dbias);
    char what[64];
    snprintf(what, sizeof what, "attention%s dqkv (dropout %.1f)", bias ? " with bias" : "", p);
    fd(what, a.qkv, T * 3 * C, dqkv, att_f, &a, w, T * C);
    if (bias) {
        snprintf(what, sizeof what, "attention with bias dbias (dropout %.1f)", p);
        fd(what, a.bias, nb, dbias, att_f, &a, w, T * C);
    }
    free(a.qkv), free(a.att), free(a.scratch), free(a.bias), free(w), free(out), free(dqkv), free(scr);
    free(dbias);
}

/* embeddings */
struct em { double *wte, *wpe, *wtt; int32_t *ids, *types, *pos; int64_t *offs; };
static void emb_f(void *c, double *out)
{
    struct em *e = c;
    d_embeddings_forward(out, e->ids, e->types, e->pos, e->offs, e->wte, e->wpe, e->wtt, 2, 3);
}
/* pos: NULL (index in the sequence) or given positions; without type embeddings when notypes */
static void fd_embeddings(int32_t *pos, int notypes)
{
    int32_t ids[] = {4, 1, 4, 0, 2}, types[] = {0, 1, 0, 0, 1};
    int64_t offs[] = {0, 2, 5};
    struct em e = {randn(5 * 3, 1), randn(4 * 3, 1), notypes ? NULL : randn(2 * 3, 1), ids, types,
                   pos, offs};
    double *w = randn(5 * 3, 1), *dte = zeros(15), *dpe = zeros(12), *dtt = notypes ? NULL : zeros(6);
    d_embeddings_backward(dte, dpe, dtt, w, ids, types, pos, offs, 2, 3);
    const char *how = pos ? (notypes ? " (positions given, no types)" : " (positions given)") : "";
    char what[80];
    snprintf(what, sizeof what, "embeddings dwte%s", how);
    fd(what, e.wte, 15, dte, emb_f, &e, w, 15);
    snprintf(what, sizeof what, "embeddings dwpe%s", how);
    fd(what, e.wpe, 12, dpe, emb_f, &e, w, 15);
    if (!notypes) {
        snprintf(what, sizeof what, "embeddings dwtt%s", how);
        fd(what, e.wtt, 6, dtt, emb_f, &e, w, 15);
    }
    free(e.wte), free(e.wpe), free(e.wtt), free(w), free(dte), free(dpe), free(dtt);
}

/* pooling */
struct pl { double *x; int64_t *am; int64_t *offs; enum ctk_pool_mode mode; };
static void pool_f(void *c, double *out)
{
    struct pl *p = c;
    d_pool_forward(out, p->am, p->x, p->offs, p->mode, 3, 4);
}
static void fd_pool(enum ctk_pool_mode mode, const char *name)
{
    int64_t offs[] = {0, 1, 4, 9}, am[12];
    struct pl p = {randn(9 * 4, 1), am, offs, mode};
    double *w = randn(3 * 4, 1), *out = zeros(12), *dx = zeros(36);
    pool_f(&p, out);
    d_pool_backward(dx, w, am, offs, mode, 3, 4);
    char what[64];
    snprintf(what, sizeof what, "pooling %s", name);
    fd(what, p.x, 36, dx, pool_f, &p, w, 12);
    free(p.x), free(w), free(out), free(dx);
}

/* normalize */
struct nm { double *x, *norm; };
static void norm_f(void *c, double *out)
{
    struct nm *n = c;
    d_normalize_forward(out, n->norm, n->x, 3, 5);
}
static void fd_normalize(void)
{
    struct nm n = {randn(15, 1), zeros(3)};
    double *w = randn(15, 1), *out = zeros(15), *dx = zeros(15);
    norm_f(&n, out);
    d_normalize_backward(dx, w, n.x, n.norm, 3, 5);
    fd("normalize", n.x, 15, dx, norm_f, &n, w, 15);
    free(n.x), free(n.norm), free(w), free(out), free(dx);
}

int main(int argc, char **argv)
{
    const char *src = getenv("CTK_SRCDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/layers/layers.safetensors",
             argc > 1 ? argv[1] : src ? src : ".");
    struct ctk_err e;
    if (ctk_st_open(&golden, path, &e) < 0) {
        fprintf(stderr, "test_layers: %s\n", e.msg);
        return 1;
    }
    ctk_rng_seed(&rng, 5);
    forward_tests();
    fd_linear();
    fd_layernorm();
    fd_gelu();
    fd_dropout();
    fd_attention(0, 0);
    fd_attention(0.2, 0);
    fd_attention(0, 1);
    fd_attention(0.2, 1);
    int32_t pos[] = {2, 3, 2, 3, 1};
    fd_embeddings(NULL, 0);
    fd_embeddings(pos, 0);
    fd_embeddings(pos, 1);
    fd_pool(CTK_POOL_MEAN, "mean");
    fd_pool(CTK_POOL_CLS, "cls");
    fd_pool(CTK_POOL_MAX, "max");
    fd_pool(CTK_POOL_MEAN_SQRT_LEN, "mean_sqrt_len");
    fd_normalize();
    ctk_st_close(&golden);
    if (failures) printf("test_layers: %d check(s) failed\n", failures);
    return failures != 0;
}
