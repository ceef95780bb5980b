/* internal.h - declarations shared inside compute/ (never installed, never included by api/
 * or server/). Names use the ct__ prefix. */
#ifndef CT_COMPUTE_INTERNAL_H
#define CT_COMPUTE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "convtranspose.h"

/* Everything declared from here on is the library's own: hidden from a shared build's symbol
 * table, so its calls between files are direct, never through the PLT. */
#pragma GCC visibility push(hidden)

/* A float16 (IEEE binary16) or bfloat16 value widened to float32: exact, both ways in range. */
static inline float ct__half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = h >> 10 & 0x1f, man = h & 0x3ff;
    uint32_t x;
    if (exp == 0x1f)
        x = sign | 0x7f800000 | man << 13; /* infinity, NaN */
    else if (exp != 0)
        x = sign | (exp + 112) << 23 | man << 13;
    else { /* zero or subnormal: man units of 2^-24 */
        float f = (float)man * 0x1p-24f;
        memcpy(&x, &f, sizeof x);
        x |= sign;
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

static inline float ct__bf16_to_float(uint16_t b)
{
    const uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* Everything a kernel needs to know about one call, resolved from params, the weight
 * shape and the input shape. pad_begin may be derived (ONNX auto_pad / output_shape). */
typedef struct ct_geometry {
    int nd;                           /* spatial dims */
    int batched;                      /* input had a batch dim */
    int64_t batch;                    /* N (1 when unbatched) */
    int64_t in_channels;              /* C_in */
    int64_t out_channels;             /* C_out */
    int64_t groups;
    int64_t in[CT_MAX_SPATIAL];       /* input spatial size */
    int64_t out[CT_MAX_SPATIAL];      /* output spatial size */
    int64_t kernel[CT_MAX_SPATIAL];
    int64_t stride[CT_MAX_SPATIAL];
    int64_t dilation[CT_MAX_SPATIAL];
    int64_t pad_begin[CT_MAX_SPATIAL]; /* output index o = i*stride - pad_begin + k*dilation */
} ct_geometry;

/* Formats a message into msg (if msg_cap > 0) and returns status, so that checks can be
 * written `return ct__fail(msg, cap, CT_E_STRIDE, "...", ...)`. */
ct_status ct__fail(char *msg, size_t msg_cap, ct_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Overflow-checked int64 arithmetic: false on overflow. */
bool ct__mul(int64_t a, int64_t b, int64_t *out);
bool ct__add(int64_t a, int64_t b, int64_t *out);
bool ct__sub(int64_t a, int64_t b, int64_t *out);

/* Checks the rules that do not depend on the input: dims, weight rank, groups, stride,
 * dilation, padding, output_padding, kernel_shape, auto_pad vs pads, channel divisibility,
 * bias length. has_bias selects whether bias_len is checked. */
ct_status ct__validate_layer(const ct_params *p, const ct_shape *weight_shape, int has_bias,
                             int64_t bias_len, char *msg, size_t msg_cap);

/* Validates everything (layer and input) and fills g. */
ct_status ct__resolve_geometry(const ct_params *p, const ct_shape *weight_shape,
                               const ct_shape *input_shape, ct_geometry *g, char *msg,
                               size_t msg_cap);

/* The output tensor shape of a resolved geometry ([N, C_out, *out] or unbatched). */
void ct__output_shape(const ct_geometry *g, ct_shape *out);

#pragma GCC visibility pop

#endif /* CT_COMPUTE_INTERNAL_H */
