/* fuzz_layer.c - libFuzzer harness for a registered layer driven by a client: arbitrary
 * hyperparameters (pads and strides up to int64's edges), a small weight (kept as float32,
 * float16 or bfloat16), an arbitrary declared input shape (X-Tensor-Shape as text) and a
 * body of any length go through plan creation, the shared raw parser and a run. Whatever the
 * numbers, the run may only read the body's bytes and write the output it sized: under ASan
 * any other access is a finding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    int nd = 1 + byte(&r) % 3;
    ct_params p;
    ct_params_init(&p, nd);
    p.groups = 1 + byte(&r) % 3;
    for (int d = 0; d < nd; d++) {
        p.stride[d] = value_near_powers(&r);
        p.dilation[d] = 1 + byte(&r) % 3;
        p.pads_begin[d] = value_near_powers(&r);
        p.pads_end[d] = byte(&r) & 1 ? p.pads_begin[d] : value_near_powers(&r);
        p.output_padding[d] = byte(&r) % 3;
    }
    uint8_t mode = byte(&r);
    p.auto_pad = (ct_auto_pad)(mode & 3);
    p.max_output_elements = 1 << 14;
    /* A weight of at most 4 x 4 x 3^nd floats: plan building stays cheap. */
    ct_shape ws = {.rank = nd + 2};
    ws.dims[0] = p.groups * (1 + byte(&r) % 2);
    ws.dims[1] = 1 + byte(&r) % 2;
    for (int d = 0; d < nd; d++)
        ws.dims[2 + d] = 1 + byte(&r) % 3;
    int64_t nw = ct_shape_elements(&ws);
    float w[4 * 4 * 27], b[16];
    for (int64_t i = 0; i < nw; i++)
        w[i] = (float)(byte(&r) % 5) - 2;
    for (int i = 0; i < 16; i++)
        b[i] = 1;
    char msg[256];
    ct_plan *plan;
    /* bits 4-5 of mode: the weights kept as float32, float16 or bfloat16 */
    const ct_weight_storage storage = (ct_weight_storage)((mode >> 4) % 3);
    if (ct_plan_create_stored(&p, &ws, w, mode & 4 ? b : NULL, ws.dims[1] * p.groups, storage, &plan, msg, sizeof msg) != CT_OK)
        return 0;
    char shape[256];
    int rank = nd + 1 + (byte(&r) & 1), used = 0;
    int64_t dims[CT_MAX_RANK];
    for (int i = 0; i < rank; i++)
        dims[i] = i == rank - nd - 1 ? ws.dims[0] : value_near_powers(&r);
    /* Some inputs get the end padding that crops a huge input to a few outputs, as a
     * client's pads can: the case where a wrong input size reads far with little output. */
    if (mode & 8) {
        for (int d = 0; d < nd; d++) {
            int64_t in = dims[rank - nd + d], natural, want = 1 + byte(&r) % 8;
            if (!__builtin_mul_overflow(in - 1, p.stride[d], &natural) && !__builtin_add_overflow(natural, (ws.dims[2 + d] - 1) * p.dilation[d] + 1, &natural) &&
                !__builtin_sub_overflow(natural, want, &natural) && !__builtin_sub_overflow(natural, p.pads_begin[d], &p.pads_end[d]) &&
                p.pads_end[d] >= 0) {
                ct_plan_destroy(plan);
                p.auto_pad = CT_AUTO_PAD_NOTSET;
                if (ct_plan_create_stored(&p, &ws, w, mode & 4 ? b : NULL, ws.dims[1] * p.groups, storage, &plan, msg, sizeof msg) != CT_OK)
                    return 0;
            }
        }
    }
    for (int i = 0; i < rank; i++)
        used += snprintf(shape + used, sizeof shape - (size_t)used, "%s%lld", i ? "," : "", (long long)dims[i]);
    ct_buffer body = {0};
    ct_buffer_append(&body, r.p, r.left);
    ct_api_limits limits = {.max_elements = 0, .max_output_elements = 1 << 14}; /* no element cap, as above */
    ct_api_error err;
    ct_tensor in = {0}, out = {0};
    if (ct_raw_take_tensor(&body, shape, NULL, &limits, "input", &in, &err) == 0) {
        if (ct_api_execute_plan(plan, &in, 1 + (int)(size & 1), NULL, &out, &err) == 0)
            ct_tensor_free(&out);
        ct_tensor_free(&in);
    }
    ct_buffer_free(&body);
    ct_plan_destroy(plan);
    return 0;
}
