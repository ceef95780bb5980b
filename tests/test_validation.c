/* test_validation.c - every invalid condition returns its own status and a message naming
 * the field and the rule, checked one by one; plus the overflow-safe shape arithmetic. */
#include <stdlib.h>
#include <string.h>

#include "convtranspose.h"
#include "kernels/igemm.h"
#include "test.h"

typedef struct setup {
    ct_params p;
    ct_shape xs, ws;
    int64_t bias_len;
    int use_bias;
} setup;

/* A valid 2-d layer: input [1, 4, 5, 5], weight [4, 3, 3, 3], groups 2 -> 6 out channels. */
static setup valid(void)
{
    setup s;
    ct_params_init(&s.p, 2);
    s.p.groups = 2;
    s.xs = (ct_shape){4, {1, 4, 5, 5}};
    s.ws = (ct_shape){4, {4, 3, 3, 3}};
    s.bias_len = 6;
    s.use_bias = 1;
    return s;
}

/* Runs create + output_shape; returns the first failing status and its message. */
static ct_status check(const setup *s, char *msg, size_t cap)
{
    static float weight[1 << 16], bias[64];
    ct_plan *plan = NULL;
    msg[0] = '\0';
    int64_t we = ct_shape_elements(&s->ws);
    const float *w = we >= 0 && we <= (1 << 16) ? weight : NULL;
    ct_status st = ct_plan_create(&s->p, &s->ws, w ? w : weight, s->use_bias ? bias : NULL, s->bias_len, &plan, msg, cap);
    if (st == CT_OK) {
        ct_shape os;
        st = ct_plan_output_shape(plan, &s->xs, &os, msg, cap);
    }
    ct_plan_destroy(plan);
    return st;
}

#define EXPECT(s, status, text)                                                                    \
    do {                                                                                           \
        char msg_[400];                                                                            \
        ct_status st_ = check(&(s), msg_, sizeof msg_);                                            \
        if (st_ != (status))                                                                       \
            FAIL("expected %s, got %s: %s", ct_status_name(status), ct_status_name(st_), msg_);    \
        CHECK_CONTAINS(msg_, text);                                                                \
    } while (0)

TEST(validation_valid_layer_passes)
{
    setup s = valid();
    char msg[400];
    CHECK_INT_EQ(check(&s, msg, sizeof msg), CT_OK);
}

TEST(validation_each_rule_has_its_code)
{
    setup s;
    s = valid(); s.p.stride[1] = 0; EXPECT(s, CT_E_STRIDE, "stride[1] = 0: non-positive stride");
    s = valid(); s.p.stride[0] = -2; EXPECT(s, CT_E_STRIDE, "stride[0] = -2");
    s = valid(); s.p.dilation[0] = 0; EXPECT(s, CT_E_DILATION, "dilation[0] = 0: dilation should be greater than zero");
    s = valid(); s.p.groups = 0; EXPECT(s, CT_E_GROUPS, "groups = 0: non-positive groups");
    s = valid(); s.p.pads_begin[1] = -1; EXPECT(s, CT_E_PADDING, "padding[1] = -1: negative padding");
    s = valid(); s.p.pads_end[0] = -1; EXPECT(s, CT_E_PADDING, "negative padding");
    s = valid(); s.p.output_padding[0] = -1; EXPECT(s, CT_E_OUTPUT_PADDING, "negative output_padding");
    s = valid(); s.p.output_padding[1] = 1; EXPECT(s, CT_E_OUTPUT_PADDING, "output_padding[1] = 1: output padding must be smaller than either stride (1) or dilation (1)");
    s = valid(); s.p.groups = 3; s.xs.dims[1] = 3; s.ws.dims[0] = 4; EXPECT(s, CT_E_CHANNELS_GROUPS, "expected weight to be divisible by 3 at dimension 0");
    s = valid(); s.xs.dims[1] = 5; EXPECT(s, CT_E_WEIGHT_SHAPE, "to have 4 channels, but got 5 channels instead");
    s = valid(); s.bias_len = 5; EXPECT(s, CT_E_BIAS_SHAPE, "expected bias to be 1-dimensional with 6 elements, but got bias of size [5]");
    s = valid(); s.p.pads_begin[0] = s.p.pads_end[0] = 4; EXPECT(s, CT_E_OUTPUT_TOO_SMALL, "Output size is too small");
    s = valid(); s.p.output_size_rule = CT_OUTPUT_SIZE_TORCH; s.p.output_size[0] = 8; s.p.output_size[1] = 7;
    s.p.stride[0] = 2; EXPECT(s, CT_E_OUTPUT_SIZE, "output_size[0] = 8: requested an output size of 8, but valid sizes range from 11 to 12");
    s = valid(); s.p.output_size_rule = CT_OUTPUT_SIZE_ONNX; s.p.output_size[1] = 0; s.p.output_size[0] = 3; EXPECT(s, CT_E_OUTPUT_SIZE, "output_shape[1] = 0");
    s = valid(); s.p.has_kernel_shape = 1; s.p.kernel_shape[0] = 3; s.p.kernel_shape[1] = 2; EXPECT(s, CT_E_KERNEL_SHAPE, "kernel_shape[1] = 2 does not match");
    s = valid(); s.p.auto_pad = CT_AUTO_PAD_SAME_UPPER; s.p.pads_begin[0] = 1; EXPECT(s, CT_E_AUTO_PAD, "explicit pads cannot be combined with auto_pad");
    s = valid(); s.xs.rank = 2; EXPECT(s, CT_E_RANK, "expected 3D (unbatched) or 4D (batched) input");
    s = valid(); s.ws.rank = 3; EXPECT(s, CT_E_RANK, "weight: expected a 4-d weight");
    s = valid(); s.p.spatial_dims = 4; EXPECT(s, CT_E_RANK, "spatial_dims = 4");
    s = valid(); s.xs.dims[2] = 0; EXPECT(s, CT_E_SHAPE, "input: dimension 2 is 0");
    s = valid(); s.ws.dims[3] = 0; EXPECT(s, CT_E_SHAPE, "weight: dimension 3 is 0");
    s = valid(); s.p.max_output_elements = 100; EXPECT(s, CT_E_TOO_LARGE, "exceed the limit of 100");
}

TEST(validation_output_padding_may_exceed_stride_below_dilation)
{
    setup s = valid();
    s.p.dilation[0] = 3;
    s.p.output_padding[0] = 2; /* >= stride 1 but < dilation 3: PyTorch allows it */
    char msg[400];
    CHECK_INT_EQ(check(&s, msg, sizeof msg), CT_OK);
}

TEST(validation_overflowing_sizes_are_refused_before_allocating)
{
    setup s = valid();
    s.p.stride[0] = s.p.stride[1] = 1000000; /* the 40-byte request that asks for terabytes */
    s.xs.dims[2] = s.xs.dims[3] = 2;
    s.p.max_output_elements = 64 << 20;
    EXPECT(s, CT_E_TOO_LARGE, "exceed the limit of 67108864");
    s.xs.dims[2] = s.xs.dims[3] = 1000000; /* 6e24 elements: does not even fit int64 */
    EXPECT(s, CT_E_OVERFLOW, "element count overflows");
    s = valid();
    s.p.stride[0] = INT64_MAX / 2;
    s.xs.dims[2] = 1000;
    EXPECT(s, CT_E_OVERFLOW, "overflows");
    s = valid();
    s.xs.dims[0] = INT64_MAX / 4;
    s.p.stride[0] = s.p.stride[1] = 1 << 20;
    s.xs.dims[2] = s.xs.dims[3] = 1 << 20;
    EXPECT(s, CT_E_OVERFLOW, "overflows");
    s = valid();
    s.p.pads_begin[0] = s.p.pads_end[0] = INT64_MAX;
    EXPECT(s, CT_E_OVERFLOW, "overflows");
}

TEST(validation_status_names_are_snake_case_and_unique)
{
    for (int i = 0; i < CT_STATUS_COUNT; i++) {
        const char *a = ct_status_name((ct_status)i);
        for (const char *p = a; *p; p++)
            CHECK((*p >= 'a' && *p <= 'z') || *p == '_');
        for (int j = 0; j < i; j++)
            CHECK(strcmp(a, ct_status_name((ct_status)j)) != 0);
    }
    CHECK_STR_EQ(ct_status_name(CT_E_STRIDE), "invalid_stride");
    CHECK_STR_EQ(ct_status_name((ct_status)999), "unknown_status");
}

/* Builds a plan, checks the output's element count and last dim, runs it on nthreads and
 * checks every output against the naive reference, leaving the fast outputs in y for further
 * checks. Returns the plan's algorithm (a static string). */
static const char *run_against_reference(const ct_params *p, const ct_shape *ws, const float *w, const float *b,
                                         int64_t nb, const ct_shape *xs, const float *x, int64_t out_last, float *y,
                                         int64_t n, int nthreads)
{
    char msg[256];
    ct_plan *plan;
    ct_shape os;
    float *ref = malloc(sizeof(float) * (size_t)n);
    CHECK_INT_EQ(ct_plan_create(p, ws, w, b, nb, &plan, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(ct_plan_output_shape(plan, xs, &os, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(os.dims[os.rank - 1], out_last);
    CHECK_INT_EQ(ct_shape_elements(&os), n);
    CHECK_INT_EQ(ct_plan_run(plan, xs, x, y, nthreads, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(ct_reference_run(p, xs, x, ws, w, b, nb, ref, msg, sizeof msg), CT_OK);
    for (int64_t i = 0; i < n; i++)
        CHECK(y[i] == ref[i]);
    const char *algorithm = ct_plan_algorithm(plan);
    ct_plan_destroy(plan);
    free(ref);
    return algorithm;
}

/* Regression (found by fuzz_params): a dilation of 2^40 with a padding of 2^39 is a valid
 * layer with a 3-element output, but its far tap made the zero border of the padded input
 * 2^40 floats wide. Such layers now run the gather algorithm: same answer, no giant
 * allocation. */
TEST(far_reaching_taps_with_matching_padding_run_without_a_giant_workspace)
{
    ct_params p;
    ct_params_init(&p, 1);
    p.dilation[0] = (int64_t)1 << 40;
    p.pads_begin[0] = p.pads_end[0] = (int64_t)1 << 39;
    ct_shape xs = {3, {1, 1, 3}}, ws = {3, {1, 2, 2}};
    float x[3] = {1, 2, 3}, w[4] = {1, 2, 3, 4}, b[2] = {0.5f, -1}, y[6];
    run_against_reference(&p, &ws, w, b, 2, &xs, x, 3, y, 6, 2);
    for (int i = 0; i < 6; i++)
        CHECK(y[i] == b[i / 3]); /* every tap lands outside: bias only */
}

/* The same in 3-d with moderately far taps in every dim (each 2^12 away): the borders
 * multiply, so the plane would grow by 2^39 without the gather path. */
TEST(far_taps_in_every_dim_multiply_and_take_the_gather_path)
{
    ct_params p;
    ct_params_init(&p, 3);
    for (int d = 0; d < 3; d++) {
        p.dilation[d] = 1 << 12;
        p.pads_begin[d] = p.pads_end[d] = 1 << 11;
    }
    ct_shape xs = {5, {1, 1, 2, 2, 2}}, ws = {5, {1, 1, 2, 2, 2}};
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, w[8] = {1, 1, 1, 1, 1, 1, 1, 1}, y[8];
    run_against_reference(&p, &ws, w, NULL, 0, &xs, x, 2, y, 8, 1);
}

/* Regression (found by fuzz_params): a stride near INT64_MAX on a length-1 input is a valid
 * layer with a small output; rounding (pad - r + stride - 1) / stride overflowed. */
TEST(stride_near_int64_max_runs_without_overflow)
{
    ct_params p;
    ct_params_init(&p, 1);
    p.stride[0] = INT64_MAX - 1;
    p.pads_begin[0] = p.pads_end[0] = 7;
    ct_shape xs = {3, {1, 1, 1}}, ws = {3, {1, 1, 16}};
    float x[1] = {2}, w[16], y[2];
    for (int i = 0; i < 16; i++)
        w[i] = (float)i;
    run_against_reference(&p, &ws, w, NULL, 0, &xs, x, 2, y, 2, 1); /* 16 - 14 outputs */
    CHECK(y[0] == 14 && y[1] == 16); /* taps 7 and 8, times 2 */
}

/* Regression (found by fuzz_params): ONNX output_shape 13 with an output_padding of 2^58
 * (allowed: below the dilation) derives a padding of about 2^57, so every output row lies far
 * past the input. The padded input used to span [0, 2^57); it now spans the rows read. */
TEST(huge_derived_padding_moves_the_window_not_the_buffer)
{
    ct_params p;
    ct_params_init(&p, 1);
    p.dilation[0] = INT64_MAX;
    p.output_padding[0] = (int64_t)1 << 58;
    p.output_size_rule = CT_OUTPUT_SIZE_ONNX;
    p.output_size[0] = 13;
    ct_shape xs = {2, {3, 1}}, ws = {3, {3, 2, 1}};
    float x[3] = {1, 2, 3}, w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {0.25f, -2}, y[26];
    run_against_reference(&p, &ws, w, b, 2, &xs, x, 13, y, 26, 2);
    for (int i = 0; i < 26; i++)
        CHECK(y[i] == b[i / 13]);
}

/* Regression (found by fuzz_params): a depthwise layer (one input channel) whose ONNX
 * output_shape derives a padding near 2^58: the padded row's origin is then that far away,
 * and the row pointer was formed by subtracting it before adding the column back (a pointer
 * overflow that UBSan reports). Columns are now offset from the origin as integers. */
TEST(depthwise_far_origin_offsets_columns_as_integers)
{
    ct_params p;
    ct_params_init(&p, 1);
    p.stride[0] = 7;
    p.dilation[0] = INT64_MAX;
    p.output_padding[0] = ((int64_t)1 << 58) + 240;
    p.output_size_rule = CT_OUTPUT_SIZE_ONNX;
    p.output_size[0] = 9;
    ct_shape xs = {3, {1, 1, 1}}, ws = {3, {1, 1, 1}};
    float x[1] = {3}, w[1] = {2}, b[1] = {0.5f}, y[9];
    CHECK(strstr(run_against_reference(&p, &ws, w, b, 1, &xs, x, 9, y, 9, 1), "depthwise") != NULL);
}

/* Regression (found by fuzz_params): a depthwise layer with a begin padding of INT64_MAX (and
 * a stride just below it, so the output is 15 wide). The depthwise path computed padding + 1
 * (the q shift that lines up the two x-phases of a stride-2 row) for every phase; the shifts
 * now come from padding - 1. */
TEST(depthwise_padding_int64_max_pairs_without_overflow)
{
    ct_params p;
    ct_params_init(&p, 1);
    p.groups = 10;
    p.stride[0] = INT64_MAX - 1;
    p.dilation[0] = 4;
    p.pads_begin[0] = INT64_MAX;
    p.pads_end[0] = 15;
    p.output_size_rule = CT_OUTPUT_SIZE_TORCH;
    p.output_size[0] = 15;
    ct_shape xs = {2, {10, 1}}, ws = {3, {10, 7, 13}};
    float x[10], w[910], b[70], y[70 * 15];
    for (int i = 0; i < 10; i++)
        x[i] = (float)(i - 4);
    for (int i = 0; i < 910; i++)
        w[i] = (float)(i % 7 - 3);
    for (int i = 0; i < 70; i++)
        b[i] = (float)(i % 5);
    CHECK(strstr(run_against_reference(&p, &ws, w, b, 70, &xs, x, 15, y, 70 * 15, 2), "depthwise") != NULL);
}

/* Regression (found by fuzz_params in CI): 2-d depthwise layers with a row stride near
 * INT64_MAX (one input row, so each phase has one output row). The distance between a
 * phase's output rows, stride * width, overflowed although no second row exists; the
 * streamed bands' row rounding (a - oy0 + stride - 1) overflowed the same way. Each layer
 * runs in place and streamed (the cache size forced down to 1 byte). */
static void run_huge_row_stride(int64_t groups, int64_t kh, int64_t dilation, int64_t pad, int64_t width)
{
    ct_params p;
    ct_params_init(&p, 2);
    p.groups = groups;
    p.stride[0] = INT64_MAX - 1;
    p.pads_begin[0] = p.pads_end[0] = pad;
    p.dilation[0] = dilation;
    const int64_t out_h = (kh - 1) * dilation + 1 - 2 * pad, nx = groups * width, nw = groups * kh;
    ct_shape xs = {4, {1, groups, 1, width}}, ws = {4, {groups, 1, kh, 1}};
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)groups), *y = malloc(sizeof(float) * (size_t)(nx * out_h));
    for (int64_t i = 0; i < nx; i++)
        x[i] = (float)(i % 5 - 2);
    for (int64_t i = 0; i < nw; i++)
        w[i] = (float)(i % 7 - 3);
    for (int64_t i = 0; i < groups; i++)
        b[i] = 0.25f * (float)i;
    for (int stream = 0; stream < 2; stream++) {
        ct__force_llc_bytes(stream);
        CHECK(strstr(run_against_reference(&p, &ws, w, b, groups, &xs, x, width, y, nx * out_h, 2), "depthwise"));
        ct__force_llc_bytes(0);
    }
    free(x);
    free(w);
    free(b);
    free(y);
}

TEST(depthwise_row_stride_near_int64_max_runs_in_place_and_streamed)
{
    run_huge_row_stride(2, 16, 200, 7, 3); /* 2987 rows, one phase each */
    run_huge_row_stride(1, 8, 1, 0, 512);  /* 8 rows of 512 in bands of 4: bands start past rows */
}
