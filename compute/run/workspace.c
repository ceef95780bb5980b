/* workspace.c - the padded-input workspace a plan keeps between runs (run/run.c).
 *
 * A run pads its images into zero-bordered slots. Written once, a slot's borders stay zero
 * for any later image of the same layout, which then copies only its input rows. Each run
 * would otherwise allocate and zero its own slots; a registered layer serves request after
 * request of one input shape, so the plan keeps the last run's workspace and the next run of
 * the same layout skips the zeroing.
 * One run at a time holds it: a concurrent run of the plan takes a fresh one, so runs stay
 * reentrant. */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define KEEP_MAX_BYTES ((int64_t)16 << 20) /* larger workspaces are freed after their run */

struct ct_workspace {
    int busy;                    /* a run holds mem (atomic) */
    float *mem;
    int64_t bytes;
    int64_t key[CT_WORKSPACE_KEY];
    int64_t zeroed_slots;        /* slots 0 .. zeroed_slots - 1 have zero borders for key */
};

ct_workspace *ct__workspace_create(void) { return calloc(1, sizeof(ct_workspace)); }

void ct__workspace_destroy(ct_workspace *ws)
{
    if (ws)
        free(ws->mem);
    free(ws);
}

float *ct__workspace_take(ct_workspace *ws, int64_t bytes, const int64_t *key, int64_t *zeroed_slots, int *kept)
{
    *zeroed_slots = 0;
    *kept = ws && bytes <= KEEP_MAX_BYTES && !__atomic_exchange_n(&ws->busy, 1, __ATOMIC_ACQUIRE);
    if (*kept) {
        if (ws->mem && ws->bytes >= bytes && memcmp(ws->key, key, sizeof ws->key) == 0) {
            *zeroed_slots = ws->zeroed_slots;
            return ws->mem;
        }
        free(ws->mem);
        ws->mem = NULL;
        ws->zeroed_slots = 0;
    }
    float *mem = NULL;
    if (posix_memalign((void **)&mem, 64, (size_t)bytes + 64) != 0) {
        if (*kept)
            __atomic_store_n(&ws->busy, 0, __ATOMIC_RELEASE);
        return NULL;
    }
    if (*kept) {
        ws->mem = mem;
        ws->bytes = bytes;
        memcpy(ws->key, key, sizeof ws->key);
    }
    return mem;
}

void ct__workspace_give(ct_workspace *ws, float *mem, int kept, int64_t zeroed_slots)
{
    if (!kept) {
        free(mem);
        return;
    }
    ws->zeroed_slots = zeroed_slots;
    __atomic_store_n(&ws->busy, 0, __ATOMIC_RELEASE);
}
