/*
 * optim.c -- AdamW, its schedule and gradient clipping (see optim.h; the
 * update follows torch.optim.AdamW's single-tensor loop in PyTorch 1.13,
 * the lazy sparse variant torch.optim.SparseAdam).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "optim.h"

void ctk_adamw_defaults(struct ctk_adamw_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lr = 2e-5;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = 0.01;
    o->max_grad_norm = 1.0;
}

struct ctk_optim *ctk_optim_new(struct ctk_param **p, int np, const struct ctk_adamw_opts *o)
{
    struct ctk_optim *opt = xcalloc(1, sizeof *opt);
    opt->o = *o;
    opt->np = np;
    opt->p = xmallocarray((size_t)np, sizeof *opt->p);
    memcpy(opt->p, p, (size_t)np * sizeof *p);
    opt->m = xcalloc((size_t)np, sizeof *opt->m);
    opt->v = xcalloc((size_t)np, sizeof *opt->v);
    opt->rowmark = xcalloc((size_t)np, sizeof *opt->rowmark);
    opt->rows = xcalloc((size_t)np, sizeof *opt->rows);
    opt->nrows = xcalloc((size_t)np, sizeof *opt->nrows);
    opt->caprows = xcalloc((size_t)np, sizeof *opt->caprows);
    opt->evermark = xcalloc((size_t)np, sizeof *opt->evermark);
    opt->ever = xcalloc((size_t)np, sizeof *opt->ever);
    opt->never = xcalloc((size_t)np, sizeof *opt->never);
    opt->capever = xcalloc((size_t)np, sizeof *opt->capever);
    for (int i = 0; i < np; i++) {
        opt->m[i] = xcalloc(p[i]->n, sizeof(float));
        opt->v[i] = xcalloc(p[i]->n, sizeof(float));
        if (p[i]->row_len > 0) {
            opt->rowmark[i] = xcalloc(p[i]->n / p[i]->row_len, 1);
            opt->evermark[i] = xcalloc(p[i]->n / p[i]->row_len, 1);
        }
    }
    return opt;
}

void ctk_optim_free(struct ctk_optim *opt)
{
    if (!opt)
        return;
    for (int i = 0; i < opt->np; i++) {
        free(opt->m[i]);
        free(opt->v[i]);
        free(opt->rowmark[i]);
        free(opt->rows[i]);
        free(opt->evermark[i]);
        free(opt->ever[i]);
    }
    free(opt->evermark);
    free(opt->ever);
    free(opt->never);
    free(opt->capever);
    free(opt->m);
    free(opt->v);
    free(opt->rowmark);
    free(opt->rows);
    free(opt->nrows);
    free(opt->caprows);
    free(opt->p);
    free(opt);
}

/* Append r to a growing row list. */
static void push_row(int64_t **list, size_t *n, size_t *cap, int64_t r)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        *list = xreallocarray(*list, *cap, sizeof(int64_t));
    }
    (*list)[(*n)++] = r;
}

void ctk_optim_mark_ever(struct ctk_optim *opt, int i, int64_t r)
{
    if (opt->evermark[i][r])
        return;
    opt->evermark[i][r] = 1;
    push_row(&opt->ever[i], &opt->never[i], &opt->capever[i], r);
}

void ctk_optim_collect(struct ctk_optim *opt)
{
    for (int i = 0; i < opt->np; i++) {
        struct ctk_param *p = opt->p[i];
        if (p->row_len == 0)
            continue;
        size_t nrow = p->n / p->row_len;
        for (size_t k = 0; k < p->ntouched; k++) {
            int64_t r = p->touched[k];
            if (r < 0 || (size_t)r >= nrow)
                ctk_die("internal error: %s: touched row %lld outside 0..%zu", p->name,
                        (long long)r, nrow - 1);
            if (opt->rowmark[i][r])
                continue;
            opt->rowmark[i][r] = 1;
            push_row(&opt->rows[i], &opt->nrows[i], &opt->caprows[i], r);
        }
    }
}

double ctk_optim_lr(const struct ctk_adamw_opts *o, int64_t s)
{
    int64_t W = o->warmup_steps, T = o->total_steps;
    if (s < W)
        return o->lr * (double)s / (double)(W > 1 ? W : 1);
    double f = (double)(T - s) / (double)(T - W > 1 ? T - W : 1);
    return o->lr * (f > 0 ? f : 0);
}

/*
 * The stretches of a parameter a step visits: a dense tensor is one span, a
 * sparse one a span per collected row.
 */
static size_t nspans(const struct ctk_optim *opt, int i)
{
    return opt->p[i]->row_len == 0 ? 1 : opt->nrows[i];
}

static size_t span(const struct ctk_optim *opt, int i, size_t k, size_t *len)
{
    const struct ctk_param *p = opt->p[i];
    if (p->row_len == 0) {
        *len = p->n;
        return 0;
    }
    *len = p->row_len;
    return (size_t)opt->rows[i][k] * p->row_len;
}

double ctk_optim_clip(struct ctk_optim *opt)
{
    double ss = 0;
    for (int i = 0; i < opt->np; i++)
        for (size_t k = 0, len; k < nspans(opt, i); k++) {
            const float *g = opt->p[i]->g + span(opt, i, k, &len);
            for (size_t j = 0; j < len; j++)
                ss += (double)g[j] * g[j];
        }
    double norm = sqrt(ss);
    double maxn = opt->o.max_grad_norm;
    if (maxn > 0 && norm > maxn) {
        float c = (float)(maxn / (norm + 1e-6));
        for (int i = 0; i < opt->np; i++)
            for (size_t k = 0, len; k < nspans(opt, i); k++) {
                float *g = opt->p[i]->g + span(opt, i, k, &len);
                for (size_t j = 0; j < len; j++)
                    g[j] *= c;
            }
    }
    return norm;
}

void ctk_optim_step(struct ctk_optim *opt, double lr)
{
    const struct ctk_adamw_opts *o = &opt->o;
    opt->t++;
    double bc1 = 1.0 - pow(o->beta1, (double)opt->t);
    double bc2 = 1.0 - pow(o->beta2, (double)opt->t);
    float b1 = (float)o->beta1, b2 = (float)o->beta2;
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = (float)o->eps;
    for (int i = 0; i < opt->np; i++) {
        struct ctk_param *p = opt->p[i];
        float decay = p->decay ? (float)(1.0 - lr * o->weight_decay) : 1.0f;
        if (p->row_len > 0)
            for (size_t k = 0; k < opt->nrows[i]; k++)
                ctk_optim_mark_ever(opt, i, opt->rows[i][k]);
        for (size_t k = 0, len; k < nspans(opt, i); k++) {
            size_t off = span(opt, i, k, &len);
            float *w = p->w + off, *m = opt->m[i] + off, *v = opt->v[i] + off;
            const float *g = p->g + off;
            for (size_t j = 0; j < len; j++) {
                w[j] *= decay;
                m[j] = b1 * m[j] + (1.0f - b1) * g[j];
                v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
                w[j] -= step_size * m[j] / (sqrtf(v[j]) / bc2_sqrt + eps);
            }
        }
    }
}

void ctk_optim_zero_grad(struct ctk_optim *opt)
{
    for (int i = 0; i < opt->np; i++) {
        for (size_t k = 0, len; k < nspans(opt, i); k++) {
            size_t off = span(opt, i, k, &len);
            memset(opt->p[i]->g + off, 0, len * sizeof(float));
        }
        for (size_t k = 0; k < opt->nrows[i]; k++)
            opt->rowmark[i][opt->rows[i][k]] = 0;
        opt->nrows[i] = 0;
    }
}
