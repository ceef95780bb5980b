/* main.c - the convtransposed daemon: settings, signals, serve, drain on SIGTERM/SIGINT.
 * A second SIGINT/SIGTERM exits at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

static volatile sig_atomic_t stop_requested;
static struct timespec first_signal;

/* The first SIGTERM/SIGINT drains; another one a second or more later exits at once. One
 * within the second is the same request arriving twice (GNU timeout signals the command and
 * then its process group). */
static void on_stop_signal(int sig)
{
    (void)sig;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* async-signal-safe */
    if (!stop_requested) {
        first_signal = now;
        stop_requested = 1;
    } else if (now.tv_sec - first_signal.tv_sec >= 2 ||
               (now.tv_sec - first_signal.tv_sec == 1 && now.tv_nsec >= first_signal.tv_nsec)) {
        _exit(1); /* insisted: no draining */
    }
}

/* In a container the daemon is PID 1: when /proc/1/cmdline is a convtransposed command
 * line, its flags (with our environment, which is the container's) say where it listens,
 * so the HEALTHCHECK finds the daemon even when it was started with --port. */
static void settings_of_pid1(ct_config *cfg)
{
    static char buf[8192];
    FILE *f = fopen("/proc/1/cmdline", "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *argv[128];
    int argc = 0;
    for (size_t i = 0; i < n && argc < 127; i += strlen(buf + i) + 1)
        argv[argc++] = buf + i;
    argv[argc] = NULL;
    const char *base = argc ? strrchr(argv[0], '/') : NULL;
    base = base ? base + 1 : (argc ? argv[0] : "");
    ct_config pid1;
    if (strcmp(base, "convtransposed") == 0 && ct_config_load(&pid1, argc, argv) == 0) {
        memcpy(cfg->host, pid1.host, sizeof cfg->host);
        memcpy(cfg->tls_cert, pid1.tls_cert, sizeof cfg->tls_cert);
        cfg->port = pid1.port;
    }
}

/* --healthcheck: GET /readyz on the daemon's port; exit 0 on 200. No curl needed in the
 * image. */
static int healthcheck(ct_config *cfg)
{
    if (getpid() != 1)
        settings_of_pid1(cfg);
    const char *host = strcmp(cfg->host, "0.0.0.0") == 0 || strcmp(cfg->host, "::") == 0 ? "127.0.0.1" : cfg->host;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char buf[64] = {0};
    const char req[] = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    int connected = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    /* Behind TLS this probe speaks no TLS: a listening socket is what it can check. */
    int ok = connected && (cfg->tls_cert[0] || (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) &&
                                                read(fd, buf, sizeof buf - 1) > 12 && strncmp(buf + 9, "200", 3) == 0));
    if (fd >= 0)
        close(fd);
    printf("%s\n", ok ? "healthy" : "unhealthy");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    /* libgomp spins idle threads after each parallel region, taking cores from the other
     * workers; passive waiting keeps the thread budget honest. libgomp reads the variable at
     * load time, so set it and start again. */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
    }
    ct_config cfg;
    int rc = ct_config_load(&cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (cfg.version) {
        printf("convtransposed %s (kernels: %s)\n", CT_VERSION, ct_cpu_isa());
        return 0;
    }
    if (cfg.healthcheck)
        return healthcheck(&cfg);
    ct_log_set_level(cfg.log_level);
    /* Large tensors come and go with every request: keep freed memory in the heap instead
     * of returning it to the kernel and faulting it in again (each 16 MiB buffer would
     * otherwise cost ~4000 page faults per request). RSS stays at its peak, not above. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* Every thread the server starts inherits these signals blocked, so they reach this one,
     * which waits for them in sigsuspend (no window between the check and the wait). */
    sigset_t stop_set, unblocked;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set, &unblocked);

    ct_server srv;
    char msg[256];
    if (ct_server_start(&srv, &cfg, msg, sizeof msg) != 0) {
        ct_log(CT_LOG_ERROR, "%s", msg);
        return 1;
    }
    printf("convtransposed: listening on %s:%u\n", cfg.host, (unsigned)srv.port);
    fflush(stdout);
    ct_log(CT_LOG_INFO, "serving on %s:%u: %lld compute threads, %lld workers, queue %lld, isa %s", cfg.host, (unsigned)srv.port,
           (long long)cfg.threads, (long long)cfg.workers, (long long)cfg.queue, ct_cpu_isa());
    while (!stop_requested)
        sigsuspend(&unblocked);
    pthread_sigmask(SIG_SETMASK, &unblocked, NULL); /* a second signal during the drain reaches the handler */
    ct_log(CT_LOG_INFO, "stopping: finishing %d in-flight requests", atomic_load(&srv.inflight));
    int left = ct_server_drain(&srv, (double)cfg.drain_timeout);
    if (left)
        ct_log(CT_LOG_WARN, "drain timed out with %d requests in flight", left);
    ct_server_stop(&srv);
    ct_log(CT_LOG_INFO, "stopped");
    ct_log_flush();
    return 0;
}
