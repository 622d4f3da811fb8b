/*
 * bert.c -- what the BERT family adds to the shared transformer
 * (transformer.h): config.json's checks, the tensors' names and token type
 * embeddings. Positions are each token's index in its sequence.
 */
#include <string.h>

#include "bert.h"
#include "transformer.h"

static int bert_config(struct ctk_transformer_config *bc, const struct ctk_model *m,
                       struct ctk_err *e)
{
    const struct ctk_model_config *c = &m->cfg;
    if (*c->position_embedding_type && strcmp(c->position_embedding_type, "absolute") != 0)
        return ctk_err_set(e, "%s: config.json: position_embedding_type \"%s\" is not supported "
                           "(only \"absolute\")", m->dir, c->position_embedding_type);
    if (c->type_vocab_size <= 0)
        return ctk_err_set(e, "%s: config.json: type_vocab_size must be positive", m->dir);
    bc->TT = c->type_vocab_size;
    return 0;
}

static const struct ctk_transformer_kind bert_kind = {
    .model_type = "bert",
    .q = "attention.self.query",
    .k = "attention.self.key",
    .v = "attention.self.value",
    .o = "attention.output.dense",
    .ln1 = "attention.output.LayerNorm",
    .config = bert_config,
};

struct ctk_encoder *ctk_bert_open(const char *dir, int threads, struct ctk_err *e)
{
    return ctk_transformer_open(&bert_kind, dir, threads, e);
}
