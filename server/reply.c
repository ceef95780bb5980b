/* reply.c - building and queueing responses: our headers (request id, CORS, nosniff), error
 * bodies in either API's shape, a job's stored result (JSON, .npy or raw float32, the tensor
 * sent without a copy) and its Content-Encoding. */
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "encoding.h"
#include "log.h"
#include "request.h"
#include "stream.h"

/* Adds our headers to resp and queues it; takes resp. */
enum MHD_Result ct_http_send_built(http_request *r, int status, const char *type, struct MHD_Response *resp, size_t len,
                                            const char *extra_name, const char *extra_value)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (r->result_dtype)
        MHD_add_response_header(resp, "X-Tensor-Dtype", r->result_dtype);
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
    ct_buffer whole = {body, len, len};
    if (coding && ct_encode(coding, &whole, 1, &packed, &packed_len) == 0) {
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

/* {"error": {"code": ..., "message": ...}} into a malloc'd string. */
char *ct_http_error_body(int oip, const char *code, const char *message, size_t *len)
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
    char *body = ct_http_error_body(r->route && (r->route->flags & CT_ROUTE_OIP), code, message, &len);
    if (!body)
        return MHD_NO;
    ct_log(CT_LOG_DEBUG, "%s %s -> %d %s: %s", r->method, r->path, status, code, message);
    return ct_http_send(r, status, "application/json", body, len, extra_name, extra_value);
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
    char *body = ct_http_error_body(r->route && (r->route->flags & CT_ROUTE_OIP), err->code, err->message, &len);
    ct_buffer b = {.data = body, .len = len, .cap = len};
    r->result_status = err->status;
    ct_pieces_free(&r->result);
    if (ct_pieces_take(&r->result, &b) != 0)
        ct_buffer_free(&b); /* answered with an empty body */
    r->result_type = "application/json";
    if (err->status == 503)
        r->retry_after = 1;
}

void ct_http_store_json(http_request *r, int status, ct_buffer *body)
{
    ct_pieces p = {0};
    if (ct_pieces_take(&p, body) != 0)
        ct_buffer_free(body);
    ct_http_store_pieces(r, status, "application/json", &p);
}

int ct_http_store_stream(http_request *r, ct_pieces *head, ct_tensor *out, const char *tail)
{
    const char *coding = ct_choose_encoding(r->accept_encoding);
    r->result_stream = ct_stream_create(r->conn, head, out->data, ct_shape_elements(&out->shape), tail, coding);
    if (!r->result_stream)
        return -1;
    out->data = NULL; /* the stream formats it after the connection is resumed */
    r->result_status = 200;
    r->result_type = "application/json";
    r->result_coding = coding;
    return 0;
}

void ct_http_store_pieces(http_request *r, int status, const char *type, ct_pieces *body)
{
    r->result_status = status;
    r->result_type = type;
    ct_pieces_free(&r->result);
    r->result = *body;
    *body = (ct_pieces){0};
}

int ct_pieces_take_tensor(ct_pieces *p, float *tensor, size_t bytes)
{
    ct_buffer b = {(char *)tensor, bytes, bytes};
    return ct_pieces_take(p, &b);
}

/* Applies Accept-Encoding to the stored result, every piece into one compressed body.
 * Workers do it before they resume the connection: compressing a large answer on the HTTP
 * thread would stall every other connection meanwhile. */
void ct_http_encode_result(http_request *r)
{
    r->result_encoded = 1;
    const char *coding = ct_choose_encoding(r->accept_encoding);
    if (!coding || ct_pieces_len(&r->result) == 0)
        return;
    char *packed;
    size_t len;
    if (ct_encode(coding, r->result.part, r->result.count, &packed, &len) != 0)
        return; /* sent as it is */
    ct_pieces_free(&r->result);
    ct_buffer b = {packed, len, len};
    if (ct_pieces_take(&r->result, &b) != 0) {
        ct_buffer_free(&b);
        return;
    }
    r->result_coding = coding;
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
    ct_pieces body = {0};
    int rc = 0;
    const int npy = ct_http_accepts(r->accept, "application/x-npy");
    if (npy && out->dtype == CT_DTYPE_BFLOAT16)
        out->dtype = CT_DTYPE_FLOAT32; /* .npy has no bfloat16: its values, exactly, as float32 */
    r->result_dtype = ct_dtype_name(out->dtype);
    const int64_t n = ct_shape_elements(&out->shape);
    size_t bytes = (size_t)ct_shape_bytes(&out->shape, ct_dtype_size(out->dtype)); /* validated by the plan */
    const char *type = "application/json";
    if (npy || ct_http_accepts(r->accept, "application/octet-stream")) {
        ct_f32_to_dtype(out->dtype, out->data, out->data, n); /* packed in place (float32: as it is) */
        if (npy) {
            char header[256];
            rc = ct_pieces_append(&body, header, ct_npy_header_as(&out->shape, out->dtype, header));
            type = "application/x-npy";
        } else {
            type = "application/octet-stream";
            size_t used = 0;
            r->result_header = "X-Tensor-Shape";
            for (int i = 0; i < out->shape.rank && used < sizeof r->result_header_value; i++)
                used += (size_t)snprintf(r->result_header_value + used, sizeof r->result_header_value - used, "%s%lld", i ? "," : "",
                                         (long long)out->shape.dims[i]);
        }
        if (rc == 0 && (rc = ct_pieces_take_tensor(&body, out->data, bytes)) == 0)
            out->data = NULL;
    } else if (n >= CT_STREAM_MIN_NUMBERS && ct_json_tensor_head(&out->shape, out->dtype, &body) == 0 &&
               ct_http_store_stream(r, &body, out, CT_JSON_TENSOR_TAIL) == 0) {
        return 0;
    } else {
        int64_t nonfinite;
        ct_pieces_free(&body);
        rc = ct_json_write_tensor_pieces(&out->shape, out->data, out->dtype, &body, &nonfinite, nthreads);
    }
    if (rc != 0) {
        ct_pieces_free(&body);
        return ct_api_fail(err, 503, "out_of_memory", "output: out of memory while encoding the response");
    }
    ct_http_store_pieces(r, 200, type, &body);
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

static void free_pieces(void *cls)
{
    ct_pieces_free(cls);
    free(cls);
}

/* Queues the response a job stored: one piece as a buffer, more as an iovec that
 * libmicrohttpd writes out piece by piece (writev), so nothing is joined first. */
enum MHD_Result ct_http_send_result(http_request *r)
{
    if (!r->result_encoded)
        ct_http_encode_result(r); /* a tiny result computed on this thread */
    const char *extra = r->result_header;
    const size_t len = ct_pieces_len(&r->result);
    struct MHD_Response *resp;
    if (r->result_stream) { /* len is 0: bytes_out grows as the stream's bytes leave */
        resp = ct_stream_response(r->result_stream, &r->bytes_out);
        if (!resp)
            return MHD_NO; /* the stream is released with the request */
        ct_stream_release(r->result_stream);
        r->result_stream = NULL;
    } else if (r->result.count <= 1) {
        ct_buffer whole = r->result.count ? r->result.part[0] : (ct_buffer){0};
        resp = MHD_create_response_from_buffer(whole.len, whole.data, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            return MHD_NO; /* the pieces are freed with the request */
        free(r->result.part);
        r->result = (ct_pieces){0};
    } else {
        enum { MAX_IOV = 80 };
        struct MHD_IoVec iov[MAX_IOV];
        ct_pieces *owned = malloc(sizeof *owned);
        if (!owned || r->result.count > MAX_IOV) {
            free(owned);
            return MHD_NO;
        }
        for (int i = 0; i < r->result.count; i++)
            iov[i] = (struct MHD_IoVec){r->result.part[i].data, r->result.part[i].len};
        resp = MHD_create_response_from_iovec(iov, (unsigned)r->result.count, free_pieces, owned);
        if (!resp) {
            free(owned);
            return MHD_NO;
        }
        *owned = r->result;
        r->result = (ct_pieces){0};
    }
    if (r->result_coding)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, r->result_coding);
    return ct_http_send_built(r, r->result_status, r->result_type, resp, len, extra, r->result_header_value);
}
