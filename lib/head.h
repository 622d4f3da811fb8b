/*
 * head.h -- a fitted classification head and its file: what ctk-fit-head
 * writes and ctk-predict reads.
 *
 * The file is JSON (written atomically: temporary name, fsync, rename), so
 * that a person or jq can read it and Python can load it in one line:
 *
 *   {
 *     "format": "ctk-head", "version": 1,
 *     "kind": "logreg",                  (or "mlp", see below)
 *     "multi_label": false,
 *     "labels": ["build", "plan"],       (class order of coef's rows)
 *     "model": "...", "dim": 384, "normalized": true,
 *                                        (the embeddings it was fitted on)
 *     "C": 1.0, "class_weight": "none",  (how it was fitted)
 *     "coef": [[...]], "intercept": [...],
 *                                        (scikit-learn's coef_ and
 *                                         intercept_ shapes: (1, dim) for a
 *                                         single-label binary head, else
 *                                         (labels, dim))
 *     "fit": {"rows": 32, "iterations": 21, "loss": 12.3, "converged": true},
 *     "history": ["ctk-encode ...", "ctk-fit-head ..."]
 *   }
 *
 * An MLP head (lib/mlp_head.h) has "kind": "mlp", "hidden": H, "alpha",
 * "seed" and, instead of coef and intercept, "layers": [{"weight": (H, dim),
 * "bias": (H)}, {"weight": (labels, H), "bias": (labels)}] (PyTorch's
 * (out, in) order).
 *
 * Numbers are written with 17 significant digits, so a head reads back
 * bit for bit.
 *
 * Ownership: a struct ctk_head owns every field (ctk_head_free);
 * ctk_head_load() fills a zeroed struct.
 */
#ifndef CTK_HEAD_H
#define CTK_HEAD_H

#include <stdint.h>

#include "err.h"
#include "logreg.h"
#include "mlp_head.h"
#include "stream.h"

enum ctk_head_kind { CTK_HEAD_LOGREG, CTK_HEAD_MLP };

struct ctk_head {
    enum ctk_head_kind kind;
    int nlabels;
    char **labels;     /* (nlabels) class names, coef's row order */
    int multilabel;
    char *model;       /* identity of the embedding model, or NULL */
    int64_t dim;       /* embedding dimension */
    int normalized;    /* 1, 0, -1 unknown: what the training stream said */
    double C;
    int balanced;
    struct ctk_logreg lr;   /* kind logreg */
    struct ctk_mlp mlp;     /* kind mlp */
    double alpha;           /* mlp: L2 strength */
    uint64_t seed;          /* mlp: initialisation seed */
    int64_t fit_rows;
    struct ctk_logreg_report fit;
    int nhistory;
    char **history;
};

int ctk_head_save(const struct ctk_head *h, const char *path, struct ctk_err *e);
/* Read and check a head file (shapes, labels, finite numbers); e names the file. */
int ctk_head_load(struct ctk_head *h, const char *path, struct ctk_err *e);
/* The same from a buffer of len bytes; what names it in messages. */
int ctk_head_load_buf(struct ctk_head *h, const char *buf, size_t len, const char *what,
                      struct ctk_err *e);
void ctk_head_free(struct ctk_head *h);

/* Probabilities P (N, nlabels) of X (N, dim), whatever the kind. */
void ctk_head_proba(struct ctk_head *h, const float *X, int64_t N, float *P);

/*
 * Does a stream's metadata fit the head? 0, or -1 with e naming both sides
 * (the stream's model identity and dimension against the head's) and what
 * to do. what names the stream in the message.
 */
int ctk_head_check_meta(const struct ctk_head *h, const struct ctk_stream_meta *m,
                        const char *what, const char *head_path, struct ctk_err *e);

/*
 * The embedding column of a stream: its index, checked to be dense F32 of
 * width >= 1 (*d set), or -1 with e naming the column and the stream.
 */
int ctk_emb_column(const struct ctk_stream_meta *m, const char *name, const char *what,
                   int64_t *d, struct ctk_err *e);

/*
 * A labeled embedding stream read whole (ctk-fit-head's input, ctk-predict's
 * --neighbors): row i has embedding emb + i*d and label text + off[i]
 * (NUL-terminated, "" for none). meta is the stream's header (a copy).
 */
struct ctk_labeled {
    int64_t n, d;
    float *emb;    /* (n, d) */
    char *text;    /* labels, each NUL-terminated */
    int64_t *off;  /* (n + 1) */
    struct ctk_stream_meta meta;
};
int ctk_labeled_read(struct ctk_labeled *L, const char *path, const char *emb_col,
                     const char *label_col, struct ctk_err *e);
void ctk_labeled_free(struct ctk_labeled *L);

#endif
