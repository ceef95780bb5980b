/* test_registry_races.c - the layer store under concurrent changes: PUTs (each with its own
 * weights) and DELETEs of the same layers from several threads at once. Whatever the
 * interleaving, what the daemon serves from memory must be what --model-dir holds: the
 * same layer present or absent, with the same sha256, before and after a restart. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "test.h"

enum { THREADS = 4, ROUNDS = 40, LAYERS = 2 };

typedef struct storm {
    int port;
    int seed;
} storm;

static void *storm_thread(void *arg)
{
    storm *s = arg;
    unsigned st = (unsigned)s->seed * 2654435761u + 1;
    const char *const json[] = {"Content-Type: application/json", NULL};
    for (int i = 0; i < ROUNDS; i++) {
        st = st * 1103515245u + 12345u;
        char path[64], body[128];
        snprintf(path, sizeof path, "/v1/layers/race%u", (st >> 8) % LAYERS);
        http_response r;
        if ((st >> 16) % 3 == 0) {
            r = http_request(s->port, "DELETE", path, NULL, NULL, 0);
        } else {
            snprintf(body, sizeof body, "{\"weight\": {\"shape\": [1, 1, 2], \"data\": [%d, %d]}}", s->seed, i);
            r = http_request(s->port, "PUT", path, json, body, strlen(body));
        }
        if (r.status != 200 && r.status != 201 && r.status != 204 && r.status != 404)
            FAIL("%s: %ld %s", path, r.status, r.body);
        http_response_free(&r);
    }
    return NULL;
}

/* Layer `layer`'s sha256 as served ("" when absent). */
static void served_sha(int port, int layer, char out[65])
{
    char name[32];
    snprintf(name, sizeof name, "race%d", layer);
    served_layer_sha(port, name, out);
}

TEST_WITH_TIMEOUT(layer_store_agrees_with_memory_after_concurrent_puts_and_deletes, 120)
{
    /* on the work tree's filesystem, not tmpfs: there fsync costs what it costs in production,
     * which is when a PUT and a DELETE overlap most */
    char dir[] = "build/ct-races-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    for (int round = 0; round < 12; round++) {
        daemon_proc d;
        daemon_start(&d, (const char *const[]){"--model-dir", dir, "--workers", "4", NULL});
        pthread_t th[THREADS];
        storm s[THREADS];
        for (int t = 0; t < THREADS; t++) {
            s[t] = (storm){d.port, round * THREADS + t + 1};
            CHECK(pthread_create(&th[t], NULL, storm_thread, &s[t]) == 0);
        }
        for (int t = 0; t < THREADS; t++)
            pthread_join(th[t], NULL);
        char before[LAYERS][65], after[65];
        for (int l = 0; l < LAYERS; l++)
            served_sha(d.port, l, before[l]);
        CHECK_INT_EQ(daemon_stop(&d), 0);
        /* a restart serves exactly what is on disk */
        daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
        for (int l = 0; l < LAYERS; l++) {
            served_sha(d.port, l, after);
            if (strcmp(before[l], after) != 0)
                FAIL("round %d, layer race%d: served \"%s\" before the restart, \"%s\" from disk after it", round, l, before[l], after);
        }
        CHECK_INT_EQ(daemon_stop(&d), 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT_EQ(system(cmd), 0);
}
