/*
 * ctk-mkpairs -- training pairs from labeled text, as SetFit makes them
 * (Tunstall et al. 2022, huggingface/setfit src/setfit/sampler.py), plus
 * SimCSE's (text, text) rows and supervised SimCSE's NLI triplets (Gao et
 * al. 2021). Reference: sections 3 and 4 of contrastive-learning-nlp.md.
 *
 * SetFit's sampler lists every pair of examples, shuffles the list, splits
 * it into positives (same label) and negatives, and cycles through both to
 * the length its strategy asks for. Listing every pair is what runs out of
 * memory at 40k examples (setfit#628); here each pair is computed from its
 * index: positive pair t of P (negative pair t of N) is unranked from a
 * pseudorandom permutation of 0..P-1 (0..N-1) -- a Feistel network with
 * cycle walking keyed by --seed -- so memory is the input's, whatever the
 * number of pairs, and the order is the seed's (SetFit's ignores it).
 * A row is never paired with itself (SetFit's pair list includes (i, i)).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "opts.h"
#include "hash.h"
#include "rng.h"
#include "stream.h"
#include "textio.h"

enum format { FMT_PAIRS, FMT_MNRL, FMT_TRIPLET };
enum strategy { ST_OVER, ST_UNDER, ST_UNIQUE };
enum mode { MODE_LABELED, MODE_SIMCSE, MODE_NLI };

struct opts {
    enum format format;
    enum strategy strategy;
    enum mode mode;
    int64_t iterations;   /* > 0: pairs per sentence (SetFit num_iterations) */
    int64_t num_pairs;    /* > 0: rows to write */
    uint64_t seed;
    const char *input;    /* NULL: stdin */
};

/* --- options ----------------------------------------------------------- */

static void usage(void)
{
    printf("Usage: ctk-mkpairs [OPTION]... [FILE]\n"
           "Make contrastive training pairs from labeled text (TSV label<TAB>text, or a\n"
           "stream with label and text columns) and write them as a ctk stream.\n"
           "\n"
           "  -f, --format=FMT       pairs (text1, text2, score 1/0; default), mnrl\n"
           "                         (anchor, positive, label) or triplet (anchor,\n"
           "                         positive, negative, label)\n"
           "  -s, --sampling=S       oversampling (default), undersampling or unique\n"
           "  -n, --iterations=N     N positive and N negative pairs per sentence\n"
           "                         (SetFit's num_iterations; overrides --sampling)\n"
           "  -N, --num-pairs=N      write exactly N rows\n"
           "      --seed=N           seed of the pair order (default 42)\n"
           "      --simcse           unlabeled text to (anchor, positive) rows of the same\n"
           "                         text (unsupervised SimCSE)\n"
           "      --nli              label<TAB>premise<TAB>hypothesis to (anchor, positive,\n"
           "                         negative) = (premise, entailment, contradiction)\n"
           "  -q, --quiet            no warnings\n"
           "      --help             show this help and exit\n"
           "      --version          show the version and exit\n"
           "\n"
           "With no FILE, or FILE -, read standard input. Duplicate rows (same label and\n"
           "text) are dropped; a row is never paired with itself.\n");
    exit(CTK_EXIT_OK);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { OPT_SEED = 256, OPT_SIMCSE, OPT_NLI, OPT_HELP, OPT_VERSION };
    static const struct option lo[] = {
        {"format", required_argument, 0, 'f'},   {"sampling", required_argument, 0, 's'},
        {"iterations", required_argument, 0, 'n'}, {"num-pairs", required_argument, 0, 'N'},
        {"seed", required_argument, 0, OPT_SEED}, {"simcse", no_argument, 0, OPT_SIMCSE},
        {"nli", no_argument, 0, OPT_NLI},         {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, OPT_HELP},       {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0},
    };
    int fmt_given = 0, samp_given = 0, c;
    memset(o, 0, sizeof *o);
    o->seed = 42;
    while ((c = getopt_long(argc, argv, "f:s:n:N:q", lo, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt_given = 1;
            if (!strcmp(optarg, "pairs")) o->format = FMT_PAIRS;
            else if (!strcmp(optarg, "mnrl")) o->format = FMT_MNRL;
            else if (!strcmp(optarg, "triplet")) o->format = FMT_TRIPLET;
            else ctk_usage("unknown format '%s' (pairs, mnrl or triplet)", optarg);
            break;
        case 's':
            samp_given = 1;
            if (!strcmp(optarg, "oversampling")) o->strategy = ST_OVER;
            else if (!strcmp(optarg, "undersampling")) o->strategy = ST_UNDER;
            else if (!strcmp(optarg, "unique")) o->strategy = ST_UNIQUE;
            else ctk_usage("unknown sampling strategy '%s' (oversampling, undersampling or unique)", optarg);
            break;
        case 'n': o->iterations = ctk_opt_int64("--iterations", optarg, 1, INT64_MAX); break;
        case 'N': o->num_pairs = ctk_opt_int64("--num-pairs", optarg, 1, INT64_MAX); break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                ctk_usage("--seed must be a non-negative integer, not '%s'", optarg);
            o->seed = v;
            break;
        }
        case OPT_SIMCSE:
            if (o->mode == MODE_NLI) ctk_usage("--simcse and --nli exclude each other");
            o->mode = MODE_SIMCSE;
            break;
        case OPT_NLI:
            if (o->mode == MODE_SIMCSE) ctk_usage("--simcse and --nli exclude each other");
            o->mode = MODE_NLI;
            break;
        case 'q': ctk_set_quiet(1); break;
        case OPT_HELP: usage(); break;
        case OPT_VERSION: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (o->iterations && o->num_pairs)
        ctk_usage("--iterations and --num-pairs exclude each other");
    if (o->mode != MODE_LABELED && (fmt_given || samp_given))
        ctk_usage("--format and --sampling apply to labeled input, not to --%s",
                  o->mode == MODE_SIMCSE ? "simcse" : "nli");
    if (o->mode == MODE_NLI && o->iterations)
        ctk_usage("--iterations does not apply to --nli (use --num-pairs)");
    if (optind < argc - 1) ctk_usage("one input file at most ('%s' is extra)", argv[optind + 1]);
    o->input = optind < argc && strcmp(argv[optind], "-") != 0 ? argv[optind] : NULL;
}

/* --- the input ------------------------------------------------------------ */

/* The examples: texts in one arena, labels interned as class numbers. */
struct examples {
    int64_t n, cap;
    int64_t *id;        /* (n) source row id */
    int32_t *cls;       /* (n) class of row (labeled, NLI: the label) */
    size_t *t0, *t1;    /* (n) text (NLI: hypothesis) at arena[t0..t1) */
    size_t *p0, *p1;    /* (n) NLI premise */
    char *arena;
    size_t alen, acap;
    int nclass;
    char **classes;     /* (nclass) label names, in order of first appearance */
    /* hash set of (class, text) for duplicates */
    int64_t *slot;
    size_t nslot;
};

static size_t arena_add(struct examples *x, const char *s, size_t n)
{
    if (x->alen + n > x->acap) {
        x->acap = (x->alen + n) * 2 + 4096;
        x->arena = xrealloc(x->arena, x->acap);
    }
    memcpy(x->arena + x->alen, s, n);
    x->alen += n;
    return x->alen;
}

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

static int class_of(struct examples *x, const char *label, size_t n)
{
    for (int c = 0; c < x->nclass; c++)
        if (strlen(x->classes[c]) == n && memcmp(x->classes[c], label, n) == 0) return c;
    x->classes = xreallocarray(x->classes, (size_t)x->nclass + 1, sizeof *x->classes);
    char *s = xmalloc(n + 1);
    memcpy(s, label, n);
    s[n] = 0;
    x->classes[x->nclass] = s;
    return x->nclass++;
}

static uint64_t row_hash(const struct examples *x, int64_t r)
{
    uint64_t h = hash_bytes(0xcbf29ce484222325ULL ^ (uint64_t)x->cls[r], x->arena + x->t0[r],
                            x->t1[r] - x->t0[r]);
    if (x->p0) h = hash_bytes(h ^ 0xff, x->arena + x->p0[r], x->p1[r] - x->p0[r]);
    return h;
}

static int same_row(const struct examples *x, int64_t a, int64_t b)
{
    if (x->cls[a] != x->cls[b] || x->t1[a] - x->t0[a] != x->t1[b] - x->t0[b] ||
        memcmp(x->arena + x->t0[a], x->arena + x->t0[b], x->t1[a] - x->t0[a]) != 0)
        return 0;
    if (x->p0 && (x->p1[a] - x->p0[a] != x->p1[b] - x->p0[b] ||
                  memcmp(x->arena + x->p0[a], x->arena + x->p0[b], x->p1[a] - x->p0[a]) != 0))
        return 0;
    return 1;
}

/* Insert row r into the duplicate set; 1 if an equal row is already there. */
static int seen_before(struct examples *x, int64_t r)
{
    if ((size_t)(r + 1) * 2 > x->nslot) {
        size_t ns = x->nslot ? x->nslot * 2 : 1024;
        int64_t *s = xmallocarray(ns, sizeof *s);
        for (size_t i = 0; i < ns; i++) s[i] = -1;
        for (size_t i = 0; i < x->nslot; i++) {
            if (x->slot[i] < 0) continue;
            size_t k = row_hash(x, x->slot[i]) & (ns - 1);
            while (s[k] >= 0) k = (k + 1) & (ns - 1);
            s[k] = x->slot[i];
        }
        free(x->slot);
        x->slot = s;
        x->nslot = ns;
    }
    size_t k = row_hash(x, r) & (x->nslot - 1);
    while (x->slot[k] >= 0) {
        if (same_row(x, x->slot[k], r)) return 1;
        k = (k + 1) & (x->nslot - 1);
    }
    x->slot[k] = r;
    return 0;
}

/*
 * Append one example; returns 0, or 1 when it duplicates an earlier one
 * (dropped). label may be NULL (SimCSE: every row in class 0).
 */
static int add_example(struct examples *x, int64_t id, const char *label, size_t llen,
                       const char *prem, size_t plen, const char *text, size_t tlen)
{
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 1024;
        x->id = xreallocarray(x->id, (size_t)x->cap, sizeof *x->id);
        x->cls = xreallocarray(x->cls, (size_t)x->cap, sizeof *x->cls);
        x->t0 = xreallocarray(x->t0, (size_t)x->cap, sizeof *x->t0);
        x->t1 = xreallocarray(x->t1, (size_t)x->cap, sizeof *x->t1);
        if (prem) {
            x->p0 = xreallocarray(x->p0, (size_t)x->cap, sizeof *x->p0);
            x->p1 = xreallocarray(x->p1, (size_t)x->cap, sizeof *x->p1);
        }
    }
    int64_t r = x->n;
    x->id[r] = id;
    x->cls[r] = label ? class_of(x, label, llen) : 0;
    if (prem) {
        x->p0[r] = x->alen;
        x->p1[r] = arena_add(x, prem, plen);
    }
    x->t0[r] = x->alen;
    x->t1[r] = arena_add(x, text, tlen);
    if (seen_before(x, r)) {
        x->alen = prem ? x->p0[r] : x->t0[r];
        return 1;
    }
    x->n++;
    return 0;
}

static int find_col(const struct ctk_stream_meta *m, const char *a, const char *b)
{
    int i = ctk_meta_find(m, a);
    if (i < 0 && b) i = ctk_meta_find(m, b);
    if (i >= 0 && m->cols[i].kind != CTK_COL_STRING) return -2;
    return i;
}

/* The input's command history (a stream's), carried into the output. */
static struct ctk_stream_meta input_meta;

/*
 * Read every example. Columns by mode -- labeled: label, text; --simcse:
 * text; --nli: label and premise, hypothesis (TSV: label, text1, text2).
 */
static void read_examples(const struct opts *o, struct examples *x)
{
    struct ctk_err e;
    struct ctk_stream in;
    struct ctk_chunk ck = {0};
    int64_t dups = 0, nrow = 0;
    if (ctk_input_open1(&in, o->input, NULL, &e) < 0) ctk_die_err(&e);
    const struct ctk_stream_meta *m = &in.meta;
    int cl = find_col(m, "label", NULL), ct, cp = -1;
    if (o->mode == MODE_NLI) {
        cp = find_col(m, "premise", "text1");
        ct = find_col(m, "hypothesis", "text2");
    } else
        ct = find_col(m, "text", NULL);
    if (ct < 0 || (o->mode != MODE_SIMCSE && cl < 0) || (o->mode == MODE_NLI && cp < 0))
        ctk_die("%s: the input needs %s columns (as string columns); TSV input is %s", in.name,
                o->mode == MODE_NLI ? "label, premise and hypothesis"
                : o->mode == MODE_SIMCSE ? "a text column" : "label and text",
                o->mode == MODE_NLI ? "label<TAB>premise<TAB>hypothesis"
                : o->mode == MODE_SIMCSE ? "one text per line, or label<TAB>text" : "label<TAB>text");
    int cid = ctk_meta_find(m, "id");
    if (cid >= 0 && (m->cols[cid].kind != CTK_COL_DENSE || m->cols[cid].dtype != CTK_I64)) cid = -1;
    ctk_meta_init(&input_meta);
    if (ctk_input_is_stream(&in))
        for (int i = 0; i < m->nhistory; i++) ctk_meta_add_history(&input_meta, m->history[i]);
    int rc;
    while ((rc = ctk_chunk_read(&in, &ck, &e)) > 0) {
        for (int64_t r = 0; r < ck.rows; r++) {
            int64_t nl = 0, nt = 0, np = 0, id = ++nrow;
            const char *lab = cl >= 0 ? ctk_col_row(&ck, m, cl, r, &nl) : NULL;
            const char *txt = ctk_col_row(&ck, m, ct, r, &nt);
            const char *pre = cp >= 0 ? ctk_col_row(&ck, m, cp, r, &np) : NULL;
            if (cid >= 0) id = ((const int64_t *)ck.cols[cid].data)[r];
            if (nt == 0 && nl == 0 && np == 0) continue;  /* an empty line */
            if (o->mode != MODE_SIMCSE && nl == 0)
                ctk_die("%s: row %" PRId64 " has an empty label; every row needs one", in.name, id);
            if (o->mode == MODE_SIMCSE)
                dups += add_example(x, id, NULL, 0, NULL, 0, txt, (size_t)nt);
            else if (o->mode == MODE_NLI) {
                if (nl == 7 && memcmp(lab, "neutral", 7) == 0) continue;
                int ok = (nl == 10 && memcmp(lab, "entailment", 10) == 0) ||
                         (nl == 13 && memcmp(lab, "contradiction", 13) == 0);
                if (!ok)
                    ctk_die("%s: row %" PRId64 ": NLI label '%.*s' is not entailment, neutral or "
                            "contradiction", in.name, id, (int)nl, lab);
                dups += add_example(x, id, lab, (size_t)nl, pre, (size_t)np, txt, (size_t)nt);
            } else
                dups += add_example(x, id, lab, (size_t)nl, NULL, 0, txt, (size_t)nt);
        }
    }
    if (rc < 0) ctk_die_err(&e);
    ctk_chunk_free(&ck);
    if (ctk_stream_close(&in, &e) < 0) ctk_die_err(&e);
    if (dups)
        ctk_warn("%" PRId64 " duplicate row%s (same %s) dropped", dups, dups == 1 ? "" : "s",
                 o->mode == MODE_SIMCSE ? "text" : o->mode == MODE_NLI ? "label, premise and hypothesis"
                                                                      : "label and text");
    free(x->slot);
    x->slot = NULL;
}

/* --- pseudorandom permutations of 0..M-1 ------------------------------- */

/*
 * A bijection of 0..M-1: a 4-round Feistel network on 2h bits (round keys
 * from lib/rng.h's stream `stream` of the seed, round function lib/hash.h's ctk_fmix64),
 * cycle-walked into range: positive pair k is perm(k), so any pair can be
 * computed without listing the others.
 */
struct perm {
    uint64_t M;
    int h;             /* half width in bits */
    uint64_t key[4];
};

static void perm_init(struct perm *p, uint64_t M, uint64_t seed, uint64_t stream)
{
    p->M = M;
    p->h = 1;
    while (p->h < 32 && ((uint64_t)1 << (2 * p->h)) < M) p->h++;
    struct ctk_rng g;
    ctk_rng_seed_stream(&g, seed, stream);
    for (int i = 0; i < 4; i++) p->key[i] = ctk_rng_next(&g);
}

static uint64_t perm_at(const struct perm *p, uint64_t x)
{
    uint64_t mask = ((uint64_t)1 << p->h) - 1;
    do {
        uint64_t l = x >> p->h, r = x & mask;
        for (int i = 0; i < 4; i++) {
            uint64_t t = l ^ (ctk_fmix64(r ^ p->key[i]) & mask);
            l = r;
            r = t;
        }
        x = (l << p->h) | r;
    } while (x >= p->M);
    return x;
}

/* --- the pairs ---------------------------------------------------------- */

struct sampler {
    const struct examples *x;
    int C;
    int64_t *order;    /* (n) rows grouped by class, input order within a class */
    int64_t *start;    /* (C+1) class c is order[start[c] .. start[c+1]) */
    uint64_t *cpos;    /* (C+1) positives before class c */
    uint64_t *cneg;    /* (C*(C-1)/2 + 1) negatives before class pair q */
    int *qa, *qb;      /* (C*(C-1)/2) class pair q = (qa, qb), qa < qb */
    uint64_t P, N;
    struct perm pp, pn;
    uint64_t seed;
};

static void sampler_init(struct sampler *s, const struct examples *x, uint64_t seed)
{
    int C = x->nclass;
    memset(s, 0, sizeof *s);
    s->x = x;
    s->C = C;
    s->seed = seed;
    s->start = xcalloc((size_t)C + 1, sizeof *s->start);
    for (int64_t r = 0; r < x->n; r++) s->start[x->cls[r] + 1]++;
    for (int c = 0; c < C; c++) s->start[c + 1] += s->start[c];
    int64_t *fill = xmallocarray((size_t)C, sizeof *fill);
    for (int c = 0; c < C; c++) fill[c] = s->start[c];
    s->order = xmallocarray((size_t)(x->n ? x->n : 1), sizeof *s->order);
    for (int64_t r = 0; r < x->n; r++) s->order[fill[x->cls[r]]++] = r;
    free(fill);
    s->cpos = xcalloc((size_t)C + 1, sizeof *s->cpos);
    for (int c = 0; c < C; c++) {
        uint64_t n = (uint64_t)(s->start[c + 1] - s->start[c]);
        s->cpos[c + 1] = s->cpos[c] + n * (n - (n > 0)) / 2;
    }
    s->P = s->cpos[C];
    size_t nq = (size_t)C * (size_t)(C - 1) / 2;
    s->cneg = xcalloc(nq + 1, sizeof *s->cneg);
    s->qa = xmallocarray(nq + 1, sizeof *s->qa);
    s->qb = xmallocarray(nq + 1, sizeof *s->qb);
    size_t q = 0;
    for (int a = 0; a < C; a++)
        for (int b = a + 1; b < C; b++, q++) {
            s->qa[q] = a;
            s->qb[q] = b;
            s->cneg[q + 1] = s->cneg[q] + (uint64_t)(s->start[a + 1] - s->start[a]) *
                                          (uint64_t)(s->start[b + 1] - s->start[b]);
        }
    s->N = s->cneg[nq];
    if (s->P) perm_init(&s->pp, s->P, seed, 1);
    if (s->N) perm_init(&s->pn, s->N, seed, 2);
}

static void sampler_free(struct sampler *s)
{
    free(s->order);
    free(s->start);
    free(s->cpos);
    free(s->cneg);
    free(s->qa);
    free(s->qb);
}

/* Largest index k with cum[k] <= t (cum nondecreasing, cum[0] = 0 <= t < cum[n]). */
static size_t bsearch_cum(const uint64_t *cum, size_t n, uint64_t t)
{
    size_t lo = 0, hi = n;  /* cum[lo] <= t < cum[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] <= t) lo = mid;
        else hi = mid;
    }
    return lo;
}

/*
 * Pair t of the pairs (i, j), i < j, of n items in the order (0,1), (0,2),
 * ..., (0,n-1), (1,2), ...: i is the largest with i n - i (i+1)/2 <= t.
 */
static void unrank_pair(uint64_t n, uint64_t t, uint64_t *i, uint64_t *j)
{
    double nn = (double)n;
    double est = floor(((2 * nn - 1) - sqrt((2 * nn - 1) * (2 * nn - 1) - 8.0 * (double)t)) / 2);
    uint64_t a = est < 0 ? 0 : (uint64_t)est;
    if (a > n - 2) a = n - 2;
#define BEFORE(k) ((k) * n - (k) * ((k) + 1) / 2)
    while (a > 0 && BEFORE(a) > t) a--;
    while (a + 1 <= n - 2 && BEFORE(a + 1) <= t) a++;
    *i = a;
    *j = t - BEFORE(a) + a + 1;
#undef BEFORE
}

/* Positive pair k (cycling): two rows of one class. */
static void positive(const struct sampler *s, uint64_t k, int64_t *a, int64_t *b)
{
    uint64_t t = perm_at(&s->pp, k % s->P);
    size_t c = bsearch_cum(s->cpos, (size_t)s->C, t);
    uint64_t i, j, n = (uint64_t)(s->start[c + 1] - s->start[c]);
    unrank_pair(n, t - s->cpos[c], &i, &j);
    *a = s->order[s->start[c] + (int64_t)i];
    *b = s->order[s->start[c] + (int64_t)j];
    if (ctk_fmix64(s->seed ^ (k * 0xD6E8FEB86659FD93ULL) ^ 0x51) & 1) {  /* either text may come first */
        int64_t tmp = *a;
        *a = *b;
        *b = tmp;
    }
}

/* Negative pair k (cycling): rows of two classes. */
static void negative(const struct sampler *s, uint64_t k, int64_t *a, int64_t *b)
{
    uint64_t t = perm_at(&s->pn, k % s->N);
    size_t nq = (size_t)s->C * (size_t)(s->C - 1) / 2;
    size_t q = bsearch_cum(s->cneg, nq, t);
    int ca = s->qa[q], cb = s->qb[q];
    uint64_t u = t - s->cneg[q], nb = (uint64_t)(s->start[cb + 1] - s->start[cb]);
    *a = s->order[s->start[ca] + (int64_t)(u / nb)];
    *b = s->order[s->start[cb] + (int64_t)(u % nb)];
    if (ctk_fmix64(s->seed ^ (k * 0xD6E8FEB86659FD93ULL) ^ 0x52) & 1) {
        int64_t tmp = *a;
        *a = *b;
        *b = tmp;
    }
}

/* A row of another class than row r's, drawn by (seed, k). */
static int64_t other_class_row(const struct sampler *s, uint64_t k, int64_t r)
{
    int c = s->x->cls[r];
    uint64_t nc = (uint64_t)(s->start[c + 1] - s->start[c]);
    uint64_t u = ctk_fmix64(s->seed ^ ctk_fmix64(k + 0x1234567ULL)) % ((uint64_t)s->x->n - nc);
    if ((int64_t)u >= s->start[c]) u += nc;
    return s->order[u];
}

/* --- writing ------------------------------------------------------------- */

struct writer {
    struct ctk_stream out;
    struct ctk_chunk ck;
    int ncols;          /* string columns after id */
    int has_score, has_label;
    int64_t *ids;       /* (CTK_CHUNK_ROWS) */
    float *scores;
    int64_t rows, total;
    const struct examples *x;
};

static void writer_open(struct writer *w, const struct examples *x, const char *const *cols,
                        int ncols, int has_score, int has_label)
{
    struct ctk_stream_meta m;
    struct ctk_err e;
    memset(w, 0, sizeof *w);
    w->x = x;
    w->ncols = ncols;
    w->has_score = has_score;
    w->has_label = has_label;
    ctk_meta_init(&m);
    ctk_meta_add_col(&m, "id", CTK_COL_DENSE, CTK_I64, 0);
    for (int i = 0; i < ncols; i++) ctk_meta_add_col(&m, cols[i], CTK_COL_STRING, CTK_U8, 0);
    if (has_score) ctk_meta_add_col(&m, "score", CTK_COL_DENSE, CTK_F32, 0);
    if (has_label) {
        ctk_meta_add_col(&m, "label", CTK_COL_STRING, CTK_U8, 0);
        ctk_meta_set_labels(&m, x->nclass, x->classes);
    }
    for (int i = 0; i < input_meta.nhistory; i++) ctk_meta_add_history(&m, input_meta.history[i]);
    ctk_meta_add_history(&m, ctk_cmdline());
    if (ctk_stream_open_write(&w->out, stdout, "stdout", &m, &e) < 0) ctk_die_err(&e);
    ctk_meta_free(&m);
    w->ids = xmallocarray(CTK_CHUNK_ROWS, sizeof *w->ids);
    w->scores = xmallocarray(CTK_CHUNK_ROWS, sizeof *w->scores);
    ctk_chunk_reset(&w->ck, &w->out.meta);
}

static void writer_flush(struct writer *w)
{
    struct ctk_err e;
    if (w->rows == 0) return;
    const struct ctk_stream_meta *m = &w->out.meta;
    memcpy(ctk_col_dense_reserve(&w->ck, m, 0, w->rows), w->ids, (size_t)w->rows * sizeof *w->ids);
    if (w->has_score)
        memcpy(ctk_col_dense_reserve(&w->ck, m, 1 + w->ncols, w->rows), w->scores,
               (size_t)w->rows * sizeof *w->scores);
    w->ck.rows = w->rows;
    if (ctk_chunk_write(&w->out, &w->ck, &e) < 0) ctk_die_err(&e);
    ctk_chunk_reset(&w->ck, m);
    w->rows = 0;
}

/* One output row: texts of rows r[0..ncols), a score, the label of row r[0]. */
static void writer_row(struct writer *w, const int64_t *r, const size_t *pre, float score)
{
    const struct examples *x = w->x;
    const struct ctk_stream_meta *m = &w->out.meta;
    for (int i = 0; i < w->ncols; i++) {
        size_t a = pre && pre[i] ? x->p0[r[i]] : x->t0[r[i]];
        size_t b = pre && pre[i] ? x->p1[r[i]] : x->t1[r[i]];
        ctk_col_append(&w->ck, m, 1 + i, x->arena + a, (int64_t)(b - a));
    }
    if (w->has_label) {
        const char *l = x->classes[x->cls[r[0]]];
        ctk_col_append(&w->ck, m, 1 + w->ncols + w->has_score, l, (int64_t)strlen(l));
    }
    w->scores[w->rows] = score;
    w->ids[w->rows++] = ++w->total;
    if (w->rows == CTK_CHUNK_ROWS) writer_flush(w);
}

static void writer_close(struct writer *w)
{
    struct ctk_err e;
    writer_flush(w);
    if (ctk_stream_close(&w->out, &e) < 0) ctk_die_err(&e);
    ctk_chunk_free(&w->ck);
    free(w->ids);
    free(w->scores);
}

/* --- the modes ------------------------------------------------------------ */

static void check_classes(const struct examples *x, const struct sampler *s)
{
    if (x->n == 0) ctk_die("no examples in the input: it needs label<TAB>text rows");
    if (x->nclass < 2)
        ctk_die("the input has one class ('%s'): pairs need examples of two classes or more "
                "(for unlabeled text, use --simcse)", x->classes[0]);
    for (int c = 0; c < x->nclass; c++)
        if (s->start[c + 1] - s->start[c] == 1)
            ctk_warn("class '%s' has a single example: it is in no positive pair", x->classes[c]);
    if (s->P == 0)
        ctk_die("every class has a single example: there is no positive pair; give two examples "
                "or more of some class");
}

static void labeled(const struct opts *o, const struct examples *x)
{
    struct sampler s;
    sampler_init(&s, x, o->seed);
    check_classes(x, &s);
    uint64_t npos, nneg;
    if (o->num_pairs) {
        npos = o->format == FMT_PAIRS ? ((uint64_t)o->num_pairs + 1) / 2 : (uint64_t)o->num_pairs;
        nneg = o->format == FMT_PAIRS ? (uint64_t)o->num_pairs / 2 : 0;
    } else if (o->iterations) {
        npos = nneg = (uint64_t)o->iterations * (uint64_t)x->n;
    } else if (o->strategy == ST_UNIQUE) {
        npos = s.P;
        nneg = s.N;
    } else if (o->strategy == ST_UNDER) {
        npos = nneg = s.P < s.N ? s.P : s.N;
    } else {
        npos = nneg = s.P > s.N ? s.P : s.N;
    }
    if (o->format != FMT_PAIRS) nneg = 0;

    static const char *const c_pairs[] = {"text1", "text2"};
    static const char *const c_mnrl[] = {"anchor", "positive"};
    static const char *const c_trip[] = {"anchor", "positive", "negative"};
    struct writer w;
    if (o->format == FMT_PAIRS) writer_open(&w, x, c_pairs, 2, 1, 0);
    else if (o->format == FMT_MNRL) writer_open(&w, x, c_mnrl, 2, 0, 1);
    else writer_open(&w, x, c_trip, 3, 0, 1);

    /* SetFit's order: positive, negative, positive, ... then the longer list's rest */
    uint64_t most = npos > nneg ? npos : nneg;
    for (uint64_t k = 0; k < most; k++) {
        int64_t r[3];
        if (k < npos) {
            positive(&s, k, &r[0], &r[1]);
            if (o->format == FMT_TRIPLET) r[2] = other_class_row(&s, k, r[0]);
            writer_row(&w, r, NULL, 1.0f);
        }
        if (k < nneg) {
            negative(&s, k, &r[0], &r[1]);
            writer_row(&w, r, NULL, 0.0f);
        }
    }
    writer_close(&w);
    sampler_free(&s);
}

static void simcse(const struct opts *o, const struct examples *x)
{
    static const char *const cols[] = {"anchor", "positive"};
    if (x->n == 0) ctk_die("no text in the input");
    uint64_t n = (uint64_t)x->n;
    uint64_t total = o->num_pairs ? (uint64_t)o->num_pairs
                   : o->iterations ? (uint64_t)o->iterations * n : n;
    struct writer w;
    struct perm p;
    writer_open(&w, x, cols, 2, 0, 0);
    for (uint64_t k = 0; k < total; k++) {
        if (k % n == 0) perm_init(&p, n, o->seed, 3 + k / n);  /* a new order each pass */
        int64_t r = (int64_t)perm_at(&p, k % n);
        int64_t rr[2] = {r, r};
        writer_row(&w, rr, NULL, 0);
    }
    writer_close(&w);
}

/*
 * Supervised SimCSE: for each premise with an entailment and a contradiction
 * hypothesis, one (premise, entailment, contradiction) row per entailment
 * hypothesis, its contradiction taken in turn from the premise's.
 */
static void nli(const struct opts *o, struct examples *x)
{
    static const char *const cols[] = {"anchor", "positive", "negative"};
    int ent = -1, con = -1;
    for (int c = 0; c < x->nclass; c++) {
        if (!strcmp(x->classes[c], "entailment")) ent = c;
        if (!strcmp(x->classes[c], "contradiction")) con = c;
    }
    /* group rows by premise: sort row numbers by (premise, input order) */
    int64_t *ord = xmallocarray((size_t)(x->n ? x->n : 1), sizeof *ord);
    for (int64_t i = 0; i < x->n; i++) ord[i] = i;
    /* a stable merge sort on the premise bytes */
    int64_t *tmp = xmallocarray((size_t)(x->n ? x->n : 1), sizeof *tmp);
    for (int64_t width = 1; width < x->n; width *= 2) {
        for (int64_t lo = 0; lo < x->n; lo += 2 * width) {
            int64_t mid = lo + width < x->n ? lo + width : x->n;
            int64_t hi = lo + 2 * width < x->n ? lo + 2 * width : x->n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                size_t la = x->p1[ord[i]] - x->p0[ord[i]], lb = x->p1[ord[j]] - x->p0[ord[j]];
                int cmp = memcmp(x->arena + x->p0[ord[i]], x->arena + x->p0[ord[j]], la < lb ? la : lb);
                if (cmp == 0) cmp = la < lb ? -1 : la > lb;
                tmp[k++] = cmp <= 0 ? ord[i++] : ord[j++];
            }
            while (i < mid) tmp[k++] = ord[i++];
            while (j < hi) tmp[k++] = ord[j++];
        }
        memcpy(ord, tmp, (size_t)x->n * sizeof *ord);
    }
    /* triplets as (entailment row, contradiction row) */
    int64_t ntrip = 0, cap = 0, *te = NULL, *tc = NULL;
    for (int64_t g0 = 0; g0 < x->n;) {
        int64_t g1 = g0 + 1;
        while (g1 < x->n && x->p1[ord[g1]] - x->p0[ord[g1]] == x->p1[ord[g0]] - x->p0[ord[g0]] &&
               memcmp(x->arena + x->p0[ord[g1]], x->arena + x->p0[ord[g0]],
                      x->p1[ord[g0]] - x->p0[ord[g0]]) == 0)
            g1++;
        int64_t nc = 0, ci = 0;
        for (int64_t i = g0; i < g1; i++) nc += x->cls[ord[i]] == con;
        if (nc > 0)
            for (int64_t i = g0; i < g1; i++) {
                if (x->cls[ord[i]] != ent) continue;
                int64_t want = ci++ % nc, seen = 0, c = -1;
                for (int64_t k = g0; k < g1; k++)
                    if (x->cls[ord[k]] == con && seen++ == want) c = ord[k];
                if (ntrip == cap) {
                    cap = cap ? 2 * cap : 1024;
                    te = xreallocarray(te, (size_t)cap, sizeof *te);
                    tc = xreallocarray(tc, (size_t)cap, sizeof *tc);
                }
                te[ntrip] = ord[i];
                tc[ntrip++] = c;
            }
        g0 = g1;
    }
    free(tmp);
    free(ord);
    if (ntrip == 0)
        ctk_die("no premise has both an entailment and a contradiction hypothesis: no triplet to make");
    uint64_t total = o->num_pairs ? (uint64_t)o->num_pairs : (uint64_t)ntrip;
    struct writer w;
    struct perm p;
    writer_open(&w, x, cols, 3, 0, 0);
    static const size_t pre[3] = {1, 0, 0};
    for (uint64_t k = 0; k < total; k++) {
        if (k % (uint64_t)ntrip == 0) perm_init(&p, (uint64_t)ntrip, o->seed, 3 + k / (uint64_t)ntrip);
        int64_t t = (int64_t)perm_at(&p, k % (uint64_t)ntrip);
        int64_t r[3] = {te[t], te[t], tc[t]};
        writer_row(&w, r, pre, 0);
    }
    writer_close(&w);
    free(te);
    free(tc);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct examples x;
    ctk_init("ctk-mkpairs", argc, argv);
    parse_options(argc, argv, &o);
    ctk_check_binary_stdout();
    memset(&x, 0, sizeof x);
    read_examples(&o, &x);
    if (o.mode == MODE_SIMCSE) simcse(&o, &x);
    else if (o.mode == MODE_NLI) nli(&o, &x);
    else labeled(&o, &x);
    for (int c = 0; c < x.nclass; c++) free(x.classes[c]);
    free(x.classes);
    free(x.id);
    free(x.cls);
    free(x.t0);
    free(x.t1);
    free(x.p0);
    free(x.p1);
    free(x.arena);
    ctk_meta_free(&input_meta);
    return 0;
}
