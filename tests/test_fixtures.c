/* test_fixtures.c - PyTorch-generated golden cases (tests/fixtures/torch_cases.json, made by
 * tests/fixtures/make_fixtures.py): each request goes through the JSON parser and the fast
 * plan, and must match torch exactly (the fixtures use values that are exact in fp32). */
#include <jansson.h>
#include <string.h>

#include "api.h"
#include "test.h"

static json_t *load_cases(void)
{
    const char *path = getenv("CT_FIXTURES") ? getenv("CT_FIXTURES") : "tests/fixtures/torch_cases.json";
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        FAIL("cannot read %s: %s", path, je.text);
    return root;
}

TEST(torch_fixtures_match_exactly)
{
    json_t *root = load_cases();
    json_t *cases = json_object_get(root, "cases");
    CHECK(json_array_size(cases) >= 20);
    ct_api_limits limits = {.max_elements = 1 << 20, .max_output_elements = 1 << 22, .max_json_depth = 16};
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        char *body = json_dumps(json_object_get(c, "request"), JSON_COMPACT);
        ct_request req;
        ct_api_error err;
        if (ct_json_parse_request(body, strlen(body), &limits, 1, &req, &err) != 0)
            FAIL("%s: parse: %s: %s", name, err.code, err.message);
        ct_tensor out;
        if (ct_api_execute(&req, 2, NULL, &out, &err) != 0)
            FAIL("%s: execute: %s: %s", name, err.code, err.message);
        json_t *want = json_object_get(c, "expected");
        json_t *shape = json_object_get(want, "shape"), *data = json_object_get(want, "data");
        if ((size_t)out.shape.rank != json_array_size(shape))
            FAIL("%s: rank %d, torch %zu", name, out.shape.rank, json_array_size(shape));
        for (int d = 0; d < out.shape.rank; d++)
            if (out.shape.dims[d] != json_integer_value(json_array_get(shape, (size_t)d)))
                FAIL("%s: dim %d is %lld, torch %lld", name, d, (long long)out.shape.dims[d],
                     (long long)json_integer_value(json_array_get(shape, (size_t)d)));
        CHECK_INT_EQ(ct_shape_elements(&out.shape), json_array_size(data));
        for (size_t k = 0; k < json_array_size(data); k++) {
            double w = json_number_value(json_array_get(data, k));
            if ((double)out.data[k] != w)
                FAIL("%s: element %zu is %.9g, torch %.9g", name, k, out.data[k], w);
        }
        ct_tensor_free(&out);
        ct_request_free(&req);
        free(body);
    }
    json_decref(root);
}
