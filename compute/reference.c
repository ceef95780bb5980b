/* reference.c - the naive reference: a transposed convolution written straight from its
 * definition in gather form, accumulating in double. The fast kernels are tested against it.
 *
 *   y[n, co, o] = bias[co] + sum over ci in co's group, k in kernel with
 *                 o = i * stride - pad_begin + k * dilation (per dim, 0 <= i < in) of
 *                 x[n, ci, i] * w[ci, co % (C_out/groups), k] */
#include <stdlib.h>

#include "internal.h"

/* Input index i contributing to output o through tap k, or -1. */
static int64_t source_index(int64_t o, int64_t k, int64_t s, int64_t d, int64_t pad, int64_t in)
{
    __int128 x = (__int128)o + pad - (__int128)k * d; /* pad and k * d may be near INT64_MAX */
    if (x < 0 || x % s != 0)
        return -1;
    x /= s;
    return x < in ? (int64_t)x : -1;
}

ct_status ct_reference_run(const ct_params *params, const ct_shape *input_shape,
                           const float *input, const ct_shape *weight_shape,
                           const float *weight, const float *bias, int64_t bias_len,
                           float *output, char *msg, size_t msg_cap)
{
    ct_geometry g;
    ct_status st = ct__validate_layer(params, weight_shape, bias != NULL, bias_len, msg, msg_cap);
    if (st == CT_OK)
        st = ct__resolve_geometry(params, weight_shape, input_shape, &g, msg, msg_cap);
    if (st != CT_OK)
        return st;
    /* Pad the geometry to 3 dims with unit dims in front so one loop nest serves all. */
    int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, ker[3] = {1, 1, 1};
    int64_t str[3] = {1, 1, 1}, dil[3] = {1, 1, 1}, pad[3] = {0, 0, 0};
    const int shift = 3 - g.nd;
    for (int i = 0; i < g.nd; i++) {
        in[shift + i] = g.in[i];
        out[shift + i] = g.out[i];
        ker[shift + i] = g.kernel[i];
        str[shift + i] = g.stride[i];
        dil[shift + i] = g.dilation[i];
        pad[shift + i] = g.pad_begin[i];
    }
    const int64_t cin_g = g.in_channels / g.groups, cout_g = g.out_channels / g.groups;
    const int64_t in_plane = in[0] * in[1] * in[2], out_plane = out[0] * out[1] * out[2];
    const int64_t ker_size = ker[0] * ker[1] * ker[2];
    for (int64_t n = 0; n < g.batch; n++)
        for (int64_t co = 0; co < g.out_channels; co++) {
            const int64_t grp = co / cout_g, col = co % cout_g;
            float *y = output + (n * g.out_channels + co) * out_plane;
            for (int64_t oz = 0; oz < out[0]; oz++)
                for (int64_t oy = 0; oy < out[1]; oy++)
                    for (int64_t ox = 0; ox < out[2]; ox++) {
                        double sum = bias ? bias[co] : 0.0;
                        for (int64_t kz = 0; kz < ker[0]; kz++) {
                            int64_t iz = source_index(oz, kz, str[0], dil[0], pad[0], in[0]);
                            if (iz < 0)
                                continue;
                            for (int64_t ky = 0; ky < ker[1]; ky++) {
                                int64_t iy = source_index(oy, ky, str[1], dil[1], pad[1], in[1]);
                                if (iy < 0)
                                    continue;
                                for (int64_t kx = 0; kx < ker[2]; kx++) {
                                    int64_t ix = source_index(ox, kx, str[2], dil[2], pad[2], in[2]);
                                    if (ix < 0)
                                        continue;
                                    for (int64_t c = 0; c < cin_g; c++) {
                                        int64_t ci = grp * cin_g + c;
                                        double xv = input[(n * g.in_channels + ci) * in_plane + (iz * in[1] + iy) * in[2] + ix];
                                        double wv = weight[(ci * cout_g + col) * ker_size + (kz * ker[1] + ky) * ker[2] + kx];
                                        sum += xv * wv;
                                    }
                                }
                            }
                        }
                        y[(oz * out[1] + oy) * out[2] + ox] = (float)sum;
                    }
        }
    return CT_OK;
}
