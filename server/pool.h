/* pool.h - a bounded worker pool for compute jobs, with a budget of compute threads shared
 * by all workers so that the process never runs more compute threads than configured. */
#ifndef CT_SERVER_POOL_H
#define CT_SERVER_POOL_H

typedef struct ct_job ct_job;
struct ct_job {
    /* Runs on a worker thread with no pool lock held; nthreads compute threads are granted. */
    void (*run)(ct_job *job, int nthreads);
    int max_threads;     /* threads the job can use (1 for small ones) */
    double queued_at;    /* set by submit: monotonic seconds */
    double started_at;   /* set by the worker */
    ct_job *next;        /* pool-private */
};

typedef struct ct_pool ct_pool;

/* Starts `workers` threads sharing `threads` compute threads, with at most queue_cap jobs
 * waiting. 0 or -1 (errno). The caller frees with ct_pool_destroy. */
int ct_pool_create(int workers, int queue_cap, int threads, ct_pool **out);

/* Queues a job. 0, or -1 when the queue is full or the pool is stopping (the job is not
 * queued and stays the caller's). */
int ct_pool_submit(ct_pool *pool, ct_job *job);

/* Takes a queued job off the queue before any worker starts it: 0, or -1 when it is not
 * queued (running already, or done). A removed job is the caller's again. */
int ct_pool_remove(ct_pool *pool, ct_job *job);

/* Takes up to `want` more compute threads from the budget without waiting; returns how many
 * it got (maybe 0). Give them back with ct_pool_return. */
int ct_pool_borrow(ct_pool *pool, int want);
void ct_pool_return(ct_pool *pool, int n);

/* Jobs waiting and jobs running, for readiness and metrics. */
void ct_pool_counts(ct_pool *pool, int *queued, int *running);

/* Runs every queued job to the end, joins the workers and frees the pool. NULL is a no-op. */
void ct_pool_destroy(ct_pool *pool);

double ct_now(void);
/* Milliseconds since the epoch (wall clock), for "last inference" timestamps. */
long long ct_wall_ms(void);

#endif /* CT_SERVER_POOL_H */
