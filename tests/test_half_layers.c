/* test_half_layers.c - registered layers whose weights come as float16 or bfloat16 keep them
 * so: half the bytes in memory (and, float16, on disk), the very answers of a float32 layer of
 * the same values, across a restart; a float64 input to such a layer is a 415. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "test.h"

enum { CIN = 64, COUT = 32, KS = 4, SIDE = 5 };

/* PUT /v1/layers/NAME with weights of dtype (values exact in float16 and bfloat16: eighths
 * from -1 to 1). */
static void put_layer(int port, const char *name, const char *dtype)
{
    const int count = CIN * COUT * KS * KS;
    char *body = malloc((size_t)count * 8 + 256);
    int n = sprintf(body, "{\"weight\": {\"shape\": [%d, %d, %d, %d], \"dtype\": \"%s\", \"data\": [", CIN, COUT, KS, KS, dtype);
    for (int i = 0; i < count; i++)
        n += sprintf(body + n, "%s%g", i ? "," : "", (double)(i % 17 - 8) * 0.125);
    sprintf(body + n, "]}, \"stride\": 2, \"padding\": 1}");
    char path[96];
    snprintf(path, sizeof path, "/v1/layers/%s", name);
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(port, "PUT", path, json, body, strlen(body));
    if (r.status != 201 && r.status != 200)
        FAIL("PUT %s: %ld %s", path, r.status, r.body);
    http_response_free(&r);
    free(body);
}

/* The layer's description: its weight_dtype (copied to dtype) and weight_bytes. */
static long long describe(int port, const char *name, char *dtype, size_t cap)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/layers/%s", name);
    http_response r = http_request(port, "GET", path, NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    json_t *root = json_loadb(r.body, r.len, 0, NULL);
    CHECK(root != NULL);
    snprintf(dtype, cap, "%s", json_string_value(json_object_get(root, "weight_dtype")));
    long long bytes = (long long)json_integer_value(json_object_get(root, "weight_bytes"));
    json_decref(root);
    http_response_free(&r);
    return bytes;
}

/* The layer's JSON answer for the fixed float32 input of dtype (float32 or float64). */
static http_response run_layer(int port, const char *name, const char *dtype)
{
    char body[4096];
    int n = sprintf(body, "{\"input\": {\"shape\": [1, %d, %d, %d], \"dtype\": \"%s\", \"data\": [", CIN, SIDE, SIDE, dtype);
    for (int i = 0; i < CIN * SIDE * SIDE; i++)
        n += sprintf(body + n, "%s%d", i ? "," : "", i % 7 - 3);
    sprintf(body + n, "]}}");
    char path[96];
    snprintf(path, sizeof path, "/v1/layers/%s/convtranspose", name);
    const char *const json[] = {"Content-Type: application/json", NULL};
    return http_request(port, "POST", path, json, body, strlen(body));
}

static char *answer(int port, const char *name)
{
    http_response r = run_layer(port, name, "float32");
    if (r.status != 200)
        FAIL("run %s: %ld %s", name, r.status, r.body);
    char *text = strdup(r.body);
    http_response_free(&r);
    return text;
}

TEST_WITH_TIMEOUT(float16_and_bfloat16_layers_keep_half_the_bytes_and_answer_as_float32_ones, 60)
{
    char dir[] = "/tmp/ct_half_XXXXXX", dtype[32];
    CHECK(mkdtemp(dir) != NULL);
    daemon_proc d;
    daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
    put_layer(d.port, "w32", "float32");
    put_layer(d.port, "w16", "float16");
    put_layer(d.port, "wb16", "bfloat16");
    const long long full = describe(d.port, "w32", dtype, sizeof dtype);
    CHECK_STR_EQ(dtype, "float32");
    CHECK(full >= 4LL * CIN * COUT * KS * KS);
    long long half = describe(d.port, "w16", dtype, sizeof dtype);
    CHECK_STR_EQ(dtype, "float16");
    CHECK(half * 2 == full);
    half = describe(d.port, "wb16", dtype, sizeof dtype);
    CHECK_STR_EQ(dtype, "bfloat16");
    CHECK(half * 2 == full);

    char *want = answer(d.port, "w32"), *got16 = answer(d.port, "w16"), *gotb16 = answer(d.port, "wb16");
    CHECK_CONTAINS(want, "\"shape\":[1,32,10,10]");
    CHECK_STR_EQ(got16, want);
    CHECK_STR_EQ(gotb16, want);

    http_response r = run_layer(d.port, "w16", "float64");
    CHECK_INT_EQ(r.status, 415);
    CHECK_CONTAINS(r.body, "keeps 16-bit weights");
    http_response_free(&r);
    r = run_layer(d.port, "w32", "float64"); /* a float32 layer computes float64 input in float32 */
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);

    /* float16 weights are float16 on disk too, and come back as such */
    char path[256];
    snprintf(path, sizeof path, "%s/w16/weight.npy", dir);
    char npy[128] = {0}, cmd[320];
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    size_t got = fread(npy, 1, sizeof npy - 1, f);
    fclose(f);
    CHECK(memmem(npy, got, "'descr': '<f2'", 14) != NULL);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
    CHECK(describe(d.port, "w16", dtype, sizeof dtype) * 2 == full);
    CHECK_STR_EQ(dtype, "float16");
    char *again = answer(d.port, "w16");
    CHECK_STR_EQ(again, want);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    free(want);
    free(got16);
    free(gotb16);
    free(again);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT_EQ(system(cmd), 0);
}
