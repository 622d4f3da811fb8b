/*
 * yamlout.c -- a JSON value as YAML through libyaml's event emitter
 * (yaml_emitter_emit with stream, document, mapping, sequence and scalar
 * events, as libyaml's tests/example-deconstructor.c does).
 */
#include "config.h"
#include "yamlout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* 1 if a YAML 1.1 reader would resolve s as a non-string when plain. */
static int needs_quotes(const char *s)
{
    static const char *const words[] = {"y", "n", "yes", "no", "true", "false", "on", "off",
                                        "null", "~", ".inf", "-.inf", "+.inf", ".nan"};
    if (!*s) return 1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcasecmp(s, words[i])) return 1;
    /* numbers (not "nan"/"inf", which strtod takes but YAML reads as strings) */
    if (strchr("0123456789+-.", *s)) {
        char *end;
        strtod(s, &end);
        if (end != s && *end == 0) return 1;
    }
    return 0;
}

static int scalar(yaml_emitter_t *em, const char *s, int plain)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain, 1,
                                 plain ? YAML_PLAIN_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    return yaml_emitter_emit(em, &ev);
}

static int all_scalars(const json_t *a)
{
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x) if (json_is_object(x) || json_is_array(x)) return 0;
    return 1;
}

static int emit(yaml_emitter_t *em, const json_t *v)
{
    yaml_event_t ev;
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        const json_t *x;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(em, &ev)) return 0;
        json_object_foreach((json_t *)v, k, x) {
            if (!scalar(em, k, !needs_quotes(k)) || !emit(em, x)) return 0;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    }
    case JSON_ARRAY: {
        size_t i;
        const json_t *x;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                             all_scalars(v) ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(em, &ev)) return 0;
        json_array_foreach(v, i, x) if (!emit(em, x)) return 0;
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    }
    case JSON_STRING:
        return scalar(em, json_string_value(v), !needs_quotes(json_string_value(v)));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return scalar(em, buf, 1);
    case JSON_REAL: {
        double d = json_real_value(v);
        if (isnan(d)) return scalar(em, ".nan", 1);
        if (isinf(d)) return scalar(em, d > 0 ? ".inf" : "-.inf", 1);
        snprintf(buf, sizeof buf, "%.8g", d);
        /* keep it a float for a YAML reader: 3 -> 3.0 */
        if (!strpbrk(buf, ".eE")) strcat(buf, ".0");
        return scalar(em, buf, 1);
    }
    case JSON_TRUE:
        return scalar(em, "true", 1);
    case JSON_FALSE:
        return scalar(em, "false", 1);
    case JSON_NULL:
    default:
        return scalar(em, "null", 1);
    }
}

int ctk_yaml_write(FILE *f, const json_t *v, struct ctk_err *e)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    int ok;
    if (!yaml_emitter_initialize(&em)) return ctk_err_set(e, "cannot initialise the YAML emitter");
    yaml_emitter_set_output_file(&em, f);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1); /* no folding: one line per string */
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = yaml_emitter_emit(&em, &ev);
    if (ok) {
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0);
        ok = yaml_emitter_emit(&em, &ev) && emit(&em, v);
    }
    if (ok) {
        yaml_document_end_event_initialize(&ev, 0);
        ok = yaml_emitter_emit(&em, &ev);
    }
    if (ok) {
        yaml_stream_end_event_initialize(&ev);
        ok = yaml_emitter_emit(&em, &ev) && yaml_emitter_flush(&em);
    }
    if (!ok) ctk_err_set(e, "YAML output: %s", em.problem ? em.problem : "write error");
    yaml_emitter_delete(&em);
    return ok ? 0 : -1;
}
