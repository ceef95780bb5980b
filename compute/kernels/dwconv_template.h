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

static void CT_DW_ROW(const float *src, const int64_t *off, const float *w, int64_t wstride, int64_t ntaps,
                      float bias, float *dst, int64_t count)
{
    int64_t j = 0;
    for (; j + 2 * CT_VL <= count; j += 2 * CT_VL) {
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
    for (; j < count; j += CT_VL) {
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

static void CT_DW_PAIR(const float *src0, const int64_t *off0, const float *w0, int64_t n0, const float *src1,
                       const int64_t *off1, const float *w1, int64_t n1, int64_t wstride, float bias, float *dst,
                       int64_t first, int64_t count, int64_t out_len)
{
    for (int64_t j = 0; j < count;) {
        if (first + 2 * j < 0 || j + 2 * CT_VL > count || first + 2 * j + 4 * CT_VL > out_len) {
            CT_DW_NAME(ct_dw_pair_edge, CT_ISA)(src0, off0, w0, n0, src1, off1, w1, n1, wstride, bias, dst, first,
                                                count, out_len, j);
            j += CT_VL;
            continue;
        }
        /* interior: two vectors per phase, four independent FMA chains, stored whole */
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
        j += 2 * CT_VL;
    }
}

#undef CT_ZIP_LO
#undef CT_ZIP_HI
