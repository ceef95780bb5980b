/* test_connection_floods.c - one client address cannot take every connection slot: a flood
 * of connections that send half a request line (from 127.0.0.2) leaves health probes and
 * ordinary clients (from 127.0.0.1) served, by the default --max-connections-per-ip, which
 * still admits a proxy's 64 keep-alive connections. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

static int connect_from(const char *source, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, source, &src.sin_addr);
    CHECK(bind(fd, (struct sockaddr *)&src, sizeof src) == 0);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

TEST_WITH_TIMEOUT(a_flood_from_one_address_leaves_probes_and_other_clients_served, 60)
{
    /* 400 slots in all; the flood opens 600 */
    daemon_proc d = daemon_up((const char *const[]){"--max-connections", "400", NULL});
    enum { FLOOD = 600 };
    static int fds[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        fds[i] = connect_from("127.0.0.2", d.port);
        if (fds[i] >= 0 && write(fds[i], "GET /heal", 9) != 9) { /* half a request line, never finished */
            close(fds[i]);
            fds[i] = -1;
        }
    }
    usleep(300000);
    for (int i = 0; i < 10; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        http_response r = http_request_may_fail(d.port, "GET", "/healthz", NULL, NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (r.status != 200)
            FAIL("/healthz during the flood: status %ld", r.status);
        http_response_free(&r);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        if (took > 1.0)
            FAIL("/healthz took %.2f s during the flood", took);
    }
    const char *const json[] = {"Content-Type: application/json", NULL};
    const char seed[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"stride\":2}";
    http_response r = http_request(d.port, "POST", "/convtranspose", json, seed, strlen(seed));
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    /* a proxy's 64 keep-alive connections from one address all get in */
    int pool[64], in = 0;
    for (int i = 0; i < 64; i++) {
        pool[i] = connect_from("127.0.0.3", d.port);
        const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        char buf[256];
        struct timeval tv = {.tv_sec = 2};
        setsockopt(pool[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (pool[i] >= 0 && write(pool[i], req, sizeof req - 1) == (ssize_t)(sizeof req - 1) && read(pool[i], buf, sizeof buf) > 12 &&
            strncmp(buf, "HTTP/1.1 200", 12) == 0)
            in++;
    }
    CHECK_INT_EQ(in, 64);
    for (int i = 0; i < 64; i++)
        if (pool[i] >= 0)
            close(pool[i]);
    for (int i = 0; i < FLOOD; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
