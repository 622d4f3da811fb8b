/*
 * sampler.c -- the batches of a training run, as sentence-transformers'
 * NoDuplicatesBatchSampler makes them (see BATCHES in train.h).
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"
#include "train.h"

/* --- batches (NoDuplicatesBatchSampler) --------------------------------- */

/* The texts of the batch being filled: open addressing over their digests. */
struct textset {
    uint64_t *h;
    unsigned char *used;
    size_t mask;
};

static int set_has(const struct textset *t, uint64_t h)
{
    for (size_t j = h & t->mask; t->used[j]; j = (j + 1) & t->mask)
        if (t->h[j] == h)
            return 1;
    return 0;
}

static void set_add(struct textset *t, uint64_t h)
{
    size_t j = h & t->mask;
    while (t->used[j] && t->h[j] != h)
        j = (j + 1) & t->mask;
    t->used[j] = 1;
    t->h[j] = h;
}

/*
 * Append epoch ep's batches: rows shuffled by (seed, ep), then taken in that
 * order, a row whose text is already in the current batch left for the
 * next one (sentence-transformers' NoDuplicatesBatchSampler).
 */
void ctk_train_plan_epoch(struct ctk_train_plan *p, const struct ctk_train_data *d, int64_t B, uint64_t seed,
                       int64_t ep)
{
    int64_t R = d->R;
    int K = d->K;
    int64_t *perm = xmallocarray((size_t)R, sizeof *perm), *next = xmallocarray((size_t)R + 1,
                                                                                   sizeof *next);
    for (int64_t i = 0; i < R; i++)
        perm[i] = i;
    struct ctk_rng rng;
    ctk_rng_seed_stream(&rng, seed, (uint64_t)ep);
    ctk_rng_shuffle(&rng, perm, (size_t)R, sizeof *perm);
    /* a linked list of the rows not yet batched, in shuffled order; R is the head */
    for (int64_t i = 0; i < R; i++)
        next[i] = i + 1 < R ? i + 1 : -1;
    next[R] = R > 0 ? 0 : -1;
    size_t cap = 16;
    while (cap < (size_t)(4 * B * K))
        cap *= 2;
    struct textset set = {xcalloc(cap, sizeof(uint64_t)), xcalloc(cap, 1), cap - 1};
    while (next[R] >= 0) {
        if (p->nbatches + 2 > p->capb) {
            p->capb = p->capb ? 2 * p->capb : 256;
            p->start = xreallocarray(p->start, (size_t)p->capb, sizeof *p->start);
            p->epoch = xreallocarray(p->epoch, (size_t)p->capb, sizeof *p->epoch);
        }
        if (p->nbatches == 0)
            p->start[0] = 0;
        memset(set.used, 0, cap);
        int64_t taken = 0;
        for (int64_t prev = R, i = next[R]; i >= 0 && taken < B; i = next[prev]) {
            int64_t row = perm[i];
            int clash = 0;
            for (int r = 0; r < K && !clash; r++)
                clash = set_has(&set, d->hash[r][row]);
            if (clash) {
                prev = i;
                continue;
            }
            for (int r = 0; r < K; r++)
                set_add(&set, d->hash[r][row]);
            if (p->nrows == p->cap) {
                p->cap = p->cap ? 2 * p->cap : 1024;
                p->rows = xreallocarray(p->rows, (size_t)p->cap, sizeof *p->rows);
            }
            p->rows[p->nrows++] = row;
            taken++;
            next[prev] = next[i]; /* unlink i */
        }
        p->epoch[p->nbatches] = ep;
        p->start[++p->nbatches] = p->nrows;
    }
    free(set.h);
    free(set.used);
    free(perm);
    free(next);
}

void ctk_train_plan_free(struct ctk_train_plan *p)
{
    free(p->start);
    free(p->rows);
    free(p->epoch);
}

