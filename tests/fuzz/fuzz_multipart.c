/* fuzz_multipart.c - libFuzzer harness: arbitrary bytes as a multipart/form-data request
 * (boundary "b0undary"), split into parts and assembled into a layer request. Every part
 * must lie inside the body. */
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *ctype = "multipart/form-data; boundary=b0undary";
    const char *body = (const char *)data;
    ct_part parts[16];
    int n;
    ct_api_error err;
    if (ct_multipart_parse(ctype, body, size, parts, 16, &n, &err) == 0) {
        for (int i = 0; i < n; i++) {
            if (parts[i].data < body || parts[i].data + parts[i].len > body + size)
                abort();
            if (parts[i].name && (parts[i].name < body || parts[i].name + parts[i].name_len > body + size))
                abort();
        }
    }
    ct_api_limits limits = {.max_elements = 4096, .max_output_elements = 16384, .max_json_depth = 32};
    ct_request req;
    if (ct_form_parse_request(ctype, body, size, &limits, 1, &req, &err) == 0)
        ct_request_free(&req);
    return 0;
}
