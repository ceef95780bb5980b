/* form_request.c - a multipart/form-data request: parts input, weight, optional bias as .npy
 * files and an optional config part holding the hyperparameters as JSON. */
#include <string.h>

#include "api.h"

#define MAX_PARTS 16

static int part_is(const ct_part *p, const char *name)
{
    return p->name && p->name_len == strlen(name) && memcmp(p->name, name, p->name_len) == 0;
}

int ct_form_parse_request(const char *content_type, const char *body, size_t len,
                          const ct_api_limits *limits, int need_input, ct_request *req,
                          ct_api_error *err)
{
    ct_part parts[MAX_PARTS];
    int nparts;
    memset(req, 0, sizeof *req);
    if (ct_multipart_parse(content_type, body, len, parts, MAX_PARTS, &nparts, err) != 0)
        return -1;
    const ct_part *input = NULL, *weight = NULL, *bias = NULL, *config = NULL;
    for (int i = 0; i < nparts; i++) {
        const ct_part *p = &parts[i];
        const ct_part **slot = part_is(p, "input") ? &input : part_is(p, "weight") ? &weight
                             : part_is(p, "bias") ? &bias : part_is(p, "config") ? &config : NULL;
        if (!slot)
            return ct_api_fail(err, 400, "unknown_field", "part \"%.*s\": unknown; expected input, weight, bias and config",
                               (int)(p->name_len < 64 ? p->name_len : 64), p->name ? p->name : "");
        if (*slot)
            return ct_api_fail(err, 400, "duplicate_field", "part \"%.*s\": sent twice", (int)p->name_len, p->name);
        *slot = p;
    }
    if (need_input && !input)
        return ct_api_fail(err, 400, "missing_field", "input: required part is missing");
    if (!need_input && input)
        return ct_api_fail(err, 400, "unknown_field", "input: not allowed here (send the input to the layer's /convtranspose route)");
    if (!weight)
        return ct_api_fail(err, 400, "missing_field", "weight: required part is missing");
    if (ct_npy_parse(weight->data, weight->len, limits, "weight", &req->weight, err) != 0)
        goto fail;
    int nd = req->weight.shape.rank - 2;
    if (nd < 1 || nd > CT_MAX_SPATIAL) {
        ct_api_fail(err, 400, "invalid_rank", "weight: must have 3, 4 or 5 dims [in_channels, out_channels/groups, *kernel]; got %d dims",
                    req->weight.shape.rank);
        goto fail;
    }
    ct_params_init(&req->params, nd);
    if (config && ct_json_parse_config(config->data, config->len, nd, &req->params, err) != 0)
        goto fail;
    if (input) {
        if (ct_npy_parse(input->data, input->len, limits, "input", &req->input, err) != 0)
            goto fail;
        req->has_input = 1;
    }
    if (bias) {
        if (ct_npy_parse(bias->data, bias->len, limits, "bias", &req->bias, err) != 0)
            goto fail;
        if (req->bias.shape.rank != 1) {
            ct_api_fail(err, 400, "bias_shape_mismatch", "bias: must be 1-dimensional, got %d dims", req->bias.shape.rank);
            goto fail;
        }
    }
    req->params.max_output_elements = limits->max_output_elements;
    req->params.max_flops = limits->max_flops;
    return 0;
fail:
    ct_request_free(req);
    return -1;
}
