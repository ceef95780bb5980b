/* float_format.c - the shortest decimal that reads back as the same float32.
 *
 * For p = 1..9 significant digits, take the p-digit decimal nearest to the value and check
 * whether it reads back exactly. The check is exact without strtof in the common case:
 * d * 10^k with d < 2^53 and |k| <= 22 converts to double with one correct rounding, and the
 * second rounding (to float) can only differ from a direct one when the double lands on a
 * float midpoint; that case, subnormals and extreme exponents fall back to strtof. 9 digits
 * always suffice for float32, so the loop ends. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static const double pow10_table[129] = {1e-64, 1e-63, 1e-62, 1e-61, 1e-60, 1e-59, 1e-58, 1e-57, 1e-56, 1e-55, 1e-54, 1e-53, 1e-52, 1e-51, 1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45, 1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39, 1e-38, 1e-37, 1e-36, 1e-35, 1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26, 1e-25, 1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48, 1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63, 1e64};

static double pow10_of(int n) { return pow10_table[n + 64]; }

/* 1: *out is float(d * 10^k) computed exactly; 0: this path cannot tell. */
static int fast_readback(uint64_t d, int k, float *out)
{
    if (k < -22 || k > 22 || d >= ((uint64_t)1 << 53))
        return 0;
    double x = k >= 0 ? (double)d * pow10_of(k) : (double)d / pow10_of(-k);
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int exponent = (int)((bits >> 52) & 0x7ff) - 1023;
    if (exponent < -126 || exponent > 127)
        return 0;
    /* double has 29 more fraction bits than float: a float midpoint ends in 1 then 28 zeros */
    uint64_t low = bits & (((uint64_t)1 << 29) - 1), half = (uint64_t)1 << 28;
    if (low + 1 >= half && low <= half + 1)
        return 0;
    *out = (float)x;
    return 1;
}

/* Writes digits of d (ndigits of them) with decimal exponent k (value d * 10^k) in the
 * style of JavaScript's Number#toString: fixed notation for 1e-6 <= |v| < 1e21. */
static int write_decimal(int neg, uint64_t d, int ndigits, int k, char *out)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)d);
    int n = 0;
    if (neg)
        out[n++] = '-';
    int e = k + ndigits - 1; /* exponent of the leading digit */
    if (e >= -6 && e < 21) {
        if (k >= 0) {
            memcpy(out + n, digits, (size_t)ndigits);
            n += ndigits;
            for (int i = 0; i < k; i++)
                out[n++] = '0';
        } else if (e >= 0) {
            memcpy(out + n, digits, (size_t)(e + 1));
            n += e + 1;
            out[n++] = '.';
            memcpy(out + n, digits + e + 1, (size_t)(ndigits - e - 1));
            n += ndigits - e - 1;
        } else {
            out[n++] = '0';
            out[n++] = '.';
            for (int i = 0; i < -e - 1; i++)
                out[n++] = '0';
            memcpy(out + n, digits, (size_t)ndigits);
            n += ndigits;
        }
        return n;
    }
    out[n++] = digits[0];
    if (ndigits > 1) {
        out[n++] = '.';
        memcpy(out + n, digits + 1, (size_t)(ndigits - 1));
        n += ndigits - 1;
    }
    n += sprintf(out + n, "e%s%d", e < 0 ? "-" : "+", e < 0 ? -e : e);
    return n;
}

int ct_format_float(float v, char *out)
{
    if (v == 0.0f) {
        if (signbit(v)) {
            memcpy(out, "-0", 2);
            return 2;
        }
        out[0] = '0';
        return 1;
    }
    int neg = v < 0;
    double a = fabs((double)v);
    int e10 = (int)floor(log10(a));
    for (int p = 1; p <= 9; p++) {
        int n = p - 1 - e10;
        if (n < -64 || n > 64)
            break;
        double scaled = a * pow10_of(n);
        uint64_t d = (uint64_t)(scaled + 0.5);
        int k = -n;
        if (d == 0)
            continue;
        while (d % 10 == 0) {
            d /= 10;
            k++;
        }
        float back;
        if (!fast_readback(d, k, &back)) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%llue%d", (unsigned long long)d, k);
            back = strtof(tmp, NULL);
        }
        if (back == (float)a) {
            int ndigits = 1;
            for (uint64_t t = d; t >= 10; t /= 10)
                ndigits++;
            return write_decimal(neg, d, ndigits, k, out);
        }
    }
    return sprintf(out, "%.9g", (double)v); /* unreachable in practice: 9 digits always do */
}

int ct_json_write_tensor(const ct_shape *shape, const float *data, ct_buffer *out,
                         int64_t *nonfinite)
{
    char head[256];
    int n = snprintf(head, sizeof head, "{\"shape\":[");
    for (int i = 0; i < shape->rank; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%s%lld", i ? "," : "", (long long)shape->dims[i]);
    n += snprintf(head + n, sizeof head - (size_t)n, "],\"dtype\":\"float32\",\"data\":[");
    int64_t count = ct_shape_elements(shape);
    *nonfinite = 0;
    /* Each number is at most 17 characters plus a comma. */
    if (count < 0 || (uint64_t)count > (SIZE_MAX - 512) / 18 || ct_buffer_reserve(out, (size_t)n + (size_t)count * 18 + 8) != 0)
        return -1;
    memcpy(out->data + out->len, head, (size_t)n);
    out->len += (size_t)n;
    char *p = out->data + out->len;
    for (int64_t i = 0; i < count; i++) {
        if (i)
            *p++ = ',';
        if (isfinite(data[i])) {
            p += ct_format_float(data[i], p);
        } else {
            memcpy(p, "null", 4);
            p += 4;
            (*nonfinite)++;
        }
    }
    memcpy(p, "]}", 2);
    p += 2;
    out->len = (size_t)(p - out->data);
    return 0;
}
