/* suite.h - the benchmark suite file (format in the header of ../shared/bench/suite.tsv):
 * parsing its rows into layers, and a layer's params, shapes and nominal FLOPs. Shared by
 * ctbench and ctabi. */
#ifndef CT_BENCH_SUITE_H
#define CT_BENCH_SUITE_H

#include "convtranspose.h"

typedef struct bench_row {
    char name[64];
    int64_t batch, cin, cout, groups;
    int nd;
    int64_t input[3], kernel[3], stride[3], padding[3], output_padding[3], dilation[3];
} bench_row;

/* Calls fn for every layer of the suite file whose name is in only (comma-separated; every
 * layer when only is NULL). Returns the number of failures (fn's nonzero returns and rows
 * that do not parse), or -1 when the file cannot be read. */
int suite_for_each(const char *file, const char *only, int (*fn)(const bench_row *r, void *ctx), void *ctx);

/* qsort's comparison of doubles. */
int suite_cmp_double(const void *a, const void *b);

/* The layer's params, input and weight shapes; returns its nominal FLOPs (suite header). */
double suite_layer(const bench_row *r, ct_params *p, ct_shape *xs, ct_shape *ws);

/* Deterministic input and weight data for a layer (the caller frees both). */
void suite_data(const ct_shape *xs, const ct_shape *ws, float **x, float **w);

/* n floats on a 64-byte line boundary, as the service allocates its outputs (api/execute.c);
 * NULL when out of memory. Freed with free(). */
float *suite_tensor(int64_t n);

/* Seconds on the monotonic clock. */
double suite_now(void);

#endif /* CT_BENCH_SUITE_H */
