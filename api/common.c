/* common.c - api errors, buffers, tensors and requests: the small shared pieces. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int ct_api_fail(ct_api_error *err, int status, const char *code, const char *fmt, ...)
{
    err->status = status;
    snprintf(err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

void ct_api_error_from_status(ct_status st, const char *msg, ct_api_error *err)
{
    int status = st == CT_E_NOMEM ? 503 : st == CT_E_TOO_LARGE ? 413 : st == CT_E_CANCELLED ? 504 : 400;
    ct_api_fail(err, status, ct_status_name(st), "%s", msg && *msg ? msg : ct_status_message(st));
}

void ct_tensor_free(ct_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

void ct_request_free(ct_request *r)
{
    ct_tensor_free(&r->input);
    ct_tensor_free(&r->weight);
    ct_tensor_free(&r->bias);
}

int ct_buffer_reserve(ct_buffer *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ct_buffer_append(ct_buffer *b, const void *data, size_t len)
{
    if (len == 0)
        return 0; /* an empty buffer has no data pointer to offset */
    if (ct_buffer_reserve(b, len) != 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void ct_buffer_free(ct_buffer *b)
{
    free(b->data);
    *b = (ct_buffer){0};
}
