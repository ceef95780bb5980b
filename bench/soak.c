/* soak.c - the soak test: CONCURRENCY requests in flight against a running daemon for
 * SECONDS, a mix of valid (every answer checked exactly), invalid and oversize requests;
 * samples the daemon's RSS and open fds from /proc. Reports RSS after the first minute and
 * at the end, fds before and after, status counts; exits 1 when a valid answer was wrong,
 * a 5xx other than 503 appeared, RSS grew by more than 10% after the first minute, or fds
 * did not return to their baseline.
 *   ctsoak --port PORT --pid PID [--seconds 300] [--concurrency 64]
 * (the daemon should run with --max-body 1M so that the oversize requests are refused) */
#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum kind { VALID_SEED, VALID_LAYER, BAD_JSON, BAD_PARAMS, OVERSIZE, KINDS };
static const char *const kind_names[KINDS] = {"valid seed", "valid 16->8 layer", "invalid JSON", "invalid stride", "oversize body"};

typedef struct slot {
    CURL *curl;
    enum kind kind;
    char *body;
    size_t len, cap;
} slot;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static int open_fds(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n - 2;
}

static size_t collect(char *p, size_t s, size_t n, void *u)
{
    slot *sl = u;
    size_t k = s * n;
    if (sl->len + k + 1 > sl->cap) {
        sl->cap = (sl->len + k + 1) * 2;
        sl->body = realloc(sl->body, sl->cap);
    }
    memcpy(sl->body + sl->len, p, k);
    sl->len += k;
    sl->body[sl->len] = '\0';
    return k;
}

static char *layer_body, *oversize_body;
static size_t layer_len, oversize_len;
static const char seed[] = "{\"input\":{\"shape\":[1,2,3,3],\"data\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]},"
                           "\"weight\":{\"shape\":[2,2,3,3],\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},\"groups\":2}";
static const char seed_out[] = "{\"shape\":[1,4,5,5],\"dtype\":\"float32\",\"data\":[0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,"
                               "0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17,"
                               "9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17]}";
static char *layer_out; /* the first answer; every later one must equal it */

static void start(CURLM *m, slot *s, int port, enum kind k, struct curl_slist *hdr)
{
    static const char bad_json[] = "{\"input\": [[1, 2]], \"weight\": ";
    static const char bad_params[] = "{\"input\":[[1,2]],\"weight\":[[[1,1]]],\"stride\":0}";
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/convtranspose", port);
    s->kind = k;
    s->len = 0;
    curl_easy_reset(s->curl);
    curl_easy_setopt(s->curl, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->curl, CURLOPT_URL, url);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT, 60L);
    const char *body = k == VALID_SEED ? seed : k == VALID_LAYER ? layer_body : k == BAD_JSON ? bad_json : k == BAD_PARAMS ? bad_params : oversize_body;
    size_t len = k == VALID_SEED ? sizeof seed - 1 : k == VALID_LAYER ? layer_len : k == BAD_JSON ? sizeof bad_json - 1
               : k == BAD_PARAMS ? sizeof bad_params - 1 : oversize_len;
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_multi_add_handle(m, s->curl);
}

int main(int argc, char **argv)
{
    int port = 0, pid = 0, seconds = 300, conc = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--pid")) pid = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--concurrency")) conc = atoi(argv[i + 1]);
    }
    if (!port || !pid) {
        fprintf(stderr, "usage: ctsoak --port PORT --pid PID [--seconds S] [--concurrency N]\n");
        return 2;
    }
    /* a 16 -> 8 channel, 8x8 -> 16x16 layer with a deterministic body */
    layer_body = malloc(1 << 20);
    int n = sprintf(layer_body, "{\"stride\":2,\"padding\":1,\"input\":{\"shape\":[1,16,8,8],\"data\":[");
    for (int i = 0; i < 16 * 64; i++)
        n += sprintf(layer_body + n, "%s%d.%d", i ? "," : "", i % 7 - 3, i % 10);
    n += sprintf(layer_body + n, "]},\"weight\":{\"shape\":[16,8,4,4],\"data\":[");
    for (int i = 0; i < 16 * 8 * 16; i++)
        n += sprintf(layer_body + n, "%s%d.25", i ? "," : "", i % 5 - 2);
    n += sprintf(layer_body + n, "]}}");
    layer_len = (size_t)n;
    oversize_len = 2 << 20;
    oversize_body = malloc(oversize_len);
    memset(oversize_body, ' ', oversize_len);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *hdr = curl_slist_append(curl_slist_append(NULL, "Content-Type: application/json"), "Expect:");
    CURLM *m = curl_multi_init();
    slot *slots = calloc((size_t)conc, sizeof *slots);
    long counts[KINDS][6] = {{0}}; /* by kind: 2xx 4xx 503 other-5xx wrong transport-error */
    int fds_before = open_fds(pid);
    long rss_first_minute = -1, rss_peak = 0;
    unsigned next = 0;
    for (int i = 0; i < conc; i++) {
        slots[i].curl = curl_easy_init();
        start(m, &slots[i], port, (enum kind)(next++ % 10 < 5 ? VALID_SEED : next % 10 < 7 ? VALID_LAYER : next % 10 < 8 ? BAD_JSON : next % 10 < 9 ? BAD_PARAMS : OVERSIZE), hdr);
    }
    double t0 = now(), last_sample = t0;
    int running = 1, stopping = 0;
    long done = 0;
    while (running) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            slot *s;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            long status = 0;
            curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(m, s->curl);
            done++;
            int col = msg->data.result != CURLE_OK ? 5 : status / 100 == 2 ? 0 : status / 100 == 4 ? 1 : status == 503 ? 2 : 3;
            if (col == 5 && s->kind == OVERSIZE)
                col = 1; /* the daemon may close an over-limit upload: that is a refusal too */
            if (col == 0 && s->kind == VALID_SEED && strcmp(s->body, seed_out) != 0)
                col = 4;
            if (col == 0 && s->kind == VALID_LAYER) {
                if (!layer_out)
                    layer_out = strdup(s->body);
                else if (strcmp(s->body, layer_out) != 0)
                    col = 4;
            }
            if (col == 0 && s->kind >= BAD_JSON)
                col = 4; /* accepted what must be refused */
            counts[s->kind][col]++;
            if (!stopping) {
                unsigned r = next++ % 10;
                start(m, s, port, r < 5 ? VALID_SEED : r < 7 ? VALID_LAYER : r < 8 ? BAD_JSON : r < 9 ? BAD_PARAMS : OVERSIZE, hdr);
                running = 1;
            }
        }
        double t = now();
        if (t - last_sample >= 1) {
            long rss = rss_kib(pid);
            rss_peak = rss > rss_peak ? rss : rss_peak;
            if (rss_first_minute < 0 && t - t0 >= (seconds >= 120 ? 60 : seconds / 2))
                rss_first_minute = rss;
            last_sample = t;
        }
        if (t - t0 >= seconds)
            stopping = 1;
        if (running)
            curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    /* close our keep-alive connections, then let the daemon notice */
    for (int i = 0; i < conc; i++)
        curl_easy_cleanup(slots[i].curl);
    curl_multi_cleanup(m);
    sleep(2);
    long rss_end = rss_kib(pid);
    int fds_after = open_fds(pid);
    double elapsed = now() - t0;
    int bad = 0;
    printf("soak: %.0f s, %d in flight, %ld requests (%.0f/s)\n", elapsed, conc, done, done / elapsed);
    for (int k = 0; k < KINDS; k++) {
        printf("  %-18s 2xx %7ld  4xx %7ld  503 %5ld  other 5xx %ld  wrong %ld  transport errors %ld\n", kind_names[k], counts[k][0],
               counts[k][1], counts[k][2], counts[k][3], counts[k][4], counts[k][5]);
        bad |= counts[k][3] > 0 || counts[k][4] > 0 || counts[k][5] > 0;
    }
    printf("  RSS after the first minute %ld KiB, peak %ld KiB, end %ld KiB (%+.1f%%)\n", rss_first_minute, rss_peak, rss_end,
           100.0 * (rss_end - rss_first_minute) / (double)rss_first_minute);
    printf("  open fds before %d, after %d\n", fds_before, fds_after);
    bad |= rss_end > rss_first_minute * 11 / 10;
    bad |= fds_after > fds_before;
    printf("%s\n", bad ? "soak FAILED" : "soak passed");
    return bad;
}
