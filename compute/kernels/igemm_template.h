/* igemm_template.h - the body of one indirect-GEMM microkernel (contract in igemm.h),
 * written with GCC vector extensions so that one source serves every vector width.
 * Included once per (MR, NV) by igemm_isa.h with CT_MR, CT_NV, CT_VL and CT_KNAME set;
 * the including file is compiled with its ISA's flags and -ffp-contract=fast, so the
 * multiply-adds become FMAs. */

/* One K term: NV input vectors times MR broadcast weights (vector * scalar broadcasts
 * straight from memory).
 * Tiles with at most 3 vectors keep the vectors in registers and stream the weights (12
 * accumulators + 3 of AVX2's 16 registers, 24 + 3 of AVX-512's 32); wider tiles (NV > 3)
 * keep the MR weights in registers and stream the vectors, one at a time, or an accumulator
 * would spill (3x4: 12 + 3 + 1; 6x4: 24 + 6 + 1). */
#undef CT_K_STEP
#if CT_NV <= 3
#define CT_K_STEP()                                                            \
    do {                                                                       \
        const int64_t off = offsets[k];                                        \
        ct_vf bv[CT_NV];                                                       \
        _Pragma("GCC unroll 16") for (int v = 0; v < CT_NV; v++)               \
            bv[v] = *(const ct_vf_unaligned *)(b[v] + off);                    \
        _Pragma("GCC unroll 16") for (int m = 0; m < CT_MR; m++)               \
        {                                                                      \
            const float am = a[k * CT_MR + m];                                 \
            _Pragma("GCC unroll 16") for (int v = 0; v < CT_NV; v++)           \
                acc[m][v] += bv[v] * am;                                       \
        }                                                                      \
    } while (0)
#else
#define CT_K_STEP()                                                            \
    do {                                                                       \
        const int64_t off = offsets[k];                                        \
        ct_vf av[CT_MR];                                                       \
        _Pragma("GCC unroll 16") for (int m = 0; m < CT_MR; m++)               \
            av[m] = CT_SPLAT(a[k * CT_MR + m]);                                 \
        _Pragma("GCC unroll 16") for (int v = 0; v < CT_NV; v++)               \
        {                                                                      \
            const ct_vf bv = *(const ct_vf_unaligned *)(b[v] + off);           \
            _Pragma("GCC unroll 16") for (int m = 0; m < CT_MR; m++)           \
                acc[m][v] += bv * av[m];                                       \
        }                                                                      \
    } while (0)
#endif

#undef CT_KSTORE
#define CT_KSTORE CT_KPASTE(CT_KNAME, _store_tile)
#ifndef CT_KPASTE
#define CT_KPASTE2(a, b) a##b
#define CT_KPASTE(a, b) CT_KPASTE2(a, b)
#endif
/* The stores of a strided or partial tile, from its copy in memory. */
static inline void CT_KSTORE(const ct_igemm_args *restrict args, float tile[CT_MR][CT_NV][CT_VL], int m_valid,
                             int whole)
{
    if (whole) { /* strided rows, unrolled */
        const int64_t xs = args->out_xstride;
        for (int m = 0; m < CT_MR; m++)
            for (int v = 0; v < CT_NV; v++) {
                float *dst = args->out[v] + m * args->out_cstride;
#pragma GCC unroll 16
                for (int j = 0; j < CT_VL; j++)
                    dst[j * xs] = tile[m][v][j];
            }
        return;
    }
    for (int v = 0; v < CT_NV; v++) {
        const int lanes = args->lanes[v];
        for (int m = 0; m < m_valid && lanes > 0; m++) {
            float *dst = args->out[v] + m * args->out_cstride;
            if (args->zip_first) {
                const float *first = args->zip_first + m * args->zip_cstride + v * CT_VL;
                CT_ZIP_STORE(first, tile[m][v], dst, 0, lanes, 2 * (int64_t)lanes);
            } else {
                const int64_t xs = args->out_xstride;
                for (int j = 0; j < lanes; j++)
                    dst[j * xs] = tile[m][v][j];
            }
        }
    }
}

void CT_KNAME(const ct_igemm_args *restrict args)
{
    assert(args->m >= 1 && args->m <= CT_MR);
    const int m_valid = args->m;
    ct_vf acc[CT_MR][CT_NV];

    if (args->acc[0]) {
#pragma GCC unroll 16
        for (int m = 0; m < CT_MR; m++)
#pragma GCC unroll 16
            for (int v = 0; v < CT_NV; v++)
                acc[m][v] = *(const ct_vf_unaligned *)(args->acc[v] + m * args->acc_cstride);
    } else {
#pragma GCC unroll 16
        for (int m = 0; m < CT_MR; m++) {
            float bias = (args->bias && m < m_valid) ? args->bias[m] : 0.0f;
            for (int v = 0; v < CT_NV; v++)
                acc[m][v] = (ct_vf){0} + bias;
        }
    }

    if (args->prefetch_out) {
        /* A tile writes MR channel planes, each its own stream: too many for the hardware
         * prefetchers, so the lines would be fetched for ownership only when the stores
         * come, and the stores would wait. Requested now, the fetches overlap the K loop. */
#pragma GCC unroll 16
        for (int v = 0; v < CT_NV; v++) {
            const int64_t last = (args->lanes[v] > 0 ? args->lanes[v] - 1 : 0) * args->out_xstride;
            for (int m = 0; m < m_valid; m++) {
                __builtin_prefetch(args->out[v] + m * args->out_cstride, 1, 3);
                __builtin_prefetch(args->out[v] + m * args->out_cstride + last, 1, 3);
            }
        }
    }
    const float *b[CT_NV];
#pragma GCC unroll 16
    for (int v = 0; v < CT_NV; v++)
        b[v] = args->b[v];
    const float *restrict a = args->a;
    const int64_t *restrict offsets = args->offsets;
    /* The K terms jump between channel planes, which hardware prefetchers do not follow.
     * When the caller says the input panel is cold (first channel block of a tile), fetch
     * it a few terms ahead, one request per 64-byte line; warm panels skip the requests. */
    size_t k = 0;
    if (args->taps) { /* a border tile: each channel's taps in range, no prefetch (rare) */
        for (size_t base = 0; base < args->k; base += args->taps)
            for (k = base + args->tap0; k < base + args->tap0 + args->tap_count; k++)
                CT_K_STEP();
        k = args->k;
    } else if (args->prefetch) {
        const size_t kpf = args->k > CT_PREFETCH_DISTANCE ? args->k - CT_PREFETCH_DISTANCE : 0;
        for (; k < kpf; k++) {
            const int64_t ahead = offsets[k + CT_PREFETCH_DISTANCE];
#pragma GCC unroll 16
            for (int v = 0; v < CT_NV; v += CT_PREFETCH_STEP)
                __builtin_prefetch(b[v] + ahead);
            CT_K_STEP();
        }
    }
    for (; k < args->k; k++) {
        CT_K_STEP();
    }

    /* Every channel and vector whole: stores straight from the registers, fully unrolled
     * (an acc[m][v] indexed by a loop bound only known at run time would live in memory,
     * and the K loop's accumulators would be spilled to reach it). */
    int whole = m_valid == CT_MR;
#pragma GCC unroll 16
    for (int v = 0; v < CT_NV; v++)
        whole &= args->lanes[v] == CT_VL;
    const int stream = args->stream_out;
    if (whole && args->zip_first) { /* whole vector pairs as two stores, no scratch tile for this phase */
#pragma GCC unroll 16
        for (int m = 0; m < CT_MR; m++)
#pragma GCC unroll 16
            for (int v = 0; v < CT_NV; v++) {
                const ct_vf first = *(const ct_vf_unaligned *)(args->zip_first + m * args->zip_cstride + v * CT_VL);
                float *dst = args->out[v] + m * args->out_cstride;
                if (stream && (uintptr_t)dst % sizeof(ct_vf) == 0) {
                    CT_STREAM(dst, CT_ZIP_LO(first, acc[m][v]));
                    CT_STREAM(dst + CT_VL, CT_ZIP_HI(first, acc[m][v]));
                } else {
                    *(ct_vf_unaligned *)dst = CT_ZIP_LO(first, acc[m][v]);
                    *(ct_vf_unaligned *)(dst + CT_VL) = CT_ZIP_HI(first, acc[m][v]);
                }
            }
        return;
    }
    if (whole && args->out_xstride == 1) {
#pragma GCC unroll 16
        for (int m = 0; m < CT_MR; m++)
#pragma GCC unroll 16
            for (int v = 0; v < CT_NV; v++) {
                float *dst = args->out[v] + m * args->out_cstride;
                if (stream && (uintptr_t)dst % sizeof(ct_vf) == 0)
                    CT_STREAM(dst, acc[m][v]);
                else
                    *(ct_vf_unaligned *)dst = acc[m][v];
            }
        return;
    }
    /* Strided rows and partial tiles: through a copy of the tile (constant indices keep the
     * accumulators in registers up to here; a lane is a load from the copy, where from a
     * register it would take shuffles). */
    float tile[CT_MR][CT_NV][CT_VL];
#pragma GCC unroll 16
    for (int m = 0; m < CT_MR; m++)
#pragma GCC unroll 16
        for (int v = 0; v < CT_NV; v++)
            *(ct_vf_unaligned *)tile[m][v] = acc[m][v];
    CT_KSTORE(args, tile, m_valid, whole);
}
