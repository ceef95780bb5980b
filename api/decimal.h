/* decimal.h - exact conversion of a decimal d * 10^k to float32 when double arithmetic can
 * prove the result, shared by the JSON number parser and the shortest float formatter. */
#ifndef CT_API_DECIMAL_H
#define CT_API_DECIMAL_H

#include <stdint.h>

/* 1 and *out = the float nearest to d * 10^k (as strtof would round it); 0 when this fast
 * path cannot be sure (the caller falls back to strtof). */
int ct_decimal_to_float(uint64_t d, int k, float *out);

/* 10^n as a double for -64 <= n <= 64. */
double ct_pow10(int n);

#endif /* CT_API_DECIMAL_H */
