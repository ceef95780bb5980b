/* daemon.c - starting the daemon (the listening socket, TLS material, libmicrohttpd's
 * options and callbacks), draining it and stopping it. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "request.h"

static int bind_address(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        *len = sizeof *in4;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof *in6;
        return AF_INET6;
    }
    return -1;
}

/* Reads a whole file into a NUL-terminated malloc'd string. 0 or -1. */
static int read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    ct_buffer b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (ct_buffer_append(&b, chunk, n) != 0)
            break;
    fclose(f);
    if (ct_buffer_append(&b, "", 1) != 0) {
        ct_buffer_free(&b);
        return -1;
    }
    *out = b.data;
    return 0;
}

/* Frees what ct_server_start set up before the daemon (token, TLS material). */
static void release_start_state(ct_server *srv)
{
    ct_registry_close(&srv->registry);
    ct_access_free(&srv->access);
    if (srv->tls_key_pem)
        memset(srv->tls_key_pem, 0, strlen(srv->tls_key_pem));
    free(srv->tls_key_pem);
    free(srv->tls_cert_pem);
    srv->tls_key_pem = srv->tls_cert_pem = NULL;
}

int ct_server_start(ct_server *srv, const ct_config *cfg, char *msg, size_t cap)
{
    memset(srv, 0, sizeof *srv);
    srv->cfg = *cfg;
    srv->limits.max_elements = cfg->max_elements;
    srv->limits.max_output_elements = cfg->max_output_elements;
    srv->limits.max_flops = (double)cfg->max_gflop * 1e9;
    srv->limits.max_json_depth = (int)cfg->max_json_depth;
    struct sockaddr_storage ss;
    socklen_t sslen;
    int family = bind_address(cfg->host, (uint16_t)cfg->port, &ss, &sslen);
    if (family < 0) {
        snprintf(msg, cap, "--host %s: not an IPv4 or IPv6 address", cfg->host);
        return -1;
    }
    srv->budget.limit = cfg->max_memory;
    if (ct_registry_open(&srv->registry, cfg->model_dir, &srv->limits, msg, cap) != 0)
        return -1;
    if (ct_access_init(&srv->access, cfg->auth_token_file, cfg->cors_origin, msg, cap) != 0)
        return -1;
    if (cfg->tls_cert[0] && (read_file(cfg->tls_cert, &srv->tls_cert_pem) != 0 || read_file(cfg->tls_key, &srv->tls_key_pem) != 0)) {
        snprintf(msg, cap, "--tls-cert %s / --tls-key %s: cannot be read", cfg->tls_cert, cfg->tls_key);
        release_start_state(srv);
        return -1;
    }
    if (ct_pool_create((int)cfg->workers, (int)cfg->queue, (int)cfg->threads, &srv->pool) != 0) {
        release_start_state(srv);
        snprintf(msg, cap, "cannot start %lld worker threads", (long long)cfg->workers);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_AUTO;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem options[16];
    int n = 0;
#define OPTION(o, v, p) options[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
    OPTION(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)ct_http_log_mhd_error, NULL);
    OPTION(MHD_OPTION_SOCK_ADDR, 0, &ss);
    OPTION(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)ct_http_request_completed, srv);
    OPTION(MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)ct_http_unescape_path, NULL);
    OPTION(MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout, NULL);
    OPTION(MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections, NULL);
    OPTION(MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip, NULL);
    /* Without --reuse-port a second daemon on a taken port must fail, not share it: the
     * kernel would split the connections between the two. */
    if (cfg->reuse_port)
        OPTION(MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL);
    if (srv->tls_cert_pem) {
        flags |= MHD_USE_TLS;
        OPTION(MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert_pem);
        OPTION(MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key_pem);
    }
    OPTION(MHD_OPTION_END, 0, NULL);
#undef OPTION
    if (ct_watchdog_start(srv->pool, ct_http_watch_expired, srv, &srv->watchdog) != 0) {
        ct_pool_destroy(srv->pool);
        srv->pool = NULL;
        release_start_state(srv);
        snprintf(msg, cap, "cannot start the watchdog thread");
        return -1;
    }
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, ct_http_handle_request, srv, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!srv->daemon) {
        int taken = errno == EADDRINUSE;
        snprintf(msg, cap, "cannot listen on %s:%lld: %s", cfg->host, (long long)cfg->port,
                 taken ? "the port is in use by another process (stop it, pick another --port, or share it with --reuse-port 1)"
                       : "the address is not available on this machine");
        ct_watchdog_stop(srv->watchdog);
        srv->watchdog = NULL;
        ct_pool_destroy(srv->pool);
        srv->pool = NULL;
        release_start_state(srv);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    srv->port = (uint16_t)cfg->port;
    if (info && getsockname(info->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                      : ((struct sockaddr_in *)&bound)->sin_port);
    if (ct_warmup_start(srv) != 0)
        ct_log(CT_LOG_WARN, "cannot start the warm-up thread: --model-dir's layers are not loaded");
    return 0;
}

int ct_server_drain(ct_server *srv, double timeout)
{
    atomic_store(&srv->draining, 1);
    int fd = MHD_quiesce_daemon(srv->daemon); /* stop accepting; the listen socket is ours now */
    if (fd >= 0)
        close(fd);
    double deadline = ct_now() + timeout;
    while (atomic_load(&srv->inflight) > 0 && ct_now() < deadline)
        usleep(10000);
    return atomic_load(&srv->inflight);
}

void ct_server_stop(ct_server *srv)
{
    ct_warmup_join(srv); /* it stops early once draining: it uses the registry */
    /* The pool first: its last jobs resume their connections, and MHD must not be stopped
     * with a connection still suspended. */
    ct_pool_destroy(srv->pool);
    srv->pool = NULL;
    ct_watchdog_stop(srv->watchdog); /* after the pool: its last jobs still unwatch themselves */
    srv->watchdog = NULL;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    release_start_state(srv);
}
