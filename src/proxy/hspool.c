/*
 * The handshake pool (hspool.h): a fixed set of threads over one FIFO
 * queue of jobs. It knows jobs and workers, not connections: what a job
 * does is the connection's business (conn.c).
 */
#define _GNU_SOURCE
#include "hspool.h"

#include <errno.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HS_MAX_THREADS 256
/* Pool threads run this much nicer than the workers: when the CPUs are
 * busy, the kernel gives forwarding precedence over handshakes. */
#define HS_NICE 5

struct px_hspool {
    struct vmesh_proxy *p;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    px_job *head, *tail;
    size_t queued, high, low; /* waiting jobs; backlog on at high, off at low */
    /* D50: steps that run at once, at most max_running; a step waiting for
     * the central verifier does not count (px_hspool_wait_begin) */
    size_t running, max_running;
    bool stop;
    pthread_t th[HS_MAX_THREADS];
    size_t nth;
};

/* The pool thread this thread is, if any (px_hspool_wait_begin). */
static __thread struct px_hspool *t_pool;

static uint32_t per_cpu(uint32_t k)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t n;

    if (ncpu < 1)
        ncpu = 1;
    n = (uint64_t)ncpu * k;
    if (n < 4)
        n = 4;
    return n > HS_MAX_THREADS ? HS_MAX_THREADS : (uint32_t)n;
}

uint32_t px_hs_threads(const vmesh_proxy_config *cfg)
{
    if (cfg->hs_threads > 0)
        return cfg->hs_threads;
    return per_cpu(cfg->central_url != NULL ? 16u : 4u);
}

uint32_t px_hs_running(const vmesh_proxy_config *cfg)
{
    uint32_t n = px_hs_threads(cfg), cpu = per_cpu(4u);

    return n < cpu ? n : cpu;
}

/* Under the lock: the backlog flag follows the queue length, with
 * hysteresis so that workers do not flap. */
static void backlog_update(struct px_hspool *h)
{
    if (h->queued >= h->high)
        atomic_store(&h->p->hs_backlogged, true);
    else if (h->queued <= h->low)
        atomic_store(&h->p->hs_backlogged, false);
}

/* Takes the lock: one step fewer counts as running; a queued step may take
 * its place. */
static void running_leave(struct px_hspool *h)
{
    pthread_mutex_lock(&h->lock);
    h->running--;
    if (h->head != NULL)
        pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->lock);
}

static void *pool_main(void *arg)
{
    struct px_hspool *h = arg;
    struct vmesh_proxy *p = h->p;

    /* per thread on Linux; failing leaves it at the workers' priority */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), getpriority(PRIO_PROCESS, 0) + HS_NICE);
    t_pool = h;
    for (;;) {
        px_job *j;

        pthread_mutex_lock(&h->lock);
        while (!h->stop && (h->head == NULL || h->running >= h->max_running))
            pthread_cond_wait(&h->cv, &h->lock);
        if (h->stop) {
            pthread_mutex_unlock(&h->lock);
            return NULL;
        }
        j = h->head;
        h->head = j->next;
        if (h->head == NULL)
            h->tail = NULL;
        h->queued--;
        h->running++;
        backlog_update(h);
        pthread_mutex_unlock(&h->lock);
        atomic_fetch_sub(&p->m.hs_queued, 1);
        atomic_fetch_add(&p->m.hs_running, 1);
        j->next = NULL;
        j->run(j);
        atomic_fetch_sub(&p->m.hs_running, 1);
        running_leave(h);
        px_worker_post(j);
    }
}

void px_hspool_wait_begin(void)
{
    struct px_hspool *h = t_pool;

    if (h != NULL)
        running_leave(h);
}

void px_hspool_wait_end(void)
{
    struct px_hspool *h = t_pool;

    if (h == NULL)
        return;
    /* back among the running ones at once, past the bound if need be: the
     * step is half done and holds its connection */
    pthread_mutex_lock(&h->lock);
    h->running++;
    pthread_mutex_unlock(&h->lock);
}

vmesh_err px_hspool_start(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    vmesh_err rc = VMESH_OK;
    struct px_hspool *h = calloc(1, sizeof(*h));
    uint32_t n = px_hs_threads(cfg);

    VMESH_ENSURE(h != NULL, VMESH_ERR_NOMEM, "out of memory");
    h->p = p;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->high = cfg->hs_queue > 0 ? cfg->hs_queue : 1024;
    h->max_running = px_hs_running(cfg);
    h->low = h->high / 2;
    p->hs = h;
    for (uint32_t i = 0; i < n && i < HS_MAX_THREADS; i++) {
        int e = pthread_create(&h->th[i], NULL, pool_main, h);
        VMESH_ENSURE(e == 0, VMESH_ERR_IO, "handshake pool: pthread_create: %s", strerror(e));
        h->nth++;
    }
    vmesh_log(VMESH_LOG_INFO,
              "proxy: handshake pool: %zu threads, at most %zu running at once (a step waiting for the central "
              "verifier does not count), workers stop accepting beyond %zu waiting handshakes",
              h->nth, h->max_running, h->high);
out:
    return rc;
}

void px_hspool_submit(struct vmesh_proxy *p, px_job *j)
{
    struct px_hspool *h = p->hs;

    j->next = NULL;
    j->cancelled = false;
    pthread_mutex_lock(&h->lock);
    if (h->stop) {
        pthread_mutex_unlock(&h->lock);
        j->cancelled = true;
        px_worker_post(j);
        return;
    }
    if (h->tail)
        h->tail->next = j;
    else
        h->head = j;
    h->tail = j;
    h->queued++;
    backlog_update(h);
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->lock);
    atomic_fetch_add(&p->m.hs_queued, 1);
}

void px_hspool_stop(struct vmesh_proxy *p)
{
    struct px_hspool *h = p->hs;
    px_job *left;

    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    left = h->head;
    h->head = h->tail = NULL;
    h->queued = 0;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < h->nth; i++)
        pthread_join(h->th[i], NULL);
    while (left != NULL) {
        px_job *j = left;
        left = j->next;
        atomic_fetch_sub(&p->m.hs_queued, 1);
        j->cancelled = true;
        px_worker_post(j);
    }
    atomic_store(&p->hs_backlogged, false);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->lock);
    free(h);
    p->hs = NULL;
}
