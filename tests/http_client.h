/* http_client.h - test helpers: start the real daemon on a free port, and make HTTP requests
 * to it with libcurl (single, or many at once with the multi interface). */
#ifndef CT_TESTS_HTTP_CLIENT_H
#define CT_TESTS_HTTP_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

typedef struct daemon_proc {
    pid_t pid;
    int port;
    char log_path[128];
} daemon_proc;

/* Starts build/convtransposed (CT_DAEMON overrides the path) on 127.0.0.1, port 0, with
 * extra flags (NULL-terminated). Fails the test if it does not print its port in 10 s, or
 * (with --model-dir) if /readyz is not 200 in 10 s more. */
void daemon_start(daemon_proc *d, const char *const *extra_args);
/* daemon_start, without waiting for /readyz (daemon_start waits when --model-dir is given:
 * the daemon loads its layers while serving). */
void daemon_start_unready(daemon_proc *d, const char *const *extra_args);
/* curl_global_init, then daemon_start: the first line of most tests. */
daemon_proc daemon_up(const char *const *extra_args);
/* SIGTERM and wait; returns the exit status (or -1 if it had to be killed after 20 s). */
int daemon_stop(daemon_proc *d);
/* The daemon's stderr so far (malloc'd), after its log batch of the last requests is out. */
char *daemon_log(const daemon_proc *d);

typedef struct http_response {
    long status;
    char *body;          /* NUL-terminated (the body may also hold NULs: use len) */
    size_t len;
    char *headers;       /* raw header block */
} http_response;

/* One request. headers: NULL-terminated "Name: value" list (may be NULL). */
http_response http_request(int port, const char *method, const char *path, const char *const *headers,
                           const void *body, size_t body_len);
/* The same for a server that may die meanwhile: a transport error gives status 0. */
/* http_request over HTTPS, trusting the certificate in ca_file. */
http_response https_request(int port, const char *ca_file, const char *method, const char *path, const char *const *headers,
                            const void *body, size_t body_len);
http_response http_request_may_fail(int port, const char *method, const char *path, const char *const *headers, const void *body,
                                    size_t body_len);
void http_response_free(http_response *r);
/* A header's value from a response (malloc'd, or NULL). */
char *http_header(const http_response *r, const char *name);

/* n identical POSTs in flight at once over n connections; responses[i] filled. */
void http_parallel(int port, const char *path, const char *const *headers, const void *body, size_t body_len, int n,
                   http_response *responses);

/* Runs a shell command (popen); returns its exit status (-1 when it did not exit) and its
 * standard output in *out (malloc'd; add 2>&1 to the command for its errors too). */
int run_command(const char *cmd, char **out);

/* The layer's sha256 as GET /v1/layers/{name} serves it, or "" when it is absent (404); any
 * other answer fails the test. */
void served_layer_sha(int port, const char *name, char out[65]);

/* A GET of path must answer status (the test fails otherwise). */
void expect_get_status(int port, const char *path, long status);

/* Of n responses to requests sent at once: each 200 (counted in *ok) or a 503 with code and
 * Retry-After: 1 (counted in *busy); anything else fails the test. Frees the responses. */
void count_served_or_busy(http_response *rs, int n, const char *code, int *ok, int *busy);

/* The value of a metric line "name value" in a /metrics body, or -1. */
double metric_value(const char *metrics, const char *name);

/* Whether this is the sanitizer build (CT_BUILD names build-asan): its kernels run some 60x
 * slower, so timing tests use lighter work and wider bounds there. */
int sanitized_build(void);

/* The timing tests' heavy layer "heavy": 64 -> 256 channels through a 16 x 16 kernel, 33k
 * FLOPs per input byte, so that on HEAVY_INPUT_SHAPE (4 MiB) a run lasts about half a second
 * on two cores while its body arrives in a few milliseconds; the sanitizer build takes
 * 64 -> 48 channels, which runs about as long there. */
#define HEAVY_INPUT_SHAPE "4,64,64,64"
void put_heavy_layer(int port);

/* A timed POST of a zero float32 body of `shape` to /v1/layers/{layer}/convtranspose, raw in
 * and out, for a thread: fills status, seconds and (when not 200) body. */
typedef struct timed_run {
    int port;
    const char *layer;
    const char *shape;      /* X-Tensor-Shape */
    const char *timeout_ms; /* X-Request-Timeout-Ms, or NULL for none */
    long status;
    double seconds;
    char body[512];
} timed_run;
void *timed_raw_run(void *arg);

/* Monotonic seconds. */
double monotonic_seconds(void);

/* PUTs a layer named name whose weight is all ones, shape [cin, cout, k, k], with extra
 * members of the layer JSON after it (e.g. ", \"padding\": 7", or ""). Fails the test
 * unless it is created. */
void put_ones_layer(int port, const char *name, int cin, int cout, int k, const char *extra);

/* Sends a request (body of len bytes, or none when NULL) and fails the test unless it is
 * answered `status` with a body containing `contains` (when not NULL). */
void expect_response(int port, const char *method, const char *path, const char *const *headers, const char *body, size_t len,
                     long status, const char *contains);

/* Fails the test unless r has the header `name` with exactly the value `want`. */
void expect_header(const http_response *r, const char *name, const char *want);

/* A TCP socket connected to 127.0.0.1:port (fails the test otherwise), for raw-socket tests. */
int connect_local(int port);

/* A self-signed certificate for 127.0.0.1 (openssl, one day) in a new temporary directory:
 * fills dir (its path, for remove_tls_cert), cert and key (the PEM files' paths). */
typedef struct tls_files {
    char dir[32], cert[64], key[64];
} tls_files;
void make_tls_cert(tls_files *t);
void remove_tls_cert(const tls_files *t);

#endif /* CT_TESTS_HTTP_CLIENT_H */
