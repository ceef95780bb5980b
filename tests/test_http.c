/* test_http.c - the daemon over HTTP (libcurl): every endpoint, content type, Accept variant
 * and error path; the origin notebook's two layers over JSON and multipart, exact; 64
 * parallel clients; a full queue answering 503 with Retry-After; SIGTERM losing nothing. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "http_client.h"
#include "test.h"

static const char *const JSON_HDR[] = {"Content-Type: application/json", NULL};

/* ConvTranspose2d(2,4,(3,3),groups=2), weights 1, no bias, on arange(18).reshape(1,2,3,3). */
static const char SEED_2D[] =
    "{\"input\":{\"shape\":[1,2,3,3],\"data\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]},"
    "\"weight\":{\"shape\":[2,2,3,3],\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},"
    "\"bias\":null,\"groups\":2}";
/* The same layer's result: each output sums the 3x3 input window that covers it. */
static const char SEED_2D_OUT[] =
    "{\"shape\":[1,4,5,5],\"dtype\":\"float32\",\"data\":["
    "0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,"
    "0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,"
    "9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17,"
    "9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17]}";
/* ConvTranspose3d(1,2,(2,2,2),bias=False), weights 1, on arange(8).reshape(1,1,2,2,2), as
 * nested lists (tensor.tolist()). */
static const char SEED_3D[] =
    "{\"input\":[[[[[0,1],[2,3]],[[4,5],[6,7]]]]],"
    "\"weight\":[[[[[1,1],[1,1]],[[1,1],[1,1]]],[[[1,1],[1,1]],[[1,1],[1,1]]]]]}";
static const char SEED_3D_CHANNEL[] = "0,1,1,2,6,4,2,5,3,4,10,6,12,28,16,8,18,10,4,9,5,10,22,12,6,13,7";

static void stop(daemon_proc *d)
{
    CHECK_INT_EQ(daemon_stop(d), 0);
}

static void check_error(const http_response *r, long status, const char *code, const char *text)
{
    if (r->status != status)
        FAIL("status %ld, expected %ld: %s", r->status, status, r->body);
    json_t *root = json_loads(r->body, 0, NULL);
    CHECK(root != NULL);
    json_t *err = json_object_get(root, "error");
    CHECK(json_is_object(err));
    CHECK_STR_EQ(json_string_value(json_object_get(err, "code")), code);
    CHECK_CONTAINS(json_string_value(json_object_get(err, "message")), text);
    json_decref(root);
    char *ctype = http_header(r, "Content-Type");
    CHECK_STR_EQ(ctype, "application/json");
    free(ctype);
}

/* POSTs a JSON body to /convtranspose and checks the error it gets (check_error). */
static void expect_post_error(int port, const char *body, long status, const char *code, const char *text)
{
    http_response r = http_request(port, "POST", "/convtranspose", JSON_HDR, body, strlen(body));
    check_error(&r, status, code, text);
    http_response_free(&r);
}

TEST(http_health_ready_and_self_description)
{
    daemon_proc d = daemon_up(NULL);
    http_response r = http_request(d.port, "GET", "/healthz", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"ok\"");
    http_response_free(&r);
    r = http_request(d.port, "GET", "/readyz", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    expect_header(&r, "X-Content-Type-Options", "nosniff");
    CHECK(http_header(&r, "Server") == NULL);
    http_response_free(&r);
    r = http_request(d.port, "GET", "/", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    json_t *root = json_loads(r.body, 0, NULL);
    CHECK(root != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(root, "name")), "convtransposed");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(root, "settings"), "max-body")), 64 << 20);
    CHECK(json_array_size(json_object_get(root, "endpoints")) >= 4);
    json_decref(root);
    http_response_free(&r);
    stop(&d);
}

TEST(http_seed_layers_over_json_exact)
{
    daemon_proc d = daemon_up(NULL);
    http_response r = http_request(d.port, "POST", "/convtranspose", JSON_HDR, SEED_2D, strlen(SEED_2D));
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, SEED_2D_OUT);
    http_response_free(&r);
    r = http_request(d.port, "POST", "/convtranspose", JSON_HDR, SEED_3D, strlen(SEED_3D));
    CHECK_INT_EQ(r.status, 200);
    char want[512];
    snprintf(want, sizeof want, "{\"shape\":[1,2,3,3,3],\"dtype\":\"float32\",\"data\":[%s,%s]}", SEED_3D_CHANNEL, SEED_3D_CHANNEL);
    CHECK_STR_EQ(r.body, want);
    http_response_free(&r);
    /* unbatched input and curl -d's default Content-Type */
    const char unbatched[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"bias\":[0.5],\"stride\":2}";
    r = http_request(d.port, "POST", "/convtranspose", (const char *const[]){"Content-Type: application/x-www-form-urlencoded", NULL},
                     unbatched, strlen(unbatched));
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "{\"shape\":[1,4],\"dtype\":\"float32\",\"data\":[1.5,10.5,2.5,20.5]}");
    http_response_free(&r);
    stop(&d);
}

/* Appends a multipart part holding bytes. */
static void add_part(ct_buffer *b, const char *name, const char *ctype, const void *data, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "--BOUNDARYx\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s.npy\"\r\nContent-Type: %s\r\n\r\n", name,
                     name, ctype);
    ct_buffer_append(b, head, (size_t)n);
    ct_buffer_append(b, data, len);
    ct_buffer_append(b, "\r\n", 2);
}

static void add_npy_part(ct_buffer *b, const char *name, const ct_shape *s, const float *data)
{
    ct_buffer npy = {0};
    ct_npy_write(s, data, &npy);
    add_part(b, name, "application/octet-stream", npy.data, npy.len);
    ct_buffer_free(&npy);
}

TEST(http_seed_layers_over_multipart_npy_exact)
{
    daemon_proc d = daemon_up(NULL);
    float x[18], w[36];
    for (int i = 0; i < 18; i++)
        x[i] = (float)i;
    for (int i = 0; i < 36; i++)
        w[i] = 1;
    ct_buffer body = {0};
    ct_shape xs = {4, {1, 2, 3, 3}}, ws = {4, {2, 2, 3, 3}};
    add_npy_part(&body, "input", &xs, x);
    add_npy_part(&body, "weight", &ws, w);
    add_part(&body, "config", "application/json", "{\"groups\": 2}", 13);
    ct_buffer_append(&body, "--BOUNDARYx--\r\n", 15);
    const char *const hdr[] = {"Content-Type: multipart/form-data; boundary=BOUNDARYx", NULL};
    http_response r = http_request(d.port, "POST", "/convtranspose", hdr, body.data, body.len);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, SEED_2D_OUT);
    http_response_free(&r);
    ct_buffer_free(&body);

    /* 3-d seed as multipart, answered as .npy */
    float x3[8], w3[16];
    for (int i = 0; i < 8; i++)
        x3[i] = (float)i;
    for (int i = 0; i < 16; i++)
        w3[i] = 1;
    ct_shape xs3 = {5, {1, 1, 2, 2, 2}}, ws3 = {5, {1, 2, 2, 2, 2}};
    add_npy_part(&body, "input", &xs3, x3);
    add_npy_part(&body, "weight", &ws3, w3);
    ct_buffer_append(&body, "--BOUNDARYx--\r\n", 15);
    const char *const hdr_npy[] = {"Content-Type: multipart/form-data; boundary=BOUNDARYx", "Accept: application/x-npy", NULL};
    r = http_request(d.port, "POST", "/convtranspose", hdr_npy, body.data, body.len);
    CHECK_INT_EQ(r.status, 200);
    expect_header(&r, "Content-Type", "application/x-npy");
    ct_api_limits limits = {.max_elements = 1000};
    ct_tensor out;
    ct_api_error err;
    CHECK_INT_EQ(ct_npy_parse(r.body, r.len, &limits, "response", &out, &err), 0);
    CHECK_INT_EQ(out.shape.rank, 5);
    CHECK_INT_EQ(out.shape.dims[1], 2);
    static const int channel[27] = {0, 1, 1, 2, 6, 4, 2, 5, 3, 4, 10, 6, 12, 28, 16, 8, 18, 10, 4, 9, 5, 10, 22, 12, 6, 13, 7};
    for (int i = 0; i < 54; i++)
        CHECK_INT_EQ(out.data[i], channel[i % 27]);
    ct_tensor_free(&out);
    http_response_free(&r);
    ct_buffer_free(&body);

    /* curl -F style upload with a wrong dtype: 415 naming the part */
    int32_t ints[2] = {1, 2};
    ct_buffer bad = {0};
    char npy[128];
    const char dict[] = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n";
    memcpy(npy, "\x93NUMPY\x01\x00", 8);
    npy[8] = (char)(sizeof dict - 1);
    npy[9] = 0;
    memcpy(npy + 10, dict, sizeof dict - 1);
    memcpy(npy + 10 + sizeof dict - 1, ints, sizeof ints);
    add_part(&bad, "weight", "application/octet-stream", npy, 10 + sizeof dict - 1 + sizeof ints);
    add_npy_part(&bad, "input", &xs, x);
    ct_buffer_append(&bad, "--BOUNDARYx--\r\n", 15);
    r = http_request(d.port, "POST", "/convtranspose", hdr, bad.data, bad.len);
    check_error(&r, 415, "unsupported_dtype", "weight: dtype '<i4'");
    http_response_free(&r);
    ct_buffer_free(&bad);
    stop(&d);
}

TEST(http_raw_float32_response_with_shape_header)
{
    daemon_proc d = daemon_up(NULL);
    const char *const hdr[] = {"Content-Type: application/json", "Accept: application/octet-stream", NULL};
    http_response r = http_request(d.port, "POST", "/convtranspose", hdr, SEED_2D, strlen(SEED_2D));
    CHECK_INT_EQ(r.status, 200);
    char *shape = http_header(&r, "X-Tensor-Shape"), *ctype = http_header(&r, "Content-Type");
    CHECK_STR_EQ(shape, "1,4,5,5");
    CHECK_STR_EQ(ctype, "application/octet-stream");
    CHECK_INT_EQ(r.len, 100 * sizeof(float));
    float v[100];
    memcpy(v, r.body, sizeof v);
    CHECK_INT_EQ(v[12], 36);
    CHECK_INT_EQ(v[62], 117);
    free(shape);
    free(ctype);
    http_response_free(&r);
    stop(&d);
}

TEST(http_error_paths)
{
    daemon_proc d = daemon_up((const char *const[]){"--max-body", "4096", NULL});
    http_response r = http_request(d.port, "GET", "/nowhere", NULL, NULL, 0);
    check_error(&r, 404, "not_found", "no such endpoint");
    http_response_free(&r);

    r = http_request(d.port, "GET", "/convtranspose", NULL, NULL, 0);
    check_error(&r, 405, "method_not_allowed", "method GET is not allowed on /convtranspose");
    expect_header(&r, "Allow", "POST");
    http_response_free(&r);

    r = http_request(d.port, "DELETE", "/healthz", NULL, NULL, 0);
    check_error(&r, 405, "method_not_allowed", "use GET");
    http_response_free(&r);

    r = http_request(d.port, "POST", "/convtranspose", (const char *const[]){"Content-Type: text/plain", NULL}, "x", 1);
    check_error(&r, 415, "unsupported_media_type", "text/plain is not supported");
    http_response_free(&r);

    expect_post_error(d.port, "{\"input\": ", 400, "invalid_json", "invalid JSON");
    expect_post_error(d.port, "{\"input\":[[[1,2]]],\"weight\":[[[1,1]]],\"stride\":0}", 400, "invalid_stride",
                      "stride[0] = 0: non-positive stride is not supported");
    expect_post_error(d.port, "{\"input\":[[[1,2],[3,4]]],\"weight\":[[[1,1]]],\"groups\":1}", 400, "weight_shape_mismatch",
                      "to have 1 channels, but got 2 channels");
    /* A 60-byte request asking for 10^12 outputs is refused before anything is allocated. */
    expect_post_error(d.port, "{\"input\":[[[1,2]]],\"weight\":[[[1,1]]],\"stride\":999999999999}", 413, "output_too_large",
                      "exceed the limit of 67108864");

    /* Content-Length over --max-body: refused from the header */
    char *big = calloc(1, 10000);
    memset(big, ' ', 9999);
    r = http_request(d.port, "POST", "/convtranspose", JSON_HDR, big, 9999);
    check_error(&r, 413, "body_too_large", "9999 bytes exceed the limit of 4096");
    http_response_free(&r);
    /* chunked upload over the limit: cut off once it passes */
    r = http_request(d.port, "POST", "/convtranspose", (const char *const[]){"Content-Type: application/json", "Transfer-Encoding: chunked", NULL},
                     big, 9999);
    check_error(&r, 413, "body_too_large", "more than 4096 bytes");
    http_response_free(&r);
    free(big);

    /* JSON nesting deeper than --max-json-depth (default 32) */
    char deep[200] = "{\"input\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    strcat(deep, "1");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, ",\"weight\":[[[1]]]}");
    r = http_request(d.port, "POST", "/convtranspose", JSON_HDR, deep, strlen(deep));
    CHECK_INT_EQ(r.status, 400);
    http_response_free(&r);
    const char deep_param[] = "{\"input\":[[1]],\"weight\":[[[1]]],\"stride\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}";
    r = http_request(d.port, "POST", "/convtranspose", JSON_HDR, deep_param, strlen(deep_param));
    check_error(&r, 400, "invalid_json", "nested too deeply");
    http_response_free(&r);

    /* the daemon is still fine */
    r = http_request(d.port, "POST", "/convtranspose", JSON_HDR, SEED_2D, strlen(SEED_2D));
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, SEED_2D_OUT);
    http_response_free(&r);
    char *log = daemon_log(&d);
    CHECK_CONTAINS(log, "access POST /convtranspose 413");
    CHECK_CONTAINS(log, "access GET /nowhere 404 in=0 out=");
    free(log);
    stop(&d);
}

TEST_WITH_TIMEOUT(http_64_parallel_clients_all_correct, 120)
{
    daemon_proc d = daemon_up(NULL);
    enum { N = 64 };
    http_response rs[N];
    http_parallel(d.port, "/convtranspose", JSON_HDR, SEED_2D, strlen(SEED_2D), N, rs);
    for (int i = 0; i < N; i++) {
        CHECK_INT_EQ(rs[i].status, 200);
        CHECK_STR_EQ(rs[i].body, SEED_2D_OUT);
        http_response_free(&rs[i]);
    }
    stop(&d);
}

/* A request that keeps one thread busy for a while: input [1, C, 32, 32], weight [C, C, 4, 4]. */
static char *slow_body(int c, size_t *len)
{
    ct_buffer b = {0};
    char head[128];
    int n = snprintf(head, sizeof head, "{\"stride\":2,\"padding\":1,\"input\":{\"shape\":[1,%d,32,32],\"data\":[", c);
    ct_buffer_append(&b, head, (size_t)n);
    for (int i = 0; i < c * 1024; i++)
        ct_buffer_append(&b, i ? ",1" : "1", i ? 2 : 1);
    n = snprintf(head, sizeof head, "]},\"weight\":{\"shape\":[%d,%d,4,4],\"data\":[", c, c);
    ct_buffer_append(&b, head, (size_t)n);
    for (int i = 0; i < c * c * 16; i++)
        ct_buffer_append(&b, i ? ",1" : "1", i ? 2 : 1);
    ct_buffer_append(&b, "]}}", 4);
    *len = b.len - 1;
    return b.data;
}

TEST_WITH_TIMEOUT(http_full_queue_answers_503_with_retry_after, 120)
{
    daemon_proc d = daemon_up((const char *const[]){"--threads", "1", "--workers", "1", "--queue", "1", NULL});
    size_t len;
    char *body = slow_body(256, &len);
    enum { N = 8 };
    http_response rs[N];
    http_parallel(d.port, "/convtranspose", JSON_HDR, body, len, N, rs);
    for (int i = 0; i < N; i++)
        if (rs[i].status == 200)
            CHECK_CONTAINS(rs[i].body, "\"shape\":[1,256,64,64]");
        else
            check_error(&rs[i], 503, "queue_full", "the request queue is full");
    int ok, busy;
    count_served_or_busy(rs, N, "queue_full", &ok, &busy);
    CHECK(ok >= 1);
    CHECK(busy >= 1);
    CHECK_INT_EQ(ok + busy, N);
    /* and it recovers: the next request is served */
    http_response r = http_request(d.port, "POST", "/convtranspose", JSON_HDR, SEED_2D, strlen(SEED_2D));
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    free(body);
    stop(&d);
}

TEST_WITH_TIMEOUT(http_sigterm_finishes_in_flight_requests, 120)
{
    daemon_proc d = daemon_up((const char *const[]){"--threads", "1", "--workers", "1", NULL});
    size_t len;
    char *body = slow_body(192, &len);
    enum { N = 6 };
    http_response rs[N];
    pid_t killer = fork(); /* SIGTERM 300 ms into the requests */
    if (killer == 0) {
        usleep(300000);
        kill(d.pid, SIGTERM);
        _exit(0);
    }
    http_parallel(d.port, "/convtranspose", JSON_HDR, body, len, N, rs);
    CHECK(waitpid(killer, NULL, 0) == killer);
    for (int i = 0; i < N; i++) {
        if (rs[i].status != 200)
            FAIL("request %d: status %ld after SIGTERM: %s", i, rs[i].status, rs[i].body);
        CHECK_CONTAINS(rs[i].body, "\"shape\":[1,192,64,64]");
        http_response_free(&rs[i]);
    }
    int status;
    CHECK(waitpid(d.pid, &status, 0) == d.pid);
    CHECK(WIFEXITED(status));
    CHECK_INT_EQ(WEXITSTATUS(status), 0);
    char *log = daemon_log(&d);
    CHECK_CONTAINS(log, "stopping: finishing");
    CHECK_CONTAINS(log, "stopped");
    free(log);
    unlink(d.log_path);
    free(body);
}
