/* linger.c - see linger.h. Each lingering socket is drained by a detached thread; at most
 * MAX_LINGERING at once, past which a socket is closed at once as before (a flood of
 * oversize uploads must not become a flood of threads). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "linger.h"

#define MAX_LINGERING 64

static atomic_int lingering;

typedef struct drain {
    int fd;
    double seconds;
    size_t max_bytes;
} drain;

static double monotonic(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void *drain_socket(void *arg)
{
    drain d = *(drain *)arg;
    free(arg);
    shutdown(d.fd, SHUT_WR); /* our FIN after the answer; the client's bytes still come in */
    char buf[65536];
    size_t total = 0;
    const double deadline = monotonic() + d.seconds;
    for (;;) {
        double left = deadline - monotonic();
        if (left <= 0 || total >= d.max_bytes)
            break;
        struct pollfd p = {d.fd, POLLIN, 0};
        int ready = poll(&p, 1, (int)(left * 1000) + 1);
        if (ready <= 0)
            break;
        ssize_t n = recv(d.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            break; /* the client closed: nothing left to reset */
        if (n > 0)
            total += (size_t)n;
    }
    close(d.fd);
    atomic_fetch_sub(&lingering, 1);
    return NULL;
}

static long send_plain(void *ctx, const char *bytes, size_t len)
{
    return send(*(int *)ctx, bytes, len, MSG_NOSIGNAL);
}

int ct_linger_respond(int fd, ct_linger_writer write, void *write_ctx, int status, const char *reason, const char *request_id,
                      const char *json, size_t len, double seconds, size_t max_bytes)
{
    if (fd < 0 || atomic_fetch_add(&lingering, 1) >= MAX_LINGERING) {
        atomic_fetch_sub(&lingering, 1);
        return -1;
    }
    /* one buffer, so the answer leaves in one write (one TLS record) */
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n"
                      "X-Content-Type-Options: nosniff\r\nX-Request-Id: %.128s\r\n\r\n",
                      status, reason, len, request_id);
    char *answer = malloc((size_t)hl + len);
    int own = dup(fd);
    drain *d = malloc(sizeof *d);
    int ok = answer && own >= 0 && d != NULL;
    if (ok) {
        memcpy(answer, head, (size_t)hl);
        memcpy(answer + hl, json, len);
        if (!write) {
            write = send_plain;
            write_ctx = &own;
        }
        /* the socket is non-blocking; a small answer fits its send buffer at once */
        ok = write(write_ctx, answer, (size_t)hl + len) == (long)((size_t)hl + len);
    }
    free(answer);
    pthread_t t;
    pthread_attr_t attr;
    if (ok) {
        *d = (drain){own, seconds, max_bytes};
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&t, &attr, drain_socket, d) == 0;
        pthread_attr_destroy(&attr);
        if (ok)
            return 0;
    }
    free(d);
    if (own >= 0)
        close(own);
    atomic_fetch_sub(&lingering, 1);
    return -1;
}
