/*
 * err.h -- the one voice of every ctk program: errors, warnings, progress,
 * exit codes, checked allocation, threads.
 *
 * Library code that parses input returns a status and fills a struct ctk_err
 * (message and position); programs decide to die (libyaml's parser.problem).
 * ctk_die() prints "ctk-NAME: message" and exits 1; ctk_usage() prints the
 * message and "Try 'ctk-NAME --help'" and exits 2.
 *
 * Ownership: nothing here allocates behind the caller's back except the
 * x*alloc family, whose memory the caller frees with free().
 */
#ifndef CTK_ERR_H
#define CTK_ERR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum ctk_exit {
    CTK_EXIT_OK = 0,      /* success */
    CTK_EXIT_FAILURE = 1, /* runtime or data error */
    CTK_EXIT_USAGE = 2,   /* bad command line */
};

/* An error from library code: a message, and where (file, line, chunk). */
struct ctk_err {
    char msg[512];
};

#if defined(__GNUC__)
#define CTK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CTK_NORETURN __attribute__((noreturn))
#else
#define CTK_PRINTF(a, b)
#define CTK_NORETURN
#endif

/* Set e->msg (printf-style); returns -1 so that "return ctk_err_set(...)" reads well. */
int ctk_err_set(struct ctk_err *e, const char *fmt, ...) CTK_PRINTF(2, 3);

/*
 * Program start: records the program's name (for messages) and its command
 * line (for stream histories), restores SIGPIPE's default action so that a
 * closed pipe ends the program quietly, and checks at exit that stdout was
 * written and closed without error.
 */
void ctk_init(const char *progname, int argc, char **argv);
const char *ctk_progname(void);
/* The command line as one shell-quoted string (for the stream history). */
const char *ctk_cmdline(void);

void ctk_die(const char *fmt, ...) CTK_PRINTF(1, 2) CTK_NORETURN;
void ctk_die_err(const struct ctk_err *e) CTK_NORETURN;
void ctk_warn(const char *fmt, ...) CTK_PRINTF(1, 2);
/* Usage error: message, then "Try 'PROG --help' for more information.", exit 2. */
void ctk_usage(const char *fmt, ...) CTK_PRINTF(1, 2) CTK_NORETURN;
/* Prints "PROG (ctk) VERSION" and exits 0. */
void ctk_version(void) CTK_NORETURN;

/* Quiet mode (-q): silences warnings' chatter and progress, never errors. */
void ctk_set_quiet(int quiet);
int ctk_quiet(void);

/*
 * Progress on stderr, only when stderr is a terminal and not quiet: a single
 * line rewritten in place. ctk_progress_done() ends the line.
 */
void ctk_progress(const char *fmt, ...) CTK_PRINTF(1, 2);
void ctk_progress_done(void);

/* Refuse to write a binary stream to a terminal (exit 2 with a hint). */
void ctk_check_binary_stdout(void);

/* Checked allocation: dies with a message on failure or size overflow. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xmallocarray(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
/*
 * Large buffers (weights, gradients, optimizer moments, activations): n
 * elements of size bytes, 2 MB aligned and marked for transparent huge
 * pages when 2 MB or more, so that touching 100 MB costs tens of page
 * faults rather than 25,000 and products walk fewer TLB entries. zero: the
 * pages are written with zeros now, on this thread (first reads of lazily
 * zeroed pages map the shared zero page, and the write after it faults
 * again and flushes every thread's TLB). Freed with free().
 */
void *xbigalloc(size_t n, size_t size, int zero);
/* 1 if a*b overflows size_t, else stores the product. */
int ctk_mul_overflow(size_t a, size_t b, size_t *out);

/*
 * Threads: the -j value when given (> 0), else CTK_THREADS, else the number
 * of online processors. Dies on a malformed CTK_THREADS.
 */
int ctk_threads(int requested);

/* Monotonic seconds, for progress and benchmarks. */
double ctk_now(void);

#endif
