/* fuzz_params.c - libFuzzer harness for the compute library's validation and kernels:
 * the bytes become hyperparameters and shapes, small or huge, negative or overflowing.
 * Validation must never crash or overflow; a layer it accepts that is small enough is run
 * through the fast plan (with the cache size forced down for some inputs, so that depthwise
 * outputs take the streamed path) and the naive reference, which must agree. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convtranspose.h"
#include "fuzz_reader.h"
#include "kernels/igemm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    ct_params p;
    int nd = 1 + byte(&r) % 3;
    ct_params_init(&p, nd);
    p.groups = value(&r);
    for (int d = 0; d < nd; d++) {
        p.stride[d] = value(&r);
        p.dilation[d] = value(&r);
        p.pads_begin[d] = value(&r);
        p.pads_end[d] = byte(&r) & 1 ? p.pads_begin[d] : value(&r);
        p.output_padding[d] = value(&r);
        p.output_size[d] = value(&r);
        p.kernel_shape[d] = value(&r);
    }
    uint8_t mode = byte(&r);
    p.auto_pad = (ct_auto_pad)(mode & 3);
    p.output_size_rule = (ct_output_size_rule)((mode >> 2) % 3);
    p.has_kernel_shape = (mode >> 4) & 1;
    p.max_output_elements = 1 << 14;
    ct_shape xs = {.rank = nd + 1 + (byte(&r) & 1)}, ws = {.rank = nd + 2};
    for (int i = 0; i < xs.rank; i++)
        xs.dims[i] = value(&r);
    for (int i = 0; i < ws.rank; i++)
        ws.dims[i] = value(&r);
    int has_bias = byte(&r) & 1;

    char msg[512];
    ct_shape os;
    if (ct_output_shape(&p, &ws, &xs, &os, msg, sizeof msg) != CT_OK)
        return 0;
    int64_t nx = ct_shape_elements(&xs), nw = ct_shape_elements(&ws), ny = ct_shape_elements(&os);
    if (nx < 0 || nw < 0 || ny < 0 || nx > 4096 || nw > 4096 || ny > 16384)
        return 0;
    int64_t cout = ws.dims[1] * p.groups;
    float *x = malloc(sizeof(float) * (size_t)(nx + 1)), *w = malloc(sizeof(float) * (size_t)(nw + 1));
    float *b = malloc(sizeof(float) * (size_t)(cout + 1));
    float *fast = malloc(sizeof(float) * (size_t)(ny + 1)), *ref = malloc(sizeof(float) * (size_t)(ny + 1));
    for (int64_t i = 0; i < nx; i++)
        x[i] = (float)(byte(&r) % 17) - 8;
    for (int64_t i = 0; i < nw; i++)
        w[i] = (float)(byte(&r) % 17) - 8;
    for (int64_t i = 0; i < cout; i++)
        b[i] = (float)(byte(&r) % 5);
    ct_plan *plan;
    if (ct_plan_create(&p, &ws, w, has_bias ? b : NULL, cout, &plan, msg, sizeof msg) != CT_OK)
        abort(); /* output_shape accepted it: create must too */
    ct__force_llc_bytes((mode >> 5) & 1); /* 1 byte: depthwise outputs take the streamed bands */
    ct_status run = ct_plan_run(plan, &xs, x, fast, 1 + (int)(size & 1), msg, sizeof msg);
    ct__force_llc_bytes(0);
    if (run != CT_OK ||
        ct_reference_run(&p, &xs, x, &ws, w, has_bias ? b : NULL, cout, ref, msg, sizeof msg) != CT_OK)
        abort();
    for (int64_t i = 0; i < ny; i++)
        if (fabsf(fast[i] - ref[i]) > 1e-3f * (1.0f + fabsf(ref[i]))) /* small integers: exact sums */
            abort();
    ct_plan_destroy(plan);
    free(x);
    free(w);
    free(b);
    free(fast);
    free(ref);
    return 0;
}
