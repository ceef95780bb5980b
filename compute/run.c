/* run.c - runs a plan: lays out the phases, the padded input and the work items of one
 * input shape, then computes them in one OpenMP region.
 *
 * Images are copied into zero-bordered buffers (so no tap needs a bounds check), a ring of
 * slots that stays in cache, and (image, group, block of pixel tiles, block of channels)
 * items go to the threads from one counter. There is no barrier between images: an image is
 * padded by the threads that first need it (or ahead, by one finishing the image before), so
 * no thread idles at the end of a batch step while another finishes its last item. An item
 * walks the input channels in cache-sized chunks and calls an indirect-GEMM microkernel
 * (kernels/igemm.h) per MR channels x NV pixel vectors. The two x-phases of a stride-2 row
 * whose outputs interleave are computed one after the other, the first into a scratch tile
 * that the second's kernel zips with its own into the output, so their outputs leave as
 * whole vectors rather than every other float. Depthwise layers
 * take their own items (depthwise.c). */
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define CHUNK_TERMS 2048         /* K terms per chunk: most layers run their whole K in one call, no partial sums */
#define PANEL_BYTES (96 * 1024)  /* input bytes a block of tiles reads per chunk: fits L2 */
#define TINY_FLOPS 400000.0      /* below this a layer runs on one thread */
#define STREAM_PLANE_FLOATS (64 * 1024) /* depthwise output planes of at most 256 KiB may stream */
#define PAD_CHUNK_FLOATS 8192    /* padding is claimed in runs of planes about this large */
#define OUT_LINES_BYTES (48 * 1024) /* output lines the phases of a strided row share: L1 */

/* One padded row of `row` floats: zeros, the input's columns [a, b) from src (its column a),
 * zeros; with borders_zeroed the zeros are in place already. */
static void pad_row(float *d, int64_t row, const float *src, int64_t a, int64_t b, int borders_zeroed)
{
    if (!borders_zeroed) {
        memset(d, 0, sizeof(float) * (size_t)a);
        memset(d + b, 0, sizeof(float) * (size_t)(row - b));
    }
    memcpy(d + a, src, sizeof(float) * (size_t)(b - a));
}

/* One pass: each padded row (row_stride apart) is zeros, or zeros + an input row + zeros.
 * Every image of a run has the same geometry, so a buffer that already holds a padded plane
 * has its zeros in place: with borders_zeroed only the input rows are copied. */
void ct__pad_plane(const run_ctx *c, int64_t plane_idx, float *dst, int borders_zeroed)
{
    const float *src = c->x + plane_idx * c->in[0] * c->in[1] * c->in[2];
    const int64_t row = c->ext[2], w = c->in[2];
    if (borders_zeroed && !c->seg_w) { /* only the input rows: one block of rows per slice */
        const int64_t org = c->org[2], a = org < 0 ? -org : 0;
        const int64_t b = org <= w ? (w - org < row ? w - org : row) : 0;
        /* rows [ylo, yhi) hold input rows; org[1] may be far from 0 (a huge derived padding) */
        const int64_t oy = c->org[1], ylo = oy >= 0 ? 0 : oy < -c->ext[1] ? c->ext[1] : -oy;
        const int64_t yhi = oy <= c->in[1] - c->ext[1] ? c->ext[1] : c->in[1] - oy;
        for (int64_t z = 0; z < c->ext[0] && a < b && ylo < yhi; z++) {
            const int64_t iz = z + c->org[0];
            if (iz >= 0 && iz < c->in[0])
                c->isa->copy_rows(dst + (z * c->ext[1] + ylo) * c->row_stride + a, c->row_stride,
                                  src + (iz * c->in[1] + ylo + oy) * w + a + org, w, b - a, yhi - ylo);
        }
        return;
    }
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
                if (!borders_zeroed)
                    memset(d, 0, sizeof(float) * (size_t)row);
                continue;
            }
            pad_row(d, row, src + (iz * c->in[1] + iy) * w + (a + org), a, b, borders_zeroed);
        }
}

/* The flat layout's copies of input plane `plane_idx` (plan.h): copy s at dst + s *
 * copy_stride, rows flat_w floats apart, each row the input's columns j + shift_min + s.
 * Rows are short (a few floats: dcgan_512_256's are 8), so when they are as wide as the
 * input's, a slab's rows are one contiguous copy from the input's, shifted, with the few
 * columns that wrapped in from a neighbouring row zeroed after. */
static void pad_plane_flat(const run_ctx *c, int64_t plane_idx, float *dst, int borders_zeroed)
{
    const float *src = c->x + plane_idx * c->in[0] * c->in[1] * c->in[2];
    const int64_t w = c->in[2], row = c->flat_w, ext1 = c->ext[1];
    /* slab rows [ylo, yhi) hold input rows */
    const int64_t ylo = c->org[1] < 0 ? -c->org[1] : 0;
    const int64_t yhi = c->in[1] - c->org[1] < ext1 ? c->in[1] - c->org[1] : ext1;
    for (int64_t s = 0; s < c->shifts; s++) {
        const int64_t org = c->shift_min + s;
        const int64_t a = org < 0 ? -org : 0; /* columns [a, b) hold input columns */
        const int64_t b = org <= w ? (w - org < row ? w - org : row) : 0;
        for (int64_t z = 0; z < c->ext[0]; z++) {
            float *slab = dst + s * c->copy_stride + z * ext1 * row;
            const int64_t iz = z + c->org[0];
            if (iz < 0 || iz >= c->in[0] || ylo >= yhi || a >= b) {
                if (!borders_zeroed)
                    memset(slab, 0, sizeof(float) * (size_t)(ext1 * row));
                continue;
            }
            if (!borders_zeroed) {
                memset(slab, 0, sizeof(float) * (size_t)(ylo * row));
                memset(slab + yhi * row, 0, sizeof(float) * (size_t)((ext1 - yhi) * row));
            }
            const float *in_rows = src + (iz * c->in[1] + ylo + c->org[1]) * w + org;
            float *rows = slab + ylo * row;
            if (row == w) {
                const int64_t n = (yhi - ylo) * row;
                memcpy(rows + a, in_rows + a, sizeof(float) * (size_t)(n - a - (row - b)));
                for (int64_t y = 0; y < yhi - ylo; y++) {
                    for (int64_t j = 0; j < a; j++)
                        rows[y * row + j] = 0.0f;
                    for (int64_t j = b; j < row; j++)
                        rows[y * row + j] = 0.0f;
                }
                continue;
            }
            for (int64_t y = 0; y < yhi - ylo; y++)
                pad_row(rows + y * row, row, in_rows + y * w + a, a, b, borders_zeroed);
        }
    }
}

void ct__geometry_3d(const ct_geometry *g, int64_t in[3], int64_t out[3], int64_t pad[3])
{
    const int shift = 3 - g->nd;
    for (int d = 0; d < 3; d++) {
        in[d] = d < shift ? 1 : g->in[d - shift];
        out[d] = d < shift ? 1 : g->out[d - shift];
        pad[d] = d < shift ? 0 : g->pad_begin[d - shift];
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
    for (int64_t t = t0; t < t1; t++) {
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
                args.a = plan->packed + grp * plan->group_stride + ph[z]->a_offset + cb * plan->cin_g * ph[z]->ntaps * mr;
                args.prefetch = cb == cb0;
                ukernel(&args);
                if (z == 1 && c->flat)
                    flat_store(c, ph[0], rp[0], ybase + co0 * c->out_plane, first, second, (int64_t)nv * vl, m, tnv,
                               vrows + slot0);
            }
        }
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
    const float *a_group = plan->packed + grp * plan->group_stride + ph->a_offset;

    /* Resolve each vector of the block once: input and output pointers, valid lanes. */
    enum { MAX_BLOCK_VECTORS = 1024 };
    const float *bptr[MAX_BLOCK_VECTORS], *bptr_zip[MAX_BLOCK_VECTORS];
    const run_phase *rz = rp->zip_with >= 0 ? &c->phases[rp->zip_with] : NULL;
    float *optr[MAX_BLOCK_VECTORS];
    int lanes[MAX_BLOCK_VECTORS];
    int64_t vrows[MAX_BLOCK_VECTORS][2]; /* (qz, qy) */
    const int64_t vectors = rp->rows * rp->vpr;
    int64_t vbeg, vlast; /* the block's vectors: from its first tile's first to its last tile's last */
    tile_vectors(c, vectors, rp->tiles, t0, &vbeg);
    const int64_t vend = tile_vectors(c, vectors, rp->tiles, t1 - 1, &vlast) + vlast;
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
    for (int64_t ci0 = 0; ci0 < plan->cin_g; ci0 += ci_chunk) {
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
                args.a = a_group + (cb * plan->cin_g + ci0) * ntaps * mr;
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
static void run_item(const run_ctx *c, int64_t item, float *scratch, int scratch_used)
{
    const ct_plan *plan = c->plan;
    if (plan->depthwise) {
        ct__run_depthwise_item(c, item, scratch, scratch_used);
        return;
    }
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

/* Whether phases p and q of a stride-2 layer zip: the same rows and widths, one K chunk
 * each, and q's output for each q index right after p's (2 qmin_q + r_q = 2 qmin_p + r_p + 1). */
static int phases_zip(const run_ctx *c, int64_t p, int64_t q)
{
    const run_phase *a = &c->phases[p], *b = &c->phases[q];
    const ct_phase *pa = &c->plan->phases[p], *pb = &c->plan->phases[q];
    if (a->count[0] <= 0 || b->count[0] <= 0 || a->ci_chunk != c->plan->cin_g || b->ci_chunk != c->plan->cin_g)
        return 0;
    for (int d = 0; d < 3; d++)
        if (a->count[d] != b->count[d] || (d < 2 && (a->qmin[d] != b->qmin[d] || pa->residue[d] != pb->residue[d])))
            return 0;
    return (__int128)2 * b->qmin[2] + pb->residue[2] == (__int128)2 * a->qmin[2] + pa->residue[2] + 1;
}

#define FLAT_MAX_SHIFTS 8  /* flat layout: at most this many copies of the input */

/* Whether the phases' pixels go in flat vectors (plan.h): when their rows are narrower than
 * a vector and a slab has more than one, so rows can share vectors, and the x shifts the taps
 * need are few. Sets flat, flat_w, shift_min and shifts. */
static void choose_flat(run_ctx *c, int64_t widest)
{
    const ct_plan *plan = c->plan;
    c->flat = 0;
    if (plan->depthwise || widest >= plan->isa->vl)
        return;
    int64_t smin = INT64_MAX, smax = INT64_MIN, multirow = 0;
    for (int64_t p = 0; p < plan->nphases; p++) {
        const run_phase *rp = &c->phases[p];
        const ct_phase *ph = &plan->phases[p];
        if (rp->count[0] <= 0)
            continue;
        multirow |= rp->count[1] > 1;
        /* x taps grow from the first tap's t to the last's: shifts qmin - t */
        const int64_t tlo = ph->tap_t[2], thi = ph->tap_t[(ph->ntaps - 1) * 3 + 2];
        if (rp->qmin[2] - thi < smin)
            smin = rp->qmin[2] - thi;
        if (rp->qmin[2] - tlo > smax)
            smax = rp->qmin[2] - tlo;
    }
    if (!multirow || smin > smax || smax - smin >= FLAT_MAX_SHIFTS)
        return;
    c->flat = 1;
    c->flat_w = widest;
    c->shift_min = smin;
    c->shifts = smax - smin + 1;
}

/* Lays out phases, the padded input and the work items. Returns the bytes of padded input
 * (the shared workspace, or the depthwise path's per-thread planes), or -1 on overflow. */
static int64_t plan_run(run_ctx *c, int nthreads)
{
    const ct_plan *plan = c->plan;
    ct__geometry_3d(&c->g, c->in, c->out, c->pad);
    for (int d = 0; d < 3; d++) {
        c->lo[d] = (plan->kernel[d] - 1) * plan->dilation[d] / plan->stride[d];
    }
    /* The rows the kernels read: q - t for the outputs' q of every phase and t in [0, lo].
     * The padded input spans exactly those, so its size follows the output, not the padding
     * (a huge derived padding only moves the window). */
    int64_t qlo[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, qhi[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
    int64_t widest = 0; /* the longest phase row, in outputs */
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
        rp->rows = rp->count[0] * rp->count[1];
        if (rp->count[2] > widest)
            widest = rp->count[2];
    }
    choose_flat(c, widest);
    c->isa = !c->flat && plan->isa->rows8 && widest <= 8 ? plan->isa->rows8 : plan->isa;
    for (int64_t p = 0; p < plan->nphases; p++) {
        run_phase *rp = &c->phases[p];
        if (rp->count[0] > 0 && c->flat) { /* a slab's pixels in vectors */
            rp->rows = rp->count[0];
            rp->vpr = ceil_div(rp->count[1] * c->flat_w, c->isa->vl);
            rp->tiles = ceil_div(rp->rows * rp->vpr, plan->nv);
        } else if (rp->count[0] > 0) {
            rp->vpr = ceil_div(rp->count[2], c->isa->vl);
            rp->tiles = ceil_div(rp->rows * rp->vpr, plan->nv);
        }
    }
    for (int d = 0; d < 3; d++) {
        if (qlo[d] > qhi[d]) /* no phase has outputs: a token buffer nothing reads */
            qlo[d] = qhi[d] = 0;
        if (!ct__sub(qlo[d], c->lo[d], &c->org[d]) || !ct__sub(qhi[d], c->org[d], &c->ext[d]) ||
            !ct__add(c->ext[d], 1 + (d == 2 ? c->isa->vl : 0), &c->ext[d]))
            return -1; /* far-reaching taps: the caller takes the gather path or reports the overflow */
    }
    c->seg_w = 0;
    const int64_t tile_columns = (int64_t)plan->nv * c->isa->vl;
    if (!plan->depthwise && !c->flat && c->ext[0] == 1 && c->ext[1] == 1 && c->ext[2] > 8 * tile_columns) {
        /* one tile wide; vectors start at column lo or later and end by ext[2] */
        c->seg_w = tile_columns;
        c->ext[1] = ceil_div(c->ext[2] - c->lo[2], c->seg_w);
        c->ext[2] = c->seg_w + c->lo[2] + c->isa->vl;
    } else if (!plan->depthwise && !c->flat) {
        /* A row ends where the last vector of a phase row stops reading, often well before
         * the VL spare columns above (a 16-wide row of vol_32_16 needs 18 columns, not 34):
         * a 3-d image then fits L2. The bound is at most ext[2], so it cannot overflow. */
        int64_t reach = 0;
        for (int64_t p = 0; p < plan->nphases; p++) {
            const run_phase *rp = &c->phases[p];
            const int64_t tmin = plan->phases[p].tap_t[2]; /* x taps grow with k: the first reads farthest right */
            const int64_t end = rp->qmin[2] - tmin - c->org[2] + rp->vpr * c->isa->vl;
            if (rp->count[0] > 0 && end > reach)
                reach = end;
        }
        if (reach > 0) /* else no phase has outputs: the token buffer stays */
            c->ext[2] = reach;
    }
    if (c->flat) {
        /* every shift's copy of every plane, then a vector's reach past the last */
        if (!ct__mul(c->ext[0], c->ext[1], &c->plane) || !ct__mul(c->plane, c->flat_w, &c->plane) ||
            !ct__mul(c->plane, plan->in_channels, &c->copy_stride) ||
            !ct__mul(c->copy_stride, c->shifts, &c->image_stride) ||
            !ct__add(c->image_stride, c->isa->vl + 15, &c->image_stride))
            return -1;
        c->image_stride = c->image_stride / 16 * 16; /* slots stay 64-byte aligned */
    } else if (!ct__mul(c->ext[0], c->ext[1], &c->plane) || !ct__mul(c->plane, c->ext[2], &c->plane) ||
               !ct__mul(c->plane, plan->in_channels, &c->image_stride))
        return -1;
    /* a depthwise item pads its one plane alone: rows are then ext[2] apart */
    c->row_stride = plan->depthwise ? c->ext[2] : plan->in_channels * c->ext[2];
    c->out_plane = c->out[0] * c->out[1] * c->out[2];
    c->tensor_bytes = (c->g.batch * plan->in_channels * (c->in[0] * c->in[1] * c->in[2]) +
                       c->g.batch * plan->out_channels * c->out_plane) * (int64_t)sizeof(float);

    /* Work split: K chunks that keep a weight block in L1, tile blocks whose input panel
     * fits L2, then smaller blocks (and channel groups) until every thread has work. */
    int64_t kchunk = 1;
    for (int64_t p = 0; p < plan->nphases; p++) {
        /* each phase's K (cin_g x its taps) in equal chunks of at most CHUNK_TERMS terms:
         * a phase with few taps takes more channels per chunk, and no chunk is a runt */
        run_phase *rp = &c->phases[p];
        const int64_t ntaps = plan->phases[p].ntaps, max_ci = CHUNK_TERMS / ntaps > 0 ? CHUNK_TERMS / ntaps : 1;
        rp->ci_chunk = ceil_div(plan->cin_g, ceil_div(plan->cin_g, max_ci));
        if (rp->ci_chunk * ntaps > kchunk)
            kchunk = rp->ci_chunk * ntaps;
    }
    int zips = 0;
    for (int64_t p = 0; p < plan->nphases; p++) {
        c->phases[p].zip_with = -1;
        c->phases[p].zip_second = 0;
    }
    /* a stride-2 dim has at most two residues, and the phases of one (z, y) residue pair are
     * numbered next to each other: only neighbours can pair (a kernel may make millions of
     * phases, so no search over all of them) */
    for (int64_t p = 0; p + 1 < plan->nphases && !plan->depthwise && plan->stride[2] == 2; p++) {
        const int64_t first = phases_zip(c, p, p + 1) ? p : phases_zip(c, p + 1, p) ? p + 1 : -1;
        if (first < 0 || c->phases[p].zip_with >= 0 || c->phases[p].zip_second)
            continue;
        const int64_t second = first == p ? p + 1 : p;
        c->phases[first].zip_with = second;
        c->phases[second].zip_second = 1;
        zips = 1;
    }
    int64_t tile_bytes = kchunk * plan->nv * c->isa->vl * (int64_t)sizeof(float);
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
    /* Unzipped phases of a strided row store every stride[2]-th output: all the phases of a
     * tile block write into the same lines. A few channel blocks at a time through every
     * phase keep those lines (OUT_LINES_BYTES of them) in L1 between the phases' stores. */
    c->cb_step = plan->cblocks;
    if (!zips && !c->flat && plan->stride[2] > 1 && plan->nphases > 1) {
        int64_t line_bytes; /* a channel block's span of lines; strides may be near INT64_MAX */
        const int64_t block_out_bytes = c->tiles_per_block * plan->mr * plan->nv * c->isa->vl * (int64_t)sizeof(float);
        c->cb_step = ct__mul(block_out_bytes, plan->stride[2], &line_bytes) && OUT_LINES_BYTES / line_bytes > 1
                         ? OUT_LINES_BYTES / line_bytes
                         : 1;
    }
    if (plan->depthwise) {
        /* an item is one output plane; a row buffer holds the widest phase row, rounded up */
        c->dw_row_floats = c->ext[2] + c->isa->vl; /* ext[2] > the widest q range */
        /* Tensors too large to stay in the last-level cache: each output plane is computed in
         * the thread's scratch (in L2) and copied out with stores that bypass the cache, so
         * the output's lines are not read before they are written. Only for planes that fit
         * L2 with room to spare. */
        c->stream = c->tensor_bytes > ct__llc_bytes() / 4 * 3 && c->out_plane <= STREAM_PLANE_FLOATS;
        c->items_per_image = plan->groups;
        c->items = c->g.batch * plan->groups;
        if (!ct__add(c->dw_row_floats, c->plane, &c->scratch_floats) ||
            !ct__add(c->scratch_floats, c->stream ? c->out_plane : 0, &c->scratch_floats))
            return -1;
    } else {
        /* An output at least half the threads' L2 would be evicted before anyone read it
         * from there: where the kernels store whole vectors (zipped pairs and unit-stride
         * rows; the others keep their output prefetches), they go out with stores that
         * bypass the cache, which skip fetching every line before writing it. Smaller
         * outputs gain nothing from it. */
        const int64_t out_bytes = c->g.batch * plan->out_channels * c->out_plane * (int64_t)sizeof(float);
        c->stream = out_bytes >= ct__l2_bytes() / 2 * nthreads && !c->flat && (zips || plan->stride[2] == 1);
        int64_t cb_per_group = (plan->cblocks + c->cgroups - 1) / c->cgroups;
        const int64_t tile_floats = (int64_t)plan->mr * plan->nv * c->isa->vl;
        c->scratch_floats = (c->tiles_per_block * cb_per_group + (zips ? 1 : 0)) * tile_floats;
    }
    /* Enough slots that every thread has a few items in the padded images, and the next
     * images can be padded while those are computed. */
    const int64_t step = c->items_per_image > 0 ? ceil_div(4 * (int64_t)nthreads, c->items_per_image) : c->g.batch;
    c->slots = 2 * step < c->g.batch ? 2 * step : c->g.batch;
    /* Shared, an image's padded planes are written by every thread and read by every
     * thread: each reads most of the image from the other cores' caches. Owned, a thread
     * reads its own image from its own cache but all of the weights, not a share of them.
     * Whichever is smaller is the cheaper to move. Depthwise items pad their own planes;
     * owned, the same thread writes the same output planes run after run, which then stay
     * in its caches when they fit. */
    int64_t weight_floats;
    c->owned_images = 0;
    if (nthreads > 1 && c->g.batch >= nthreads &&
        ct__mul(plan->group_stride, plan->groups, &weight_floats) && weight_floats <= c->image_stride) {
        c->owned_images = c->g.batch / nthreads * nthreads;
        c->slots = nthreads;
    }
    c->next_item = c->owned_images * c->items_per_image;
    c->pad_chunk = c->plane < PAD_CHUNK_FLOATS ? PAD_CHUNK_FLOATS / c->plane : 1;
    int64_t bytes;
    if (!ct__mul(plan->depthwise ? c->plane : c->image_stride, plan->depthwise ? nthreads : c->slots, &bytes) ||
        !ct__mul(bytes, sizeof(float), &bytes))
        return -1;
    return bytes;
}

/* What a padded slot's zero borders depend on: a kept workspace serves a run with the same. */
static void workspace_key(const run_ctx *c, int64_t *key)
{
    const int64_t fields[] = {c->in[0], c->in[1], c->in[2], c->org[0], c->org[1], c->org[2], c->ext[0],
                              c->ext[1], c->ext[2], c->row_stride, c->image_stride, c->seg_w, c->flat,
                              c->flat_w, c->shift_min, c->shifts, c->plane, c->copy_stride};
    _Static_assert(sizeof fields / sizeof fields[0] <= CT_WORKSPACE_KEY, "CT_WORKSPACE_KEY");
    memset(key, 0, sizeof(int64_t) * CT_WORKSPACE_KEY);
    memcpy(key, fields, sizeof fields);
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
                if (c->flat) /* the copy of shift qmin - t, where pixel j reads column qmin + j - t */
                    table[ci * ph->ntaps + t] = (rp->qmin[2] - tt[2] - c->shift_min) * c->copy_stride +
                                                ci * c->plane - (tt[0] * c->ext[1] + tt[1]) * c->flat_w;
                else
                    table[ci * ph->ntaps + t] =
                        ci * c->ext[2] - (tt[0] * c->ext[1] + tt[1]) * c->row_stride - tt[2];
            }
        table += plan->cin_g * ph->ntaps;
    }
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits are short (another thread finishing an item or a few planes), so spin; past a while
 * yield, in case that thread is not running (more threads than cores). */
static void wait_for_count(const int64_t *count, int64_t target)
{
    for (int spins = 0; __atomic_load_n(count, __ATOMIC_ACQUIRE) < target; spins++) {
        if (spins < 4096)
            cpu_relax();
        else
            sched_yield();
    }
}

/* Whether image n's slot is free: every item of the image before it there has finished. */
static int slot_free(const run_ctx *c, int64_t n)
{
    return n < c->slots ||
           __atomic_load_n(&c->sync[n - c->slots].items_done, __ATOMIC_ACQUIRE) >= c->items_per_image;
}

/* Pads planes of image n, a claimed run at a time, until none are left to claim. */
static void pad_claimed_planes(const run_ctx *c, int64_t n)
{
    const int64_t cin = c->plan->in_channels;
    image_sync *s = &c->sync[n];
    float *slot = c->xpad + n % c->slots * c->image_stride;
    for (;;) {
        const int64_t p0 = __atomic_fetch_add(&s->planes_claimed, c->pad_chunk, __ATOMIC_RELAXED);
        if (p0 >= cin)
            return;
        const int64_t p1 = p0 + c->pad_chunk < cin ? p0 + c->pad_chunk : cin;
        for (int64_t ci = p0; ci < p1; ci++)
            if (c->flat)
                pad_plane_flat(c, n * cin + ci, slot + ci * c->plane, n >= c->slots || n < c->zeroed_slots);
            else
                ct__pad_plane(c, n * cin + ci, slot + ci * c->ext[2], n >= c->slots || n < c->zeroed_slots);
        __atomic_fetch_add(&s->planes_done, p1 - p0, __ATOMIC_RELEASE);
    }
}

/* Returns once image n is padded, helping to pad it (after waiting for its slot). */
static void ensure_padded(const run_ctx *c, int64_t n)
{
    image_sync *s = &c->sync[n];
    const int64_t cin = c->plan->in_channels;
    if (__atomic_load_n(&s->planes_done, __ATOMIC_ACQUIRE) >= cin)
        return;
    if (n >= c->slots) /* its items were all handed out before any of image n: they finish */
        wait_for_count(&c->sync[n - c->slots].items_done, c->items_per_image);
    pad_claimed_planes(c, n);
    wait_for_count(&s->planes_done, cin);
}

/* Runs item i, or marks the run failed when the thread has no scratch. */
static void run_item_or_fail(const run_ctx *c, int64_t i, float *scratch, int scratch_used, int *failed)
{
    if (scratch)
        run_item(c, i, scratch, scratch_used);
    else
#pragma omp atomic write
        *failed = 1;
}

/* Runs the items of padded image n that no thread has taken yet; returns whether it ran any. */
static int run_owned_items(const run_ctx *c, int64_t n, float *scratch, int scratch_used, int *failed)
{
    /* Taken a few at a time where each locked add would wait for the thread's pending
     * stores to drain: light depthwise items (a plane each) and streamed outputs, whose
     * stores drain to memory. */
    const int64_t per_image = c->items_per_image;
    const int64_t take = c->plan->depthwise || c->stream ? ceil_div(per_image, 16) : 1;
    int ran = 0;
    for (int64_t j; (j = __atomic_fetch_add(&c->sync[n].items_taken, take, __ATOMIC_RELAXED)) < per_image;) {
        const int64_t end = j + take < per_image ? j + take : per_image;
        for (int64_t i = n * per_image + j; i < n * per_image + end; i++) {
            run_item_or_fail(c, i, scratch, scratch_used || ran, failed);
            ran = 1;
        }
        __atomic_fetch_add(&c->sync[n].items_done, end - j, __ATOMIC_RELEASE);
    }
    return ran;
}

/* The body of a run: bias fill, the images this thread owns, then the shared items, each
 * image padded on first need or ahead of it. Called by every thread of the parallel
 * region, or alone outside any region. */
static void run_parallel(run_ctx *c, const ct_plan *plan, int *failed)
{
    if (plan->needs_bias_fill) {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < c->g.batch * plan->out_channels; i++)
            fill_bias_plane(c, i);
    }
    float *scratch = NULL;
    if (posix_memalign((void **)&scratch, 64, sizeof(float) * (size_t)(c->scratch_floats + 1)) != 0)
        scratch = NULL;
    const int64_t per_image = c->items_per_image;
    int scratch_used = 0;
    if (c->owned_images > 0) {
        /* a nested region may have fewer threads than planned: they still cover every image */
#ifdef _OPENMP
        const int64_t threads = omp_get_num_threads(), me = omp_get_thread_num();
#else
        const int64_t threads = 1, me = 0; /* built without OpenMP (the fuzzers): one thread */
#endif
        for (int64_t n = me; n < c->owned_images; n += threads) {
            if (!plan->depthwise) /* its items pad their own planes */
                ensure_padded(c, n); /* after this thread's previous image in the slot */
            scratch_used |= run_owned_items(c, n, scratch, scratch_used, failed);
        }
        /* A thread done early takes items of images still running; never of an image not
         * yet padded, whose owner will pad it (its slot may still be another's). */
        for (int64_t n = 0; n < c->owned_images; n++)
            if (plan->depthwise || __atomic_load_n(&c->sync[n].planes_done, __ATOMIC_ACQUIRE) >= plan->in_channels)
                scratch_used |= run_owned_items(c, n, scratch, scratch_used, failed);
    }
    for (;; scratch_used = 1) {
        const int64_t i = __atomic_fetch_add(&c->next_item, 1, __ATOMIC_RELAXED);
        if (i >= c->items)
            break;
        const int64_t n = i / per_image;
        if (!plan->depthwise)
            ensure_padded(c, n);
        run_item_or_fail(c, i, scratch, scratch_used, failed);
        /* counted done: once all of image n's are, image n + slots may take its slot */
        __atomic_fetch_add(&c->sync[n].items_done, 1, __ATOMIC_RELEASE);
        /* the next image, if its slot is free: padded before anyone waits for it */
        if (!plan->depthwise && n + 1 < c->g.batch && slot_free(c, n + 1))
            pad_claimed_planes(c, n + 1);
    }
    if (c->stream) /* this thread's streamed stores, before the region's closing barrier */
        c->isa->stream_fence();
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
    if (plan->col) {
        const int done = ct__run_col(plan, &c.g, input, output, nthreads);
        if (done < 0)
            return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for the col buffers");
        if (done > 0)
            return CT_OK;
    }

    c.phases = calloc((size_t)plan->nphases, sizeof *c.phases);
    if (!c.phases)
        return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for the run's phase table");
    int64_t xpad_bytes = plan_run(&c, nthreads);
    if (plan->weights && (xpad_bytes < 0 || xpad_bytes > 4 * c.tensor_bytes + ((int64_t)64 << 20))) {
        free(c.phases);
        return ct_reference_run(&plan->params, input_shape, input, &plan->weight_shape, plan->weights, plan->bias,
                                plan->bias ? plan->out_channels : 0, output, msg, cap);
    }
    int64_t terms = plan->cin_g * (plan->kernel[0] * plan->kernel[1] * plan->kernel[2]);
    if (plan->depthwise && xpad_bytes >= 0)
        xpad_bytes = 0; /* its planes are in the threads' scratch */
    if (xpad_bytes < 0 || (uint64_t)xpad_bytes > SIZE_MAX / 2) {
        free(c.phases);
        return ct__fail(msg, cap, CT_E_OVERFLOW, "input: the padded workspace size overflows");
    }
    int64_t key[CT_WORKSPACE_KEY];
    workspace_key(&c, key);
    int kept = 0;
    c.xpad = plan->depthwise ? NULL : ct__workspace_take(plan->workspace, xpad_bytes, key, &c.zeroed_slots, &kept);
    int64_t *table = malloc(sizeof(int64_t) * (size_t)(terms > 0 ? terms : 1));
    if ((!plan->depthwise && !c.xpad) || !table ||
        !(c.sync = calloc((size_t)c.g.batch, sizeof *c.sync))) {
        if (c.xpad)
            ct__workspace_give(plan->workspace, c.xpad, kept, 0);
        free(table);
        free(c.phases);
        return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for a %lld-byte workspace", (long long)xpad_bytes);
    }
    fill_offsets(&c, table);

    int threads = nthreads < c.items ? nthreads : (int)(c.items > 0 ? c.items : 1);
    int failed = 0;
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        run_parallel(&c, plan, &failed);
    } else {
        run_parallel(&c, plan, &failed); /* no OpenMP runtime for one thread */
    }
    free(c.sync);
    if (c.xpad) /* every slot of the run was padded, unless a thread failed */
        ct__workspace_give(plan->workspace, c.xpad, kept,
                           failed ? 0 : c.slots > c.zeroed_slots ? c.slots : c.zeroed_slots);
    free(table);
    free(c.phases);
    if (failed)
        return ct__fail(msg, cap, CT_E_NOMEM, "out of memory for the per-thread scratch tiles");
    return CT_OK;
}
