/* convtranspose.h - the public interface of the convtransposed compute library.
 *
 * The library computes the forward pass of a transposed convolution in fp32 with the
 * semantics of PyTorch's ConvTranspose{1,2,3}d and of ONNX ConvTranspose (opset 11+).
 * It does no I/O. Tensors are dense row-major: input [N, C_in, *spatial] (or unbatched
 * [C_in, *spatial]), weight [C_in, C_out/groups, *kernel], bias [C_out].
 *
 * Usage: fill a ct_params (ct_params_init gives PyTorch's defaults), build a plan with
 * ct_plan_create (validates, chooses an algorithm and packs the weights once), then call
 * ct_plan_output_shape and ct_plan_run for each input; free with ct_plan_destroy.
 * A plan is immutable after creation, so any number of threads may run it at once.
 *
 * Every function that can fail returns a ct_status and writes a one-sentence message
 * naming the field, the dim and the rule into the caller's buffer (msg, msg_cap). */
#ifndef CT_COMPUTE_CONVTRANSPOSE_H
#define CT_COMPUTE_CONVTRANSPOSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CT_MAX_SPATIAL 3                  /* 1-d, 2-d and 3-d convolutions */
#define CT_MAX_RANK (CT_MAX_SPATIAL + 2)  /* [N, C, d, h, w] */

/* One list generates the status enum, its snake_case names (the wire's error.code) and
 * default messages. 0 is success. */
#define CT_STATUS_MAP(XX)                                                                    \
    XX(OK, "ok", "success")                                                                  \
    XX(E_RANK, "invalid_rank", "tensor rank does not fit the number of spatial dims")        \
    XX(E_SHAPE, "invalid_shape", "a tensor dimension is not positive")                       \
    XX(E_STRIDE, "invalid_stride", "stride must be positive")                                \
    XX(E_DILATION, "invalid_dilation", "dilation must be positive")                          \
    XX(E_GROUPS, "invalid_groups", "groups must be positive")                                \
    XX(E_PADDING, "invalid_padding", "padding must be non-negative")                         \
    XX(E_OUTPUT_PADDING, "invalid_output_padding",                                           \
       "output_padding must be non-negative and smaller than stride or dilation")           \
    XX(E_CHANNELS_GROUPS, "channels_not_divisible_by_groups",                                \
       "channel counts must be divisible by groups")                                         \
    XX(E_WEIGHT_SHAPE, "weight_shape_mismatch", "weight shape does not fit the input")       \
    XX(E_KERNEL_SHAPE, "kernel_shape_mismatch", "kernel_shape does not match the weight")    \
    XX(E_BIAS_SHAPE, "bias_shape_mismatch", "bias must have out_channels elements")          \
    XX(E_OUTPUT_TOO_SMALL, "output_size_not_positive", "calculated output size is too small") \
    XX(E_OUTPUT_SIZE, "invalid_output_size", "requested output size is out of range")        \
    XX(E_AUTO_PAD, "invalid_auto_pad", "auto_pad conflicts with explicit pads")              \
    XX(E_TOO_LARGE, "output_too_large", "output has more elements than allowed")             \
    XX(E_OVERFLOW, "size_overflow", "a size computation overflows")                          \
    XX(E_NOMEM, "out_of_memory", "out of memory")                                             \
    XX(E_CANCELLED, "cancelled", "the run was cancelled")

typedef enum ct_status {
#define CT_STATUS_ENUM(name, code, text) CT_##name,
    CT_STATUS_MAP(CT_STATUS_ENUM)
#undef CT_STATUS_ENUM
    CT_STATUS_COUNT
} ct_status;

/* The snake_case name of a status ("invalid_stride"); never NULL. */
const char *ct_status_name(ct_status status);
/* A default sentence for a status; never NULL. */
const char *ct_status_message(ct_status status);

/* ONNX auto_pad. NOTSET uses the explicit pads. */
typedef enum ct_auto_pad {
    CT_AUTO_PAD_NOTSET = 0,
    CT_AUTO_PAD_SAME_UPPER,
    CT_AUTO_PAD_SAME_LOWER,
    CT_AUTO_PAD_VALID
} ct_auto_pad;

/* How output_size is interpreted. */
typedef enum ct_output_size_rule {
    CT_OUTPUT_SIZE_NONE = 0, /* output follows from pads and output_padding */
    CT_OUTPUT_SIZE_TORCH,    /* forward(output_size=...): output_padding = size - min, size in
                                [min, min + stride - 1] (output_padding field is ignored) */
    CT_OUTPUT_SIZE_ONNX      /* output_shape: pads are derived from it (ONNX opset 11+) */
} ct_output_size_rule;

/* Hyperparameters of a layer. Per-dim arrays use the first spatial_dims entries. */
typedef struct ct_params {
    int spatial_dims;                         /* 1, 2 or 3 */
    int64_t groups;                           /* >= 1, divides C_in and C_out */
    int64_t stride[CT_MAX_SPATIAL];           /* >= 1 */
    int64_t dilation[CT_MAX_SPATIAL];         /* >= 1 */
    int64_t pads_begin[CT_MAX_SPATIAL];       /* >= 0; PyTorch padding sets begin and end */
    int64_t pads_end[CT_MAX_SPATIAL];         /* >= 0 */
    int64_t output_padding[CT_MAX_SPATIAL];   /* >= 0, < stride or < dilation */
    ct_auto_pad auto_pad;                     /* ONNX; NOTSET for PyTorch */
    ct_output_size_rule output_size_rule;     /* whether output_size is set, and its meaning */
    int64_t output_size[CT_MAX_SPATIAL];      /* spatial output size, see the rule */
    int has_kernel_shape;                     /* ONNX kernel_shape given: must match weight */
    int64_t kernel_shape[CT_MAX_SPATIAL];
    int64_t max_output_elements;              /* cap on N*C_out*prod(out); 0 = no cap */
    double max_flops;                         /* cap on a run's nominal FLOPs,
                                                 2*N*C_in*prod(in)*C_out/groups*prod(kernel);
                                                 0 = no cap */
    int onnx_names;                           /* messages say strides, pads, dilations, group
                                                 (ONNX's attribute names), not PyTorch's */
} ct_params;

/* Fills p with PyTorch's defaults for spatial_dims dims: groups 1, stride 1, dilation 1,
 * no padding, no output_padding, no output_size, no cap. */
void ct_params_init(ct_params *p, int spatial_dims);

/* A tensor's shape: rank dims, outermost first. */
typedef struct ct_shape {
    int rank;
    int64_t dims[CT_MAX_RANK];
} ct_shape;

/* Number of elements of a shape, or -1 when a dim is negative or the product overflows
 * int64. */
int64_t ct_shape_elements(const ct_shape *shape);

/* Bytes of a dense tensor of this shape with elem_size-byte elements, or -1 when a dim is
 * negative or the size does not fit int64 (nor so size_t). Every byte size derived from a
 * client's shape goes through here: a bare count * sizeof(float) can wrap to a small
 * number that then "matches" a short buffer. */
int64_t ct_shape_bytes(const ct_shape *shape, size_t elem_size);

/* Opaque compiled layer: validated hyperparameters and weights packed for the kernels.
 * Create with ct_plan_create, free with ct_plan_destroy. */
typedef struct ct_plan ct_plan;

/* Validates params against the weight (and bias) and builds a plan. weight has shape
 * weight_shape = [C_in, C_out/groups, *kernel]; bias is NULL or bias_len = C_out floats
 * (bias_len is ignored when bias is NULL). The plan copies what it needs: the caller keeps
 * ownership of weight and bias. On error *plan is NULL and msg holds the reason. */
ct_status ct_plan_create(const ct_params *params, const ct_shape *weight_shape,
                         const float *weight, const float *bias, int64_t bias_len,
                         ct_plan **plan, char *msg, size_t msg_cap);

/* How a plan keeps its packed weights: as float32, or as 16-bit float16 / bfloat16 values
 * (half the memory; a run widens them back to float32 a panel at a time, just before the
 * kernels read it, so it computes exactly what a float32 plan of the same values would).
 * Weights that came in a 16-bit type are kept without loss; other values are rounded to
 * the nearest. Depthwise layers, whose weights are a few taps per channel, stay float32. */
typedef enum ct_weight_storage {
    CT_WEIGHTS_FLOAT32,
    CT_WEIGHTS_FLOAT16,
    CT_WEIGHTS_BFLOAT16,
} ct_weight_storage;

/* ct_plan_create with the weights kept as storage says. */
ct_status ct_plan_create_stored(const ct_params *params, const ct_shape *weight_shape,
                                const float *weight, const float *bias, int64_t bias_len,
                                ct_weight_storage storage, ct_plan **plan, char *msg,
                                size_t msg_cap);

/* How the plan keeps its weights (CT_WEIGHTS_FLOAT32 where it kept float32 after all), and
 * the bytes it holds for them: packed copies, any kept original, the bias. */
ct_weight_storage ct_plan_weight_storage(const ct_plan *plan);
int64_t ct_plan_weight_bytes(const ct_plan *plan);

/* Frees a plan. ct_plan_destroy(NULL) is a harmless no-op. */
void ct_plan_destroy(ct_plan *plan);

/* Computes the output shape for an input shape ([N, C_in, *spatial] or unbatched
 * [C_in, *spatial]), checking every rule that depends on the input. Pure function. */
ct_status ct_plan_output_shape(const ct_plan *plan, const ct_shape *input_shape,
                               ct_shape *output_shape, char *msg, size_t msg_cap);

/* Runs the layer: output (ct_plan_output_shape elements, caller-allocated) = op(input).
 * Uses at most nthreads compute threads (<= 0 means 1). Reentrant: the plan is not
 * written. May fail with CT_E_NOMEM (workspace) or any shape error. */
ct_status ct_plan_run(const ct_plan *plan, const ct_shape *input_shape, const float *input,
                      float *output, int nthreads, char *msg, size_t msg_cap);

/* ct_plan_run that a caller can stop: while it runs, any thread may set *cancel (read
 * atomically) to nonzero, and the run stops at the next work item with CT_E_CANCELLED (the
 * output is then incomplete). No thread is killed; a work item is a block of output tiles,
 * so the run ends within about one item's time. cancel may be NULL (then this is ct_plan_run). */
ct_status ct_plan_run_cancellable(const ct_plan *plan, const ct_shape *input_shape, const float *input,
                                  float *output, int nthreads, const int *cancel, char *msg, size_t msg_cap);

/* The algorithm the plan chose, e.g. "phase_igemm_avx2_6x16"; for tests and metrics. */
const char *ct_plan_algorithm(const ct_plan *plan);

/* Accessors for what the plan was built from. */
const ct_params *ct_plan_params(const ct_plan *plan);
const ct_shape *ct_plan_weight_shape(const ct_plan *plan);
int ct_plan_has_bias(const ct_plan *plan);
int64_t ct_plan_in_channels(const ct_plan *plan);
int64_t ct_plan_out_channels(const ct_plan *plan);

/* The output shape for params, a weight shape and an input shape, with every rule checked,
 * without building a plan (no weights needed). Pure function. */
ct_status ct_output_shape(const ct_params *params, const ct_shape *weight_shape,
                          const ct_shape *input_shape, ct_shape *output_shape, char *msg,
                          size_t msg_cap);

/* The naive reference, written straight from the definition (gather form, double
 * accumulation): same contract as create + output_shape + run, in one call. Slow. */
ct_status ct_reference_run(const ct_params *params, const ct_shape *input_shape,
                           const float *input, const ct_shape *weight_shape,
                           const float *weight, const float *bias, int64_t bias_len,
                           float *output, char *msg, size_t msg_cap);

/* The ISA the kernels dispatch to on this CPU: "avx512", "avx2" or "generic". */
const char *ct_cpu_isa(void);

#ifdef __cplusplus
}
#endif

#endif /* CT_COMPUTE_CONVTRANSPOSE_H */
