/* float_format.c - the shortest decimal that reads back as the same float32, in JSON.
 *
 * The digits come from Schubfach (shortest_decimal): integer arithmetic only, one 64-bit
 * power of ten per number, no trial conversions; the test suite and bench/float_exhaustive
 * check it against every one of the 2^32 bit patterns. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "decimal.h"

#include "pow10_table.h"

/* floor(log10(2^e)), floor(log10(3/4 * 2^e)) and floor(log2(10^e)), exact for the
 * exponents of float32 (|e| < 1000 and more), in integer arithmetic. */
static int floor_log10_pow2(int e)
{
    return (e * 1262611) >> 22;
}

static int floor_log10_three_quarters_pow2(int e)
{
    return (e * 1262611 - 524031) >> 22;
}

static int floor_log2_pow10(int e)
{
    return (e * 1741647) >> 19;
}

/* Bits 64..95 of g * cp, rounded to odd by bits 32..63: Schubfach's r_o(g * cp * 2^-64),
 * whose low bit says whether the exact product had more. */
static uint32_t round_to_odd(uint64_t g, uint32_t cp)
{
    const unsigned __int128 p = (unsigned __int128)g * cp;
    const uint32_t y1 = (uint32_t)(p >> 64), y0 = (uint32_t)((uint64_t)p >> 32);
    return y1 | (y0 > 1);
}

/* The shortest decimal d * 10^k in the rounding interval of the positive finite float with
 * significand c and exponent q (value c * 2^q), the one nearest to it when several are as
 * short (ties to even digits): Schubfach, after Giulietti. The interval's bounds are exact
 * in quarter units (4c - 2 or -1 below, 4c + 2 above), scaled by 10^-k with one 64-bit
 * power; round-to-odd keeps what the scaling dropped visible in the last bit. */
static inline __attribute__((always_inline)) void shortest_decimal(uint32_t c, int q, int lower_closer, uint32_t *d, int *k)
{
    const int even = (c & 1) == 0;
    const uint32_t cb = c << 2, cbl = cb - 2 + (uint32_t)lower_closer, cbr = cb + 2;
    const int k10 = lower_closer ? floor_log10_three_quarters_pow2(q) : floor_log10_pow2(q);
    const int h = q + floor_log2_pow10(-k10) + 1; /* 1 to 4: the bounds shifted into 32 bits */
    const uint64_t g = ct_pow10_g[-k10 - CT_POW10_MIN];
    const uint32_t vbl = round_to_odd(g, cbl << h), vb = round_to_odd(g, cb << h), vbr = round_to_odd(g, cbr << h);
    const uint32_t lower = vbl + !even, upper = vbr - !even;
    const uint32_t s = vb >> 2; /* the value in units of 10^k10, truncated */
    if (s >= 10) { /* one digit fewer, when a multiple of ten lies in the interval */
        const uint32_t sp = s / 10;
        const int up_inside = lower <= 40 * sp, wp_inside = 40 * sp + 40 <= upper;
        if (up_inside != wp_inside) {
            *d = sp + wp_inside;
            *k = k10 + 1;
            return;
        }
    }
    const int u_inside = lower <= 4 * s, w_inside = 4 * s + 4 <= upper;
    if (u_inside != w_inside) {
        *d = s + w_inside;
        *k = k10;
        return;
    }
    const uint32_t mid = 4 * s + 2; /* both in: the nearer, ties to even */
    *d = s + (vb > mid || (vb == mid && (s & 1)));
    *k = k10;
}

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                     "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";
static const uint32_t pow10_u32[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

/* How many decimal digits d (>= 1) has. */
static int digit_count(uint32_t d)
{
    const int n = (32 - __builtin_clz(d)) * 1233 >> 12; /* floor(log10(2^bits)): n or n - 1 digits */
    return n + (n < 10 && d >= pow10_u32[n]);
}

/* Writes exactly n digits of d (zeros in front when it has fewer), two per division, right
 * to left straight into place. */
static void write_n_digits(uint32_t d, int n, char *out)
{
    char *p = out + n;
    for (; n >= 2; n -= 2) {
        const uint32_t r = d % 100;
        d /= 100;
        p -= 2;
        memcpy(p, digit_pairs + 2 * r, 2);
    }
    if (n)
        p[-1] = (char)('0' + d);
}

/* Writes d * 10^k (d < 10^9, no trailing zeros) in the style of JavaScript's
 * Number#toString: fixed notation for 1e-6 <= |v| < 1e21, else d.ddde+X. */
static int write_decimal(int neg, uint32_t d, int k, char *out)
{
    char *p = out;
    if (neg)
        *p++ = '-';
    const int nd = digit_count(d), e = k + nd - 1; /* e: exponent of the leading digit */
    if (e >= 0 && e < 21) {
        if (k >= 0) { /* an integer: the digits, then k zeros */
            write_n_digits(d, nd, p);
            memset(p + nd, '0', (size_t)k);
            return (int)(p - out) + nd + k;
        }
        const int frac = -k; /* digits after the point: split there */
        write_n_digits(d / pow10_u32[frac], e + 1, p);
        p[e + 1] = '.';
        write_n_digits(d % pow10_u32[frac], frac, p + e + 2);
        return (int)(p - out) + nd + 1;
    }
    if (e < 0 && e >= -6) { /* 0.000ddd */
        const int zeros = -e - 1;
        memcpy(p, "0.000000", 8);
        write_n_digits(d, nd, p + 2 + zeros);
        return (int)(p - out) + 2 + zeros + nd;
    }
    write_n_digits(d, nd, p + 1); /* d.ddd, written as dddd then the point put in */
    p[0] = p[1];
    if (nd > 1) {
        p[1] = '.';
        p += nd + 1;
    } else {
        p += 1;
    }
    *p++ = 'e';
    *p++ = e < 0 ? '-' : '+';
    const int ae = e < 0 ? -e : e;
    const int ne = ae >= 10 ? 2 : 1; /* float32 exponents stay below 100 */
    write_n_digits((uint32_t)ae, ne, p);
    return (int)(p - out) + ne;
}

/* ct_shortest_decimal, inlined into the encoder's loop. */
static inline __attribute__((always_inline)) void shortest_of(float v, uint64_t *d, int *k)
{
    uint32_t bits, digits;
    memcpy(&bits, &v, sizeof bits);
    const uint32_t exponent = bits >> 23 & 0xff, mantissa = bits & 0x7fffff;
    if (exponent == 0) /* subnormal: c * 2^-149 */
        shortest_decimal(mantissa, -149, 0, &digits, k);
    else /* the interval below a power of two is half as wide as above it */
        shortest_decimal(mantissa | 0x800000, (int)exponent - 150, mantissa == 0 && exponent > 1, &digits, k);
    while (digits % 10 == 0) {
        digits /= 10;
        ++*k;
    }
    *d = digits;
}

void ct_shortest_decimal(float v, uint64_t *d, int *k)
{
    shortest_of(v, d, k);
}

/* ct_format_float, inlined into the encoder's loop. */
static inline __attribute__((always_inline)) int format_one(float v, char *out)
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
        const uint32_t i = (uint32_t)target;
        const int nd = digit_count(i);
        write_n_digits(i, nd, out + n);
        return n + nd;
    }
    uint64_t d;
    int k;
    shortest_of(target, &d, &k);
    return write_decimal(neg, (uint32_t)d, k, out);
}

int ct_format_float(float v, char *out)
{
    return format_one(v, out);
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
            p += format_one(data[i], p);
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

int ct_json_write_tensor(const ct_shape *shape, const float *data, ct_buffer *out,
                         int64_t *nonfinite, int nthreads)
{
    return ct_json_write_tensor_as(shape, data, CT_DTYPE_FLOAT32, out, nonfinite, nthreads);
}

int ct_json_write_tensor_as(const ct_shape *shape, const float *data, ct_dtype dtype, ct_buffer *out,
                            int64_t *nonfinite, int nthreads)
{
    ct_pieces pieces = {0};
    if (ct_json_write_tensor_pieces(shape, data, dtype, &pieces, nonfinite, nthreads) != 0) {
        ct_pieces_free(&pieces);
        return -1;
    }
    return ct_pieces_join(&pieces, out);
}

int ct_json_tensor_head(const ct_shape *shape, ct_dtype dtype, ct_pieces *out)
{
    char head[256];
    int n = snprintf(head, sizeof head, "{\"shape\":[");
    for (int i = 0; i < shape->rank; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%s%lld", i ? "," : "", (long long)shape->dims[i]);
    n += snprintf(head + n, sizeof head - (size_t)n, "],\"dtype\":\"%s\",\"data\":[", ct_dtype_name(dtype));
    return ct_pieces_append(out, head, (size_t)n);
}

int ct_json_write_tensor_pieces(const ct_shape *shape, const float *data, ct_dtype dtype, ct_pieces *out,
                                int64_t *nonfinite, int nthreads)
{
    if (ct_json_tensor_head(shape, dtype, out) != 0 || ct_json_append_numbers(out, data, ct_shape_elements(shape), nonfinite, nthreads) != 0)
        return -1;
    return ct_pieces_append(out, CT_JSON_TENSOR_TAIL, strlen(CT_JSON_TENSOR_TAIL));
}

/* Bytes kept free after each piece of numbers, so that the closing brackets that follow
 * never move it. */
#define PIECE_SPARE 64

/* A piece with room for count numbers (and PIECE_SPARE), or -1 when that size is absurd. */
static int reserve_numbers(ct_buffer *b, int64_t count)
{
    if (count < 0 || (uint64_t)count > (SIZE_MAX - 512) / NUMBER_MAX)
        return -1;
    return ct_buffer_reserve(b, (size_t)count * NUMBER_MAX + PIECE_SPARE);
}

int ct_json_append_numbers(ct_pieces *out, const float *data, int64_t count, int64_t *nonfinite, int nthreads)
{
    *nonfinite = 0;
    if (nthreads < 2 || count < CT_JSON_PARALLEL_MIN) {
        ct_buffer *b = ct_pieces_last(out);
        if (!b || reserve_numbers(b, count) != 0)
            return -1;
        b->len += format_range(data, 0, count, b->data + b->len, nonfinite);
        return 0;
    }
    /* Each thread formats its slice into a piece of its own; the pieces are sent as they are.
     * The first slice's commas come from format_range (i > 0), so the slices join up. */
    enum { MAX_SLICES = 64 };
    int slices = nthreads < MAX_SLICES ? nthreads : MAX_SLICES;
    ct_buffer part[MAX_SLICES] = {{0}};
    int64_t bad[MAX_SLICES] = {0};
    int failed = 0;
#pragma omp parallel for num_threads(slices) schedule(static, 1) reduction(| : failed)
    for (int sl = 0; sl < slices; sl++) {
        int64_t from = count * sl / slices, to = count * (sl + 1) / slices;
        if (reserve_numbers(&part[sl], to - from) == 0)
            part[sl].len = format_range(data, from, to, part[sl].data, &bad[sl]);
        else
            failed = 1;
    }
    for (int sl = 0; sl < slices; sl++) {
        if (!failed && ct_pieces_take(out, &part[sl]) != 0)
            failed = 1;
        *nonfinite += bad[sl];
        ct_buffer_free(&part[sl]);
    }
    return failed ? -1 : 0;
}
