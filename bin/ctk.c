/*
 * ctk -- run a ctk program: "ctk CMD ARGS" runs "ctk-CMD ARGS" (git's
 * convention). ctk-CMD is looked for first beside this program, then in the
 * folder named by CTK_LIBEXECDIR, then on PATH.
 */
#include "config.h"
#include "err.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *commands[][2] = {
    {"cat", "convert and show streams (TSV, JSON Lines, .npy)"},
    {"tok", "text to token ids"},
    {"encode", "token ids to sentence embeddings"},
    {"mkpairs", "labeled text to training pairs"},
    {"mine-negatives", "add hard negatives to pairs"},
    {"train-mnrl", "fine-tune an encoder contrastively"},
    {"fit-head", "fit a logistic-regression head on embeddings"},
    {"predict", "label embeddings with a head"},
    {"diag", "diagnose an embedding space"},
    {"umap", "reduce embeddings with UMAP or t-SNE"},
    {"cluster", "cluster embeddings with HDBSCAN"},
    {"plot", "scatter plot of a 2-D stream"},
    {"init-model", "write a randomly initialised model folder"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: ctk COMMAND [ARGS...]\n"
               "       ctk --help | --version\n\n"
               "Runs ctk-COMMAND with ARGS. Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-16s %s\n", commands[i][0], commands[i][1]);
    fprintf(f, "\n'ctk COMMAND --help' describes a command; man ctk(7) the whole toolkit.\n");
}

/* Try DIR/ctk-CMD; returns only if it could not be run. */
static void try_exec(const char *dir, const char *cmd, char **argv)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/ctk-%s", dir, cmd) >= (int)sizeof path) return;
    if (access(path, X_OK) == 0) {
        execv(path, argv);
        ctk_die("cannot run %s: %s", path, strerror(errno));
    }
}

int main(int argc, char **argv)
{
    ctk_init("ctk", argc, argv);
    if (argc < 2) {
        usage(stderr);
        return CTK_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CTK_EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) ctk_version();
    if (cmd[0] == '-' || strchr(cmd, '/')) ctk_usage("'%s' is not a command", cmd);

    char prog[256];
    if (snprintf(prog, sizeof prog, "ctk-%s", cmd) >= (int)sizeof prog)
        ctk_usage("'%s' is not a command", cmd);
    argv[1] = prog;

    /* beside this program */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            try_exec(self, cmd, argv + 1);
        }
    }
    const char *dir = getenv("CTK_LIBEXECDIR");
    if (dir && *dir) try_exec(dir, cmd, argv + 1);
    execvp(prog, argv + 1);
    if (errno == ENOENT)
        ctk_usage("'%s' is not a ctk command (no %s found); 'ctk --help' lists them", cmd, prog);
    ctk_die("cannot run %s: %s", prog, strerror(errno));
}
