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

/* Writes the digits of d, most significant first; returns their count. Two digits per
 * division. */
static int write_digits(uint64_t d, char *out)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";
    char rev[24];
    int n = 24;
    while (d >= 100) {
        unsigned r = (unsigned)(d % 100);
        d /= 100;
        rev[--n] = pairs[2 * r + 1];
        rev[--n] = pairs[2 * r];
    }
    if (d >= 10) {
        rev[--n] = pairs[2 * d + 1];
        rev[--n] = pairs[2 * d];
    } else {
        rev[--n] = (char)('0' + d);
    }
    memcpy(out, rev + n, (size_t)(24 - n));
    return 24 - n;
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
    if (target < 16777216.0f && target == (float)(int32_t)target) { /* integers: common, and exact */
        int n = 0;
        if (neg)
            out[n++] = '-';
        return n + write_digits((uint64_t)target, out + n);
    }
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
    /* Fewer digits never read back when more do not. Most floats need 8 or 9 digits: try 8,
     * then 7, and binary-search below that only when 7 digits do. 9 digits always read back
     * for float32 (their spacing is far below half a float's), so they need no check. */
    uint64_t best_d = 0, d;
    int best_k = 0, k;
    if (!candidate(a, target, e10, 8, &best_d, &best_k)) {
        int n = 9 - 1 - e10;
        if (n < -64 || n > 64)
            return sprintf(out, "%.9g", (double)v); /* outside the table's range: not for floats */
        best_d = (uint64_t)(a * ct_pow10(n) + 0.5);
        best_k = -n;
    } else if (candidate(a, target, e10, 7, &d, &k)) {
        best_d = d;
        best_k = k;
        int lo = 1, hi = 7;
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
    }
    while (best_d % 10 == 0) {
        best_d /= 10;
        best_k++;
    }
    return write_decimal(neg, best_d, best_k, out);
}

/* Formats data[from, to) as comma-separated numbers into out (which has room for NUMBER_MAX
 * per number); returns the bytes written. */
static size_t format_range(const float *data, int64_t from, int64_t to, char *out, int64_t *nonfinite)
{
    char *p = out;
    for (int64_t i = from; i < to; i++) {
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
    return (size_t)(p - out);
}

/* The longest number written: fixed notation runs to 1e21, so "-100000000000000000000"
 * is 22 characters, plus a comma; "null" and the scientific forms are shorter. */
#define NUMBER_MAX 24
#define PARALLEL_ENCODE_MIN 65536 /* numbers; below this one thread is quicker */

int ct_json_write_tensor(const ct_shape *shape, const float *data, ct_buffer *out,
                         int64_t *nonfinite, int nthreads)
{
    return ct_json_write_tensor_as(shape, data, CT_DTYPE_FLOAT32, out, nonfinite, nthreads);
}

int ct_json_write_tensor_as(const ct_shape *shape, const float *data, ct_dtype dtype, ct_buffer *out,
                            int64_t *nonfinite, int nthreads)
{
    char head[256];
    int n = snprintf(head, sizeof head, "{\"shape\":[");
    for (int i = 0; i < shape->rank; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%s%lld", i ? "," : "", (long long)shape->dims[i]);
    n += snprintf(head + n, sizeof head - (size_t)n, "],\"dtype\":\"%s\",\"data\":[", ct_dtype_name(dtype));
    int64_t count = ct_shape_elements(shape);
    *nonfinite = 0;
    /* Each number and its comma fit NUMBER_MAX bytes. */
    if (count < 0 || (uint64_t)count > (SIZE_MAX - 512) / NUMBER_MAX || ct_buffer_reserve(out, (size_t)n + (size_t)count * NUMBER_MAX + 8) != 0)
        return -1;
    ct_buffer_append(out, head, (size_t)n);
    if (nthreads < 2 || count < PARALLEL_ENCODE_MIN) {
        out->len += format_range(data, 0, count, out->data + out->len, nonfinite);
    } else {
        /* Each thread formats its slice into its own buffer; the slices are then joined. */
        enum { MAX_SLICES = 64 };
        int slices = nthreads < MAX_SLICES ? nthreads : MAX_SLICES;
        char *part[MAX_SLICES] = {0};
        size_t len[MAX_SLICES] = {0};
        int64_t bad[MAX_SLICES] = {0};
        int failed = 0;
#pragma omp parallel for num_threads(slices) schedule(static, 1) reduction(| : failed)
        for (int sl = 0; sl < slices; sl++) {
            int64_t from = count * sl / slices, to = count * (sl + 1) / slices;
            part[sl] = malloc((size_t)(to - from) * NUMBER_MAX + 1);
            if (part[sl])
                len[sl] = format_range(data, from, to, part[sl], &bad[sl]);
            else
                failed = 1;
        }
        for (int sl = 0; sl < slices; sl++) {
            if (!failed) {
                memcpy(out->data + out->len, part[sl], len[sl]);
                out->len += len[sl];
                *nonfinite += bad[sl];
            }
            free(part[sl]);
        }
        if (failed)
            return -1;
    }
    memcpy(out->data + out->len, "]}", 2);
    out->len += 2;
    return 0;
}
