/*
 * encoder.c -- opening an encoder by its kind, and the gradient buffers
 * every kind shares (see encoder.h).
 *
 * A model folder's kind is config.json's model_type; each kind has an open
 * function in the table below. No folder (dir NULL) means the built-in
 * hashed n-gram encoder, which needs no file.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bert.h"
#include "encoder.h"
#include "fsutil.h"
#include "json.h"
#include "mpnet.h"
#include "transformer.h"
#include "ngram.h" /* the built-in hashed n-gram encoder */

struct kind {
    const char *model_type;
    struct ctk_encoder *(*open)(const char *dir, int threads, struct ctk_err *e);
};

/* Every kind of encoder ctk runs, by config.json's model_type. */
static const struct kind kinds[] = {
    {"bert", ctk_bert_open},
    {"ctk-ngram", ctk_ngram_open},
    {"mpnet", ctk_mpnet_open},
};

/* model_type of dir/config.json (or dir/0_Transformer/config.json), into buf. */
static int model_type_of(const char *dir, char *buf, size_t size, struct ctk_err *e)
{
    char *path = ctk_path_join(dir, "config.json");
    if (access(path, R_OK) != 0) {
        char *t = ctk_path_join(dir, "0_Transformer");
        free(path);
        path = ctk_path_join(t, "config.json");
        free(t);
        if (access(path, R_OK) != 0) {
            free(path);
            return ctk_err_set(e, "%s: not a model folder (no config.json); give the folder of a "
                               "sentence-transformers or Hugging Face model", dir);
        }
    }
    json_t *cfg = ctk_json_load_file(path, e);
    if (!cfg) {
        free(path);
        return -1;
    }
    const char *mt = NULL;
    int rc = ctk_json_get_str(cfg, "model_type", NULL, &mt, path, e);
    if (rc == 0 && !mt) rc = ctk_err_set(e, "%s: no \"model_type\"", path);
    if (rc == 0) snprintf(buf, size, "%s", mt);
    json_decref(cfg);
    free(path);
    return rc;
}

struct ctk_encoder *ctk_encoder_open(const char *dir, int threads, struct ctk_err *e)
{
    if (!dir) return ctk_ngram_open(NULL, threads, e);
    char mt[64];
    if (model_type_of(dir, mt, sizeof mt, e) < 0) return NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(mt, kinds[i].model_type) == 0) return kinds[i].open(dir, threads, e);
    char list[256] = "";
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 kinds[i].model_type);
    ctk_err_set(e, "%s: config.json: model_type \"%s\" is not supported (ctk runs %s)", dir, mt,
                list);
    return NULL;
}

/*
 * Gradients: one zeroed allocation per parameter tensor, freed by the
 * encoder's free. An encoder that needs its gradients laid out its own way
 * (the transformers, BERT and MPNet: one slab in the parameters' layout)
 * allocates them itself here.
 * calloc leaves untouched pages unmapped, so a large sparsely updated table
 * costs only the rows a batch touches.
 */
void ctk_encoder_alloc_grads(struct ctk_encoder *enc)
{
    if (enc->nparams == 0 || enc->params[0].g) return;
    if (ctk_is_transformer(enc)) {
        ctk_transformer_alloc_grads(enc);
        return;
    }
    for (int i = 0; i < enc->nparams; i++)
        enc->params[i].g = xcalloc(enc->params[i].n ? enc->params[i].n : 1, sizeof(float));
}

/* Zero every gradient; a sparse tensor only in the rows its last backward touched. */
void ctk_encoder_zero_grads(struct ctk_encoder *enc)
{
    for (int i = 0; i < enc->nparams; i++) {
        struct ctk_param *p = &enc->params[i];
        if (!p->g) continue;
        if (p->row_len) {
            for (size_t k = 0; k < p->ntouched; k++)
                memset(p->g + (size_t)p->touched[k] * p->row_len, 0, p->row_len * sizeof(float));
        } else {
            memset(p->g, 0, p->n * sizeof(float));
        }
    }
}

void ctk_encoder_free(struct ctk_encoder *enc)
{
    if (enc) enc->ops->free(enc);
}
