/* json_request.c - a JSON request body to tensors and layer parameters (jansson).
 *
 * Tensors are {"shape": [...], "data": [flat numbers]} or nested arrays as tensor.tolist()
 * gives. Hyperparameters use PyTorch's names (stride, padding, output_padding, dilation,
 * groups, output_size) or ONNX's (strides, pads, auto_pad, output_shape, dilations, group,
 * kernel_shape, output_padding); an int means every dim, a list gives one per dim. Mixing
 * the two families is refused, since their padding rules differ. The top level and the
 * tensors are read by json_scan.c (numbers straight into floats: the hot path); each small
 * hyperparameter value is handed to jansson. */
#include <jansson.h>
#include <string.h>

#include "api.h"
#include "decimal.h"
#include "json_scan.h"

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
    if (json_is_array(v))
        return ct_api_fail(err, 400, "invalid_parameter", "%s: got a list of %zu values for %d spatial dims; give an integer or a list of %d%s", field,
                           len, n, n, allow_full ? " (or of all dims, batch and channels in front)" : "");
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
            return ct_api_fail(err, 400, "invalid_parameter", "pads: got %s%zu values; give a list of %d integers [begin per dim..., end per dim...]",
                               json_is_array(v) ? "a list of " : "", json_is_array(v) ? json_array_size(v) : (size_t)0, 2 * nd);
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

/* Applies n hyperparameters (keys[i], values[i]): unknown names and a mix of the PyTorch
 * and ONNX families are refused before anything is applied. */
static int apply_hparams(const char *const *keys, json_t *const *values, int n, int nd, ct_params *p, ct_api_error *err)
{
    const char *torch_key = NULL, *onnx_key = NULL;
    for (int i = 0; i < n; i++) {
        const struct hparam_key *k = find_hparam(keys[i]);
        if (!k)
            return ct_api_fail(err, 400, "unknown_field",
                               "%s: unknown field; expected input, weight, bias and PyTorch (stride, padding, output_padding, dilation, groups, output_size) or ONNX (strides, pads, auto_pad, output_shape, dilations, group, kernel_shape, output_padding) hyperparameters",
                               keys[i]);
        if (k->family == FAMILY_TORCH)
            torch_key = k->name;
        if (k->family == FAMILY_ONNX)
            onnx_key = k->name;
    }
    if (torch_key && onnx_key)
        return ct_api_fail(err, 400, "conflicting_parameters",
                           "%s (PyTorch) and %s (ONNX) cannot be mixed: their padding rules differ; use one family", torch_key, onnx_key);
    p->onnx_names = onnx_key != NULL;
    for (int i = 0; i < n; i++)
        if (apply_hparam(keys[i], values[i], nd, p, err) != 0)
            return -1;
    return 0;
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

#define MAX_TOP_KEYS 32

/* The members of a /convtranspose body: tensors are read by the scanner, each other value
 * (a hyperparameter) is kept as a jansson value and applied once the weight's rank is known. */
typedef struct body_ctx {
    ct_request *req;
    const ct_api_limits *limits;
    int need_input;
    int have_input, have_weight, have_bias;
    char keys[MAX_TOP_KEYS][64];
    const char *key_ptrs[MAX_TOP_KEYS];
    json_t *values[MAX_TOP_KEYS];
    int nkeys;
} body_ctx;

static int body_member(ct_json_scan *s, const char *key, void *ctx, ct_api_error *err)
{
    body_ctx *b = ctx;
    ct_request *req = b->req;
    int *seen = strcmp(key, "input") == 0 ? &b->have_input : strcmp(key, "weight") == 0 ? &b->have_weight
              : strcmp(key, "bias") == 0 ? &b->have_bias : NULL;
    for (int i = 0; i < b->nkeys && !seen; i++)
        if (strcmp(b->keys[i], key) == 0)
            return ct_api_fail(err, 400, "invalid_json", "%s: duplicate key", key);
    if (seen && *seen)
        return ct_api_fail(err, 400, "invalid_json", "%s: duplicate key", key);
    if (seen == &b->have_input) {
        if (!b->need_input)
            return ct_api_fail(err, 400, "unknown_field", "input: not allowed here (send the input to the layer's /convtranspose route)");
        if (ct_scan_tensor(s, "input", b->limits->max_elements, &req->input, err) != 0)
            return -1;
        b->have_input = req->has_input = 1;
        return 0;
    }
    if (seen == &b->have_weight) {
        b->have_weight = 1;
        return ct_scan_tensor(s, "weight", b->limits->max_elements, &req->weight, err);
    }
    const char *from, *to;
    if (seen == &b->have_bias) {
        b->have_bias = 1;
        if (ct_scan_peek(s) != 'n')
            return ct_scan_tensor(s, "bias", b->limits->max_elements, &req->bias, err);
        if (ct_scan_skip_value(s, &from, &to, err) != 0)
            return -1;
        if (to - from != 4 || memcmp(from, "null", 4) != 0)
            return ct_api_fail(err, 400, "invalid_tensor", "bias: must be null, {\"shape\": [...], \"data\": [...]} or a list");
        return 0;
    }
    if (b->nkeys == MAX_TOP_KEYS)
        return ct_api_fail(err, 400, "unknown_field", "body: too many fields");
    if (ct_scan_skip_value(s, &from, &to, err) != 0)
        return -1;
    json_error_t je;
    const char *endp;
    int64_t iv;
    json_t *v;
    if (ct_parse_int64(from, to, &iv, &endp) == 0 && endp == to)
        v = json_integer(iv); /* the common case, without a parser */
    else if (!(v = json_loadb(from, (size_t)(to - from), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je)))
        return ct_api_fail(err, 400, "invalid_json", "%s: invalid JSON value: %s", key, je.text);
    b->values[b->nkeys] = v;
    snprintf(b->keys[b->nkeys], sizeof b->keys[b->nkeys], "%s", key);
    b->key_ptrs[b->nkeys] = b->keys[b->nkeys];
    b->nkeys++;
    return 0;
}

int ct_json_parse_request(const char *body, size_t len, const ct_api_limits *limits,
                          int need_input, ct_request *req, ct_api_error *err)
{
    memset(req, 0, sizeof *req);
    ct_json_scan s = {.start = body, .p = body, .end = body + len, .max_depth = limits->max_json_depth > 0 ? limits->max_json_depth : 64};
    body_ctx b = {.req = req, .limits = limits, .need_input = need_input};
    int rc = -1;
    char c = ct_scan_peek(&s);
    if (c != '{')
        return c ? ct_api_fail(err, 400, "invalid_json", "body: must be a JSON object")
                 : ct_api_fail(err, 400, "invalid_json", "body: empty; expected a JSON object");
    if (ct_scan_object(&s, body_member, &b, err) != 0)
        goto done;
    if (ct_scan_end(&s, err) != 0)
        goto done;
    if (need_input && !b.have_input) {
        ct_api_fail(err, 400, "missing_field", "input: required field is missing");
        goto done;
    }
    if (!b.have_weight) {
        ct_api_fail(err, 400, "missing_field", "weight: required field is missing");
        goto done;
    }
    int nd = req->weight.shape.rank - 2;
    if (nd < 1 || nd > CT_MAX_SPATIAL) {
        ct_api_fail(err, 400, "invalid_rank",
                    "weight: must have 3, 4 or 5 dims [in_channels, out_channels/groups, *kernel] for a 1-d, 2-d or 3-d layer; got %d dims",
                    req->weight.shape.rank);
        goto done;
    }
    if (req->bias.data && req->bias.shape.rank != 1) {
        ct_api_fail(err, 400, "bias_shape_mismatch", "bias: must be 1-dimensional, got %d dims", req->bias.shape.rank);
        goto done;
    }
    ct_params_init(&req->params, nd);
    if (apply_hparams(b.key_ptrs, b.values, b.nkeys, nd, &req->params, err) != 0)
        goto done;
    req->params.max_output_elements = limits->max_output_elements;
    req->params.max_flops = limits->max_flops;
    rc = 0;
done:
    for (int i = 0; i < b.nkeys; i++)
        json_decref(b.values[i]);
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
    const char *keys[MAX_TOP_KEYS];
    json_t *values[MAX_TOP_KEYS];
    int n = 0, rc = -1;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (n == MAX_TOP_KEYS) {
            ct_api_fail(err, 400, "unknown_field", "config: too many fields");
            goto done;
        }
        keys[n] = key;
        values[n++] = v;
    }
    rc = apply_hparams(keys, values, n, spatial_dims, params, err);
done:
    json_decref(root);
    return rc;
}

/* Appends "name": v (an int when every dim agrees, else a list). */
static void put_dims(ct_buffer *b, const char *name, const int64_t *v, int n, int as_list)
{
    char tmp[64];
    int same = 1;
    for (int i = 1; i < n; i++)
        same &= v[i] == v[0];
    snprintf(tmp, sizeof tmp, "%s\"%s\": ", b->len > 1 ? ", " : "", name);
    ct_buffer_append(b, tmp, strlen(tmp));
    if (same && !as_list) {
        snprintf(tmp, sizeof tmp, "%lld", (long long)v[0]);
        ct_buffer_append(b, tmp, strlen(tmp));
        return;
    }
    ct_buffer_append(b, "[", 1);
    for (int i = 0; i < n; i++) {
        snprintf(tmp, sizeof tmp, "%s%lld", i ? ", " : "", (long long)v[i]);
        ct_buffer_append(b, tmp, strlen(tmp));
    }
    ct_buffer_append(b, "]", 1);
}

int ct_params_to_json(const ct_params *p, ct_buffer *out)
{
    const int nd = p->spatial_dims;
    int onnx = p->auto_pad != CT_AUTO_PAD_NOTSET || p->output_size_rule == CT_OUTPUT_SIZE_ONNX || p->has_kernel_shape;
    for (int i = 0; i < nd; i++)
        onnx |= p->pads_begin[i] != p->pads_end[i];
    ct_buffer b = {0};
    ct_buffer_append(&b, "{", 1);
    if (onnx) {
        static const char *const auto_pads[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
        int64_t pads[2 * CT_MAX_SPATIAL];
        memcpy(pads, p->pads_begin, sizeof(int64_t) * (size_t)nd);
        memcpy(pads + nd, p->pads_end, sizeof(int64_t) * (size_t)nd);
        put_dims(&b, "strides", p->stride, nd, 1);
        put_dims(&b, "pads", pads, 2 * nd, 1);
        put_dims(&b, "dilations", p->dilation, nd, 1);
        put_dims(&b, "output_padding", p->output_padding, nd, 1);
        put_dims(&b, "group", &p->groups, 1, 0);
        char tmp[64];
        snprintf(tmp, sizeof tmp, ", \"auto_pad\": \"%s\"", auto_pads[p->auto_pad & 3]);
        ct_buffer_append(&b, tmp, strlen(tmp));
        if (p->output_size_rule == CT_OUTPUT_SIZE_ONNX)
            put_dims(&b, "output_shape", p->output_size, nd, 1);
        if (p->has_kernel_shape)
            put_dims(&b, "kernel_shape", p->kernel_shape, nd, 1);
    } else {
        put_dims(&b, "stride", p->stride, nd, 0);
        put_dims(&b, "padding", p->pads_begin, nd, 0);
        put_dims(&b, "output_padding", p->output_padding, nd, 0);
        put_dims(&b, "dilation", p->dilation, nd, 0);
        put_dims(&b, "groups", &p->groups, 1, 0);
        if (p->output_size_rule == CT_OUTPUT_SIZE_TORCH)
            put_dims(&b, "output_size", p->output_size, nd, 1);
    }
    int rc = ct_buffer_append(&b, "}", 1) == 0 && b.data ? ct_buffer_append(out, b.data, b.len) : -1;
    ct_buffer_free(&b);
    return rc;
}

/* The one member of {"input": T}. */
typedef struct input_ctx {
    ct_tensor *input;
    int64_t max_elements;
} input_ctx;

static int input_member(ct_json_scan *s, const char *key, void *ctx, ct_api_error *err)
{
    input_ctx *c = ctx;
    if (strcmp(key, "input") != 0 || c->input->data)
        return ct_api_fail(err, 400, "unknown_field", "%s: %s; a registered layer takes only \"input\"", key,
                           c->input->data ? "duplicate key" : "unknown field");
    return ct_scan_tensor(s, "input", c->max_elements, c->input, err);
}

int ct_json_parse_input(const char *body, size_t len, const ct_api_limits *limits, ct_tensor *input, ct_api_error *err)
{
    ct_json_scan s = {.start = body, .p = body, .end = body + len, .max_depth = limits->max_json_depth > 0 ? limits->max_json_depth : 64};
    input->data = NULL;
    if (ct_scan_peek(&s) != '{')
        return ct_api_fail(err, 400, "invalid_json", "body: must be a JSON object {\"input\": ...}");
    input_ctx c = {input, limits->max_elements};
    if (ct_scan_object(&s, input_member, &c, err) != 0 || ct_scan_end(&s, err) != 0) {
        ct_tensor_free(input);
        return -1;
    }
    if (!input->data)
        return ct_api_fail(err, 400, "missing_field", "input: required field is missing");
    return 0;
}
