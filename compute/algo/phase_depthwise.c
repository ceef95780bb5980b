/* phase_depthwise.c - the depthwise path (one input channel per group). K is just the taps, too
 * short for the GEMM microkernels, so an item pads its one input plane into the thread's
 * scratch (where it stays in cache) and computes each output channel a phase's rows at a
 * time (kernels/dwconv_template.h). A stride-2 row's two x-phases are computed together and
 * zipped into output order; other strides scatter each phase row. Outputs too large for the
 * cache bypass it: a plane made only of stride-2 pairs, on 64-byte lines, is streamed by the
 * pair kernels themselves as they go; others are computed a plane at a time in scratch and
 * streamed out in bands of rows. */
#include <stdint.h>
#include <string.h>

#include "plan.h"

#define STREAM_BAND_FLOATS 2048 /* streamed output bands: about 8 KiB */

/* A depthwise channel's packed weights in one phase: its taps, plan->mr floats apart. */
static const float *depthwise_weights(const ct_plan *plan, int64_t grp, int64_t co, const ct_phase *ph)
{
    return plan->packed + grp * plan->group_stride + ph->a_offset + (co / plan->mr * ph->ntaps * plan->mr) +
           co % plan->mr;
}

/* One phase row's work, or the two x-phases of a stride-2 row that go through one zip. */
typedef struct dw_group {
    const run_phase *rp, *rq;   /* rq: the pair's second phase (rp when alone) */
    const ct_phase *ph, *qh;
    const float *w, *w1;
    int pair, aligned;
    int64_t odd, sh_f, sh_s, ilo, iend, qlo, qcount;
} dw_group;

/* Sets up the group of phase p (and p + 1 when they pair); returns the phases it takes. */
static int64_t dw_group_init(const run_ctx *c, int64_t grp, int64_t co, int64_t p, dw_group *gr)
{
    const ct_plan *plan = c->plan;
    const int64_t sx = plan->stride[2], px = c->pad[2];
    const run_phase *rp = &c->phases[p];
    const ct_phase *ph = &plan->phases[p];
    gr->pair = sx == 2 && ph->residue[2] == 0 && p + 1 < plan->nphases && c->phases[p + 1].count[0] > 0 &&
               plan->phases[p + 1].residue[2] == 1 && plan->phases[p + 1].residue[1] == ph->residue[1] &&
               plan->phases[p + 1].residue[0] == ph->residue[0];
    gr->rp = rp;
    gr->ph = ph;
    gr->rq = gr->pair ? &c->phases[p + 1] : rp;
    gr->qh = gr->pair ? &plan->phases[p + 1] : ph;
    gr->w = depthwise_weights(plan, grp, co, ph);
    gr->w1 = depthwise_weights(plan, grp, co, gr->qh);
    /* Zipped, output 2i comes from the phase whose residue has the parity of the padding,
     * at q = i + sh, and output 2i + 1 from the other. Aligning the two phases' q ranges
     * that way puts the zip's first element at an output column, not one before it. */
    gr->odd = (px % 2 + 2) % 2;
    const run_phase *rf = gr->odd ? gr->rq : rp, *rs = gr->odd ? rp : gr->rq;
    gr->sh_f = (px - gr->odd) / 2; /* px - odd is even: exact, no overflow */
    gr->sh_s = gr->sh_f + gr->odd;
    gr->ilo = rf->qmin[2] - gr->sh_f;
    gr->iend = gr->ilo + rf->count[2];
    if (rs->qmin[2] - gr->sh_s < gr->ilo)
        gr->ilo = rs->qmin[2] - gr->sh_s;
    if (rs->qmin[2] - gr->sh_s + rs->count[2] > gr->iend)
        gr->iend = rs->qmin[2] - gr->sh_s + rs->count[2];
    const int64_t qlo_all = c->org[2] + c->lo[2], qhi_all = c->org[2] + c->ext[2] - 1 - c->isa->vl;
    gr->aligned = gr->ilo + (gr->sh_f < gr->sh_s ? gr->sh_f : gr->sh_s) >= qlo_all &&
                  gr->iend + (gr->sh_f > gr->sh_s ? gr->sh_f : gr->sh_s) <= qhi_all + 1;
    /* otherwise: both over their common q range, the zip starting at 2 * qlo - px */
    const run_phase *rq = gr->rq;
    gr->qlo = rp->qmin[2] < rq->qmin[2] ? rp->qmin[2] : rq->qmin[2];
    const int64_t qend0 = rp->qmin[2] + rp->count[2], qend1 = rq->qmin[2] + rq->count[2];
    gr->qcount = (qend0 > qend1 ? qend0 : qend1) - gr->qlo;
    return gr->pair ? 2 : 1;
}

/* The next group with outputs from phase *p on, past which *p then moves; 0 when none is left. */
static int dw_next_group(const run_ctx *c, int64_t grp, int64_t co, int64_t *p, dw_group *gr)
{
    while (*p < c->plan->nphases && c->phases[*p].count[0] <= 0)
        (*p)++;
    if (*p >= c->plan->nphases)
        return 0;
    *p += dw_group_init(c, grp, co, *p, gr);
    return 1;
}

/* The output column of a pair's first zipped element (the dw_pair kernels' `first`): from
 * its common range when the pair is aligned, else from both phases' common q range. */
static int64_t dw_pair_first(const run_ctx *c, const dw_group *gr)
{
    return gr->aligned ? 2 * gr->ilo : 2 * gr->qlo - c->pad[2];
}

/* The output row of a group's first row (its rows are stride[1] apart). */
static int64_t dw_group_first_row(const run_ctx *c, const dw_group *gr)
{
    /* q * s + r may pass INT64_MAX before the padding is taken off; the result is an index */
    return (int64_t)((__int128)gr->rp->qmin[1] * c->plan->stride[1] + gr->ph->residue[1] - c->pad[1]);
}

/* Rows [row0, row0 + rows) of a group's slice iz (a constant distance apart in the padded
 * input and in the output) into output plane ybase. */
static void dw_group_rows(const run_ctx *c, const dw_group *gr, int64_t iz, int64_t row0, int64_t rows, float bias,
                          const float *xbase, float *ybase, float *tmp, int stream)
{
    const ct_plan *plan = c->plan;
    const ct_isa_config *isa = c->isa;
    const run_phase *rp = gr->rp;
    const ct_phase *ph = gr->ph, *qh = gr->qh;
    const int64_t sx = plan->stride[2], px = c->pad[2];
    const int64_t qz = rp->qmin[0] + iz, qy = rp->qmin[1] + row0;
    const int64_t oz = (int64_t)((__int128)qz * plan->stride[0] + ph->residue[0] - c->pad[0]);
    const int64_t oy = dw_group_first_row(c, gr) + row0 * plan->stride[1];
    float *orow = ybase + (oz * c->out[1] + oy) * c->out[2];
    /* rows > 1 only when stride * width lies inside the plane (a huge stride has one row) */
    const int64_t dstride = rows > 1 ? plan->stride[1] * c->out[2] : 0, sstride = c->row_stride;
    /* the first row's padded input; column q is at + (q - org[2]) (org alone may be huge) */
    const float *src = xbase + ((qz - c->org[0]) * c->ext[1] + (qy - c->org[1])) * c->row_stride;
    if (gr->pair && gr->aligned) {
        const run_phase *rf = gr->odd ? gr->rq : rp, *rs = gr->odd ? rp : gr->rq;
        const ct_phase *fh = gr->odd ? qh : ph, *sph = gr->odd ? ph : qh;
        isa->dw_pair(src + (gr->ilo + gr->sh_f - c->org[2]), rf->offsets, gr->odd ? gr->w1 : gr->w, fh->ntaps,
                     src + (gr->ilo + gr->sh_s - c->org[2]), rs->offsets, gr->odd ? gr->w : gr->w1, sph->ntaps,
                     plan->mr, bias, orow, dw_pair_first(c, gr), gr->iend - gr->ilo, c->out[2], rows, sstride,
                     dstride, stream);
        return;
    }
    if (gr->pair) {
        const float *s0 = src + (gr->qlo - c->org[2]);
        isa->dw_pair(s0, rp->offsets, gr->w, ph->ntaps, s0, gr->rq->offsets, gr->w1, qh->ntaps, plan->mr, bias, orow,
                     dw_pair_first(c, gr), gr->qcount, c->out[2], rows, sstride, dstride, stream);
        return;
    }
    const int64_t q0 = rp->qmin[2];
    const int64_t ox0 = (int64_t)((__int128)q0 * sx + ph->residue[2] - px);
    if (sx == 1) {
        isa->dw_row(src + (q0 - c->org[2]), rp->offsets, gr->w, plan->mr, ph->ntaps, bias, orow + ox0, rp->count[2],
                    rows, sstride, dstride);
        return;
    }
    for (int64_t row = 0; row < rows; row++) { /* other strides: each row through tmp, scattered */
        isa->dw_row(src + (q0 - c->org[2]) + row * sstride, rp->offsets, gr->w, plan->mr, ph->ntaps, bias, tmp,
                    rp->count[2], 1, 0, 0);
        float *o = orow + row * dstride;
        for (int64_t j = 0; j < rp->count[2]; j++)
            o[ox0 + j * sx] = tmp[j];
    }
}

/* Two pairs of a stride-2 plane whose rows interleave (upper row r right above lower row r),
 * set up for the quad kernel (isa->dw_quad), which computes both with each input vector
 * loaded once: its 3x3 window's weights and where the window of row pair 0 starts. */
typedef struct dw_quad {
    const dw_group *upper, *lower;
    float w[16];
    int64_t row, col; /* the window's first padded row (slice 0) and column */
    int64_t rows;     /* row pairs: each group's rows */
} dw_quad;

/* The phase of a pair in zipped slot `slot` (0: the even outputs): phase p, unless the
 * padding is odd. */
static int dw_slot_is_p(const dw_group *gr, int slot)
{
    return (slot == 0) == !gr->odd;
}

/* Where tap t of a pair's slot reads (the quad's lower pair when `lower`), as the corner of
 * the window that would hold it at (0, 0): a padded row of slice 0 and a column. */
static void dw_quad_tap(const run_ctx *c, const dw_group *gr, int lower, int slot, int64_t t, int64_t *row,
                        int64_t *col)
{
    const int is_p = dw_slot_is_p(gr, slot);
    const int64_t *tt = (is_p ? gr->ph : gr->qh)->tap_t + t * 3;
    *row = (is_p ? gr->rp : gr->rq)->qmin[1] - tt[1] - c->org[1] - lower;
    *col = gr->ilo + (slot == 0 ? gr->sh_f : gr->sh_s) - tt[2] - c->org[2] - slot;
}

/* Whether groups g and h make a quad: stride 2 in y and x, both aligned pairs of the same
 * columns, slices and number of rows, h's first output row right below g's (or g's below
 * h's), every zipped output inside the row, and every tap inside the window. */
static int dw_quad_init(const run_ctx *c, const dw_group *g, const dw_group *h, dw_quad *q)
{
    const ct_plan *plan = c->plan;
    if (plan->stride[1] != 2 || plan->stride[2] != 2 || !g->pair || !h->pair || !g->aligned || !h->aligned ||
        g->ilo != h->ilo || g->iend != h->iend || g->iend - g->ilo < c->isa->vl || g->sh_f != h->sh_f ||
        g->sh_s != h->sh_s || g->odd != h->odd || g->rp->qmin[0] != h->rp->qmin[0] ||
        g->rp->count[0] != h->rp->count[0] || g->ph->residue[0] != h->ph->residue[0])
        return 0;
    const int64_t gy = dw_group_first_row(c, g), hy = dw_group_first_row(c, h), first = dw_pair_first(c, g);
    if ((gy + 1 != hy && hy + 1 != gy) || g->rp->count[1] != h->rp->count[1] || first < 0 ||
        first + 2 * (g->iend - g->ilo) > c->out[2])
        return 0;
    q->upper = gy < hy ? g : h;
    q->lower = gy < hy ? h : g;
    q->rows = g->rp->count[1];
    /* Every window position must be a tap of its phase: a zero weight standing in for a
     * missing tap would still read its input (an inf there would make a NaN), and from
     * outside the rows and columns the pair kernels read (k = 3: uninitialized scratch). */
    if (g->ph->ntaps + g->qh->ntaps + h->ph->ntaps + h->qh->ntaps != 16)
        return 0; /* then each phase's taps fill its 2x2 block, or one lands outside it */
    /* the window's corner: the upper pair's lowest row and the even slot's lowest column */
    q->row = INT64_MAX;
    q->col = INT64_MAX;
    for (int k = 0; k < 4; k++) { /* k = lower * 2 + slot */
        const dw_group *gr = k / 2 ? q->lower : q->upper;
        for (int64_t t = 0; t < (dw_slot_is_p(gr, k % 2) ? gr->ph : gr->qh)->ntaps; t++) {
            int64_t row, col;
            dw_quad_tap(c, gr, k / 2, k % 2, t, &row, &col);
            q->row = row < q->row ? row : q->row;
            q->col = col < q->col ? col : q->col;
        }
    }
    /* each tap (ty, tx) at window row + a, column + b of its slot's 2x2 block */
    memset(q->w, 0, sizeof q->w);
    for (int k = 0; k < 4; k++) {
        const dw_group *gr = k / 2 ? q->lower : q->upper;
        const int is_p = dw_slot_is_p(gr, k % 2);
        const ct_phase *ph = is_p ? gr->ph : gr->qh;
        for (int64_t t = 0; t < ph->ntaps; t++) {
            int64_t row, col;
            dw_quad_tap(c, gr, k / 2, k % 2, t, &row, &col);
            const int64_t a = row - q->row, b = col - q->col;
            if (ph->tap_t[t * 3] != 0 || a < 0 || a > 1 || b < 0 || b > 1)
                return 0;
            q->w[k * 4 + a * 2 + b] += (is_p ? gr->w : gr->w1)[t * plan->mr];
        }
    }
    return 1;
}

/* Slice iz of a quad's row pairs. */
static void dw_quad_rows(const run_ctx *c, const dw_quad *q, int64_t iz, float bias, const float *xbase,
                         float *ybase, int stream)
{
    const ct_plan *plan = c->plan;
    const dw_group *u = q->upper;
    const int64_t qz = u->rp->qmin[0] + iz;
    const int64_t oz = (int64_t)((__int128)qz * plan->stride[0] + u->ph->residue[0] - c->pad[0]);
    const int64_t oy = dw_group_first_row(c, u);
    const float *src = xbase + ((qz - c->org[0]) * c->ext[1] + q->row) * c->row_stride + q->col;
    c->isa->dw_quad(src, c->row_stride, q->w, bias, ybase + (oz * c->out[1] + oy) * c->out[2] + dw_pair_first(c, u),
                    c->out[2], u->iend - u->ilo, q->rows, stream);
}

/* Every group of output channel co (of group grp) into ybase, a group at a time or, where a
 * group and the next make a quad, both at once. */
static void dw_run_groups(const run_ctx *c, int64_t grp, int64_t co, float bias, const float *xbase, float *ybase,
                          float *tmp, int stream)
{
    dw_group gr[2];
    int64_t p = 0;
    int have = dw_next_group(c, grp, co, &p, &gr[0]), cur = 0;
    while (have) {
        const int has_next = dw_next_group(c, grp, co, &p, &gr[1 - cur]);
        dw_quad q;
        if (has_next && dw_quad_init(c, &gr[cur], &gr[1 - cur], &q)) {
            for (int64_t iz = 0; iz < gr[cur].rp->count[0]; iz++)
                dw_quad_rows(c, &q, iz, bias, xbase, ybase, stream);
            have = dw_next_group(c, grp, co, &p, &gr[cur]);
            continue;
        }
        for (int64_t iz = 0; iz < gr[cur].rp->count[0]; iz++)
            dw_group_rows(c, &gr[cur], iz, 0, gr[cur].rp->count[1], bias, xbase, ybase, tmp, stream);
        have = has_next;
        cur = 1 - cur;
    }
}

/* Whether a streamed plane can go straight from the pair kernels to out: every phase with
 * outputs is one of a stride-2 pair of x-phases, and their steps (4 vectors of outputs from
 * a multiple of 16 floats into each row) start on 64-byte lines, since only whole lines can
 * bypass the cache; a misaligned output would have its lines read for ownership instead. */
static int dw_streams_direct(const run_ctx *c, const float *out, int64_t grp, int64_t co)
{
    if (c->plan->needs_bias_fill || ((uintptr_t)out & 63) != 0 || c->out[2] % 16 != 0)
        return 0;
    dw_group gr;
    for (int64_t p = 0; dw_next_group(c, grp, co, &p, &gr);) {
        if (!gr.pair || dw_pair_first(c, &gr) % 16 != 0)
            return 0;
    }
    return 1;
}

/* Output channel `channel` of image n from its group's padded plane at xbase, a group (a
 * phase, or a pair of x-phases) at a time.
 * When the run streams its output and the pair kernels cannot write it past the cache
 * themselves (dw_streams_direct), the plane is computed in the thread's scratch (oplane)
 * and copied out past the cache. A 1-d or 2-d plane goes in bands of output rows, each
 * copied out as soon as every group has computed its rows: the stores of one band drain to
 * memory while the next is computed, instead of the whole plane's stores queueing at once.
 * Band ends are moved down to a cache line of the output, so no line is written by
 * streaming stores in two parts. */
static void run_depthwise_channel(const run_ctx *c, int64_t n, int64_t channel, const float *xbase,
                                  float *scratch, float *oplane)
{
    const ct_plan *plan = c->plan;
    const int64_t grp = channel / plan->cout_g, co = channel % plan->cout_g;
    const float bias = plan->bias ? plan->bias[channel] : 0.0f;
    float *out = c->y + (n * plan->out_channels + channel) * c->out_plane;
    if (c->stream && dw_streams_direct(c, out, grp, co)) {
        /* The pair kernels stream their line-aligned steps to the output themselves, spread
         * through the computing, instead of a copy-out pass whose stores would wait on the
         * memory's write bandwidth with nothing to overlap; the few edge outputs go in place. */
        dw_run_groups(c, grp, co, bias, xbase, out, scratch, 1);
        return;
    }
    float *ybase = c->stream ? oplane : out;
    if (c->stream && plan->needs_bias_fill) /* outputs no tap reaches */
        for (int64_t i = 0; i < c->out_plane; i++)
            oplane[i] = bias;
    enum { MAX_GROUPS = 8 };
    dw_group groups[MAX_GROUPS];
    int ngroups = 0, banded = c->stream && c->out[0] == 1;
    dw_group gr;
    for (int64_t p = 0; banded && dw_next_group(c, grp, co, &p, &gr);) {
        if (ngroups == MAX_GROUPS)
            banded = 0; /* many phases: the plane copied out at the end */
        else
            groups[ngroups++] = gr;
    }
    if (!banded) {
        dw_run_groups(c, grp, co, bias, xbase, ybase, scratch, 0);
        if (c->stream)
            c->isa->stream_copy(out, oplane, c->out_plane);
        return;
    }
    const int64_t width = c->out[2], height = c->out[1];
    const int64_t band = (int64_t)STREAM_BAND_FLOATS / width > 0 ? (int64_t)STREAM_BAND_FLOATS / width : 1;
    int64_t copied = 0;
    for (int64_t a = 0; a < height; a += band) {
        const int64_t b = a + band < height ? a + band : height;
        for (int g = 0; g < ngroups; g++) {
            const int64_t s = c->plan->stride[1], oy0 = dw_group_first_row(c, &groups[g]);
            /* rows r with oy0 + r * s in [a, b); rounded up without adding s (it may be huge) */
            int64_t r0 = a > oy0 ? (a - oy0 - 1) / s + 1 : 0, r1 = b > oy0 ? (b - oy0 - 1) / s + 1 : 0;
            if (r1 > groups[g].rp->count[1])
                r1 = groups[g].rp->count[1];
            if (r0 < r1)
                dw_group_rows(c, &groups[g], 0, r0, r1 - r0, bias, xbase, ybase, scratch, 0);
        }
        int64_t end = b * width;
        if (b < height) /* down to a line boundary of the output */
            end -= ((uintptr_t)(out + end) & 63) / sizeof(float);
        if (end > copied) {
            c->isa->stream_copy(out + copied, oplane + copied, end - copied);
            copied = end;
        }
    }
}

/* A depthwise item: one input plane, padded into the thread's scratch (where it stays in
 * cache), and the output channels computed from it. The scratch holds a row buffer, the
 * padded plane and, when streaming, an output plane; after the thread's first item the
 * plane's zero borders are already there. */
void ct__run_depthwise_item(const run_ctx *c, int64_t item, float *scratch, int borders_zeroed)
{
    const ct_plan *plan = c->plan;
    const int64_t n = item / plan->groups, grp = item % plan->groups;
    float *plane = scratch + c->dw_row_floats;
    ct__pad_plane(c, n * plan->in_channels + grp, plane, borders_zeroed);
    for (int64_t co = 0; co < plan->cout_g; co++)
        run_depthwise_channel(c, n, grp * plan->cout_g + co, plane, scratch, plane + c->plane);
}

