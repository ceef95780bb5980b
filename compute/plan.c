/* plan.c - builds a plan: validates the layer, enumerates the stride phases and their taps
 * (plan.h explains the decomposition), chooses the tile shape and packs the weights per
 * (group, phase, block of MR output channels); and the plan's accessors. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* Chooses the tile shape with the least time per output channel: padded channels divided by
 * the shape's measured speed (igemm_isa.h), so on AVX2 a 6x2 tile with one row of padding
 * beats 1x12 for 5 channels. Shapes are tried in the ISA's order; on a tie the earlier wins. */
static int choose_shape(const ct_isa_config *isa, int64_t cout_g)
{
    int best = 0;
    double best_cost = 0;
    for (int i = 0; i < CT_KERNEL_SHAPES; i++) {
        int s = isa->order[i];
        int64_t mr = isa->mr[s];
        double cost = (double)((cout_g + mr - 1) / mr * mr) / isa->speed[s];
        if (i == 0 || cost < best_cost) {
            best_cost = cost;
            best = s;
        }
    }
    return best;
}

/* The most (channel, tap) terms of any phase: cin_g times, per dim, the taps of the fullest
 * residue (k * d mod s repeats every s / gcd(s, d) taps). */
static int64_t max_phase_terms(const ct_plan *plan)
{
    int64_t terms = plan->cin_g;
    for (int d = 0; d < 3; d++) {
        int64_t a = plan->stride[d], b = plan->dilation[d];
        while (b != 0) {
            int64_t r = a % b;
            a = b;
            b = r;
        }
        const int64_t period = plan->stride[d] / a;
        terms *= plan->kernel[d] / period + (plan->kernel[d] % period != 0);
    }
    return terms;
}

/* When the ISA's preferred shape is not its tallest (AVX2: 4x3, not 6x2), a 2-d or 3-d layer
 * whose panel for it passes this size takes the tallest shape instead. A 4x3 tile's input
 * panel (K terms x 3 vectors) past this streams from L2 for every channel block; a 6x2 tile then
 * reads a third fewer panel bytes per FMA, which pays for its two more broadcasts per term.
 * Not for 1-d layers, whose rows are cut into segments that keep the panel compact. The wide
 * shapes of AVX-512 prefer their tallest, 8x3, already. (docs/performance.md has the A/Bs.) */
#define PANEL_SPILL_BYTES (64 * 1024)

/* Packs the weights for the col path: per group, block of col_mr rows (output channel, tap)
 * and input channel, col_mr consecutive floats (zero past col_rows). A group's weights are
 * [cin_g][cout_g][taps], so row m of channel ci is simply its float m. */
static int pack_col_weights(ct_plan *plan, const float *w)
{
    const int64_t mr = plan->col_mr, rows = plan->col_rows;
    plan->col_packed = malloc(sizeof(float) * (size_t)(plan->groups * plan->col_mblocks * plan->cin_g * mr));
    if (!plan->col_packed)
        return 0;
    float *dst = plan->col_packed;
    for (int64_t g = 0; g < plan->groups; g++)
        for (int64_t mb = 0; mb < plan->col_mblocks; mb++)
            for (int64_t ci = 0; ci < plan->cin_g; ci++)
                for (int64_t r = 0; r < mr; r++) {
                    const int64_t m = mb * mr + r;
                    *dst++ = m < rows ? w[(g * plan->cin_g + ci) * rows + m] : 0.0f;
                }
    return 1;
}

static void destroy_phases(ct_plan *plan)
{
    for (int64_t i = 0; plan->phases && i < plan->nphases; i++) {
        free(plan->phases[i].tap_t);
        free(plan->phases[i].tap_k);
    }
    free(plan->phases);
}

void ct_plan_destroy(ct_plan *plan)
{
    if (!plan)
        return;
    destroy_phases(plan);
    free(plan->packed);
    free(plan->packed_half);
    free(plan->col_packed);
    ct__workspace_destroy(plan->workspace);
    free(plan->bias);
    free(plan->weights);
    free(plan);
}

/* The taps of one dim grouped by residue (k * dilation) mod stride: residue i is res[i]
 * (ascending), and its taps are k[start[i]] .. k[start[i + 1] - 1] (ascending). Built by
 * sorting, so a plan costs O(K log K) per dim even where every tap has its own residue
 * (stride >= kernel), not O(K^2). */
typedef struct dim_taps {
    int64_t nres;
    int64_t *res, *start, *k;
} dim_taps;

typedef struct residue_tap {
    int64_t residue, k;
} residue_tap;

static int by_residue_then_tap(const void *a, const void *b)
{
    const residue_tap *x = a, *y = b;
    if (x->residue != y->residue)
        return x->residue < y->residue ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

static int dim_taps_build(int64_t kernel, int64_t dilation, int64_t stride, dim_taps *t)
{
    residue_tap *pairs = malloc(sizeof *pairs * (size_t)kernel);
    t->res = malloc(sizeof(int64_t) * (size_t)kernel);
    t->start = malloc(sizeof(int64_t) * (size_t)(kernel + 1));
    t->k = malloc(sizeof(int64_t) * (size_t)kernel);
    if (!pairs || !t->res || !t->start || !t->k) {
        free(pairs);
        return -1;
    }
    for (int64_t k = 0; k < kernel; k++)
        pairs[k] = (residue_tap){k * dilation % stride, k}; /* k * dilation fits: validated extent */
    qsort(pairs, (size_t)kernel, sizeof *pairs, by_residue_then_tap);
    t->nres = 0;
    for (int64_t i = 0; i < kernel; i++) {
        if (i == 0 || pairs[i].residue != pairs[i - 1].residue) {
            t->res[t->nres] = pairs[i].residue;
            t->start[t->nres++] = i;
        }
        t->k[i] = pairs[i].k;
    }
    t->start[t->nres] = kernel;
    free(pairs);
    return 0;
}

static void dim_taps_free(dim_taps *t)
{
    free(t->res);
    free(t->start);
    free(t->k);
}

/* Enumerates the phases that own taps (one per combination of per-dim residues that some
 * tap has; at most prod(kernel) of them), their taps, and where their packed weights go.
 * Output classes of no phase receive only the bias: plan->needs_bias_fill. Work and memory
 * are linear in the number of taps. */
static ct_status build_phases(ct_plan *plan)
{
    dim_taps dt[3] = {{0}};
    ct_status st = CT_E_NOMEM;
    plan->needs_bias_fill = 0;
    for (int d = 0; d < 3; d++) {
        if (dim_taps_build(plan->kernel[d], plan->dilation[d], plan->stride[d], &dt[d]) != 0)
            goto done;
        if (dt[d].nres < plan->stride[d])
            plan->needs_bias_fill = 1;
    }
    plan->nphases = dt[0].nres * dt[1].nres * dt[2].nres;
    plan->phases = calloc((size_t)plan->nphases, sizeof *plan->phases);
    if (!plan->phases)
        goto done;
    int64_t a_offset = 0;
    for (int64_t idx = 0; idx < plan->nphases; idx++) {
        ct_phase *ph = &plan->phases[idx];
        const int64_t ri[3] = {idx / (dt[1].nres * dt[2].nres), idx / dt[2].nres % dt[1].nres, idx % dt[2].nres};
        int64_t count = 1;
        for (int d = 0; d < 3; d++) {
            ph->residue[d] = dt[d].res[ri[d]];
            count *= dt[d].start[ri[d] + 1] - dt[d].start[ri[d]];
        }
        ph->ntaps = count;
        ph->a_offset = a_offset;
        a_offset += plan->cblocks * plan->mr * plan->cin_g * ph->ntaps;
        ph->tap_t = malloc(sizeof(int64_t) * 3 * (size_t)ph->ntaps);
        ph->tap_k = malloc(sizeof(int64_t) * (size_t)ph->ntaps);
        if (!ph->tap_t || !ph->tap_k)
            goto done;
        /* z, y, x ascending: the order the kernels' border ranges rely on (plan.h) */
        int64_t tap = 0;
        for (int64_t a = dt[0].start[ri[0]]; a < dt[0].start[ri[0] + 1]; a++)
            for (int64_t b = dt[1].start[ri[1]]; b < dt[1].start[ri[1] + 1]; b++)
                for (int64_t c = dt[2].start[ri[2]]; c < dt[2].start[ri[2] + 1]; c++) {
                    const int64_t k[3] = {dt[0].k[a], dt[1].k[b], dt[2].k[c]};
                    for (int d = 0; d < 3; d++)
                        ph->tap_t[tap * 3 + d] = (k[d] * plan->dilation[d] - ph->residue[d]) / plan->stride[d];
                    ph->tap_k[tap++] = (k[0] * plan->kernel[1] + k[1]) * plan->kernel[2] + k[2];
                }
    }
    plan->group_stride = a_offset;
    st = CT_OK;
done:
    for (int d = 0; d < 3; d++)
        dim_taps_free(&dt[d]);
    return st;
}

/* Packs the weights: for each group, phase, block of MR output channels, input channel and
 * tap, MR consecutive floats (zero past cout_g). */
static void pack_weights(ct_plan *plan, const float *w)
{
    const int64_t ksize = plan->kernel[0] * plan->kernel[1] * plan->kernel[2];
    for (int64_t p = 0; p < plan->nphases; p++) {
        const ct_phase *ph = &plan->phases[p];
        for (int64_t g = 0; g < plan->groups; g++)
            for (int64_t cb = 0; cb < plan->cblocks; cb++)
                for (int64_t ci = 0; ci < plan->cin_g; ci++)
                    for (int64_t tap = 0; tap < ph->ntaps; tap++) {
                        float *dst = plan->packed + g * plan->group_stride + ph->a_offset +
                                     (cb * plan->cin_g * ph->ntaps + ci * ph->ntaps + tap) * plan->mr;
                        for (int m = 0; m < plan->mr; m++) {
                            int64_t co = cb * plan->mr + m;
                            dst[m] = co < plan->cout_g
                                         ? w[((g * plan->cin_g + ci) * plan->cout_g + co) * ksize + ph->tap_k[tap]]
                                         : 0.0f;
                        }
                    }
    }
}

/* float32 to float16, rounded to the nearest (ties to even), as IEEE 754 says. */
static uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = x >> 16 & 0x8000, mag = x & 0x7fffffff;
    if (mag > 0x7f800000)
        return (uint16_t)(sign | 0x7e00); /* NaN */
    if (mag >= 0x477ff000)
        return (uint16_t)(sign | 0x7c00); /* 65520 and up round to infinity */
    if (mag < 0x38800000) { /* below 2^-14: a subnormal, a whole number of 2^-24 */
        float a;
        memcpy(&a, &mag, sizeof a);
        return (uint16_t)(sign | (uint32_t)nearbyintf(a * 16777216.0f));
    }
    uint32_t h = (mag - 0x38000000) >> 13; /* exponent rebased from 127 to 15 */
    const uint32_t rest = mag & 0x1fff;
    h += rest > 0x1000 || (rest == 0x1000 && (h & 1));
    return (uint16_t)(sign | h);
}

/* float32 to bfloat16 (its top half), rounded to the nearest, ties to even. */
static uint16_t float_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)(x >> 16 | 0x40); /* NaN stays NaN */
    return (uint16_t)((x + 0x7fff + (x >> 16 & 1)) >> 16);
}

static uint16_t narrow(ct_weight_storage storage, float f)
{
    return storage == CT_WEIGHTS_FLOAT16 ? float_to_half(f) : float_to_bf16(f);
}

static float widen(ct_weight_storage storage, uint16_t h)
{
    return storage == CT_WEIGHTS_FLOAT16 ? ct__half_to_float(h) : ct__bf16_to_float(h);
}

/* Replaces the packed float32 weights with their 16-bit values, which runs widen a panel
 * at a time (phase_igemm.c). Returns 0 when out of memory. */
static int keep_half(ct_plan *plan, ct_weight_storage storage, int64_t packed_len, int64_t max_terms)
{
    plan->packed_half = malloc(sizeof(uint16_t) * (size_t)(packed_len ? packed_len : 1));
    if (!plan->packed_half)
        return 0;
    for (int64_t i = 0; i < packed_len; i++)
        plan->packed_half[i] = narrow(storage, plan->packed[i]);
    free(plan->packed);
    plan->packed = NULL;
    plan->half = storage;
    plan->panel_floats = max_terms * plan->mr;
    return 1;
}

ct_status ct_plan_create(const ct_params *params, const ct_shape *weight_shape,
                         const float *weight, const float *bias, int64_t bias_len,
                         ct_plan **out, char *msg, size_t cap)
{
    return ct_plan_create_stored(params, weight_shape, weight, bias, bias_len, CT_WEIGHTS_FLOAT32, out, msg, cap);
}

ct_status ct_plan_create_stored(const ct_params *params, const ct_shape *weight_shape,
                                const float *weight, const float *bias, int64_t bias_len,
                                ct_weight_storage storage, ct_plan **out, char *msg, size_t cap)
{
    *out = NULL;
    ct_status st = ct__validate_layer(params, weight_shape, bias != NULL, bias_len, msg, cap);
    if (st != CT_OK)
        return st;
    int64_t weight_elems = ct_shape_elements(weight_shape);
    if (weight_elems < 0)
        return ct__fail(msg, cap, CT_E_OVERFLOW, "weight: element count overflows");
    if (storage != CT_WEIGHTS_FLOAT32) {
        /* every path (the phases, col2im, depthwise, gather) computes the 16-bit values */
        float *rounded = weight_elems <= ((int64_t)1 << 34) ? malloc(sizeof(float) * (size_t)(weight_elems ? weight_elems : 1)) : NULL;
        if (!rounded)
            return ct__fail(msg, cap, CT_E_NOMEM, "out of memory while packing the weights");
        for (int64_t i = 0; i < weight_elems; i++)
            rounded[i] = widen(storage, narrow(storage, weight[i]));
        st = ct_plan_create_stored(params, weight_shape, rounded, bias, bias_len, CT_WEIGHTS_FLOAT32, out, msg, cap);
        free(rounded);
        if (st == CT_OK && !(*out)->depthwise) {
            int64_t packed_len = (*out)->group_stride * (*out)->groups; /* checked when it was packed */
            if (!keep_half(*out, storage, packed_len, max_phase_terms(*out))) {
                ct_plan_destroy(*out);
                *out = NULL;
                return ct__fail(msg, cap, CT_E_NOMEM, "out of memory while packing the weights");
            }
        }
        return st;
    }
    st = CT_E_NOMEM;
    ct_plan *plan = calloc(1, sizeof *plan);
    if (!plan)
        goto error;
    plan->params = *params;
    plan->weight_shape = *weight_shape;
    plan->groups = params->groups;
    plan->in_channels = weight_shape->dims[0];
    plan->cin_g = plan->in_channels / plan->groups;
    plan->cout_g = weight_shape->dims[1];
    plan->out_channels = plan->cout_g * plan->groups;
    const int nd = params->spatial_dims, shift = 3 - nd;
    for (int d = 0; d < 3; d++) {
        plan->kernel[d] = d < shift ? 1 : weight_shape->dims[2 + d - shift];
        plan->stride[d] = d < shift ? 1 : params->stride[d - shift];
        plan->dilation[d] = d < shift ? 1 : params->dilation[d - shift];
    }
    plan->isa = ct__isa_config();
    plan->shape = choose_shape(plan->isa, plan->cout_g);
    const int64_t mr0 = plan->isa->mr[0];
    if (plan->shape != 0 && plan->shape == plan->isa->order[0] && params->spatial_dims >= 2 &&
        (plan->cout_g + mr0 - 1) / mr0 * mr0 <= plan->cout_g * 11 / 10 &&
        max_phase_terms(plan) * plan->isa->nv[plan->shape] * plan->isa->vl * (int64_t)sizeof(float) >
            PANEL_SPILL_BYTES)
        plan->shape = 0; /* the tallest, when it pads at most a tenth more channels */
    plan->mr = plan->isa->mr[plan->shape];
    plan->nv = plan->isa->nv[plan->shape];
    plan->cblocks = (plan->cout_g + plan->mr - 1) / plan->mr;
    if (weight_elems > ((int64_t)1 << 34)) {
        st = ct__fail(msg, cap, CT_E_TOO_LARGE, "weight: %lld elements is more than the library packs", (long long)weight_elems);
        goto error;
    }
    if (build_phases(plan) != CT_OK)
        goto error;
    int64_t packed_len;
    if (!ct__mul(plan->group_stride, plan->groups, &packed_len) || packed_len > ((int64_t)1 << 40)) {
        st = ct__fail(msg, cap, CT_E_OVERFLOW, "weight: packed size overflows");
        goto error;
    }
    plan->packed = malloc(sizeof(float) * (size_t)(packed_len ? packed_len : 1));
    if (!plan->packed)
        goto error;
    pack_weights(plan, weight);
    if (ct__keeps_gather_weights(plan)) {
        plan->weights = malloc(sizeof(float) * (size_t)weight_elems);
        if (!plan->weights)
            goto error;
        memcpy(plan->weights, weight, sizeof(float) * (size_t)weight_elems);
        plan->weight_elems = weight_elems;
    }
    if (bias) {
        plan->bias = malloc(sizeof(float) * (size_t)plan->out_channels);
        if (!plan->bias)
            goto error;
        memcpy(plan->bias, bias, sizeof(float) * (size_t)plan->out_channels);
    }
    const ct_algo algo = ct__select_algorithm(plan, NULL);
    plan->depthwise = algo == CT_ALGO_PHASE_DEPTHWISE;
    if (!plan->depthwise && !(plan->workspace = ct__workspace_create()))
        goto error;
    plan->algorithm = plan->depthwise ? plan->isa->dw_algorithm : plan->isa->algorithm[plan->shape];
    if (algo == CT_ALGO_GEMM_COL2IM) {
        /* the phases' packing stays: an input too large for col buffers runs them */
        plan->col = 1;
        plan->col_rows = plan->cout_g * plan->kernel[0] * plan->kernel[1] * plan->kernel[2];
        plan->col_shape = choose_shape(plan->isa, plan->col_rows);
        plan->col_mr = plan->isa->mr[plan->col_shape];
        plan->col_nv = plan->isa->nv[plan->col_shape];
        plan->col_mblocks = (plan->col_rows + plan->col_mr - 1) / plan->col_mr;
        if (!pack_col_weights(plan, weight))
            goto error;
        plan->algorithm = plan->isa->col_algorithm[plan->col_shape];
    }
    *out = plan;
    return CT_OK;
error:
    if (st == CT_E_NOMEM)
        ct__fail(msg, cap, st, "out of memory while packing the weights");
    ct_plan_destroy(plan);
    return st;
}

const char *ct_plan_algorithm(const ct_plan *plan) { return plan->algorithm; }
ct_weight_storage ct_plan_weight_storage(const ct_plan *plan) { return plan->half; }

int64_t ct_plan_weight_bytes(const ct_plan *plan)
{
    const int64_t packed = plan->group_stride * plan->groups;
    return packed * (plan->packed_half ? 2 : 4) + (plan->col_packed ? 4 * plan->groups * plan->col_mblocks * plan->cin_g * plan->col_mr : 0) +
           4 * plan->weight_elems + (plan->bias ? 4 * plan->out_channels : 0);
}
const ct_params *ct_plan_params(const ct_plan *plan) { return &plan->params; }
const ct_shape *ct_plan_weight_shape(const ct_plan *plan) { return &plan->weight_shape; }
int ct_plan_has_bias(const ct_plan *plan) { return plan->bias != NULL; }
int64_t ct_plan_in_channels(const ct_plan *plan) { return plan->in_channels; }
int64_t ct_plan_out_channels(const ct_plan *plan) { return plan->out_channels; }

ct_status ct_plan_output_shape(const ct_plan *plan, const ct_shape *input_shape,
                               ct_shape *output_shape, char *msg, size_t cap)
{
    ct_geometry g;
    ct_status st = ct__resolve_geometry(&plan->params, &plan->weight_shape, input_shape, &g, msg, cap);
    if (st == CT_OK)
        ct__output_shape(&g, output_shape);
    return st;
}

