/* test_oversize_uploads.c - an upload past --max-body gets its 413 on the client's side,
 * over a raw socket that keeps sending 256 KiB chunks without waiting for any answer (as
 * many clients do, and libcurl would not): chunked, and with a Content-Length that declares
 * too much. The daemon answers as soon as the limit is passed and drains the rest before
 * closing, so no reset destroys the answer; then it serves on. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

/* Sends head, then up to total bytes of body in 256 KiB chunks (chunked framing when
 * chunked), reading whatever comes back meanwhile; returns what the client received. */
static char *upload(int port, const char *head, size_t total, int chunked)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    enum { CHUNK = 256 * 1024 };
    char *chunk = malloc(CHUNK + 32);
    int prefix = chunked ? sprintf(chunk, "%x\r\n", CHUNK) : 0;
    memset(chunk + prefix, '1', CHUNK);
    int len = prefix + CHUNK;
    if (chunked)
        len += sprintf(chunk + len, "\r\n");
    size_t cap = 1 << 16, got = 0;
    char *in = calloc(1, cap);
    int peer_closed = 0;
    for (size_t sent = 0; sent < total && !peer_closed;) {
        struct pollfd p = {fd, POLLOUT | POLLIN, 0};
        CHECK(poll(&p, 1, 5000) > 0);
        if (p.revents & POLLIN) {
            ssize_t n = recv(fd, in + got, cap - 1 - got, MSG_DONTWAIT);
            if (n > 0)
                got += (size_t)n;
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                peer_closed = 1;
        }
        if (!peer_closed && (p.revents & POLLOUT)) {
            ssize_t n = send(fd, chunk, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                break; /* EPIPE or a reset: read what came before it */
            if (n > 0)
                sent += (size_t)n;
        }
        if (p.revents & (POLLERR | POLLHUP))
            peer_closed = 1;
    }
    for (;;) { /* the rest of the answer */
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0)
            break;
        ssize_t n = recv(fd, in + got, cap - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    in[got] = '\0';
    close(fd);
    free(chunk);
    return in;
}

static void expect_413(const char *what, const char *answer)
{
    if (strncmp(answer, "HTTP/1.1 413", 12) != 0 || !strstr(answer, "body_too_large") || !strstr(answer, "--max-body"))
        FAIL("%s: the client received \"%.300s\"", what, answer);
}

TEST_WITH_TIMEOUT(uploads_past_max_body_get_their_413_while_still_sending, 60)
{
    daemon_proc d = daemon_up((const char *const[]){"--max-body", "1M", NULL});
    char *answer = upload(d.port, "POST /convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                          64u << 20, 1);
    expect_413("chunked upload of 64 MiB", answer);
    free(answer);
    answer = upload(d.port, "POST /convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 67108864\r\n\r\n",
                    64u << 20, 0);
    expect_413("64 MiB with Content-Length, sent without waiting", answer);
    free(answer);
    answer = upload(d.port, "POST /v2/models/convtranspose/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 8u << 20, 1);
    expect_413("chunked OIP upload", answer);
    CHECK_CONTAINS(answer, "{\"error\":\"body: more than"); /* the protocol's error shape */
    free(answer);
    /* the daemon serves on */
    const char *const json[] = {"Content-Type: application/json", NULL};
    const char seed[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"stride\":2}";
    http_response r = http_request(d.port, "POST", "/convtranspose", json, seed, strlen(seed));
    CHECK_INT_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"data\":[1,10,2,20]");
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
