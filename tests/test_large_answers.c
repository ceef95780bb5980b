/* test_large_answers.c - large JSON answers, which the encoder writes on several threads as
 * slices that are sent as they are (pieces, no joined copy): the pieces join to exactly the
 * one-thread text, and over HTTP, HTTPS and gzip every value of a 262,144-number answer
 * arrives, on the v1 and the Open Inference Protocol routes. */
#include <jansson.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string.h>
#include <zlib.h>

#include "api.h"
#include "http_client.h"
#include "oip.h"
#include "stream.h"
#include "test.h"

/* n floats of every kind the encoder writes differently: integers, fractions, tiny and huge
 * magnitudes, negative zero, and a non-finite value now and then. */
static float *varied_floats(int64_t n)
{
    float *d = malloc((size_t)n * sizeof *d);
    uint32_t s = 12345;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        switch (s >> 29) {
        case 0: d[i] = (float)(int)(s % 20001) - 10000; break;
        case 1: d[i] = i % 1000 == 7 ? NAN : -0.0f; break;
        case 2: d[i] = (float)s * 1e-30f; break;
        case 3: d[i] = (float)s * 1e20f; break;
        default: memcpy(&d[i], &s, sizeof s), d[i] = isfinite(d[i]) ? d[i] : 1.5f;
        }
    }
    return d;
}

static char *joined(ct_pieces *p)
{
    ct_buffer b = {0};
    CHECK_INT_EQ(ct_pieces_join(p, &b), 0);
    CHECK_INT_EQ(ct_buffer_append(&b, "", 1), 0);
    return b.data;
}

TEST(json_encoder_slices_are_pieces_that_join_to_the_one_thread_text)
{
    const int64_t n = 300001;
    float *d = varied_floats(n);
    ct_shape s = {3, {1, 1, n}};
    ct_pieces one = {0};
    int64_t bad_one;
    CHECK_INT_EQ(ct_json_write_tensor_pieces(&s, d, CT_DTYPE_FLOAT32, &one, &bad_one, 1), 0);
    CHECK_INT_EQ(one.count, 1);
    CHECK(bad_one > 0);
    char *want = joined(&one);
    CHECK(strncmp(want, "{\"shape\":[1,1,300001],\"dtype\":\"float32\",\"data\":[", 48) == 0);
    for (int threads = 2; threads <= 5; threads++) {
        ct_pieces p = {0};
        int64_t bad;
        CHECK_INT_EQ(ct_json_write_tensor_pieces(&s, d, CT_DTYPE_FLOAT32, &p, &bad, threads), 0);
        CHECK_INT_EQ(p.count, 1 + threads); /* the head, then a slice per thread */
        CHECK_INT_EQ(bad, bad_one);
        char *got = joined(&p);
        CHECK_INT_EQ(strlen(got), strlen(want));
        CHECK(strcmp(got, want) == 0);
        free(got);
    }
    /* the protocol's writer: its data array is the same text */
    ct_oip_request req = {.output_requested = 1};
    ct_tensor t = {s, d, CT_DTYPE_FLOAT32};
    ct_pieces oip = {0};
    CHECK_INT_EQ(ct_oip_write_response("m", "1", &req, &t, 0, 4, &oip), 0);
    CHECK_INT_EQ(oip.count, 5);
    char *text = joined(&oip);
    CHECK_CONTAINS(text, "\"datatype\":\"FP32\",\"shape\":[1,1,300001],\"data\":[");
    const char *data = strstr(text, "\"data\":[");
    CHECK(strncmp(data + 8, strstr(want, "\"data\":[") + 8, strlen(want) - 48 - 2) == 0);
    CHECK_STR_EQ(text + strlen(text) - 4, "]}]}");
    free(text);
    free(want);
    free(d);
}

/* A layer of one channel, kernel 8, stride 8: each input value x[i][j] becomes the 8x8
 * block x[i][j] * w. Values are small integers times eighths, so every product is exact and
 * the expected answer does not depend on how the kernels order their arithmetic. */
enum { K = 8, SIDE_MAX = 128 };
static int SIDE = 64, OUT = 64 * K; /* 128: past CT_STREAM_MIN_NUMBERS, a streamed answer */

static float input_at(int i) { return (float)(i % 97 - 48); }
static float weight_at(int k) { return (float)(k - 32) * 0.125f; }

static void put_upsampler(int port, const char *ca_file)
{
    char body[2048];
    size_t n = (size_t)sprintf(body, "{\"weight\":{\"shape\":[1,1,%d,%d],\"data\":[", K, K);
    for (int k = 0; k < K * K; k++)
        n += (size_t)sprintf(body + n, "%s%g", k ? "," : "", (double)weight_at(k));
    n += (size_t)sprintf(body + n, "]},\"stride\":%d}", K);
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = ca_file ? https_request(port, ca_file, "PUT", "/v1/layers/up8", json, body, n)
                              : http_request(port, "PUT", "/v1/layers/up8", json, body, n);
    CHECK_INT_EQ(r.status, 201);
    http_response_free(&r);
}

static char *inflated(const http_response *r, size_t *len)
{
    z_stream z = {0};
    CHECK(inflateInit2(&z, 32 + 15) == Z_OK);
    size_t cap = 16u << 20;
    char *out = malloc(cap + 1);
    z.next_in = (unsigned char *)r->body;
    z.avail_in = (uInt)r->len;
    z.next_out = (unsigned char *)out;
    z.avail_out = (uInt)cap;
    CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
    *len = cap - z.avail_out;
    out[*len] = 0;
    inflateEnd(&z);
    return out;
}

/* Every one of the OUT x OUT values of a JSON answer's data array (v1's, or the protocol's
 * first output's). */
static void expect_upsampled(const char *text, size_t len, int oip)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root)
        FAIL("not JSON at %d: %s", jerr.position, jerr.text);
    json_t *holder = oip ? json_array_get(json_object_get(root, "outputs"), 0) : root;
    json_t *data = json_object_get(holder, "data");
    CHECK_INT_EQ(json_array_size(data), OUT * OUT);
    for (int y = 0; y < OUT; y++)
        for (int x = 0; x < OUT; x++) {
            float want = input_at(y / K * SIDE + x / K) * weight_at(y % K * K + x % K);
            float got = (float)json_number_value(json_array_get(data, (size_t)y * OUT + x));
            if (got != want)
                FAIL("value (%d, %d): %g, want %g", y, x, (double)got, (double)want);
        }
    json_decref(root);
}

static void expect_large_answers(int port, const char *ca_file)
{
    static float x[SIDE_MAX * SIDE_MAX];
    for (int i = 0; i < SIDE * SIDE; i++)
        x[i] = input_at(i);
    char shape[64];
    snprintf(shape, sizeof shape, "X-Tensor-Shape: 1,1,%d,%d", SIDE, SIDE);
    const char *const v1[] = {"Content-Type: application/octet-stream", shape, NULL};
    const char *const v1_gzip[] = {"Content-Type: application/octet-stream", shape, "Accept-Encoding: gzip", NULL};
    const char *const v2[] = {"Inference-Header-Content-Length: 0", shape, NULL};
    const char *const v2_gzip[] = {"Inference-Header-Content-Length: 0", shape, "Accept-Encoding: gzip", NULL};
    const struct {
        const char *path;
        const char *const *headers;
        int oip, gzip;
    } cases[] = {
        {"/v1/layers/up8/convtranspose", v1, 0, 0},
        {"/v1/layers/up8/convtranspose", v1_gzip, 0, 1},
        {"/v2/models/up8/infer", v2, 1, 0},
        {"/v2/models/up8/infer", v2_gzip, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const size_t bytes = sizeof x[0] * (size_t)(SIDE * SIDE);
        http_response r = ca_file ? https_request(port, ca_file, "POST", cases[i].path, cases[i].headers, x, bytes)
                                  : http_request(port, "POST", cases[i].path, cases[i].headers, x, bytes);
        CHECK_INT_EQ(r.status, 200);
        char *length = http_header(&r, "Content-Length"), *chunked = http_header(&r, "Transfer-Encoding");
        if (OUT * OUT >= CT_STREAM_MIN_NUMBERS) { /* sent while it was written */
            CHECK(length == NULL);
            CHECK(chunked != NULL && strcmp(chunked, "chunked") == 0);
        } else {
            CHECK(length != NULL && chunked == NULL);
            CHECK_INT_EQ(atoll(length), r.len);
        }
        free(length);
        free(chunked);
        if (cases[i].gzip) {
            expect_header(&r, "Content-Encoding", "gzip");
            size_t len;
            char *plain = inflated(&r, &len);
            expect_upsampled(plain, len, cases[i].oip);
            free(plain);
        } else {
            CHECK(http_header(&r, "Content-Encoding") == NULL);
            expect_upsampled(r.body, r.len, cases[i].oip);
        }
        http_response_free(&r);
    }
}

/* Answers of CT_STREAM_MIN_NUMBERS numbers and more are sent while they are written
 * (chunked), gzip ones compressed as they go; every value still arrives, over HTTP or
 * HTTPS, v1 or v2. */
static void expect_streamed_answers(const tls_files *t)
{
    SIDE = SIDE_MAX;
    OUT = SIDE_MAX * K;
    daemon_proc d = daemon_up(t ? (const char *const[]){"--tls-cert", t->cert, "--tls-key", t->key, NULL} : NULL);
    put_upsampler(d.port, t ? t->cert : NULL);
    expect_large_answers(d.port, t ? t->cert : NULL);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    SIDE = 64;
    OUT = 64 * K;
}

/* Clients that hang up in the middle of a streamed answer: the worker stops writing it,
 * nothing is left behind (the sanitized build's daemon exits non-zero on a leak), and the
 * next request is answered in full. */
TEST_WITH_TIMEOUT(a_client_leaving_a_streamed_answer_frees_it, 120)
{
    daemon_proc d = daemon_up((const char *const[]){"--workers", "1", NULL});
    SIDE = SIDE_MAX;
    OUT = SIDE_MAX * K;
    put_upsampler(d.port, NULL);
    static float x[SIDE_MAX * SIDE_MAX];
    for (int i = 0; i < SIDE * SIDE; i++)
        x[i] = input_at(i);
    for (int round = 0; round < 4; round++) {
        int fd = connect_local(d.port);
        char head[256];
        int n = snprintf(head, sizeof head, "POST /v1/layers/up8/convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                         "X-Tensor-Shape: 1,1,%d,%d\r\nContent-Length: %zu\r\n\r\n", SIDE, SIDE, sizeof x);
        CHECK(write(fd, head, (size_t)n) == n);
        CHECK(write(fd, x, sizeof x) == (ssize_t)sizeof x);
        char got[4096];
        size_t have = 0; /* read a little of the answer (round 0: none), then leave */
        while (have < (size_t)round * 1000) {
            ssize_t k = read(fd, got, sizeof got);
            CHECK(k > 0);
            have += (size_t)k;
        }
        close(fd);
    }
    expect_large_answers(d.port, NULL);
    SIDE = 64;
    OUT = 64 * K;
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* One worker with both threads, so the answer is encoded in two slices. */
TEST_WITH_TIMEOUT(large_json_answers_arrive_whole_over_http_https_and_gzip, 120)
{
    daemon_proc d = daemon_up((const char *const[]){"--threads", "2", "--workers", "1", NULL});
    put_upsampler(d.port, NULL);
    expect_large_answers(d.port, NULL);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    expect_streamed_answers(NULL);

    tls_files t;
    make_tls_cert(&t);
    daemon_start(&d, (const char *const[]){"--threads", "2", "--workers", "1", "--tls-cert", t.cert, "--tls-key", t.key, NULL});
    put_upsampler(d.port, t.cert);
    expect_large_answers(d.port, t.cert);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    expect_streamed_answers(&t);
    remove_tls_cert(&t);
}
