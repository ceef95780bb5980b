/* phase_igemm.c - the stride-phase indirect GEMM: computes one work item (an image, a group,
 * a block of pixel tiles in every phase, a group of channel blocks) from the padded input.
 * An item walks the input channels in cache-sized chunks and calls an indirect-GEMM
 * microkernel (kernels/igemm.h) per MR channels x NV pixel vectors. The two x-phases of a
 * stride-2 row whose outputs interleave are computed one after the other, the first into a
 * scratch tile that the second's kernel zips with its own into the output, so their outputs
 * leave as whole vectors rather than every other float. */
#include <string.h>

#include "plan.h"

/* count packed weights from offset (a K x MR panel) as floats: the plan's own, or, where it
 * keeps them as 16-bit values, widened into the thread's panel buffer (after its scratch). */
static const float *weight_panel(const run_ctx *c, int64_t offset, int64_t count, float *scratch)
{
    const ct_plan *plan = c->plan;
    if (!plan->packed_half)
        return plan->packed + offset;
    float *panel = scratch + c->scratch_floats + 1;
    c->isa->widen_half(plan->packed_half + offset, panel, count, plan->half == CT_WEIGHTS_BFLOAT16);
    return panel;
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

/* The flat layout's input at pixel `pix` (row-major, rows flat_w apart) of slab qz of phase
 * rp, channel 0 of xbase's group. */
static const float *flat_vector(const run_ctx *c, const float *xbase, const run_phase *rp, int64_t qz, int64_t pix)
{
    return xbase + ((qz - c->org[0]) * c->ext[1] + (rp->qmin[1] - c->org[1])) * c->flat_w + pix;
}

/* Writes a flat tile's outputs: channel m of vector v is at tile + m * tile_cstride + v * VL,
 * lane j holding pixel pos[v][1] + j of slab pos[v][0]. With tile2 (the zip partner's tile),
 * both phases' outputs are interleaved, the partner's one column on. */
static void flat_store(const run_ctx *c, const ct_phase *ph, const run_phase *rp, float *ybase, const float *tile,
                       const float *tile2, int64_t tile_cstride, int m, int nv, const int64_t (*pos)[2])
{
    const ct_plan *plan = c->plan;
    const int64_t vl = c->isa->vl, w = c->flat_w, sx = tile2 ? 1 : plan->stride[2];
    for (int v = 0; v < nv; v++) {
        const int64_t oz = (int64_t)((__int128)pos[v][0] * plan->stride[0] + ph->residue[0] - c->pad[0]);
        for (int64_t j0 = 0; j0 < vl;) {
            const int64_t pix = pos[v][1] + j0, y = pix / w, x0 = pix % w;
            if (y >= rp->count[1])
                break;
            const int64_t n = w - x0 < vl - j0 ? w - x0 : vl - j0; /* the lanes in this row */
            const int64_t valid = x0 + n < rp->count[2] ? n : rp->count[2] - x0;
            if (valid > 0) {
                const int64_t qy = rp->qmin[1] + y, qx = rp->qmin[2] + x0;
                const int64_t oy = (int64_t)((__int128)qy * plan->stride[1] + ph->residue[1] - c->pad[1]);
                const int64_t ox = (int64_t)((__int128)qx * plan->stride[2] + ph->residue[2] - c->pad[2]);
                float *row = ybase + (oz * c->out[1] + oy) * c->out[2] + ox;
                for (int mm = 0; mm < m; mm++) {
                    const float *a = tile + mm * tile_cstride + v * vl + j0;
                    float *d = row + mm * c->out_plane;
                    if (tile2) {
                        const float *b = tile2 + mm * tile_cstride + v * vl + j0;
                        for (int64_t i = 0; i < valid; i++) {
                            d[2 * i] = a[i];
                            d[2 * i + 1] = b[i];
                        }
                    } else {
                        for (int64_t i = 0; i < valid; i++)
                            d[i * sx] = a[i];
                    }
                }
            }
            j0 += n;
        }
    }
}

/* The tap range of a tile whose vectors lie in rows[v] = (qz, qy), v < n: the first tap of
 * phase ph that reads a real input row for any of them, to one past the last (taps are in
 * z, y, x order). The taps outside it read only zero padding, so a tile in the border rows
 * skips them (args->taps set); a tile needing them all runs every K term (args->taps 0). */
static void set_tile_taps(const run_ctx *c, const ct_phase *ph, const int64_t (*rows)[2], int n, ct_igemm_args *args)
{
    const int64_t *tfirst = ph->tap_t, *tlast = ph->tap_t + (ph->ntaps - 1) * 3; /* least and greatest t */
    int64_t lo = ph->ntaps, hi = 0;
    for (int v = 0; v < n; v++) {
        const int64_t qz = rows[v][0], qy = rows[v][1];
        if (qz - tlast[0] >= 0 && qz - tfirst[0] < c->in[0] && qy - tlast[1] >= 0 && qy - tfirst[1] < c->in[1]) {
            lo = 0; /* every tap reads a real row */
            hi = ph->ntaps;
            break;
        }
        for (int64_t t = 0; t < ph->ntaps; t++) {
            const int64_t iz = qz - ph->tap_t[t * 3], iy = qy - ph->tap_t[t * 3 + 1];
            if (iz < 0 || iz >= c->in[0] || iy < 0 || iy >= c->in[1])
                continue;
            lo = t < lo ? t : lo;
            hi = t + 1 > hi ? t + 1 : hi;
        }
    }
    args->taps = lo == 0 && hi == ph->ntaps ? 0 : (size_t)ph->ntaps;
    args->tap0 = lo < hi ? (size_t)lo : 0;
    args->tap_count = lo < hi ? (size_t)(hi - lo) : 0;
}

/* Tile t's vectors, of a phase with `vectors` of them in `tiles` tiles: returns how many and
 * sets the first's index. Tiles are NV vectors wide, but a phase whose last tile would hold
 * one vector ends with tiles of NV - 1 and 2: a one-vector kernel keeps only MR accumulator
 * chains, too few to hide the FMA latency. */
static int tile_vectors(const run_ctx *c, int64_t vectors, int64_t tiles, int64_t t, int64_t *first)
{
    const int nv = c->plan->nv;
    *first = t * nv;
    int count = (int)(vectors - *first < nv ? vectors - *first : nv);
    if (nv >= 3 && vectors % nv == 1 && tiles >= 2) {
        if (t == tiles - 2) {
            count = nv - 1;
        } else if (t == tiles - 1) {
            --*first;
            count = 2;
        }
    }
    return count;
}

/* Tiles t0..t1 of phase p and its zip partner (one K chunk each) for channel blocks
 * cb0..cb1. Per tile, the first phase for every channel block into the scratch's partial
 * tiles, then the partner's, each zipped with its first-phase tile into the output as it
 * finishes: each phase's panel still serves all the channel blocks in a row. Vectors are
 * resolved by the caller (input, output, lanes and rows), indexed from tile t0's first. */
static void run_zipped_block(const run_ctx *c, int64_t grp, int64_t p, int64_t t0, int64_t t1, int64_t cb0,
                             int64_t cb1, const float *const *bptr, const float *const *bptr_zip, float *const *optr,
                             const int *lanes, const int64_t (*vrows)[2], int64_t vbeg, int64_t vectors,
                             float *ybase, float *scratch)
{
    const ct_plan *plan = c->plan;
    const int nv = plan->nv, mr = plan->mr, vl = c->isa->vl;
    const int64_t tile_floats = (int64_t)mr * nv * vl, ncb = cb1 - cb0;
    const int64_t q = c->phases[p].zip_with;
    const run_phase *rp[2] = {&c->phases[p], &c->phases[q]};
    const ct_phase *ph[2] = {&plan->phases[p], &plan->phases[q]};
    const float *const *vec[2] = {bptr, bptr_zip};
    float *second = scratch + c->scratch_floats - tile_floats;
    ct_igemm_args args;
    args.acc[0] = NULL;
    args.acc_cstride = (int64_t)nv * vl;
    args.zip_cstride = (int64_t)nv * vl;
    args.out_xstride = 1;
    args.prefetch_out = 0;
    for (int64_t t = t0; t < t1 && !ct__run_cancelled(c); t++) {
        int64_t slot0;
        const int tnv = tile_vectors(c, vectors, rp[0]->tiles, t, &slot0);
        slot0 -= vbeg;
        const ct_igemm_ukernel ukernel = c->isa->ukernel[plan->shape][tnv - 1];
        for (int z = 0; z < 2; z++) {
            args.k = (size_t)(plan->cin_g * ph[z]->ntaps);
            args.offsets = rp[z]->offsets;
            for (int v = 0; v < tnv; v++)
                args.b[v] = vec[z][slot0 + v];
            if (c->flat) /* vrows hold (qz, first pixel): every tap, the buffer has zero rows */
                args.taps = 0;
            else
                set_tile_taps(c, ph[z], vrows + slot0, tnv, &args);
            for (int64_t cb = cb0; cb < cb1; cb++) {
                const int64_t co0 = cb * mr;
                const int m = (int)(plan->cout_g - co0 < mr ? plan->cout_g - co0 : mr);
                float *first = scratch + ((t - t0) * ncb + (cb - cb0)) * tile_floats;
                /* the second phase zips straight into the output, unless flat_store places it */
                const int zip_out = z == 1 && !c->flat;
                args.zip_first = zip_out ? first : NULL;
                args.out_cstride = zip_out ? c->out_plane : (int64_t)nv * vl;
                for (int v = 0; v < tnv; v++) {
                    args.out[v] = zip_out ? optr[slot0 + v] + co0 * c->out_plane : (z == 0 ? first : second) + v * vl;
                    args.lanes[v] = zip_out ? lanes[slot0 + v] : vl;
                    if (z == 0 && !c->flat && !c->stream) { /* the zip's lines, during both phases' K loops */
                        const float *zip_dst = optr[slot0 + v] + co0 * c->out_plane;
                        for (int i = 0; i < m; i++) {
                            __builtin_prefetch(zip_dst + i * c->out_plane, 1, 3);
                            __builtin_prefetch(zip_dst + i * c->out_plane + 2 * lanes[slot0 + v] - 1, 1, 3);
                        }
                    }
                }
                args.stream_out = zip_out && c->stream;
                args.m = m;
                args.bias = plan->bias ? plan->bias + grp * plan->cout_g + co0 : NULL;
                args.a = weight_panel(c, grp * plan->group_stride + ph[z]->a_offset + cb * plan->cin_g * ph[z]->ntaps * mr,
                                      (int64_t)args.k * mr, scratch);
                args.prefetch = cb == cb0;
                ukernel(&args);
                if (z == 1 && c->flat)
                    flat_store(c, ph[0], rp[0], ybase + co0 * c->out_plane, first, second, (int64_t)nv * vl, m, tnv,
                               vrows + slot0);
            }
        }
    }
}

/* Resolves each vector [vbeg, vend) of a block once: its input (and its zip partner's) and
 * output pointers, its valid lanes and its rows (qz, qy; flat: slab and first pixel). */
static void resolve_vectors(const run_ctx *c, int64_t p, const float *xbase, float *ybase, int64_t vbeg,
                            int64_t vend, const float **bptr, const float **bptr_zip, float **optr, int *lanes,
                            int64_t (*vrows)[2])
{
    const ct_plan *plan = c->plan;
    const run_phase *rp = &c->phases[p];
    const ct_phase *ph = &plan->phases[p];
    const run_phase *rz = rp->zip_with >= 0 ? &c->phases[rp->zip_with] : NULL;
    const int vl = c->isa->vl;
    for (int64_t vi = vbeg; vi < vend && c->flat; vi++) {
        const int64_t slot = vi - vbeg; /* slab, then the vector's first pixel in it */
        vrows[slot][0] = rp->qmin[0] + vi / rp->vpr;
        vrows[slot][1] = vi % rp->vpr * vl;
        bptr_zip[slot] = bptr[slot] = flat_vector(c, xbase, rp, vrows[slot][0], vrows[slot][1]);
        optr[slot] = NULL;
        lanes[slot] = vl;
    }
    for (int64_t vi = vbeg; vi < vend && !c->flat; vi++) {
        const int64_t slot = vi - vbeg;
        int64_t row = vi / rp->vpr, col = vi % rp->vpr * vl;
        int64_t qz = rp->qmin[0] + row / rp->count[1], qy = rp->qmin[1] + row % rp->count[1];
        int64_t qx = rp->qmin[2] + col;
        bptr[slot] = input_vector(c, xbase, qz, qy, qx);
        if (rz) /* the partner's vector of the same outputs, one column on */
            bptr_zip[slot] = input_vector(c, xbase, qz, qy, rz->qmin[2] + col);
        /* o = q * s + r - pad is a valid index, but q * s + r may pass INT64_MAX first */
        int64_t oz = (int64_t)((__int128)qz * plan->stride[0] + ph->residue[0] - c->pad[0]);
        int64_t oy = (int64_t)((__int128)qy * plan->stride[1] + ph->residue[1] - c->pad[1]);
        int64_t ox = (int64_t)((__int128)qx * plan->stride[2] + ph->residue[2] - c->pad[2]);
        optr[slot] = ybase + (oz * c->out[1] + oy) * c->out[2] + ox;
        int64_t left = rp->count[2] - col;
        lanes[slot] = (int)(left < vl ? left : vl);
        vrows[slot][0] = qz;
        vrows[slot][1] = qy;
    }
}

/* Computes one phase's block of tiles for a group of channel blocks. */
static void run_phase_block(const run_ctx *c, int64_t n, int64_t grp, int64_t p, int64_t block, int64_t cb0,
                            int64_t cb1, float *scratch)
{
    const ct_plan *plan = c->plan;
    const run_phase *rp = &c->phases[p];
    const ct_phase *ph = &plan->phases[p];
    const int64_t t0 = block * c->tiles_per_block;
    const int64_t t1 = t0 + c->tiles_per_block < rp->tiles ? t0 + c->tiles_per_block : rp->tiles;
    const int nv = plan->nv, mr = plan->mr, vl = c->isa->vl;
    const ct_igemm_ukernel *ukernels = c->isa->ukernel[plan->shape]; /* by vectors - 1 */

    const float *xbase = c->xpad + n % c->slots * c->image_stride +
                         grp * plan->cin_g * (c->flat ? c->plane : c->ext[2]);
    float *ybase = c->y + (n * plan->out_channels + grp * plan->cout_g) * c->out_plane;
    const int64_t a_group = grp * plan->group_stride + ph->a_offset; /* where its packed weights start */

    /* Resolve each vector of the block once: input and output pointers, valid lanes. */
    const float *bptr[MAX_BLOCK_VECTORS], *bptr_zip[MAX_BLOCK_VECTORS];
    const run_phase *rz = rp->zip_with >= 0 ? &c->phases[rp->zip_with] : NULL;
    float *optr[MAX_BLOCK_VECTORS];
    int lanes[MAX_BLOCK_VECTORS];
    int64_t vrows[MAX_BLOCK_VECTORS][2]; /* (qz, qy) */
    const int64_t vectors = rp->rows * rp->vpr;
    int64_t vbeg, vlast; /* the block's vectors: from its first tile's first to its last tile's last */
    tile_vectors(c, vectors, rp->tiles, t0, &vbeg);
    const int64_t vend = tile_vectors(c, vectors, rp->tiles, t1 - 1, &vlast) + vlast;
    resolve_vectors(c, p, xbase, ybase, vbeg, vend, bptr, bptr_zip, optr, lanes, vrows);

    if (rz) {
        run_zipped_block(c, grp, p, t0, t1, cb0, cb1, bptr, bptr_zip, optr, lanes, vrows, vbeg, vectors, ybase,
                         scratch);
        return;
    }

    /* K in chunks: partial sums of all but the last chunk go to a contiguous scratch tile
     * per (tile, channel block), laid out [MR][NV][VL]; the last chunk writes the output. */
    ct_igemm_args args;
    args.zip_first = NULL;
    const int64_t ntaps = ph->ntaps;
    const int64_t ci_chunk = rp->ci_chunk;
    const int64_t ncb = cb1 - cb0, tile_floats = (int64_t)mr * nv * vl;
    float bias_rows[CT_MR_MAX];
    for (int64_t ci0 = 0; ci0 < plan->cin_g && !ct__run_cancelled(c); ci0 += ci_chunk) {
        const int64_t ci1 = ci0 + ci_chunk < plan->cin_g ? ci0 + ci_chunk : plan->cin_g;
        /* a flat tile's last chunk also goes to scratch, for flat_store */
        const int first = ci0 == 0, last = ci1 == plan->cin_g && !c->flat;
        const int store_flat = ci1 == plan->cin_g && c->flat;
        args.k = (size_t)((ci1 - ci0) * ntaps);
        args.offsets = rp->offsets + ci0 * ntaps;
        args.acc_cstride = (int64_t)nv * vl;
        /* Tiles outside, channel blocks inside: a tile's input panel (K chunk x NV vectors)
         * stays in L1 while the weight blocks stream through it from L2. */
        for (int64_t t = t0; t < t1; t++) {
            /* the phase's last tile may have fewer vectors: a narrower kernel, no idle ones */
            int64_t slot0;
            const int tnv = tile_vectors(c, vectors, rp->tiles, t, &slot0);
            slot0 -= vbeg;
            const ct_igemm_ukernel ukernel = ukernels[tnv - 1];
            for (int v = 0; v < tnv; v++)
                args.b[v] = bptr[slot0 + v];
            if (c->flat)
                args.taps = 0;
            else
                set_tile_taps(c, ph, vrows + slot0, tnv, &args);
            for (int64_t cb = cb0; cb < cb1; cb++) {
                const int64_t co0 = cb * mr;
                float *partial = scratch + ((t - t0) * ncb + (cb - cb0)) * tile_floats;
                const int m = (int)(plan->cout_g - co0 < mr ? plan->cout_g - co0 : mr);
                args.a = weight_panel(c, a_group + (cb * plan->cin_g + ci0) * ntaps * mr, (int64_t)args.k * mr, scratch);
                args.m = m;
                args.bias = plan->bias ? plan->bias + grp * plan->cout_g + co0 : NULL;
                for (int v = 0; v < tnv; v++) {
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
                args.prefetch_out = last && !c->stream;
                args.stream_out = last && c->stream;
                if (!last && args.m < mr && args.bias) {
                    /* scratch tiles hold all MR rows: the kernel reads MR biases */
                    memset(bias_rows, 0, sizeof bias_rows);
                    memcpy(bias_rows, args.bias, sizeof(float) * (size_t)args.m);
                    args.bias = bias_rows;
                }
                args.m = last ? m : mr;
                args.prefetch = cb == cb0;
                ukernel(&args);
                if (store_flat)
                    flat_store(c, ph, rp, ybase + co0 * c->out_plane, partial, NULL, (int64_t)nv * vl, m, tnv,
                               vrows + slot0);
            }
        }
    }
}

/* Computes one item: an image, a group, a block of tiles (the same block index in every
 * phase, so the phases share the input rows while they are in cache), a group of channel
 * blocks. */
void ct__run_phase_item(const run_ctx *c, int64_t item, float *scratch)
{
    const ct_plan *plan = c->plan;
    const int64_t per_group = c->items_per_image / plan->groups;
    const int64_t n = item / c->items_per_image;
    const int64_t grp = item % c->items_per_image / per_group;
    const int64_t block = item % per_group / c->cgroups, cgroup = item % c->cgroups;
    const int64_t cb_per_group = ceil_div(plan->cblocks, c->cgroups), cb0 = cgroup * cb_per_group;
    const int64_t cb1 = cb0 + cb_per_group < plan->cblocks ? cb0 + cb_per_group : plan->cblocks;
    for (int64_t s0 = cb0; s0 < cb1; s0 += c->cb_step) {
        const int64_t s1 = s0 + c->cb_step < cb1 ? s0 + c->cb_step : cb1;
        for (int64_t p = 0; p < plan->nphases; p++)
            if (block < c->phases[p].tile_blocks && !c->phases[p].zip_second)
                run_phase_block(c, n, grp, p, block, s0, s1, scratch);
    }
}
