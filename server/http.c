/* http.c - routing, body limits, response negotiation and the hand-off to the worker pool.
 *
 * libmicrohttpd calls handle_request several times per request (post_example.c protocol):
 * first with no state (allocate it, check the route and Content-Length), then once per body
 * chunk (append, or discard past --max-body), then with no data (dispatch). A compute
 * request is then suspended and queued; the worker stores the response and resumes the
 * connection, and the next call queues it. request_completed frees the state and writes the
 * access log line. */
#include <arpa/inet.h>
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
#include <unistd.h>

#include "docs.h"
#include "encoding.h"
#include "linger.h"
#include "log.h"
#include "request.h"
#include "server.h"


#define SMALL_JOB_FLOPS 2e7        /* below this a request computes on one thread */
#define SMALL_JOB_ELEMENTS 65536   /* ... and encodes its result on one thread */
#define INLINE_PARSE_BODY 8192     /* bodies up to this size are parsed on the HTTP thread */
#define TINY_OUTPUT_ELEMENTS 16384 /* parsed requests this small are computed there too */
#define TINY_FLOPS 4e6
#define TINY_WEIGHT_ELEMENTS 65536
#define LINGER_SECONDS 5.0          /* an answered oversize upload is drained this long... */
#define LINGER_BYTES (64u << 20)    /* ... or this far, then closed */
#define BODY_PREALLOCATE (16 << 20) /* bytes of a declared body allocated before it arrives */




/* Adds our headers to resp and queues it; takes resp. */
enum MHD_Result ct_http_send_built(http_request *r, int status, const char *type, struct MHD_Response *resp, size_t len,
                                            const char *extra_name, const char *extra_value)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (extra_name)
        MHD_add_response_header(resp, extra_name, extra_value);
    if (r->retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    const char *allow_origin = ct_access_cors_origin(&r->srv->access, r->origin);
    if (allow_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", allow_origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Tensor-Shape, Inference-Header-Content-Length, Retry-After, X-Request-Id");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->responded = 1;
    r->status = status;
    r->bytes_out = len;
    return ret;
}

/* Queues body (malloc'd; taken) as the response. */
enum MHD_Result ct_http_send(http_request *r, int status, const char *type, char *body, size_t len,
                                      const char *extra_name, const char *extra_value)
{
    const char *coding = len > 0 ? ct_choose_encoding(r->accept_encoding) : NULL;
    char *packed;
    size_t packed_len;
    if (coding && ct_encode(coding, body, len, &packed, &packed_len) == 0) {
        free(body);
        body = packed;
        len = packed_len;
    } else {
        coding = NULL;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (coding)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, coding);
    return ct_http_send_built(r, status, type, resp, len, extra_name, extra_value);
}

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

/* {"error": {"code": ..., "message": ...}} into a malloc'd string. */
static char *error_body(int oip, const char *code, const char *message, size_t *len)
{
    /* The Open Inference Protocol's clients read "error" as a string; "code" may sit beside it. */
    json_t *root = oip ? json_pack("{s:s,s:s}", "error", message, "code", code)
                       : json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    *len = text ? strlen(text) : 0;
    return text;
}

enum MHD_Result ct_http_error(http_request *r, int status, const char *code, const char *message,
                                     const char *extra_name, const char *extra_value)
{
    size_t len;
    char *body = error_body(r->route && (r->route->flags & CT_ROUTE_OIP), code, message, &len);
    if (!body)
        return MHD_NO;
    ct_log(CT_LOG_DEBUG, "%s %s -> %d %s: %s", r->method, r->path, status, code, message);
    return ct_http_send(r, status, "application/json", body, len, extra_name, extra_value);
}

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

enum MHD_Result ct_http_json(http_request *r, int status, const char *text)
{
    char *body = strdup(text);
    return body ? ct_http_send(r, status, "application/json", body, strlen(body), NULL, NULL) : MHD_NO;
}

/* The result of a job as its HTTP response (error or tensor), stored for the resume. */
void ct_http_store_error(http_request *r, const ct_api_error *err)
{
    size_t len;
    char *body = error_body(r->route && (r->route->flags & CT_ROUTE_OIP), err->code, err->message, &len);
    r->result_status = err->status;
    r->result = (ct_buffer){.data = body, .len = len, .cap = len};
    r->result_type = "application/json";
    if (err->status == 503)
        r->retry_after = 1;
}

void ct_http_store_json(http_request *r, int status, ct_buffer *body)
{
    r->result_status = status;
    r->result = *body;
    r->result_type = "application/json";
    *body = (ct_buffer){0};
}

void ct_http_store_two_part(http_request *r, int status, const char *type, ct_buffer *head, float *tensor, size_t tensor_bytes)
{
    r->result_status = status;
    r->result_type = type;
    r->result = *head;
    *head = (ct_buffer){0};
    r->result_tensor = tensor;
    r->result_tensor_bytes = tensor_bytes;
}

/* Applies Accept-Encoding to the stored result, head and tensor together. Workers do it
 * before they resume the connection: compressing a large answer on the HTTP thread would
 * stall every other connection meanwhile. */
static void encode_result(http_request *r)
{
    r->result_encoded = 1;
    const char *coding = ct_choose_encoding(r->accept_encoding);
    if (!coding || (!r->result.len && !r->result_tensor))
        return;
    if (r->result_tensor) {
        if (ct_buffer_append(&r->result, r->result_tensor, r->result_tensor_bytes) != 0)
            return; /* sent as it is */
        free(r->result_tensor);
        r->result_tensor = NULL;
    }
    char *packed;
    size_t len;
    if (ct_encode(coding, r->result.data, r->result.len, &packed, &len) != 0)
        return;
    ct_buffer_free(&r->result);
    r->result = (ct_buffer){packed, len, len};
    r->result_coding = coding;
}

void ct_http_job_done(http_request *r)
{
    encode_result(r);
    ct_histogram_observe(&r->srv->metrics.queue_wait, r->job.started_at - r->job.queued_at);
    ct_histogram_observe(&r->srv->metrics.compute, ct_now() - r->job.started_at);
    atomic_store(&r->result_ready, 1);
    MHD_resume_connection(r->conn);
}

int ct_http_deadline_passed(http_request *r, ct_api_error *err)
{
    if (r->deadline <= 0 || ct_now() <= r->deadline)
        return 0;
    ct_api_fail(err, 504, "deadline_exceeded", "request: its deadline passed after %.0f ms, before it was computed (X-Request-Timeout-Ms, "
                "OIP parameters.timeout, or --request-timeout)", (r->deadline - r->start) * 1e3);
    atomic_fetch_add(&r->srv->metrics.cancelled_deadline, 1);
    return 1;
}

/* Answers a job that will not be computed (queue full, deadline passed) with err, frees
 * what it brought, and resumes its connection. */
static void finish_unrun(http_request *r, const ct_api_error *err)
{
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
    if (ct_pool_submit(r->srv->pool, &r->job) != 0) {
        ct_api_error err;
        ct_api_fail(&err, 503, "queue_full", "the request queue is full (%lld waiting); retry later", (long long)r->srv->cfg.queue);
        finish_unrun(r, &err);
    }
    return MHD_YES;
}

/* The tensor encodings a client may ask for with Accept, JSON first: the default. */
static const char *const tensor_types[] = {"application/json", "application/x-npy", "application/octet-stream"};

int ct_http_accepts(const char *accept, const char *type)
{
    int i = ct_negotiate(accept, tensor_types, 3);
    return i >= 0 && strcmp(tensor_types[i], type) == 0;
}

/* Encodes the output tensor as the client's Accept asks: .npy, raw float32 or JSON. Binary
 * responses take the tensor itself (out->data is set to NULL) and send it as it is. */
int ct_http_store_tensor(http_request *r, ct_tensor *out, int nthreads, ct_api_error *err)
{
    ct_buffer b = {0};
    int rc = 0;
    size_t bytes = (size_t)ct_shape_bytes(&out->shape, sizeof(float)); /* validated by the plan */
    if (ct_http_accepts(r->accept, "application/x-npy") || ct_http_accepts(r->accept, "application/octet-stream")) {
        if (ct_http_accepts(r->accept, "application/x-npy")) {
            char header[256];
            rc = ct_buffer_append(&b, header, ct_npy_header(&out->shape, header));
            r->result_type = "application/x-npy";
        } else {
            r->result_type = "application/octet-stream";
            size_t used = 0;
            r->result_header = "X-Tensor-Shape";
            for (int i = 0; i < out->shape.rank && used < sizeof r->result_header_value; i++)
                used += (size_t)snprintf(r->result_header_value + used, sizeof r->result_header_value - used, "%s%lld", i ? "," : "",
                                         (long long)out->shape.dims[i]);
        }
        r->result_tensor = out->data;
        r->result_tensor_bytes = bytes;
        out->data = NULL;
    } else {
        int64_t nonfinite;
        rc = ct_json_write_tensor(&out->shape, out->data, &b, &nonfinite, nthreads);
        r->result_type = "application/json";
    }
    if (rc != 0) {
        ct_buffer_free(&b);
        return ct_api_fail(err, 503, "out_of_memory", "output: out of memory while encoding the response");
    }
    r->result_status = 200;
    r->result = b;
    return 0;
}

int ct_http_is_multipart(const char *type)
{
    return type && strncasecmp(type, "multipart/form-data", 19) == 0;
}

/* JSON, also when no Content-Type was sent or when it is curl -d's default
 * (application/x-www-form-urlencoded), which form posts never send to this API. */
int ct_http_is_json(const char *type)
{
    return !type || strncasecmp(type, "application/json", 16) == 0 ||
           strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0;
}

/* Nominal FLOPs of a layer with this input and weight ([C_in, C_out/groups, *kernel]). */
static double layer_flops(const ct_shape *input, const ct_shape *weight)
{
    double flops = 2.0 * (double)ct_shape_elements(input);
    for (int i = 1; i < weight->rank; i++)
        flops *= (double)weight->dims[i];
    return flops;
}

int ct_http_borrow_threads(http_request *r, const ct_shape *input, const ct_shape *weight, int nthreads)
{
    if (layer_flops(input, weight) <= SMALL_JOB_FLOPS && ct_shape_elements(input) <= SMALL_JOB_ELEMENTS)
        return 0;
    return ct_pool_borrow(r->srv->pool, (int)r->srv->cfg.threads - nthreads);
}

static int parse_request(http_request *r, ct_api_error *err)
{
    const ct_api_limits *limits = &r->srv->limits;
    if (ct_http_decode_body(r, err) != 0) {
        ct_buffer_free(&r->body);
        return -1;
    }
    int rc = ct_http_is_multipart(r->content_type) ? ct_form_parse_request(r->content_type, r->body.data, r->body.len, limits, 1, &r->req, err)
                                           : ct_json_parse_request(r->body.data, r->body.len, limits, 1, &r->req, err);
    ct_buffer_free(&r->body);
    r->parsed = rc == 0;
    return rc;
}

/* Bytes a request needs beyond its body while it computes: the input, the output and its
 * encoding, the zero-bordered input copy and, unless the plan exists already, the packed
 * weights (an upper estimate). */
static int64_t working_memory(const ct_params *params, const ct_shape *weight, const ct_shape *input, int packs_weights)
{
    char msg[8];
    ct_shape out;
    double bytes = 4.0 * (double)ct_shape_elements(input) * 2 + (packs_weights ? 8.0 * (double)ct_shape_elements(weight) : 0);
    if (ct_output_shape(params, weight, input, &out, msg, sizeof msg) == CT_OK)
        bytes += 4.0 * 6 * (double)ct_shape_elements(&out); /* floats, then up to ~20 bytes of JSON each */
    return bytes > 9e18 ? INT64_MAX : (int64_t)bytes;
}

int ct_http_reserve_work(http_request *r, const ct_params *params, const ct_shape *weight, const ct_shape *input, int packs_weights,
                         ct_api_error *err)
{
    ct_server *srv = r->srv;
    int64_t need = working_memory(params, weight, input, packs_weights);
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

/* Computes and encodes a parsed request into the stored response. */
static void compute_request(http_request *r, int nthreads)
{
    ct_server *srv = r->srv;
    ct_tensor out = {0};
    ct_api_error err;
    int extra = 0;
    int rc = ct_http_reserve_work(r, &r->req.params, &r->req.weight.shape, &r->req.input.shape, 1, &err);
    if (rc == 0)
        extra = ct_http_borrow_threads(r, &r->req.input.shape, &r->req.weight.shape, nthreads);
    if (rc == 0)
        rc = ct_api_execute(&r->req, nthreads + extra, &out, &err);
    ct_request_free(&r->req);
    r->parsed = 0;
    if (rc == 0)
        rc = ct_http_store_tensor(r, &out, nthreads + extra, &err);
    ct_pool_return(srv->pool, extra);
    if (rc != 0)
        ct_http_store_error(r, &err);
    ct_tensor_free(&out);
}

/* Worker side of POST /convtranspose: parse (unless done), compute, encode, resume. */
static void run_convtranspose(ct_job *job, int nthreads)
{
    http_request *r = (http_request *)job;
    ct_api_error err;
    if (r->parsed || parse_request(r, &err) == 0)
        compute_request(r, nthreads);
    else
        ct_http_store_error(r, &err);
    ct_http_job_done(r);
}

/* Whether a parsed request is so small that handing it to a worker would cost more than
 * computing it here: its output, its FLOPs and its weights (the plan is built here too) are
 * tiny. */
static int is_tiny(const ct_request *req)
{
    char msg[8];
    ct_shape out;
    if (ct_output_shape(&req->params, &req->weight.shape, &req->input.shape, &out, msg, sizeof msg) != CT_OK)
        return 1; /* invalid: the error is cheap to produce here */
    return ct_shape_elements(&out) <= TINY_OUTPUT_ELEMENTS && layer_flops(&req->input.shape, &req->weight.shape) <= TINY_FLOPS &&
           ct_shape_elements(&req->weight.shape) <= TINY_WEIGHT_ELEMENTS;
}

/* What a two-part (head + tensor) response frees when libmicrohttpd is done with it. */
typedef struct two_part_body {
    char *head;
    float *tensor;
} two_part_body;

static void free_two_part_body(void *cls)
{
    two_part_body *b = cls;
    free(b->head);
    free(b->tensor);
    free(b);
}

/* Queues the response a job stored. */
enum MHD_Result ct_http_send_result(http_request *r)
{
    if (!r->result_encoded)
        encode_result(r); /* a tiny result computed on this thread */
    ct_buffer res = r->result;
    r->result = (ct_buffer){0};
    const char *extra = r->result_header;
    if (!r->result_tensor) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(res.len, res.data, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            ct_buffer_free(&res);
            return MHD_NO;
        }
        if (r->result_coding)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, r->result_coding);
        return ct_http_send_built(r, r->result_status, r->result_type, resp, res.len, extra, r->result_header_value);
    }
    two_part_body *body = malloc(sizeof *body);
    struct MHD_IoVec iov[2] = {{res.data, res.len}, {r->result_tensor, r->result_tensor_bytes}};
    struct MHD_Response *resp = body ? MHD_create_response_from_iovec(iov, 2, free_two_part_body, body) : NULL;
    if (!resp) {
        free(body);
        ct_buffer_free(&res);
        return MHD_NO; /* result_tensor is freed with the request */
    }
    *body = (two_part_body){res.data, r->result_tensor};
    r->result_tensor = NULL;
    return ct_http_send_built(r, r->result_status, r->result_type, resp, res.len + r->result_tensor_bytes, extra, r->result_header_value);
}

static enum MHD_Result respond_root(http_request *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return MHD_NO;
    fprintf(f, "{\"name\": \"convtransposed\", \"version\": \"%s\", \"isa\": \"%s\", \"endpoints\": [", CT_VERSION, ct_cpu_isa());
    /* Each route once, its "*" segments named as in its label: {name} or {model}, then {version}. */
    for (int i = 0; i < ct_route_count; i++) {
        const char *label = ct_routes[i].label, *open = strchr(label, '{'), *close = open ? strchr(open, '}') : NULL;
        char path[128];
        size_t n = 0;
        int stars = 0;
        for (const char *p = ct_routes[i].pattern; *p && n + 16 < sizeof path; p++) {
            if (*p != '*') {
                path[n++] = *p;
            } else if (stars++ == 0 && close) {
                memcpy(path + n, open, (size_t)(close - open + 1));
                n += (size_t)(close - open + 1);
            } else {
                memcpy(path + n, "{version}", 9);
                n += 9;
            }
        }
        path[n] = '\0';
        fprintf(f, "%s{\"path\": \"%s\", \"methods\": \"%s\"}", i ? ", " : "", path, ct_routes[i].allow);
    }
    fprintf(f, "], \"settings\": ");
    ct_config_describe(&r->srv->cfg, f);
    fprintf(f, "}");
    fclose(f);
    return ct_http_send(r, 200, "application/json", text, len, NULL, NULL);
}

static enum MHD_Result dispatch(http_request *r)
{
    ct_server *srv = r->srv;
    /* A .npy file sent as JSON (no Content-Type, or curl -d's default) would fail as
     * "invalid JSON"; say what to send instead. */
    if (ct_http_is_json(r->content_type) && r->body.len >= 6 && memcmp(r->body.data, "\x93NUMPY", 6) == 0)
        return ct_http_error(r, 415, "unsupported_media_type",
                             r->route->id == ROUTE_LAYER_RUN ? "body: this is a .npy file; send it with Content-Type: application/x-npy"
                                                             : "body: this is a .npy file; send .npy tensors as multipart/form-data parts (curl -F input=@x.npy -F weight=@w.npy)",
                             NULL, NULL);
    switch (r->route->id) {
    case ROUTE_HEALTHZ:
        return ct_http_json(r, 200, "{\"status\": \"ok\"}");
    case ROUTE_READYZ:
        if (atomic_load(&srv->draining))
            return ct_http_json(r, 503, "{\"status\": \"draining\"}");
        return ct_http_json(r, 200, "{\"status\": \"ready\"}");
    case ROUTE_ROOT:
        return respond_root(r);
    case ROUTE_OPENAPI:
        return ct_docs_send_openapi(r);
    case ROUTE_DOCS:
        return ct_docs_send_page(r);
    case ROUTE_CONVTRANSPOSE:
        if (!ct_http_is_json(r->content_type) && !ct_http_is_multipart(r->content_type)) {
            char msg[300];
            snprintf(msg, sizeof msg, "Content-Type: %.100s is not supported; send application/json or multipart/form-data",
                     r->content_type);
            return ct_http_error(r, 415, "unsupported_media_type", msg, NULL, NULL);
        }
        /* Tiny requests (the common case for small layers) are answered right here: the
         * hand-off to a worker would cost more than the work. */
        if (r->body.len <= INLINE_PARSE_BODY && !r->content_encoding) { /* a compressed body may inflate: worker */
            ct_api_error err;
            if (parse_request(r, &err) != 0)
                return ct_http_error(r, err.status, err.code, err.message, NULL, NULL);
            if (is_tiny(&r->req)) {
                double t0 = ct_now();
                compute_request(r, 1);
                ct_histogram_observe(&r->srv->metrics.queue_wait, 0);
                ct_histogram_observe(&r->srv->metrics.compute, ct_now() - t0);
                return ct_http_send_result(r);
            }
        }
        return ct_http_submit(r, run_convtranspose);
    case ROUTE_METRICS: {
        ct_buffer b = {0};
        ct_metrics_write(srv, &b);
        return ct_http_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL, NULL);
    }
    case ROUTE_LAYERS:
    case ROUTE_LAYER:
    case ROUTE_LAYER_RUN:
        return ct_layers_dispatch(r);
    case ROUTE_V2: case ROUTE_V2_LIVE: case ROUTE_V2_READY: case ROUTE_V2_MODEL: case ROUTE_V2_MODEL_READY:
    case ROUTE_V2_INFER: case ROUTE_V2_STATS: case ROUTE_V2_REPO_INDEX: case ROUTE_V2_REPO_LOAD: case ROUTE_V2_REPO_UNLOAD:
        return ct_oip_dispatch(r);
    case ROUTE_NONE:
    default:
        return ct_http_error(r, 404, "not_found", "no such endpoint", NULL, NULL);
    }
}

/* A body passing --max-body gets its 413 as soon as it passes, on plain TCP: written on the
 * socket, then the socket drained and closed gracefully (linger.c). 1 when answered. */
static int answer_oversize_now(http_request *r, const char *msg)
{
    if (r->srv->tls_cert_pem)
        return 0;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info)
        return 0;
    size_t len;
    char *body = error_body(r->route && (r->route->flags & CT_ROUTE_OIP), "body_too_large", msg, &len);
    int answered = body && ct_linger_respond(info->connect_fd, 413, "Content Too Large", r->request_id, body, len, LINGER_SECONDS, LINGER_BYTES) == 0;
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
static size_t unescape_path(void *cls, struct MHD_Connection *conn, char *s)
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
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) { /* never short for 16 bytes; a counter if it were */
        static atomic_ullong fallback;
        unsigned long long v = atomic_fetch_add(&fallback, 1);
        memcpy(raw, &v, sizeof v);
        memset(raw + sizeof v, 0, sizeof raw - sizeof v);
    }
    for (int i = 0; i < 16; i++)
        snprintf(r->request_id + 2 * i, 3, "%02x", raw[i]);
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

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
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
            /* Under TLS (or past the lingering cap): libmicrohttpd answers only before the
             * body or after all of it. Keep nothing, read on up to a bounded allowance so the
             * client gets its 413, and past that close the connection. */
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

static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    ct_server *srv = cls;
    http_request *r = *req_cls;
    if (!r)
        return;
    ct_metrics_request(&srv->metrics, r->route ? r->route->id : ROUTE_NONE, r->responded ? r->status : 0, r->bytes_in, r->bytes_out,
                       ct_now() - r->start);
    ct_log(CT_LOG_INFO, "access %s %s %d in=%zu out=%zu ms=%.2f id=%s%s%s%s", r->method, r->path, r->responded ? r->status : 0, r->bytes_in,
           r->bytes_out, (ct_now() - r->start) * 1e3, r->request_id, r->trace_id[0] ? " trace=" : "", r->trace_id,
           toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
    ct_buffer_free(&r->body);
    ct_buffer_free(&r->result);
    free(r->result_tensor);
    ct_budget_release(&srv->budget, r->mem_reserved);
    ct_layer_release(r->layer);
    if (r->parsed)
        ct_request_free(&r->req);
    free(r);
    *req_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static void log_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    ct_log(CT_LOG_WARN, "libmicrohttpd: %s", line);
}

static int bind_address(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        *len = sizeof *in4;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof *in6;
        return AF_INET6;
    }
    return -1;
}

/* Reads a whole file into a NUL-terminated malloc'd string. 0 or -1. */
static int read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    ct_buffer b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (ct_buffer_append(&b, chunk, n) != 0)
            break;
    fclose(f);
    if (ct_buffer_append(&b, "", 1) != 0) {
        ct_buffer_free(&b);
        return -1;
    }
    *out = b.data;
    return 0;
}

/* Frees what ct_server_start set up before the daemon (token, TLS material). */
static void release_start_state(ct_server *srv)
{
    ct_registry_close(&srv->registry);
    ct_access_free(&srv->access);
    if (srv->tls_key_pem)
        memset(srv->tls_key_pem, 0, strlen(srv->tls_key_pem));
    free(srv->tls_key_pem);
    free(srv->tls_cert_pem);
    srv->tls_key_pem = srv->tls_cert_pem = NULL;
}

int ct_server_start(ct_server *srv, const ct_config *cfg, char *msg, size_t cap)
{
    memset(srv, 0, sizeof *srv);
    srv->cfg = *cfg;
    srv->limits.max_elements = cfg->max_elements;
    srv->limits.max_output_elements = cfg->max_output_elements;
    srv->limits.max_flops = (double)cfg->max_gflop * 1e9;
    srv->limits.max_json_depth = (int)cfg->max_json_depth;
    struct sockaddr_storage ss;
    socklen_t sslen;
    int family = bind_address(cfg->host, (uint16_t)cfg->port, &ss, &sslen);
    if (family < 0) {
        snprintf(msg, cap, "--host %s: not an IPv4 or IPv6 address", cfg->host);
        return -1;
    }
    srv->budget.limit = cfg->max_memory;
    if (ct_registry_open(&srv->registry, cfg->model_dir, &srv->limits, msg, cap) != 0)
        return -1;
    if (ct_access_init(&srv->access, cfg->auth_token_file, cfg->cors_origin, msg, cap) != 0)
        return -1;
    if (cfg->tls_cert[0] && (read_file(cfg->tls_cert, &srv->tls_cert_pem) != 0 || read_file(cfg->tls_key, &srv->tls_key_pem) != 0)) {
        snprintf(msg, cap, "--tls-cert %s / --tls-key %s: cannot be read", cfg->tls_cert, cfg->tls_key);
        release_start_state(srv);
        return -1;
    }
    if (ct_pool_create((int)cfg->workers, (int)cfg->queue, (int)cfg->threads, &srv->pool) != 0) {
        release_start_state(srv);
        snprintf(msg, cap, "cannot start %lld worker threads", (long long)cfg->workers);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_AUTO;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem options[16];
    int n = 0;
#define OPTION(o, v, p) options[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
    OPTION(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)log_mhd_error, NULL);
    OPTION(MHD_OPTION_SOCK_ADDR, 0, &ss);
    OPTION(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, srv);
    OPTION(MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_path, NULL);
    OPTION(MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout, NULL);
    OPTION(MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections, NULL);
    OPTION(MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip, NULL);
    /* Without --reuse-port a second daemon on a taken port must fail, not share it: the
     * kernel would split the connections between the two. */
    if (cfg->reuse_port)
        OPTION(MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL);
    if (srv->tls_cert_pem) {
        flags |= MHD_USE_TLS;
        OPTION(MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert_pem);
        OPTION(MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key_pem);
    }
    OPTION(MHD_OPTION_END, 0, NULL);
#undef OPTION
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle_request, srv, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!srv->daemon) {
        int taken = errno == EADDRINUSE;
        snprintf(msg, cap, "cannot listen on %s:%lld: %s", cfg->host, (long long)cfg->port,
                 taken ? "the port is in use by another process (stop it, pick another --port, or share it with --reuse-port 1)"
                       : "the address is not available on this machine");
        ct_pool_destroy(srv->pool);
        srv->pool = NULL;
        release_start_state(srv);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    srv->port = (uint16_t)cfg->port;
    if (info && getsockname(info->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                      : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

int ct_server_drain(ct_server *srv, double timeout)
{
    atomic_store(&srv->draining, 1);
    int fd = MHD_quiesce_daemon(srv->daemon); /* stop accepting; the listen socket is ours now */
    if (fd >= 0)
        close(fd);
    double deadline = ct_now() + timeout;
    while (atomic_load(&srv->inflight) > 0 && ct_now() < deadline)
        usleep(10000);
    return atomic_load(&srv->inflight);
}

void ct_server_stop(ct_server *srv)
{
    /* The pool first: its last jobs resume their connections, and MHD must not be stopped
     * with a connection still suspended. */
    ct_pool_destroy(srv->pool);
    srv->pool = NULL;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    release_start_state(srv);
}
