/*
 * The proxy's admin endpoint: a tiny HTTP/1.1 server in the control
 * thread's epoll (GET /ready, /metrics in the Prometheus text format,
 * /peers as JSON, the dashboard's page and /dashboard/state (dashboard.c);
 * one request per connection, then close). Requests are
 * capped at 8 KiB; every connection has a deadline on the control thread's
 * timer heap (5 s from accept, which bytes do not extend) and the endpoint
 * has its own budget of PX_ADMIN_BUDGET connections, apart from
 * limits.max-connections: when it is full, the oldest connection that has
 * not sent a whole request yet makes room, so junk connections cannot keep
 * a readiness probe out. Anything else is 400/404/405. It must never
 * block the control thread on a slow client and never expose secrets
 * (peer identities and trust vectors only, no keys, no evidence).
 */
#define _GNU_SOURCE
#include "conn.h"

#include "vmesh/rvp.h"
#ifdef VMESH_HAVE_SYNC
#include "vmesh/sync.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX 8192
#define ADMIN_TIMEOUT_NS (5ULL * 1000000000ULL)
#define ADMIN_PAUSE_NS (100ULL * 1000000ULL) /* out of descriptors, no reserve */

typedef struct admin_conn {
    struct admin_conn *prev, *next; /* in accept order: the oldest first */
    struct px_admin *admin;
    px_ev ev;
    px_timer deadline;
    int fd;
    bool on_reserve; /* accepted in the reserve descriptor's place */
    char req[REQ_MAX + 1];
    size_t len;
    vmesh_buf out;
    size_t off;
    bool responding;
} admin_conn;

/* Only the control thread touches this. */
struct px_admin {
    struct vmesh_proxy *p;
    int fd, ep, reserve_fd;
    px_ev ev;
    px_timers *timers;
    px_timer resume; /* the listener is back after a pause */
    bool paused;
    admin_conn *head, *tail;
    size_t nconns;
    /* Closed in this batch of events, freed after it (px_admin_reap): an
     * event later in the batch may still name one. */
    admin_conn *dead;
};

static void admin_accept(px_ev *ev, uint32_t events);
static void admin_event(px_ev *ev, uint32_t events);

static int open_reserve(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_resume(px_timer *t)
{
    struct px_admin *a = PX_OWNER(t, struct px_admin, resume);

    a->paused = false;
    if (a->reserve_fd < 0)
        a->reserve_fd = open_reserve();
    if (px_ev_add(a->ep, a->fd, EPOLLIN, &a->ev) != VMESH_OK)
        vmesh_err_clear();
}

vmesh_err px_admin_open(struct vmesh_proxy *p, const char *addr, struct px_admin **out)
{
    vmesh_err rc = VMESH_OK;
    struct px_admin *a = calloc(1, sizeof(*a));

    *out = NULL;
    VMESH_ENSURE(a != NULL, VMESH_ERR_NOMEM, "out of memory");
    a->p = p;
    a->ep = -1;
    a->fd = -1;
    a->ev.fn = admin_accept;
    px_timer_init(&a->resume, on_resume);
    a->reserve_fd = open_reserve();
    VMESH_GUARD(vmesh_net_listen(addr, PX_ADMIN_BUDGET, 0, &a->fd));
    *out = a;
    a = NULL;
out:
    px_admin_free(a);
    return rc;
}

vmesh_err px_admin_attach(struct px_admin *a, int epfd, px_timers *timers)
{
    a->ep = epfd;
    a->timers = timers;
    return px_ev_add(epfd, a->fd, EPOLLIN, &a->ev);
}

static void conn_free(admin_conn *c)
{
    struct px_admin *a = c->admin;

    if (c->prev)
        c->prev->next = c->next;
    else
        a->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        a->tail = c->prev;
    if (a->timers)
        px_timer_del(a->timers, &c->deadline);
    if (c->on_reserve && a->reserve_fd < 0 && a->ep >= 0) {
        /* The slot goes back to the reserve in one step (dup3 closes the
         * socket): a worker accepting meanwhile cannot take it. */
        (void)epoll_ctl(a->ep, EPOLL_CTL_DEL, c->fd, NULL);
        if (dup3(a->ep, c->fd, O_CLOEXEC) >= 0)
            a->reserve_fd = c->fd;
        else
            close(c->fd);
    } else {
        close(c->fd);
    }
    c->fd = -1;
    vmesh_buf_free(&c->out);
    c->next = a->dead;
    a->dead = c;
    a->nconns--;
}

void px_admin_reap(struct px_admin *a)
{
    while (a != NULL && a->dead != NULL) {
        admin_conn *c = a->dead;
        a->dead = c->next;
        free(c);
    }
}

void px_admin_free(struct px_admin *a)
{
    if (a == NULL)
        return;
    while (a->head)
        conn_free(a->head);
    px_admin_reap(a);
    if (a->timers)
        px_timer_del(a->timers, &a->resume);
    if (a->fd >= 0)
        close(a->fd);
    if (a->reserve_fd >= 0)
        close(a->reserve_fd);
    free(a);
}

static void on_deadline(px_timer *t)
{
    admin_conn *c = PX_OWNER(t, admin_conn, deadline);

    atomic_fetch_add(&c->admin->p->m.admin_closed[1], 1);
    conn_free(c);
}

/* The budget is full: the oldest connection still reading its request
 * makes room (a prober sends its request at once; what has not sent one
 * is junk or a slow client). False when every one is answering. */
static bool evict_one(struct px_admin *a)
{
    for (admin_conn *c = a->head; c != NULL; c = c->next)
        if (!c->responding) {
            atomic_fetch_add(&a->p->m.admin_closed[0], 1);
            conn_free(c);
            return true;
        }
    return false;
}

/* accept(2) failed with err: take the reserve descriptor's place for one
 * connection (so a probe is answered even when the workers used up every
 * descriptor), else stop listening for a moment (the listener is
 * level-triggered: returning would bring the event straight back). */
static int accept_failed(struct px_admin *a, int err)
{
    int fd = -1;

    if ((err == EMFILE || err == ENFILE) && a->reserve_fd >= 0) {
        close(a->reserve_fd);
        a->reserve_fd = -1;
        fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        a->reserve_fd = open_reserve();
    }
    a->paused = true;
    (void)epoll_ctl(a->ep, EPOLL_CTL_DEL, a->fd, NULL);
    if (!px_timer_set(a->timers, &a->resume, vmesh_time_mono_ns() + ADMIN_PAUSE_NS))
        on_resume(&a->resume);
    px_log_limited(&a->p->rl_accept, VMESH_LOG_WARN,
                   "proxy: admin endpoint: accept: %s: not accepting for %llu ms", strerror(err),
                   (unsigned long long)(ADMIN_PAUSE_NS / 1000000u));
    return -1;
}

static void admin_accept(px_ev *ev, uint32_t events)
{
    struct px_admin *a = PX_OWNER(ev, struct px_admin, ev);

    (void)events;
    while (!a->paused) {
        int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        bool on_reserve = false;
        admin_conn *c;

        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (fd < 0) {
            if ((fd = accept_failed(a, errno)) < 0)
                return;
            on_reserve = true;
        }
        if ((a->nconns >= PX_ADMIN_BUDGET && !evict_one(a)) ||
            (c = calloc(1, sizeof(*c))) == NULL) {
            close(fd);
            if (on_reserve)
                a->reserve_fd = open_reserve();
            continue;
        }
        c->admin = a;
        c->ev.fn = admin_event;
        c->fd = fd;
        c->on_reserve = on_reserve;
        px_timer_init(&c->deadline, on_deadline);
        vmesh_buf_init(&c->out, 64 * 1024 * 1024);
        c->prev = a->tail;
        if (a->tail)
            a->tail->next = c;
        else
            a->head = c;
        a->tail = c;
        a->nconns++;
        if (!px_timer_set(a->timers, &c->deadline, vmesh_time_mono_ns() + ADMIN_TIMEOUT_NS) ||
            px_ev_add(a->ep, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->ev) != VMESH_OK)
            conn_free(c);
    }
}

/* ---- requests ------------------------------------------------------------------------- */

/* Every answer, the dashboard's page included: its scripts may load and
 * fetch only from this origin (no inline script, no other host), it is
 * never framed, and no type is sniffed (docs/DASHBOARD.md). */
#define PX_ADMIN_SECURITY_HEADERS                                                                  \
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "           \
    "img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "                     \
    "form-action 'none'; frame-ancestors 'none'\r\n"                                               \
    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"

static void text(vmesh_buf *b, const char *s)
{
    if (vmesh_buf_set(b, s, strlen(s)) != VMESH_OK)
        vmesh_buf_reset(b); /* an empty body still carries the status */
}

static vmesh_err respond(admin_conn *c, int status, const char *reason, const char *ctype,
                         const vmesh_buf *body)
{
    vmesh_err rc = VMESH_OK;
    char head[768];
    int n = snprintf(
        head, sizeof(head),
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
        "Cache-Control: no-store\r\n%s\r\n",
        status, reason, ctype, body ? body->len : 0, PX_ADMIN_SECURITY_HEADERS);

    VMESH_GUARD(vmesh_buf_append(&c->out, head, (size_t)n));
    if (body && body->len)
        VMESH_GUARD(vmesh_buf_append(&c->out, body->data, body->len));
    c->responding = true;
out:
    return rc;
}

static void handle(struct vmesh_proxy *p, admin_conn *c)
{
    px_gen *g;
    vmesh_buf body = {0};
    char method[8], path[256];
    char *sp1, *sp2, *q;
    size_t ml, pl;
    const char *ctype = "text/plain";
    int status;

    sp1 = memchr(c->req, ' ', c->len);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', c->len - (size_t)(sp1 + 1 - c->req)) : NULL;
    ml = sp1 ? (size_t)(sp1 - c->req) : 0;
    pl = sp2 ? (size_t)(sp2 - sp1 - 1) : 0;
    if (!sp1 || !sp2 || ml == 0 || ml >= sizeof(method) || pl == 0 || pl >= sizeof(path)) {
        text(&body, "bad request\n");
        (void)respond(c, 400, "Bad Request", "text/plain", &body);
        goto out;
    }
    memcpy(method, c->req, ml);
    method[ml] = '\0';
    memcpy(path, sp1 + 1, pl);
    path[pl] = '\0';
    if ((q = strchr(path, '?')) != NULL)
        *q = '\0';
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        text(&body, "only GET\n");
        (void)respond(c, 405, "Method Not Allowed", "text/plain", &body);
    } else if (strcmp(path, "/ready") == 0) {
        char why[700];
        bool ready = px_ready(p, why, sizeof(why) - 1);
        strcat(why, "\n");
        text(&body, why);
        (void)respond(c, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", "text/plain",
                      &body);
    } else if (strcmp(path, "/metrics") == 0) {
        vmesh_err rc;
        g = px_current_gen(p);
        rc = px_metrics_render(p, g, &body);
        px_gen_unref(g);
        if (rc == VMESH_OK)
            (void)respond(c, 200, "OK", "text/plain; version=0.0.4", &body);
        else
            (void)respond(c, 500, "Internal Server Error", "text/plain", NULL);
    } else if (strcmp(path, "/peers") == 0) {
        if (px_conns_peers_json(p, &body) == VMESH_OK)
            (void)respond(c, 200, "OK", "application/json", &body);
        else
            (void)respond(c, 500, "Internal Server Error", "text/plain", NULL);
    } else if ((status = px_dash_serve(p, path, &body, &ctype)) != 0) {
        (void)respond(c, status, status == 200 ? "OK" : "Internal Server Error", ctype, &body);
    } else {
        text(&body, "not found: /ready, /metrics, /peers, /dashboard/\n");
        (void)respond(c, 404, "Not Found", "text/plain", &body);
    }
    if (strcmp(method, "HEAD") == 0 && c->out.len > 0) {
        /* keep only the head */
        uint8_t *end = memmem(c->out.data, c->out.len, "\r\n\r\n", 4);
        if (end)
            c->out.len = (size_t)(end + 4 - c->out.data);
    }
out:
    vmesh_buf_free(&body);
}

/* What a recv or send result means for the loop around it. */
typedef enum { IO_MORE, IO_RETRY, IO_WAIT, IO_CLOSE } io_next;

static io_next io_result(ssize_t n)
{
    if (n > 0)
        return IO_MORE;
    if (n < 0 && errno == EINTR)
        return IO_RETRY;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return IO_WAIT;
    return IO_CLOSE;
}

static void admin_event(px_ev *ev, uint32_t events)
{
    admin_conn *c = PX_OWNER(ev, admin_conn, ev);
    io_next x = IO_MORE;
    ssize_t n;

    (void)events;
    if (c->fd < 0)
        return; /* closed earlier in this batch */
    while (!c->responding && x != IO_WAIT && x != IO_CLOSE) {
        n = recv(c->fd, c->req + c->len, REQ_MAX - c->len, 0);
        x = io_result(n);
        if (x != IO_MORE)
            continue;
        c->len += (size_t)n;
        c->req[c->len] = '\0';
        if (memmem(c->req, c->len, "\r\n\r\n", 4) != NULL ||
            memmem(c->req, c->len, "\n\n", 2) != NULL) {
            handle(c->admin->p, c);
        } else if (c->len == REQ_MAX) {
            vmesh_buf b = {0};
            text(&b, "request too large\n");
            (void)respond(c, 431, "Request Header Fields Too Large", "text/plain", &b);
            vmesh_buf_free(&b);
        }
    }
    while (c->responding && c->off < c->out.len && x != IO_WAIT && x != IO_CLOSE) {
        n = send(c->fd, c->out.data + c->off, c->out.len - c->off, MSG_NOSIGNAL);
        x = io_result(n);
        if (x == IO_MORE)
            c->off += (size_t)n;
    }
    if (x == IO_WAIT)
        return;
    if (x != IO_CLOSE)
        shutdown(c->fd, SHUT_WR);
    conn_free(c);
}

bool px_ready(struct vmesh_proxy *p, char *why, size_t n)
{
    vmesh_bell cur;
    int64_t now = vmesh_time_now();

    if (!atomic_load(&p->ready)) {
        snprintf(why, n, "listeners not up");
        return false;
    }
    if (atomic_load(&p->draining)) {
        snprintf(why, n, "draining");
        return false;
    }
    if (!atomic_load(&p->have_snapshot)) {
        int k = snprintf(why, n, "no reference-value snapshot yet");
#ifdef VMESH_HAVE_SYNC
        /* the cause, which is on the sync's log line otherwise */
        for (size_t i = 0; p->sync && i < vmesh_sync_rvp_count(p->sync) && k > 0 && (size_t)k < n; i++) {
            vmesh_sync_rvp_status st;
            if (vmesh_sync_rvp_status_at(p->sync, i, &st) && st.last_error[0])
                k += snprintf(why + k, n - (size_t)k, "; rvp %s: %s", st.name[0] ? st.name : st.url,
                              st.last_error);
        }
#endif
        return false;
    }
    if (p->bell != NULL) {
        if (vmesh_bell_view_current(p->bell, &cur) != VMESH_OK) {
            vmesh_err_clear();
            snprintf(why, n, "no epoch bell received yet: epoch-fresh attestation cannot work");
            return false;
        }
        if (cur.valid_until <= now) {
            snprintf(why, n, "epoch bell %s: tick %llu expired %lld s ago: epoch-fresh attestation cannot work",
                     cur.name, (unsigned long long)cur.id, (long long)(now - cur.valid_until));
            return false;
        }
    }
    if (!px_cprobe_ready(p, why, n))
        return false;
    if (!px_kb_ready(p, why, n))
        return false;
    if (!atomic_load(&p->iss_asked)) {
        snprintf(why, n, "attested verifiers (passport issuers) not asked yet");
        return false;
    }
    snprintf(why, n, "ready");
    return true;
}
