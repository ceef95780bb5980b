/* igemm_isa.h - instantiates the microkernel template for every tile shape of one ISA and
 * defines its ct_isa_config. The including file sets CT_VL (floats per vector), CT_ISA (an
 * identifier: generic, avx2, avx512), CT_ISA_CONFIG (the config's name), and CT_WIDE to 1
 * when the ISA has 32 vector registers (AVX-512, at either width), which take the wide
 * shapes; a 16-float config also names its 8-float companion in CT_ISA_ROWS8 (igemm.h).
 *   - 16 registers (AVX2): MR * NV = 12 accumulators, with room for the NV input vectors
 *     and one broadcast weight: 6x2, 4x3, 3x4, 2x6, 1x12.
 *   - 32 registers: 24 accumulators: 8x3, 6x4, 3x8, 2x12, and 1x12: twice the FMAs per
 *     loaded vector and broadcast weight of the 12-accumulator shapes.
 * Each shape also has its narrower MR x 1 .. MR x (NV - 1) instances for a phase's last
 * tile. */
#include <assert.h>
#include <string.h>

#include "igemm.h"
#include "internal.h"
#ifdef __F16C__
#include <immintrin.h>
#endif

#ifndef CT_WIDE
#define CT_WIDE 0
#endif

typedef float ct_vf __attribute__((vector_size(CT_VL * sizeof(float))));
typedef float ct_vf_unaligned __attribute__((vector_size(CT_VL * sizeof(float)), aligned(4), may_alias));

/* A vector with x in every lane: GCC loads it with one broadcast from memory, where
 * (ct_vf){0} + x would cost an add (0 + x is not an identity for x = -0.0). */
#if CT_VL == 8
#define CT_SPLAT(x) ((ct_vf){(x), (x), (x), (x), (x), (x), (x), (x)})
#elif CT_VL == 16
#define CT_SPLAT(x) ((ct_vf){(x), (x), (x), (x), (x), (x), (x), (x), (x), (x), (x), (x), (x), (x), (x), (x)})
#else
#error "CT_SPLAT: unsupported CT_VL"
#endif

/* A store that bypasses the cache (the destination must be vector-aligned); a plain store
 * where the ISA has none. Followed by CT_STREAM_FENCE before other threads may read. */
#if CT_VL == 16 && defined(__AVX512F__)
#include <immintrin.h>
#define CT_STREAM(p, v) _mm512_stream_ps((p), (__m512)(v))
#define CT_STREAM_FENCE() _mm_sfence()
#elif CT_VL == 8 && defined(__AVX__)
#include <immintrin.h>
#define CT_STREAM(p, v) _mm256_stream_ps((p), (__m256)(v))
#define CT_STREAM_FENCE() _mm_sfence()
#else
#define CT_STREAM(p, v) (*(ct_vf *)(p) = (v))
#define CT_STREAM_FENCE() ((void)0)
#endif

/* The first and second halves of a and b interleaved (GCC 12 and clang both have
 * __builtin_shufflevector; GCC's __builtin_shuffle is GCC-only). */
#if CT_VL == 8
#define CT_ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define CT_ZIP_HI(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#else
#define CT_ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define CT_ZIP_HI(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#endif

#define CT_ZIP_GLUE_(base, isa) base##__##isa
#define CT_ZIP_GLUE(base, isa) CT_ZIP_GLUE_(base, isa)
#define CT_ZIP_STORE CT_ZIP_GLUE(ct_f32_zip_store, CT_ISA)

/* The zip and store of one vector of each phase: a and b hold VL floats, the first n valid,
 * zipped to dst[at], dst[at + 1], ..; only the part inside [0, out_len) is stored. */
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

#define CT_ADD_ROW CT_ZIP_GLUE(ct_f32_add_row, CT_ISA)
#define CT_ZIP_ROW CT_ZIP_GLUE(ct_f32_zip_row, CT_ISA)

/* dst[i] += src[i] for i < n (algo/gemm_col2im.c). */
static void CT_ADD_ROW(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i = 0;
    for (; i + CT_VL <= n; i += CT_VL)
        *(ct_vf_unaligned *)(dst + i) += *(const ct_vf_unaligned *)(src + i);
    for (; i < n; i++)
        dst[i] += src[i];
}

#define CT_COPY_ROWS CT_ZIP_GLUE(ct_f32_copy_rows, CT_ISA)

/* rows rows of n floats, sstride and dstride apart (the padded copies' input rows): inline
 * vectors, the last one overlapping the one before it, instead of a memcpy call per row,
 * which costs more than the copy for rows of a few hundred bytes. */
static void CT_COPY_ROWS(float *restrict dst, int64_t dstride, const float *restrict src, int64_t sstride, int64_t n,
                         int64_t rows)
{
    for (int64_t r = 0; r < rows; r++, dst += dstride, src += sstride) {
        if (n < CT_VL) {
            memcpy(dst, src, sizeof(float) * (size_t)n);
            continue;
        }
        for (int64_t i = 0;; i += CT_VL) {
            if (i + CT_VL > n)
                i = n - CT_VL;
            *(ct_vf_unaligned *)(dst + i) = *(const ct_vf_unaligned *)(src + i);
            if (i + CT_VL >= n)
                break;
        }
    }
}

/* dst[2j] = even[j], dst[2j + 1] = odd[j], for the n outputs dst[0 .. n) (algo/gemm_col2im.c). */
static void CT_ZIP_ROW(float *restrict dst, const float *restrict even, const float *restrict odd, int64_t n)
{
    int64_t j = 0;
    for (; 2 * (j + CT_VL) <= n; j += CT_VL) {
        const ct_vf a = *(const ct_vf_unaligned *)(even + j), b = *(const ct_vf_unaligned *)(odd + j);
        *(ct_vf_unaligned *)(dst + 2 * j) = CT_ZIP_LO(a, b);
        *(ct_vf_unaligned *)(dst + 2 * j + CT_VL) = CT_ZIP_HI(a, b);
    }
    for (; 2 * j < n; j++) {
        dst[2 * j] = even[j];
        if (2 * j + 1 < n)
            dst[2 * j + 1] = odd[j];
    }
}

#ifndef CT_PREFETCH_DISTANCE
#define CT_PREFETCH_DISTANCE 16 /* K terms */
#endif
#define CT_PREFETCH_STEP (64 / (CT_VL * (int)sizeof(float)) > 0 ? 64 / (CT_VL * (int)sizeof(float)) : 1)

#define CT_PASTE(a, b, c, d, e) a##b##x##c##d##e
#define CT_KERNEL_NAME(mr, nv, isa) CT_PASTE(ct_f32_igemm_ukernel_, mr, nv, __, isa)
#define CT_K(mr, nv) CT_KERNEL_NAME(mr, nv, CT_ISA)
#define CT_STR_(x) #x
#define CT_STR(x) CT_STR_(x)

/* The tile shapes of each register file, tallest first, with their relative speeds (the
 * tile chooser's weights, plan.c), in the one list every table below is made from:
 *   - 32 registers: measured with 24 output channels (which every shape divides): 3x8, 2x12
 *     and 1x12 load a vector per MR FMAs and run near half speed, so they are taken only
 *     where few channels would leave a taller tile mostly padding;
 *   - 16 registers (AVX2): 1x12 needs more pointer registers than x86-64 has and runs at
 *     half speed, so a 6x2 tile with one row of padding beats 1x12 for 5 channels.
 * CT_SHAPE_ORDER is the order they are tried in; on a tie the earlier wins (AVX2: 4x3). */
#if CT_WIDE
#define CT_SHAPES(X) X(8, 3, 1.0) X(6, 4, 0.98) X(3, 8, 0.55) X(2, 12, 0.56) X(1, 12, 0.51)
#define CT_SHAPE_ORDER {0, 1, 2, 3, 4}
#else
#define CT_SHAPES(X) X(6, 2, 1.0) X(4, 3, 1.0) X(3, 4, 1.0) X(2, 6, 0.85) X(1, 12, 0.45)
#define CT_SHAPE_ORDER {1, 0, 2, 3, 4}
#endif

/* Every shape MR x NV is instantiated with its narrower MR x 1 .. MR x (NV - 1) kernels,
 * which a phase's last tile takes when fewer than NV vectors are left (rather than computing
 * vectors that are never stored). The preprocessor cannot #include from a macro, so the
 * list is walked by hand here; a shape missing from it fails to compile at its table row. */
#if CT_WIDE
#define CT_MR 8
#define CT_SHAPE_NV_MAX 3
#include "igemm_shape.h"
#define CT_MR 6
#define CT_SHAPE_NV_MAX 4
#include "igemm_shape.h"
#define CT_MR 3
#define CT_SHAPE_NV_MAX 8
#include "igemm_shape.h"
#define CT_MR 2
#define CT_SHAPE_NV_MAX 12
#include "igemm_shape.h"
#else
#define CT_MR 6
#define CT_SHAPE_NV_MAX 2
#include "igemm_shape.h"
#define CT_MR 4
#define CT_SHAPE_NV_MAX 3
#include "igemm_shape.h"
#define CT_MR 3
#define CT_SHAPE_NV_MAX 4
#include "igemm_shape.h"
#define CT_MR 2
#define CT_SHAPE_NV_MAX 6
#include "igemm_shape.h"
#endif
#define CT_MR 1
#define CT_SHAPE_NV_MAX 12
#include "igemm_shape.h"

/* The kernels CT_K(mr, 1) .. CT_K(mr, n), for a table row. */
#define CT_UPTO_1(m) CT_K(m, 1)
#define CT_UPTO_2(m) CT_UPTO_1(m), CT_K(m, 2)
#define CT_UPTO_3(m) CT_UPTO_2(m), CT_K(m, 3)
#define CT_UPTO_4(m) CT_UPTO_3(m), CT_K(m, 4)
#define CT_UPTO_5(m) CT_UPTO_4(m), CT_K(m, 5)
#define CT_UPTO_6(m) CT_UPTO_5(m), CT_K(m, 6)
#define CT_UPTO_7(m) CT_UPTO_6(m), CT_K(m, 7)
#define CT_UPTO_8(m) CT_UPTO_7(m), CT_K(m, 8)
#define CT_UPTO_9(m) CT_UPTO_8(m), CT_K(m, 9)
#define CT_UPTO_10(m) CT_UPTO_9(m), CT_K(m, 10)
#define CT_UPTO_11(m) CT_UPTO_10(m), CT_K(m, 11)
#define CT_UPTO_12(m) CT_UPTO_11(m), CT_K(m, 12)

#define CT_SHAPE_MR(m, n, speed) m,
#define CT_SHAPE_NV(m, n, speed) n,
#define CT_SHAPE_SPEED(m, n, speed) speed,
#define CT_SHAPE_KERNELS(m, n, speed) {CT_UPTO_##n(m)},
#define CT_SHAPE_PHASE_NAME(m, n, speed) "phase_igemm_" #m "x" #n "__" CT_STR(CT_ISA),
#define CT_SHAPE_COL_NAME(m, n, speed) "gemm_col2im_" #m "x" #n "__" CT_STR(CT_ISA),

#include "dwconv_template.h"

#define CT_WIDEN_HALF CT_DW_NAME(ct_widen_half, CT_ISA)

/* See ct_isa_config.widen_half. With F16C (every AVX2 and AVX-512 CPU has it) eight float16
 * values widen per instruction; bfloat16 is a shift, which the compiler vectorizes. */
static void CT_WIDEN_HALF(const uint16_t *restrict src, float *restrict dst, int64_t n, int bf16)
{
    int64_t i = 0;
    if (bf16) {
        for (; i < n; i++)
            dst[i] = ct__bf16_to_float(src[i]);
        return;
    }
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
#endif
    for (; i < n; i++)
        dst[i] = ct__half_to_float(src[i]);
}

#if CT_VL == 16
extern const ct_isa_config CT_ISA_ROWS8;
#endif

const ct_isa_config CT_ISA_CONFIG = {
    .name = CT_STR(CT_ISA),
    .vl = CT_VL,
    .mr = {CT_SHAPES(CT_SHAPE_MR)},
    .nv = {CT_SHAPES(CT_SHAPE_NV)},
    .ukernel = {CT_SHAPES(CT_SHAPE_KERNELS)},
    .speed = {CT_SHAPES(CT_SHAPE_SPEED)},
    .order = CT_SHAPE_ORDER,
    .algorithm = {CT_SHAPES(CT_SHAPE_PHASE_NAME)},
    .col_algorithm = {CT_SHAPES(CT_SHAPE_COL_NAME)},
#if CT_VL == 16
    .rows8 = &CT_ISA_ROWS8,
#endif
    .add_row = CT_ADD_ROW,
    .copy_rows = CT_COPY_ROWS,
    .zip_row = CT_ZIP_ROW,
    .dw_row = CT_DW_ROW,
    .dw_pair = CT_DW_PAIR,
    .dw_quad = CT_DW_QUAD,
    .stream_copy = CT_STREAM_COPY,
    .stream_fence = CT_STREAM_FENCE_FN,
    .widen_half = CT_WIDEN_HALF,
    .dw_algorithm = "phase_depthwise__" CT_STR(CT_ISA),
};
