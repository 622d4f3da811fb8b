/*
 * mpnet.c -- what MPNet adds to the shared transformer (transformer.h; see
 * mpnet.h): config.json's checks, the tensors' names, positions as RoBERTa
 * counts them, and the buckets of the relative position bias.
 */
#include <math.h>
#include <string.h>

#include "mpnet.h"
#include "transformer.h"

#define PAD_IDX 1    /* MPNetEmbeddings.padding_idx */
#define NBUCKETS 32  /* MPNetEncoder.compute_position_bias's num_buckets */
#define MAX_DISTANCE 128

int ctk_mpnet_bucket(int64_t rel)
{
    /* relative_position_bucket: n = -rel; half the buckets for each sign */
    int nb = NBUCKETS / 2, ret = 0;
    int64_t n = -rel;
    if (n < 0) ret += nb;
    n = n < 0 ? -n : n;
    int max_exact = nb / 2;
    if (n < max_exact) return ret + (int)n;
    /* float32 throughout, as torch computes it: log(n/8)/log(16)*8, truncated */
    float v = logf((float)n / (float)max_exact) / (float)log((double)MAX_DISTANCE / max_exact) *
              (float)(nb - max_exact);
    int64_t large = max_exact + (int64_t)v;
    if (large > nb - 1) large = nb - 1;
    return ret + (int)large;
}

/* create_position_ids_from_input_ids: padding_idx + running count of non-pad tokens; pad: padding_idx. */
static void positions(int32_t *pos, const int32_t *ids, const int64_t *offsets, int64_t S)
{
    for (int64_t s = 0; s < S; s++) {
        int32_t k = 0;
        for (int64_t n = offsets[s]; n < offsets[s + 1]; n++)
            pos[n] = ids[n] == PAD_IDX ? PAD_IDX : PAD_IDX + ++k;
    }
}

static int mpnet_config(struct ctk_transformer_config *mc, const struct ctk_model *m,
                        struct ctk_err *e)
{
    const struct ctk_model_config *c = &m->cfg;
    if (c->vocab_size <= PAD_IDX)
        return ctk_err_set(e, "%s: config.json: vocab_size %lld leaves no room for <pad> (id %d)",
                           m->dir, (long long)c->vocab_size, PAD_IDX);
    if (c->relative_attention_num_buckets < NBUCKETS)
        return ctk_err_set(e, "%s: config.json: relative_attention_num_buckets %lld: MPNet uses %d "
                           "buckets", m->dir, (long long)c->relative_attention_num_buckets, NBUCKETS);
    mc->NB = c->relative_attention_num_buckets;
    return 0;
}

static const struct ctk_transformer_kind mpnet_kind = {
    .model_type = "mpnet",
    .q = "attention.attn.q",
    .k = "attention.attn.k",
    .v = "attention.attn.v",
    .o = "attention.attn.o",
    .ln1 = "attention.LayerNorm",
    .config = mpnet_config,
    .positions = positions,
    .pos_offset = PAD_IDX + 1,
    .bucket = ctk_mpnet_bucket,
};

struct ctk_encoder *ctk_mpnet_open(const char *dir, int threads, struct ctk_err *e)
{
    return ctk_transformer_open(&mpnet_kind, dir, threads, e);
}
