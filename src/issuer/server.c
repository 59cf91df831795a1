/*
 * The attested SVID issuer (`vmesh ca serve`, DECISIONS D44): an atls
 * server that admits a client only when its fresh-mode attestation affirms
 * under the issuer's policy, then answers one CSR per connection with a
 * short-lived X509-SVID for the client certificate's SPIFFE ID and the
 * attested AK. One thread per connection, capped in total and per client
 * address; each exchange (handshake, request, answer) bounded by one
 * deadline. Refusal lines are rate limited (a flood of bad clients cannot
 * flood the log).
 */
#define _GNU_SOURCE
#include "issuer_int.h"

#include "vmesh/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_POLICY                                                                                                \
    "{\"format\":\"vmesh-policy/1\",\"id\":\"policy:vmesh/svid-issuer\",\"modes\":[\"fresh\"]}"
#define LOG_PER_SECOND 10
#define LINGER_MS 1000              /* a closing connection waits this long for the client's EOF */
#define LINGER_BYTES (256u * 1024u) /* and drops at most this much of its input meanwhile */

typedef struct {
    char addr[VMESH_NET_ADDR_STR_MAX];
    unsigned n;
} client_slot;

struct vmesh_issuer {
    vmesh_issuer_config cfg;
    char *ca_dir, *clients;
    int64_t max_ttl;
    unsigned max_conns, per_client;
    uint32_t deadline_ms;
    int lfd;
    uint16_t port;
    vmesh_agent *agent;
    vmesh_atls_config *tls;
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned open;
    client_slot *slots; /* max_conns entries */
    /* refusal log budget */
    int64_t log_sec;
    unsigned log_n, log_dropped;
    _Atomic uint64_t accepted, issued, refused_att, refused_req, refused_busy;
};

static void refusal_log(vmesh_issuer *s, const char *fmt, ...) VMESH_PRINTF(2, 3);
static void refusal_log(vmesh_issuer *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int64_t now = vmesh_time_now();
    unsigned dropped = 0;
    bool say;

    pthread_mutex_lock(&s->lock);
    if (now != s->log_sec) {
        dropped = s->log_dropped;
        s->log_sec = now;
        s->log_n = 0;
        s->log_dropped = 0;
    }
    say = s->log_n++ < LOG_PER_SECOND;
    if (!say)
        s->log_dropped++;
    pthread_mutex_unlock(&s->lock);
    if (dropped)
        vmesh_log(VMESH_LOG_WARN, "issuer: %u more refusals in the last second were not logged", dropped);
    if (!say)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    vmesh_log(VMESH_LOG_WARN, "issuer: %s", line);
}

vmesh_err vmesh_issuer_new(const vmesh_issuer_config *cfg, vmesh_issuer **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_issuer *s = NULL;
    vmesh_policy *pol = NULL;
    vmesh_agent_config ac;
    vmesh_atls_provider prov;
    vmesh_buf ca = {0};
    char *ca_id = NULL, *td = NULL;
    char pattern[VMESH_PKI_TRUST_DOMAIN_MAX + 16];

    *out = NULL;
    VMESH_ENSURE(cfg->ca_dir && cfg->listen && cfg->cert_file && cfg->key_file && cfg->bundle_file && cfg->verifier,
                 VMESH_ERR_ARG, "issuer: the CA, listen address, serving SVID, bundle and verifier are required");
    VMESH_ENSURE(cfg->max_ttl == 0 || (cfg->max_ttl >= VMESH_ISSUER_MIN_TTL && cfg->max_ttl <= 30LL * 86400),
                 VMESH_ERR_ARG, "issuer: max-ttl %lld s is outside %d s..30 days", (long long)cfg->max_ttl,
                 VMESH_ISSUER_MIN_TTL);
    s = calloc(1, sizeof(*s));
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    s->lfd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->cfg = *cfg;
    s->ca_dir = strdup(cfg->ca_dir);
    VMESH_ENSURE(s->ca_dir != NULL, VMESH_ERR_NOMEM, "out of memory");
    s->max_ttl = cfg->max_ttl ? cfg->max_ttl : VMESH_ISSUER_DEFAULT_MAX_TTL;
    s->max_conns = cfg->max_connections ? cfg->max_connections : 64;
    s->per_client = cfg->client_connections ? cfg->client_connections : 4;
    s->deadline_ms = cfg->deadline_ms ? cfg->deadline_ms : 10000;
    s->slots = calloc(s->max_conns, sizeof(client_slot));
    VMESH_ENSURE(s->slots != NULL, VMESH_ERR_NOMEM, "out of memory");
    /* The CA must load and name its trust domain; clients default to it. */
    VMESH_GUARD(vmesh_pki_ca_bundle(cfg->ca_dir, &ca));
    {
        char path[4096];
        snprintf(path, sizeof(path), "%s/" VMESH_PKI_CA_CERT, cfg->ca_dir);
        rc = vmesh_pki_spiffe_id_from_pem_file(path, &ca_id);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "issuer: the CA certificate %s", path);
            goto out;
        }
    }
    VMESH_GUARD(vmesh_pki_spiffe_id_trust_domain(ca_id, &td));
    if (cfg->clients) {
        VMESH_GUARD(vmesh_pki_spiffe_pattern_validate(cfg->clients));
        s->clients = strdup(cfg->clients);
    } else {
        snprintf(pattern, sizeof(pattern), "spiffe://%s/*", td);
        s->clients = strdup(pattern);
    }
    VMESH_ENSURE(s->clients != NULL, VMESH_ERR_NOMEM, "out of memory");
    if (cfg->policy) {
        pol = vmesh_policy_ref(cfg->policy);
    } else {
        VMESH_GUARD(vmesh_policy_parse((const uint8_t *)DEFAULT_POLICY, strlen(DEFAULT_POLICY), "issuer default", &pol));
    }
    VMESH_ENSURE(vmesh_policy_modes(pol) & VMESH_MODE_BIT(VMESH_MODE_FRESH), VMESH_ERR_ARG,
                 "issuer: policy %s does not accept mode fresh, the only mode whose evidence is bound to the issuance "
                 "connection; add \"fresh\" to its modes", vmesh_policy_id(pol));
    memset(&ac, 0, sizeof(ac));
    ac.verifier = cfg->verifier;
    ac.policy = pol;
    rc = vmesh_agent_new(&ac, &s->agent);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "issuer: the relying party");
        goto out;
    }
    vmesh_agent_provider(s->agent, &prov);
    prov.accept_modes[0] = VMESH_ATLS_MODE_FRESH;
    prov.n_accept_modes = 1;
    prov.allow_unattested = false;
    prov.keybound_accept = false;
    prov.keybound_attest = false;
    prov.will_attest = false;
    prov.attest = NULL;
    prov.attest_modes = 0;
    VMESH_GUARD(vmesh_atls_config_new(VMESH_ATLS_SERVER, &s->tls));
    rc = vmesh_atls_config_set_svid(s->tls, cfg->cert_file, cfg->key_file);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "issuer: the serving SVID");
        goto out;
    }
    rc = vmesh_atls_config_set_bundle(s->tls, cfg->bundle_file);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "issuer: the bundle");
        goto out;
    }
    VMESH_GUARD(vmesh_atls_config_set_peer_pattern(s->tls, s->clients));
    VMESH_GUARD(vmesh_atls_config_set_provider(s->tls, &prov));
    vmesh_atls_config_set_deadline_ms(s->tls, s->deadline_ms);
    vmesh_atls_config_set_resumption(s->tls, false);
    VMESH_GUARD(vmesh_net_listen(cfg->listen, 128, 0, &s->lfd));
    s->port = vmesh_net_local_port(s->lfd);
    *out = s;
    s = NULL;
out:
    vmesh_policy_free(pol);
    vmesh_buf_free(&ca);
    free(ca_id);
    free(td);
    vmesh_issuer_free(s);
    return rc;
}

uint16_t vmesh_issuer_port(const vmesh_issuer *s)
{
    return s->port;
}

void vmesh_issuer_stats_get(vmesh_issuer *s, vmesh_issuer_stats *o)
{
    o->accepted = atomic_load(&s->accepted);
    o->issued = atomic_load(&s->issued);
    o->refused_attestation = atomic_load(&s->refused_att);
    o->refused_request = atomic_load(&s->refused_req);
    o->refused_busy = atomic_load(&s->refused_busy);
}

/* ---- one connection ------------------------------------------------------------------ */

typedef struct {
    vmesh_issuer *s;
    int fd;
    char addr[VMESH_NET_ADDR_STR_MAX];
} conn_job;

static vmesh_err answer(vmesh_issuer *s, vmesh_atls_conn *c, int fd, uint64_t dl, unsigned status, const char *name,
                        const char *detail, const vmesh_buf *chain)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf a = {0};

    if (status != 200)
        atomic_fetch_add(&s->refused_req, 1);
    VMESH_GUARD(vmesh_issuer_answer_encode(status, name, detail, chain ? chain->data : NULL, chain ? chain->len : 0, &a));
    VMESH_GUARD(iss_write_msg(c, fd, a.data, a.len, dl));
out:
    vmesh_buf_free(&a);
    return rc;
}

/* Judges one request; fills status/name/detail and, on 200, chain. */
static void judge(vmesh_issuer *s, vmesh_atls_conn *c, const vmesh_buf *req, const char *id, unsigned *status,
                  const char **name, char *detail, size_t dlen, vmesh_buf *chain)
{
    const vmesh_atls_peer_result *pr = vmesh_atls_peer_result_get(c);
    const uint8_t *csr;
    size_t csr_len;
    uint64_t ttl;
    vmesh_buf spki = {0};
    uint8_t binder[32], nonce[32];
    vmesh_key *k = NULL;
    vmesh_err rc;

    *status = 400;
    *name = "malformed";
    if ((rc = vmesh_issuer_request_decode(req->data, req->len, &csr, &csr_len, &ttl)) != VMESH_OK) {
        *name = rc == VMESH_ERR_UNSUPPORTED ? "unsupported-operation" : "malformed";
        snprintf(detail, dlen, "%s", vmesh_err_detail());
        goto out;
    }
    if (vmesh_issuer_csr_check(csr, csr_len, id, &spki, status, name) != VMESH_OK) {
        snprintf(detail, dlen, "%s", vmesh_err_detail());
        goto out;
    }
    /* The attested AK: atls verified the message's proof over this
     * connection's binder and the provider that the evidence carries
     * ak_nonce(AK, binder); the CSR key is that AK exactly when the nonce
     * recomputed from it is the one the evidence carried. */
    if (pr == NULL || pr->mode != VMESH_ATLS_MODE_FRESH || pr->accepted.cmw.len == 0) {
        *status = 403;
        *name = "not-attested";
        snprintf(detail, dlen, "this connection carries no fresh-mode attestation");
        goto out;
    }
    if (vmesh_issuer_conn_binder(c, binder) != VMESH_OK ||
        vmesh_atls_ak_nonce(spki.data, spki.len, binder, 32, nonce) != VMESH_OK) {
        *status = 500;
        *name = "internal";
        snprintf(detail, dlen, "%s", vmesh_err_detail());
        goto out;
    }
    if (!vmesh_crypto_memeq(nonce, pr->accepted.ak_nonce, 32)) {
        *status = 403;
        *name = "key-mismatch";
        snprintf(detail, dlen, "the CSR's key is not the attestation key this connection's evidence binds: certify the "
                               "key the agent attested with (its key-bound AK)");
        goto out;
    }
    if (ttl == 0 || ttl > (uint64_t)s->max_ttl)
        ttl = (uint64_t)s->max_ttl;
    if (ttl < VMESH_ISSUER_MIN_TTL)
        ttl = VMESH_ISSUER_MIN_TTL;
    if ((rc = vmesh_crypto_key_from_spki(spki.data, spki.len, &k)) != VMESH_OK ||
        (rc = vmesh_pki_ca_issue_for_key_seconds(s->ca_dir, id, (int64_t)ttl, k, chain)) != VMESH_OK) {
        *status = 500;
        *name = "issue-failed";
        snprintf(detail, dlen, "%s", vmesh_err_detail());
        goto out;
    }
    *status = 200;
    *name = "issued";
    snprintf(detail, dlen, "X509-SVID for %s, valid %llu s", id, (unsigned long long)ttl);
out:
    vmesh_crypto_key_free(k);
    vmesh_buf_free(&spki);
}

static void serve(vmesh_issuer *s, int fd, const char *addr)
{
    vmesh_atls_conn *c = NULL;
    vmesh_buf req = {0}, chain = {0};
    uint64_t dl = vmesh_time_mono_ns() + (uint64_t)s->deadline_ms * 1000000ULL;
    const char *id, *name, *m = NULL;
    char detail[VMESH_ISSUER_DETAIL_MAX + 1];
    unsigned status, served = 0;
    size_t announced;
    bool by_peer = false;
    vmesh_err rc;

    if ((rc = vmesh_atls_conn_new(s->tls, fd, &c)) != VMESH_OK) {
        refusal_log(s, "%s: %s", addr, vmesh_err_detail());
        goto out;
    }
    if ((rc = iss_handshake(c, fd)) != VMESH_OK) {
        vmesh_atls_reason r = vmesh_atls_failure(c, &m, &by_peer);
        atomic_fetch_add(&s->refused_att, 1);
        refusal_log(s, "refused %s (%s): %s: %s", vmesh_atls_peer_spiffe_id(c) ? vmesh_atls_peer_spiffe_id(c) : "?",
                    addr, r == VMESH_ATLS_R_NONE ? "tls-handshake" : vmesh_atls_reason_name(r),
                    m && *m ? m : vmesh_err_detail());
        goto out;
    }
    id = vmesh_atls_peer_spiffe_id(c);
    for (;;) {
        rc = iss_read_msg(c, fd, VMESH_ISSUER_REQUEST_MAX, dl, &req, &announced);
        if (rc == VMESH_ERR_CLOSED)
            break;
        if (rc == VMESH_ERR_TOO_LARGE) {
            refusal_log(s, "refused %s (%s): too-large: a request of %zu bytes", id, addr, announced);
            if (answer(s, c, fd, dl, 413, "too-large", vmesh_err_detail(), NULL) != VMESH_OK)
                vmesh_err_clear();
            break;
        }
        if (rc != VMESH_OK) {
            refusal_log(s, "%s (%s): %s", id, addr, vmesh_err_detail());
            break;
        }
        if (served > 0) {
            /* One issuance per attested connection: its evidence was made
             * for it, and a second request is a replay of the first. */
            status = 409;
            name = "replayed";
            snprintf(detail, sizeof(detail), "this attested connection already received its SVID; a new SVID needs a "
                                             "new connection and new evidence");
        } else {
            judge(s, c, &req, id, &status, &name, detail, sizeof(detail), &chain);
        }
        served++;
        if (status == 200) {
            atomic_fetch_add(&s->issued, 1);
            vmesh_log_status("issuer: issued %s (%s): %s", id, addr, detail);
        } else {
            refusal_log(s, "refused %s (%s): %u %s: %s", id, addr, status, name, detail);
        }
        if (answer(s, c, fd, dl, status, name, detail, status == 200 ? &chain : NULL) != VMESH_OK) {
            vmesh_err_clear();
            break;
        }
        if (status >= 400 && status != 409)
            break;
    }
    if (vmesh_atls_shutdown(c) != VMESH_OK)
        vmesh_err_clear();
out:
    vmesh_buf_free(&req);
    vmesh_buf_free(&chain);
    vmesh_atls_free(c);
}

static void slot_release(vmesh_issuer *s, const char *addr)
{
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->max_conns; i++)
        if (s->slots[i].n > 0 && strcmp(s->slots[i].addr, addr) == 0) {
            s->slots[i].n--;
            break;
        }
    s->open--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

/* Takes a connection slot for addr: false when over either cap. */
static bool slot_take(vmesh_issuer *s, const char *addr)
{
    client_slot *free_slot = NULL, *mine = NULL;
    bool ok = false;

    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->max_conns; i++) {
        if (s->slots[i].n > 0 && strcmp(s->slots[i].addr, addr) == 0)
            mine = &s->slots[i];
        else if (s->slots[i].n == 0 && free_slot == NULL)
            free_slot = &s->slots[i];
    }
    if (s->open < s->max_conns && (mine ? mine->n < s->per_client : free_slot != NULL)) {
        if (mine == NULL) {
            mine = free_slot;
            snprintf(mine->addr, sizeof(mine->addr), "%s", addr);
        }
        mine->n++;
        s->open++;
        ok = true;
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* Lingering close: our last bytes (an answer, an attestation-failed frame,
 * a TLS alert) are flushed; the FIN follows them, and we read and drop
 * until the client's EOF, for at most LINGER_MS and LINGER_BYTES. Closing
 * with input we never read (the request a client sends right behind the
 * attestation we refused) would send a RST instead of the FIN: the client's
 * next write then fails before it has read our refusal (docs/ATLS.md,
 * "OpenSSL mechanics" and "A refused node always learns the reason"). */
static void linger_close(int fd)
{
    uint8_t buf[4096];
    uint64_t end = vmesh_time_mono_ns() + (uint64_t)LINGER_MS * 1000000ULL;
    size_t dropped = 0;

    (void)shutdown(fd, SHUT_WR);
    while (dropped < LINGER_BYTES) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        struct pollfd p = {fd, POLLIN, 0};
        uint64_t now;

        if (n > 0) {
            dropped += (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            break; /* EOF or reset */
        if (n < 0 && errno == EINTR)
            continue;
        now = vmesh_time_mono_ns();
        if (now >= end || poll(&p, 1, (int)((end - now) / 1000000) + 1) == 0)
            break;
    }
    close(fd);
}

static void *conn_thread(void *arg)
{
    conn_job *j = arg;
    vmesh_issuer *s = j->s;
    char addr[sizeof(j->addr)];

    serve(s, j->fd, j->addr);
    linger_close(j->fd);
    memcpy(addr, j->addr, sizeof(addr));
    free(j);
    vmesh_err_clear();
    /* This thread's OpenSSL state goes now, not in a destructor after the
     * slot is released: vmesh_issuer_stop returns once every slot is, and
     * the process may then run OpenSSL's exit cleanup while a detached
     * thread still held its state. The slot is the last thing it touches. */
    OPENSSL_thread_stop();
    slot_release(s, addr);
    return NULL;
}

static void *accept_thread(void *arg)
{
    vmesh_issuer *s = arg;

    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        conn_job *j;
        pthread_t t;
        pthread_attr_t at;
        int fd, one = 1;

        if (poll(&p, 1, 200) <= 0)
            continue;
        fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                usleep(100000); /* out of descriptors: back off instead of spinning */
            continue;
        }
        atomic_fetch_add(&s->accepted, 1);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        j = calloc(1, sizeof(*j));
        if (j == NULL) {
            close(fd);
            continue;
        }
        j->s = s;
        j->fd = fd;
        vmesh_net_addr_str(&ss, j->addr, sizeof(j->addr));
        /* the client's address without the port */
        {
            char *colon = strrchr(j->addr, ':');
            if (colon)
                *colon = '\0';
        }
        if (!slot_take(s, j->addr)) {
            atomic_fetch_add(&s->refused_busy, 1);
            refusal_log(s, "refused a connection from %s: busy (%u open at most, %u per client address)", j->addr,
                        s->max_conns, s->per_client);
            close(fd);
            free(j);
            continue;
        }
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, conn_thread, j) != 0) {
            close(fd);
            slot_release(s, j->addr);
            free(j);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

vmesh_err vmesh_issuer_start(vmesh_issuer *s)
{
    if (s->started)
        return vmesh_err_set(VMESH_ERR_STATE, "issuer: already started");
    if (pthread_create(&s->thread, NULL, accept_thread, s) != 0)
        return vmesh_err_set(VMESH_ERR_NOMEM, "issuer: cannot start its thread");
    s->started = true;
    return VMESH_OK;
}

void vmesh_issuer_stop(vmesh_issuer *s)
{
    if (s == NULL || !s->started)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    s->started = false;
    pthread_mutex_lock(&s->lock);
    while (s->open > 0)
        pthread_cond_wait(&s->idle, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

void vmesh_issuer_free(vmesh_issuer *s)
{
    if (s == NULL)
        return;
    vmesh_issuer_stop(s);
    if (s->lfd >= 0)
        close(s->lfd);
    vmesh_atls_config_free(s->tls);
    vmesh_agent_free(s->agent);
    free(s->slots);
    free(s->ca_dir);
    free(s->clients);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
