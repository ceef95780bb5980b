/* dwconv_template.h - the row kernels of the depthwise path (one input channel per group),
 * written with GCC vector extensions; included once per ISA by igemm_isa.h, which defines
 * ct_vf, CT_VL, CT_SPLAT and CT_STREAM.
 *
 * Both kernels compute `rows` rows: row r reads src + r * sstride and writes dst + r * dstride
 * (a phase's consecutive rows are a constant distance apart in the padded input and in the
 * output), so the per-call set-up is paid once per phase, not once per row.
 * ct_dw_row: dst[j] = bias + sum_t w[t * wstride] * src[off[t] + j] for j < count. Every
 * src[off[t] + j] with j < round_up(count, VL) must be readable (the padded input has VL
 * spare columns).
 * ct_dw_pair: the two x-phases of a stride-2 row at once, zipped into output order with
 * vector shuffles instead of scalar stores: with a and b the rows ct_dw_row would give for
 * (src0, off0, w0, n0) and (src1, off1, w1, n1), zipped element i = 2j + (0 for a, 1 for b)
 * goes to dst[first + i] when 0 <= first + i < out_len. With stream set, whole steps that
 * start on a 64-byte line are stored past the cache (the caller fences before others read):
 * for outputs too large to stay in cache, written once, so that their lines are not read for
 * ownership and leave while the next steps are computed.
 */

#define CT_DW_GLUE(base, isa) base##__##isa
#define CT_DW_NAME(base, isa) CT_DW_GLUE(base, isa)
#define CT_DW_ROW CT_DW_NAME(ct_f32_dw_row, CT_ISA)
#define CT_DW_PAIR CT_DW_NAME(ct_f32_dw_pair, CT_ISA)
#define CT_DW_ROW_TAIL CT_DW_NAME(ct_dw_row_tail, CT_ISA)
#define CT_DW_ROWS_FIXED CT_DW_NAME(ct_dw_rows_fixed, CT_ISA)
#define CT_DW_PAIR_EDGE CT_DW_NAME(ct_dw_pair_edge, CT_ISA)
#define CT_DW_PAIRS_FIXED CT_DW_NAME(ct_dw_pairs_fixed, CT_ISA)
#define CT_DW_PAIRS_ANY CT_DW_NAME(ct_dw_pairs_any, CT_ISA)

/* Most depthwise phases have a few taps (k4 s2: 4, k3 s1: 9). With the count known at compile
 * time the tap loops unroll and every weight stays in a register for all the rows; with a
 * count read at run time each vector reloads its offsets and weights, which cost more
 * instructions than the multiply-adds (callgrind: about 7 per FMA). Counts up to
 * CT_DW_MAX_FIXED (rows) and CT_DW_MAX_PAIR (each phase of a pair) get their own instance. */
#define CT_DW_MAX_FIXED 9
#define CT_DW_MAX_PAIR 4

/* Columns [0, count) of one row for any tap count, one vector at a time, the last one
 * stored in part: rows shorter than two vectors, and taps past CT_DW_MAX_FIXED. */
static void CT_DW_ROW_TAIL(const float *src, const int64_t *off, const float *w, int64_t wstride, int64_t ntaps,
                           float bias, float *dst, int64_t count)
{
    for (int64_t j = 0; j < count; j += CT_VL) {
        ct_vf acc = CT_SPLAT(bias);
        for (int64_t t = 0; t < ntaps; t++)
            acc += *(const ct_vf_unaligned *)(src + off[t] + j) * CT_SPLAT(w[t * wstride]);
        if (j + CT_VL <= count) {
            *(ct_vf_unaligned *)(dst + j) = acc;
        } else {
            float tmp[CT_VL];
            memcpy(tmp, &acc, sizeof tmp);
            memcpy(dst + j, tmp, sizeof(float) * (size_t)(count - j));
        }
    }
}

/* All rows, ntaps a constant <= CT_DW_MAX_FIXED and count >= 2 * VL: two vectors a step, and
 * the tail as one more whole step ending at the last column (a few outputs are computed and
 * written twice, with the same values) rather than clipped single vectors. */
static inline __attribute__((always_inline)) void CT_DW_ROWS_FIXED(const float *src, const int64_t *off,
                                                                   const float *w, int64_t wstride, const int ntaps,
                                                                   float bias, float *dst, int64_t count,
                                                                   int64_t rows, int64_t sstride, int64_t dstride)
{
    ct_vf wt[CT_DW_MAX_FIXED];
#pragma GCC unroll 16
    for (int t = 0; t < ntaps; t++)
        wt[t] = CT_SPLAT(w[t * wstride]);
    const ct_vf vbias = CT_SPLAT(bias);
    const int64_t whole = count / (2 * CT_VL) * (2 * CT_VL);
    for (int64_t r = 0; r < rows; r++) {
        const float *s[CT_DW_MAX_FIXED];
#pragma GCC unroll 16
        for (int t = 0; t < ntaps; t++)
            s[t] = src + r * sstride + off[t];
        float *d = dst + r * dstride;
        for (int64_t j = 0; j < count;) {
            ct_vf acc0 = vbias, acc1 = vbias;
#pragma GCC unroll 16
            for (int t = 0; t < ntaps; t++) {
                acc0 += *(const ct_vf_unaligned *)(s[t] + j) * wt[t];
                acc1 += *(const ct_vf_unaligned *)(s[t] + j + CT_VL) * wt[t];
            }
            *(ct_vf_unaligned *)(d + j) = acc0;
            *(ct_vf_unaligned *)(d + j + CT_VL) = acc1;
            j += 2 * CT_VL;
            if (j >= whole && j < count)
                j = count - 2 * CT_VL; /* then the loop ends at count */
        }
    }
}

static void CT_DW_ROW(const float *src, const int64_t *off, const float *w, int64_t wstride, int64_t ntaps,
                      float bias, float *dst, int64_t count, int64_t rows, int64_t sstride, int64_t dstride)
{
    if (count >= 2 * CT_VL) {
        switch (ntaps) {
#define CT_DW_ROW_CASE(n)                                                                              \
    case n:                                                                                            \
        CT_DW_ROWS_FIXED(src, off, w, wstride, n, bias, dst, count, rows, sstride, dstride);           \
        return;
            CT_DW_ROW_CASE(1)
            CT_DW_ROW_CASE(2)
            CT_DW_ROW_CASE(3)
            CT_DW_ROW_CASE(4)
            CT_DW_ROW_CASE(5)
            CT_DW_ROW_CASE(6)
            CT_DW_ROW_CASE(7)
            CT_DW_ROW_CASE(8)
            CT_DW_ROW_CASE(9)
#undef CT_DW_ROW_CASE
        default:
            break;
        }
    }
    for (int64_t r = 0; r < rows; r++)
        CT_DW_ROW_TAIL(src + r * sstride, off, w, wstride, ntaps, bias, dst + r * dstride, count);
}

/* One vector of each phase at column j, zipped; only the part inside [0, out_len) stored. */
static void CT_DW_PAIR_EDGE(const float *src0, const int64_t *off0, const float *w0, int64_t n0, const float *src1,
                            const int64_t *off1, const float *w1, int64_t n1, int64_t wstride, float bias, float *dst,
                            int64_t first, int64_t count, int64_t out_len, int64_t j)
{
    ct_vf a = CT_SPLAT(bias), b = a;
    for (int64_t t = 0; t < n0; t++)
        a += *(const ct_vf_unaligned *)(src0 + off0[t] + j) * CT_SPLAT(w0[t * wstride]);
    for (int64_t t = 0; t < n1; t++)
        b += *(const ct_vf_unaligned *)(src1 + off1[t] + j) * CT_SPLAT(w1[t * wstride]);
    float fa[CT_VL], fb[CT_VL];
    memcpy(fa, &a, sizeof a);
    memcpy(fb, &b, sizeof b);
    CT_ZIP_STORE(fa, fb, dst, first + 2 * j, count - j < CT_VL ? count - j : CT_VL, out_len);
}

/* The columns of a pair's rows, split once for all rows: [0, head) start before the row and
 * are clipped; [head, steps_end) go two vectors a step; a whole step at tail (when >= 0)
 * ends at tail_end, the last column whose outputs both lie inside the row, rewriting a few
 * outputs with the same values instead of clipping single vectors; the columns from
 * rest (up to the one holding the row's last output) are clipped again. */
typedef struct ct_dw_pair_plan {
    int64_t head, steps_end, tail, rest;
} ct_dw_pair_plan;

static ct_dw_pair_plan CT_DW_NAME(ct_dw_pair_columns, CT_ISA)(int64_t first, int64_t count, int64_t out_len)
{
    ct_dw_pair_plan p;
    p.head = 0;
    while (p.head < count && first + 2 * p.head < 0) /* column j writes outputs first + 2j, + 1 */
        p.head += CT_VL;
    p.steps_end = p.head;
    while (p.steps_end + 2 * CT_VL <= count && first + 2 * p.steps_end + 4 * CT_VL <= out_len)
        p.steps_end += 2 * CT_VL;
    const int64_t tail_end = (out_len - first) / 2 < count ? (out_len - first) / 2 : count;
    p.tail = -1;
    p.rest = p.steps_end;
    if (p.steps_end < tail_end && tail_end - 2 * CT_VL >= p.head) {
        p.tail = tail_end - 2 * CT_VL;
        p.rest = tail_end;
    }
    return p;
}

/* All rows of a pair, n0 and n1 constants (<= CT_DW_MAX_PAIR) or, with n0 = n1 = 0, the tap
 * counts read at run time from nr0, nr1 (weights reloaded every step). */
static inline __attribute__((always_inline)) void CT_DW_PAIRS_FIXED(
    const float *src0, const int64_t *off0, const float *w0, const int n0, int64_t nr0, const float *src1,
    const int64_t *off1, const float *w1, const int n1, int64_t nr1, int64_t wstride, float bias, float *dst,
    int64_t first, int64_t count, int64_t out_len, int64_t rows, int64_t sstride, int64_t dstride, int stream)
{
    const int fixed = n0 > 0;
    ct_vf wa[CT_DW_MAX_PAIR], wb[CT_DW_MAX_PAIR];
#pragma GCC unroll 16
    for (int t = 0; t < n0; t++)
        wa[t] = CT_SPLAT(w0[t * wstride]);
#pragma GCC unroll 16
    for (int t = 0; t < n1; t++)
        wb[t] = CT_SPLAT(w1[t * wstride]);
    const ct_vf vbias = CT_SPLAT(bias);
    const ct_dw_pair_plan cols = CT_DW_NAME(ct_dw_pair_columns, CT_ISA)(first, count, out_len);
    for (int64_t r = 0; r < rows; r++) {
        const float *s0 = src0 + r * sstride, *s1 = src1 + r * sstride;
        float *drow = dst + r * dstride;
        for (int64_t j = 0; j < cols.head; j += CT_VL)
            CT_DW_PAIR_EDGE(s0, off0, w0, nr0, s1, off1, w1, nr1, wstride, bias, drow, first, count, out_len, j);
        const float *sa[CT_DW_MAX_PAIR], *sb[CT_DW_MAX_PAIR];
#pragma GCC unroll 16
        for (int t = 0; t < n0; t++)
            sa[t] = s0 + off0[t];
#pragma GCC unroll 16
        for (int t = 0; t < n1; t++)
            sb[t] = s1 + off1[t];
        /* two vectors per phase: four independent FMA chains, stored whole; j < 0: done */
        for (int64_t j = cols.head < cols.steps_end ? cols.head : cols.tail; j >= 0;) {
            ct_vf a0 = vbias, a1 = vbias, b0 = vbias, b1 = vbias;
            if (fixed) {
#pragma GCC unroll 16
                for (int t = 0; t < n0; t++) {
                    a0 += *(const ct_vf_unaligned *)(sa[t] + j) * wa[t];
                    a1 += *(const ct_vf_unaligned *)(sa[t] + j + CT_VL) * wa[t];
                }
#pragma GCC unroll 16
                for (int t = 0; t < n1; t++) {
                    b0 += *(const ct_vf_unaligned *)(sb[t] + j) * wb[t];
                    b1 += *(const ct_vf_unaligned *)(sb[t] + j + CT_VL) * wb[t];
                }
            } else {
                for (int64_t t = 0; t < nr0; t++) {
                    const float *s = s0 + off0[t] + j;
                    const ct_vf wt = CT_SPLAT(w0[t * wstride]);
                    a0 += *(const ct_vf_unaligned *)s * wt;
                    a1 += *(const ct_vf_unaligned *)(s + CT_VL) * wt;
                }
                for (int64_t t = 0; t < nr1; t++) {
                    const float *s = s1 + off1[t] + j;
                    const ct_vf wt = CT_SPLAT(w1[t * wstride]);
                    b0 += *(const ct_vf_unaligned *)s * wt;
                    b1 += *(const ct_vf_unaligned *)(s + CT_VL) * wt;
                }
            }
            float *d = drow + first + 2 * j;
            if (stream && ((uintptr_t)d & 63) == 0) { /* 4 vectors: whole lines */
                CT_STREAM(d, CT_ZIP_LO(a0, b0));
                CT_STREAM(d + CT_VL, CT_ZIP_HI(a0, b0));
                CT_STREAM(d + 2 * CT_VL, CT_ZIP_LO(a1, b1));
                CT_STREAM(d + 3 * CT_VL, CT_ZIP_HI(a1, b1));
            } else {
                *(ct_vf_unaligned *)d = CT_ZIP_LO(a0, b0);
                *(ct_vf_unaligned *)(d + CT_VL) = CT_ZIP_HI(a0, b0);
                *(ct_vf_unaligned *)(d + 2 * CT_VL) = CT_ZIP_LO(a1, b1);
                *(ct_vf_unaligned *)(d + 3 * CT_VL) = CT_ZIP_HI(a1, b1);
            }
            if (j == cols.tail) /* regular steps stop short of the tail: it comes last */
                break;
            j += 2 * CT_VL;
            if (j >= cols.steps_end)
                j = cols.tail;
        }
        for (int64_t j = cols.rest; j < count && first + 2 * j < out_len; j += CT_VL)
            CT_DW_PAIR_EDGE(s0, off0, w0, nr0, s1, off1, w1, nr1, wstride, bias, drow, first, count, out_len, j);
    }
}

static void CT_DW_PAIR(const float *src0, const int64_t *off0, const float *w0, int64_t n0, const float *src1,
                       const int64_t *off1, const float *w1, int64_t n1, int64_t wstride, float bias, float *dst,
                       int64_t first, int64_t count, int64_t out_len, int64_t rows, int64_t sstride, int64_t dstride,
                       int stream)
{
    const int fixed = n0 <= CT_DW_MAX_PAIR && n1 <= CT_DW_MAX_PAIR;
    switch (fixed ? (n0 - 1) * CT_DW_MAX_PAIR + (n1 - 1) : -1) {
#define CT_DW_PAIR_CASE(a, b)                                                                          \
    case (a - 1) * CT_DW_MAX_PAIR + (b - 1):                                                           \
        CT_DW_PAIRS_FIXED(src0, off0, w0, a, a, src1, off1, w1, b, b, wstride, bias, dst, first, count, out_len, \
                          rows, sstride, dstride, stream);                                             \
        return;
        CT_DW_PAIR_CASE(1, 1)
        CT_DW_PAIR_CASE(1, 2)
        CT_DW_PAIR_CASE(1, 3)
        CT_DW_PAIR_CASE(1, 4)
        CT_DW_PAIR_CASE(2, 1)
        CT_DW_PAIR_CASE(2, 2)
        CT_DW_PAIR_CASE(2, 3)
        CT_DW_PAIR_CASE(2, 4)
        CT_DW_PAIR_CASE(3, 1)
        CT_DW_PAIR_CASE(3, 2)
        CT_DW_PAIR_CASE(3, 3)
        CT_DW_PAIR_CASE(3, 4)
        CT_DW_PAIR_CASE(4, 1)
        CT_DW_PAIR_CASE(4, 2)
        CT_DW_PAIR_CASE(4, 3)
        CT_DW_PAIR_CASE(4, 4)
#undef CT_DW_PAIR_CASE
    default:
        CT_DW_PAIRS_FIXED(src0, off0, w0, 0, n0, src1, off1, w1, 0, n1, wstride, bias, dst, first, count, out_len,
                          rows, sstride, dstride, stream);
    }
}

#define CT_DW_QUAD CT_DW_NAME(ct_f32_dw_quad, CT_ISA)
#define CT_DW_QUAD_STRIP CT_DW_NAME(ct_dw_quad_strip, CT_ISA)

/* One vector of window columns [j, j + VL) down all rows of a quad (CT_DW_QUAD): the window's
 * three rows slide down, so each row pair loads one new input row (three column shifts) for
 * its 16 multiply-adds. Streamed when asked and the stores fall on whole lines. */
static inline __attribute__((always_inline)) void CT_DW_QUAD_STRIP(const float *src, int64_t sstride,
                                                                   const ct_vf *wt, float bias, float *dst,
                                                                   int64_t dstride, int64_t rows, int stream)
{
    const ct_vf vbias = CT_SPLAT(bias);
    ct_vf u0 = *(const ct_vf_unaligned *)src, u1 = *(const ct_vf_unaligned *)(src + 1),
          u2 = *(const ct_vf_unaligned *)(src + 2);
    ct_vf m0 = *(const ct_vf_unaligned *)(src + sstride), m1 = *(const ct_vf_unaligned *)(src + sstride + 1),
          m2 = *(const ct_vf_unaligned *)(src + sstride + 2);
    stream = stream && ((uintptr_t)dst & 63) == 0 && ((dstride * (int64_t)sizeof(float)) & 63) == 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = src + (r + 2) * sstride;
        const ct_vf l0 = *(const ct_vf_unaligned *)row, l1 = *(const ct_vf_unaligned *)(row + 1),
                    l2 = *(const ct_vf_unaligned *)(row + 2);
        const ct_vf y00 = vbias + u0 * wt[0] + u1 * wt[1] + m0 * wt[2] + m1 * wt[3];
        const ct_vf y01 = vbias + u1 * wt[4] + u2 * wt[5] + m1 * wt[6] + m2 * wt[7];
        const ct_vf y10 = vbias + m0 * wt[8] + m1 * wt[9] + l0 * wt[10] + l1 * wt[11];
        const ct_vf y11 = vbias + m1 * wt[12] + m2 * wt[13] + l1 * wt[14] + l2 * wt[15];
        float *upper = dst + 2 * r * dstride, *lower = upper + dstride;
        if (stream) {
            CT_STREAM(upper, CT_ZIP_LO(y00, y01));
            CT_STREAM(upper + CT_VL, CT_ZIP_HI(y00, y01));
            CT_STREAM(lower, CT_ZIP_LO(y10, y11));
            CT_STREAM(lower + CT_VL, CT_ZIP_HI(y10, y11));
        } else {
            *(ct_vf_unaligned *)upper = CT_ZIP_LO(y00, y01);
            *(ct_vf_unaligned *)(upper + CT_VL) = CT_ZIP_HI(y00, y01);
            *(ct_vf_unaligned *)lower = CT_ZIP_LO(y10, y11);
            *(ct_vf_unaligned *)(lower + CT_VL) = CT_ZIP_HI(y10, y11);
        }
        u0 = m0, u1 = m1, u2 = m2;
        m0 = l0, m1 = l1, m2 = l2;
    }
}

/* ct_dw_quad: a stride-2 (y and x) plane's four phases at once, for kernels of 2 taps per
 * phase and dim (DCGAN's 4x4): rows pairs of output rows from dst, count >= VL window
 * columns whose zipped outputs [2j, 2j + 1] all lie in the row. Window row i, column j is
 * src[i * sstride + j]. Output row pair r: the upper row dst + 2 r dstride takes the zipped
 * pair (2j: w[0..3], 2j + 1: w[4..7]) from window rows r, r + 1; the lower row (+ dstride)
 * takes w[8..11] and w[12..15] from rows r + 1, r + 2. A phase's four weights are its taps
 * (a, b) at window row + a, column j + b (+ 1 for the odd one). The last vector overlaps the
 * one before it, writing a few outputs twice with the same values, rather than being cut. */
static void CT_DW_QUAD(const float *src, int64_t sstride, const float *w, float bias, float *dst, int64_t dstride,
                       int64_t count, int64_t rows, int stream)
{
    ct_vf wt[16];
    for (int i = 0; i < 16; i++)
        wt[i] = CT_SPLAT(w[i]);
    for (int64_t j = 0;; j += CT_VL) {
        if (j + CT_VL > count)
            j = count - CT_VL;
        CT_DW_QUAD_STRIP(src + j, sstride, wt, bias, dst + 2 * j, dstride, rows, stream);
        if (j + CT_VL >= count)
            break;
    }
}

#define CT_STREAM_COPY CT_DW_NAME(ct_f32_stream_copy, CT_ISA)

static void CT_STREAM_COPY(float *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    for (; i < n && ((uintptr_t)(dst + i) & (sizeof(ct_vf) - 1)) != 0; i++)
        dst[i] = src[i];
    for (; i + CT_VL <= n; i += CT_VL)
        CT_STREAM(dst + i, *(const ct_vf_unaligned *)(src + i));
    for (; i < n; i++)
        dst[i] = src[i];
}

#define CT_STREAM_FENCE_FN CT_DW_NAME(ct_stream_fence, CT_ISA)

static void CT_STREAM_FENCE_FN(void)
{
    CT_STREAM_FENCE();
}

