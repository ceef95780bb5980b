/* layout.c - lays out one run of a plan for one input shape: which outputs each phase owns
 * and how its pixel vectors tile, the padded input's window and layout (rows, segments or
 * flat shifted copies), the split into work items, the ring of padded-image slots and the
 * per-thread scratch. Nothing here touches tensor data. */
#include <stdlib.h>

#include "plan.h"

#define CHUNK_TERMS 2048         /* K terms per chunk: most layers run their whole K in one call, no partial sums */
#define PANEL_BYTES (96 * 1024)  /* input bytes a block of tiles reads per chunk: fits L2 */
#define STREAM_PLANE_FLOATS (64 * 1024) /* depthwise output planes of at most 256 KiB may stream */
#define PAD_CHUNK_FLOATS 8192    /* padding is claimed in runs of planes about this large */
#define OUT_LINES_BYTES (48 * 1024) /* output lines the phases of a strided row share: L1 */

void ct__geometry_3d(const ct_geometry *g, int64_t in[3], int64_t out[3], int64_t pad[3])
{
    const int shift = 3 - g->nd;
    for (int d = 0; d < 3; d++) {
        in[d] = d < shift ? 1 : g->in[d - shift];
        out[d] = d < shift ? 1 : g->out[d - shift];
        pad[d] = d < shift ? 0 : g->pad_begin[d - shift];
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

/* Which outputs each phase owns (qmin, count per dim), and the range [qlo, qhi] of q over
 * every phase. Returns the longest phase row, in outputs. */
static int64_t phase_ranges(run_ctx *c, int64_t qlo[3], int64_t qhi[3])
{
    const ct_plan *plan = c->plan;
    int64_t widest = 0;
    for (int d = 0; d < 3; d++) {
        qlo[d] = INT64_MAX;
        qhi[d] = INT64_MIN;
    }
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
    return widest;
}

/* Each phase's pixel vectors per row and tiles, in the chosen layout and vector width. */
static void tile_phases(run_ctx *c)
{
    const ct_plan *plan = c->plan;
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
}

/* The padded input's window (org, ext: the rows the kernels read, q - t for the outputs' q
 * of every phase and t in [0, lo], so its size follows the output, not the padding: a huge
 * derived padding only moves the window), its segments, and its plane and image sizes.
 * 0, or -1 when a size overflows. */
static int padded_window(run_ctx *c, int64_t qlo[3], int64_t qhi[3])
{
    const ct_plan *plan = c->plan;
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
    return 0;
}

/* Pairs the phases of a stride-2 row whose outputs interleave (zip_with, zip_second): their
 * K must be one chunk each, so chunk_k comes first. Returns whether any pair. */
static int pair_zipped_phases(run_ctx *c)
{
    const ct_plan *plan = c->plan;
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
    return zips;
}

/* Each phase's K (cin_g x its taps) in equal chunks of at most CHUNK_TERMS terms, which keep
 * a weight block in L1: a phase with few taps takes more channels per chunk, and no chunk is
 * a runt. Returns the longest chunk, in terms. */
static int64_t chunk_k(run_ctx *c)
{
    const ct_plan *plan = c->plan;
    int64_t kchunk = 1;
    for (int64_t p = 0; p < plan->nphases; p++) {
        run_phase *rp = &c->phases[p];
        const int64_t ntaps = plan->phases[p].ntaps, max_ci = CHUNK_TERMS / ntaps > 0 ? CHUNK_TERMS / ntaps : 1;
        rp->ci_chunk = ceil_div(plan->cin_g, ceil_div(plan->cin_g, max_ci));
        if (rp->ci_chunk * ntaps > kchunk)
            kchunk = rp->ci_chunk * ntaps;
    }
    return kchunk;
}

/* Work split: tile blocks whose input panel (kchunk terms) fits L2, then smaller blocks (and
 * channel groups) until every thread has work; and how many channel blocks an item takes
 * through every phase at a time. */
static void split_work(run_ctx *c, int nthreads, int64_t kchunk, int zips)
{
    const ct_plan *plan = c->plan;
    int64_t tile_bytes = kchunk * plan->nv * c->isa->vl * (int64_t)sizeof(float);
    c->tiles_per_block = PANEL_BYTES / tile_bytes > 0 ? PANEL_BYTES / tile_bytes : 1;
    int64_t max_block = MAX_BLOCK_VECTORS / plan->nv;
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
}

/* Per-thread scratch, whether outputs stream past the cache, the ring of padded slots and
 * the images threads own. Returns the padded input's bytes, or -1 when they overflow. */
static int64_t scratch_and_slots(run_ctx *c, int nthreads, int zips)
{
    const ct_plan *plan = c->plan;
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

int64_t ct__layout_run(run_ctx *c, int nthreads)
{
    const ct_plan *plan = c->plan;
    ct__geometry_3d(&c->g, c->in, c->out, c->pad);
    for (int d = 0; d < 3; d++)
        c->lo[d] = (plan->kernel[d] - 1) * plan->dilation[d] / plan->stride[d];
    int64_t qlo[3], qhi[3];
    const int64_t widest = phase_ranges(c, qlo, qhi);
    choose_flat(c, widest);
    c->isa = !c->flat && plan->isa->rows8 && widest <= 8 ? plan->isa->rows8 : plan->isa;
    tile_phases(c);
    if (padded_window(c, qlo, qhi) < 0)
        return -1;
    c->out_plane = c->out[0] * c->out[1] * c->out[2];
    c->tensor_bytes = (c->g.batch * plan->in_channels * (c->in[0] * c->in[1] * c->in[2]) +
                       c->g.batch * plan->out_channels * c->out_plane) * (int64_t)sizeof(float);
    const int64_t kchunk = chunk_k(c);
    const int zips = pair_zipped_phases(c); /* reads the chunks */
    split_work(c, nthreads, kchunk, zips);
    return scratch_and_slots(c, nthreads, zips);
}

void ct__fill_offsets(run_ctx *c, int64_t *table)
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
