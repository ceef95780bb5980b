/* dwconv_template.h - the row kernels of the depthwise path (one input channel per group),
 * written with GCC vector extensions; included once per ISA by igemm_isa.h, which defines
 * ct_vf, CT_VL and CT_SPLAT.
 *
 * ct_dw_row: dst[j] = bias + sum_t w[t * wstride] * src[off[t] + j] for j < count. Every
 * src[off[t] + j] with j < round_up(count, VL) must be readable (the padded input has VL
 * spare columns).
 * ct_dw_pair: the two x-phases of a stride-2 row at once, zipped into output order with
 * vector shuffles instead of scalar stores: with a and b the rows ct_dw_row would give for
 * (src0, off0, w0, n0) and (src1, off1, w1, n1), zipped element i = 2j + (0 for a, 1 for b)
 * goes to dst[first + i] when 0 <= first + i < out_len.
 */

#define CT_DW_GLUE(base, isa) base##__##isa
#define CT_DW_NAME(base, isa) CT_DW_GLUE(base, isa)
#define CT_DW_ROW CT_DW_NAME(ct_f32_dw_row, CT_ISA)
#define CT_DW_PAIR CT_DW_NAME(ct_f32_dw_pair, CT_ISA)
#define CT_ZIP_STORE CT_DW_NAME(ct_f32_zip_store, CT_ISA)

/* Most depthwise phases have a few taps (k4 s2: 4, k3 s1: 9). With the count known at compile
 * time the tap loops unroll and every weight stays in a register for the whole row; with a
 * count read at run time each vector reloads its offsets and weights, which cost more
 * instructions than the multiply-adds (callgrind: about 7 per FMA). CT_DW_MAX_FIXED bounds
 * the counts that get their own instance. */
#ifndef CT_DW_MAX_FIXED
#define CT_DW_MAX_FIXED 9
#define CT_DW_MAX_PAIR 4
#endif

/* Columns [j, end) of a row, two vectors a step (end - j a multiple of 2 * VL). */
static inline __attribute__((always_inline)) void CT_DW_NAME(ct_dw_row_steps, CT_ISA)(
    const float *src, const int64_t *off, const float *w, int64_t wstride, const int ntaps, float bias, float *dst,
    int64_t j, int64_t end)
{
    ct_vf wt[CT_DW_MAX_FIXED];
    const float *s[CT_DW_MAX_FIXED];
#pragma GCC unroll 16
    for (int t = 0; t < ntaps; t++) {
        wt[t] = CT_SPLAT(w[t * wstride]);
        s[t] = src + off[t];
    }
    const ct_vf vbias = CT_SPLAT(bias);
    for (; j < end; j += 2 * CT_VL) {
        ct_vf acc0 = vbias, acc1 = vbias;
#pragma GCC unroll 16
        for (int t = 0; t < ntaps; t++) {
            acc0 += *(const ct_vf_unaligned *)(s[t] + j) * wt[t];
            acc1 += *(const ct_vf_unaligned *)(s[t] + j + CT_VL) * wt[t];
        }
        *(ct_vf_unaligned *)(dst + j) = acc0;
        *(ct_vf_unaligned *)(dst + j + CT_VL) = acc1;
    }
}

/* Steps over columns [j, end) for any tap count (end - j a multiple of 2 * VL). */
static inline __attribute__((always_inline)) void CT_DW_NAME(ct_dw_row_any, CT_ISA)(
    const float *src, const int64_t *off, const float *w, int64_t wstride, int64_t ntaps, float bias, float *dst,
    int64_t j, int64_t end)
{
    switch (ntaps) {
#define CT_DW_ROW_CASE(n)                                                                              \
    case n:                                                                                            \
        CT_DW_NAME(ct_dw_row_steps, CT_ISA)(src, off, w, wstride, n, bias, dst, j, end);               \
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
    for (; j < end; j += 2 * CT_VL) {
        ct_vf acc0 = CT_SPLAT(bias), acc1 = acc0;
        for (int64_t t = 0; t < ntaps; t++) {
            const float *s = src + off[t] + j;
            const ct_vf wt = CT_SPLAT(w[t * wstride]);
            acc0 += *(const ct_vf_unaligned *)s * wt;
            acc1 += *(const ct_vf_unaligned *)(s + CT_VL) * wt;
        }
        *(ct_vf_unaligned *)(dst + j) = acc0;
        *(ct_vf_unaligned *)(dst + j + CT_VL) = acc1;
    }
}

static void CT_DW_ROW(const float *src, const int64_t *off, const float *w, int64_t wstride, int64_t ntaps,
                      float bias, float *dst, int64_t count)
{
    const int64_t whole = count / (2 * CT_VL) * (2 * CT_VL);
    CT_DW_NAME(ct_dw_row_any, CT_ISA)(src, off, w, wstride, ntaps, bias, dst, 0, whole);
    if (whole == count)
        return;
    if (whole > 0) { /* one more step ending at the last column: a few outputs written twice */
        CT_DW_NAME(ct_dw_row_any, CT_ISA)(src, off, w, wstride, ntaps, bias, dst, count - 2 * CT_VL, count);
        return;
    }
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

/* The first and second halves of a and b interleaved (GCC 12 and clang both have
 * __builtin_shufflevector; GCC's __builtin_shuffle is GCC-only). */
#if CT_VL == 8
#define CT_ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define CT_ZIP_HI(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#else
#define CT_ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define CT_ZIP_HI(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#endif

/* The zip and store of one vector of each phase: a and b hold VL floats, the first n valid. */
static void CT_ZIP_STORE(const float *a, const float *b, float *dst, int64_t at, int64_t n, int64_t out_len)
{
    const ct_vf va = *(const ct_vf_unaligned *)a, vb = *(const ct_vf_unaligned *)b;
    const ct_vf zlo = CT_ZIP_LO(va, vb), zhi = CT_ZIP_HI(va, vb);
    if (at >= 0 && n == CT_VL && at + 2 * CT_VL <= out_len) {
        *(ct_vf_unaligned *)(dst + at) = zlo;
        *(ct_vf_unaligned *)(dst + at + CT_VL) = zhi;
        return;
    }
    float tmp[2 * CT_VL];
    memcpy(tmp, &zlo, sizeof zlo);
    memcpy(tmp + CT_VL, &zhi, sizeof zhi);
    const int64_t from = at < 0 ? -at : 0;
    int64_t end = at + 2 * n;
    if (end > out_len)
        end = out_len;
    for (int64_t i = at + from; i < end; i++) /* a few floats: no library call */
        dst[i] = tmp[i - at];
}

/* One vector of each phase at column j, zipped; only the part inside [0, out_len) stored. */
static inline void CT_DW_NAME(ct_dw_pair_edge, CT_ISA)(const float *src0, const int64_t *off0, const float *w0,
                                                       int64_t n0, const float *src1, const int64_t *off1,
                                                       const float *w1, int64_t n1, int64_t wstride, float bias,
                                                       float *dst, int64_t first, int64_t count, int64_t out_len,
                                                       int64_t j)
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

/* The interior steps of a pair from column j on, while two vectors of each phase fit the row
 * and their zip fits the output; returns the column where they stop. n0 and n1 are
 * constants in the instances CT_DW_PAIR switches to. */
static inline __attribute__((always_inline)) int64_t CT_DW_NAME(ct_dw_pair_steps, CT_ISA)(
    const float *src0, const int64_t *off0, const float *w0, const int n0, const float *src1, const int64_t *off1,
    const float *w1, const int n1, int64_t wstride, float bias, float *dst, int64_t first, int64_t count,
    int64_t out_len, int64_t j)
{
    ct_vf wa[CT_DW_MAX_FIXED], wb[CT_DW_MAX_FIXED];
    const float *sa[CT_DW_MAX_FIXED], *sb[CT_DW_MAX_FIXED];
#pragma GCC unroll 16
    for (int t = 0; t < n0; t++) {
        wa[t] = CT_SPLAT(w0[t * wstride]);
        sa[t] = src0 + off0[t];
    }
#pragma GCC unroll 16
    for (int t = 0; t < n1; t++) {
        wb[t] = CT_SPLAT(w1[t * wstride]);
        sb[t] = src1 + off1[t];
    }
    const ct_vf vbias = CT_SPLAT(bias);
    /* two vectors per phase: four independent FMA chains, stored whole */
    for (; j + 2 * CT_VL <= count && first + 2 * j + 4 * CT_VL <= out_len; j += 2 * CT_VL) {
        ct_vf a0 = vbias, a1 = vbias, b0 = vbias, b1 = vbias;
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
        float *d = dst + first + 2 * j;
        *(ct_vf_unaligned *)d = CT_ZIP_LO(a0, b0);
        *(ct_vf_unaligned *)(d + CT_VL) = CT_ZIP_HI(a0, b0);
        *(ct_vf_unaligned *)(d + 2 * CT_VL) = CT_ZIP_LO(a1, b1);
        *(ct_vf_unaligned *)(d + 3 * CT_VL) = CT_ZIP_HI(a1, b1);
    }
    return j;
}

/* The interior steps from column j on, for any tap counts; returns where they stop. */
static inline __attribute__((always_inline)) int64_t CT_DW_NAME(ct_dw_pair_interior, CT_ISA)(const float *src0, const int64_t *off0, const float *w0,
                                                       int64_t n0, const float *src1, const int64_t *off1,
                                                       const float *w1, int64_t n1, int64_t wstride, float bias,
                                                       float *dst, int64_t first, int64_t count, int64_t out_len,
                                                       int64_t j)
{
    const int fixed = n0 <= CT_DW_MAX_PAIR && n1 <= CT_DW_MAX_PAIR;
    switch (fixed ? (n0 - 1) * CT_DW_MAX_PAIR + (n1 - 1) : -1) {
#define CT_DW_PAIR_CASE(a, b)                                                                              \
    case (a - 1) * CT_DW_MAX_PAIR + (b - 1):                                                               \
        return CT_DW_NAME(ct_dw_pair_steps, CT_ISA)(src0, off0, w0, a, src1, off1, w1, b, wstride, bias, dst, \
                                                    first, count, out_len, j);
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
        break;
    }
    for (; j + 2 * CT_VL <= count && first + 2 * j + 4 * CT_VL <= out_len; j += 2 * CT_VL) {
        ct_vf a0 = CT_SPLAT(bias), a1 = a0, b0 = a0, b1 = a0;
        for (int64_t t = 0; t < n0; t++) {
            const float *s = src0 + off0[t] + j;
            const ct_vf wt = CT_SPLAT(w0[t * wstride]);
            a0 += *(const ct_vf_unaligned *)s * wt;
            a1 += *(const ct_vf_unaligned *)(s + CT_VL) * wt;
        }
        for (int64_t t = 0; t < n1; t++) {
            const float *s = src1 + off1[t] + j;
            const ct_vf wt = CT_SPLAT(w1[t * wstride]);
            b0 += *(const ct_vf_unaligned *)s * wt;
            b1 += *(const ct_vf_unaligned *)(s + CT_VL) * wt;
        }
        float *d = dst + first + 2 * j;
        *(ct_vf_unaligned *)d = CT_ZIP_LO(a0, b0);
        *(ct_vf_unaligned *)(d + CT_VL) = CT_ZIP_HI(a0, b0);
        *(ct_vf_unaligned *)(d + 2 * CT_VL) = CT_ZIP_LO(a1, b1);
        *(ct_vf_unaligned *)(d + 3 * CT_VL) = CT_ZIP_HI(a1, b1);
    }
    return j;
}

/* A clipped edge vector costs as much as a whole step, and stores one float at a time: the
 * tail is one more whole step ending at the row's last output, which recomputes and rewrites
 * a few outputs with the same values, and columns past the row's end are not computed. */
static void CT_DW_PAIR(const float *src0, const int64_t *off0, const float *w0, int64_t n0, const float *src1,
                       const int64_t *off1, const float *w1, int64_t n1, int64_t wstride, float bias, float *dst,
                       int64_t first, int64_t count, int64_t out_len)
{
    int64_t j = 0;
    /* columns whose zip starts before the row (column j writes outputs first + 2j and
     * first + 2j + 1): one vector at a time, clipped */
    for (; j < count && first + 2 * j < 0; j += CT_VL)
        CT_DW_NAME(ct_dw_pair_edge, CT_ISA)(src0, off0, w0, n0, src1, off1, w1, n1, wstride, bias, dst, first, count,
                                            out_len, j);
    const int64_t j_start = j;
    j = CT_DW_NAME(ct_dw_pair_interior, CT_ISA)(src0, off0, w0, n0, src1, off1, w1, n1, wstride, bias, dst, first,
                                                count, out_len, j);
    /* columns before j_end have both outputs inside the row */
    const int64_t j_end = (out_len - first) / 2 < count ? (out_len - first) / 2 : count;
    const int64_t j_last = j_end - 2 * CT_VL;
    if (j < j_end && j_last >= j_start) {
        CT_DW_NAME(ct_dw_pair_interior, CT_ISA)(src0, off0, w0, n0, src1, off1, w1, n1, wstride, bias, dst, first,
                                                count, out_len, j_last);
        j = j_end;
    }
    /* the rest, up to the column holding the row's last output: one vector at a time, the
     * zip clipped to the row */
    for (; j < count && first + 2 * j < out_len; j += CT_VL)
        CT_DW_NAME(ct_dw_pair_edge, CT_ISA)(src0, off0, w0, n0, src1, off1, w1, n1, wstride, bias, dst, first, count,
                                            out_len, j);
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

#undef CT_ZIP_LO
#undef CT_ZIP_HI
