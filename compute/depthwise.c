/* depthwise.c - the depthwise path (one input channel per group). K is just the taps, too
 * short for the GEMM microkernels, so an item pads its one input plane into the thread's
 * scratch (where it stays in cache) and computes each output channel row by row. A stride-2
 * row's two x-phases are computed together and zipped into output order; other strides
 * scatter each phase row. */
#include <string.h>

#include "plan.h"

/* A depthwise channel's packed weights in one phase: its taps, plan->mr floats apart. */
static const float *depthwise_weights(const ct_plan *plan, int64_t grp, int64_t co, const ct_phase *ph)
{
    return plan->packed + grp * plan->group_stride + ph->a_offset + (co / plan->mr * ph->ntaps * plan->mr) +
           co % plan->mr;
}

/* Output channel `channel` of image n from its group's padded plane at xbase. */
static void run_depthwise_channel(const run_ctx *c, int64_t n, int64_t channel, const float *xbase,
                                  float *scratch)
{
    const ct_plan *plan = c->plan;
    const ct_isa_config *isa = c->isa;
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
        /* Zipped, output 2i comes from the phase whose residue has the parity of the padding,
         * at q = i + sh, and output 2i + 1 from the other. Aligning the two phases' q ranges
         * that way puts the zip's first element at an output column, not one before it. */
        const int64_t odd = (px % 2 + 2) % 2;
        const run_phase *rf = odd ? rq : rp, *rs = odd ? rp : rq;
        const int64_t sh_f = (px - odd) / 2, sh_s = sh_f + odd; /* px - odd is even: exact, no overflow */
        int64_t ilo = rf->qmin[2] - sh_f, iend = ilo + rf->count[2];
        if (rs->qmin[2] - sh_s < ilo)
            ilo = rs->qmin[2] - sh_s;
        if (rs->qmin[2] - sh_s + rs->count[2] > iend)
            iend = rs->qmin[2] - sh_s + rs->count[2];
        const int64_t qlo_all = c->org[2] + c->lo[2], qhi_all = c->org[2] + c->ext[2] - 1 - isa->vl;
        const int aligned = ilo + (sh_f < sh_s ? sh_f : sh_s) >= qlo_all &&
                            iend + (sh_f > sh_s ? sh_f : sh_s) <= qhi_all + 1;
        /* otherwise: both over their common q range, the zip starting at 2 * qlo - px */
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
            if (pair && aligned) {
                const ct_phase *fh = odd ? qh : ph, *sph = odd ? ph : qh;
                isa->dw_pair(src + (ilo + sh_f - c->org[2]), rf->offsets, odd ? w1 : w, fh->ntaps,
                             src + (ilo + sh_s - c->org[2]), rs->offsets, odd ? w : w1, sph->ntaps, plan->mr, bias,
                             orow, 2 * ilo, iend - ilo, c->out[2]);
                continue;
            }
            if (pair) {
                const float *s0 = src + (qlo - c->org[2]);
                isa->dw_pair(s0, rp->offsets, w, ph->ntaps, s0, rq->offsets, w1, qh->ntaps, plan->mr, bias, orow,
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
void ct__run_depthwise_item(const run_ctx *c, int64_t item, float *scratch)
{
    const ct_plan *plan = c->plan;
    const int64_t n = item / plan->groups, grp = item % plan->groups;
    float *plane = scratch + c->dw_row_floats;
    ct__pad_plane(c, n * plan->in_channels + grp, plane);
    for (int64_t co = 0; co < plan->cout_g; co++)
        run_depthwise_channel(c, n, grp * plan->cout_g + co, plane, scratch);
}

