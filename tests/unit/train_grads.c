/*
 * train_grads.c -- test helper: one batch of ctk-train-mnrl's loss through
 * an encoder (every row of a token stream, dropout as the model folder
 * says), against tests/ref/train_ref.py --grad: the loss, and for every
 * parameter the relative L2 error ||g - g_ref|| / ||g_ref|| over the rows
 * the reference kept.
 * Usage: train_grads MODEL TOKENS LOSS REFERENCE.safetensors
 * Prints each tensor's error; exits 1 when the loss differs by more than
 * 1e-5 relative or a gradient by more than 1e-4. A tensor whose reference
 * gradient is zero but for rounding (below 1e-7 of the largest, e.g. the
 * attention key biases, which softmax ignores) must be below 1e-4 of the
 * largest instead.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "err.h"
#include "safetensors.h"
#include "stream.h"
#include "train.h"

int main(int argc, char **argv)
{
    ctk_init("train_grads", argc, argv);
    if (argc != 5)
        ctk_usage("usage: train_grads MODEL TOKENS LOSS REFERENCE.safetensors");
    struct ctk_err e = {{0}};
    enum ctk_loss_kind kind;
    if (ctk_loss_parse(argv[3], &kind) < 0)
        ctk_usage("unknown loss %s", argv[3]);
    struct ctk_stream in;
    struct ctk_train_data d;
    if (ctk_stream_open_read(&in, argv[2], &e) < 0 || ctk_train_data_read(&d, &in, kind, &e) < 0 ||
        ctk_stream_close(&in, &e) < 0)
        ctk_die_err(&e);
    struct ctk_encoder *enc = ctk_encoder_open(argv[1], 1, &e);
    if (!enc)
        ctk_die_err(&e);
    struct ctk_train_opts o;
    ctk_train_opts_default(&o, kind);
    int64_t *rows = xmallocarray((size_t)d.R, sizeof *rows);
    for (int64_t i = 0; i < d.R; i++)
        rows[i] = i;
    double loss = ctk_train_grads(enc, &d, &o, rows, d.R, &e);
    if (isnan(loss))
        ctk_die_err(&e);

    struct ctk_st st;
    if (ctk_st_open(&st, argv[4], &e) < 0)
        ctk_die_err(&e);
    const char *lref = ctk_st_meta(&st, "loss_f64");
    if (!lref)
        ctk_die("%s: no loss_f64", argv[4]);
    int bad = 0;
    double want = strtod(lref, NULL);
    printf("loss %.9g, reference %.9g, rel err %.2e\n", loss, want, fabs(loss - want) / fabs(want));
    if (fabs(loss - want) > 1e-5 * fabs(want))
        bad = 1;

    /* first pass: errors and reference norms; second: the verdicts */
    int np = enc->nparams, compared = 0;
    double *num = xcalloc((size_t)np, sizeof *num), *den = xcalloc((size_t)np, sizeof *den);
    double *gn = xcalloc((size_t)np, sizeof *gn), maxden = 0;
    int *have = xcalloc((size_t)np, sizeof *have);
    for (int i = 0; i < np; i++) {
        const struct ctk_param *p = &enc->params[i];
        char name[512];
        snprintf(name, sizeof name, "grad.%s", p->name);
        const struct ctk_st_tensor *t = ctk_st_find(&st, name);
        if (!t)
            continue;
        float *ref = ctk_st_get_f32(&st, t, &e);
        if (!ref)
            ctk_die_err(&e);
        snprintf(name, sizeof name, "grad.%s.rows", p->name);
        const struct ctk_st_tensor *tr = ctk_st_find(&st, name);
        /* rows of a matrix; of a vector, sampled elements (rows of 1) */
        size_t rl = p->ndim == 2 ? (size_t)p->shape[1] : tr ? 1 : p->n;
        size_t nr = tr ? tr->nelem : p->n / rl;
        if (nr * rl != t->nelem)
            ctk_die("%s: %zu values for %zu rows of %zu", p->name, t->nelem, nr, rl);
        for (size_t k = 0; k < nr; k++) {
            int64_t r = (int64_t)k;
            if (tr)
                memcpy(&r, (const char *)tr->data + 8 * k, 8);
            for (size_t j = 0; j < rl; j++) {
                double a = p->g[(size_t)r * rl + j], b = ref[k * rl + j];
                num[i] += (a - b) * (a - b);
                den[i] += b * b;
                gn[i] += a * a;
            }
        }
        free(ref);
        have[i] = 1;
        compared++;
        if (den[i] > maxden)
            maxden = den[i];
    }
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < np; i++) {
        if (!have[i])
            continue;
        double err;
        if (den[i] < 1e-14 * maxden) { /* zero but for rounding */
            err = sqrt(gn[i] / maxden);
            printf("%-50s |g| %.2e of the largest (reference: zero)\n", enc->params[i].name, err);
            if (err > 1e-4)
                bad = 1;
            continue;
        }
        err = sqrt(num[i] / den[i]);
        printf("%-50s rel L2 err %.2e\n", enc->params[i].name, err);
        if (err > worst) {
            worst = err;
            worst_name = enc->params[i].name;
        }
        if (err > 1e-4)
            bad = 1;
    }
    printf("%d tensors compared; worst %s %.2e\n", compared, worst_name, worst);
    if (compared == 0 || compared < np)
        bad = 1;
    ctk_st_close(&st);
    free(num);
    free(den);
    free(gn);
    free(have);
    free(rows);
    ctk_encoder_free(enc);
    ctk_train_data_free(&d);
    return bad;
}
