/* igemm.h - the contract of the indirect-GEMM microkernels that compute every stride phase.
 *
 * A call computes an MR x (NV * VL) tile: MR output channels by NV "pixel vectors", each
 * vector being VL consecutive outputs of one row of one stride phase:
 *
 *   out[m][v][j] = init[m][v][j] + sum_{k < K} a[k * MR + m] * b[v][offsets[k] + j]
 *
 * with init = bias[m] (or 0 without bias), or, when acc is set, the partial sums of the
 * previous K chunk: acc[v] + m * acc_cstride holds VL floats (K is split into chunks that
 * stay in cache, and partial sums live in a contiguous scratch tile). Contract:
 *   - a holds K rows of MR floats (packed weights, channel fastest), rows m >= M zero-padded;
 *   - b[v] + offsets[k] + j is readable for every k and j < VL (the padded input has VL
 *     spare columns), even where lanes[v] < VL;
 *   - only m < M and j < lanes[v] are stored, at out[v] + m * out_cstride + j * out_xstride;
 *     vectors with lanes[v] == 0 are computed but not stored.
 * Kernels are named ct_f32_igemm_ukernel_MRxNV__isa. */
#ifndef CT_COMPUTE_KERNELS_IGEMM_H
#define CT_COMPUTE_KERNELS_IGEMM_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden) /* the library's own, as in internal.h */

#define CT_NV_MAX 12      /* largest NV of any kernel */
#define CT_MR_MAX 8       /* largest MR of any kernel */
#define CT_KERNEL_SHAPES 5

typedef struct ct_igemm_args {
    size_t k;                   /* number of (channel, tap) terms */
    const float *a;             /* K x MR packed weights */
    const int64_t *offsets;     /* K element offsets into the padded input */
    const float *b[CT_NV_MAX];  /* per vector: padded input at its first pixel, channel 0 */
    float *out[CT_NV_MAX];      /* per vector: output at its first pixel, channel 0 */
    int lanes[CT_NV_MAX];       /* valid pixels per vector, 0..VL */
    int m;                      /* valid output channels, 1..MR */
    const float *acc[CT_NV_MAX]; /* per vector: partial sums to start from, or acc[0] NULL */
    int64_t acc_cstride;        /* floats between channels in acc */
    int64_t out_cstride;        /* output elements between channels */
    int64_t out_xstride;        /* output elements between consecutive pixels of a vector */
    const float *bias;          /* M biases or NULL; read only when acc[0] is NULL */
    /* Non-NULL: this is the second x-phase of a stride-2 pair, and zip_first the first's tile
     * ([MR][NV][VL], channels zip_cstride apart): out[v] + m * out_cstride receives the two
     * interleaved, the first's element j at 2j and this one's at 2j + 1, for j < lanes[v]. */
    const float *zip_first;
    int64_t zip_cstride;
    int prefetch;               /* 1: the input panel is cold, prefetch it ahead */
    int prefetch_out;           /* 1: out is the output tensor: fetch its lines before the K loop */
    /* 1: whole vectors (and zipped pairs) at vector-aligned out addresses are stored with
     * non-temporal stores, which skip reading the lines first; the caller fences
     * (stream_fence) before the output is read. */
    int stream_out;
    /* 0: all K terms. Otherwise K is channels of `taps` terms each, and only each channel's
     * terms tap0 .. tap0 + tap_count - 1 are summed: a tile whose rows lie in the border
     * skips the taps that would read only zero padding. */
    size_t taps, tap0, tap_count;
} ct_igemm_args;

typedef void (*ct_igemm_ukernel)(const ct_igemm_args *args);

/* The kernels of one ISA, all with the same VL, in descending MR. */
typedef struct ct_isa_config {
    const char *name;                       /* "avx512", "avx512_ymm", "avx2", "generic" */
    int vl;                                 /* pixels per vector */
    int mr[CT_KERNEL_SHAPES];
    int nv[CT_KERNEL_SHAPES];
    /* How the plan chooses a shape: the relative FMA rate of each shape's kernel, measured on
     * this ISA, and the order in which shapes are tried (on a tie the earlier one wins). */
    double speed[CT_KERNEL_SHAPES];
    int order[CT_KERNEL_SHAPES];
    /* The config with 8-float vectors and the same tile shapes (so the same packed weights),
     * for runs whose phase rows are at most 8 outputs wide, which 16-float vectors would
     * leave half empty; NULL when vl is already 8. */
    const struct ct_isa_config *rows8;
    /* ukernel[s][n - 1]: shape s (MR = mr[s]) with n <= nv[s] vectors; n = nv[s] is the
     * shape's own kernel, smaller n serve a phase's last, narrower tile */
    ct_igemm_ukernel ukernel[CT_KERNEL_SHAPES][CT_NV_MAX];
    const char *algorithm[CT_KERNEL_SHAPES]; /* "phase_igemm_4x3__avx2": the plan's name */
    const char *col_algorithm[CT_KERNEL_SHAPES]; /* "gemm_col2im_4x3__avx2" (algo/gemm_col2im.c) */
    /* col2im's row operations (algo/gemm_col2im.c): dst[i] += src[i] for i < n; and the n outputs
     * dst[2j] = even[j], dst[2j + 1] = odd[j] of a stride-2 row. */
    void (*add_row)(float *restrict dst, const float *restrict src, int64_t n);
    /* rows rows of n floats, dst[r * dstride + i] = src[r * sstride + i] (run/pad.c). */
    void (*copy_rows)(float *restrict dst, int64_t dstride, const float *restrict src, int64_t sstride, int64_t n,
                      int64_t rows);
    void (*zip_row)(float *restrict dst, const float *restrict even, const float *restrict odd, int64_t n);
    /* The depthwise path (dwconv_template.h): a phase's rows, and the two x-phases of
     * stride-2 rows zipped into output order (stream: line-aligned steps bypass the cache). */
    void (*dw_row)(const float *src, const int64_t *off, const float *w, int64_t wstride, int64_t ntaps,
                   float bias, float *dst, int64_t count, int64_t rows, int64_t sstride, int64_t dstride);
    void (*dw_pair)(const float *src0, const int64_t *off0, const float *w0, int64_t n0, const float *src1,
                    const int64_t *off1, const float *w1, int64_t n1, int64_t wstride, float bias, float *dst,
                    int64_t first, int64_t count, int64_t out_len, int64_t rows, int64_t sstride,
                    int64_t dstride, int stream);
    /* The four phases of a stride-2 plane's rows at once (dwconv_template.h, CT_DW_QUAD). */
    void (*dw_quad)(const float *src, int64_t sstride, const float *w, float bias, float *dst, int64_t dstride,
                    int64_t count, int64_t rows, int stream);
    /* dst[i] = src[i] for i < n, the aligned part with stores that bypass the cache: for
     * outputs too large to stay in cache, which then cost no read-for-ownership. The
     * stores are weakly ordered: a thread calls stream_fence before others may read dst. */
    void (*stream_copy)(float *dst, const float *src, int64_t n);
    void (*stream_fence)(void);
    /* n 16-bit weights (a plan's packed_half: float16, or bfloat16 when bf16) widened to
     * floats, just before the kernels read them (algo/phase_igemm.c). */
    void (*widen_half)(const uint16_t *restrict src, float *restrict dst, int64_t n, int bf16);
    const char *dw_algorithm;
} ct_isa_config;

extern const ct_isa_config ct__isa_generic;
extern const ct_isa_config ct__isa_avx2;
extern const ct_isa_config ct__isa_avx512;
extern const ct_isa_config ct__isa_avx512_ymm;

/* The config for this CPU, chosen once. CT_FORCE_ISA=generic|avx2|avx512|avx512_ymm in the environment
 * overrides the choice (tests use it to cover every path); an ISA the CPU lacks is ignored. */
const ct_isa_config *ct__isa_config(void);

/* Test hook: plans created after this call use the named ISA (NULL: back to the CPU's
 * choice). Returns 0 when the CPU lacks it. Not thread-safe. */
int ct__force_isa(const char *name);

/* Test hook: plans created after this call use config (NULL: back to the CPU's choice); the
 * tests build the kernel template with 16-float vectors for plain x86-64 this way, to run
 * the AVX-512 tiling on CPUs without AVX-512. Not thread-safe. */
void ct__force_isa_config(const ct_isa_config *config);

/* The last-level cache's size in bytes: sysconf's, at most 32 MiB (also when unknown). */
int64_t ct__llc_bytes(void);

/* Test hook: ct__llc_bytes returns bytes from now on (0: the real size again), so tests can
 * take the streaming paths with small tensors. Not thread-safe. */
void ct__force_llc_bytes(int64_t bytes);

/* One core's L2 in bytes: sysconf's, 1 MiB when unknown. */
int64_t ct__l2_bytes(void);

/* Test hook: ct__l2_bytes returns bytes from now on (0: the real size again). Not
 * thread-safe. */
void ct__force_l2_bytes(int64_t bytes);

#pragma GCC visibility pop

#endif /* CT_COMPUTE_KERNELS_IGEMM_H */
