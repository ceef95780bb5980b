/* http_client.c - see http_client.h. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "http_client.h"
#include "test.h"

/* Waits (up to 10 s) for GET /readyz to answer 200: a daemon with --model-dir loads its
 * layers after it starts serving, and answers 503 "warming" meanwhile. */
static void wait_ready(const daemon_proc *d)
{
    for (int i = 0; i < 1000; i++) {
        http_response r = http_request_may_fail(d->port, "GET", "/readyz", NULL, NULL, 0);
        const long status = r.status;
        http_response_free(&r);
        if (status == 200)
            return;
        usleep(10000);
    }
    FAIL("the daemon on port %d was not ready in 10 s (log %s)", d->port, d->log_path);
}

static void start(daemon_proc *d, const char *const *extra, int until_ready)
{
    curl_global_init(CURL_GLOBAL_DEFAULT); /* once, before any thread of the test uses libcurl */
    const char *bin = getenv("CT_DAEMON") ? getenv("CT_DAEMON") : "build/convtransposed";
    int out[2];
    CHECK(pipe(out) == 0);
    snprintf(d->log_path, sizeof d->log_path, "/tmp/ct-test-daemon-%d-%ld.log", (int)getpid(), (long)time(NULL));
    const char *argv[64] = {bin, "--host", "127.0.0.1", "--port", "0"};
    int argc = 5;
    for (int i = 0; extra && extra[i] && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    d->pid = fork();
    CHECK(d->pid >= 0);
    if (d->pid == 0) {
        dup2(out[1], 1);
        int log = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(log, 2);
        close(out[0]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[256];
    alarm(10);
    if (!fgets(line, sizeof line, f))
        FAIL("daemon %s did not start (log %s)", bin, d->log_path);
    alarm(0);
    fclose(f);
    char *colon = strrchr(line, ':');
    CHECK(colon != NULL);
    d->port = atoi(colon + 1);
    CHECK(d->port > 0);
    int model_dir = 0, tls = 0;
    for (int i = 0; extra && extra[i]; i++) {
        model_dir |= strcmp(extra[i], "--model-dir") == 0;
        tls |= strcmp(extra[i], "--tls-cert") == 0;
    }
    if (until_ready && model_dir && !tls)
        wait_ready(d);
}

void daemon_start(daemon_proc *d, const char *const *extra)
{
    start(d, extra, 1);
}

void daemon_start_unready(daemon_proc *d, const char *const *extra)
{
    start(d, extra, 0);
}

daemon_proc daemon_up(const char *const *extra_args)
{
    daemon_proc d;
    daemon_start(&d, extra_args);
    return d;
}

int run_command(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096)
            CHECK((buf = realloc(buf, cap *= 2)) != NULL);
    }
    buf[len] = '\0';
    *out = buf;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int daemon_stop(daemon_proc *d)
{
    int status;
    kill(d->pid, SIGTERM);
    for (int i = 0; i < 2000; i++) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            unlink(d->log_path);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(10000);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &status, 0);
    return -1;
}

char *daemon_log(const daemon_proc *d)
{
    usleep(150000); /* the daemon writes its log in batches, every 50 ms (server/log.c) */
    FILE *f = fopen(d->log_path, "r");
    if (!f)
        return strdup("");
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
    http_response *r = userp;
    size_t n = size * nmemb;
    r->body = realloc(r->body, r->len + n + 1);
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t collect_header(char *data, size_t size, size_t nmemb, void *userp)
{
    http_response *r = userp;
    size_t n = size * nmemb, have = r->headers ? strlen(r->headers) : 0;
    r->headers = realloc(r->headers, have + n + 1);
    memcpy(r->headers + have, data, n);
    r->headers[have + n] = '\0';
    return n;
}

/* ca_file: HTTPS, trusting that certificate; NULL: plain HTTP. */
static CURL *make_handle(int port, const char *ca_file, const char *method, const char *path, struct curl_slist *hdrs,
                         const void *body, size_t body_len, http_response *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", ca_file ? "https" : "http", port, path);
    memset(r, 0, sizeof *r);
    r->body = calloc(1, 1);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    return c;
}

static struct curl_slist *header_list(const char *const *headers)
{
    struct curl_slist *h = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    return h;
}

static http_response request(int port, const char *ca_file, const char *method, const char *path, const char *const *headers,
                             const void *body, size_t body_len, int may_fail)
{
    http_response r;
    struct curl_slist *h = header_list(headers);
    CURL *c = make_handle(port, ca_file, method, path, h, body, body_len, &r);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK && !may_fail)
        FAIL("%s %s: curl: %s", method, path, curl_easy_strerror(rc));
    r.status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return r;
}

http_response http_request(int port, const char *method, const char *path, const char *const *headers, const void *body,
                           size_t body_len)
{
    return request(port, NULL, method, path, headers, body, body_len, 0);
}

http_response https_request(int port, const char *ca_file, const char *method, const char *path, const char *const *headers,
                            const void *body, size_t body_len)
{
    return request(port, ca_file, method, path, headers, body, body_len, 0);
}

http_response http_request_may_fail(int port, const char *method, const char *path, const char *const *headers, const void *body,
                                    size_t body_len)
{
    return request(port, NULL, method, path, headers, body, body_len, 1);
}

void http_parallel(int port, const char *path, const char *const *headers, const void *body, size_t body_len, int n,
                   http_response *responses)
{
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)n);
    struct curl_slist *h = header_list(headers);
    CURL **handles = calloc((size_t)n, sizeof *handles);
    for (int i = 0; i < n; i++) {
        handles[i] = make_handle(port, NULL, "POST", path, h, body, body_len, &responses[i]);
        curl_easy_setopt(handles[i], CURLOPT_FRESH_CONNECT, 1L);
        curl_multi_add_handle(m, handles[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < n; i++) {
        curl_easy_getinfo(handles[i], CURLINFO_RESPONSE_CODE, &responses[i].status);
        curl_multi_remove_handle(m, handles[i]);
        curl_easy_cleanup(handles[i]);
    }
    free(handles);
    curl_slist_free_all(h);
    curl_multi_cleanup(m);
}

void http_response_free(http_response *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

char *http_header(const http_response *r, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(eol - v));
        }
        p = eol + 2;
    }
    return NULL;
}

void served_layer_sha(int port, const char *name, char out[65])
{
    char path[96];
    snprintf(path, sizeof path, "/v1/layers/%s", name);
    http_response r = http_request(port, "GET", path, NULL, NULL, 0);
    out[0] = '\0';
    if (r.status == 200) {
        const char *p = strstr(r.body, "\"sha256\": \"");
        CHECK(p != NULL);
        memcpy(out, p + 11, 64);
        out[64] = '\0';
    } else if (r.status != 404) {
        FAIL("GET %s: %ld %s", path, r.status, r.body);
    }
    http_response_free(&r);
}

double metric_value(const char *metrics, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *p = strstr(metrics, needle);
    return p ? strtod(p + strlen(needle), NULL) : -1;
}

double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

void put_ones_layer(int port, const char *name, int cin, int cout, int k, const char *extra)
{
    const size_t count = (size_t)cin * cout * k * k;
    char *body = malloc(count * 2 + 256);
    CHECK(body != NULL);
    int n = sprintf(body, "{\"weight\": {\"shape\": [%d, %d, %d, %d], \"data\": [", cin, cout, k, k);
    for (size_t i = 0; i < count; i++)
        n += sprintf(body + n, "%s1", i ? "," : "");
    sprintf(body + n, "]}%s}", extra);
    char path[96];
    snprintf(path, sizeof path, "/v1/layers/%s", name);
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(port, "PUT", path, json, body, strlen(body));
    if (r.status != 201)
        FAIL("PUT %s: %ld %s", path, r.status, r.body);
    http_response_free(&r);
    free(body);
}

void expect_get_status(int port, const char *path, long status)
{
    http_response r = http_request(port, "GET", path, NULL, NULL, 0);
    if (r.status != status)
        FAIL("GET %s: %ld %s (wanted %ld)", path, r.status, r.body, status);
    http_response_free(&r);
}

void count_served_or_busy(http_response *rs, int n, const char *code, int *ok, int *busy)
{
    *ok = *busy = 0;
    for (int i = 0; i < n; i++) {
        if (rs[i].status == 200) {
            (*ok)++;
        } else {
            CHECK_INT_EQ(rs[i].status, 503);
            CHECK_CONTAINS(rs[i].body, code);
            char *retry = http_header(&rs[i], "Retry-After");
            CHECK_STR_EQ(retry, "1");
            free(retry);
            (*busy)++;
        }
        http_response_free(&rs[i]);
    }
}

int sanitized_build(void)
{
    const char *b = getenv("CT_BUILD");
    return b && strstr(b, "asan") != NULL;
}

void put_heavy_layer(int port)
{
    put_ones_layer(port, "heavy", 64, sanitized_build() ? 48 : 256, 16, ", \"padding\": 7");
}

void *timed_raw_run(void *arg)
{
    timed_run *t = arg;
    ct_shape shape;
    ct_api_error err;
    CHECK(ct_parse_shape_header(t->shape, &shape, &err) == 0);
    const size_t bytes = (size_t)ct_shape_bytes(&shape, sizeof(float));
    float *x = calloc(1, bytes + 1);
    char shape_h[96], timeout_h[64], path[96];
    snprintf(shape_h, sizeof shape_h, "X-Tensor-Shape: %s", t->shape);
    snprintf(timeout_h, sizeof timeout_h, "X-Request-Timeout-Ms: %s", t->timeout_ms ? t->timeout_ms : "");
    snprintf(path, sizeof path, "/v1/layers/%s/convtranspose", t->layer);
    const char *const raw[] = {"Content-Type: application/octet-stream", shape_h, "Accept: application/octet-stream",
                               t->timeout_ms ? timeout_h : NULL, NULL};
    const double t0 = monotonic_seconds();
    http_response r = http_request(t->port, "POST", path, raw, x, bytes);
    t->seconds = monotonic_seconds() - t0;
    t->status = r.status;
    snprintf(t->body, sizeof t->body, "%s", r.status == 200 ? "" : r.body);
    http_response_free(&r);
    free(x);
    return NULL;
}

void make_tls_cert(tls_files *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/ct-tls-XXXXXX");
    CHECK(mkdtemp(t->dir) != NULL);
    snprintf(t->cert, sizeof t->cert, "%s/cert.pem", t->dir);
    snprintf(t->key, sizeof t->key, "%s/key.pem", t->dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
             "-keyout %s -out %s >/dev/null 2>&1", t->key, t->cert);
    CHECK(system(cmd) == 0);
}

void remove_tls_cert(const tls_files *t)
{
    unlink(t->cert);
    unlink(t->key);
    CHECK(rmdir(t->dir) == 0);
}

int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

void expect_header(const http_response *r, const char *name, const char *want)
{
    char *got = http_header(r, name);
    if (!got || strcmp(got, want) != 0)
        FAIL("header %s: \"%s\", expected \"%s\"", name, got ? got : "(none)", want);
    free(got);
}

void expect_response(int port, const char *method, const char *path, const char *const *headers, const char *body, size_t len,
                     long status, const char *contains)
{
    http_response r = http_request(port, method, path, headers, body, body ? len : 0);
    if (r.status != status || (contains && !strstr(r.body, contains)))
        FAIL("%s %s: %ld %.400s; expected %ld with \"%s\"", method, path, r.status, r.body, status, contains ? contains : "");
    http_response_free(&r);
}
