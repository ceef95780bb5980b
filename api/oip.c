/* oip.c - see oip.h. The JSON header is read with the scanner (tensor data straight into
 * floats); small values (parameters, outputs) go through jansson. */
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "oip.h"

void ct_oip_request_free(ct_oip_request *req)
{
    for (int i = 0; i < req->ninputs; i++)
        if (req->inputs[i].owned)
            free(req->inputs[i].data);
    json_decref(req->parameters);
    memset(req, 0, sizeof *req);
}

const ct_oip_input *ct_oip_find_input(const ct_oip_request *req, const char *name)
{
    for (int i = 0; i < req->ninputs; i++)
        if (strcmp(req->inputs[i].name, name) == 0)
            return &req->inputs[i];
    return NULL;
}

static json_t *span_json(ct_json_scan *s, const char *what, ct_api_error *err)
{
    const char *from, *to;
    if (ct_scan_skip_value(s, &from, &to, err) != 0)
        return NULL;
    json_error_t je;
    json_t *v = json_loadb(from, (size_t)(to - from), JSON_DECODE_ANY, &je);
    if (!v)
        ct_api_fail(err, 400, "invalid_json", "%s: %s", what, je.text);
    return v;
}

/* The members of one element of "inputs". */
typedef struct input_ctx {
    const ct_api_limits *limits;
    ct_oip_input *in;
    long long *binary_size;
    int have_shape, have_data;
    int64_t count;
} input_ctx;

static int input_member(ct_json_scan *s, const char *key, void *ctx, ct_api_error *err)
{
    input_ctx *c = ctx;
    ct_oip_input *in = c->in;
    if (strcmp(key, "name") == 0)
        return ct_scan_string(s, in->name, sizeof in->name, err);
    if (strcmp(key, "datatype") == 0)
        return ct_scan_string(s, in->datatype, sizeof in->datatype, err);
    if (strcmp(key, "shape") == 0) {
        c->have_shape = 1;
        return ct_scan_int_list(s, "shape", &in->shape, err);
    }
    if (strcmp(key, "data") == 0) {
        if (c->have_data)
            return ct_api_fail(err, 400, "invalid_json", "input '%s': data: duplicate key", in->name);
        if (ct_scan_number_array(s, in->name[0] ? in->name : "data", c->limits->max_elements, &in->data, &c->count, err) != 0)
            return -1;
        in->owned = 1;
        c->have_data = 1;
        return 0;
    }
    if (strcmp(key, "parameters") == 0) {
        json_t *p = span_json(s, "parameters", err);
        if (!p)
            return -1;
        json_t *size = json_object_get(p, "binary_data_size");
        int bad = size && (!json_is_integer(size) || json_integer_value(size) < 0);
        if (size && !bad)
            *c->binary_size = json_integer_value(size);
        json_decref(p);
        return bad ? ct_api_fail(err, 400, "invalid_parameter", "binary_data_size must be a non-negative integer") : 0;
    }
    const char *from, *to;
    return ct_scan_skip_value(s, &from, &to, err);
}

/* One element of "inputs". binary_size is set from parameters.binary_data_size (-1: none). */
static int parse_input(ct_json_scan *s, const ct_api_limits *limits, ct_oip_input *in, long long *binary_size, ct_api_error *err)
{
    *binary_size = -1;
    input_ctx c = {limits, in, binary_size, 0, 0, 0};
    if (ct_scan_object(s, input_member, &c, err) != 0)
        return -1;
    int have_shape = c.have_shape, have_data = c.have_data;
    int64_t count = c.count;
    if (!in->name[0])
        return ct_api_fail(err, 400, "invalid_input", "an input has no name");
    if (!in->datatype[0])
        return ct_api_fail(err, 400, "invalid_input", "input '%s': datatype is missing; send \"datatype\": \"FP32\" (or FP16, BF16, FP64)",
                           in->name);
    if (ct_dtype_from_oip(in->datatype, &in->dtype) != 0)
        return ct_api_fail(err, 415, "unsupported_datatype", "input '%s': datatype '%s' is not supported; use FP32, FP16, BF16 or FP64", in->name,
                           in->datatype);
    if (!have_shape)
        return ct_api_fail(err, 400, "invalid_input", "input '%s': shape is missing", in->name);
    int64_t want = ct_shape_elements(&in->shape);
    if (want < 0 || (limits->max_elements > 0 && want > limits->max_elements))
        return ct_api_fail(err, 413, "too_many_elements", "input '%s': more elements than the limit of %lld", in->name, (long long)limits->max_elements);
    if (have_data && *binary_size >= 0)
        return ct_api_fail(err, 400, "invalid_input", "input '%s': both data and binary_data_size", in->name);
    if (!have_data && *binary_size < 0)
        return ct_api_fail(err, 400, "invalid_input", "input '%s': no data (and no binary_data_size)", in->name);
    if (have_data && count != want)
        return ct_api_fail(err, 400, "invalid_input", "input '%s': %lld values for shape of %lld elements", in->name, (long long)count, (long long)want);
    if (have_data) /* JSON numbers of an FP16 or BF16 input: each the nearest value of its datatype */
        ct_f32_round_to(in->dtype, in->data, count);
    return 0;
}

/* Takes an input's bytes from the binary section: FP32 used in place when 4-byte aligned
 * (copied once when not), FP16, BF16 and FP64 converted. */
static int take_binary(ct_oip_input *in, char *bin, size_t bin_len, size_t *offset, long long size, ct_api_error *err)
{
    int64_t n = ct_shape_elements(&in->shape);
    size_t elem = ct_dtype_size(in->dtype);
    int64_t need = ct_shape_bytes(&in->shape, elem);
    if (need < 0 || size != need)
        return ct_api_fail(err, 400, "invalid_input", "input '%s': binary_data_size %lld, but shape and %s need %lld bytes", in->name, size,
                           in->datatype, (long long)need);
    if ((uint64_t)size > bin_len - *offset)
        return ct_api_fail(err, 400, "invalid_input", "input '%s': the body ends before its %lld binary bytes", in->name, size);
    char *src = bin + *offset;
    *offset += (size_t)size;
    if (elem == 4 && (uintptr_t)src % sizeof(float) == 0) { /* used where it lies */
        in->data = (float *)(void *)src;
        in->owned = 0;
        return 0;
    }
    in->data = malloc((size_t)ct_shape_bytes(&in->shape, sizeof(float)) + 1); /* need fits, so this does */
    if (!in->data)
        return ct_api_fail(err, 503, "out_of_memory", "out of memory");
    in->owned = 1;
    ct_dtype_to_f32(in->dtype, src, in->data, n); /* misaligned FP32: one copy */
    return 0;
}

/* The members of an infer request's JSON. */
typedef struct request_ctx {
    ct_oip_request *req;
    const ct_api_limits *limits;
    long long *sizes;   /* binary_data_size per input */
    unsigned seen;      /* keys that may appear once */
} request_ctx;

static int input_element(ct_json_scan *s, void *ctx, ct_api_error *err)
{
    request_ctx *c = ctx;
    ct_oip_request *req = c->req;
    if (req->ninputs == CT_OIP_MAX_INPUTS)
        return ct_api_fail(err, 400, "invalid_input", "more than %d inputs", CT_OIP_MAX_INPUTS);
    ct_oip_input *in = &req->inputs[req->ninputs];
    long long *size = &c->sizes[req->ninputs];
    req->ninputs++; /* counted before parsing, so that a half-read input is freed too */
    return parse_input(s, c->limits, in, size, err);
}

static int request_member(ct_json_scan *s, const char *key, void *ctx, ct_api_error *err)
{
    request_ctx *c = ctx;
    ct_oip_request *req = c->req;
    static const char *const once[] = {"id", "parameters", "inputs", "outputs"};
    for (int k = 0; k < 4; k++) {
        if (strcmp(key, once[k]) != 0)
            continue;
        if (c->seen & (1u << k))
            return ct_api_fail(err, 400, "invalid_json", "%s: duplicate key", key);
        c->seen |= 1u << k;
    }
    if (strcmp(key, "id") == 0) {
        req->has_id = 1;
        return ct_scan_string(s, req->id, sizeof req->id, err);
    }
    if (strcmp(key, "parameters") == 0) {
        if (!(req->parameters = span_json(s, "parameters", err)))
            return -1;
        if (!json_is_object(req->parameters))
            return ct_api_fail(err, 400, "invalid_parameter", "parameters must be an object");
        if (json_is_true(json_object_get(req->parameters, "binary_data_output")))
            req->binary_output = 1;
        return 0;
    }
    if (strcmp(key, "inputs") == 0) {
        if (ct_scan_peek(s) != '[')
            return ct_scan_error(s, "expected '['", err);
        return ct_scan_list(s, input_element, c, err) < 0 ? -1 : 0;
    }
    if (strcmp(key, "outputs") == 0) {
        json_t *outs = span_json(s, "outputs", err);
        if (!outs)
            return -1;
        size_t i;
        json_t *o;
        req->output_requested = 0;
        json_array_foreach(outs, i, o) {
            const char *name = json_string_value(json_object_get(o, "name"));
            if (!name || strcmp(name, "output") != 0) {
                /* the message copies the name before outs (which owns it) goes */
                ct_api_fail(err, 400, "invalid_output", "unexpected inference output '%.64s'; the only output is 'output'", name ? name : "");
                json_decref(outs);
                return -1;
            }
            req->output_requested = 1;
            if (json_is_true(json_object_get(json_object_get(o, "parameters"), "binary_data")))
                req->binary_output = 1;
        }
        json_decref(outs);
        return 0;
    }
    const char *from, *to;
    return ct_scan_skip_value(s, &from, &to, err);
}

int ct_oip_parse(char *body, size_t len, long long header_len, const ct_api_limits *limits, ct_oip_request *req, ct_api_error *err)
{
    memset(req, 0, sizeof *req);
    req->output_requested = 1;
    size_t json_len = header_len >= 0 ? (size_t)header_len : len;
    if (header_len >= 0 && (size_t)header_len > len)
        return ct_api_fail(err, 400, "invalid_header", "Inference-Header-Content-Length %lld is larger than the body (%zu bytes)", header_len, len);
    ct_json_scan s = {.start = body, .p = body, .end = body + json_len, .max_depth = limits->max_json_depth > 0 ? limits->max_json_depth : 64};
    long long sizes[CT_OIP_MAX_INPUTS];
    request_ctx c = {req, limits, sizes, 0};
    if (ct_scan_object(&s, request_member, &c, err) != 0)
        goto fail;
    if (ct_scan_end(&s, err) != 0)
        goto fail;
    size_t offset = 0;
    for (int i = 0; i < req->ninputs; i++) {
        if (sizes[i] < 0)
            continue;
        if (header_len < 0) {
            ct_api_fail(err, 400, "invalid_input", "input '%s': binary_data_size without an Inference-Header-Content-Length header", req->inputs[i].name);
            goto fail;
        }
        if (take_binary(&req->inputs[i], body + json_len, len - json_len, &offset, sizes[i], err) != 0)
            goto fail;
    }
    if (header_len >= 0 && offset != len - json_len) {
        ct_api_fail(err, 400, "invalid_input", "%zu bytes after the JSON header are not claimed by any input", len - json_len - offset);
        goto fail;
    }
    return 0;
fail:
    ct_oip_request_free(req);
    return -1;
}

static const char *const protocol_keys[] = {"binary_data_output", "priority", "timeout", "sequence_id", "sequence_start", "sequence_end"};

int ct_oip_params(const ct_oip_request *req, int spatial_dims, ct_params *params, ct_api_error *err)
{
    json_t *config = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(req->parameters, key, v) {
        int skip = 0;
        for (size_t i = 0; i < sizeof protocol_keys / sizeof protocol_keys[0]; i++)
            skip |= strcmp(key, protocol_keys[i]) == 0;
        if (skip)
            continue;
        json_t *value = NULL;
        if (json_is_string(v)) /* "[2, 1]" holds a list; "SAME_UPPER" is itself the value */
            value = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
        json_object_set_new(config, key, value ? value : json_incref(v));
    }
    char *text = json_dumps(config, JSON_COMPACT);
    json_decref(config);
    int rc = text ? ct_json_parse_config(text, strlen(text), spatial_dims, params, err) : ct_api_fail(err, 503, "out_of_memory", "out of memory");
    free(text);
    return rc;
}

int ct_oip_write_response_head(const char *model, const char *version, const ct_oip_request *req, const ct_tensor *out, int binary,
                               ct_pieces *json)
{
    json_t *head = json_pack("{s:s,s:s}", "model_name", model, "model_version", version);
    if (req->has_id)
        json_object_set_new(head, "id", json_string(req->id));
    char *text = json_dumps(head, JSON_COMPACT);
    json_decref(head);
    if (!text)
        return -1;
    /* {"model_name":...,"outputs":[{"name":"output","datatype":"FP32","shape":[..],"data":[..]}]} */
    size_t n = strlen(text);
    int rc = ct_pieces_append(json, text, n - 1); /* without the closing brace */
    free(text);
    char shape[256];
    size_t used = 0;
    for (int i = 0; i < out->shape.rank; i++)
        used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%lld", i ? "," : "", (long long)out->shape.dims[i]);
    char part[512];
    const char *datatype = ct_dtype_oip_name(out->dtype);
    int64_t bytes = ct_shape_bytes(&out->shape, ct_dtype_size(out->dtype));
    if (!req->output_requested)
        snprintf(part, sizeof part, ",\"outputs\":[]}");
    else if (binary)
        snprintf(part, sizeof part, ",\"outputs\":[{\"name\":\"output\",\"datatype\":\"%s\",\"shape\":[%s],\"parameters\":{\"binary_data_size\":%lld}}]}",
                 datatype, shape, (long long)bytes);
    else
        snprintf(part, sizeof part, ",\"outputs\":[{\"name\":\"output\",\"datatype\":\"%s\",\"shape\":[%s],\"data\":[", datatype, shape);
    if (rc != 0 || ct_pieces_append(json, part, strlen(part)) != 0)
        return -1;
    return req->output_requested && !binary;
}

int ct_oip_write_response(const char *model, const char *version, const ct_oip_request *req, const ct_tensor *out,
                          int binary, int nthreads, ct_pieces *json)
{
    int numbers = ct_oip_write_response_head(model, version, req, out, binary, json);
    if (numbers <= 0)
        return numbers;
    int64_t nonfinite;
    if (ct_json_append_numbers(json, out->data, ct_shape_elements(&out->shape), &nonfinite, nthreads) != 0)
        return -1;
    return ct_pieces_append(json, CT_OIP_DATA_TAIL, strlen(CT_OIP_DATA_TAIL));
}
