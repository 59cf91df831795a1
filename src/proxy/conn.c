/*
 * A proxied connection: an explicit state machine with a timer on every
 * state (wait for ClientHello, attested handshake, connect, proxy, flush,
 * linger), hosted by one worker (worker.c) that calls the handlers it
 * registers for its sockets and its timer. Inbound: accept, attested TLS
 * handshake, connect to the app, forward. Outbound: accept plaintext,
 * connect to an upstream (round robin with failover), attested TLS
 * handshake, forward. The handshake part (start_tls .. established) and
 * the forwarding part (forward.c, reached only from CS_PROXY) meet in
 * established(): the place where a connection could move to another
 * worker. It must never forward a byte before the atls handshake
 * (attestation included) completed, never block, and never keep a
 * connection whose peer no longer passes re-appraisal.
 */
#define _GNU_SOURCE
#include "conn.h"

#include "forward.h"
#include "hspool.h"
#include "reattest.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

typedef enum {
    CS_WAIT_HELLO, /* inbound: accepted, waiting for the first byte (no TLS state yet) */
    CS_HANDSHAKE,  /* attested TLS handshake */
    CS_CONNECT,    /* inbound: to the app; outbound: to an upstream */
    CS_PROXY,
    CS_FLUSH,  /* both directions done; TLS output still queued */
    CS_LINGER, /* TLS write side shut; reading until EOF so the peer gets our last frame */
    CS_DEAD,
} cstate;

static const char *const state_names[] = {"wait-hello", "handshake", "connect", "proxy",
                                          "flush",      "linger",    "dead"};

typedef struct px_conn {
    struct px_conn *prev, *next; /* the worker's list */
    px_worker *w;
    px_gen *g;
    int dir, li;
    cstate st;
    px_pipe io;
    px_ev tls_ev, pl_ev;
    px_timer timer;
    uint64_t t_start;
    int up_idx, attempts;
    bool sess_saved, logged, resumed;
    px_result result;
    char reason[300];
    vmesh_atls_reason code; /* reason code of a refusal by us (NONE: none) */
    char remote[VMESH_NET_ADDR_STR_MAX];
    char *peer_id;
    int mode;
    vmesh_tier tier;
    vmesh_tv tv;
    char epochs[PX_EPOCHS_MAX];
    char verifier[VMESH_ATLS_VERIFIER_MAX];     /* appraised by (issue 12.4) */
    char policy_digest[VMESH_ATLS_DIGEST_MAX]; /* appraised under */
    uint64_t reappraised;
    /* Handshake steps run in the handshake pool (hspool.h): while hs_busy
     * a pool thread owns io.tls (the worker touches neither it nor the
     * TLS socket but to shut it down); ev_seq counts readiness events,
     * job_seq is ev_seq when the step was queued (an event in between
     * means: run another step). hs_deadline: the handshake's deadline as
     * the worker knows it. hs_abandoned: the deadline passed while a step
     * ran; the connection is closed when the step comes back. */
    px_job job;
    bool hs_busy;
    _Atomic bool hs_abandoned; /* read by the pool thread: a step not started is skipped */
    uint32_t ev_seq, job_seq;
    uint64_t hs_deadline;
    vmesh_err hs_rc;
    char hs_err[256];
    px_rt rt; /* reattest.c: in-band re-attestation while forwarding */
    /* Central re-appraisal in the pool (D41): reap_busy while a job judges
     * this peer (the struct outlives conn_destroy until it is back:
     * reap_orphan); reap_again: another re-appraisal was asked meanwhile;
     * reap_retry_at: no verdict, ask again then (0: not waiting), with
     * reap_delay_ms back-off; reap_since: wall time the re-appraisal
     * still waiting for a verdict was asked (0: none waiting). */
    bool reap_busy, reap_again, reap_orphan;
    uint64_t reap_retry_at;
    uint32_t reap_delay_ms;
    int64_t reap_since;
} px_conn;

static void conn_run(px_conn *c);

/* ---- small helpers ------------------------------------------------------------------ */

static uint64_t ms_ns(uint32_t ms)
{
    return (uint64_t)ms * 1000000u;
}

static void set_nodelay(int fd)
{
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Arms the connection's one timer; false when memory for the heap is short. */
static bool timer_set(px_conn *c, uint64_t deadline)
{
    return px_timer_set(&c->w->timers, &c->timer, deadline);
}

/* The atls deadline of the handshake, with a millisecond to spare. */
static bool timer_set_atls(px_conn *c)
{
    return timer_set(c, vmesh_time_mono_ns() +
                            (uint64_t)vmesh_atls_timeout_ms(c->io.tls) * 1000000u + 1000000u);
}

static const char *dir_name(const px_conn *c)
{
    return c->dir == PX_DIR_IN ? "inbound" : "outbound";
}

static const char *listener_name(const px_conn *c)
{
    const vmesh_proxy_config *cfg = c->g->cfg;

    return c->dir == PX_DIR_IN ? cfg->in[c->li].name : cfg->out[c->li].name;
}

static bool route_needs_attested(const px_conn *c)
{
    const vmesh_proxy_config *cfg = c->g->cfg;
    const char *m = c->dir == PX_DIR_IN ? cfg->in[c->li].min_pattern : cfg->out[c->li].min_pattern;

    return m != NULL && strcmp(m, "attested") == 0;
}

static px_record record_of(const px_conn *c, const char *state)
{
    px_record r = {
        .dir = c->dir,
        .listener = listener_name(c),
        .state = state,
        .peer_id = c->peer_id,
        .remote = c->remote[0] ? c->remote : NULL,
        .upstream = c->dir == PX_DIR_IN ? c->g->cfg->in[c->li].app
                    : c->attempts > 0   ? c->g->cfg->out[c->li].upstreams[c->up_idx]
                                        : NULL,
        .code = c->code != VMESH_ATLS_R_NONE ? vmesh_atls_reason_name(c->code) : NULL,
        .mode = c->mode,
        .tier = c->tier,
        .tv = &c->tv,
        .epochs = c->epochs,
        .verifier = c->verifier,
        .policy_digest = c->policy_digest,
        .resumed = c->resumed,
        .from_peer = c->io.from_peer,
        .to_peer = c->io.to_peer,
    };
    if (c->io.tls != NULL && c->mode >= 0) {
        vmesh_atls_reattest_stats st;
        vmesh_atls_reattest_stats_get(c->io.tls, &st);
        r.attested_at = st.last_attested;
        r.reattested = st.answers_accepted;
    }
    return r;
}

static void log_close(px_conn *c)
{
    struct vmesh_proxy *p = c->w->p;
    px_record r;

    if (c->logged)
        return;
    c->logged = true;
    atomic_fetch_add(&p->m.conns[c->dir][c->result], 1);
    if (c->code != VMESH_ATLS_R_NONE && c->code < VMESH_ATLS_R__COUNT &&
        (c->result == PX_RES_REFUSED || c->result == PX_RES_REAPPRAISAL))
        atomic_fetch_add(&p->m.refusals[c->dir][c->code], 1);
    atomic_fetch_add(&p->m.bytes[c->dir][0], c->io.from_peer);
    atomic_fetch_add(&p->m.bytes[c->dir][1], c->io.to_peer);
    r = record_of(c, NULL);
    px_access_log(p, &r, (vmesh_time_mono_ns() - c->t_start) / 1000000u, c->result, c->reason);
}

static void set_result(px_conn *c, px_result r, const char *fmt, ...) VMESH_PRINTF(3, 4);
static void set_result(px_conn *c, px_result r, const char *fmt, ...)
{
    va_list ap;

    c->result = r;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
    va_end(ap);
}

/* ---- registration with the worker ---------------------------------------------------- */

/* Readiness from an epoll event on one side: set here, cleared by EAGAIN. */
static void conn_ready(px_conn *c, bool tls, uint32_t e)
{
    bool rd = (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0,
         wr = (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;

    if (c->st == CS_DEAD)
        return;
    c->ev_seq++;
    if (!tls) {
        c->io.pl_r |= rd;
        c->io.pl_w |= wr;
    } else {
        c->io.tls_r |= rd;
        if (wr) {
            c->io.tls_w = true;
            c->io.tls_r |= c->io.tls_rd_on_w;
            c->io.tls_rd_on_w = false;
        }
    }
    conn_run(c);
}

static void on_tls_event(px_ev *ev, uint32_t e)
{
    conn_ready(PX_OWNER(ev, px_conn, tls_ev), true, e);
}

static void on_plain_event(px_ev *ev, uint32_t e)
{
    conn_ready(PX_OWNER(ev, px_conn, pl_ev), false, e);
}

static void conn_timeout(px_conn *c);
static void conn_reattest(px_conn *c);

static void on_timer(px_timer *t)
{
    conn_timeout(PX_OWNER(t, px_conn, timer));
}

static void on_rt_timer(px_timer *t)
{
    conn_reattest(PX_OWNER(t, px_conn, rt.timer));
}

/* Closes one side's socket, taking it out of the worker's epoll set. */
static void close_fd(px_conn *c, int *fd)
{
    if (*fd < 0)
        return;
    (void)epoll_ctl(c->w->ep, EPOLL_CTL_DEL, *fd, NULL);
    close(*fd);
    *fd = -1;
}

static px_conn *conn_new(px_worker *w, px_gen *g, int dir, int li)
{
    px_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->w = w;
    c->g = g;
    c->dir = dir;
    c->li = li;
    c->io.tls_fd = c->io.pl_fd = -1;
    c->tls_ev.fn = on_tls_event;
    c->pl_ev.fn = on_plain_event;
    px_timer_init(&c->timer, on_timer);
    px_rt_init(&c->rt, on_rt_timer);
    c->mode = -1;
    c->t_start = c->io.t_last = vmesh_time_mono_ns();
    c->reappraised = atomic_load(&w->p->reappraise_gen);
    c->next = w->head;
    if (w->head)
        w->head->prev = c;
    w->head = c;
    w->nconns++;
    atomic_fetch_add(&w->p->m.active[dir], 1);
    atomic_fetch_add(&w->p->m.total_active, 1);
    return c;
}

/* Releases everything; the struct itself is freed after the event batch. */
static void conn_destroy(px_conn *c)
{
    px_worker *w = c->w;
    struct vmesh_proxy *p = w->p;

    log_close(c);
    px_timer_del(&w->timers, &c->timer);
    px_rt_stop(&c->rt, w);
    close_fd(c, &c->io.tls_fd);
    close_fd(c, &c->io.pl_fd);
    vmesh_atls_free(c->io.tls);
    c->io.tls = NULL;
    px_pipe_clear(&c->io);
    free(c->peer_id);
    c->peer_id = NULL;
    c->st = CS_DEAD;
    /* unlink from live, push to dead (or leave it to its re-appraisal job) */
    if (c->prev)
        c->prev->next = c->next;
    else
        w->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    if (c->reap_busy) {
        c->reap_orphan = true;
        c->next = NULL;
    } else {
        c->next = w->dead;
        w->dead = c;
    }
    w->nconns--;
    atomic_fetch_sub(&p->m.active[c->dir], 1);
    atomic_fetch_sub(&p->m.total_active, 1);
    px_gen_unref(c->g);
    c->g = NULL;
}

/* Registers fd (a new socket of this connection) with the worker. */
static vmesh_err conn_add_fd(px_conn *c, int fd, px_ev *ev)
{
    return px_ev_add(c->w->ep, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, ev);
}

/* ---- closing ------------------------------------------------------------------------- */

/* close_notify, best effort: a lingering close or a plain close follows. */
static void close_notify(px_conn *c)
{
    vmesh_err rc = c->io.tls ? vmesh_atls_shutdown(c->io.tls) : VMESH_OK;

    (void)rc;
}

/* Lingering close of the TLS side: whatever atls queued (a failure frame,
 * close_notify) goes out, our write side is shut, and we read until EOF
 * or the linger timer, so that unread input does not turn our close into
 * a RST that destroys the frame (docs/ATLS.md). */
static void conn_linger(px_conn *c)
{
    px_rt_stop(&c->rt, c->w);
    log_close(c);
    close_fd(c, &c->io.pl_fd);
    if (c->io.tls != NULL && vmesh_atls_flush(c->io.tls) != VMESH_OK) {
        /* best effort: whatever could not be written is lost with the close */
    }
    if (c->io.tls_fd < 0) {
        conn_destroy(c);
        return;
    }
    (void)shutdown(c->io.tls_fd, SHUT_WR);
    c->st = CS_LINGER;
    c->io.tls_r = true;
    if (!timer_set(c, vmesh_time_mono_ns() + ms_ns(c->g->cfg->linger_ms)))
        conn_destroy(c);
}

static void linger_read(px_conn *c)
{
    uint8_t buf[4096];

    for (;;) {
        ssize_t n = recv(c->io.tls_fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_destroy(c); /* EOF or error */
        return;
    }
}

/* Failure of the attested handshake: count the reason and linger. */
static void handshake_failed(px_conn *c, vmesh_err rc)
{
    struct vmesh_proxy *p = c->w->p;
    const char *msg = NULL;
    bool by_peer = false;
    vmesh_atls_reason r =
        c->io.tls ? vmesh_atls_failure(c->io.tls, &msg, &by_peer) : VMESH_ATLS_R_NONE;

    /* What TLS verified before the refusal: the peer's SPIFFE ID (its
     * chain verified) and the appraisal that refused it. */
    if (c->io.tls != NULL) {
        const char *id = vmesh_atls_peer_spiffe_id(c->io.tls);
        const vmesh_atls_peer_result *rr = vmesh_atls_refused_result(c->io.tls);
        if (c->peer_id == NULL && id != NULL)
            c->peer_id = strdup(id);
        if (rr != NULL) {
            c->tier = rr->tier;
            c->tv = rr->tv;
            c->mode = rr->mode;
        }
    }
    c->code = r;
    if (rc == VMESH_ERR_TIMEOUT || r == VMESH_ATLS_R_TIMEOUT) {
        set_result(c, PX_RES_TIMEOUT, "handshake and attestation did not complete within %u ms",
                   c->g->cfg->handshake_timeout_ms);
    } else if (r != VMESH_ATLS_R_NONE) {
        set_result(c, by_peer ? PX_RES_PEER_REFUSED : PX_RES_REFUSED, "attestation %s: %s: %s",
                   by_peer ? "refused by the peer" : "refused", vmesh_atls_reason_name(r),
                   msg ? msg : "");
    } else {
        set_result(c, PX_RES_TLS_FAILED, "TLS handshake failed: %s", vmesh_err_detail());
    }
    if (r != VMESH_ATLS_R_NONE && r < VMESH_ATLS_R__COUNT)
        atomic_fetch_add(&p->m.failures[r][by_peer ? 1 : 0], 1);
    px_log_limited(&p->rl_handshake, VMESH_LOG_INFO, "proxy: %s %s: %s%s at %s: %s", dir_name(c),
                   listener_name(c), c->peer_id ? "peer " : "unverified peer",
                   c->peer_id ? c->peer_id : "", c->remote[0] ? c->remote : "?", c->reason);
    conn_linger(c);
}

/* ---- handshake and connect ------------------------------------------------------------ */

/* The handshake starts (armed with the atls deadline); false when the
 * connection was closed. */
static bool start_tls(px_conn *c)
{
    vmesh_atls_config *cfg = c->dir == PX_DIR_IN ? c->g->in_cfg[c->li] : c->g->out_cfg[c->li];
    vmesh_err rc = vmesh_atls_conn_new(cfg, c->io.tls_fd, &c->io.tls);

    if (rc == VMESH_OK && c->dir == PX_DIR_OUT) {
        px_sessions *s = &c->g->sessions[c->li];
        pthread_mutex_lock(&s->lock);
        if (s->sess[c->up_idx] != NULL)
            rc = vmesh_atls_conn_set_session(c->io.tls, s->sess[c->up_idx]);
        pthread_mutex_unlock(&s->lock);
        if (rc != VMESH_OK)
            rc = VMESH_OK; /* a bad cached session: full handshake */
    }
    if (rc != VMESH_OK) {
        set_result(c, PX_RES_TLS_FAILED, "cannot start TLS: %s", vmesh_err_detail());
        conn_destroy(c);
        return false;
    }
    c->st = CS_HANDSHAKE;
    c->hs_deadline =
        vmesh_time_mono_ns() + (uint64_t)vmesh_atls_timeout_ms(c->io.tls) * 1000000u + 1000000u;
    if (!timer_set_atls(c)) {
        conn_destroy(c);
        return false;
    }
    return true;
}

/* Starts a non-blocking connect to addr: the TLS side (outbound) or the
 * plain side (inbound). */
static bool start_connect(px_conn *c, const struct sockaddr_storage *ss, socklen_t len, bool as_tls)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        set_result(c, PX_RES_CONNECT_FAILED, "socket: %s", strerror(errno));
        return false;
    }
    set_nodelay(fd);
    if (connect(fd, (const struct sockaddr *)ss, len) != 0 && errno != EINPROGRESS) {
        set_result(c, PX_RES_CONNECT_FAILED, "connect: %s", strerror(errno));
        close(fd);
        return false;
    }
    if (as_tls) {
        c->io.tls_fd = fd;
        c->io.tls_r = c->io.tls_w = false;
    } else {
        c->io.pl_fd = fd;
        c->io.pl_r = c->io.pl_w = false;
    }
    if (conn_add_fd(c, fd, as_tls ? &c->tls_ev : &c->pl_ev) != VMESH_OK) {
        set_result(c, PX_RES_CONNECT_FAILED, "%s", vmesh_err_detail());
        return false;
    }
    c->st = CS_CONNECT;
    return timer_set(c, vmesh_time_mono_ns() + ms_ns(c->g->cfg->connect_timeout_ms));
}

/* Outbound: the next upstream in round-robin order; false when all were tried. */
static bool outbound_connect_next(px_conn *c)
{
    const px_outbound *o = &c->g->cfg->out[c->li];

    while ((size_t)c->attempts < o->nup) {
        if (c->attempts == 0)
            c->up_idx =
                (int)(atomic_fetch_add(&c->w->p->rr[c->g->cfg->nin + (size_t)c->li], 1) % o->nup);
        else
            c->up_idx = (int)(((size_t)c->up_idx + 1) % o->nup);
        c->attempts++;
        vmesh_net_addr_str(&c->g->up_addr[c->li][c->up_idx], c->remote, sizeof(c->remote));
        close_fd(c, &c->io.tls_fd);
        if (start_connect(c, &c->g->up_addr[c->li][c->up_idx], c->g->up_len[c->li][c->up_idx],
                          true))
            return true;
        px_log_limited(&c->w->p->rl_connect, VMESH_LOG_WARN, "proxy: outbound %s: upstream %s: %s",
                       o->name, o->upstreams[c->up_idx], c->reason);
    }
    return false;
}

/* A connect failed or timed out (the reason is set): outbound tries the
 * next upstream, inbound gives up. */
static void connect_failed(px_conn *c)
{
    if (c->dir == PX_DIR_OUT) {
        px_log_limited(&c->w->p->rl_connect, VMESH_LOG_WARN, "proxy: outbound %s: upstream %s: %s",
                       listener_name(c), c->g->cfg->out[c->li].upstreams[c->up_idx], c->reason);
        if (!outbound_connect_next(c))
            conn_destroy(c);
        return;
    }
    px_log_limited(&c->w->p->rl_connect, VMESH_LOG_WARN, "proxy: inbound %s: app %s: %s",
                   listener_name(c), c->g->cfg->in[c->li].app, c->reason);
    close_notify(c);
    conn_linger(c);
}

/* Forwarding starts: both sides may hold bytes already. */
static void start_proxy(px_conn *c)
{
    c->st = CS_PROXY;
    c->io.tls_r = c->io.tls_w = true;
    if (c->dir == PX_DIR_IN)
        c->io.pl_r = c->io.pl_w = true;
    if (!timer_set(c, c->io.t_last + ms_ns(c->g->cfg->idle_timeout_ms)) ||
        !px_rt_start(&c->rt, c->w, c->g->cfg, c->io.tls)) {
        conn_destroy(c);
        return;
    }
    conn_run(c);
}

/* The attested handshake completed: the end of the handshake part. */
static void established(px_conn *c)
{
    struct vmesh_proxy *p = c->w->p;
    const vmesh_atls_peer_result *r = vmesh_atls_peer_result_get(c->io.tls);
    const char *id = vmesh_atls_peer_spiffe_id(c->io.tls);

    px_hist_observe(&p->m.handshake, vmesh_time_mono_ns() - c->t_start);
    c->mode = vmesh_atls_peer_mode(c->io.tls);
    c->resumed = vmesh_atls_resumed(c->io.tls);
    atomic_fetch_add(&p->m.handshakes[c->dir][c->resumed ? 1 : 0], 1);
    if (vmesh_atls_peer_keybound(c->io.tls))
        atomic_fetch_add(&p->m.keybound[c->dir][0], 1);
    if (vmesh_atls_own_keybound(c->io.tls))
        atomic_fetch_add(&p->m.keybound[c->dir][1], 1);
    if (id != NULL)
        c->peer_id = strdup(id);
    if (r != NULL) {
        c->tier = r->tier;
        c->tv = r->tv;
        snprintf(c->verifier, sizeof(c->verifier), "%s", r->verifier);
        snprintf(c->policy_digest, sizeof(c->policy_digest), "%s", r->policy_digest);
    }
    px_peer_epochs_json(c->g, c->peer_id, c->epochs);
    /* An unattested peer was admitted by the listener's provider (the union
     * of every rule); its own rule decides (vmesh_agent_reappraise). */
    if (c->mode == VMESH_ATLS_MODE_NONE && r != NULL) {
        char why[300];
        vmesh_atls_reason rr = vmesh_agent_reappraise(c->g->agent, c->peer_id, r, why, sizeof(why));
        if (rr != VMESH_ATLS_R_NONE) {
            atomic_fetch_add(&p->m.failures[rr][0], 1);
            c->code = rr;
            set_result(c, PX_RES_REFUSED, "attestation refused: %s: %s", vmesh_atls_reason_name(rr),
                       why);
            px_log_limited(&p->rl_handshake, VMESH_LOG_INFO, "proxy: %s %s: peer %s at %s: %s",
                           dir_name(c), listener_name(c), c->peer_id ? c->peer_id : "?",
                           c->remote[0] ? c->remote : "?", c->reason);
            close_notify(c);
            conn_linger(c);
            return;
        }
    }
    /* A route that needs an attested peer refuses one admitted on its
     * identity alone, before a byte is forwarded. */
    if (c->mode == VMESH_ATLS_MODE_NONE && route_needs_attested(c)) {
        atomic_fetch_add(&p->m.route_refused, 1);
        atomic_fetch_add(&p->m.failures[VMESH_ATLS_R_UNATTESTED_REFUSED][0], 1);
        set_result(c, PX_RES_REFUSED,
                   "attestation refused: unattested-refused: route %s needs an attested peer; %s "
                   "showed its identity only",
                   listener_name(c), c->peer_id ? c->peer_id : "the peer");
        px_log_limited(&p->rl_handshake, VMESH_LOG_INFO, "proxy: %s: %s", listener_name(c),
                       c->reason);
        close_notify(c);
        conn_linger(c);
        return;
    }
    atomic_fetch_add(c->mode == VMESH_ATLS_MODE_NONE ? &p->m.admitted_identity_only
                                                     : &p->m.admitted_attested,
                     1);
    c->io.t_last = vmesh_time_mono_ns();
    if (c->dir == PX_DIR_IN) {
        if (!start_connect(c, &c->g->app_addr[c->li], c->g->app_len[c->li], false)) {
            px_log_limited(&c->w->p->rl_connect, VMESH_LOG_WARN, "proxy: inbound %s: app %s: %s",
                           listener_name(c), c->g->cfg->in[c->li].app, c->reason);
            close_notify(c);
            conn_linger(c);
        }
        return;
    }
    start_proxy(c);
}

static void connected(px_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    int fd = c->dir == PX_DIR_IN ? c->io.pl_fd : c->io.tls_fd;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return;
    if (err != 0) {
        set_result(c, PX_RES_CONNECT_FAILED, "connect: %s", strerror(err));
        connect_failed(c);
        return;
    }
    c->io.t_last = vmesh_time_mono_ns();
    c->result = PX_RES_OK; /* an earlier upstream may have failed: this one did not */
    c->reason[0] = '\0';
    if (c->dir == PX_DIR_IN) {
        start_proxy(c);
        return;
    }
    if (!start_tls(c))
        return;
    c->io.tls_r = c->io.tls_w = true;
    conn_run(c);
}

/* ---- forwarding --------------------------------------------------------------------------- */

/* Outbound: keep the upstream's newest session ticket once the TLS side
 * was read past the handshake (TLS 1.3 tickets arrive after it). */
static void save_session(px_conn *c)
{
    px_sessions *s;
    vmesh_atls_session *sess;

    if (c->dir != PX_DIR_OUT || c->sess_saved || (c->io.from_peer == 0 && !c->io.tls_eof))
        return;
    sess = vmesh_atls_conn_get1_session(c->io.tls);
    if (sess == NULL)
        return;
    c->sess_saved = true;
    s = &c->g->sessions[c->li];
    pthread_mutex_lock(&s->lock);
    vmesh_atls_session_free(s->sess[c->up_idx]);
    s->sess[c->up_idx] = sess;
    pthread_mutex_unlock(&s->lock);
}

/* The peer passed a re-attestation round: its newest result is the one
 * shown and re-appraised from now on. */
static void reattested(px_conn *c)
{
    const vmesh_atls_peer_result *r = vmesh_atls_peer_result_get(c->io.tls);

    if (r != NULL) {
        c->tier = r->tier;
        c->tv = r->tv;
    }
    c->mode = vmesh_atls_peer_mode(c->io.tls);
    px_epochs_json(c->w->p->verifier, c->epochs);
    vmesh_log(VMESH_LOG_DEBUG, "proxy: %s %s: %s re-attested: %s", dir_name(c), listener_name(c),
              c->peer_id ? c->peer_id : "?", vmesh_tier_name(c->tier));
}

/* The connection failed in re-attestation (refused or late answer, or the
 * peer refused ours): close it with the reason; false when it did not. */
static bool reattest_cut(px_conn *c)
{
    struct vmesh_proxy *p = c->w->p;

    if (!px_rt_cut(p, c->io.tls, c->reason, sizeof(c->reason)))
        return false;
    c->result = PX_RES_REATTEST;
    px_log_limited(&p->rl_reappraisal, VMESH_LOG_WARN,
                   "proxy: %s %s: closing the connection with %s: %s", dir_name(c),
                   listener_name(c), c->peer_id ? c->peer_id : "?", c->reason);
    close_notify(c);
    conn_linger(c);
    return true;
}

/* The re-attestation clock fired (CS_PROXY only): cut a late peer, ask
 * what is due. */
static void conn_reattest(px_conn *c)
{
    vmesh_err rc;

    if (c->st != CS_PROXY)
        return;
    rc = px_rt_run(&c->rt, c->w, c->g->cfg, c->io.tls, c->dir);
    if (rc == VMESH_OK || reattest_cut(c))
        return;
    set_result(c, PX_RES_RESET, "re-attestation: %s", vmesh_err_detail());
    close_notify(c);
    conn_linger(c);
}

static void forward(px_conn *c)
{
    size_t bufsz = c->g->cfg->buffer_size;
    uint8_t *buf = px_worker_scratch(c->w, bufsz);
    px_fwd r;

    if (buf == NULL) {
        set_result(c, PX_RES_RESET, "out of memory");
        conn_destroy(c);
        return;
    }
    r = px_forward(&c->io, buf, bufsz);
    save_session(c);
    if (px_rt_progress(&c->rt, c->w->p, c->io.tls, c->dir))
        reattested(c);
    if (r != PX_FWD_OPEN && reattest_cut(c))
        return;
    switch (r) {
    case PX_FWD_OPEN:
        return;
    case PX_FWD_CLOSED:
    case PX_FWD_FLUSH:
        if (c->result == PX_RES_OK && c->reason[0] == '\0')
            set_result(c, PX_RES_OK, "closed by both sides");
        if (r == PX_FWD_FLUSH) {
            c->st = CS_FLUSH;
            if (!timer_set(c, vmesh_time_mono_ns() + ms_ns(c->g->cfg->linger_ms)))
                conn_destroy(c);
            return;
        }
        break;
    case PX_FWD_REFUSED:
        handshake_failed(c, VMESH_ERR_POLICY);
        return; /* the peer's verdict on us */
    case PX_FWD_ERR_PLAIN:
        set_result(c, PX_RES_RESET, "%s side: %s", c->dir == PX_DIR_IN ? "app" : "client",
                   strerror(c->io.err));
        break;
    case PX_FWD_ERR_TLS_READ:
        set_result(c, PX_RES_RESET, "TLS read: %s", vmesh_err_detail());
        break;
    case PX_FWD_ERR_TLS:
        set_result(c, PX_RES_RESET, "TLS side: %s", vmesh_err_detail());
        break;
    }
    conn_destroy(c);
}

/* ---- handshake steps in the pool ---------------------------------------------------------- */

/* In a pool thread: one step of the attested handshake, as far as the
 * socket allows (TLS, our attestation, appraising the peer's: a central
 * verifier's round trip included). The error detail is thread-local: it
 * travels back in hs_err. */
static void hs_run(px_job *j)
{
    px_conn *c = PX_OWNER(j, px_conn, job);
    vmesh_err rc;

    if (atomic_load(&c->hs_abandoned)) {
        /* refused at its deadline while it queued: no attester or verifier
         * work for a connection that is gone */
        c->hs_rc = VMESH_ERR_TIMEOUT;
        c->hs_err[0] = '\0';
        return;
    }
    rc = vmesh_atls_handshake(c->io.tls);
    c->hs_rc = rc;
    c->hs_err[0] = '\0';
    if (rc != VMESH_OK && rc != VMESH_ERR_WANT_READ && rc != VMESH_ERR_WANT_WRITE)
        snprintf(c->hs_err, sizeof(c->hs_err), "%s", vmesh_err_detail());
    vmesh_err_clear();
}

static void hs_done(px_job *j);

/* Hands the next handshake step to the pool (runs it here when there is
 * no pool: a proxy object used without vmesh_proxy_run). */
static void hs_submit(px_conn *c)
{
    c->hs_busy = true;
    c->job_seq = c->ev_seq;
    c->job.run = hs_run;
    c->job.done = hs_done;
    c->job.w = c->w;
    if (c->w->p->hs == NULL) {
        hs_run(&c->job);
        hs_done(&c->job);
        return;
    }
    px_hspool_submit(c->w->p, &c->job);
}

/* The deadline passed while a step is in the pool (a slow attester or
 * verifier): the connection is refused now, without a verdict frame (the
 * TLS state is the pool's), its record written; the struct goes when the
 * step comes back. */
static void hs_abandon(px_conn *c, px_result r, const char *why)
{
    if (atomic_load(&c->hs_abandoned))
        return;
    atomic_store(&c->hs_abandoned, true);
    set_result(c, r, "%s", why);
    px_log_limited(&c->w->p->rl_handshake, VMESH_LOG_INFO, "proxy: %s %s: %s", dir_name(c),
                   listener_name(c), c->reason);
    if (c->io.tls_fd >= 0)
        (void)shutdown(c->io.tls_fd, SHUT_RDWR);
    close_fd(c, &c->io.pl_fd);
    log_close(c);
}

/* Back on the worker: what the step came to. */
static void hs_done(px_job *j)
{
    px_conn *c = PX_OWNER(j, px_conn, job);
    vmesh_err rc = c->hs_rc;

    c->hs_busy = false;
    if (atomic_load(&c->hs_abandoned) || j->cancelled) {
        if (!atomic_load(&c->hs_abandoned))
            set_result(c, PX_RES_DRAIN, "proxy stopped during the handshake");
        conn_destroy(c);
        return;
    }
    if (rc == VMESH_OK) {
        established(c);
    } else if (rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE) {
        if (c->ev_seq != c->job_seq)
            hs_submit(c); /* the socket moved while the step ran */
    } else {
        (void)vmesh_err_set(rc, "%s", c->hs_err);
        handshake_failed(c, rc);
    }
}

/* ---- the state machine -------------------------------------------------------------------- */

/* Drives the connection as far as its readiness allows. */
static void conn_run(px_conn *c)
{
    vmesh_err rc;

    switch (c->st) {
    case CS_WAIT_HELLO:
        if (!c->io.tls_r || !start_tls(c))
            return;
        /* fall through */
    case CS_HANDSHAKE:
        /* never here: the step runs in the pool; an event meanwhile is
         * counted in ev_seq */
        if (!c->hs_busy)
            hs_submit(c);
        return;
    case CS_CONNECT:
        if ((c->dir == PX_DIR_IN && c->io.pl_w) || (c->dir == PX_DIR_OUT && c->io.tls_w))
            connected(c);
        return;
    case CS_PROXY:
        forward(c);
        return;
    case CS_FLUSH:
        rc = vmesh_atls_flush(c->io.tls);
        if (rc != VMESH_ERR_WANT_WRITE)
            conn_destroy(c);
        return;
    case CS_LINGER:
        linger_read(c);
        return;
    case CS_DEAD:
        return;
    }
}

static void conn_timeout(px_conn *c)
{
    uint64_t now = vmesh_time_mono_ns();
    vmesh_err rc;

    switch (c->st) {
    case CS_WAIT_HELLO:
        set_result(c, PX_RES_TIMEOUT, "no TLS ClientHello within %u ms",
                   c->g->cfg->handshake_timeout_ms);
        px_log_limited(&c->w->p->rl_handshake, VMESH_LOG_INFO, "proxy: inbound %s: %s",
                       listener_name(c), c->reason);
        conn_destroy(c);
        return;
    case CS_HANDSHAKE:
        if (c->hs_busy) {
            if (now < c->hs_deadline) {
                if (!timer_set(c, c->hs_deadline))
                    hs_abandon(c, PX_RES_RESET, "out of memory");
                return;
            }
            hs_abandon(c, PX_RES_TIMEOUT,
                       c->g->cfg->handshake_timeout_ms > 0
                           ? "handshake and attestation did not complete within the handshake "
                             "timeout (a step was still running: attester or verifier slow)"
                           : "handshake timeout");
            return;
        }
        if (vmesh_atls_timeout_ms(c->io.tls) > 0) {
            if (!timer_set_atls(c))
                conn_destroy(c);
            return;
        }
        rc = vmesh_atls_handshake(c->io.tls); /* reports the timeout, queues the failure frame */
        if (rc == VMESH_OK) {
            established(c);
            return;
        }
        handshake_failed(
            c, rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE ? VMESH_ERR_TIMEOUT : rc);
        return;
    case CS_CONNECT:
        set_result(c, PX_RES_CONNECT_FAILED, "connect timed out after %u ms",
                   c->g->cfg->connect_timeout_ms);
        connect_failed(c);
        return;
    case CS_PROXY:
        if (now - c->io.t_last < ms_ns(c->g->cfg->idle_timeout_ms)) {
            if (!timer_set(c, c->io.t_last + ms_ns(c->g->cfg->idle_timeout_ms)))
                conn_destroy(c);
            return;
        }
        set_result(c, PX_RES_IDLE, "idle for %u ms", c->g->cfg->idle_timeout_ms);
        close_notify(c);
        conn_linger(c);
        return;
    case CS_FLUSH:
    case CS_LINGER:
        conn_destroy(c);
        return;
    case CS_DEAD:
        return;
    }
}

/* ---- what the worker asks of us ------------------------------------------------------------ */

static void refuse_limit(px_worker *w, int fd, int dir, const char *name)
{
    struct vmesh_proxy *p = w->p;

    atomic_fetch_add(&p->m.conns[dir][PX_RES_LIMIT], 1);
    px_log_limited(&p->rl_limit, VMESH_LOG_WARN,
                   "proxy: %s %s: connection refused: limits.max-connections (%u) reached",
                   dir == PX_DIR_IN ? "inbound" : "outbound", name, atomic_load(&p->max_conns));
    close(fd);
}

static void conn_accept(px_worker *w, int dir, size_t li, int fd)
{
    px_gen *g = px_current_gen(w->p);
    px_conn *c;

    if (atomic_load(&w->p->m.total_active) >= (int64_t)atomic_load(&w->p->max_conns)) {
        refuse_limit(w, fd, dir, dir == PX_DIR_IN ? g->cfg->in[li].name : g->cfg->out[li].name);
        px_gen_unref(g);
        return;
    }
    set_nodelay(fd);
    c = conn_new(w, g, dir, (int)li);
    if (c == NULL) {
        px_gen_unref(g);
        close(fd);
        return;
    }
    if (dir == PX_DIR_IN) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
            vmesh_net_addr_str(&ss, c->remote, sizeof(c->remote));
        c->io.tls_fd = fd;
        c->st = CS_WAIT_HELLO;
        if (conn_add_fd(c, fd, &c->tls_ev) != VMESH_OK ||
            !timer_set(c, c->t_start + ms_ns(g->cfg->handshake_timeout_ms))) {
            set_result(c, PX_RES_RESET, "%s", vmesh_err_detail());
            conn_destroy(c);
        }
        return;
    }
    c->io.pl_fd = fd;
    if (conn_add_fd(c, fd, &c->pl_ev) != VMESH_OK) {
        set_result(c, PX_RES_RESET, "%s", vmesh_err_detail());
        conn_destroy(c);
    } else if (!outbound_connect_next(c)) {
        px_log_limited(&w->p->rl_connect, VMESH_LOG_WARN,
                       "proxy: outbound %s: no upstream reachable: %s", g->cfg->out[li].name,
                       c->reason);
        conn_destroy(c);
    }
}

/* ---- re-appraisal ------------------------------------------------------------------------- */

/* A connection whose peer no longer passes: closed with the reason. */
static void reappraisal_close(px_conn *c, vmesh_atls_reason rr, const char *first, const char *why)
{
    struct vmesh_proxy *p = c->w->p;

    atomic_fetch_add(&p->m.reappraisal_closed, 1);
    c->code = rr;
    set_result(c, PX_RES_REAPPRAISAL, "re-appraisal: %s: %s%s", vmesh_atls_reason_name(rr), first, why);
    px_log_limited(&p->rl_reappraisal, VMESH_LOG_WARN, "proxy: %s %s: closing the connection with %s: %s",
                   dir_name(c), listener_name(c), c->peer_id ? c->peer_id : "?", c->reason);
    close_notify(c);
    conn_linger(c);
}

/* Central mode (D41): a re-appraisal is a verifier round trip, so it runs
 * in the handshake pool, on a copy of what the connection kept, and the
 * worker keeps forwarding. */
typedef struct {
    px_job job;
    px_conn *c;
    px_gen *g; /* the generation in force when it was asked */
    char *peer;
    vmesh_atls_peer_result r;
    vmesh_atls_reason rr;
    bool undecided;
    char why[300];
} px_reap;

#define REAP_FIRST_DELAY_MS 250
#define REAP_MAX_DELAY_MS 1000

static void reap_run(px_job *j)
{
    px_reap *rj = PX_OWNER(j, px_reap, job);

    rj->rr = vmesh_agent_reappraise_central(rj->g->agent, rj->peer, &rj->r, &rj->undecided, rj->why,
                                            sizeof(rj->why));
    vmesh_err_clear();
}

static void reap_free(px_reap *rj)
{
    px_gen_unref(rj->g);
    free(rj->peer);
    vmesh_atls_peer_result_free(&rj->r);
    free(rj);
}

static void reap_submit(px_conn *c, px_gen *cur);

/* How long a connection keeps forwarding while its re-appraisal gets no
 * verdict (verifier silent or behind), from when it was asked:
 * verifier.central.verdict-grace (default 60 s). */
static int64_t reap_bound(const px_gen *g)
{
    return g->cfg->central_verdict_grace > 0 ? g->cfg->central_verdict_grace : 60;
}

static void reap_retry_fire(px_timer *t);

static void reap_retry_arm(px_worker *w, uint64_t at)
{
    w->reap_retry.fn = reap_retry_fire;
    if (w->reap_retry.idx >= 0 && w->reap_retry.deadline <= at)
        return;
    (void)px_timer_set(&w->timers, &w->reap_retry, at);
}

/* Back on the worker: the verdict. */
static void reap_done(px_job *j)
{
    px_reap *rj = PX_OWNER(j, px_reap, job);
    px_conn *c = rj->c;
    px_worker *w = c->w;
    struct vmesh_proxy *p = w->p;
    int64_t now = vmesh_time_now();

    w->reap_out--;
    c->reap_busy = false;
    if (c->reap_orphan) { /* closed meanwhile */
        free(c);
        goto out;
    }
    if (j->cancelled || (c->st != CS_PROXY && c->st != CS_CONNECT))
        goto out;
    if (rj->rr == VMESH_ATLS_R_NONE) {
        c->reap_since = 0;
        c->reap_retry_at = 0;
        c->reap_delay_ms = 0;
    } else if (rj->undecided) {
        char more[160];
        atomic_fetch_add(&p->m.reappraisal_undecided, 1);
        if (now - c->reap_since < reap_bound(rj->g)) {
            /* no verdict yet: keep forwarding, ask again */
            c->reap_delay_ms = c->reap_delay_ms == 0 ? REAP_FIRST_DELAY_MS
                               : c->reap_delay_ms * 2 > REAP_MAX_DELAY_MS ? REAP_MAX_DELAY_MS
                                                                          : c->reap_delay_ms * 2;
            c->reap_retry_at = vmesh_time_mono_ns() + ms_ns(c->reap_delay_ms);
            reap_retry_arm(w, c->reap_retry_at);
            goto out;
        }
        snprintf(more, sizeof(more), "no verdict for %lld s after the re-appraisal was asked "
                 "(verifier.central.verdict-grace %lld s): ", (long long)(now - c->reap_since),
                 (long long)reap_bound(rj->g));
        reappraisal_close(c, rj->rr, more, rj->why);
        goto out;
    } else {
        reappraisal_close(c, rj->rr, "", rj->why);
        goto out;
    }
    if (c->reap_again) {
        px_gen *cur = px_current_gen(p);
        c->reap_again = false;
        reap_submit(c, cur);
        px_gen_unref(cur);
    }
out:
    reap_free(rj);
}

static void reap_submit(px_conn *c, px_gen *cur)
{
    px_worker *w = c->w;
    const vmesh_atls_peer_result *r = vmesh_atls_peer_result_get(c->io.tls);
    px_reap *rj;

    if (c->reap_busy) {
        c->reap_again = true;
        return;
    }
    if (r == NULL)
        return;
    rj = calloc(1, sizeof(*rj));
    if (rj == NULL)
        return;
    vmesh_atls_peer_result_init(&rj->r);
    if (vmesh_atls_peer_result_copy(&rj->r, r) != VMESH_OK ||
        (c->peer_id != NULL && (rj->peer = strdup(c->peer_id)) == NULL)) {
        vmesh_err_clear();
        vmesh_atls_peer_result_free(&rj->r);
        free(rj);
        return;
    }
    rj->c = c;
    rj->g = px_gen_ref(cur);
    rj->job.run = reap_run;
    rj->job.done = reap_done;
    rj->job.w = w;
    c->reap_busy = true;
    c->reap_again = false;
    c->reap_retry_at = 0;
    w->reap_out++;
    atomic_fetch_add(&w->p->m.reappraisals, 1);
    atomic_fetch_add(&w->p->m.reappraisal_pooled, 1);
    px_hspool_submit(w->p, &rj->job);
}

/* The retry timer: connections waiting for a verdict whose time came. */
static void reap_retry_fire(px_timer *t)
{
    px_worker *w = PX_OWNER(t, px_worker, reap_retry);
    uint64_t now = vmesh_time_mono_ns(), next = 0;
    px_gen *cur = px_current_gen(w->p);

    for (px_conn *c = w->head; c != NULL; c = c->next) {
        if (c->reap_retry_at == 0 || c->reap_busy)
            continue;
        if (c->reap_retry_at <= now)
            reap_submit(c, cur);
        else if (next == 0 || c->reap_retry_at < next)
            next = c->reap_retry_at;
    }
    px_gen_unref(cur);
    if (next != 0)
        reap_retry_arm(w, next);
}

/* Re-judges every open connection's peer under the current snapshot and
 * policy once per re-appraisal request; closes those that no longer pass.
 * In central mode the judging runs in the handshake pool (reap_submit). */
static void reappraise_all(px_worker *w)
{
    struct vmesh_proxy *p = w->p;
    uint64_t gen = atomic_load(&p->reappraise_gen);
    px_gen *cur;

    if (gen == w->reappraise_seen)
        return;
    w->reappraise_seen = gen;
    cur = px_current_gen(p);
    for (px_conn *c = w->head, *next; c != NULL; c = next) {
        const vmesh_atls_peer_result *r;
        vmesh_atls_reason rr;
        char why[300];

        next = c->next;
        if (c->reappraised == gen || c->io.tls == NULL ||
            (c->st != CS_PROXY && c->st != CS_CONNECT))
            continue;
        c->reappraised = gen;
        if (cur->cfg->central_url != NULL && p->hs != NULL) {
            /* D43: the lookup journal decides here when it can (no
             * verifier, microseconds); the pool asks the verifier when
             * it cannot */
            r = c->reap_busy ? NULL : vmesh_atls_peer_result_get(c->io.tls);
            if (r != NULL) {
                bool decided = false;
                rr = vmesh_agent_reappraise_journal(cur->agent, c->peer_id, r, &decided, why, sizeof(why));
                if (decided) {
                    atomic_fetch_add(&p->m.reappraisals, 1);
                    c->reap_since = 0;
                    c->reap_retry_at = 0;
                    c->reap_delay_ms = 0;
                    if (rr != VMESH_ATLS_R_NONE)
                        reappraisal_close(c, rr, "", why);
                    continue;
                }
            }
            if (c->reap_since == 0)
                c->reap_since = vmesh_time_now();
            reap_submit(c, cur);
            continue;
        }
        r = vmesh_atls_peer_result_get(c->io.tls);
        if (r == NULL)
            continue;
        atomic_fetch_add(&p->m.reappraisals, 1);
        rr = vmesh_agent_reappraise(cur->agent, c->peer_id, r, why, sizeof(why));
        if (rr == VMESH_ATLS_R_NONE)
            continue;
        reappraisal_close(c, rr, "", why);
    }
    px_gen_unref(cur);
}

/* Closes every connection, those that did not end otherwise with `drain`.
 * One with a step in the pool is abandoned (freed when the step is back)
 * while the pool runs. */
static void destroy_all(px_worker *w, const char *why)
{
    for (px_conn *c = w->head, *next; c != NULL; c = next) {
        next = c->next;
        if (c->hs_busy && w->p->hs != NULL) {
            hs_abandon(c, PX_RES_DRAIN, why);
            continue;
        }
        if (c->result == PX_RES_OK)
            set_result(c, PX_RES_DRAIN, "%s", why);
        conn_destroy(c);
    }
}

static void free_dead(px_worker *w)
{
    while (w->dead) {
        px_conn *c = w->dead;
        w->dead = c->next;
        free(c);
    }
}

/* The bell rang: every forwarding connection asks its peer once within
 * the jitter window (reattest.c decides whether it does). */
static void reattest_ticks(px_worker *w)
{
    uint64_t tick = atomic_load(&w->p->bell_tick), due = atomic_load(&w->p->bell_tick_due_ns);

    if (tick == w->bell_tick_seen)
        return;
    w->bell_tick_seen = tick;
    for (px_conn *c = w->head; c != NULL; c = c->next)
        if (c->st == CS_PROXY)
            px_rt_tick(&c->rt, w, c->g->cfg, c->io.tls, tick, due);
}

static void conn_after_batch(px_worker *w)
{
    reappraise_all(w);
    reattest_ticks(w);
    if (atomic_load(&w->p->force_close))
        destroy_all(w, "drain timeout: closed");
    free_dead(w);
}

static void conn_close_all(px_worker *w)
{
    destroy_all(w, "proxy stopped");
    free_dead(w);
}

const px_worker_ops px_conn_ops = {
    .accept = conn_accept,
    .after_batch = conn_after_batch,
    .close_all = conn_close_all,
};

vmesh_err px_conns_peers_json(struct vmesh_proxy *p, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    bool first = true;
    uint64_t now = vmesh_time_mono_ns();

    VMESH_GUARD(vmesh_buf_append_u8(out, '['));
    for (size_t i = 0; i < p->nworkers; i++) {
        px_worker *w = p->workers[i];
        pthread_mutex_lock(&w->lock);
        for (px_conn *c = w->head; c != NULL && rc == VMESH_OK; c = c->next) {
            px_record r = record_of(c, state_names[c->st]);
            rc = px_record_peers_json(out, &r, first, (now - c->t_start) / 1000000u, w->idx);
            first = false;
        }
        pthread_mutex_unlock(&w->lock);
        VMESH_GUARD(rc);
    }
    VMESH_GUARD(vmesh_buf_append(out, "\n]\n", 3));
out:
    return rc;
}
