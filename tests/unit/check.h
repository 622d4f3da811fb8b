/*
 * check.h -- what every C unit test of ctk does to compare and to fail.
 *
 *   CHECK(cond, fmt, ...)   when cond is false, prints "FAIL file:line: "
 *                           and the message, and counts a failure.
 *   check_close(name, got, ref, n, atol, rtol)
 *                           n values must satisfy |got - ref| <= atol +
 *                           rtol |ref| (NaN matches only NaN); prints the
 *                           name, n and the largest difference, and the
 *                           first value out of tolerance (a failure).
 *                           Returns 1 when all are within tolerance.
 *   check_close1(name, got, ref, atol, rtol)
 *                           the same for one value.
 *   fixture_open(srcdir, area, name, ext)
 *                           opens tests/golden/AREA/NAME.EXT of the source
 *                           tree srcdir for reading (dies when it cannot);
 *   fixture_numbers(srcdir, area, name, ext, &n)
 *                           all the numbers of that file in reading order.
 *   check_exit(test)        prints "TEST: ok" or "TEST: FAILED (N
 *                           failures)"; returns the exit status for main
 *                           (0 ok, 1 on any failure).
 * Failures are counted in check_failures, which a test may also bump itself.
 */
#ifndef CTK_TEST_CHECK_H
#define CTK_TEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

static int check_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

static inline int check_close(const char *name, const double *got, const double *ref, int64_t n,
                              double atol, double rtol)
{
    double maxd = 0;
    int64_t bad = -1;
    for (int64_t i = 0; i < n; i++) {
        int nan = isnan(got[i]) || isnan(ref[i]);
        double d = nan ? 0 : fabs(got[i] - ref[i]);
        int ok = nan ? isnan(got[i]) && isnan(ref[i]) : d <= atol + rtol * fabs(ref[i]);
        if (d > maxd) maxd = d;
        if (!ok && bad < 0) bad = i;
    }
    printf("%-16s n=%-4lld max diff %.3g\n", name, (long long)n, maxd);
    if (bad >= 0) {
        printf("FAIL %s[%lld]: got %.12g want %.12g\n", name, (long long)bad, got[bad], ref[bad]);
        check_failures++;
    }
    return bad < 0;
}

static inline int check_close1(const char *name, double got, double ref, double atol, double rtol)
{
    return check_close(name, &got, &ref, 1, atol, rtol);
}

static inline FILE *fixture_open(const char *srcdir, const char *area, const char *name, const char *ext)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/%s/%s.%s", srcdir, area, name, ext);
    FILE *f = fopen(path, "r");
    if (!f)
        ctk_die("cannot open %s", path);
    return f;
}

static inline double *fixture_numbers(const char *srcdir, const char *area, const char *name,
                                            const char *ext, int64_t *n)
{
    FILE *f = fixture_open(srcdir, area, name, ext);
    size_t cap = 256, len = 0;
    double *v = xmallocarray(cap, sizeof *v), x;
    while (fscanf(f, "%lf", &x) == 1) {
        if (len == cap)
            v = xreallocarray(v, cap *= 2, sizeof *v);
        v[len++] = x;
    }
    fclose(f);
    *n = (int64_t)len;
    return v;
}

static inline int check_exit(const char *test)
{
    if (check_failures)
        printf("%s: FAILED (%d failure%s)\n", test, check_failures, check_failures == 1 ? "" : "s");
    else
        printf("%s: ok\n", test);
    return check_failures != 0;
}

#endif
