/*
 * loss.h -- the contrastive losses of ctk-train-mnrl, value and gradient
 * with respect to the embeddings, as sentence-transformers defines them
 * (the modules of sentence_transformers.losses), so that hyper-parameters and results
 * carry over.
 *
 * A batch holds S rows; each row has K texts by role: column 0 the anchor,
 * column 1 the positive (or the second text of a scored pair), columns
 * 2..K-1 hard negatives. Their embeddings arrive as one (K, S, D) matrix,
 * the order in which the driver packs the texts for one encoder pass.
 *
 *   mnrl        MultipleNegativesRankingLoss: scores = scale * cos(a_i, c_j)
 *               over every candidate c (all positives, then all negatives of
 *               every column), cross-entropy with target j = i, mean over i.
 *               symmetric: MultipleNegativesSymmetricRankingLoss, the mean of
 *               that and the positive -> anchor direction (positives against
 *               anchors only). With labels, candidates of the anchor's own
 *               class are left out of the softmax (see below).
 *   simcse      mnrl where columns 0 and 1 are two dropout passes of one text.
 *   cosine      CosineSimilarityLoss: mean over i of (cos(a_i, b_i) - score_i)^2.
 *   contrastive ContrastiveLoss (size_average): mean of
 *               0.5 * (y d^2 + (1 - y) relu(margin - d)^2), y = score_i.
 *   online-contrastive
 *               OnlineContrastiveLoss: over the hard pairs only -- negatives
 *               (y = 0) closer than the farthest positive, positives (y = 1)
 *               farther than the closest negative (a class with one pair uses
 *               the other class's mean instead) -- the sum (not the mean) of
 *               d^2 for positives and relu(margin - d)^2 for negatives.
 *   triplet     TripletLoss: mean of relu(d(a,p) - d(a,n) + margin), over
 *               the first negative column.
 *
 * Distances: cosine: 1 - cos(x, y) (torch.nn.functional.cosine_similarity,
 * eps 1e-8); euclidean: ||x - y + 1e-6||_2 (torch.nn.functional.
 * pairwise_distance, which sentence-transformers used up to v4; v5's
 * pairwise_euclidean_sim returns the *negative* distance, which turns the
 * triplet objective upside down, so ctk keeps the distance).
 *
 * False negatives: with labels (one class id per row), an in-batch candidate
 * of row j != i whose label equals row i's is masked out of row i's softmax,
 * in the positive column (and, for symmetric, the anchor column of the
 * reverse direction). With the class of every hard negative too
 * (ctk_loss_compute_labeled), every hard-negative candidate -- of any row,
 * row i's own included -- whose class equals row i's is masked out of row
 * i's softmax as well: a hard negative mined for an anchor of another class
 * is often of row i's class, and pushing it away would push row i's class
 * apart. A hard negative of unknown class (-1) is never masked. The reverse
 * direction of symmetric scores the anchors only, which the label mask
 * already covers. The target (row i's own positive) is never masked.
 *
 * Everything is computed in double (the batch is small beside the encoder;
 * double keeps the finite-difference checks meaningful).
 *
 * Ownership: the caller owns every buffer; nothing is allocated that
 * outlives a call.
 */
#ifndef CTK_LOSS_H
#define CTK_LOSS_H

#include <stdint.h>

enum ctk_loss_kind {
    CTK_LOSS_MNRL,
    CTK_LOSS_COSINE,
    CTK_LOSS_CONTRASTIVE,
    CTK_LOSS_ONLINE_CONTRASTIVE,
    CTK_LOSS_TRIPLET,
    CTK_LOSS_SIMCSE,
};

enum ctk_distance { CTK_DIST_COSINE, CTK_DIST_EUCLIDEAN };

struct ctk_loss_opts {
    enum ctk_loss_kind kind;
    double scale;               /* mnrl, simcse: similarity scale (1 / temperature) */
    double margin;              /* contrastive, online-contrastive, triplet */
    enum ctk_distance distance; /* contrastive, online-contrastive, triplet */
    int symmetric;              /* mnrl, simcse: add the positive -> anchor term */
};

/* Name as given to --loss ("mnrl", "online-contrastive"...); parse returns -1 if unknown. */
const char *ctk_loss_name(enum ctk_loss_kind k);
int ctk_loss_parse(const char *s, enum ctk_loss_kind *k);

/*
 * sentence-transformers' defaults for loss k: scale 20, margin 0.5 and
 * cosine distance for the contrastive losses, margin 5 and euclidean
 * distance for triplet.
 */
void ctk_loss_defaults(struct ctk_loss_opts *o, enum ctk_loss_kind k);

/* Columns the loss takes: minimum and maximum K (maximum -1: any). */
void ctk_loss_columns(enum ctk_loss_kind k, int *kmin, int *kmax);
/* 1 if the loss needs a per-row score (cosine, the contrastive losses). */
int ctk_loss_needs_score(enum ctk_loss_kind k);

/*
 * The loss of one batch and its gradient.
 *   emb   (K, S, D) embeddings, column-major by role as above
 *   demb  (K, S, D) written: d loss / d emb (columns the loss ignores get 0)
 *   score (S) pair targets (cosine, contrastive) or NULL
 *   label (S) class ids for false-negative masking (mnrl, simcse) or NULL
 * Returns the loss. S >= 1, D >= 1, K within ctk_loss_columns().
 */
double ctk_loss_compute(const struct ctk_loss_opts *o, int K, int64_t S, int64_t D,
                        const double *emb, double *demb, const double *score,
                        const int32_t *label);

/*
 * ctk_loss_compute with the classes of the hard negatives:
 *   nlabel ((K-2), S) class id of row j's text in column c >= 2 at
 *          [(c-2) S + j], in the id space of label; -1: unknown; or NULL
 * Only mnrl and simcse use labels, and nlabel only with label. With nlabel
 * NULL this is ctk_loss_compute, bit for bit.
 */
double ctk_loss_compute_labeled(const struct ctk_loss_opts *o, int K, int64_t S, int64_t D,
                                const double *emb, double *demb, const double *score,
                                const int32_t *label, const int32_t *nlabel);

#endif
