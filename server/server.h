/* server.h - the HTTP daemon: libmicrohttpd accepts and parses HTTP on its own thread, the
 * body of a compute request is handed to the worker pool while the connection is suspended,
 * and the worker resumes it with the response. */
#ifndef CT_SERVER_SERVER_H
#define CT_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "api.h"
#include "budget.h"
#include "config.h"
#include "pool.h"
#include "metrics.h"
#include "registry.h"
#include "watchdog.h"

#define CT_VERSION "0.1.0"

typedef struct ct_server {
    ct_config cfg;
    ct_api_limits limits;
    struct MHD_Daemon *daemon;
    ct_pool *pool;
    ct_watchdog *watchdog;      /* deadlines and hung-up clients of pooled requests */
    uint16_t port;              /* the port really bound (for --port 0) */
    atomic_int inflight;        /* requests received and not completed */
    atomic_int draining;        /* SIGTERM seen: /readyz says 503 */
    atomic_int warming;         /* --model-dir's layers still loading: /readyz says 503 */
    atomic_int layers_to_load, layers_loaded;
    pthread_t warmup_thread;    /* warmup.c */
    int warmup_started;
    ct_access access;           /* bearer token, CORS */
    ct_budget budget;           /* --max-memory */
    ct_registry registry;       /* registered layers (--model-dir) */
    ct_metrics metrics;
    ct_layer builtin_stats;     /* statistics of the built-in "convtranspose" model */
    char *tls_cert_pem, *tls_key_pem;
} ct_server;

/* Starts the pool and the daemon with cfg. 0, or -1 with msg. On error nothing is left
 * running; on success stop with ct_server_stop. */
/* Loads --model-dir's layers on a thread while the daemon serves; warming stays 1 until
 * all are in (warmup.c). 0 or -1. ct_warmup_join waits for it. */
int ct_warmup_start(ct_server *srv);
void ct_warmup_join(ct_server *srv);

int ct_server_start(ct_server *srv, const ct_config *cfg, char *msg, size_t msg_cap);

/* Stops accepting connections and waits (up to timeout seconds) until no request is in
 * flight. Returns the number still in flight when it gave up. */
int ct_server_drain(ct_server *srv, double timeout);

/* Stops the daemon and the pool (after ct_server_drain, nothing is lost). */
void ct_server_stop(ct_server *srv);

#endif /* CT_SERVER_SERVER_H */
