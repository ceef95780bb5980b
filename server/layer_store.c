/* layer_store.c - see layer_store.h. Layer NAME is the symlink DIR/NAME to a folder
 * DIR/.NAME.GENERATION holding config.json, weight.npy and (when there is one) bias.npy.
 * A write makes and fsyncs a new folder, then renames a new symlink over DIR/NAME (atomic)
 * and fsyncs DIR: a crash or SIGKILL at any point leaves the old layer or the new one. At
 * open, folders no symlink points to (an interrupted write, or an old version not yet
 * removed) are deleted.
 *
 * A plain folder DIR/NAME holding the same files (as KServe's storage initializer, a
 * ConfigMap or a `cp -rL` of a store lays them out, with no symlinks) is a provided layer:
 * read like the others, but its owner's, so writing or deleting it is refused (409) rather
 * than half-done on a volume that is often mounted read-only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layer_store.h"
#include "log.h"

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

int ct_store_provided(const char *dir, const char *name)
{
    char path[1400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ct_store_provided_error(const char *name, const char *what, ct_api_error *err)
{
    return ct_api_fail(err, 409, "layer_provided",
                       "layer %s: a folder of --model-dir put there by its owner (no symlink of this daemon's), so it cannot be %s "
                       "through the API; change it in the folder's source", name, what);
}

int ct_store_write(const char *dir, const char *name, const ct_request *req, ct_api_error *err)
{
    if (ct_store_provided(dir, name))
        return ct_store_provided_error(name, "replaced", err);
    char folder[160], tmp_link[200], link_path[1200], full[1200], old[1200] = "";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(folder, sizeof folder, ".%s.%lld%09ld", name, (long long)ts.tv_sec, ts.tv_nsec);
    snprintf(full, sizeof full, "%s/%s", dir, folder);
    ct_buffer config = {0}, weight = {0}, bias = {0};
    int ok = mkdir(full, 0755) == 0;
    ok = ok && ct_params_to_json(&req->params, &config) == 0 && ct_npy_write_as(&req->weight.shape, req->weight.data, req->weight.dtype, &weight) == 0;
    ok = ok && (!req->bias.data || ct_npy_write(&req->bias.shape, req->bias.data, &bias) == 0);
    ok = ok && write_file(full, "config.json", config.data, config.len) == 0 && write_file(full, "weight.npy", weight.data, weight.len) == 0;
    ok = ok && (!req->bias.data || write_file(full, "bias.npy", bias.data, bias.len) == 0);
    ok = ok && fsync_path(full) == 0;
    int e = ok ? 0 : errno; /* the first failure's reason */
    ct_buffer_free(&config);
    ct_buffer_free(&weight);
    ct_buffer_free(&bias);
    snprintf(link_path, sizeof link_path, "%s/%s", dir, name);
    ssize_t n = readlink(link_path, old, sizeof old - 1);
    old[n > 0 ? n : 0] = '\0';
    snprintf(tmp_link, sizeof tmp_link, "%s.link", folder);
    char tmp_link_path[1300];
    snprintf(tmp_link_path, sizeof tmp_link_path, "%s/%s", dir, tmp_link);
    ok = ok && symlink(folder, tmp_link_path) == 0;
    ok = ok && rename(tmp_link_path, link_path) == 0; /* the commit point */
    if (!ok) {
        if (!e)
            e = errno;
        unlink(tmp_link_path);
        remove_version(dir, folder);
        /* a full disk is the operator's to fix (507, as WebDAV names it); the old layer stays */
        if (e == ENOSPC || e == EDQUOT)
            return ct_api_fail(err, 507, "insufficient_storage", "layer %s: --model-dir is full (%s); the previous version is kept", name,
                               strerror(e));
        return ct_api_fail(err, 500, "storage_error", "layer %s: cannot be written to --model-dir (%s); the previous version is kept", name,
                           strerror(e));
    }
    fsync_path(dir);
    if (old[0] && strcmp(old, folder) != 0)
        remove_version(dir, old);
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

int ct_store_read(const char *dir, const char *name, ct_request *req, ct_api_error *err)
{
    char path[1200];
    ct_buffer config = {0}, weight = {0}, bias = {0};
    ct_api_limits limits = {.max_elements = INT64_MAX / 8};
    int rc = -1;
    memset(req, 0, sizeof *req);
    snprintf(path, sizeof path, "%s/%s/weight.npy", dir, name);
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
    snprintf(path, sizeof path, "%s/%s/config.json", dir, name);
    if (read_whole(path, &config) != 0 || ct_json_parse_config(config.data, config.len, nd, &req->params, err) != 0) {
        if (!err->message[0])
            ct_api_fail(err, 400, "invalid_config", "config.json: missing");
        goto done;
    }
    snprintf(path, sizeof path, "%s/%s/bias.npy", dir, name);
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

int ct_store_has(const char *dir, const char *name)
{
    char link_path[1400], target[8];
    snprintf(link_path, sizeof link_path, "%s/%s", dir, name);
    return dir[0] && ct_layer_name_valid(name) && (readlink(link_path, target, sizeof target) > 0 || ct_store_provided(dir, name));
}

int ct_store_delete(const char *dir, const char *name)
{
    char link_path[1400], target[1200];
    snprintf(link_path, sizeof link_path, "%s/%s", dir, name);
    ssize_t n = readlink(link_path, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    const int removed = unlink(link_path) == 0;
    fsync_path(dir);
    remove_version(dir, target);
    return removed;
}

int ct_store_list(const char *dir, char ***names, int *n, int *cap)
{
    DIR *d = dir[0] ? opendir(dir) : NULL;
    struct dirent *e;
    int failed = 0;
    while (d && !failed && (e = readdir(d)))
        if (ct_layer_name_valid(e->d_name) && !ct_names_listed(*names, *n, e->d_name))
            failed = ct_names_append(names, n, cap, e->d_name) != 0;
    if (d)
        closedir(d);
    return failed ? -1 : 0;
}

int ct_names_listed(char *const *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

int ct_names_append(char ***list, int *n, int *cap, const char *name)
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

void ct_names_free(char **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

int ct_store_open(const char *dir, char *msg, size_t cap)
{
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
            failed = ct_names_append(&in_use, &nuse, &use_cap, target) != 0;
            on_disk++;
        } else if (ct_store_provided(dir, e->d_name)) {
            on_disk++;
        }
    }
    /* Remove version folders and links that no layer points to: interrupted writes. Not
     * when the list of those in use is incomplete (out of memory): a folder in use would go. */
    rewinddir(d);
    while (!failed && (e = readdir(d))) {
        if (e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || ct_names_listed(in_use, nuse, e->d_name))
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
    ct_names_free(in_use, nuse);
    ct_log(CT_LOG_INFO, "model-dir %s: %d layers to load", dir, on_disk);
    return 0;
}

