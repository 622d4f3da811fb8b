/*
 * err.c -- messages, exit codes and checked allocation (see err.h).
 * After Netpbm's pm_error/pm_message and datamash's close_stdout.
 */
#include "config.h"
#include "err.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char *progname = "ctk";
static char *cmdline;
static int quiet;
static int progress_open;

int ctk_err_set(struct ctk_err *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* datamash's close_stdout: a failed write to stdout is a failure. */
static void close_stdout(void)
{
    int bad = ferror(stdout);
    if (fclose(stdout) != 0 && errno != EBADF)
        bad = 1;
    if (bad) {
        if (errno == EPIPE)
            _exit(CTK_EXIT_FAILURE);
        fprintf(stderr, "%s: write error on standard output: %s\n", progname,
                strerror(errno ? errno : EIO));
        _exit(CTK_EXIT_FAILURE);
    }
}

/* Quote one argument for a POSIX shell when it needs it. */
static size_t quote_arg(char *dst, const char *s)
{
    size_t n = 0;
    int plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+@%", *p))
            plain = 0;
    if (plain) {
        if (dst) memcpy(dst, s, strlen(s));
        return strlen(s);
    }
    if (dst) dst[n] = '\'';
    n++;
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            if (dst) memcpy(dst + n, "'\\''", 4);
            n += 4;
        } else {
            if (dst) dst[n] = *p;
            n++;
        }
    }
    if (dst) dst[n] = '\'';
    return n + 1;
}

void ctk_init(const char *name, int argc, char **argv)
{
    size_t len = 1;
    progname = name;
    signal(SIGPIPE, SIG_DFL);
    atexit(close_stdout);
    for (int i = 0; i < argc; i++)
        len += quote_arg(NULL, i == 0 ? name : argv[i]) + 1;
    cmdline = xmalloc(len);
    size_t n = 0;
    for (int i = 0; i < argc; i++) {
        if (i) cmdline[n++] = ' ';
        n += quote_arg(cmdline + n, i == 0 ? name : argv[i]);
    }
    cmdline[n] = '\0';
}

const char *ctk_progname(void) { return progname; }
const char *ctk_cmdline(void) { return cmdline ? cmdline : progname; }

static void vmessage(const char *fmt, va_list ap)
{
    ctk_progress_done();
    fflush(stdout);
    fprintf(stderr, "%s: ", progname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void ctk_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    exit(CTK_EXIT_FAILURE);
}

void ctk_die_err(const struct ctk_err *e) { ctk_die("%s", e->msg); }

void ctk_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

void ctk_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", progname);
    exit(CTK_EXIT_USAGE);
}

void ctk_version(void)
{
    printf("%s (ctk) %s\n", progname, PACKAGE_VERSION);
    exit(CTK_EXIT_OK);
}

void ctk_set_quiet(int q) { quiet = q; }
int ctk_quiet(void) { return quiet; }

void ctk_progress(const char *fmt, ...)
{
    static int tty = -1;
    if (tty < 0) tty = isatty(STDERR_FILENO);
    if (!tty || quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\r%s: ", progname);
    vfprintf(stderr, fmt, ap);
    fputs("\033[K", stderr);
    va_end(ap);
    progress_open = 1;
}

void ctk_progress_done(void)
{
    if (progress_open) {
        fputc('\n', stderr);
        progress_open = 0;
    }
}

void ctk_check_binary_stdout(void)
{
    if (isatty(STDOUT_FILENO))
        ctk_usage("refusing to write a binary stream to a terminal; "
                  "redirect it to a file or pipe it into 'ctk-cat'");
}

int ctk_mul_overflow(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) ctk_die("out of memory (allocating %zu bytes)", n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ctk_die("out of memory (allocating %zu x %zu bytes)", n, size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) ctk_die("out of memory (allocating %zu bytes)", n);
    return p;
}

void *xmallocarray(size_t n, size_t size)
{
    size_t t;
    if (ctk_mul_overflow(n, size, &t)) ctk_die("allocation size overflow (%zu x %zu)", n, size);
    return xmalloc(t);
}

void *xreallocarray(void *p, size_t n, size_t size)
{
    size_t t;
    if (ctk_mul_overflow(n, size, &t)) ctk_die("allocation size overflow (%zu x %zu)", n, size);
    return xrealloc(p, t);
}

void *xbigalloc(size_t n, size_t size, int zero)
{
    size_t bytes, align = (size_t)2 << 20;
    void *p = NULL;
    if (ctk_mul_overflow(n ? n : 1, size ? size : 1, &bytes))
        ctk_die("allocation size overflow (%zu x %zu)", n, size);
    if (bytes < align) p = xmalloc(bytes);
    else {
        if (posix_memalign(&p, align, bytes) != 0)
            ctk_die("out of memory (allocating %zu bytes)", bytes);
#ifdef MADV_HUGEPAGE
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
    }
    if (zero) memset(p, 0, bytes);
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

int ctk_threads(int requested)
{
    if (requested > 0) return requested;
    const char *env = getenv("CTK_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 1 || v > 4096)
            ctk_die("CTK_THREADS='%s' is not a thread count (a whole number from 1 to 4096)", env);
        return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

double ctk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
