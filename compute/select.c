/* select.c - the one place that decides how a layer is computed. A plan's algorithm is the
 * first row of `rules` that applies to its layer; at run time one more rule can send an
 * input to the gather algorithm (the reference), when the padded input the chosen path
 * needs would dwarf the tensors themselves. Each threshold is defined here, with its reason. */
#include "plan.h"

/* The GEMM + col2im path (algo/gemm_col2im.c) serves layers with at most COL_MAX_COUT output
 * channels per group (where a phase tile would hold that few channel rows), COL_MIN_CIN
 * input channels (a K long enough to pay for col2im's adds) and more than one tap (a 1x1
 * layer is a GEMM already): a phase tile of so few channel rows feeds each loaded input
 * vector to that few FMAs, and the padded copy of a large input would cost more than the
 * GEMM. COL_MAX_ROWS bounds its col buffer's rows (cout_g x taps), COL_MAX_STEP the strides
 * and dilations whose col2im adds stay unit-stride enough to pay. */
#define COL_MAX_COUT 4
#define COL_MIN_CIN 16
#define COL_MAX_ROWS 1024
#define COL_MAX_STEP 64

/* A tap reaching t input positions away (dilation * (kernel - 1) / stride) gives the padded
 * input a zero border of t on each side, per dim. With a matching padding such a layer is
 * valid and its output small, but its far taps only ever read zeros. When the borders could
 * multiply a plane's size by more than FAR_TAP_BORDER, the plan keeps its weights for the
 * gather algorithm, which a run takes when its padded input passes GATHER_WORKSPACE_FACTOR
 * times the tensors' bytes plus GATHER_WORKSPACE_SLACK (small tensors may always pad). */
#define FAR_TAP_BORDER 65536.0
#define GATHER_WORKSPACE_FACTOR 4
#define GATHER_WORKSPACE_SLACK ((int64_t)64 << 20)

static int is_depthwise(const ct_plan *plan) { return plan->cin_g == 1; }

static int few_output_channels(const ct_plan *plan)
{
    const int64_t taps = plan->kernel[0] * plan->kernel[1] * plan->kernel[2];
    if (plan->cin_g < COL_MIN_CIN || plan->cout_g > COL_MAX_COUT || taps < 2 || taps * plan->cout_g > COL_MAX_ROWS)
        return 0;
    for (int d = 0; d < 3; d++)
        if (plan->stride[d] > COL_MAX_STEP || plan->dilation[d] > COL_MAX_STEP)
            return 0;
    return 1;
}

static int any_layer(const ct_plan *plan)
{
    (void)plan;
    return 1;
}

static const struct {
    ct_algo algo;
    int (*applies)(const ct_plan *plan);
    const char *reason;
} rules[] = {
    {CT_ALGO_PHASE_DEPTHWISE, is_depthwise,
     "one input channel per group: each output row is a sum of a few input rows, shifted, "
     "with no reduction over channels for a GEMM to share"},
    {CT_ALGO_GEMM_COL2IM, few_output_channels,
     "few output channels per group and a long K: one GEMM over every (channel, tap) row, "
     "then adds, beats phase tiles of one or two channel rows"},
    {CT_ALGO_PHASE_IGEMM, any_layer,
     "every other layer: per stride phase an indirect GEMM over the padded input, each output "
     "written once by one thread"},
};

ct_algo ct__select_algorithm(const ct_plan *plan, const char **reason)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (rules[i].applies(plan)) {
            if (reason)
                *reason = rules[i].reason;
            return rules[i].algo;
        }
    return CT_ALGO_PHASE_IGEMM; /* not reached: the last rule applies to every layer */
}

int ct__keeps_gather_weights(const ct_plan *plan)
{
    double border = 1; /* how much the zero border can multiply a padded plane */
    for (int d = 0; d < 3; d++)
        border *= 1.0 + 2.0 * (double)((plan->kernel[d] - 1) * plan->dilation[d] / plan->stride[d]);
    return border > FAR_TAP_BORDER;
}

int ct__run_takes_gather(const ct_plan *plan, int64_t workspace_bytes, int64_t tensor_bytes)
{
    return plan->weights &&
           (workspace_bytes < 0 || workspace_bytes > GATHER_WORKSPACE_FACTOR * tensor_bytes + GATHER_WORKSPACE_SLACK);
}
