/* watchdog.c - see watchdog.h. One thread, waking every TICK_SECONDS while anything is
 * watched (and sleeping on a condition variable otherwise): that tick bounds how late a 504
 * leaves after its deadline and how long a hung-up client's work goes on. A client that hung
 * up is seen by poll(): its socket reports POLLRDHUP (or an error) while libmicrohttpd has the
 * connection suspended and reads nothing from it.
 *
 * Lock rule: the watchdog's mutex guards the list; the pool's lock is taken inside it (to take
 * a job off the queue), never the other way round, and the expired callback runs with no lock. */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

#include "watchdog.h"

#define TICK_SECONDS 0.002
#define MAX_POLLED 1024 /* sockets polled per tick: more than the pool's queue and workers hold */

struct ct_watchdog {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    ct_watch *head;
    int stopping;
    ct_pool *pool;
    void (*expired)(ct_watch *w, void *ctx);
    void *ctx;
    pthread_t thread;
};

static void unlink_watch(ct_watchdog *wd, ct_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        wd->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->linked = 0;
}

/* Marks w expired for `reason`: off the queue (then unlinked and put on *done for the
 * callback), or its cancel flag set when it is running. Under wd->lock. */
static void expire(ct_watchdog *wd, ct_watch *w, int reason, ct_watch **done)
{
    if (w->reason != CT_WATCH_NONE)
        return; /* cancelled already: its job is finishing */
    w->reason = reason;
    if (ct_pool_remove(wd->pool, w->job) == 0) {
        unlink_watch(wd, w);
        w->next = *done;
        *done = w;
    } else {
        __atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
    }
}

/* One pass over the list: deadlines, then the clients' sockets. Under wd->lock. */
static ct_watch *scan(ct_watchdog *wd)
{
    struct pollfd fds[MAX_POLLED];
    ct_watch *polled[MAX_POLLED];
    ct_watch *done = NULL;
    int n = 0;
    const double now = ct_now();
    for (ct_watch *w = wd->head, *next; w; w = next) {
        next = w->next;
        if (w->deadline > 0 && now > w->deadline)
            expire(wd, w, CT_WATCH_DEADLINE, &done);
        else if (w->fd >= 0 && w->reason == CT_WATCH_NONE && n < MAX_POLLED) {
            fds[n] = (struct pollfd){.fd = w->fd, .events = POLLRDHUP};
            polled[n++] = w;
        }
    }
    if (n > 0 && poll(fds, (nfds_t)n, 0) > 0)
        for (int i = 0; i < n; i++)
            if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
                expire(wd, polled[i], CT_WATCH_CLIENT_GONE, &done);
    return done;
}

static void *watchdog_main(void *arg)
{
    ct_watchdog *wd = arg;
    pthread_mutex_lock(&wd->lock);
    while (!wd->stopping) {
        if (!wd->head) {
            pthread_cond_wait(&wd->wake, &wd->lock);
            continue;
        }
        ct_watch *done = scan(wd);
        pthread_mutex_unlock(&wd->lock);
        for (ct_watch *w = done, *next; w; w = next) {
            next = w->next;
            w->next = NULL;
            wd->expired(w, wd->ctx);
        }
        struct timespec tick = {0, (long)(TICK_SECONDS * 1e9)};
        nanosleep(&tick, NULL);
        pthread_mutex_lock(&wd->lock);
    }
    pthread_mutex_unlock(&wd->lock);
    return NULL;
}

int ct_watchdog_start(ct_pool *pool, void (*expired)(ct_watch *w, void *ctx), void *ctx, ct_watchdog **out)
{
    ct_watchdog *wd = calloc(1, sizeof *wd);
    if (!wd)
        return -1;
    wd->pool = pool;
    wd->expired = expired;
    wd->ctx = ctx;
    pthread_mutex_init(&wd->lock, NULL);
    pthread_cond_init(&wd->wake, NULL);
    if (pthread_create(&wd->thread, NULL, watchdog_main, wd) != 0) {
        free(wd);
        return -1;
    }
    *out = wd;
    return 0;
}

void ct_watchdog_stop(ct_watchdog *wd)
{
    if (!wd)
        return;
    pthread_mutex_lock(&wd->lock);
    wd->stopping = 1;
    pthread_cond_signal(&wd->wake);
    pthread_mutex_unlock(&wd->lock);
    pthread_join(wd->thread, NULL);
    pthread_mutex_destroy(&wd->lock);
    pthread_cond_destroy(&wd->wake);
    free(wd);
}

void ct_watchdog_add(ct_watchdog *wd, ct_watch *w)
{
    pthread_mutex_lock(&wd->lock);
    w->cancel = 0;
    w->reason = CT_WATCH_NONE;
    w->prev = NULL;
    w->next = wd->head;
    if (wd->head)
        wd->head->prev = w;
    wd->head = w;
    w->linked = 1;
    pthread_cond_signal(&wd->wake);
    pthread_mutex_unlock(&wd->lock);
}

void ct_watchdog_remove(ct_watchdog *wd, ct_watch *w)
{
    pthread_mutex_lock(&wd->lock);
    if (w->linked)
        unlink_watch(wd, w);
    pthread_mutex_unlock(&wd->lock);
}

void ct_watchdog_set_deadline(ct_watchdog *wd, ct_watch *w, double deadline)
{
    pthread_mutex_lock(&wd->lock);
    w->deadline = deadline;
    pthread_mutex_unlock(&wd->lock);
}
