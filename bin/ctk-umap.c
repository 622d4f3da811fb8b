/*
 * ctk-umap -- reduce embeddings to a few dimensions with UMAP (McInnes,
 * Healy & Melville 2018), to look at a space (2-D, then ctk-plot) or to
 * cluster it (5-10 dimensions, then ctk-cluster).
 *
 * Reads a stream with a vector column (emb by default), writes it back with
 * a `coords` column (F32 [n, n_components]) in place of the vectors; ids,
 * labels and text are carried. --save-model keeps what --transform needs to
 * place new points into the same embedding.
 */
#include "config.h"
#include "err.h"
#include "opts.h"
#include "safetensors.h"
#include "stream.h"
#include "table.h"
#include "textio.h"
#include "tsne.h"
#include "umap.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct opts {
    struct ctk_umap_opts u;
    struct ctk_tsne_opts t;
    int tsne;             /* --method tsne */
    const char *column;   /* input vectors */
    const char *out_col;  /* output coordinates */
    const char *save_model, *transform;
    int keep_input, seeded;
    const char *input;
};

static void usage(void)
{
    printf("Usage: ctk-umap [OPTION]... [FILE]\n"
           "Reduce the vectors of a stream with UMAP (or t-SNE); write the stream with a\n"
           "'coords' column.\n"
           "With no FILE, or when FILE is -, read standard input.\n"
           "\n"
           "  -c, --column=NAME              input vectors (default: emb)\n"
           "  -o, --output-column=NAME       output coordinates (default: coords)\n"
           "  -k, --n-neighbors=K            size of the local neighbourhood (default 15)\n"
           "  -d, --n-components=D           output dimensions (default 2)\n"
           "      --min-dist=X               how tightly points pack (default 0.1)\n"
           "      --spread=X                 scale of the embedded points (default 1.0)\n"
           "      --n-epochs=N               SGD epochs (default: 500 up to 10000 points, else 200)\n"
           "      --method=NAME              umap (default) or tsne\n"
           "      --learning-rate=X          initial step (UMAP default 1.0; t-SNE default 'auto':\n"
           "                                 max(n / early_exaggeration / 4, 50))\n"
           "      --negative-sample-rate=X   negative samples per positive (default 5)\n"
           "      --repulsion-strength=X     weight of the negative samples (default 1.0)\n"
           "      --local-connectivity=X     neighbours assumed connected (default 1.0)\n"
           "      --metric=NAME              euclidean (default) or cosine\n"
           "      --init=NAME                spectral (default) or random\n"
           "      --exact-max=N              exact neighbours up to N points, NN-descent beyond\n"
           "                                 (default 20000)\n"
           "      --seed=N                   deterministic: one thread, same output for the same seed\n"
           "t-SNE (--method tsne), named as scikit-learn's TSNE names them:\n"
           "      --perplexity=X             effective number of neighbours (default 30)\n"
           "      --early-exaggeration=X     P is multiplied by X for 250 iterations (default 12)\n"
           "      --n-iter=N                 iterations (default 1000)\n"
           "      --angle=X                  Barnes-Hut accuracy, smaller is exact-er (default 0.5)\n"
           "      --tsne-method=NAME         barnes_hut (default, 2-D) or exact (O(n^2))\n"
           "UMAP and t-SNE:\n"
           "      --save-model=FILE          keep the model for --transform (safetensors)\n"
           "      --transform=FILE           place the input into the embedding of a saved model\n"
           "      --keep-input               keep the input vector column in the output\n"
           "  -j, --threads=N                threads (default: CTK_THREADS, else all processors)\n"
           "  -q, --quiet                    no progress messages\n"
           "      --help                     show this help and exit\n"
           "      --version                  show the version and exit\n"
           "\n"
           "Exit status: 0 success, 1 failure, 2 usage. See ctk-umap(1).\n");
    exit(CTK_EXIT_OK);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { O_MIN_DIST = 256, O_SPREAD, O_EPOCHS, O_LR, O_NEG, O_REP, O_LC, O_METRIC, O_INIT, O_EXACT, O_SEED,
           O_SAVE, O_TRANSFORM, O_KEEP, O_METHOD, O_PERP, O_EXAG, O_NITER, O_ANGLE, O_TSNE_METHOD, O_HELP,
           O_VERSION };
    static const struct option longopts[] = {
        {"column", required_argument, NULL, 'c'},
        {"output-column", required_argument, NULL, 'o'},
        {"n-neighbors", required_argument, NULL, 'k'},
        {"n-components", required_argument, NULL, 'd'},
        {"min-dist", required_argument, NULL, O_MIN_DIST},
        {"spread", required_argument, NULL, O_SPREAD},
        {"n-epochs", required_argument, NULL, O_EPOCHS},
        {"learning-rate", required_argument, NULL, O_LR},
        {"negative-sample-rate", required_argument, NULL, O_NEG},
        {"repulsion-strength", required_argument, NULL, O_REP},
        {"local-connectivity", required_argument, NULL, O_LC},
        {"metric", required_argument, NULL, O_METRIC},
        {"init", required_argument, NULL, O_INIT},
        {"exact-max", required_argument, NULL, O_EXACT},
        {"seed", required_argument, NULL, O_SEED},
        {"save-model", required_argument, NULL, O_SAVE},
        {"transform", required_argument, NULL, O_TRANSFORM},
        {"keep-input", no_argument, NULL, O_KEEP},
        {"method", required_argument, NULL, O_METHOD},
        {"perplexity", required_argument, NULL, O_PERP},
        {"early-exaggeration", required_argument, NULL, O_EXAG},
        {"n-iter", required_argument, NULL, O_NITER},
        {"angle", required_argument, NULL, O_ANGLE},
        {"tsne-method", required_argument, NULL, O_TSNE_METHOD},
        {"threads", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    ctk_umap_opts_default(&o->u);
    ctk_tsne_opts_default(&o->t);
    o->column = "emb";
    o->out_col = "coords";
    int threads = 0, c;
    while ((c = getopt_long(argc, argv, "c:o:k:d:j:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->column = optarg; break;
        case 'o': o->out_col = optarg; break;
        case 'k': o->u.n_neighbors = (int)ctk_opt_double("--n-neighbors", optarg, 2, 1000); break;
        case 'd': o->u.n_components = (int)ctk_opt_double("--n-components", optarg, 1, 64); break;
        case O_MIN_DIST: o->u.min_dist = ctk_opt_double("--min-dist", optarg, 0, 1e6); break;
        case O_SPREAD: o->u.spread = ctk_opt_double("--spread", optarg, 1e-6, 1e6); break;
        case O_EPOCHS: o->u.n_epochs = (int)ctk_opt_double("--n-epochs", optarg, 1, 1e6); break;
        case O_LR:
            o->u.learning_rate = o->t.learning_rate = ctk_opt_double("--learning-rate", optarg, 1e-9, 1e6);
            break;
        case O_NEG: o->u.negative_sample_rate = ctk_opt_double("--negative-sample-rate", optarg, 0, 1000); break;
        case O_REP: o->u.repulsion_strength = ctk_opt_double("--repulsion-strength", optarg, 0, 1e6); break;
        case O_LC: o->u.local_connectivity = ctk_opt_double("--local-connectivity", optarg, 0, 1000); break;
        case O_METRIC:
            if (ctk_metric_parse(optarg, &o->u.metric) < 0)
                ctk_usage("--metric=%s: expected euclidean or cosine", optarg);
            break;
        case O_INIT:
            if (!strcmp(optarg, "spectral"))
                o->u.random_init = 0;
            else if (!strcmp(optarg, "random"))
                o->u.random_init = 1;
            else
                ctk_usage("--init=%s: expected spectral or random", optarg);
            break;
        case O_EXACT: o->u.exact_max = (int64_t)ctk_opt_double("--exact-max", optarg, 0, 9e15); break;
        case O_SEED: {
            char *end;
            o->u.seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end) ctk_usage("--seed=%s: expected a whole number", optarg);
            o->seeded = 1;
            break;
        }
        case O_SAVE: o->save_model = optarg; break;
        case O_TRANSFORM: o->transform = optarg; break;
        case O_KEEP: o->keep_input = 1; break;
        case O_METHOD:
            if (!strcmp(optarg, "umap"))
                o->tsne = 0;
            else if (!strcmp(optarg, "tsne"))
                o->tsne = 1;
            else
                ctk_usage("--method=%s: expected umap or tsne", optarg);
            break;
        case O_PERP: o->t.perplexity = ctk_opt_double("--perplexity", optarg, 1e-3, 1e6); break;
        case O_EXAG: o->t.early_exaggeration = ctk_opt_double("--early-exaggeration", optarg, 1, 1e6); break;
        case O_NITER: o->t.n_iter = (int)ctk_opt_double("--n-iter", optarg, 250, 1e7); break;
        case O_ANGLE: o->t.angle = ctk_opt_double("--angle", optarg, 0, 1); break;
        case O_TSNE_METHOD:
            if (!strcmp(optarg, "exact"))
                o->t.exact = 1;
            else if (!strcmp(optarg, "barnes_hut"))
                o->t.exact = 0;
            else
                ctk_usage("--tsne-method=%s: expected barnes_hut or exact", optarg);
            break;
        case 'j': threads = (int)ctk_opt_double("--threads", optarg, 1, 4096); break;
        case 'q': ctk_set_quiet(1); break;
        case O_HELP: usage(); break;
        case O_VERSION: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (optind + 1 < argc) ctk_usage("too many inputs: ctk-umap reads one stream");
    o->input = optind < argc ? argv[optind] : NULL;
    if (o->save_model && o->transform) ctk_usage("--save-model and --transform exclude each other");
    if (o->tsne && (o->save_model || o->transform))
        ctk_usage("t-SNE has no transform: --save-model and --transform are for UMAP");
    o->u.threads = ctk_threads(threads);
    o->u.deterministic = o->seeded;
    if (!o->seeded) o->u.seed = (uint64_t)(ctk_now() * 1e9) ^ ((uint64_t)getpid() << 32);
    o->u.verbose = !ctk_quiet();
    o->t.n_components = o->u.n_components;
    o->t.seed = o->u.seed, o->t.threads = o->u.threads, o->t.verbose = o->u.verbose;
    o->t.random_init = o->u.random_init;
}

/* ---- models: the training points and their embedding, the options in metadata ---- */

static int save_model(const char *path, const struct ctk_umap_model *M, struct ctk_err *e)
{
    char buf[12][64];
    const struct ctk_umap_opts *u = &M->opts;
    snprintf(buf[0], 64, "%d", u->n_neighbors);
    snprintf(buf[1], 64, "%d", u->n_components);
    snprintf(buf[2], 64, "%.17g", u->min_dist);
    snprintf(buf[3], 64, "%.17g", u->spread);
    snprintf(buf[4], 64, "%d", u->n_epochs);
    snprintf(buf[5], 64, "%.17g", u->learning_rate);
    snprintf(buf[6], 64, "%.17g", u->negative_sample_rate);
    snprintf(buf[7], 64, "%.17g", u->repulsion_strength);
    snprintf(buf[8], 64, "%.17g", u->local_connectivity);
    snprintf(buf[9], 64, "%.17g", M->a);
    snprintf(buf[10], 64, "%.17g", M->b);
    snprintf(buf[11], 64, "%llu", (unsigned long long)u->seed);
    const char *meta[] = {"format", "ctk-umap-model", "n_neighbors", buf[0], "n_components", buf[1],
                          "min_dist", buf[2], "spread", buf[3], "n_epochs", buf[4], "learning_rate", buf[5],
                          "negative_sample_rate", buf[6], "repulsion_strength", buf[7],
                          "local_connectivity", buf[8], "a", buf[9], "b", buf[10], "seed", buf[11],
                          "metric", ctk_metric_name(u->metric), NULL};
    struct ctk_st_wtensor t[2] = {
        {.name = "data", .dtype = CTK_F32, .ndim = 2, .shape = {M->n, M->d}, .data = M->x, .from_f32 = 1},
        {.name = "embedding", .dtype = CTK_F32, .ndim = 2, .shape = {M->n, u->n_components}, .data = M->emb,
         .from_f32 = 1},
    };
    return ctk_st_write(path, t, 2, meta, e);
}

static double meta_num(const struct ctk_st *st, const char *key, struct ctk_err *e, int *bad)
{
    const char *v = ctk_st_meta(st, key);
    char *end;
    double x = v ? strtod(v, &end) : NAN;
    if (!v || end == v || *end || !isfinite(x)) {
        if (!*bad) ctk_err_set(e, "%s: metadata '%s' is missing or not a number", st->what, key);
        *bad = 1;
    }
    return x;
}

static int load_model(const char *path, struct ctk_umap_model *M, int threads, struct ctk_err *e)
{
    struct ctk_st st;
    if (ctk_st_open(&st, path, e) < 0) return -1;
    const char *fmt = ctk_st_meta(&st, "format");
    const struct ctk_st_tensor *x = ctk_st_find(&st, "data"), *emb = ctk_st_find(&st, "embedding");
    if (!fmt || strcmp(fmt, "ctk-umap-model") || !x || !emb || x->ndim != 2 || emb->ndim != 2 ||
        x->shape[0] != emb->shape[0] || x->shape[0] < 2) {
        ctk_st_close(&st);
        return ctk_err_set(e, "%s is not a model saved by 'ctk-umap --save-model'", path);
    }
    int bad = 0;
    ctk_umap_opts_default(&M->opts);
    struct ctk_umap_opts *u = &M->opts;
    u->n_neighbors = (int)meta_num(&st, "n_neighbors", e, &bad);
    u->n_components = (int)meta_num(&st, "n_components", e, &bad);
    u->n_epochs = (int)meta_num(&st, "n_epochs", e, &bad);
    u->learning_rate = meta_num(&st, "learning_rate", e, &bad);
    u->negative_sample_rate = meta_num(&st, "negative_sample_rate", e, &bad);
    u->repulsion_strength = meta_num(&st, "repulsion_strength", e, &bad);
    u->local_connectivity = meta_num(&st, "local_connectivity", e, &bad);
    M->a = meta_num(&st, "a", e, &bad);
    M->b = meta_num(&st, "b", e, &bad);
    const char *metric = ctk_st_meta(&st, "metric");
    if (!bad && (!metric || ctk_metric_parse(metric, &u->metric) < 0))
        bad = 1, ctk_err_set(e, "%s: unknown metric '%s'", path, metric ? metric : "");
    if (!bad && (u->n_components != emb->shape[1] || u->n_neighbors < 2 || u->n_neighbors > x->shape[0]))
        bad = 1, ctk_err_set(e, "%s: n_components or n_neighbors disagree with the saved arrays", path);
    if (bad) {
        ctk_st_close(&st);
        return -1;
    }
    u->threads = threads;
    M->n = x->shape[0], M->d = x->shape[1];
    M->x = ctk_st_get_f32(&st, x, e);
    M->emb = M->x ? ctk_st_get_f32(&st, emb, e) : NULL;
    ctk_st_close(&st);
    return M->emb ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ctk_stream in, out;
    struct ctk_chunk all = {0}, ck = {0};
    struct ctk_err e;

    ctk_init("ctk-umap", argc, argv);
    parse_options(argc, argv, &o);
    struct ctk_umap_model model = {0};
    if (o.transform && load_model(o.transform, &model, o.u.threads, &e) < 0) ctk_die_err(&e);
    if (ctk_input_open1(&in, o.input, NULL, &e) < 0) ctk_die_err(&e);
    int col = ctk_meta_find_vectors(&in.meta, o.column, &e);
    if (col < 0) ctk_die("%s (use -c to name the vectors)", e.msg);
    int64_t d = in.meta.cols[col].width;
    if (o.transform && d != model.d)
        ctk_die("the input's vectors have %lld dimensions, the model's %lld (%s)", (long long)d,
                (long long)model.d, o.transform);
    ctk_check_binary_stdout();
    if (ctk_stream_read_all(&in, &all, &e) < 0) ctk_die_err(&e);
    int64_t n = all.rows;
    int dim = o.transform ? model.opts.n_components : o.u.n_components;
    float *coords = xmallocarray((size_t)(n * dim), sizeof *coords);
    double t0 = ctk_now();
    if (o.tsne) {
        if (ctk_tsne(all.cols[col].data, n, d, &o.t, coords, NULL, &e) < 0) ctk_die_err(&e);
    } else if (o.transform) {
        if (ctk_umap_transform(&model, all.cols[col].data, n, coords, &e) < 0) ctk_die_err(&e);
    } else {
        if (ctk_umap_fit(all.cols[col].data, n, d, &o.u, coords, o.save_model ? &model : NULL, &e) < 0)
            ctk_die_err(&e);
        if (o.save_model && save_model(o.save_model, &model, &e) < 0) ctk_die_err(&e);
    }
    if (!ctk_quiet() && n >= 1000) ctk_progress("%lld points in %.1f s", (long long)n, ctk_now() - t0), ctk_progress_done();

    /* output: the input's metadata and columns (less the vectors unless kept), then coords */
    struct ctk_stream_meta om;
    ctk_meta_copy(&om, &in.meta);
    om.ncols = 0;
    int map[CTK_MAX_COLS], nm = 0;
    for (int i = 0; i < in.meta.ncols; i++) {
        const struct ctk_col_spec *cs = &in.meta.cols[i];
        if ((i == col && !o.keep_input) || !strcmp(cs->name, o.out_col)) continue;
        ctk_meta_add_col(&om, cs->name, cs->kind, cs->dtype, cs->width);
        map[nm++] = i;
    }
    int oc = ctk_meta_add_col(&om, o.out_col, CTK_COL_DENSE, CTK_F32, dim);
    map[nm++] = -1;
    ctk_meta_set(&om, "coords.method", o.tsne ? "tsne" : o.transform ? "umap-transform" : "umap");
    ctk_meta_add_history(&om, ctk_cmdline());
    if (ctk_stream_open_write(&out, stdout, "stdout", &om, &e) < 0) ctk_die_err(&e);
    for (int64_t r0 = 0; r0 < n; r0 += CTK_CHUNK_ROWS) {
        int64_t r1 = r0 + CTK_CHUNK_ROWS < n ? r0 + CTK_CHUNK_ROWS : n;
        ctk_chunk_reset(&ck, &om);
        ctk_chunk_append_rows(&ck, &om, &all, &in.meta, map, r0, r1);
        memcpy(ck.cols[oc].data, coords + r0 * dim, sizeof *coords * (size_t)((r1 - r0) * dim));
        if (ctk_chunk_write(&out, &ck, &e) < 0) ctk_die_err(&e);
    }
    if (ctk_stream_close(&out, &e) < 0) ctk_die_err(&e);
    ctk_meta_free(&om);
    ctk_stream_close(&in, &e);
    ctk_chunk_free(&all);
    ctk_chunk_free(&ck);
    ctk_umap_model_free(&model);
    free(coords);
    return CTK_EXIT_OK;
}
