/* test_layers.c - registered layers over HTTP: register, use (JSON, .npy, raw, multipart),
 * describe, replace, delete; persisted across restarts; a SIGKILL during a PUT leaves the
 * layer whole or absent; names outside [A-Za-z0-9][A-Za-z0-9_.-]{0,63} refused; a run in
 * flight finishes on the plan it started with when the layer is replaced. */
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "http_client.h"
#include "test.h"

static const char *const JSON[] = {"Content-Type: application/json", NULL};
static const char LAYER[] = "{\"weight\":{\"shape\":[2,2,3,3],\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},\"groups\":2}";
static const char INPUT[] = "{\"input\":{\"shape\":[1,2,3,3],\"data\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}}";
static const char OUT[] =
    "{\"shape\":[1,4,5,5],\"dtype\":\"float32\",\"data\":["
    "0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,"
    "9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17,9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17]}";

static void make_dir(char *dir)
{
    CHECK(mkdtemp(dir) != NULL);
}

/* A new --model-dir (dir, a mkdtemp template) holding LAYER as `name`, PUT by a daemon
 * that is stopped again. */
static void make_store(char *dir, const char *name)
{
    make_dir(dir);
    daemon_proc d;
    daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
    char path[96];
    snprintf(path, sizeof path, "/v1/layers/%s", name);
    expect_response(d.port, "PUT", path, JSON, LAYER, strlen(LAYER), 201, NULL);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

static void remove_dir(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

TEST(layers_register_use_replace_delete_and_restart)
{
    char dir[] = "/tmp/ct-models-XXXXXX";
    make_dir(dir);
    daemon_proc d;
    daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
    expect_response(d.port, "GET", "/v1/layers/seed", NULL, NULL, 0, 404, "\"not_found\"");
    expect_response(d.port, "PUT", "/v1/layers/seed", JSON, LAYER, strlen(LAYER), 201, "\"sha256\": \"a7942a89cf64580e599b37094919a9f0379c99dece7f1be35fdf2ac8bc58993e\"");
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose", JSON, INPUT, strlen(INPUT), 200, OUT);
    expect_response(d.port, "GET", "/v1/layers/seed", NULL, NULL, 0, 200, "\"weight_shape\": [2, 2, 3, 3]");
    expect_response(d.port, "GET", "/v1/layers", NULL, NULL, 0, 200, "\"name\": \"seed\"");
    /* the same layer's input as .npy, raw float32, multipart */
    float x[18];
    for (int i = 0; i < 18; i++)
        x[i] = (float)i;
    ct_shape xs = {4, {1, 2, 3, 3}};
    ct_buffer npy = {0};
    ct_npy_write(&xs, x, &npy);
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose", (const char *const[]){"Content-Type: application/x-npy", NULL}, npy.data, npy.len, 200, OUT);
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose",
           (const char *const[]){"Content-Type: application/octet-stream", "X-Tensor-Shape: 1,2,3,3", NULL}, (const char *)x, sizeof x, 200, OUT);
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose",
           (const char *const[]){"Content-Type: application/octet-stream", "X-Tensor-Shape: 1,2,3,4", NULL}, (const char *)x, sizeof x, 400,
           "X-Tensor-Shape declares 24 float32");
    ct_buffer form = {0};
    const char head[] = "--B\r\nContent-Disposition: form-data; name=\"input\"; filename=\"x.npy\"\r\n\r\n";
    ct_buffer_append(&form, head, sizeof head - 1);
    ct_buffer_append(&form, npy.data, npy.len);
    ct_buffer_append(&form, "\r\n--B--\r\n", 9);
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose", (const char *const[]){"Content-Type: multipart/form-data; boundary=B", NULL},
           form.data, form.len, 200, OUT);
    ct_buffer_free(&form);
    ct_buffer_free(&npy);
    /* a weight-only request is refused on the run route, an input on registration */
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose", JSON, LAYER, strlen(LAYER), 400, "weight: unknown field");
    const char with_input[] = "{\"input\":[[1]],\"weight\":[[[1]]]}";
    expect_response(d.port, "PUT", "/v1/layers/other", JSON, with_input, strlen(with_input), 400, "input: not allowed here");
    /* replace: 200, new weights (2 instead of 1) double every output */
    const char twice[] = "{\"weight\":{\"shape\":[2,2,3,3],\"data\":[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]},\"groups\":2}";
    expect_response(d.port, "PUT", "/v1/layers/seed", JSON, twice, strlen(twice), 200, "\"name\": \"seed\"");
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose", JSON, INPUT, strlen(INPUT), 200, "\"data\":[0,2,6,6,4,6,16,30,24,14");
    /* restart: the layer comes back from --model-dir with the same answers */
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose", JSON, INPUT, strlen(INPUT), 200, "\"data\":[0,2,6,6,4,6,16,30,24,14");
    /* delete: 204, then gone, also after a restart */
    expect_response(d.port, "DELETE", "/v1/layers/seed", NULL, NULL, 0, 204, NULL);
    expect_response(d.port, "DELETE", "/v1/layers/seed", NULL, NULL, 0, 404, NULL);
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose", JSON, INPUT, strlen(INPUT), 404, "no such layer");
    CHECK_INT_EQ(daemon_stop(&d), 0);
    daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
    expect_response(d.port, "GET", "/v1/layers", NULL, NULL, 0, 200, "{\"layers\": []}");
    CHECK_INT_EQ(daemon_stop(&d), 0);
    remove_dir(dir);
}

TEST(layer_names_are_checked)
{
    daemon_proc d;
    daemon_start(&d, NULL);
    static const char *const bad[] = {"/v1/layers/.hidden", "/v1/layers/..", "/v1/layers/-x", "/v1/layers/a%2Fb", "/v1/layers/a%20b",
                                      "/v1/layers/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_response r = http_request(d.port, "PUT", bad[i], JSON, LAYER, strlen(LAYER));
        if (r.status != 400 && r.status != 404)
            FAIL("PUT %s: status %ld", bad[i], r.status);
        http_response_free(&r);
    }
    expect_response(d.port, "PUT", "/v1/layers/ok_name-1.v2", JSON, LAYER, strlen(LAYER), 201, NULL);
    expect_response(d.port, "PUT", "/v1/layers/x.y", JSON, "{\"weight\":[[1]]}", 16, 400, "invalid_rank");
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* Counts entries of dir (not . and ..). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

typedef struct put_args {
    int port;
    const char *body;
    size_t len;
} put_args;

static size_t drop(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static void *put_big(void *arg)
{
    put_args *a = arg;
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/layers/big", a->port);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, a->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop);
    curl_easy_perform(c); /* the server dies under it: any outcome */
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return NULL;
}

TEST_WITH_TIMEOUT(sigkill_during_put_leaves_the_layer_whole_or_absent, 120)
{
    char dir[] = "/tmp/ct-models-XXXXXX";
    make_dir(dir);
    /* 256 x 256 x 8 x 8 weights: a ~12 MB JSON body, 16 MB on disk */
    size_t n = 256 * 256 * 64, len = 0;
    char *body = malloc(n * 2 + 128);
    len += (size_t)sprintf(body, "{\"weight\":{\"shape\":[256,256,8,8],\"data\":[");
    for (size_t i = 0; i < n; i++) {
        body[len++] = i % 3 ? '1' : '2';
        body[len++] = ',';
    }
    len--;
    len += (size_t)sprintf(body + len, "]}}");
    for (int attempt = 0; attempt < 6; attempt++) {
        daemon_proc d;
        daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
        if (attempt % 2 == 1) /* half the rounds replace an existing layer */
            expect_response(d.port, "PUT", "/v1/layers/big", JSON, LAYER, strlen(LAYER), attempt == 1 ? 201 : 200, NULL);
        put_args a = {d.port, body, len};
        pthread_t t;
        pthread_create(&t, NULL, put_big, &a);
        static const useconds_t delays[6] = {80000, 160000, 320000, 640000, 1000000, 1500000};
        usleep(delays[attempt]); /* kill at a different stage each time: before and after the commit */
        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        pthread_join(t, NULL);
        unlink(d.log_path);
        daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
        http_response r = http_request(d.port, "GET", "/v1/layers/big", NULL, NULL, 0);
        printf("  kill %d: layer %s\n", attempt, r.status != 200 ? "absent" : strstr(r.body, "256, 256") ? "new" : "old");
        if (r.status == 200) {
            /* whole: the old small layer or the new big one, never something else */
            CHECK(strstr(r.body, "\"weight_shape\": [256, 256, 8, 8]") || strstr(r.body, "\"weight_shape\": [2, 2, 3, 3]"));
        } else {
            CHECK_INT_EQ(r.status, 404);
            CHECK(attempt % 2 == 0); /* a layer that existed before cannot vanish */
        }
        http_response_free(&r);
        CHECK_INT_EQ(daemon_stop(&d), 0);
        /* nothing but complete layers (a symlink and its folder) is left */
        CHECK(entries(dir) <= 2);
    }
    free(body);
    remove_dir(dir);
}

typedef struct run_args {
    int port;
    ct_buffer *body;
    http_response out;
} run_args;

static void *run_slow(void *arg)
{
    run_args *a = arg;
    a->out = http_request(a->port, "POST", "/v1/layers/slow/convtranspose", (const char *const[]){"Content-Type: application/x-npy", NULL},
                          a->body->data, a->body->len);
    return NULL;
}

static void npy_ones(ct_buffer *b, ct_shape s, float v)
{
    int64_t n = ct_shape_elements(&s);
    float *d = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        d[i] = v;
    ct_npy_write(&s, d, b);
    free(d);
}

TEST_WITH_TIMEOUT(a_run_in_flight_finishes_on_its_plan_when_the_layer_is_replaced, 120)
{
    daemon_proc d;
    daemon_start(&d, (const char *const[]){"--threads", "1", NULL});
    ct_buffer w = {0}, form = {0}, x = {0};
    npy_ones(&w, (ct_shape){4, {512, 512, 4, 4}}, 1.0f);
    const char head[] = "--B\r\nContent-Disposition: form-data; name=\"weight\"; filename=\"w.npy\"\r\n\r\n";
    const char config[] = "\r\n--B\r\nContent-Disposition: form-data; name=\"config\"\r\n\r\n{\"stride\": 2, \"padding\": 1}\r\n--B--\r\n";
    ct_buffer_append(&form, head, sizeof head - 1);
    ct_buffer_append(&form, w.data, w.len);
    ct_buffer_append(&form, config, sizeof config - 1);
    const char *const multipart[] = {"Content-Type: multipart/form-data; boundary=B", NULL};
    expect_response(d.port, "PUT", "/v1/layers/slow", multipart, form.data, form.len, 201, NULL);
    npy_ones(&x, (ct_shape){4, {1, 512, 32, 32}}, 1.0f);
    run_args a = {d.port, &x, {0}};
    pthread_t t;
    pthread_create(&t, NULL, run_slow, &a);
    usleep(30000);
    /* replace it while it runs: a different layer under the same name */
    expect_response(d.port, "PUT", "/v1/layers/slow", JSON, LAYER, strlen(LAYER), 200, "\"weight_shape\": [2, 2, 3, 3]");
    pthread_join(t, NULL);
    CHECK_INT_EQ(a.out.status, 200);
    /* answered by the old plan: 512 channels, 4 taps of weight 1 at every interior output */
    CHECK_CONTAINS(a.out.body, "\"shape\":[1,512,64,64]");
    CHECK_CONTAINS(a.out.body, ",2048,2048,");
    http_response_free(&a.out);
    expect_response(d.port, "POST", "/v1/layers/slow/convtranspose", JSON, INPUT, strlen(INPUT), 200, OUT); /* and new runs see the new one */
    ct_buffer_free(&w);
    ct_buffer_free(&form);
    ct_buffer_free(&x);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

/* A corrupt entry in --model-dir is logged and skipped, never fatal; the repository
 * extension's load reads a layer from the folder (after an unload kept its files). */
TEST(corrupt_model_dir_entry_is_skipped_and_repository_load_reads_the_folder)
{
    char dir[] = "/tmp/ct-models-XXXXXX";
    make_store(dir, "good");
    daemon_proc d;
    /* a layer folder whose weight.npy is garbage */
    char path[256];
    snprintf(path, sizeof path, "%s/.broken.1", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/.broken.1/weight.npy", dir);
    FILE *f = fopen(path, "w");
    fputs("not a numpy file", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/broken", dir);
    CHECK(symlink(".broken.1", path) == 0);
    daemon_start(&d, (const char *const[]){"--model-dir", dir, NULL});
    expect_response(d.port, "POST", "/v1/layers/good/convtranspose", JSON, INPUT, strlen(INPUT), 200, OUT);
    expect_response(d.port, "GET", "/v1/layers/broken", NULL, NULL, 0, 404, NULL);
    char *log = daemon_log(&d);
    CHECK_CONTAINS(log, "skipping layer broken");
    free(log);
    /* unload keeps the files; load brings the layer back */
    expect_response(d.port, "POST", "/v2/repository/models/good/unload", JSON, "{}", 2, 200, NULL);
    expect_response(d.port, "POST", "/v1/layers/good/convtranspose", JSON, INPUT, strlen(INPUT), 404, NULL);
    expect_response(d.port, "POST", "/v2/repository/index", JSON, "{}", 2, 200, "{\"name\":\"good\",\"version\":\"1\",\"state\":\"UNAVAILABLE\"}");
    expect_response(d.port, "POST", "/v2/repository/models/good/load", JSON, "{}", 2, 200, NULL);
    expect_response(d.port, "POST", "/v1/layers/good/convtranspose", JSON, INPUT, strlen(INPUT), 200, OUT);
    expect_response(d.port, "POST", "/v2/repository/models/broken/load", JSON, "{}", 2, 400, "weight.npy");
    CHECK_INT_EQ(daemon_stop(&d), 0);
    remove_dir(dir);
}

/* A store laid out as KServe's storage initializer (or a ConfigMap, or `cp -rL`) leaves it:
 * plain folders NAME/{config.json,weight.npy}, no symlinks. Each is loaded before ready,
 * served, and its owner's: a PUT or DELETE of it is refused with 409 and changes nothing,
 * in memory or on disk. */
TEST(plain_folders_of_a_copied_store_are_served_and_kept_as_provided)
{
    char ours[] = "/tmp/ct-models-XXXXXX", copied[] = "/tmp/ct-provided-XXXXXX";
    make_store(ours, "seed");
    make_dir(copied);
    daemon_proc d;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cp -rL %s/seed %s/ && test ! -L %s/seed && test -f %s/seed/weight.npy", ours, copied, copied, copied);
    CHECK(system(cmd) == 0);

    daemon_start(&d, (const char *const[]){"--model-dir", copied, NULL}); /* returns once /readyz is 200 */
    expect_response(d.port, "GET", "/v2/models/seed/ready", NULL, NULL, 0, 200, NULL);
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose", JSON, INPUT, strlen(INPUT), 200, OUT);
    expect_response(d.port, "PUT", "/v1/layers/seed", JSON, LAYER, strlen(LAYER), 409, "\"layer_provided\"");
    expect_response(d.port, "DELETE", "/v1/layers/seed", NULL, NULL, 0, 409, "cannot be deleted through the API");
    expect_response(d.port, "POST", "/v1/layers/seed/convtranspose", JSON, INPUT, strlen(INPUT), 200, OUT);
    expect_response(d.port, "PUT", "/v1/layers/other", JSON, LAYER, strlen(LAYER), 201, NULL); /* the folder takes new ones */
    CHECK_INT_EQ(daemon_stop(&d), 0);
    snprintf(cmd, sizeof cmd, "test -d %s/seed && test ! -L %s/seed && test -L %s/other", copied, copied, copied);
    CHECK(system(cmd) == 0);
    remove_dir(ours);
    remove_dir(copied);
}
