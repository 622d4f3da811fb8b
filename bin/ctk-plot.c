/*
 * ctk-plot -- scatter plot of a 2-D stream (ctk-umap output), coloured by
 * label or cluster, as PNG or SVG; --compare draws a second stream beside
 * the first (the space before and after fine-tuning).
 */
#include "config.h"
#include "err.h"
#include "opts.h"
#include "fsutil.h"
#include "plot.h"
#include "stream.h"
#include "table.h"
#include "textio.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum img_format { IMG_AUTO, IMG_PNG, IMG_SVG };

struct opts {
    const char *output;  /* -o FILE, or NULL: stdout */
    enum img_format format;
    const char *column;  /* coordinates */
    const char *color_by; /* label, cluster, none; NULL: label when present, else cluster, else none */
    const char *title;
    const char *titles[2];
    int width, height;
    double point_size;
    const char *compare;
    const char *input;
};

static void usage(void)
{
    printf("Usage: ctk-plot [OPTION]... [FILE]\n"
           "Draw the 2-D points of a stream (ctk-umap output) as a PNG or SVG scatter plot.\n"
           "With no FILE, or when FILE is -, read standard input.\n"
           "\n"
           "  -o, --output=FILE        write the image to FILE (default: standard output)\n"
           "  -f, --format=FORMAT      png or svg (default: from -o's extension, else png)\n"
           "  -c, --column=NAME        the coordinates (default: coords)\n"
           "      --color-by=COLUMN    colour by this column: a label column (strings) or class\n"
           "                           ids (I32/I64, -1 noise), or none (default: label when\n"
           "                           the input has one, else cluster, else none)\n"
           "  -t, --title=TEXT         title of the figure\n"
           "      --panel-titles=A,B   titles of the panels (default with --compare: the file names)\n"
           "      --compare=FILE       draw FILE's points in a second panel, beside the first\n"
           "  -W, --width=PIXELS       figure width (default 800, 1400 with --compare)\n"
           "  -H, --height=PIXELS      figure height (default 640)\n"
           "      --point-size=R       point radius in pixels (default: from the number of points)\n"
           "  -q, --quiet              no progress messages\n"
           "      --help               show this help and exit\n"
           "      --version            show the version and exit\n"
           "\n"
           "Exit status: 0 success, 1 failure, 2 usage. See ctk-plot(1).\n");
    exit(CTK_EXIT_OK);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
    enum { O_COLOR = 256, O_PANEL_TITLES, O_COMPARE, O_POINT, O_HELP, O_VERSION };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"column", required_argument, NULL, 'c'},
        {"color-by", required_argument, NULL, O_COLOR},
        {"title", required_argument, NULL, 't'},
        {"panel-titles", required_argument, NULL, O_PANEL_TITLES},
        {"compare", required_argument, NULL, O_COMPARE},
        {"width", required_argument, NULL, 'W'},
        {"height", required_argument, NULL, 'H'},
        {"point-size", required_argument, NULL, O_POINT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->column = "coords";
    int c;
    static char titles_buf[1024];
    while ((c = getopt_long(argc, argv, "o:f:c:t:W:H:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->output = optarg; break;
        case 'f':
            if (!strcmp(optarg, "png"))
                o->format = IMG_PNG;
            else if (!strcmp(optarg, "svg"))
                o->format = IMG_SVG;
            else
                ctk_usage("--format=%s: expected png or svg", optarg);
            break;
        case 'c': o->column = optarg; break;
        case O_COLOR: o->color_by = optarg; break;
        case 't': o->title = optarg; break;
        case O_PANEL_TITLES: {
            if (strlen(optarg) >= sizeof titles_buf) ctk_usage("--panel-titles is too long");
            strcpy(titles_buf, optarg);
            char *comma = strchr(titles_buf, ',');
            o->titles[0] = titles_buf;
            if (comma) *comma = '\0', o->titles[1] = comma + 1;
            break;
        }
        case O_COMPARE: o->compare = optarg; break;
        case 'W': o->width = (int)ctk_opt_int64("--width", optarg, 64, 16384); break;
        case 'H': o->height = (int)ctk_opt_int64("--height", optarg, 64, 16384); break;
        case O_POINT: {
            char *end;
            o->point_size = strtod(optarg, &end);
            if (end == optarg || *end || !(o->point_size > 0 && o->point_size <= 100))
                ctk_usage("--point-size=%s: expected a radius from 0 to 100 pixels", optarg);
            break;
        }
        case 'q': ctk_set_quiet(1); break;
        case O_HELP: usage(); break;
        case O_VERSION: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (optind + 1 < argc) ctk_usage("too many inputs: ctk-plot draws one stream (and --compare a second)");
    o->input = optind < argc ? argv[optind] : NULL;
    if (o->format == IMG_AUTO) {
        size_t n = o->output ? strlen(o->output) : 0;
        o->format = n > 4 && !strcmp(o->output + n - 4, ".svg") ? IMG_SVG : IMG_PNG;
    }
    if (!o->width) o->width = o->compare ? 1400 : 800;
    if (!o->height) o->height = 640;
}

/* One panel's data: the whole stream read, its points and their classes. */
struct panel_data {
    struct ctk_stream s;
    struct ctk_chunk all;
    float *xy;
    int32_t *cls;
    char **names;
    int nnames;
};

static void load_panel(const char *path, const struct opts *o, struct panel_data *p)
{
    struct ctk_err e;
    memset(p, 0, sizeof *p);
    if (ctk_input_open1(&p->s, path, NULL, &e) < 0) ctk_die_err(&e);
    int col = ctk_meta_find_vectors(&p->s.meta, o->column, &e);
    if (col < 0) ctk_die("%s (use -c to name the coordinates)", e.msg);
    if (p->s.meta.cols[col].width != 2)
        ctk_die("%s: column '%s' has %lld dimensions; a plot needs 2 (ctk-umap -d 2)", path ? path : "stdin",
                o->column, (long long)p->s.meta.cols[col].width);
    if (ctk_stream_read_all(&p->s, &p->all, &e) < 0) ctk_die_err(&e);
    p->xy = p->all.cols[col].data;
}

static void panel_classes(struct panel_data *p, const char *color_by)
{
    struct ctk_err e;
    p->cls = xmallocarray((size_t)p->all.rows + 1, sizeof *p->cls);
    p->nnames = ctk_rows_classes(&p->all, &p->s.meta, color_by, p->cls, &p->names, &e);
    if (p->nnames < 0) ctk_die_err(&e);
}

/* The column to colour by: the user's, else label, else cluster, else none. */
static const char *choose_color(const struct opts *o, const struct ctk_stream_meta *m)
{
    if (o->color_by) return strcmp(o->color_by, "none") ? o->color_by : NULL;
    if (ctk_meta_find(m, "label") >= 0) return "label";
    if (ctk_meta_find(m, "cluster") >= 0) return "cluster";
    return NULL;
}

/* Remap panel b's class indices onto a's names, adding the names a lacks. */
static void merge_classes(struct panel_data *a, struct panel_data *b)
{
    int *to = xmallocarray((size_t)b->nnames + 1, sizeof *to);
    for (int k = 0; k < b->nnames; k++) {
        int j;
        for (j = 0; j < a->nnames; j++)
            if (!strcmp(a->names[j], b->names[k])) break;
        if (j == a->nnames) {
            a->names = xreallocarray(a->names, (size_t)a->nnames + 1, sizeof *a->names);
            a->names[a->nnames++] = xstrdup(b->names[k]);
        }
        to[k] = j;
    }
    for (int64_t r = 0; r < b->all.rows; r++)
        if (b->cls[r] >= 0) b->cls[r] = to[b->cls[r]];
    free(to);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ctk_err e;
    struct panel_data pd[2];

    ctk_init("ctk-plot", argc, argv);
    parse_options(argc, argv, &o);
    if (!o.output) ctk_check_binary_stdout();

    load_panel(o.input, &o, &pd[0]);
    const char *color = choose_color(&o, &pd[0].s.meta);
    if (color) panel_classes(&pd[0], color);
    int np = 1;
    if (o.compare) {
        load_panel(o.compare, &o, &pd[1]);
        if (color) {
            panel_classes(&pd[1], color);
            merge_classes(&pd[0], &pd[1]);
        }
        np = 2;
    }

    struct ctk_plot p = {.width = o.width, .height = o.height, .title = o.title, .npanels = np,
                         .point_radius = o.point_size};
    p.nclasses = color ? pd[0].nnames : 0;
    p.class_names = color ? (const char *const *)pd[0].names : NULL;
    for (int i = 0; i < np; i++) {
        const char *t = o.titles[i];
        if (!t && np == 2) t = i == 0 ? (o.input ? o.input : "stdin") : o.compare;
        p.panels[i] = (struct ctk_plot_panel){pd[i].xy, pd[i].cls, pd[i].all.rows, t};
    }

    struct ctk_atomic a = {0};
    FILE *f = stdout;
    if (o.output) {
        if (ctk_atomic_open(&a, o.output, &e) < 0) ctk_die_err(&e);
        f = a.f;
    }
    int rc = o.format == IMG_SVG ? ctk_plot_write_svg(&p, f, &e) : ctk_plot_write_png(&p, f, &e);
    if (rc < 0) {
        if (o.output) ctk_atomic_abort(&a);
        ctk_die_err(&e);
    }
    if (o.output && ctk_atomic_commit(&a, &e) < 0) ctk_die_err(&e);
    for (int i = 0; i < np; i++) {
        ctk_stream_close(&pd[i].s, &e);
        ctk_chunk_free(&pd[i].all);
        for (int k = 0; k < pd[i].nnames; k++) free(pd[i].names[k]);
        free(pd[i].names);
        free(pd[i].cls);
    }
    return CTK_EXIT_OK;
}
