/*
 * The proxy's admin endpoint: a tiny HTTP/1.1 server in the control
 * thread's epoll (GET /ready, /metrics in the Prometheus text format,
 * /peers as JSON; one request per connection, then close). Requests are
 * capped at 8 KiB and 5 s; anything else is 400/404/405. It must never
 * block the control thread on a slow client and never expose secrets
 * (peer identities and trust vectors only, no keys, no evidence).
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include "vmesh/rv.h"
#include "vmesh/verifier.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX 8192
#define ADMIN_CONNS_MAX 64
#define ADMIN_TIMEOUT_NS (5ULL * 1000000000ULL)

typedef struct admin_conn {
    struct admin_conn *next;
    int fd;
    char req[REQ_MAX + 1];
    size_t len;
    vmesh_buf out;
    size_t off;
    bool responding;
    uint64_t born;
} admin_conn;

/* Only the control thread touches these. */
static admin_conn *conns;
static size_t nconns;

vmesh_err px_admin_open(const char *addr, int *fd)
{
    return vmesh_net_listen(addr, 64, 0, fd);
}

static void admin_free(admin_conn *a)
{
    admin_conn **pp = &conns;

    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
    close(a->fd);
    vmesh_buf_free(&a->out);
    free(a);
    nconns--;
}

void px_admin_close_all(void)
{
    while (conns)
        admin_free(conns);
}

static void reap_stale(void)
{
    uint64_t now = vmesh_time_mono_ns();

    for (admin_conn *a = conns, *n; a; a = n) {
        n = a->next;
        if (now - a->born > ADMIN_TIMEOUT_NS)
            admin_free(a);
    }
}

void px_admin_accept(struct vmesh_proxy *p, int epfd)
{
    reap_stale();
    for (;;) {
        int fd = accept4(p->admin_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        admin_conn *a;
        struct epoll_event e;

        if (fd < 0)
            return;
        if (nconns >= ADMIN_CONNS_MAX || (a = calloc(1, sizeof(*a))) == NULL) {
            close(fd);
            continue;
        }
        a->fd = fd;
        a->born = vmesh_time_mono_ns();
        vmesh_buf_init(&a->out, 64 * 1024 * 1024);
        a->next = conns;
        conns = a;
        nconns++;
        memset(&e, 0, sizeof(e));
        e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        e.data.ptr = a;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) != 0)
            admin_free(a);
    }
}

/* ---- metrics ------------------------------------------------------------------------ */

static vmesh_err put(vmesh_buf *b, const char *fmt, ...) VMESH_PRINTF(2, 3);
static vmesh_err put(vmesh_buf *b, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return VMESH_OK;
    return vmesh_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static const char *const hist_le[14] = {"0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                                        "0.05",    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5"};

static vmesh_err hist(vmesh_buf *b, const char *name, const char *help, px_hist *h)
{
    vmesh_err rc = VMESH_OK;
    uint64_t cum = 0;

    VMESH_GUARD(put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name));
    for (int i = 0; i < PX_HIST_BUCKETS; i++) {
        cum += atomic_load(&h->b[i]);
        VMESH_GUARD(put(b, "%s_bucket{le=\"%s\"} %llu\n", name, hist_le[i], (unsigned long long)cum));
    }
    cum += atomic_load(&h->b[PX_HIST_BUCKETS]);
    VMESH_GUARD(put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)cum,
                    name, (double)atomic_load(&h->sum_us) / 1e6, name, (unsigned long long)atomic_load(&h->count)));
out:
    return rc;
}

vmesh_err px_metrics_render(struct vmesh_proxy *p, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    px_metrics *m = &p->m;
    static const char *const dirs[2] = {"inbound", "outbound"};
    px_gen *g = px_current_gen(p);
    vmesh_agent_stats st;
    vmesh_rv_store *rv = vmesh_verifier_rv(p->verifier);
    int64_t now = vmesh_time_now(), snap = atomic_load(&p->snapshot_at);

    vmesh_agent_stats_get(g->agent, &st);
    VMESH_GUARD(put(b, "# HELP vmesh_connections_total Connections by direction and how they ended.\n"
                       "# TYPE vmesh_connections_total counter\n"));
    for (int d = 0; d < 2; d++)
        for (int r = 0; r < PX_RES__COUNT; r++)
            VMESH_GUARD(put(b, "vmesh_connections_total{direction=\"%s\",result=\"%s\"} %llu\n", dirs[d],
                            px_result_name((px_result)r), (unsigned long long)atomic_load(&m->conns[d][r])));
    VMESH_GUARD(put(b, "# HELP vmesh_connections_active Open connections.\n# TYPE vmesh_connections_active gauge\n"));
    for (int d = 0; d < 2; d++)
        VMESH_GUARD(put(b, "vmesh_connections_active{direction=\"%s\"} %lld\n", dirs[d],
                        (long long)atomic_load(&m->active[d])));
    VMESH_GUARD(put(b, "# HELP vmesh_bytes_total Bytes proxied (from / to the attested peer).\n"
                       "# TYPE vmesh_bytes_total counter\n"));
    for (int d = 0; d < 2; d++) {
        VMESH_GUARD(put(b, "vmesh_bytes_total{direction=\"%s\",flow=\"from_peer\"} %llu\n", dirs[d],
                        (unsigned long long)atomic_load(&m->bytes[d][0])));
        VMESH_GUARD(put(b, "vmesh_bytes_total{direction=\"%s\",flow=\"to_peer\"} %llu\n", dirs[d],
                        (unsigned long long)atomic_load(&m->bytes[d][1])));
    }
    VMESH_GUARD(hist(b, "vmesh_handshake_seconds", "Attested TLS handshake time, accept or connect to established.",
                     &m->handshake));
    VMESH_GUARD(hist(b, "vmesh_attestation_seconds", "Time to appraise one peer attestation (local verifier).",
                     &m->attestation));
    VMESH_GUARD(put(b, "# HELP vmesh_attestation_failures_total Attestation failures by reason and by whom.\n"
                       "# TYPE vmesh_attestation_failures_total counter\n"));
    for (uint32_t r = 1; r < VMESH_ATLS_R__COUNT; r++)
        for (int by = 0; by < 2; by++)
            VMESH_GUARD(put(b, "vmesh_attestation_failures_total{reason=\"%s\",by=\"%s\"} %llu\n",
                            vmesh_atls_reason_name(r), by ? "peer" : "local",
                            (unsigned long long)atomic_load(&m->failures[r][by])));
    VMESH_GUARD(put(b, "# HELP vmesh_ar_cache_hits_total Attestation-result cache hits.\n"
                       "# TYPE vmesh_ar_cache_hits_total counter\nvmesh_ar_cache_hits_total %llu\n"
                       "# HELP vmesh_ar_cache_misses_total Attestation-result cache misses (appraisals).\n"
                       "# TYPE vmesh_ar_cache_misses_total counter\nvmesh_ar_cache_misses_total %llu\n",
                    (unsigned long long)(st.cache_hits + atomic_load(&m->agent_hits_base)),
                    (unsigned long long)(st.cache_misses + atomic_load(&m->agent_misses_base))));
    VMESH_GUARD(put(b, "# HELP vmesh_rv_epoch Epoch of each RVP in the installed reference-value snapshot.\n"
                       "# TYPE vmesh_rv_epoch gauge\n"));
    for (size_t i = 0; rv && i < vmesh_rv_epoch_count(rv); i++) {
        const char *name;
        uint64_t e;
        if (vmesh_rv_epoch_at(rv, i, &name, &e))
            VMESH_GUARD(put(b, "vmesh_rv_epoch{rvp=\"%s\"} %llu\n", name, (unsigned long long)e));
    }
    VMESH_GUARD(put(b, "# HELP vmesh_rv_snapshot_age_seconds Seconds since the reference-value snapshot was installed.\n"
                       "# TYPE vmesh_rv_snapshot_age_seconds gauge\nvmesh_rv_snapshot_age_seconds %lld\n",
                    (long long)(snap ? now - snap : -1)));
    VMESH_GUARD(put(b, "# HELP vmesh_certificate_expiry_seconds Seconds until our SVID expires.\n"
                       "# TYPE vmesh_certificate_expiry_seconds gauge\nvmesh_certificate_expiry_seconds %lld\n",
                    (long long)(g->cert_not_after ? g->cert_not_after - now : -1)));
    VMESH_GUARD(put(b, "# HELP vmesh_reappraisal_closed_total Connections closed because their peer no longer passes.\n"
                       "# TYPE vmesh_reappraisal_closed_total counter\nvmesh_reappraisal_closed_total %llu\n"
                       "# HELP vmesh_reappraisals_total Peer results re-judged after an RV or policy change.\n"
                       "# TYPE vmesh_reappraisals_total counter\nvmesh_reappraisals_total %llu\n",
                    (unsigned long long)atomic_load(&m->reappraisal_closed),
                    (unsigned long long)atomic_load(&m->reappraisals)));
    VMESH_GUARD(put(b, "# HELP vmesh_reloads_total Configuration reloads (SIGHUP) by outcome.\n"
                       "# TYPE vmesh_reloads_total counter\nvmesh_reloads_total{result=\"ok\"} %llu\n"
                       "vmesh_reloads_total{result=\"failed\"} %llu\n",
                    (unsigned long long)atomic_load(&m->reloads), (unsigned long long)atomic_load(&m->reload_failures)));
    VMESH_GUARD(put(b, "# HELP vmesh_config_generation Configuration generation in force.\n"
                       "# TYPE vmesh_config_generation gauge\nvmesh_config_generation %llu\n",
                    (unsigned long long)g->id));
out:
    vmesh_rv_store_free(rv);
    px_gen_unref(g);
    return rc;
}

/* ---- requests ------------------------------------------------------------------------- */

static void text(vmesh_buf *b, const char *s)
{
    if (vmesh_buf_set(b, s, strlen(s)) != VMESH_OK)
        vmesh_buf_reset(b); /* an empty body still carries the status */
}

static vmesh_err respond(admin_conn *a, int status, const char *reason, const char *ctype, const vmesh_buf *body)
{
    vmesh_err rc = VMESH_OK;
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
                     "Cache-Control: no-store\r\n\r\n",
                     status, reason, ctype, body ? body->len : 0);

    VMESH_GUARD(vmesh_buf_append(&a->out, head, (size_t)n));
    if (body && body->len)
        VMESH_GUARD(vmesh_buf_append(&a->out, body->data, body->len));
    a->responding = true;
out:
    return rc;
}

static void handle(struct vmesh_proxy *p, admin_conn *a)
{
    vmesh_buf body = {0};
    char method[8], path[256];
    char *sp1, *sp2, *q;
    size_t ml, pl;

    sp1 = memchr(a->req, ' ', a->len);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', a->len - (size_t)(sp1 + 1 - a->req)) : NULL;
    ml = sp1 ? (size_t)(sp1 - a->req) : 0;
    pl = sp2 ? (size_t)(sp2 - sp1 - 1) : 0;
    if (!sp1 || !sp2 || ml == 0 || ml >= sizeof(method) || pl == 0 || pl >= sizeof(path)) {
        text(&body, "bad request\n");
        (void)respond(a, 400, "Bad Request", "text/plain", &body);
        goto out;
    }
    memcpy(method, a->req, ml);
    method[ml] = '\0';
    memcpy(path, sp1 + 1, pl);
    path[pl] = '\0';
    if ((q = strchr(path, '?')) != NULL)
        *q = '\0';
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        text(&body, "only GET\n");
        (void)respond(a, 405, "Method Not Allowed", "text/plain", &body);
    } else if (strcmp(path, "/ready") == 0) {
        bool ready = atomic_load(&p->ready) && atomic_load(&p->have_snapshot) && !atomic_load(&p->draining);
        const char *why = !atomic_load(&p->ready)          ? "listeners not up\n"
                          : !atomic_load(&p->have_snapshot) ? "no reference-value snapshot yet\n"
                          : atomic_load(&p->draining)       ? "draining\n"
                                                            : "ready\n";
        text(&body, why);
        (void)respond(a, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", "text/plain", &body);
    } else if (strcmp(path, "/metrics") == 0) {
        if (px_metrics_render(p, &body) == VMESH_OK)
            (void)respond(a, 200, "OK", "text/plain; version=0.0.4", &body);
        else
            (void)respond(a, 500, "Internal Server Error", "text/plain", NULL);
    } else if (strcmp(path, "/peers") == 0) {
        if (px_workers_peers_json(p, &body) == VMESH_OK)
            (void)respond(a, 200, "OK", "application/json", &body);
        else
            (void)respond(a, 500, "Internal Server Error", "text/plain", NULL);
    } else {
        text(&body, "not found: /ready, /metrics, /peers\n");
        (void)respond(a, 404, "Not Found", "text/plain", &body);
    }
    if (strcmp(method, "HEAD") == 0 && a->out.len > 0) {
        /* keep only the head */
        uint8_t *end = memmem(a->out.data, a->out.len, "\r\n\r\n", 4);
        if (end)
            a->out.len = (size_t)(end + 4 - a->out.data);
    }
out:
    vmesh_buf_free(&body);
}

void px_admin_event(struct vmesh_proxy *p, void *conn, uint32_t events)
{
    admin_conn *a = conn;

    (void)events;
    while (!a->responding) {
        ssize_t n = recv(a->fd, a->req + a->len, REQ_MAX - a->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            admin_free(a);
            return;
        }
        a->len += (size_t)n;
        a->req[a->len] = '\0';
        if (memmem(a->req, a->len, "\r\n\r\n", 4) != NULL || memmem(a->req, a->len, "\n\n", 2) != NULL) {
            handle(p, a);
        } else if (a->len == REQ_MAX) {
            vmesh_buf b = {0};
            text(&b, "request too large\n");
            (void)respond(a, 431, "Request Header Fields Too Large", "text/plain", &b);
            vmesh_buf_free(&b);
        }
    }
    while (a->off < a->out.len) {
        ssize_t n = send(a->fd, a->out.data + a->off, a->out.len - a->off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            admin_free(a);
            return;
        }
        a->off += (size_t)n;
    }
    shutdown(a->fd, SHUT_WR);
    admin_free(a);
}
