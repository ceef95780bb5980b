/* registry.c - see registry.h. On disk, layer NAME is the symlink DIR/NAME to a folder
 * DIR/.NAME.GENERATION holding config.json, weight.npy and (when there is one) bias.npy.
 * A PUT writes and fsyncs a new folder, then renames a new symlink over DIR/NAME (atomic)
 * and fsyncs DIR: a crash or SIGKILL at any point leaves the old layer or the new one. At
 * start, folders no symlink points to (an interrupted PUT, or an old version not yet
 * removed) are deleted.
 *
 * A plain folder DIR/NAME holding the same files (as KServe's storage initializer, a
 * ConfigMap or a `cp -rL` of a store lays them out, with no symlinks) is a provided layer:
 * loaded and served like the others, but its owner's, so a PUT or DELETE of it is refused
 * (409) rather than half-done on a volume that is often mounted read-only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "registry.h"
#include "sha256.h"

int ct_layer_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CT_LAYER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return 0;
    }
    return 1;
}

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
    ct_status st = ct_plan_create(&params, &req->weight.shape, req->weight.data, req->bias.data,
                                  req->bias.data ? req->bias.shape.dims[0] : 0, &l->plan, msg, sizeof msg);
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

/* ------------------------------------------------------------------ disk */

static int write_file(const char *dir, const char *file, const void *data, size_t len)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC; /* the caller reports why: close must not change it */
            close(fd);
            errno = e;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    int rc = fsync(fd), e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Removes a version folder (only our three files can be in it). */
static void remove_version(const char *dir, const char *folder)
{
    static const char *const files[] = {"config.json", "weight.npy", "bias.npy"};
    char path[1200];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s/%s", dir, folder, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/%s", dir, folder);
    rmdir(path);
}

/* Whether DIR/NAME is a provided layer: a real folder, not this daemon's symlink. */
static int provided_folder(const ct_registry *r, const char *name)
{
    char path[sizeof r->dir + 300];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", r->dir, name);
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ct_registry_provided_error(const char *name, const char *what, ct_api_error *err)
{
    return ct_api_fail(err, 409, "layer_provided",
                       "layer %s: a folder of --model-dir put there by its owner (no symlink of this daemon's), so it cannot be %s "
                       "through the API; change it in the folder's source", name, what);
}

static int persist(const ct_registry *r, const char *name, const ct_request *req, ct_api_error *err)
{
    if (provided_folder(r, name))
        return ct_registry_provided_error(name, "replaced", err);
    char folder[160], tmp_link[200], link_path[1200], full[1200], old[1200] = "";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(folder, sizeof folder, ".%s.%lld%09ld", name, (long long)ts.tv_sec, ts.tv_nsec);
    snprintf(full, sizeof full, "%s/%s", r->dir, folder);
    ct_buffer config = {0}, weight = {0}, bias = {0};
    int ok = mkdir(full, 0755) == 0;
    ok = ok && ct_params_to_json(&req->params, &config) == 0 && ct_npy_write(&req->weight.shape, req->weight.data, &weight) == 0;
    ok = ok && (!req->bias.data || ct_npy_write(&req->bias.shape, req->bias.data, &bias) == 0);
    ok = ok && write_file(full, "config.json", config.data, config.len) == 0 && write_file(full, "weight.npy", weight.data, weight.len) == 0;
    ok = ok && (!req->bias.data || write_file(full, "bias.npy", bias.data, bias.len) == 0);
    ok = ok && fsync_path(full) == 0;
    int e = ok ? 0 : errno; /* the first failure's reason */
    ct_buffer_free(&config);
    ct_buffer_free(&weight);
    ct_buffer_free(&bias);
    snprintf(link_path, sizeof link_path, "%s/%s", r->dir, name);
    ssize_t n = readlink(link_path, old, sizeof old - 1);
    old[n > 0 ? n : 0] = '\0';
    snprintf(tmp_link, sizeof tmp_link, "%s.link", folder);
    char tmp_link_path[1300];
    snprintf(tmp_link_path, sizeof tmp_link_path, "%s/%s", r->dir, tmp_link);
    ok = ok && symlink(folder, tmp_link_path) == 0;
    ok = ok && rename(tmp_link_path, link_path) == 0; /* the commit point */
    if (!ok) {
        if (!e)
            e = errno;
        unlink(tmp_link_path);
        remove_version(r->dir, folder);
        /* a full disk is the operator's to fix (507, as WebDAV names it); the old layer stays */
        if (e == ENOSPC || e == EDQUOT)
            return ct_api_fail(err, 507, "insufficient_storage", "layer %s: --model-dir is full (%s); the previous version is kept", name,
                               strerror(e));
        return ct_api_fail(err, 500, "storage_error", "layer %s: cannot be written to --model-dir (%s); the previous version is kept", name,
                           strerror(e));
    }
    fsync_path(r->dir);
    if (old[0] && strcmp(old, folder) != 0)
        remove_version(r->dir, old);
    return 0;
}

static int read_whole(const char *path, ct_buffer *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (ct_buffer_append(out, chunk, n) != 0)
            break;
    int rc = ferror(f) ? -1 : 0;
    fclose(f);
    return rc;
}

/* Reads DIR/NAME into a request (weight, bias, params). */
static int read_layer(const ct_registry *r, const char *name, ct_request *req, ct_api_error *err)
{
    char path[1200];
    ct_buffer config = {0}, weight = {0}, bias = {0};
    ct_api_limits limits = {.max_elements = INT64_MAX / 8};
    int rc = -1;
    memset(req, 0, sizeof *req);
    snprintf(path, sizeof path, "%s/%s/weight.npy", r->dir, name);
    if (read_whole(path, &weight) != 0) {
        ct_api_fail(err, 404, "not_found", "layer %s: not found in --model-dir", name);
        goto done;
    }
    if (ct_npy_parse(weight.data, weight.len, &limits, "weight.npy", &req->weight, err) != 0)
        goto done;
    int nd = req->weight.shape.rank - 2;
    if (nd < 1 || nd > CT_MAX_SPATIAL) {
        ct_api_fail(err, 400, "invalid_rank", "weight.npy: must have 3 to 5 dims");
        goto done;
    }
    ct_params_init(&req->params, nd);
    snprintf(path, sizeof path, "%s/%s/config.json", r->dir, name);
    if (read_whole(path, &config) != 0 || ct_json_parse_config(config.data, config.len, nd, &req->params, err) != 0) {
        if (!err->message[0])
            ct_api_fail(err, 400, "invalid_config", "config.json: missing");
        goto done;
    }
    snprintf(path, sizeof path, "%s/%s/bias.npy", r->dir, name);
    if (read_whole(path, &bias) == 0 && ct_npy_parse(bias.data, bias.len, &limits, "bias.npy", &req->bias, err) != 0)
        goto done;
    rc = 0;
done:
    ct_buffer_free(&config);
    ct_buffer_free(&weight);
    ct_buffer_free(&bias);
    if (rc != 0)
        ct_request_free(req);
    return rc;
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
    if (r->dir[0] && persist(r, name, req, err) != 0) {
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
    if (forget_files && r->dir[0] && ct_layer_name_valid(name) && provided_folder(r, name)) {
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
    int on_disk = 0;
    if (forget_files && r->dir[0]) {
        char link_path[1200], target[1200];
        snprintf(link_path, sizeof link_path, "%s/%s", r->dir, name);
        ssize_t n = readlink(link_path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            on_disk = unlink(link_path) == 0;
            fsync_path(r->dir);
            remove_version(r->dir, target);
        }
    }
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
    if (read_layer(r, name, &req, err) != 0) {
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
    char link_path[1200], target[8];
    snprintf(link_path, sizeof link_path, "%s/%s", r->dir, name);
    return r->dir[0] && ct_layer_name_valid(name) && (readlink(link_path, target, sizeof target) > 0 || provided_folder(r, name));
}

/* Whether name is one of list's n strings. */
static int name_listed(char *const *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* Appends a copy of name to *list (n strings, room for *cap, grown as needed). 0, or -1
 * out of memory. */
static int name_append(char ***list, int *n, int *cap, const char *name)
{
    if (*n == *cap) {
        int grown = *cap ? *cap * 2 : 16;
        char **more = realloc(*list, sizeof *more * (size_t)grown);
        if (!more)
            return -1;
        *list = more;
        *cap = grown;
    }
    if (!((*list)[*n] = strdup(name)))
        return -1;
    (*n)++;
    return 0;
}

int ct_registry_names(ct_registry *r, int on_disk, char ***names, int *count)
{
    int cap = 0, n = 0, failed = 0;
    char **out = NULL;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->count && !failed; i++)
        failed = name_append(&out, &n, &cap, r->layers[i]->name) != 0;
    pthread_mutex_unlock(&r->lock);
    DIR *d = on_disk && r->dir[0] ? opendir(r->dir) : NULL;
    struct dirent *e;
    while (d && !failed && (e = readdir(d)))
        if (ct_layer_name_valid(e->d_name) && !name_listed(out, n, e->d_name))
            failed = name_append(&out, &n, &cap, e->d_name) != 0;
    if (d)
        closedir(d);
    if (failed) {
        ct_registry_free_names(out, n);
        return -1;
    }
    *names = out;
    *count = n;
    return 0;
}

void ct_registry_free_names(char **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
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
    mkdir(dir, 0755);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(msg, cap, "--model-dir %s: cannot be opened: %s", dir, strerror(errno));
        return -1;
    }
    /* Remember the folders in use; the layers are loaded later (warmup.c), while serving. */
    char **in_use = NULL;
    int nuse = 0, use_cap = 0, on_disk = 0, failed = 0;
    struct dirent *e;
    while (!failed && (e = readdir(d))) {
        if (!ct_layer_name_valid(e->d_name))
            continue;
        char link_path[1200], target[1200];
        snprintf(link_path, sizeof link_path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link_path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            failed = name_append(&in_use, &nuse, &use_cap, target) != 0;
            on_disk++;
        } else if (provided_folder(r, e->d_name)) {
            on_disk++;
        }
    }
    /* Remove version folders and links that no layer points to: interrupted writes. Not
     * when the list of those in use is incomplete (out of memory): a folder in use would go. */
    rewinddir(d);
    while (!failed && (e = readdir(d))) {
        if (e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || name_listed(in_use, nuse, e->d_name))
            continue;
        size_t len = strlen(e->d_name);
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".link") == 0)
            unlink(path);
        else
            remove_version(dir, e->d_name);
        ct_log(CT_LOG_INFO, "model-dir: removed %s, left by an interrupted write", e->d_name);
    }
    closedir(d);
    ct_registry_free_names(in_use, nuse);
    ct_log(CT_LOG_INFO, "model-dir %s: %d layers to load", dir, on_disk);
    return 0;
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
    char head[512];
    int n = snprintf(head, sizeof head, "{\"name\": \"%s\", \"spatial_dims\": %d, \"in_channels\": %lld, \"out_channels\": %lld, \"weight_shape\": [",
                     l->name, p->spatial_dims, (long long)ct_plan_in_channels(l->plan), (long long)ct_plan_out_channels(l->plan));
    for (int i = 0; i < w->rank; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%s%lld", i ? ", " : "", (long long)w->dims[i]);
    n += snprintf(head + n, sizeof head - (size_t)n, "], \"bias\": %s, \"sha256\": \"%s\", \"algorithm\": \"%s\", \"config\": ",
                  ct_plan_has_bias(l->plan) ? "true" : "false", l->sha256, ct_plan_algorithm(l->plan));
    if (ct_buffer_append(out, head, (size_t)n) != 0)
        return -1;
    ct_params params = *p;
    params.max_output_elements = 0;
    params.max_flops = 0;
    if (ct_params_to_json(&params, out) != 0)
        return -1;
    return ct_buffer_append(out, "}", 1);
}
