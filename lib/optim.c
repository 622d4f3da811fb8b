/*
 * optim.c -- AdamW, its schedule and gradient clipping (see optim.h; the
 * update follows torch.optim.AdamW's single-tensor loop in PyTorch 1.13,
 * the lazy sparse variant torch.optim.SparseAdam).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
    o->threads = 1;
}

struct ctk_optim *ctk_optim_new(struct ctk_param **p, int np, const struct ctk_adamw_opts *o)
{
    struct ctk_optim *opt = xcalloc(1, sizeof *opt);
    opt->o = *o;
    opt->gscale = 1.0f;
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
        /* dense moments are all written on the first step: zeroed pages now; sparse ones are
         * touched a row at a time, so their untouched pages are never mapped (calloc) */
        int sparse = p[i]->row_len > 0;
        opt->m[i] = sparse ? xcalloc(p[i]->n, sizeof(float)) : xbigalloc(p[i]->n, sizeof(float), 1);
        opt->v[i] = sparse ? xcalloc(p[i]->n, sizeof(float)) : xbigalloc(p[i]->n, sizeof(float), 1);
        if (sparse) {
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
    free(opt->items);
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
 * Work items: a dense tensor is cut into runs of CHUNK elements, a sparse
 * one into runs of its collected rows holding about CHUNK elements. Items
 * depend on the sizes only, never on the thread count, so that sums over
 * them (the gradient norm) come out the same with any -j.
 */
#define CHUNK 65536

struct item {
    int i;          /* parameter */
    size_t a, b;    /* dense: elements [a, b); sparse: collected rows [a, b) */
};

static size_t make_items(struct ctk_optim *opt)
{
    size_t n = 0;
    for (int i = 0; i < opt->np; i++) {
        const struct ctk_param *p = opt->p[i];
        size_t total = p->row_len ? opt->nrows[i] : p->n;
        size_t step = p->row_len ? (CHUNK / p->row_len ? CHUNK / p->row_len : 1) : CHUNK;
        for (size_t a = 0; a < total; a += step) {
            if (n == opt->capitems) {
                opt->capitems = opt->capitems ? 2 * opt->capitems : 1024;
                opt->items = xreallocarray(opt->items, opt->capitems, sizeof(struct item));
            }
            struct item *it = (struct item *)opt->items + n++;
            *it = (struct item){i, a, a + step < total ? a + step : total};
        }
    }
    return n;
}

/* Calls fn(opt, arg, span of floats at off, len, item index) for each span of an item. */
typedef void span_fn(struct ctk_optim *opt, void *arg, int i, size_t off, size_t len, size_t item);

static void item_spans(struct ctk_optim *opt, size_t k, span_fn *fn, void *arg)
{
    const struct item *it = (const struct item *)opt->items + k;
    const struct ctk_param *p = opt->p[it->i];
    if (p->row_len == 0) {
        fn(opt, arg, it->i, it->a, it->b - it->a, k);
        return;
    }
    for (size_t r = it->a; r < it->b; r++)
        fn(opt, arg, it->i, (size_t)opt->rows[it->i][r] * p->row_len, p->row_len, k);
}

struct job {
    struct ctk_optim *opt;
    size_t nitems, next_start, stride;
    span_fn *fn;
    void *arg;
};

static void *job_thread(void *v)
{
    struct job *j = v;
    for (size_t k = j->next_start; k < j->nitems; k += j->stride)
        item_spans(j->opt, k, j->fn, j->arg);
    return NULL;
}

/* Every item through fn, items dealt round-robin to the optimizer's threads. */
static void run_items(struct ctk_optim *opt, size_t nitems, span_fn *fn, void *arg)
{
    int T = opt->o.threads > 1 ? opt->o.threads : 1;
    if ((size_t)T > nitems)
        T = nitems > 0 ? (int)nitems : 1;
    struct job jobs[64];
    pthread_t tid[64];
    if (T > 64)
        T = 64;
    for (int t = 0; t < T; t++)
        jobs[t] = (struct job){opt, nitems, (size_t)t, (size_t)T, fn, arg};
    for (int t = 1; t < T; t++)
        if (pthread_create(&tid[t], NULL, job_thread, &jobs[t]) != 0)
            ctk_die("cannot start a thread");
    job_thread(&jobs[0]);
    for (int t = 1; t < T; t++)
        pthread_join(tid[t], NULL);
}

/*
 * Squares summed in double in 8 interleaved sums (element j into sum j % 8,
 * added up in a fixed order at the end): independent chains, which the
 * compiler puts in vectors, where one running sum would wait on each add.
 */
static void span_sumsq(struct ctk_optim *opt, void *arg, int i, size_t off, size_t len, size_t k)
{
    double *part = arg, s[8] = {0};
    const float *g = opt->p[i]->g + off;
    size_t j = 0;
    for (; j + 8 <= len; j += 8)
        for (int l = 0; l < 8; l++)
            s[l] += (double)g[j + l] * g[j + l];
    for (; j < len; j++)
        s[j % 8] += (double)g[j] * g[j];
    part[k] += ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

double ctk_optim_clip(struct ctk_optim *opt)
{
    size_t n = make_items(opt);
    double *part = xcalloc(n ? n : 1, sizeof *part), ss = 0;
    run_items(opt, n, span_sumsq, part);
    for (size_t k = 0; k < n; k++)
        ss += part[k];
    free(part);
    double norm = sqrt(ss);
    double maxn = opt->o.max_grad_norm;
    opt->gscale = maxn > 0 && norm > maxn ? (float)(maxn / (norm + 1e-6)) : 1.0f;
    return norm;
}

struct adam_arg {
    float gscale, b1, b2, step_size, bc2_sqrt, eps;
    double lr;
};

static void span_adam(struct ctk_optim *opt, void *arg, int i, size_t off, size_t len, size_t k)
{
    const struct adam_arg *a = arg;
    struct ctk_param *p = opt->p[i];
    float decay = p->decay ? (float)(1.0 - a->lr * opt->o.weight_decay) : 1.0f;
    float gs = a->gscale, b1 = a->b1, b2 = a->b2, step_size = a->step_size,
          bc2_sqrt = a->bc2_sqrt, eps = a->eps;
    float *w = p->w + off, *m = opt->m[i] + off, *v = opt->v[i] + off;
    const float *g = p->g + off;
    (void)k;
    size_t j = 0;
#if defined(__SSE2__)
    /*
     * Four at a time: the compiler cannot vectorise sqrtf under C's errno
     * rules, and the divide and square root are most of this loop's time.
     * Packed and scalar IEEE operations round alike, so the values are those
     * of the scalar loop below, element for element.
     */
    __m128 vgs = _mm_set1_ps(gs), vdecay = _mm_set1_ps(decay);
    __m128 vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2);
    __m128 v1b1 = _mm_set1_ps(1.0f - b1), v1b2 = _mm_set1_ps(1.0f - b2);
    __m128 vstep = _mm_set1_ps(step_size), vbc2 = _mm_set1_ps(bc2_sqrt), veps = _mm_set1_ps(eps);
    for (; j + 4 <= len; j += 4) {
        __m128 gj = _mm_mul_ps(_mm_loadu_ps(g + j), vgs);
        __m128 wj = _mm_mul_ps(_mm_loadu_ps(w + j), vdecay);
        __m128 mj = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + j)), _mm_mul_ps(v1b1, gj));
        __m128 vj = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + j)),
                               _mm_mul_ps(_mm_mul_ps(v1b2, gj), gj));
        __m128 den = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vj), vbc2), veps);
        wj = _mm_sub_ps(wj, _mm_div_ps(_mm_mul_ps(vstep, mj), den));
        _mm_storeu_ps(w + j, wj);
        _mm_storeu_ps(m + j, mj);
        _mm_storeu_ps(v + j, vj);
    }
#endif
    for (; j < len; j++) {
        float gj = g[j] * gs;
        w[j] *= decay;
        m[j] = b1 * m[j] + (1.0f - b1) * gj;
        v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
        w[j] -= step_size * m[j] / (sqrtf(v[j]) / bc2_sqrt + eps);
    }
}

void ctk_optim_step(struct ctk_optim *opt, double lr)
{
    const struct ctk_adamw_opts *o = &opt->o;
    opt->t++;
    double bc1 = 1.0 - pow(o->beta1, (double)opt->t);
    double bc2 = 1.0 - pow(o->beta2, (double)opt->t);
    struct adam_arg a = {.gscale = opt->gscale,
                         .b1 = (float)o->beta1,
                         .b2 = (float)o->beta2,
                         .step_size = (float)(lr / bc1),
                         .bc2_sqrt = (float)sqrt(bc2),
                         .eps = (float)o->eps,
                         .lr = lr};
    for (int i = 0; i < opt->np; i++)
        if (opt->p[i]->row_len > 0)
            for (size_t k = 0; k < opt->nrows[i]; k++)
                ctk_optim_mark_ever(opt, i, opt->rows[i][k]);
    run_items(opt, make_items(opt), span_adam, &a);
}

static void span_zero(struct ctk_optim *opt, void *arg, int i, size_t off, size_t len, size_t k)
{
    (void)arg;
    (void)k;
    memset(opt->p[i]->g + off, 0, len * sizeof(float));
}

void ctk_optim_zero_grad(struct ctk_optim *opt)
{
    run_items(opt, make_items(opt), span_zero, NULL);
    opt->gscale = 1.0f;
    for (int i = 0; i < opt->np; i++) {
        for (size_t k = 0; k < opt->nrows[i]; k++)
            opt->rowmark[i][opt->rows[i][k]] = 0;
        opt->nrows[i] = 0;
    }
}
