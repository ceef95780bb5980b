/* plan.c - the fast path: a transposed convolution decomposed by stride phase.
 *
 * Output position o (per dim) receives input i through tap k when o = i*s - p + k*d. Split
 * the outputs by their phase r = (o + p) mod s: outputs o = s*q + r - p of one phase receive
 * exactly the taps k with k*d = r (mod s), from input i = q - t_k where t_k = (k*d - r)/s.
 * So each phase is an ordinary correlation of the input with a sub-kernel, every output is
 * written once by one thread (no atomics, no scatter), and consecutive outputs of a phase
 * row read consecutive inputs: the input stays in its NCHW layout.
 *
 * A run copies the input into a zero-bordered buffer (so no tap needs a bounds check), then
 * hands (batch, group, phase, block of pixel tiles, block of channels) items to OpenMP
 * threads. An item walks the input channels in cache-sized chunks and calls an
 * indirect-GEMM microkernel (kernels/igemm.h) per MR channels x NV pixel vectors.
 *
 * Internally every geometry is 3-d: a 1-d or 2-d layer gets leading unit dims. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kernels/igemm.h"

#define CHUNK_TERMS 512          /* K terms per chunk: MR x 512 floats of weights stay in L1 */
#define PANEL_BYTES (96 * 1024)  /* input bytes a block of tiles reads per chunk: fits L2 */
#define TINY_FLOPS 400000.0      /* below this a layer runs on one thread */
/* A tap reaching t input positions away (dilation * (kernel - 1) / stride) gives the padded
 * input a zero border of t on each side, per dim. With a matching padding such a layer is
 * valid and its output small, but its far taps only ever read zeros. When the borders could
 * multiply a plane's size by more than this, the layer keeps its weights and runs the
 * gather algorithm whenever the padded input would dwarf the tensors. */
#define FAR_TAP 65536.0

typedef struct ct_phase {
    int64_t residue[3];  /* r per dim */
    int64_t ntaps;       /* sub-kernel taps in this phase, >= 1 */
    int64_t a_offset;    /* floats from the start of a group's packed weights */
    int64_t *tap_t;      /* ntaps x 3: t per dim (input index = q - t) */
    int64_t *tap_k;      /* ntaps: flat kernel index of the tap */
} ct_phase;

struct ct_plan {
    ct_params params;
    ct_shape weight_shape;
    int64_t in_channels, out_channels, cin_g, cout_g, groups;
    int64_t kernel[3], stride[3], dilation[3]; /* normalized to 3-d */
    float *bias;                  /* out_channels floats, or NULL */
    int64_t nphases;
    ct_phase *phases;
    int needs_bias_fill;          /* some outputs receive no tap: fill with bias first */
    const ct_isa_config *isa;
    int shape;                    /* index of the chosen kernel in isa */
    int mr, nv;
    int64_t cblocks;              /* ceil(cout_g / mr) */
    int64_t group_stride;         /* packed floats per group */
    float *packed;
    const char *algorithm;        /* static string */
    float *weights;               /* a copy, kept only when taps reach very far (see below) */
    int depthwise;                /* one input channel per group: the row-by-row path */
    int64_t weight_elems;
};

/* Chooses the tile shape with the least time per output channel: padded channels divided by
 * the shape's speed. The speeds are relative FMA rates of the AVX2 kernels measured here
 * (1x12 needs more pointer registers than x86-64 has, and runs at half speed), so a 6x2 tile
 * with one row of padding beats 1x12 for 5 channels. On a tie the earlier shape wins. */
static int choose_shape(const ct_isa_config *isa, int64_t cout_g)
{
    static const int order[CT_KERNEL_SHAPES] = {1, 0, 2, 3, 4}; /* 4x3, 6x2, 3x4, 2x6, 1x12 */
    static const double speed[CT_KERNEL_SHAPES] = {1.0, 1.0, 1.0, 0.85, 0.45}; /* by shape index */
    int best = 0;
    double best_cost = 0;
    for (int i = 0; i < CT_KERNEL_SHAPES; i++) {
        int s = order[i];
        int64_t mr = isa->mr[s];
        double cost = (double)((cout_g + mr - 1) / mr * mr) / speed[s];
        if (i == 0 || cost < best_cost) {
            best_cost = cost;
            best = s;
        }
    }
    return best;
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
    free(plan->bias);
    free(plan->weights);
    free(plan);
}

/* Distinct residues (k * dilation) mod stride of the taps of one dim, ascending. */
static int64_t dim_residues(int64_t kernel, int64_t dilation, int64_t stride, int64_t *res)
{
    int64_t n = 0;
    for (int64_t k = 0; k < kernel; k++) {
        int64_t r = k * dilation % stride, i = n;
        while (i > 0 && res[i - 1] > r)
            i--;
        if (i > 0 && res[i - 1] == r)
            continue;
        memmove(res + i + 1, res + i, sizeof(int64_t) * (size_t)(n - i));
        res[i] = r;
        n++;
    }
    return n;
}

/* Enumerates the phases that own taps (one per combination of per-dim residues that some
 * tap has; at most prod(kernel) of them), their taps, and where their packed weights go.
 * Output classes of no phase receive only the bias: plan->needs_bias_fill. */
static ct_status build_phases(ct_plan *plan)
{
    int64_t *res[3] = {NULL, NULL, NULL}, nres[3];
    ct_status st = CT_E_NOMEM;
    plan->needs_bias_fill = 0;
    for (int d = 0; d < 3; d++) {
        res[d] = malloc(sizeof(int64_t) * (size_t)plan->kernel[d]);
        if (!res[d])
            goto done;
        nres[d] = dim_residues(plan->kernel[d], plan->dilation[d], plan->stride[d], res[d]);
        if (nres[d] < plan->stride[d])
            plan->needs_bias_fill = 1;
    }
    plan->nphases = nres[0] * nres[1] * nres[2];
    plan->phases = calloc((size_t)plan->nphases, sizeof *plan->phases);
    if (!plan->phases)
        goto done;
    int64_t a_offset = 0;
    for (int64_t idx = 0; idx < plan->nphases; idx++) {
        ct_phase *ph = &plan->phases[idx];
        ph->residue[0] = res[0][idx / (nres[1] * nres[2])];
        ph->residue[1] = res[1][idx / nres[2] % nres[1]];
        ph->residue[2] = res[2][idx % nres[2]];
        int64_t count = 1;
        for (int d = 0; d < 3; d++) {
            int64_t c = 0;
            for (int64_t k = 0; k < plan->kernel[d]; k++)
                c += (k * plan->dilation[d]) % plan->stride[d] == ph->residue[d];
            count *= c;
        }
        ph->ntaps = count;
        ph->a_offset = a_offset;
        a_offset += plan->cblocks * plan->mr * plan->cin_g * ph->ntaps;
        ph->tap_t = malloc(sizeof(int64_t) * 3 * (size_t)ph->ntaps);
        ph->tap_k = malloc(sizeof(int64_t) * (size_t)ph->ntaps);
        if (!ph->tap_t || !ph->tap_k)
            goto done;
        int64_t tap = 0;
        for (int64_t z = 0; z < plan->kernel[0]; z++)
            for (int64_t y = 0; y < plan->kernel[1]; y++)
                for (int64_t x = 0; x < plan->kernel[2]; x++) {
                    int64_t k[3] = {z, y, x};
                    int in_phase = 1;
                    for (int d = 0; d < 3; d++)
                        in_phase &= (k[d] * plan->dilation[d]) % plan->stride[d] == ph->residue[d];
                    if (!in_phase)
                        continue;
                    for (int d = 0; d < 3; d++)
                        ph->tap_t[tap * 3 + d] = (k[d] * plan->dilation[d] - ph->residue[d]) / plan->stride[d];
                    ph->tap_k[tap++] = (z * plan->kernel[1] + y) * plan->kernel[2] + x;
                }
    }
    plan->group_stride = a_offset;
    st = CT_OK;
done:
    for (int d = 0; d < 3; d++)
        free(res[d]);
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

ct_status ct_plan_create(const ct_params *params, const ct_shape *weight_shape,
                         const float *weight, const float *bias, int64_t bias_len,
                         ct_plan **out, char *msg, size_t cap)
{
    *out = NULL;
    ct_status st = ct__validate_layer(params, weight_shape, bias != NULL, bias_len, msg, cap);
    if (st != CT_OK)
        return st;
    int64_t weight_elems = ct_shape_elements(weight_shape);
    if (weight_elems < 0)
        return ct__fail(msg, cap, CT_E_OVERFLOW, "weight: element count overflows");
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
    double border = 1; /* how much the zero border can multiply a padded plane */
    for (int d = 0; d < 3; d++)
        border *= 1.0 + 2.0 * (double)((plan->kernel[d] - 1) * plan->dilation[d] / plan->stride[d]);
    if (border > FAR_TAP) {
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
    plan->depthwise = plan->cin_g == 1;
    plan->algorithm = plan->depthwise ? plan->isa->dw_algorithm : plan->isa->algorithm[plan->shape];
    *out = plan;
    return CT_OK;
error:
    if (st == CT_E_NOMEM)
        ct__fail(msg, cap, st, "out of memory while packing the weights");
    ct_plan_destroy(plan);
    return st;
}

const char *ct_plan_algorithm(const ct_plan *plan) { return plan->algorithm; }
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

/* ------------------------------------------------------------------------------- run */

/* Per-run layout of one phase: which outputs it owns and how its pixel vectors tile. */
typedef struct run_phase {
    int64_t qmin[3], count[3];  /* q range per dim; count <= 0: phase has no outputs */
    int64_t rows;               /* count[0] * count[1] */
    int64_t vpr;                /* vectors per row */
    int64_t tiles;              /* ceil(rows * vpr / NV) */
    int64_t tile_blocks;        /* ceil(tiles / tiles_per_block) */
    int64_t *offsets;           /* cin_g * ntaps offsets into the padded input */
} run_phase;

typedef struct run_ctx {
    const ct_plan *plan;
    ct_geometry g;
    int64_t in[3], out[3], pad[3];     /* 3-d normalized */
    int64_t lo[3];                     /* the farthest tap's reach, per dim (max t) */
    int64_t org[3], ext[3];            /* padded input: input index of its first row/col, extent */
    int64_t plane;                     /* padded plane size, ext[0]*ext[1]*ext[2] */
    /* A long 1-d row is cut into segments of seg_w columns (0: not cut), each stored with the
     * columns its vectors read past its end, as the rows of a 2-d buffer (ext[1] segments of
     * ext[2] columns): the channels of one tile's K loop then lie a short row apart instead
     * of a whole row, which keeps a chunk's panel within a few pages. */
    int64_t seg_w;
    /* The padded input is laid out [n][z][y][c][x]: for one output row the K loop walks
     * the channels at a constant stride through one contiguous block (a pattern stride
     * prefetchers follow), and neighbouring tiles reuse that block. */
    int64_t row_stride;                /* C_in * ext[2]: one padded row of every channel */
    int64_t image_stride;              /* ext[0] * ext[1] * row_stride */
    int64_t out_plane;
    /* Padded images are made a step of images at a time, into two steps' worth of slots:
     * the next step is padded while this one is computed, and a padded image is read back
     * from cache, not memory. */
    float *xpad;                       /* slots * C_in padded planes */
    int64_t step, slots;               /* images per step; slots = min(N, 2 * step) */
    run_phase *phases;
    int64_t tiles_per_block, cgroups, ci_chunk;
    int64_t items_per_image;           /* groups * tile blocks (of the largest phase) * cgroups */
    int64_t scratch_floats;            /* per thread: partial sums of one item's tiles */
    int64_t dw_row_floats;             /* depthwise: floats of a thread's row buffer */
    int64_t items;
    const float *x;
    float *y;
} run_ctx;

/* Division rounding up for b > 0, without the overflow of a + b - 1 (strides may be near
 * INT64_MAX). */
static int64_t ceil_div(int64_t a, int64_t b)
{
    return a / b + (a % b > 0);
}

/* Copies input plane `plane_idx` (n * C_in + c) into its zero-bordered copy at dst (rows
 * row_stride apart) in one pass: each padded row is zeros, or zeros + an input row + zeros. */
static void pad_plane(const run_ctx *c, int64_t plane_idx, float *dst)
{
    const float *src = c->x + plane_idx * c->in[0] * c->in[1] * c->in[2];
    const int64_t row = c->ext[2], w = c->in[2];
    for (int64_t z = 0; z < c->ext[0]; z++)
        for (int64_t y = 0; y < c->ext[1]; y++) {
            float *d = dst + (z * c->ext[1] + y) * c->row_stride;
            /* buffer column x holds input column x + org: the input's columns land in [a, b) */
            int64_t iz = z + c->org[0], iy = y + c->org[1], org = c->org[2];
            if (c->seg_w) { /* segment y of the one input row */
                iy = 0;
                org += y * c->seg_w;
            }
            int64_t a = org < 0 ? -org : 0;
            int64_t b = org <= w ? w - org : 0;
            if (b > row)
                b = row;
            if (iz < 0 || iz >= c->in[0] || iy < 0 || iy >= c->in[1] || a >= b) {
                memset(d, 0, sizeof(float) * (size_t)row);
                continue;
            }
            memset(d, 0, sizeof(float) * (size_t)a);
            memcpy(d + a, src + (iz * c->in[1] + iy) * w + (a + org), sizeof(float) * (size_t)(b - a));
            memset(d + b, 0, sizeof(float) * (size_t)(row - b));
        }
}

/* Sets output plane `plane_idx` (n * C_out + co) to its bias (or zero). */
static void fill_bias_plane(const run_ctx *c, int64_t plane_idx)
{
    float *dst = c->y + plane_idx * c->out_plane;
    float value = c->plan->bias ? c->plan->bias[plane_idx % c->plan->out_channels] : 0.0f;
    for (int64_t i = 0; i < c->out_plane; i++)
        dst[i] = value;
}

/* The padded input of a vector's first pixel (q per dim), channel 0 of xbase's group. */
static const float *input_vector(const run_ctx *c, const float *xbase, int64_t qz, int64_t qy, int64_t qx)
{
    int64_t col = qx - c->org[2];
    if (c->seg_w) { /* the segment holding every column the vector reads, col - lo to col + VL */
        int64_t seg = (col - c->lo[2]) / c->seg_w;
        return xbase + seg * c->row_stride + (col - seg * c->seg_w);
    }
    return xbase + ((qz - c->org[0]) * c->ext[1] + (qy - c->org[1])) * c->row_stride + col;
}

/* Computes one phase's block of tiles for a group of channel blocks. */
static void run_phase_block(const run_ctx *c, int64_t n, int64_t grp, int64_t p, int64_t block, int64_t cgroup,
                            float *scratch)
{
    const ct_plan *plan = c->plan;
    const run_phase *rp = &c->phases[p];
    const ct_phase *ph = &plan->phases[p];
    const int64_t cb_per_group = (plan->cblocks + c->cgroups - 1) / c->cgroups;
    const int64_t cb0 = cgroup * cb_per_group;
    const int64_t cb1 = cb0 + cb_per_group < plan->cblocks ? cb0 + cb_per_group : plan->cblocks;
    const int64_t t0 = block * c->tiles_per_block;
    const int64_t t1 = t0 + c->tiles_per_block < rp->tiles ? t0 + c->tiles_per_block : rp->tiles;
    const int nv = plan->nv, mr = plan->mr, vl = plan->isa->vl;
    const ct_igemm_ukernel ukernel = plan->isa->ukernel[plan->shape];

    const float *xbase = c->xpad + n % c->slots * c->image_stride + grp * plan->cin_g * c->ext[2];
    float *ybase = c->y + (n * plan->out_channels + grp * plan->cout_g) * c->out_plane;
    const float *a_group = plan->packed + grp * plan->group_stride + ph->a_offset;

    /* Resolve each vector of the block once: input and output pointers, valid lanes. */
    enum { MAX_BLOCK_VECTORS = 1024 };
    const float *bptr[MAX_BLOCK_VECTORS];
    float *optr[MAX_BLOCK_VECTORS];
    int lanes[MAX_BLOCK_VECTORS];
    const int64_t vectors = rp->rows * rp->vpr;
    for (int64_t t = t0; t < t1; t++)
        for (int v = 0; v < nv; v++) {
            int64_t vi = t * nv + v, slot = (t - t0) * nv + v;
            if (vi >= vectors) { /* past the last vector: read the tile's first (valid) one */
                bptr[slot] = bptr[(t - t0) * nv];
                optr[slot] = ybase;
                lanes[slot] = 0;
                continue;
            }
            int64_t row = vi / rp->vpr, col = vi % rp->vpr * vl;
            int64_t qz = rp->qmin[0] + row / rp->count[1], qy = rp->qmin[1] + row % rp->count[1];
            int64_t qx = rp->qmin[2] + col;
            bptr[slot] = input_vector(c, xbase, qz, qy, qx);
            /* o = q * s + r - pad is a valid index, but q * s + r may pass INT64_MAX first */
            int64_t oz = (int64_t)((__int128)qz * plan->stride[0] + ph->residue[0] - c->pad[0]);
            int64_t oy = (int64_t)((__int128)qy * plan->stride[1] + ph->residue[1] - c->pad[1]);
            int64_t ox = (int64_t)((__int128)qx * plan->stride[2] + ph->residue[2] - c->pad[2]);
            optr[slot] = ybase + (oz * c->out[1] + oy) * c->out[2] + ox;
            int64_t left = rp->count[2] - col;
            lanes[slot] = (int)(left < vl ? left : vl);
        }

    /* K in chunks: partial sums of all but the last chunk go to a contiguous scratch tile
     * per (tile, channel block), laid out [MR][NV][VL]; the last chunk writes the output. */
    ct_igemm_args args;
    const int64_t ntaps = ph->ntaps;
    const int64_t ci_chunk = c->ci_chunk;
    const int64_t ncb = cb1 - cb0, tile_floats = (int64_t)mr * nv * vl;
    float bias_rows[8]; /* >= the largest MR */
    for (int64_t ci0 = 0; ci0 < plan->cin_g; ci0 += ci_chunk) {
        const int64_t ci1 = ci0 + ci_chunk < plan->cin_g ? ci0 + ci_chunk : plan->cin_g;
        const int first = ci0 == 0, last = ci1 == plan->cin_g;
        args.k = (size_t)((ci1 - ci0) * ntaps);
        args.offsets = rp->offsets + ci0 * ntaps;
        args.acc_cstride = (int64_t)nv * vl;
        /* Tiles outside, channel blocks inside: a tile's input panel (K chunk x NV vectors)
         * stays in L1 while the weight blocks stream through it from L2. */
        for (int64_t t = t0; t < t1; t++) {
            const int64_t slot0 = (t - t0) * nv;
            for (int v = 0; v < nv; v++)
                args.b[v] = bptr[slot0 + v];
            for (int64_t cb = cb0; cb < cb1; cb++) {
                const int64_t co0 = cb * mr;
                float *partial = scratch + ((t - t0) * ncb + (cb - cb0)) * tile_floats;
                args.a = a_group + (cb * plan->cin_g + ci0) * ntaps * mr;
                args.m = (int)(plan->cout_g - co0 < mr ? plan->cout_g - co0 : mr);
                args.bias = plan->bias ? plan->bias + grp * plan->cout_g + co0 : NULL;
                for (int v = 0; v < nv; v++) {
                    args.acc[v] = first ? NULL : partial + v * vl;
                    if (last) {
                        args.out[v] = optr[slot0 + v] + co0 * c->out_plane;
                        args.lanes[v] = lanes[slot0 + v];
                    } else {
                        args.out[v] = partial + v * vl;
                        args.lanes[v] = vl;
                    }
                }
                args.out_cstride = last ? c->out_plane : (int64_t)nv * vl;
                args.out_xstride = last ? plan->stride[2] : 1;
                if (!last && args.m < mr && args.bias) {
                    /* scratch tiles hold all MR rows: the kernel reads MR biases */
                    memset(bias_rows, 0, sizeof bias_rows);
                    memcpy(bias_rows, args.bias, sizeof(float) * (size_t)args.m);
                    args.bias = bias_rows;
                }
                args.m = last ? args.m : mr;
                args.prefetch = cb == cb0;
                ukernel(&args);
            }
        }
    }
}

/* The depthwise path (one input channel per group): K is just the taps, too short for the
 * GEMM microkernels, so each output plane is computed row by row. A stride-2 row's two
 * x-phases are computed over their common q range and zipped into output order; other
 * strides scatter each phase row. */
/* A depthwise channel's packed weights in one phase: its taps, plan->mr floats apart. */
static const float *depthwise_weights(const ct_plan *plan, int64_t grp, int64_t co, const ct_phase *ph)
{
    return plan->packed + grp * plan->group_stride + ph->a_offset + (co / plan->mr * ph->ntaps * plan->mr) +
           co % plan->mr;
}

static void run_depthwise_channel(const run_ctx *c, int64_t n, int64_t channel, const float *xbase,
                                  float *scratch)
{
    const ct_plan *plan = c->plan;
    const ct_isa_config *isa = plan->isa;
    const int64_t grp = channel / plan->cout_g, co = channel % plan->cout_g;
    const int64_t sx = plan->stride[2], px = c->pad[2];
    const float bias = plan->bias ? plan->bias[channel] : 0.0f;
    float *ybase = c->y + (n * plan->out_channels + channel) * c->out_plane;
    float *tmp = scratch;
    for (int64_t p = 0; p < plan->nphases; p++) {
        const run_phase *rp = &c->phases[p];
        const ct_phase *ph = &plan->phases[p];
        if (rp->count[0] <= 0)
            continue;
        const float *w = depthwise_weights(plan, grp, co, ph);
        /* the next phase is this row's other x-phase: both go through one zip */
        const int pair = sx == 2 && ph->residue[2] == 0 && p + 1 < plan->nphases && c->phases[p + 1].count[0] > 0 &&
                         plan->phases[p + 1].residue[2] == 1 && plan->phases[p + 1].residue[1] == ph->residue[1] &&
                         plan->phases[p + 1].residue[0] == ph->residue[0];
        const run_phase *rq = pair ? &c->phases[p + 1] : rp;
        const ct_phase *qh = pair ? &plan->phases[p + 1] : ph;
        const float *w1 = depthwise_weights(plan, grp, co, qh);
        const int64_t qlo = rp->qmin[2] < rq->qmin[2] ? rp->qmin[2] : rq->qmin[2];
        const int64_t qend0 = rp->qmin[2] + rp->count[2], qend1 = rq->qmin[2] + rq->count[2];
        const int64_t qcount = (qend0 > qend1 ? qend0 : qend1) - qlo;
        for (int64_t row = 0; row < rp->rows; row++) {
            const int64_t qz = rp->qmin[0] + row / rp->count[1], qy = rp->qmin[1] + row % rp->count[1];
            const int64_t oz = (int64_t)((__int128)qz * plan->stride[0] + ph->residue[0] - c->pad[0]);
            const int64_t oy = (int64_t)((__int128)qy * plan->stride[1] + ph->residue[1] - c->pad[1]);
            float *orow = ybase + (oz * c->out[1] + oy) * c->out[2];
            /* the row's padded input; column q is at + (q - org[2]) (org alone may be huge) */
            const float *src = xbase + ((qz - c->org[0]) * c->ext[1] + (qy - c->org[1])) * c->row_stride;
            if (pair) {
                /* zipped element i is output column 2 * qlo - px + i */
                isa->dw_pair(src + (qlo - c->org[2]), rp->offsets, w, ph->ntaps, rq->offsets, w1, qh->ntaps, plan->mr, bias, orow,
                             2 * qlo - px, qcount, c->out[2]);
                continue;
            }
            const int64_t q0 = rp->qmin[2];
            const int64_t ox0 = (int64_t)((__int128)q0 * sx + ph->residue[2] - px);
            if (sx == 1) {
                isa->dw_row(src + (q0 - c->org[2]), rp->offsets, w, plan->mr, ph->ntaps, bias, orow + ox0, rp->count[2]);
                continue;
            }
            isa->dw_row(src + (q0 - c->org[2]), rp->offsets, w, plan->mr, ph->ntaps, bias, tmp, rp->count[2]);
            for (int64_t j = 0; j < rp->count[2]; j++)
                orow[ox0 + j * sx] = tmp[j];
        }
        if (pair)
            p++;
    }
}

/* A depthwise item: one input plane, padded into the thread's scratch (where it stays in
 * cache), and the output channels computed from it. */
static void run_depthwise_item(const run_ctx *c, int64_t item, float *scratch)
{
    const ct_plan *plan = c->plan;
    const int64_t n = item / plan->groups, grp = item % plan->groups;
    float *plane = scratch + c->dw_row_floats;
    pad_plane(c, n * plan->in_channels + grp, plane);
    for (int64_t co = 0; co < plan->cout_g; co++)
        run_depthwise_channel(c, n, grp * plan->cout_g + co, plane, scratch);
}

/* Computes one item: an image, a group, a block of tiles (the same block index in every
 * phase, so the phases share the input rows while they are in cache), a group of channel
 * blocks. */
static void run_item(const run_ctx *c, int64_t item, float *scratch)
{
    const ct_plan *plan = c->plan;
    if (plan->depthwise) {
        run_depthwise_item(c, item, scratch);
        return;
    }
    const int64_t per_group = c->items_per_image / plan->groups;
    const int64_t n = item / c->items_per_image;
    const int64_t grp = item % c->items_per_image / per_group;
    const int64_t block = item % per_group / c->cgroups, cgroup = item % c->cgroups;
    for (int64_t p = 0; p < plan->nphases; p++)
        if (block < c->phases[p].tile_blocks)
            run_phase_block(c, n, grp, p, block, cgroup, scratch);
}

/* Lays out phases, the padded input and the work items. Returns the bytes of padded input
 * (the shared workspace, or the depthwise path's per-thread planes), or -1 on overflow. */
static int64_t plan_run(run_ctx *c, int nthreads)
{
    const ct_plan *plan = c->plan;
    const int shift = 3 - c->g.nd;
    for (int d = 0; d < 3; d++) {
        c->in[d] = d < shift ? 1 : c->g.in[d - shift];
        c->out[d] = d < shift ? 1 : c->g.out[d - shift];
        c->pad[d] = d < shift ? 0 : c->g.pad_begin[d - shift];
        c->lo[d] = (plan->kernel[d] - 1) * plan->dilation[d] / plan->stride[d];
    }
    /* The rows the kernels read: q - t for the outputs' q of every phase and t in [0, lo].
     * The padded input spans exactly those, so its size follows the output, not the padding
     * (a huge derived padding only moves the window). */
    int64_t qlo[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, qhi[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
    int64_t ntaps_max = 1;
    for (int64_t p = 0; p < plan->nphases; p++) {
        run_phase *rp = &c->phases[p];
        const ct_phase *ph = &plan->phases[p];
        rp->tile_blocks = 0;
        int64_t qmax[3];
        int empty = 0;
        for (int d = 0; d < 3; d++) {
            int64_t s = plan->stride[d], r = ph->residue[d];
            int64_t qmin = ceil_div(c->pad[d] - r, s);
            if (qmin < 0)
                qmin = 0;
            /* out - 1 + pad can pass INT64_MAX when both are huge: 128-bit, then back */
            __int128 last = (__int128)c->out[d] - 1 + c->pad[d] - r;
            qmax[d] = (int64_t)(last / s - (last % s < 0));
            rp->qmin[d] = qmin;
            rp->count[d] = qmax[d] - qmin + 1;
            empty |= rp->count[d] <= 0;
        }
        if (empty) {
            rp->count[0] = 0;
            continue;
        }
        for (int d = 0; d < 3; d++) {
            qlo[d] = rp->qmin[d] < qlo[d] ? rp->qmin[d] : qlo[d];
            qhi[d] = qmax[d] > qhi[d] ? qmax[d] : qhi[d];
        }
        if (ph->ntaps > ntaps_max)
            ntaps_max = ph->ntaps;
        rp->rows = rp->count[0] * rp->count[1];
        rp->vpr = ceil_div(rp->count[2], plan->isa->vl);
        rp->tiles = ceil_div(rp->rows * rp->vpr, plan->nv);
    }
    for (int d = 0; d < 3; d++) {
        if (qlo[d] > qhi[d]) /* no phase has outputs: a token buffer nothing reads */
            qlo[d] = qhi[d] = 0;
        if (!ct__sub(qlo[d], c->lo[d], &c->org[d]) || !ct__sub(qhi[d], c->org[d], &c->ext[d]) ||
            !ct__add(c->ext[d], 1 + (d == 2 ? plan->isa->vl : 0), &c->ext[d]))
            return -1; /* far-reaching taps: the caller takes the gather path or reports the overflow */
    }
    c->seg_w = 0;
    const int64_t tile_columns = (int64_t)plan->nv * plan->isa->vl;
    if (!plan->depthwise && c->ext[0] == 1 && c->ext[1] == 1 && c->ext[2] > 8 * tile_columns) {
        /* one tile wide; vectors start at column lo or later and end by ext[2] */
        c->seg_w = tile_columns;
        c->ext[1] = ceil_div(c->ext[2] - c->lo[2], c->seg_w);
        c->ext[2] = c->seg_w + c->lo[2] + plan->isa->vl;
    }
    if (!ct__mul(c->ext[0], c->ext[1], &c->plane) || !ct__mul(c->plane, c->ext[2], &c->plane) ||
        !ct__mul(c->plane, plan->in_channels, &c->image_stride))
        return -1;
    /* a depthwise item pads its one plane alone: rows are then ext[2] apart */
    c->row_stride = plan->depthwise ? c->ext[2] : plan->in_channels * c->ext[2];
    c->out_plane = c->out[0] * c->out[1] * c->out[2];

    /* Work split: K chunks that keep a weight block in L1, tile blocks whose input panel
     * fits L2, then smaller blocks (and channel groups) until every thread has work. */
    c->ci_chunk = CHUNK_TERMS / ntaps_max > 0 ? CHUNK_TERMS / ntaps_max : 1;
    const int64_t kchunk = c->ci_chunk * ntaps_max;
    int64_t tile_bytes = kchunk * plan->nv * plan->isa->vl * (int64_t)sizeof(float);
    c->tiles_per_block = PANEL_BYTES / tile_bytes > 0 ? PANEL_BYTES / tile_bytes : 1;
    int64_t max_block = 1024 / plan->nv;  /* MAX_BLOCK_VECTORS in run_item */
    if (c->tiles_per_block > max_block)
        c->tiles_per_block = max_block;
    c->cgroups = 1;
    for (;;) {
        int64_t blocks = 0;
        for (int64_t p = 0; p < plan->nphases; p++) {
            run_phase *rp = &c->phases[p];
            rp->tile_blocks = rp->count[0] > 0 ? ceil_div(rp->tiles, c->tiles_per_block) : 0;
            if (rp->tile_blocks > blocks)
                blocks = rp->tile_blocks;
        }
        c->items_per_image = blocks * c->cgroups * plan->groups;
        c->items = c->items_per_image * c->g.batch;
        if (c->items >= 4 * (int64_t)nthreads || nthreads == 1)
            break;
        if (c->tiles_per_block > 1)
            c->tiles_per_block = (c->tiles_per_block + 1) / 2;
        else if (c->cgroups < plan->cblocks)
            c->cgroups++;
        else
            break;
    }
    if (plan->depthwise) {
        /* an item is one output plane; a row buffer holds the widest phase row, rounded up */
        c->dw_row_floats = c->ext[2] + plan->isa->vl; /* ext[2] > the widest q range */
        c->items_per_image = plan->groups;
        c->items = c->g.batch * plan->groups;
        if (!ct__add(c->dw_row_floats, c->plane, &c->scratch_floats))
            return -1;
    } else {
        int64_t cb_per_group = (plan->cblocks + c->cgroups - 1) / c->cgroups;
        c->scratch_floats = c->tiles_per_block * cb_per_group * plan->mr * plan->nv * plan->isa->vl;
    }
    /* Images are padded and computed a step at a time: enough images per step that every
     * thread has a few items, two steps' worth of padded slots. */
    c->step = c->items_per_image > 0 ? ceil_div(4 * (int64_t)nthreads, c->items_per_image) : c->g.batch;
    if (c->step > c->g.batch)
        c->step = c->g.batch;
    c->slots = 2 * c->step < c->g.batch ? 2 * c->step : c->g.batch;
    int64_t bytes;
    if (!ct__mul(plan->depthwise ? c->plane : c->image_stride, plan->depthwise ? nthreads : c->slots, &bytes) ||
        !ct__mul(bytes, sizeof(float), &bytes))
        return -1;
    return bytes;
}

static void fill_offsets(run_ctx *c, int64_t *table)
{
    const ct_plan *plan = c->plan;
    for (int64_t p = 0; p < plan->nphases; p++) {
        const ct_phase *ph = &plan->phases[p];
        run_phase *rp = &c->phases[p];
        rp->offsets = table;
        for (int64_t ci = 0; ci < plan->cin_g; ci++)
            for (int t = 0; t < ph->ntaps; t++) {
                const int64_t *tt = ph->tap_t + t * 3;
                table[ci * ph->ntaps + t] = ci * c->ext[2] - (tt[0] * c->ext[1] + tt[1]) * c->row_stride - tt[2];
            }
        table += plan->cin_g * ph->ntaps;
    }
}

/* The body of a run: padding, bias fill, then the work items. Called by every thread of the
 * parallel region (the omp for loops split the work), or alone outside any region. */
static void run_parallel(run_ctx *c, const ct_plan *plan, int *failed)
{
    if (plan->needs_bias_fill) {
#pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < c->g.batch * plan->out_channels; i++)
            fill_bias_plane(c, i);
    }
    float *scratch = NULL;
    if (posix_memalign((void **)&scratch, 64, sizeof(float) * (size_t)(c->scratch_floats + 1)) != 0)
        scratch = NULL;
    const int64_t per_image = c->items_per_image;
    for (int64_t n0 = 0; n0 < c->g.batch; n0 += c->step) {
        const int64_t n1 = n0 + c->step < c->g.batch ? n0 + c->step : c->g.batch;
        /* The barrier after padding this step also ends every thread's share of the step
         * before, whose slots the next step reuses. */
        const int64_t pad_end = plan->depthwise ? n0 * plan->in_channels : n1 * plan->in_channels;
#pragma omp for schedule(static) nowait
        for (int64_t i = n0 * plan->in_channels; i < pad_end; i++)
            pad_plane(c, i, c->xpad + i / plan->in_channels % c->slots * c->image_stride + i % plan->in_channels * c->ext[2]);
#pragma omp barrier
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t i = n0 * per_image; i < n1 * per_image; i++) {
            if (scratch)
                run_item(c, i, scratch);
            else
#pragma omp atomic write
                *failed = 1;
        }
    }
    free(scratch);
}

ct_status ct_plan_run(const ct_plan *plan, const ct_shape *input_shape, const float *input,
                      float *output, int nthreads, char *msg, size_t cap)
{
    run_ctx c = {.plan = plan, .x = input, .y = output};
    ct_status st = ct__resolve_geometry(&plan->params, &plan->weight_shape, input_shape, &c.g, msg, cap);
    if (st != CT_OK)
        return st;
    if (c.g.batch == 0)
        return CT_OK;
    if (nthreads < 1)
        nthreads = 1;
    /* Nominal FLOPs decide whether threads pay for themselves. */
    double flops = 2.0 * (double)c.g.batch * (double)plan->in_channels * (double)plan->cout_g;
    for (int d = 0; d < 3; d++)
        flops *= (double)plan->kernel[d];
    for (int d = 0; d < c.g.nd; d++)
        flops *= (double)c.g.in[d];
    if (flops < TINY_FLOPS)
        nthreads = 1;

    c.phases = calloc((size_t)plan->nphases, sizeof *c.phases);
    if (!c.phases)
        return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for the run's phase table");
    int64_t xpad_bytes = plan_run(&c, nthreads);
    int64_t tensors = (ct_shape_elements(input_shape) + c.g.batch * plan->out_channels * c.out_plane) * (int64_t)sizeof(float);
    if (plan->weights && (xpad_bytes < 0 || xpad_bytes > 4 * tensors + ((int64_t)64 << 20))) {
        free(c.phases);
        return ct_reference_run(&plan->params, input_shape, input, &plan->weight_shape, plan->weights, plan->bias,
                                plan->bias ? plan->out_channels : 0, output, msg, cap);
    }
    int64_t terms = plan->cin_g * (plan->kernel[0] * plan->kernel[1] * plan->kernel[2]);
    if (plan->depthwise && xpad_bytes >= 0)
        xpad_bytes = 0; /* its planes are in the threads' scratch */
    int64_t total, table_at = (xpad_bytes + 63) / 64 * 64; /* keep the offsets 8-byte aligned */
    if (xpad_bytes < 0 || !ct__add(table_at, terms * (int64_t)sizeof(int64_t), &total) || (uint64_t)total > SIZE_MAX) {
        free(c.phases);
        return ct__fail(msg, cap, CT_E_OVERFLOW, "input: the padded workspace size overflows");
    }
    char *workspace = NULL;
    if (posix_memalign((void **)&workspace, 64, (size_t)total + 64) != 0) {
        free(c.phases);
        return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for a %lld-byte workspace", (long long)total);
    }
    c.xpad = (float *)workspace;
    fill_offsets(&c, (int64_t *)(workspace + table_at));

    int threads = nthreads < c.items ? nthreads : (int)(c.items > 0 ? c.items : 1);
    int failed = 0;
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        run_parallel(&c, plan, &failed);
    } else {
        run_parallel(&c, plan, &failed); /* no OpenMP runtime for one thread */
    }
    if (failed) {
        free(workspace);
        free(c.phases);
        return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for the per-thread scratch tiles");
    }
    free(workspace);
    free(c.phases);
    return CT_OK;
}
