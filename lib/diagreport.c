/*
 * diagreport.c -- verdicts and reports over the figures of lib/diag.
 *
 * Symptoms, causes and fixes follow the "Diagnosing Embedding Quality"
 * table of contrastive-learning-nlp.md (and its section 5 for the cone and
 * collapse); nan and zero-vectors are the two integrity checks added here.
 */
#include "config.h"
#include "diagreport.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const ctk_symptom_names[CTK_NSYMPTOMS] = {
    "nan", "zero-vectors", "collapse", "anisotropy", "class-overlap",
    "class-dominance", "pair-imbalance", "false-negatives", "forgetting",
};

static const char *const causes[CTK_NSYMPTOMS] = {
    "training diverged (learning rate too high, fp16 overflow) or the encoder broke on some input",
    "empty texts (no tokens to pool) or a dead output layer",
    "representational collapse",
    "anisotropic space: embeddings fill a narrow cone (as raw BERT), poor uniformity",
    "no pragmatic separation: the classes share surface features",
    "class imbalance in pairs",
    "class imbalance in pairs",
    "false negatives: pairs labelled negative whose texts mean the same (good training loss, poor generalization)",
    "catastrophic forgetting of general semantics",
};

static const char *const fixes[CTK_NSYMPTOMS] = {
    "lower the learning rate or train in F32; find the rows with ctk-cat and check their texts",
    "drop empty texts before ctk-encode; check what ctk-tok made of them",
    "check negatives exist; increase batch diversity",
    "fine-tune contrastively with diverse in-batch negatives (MNRL, SimCSE); meanwhile subtract the mean vector",
    "add hard negatives at class boundaries",
    "balance positive/negative pair counts per class",
    "balance positive/negative pair counts per class",
    "audit pairs; mine true hard negatives",
    "use a lower learning rate; start from a strong SBERT base",
};

int ctk_symptom_parse(const char *name)
{
    for (int i = 0; i < CTK_NSYMPTOMS; i++)
        if (!strcmp(name, ctk_symptom_names[i])) return i;
    return -1;
}

void ctk_diag_space_init(struct ctk_diag_space *s)
{
    memset(s, 0, sizeof *s);
    s->norm_mean = s->norm_std = s->norm_min = s->norm_max = NAN;
    s->mean_cos = s->total_var = s->cross_cos = NAN;
    s->top1 = s->top10 = s->erank = s->uniformity = NAN;
    s->label_alignment = s->silhouette = s->knn_acc = NAN;
    s->alignment = s->pos_cos = s->neg_cos = s->spearman = NAN;
}

void ctk_diag_space_free(struct ctk_diag_space *s)
{
    free(s->var);
    free(s->eig);
    free(s->cls);
    free(s->cc);
    free(s->cdist);
    free(s->csample);
    free(s->confusion);
    free(s->ppos);
    free(s->pneg);
    memset(s, 0, sizeof *s);
}

int ctk_diag_space_fill(struct ctk_diag_space *s, const struct ctk_diag_acc *a,
                        const struct ctk_diag_pairwise *p, const char *const *labels,
                        struct ctk_err *e)
{
    int d = a->d, C = a->nclass;
    s->d = d;
    s->rows = a->rows;
    s->used = a->n;
    s->nonfinite_rows = a->nonfinite_rows;
    s->nonfinite_values = a->nonfinite_values;
    s->zero_rows = a->zero_rows;
    int64_t finite = a->rows - a->nonfinite_rows;
    if (finite > 0) {
        s->norm_mean = a->norm_sum / (double)finite;
        s->norm_std = sqrt(fmax(0, a->norm_sumsq / (double)finite - s->norm_mean * s->norm_mean));
        s->norm_min = a->norm_min;
        s->norm_max = a->norm_max;
    }
    if (a->n >= 1) {
        s->var = xmallocarray((size_t)d, sizeof(double));
        s->eig = xmallocarray((size_t)d, sizeof(double));
        ctk_diag_acc_variance(a, s->var);
        if (ctk_diag_acc_spectrum(a, s->eig, e)) return -1;
        s->total_var = ctk_diag_acc_total_variance(a);
        s->mean_cos = ctk_diag_acc_mean_cosine(a);
        s->top1 = ctk_diag_top_share(s->eig, d, 1);
        s->top10 = ctk_diag_top_share(s->eig, d, 10);
        s->erank = ctk_diag_effective_rank(s->eig, d);
        for (int k = 0; k < d; k++) s->dead_dims += s->var[k] < 1e-10;
    }
    if (p) {
        s->sample_rows = p->n;
        s->sample_pairs = p->pairs;
        s->uniformity = p->uniformity;
    }
    s->nclass = C;
    s->labels = labels;
    if (C) {
        s->cls = xmallocarray((size_t)C, sizeof *s->cls);
        s->cc = xmallocarray((size_t)C * C, sizeof(double));
        ctk_diag_acc_classes(a, s->cls, s->cc);
        s->label_alignment = ctk_diag_acc_label_alignment(a);
        /* mean cosine over pairs of rows of different classes:
         * (|sum_a S_a|^2 - sum_a |S_a|^2) / (n^2 - sum_a n_a^2) */
        double tot2 = 0, self2 = 0, nn = 0, n2 = 0;
        for (int k = 0; k < d; k++) {
            double t = 0;
            for (int c = 0; c < C; c++) {
                double v = a->csum[(size_t)c * d + k];
                t += v;
                self2 += v * v;
            }
            tot2 += t * t;
        }
        for (int c = 0; c < C; c++) {
            nn += (double)a->ccount[c];
            n2 += (double)a->ccount[c] * (double)a->ccount[c];
        }
        if (nn * nn - n2 > 0) s->cross_cos = (tot2 - self2) / (nn * nn - n2);
        if (p && p->nclass) {
            s->silhouette = p->silhouette;
            s->knn_acc = p->knn_acc;
            s->k = p->k;
            s->cdist = xmallocarray((size_t)C, sizeof(double));
            s->csample = xcalloc((size_t)C, sizeof(int64_t));
            s->confusion = xcalloc((size_t)C * C, sizeof(int64_t));
            int pc = p->nclass < C ? p->nclass : C;
            for (int c = 0; c < C; c++) s->cdist[c] = c < pc ? p->cdist[c] : NAN;
            for (int c = 0; c < pc; c++) {
                s->csample[c] = p->csize[c];
                for (int b = 0; b < pc; b++) s->confusion[(size_t)c * C + b] = p->confusion[(size_t)c * p->nclass + b];
            }
        }
    }
    return 0;
}

/* --- verdicts ------------------------------------------------------------------- */

static void add(struct ctk_diag_verdict *out, int *n, int max, enum ctk_symptom sym, const char *fmt, ...)
    CTK_PRINTF(5, 6);

static void add(struct ctk_diag_verdict *out, int *n, int max, enum ctk_symptom sym, const char *fmt, ...)
{
    if (*n >= max) return;
    struct ctk_diag_verdict *v = &out[(*n)++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->evidence, sizeof v->evidence, fmt, ap);
    va_end(ap);
    v->sym = sym;
    v->cause = causes[sym];
    v->fix = fixes[sym];
}

static const char *lab(const struct ctk_diag_space *s, int c) { return s->labels ? s->labels[c] : "?"; }

struct conf {
    int a, b;
    double f;
};

static int cmp_conf(const void *x, const void *y)
{
    const struct conf *p = x, *q = y;
    return (p->f < q->f) - (p->f > q->f);
}

/* Class overlap: k-NN confusion between two classes, or no silhouette. */
static void overlap(const struct ctk_diag_space *s, struct ctk_diag_verdict *out, int *n, int max)
{
    int C = s->nclass, present = 0;
    for (int c = 0; c < C; c++) present += s->cls[c].size > 0;
    if (present < 2) return;
    struct conf *cf = xmallocarray((size_t)C * C, sizeof *cf);
    int ncf = 0;
    if (s->confusion)
        for (int a = 0; a < C; a++) {
            if (s->csample[a] < CTK_DIAG_OVERLAP_MIN_ROWS) continue;
            for (int b = 0; b < C; b++) {
                double f = (double)s->confusion[(size_t)a * C + b] / (double)s->csample[a];
                if (b != a && f >= CTK_DIAG_OVERLAP_CONFUSION) cf[ncf++] = (struct conf){a, b, f};
            }
        }
    int weak = !isnan(s->silhouette) && s->silhouette < CTK_DIAG_OVERLAP_SILHOUETTE;
    if (!ncf && !weak) {
        free(cf);
        return;
    }
    qsort(cf, (size_t)ncf, sizeof *cf, cmp_conf);
    char ev[768];
    size_t len = 0;
    for (int i = 0; i < ncf && i < 3; i++) {
        const struct ctk_diag_class *ca = &s->cls[cf[i].a];
        len += (size_t)snprintf(ev + len, sizeof ev - len,
                                "%s%.0f%% of '%s' rows have a %d-NN majority in '%s' (>= %.0f%%), "
                                "margin %.3f (intra %.3f, cross %.3f)",
                                i ? "; " : "", 100 * cf[i].f, lab(s, cf[i].a), s->k, lab(s, cf[i].b),
                                100 * CTK_DIAG_OVERLAP_CONFUSION, ca->margin, ca->intra_cos,
                                ca->cross_cos);
        if (len >= sizeof ev) break;
    }
    if (ncf > 3 && len < sizeof ev)
        len += (size_t)snprintf(ev + len, sizeof ev - len, "; %d more pairs", ncf - 3);
    if (len < sizeof ev) {
        if (weak)
            snprintf(ev + len, sizeof ev - len, "%ssilhouette %.3f < %.2f, k-NN accuracy %.3f",
                     len ? "; " : "", s->silhouette, CTK_DIAG_OVERLAP_SILHOUETTE, s->knn_acc);
        else
            snprintf(ev + len, sizeof ev - len, "; silhouette %.3f, k-NN accuracy %.3f", s->silhouette,
                     s->knn_acc);
    }
    add(out, n, max, CTK_SYM_OVERLAP, "%s", ev);
    free(cf);
}

static void dominance(const struct ctk_diag_space *s, struct ctk_diag_verdict *out, int *n, int max)
{
    int big = -1, small = -1;
    int64_t tot = 0;
    for (int c = 0; c < s->nclass; c++) {
        if (!s->cls[c].size) continue;
        tot += s->cls[c].size;
        if (big < 0 || s->cls[c].size > s->cls[big].size) big = c;
        if (small < 0 || s->cls[c].size < s->cls[small].size) small = c;
    }
    if (big < 0 || big == small) return;
    double r = (double)s->cls[big].size / (double)s->cls[small].size;
    if (r < CTK_DIAG_DOMINANCE_RATIO) return;
    add(out, n, max, CTK_SYM_DOMINANCE,
        "class '%s' has %lld rows (%.1f%%), class '%s' %lld (%.1f%%), ratio %.1f:1 >= %.0f:1",
        lab(s, big), (long long)s->cls[big].size, 100.0 * (double)s->cls[big].size / (double)tot,
        lab(s, small), (long long)s->cls[small].size, 100.0 * (double)s->cls[small].size / (double)tot,
        r, CTK_DIAG_DOMINANCE_RATIO);
}

static void pair_balance(const struct ctk_diag_space *s, struct ctk_diag_verdict *out, int *n, int max)
{
    if (!s->has_pairs) return;
    if (s->pos == 0 && s->neg > 0)
        add(out, n, max, CTK_SYM_PAIR_IMBALANCE, "no positive pairs among %lld", (long long)s->neg);
    else if (s->pos > 0 && s->neg > 0) {
        double r = (double)s->neg / (double)s->pos;
        if (r >= CTK_DIAG_PAIR_RATIO || 1 / r >= CTK_DIAG_PAIR_RATIO)
            add(out, n, max, CTK_SYM_PAIR_IMBALANCE,
                "%lld negative pairs to %lld positive, ratio %.1f:1 (>= %.0f:1 either way)", (long long)s->neg,
                (long long)s->pos, r >= 1 ? r : 1 / r, CTK_DIAG_PAIR_RATIO);
    }
    if (s->npclass >= 2) {
        int most = -1, fewest = -1;
        for (int c = 0; c < s->npclass; c++) {
            if (!s->ppos[c] && !s->pneg[c]) continue;
            if (most < 0 || s->ppos[c] > s->ppos[most]) most = c;
            if (fewest < 0 || s->ppos[c] < s->ppos[fewest]) fewest = c;
        }
        if (most >= 0 && most != fewest && s->ppos[most] > 0 &&
            (s->ppos[fewest] == 0 ||
             (double)s->ppos[most] / (double)s->ppos[fewest] >= CTK_DIAG_PAIR_CLASS_RATIO))
            add(out, n, max, CTK_SYM_PAIR_IMBALANCE,
                "positive pairs per class, '%s' %lld, '%s' %lld (>= %.0f:1)", s->plabels[most],
                (long long)s->ppos[most], s->plabels[fewest], (long long)s->ppos[fewest],
                CTK_DIAG_PAIR_CLASS_RATIO);
    }
}

int ctk_diag_verdicts(const struct ctk_diag_space *s, const struct ctk_diag_space *before,
                      struct ctk_diag_verdict *out, int max)
{
    int n = 0;
    if (s->nonfinite_rows)
        add(out, &n, max, CTK_SYM_NAN, "%lld of %lld rows hold NaN or Inf (%lld values)",
            (long long)s->nonfinite_rows, (long long)s->rows, (long long)s->nonfinite_values);
    if (s->zero_rows)
        add(out, &n, max, CTK_SYM_ZERO, "%lld of %lld rows have norm 0", (long long)s->zero_rows,
            (long long)s->rows);
    if (!isnan(s->mean_cos) && s->mean_cos >= CTK_DIAG_COLLAPSE_COS)
        add(out, &n, max, CTK_SYM_COLLAPSE,
            "mean cosine of random pairs %.3f >= %.2f; total variance %.4f; effective rank %.1f of %d; "
            "uniformity %.3f",
            s->mean_cos, CTK_DIAG_COLLAPSE_COS, s->total_var, s->erank, s->d, s->uniformity);
    else if (s->nclass >= 2 && !isnan(s->cross_cos)) {
        if (s->cross_cos >= CTK_DIAG_CONE_COS)
            add(out, &n, max, CTK_SYM_ANISOTROPY,
                "mean cosine between rows of different classes %.3f >= %.2f (all pairs %.3f); "
                "uniformity %.3f; top direction %.1f%% of the variance",
                s->cross_cos, CTK_DIAG_CONE_COS, s->mean_cos, s->uniformity, 100 * s->top1);
    } else if (!isnan(s->mean_cos) && s->mean_cos >= CTK_DIAG_CONE_COS)
        add(out, &n, max, CTK_SYM_ANISOTROPY,
            "mean cosine of random pairs %.3f >= %.2f; uniformity %.3f; top direction %.1f%% of the variance",
            s->mean_cos, CTK_DIAG_CONE_COS, s->uniformity, 100 * s->top1);
    if (s->nclass >= 2) {
        overlap(s, out, &n, max);
        dominance(s, out, &n, max);
    }
    pair_balance(s, out, &n, max);
    if (s->has_pairs && s->neg >= CTK_DIAG_FALSENEG_MIN && !isnan(s->pos_cos) &&
        (double)s->neg_high / (double)s->neg >= CTK_DIAG_FALSENEG_SHARE)
        add(out, &n, max, CTK_SYM_FALSE_NEGATIVES,
            "%lld of %lld negative pairs (%.1f%%, >= %.0f%%) are at least as similar as the mean positive "
            "pair (cosine %.3f)",
            (long long)s->neg_high, (long long)s->neg, 100.0 * (double)s->neg_high / (double)s->neg,
            100 * CTK_DIAG_FALSENEG_SHARE, s->pos_cos);
    if (before && s->has_sts && before->has_sts && !isnan(s->spearman) && !isnan(before->spearman) &&
        before->spearman - s->spearman >= CTK_DIAG_FORGET_DROP)
        add(out, &n, max, CTK_SYM_FORGETTING, "STS Spearman %.4f before, %.4f after: %.4f lost (>= %.2f)",
            before->spearman, s->spearman, before->spearman - s->spearman, CTK_DIAG_FORGET_DROP);
    return n;
}

/* --- the figures as a list --------------------------------------------------------- */

struct metric {
    const char *key, *label;
    double v;
    int integer;
};

#define MAXMETRICS 48

static int metrics(const struct ctk_diag_space *s, struct metric *m)
{
    int n = 0;
#define M(k, l, val, i) m[n++] = (struct metric){k, l, (double)(val), i}
    M("rows", "rows", s->rows, 1);
    M("rows_used", "rows used (finite, nonzero)", s->used, 1);
    M("nonfinite_rows", "rows with NaN/Inf", s->nonfinite_rows, 1);
    M("zero_rows", "rows of norm 0", s->zero_rows, 1);
    M("norm_mean", "norm: mean", s->norm_mean, 0);
    M("norm_std", "norm: standard deviation", s->norm_std, 0);
    M("norm_min", "norm: min", s->norm_min, 0);
    M("norm_max", "norm: max", s->norm_max, 0);
    M("mean_cosine", "mean cosine of random pairs (anisotropy)", s->mean_cos, 0);
    M("total_variance", "total variance of unit rows", s->total_var, 0);
    M("top1_share", "variance share of top direction", s->top1, 0);
    M("top10_share", "variance share of top 10 directions", s->top10, 0);
    M("effective_rank", "effective rank", s->erank, 0);
    M("dead_dims", "dimensions of zero variance", s->dead_dims, 1);
    M("sample_rows", "rows in the pairwise sample", s->sample_rows, 1);
    M("sample_pairs", "pairs in the pairwise sample", s->sample_pairs, 1);
    M("uniformity", "uniformity (log E exp(-2|u-v|^2))", s->uniformity, 0);
    if (s->nclass) {
        M("classes", "classes", s->nclass, 1);
        M("label_alignment", "alignment of same-class pairs", s->label_alignment, 0);
        M("cross_class_cosine", "mean cosine between classes", s->cross_cos, 0);
        M("silhouette", "silhouette (cosine)", s->silhouette, 0);
        M("knn_accuracy", "leave-one-out k-NN accuracy", s->knn_acc, 0);
    }
    if (s->has_pairs) {
        M("pairs", "pairs", s->pairs, 1);
        M("positive_pairs", "positive pairs", s->pos, 1);
        M("negative_pairs", "negative pairs", s->neg, 1);
        M("unusable_pairs", "pairs with NaN/Inf/zero rows", s->pairs_bad, 1);
        M("alignment", "alignment of positive pairs", s->alignment, 0);
        M("positive_cosine", "mean cosine of positive pairs", s->pos_cos, 0);
        M("negative_cosine", "mean cosine of negative pairs", s->neg_cos, 0);
        M("negatives_as_similar", "negatives >= mean positive cosine", s->neg_high, 1);
    }
    if (s->has_sts) {
        M("sts_pairs", "STS pairs", s->sts_pairs, 1);
        M("sts_unusable", "STS pairs with NaN/Inf/zero rows", s->sts_bad, 1);
        M("sts_spearman", "STS Spearman (cosine vs gold)", s->spearman, 0);
    }
#undef M
    return n;
}

/* --- JSON -------------------------------------------------------------------------- */

static json_t *num(double v, int integer)
{
    if (isnan(v) || isinf(v)) return json_null();
    return integer ? json_integer((json_int_t)v) : json_real(v);
}

static json_t *doubles(const double *v, int64_t n)
{
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++) json_array_append_new(a, num(v[i], 0));
    return a;
}

static json_t *space_json(const struct ctk_diag_space *s)
{
    json_t *o = json_object(), *mo = json_object();
    struct metric m[MAXMETRICS];
    int nm = metrics(s, m);
    json_object_set_new(o, "input", json_string(s->name ? s->name : "-"));
    json_object_set_new(o, "dim", json_integer(s->d));
    json_object_set_new(o, "seed", json_integer((json_int_t)s->seed));
    json_object_set_new(o, "sample_exact", json_boolean(s->sample_rows == s->used));
    for (int i = 0; i < nm; i++) json_object_set_new(mo, m[i].key, num(m[i].v, m[i].integer));
    json_object_set_new(o, "metrics", mo);
    if (s->nclass) {
        int C = s->nclass;
        json_t *ca = json_array();
        int64_t tot = 0;
        for (int c = 0; c < C; c++) tot += s->cls[c].size;
        for (int c = 0; c < C; c++) {
            const struct ctk_diag_class *k = &s->cls[c];
            json_t *co = json_object();
            json_object_set_new(co, "label", json_string(lab(s, c)));
            json_object_set_new(co, "size", json_integer(k->size));
            json_object_set_new(co, "share", num(tot ? (double)k->size / (double)tot : NAN, 0));
            json_object_set_new(co, "intra_cosine", num(k->intra_cos, 0));
            json_object_set_new(co, "dist_to_centroid", num(s->cdist ? s->cdist[c] : NAN, 0));
            json_object_set_new(co, "rms_dist_to_centroid", num(k->rms_dist, 0));
            json_object_set_new(co, "nearest", k->nearest >= 0 ? json_string(lab(s, k->nearest)) : json_null());
            json_object_set_new(co, "nearest_centroid_cosine", num(k->nearest_cos, 0));
            json_object_set_new(co, "cross_cosine", num(k->cross_cos, 0));
            json_object_set_new(co, "margin", num(k->margin, 0));
            double acc = s->csample && s->csample[c]
                             ? (double)s->confusion[(size_t)c * C + c] / (double)s->csample[c]
                             : NAN;
            json_object_set_new(co, "knn_accuracy", num(acc, 0));
            json_array_append_new(ca, co);
        }
        json_object_set_new(o, "classes", ca);
        json_t *cc = json_array();
        for (int c = 0; c < C; c++) json_array_append_new(cc, doubles(s->cc + (size_t)c * C, C));
        json_object_set_new(o, "centroid_cosines", cc);
    }
    if (s->npclass) {
        json_t *pa = json_array();
        for (int c = 0; c < s->npclass; c++) {
            json_t *po = json_object();
            json_object_set_new(po, "label", json_string(s->plabels[c]));
            json_object_set_new(po, "positive_pairs", json_integer(s->ppos[c]));
            json_object_set_new(po, "negative_pairs", json_integer(s->pneg[c]));
            json_array_append_new(pa, po);
        }
        json_object_set_new(o, "pair_classes", pa);
    }
    if (s->var) json_object_set_new(o, "variance_per_dim", doubles(s->var, s->d));
    if (s->eig) json_object_set_new(o, "eigenvalues", doubles(s->eig, s->d));
    return o;
}

json_t *ctk_diag_report_json(const struct ctk_diag_space *s, const struct ctk_diag_space *before,
                             const struct ctk_diag_verdict *v, int nv)
{
    json_t *root, *va = json_array();
    for (int i = 0; i < nv; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "symptom", json_string(ctk_symptom_names[v[i].sym]));
        json_object_set_new(o, "evidence", json_string(v[i].evidence));
        json_object_set_new(o, "cause", json_string(v[i].cause));
        json_object_set_new(o, "fix", json_string(v[i].fix));
        json_array_append_new(va, o);
    }
    if (!before) {
        root = space_json(s);
    } else {
        root = json_object();
        json_t *b = space_json(before), *a = space_json(s), *dl = json_object();
        json_t *bm = json_object_get(b, "metrics"), *am = json_object_get(a, "metrics");
        const char *k;
        json_t *x;
        json_object_foreach(am, k, x) {
            json_t *y = json_object_get(bm, k);
            if (json_is_number(x) && y && json_is_number(y))
                json_object_set_new(dl, k, json_real(json_number_value(x) - json_number_value(y)));
        }
        json_object_set_new(root, "before", b);
        json_object_set_new(root, "after", a);
        json_object_set_new(root, "delta", dl);
    }
    json_object_set_new(root, "verdicts", va);
    return root;
}

/* --- text ---------------------------------------------------------------------------- */

static void fmtnum(char *buf, size_t n, double v, int integer)
{
    if (isnan(v)) snprintf(buf, n, "-");
    else if (integer) snprintf(buf, n, "%lld", (long long)v);
    else snprintf(buf, n, "%.4f", v);
}

static void text_metrics(FILE *f, const struct ctk_diag_space *s, const struct ctk_diag_space *b)
{
    struct metric ma[MAXMETRICS], mb[MAXMETRICS];
    int na = metrics(s, ma), nb = b ? metrics(b, mb) : 0;
    char x[64], y[64], z[64];
    if (!b) {
        fprintf(f, "%-44s %14s\n", "measure", "value");
        for (int i = 0; i < na; i++) {
            fmtnum(x, sizeof x, ma[i].v, ma[i].integer);
            fprintf(f, "%-44s %14s\n", ma[i].label, x);
        }
        return;
    }
    fprintf(f, "%-44s %14s %14s %14s\n", "measure", "before", "after", "delta");
    for (int i = 0; i < na; i++) {
        double bv = NAN;
        for (int j = 0; j < nb; j++)
            if (!strcmp(mb[j].key, ma[i].key)) bv = mb[j].v;
        fmtnum(x, sizeof x, bv, ma[i].integer);
        fmtnum(y, sizeof y, ma[i].v, ma[i].integer);
        fmtnum(z, sizeof z, ma[i].v - bv, ma[i].integer);
        if (!isnan(ma[i].v - bv) && ma[i].v - bv > 0) {
            memmove(z + 1, z, strlen(z) + 1);
            z[0] = '+';
        }
        fprintf(f, "%-44s %14s %14s %14s\n", ma[i].label, x, y, z);
    }
}

static void text_classes(FILE *f, const struct ctk_diag_space *s)
{
    int C = s->nclass, w = 5;
    for (int c = 0; c < C; c++)
        if ((int)strlen(lab(s, c)) > w) w = (int)strlen(lab(s, c));
    if (w > 24) w = 24;
    int64_t tot = 0;
    for (int c = 0; c < C; c++) tot += s->cls[c].size;
    fprintf(f, "\n%-*s %9s %6s %9s %9s %-*s %9s %8s %8s\n", w, "class", "size", "share", "intra-cos",
            "to-centre", w, "nearest", "centr-cos", "margin", "k-NN acc");
    for (int c = 0; c < C; c++) {
        const struct ctk_diag_class *k = &s->cls[c];
        char a[4][32];
        fmtnum(a[0], 32, k->intra_cos, 0);
        fmtnum(a[1], 32, s->cdist ? s->cdist[c] : NAN, 0);
        fmtnum(a[2], 32, k->nearest_cos, 0);
        fmtnum(a[3], 32, k->margin, 0);
        char acc[32];
        fmtnum(acc, 32,
               s->csample && s->csample[c] ? (double)s->confusion[(size_t)c * C + c] / (double)s->csample[c] : NAN,
               0);
        fprintf(f, "%-*.*s %9lld %5.1f%% %9s %9s %-*.*s %9s %8s %8s\n", w, w, lab(s, c), (long long)k->size,
                tot ? 100.0 * (double)k->size / (double)tot : 0.0, a[0], a[1], w, w,
                k->nearest >= 0 ? lab(s, k->nearest) : "-", a[2], a[3], acc);
    }
    if (C >= 2 && C <= 12) {
        fprintf(f, "\ncentroid cosines\n%-*s", w, "");
        for (int b = 0; b < C; b++) fprintf(f, " %8.8s", lab(s, b));
        fprintf(f, "\n");
        for (int c = 0; c < C; c++) {
            fprintf(f, "%-*.*s", w, w, lab(s, c));
            for (int b = 0; b < C; b++) {
                char x[32];
                fmtnum(x, 32, s->cc[(size_t)c * C + b], 0);
                fprintf(f, " %8s", x);
            }
            fprintf(f, "\n");
        }
    }
    if (s->npclass) {
        fprintf(f, "\n%-*s %9s %9s\n", w, "pair class", "positive", "negative");
        for (int c = 0; c < s->npclass; c++)
            fprintf(f, "%-*.*s %9lld %9lld\n", w, w, s->plabels[c], (long long)s->ppos[c], (long long)s->pneg[c]);
    }
}

void ctk_diag_report_text(FILE *f, const struct ctk_diag_space *s, const struct ctk_diag_space *before,
                          const struct ctk_diag_verdict *v, int nv)
{
    if (before)
        fprintf(f, "before: %s\nafter:  %s\n", before->name ? before->name : "-", s->name ? s->name : "-");
    else
        fprintf(f, "input: %s\n", s->name ? s->name : "-");
    fprintf(f, "dim %d; pairwise figures over %s (%lld pairs, seed %llu)\n\n", s->d,
            s->sample_rows == s->used ? "all rows" : "a uniform sample of rows", (long long)s->sample_pairs,
            (unsigned long long)s->seed);
    text_metrics(f, s, before);
    if (s->nclass) text_classes(f, s);
    fprintf(f, "\n");
    if (!nv) {
        fprintf(f, "verdict: no symptom found\n");
        return;
    }
    fprintf(f, "%-16s %s\n", "symptom", "evidence / likely cause / fix");
    for (int i = 0; i < nv; i++) {
        fprintf(f, "%-16s %s\n", ctk_symptom_names[v[i].sym], v[i].evidence);
        fprintf(f, "%-16s cause: %s\n", "", v[i].cause);
        fprintf(f, "%-16s fix: %s\n", "", v[i].fix);
    }
}
