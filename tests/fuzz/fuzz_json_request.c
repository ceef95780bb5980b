/* fuzz_json_request.c - libFuzzer harness: arbitrary bytes as a /convtranspose JSON body,
 * then, when they parse, through the layer validation and (for small layers) the compute. */
#include <stddef.h>
#include <stdint.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ct_api_limits limits = {.max_elements = 4096, .max_output_elements = 16384, .max_json_depth = 32};
    ct_request req;
    ct_api_error err;
    if (ct_json_parse_request((const char *)data, size, &limits, 1, &req, &err) != 0)
        return 0;
    ct_tensor out;
    if (ct_api_execute(&req, 1, NULL, &out, &err) == 0) {
        ct_buffer b = {0};
        int64_t nonfinite;
        ct_json_write_tensor(&out.shape, out.data, &b, &nonfinite, 1);
        ct_buffer_free(&b);
        ct_tensor_free(&out);
    }
    ct_request_free(&req);
    return 0;
}
