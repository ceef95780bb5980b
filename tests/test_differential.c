/* test_differential.c - the fast plan against the naive reference on random layers: every
 * dim count, groups, stride, padding (symmetric and ONNX asymmetric, auto_pad, output_shape,
 * PyTorch output_size), output_padding, dilation, bias, unbatched input, channel counts that
 * straddle every kernel's MR, and each ISA this CPU has. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "convtranspose.h"
#include "kernels/igemm.h"
#include "api.h"
#include "plan.h"
#include "test.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static int64_t rnd_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rnd_float(void) { return (float)((int)(rnd() % 2001) - 1000) / 1000.0f; }

typedef struct layer {
    ct_params p;
    ct_shape xs, ws;
    int has_bias;
} layer;

/* Set: 1-d layers with rows long enough that the fast path cuts them into segments. */
static int long_rows;
/* Set: layers with more (channel, tap) terms than one K chunk, with bias. */
static int wide_k;
/* Set: depthwise layers (one input channel per group) with rows long enough for the row
 * kernels' unrolled steps. */
static int depthwise;
/* Set: batches of 5 to 16 images, run on 1 to 4 threads (more than this machine's cores), so
 * images reuse the padded slots of earlier ones while threads wait on each other. */
static int many_images;
/* Set: stride 2 in the last dim, rows up to 40 wide: the x-phases whose outputs interleave
 * are computed as pairs and zipped (algo/phase_igemm.c), whole vectors and row tails. */
static int x_stride_2;
/* Set: 2-d and 3-d layers whose phase rows are narrower than a vector, several to a plane:
 * their pixels share vectors across rows (the flat layout, plan.h). */
static int narrow_rows;
/* Set: up to 4 output channels per group from 16 to 40 input channels, the GEMM + col2im
 * path's layers (algo/gemm_col2im.c). */
static int few_outputs;
/* Floats past a 64-byte line at which the fast path's output starts (0: on a line). */
static int output_misalign;

static void random_layer(layer *L)
{
    int nd = long_rows ? 1 : narrow_rows ? (int)rnd_in(2, 3) : (int)rnd_in(1, 3);
    ct_params_init(&L->p, nd);
    L->p.groups = rnd_in(1, 3);
    int64_t cin_g = wide_k ? rnd_in(2100, 2600) : depthwise ? 1 : few_outputs ? rnd_in(16, 40) : rnd_in(long_rows ? 2 : 1, 5);
    int64_t cout_g = depthwise ? rnd_in(1, 3) : few_outputs ? rnd_in(1, 4) : rnd_in(1, narrow_rows ? 30 : 14);
    int batched = many_images || rnd() % 4 != 0;
    int64_t batch = many_images ? rnd_in(5, 16) : batched ? rnd_in(1, 3) : 1;
    int r = 0;
    if (batched)
        L->xs.dims[r++] = batch;
    L->xs.dims[r++] = cin_g * L->p.groups;
    L->ws.dims[0] = cin_g * L->p.groups;
    L->ws.dims[1] = cout_g;
    int64_t max_in = wide_k || narrow_rows ? 5 : nd == 1 ? 40 : nd == 2 ? (depthwise ? 48 : 12) : 6;
    int64_t max_k = nd == 3 ? 3 : 5;
    for (int d = 0; d < nd; d++) {
        const int zip_dim = x_stride_2 && d == nd - 1;
        L->xs.dims[r++] = long_rows ? rnd_in(400, 900) : rnd_in(1, zip_dim ? 40 : max_in);
        int64_t k = rnd_in(1, max_k);
        L->ws.dims[2 + d] = k;
        L->p.stride[d] = zip_dim ? 2 : rnd_in(1, 4);
        L->p.dilation[d] = rnd() % 3 == 0 ? rnd_in(2, 3) : 1;
        int64_t span = L->p.dilation[d] * (k - 1);
        int64_t opmax = (L->p.stride[d] > L->p.dilation[d] ? L->p.stride[d] : L->p.dilation[d]) - 1;
        L->p.output_padding[d] = rnd() % 2 ? rnd_in(0, opmax) : 0;
        L->p.pads_begin[d] = rnd() % 2 ? rnd_in(0, span) : 0;
        L->p.pads_end[d] = L->p.pads_begin[d];
    }
    L->xs.rank = r;
    L->ws.rank = nd + 2;
    L->has_bias = wide_k || rnd() % 2;
    switch (rnd() % 6) {
    case 0: /* ONNX asymmetric pads */
        for (int d = 0; d < nd; d++)
            L->p.pads_end[d] = rnd_in(0, L->p.dilation[d] * (L->ws.dims[2 + d] - 1));
        break;
    case 1: /* ONNX auto_pad */
        L->p.auto_pad = (ct_auto_pad)rnd_in(1, 3);
        for (int d = 0; d < nd; d++)
            L->p.pads_begin[d] = L->p.pads_end[d] = 0;
        break;
    case 2: /* ONNX output_shape, SAME_UPPER or NOTSET splitting */
        L->p.output_size_rule = CT_OUTPUT_SIZE_ONNX;
        L->p.auto_pad = rnd() % 2 ? CT_AUTO_PAD_SAME_UPPER : CT_AUTO_PAD_NOTSET;
        for (int d = 0; d < nd; d++) {
            L->p.pads_begin[d] = L->p.pads_end[d] = 0;
            int64_t in = L->xs.dims[L->xs.rank - nd + d];
            L->p.output_size[d] = rnd_in(1, in * L->p.stride[d] + 3);
        }
        break;
    case 3: { /* PyTorch output_size */
        L->p.output_size_rule = CT_OUTPUT_SIZE_TORCH;
        for (int d = 0; d < nd; d++) {
            int64_t in = L->xs.dims[L->xs.rank - nd + d];
            int64_t min = (in - 1) * L->p.stride[d] - 2 * L->p.pads_begin[d] +
                          L->p.dilation[d] * (L->ws.dims[2 + d] - 1) + 1;
            L->p.output_size[d] = min + rnd_in(0, L->p.stride[d] - 1);
        }
        break;
    }
    default:
        break;
    }
}

static float *random_tensor(int64_t n)
{
    float *t = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++)
        t[i] = rnd_float();
    return t;
}

/* Returns 1 when the layer was valid and compared. */
static int compare_one(const layer *L, int nthreads)
{
    char msg[256];
    int64_t cout = L->ws.dims[1] * L->p.groups;
    float *x = random_tensor(ct_shape_elements(&L->xs));
    float *w = random_tensor(ct_shape_elements(&L->ws));
    float *b = L->has_bias ? random_tensor(cout) : NULL;
    ct_plan *plan = NULL;
    ct_shape os;
    int compared = 0;
    if (ct_plan_create(&L->p, &L->ws, w, b, cout, &plan, msg, sizeof msg) != CT_OK ||
        ct_plan_output_shape(plan, &L->xs, &os, msg, sizeof msg) != CT_OK)
        goto done;
    int64_t n = ct_shape_elements(&os);
    void *line = NULL;
    CHECK_INT_EQ(posix_memalign(&line, 64, sizeof(float) * (size_t)(n + 16)), 0);
    float *fast = (float *)line + output_misalign, *ref = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        fast[i] = NAN; /* every output must be written */
    CHECK_INT_EQ(ct_plan_run(plan, &L->xs, x, fast, nthreads, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(ct_reference_run(&L->p, &L->xs, x, &L->ws, w, b, cout, ref, msg, sizeof msg), CT_OK);
    int64_t terms = ct_shape_elements(&L->ws) / L->p.groups;
    double tol = 1e-6 * (double)terms + 1e-6;
    for (int64_t i = 0; i < n; i++) {
        if (!(fabs((double)fast[i] - (double)ref[i]) <= tol))
            FAIL("layer nd=%d groups=%lld x rank %d: output %lld: fast %.9g vs reference %.9g (%s)",
                 L->p.spatial_dims, (long long)L->p.groups, L->xs.rank, (long long)i, fast[i], ref[i],
                 ct_plan_algorithm(plan));
    }
    free(line);
    free(ref);
    compared = 1;
done:
    ct_plan_destroy(plan);
    free(x);
    free(w);
    free(b);
    return compared;
}

extern const ct_isa_config ct__isa_vl16; /* tests/isa_vl16.c */

/* Plans created from now on use the named ISA: "default" (the CPU's choice), "vl16" (the
 * 16-float template for plain x86-64) or one of ct__force_isa's names. Returns 0 when this
 * CPU lacks it; ct__force_isa(NULL) goes back to the default. */
static int use_isa(const char *name)
{
    if (strcmp(name, "default") == 0)
        return ct__force_isa(NULL);
    if (strcmp(name, "vl16") == 0) {
        ct__force_isa_config(&ct__isa_vl16);
        return 1;
    }
    return ct__force_isa(name);
}

static void run_random(const char *isa, int want)
{
    if (!use_isa(isa)) {
        printf("  (%s not supported by this CPU: skipped)\n", isa);
        return;
    }
    int compared = 0, tried = 0;
    while (compared < want) {
        layer L;
        memset(&L, 0, sizeof L);
        random_layer(&L);
        compared += compare_one(&L, 1 + (int)(rnd() % (many_images ? 4 : 2)));
        CHECK(++tried < want * 20);
    }
    ct__force_isa(NULL);
}

/* A given layer with bias and default hyperparameters, for the tests to adjust. */
static layer fixed_layer(int nd, ct_shape xs, ct_shape ws)
{
    layer L;
    memset(&L, 0, sizeof L);
    ct_params_init(&L.p, nd);
    L.xs = xs;
    L.ws = ws;
    L.has_bias = 1;
    return L;
}

/* run_random on every vector width: this CPU's ISA, generic, AVX2, avx512_ymm and the
 * 16-float test config (tests/isa_vl16.c), that many layers each (0: none). */
static void run_random_widths(int cpu, int generic, int avx2, int ymm, int vl16)
{
    const char *isa[] = {ct_cpu_isa(), "generic", "avx2", "avx512_ymm", "vl16"};
    const int count[] = {cpu, generic, avx2, ymm, vl16};
    for (int i = 0; i < 5; i++)
        if (count[i] > 0)
            run_random(isa[i], count[i]);
}

TEST(differential_1000_random_layers_default_isa) { run_random(ct_cpu_isa(), 1000); }
TEST(differential_300_random_layers_generic) { run_random("generic", 300); }
TEST(differential_300_random_layers_avx2) { rng_state = 12345; run_random("avx2", 300); }
/* The wide shapes with 8-float vectors for every row (an avx512 plan takes them only for rows
 * at most 8 wide). */
TEST(differential_300_random_layers_avx512_ymm) { rng_state = 54321; run_random("avx512_ymm", 300); }
TEST(differential_100_long_1d_rows)
{
    long_rows = 1;
    run_random(ct_cpu_isa(), 100);
    long_rows = 0;
}

TEST(differential_60_layers_with_chunked_k_and_bias)
{
    wide_k = 1;
    run_random(ct_cpu_isa(), 60);
    wide_k = 0;
}

/* Depthwise layers, their output planes computed in place and (the cache size forced down
 * to nothing) through the thread's scratch and the streaming copy. */
TEST(differential_400_depthwise_layers_in_place_and_streamed)
{
    depthwise = 1;
    run_random(ct_cpu_isa(), 100);
    ct__force_llc_bytes(1);
    run_random(ct_cpu_isa(), 100);
    run_random("generic", 100);
    run_random("vl16", 100);
    ct__force_llc_bytes(0);
    depthwise = 0;
}

/* Streamed depthwise planes whose rows are whole lines: the stride-2 pair kernels store their
 * steps past the cache straight into the output (paddings 0-3 put the zip's first output
 * before, at and after the row start), and the same layers into an output off its line,
 * which go through the scratch plane and its copy instead; in 8- and 16-float vectors. */
TEST(depthwise_streams_pair_steps_straight_to_an_aligned_output)
{
    ct__force_llc_bytes(1);
    for (int config = 0; config < 8; config++) { /* 16-float vectors, output off its line, wider */
        const int vl16 = config & 1, misalign = config & 2 ? 4 : 0, wide = (config & 4) != 0;
        ct__force_isa_config(vl16 ? &ct__isa_vl16 : NULL);
        output_misalign = misalign;
        for (int pad = 0; pad <= 3; pad++) {
            layer L;
            memset(&L, 0, sizeof L);
            ct_params_init(&L.p, 2);
            L.p.groups = 6;
            L.p.pads_begin[0] = L.p.pads_end[0] = L.p.pads_begin[1] = L.p.pads_end[1] = pad;
            L.p.stride[0] = L.p.stride[1] = 2;
            int64_t in = 7 + pad + 8 * wide; /* output (in - 1) * 2 - 2 * pad + 4: 16 or 32 wide */
            L.xs = (ct_shape){4, {2, 6, 5, in}};
            L.ws = (ct_shape){4, {6, 1, 4, 4}};
            L.has_bias = 1;
            CHECK(compare_one(&L, 1 + wide));
        }
    }
    output_misalign = 0;
    ct__force_isa_config(NULL);
    ct__force_llc_bytes(0);
}

/* Depthwise stride-2 planes: with a 4x4 kernel (2 taps per phase and dim) a y-phase pair of
 * x-phase pairs runs as one quad (depthwise.c, dw_quad) over the rows both have, the other
 * rows alone; 2x2 and 3x3 kernels, whose phases leave holes in the quad's window, run as
 * pairs. Every padding 0-3 (the zip's first output before, at and after
 * the row start), output_padding 0 and 1, widths from under a vector to 5 (of 8), one and two
 * channels per group, a 3-d layer of such planes; in place, streamed, and streamed into an
 * output off its line, in 8- and 16-float vectors. */
TEST(depthwise_stride_2_planes_run_as_quads)
{
    int compared = 0;
    for (int config = 0; config < 4; config++) {
        ct__force_isa_config(config & 1 ? &ct__isa_vl16 : NULL);
        ct__force_llc_bytes(config & 2 ? 1 : 0);
        output_misalign = config == 3 ? 4 : 0;
        for (int64_t k = 2; k <= 4; k++)
            for (int pad = 0; pad <= 3 && pad < k; pad++)
                for (int op = 0; op <= 1; op++)
                    for (int wi = 0; wi < 5; wi++) {
                        const int64_t w = (int64_t[]){5, 8, 16, 29, 40}[wi]; /* 16, 32 outputs: whole lines */
                        const int nd = w == 29 && k == 4 ? 3 : 2;
                        layer L = fixed_layer(nd, nd == 3 ? (ct_shape){5, {2, 3, 2, 7, w}} : (ct_shape){4, {2, 3, 7 + pad, w}},
                                              nd == 3 ? (ct_shape){5, {3, 1 + op, 1, k, k}} : (ct_shape){4, {3, 1 + op, k, k}});
                        L.p.groups = 3;
                        for (int d = nd - 2; d < nd; d++) {
                            L.p.stride[d] = 2;
                            L.p.pads_begin[d] = L.p.pads_end[d] = pad;
                            L.p.output_padding[d] = op;
                        }
                        compared += compare_one(&L, 1 + (int)(w % 2));
                    }
    }
    output_misalign = 0;
    ct__force_llc_bytes(0);
    ct__force_isa_config(NULL);
    CHECK_INT_EQ(compared, 4 * 9 * 2 * 5); /* configs, (kernel, padding), output_padding, widths */
}

/* Tiles whose rows lie in the border skip the taps that would read only zero padding (algo/phase_igemm.c,
 * set_tile_taps): dilated layers whose first and last rows lose a tap row, a 3-d one whose
 * border planes lose a tap plane, a stride-2 one whose zipped phases lose theirs, and one
 * whose last rows (output_padding under a dilation of 3) receive no tap at all, only the
 * bias; in every ISA this CPU has and in 16-float vectors, on 1 and 2 threads. */
TEST(border_tiles_skip_the_taps_that_read_only_padding)
{
    const char *isas[] = {"default", "generic", "avx2", "avx512", "avx512_ymm", "vl16"};
    for (int i = 0; i < 6; i++) {
        if (!use_isa(isas[i]))
            continue;
        for (int kind = 0; kind < 4; kind++) {
            layer L;
            memset(&L, 0, sizeof L);
            L.has_bias = 1;
            if (kind == 0) { /* like the suite's dilated_64_64 */
                ct_params_init(&L.p, 2);
                L.xs = (ct_shape){4, {2, 8, 10, 13}};
                L.ws = (ct_shape){4, {8, 6, 3, 3}};
                L.p.dilation[0] = L.p.dilation[1] = 2;
                L.p.pads_begin[0] = L.p.pads_end[0] = L.p.pads_begin[1] = L.p.pads_end[1] = 2;
            } else if (kind == 1) {
                ct_params_init(&L.p, 3);
                L.xs = (ct_shape){5, {1, 5, 6, 7, 9}};
                L.ws = (ct_shape){5, {5, 4, 3, 3, 3}};
                L.p.dilation[0] = L.p.dilation[1] = 2;
                L.p.pads_begin[0] = L.p.pads_end[0] = 2;
                L.p.pads_begin[1] = L.p.pads_end[1] = L.p.pads_begin[2] = L.p.pads_end[2] = 1;
            } else if (kind == 2) { /* dcgan-like: the phases' first rows lose a tap row */
                ct_params_init(&L.p, 2);
                L.xs = (ct_shape){4, {2, 7, 9, 16}};
                L.ws = (ct_shape){4, {7, 5, 4, 4}};
                L.p.stride[0] = L.p.stride[1] = 2;
                L.p.pads_begin[0] = L.p.pads_end[0] = L.p.pads_begin[1] = L.p.pads_end[1] = 1;
            } else {
                ct_params_init(&L.p, 2);
                L.xs = (ct_shape){4, {1, 3, 4, 6}};
                L.ws = (ct_shape){4, {3, 2, 2, 3}};
                L.p.dilation[0] = 3;
                L.p.output_padding[0] = 2;
            }
            CHECK(compare_one(&L, 1 + kind % 2));
        }
        ct__force_isa(NULL);
    }
}

/* Images padded into a ring of slots and computed with no barrier between them. */
TEST(differential_200_layers_with_many_images_and_threads)
{
    many_images = 1;
    run_random(ct_cpu_isa(), 150);
    run_random("vl16", 50);
    many_images = 0;
}

/* Stride-2 rows: zipped x-phase pairs (with bias, partial channel blocks, rows that end
 * mid-vector) and the phases that do not pair, in 8- and 16-float vectors. */
TEST(differential_300_layers_with_zipped_x_phases)
{
    x_stride_2 = 1;
    run_random_widths(150, 50, 0, 0, 100);
    x_stride_2 = 0;
}

/* Outputs of at least half the threads' L2 (forced down to nothing here) leave the kernels
 * through stores that bypass the cache (run/layout.c, c->stream): whole vectors at vector-aligned
 * addresses, of zipped x-phase pairs and of unit-stride rows; the other vectors as usual.
 * Layers whose output rows are whole vectors (16, 32 wide) and rows that end mid-vector,
 * 2-d and 3-d, a partial channel block, two groups; the output on a line and off it; in every
 * ISA this CPU has and in 16-float vectors, on 1 and 2 threads; then random zipped layers. */
TEST(outputs_larger_than_the_l2s_are_stored_past_the_cache)
{
    ct__force_l2_bytes(1);
    const char *isa[] = {"default", "vl16", "avx2", "generic"};
    int compared = 0, configs = 0;
    for (int config = 0; config < 8; config++) {
        if (!use_isa(isa[config / 2]))
            continue;
        configs++;
        output_misalign = config % 2 ? 4 : 0;
        for (int shape = 0; shape < 6; shape++) {
            const int nd = shape == 2 ? 3 : 2, stride2 = shape < 4;
            /* stride 2, 3x3, padding 1, output_padding 1: twice the input; stride 1, a dilated
             * 3x3 with padding 2: the input's size */
            const int64_t w = (int64_t[]){8, 16, 8, 20, 32, 40}[shape];
            layer L = fixed_layer(nd, nd == 3 ? (ct_shape){5, {2, 5, 3, 4, w}} : (ct_shape){4, {2, 6, 5, w}},
                                  nd == 3 ? (ct_shape){5, {5, 11, 3, 3, 3}} : (ct_shape){4, {6, 11 - 5 * (shape == 1), 3, 3}});
            L.p.groups = shape == 1 ? 2 : 1;
            for (int d = 0; d < nd; d++) {
                L.p.stride[d] = stride2 ? 2 : 1;
                L.p.dilation[d] = stride2 ? 1 : 2;
                L.p.pads_begin[d] = L.p.pads_end[d] = stride2 ? 1 : 2;
                L.p.output_padding[d] = stride2;
            }
            compared += compare_one(&L, 1 + shape % 2);
        }
        ct__force_isa(NULL);
    }
    output_misalign = 0;
    CHECK_INT_EQ(compared, 6 * configs);
    x_stride_2 = 1;
    run_random_widths(100, 0, 0, 0, 50);
    x_stride_2 = 0;
    ct__force_l2_bytes(0);
}

/* Unzipped phases of a strided row run a few channel blocks at a time through every phase
 * (run/layout.c, cb_step): 1-d layers like a vocoder's (kernel 16, stride 8) with 75 output channels
 * (10 blocks, the last partial) and two groups, one with more input channels than a K chunk
 * (partial sums per channel block), and a 2-d layer with strides 3 and 5; in every ISA this
 * CPU has and in 16-float vectors, on 1 and 2 threads. */
TEST(strided_phases_run_a_few_channel_blocks_at_a_time)
{
    const char *isa[] = {"default", "vl16", "avx2"};
    int compared = 0, configs = 0;
    for (int i = 0; i < 3; i++) {
        if (!use_isa(isa[i]))
            continue;
        configs++;
        for (int shape = 0; shape < 4; shape++) {
            layer L;
            if (shape < 3) { /* 1-d: cin 16, 16 in two groups, 1100 */
                const int64_t cin = shape == 2 ? 1100 : 16, groups = shape == 1 ? 2 : 1;
                L = fixed_layer(1, (ct_shape){3, {1 + shape % 2, cin, 37}}, (ct_shape){3, {cin, 75, 16}});
                L.p.groups = groups;
                L.ws.dims[1] = 75 - (groups - 1) * 35; /* 75 or 2 x 40 */
                L.p.stride[0] = 8;
                L.p.pads_begin[0] = L.p.pads_end[0] = 4;
            } else {
                L = fixed_layer(2, (ct_shape){4, {2, 6, 9, 11}}, (ct_shape){4, {6, 75, 4, 6}});
                L.p.stride[0] = 3;
                L.p.stride[1] = 5;
                L.p.pads_begin[1] = L.p.pads_end[1] = 1;
            }
            compared += compare_one(&L, 1 + shape % 2);
        }
        ct__force_isa(NULL);
    }
    CHECK_INT_EQ(compared, 4 * configs);
}

/* Layers with few output channels per group, which take the GEMM + col2im path when they
 * have more than one tap: every dim count and hyperparameter, bands of one image run by
 * several threads, pixel counts that end mid-vector, on every vector width. */
TEST(differential_few_output_channels_gemm_col2im)
{
    few_outputs = 1;
    run_random_widths(300, 60, 60, 0, 100);
    many_images = 1;
    run_random(ct_cpu_isa(), 60);
    many_images = 0;
    few_outputs = 0;
}

/* A few-output-channel layer whose one input row would need a col buffer of more than
 * algo/gemm_col2im.c.s COL_MAX_BYTES (8 MiB): that input runs the phases instead (the plan keeps both
 * packings); a shorter row of the same plan runs the col path. Both against the reference. */
TEST(few_output_channels_with_a_huge_row_run_the_phases)
{
    layer L = fixed_layer(1, (ct_shape){3, {1, 16, 600000}}, (ct_shape){3, {16, 2, 3}});
    CHECK(compare_one(&L, 2));
    L.xs.dims[2] = 5000;
    CHECK(compare_one(&L, 2));
}

/* Rows narrower than a vector, several per plane (DCGAN's 4x4 and 8x8 layers): vectors
 * take pixels of consecutive rows, every vector width, with odd widths, phases of unequal
 * widths and zipped pairs among them; then the DCGAN shape itself with a K of 2048. */
TEST(differential_narrow_rows_share_vectors_across_rows)
{
    narrow_rows = 1;
    run_random_widths(150, 50, 50, 50, 100);
    narrow_rows = 0;
    layer L = fixed_layer(2, (ct_shape){4, {2, 512, 8, 8}}, (ct_shape){4, {512, 20, 4, 4}});
    for (int d = 0; d < 2; d++) {
        L.p.stride[d] = 2;
        L.p.pads_begin[d] = L.p.pads_end[d] = 1;
    }
    CHECK(compare_one(&L, 2));
}

/* A plan run again and again (workspace.c keeps its padded slots between runs). */
typedef struct reuse_case {
    const layer *L;
    const ct_plan *plan;
    const float *w, *b;
    const ct_shape *shape; /* for reuse_thread */
    int runs, failures;
} reuse_case;

/* Runs rc's plan on an input of shape xs filled from seed, against the reference: 0 when they
 * agree. No global state: threads call it at once. */
static int reuse_run(const reuse_case *rc, const ct_shape *xs, uint32_t seed)
{
    char msg[256];
    ct_shape os;
    const layer *L = rc->L;
    const int64_t cout = L->ws.dims[1] * L->p.groups;
    if (ct_plan_output_shape(rc->plan, xs, &os, msg, sizeof msg) != CT_OK)
        return 1;
    const int64_t nx = ct_shape_elements(xs), n = ct_shape_elements(&os);
    float *x = malloc(sizeof(float) * (size_t)nx), *fast = malloc(sizeof(float) * (size_t)n);
    float *ref = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < nx; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((int)(seed >> 16) % 2001 - 1000) / 1000.0f;
    }
    int bad = ct_plan_run(rc->plan, xs, x, fast, 2, msg, sizeof msg) != CT_OK ||
              ct_reference_run(&L->p, xs, x, &L->ws, rc->w, rc->b, cout, ref, msg, sizeof msg) != CT_OK;
    const double tol = 1e-6 * (double)(ct_shape_elements(&L->ws) / L->p.groups) + 1e-6;
    for (int64_t i = 0; !bad && i < n; i++)
        bad = !(fabs((double)fast[i] - (double)ref[i]) <= tol);
    free(x);
    free(fast);
    free(ref);
    return bad;
}

static void *reuse_thread(void *arg)
{
    reuse_case *rc = arg;
    for (int i = 0; i < rc->runs; i++)
        rc->failures += reuse_run(rc, rc->shape, 1000u + (uint32_t)i * 7u + (uint32_t)(uintptr_t)rc % 97u);
    return NULL;
}

/* Runs shapes[0..n) in order on one plan of layer L, then shapes[0] from two threads at once. */
static void check_plan_reuse(layer *L, const ct_shape *shapes, int n)
{
    char msg[256];
    const int64_t cout = L->ws.dims[1] * L->p.groups;
    float *w = random_tensor(ct_shape_elements(&L->ws)), *b = random_tensor(cout);
    ct_plan *plan = NULL;
    CHECK_INT_EQ(ct_plan_create(&L->p, &L->ws, w, b, cout, &plan, msg, sizeof msg), CT_OK);
    reuse_case rc = {.L = L, .plan = plan, .w = w, .b = b};
    for (int i = 0; i < n; i++)
        if (reuse_run(&rc, &shapes[i], (uint32_t)i))
            FAIL("run %d (input rank %d, dims %lld x %lld ...) disagrees with the reference", i, shapes[i].rank,
                 (long long)shapes[i].dims[0], (long long)shapes[i].dims[1]);
    reuse_case per_thread[2] = {rc, rc};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) {
        per_thread[t].shape = &shapes[0];
        per_thread[t].runs = 20;
        CHECK_INT_EQ(pthread_create(&threads[t], NULL, reuse_thread, &per_thread[t]), 0);
    }
    for (int t = 0; t < 2; t++) {
        pthread_join(threads[t], NULL);
        CHECK_INT_EQ(per_thread[t].failures, 0);
    }
    ct_plan_destroy(plan);
    free(w);
    free(b);
}

TEST(plan_reuses_its_padded_slots_only_for_the_same_layout)
{
    layer L = fixed_layer(2, (ct_shape){0, {0}}, (ct_shape){4, {8, 5, 3, 3}});
    for (int d = 0; d < 2; d++) {
        L.p.stride[d] = 2;
        L.p.pads_begin[d] = L.p.pads_end[d] = 1;
    }
    /* same shape again; taller; fewer images; unbatched; narrower; then the first again */
    const ct_shape phase[] = {{4, {2, 8, 9, 11}}, {4, {2, 8, 9, 11}}, {4, {3, 8, 12, 11}}, {4, {2, 8, 9, 11}},
                              {4, {1, 8, 9, 11}}, {3, {8, 9, 11}},      {4, {2, 8, 9, 7}},   {4, {2, 8, 9, 11}}};
    check_plan_reuse(&L, phase, 8);
    /* the flat layout (rows narrower than a vector): DCGAN's 4x4 kernel on small planes */
    L.ws = (ct_shape){4, {16, 20, 4, 4}};
    const ct_shape flat[] = {{4, {2, 16, 4, 4}}, {4, {2, 16, 4, 4}}, {4, {2, 16, 5, 5}},
                             {4, {3, 16, 4, 4}}, {4, {2, 16, 4, 3}}, {4, {2, 16, 4, 4}}};
    check_plan_reuse(&L, flat, 6);
}

/* A layer whose K is long enough that an image has only 5 items, so the run pads its 9
 * images into a ring of 4 to 8 slots: an image may only take a slot once every item of the
 * image before it there has finished. Its weights outweigh a padded image, so the threads
 * share every image (run/schedule.c, owned_images). Run 12 times on 2 to 4 threads, against the reference each time. */
TEST(images_reuse_padded_slots_only_after_their_items_finish)
{
    layer L = fixed_layer(2, (ct_shape){4, {9, 256, 12, 12}}, (ct_shape){4, {256, 80, 3, 3}});
    for (int i = 0; i < 12; i++)
        CHECK(compare_one(&L, 2 + i % 3));
}

/* Weights lighter than a padded image: each thread pads and computes whole images alone
 * (run/schedule.c, owned_images), and the last batch % threads images are shared. Batches of 1 to 7
 * on 2 and 3 threads, stride 1 and 2; then runs from inside an OpenMP region, whose nested
 * region has one thread instead of the 2 or 3 asked for, which must still run every image. */
TEST(threads_own_whole_images_and_share_the_rest)
{
    layer L = fixed_layer(2, (ct_shape){4, {1, 24, 10, 9}}, (ct_shape){4, {24, 6, 3, 3}});
    for (int stride = 1; stride <= 2; stride++)
        for (int64_t batch = 1; batch <= 7; batch++)
            for (int threads = 2; threads <= 3; threads++) {
                L.p.stride[0] = L.p.stride[1] = stride;
                L.xs.dims[0] = batch;
                CHECK(compare_one(&L, threads));
            }
    int compared = 0;
#pragma omp parallel num_threads(2)
#pragma omp single
    for (int64_t batch = 4; batch <= 6; batch++) {
        L.xs.dims[0] = batch;
        compared += compare_one(&L, 2 + (int)batch % 2);
    }
    CHECK_INT_EQ(compared, 3);
}

/* A thread slowed down (its core shared with another process) holds up no one: thread 1
 * sleeps 30 ms before each image it owns, so thread 0, done with its own four, pads and
 * computes thread 1's images itself as their slots free (run/schedule.c,
 * help_with_owned_images). Dropping that, thread 0 only helps with images already padded,
 * and takes none over. Every output is checked against the reference. */
TEST(a_slowed_thread_s_images_are_taken_over_by_the_others)
{
    layer L = fixed_layer(2, (ct_shape){4, {8, 24, 10, 9}}, (ct_shape){4, {24, 6, 3, 3}});
    ct__slow_owner_for_tests(1, 30000);
    int compared = compare_one(&L, 2);
    int64_t taken = ct__images_taken_over();
    ct__slow_owner_for_tests(-1, 0);
    CHECK(compared);
    CHECK(taken >= 2);
    CHECK(taken <= 4);
}

/* Runs L (random weights) through a plan that keeps its weights as `storage` and through a
 * float32 plan of the same weights rounded by the API's own casts (api/dtype.c): widened a
 * panel at a time, the 16-bit weights must give the very same bits. Returns 1 when the layer
 * was valid and compared; *halved counts plans whose weights take fewer bytes than float32. */
static int compare_stored(const layer *L, ct_weight_storage storage, ct_dtype dtype, int *halved)
{
    char msg[256];
    int64_t cout = L->ws.dims[1] * L->p.groups, nw = ct_shape_elements(&L->ws);
    float *x = random_tensor(ct_shape_elements(&L->xs)), *w = random_tensor(nw);
    float *b = L->has_bias ? random_tensor(cout) : NULL;
    float *rounded = malloc(sizeof(float) * (size_t)nw);
    memcpy(rounded, w, sizeof(float) * (size_t)nw);
    ct_f32_round_to(dtype, rounded, nw);
    ct_plan *half = NULL, *full = NULL;
    ct_shape os;
    int compared = 0;
    if (ct_plan_create_stored(&L->p, &L->ws, w, b, cout, storage, &half, msg, sizeof msg) != CT_OK ||
        ct_plan_output_shape(half, &L->xs, &os, msg, sizeof msg) != CT_OK)
        goto done;
    CHECK_INT_EQ(ct_plan_create(&L->p, &L->ws, rounded, b, cout, &full, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(ct_plan_weight_storage(half), half->depthwise ? CT_WEIGHTS_FLOAT32 : storage);
    *halved += ct_plan_weight_bytes(half) < ct_plan_weight_bytes(full);
    int64_t n = ct_shape_elements(&os);
    float *y_half = malloc(sizeof(float) * (size_t)n), *y_full = malloc(sizeof(float) * (size_t)n);
    CHECK_INT_EQ(ct_plan_run(half, &L->xs, x, y_half, 2, msg, sizeof msg), CT_OK);
    CHECK_INT_EQ(ct_plan_run(full, &L->xs, x, y_full, 2, msg, sizeof msg), CT_OK);
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&y_half[i], &y_full[i], sizeof(float)) != 0)
            FAIL("%s weights, %s: output %lld: %.9g, float32 plan of the rounded weights %.9g", ct_dtype_name(dtype),
                 ct_plan_algorithm(half), (long long)i, y_half[i], y_full[i]);
    free(y_half);
    free(y_full);
    compared = 1;
done:
    ct_plan_destroy(half);
    ct_plan_destroy(full);
    free(x);
    free(w);
    free(b);
    free(rounded);
    return compared;
}

/* float16 and bfloat16 weights kept at half the bytes: 60 random layers each through every
 * ISA, plus layers with a long K (several K chunks, the zipped stride-2 pairs) and a wide one
 * (a panel of thousands of terms). */
TEST(half_weights_compute_what_float32_plans_of_the_rounded_weights_do)
{
    static const char *const isas[] = {"default", "generic", "avx2", "avx512_ymm", "vl16"};
    for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
        if (!use_isa(isas[k]))
            continue;
        rng_state = 777 + k;
        int halved = 0, compared = 0;
        for (int i = 0; compared < 120; i++) {
            CHECK(i < 3000);
            layer L;
            memset(&L, 0, sizeof L);
            random_layer(&L);
            compared += compare_stored(&L, i % 2 ? CT_WEIGHTS_BFLOAT16 : CT_WEIGHTS_FLOAT16, i % 2 ? CT_DTYPE_BFLOAT16 : CT_DTYPE_FLOAT16, &halved);
        }
        CHECK(halved >= 60);
        layer zipped = fixed_layer(2, (ct_shape){4, {2, 300, 9, 7}}, (ct_shape){4, {300, 20, 4, 4}});
        zipped.p.stride[0] = zipped.p.stride[1] = 2;
        CHECK(compare_stored(&zipped, CT_WEIGHTS_FLOAT16, CT_DTYPE_FLOAT16, &halved));
        wide_k = 1;
        layer wide;
        memset(&wide, 0, sizeof wide);
        random_layer(&wide);
        wide_k = 0;
        CHECK(compare_stored(&wide, CT_WEIGHTS_BFLOAT16, CT_DTYPE_BFLOAT16, &halved));
    }
    use_isa("default");
}

/* The AVX-512 tiling (16-float vectors), run on any CPU: see tests/isa_vl16.c. */
TEST(differential_300_random_layers_16_float_vectors)
{
    run_random("vl16", 200);
    long_rows = 1;
    run_random("vl16", 50);
    long_rows = 0;
    wide_k = 1;
    run_random("vl16", 50);
    wide_k = 0;
}
