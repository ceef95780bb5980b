/* api.h - wire formats to tensors and layer parameters and back: JSON (jansson), .npy,
 * multipart/form-data. No sockets, no HTTP state: the server hands in bytes and headers'
 * values and gets tensors, params and response bodies. Errors carry the HTTP status, a
 * snake_case code and a sentence naming the field and the rule. */
#ifndef CT_API_API_H
#define CT_API_API_H

#include <stddef.h>
#include <stdint.h>

#include "convtranspose.h"

/* An error for the client: status 4xx/5xx, code like "invalid_json", a message. */
typedef struct ct_api_error {
    int status;
    char code[48];
    char message[400];
} ct_api_error;

/* Fills err and returns -1, so parsers can `return ct_api_fail(err, 400, "code", "...")`. */
int ct_api_fail(ct_api_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Limits a client's request may not pass. */
typedef struct ct_api_limits {
    int64_t max_elements;        /* per tensor */
    int64_t max_output_elements; /* per response */
    double max_flops;            /* nominal FLOPs per run; 0 = no cap */
    int max_json_depth;          /* nesting of arrays and objects */
} ct_api_limits;

/* Element types on the wire (dtype.c). Computation is float32 always: a float16 or bfloat16
 * input widens exactly, a float64 one is rounded; an output is rounded to its dtype, to
 * nearest with ties to even, when it is encoded. */
typedef enum ct_dtype { CT_DTYPE_FLOAT32 = 0, CT_DTYPE_FLOAT16, CT_DTYPE_BFLOAT16, CT_DTYPE_FLOAT64 } ct_dtype;

const char *ct_dtype_name(ct_dtype t);     /* "float32", "float16", "bfloat16", "float64" */
const char *ct_dtype_oip_name(ct_dtype t); /* "FP32", "FP16", "BF16", "FP64" */
size_t ct_dtype_size(ct_dtype t);          /* bytes per element */
/* The dtype of a name as above (ct_dtype_from_oip: the protocol's). 0, or -1 when unknown. */
int ct_dtype_from_name(const char *name, ct_dtype *out);
int ct_dtype_from_oip(const char *name, ct_dtype *out);
/* n little-endian elements of t at src to float32 at dst (float32: copied). */
void ct_dtype_to_f32(ct_dtype t, const void *src, float *dst, int64_t n);
/* n float32 values rounded to t (float16, bfloat16) and packed at dst, which may be src
 * itself (the packed elements then fill its first bytes); float32: copied. */
void ct_f32_to_dtype(ct_dtype t, const float *src, void *dst, int64_t n);
/* Rounds each value to the nearest of t, kept as float32 (float32, float64: unchanged). */
void ct_f32_round_to(ct_dtype t, float *data, int64_t n);
/* One element's conversion, the scalar rule (the vector paths give the same bits). */
uint16_t ct_f32_to_f16_bits(float f);
float ct_f16_bits_to_f32(uint16_t h);
uint16_t ct_f32_to_bf16_bits(float f);
float ct_bf16_bits_to_f32(uint16_t h);
/* Tests: 1 makes every conversion take the scalar path (no F16C), 0 restores the choice. */
void ct_dtype_force_scalar(int scalar);

/* A dense fp32 tensor that owns its data (free with ct_tensor_free); dtype is what it was
 * sent as, or for an output what it is to be answered as. */
typedef struct ct_tensor {
    ct_shape shape;
    float *data;
    ct_dtype dtype;
} ct_tensor;

void ct_tensor_free(ct_tensor *t);

/* A /convtranspose request: input (may be absent for a layer registration), weight, bias,
 * and the hyperparameters with PyTorch or ONNX semantics. */
typedef struct ct_request {
    ct_tensor input;
    ct_tensor weight;
    ct_tensor bias;          /* data NULL when absent */
    ct_params params;
    int has_input;
} ct_request;

void ct_request_free(ct_request *r);

/* Parses a JSON request body (see README: tensors as {"shape","data"} or nested arrays,
 * hyperparameters as an int or a per-dim list, PyTorch or ONNX names). need_input: whether
 * "input" is required (1) or refused (0, a layer registration). Returns 0
 * or -1 with err filled; on success the caller owns *req (ct_request_free). */
int ct_json_parse_request(const char *body, size_t len, const ct_api_limits *limits,
                          int need_input, ct_request *req, ct_api_error *err);

/* Parses {"input": T}, the body of a registered layer's /convtranspose. 0 or -1; on success
 * the caller owns input's data. */
int ct_json_parse_input(const char *body, size_t len, const ct_api_limits *limits, ct_tensor *input,
                        ct_api_error *err);

/* Applies a JSON object of hyperparameters (the "config" part of a multipart request) to
 * params, given the spatial dims. 0 or -1. */
int ct_json_parse_config(const char *body, size_t len, int spatial_dims, ct_params *params,
                         ct_api_error *err);

/* A growable byte buffer (malloc'd; the taker frees data). */
typedef struct ct_buffer {
    char *data;
    size_t len, cap;
} ct_buffer;

int ct_buffer_reserve(ct_buffer *b, size_t extra);
int ct_buffer_append(ct_buffer *b, const void *data, size_t len);
void ct_buffer_free(ct_buffer *b);

/* A body as a list of owned buffers, sent one after another without being joined: the JSON
 * encoder's parallel slices, or a head and a tensor. */
typedef struct ct_pieces {
    ct_buffer *part;
    int count, cap;
} ct_pieces;

/* Appends *b as the next piece and empties b (the list owns it now). 0 or -1 (OOM). */
int ct_pieces_take(ct_pieces *p, ct_buffer *b);
/* The last piece, which appends go to; an empty one is added when there is none. NULL: OOM. */
ct_buffer *ct_pieces_last(ct_pieces *p);
int ct_pieces_append(ct_pieces *p, const void *data, size_t len);
size_t ct_pieces_len(const ct_pieces *p);
/* Appends every piece to out (or hands the only piece over when out is empty) and frees p. */
int ct_pieces_join(ct_pieces *p, ct_buffer *out);
void ct_pieces_free(ct_pieces *p);

/* Appends the hyperparameters as a JSON object that ct_json_parse_config reads back to the
 * same params: PyTorch names, or ONNX names when only ONNX can express them. 0 or -1. */
struct ct_buffer;
int ct_params_to_json(const ct_params *p, struct ct_buffer *out);

/* Writes the shortest decimal that reads back (strtof) as exactly v; "NaN"/"Infinity" are
 * not JSON and are the caller's business. Returns the length written (<= 22), no NUL. */
int ct_format_float(float v, char *out);

/* The response {"shape": [...], "dtype": "float32", "data": [...]}. Non-finite values are
 * written as null (strict JSON parsers accept it) and counted in *nonfinite. Large tensors
 * are formatted on up to nthreads threads. 0 or -1 (OOM). */
int ct_json_write_tensor(const ct_shape *shape, const float *data, ct_buffer *out,
                         int64_t *nonfinite, int nthreads);
/* The same with "dtype" naming dtype; data holds values of that dtype already (rounded with
 * ct_f32_round_to), so each shortest float32 decimal reads back to the very value. */
int ct_json_write_tensor_as(const ct_shape *shape, const float *data, ct_dtype dtype, ct_buffer *out,
                            int64_t *nonfinite, int nthreads);
/* Numbers below which the encoder formats on one thread whatever it is given: waking others
 * costs more than they save. */
#define CT_JSON_PARALLEL_MIN 65536

/* The same as pieces: on more than one thread each slice of numbers is a piece of its own,
 * sent as it is (no joined copy). */
int ct_json_write_tensor_pieces(const ct_shape *shape, const float *data, ct_dtype dtype, ct_pieces *out,
                                int64_t *nonfinite, int nthreads);
/* The JSON tensor's text before its numbers, {"shape":[..],"dtype":"..","data":[, appended
 * to out; after the numbers comes CT_JSON_TENSOR_TAIL. 0 or -1 (OOM). */
int ct_json_tensor_head(const ct_shape *shape, ct_dtype dtype, ct_pieces *out);
#define CT_JSON_TENSOR_TAIL "]}"
/* Appends data's count numbers, comma-separated, to out (its last piece, or new pieces when
 * formatted on several threads). 0 or -1 (OOM). */
int ct_json_append_numbers(ct_pieces *out, const float *data, int64_t count, int64_t *nonfinite, int nthreads);

/* .npy: parses a version 1/2/3 header of a float32 ('<f4'), float16 ('<f2') or float64
 * ('<f8') C-order array and converts the payload to a new fp32 tensor (its dtype set). part
 * names the field in messages. */
int ct_npy_parse(const char *buf, size_t len, const ct_api_limits *limits, const char *part,
                 ct_tensor *out, ct_api_error *err);

/* Writes a version 1.0 .npy of a float32 tensor. 0 or -1 (OOM). */
int ct_npy_write(const ct_shape *shape, const float *data, ct_buffer *out);
/* The same in dtype: float16 is written as '<f2' (its values must be float16's: no loss);
 * any other dtype as float32. 0 or -1. */
int ct_npy_write_as(const ct_shape *shape, const float *data, ct_dtype dtype, ct_buffer *out);

/* Writes just the .npy header (magic, version, length, dict, padding: a multiple of 64
 * bytes) for a float32 tensor of this shape into out (at least 256 bytes); returns its
 * length. The data follows it unchanged, so a server can send header and tensor as two
 * buffers without copying the tensor. */
size_t ct_npy_header(const ct_shape *shape, char *out);
/* The same for an array of float16 ('<f2') when dtype is CT_DTYPE_FLOAT16, else float32. */
size_t ct_npy_header_as(const ct_shape *shape, ct_dtype dtype, char *out);

/* One part of a multipart/form-data body; pointers into the body, not copies. */
typedef struct ct_part {
    const char *name;        /* not NUL-terminated: name_len bytes */
    size_t name_len;
    const char *content_type;
    size_t content_type_len;
    const char *data;
    size_t len;
} ct_part;

/* Splits a multipart body by the boundary from Content-Type. Fills up to max_parts parts
 * and sets *nparts. 0 or -1 (415 for a missing boundary, 400 for a malformed body). */
int ct_multipart_parse(const char *content_type, const char *body, size_t len, ct_part *parts,
                       int max_parts, int *nparts, ct_api_error *err);

/* Parses a multipart/form-data request: .npy parts input (when need_input), weight, bias
 * and a JSON part config with the hyperparameters. Same contract as ct_json_parse_request. */
int ct_form_parse_request(const char *content_type, const char *body, size_t len,
                          const ct_api_limits *limits, int need_input, ct_request *req,
                          ct_api_error *err);

/* Parses "1,4,5,5" (an X-Tensor-Shape header) into a shape. 0 or -1. */
int ct_parse_shape_header(const char *value, ct_shape *shape, ct_api_error *err);

/* Parses a byte-count header (Inference-Header-Content-Length): decimal digits only, no
 * sign, no overflow. name is the header's, for the message. 0 or -1. */
int ct_parse_length_header(const char *name, const char *value, long long *out, ct_api_error *err);

/* A raw body with its shape in X-Tensor-Shape and its element type in X-Tensor-Dtype
 * (dtype_header: float32 when NULL, or float16, bfloat16): the shape must be within
 * limits->max_elements and its byte size (checked arithmetic) must equal body->len exactly.
 * On success the body becomes out's data (float32: its bytes, body left empty; else widened
 * into a new buffer and the body freed); on failure body is untouched. part names the tensor
 * in messages. 0 or -1. */
int ct_raw_take_tensor(ct_buffer *body, const char *shape_header, const char *dtype_header, const ct_api_limits *limits,
                       const char *part, ct_tensor *out, ct_api_error *err);

/* Content negotiation: the index of the offer (media types such as "application/json", or
 * codings) that an Accept-style header prefers by q-value, ties going to the earlier offer;
 * 0 when the header is absent or empty; -1 when it refuses every offer. */
int ct_negotiate(const char *header, const char *const *offers, int n);

/* Runs req (which has an input) with a plan built for it; *out gets a new tensor. 0 or -1.
 * cancel (may be NULL): set nonzero by any thread, it stops the run at its next work item
 * (ct_plan_run_cancellable) with a 504 "cancelled". */
int ct_api_execute(const ct_request *req, int nthreads, const int *cancel, ct_tensor *out, ct_api_error *err);

/* Runs an existing plan on input; *out gets a new tensor. 0 or -1. cancel as above. */
int ct_api_execute_plan(const ct_plan *plan, const ct_tensor *input, int nthreads, const int *cancel, ct_tensor *out,
                        ct_api_error *err);

/* Runs the plan once, on one thread, on a zero input of the smallest size (1, 2, 4, ..., 64
 * per spatial dim) it takes: the plan's workspace and the kernels' code are in place before
 * the first request. 0, or -1 with err when that run fails. */
int ct_api_warm_run(const ct_plan *plan, ct_api_error *err);

/* Maps a compute status to an API error (400, code = the status name; 503 out of memory,
 * 413 too large, 504 cancelled). */
void ct_api_error_from_status(ct_status st, const char *msg, ct_api_error *err);

#endif /* CT_API_API_H */
