/* warmup.c - the daemon serves (health probes, registration) at once, and loads the layers
 * of --model-dir on a thread of its own: each is read, its plan built and run once on a
 * small input (ct_registry_load), and logged with the time it took. Until every one is in,
 * /readyz and /v2/health/ready answer 503 "warming", so a load balancer or Kubernetes sends
 * no inference to a replica that would answer its first requests slowly or not at all. */
#include <pthread.h>
#include <stdio.h>

#include "log.h"
#include "server.h"

static void *warmup_main(void *arg)
{
    ct_server *srv = arg;
    const double t0 = ct_now();
    char **names;
    int n, loaded = 0;
    if (ct_registry_names(&srv->registry, 1, &names, &n) != 0) {
        ct_log(CT_LOG_ERROR, "warm-up: out of memory listing --model-dir");
        n = 0;
        names = NULL;
    }
    atomic_store(&srv->layers_to_load, n);
    for (int i = 0; i < n && !atomic_load(&srv->draining); i++) {
        const double t1 = ct_now();
        ct_api_error err = {0};
        if (ct_registry_load(&srv->registry, names[i], &err) == 0) {
            loaded++;
            ct_log(CT_LOG_INFO, "warm-up: layer %s loaded and run once in %.1f ms", names[i], (ct_now() - t1) * 1e3);
        } else {
            ct_log(CT_LOG_WARN, "warm-up: skipping layer %s: %s", names[i], err.message);
        }
        atomic_fetch_add(&srv->layers_loaded, 1);
    }
    ct_names_free(names, n);
    ct_log(CT_LOG_INFO, "ready: %d of %d layers of --model-dir loaded in %.1f ms", loaded, n, (ct_now() - t0) * 1e3);
    atomic_store(&srv->warming, 0);
    return NULL;
}

int ct_warmup_start(ct_server *srv)
{
    atomic_store(&srv->warming, 1);
    if (pthread_create(&srv->warmup_thread, NULL, warmup_main, srv) != 0) {
        atomic_store(&srv->warming, 0);
        return -1;
    }
    srv->warmup_started = 1;
    return 0;
}

void ct_warmup_join(ct_server *srv)
{
    if (srv->warmup_started)
        pthread_join(srv->warmup_thread, NULL);
    srv->warmup_started = 0;
}
