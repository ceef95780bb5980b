/* job.c - the worker side of every request that computes: decompressing the body within
 * the memory budget, queueing with the connection suspended, the deadline checked when the
 * job starts, the --max-memory reservation for what a run will hold, the compute threads a
 * large run borrows, and resuming the connection with the stored response. */
#include <microhttpd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "request.h"
#include "stream.h"

#define SMALL_JOB_FLOPS 2e7        /* below this a request computes on one thread */
#define SMALL_JOB_ELEMENTS CT_JSON_PARALLEL_MIN /* ... and reads its input and encodes its result on one thread */

int ct_http_decode_body(http_request *r, ct_api_error *err)
{
    if (ct_decode_body(r->content_encoding, &r->body, (size_t)r->srv->cfg.max_body, err) != 0)
        return -1;
    /* a decompressed body holds more than arrived: the difference is budgeted too */
    int64_t grow = (int64_t)r->body.len - r->mem_reserved;
    if (grow > 0) {
        if (ct_budget_reserve(&r->srv->budget, grow) != 0) {
            ct_buffer_free(&r->body);
            r->retry_after = 1;
            return ct_api_fail(err, 503, "memory_budget_exhausted",
                               "the memory budget for requests in flight (--max-memory) is in use; retry later");
        }
        r->mem_reserved += grow;
    }
    return 0;
}

void ct_http_job_done(http_request *r)
{
    ct_watchdog_remove(r->srv->watchdog, &r->watch); /* before the resume: r may be freed then */
    ct_http_encode_result(r);
    ct_histogram_observe(&r->srv->metrics.queue_wait, r->job.started_at - r->job.queued_at);
    ct_histogram_observe(&r->srv->metrics.compute, ct_now() - r->job.started_at);
    ct_stream *stream = r->result_stream ? ct_stream_ref(r->result_stream) : NULL;
    atomic_store(&r->result_ready, 1);
    MHD_resume_connection(r->conn);
    if (stream) { /* the answer's head leaves now; its numbers as this worker writes them */
        ct_stream_produce(stream);
        ct_stream_release(stream);
    }
}

/* The 504 of a request whose deadline passed, `when` (before it was computed, or while it
 * was), counted in the metrics. */
static void deadline_error(http_request *r, const char *when, ct_api_error *err)
{
    ct_api_fail(err, 504, "deadline_exceeded", "request: its deadline passed after %.0f ms, %s (X-Request-Timeout-Ms, "
                "OIP parameters.timeout, or --request-timeout)", (r->deadline - r->start) * 1e3, when);
    atomic_fetch_add(&r->srv->metrics.cancelled_deadline, 1);
}

/* What a request whose client hung up is answered (nobody reads it), counted. */
static void client_gone_error(http_request *r, ct_api_error *err)
{
    ct_api_fail(err, 499, "client_closed_request", "request: the client closed the connection before the answer");
    atomic_fetch_add(&r->srv->metrics.cancelled_client_gone, 1);
}

int ct_http_deadline_passed(http_request *r, ct_api_error *err)
{
    if (r->deadline <= 0 || ct_now() <= r->deadline)
        return 0;
    deadline_error(r, "before it was computed", err);
    return 1;
}

int ct_http_layer_loading(const http_request *r)
{
    return !r->layer && atomic_load(&r->srv->warming) && ct_registry_on_disk(&r->srv->registry, r->name);
}

void ct_http_shorten_deadline(http_request *r, double deadline)
{
    if (r->deadline > 0 && deadline >= r->deadline)
        return;
    r->deadline = deadline;
    ct_watchdog_set_deadline(r->srv->watchdog, &r->watch, deadline);
}

/* Answers a job that will not be computed (queue full, deadline passed) with err, frees
 * what it brought, and resumes its connection. */
static void finish_unrun(http_request *r, const ct_api_error *err)
{
    r->job.started_at = ct_now(); /* its wait ends here */
    ct_http_store_error(r, err);
    ct_buffer_free(&r->body);
    if (r->parsed)
        ct_request_free(&r->req);
    r->parsed = 0;
    ct_http_job_done(r);
}

/* Every job starts here: one whose deadline passed while it waited (a long queue, a stopped
 * process) is answered 504 and not computed. Deadlines are on the monotonic clock, so a
 * wall-clock jump moves none of them. */
static void run_unless_expired(ct_job *job, int nthreads)
{
    http_request *r = (http_request *)job;
    ct_api_error err;
    if (__atomic_load_n(&r->watch.reason, __ATOMIC_RELAXED) == CT_WATCH_CLIENT_GONE) {
        client_gone_error(r, &err);
        finish_unrun(r, &err);
        return;
    }
    if (!ct_http_deadline_passed(r, &err)) {
        r->run_job(job, nthreads);
        return;
    }
    finish_unrun(r, &err);
}

enum MHD_Result ct_http_submit(http_request *r, void (*run)(ct_job *, int))
{
    r->run_job = run;
    r->job.run = run_unless_expired;
    r->job.max_threads = 1;
    /* Suspend before queueing: the worker may resume as soon as it is queued. */
    MHD_suspend_connection(r->conn);
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->watch = (ct_watch){.job = &r->job, .deadline = r->deadline, .fd = info ? info->connect_fd : -1};
    ct_watchdog_add(r->srv->watchdog, &r->watch);
    if (ct_pool_submit(r->srv->pool, &r->job) != 0) {
        ct_api_error err;
        ct_api_fail(&err, 503, "queue_full", "the request queue is full (%lld waiting); retry later", (long long)r->srv->cfg.queue);
        finish_unrun(r, &err);
    }
    return MHD_YES;
}

double ct_layer_flops(const ct_shape *input, const ct_shape *weight)
{
    double flops = 2.0 * (double)ct_shape_elements(input);
    for (int i = 1; i < weight->rank; i++)
        flops *= (double)weight->dims[i];
    return flops;
}

int ct_http_borrow_threads(http_request *r, const ct_shape *input, const ct_shape *weight, int64_t out_elements, int nthreads)
{
    if (ct_layer_flops(input, weight) <= SMALL_JOB_FLOPS && ct_shape_elements(input) <= SMALL_JOB_ELEMENTS &&
        out_elements <= SMALL_JOB_ELEMENTS)
        return 0;
    return ct_pool_borrow(r->srv->pool, (int)r->srv->cfg.threads - nthreads);
}

/* Bytes a request needs beyond its body while it computes: the input, the output and its
 * encoding, the zero-bordered input copy and, unless the plan exists already, the packed
 * weights (an upper estimate). */
static int64_t working_memory(const ct_shape *weight, const ct_shape *input, int64_t out_elements, int packs_weights)
{
    double bytes = 4.0 * (double)ct_shape_elements(input) * 2 + (packs_weights ? 8.0 * (double)ct_shape_elements(weight) : 0);
    bytes += 4.0 * 6 * (double)out_elements; /* floats, then up to ~20 bytes of JSON each */
    return bytes > 9e18 ? INT64_MAX : (int64_t)bytes;
}

int ct_http_reserve_work(http_request *r, const ct_shape *weight, const ct_shape *input, int64_t out_elements, int packs_weights,
                         ct_api_error *err)
{
    ct_server *srv = r->srv;
    int64_t need = working_memory(weight, input, out_elements, packs_weights);
    if (need > srv->cfg.max_memory)
        return ct_api_fail(err, 413, "memory_limit", "request: computing it needs about %lld bytes, more than --max-memory (%lld)",
                           (long long)need, (long long)srv->cfg.max_memory);
    if (ct_budget_reserve(&srv->budget, need) != 0) {
        r->retry_after = 1;
        return ct_api_fail(err, 503, "memory_budget_exhausted", "the memory budget for requests in flight (--max-memory) is in use; retry later");
    }
    r->mem_reserved += need; /* released when the request completes */
    return 0;
}

void ct_http_watch_expired(ct_watch *w, void *ctx)
{
    (void)ctx;
    http_request *r = (http_request *)((char *)w - offsetof(http_request, watch));
    ct_api_error err;
    if (w->reason == CT_WATCH_DEADLINE)
        deadline_error(r, "before it was computed", &err);
    else
        client_gone_error(r, &err);
    finish_unrun(r, &err);
}

/* The output's dtype: X-Output-Dtype when the request gives one, else the input's (a float64
 * input is answered in float32, as it is computed). 0, or -1 (415) for a dtype not served. */
static int output_dtype(const http_request *r, ct_dtype input, ct_dtype *out, ct_api_error *err)
{
    *out = input == CT_DTYPE_FLOAT64 ? CT_DTYPE_FLOAT32 : input;
    if (r->output_dtype && (ct_dtype_from_name(r->output_dtype, out) != 0 || *out == CT_DTYPE_FLOAT64))
        return ct_api_fail(err, 415, "unsupported_dtype", "X-Output-Dtype: '%.32s' is not served; ask for float32, float16 or bfloat16",
                           r->output_dtype);
    return 0;
}

int ct_job_execute(http_request *r, ct_run *run, int nthreads, ct_api_error *err)
{
    ct_dtype dtype;
    if (output_dtype(r, run->plan ? run->input.dtype : run->req->input.dtype, &dtype, err) != 0)
        return -1;
    if (run->plan && ct_plan_weight_storage(run->plan) != CT_WEIGHTS_FLOAT32 && run->input.dtype == CT_DTYPE_FLOAT64)
        return ct_api_fail(err, 415, "unsupported_dtype", "input: '%s' is not served by this layer, which keeps 16-bit weights; send float32, "
                           "float16 or bfloat16", ct_dtype_name(run->input.dtype));
    const ct_params *params = run->plan ? ct_plan_params(run->plan) : &run->req->params;
    const ct_shape *weight = run->plan ? ct_plan_weight_shape(run->plan) : &run->req->weight.shape;
    const ct_shape *input = run->plan ? &run->input.shape : &run->req->input.shape;
    run->borrowed = 0;
    run->threads = nthreads;
    /* the output's size, when the layer is valid for this input (the run says why if not) */
    char msg[8];
    ct_shape out;
    const int64_t out_elements = ct_output_shape(params, weight, input, &out, msg, sizeof msg) == CT_OK ? ct_shape_elements(&out) : 0;
    if (ct_http_reserve_work(r, weight, input, out_elements, run->plan == NULL, err) != 0)
        return -1;
    run->borrowed = ct_http_borrow_threads(r, input, weight, out_elements, nthreads);
    run->threads = nthreads + run->borrowed;
    const int *cancel = &r->watch.cancel;
    int rc = run->plan ? ct_api_execute_plan(run->plan, &run->input, run->threads, cancel, &run->output, err)
                       : ct_api_execute(run->req, run->threads, cancel, &run->output, err);
    if (rc == 0) {
        run->output.dtype = dtype;
        ct_f32_round_to(dtype, run->output.data, ct_shape_elements(&run->output.shape));
    }
    if (rc != 0 && strcmp(err->code, "cancelled") == 0) { /* the watchdog stopped it: say why */
        if (__atomic_load_n(&r->watch.reason, __ATOMIC_RELAXED) == CT_WATCH_CLIENT_GONE)
            client_gone_error(r, err);
        else
            deadline_error(r, "while it was computed", err);
    }
    return rc;
}

void ct_job_end_run(http_request *r, ct_run *run)
{
    ct_pool_return(r->srv->pool, run->borrowed);
    run->borrowed = 0;
    ct_tensor_free(&run->output);
}

void ct_job_count(ct_layer *stats, const ct_job *job, double t0, int ok)
{
    long long ns = (long long)((ct_now() - t0) * 1e9);
    atomic_fetch_add(&stats->queue_ns, (long long)((job->started_at - job->queued_at) * 1e9));
    atomic_fetch_add(&stats->compute_ns, ns);
    atomic_fetch_add(ok ? &stats->success : &stats->failure, 1);
    atomic_fetch_add(ok ? &stats->success_ns : &stats->failure_ns, ns);
    atomic_store(&stats->last_inference_ms, (long long)ct_wall_ms());
}
