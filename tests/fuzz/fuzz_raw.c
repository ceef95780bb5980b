/* fuzz_raw.c - libFuzzer harness for the raw tensor bodies. The first byte chooses how
 * X-Tensor-Shape is made: as text from the input (two NUL-terminated fields, the shape and
 * Inference-Header-Content-Length, then the body), or formatted from dims drawn near powers
 * of two (so sizes that wrap when multiplied are easy to reach) followed by the body. A
 * length of 0 takes the raw binary path (ct_raw_take_tensor), any other the OIP binary
 * extension (binary_data_size per input). Every tensor a parser accepts is read to its last
 * element, so under ASan a shape that claims more than the body holds is a finding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oip.h"

static volatile float sink;

static void read_all(const ct_shape *shape, const float *data)
{
    float sum = 0;
    int64_t n = ct_shape_elements(shape);
    for (int64_t i = 0; i < n; i++)
        sum += data[i];
    sink = sum;
}

/* The next NUL-terminated field of [*p, end), or NULL when there is no NUL. */
static const char *field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
    if (!z)
        return NULL;
    const char *f = (const char *)*p;
    *p = z + 1;
    return f;
}

/* A dim: small, or 2^k plus or minus a byte. */
static int64_t dim(const uint8_t **p, const uint8_t *end)
{
    uint8_t k = *p < end ? *(*p)++ : 0, b = *p < end ? *(*p)++ : 0;
    if (k < 128)
        return k & 31;
    int64_t v = (int64_t)((uint64_t)1 << (k % 63));
    return k & 64 ? v - b : v + b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1, *end = data + size;
    char made[160];
    const char *shape, *length;
    if (data[0] & 1) {
        int rank = 1 + (data[0] >> 1) % 5, used = 0;
        for (int i = 0; i < rank; i++)
            used += snprintf(made + used, sizeof made - (size_t)used, "%s%lld", i ? "," : "", (long long)dim(&p, end));
        shape = made;
        length = "0";
    } else {
        shape = field(&p, end);
        length = shape ? field(&p, end) : NULL;
        if (!length)
            return 0;
    }
    ct_buffer body = {0};
    if (ct_buffer_append(&body, p, (size_t)(end - p)) != 0)
        return 0;
    /* no element cap: the byte sizes alone must keep every read inside the body */
    ct_api_limits limits = {.max_elements = 0, .max_output_elements = 1 << 20, .max_json_depth = 32};
    ct_api_error err;
    long long header_len;
    if (ct_parse_length_header("Inference-Header-Content-Length", length, &header_len, &err) != 0) {
        ct_buffer_free(&body);
        return 0;
    }
    if (header_len == 0) {
        ct_tensor t = {0};
        /* the dtype from the shape's length: float32, float16 or bfloat16 bodies alike */
        static const char *const dtypes[] = {NULL, "float16", "bfloat16"};
        if (ct_raw_take_tensor(&body, shape, dtypes[strlen(shape) % 3], &limits, "input", &t, &err) == 0) {
            read_all(&t.shape, t.data);
            ct_tensor_free(&t);
        }
    } else {
        ct_oip_request req;
        if (ct_oip_parse(body.data, body.len, header_len, &limits, &req, &err) == 0) {
            for (int i = 0; i < req.ninputs; i++)
                read_all(&req.inputs[i].shape, req.inputs[i].data);
            ct_oip_request_free(&req);
        }
    }
    ct_buffer_free(&body);
    return 0;
}
