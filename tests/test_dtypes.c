/* test_dtypes.c - float16 and bfloat16 tensors, against PyTorch (tests/fixtures/dtype_cases.json,
 * made by tests/fixtures/make_dtype_fixtures.py): the casts bit for bit on both paths (F16C
 * and scalar), every half value round-tripping, and layers sent in FP16/BF16 over each wire
 * format (OIP binary and JSON, raw bodies, .npy) answered in the input's dtype with torch's
 * bits: inputs widened, computed in float32, the output rounded. Dtypes not served get a 415
 * naming the dtype and the ones that are. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "http_client.h"
#include "test.h"

static json_t *load_cases(void)
{
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/dtype_cases.json", 0, &je);
    if (!root)
        FAIL("cannot read tests/fixtures/dtype_cases.json: %s", je.text);
    return root;
}

static float bits_f32(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* Each cast of the fixture, by the scalar rule and by the array path (F16C when the CPU has
 * it, then forced scalar). */
TEST(dtype_casts_match_torch_bit_for_bit_on_every_path)
{
    json_t *root = load_cases(), *casts = json_object_get(root, "casts");
    json_t *f32 = json_object_get(casts, "f32"), *f16 = json_object_get(casts, "f16"), *bf16 = json_object_get(casts, "bf16");
    const size_t n = json_array_size(f32);
    CHECK(n > 400 && json_array_size(f16) == n && json_array_size(bf16) == n);
    float *x = malloc(n * sizeof(float));
    uint16_t *h = malloc(n * 2), *b = malloc(n * 2);
    for (size_t i = 0; i < n; i++)
        x[i] = bits_f32((uint32_t)json_integer_value(json_array_get(f32, i)));
    for (int scalar = 0; scalar < 2; scalar++) {
        ct_dtype_force_scalar(scalar);
        ct_f32_to_dtype(CT_DTYPE_FLOAT16, x, h, (int64_t)n);
        ct_f32_to_dtype(CT_DTYPE_BFLOAT16, x, b, (int64_t)n);
        for (size_t i = 0; i < n; i++) {
            const uint16_t want16 = (uint16_t)json_integer_value(json_array_get(f16, i));
            const uint16_t wantb = (uint16_t)json_integer_value(json_array_get(bf16, i));
            if (h[i] != want16 || ct_f32_to_f16_bits(x[i]) != want16)
                FAIL("%s path: %.9g (0x%08x) to float16: 0x%04x, torch 0x%04x", scalar ? "scalar" : "array", x[i],
                     (unsigned)json_integer_value(json_array_get(f32, i)), h[i], want16);
            if (b[i] != wantb || ct_f32_to_bf16_bits(x[i]) != wantb)
                FAIL("%.9g to bfloat16: 0x%04x, torch 0x%04x", x[i], b[i], wantb);
        }
    }
    ct_dtype_force_scalar(0);
    free(x);
    free(h);
    free(b);
    json_decref(root);
}

/* Every one of the 65536 patterns of each format widens and narrows back to itself (NaNs to
 * a NaN), on both paths, and in place. */
TEST(every_half_and_bfloat16_value_round_trips)
{
    enum { N = 65536 };
    uint16_t *bits = malloc(N * 2), *back = malloc(N * 2);
    float *wide = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++)
        bits[i] = (uint16_t)i;
    const ct_dtype types[2] = {CT_DTYPE_FLOAT16, CT_DTYPE_BFLOAT16};
    for (int scalar = 0; scalar < 2; scalar++)
        for (int t = 0; t < 2; t++) {
            ct_dtype_force_scalar(scalar);
            ct_dtype_to_f32(types[t], bits, wide, N);
            ct_f32_to_dtype(types[t], wide, back, N);
            for (int i = 0; i < N; i++) {
                const int nan = types[t] == CT_DTYPE_FLOAT16 ? (i & 0x7c00) == 0x7c00 && (i & 0x3ff) : (i & 0x7f80) == 0x7f80 && (i & 0x7f);
                if (nan ? !isnan(wide[i]) : back[i] != i)
                    FAIL("%s 0x%04x -> %g -> 0x%04x (%s path)", ct_dtype_name(types[t]), i, wide[i], back[i], scalar ? "scalar" : "F16C");
            }
            /* packed in place over the float32 values, as the server does */
            ct_f32_to_dtype(types[t], wide, wide, N);
            CHECK(memcmp(wide, back, N * 2) == 0);
        }
    ct_dtype_force_scalar(0);
    free(bits);
    free(back);
    free(wide);
}

static uint16_t *bits_array(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    uint16_t *out = malloc(*n * 2 + 2);
    for (size_t i = 0; i < *n; i++)
        out[i] = (uint16_t)json_integer_value(json_array_get(a, i));
    return out;
}

static void shape_text(json_t *shape, char *out, size_t cap, const char *sep)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(shape); i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%lld", i ? sep : "", (long long)json_integer_value(json_array_get(shape, i)));
}

/* The built-in OIP model with input and weight as binary FP16 (or BF16): the output comes back
 * binary in the same datatype with torch's bits. */
TEST_WITH_TIMEOUT(oip_fp16_and_bf16_binary_layers_answer_torchs_bits, 60)
{
    json_t *root = load_cases();
    daemon_proc d = daemon_up(NULL);
    for (int l = 0; l < 2; l++) {
        json_t *c = json_array_get(json_object_get(root, "layers"), (size_t)l);
        const char *datatype = l == 0 ? "FP16" : "BF16";
        size_t nx, nw, ny;
        uint16_t *x = bits_array(json_object_get(c, "input"), &nx), *w = bits_array(json_object_get(c, "weight"), &nw);
        uint16_t *y = bits_array(json_object_get(c, "output"), &ny);
        char xs[64], ws[64], ys[64];
        shape_text(json_object_get(c, "input_shape"), xs, sizeof xs, ",");
        shape_text(json_object_get(c, "weight_shape"), ws, sizeof ws, ",");
        shape_text(json_object_get(c, "output_shape"), ys, sizeof ys, ",");
        char head[1024];
        int hl = snprintf(head, sizeof head,
                          "{\"parameters\": {\"stride\": 2, \"binary_data_output\": true}, \"inputs\": ["
                          "{\"name\": \"input\", \"datatype\": \"%s\", \"shape\": [%s], \"parameters\": {\"binary_data_size\": %zu}},"
                          "{\"name\": \"weight\", \"datatype\": \"%s\", \"shape\": [%s], \"parameters\": {\"binary_data_size\": %zu}}]}",
                          datatype, xs, nx * 2, datatype, ws, nw * 2);
        char *body = malloc((size_t)hl + (nx + nw) * 2);
        memcpy(body, head, (size_t)hl);
        memcpy(body + hl, x, nx * 2);
        memcpy(body + hl + nx * 2, w, nw * 2);
        char hdr[64];
        snprintf(hdr, sizeof hdr, "Inference-Header-Content-Length: %d", hl);
        const char *const headers[] = {"Content-Type: application/octet-stream", hdr, NULL};
        http_response r = http_request(d.port, "POST", "/v2/models/convtranspose/infer", headers, body, (size_t)hl + (nx + nw) * 2);
        CHECK_INT_EQ(r.status, 200);
        char *len = http_header(&r, "Inference-Header-Content-Length");
        CHECK(len != NULL);
        const size_t jl = (size_t)atol(len);
        free(len);
        char want[160];
        snprintf(want, sizeof want, "\"datatype\":\"%s\",\"shape\":[%s]", datatype, ys);
        r.body[jl - 1] = '\0'; /* end the JSON head for the search */
        CHECK_CONTAINS(r.body, want);
        CHECK_INT_EQ((long)(r.len - jl), (long)(ny * 2));
        for (size_t i = 0; i < ny; i++) {
            uint16_t got;
            memcpy(&got, r.body + jl + 2 * i, 2);
            if (got != y[i])
                FAIL("%s output %zu: 0x%04x, torch 0x%04x", datatype, i, got, y[i]);
        }
        printf("  %s: %zu outputs, torch's bits\n", datatype, ny);
        http_response_free(&r);
        free(body);
        free(x);
        free(w);
        free(y);
    }
    CHECK_INT_EQ(daemon_stop(&d), 0);
    json_decref(root);
}

/* JSON numbers for an FP16 input are coerced to the nearest float16 (0.1 is not one); the
 * output is FP16, its numbers float16 values: torch's. */
TEST(oip_fp16_json_numbers_are_coerced_to_the_nearest_value)
{
    json_t *root = load_cases(), *c = json_object_get(root, "json_input");
    daemon_proc d = daemon_up(NULL);
    char *x = json_dumps(json_object_get(c, "input"), JSON_COMPACT), *w = json_dumps(json_object_get(c, "weight"), JSON_COMPACT);
    char body[2048];
    snprintf(body, sizeof body,
             "{\"inputs\": [{\"name\": \"input\", \"datatype\": \"FP16\", \"shape\": [1, 1, 2, 3], \"data\": %s},"
             "{\"name\": \"weight\", \"datatype\": \"FP16\", \"shape\": [1, 1, 2, 2], \"data\": %s}]}", x, w);
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(d.port, "POST", "/v2/models/convtranspose/infer", json, body, strlen(body));
    CHECK_INT_EQ(r.status, 200);
    json_t *resp = json_loads(r.body, 0, NULL), *out = json_array_get(json_object_get(resp, "outputs"), 0);
    CHECK(strcmp(json_string_value(json_object_get(out, "datatype")), "FP16") == 0);
    json_t *data = json_object_get(out, "data"), *want = json_object_get(c, "output");
    CHECK_INT_EQ((long)json_array_size(data), (long)json_array_size(want));
    for (size_t i = 0; i < json_array_size(want); i++) {
        const float got = (float)json_number_value(json_array_get(data, i));
        const float expect = ct_f16_bits_to_f32((uint16_t)json_integer_value(json_array_get(want, i)));
        if (got != expect)
            FAIL("output %zu: %.9g, torch %.9g", i, got, expect);
    }
    json_decref(resp);
    http_response_free(&r);
    free(x);
    free(w);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    json_decref(root);
}

/* A registered layer (weights sent as JSON float16 tensors) run on a raw bfloat16 body, and
 * on a .npy float16 body; X-Output-Dtype: float32 asks for the float32 result itself. */
TEST_WITH_TIMEOUT(raw_bf16_and_npy_fp16_bodies_answer_in_their_dtype, 60)
{
    json_t *root = load_cases();
    daemon_proc d = daemon_up(NULL);
    const char *const json[] = {"Content-Type: application/json", NULL};
    for (int l = 0; l < 2; l++) {
        json_t *c = json_array_get(json_object_get(root, "layers"), (size_t)l);
        const ct_dtype dtype = l == 0 ? CT_DTYPE_FLOAT16 : CT_DTYPE_BFLOAT16;
        size_t nx, nw, ny;
        uint16_t *x = bits_array(json_object_get(c, "input"), &nx), *w = bits_array(json_object_get(c, "weight"), &nw);
        uint16_t *y = bits_array(json_object_get(c, "output"), &ny);
        /* the weight as a JSON tensor of its dtype: its values written exactly */
        char ws[64];
        shape_text(json_object_get(c, "weight_shape"), ws, sizeof ws, ", ");
        char *put = malloc(nw * 24 + 256);
        int n = sprintf(put, "{\"weight\": {\"shape\": [%s], \"dtype\": \"%s\", \"data\": [", ws, ct_dtype_name(dtype));
        for (size_t i = 0; i < nw; i++) {
            float v;
            ct_dtype_to_f32(dtype, &w[i], &v, 1);
            n += sprintf(put + n, "%s%.9g", i ? "," : "", v);
        }
        sprintf(put + n, "]}, \"stride\": 2}");
        http_response r = http_request(d.port, "PUT", l == 0 ? "/v1/layers/f16" : "/v1/layers/bf16", json, put, strlen(put));
        CHECK_INT_EQ(r.status, 201);
        http_response_free(&r);
        free(put);
        char xs[64], shape_hdr[96], dtype_hdr[64];
        shape_text(json_object_get(c, "input_shape"), xs, sizeof xs, ",");
        snprintf(shape_hdr, sizeof shape_hdr, "X-Tensor-Shape: %s", xs);
        snprintf(dtype_hdr, sizeof dtype_hdr, "X-Tensor-Dtype: %s", ct_dtype_name(dtype));
        const char *path = l == 0 ? "/v1/layers/f16/convtranspose" : "/v1/layers/bf16/convtranspose";
        /* raw in, raw out */
        const char *const raw[] = {"Content-Type: application/octet-stream", shape_hdr, dtype_hdr, "Accept: application/octet-stream", NULL};
        r = http_request(d.port, "POST", path, raw, x, nx * 2);
        CHECK_INT_EQ(r.status, 200);
        char *got_dtype = http_header(&r, "X-Tensor-Dtype");
        CHECK(got_dtype && strcmp(got_dtype, ct_dtype_name(dtype)) == 0);
        free(got_dtype);
        CHECK_INT_EQ((long)r.len, (long)(ny * 2));
        CHECK(memcmp(r.body, y, ny * 2) == 0);
        http_response_free(&r);
        /* X-Output-Dtype: float32, as JSON: torch's float32 result, unrounded */
        const char *const wide[] = {"Content-Type: application/octet-stream", shape_hdr, dtype_hdr, "X-Output-Dtype: float32", NULL};
        r = http_request(d.port, "POST", path, wide, x, nx * 2);
        CHECK_INT_EQ(r.status, 200);
        CHECK_CONTAINS(r.body, "\"dtype\":\"float32\"");
        json_t *resp = json_loads(r.body, 0, NULL), *data = json_object_get(resp, "data"), *f32 = json_object_get(c, "output_f32");
        CHECK_INT_EQ((long)json_array_size(data), (long)json_array_size(f32));
        for (size_t i = 0; i < json_array_size(f32); i++)
            CHECK(json_number_value(json_array_get(data, i)) == json_number_value(json_array_get(f32, i)));
        json_decref(resp);
        http_response_free(&r);
        if (dtype == CT_DTYPE_FLOAT16) { /* .npy <f2 in, .npy <f2 out */
            char npy[256 + 4096];
            ct_shape s = {4, {0}};
            for (int i = 0; i < 4; i++)
                s.dims[i] = json_integer_value(json_array_get(json_object_get(c, "input_shape"), (size_t)i));
            size_t hl = ct_npy_header_as(&s, CT_DTYPE_FLOAT16, npy);
            CHECK(strstr(npy + 10, "'<f2'") != NULL);
            memcpy(npy + hl, x, nx * 2);
            const char *const np[] = {"Content-Type: application/x-npy", "Accept: application/x-npy", NULL};
            r = http_request(d.port, "POST", path, np, npy, hl + nx * 2);
            CHECK_INT_EQ(r.status, 200);
            CHECK(r.len > 128 && memmem(r.body, 128, "'<f2'", 5) != NULL);
            const size_t oh = (size_t)(unsigned char)r.body[8] + 10;
            CHECK_INT_EQ((long)(r.len - oh), (long)(ny * 2));
            CHECK(memcmp(r.body + oh, y, ny * 2) == 0);
            http_response_free(&r);
        }
        printf("  %s layer: raw, float32 on request%s: torch's values\n", ct_dtype_name(dtype), dtype == CT_DTYPE_FLOAT16 ? ", .npy" : "");
        free(x);
        free(w);
        free(y);
    }
    CHECK_INT_EQ(daemon_stop(&d), 0);
    json_decref(root);
}

static void expect_415(int port, const char *path, const char *const *headers, const char *body, size_t len, const char *needle)
{
    http_response r = http_request(port, "POST", path, headers, body, len);
    if (r.status != 415 || !strstr(r.body, needle))
        FAIL("POST %s: %ld %s (wanted 415 naming %s)", path, r.status, r.body, needle);
    http_response_free(&r);
}

TEST(dtypes_not_served_get_415_naming_them_and_the_ones_that_are)
{
    daemon_proc d = daemon_up(NULL);
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(d.port, "PUT", "/v1/layers/one", json, "{\"weight\": [[[1, 1]]]}", 22);
    CHECK_INT_EQ(r.status, 201);
    http_response_free(&r);
    const char oip[] = "{\"inputs\": [{\"name\": \"input\", \"datatype\": \"INT8\", \"shape\": [1, 1, 1], \"data\": [1]}]}";
    expect_415(d.port, "/v2/models/one/infer", json, oip, strlen(oip), "'INT8' is not supported; use FP32, FP16, BF16 or FP64");
    const char fp8[] = "{\"inputs\": [{\"name\": \"input\", \"datatype\": \"FP8\", \"shape\": [1, 1, 1], \"data\": [1]}]}";
    expect_415(d.port, "/v2/models/one/infer", json, fp8, strlen(fp8), "'FP8'");
    const char *const raw8[] = {"Content-Type: application/octet-stream", "X-Tensor-Shape: 1,1,2", "X-Tensor-Dtype: int8", NULL};
    expect_415(d.port, "/v1/layers/one/convtranspose", raw8, "ab", 2, "X-Tensor-Dtype: 'int8' is not supported; send float32, float16 or bfloat16");
    const char *const out64[] = {"Content-Type: application/json", "X-Output-Dtype: float64", NULL};
    expect_415(d.port, "/v1/layers/one/convtranspose", out64, "{\"input\": [[[1]]]}", 18, "X-Output-Dtype: 'float64' is not served");
    const char bad[] = "{\"input\": {\"shape\": [1, 1, 1], \"dtype\": \"int16\", \"data\": [1]}}";
    expect_415(d.port, "/v1/layers/one/convtranspose", json, bad, strlen(bad), "'int16' is not supported; \\\"float32\\\", \\\"float16\\\", \\\"bfloat16\\\""); /* JSON-escaped quotes */
    char npy[256];
    ct_shape s = {3, {1, 1, 1}};
    size_t hl = ct_npy_header(&s, npy);
    memcpy(strstr(npy + 10, "<f4"), "<i2", 3); /* an int16 array */
    memset(npy + hl, 0, 2);
    const char *const np[] = {"Content-Type: application/x-npy", NULL};
    expect_415(d.port, "/v1/layers/one/convtranspose", np, npy, hl + 2, "dtype '<i2' is not supported; send little-endian float32 ('<f4'), float16 ('<f2')");
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
