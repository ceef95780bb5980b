/* test_encoding.c - compressed requests and responses: gzip and deflate bodies are
 * decompressed (and counted against --max-body once decompressed), responses are
 * compressed per Accept-Encoding with a Content-Encoding header, on the JSON API and on the
 * Open Inference Protocol's binary requests. */
#include <curl/curl.h>
#include <string.h>
#include <zlib.h>

#include "http_client.h"
#include "test.h"

static const char SEED[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"bias\":[0.5],\"stride\":2}";
static const char SEED_OUT[] = "{\"shape\":[1,4],\"dtype\":\"float32\",\"data\":[1.5,10.5,2.5,20.5]}";

/* gzip (window 31) or zlib (15) compression of data. */
static unsigned char *squeeze(const void *data, size_t len, int bits, size_t *out_len)
{
    z_stream z = {0};
    CHECK(deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&z, (uLong)len);
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static char *unsqueeze(const char *data, size_t len)
{
    z_stream z = {0};
    CHECK(inflateInit2(&z, 32 + 15) == Z_OK);
    char *out = calloc(1, 1 << 20);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = (unsigned char *)out;
    z.avail_out = (1 << 20) - 1;
    CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
    inflateEnd(&z);
    return out;
}

TEST(gzip_and_deflate_requests_and_responses)
{
    daemon_proc d;
    daemon_start(&d, (const char *const[]){"--max-body", "100K", NULL});
    size_t n;
    unsigned char *gz = squeeze(SEED, strlen(SEED), 31, &n);
    const char *const gzip_in[] = {"Content-Type: application/json", "Content-Encoding: gzip", NULL};
    http_response r = http_request(d.port, "POST", "/convtranspose", gzip_in, gz, n);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, SEED_OUT);
    CHECK(http_header(&r, "Content-Encoding") == NULL); /* not asked for */
    http_response_free(&r);
    free(gz);
    unsigned char *zl = squeeze(SEED, strlen(SEED), 15, &n);
    const char *const deflate_both[] = {"Content-Type: application/json", "Content-Encoding: deflate", "Accept-Encoding: gzip, deflate", NULL};
    r = http_request(d.port, "POST", "/convtranspose", deflate_both, zl, n);
    CHECK_INT_EQ(r.status, 200);
    expect_header(&r, "Content-Encoding", "gzip");
    char *plain = unsqueeze(r.body, r.len);
    CHECK_STR_EQ(plain, SEED_OUT);
    free(plain);
    http_response_free(&r);
    free(zl);
    /* 1 MB of JSON white space compresses to about a kilobyte: refused once decompressed */
    char *big = malloc(1 << 20);
    memset(big, ' ', 1 << 20);
    memcpy(big, SEED, strlen(SEED));
    gz = squeeze(big, 1 << 20, 31, &n);
    CHECK(n < 10000);
    r = http_request(d.port, "POST", "/convtranspose", gzip_in, gz, n);
    CHECK_INT_EQ(r.status, 413);
    CHECK_CONTAINS(r.body, "once decompressed");
    http_response_free(&r);
    free(gz);
    free(big);
    r = http_request(d.port, "POST", "/convtranspose", (const char *const[]){"Content-Type: application/json", "Content-Encoding: br", NULL},
                     SEED, strlen(SEED));
    CHECK_INT_EQ(r.status, 415);
    http_response_free(&r);
    r = http_request(d.port, "POST", "/convtranspose", gzip_in, "not gzip at all", 15);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body, "corrupt gzip");
    http_response_free(&r);

    /* a compressed Open Inference Protocol binary request, and its binary answer compressed */
    float x[2] = {1, 2}, w[2] = {1, 10};
    char head[] = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,2],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":8}},"
                  "{\"name\":\"weight\",\"shape\":[1,1,2],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":8}}],"
                  "\"parameters\":{\"stride\":2,\"binary_data_output\":true}}";
    size_t hl = strlen(head);
    char body[512];
    memcpy(body, head, hl);
    memcpy(body + hl, x, 8);
    memcpy(body + hl + 8, w, 8);
    gz = squeeze(body, hl + 16, 31, &n);
    char hdr_len[64];
    snprintf(hdr_len, sizeof hdr_len, "Inference-Header-Content-Length: %zu", hl);
    const char *const oip[] = {"Content-Encoding: gzip", "Accept-Encoding: gzip", hdr_len, NULL};
    r = http_request(d.port, "POST", "/v2/models/convtranspose/infer", oip, gz, n);
    CHECK_INT_EQ(r.status, 200);
    expect_header(&r, "Content-Encoding", "gzip");
    char *rl = http_header(&r, "Inference-Header-Content-Length");
    size_t json_len = (size_t)atol(rl);
    free(rl);
    plain = unsqueeze(r.body, r.len);
    CHECK(strncmp(plain, "{\"model_name\":\"convtranspose\"", 29) == 0);
    CHECK_CONTAINS(plain, "\"binary_data_size\":16");
    float y[4];
    memcpy(y, plain + json_len, sizeof y);
    CHECK(y[0] == 1 && y[1] == 10 && y[2] == 2 && y[3] == 20);
    free(plain);
    http_response_free(&r);
    free(gz);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
