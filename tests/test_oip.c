/* test_oip.c - the Open Inference Protocol (KServe v2) over HTTP: metadata, health, infer
 * on the built-in model and on registered layers (JSON, and binary tensors built byte by
 * byte from the spec), outputs and ids, errors as {"error": "..."}, the model repository
 * and statistics extensions. */
#include <curl/curl.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "http_client.h"
#include "test.h"

static const char *const JSON_HDR[] = {"Content-Type: application/json", NULL};
static const char SEED_DATA[] =
    "0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,"
    "9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17,9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17";

static json_t *json_of(const http_response *r)
{
    json_t *root = json_loadb(r->body, r->len, 0, NULL);
    if (!root)
        FAIL("not JSON: %s", r->body);
    return root;
}

static void expect_oip_error(const http_response *r, long status, const char *text)
{
    if (r->status != status)
        FAIL("status %ld, expected %ld: %s", r->status, status, r->body);
    json_t *root = json_of(r);
    CHECK(json_is_string(json_object_get(root, "error")));
    CHECK_CONTAINS(json_string_value(json_object_get(root, "error")), text);
    json_decref(root);
}

/* Sends a request and checks the protocol's error it gets (expect_oip_error). */
static void expect_oip_error_at(int port, const char *method, const char *path, const char *const *headers, const char *body,
                                size_t len, long status, const char *text)
{
    http_response r = http_request(port, method, path, headers, body, len);
    expect_oip_error(&r, status, text);
    http_response_free(&r);
}

TEST(oip_server_metadata_and_health)
{
    daemon_proc d = daemon_up(NULL);
    http_response r = http_request(d.port, "GET", "/v2", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    json_t *root = json_of(&r);
    CHECK_STR_EQ(json_string_value(json_object_get(root, "name")), "convtransposed");
    CHECK_CONTAINS(r.body, "\"binary_tensor_data\"");
    CHECK_CONTAINS(r.body, "\"model_repository\"");
    CHECK_CONTAINS(r.body, "\"statistics\"");
    json_decref(root);
    http_response_free(&r);
    expect_get_status(d.port, "/v2/health/live", 200);
    expect_get_status(d.port, "/v2/health/ready", 200);
    expect_response(d.port, "GET", "/v2/models/convtranspose", NULL, NULL, 0, 200, "\"name\":\"weight\"");
    expect_oip_error_at(d.port, "GET", "/v2/models/nope", NULL, NULL, 0, 404, "model 'nope' is not found");
    expect_oip_error_at(d.port, "GET", "/v2/models/convtranspose/versions/7/ready", NULL, NULL, 0, 404, "has no version '7'");
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(oip_builtin_model_infer_json)
{
    daemon_proc d = daemon_up(NULL);
    const char body[] =
        "{\"id\":\"req-42\",\"parameters\":{\"groups\":2},\"inputs\":["
        "{\"name\":\"input\",\"shape\":[1,2,3,3],\"datatype\":\"FP32\",\"data\":[[[[0,1,2],[3,4,5],[6,7,8]],[[9,10,11],[12,13,14],[15,16,17]]]]},"
        "{\"name\":\"weight\",\"shape\":[2,2,3,3],\"datatype\":\"FP64\",\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}],"
        "\"outputs\":[{\"name\":\"output\"}]}";
    /* no Content-Type at all: Triton's client sends none */
    http_response r = http_request(d.port, "POST", "/v2/models/convtranspose/infer", NULL, body, strlen(body));
    CHECK_INT_EQ(r.status, 200);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"model_name\":\"convtranspose\",\"model_version\":\"1\",\"id\":\"req-42\",\"outputs\":[{\"name\":\"output\",\"datatype\":\"FP32\",\"shape\":[1,4,5,5],\"data\":[%s]}]}",
             SEED_DATA);
    CHECK_STR_EQ(r.body, want);
    http_response_free(&r);
    /* per-dim hyperparameters as a string holding a JSON array, an int for the others */
    const char strided[] = "{\"parameters\":{\"stride\":\"[2, 1]\",\"padding\":0},\"inputs\":["
                           "{\"name\":\"input\",\"shape\":[1,1,2],\"datatype\":\"FP32\",\"data\":[1,2]},"
                           "{\"name\":\"weight\",\"shape\":[1,1,1,2],\"datatype\":\"FP32\",\"data\":[1,10]},"
                           "{\"name\":\"bias\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[0.5]}]}";
    expect_response(d.port, "POST", "/v2/models/convtranspose/versions/1/infer", JSON_HDR, strided, strlen(strided), 200, "\"shape\":[1,1,3],\"data\":[1.5,12.5,20.5]");
    /* regression (found by fuzz_oip): a second "parameters" leaked the first */
    const char twice[] = "{\"parameters\":{\"groups\":1},\"parameters\":{\"groups\":2},\"inputs\":[]}";
    expect_oip_error_at(d.port, "POST", "/v2/models/convtranspose/infer", JSON_HDR, twice, strlen(twice), 400, "parameters: duplicate key");
    /* regression (found by fuzz_oip): the message named an output after its JSON was freed */
    const char wrong_output[] = "{\"inputs\":[],\"outputs\":[{\"name\":\"logits\"}]}";
    expect_oip_error_at(d.port, "POST", "/v2/models/convtranspose/infer", JSON_HDR, wrong_output, strlen(wrong_output), 400, "unexpected inference output 'logits'");
    const char bad[] = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[1]}]}";
    expect_oip_error_at(d.port, "POST", "/v2/models/convtranspose/infer", JSON_HDR, bad, strlen(bad), 415, "datatype 'INT8' is not supported");
    const char stride0[] = "{\"parameters\":{\"stride\":0},\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,1],\"datatype\":\"FP32\",\"data\":[1]},"
                           "{\"name\":\"weight\",\"shape\":[1,1,1],\"datatype\":\"FP32\",\"data\":[1]}]}";
    expect_oip_error_at(d.port, "POST", "/v2/models/convtranspose/infer", JSON_HDR, stride0, strlen(stride0), 400, "stride[0] = 0: non-positive stride");
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* POSTs an inference request with the binary extension to layer "seed": the JSON header,
 * then n bytes of tensor data, its length in Inference-Header-Content-Length. */
static http_response post_binary(int port, const char *json, const void *bytes, size_t n)
{
    const size_t hl = strlen(json);
    char *body = malloc(hl + n), hdr_len[64];
    CHECK(body != NULL);
    memcpy(body, json, hl);
    memcpy(body + hl, bytes, n);
    snprintf(hdr_len, sizeof hdr_len, "Inference-Header-Content-Length: %zu", hl);
    const char *const headers[] = {"Content-Type: application/octet-stream", hdr_len, NULL};
    http_response r = http_request(port, "POST", "/v2/models/seed/infer", headers, body, hl + n);
    free(body);
    return r;
}

TEST(oip_registered_layer_json_and_binary)
{
    daemon_proc d = daemon_up(NULL);
    const char layer[] = "{\"weight\":{\"shape\":[2,2,3,3],\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},\"groups\":2}";
    http_response r = http_request(d.port, "PUT", "/v1/layers/seed", JSON_HDR, layer, strlen(layer));
    CHECK_INT_EQ(r.status, 201);
    http_response_free(&r);
    r = http_request(d.port, "GET", "/v2/models/seed/versions/1", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[-1,2,-1,-1]");
    CHECK_CONTAINS(r.body, "\"name\":\"output\",\"datatype\":\"FP32\",\"shape\":[-1,4,-1,-1]");
    http_response_free(&r);
    expect_response(d.port, "GET", "/v2/models/seed/ready", NULL, NULL, 0, 200, NULL);

    float x[18];
    for (int i = 0; i < 18; i++)
        x[i] = (float)i;
    /* binary input and binary output, built from the spec */
    const char head[] = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2,3,3],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":72}}],"
                        "\"outputs\":[{\"name\":\"output\",\"parameters\":{\"binary_data\":true}}]}";
    r = post_binary(d.port, head, x, sizeof x);
    CHECK_INT_EQ(r.status, 200);
    char *rl = http_header(&r, "Inference-Header-Content-Length");
    CHECK(rl != NULL);
    size_t json_len = (size_t)atol(rl);
    free(rl);
    CHECK(json_len < r.len);
    CHECK_INT_EQ(r.len - json_len, 100 * sizeof(float));
    char *json = strndup(r.body, json_len);
    CHECK_CONTAINS(json, "\"parameters\":{\"binary_data_size\":400}");
    CHECK_CONTAINS(json, "\"shape\":[1,4,5,5]");
    free(json);
    float y[100];
    memcpy(y, r.body + json_len, sizeof y);
    CHECK_INT_EQ(y[12], 36);
    CHECK_INT_EQ(y[62], 117);
    http_response_free(&r);

    /* binary input, JSON output (request-level binary_data_output false); an odd header
     * length leaves the tensor misaligned in the body */
    const char head2[] = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2,3,3],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":72}}] }";
    r = post_binary(d.port, head2, x, sizeof x);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, SEED_DATA);
    http_response_free(&r);

    /* FP64 binary input */
    double xd[18];
    for (int i = 0; i < 18; i++)
        xd[i] = i;
    const char head3[] = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2,3,3],\"datatype\":\"FP64\",\"parameters\":{\"binary_data_size\":144}}]}";
    r = post_binary(d.port, head3, xd, sizeof xd);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, SEED_DATA);
    http_response_free(&r);

    /* the raw single-input request: header 0, shape in X-Tensor-Shape */
    const char *const raw_hdr[] = {"Content-Type: application/octet-stream", "Inference-Header-Content-Length: 0", "X-Tensor-Shape: 1,2,3,3", NULL};
    r = http_request(d.port, "POST", "/v2/models/seed/infer", raw_hdr, x, sizeof x);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, SEED_DATA);
    http_response_free(&r);

    /* a size that does not match the shape */
    const char head4[] = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2,3,3],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":70}}]}";
    r = post_binary(d.port, head4, x, 70);
    expect_oip_error(&r, 400, "binary_data_size 70, but shape and FP32 need 72 bytes");
    http_response_free(&r);

    /* statistics and the repository */
    r = http_request(d.port, "GET", "/v2/models/seed/stats", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    json_t *root = json_of(&r);
    json_t *st = json_array_get(json_object_get(root, "model_stats"), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(st, "inference_count")), 4);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(json_object_get(st, "inference_stats"), "fail"), "count")), 1);
    json_decref(root);
    http_response_free(&r);
    expect_response(d.port, "POST", "/v2/repository/index", JSON_HDR, "{}", 2, 200, "{\"name\":\"seed\",\"version\":\"1\",\"state\":\"READY\"}");
    expect_response(d.port, "POST", "/v2/repository/models/seed/unload", JSON_HDR, "{}", 2, 200, NULL);
    expect_oip_error_at(d.port, "GET", "/v2/models/seed/ready", NULL, NULL, 0, 404, "not found");
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* examples/oip_client.py, written from the spec with Python's standard library, talks to
 * the daemon (JSON and binary) and checks the answers itself. */
TEST(oip_python_stdlib_client_from_the_spec)
{
    daemon_proc d = daemon_up(NULL);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 examples/oip_client.py --url http://127.0.0.1:%d > /tmp/ct-oip-client.out 2>&1", d.port);
    int rc = system(cmd);
    FILE *f = fopen("/tmp/ct-oip-client.out", "r");
    char out[512] = {0};
    if (f) {
        CHECK(fread(out, 1, sizeof out - 1, f) > 0);
        fclose(f);
    }
    if (rc != 0)
        FAIL("oip_client.py failed: %s", out);
    CHECK_CONTAINS(out, "json: shape [1, 4, 5, 5]");
    CHECK_CONTAINS(out, "binary: shape [1, 4, 5, 5]");
    unlink("/tmp/ct-oip-client.out");
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
