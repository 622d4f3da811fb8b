/*
 * ctk-cluster -- HDBSCAN clustering of the vectors of a stream (usually
 * ctk-umap output with 5-10 dimensions: UMAP + HDBSCAN). Writes the stream
 * back, every column kept, with `cluster` (I32, -1 for noise) and
 * `cluster.prob` (F32, membership probability) appended.
 */
#include "config.h"
#include "err.h"
#include "opts.h"
#include "hdbscan.h"
#include "stream.h"
#include "table.h"
#include "textio.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

struct opts {
    struct ctk_hdbscan_opts h;
    const char *column;
    const char *input;
};

static void usage(void)
{
    printf("Usage: ctk-cluster [OPTION]... [FILE]\n"
           "Cluster the vectors of a stream with HDBSCAN; append 'cluster' and 'cluster.prob'.\n"
           "With no FILE, or when FILE is -, read standard input.\n"
           "\n"
           "  -c, --column=NAME                  the vectors (default: coords, else emb)\n"
           "  -m, --min-cluster-size=N           smallest cluster (default 5)\n"
           "  -s, --min-samples=N                core distance: distance to the N-th nearest\n"
           "                                     other point (default: min-cluster-size)\n"
           "      --cluster-selection-method=M   eom (excess of mass, default) or leaf\n"
           "      --metric=NAME                  euclidean (default) or cosine\n"
           "  -j, --threads=N                    threads (default: CTK_THREADS, else all processors)\n"
           "  -q, --quiet                        no progress messages\n"
           "      --help                         show this help and exit\n"
           "      --version                      show the version and exit\n"
           "\n"
           "Exit status: 0 success, 1 failure, 2 usage. See ctk-cluster(1).\n");
    exit(CTK_EXIT_OK);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { O_SELECT = 256, O_METRIC, O_HELP, O_VERSION };
    static const struct option longopts[] = {
        {"column", required_argument, NULL, 'c'},
        {"min-cluster-size", required_argument, NULL, 'm'},
        {"min-samples", required_argument, NULL, 's'},
        {"cluster-selection-method", required_argument, NULL, O_SELECT},
        {"metric", required_argument, NULL, O_METRIC},
        {"threads", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->h.min_cluster_size = 5;
    int threads = 0, c;
    while ((c = getopt_long(argc, argv, "c:m:s:j:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->column = optarg; break;
        case 'm': o->h.min_cluster_size = ctk_opt_int64("--min-cluster-size", optarg, 2, INT64_MAX); break;
        case 's': o->h.min_samples = ctk_opt_int64("--min-samples", optarg, 1, INT64_MAX); break;
        case O_SELECT:
            if (!strcmp(optarg, "eom"))
                o->h.selection = CTK_HDBSCAN_EOM;
            else if (!strcmp(optarg, "leaf"))
                o->h.selection = CTK_HDBSCAN_LEAF;
            else
                ctk_usage("--cluster-selection-method=%s: expected eom or leaf", optarg);
            break;
        case O_METRIC:
            if (!strcmp(optarg, "euclidean"))
                o->h.metric = CTK_HDBSCAN_EUCLIDEAN;
            else if (!strcmp(optarg, "cosine"))
                o->h.metric = CTK_HDBSCAN_COSINE;
            else
                ctk_usage("--metric=%s: expected euclidean or cosine", optarg);
            break;
        case 'j': threads = (int)ctk_opt_int64("--threads", optarg, 1, INT64_MAX); break;
        case 'q': ctk_set_quiet(1); break;
        case O_HELP: usage(); break;
        case O_VERSION: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (optind + 1 < argc) ctk_usage("too many inputs: ctk-cluster reads one stream");
    o->input = optind < argc ? argv[optind] : NULL;
    o->h.threads = ctk_threads(threads);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ctk_stream in, out;
    struct ctk_chunk all = {0}, ck = {0};
    struct ctk_err e;

    ctk_init("ctk-cluster", argc, argv);
    parse_options(argc, argv, &o);
    if (ctk_input_open1(&in, o.input, NULL, &e) < 0) ctk_die_err(&e);
    const char *name = o.column ? o.column : ctk_meta_find(&in.meta, "coords") >= 0 ? "coords" : "emb";
    int col = ctk_meta_find_vectors(&in.meta, name, &e);
    if (col < 0) ctk_die("%s (use -c to name the vectors)", e.msg);
    if (ctk_meta_find(&in.meta, "cluster") >= 0 || ctk_meta_find(&in.meta, "cluster.prob") >= 0)
        ctk_die("the input already has a 'cluster' column; drop it first (ctk-cat -c)");
    ctk_check_binary_stdout();
    if (ctk_stream_read_all(&in, &all, &e) < 0) ctk_die_err(&e);
    int64_t n = all.rows, d = in.meta.cols[col].width;

    int32_t *labels = xmallocarray((size_t)n + 1, sizeof *labels);
    float *prob = xmallocarray((size_t)n + 1, sizeof *prob);
    double t0 = ctk_now();
    int64_t nc = ctk_hdbscan(all.cols[col].data, n, d, &o.h, labels, prob, &e);
    if (nc < 0) ctk_die_err(&e);
    if (!ctk_quiet()) {
        int64_t noise = 0;
        for (int64_t i = 0; i < n; i++) noise += labels[i] < 0;
        fprintf(stderr, "ctk-cluster: %lld points, %lld clusters, %lld noise (%.1f s)\n", (long long)n,
                (long long)nc, (long long)noise, ctk_now() - t0);
    }

    struct ctk_stream_meta om;
    ctk_meta_copy(&om, &in.meta);
    int lc = ctk_meta_add_col(&om, "cluster", CTK_COL_DENSE, CTK_I32, 0);
    int pc = ctk_meta_add_col(&om, "cluster.prob", CTK_COL_DENSE, CTK_F32, 0);
    ctk_meta_add_history(&om, ctk_cmdline());
    int map[CTK_MAX_COLS];
    for (int i = 0; i < om.ncols; i++) map[i] = i < in.meta.ncols ? i : -1;
    if (ctk_stream_open_write(&out, stdout, "stdout", &om, &e) < 0) ctk_die_err(&e);
    for (int64_t r0 = 0; r0 < n; r0 += CTK_CHUNK_ROWS) {
        int64_t r1 = r0 + CTK_CHUNK_ROWS < n ? r0 + CTK_CHUNK_ROWS : n;
        ctk_chunk_reset(&ck, &om);
        ctk_chunk_append_rows(&ck, &om, &all, &in.meta, map, r0, r1);
        memcpy(ck.cols[lc].data, labels + r0, sizeof *labels * (size_t)(r1 - r0));
        memcpy(ck.cols[pc].data, prob + r0, sizeof *prob * (size_t)(r1 - r0));
        if (ctk_chunk_write(&out, &ck, &e) < 0) ctk_die_err(&e);
    }
    if (ctk_stream_close(&out, &e) < 0) ctk_die_err(&e);
    ctk_meta_free(&om);
    ctk_stream_close(&in, &e);
    ctk_chunk_free(&all);
    ctk_chunk_free(&ck);
    free(labels);
    free(prob);
    return CTK_EXIT_OK;
}
