/*
 * libmicrohttpd glue: a thread pool (one epoll loop per core) that collects
 * each request's method, path, query, three headers and a capped body, calls
 * the pure handler and sends its response. It must never read a body larger
 * than the cap: a declared Content-Length over the cap is refused before a
 * byte of it is read, and a chunked body is cut off at the cap. Hostile
 * clients (issue 12.6) meet limits.c here: a client over its connection
 * limit is closed at accept, a request over its client's budget gets 429
 * with Retry-After before its body is read, and a reaper thread closes every
 * connection that has not delivered a whole request by its deadline, however
 * slowly its bytes keep coming.
 */
#include "service_int.h"
#include "vmesh/crypto.h"
#include "vmesh/jose.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define METRICS_PATH "/metrics"
#define REFUSAL_LOG_MS 10000u

typedef struct {
    vmesh_buf body;
    bool too_large;
    bool started;
    svc_refuse over;      /* body bytes over the client's budget (chunked) */
    unsigned retry_after;
} req_ctx;

static uint64_t now_ms(void)
{
    uint64_t ms = vmesh_time_mono_ns() / 1000000u;

    return ms == 0 ? 1 : ms; /* 0 means "no deadline" to limits.c */
}

/* One warning per reason per 10 s, with the running count, so a flood
 * cannot flood the log. */
static void log_refusal(vmesh_service *s, svc_refuse r, const svc_client_key *k)
{
    uint64_t now = now_ms(), last = atomic_load(&s->refuse_logged_ms[r]);
    svc_limits_stats st;
    char who[INET6_ADDRSTRLEN + 4];

    if (last != 0 && now - last < REFUSAL_LOG_MS)
        return;
    if (!atomic_compare_exchange_strong(&s->refuse_logged_ms[r], &last, now))
        return;
    svc_limits_get_stats(s->limits, &st);
    svc_client_key_str(k, who, sizeof(who));
    vmesh_log(VMESH_LOG_WARN,
              "verifier: refusing %s (last client %s; %llu so far; vmesh_verifier_refused_total at %s; "
              "this warning at most every %u s)",
              r == SVC_REFUSE_CONNECTIONS          ? "a connection over the verifier's connection limit"
              : r == SVC_REFUSE_CLIENT_CONNECTIONS ? "a connection over the client's connection limit"
              : r == SVC_REFUSE_CLIENT_RATE        ? "a request over the client's request budget (429)"
              : r == SVC_REFUSE_CLIENT_BYTES       ? "a request over the client's body-byte budget (429)"
              : r == SVC_REFUSE_BODY               ? "a body over the size cap (413)"
                                                   : "a client: no room to track it",
              who, (unsigned long long)st.refused[r], METRICS_PATH, REFUSAL_LOG_MS / 1000u);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    vmesh_log(VMESH_LOG_DEBUG, "verifier http: %s", line);
}

static enum MHD_Result send_response(vmesh_service *s, struct MHD_Connection *c, vmesh_service_response *rs)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(rs->body.len, rs->body.data, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (rs->content_type != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
    if (rs->location.len > 0)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, (const char *)rs->location.data);
    if (rs->content_location.len > 0)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_LOCATION, (const char *)rs->content_location.data);
    if (rs->accept.len > 0)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT, (const char *)rs->accept.data);
    if (rs->cache_control != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, rs->cache_control);
    if (rs->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", rs->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (s->replica_id != NULL)
        MHD_add_response_header(r, VMESH_SERVICE_REPLICA_HEADER, s->replica_id);
    if (rs->channel_answer)
        MHD_add_response_header(r, VMESH_SERVICE_ANSWER_HEADER, "channel");
    ret = MHD_queue_response(c, rs->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_problem_ra(vmesh_service *s, struct MHD_Connection *c, unsigned status,
                                       unsigned retry_after, const char *detail)
{
    vmesh_service_response rs;
    enum MHD_Result ret = MHD_NO;

    vmesh_service_response_init(&rs);
    rs.retry_after = retry_after;
    if (vmesh_service_problem(&rs, status, "%s", detail) == VMESH_OK) {
        atomic_fetch_add(&s->n_problems, 1);
        ret = send_response(s, c, &rs);
    }
    vmesh_service_response_free(&rs);
    return ret;
}

static enum MHD_Result send_problem(vmesh_service *s, struct MHD_Connection *c, unsigned status, const char *detail)
{
    return send_problem_ra(s, c, status, 0, detail);
}

static svc_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci != NULL ? ci->socket_context : NULL;
}

static enum MHD_Result send_over_budget(vmesh_service *s, struct MHD_Connection *c, svc_conn *sc, svc_refuse r,
                                        unsigned retry_after)
{
    const svc_limits_config *lc = svc_limits_cfg(s->limits);
    char who[INET6_ADDRSTRLEN + 4], d[256];

    svc_client_key_str(svc_conn_client(sc), who, sizeof(who));
    if (r == SVC_REFUSE_CLIENT_RATE)
        snprintf(d, sizeof(d), "client %s is over its request budget (%u requests/s, %u at once); retry after %u s",
                 who, lc->client_rate, lc->client_burst, retry_after);
    else
        snprintf(d, sizeof(d), "client %s is over its body budget (%u bytes/s, %u at once); retry after %u s", who,
                 lc->client_bytes, lc->client_bytes_burst, retry_after);
    log_refusal(s, r, svc_conn_client(sc));
    return send_problem_ra(s, c, MHD_HTTP_TOO_MANY_REQUESTS, retry_after, d);
}

static enum MHD_Result send_metrics(vmesh_service *s, struct MHD_Connection *c)
{
    vmesh_service_response rs;
    enum MHD_Result ret;

    vmesh_service_response_init(&rs);
    if (vmesh_service_metrics(s, &rs.body) != VMESH_OK) {
        vmesh_service_response_free(&rs);
        return send_problem(s, c, 500, "the verifier could not build its metrics");
    }
    rs.status = 200;
    rs.content_type = "text/plain; version=0.0.4; charset=utf-8";
    rs.cache_control = "no-store";
    ret = send_response(s, c, &rs);
    vmesh_service_response_free(&rs);
    return ret;
}

/* D51: the key of an answer=channel EAR, exported from c's TLS session
 * (RFC 8446 §7.5, GnuTLS's RFC 5705 interface serves TLS 1.3's exporter)
 * with the request's nonce parameter as the context. */
static bool channel_key(struct MHD_Connection *c, const char *nonce, uint8_t key[VMESH_JOSE_MAC_KEY_LEN])
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t ts = ci != NULL ? (gnutls_session_t)ci->tls_session : NULL;
    const char *label = VMESH_SERVICE_CHANNEL_LABEL;

    if (ts == NULL || gnutls_protocol_get_version(ts) != GNUTLS_TLS1_3)
        return false;
    return gnutls_prf_rfc5705(ts, strlen(label), label, strlen(nonce), nonce, VMESH_JOSE_MAC_KEY_LEN,
                              (char *)key) == GNUTLS_E_SUCCESS;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    vmesh_service *s = cls;
    req_ctx *rc = *con_cls;
    vmesh_service_request rq;
    uint8_t chkey[VMESH_JOSE_MAC_KEY_LEN];
    vmesh_service_response rs;
    enum MHD_Result ret;

    (void)version;
    if (rc == NULL) {
        /* The headers are in. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        svc_conn *sc = conn_of(c);
        unsigned long long n = 0;
        unsigned retry = 0;
        svc_refuse r;

        if (sc == NULL) /* refused at open (limits.c) and being closed */
            return MHD_NO;
        rc = calloc(1, sizeof(*rc));
        if (rc == NULL)
            return MHD_NO;
        vmesh_buf_init(&rc->body, s->max_body);
        *con_cls = rc;
        if (cl != NULL) {
            char *end = NULL;
            errno = 0;
            n = strtoull(cl, &end, 10);
            if (errno != 0 || end == cl || n > s->max_body) {
                char d[128];
                snprintf(d, sizeof(d), "the request body is larger than %zu bytes", s->max_body);
                svc_limits_count(s->limits, SVC_REFUSE_BODY);
                log_refusal(s, SVC_REFUSE_BODY, svc_conn_client(sc));
                /* Answered before reading the body; MHD closes the connection. */
                return send_problem(s, c, 413, d);
            }
        }
        if ((r = svc_limits_request(s->limits, sc, 1, n, now_ms(), &retry)) != SVC_REFUSE_NONE)
            return send_over_budget(s, c, sc, r, retry);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!rc->too_large && vmesh_buf_append(&rc->body, upload_data, *upload_data_size) != VMESH_OK) {
            rc->too_large = true;
            vmesh_buf_free(&rc->body);
        }
        /* A body without a Content-Length is charged as it comes. */
        if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) == NULL &&
            rc->over == SVC_REFUSE_NONE && conn_of(c) != NULL)
            rc->over = svc_limits_bytes(s->limits, conn_of(c), *upload_data_size, now_ms(), &rc->retry_after);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rc->started)
        return MHD_YES;
    rc->started = true;
    /* The whole request is in: its deadline is met. */
    svc_limits_arm(s->limits, conn_of(c), 0);
    if (rc->too_large) {
        char d[128];
        snprintf(d, sizeof(d), "the request body is larger than %zu bytes", s->max_body);
        svc_limits_count(s->limits, SVC_REFUSE_BODY);
        return send_problem(s, c, 413, d);
    }
    if (rc->over != SVC_REFUSE_NONE) {
        svc_limits_count(s->limits, rc->over);
        return send_over_budget(s, c, conn_of(c), rc->over, rc->retry_after);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 && strcmp(url, METRICS_PATH) == 0)
        return send_metrics(s, c);
    /* D53: a batch costs the client's request budget one request per item
     * (the first was charged with the headers), before any is appraised */
    if (s->batch && strcmp(url, SVC_BATCH_PATH) == 0 && conn_of(c) != NULL) {
        size_t items = svc_batch_request_count(rc->body.data, rc->body.len);
        unsigned retry = 0;
        svc_refuse r;

        if (items > 1 && (r = svc_limits_request(s->limits, conn_of(c), items - 1, 0, now_ms(), &retry)) !=
                             SVC_REFUSE_NONE)
            return send_over_budget(s, c, conn_of(c), r, retry);
    }
    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.path = url;
    rq.q_nonce = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "nonce");
    rq.q_nonce_size = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "nonceSize");
    rq.q_annotated = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "annotated");
    rq.q_answer = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "answer");
    rq.q_batch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "batch");
    /* exported only when it will be used (--signed-answers ignores answer=);
     * a batch's one key has its id as the context (D53) */
    if (rq.q_answer != NULL && s->tls && !s->signed_answers) {
        const char *ctx = strcmp(url, SVC_BATCH_PATH) == 0 ? rq.q_batch : rq.q_nonce;
        if (ctx != NULL && channel_key(c, ctx, chkey))
            rq.channel_key = chkey;
    }
    rq.accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    rq.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    rq.ak = MHD_lookup_connection_value(c, MHD_HEADER_KIND, VMESH_SERVICE_AK_HEADER);
    rq.peer = MHD_lookup_connection_value(c, MHD_HEADER_KIND, VMESH_SERVICE_PEER_HEADER);
    rq.body = rc->body.data;
    rq.body_len = rc->body.len;
    vmesh_service_response_init(&rs);
    if (vmesh_service_handle(s, &rq, &rs) == VMESH_OK)
        ret = send_response(s, c, &rs);
    else
        ret = send_problem(s, c, 500, "the verifier could not build a response");
    vmesh_service_response_free(&rs);
    vmesh_crypto_cleanse(chkey, sizeof(chkey));
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    vmesh_service *s = cls;
    req_ctx *rc = *con_cls;

    (void)toe;
    if (rc != NULL) {
        vmesh_buf_free(&rc->body);
        free(rc);
        *con_cls = NULL;
    }
    /* Keep-alive: the next request has its own deadline from now. */
    svc_limits_arm(s->limits, conn_of(c), now_ms());
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    vmesh_service *s = cls;
    svc_client_key k;
    svc_refuse r;

    (void)addrlen;
    svc_client_key_from(addr, &k);
    r = svc_limits_admit(s->limits, &k);
    if (r == SVC_REFUSE_NONE)
        return MHD_YES;
    log_refusal(s, r, &k);
    return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    vmesh_service *s = cls;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *a = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const union MHD_ConnectionInfo *f = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        svc_client_key k;
        svc_conn *sc = NULL;
        svc_refuse r;

        svc_client_key_from(a != NULL ? a->client_addr : NULL, &k);
        r = svc_limits_open(s->limits, &k, f != NULL ? f->connect_fd : -1, now_ms(), &sc);
        *socket_context = sc;
        if (r != SVC_REFUSE_NONE) {
            /* Accepted by a race with another thread: close it now. */
            log_refusal(s, r, &k);
            if (f != NULL)
                shutdown(f->connect_fd, SHUT_RDWR);
        }
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* Called before MHD closes the socket, so the reaper never sees a
         * reused fd number. */
        svc_limits_close(s->limits, *socket_context);
        *socket_context = NULL;
    }
}

static void kill_fd(int fd, void *ctx)
{
    (void)ctx;
    /* MHD sees end of stream and closes it in its own thread. */
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

static void *reaper_main(void *arg)
{
    vmesh_service *s = arg;

    pthread_mutex_lock(&s->reaper_lock);
    while (!s->reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250L * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->reaper_cv, &s->reaper_lock, &ts);
        if (s->reaper_stop)
            break;
        pthread_mutex_unlock(&s->reaper_lock);
        size_t n = svc_limits_reap(s->limits, now_ms(), kill_fd, s);
        if (n > 0)
            vmesh_log(VMESH_LOG_DEBUG, "verifier: closed %zu connection(s) past the %u s request deadline", n,
                      s->limits_cfg.request_deadline);
        pthread_mutex_lock(&s->reaper_lock);
    }
    pthread_mutex_unlock(&s->reaper_lock);
    return NULL;
}

static void reaper_stop(vmesh_service *s)
{
    if (!s->reaper_running)
        return;
    pthread_mutex_lock(&s->reaper_lock);
    s->reaper_stop = true;
    pthread_cond_signal(&s->reaper_cv);
    pthread_mutex_unlock(&s->reaper_lock);
    pthread_join(s->reaper, NULL);
    s->reaper_running = false;
}

vmesh_err vmesh_service_start(vmesh_service *s)
{
    vmesh_err rc = VMESH_OK;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    struct stat st;
    int fd = -1;
    bool passed = false;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    /* TLS 1.3 and nothing older (D31); without TLS these options are inert. */
    const char *prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
    const char *cert = s->tls ? (const char *)s->tls_cert_pem.data : NULL;
    const char *key = s->tls ? (const char *)s->tls_key_pem.data : NULL;

    VMESH_ENSURE(s->daemon == NULL, VMESH_ERR_STATE, "service already started");
    if (s->limits == NULL)
        VMESH_GUARD(svc_limits_new(&s->limits_cfg, &s->limits));
    {
        /* Room for every connection the limits admit (and those refused
         * at accept, open for a moment), or a flood starves accept(). */
        struct rlimit rl;
        rlim_t want = (rlim_t)s->max_connections + 256;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
            rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
                vmesh_log(VMESH_LOG_WARN,
                          "verifier: open files limited to %llu, below the %u connections allowed plus 256; "
                          "raise ulimit -n or lower --max-connections",
                          (unsigned long long)rl.rlim_cur, s->max_connections);
        }
    }
    /* Our own socket, so a busy port or a foreign address gets a reason. */
    VMESH_GUARD(vmesh_net_listen(s->listen, 1024, 0, &fd));
    VMESH_ENSURE(fstat(fd, &st) == 0, VMESH_ERR_IO, "fstat: %s", strerror(errno));
    passed = true;
    /* MHD's own limit sits above ours so that ours refuses (and counts)
     * first; the accept policy sees every connection before MHD keeps it. */
    if (s->tls)
        flags |= MHD_USE_TLS;
    d = MHD_start_daemon(flags, 0, on_accept, s, on_request, s,
                         MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->threads,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->max_connections + 64u,
                         MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->conn_timeout,
                         /* Room for a completed session id in a request line. */
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                         MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                         s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
                         MHD_OPTION_HTTPS_MEM_KEY, key,
                         MHD_OPTION_HTTPS_PRIORITIES, prio,
                         MHD_OPTION_END);
    VMESH_ENSURE(d != NULL, VMESH_ERR_IO, "cannot start the HTTP service on %s (see the log above)", s->listen);
    fd = -1; /* MHD closes it on stop */
    s->daemon = d;
    s->reaper_stop = false;
    if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
        MHD_stop_daemon(d);
        s->daemon = NULL;
        VMESH_ENSURE(false, VMESH_ERR_IO, "cannot start the verifier's deadline thread");
    }
    s->reaper_running = true;
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
out:
    /* A failed start may or may not have closed the socket already: close
     * it only if the number still names our socket. */
    if (fd >= 0) {
        struct stat now;
        if (!passed || (fstat(fd, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev))
            close(fd);
    }
    return rc;
}

uint16_t vmesh_service_port(const vmesh_service *s)
{
    return s->port;
}

void vmesh_service_stop(vmesh_service *s)
{
    if (s == NULL)
        return;
    reaper_stop(s);
    if (s->daemon != NULL) {
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
    }
    /* The stats stay readable after a stop; vmesh_service_free frees them. */
}
