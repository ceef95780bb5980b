/* payload.c - wire-format throughput for one large tensor (16 MiB of float32 by default):
 * JSON request parse and response encode (api/), .npy parse and write, in process; then,
 * with --port, end-to-end over HTTP against a running daemon: a layer whose compute is
 * negligible (1x1 kernel, one channel) sent as multipart .npy and answered as .npy, raw
 * float32 and JSON, reporting the time beyond compute as bytes moved per second.
 *
 *   ctpayload [--mib N] [--port PORT]  */
#include <curl/curl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct sink {
    size_t len;
} sink;

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    ((sink *)u)->len += s * n;
    return s * n;
}

/* Best of `reps` wall times of one HTTP POST. */
static double post(int port, const char *ctype, const char *accept, const char *body, size_t len, size_t *got, long *status, int reps)
{
    char url[128], h1[160], h2[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/convtranspose", port);
    snprintf(h1, sizeof h1, "Content-Type: %s", ctype);
    snprintf(h2, sizeof h2, "Accept: %s", accept);
    struct curl_slist *h = curl_slist_append(curl_slist_append(curl_slist_append(NULL, h1), h2), "Expect:");
    CURL *c = curl_easy_init();
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        sink s = {0};
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        double t0 = now();
        curl_easy_perform(c);
        double t = now() - t0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        *got = s.len;
        if (t < best)
            best = t;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return best;
}

static void add_part(ct_buffer *b, const char *name, const ct_buffer *npy)
{
    char head[200];
    int n = snprintf(head, sizeof head, "--PAYLOADb\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s.npy\"\r\n\r\n", name, name);
    ct_buffer_append(b, head, (size_t)n);
    ct_buffer_append(b, npy->data, npy->len);
    ct_buffer_append(b, "\r\n", 2);
}

int main(int argc, char **argv)
{
    int mib = 16, port = 0, reps = 5;
    const char *dump = NULL;
    /* the daemon's allocator settings (server/main.c), so compute is timed as it runs there */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--mib") == 0)
            mib = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--dump") == 0)
            dump = argv[i + 1];
    }
    int64_t n = (int64_t)mib * 1024 * 1024 / 4, side = 1;
    while (side * side < n)
        side *= 2;
    n = side * side;
    ct_shape s = {4, {1, 1, side, side}};
    float *x = malloc(sizeof(float) * (size_t)n);
    uint32_t st = 1;
    for (int64_t i = 0; i < n; i++) {
        st = st * 1664525u + 1013904223u;
        x[i] = (float)((int32_t)st) / 2147483648.0f; /* random floats: 8-9 digits each */
    }
    printf("tensor: %lld float32 (%.1f MiB)\n", (long long)n, n * 4.0 / (1 << 20));

    /* JSON encode (the response path) */
    ct_buffer json = {0};
    int64_t nonfinite;
    double t0;
    for (int threads = 1; threads <= 2; threads++) {
        double t_enc = 1e9;
        for (int rep = 0; rep < reps; rep++) { /* best of reps */
            json.len = 0;
            t0 = now();
            ct_json_write_tensor(&s, x, &json, &nonfinite, threads);
            t_enc = now() - t0 < t_enc ? now() - t0 : t_enc;
        }
        printf("json encode, %d thread%s: %.1f MB/s of JSON (%.1f MB in %.3f s)\n", threads, threads > 1 ? "s" : "",
               json.len / t_enc / 1e6, json.len / 1e6, t_enc);
    }

    /* JSON parse (the request path): {"input": <tensor>, "weight": [[[[1]]]]} */
    ct_buffer req = {0};
    ct_buffer_append(&req, "{\"input\":", 9);
    ct_buffer_append(&req, json.data, json.len);
    ct_buffer_append(&req, ",\"weight\":[[[[1]]]]}", 20);
    ct_api_limits limits = {.max_elements = n, .max_output_elements = n, .max_json_depth = 16};
    ct_request r;
    ct_api_error err;
    double t_parse = 1e9;
    for (int rep = 0; rep < reps; rep++) {
        t0 = now();
        if (ct_json_parse_request(req.data, req.len, &limits, 1, &r, &err) != 0) {
            fprintf(stderr, "parse: %s\n", err.message);
            return 1;
        }
        t_parse = now() - t0 < t_parse ? now() - t0 : t_parse;
        if (memcmp(r.input.data, x, sizeof(float) * (size_t)n) != 0) {
            fprintf(stderr, "parse: the values read back differ from those written\n");
            return 1;
        }
        ct_request_free(&r);
    }
    printf("json parse: %.1f MB/s of JSON (%.1f MB in %.3f s)\n", req.len / t_parse / 1e6, req.len / 1e6, t_parse);
    if (dump) { /* the tensor as JSON and as raw float32, for bench/json_anchors */
        char path[512];
        snprintf(path, sizeof path, "%s.json", dump);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(json.data, 1, json.len, f) != json.len || fclose(f) != 0)
            return 1;
        snprintf(path, sizeof path, "%s.f32", dump);
        f = fopen(path, "wb");
        if (!f || fwrite(x, sizeof(float), (size_t)n, f) != (size_t)n || fclose(f) != 0)
            return 1;
    }

    /* .npy */
    ct_buffer npy = {0};
    t0 = now();
    ct_npy_write(&s, x, &npy);
    double t_npyw = now() - t0;
    ct_tensor t;
    t0 = now();
    ct_npy_parse(npy.data, npy.len, &limits, "input", &t, &err);
    double t_npyr = now() - t0;
    printf("npy write: %.2f GB/s, npy parse: %.2f GB/s\n", npy.len / t_npyw / 1e9, npy.len / t_npyr / 1e9);
    ct_tensor_free(&t);

    if (port) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        ct_shape ws = {4, {1, 1, 1, 1}};
        float one = 1.0f;
        ct_buffer wnpy = {0}, body = {0};
        ct_npy_write(&ws, &one, &wnpy);
        add_part(&body, "input", &npy);
        add_part(&body, "weight", &wnpy);
        ct_buffer_append(&body, "--PAYLOADb--\r\n", 14);
        /* compute time of the same layer in process, to subtract */
        ct_request cr = {.input = {s, x}, .weight = {ws, &one}};
        ct_params_init(&cr.params, 2);
        ct_tensor out;
        double t_compute = 1e9;
        for (int i = 0; i < 5; i++) {
            t0 = now();
            ct_api_execute(&cr, 2, NULL, &out, &err);
            double tc = now() - t0;
            t_compute = tc < t_compute ? tc : t_compute;
            ct_tensor_free(&out);
        }
        const char *accepts[] = {"application/x-npy", "application/octet-stream", "application/json"};
        const char *names[] = {".npy", "raw", "JSON"};
        printf("compute alone (1x1 kernel, in process): %.1f ms\n", t_compute * 1e3);
        for (int i = 0; i < 3; i++) {
            size_t got;
            long status;
            double tt = post(port, "multipart/form-data; boundary=PAYLOADb", accepts[i], body.data, body.len, &got, &status, reps);
            double moved = (double)body.len + (double)got;
            printf("http multipart .npy in, %s out: status %ld, %.1f MB in + %.1f MB out in %.1f ms; beyond compute %.2f GB/s\n", names[i],
                   status, body.len / 1e6, got / 1e6, tt * 1e3, moved / (tt - t_compute) / 1e9);
        }
        /* JSON in, npy out */
        size_t got;
        long status;
        double tt = post(port, "application/json", "application/x-npy", req.data, req.len, &got, &status, reps);
        printf("http JSON in (%.1f MB), .npy out: status %ld in %.1f ms\n", req.len / 1e6, status, tt * 1e3);
    }
    return 0;
}
