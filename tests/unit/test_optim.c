/*
 * test_optim.c -- lib/optim.c against PyTorch: torch.optim.AdamW with the
 * linear warm-up schedule and clip_grad_norm_ (dense), torch.optim.SparseAdam
 * (lazy updates of touched rows), AdamW with decay on always-touched rows;
 * fixtures made by tests/ref/optim_ref.py. Exits non-zero on any mismatch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fsutil.h"
#include "optim.h"

static int failures;

/* A fixture: "key v v v..." lines. */
#define MAXKEYS 64
struct kv {
    int n;
    char *key[MAXKEYS];
    double *val[MAXKEYS];
    size_t len[MAXKEYS];
};

static void kv_load(struct kv *kv, const char *path)
{
    struct ctk_err e;
    char *text = ctk_read_file(path, NULL, &e);
    if (!text)
        ctk_die_err(&e);
    memset(kv, 0, sizeof *kv);
    char *save, *line;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (kv->n == MAXKEYS)
            ctk_die("%s: too many keys", path);
        char *s = strchr(line, ' ');
        if (!s)
            ctk_die("%s: malformed line", path);
        *s++ = 0;
        int k = kv->n++;
        kv->key[k] = xstrdup(line);
        kv->val[k] = NULL;
        size_t cap = 0;
        for (;;) {
            char *end;
            double v = strtod(s, &end);
            if (end == s)
                break;
            if (kv->len[k] == cap) {
                cap = cap ? 2 * cap : 16;
                kv->val[k] = xreallocarray(kv->val[k], cap, sizeof(double));
            }
            kv->val[k][kv->len[k]++] = v;
            s = end;
        }
    }
    free(text);
}

static const double *kv_get(const struct kv *kv, const char *key, size_t *len)
{
    for (int i = 0; i < kv->n; i++)
        if (!strcmp(kv->key[i], key)) {
            if (len)
                *len = kv->len[i];
            return kv->val[i];
        }
    ctk_die("fixture has no key %s", key);
}

static double kv_num(const struct kv *kv, const char *key)
{
    return kv_get(kv, key, NULL)[0];
}

static void kv_free(struct kv *kv)
{
    for (int i = 0; i < kv->n; i++) {
        free(kv->key[i]);
        free(kv->val[i]);
    }
}

static void opts_from(const struct kv *kv, struct ctk_adamw_opts *o)
{
    ctk_adamw_defaults(o);
    o->lr = kv_num(kv, "lr");
    o->beta1 = kv_num(kv, "beta1");
    o->beta2 = kv_num(kv, "beta2");
    o->eps = kv_num(kv, "eps");
    o->weight_decay = kv_num(kv, "weight_decay");
    o->max_grad_norm = kv_num(kv, "max_grad_norm");
    o->warmup_steps = (int64_t)kv_num(kv, "warmup");
    o->total_steps = (int64_t)kv_num(kv, "steps");
}

/* |got - want| <= 1e-6 + 1e-5 |want| for every weight (float32 arithmetic on both sides). */
static void compare(const char *what, int step, const float *got, const double *want, size_t n)
{
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]) / (1e-6 + 1e-5 * fabs(want[i]));
        if (d > worst) {
            worst = d;
            at = i;
        }
    }
    if (worst > 1) {
        printf("FAIL %s step %d: weight %zu got %.9g want %.9g\n", what, step, at, got[at],
               want[at]);
        failures++;
    }
}

static void check_close(const char *what, int step, double got, double want, double rtol)
{
    if (!(fabs(got - want) <= 1e-12 + rtol * fabs(want))) {
        printf("FAIL %s step %d: got %.12g want %.12g\n", what, step, got, want);
        failures++;
    }
}

static void test_dense(const char *dir)
{
    char path[2048], key[32];
    struct kv kv;
    snprintf(path, sizeof path, "%s/dense.txt", dir);
    kv_load(&kv, path);
    struct ctk_adamw_opts o;
    opts_from(&kv, &o);
    o.threads = 2; /* the update loops in two threads: the same numbers */
    size_t n0;
    const double *w0 = kv_get(&kv, "w0", &n0);
    float w[15], g[15];
    for (size_t i = 0; i < 15; i++)
        w[i] = (float)w0[i];
    struct ctk_param pw = {.name = "weight", .w = w, .g = g, .n = 12, .decay = 1};
    struct ctk_param pb = {.name = "bias", .w = w + 12, .g = g + 12, .n = 3, .decay = 0};
    struct ctk_param *ps[] = {&pw, &pb};
    struct ctk_optim *opt = ctk_optim_new(ps, 2, &o);
    double maxerr = 0;
    for (int t = 1; t <= o.total_steps; t++) {
        snprintf(key, sizeof key, "grad%d", t);
        const double *gr = kv_get(&kv, key, NULL);
        for (size_t i = 0; i < 15; i++)
            g[i] = (float)gr[i];
        double lr = ctk_optim_lr(&o, opt->t);
        snprintf(key, sizeof key, "lr%d", t);
        check_close("dense lr", t, lr, kv_num(&kv, key), 1e-12);
        double norm = ctk_optim_clip(opt);
        snprintf(key, sizeof key, "norm%d", t);
        check_close("dense grad norm", t, norm, kv_num(&kv, key), 1e-6);
        ctk_optim_step(opt, lr);
        ctk_optim_zero_grad(opt);
        snprintf(key, sizeof key, "w%d", t);
        const double *wt = kv_get(&kv, key, NULL);
        compare("dense", t, w, wt, 15);
        for (size_t i = 0; i < 15; i++)
            if (fabs(w[i] - wt[i]) > maxerr)
                maxerr = fabs(w[i] - wt[i]);
        for (size_t i = 0; i < 15; i++)
            if (g[i] != 0) {
                printf("FAIL dense: gradient not zeroed\n");
                failures++;
                break;
            }
    }
    printf("dense AdamW + schedule + clipping, %d steps: max |w - torch| %.2e\n",
           (int)o.total_steps, maxerr);
    ctk_optim_free(opt);
    kv_free(&kv);
}

static void test_sparse(const char *dir, const char *name)
{
    char path[2048], key[32];
    struct kv kv;
    snprintf(path, sizeof path, "%s/%s.txt", dir, name);
    kv_load(&kv, path);
    struct ctk_adamw_opts o;
    opts_from(&kv, &o);
    const double *shape = kv_get(&kv, "rows", NULL);
    size_t R = (size_t)shape[0], C = (size_t)shape[1], n = R * C;
    const double *w0 = kv_get(&kv, "w0", NULL);
    float *w = xmallocarray(n, sizeof(float)), *g = xcalloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++)
        w[i] = (float)w0[i];
    int64_t touched[64];
    struct ctk_param pe = {.name = "embeddings", .w = w, .g = g, .n = n, .ndim = 2,
                           .shape = {(int64_t)R, (int64_t)C}, .decay = o.weight_decay > 0,
                           .row_len = C, .touched = touched};
    struct ctk_param *ps[] = {&pe};
    struct ctk_optim *opt = ctk_optim_new(ps, 1, &o);
    double maxerr = 0;
    for (int t = 1; t <= o.total_steps; t++) {
        size_t nt;
        snprintf(key, sizeof key, "touched%d", t);
        const double *tr = kv_get(&kv, key, &nt);
        snprintf(key, sizeof key, "grad%d", t);
        const double *gr = kv_get(&kv, key, NULL);
        /* two backwards touching overlapping halves: the union is what counts */
        for (size_t k = 0; k < nt; k++)
            touched[k] = (int64_t)tr[k];
        for (size_t i = 0; i < n; i++)
            g[i] = (float)gr[i];
        pe.ntouched = (nt + 1) / 2;
        ctk_optim_collect(opt);
        pe.touched = touched + nt / 2;
        pe.ntouched = nt - nt / 2;
        ctk_optim_collect(opt);
        pe.touched = touched;
        ctk_optim_clip(opt);
        snprintf(key, sizeof key, "lr%d", t);
        ctk_optim_step(opt, kv_num(&kv, key)); /* constant in these fixtures */
        ctk_optim_zero_grad(opt);
        snprintf(key, sizeof key, "w%d", t);
        const double *wt = kv_get(&kv, key, NULL);
        compare(name, t, w, wt, n);
        for (size_t i = 0; i < n; i++)
            if (fabs(w[i] - wt[i]) > maxerr)
                maxerr = fabs(w[i] - wt[i]);
    }
    printf("%s: lazy row updates, %d steps: max |w - torch| %.2e\n", name, (int)o.total_steps,
           maxerr);
    ctk_optim_free(opt);
    free(w);
    free(g);
    kv_free(&kv);
}

int main(int argc, char **argv)
{
    ctk_init("test_optim", argc, argv);
    const char *src = getenv("CTK_SRCDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/optim", src ? src : ".");

    /* the schedule by hand: W = 2, T = 6, lr 1 -> 0, .5, 1, .75, .5, .25, 0 */
    struct ctk_adamw_opts o;
    ctk_adamw_defaults(&o);
    o.lr = 1;
    o.warmup_steps = 2;
    o.total_steps = 6;
    const double want[] = {0, .5, 1, .75, .5, .25, 0, 0};
    for (int s = 0; s < 8; s++)
        check_close("schedule", s, ctk_optim_lr(&o, s), want[s], 1e-15);
    o.warmup_steps = 0;
    check_close("schedule no warm-up", 0, ctk_optim_lr(&o, 0), 1.0, 1e-15);

    test_dense(dir);
    test_sparse(dir, "sparse");
    test_sparse(dir, "sparse-decay");
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
