/*
 * libmicrohttpd glue: a thread pool (one epoll loop per core) that collects
 * each request's method, path, query, three headers and a capped body, calls
 * the pure handler and sends its response. It must never read a body larger
 * than the cap: a declared Content-Length over the cap is refused before a
 * byte of it is read, and a chunked body is cut off at the cap.
 */
#include "service_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    vmesh_buf body;
    bool too_large;
    bool started;
} req_ctx;

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
    if (s->replica_id != NULL)
        MHD_add_response_header(r, VMESH_SERVICE_REPLICA_HEADER, s->replica_id);
    ret = MHD_queue_response(c, rs->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_problem(vmesh_service *s, struct MHD_Connection *c, unsigned status, const char *detail)
{
    vmesh_service_response rs;
    enum MHD_Result ret = MHD_NO;

    vmesh_service_response_init(&rs);
    if (vmesh_service_problem(&rs, status, "%s", detail) == VMESH_OK) {
        atomic_fetch_add(&s->n_problems, 1);
        ret = send_response(s, c, &rs);
    }
    vmesh_service_response_free(&rs);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    vmesh_service *s = cls;
    req_ctx *rc = *con_cls;
    vmesh_service_request rq;
    vmesh_service_response rs;
    enum MHD_Result ret;

    (void)version;
    if (rc == NULL) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        rc = calloc(1, sizeof(*rc));
        if (rc == NULL)
            return MHD_NO;
        vmesh_buf_init(&rc->body, s->max_body);
        *con_cls = rc;
        if (cl != NULL) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno != 0 || end == cl || n > s->max_body) {
                char d[128];
                snprintf(d, sizeof(d), "the request body is larger than %zu bytes", s->max_body);
                /* Answered before reading the body; MHD closes the connection. */
                return send_problem(s, c, 413, d);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!rc->too_large && vmesh_buf_append(&rc->body, upload_data, *upload_data_size) != VMESH_OK) {
            rc->too_large = true;
            vmesh_buf_free(&rc->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rc->started)
        return MHD_YES;
    rc->started = true;
    if (rc->too_large) {
        char d[128];
        snprintf(d, sizeof(d), "the request body is larger than %zu bytes", s->max_body);
        return send_problem(s, c, 413, d);
    }
    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.path = url;
    rq.q_nonce = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "nonce");
    rq.q_nonce_size = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "nonceSize");
    rq.accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    rq.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    rq.ak = MHD_lookup_connection_value(c, MHD_HEADER_KIND, VMESH_SERVICE_AK_HEADER);
    rq.body = rc->body.data;
    rq.body_len = rc->body.len;
    vmesh_service_response_init(&rs);
    if (vmesh_service_handle(s, &rq, &rs) == VMESH_OK)
        ret = send_response(s, c, &rs);
    else
        ret = send_problem(s, c, 500, "the verifier could not build a response");
    vmesh_service_response_free(&rs);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    req_ctx *rc = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (rc != NULL) {
        vmesh_buf_free(&rc->body);
        free(rc);
        *con_cls = NULL;
    }
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (all IPv4 interfaces). */
static vmesh_err parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, bool *v6)
{
    vmesh_err rc = VMESH_OK;
    char host[64];
    const char *colon, *h = spec;
    size_t hl;
    char *end = NULL;
    long port;

    memset(ss, 0, sizeof(*ss));
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        VMESH_ENSURE(rb != NULL && rb[1] == ':', VMESH_ERR_ARG, "listen address \"%s\": expected [IPV6]:PORT", spec);
        h = spec + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        VMESH_ENSURE(colon != NULL, VMESH_ERR_ARG, "listen address \"%s\": expected HOST:PORT", spec);
        hl = (size_t)(colon - spec);
    }
    VMESH_ENSURE(hl < sizeof(host), VMESH_ERR_ARG, "listen address \"%s\": host too long", spec);
    memcpy(host, h, hl);
    host[hl] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    VMESH_ENSURE(errno == 0 && end != colon + 1 && *end == '\0' && port >= 0 && port <= 65535, VMESH_ERR_ARG,
                 "listen address \"%s\": port must be 0..65535", spec);
    *v6 = spec[0] == '[';
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        VMESH_ENSURE(inet_pton(AF_INET6, host, &a->sin6_addr) == 1, VMESH_ERR_ARG,
                     "listen address \"%s\": \"%s\" is not an IPv6 address", spec, host);
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (hl == 0 || strcmp(host, "*") == 0)
            a->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (strcmp(host, "localhost") == 0)
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else
            VMESH_ENSURE(inet_pton(AF_INET, host, &a->sin_addr) == 1, VMESH_ERR_ARG,
                         "listen address \"%s\": \"%s\" is not an IPv4 address (use [V6]:PORT for IPv6)", spec,
                         host);
        *len = sizeof(*a);
    }
out:
    return rc;
}

vmesh_err vmesh_service_start(vmesh_service *s)
{
    vmesh_err rc = VMESH_OK;
    struct sockaddr_storage ss;
    socklen_t sl;
    bool v6 = false;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

    VMESH_ENSURE(s->daemon == NULL, VMESH_ERR_STATE, "service already started");
    VMESH_GUARD(parse_listen(s->listen, &ss, &sl, &v6));
    if (v6)
        flags |= MHD_USE_IPv6;
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->threads,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->max_connections,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->conn_timeout,
                         /* Room for a completed session id in a request line. */
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                         MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                         MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                         MHD_OPTION_END);
    (void)sl;
    VMESH_ENSURE(d != NULL, VMESH_ERR_IO,
                 "cannot listen on %s (address in use, or not an address of this host?)", s->listen);
    s->daemon = d;
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
out:
    return rc;
}

uint16_t vmesh_service_port(const vmesh_service *s)
{
    return s->port;
}

void vmesh_service_stop(vmesh_service *s)
{
    if (s != NULL && s->daemon != NULL) {
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
    }
}
