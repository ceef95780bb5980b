/* fault_shim.c - an LD_PRELOAD library for the fault-injection tests: while the file named by
 * CT_FAULT_FLAG exists, write() and fsync() on files opened under CT_FAULT_DIR fail with
 * ENOSPC, as on a full disk. Everything else (sockets, the log, other files) is untouched, so
 * the daemon keeps serving while its model store cannot be written. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FDS 65536
static unsigned char under_dir[MAX_FDS];

static int faulting(void)
{
    const char *flag = getenv("CT_FAULT_FLAG");
    return flag && access(flag, F_OK) == 0;
}

static int in_fault_dir(const char *path)
{
    const char *dir = getenv("CT_FAULT_DIR");
    return dir && *dir && strncmp(path, dir, strlen(dir)) == 0;
}

int open(const char *path, int flags, ...)
{
    static int (*real_open)(const char *, int, ...);
    if (!real_open)
        real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int fd = real_open(path, flags, mode);
    if (fd >= 0 && fd < MAX_FDS)
        under_dir[fd] = (unsigned char)in_fault_dir(path);
    return fd;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real_write)(int, const void *, size_t);
    if (!real_write)
        real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (fd >= 0 && fd < MAX_FDS && under_dir[fd] && faulting()) {
        errno = ENOSPC;
        return -1;
    }
    return real_write(fd, buf, n);
}

int fsync(int fd)
{
    static int (*real_fsync)(int);
    if (!real_fsync)
        real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (fd >= 0 && fd < MAX_FDS && under_dir[fd] && faulting()) {
        errno = ENOSPC;
        return -1;
    }
    return real_fsync(fd);
}

int close(int fd)
{
    static int (*real_close)(int);
    if (!real_close)
        real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd < MAX_FDS)
        under_dir[fd] = 0;
    return real_close(fd);
}
