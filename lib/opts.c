/*
 * opts.c -- numeric option values (opts.h).
 */
#include "config.h"
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "err.h"

double ctk_opt_double(const char *name, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == 0 && end != s && *end == 0 && isfinite(v) && v >= lo && v <= hi)
        return v;
    if (isinf(lo) && isinf(hi))
        ctk_usage("%s: '%s' is not a number", name, s);
    if (isinf(hi))
        ctk_usage("%s: '%s' is not a number of at least %g", name, s, lo);
    ctk_usage("%s: '%s' is not a number from %g to %g", name, s, lo, hi);
}

int64_t ctk_opt_int64(const char *name, const char *s, int64_t lo, int64_t hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == 0 && end != s && *end == 0 && v >= lo && v <= hi)
        return v;
    if (hi == INT64_MAX)
        ctk_usage("%s: '%s' is not a whole number of at least %lld", name, s, (long long)lo);
    ctk_usage("%s: '%s' is not a whole number from %lld to %lld", name, s, (long long)lo, (long long)hi);
}
