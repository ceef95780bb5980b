/* http.c - the libmicrohttpd protocol: a request's state, its headers checked (framing,
 * request id, trace), its body taken within --max-body and the memory budget, then the
 * route's handler (routes.c) called.
 *
 * libmicrohttpd calls handle_request several times per request (post_example.c protocol):
 * first with no state (allocate it, check the route and Content-Length), then once per body
 * chunk (append, or discard past --max-body), then with no data (dispatch). A compute
 * request is then suspended and queued; the worker stores the response and resumes the
 * connection, and the next call queues it. request_completed frees the state and writes the
 * access log line. */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "encoding.h"
#include "linger.h"
#include "log.h"
#include "request.h"
#include "stream.h"
#include "server.h"

#define LINGER_SECONDS 5.0          /* an answered oversize upload is drained this long... */
#define LINGER_BYTES (64u << 20)    /* ... or this far, then closed */
#define BODY_PREALLOCATE (16 << 20) /* bytes of a declared body allocated before it arrives */

/* A CORS preflight: which methods and headers a browser may use from the allowed origin. */
static enum MHD_Result respond_preflight(http_request *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "Content-Type, Accept, Authorization, X-Tensor-Shape, Inference-Header-Content-Length, Content-Encoding, X-Request-Id, traceparent");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    return ct_http_send_built(r, 204, "text/plain", resp, 0, NULL, NULL);
}

static enum MHD_Result dispatch(http_request *r)
{
    /* A .npy file sent as JSON (no Content-Type, or curl -d's default) would fail as
     * "invalid JSON"; say what to send instead. */
    if (ct_http_is_json(r->content_type) && r->body.len >= 6 && memcmp(r->body.data, "\x93NUMPY", 6) == 0)
        return ct_http_error(r, 415, "unsupported_media_type",
                             r->route->id == ROUTE_LAYER_RUN ? "body: this is a .npy file; send it with Content-Type: application/x-npy"
                                                             : "body: this is a .npy file; send .npy tensors as multipart/form-data parts (curl -F input=@x.npy -F weight=@w.npy)",
                             NULL, NULL);
    if (!r->route->handle)
        return ct_http_error(r, 404, "not_found", "no such endpoint", NULL, NULL);
    return r->route->handle(r);
}

/* Writes an early answer through the connection's TLS session (libmicrohttpd's, used from
 * its own thread inside its callback, so nothing else touches the session meanwhile). The
 * socket is non-blocking: a record that does not leave at once is retried a bounded number
 * of times, with the same arguments as GnuTLS asks. */
static long send_tls(void *session, const char *bytes, size_t len)
{
    for (int tries = 0; tries < 1000; tries++) {
        ssize_t n = gnutls_record_send(session, bytes, len);
        if (n >= 0)
            return (long)n;
        if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED)
            return -1;
        struct timespec pause = {0, 100000};
        nanosleep(&pause, NULL);
    }
    return -1;
}

/* A body passing --max-body gets its 413 as soon as it passes, over TLS as over plain TCP:
 * written on the connection, then the socket drained and closed gracefully (linger.c).
 * 1 when answered. */
static int answer_oversize_now(http_request *r, const char *msg)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info)
        return 0;
    const int fd = info->connect_fd;
    void *session = NULL;
    if (r->srv->tls_cert_pem) {
        const union MHD_ConnectionInfo *tls = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!tls || !(session = tls->tls_session))
            return 0;
    }
    size_t len;
    char *body = ct_http_error_body(r->route && (r->route->flags & CT_ROUTE_OIP), "body_too_large", msg, &len);
    int answered = body && ct_linger_respond(fd, session ? send_tls : NULL, session, 413, "Content Too Large", r->request_id, body, len, LINGER_SECONDS, LINGER_BYTES) == 0;
    free(body);
    if (answered) {
        r->responded = 1;
        r->status = 413;
        r->bytes_out = len;
        ct_buffer_free(&r->body);
    }
    return answered;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes %XX in the path in place, as libmicrohttpd's default does, except %00: a NUL would
 * cut the path short ("PUT /v1/layers/a%00b" would name layer "a"), so it stays "%00", which
 * no route or layer name accepts. */
size_t ct_http_unescape_path(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *p = s; *p;) {
        int hi = p[0] == '%' ? hex_value(p[1]) : -1, lo = hi >= 0 ? hex_value(p[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* 64 random bits from a per-thread xoshiro256** generator, seeded once from getrandom: a
 * request id needs to be unique, not secret, and a system call per request is a measurable
 * part of a small request's cost. */
static uint64_t random_u64(void)
{
    static _Thread_local uint64_t s[4];
    static _Thread_local int seeded;
    if (!seeded) {
        if (getrandom(s, sizeof s, 0) != (ssize_t)sizeof s || !(s[0] | s[1] | s[2] | s[3])) {
            s[0] = (uint64_t)ct_now() * 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)&s; /* never all zero */
            s[1] = s[0] ^ 0xbf58476d1ce4e5b9u;
            s[2] = 0x94d049bb133111ebu;
            s[3] = 1;
        }
        seeded = 1;
    }
    const uint64_t result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3] << 45 | s[3] >> 19;
    return result;
}

/* X-Request-Id: the client's value when it is 1-128 of [A-Za-z0-9._:-] (what tracing
 * systems send), else 128 random bits in hex. A malformed value is replaced, never echoed:
 * echoing it raw would let a client inject headers or log text. */
static void set_request_id(http_request *r, const char *given)
{
    size_t n = given ? strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") : 0;
    if (given && n > 0 && n <= 128 && given[n] == '\0') {
        memcpy(r->request_id, given, n + 1);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    uint64_t v[2] = {random_u64(), random_u64()};
    for (int i = 0; i < 32; i++)
        r->request_id[i] = hex[v[i / 16] >> (4 * (i % 16)) & 15];
    r->request_id[32] = '\0';
}

/* The trace id of a W3C traceparent "00-<32 hex>-<16 hex>-<2 hex>" (not all zeros), or "". */
static void set_trace_id(http_request *r, const char *traceparent)
{
    r->trace_id[0] = '\0';
    if (!traceparent || strlen(traceparent) < 55)
        return;
    const char *t = traceparent;
    int ok = t[2] == '-' && t[35] == '-' && t[52] == '-' && (t[55] == '\0' || t[55] == '-');
    int nonzero = 0;
    for (int i = 0; ok && i < 55; i++) {
        if (i == 2 || i == 35 || i == 52)
            continue;
        ok = (t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f');
        nonzero |= i > 2 && i < 35 && t[i] != '0';
    }
    if (ok && nonzero && strncmp(t, "ff", 2) != 0) {
        memcpy(r->trace_id, t + 3, 32);
        r->trace_id[32] = '\0';
    }
}

/* Headers that request smuggling plays on, counted in one pass. */
typedef struct framing {
    int content_lengths;
    const char *first_length;
    int conflicting;
    const char *transfer_encoding;
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    framing *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->content_lengths++ == 0)
            f->first_length = value;
        else if (strcmp(f->first_length, value ? value : "") != 0)
            f->conflicting = 1;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding = value;
    }
    return MHD_YES;
}

static enum MHD_Result first_call(ct_server *srv, struct MHD_Connection *conn, const char *url, const char *method,
                                  void **req_cls)
{
    http_request *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    atomic_fetch_add(&srv->inflight, 1);
    *req_cls = r;
    r->srv = srv;
    r->conn = conn;
    r->start = ct_now();
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", url);
    r->content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    r->accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    r->tensor_shape = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Tensor-Shape");
    r->tensor_dtype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Tensor-Dtype");
    r->output_dtype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Output-Dtype");
    r->inference_header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    r->content_encoding = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    r->accept_encoding = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    r->origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    set_request_id(r, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id"));
    const char *timeout = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Timeout-Ms");
    long long timeout_ms = 0;
    if (timeout) {
        ct_api_error terr;
        if (ct_parse_length_header("X-Request-Timeout-Ms", timeout, &timeout_ms, &terr) != 0 || timeout_ms == 0 || timeout_ms > 86400000LL) {
            r->route = &ct_route_unknown;
            return ct_http_error(r, 400, "invalid_header", "X-Request-Timeout-Ms: give whole milliseconds from 1 to 86400000", NULL, NULL);
        }
    }
    r->deadline = timeout_ms ? r->start + (double)timeout_ms / 1e3 : srv->cfg.request_timeout > 0 ? r->start + (double)srv->cfg.request_timeout : 0;
    set_trace_id(r, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"));
    r->route = ct_route_match(url, r->name, sizeof r->name, r->version, sizeof r->version);
    if (!r->route) {
        r->route = strncmp(url, "/v2/", 4) == 0 ? &ct_route_unknown_v2 : &ct_route_unknown;
        return ct_http_error(r, 404, "not_found", "no such endpoint; GET / lists them", NULL, NULL);
    }
    if (strcmp(method, "OPTIONS") == 0 && ct_access_cors_origin(&srv->access, r->origin))
        return respond_preflight(r);
    /* A browser opening / is sent to the docs page; programs keep getting JSON. */
    if (r->route->id == ROUTE_ROOT && strcmp(method, "GET") == 0 && ct_negotiate(r->accept, (const char *const[]){"application/json", "text/html"}, 2) == 1)
        return ct_http_error(r, 302, "see_docs", "the API's page is /docs", MHD_HTTP_HEADER_LOCATION, "/docs");
    int probe = (r->route->flags & (CT_ROUTE_PROBE | CT_ROUTE_PUBLIC)) != 0;
    if (!probe && !ct_access_authorized(&srv->access, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization")))
        return ct_http_error(r, 401, "unauthorized", "Authorization: a valid bearer token is required (Authorization: Bearer <token>)",
                             MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"convtransposed\"");
    if (!ct_route_allows(r->route, method)) {
        char msg[400];
        snprintf(msg, sizeof msg, "method %s is not allowed on %s; use %s", r->method, r->path, r->route->allow);
        return ct_http_error(r, 405, "method_not_allowed", msg, MHD_HTTP_HEADER_ALLOW, r->route->allow);
    }
    /* A proxy that reads the other Content-Length, or a framing we do not know, would see
     * another request boundary than ours: refuse both before reading a byte of body. */
    framing fr = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &fr);
    if (fr.conflicting)
        return ct_http_error(r, 400, "invalid_header", "Content-Length: the request has conflicting Content-Length headers",
                             MHD_HTTP_HEADER_CONNECTION, "close");
    if (fr.transfer_encoding && strcasecmp(fr.transfer_encoding, "chunked") != 0)
        return ct_http_error(r, 501, "not_implemented", "Transfer-Encoding: only chunked is supported", MHD_HTTP_HEADER_CONNECTION, "close");
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        long long n = strtoll(cl, NULL, 10);
        if (n > srv->cfg.max_body) {
            char msg[160];
            snprintf(msg, sizeof msg, "body: %lld bytes exceed the limit of %lld (--max-body)", n, (long long)srv->cfg.max_body);
            /* the client may be sending the body already, without waiting for an answer */
            if (answer_oversize_now(r, msg))
                return MHD_NO;
            return ct_http_error(r, 413, "body_too_large", msg, NULL, NULL);
        }
        if (n > srv->cfg.max_memory) {
            char msg[160];
            snprintf(msg, sizeof msg, "body: %lld bytes exceed the memory budget (--max-memory %lld)", n, (long long)srv->cfg.max_memory);
            return ct_http_error(r, 413, "memory_limit", msg, NULL, NULL);
        }
        /* The budget is taken as the bytes arrive (below), not from the header: a client that
         * declares 64 MB and sends nothing holds nothing. The buffer is sized up front (only
         * its touched pages are memory), up to a bound, so a large body is not copied as it
         * grows. */
        if (n > 0 && ct_buffer_reserve(&r->body, (size_t)(n < BODY_PREALLOCATE ? n : BODY_PREALLOCATE)) != 0)
            return ct_http_error(r, 503, "out_of_memory", "body: out of memory", NULL, NULL);
    }
    return MHD_YES;
}

/* Bytes of an over-limit chunked body read (and dropped) before the connection is closed. */
static size_t discard_allowance(const ct_server *srv)
{
    int64_t allowance = 4 * srv->cfg.max_body;
    return (size_t)(allowance < (64 << 20) ? allowance : (64 << 20));
}

enum MHD_Result ct_http_handle_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **req_cls)
{
    (void)version;
    ct_server *srv = cls;
    http_request *r = *req_cls;
    if (!r)
        return first_call(srv, conn, url, method, req_cls);
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->bytes_in += n;
        if (r->responded)
            return MHD_YES; /* answered from the headers: discard */
        if (!r->body_too_large && r->body.len + n > (size_t)srv->cfg.max_body) {
            char msg[160];
            snprintf(msg, sizeof msg, "body: more than %lld bytes (--max-body)", (long long)srv->cfg.max_body);
            if (answer_oversize_now(r, msg))
                return MHD_NO; /* answered on the socket; the drain owns it now */
        }
        if (r->body_too_large || r->body.len + n > (size_t)srv->cfg.max_body) {
            /* Past the lingering cap (or with no socket to write on): libmicrohttpd answers
             * only before the body or after all of it. Keep nothing, read on up to a bounded
             * allowance so the client gets its 413, and past that close the connection. */
            r->body_too_large = 1;
            ct_buffer_free(&r->body);
            return r->bytes_in <= discard_allowance(srv) ? MHD_YES : MHD_NO;
        }
        if (r->over_budget)
            return r->bytes_in <= discard_allowance(srv) ? MHD_YES : MHD_NO;
        /* The body reserves its budget as it grows. */
        int64_t grow = (int64_t)(r->body.len + n) - r->mem_reserved;
        if (grow > 0) {
            if (ct_budget_reserve(&srv->budget, grow) != 0) {
                r->over_budget = 1;
                ct_buffer_free(&r->body);
                return MHD_YES;
            }
            r->mem_reserved += grow;
        }
        if (ct_buffer_append(&r->body, upload_data, n) != 0)
            return ct_http_error(r, 503, "out_of_memory", "body: out of memory", NULL, NULL);
        return MHD_YES;
    }
    if (r->responded)
        return MHD_YES;
    if (r->over_budget) {
        r->retry_after = 1;
        return ct_http_error(r, 503, "memory_budget_exhausted",
                             "the memory budget for requests in flight (--max-memory) is in use; retry later", NULL, NULL);
    }
    if (r->body_too_large) {
        char msg[160];
        snprintf(msg, sizeof msg, "body: more than %lld bytes (--max-body)", (long long)srv->cfg.max_body);
        return ct_http_error(r, 413, "body_too_large", msg, NULL, NULL);
    }
    if (atomic_load(&r->result_ready))
        return ct_http_send_result(r);
    return dispatch(r);
}

void ct_http_request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    ct_server *srv = cls;
    http_request *r = *req_cls;
    if (!r)
        return;
    ct_metrics_request(&srv->metrics, r->route ? r->route->id : ROUTE_NONE, r->responded ? r->status : 0, r->bytes_in, r->bytes_out,
                       ct_now() - r->start);
    ct_log_access(&(ct_access_line){r->method, r->path, r->responded ? r->status : 0, r->bytes_in, r->bytes_out, ct_now() - r->start,
                                    r->request_id, r->trace_id, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK});
    ct_buffer_free(&r->body);
    ct_pieces_free(&r->result);
    ct_stream_release(r->result_stream); /* never queued: the client left first */
    ct_budget_release(&srv->budget, r->mem_reserved);
    ct_layer_release(r->layer);
    if (r->parsed)
        ct_request_free(&r->req);
    free(r);
    *req_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

void ct_http_log_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    ct_log(CT_LOG_WARN, "libmicrohttpd: %s", line);
}

