/* run.c - ct_plan_run: resolves the input's geometry, takes the path select.c chooses for
 * it, lays the run out (layout.c), takes the plan's workspace and runs the parallel region
 * (schedule.c). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define SERIAL_FLOPS 400000.0 /* nominal FLOPs below which a run takes one thread: waking the others costs more */

/* What a padded slot's zero borders depend on: a kept workspace serves a run with the same. */
static void workspace_key(const run_ctx *c, int64_t *key)
{
    const int64_t fields[] = {c->in[0], c->in[1], c->in[2], c->org[0], c->org[1], c->org[2], c->ext[0],
                              c->ext[1], c->ext[2], c->row_stride, c->image_stride, c->seg_w, c->flat,
                              c->flat_w, c->shift_min, c->shifts, c->plane, c->copy_stride};
    _Static_assert(sizeof fields / sizeof fields[0] <= CT_WORKSPACE_KEY, "CT_WORKSPACE_KEY");
    memset(key, 0, sizeof(int64_t) * CT_WORKSPACE_KEY);
    memcpy(key, fields, sizeof fields);
}

ct_status ct_plan_run(const ct_plan *plan, const ct_shape *input_shape, const float *input,
                      float *output, int nthreads, char *msg, size_t cap)
{
    return ct_plan_run_cancellable(plan, input_shape, input, output, nthreads, NULL, msg, cap);
}

ct_status ct_plan_run_cancellable(const ct_plan *plan, const ct_shape *input_shape, const float *input,
                                  float *output, int nthreads, const int *cancel, char *msg, size_t cap)
{
    run_ctx c = {.plan = plan, .x = input, .y = output, .cancel = cancel};
    ct_status st = ct__resolve_geometry(&plan->params, &plan->weight_shape, input_shape, &c.g, msg, cap);
    if (st != CT_OK)
        return st;
    if (c.g.batch == 0)
        return CT_OK;
    if (nthreads < 1)
        nthreads = 1;
    /* Nominal FLOPs decide whether threads pay for themselves. */
    double flops = 2.0 * (double)c.g.batch * (double)plan->in_channels * (double)plan->cout_g;
    for (int d = 0; d < 3; d++)
        flops *= (double)plan->kernel[d];
    for (int d = 0; d < c.g.nd; d++)
        flops *= (double)c.g.in[d];
    if (flops < SERIAL_FLOPS)
        nthreads = 1;
    if (plan->col) {
        const int done = ct__run_col(plan, &c.g, input, output, nthreads, cancel);
        if (done == -2)
            return ct__fail(msg, cap, CT_E_CANCELLED, "the run was cancelled before it finished");
        if (done < 0)
            return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for the col buffers");
        if (done > 0)
            return CT_OK;
    }

    c.phases = calloc((size_t)plan->nphases, sizeof *c.phases);
    if (!c.phases)
        return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for the run's phase table");
    int64_t xpad_bytes = ct__layout_run(&c, nthreads);
    if (ct__run_takes_gather(plan, xpad_bytes, c.tensor_bytes)) {
        free(c.phases);
        return ct_reference_run(&plan->params, input_shape, input, &plan->weight_shape, plan->weights, plan->bias,
                                plan->bias ? plan->out_channels : 0, output, msg, cap);
    }
    int64_t terms = plan->cin_g * (plan->kernel[0] * plan->kernel[1] * plan->kernel[2]);
    if (plan->depthwise && xpad_bytes >= 0)
        xpad_bytes = 0; /* its planes are in the threads' scratch */
    if (xpad_bytes < 0 || (uint64_t)xpad_bytes > SIZE_MAX / 2) {
        free(c.phases);
        return ct__fail(msg, cap, CT_E_OVERFLOW, "input: the padded workspace size overflows");
    }
    int64_t key[CT_WORKSPACE_KEY];
    workspace_key(&c, key);
    int kept = 0;
    c.xpad = plan->depthwise ? NULL : ct__workspace_take(plan->workspace, xpad_bytes, key, &c.zeroed_slots, &kept);
    int64_t *table = malloc(sizeof(int64_t) * (size_t)(terms > 0 ? terms : 1));
    if ((!plan->depthwise && !c.xpad) || !table ||
        !(c.sync = calloc((size_t)c.g.batch, sizeof *c.sync))) {
        if (c.xpad)
            ct__workspace_give(plan->workspace, c.xpad, kept, 0);
        free(table);
        free(c.phases);
        return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for a %lld-byte workspace", (long long)xpad_bytes);
    }
    ct__fill_offsets(&c, table);

    int threads = nthreads < c.items ? nthreads : (int)(c.items > 0 ? c.items : 1);
    int failed = 0;
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        ct__run_parallel(&c, plan, &failed);
    } else {
        ct__run_parallel(&c, plan, &failed); /* no OpenMP runtime for one thread */
    }
    free(c.sync);
    if (c.xpad) /* every slot of the run was padded, unless a thread failed or it was cancelled */
        ct__workspace_give(plan->workspace, c.xpad, kept,
                           failed || c.cancelled ? 0 : c.slots > c.zeroed_slots ? c.slots : c.zeroed_slots);
    free(table);
    free(c.phases);
    if (failed)
        return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for the per-thread scratch tiles");
    if (c.cancelled)
        return ct__fail(msg, cap, CT_E_CANCELLED, "the run was cancelled before it finished");
    return CT_OK;
}
