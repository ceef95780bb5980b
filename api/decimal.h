/* decimal.h - exact conversion of a decimal d * 10^k to float32 when double arithmetic can
 * prove the result, shared by the JSON number parser and the shortest float formatter. */
#ifndef CT_API_DECIMAL_H
#define CT_API_DECIMAL_H

#include <stdint.h>

/* 1 and *out = the float nearest to d * 10^k (as strtof would round it); 0 when this fast
 * path cannot be sure (the caller falls back to strtof). */
int ct_decimal_to_float(uint64_t d, int k, float *out);

/* Parses an optional '-' and decimal digits from [p, end) (never reading at or past end)
 * into *out; *stop is set to the first byte not used. 0, or -1 when there are no digits or
 * the value overflows int64. */
int ct_parse_int64(const char *p, const char *end, int64_t *out, const char **stop);

/* The shortest decimal d * 10^k (d without trailing zeros) that reads back as the positive
 * finite float v, the nearest to v when several are as short (float_format.c). */
void ct_shortest_decimal(float v, uint64_t *d, int *k);

/* 10^n as a double for -64 <= n <= 64. */
double ct_pow10(int n);

#endif /* CT_API_DECIMAL_H */
