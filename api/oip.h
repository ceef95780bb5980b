/* oip.h - the Open Inference Protocol (KServe v2 / Triton HTTP) infer request and response,
 * including the binary tensor data extension. Wire format only: no sockets, no models. */
#ifndef CT_API_OIP_H
#define CT_API_OIP_H

#include <jansson.h>

#include "api.h"

#define CT_OIP_MAX_INPUTS 8

typedef struct ct_oip_input {
    char name[64];
    char datatype[16];     /* "FP32", "FP16", "BF16" or "FP64" */
    ct_dtype dtype;        /* the same, parsed */
    ct_shape shape;
    float *data;           /* prod(shape) floats */
    int owned;             /* 0: points into the request body (binary FP32, aligned) */
} ct_oip_input;

typedef struct ct_oip_request {
    char id[256];
    int has_id;
    ct_oip_input inputs[CT_OIP_MAX_INPUTS];
    int ninputs;
    json_t *parameters;    /* request-level "parameters" object, or NULL */
    int output_requested;  /* the "outputs" list names "output", or there is no list */
    int binary_output;     /* outputs[].parameters.binary_data or parameters.binary_data_output */
} ct_oip_request;

/* Parses an infer request. header_len < 0: the whole body is JSON; otherwise the first
 * header_len bytes are JSON (Inference-Header-Content-Length) and the binary tensors follow
 * in input order, each input naming its size in parameters.binary_data_size. body must stay
 * alive while the request is used: 4-byte-aligned FP32 binary tensors are used in place
 * (others are copied once). 0, or -1 with err. */
int ct_oip_parse(char *body, size_t len, long long header_len, const ct_api_limits *limits, ct_oip_request *req,
                 ct_api_error *err);
void ct_oip_request_free(ct_oip_request *req);

/* The input named name, or NULL. */
const ct_oip_input *ct_oip_find_input(const ct_oip_request *req, const char *name);

/* Hyperparameters from the request's parameters: an int (every dim), a string holding a
 * JSON array ("[2, 1]") or a plain string (auto_pad), or a real JSON array. The protocol's
 * own keys (binary_data_output, priority, timeout, sequence_*) are skipped. 0 or -1. */
int ct_oip_params(const ct_oip_request *req, int spatial_dims, ct_params *params, ct_api_error *err);

/* The response JSON: model name and version, the request id, one output "output" of
 * datatype out->dtype (its values rounded to it already). With binary, the output carries
 * parameters.binary_data_size and the caller sends the tensor's bytes, packed in that
 * datatype, after this JSON (its length goes in Inference-Header-Content-Length). Non-finite
 * values are written as null in JSON. 0 or -1. */
int ct_oip_write_response(const char *model, const char *version, const ct_oip_request *req, const ct_tensor *out,
                          int binary, int nthreads, ct_pieces *json);
/* The same response up to its output's numbers: the whole of it when none follow (binary
 * data, or no output asked for), else ending with "data":[, to be followed by the numbers and
 * CT_OIP_DATA_TAIL. 1 when numbers follow, 0 when complete, -1 (OOM). */
int ct_oip_write_response_head(const char *model, const char *version, const ct_oip_request *req, const ct_tensor *out, int binary,
                               ct_pieces *json);
#define CT_OIP_DATA_TAIL "]}]}"

#endif /* CT_API_OIP_H */
