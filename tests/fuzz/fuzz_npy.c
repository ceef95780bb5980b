/* fuzz_npy.c - libFuzzer harness: arbitrary bytes as a .npy file; what parses is written
 * back and must parse again to the same tensor. */
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ct_api_limits limits = {.max_elements = 1 << 16};
    ct_tensor t, again;
    ct_api_error err;
    if (ct_npy_parse((const char *)data, size, &limits, "input", &t, &err) != 0)
        return 0;
    ct_buffer b = {0};
    if (ct_npy_write(&t.shape, t.data, &b) == 0) {
        if (ct_npy_parse(b.data, b.len, &limits, "input", &again, &err) != 0)
            abort();
        int64_t n = ct_shape_elements(&t.shape);
        if (again.shape.rank != t.shape.rank || memcmp(again.data, t.data, sizeof(float) * (size_t)n) != 0)
            abort();
        ct_tensor_free(&again);
    }
    ct_buffer_free(&b);
    ct_tensor_free(&t);
    return 0;
}
