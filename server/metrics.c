/* metrics.c - Prometheus text exposition of the daemon's metrics (names convtransposed_*). */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "server.h"

static const int codes[CT_METRIC_CODES] = {200, 201, 204, 400, 401, 404, 405, 411, 413, 415, 500, 503, 0};
static const double bounds[CT_METRIC_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static int code_slot(int status)
{
    for (int i = 0; codes[i]; i++)
        if (codes[i] == status)
            return i;
    return 12; /* other */
}

void ct_histogram_observe(ct_histogram *h, double seconds)
{
    int b = 0;
    while (b < CT_METRIC_BUCKETS - 1 && seconds > bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (long long)(seconds * 1e9), memory_order_relaxed);
}

void ct_metrics_request(ct_metrics *m, ct_route_id route, int status, size_t in, size_t out, double seconds)
{
    atomic_fetch_add_explicit(&m->requests[route][code_slot(status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes_in, (long long)in, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes_out, (long long)out, memory_order_relaxed);
    ct_histogram_observe(&m->duration, seconds);
}

static void emit(ct_buffer *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        ct_buffer_append(b, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
}

static void write_histogram(ct_buffer *b, const char *name, const char *help, ct_histogram *h)
{
    emit(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    long long cumulative = 0;
    for (int i = 0; i < CT_METRIC_BUCKETS - 1; i++) {
        cumulative += atomic_load(&h->buckets[i]);
        emit(b, "%s_bucket{le=\"%g\"} %lld\n", name, bounds[i], cumulative);
    }
    cumulative += atomic_load(&h->buckets[CT_METRIC_BUCKETS - 1]);
    emit(b, "%s_bucket{le=\"+Inf\"} %lld\n%s_sum %.9f\n%s_count %lld\n", name, cumulative, name,
         (double)atomic_load(&h->sum_ns) * 1e-9, name, atomic_load(&h->count));
}

static long process_rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

static int process_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n - 3; /* ., .. and the directory's own fd */
}

int ct_metrics_write(ct_server *srv, ct_buffer *b)
{
    ct_metrics *m = &srv->metrics;
    emit(b, "# HELP convtransposed_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE convtransposed_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++) {
        const char *label = r == ROUTE_NONE ? ct_route_unknown.label : NULL;
        for (int i = 0; i < ct_route_count && !label; i++)
            if ((int)ct_routes[i].id == r)
                label = ct_routes[i].label;
        for (int c = 0; c < CT_METRIC_CODES; c++) {
            long long v = atomic_load(&m->requests[r][c]);
            char status[8] = "other";
            if (c != 12)
                snprintf(status, sizeof status, "%d", codes[c]);
            if (v)
                emit(b, "convtransposed_requests_total{route=\"%s\",status=\"%s\"} %lld\n", label, status, v);
        }
    }
    write_histogram(b, "convtransposed_request_duration_seconds", "Time from a request's first byte to its response.", &m->duration);
    write_histogram(b, "convtransposed_queue_wait_seconds", "Time compute requests waited for a worker.", &m->queue_wait);
    write_histogram(b, "convtransposed_compute_seconds", "Time a worker spent on a request (parse, compute, encode).", &m->compute);
    int queued, running;
    ct_pool_counts(srv->pool, &queued, &running);
    emit(b, "# HELP convtransposed_requests_in_flight Requests received and not yet answered.\n# TYPE convtransposed_requests_in_flight gauge\n"
            "convtransposed_requests_in_flight %d\n", atomic_load(&srv->inflight));
    emit(b, "# HELP convtransposed_requests_cancelled_total Requests stopped or never computed: deadline passed, or client hung up.\n"
            "# TYPE convtransposed_requests_cancelled_total counter\n"
            "convtransposed_requests_cancelled_total{reason=\"deadline\"} %lld\n"
            "convtransposed_requests_cancelled_total{reason=\"client_gone\"} %lld\n",
         (long long)atomic_load(&m->cancelled_deadline), (long long)atomic_load(&m->cancelled_client_gone));
    emit(b, "# HELP convtransposed_queue_depth Compute requests waiting for a worker.\n# TYPE convtransposed_queue_depth gauge\n"
            "convtransposed_queue_depth %d\n", queued);
    emit(b, "# HELP convtransposed_workers_busy Workers computing.\n# TYPE convtransposed_workers_busy gauge\nconvtransposed_workers_busy %d\n",
         running);
    emit(b, "# HELP convtransposed_received_bytes_total Request body bytes received.\n# TYPE convtransposed_received_bytes_total counter\n"
            "convtransposed_received_bytes_total %lld\n", atomic_load(&m->bytes_in));
    emit(b, "# HELP convtransposed_sent_bytes_total Response body bytes sent.\n# TYPE convtransposed_sent_bytes_total counter\n"
            "convtransposed_sent_bytes_total %lld\n", atomic_load(&m->bytes_out));
    emit(b, "# HELP convtransposed_memory_budget_used_bytes Bytes reserved by requests in flight (--max-memory).\n"
            "# TYPE convtransposed_memory_budget_used_bytes gauge\nconvtransposed_memory_budget_used_bytes %lld\n",
         (long long)atomic_load(&srv->budget.used));
    emit(b, "# HELP convtransposed_layer_inferences_total Runs of a registered layer, by result.\n"
            "# TYPE convtransposed_layer_inferences_total counter\n");
    char **names;
    int n;
    if (ct_registry_names(&srv->registry, 0, &names, &n) == 0) {
        struct exec_line {
            char name[CT_LAYER_NAME_MAX + 1];
            long long count;
        } *executions = calloc((size_t)n + 1, sizeof *executions);
        int nexec = 0;
        for (int i = 0; i < n; i++) {
            ct_layer *l = ct_registry_get(&srv->registry, names[i]);
            if (!l)
                continue;
            emit(b, "convtransposed_layer_inferences_total{layer=\"%s\",result=\"success\"} %lld\n", l->name, atomic_load(&l->success));
            emit(b, "convtransposed_layer_inferences_total{layer=\"%s\",result=\"failure\"} %lld\n", l->name, atomic_load(&l->failure));
            if (executions) {
                snprintf(executions[nexec].name, sizeof executions[nexec].name, "%s", l->name);
                executions[nexec++].count = atomic_load(&l->success) + atomic_load(&l->failure);
            }
            ct_layer_release(l);
        }
        emit(b, "# HELP convtransposed_layer_executions_total Plan executions of a registered layer (one per inference: no batching).\n"
                "# TYPE convtransposed_layer_executions_total counter\n");
        for (int i = 0; i < nexec; i++)
            emit(b, "convtransposed_layer_executions_total{layer=\"%s\"} %lld\n", executions[i].name, executions[i].count);
        free(executions);
        ct_names_free(names, n);
    }
    emit(b, "# HELP convtransposed_process_resident_memory_bytes Resident memory of the process.\n"
            "# TYPE convtransposed_process_resident_memory_bytes gauge\nconvtransposed_process_resident_memory_bytes %ld\n",
         process_rss_bytes());
    emit(b, "# HELP convtransposed_process_open_fds Open file descriptors of the process.\n"
            "# TYPE convtransposed_process_open_fds gauge\nconvtransposed_process_open_fds %d\n", process_fds());
    return 0;
}
