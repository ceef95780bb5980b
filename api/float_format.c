/* float_format.c - the shortest decimal that reads back as the same float32.
 *
 * For a digit count p, take the p-digit decimal nearest to the value and check whether it
 * reads back exactly; search for the smallest such p (at most 9 for float32). The check is exact without strtof in the common case:
 * d * 10^k with d < 2^53 and |k| <= 22 converts to double with one correct rounding, and the
 * second rounding (to float) can only differ from a direct one when the double lands on a
 * float midpoint; that case, subnormals and extreme exponents fall back to strtof
 * (decimal.c). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "decimal.h"

/* The p-significant-digit decimal nearest to a (> 0), whose leading digit has decimal
 * exponent e10: a ~ d * 10^k. Returns 1 when it reads back as exactly a. */
static int candidate(double a, float target, int e10, int p, uint64_t *d, int *k)
{
    int n = p - 1 - e10;
    if (n < -64 || n > 64)
        return 0;
    *d = (uint64_t)(a * ct_pow10(n) + 0.5);
    *k = -n;
    if (*d == 0)
        return 0;
    float back;
    if (!ct_decimal_to_float(*d, *k, &back)) {
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%llue%d", (unsigned long long)*d, *k);
        back = strtof(tmp, NULL);
    }
    return back == target;
}

/* Writes the digits of d, most significant first; returns their count. */
static int write_digits(uint64_t d, char *out)
{
    char rev[24];
    int n = 0;
    do {
        rev[n++] = (char)('0' + d % 10);
        d /= 10;
    } while (d);
    for (int i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    return n;
}

/* Writes d * 10^k in the style of JavaScript's Number#toString: fixed notation for
 * 1e-6 <= |v| < 1e21, else d.ddde+X. */
static int write_decimal(int neg, uint64_t d, int k, char *out)
{
    char digits[24];
    int ndigits = write_digits(d, digits);
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
    out[n++] = 'e';
    out[n++] = e < 0 ? '-' : '+';
    n += write_digits((uint64_t)(e < 0 ? -e : e), out + n);
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
    float target = neg ? -v : v;
    double a = (double)target;
    uint32_t bits;
    memcpy(&bits, &target, sizeof bits);
    int e2 = (int)(bits >> 23) - 126; /* a = m * 2^e2 with m in [0.5, 1) for normal floats */
    if ((bits >> 23) == 0)
        e2 = -126 - (__builtin_clz(bits) - 9); /* subnormal */
    int e10 = (int)floor((e2 - 1) * 0.30102999566398120);
    if (e10 + 1 <= 64 && a >= ct_pow10(e10 + 1))
        e10++;
    else if (e10 >= -64 && a < ct_pow10(e10))
        e10--;
    /* Fewer digits never read back when more do not. Most floats need 8 or 9 digits: try 8
     * first, then binary-search below it; 9 digits always suffice for float32. */
    uint64_t best_d = 0, d;
    int best_k = 0, k, lo = 1, hi = 8;
    if (!candidate(a, target, e10, 8, &best_d, &best_k)) {
        if (!candidate(a, target, e10, 9, &best_d, &best_k))
            return sprintf(out, "%.9g", (double)v); /* outside the table's range: not for floats */
        lo = hi = 9;
    }
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (candidate(a, target, e10, mid, &d, &k)) {
            hi = mid;
            best_d = d;
            best_k = k;
        } else {
            lo = mid + 1;
        }
    }
    while (best_d % 10 == 0) {
        best_d /= 10;
        best_k++;
    }
    return write_decimal(neg, best_d, best_k, out);
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
