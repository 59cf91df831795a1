/*
 * The proxy's worker threads (worker.h): one per core, each with its own
 * epoll set, its own SO_REUSEPORT listening sockets (the kernel spreads
 * connections across workers; no accept thread, no hand-off), a timer heap
 * and a scratch buffer. Edge-triggered epoll for connections (their
 * handlers keep readiness flags), level-triggered for listeners and the
 * wake-up eventfd. It must never block but in epoll_wait, and never touch
 * another worker's connections (cross-thread work goes through the
 * worker's lock, held while it processes events, and its eventfd).
 */
#define _GNU_SOURCE
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define ACCEPT_BATCH 64
/* How long a worker stops accepting after running out of descriptors. */
#define ACCEPT_PAUSE_NS (100ULL * 1000000ULL)
/* How long a worker stops accepting while handshakes queue up. */
#define HS_PAUSE_NS (20ULL * 1000000ULL)

static int open_reserve(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Adds (on) or removes the worker's listening sockets from its epoll set. */
static void listeners_arm(px_worker *w, bool on)
{
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < (d == PX_DIR_IN ? w->p->nin : w->p->nout); i++) {
            px_listener *l = &w->lis[d][i];
            if (l->fd < 0)
                continue;
            if (on) {
                if (px_ev_add(w->ep, l->fd, EPOLLIN, &l->ev) != VMESH_OK)
                    vmesh_err_clear(); /* the next pause retries */
            } else {
                (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, l->fd, NULL);
            }
        }
}

static void on_resume(px_timer *t)
{
    px_worker *w = PX_OWNER(t, px_worker, resume);

    w->paused = false;
    if (w->reserve_fd < 0)
        w->reserve_fd = open_reserve();
    if (w->listening)
        listeners_arm(w, true);
}

/* accept(2) failed with err (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...): the
 * listener is level-triggered, so returning would only bring the same
 * event back at once (a busy loop and a log line per turn). Instead the
 * reserve descriptor's slot is used to accept what is pending and shed it
 * (the client sees a reset now rather than a hang), the listeners leave
 * the epoll set for ACCEPT_PAUSE_NS, and one log line a second counts it
 * all (nginx disables accept events the same way; libuv sheds with a
 * reserved descriptor). */
static void accept_failed(px_listener *l, int err)
{
    px_worker *w = l->w;
    struct vmesh_proxy *p = w->p;
    uint64_t shed = 0;

    for (int i = 0; i < ACCEPT_BATCH && w->reserve_fd >= 0; i++) {
        int fd;

        close(w->reserve_fd);
        w->reserve_fd = -1;
        fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            w->reserve_fd = open_reserve(); /* another thread may have taken the slot */
            break;
        }
        shed++;
        /* dup3 closes the shed socket and keeps its slot as the reserve in
         * one step, so no other thread can take the slot in between. */
        if (dup3(w->wake_fd, fd, O_CLOEXEC) >= 0)
            w->reserve_fd = fd;
        else
            close(fd);
    }
    atomic_fetch_add(&p->m.conns[l->dir][PX_RES_NO_FD], shed);
    atomic_fetch_add(&p->m.accept_pauses, 1);
    w->paused = true;
    listeners_arm(w, false);
    if (!px_timer_set(&w->timers, &w->resume, vmesh_time_mono_ns() + ACCEPT_PAUSE_NS))
        on_resume(&w->resume);
    px_log_limited(&p->rl_accept, VMESH_LOG_WARN,
                   "proxy: accept: %s (%lld connections open, descriptor limit %llu): not "
                   "accepting for %llu ms, "
                   "%llu pending connections shed",
                   strerror(err), (long long)atomic_load(&p->m.total_active),
                   (unsigned long long)p->nofile, (unsigned long long)(ACCEPT_PAUSE_NS / 1000000u),
                   (unsigned long long)shed);
}

/* The handshake pool has more queued than limits.handshake-queue: new
 * connections wait in the kernel's accept queue (TCP backpressure) while
 * the listeners are out of the epoll set for HS_PAUSE_NS; established
 * connections are not affected. */
static void backpressure(px_worker *w)
{
    atomic_fetch_add(&w->p->m.hs_backpressure, 1);
    w->paused = true;
    listeners_arm(w, false);
    if (!px_timer_set(&w->timers, &w->resume, vmesh_time_mono_ns() + HS_PAUSE_NS))
        on_resume(&w->resume);
}

static void accept_on(px_listener *l)
{
    if (atomic_load(&l->w->p->hs_backlogged) && !l->w->paused) {
        backpressure(l->w);
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && l->fd >= 0 && !l->w->paused; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                accept_failed(l, errno);
            return;
        }
        l->w->ops->accept(l->w, l->dir, l->li, fd);
    }
}

static void on_listen(px_ev *ev, uint32_t events)
{
    px_listener *l = PX_OWNER(ev, px_listener, ev);

    (void)events;
    if (!atomic_load(&l->w->p->draining))
        accept_on(l);
}

static void on_wake(px_ev *ev, uint32_t events)
{
    px_worker *w = PX_OWNER(ev, px_worker, wake_ev);
    uint64_t v;

    (void)events;
    (void)!read(w->wake_fd, &v, sizeof(v));
}

/* Drain: what the kernel queued for us is in flight, so accept it, then
 * close the listening sockets (the other workers close theirs). */
static void stop_listening(px_worker *w)
{
    if (!w->listening)
        return;
    w->listening = false;
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < (d == PX_DIR_IN ? w->p->nin : w->p->nout); i++) {
            px_listener *l = &w->lis[d][i];
            if (l->fd < 0)
                continue;
            if (!w->paused)
                accept_on(l);
            (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, l->fd, NULL);
            close(l->fd);
            l->fd = -1;
        }
}

void px_worker_post(px_job *j)
{
    px_worker *w = j->w;
    uint64_t one = 1;

    pthread_mutex_lock(&w->jobs_lock);
    j->next = w->jobs;
    w->jobs = j;
    pthread_mutex_unlock(&w->jobs_lock);
    (void)!write(w->wake_fd, &one, sizeof(one));
}

/* Runs the done() of every job posted back to w, oldest first. */
static void run_jobs(px_worker *w)
{
    px_job *list, *fifo = NULL;

    pthread_mutex_lock(&w->jobs_lock);
    list = w->jobs;
    w->jobs = NULL;
    pthread_mutex_unlock(&w->jobs_lock);
    while (list != NULL) {
        px_job *j = list;
        list = j->next;
        j->next = fifo;
        fifo = j;
    }
    while (fifo != NULL) {
        px_job *j = fifo;
        fifo = j->next;
        j->next = NULL;
        j->done(j);
    }
}

static void *worker_main(void *arg)
{
    px_worker *w = arg;
    struct vmesh_proxy *p = w->p;
    struct epoll_event evs[MAX_EVENTS];

    for (;;) {
        int n =
            epoll_wait(w->ep, evs, MAX_EVENTS, px_timers_wait_ms(&w->timers, vmesh_time_mono_ns()));

        if (n < 0 && errno != EINTR) {
            vmesh_log(VMESH_LOG_ERROR, "proxy: epoll_wait: %s", strerror(errno));
            break;
        }
        pthread_mutex_lock(&w->lock);
        for (int i = 0; i < n; i++) {
            px_ev *ev = evs[i].data.ptr;
            ev->fn(ev, evs[i].events);
        }
        run_jobs(w);
        px_timers_run(&w->timers, vmesh_time_mono_ns());
        if (atomic_load(&p->draining))
            stop_listening(w);
        w->ops->after_batch(w);
        if (atomic_load(&p->draining) && w->nconns == 0 && w->reap_out == 0) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        pthread_mutex_unlock(&w->lock);
    }
    atomic_store(&w->done, true);
    return NULL;
}

vmesh_err px_ev_add(int ep, int fd, uint32_t events, px_ev *ev)
{
    struct epoll_event e;

    memset(&e, 0, sizeof(e));
    e.events = events;
    e.data.ptr = ev;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0)
        return vmesh_err_set(VMESH_ERR_IO, "epoll_ctl: %s", strerror(errno));
    return VMESH_OK;
}

uint8_t *px_worker_scratch(px_worker *w, size_t n)
{
    if (w->scratch_cap < n) {
        uint8_t *s = realloc(w->scratch, n);
        if (s == NULL)
            return NULL;
        w->scratch = s;
        w->scratch_cap = n;
    }
    return w->scratch;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static vmesh_err worker_new(struct vmesh_proxy *p, const vmesh_proxy_config *cfg,
                            const px_worker_ops *ops, size_t idx, px_worker **out)
{
    vmesh_err rc = VMESH_OK;
    px_worker *w = calloc(1, sizeof(*w));

    *out = w;
    VMESH_ENSURE(w != NULL, VMESH_ERR_NOMEM, "out of memory");
    w->p = p;
    w->ops = ops;
    w->idx = idx;
    w->wake_fd = -1;
    w->listening = true;
    px_timer_init(&w->resume, on_resume);
    px_timer_init(&w->reap_retry, NULL); /* conn.c sets its function */
    w->reserve_fd = open_reserve();
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->jobs_lock, NULL);
    for (int d = 0; d < 2; d++)
        for (size_t j = 0; j < PX_MAX_LISTENERS; j++)
            w->lis[d][j].fd = -1;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    VMESH_ENSURE(w->ep >= 0 && w->wake_fd >= 0, VMESH_ERR_IO, "epoll/eventfd: %s", strerror(errno));
    w->wake_ev.fn = on_wake;
    VMESH_GUARD(px_ev_add(w->ep, w->wake_fd, EPOLLIN, &w->wake_ev));
    for (size_t j = 0; j < cfg->nin + cfg->nout; j++) {
        bool in = j < cfg->nin;
        px_listener *l = &w->lis[in ? PX_DIR_IN : PX_DIR_OUT][in ? j : j - cfg->nin];
        l->w = w;
        l->dir = in ? PX_DIR_IN : PX_DIR_OUT;
        l->li = in ? j : j - cfg->nin;
        l->ev.fn = on_listen;
        rc = vmesh_net_listen(vmesh_proxy_config_listen(cfg, j), 4096, VMESH_NET_REUSEPORT, &l->fd);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "%s listener %s", in ? "inbound" : "outbound",
                           in ? cfg->in[l->li].name : cfg->out[l->li].name);
            goto out;
        }
        VMESH_GUARD(px_ev_add(w->ep, l->fd, EPOLLIN, &l->ev));
    }
out:
    return rc;
}

vmesh_err px_workers_open(struct vmesh_proxy *p, const vmesh_proxy_config *cfg,
                          const px_worker_ops *ops)
{
    vmesh_err rc = VMESH_OK;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = cfg->workers ? cfg->workers : (size_t)(ncpu > 0 ? ncpu : 1);

    if (n > PX_MAX_WORKERS)
        n = PX_MAX_WORKERS;
    p->nin = cfg->nin;
    p->nout = cfg->nout;
    for (size_t i = 0; i < n && rc == VMESH_OK; i++) {
        px_worker *w = NULL;
        rc = worker_new(p, cfg, ops, i, &w);
        if (w != NULL)
            p->workers[p->nworkers++] = w;
    }
    return rc;
}

vmesh_err px_workers_start(struct vmesh_proxy *p)
{
    vmesh_err rc = VMESH_OK;

    for (size_t i = 0; i < p->nworkers; i++) {
        px_worker *w = p->workers[i];
        VMESH_ENSURE(pthread_create(&w->th, NULL, worker_main, w) == 0, VMESH_ERR_IO,
                     "pthread_create: %s", strerror(errno));
        w->started = true;
    }
out:
    return rc;
}

void px_workers_wake(struct vmesh_proxy *p)
{
    uint64_t one = 1;

    for (size_t i = 0; i < p->nworkers; i++)
        if (p->workers[i]->wake_fd >= 0)
            (void)!write(p->workers[i]->wake_fd, &one, sizeof(one));
}

size_t px_workers_alive(struct vmesh_proxy *p)
{
    size_t n = 0;

    for (size_t i = 0; i < p->nworkers; i++)
        if (p->workers[i]->started && !atomic_load(&p->workers[i]->done))
            n++;
    return n;
}

void px_workers_join(struct vmesh_proxy *p)
{
    for (size_t i = 0; i < p->nworkers; i++)
        if (p->workers[i]->started) {
            pthread_join(p->workers[i]->th, NULL);
            p->workers[i]->started = false;
        }
}

void px_workers_free(struct vmesh_proxy *p)
{
    for (size_t i = 0; i < p->nworkers; i++) {
        px_worker *w = p->workers[i];
        run_jobs(w); /* jobs the stopped pool posted back (re-appraisals, D41) */
        w->ops->close_all(w);
        for (int d = 0; d < 2; d++)
            for (size_t j = 0; j < PX_MAX_LISTENERS; j++)
                if (w->lis[d][j].fd >= 0)
                    close(w->lis[d][j].fd);
        if (w->ep >= 0)
            close(w->ep);
        if (w->wake_fd >= 0)
            close(w->wake_fd);
        if (w->reserve_fd >= 0)
            close(w->reserve_fd);
        px_timer_del(&w->timers, &w->reap_retry);
        px_timers_free(&w->timers);
        free(w->scratch);
        pthread_mutex_destroy(&w->lock);
        pthread_mutex_destroy(&w->jobs_lock);
        free(w);
        p->workers[i] = NULL;
    }
    p->nworkers = 0;
}
