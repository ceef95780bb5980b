/* clock_shim.c - an LD_PRELOAD library for the fault-injection tests: the wall clock jumps.
 * clock_gettime(CLOCK_REALTIME...), gettimeofday() and time() return the real time plus the
 * number of seconds written in the file CT_FAULT_CLOCK (0 when it is absent or empty), read
 * again at every call, so a test moves the daemon's wall clock back and forth while it runs.
 * The monotonic clocks are untouched, as on a machine whose NTP steps the time. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long offset_seconds(void)
{
    const char *path = getenv("CT_FAULT_CLOCK");
    FILE *f = path ? fopen(path, "r") : NULL;
    long long s = 0;
    if (f) {
        if (fscanf(f, "%lld", &s) != 1)
            s = 0;
        fclose(f);
    }
    return s;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    if (!real)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += offset_seconds();
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    static int (*real)(struct timeval *restrict, void *restrict);
    if (!real)
        real = (int (*)(struct timeval *restrict, void *restrict))dlsym(RTLD_NEXT, "gettimeofday");
    int rc = real(tv, tz);
    if (rc == 0)
        tv->tv_sec += offset_seconds();
    return rc;
}

time_t time(time_t *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
