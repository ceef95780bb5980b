/* test_http_edges.c - HTTP framing and logging that a hostile client plays on, over a raw
 * socket (libcurl would tidy the requests up): conflicting Content-Length headers and an
 * unknown Transfer-Encoding are refused at once (a proxy that frames the body otherwise would
 * let requests be smuggled); a path's %0a cannot forge an access-log line; %00 cannot cut a
 * layer name short. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

/* Sends request as it is and returns what came back within 3 s (malloc'd). */
static char *raw_exchange(int port, const char *request)
{
    int fd = connect_local(port);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(write(fd, request, strlen(request)) == (ssize_t)strlen(request));
    size_t cap = 65536, len = 0;
    char *buf = calloc(1, cap);
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
        if (strstr(buf, "\r\n\r\n") && strstr(buf, "}")) /* one whole JSON answer */
            break;
    }
    close(fd);
    return buf;
}

TEST(conflicting_content_lengths_and_unknown_transfer_encodings_are_refused_at_once)
{
    daemon_proc d = daemon_up(NULL);
    char *out = raw_exchange(d.port, "POST /convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     "Content-Length: 5\r\nContent-Length: 40\r\n\r\n{\"a\":");
    CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    CHECK_CONTAINS(out, "conflicting Content-Length");
    free(out);
    out = raw_exchange(d.port, "POST /convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               "Transfer-Encoding: xchunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n");
    if (strncmp(out, "HTTP/1.1 501", 12) != 0 && strncmp(out, "HTTP/1.1 400", 12) != 0)
        FAIL("Transfer-Encoding: xchunked: %s", out);
    free(out);
    /* the same length twice is one length */
    const char seed[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"stride\":2}";
    char req[512];
    snprintf(req, sizeof req, "POST /convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(seed), strlen(seed), seed);
    out = raw_exchange(d.port, req);
    CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
    CHECK_CONTAINS(out, "\"data\":[1,10,2,20]");
    free(out);
    /* and the daemon serves on */
    http_response r = http_request(d.port, "GET", "/healthz", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(paths_cannot_forge_log_lines_or_cut_names_with_nul)
{
    daemon_proc d = daemon_up(NULL);
    char *out = raw_exchange(d.port, "GET /x%0a2026-12-03T00:00:00.000Z%20INFO%20access%20PUT%20/v1/layers/admin%20201 HTTP/1.1\r\n"
                                     "Host: x\r\nConnection: close\r\n\r\n");
    CHECK(strncmp(out, "HTTP/1.1 404", 12) == 0);
    free(out);
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(d.port, "PUT", "/v1/layers/a%00b", json, "{\"weight\": [[[1]]]}", 19);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body, "invalid_name");
    http_response_free(&r);
    r = http_request(d.port, "GET", "/v1/layers/a", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 404); /* no layer "a" was made */
    http_response_free(&r);
    r = http_request(d.port, "GET", "/v1/layers/up%31", NULL, NULL, 0); /* other escapes still decode: "up1" */
    CHECK_INT_EQ(r.status, 404);
    CHECK_CONTAINS(r.body, "no such layer");
    http_response_free(&r);
    usleep(100000); /* the access lines are written as the requests complete */
    char *log = daemon_log(&d);
    /* every line of the log starts with a timestamp: the forged one is inside an escaped line */
    int lines = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"), lines++)
        if (strncmp(line, "20", 2) != 0 || line[4] != '-' || line[10] != 'T')
            FAIL("a log line that is not the daemon's: %s", line);
    CHECK(lines > 2);
    free(log);
    log = daemon_log(&d);
    CHECK_CONTAINS(log, "GET /x\\x0a2026-12-03T00:00:00.000Z INFO access PUT /v1/layers/admin 201 404");
    free(log);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
