/* json_request.c - a JSON request body to tensors and layer parameters (jansson).
 *
 * Tensors are {"shape": [...], "data": [flat numbers]} or nested arrays as tensor.tolist()
 * gives. Hyperparameters use PyTorch's names (stride, padding, output_padding, dilation,
 * groups, output_size) or ONNX's (strides, pads, auto_pad, output_shape, dilations, group,
 * kernel_shape, output_padding); an int means every dim, a list gives one per dim. Mixing
 * the two families is refused, since their padding rules differ. */
#include <jansson.h>
#include <string.h>

#include "api.h"

enum family { FAMILY_SHARED, FAMILY_TORCH, FAMILY_ONNX };

static const struct hparam_key {
    const char *name;
    enum family family;
} hparam_keys[] = {
    {"stride", FAMILY_TORCH},      {"padding", FAMILY_TORCH},   {"dilation", FAMILY_TORCH},
    {"groups", FAMILY_TORCH},      {"output_size", FAMILY_TORCH}, {"strides", FAMILY_ONNX},
    {"pads", FAMILY_ONNX},         {"auto_pad", FAMILY_ONNX},   {"output_shape", FAMILY_ONNX},
    {"dilations", FAMILY_ONNX},    {"group", FAMILY_ONNX},      {"kernel_shape", FAMILY_ONNX},
    {"output_padding", FAMILY_SHARED},
};

static const struct hparam_key *find_hparam(const char *key)
{
    for (size_t i = 0; i < sizeof hparam_keys / sizeof hparam_keys[0]; i++)
        if (strcmp(hparam_keys[i].name, key) == 0)
            return &hparam_keys[i];
    return NULL;
}

/* Reads an int or a list of n ints (or n + 2 when allow_full: PyTorch's output_size may
 * name the batch and channel dims, which are ignored) into out[0..n). */
static int read_per_dim(json_t *v, const char *field, int n, int allow_full, int64_t *out,
                        ct_api_error *err)
{
    if (json_is_integer(v)) {
        for (int i = 0; i < n; i++)
            out[i] = json_integer_value(v);
        return 0;
    }
    size_t len = json_array_size(v);
    if (json_is_array(v) && (len == (size_t)n || (allow_full && len == (size_t)n + 2))) {
        size_t skip = len - (size_t)n;
        for (int i = 0; i < n; i++) {
            json_t *e = json_array_get(v, skip + (size_t)i);
            if (!json_is_integer(e))
                return ct_api_fail(err, 400, "invalid_parameter", "%s[%d]: must be an integer", field, i);
            out[i] = json_integer_value(e);
        }
        return 0;
    }
    return ct_api_fail(err, 400, "invalid_parameter", "%s: must be an integer or a list of %d integers (one per spatial dim)%s", field, n,
                       allow_full ? ", optionally with the batch and channel dims in front" : "");
}

/* Applies one hyperparameter. */
static int apply_hparam(const char *key, json_t *v, int nd, ct_params *p, ct_api_error *err)
{
    if (strcmp(key, "stride") == 0 || strcmp(key, "strides") == 0)
        return read_per_dim(v, key, nd, 0, p->stride, err);
    if (strcmp(key, "dilation") == 0 || strcmp(key, "dilations") == 0)
        return read_per_dim(v, key, nd, 0, p->dilation, err);
    if (strcmp(key, "output_padding") == 0)
        return read_per_dim(v, key, nd, 0, p->output_padding, err);
    if (strcmp(key, "padding") == 0) {
        if (json_is_string(v))
            return ct_api_fail(err, 400, "invalid_parameter",
                               "padding: string padding is not supported for transposed convolutions (PyTorch: padding='same' is not supported for ConvTranspose); use ONNX auto_pad");
        if (read_per_dim(v, key, nd, 0, p->pads_begin, err) != 0)
            return -1;
        memcpy(p->pads_end, p->pads_begin, sizeof p->pads_end);
        return 0;
    }
    if (strcmp(key, "pads") == 0) {
        if (json_is_integer(v)) {
            for (int i = 0; i < nd; i++)
                p->pads_begin[i] = p->pads_end[i] = json_integer_value(v);
            return 0;
        }
        if (!json_is_array(v) || json_array_size(v) != (size_t)(2 * nd))
            return ct_api_fail(err, 400, "invalid_parameter", "pads: must be a list of %d integers [begin per dim..., end per dim...]", 2 * nd);
        for (int i = 0; i < 2 * nd; i++) {
            json_t *e = json_array_get(v, (size_t)i);
            if (!json_is_integer(e))
                return ct_api_fail(err, 400, "invalid_parameter", "pads[%d]: must be an integer", i);
            if (i < nd)
                p->pads_begin[i] = json_integer_value(e);
            else
                p->pads_end[i - nd] = json_integer_value(e);
        }
        return 0;
    }
    if (strcmp(key, "groups") == 0 || strcmp(key, "group") == 0) {
        if (!json_is_integer(v))
            return ct_api_fail(err, 400, "invalid_parameter", "%s: must be an integer", key);
        p->groups = json_integer_value(v);
        return 0;
    }
    if (strcmp(key, "output_size") == 0 || strcmp(key, "output_shape") == 0) {
        if (json_is_null(v))
            return 0;
        p->output_size_rule = strcmp(key, "output_size") == 0 ? CT_OUTPUT_SIZE_TORCH : CT_OUTPUT_SIZE_ONNX;
        return read_per_dim(v, key, nd, 1, p->output_size, err);
    }
    if (strcmp(key, "kernel_shape") == 0) {
        p->has_kernel_shape = 1;
        return read_per_dim(v, key, nd, 0, p->kernel_shape, err);
    }
    if (strcmp(key, "auto_pad") == 0) {
        static const char *const names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
        for (int i = 0; json_is_string(v) && i < 4; i++)
            if (strcmp(json_string_value(v), names[i]) == 0) {
                p->auto_pad = (ct_auto_pad)i;
                return 0;
            }
        return ct_api_fail(err, 400, "invalid_parameter", "auto_pad: must be one of \"NOTSET\", \"SAME_UPPER\", \"SAME_LOWER\", \"VALID\"");
    }
    return ct_api_fail(err, 400, "unknown_field", "%s: unknown field", key);
}

/* Applies every hyperparameter key of obj; keys for which skip() is true are left alone. */
static int apply_hparams(json_t *obj, int nd, ct_params *p, int (*skip)(const char *), ct_api_error *err)
{
    const char *key, *torch_key = NULL, *onnx_key = NULL;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (skip && skip(key))
            continue;
        const struct hparam_key *k = find_hparam(key);
        if (!k)
            return ct_api_fail(err, 400, "unknown_field",
                               "%s: unknown field; expected input, weight, bias and PyTorch (stride, padding, output_padding, dilation, groups, output_size) or ONNX (strides, pads, auto_pad, output_shape, dilations, group, kernel_shape, output_padding) hyperparameters",
                               key);
        if (k->family == FAMILY_TORCH)
            torch_key = k->name;
        if (k->family == FAMILY_ONNX)
            onnx_key = k->name;
    }
    if (torch_key && onnx_key)
        return ct_api_fail(err, 400, "conflicting_parameters",
                           "%s (PyTorch) and %s (ONNX) cannot be mixed: their padding rules differ; use one family", torch_key, onnx_key);
    json_object_foreach(obj, key, v) {
        if (skip && skip(key))
            continue;
        if (apply_hparam(key, v, nd, p, err) != 0)
            return -1;
    }
    return 0;
}

/* Nested arrays: the shape is read along the first elements, then every element is checked
 * against it while the data is copied. */
static int nested_shape(json_t *v, const char *field, int max_depth, ct_shape *shape, ct_api_error *err)
{
    shape->rank = 0;
    while (json_is_array(v)) {
        if (shape->rank == CT_MAX_RANK || shape->rank >= max_depth)
            return ct_api_fail(err, 400, "invalid_rank", "%s: nested deeper than %d levels", field,
                               CT_MAX_RANK < max_depth ? CT_MAX_RANK : max_depth);
        shape->dims[shape->rank++] = (int64_t)json_array_size(v);
        if (json_array_size(v) == 0)
            break;
        v = json_array_get(v, 0);
    }
    return 0;
}

static int copy_nested(json_t *v, const char *field, const ct_shape *shape, int depth, float **dst, ct_api_error *err)
{
    if (depth == shape->rank) {
        if (!json_is_number(v))
            return ct_api_fail(err, 400, "invalid_tensor", "%s: expected a number at nesting depth %d, got %s", field, depth,
                               json_is_array(v) ? "an array (ragged nesting)" : "a non-number");
        *(*dst)++ = (float)json_number_value(v);
        return 0;
    }
    if (!json_is_array(v) || (int64_t)json_array_size(v) != shape->dims[depth])
        return ct_api_fail(err, 400, "invalid_tensor", "%s: ragged nested list: dimension %d should have %lld elements everywhere", field, depth,
                           (long long)shape->dims[depth]);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (copy_nested(json_array_get(v, i), field, shape, depth + 1, dst, err) != 0)
            return -1;
    return 0;
}

static int check_elements(const ct_shape *shape, const char *field, const ct_api_limits *limits, int64_t *count, ct_api_error *err)
{
    *count = ct_shape_elements(shape);
    if (*count < 0 || (limits->max_elements > 0 && *count > limits->max_elements))
        return ct_api_fail(err, 413, "too_many_elements", "%s: the tensor has more elements than the limit of %lld", field,
                           (long long)limits->max_elements);
    return 0;
}

static int parse_tensor(json_t *v, const char *field, const ct_api_limits *limits, ct_tensor *t, ct_api_error *err)
{
    int64_t count;
    t->data = NULL;
    if (json_is_object(v)) {
        json_t *shape = json_object_get(v, "shape"), *data = json_object_get(v, "data");
        json_t *dtype = json_object_get(v, "dtype");
        if (dtype && !(json_is_string(dtype) && (strcmp(json_string_value(dtype), "float32") == 0 ||
                                                 strcmp(json_string_value(dtype), "float64") == 0)))
            return ct_api_fail(err, 415, "unsupported_dtype", "%s.dtype: only \"float32\" and \"float64\" are supported", field);
        if (!json_is_array(shape))
            return ct_api_fail(err, 400, "invalid_tensor", "%s.shape: must be a list of non-negative integers", field);
        if (json_array_size(shape) > CT_MAX_RANK)
            return ct_api_fail(err, 400, "invalid_rank", "%s.shape: at most %d dims are supported", field, CT_MAX_RANK);
        t->shape.rank = (int)json_array_size(shape);
        for (int i = 0; i < t->shape.rank; i++) {
            json_t *d = json_array_get(shape, (size_t)i);
            if (!json_is_integer(d) || json_integer_value(d) < 0)
                return ct_api_fail(err, 400, "invalid_tensor", "%s.shape[%d]: must be a non-negative integer", field, i);
            t->shape.dims[i] = json_integer_value(d);
        }
        if (check_elements(&t->shape, field, limits, &count, err) != 0)
            return -1;
        if (!json_is_array(data))
            return ct_api_fail(err, 400, "invalid_tensor", "%s.data: must be a flat list of numbers", field);
        if ((int64_t)json_array_size(data) != count)
            return ct_api_fail(err, 400, "invalid_tensor", "%s.data: has %zu numbers but shape needs %lld", field, json_array_size(data),
                               (long long)count);
        t->data = malloc(sizeof(float) * (size_t)(count ? count : 1));
        if (!t->data)
            return ct_api_fail(err, 503, "out_of_memory", "%s: out of memory", field);
        for (int64_t i = 0; i < count; i++) {
            json_t *e = json_array_get(data, (size_t)i);
            if (!json_is_number(e))
                return ct_api_fail(err, 400, "invalid_tensor", "%s.data[%lld]: must be a number", field, (long long)i);
            t->data[i] = (float)json_number_value(e);
        }
        return 0;
    }
    if (!json_is_array(v))
        return ct_api_fail(err, 400, "invalid_tensor", "%s: must be {\"shape\": [...], \"data\": [...]} or a nested list", field);
    if (nested_shape(v, field, limits->max_json_depth > 0 ? limits->max_json_depth : CT_MAX_RANK, &t->shape, err) != 0 ||
        check_elements(&t->shape, field, limits, &count, err) != 0)
        return -1;
    t->data = malloc(sizeof(float) * (size_t)(count ? count : 1));
    if (!t->data)
        return ct_api_fail(err, 503, "out_of_memory", "%s: out of memory", field);
    float *dst = t->data;
    return copy_nested(v, field, &t->shape, 0, &dst, err);
}

static int is_tensor_key(const char *key)
{
    return strcmp(key, "input") == 0 || strcmp(key, "weight") == 0 || strcmp(key, "bias") == 0;
}

static json_t *load_object(const char *body, size_t len, const char *what, ct_api_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        ct_api_fail(err, 400, "invalid_json", "%s: invalid JSON at line %d, column %d: %s", what, je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        ct_api_fail(err, 400, "invalid_json", "%s: must be a JSON object", what);
        return NULL;
    }
    return root;
}

int ct_json_parse_request(const char *body, size_t len, const ct_api_limits *limits,
                          int need_input, ct_request *req, ct_api_error *err)
{
    memset(req, 0, sizeof *req);
    json_t *root = load_object(body, len, "body", err);
    if (!root)
        return -1;
    int rc = -1;
    json_t *input = json_object_get(root, "input"), *weight = json_object_get(root, "weight");
    json_t *bias = json_object_get(root, "bias");
    if (need_input && !input) {
        ct_api_fail(err, 400, "missing_field", "input: required field is missing");
        goto done;
    }
    if (!need_input && input) {
        ct_api_fail(err, 400, "unknown_field", "input: not allowed here (send the input to the layer's /convtranspose route)");
        goto done;
    }
    if (!weight) {
        ct_api_fail(err, 400, "missing_field", "weight: required field is missing");
        goto done;
    }
    if (parse_tensor(weight, "weight", limits, &req->weight, err) != 0)
        goto done;
    int nd = req->weight.shape.rank - 2;
    if (nd < 1 || nd > CT_MAX_SPATIAL) {
        ct_api_fail(err, 400, "invalid_rank",
                    "weight: must have 3, 4 or 5 dims [in_channels, out_channels/groups, *kernel] for a 1-d, 2-d or 3-d layer; got %d dims",
                    req->weight.shape.rank);
        goto done;
    }
    ct_params_init(&req->params, nd);
    if (apply_hparams(root, nd, &req->params, is_tensor_key, err) != 0)
        goto done;
    if (input) {
        if (parse_tensor(input, "input", limits, &req->input, err) != 0)
            goto done;
        req->has_input = 1;
    }
    if (bias && !json_is_null(bias)) {
        if (parse_tensor(bias, "bias", limits, &req->bias, err) != 0)
            goto done;
        if (req->bias.shape.rank != 1) {
            ct_api_fail(err, 400, "bias_shape_mismatch", "bias: must be 1-dimensional, got %d dims", req->bias.shape.rank);
            goto done;
        }
    }
    req->params.max_output_elements = limits->max_output_elements;
    rc = 0;
done:
    json_decref(root);
    if (rc != 0)
        ct_request_free(req);
    return rc;
}

int ct_json_parse_config(const char *body, size_t len, int spatial_dims, ct_params *params,
                         ct_api_error *err)
{
    json_t *root = load_object(body, len, "config", err);
    if (!root)
        return -1;
    int rc = apply_hparams(root, spatial_dims, params, NULL, err);
    json_decref(root);
    return rc;
}
