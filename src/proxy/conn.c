/*
 * The proxy's data path: one worker thread per core, each with its own
 * epoll set, its own SO_REUSEPORT listening sockets (the kernel spreads
 * connections across workers; no accept thread, no hand-off), a timer heap
 * and a scratch buffer. A connection is an explicit state machine (wait
 * for ClientHello, attested handshake, connect, proxy, flush, linger) with
 * a timer on every state; data moves through bounded per-direction
 * buffers, and a side is not read while its peer's buffer is full
 * (backpressure). Edge-triggered epoll: readiness flags are set by events
 * and cleared by EAGAIN. It must never forward a byte before the atls
 * handshake (attestation included) completed, never block, and never
 * touch a connection of another worker (cross-thread work goes through the
 * worker's lock, held while it processes events, and its eventfd).
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include "vmesh/rv.h"
#include "vmesh/verifier.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define ACCEPT_BATCH 64

typedef enum { EV_LISTEN_IN, EV_LISTEN_OUT, EV_WAKE, EV_TLS, EV_PLAIN } ev_kind;

typedef struct {
    uint8_t kind;
    uint16_t idx;
    void *ptr;
} evsrc;

typedef enum {
    CS_WAIT_HELLO, /* inbound: accepted, waiting for the first byte (no TLS state yet) */
    CS_HANDSHAKE,  /* attested TLS handshake */
    CS_CONNECT,    /* inbound: to the app; outbound: to an upstream */
    CS_PROXY,
    CS_FLUSH,      /* both directions done; TLS output still queued */
    CS_LINGER,     /* TLS write side shut; reading until EOF so the peer gets our last frame */
    CS_DEAD,
} cstate;

static const char *const state_names[] = {"wait-hello", "handshake", "connect", "proxy", "flush", "linger", "dead"};

typedef struct px_conn {
    struct px_conn *prev, *next;
    struct px_worker *w;
    px_gen *g;
    int dir, li;
    cstate st;
    int tls_fd, pl_fd;
    evsrc tls_ev, pl_ev;
    vmesh_atls_conn *tls;
    bool tls_r, tls_w, pl_r, pl_w, tls_rd_on_w;
    bool tls_eof, pl_eof, pl_shut, tls_shut;
    uint8_t *up, *down; /* pending bytes: plain -> TLS, TLS -> plain */
    size_t up_len, up_off, down_len, down_off;
    uint64_t deadline;
    ssize_t hidx;
    uint64_t t_start, t_last;
    int up_idx, attempts;
    bool sess_saved, logged, resumed;
    uint64_t from_peer, to_peer;
    px_result result;
    char reason[300];
    char *peer_id;
    int mode;
    vmesh_tier tier;
    vmesh_tv tv;
    char epochs[96];
    uint64_t reappraised;
} px_conn;

typedef struct px_worker {
    struct vmesh_proxy *p;
    size_t idx;
    pthread_t th;
    bool started;
    int ep, wake_fd;
    int lfd_in[PX_MAX_LISTENERS], lfd_out[PX_MAX_LISTENERS];
    evsrc lev_in[PX_MAX_LISTENERS], lev_out[PX_MAX_LISTENERS], wake_ev;
    pthread_mutex_t lock;
    px_conn *head, *dead;
    size_t nconns;
    px_conn **heap;
    size_t hn, hcap;
    uint8_t *scratch;
    size_t scratch_cap;
    uint64_t reappraise_seen;
    bool listening;
    _Atomic bool done;
} px_worker;

/* ---- small helpers ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    return vmesh_time_mono_ns();
}

static void set_nodelay(int fd)
{
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- timer heap (per worker) ------------------------------------------------------- */

static void heap_swap(px_worker *w, size_t a, size_t b)
{
    px_conn *t = w->heap[a];

    w->heap[a] = w->heap[b];
    w->heap[b] = t;
    w->heap[a]->hidx = (ssize_t)a;
    w->heap[b]->hidx = (ssize_t)b;
}

static void heap_up(px_worker *w, size_t i)
{
    while (i > 0 && w->heap[(i - 1) / 2]->deadline > w->heap[i]->deadline) {
        heap_swap(w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(px_worker *w, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->hn && w->heap[l]->deadline < w->heap[m]->deadline)
            m = l;
        if (r < w->hn && w->heap[r]->deadline < w->heap[m]->deadline)
            m = r;
        if (m == i)
            return;
        heap_swap(w, i, m);
        i = m;
    }
}

static void timer_del(px_conn *c)
{
    px_worker *w = c->w;
    size_t i;

    if (c->hidx < 0)
        return;
    i = (size_t)c->hidx;
    c->hidx = -1;
    w->hn--;
    if (i == w->hn)
        return;
    w->heap[i] = w->heap[w->hn];
    w->heap[i]->hidx = (ssize_t)i;
    heap_up(w, i);
    heap_down(w, (size_t)w->heap[i]->hidx);
}

/* Arms the connection's one timer; false when memory for the heap is short. */
static bool timer_set(px_conn *c, uint64_t deadline)
{
    px_worker *w = c->w;

    c->deadline = deadline;
    if (c->hidx >= 0) {
        heap_up(w, (size_t)c->hidx);
        heap_down(w, (size_t)c->hidx);
        return true;
    }
    if (w->hn == w->hcap) {
        size_t ncap = w->hcap ? w->hcap * 2 : 1024;
        px_conn **nh = realloc(w->heap, ncap * sizeof(*nh));
        if (nh == NULL)
            return false;
        w->heap = nh;
        w->hcap = ncap;
    }
    w->heap[w->hn] = c;
    c->hidx = (ssize_t)w->hn;
    w->hn++;
    heap_up(w, (size_t)c->hidx);
    return true;
}

static uint64_t ms_ns(uint32_t ms)
{
    return (uint64_t)ms * 1000000u;
}

/* ---- access log and bookkeeping ----------------------------------------------------- */

static size_t tv_json(const vmesh_tv *tv, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "{");

    for (int i = 0; i < VMESH_TV__COUNT && o < cap; i++) {
        if (tv->v[i] == 0)
            continue;
        o += (size_t)snprintf(out + o, cap - o, "%s\"%s\":%d", o > 1 ? "," : "", vmesh_tv_claim_name((vmesh_tv_claim)i),
                              tv->v[i]);
    }
    if (o < cap)
        o += (size_t)snprintf(out + o, cap - o, "}");
    return o < cap ? o : cap - 1;
}

static const char *listener_name(const px_conn *c)
{
    const vmesh_proxy_config *cfg = c->g->cfg;

    return c->dir == PX_DIR_IN ? cfg->in[c->li].name : cfg->out[c->li].name;
}

static void log_close(px_conn *c)
{
    struct vmesh_proxy *p = c->w->p;
    char line[2048], peer[300], reason[700], tv[256], ts[96];
    struct timespec rt;
    struct tm tm;
    int n;

    if (c->logged)
        return;
    c->logged = true;
    atomic_fetch_add(&p->m.conns[c->dir][c->result], 1);
    atomic_fetch_add(&p->m.bytes[c->dir][0], c->from_peer);
    atomic_fetch_add(&p->m.bytes[c->dir][1], c->to_peer);
    if (p->access_fd < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &rt);
    gmtime_r(&rt.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, rt.tv_nsec / 1000000);
    vmesh_json_str_to(peer, sizeof(peer), c->peer_id);
    vmesh_json_str_to(reason, sizeof(reason), c->reason);
    tv_json(&c->tv, tv, sizeof(tv));
    n = snprintf(line, sizeof(line),
                 "{\"time\":\"%s\",\"direction\":\"%s\",\"listener\":\"%s\",\"peer\":%s%s%s,\"mode\":%s%s%s,"
                 "\"tier\":%s%s%s,\"tv\":%s,\"rv_epochs\":%s,\"resumed\":%s,\"bytes_from_peer\":%llu,"
                 "\"bytes_to_peer\":%llu,\"duration_ms\":%llu,\"result\":\"%s\",\"close_reason\":\"%s\"}\n",
                 ts, c->dir == PX_DIR_IN ? "inbound" : "outbound", listener_name(c), c->peer_id ? "\"" : "",
                 c->peer_id ? peer : "null", c->peer_id ? "\"" : "", c->mode >= 0 ? "\"" : "",
                 c->mode >= 0 ? vmesh_atls_mode_name(c->mode) : "null", c->mode >= 0 ? "\"" : "",
                 c->mode >= 0 ? "\"" : "", c->mode >= 0 ? vmesh_tier_name(c->tier) : "null", c->mode >= 0 ? "\"" : "",
                 tv, c->epochs[0] ? c->epochs : "{}", c->resumed ? "true" : "false", (unsigned long long)c->from_peer,
                 (unsigned long long)c->to_peer, (unsigned long long)((now_ns() - c->t_start) / 1000000u),
                 px_result_name(c->result), reason);
    if (n > 0)
        px_access_log(p, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
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

static void ep_del(px_worker *w, int fd)
{
    if (fd >= 0)
        (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
}

/* Releases everything; the struct itself is freed after the event batch. */
static void conn_destroy(px_conn *c)
{
    px_worker *w = c->w;
    struct vmesh_proxy *p = w->p;

    log_close(c);
    timer_del(c);
    if (c->tls_fd >= 0) {
        ep_del(w, c->tls_fd);
        close(c->tls_fd);
        c->tls_fd = -1;
    }
    if (c->pl_fd >= 0) {
        ep_del(w, c->pl_fd);
        close(c->pl_fd);
        c->pl_fd = -1;
    }
    vmesh_atls_free(c->tls);
    c->tls = NULL;
    free(c->up);
    free(c->down);
    c->up = c->down = NULL;
    free(c->peer_id);
    c->peer_id = NULL;
    c->st = CS_DEAD;
    /* unlink from live, push to dead */
    if (c->prev)
        c->prev->next = c->next;
    else
        w->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = w->dead;
    c->prev = NULL;
    w->dead = c;
    w->nconns--;
    atomic_fetch_sub(&p->m.active[c->dir], 1);
    atomic_fetch_sub(&p->m.total_active, 1);
    px_gen_unref(c->g);
    c->g = NULL;
}

/* close_notify, best effort: a lingering close or a plain close follows. */
static void close_notify(px_conn *c)
{
    vmesh_err rc = c->tls ? vmesh_atls_shutdown(c->tls) : VMESH_OK;

    (void)rc;
}

/* Lingering close of the TLS side: whatever atls queued (a failure frame,
 * close_notify) goes out, our write side is shut, and we read until EOF
 * or the linger timer, so that unread input does not turn our close into
 * a RST that destroys the frame (docs/ATLS.md). */
static void conn_linger(px_conn *c)
{
    log_close(c);
    if (c->pl_fd >= 0) {
        ep_del(c->w, c->pl_fd);
        close(c->pl_fd);
        c->pl_fd = -1;
    }
    if (c->tls != NULL && vmesh_atls_flush(c->tls) != VMESH_OK) {
        /* best effort: whatever could not be written is lost with the close */
    }
    if (c->tls_fd < 0) {
        conn_destroy(c);
        return;
    }
    (void)shutdown(c->tls_fd, SHUT_WR);
    c->st = CS_LINGER;
    c->tls_r = true;
    if (!timer_set(c, now_ns() + ms_ns(c->g->cfg->linger_ms)))
        conn_destroy(c);
}

static void linger_read(px_conn *c)
{
    uint8_t buf[4096];

    for (;;) {
        ssize_t n = recv(c->tls_fd, buf, sizeof(buf), MSG_DONTWAIT);
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
    vmesh_atls_reason r = c->tls ? vmesh_atls_failure(c->tls, &msg, &by_peer) : VMESH_ATLS_R_NONE;

    if (rc == VMESH_ERR_TIMEOUT || r == VMESH_ATLS_R_TIMEOUT) {
        set_result(c, PX_RES_TIMEOUT, "handshake and attestation did not complete within %u ms",
                   c->g->cfg->handshake_timeout_ms);
    } else if (r != VMESH_ATLS_R_NONE) {
        set_result(c, by_peer ? PX_RES_PEER_REFUSED : PX_RES_REFUSED, "attestation %s: %s: %s",
                   by_peer ? "refused by the peer" : "refused", vmesh_atls_reason_name(r), msg ? msg : "");
    } else {
        set_result(c, PX_RES_TLS_FAILED, "TLS handshake failed: %s", vmesh_err_detail());
    }
    if (r != VMESH_ATLS_R_NONE && r < VMESH_ATLS_R__COUNT)
        atomic_fetch_add(&p->m.failures[r][by_peer ? 1 : 0], 1);
    vmesh_log(VMESH_LOG_INFO, "proxy: %s %s: %s", c->dir == PX_DIR_IN ? "inbound" : "outbound", listener_name(c),
              c->reason);
    conn_linger(c);
}

/* ---- connection setup --------------------------------------------------------------------- */

static vmesh_err conn_add_fd(px_conn *c, int fd, evsrc *ev, uint8_t kind)
{
    struct epoll_event e;

    ev->kind = kind;
    ev->ptr = c;
    memset(&e, 0, sizeof(e));
    e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    e.data.ptr = ev;
    if (epoll_ctl(c->w->ep, EPOLL_CTL_ADD, fd, &e) != 0)
        return vmesh_err_set(VMESH_ERR_IO, "epoll_ctl: %s", strerror(errno));
    return VMESH_OK;
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
    c->tls_fd = c->pl_fd = -1;
    c->hidx = -1;
    c->mode = -1;
    c->t_start = c->t_last = now_ns();
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

static void epochs_json(struct vmesh_proxy *p, char *out, size_t cap)
{
    vmesh_rv_store *rv = vmesh_verifier_rv(p->verifier);
    size_t o = (size_t)snprintf(out, cap, "{");
    char name[140];

    for (size_t i = 0; rv && i < vmesh_rv_epoch_count(rv) && o < cap; i++) {
        const char *n;
        uint64_t e;
        if (!vmesh_rv_epoch_at(rv, i, &n, &e))
            continue;
        vmesh_json_str_to(name, sizeof(name), n);
        o += (size_t)snprintf(out + o, cap - o, "%s\"%s\":%llu", i ? "," : "", name, (unsigned long long)e);
    }
    if (o + 2 <= cap)
        snprintf(out + o, cap - o, "}");
    else
        snprintf(out, cap, "{}");
    vmesh_rv_store_free(rv);
}

static void conn_run(px_conn *c);

static bool start_tls(px_conn *c)
{
    vmesh_atls_config *cfg = c->dir == PX_DIR_IN ? c->g->in_cfg[c->li] : c->g->out_cfg[c->li];
    vmesh_err rc = vmesh_atls_conn_new(cfg, c->tls_fd, &c->tls);

    if (rc == VMESH_OK && c->dir == PX_DIR_OUT) {
        px_sessions *s = &c->g->sessions[c->li];
        pthread_mutex_lock(&s->lock);
        if (s->sess[c->up_idx] != NULL)
            rc = vmesh_atls_conn_set_session(c->tls, s->sess[c->up_idx]);
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
    return true;
}

/* Starts a non-blocking connect to addr; the fd is registered as kind. */
static bool start_connect(px_conn *c, const struct sockaddr_storage *ss, unsigned len, bool as_tls)
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
        c->tls_fd = fd;
        c->tls_r = c->tls_w = false;
        if (conn_add_fd(c, fd, &c->tls_ev, EV_TLS) != VMESH_OK) {
            set_result(c, PX_RES_CONNECT_FAILED, "%s", vmesh_err_detail());
            return false;
        }
    } else {
        c->pl_fd = fd;
        c->pl_r = c->pl_w = false;
        if (conn_add_fd(c, fd, &c->pl_ev, EV_PLAIN) != VMESH_OK) {
            set_result(c, PX_RES_CONNECT_FAILED, "%s", vmesh_err_detail());
            return false;
        }
    }
    c->st = CS_CONNECT;
    return timer_set(c, now_ns() + ms_ns(c->g->cfg->connect_timeout_ms));
}

/* Outbound: the next upstream in round-robin order; false when all were tried. */
static bool outbound_connect_next(px_conn *c)
{
    const px_outbound *o = &c->g->cfg->out[c->li];

    while ((size_t)c->attempts < o->nup) {
        if (c->attempts == 0)
            c->up_idx = (int)(atomic_fetch_add(&c->w->p->rr[c->g->cfg->nin + (size_t)c->li], 1) % o->nup);
        else
            c->up_idx = (int)(((size_t)c->up_idx + 1) % o->nup);
        c->attempts++;
        if (c->tls_fd >= 0) {
            ep_del(c->w, c->tls_fd);
            close(c->tls_fd);
            c->tls_fd = -1;
        }
        if (start_connect(c, &c->g->up_addr[c->li][c->up_idx], c->g->up_len[c->li][c->up_idx], true))
            return true;
        vmesh_log(VMESH_LOG_WARN, "proxy: outbound %s: upstream %s: %s", o->name, o->upstreams[c->up_idx], c->reason);
    }
    return false;
}

/* The attested handshake completed. */
static void established(px_conn *c)
{
    struct vmesh_proxy *p = c->w->p;
    const vmesh_atls_peer_result *r = vmesh_atls_peer_result_get(c->tls);
    const char *id = vmesh_atls_peer_spiffe_id(c->tls);

    px_hist_observe(&p->m.handshake, now_ns() - c->t_start);
    c->mode = vmesh_atls_peer_mode(c->tls);
    c->resumed = vmesh_atls_resumed(c->tls);
    if (id != NULL)
        c->peer_id = strdup(id);
    if (r != NULL) {
        c->tier = r->tier;
        c->tv = r->tv;
    }
    epochs_json(p, c->epochs, sizeof(c->epochs));
    /* An unattested peer was admitted by the listener's provider (the union
     * of every rule); its own rule decides (vmesh_agent_reappraise). */
    if (c->mode == VMESH_ATLS_MODE_NONE && r != NULL) {
        char why[300];
        vmesh_atls_reason rr = vmesh_agent_reappraise(c->g->agent, c->peer_id, r, why, sizeof(why));
        if (rr != VMESH_ATLS_R_NONE) {
            atomic_fetch_add(&p->m.failures[rr][0], 1);
            set_result(c, PX_RES_REFUSED, "attestation refused: %s: %s", vmesh_atls_reason_name(rr), why);
            vmesh_log(VMESH_LOG_INFO, "proxy: %s: %s", listener_name(c), c->reason);
            close_notify(c);
            conn_linger(c);
            return;
        }
    }
    c->t_last = now_ns();
    if (c->dir == PX_DIR_IN) {
        if (!start_connect(c, &c->g->app_addr[c->li], c->g->app_len[c->li], false)) {
            vmesh_log(VMESH_LOG_WARN, "proxy: inbound %s: app %s: %s", listener_name(c), c->g->cfg->in[c->li].app,
                      c->reason);
            close_notify(c);
            conn_linger(c);
        }
        return;
    }
    c->st = CS_PROXY;
    c->tls_r = c->tls_w = true; /* retry both: atls may hold bytes already */
    if (!timer_set(c, c->t_last + ms_ns(c->g->cfg->idle_timeout_ms)))
        conn_destroy(c);
}

static void connected(px_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    int fd = c->dir == PX_DIR_IN ? c->pl_fd : c->tls_fd;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return;
    if (err != 0) {
        set_result(c, PX_RES_CONNECT_FAILED, "connect: %s", strerror(err));
        if (c->dir == PX_DIR_OUT) {
            vmesh_log(VMESH_LOG_WARN, "proxy: outbound %s: upstream %s: %s", listener_name(c),
                      c->g->cfg->out[c->li].upstreams[c->up_idx], c->reason);
            if (!outbound_connect_next(c))
                conn_destroy(c);
        } else {
            vmesh_log(VMESH_LOG_WARN, "proxy: inbound %s: app %s: %s", listener_name(c), c->g->cfg->in[c->li].app,
                      c->reason);
            close_notify(c);
            conn_linger(c);
        }
        return;
    }
    c->t_last = now_ns();
    c->result = PX_RES_OK; /* an earlier upstream may have failed: this one did not */
    c->reason[0] = '\0';
    if (c->dir == PX_DIR_OUT) {
        if (!start_tls(c))
            return;
        if (!timer_set(c, now_ns() + (uint64_t)vmesh_atls_timeout_ms(c->tls) * 1000000u + 1000000u)) {
            conn_destroy(c);
            return;
        }
        c->tls_r = c->tls_w = true;
        conn_run(c);
        return;
    }
    c->st = CS_PROXY;
    c->pl_r = c->pl_w = true;
    c->tls_r = c->tls_w = true;
    if (!timer_set(c, c->t_last + ms_ns(c->g->cfg->idle_timeout_ms))) {
        conn_destroy(c);
        return;
    }
    conn_run(c);
}

/* ---- the proxy pump ------------------------------------------------------------------------ */

static uint8_t *scratch(px_worker *w, size_t n)
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

static void save_session(px_conn *c)
{
    px_sessions *s;
    vmesh_atls_session *sess;

    if (c->dir != PX_DIR_OUT || c->sess_saved)
        return;
    sess = vmesh_atls_conn_get1_session(c->tls);
    if (sess == NULL)
        return;
    c->sess_saved = true;
    s = &c->g->sessions[c->li];
    pthread_mutex_lock(&s->lock);
    vmesh_atls_session_free(s->sess[c->up_idx]);
    s->sess[c->up_idx] = sess;
    pthread_mutex_unlock(&s->lock);
}

/* Sends to the plain side; returns bytes sent, 0 on EAGAIN, -1 on error. */
static ssize_t plain_send(px_conn *c, const uint8_t *b, size_t n)
{
    ssize_t s;

    do
        s = send(c->pl_fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (s < 0 && errno == EINTR);
    if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->pl_w = false;
        return 0;
    }
    return s;
}

/* Moves bytes both ways until nothing more can move; false when the
 * connection was closed. */
static bool pump(px_conn *c)
{
    size_t bufsz = c->g->cfg->buffer_size;
    uint8_t *buf = scratch(c->w, bufsz);
    bool progress = true;
    vmesh_err rc;

    if (buf == NULL) {
        set_result(c, PX_RES_RESET, "out of memory");
        conn_destroy(c);
        return false;
    }
    while (progress) {
        progress = false;
        /* TLS -> plain */
        if (c->down_len > c->down_off && c->pl_w) {
            ssize_t s = plain_send(c, c->down + c->down_off, c->down_len - c->down_off);
            if (s < 0)
                goto reset_plain;
            if (s > 0) {
                c->down_off += (size_t)s;
                progress = true;
                if (c->down_off == c->down_len) {
                    free(c->down);
                    c->down = NULL;
                    c->down_len = c->down_off = 0;
                }
            }
        }
        if (c->down_len == 0 && !c->tls_eof && c->tls_r) {
            size_t got = 0, more;
            /* One TLS record per read: gather what is there up to the
             * buffer size, then one send. */
            rc = vmesh_atls_read(c->tls, buf, bufsz, &got);
            while (rc == VMESH_OK && got > 0 && got + 4096 <= bufsz) {
                vmesh_err rc2 = vmesh_atls_read(c->tls, buf + got, bufsz - got, &more);
                if (rc2 != VMESH_OK) {
                    if (rc2 == VMESH_ERR_WANT_READ)
                        c->tls_r = false;
                    else if (rc2 == VMESH_ERR_WANT_WRITE) {
                        c->tls_w = c->tls_r = false;
                        c->tls_rd_on_w = true;
                    }
                    /* EOF and errors are seen again by the next read */
                    break;
                }
                got += more;
            }
            if (rc == VMESH_OK && got > 0) {
                ssize_t s = c->pl_w ? plain_send(c, buf, got) : 0;
                if (s < 0)
                    goto reset_plain;
                c->from_peer += got;
                if ((size_t)s < got) {
                    c->down = malloc(got - (size_t)s);
                    if (c->down == NULL)
                        goto reset_plain;
                    memcpy(c->down, buf + s, got - (size_t)s);
                    c->down_len = got - (size_t)s;
                    c->down_off = 0;
                }
                progress = true;
                save_session(c);
            } else if (rc == VMESH_ERR_WANT_READ) {
                c->tls_r = false;
            } else if (rc == VMESH_ERR_WANT_WRITE) {
                c->tls_w = false;
                c->tls_r = false;
                c->tls_rd_on_w = true;
            } else if (rc == VMESH_ERR_CLOSED) {
                c->tls_eof = true;
                progress = true;
                save_session(c);
            } else if (rc == VMESH_ERR_POLICY) {
                handshake_failed(c, rc); /* the peer's verdict on us: refused */
                return false;
            } else if (rc != VMESH_OK) {
                set_result(c, PX_RES_RESET, "TLS read: %s", vmesh_err_detail());
                conn_destroy(c);
                return false;
            }
        }
        if (c->tls_eof && c->down_len == 0 && !c->pl_shut) {
            (void)shutdown(c->pl_fd, SHUT_WR);
            c->pl_shut = true;
            progress = true;
        }
        /* plain -> TLS */
        if (c->up_len > c->up_off && c->tls_w) {
            rc = vmesh_atls_write(c->tls, c->up + c->up_off, c->up_len - c->up_off);
            if (rc == VMESH_OK) {
                free(c->up);
                c->up = NULL;
                c->up_len = c->up_off = 0;
                progress = true;
            } else if (rc == VMESH_ERR_WANT_WRITE) {
                c->tls_w = false;
            } else {
                goto reset_tls;
            }
        }
        if (c->up_len == 0 && !c->pl_eof && c->pl_r) {
            ssize_t n;
            do
                n = recv(c->pl_fd, buf, bufsz, MSG_DONTWAIT);
            while (n < 0 && errno == EINTR);
            if (n > 0) {
                c->to_peer += (size_t)n;
                progress = true;
                rc = vmesh_atls_write(c->tls, buf, (size_t)n);
                if (rc == VMESH_ERR_WANT_WRITE) {
                    c->up = malloc((size_t)n);
                    if (c->up == NULL)
                        goto reset_plain;
                    memcpy(c->up, buf, (size_t)n);
                    c->up_len = (size_t)n;
                    c->up_off = 0;
                    c->tls_w = false;
                } else if (rc != VMESH_OK) {
                    goto reset_tls;
                }
            } else if (n == 0) {
                c->pl_eof = true;
                progress = true;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->pl_r = false;
            } else {
                goto reset_plain;
            }
        }
        if (c->pl_eof && c->up_len == 0 && !c->tls_shut) {
            rc = vmesh_atls_shutdown(c->tls);
            if (rc != VMESH_OK && rc != VMESH_ERR_WANT_WRITE)
                goto reset_tls;
            c->tls_shut = true;
            progress = true;
        }
        if (progress)
            c->t_last = now_ns();
    }
    if (c->tls_w) {
        rc = vmesh_atls_flush(c->tls);
        if (rc == VMESH_ERR_WANT_WRITE)
            c->tls_w = false;
        else if (rc != VMESH_OK)
            goto reset_tls;
    }
    if (c->tls_eof && c->pl_shut && c->pl_eof && c->tls_shut) {
        if (c->result == PX_RES_OK && c->reason[0] == '\0')
            set_result(c, PX_RES_OK, "closed by both sides");
        rc = vmesh_atls_flush(c->tls);
        if (rc == VMESH_ERR_WANT_WRITE) {
            c->st = CS_FLUSH;
            if (!timer_set(c, now_ns() + ms_ns(c->g->cfg->linger_ms)))
                conn_destroy(c);
            return false;
        }
        conn_destroy(c);
        return false;
    }
    return true;
reset_plain:
    set_result(c, PX_RES_RESET, "%s side: %s", c->dir == PX_DIR_IN ? "app" : "client", strerror(errno));
    conn_destroy(c);
    return false;
reset_tls:
    set_result(c, PX_RES_RESET, "TLS side: %s", vmesh_err_detail());
    conn_destroy(c);
    return false;
}

/* Drives the connection as far as its readiness allows. */
static void conn_run(px_conn *c)
{
    vmesh_err rc;

    switch (c->st) {
    case CS_WAIT_HELLO:
        if (!c->tls_r)
            return;
        if (!start_tls(c))
            return;
        if (!timer_set(c, now_ns() + (uint64_t)vmesh_atls_timeout_ms(c->tls) * 1000000u + 1000000u)) {
            conn_destroy(c);
            return;
        }
        /* fall through */
    case CS_HANDSHAKE:
        rc = vmesh_atls_handshake(c->tls);
        if (rc == VMESH_OK) {
            established(c);
            if (c->st == CS_PROXY)
                conn_run(c);
        } else if (rc != VMESH_ERR_WANT_READ && rc != VMESH_ERR_WANT_WRITE) {
            handshake_failed(c, rc);
        }
        return;
    case CS_CONNECT:
        if ((c->dir == PX_DIR_IN && c->pl_w) || (c->dir == PX_DIR_OUT && c->tls_w))
            connected(c);
        return;
    case CS_PROXY: (void)pump(c); return;
    case CS_FLUSH:
        rc = vmesh_atls_flush(c->tls);
        if (rc != VMESH_ERR_WANT_WRITE)
            conn_destroy(c);
        return;
    case CS_LINGER: linger_read(c); return;
    case CS_DEAD: return;
    }
}

static void conn_timeout(px_conn *c)
{
    uint64_t now = now_ns();
    vmesh_err rc;

    switch (c->st) {
    case CS_WAIT_HELLO:
        set_result(c, PX_RES_TIMEOUT, "no TLS ClientHello within %u ms", c->g->cfg->handshake_timeout_ms);
        vmesh_log(VMESH_LOG_INFO, "proxy: inbound %s: %s", listener_name(c), c->reason);
        conn_destroy(c);
        return;
    case CS_HANDSHAKE:
        if (vmesh_atls_timeout_ms(c->tls) > 0) {
            if (!timer_set(c, now + (uint64_t)vmesh_atls_timeout_ms(c->tls) * 1000000u + 1000000u))
                conn_destroy(c);
            return;
        }
        rc = vmesh_atls_handshake(c->tls); /* reports the timeout, queues the failure frame */
        if (rc == VMESH_OK) {
            established(c);
            return;
        }
        handshake_failed(c, rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE ? VMESH_ERR_TIMEOUT : rc);
        return;
    case CS_CONNECT:
        set_result(c, PX_RES_CONNECT_FAILED, "connect timed out after %u ms", c->g->cfg->connect_timeout_ms);
        if (c->dir == PX_DIR_OUT) {
            vmesh_log(VMESH_LOG_WARN, "proxy: outbound %s: upstream %s: %s", listener_name(c),
                      c->g->cfg->out[c->li].upstreams[c->up_idx], c->reason);
            if (!outbound_connect_next(c))
                conn_destroy(c);
        } else {
            vmesh_log(VMESH_LOG_WARN, "proxy: inbound %s: app: %s", listener_name(c), c->reason);
            close_notify(c);
            conn_linger(c);
        }
        return;
    case CS_PROXY:
        if (now - c->t_last < ms_ns(c->g->cfg->idle_timeout_ms)) {
            if (!timer_set(c, c->t_last + ms_ns(c->g->cfg->idle_timeout_ms)))
                conn_destroy(c);
            return;
        }
        set_result(c, PX_RES_IDLE, "idle for %u ms", c->g->cfg->idle_timeout_ms);
        close_notify(c);
        conn_linger(c);
        return;
    case CS_FLUSH:
    case CS_LINGER: conn_destroy(c); return;
    case CS_DEAD: return;
    }
}

/* ---- accepting ---------------------------------------------------------------------------- */

static void refuse_limit(px_worker *w, int fd, int dir, const char *name)
{
    struct vmesh_proxy *p = w->p;
    uint64_t now = (uint64_t)vmesh_time_now(), last = atomic_load(&p->log_refused_at);

    atomic_fetch_add(&p->m.conns[dir][PX_RES_LIMIT], 1);
    /* One log line per second at most: a flood must not become a log flood. */
    if (now != last && atomic_compare_exchange_strong(&p->log_refused_at, &last, now))
        vmesh_log(VMESH_LOG_WARN, "proxy: %s %s: connection refused: limits.max-connections (%lld) reached",
                  dir == PX_DIR_IN ? "inbound" : "outbound", name, (long long)atomic_load(&p->m.total_active));
    close(fd);
}

static void accept_on(px_worker *w, int dir, int li)
{
    struct vmesh_proxy *p = w->p;
    int lfd = dir == PX_DIR_IN ? w->lfd_in[li] : w->lfd_out[li];

    for (int i = 0; i < ACCEPT_BATCH && lfd >= 0; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        px_gen *g;
        px_conn *c;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                vmesh_log(VMESH_LOG_WARN, "proxy: accept: %s", strerror(errno));
            return;
        }
        g = px_current_gen(p);
        if ((uint64_t)atomic_load(&p->m.total_active) >= g->cfg->max_connections) {
            refuse_limit(w, fd, dir, dir == PX_DIR_IN ? g->cfg->in[li].name : g->cfg->out[li].name);
            px_gen_unref(g);
            continue;
        }
        set_nodelay(fd);
        c = conn_new(w, g, dir, li);
        if (c == NULL) {
            px_gen_unref(g);
            close(fd);
            continue;
        }
        if (dir == PX_DIR_IN) {
            c->tls_fd = fd;
            c->st = CS_WAIT_HELLO;
            if (conn_add_fd(c, fd, &c->tls_ev, EV_TLS) != VMESH_OK ||
                !timer_set(c, c->t_start + ms_ns(g->cfg->handshake_timeout_ms))) {
                set_result(c, PX_RES_RESET, "%s", vmesh_err_detail());
                conn_destroy(c);
            }
        } else {
            c->pl_fd = fd;
            if (conn_add_fd(c, fd, &c->pl_ev, EV_PLAIN) != VMESH_OK) {
                set_result(c, PX_RES_RESET, "%s", vmesh_err_detail());
                conn_destroy(c);
            } else if (!outbound_connect_next(c)) {
                vmesh_log(VMESH_LOG_WARN, "proxy: outbound %s: no upstream reachable: %s", g->cfg->out[li].name,
                          c->reason);
                conn_destroy(c);
            }
        }
    }
}

/* ---- re-appraisal, drain ------------------------------------------------------------------ */

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
        if (c->reappraised == gen || c->tls == NULL || (c->st != CS_PROXY && c->st != CS_CONNECT))
            continue;
        c->reappraised = gen;
        r = vmesh_atls_peer_result_get(c->tls);
        if (r == NULL)
            continue;
        atomic_fetch_add(&p->m.reappraisals, 1);
        rr = vmesh_agent_reappraise(cur->agent, c->peer_id, r, why, sizeof(why));
        if (rr == VMESH_ATLS_R_NONE)
            continue;
        atomic_fetch_add(&p->m.reappraisal_closed, 1);
        set_result(c, PX_RES_REAPPRAISAL, "re-appraisal: %s: %s", vmesh_atls_reason_name(rr), why);
        vmesh_log(VMESH_LOG_WARN, "proxy: %s %s: closing the connection with %s: %s",
                  c->dir == PX_DIR_IN ? "inbound" : "outbound", listener_name(c), c->peer_id ? c->peer_id : "?",
                  c->reason);
        close_notify(c);
        conn_linger(c);
    }
    px_gen_unref(cur);
}

static void stop_listening(px_worker *w)
{
    struct vmesh_proxy *p = w->p;

    if (!w->listening)
        return;
    w->listening = false;
    for (size_t i = 0; i < p->nin; i++)
        if (w->lfd_in[i] >= 0) {
            accept_on(w, PX_DIR_IN, (int)i); /* what the kernel queued for us is in flight */
            ep_del(w, w->lfd_in[i]);
            close(w->lfd_in[i]);
            w->lfd_in[i] = -1;
        }
    for (size_t i = 0; i < p->nout; i++)
        if (w->lfd_out[i] >= 0) {
            accept_on(w, PX_DIR_OUT, (int)i);
            ep_del(w, w->lfd_out[i]);
            close(w->lfd_out[i]);
            w->lfd_out[i] = -1;
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

static void *worker_main(void *arg)
{
    px_worker *w = arg;
    struct vmesh_proxy *p = w->p;
    struct epoll_event evs[MAX_EVENTS];

    for (;;) {
        int timeout = -1, n;
        uint64_t now = now_ns();

        if (w->hn > 0)
            timeout = w->heap[0]->deadline <= now ? 0 : (int)((w->heap[0]->deadline - now) / 1000000u + 1);
        n = epoll_wait(w->ep, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            vmesh_log(VMESH_LOG_ERROR, "proxy: epoll_wait: %s", strerror(errno));
            break;
        }
        pthread_mutex_lock(&w->lock);
        for (int i = 0; i < n; i++) {
            evsrc *ev = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            px_conn *c;

            switch (ev->kind) {
            case EV_WAKE: {
                uint64_t v;
                (void)!read(w->wake_fd, &v, sizeof(v));
                break;
            }
            case EV_LISTEN_IN:
                if (!atomic_load(&p->draining))
                    accept_on(w, PX_DIR_IN, ev->idx);
                break;
            case EV_LISTEN_OUT:
                if (!atomic_load(&p->draining))
                    accept_on(w, PX_DIR_OUT, ev->idx);
                break;
            case EV_TLS:
            case EV_PLAIN:
                c = ev->ptr;
                if (c->st == CS_DEAD)
                    break;
                if (ev->kind == EV_TLS) {
                    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                        c->tls_r = true;
                    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
                        c->tls_w = true;
                        if (c->tls_rd_on_w) {
                            c->tls_r = true;
                            c->tls_rd_on_w = false;
                        }
                    }
                } else {
                    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                        c->pl_r = true;
                    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                        c->pl_w = true;
                }
                conn_run(c);
                break;
            }
        }
        now = now_ns();
        while (w->hn > 0 && w->heap[0]->deadline <= now) {
            px_conn *c = w->heap[0];
            timer_del(c);
            conn_timeout(c);
        }
        reappraise_all(w);
        if (atomic_load(&p->draining))
            stop_listening(w);
        if (atomic_load(&p->force_close))
            while (w->head) {
                px_conn *c = w->head;
                if (c->result == PX_RES_OK)
                    set_result(c, PX_RES_DRAIN, "drain timeout: closed");
                conn_destroy(c);
            }
        free_dead(w);
        if (atomic_load(&p->draining) && w->nconns == 0) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        pthread_mutex_unlock(&w->lock);
    }
    atomic_store(&w->done, true);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

vmesh_err px_workers_open(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    vmesh_err rc = VMESH_OK;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = cfg->workers ? cfg->workers : (size_t)(ncpu > 0 ? ncpu : 1);

    if (n > PX_MAX_WORKERS)
        n = PX_MAX_WORKERS;
    p->nin = cfg->nin;
    p->nout = cfg->nout;
    for (size_t i = 0; i < n; i++) {
        px_worker *w = calloc(1, sizeof(*w));
        struct epoll_event e;

        VMESH_ENSURE(w != NULL, VMESH_ERR_NOMEM, "out of memory");
        p->workers[p->nworkers++] = w;
        w->p = p;
        w->idx = i;
        w->wake_fd = -1;
        w->listening = true;
        pthread_mutex_init(&w->lock, NULL);
        for (size_t j = 0; j < PX_MAX_LISTENERS; j++)
            w->lfd_in[j] = w->lfd_out[j] = -1;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        VMESH_ENSURE(w->ep >= 0 && w->wake_fd >= 0, VMESH_ERR_IO, "epoll/eventfd: %s", strerror(errno));
        w->wake_ev.kind = EV_WAKE;
        memset(&e, 0, sizeof(e));
        e.events = EPOLLIN;
        e.data.ptr = &w->wake_ev;
        VMESH_ENSURE(epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake_fd, &e) == 0, VMESH_ERR_IO, "epoll_ctl: %s",
                     strerror(errno));
        for (size_t j = 0; j < cfg->nin + cfg->nout; j++) {
            bool in = j < cfg->nin;
            size_t li = in ? j : j - cfg->nin;
            int *fd = in ? &w->lfd_in[li] : &w->lfd_out[li];
            evsrc *ev = in ? &w->lev_in[li] : &w->lev_out[li];
            rc = vmesh_net_listen(vmesh_proxy_config_listen(cfg, j), 4096, VMESH_NET_REUSEPORT, fd);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "%s listener %s", in ? "inbound" : "outbound",
                               in ? cfg->in[li].name : cfg->out[li].name);
                goto out;
            }
            ev->kind = in ? EV_LISTEN_IN : EV_LISTEN_OUT;
            ev->idx = (uint16_t)li;
            e.events = EPOLLIN;
            e.data.ptr = ev;
            VMESH_ENSURE(epoll_ctl(w->ep, EPOLL_CTL_ADD, *fd, &e) == 0, VMESH_ERR_IO, "epoll_ctl: %s",
                         strerror(errno));
        }
    }
out:
    return rc;
}

vmesh_err px_workers_start(struct vmesh_proxy *p)
{
    vmesh_err rc = VMESH_OK;

    for (size_t i = 0; i < p->nworkers; i++) {
        px_worker *w = p->workers[i];
        VMESH_ENSURE(pthread_create(&w->th, NULL, worker_main, w) == 0, VMESH_ERR_IO, "pthread_create: %s",
                     strerror(errno));
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
        while (w->head) {
            if (w->head->result == PX_RES_OK)
                set_result(w->head, PX_RES_DRAIN, "proxy stopped");
            conn_destroy(w->head);
        }
        free_dead(w);
        for (size_t j = 0; j < PX_MAX_LISTENERS; j++) {
            if (w->lfd_in[j] >= 0)
                close(w->lfd_in[j]);
            if (w->lfd_out[j] >= 0)
                close(w->lfd_out[j]);
        }
        if (w->ep >= 0)
            close(w->ep);
        if (w->wake_fd >= 0)
            close(w->wake_fd);
        free(w->heap);
        free(w->scratch);
        pthread_mutex_destroy(&w->lock);
        free(w);
        p->workers[i] = NULL;
    }
    p->nworkers = 0;
}

vmesh_err px_workers_peers_json(struct vmesh_proxy *p, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    bool first = true;
    uint64_t now = now_ns();
    char line[2048], peer[300], tv[256];

    VMESH_GUARD(vmesh_buf_append_u8(out, '['));
    for (size_t i = 0; i < p->nworkers; i++) {
        px_worker *w = p->workers[i];
        pthread_mutex_lock(&w->lock);
        for (px_conn *c = w->head; c != NULL && rc == VMESH_OK; c = c->next) {
            int n;
            vmesh_json_str_to(peer, sizeof(peer), c->peer_id);
            tv_json(&c->tv, tv, sizeof(tv));
            n = snprintf(line, sizeof(line),
                         "%s\n{\"direction\":\"%s\",\"listener\":\"%s\",\"state\":\"%s\",\"peer\":%s%s%s,"
                         "\"mode\":%s%s%s,\"tier\":%s%s%s,\"tv\":%s,\"rv_epochs\":%s,\"resumed\":%s,\"bytes_from_peer\":%llu,"
                         "\"bytes_to_peer\":%llu,\"age_ms\":%llu,\"worker\":%zu}",
                         first ? "" : ",", c->dir == PX_DIR_IN ? "inbound" : "outbound", listener_name(c),
                         state_names[c->st], c->peer_id ? "\"" : "", c->peer_id ? peer : "null",
                         c->peer_id ? "\"" : "", c->mode >= 0 ? "\"" : "",
                         c->mode >= 0 ? vmesh_atls_mode_name(c->mode) : "null", c->mode >= 0 ? "\"" : "",
                         c->mode >= 0 ? "\"" : "", c->mode >= 0 ? vmesh_tier_name(c->tier) : "null",
                         c->mode >= 0 ? "\"" : "", tv, c->epochs[0] ? c->epochs : "{}", c->resumed ? "true" : "false",
                         (unsigned long long)c->from_peer, (unsigned long long)c->to_peer,
                         (unsigned long long)((now - c->t_start) / 1000000u), w->idx);
            if (n > 0)
                rc = vmesh_buf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
            first = false;
        }
        pthread_mutex_unlock(&w->lock);
        VMESH_GUARD(rc);
    }
    VMESH_GUARD(vmesh_buf_append(out, "\n]\n", 3));
out:
    return rc;
}
