/* convtranspose.c - POST /convtranspose: a whole layer and its input in one request (JSON or
 * multipart .npy parts). Small bodies are parsed on the HTTP thread, and a request so small
 * that a hand-off would cost more than the work is computed there too; the rest are jobs. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"

#define INLINE_PARSE_BODY 8192     /* bodies up to this size are parsed on the HTTP thread */
/* Parsed requests at most this large (output elements, FLOPs, weight elements: the plan is
 * built there too) are computed on the HTTP thread. */
#define INLINE_OUTPUT_ELEMENTS 16384
#define INLINE_FLOPS 4e6
#define INLINE_WEIGHT_ELEMENTS 65536

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

/* Computes and encodes a parsed request into the stored response. */
static void compute_request(http_request *r, int nthreads)
{
    ct_api_error err;
    ct_run run = {.req = &r->req};
    int rc = ct_job_execute(r, &run, nthreads, &err);
    ct_request_free(&r->req); /* before encoding: the output is all that is needed now */
    r->parsed = 0;
    if (rc == 0)
        rc = ct_http_store_tensor(r, &run.output, run.threads, &err);
    ct_job_end_run(r, &run);
    if (rc != 0)
        ct_http_store_error(r, &err);
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
    return ct_shape_elements(&out) <= INLINE_OUTPUT_ELEMENTS && ct_layer_flops(&req->input.shape, &req->weight.shape) <= INLINE_FLOPS &&
           ct_shape_elements(&req->weight.shape) <= INLINE_WEIGHT_ELEMENTS;
}

enum MHD_Result ct_handle_convtranspose(http_request *r)
{
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
}
