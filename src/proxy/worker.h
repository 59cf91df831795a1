/*
 * Worker threads: the proxy's event core (nginx's src/event in miniature).
 * A worker owns an epoll set, a timer heap, its own SO_REUSEPORT copy of
 * every listening socket and a scratch buffer; it accepts, and it runs the
 * handlers that connections registered for their sockets and timers. It
 * knows sockets, timers and listeners, not connections: what a connection
 * is and does lives in conn.c, which the worker reaches only through
 * px_worker_ops and the handlers in px_ev / px_timer.
 *
 * Handshake work leaves the worker as a px_job (issue 13.1): the
 * handshake pool (hspool.h) runs it on its own threads and posts it back;
 * the worker runs its done() after the next batch of events. The
 * connection's sockets and timer stay with its worker throughout.
 */
#ifndef VMESH_PROXY_WORKER_H
#define VMESH_PROXY_WORKER_H

#include "proxy_int.h"
#include "timer.h"

typedef struct px_worker px_worker;

/* Work a worker hands to another thread (the handshake pool, hspool.c):
 * run() there, then done() back on the worker that posted it, under its
 * lock, in the order the jobs finished. cancelled: the pool stopped before
 * running it (done() still runs if the worker does). */
typedef struct px_job px_job;
struct px_job {
    void (*run)(px_job *j);
    void (*done)(px_job *j);
    px_worker *w;
    px_job *next;
    bool cancelled;
};

/* What a worker asks of the connections it hosts. */
typedef struct {
    /* fd (non-blocking) was accepted on listener li of direction dir (PX_DIR_*); the callee owns
     * it. */
    void (*accept)(px_worker *w, int dir, size_t li, int fd);
    /* After every batch of events and expired timers, under the worker's
     * lock: re-appraisal requests, a forced close at the end of a drain,
     * deferred frees. */
    void (*after_batch)(px_worker *w);
    /* The proxy stops (the thread has ended): close every connection. */
    void (*close_all)(px_worker *w);
} px_worker_ops;

typedef struct {
    px_ev ev;
    px_worker *w;
    int fd; /* -1: closed (draining) */
    int dir;
    size_t li;
} px_listener;

struct px_worker {
    struct vmesh_proxy *p;
    const px_worker_ops *ops;
    size_t idx;
    pthread_t th;
    bool started, listening;
    int ep, wake_fd;
    px_ev wake_ev;
    px_listener lis[2][PX_MAX_LISTENERS]; /* [PX_DIR_*][listener] */
    /* Held while the worker runs a batch; another thread takes it to read
     * the worker's connections (/peers). */
    pthread_mutex_t lock;
    px_timers timers;
    /* Out of descriptors: the listeners are out of the epoll set until the
     * resume timer fires; reserve_fd is an open descriptor kept back to
     * accept and shed a pending connection (-1 while spent). */
    bool paused;
    px_timer resume;
    int reserve_fd;
    uint8_t *scratch;
    size_t scratch_cap;
    /* The connections on this worker: conn.c links them, the worker only
     * counts them (it exits a drain at zero). dead: closed in this batch,
     * freed after it (an event later in the batch may still name one). */
    struct px_conn *head, *dead;
    size_t nconns;
    uint64_t reappraise_seen;
    /* Central re-appraisal in the pool (conn.c, D41): jobs out (a drain
     * waits for them), and the timer that asks again for connections whose
     * verifier gave no verdict. */
    size_t reap_out;
    px_timer reap_retry;
    /* Jobs finished by another thread, waiting for their done() here
     * (newest first; jobs_lock guards only this list). */
    pthread_mutex_t jobs_lock;
    px_job *jobs;
    uint64_t bell_tick_seen; /* reattest: the bell tick the connections were told of */
    _Atomic bool done;
};

/* Creates the workers (limits.workers, default one per CPU) with their
 * epoll sets and listening sockets; nothing runs yet. */
vmesh_err px_workers_open(struct vmesh_proxy *p, const vmesh_proxy_config *cfg,
                          const px_worker_ops *ops) VMESH_WUR;
vmesh_err px_workers_start(struct vmesh_proxy *p) VMESH_WUR;
/* From any thread: queues j's done() on its worker j->w and wakes it. */
void px_worker_post(px_job *j);
/* Wakes every worker (a flag in p changed: drain, forced close, re-appraisal). */
void px_workers_wake(struct vmesh_proxy *p);
void px_workers_join(struct vmesh_proxy *p);
/* Closes what is left (ops->close_all) and frees the workers. */
void px_workers_free(struct vmesh_proxy *p);
size_t px_workers_alive(struct vmesh_proxy *p);
/* Registers fd with ev in the epoll set ep (a worker's or the control
 * thread's). */
vmesh_err px_ev_add(int ep, int fd, uint32_t events, px_ev *ev) VMESH_WUR;
/* The worker's buffer of at least n bytes (NULL: out of memory); valid
 * until the next call on this worker. */
uint8_t *px_worker_scratch(px_worker *w, size_t n);

#endif
