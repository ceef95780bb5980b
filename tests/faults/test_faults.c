/* test_faults.c - faults of the machine, not of the request, with the daemon running: a full
 * disk under --model-dir (tests/faults/fault_shim.c, preloaded), and SIGKILL at random
 * moments of a burst of PUTs and DELETEs of several layers. Nothing that was committed may
 * be lost, nothing half-written may be served, and the daemon recovers by itself. */
#include <curl/curl.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "sha256.h"
#include "test.h"

static const char *build_dir(void)
{
    return getenv("CT_BUILD") ? getenv("CT_BUILD") : "build";
}

/* A 1-d weight [1, 1, n] of value v, as JSON, and the sha256 the daemon gives it. */
static char *weight_json(int n, float v, char sha[65])
{
    char *body = malloc((size_t)n * 16 + 64);
    int len = sprintf(body, "{\"weight\": {\"shape\": [1, 1, %d], \"data\": [", n);
    float *w = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        w[i] = v;
        len += sprintf(body + len, "%s%g", i ? "," : "", v);
    }
    sprintf(body + len, "]}}");
    ct_sha256 h;
    ct_sha256_init(&h);
    ct_sha256_update(&h, w, sizeof(float) * (size_t)n);
    ct_sha256_hex(&h, sha);
    free(w);
    return body;
}

static long put(int port, const char *name, const char *body, char **reply)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/layers/%s", name);
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(port, "PUT", path, json, body, strlen(body));
    long status = r.status;
    if (reply)
        *reply = strdup(r.body ? r.body : "");
    http_response_free(&r);
    return status;
}

/* Entries of dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

TEST_WITH_TIMEOUT(disk_full_during_a_put_keeps_the_old_layer_and_recovers_when_space_returns, 60)
{
    char dir[256], flag[300], shim[300];
    char *cwd = getcwd(NULL, 0);
    snprintf(dir, sizeof dir, "%s/%s/faults-store-%d", cwd, build_dir(), (int)getpid());
    snprintf(flag, sizeof flag, "%s.full", dir);
    snprintf(shim, sizeof shim, "%s/%s/libctfault.so", cwd, build_dir());
    free(cwd);
    CHECK(access(shim, R_OK) == 0);
    setenv("LD_PRELOAD", shim, 1);
    setenv("CT_FAULT_DIR", dir, 1);
    setenv("CT_FAULT_FLAG", flag, 1);
    setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=1", 1); /* the shim comes first */
    daemon_proc d = daemon_up((const char *const[]){"--model-dir", dir, NULL});
    unsetenv("LD_PRELOAD");
    char sha_a[65], sha_b[65], sha[65];
    char *a = weight_json(4096, 1.5f, sha_a), *b = weight_json(4096, -2.25f, sha_b), *reply;
    CHECK_INT_EQ(put(d.port, "keep", a, NULL), 201);
    int before = count_entries(dir); /* the link and its folder */
    FILE *f = fopen(flag, "w");
    CHECK(f != NULL);
    fclose(f);
    /* the disk is full: 507, a message that says so, the old layer served and on disk, no
     * folder left behind */
    long status = put(d.port, "keep", b, &reply);
    if (status != 507 || !strstr(reply, "insufficient_storage") || !strstr(reply, "No space left on device") ||
        !strstr(reply, "the previous version is kept"))
        FAIL("PUT on a full disk: %ld %s", status, reply);
    free(reply);
    CHECK_INT_EQ(put(d.port, "other", b, NULL), 507); /* a new layer neither */
    served_layer_sha(d.port, "keep", sha);
    CHECK_STR_EQ(sha, sha_a);
    served_layer_sha(d.port, "other", sha);
    CHECK_STR_EQ(sha, "");
    CHECK_INT_EQ(count_entries(dir), before);
    http_response r = http_request(d.port, "GET", "/healthz", NULL, NULL, 0);
    CHECK_INT_EQ(r.status, 200);
    http_response_free(&r);
    /* space returns: the next PUT succeeds */
    unlink(flag);
    CHECK_INT_EQ(put(d.port, "keep", b, NULL), 200);
    served_layer_sha(d.port, "keep", sha);
    CHECK_STR_EQ(sha, sha_b);
    CHECK_INT_EQ(daemon_stop(&d), 0);
    /* and it is what the disk holds */
    d = daemon_up((const char *const[]){"--model-dir", dir, NULL});
    served_layer_sha(d.port, "keep", sha);
    CHECK_STR_EQ(sha, sha_b);
    served_layer_sha(d.port, "other", sha);
    CHECK_STR_EQ(sha, "");
    CHECK_INT_EQ(daemon_stop(&d), 0);
    free(a);
    free(b);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_INT_EQ(system(cmd), 0);
}

enum { LAYERS = 3, VERSIONS = 6, CLIENTS = 3 };

typedef struct burst {
    int port, seed;
    char *bodies[LAYERS][VERSIONS];
    volatile int *stop;
} burst;

static void *burst_client(void *arg)
{
    burst *b = arg;
    unsigned st = (unsigned)b->seed * 2654435761u + 7;
    while (!*b->stop) {
        st = st * 1103515245u + 12345u;
        int layer = (int)((st >> 8) % LAYERS), version = (int)((st >> 12) % VERSIONS);
        char name[32];
        snprintf(name, sizeof name, "burst%d", layer);
        if ((st >> 20) % 4 == 0) {
            char path[64];
            snprintf(path, sizeof path, "/v1/layers/%s", name);
            http_response r = http_request_may_fail(b->port, "DELETE", path, NULL, NULL, 0);
            http_response_free(&r);
        } else {
            char path[64];
            snprintf(path, sizeof path, "/v1/layers/%s", name);
            const char *const json[] = {"Content-Type: application/json", NULL};
            http_response r = http_request_may_fail(b->port, "PUT", path, json, b->bodies[layer][version], strlen(b->bodies[layer][version]));
            http_response_free(&r); /* no answer once the daemon is killed */
        }
    }
    return NULL;
}

TEST_WITH_TIMEOUT(sigkill_during_puts_and_deletes_of_several_layers_leaves_each_whole_or_absent, 120)
{
    char dir[256];
    char *cwd = getcwd(NULL, 0);
    snprintf(dir, sizeof dir, "%s/%s/faults-kill-%d", cwd, build_dir(), (int)getpid());
    free(cwd);
    static burst bs[CLIENTS];
    char shas[LAYERS][VERSIONS][65];
    for (int l = 0; l < LAYERS; l++)
        for (int v = 0; v < VERSIONS; v++) {
            char *body = weight_json(20000 + 1000 * l, (float)(l * 10 + v) + 0.5f, shas[l][v]);
            for (int c = 0; c < CLIENTS; c++)
                bs[c].bodies[l][v] = body;
        }
    srand((unsigned)getpid());
    for (int round = 0; round < 8; round++) {
        daemon_proc d = daemon_up((const char *const[]){"--model-dir", dir, "--workers", "3", NULL});
        volatile int stop = 0;
        pthread_t th[CLIENTS];
        for (int c = 0; c < CLIENTS; c++) {
            bs[c].port = d.port;
            bs[c].seed = round * CLIENTS + c + 1;
            bs[c].stop = &stop;
            CHECK(pthread_create(&th[c], NULL, burst_client, &bs[c]) == 0);
        }
        usleep(20000 + (useconds_t)(rand() % 150000)); /* somewhere in the burst */
        kill(d.pid, SIGKILL);
        int status;
        waitpid(d.pid, &status, 0);
        stop = 1;
        for (int c = 0; c < CLIENTS; c++)
            pthread_join(th[c], NULL);
        /* restarted: each layer is absent or one of the versions that were PUT, whole */
        d = daemon_up((const char *const[]){"--model-dir", dir, NULL});
        int present = 0;
        for (int l = 0; l < LAYERS; l++) {
            char name[32], sha[65];
            snprintf(name, sizeof name, "burst%d", l);
            served_layer_sha(d.port, name, sha);
            int known = !sha[0];
            for (int v = 0; v < VERSIONS; v++)
                known |= strcmp(sha, shas[l][v]) == 0;
            if (!known)
                FAIL("round %d: %s came back with sha256 %s, which no PUT sent", round, name, sha);
            if (sha[0]) {
                present++;
                char path[64];
                snprintf(path, sizeof path, "/v1/layers/%s/convtranspose", name);
                const char *const json[] = {"Content-Type: application/json", NULL};
                http_response r = http_request(d.port, "POST", path, json, "{\"input\": [[[1]]]}", 18);
                CHECK_INT_EQ(r.status, 200); /* served whole: it computes */
                http_response_free(&r);
            }
        }
        /* the repository index agrees with the disk and with /v1/layers */
        http_response r = http_request(d.port, "POST", "/v2/repository/index", NULL, "{}", 2);
        CHECK_INT_EQ(r.status, 200);
        int listed = 0;
        for (const char *p = r.body; (p = strstr(p, "\"name\":\"burst")); p++)
            listed++;
        CHECK_INT_EQ(listed, present);
        CHECK(strstr(r.body, "UNAVAILABLE") == NULL);
        http_response_free(&r);
        CHECK_INT_EQ(daemon_stop(&d), 0);
    }
    for (int l = 0; l < LAYERS; l++)
        for (int v = 0; v < VERSIONS; v++)
            free(bs[0].bodies[l][v]);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_INT_EQ(system(cmd), 0);
}

static long process_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* fields after the command name */
    long utime = 0, stime = 0;
    CHECK(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) == 2);
    return utime + stime;
}

TEST_WITH_TIMEOUT(out_of_file_descriptors_the_daemon_waits_quietly_and_recovers, 60)
{
    struct rlimit old, low = {48, 48};
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low.rlim_max = old.rlim_max;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    daemon_proc d = daemon_up((const char *const[]){"--log-level", "warn", NULL});
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0); /* the daemon keeps its 48 */
    enum { N = 80 };
    int fds[N];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < N; i++) { /* idle connections: more than the daemon has descriptors */
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&a, sizeof a) == 0);
    }
    usleep(500000);
    long t0 = process_cpu_ticks(d.pid);
    usleep(2000000);
    long used = process_cpu_ticks(d.pid) - t0;
    if (used > 20) /* 20 ticks = 0.2 s of CPU in 2 s: not spinning on accept */
        FAIL("the daemon used %ld ticks of CPU in 2 s while out of descriptors", used);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* recovers as soon as descriptors are free */
    long status = 0;
    for (int tries = 0; tries < 50 && status != 200; tries++) {
        http_response r = http_request_may_fail(d.port, "GET", "/healthz", NULL, NULL, 0);
        status = r.status;
        http_response_free(&r);
        if (status != 200)
            usleep(100000);
    }
    CHECK_INT_EQ(status, 200);
    char *log = daemon_log(&d);
    int complaints = 0;
    for (const char *p = log; (p = strstr(p, "Too many open files")); p++)
        complaints++;
    if (complaints > 5) /* logged once per episode, not per attempt */
        FAIL("%d log lines about descriptors:\n%s", complaints, log);
    free(log);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

static long resident_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

TEST_WITH_TIMEOUT(out_of_memory_for_one_request_answers_503_and_serves_on_without_leaking, 60)
{
    if (strstr(build_dir(), "asan"))
        SKIP("the allocation-failing shim replaces malloc, which AddressSanitizer owns in this build");
    char flag[300], shim[300];
    char *cwd = getcwd(NULL, 0);
    snprintf(flag, sizeof flag, "%s/%s/oom-%d.on", cwd, build_dir(), (int)getpid());
    snprintf(shim, sizeof shim, "%s/%s/libctoom.so", cwd, build_dir());
    free(cwd);
    CHECK(access(shim, R_OK) == 0);
    setenv("LD_PRELOAD", shim, 1);
    setenv("CT_FAULT_FLAG", flag, 1);
    setenv("CT_FAULT_MALLOC_OVER", "8388608", 1); /* 8 MiB and more fail */
    daemon_proc d = daemon_up(NULL);
    unsetenv("LD_PRELOAD");
    const char *const json[] = {"Content-Type: application/json", NULL};
    /* weight [1, 16, 8, 8], stride 8: a 128 x 128 input makes 16 channels of 1024 x 1024,
     * 64 MiB of output, from 64 KiB of input */
    put_ones_layer(d.port, "big", 1, 16, 8, ", \"stride\": 8");
    http_response r;
    const char *const raw[] = {"Content-Type: application/octet-stream", "X-Tensor-Shape: 1,1,128,128", "Accept: application/octet-stream", NULL};
    float *x = calloc(128 * 128, sizeof(float));
    r = http_request(d.port, "POST", "/v1/layers/big/convtranspose", raw, x, 128 * 128 * sizeof(float));
    CHECK_INT_EQ(r.status, 200); /* memory is there: it computes */
    CHECK_INT_EQ(r.len, 16 * 1024 * 1024 * 4);
    http_response_free(&r);
    FILE *f = fopen(flag, "w");
    CHECK(f != NULL);
    fclose(f);
    long before = 0;
    for (int i = 0; i < 25; i++) {
        if (i == 5) /* after a few rounds have warmed every path up */
            before = resident_kib(d.pid);
        r = http_request(d.port, "POST", "/v1/layers/big/convtranspose", raw, x, 128 * 128 * sizeof(float));
        if (r.status != 503 || !strstr(r.body, "out_of_memory"))
            FAIL("with large allocations failing: %ld %s", r.status, r.body);
        http_response_free(&r);
        /* and small requests are served meanwhile */
        const char seed[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"stride\":2}";
        r = http_request(d.port, "POST", "/convtranspose", json, seed, strlen(seed));
        CHECK_INT_EQ(r.status, 200);
        CHECK_CONTAINS(r.body, "\"data\":[1,10,2,20]");
        http_response_free(&r);
    }
    long after = resident_kib(d.pid);
    if (after > before + before / 20)
        FAIL("resident memory grew from %ld to %ld KiB over 20 failed requests", before, after);
    CHECK(before > 0);
    unlink(flag);
    r = http_request(d.port, "POST", "/v1/layers/big/convtranspose", raw, x, 128 * 128 * sizeof(float));
    CHECK_INT_EQ(r.status, 200); /* recovered */
    http_response_free(&r);
    free(x);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST_WITH_TIMEOUT(slow_readers_pin_no_worker_nor_memory_past_the_budget_and_are_dropped, 60)
{
    daemon_proc d = daemon_up((const char *const[]){"--timeout", "2", "--max-memory", "256M", NULL});
    const char *const json[] = {"Content-Type: application/json", NULL};
    put_ones_layer(d.port, "wide", 1, 16, 8, ", \"stride\": 8");
    http_response r;
    /* 200 clients ask for 4 MiB answers (32 x 32 in, 16 x 256 x 256 out) and never read */
    enum { N = 200 };
    static int fds[N];
    static char req[8192];
    int hl = snprintf(req, sizeof req, "POST /v1/layers/wide/convtranspose HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                                       "X-Tensor-Shape: 1,1,32,32\r\nAccept: application/octet-stream\r\nContent-Length: 4096\r\n\r\n");
    memset(req + hl, 0, 4096);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        int small = 4096;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        CHECK(connect(fds[i], (struct sockaddr *)&a, sizeof a) == 0);
        CHECK(write(fds[i], req, (size_t)hl + 4096) == hl + 4096);
    }
    usleep(300000);
    /* ordinary clients are answered at once meanwhile */
    const char seed[] = "{\"input\":[[1,2]],\"weight\":[[[1,10]]],\"stride\":2}";
    for (int i = 0; i < 10; i++) {
        double t0 = monotonic_seconds();
        r = http_request(d.port, "POST", "/convtranspose", json, seed, strlen(seed));
        double took = monotonic_seconds() - t0;
        CHECK_INT_EQ(r.status, 200);
        CHECK_CONTAINS(r.body, "\"data\":[1,10,2,20]");
        http_response_free(&r);
        if (took > 1.0)
            FAIL("an ordinary request took %.2f s while 200 clients did not read", took);
    }
    r = http_request(d.port, "GET", "/metrics", NULL, NULL, 0);
    double busy = metric_value(r.body, "convtransposed_workers_busy"), used = metric_value(r.body, "convtransposed_memory_budget_used_bytes");
    http_response_free(&r);
    CHECK(busy == 0);                         /* answers wait in the sockets, not in workers */
    CHECK(used > 0 && used <= 256.0 * (1 << 20)); /* held, but within --max-memory */
    /* past --timeout the readers are dropped and everything is given back */
    double deadline = monotonic_seconds() + 10, in_flight = -1;
    while (monotonic_seconds() < deadline) {
        r = http_request(d.port, "GET", "/metrics", NULL, NULL, 0);
        used = metric_value(r.body, "convtransposed_memory_budget_used_bytes");
        in_flight = metric_value(r.body, "convtransposed_requests_in_flight");
        http_response_free(&r);
        if (used == 0 && in_flight <= 1) /* this request itself */
            break;
        usleep(200000);
    }
    if (used != 0 || in_flight > 1)
        FAIL("10 s after they stopped reading: %.0f bytes of budget and %.0f requests still held", used, in_flight);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

typedef struct timed_post {
    int port;
    const char *timeout_ms; /* X-Request-Timeout-Ms, or NULL for the default */
    long status;
    char body[256];
} timed_post;

static void *post_layer_run(void *arg)
{
    timed_post *p = arg;
    char h[64];
    snprintf(h, sizeof h, "X-Request-Timeout-Ms: %s", p->timeout_ms ? p->timeout_ms : "0");
    const char *const with[] = {"Content-Type: application/json", h, NULL};
    const char *const without[] = {"Content-Type: application/json", NULL};
    const char body[] = "{\"input\": [[[1, 2, 3]]]}";
    http_response r = http_request(p->port, "POST", "/v1/layers/small/convtranspose", p->timeout_ms ? with : without, body, strlen(body));
    p->status = r.status;
    snprintf(p->body, sizeof p->body, "%s", r.body);
    http_response_free(&r);
    return NULL;
}

static void *post_heavy_run(void *arg)
{
    int port = *(int *)arg;
    size_t bytes = 4 * 64 * 64 * 64 * sizeof(float);
    float *x = calloc(1, bytes);
    const char *const raw[] = {"Content-Type: application/octet-stream", "X-Tensor-Shape: 4,64,64,64", "Accept: application/octet-stream", NULL};
    http_response r = http_request(port, "POST", "/v1/layers/heavy/convtranspose", raw, x, bytes);
    CHECK_INT_EQ(r.status, 200); /* started before the stop: computed */
    http_response_free(&r);
    free(x);
    return NULL;
}

TEST_WITH_TIMEOUT(a_stopped_daemon_answers_504_for_queued_requests_past_their_deadline_and_serves_the_rest, 60)
{
    daemon_proc d = daemon_up((const char *const[]){"--workers", "1", "--threads", "1", NULL});
    const char *const json[] = {"Content-Type: application/json", NULL};
    http_response r = http_request(d.port, "PUT", "/v1/layers/small", json, "{\"weight\": [[[1, 1]]]}", 22);
    CHECK_INT_EQ(r.status, 201);
    http_response_free(&r);
    /* the one worker busy with a heavy run (4 x 64 x 64 x 64 through a 16 x 16 kernel, 34
     * GFLOP: a few tenths of a second) ... */
    put_ones_layer(d.port, "heavy", 64, 64, 16, ", \"padding\": 7");
    pthread_t heavy;
    CHECK(pthread_create(&heavy, NULL, post_heavy_run, &d.port) == 0);
    usleep(50000);
    /* ... six requests queue behind it: four with a 2 s deadline, two with the default
     * (60 s); then the daemon is stopped for 4 s */
    enum { N = 6 };
    timed_post posts[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        posts[i] = (timed_post){d.port, i < 4 ? "2000" : NULL, 0, ""};
        CHECK(pthread_create(&th[i], NULL, post_layer_run, &posts[i]) == 0);
    }
    usleep(100000);
    kill(d.pid, SIGSTOP);
    usleep(4000000);
    kill(d.pid, SIGCONT);
    pthread_join(heavy, NULL);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        if (i < 4 && (posts[i].status != 504 || !strstr(posts[i].body, "deadline_exceeded")))
            FAIL("request %d (2 s deadline, 4 s stopped): %ld %s", i, posts[i].status, posts[i].body);
        if (i >= 4 && (posts[i].status != 200 || !strstr(posts[i].body, "\"data\":[1,3,5,3]")))
            FAIL("request %d (default deadline): %ld %s", i, posts[i].status, posts[i].body);
    }
    r = http_request(d.port, "GET", "/metrics", NULL, NULL, 0);
    CHECK_CONTAINS(r.body, "convtransposed_requests_cancelled_total{reason=\"deadline\"} 4\n"); /* and no more */
    http_response_free(&r);
    /* a deadline far enough away is served; a malformed one is a 400 */
    timed_post ok = {d.port, "5000", 0, ""};
    post_layer_run(&ok);
    CHECK_INT_EQ(ok.status, 200);
    /* the protocol's own deadline, parameters.timeout in microseconds */
    const char oip[] = "{\"parameters\": {\"timeout\": 1}, \"inputs\": [{\"name\": \"input\", \"shape\": [1, 1, 1], \"datatype\": \"FP32\", \"data\": [1]}]}";
    r = http_request(d.port, "POST", "/v2/models/small/infer", json, oip, strlen(oip));
    CHECK_INT_EQ(r.status, 504);
    CHECK(strncmp(r.body, "{\"error\":\"request: its deadline passed", 38) == 0);
    http_response_free(&r);
    const char *const bad[] = {"Content-Type: application/json", "X-Request-Timeout-Ms: soon", NULL};
    r = http_request(d.port, "POST", "/v1/layers/small/convtranspose", bad, "{\"input\": [[[1]]]}", 18);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body, "X-Request-Timeout-Ms");
    http_response_free(&r);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
