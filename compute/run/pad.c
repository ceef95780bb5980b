/* pad.c - copies input planes into the zero-bordered buffers the kernels read (plan.h's
 * layouts): the row layout, where no tap needs a bounds check, and the flat layout's shifted
 * copies for phase rows narrower than a vector. */
#include <string.h>

#include "plan.h"

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
void ct__pad_plane_flat(const run_ctx *c, int64_t plane_idx, float *dst, int borders_zeroed)
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
