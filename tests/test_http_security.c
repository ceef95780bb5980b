/* test_http_security.c - who may call and what a client may consume: bearer-token auth
 * (health probes exempt), CORS with preflight, TLS, the in-flight memory budget, and a
 * clean restart after SIGKILL. */
#include <curl/curl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

static const char SEED[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"bias\":[0.5],\"stride\":2}";
static const char SEED_OUT[] = "{\"shape\":[1,4],\"dtype\":\"float32\",\"data\":[1.5,10.5,2.5,20.5]}";

TEST(auth_bearer_token_required_except_health_probes)
{
    char path[] = "/tmp/ct-token-XXXXXX";
    int fd = mkstemp(path);
    CHECK(write(fd, "s3cret-t0ken\n", 13) == 13);
    close(fd);
    daemon_proc d = daemon_up((const char *const[]){"--auth-token-file", path, NULL});
    expect_get_status(d.port, "/healthz", 200);
    expect_get_status(d.port, "/readyz", 200);
    http_response r = http_request(d.port, "GET", "/", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 401);
    CHECK_CONTAINS(r.body, "\"code\":\"unauthorized\"");
    expect_header(&r, "WWW-Authenticate", "Bearer realm=\"convtransposed\"");
    http_response_free(&r);
    const char *const wrong[] = {"Content-Type: application/json", "Authorization: Bearer s3cret-t0kem", NULL};
    r = http_request(d.port, "POST", "/convtranspose", wrong, SEED, strlen(SEED));
    CHECK_INT_EQ(r.status, 401);
    http_response_free(&r);
    const char *const longer[] = {"Content-Type: application/json", "Authorization: Bearer s3cret-t0ken2", NULL};
    r = http_request(d.port, "POST", "/convtranspose", longer, SEED, strlen(SEED));
    CHECK_INT_EQ(r.status, 401);
    http_response_free(&r);
    const char *const right[] = {"Content-Type: application/json", "Authorization: Bearer s3cret-t0ken", NULL};
    r = http_request(d.port, "POST", "/convtranspose", right, SEED, strlen(SEED));
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, SEED_OUT);
    http_response_free(&r);
    char *log = daemon_log(&d);
    CHECK(strstr(log, "s3cret") == NULL);
    free(log);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    unlink(path);
}

TEST(cors_off_by_default_and_preflight_when_on)
{
    daemon_proc d = daemon_up(NULL);
    const char *const from_app[] = {"Origin: https://app.example", "Content-Type: application/json", NULL};
    http_response r = http_request(d.port, "POST", "/convtranspose", from_app, SEED, strlen(SEED));
    CHECK_INT_EQ(r.status, 200);
    CHECK(http_header(&r, "Access-Control-Allow-Origin") == NULL);
    http_response_free(&r);
    r = http_request(d.port, "OPTIONS", "/convtranspose", from_app, NULL, 0);
    CHECK_INT_EQ(r.status, 405);
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);

    d = daemon_up((const char *const[]){"--cors-origin", "https://app.example", NULL});
    const char *const preflight[] = {"Origin: https://app.example", "Access-Control-Request-Method: POST",
                                     "Access-Control-Request-Headers: content-type, authorization", NULL};
    r = http_request(d.port, "OPTIONS", "/convtranspose", preflight, NULL, 0);
    CHECK_INT_EQ(r.status, 204);
    char *origin = http_header(&r, "Access-Control-Allow-Origin"), *methods = http_header(&r, "Access-Control-Allow-Methods");
    char *headers = http_header(&r, "Access-Control-Allow-Headers");
    CHECK_STR_EQ(origin, "https://app.example");
    CHECK_CONTAINS(methods, "POST");
    CHECK_CONTAINS(headers, "Authorization");
    free(origin);
    free(methods);
    free(headers);
    http_response_free(&r);
    r = http_request(d.port, "POST", "/convtranspose", from_app, SEED, strlen(SEED));
    CHECK_INT_EQ(r.status, 200);
    expect_header(&r, "Access-Control-Allow-Origin", "https://app.example");
    http_response_free(&r);
    const char *const other[] = {"Origin: https://evil.example", "Content-Type: application/json", NULL};
    r = http_request(d.port, "POST", "/convtranspose", other, SEED, strlen(SEED));
    CHECK(http_header(&r, "Access-Control-Allow-Origin") == NULL);
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

static size_t keep(char *p, size_t s, size_t n, void *u)
{
    strncat((char *)u, p, s * n < 511 - strlen((char *)u) ? s * n : 511 - strlen((char *)u));
    return s * n;
}

TEST(tls_serves_https_and_plain_http_fails_cleanly)
{
    tls_files t;
    make_tls_cert(&t);
    daemon_proc d = daemon_up((const char *const[]){"--tls-cert", t.cert, "--tls-key", t.key, NULL});
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = https_request(d.port, t.cert, "POST", "/convtranspose", json, SEED, strlen(SEED));
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, SEED_OUT);
    http_response_free(&r);
    /* plain HTTP to the TLS port: an error, quickly, not a hang */
    char url[128], body[512] = {0};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", d.port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    CURLcode rc = curl_easy_perform(c);
    CHECK(rc != CURLE_OK && rc != CURLE_OPERATION_TIMEDOUT);
    curl_easy_cleanup(c);
    /* and the daemon still serves HTTPS afterwards */
    r = https_request(d.port, t.cert, "GET", "/healthz", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    remove_tls_cert(&t);
}

/* A JSON body of about `bytes` bytes: a 1x1 layer over a long 1-d input. */
static char *sized_body(size_t bytes, size_t *len)
{
    size_t n = bytes / 2;
    char *b = malloc(n * 2 + 128);
    size_t k = (size_t)sprintf(b, "{\"weight\":[[[1]]],\"input\":{\"shape\":[1,1,%zu],\"data\":[", n);
    for (size_t i = 0; i < n; i++) {
        b[k++] = '1';
        b[k++] = ',';
    }
    k--;
    k += (size_t)sprintf(b + k, "]}}");
    *len = k;
    return b;
}

TEST_WITH_TIMEOUT(memory_budget_413_alone_503_together_then_recovers, 120)
{
    daemon_proc d = daemon_up((const char *const[]){"--max-memory", "30M", "--workers", "2", "--threads", "2", NULL});
    size_t len;
    char *big = sized_body(6 << 20, &len);
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(d.port, "POST", "/convtranspose", json, big, len);
    CHECK_INT_EQ(r.status, 413);
    CHECK_CONTAINS(r.body, "\"code\":\"memory_limit\"");
    http_response_free(&r);
    free(big);
    /* each request fits alone (body 1 MB, work ~16 MB by the worst-case estimate), two
     * computing at once do not */
    char *one = sized_body(1 << 20, &len);
    enum { N = 6 };
    http_response rs[N];
    http_parallel(d.port, "/convtranspose", json, one, len, N, rs);
    int ok, busy;
    count_served_or_busy(rs, N, "memory_budget_exhausted", &ok, &busy);
    CHECK(ok >= 1);
    CHECK(busy >= 1);
    r = http_request(d.port, "POST", "/convtranspose", json, one, len); /* the budget is back */
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    free(one);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(restart_after_sigkill_on_the_same_port)
{
    daemon_proc d = daemon_up(NULL);
    int port = d.port;
    kill(d.pid, SIGKILL);
    waitpid(d.pid, NULL, 0);
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    daemon_proc again;
    daemon_start(&again, (const char *const[]){"--port", port_text, NULL});
    CHECK_INT_EQ(again.port, port);
    http_response r = http_request(port, "GET", "/healthz", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&again), 0);
    unlink(d.log_path);
}
