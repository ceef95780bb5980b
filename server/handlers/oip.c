/* oip.c - the Open Inference Protocol routes (KServe v2 / Triton HTTP): server and model
 * metadata and health, infer (JSON and the binary tensor data extension), the model
 * repository extension mapped onto the layer registry, and the statistics extension.
 * Every registered layer is a model with input "input" and output "output"; the built-in
 * model "convtranspose" takes "input", "weight" and optional "bias" and the hyperparameters
 * as request parameters. Errors are {"error": "message"} (request.h's ct_http_error). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oip.h"
#include "handlers.h"
#include "stream.h"

#define BUILTIN "convtranspose"
#define MODEL_VERSION "1"

static enum MHD_Result send_json(http_request *r, int status, json_t *root)
{
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        return MHD_NO;
    return ct_http_send(r, status, "application/json", text, strlen(text), NULL, NULL);
}

/* A dims list for metadata: -1 where the size varies. */
static json_t *dims(int rank, const int64_t *fixed)
{
    json_t *a = json_array();
    for (int i = 0; i < rank; i++)
        json_array_append_new(a, json_integer(fixed ? fixed[i] : -1));
    return a;
}

static json_t *tensor_meta(const char *name, json_t *shape)
{
    return json_pack("{s:s,s:s,s:o}", "name", name, "datatype", "FP32", "shape", shape);
}

static enum MHD_Result model_metadata(http_request *r, ct_layer *l)
{
    json_t *inputs = json_array(), *outputs = json_array();
    if (!l) {
        json_array_append_new(inputs, tensor_meta("input", json_pack("[i]", -1)));
        json_array_append_new(inputs, tensor_meta("weight", json_pack("[i]", -1)));
        json_array_append_new(inputs, tensor_meta("bias", json_pack("[i]", -1)));
        json_array_append_new(outputs, tensor_meta("output", json_pack("[i]", -1)));
    } else {
        int nd = ct_plan_params(l->plan)->spatial_dims;
        int64_t in[CT_MAX_RANK], out[CT_MAX_RANK];
        for (int i = 0; i < nd + 2; i++)
            in[i] = out[i] = -1;
        in[1] = ct_plan_in_channels(l->plan);
        out[1] = ct_plan_out_channels(l->plan);
        json_array_append_new(inputs, tensor_meta("input", dims(nd + 2, in)));
        json_array_append_new(outputs, tensor_meta("output", dims(nd + 2, out)));
    }
    return send_json(r, 200, json_pack("{s:s,s:[s],s:s,s:o,s:o}", "name", l ? l->name : BUILTIN, "versions", MODEL_VERSION, "platform",
                                       "convtransposed", "inputs", inputs, "outputs", outputs));
}

static json_t *stat(long long count, long long ns)
{
    return json_pack("{s:I,s:I}", "count", (json_int_t)count, "ns", (json_int_t)ns);
}

static enum MHD_Result model_stats(http_request *r, const char *name, ct_layer *l)
{
    long long ok = atomic_load(&l->success), bad = atomic_load(&l->failure);
    json_t *inference = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "success", stat(ok, atomic_load(&l->success_ns)), "fail",
                                  stat(bad, atomic_load(&l->failure_ns)), "queue", stat(ok + bad, atomic_load(&l->queue_ns)),
                                  "compute_input", stat(0, 0), "compute_infer", stat(ok, atomic_load(&l->compute_ns)), "compute_output",
                                  stat(0, 0));
    json_t *one = json_pack("{s:s,s:s,s:I,s:I,s:I,s:o}", "name", name, "version", MODEL_VERSION, "last_inference",
                            (json_int_t)atomic_load(&l->last_inference_ms), "inference_count", (json_int_t)ok, "execution_count",
                            (json_int_t)ok, "inference_stats", inference);
    return send_json(r, 200, json_pack("{s:[o]}", "model_stats", one));
}

/* Runs an infer request on a worker. */
/* The decode step: the body (JSON with binary tensors after it, or a raw float32 body when
 * Inference-Header-Content-Length is 0) into req, and the protocol's own deadline. */
static int decode_infer(http_request *r, ct_oip_request *req, ct_api_error *err)
{
    const ct_api_limits *limits = &r->srv->limits;
    long long header_len = -1;
    memset(req, 0, sizeof *req);
    if (ct_http_decode_body(r, err) != 0)
        return -1;
    if (r->inference_header && ct_parse_length_header("Inference-Header-Content-Length", r->inference_header, &header_len, err) != 0)
        return -1;
    if (header_len == 0) {
        /* the raw binary request: the body is the single input's float32, shape in X-Tensor-Shape */
        req->output_requested = 1;
        ct_oip_input *in = &req->inputs[0];
        snprintf(in->name, sizeof in->name, "input");
        snprintf(in->datatype, sizeof in->datatype, "FP32");
        ct_tensor t;
        if (!r->layer)
            return ct_api_fail(err, 400, "invalid_input", "a raw binary request (Inference-Header-Content-Length: 0) needs a model with one input");
        if (ct_raw_take_tensor(&r->body, r->tensor_shape, r->tensor_dtype, limits, "input", &t, err) != 0)
            return -1;
        snprintf(in->datatype, sizeof in->datatype, "%s", ct_dtype_oip_name(t.dtype));
        in->dtype = t.dtype;
        in->shape = t.shape;
        in->data = t.data;
        in->owned = 1;
        req->ninputs = 1;
        return 0;
    }
    if (ct_oip_parse(r->body.data, r->body.len, header_len, limits, req, err) != 0)
        return -1;
    /* the protocol's own deadline: parameters.timeout in microseconds */
    json_t *timeout = req->parameters ? json_object_get(req->parameters, "timeout") : NULL;
    if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) <= 0))
        return ct_api_fail(err, 400, "invalid_parameter", "parameters.timeout: give a positive number of microseconds");
    if (timeout)
        ct_http_shorten_deadline(r, r->start + (double)json_integer_value(timeout) / 1e6);
    return 0;
}

/* The request's tensors bound to the model's inputs: a registered layer takes "input"
 * alone; the built-in model "input", "weight", optionally "bias", and the layer's
 * parameters (into cr, whose tensors are borrowed from req). */
static int bind_inputs(http_request *r, const ct_oip_request *req, ct_run *run, ct_request *cr, ct_api_error *err)
{
    const ct_oip_input *input = ct_oip_find_input(req, "input");
    if (!input) {
        char sent[256] = "";
        for (int i = 0, n = 0; i < req->ninputs && n < (int)sizeof sent - 70; i++)
            n += snprintf(sent + n, sizeof sent - (size_t)n, "%s'%.64s'", i ? ", " : "", req->inputs[i].name);
        return ct_api_fail(err, 400, "invalid_input", "model '%s' needs an input named 'input'%s; the request sent %s", r->layer ? r->layer->name : BUILTIN,
                           r->layer ? "" : " (and 'weight', optionally 'bias')", req->ninputs ? sent : "no inputs");
    }
    if (r->layer) {
        if (req->ninputs != 1)
            return ct_api_fail(err, 400, "invalid_input", "model '%s' has one input, 'input'", r->layer->name);
        run->plan = r->layer->plan;
        run->input = (ct_tensor){input->shape, input->data, input->dtype};
        return 0;
    }
    const ct_oip_input *weight = ct_oip_find_input(req, "weight"), *bias = ct_oip_find_input(req, "bias");
    if (!weight)
        return ct_api_fail(err, 400, "invalid_input", "model 'convtranspose' needs input 'weight'");
    if (weight->shape.rank < 3 || weight->shape.rank > 5)
        return ct_api_fail(err, 400, "invalid_rank", "weight: must have 3, 4 or 5 dims [in_channels, out_channels/groups, *kernel]");
    if (bias && bias->shape.rank != 1)
        return ct_api_fail(err, 400, "bias_shape_mismatch", "bias: must be 1-dimensional");
    cr->input = (ct_tensor){input->shape, input->data, input->dtype};
    cr->weight = (ct_tensor){weight->shape, weight->data, weight->dtype};
    if (bias)
        cr->bias = (ct_tensor){bias->shape, bias->data, bias->dtype};
    ct_params_init(&cr->params, weight->shape.rank - 2);
    if (req->parameters && ct_oip_params(req, weight->shape.rank - 2, &cr->params, err) != 0)
        return -1;
    cr->params.max_output_elements = r->srv->limits.max_output_elements;
    cr->params.max_flops = r->srv->limits.max_flops;
    run->req = cr;
    return 0;
}

/* The encode step: the protocol's JSON response, its output as binary data after it when
 * asked (the tensor sent without a copy). */
static int encode_infer(http_request *r, const ct_oip_request *req, ct_run *run, ct_api_error *err)
{
    ct_pieces json = {0};
    const char *model = r->layer ? r->layer->name : BUILTIN;
    const int64_t numbers = ct_shape_elements(&run->output.shape);
    if (!req->binary_output && req->output_requested && numbers >= CT_STREAM_MIN_NUMBERS &&
        ct_oip_write_response_head(model, MODEL_VERSION, req, &run->output, 0, &json) == 1 &&
        ct_http_store_stream(r, &json, &run->output, CT_OIP_DATA_TAIL) == 0)
        return 0;
    ct_pieces_free(&json);
    int rc = ct_oip_write_response(model, MODEL_VERSION, req, &run->output, req->binary_output, run->threads, &json);
    if (rc == 0 && req->binary_output && req->output_requested) {
        r->result_header = "Inference-Header-Content-Length";
        snprintf(r->result_header_value, sizeof r->result_header_value, "%zu", ct_pieces_len(&json));
        size_t bytes = (size_t)ct_shape_bytes(&run->output.shape, ct_dtype_size(run->output.dtype)); /* validated by the plan */
        ct_f32_to_dtype(run->output.dtype, run->output.data, run->output.data, ct_shape_elements(&run->output.shape));
        if ((rc = ct_pieces_take_tensor(&json, run->output.data, bytes)) == 0) {
            run->output.data = NULL;
            ct_http_store_pieces(r, 200, "application/octet-stream", &json);
        }
    } else if (rc == 0) {
        ct_http_store_pieces(r, 200, "application/json", &json);
    }
    if (rc != 0) {
        ct_pieces_free(&json);
        return ct_api_fail(err, 503, "out_of_memory", "out of memory while encoding the response");
    }
    return 0;
}

static void run_infer(ct_job *job, int nthreads)
{
    http_request *r = (http_request *)job;
    ct_oip_request req;
    ct_request cr = {0};
    ct_run run = {0};
    ct_api_error err;
    double t0 = ct_now();
    int rc = decode_infer(r, &req, &err);
    if (rc == 0 && ct_http_deadline_passed(r, &err))
        rc = -1;
    if (rc == 0)
        rc = bind_inputs(r, &req, &run, &cr, &err);
    if (rc == 0)
        rc = ct_job_execute(r, &run, nthreads, &err);
    if (rc == 0)
        rc = encode_infer(r, &req, &run, &err);
    ct_job_end_run(r, &run);
    ct_oip_request_free(&req);
    ct_buffer_free(&r->body);
    ct_job_count(r->layer ? r->layer : &r->srv->builtin_stats, job, t0, rc == 0);
    if (rc != 0)
        ct_http_store_error(r, &err);
    ct_http_job_done(r);
}

/* The repository index; a body {"ready": true} asks for the models ready to serve only. */
/* POST /v2/repository/models/{m}/load, on a worker: reading a layer from disk and building
 * its plan is work the HTTP thread must not do (it would stall every other connection,
 * health probes included). */
static void run_repository_load(ct_job *job, int nthreads)
{
    (void)nthreads;
    http_request *r = (http_request *)job;
    ct_api_error err;
    if (ct_registry_load(&r->srv->registry, r->name, &err) != 0) {
        if (err.status != 404 && err.status != 503)
            err.status = 400;
        ct_http_store_error(r, &err);
    } else {
        ct_buffer b = {0};
        ct_buffer_append(&b, "{}", 2);
        ct_http_store_json(r, 200, &b);
    }
    ct_http_job_done(r);
}

enum MHD_Result ct_handle_v2_repository_index(http_request *r)
{
    char **names;
    int n;
    int ready_only = 0;
    if (r->body.len) {
        json_error_t jerr;
        json_t *body = json_loadb(r->body.data, r->body.len, 0, &jerr);
        if (!json_is_object(body)) {
            json_decref(body);
            return ct_http_error(r, 400, "invalid_json", "the index request body must be a JSON object such as {\"ready\": true}", NULL, NULL);
        }
        ready_only = json_is_true(json_object_get(body, "ready"));
        json_decref(body);
    }
    if (ct_registry_names(&r->srv->registry, 1, &names, &n) != 0)
        return ct_http_error(r, 503, "out_of_memory", "out of memory", NULL, NULL);
    json_t *list = json_array();
    json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", BUILTIN, "version", MODEL_VERSION, "state", "READY"));
    for (int i = 0; i < n; i++) {
        ct_layer *l = ct_registry_get(&r->srv->registry, names[i]);
        if (l || !ready_only)
            json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", names[i], "version", MODEL_VERSION, "state", l ? "READY" : "UNAVAILABLE"));
        ct_layer_release(l);
    }
    ct_names_free(names, n);
    return send_json(r, 200, list);
}

enum MHD_Result ct_handle_v2_server(http_request *r)
{
    return send_json(r, 200, json_pack("{s:s,s:s,s:[s,s,s]}", "name", "convtransposed", "version", CT_VERSION, "extensions",
                                       "binary_tensor_data", "model_repository", "statistics"));
}

enum MHD_Result ct_handle_v2_live(http_request *r)
{
    return send_json(r, 200, json_pack("{s:b}", "live", 1));
}

enum MHD_Result ct_handle_v2_ready(http_request *r)
{
    if (atomic_load(&r->srv->draining))
        return ct_http_error(r, 503, "draining", "the server is shutting down", NULL, NULL);
    if (atomic_load(&r->srv->warming))
        return ct_http_error(r, 503, "warming", "the server is loading its models", NULL, NULL);
    return send_json(r, 200, json_pack("{s:b}", "ready", 1));
}

/* Whether {model} could name a model (the built-in one, or a valid layer name); if not,
 * answers the 404 and returns 0. */
static int model_name_ok(http_request *r, enum MHD_Result *answer)
{
    if (strcmp(r->name, BUILTIN) == 0 || ct_layer_name_valid(r->name))
        return 1;
    char msg[256];
    snprintf(msg, sizeof msg, "no model named '%.64s'", r->name);
    *answer = ct_http_error(r, 404, "not_found", msg, NULL, NULL);
    return 0;
}

/* The routes on one model: {model} is the built-in one or a registered layer (then held in
 * r->layer until the request completes), and {version}, when given, is "1". Returns 1, or
 * 0 with the 404 answered. */
static int open_model(http_request *r, enum MHD_Result *answer)
{
    if (!model_name_ok(r, answer))
        return 0;
    const int builtin = strcmp(r->name, BUILTIN) == 0;
    if (!builtin)
        r->layer = ct_registry_get(&r->srv->registry, r->name);
    if ((builtin || r->layer) && (!r->version[0] || strcmp(r->version, MODEL_VERSION) == 0))
        return 1;
    char msg[256];
    if (ct_http_layer_loading(r)) {
        snprintf(msg, sizeof msg, "model '%s' is loading; retry shortly", r->name);
        r->retry_after = 1;
        *answer = ct_http_error(r, 503, "loading", msg, NULL, NULL);
        return 0;
    }
    snprintf(msg, sizeof msg, r->version[0] && (builtin || r->layer) ? "model '%s' has no version '%s'" : "model '%s' is not found",
             r->name, r->version);
    *answer = ct_http_error(r, 404, "not_found", msg, NULL, NULL);
    return 0;
}

enum MHD_Result ct_handle_v2_model(http_request *r)
{
    enum MHD_Result answer;
    return open_model(r, &answer) ? model_metadata(r, r->layer) : answer;
}

enum MHD_Result ct_handle_v2_model_ready(http_request *r)
{
    enum MHD_Result answer;
    return open_model(r, &answer) ? send_json(r, 200, json_pack("{s:s,s:b}", "name", r->name, "ready", 1)) : answer;
}

enum MHD_Result ct_handle_v2_stats(http_request *r)
{
    enum MHD_Result answer;
    return open_model(r, &answer) ? model_stats(r, r->name, r->layer ? r->layer : &r->srv->builtin_stats) : answer;
}

enum MHD_Result ct_handle_v2_infer(http_request *r)
{
    enum MHD_Result answer;
    return open_model(r, &answer) ? ct_http_submit(r, run_infer) : answer;
}

enum MHD_Result ct_handle_v2_repository_load(http_request *r)
{
    enum MHD_Result answer;
    if (!model_name_ok(r, &answer))
        return answer;
    if (strcmp(r->name, BUILTIN) == 0)
        return send_json(r, 200, json_object()); /* always loaded */
    return ct_http_submit(r, run_repository_load);
}

enum MHD_Result ct_handle_v2_repository_unload(http_request *r)
{
    enum MHD_Result answer;
    if (!model_name_ok(r, &answer))
        return answer;
    if (strcmp(r->name, BUILTIN) != 0 && ct_registry_remove(&r->srv->registry, r->name, 0) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "model '%s' is not loaded", r->name);
        return ct_http_error(r, 404, "not_found", msg, NULL, NULL);
    }
    return send_json(r, 200, json_object());
}
