/*
 * json.c -- JSON files through jansson (see json.h for why jansson).
 */
#include "config.h"
#include "json.h"
#include "fsutil.h"

#include <string.h>

json_t *ctk_json_load_file(const char *path, struct ctk_err *e)
{
    json_error_t je;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!v)
        ctk_err_set(e, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return v;
}

json_t *ctk_json_load_buf(const char *buf, size_t len, const char *what, struct ctk_err *e)
{
    json_error_t je;
    json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!v)
        ctk_err_set(e, "%s: invalid JSON at byte %d: %s", what, je.position, je.text);
    return v;
}

static const json_t *field(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

int ctk_json_get_int(const json_t *obj, const char *key, int64_t dflt, int64_t *out,
                     const char *what, struct ctk_err *e)
{
    const json_t *v = field(obj, key);
    if (!v) { *out = dflt; return 0; }
    if (json_is_integer(v)) { *out = json_integer_value(v); return 0; }
    /* 384.0 reads as 384; the range test comes first, as casting a double
     * outside int64_t's range is undefined. */
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    if (d >= -0x1p63 && d < 0x1p63 && d == (double)(int64_t)d) {
        *out = (int64_t)d;
        return 0;
    }
    return ctk_err_set(e, "%s: \"%s\" must be an integer", what, key);
}

int ctk_json_get_num(const json_t *obj, const char *key, double dflt, double *out,
                     const char *what, struct ctk_err *e)
{
    const json_t *v = field(obj, key);
    if (!v) { *out = dflt; return 0; }
    if (json_is_number(v)) { *out = json_number_value(v); return 0; }
    return ctk_err_set(e, "%s: \"%s\" must be a number", what, key);
}

int ctk_json_get_bool(const json_t *obj, const char *key, int dflt, int *out,
                      const char *what, struct ctk_err *e)
{
    const json_t *v = field(obj, key);
    if (!v) { *out = dflt; return 0; }
    if (json_is_boolean(v)) { *out = json_is_true(v); return 0; }
    return ctk_err_set(e, "%s: \"%s\" must be true or false", what, key);
}

int ctk_json_get_str(const json_t *obj, const char *key, const char *dflt, const char **out,
                     const char *what, struct ctk_err *e)
{
    const json_t *v = field(obj, key);
    if (!v) { *out = dflt; return 0; }
    if (json_is_string(v)) { *out = json_string_value(v); return 0; }
    return ctk_err_set(e, "%s: \"%s\" must be a string", what, key);
}

int ctk_json_save_file(const json_t *v, const char *path, struct ctk_err *e)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s) return ctk_err_set(e, "%s: cannot serialise JSON", path);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = '\0';
    int rc = ctk_write_file_atomic(path, s, n + 1, e);
    free(s);
    return rc;
}
