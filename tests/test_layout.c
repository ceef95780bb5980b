/* test_layout.c - white-box checks of a run's layout (compute/run/layout.c) that outputs
 * alone cannot show: a choice that changes only speed still computes the right values, so
 * the differential tests would pass without it. */
#include <stdlib.h>

#include "plan.h"
#include "test.h"

/* The x-phases of a stride-2 row zip into whole output vectors (run_ctx.zip_with) only when
 * each phase's K is one chunk, which chunk_k must have set before the phases are paired. */
TEST(layout_zips_the_phases_of_stride_2_rows)
{
    ct_params p;
    ct_params_init(&p, 2);
    p.stride[0] = p.stride[1] = 2;
    p.pads_begin[0] = p.pads_begin[1] = p.pads_end[0] = p.pads_end[1] = 1;
    ct_shape ws = {4, {32, 16, 4, 4}}, xs = {4, {2, 32, 16, 16}};
    float *w = calloc(32 * 16 * 16, sizeof(float));
    ct_plan *plan;
    char msg[256];
    CHECK_INT_EQ(ct_plan_create(&p, &ws, w, NULL, 0, &plan, msg, sizeof msg), CT_OK);
    run_ctx c = {.plan = plan};
    CHECK_INT_EQ(ct__resolve_geometry(&plan->params, &plan->weight_shape, &xs, &c.g, msg, sizeof msg), CT_OK);
    c.phases = calloc((size_t)plan->nphases, sizeof *c.phases);
    CHECK(ct__layout_run(&c, 2) > 0);
    int pairs = 0;
    for (int64_t i = 0; i < plan->nphases; i++) {
        CHECK(c.phases[i].ci_chunk > 0);
        pairs += c.phases[i].zip_with >= 0;
    }
    CHECK_INT_EQ(pairs, 2); /* 4 phases: (y even, x even | x odd), (y odd, ...) */
    free(c.phases);
    ct_plan_destroy(plan);
    free(w);
}
