/*
 * The mesh page's server (docs/DASHBOARD.md): serves the page and
 * /mesh/state, and polls the admin endpoint of every node in a thread of
 * its own, all nodes at once, each fetch with a deadline and a size cap.
 * A node's answer is parsed as JSON and must be a vmesh node's state; what
 * goes to the browser is re-serialised by jansson, so a node cannot make
 * the mesh's JSON malformed. It must never fetch anything but the nodes it
 * was given, never follow a redirect and never block a page request on a
 * slow node (requests get the last round's result).
 */
#include "dashboard.h"

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FETCH_TIMEOUT_MS 1500L

struct dash_mesh {
    dash_mesh_config cfg;
    char (*nodes)[DASH_URL_MAX];
    struct MHD_Daemon *mhd;
    uint16_t port;
    pthread_t poller;
    bool poller_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    char *state;        /* /mesh/state, under lock */
    json_t **last_good; /* [nnodes]: each node's last state that read (poller only) */
    int64_t *last_ok;   /* [nnodes]: wall time of it */
};

/* ---- node addresses ------------------------------------------------------------------- */

vmesh_err dash_node_url(const char *in, char out[DASH_URL_MAX])
{
    vmesh_err rc = VMESH_OK;
    char hp[DASH_URL_MAX];
    vmesh_net_hostport parsed;
    size_t n;

    if (strncmp(in, "https://", 8) == 0)
        VMESH_FAIL(VMESH_ERR_ARG,
                   "%s: an admin endpoint speaks plain HTTP: give http://HOST:PORT", in);
    if (strncmp(in, "http://", 7) == 0)
        in += 7;
    n = strlen(in);
    VMESH_ENSURE(n > 0 && n < sizeof(hp), VMESH_ERR_ARG,
                 "node address must be http://HOST:PORT (got %zu characters)", n);
    memcpy(hp, in, n + 1);
    if (hp[n - 1] == '/')
        hp[--n] = '\0';
    VMESH_ENSURE(strchr(hp, '/') == NULL && strchr(hp, '?') == NULL && strchr(hp, '@') == NULL,
                 VMESH_ERR_ARG,
                 "node %s: give the admin endpoint's base URL http://HOST:PORT, without a path",
                 in);
    rc = vmesh_net_parse(hp, 0, &parsed);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "node %s", in);
        goto out;
    }
    snprintf(out, DASH_URL_MAX, "http://%s", hp);
out:
    return rc;
}

vmesh_err dash_nodes_file(const char *path, char (*nodes)[DASH_URL_MAX], size_t *n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};
    char *line, *end;
    unsigned lineno = 0;

    rc = vmesh_file_read(path, 64 * 1024, &b);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "--nodes-file %s", path);
        goto out;
    }
    VMESH_GUARD(vmesh_buf_append_u8(&b, 0));
    VMESH_ENSURE(memchr(b.data, 0, b.len - 1) == NULL, VMESH_ERR_ARG,
                 "--nodes-file %s: a NUL byte: not a text file", path);
    for (line = (char *)b.data; line && *line; line = end) {
        end = strchr(line, '\n');
        if (end)
            *end++ = '\0';
        lineno++;
        while (*line == ' ' || *line == '\t')
            line++;
        size_t l = strlen(line);
        while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (l == 0 || line[0] == '#')
            continue;
        VMESH_ENSURE(*n < DASH_MAX_NODES, VMESH_ERR_TOO_LARGE,
                     "--nodes-file %s: more than %d nodes", path, DASH_MAX_NODES);
        rc = dash_node_url(line, nodes[*n]);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "--nodes-file %s line %u", path, lineno);
            goto out;
        }
        (*n)++;
    }
out:
    vmesh_buf_free(&b);
    return rc;
}

/* ---- the poller ------------------------------------------------------------------------ */

typedef struct {
    CURL *easy;
    vmesh_buf body;
    char err[CURL_ERROR_SIZE];
    CURLcode result;
    bool done;
} fetch;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    fetch *f = ud;
    size_t n = size * nmemb;

    return vmesh_buf_append(&f->body, p, n) == VMESH_OK ? n : 0;
}

/* One node's entry of /mesh/state from its fetch. */
static json_t *node_entry(dash_mesh *m, size_t i, fetch *f, int64_t now)
{
    char why[400] = "";
    long code = 0;
    json_t *st = NULL, *kind;
    json_error_t jerr;

    if (f->result != CURLE_OK) {
        snprintf(why, sizeof(why), "%s",
                 f->result == CURLE_WRITE_ERROR ? "answer larger than 2 MiB"
                 : f->err[0]                    ? f->err
                                                : curl_easy_strerror(f->result));
    } else {
        curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200) {
            snprintf(why, sizeof(why), "/dashboard/state answered HTTP %ld", code);
        } else if ((st = json_loadb((const char *)f->body.data, f->body.len,
                                    JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
            snprintf(why, sizeof(why), "/dashboard/state is not JSON: %s (line %d)", jerr.text,
                     jerr.line);
        } else if (!json_is_object(st) || !(kind = json_object_get(st, "kind")) ||
                   !json_is_string(kind) || strcmp(json_string_value(kind), "vmesh-node") != 0) {
            snprintf(why, sizeof(why), "/dashboard/state is not a vmesh node's state");
            json_decref(st);
            st = NULL;
        }
    }
    if (st) {
        json_decref(m->last_good[i]);
        m->last_good[i] = st;
        m->last_ok[i] = now;
    }
    return json_pack("{s:s, s:b, s:s?, s:O?, s:I}", "url", m->nodes[i], "ok", st != NULL, "error",
                     st ? NULL : why, "state", m->last_good[i], "last_ok_ago_s",
                     (json_int_t)(m->last_ok[i] ? now - m->last_ok[i] : -1));
}

static void poll_round(dash_mesh *m)
{
    size_t n = m->cfg.nnodes;
    fetch *f = calloc(n, sizeof(*f));
    CURLM *multi = curl_multi_init();
    json_t *root = NULL, *arr = NULL;
    int running = 0;
    int64_t now;
    char *text = NULL, url[DASH_URL_MAX + 32];

    if (f == NULL || multi == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        vmesh_buf_init(&f[i].body, DASH_NODE_STATE_MAX);
        f[i].result = CURLE_FAILED_INIT;
        f[i].easy = curl_easy_init();
        if (f[i].easy == NULL)
            continue;
        snprintf(url, sizeof(url), "%s/dashboard/state", m->nodes[i]);
        curl_easy_setopt(f[i].easy, CURLOPT_URL, url);
        curl_easy_setopt(f[i].easy, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(f[i].easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(f[i].easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(f[i].easy, CURLOPT_TIMEOUT_MS, FETCH_TIMEOUT_MS);
        curl_easy_setopt(f[i].easy, CURLOPT_CONNECTTIMEOUT_MS, FETCH_TIMEOUT_MS);
        curl_easy_setopt(f[i].easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)DASH_NODE_STATE_MAX);
        curl_easy_setopt(f[i].easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(f[i].easy, CURLOPT_WRITEDATA, &f[i]);
        curl_easy_setopt(f[i].easy, CURLOPT_ERRORBUFFER, f[i].err);
        curl_easy_setopt(f[i].easy, CURLOPT_PRIVATE, &f[i]);
        curl_easy_setopt(f[i].easy, CURLOPT_USERAGENT, "vmesh-dashboard");
        curl_multi_add_handle(multi, f[i].easy);
    }
    do {
        CURLMsg *msg;
        int left;
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            fetch *x = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            if (x) {
                x->result = msg->data.result;
                x->done = true;
            }
        }
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    } while (running);
    now = (int64_t)time(NULL);
    arr = json_array();
    for (size_t i = 0; i < n && arr; i++)
        json_array_append_new(arr, node_entry(m, i, &f[i], now));
    root = json_pack("{s:s, s:I, s:i, s:o}", "kind", "vmesh-mesh", "now", (json_int_t)now,
                     "poll_ms", (int)m->cfg.poll_ms, "nodes", arr);
    arr = NULL;
    text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (text) {
        pthread_mutex_lock(&m->lock);
        free(m->state);
        m->state = text;
        pthread_mutex_unlock(&m->lock);
    }
out:
    for (size_t i = 0; f && i < n; i++) {
        if (f[i].easy) {
            curl_multi_remove_handle(multi, f[i].easy);
            curl_easy_cleanup(f[i].easy);
        }
        vmesh_buf_free(&f[i].body);
    }
    if (multi)
        curl_multi_cleanup(multi);
    free(f);
    json_decref(arr);
    json_decref(root);
}

static void *poller(void *arg)
{
    dash_mesh *m = arg;

    for (;;) {
        struct timespec until;
        pthread_mutex_lock(&m->lock);
        bool stop = m->stop;
        pthread_mutex_unlock(&m->lock);
        if (stop)
            break;
        poll_round(m);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += m->cfg.poll_ms / 1000;
        until.tv_nsec += (long)(m->cfg.poll_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&m->lock);
        while (!m->stop && pthread_cond_timedwait(&m->wake, &m->lock, &until) == 0)
            ;
        pthread_mutex_unlock(&m->lock);
    }
    return NULL;
}

/* ---- the page -------------------------------------------------------------------------- */

/* As the node page's: scripts load and fetch from this origin only. */
static void security_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self'; connect-src 'self'; object-src 'none'; "
                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *type,
                                const void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, mode);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    security_headers(r);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    dash_mesh *m = cls;
    const unsigned char *data;
    const char *type;
    size_t len;

    (void)version;
    (void)upload;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return send_buf(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "only GET\n", 9,
                        MHD_RESPMEM_PERSISTENT);
    if (*con_cls == NULL) {
        *con_cls = m; /* first call: headers only */
        return MHD_YES;
    }
    if (*upload_size != 0)
        return send_buf(c, MHD_HTTP_BAD_REQUEST, "text/plain", "no body\n", 8,
                        MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/mesh/state") == 0) {
        enum MHD_Result ret;
        pthread_mutex_lock(&m->lock);
        ret = m->state ? send_buf(c, MHD_HTTP_OK, "application/json", m->state,
                                  strlen(m->state), MHD_RESPMEM_MUST_COPY)
                       : send_buf(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                                  "no round over the nodes yet\n", 28, MHD_RESPMEM_PERSISTENT);
        pthread_mutex_unlock(&m->lock);
        return ret;
    }
    if (strcmp(url, "/") == 0 || strcmp(url, "/mesh") == 0)
        url = "/dashboard/mesh.html";
    if (!dash_web_asset(url, &data, &len, &type))
        return send_buf(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10,
                        MHD_RESPMEM_PERSISTENT);
    return send_buf(c, MHD_HTTP_OK, type, data, len, MHD_RESPMEM_PERSISTENT);
}

vmesh_err dash_mesh_start(const dash_mesh_config *cfg, dash_mesh **out)
{
    vmesh_err rc = VMESH_OK;
    dash_mesh *m = NULL;
    int fd = -1;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    VMESH_ENSURE(cfg->nnodes > 0 && cfg->nnodes <= DASH_MAX_NODES, VMESH_ERR_ARG,
                 "give 1 to %d nodes (--node URL or --nodes-file FILE)", DASH_MAX_NODES);
    m = calloc(1, sizeof(*m));
    VMESH_ENSURE(m != NULL, VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    m->cfg = *cfg;
    if (m->cfg.poll_ms == 0)
        m->cfg.poll_ms = 1000;
    m->nodes = calloc(cfg->nnodes, sizeof(*m->nodes));
    m->last_good = calloc(cfg->nnodes, sizeof(*m->last_good));
    m->last_ok = calloc(cfg->nnodes, sizeof(*m->last_ok));
    VMESH_ENSURE(m->nodes && m->last_good && m->last_ok, VMESH_ERR_NOMEM, "out of memory");
    memcpy(m->nodes, cfg->nodes, cfg->nnodes * sizeof(*m->nodes));
    m->cfg.nodes = m->nodes;
    rc = vmesh_net_listen(cfg->listen, 64, 0, &fd);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "--listen %s", cfg->listen);
        goto out;
    }
    m->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                              handle, m, MHD_OPTION_LISTEN_SOCKET, fd,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    VMESH_ENSURE(m->mhd != NULL, VMESH_ERR_IO, "cannot start the dashboard on %s", cfg->listen);
    fd = -1; /* MHD closes it */
    info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : 0;
    VMESH_ENSURE(pthread_create(&m->poller, NULL, poller, m) == 0, VMESH_ERR_IO,
                 "cannot start the poller thread");
    m->poller_started = true;
    *out = m;
    m = NULL;
out:
    if (fd >= 0)
        close(fd);
    dash_mesh_stop(m);
    return rc;
}

uint16_t dash_mesh_port(const dash_mesh *m)
{
    return m->port;
}

void dash_mesh_stop(dash_mesh *m)
{
    if (m == NULL)
        return;
    if (m->poller_started) {
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->poller, NULL);
    }
    if (m->mhd)
        MHD_stop_daemon(m->mhd);
    for (size_t i = 0; m->last_good && i < m->cfg.nnodes; i++)
        json_decref(m->last_good[i]);
    free(m->last_good);
    free(m->last_ok);
    free(m->nodes);
    free(m->state);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
