/*
 * json.h -- JSON reading and writing for ctk (model folders, tokenizer files,
 * safetensors headers, stream metadata), over jansson.
 *
 * Why jansson and not libyaml for JSON: libyaml reads the JSON files of real
 * model folders, but it rejects the surrogate-pair escapes ("\ud83d\ude00")
 * that Python's json.dumps writes for every character outside the BMP, and,
 * being a YAML parser, it accepts text that is not JSON, which a validator of
 * untrusted safetensors headers must refuse. jansson (Debian libjansson-dev)
 * is strict RFC 8259, keeps object key order, and reports line and column.
 * libyaml stays for YAML (reports written with --format yaml).
 *
 * Ownership: ctk_json_load* return a new reference (json_decref it); the
 * ctk_json_get* accessors return borrowed values that live as long as the
 * object they came from.
 */
#ifndef CTK_JSON_H
#define CTK_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"

/* Parse a whole file; on failure e says "FILE:LINE:COL: problem". */
json_t *ctk_json_load_file(const char *path, struct ctk_err *e);
/* Parse a buffer of len bytes (need not be NUL-terminated); what names it in errors. */
json_t *ctk_json_load_buf(const char *buf, size_t len, const char *what, struct ctk_err *e);

/*
 * Typed field access with a default when the key is absent or null. A present
 * value of the wrong type is an error (-1, e set, naming what.key), so a
 * config file that says "hidden_size": "384" is refused, not misread.
 */
int ctk_json_get_int(const json_t *obj, const char *key, int64_t dflt, int64_t *out,
                     const char *what, struct ctk_err *e);
int ctk_json_get_num(const json_t *obj, const char *key, double dflt, double *out,
                     const char *what, struct ctk_err *e);
int ctk_json_get_bool(const json_t *obj, const char *key, int dflt, int *out,
                      const char *what, struct ctk_err *e);
/* *out borrowed from obj, or dflt (may be NULL). */
int ctk_json_get_str(const json_t *obj, const char *key, const char *dflt, const char **out,
                     const char *what, struct ctk_err *e);

/* Write a value to path atomically (temporary file, then rename), indented like Python's json.dump(indent=2). */
int ctk_json_save_file(const json_t *v, const char *path, struct ctk_err *e);

#endif
