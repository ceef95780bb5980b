/* test_cancellation.c - work nobody will use is stopped (server/watchdog.c): a request whose
 * deadline passes gets its 504 within a few milliseconds of it, whether it is queued or
 * computing (the compute stops at its next work item), and a client that hangs up frees its
 * worker just as fast; both are counted in convtransposed_requests_cancelled_total. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "convtranspose.h"
#include "http_client.h"
#include "test.h"

/* How late a 504 may leave after its deadline: the watchdog's tick (2 ms), a work item, and
 * the answer's trip, with room for a busy CI machine (and for the sanitizer build's slower
 * everything). */
#define LATE_MS (sanitized_build() ? 150.0 : 25.0)
/* How soon a freed worker must serve a small request. */
#define AT_ONCE_S (sanitized_build() ? 0.5 : 0.1)

static double metric_now(int port, const char *name)
{
    http_response r = http_request(port, "GET", "/metrics", NULL, NULL, 0);
    double v = metric_value(r.body, name);
    http_response_free(&r);
    return v;
}

/* A run of the 2 x 2 all-ones layer "small" on one pixel of value v is answered within
 * 100 ms: no worker is still held. */
static void expect_small_served_at_once(int port, int v)
{
    const char *const json[] = {"Content-Type: application/json", NULL};
    char body[64], want[64];
    snprintf(body, sizeof body, "{\"input\": [[[[%d]]]]}", v);
    snprintf(want, sizeof want, "\"data\":[%d,%d,%d,%d]", v, v, v, v);
    double t0 = monotonic_seconds();
    http_response r = http_request(port, "POST", "/v1/layers/small/convtranspose", json, body, strlen(body));
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, want);
    http_response_free(&r);
    CHECK((monotonic_seconds() - t0) < AT_ONCE_S);
}

TEST_WITH_TIMEOUT(a_deadline_passing_while_computing_stops_the_run_and_answers_504_at_once, 60)
{
    daemon_proc d = daemon_up((const char *const[]){"--workers", "1", "--threads", "2", NULL});
    put_heavy_layer(d.port);
    timed_run full = {d.port, "heavy", HEAVY_INPUT_SHAPE, NULL, 0, 0, ""};
    timed_raw_run(&full); /* how long the whole run takes */
    CHECK_INT_EQ(full.status, 200);
    if (full.seconds < 0.2)
        FAIL("the heavy run took only %.0f ms: too fast to cancel in the middle", full.seconds * 1e3);
    timed_run cut = {d.port, "heavy", HEAVY_INPUT_SHAPE, "80", 0, 0, ""};
    timed_raw_run(&cut);
    CHECK_INT_EQ(cut.status, 504);
    CHECK_CONTAINS(cut.body, "\"code\":\"deadline_exceeded\"");
    CHECK_CONTAINS(cut.body, "while it was computed");
    printf("  full run %.0f ms; with an 80 ms deadline answered after %.1f ms\n", full.seconds * 1e3, cut.seconds * 1e3);
    if (cut.seconds * 1e3 > 80 + LATE_MS)
        FAIL("the 504 came %.1f ms after the request, its deadline was 80 ms", cut.seconds * 1e3);
    /* the worker is free again at once: a small request is served */
    put_ones_layer(d.port, "small", 1, 1, 2, "");
    expect_small_served_at_once(d.port, 1);
    CHECK(metric_now(d.port, "convtransposed_requests_cancelled_total{reason=\"deadline\"}") == 1);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST_WITH_TIMEOUT(a_deadline_passing_in_the_queue_is_answered_then_not_when_the_worker_frees, 60)
{
    daemon_proc d = daemon_up((const char *const[]){"--workers", "1", "--threads", "2", NULL});
    put_heavy_layer(d.port);
    timed_run busy = {d.port, "heavy", HEAVY_INPUT_SHAPE, NULL, 0, 0, ""}, queued = {d.port, "heavy", HEAVY_INPUT_SHAPE, "60", 0, 0, ""};
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, timed_raw_run, &busy) == 0);
    usleep(30000); /* the one worker has taken it */
    CHECK(pthread_create(&b, NULL, timed_raw_run, &queued) == 0);
    pthread_join(b, NULL);
    pthread_join(a, NULL);
    CHECK_INT_EQ(busy.status, 200);
    CHECK_INT_EQ(queued.status, 504);
    CHECK_CONTAINS(queued.body, "before it was computed");
    printf("  queued behind a %.0f ms run, a 60 ms deadline answered after %.1f ms\n", busy.seconds * 1e3, queued.seconds * 1e3);
    if (queued.seconds * 1e3 > 60 + LATE_MS)
        FAIL("the queued request's 504 came after %.1f ms, its deadline was 60 ms", queued.seconds * 1e3);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* Sends a heavy run of `batch` images on a raw socket and returns the socket, open. */
static int send_heavy_raw(int port, int batch)
{
    int fd = connect_local(port);
    const size_t bytes = (size_t)batch * 64 * 64 * 64 * sizeof(float);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /v1/layers/heavy/convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                     "X-Tensor-Shape: %d,64,64,64\r\nAccept: application/octet-stream\r\nContent-Length: %zu\r\n\r\n", batch, bytes);
    CHECK(write(fd, head, (size_t)n) == n);
    char *zeros = calloc(1, bytes);
    for (size_t sent = 0; sent < bytes;) {
        ssize_t w = write(fd, zeros + sent, bytes - sent);
        CHECK(w > 0);
        sent += (size_t)w;
    }
    free(zeros);
    return fd;
}

TEST_WITH_TIMEOUT(clients_that_hang_up_free_every_worker_within_100_ms, 90)
{
    daemon_proc d = daemon_up((const char *const[]){"--workers", "2", "--threads", "2", "--max-memory", "8G", NULL});
    put_heavy_layer(d.port);
    put_ones_layer(d.port, "small", 1, 1, 2, "");
    /* 8 large requests (batch 16: 550 GFLOP each), two computing and six queued; each client
     * hangs up 50 ms after all have arrived */
    enum { N = 8 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = send_heavy_raw(d.port, 16);
    /* every body arrived and was handed to the pool (the kernel may still have held the last
     * bytes when write returned), then 50 ms more */
    for (double t0 = monotonic_seconds(); monotonic_seconds() - t0 < 5;) {
        if (metric_now(d.port, "convtransposed_workers_busy") == 2 && metric_now(d.port, "convtransposed_queue_depth") == N - 2)
            break;
        usleep(2000);
    }
    usleep(50000);
    const double busy0 = metric_now(d.port, "convtransposed_workers_busy"), queued0 = metric_now(d.port, "convtransposed_queue_depth");
    if (busy0 != 2 || queued0 != N - 2)
        FAIL("before the hang-up: %.0f workers busy, %.0f queued; expected 2 and %d", busy0, queued0, N - 2);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    const double hung_up = monotonic_seconds();
    double freed = -1, gone = -1, busy = -1, queued = -1;
    while (monotonic_seconds() - hung_up < 5) {
        http_response r = http_request(d.port, "GET", "/metrics", NULL, NULL, 0);
        busy = metric_value(r.body, "convtransposed_workers_busy");
        queued = metric_value(r.body, "convtransposed_queue_depth");
        gone = metric_value(r.body, "convtransposed_requests_cancelled_total{reason=\"client_gone\"}");
        http_response_free(&r);
        if (busy == 0 && queued == 0 && gone == N) {
            freed = monotonic_seconds() - hung_up;
            break;
        }
        usleep(2000);
    }
    if (freed < 0)
        FAIL("5 s after 8 clients hung up: %.0f workers busy, %.0f queued, %.0f counted gone", busy, queued, gone);
    printf("  8 hung-up clients: every worker free %.1f ms after they closed\n", freed * 1e3);
    if (freed > (sanitized_build() ? 1.0 : 0.1))
        FAIL("the workers were freed %.1f ms after the clients hung up (more than %.0f ms)", freed * 1e3,
             sanitized_build() ? 1000.0 : 100.0);
    expect_small_served_at_once(d.port, 2); /* and the next request is served at once */
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* One layer of each algorithm (select.c): a set cancel flag stops the run with
 * CT_E_CANCELLED; an unset one changes nothing, bit for bit. */
TEST(a_cancel_flag_stops_every_algorithm_and_an_unset_one_changes_nothing)
{
    /* cin, cout, groups: phase igemm (8 -> 16), phase depthwise (groups = channels), GEMM +
     * col2im (32 -> 3, few output channels) */
    const int layers[3][3] = {{8, 16, 1}, {8, 8, 8}, {32, 3, 1}};
    for (int l = 0; l < 3; l++) {
        const int cin = layers[l][0], cout = layers[l][1], groups = layers[l][2];
        ct_params p;
        ct_params_init(&p, 2);
        p.groups = groups;
        p.stride[0] = p.stride[1] = 2;
        ct_shape ws = {4, {cin, cout / groups, 3, 3}}, xs = {4, {2, cin, 40, 40}}, os;
        float *w = malloc(sizeof(float) * (size_t)(cin * (cout / groups) * 9));
        for (int i = 0; i < cin * (cout / groups) * 9; i++)
            w[i] = (float)(i % 5) - 2;
        float *x = malloc(sizeof(float) * 2 * (size_t)cin * 1600);
        for (int i = 0; i < 2 * cin * 1600; i++)
            x[i] = (float)(i % 11) * 0.25f;
        ct_plan *plan;
        char msg[256];
        CHECK_INT_EQ(ct_plan_create(&p, &ws, w, NULL, 0, &plan, msg, sizeof msg), CT_OK);
        CHECK_INT_EQ(ct_plan_output_shape(plan, &xs, &os, msg, sizeof msg), CT_OK);
        const size_t n = (size_t)(os.dims[0] * os.dims[1] * os.dims[2] * os.dims[3]);
        float *plain = malloc(sizeof(float) * n), *watched = malloc(sizeof(float) * n), *cut = malloc(sizeof(float) * n);
        CHECK_INT_EQ(ct_plan_run(plan, &xs, x, plain, 2, msg, sizeof msg), CT_OK);
        int flag = 0;
        CHECK_INT_EQ(ct_plan_run_cancellable(plan, &xs, x, watched, 2, &flag, msg, sizeof msg), CT_OK);
        CHECK(memcmp(plain, watched, sizeof(float) * n) == 0);
        flag = 1;
        CHECK_INT_EQ(ct_plan_run_cancellable(plan, &xs, x, cut, 2, &flag, msg, sizeof msg), CT_E_CANCELLED);
        CHECK_CONTAINS(msg, "cancelled");
        /* the plan's kept workspace is not trusted after a cancelled run: the next is exact */
        flag = 0;
        CHECK_INT_EQ(ct_plan_run_cancellable(plan, &xs, x, watched, 2, &flag, msg, sizeof msg), CT_OK);
        CHECK(memcmp(plain, watched, sizeof(float) * n) == 0);
        CHECK(strcmp(ct_status_name(CT_E_CANCELLED), "cancelled") == 0);
        printf("  %s: cancelled\n", ct_plan_algorithm(plan));
        ct_plan_destroy(plan);
        free(w);
        free(x);
        free(plain);
        free(watched);
        free(cut);
    }
}
