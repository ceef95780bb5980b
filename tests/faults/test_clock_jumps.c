/* test_clock_jumps.c - the wall clock steps back an hour, then forward two, while requests
 * wait in the queue with deadlines (tests/faults/clock_shim.c moves the daemon's
 * CLOCK_REALTIME, gettimeofday and time). Deadlines and the watchdog run on the monotonic
 * clock, so no deadline moves: a 300 ms one still expires on time, 5 s ones are served;
 * metrics counters only grow, and the daemon answers throughout. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

static const char *build_dir(void)
{
    return getenv("CT_BUILD") ? getenv("CT_BUILD") : "build";
}

static void set_offset(const char *path, long long seconds)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "%lld\n", seconds);
    fclose(f);
}

TEST_WITH_TIMEOUT(wall_clock_jumps_move_no_deadline_and_no_counter, 60)
{
    char shim[300], clock_file[300];
    char *cwd = getcwd(NULL, 0);
    snprintf(shim, sizeof shim, "%s/%s/libctclock.so", cwd, build_dir());
    snprintf(clock_file, sizeof clock_file, "%s/%s/clock-%d.offset", cwd, build_dir(), (int)getpid());
    free(cwd);
    CHECK(access(shim, R_OK) == 0);
    set_offset(clock_file, 0);
    setenv("LD_PRELOAD", shim, 1);
    setenv("CT_FAULT_CLOCK", clock_file, 1);
    setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=1", 1); /* the shim comes first */
    daemon_proc d = daemon_up((const char *const[]){"--workers", "1", "--threads", "2", NULL});
    unsetenv("LD_PRELOAD");
    put_heavy_layer(d.port); /* half a second a run, in either build */
    put_ones_layer(d.port, "small", 1, 1, 2, "");
    http_response m0 = http_request(d.port, "GET", "/metrics", NULL, NULL, 0);
    const double served0 = metric_value(m0.body, "convtransposed_request_duration_seconds_count");
    http_response_free(&m0);
    /* the one worker busy with three heavy runs in a row (each about half a second); behind
     * them a small run with a 300 ms deadline and two with 5 s */
    timed_run runs[6] = {{d.port, "heavy", HEAVY_INPUT_SHAPE, NULL, 0, 0, ""}, {d.port, "heavy", HEAVY_INPUT_SHAPE, NULL, 0, 0, ""},
                         {d.port, "heavy", HEAVY_INPUT_SHAPE, NULL, 0, 0, ""}, {d.port, "small", "1,1,2,2", "300", 0, 0, ""},
                         {d.port, "small", "1,1,2,2", "5000", 0, 0, ""}, {d.port, "small", "1,1,2,2", "5000", 0, 0, ""}};
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        CHECK(pthread_create(&th[i], NULL, timed_raw_run, &runs[i]) == 0);
        usleep(20000);
    }
    /* the wall clock: an hour back, then two hours forward, while they wait */
    set_offset(clock_file, -3600);
    expect_get_status(d.port, "/healthz", 200);
    usleep(100000);
    set_offset(clock_file, 7200);
    expect_get_status(d.port, "/healthz", 200);
    /* the shim reached the daemon: its Date header is two hours ahead */
    http_response h = http_request(d.port, "GET", "/healthz", NULL, NULL, 0);
    char *date = http_header(&h, "Date");
    struct tm tm = {0};
    CHECK(date && strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm));
    const double ahead = difftime(timegm(&tm), time(NULL));
    if (ahead < 7100 || ahead > 7300)
        FAIL("the daemon's Date is %s, %.0f s from now: the clock shim did not take", date, ahead);
    free(date);
    http_response_free(&h);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        CHECK_INT_EQ(runs[i].status, 200);
    /* 300 ms after it was sent, not an hour later (back) nor at once (forward) */
    CHECK_INT_EQ(runs[3].status, 504);
    CHECK_CONTAINS(runs[3].body, "deadline_exceeded");
    if (runs[3].seconds < 0.28 || runs[3].seconds > 0.3 + (sanitized_build() ? 0.15 : 0.05))
        FAIL("the 300 ms deadline was answered after %.0f ms", runs[3].seconds * 1e3);
    CHECK_INT_EQ(runs[4].status, 200);
    CHECK_INT_EQ(runs[5].status, 200);
    printf("  clock -1 h, then +2 h: 300 ms deadline answered 504 after %.0f ms, 5 s ones served after %.0f and %.0f ms\n",
           runs[3].seconds * 1e3, runs[4].seconds * 1e3, runs[5].seconds * 1e3);
    http_response m1 = http_request(d.port, "GET", "/metrics", NULL, NULL, 0);
    CHECK(metric_value(m1.body, "convtransposed_request_duration_seconds_count") >= served0 + 6);
    CHECK(metric_value(m1.body, "convtransposed_requests_cancelled_total{reason=\"deadline\"}") == 1);
    http_response_free(&m1);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    unlink(clock_file);
}
