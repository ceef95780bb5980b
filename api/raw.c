/* raw.c - raw tensor bodies: little-endian float32 bytes whose shape comes in the
 * X-Tensor-Shape header (the /v1 layer runs and the Open Inference Protocol's raw binary
 * request share this one parser), and the decimal length headers beside them. The rule:
 * the declared shape's byte size, computed with checked arithmetic, must equal the body's
 * length exactly before anything reads the body as a tensor. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int ct_parse_shape_header(const char *value, ct_shape *shape, ct_api_error *err)
{
    shape->rank = 0;
    const char *p = value;
    if (!p || !*p)
        return ct_api_fail(err, 400, "missing_shape", "X-Tensor-Shape: the header is required for a raw float32 body (e.g. \"1,2,3,3\")");
    for (;;) {
        while (*p == ' ')
            p++;
        char *end;
        errno = 0;
        long long v = *p >= '0' && *p <= '9' ? strtoll(p, &end, 10) : -1;
        if (v < 0 || end == p || errno == ERANGE)
            return ct_api_fail(err, 400, "invalid_shape", "X-Tensor-Shape: \"%.64s\" must be comma-separated non-negative integers", value);
        if (shape->rank == CT_MAX_RANK)
            return ct_api_fail(err, 400, "invalid_rank", "X-Tensor-Shape: at most %d dims are supported", CT_MAX_RANK);
        shape->dims[shape->rank++] = v;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return 0;
        if (*p != ',')
            return ct_api_fail(err, 400, "invalid_shape", "X-Tensor-Shape: \"%.64s\" must be comma-separated non-negative integers", value);
        p++;
    }
}

int ct_parse_length_header(const char *name, const char *value, long long *out, ct_api_error *err)
{
    const char *p = value;
    long long v = 0;
    if (!p || !*p)
        return ct_api_fail(err, 400, "invalid_header", "%s: the header is empty; send a byte count", name);
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
            return ct_api_fail(err, 400, "invalid_header", "%s: \"%.32s\" is not a byte count (a non-negative decimal integer)", name, value);
    }
    *out = v;
    return 0;
}

int ct_raw_take_tensor(ct_buffer *body, const char *shape_header, const char *dtype_header, const ct_api_limits *limits,
                       const char *part, ct_tensor *out, ct_api_error *err)
{
    ct_shape shape;
    ct_dtype dtype = CT_DTYPE_FLOAT32;
    if (dtype_header && (ct_dtype_from_name(dtype_header, &dtype) != 0 || dtype == CT_DTYPE_FLOAT64))
        return ct_api_fail(err, 415, "unsupported_dtype", "X-Tensor-Dtype: '%.32s' is not supported; send float32, float16 or bfloat16",
                           dtype_header);
    if (ct_parse_shape_header(shape_header, &shape, err) != 0)
        return -1;
    int64_t n = ct_shape_elements(&shape);
    if (n < 0 || (limits->max_elements > 0 && n > limits->max_elements))
        return ct_api_fail(err, 413, "too_many_elements", "%s: X-Tensor-Shape declares more elements than the limit of %lld (--max-elements)",
                           part, (long long)limits->max_elements);
    int64_t bytes = ct_shape_bytes(&shape, ct_dtype_size(dtype));
    if (bytes < 0 || (uint64_t)bytes != body->len)
        return ct_api_fail(err, 400, "invalid_tensor", "%s: the body has %zu bytes but X-Tensor-Shape declares %lld %s (%lld bytes)", part,
                           body->len, (long long)n, ct_dtype_name(dtype), (long long)bytes);
    out->shape = shape;
    out->dtype = dtype;
    if (dtype != CT_DTYPE_FLOAT32) { /* widened into a new buffer; n * 4 bytes fit, as n * 2 did */
        float *wide = malloc((size_t)n * sizeof(float) + 1);
        if (!wide)
            return ct_api_fail(err, 503, "out_of_memory", "%s: out of memory", part);
        ct_dtype_to_f32(dtype, body->data, wide, n);
        ct_buffer_free(body);
        out->data = wide;
        return 0;
    }
    /* The body is malloc'd, so aligned for floats: it becomes the tensor without a copy. */
    out->data = (float *)(void *)body->data;
    *body = (ct_buffer){0};
    if (!out->data && !(out->data = malloc(1)))
        return ct_api_fail(err, 503, "out_of_memory", "%s: out of memory", part);
    return 0;
}
