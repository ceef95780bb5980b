/* registry.c - see registry.h. The table in memory, and the order of changes: the disk
 * (layer_store.c) first, then the table, under one lock, so both agree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "registry.h"
#include "sha256.h"

static void layer_free(ct_layer *l)
{
    ct_plan_destroy(l->plan);
    free(l);
}

void ct_layer_release(ct_layer *l)
{
    if (l && atomic_fetch_sub(&l->refs, 1) == 1)
        layer_free(l);
}

/* Builds a layer (plan + digest) from a request's weight, bias and params. */
static ct_layer *layer_build(const ct_registry *r, const char *name, const ct_request *req, ct_api_error *err)
{
    ct_layer *l = calloc(1, sizeof *l);
    if (!l) {
        ct_api_fail(err, 503, "out_of_memory", "out of memory");
        return NULL;
    }
    snprintf(l->name, sizeof l->name, "%s", name);
    char msg[400];
    ct_params params = req->params;
    params.max_output_elements = r->limits.max_output_elements; /* the server's caps, also for layers read from disk */
    params.max_flops = r->limits.max_flops;
    /* weights sent as 16-bit values are kept as such: half the memory (and, float16, the disk) */
    const ct_weight_storage storage = req->weight.dtype == CT_DTYPE_FLOAT16    ? CT_WEIGHTS_FLOAT16
                                      : req->weight.dtype == CT_DTYPE_BFLOAT16 ? CT_WEIGHTS_BFLOAT16
                                                                               : CT_WEIGHTS_FLOAT32;
    ct_status st = ct_plan_create_stored(&params, &req->weight.shape, req->weight.data, req->bias.data,
                                         req->bias.data ? req->bias.shape.dims[0] : 0, storage, &l->plan, msg, sizeof msg);
    if (st != CT_OK) {
        ct_api_error_from_status(st, msg, err);
        free(l);
        return NULL;
    }
    ct_sha256 h;
    ct_sha256_init(&h);
    ct_sha256_update(&h, req->weight.data, (size_t)ct_shape_bytes(&req->weight.shape, sizeof(float)));
    if (req->bias.data)
        ct_sha256_update(&h, req->bias.data, sizeof(float) * (size_t)req->bias.shape.dims[0]);
    ct_sha256_hex(&h, l->sha256);
    atomic_store(&l->refs, 1);
    return l;
}

/* ------------------------------------------------------------------ table */

static int find(const ct_registry *r, const char *name)
{
    for (int i = 0; i < r->count; i++)
        if (strcmp(r->layers[i]->name, name) == 0)
            return i;
    return -1;
}

/* Puts l in the table (taking its reference); returns the layer it replaced or NULL. */
static ct_layer *swap_in(ct_registry *r, ct_layer *l, int *failed)
{
    ct_layer *old = NULL;
    *failed = 0;
    pthread_mutex_lock(&r->lock);
    int i = find(r, l->name);
    if (i >= 0) {
        old = r->layers[i];
        r->layers[i] = l;
    } else if (r->count < r->cap || (r->layers = realloc(r->layers, sizeof *r->layers * (size_t)(r->cap = r->cap ? 2 * r->cap : 16)))) {
        r->layers[r->count++] = l;
    } else {
        *failed = 1;
    }
    pthread_mutex_unlock(&r->lock);
    return old;
}

int ct_registry_put(ct_registry *r, const char *name, const ct_request *req, int *replaced, ct_layer **added, ct_api_error *err)
{
    ct_layer *l = layer_build(r, name, req, err);
    if (!l)
        return -1;
    pthread_mutex_lock(&r->store_lock);
    if (r->dir[0] && ct_store_write(r->dir, name, req, err) != 0) {
        pthread_mutex_unlock(&r->store_lock);
        layer_free(l);
        return -1;
    }
    int failed;
    atomic_fetch_add(&l->refs, 1); /* the caller's, taken before a DELETE can drop the table's */
    ct_layer *old = swap_in(r, l, &failed);
    pthread_mutex_unlock(&r->store_lock);
    if (failed) {
        layer_free(l);
        return ct_api_fail(err, 503, "out_of_memory", "out of memory");
    }
    *replaced = old != NULL;
    *added = l;
    ct_layer_release(old);
    return 0;
}

ct_layer *ct_registry_get(ct_registry *r, const char *name)
{
    pthread_mutex_lock(&r->lock);
    int i = find(r, name);
    ct_layer *l = i >= 0 ? r->layers[i] : NULL;
    if (l)
        atomic_fetch_add(&l->refs, 1);
    pthread_mutex_unlock(&r->lock);
    return l;
}

int ct_registry_remove(ct_registry *r, const char *name, int forget_files)
{
    pthread_mutex_lock(&r->store_lock);
    if (forget_files && r->dir[0] && ct_layer_name_valid(name) && ct_store_provided(r->dir, name)) {
        pthread_mutex_unlock(&r->store_lock);
        return -2; /* kept in memory too: memory and disk must agree */
    }
    pthread_mutex_lock(&r->lock);
    int i = find(r, name);
    ct_layer *l = NULL;
    if (i >= 0) {
        l = r->layers[i];
        r->layers[i] = r->layers[--r->count];
    }
    pthread_mutex_unlock(&r->lock);
    const int on_disk = forget_files && r->dir[0] && ct_store_delete(r->dir, name);
    pthread_mutex_unlock(&r->store_lock);
    ct_layer_release(l);
    return l || on_disk ? 0 : -1;
}

int ct_registry_load(ct_registry *r, const char *name, ct_api_error *err)
{
    if (!r->dir[0])
        return ct_api_fail(err, 404, "not_found", "layer %s: no --model-dir to load it from", name);
    ct_request req;
    /* held across read, build and swap: a PUT or DELETE meanwhile would leave the table
     * holding what the disk no longer does */
    pthread_mutex_lock(&r->store_lock);
    if (ct_store_read(r->dir, name, &req, err) != 0) {
        pthread_mutex_unlock(&r->store_lock);
        return -1;
    }
    ct_layer *l = layer_build(r, name, &req, err);
    ct_request_free(&req);
    if (!l || ct_api_warm_run(l->plan, err) != 0) { /* served warm: its first request pays no first run */
        if (l)
            layer_free(l);
        pthread_mutex_unlock(&r->store_lock);
        return -1;
    }
    int failed;
    ct_layer_release(swap_in(r, l, &failed));
    pthread_mutex_unlock(&r->store_lock);
    if (failed) {
        layer_free(l);
        return ct_api_fail(err, 503, "out_of_memory", "out of memory");
    }
    return 0;
}

int ct_registry_on_disk(const ct_registry *r, const char *name)
{
    return ct_store_has(r->dir, name);
}

int ct_registry_names(ct_registry *r, int on_disk, char ***names, int *count)
{
    int cap = 0, n = 0, failed = 0;
    char **out = NULL;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->count && !failed; i++)
        failed = ct_names_append(&out, &n, &cap, r->layers[i]->name) != 0;
    pthread_mutex_unlock(&r->lock);
    if (failed || (on_disk && ct_store_list(r->dir, &out, &n, &cap) != 0)) {
        ct_names_free(out, n);
        return -1;
    }
    *names = out;
    *count = n;
    return 0;
}

int ct_registry_open(ct_registry *r, const char *dir, const ct_api_limits *limits, char *msg, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->limits = *limits;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->store_lock, NULL);
    if (!dir || !dir[0])
        return 0;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    return ct_store_open(dir, msg, cap);
}

void ct_registry_close(ct_registry *r)
{
    for (int i = 0; i < r->count; i++)
        ct_layer_release(r->layers[i]);
    free(r->layers);
    r->layers = NULL;
    r->count = r->cap = 0;
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->store_lock);
}

int ct_layer_describe(const ct_layer *l, ct_buffer *out)
{
    const ct_shape *w = ct_plan_weight_shape(l->plan);
    const ct_params *p = ct_plan_params(l->plan);
    char head[1024];
    int n = snprintf(head, sizeof head, "{\"name\": \"%s\", \"spatial_dims\": %d, \"in_channels\": %lld, \"out_channels\": %lld, \"weight_shape\": [",
                     l->name, p->spatial_dims, (long long)ct_plan_in_channels(l->plan), (long long)ct_plan_out_channels(l->plan));
    for (int i = 0; i < w->rank; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%s%lld", i ? ", " : "", (long long)w->dims[i]);
    static const char *const storage[] = {"float32", "float16", "bfloat16"};
    n += snprintf(head + n, sizeof head - (size_t)n,
                  "], \"bias\": %s, \"sha256\": \"%s\", \"algorithm\": \"%s\", \"weight_dtype\": \"%s\", \"weight_bytes\": %lld, \"config\": ",
                  ct_plan_has_bias(l->plan) ? "true" : "false", l->sha256, ct_plan_algorithm(l->plan),
                  storage[ct_plan_weight_storage(l->plan)], (long long)ct_plan_weight_bytes(l->plan));
    if (ct_buffer_append(out, head, (size_t)n) != 0)
        return -1;
    ct_params params = *p;
    params.max_output_elements = 0;
    params.max_flops = 0;
    if (ct_params_to_json(&params, out) != 0)
        return -1;
    return ct_buffer_append(out, "}", 1);
}
