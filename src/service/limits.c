/*
 * What one client may take from the verifier (issue 12.6): a client is an
 * IPv4 address or an IPv6 /64. Each has a cap on open connections, a
 * request-rate and a body-byte budget (token buckets), and every connection
 * has a deadline to deliver a whole request (headers and body) that bytes do
 * not extend, so a trickle of one byte a second holds nothing for long.
 * Pure bookkeeping with the time passed in (tests drive the clock); the
 * libmicrohttpd glue (http.c) calls it and closes what it says. It must
 * never grow without bound: the client table and the connection list are
 * capped by the connection limit.
 */
#include "service_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BUCKETS 1024u

struct svc_client {
    struct svc_client *next; /* hash chain */
    svc_client_key key;
    bool used;
    unsigned conns;
    uint64_t req_milli;  /* request tokens x 1000 */
    uint64_t byte_milli; /* byte tokens x 1000 */
    uint64_t last_ms;    /* last refill */
};

struct svc_limits {
    svc_limits_config cfg;
    pthread_mutex_t lock;
    struct svc_client *pool; /* cfg-derived capacity */
    size_t cap;
    struct svc_client *buckets[BUCKETS];
    size_t nclients; /* entries in use */
    unsigned total;  /* open connections */
    svc_conn *conns; /* doubly linked, for the reaper */
    _Atomic uint64_t refused[SVC_REFUSE_COUNT];
    _Atomic uint64_t accepted;
};

static const char *const refuse_names[SVC_REFUSE_COUNT] = {
    [SVC_REFUSE_NONE] = "none",
    [SVC_REFUSE_CONNECTIONS] = "connections",
    [SVC_REFUSE_CLIENT_CONNECTIONS] = "client-connections",
    [SVC_REFUSE_DEADLINE] = "deadline",
    [SVC_REFUSE_CLIENT_RATE] = "client-rate",
    [SVC_REFUSE_CLIENT_BYTES] = "client-bytes",
    [SVC_REFUSE_BODY] = "body-too-large",
    [SVC_REFUSE_CLIENTS] = "clients",
};

const char *svc_refuse_name(svc_refuse r)
{
    return (unsigned)r < SVC_REFUSE_COUNT ? refuse_names[r] : "?";
}

void svc_client_key_from(const struct sockaddr *sa, svc_client_key *k)
{
    memset(k, 0, sizeof(*k));
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        k->a[10] = 0xff;
        k->a[11] = 0xff;
        memcpy(k->a + 12, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(k->a, &in6->sin6_addr, 16);
        /* An IPv4-mapped address is that IPv4 client; any other IPv6
         * client is its /64 (one host usually holds the whole /64). */
        if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            memset(k->a + 8, 0, 8);
    }
}

void svc_client_key_str(const svc_client_key *k, char *out, size_t n)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char a[INET6_ADDRSTRLEN];

    if (memcmp(k->a, mapped, sizeof(mapped)) == 0) {
        inet_ntop(AF_INET, k->a + 12, a, sizeof(a));
        snprintf(out, n, "%s", a);
    } else {
        inet_ntop(AF_INET6, k->a, a, sizeof(a));
        snprintf(out, n, "%s/64", a);
    }
}

static unsigned key_hash(const svc_client_key *k)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < sizeof(k->a); i++)
        h = (h ^ k->a[i]) * 16777619u;
    return h % BUCKETS;
}

vmesh_err svc_limits_new(const svc_limits_config *cfg, svc_limits **out)
{
    vmesh_err rc = VMESH_OK;
    svc_limits *l = NULL;

    *out = NULL;
    VMESH_ENSURE(cfg->max_connections > 0, VMESH_ERR_ARG, "service: connection limit 0");
    l = calloc(1, sizeof(*l));
    VMESH_ENSURE(l != NULL, VMESH_ERR_NOMEM, "service: out of memory");
    l->cfg = *cfg;
    /* Every open connection's client has an entry, plus room to remember
     * the budgets of clients that just left. */
    l->cap = (size_t)cfg->max_connections + 256;
    l->pool = calloc(l->cap, sizeof(*l->pool));
    if (l->pool == NULL) {
        free(l);
        l = NULL;
        VMESH_ENSURE(false, VMESH_ERR_NOMEM, "service: out of memory for %zu clients", (size_t)cfg->max_connections);
    }
    pthread_mutex_init(&l->lock, NULL);
    *out = l;
out:
    return rc;
}

void svc_limits_free(svc_limits *l)
{
    if (l == NULL)
        return;
    while (l->conns != NULL) {
        svc_conn *c = l->conns;
        l->conns = c->next;
        free(c);
    }
    pthread_mutex_destroy(&l->lock);
    free(l->pool);
    free(l);
}

static uint64_t req_cap(const svc_limits *l)
{
    return (uint64_t)l->cfg.client_burst * 1000u;
}

static uint64_t byte_cap(const svc_limits *l)
{
    return (uint64_t)l->cfg.client_bytes_burst * 1000u;
}

static void refill(svc_limits *l, struct svc_client *c, uint64_t now_ms)
{
    uint64_t dt = now_ms > c->last_ms ? now_ms - c->last_ms : 0;

    c->last_ms = now_ms;
    /* rate per second = milli-tokens per millisecond */
    if (dt > 3600u * 1000u)
        dt = 3600u * 1000u;
    c->req_milli += dt * l->cfg.client_rate;
    if (c->req_milli > req_cap(l))
        c->req_milli = req_cap(l);
    c->byte_milli += dt * l->cfg.client_bytes;
    if (c->byte_milli > byte_cap(l))
        c->byte_milli = byte_cap(l);
}

static struct svc_client *find(svc_limits *l, const svc_client_key *k)
{
    for (struct svc_client *c = l->buckets[key_hash(k)]; c != NULL; c = c->next)
        if (memcmp(c->key.a, k->a, sizeof(k->a)) == 0)
            return c;
    return NULL;
}

static void unlink_client(svc_limits *l, struct svc_client *c)
{
    struct svc_client **pp = &l->buckets[key_hash(&c->key)];

    while (*pp != NULL && *pp != c)
        pp = &(*pp)->next;
    if (*pp == c)
        *pp = c->next;
    memset(c, 0, sizeof(*c));
    l->nclients--;
}

/* A free entry, or the one with no connection that was seen longest ago
 * (forgetting a client gives it full buckets: only under an address flood
 * wider than the table). */
static struct svc_client *take_entry(svc_limits *l)
{
    struct svc_client *victim = NULL;

    for (size_t i = 0; i < l->cap; i++) {
        struct svc_client *c = &l->pool[i];
        if (!c->used)
            return c;
        if (c->conns == 0 && (victim == NULL || c->last_ms < victim->last_ms))
            victim = c;
    }
    if (victim != NULL)
        unlink_client(l, victim);
    return victim;
}

static struct svc_client *get(svc_limits *l, const svc_client_key *k, uint64_t now_ms)
{
    struct svc_client *c = find(l, k);
    unsigned h;

    if (c != NULL) {
        refill(l, c, now_ms);
        return c;
    }
    c = take_entry(l);
    if (c == NULL)
        return NULL;
    h = key_hash(k);
    c->used = true;
    c->key = *k;
    c->req_milli = req_cap(l);
    c->byte_milli = byte_cap(l);
    c->last_ms = now_ms;
    c->next = l->buckets[h];
    l->buckets[h] = c;
    l->nclients++;
    return c;
}

svc_refuse svc_limits_admit(svc_limits *l, const svc_client_key *k)
{
    svc_refuse r = SVC_REFUSE_NONE;
    struct svc_client *c;

    pthread_mutex_lock(&l->lock);
    if (l->total >= l->cfg.max_connections)
        r = SVC_REFUSE_CONNECTIONS;
    else if (l->cfg.client_connections != SVC_UNLIMITED && (c = find(l, k)) != NULL &&
             c->conns >= l->cfg.client_connections)
        r = SVC_REFUSE_CLIENT_CONNECTIONS;
    pthread_mutex_unlock(&l->lock);
    if (r != SVC_REFUSE_NONE)
        atomic_fetch_add(&l->refused[r], 1);
    return r;
}

svc_refuse svc_limits_open(svc_limits *l, const svc_client_key *k, int fd, uint64_t now_ms, svc_conn **out)
{
    svc_refuse r = SVC_REFUSE_NONE;
    struct svc_client *c;
    svc_conn *sc = NULL;

    *out = NULL;
    sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return SVC_REFUSE_CLIENTS;
    pthread_mutex_lock(&l->lock);
    c = get(l, k, now_ms);
    if (c == NULL) {
        r = SVC_REFUSE_CLIENTS;
        goto out;
    }
    /* admit() checked without reserving: two threads accepting at once
     * may both pass, so the count is checked again here. */
    if (l->total >= l->cfg.max_connections)
        r = SVC_REFUSE_CONNECTIONS;
    else if (l->cfg.client_connections != SVC_UNLIMITED && c->conns >= l->cfg.client_connections)
        r = SVC_REFUSE_CLIENT_CONNECTIONS;
    if (r != SVC_REFUSE_NONE)
        goto out;
    c->conns++;
    l->total++;
    sc->client = c;
    sc->fd = fd;
    sc->deadline_ms = now_ms + (uint64_t)l->cfg.request_deadline * 1000u;
    sc->next = l->conns;
    if (l->conns != NULL)
        l->conns->prev = sc;
    l->conns = sc;
    *out = sc;
    sc = NULL;
    atomic_fetch_add(&l->accepted, 1);
out:
    pthread_mutex_unlock(&l->lock);
    if (r != SVC_REFUSE_NONE)
        atomic_fetch_add(&l->refused[r], 1);
    free(sc);
    return r;
}

void svc_limits_close(svc_limits *l, svc_conn *sc)
{
    if (sc == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    if (sc->prev != NULL)
        sc->prev->next = sc->next;
    else
        l->conns = sc->next;
    if (sc->next != NULL)
        sc->next->prev = sc->prev;
    sc->client->conns--;
    l->total--;
    pthread_mutex_unlock(&l->lock);
    free(sc);
}

static unsigned wait_s(uint64_t deficit_milli, uint64_t rate)
{
    /* milli-tokens come at `rate` per ms */
    uint64_t ms = (deficit_milli + rate - 1) / rate;
    uint64_t s = (ms + 999) / 1000;

    return s == 0 ? 1 : s > 3600 ? 3600 : (unsigned)s;
}

svc_refuse svc_limits_request(svc_limits *l, svc_conn *sc, uint64_t requests, uint64_t bytes, uint64_t now_ms,
                              unsigned *retry_after)
{
    svc_refuse r = SVC_REFUSE_NONE;
    struct svc_client *c = sc->client;
    uint64_t need_req = requests * 1000u;

    *retry_after = 0;
    pthread_mutex_lock(&l->lock);
    refill(l, c, now_ms);
    if (l->cfg.client_rate != SVC_UNLIMITED && c->req_milli < need_req) {
        r = SVC_REFUSE_CLIENT_RATE;
        *retry_after = wait_s(need_req - c->req_milli, l->cfg.client_rate);
        goto out;
    }
    if (l->cfg.client_bytes != SVC_UNLIMITED && bytes > 0) {
        uint64_t need = bytes * 1000u;
        if (c->byte_milli < need) {
            r = SVC_REFUSE_CLIENT_BYTES;
            *retry_after = wait_s(need - c->byte_milli, l->cfg.client_bytes);
            goto out;
        }
        c->byte_milli -= need;
    }
    if (l->cfg.client_rate != SVC_UNLIMITED)
        c->req_milli -= need_req;
out:
    pthread_mutex_unlock(&l->lock);
    if (r != SVC_REFUSE_NONE)
        atomic_fetch_add(&l->refused[r], 1);
    return r;
}

svc_refuse svc_limits_bytes(svc_limits *l, svc_conn *sc, uint64_t bytes, uint64_t now_ms, unsigned *retry_after)
{
    svc_refuse r = SVC_REFUSE_NONE;
    struct svc_client *c = sc->client;
    uint64_t need = bytes * 1000u;

    *retry_after = 0;
    if (l->cfg.client_bytes == SVC_UNLIMITED)
        return r;
    pthread_mutex_lock(&l->lock);
    refill(l, c, now_ms);
    if (c->byte_milli < need) {
        r = SVC_REFUSE_CLIENT_BYTES;
        *retry_after = wait_s(need - c->byte_milli, l->cfg.client_bytes);
        c->byte_milli = 0;
    } else {
        c->byte_milli -= need;
    }
    pthread_mutex_unlock(&l->lock);
    /* counted once per request by the caller (svc_limits_count) */
    return r;
}

void svc_limits_count(svc_limits *l, svc_refuse r)
{
    if (r != SVC_REFUSE_NONE && (unsigned)r < SVC_REFUSE_COUNT)
        atomic_fetch_add(&l->refused[r], 1);
}

void svc_limits_arm(svc_limits *l, svc_conn *sc, uint64_t now_ms)
{
    if (sc == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    sc->deadline_ms = now_ms == 0 ? 0 : now_ms + (uint64_t)l->cfg.request_deadline * 1000u;
    pthread_mutex_unlock(&l->lock);
}

size_t svc_limits_reap(svc_limits *l, uint64_t now_ms, void (*kill)(int fd, void *ctx), void *ctx)
{
    size_t n = 0;

    pthread_mutex_lock(&l->lock);
    /* The glue removes a connection here (svc_limits_close) before its
     * socket is closed, so every fd on the list is still that connection's. */
    for (svc_conn *sc = l->conns; sc != NULL; sc = sc->next)
        if (!sc->killed && sc->deadline_ms != 0 && now_ms >= sc->deadline_ms) {
            sc->killed = true;
            if (kill != NULL)
                kill(sc->fd, ctx);
            n++;
        }
    pthread_mutex_unlock(&l->lock);
    if (n > 0)
        atomic_fetch_add(&l->refused[SVC_REFUSE_DEADLINE], n);
    return n;
}

void svc_limits_get_stats(svc_limits *l, svc_limits_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&l->lock);
    out->connections = l->total;
    for (size_t i = 0; i < l->cap; i++)
        if (l->pool[i].used && l->pool[i].conns > 0)
            out->clients++;
    out->tracked = l->nclients;
    pthread_mutex_unlock(&l->lock);
    out->accepted = atomic_load(&l->accepted);
    for (unsigned i = 0; i < SVC_REFUSE_COUNT; i++)
        out->refused[i] = atomic_load(&l->refused[i]);
}

const svc_client_key *svc_conn_client(const svc_conn *sc)
{
    static const svc_client_key none;

    return sc != NULL && sc->client != NULL ? &sc->client->key : &none;
}

const svc_limits_config *svc_limits_cfg(const svc_limits *l)
{
    return &l->cfg;
}
