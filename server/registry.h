/* registry.h - registered layers: weights uploaded once, packed once into a plan, kept in
 * memory and (with --model-dir) on disk, shared by any number of requests.
 *
 * Lock rule: the registry's mutex guards only its table; plans are built, files written
 * and requests computed without it. A layer is reference-counted: a request holds a
 * reference for as long as it computes, so replacing or deleting a layer never disturbs
 * requests already running on it. */
#ifndef CT_SERVER_REGISTRY_H
#define CT_SERVER_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>

#include "api.h"
#include "layer_store.h"


typedef struct ct_layer {
    char name[CT_LAYER_NAME_MAX + 1];
    ct_plan *plan;
    char sha256[65];             /* of the weight's float32 bytes, then the bias's */
    atomic_int refs;
    /* statistics (the Open Inference Protocol's statistics extension and /metrics) */
    atomic_llong success, failure, success_ns, failure_ns, queue_ns, compute_ns;
    atomic_llong last_inference_ms;
} ct_layer;

typedef struct ct_registry {
    pthread_mutex_t lock;        /* the table */
    pthread_mutex_t store_lock;  /* changes: held from the disk write to the table swap, so
                                    memory and --model-dir agree after any interleaving of
                                    PUT, DELETE and load (plans are built before it) */
    ct_layer **layers;
    int count, cap;
    char dir[1024];              /* "" = memory only */
    ct_api_limits limits;        /* the server's caps (output elements, FLOPs), given to every plan */
} ct_registry;


/* Opens the registry; with a directory, removes leftovers of interrupted writes there (the
 * layers in it are loaded afterwards, one by one: ct_registry_load, warmup.c). 0 or -1 with
 * msg. */
int ct_registry_open(ct_registry *r, const char *dir, const ct_api_limits *limits, char *msg, size_t cap);
void ct_registry_close(ct_registry *r);

/* Builds a plan from req (weight, bias, params; no input) and stores it under name,
 * replacing any layer of that name: on disk first (atomically), then in memory.
 * *replaced tells which; *added gets a reference to the stored layer (the caller releases
 * it), valid even if a DELETE removes the layer at once. 0 or -1 with err. */
int ct_registry_put(ct_registry *r, const char *name, const ct_request *req, int *replaced, ct_layer **added, ct_api_error *err);

/* A new reference to the named layer, or NULL. Release with ct_layer_release. */
ct_layer *ct_registry_get(ct_registry *r, const char *name);
void ct_layer_release(ct_layer *l);

/* Removes the layer from memory and, when forget_files, from disk. 0, -1 if absent, or -2
 * (nothing removed) when forget_files and it is a provided folder (registry.c), not ours. */
int ct_registry_remove(ct_registry *r, const char *name, int forget_files);

/* Loads (or reloads) one layer from the directory and runs it once on a small input
 * (ct_api_warm_run) before it is served. 0 or -1 with err. */
int ct_registry_load(ct_registry *r, const char *name, ct_api_error *err);

/* Whether --model-dir holds a layer of that name (loaded or not). */
int ct_registry_on_disk(const ct_registry *r, const char *name);

/* Names of the layers in memory (malloc'd array of malloc'd strings; free with
 * ct_names_free), and with on_disk, of those on disk too (unloaded ones). */
int ct_registry_names(ct_registry *r, int on_disk, char ***names, int *count);

/* Appends the layer's description as a JSON object: name, hyperparameters, shapes, bias,
 * sha256, algorithm. */
int ct_layer_describe(const ct_layer *l, ct_buffer *out);

#endif /* CT_SERVER_REGISTRY_H */
