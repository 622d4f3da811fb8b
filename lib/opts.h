/*
 * opts.h -- numeric option values, parsed and checked one way in every
 * program.
 *
 * ctk_opt_double(name, s, lo, hi): s as a finite number in [lo, hi];
 * ctk_opt_int64(name, s, lo, hi): s as a whole number (base 10) in [lo, hi].
 * Anything else (empty, trailing characters, out of range, overflow, NaN,
 * infinity) is a usage error (ctk_usage, exit 2), worded
 *     NAME: 'S' is not a number from LO to HI
 *     NAME: 'S' is not a whole number from LO to HI
 * with "of at least LO" when hi is INFINITY / INT64_MAX and no range at all
 * when both ends are open. NAME is the option as the user wrote it
 * ("--top-k", "-C").
 */
#ifndef CTK_OPTS_H
#define CTK_OPTS_H

#include <stdint.h>

double ctk_opt_double(const char *name, const char *s, double lo, double hi);
int64_t ctk_opt_int64(const char *name, const char *s, int64_t lo, int64_t hi);

#endif
