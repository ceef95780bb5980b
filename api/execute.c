/* execute.c - runs a parsed request through the compute library: plan, output shape,
 * output allocation, run. The plan is built per call here; registered layers keep theirs. */
#include <stdlib.h>

#include "api.h"

int ct_api_execute_plan(const ct_plan *plan, const ct_tensor *input, int nthreads, const int *cancel, ct_tensor *out,
                        ct_api_error *err)
{
    char msg[400];
    out->data = NULL;
    ct_status st = ct_plan_output_shape(plan, &input->shape, &out->shape, msg, sizeof msg);
    if (st != CT_OK) {
        ct_api_error_from_status(st, msg, err);
        return -1;
    }
    int64_t bytes = ct_shape_bytes(&out->shape, sizeof(float)); /* fits: the plan checked it */
    /* on a cache line: the depthwise path writes large outputs past the cache in whole lines */
    void *data = NULL;
    out->data = bytes >= 0 && posix_memalign(&data, 64, (size_t)(bytes > 0 ? bytes : 1)) == 0 ? data : NULL;
    if (!out->data)
        return ct_api_fail(err, 503, "out_of_memory", "output: out of memory for %lld bytes", (long long)bytes);
    st = ct_plan_run_cancellable(plan, &input->shape, input->data, out->data, nthreads, cancel, msg, sizeof msg);
    if (st != CT_OK) {
        ct_tensor_free(out);
        ct_api_error_from_status(st, msg, err);
        return -1;
    }
    return 0;
}

int ct_api_execute(const ct_request *req, int nthreads, const int *cancel, ct_tensor *out, ct_api_error *err)
{
    char msg[400];
    ct_plan *plan = NULL;
    out->data = NULL;
    ct_status st = ct_plan_create(&req->params, &req->weight.shape, req->weight.data, req->bias.data,
                                  req->bias.data ? req->bias.shape.dims[0] : 0, &plan, msg, sizeof msg);
    if (st != CT_OK) {
        ct_api_error_from_status(st, msg, err);
        return -1;
    }
    int rc = ct_api_execute_plan(plan, &req->input, nthreads, cancel, out, err);
    ct_plan_destroy(plan);
    return rc;
}

int ct_api_warm_run(const ct_plan *plan, ct_api_error *err)
{
    const ct_params *p = ct_plan_params(plan);
    char msg[400] = "";
    /* the smallest input of 1, 2, 4, ... 64 per spatial dim whose output is valid */
    for (int64_t side = 1; side <= 64; side *= 2) {
        ct_tensor in = {{p->spatial_dims + 2, {1, ct_plan_in_channels(plan)}}, NULL, CT_DTYPE_FLOAT32};
        for (int d = 0; d < p->spatial_dims; d++)
            in.shape.dims[2 + d] = side;
        ct_shape out;
        if (ct_plan_output_shape(plan, &in.shape, &out, msg, sizeof msg) != CT_OK || ct_shape_elements(&out) > ((int64_t)1 << 24))
            continue;
        in.data = calloc((size_t)ct_shape_elements(&in.shape), sizeof(float));
        if (!in.data)
            return ct_api_fail(err, 503, "out_of_memory", "out of memory for the warm-up input");
        ct_tensor result;
        int rc = ct_api_execute_plan(plan, &in, 1, NULL, &result, err);
        ct_tensor_free(&in);
        ct_tensor_free(&result);
        return rc;
    }
    return 0; /* no small input fits (a layer that needs a large one): served cold */
}
