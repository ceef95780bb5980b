/* fuzz_oip.c - libFuzzer harness for the Open Inference Protocol request parser: the first
 * byte picks the JSON header's length (binary extension) or none; parsed requests go
 * through the parameters and the response writer. */
#include <stdlib.h>
#include <string.h>

#include "oip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    long header_len = data[0] == 255 ? -1 : (long)(data[0] * size / 255);
    char *body = malloc(size);
    memcpy(body, data + 1, size - 1);
    size_t len = size - 1;
    if (header_len > (long)len)
        header_len = (long)len;
    ct_api_limits limits = {.max_elements = 4096, .max_output_elements = 16384, .max_json_depth = 32};
    ct_oip_request req;
    ct_api_error err;
    if (ct_oip_parse(body, len, header_len, &limits, &req, &err) == 0) {
        ct_params p;
        ct_params_init(&p, 2);
        if (req.parameters)
            ct_oip_params(&req, 2, &p, &err);
        const ct_oip_input *in = ct_oip_find_input(&req, "input");
        if (in) {
            ct_tensor t = {in->shape, in->data, in->dtype};
            ct_pieces json = {0};
            ct_oip_write_response("m", "1", &req, &t, req.binary_output, 1, &json);
            ct_pieces_free(&json);
        }
        ct_oip_request_free(&req);
    }
    free(body);
    return 0;
}
