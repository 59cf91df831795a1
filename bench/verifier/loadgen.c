/*
 * Load generator for bench/verifier: C connections (one thread each, HTTP/1.1
 * keep-alive) run a verification flow back to back and time each
 * verification (all its requests). -f session (the default): Veraison's
 * challenge-response flow, POST newSession?nonce=<the connection's nonce>,
 * then POST the evidence precomputed for that nonce to the Location
 * returned; -f session-delete: the same, then DELETE the session, as vmesh's
 * relying party does (three requests); -f oneshot: vmesh's one-request
 * appraisal, POST /vmesh/v1/appraise?nonce= with the evidence (DECISIONS
 * D42). Timing only; it counts as verified only a 200 whose body says
 * "complete" (a session) or is a JWT (one request), and a 204 for DELETE,
 * so a broken setup cannot look fast.
 * Prints one JSON line. Not part of libvmesh; never used by tests.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 256
#define RBUF (1 << 20)
#define MAX_LAT (1 << 18)

typedef struct {
    int id;
    char nonce[128];
    unsigned char *ev;
    size_t ev_len;
    uint64_t *lat;
    size_t nlat;
    unsigned long errors;
    char *rbuf;
} conn;

static int port;
static const char *media_type;
static enum { FLOW_SESSION, FLOW_SESSION_DELETE, FLOW_ONESHOT } flow = FLOW_SESSION;
static double seconds = 5, warmup = 1;
static uint64_t t_start, t_measure, t_end;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int dial(void)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response; returns the status, the body in rbuf (NUL-terminated,
 * at *body) and the Location header value into loc. */
static int read_response(int fd, char *rbuf, char **body, char *loc, size_t loc_len)
{
    size_t have = 0, hdr_end = 0, clen = 0;
    int status = -1;

    for (;;) {
        ssize_t r = recv(fd, rbuf + have, RBUF - 1 - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        rbuf[have] = '\0';
        if (hdr_end == 0) {
            char *e = strstr(rbuf, "\r\n\r\n");
            if (e == NULL)
                continue;
            hdr_end = (size_t)(e - rbuf) + 4;
            if (sscanf(rbuf, "HTTP/1.%*d %d", &status) != 1)
                return -1;
            char *cl = strcasestr(rbuf, "\r\nContent-Length:");
            if (cl == NULL || cl > e) {
                if (status != 204)
                    return -1;
                clen = 0; /* 204 has no body (RFC 9110 §15.3.5) */
            } else {
                clen = strtoul(cl + 17, NULL, 10);
            }
            if (hdr_end + clen >= RBUF)
                return -1;
            loc[0] = '\0';
            char *l = strcasestr(rbuf, "\r\nLocation:");
            if (l != NULL && l < e) {
                l += 11;
                while (*l == ' ')
                    l++;
                size_t n = strcspn(l, "\r");
                if (n >= loc_len)
                    return -1;
                memcpy(loc, l, n);
                loc[n] = '\0';
            }
        }
        if (have >= hdr_end + clen) {
            if (have != hdr_end + clen)
                return -1; /* no pipelining here */
            *body = rbuf + hdr_end;
            return status;
        }
    }
}

static void *run(void *arg)
{
    conn *c = arg;
    char req[1024], loc[16384], dummy[16384], *body;
    int fd = dial();

    while (fd >= 0 && now_ns() < t_end) {
        uint64_t t0 = now_ns();
        int n;
        if (flow == FLOW_ONESHOT) {
            n = snprintf(req, sizeof(req),
                         "POST /vmesh/v1/appraise?nonce=%s HTTP/1.1\r\nHost: bench\r\nContent-Type: %s\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         c->nonce, media_type, c->ev_len);
            if (n < 0 || (size_t)n >= sizeof(req) || send_all(fd, req, (size_t)n) != 0 ||
                send_all(fd, c->ev, c->ev_len) != 0) {
                c->errors++;
                break;
            }
            if (read_response(fd, c->rbuf, &body, loc, sizeof(loc)) != 200 || strncmp(body, "ey", 2) != 0) {
                c->errors++;
                continue;
            }
            goto done;
        }
        n = snprintf(req, sizeof(req),
                     "POST /challenge-response/v1/newSession?nonce=%s HTTP/1.1\r\nHost: bench\r\n"
                     "Accept: application/vnd.veraison.challenge-response-session+json\r\n"
                     "Content-Length: 0\r\n\r\n",
                     c->nonce);
        if (send_all(fd, req, (size_t)n) != 0 || read_response(fd, c->rbuf, &body, loc, sizeof(loc)) != 201 ||
            loc[0] == '\0') {
            c->errors++;
            break;
        }
        n = snprintf(req, sizeof(req),
                     "POST /challenge-response/v1/%.*s HTTP/1.1\r\nHost: bench\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     (int)(sizeof(req) - 256), loc, media_type, c->ev_len);
        if (n < 0 || (size_t)n >= sizeof(req) || send_all(fd, req, (size_t)n) != 0 ||
            send_all(fd, c->ev, c->ev_len) != 0) {
            c->errors++;
            break;
        }
        if (read_response(fd, c->rbuf, &body, dummy, sizeof(dummy)) != 200 ||
            strstr(body, "\"status\":\"complete\"") == NULL) {
            c->errors++;
            continue;
        }
        if (flow == FLOW_SESSION_DELETE) {
            n = snprintf(req, sizeof(req), "DELETE /challenge-response/v1/%.*s HTTP/1.1\r\nHost: bench\r\n\r\n",
                         (int)(sizeof(req) - 256), loc);
            if (n < 0 || (size_t)n >= sizeof(req) || send_all(fd, req, (size_t)n) != 0 ||
                read_response(fd, c->rbuf, &body, dummy, sizeof(dummy)) != 204) {
                c->errors++;
                break;
            }
        }
    done:;
        uint64_t t1 = now_ns();
        if (t0 >= t_measure && t1 <= t_end && c->nlat < MAX_LAT)
            c->lat[c->nlat++] = t1 - t0;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    long l;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (l = ftell(f)) <= 0 || l > (1 << 20) || fseek(f, 0, SEEK_SET) != 0 ||
        (p = malloc((size_t)l + 1)) == NULL || fread(p, 1, (size_t)l, f) != (size_t)l) {
        if (f)
            fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    p[l] = '\0';
    *n = (size_t)l;
    return p;
}

int main(int argc, char **argv)
{
    int nconn = 16, opt;
    const char *dir = NULL;
    static conn conns[MAX_CONN];
    pthread_t th[MAX_CONN];
    uint64_t *all;
    size_t total = 0;
    unsigned long errors = 0;

    while ((opt = getopt(argc, argv, "p:c:d:w:e:m:f:")) != -1) {
        switch (opt) {
        case 'p': port = (int)strtol(optarg, NULL, 10); break;
        case 'c': nconn = (int)strtol(optarg, NULL, 10); break;
        case 'd': seconds = strtod(optarg, NULL); break;
        case 'w': warmup = strtod(optarg, NULL); break;
        case 'e': dir = optarg; break;
        case 'm': media_type = optarg; break;
        case 'f':
            if (strcmp(optarg, "session") == 0)
                flow = FLOW_SESSION;
            else if (strcmp(optarg, "session-delete") == 0)
                flow = FLOW_SESSION_DELETE;
            else if (strcmp(optarg, "oneshot") == 0)
                flow = FLOW_ONESHOT;
            else {
                fprintf(stderr, "loadgen: -f is session, session-delete or oneshot\n");
                return 1;
            }
            break;
        default:
            fprintf(stderr, "usage: loadgen -p PORT -e DIR -m MEDIA_TYPE [-c CONNS] [-d SECONDS] [-w WARMUP]\n"
                            "               [-f session|session-delete|oneshot]\n"
                            "  DIR holds ev-<i>.cose and nonce-<i>.txt (base64url) for i < CONNS\n");
            return 1;
        }
    }
    if (port <= 0 || dir == NULL || media_type == NULL || nconn < 1 || nconn > MAX_CONN) {
        fprintf(stderr, "loadgen: -p, -e and -m are required; -c is 1..%d\n", MAX_CONN);
        return 1;
    }
    for (int i = 0; i < nconn; i++) {
        char path[4096];
        size_t nn = 0;
        unsigned char *nonce;
        conn *c = &conns[i];
        c->id = i;
        snprintf(path, sizeof(path), "%s/ev-%d.cose", dir, i);
        c->ev = slurp(path, &c->ev_len);
        snprintf(path, sizeof(path), "%s/nonce-%d.txt", dir, i);
        nonce = slurp(path, &nn);
        if (c->ev == NULL || nonce == NULL || nn >= sizeof(c->nonce)) {
            fprintf(stderr, "loadgen: cannot read evidence/nonce %d from %s\n", i, dir);
            return 1;
        }
        snprintf(c->nonce, sizeof(c->nonce), "%.*s", (int)strcspn((char *)nonce, "\r\n"), nonce);
        free(nonce);
        c->lat = malloc(MAX_LAT * sizeof(uint64_t));
        c->rbuf = malloc(RBUF);
        if (c->lat == NULL || c->rbuf == NULL)
            return 1;
    }
    t_start = now_ns();
    t_measure = t_start + (uint64_t)(warmup * 1e9);
    t_end = t_measure + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < nconn; i++)
        pthread_create(&th[i], NULL, run, &conns[i]);
    for (int i = 0; i < nconn; i++) {
        pthread_join(th[i], NULL);
        total += conns[i].nlat;
        errors += conns[i].errors;
    }
    all = malloc((total + 1) * sizeof(uint64_t));
    if (all == NULL)
        return 1;
    total = 0;
    for (int i = 0; i < nconn; i++) {
        memcpy(all + total, conns[i].lat, conns[i].nlat * sizeof(uint64_t));
        total += conns[i].nlat;
    }
    qsort(all, total, sizeof(uint64_t), cmp_u64);
    printf("{\"verifications\": %zu, \"seconds\": %.3f, \"per_second\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
           "\"errors\": %lu, \"connections\": %d}\n",
           total, seconds, (double)total / seconds, total ? (double)all[total / 2] / 1e3 : 0.0,
           total ? (double)all[(size_t)((double)total * 0.99)] / 1e3 : 0.0, errors, nconn);
    for (int i = 0; i < nconn; i++) {
        free(conns[i].lat);
        free(conns[i].rbuf);
        free(conns[i].ev);
    }
    free(all);
    return errors > 0 && total == 0 ? 1 : 0;
}
