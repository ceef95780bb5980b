/* dwconv_template.h - the row kernels of the depthwise path (one input channel per group),
 * written with GCC vector extensions; included once per ISA by igemm_isa.h, which defines
 * ct_vf, CT_VL and CT_SPLAT.
 *
 * ct_dw_row: dst[j] = bias + sum_t w[t * wstride] * src[off[t] + j] for j < count. Every
 * src[off[t] + j] with j < round_up(count, VL) must be readable (the padded input has VL
 * spare columns).
 * ct_dw_zip2: dst[2j] = a[j], dst[2j + 1] = b[j] for j < count, the two x-phases of a
 * stride-2 row merged into output order with vector shuffles instead of scalar stores. */

#define CT_DW_GLUE(base, isa) base##__##isa
#define CT_DW_NAME(base, isa) CT_DW_GLUE(base, isa)
#define CT_DW_ROW CT_DW_NAME(ct_f32_dw_row, CT_ISA)
#define CT_DW_ZIP2 CT_DW_NAME(ct_f32_dw_zip2, CT_ISA)

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

static void CT_DW_ZIP2(const float *a, const float *b, float *dst, int64_t count)
{
    typedef int ct_vi __attribute__((vector_size(CT_VL * sizeof(int))));
#if CT_VL == 8
    const ct_vi lo = {0, 8, 1, 9, 2, 10, 3, 11}, hi = {4, 12, 5, 13, 6, 14, 7, 15};
#else
    const ct_vi lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
    const ct_vi hi = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
#endif
    int64_t j = 0;
    for (; j + CT_VL <= count; j += CT_VL) {
        const ct_vf va = *(const ct_vf_unaligned *)(a + j), vb = *(const ct_vf_unaligned *)(b + j);
        *(ct_vf_unaligned *)(dst + 2 * j) = __builtin_shuffle(va, vb, lo);
        *(ct_vf_unaligned *)(dst + 2 * j + CT_VL) = __builtin_shuffle(va, vb, hi);
    }
    for (; j < count; j++) {
        dst[2 * j] = a[j];
        dst[2 * j + 1] = b[j];
    }
}
