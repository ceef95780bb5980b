/* pool.c - worker threads popping jobs from a bounded FIFO.
 *
 * Lock rule: one mutex guards the queue and the thread budget, and no thread holds it while a
 * job runs. A worker pops a job, takes between 1 and job->max_threads compute threads from
 * the budget (waiting while none is free), runs the job unlocked, then gives them back. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "pool.h"

struct ct_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;      /* a job was queued, or stopping */
    pthread_cond_t budget;    /* compute threads were returned */
    ct_job *head, *tail;
    int queued, running, queue_cap;
    int free_threads;
    int stopping;
    int nworkers;
    pthread_t *workers;
};

double ct_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

long long ct_wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void *worker_main(void *arg)
{
    ct_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->head && !pool->stopping)
            pthread_cond_wait(&pool->work, &pool->lock);
        if (!pool->head)
            break; /* stopping and drained */
        ct_job *job = pool->head;
        pool->head = job->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->queued--;
        pool->running++;
        while (pool->free_threads == 0)
            pthread_cond_wait(&pool->budget, &pool->lock);
        int take = job->max_threads < pool->free_threads ? job->max_threads : pool->free_threads;
        if (take < 1)
            take = 1;
        pool->free_threads -= take;
        pthread_mutex_unlock(&pool->lock);

        job->started_at = ct_now();
        job->run(job, take); /* the job may free itself: do not touch it afterwards */

        pthread_mutex_lock(&pool->lock);
        pool->free_threads += take;
        pool->running--;
        pthread_cond_broadcast(&pool->budget);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int ct_pool_create(int workers, int queue_cap, int threads, ct_pool **out)
{
    *out = NULL;
    ct_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return -1;
    pool->queue_cap = queue_cap;
    pool->free_threads = threads > 0 ? threads : 1;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->budget, NULL);
    pool->workers = calloc((size_t)workers, sizeof *pool->workers);
    if (!pool->workers)
        goto fail;
    for (; pool->nworkers < workers; pool->nworkers++) {
        int rc = pthread_create(&pool->workers[pool->nworkers], NULL, worker_main, pool);
        if (rc != 0) {
            errno = rc;
            goto fail;
        }
    }
    *out = pool;
    return 0;
fail:
    ct_pool_destroy(pool);
    return -1;
}

int ct_pool_submit(ct_pool *pool, ct_job *job)
{
    int rc = -1;
    pthread_mutex_lock(&pool->lock);
    if (!pool->stopping && pool->queued < pool->queue_cap) {
        job->next = NULL;
        job->queued_at = ct_now();
        if (pool->tail)
            pool->tail->next = job;
        else
            pool->head = job;
        pool->tail = job;
        pool->queued++;
        pthread_cond_signal(&pool->work);
        rc = 0;
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

int ct_pool_borrow(ct_pool *pool, int want)
{
    if (want <= 0)
        return 0;
    pthread_mutex_lock(&pool->lock);
    int got = want < pool->free_threads ? want : pool->free_threads;
    pool->free_threads -= got;
    pthread_mutex_unlock(&pool->lock);
    return got;
}

void ct_pool_return(ct_pool *pool, int n)
{
    if (n <= 0)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->free_threads += n;
    pthread_cond_broadcast(&pool->budget);
    pthread_mutex_unlock(&pool->lock);
}

void ct_pool_counts(ct_pool *pool, int *queued, int *running)
{
    pthread_mutex_lock(&pool->lock);
    *queued = pool->queued;
    *running = pool->running;
    pthread_mutex_unlock(&pool->lock);
}

void ct_pool_destroy(ct_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nworkers; i++)
        pthread_join(pool->workers[i], NULL);
    free(pool->workers);
    pthread_cond_destroy(&pool->budget);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

int ct_pool_remove(ct_pool *pool, ct_job *job)
{
    int rc = -1;
    pthread_mutex_lock(&pool->lock);
    for (ct_job **at = &pool->head, *prev = NULL; *at; prev = *at, at = &(*at)->next)
        if (*at == job) {
            *at = job->next;
            if (pool->tail == job)
                pool->tail = prev;
            pool->queued--;
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}
