/*
 * mine.c -- the guards and the selection of hard negatives (see mine.h).
 */
#include "mine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void ctk_mine_opts_default(struct ctk_mine_opts *o)
{
    o->range_min = 0;
    o->range_max = 0;
    o->margin = NAN;
    o->relative_margin = NAN;
    o->max_score = NAN;
    o->min_score = NAN;
    o->num_negatives = 3;
    o->sampling = CTK_MINE_TOP;
}

int64_t ctk_mine_range_max(const struct ctk_mine_opts *o)
{
    if (o->range_max > 0)
        return o->range_max;
    int guarded = !isnan(o->margin) || !isnan(o->relative_margin) || !isnan(o->max_score);
    return o->range_min + (guarded ? 10 : 1) * (int64_t)o->num_negatives;
}

const char *ctk_mine_drop_name(enum ctk_mine_drop d)
{
    static const char *const names[CTK_MINE_NDROP] = {
        "self", "positive", "duplicate", "label", "margin",
        "relative-margin", "max-score", "min-score", "range-min",
    };
    return (unsigned)d < CTK_MINE_NDROP ? names[d] : "?";
}

/*
 * Stable sort by score, largest first (merge sort): equal scores keep the
 * order the caller gave them, which is the search's order (ties to the
 * smaller index, decided there in double when scores are rounded to float).
 */
static void sort_nearer(struct ctk_mine_cand *c, int64_t n, struct ctk_mine_cand *tmp)
{
    if (n < 2)
        return;
    int64_t h = n / 2;
    sort_nearer(c, h, tmp);
    sort_nearer(c + h, n - h, tmp);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = c[j].score > c[i].score ? c[j++] : c[i++];
    while (i < h)
        tmp[k++] = c[i++];
    while (j < n)
        tmp[k++] = c[j++];
    memcpy(c, tmp, (size_t)n * sizeof *c);
}

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* The first score guard that drops s, or -1 (mine.h, step 4). */
static int score_guard(const struct ctk_mine_opts *o, double s, double p)
{
    if (!isnan(o->margin) && s + o->margin > p)
        return CTK_MINE_MARGIN;
    if (!isnan(o->relative_margin) && s > p * (1.0 - o->relative_margin))
        return CTK_MINE_RELATIVE_MARGIN;
    if (!isnan(o->max_score) && s > o->max_score)
        return CTK_MINE_MAX_SCORE;
    if (!isnan(o->min_score) && s < o->min_score)
        return CTK_MINE_MIN_SCORE;
    return -1;
}

int ctk_mine_select(const struct ctk_mine_opts *o, double pos_score, struct ctk_mine_cand *c,
                    int64_t n, struct ctk_rng *rng, struct ctk_mine_cand *out,
                    int64_t drops[CTK_MINE_NDROP])
{
    const int64_t range_max = ctk_mine_range_max(o);
    struct ctk_mine_cand *tmp = xmallocarray(n > 0 ? (size_t)n : 1, sizeof *tmp);
    sort_nearer(c, n, tmp);
    /* Steps 2-5, compacting the survivors past range_min to the front of c. */
    int64_t rank = 0, survivors = 0, m = 0;
    for (int64_t i = 0; i < n && rank < range_max; i++) {
        if (c[i].why != CTK_MINE_KEEP) {
            if (c[i].why >= 0 && c[i].why < CTK_MINE_NDROP)
                drops[c[i].why]++;
            continue;
        }
        rank++;
        int g = score_guard(o, c[i].score, pos_score);
        if (g >= 0) {
            drops[g]++;
            continue;
        }
        if (survivors++ < o->range_min) {
            drops[CTK_MINE_RANGE_MIN]++;
            continue;
        }
        c[m++] = c[i];
    }
    int64_t k = o->num_negatives < m ? o->num_negatives : m;
    if (o->sampling == CTK_MINE_RANDOM && k < m) {
        /* partial Fisher-Yates over the positions 0 .. m-1, then back in rank order */
        int64_t *pos = xmallocarray((size_t)m, sizeof *pos);
        for (int64_t t = 0; t < m; t++)
            pos[t] = t;
        for (int64_t t = 0; t < k; t++) {
            int64_t j = t + (int64_t)ctk_rng_below(rng, (uint64_t)(m - t));
            int64_t x = pos[t];
            pos[t] = pos[j];
            pos[j] = x;
        }
        qsort(pos, (size_t)k, sizeof *pos, cmp_i64);
        for (int64_t t = 0; t < k; t++)
            out[t] = c[pos[t]];
        free(pos);
    } else {
        memcpy(out, c, (size_t)k * sizeof *out);
    }
    free(tmp);
    return (int)k;
}

struct keyed {
    double key;
    int64_t row;
};

static int by_key(const void *pa, const void *pb)
{
    const struct keyed *a = pa, *b = pb;
    if (a->key < b->key)
        return -1;
    if (a->key > b->key)
        return 1;
    return (a->row > b->row) - (a->row < b->row);
}

void ctk_mine_curriculum(const double *key, int64_t n, int64_t *order)
{
    struct keyed *t = xmallocarray(n > 0 ? (size_t)n : 1, sizeof *t);
    for (int64_t i = 0; i < n; i++)
        t[i] = (struct keyed){key[i], i};
    qsort(t, (size_t)n, sizeof *t, by_key);
    for (int64_t i = 0; i < n; i++)
        order[i] = t[i].row;
    free(t);
}

int32_t ctk_mine_stage(int64_t r, int64_t n, int32_t nstages)
{
    if (n <= 0)
        return 1;
    return 1 + (int32_t)((double)r * nstages / (double)n);
}

static int dbl_cmp(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Quantile q of sorted x (n >= 1), linear interpolation between ranks. */
static double quantile(const double *x, int64_t n, double q)
{
    double h = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(h);
    int64_t hi = lo + 1 < n ? lo + 1 : lo;
    return x[lo] + (h - (double)lo) * (x[hi] - x[lo]);
}

void ctk_mine_stats(double *x, int64_t n, struct ctk_mine_stats *s)
{
    s->n = n;
    if (n <= 0) {
        s->mean = s->median = s->std = s->min = s->q25 = s->q50 = s->q75 = s->max = NAN;
        return;
    }
    qsort(x, (size_t)n, sizeof *x, dbl_cmp);
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += x[i];
    s->mean = sum / (double)n;
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (x[i] - s->mean) * (x[i] - s->mean);
    s->std = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    s->min = x[0];
    s->max = x[n - 1];
    s->q25 = quantile(x, n, 0.25);
    s->q50 = quantile(x, n, 0.5);
    s->q75 = quantile(x, n, 0.75);
    s->median = s->q50;
}
