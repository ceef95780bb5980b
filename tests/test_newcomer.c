/* test_newcomer.c - what a new user trips on first: a second daemon on a taken port, the
 * version, Accept with q-values, GET / listing each route once and sending browsers to
 * /docs, .npy bodies sent without their Content-Type, and error messages that name what was
 * sent and what was expected (Conv-layout weights, per-dim lists, ONNX pads, OIP inputs,
 * numbers past float32). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convtranspose.h"
#include "http_client.h"
#include "test.h"

static const char *daemon_path(void)
{
    return getenv("CT_DAEMON") ? getenv("CT_DAEMON") : "build/convtransposed";
}

TEST(a_second_daemon_on_a_taken_port_fails_unless_both_reuse_it)
{
    daemon_proc d = daemon_up(NULL);
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "timeout 10 %s --host 127.0.0.1 --port %d 2>&1", daemon_path(), d.port);
    int rc = run_command(cmd, &out);
    CHECK_INT_EQ(rc, 1);
    CHECK_CONTAINS(out, "the port is in use by another process");
    CHECK_CONTAINS(out, "--reuse-port");
    free(out);
    CHECK_INT_EQ(daemon_stop(&d), 0);

    d = daemon_up((const char *const[]){"--reuse-port", "1", NULL});
    snprintf(cmd, sizeof cmd, "timeout --preserve-status -s INT 2 %s --host 127.0.0.1 --port %d --reuse-port 1 2>&1", daemon_path(), d.port);
    rc = run_command(cmd, &out);
    CHECK_INT_EQ(rc, 0); /* served until SIGINT, then drained and exited cleanly */
    CHECK_CONTAINS(out, "listening on 127.0.0.1:");
    free(out);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(version_flag_prints_the_version_and_the_kernels_isa)
{
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "%s --version", daemon_path());
    CHECK_INT_EQ(run_command(cmd, &out), 0);
    char want[128];
    snprintf(want, sizeof want, "(kernels: %s)", ct_cpu_isa());
    CHECK(strncmp(out, "convtransposed 0.", 17) == 0);
    CHECK_CONTAINS(out, want);
    free(out);
    snprintf(cmd, sizeof cmd, "%s --help", daemon_path());
    CHECK_INT_EQ(run_command(cmd, &out), 0);
    CHECK_CONTAINS(out, "--reuse-port");
    CHECK_CONTAINS(out, "--version");
    CHECK_CONTAINS(out, "CONVTRANSPOSED_MAX_MEMORY");
    free(out);
}

static const char SEED[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"stride\":2}";

static char *type_for_accept(int port, const char *accept)
{
    char h[256];
    snprintf(h, sizeof h, "Accept: %s", accept);
    const char *const hs[] = {"Content-Type: application/json", h, NULL};
    http_response r = http_request(port, "POST", "/convtranspose", hs, SEED, strlen(SEED));
    CHECK_INT_EQ(r.status, 200);
    char *type = http_header(&r, "Content-Type");
    http_response_free(&r);
    return type;
}

TEST(accept_honours_q_values)
{
    daemon_proc d = daemon_up(NULL);
    const struct { const char *accept, *type; } cases[] = {
        {"application/x-npy;q=0", "application/json"},
        {"application/x-npy;q=0.1, application/json", "application/json"},
        {"application/x-npy", "application/x-npy"},
        {"application/json;q=0.5, application/x-npy", "application/x-npy"},
        {"application/*;q=0.2, application/octet-stream;q=0.9", "application/octet-stream"},
        {"*/*", "application/json"},
        {"text/html, application/octet-stream;q=0.8, */*;q=0.1", "application/octet-stream"},
        {"application/octet-stream;q=0, application/x-npy;q=0", "application/json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *type = type_for_accept(d.port, cases[i].accept);
        if (!type || strcmp(type, cases[i].type) != 0)
            FAIL("Accept: %s gave %s, want %s", cases[i].accept, type ? type : "(none)", cases[i].type);
        free(type);
    }
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(root_lists_each_route_once_and_sends_browsers_to_docs)
{
    daemon_proc d = daemon_up(NULL);
    http_response r = http_request(d.port, "GET", "/", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    /* every path appears once: count "path" entries against distinct ones */
    int listed = 0, repeated = 0;
    for (const char *p = r.body; (p = strstr(p, "{\"path\": \"")); p++) {
        listed++;
        const char *start = p + 10, *end = strchr(start, '"');
        char needle[160];
        snprintf(needle, sizeof needle, "{\"path\": \"%.*s\"", (int)(end - start), start);
        if (strstr(end, needle))
            repeated++;
    }
    CHECK_INT_EQ(repeated, 0);
    CHECK(listed >= 24);
    CHECK_CONTAINS(r.body, "{\"path\": \"/v2/models/{model}/versions/{version}/infer\", \"methods\": \"POST\"}");
    http_response_free(&r);
    const char *const html[] = {"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", NULL};
    r = http_request(d.port, "GET", "/", html, NULL, 0);
    CHECK_INT_EQ(r.status, 302);
    char *loc = http_header(&r, "Location");
    CHECK_STR_EQ(loc, "/docs");
    free(loc);
    http_response_free(&r);
    r = http_request(d.port, "GET", "/docs", html, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "<title>convtransposed API</title>");
    CHECK(strstr(r.body, "http://") == NULL && strstr(r.body, "https://") == NULL); /* nothing from a CDN */
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

static void expect_error(int port, const char *method, const char *path, const char *const *headers, const char *body, size_t len,
                         long status, const char *message)
{
    http_response r = http_request(port, method, path, headers, body, len);
    if (r.status != status || !strstr(r.body, message))
        FAIL("%s %s: %ld %s; want %ld with \"%s\"", method, path, r.status, r.body, status, message);
    http_response_free(&r);
}

TEST(error_messages_name_what_was_sent_and_what_was_expected)
{
    daemon_proc d = daemon_up(NULL);
    const char *const json[] = {"Content-Type: application/json", NULL};
    /* a .npy body without its Content-Type */
    char npy[128] = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
    expect_error(d.port, "POST", "/convtranspose", NULL, npy, 80, 415, "this is a .npy file; send .npy tensors as multipart/form-data");
    const char layer[] = "{\"weight\": [[[1, 1]]]}";
    http_response r = http_request(d.port, "PUT", "/v1/layers/l1", json, layer, strlen(layer));
    CHECK_INT_EQ(r.status, 201);
    http_response_free(&r);
    expect_error(d.port, "POST", "/v1/layers/l1/convtranspose", NULL, npy, 80, 415, "send it with Content-Type: application/x-npy");
    /* JSON bodies, each with the words its 400 must hold */
    static const struct { const char *path, *body, *message; } cases[] = {
        /* a Conv-layout weight */
        {"/convtranspose", "{\"input\": [[[1, 2]], [[3, 4]]], \"weight\": {\"shape\": [3, 1, 1], \"data\": [1, 1, 1]}}",
         "weight of size [3, 1, 1], expected input[2, 1, 2] to have 3 channels"},
        {"/convtranspose", "{\"input\": {\"shape\": [1, 2, 3], \"data\": [1, 2, 3, 4, 5, 6]}, \"weight\": {\"shape\": [4, 2, 1], \"data\": [1, 1, 1, 1, 1, 1, 1, 1]}}",
         "looks like a Conv weight [out_channels, in_channels/groups, *kernel]"},
        /* a per-dim list of the wrong length */
        {"/convtranspose", "{\"input\": [[[[1]]]], \"weight\": [[[[1]]]], \"stride\": [1, 2, 3]}",
         "stride: got a list of 3 values for 2 spatial dims; give an integer or a list of 2"},
        /* ONNX names in the messages about ONNX attributes, PyTorch's about PyTorch's */
        {"/convtranspose", "{\"input\": [[[[1]]]], \"weight\": [[[[1]]]], \"pads\": [0, 0, 0, -1]}", "pads[3] = -1: negative padding"},
        {"/convtranspose", "{\"input\": [[[[1]]]], \"weight\": [[[[1]]]], \"strides\": [1, 0]}", "strides[1] = 0"},
        {"/convtranspose", "{\"input\": [[[[1]]]], \"weight\": [[[[1]]]], \"padding\": -2}", "padding[0] = -2"},
        /* numbers past float32 */
        {"/convtranspose", "{\"input\": {\"shape\": [1, 1, 1], \"data\": [1e400]}, \"weight\": [[[1]]]}", "the number 1e400 overflows float32"},
        /* OIP: what was sent */
        {"/v2/models/convtranspose/infer", "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 1, 2], \"data\": [1, 2]}]}",
         "input 'input': datatype is missing"},
        {"/v2/models/l1/infer", "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 1, 2], \"datatype\": \"FP32\", \"data\": [1, 2]}]}",
         "model 'l1' needs an input named 'input'; the request sent 'x'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(d.port, "POST", cases[i].path, json, cases[i].body, strlen(cases[i].body), 400, cases[i].message);
    /* an unknown /v2 path answers in the protocol's error shape */
    r = http_request(d.port, "GET", "/v2/foo", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 404);
    CHECK(strncmp(r.body, "{\"error\":\"", 10) == 0);
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(repository_index_ready_lists_only_ready_models)
{
    char dir[] = "/tmp/ct-index-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    daemon_proc d = daemon_up((const char *const[]){"--model-dir", dir, NULL});
    const char *const json[] = {"Content-Type: application/json", NULL};
    const char layer[] = "{\"weight\": [[[1, 1]]]}";
    http_response r;
    for (int i = 0; i < 2; i++) {
        r = http_request(d.port, "PUT", i ? "/v1/layers/dropped" : "/v1/layers/kept", json, layer, strlen(layer));
        CHECK_INT_EQ(r.status, 201);
        http_response_free(&r);
    }
    r = http_request(d.port, "POST", "/v2/repository/models/dropped/unload", json, "{}", 2);
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    r = http_request(d.port, "POST", "/v2/repository/index", json, "{}", 2);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "{\"name\":\"dropped\",\"version\":\"1\",\"state\":\"UNAVAILABLE\"}");
    CHECK_CONTAINS(r.body, "{\"name\":\"kept\",\"version\":\"1\",\"state\":\"READY\"}");
    http_response_free(&r);
    r = http_request(d.port, "POST", "/v2/repository/index", json, "{\"ready\": true}", 15);
    CHECK_INT_EQ(r.status, 200);
    CHECK(strstr(r.body, "dropped") == NULL);
    CHECK_CONTAINS(r.body, "{\"name\":\"kept\",\"version\":\"1\",\"state\":\"READY\"}");
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT_EQ(system(cmd), 0);
}

TEST(cors_exposes_the_binary_answers_headers)
{
    daemon_proc d = daemon_up((const char *const[]){"--cors-origin", "*", NULL});
    const char *const hs[] = {"Origin: https://app.example", "Content-Type: application/json", NULL};
    http_response r = http_request(d.port, "POST", "/convtranspose", hs, SEED, strlen(SEED));
    CHECK_INT_EQ(r.status, 200);
    char *expose = http_header(&r, "Access-Control-Expose-Headers");
    CHECK_CONTAINS(expose, "X-Tensor-Shape");
    CHECK_CONTAINS(expose, "Inference-Header-Content-Length");
    free(expose);
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
