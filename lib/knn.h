/*
 * knn.h -- exact k nearest neighbours by cosine similarity or euclidean
 * distance, blocked through sgemm, one bounded heap per query.
 *
 * The corpus is seen block by block (ctk_knn_add), so memory is bounded by
 * the query count times k plus one (query block x corpus block) score tile,
 * whatever the corpus size: a corpus read from a stream chunk by chunk never
 * needs to be held whole.
 *
 * Exactness: sgemm scores in float only decide which corpus rows can enter a
 * query's heap (with a margin larger than float's rounding error of a dot
 * product of length d); every row that may enter is scored again in double,
 * and the heap orders by that double score. The result is therefore the
 * top k of a brute-force search in double, ties (equal double scores, as
 * for duplicate vectors) broken by the smaller corpus index.
 *
 * Cosine of a zero vector with anything is 0 (as scikit-learn's
 * cosine_similarity, which normalises a zero vector to zero).
 *
 * Ownership: ctk_knn_new() borrows the queries Q until ctk_knn_free(); the
 * corpus blocks given to ctk_knn_add() are only read during the call.
 */
#ifndef CTK_KNN_H
#define CTK_KNN_H

#include <stdint.h>

enum ctk_metric {
    CTK_METRIC_COSINE,    /* score = cosine similarity, larger is nearer */
    CTK_METRIC_EUCLIDEAN, /* score = euclidean distance, smaller is nearer */
};

/* "cosine" / "euclidean" -> metric; 0, or -1 for an unknown name. */
int ctk_metric_parse(const char *s, enum ctk_metric *m);
const char *ctk_metric_name(enum ctk_metric m);

struct ctk_knn;

/*
 * A search of nq queries Q (nq, d), row-major, for their k nearest corpus
 * rows. self_base >= 0 says the queries are corpus rows self_base ..
 * self_base+nq-1 and each query's own row is excluded (query == corpus
 * mode); -1 excludes nothing. threads: workers for the heap scans (sgemm
 * uses OpenBLAS's own threads).
 */
struct ctk_knn *ctk_knn_new(const float *Q, int64_t nq, int64_t d, int k,
                            enum ctk_metric metric, int64_t self_base, int threads);

/*
 * Offer corpus rows X (n, d), whose corpus indices are first .. first+n-1
 * (the caller numbers them; blocks may come in any order, but the result
 * does not depend on it).
 */
void ctk_knn_add(struct ctk_knn *s, const float *X, int64_t n, int64_t first);

/*
 * The result, nearest first: idx (nq, k) corpus indices and score (nq, k)
 * (cosine similarity or euclidean distance); either may be NULL. A query
 * with fewer than k candidates gets idx -1 and score NAN in the tail.
 */
void ctk_knn_result(const struct ctk_knn *s, int64_t *idx, float *score);

void ctk_knn_free(struct ctk_knn *s);

/*
 * The whole search in one call: queries Q (nq, d) against corpus X (nx, d),
 * the corpus offered in blocks of CTK_KNN_BLOCK rows. self: 1 when Q is X
 * (same rows, same order) and a row must not be its own neighbour.
 */
void ctk_knn_search(const float *Q, int64_t nq, const float *X, int64_t nx, int64_t d, int k,
                    enum ctk_metric metric, int self, int threads, int64_t *idx, float *score);

/*
 * Top-k selection, shared by the k-NN scan and lib/bm25.c: hits (score,
 * row), a higher score better and equal scores broken by the smaller row,
 * so the k kept are the same whatever the order they are offered in.
 * ctk_topk_offer offers c to the heap h holding n hits (capacity k, h[0]
 * the worst kept) and returns the new count; ctk_topk_sort sorts n hits
 * best first.
 */
struct ctk_hit {
    double s;  /* larger is better */
    int64_t j; /* row */
};
int64_t ctk_topk_offer(struct ctk_hit *h, int64_t n, int64_t k, struct ctk_hit c);
void ctk_topk_sort(struct ctk_hit *h, int64_t n);

/* Corpus rows per sgemm tile, and queries per tile (bounds the tile's memory). */
#define CTK_KNN_BLOCK 4096
#define CTK_KNN_QBLOCK 1024

#endif
