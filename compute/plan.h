/* plan.h - the plan and the per-run layout, shared by the files of the fast path inside
 * compute/: plan.c builds a plan (select.c chooses its algorithm), run/ lays a run out and
 * schedules it, algo/ holds the algorithms (phase igemm, phase depthwise, GEMM + col2im).
 * Not installed; names outside the ct_ prefix stay file-local elsewhere.
 *
 * Output position o (per dim) receives input i through tap k when o = i*s - p + k*d. Split
 * the outputs by their phase r = (o + p) mod s: outputs o = s*q + r - p of one phase receive
 * exactly the taps k with k*d = r (mod s), from input i = q - t_k where t_k = (k*d - r)/s.
 * So each phase is an ordinary correlation of the input with a sub-kernel, every output is
 * written once by one thread (no atomics, no scatter), and consecutive outputs of a phase
 * row read consecutive inputs: the input stays in its NCHW layout.
 *
 * Internally every geometry is 3-d: a 1-d or 2-d layer gets leading unit dims. */
#ifndef CT_COMPUTE_PLAN_H
#define CT_COMPUTE_PLAN_H

#include "internal.h"
#include "kernels/igemm.h"

#pragma GCC visibility push(hidden) /* the library's own, as in internal.h */

/* The workspace a plan keeps for its next run (workspace.c), and the layout it is kept for:
 * a run_ctx's padding geometry (run/run.c's workspace_key). */
#define CT_WORKSPACE_KEY 20
typedef struct ct_workspace ct_workspace;
ct_workspace *ct__workspace_create(void);
void ct__workspace_destroy(ct_workspace *ws);
/* A workspace of at least `bytes` for a run of this layout: the kept one when no other run
 * holds it (*kept = 1; *zeroed_slots of its slots already have this layout's zero borders),
 * else a fresh one (*kept = 0, *zeroed_slots = 0). NULL when out of memory. */
float *ct__workspace_take(ct_workspace *ws, int64_t bytes, const int64_t *key, int64_t *zeroed_slots, int *kept);
/* Ends a run's use of mem: kept, it stays with the plan, its first zeroed_slots slots padded;
 * otherwise freed. */
void ct__workspace_give(ct_workspace *ws, float *mem, int kept, int64_t zeroed_slots);

typedef struct ct_phase {
    int64_t residue[3];  /* r per dim */
    int64_t ntaps;       /* sub-kernel taps in this phase, >= 1 */
    int64_t a_offset;    /* floats from the start of a group's packed weights */
    /* ntaps x 3: t per dim (input index = q - t). The taps are every combination of each
     * dim's taps, in z, y, x order, and t grows with k: the first tap has each dim's least t,
     * the last its greatest. */
    int64_t *tap_t;
    int64_t *tap_k;      /* ntaps: flat kernel index of the tap */
} ct_phase;

struct ct_plan {
    ct_params params;
    ct_shape weight_shape;
    int64_t in_channels, out_channels, cin_g, cout_g, groups;
    int64_t kernel[3], stride[3], dilation[3]; /* normalized to 3-d */
    float *bias;                  /* out_channels floats, or NULL */
    int64_t nphases;
    ct_phase *phases;
    int needs_bias_fill;          /* some outputs receive no tap: fill with bias first */
    const ct_isa_config *isa;
    int shape;                    /* index of the chosen kernel in isa */
    int mr, nv;
    int64_t cblocks;              /* ceil(cout_g / mr) */
    int64_t group_stride;         /* packed floats per group */
    float *packed;                /* NULL when the plan keeps packed_half instead */
    uint16_t *packed_half;        /* the same values as float16 or bfloat16 (half) */
    ct_weight_storage half;       /* CT_WEIGHTS_FLOAT32 unless packed_half is set */
    int64_t panel_floats;         /* with packed_half: the most floats a run widens at once */
    const char *algorithm;        /* static string */
    float *weights;               /* a copy, kept only when taps reach very far (select.c) */
    ct_workspace *workspace;      /* kept between runs: mutable state behind a const plan */
    int depthwise;                /* one input channel per group: the row-by-row path */
    /* Few output channels per group (an image generator's last layer, 64 -> 3): the GEMM +
     * col2im path (algo/gemm_col2im.c) computes every (channel, tap) row at once, col_rows = cout_g x
     * taps of them, from the unpadded input. col_packed is [group][block][cin_g][col_mr]. */
    int col;
    int col_shape, col_mr, col_nv;
    int64_t col_rows, col_mblocks;
    float *col_packed;
    int64_t weight_elems;
};

/* Per-run layout of one phase: which outputs it owns and how its pixel vectors tile. */
typedef struct run_phase {
    int64_t qmin[3], count[3];  /* q range per dim; count <= 0: phase has no outputs */
    int64_t rows;               /* count[0] * count[1] */
    int64_t vpr;                /* vectors per row */
    int64_t tiles;              /* ceil(rows * vpr / NV) */
    int64_t tile_blocks;        /* ceil(tiles / tiles_per_block) */
    int64_t *offsets;           /* cin_g * ntaps offsets into the padded input */
    int64_t ci_chunk;           /* input channels per K chunk */
    /* Stride-2 x-phases whose outputs interleave (this phase's q at output o, the partner's at
     * o + 1, same rows and widths): the first computes both and zips them into the output
     * with vector stores; zip_second marks the partner, which run_item then skips. */
    int64_t zip_with;           /* the partner phase, or -1 */
    int zip_second;
} run_phase;

/* Per image of a run: how far its padding and its items have got (updated atomically). */
typedef struct image_sync {
    int64_t planes_claimed, planes_done, items_done;
    int64_t items_taken; /* an owned image's items, taken by its owner and then by helpers */
} image_sync;

typedef struct run_ctx {
    const ct_plan *plan;
    const ct_isa_config *isa;          /* plan->isa, or 8-float vectors for narrow rows */
    ct_geometry g;
    int64_t in[3], out[3], pad[3];     /* 3-d normalized */
    int64_t lo[3];                     /* the farthest tap's reach, per dim (max t) */
    int64_t org[3], ext[3];            /* padded input: input index of its first row/col, extent */
    int64_t plane;                     /* padded plane size, ext[0]*ext[1]*ext[2] */
    /* A long 1-d row is cut into segments of seg_w columns (0: not cut), each stored with the
     * columns its vectors read past its end, as the rows of a 2-d buffer (ext[1] segments of
     * ext[2] columns): the channels of one tile's K loop then lie a short row apart instead
     * of a whole row, which keeps a chunk's panel within a few pages. */
    int64_t seg_w;
    /* Phase rows narrower than a vector (a DCGAN's 8-wide first layers) would leave most
     * lanes idle. With flat set, each phase's pixels are numbered row-major within a z
     * slab, rows flat_w apart (flat_w = the widest phase row; a narrower phase leaves its
     * last columns unstored), and a vector takes VL consecutive pixels across rows. Every
     * input plane is then stored once per x shift s in [shift_min, shift_min + shifts):
     * copy s holds input column j + s at column j, rows flat_w floats apart with no border
     * columns, so a vector's pixels read consecutive floats at every tap. The layout is
     * [n][shift][c][z][y][flat_w]; the tiles go to the output through flat_store. */
    int flat;
    int64_t flat_w, shift_min, shifts;
    int64_t copy_stride;               /* C_in * plane: floats between shift copies */
    /* The padded input is laid out [n][z][y][c][x]: for one output row the K loop walks
     * the channels at a constant stride through one contiguous block (a pattern stride
     * prefetchers follow), and neighbouring tiles reuse that block. */
    int64_t row_stride;                /* C_in * ext[2]: one padded row of every channel */
    int64_t image_stride;              /* ext[0] * ext[1] * row_stride */
    int64_t out_plane;
    int64_t tensor_bytes;              /* the input's and the output's bytes */
    /* Padded images live in a ring of slots, few enough that a padded image is read back
     * from cache, not memory. Image n takes slot n % slots once every item of image
     * n - slots has finished; the threads pad its planes together, on first need or ahead
     * of it, and take items from one counter with no barrier between images.
     * The first owned_images images are not shared: thread t pads and computes images t,
     * t + threads, ... alone (slots == threads), then helps with what the others have left:
     * items of their padded images, and whole images of theirs whose slot is free; the
     * counter starts after them. */
    float *xpad;                       /* slots * C_in padded planes */
    int64_t slots;
    int64_t owned_images;
    int64_t zeroed_slots;              /* slots whose borders a previous run of the plan zeroed */
    int64_t pad_chunk;                 /* planes a thread claims at a time */
    struct image_sync *sync;           /* per image (depthwise runs use only the item counts) */
    int64_t next_item;                 /* the item counter, taken atomically */
    run_phase *phases;
    int64_t tiles_per_block, cgroups;
    int64_t cb_step;                   /* channel blocks an item runs through every phase at a time */
    int64_t items_per_image;           /* groups * tile blocks (of the largest phase) * cgroups */
    int64_t scratch_floats;            /* per thread: partial sums of one item's tiles */
    int64_t dw_row_floats;             /* depthwise: floats of a thread's row buffer */
    int stream;                        /* output stores bypass the cache (outputs larger than the L2s; depthwise: through stream_copy) */
    int64_t items;
    const float *x;
    float *y;
    const int *cancel;                 /* nonzero (read atomically): stop at the next item */
    int cancelled;                     /* set when some thread saw it */
} run_ctx;

/* Division rounding up for b > 0, without the overflow of a + b - 1 (strides may be near
 * INT64_MAX). */
static inline int64_t ceil_div(int64_t a, int64_t b)
{
    return a / b + (a % b > 0);
}

/* The algorithms (select.c chooses): */
typedef enum ct_algo {
    CT_ALGO_PHASE_DEPTHWISE, /* algo/phase_depthwise.c */
    CT_ALGO_GEMM_COL2IM,     /* algo/gemm_col2im.c (its phases stay packed for inputs too large for it) */
    CT_ALGO_PHASE_IGEMM,     /* algo/phase_igemm.c */
} ct_algo;
/* The plan's algorithm: the first rule of select.c's table that applies to the layer (the
 * plan's shape fields set); *reason, when given, gets the rule's reason. */
ct_algo ct__select_algorithm(const ct_plan *plan, const char **reason);
/* Whether the layer's taps reach so far that the plan keeps its weights for the gather path. */
int ct__keeps_gather_weights(const ct_plan *plan);
/* Whether a run whose padded input takes workspace_bytes (-1: overflows) for tensors of
 * tensor_bytes takes the gather path (the reference) instead. */
int ct__run_takes_gather(const ct_plan *plan, int64_t workspace_bytes, int64_t tensor_bytes);

/* The most pixel vectors one block of tiles resolves at a time (phase_igemm.c's tables). */
#define MAX_BLOCK_VECTORS 1024

/* Test hooks: team member `thread` of every run sleeps us microseconds before each image it
 * owns, as if its core were shared with another process (-1: none); and how many owned
 * images a helper padded itself because their owner had not reached them. */
void ct__slow_owner_for_tests(int thread, int64_t us);
int64_t ct__images_taken_over(void);

/* Lays out a run (layout.c): fills every layout field of c from c->plan, c->g and the
 * threads. Returns the bytes of padded input (the shared workspace, or the depthwise path's
 * per-thread planes), or -1 when a size overflows. */
int64_t ct__layout_run(run_ctx *c, int nthreads);
/* Fills table (cin_g x taps per phase) with each tap's offset in the padded input and points
 * each run_phase's offsets into it. */
void ct__fill_offsets(run_ctx *c, int64_t *table);
/* The parallel region's body (schedule.c): every thread of the region calls it, or one
 * thread alone. Sets *failed when a thread had no scratch. */
void ct__run_parallel(run_ctx *c, const ct_plan *plan, int *failed);

/* Copies input plane `plane_idx` (n * C_in + c) into its zero-bordered copy at dst; with
 * borders_zeroed, dst held a padded plane of this run before and only the input is copied. */
void ct__pad_plane(const run_ctx *c, int64_t plane_idx, float *dst, int borders_zeroed);
/* The same for the flat layout: the plane's shifted copies (run_ctx.flat). */
void ct__pad_plane_flat(const run_ctx *c, int64_t plane_idx, float *dst, int borders_zeroed);

/* Whether the caller cancelled the run (and marks it cancelled). Checked between items, and
 * inside the long ones (every K chunk of a phase block, every zipped tile), so that a stop
 * waits for at most a small slice of a large item's work. A cancelled run still claims and
 * counts its items (without computing them), so no thread waits for an item that never
 * finishes. Inline: the scheduler and the algorithms both ask, and neither owns the run. */
static inline int ct__run_cancelled(const run_ctx *c)
{
    if (!c->cancel || !__atomic_load_n(c->cancel, __ATOMIC_RELAXED))
        return 0;
    __atomic_store_n(&((run_ctx *)c)->cancelled, 1, __ATOMIC_RELAXED);
    return 1;
}

/* A phase-igemm item (phase_igemm.c): image, group, block of tiles, group of channel blocks. */
void ct__run_phase_item(const run_ctx *c, int64_t item, float *scratch);

/* A depthwise item (image n, group g as n * groups + g), computed into the output;
 * borders_zeroed: this scratch has held a padded plane of this run before. */
void ct__run_depthwise_item(const run_ctx *c, int64_t item, float *scratch, int borders_zeroed);

/* A resolved geometry's input and output sizes and leading padding as 3 dims, with unit
 * dims (and zero padding) in front: how run/ and algo/ index every layer. */
void ct__geometry_3d(const ct_geometry *g, int64_t in[3], int64_t out[3], int64_t pad[3]);

/* Runs a col plan (plan->col) on a resolved geometry. Returns 1 when done, 0 when this input
 * shape would need a col buffer too large for the path (the caller runs the phases), -1 when
 * out of memory, -2 when *cancel (if cancel is set) stopped it. */
int ct__run_col(const ct_plan *plan, const ct_geometry *g, const float *x, float *y, int nthreads, const int *cancel);

#pragma GCC visibility pop

#endif /* CT_COMPUTE_PLAN_H */
