/* test_raw_bodies.c - raw float32 bodies whose shape is declared in X-Tensor-Shape: the
 * declared byte size must equal the body exactly on every raw route, computed without
 * wrapping. The two remote reads found by a security review are replayed here, at the
 * largest --max-elements there is; the byte check alone is tested below it. */
#include <curl/curl.h>
#include <stdint.h>
#include <string.h>

#include "api.h"
#include "http_client.h"
#include "test.h"

static void put_layer(int port, const char *name, const char *json)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/layers/%s", name);
    const char *const h[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(port, "PUT", path, h, json, strlen(json));
    CHECK_INT_EQ(r.status, 201);
    http_response_free(&r);
}

/* POSTs body to both raw routes of layer name with shape declared; checks status and code. */
static void check_raw_refused(int port, const char *name, const char *shape, const void *body, size_t len, long status, const char *code)
{
    char shape_h[128], path[128];
    snprintf(shape_h, sizeof shape_h, "X-Tensor-Shape: %s", shape);
    const char *const oip[] = {"Inference-Header-Content-Length: 0", "Content-Type: application/octet-stream", shape_h, NULL};
    snprintf(path, sizeof path, "/v2/models/%s/infer", name);
    http_response r = http_request(port, "POST", path, oip, body, len);
    if (r.status != status || !strstr(r.body, code))
        FAIL("%s with X-Tensor-Shape %s: %ld %s", path, shape, r.status, r.body);
    CHECK(strstr(r.body, "\"error\":\"") != NULL); /* the protocol's error shape */
    http_response_free(&r);
    const char *const v1[] = {"Content-Type: application/octet-stream", shape_h, NULL};
    snprintf(path, sizeof path, "/v1/layers/%s/convtranspose", name);
    r = http_request(port, "POST", path, v1, body, len);
    if (r.status != status || !strstr(r.body, code))
        FAIL("%s with X-Tensor-Shape %s: %ld %s", path, shape, r.status, r.body);
    http_response_free(&r);
}

TEST(raw_body_whose_declared_bytes_wrap_is_refused_not_read_past)
{
    daemon_proc d = daemon_up((const char *const[]){"--max-elements", "1152921504606846975", NULL}); /* 2^60 - 1 */
    /* 2^62 + 16 floats are 2^64 + 64 bytes: a bare n * 4 wraps to 64, the body's length */
    char layer[256];
    snprintf(layer, sizeof layer, "{\"weight\": {\"shape\": [1,1,1], \"data\": [1]}, \"pads\": [1024, %llu]}",
             (unsigned long long)((UINT64_C(1) << 62) + 16 - 1024 - 4096));
    put_layer(d.port, "wrap", layer);
    char zeros[64] = {0};
    check_raw_refused(d.port, "wrap", "1,1,4611686018427387920", zeros, 64, 413, "too_many_elements");
    check_raw_refused(d.port, "wrap", "1,1,1152921504606846975", zeros, 64, 400, "invalid_tensor");
    /* 2 x 2^61 floats are 2^64 bytes: wraps to 0, an empty body (it crashed the daemon) */
    snprintf(layer, sizeof layer, "{\"weight\": {\"shape\": [2,1,1], \"data\": [1, 1]}, \"padding\": %llu}",
             (unsigned long long)((UINT64_C(1) << 60) - 1));
    put_layer(d.port, "empty", layer);
    check_raw_refused(d.port, "empty", "1,2,2305843009213693952", "", 0, 413, "too_many_elements");
    check_raw_refused(d.port, "empty", "1,2,576460752303423487", "", 0, 400, "invalid_tensor");
    /* one float short and one float long */
    put_layer(d.port, "one", "{\"weight\": {\"shape\": [1,1,1], \"data\": [2]}}");
    check_raw_refused(d.port, "one", "1,1,16", zeros, 60, 400, "invalid_tensor");
    char more[68] = {0};
    check_raw_refused(d.port, "one", "1,1,16", more, 68, 400, "invalid_tensor");
    check_raw_refused(d.port, "one", "1,1,99999999999999999999", zeros, 64, 400, "invalid_shape");
    check_raw_refused(d.port, "one", "1,1,+16", zeros, 64, 400, "invalid_shape");

    /* the exact size is computed, on both routes, from the body's own floats */
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)i;
    const char *const oip[] = {"Inference-Header-Content-Length: 0", "X-Tensor-Shape: 1,1,16", NULL};
    http_response r = http_request(d.port, "POST", "/v2/models/one/infer", oip, x, sizeof x);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"shape\":[1,1,16],\"data\":[0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30]");
    http_response_free(&r);
    const char *const v1[] = {"Content-Type: application/octet-stream", "X-Tensor-Shape: 1,1,16", "Accept: application/json", NULL};
    r = http_request(d.port, "POST", "/v1/layers/one/convtranspose", v1, x, sizeof x);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"shape\":[1,1,16],\"dtype\":\"float32\",\"data\":[0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30]");
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(raw_body_over_max_elements_gets_413_on_both_routes)
{
    daemon_proc d = daemon_up((const char *const[]){"--max-elements", "1000", NULL});
    put_layer(d.port, "one", "{\"weight\": {\"shape\": [1,1,1], \"data\": [2]}}");
    char zeros[64] = {0};
    check_raw_refused(d.port, "one", "1,1,4611686018427387920", zeros, 64, 413, "too_many_elements");
    check_raw_refused(d.port, "one", "1,1,1001", zeros, 64, 413, "too_many_elements");
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(inference_header_content_length_must_be_a_byte_count)
{
    daemon_proc d = daemon_up(NULL);
    put_layer(d.port, "one", "{\"weight\": {\"shape\": [1,1,1], \"data\": [2]}}");
    float x[4] = {1, 2, 3, 4};
    const char *bad[] = {"abc", "-1", "0x10", "18446744073709551617", "1 0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char h[96];
        snprintf(h, sizeof h, "Inference-Header-Content-Length: %s", bad[i]);
        const char *const hs[] = {h, "X-Tensor-Shape: 1,1,4", NULL};
        http_response r = http_request(d.port, "POST", "/v2/models/one/infer", hs, x, sizeof x);
        if (r.status != 400 || !strstr(r.body, "Inference-Header-Content-Length"))
            FAIL("Inference-Header-Content-Length '%s': %ld %s", bad[i], r.status, r.body);
        http_response_free(&r);
    }
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(shape_bytes_refuses_what_does_not_fit_int64)
{
    ct_shape s = {3, {1, 1, (INT64_C(1) << 62) + 16}};
    CHECK_INT_EQ(ct_shape_elements(&s), (INT64_C(1) << 62) + 16);
    CHECK_INT_EQ(ct_shape_bytes(&s, 4), -1);
    CHECK_INT_EQ(ct_shape_bytes(&s, 1), (INT64_C(1) << 62) + 16);
    s = (ct_shape){2, {3, 5}};
    CHECK_INT_EQ(ct_shape_bytes(&s, 8), 120);
    s = (ct_shape){2, {3, -5}};
    CHECK_INT_EQ(ct_shape_bytes(&s, 1), -1);
    s = (ct_shape){0, {0}};
    CHECK_INT_EQ(ct_shape_bytes(&s, 4), 4);

    /* the compute library refuses an input no buffer could hold, whatever the plan's padding */
    ct_params p;
    ct_params_init(&p, 1);
    p.pads_begin[0] = 1024;
    p.pads_end[0] = (INT64_C(1) << 62) + 16 - 1024 - 4096;
    ct_shape ws = {3, {1, 1, 1}}, xs = {3, {1, 1, (INT64_C(1) << 62) + 16}}, os;
    char msg[256];
    CHECK_INT_EQ(ct_output_shape(&p, &ws, &xs, &os, msg, sizeof msg), CT_E_OVERFLOW);
    CHECK_CONTAINS(msg, "input: the byte size");
    xs.dims[2] = (INT64_C(1) << 61) - 1; /* fits: the natural output is what is checked next */
    CHECK_INT_EQ(ct_output_shape(&p, &ws, &xs, &os, msg, sizeof msg), CT_E_OUTPUT_TOO_SMALL);

    /* the shared raw parser: exact length, body moved into the tensor */
    ct_buffer body = {0};
    CHECK_INT_EQ(ct_buffer_append(&body, (float[]){1, 2, 3}, 12), 0);
    ct_api_limits lim = {.max_elements = 0}; /* no cap: only the byte size decides */
    ct_tensor t = {0};
    ct_api_error err;
    CHECK_INT_EQ(ct_raw_take_tensor(&body, "1,1,4611686018427387920", NULL, &lim, "input", &t, &err), -1); /* 2^64 + 64 bytes */
    CHECK_INT_EQ(err.status, 400);
    body.len = 0;
    CHECK_INT_EQ(ct_raw_take_tensor(&body, "1,2,2305843009213693952", NULL, &lim, "input", &t, &err), -1); /* 2^64 bytes */
    CHECK_INT_EQ(err.status, 400);
    body.len = 12;
    CHECK_INT_EQ(ct_raw_take_tensor(&body, "1,4", NULL, &lim, "input", &t, &err), -1);
    CHECK_INT_EQ(err.status, 400);
    CHECK(body.data != NULL && t.data == NULL);
    CHECK_INT_EQ(ct_raw_take_tensor(&body, "1, 3", NULL, &lim, "input", &t, &err), 0);
    CHECK(body.data == NULL && body.len == 0);
    CHECK_INT_EQ(t.shape.rank, 2);
    CHECK_INT_EQ(t.shape.dims[1], 3);
    CHECK(t.data[2] == 3.0f);
    ct_tensor_free(&t);
}
