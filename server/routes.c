/* routes.c - the route table (each route with its handler) and path matching. A new route
 * is a row here and its handler in handlers/. */
#include <string.h>

#include "handlers/handlers.h"
#include "routes.h"

const ct_route ct_routes[] = {
    {"/", ROUTE_ROOT, "GET", 0, "/", ct_handle_root},
    {"/healthz", ROUTE_HEALTHZ, "GET", CT_ROUTE_PROBE, "/healthz", ct_handle_healthz},
    {"/readyz", ROUTE_READYZ, "GET", CT_ROUTE_PROBE, "/readyz", ct_handle_readyz},
    {"/metrics", ROUTE_METRICS, "GET", 0, "/metrics", ct_handle_metrics},
    {"/openapi.json", ROUTE_OPENAPI, "GET", CT_ROUTE_PUBLIC, "/openapi.json", ct_handle_openapi},
    {"/docs", ROUTE_DOCS, "GET", CT_ROUTE_PUBLIC, "/docs", ct_handle_docs},
    {"/convtranspose", ROUTE_CONVTRANSPOSE, "POST", 0, "/convtranspose", ct_handle_convtranspose},
    {"/v1/layers", ROUTE_LAYERS, "GET", 0, "/v1/layers", ct_handle_layer_list},
    {"/v1/layers/*", ROUTE_LAYER, "GET, PUT, DELETE", 0, "/v1/layers/{name}", ct_handle_layer},
    {"/v1/layers/*/convtranspose", ROUTE_LAYER_RUN, "POST", 0, "/v1/layers/{name}/convtranspose", ct_handle_layer_run},
    {"/v2", ROUTE_V2, "GET", CT_ROUTE_OIP, "/v2", ct_handle_v2_server},
    {"/v2/health/live", ROUTE_V2_LIVE, "GET", CT_ROUTE_OIP | CT_ROUTE_PROBE, "/v2/health/live", ct_handle_v2_live},
    {"/v2/health/ready", ROUTE_V2_READY, "GET", CT_ROUTE_OIP | CT_ROUTE_PROBE, "/v2/health/ready", ct_handle_v2_ready},
    {"/v2/models/*", ROUTE_V2_MODEL, "GET", CT_ROUTE_OIP, "/v2/models/{model}", ct_handle_v2_model},
    {"/v2/models/*/versions/*", ROUTE_V2_MODEL, "GET", CT_ROUTE_OIP, "/v2/models/{model}", ct_handle_v2_model},
    {"/v2/models/*/ready", ROUTE_V2_MODEL_READY, "GET", CT_ROUTE_OIP, "/v2/models/{model}/ready", ct_handle_v2_model_ready},
    {"/v2/models/*/versions/*/ready", ROUTE_V2_MODEL_READY, "GET", CT_ROUTE_OIP, "/v2/models/{model}/ready", ct_handle_v2_model_ready},
    {"/v2/models/*/infer", ROUTE_V2_INFER, "POST", CT_ROUTE_OIP, "/v2/models/{model}/infer", ct_handle_v2_infer},
    {"/v2/models/*/versions/*/infer", ROUTE_V2_INFER, "POST", CT_ROUTE_OIP, "/v2/models/{model}/infer", ct_handle_v2_infer},
    {"/v2/models/*/stats", ROUTE_V2_STATS, "GET", CT_ROUTE_OIP, "/v2/models/{model}/stats", ct_handle_v2_stats},
    {"/v2/models/*/versions/*/stats", ROUTE_V2_STATS, "GET", CT_ROUTE_OIP, "/v2/models/{model}/stats", ct_handle_v2_stats},
    {"/v2/repository/index", ROUTE_V2_REPO_INDEX, "POST", CT_ROUTE_OIP, "/v2/repository/index", ct_handle_v2_repository_index},
    {"/v2/repository/models/*/load", ROUTE_V2_REPO_LOAD, "POST", CT_ROUTE_OIP, "/v2/repository/models/{model}/load", ct_handle_v2_repository_load},
    {"/v2/repository/models/*/unload", ROUTE_V2_REPO_UNLOAD, "POST", CT_ROUTE_OIP, "/v2/repository/models/{model}/unload", ct_handle_v2_repository_unload},
};
const int ct_route_count = sizeof ct_routes / sizeof ct_routes[0];
const ct_route ct_route_unknown = {"", ROUTE_NONE, "", 0, "other", NULL};
/* An unknown path under /v2 is still the protocol's: its 404 has the protocol's error shape. */
const ct_route ct_route_unknown_v2 = {"", ROUTE_NONE, "", CT_ROUTE_OIP, "other", NULL};

/* Compares one segment of pattern with one of path; "*" captures into out. */
static int match(const char *pattern, const char *path, char *name, size_t name_cap, char *version, size_t version_cap)
{
    int stars = 0;
    for (;;) {
        if (*pattern == '\0' || *path == '\0')
            return *pattern == '\0' && *path == '\0';
        if (*pattern != '/' || *path != '/')
            return 0;
        pattern++;
        path++;
        size_t plen = strcspn(pattern, "/"), len = strcspn(path, "/");
        if (plen == 1 && pattern[0] == '*') {
            if (len == 0)
                return 0;
            char *out = stars == 0 ? name : version;
            size_t cap = stars == 0 ? name_cap : version_cap;
            size_t n = len < cap - 1 ? len : cap - 1;
            memcpy(out, path, n);
            out[n] = '\0';
            if (len >= cap) /* too long for any valid name: make it invalid */
                out[0] = '\0';
            stars++;
        } else if (plen != len || memcmp(pattern, path, len) != 0) {
            return 0;
        }
        pattern += plen;
        path += len;
    }
}

const ct_route *ct_route_match(const char *path, char *name, size_t name_cap, char *version, size_t version_cap)
{
    name[0] = version[0] = '\0';
    for (int i = 0; i < ct_route_count; i++)
        if (match(ct_routes[i].pattern, path, name, name_cap, version, version_cap))
            return &ct_routes[i];
    return NULL;
}

int ct_route_allows(const ct_route *route, const char *method)
{
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    size_t n = strlen(method);
    for (const char *p = route->allow; (p = strstr(p, method)); p += n)
        if ((p == route->allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}
