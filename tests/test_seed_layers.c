/* test_seed_layers.c - the two layers of the origin notebook, exact, through the fast plan
 * and through the naive reference. Expected values are derived by hand from the definition. */
#include <string.h>

#include "convtranspose.h"
#include "test.h"

/* ConvTranspose2d(2, 4, (3, 3), groups=2), no bias (PyTorch's random bias replaced by 0),
 * weights 1, on arange(18).reshape(1, 2, 3, 3). Each output channel of group g sums the 3x3
 * window of input channel g that covers it: out[o] = sum of x[i] with o - 2 <= i <= o. */
static void expected_grouped(float *out)
{
    for (int co = 0; co < 4; co++) {
        int ci = co / 2;
        for (int oy = 0; oy < 5; oy++)
            for (int ox = 0; ox < 5; ox++) {
                float s = 0;
                for (int iy = oy - 2; iy <= oy; iy++)
                    for (int ix = ox - 2; ix <= ox; ix++)
                        if (iy >= 0 && iy < 3 && ix >= 0 && ix < 3)
                            s += (float)(ci * 9 + iy * 3 + ix);
                out[(co * 5 + oy) * 5 + ox] = s;
            }
    }
}

/* Runs the layer on arange(N) input with all-ones weights, through the fast plan and the
 * reference, into fast and ref; fails the test unless the output's shape is `want`. */
static void run_both(const ct_params *p, const ct_shape *xs, const ct_shape *ws, const ct_shape *want, float *fast, float *ref)
{
    float x[64], w[64];
    CHECK(ct_shape_elements(xs) <= 64 && ct_shape_elements(ws) <= 64);
    for (int64_t i = 0; i < ct_shape_elements(xs); i++)
        x[i] = (float)i;
    for (int64_t i = 0; i < ct_shape_elements(ws); i++)
        w[i] = 1.0f;
    char msg[256];
    ct_plan *plan = NULL;
    ct_shape os;
    CHECK_INT_EQ(ct_plan_create(p, ws, w, NULL, 0, &plan, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(ct_plan_output_shape(plan, xs, &os, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(os.rank, want->rank);
    for (int d = 0; d < want->rank; d++)
        CHECK_INT_EQ(os.dims[d], want->dims[d]);
    CHECK_INT_EQ(ct_plan_run(plan, xs, x, fast, 2, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(ct_reference_run(p, xs, x, ws, w, NULL, 0, ref, msg, sizeof msg), CT_OK);
    ct_plan_destroy(plan);
}

TEST(seed_grouped_2d_exact)
{
    ct_params p;
    ct_params_init(&p, 2);
    p.groups = 2;
    const ct_shape xs = {4, {1, 2, 3, 3}}, ws = {4, {2, 2, 3, 3}}, os = {4, {1, 4, 5, 5}};
    float fast[100], ref[100], want[100];
    run_both(&p, &xs, &ws, &os, fast, ref);
    expected_grouped(want);
    for (int i = 0; i < 100; i++) {
        CHECK_INT_EQ(fast[i], want[i]);
        CHECK_INT_EQ(ref[i], want[i]);
    }
}

TEST(seed_3d_exact)
{
    static const float channel[27] = {0, 1, 1, 2, 6, 4, 2, 5, 3, 4, 10, 6, 12, 28,
                                      16, 8, 18, 10, 4, 9, 5, 10, 22, 12, 6, 13, 7};
    ct_params p;
    ct_params_init(&p, 3);
    const ct_shape xs = {5, {1, 1, 2, 2, 2}}, ws = {5, {1, 2, 2, 2, 2}}, os = {5, {1, 2, 3, 3, 3}};
    float fast[54], ref[54];
    run_both(&p, &xs, &ws, &os, fast, ref);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 27; i++) {
            CHECK_INT_EQ(fast[c * 27 + i], channel[i]);
            CHECK_INT_EQ(ref[c * 27 + i], channel[i]);
        }
}
