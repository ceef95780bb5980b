/* json_scan.h - a small JSON scanner for the hot path of request parsing: it walks the
 * request's top-level object and reads tensors (nested lists or {"shape", "data"}) straight
 * into float buffers, with no value object per number. Everything else (small
 * hyperparameter values) is handed to jansson as a span of text. */
#ifndef CT_API_JSON_SCAN_H
#define CT_API_JSON_SCAN_H

#include <stddef.h>

#include "api.h"

typedef struct ct_json_scan {
    const char *start;   /* the whole document, for line/column in messages */
    const char *p;       /* current position */
    const char *end;
    int max_depth;
} ct_json_scan;

/* Skips white space; returns the next byte or 0 at the end. */
char ct_scan_peek(ct_json_scan *s);

/* Reads a string token into buf (escapes decoded; cap includes the NUL). 0 or -1. */
int ct_scan_string(ct_json_scan *s, char *buf, size_t cap, ct_api_error *err);

/* Expects the byte c (after white space). 0 or -1. */
int ct_scan_expect(ct_json_scan *s, char c, ct_api_error *err);

/* After an element of a list or an object: 1 when a ',' announces another, 0 when the
 * closing byte `close` ends it (either consumed), -1 with err otherwise. */
int ct_scan_next(ct_json_scan *s, char close, ct_api_error *err);

/* Only white space may follow: the document ends here. 0 or -1 with err. */
int ct_scan_end(ct_json_scan *s, ct_api_error *err);

/* Reads a list whose '[' is next (the caller checked it): element() reads each element, and
 * the commas and the closing ']' are handled here. Returns the element count, or -1. */
typedef int (*ct_scan_element_fn)(ct_json_scan *s, void *ctx, ct_api_error *err);
int64_t ct_scan_list(ct_json_scan *s, ct_scan_element_fn element, void *ctx, ct_api_error *err);

/* Reads an object whose '{' is next: for each member, the key and ':' are read here and
 * member() reads the value; the commas and the closing '}' are handled here. 0, or -1 with
 * err (member's own, or the scanner's). */
typedef int (*ct_scan_member_fn)(ct_json_scan *s, const char *key, void *ctx, ct_api_error *err);
int ct_scan_object(ct_json_scan *s, ct_scan_member_fn member, void *ctx, ct_api_error *err);

/* Skips one value of any type, setting [*from, *to) to its text. 0 or -1. */
int ct_scan_skip_value(ct_json_scan *s, const char **from, const char **to, ct_api_error *err);

/* Reads a tensor value: nested lists of numbers, or {"shape": [...], "data": [...],
 * "dtype": ...}. field names the tensor in messages. max_elements (0 = none) is enforced
 * while reading. 0 or -1; on success t owns its data. */
int ct_scan_tensor(ct_json_scan *s, const char *field, int64_t max_elements, ct_tensor *t, ct_api_error *err);

/* Reads a list of non-negative integers (a shape) of at most CT_MAX_RANK. 0 or -1. */
int ct_scan_int_list(ct_json_scan *s, const char *field, ct_shape *shape, ct_api_error *err);

/* Reads numbers in lists nested to any depth, flattened in order, into a new float array
 * (*data, *count; the caller frees). max_elements (0 = none) is enforced while reading. */
int ct_scan_number_array(ct_json_scan *s, const char *field, int64_t max_elements, float **data, int64_t *count,
                         ct_api_error *err);

/* Fails with "invalid JSON at line L, column C: what" for the current position. */
int ct_scan_error(ct_json_scan *s, const char *what, ct_api_error *err);

#endif /* CT_API_JSON_SCAN_H */
