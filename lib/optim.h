/*
 * optim.h -- AdamW with a linear warm-up/decay schedule and gradient
 * clipping by global norm, as torch.optim.AdamW, transformers'
 * get_linear_schedule_with_warmup and torch.nn.utils.clip_grad_norm_ do it
 * (the optimizer of sentence-transformers' training loop).
 *
 * Update for every parameter w with gradient g, step t = 1, 2, ...:
 *     w <- w (1 - lr wd)                       (decoupled weight decay, if p->decay)
 *     m <- b1 m + (1 - b1) g
 *     v <- b2 v + (1 - b2) g^2
 *     w <- w - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Defaults: lr 2e-5, b1 0.9, b2 0.999, eps 1e-8, wd 0.01 (not on biases
 * and LayerNorm, which the encoder marks with decay = 0), clip 1.0.
 *
 * Schedule (the lr of the step after s completed steps, s from 0):
 *     lr(s) = lr s / max(1, W)                    for s < W
 *           = lr max(0, (T - s) / max(1, T - W))  otherwise
 * so that, as in transformers, the first step has lr 0 when W > 0.
 *
 * Sparse tensors (p->row_len > 0, embedding tables) are updated lazily, as
 * torch.optim.SparseAdam: only the rows some backward of the step touched
 * (their union, gathered by ctk_optim_collect() after each backward) are
 * visited; an untouched row keeps its weights and moments unchanged -- no
 * decay, no momentum drift -- and a touched row gets the full update above
 * with the bias correction of the global step t. Rows touched every step are
 * thus updated exactly as dense AdamW would; rows touched rarely miss the
 * decayed-momentum steps dense Adam would have applied in between.
 *
 * Ownership: the optimizer keeps pointers to the caller's parameters (they
 * must outlive it) and owns its moments, freed by ctk_optim_free().
 */
#ifndef CTK_OPTIM_H
#define CTK_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "encoder.h"

struct ctk_adamw_opts {
    double lr, beta1, beta2, eps, weight_decay;
    double max_grad_norm; /* <= 0: no clipping */
    int64_t warmup_steps, total_steps;
    int threads;          /* threads of the update loops (results do not depend on it) */
};

struct ctk_optim {
    struct ctk_adamw_opts o;
    int np;
    struct ctk_param **p;  /* (np) parameters, the caller's */
    float **m, **v;        /* (np) first and second moments, each p[i]->n floats */
    int64_t t;             /* optimizer steps done */
    float gscale;          /* clipping's factor of the gradients in memory, 1 once zeroed */
    /* sparse parameters: rows touched since the last zero_grad */
    uint8_t **rowmark;     /* (np) one flag per row, NULL for dense */
    int64_t **rows;        /* (np) the touched rows, in first-touch order */
    size_t *nrows, *caprows;
    /* sparse parameters: rows ever updated (whose moments may be non-zero) */
    uint8_t **evermark;
    int64_t **ever;
    size_t *never, *capever;
    void *items;           /* work items of a pass (optim.c) */
    size_t capitems;
};

/* The defaults above; warmup_steps and total_steps 0. */
void ctk_adamw_defaults(struct ctk_adamw_opts *o);

/* An optimizer over np parameters (gradients allocated); moments zero, t = 0. */
struct ctk_optim *ctk_optim_new(struct ctk_param **p, int np, const struct ctk_adamw_opts *o);
void ctk_optim_free(struct ctk_optim *opt);

/* After each backward: add each sparse parameter's touched rows to the step's set. */
void ctk_optim_collect(struct ctk_optim *opt);

/* Learning rate after s completed steps (the schedule above). */
double ctk_optim_lr(const struct ctk_adamw_opts *o, int64_t s);

/*
 * Global L2 norm of every gradient (sparse ones over the collected rows),
 * then, if max_grad_norm > 0 and the norm exceeds it, the factor
 * max_grad_norm / (norm + 1e-6) by which every gradient is scaled
 * (clip_grad_norm_). The factor stays with the gradients until
 * ctk_optim_zero_grad: each ctk_optim_step applies it as it reads a
 * gradient, in the same float product, so that the gradients are not
 * rewritten in a pass of their own; the gradients in memory stay as they
 * are. Returns the norm before clipping.
 */
double ctk_optim_clip(struct ctk_optim *opt);

/* One AdamW update with learning rate lr on the gradients times clipping's factor; t += 1. */
void ctk_optim_step(struct ctk_optim *opt, double lr);

/*
 * Sparse parameter i: mark row r as updated before (its moments are being
 * restored from a checkpoint), so that ever[] lists it.
 */
void ctk_optim_mark_ever(struct ctk_optim *opt, int i, int64_t r);

/* Zero the gradients (dense whole, sparse on the collected rows) and forget the rows. */
void ctk_optim_zero_grad(struct ctk_optim *opt);

#endif
