/* decimal.h - exact conversion of a decimal d * 10^k to float32 when double arithmetic can
 * prove the result (the JSON number parser's fast path), the shortest decimal of a float32
 * (float_format.c), and integer parsing. */
#ifndef CT_API_DECIMAL_H
#define CT_API_DECIMAL_H

#include <stdint.h>
#include <string.h>

/* 10^n as a double, for n in -64..64 at index n + 64. */
extern const double ct_pow10_double[129];

/* 1 and *out = the float nearest to d * 10^k (as strtof would round it); 0 when this fast
 * path cannot be sure (the caller falls back to strtof). With d < 2^53 and |k| <= 22, d is
 * exact and 10^k is the double nearest to it (exact for k >= 0), so x = d * 10^k in double
 * arithmetic is within 2 units in the last place of the exact value (two roundings of at
 * most half a unit each, relative to the value). Rounding x to float then gives what
 * rounding the exact value gives unless a float rounding midpoint lies within those 2
 * units of x: that case, float subnormals and overflow are left to strtof. A multiply, not
 * a divide by 10^-k: this path runs for every JSON number. */
static inline int ct_decimal_to_float(uint64_t d, int k, float *out)
{
    if (d == 0) {
        *out = 0.0f;
        return 1;
    }
    if (k < -22 || k > 22 || d >= ((uint64_t)1 << 53))
        return 0;
    const double x = (double)d * ct_pow10_double[k + 64];
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    const int exponent = (int)((bits >> 52) & 0x7ff) - 1023;
    if (exponent < -126 || exponent > 127)
        return 0;
    /* double has 29 more fraction bits than float: a float midpoint ends in 1 then 28 zeros;
     * 3 units either side of it covers x's error with room */
    const uint64_t low = bits & (((uint64_t)1 << 29) - 1), half = (uint64_t)1 << 28;
    if (low + 3 >= half && low <= half + 3)
        return 0;
    *out = (float)x;
    return 1;
}

/* Parses an optional '-' and decimal digits from [p, end) (never reading at or past end)
 * into *out; *stop is set to the first byte not used. 0, or -1 when there are no digits or
 * the value overflows int64. */
int ct_parse_int64(const char *p, const char *end, int64_t *out, const char **stop);

/* The shortest decimal d * 10^k (d without trailing zeros) that reads back as the positive
 * finite float v, the nearest to v when several are as short (float_format.c). */
void ct_shortest_decimal(float v, uint64_t *d, int *k);


#endif /* CT_API_DECIMAL_H */
