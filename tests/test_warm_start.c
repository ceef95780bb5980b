/* test_warm_start.c - a daemon restarted on a --model-dir serves at once but says it is not
 * ready until every layer there is loaded and has run once (server/warmup.c): /healthz 200
 * and /readyz 503 "warming" meanwhile, a layer not yet loaded answers 503 "loading" (not
 * 404), and the log names each layer with the time it took. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

TEST_WITH_TIMEOUT(a_restart_is_not_ready_until_every_stored_layer_is_loaded_and_run_once, 120)
{
    char dir[] = "/tmp/ct-warm-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const char *const args[] = {"--model-dir", dir, NULL};
    daemon_proc d = daemon_up(args);
    /* four layers of 4M weights each (64 -> 256 channels, 16 x 16): each takes a while to
     * read, hash, pack and run */
    enum { N = 4 };
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "big%d", i);
        put_ones_layer(d.port, name, 64, 256, 16, ", \"padding\": 7");
    }
    CHECK_INT_EQ(daemon_stop(&d), 0);

    daemon_start_unready(&d, args);
    int saw_warming = 0, saw_loading = 0, health_ok = 1;
    double ready_after = -1;
    const double t0 = monotonic_seconds();
    while (monotonic_seconds() - t0 < 30) {
        http_response h = http_request(d.port, "GET", "/healthz", NULL, NULL, 0);
        health_ok &= h.status == 200;
        http_response_free(&h);
        http_response r = http_request(d.port, "GET", "/readyz", NULL, NULL, 0);
        const long status = r.status;
        if (status == 503) {
            CHECK_CONTAINS(r.body, "\"status\": \"warming\"");
            saw_warming = 1;
        }
        http_response_free(&r);
        /* the last layer is loaded last: meanwhile it is loading, not missing */
        http_response m = http_request(d.port, "GET", "/v2/models/big3/ready", NULL, NULL, 0);
        if (status == 503 && m.status == 503) {
            CHECK_CONTAINS(m.body, "is loading");
            saw_loading = 1;
        }
        http_response_free(&m);
        if (status == 200) {
            ready_after = monotonic_seconds() - t0;
            break;
        }
        CHECK_INT_EQ(status, 503);
        usleep(5000);
    }
    printf("  ready %.0f ms after the port opened; warming seen %d, loading seen %d\n", ready_after * 1e3, saw_warming, saw_loading);
    CHECK(health_ok);
    CHECK(saw_warming);
    CHECK(saw_loading);
    CHECK(ready_after > 0);
    /* ready: every layer is served, and the protocol's probes agree */
    http_response r = http_request(d.port, "GET", "/v2/health/ready", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    for (int i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof path, "/v2/models/big%d/ready", i);
        r = http_request(d.port, "GET", path, NULL, NULL, 0);
        CHECK_INT_EQ(r.status, 200);
        http_response_free(&r);
    }
    char *log = daemon_log(&d);
    for (int i = 0; i < N; i++) {
        char line[64];
        snprintf(line, sizeof line, "warm-up: layer big%d loaded and run once in ", i);
        CHECK_CONTAINS(log, line);
    }
    CHECK_CONTAINS(log, "ready: 4 of 4 layers of --model-dir loaded in ");
    free(log);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}
