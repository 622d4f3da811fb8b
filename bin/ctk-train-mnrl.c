/*
 * ctk-train-mnrl -- contrastive fine-tuning of a sentence encoder from a
 * token stream of pairs or triplets (MNRL/InfoNCE, SimCSE, cosine,
 * contrastive, online contrastive, triplet losses), writing the fine-tuned
 * model folder. The work is in lib/train.c; this is option parsing and I/O.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas.h"
#include "encoder.h"
#include "err.h"
#include "opts.h"
#include "fsutil.h"
#include "stream.h"
#include "train.h"

struct opts {
    const char *input;     /* "-" for stdin */
    const char *model;     /* -m, or NULL: the built-in encoder */
    const char *out;       /* -o */
    char *checkpoint_dir;  /* owned */
    struct ctk_train_opts t;
    int threads;
};

static void usage(void)
{
    printf("Usage: ctk-train-mnrl [OPTION]... -o OUTDIR [TOKENS]\n"
           "Fine-tune a sentence encoder with a contrastive loss on a token stream of pairs\n"
           "or triplets (ctk-tok output; stdin when TOKENS is absent or -), and write the\n"
           "fine-tuned model folder OUTDIR.\n"
           "\n"
           "Model and output:\n"
           "  -m, --model DIR          model folder to start from (default: the built-in\n"
           "                           n-gram encoder)\n"
           "  -o, --output OUTDIR      write the fine-tuned model folder here (required)\n"
           "\n"
           "Loss:\n"
           "      --loss NAME          mnrl (default), simcse, cosine, contrastive,\n"
           "                           online-contrastive, triplet\n"
           "      --scale X            mnrl/simcse similarity scale, 1/temperature (20)\n"
           "      --margin X           contrastive losses (0.5), triplet (5)\n"
           "      --distance D         cosine or euclidean (contrastive: cosine,\n"
           "                           triplet: euclidean)\n"
           "      --symmetric          mnrl/simcse: add the positive->anchor direction\n"
           "      --projection-head    train through a tanh MLP head, dropped when saving\n"
           "\n"
           "Optimisation:\n"
           "      --batch-size N       rows per batch (32)\n"
           "      --epochs N           passes over the data (1)\n"
           "      --steps N            train exactly N steps instead (epochs repeat)\n"
           "      --lr X               peak learning rate of AdamW (2e-5)\n"
           "      --warmup-ratio X     share of the steps of linear warm-up (0.1)\n"
           "      --warmup-steps N     warm-up steps (overrides --warmup-ratio)\n"
           "      --weight-decay X     AdamW decoupled weight decay, not on biases and\n"
           "                           LayerNorm (0.01)\n"
           "      --max-grad-norm X    clip gradients to this global norm, 0: off (1.0)\n"
           "      --seed N             shuffling, dropout and head initialisation (42)\n"
           "      --cache-batch M      GradCache: encode M sequences at a time; the loss\n"
           "                           still sees the whole batch\n"
           "\n"
           "Checkpoints and log:\n"
           "      --checkpoint-every N write a checkpoint every N steps\n"
           "      --checkpoint-dir D   where checkpoints go (default OUTDIR.ckpt)\n"
           "      --resume             continue from the latest checkpoint in D, if any\n"
           "      --log FILE           write a TSV log: step, epoch, loss, lr, grad_norm,\n"
           "                           examples_per_s\n"
           "  -j, --threads N          compute threads (default: CTK_THREADS or all)\n"
           "  -q, --quiet              no progress bar or warnings\n"
           "      --help               show this help and exit\n"
           "      --version            show the version and exit\n"
           "\n"
           "Exit status: 0 success, 1 runtime or data error, 2 usage error.\n"
           "See ctk-train-mnrl(1).\n");
    exit(0);
}

enum {
    OPT_LOSS = 256, OPT_SCALE, OPT_MARGIN, OPT_DISTANCE, OPT_SYMMETRIC, OPT_HEAD,
    OPT_BATCH, OPT_EPOCHS, OPT_STEPS, OPT_LR, OPT_WARMUP_RATIO, OPT_WARMUP_STEPS, OPT_WD,
    OPT_CLIP, OPT_SEED, OPT_CACHE, OPT_CKPT_EVERY, OPT_CKPT_DIR, OPT_RESUME, OPT_LOG,
    OPT_HELP, OPT_VERSION,
};

static void parse_options(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"output", required_argument, 0, 'o'},
        {"loss", required_argument, 0, OPT_LOSS},
        {"scale", required_argument, 0, OPT_SCALE},
        {"margin", required_argument, 0, OPT_MARGIN},
        {"distance", required_argument, 0, OPT_DISTANCE},
        {"symmetric", no_argument, 0, OPT_SYMMETRIC},
        {"projection-head", no_argument, 0, OPT_HEAD},
        {"batch-size", required_argument, 0, OPT_BATCH},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"steps", required_argument, 0, OPT_STEPS},
        {"lr", required_argument, 0, OPT_LR},
        {"warmup-ratio", required_argument, 0, OPT_WARMUP_RATIO},
        {"warmup-steps", required_argument, 0, OPT_WARMUP_STEPS},
        {"weight-decay", required_argument, 0, OPT_WD},
        {"max-grad-norm", required_argument, 0, OPT_CLIP},
        {"seed", required_argument, 0, OPT_SEED},
        {"cache-batch", required_argument, 0, OPT_CACHE},
        {"checkpoint-every", required_argument, 0, OPT_CKPT_EVERY},
        {"checkpoint-dir", required_argument, 0, OPT_CKPT_DIR},
        {"resume", no_argument, 0, OPT_RESUME},
        {"log", required_argument, 0, OPT_LOG},
        {"threads", required_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, OPT_HELP},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0},
    };
    /* the loss first: its defaults (margin, distance) come before the user's values */
    enum ctk_loss_kind kind = CTK_LOSS_MNRL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--loss") == 0 && i + 1 < argc)
            v = argv[i + 1];
        else if (strncmp(argv[i], "--loss=", 7) == 0)
            v = argv[i] + 7;
        if (v && ctk_loss_parse(v, &kind) < 0)
            ctk_usage("--loss: unknown loss '%s' (mnrl, simcse, cosine, contrastive, "
                      "online-contrastive, triplet)", v);
    }
    memset(o, 0, sizeof *o);
    ctk_train_opts_default(&o->t, kind);
    int c, margin_set = 0, scale_set = 0, sym_set = 0;
    double warm_ratio = -1;
    while ((c = getopt_long(argc, argv, "m:o:j:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'o': o->out = optarg; break;
        case OPT_LOSS: break; /* done above */
        case OPT_SCALE: o->t.loss.scale = ctk_opt_double("--scale", optarg, 1e-6, 1e6); scale_set = 1; break;
        case OPT_MARGIN: o->t.loss.margin = ctk_opt_double("--margin", optarg, 0, 1e6); margin_set = 1; break;
        case OPT_DISTANCE:
            if (!strcmp(optarg, "cosine"))
                o->t.loss.distance = CTK_DIST_COSINE;
            else if (!strcmp(optarg, "euclidean"))
                o->t.loss.distance = CTK_DIST_EUCLIDEAN;
            else
                ctk_usage("--distance: '%s' is not cosine or euclidean", optarg);
            break;
        case OPT_SYMMETRIC: o->t.loss.symmetric = 1; sym_set = 1; break;
        case OPT_HEAD: o->t.projection_head = 1; break;
        case OPT_BATCH: o->t.batch_size = ctk_opt_int64("--batch-size", optarg, 1, INT64_MAX); break;
        case OPT_EPOCHS: o->t.epochs = ctk_opt_int64("--epochs", optarg, 1, INT64_MAX); break;
        case OPT_STEPS: o->t.max_steps = ctk_opt_int64("--steps", optarg, 1, INT64_MAX); break;
        case OPT_LR: o->t.adamw.lr = ctk_opt_double("--lr", optarg, 0, 10); break;
        case OPT_WARMUP_RATIO: warm_ratio = ctk_opt_double("--warmup-ratio", optarg, 0, 1); break;
        case OPT_WARMUP_STEPS: o->t.warmup_steps = ctk_opt_int64("--warmup-steps", optarg, 0, INT64_MAX); break;
        case OPT_WD: o->t.adamw.weight_decay = ctk_opt_double("--weight-decay", optarg, 0, 1e3); break;
        case OPT_CLIP: o->t.adamw.max_grad_norm = ctk_opt_double("--max-grad-norm", optarg, 0, 1e12); break;
        case OPT_SEED: o->t.seed = (uint64_t)ctk_opt_int64("--seed", optarg, 0, INT64_MAX); break;
        case OPT_CACHE: o->t.cache_batch = ctk_opt_int64("--cache-batch", optarg, 1, INT64_MAX); break;
        case OPT_CKPT_EVERY: o->t.checkpoint_every = ctk_opt_int64("--checkpoint-every", optarg, 1, INT64_MAX); break;
        case OPT_CKPT_DIR: o->checkpoint_dir = xstrdup(optarg); break;
        case OPT_RESUME: o->t.resume = 1; break;
        case OPT_LOG: o->t.log_path = optarg; break;
        case 'j': o->threads = (int)ctk_opt_int64("--threads", optarg, 1, 1000000000); break;
        case 'q': ctk_set_quiet(1); break;
        case OPT_HELP: usage(); break;
        case OPT_VERSION: ctk_version(); break;
        default: ctk_usage("unknown option");
        }
    }
    if (optind + 1 < argc)
        ctk_usage("one input at most; got '%s' and '%s'", argv[optind], argv[optind + 1]);
    o->input = optind < argc ? argv[optind] : "-";
    if (!o->out)
        ctk_usage("-o OUTDIR is required (the folder the fine-tuned model is written to)");
    if (warm_ratio >= 0)
        o->t.warmup_ratio = warm_ratio;
    if (scale_set && kind != CTK_LOSS_MNRL && kind != CTK_LOSS_SIMCSE)
        ctk_usage("--scale applies to --loss mnrl and simcse, not %s", ctk_loss_name(kind));
    if (sym_set && kind != CTK_LOSS_MNRL && kind != CTK_LOSS_SIMCSE)
        ctk_usage("--symmetric applies to --loss mnrl and simcse, not %s", ctk_loss_name(kind));
    if (margin_set && (kind == CTK_LOSS_MNRL || kind == CTK_LOSS_SIMCSE || kind == CTK_LOSS_COSINE))
        ctk_usage("--margin applies to the contrastive and triplet losses, not %s",
                  ctk_loss_name(kind));
    if (!o->checkpoint_dir) {
        size_t n = strlen(o->out);
        while (n > 1 && o->out[n - 1] == '/')
            n--;
        o->checkpoint_dir = xmalloc(n + 6);
        snprintf(o->checkpoint_dir, n + 6, "%.*s.ckpt", (int)n, o->out);
    }
    o->t.checkpoint_dir = o->checkpoint_dir;
    o->threads = ctk_threads(o->threads);
    o->t.adamw.threads = o->threads;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/*
 * Save the model to out atomically: into a temporary folder beside it,
 * then renamed into place (an existing folder is moved aside first and
 * removed once the new one is in place).
 */
static void save_model(struct ctk_encoder *enc, const char *out)
{
    struct ctk_err e = {{0}};
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        n--;
    char *dest = xmalloc(n + 1);
    memcpy(dest, out, n);
    dest[n] = 0;
    char *tmp = xmalloc(n + 16), *old = xmalloc(n + 16);
    snprintf(tmp, n + 16, "%s.tmp-XXXXXX", dest);
    snprintf(old, n + 16, "%s.old-XXXXXX", dest);
    if (!mkdtemp(tmp))
        ctk_die("%s: cannot create a folder beside it: %s", dest, strerror(errno));
    mode_t mask = umask(0);
    umask(mask);
    chmod(tmp, 0777 & ~mask); /* mkdtemp made it 0700 */
    if (enc->ops->save(enc, tmp, &e) < 0) {
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        ctk_die_err(&e);
    }
    struct stat st;
    int had = stat(dest, &st) == 0;
    if (had) {
        if (!S_ISDIR(st.st_mode)) {
            nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
            ctk_die("%s exists and is not a folder; choose another -o", dest);
        }
        if (!mkdtemp(old) || rmdir(old) < 0 || rename(dest, old) < 0)
            ctk_die("%s: cannot move the old folder aside: %s", dest, strerror(errno));
    }
    if (rename(tmp, dest) < 0)
        ctk_die("%s: cannot rename %s into place: %s", dest, tmp, strerror(errno));
    if (had)
        nftw(old, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dest);
    free(tmp);
    free(old);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ctk_stream in;
    struct ctk_train_data data;
    struct ctk_err e = {{0}};

    ctk_init("ctk-train-mnrl", argc, argv);
    ctk_blas_init(argc, argv); /* may re-execute with faster OpenBLAS kernels */
    parse_options(argc, argv, &o);

    if (ctk_stream_open_read(&in, o.input, &e) < 0)
        ctk_die_err(&e);
    if (ctk_train_data_read(&data, &in, o.t.loss.kind, &e) < 0)
        ctk_die_err(&e);
    if (ctk_stream_close(&in, &e) < 0)
        ctk_die_err(&e);

    /* resuming: the encoder comes from the latest checkpoint's model folder */
    const char *model = o.model;
    char *latest = NULL;
    if (o.t.resume) {
        latest = ctk_train_latest(o.checkpoint_dir);
        if (latest)
            model = latest;
        else {
            ctk_warn("no checkpoint in %s; starting from the beginning", o.checkpoint_dir);
            o.t.resume = 0;
        }
    }
    struct ctk_encoder *enc = ctk_encoder_open(model, o.threads, &e);
    if (!enc)
        ctk_die_err(&e);
    int64_t seqs = o.t.batch_size * (o.t.loss.kind == CTK_LOSS_SIMCSE ? 2 : data.K);
    if (o.t.cache_batch > 0 && o.t.cache_batch >= seqs)
        ctk_warn("--cache-batch %lld holds a whole batch (%lld sequences); GradCache does "
                 "nothing", (long long)o.t.cache_batch, (long long)seqs);

    if (ctk_train_run(enc, &data, &o.t, &e) < 0)
        ctk_die_err(&e);
    save_model(enc, o.out);
    if (o.t.resume)
        ctk_train_prune(o.checkpoint_dir);

    ctk_encoder_free(enc);
    ctk_train_data_free(&data);
    free(latest);
    free(o.checkpoint_dir);
    return 0;
}
