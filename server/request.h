/* request.h - one HTTP request's state and the helpers the route handlers share: responses
 * (reply.c) and jobs (job.c). http.c speaks the libmicrohttpd protocol; handlers/ hold the
 * routes. */
#ifndef CT_SERVER_REQUEST_H
#define CT_SERVER_REQUEST_H

#include <microhttpd.h>

#include "registry.h"
#include "routes.h"
#include "server.h"

typedef struct http_request {
    ct_job job;                 /* first member: the pool hands it back */
    ct_server *srv;
    struct MHD_Connection *conn;
    const ct_route *route;
    char name[CT_LAYER_NAME_MAX + 1];   /* {name} of the path, when the route has one */
    char version[16];                   /* {version}, when given */
    ct_layer *layer;                    /* held from dispatch to completion */
    char method[16];
    char path[256];
    const char *content_type;   /* MHD's own strings: valid until the request completes */
    const char *accept;
    const char *tensor_shape;   /* X-Tensor-Shape, for raw bodies */
    const char *tensor_dtype;   /* X-Tensor-Dtype, of a raw body (float32 when absent) */
    const char *output_dtype;   /* X-Output-Dtype: the dtype asked for the output (else the input's) */
    const char *inference_header; /* Inference-Header-Content-Length (binary tensor extension) */
    const char *content_encoding; /* of the request body */
    const char *accept_encoding;
    ct_buffer body;
    int body_too_large;
    ct_request req;             /* parsed on the HTTP thread when the body was small */
    int parsed;
    int responded;
    int status;
    size_t bytes_in, bytes_out;
    double start;
    /* Set by the worker before it resumes the connection. */
    atomic_int result_ready;
    int result_status;
    ct_pieces result;           /* the body as it was made (head, JSON slices, the tensor itself), sent without a joined copy */
    struct ct_stream *result_stream; /* or a large JSON answer formatted while it is sent (stream.h) */
    const char *result_type;
    const char *result_header;  /* an extra response header's name (X-Tensor-Shape, ...) */
    const char *result_dtype;   /* X-Tensor-Dtype of a tensor response (a static string) */
    int result_encoded;         /* Accept-Encoding was applied to the result (by the worker) */
    const char *result_coding;  /* ... and this Content-Encoding came of it (NULL: identity) */
    char result_header_value[160];
    int retry_after;
    const char *origin;         /* the Origin header, for CORS */
    char request_id[129];       /* X-Request-Id: the client's when well-formed, else ours */
    double deadline;            /* monotonic seconds (ct_now); 0 = none */
    void (*run_job)(ct_job *, int); /* what the worker runs if the deadline has not passed */
    char trace_id[33];          /* from a valid W3C traceparent, else "" */
    ct_watch watch;             /* while pooled: its deadline, its socket, its cancel flag */
    int64_t mem_reserved;       /* bytes taken from the memory budget */
    int over_budget;            /* a chunked body outgrew the memory budget */
} http_request;

/* Responses. Each returns MHD's result for the handler to return. */
enum MHD_Result ct_http_send_built(http_request *r, int status, const char *type, struct MHD_Response *resp, size_t len,
                                   const char *extra_name, const char *extra_value);
/* body is malloc'd and taken. */
enum MHD_Result ct_http_send(http_request *r, int status, const char *type, char *body, size_t len,
                             const char *extra_name, const char *extra_value);
/* An error: {"error": {"code", "message"}}, or {"error": "message"} on Open Inference
 * Protocol routes. */
enum MHD_Result ct_http_error(http_request *r, int status, const char *code, const char *message,
                              const char *extra_name, const char *extra_value);
enum MHD_Result ct_http_json(http_request *r, int status, const char *text);
/* An error's body in the route's shape (oip: {"error": "message"}), malloc'd; NULL when out
 * of memory. */
char *ct_http_error_body(int oip, const char *code, const char *message, size_t *len);
/* The response a job stored (ct_http_store_*), once the connection is resumed. */
enum MHD_Result ct_http_send_result(http_request *r);

/* For jobs: store the response to send when the connection resumes. */
void ct_http_store_error(http_request *r, const ct_api_error *err);
/* Encodes out by Accept (JSON, .npy, raw) in out->dtype (its values rounded to it already:
 * ct_job_execute) and stores it; binary answers take out's data. 0 or -1 with err. */
int ct_http_store_tensor(http_request *r, ct_tensor *out, int nthreads, ct_api_error *err);
void ct_http_store_json(http_request *r, int status, ct_buffer *body);

/* Whether the request's deadline has passed; if so, fills err with the 504 deadline_exceeded
 * answer and counts it (the caller stores err and finishes without computing). */
int ct_http_deadline_passed(http_request *r, ct_api_error *err);

/* Reserves, under --max-memory, what computing this layer on this input (out_elements of
 * output) will hold (413 when it alone passes the limit, 503 while the budget is in use); the request releases it when
 * it completes. packs_weights: whether the run builds a plan (the weights are packed). 0 or
 * -1 with err. Every route that computes calls it before computing. */
int ct_http_reserve_work(http_request *r, const ct_shape *weight, const ct_shape *input, int64_t out_elements, int packs_weights,
                         ct_api_error *err);

/* The execute step of every inference (job.c): reserves under --max-memory what the run will
 * hold, borrows idle compute threads for a large one, and runs a registered layer's plan on
 * input (plan set) or a request's own layer on its input (req set). */
typedef struct ct_run {
    const ct_plan *plan;        /* a registered layer's plan, or NULL */
    const ct_request *req;      /* when plan is NULL: the layer and its input (borrowed) */
    ct_tensor input;            /* when plan is set: the input (borrowed) */
    ct_tensor output;           /* the result (owned; ct_job_end_run frees it) */
    int threads;                /* the worker's and the borrowed ones: the encode step's too */
    int borrowed;
} ct_run;
/* 0 with run->output set, or -1 with err. Either way ct_job_end_run ends the run. */
int ct_job_execute(http_request *r, ct_run *run, int nthreads, ct_api_error *err);
/* Gives the borrowed threads back and frees what is left of the output. */
void ct_job_end_run(http_request *r, ct_run *run);
/* Counts one inference of a layer (or the built-in model) in its statistics: its wait in the
 * queue, its time since t0 (ct_now), success or failure. */
void ct_job_count(ct_layer *stats, const ct_job *job, double t0, int ok);

/* Decompresses the body per Content-Encoding (workers call it before parsing). 0 or -1. */
int ct_http_decode_body(http_request *r, ct_api_error *err);

/* Queues job on the pool with the connection suspended; answers 503 if the queue is full. */
enum MHD_Result ct_http_submit(http_request *r, void (*run)(ct_job *, int));
/* Ends a job: marks the stored response ready and resumes the connection. */
void ct_http_job_done(http_request *r);
/* The watchdog's callback (daemon.c installs it): answers a request taken off the queue
 * because its deadline passed (504) or its client hung up. */
void ct_http_watch_expired(ct_watch *w, void *ctx);
/* Whether the layer the request names is not loaded yet but on its way: the daemon is still
 * warming up and --model-dir holds it (answer 503 loading with Retry-After, not 404). */
int ct_http_layer_loading(const http_request *r);

/* Sets the request's deadline to `deadline` if that is earlier (or it had none). */
void ct_http_shorten_deadline(http_request *r, double deadline);

/* Compute threads to add to a worker's own for a layer of this input, weight and output
 * size: large layers, and small ones with a large result to encode, borrow the idle ones;
 * small ones none. Give them back with ct_pool_return. */
int ct_http_borrow_threads(http_request *r, const ct_shape *input, const ct_shape *weight, int64_t out_elements, int nthreads);

int ct_http_is_multipart(const char *type);
int ct_http_is_json(const char *type);
int ct_http_accepts(const char *accept, const char *type);

/* Stores a 200 JSON answer to be sent while it is written (stream.h): head (taken), out's
 * numbers (out->data taken), then tail, compressed as Accept-Encoding asks. 0, or -1 (out of
 * memory; nothing taken but head's pieces) to answer it whole instead. */
int ct_http_store_stream(http_request *r, ct_pieces *head, ct_tensor *out, const char *tail);
/* Stores a response made of pieces (taken): JSON, or a JSON head then a tensor's bytes. */
void ct_http_store_pieces(http_request *r, int status, const char *type, ct_pieces *body);
/* Appends a tensor's bytes (taken) to a list of pieces, as a piece of its own. 0 or -1. */
int ct_pieces_take_tensor(ct_pieces *p, float *tensor, size_t bytes);

/* The response a job stored, with Accept-Encoding applied (workers call it through
 * ct_http_job_done; ct_http_send_result for a result computed on the HTTP thread). */
void ct_http_encode_result(http_request *r);

/* Nominal FLOPs of a layer with this input and weight ([C_in, C_out/groups, *kernel]). */
double ct_layer_flops(const ct_shape *input, const ct_shape *weight);

/* libmicrohttpd's callbacks (http.c), which daemon.c installs. */
enum MHD_Result ct_http_handle_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                       const char *version, const char *upload_data, size_t *upload_size, void **req_cls);
void ct_http_request_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe);
size_t ct_http_unescape_path(void *cls, struct MHD_Connection *conn, char *s);
void ct_http_log_mhd_error(void *cls, const char *fmt, va_list ap);

#endif /* CT_SERVER_REQUEST_H */
