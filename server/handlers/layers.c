/* layers.c - the /v1/layers routes: register a layer once (PUT: weights parsed, plan
 * built and packed, written to --model-dir), list, describe, delete, and run it on inputs
 * alone. Registration and runs are worker jobs; the rest is answered on the HTTP thread. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers.h"

static enum MHD_Result respond_buffer(http_request *r, int status, ct_buffer *b)
{
    return ct_http_send(r, status, "application/json", b->data, b->len, NULL, NULL);
}

static void run_put(ct_job *job, int nthreads)
{
    (void)nthreads;
    http_request *r = (http_request *)job;
    ct_server *srv = r->srv;
    ct_request req;
    ct_api_error err;
    int replaced = 0;
    ct_layer *l = NULL;
    int rc = ct_http_decode_body(r, &err);
    if (rc == 0)
        rc = ct_http_is_multipart(r->content_type)
                 ? ct_form_parse_request(r->content_type, r->body.data, r->body.len, &srv->limits, 0, &req, &err)
                 : ct_json_parse_request(r->body.data, r->body.len, &srv->limits, 0, &req, &err);
    ct_buffer_free(&r->body);
    if (rc == 0) {
        rc = ct_registry_put(&srv->registry, r->name, &req, &replaced, &l, &err); /* l: the layer this PUT made */
        ct_request_free(&req);
    }
    ct_buffer b = {0};
    if (l && ct_layer_describe(l, &b) == 0)
        ct_http_store_json(r, replaced ? 200 : 201, &b);
    else if (rc == 0)
        ct_api_fail(&err, 503, "out_of_memory", "out of memory"), ct_http_store_error(r, &err);
    else
        ct_http_store_error(r, &err);
    ct_buffer_free(&b);
    ct_layer_release(l);
    ct_http_job_done(r);
}

/* The input of a layer run, by Content-Type: JSON {"input": T}, .npy, raw float32 with
 * X-Tensor-Shape, or a multipart part "input". */
static int parse_input(http_request *r, ct_tensor *input, ct_api_error *err)
{
    const ct_api_limits *limits = &r->srv->limits;
    const char *type = r->content_type;
    if (type && strncasecmp(type, "application/x-npy", 17) == 0)
        return ct_npy_parse(r->body.data, r->body.len, limits, "input", input, err);
    if (type && strncasecmp(type, "application/octet-stream", 24) == 0)
        return ct_raw_take_tensor(&r->body, r->tensor_shape, r->tensor_dtype, limits, "input", input, err);
    if (ct_http_is_multipart(type)) {
        ct_part parts[8];
        int n;
        if (ct_multipart_parse(type, r->body.data, r->body.len, parts, 8, &n, err) != 0)
            return -1;
        for (int i = 0; i < n; i++)
            if (parts[i].name_len == 5 && memcmp(parts[i].name, "input", 5) == 0)
                return ct_npy_parse(parts[i].data, parts[i].len, limits, "input", input, err);
        return ct_api_fail(err, 400, "missing_field", "input: required part is missing");
    }
    if (ct_http_is_json(type))
        return ct_json_parse_input(r->body.data, r->body.len, limits, input, err);
    return ct_api_fail(err, 415, "unsupported_media_type",
                       "Content-Type: send application/json, application/x-npy, application/octet-stream with X-Tensor-Shape, or multipart/form-data");
}

static void run_layer(ct_job *job, int nthreads)
{
    http_request *r = (http_request *)job;
    ct_run run = {.plan = r->layer->plan};
    ct_api_error err;
    double t0 = ct_now();
    int rc = ct_http_decode_body(r, &err);
    if (rc == 0)
        rc = parse_input(r, &run.input, &err);
    ct_buffer_free(&r->body);
    if (rc == 0)
        rc = ct_job_execute(r, &run, nthreads, &err);
    ct_tensor_free(&run.input);
    if (rc == 0)
        rc = ct_http_store_tensor(r, &run.output, run.threads, &err);
    ct_job_end_run(r, &run);
    ct_job_count(r->layer, job, t0, rc == 0);
    if (rc != 0)
        ct_http_store_error(r, &err);
    ct_http_job_done(r);
}

enum MHD_Result ct_handle_layer_list(http_request *r)
{
    ct_registry *reg = &r->srv->registry;
    ct_buffer b = {0};
    char **names;
    int n;
    if (ct_registry_names(reg, 0, &names, &n) != 0)
        return ct_http_error(r, 503, "out_of_memory", "out of memory", NULL, NULL);
    ct_buffer_append(&b, "{\"layers\": [", 12);
    int written = 0;
    for (int i = 0; i < n; i++) {
        ct_layer *l = ct_registry_get(reg, names[i]);
        if (!l)
            continue; /* deleted meanwhile */
        if (written++)
            ct_buffer_append(&b, ", ", 2);
        ct_layer_describe(l, &b);
        ct_layer_release(l);
    }
    ct_buffer_append(&b, "]}", 2);
    ct_names_free(names, n);
    return respond_buffer(r, 200, &b);
}

/* A 404 for a name no layer can have; a PUT of one is told the naming rule instead. */
static enum MHD_Result refuse_name(http_request *r, int put)
{
    if (put)
        return ct_http_error(r, 400, "invalid_name", "name: a layer name is 1 to 64 of A-Z a-z 0-9 _ . - and starts with a letter or digit", NULL, NULL);
    return ct_http_error(r, 404, "not_found", "no such layer", NULL, NULL);
}

enum MHD_Result ct_handle_layer_run(http_request *r)
{
    if (!ct_layer_name_valid(r->name))
        return refuse_name(r, 0);
    r->layer = ct_registry_get(&r->srv->registry, r->name); /* held until the request completes */
    if (ct_http_layer_loading(r)) {
        r->retry_after = 1;
        return ct_http_error(r, 503, "loading", "layer: it is loading from --model-dir; retry shortly", NULL, NULL);
    }
    if (!r->layer)
        return ct_http_error(r, 404, "not_found", "no such layer; PUT /v1/layers/{name} registers one", NULL, NULL);
    return ct_http_submit(r, run_layer);
}

enum MHD_Result ct_handle_layer(http_request *r)
{
    ct_registry *reg = &r->srv->registry;
    int put = strcmp(r->method, "PUT") == 0;
    if (!ct_layer_name_valid(r->name))
        return refuse_name(r, put);
    if (put) {
        if (!ct_http_is_json(r->content_type) && !ct_http_is_multipart(r->content_type))
            return ct_http_error(r, 415, "unsupported_media_type", "Content-Type: send application/json or multipart/form-data", NULL, NULL);
        return ct_http_submit(r, run_put);
    }
    if (strcmp(r->method, "DELETE") == 0) {
        const int removed = ct_registry_remove(reg, r->name, 1);
        if (removed == -2) {
            ct_api_error err;
            ct_store_provided_error(r->name, "deleted", &err);
            return ct_http_error(r, err.status, err.code, err.message, NULL, NULL);
        }
        if (removed != 0)
            return ct_http_error(r, 404, "not_found", "no such layer", NULL, NULL);
        return ct_http_send(r, 204, "application/json", NULL, 0, NULL, NULL);
    }
    ct_layer *l = ct_registry_get(reg, r->name);
    if (!l)
        return ct_http_error(r, 404, "not_found", "no such layer", NULL, NULL);
    ct_buffer b = {0};
    ct_layer_describe(l, &b);
    ct_layer_release(l);
    return respond_buffer(r, 200, &b);
}
