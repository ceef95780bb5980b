/* oom_shim.c - an LD_PRELOAD library for the fault-injection tests: while the file named by
 * CT_FAULT_FLAG exists, every allocation of at least CT_FAULT_MALLOC_OVER bytes fails, as
 * when the machine is out of memory for one large request while small ones still fit.
 * Allocations go to glibc's own allocator (__libc_*), so this cannot run under ASan, which
 * owns malloc itself. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

static int refused(size_t bytes)
{
    static size_t over;
    if (!over) {
        const char *v = getenv("CT_FAULT_MALLOC_OVER");
        over = v ? (size_t)strtoull(v, NULL, 10) : (size_t)-1;
    }
    if (bytes < over)
        return 0;
    const char *flag = getenv("CT_FAULT_FLAG");
    return flag && access(flag, F_OK) == 0;
}

void *malloc(size_t n)
{
    return refused(n) ? (errno = ENOMEM, NULL) : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    return n && size && refused(n * size) ? (errno = ENOMEM, NULL) : __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    return refused(n) ? (errno = ENOMEM, NULL) : __libc_realloc(p, n);
}

int posix_memalign(void **out, size_t alignment, size_t n)
{
    if (refused(n))
        return ENOMEM;
    void *p = __libc_memalign(alignment, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t n)
{
    return refused(n) ? (errno = ENOMEM, NULL) : __libc_memalign(alignment, n);
}

void free(void *p)
{
    __libc_free(p);
}
