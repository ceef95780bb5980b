/* test_slowloris.c - 500 connections that send a request one byte every two seconds must
 * not keep ordinary clients out: each ordinary request is answered within 1 s. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

enum { SLOW = 500 };

typedef struct slow_clients {
    int port;
    int fds[SLOW];
    volatile int stop;
    int opened;
} slow_clients;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *trickle(void *arg)
{
    slow_clients *s = arg;
    static const char request[] = "POST /convtranspose HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < SLOW; i++) {
        /* from two other addresses, 250 each: under --max-connections-per-ip, as slow
         * clients from many addresses would be (one address alone is capped at 256) */
        struct sockaddr_in src = {.sin_family = AF_INET};
        inet_pton(AF_INET, i % 2 ? "127.0.0.2" : "127.0.0.3", &src.sin_addr);
        s->fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (s->fds[i] >= 0 && bind(s->fds[i], (struct sockaddr *)&src, sizeof src) == 0 &&
            connect(s->fds[i], (struct sockaddr *)&a, sizeof a) == 0)
            s->opened++;
    }
    /* one byte per connection every 2 s, for as long as the test runs */
    for (size_t pos = 0; !s->stop; pos = (pos + 1) % (sizeof request - 1)) {
        for (int i = 0; i < SLOW; i++)
            if (s->fds[i] >= 0)
                (void)!send(s->fds[i], request + pos, 1, MSG_NOSIGNAL);
        for (int t = 0; t < 20 && !s->stop; t++)
            usleep(100000);
    }
    for (int i = 0; i < SLOW; i++)
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    return NULL;
}

TEST_WITH_TIMEOUT(slowloris_500_connections_do_not_starve_clients, 90)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * SLOW && rl.rlim_max >= 2 * SLOW) {
        rl.rlim_cur = 2 * SLOW;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    daemon_proc d;
    daemon_start(&d, NULL);
    slow_clients s = {.port = d.port};
    pthread_t t;
    pthread_create(&t, NULL, trickle, &s);
    while (s.opened < SLOW - 5)
        usleep(20000);
    usleep(500000);
    const char body[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"stride\":2}";
    const char *const json[] = {"Content-Type: application/json", NULL};
    double worst = 0, start = now();
    int requests = 0;
    while (now() - start < 6) {
        double t0 = now();
        http_response r = http_request(d.port, "POST", "/convtranspose", json, body, strlen(body));
        double dt = now() - t0;
        CHECK_INT_EQ(r.status, 200);
        CHECK_STR_EQ(r.body, "{\"shape\":[1,4],\"dtype\":\"float32\",\"data\":[1,10,2,20]}");
        http_response_free(&r);
        worst = dt > worst ? dt : worst;
        requests++;
        usleep(50000);
    }
    s.stop = 1;
    pthread_join(t, NULL);
    printf("  %d slow connections open; %d ordinary requests, slowest %.1f ms\n", s.opened, requests, worst * 1e3);
    CHECK(s.opened >= SLOW - 5);
    CHECK(worst < 1.0);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
