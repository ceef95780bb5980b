/* npy.c - NumPy .npy files: reads float32/float64 little-endian C-order arrays (versions
 * 1.0, 2.0, 3.0) into fp32 tensors and writes float32 tensors as version 1.0. The header
 * is a Python dict literal; only the three keys NumPy writes are accepted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "decimal.h"

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Finds the value text after 'key': in the header dict. */
static const char *dict_value(const char *hdr, size_t len, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen + 2 < len; i++) {
        if ((hdr[i] == '\'' || hdr[i] == '"') && memcmp(hdr + i + 1, key, klen) == 0 && hdr[i + 1 + klen] == hdr[i]) {
            const char *p = hdr + i + klen + 2;
            while (p < hdr + len && (*p == ' ' || *p == ':'))
                p++;
            return p < hdr + len ? p : NULL; /* a key with no value before the end */
        }
    }
    return NULL;
}

int ct_npy_parse(const char *buf, size_t len, const ct_api_limits *limits, const char *part,
                 ct_tensor *out, ct_api_error *err)
{
    out->data = NULL;
    if (len < 10 || memcmp(buf, magic, sizeof magic) != 0)
        return ct_api_fail(err, 400, "invalid_npy", "%s: not a .npy file (the magic string \\x93NUMPY is missing)", part);
    unsigned major = (unsigned char)buf[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return ct_api_fail(err, 400, "invalid_npy", "%s: truncated .npy header", part);
        hlen = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8 | (size_t)(unsigned char)buf[10] << 16 |
               (size_t)(unsigned char)buf[11] << 24;
        start = 12;
    } else {
        return ct_api_fail(err, 400, "invalid_npy", "%s: .npy format version %u is not supported (1, 2 and 3 are)", part, major);
    }
    if (hlen > len - start)
        return ct_api_fail(err, 400, "invalid_npy", "%s: the .npy header (%zu bytes) runs past the end of the part", part, hlen);
    const char *hdr = buf + start;
    const char *descr = dict_value(hdr, hlen, "descr");
    const char *order = dict_value(hdr, hlen, "fortran_order");
    const char *shape_txt = dict_value(hdr, hlen, "shape");
    if (!descr || !order || !shape_txt)
        return ct_api_fail(err, 400, "invalid_npy", "%s: the .npy header lacks descr, fortran_order or shape", part);
    ct_dtype dtype;
    size_t rest = (size_t)(hdr + hlen - descr);
    if (rest >= 5 && (memcmp(descr + 1, "<f4", 3) == 0 || memcmp(descr + 1, "|f4", 3) == 0)) {
        dtype = CT_DTYPE_FLOAT32;
    } else if (rest >= 5 && memcmp(descr + 1, "<f8", 3) == 0) {
        dtype = CT_DTYPE_FLOAT64;
    } else if (rest >= 5 && memcmp(descr + 1, "<f2", 3) == 0) {
        dtype = CT_DTYPE_FLOAT16;
    } else {
        int n = 0;
        while ((size_t)n < rest && n < 12 && descr[n] != ',')
            n++;
        return ct_api_fail(err, 415, "unsupported_dtype",
                           "%s: dtype %.*s is not supported; send little-endian float32 ('<f4'), float16 ('<f2') or float64 ('<f8')", part, n,
                           descr);
    }
    const size_t elem = ct_dtype_size(dtype);
    if ((size_t)(hdr + hlen - order) < 5 || memcmp(order, "False", 5) != 0)
        return ct_api_fail(err, 400, "unsupported_order", "%s: Fortran-order arrays are not supported; send a C-order array (np.ascontiguousarray)", part);
    if (*shape_txt != '(')
        return ct_api_fail(err, 400, "invalid_npy", "%s: the .npy shape is not a tuple", part);
    ct_shape shape = {0};
    const char *p = shape_txt + 1, *end = hdr + hlen;
    while (p < end && *p != ')') {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p < end && *p == ')')
            break;
        const char *q;
        int64_t v;
        if (ct_parse_int64(p, end, &v, &q) != 0 || v < 0)
            return ct_api_fail(err, 400, "invalid_npy", "%s: the .npy shape is not a tuple of non-negative integers", part);
        if (shape.rank == CT_MAX_RANK)
            return ct_api_fail(err, 400, "invalid_rank", "%s: at most %d dims are supported", part, CT_MAX_RANK);
        shape.dims[shape.rank++] = v;
        p = q;
        if (p < end && *p == 'L')
            p++;
    }
    if (p >= end)
        return ct_api_fail(err, 400, "invalid_npy", "%s: the .npy shape tuple is not closed", part);
    int64_t count = ct_shape_elements(&shape);
    if (count < 0)
        return ct_api_fail(err, 413, "too_many_elements", "%s: the .npy shape has more elements than 64 bits count", part);
    if (limits->max_elements > 0 && count > limits->max_elements)
        return ct_api_fail(err, 413, "too_many_elements", "%s: %lld elements exceed the limit of %lld", part, (long long)count,
                           (long long)limits->max_elements);
    size_t payload = len - start - hlen;
    if ((uint64_t)count > payload / elem || (size_t)count * elem != payload)
        return ct_api_fail(err, 400, "invalid_npy", "%s: the .npy data is %zu bytes but shape and dtype need %llu", part, payload,
                           (unsigned long long)count * elem);
    out->shape = shape;
    out->dtype = dtype;
    out->data = malloc((size_t)ct_shape_bytes(&shape, sizeof(float)) + 1); /* count <= payload / 2: fits */
    if (!out->data)
        return ct_api_fail(err, 503, "out_of_memory", "%s: out of memory", part);
    ct_dtype_to_f32(dtype, buf + start + hlen, out->data, count);
    return 0;
}

size_t ct_npy_header(const ct_shape *shape, char *out)
{
    return ct_npy_header_as(shape, CT_DTYPE_FLOAT32, out);
}

size_t ct_npy_header_as(const ct_shape *shape, ct_dtype dtype, char *out)
{
    char dict[200];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtype == CT_DTYPE_FLOAT16 ? "<f2" : "<f4");
    for (int i = 0; i < shape->rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)shape->dims[i], i + 1 < shape->rank ? " " : "");
    if (shape->rank > 1)
        n--; /* NumPy writes (1, 4, 5, 5) but (3,) */
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* Pad with spaces and a newline so that magic + len + header is a multiple of 64. */
    size_t padded = (10 + (size_t)n + 1 + 63) / 64 * 64;
    size_t hlen = padded - 10;
    memcpy(out, magic, 6);
    out[6] = 1;
    out[7] = 0;
    out[8] = (char)(hlen & 0xff);
    out[9] = (char)(hlen >> 8);
    memcpy(out + 10, dict, (size_t)n);
    memset(out + 10 + n, ' ', hlen - (size_t)n - 1);
    out[padded - 1] = '\n';
    return padded;
}

int ct_npy_write_as(const ct_shape *shape, const float *data, ct_dtype dtype, ct_buffer *out)
{
    if (dtype != CT_DTYPE_FLOAT16)
        return ct_npy_write(shape, data, out);
    char header[256];
    size_t hlen = ct_npy_header_as(shape, dtype, header);
    int64_t n = ct_shape_elements(shape), bytes = ct_shape_bytes(shape, 2);
    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX - hlen || ct_buffer_reserve(out, hlen + (size_t)bytes + 2 * sizeof(float)) != 0)
        return -1;
    ct_buffer_append(out, header, hlen);
    /* packed in pieces through a small buffer: data stays as it is */
    for (int64_t i = 0; i < n;) {
        float part[1024];
        const int64_t k = n - i < 1024 ? n - i : 1024;
        memcpy(part, data + i, sizeof(float) * (size_t)k);
        ct_f32_to_dtype(dtype, part, part, k);
        ct_buffer_append(out, part, 2 * (size_t)k);
        i += k;
    }
    return 0;
}

int ct_npy_write(const ct_shape *shape, const float *data, ct_buffer *out)
{
    char header[256];
    size_t hlen = ct_npy_header(shape, header);
    int64_t bytes = ct_shape_bytes(shape, sizeof(float));
    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX - hlen || ct_buffer_reserve(out, hlen + (size_t)bytes) != 0)
        return -1;
    ct_buffer_append(out, header, hlen);
    ct_buffer_append(out, data, (size_t)bytes);
    return 0;
}
