/* status.c - status names and messages, params defaults, small shape helpers. */
#include <stdio.h>

#include "internal.h"

static const char *const status_names[] = {
#define CT_STATUS_NAME(name, code, text) code,
    CT_STATUS_MAP(CT_STATUS_NAME)
#undef CT_STATUS_NAME
};

static const char *const status_messages[] = {
#define CT_STATUS_TEXT(name, code, text) text,
    CT_STATUS_MAP(CT_STATUS_TEXT)
#undef CT_STATUS_TEXT
};

const char *ct_status_name(ct_status status)
{
    if ((unsigned)status >= CT_STATUS_COUNT)
        return "unknown_status";
    return status_names[status];
}

const char *ct_status_message(ct_status status)
{
    if ((unsigned)status >= CT_STATUS_COUNT)
        return "unknown status";
    return status_messages[status];
}

void ct_params_init(ct_params *p, int spatial_dims)
{
    *p = (ct_params){0};
    p->spatial_dims = spatial_dims;
    p->groups = 1;
    for (int i = 0; i < CT_MAX_SPATIAL; i++) {
        p->stride[i] = 1;
        p->dilation[i] = 1;
    }
}

int64_t ct_shape_elements(const ct_shape *shape)
{
    int64_t n = 1;
    for (int i = 0; i < shape->rank; i++) {
        if (shape->dims[i] < 0 || !ct__mul(n, shape->dims[i], &n))
            return -1;
    }
    return n;
}

int64_t ct_shape_bytes(const ct_shape *shape, size_t elem_size)
{
    int64_t n = ct_shape_elements(shape), bytes;
    if (n < 0 || elem_size > (size_t)INT64_MAX || !ct__mul(n, (int64_t)elem_size, &bytes) || (uint64_t)bytes > SIZE_MAX)
        return -1;
    return bytes;
}

bool ct__mul(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

bool ct__add(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

bool ct__sub(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_sub_overflow(a, b, out);
}

ct_status ct__fail(char *msg, size_t msg_cap, ct_status status, const char *fmt, ...)
{
    if (msg && msg_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_cap, fmt, ap);
        va_end(ap);
    }
    return status;
}
