/* watchdog.h - stops work nobody will use. Requests handed to the worker pool are watched:
 * one whose deadline passes or whose client hangs up is taken off the queue (and handed to
 * the expired callback, which answers it) or, when already running, gets its cancel flag
 * set, which the compute checks between work items. */
#ifndef CT_SERVER_WATCHDOG_H
#define CT_SERVER_WATCHDOG_H

#include "pool.h"

enum { CT_WATCH_NONE, CT_WATCH_DEADLINE, CT_WATCH_CLIENT_GONE };

typedef struct ct_watch {
    ct_job *job;        /* taken off the pool's queue when it expires there */
    double deadline;    /* monotonic seconds (ct_now); 0 = none */
    int fd;             /* the client's socket, polled for a hang-up; -1 = none */
    int cancel;         /* set by the watchdog (atomically): the run stops at its next item */
    int reason;         /* why: CT_WATCH_DEADLINE or CT_WATCH_CLIENT_GONE */
    int linked;
    struct ct_watch *prev, *next;
} ct_watch;

typedef struct ct_watchdog ct_watchdog;

/* Starts the watchdog's thread. expired(w, ctx) is called on that thread, with no lock held,
 * for a watched job taken off the queue (w->reason says why; w is no longer watched). 0 or -1. */
int ct_watchdog_start(ct_pool *pool, void (*expired)(ct_watch *w, void *ctx), void *ctx, ct_watchdog **out);
/* Stops the thread and frees the watchdog (entries still watched are left as they are). */
void ct_watchdog_stop(ct_watchdog *wd);

/* Watches w (before its job is queued). */
void ct_watchdog_add(ct_watchdog *wd, ct_watch *w);
/* Moves w's deadline (a request's own deadline, known once its body is parsed). */
void ct_watchdog_set_deadline(ct_watchdog *wd, ct_watch *w, double deadline);
/* Stops watching w, if it still is; after it returns the watchdog no longer touches w. */
void ct_watchdog_remove(ct_watchdog *wd, ct_watch *w);

#endif /* CT_SERVER_WATCHDOG_H */
