/* test_oversize_uploads.c - an upload past --max-body gets its 413 on the client's side,
 * over a raw socket that keeps sending 256 KiB chunks without waiting for any answer (as
 * many clients do, and libcurl would not): chunked, and with a Content-Length that declares
 * too much. The daemon answers as soon as the limit is passed and drains the rest before
 * closing, so no reset destroys the answer; then it serves on. The same over TLS, with a
 * GnuTLS client that sends records without reading until the answer is there. */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

/* One piece of body into buf (size + 32 bytes): size bytes of '1', framed as a chunk when
 * chunked. Returns its length. */
static int body_piece(char *buf, int size, int chunked)
{
    int prefix = chunked ? sprintf(buf, "%x\r\n", size) : 0;
    memset(buf + prefix, '1', (size_t)size);
    int len = prefix + size;
    if (chunked)
        len += sprintf(buf + len, "\r\n");
    return len;
}

/* Reads the rest of an answer into in (got bytes there already, room for cap - 1), from the
 * TLS session s or, when s is NULL, the socket itself, until the peer closes or 2 s pass
 * with nothing; ends it with a NUL. */
static void read_answer(int fd, gnutls_session_t s, char *in, size_t got, size_t cap)
{
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (!(s && gnutls_record_check_pending(s) > 0) && poll(&p, 1, 2000) <= 0)
            break;
        ssize_t n = s ? gnutls_record_recv(s, in + got, cap - 1 - got) : recv(fd, in + got, cap - 1 - got, 0);
        if (s && (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED))
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    in[got] = '\0';
}

/* Sends head, then up to total bytes of body in 256 KiB chunks (chunked framing when
 * chunked), reading whatever comes back meanwhile; returns what the client received. */
static char *upload(int port, const char *head, size_t total, int chunked)
{
    int fd = connect_local(port);
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    enum { CHUNK = 256 * 1024 };
    char *chunk = malloc(CHUNK + 32);
    const int len = body_piece(chunk, CHUNK, chunked);
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
    read_answer(fd, NULL, in, got, cap);
    close(fd);
    free(chunk);
    return in;
}

/* Sends all of bytes as TLS records; 0, or -1 once the server is gone. */
static int tls_send_all(gnutls_session_t s, const char *bytes, size_t len)
{
    while (len > 0) {
        ssize_t n = gnutls_record_send(s, bytes, len);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n < 0)
            return -1;
        bytes += n;
        len -= (size_t)n;
    }
    return 0;
}

/* upload() over TLS: a Content-Length body of total bytes (or chunked), sent in 16 KiB
 * records until the first byte of an answer is there or the server is gone; returns what
 * the client decrypted. */
static char *upload_tls(int port, const char *cert, const char *head, size_t total, int chunked)
{
    int fd = connect_local(port);
    gnutls_certificate_credentials_t cred;
    gnutls_session_t s;
    CHECK(gnutls_certificate_allocate_credentials(&cred) == 0);
    CHECK(gnutls_certificate_set_x509_trust_file(cred, cert, GNUTLS_X509_FMT_PEM) == 1);
    CHECK(gnutls_init(&s, GNUTLS_CLIENT) == 0);
    CHECK(gnutls_set_default_priority(s) == 0);
    CHECK(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) == 0);
    gnutls_session_set_verify_cert(s, "127.0.0.1", 0);
    gnutls_transport_set_int(s, fd);
    int rc;
    while ((rc = gnutls_handshake(s)) < 0 && !gnutls_error_is_fatal(rc))
        ;
    CHECK_INT_EQ(rc, 0);
    CHECK(tls_send_all(s, head, strlen(head)) == 0);
    enum { CHUNK = 16 * 1024 - 64 };
    char chunk[CHUNK + 32];
    const int len = body_piece(chunk, CHUNK, chunked);
    char *in = calloc(1, 1 << 16);
    for (size_t sent = 0; sent < total;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (gnutls_record_check_pending(s) > 0 || poll(&p, 1, 0) > 0)
            break; /* an answer (or the server's close) is there: stop sending, read it */
        if (tls_send_all(s, chunk, (size_t)len) != 0)
            break; /* gone: read what came before */
        sent += (size_t)len;
    }
    read_answer(fd, s, in, 0, 1 << 16);
    gnutls_deinit(s);
    gnutls_certificate_free_credentials(cred);
    close(fd);
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

TEST_WITH_TIMEOUT(uploads_past_max_body_get_their_413_over_tls_too, 60)
{
    tls_files t;
    make_tls_cert(&t);
    daemon_proc d = daemon_up((const char *const[]){"--max-body", "1M", "--tls-cert", t.cert, "--tls-key", t.key, NULL});
    char *answer = upload_tls(d.port, t.cert, "POST /convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n", 64u << 20, 1);
    expect_413("chunked upload of 64 MiB over TLS", answer);
    free(answer);
    answer = upload_tls(d.port, t.cert, "POST /v1/layers/x/convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                        "X-Tensor-Shape: 1,1,16777216\r\nContent-Length: 67108864\r\n\r\n", 64u << 20, 0);
    expect_413("64 MiB with Content-Length over TLS, sent without waiting", answer);
    free(answer);
    /* the daemon serves on, over TLS */
    http_response r = https_request(d.port, t.cert, "GET", "/healthz", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    remove_tls_cert(&t);
}
