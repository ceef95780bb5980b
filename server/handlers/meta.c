/* meta.c - the routes about the daemon itself: / (its routes and settings), the health
 * probes and /metrics. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"

enum MHD_Result ct_handle_root(http_request *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return MHD_NO;
    fprintf(f, "{\"name\": \"convtransposed\", \"version\": \"%s\", \"isa\": \"%s\", \"endpoints\": [", CT_VERSION, ct_cpu_isa());
    /* Each route once, its "*" segments named as in its label: {name} or {model}, then {version}. */
    for (int i = 0; i < ct_route_count; i++) {
        const char *label = ct_routes[i].label, *open = strchr(label, '{'), *close = open ? strchr(open, '}') : NULL;
        char path[128];
        size_t n = 0;
        int stars = 0;
        for (const char *p = ct_routes[i].pattern; *p && n + 16 < sizeof path; p++) {
            if (*p != '*') {
                path[n++] = *p;
            } else if (stars++ == 0 && close) {
                memcpy(path + n, open, (size_t)(close - open + 1));
                n += (size_t)(close - open + 1);
            } else {
                memcpy(path + n, "{version}", 9);
                n += 9;
            }
        }
        path[n] = '\0';
        fprintf(f, "%s{\"path\": \"%s\", \"methods\": \"%s\"}", i ? ", " : "", path, ct_routes[i].allow);
    }
    fprintf(f, "], \"settings\": ");
    ct_config_describe(&r->srv->cfg, f);
    fprintf(f, "}");
    fclose(f);
    return ct_http_send(r, 200, "application/json", text, len, NULL, NULL);
}

enum MHD_Result ct_handle_healthz(http_request *r)
{
    return ct_http_json(r, 200, "{\"status\": \"ok\"}");
}

enum MHD_Result ct_handle_readyz(http_request *r)
{
    if (atomic_load(&r->srv->draining))
        return ct_http_json(r, 503, "{\"status\": \"draining\"}");
    if (atomic_load(&r->srv->warming)) {
        char body[128];
        snprintf(body, sizeof body, "{\"status\": \"warming\", \"layers_loaded\": %d, \"layers_to_load\": %d}",
                 atomic_load(&r->srv->layers_loaded), atomic_load(&r->srv->layers_to_load));
        return ct_http_json(r, 503, body);
    }
    return ct_http_json(r, 200, "{\"status\": \"ready\"}");
}

enum MHD_Result ct_handle_metrics(http_request *r)
{
    ct_buffer b = {0};
    ct_metrics_write(r->srv, &b);
    return ct_http_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL, NULL);
}
