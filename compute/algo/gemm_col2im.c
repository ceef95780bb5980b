/* gemm_col2im.c - the GEMM + col2im path, for layers with few output channels per group (an image
 * generator's last layer, 64 -> 3 channels).
 *
 * There the phase path's tiles hold only cout_g channel rows, so each input vector it loads
 * feeds cout_g FMAs, and its padded copy of a large input costs as much as the arithmetic.
 * This path multiplies the input as it lies (channels x pixels, no padded copy) by the
 * weights taken as a (cout_g x taps) x C_in matrix, with the same microkernels (one term per
 * channel, channels a plane apart), into a col buffer that stays in cache: one row per
 * (output channel, tap), every tile of full height. Each output row is then summed from the
 * col rows of the taps that reach it, per x-phase with unit-stride adds, and written once.
 *
 * Items are (image, group, band of output indices along the outermost spatial dim). An item
 * computes the col rows of every input slab its band reads, so the slabs at a band's edges
 * are computed by both neighbours, and items write disjoint outputs in any order. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define COL_BYTES (512 * 1024)   /* an item's col buffer, written then read: within L2 */
#define COL_MAX_BYTES (8 << 20)  /* a band of one output index needs more: the phase path */
#define COL_MAX_EXTENT ((int64_t)1 << 31) /* larger sizes or paddings: the phase path */

typedef struct col_ctx {
    const ct_plan *plan;
    const ct_isa_config *isa;
    int64_t in[3], out[3], pad[3];     /* 3-d normalized */
    int bd;                            /* the dim bands run along: 0 for 3-d layers, else 1 */
    int64_t slab;                      /* input pixels per index of dim bd */
    int64_t in_plane, out_plane;
    int64_t band, bands;               /* output indices per band; bands per image and group */
    int64_t col_stride;                /* floats between col rows */
    int64_t phase_len;                 /* floats of one x-phase's row buffer */
    int64_t scratch_floats;            /* per thread: col, tail vectors, row buffers */
    int64_t items, next_item, items_done;
    int64_t *offsets;                  /* cin_g: channel ci at ci * in_plane */
    int64_t *tail_offsets;             /* cin_g: channel ci at ci * VL of the tail buffer */
    /* per x tap kx: its x-phase r, the shift from input column to phase column, and the
     * input columns [xa, xb) that land inside the output */
    int64_t *xr, *xsh, *xa, *xb;
    const float *x;
    float *y;
    const int *cancel;                 /* nonzero (read atomically): take no more items */
} col_ctx;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The input indices of dim bd [i0, i1) that reach outputs [o0, o1) of it. */
static void band_inputs(const col_ctx *c, int64_t o0, int64_t o1, int64_t *i0, int64_t *i1)
{
    const ct_plan *plan = c->plan;
    const int bd = c->bd;
    const int64_t s = plan->stride[bd], reach = (plan->kernel[bd] - 1) * plan->dilation[bd];
    /* o = i * s - pad + k * d */
    const int64_t lo = o0 + c->pad[bd] - reach, hi = o1 - 1 + c->pad[bd];
    *i0 = lo <= 0 ? 0 : ceil_div(lo, s);
    *i1 = hi < 0 ? 0 : min64(hi / s + 1, c->in[bd]);
    if (*i1 < *i0)
        *i1 = *i0;
}

/* One tile of the GEMM: args' vectors (b, lanes, offsets) times every block of weight rows,
 * into col from out[v] on. */
static void gemm_tile(const col_ctx *c, ct_igemm_args *args, const float *a_group, float *const *out, int tnv)
{
    const ct_plan *plan = c->plan;
    const int mr = plan->col_mr;
    const ct_igemm_ukernel ukernel = c->isa->ukernel[plan->col_shape][tnv - 1];
    for (int64_t mb = 0; mb < plan->col_mblocks; mb++) {
        args->a = a_group + mb * plan->cin_g * mr;
        args->m = (int)min64(mr, plan->col_rows - mb * mr);
        args->prefetch = mb == 0; /* the input comes from memory, once */
        for (int v = 0; v < tnv; v++)
            args->out[v] = out[v] + mb * mr * c->col_stride;
        ukernel(args);
    }
}

/* The col rows of npix input pixels of one group (channel 0 at xg), into col. */
static void col_gemm(const col_ctx *c, const float *xg, int64_t npix, int64_t grp, float *col, float *tail)
{
    const ct_plan *plan = c->plan;
    const int vl = c->isa->vl, nv = plan->col_nv;
    const float *a_group = plan->col_packed + grp * plan->col_mblocks * plan->cin_g * plan->col_mr;
    ct_igemm_args args;
    memset(&args, 0, sizeof args);
    args.k = (size_t)plan->cin_g;
    args.out_cstride = c->col_stride;
    args.out_xstride = 1;
    args.offsets = c->offsets;
    const int64_t full = npix / vl, rem = npix % vl;
    float *out[CT_NV_MAX];
    for (int64_t v0 = 0; v0 < full; v0 += nv) {
        const int tnv = (int)min64(nv, full - v0);
        for (int v = 0; v < tnv; v++) {
            args.b[v] = xg + (v0 + v) * vl;
            args.lanes[v] = vl;
            out[v] = col + (v0 + v) * vl;
        }
        gemm_tile(c, &args, a_group, out, tnv);
    }
    if (rem > 0) { /* the last pixels, fewer than a vector: from a zero-padded copy */
        for (int64_t ci = 0; ci < plan->cin_g; ci++) {
            memcpy(tail + ci * vl, xg + ci * c->in_plane + full * vl, sizeof(float) * (size_t)rem);
            memset(tail + ci * vl + rem, 0, sizeof(float) * (size_t)(vl - rem));
        }
        args.offsets = c->tail_offsets;
        args.b[0] = tail;
        args.lanes[0] = (int)rem;
        out[0] = col + full * vl;
        gemm_tile(c, &args, a_group, out, 1);
    }
}

/* Output rows of the band [o0, o1) of image n, group grp, from the col rows of input slabs
 * from i0 on. Each row: the bias into one buffer per x-phase, the col rows of every tap that
 * reaches it added there, then the phases interleaved into the output. */
static void col2im(const col_ctx *c, int64_t n, int64_t grp, int64_t o0, int64_t o1, int64_t i0, const float *col,
                   float *rows)
{
    const ct_plan *plan = c->plan;
    const int64_t sx = plan->stride[2], k1 = plan->kernel[1], k2 = plan->kernel[2];
    const int64_t taps = plan->kernel[0] * k1 * k2, len = c->phase_len;
    const int64_t z0 = c->bd == 0 ? o0 : 0, z1 = c->bd == 0 ? o1 : c->out[0];
    const int64_t y0 = c->bd == 0 ? 0 : o0, y1 = c->bd == 0 ? c->out[1] : o1;
    for (int64_t co = 0; co < plan->cout_g; co++) {
        const float bias = plan->bias ? plan->bias[grp * plan->cout_g + co] : 0.0f;
        float *yplane = c->y + (n * plan->out_channels + grp * plan->cout_g + co) * c->out_plane;
        const float *colc = col + co * taps * c->col_stride;
        float *bias_rows = rows + sx * len; /* copied to start each row: memcpy is vectorized */
        for (int64_t i = 0; i < sx * len; i++)
            bias_rows[i] = bias;
        for (int64_t oz = z0; oz < z1; oz++)
            for (int64_t oy = y0; oy < y1; oy++) {
                memcpy(rows, bias_rows, sizeof(float) * (size_t)(sx * len));
                for (int64_t kz = 0; kz < plan->kernel[0]; kz++) {
                    const int64_t tz = oz + c->pad[0] - kz * plan->dilation[0];
                    if (tz < 0 || tz % plan->stride[0] != 0 || tz / plan->stride[0] >= c->in[0])
                        continue;
                    const int64_t iz = tz / plan->stride[0];
                    for (int64_t ky = 0; ky < k1; ky++) {
                        const int64_t ty = oy + c->pad[1] - ky * plan->dilation[1];
                        if (ty < 0 || ty % plan->stride[1] != 0 || ty / plan->stride[1] >= c->in[1])
                            continue;
                        const int64_t iy = ty / plan->stride[1];
                        const int64_t pix = c->bd == 0 ? (iz - i0) * c->slab + iy * c->in[2] : (iy - i0) * c->slab;
                        const float *src = colc + (kz * k1 + ky) * k2 * c->col_stride + pix;
                        for (int64_t kx = 0; kx < k2; kx++, src += c->col_stride)
                            if (c->xa[kx] < c->xb[kx])
                                c->isa->add_row(rows + c->xr[kx] * len + c->xsh[kx] + c->xa[kx], src + c->xa[kx],
                                        c->xb[kx] - c->xa[kx]);
                    }
                }
                float *dst = yplane + (oz * c->out[1] + oy) * c->out[2];
                if (sx == 1) {
                    memcpy(dst, rows, sizeof(float) * (size_t)c->out[2]);
                } else if (sx == 2) {
                    c->isa->zip_row(dst, rows, rows + len, c->out[2]);
                } else {
                    for (int64_t ox = 0; ox < c->out[2]; ox++)
                        dst[ox] = rows[ox % sx * len + ox / sx];
                }
            }
    }
}

static void col_item(col_ctx *c, int64_t item, float *scratch)
{
    const ct_plan *plan = c->plan;
    const int64_t band = item % c->bands, grp = item / c->bands % plan->groups;
    const int64_t n = item / c->bands / plan->groups;
    const int64_t o0 = band * c->band, o1 = min64(o0 + c->band, c->out[c->bd]);
    int64_t i0, i1;
    band_inputs(c, o0, o1, &i0, &i1);
    float *col = scratch, *tail = col + plan->col_rows * c->col_stride, *rows = tail + plan->cin_g * c->isa->vl;
    const float *xg = c->x + (n * plan->in_channels + grp * plan->cin_g) * c->in_plane + i0 * c->slab;
    if (i1 > i0)
        col_gemm(c, xg, (i1 - i0) * c->slab, grp, col, tail);
    col2im(c, n, grp, o0, o1, i0, col, rows);
}

static void col_parallel(col_ctx *c)
{
    float *scratch = NULL;
    if (posix_memalign((void **)&scratch, 64, sizeof(float) * (size_t)c->scratch_floats) != 0)
        return; /* the other threads take the items; col_run reports any left */
    for (;;) {
        const int64_t i = __atomic_fetch_add(&c->next_item, 1, __ATOMIC_RELAXED);
        if (i >= c->items || (c->cancel && __atomic_load_n(c->cancel, __ATOMIC_RELAXED)))
            break;
        col_item(c, i, scratch);
        __atomic_fetch_add(&c->items_done, 1, __ATOMIC_RELAXED);
    }
    free(scratch);
}

/* Sets the geometry, bands and per-x-tap table; 0 when the path does not apply. */
static int col_layout(col_ctx *c, const ct_geometry *g, int nthreads)
{
    const ct_plan *plan = c->plan;
    ct__geometry_3d(g, c->in, c->out, c->pad);
    for (int d = 0; d < 3; d++)
        if (c->in[d] > COL_MAX_EXTENT || c->out[d] > COL_MAX_EXTENT || c->pad[d] > COL_MAX_EXTENT ||
            c->pad[d] < -COL_MAX_EXTENT)
            return 0;
    c->bd = g->nd == 3 ? 0 : 1;
    c->slab = c->bd == 0 ? c->in[1] * c->in[2] : c->in[2];
    c->in_plane = c->in[0] * c->in[1] * c->in[2];
    c->out_plane = c->out[0] * c->out[1] * c->out[2];
    const int64_t vl = c->isa->vl, bd_out = c->out[c->bd];
    const double slab_bytes = (double)plan->col_rows * (double)c->slab * sizeof(float);
    /* the slabs a band of b outputs reads: b / s, plus the kernel's reach, plus one */
    const int64_t s = plan->stride[c->bd], reach = (plan->kernel[c->bd] - 1) * plan->dilation[c->bd];
    const int64_t extra = reach / s + 2;
    if (slab_bytes * (double)extra > COL_MAX_BYTES)
        return 0;
    int64_t fit = (int64_t)(COL_BYTES / slab_bytes) - extra; /* the band's own slabs */
    int64_t band = fit < 1 ? 1 : min64(fit * s, bd_out);
    int64_t bands = ceil_div(bd_out, band);
    const int64_t images = g->batch * plan->groups;
    if (images * bands < 4 * (int64_t)nthreads && nthreads > 1)
        bands = min64(bd_out, ceil_div(4 * (int64_t)nthreads, images));
    c->band = ceil_div(bd_out, bands);
    c->bands = ceil_div(bd_out, c->band);
    c->items = images * c->bands;
    const int64_t slabs = min64(c->in[c->bd], c->band / s + extra);
    c->col_stride = (slabs * c->slab + vl - 1) / vl * vl + vl; /* a spare vector: rows start apart */
    c->phase_len = ceil_div(c->out[2], plan->stride[2]);
    c->scratch_floats = plan->col_rows * c->col_stride + plan->cin_g * vl + 2 * plan->stride[2] * c->phase_len + vl;
    return 1;
}

int ct__run_col(const ct_plan *plan, const ct_geometry *g, const float *x, float *y, int nthreads, const int *cancel)
{
    col_ctx c = {.plan = plan, .isa = plan->isa, .x = x, .y = y, .cancel = cancel};
    if (!col_layout(&c, g, nthreads))
        return 0;
    const int64_t k2 = plan->kernel[2];
    int64_t *tables = malloc(sizeof(int64_t) * (size_t)(2 * plan->cin_g + 4 * k2));
    if (!tables)
        return -1;
    c.offsets = tables;
    c.tail_offsets = tables + plan->cin_g;
    c.xr = c.tail_offsets + plan->cin_g;
    c.xsh = c.xr + k2;
    c.xa = c.xsh + k2;
    c.xb = c.xa + k2;
    for (int64_t ci = 0; ci < plan->cin_g; ci++) {
        c.offsets[ci] = ci * c.in_plane;
        c.tail_offsets[ci] = ci * c.isa->vl;
    }
    const int64_t sx = plan->stride[2];
    for (int64_t kx = 0; kx < k2; kx++) {
        /* ox = ix * sx + e = (ix + sh) * sx + r, 0 <= r < sx; inside the output for
         * -e <= ix * sx <= out - 1 - e */
        const int64_t e = kx * plan->dilation[2] - c.pad[2];
        const int64_t r = ((e % sx) + sx) % sx;
        c.xr[kx] = r;
        c.xsh[kx] = (e - r) / sx;
        c.xa[kx] = e >= 0 ? 0 : ceil_div(-e, sx);
        const int64_t last = c.out[2] - 1 - e;
        c.xb[kx] = last < 0 ? 0 : min64(last / sx + 1, c.in[2]);
    }
    const int threads = (int)min64(nthreads, c.items);
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        col_parallel(&c);
    } else {
        col_parallel(&c); /* no OpenMP runtime for one thread */
    }
    free(tables);
    if (c.items_done == c.items)
        return 1;
    return cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED) ? -2 : -1;
}
