/*
 * st_norms.c -- test helper: the L2 norm of every tensor of a safetensors
 * file, one "NAME<TAB>NORM" line each, in header order (the bats tests
 * compare a trained model's tensors with a PyTorch run's).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"
#include "safetensors.h"

int main(int argc, char **argv)
{
    ctk_init("st_norms", argc, argv);
    if (argc != 2)
        ctk_usage("usage: st_norms FILE.safetensors");
    struct ctk_st st;
    struct ctk_err e;
    if (ctk_st_open(&st, argv[1], &e) < 0)
        ctk_die_err(&e);
    for (size_t i = 0; i < st.ntensors; i++) {
        const struct ctk_st_tensor *t = &st.tensors[i];
        float *x = ctk_st_get_f32(&st, t, &e);
        if (!x)
            continue; /* not a float tensor */
        double s = 0;
        for (size_t k = 0; k < t->nelem; k++)
            s += (double)x[k] * x[k];
        printf("%s\t%.17g\n", t->name, sqrt(s));
        free(x);
    }
    ctk_st_close(&st);
    return 0;
}
