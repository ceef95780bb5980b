/* docs.c - GET /openapi.json (the compiled-in OpenAPI 3.1 document, server/www/openapi.json,
 * with the bearer scheme added when --auth-token-file is set, so the document says what this
 * daemon really asks for) and GET /docs (server/www/docs.html, which renders it). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "server.h"

extern const char ct_asset_openapi[], ct_asset_docs[];

int ct_docs_openapi(int with_auth, char **out, size_t *len)
{
    json_error_t jerr;
    json_t *doc = json_loads(ct_asset_openapi, 0, &jerr);
    if (!doc)
        return -1;
    if (with_auth) {
        json_t *components = json_object_get(doc, "components");
        json_object_set_new(components, "securitySchemes",
                            json_pack("{s:{s:s,s:s,s:s}}", "bearer", "type", "http", "scheme", "bearer", "description",
                                      "The token of --auth-token-file: Authorization: Bearer <token>."));
        json_object_set_new(doc, "security", json_pack("[{s:[]}]", "bearer"));
    }
    *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!*out)
        return -1;
    *len = strlen(*out);
    return 0;
}

enum MHD_Result ct_handle_openapi(http_request *r)
{
    char *text;
    size_t len;
    if (ct_docs_openapi(r->srv->access.token != NULL, &text, &len) != 0)
        return ct_http_error(r, 503, "out_of_memory", "out of memory", NULL, NULL);
    return ct_http_send(r, 200, "application/json", text, len, NULL, NULL);
}

enum MHD_Result ct_handle_docs(http_request *r)
{
    size_t len = strlen(ct_asset_docs);
    char *copy = malloc(len + 1); /* ct_http_send takes a malloc'd body (it may compress it) */
    if (!copy)
        return ct_http_error(r, 503, "out_of_memory", "out of memory", NULL, NULL);
    memcpy(copy, ct_asset_docs, len + 1);
    return ct_http_send(r, 200, "text/html; charset=utf-8", copy, len, NULL, NULL);
}
