/*
 * test_train.c -- the training driver's parts that stand alone:
 *   - the batch plan against a plain transcription of sentence-transformers'
 *     NoDuplicatesBatchSampler.__iter__ over the same shuffled order, and its
 *     guarantees (each row once per epoch, no text in two rows of a batch);
 *   - the projection head's gradients against central finite differences.
 * Exits non-zero on any mismatch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "projhead.h"
#include "rng.h"
#include "train.h"

static int failures;

#define FAIL(...)                                                                              \
    do {                                                                                       \
        printf("FAIL " __VA_ARGS__);                                                           \
        printf("\n");                                                                          \
        failures++;                                                                            \
    } while (0)

/*
 * The reference: sentence-transformers' loop, written plainly. remaining is
 * the shuffled order; each pass takes rows in order whose texts are not in
 * the batch yet, until the batch is full; the rows taken are removed.
 */
static int64_t reference_plan(const struct ctk_train_data *d, int64_t B, uint64_t seed,
                              int64_t ep, int64_t *rows, int64_t *start)
{
    int64_t R = d->R, nrem = R, nb = 0, at = 0;
    int64_t *rem = xmallocarray((size_t)R, sizeof *rem);
    for (int64_t i = 0; i < R; i++)
        rem[i] = i;
    struct ctk_rng rng;
    ctk_rng_seed_stream(&rng, seed, (uint64_t)ep);
    ctk_rng_shuffle(&rng, rem, (size_t)R, sizeof *rem);
    uint64_t *vals = xmallocarray((size_t)(B * d->K), sizeof *vals);
    start[0] = 0;
    while (nrem > 0) {
        int64_t nvals = 0, taken = 0;
        for (int64_t i = 0; i < nrem && taken < B; i++) {
            int64_t row = rem[i];
            int clash = 0;
            for (int k = 0; k < d->K; k++)
                for (int64_t j = 0; j < nvals; j++)
                    clash |= vals[j] == d->hash[k][row];
            if (clash)
                continue;
            rows[at++] = row;
            taken++;
            for (int k = 0; k < d->K; k++)
                vals[nvals++] = d->hash[k][row];
            rem[i] = -1;
        }
        int64_t w = 0;
        for (int64_t i = 0; i < nrem; i++)
            if (rem[i] >= 0)
                rem[w++] = rem[i];
        nrem = w;
        start[++nb] = at;
    }
    free(rem);
    free(vals);
    return nb;
}

static void test_plan(void)
{
    /* 60 rows, 2 texts each, drawn from 9 distinct anchors and 25 positives */
    struct ctk_train_data d = {0};
    d.K = 2;
    d.R = 60;
    for (int k = 0; k < 2; k++)
        d.hash[k] = xmallocarray((size_t)d.R, sizeof(uint64_t));
    struct ctk_rng rng;
    ctk_rng_seed(&rng, 99);
    for (int64_t i = 0; i < d.R; i++) {
        d.hash[0][i] = 1000 + ctk_rng_below(&rng, 9);
        d.hash[1][i] = 2000 + ctk_rng_below(&rng, 25);
        if (i % 7 == 0)
            d.hash[1][i] = d.hash[0][i]; /* anchor and positive the same text (SimCSE-like) */
    }
    int64_t B = 4;
    struct ctk_train_plan p = {0};
    int64_t *rows = xmallocarray((size_t)d.R, sizeof *rows);
    int64_t *start = xmallocarray((size_t)d.R + 1, sizeof *start);
    int64_t total = 0;
    for (int64_t ep = 0; ep < 3; ep++) {
        int64_t before = p.nbatches;
        ctk_train_plan_epoch(&p, &d, B, 5, ep);
        int64_t nb = reference_plan(&d, B, 5, ep, rows, start);
        if (p.nbatches - before != nb) {
            FAIL("epoch %lld: %lld batches, reference %lld", (long long)ep,
                 (long long)(p.nbatches - before), (long long)nb);
            continue;
        }
        for (int64_t b = 0; b < nb; b++) {
            int64_t n = p.start[before + b + 1] - p.start[before + b];
            if (n != start[b + 1] - start[b] ||
                memcmp(p.rows + p.start[before + b], rows + start[b], (size_t)n * sizeof *rows))
                FAIL("epoch %lld batch %lld differs from the reference", (long long)ep,
                     (long long)b);
            /* no text in two rows of a batch */
            const int64_t *br = p.rows + p.start[before + b];
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = i + 1; j < n; j++)
                    for (int ki = 0; ki < 2; ki++)
                        for (int kj = 0; kj < 2; kj++)
                            if (d.hash[ki][br[i]] == d.hash[kj][br[j]])
                                FAIL("epoch %lld batch %lld: rows %lld and %lld share a text",
                                     (long long)ep, (long long)b, (long long)br[i],
                                     (long long)br[j]);
            if (p.epoch[before + b] != ep)
                FAIL("batch epoch");
        }
        /* every row once per epoch */
        int *seen = xcalloc((size_t)d.R, sizeof *seen);
        for (int64_t i = p.start[before]; i < p.start[p.nbatches]; i++)
            seen[p.rows[i]]++;
        for (int64_t i = 0; i < d.R; i++)
            if (seen[i] != 1)
                FAIL("epoch %lld: row %lld taken %d times", (long long)ep, (long long)i, seen[i]);
        free(seen);
        total += nb;
    }
    /* epochs are shuffled differently */
    if (memcmp(p.rows, p.rows + d.R, 8 * sizeof *rows) == 0)
        FAIL("epochs 0 and 1 start alike");
    printf("batch plan: %lld batches over 3 epochs of %lld rows, as the reference\n",
           (long long)total, (long long)d.R);
    ctk_train_plan_free(&p);
    free(rows);
    free(start);
    free(d.hash[0]);
    free(d.hash[1]);
}

/* loss = sum(c * head(x)); gradients of W, b and x against central differences */
static void test_projhead(void)
{
    int64_t D = 6, S = 4;
    struct ctk_projhead h;
    ctk_projhead_init(&h, D, 3);
    float x[24], c[24], out[24], dx[24];
    struct ctk_rng rng;
    ctk_rng_seed(&rng, 11);
    for (int i = 0; i < 24; i++) {
        x[i] = (float)ctk_rng_normal(&rng);
        c[i] = (float)ctk_rng_normal(&rng);
    }
    ctk_projhead_forward(&h, out, x, S);
    ctk_projhead_backward(&h, dx, c, S);
    float *vars[] = {h.w, h.b, x}, *grads[] = {h.gw, h.gb, dx};
    int64_t sizes[] = {D * D, D, S * D};
    const char *names[] = {"weight", "bias", "input"};
    for (int v = 0; v < 3; v++) {
        double worst = 0;
        for (int64_t i = 0; i < sizes[v]; i++) {
            float x0 = vars[v][i], hstep = 1e-2f;
            double l[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                vars[v][i] = x0 + (sgn ? -hstep : hstep);
                ctk_projhead_forward(&h, out, x, S);
                double sum = 0;
                for (int j = 0; j < 24; j++)
                    sum += (double)c[j] * out[j];
                l[sgn] = sum;
            }
            vars[v][i] = x0;
            double fd = (l[0] - l[1]) / (2.0 * hstep);
            double err = fabs(fd - grads[v][i]) / (1e-2 + fabs(fd));
            if (err > worst)
                worst = err;
        }
        printf("projection head d%s vs finite differences: max rel err %.2e\n", names[v], worst);
        if (worst > 2e-3)
            FAIL("projection head d%s", names[v]);
    }
    ctk_projhead_free(&h);
}

int main(int argc, char **argv)
{
    ctk_init("test_train", argc, argv);
    test_plan();
    test_projhead();
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
