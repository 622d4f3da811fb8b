/*
 * mine.h -- choosing hard negatives for an anchor from its ranked candidates,
 * with the guards against false negatives of sentence-transformers'
 * mine_hard_negatives (sentence_transformers/util/hard_negatives.py), and
 * the curriculum order of the mined rows. Pure functions: the search that
 * ranks the candidates (knn.h for cosine, bm25.h for BM25) is the caller's.
 *
 * THE SELECTION (ctk_mine_select), for one anchor with positive score p:
 *   1. The candidates are sorted by score, largest first; equal scores
 *      keep the order given (stable sort). Give them in the search's order
 *      -- knn.h and bm25.h rank in double, ties to the smaller corpus
 *      index -- so that scores rounded to float do not reorder them.
 *   2. Excluded candidates are dropped and do not count as ranks: the
 *      anchor's own text (SELF), one of its positives (POSITIVE), an exact
 *      duplicate text of either or of a better candidate (DUPLICATE), a
 *      corpus row of the anchor's label (LABEL). The caller marks them.
 *   3. The pool is the range_max nearest remaining candidates: the true
 *      negatives of rank 0 .. range_max-1.
 *   4. Score guards, in this order, each counting what it drops (a
 *      candidate is counted by the first guard that drops it):
 *        margin           drop when s + margin > p          (absolute_margin)
 *        relative margin  drop when s > p * (1 - relative_margin)
 *        max score        drop when s > max_score
 *        min score        drop when s < min_score
 *   5. The range_min best survivors are skipped (RANGE_MIN).
 *   6. sampling top: the num_negatives best of the rest; random: a uniform
 *      sample of num_negatives of them (all when fewer), drawn by partial
 *      Fisher-Yates over their positions from the caller's generator, then
 *      put back in rank order.
 * This is the order of operations of mine_hard_negatives: its pool is the
 * top range_max + max_positives by score with the positives masked, its
 * guards set scores to -inf, its second top-k brings the survivors first
 * and its slice [range_min:] skips the best survivors. One difference: a
 * candidate is counted by one guard only (there, min_score counts the
 * candidates other guards already removed).
 *
 * Ownership: every buffer is the caller's; ctk_mine_select sorts c in place.
 */
#ifndef CTK_MINE_H
#define CTK_MINE_H

#include <stdint.h>

#include "rng.h"

enum ctk_mine_sampling { CTK_MINE_TOP, CTK_MINE_RANDOM };

/* Why a candidate was not chosen; the first four are the caller's marks. */
enum ctk_mine_drop {
    CTK_MINE_SELF,            /* the anchor itself */
    CTK_MINE_POSITIVE,        /* one of the anchor's positives */
    CTK_MINE_DUPLICATE,       /* the same text as the anchor, a positive or a better candidate */
    CTK_MINE_LABEL,           /* of the anchor's label */
    CTK_MINE_MARGIN,          /* s + margin > positive score */
    CTK_MINE_RELATIVE_MARGIN, /* s > positive score * (1 - relative_margin) */
    CTK_MINE_MAX_SCORE,       /* s > max_score */
    CTK_MINE_MIN_SCORE,       /* s < min_score */
    CTK_MINE_RANGE_MIN,       /* among the range_min best survivors */
    CTK_MINE_NDROP
};

/* A candidate is a true negative unless why says otherwise. */
#define CTK_MINE_KEEP (-1)

struct ctk_mine_cand {
    int64_t idx;  /* corpus row */
    double score; /* similarity to the anchor, larger is nearer */
    int why;      /* CTK_MINE_KEEP, or SELF/POSITIVE/DUPLICATE/LABEL */
};

struct ctk_mine_opts {
    int64_t range_min;      /* skip this many best survivors (0) */
    int64_t range_max;      /* pool size in true negatives; <= 0: ctk_mine_default_range_max */
    double margin;          /* absolute margin, NAN: off */
    double relative_margin; /* NAN: off */
    double max_score;       /* NAN: off */
    double min_score;       /* NAN: off */
    int num_negatives;      /* at most this many per anchor (3) */
    enum ctk_mine_sampling sampling;
};

void ctk_mine_opts_default(struct ctk_mine_opts *o);

/*
 * The pool size when range_max is not given, as mine_hard_negatives sets
 * it (less the positives, which do not count as ranks here): range_min +
 * num_negatives, or range_min + 10 * num_negatives when a margin or
 * max_score may drop candidates.
 */
int64_t ctk_mine_range_max(const struct ctk_mine_opts *o);

/* Short names of the drop reasons, for summaries: "self", "margin", ... */
const char *ctk_mine_drop_name(enum ctk_mine_drop d);

/*
 * Choose the negatives of one anchor. c (n candidates, any order; sorted in
 * place), pos_score the anchor-positive score, rng used only by random
 * sampling. Writes the chosen (at most num_negatives, nearest first) to out
 * and adds the drops of each reason to drops[CTK_MINE_NDROP]. Returns the
 * number chosen.
 */
int ctk_mine_select(const struct ctk_mine_opts *o, double pos_score, struct ctk_mine_cand *c,
                    int64_t n, struct ctk_rng *rng, struct ctk_mine_cand *out,
                    int64_t drops[CTK_MINE_NDROP]);

/*
 * The curriculum: order (n) receives the row indices sorted by key
 * ascending (easy negatives, the least similar, first), ties in row order.
 */
void ctk_mine_curriculum(const double *key, int64_t n, int64_t *order);

/* Stage (1 .. nstages) of the row at curriculum position r of n: equal shares. */
int32_t ctk_mine_stage(int64_t r, int64_t n, int32_t nstages);

/*
 * Summary figures of x (n values; sorted in place), the rows
 * mine_hard_negatives prints: mean, median (= q50), std (n - 1 in the
 * denominator; 0 for one value), min, quartiles (linear interpolation,
 * numpy's default), max. n = 0 gives NANs.
 */
struct ctk_mine_stats {
    double mean, median, std, min, q25, q50, q75, max;
    int64_t n;
};
void ctk_mine_stats(double *x, int64_t n, struct ctk_mine_stats *s);

#endif
