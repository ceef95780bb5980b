/* test_memory_budget.c - --max-memory counts what requests really hold, on every route that
 * computes: a layer run and an OIP inference (on a layer and on the built-in model) that
 * alone pass the budget get their 413 as /convtranspose does; a client that declares a
 * large Content-Length and sends nothing holds no budget; a small gzip body that inflates
 * past the budget is counted as what it inflates to. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "http_client.h"
#include "test.h"

TEST(max_memory_covers_layer_runs_and_oip_inferences)
{
    daemon_proc d = daemon_up((const char *const[]){"--max-memory", "1M", NULL});
    const char *const json[] = {"Content-Type: application/json", NULL};
    /* weight [1, 64, 8, 8] stride 8: an 8x8 input makes a 64-channel 64x64 output, 1 MiB of
     * floats and ~6 MiB of JSON, from a request of a few hundred bytes */
    char *weight = malloc(1 << 16);
    int n = sprintf(weight, "{\"shape\": [1, 64, 8, 8], \"data\": [");
    for (int i = 0; i < 64 * 64; i++)
        n += sprintf(weight + n, "%s1", i ? "," : "");
    sprintf(weight + n, "]}");
    char *body = malloc(1 << 17);
    sprintf(body, "{\"weight\": %s, \"stride\": 8}", weight);
    http_response r = http_request(d.port, "PUT", "/v1/layers/wide", json, body, strlen(body));
    CHECK_INT_EQ(r.status, 201);
    http_response_free(&r);
    char input[1024];
    n = sprintf(input, "{\"shape\": [1, 1, 8, 8], \"data\": [");
    for (int i = 0; i < 64; i++)
        n += sprintf(input + n, "%s%d", i ? "," : "", i);
    sprintf(input + n, "]}");
    sprintf(body, "{\"input\": %s, \"weight\": %s, \"stride\": 8}", input, weight);
    expect_response(d.port, "POST", "/convtranspose", json, body, strlen(body), 413, "more than --max-memory");
    sprintf(body, "{\"input\": %s}", input);
    expect_response(d.port, "POST", "/v1/layers/wide/convtranspose", json, body, strlen(body), 413, "more than --max-memory");
    char oip[4096];
    n = sprintf(oip, "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 1, 8, 8], \"datatype\": \"FP32\", \"data\": [");
    for (int i = 0; i < 64; i++)
        n += sprintf(oip + n, "%s%d", i ? "," : "", i);
    sprintf(oip + n, "]}]}");
    expect_response(d.port, "POST", "/v2/models/wide/infer", json, oip, strlen(oip), 413, "more than --max-memory");
    n = sprintf(body, "{\"parameters\": {\"stride\": 8}, \"inputs\": [{\"name\": \"input\", \"shape\": [1, 1, 8, 8], \"datatype\": \"FP32\", \"data\": [");
    for (int i = 0; i < 64; i++)
        n += sprintf(body + n, "%s%d", i ? "," : "", i);
    n += sprintf(body + n, "]}, {\"name\": \"weight\", \"shape\": [1, 64, 8, 8], \"datatype\": \"FP32\", \"data\": [");
    for (int i = 0; i < 64 * 64; i++)
        n += sprintf(body + n, "%s1", i ? "," : "");
    sprintf(body + n, "]}]}");
    expect_response(d.port, "POST", "/v2/models/convtranspose/infer", json, body, strlen(body), 413, "more than --max-memory");
    /* a smaller input of the same layer fits and is computed */
    const char small[] = "{\"input\": [[[[1]]]]}";
    expect_response(d.port, "POST", "/v1/layers/wide/convtranspose", json, small, strlen(small), 200, "\"shape\":[1,64,8,8]");
    free(weight);
    free(body);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* A connection that sends headers declaring len bytes of body, then nothing. */
static int declare_and_wait(int port, size_t len)
{
    int fd = connect_local(port);
    char head[256];
    int n = snprintf(head, sizeof head, "POST /convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n{", len);
    CHECK(write(fd, head, (size_t)n) == n);
    return fd;
}

TEST(declared_but_unsent_bodies_hold_no_budget_and_inflated_ones_count_in_full)
{
    daemon_proc d = daemon_up((const char *const[]){"--max-memory", "2M", "--max-body", "2M", NULL});
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = declare_and_wait(d.port, 1900000); /* together 7.6 MB declared, 4 bytes sent */
    usleep(200000);
    const char *const json[] = {"Content-Type: application/json", NULL};
    const char seed[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"stride\":2}";
    expect_response(d.port, "POST", "/convtranspose", json, seed, strlen(seed), 200, "\"data\":[1,10,2,20]");
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    /* 1.9 MB of JSON that gzips to a few KB: counted as 1.9 MB once inflated, so two at once
     * would pass the budget; alone it is computed */
    size_t raw_len = 1900000;
    char *raw = malloc(raw_len + 64);
    int n = sprintf(raw, "{\"input\":{\"shape\":[1,1,%d],\"data\":[", (int)((raw_len - 80) / 2));
    for (size_t i = 0; i < (raw_len - 80) / 2; i++)
        n += sprintf(raw + n, "%s0", i ? "," : "");
    n += sprintf(raw + n, "]},\"weight\":[[[1]]]}");
    uLongf zlen = compressBound((uLong)n) + 64;
    unsigned char *z = malloc(zlen);
    z_stream s = {0};
    CHECK(deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    s.next_in = (unsigned char *)raw;
    s.avail_in = (uInt)n;
    s.next_out = z;
    s.avail_out = (uInt)zlen;
    CHECK(deflate(&s, Z_FINISH) == Z_STREAM_END);
    size_t zn = s.total_out;
    deflateEnd(&s);
    CHECK(zn < 20000);
    const char *const gz[] = {"Content-Type: application/json", "Content-Encoding: gzip", NULL};
    /* alone, body (1.9 MB inflated) plus its work pass 2 MB: refused, by what it inflates to */
    http_response r = http_request(d.port, "POST", "/convtranspose", gz, z, zn);
    CHECK(r.status == 413 || r.status == 503);
    CHECK(strstr(r.body, "--max-memory") != NULL);
    http_response_free(&r);
    free(raw);
    free(z);
    r = http_request(d.port, "GET", "/metrics", NULL, NULL, 0);
    CHECK_CONTAINS(r.body, "convtransposed_memory_budget_used_bytes 0\n"); /* all of it given back */
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
