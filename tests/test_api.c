/* test_api.c - wire formats: shortest float formatting, .npy, multipart, JSON request
 * parsing and its errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "test.h"

static const ct_api_limits limits = {.max_elements = 1000, .max_output_elements = 100000, .max_json_depth = 8};

/* The shortest round-tripping length by brute force: %.{p}g for p = 1..9. */
static int shortest_digits(float v)
{
    char buf[64];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v)
            return p;
    }
    return 9;
}

static int significant_digits(const char *s)
{
    int n = 0, leading = 1;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (*s == '0' && leading)
            continue;
        leading = 0;
        n++;
    }
    /* trailing zeros of an integer written in full are not significant */
    return n;
}

TEST(float_format_round_trips_and_is_shortest)
{
    static const struct { float v; const char *text; } known[] = {
        {0.0f, "0"}, {-0.0f, "-0"}, {1.0f, "1"}, {28.0f, "28"}, {0.1f, "0.1"}, {-2.5f, "-2.5"},
        {1e-7f, "1e-7"}, {1.5e-6f, "0.0000015"}, {3.4028235e38f, "3.4028235e+38"}, {1e21f, "1e+21"},
        {123456792.0f, "123456790"}, {1.4e-45f, "1e-45"}, {0.33333334f, "0.33333334"},
    };
    char out[32];
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        int n = ct_format_float(known[i].v, out);
        out[n] = '\0';
        CHECK_STR_EQ(out, known[i].text);
    }
    uint32_t state = 12345;
    for (int i = 0; i < 100000; i++) {
        state = state * 1664525u + 1013904223u;
        uint32_t bits = state;
        float v;
        memcpy(&v, &bits, 4);
        if (!isfinite(v))
            continue;
        int n = ct_format_float(v, out);
        out[n] = '\0';
        float back = strtof(out, NULL);
        if (memcmp(&back, &v, 4) != 0)
            FAIL("%.9g (bits %08x) formatted as %s reads back as %.9g", v, bits, out, back);
        int sd = significant_digits(out);
        if (strchr(out, '.') == NULL && strchr(out, 'e') == NULL) {
            while (n > 1 && out[n - 1] == '0') { /* 123456790: the zero is not significant */
                n--;
                sd--;
            }
        }
        if (v != 0 && sd > shortest_digits(v))
            FAIL("%.9g formatted as %s: %d digits, %d suffice", v, out, sd, shortest_digits(v));
    }
}

TEST(json_tensor_output_format)
{
    ct_shape s = {2, {2, 2}};
    float d[4] = {0.5f, -1.0f, NAN, 3.25f};
    ct_buffer b = {0};
    int64_t nonfinite;
    CHECK_INT_EQ(ct_json_write_tensor(&s, d, &b, &nonfinite, 1), 0);
    CHECK_INT_EQ(nonfinite, 1);
    CHECK_INT_EQ(ct_buffer_append(&b, "", 1), 0);
    CHECK_STR_EQ(b.data, "{\"shape\":[2,2],\"dtype\":\"float32\",\"data\":[0.5,-1,null,3.25]}");
    ct_buffer_free(&b);
}

TEST(npy_write_then_parse_round_trips)
{
    ct_shape s = {3, {2, 3, 4}};
    float d[24];
    for (int i = 0; i < 24; i++)
        d[i] = (float)i * 0.5f;
    ct_buffer b = {0};
    CHECK_INT_EQ(ct_npy_write(&s, d, &b), 0);
    CHECK_INT_EQ(b.len % 64, 24 * 4 % 64); /* header padded to 64 bytes */
    CHECK(memcmp(b.data + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }", 62) == 0);
    ct_tensor t;
    ct_api_error err;
    CHECK_INT_EQ(ct_npy_parse(b.data, b.len, &limits, "input", &t, &err), 0);
    CHECK_INT_EQ(t.shape.rank, 3);
    CHECK_INT_EQ(t.shape.dims[2], 4);
    CHECK(memcmp(t.data, d, sizeof d) == 0);
    ct_tensor_free(&t);
    ct_buffer_free(&b);
}

/* Builds a .npy by hand: header dict text, then payload bytes. */
static size_t make_npy(char *out, const char *dict, const void *payload, size_t plen)
{
    size_t hlen = strlen(dict);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (char)hlen;
    out[9] = 0;
    memcpy(out + 10, dict, hlen);
    memcpy(out + 10 + hlen, payload, plen);
    return 10 + hlen + plen;
}

TEST(npy_float64_converted_and_errors_named)
{
    char buf[512];
    double d[3] = {1.5, -2.0, 1e-3};
    size_t n = make_npy(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n", d, sizeof d);
    ct_tensor t;
    ct_api_error err;
    CHECK_INT_EQ(ct_npy_parse(buf, n, &limits, "weight", &t, &err), 0);
    CHECK_INT_EQ(t.shape.rank, 1);
    CHECK(t.data[0] == 1.5f && t.data[1] == -2.0f && t.data[2] == 1e-3f);
    ct_tensor_free(&t);

    /* refused headers: the 12 payload bytes are three int32s */
    static const struct {
        const char *header, *field;
        int status;
        const char *code, *message;
    } refused[] = {
        {"{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }\n", "weight", 415, "unsupported_dtype", "weight: dtype '<i4'"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }\n", "bias", 415, "unsupported_dtype", "bias: dtype '>f4'"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }\n", "input", 400, "unsupported_order", "input: Fortran-order arrays are not supported"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", "input", 400, "invalid_npy",
         "input: the .npy data is 12 bytes but shape and dtype need 16"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (100, 100), }\n", "input", 413, "too_many_elements", "input: 10000 elements exceed the limit of 1000"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 4), }\n", "input", 413, "too_many_elements",
         "input: the .npy shape has more elements than 64 bits count"},
    };
    const int32_t ints[3] = {1, 2, 3};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        n = make_npy(buf, refused[i].header, ints, sizeof ints);
        if (ct_npy_parse(buf, n, &limits, refused[i].field, &t, &err) != -1 || err.status != refused[i].status ||
            strcmp(err.code, refused[i].code) != 0 || !strstr(err.message, refused[i].message))
            FAIL("%s: %d %s \"%s\"; expected %d %s \"%s\"", refused[i].header, err.status, err.code, err.message,
                 refused[i].status, refused[i].code, refused[i].message);
    }

    CHECK_INT_EQ(ct_npy_parse("PK\x03\x04", 4, &limits, "input", &t, &err), -1);
    CHECK_STR_EQ(err.code, "invalid_npy");
}

TEST(multipart_parts_point_into_the_body)
{
    const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"config\"\r\n\r\n{\"stride\":2}\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=\"input\"; filename=\"x.npy\"\r\n"
                        "Content-Type: application/octet-stream\r\n\r\nAB\r\nCD\r\n--XyZ--\r\n";
    ct_part parts[4];
    int n;
    ct_api_error err;
    CHECK_INT_EQ(ct_multipart_parse("multipart/form-data; boundary=XyZ", body, sizeof body - 1, parts, 4, &n, &err), 0);
    CHECK_INT_EQ(n, 2);
    CHECK(parts[0].name_len == 6 && memcmp(parts[0].name, "config", 6) == 0);
    CHECK(parts[0].len == 12 && memcmp(parts[0].data, "{\"stride\":2}", 12) == 0);
    CHECK(parts[1].name_len == 5 && memcmp(parts[1].name, "input", 5) == 0);
    CHECK(parts[1].len == 6 && memcmp(parts[1].data, "AB\r\nCD", 6) == 0);
    CHECK(parts[1].content_type_len == 24);

    CHECK_INT_EQ(ct_multipart_parse("multipart/form-data", body, sizeof body - 1, parts, 4, &n, &err), -1);
    CHECK_CONTAINS(err.message, "boundary");
    CHECK_INT_EQ(ct_multipart_parse("multipart/form-data; boundary=XyZ", body, 60, parts, 4, &n, &err), -1);
    CHECK_STR_EQ(err.code, "invalid_multipart");
}

static void expect_json_error(const char *body, int status, const char *code, const char *text)
{
    ct_request req;
    ct_api_error err;
    if (ct_json_parse_request(body, strlen(body), &limits, 1, &req, &err) == 0)
        FAIL("%s: parsed, expected %s", body, code);
    CHECK_INT_EQ(err.status, status);
    CHECK_STR_EQ(err.code, code);
    CHECK_CONTAINS(err.message, text);
}

TEST(json_request_errors_name_the_field)
{
    expect_json_error("{\"input\": [1,", 400, "invalid_json", "invalid JSON at line 1");
    expect_json_error("[1,2]", 400, "invalid_json", "must be a JSON object");
    expect_json_error("{\"weight\": [[[1]]]}", 400, "missing_field", "input: required");
    expect_json_error("{\"input\": [[1]]}", 400, "missing_field", "weight: required");
    expect_json_error("{\"input\": [[1]], \"weight\": [[[1]]], \"strid\": 2}", 400, "unknown_field", "strid: unknown field");
    expect_json_error("{\"input\": [[1]], \"weight\": [[[1]]], \"stride\": 2, \"pads\": [0, 0]}", 400, "conflicting_parameters",
                      "stride (PyTorch) and pads (ONNX) cannot be mixed");
    expect_json_error("{\"input\": [[1]], \"weight\": [[[1]]], \"stride\": [1, 2]}", 400, "invalid_parameter",
                      "stride: got a list of 2 values for 1 spatial dims; give an integer or a list of 1");
    expect_json_error("{\"input\": [[1]], \"weight\": [[[1]]], \"stride\": 1.5}", 400, "invalid_parameter", "stride");
    expect_json_error("{\"input\": [[1, 2], [3]], \"weight\": [[[1]]]}", 400, "invalid_tensor", "input: ragged nested list");
    expect_json_error("{\"input\": {\"shape\": [2, 2], \"data\": [1, 2, 3]}, \"weight\": [[[1]]]}", 400, "invalid_tensor",
                      "input.data: has 3 numbers but shape needs 4");
    expect_json_error("{\"input\": {\"shape\": [40, 40], \"data\": []}, \"weight\": [[[1]]]}", 413, "too_many_elements", "input");
    expect_json_error("{\"input\": [[1]], \"weight\": [[1]]}", 400, "invalid_rank", "weight: must have 3, 4 or 5 dims");
    expect_json_error("{\"input\": [[1]], \"weight\": [[[1]]], \"auto_pad\": \"SAME\"}", 400, "invalid_parameter", "auto_pad");
    expect_json_error("{\"input\": [[1]], \"weight\": [[[\"a\"]]]}", 400, "invalid_tensor", "weight: expected a number");
    expect_json_error("{\"input\": [[[[[[[1]]]]]]], \"weight\": [[[1]]]}", 400, "invalid_rank", "input: nested deeper");
}

/* Nested input lists whose numbers and lists do not line up: each named with its rule. */
TEST(json_nested_lists_that_do_not_line_up_are_refused)
{
    static const char *const cases[][3] = { /* input, code, message */
        {"[[1, 2], 3]", "invalid_tensor", "input: ragged nested list: a number at depth 1, lists at depth 2 elsewhere"},
        {"[[1, [2]]]", "invalid_tensor", "input: ragged nested list: a list at depth 2, numbers there elsewhere"},
        {"[[1, 2], [3, true]]", "invalid_tensor", "input: expected a number at nesting depth 2"},
        {"[[1, 2] [3, 4]]", "invalid_json", "expected ',' or ']'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"input\": %s, \"weight\": [[[1]]]}", cases[i][0]);
        expect_json_error(body, 400, cases[i][1], cases[i][2]);
    }
}

/* Every number form JSON allows, parsed by the request parser, must be the float strtof
 * gives: random digits, lengths, signs, fractions and exponents, including long mantissas
 * and values near float rounding midpoints. */
/* Decimals at the midpoint between two floats, printed with 9 to 17 digits: where the
 * exact value sits within a few units of a double of the midpoint, so a fast path that
 * trusts its double too far rounds the wrong way. 200k of them, each as strtof reads it. */
TEST(json_numbers_at_float_midpoints_parse_as_strtof)
{
    enum { N = 200000, TEXT = 32 };
    char *body = malloc((size_t)N * (TEXT + 1) + 128);
    char(*text)[TEXT] = malloc(sizeof *text * N);
    CHECK(body && text);
    uint32_t st = 7;
    int n = sprintf(body, "{\"weight\": [[[1]]], \"input\": {\"shape\": [1, 1, %d], \"data\": [", N);
    for (int i = 0; i < N; i++) {
        st = st * 1664525u + 1013904223u;
        float f;
        memcpy(&f, &st, sizeof f);
        if (!isfinite(f) || fabsf(f) > 1e30f || fabsf(f) < 1e-30f)
            f = 1.0f + (float)i;
        const double mid = ((double)f + (double)nextafterf(f, INFINITY)) / 2; /* exact in double */
        snprintf(text[i], TEXT, "%.*g", 9 + (int)(st >> 28) % 9, mid);
        n += sprintf(body + n, "%s%s", i ? "," : "", text[i]);
    }
    n += sprintf(body + n, "]}}");
    const ct_api_limits wide = {.max_elements = N, .max_output_elements = N, .max_json_depth = 8};
    ct_request req;
    ct_api_error err;
    CHECK_INT_EQ(ct_json_parse_request(body, (size_t)n, &wide, 1, &req, &err), 0);
    int differ = 0;
    for (int i = 0; i < N; i++) {
        const float want = strtof(text[i], NULL);
        if (memcmp(&want, &req.input.data[i], sizeof want) != 0 && differ++ < 5)
            printf("  %s: parsed as %.9g, strtof gives %.9g\n", text[i], req.input.data[i], want);
    }
    ct_request_free(&req);
    free(body);
    free(text);
    CHECK_INT_EQ(differ, 0);
}

TEST(json_numbers_parse_exactly_as_strtof)
{
    enum { N = 20000 };
    static char body[N * 48 + 128];
    static char texts[N][40];
    uint32_t st = 99;
    int n = sprintf(body, "{\"weight\": [[[1]]], \"input\": {\"shape\": [1, 1, %d], \"data\": [", N);
    for (int i = 0; i < N; i++) {
        st = st * 1664525u + 1013904223u;
        char *t = texts[i];
        int len = 0;
        if (st & 1)
            t[len++] = '-';
        int idigits = 1 + (int)((st >> 3) % 12), fdigits = (int)((st >> 8) % 14);
        for (int d = 0; d < idigits; d++) {
            st = st * 1664525u + 1013904223u;
            t[len++] = (char)('0' + (d == 0 && idigits > 1 ? 1 + (st >> 24) % 9 : (st >> 24) % 10));
        }
        if (idigits == 1 && (st & 64))
            t[len - 1] = '0';
        if (fdigits) {
            t[len++] = '.';
            for (int d = 0; d < fdigits; d++) {
                st = st * 1664525u + 1013904223u;
                t[len++] = (char)('0' + (st >> 24) % 10);
            }
        }
        if (st & 128)
            len += sprintf(t + len, "e%d", (int)((st >> 16) % 75) - 50); /* below float32's overflow: that is a 400 */
        t[len] = '\0';
        n += sprintf(body + n, "%s%s", i ? "," : "", t);
    }
    n += sprintf(body + n, "]}}");
    ct_api_limits big = {.max_elements = N, .max_output_elements = 1 << 20, .max_json_depth = 8};
    ct_request req;
    ct_api_error err;
    if (ct_json_parse_request(body, (size_t)n, &big, 1, &req, &err) != 0)
        FAIL("%s", err.message);
    for (int i = 0; i < N; i++) {
        float want = strtof(texts[i], NULL);
        if (memcmp(&want, &req.input.data[i], 4) != 0)
            FAIL("%s parsed as %.9g, strtof gives %.9g", texts[i], req.input.data[i], want);
    }
    ct_request_free(&req);
}

TEST(json_numbers_past_float32_are_refused_and_the_largest_parse)
{
    ct_api_limits lim = {.max_elements = 16, .max_output_elements = 1 << 20, .max_json_depth = 8};
    const char *fine[] = {"3.4028235e38", "-3.4028235e38", "3.40282356e38", "1e-50", "-0"};
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        char body[160];
        int n = snprintf(body, sizeof body, "{\"weight\": [[[1]]], \"input\": {\"shape\": [1, 1, 1], \"data\": [%s]}}", fine[i]);
        ct_request req;
        ct_api_error err;
        if (ct_json_parse_request(body, (size_t)n, &lim, 1, &req, &err) != 0)
            FAIL("%s: %s", fine[i], err.message);
        float want = strtof(fine[i], NULL);
        CHECK(memcmp(&want, &req.input.data[0], 4) == 0);
        ct_request_free(&req);
    }
    const char *over[] = {"3.5e38", "-1e39", "1e400", "340282366920938463463374607431768211456"};
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
        char body[160];
        int n = snprintf(body, sizeof body, "{\"weight\": [[[1]]], \"input\": {\"shape\": [1, 1, 1], \"data\": [%s]}}", over[i]);
        ct_request req;
        ct_api_error err;
        if (ct_json_parse_request(body, (size_t)n, &lim, 1, &req, &err) == 0)
            FAIL("%s parsed; a number past float32 must be refused", over[i]);
        CHECK_INT_EQ(err.status, 400);
        CHECK_CONTAINS(err.message, "overflows float32");
    }
}

TEST(json_request_hyperparameters)
{
    const char *body = "{\"input\": {\"shape\": [1, 1, 2, 2], \"data\": [1, 2, 3, 4]}, \"weight\": [[[[1, 2], [3, 4]]]],"
                       " \"bias\": [0.5], \"stride\": [2, 3], \"padding\": 1, \"output_padding\": [1, 0], \"dilation\": 1,"
                       " \"groups\": 1, \"output_size\": null}";
    ct_request req;
    ct_api_error err;
    CHECK_INT_EQ(ct_json_parse_request(body, strlen(body), &limits, 1, &req, &err), 0);
    CHECK_INT_EQ(req.params.spatial_dims, 2);
    CHECK_INT_EQ(req.params.stride[0], 2);
    CHECK_INT_EQ(req.params.stride[1], 3);
    CHECK_INT_EQ(req.params.pads_begin[1], 1);
    CHECK_INT_EQ(req.params.pads_end[0], 1);
    CHECK_INT_EQ(req.params.output_padding[0], 1);
    CHECK_INT_EQ(req.params.output_size_rule, CT_OUTPUT_SIZE_NONE);
    CHECK_INT_EQ(req.bias.shape.dims[0], 1);
    CHECK(req.bias.data[0] == 0.5f);
    CHECK_INT_EQ(req.weight.shape.rank, 4);
    ct_request_free(&req);

    body = "{\"input\": [[[1, 2]]], \"weight\": [[[1, 2]]], \"strides\": [2], \"pads\": [1, 0], \"auto_pad\": \"NOTSET\","
           " \"output_shape\": [1, 1, 4], \"group\": 1, \"kernel_shape\": [2]}";
    CHECK_INT_EQ(ct_json_parse_request(body, strlen(body), &limits, 1, &req, &err), 0);
    CHECK_INT_EQ(req.params.output_size_rule, CT_OUTPUT_SIZE_ONNX);
    CHECK_INT_EQ(req.params.output_size[0], 4);
    CHECK_INT_EQ(req.params.pads_begin[0], 1);
    CHECK_INT_EQ(req.params.pads_end[0], 0);
    CHECK_INT_EQ(req.params.has_kernel_shape, 1);
    ct_request_free(&req);
}

TEST(shape_header_parsing)
{
    ct_shape s;
    ct_api_error err;
    CHECK_INT_EQ(ct_parse_shape_header("1,4, 5,5", &s, &err), 0);
    CHECK_INT_EQ(s.rank, 4);
    CHECK_INT_EQ(s.dims[3], 5);
    CHECK_INT_EQ(ct_parse_shape_header("1,x", &s, &err), -1);
    CHECK_INT_EQ(ct_parse_shape_header("1,2,3,4,5,6", &s, &err), -1);
    CHECK_STR_EQ(err.code, "invalid_rank");
}

/* Copies len bytes so they end exactly at an inaccessible page: any read past the end
 * faults (the technique of picohttpparser's tests). Returns the copy; *base for munmap. */
static const char *flush_against_guard(const char *data, size_t len, void **base, size_t *map_len)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = (len + (size_t)page - 1) / (size_t)page + 1;
    char *m = mmap(NULL, pages * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    CHECK(mprotect(m + (pages - 1) * (size_t)page, (size_t)page, PROT_NONE) == 0);
    char *dst = m + (pages - 1) * (size_t)page - len;
    memcpy(dst, data, len);
    *base = m;
    *map_len = pages * (size_t)page;
    return dst;
}

/* Regression (found by fuzz_json_request and fuzz_npy): integers at the very end of a
 * body that is not NUL-terminated were read with strtoll, past the end of the buffer. */
TEST(parsers_never_read_past_the_body)
{
    static const char *const bodies[] = {
        "{\"input\":[[1]],\"weight\":[[[1]]],\"groups\":2",
        "{\"input\":[[1]],\"weight\":[[[1]]],\"groups\":2}",
        "{\"input\":{\"shape\":[1,1",
        "{\"input\":{\"shape\":[1,1,1],\"data\":[1",
        "{\"input\":[[1.5e",
        "{\"input\":[[-",
    };
    ct_api_limits lim = {.max_elements = 100, .max_output_elements = 100, .max_json_depth = 8};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        void *base;
        size_t map_len, len = strlen(bodies[i]);
        const char *body = flush_against_guard(bodies[i], len, &base, &map_len);
        ct_request req;
        ct_api_error err;
        int rc = ct_json_parse_request(body, len, &lim, 1, &req, &err);
        if (i == 1) {
            CHECK_INT_EQ(rc, 0);
            CHECK_INT_EQ(req.params.groups, 2);
            ct_request_free(&req);
        } else {
            CHECK_INT_EQ(rc, -1);
            CHECK_STR_EQ(err.code, "invalid_json");
        }
        munmap(base, map_len);
    }
    /* a .npy header whose shape tuple runs to the end of the buffer */
    const char npy[] = "\x93NUMPY\x01\x00\x2c\x00{'descr': '<f4', 'fortran_order': False, 'shape': (12";
    void *base;
    size_t map_len;
    const char *body = flush_against_guard(npy, sizeof npy - 1, &base, &map_len);
    ct_tensor t;
    ct_api_error err;
    CHECK_INT_EQ(ct_npy_parse(body, sizeof npy - 1, &lim, "input", &t, &err), -1);
    CHECK_STR_EQ(err.code, "invalid_npy");
    munmap(base, map_len);
}

/* Regression (found by fuzz_npy): a header whose last key has no value made the parser read
 * one byte past the header. */
TEST(npy_header_key_without_value)
{
    char buf[128];
    const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape':";
    size_t hl = sizeof dict - 1;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)hl;
    buf[9] = 0;
    memcpy(buf + 10, dict, hl);
    void *base;
    size_t map_len;
    const char *body = flush_against_guard(buf, 10 + hl, &base, &map_len);
    ct_tensor t;
    ct_api_error err;
    CHECK_INT_EQ(ct_npy_parse(body, 10 + hl, &limits, "input", &t, &err), -1);
    CHECK_STR_EQ(err.code, "invalid_npy");
    munmap(base, map_len);
}

/* Regression (found by fuzz_json_request in CI): numbers written in fixed notation near 1e21
 * take 22 characters ("-100000000000000000000"), more than the 17 the encoder budgeted.
 * 1500 of them overran the reserved buffer (ASan); every one must come out whole. */
TEST(json_encode_longest_numbers_fit)
{
    enum { N = 1500 };
    static float d[N];
    for (int i = 0; i < N; i++)
        d[i] = i % 2 ? -1e20f : 9.99999978e20f;
    ct_shape s = {1, {N}};
    for (int threads = 1; threads <= 2; threads++) {
        ct_buffer b = {0};
        int64_t nonfinite;
        CHECK_INT_EQ(ct_json_write_tensor(&s, d, &b, &nonfinite, threads), 0);
        CHECK_INT_EQ(ct_buffer_append(&b, "", 1), 0);
        CHECK_CONTAINS(b.data, "[999999950000000000000,-100000000000000000000,");
        json_t *root = json_loads(b.data, JSON_DECODE_INT_AS_REAL, NULL); /* integers past int64 */
        CHECK(root != NULL);
        json_t *data = json_object_get(root, "data");
        CHECK_INT_EQ(json_array_size(data), N);
        for (int i = 0; i < N; i++)
            CHECK((float)json_number_value(json_array_get(data, (size_t)i)) == d[i]);
        json_decref(root);
        ct_buffer_free(&b);
    }
}
