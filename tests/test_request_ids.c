/* test_request_ids.c - every response carries X-Request-Id: the client's when well-formed,
 * else 128 random bits in hex (never the malformed value echoed), on errors too; the access
 * log line names it, with the trace id of a valid W3C traceparent. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

static char *id_of(int port, const char *method, const char *path, const char *const *headers, const char *body, long status)
{
    http_response r = http_request(port, method, path, headers, body, body ? strlen(body) : 0);
    CHECK_INT_EQ(r.status, status);
    char *id = http_header(&r, "X-Request-Id");
    CHECK(id != NULL);
    http_response_free(&r);
    return id;
}

static int is_hex32(const char *s)
{
    return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

TEST(request_ids_are_echoed_or_generated_and_logged_with_the_trace)
{
    char path[] = "/tmp/ct-ids-token-XXXXXX";
    int fd = mkstemp(path);
    CHECK(write(fd, "tok\n", 4) == 4);
    close(fd);
    daemon_proc d = daemon_up((const char *const[]){"--auth-token-file", path, "--max-body", "1K", NULL});
    const char *const auth[] = {"Authorization: Bearer tok", "Content-Type: application/json", NULL};
    char *a = id_of(d.port, "GET", "/healthz", NULL, NULL, 200), *b = id_of(d.port, "GET", "/healthz", NULL, NULL, 200);
    CHECK(is_hex32(a) && is_hex32(b) && strcmp(a, b) != 0);
    free(a);
    free(b);
    const char *const given[] = {"X-Request-Id: job-42.a:b_c", "Authorization: Bearer tok", NULL};
    char *c = id_of(d.port, "GET", "/v1/layers", given, NULL, 200);
    CHECK_STR_EQ(c, "job-42.a:b_c");
    free(c);
    /* errors carry it too: 401, 404, 413 */
    const char *const no_token[] = {"X-Request-Id: e401", NULL};
    c = id_of(d.port, "GET", "/v1/layers", no_token, NULL, 401);
    CHECK_STR_EQ(c, "e401");
    free(c);
    const char *const missing[] = {"X-Request-Id: e404", "Authorization: Bearer tok", NULL};
    c = id_of(d.port, "GET", "/v1/layers/nope", missing, NULL, 404);
    CHECK_STR_EQ(c, "e404");
    free(c);
    char big[2048];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    c = id_of(d.port, "POST", "/convtranspose", auth, big, 413);
    CHECK(is_hex32(c));
    free(c);
    /* malformed values are replaced, not reflected */
    const char *const bad[] = {"X-Request-Id: <script>alert(1)</script>", "Authorization: Bearer tok", NULL};
    c = id_of(d.port, "GET", "/v1/layers", bad, NULL, 200);
    CHECK(is_hex32(c));
    free(c);
    char longid[200] = "X-Request-Id: ";
    memset(longid + 14, 'a', 150);
    const char *const toolong[] = {longid, "Authorization: Bearer tok", NULL};
    c = id_of(d.port, "GET", "/v1/layers", toolong, NULL, 200);
    CHECK(is_hex32(c));
    free(c);
    /* the access log: the id, and a valid traceparent's trace id; a malformed one is not logged */
    const char *const traced[] = {"X-Request-Id: traced-1", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                  "Authorization: Bearer tok", NULL};
    c = id_of(d.port, "GET", "/v1/layers", traced, NULL, 200);
    free(c);
    const char *const badtrace[] = {"X-Request-Id: traced-2", "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                                    "Authorization: Bearer tok", NULL};
    c = id_of(d.port, "GET", "/v1/layers", badtrace, NULL, 200);
    free(c);
    usleep(100000);
    char *log = daemon_log(&d);
    CHECK_CONTAINS(log, "GET /v1/layers 200");
    CHECK_CONTAINS(log, "id=traced-1 trace=4bf92f3577b34da6a3ce929d0e0e4736\n");
    CHECK_CONTAINS(log, "id=traced-2\n");
    CHECK_CONTAINS(log, "id=e401\n");
    free(log);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    unlink(path);
}

/* The access log is written in batches (server/log.c): a SIGTERM right after a burst still
 * leaves every request's line in the log, each whole, and the generated ids all differ. */
TEST(the_access_log_keeps_every_line_of_a_burst_through_sigterm)
{
    daemon_proc d = daemon_up(NULL);
    enum { N = 300 };
    const char *const json[] = {"Content-Type: application/json", NULL};
    const char seed[] = "{\"input\": [[[1, 2]]], \"weight\": [[[1, 10]]], \"stride\": 2}";
    for (int i = 0; i < N; i++) {
        http_response r = http_request(d.port, "POST", "/convtranspose", json, seed, strlen(seed));
        CHECK_INT_EQ(r.status, 200);
        http_response_free(&r);
    }
    /* SIGTERM at once, while the last batch is still in memory; the log is read after the
     * daemon exited (daemon_stop would remove it) */
    kill(d.pid, SIGTERM);
    int status;
    CHECK(waitpid(d.pid, &status, 0) == d.pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FILE *f = fopen(d.log_path, "r");
    CHECK(f != NULL);
    char line[4096];
    int lines = 0;
    char (*ids)[33] = calloc(N, 33);
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, " INFO access POST /convtranspose 200 in=");
        if (!at)
            continue;
        const char *id = strstr(at, " id=");
        CHECK(id != NULL && strlen(id + 4) == 33 && id[36] == '\n'); /* 32 hex digits, then the end of the line */
        if (lines < N)
            memcpy(ids[lines], id + 4, 32);
        lines++;
    }
    fclose(f);
    unlink(d.log_path);
    CHECK_INT_EQ(lines, N);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (memcmp(ids[i], ids[j], 32) == 0)
                FAIL("requests %d and %d got the same id %.32s", i, j, ids[i]);
    free(ids);
}
