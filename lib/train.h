/*
 * train.h -- contrastive fine-tuning of an encoder (encoder.h): batching,
 * the loss (loss.h) on the batch's embeddings, an optional projection head,
 * GradCache, AdamW (optim.h), checkpoints and resumption, the training log.
 *
 * DATA. A token stream (ctk-tok output) read whole: one row per training
 * example, K texts per row by role (loss.h): anchor.ids, positive.ids,
 * negative*.ids (mnrl, triplet), text1.ids, text2.ids and score (cosine,
 * contrastive), ids or anchor.ids (simcse: the one text, encoded twice);
 * X.type_ids ride along when present; a "label" column gives class ids for
 * MNRL's false-negative mask, and with it a string column X.label beside a
 * hard-negative column X.ids (ctk-mine-negatives writes negative.label...)
 * gives the class of that negative (empty: unknown), in the same id space,
 * so that the mask covers the hard negatives too (loss.h).
 *
 * BATCHES, as sentence-transformers' NoDuplicatesBatchSampler: each epoch
 * the rows are shuffled (xoshiro256** seeded by (seed, epoch), rng.h), then
 * batches are filled in that order, a row being put off to a later batch
 * when one of its texts (an identical token sequence in any role) is already
 * in the current batch. Guarantee: within a batch no text occurs in two
 * different rows, so no in-batch negative is a copy of a positive. The last
 * batch of an epoch may be short; no row is dropped.
 *
 * A STEP. The batch's B rows x K texts are packed as K*B sequences, role by
 * role, so that one encoder pass gives the (K, B, D) matrix the loss takes.
 * Without --cache-batch: forward (training mode, dropout seeded by the step),
 * loss, backward. With cache-batch M (GradCache, Gao et al. 2021, as
 * CachedMultipleNegativesRankingLoss): forward every run of M sequences and
 * keep only their embeddings, compute the loss and d(emb) on the whole
 * batch, then forward each run again with the same dropout seed and
 * backward its slice of d(emb): the gradient of the full batch in the
 * memory of M sequences. Then clip, AdamW, zero the gradients.
 *
 * PROJECTION HEAD (--projection-head): h = tanh(W e + b), D -> D, between
 * the encoder and the loss during training only (SimCSE's MLP; SimCLR's
 * decoupling of representation and contrastive space); it is not saved.
 *
 * CHECKPOINTS (every N steps, in DIR): DIR/step-N/model (the model folder,
 * written by the encoder's save) and DIR/step-N/state.safetensors (AdamW
 * moments -- for sparse tensors only the rows ever updated --, the head and
 * its moments, the step, the seed and a digest of the data and options),
 * then DIR/latest is replaced atomically by "step-N" and the previous step
 * folder removed. A kill at any moment leaves DIR/latest naming a complete
 * checkpoint. Resuming reopens the encoder from that model folder and
 * restores the rest; the batch plan and the dropout seeds are functions of
 * (seed, data, step), so the run continues to the very weights an
 * uninterrupted run reaches (same thread count, same machine).
 *
 * Ownership: ctk_train_data owns its arrays (ctk_train_data_free);
 * ctk_train_run() borrows the encoder and the data.
 */
#ifndef CTK_TRAIN_H
#define CTK_TRAIN_H

#include <stdint.h>

#include "encoder.h"
#include "err.h"
#include "loss.h"
#include "optim.h"
#include "stream.h"

#define CTK_TRAIN_MAXROLES 16

struct ctk_train_opts {
    struct ctk_loss_opts loss;
    struct ctk_adamw_opts adamw;  /* warmup_steps/total_steps are derived */
    double warmup_ratio;          /* used when warmup_steps < 0 */
    int64_t warmup_steps;         /* < 0: ceil(warmup_ratio * total steps) */
    int64_t batch_size;           /* rows per batch */
    int64_t epochs;               /* when max_steps == 0 */
    int64_t max_steps;            /* > 0: train this many steps (epochs repeat as needed) */
    int64_t cache_batch;          /* > 0: GradCache with runs of this many sequences */
    uint64_t seed;
    int projection_head;
    int64_t checkpoint_every;     /* 0: none */
    const char *checkpoint_dir;
    int resume;                   /* restore DIR/latest (the encoder was opened from it) */
    const char *log_path;         /* TSV log, or NULL */
};

void ctk_train_opts_default(struct ctk_train_opts *o, enum ctk_loss_kind loss);

/* Every row of the input, by role. */
struct ctk_train_data {
    int K;                        /* texts per row the loss takes */
    int64_t R;                    /* rows */
    char role_col[CTK_TRAIN_MAXROLES][CTK_COL_NAME_MAX]; /* input column of each role */
    int32_t *ids[CTK_TRAIN_MAXROLES];      /* (total tokens of role k) */
    int32_t *type_ids[CTK_TRAIN_MAXROLES]; /* same, or NULL */
    int64_t *off[CTK_TRAIN_MAXROLES];      /* (R+1) */
    uint64_t *hash[CTK_TRAIN_MAXROLES];    /* (R) digest of each text's token ids */
    float *score;                 /* (R) or NULL */
    int32_t *label;               /* (R) class ids, or NULL */
    int32_t *role_label[CTK_TRAIN_MAXROLES]; /* (R) class id of role k's text (k >= 2,
                                     from column negative*.label; -1 unknown), or NULL */
    int nlabels;
    uint64_t digest;              /* of everything above */
};

/*
 * Read the whole stream s for loss k. Errors (e) name the missing columns
 * and the columns the stream has. Returns 0 or -1.
 */
int ctk_train_data_read(struct ctk_train_data *d, struct ctk_stream *s, enum ctk_loss_kind k,
                        struct ctk_err *e);
void ctk_train_data_free(struct ctk_train_data *d);

/*
 * The batches of a run: epoch after epoch, row indices batch after batch.
 * ctk_train_plan_epoch() appends epoch ep's batches for batch size B as
 * described under BATCHES above; start from a zeroed plan.
 */
struct ctk_train_plan {
    int64_t nbatches;
    int64_t *start;  /* (nbatches+1) batch b is rows[start[b] .. start[b+1]) */
    int64_t *rows;   /* row indices */
    int64_t *epoch;  /* (nbatches) epoch of each batch, from 0 */
    int64_t nrows, cap, capb;
};
void ctk_train_plan_epoch(struct ctk_train_plan *p, const struct ctk_train_data *d, int64_t B,
                          uint64_t seed, int64_t ep);
void ctk_train_plan_free(struct ctk_train_plan *p);

/*
 * The model folder of the latest checkpoint in dir, in a new string, or
 * NULL when dir holds none.
 */
char *ctk_train_latest(const char *dir);

/*
 * Remove every checkpoint folder of dir but the latest (a resumed run keeps
 * the one its encoder was opened from until its model is saved).
 */
void ctk_train_prune(const char *dir);

/*
 * The loss of one batch (rows (B) of d, the texts of each role packed as in
 * training, dropout masks of step 0) and its gradients, accumulated into
 * enc's parameters, without an update: what tests compare with a reference.
 * Returns the loss, or NAN with e set.
 */
double ctk_train_grads(struct ctk_encoder *enc, const struct ctk_train_data *d,
                       const struct ctk_train_opts *o, const int64_t *rows, int64_t B,
                       struct ctk_err *e);

/* Train enc on d. Returns 0, or -1 with e set. */
int ctk_train_run(struct ctk_encoder *enc, const struct ctk_train_data *d,
                  const struct ctk_train_opts *o, struct ctk_err *e);

#endif
