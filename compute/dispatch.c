/* dispatch.c - picks the microkernel ISA for this CPU once, at first use, and reads the
 * cache size that decides when outputs are streamed past the cache. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convtranspose.h"
#include "kernels/igemm.h"

static const ct_isa_config *chosen_isa;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static int cpu_has(const char *isa)
{
    __builtin_cpu_init();
    if (strcmp(isa, "avx512") == 0 || strcmp(isa, "avx512_ymm") == 0) /* the pair needs both */
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    if (strcmp(isa, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return strcmp(isa, "generic") == 0;
}

static void choose_isa(void)
{
    static const ct_isa_config *const by_preference[] = {&ct__isa_avx512, &ct__isa_avx2, &ct__isa_generic};
    const char *forced = getenv("CT_FORCE_ISA");
    for (size_t i = 0; forced && i < sizeof by_preference / sizeof by_preference[0]; i++) {
        if (strcmp(forced, by_preference[i]->name) == 0 && cpu_has(forced)) {
            chosen_isa = by_preference[i];
            return;
        }
    }
    for (size_t i = 0; i < sizeof by_preference / sizeof by_preference[0]; i++) {
        if (cpu_has(by_preference[i]->name)) {
            chosen_isa = by_preference[i];
            return;
        }
    }
}

static const ct_isa_config *forced_isa; /* test hook: see ct__force_isa */

const ct_isa_config *ct__isa_config(void)
{
    pthread_once(&chosen_once, choose_isa);
    return forced_isa ? forced_isa : chosen_isa;
}

int ct__force_isa(const char *name)
{
    static const ct_isa_config *const all[] = {&ct__isa_avx512, &ct__isa_avx512_ymm, &ct__isa_avx2,
                                               &ct__isa_generic};
    if (!name) {
        forced_isa = NULL;
        return 1;
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, all[i]->name) == 0 && cpu_has(name)) {
            forced_isa = all[i];
            return 1;
        }
    }
    return 0;
}

void ct__force_isa_config(const ct_isa_config *config)
{
    forced_isa = config;
}

const char *ct_cpu_isa(void)
{
    return ct__isa_config()->name;
}

/* A cache size from sysconf, read once (a benign race: every thread computes the same value):
 * `fallback` when unknown, at most `cap`; `forced` (a test hook's value) when set. */
static int64_t cache_bytes(int64_t forced, int64_t *cached, int name, int64_t fallback, int64_t cap)
{
    if (forced > 0)
        return forced;
    if (*cached == 0) {
        long size = sysconf(name);
        *cached = size <= 0 ? fallback : size < cap ? size : cap;
    }
    return *cached;
}

static int64_t forced_llc, forced_l2; /* test hooks: see ct__force_llc_bytes, ct__force_l2_bytes */

int64_t ct__llc_bytes(void)
{
    /* Virtual machines may report the host's whole L3 (256 MiB here); a core complex shares
     * at most 32 MiB on current x86 parts, so no more is counted (also when unknown). */
    static int64_t llc;
    return cache_bytes(forced_llc, &llc, _SC_LEVEL3_CACHE_SIZE, (int64_t)32 << 20, (int64_t)32 << 20);
}

void ct__force_llc_bytes(int64_t bytes)
{
    forced_llc = bytes;
}

int64_t ct__l2_bytes(void)
{
    static int64_t l2;
    return cache_bytes(forced_l2, &l2, _SC_LEVEL2_CACHE_SIZE, (int64_t)1 << 20, INT64_MAX);
}

void ct__force_l2_bytes(int64_t bytes)
{
    forced_l2 = bytes;
}
