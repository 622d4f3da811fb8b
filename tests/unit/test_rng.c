/*
 * test_rng.c -- lib/rng.c against values from an independent Python
 * implementation of the same algorithms (tests/ref/rng.py; its output is
 * pasted below) and against hand-computed values: splitmix64 from 0 (the
 * published first outputs), xoshiro256** from the state {1, 2, 3, 4}
 * (rotl(2 * 5, 7) * 9 = 11520, then 0).
 */
#include "config.h"
#include "rng.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    struct ctk_rng r;

    uint64_t sm = 0;
    const uint64_t sm0[] = {0xe220a8397b1dcdafu, 0x6e789e6aa1b965f4u, 0x06c45d188009454fu};
    for (int i = 0; i < 3; i++) {
        uint64_t z = ctk_splitmix64(&sm);
        CHECK(z == sm0[i], "splitmix64(0)[%d] = %016llx", i, (unsigned long long)z);
    }

    memset(&r, 0, sizeof r);
    r.s[0] = 1, r.s[1] = 2, r.s[2] = 3, r.s[3] = 4;
    uint64_t a = ctk_rng_next(&r), b = ctk_rng_next(&r);
    CHECK(a == 11520 && b == 0, "xoshiro256** {1,2,3,4}: %llu %llu", (unsigned long long)a,
          (unsigned long long)b);

    const uint64_t n42[] = {0x15780b2e0c2ec716u, 0x6104d9866d113a7eu, 0xae17533239e499a1u,
                            0xecb8ad4703b360a1u, 0xfde6dc7fe2ec5e64u};
    ctk_rng_seed(&r, 42);
    for (int i = 0; i < 5; i++) {
        uint64_t z = ctk_rng_next(&r);
        CHECK(z == n42[i], "next(seed 42)[%d] = %016llx", i, (unsigned long long)z);
    }

    const double d7[] = {0.7005764821796896, 0.2787512294737843, 0.8396274618764198};
    const float f7[] = {0.7005764245986938f, 0.2787511944770813f, 0.8396274447441101f};
    ctk_rng_seed(&r, 7);
    for (int i = 0; i < 3; i++) {
        double d = ctk_rng_double(&r);
        CHECK(d == d7[i], "double(seed 7)[%d] = %.17g", i, d);
    }
    ctk_rng_seed(&r, 7);
    for (int i = 0; i < 3; i++) {
        float f = ctk_rng_float(&r);
        CHECK(f == f7[i], "float(seed 7)[%d] = %.9g", i, f);
    }

    const uint64_t b10[] = {7, 2, 0, 3, 1, 2, 6, 9, 1, 8};
    ctk_rng_seed(&r, 1);
    for (int i = 0; i < 10; i++) {
        uint64_t z = ctk_rng_below(&r, 10);
        CHECK(z == b10[i], "below(seed 1, 10)[%d] = %llu", i, (unsigned long long)z);
    }
    /* n = 2^63 + 1: almost half of all draws are redrawn. */
    const uint64_t bbig[] = {3743247123249303748u, 376989097743764713u, 1367008882666915091u,
                             3637299787140904562u};
    ctk_rng_seed(&r, 1);
    for (int i = 0; i < 4; i++) {
        uint64_t z = ctk_rng_below(&r, (1ull << 63) + 1);
        CHECK(z == bbig[i], "below(seed 1, 2^63+1)[%d] = %llu", i, (unsigned long long)z);
    }

    const uint32_t i10[] = {7, 5, 5, 3, 6, 1, 0, 3, 8, 5};
    ctk_rng_seed(&r, 1);
    for (int i = 0; i < 10; i++) {
        uint32_t z = ctk_rng_index(&r, 10);
        CHECK(z == i10[i], "index(seed 1, 10)[%d] = %u", i, z);
    }
    /* n = 2^31 + 1: almost half of all draws are redrawn. */
    const uint32_t ibig[] = {1117629131u, 1232882603u, 840371773u, 1497179249u};
    ctk_rng_seed(&r, 1);
    for (int i = 0; i < 4; i++) {
        uint32_t z = ctk_rng_index(&r, (1u << 31) + 1);
        CHECK(z == ibig[i], "index(seed 1, 2^31+1)[%d] = %u", i, z);
    }

    /* Normals go through libm: allow a few ulps. */
    const double n3[] = {-0.9721068514561665, -1.1838481789289437, -0.6858470975334099,
                         -0.14861352457912216, -0.8486563367249466, 0.6206020311456869};
    ctk_rng_seed(&r, 3);
    for (int i = 0; i < 6; i++) {
        double z = ctk_rng_normal(&r);
        CHECK(fabs(z - n3[i]) <= 1e-15, "normal(seed 3)[%d] = %.17g, expected %.17g", i, z, n3[i]);
    }

    int perm[10];
    const int p5[] = {4, 2, 9, 3, 7, 1, 8, 6, 0, 5};
    for (int i = 0; i < 10; i++) perm[i] = i;
    ctk_rng_seed(&r, 5);
    ctk_rng_shuffle(&r, perm, 10, sizeof *perm);
    for (int i = 0; i < 10; i++) CHECK(perm[i] == p5[i], "shuffle(seed 5)[%d] = %d", i, perm[i]);

    /* Moments of 200k normals: mean 0, variance 1 (4 standard errors). */
    double s1 = 0, s2 = 0;
    int n = 200000;
    ctk_rng_seed(&r, 11);
    for (int i = 0; i < n; i++) {
        double z = ctk_rng_normal_f32(&r, 0.5f, 2.0f);
        s1 += z;
        s2 += z * z;
    }
    double mean = s1 / n, var = s2 / n - mean * mean;
    CHECK(fabs(mean - 0.5) < 4 * 2 / sqrt(n), "normal(0.5, 2) mean %g", mean);
    CHECK(fabs(var - 4) < 4 * 4 * sqrt(2.0 / n), "normal(0.5, 2) variance %g", var);

    /* Streams are distinct and reproducible. */
    struct ctk_rng s0, s1r, s0b;
    ctk_rng_seed_stream(&s0, 9, 0);
    ctk_rng_seed_stream(&s1r, 9, 1);
    ctk_rng_seed_stream(&s0b, 9, 0);
    uint64_t x0 = ctk_rng_next(&s0), x1 = ctk_rng_next(&s1r), x0b = ctk_rng_next(&s0b);
    CHECK(x0 != x1 && x0 == x0b, "seed_stream");

    return check_exit("test_rng");
}
