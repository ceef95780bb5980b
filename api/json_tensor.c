/* json_tensor.c - tensors read with the JSON scanner (json_scan.h): nested lists of numbers
 * whose first path fixes the shape, {"shape", "data"} objects, flat number arrays and
 * integer lists, straight into float buffers bounded by max_elements while they are read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "json_scan.h"

/* How many of the 8 bytes at p are digits, from the first: SWAR, one load. A byte below
 * '0' borrows into the bytes after it, a byte above '9' carries into them, and neither
 * matters: only bytes before the first non-digit count. */
static int leading_digits8(const char *p, uint64_t *values)
{
    uint64_t v;
    memcpy(&v, p, 8);
    const uint64_t t = v - 0x3030303030303030u;
    const uint64_t nondigit = (t | (t + 0x7676767676767676u)) & 0x8080808080808080u;
    *values = t;
    return nondigit ? __builtin_ctzll(nondigit) >> 3 : 8;
}

/* The number the first n (1 to 8) digit values of t (byte 0 the most significant) make. */
static uint64_t digits8_value(uint64_t t, int n)
{
    t <<= 8 * (8 - n); /* the n digits to the top bytes, zeros in front */
    t = t * 10 + (t >> 8);
    return (((t & 0x000000FF000000FFu) * (100 + (1000000ull << 32))) +
            (((t >> 16) & 0x000000FF000000FFu) * (1 + (10000ull << 32)))) >> 32;
}

static const uint64_t pow10_u64[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/* Appends the digits at *pp to m while it holds fewer than 19 significant digits (m below
 * 10^18 before a digit, below 10^11 before eight), so that it never overflows; later digits
 * are only counted in *dropped and whether any was nonzero in *truncated. Returns how many
 * digits were read. Eight at a time while 8 bytes remain. */
static inline __attribute__((always_inline)) int64_t scan_digits(const char **pp, const char *end, uint64_t *m, int *dropped,
                                                                 int *truncated)
{
    const char *p = *pp, *start = p;
    for (;;) {
        uint64_t t;
        int n;
        if (end - p >= 8 && *m < 100000000000u && (n = leading_digits8(p, &t)) > 0) {
            *m = *m * pow10_u64[n] + digits8_value(t, n);
            p += n;
            if (n < 8)
                break;
            continue;
        }
        if (p >= end || *p < '0' || *p > '9')
            break;
        if (*m < 1000000000000000000u) {
            *m = *m * 10 + (uint64_t)(*p - '0');
        } else {
            ++*dropped;
            *truncated |= *p != '0';
        }
        p++;
    }
    *pp = p;
    return p - start;
}

/* Reads one JSON number as the nearest float: an exact fast path (decimal.h), strtof as
 * the fallback, so every value is the correctly rounded float. */
static inline __attribute__((always_inline)) int scan_number(ct_json_scan *s, float *out, ct_api_error *err)
{
    const char *p = s->p, *end = s->end, *token = p;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return ct_scan_error(s, "expected a number", err);
    uint64_t m = 0;
    int exp10 = 0, truncated = 0, dropped = 0;
    if (*p == '0')
        p++;
    else
        scan_digits(&p, end, &m, &dropped, &truncated);
    exp10 += dropped; /* integer digits past the 19th scale the value up */
    if (p < end && *p == '.') {
        p++;
        dropped = 0;
        const int64_t n = scan_digits(&p, end, &m, &dropped, &truncated);
        if (n == 0)
            return ct_scan_error(s, "expected a digit after '.'", err);
        exp10 -= (int)((n - dropped) < 100000 ? n - dropped : 100000); /* fraction digits kept */
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0, e = 0;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9')
            return ct_scan_error(s, "expected a digit in the exponent", err);
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (e < 100000)
                e = e * 10 + (*p - '0');
        exp10 += eneg ? -e : e;
    }
    float v;
    if (truncated || !ct_decimal_to_float(m, exp10, &v)) {
        char tmp[400];
        size_t len = (size_t)(p - token);
        if (len >= sizeof tmp)
            return ct_scan_error(s, "number too long", err);
        memcpy(tmp, token, len);
        tmp[len] = '\0';
        v = strtof(tmp, NULL);
        neg = 0; /* the sign was part of the token */
        if (isinf(v)) { /* JSON has no infinity: a number past float32's range is the client's error */
            char what[160];
            snprintf(what, sizeof what, "the number %.40s overflows float32 (largest finite: 3.4028235e38)", tmp);
            return ct_scan_error(s, what, err);
        }
    }
    *out = neg ? -v : v;
    s->p = p;
    return 0;
}

/* A growing float array bounded by max_elements. */
typedef struct float_list {
    float *data;
    int64_t len, cap, max;
    const char *field; /* the tensor's name, for messages */
} float_list;

static int push(float_list *l, float v, ct_api_error *err)
{
    if (l->len == l->cap) {
        if (l->max > 0 && l->len >= l->max)
            return ct_api_fail(err, 413, "too_many_elements", "%s: the tensor has more elements than the limit of %lld", l->field,
                               (long long)l->max);
        int64_t cap = l->cap ? l->cap * 2 : 1024;
        if (l->max > 0 && cap > l->max)
            cap = l->max;
        float *d = realloc(l->data, sizeof(float) * (size_t)cap);
        if (!d)
            return ct_api_fail(err, 503, "out_of_memory", "%s: out of memory", l->field);
        l->data = d;
        l->cap = cap;
    }
    l->data[l->len++] = v;
    return 0;
}

int64_t ct_scan_list(ct_json_scan *s, ct_scan_element_fn element, void *ctx, ct_api_error *err)
{
    s->p++;
    if (ct_scan_peek(s) == ']') {
        s->p++;
        return 0;
    }
    for (int64_t n = 1;; n++) {
        if (element(s, ctx, err) != 0)
            return -1;
        const int more = ct_scan_next(s, ']', err);
        if (more <= 0)
            return more < 0 ? -1 : n;
    }
}

/* Reads one number into l: 0, -1 (err set), or -2 when no number starts here (err not set:
 * the caller names what it expected, so messages cost nothing on the hot path). */
static int scan_float_into(ct_json_scan *s, float_list *l, ct_api_error *err)
{
    char c = ct_scan_peek(s);
    if (c != '-' && (c < '0' || c > '9'))
        return c ? -2 : ct_scan_error(s, "unexpected end of input", err);
    float v = 0.0f; /* GCC cannot tell that scan_number sets it whenever it returns 0 */
    return scan_number(s, &v, err) != 0 ? -1 : push(l, v, err);
}

/* Nested lists of numbers: the first path down fixes the shape, every later list must match. */
typedef struct nested_ctx {
    const char *field;
    int depth;             /* of the elements */
    ct_shape *shape;
    int *rank_known;
    float_list *l;
} nested_ctx;

/* Whether a number may stand at c's depth: the first number seen fixes the rank (the
 * depth of numbers); err names the list that breaks it. */
static int number_depth_ok(const nested_ctx *c, ct_api_error *err)
{
    if (!*c->rank_known) {
        c->shape->rank = c->depth;
        *c->rank_known = 1;
    }
    if (c->depth != c->shape->rank) {
        ct_api_fail(err, 400, "invalid_tensor", "%s: ragged nested list: a number at depth %d, lists at depth %d elsewhere", c->field,
                    c->depth, c->shape->rank);
        return 0;
    }
    return 1;
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* A list at s->p ('[') whose numbers go straight into l, in one loop with no call per
 * element: the shape of most tensors' data. Any other element is element()'s (a nested
 * list, or the error it names); a separator that is neither ',' nor ']' is ct_scan_next's
 * error. With depth (nested lists), each number must stand at the rank's depth. Returns
 * the element count, or -1. */
static int64_t scan_number_list(ct_json_scan *s, float_list *l, ct_scan_element_fn element, void *ctx, const nested_ctx *depth,
                                ct_api_error *err)
{
    const char *const end = s->end;
    s->p = skip_space(s->p + 1, end);
    if (s->p < end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (int64_t n = 1;; n++) {
        const char c = s->p < end ? *s->p : 0;
        float v = 0.0f; /* as in scan_float_into */
        if ((c >= '0' && c <= '9') || c == '-') {
            if ((depth && !number_depth_ok(depth, err)) || scan_number(s, &v, err) != 0 || push(l, v, err) != 0)
                return -1;
        } else if (element(s, ctx, err) != 0) {
            return -1;
        }
        const char *p = skip_space(s->p, end);
        if (p < end && *p == ',') {
            s->p = skip_space(p + 1, end);
            continue;
        }
        s->p = p;
        if (p < end && *p == ']') {
            s->p++;
            return n;
        }
        return ct_scan_next(s, ']', err) < 0 ? -1 : n; /* the error: never 0 past an element */
    }
}


/* One element of a nested list at c->depth (a nested_ctx; void * as ct_scan_list calls it):
 * a number, or a list whose elements recurse here. */
static int scan_nested(ct_json_scan *s, void *ctx, ct_api_error *err)
{
    const nested_ctx *c = ctx;
    const int depth = c->depth;
    ct_shape *shape = c->shape;
    if (ct_scan_peek(s) != '[') {
        if (!number_depth_ok(c, err))
            return -1;
        int rc = scan_float_into(s, c->l, err);
        return rc != -2 ? rc : ct_api_fail(err, 400, "invalid_tensor", "%s: expected a number at nesting depth %d", c->field, depth);
    }
    if (*c->rank_known && depth >= shape->rank)
        return ct_api_fail(err, 400, "invalid_tensor", "%s: ragged nested list: a list at depth %d, numbers there elsewhere", c->field, depth);
    if (depth >= CT_MAX_RANK || depth >= s->max_depth)
        return ct_api_fail(err, 400, "invalid_rank", "%s: nested deeper than %d levels", c->field, CT_MAX_RANK);
    nested_ctx inner = *c;
    inner.depth = depth + 1;
    const int64_t count = scan_number_list(s, c->l, scan_nested, &inner, &inner, err);
    if (count < 0)
        return -1;
    if (count == 0 && !*c->rank_known) { /* an empty list ends the shape here */
        shape->dims[depth] = 0;
        shape->rank = depth + 1;
        *c->rank_known = 1;
        return 0;
    }
    /* The first completed list at each depth sets that dim; the rest must agree. */
    if (shape->dims[depth] < 0)
        shape->dims[depth] = count;
    else if (shape->dims[depth] != count)
        return ct_api_fail(err, 400, "invalid_tensor", "%s: ragged nested list: dimension %d should have %lld elements everywhere", c->field,
                           depth, (long long)shape->dims[depth]);
    return 0;
}

/* An element of a flat data list that is not a number (those never get here): the error. */
static int flat_element(ct_json_scan *s, void *ctx, ct_api_error *err)
{
    const float_list *l = ctx;
    if (ct_scan_peek(s) == '[')
        return ct_api_fail(err, 400, "invalid_tensor", "%s.data: must be a flat list of numbers (with \"shape\" beside it)", l->field);
    return ct_api_fail(err, 400, "invalid_tensor", "%s.data[%lld]: must be a number", l->field, (long long)l->len);
}

static int scan_flat(ct_json_scan *s, const char *field, float_list *l, ct_api_error *err)
{
    if (ct_scan_peek(s) != '[')
        return ct_api_fail(err, 400, "invalid_tensor", "%s.data: must be a flat list of numbers", field);
    return scan_number_list(s, l, flat_element, l, NULL, err) < 0 ? -1 : 0;
}

typedef struct int_list_ctx {
    const char *field;
    ct_shape *shape;
} int_list_ctx;

static int int_element(ct_json_scan *s, void *ctx, ct_api_error *err)
{
    int_list_ctx *c = ctx;
    const char *endp;
    int64_t v;
    ct_scan_peek(s);
    if (ct_parse_int64(s->p, s->end, &v, &endp) != 0 || v < 0 || (endp < s->end && (*endp == '.' || *endp == 'e' || *endp == 'E')))
        return ct_api_fail(err, 400, "invalid_tensor", "%s.shape[%d]: must be a non-negative integer", c->field, c->shape->rank);
    if (c->shape->rank == CT_MAX_RANK)
        return ct_api_fail(err, 400, "invalid_rank", "%s.shape: at most %d dims are supported", c->field, CT_MAX_RANK);
    c->shape->dims[c->shape->rank++] = v;
    s->p = endp;
    return 0;
}

int ct_scan_int_list(ct_json_scan *s, const char *field, ct_shape *shape, ct_api_error *err)
{
    if (ct_scan_peek(s) != '[')
        return ct_api_fail(err, 400, "invalid_tensor", "%s.shape: must be a list of non-negative integers", field);
    shape->rank = 0;
    int_list_ctx c = {field, shape};
    return ct_scan_list(s, int_element, &c, err) < 0 ? -1 : 0;
}

/* The members of a {"shape", "data", "dtype"} tensor. */
typedef struct tensor_ctx {
    const char *field;
    ct_tensor *t;
    float_list *l;
    int have_shape, have_data;
} tensor_ctx;

#define JSON_DTYPES "\"float32\", \"float16\", \"bfloat16\" and \"float64\""

static int tensor_member(ct_json_scan *s, const char *key, void *ctx, ct_api_error *err)
{
    tensor_ctx *c = ctx;
    if (strcmp(key, "shape") == 0 && !c->have_shape) {
        c->have_shape = 1;
        return ct_scan_int_list(s, c->field, &c->t->shape, err);
    }
    if (strcmp(key, "data") == 0 && !c->have_data) {
        c->have_data = 1;
        return scan_flat(s, c->field, c->l, err);
    }
    if (strcmp(key, "dtype") == 0) {
        char dtype[16];
        if (ct_scan_peek(s) != '"' || ct_scan_string(s, dtype, sizeof dtype, err) != 0)
            return ct_api_fail(err, 400, "invalid_tensor", "%s.dtype: must be a string: " JSON_DTYPES, c->field);
        if (ct_dtype_from_name(dtype, &c->t->dtype) != 0)
            return ct_api_fail(err, 415, "unsupported_dtype", "%s.dtype: '%.15s' is not supported; " JSON_DTYPES " are", c->field, dtype);
        return 0;
    }
    return ct_api_fail(err, 400, "invalid_tensor", "%s.%s: unknown or repeated key; a tensor has shape, data and dtype", c->field, key);
}

int ct_scan_tensor(ct_json_scan *s, const char *field, int64_t max_elements, ct_tensor *t, ct_api_error *err)
{
    float_list l = {.max = max_elements, .field = field};
    t->data = NULL;
    t->dtype = CT_DTYPE_FLOAT32;
    memset(&t->shape, 0, sizeof t->shape);
    char c = ct_scan_peek(s);
    if (c == '[') {
        int rank_known = 0;
        for (int i = 0; i < CT_MAX_RANK; i++)
            t->shape.dims[i] = -1;
        nested_ctx c = {field, 0, &t->shape, &rank_known, &l};
        if (scan_nested(s, &c, err) != 0)
            goto fail;
    } else if (c == '{') {
        tensor_ctx tc = {field, t, &l, 0, 0};
        if (ct_scan_object(s, tensor_member, &tc, err) != 0)
            goto fail;
        int have_shape = tc.have_shape, have_data = tc.have_data;
        if (!have_shape) {
            ct_api_fail(err, 400, "invalid_tensor", "%s.shape: must be a list of non-negative integers", field);
            goto fail;
        }
        if (!have_data) {
            ct_api_fail(err, 400, "invalid_tensor", "%s.data: must be a flat list of numbers", field);
            goto fail;
        }
        int64_t count = ct_shape_elements(&t->shape);
        if (count < 0 || (max_elements > 0 && count > max_elements)) {
            ct_api_fail(err, 413, "too_many_elements", "%s: the tensor has more elements than the limit of %lld", field,
                        (long long)max_elements);
            goto fail;
        }
        if (count != l.len) {
            ct_api_fail(err, 400, "invalid_tensor", "%s.data: has %lld numbers but shape needs %lld", field, (long long)l.len,
                        (long long)count);
            goto fail;
        }
    } else if (c == 0) {
        ct_scan_error(s, "unexpected end of input", err);
        goto fail;
    } else {
        ct_api_fail(err, 400, "invalid_tensor", "%s: must be {\"shape\": [...], \"data\": [...]} or a nested list", field);
        goto fail;
    }
    t->data = l.data ? l.data : malloc(sizeof(float));
    if (!t->data)
        return ct_api_fail(err, 503, "out_of_memory", "%s: out of memory", field);
    ct_f32_round_to(t->dtype, t->data, l.len); /* numbers of a float16 tensor: its nearest values */
    return 0;
fail:
    free(l.data);
    return -1;
}

/* Reads numbers in lists nested to any depth (up to the scanner's max_depth), flattened. */
typedef struct any_ctx {
    const char *field;
    int depth;
    float_list *l;
} any_ctx;

/* A number, or a list of them nested to any depth (an any_ctx, as scan_nested). */
static int scan_any_numbers(ct_json_scan *s, void *ctx, ct_api_error *err)
{
    const any_ctx *c = ctx;
    if (ct_scan_peek(s) != '[') {
        int rc = scan_float_into(s, c->l, err);
        return rc != -2 ? rc : ct_api_fail(err, 400, "invalid_tensor", "%s: expected a number", c->field);
    }
    if (c->depth >= s->max_depth)
        return ct_api_fail(err, 400, "invalid_tensor", "%s: nested too deeply", c->field);
    any_ctx inner = {c->field, c->depth + 1, c->l};
    return scan_number_list(s, c->l, scan_any_numbers, &inner, NULL, err) < 0 ? -1 : 0;
}

int ct_scan_number_array(ct_json_scan *s, const char *field, int64_t max_elements, float **data, int64_t *count, ct_api_error *err)
{
    float_list l = {.max = max_elements, .field = field};
    *data = NULL;
    *count = 0;
    any_ctx c = {field, 0, &l};
    if (scan_any_numbers(s, &c, err) != 0) {
        free(l.data);
        return -1;
    }
    *data = l.data ? l.data : malloc(sizeof(float));
    *count = l.len;
    return *data ? 0 : ct_api_fail(err, 503, "out_of_memory", "%s: out of memory", field);
}
