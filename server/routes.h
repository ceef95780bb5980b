/* routes.h - the daemon's endpoints: one table of path patterns ("*" is one path segment:
 * the first is {name}, the second {version}), their methods and properties. */
#ifndef CT_SERVER_ROUTES_H
#define CT_SERVER_ROUTES_H

#include <microhttpd.h>
#include <stddef.h>

struct http_request;

typedef enum ct_route_id {
    ROUTE_NONE, ROUTE_ROOT, ROUTE_HEALTHZ, ROUTE_READYZ, ROUTE_METRICS, ROUTE_OPENAPI, ROUTE_DOCS, ROUTE_CONVTRANSPOSE,
    ROUTE_LAYERS, ROUTE_LAYER, ROUTE_LAYER_RUN,
    ROUTE_V2, ROUTE_V2_LIVE, ROUTE_V2_READY, ROUTE_V2_MODEL, ROUTE_V2_MODEL_READY, ROUTE_V2_INFER,
    ROUTE_V2_STATS, ROUTE_V2_REPO_INDEX, ROUTE_V2_REPO_LOAD, ROUTE_V2_REPO_UNLOAD,
    ROUTE_COUNT
} ct_route_id;

#define CT_ROUTE_PROBE 1u /* a health probe: answered without authentication */
#define CT_ROUTE_OIP 2u   /* Open Inference Protocol: errors are {"error": "message"} */
#define CT_ROUTE_PUBLIC 4u /* the API's description: answered without authentication */

typedef struct ct_route {
    const char *pattern;  /* "/v1/layers/ * /convtranspose" without the spaces */
    ct_route_id id;
    const char *allow;    /* methods, as the Allow header lists them */
    unsigned flags;
    const char *label;    /* the route in metrics */
    enum MHD_Result (*handle)(struct http_request *r); /* handlers/handlers.h */
} ct_route;

extern const ct_route ct_routes[];
extern const int ct_route_count;
extern const ct_route ct_route_unknown, ct_route_unknown_v2;

/* The route matching path, with its {name} and {version} segments copied out (longer ones
 * are truncated, so the name check refuses them), or NULL. */
const ct_route *ct_route_match(const char *path, char *name, size_t name_cap, char *version, size_t version_cap);

/* Whether the route takes method (HEAD wherever GET is). */
int ct_route_allows(const ct_route *route, const char *method);

#endif /* CT_SERVER_ROUTES_H */
