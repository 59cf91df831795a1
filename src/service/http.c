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
#include <sys/stat.h>
#include <unistd.h>

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

vmesh_err vmesh_service_start(vmesh_service *s)
{
    vmesh_err rc = VMESH_OK;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    struct stat st;
    int fd = -1;
    bool passed = false;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

    VMESH_ENSURE(s->daemon == NULL, VMESH_ERR_STATE, "service already started");
    /* Our own socket, so a busy port or a foreign address gets a reason. */
    VMESH_GUARD(vmesh_net_listen(s->listen, 1024, 0, &fd));
    VMESH_ENSURE(fstat(fd, &st) == 0, VMESH_ERR_IO, "fstat: %s", strerror(errno));
    passed = true;
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                         MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->threads,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->max_connections,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->conn_timeout,
                         /* Room for a completed session id in a request line. */
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                         MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                         MHD_OPTION_END);
    VMESH_ENSURE(d != NULL, VMESH_ERR_IO, "cannot start the HTTP service on %s (see the log above)", s->listen);
    fd = -1; /* MHD closes it on stop */
    s->daemon = d;
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
    if (s != NULL && s->daemon != NULL) {
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
    }
}
