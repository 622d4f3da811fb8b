/*
 * bm25.c -- Okapi BM25 with Lucene's idf (see bm25.h for the formula).
 *
 * The index is an inverted file in CSR form: for each token, the rows that
 * contain it and how often. A search accumulates term at a time into one
 * double per row, remembering which rows it touched, then keeps the best k
 * of those in a min-heap.
 */
#include "bm25.h"
#include "knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i32(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

int ctk_bm25_build(struct ctk_bm25 *ix, const int32_t *ids, const int64_t *offsets, int64_t nrows,
                   const uint8_t *indexed, double k1, double b, struct ctk_err *e)
{
    memset(ix, 0, sizeof *ix);
    ix->k1 = k1;
    ix->b = b;
    ix->nrows = nrows;
    int32_t maxid = -1;
    int64_t total = 0;
    for (int64_t r = 0; r < nrows; r++) {
        if (indexed && !indexed[r])
            continue;
        for (int64_t p = offsets[r]; p < offsets[r + 1]; p++) {
            if (ids[p] < 0)
                return ctk_err_set(e, "row %lld has a negative token id %d", (long long)r + 1, ids[p]);
            if (ids[p] > maxid)
                maxid = ids[p];
        }
        total += offsets[r + 1] - offsets[r];
        ix->ndocs++;
    }
    ix->nterms = maxid + 1;
    ix->avgdl = ix->ndocs ? (double)total / (double)ix->ndocs : 0.0;
    ix->doclen = xcalloc(nrows > 0 ? (size_t)nrows : 1, sizeof *ix->doclen);
    ix->post_off = xcalloc((size_t)ix->nterms + 1, sizeof *ix->post_off);
    ix->idf = xcalloc(ix->nterms > 0 ? (size_t)ix->nterms : 1, sizeof *ix->idf);

    /* Each document's tokens sorted, so that a run is one (term, tf). */
    int64_t maxlen = 0;
    for (int64_t r = 0; r < nrows; r++)
        if (offsets[r + 1] - offsets[r] > maxlen)
            maxlen = offsets[r + 1] - offsets[r];
    int32_t *tmp = xmallocarray(maxlen > 0 ? (size_t)maxlen : 1, sizeof *tmp);
    int64_t nposts = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            /* counts -> offsets; post_off[t] is then the fill position of t */
            int64_t run = 0;
            for (int32_t t = 0; t < ix->nterms; t++) {
                int64_t c = ix->post_off[t];
                ix->post_off[t] = run;
                run += c;
            }
            ix->post_off[ix->nterms] = run;
            nposts = run;
            ix->post_doc = xmallocarray(nposts > 0 ? (size_t)nposts : 1, sizeof *ix->post_doc);
            ix->post_tf = xmallocarray(nposts > 0 ? (size_t)nposts : 1, sizeof *ix->post_tf);
        }
        for (int64_t r = 0; r < nrows; r++) {
            if (indexed && !indexed[r])
                continue;
            int64_t len = offsets[r + 1] - offsets[r];
            if (pass == 0)
                ix->doclen[r] = (int32_t)len;
            memcpy(tmp, ids + offsets[r], (size_t)len * sizeof *tmp);
            qsort(tmp, (size_t)len, sizeof *tmp, cmp_i32);
            for (int64_t p = 0; p < len;) {
                int64_t q = p;
                while (q < len && tmp[q] == tmp[p])
                    q++;
                int32_t t = tmp[p];
                if (pass == 0) {
                    ix->post_off[t]++;
                } else {
                    int64_t at = ix->post_off[t]++;
                    ix->post_doc[at] = r;
                    ix->post_tf[at] = (int32_t)(q - p);
                }
                p = q;
            }
        }
    }
    /* post_off[t] now holds the end of t's postings: shift back to starts. */
    for (int32_t t = ix->nterms; t > 0; t--)
        ix->post_off[t] = ix->post_off[t - 1];
    ix->post_off[0] = 0;
    free(tmp);
    for (int32_t t = 0; t < ix->nterms; t++) {
        double n = (double)(ix->post_off[t + 1] - ix->post_off[t]);
        ix->idf[t] = n > 0 ? log(1.0 + ((double)ix->ndocs - n + 0.5) / (n + 0.5)) : 0.0;
    }
    return 0;
}

void ctk_bm25_free(struct ctk_bm25 *ix)
{
    free(ix->post_off);
    free(ix->post_doc);
    free(ix->post_tf);
    free(ix->doclen);
    free(ix->idf);
    memset(ix, 0, sizeof *ix);
}

double ctk_bm25_idf(const struct ctk_bm25 *ix, int32_t t)
{
    return t >= 0 && t < ix->nterms ? ix->idf[t] : 0.0;
}

/* The term weight of one occurrence of a query token: idf times the tf part. */
static double weight(const struct ctk_bm25 *ix, double idf, double tf, double dl)
{
    double norm = ix->avgdl > 0 ? 1.0 - ix->b + ix->b * dl / ix->avgdl : 1.0;
    return idf * tf * (ix->k1 + 1.0) / (tf + ix->k1 * norm);
}

double ctk_bm25_score_text(const struct ctk_bm25 *ix, const int32_t *q, int64_t nq,
                           const int32_t *d, int64_t nd)
{
    double s = 0;
    for (int64_t i = 0; i < nq; i++) {
        double idf = ctk_bm25_idf(ix, q[i]);
        if (idf == 0)
            continue;
        int64_t tf = 0;
        for (int64_t j = 0; j < nd; j++)
            tf += d[j] == q[i];
        if (tf)
            s += weight(ix, idf, (double)tf, (double)nd);
    }
    return s;
}

void ctk_bm25_search_init(struct ctk_bm25_search *s, const struct ctk_bm25 *ix)
{
    size_t n = ix->nrows > 0 ? (size_t)ix->nrows : 1;
    s->acc = xcalloc(n, sizeof *s->acc);
    s->touched = xmallocarray(n, sizeof *s->touched);
    s->ntouched = 0;
    s->qt = NULL;
    s->qcap = 0;
}

void ctk_bm25_search_free(struct ctk_bm25_search *s)
{
    free(s->acc);
    free(s->touched);
    free(s->qt);
    memset(s, 0, sizeof *s);
}

int64_t ctk_bm25_topk(const struct ctk_bm25 *ix, struct ctk_bm25_search *s, const int32_t *q,
                      int64_t nq, const uint8_t *skip, int64_t k, int64_t *idx, double *score)
{
    if (nq > s->qcap) {
        s->qcap = nq;
        s->qt = xreallocarray(s->qt, (size_t)nq, sizeof *s->qt);
    }
    memcpy(s->qt, q, (size_t)nq * sizeof *q);
    qsort(s->qt, (size_t)nq, sizeof *s->qt, cmp_i32);
    s->ntouched = 0;
    for (int64_t p = 0; p < nq;) {
        int64_t e = p;
        while (e < nq && s->qt[e] == s->qt[p])
            e++;
        int32_t t = s->qt[p];
        double qtf = (double)(e - p);
        p = e;
        if (t < 0 || t >= ix->nterms)
            continue;
        double idf = ix->idf[t];
        for (int64_t i = ix->post_off[t]; i < ix->post_off[t + 1]; i++) {
            int64_t r = ix->post_doc[i];
            if (s->acc[r] == 0)
                s->touched[s->ntouched++] = r;
            s->acc[r] += qtf * weight(ix, idf, (double)ix->post_tf[i], (double)ix->doclen[r]);
        }
    }
    struct ctk_hit *h = xmallocarray(k > 0 ? (size_t)k : 1, sizeof *h);
    int64_t n = 0;
    for (int64_t i = 0; i < s->ntouched; i++) {
        int64_t r = s->touched[i];
        struct ctk_hit c = {s->acc[r], r};
        s->acc[r] = 0;
        if (k <= 0 || (skip && skip[r]))
            continue;
        n = ctk_topk_offer(h, n, k, c);
    }
    ctk_topk_sort(h, n);
    for (int64_t i = 0; i < n; i++) {
        idx[i] = h[i].j;
        score[i] = h[i].s;
    }
    free(h);
    return n;
}
