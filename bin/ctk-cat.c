/*
 * ctk-cat -- convert between ctk streams and plain formats (TSV, JSON Lines,
 * NumPy .npy), and describe a stream for a person (--info).
 *
 * Text becomes a stream and a stream becomes TSV unless -t says otherwise,
 * so that `ctk-cat -t stream < x.tsv | ctk-cat` gives x.tsv back byte for
 * byte. Several inputs are read as one (streams as concatenated members,
 * text as one table). One chunk is held at a time.
 */
#include "config.h"
#include "err.h"
#include "stream.h"
#include "textio.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum out_format { OUT_DEFAULT, OUT_STREAM, OUT_TSV, OUT_JSONL, OUT_NPY, OUT_LINES };

struct opts {
    enum out_format to;
    struct ctk_text_opts text; /* how text input is read */
    const char *columns;       /* -c, or NULL */
    int header;
    int info;
    int renumber;
    const char *const *files;
    int nfiles;
};

static void usage(void)
{
    printf("Usage: ctk-cat [OPTION]... [FILE]...\n"
           "Convert between ctk streams and TSV, JSON Lines and .npy; show a stream.\n"
           "Text input becomes a stream, a stream becomes TSV, unless -t says otherwise.\n"
           "With no FILE, or when FILE is -, read standard input. gzip input is read as is.\n"
           "\n"
           "  -t, --to=FORMAT       write FORMAT: stream, tsv, jsonl, npy or lines\n"
           "  -f, --from=FORMAT     read text input as FORMAT: tsv (default), jsonl, npy or\n"
           "                        lines (each whole line is one text, tabs and all);\n"
           "                        a ctk stream is recognised whatever -f says\n"
           "  -c, --columns=LIST    write these columns, in this order (e.g. label,text);\n"
           "                        default: all, except an I64 'id' in text output\n"
           "      --header          TSV: the first line names the columns (read and written)\n"
           "      --names=LIST      name the fields of TSV input that has no header line,\n"
           "                        or the column of .npy input\n"
           "      --id-offset=N     add N to the line-number ids of text input\n"
           "      --renumber        rewrite the id column as N+1, N+2, ... (N: --id-offset)\n"
           "      --info            describe the input (schema, rows, metadata, history)\n"
           "  -q, --quiet           no progress messages\n"
           "      --help            show this help and exit\n"
           "      --version         show the version and exit\n"
           "\n"
           "Exit status: 0 success, 1 failure (bad or truncated input, write error), 2 usage.\n"
           "See ctk-cat(1) and ctk-stream(5).\n");
    exit(CTK_EXIT_OK);
}

/* --names: every name must be able to name a column. */
static void check_names(const char *list)
{
    char name[CTK_COL_NAME_MAX + 1];
    struct ctk_err e;
    for (const char *p = list;; p++) {
        const char *q = strchr(p, ',');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n > CTK_COL_NAME_MAX) n = CTK_COL_NAME_MAX;
        memcpy(name, p, n);
        name[n] = '\0';
        if (ctk_col_name_check(name, &e) < 0) ctk_usage("--names '%s': %s", list, e.msg);
        if (!q) break;
        p = q;
    }
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { OPT_HEADER = 256, OPT_NAMES, OPT_INFO, OPT_ID_OFFSET, OPT_RENUMBER, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {
        {"to", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'},
        {"columns", required_argument, NULL, 'c'},
        {"header", no_argument, NULL, OPT_HEADER},
        {"names", required_argument, NULL, OPT_NAMES},
        {"id-offset", required_argument, NULL, OPT_ID_OFFSET},
        {"renumber", no_argument, NULL, OPT_RENUMBER},
        {"info", no_argument, NULL, OPT_INFO},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(o, 0, sizeof *o);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":t:f:c:q", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!strcmp(optarg, "stream")) o->to = OUT_STREAM;
            else if (!strcmp(optarg, "tsv")) o->to = OUT_TSV;
            else if (!strcmp(optarg, "jsonl")) o->to = OUT_JSONL;
            else if (!strcmp(optarg, "npy")) o->to = OUT_NPY;
            else if (!strcmp(optarg, "lines")) o->to = OUT_LINES;
            else ctk_usage("unknown output format '%s' (stream, tsv, jsonl, npy or lines)", optarg);
            break;
        case 'f':
            if (ctk_text_format_parse(optarg, &o->text.format) < 0)
                ctk_usage("unknown input format '%s' (tsv, jsonl, npy or lines)", optarg);
            break;
        case 'c':
            if (!*optarg) ctk_usage("-c needs a list of column names");
            o->columns = optarg;
            break;
        case OPT_HEADER: o->header = 1; break;
        case OPT_NAMES:
            check_names(optarg);
            o->text.names = optarg;
            break;
        case OPT_ID_OFFSET: {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (!*optarg || *end || v < 0 || v > (1LL << 53))
                ctk_usage("--id-offset '%s' is not a whole number from 0 to 2^53", optarg);
            o->text.id_offset = v;
            break;
        }
        case OPT_RENUMBER: o->renumber = 1; break;
        case OPT_INFO: o->info = 1; break;
        case 'q': ctk_set_quiet(1); break;
        case OPT_HELP: usage(); break;
        case OPT_VERSION: ctk_version(); break;
        case ':': ctk_usage("option '%s' needs an argument", argv[optind - 1]);
        default:
            if (optopt) ctk_usage("unrecognized option '-%c'", optopt);
            ctk_usage("unrecognized option '%s'", argv[optind - 1]);
        }
    }
    if (o->header && o->text.names) ctk_usage("--header and --names both name the columns; give one");
    if (o->info && (o->to || o->columns || o->renumber))
        ctk_usage("--info describes the input; it takes no -t, -c or --renumber");
    if (o->text.format == CTK_TEXT_NPY && o->text.names) {
        if (strchr(o->text.names, ',')) ctk_usage("--names: .npy input has one column to name");
        o->text.npy_col = o->text.names;
        o->text.names = NULL;
    }
    if (o->text.format == CTK_TEXT_LINES && (o->text.names || (o->header && o->to != OUT_TSV)))
        ctk_usage("-f lines reads each whole line as one text: --header and --names are for TSV");
    if (o->text.format == CTK_TEXT_JSONL && o->text.names)
        ctk_usage("--names is for TSV and .npy input (JSON Lines names its columns)");
    if (o->text.format != CTK_TEXT_TSV && o->header && o->to != OUT_TSV)
        ctk_usage("--header is for TSV");
    o->text.header = o->header;
    o->files = (const char *const *)argv + optind;
    o->nfiles = argc - optind;
}

/* Columns to write: from -c, else all (text outputs leave out an I64 id). */
static int select_columns(const struct opts *o, const struct ctk_stream_meta *m, int text_out,
                          int *sel)
{
    int n = 0;
    if (!o->columns) {
        for (int i = 0; i < m->ncols; i++) {
            const struct ctk_col_spec *c = &m->cols[i];
            if (text_out && !strcmp(c->name, "id") && c->dtype == CTK_I64) continue;
            sel[n++] = i;
        }
        return n;
    }
    char *list = xstrdup(o->columns), *save = NULL;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        int i = ctk_meta_find(m, name);
        if (i < 0) {
            char have[1024] = "";
            for (int k = 0; k < m->ncols; k++) {
                if (k) strncat(have, ", ", sizeof have - strlen(have) - 1);
                strncat(have, m->cols[k].name, sizeof have - strlen(have) - 1);
            }
            ctk_usage("-c: the input has no column '%s' (it has: %s)", name, have);
        }
        for (int k = 0; k < n; k++)
            if (sel[k] == i) ctk_usage("-c: column '%s' is named twice", name);
        sel[n++] = i;
    }
    free(list);
    if (n == 0) ctk_usage("-c needs a list of column names");
    return n;
}

static const char *kind_name(enum ctk_col_kind k)
{
    return k == CTK_COL_DENSE ? "dense" : k == CTK_COL_RAGGED ? "ragged" : "string";
}

/* --info: read everything (checking it) and describe it. */
static void info(struct ctk_stream *in, const struct opts *o)
{
    struct ctk_chunk ck = {0};
    struct ctk_err e;
    int rc;
    int is_stream = ctk_input_is_stream(in);
    while ((rc = ctk_chunk_read(in, &ck, &e)) == 1)
        ctk_progress("%lld rows", (long long)in->rows_total);
    if (rc < 0) ctk_die_err(&e);
    ctk_progress_done();
    const struct ctk_stream_meta *m = &in->meta;
    static const char *fmt_names[] = {"TSV text", "JSON Lines", ".npy array", "lines of text"};
    printf("input: %s (%s)\n", o->nfiles > 1 ? "several files" : o->nfiles ? o->files[0] : "stdin",
           is_stream ? "ctk stream" : fmt_names[o->text.format]);
    printf("rows: %lld\n", (long long)in->rows_total);
    if (is_stream) printf("chunks: %lld\n", (long long)in->chunk_index + 1);
    printf("columns: %d\n", m->ncols);
    for (int i = 0; i < m->ncols; i++) {
        const struct ctk_col_spec *c = &m->cols[i];
        printf("  %-16s %-6s %s", c->name, kind_name(c->kind), ctk_dtype_name(c->dtype));
        if (c->kind == CTK_COL_DENSE && c->width) printf(" [%lld]", (long long)c->width);
        putchar('\n');
    }
    printf("model: %s\n", m->model ? m->model : "(none)");
    printf("dim: %lld\n", (long long)m->dim);
    printf("normalized: %s\n", m->normalized < 0 ? "unknown" : m->normalized ? "yes" : "no");
    printf("labels: %d\n", m->nlabels);
    for (int i = 0; i < m->nlabels; i++) printf("  %d %s\n", i, m->labels[i]);
    printf("history: %d\n", m->nhistory);
    for (int i = 0; i < m->nhistory; i++) printf("  %d %s\n", i + 1, m->history[i]);
    if (m->nextra) {
        printf("metadata: %d\n", m->nextra);
        for (int i = 0; i < m->nextra; i++) printf("  %s: %s\n", m->extra_keys[i], m->extra_vals[i]);
    }
    ctk_chunk_free(&ck);
}

/* --renumber: ids OFFSET+1.. over the whole output. */
static void renumber(struct ctk_chunk *ck, int idcol, int64_t *next)
{
    int64_t *id = ck->cols[idcol].data;
    for (int64_t r = 0; r < ck->rows; r++) id[r] = ++*next;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ctk_stream in, out;
    struct ctk_text_writer tw;
    struct ctk_chunk ck = {0}, view = {0};
    struct ctk_err e;
    int sel[CTK_MAX_COLS];

    ctk_init("ctk-cat", argc, argv);
    parse_options(argc, argv, &o);
    if (ctk_input_open(&in, o.files, o.nfiles, &o.text, &e) < 0) ctk_die_err(&e);
    if (o.info) {
        info(&in, &o);
        ctk_stream_close(&in, &e);
        return 0;
    }
    enum out_format to = o.to ? o.to : ctk_input_is_stream(&in) ? OUT_TSV : OUT_STREAM;
    int nsel = select_columns(&o, &in.meta, to != OUT_STREAM, sel);
    int idcol = -1;
    if (o.renumber) {
        idcol = ctk_meta_find(&in.meta, "id");
        if (idcol < 0 || in.meta.cols[idcol].kind != CTK_COL_DENSE || in.meta.cols[idcol].dtype != CTK_I64 ||
            in.meta.cols[idcol].width != 0)
            ctk_usage("--renumber needs an I64 'id' column, and the input has none");
    }
    if (to == OUT_LINES && (nsel != 1 || in.meta.cols[sel[0]].kind != CTK_COL_STRING))
        ctk_usage("-t lines writes one string column: name it with -c (e.g. -c text)");
    if (to == OUT_NPY) {
        if (nsel != 1 || in.meta.cols[sel[0]].kind != CTK_COL_DENSE) {
            int dense = -1, ndense = 0;
            for (int i = 0; i < in.meta.ncols; i++)
                if (in.meta.cols[i].kind == CTK_COL_DENSE && strcmp(in.meta.cols[i].name, "id")) {
                    dense = i;
                    ndense++;
                }
            if (o.columns || ndense != 1)
                ctk_usage("-t npy writes one dense column: name it with -c (e.g. -c emb)");
            sel[0] = dense;
            nsel = 1;
        }
    }
    if (to == OUT_STREAM || to == OUT_NPY) ctk_check_binary_stdout();

    if (to == OUT_STREAM) {
        struct ctk_stream_meta m;
        ctk_meta_copy(&m, &in.meta);
        m.ncols = nsel;
        for (int j = 0; j < nsel; j++) m.cols[j] = in.meta.cols[sel[j]];
        ctk_meta_add_history(&m, ctk_cmdline());
        if (ctk_stream_open_write(&out, stdout, "stdout", &m, &e) < 0) ctk_die_err(&e);
        ctk_meta_free(&m);
    } else {
        enum ctk_text_format f = to == OUT_TSV     ? CTK_TEXT_TSV
                                 : to == OUT_JSONL ? CTK_TEXT_JSONL
                                 : to == OUT_LINES ? CTK_TEXT_LINES
                                                   : CTK_TEXT_NPY;
        if (ctk_text_write_begin(&tw, stdout, "stdout", f, &in.meta, sel, nsel, o.header, &e) < 0)
            ctk_die_err(&e);
    }

    int64_t next_id = o.text.id_offset;
    int rc;
    while ((rc = ctk_chunk_read(&in, &ck, &e)) == 1) {
        if (idcol >= 0) renumber(&ck, idcol, &next_id);
        if (to == OUT_STREAM) {
            view.rows = ck.rows;
            view.ncols = nsel;
            for (int j = 0; j < nsel; j++) view.cols[j] = ck.cols[sel[j]];
            if (ctk_chunk_write(&out, &view, &e) < 0) ctk_die_err(&e);
        } else if (ctk_text_write_chunk(&tw, &ck, &e) < 0) {
            ctk_die_err(&e);
        }
        ctk_progress("%lld rows", (long long)in.rows_total);
    }
    if (rc < 0) ctk_die_err(&e);
    ctk_progress_done();
    if (to == OUT_STREAM) {
        if (ctk_stream_close(&out, &e) < 0) ctk_die_err(&e);
    } else if (ctk_text_write_end(&tw, &e) < 0) {
        ctk_die_err(&e);
    }
    ctk_stream_close(&in, &e);
    ctk_chunk_free(&ck);
    return 0;
}
