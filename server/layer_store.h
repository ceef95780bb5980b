/* layer_store.h - registered layers on disk (--model-dir): each layer a folder of
 * config.json, weight.npy and bias.npy, written atomically, read back at start; and the
 * plain folders an owner provides (KServe's storage initializer, a copied store), read but
 * never written. Knows files, not the table in memory (registry.c). */
#ifndef CT_SERVER_LAYER_STORE_H
#define CT_SERVER_LAYER_STORE_H

#include "api.h"

#define CT_LAYER_NAME_MAX 64

/* Whether name matches [A-Za-z0-9][A-Za-z0-9_.-]{0,63}. */
int ct_layer_name_valid(const char *name);

/* Creates dir if need be and removes what interrupted writes left there. 0, or -1 with msg
 * when it cannot be opened. */
int ct_store_open(const char *dir, char *msg, size_t cap);

/* Writes req's layer (weight, bias, params) as dir/name, replacing the old one atomically.
 * 0, or -1 with err: 507 when the disk is full, 409 for a provided folder, 500 otherwise;
 * the old layer is kept on any failure. */
int ct_store_write(const char *dir, const char *name, const ct_request *req, ct_api_error *err);

/* Reads dir/name into req (the caller frees it with ct_request_free). 0, or -1 with err. */
int ct_store_read(const char *dir, const char *name, ct_request *req, ct_api_error *err);

/* Whether dir/name is a layer on disk (ours or provided); whether it is a provided one. */
int ct_store_has(const char *dir, const char *name);
int ct_store_provided(const char *dir, const char *name);

/* The 409 for writing or deleting (`what`: "replaced", "deleted") a provided folder. -1. */
int ct_store_provided_error(const char *name, const char *what, ct_api_error *err);

/* Removes our layer dir/name (never a provided one). 1 when it was on disk, else 0. */
int ct_store_delete(const char *dir, const char *name);

/* Appends the names of the layers in dir not in *names yet. 0, or -1 out of memory. */
int ct_store_list(const char *dir, char ***names, int *n, int *cap);

/* Lists of names: whether name is one of the n; append a copy (growing *cap); free. */
int ct_names_listed(char *const *list, int n, const char *name);
int ct_names_append(char ***list, int *n, int *cap, const char *name);
void ct_names_free(char **names, int count);

#endif /* CT_SERVER_LAYER_STORE_H */
