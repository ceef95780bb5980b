/* test_work_bounds.c - work a request can cause is bounded: plan building is linear in the
 * kernel (a 1-d kernel of 300k taps with stride >= kernel, where a quadratic build took
 * hours), and --max-gflop refuses a request whose nominal FLOPs pass it, with a 413 on every
 * route that computes. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convtranspose.h"
#include "http_client.h"
#include "test.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

TEST(plan_building_is_linear_in_the_kernel_when_stride_passes_it)
{
    const int64_t K = 300000;
    float *w = malloc(sizeof(float) * (size_t)K);
    for (int64_t i = 0; i < K; i++)
        w[i] = (float)(i % 7) - 3;
    ct_params p;
    ct_params_init(&p, 1);
    p.stride[0] = K + 5; /* every tap its own phase, and phases with no tap */
    ct_shape ws = {3, {1, 1, K}};
    ct_plan *plan;
    char msg[256];
    double t0 = now();
    CHECK_INT_EQ(ct_plan_create(&p, &ws, w, NULL, 0, &plan, msg, sizeof msg), CT_OK);
    double built = now() - t0;
    if (built > 10) /* linear: well under a second; quadratic: about 14 minutes */
        FAIL("building a plan of %lld taps took %.1f s", (long long)K, built);
    /* and it computes the right thing. With stride > kernel no two taps meet: input i lays
     * x[i] * w down at i * stride, and the 5 outputs between the copies hold 0. (The naive
     * reference would take minutes here: it gathers over every tap for every output.) */
    ct_shape xs = {3, {1, 1, 2}}, os;
    CHECK_INT_EQ(ct_plan_output_shape(plan, &xs, &os, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(os.dims[2], (K + 5) + K);
    float x[2] = {1, -2};
    float *y = malloc(sizeof(float) * (size_t)os.dims[2]);
    CHECK_INT_EQ(ct_plan_run(plan, &xs, x, y, 2, msg, sizeof msg), CT_OK);
    for (int64_t o = 0; o < os.dims[2]; o++) {
        const int64_t i = o / (K + 5), k = o % (K + 5);
        const float want = k < K ? x[i] * w[k] : 0.0f;
        if (y[o] != want)
            FAIL("output %lld: %g, want %g", (long long)o, y[o], want);
    }
    ct_plan_destroy(plan);
    free(w);
    free(y);
}

static void expect_413(int port, const char *method, const char *path, const char *body)
{
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(port, method, path, json, body, strlen(body));
    if (r.status != 413 || !strstr(r.body, "nominal FLOPs") || !strstr(r.body, "exceed the limit of 1e+09"))
        FAIL("%s %s: %ld %s", method, path, r.status, r.body);
    http_response_free(&r);
}

TEST(max_gflop_refuses_too_much_work_on_every_route)
{
    daemon_proc d = daemon_up((const char *const[]){"--max-gflop", "1", NULL});
    /* 2 * 1 * 1 * 1 * (2^15 inputs * 2^15 taps) = 2.1 GFLOP, from a few bytes of input:
     * a short signal through a long kernel */
    char *weight = malloc(1 << 20), *body = malloc(1 << 20);
    int n = sprintf(weight, "{\"shape\": [1, 1, 32768], \"data\": [");
    for (int i = 0; i < 32768; i++)
        n += sprintf(weight + n, "%s1", i ? "," : "");
    sprintf(weight + n, "]}");
    /* an input of 32768 zeros */
    char *in = malloc(1 << 18);
    int m = sprintf(in, "{\"shape\": [1, 1, 32768], \"data\": [");
    for (int i = 0; i < 32768; i++)
        m += sprintf(in + m, "%s0", i ? "," : "");
    sprintf(in + m, "]}");
    sprintf(body, "{\"input\": %s, \"weight\": %s}", in, weight);
    expect_413(d.port, "POST", "/convtranspose", body);
    sprintf(body, "{\"weight\": %s}", weight);
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(d.port, "PUT", "/v1/layers/long", json, body, strlen(body));
    CHECK_INT_EQ(r.status, 201); /* a layer is not work until it runs */
    http_response_free(&r);
    sprintf(body, "{\"input\": %s}", in);
    expect_413(d.port, "POST", "/v1/layers/long/convtranspose", body);
    int k = sprintf(body, "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 1, 32768], \"datatype\": \"FP32\", \"data\": [");
    for (int i = 0; i < 32768; i++)
        k += sprintf(body + k, "%s0", i ? "," : "");
    sprintf(body + k, "]}]}");
    r = http_request(d.port, "POST", "/v2/models/long/infer", json, body, strlen(body));
    CHECK_INT_EQ(r.status, 413);
    CHECK_CONTAINS(r.body, "nominal FLOPs");
    http_response_free(&r);
    /* below the limit the same layer runs */
    r = http_request(d.port, "POST", "/v1/layers/long/convtranspose", json, "{\"input\": [[[1, 2]]]}", 21);
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"shape\":[1,1,32769]");
    http_response_free(&r);
    free(weight);
    free(body);
    free(in);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
