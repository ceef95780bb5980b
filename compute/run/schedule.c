/* schedule.c - the body of a run's parallel region. Images are padded into a ring of slots
 * that stays in cache, and (image, group, block of pixel tiles, block of channels) items go
 * to the threads from one counter. There is no barrier between images: an image is padded
 * by the threads that first need it (or ahead, by one finishing the image before), so no
 * thread idles at the end of a batch step while another finishes its last item. */
#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "plan.h"

/* Sets output plane `plane_idx` (n * C_out + co) to its bias (or zero). */
static void fill_bias_plane(const run_ctx *c, int64_t plane_idx)
{
    float *dst = c->y + plane_idx * c->out_plane;
    float value = c->plan->bias ? c->plan->bias[plane_idx % c->plan->out_channels] : 0.0f;
    for (int64_t i = 0; i < c->out_plane; i++)
        dst[i] = value;
}

/* Test hooks (ct__slow_owner_for_tests): one team member made slow, and a count of the
 * images that helpers took over from their owners. */
static int slow_thread = -1;
static int64_t slow_us, taken_over;

void ct__slow_owner_for_tests(int thread, int64_t us)
{
    slow_thread = thread;
    slow_us = us;
    __atomic_store_n(&taken_over, 0, __ATOMIC_RELAXED);
}

int64_t ct__images_taken_over(void)
{
    return __atomic_load_n(&taken_over, __ATOMIC_RELAXED);
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits are short (another thread finishing an item or a few planes), so spin; past a while
 * yield, in case that thread is not running (more threads than cores). */
static void wait_for_count(const int64_t *count, int64_t target)
{
    for (int spins = 0; __atomic_load_n(count, __ATOMIC_ACQUIRE) < target; spins++) {
        if (spins < 4096)
            cpu_relax();
        else
            sched_yield();
    }
}

/* Whether image n's slot is free: every item of the image before it there has finished. */
static int slot_free(const run_ctx *c, int64_t n)
{
    return n < c->slots ||
           __atomic_load_n(&c->sync[n - c->slots].items_done, __ATOMIC_ACQUIRE) >= c->items_per_image;
}

/* Pads planes of image n, a claimed run at a time, until none are left to claim. */
static void pad_claimed_planes(const run_ctx *c, int64_t n)
{
    const int64_t cin = c->plan->in_channels;
    image_sync *s = &c->sync[n];
    float *slot = c->xpad + n % c->slots * c->image_stride;
    for (;;) {
        const int64_t p0 = __atomic_fetch_add(&s->planes_claimed, c->pad_chunk, __ATOMIC_RELAXED);
        if (p0 >= cin)
            return;
        const int64_t p1 = p0 + c->pad_chunk < cin ? p0 + c->pad_chunk : cin;
        for (int64_t ci = p0; ci < p1 && !ct__run_cancelled(c); ci++) /* cancelled: counted, not copied */
            if (c->flat)
                ct__pad_plane_flat(c, n * cin + ci, slot + ci * c->plane, n >= c->slots || n < c->zeroed_slots);
            else
                ct__pad_plane(c, n * cin + ci, slot + ci * c->ext[2], n >= c->slots || n < c->zeroed_slots);
        __atomic_fetch_add(&s->planes_done, p1 - p0, __ATOMIC_RELEASE);
    }
}

/* Returns once image n is padded, helping to pad it (after waiting for its slot). */
static void ensure_padded(const run_ctx *c, int64_t n)
{
    image_sync *s = &c->sync[n];
    const int64_t cin = c->plan->in_channels;
    if (__atomic_load_n(&s->planes_done, __ATOMIC_ACQUIRE) >= cin)
        return;
    if (n >= c->slots) /* its items were all handed out before any of image n: they finish */
        wait_for_count(&c->sync[n - c->slots].items_done, c->items_per_image);
    pad_claimed_planes(c, n);
    wait_for_count(&s->planes_done, cin);
}

static void run_item(const run_ctx *c, int64_t i, float *scratch, int scratch_used)
{
    if (c->plan->depthwise)
        ct__run_depthwise_item(c, i, scratch, scratch_used);
    else
        ct__run_phase_item(c, i, scratch);
}


/* Runs item i, or marks the run failed when the thread has no scratch. */
static void run_item_or_fail(const run_ctx *c, int64_t i, float *scratch, int scratch_used, int *failed)
{
    if (ct__run_cancelled(c))
        return;
    if (scratch)
        run_item(c, i, scratch, scratch_used);
    else
#pragma omp atomic write
        *failed = 1;
}

/* Runs the items of padded image n that no thread has taken yet; returns whether it ran any. */
static int run_owned_items(const run_ctx *c, int64_t n, float *scratch, int scratch_used, int *failed)
{
    /* Taken a few at a time where each locked add would wait for the thread's pending
     * stores to drain: light depthwise items (a plane each) and streamed outputs, whose
     * stores drain to memory. */
    const int64_t per_image = c->items_per_image;
    const int64_t take = c->plan->depthwise || c->stream ? ceil_div(per_image, 16) : 1;
    int ran = 0;
    for (int64_t j; (j = __atomic_fetch_add(&c->sync[n].items_taken, take, __ATOMIC_RELAXED)) < per_image;) {
        const int64_t end = j + take < per_image ? j + take : per_image;
        for (int64_t i = n * per_image + j; i < n * per_image + end; i++) {
            run_item_or_fail(c, i, scratch, scratch_used || ran, failed);
            ran = 1;
        }
        __atomic_fetch_add(&c->sync[n].items_done, end - j, __ATOMIC_RELEASE);
    }
    return ran;
}

/* A thread done with its own images takes what is left of the others': items of padded
 * images, and whole images whose owner has not reached them yet once their slot is free (it
 * pads them itself; never one whose slot another image still holds). It keeps at it until
 * every owned item is taken, so that an owner slowed down (its core shared with another
 * process) ends no later than the rest: each waits only for a slot to free, helping with
 * the image that holds it meanwhile. Returns whether it ran any item. */
static int help_with_owned_images(const run_ctx *c, float *scratch, int scratch_used, int *failed)
{
    const ct_plan *plan = c->plan;
    int ran = 0;
    for (int spins = 0;; spins++) {
        int left = 0, progress = 0;
        for (int64_t n = 0; n < c->owned_images; n++) {
            if (__atomic_load_n(&c->sync[n].items_taken, __ATOMIC_RELAXED) >= c->items_per_image)
                continue;
            left = 1;
            if (!plan->depthwise && __atomic_load_n(&c->sync[n].planes_done, __ATOMIC_ACQUIRE) < plan->in_channels) {
                if (!slot_free(c, n))
                    continue;
                if (__atomic_load_n(&c->sync[n].planes_claimed, __ATOMIC_RELAXED) == 0)
                    __atomic_fetch_add(&taken_over, 1, __ATOMIC_RELAXED);
                ensure_padded(c, n);
            }
            if (run_owned_items(c, n, scratch, scratch_used || ran, failed))
                ran = progress = 1;
        }
        if (!left)
            return ran;
        if (progress)
            spins = 0;
        else if (spins < 4096)
            cpu_relax();
        else
            sched_yield();
    }
}

/* The body of a run: bias fill, the images this thread owns, then the shared items, each
 * image padded on first need or ahead of it. Called by every thread of the parallel
 * region, or alone outside any region. */
void ct__run_parallel(run_ctx *c, const ct_plan *plan, int *failed)
{
    if (plan->needs_bias_fill) {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < c->g.batch * plan->out_channels; i++)
            fill_bias_plane(c, i);
    }
    float *scratch = NULL;
    /* after the scratch tiles, room to widen a 16-bit weight panel (phase_igemm.c) */
    if (posix_memalign((void **)&scratch, 64, sizeof(float) * (size_t)(c->scratch_floats + 1 + plan->panel_floats)) != 0)
        scratch = NULL;
    const int64_t per_image = c->items_per_image;
    int scratch_used = 0;
    if (c->owned_images > 0) {
        /* a nested region may have fewer threads than planned: they still cover every image */
#ifdef _OPENMP
        const int64_t threads = omp_get_num_threads(), me = omp_get_thread_num();
#else
        const int64_t threads = 1, me = 0; /* built without OpenMP (the fuzzers): one thread */
#endif
        for (int64_t n = me; n < c->owned_images; n += threads) {
            if (me == slow_thread)
                nanosleep(&(struct timespec){slow_us / 1000000, slow_us % 1000000 * 1000}, NULL);
            if (!plan->depthwise) /* its items pad their own planes */
                ensure_padded(c, n); /* after this thread's previous image in the slot */
            scratch_used |= run_owned_items(c, n, scratch, scratch_used, failed);
        }
        scratch_used |= help_with_owned_images(c, scratch, scratch_used, failed);
    }
    for (;; scratch_used = 1) {
        const int64_t i = __atomic_fetch_add(&c->next_item, 1, __ATOMIC_RELAXED);
        if (i >= c->items)
            break;
        const int64_t n = i / per_image;
        if (!plan->depthwise)
            ensure_padded(c, n);
        run_item_or_fail(c, i, scratch, scratch_used, failed);
        /* counted done: once all of image n's are, image n + slots may take its slot */
        __atomic_fetch_add(&c->sync[n].items_done, 1, __ATOMIC_RELEASE);
        /* the next image, if its slot is free: padded before anyone waits for it */
        if (!plan->depthwise && n + 1 < c->g.batch && slot_free(c, n + 1))
            pad_claimed_planes(c, n + 1);
    }
    if (c->stream) /* this thread's streamed stores, before the region's closing barrier */
        c->isa->stream_fence();
    free(scratch);
}
