/* shape.c - validation and shape arithmetic: the PyTorch and ONNX rules, one function per
 * formula, every product and sum overflow-checked. Messages follow PyTorch's wording and
 * add the field, the dim and the rule. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Writes "[a, b, c]" (the first n values of v) into buf. */
static const char *format_list(char *buf, size_t cap, const int64_t *v, int n)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)v[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

static const char *format_shape(char *buf, size_t cap, const ct_shape *s)
{
    return format_list(buf, cap, s->dims, s->rank);
}

/* PyTorch (and ONNX with explicit pads):
 *   out = (in - 1) * stride - pad_begin - pad_end + dilation * (kernel - 1) + 1 + output_padding
 * Computed here without the pads: the "natural" size before cropping. False on overflow. */
static bool natural_output_size(int64_t in, int64_t stride, int64_t dilation, int64_t kernel,
                                int64_t output_padding, int64_t *out)
{
    int64_t a, b;
    return ct__mul(in - 1, stride, &a) && ct__mul(dilation, kernel - 1, &b) && ct__add(a, b, &a) &&
           ct__add(a, 1, &a) && ct__add(a, output_padding, out);
}

ct_status ct__validate_layer(const ct_params *p, const ct_shape *w, int has_bias,
                             int64_t bias_len, char *msg, size_t cap)
{
    char b1[128];
    const int nd = p->spatial_dims;
    if (nd < 1 || nd > CT_MAX_SPATIAL)
        return ct__fail(msg, cap, CT_E_RANK, "spatial_dims = %d: only 1, 2 and 3 spatial dims are supported", nd);
    if (w->rank != nd + 2)
        return ct__fail(msg, cap, CT_E_RANK,
                        "weight: expected a %d-d weight [in_channels, out_channels/groups, *kernel] for a %d-d transposed convolution, but got weight of size %s",
                        nd + 2, nd, format_shape(b1, sizeof b1, w));
    for (int i = 0; i < w->rank; i++) {
        if (w->dims[i] <= 0)
            return ct__fail(msg, cap, CT_E_SHAPE, "weight: dimension %d is %lld; every weight dimension must be positive (weight of size %s)",
                            i, (long long)w->dims[i], format_shape(b1, sizeof b1, w));
    }
    if (p->groups <= 0)
        return ct__fail(msg, cap, CT_E_GROUPS, "%s = %lld: non-positive groups is not supported", p->onnx_names ? "group" : "groups", (long long)p->groups);
    /* The client's own names: ONNX's attributes or PyTorch's arguments. */
    const char *stride = p->onnx_names ? "strides" : "stride", *dilation = p->onnx_names ? "dilations" : "dilation";
    for (int i = 0; i < nd; i++) {
        if (p->stride[i] <= 0)
            return ct__fail(msg, cap, CT_E_STRIDE, "%s[%d] = %lld: non-positive stride is not supported", stride, i, (long long)p->stride[i]);
    }
    for (int i = 0; i < nd; i++) {
        if (p->dilation[i] <= 0)
            return ct__fail(msg, cap, CT_E_DILATION, "%s[%d] = %lld: dilation should be greater than zero", dilation, i, (long long)p->dilation[i]);
    }
    for (int i = 0; i < nd; i++) {
        /* ONNX pads are [begin..., end...]: the end of dim i is pads[nd + i] */
        if (p->pads_begin[i] < 0)
            return ct__fail(msg, cap, CT_E_PADDING, "%s[%d] = %lld: negative padding is not supported", p->onnx_names ? "pads" : "padding", i,
                            (long long)p->pads_begin[i]);
        if (p->pads_end[i] < 0)
            return ct__fail(msg, cap, CT_E_PADDING, "%s[%d] = %lld: negative padding is not supported", p->onnx_names ? "pads" : "pads end",
                            p->onnx_names ? nd + i : i, (long long)p->pads_end[i]);
    }
    if (p->output_size_rule != CT_OUTPUT_SIZE_TORCH) {
        for (int i = 0; i < nd; i++) {
            int64_t op = p->output_padding[i];
            if (op < 0)
                return ct__fail(msg, cap, CT_E_OUTPUT_PADDING, "output_padding[%d] = %lld: negative output_padding is not supported", i, (long long)op);
            if (op >= p->stride[i] && op >= p->dilation[i])
                return ct__fail(msg, cap, CT_E_OUTPUT_PADDING,
                                "output_padding[%d] = %lld: output padding must be smaller than either stride (%lld) or dilation (%lld)",
                                i, (long long)op, (long long)p->stride[i], (long long)p->dilation[i]);
        }
    }
    if (p->has_kernel_shape) {
        for (int i = 0; i < nd; i++) {
            if (p->kernel_shape[i] != w->dims[2 + i])
                return ct__fail(msg, cap, CT_E_KERNEL_SHAPE, "kernel_shape[%d] = %lld does not match the weight's kernel size %lld (weight of size %s)",
                                i, (long long)p->kernel_shape[i], (long long)w->dims[2 + i], format_shape(b1, sizeof b1, w));
        }
    }
    if (p->auto_pad != CT_AUTO_PAD_NOTSET) {
        for (int i = 0; i < nd; i++) {
            if (p->pads_begin[i] != 0 || p->pads_end[i] != 0)
                return ct__fail(msg, cap, CT_E_AUTO_PAD, "pads: explicit pads cannot be combined with auto_pad other than NOTSET");
        }
    }
    if (w->dims[0] % p->groups != 0)
        return ct__fail(msg, cap, CT_E_CHANNELS_GROUPS,
                        "weight: given groups=%lld, expected weight to be divisible by %lld at dimension 0, but got weight of size %s instead",
                        (long long)p->groups, (long long)p->groups, format_shape(b1, sizeof b1, w));
    int64_t out_channels;
    if (!ct__mul(w->dims[1], p->groups, &out_channels))
        return ct__fail(msg, cap, CT_E_OVERFLOW, "weight: out_channels = weight.shape[1] * groups overflows");
    if (has_bias && bias_len != out_channels)
        return ct__fail(msg, cap, CT_E_BIAS_SHAPE,
                        "bias: given transposed=1, weight of size %s, expected bias to be 1-dimensional with %lld elements, but got bias of size [%lld] instead",
                        format_shape(b1, sizeof b1, w), (long long)out_channels, (long long)bias_len);
    return CT_OK;
}

/* ONNX: splits a total padding into begin and end as the spec does. SAME_UPPER puts the odd
 * one at the end; SAME_LOWER (and output_shape without auto_pad) at the beginning. A
 * negative total (output_shape larger than the natural size) means no padding: the extra
 * outputs hold only the bias, as onnxruntime does. */
static void onnx_split_pads(int64_t total, ct_auto_pad mode, int64_t *begin)
{
    if (total < 0)
        total = 0;
    *begin = mode == CT_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
}

/* Resolves the spatial output size and begin padding of dim i. */
static ct_status resolve_dim(const ct_params *p, const ct_shape *in_shape, int i, int64_t in,
                             int64_t kernel, ct_geometry *g, char *msg, size_t cap)
{
    char b1[128];
    const int64_t s = p->stride[i], d = p->dilation[i];
    int64_t natural, out = 0, pad_begin = 0;
    int64_t op = p->output_size_rule == CT_OUTPUT_SIZE_TORCH ? 0 : p->output_padding[i];
    if (!natural_output_size(in, s, d, kernel, op, &natural))
        return ct__fail(msg, cap, CT_E_OVERFLOW, "output size of dim %d overflows (input %lld, stride %lld, dilation %lld, kernel %lld)",
                        i, (long long)in, (long long)s, (long long)d, (long long)kernel);
    switch (p->output_size_rule) {
    case CT_OUTPUT_SIZE_TORCH: {
        /* torch.nn.modules.conv._ConvTransposeNd._output_padding */
        int64_t min_size, max_size;
        if (!ct__sub(natural, p->pads_begin[i], &min_size) || !ct__sub(min_size, p->pads_end[i], &min_size) || !ct__add(min_size, s - 1, &max_size))
            return ct__fail(msg, cap, CT_E_OVERFLOW, "output size of dim %d overflows", i);
        int64_t want = p->output_size[i];
        if (want < min_size || want > max_size)
            return ct__fail(msg, cap, CT_E_OUTPUT_SIZE,
                            "output_size[%d] = %lld: requested an output size of %lld, but valid sizes range from %lld to %lld (for an input of %s)",
                            i, (long long)want, (long long)want, (long long)min_size, (long long)max_size, format_shape(b1, sizeof b1, in_shape));
        /* output_padding = want - min_size < stride: PyTorch's output_padding rule holds. */
        out = want;
        pad_begin = p->pads_begin[i];
        break;
    }
    case CT_OUTPUT_SIZE_ONNX: {
        int64_t want = p->output_size[i];
        if (want <= 0)
            return ct__fail(msg, cap, CT_E_OUTPUT_SIZE, "output_shape[%d] = %lld: output_shape must be positive", i, (long long)want);
        onnx_split_pads(natural - want, p->auto_pad, &pad_begin);
        out = want;
        break;
    }
    case CT_OUTPUT_SIZE_NONE:
    default:
        if (p->auto_pad == CT_AUTO_PAD_SAME_UPPER || p->auto_pad == CT_AUTO_PAD_SAME_LOWER) {
            /* ONNX: output_shape[i] = input_shape[i] * strides[i] */
            if (!ct__mul(in, s, &out))
                return ct__fail(msg, cap, CT_E_OVERFLOW, "output size of dim %d overflows", i);
            onnx_split_pads(natural - out, p->auto_pad, &pad_begin);
        } else if (p->auto_pad == CT_AUTO_PAD_VALID) {
            out = natural;
        } else {
            if (!ct__sub(natural, p->pads_begin[i], &out) || !ct__sub(out, p->pads_end[i], &out))
                return ct__fail(msg, cap, CT_E_OVERFLOW, "output size of dim %d overflows", i);
            pad_begin = p->pads_begin[i];
        }
        break;
    }
    g->out[i] = out;
    g->pad_begin[i] = pad_begin;
    return CT_OK;
}

ct_status ct__resolve_geometry(const ct_params *p, const ct_shape *w, const ct_shape *x,
                               ct_geometry *g, char *msg, size_t cap)
{
    char b1[128], b2[128], b3[128];
    ct_status st = ct__validate_layer(p, w, 0, 0, msg, cap);
    if (st != CT_OK)
        return st;
    const int nd = p->spatial_dims;
    memset(g, 0, sizeof *g);
    g->nd = nd;
    if (x->rank != nd + 1 && x->rank != nd + 2)
        return ct__fail(msg, cap, CT_E_RANK, "input: expected %dD (unbatched) or %dD (batched) input to conv_transpose%dd, but got input of size: %s",
                        nd + 1, nd + 2, nd, format_shape(b1, sizeof b1, x));
    g->batched = x->rank == nd + 2;
    const int64_t *xs = x->dims + (g->batched ? 1 : 0);
    g->batch = g->batched ? x->dims[0] : 1;
    if (g->batch < 0)
        return ct__fail(msg, cap, CT_E_SHAPE, "input: batch size %lld is negative", (long long)g->batch);
    for (int i = 0; i <= nd; i++) {
        if (xs[i] <= 0)
            return ct__fail(msg, cap, CT_E_SHAPE, "input: dimension %d is %lld; channel and spatial sizes must be positive (input of size %s)",
                            i + (g->batched ? 1 : 0), (long long)xs[i], format_shape(b1, sizeof b1, x));
    }
    /* The caller holds the input as elements * sizeof(float) bytes: a shape whose byte size
     * overflows names no buffer that could exist, so nothing may index it. */
    if (ct_shape_bytes(x, sizeof(float)) < 0)
        return ct__fail(msg, cap, CT_E_OVERFLOW, "input: the byte size of input of size %s overflows", format_shape(b1, sizeof b1, x));
    if (xs[0] != w->dims[0])
        return ct__fail(msg, cap, CT_E_WEIGHT_SHAPE,
                        "input: given transposed=1, weight of size %s, expected input%s to have %lld channels, but got %lld channels instead%s",
                        format_shape(b1, sizeof b1, w), format_shape(b2, sizeof b2, x), (long long)w->dims[0], (long long)xs[0],
                        w->dims[1] * p->groups == xs[0] || w->dims[1] == xs[0]
                            ? ". A transposed convolution's weight is [in_channels, out_channels/groups, *kernel]; this one looks like a Conv weight [out_channels, in_channels/groups, *kernel]: swap its first two dims (weight.transpose(0, 1) for groups=1)"
                            : "");
    g->in_channels = xs[0];
    g->groups = p->groups;
    g->out_channels = w->dims[1] * p->groups; /* checked by validate_layer */
    for (int i = 0; i < nd; i++) {
        g->in[i] = xs[1 + i];
        g->kernel[i] = w->dims[2 + i];
        g->stride[i] = p->stride[i];
        g->dilation[i] = p->dilation[i];
        st = resolve_dim(p, x, i, g->in[i], g->kernel[i], g, msg, cap);
        if (st != CT_OK)
            return st;
    }
    for (int i = 0; i < nd; i++) {
        if (g->out[i] <= 0)
            return ct__fail(msg, cap, CT_E_OUTPUT_TOO_SMALL,
                            "input: given input size per channel: %s. Calculated output size: %s. Output size is too small (dim %d)",
                            format_list(b1, sizeof b1, g->in, nd), format_list(b3, sizeof b3, g->out, nd), i);
    }
    int64_t elements = g->batch;
    if (!ct__mul(elements, g->out_channels, &elements))
        return ct__fail(msg, cap, CT_E_OVERFLOW, "output: element count overflows");
    for (int i = 0; i < nd; i++) {
        if (!ct__mul(elements, g->out[i], &elements))
            return ct__fail(msg, cap, CT_E_OVERFLOW, "output: element count overflows (output size %s)", format_list(b1, sizeof b1, g->out, nd));
    }
    /* Bytes must fit too: the caller allocates elements * sizeof(float). */
    int64_t bytes;
    if (!ct__mul(elements, (int64_t)sizeof(float), &bytes))
        return ct__fail(msg, cap, CT_E_OVERFLOW, "output: byte count overflows");
    /* Work grows with the input and the kernel, not only the output: a short input through
     * a huge kernel is a small request that computes for hours. */
    double flops = 2.0 * (double)g->batch * (double)g->in_channels * (double)(g->out_channels / g->groups);
    for (int i = 0; i < nd; i++)
        flops *= (double)g->in[i] * (double)g->kernel[i];
    if (p->max_flops > 0 && flops > p->max_flops)
        return ct__fail(msg, cap, CT_E_TOO_LARGE, "work: %.3g nominal FLOPs (input %s, weight %s) exceed the limit of %.3g", flops,
                        format_shape(b1, sizeof b1, x), format_shape(b2, sizeof b2, w), p->max_flops);
    if (p->max_output_elements > 0 && elements > p->max_output_elements)
        return ct__fail(msg, cap, CT_E_TOO_LARGE, "output: %lld elements (batch %lld, %lld channels, size %s) exceed the limit of %lld",
                        (long long)elements, (long long)g->batch, (long long)g->out_channels, format_list(b1, sizeof b1, g->out, nd),
                        (long long)p->max_output_elements);
    return CT_OK;
}

void ct__output_shape(const ct_geometry *g, ct_shape *out)
{
    int r = 0;
    if (g->batched)
        out->dims[r++] = g->batch;
    out->dims[r++] = g->out_channels;
    for (int i = 0; i < g->nd; i++)
        out->dims[r++] = g->out[i];
    out->rank = r;
}

ct_status ct_output_shape(const ct_params *params, const ct_shape *weight_shape,
                          const ct_shape *input_shape, ct_shape *output_shape, char *msg,
                          size_t msg_cap)
{
    ct_geometry g;
    ct_status st = ct__resolve_geometry(params, weight_shape, input_shape, &g, msg, msg_cap);
    if (st == CT_OK)
        ct__output_shape(&g, output_shape);
    return st;
}
