/*
 * yamlout.h -- write a JSON value (jansson) as a YAML document through
 * libyaml's emitter, so that a report is built once and printed as either.
 *
 * Objects become block mappings (keys in insertion order), arrays of scalars
 * flow sequences ([1, 2, 3]), other arrays block sequences. Strings that a
 * YAML 1.1 reader would take for something else (numbers, booleans, null,
 * the empty string) are quoted; reals are written with 8 significant digits.
 *
 * Ownership: the value is only read.
 */
#ifndef CTK_YAMLOUT_H
#define CTK_YAMLOUT_H

#include <jansson.h>
#include <stdio.h>

#include "err.h"

/* Write v as one YAML document ("---" ... "...") to f. -1 with e set on an emitter error. */
int ctk_yaml_write(FILE *f, const json_t *v, struct ctk_err *e);

#endif
