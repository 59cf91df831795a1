/*
 * The static bundle server (`vmesh rvp serve`): what nginx does for an RVP
 * directory, for deployments without a web server — GET/HEAD of regular
 * files under one root with strong ETags and If-None-Match. It must never
 * serve anything outside the root (no "..", no symlinks followed, every
 * component opened relative to the root's descriptor), never list a
 * directory, and never accept a request body or another method.
 */
#include "serve_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_URL 512
#define MAX_FILE ((size_t)VMESH_RVP_SET_MAX + 4096)
#define ETAG_SLOTS 256

/* ETags by (path, inode, size, mtime): publishing renames new files into
 * place, so any change gives a new inode and a fresh hash. */
typedef struct {
    char path[MAX_URL];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char etag[67];
} etag_slot;

struct vmesh_rvp_server {
    struct MHD_Daemon *mhd;
    int root_fd;
    uint16_t port;
    pthread_mutex_t lock;
    etag_slot slots[ETAG_SLOTS];
    rvp_coserv *coserv; /* NULL: no CoSERV endpoints */
};

static bool path_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '/';
}

/* "/a/b.jws" -> "a/b.jws". Refuses "..", ".x", "//", odd characters. */
static bool clean_path(const char *url, char *out, size_t cap)
{
    size_t n = strlen(url);

    if (n < 2 || n >= cap || url[0] != '/' || url[n - 1] == '/')
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!path_char_ok(url[i]))
            return false;
        /* A component may not start with '.': no "..", no hidden files. */
        if (url[i - 1] == '/' && (url[i] == '.' || url[i] == '/'))
            return false;
    }
    memcpy(out, url + 1, n);
    return true;
}

/* Opens root/rel component by component without following symlinks
 * (serve_int.h). */
int rvp_open_under(int root_fd, char *rel, struct stat *st)
{
    int dir = root_fd, fd = -1;
    char *comp = rel, *slash;

    while ((slash = strchr(comp, '/')) != NULL) {
        int next;
        *slash = '\0';
        next = openat(dir, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        *slash = '/';
        if (dir != root_fd)
            close(dir);
        if (next < 0)
            return -1;
        dir = next;
        comp = slash + 1;
    }
    fd = openat(dir, comp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (dir != root_fd)
        close(dir);
    if (fd >= 0 && (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

bool rvp_read_all(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static size_t slot_of(const char *path)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (const char *p = path; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return (size_t)(h % ETAG_SLOTS);
}

static void etag_of(vmesh_rvp_server *s, const char *path, const struct stat *st, const uint8_t *data, size_t n,
                    char etag[67])
{
    static const char hex[] = "0123456789abcdef";
    etag_slot *e = &s->slots[slot_of(path)];
    uint8_t d[32];

    pthread_mutex_lock(&s->lock);
    if (strcmp(e->path, path) == 0 && e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
        e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec) {
        memcpy(etag, e->etag, 67);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    pthread_mutex_unlock(&s->lock);
    vmesh_crypto_sha256(data, n, d);
    etag[0] = '"';
    for (size_t i = 0; i < 32; i++) {
        etag[1 + 2 * i] = hex[d[i] >> 4];
        etag[2 + 2 * i] = hex[d[i] & 15];
    }
    etag[65] = '"';
    etag[66] = '\0';
    pthread_mutex_lock(&s->lock);
    snprintf(e->path, sizeof(e->path), "%s", path);
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    memcpy(e->etag, etag, 67);
    pthread_mutex_unlock(&s->lock);
}

/* RFC 9110 §13.1.2: "A recipient MUST use the weak comparison function when
 * comparing entity tags for If-None-Match", i.e. W/ is ignored. The field is
 * "*" or a comma-separated list of entity-tags. */
static bool none_match_hits(const char *field, const char *etag)
{
    const char *p = field;
    size_t elen = strlen(etag);

    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p == '"') {
            const char *end = strchr(p + 1, '"');
            if (end == NULL)
                return false;
            if ((size_t)(end + 1 - p) == elen && memcmp(p, etag, elen) == 0)
                return true;
            p = end + 1;
        } else {
            while (*p && *p != ',')
                p++;
        }
    }
    return false;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *cache_control(const char *rel)
{
    /* Sets are content-addressed: a name never changes meaning. */
    return strncmp(rel, "sets/", 5) == 0 ? "public, max-age=31536000, immutable" : "no-cache";
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    vmesh_rvp_server *s = cls;
    char rel[MAX_URL], etag[67];
    struct stat st;
    const char *inm;
    uint8_t *data = NULL;
    struct MHD_Response *r;
    enum MHD_Result ret;
    size_t n;
    int fd;
    bool not_modified;

    (void)version;
    (void)upload;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
    if (*con_cls == NULL) {
        *con_cls = s; /* first call: headers only */
        return MHD_YES;
    }
    if (*upload_size != 0)
        return reply(c, MHD_HTTP_BAD_REQUEST, "no request body allowed\n", NULL);
    if (s->coserv != NULL &&
        (strcmp(url, RVP_COSERV_WELL_KNOWN) == 0 || strncmp(url, RVP_COSERV_PATH, strlen(RVP_COSERV_PATH)) == 0))
        return rvp_coserv_handle(s->coserv, c, url);
    if (!clean_path(url, rel, sizeof(rel)))
        return reply(c, strcmp(url, "/") == 0 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST,
                     strcmp(url, "/") == 0 ? "not found\n" : "bad path\n", NULL);
    fd = rvp_open_under(s->root_fd, rel, &st);
    if (fd < 0)
        return reply(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
    if ((size_t)st.st_size > MAX_FILE) {
        close(fd);
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "file too large\n", NULL);
    }
    n = (size_t)st.st_size;
    data = malloc(n ? n : 1);
    if (data == NULL || !rvp_read_all(fd, data, n)) {
        close(fd);
        free(data);
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "read error\n", NULL);
    }
    close(fd);
    etag_of(s, rel, &st, data, n, etag);
    inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    not_modified = inm != NULL && none_match_hits(inm, etag);
    if (not_modified) {
        free(data);
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        r = MHD_create_response_from_buffer(n, data, MHD_RESPMEM_MUST_FREE);
        if (r == NULL)
            free(data);
    }
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control(rel));
    if (!not_modified) {
        size_t rl = strlen(rel);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                rl > 4 && strcmp(rel + rl - 4, ".jws") == 0 ? "application/jose"
                                                                              : "application/octet-stream");
    }
    ret = MHD_queue_response(c, not_modified ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* libmicrohttpd's messages go through the log (one record each, in the
 * chosen format), not straight to stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    vmesh_log(VMESH_LOG_WARN, "rvp serve: http: %s", line);
}

static vmesh_err open_root(const char *root, int *fd)
{
    *fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return vmesh_err_set(VMESH_ERR_IO, "cannot open the served directory %s: %s", root, strerror(errno));
    return VMESH_OK;
}

vmesh_err vmesh_rvp_server_check(const char *root, const char *listen)
{
    vmesh_err rc = VMESH_OK;
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = -1;

    VMESH_GUARD(open_root(root, &fd));
    /* what vmesh_net_listen does before socket() */
    rc = vmesh_net_resolve(listen, VMESH_NET_LISTEN, &ss, &len);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

vmesh_err vmesh_rvp_server_start(const char *root, const char *listen, vmesh_rvp_server **out)
{
    return vmesh_rvp_server_start_coserv(root, listen, NULL, out);
}

vmesh_err vmesh_rvp_server_start_coserv(const char *root, const char *listen, const vmesh_key *coserv_key,
                                        vmesh_rvp_server **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rvp_server *s = NULL;
    struct stat st;
    int fd = -1;
    bool passed = false;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->root_fd = -1;
    VMESH_GUARD(open_root(root, &s->root_fd));
    if (coserv_key != NULL)
        VMESH_GUARD(rvp_coserv_new(s->root_fd, coserv_key, &s->coserv));
    /* Our own socket, so a busy port or a foreign address gets a reason. */
    VMESH_GUARD(vmesh_net_listen(listen, 1024, 0, &fd));
    VMESH_ENSURE(fstat(fd, &st) == 0, VMESH_ERR_IO, "fstat: %s", strerror(errno));
    passed = true;
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_LISTEN_SOCKET, fd,
                              MHD_OPTION_THREAD_POOL_SIZE, (unsigned)2, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                              s, MHD_OPTION_END);
    VMESH_ENSURE(s->mhd != NULL, VMESH_ERR_IO, "cannot start the RVP server on %s (see the log above)", listen);
    fd = -1; /* MHD closes it on stop */
    info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    *out = s;
    s = NULL;
out:
    /* A failed start may or may not have closed the socket already: close
     * it only if the number still names our socket. */
    if (fd >= 0) {
        struct stat now;
        if (!passed || (fstat(fd, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev))
            close(fd);
    }
    vmesh_rvp_server_stop(s);
    return rc;
}

uint16_t vmesh_rvp_server_port(const vmesh_rvp_server *s)
{
    return s->port;
}

void vmesh_rvp_server_stop(vmesh_rvp_server *s)
{
    if (s == NULL)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    rvp_coserv_free(s->coserv);
    if (s->root_fd >= 0)
        close(s->root_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
