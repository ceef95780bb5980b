/* test_metrics.c - GET /metrics parsed as the Prometheus text format: every sample has a
 * declared type, names are prefixed convtransposed_, histograms are cumulative with +Inf
 * equal to the count, and the counts match the traffic the test sent. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "test.h"

/* The value of the sample whose line starts with `series ` (NAME{labels}), or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static void check_exposition(const char *text)
{
    char declared[64][96];
    int ndeclared = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[96], type[32];
            CHECK(sscanf(line + 7, "%95s %31s", name, type) == 2);
            CHECK(!strcmp(type, "counter") || !strcmp(type, "gauge") || !strcmp(type, "histogram"));
            CHECK(ndeclared < 64);
            strcpy(declared[ndeclared++], name);
            continue;
        }
        CHECK(line[0] != '#');
        CHECK_CONTAINS(line, "convtransposed_");
        CHECK(strncmp(line, "convtransposed_", 15) == 0);
        /* NAME or NAME{labels}, a space, a number */
        size_t name_len = strcspn(line, "{ ");
        char *value = strrchr(line, ' ');
        CHECK(value != NULL);
        char *end;
        strtod(value + 1, &end);
        if (*end != '\0')
            FAIL("not a number in: %s", line);
        int known = 0;
        for (int i = 0; i < ndeclared && !known; i++) {
            size_t dl = strlen(declared[i]);
            known = (dl == name_len || (name_len > dl && line[dl] == '_')) && strncmp(line, declared[i], dl) == 0;
        }
        if (!known)
            FAIL("sample without a # TYPE before it: %s", line);
    }
    free(copy);
}

TEST(metrics_exposition_parses_and_counts_traffic)
{
    daemon_proc d;
    daemon_start(&d, NULL);
    const char body[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"stride\":2}";
    const char *const json[] = {"Content-Type: application/json", NULL};
    for (int i = 0; i < 5; i++) {
        http_response r = http_request(d.port, "POST", "/convtranspose", json, body, strlen(body));
        CHECK_INT_EQ(r.status, 200);
        http_response_free(&r);
    }
    http_response r = http_request(d.port, "POST", "/convtranspose", json, "{", 1);
    CHECK_INT_EQ(r.status, 400);
    http_response_free(&r);
    const char layer[] = "{\"weight\":[[[1,10]]],\"stride\":2}";
    r = http_request(d.port, "PUT", "/v1/layers/m1", json, layer, strlen(layer));
    CHECK_INT_EQ(r.status, 201);
    http_response_free(&r);
    for (int i = 0; i < 3; i++) {
        r = http_request(d.port, "POST", "/v1/layers/m1/convtranspose", json, "{\"input\":[[1,2]]}", 17);
        CHECK_INT_EQ(r.status, 200);
        http_response_free(&r);
    }
    r = http_request(d.port, "POST", "/v1/layers/m1/convtranspose", json, "{\"input\":[[1,2,3],[4,5,6]]}", 27);
    CHECK_INT_EQ(r.status, 400);
    http_response_free(&r);

    r = http_request(d.port, "GET", "/metrics", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    expect_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    check_exposition(r.body);
    CHECK_INT_EQ(sample(r.body, "convtransposed_requests_total{route=\"/convtranspose\",status=\"200\"}"), 5);
    CHECK_INT_EQ(sample(r.body, "convtransposed_requests_total{route=\"/convtranspose\",status=\"400\"}"), 1);
    CHECK_INT_EQ(sample(r.body, "convtransposed_requests_total{route=\"/v1/layers/{name}/convtranspose\",status=\"200\"}"), 3);
    CHECK_INT_EQ(sample(r.body, "convtransposed_layer_inferences_total{layer=\"m1\",result=\"success\"}"), 3);
    CHECK_INT_EQ(sample(r.body, "convtransposed_layer_inferences_total{layer=\"m1\",result=\"failure\"}"), 1);
    CHECK_INT_EQ(sample(r.body, "convtransposed_layer_executions_total{layer=\"m1\"}"), 4);
    double count = sample(r.body, "convtransposed_request_duration_seconds_count");
    CHECK(count >= 11);
    CHECK_INT_EQ(sample(r.body, "convtransposed_request_duration_seconds_bucket{le=\"+Inf\"}"), count);
    double prev = 0;
    static const char *const les[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"};
    for (size_t i = 0; i < sizeof les / sizeof les[0]; i++) {
        char series[96];
        snprintf(series, sizeof series, "convtransposed_request_duration_seconds_bucket{le=\"%s\"}", les[i]);
        double v = sample(r.body, series);
        CHECK(v >= prev);
        prev = v;
    }
    CHECK(sample(r.body, "convtransposed_requests_in_flight") >= 1); /* this very request */
    CHECK(sample(r.body, "convtransposed_process_resident_memory_bytes") > 1e6);
    CHECK(sample(r.body, "convtransposed_process_open_fds") >= 3);
    CHECK(sample(r.body, "convtransposed_received_bytes_total") > 5 * (double)strlen(body));
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
