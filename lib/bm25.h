/*
 * bm25.h -- an Okapi BM25 index over token ids, for lexical hard negatives.
 *
 * THE FORMULA (Robertson and Zaragoza, "The Probabilistic Relevance
 * Framework: BM25 and Beyond", 2009, eq. 3.15, with Lucene's idf):
 *
 *   score(q, d) = sum over the tokens t of q, repeats included, of
 *                 idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
 *
 *   idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))
 *
 * tf(t,d) is how often t occurs in document d, |d| the number of tokens
 * of d, avgdl the mean |d| over the N indexed documents, n(t) the number
 * of them that contain t. This idf (Lucene's BM25Similarity) is always
 * positive, unlike Robertson-Sparck Jones' ln((N - n + 0.5) / (n + 0.5)),
 * which turns negative for tokens in more than half the documents. A
 * query token repeated r times counts r times, as Lucene's BooleanQuery
 * and rank_bm25 count it. Defaults k1 = 1.2, b = 0.75 (Lucene's).
 *
 * A document that shares no token with the query scores 0 and is never
 * returned by ctk_bm25_topk. Scores are computed in double.
 *
 * Documents are rows 0 .. nrows-1 of a ragged I32 column (ctk-tok's ids);
 * rows marked not indexed (duplicates, say) are left out of N, avgdl, n(t)
 * and the results.
 *
 * Ownership: ctk_bm25_build() copies what it needs; ctk_bm25_free() frees.
 * A search state (ctk_bm25_search) belongs to one thread.
 */
#ifndef CTK_BM25_H
#define CTK_BM25_H

#include <stdint.h>

#include "err.h"

struct ctk_bm25 {
    double k1, b;
    int64_t nrows;      /* row index space */
    int64_t ndocs;      /* N: indexed rows */
    double avgdl;
    int32_t nterms;     /* token ids are 0 .. nterms-1 */
    int64_t *post_off;  /* (nterms+1) postings of term t: post_doc[post_off[t] .. post_off[t+1]) */
    int64_t *post_doc;  /* row of each posting, increasing within a term */
    int32_t *post_tf;   /* tf of each posting */
    int32_t *doclen;    /* (nrows) |d|; 0 for rows not indexed */
    double *idf;        /* (nterms) */
};

/*
 * Index rows 0 .. nrows-1 of (ids, offsets): row r is ids[offsets[r] ..
 * offsets[r+1]). indexed (nrows) says which rows to index, NULL for all.
 * Returns 0, or -1 with e set (a negative token id).
 */
int ctk_bm25_build(struct ctk_bm25 *ix, const int32_t *ids, const int64_t *offsets, int64_t nrows,
                   const uint8_t *indexed, double k1, double b, struct ctk_err *e);
void ctk_bm25_free(struct ctk_bm25 *ix);

/* idf of token t (0 for a token no document has: it adds nothing). */
double ctk_bm25_idf(const struct ctk_bm25 *ix, int32_t t);

/*
 * The score of a document given by its tokens (d, nd), indexed or not
 * (a positive outside the corpus), against the query (q, nq), with the
 * index's N, avgdl and idf.
 */
double ctk_bm25_score_text(const struct ctk_bm25 *ix, const int32_t *q, int64_t nq,
                           const int32_t *d, int64_t nd);

/* Scratch space of one searching thread: an accumulator per row. */
struct ctk_bm25_search {
    double *acc;       /* (nrows), zero between searches */
    int64_t *touched;  /* (nrows) rows with a nonzero score */
    int64_t ntouched;
    int32_t *qt;       /* query tokens, sorted */
    int64_t qcap;
};
void ctk_bm25_search_init(struct ctk_bm25_search *s, const struct ctk_bm25 *ix);
void ctk_bm25_search_free(struct ctk_bm25_search *s);

/*
 * The k best documents for query (q, nq), best first, ties to the smaller
 * row: rows to idx, scores to score (k each). skip (nrows, or NULL) marks
 * rows never to return. Returns how many were found (<= k).
 */
int64_t ctk_bm25_topk(const struct ctk_bm25 *ix, struct ctk_bm25_search *s, const int32_t *q,
                      int64_t nq, const uint8_t *skip, int64_t k, int64_t *idx, double *score);

#endif
