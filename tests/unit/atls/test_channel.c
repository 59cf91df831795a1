/*
 * End-to-end tests of the attested channel over loopback TCP: a test CA
 * issues SVIDs, a server thread and a client drive vmesh_atls connections
 * (blocking and non-blocking), and a test provider whose "evidence" is a
 * platform-key signature over ak_nonce really checks the binding, so replay,
 * reflection and substitution fail. Raw OpenSSL clients and the real
 * `openssl s_client` play misbehaving or unattested peers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmesh/atls.h"
#include "vmesh/crypto.h"
#include "vmesh/pki.h"

#define MT_EVIDENCE "application/vnd.vmesh.test-evidence"
#define MT_EAR "application/vnd.vmesh.test-ear"
#define SERVER_ID "spiffe://example.org/ns/prod/sa/server"
#define CLIENT_ID "spiffe://example.org/ns/prod/sa/client"

static char tmpdir[256];
static char ca_dir[300], bundle[320], srv_pem[320], srv_key[320], cli_pem[320], cli_key[320];
static vmesh_key *platform;   /* the genuine platform: trusted by every RP */
static vmesh_key *rogue;      /* a platform nobody trusts */

/* ---- the test provider ---------------------------------------------------------- */

enum { EVIL_NONE, EVIL_REPLAY, EVIL_REFLECT, EVIL_REFLECT_RELABEL, EVIL_ROGUE_PLATFORM,
       EVIL_WRONG_NONCE, EVIL_STALE_EPOCH };

typedef struct {
    vmesh_key *ak;
    vmesh_buf ak_spki;
    uint64_t epoch_id;
    uint8_t epoch_nonce[32];
    int evil;
    int attest_calls, appraise_calls;
    int last_attest_mode, last_appraise_mode;
    bool last_resumed;
    uint8_t binders[4][32]; /* binders we were asked to sign */
    vmesh_atls_msg recorded; /* our last message (for EVIL_REPLAY) */
    bool have_recorded;
} tprov;

static vmesh_atls_msg server_sent; /* what the server attested last (for reflection) */
static bool have_server_sent;
static pthread_mutex_t sent_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const media_types[] = {MT_EVIDENCE, MT_EAR, NULL};

static void copy_msg(vmesh_atls_msg *dst, const vmesh_atls_msg *src)
{
    dst->role = src->role;
    dst->fresh = src->fresh;
    dst->epoch_id = src->epoch_id;
    assert_int_equal(vmesh_buf_set(&dst->media_type, src->media_type.data, src->media_type.len),
                     VMESH_OK);
    assert_int_equal(vmesh_buf_set(&dst->cmw, src->cmw.data, src->cmw.len), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&dst->ak_spki, src->ak_spki.data, src->ak_spki.len), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&dst->epoch_nonce, src->epoch_nonce.data, src->epoch_nonce.len),
                     VMESH_OK);
    assert_int_equal(vmesh_buf_set(&dst->proof, src->proof.data, src->proof.len), VMESH_OK);
}

static vmesh_err evidence_for(const uint8_t nonce[32], vmesh_key *plat, vmesh_buf *cmw)
{
    uint8_t tbs[64];
    vmesh_buf sig = {0};
    vmesh_err rc;

    memcpy(tbs, "vmesh test evidence.............", 32);
    memcpy(tbs + 32, nonce, 32);
    rc = vmesh_crypto_sign(plat, tbs, sizeof(tbs), &sig);
    if (rc == VMESH_OK)
        rc = vmesh_buf_set(cmw, nonce, 32);
    if (rc == VMESH_OK)
        rc = vmesh_buf_append(cmw, sig.data, sig.len);
    vmesh_buf_free(&sig);
    return rc;
}

static vmesh_err t_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *m)
{
    tprov *t = ctx;
    uint8_t nonce[32];
    vmesh_buf sig = {0};
    vmesh_err rc = VMESH_OK;

    if (t->attest_calls < 4)
        memcpy(t->binders[t->attest_calls], in->binder, 32);
    t->attest_calls++;
    t->last_attest_mode = in->mode;
    t->last_resumed = in->resumed;
    if (t->evil == EVIL_REPLAY && t->have_recorded) {
        copy_msg(m, &t->recorded);
        return VMESH_OK;
    }
    if (t->evil == EVIL_REFLECT || t->evil == EVIL_REFLECT_RELABEL) {
        pthread_mutex_lock(&sent_lock);
        assert_true(have_server_sent);
        copy_msg(m, &server_sent);
        pthread_mutex_unlock(&sent_lock);
        if (t->evil == EVIL_REFLECT_RELABEL)
            m->role = in->role;
        return VMESH_OK;
    }
    m->fresh = in->mode == VMESH_ATLS_MODE_FRESH;
    if (!m->fresh) {
        m->epoch_id = t->evil == EVIL_STALE_EPOCH ? t->epoch_id - 5 : t->epoch_id;
        VMESH_GUARD(vmesh_buf_set(&m->epoch_nonce, t->epoch_nonce, 32));
    }
    VMESH_GUARD(vmesh_buf_set(&m->ak_spki, t->ak_spki.data, t->ak_spki.len));
    {
        const char *mt = in->mode == VMESH_ATLS_MODE_PASSPORT ? MT_EAR : MT_EVIDENCE;
        VMESH_GUARD(vmesh_buf_set(&m->media_type, mt, strlen(mt)));
    }
    VMESH_GUARD(vmesh_atls_ak_nonce(m->ak_spki.data, m->ak_spki.len, m->fresh ? in->binder : m->epoch_nonce.data,
                                    m->fresh ? 32 : m->epoch_nonce.len, nonce));
    if (t->evil == EVIL_WRONG_NONCE)
        nonce[0] ^= 1;
    VMESH_GUARD(evidence_for(nonce, t->evil == EVIL_ROGUE_PLATFORM ? rogue : platform, &m->cmw));
    VMESH_GUARD(vmesh_crypto_sign(t->ak, in->binder, 32, &sig));
    VMESH_GUARD(vmesh_buf_set(&m->proof, sig.data, sig.len));
    copy_msg(&t->recorded, m);
    t->have_recorded = true;
    if (in->role == VMESH_ATLS_SERVER) {
        pthread_mutex_lock(&sent_lock);
        copy_msg(&server_sent, m);
        have_server_sent = true;
        pthread_mutex_unlock(&sent_lock);
    }
out:
    vmesh_buf_free(&sig);
    return rc;
}

static vmesh_err t_appraise(void *ctx, const vmesh_atls_appraise_in *in, vmesh_atls_peer_result *out,
                            vmesh_atls_reason *reason)
{
    tprov *t = ctx;
    const vmesh_atls_msg *m = in->msg;
    uint8_t tbs[64];

    t->appraise_calls++;
    t->last_resumed = in->resumed;
    *reason = VMESH_ATLS_R_NONE;
    out->mode = m->fresh ? VMESH_ATLS_MODE_FRESH
                : strcmp((const char *)m->media_type.data, MT_EAR) == 0 ? VMESH_ATLS_MODE_PASSPORT
                                                                          : VMESH_ATLS_MODE_EPOCH_FRESH;
    t->last_appraise_mode = out->mode;
    if (m->cmw.len != 96) {
        *reason = VMESH_ATLS_R_EVIDENCE_INVALID;
        snprintf(out->reason, sizeof(out->reason), "test evidence must be 96 bytes");
        return VMESH_OK;
    }
    /* The binding: evidence must carry ak_nonce for THIS AK and freshness. */
    if (!vmesh_crypto_memeq(m->cmw.data, in->ak_nonce, 32)) {
        *reason = VMESH_ATLS_R_EVIDENCE_INVALID;
        snprintf(out->reason, sizeof(out->reason), "evidence nonce does not bind the AK");
        return VMESH_OK;
    }
    memcpy(tbs, "vmesh test evidence.............", 32);
    memcpy(tbs + 32, m->cmw.data, 32);
    if (vmesh_crypto_verify(platform, tbs, sizeof(tbs), m->cmw.data + 32, 64) != VMESH_OK) {
        *reason = VMESH_ATLS_R_EVIDENCE_INVALID;
        snprintf(out->reason, sizeof(out->reason), "evidence not signed by a trusted platform");
        return VMESH_OK;
    }
    if (!m->fresh && (m->epoch_id != t->epoch_id || m->epoch_nonce.len != 32 ||
                      memcmp(m->epoch_nonce.data, t->epoch_nonce, 32) != 0)) {
        *reason = VMESH_ATLS_R_STALE_EPOCH;
        snprintf(out->reason, sizeof(out->reason), "epoch %llu is not current",
                 (unsigned long long)m->epoch_id);
        return VMESH_OK;
    }
    for (int i = 0; i < VMESH_TV__COUNT; i++)
        out->tv.v[i] = 2;
    out->tier = VMESH_TIER_AFFIRMING;
    out->accepted.evidence_age = 7;
    return VMESH_OK;
}

static void tprov_init(tprov *t)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &t->ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(t->ak, &t->ak_spki), VMESH_OK);
    t->epoch_id = 42;
    memset(t->epoch_nonce, 0xe7, sizeof(t->epoch_nonce));
    vmesh_atls_msg_init(&t->recorded);
    t->last_attest_mode = t->last_appraise_mode = -1;
}

static void tprov_free(tprov *t)
{
    vmesh_crypto_key_free(t->ak);
    vmesh_buf_free(&t->ak_spki);
    vmesh_atls_msg_free(&t->recorded);
}

static vmesh_atls_provider provider_for(tprov *t, const uint8_t *modes, size_t n, unsigned attest)
{
    vmesh_atls_provider p;

    memset(&p, 0, sizeof(p));
    p.ctx = t;
    p.attest = t_attest;
    p.appraise = t_appraise;
    memcpy(p.accept_modes, modes, n);
    p.n_accept_modes = n;
    p.media_types = media_types;
    p.will_attest = attest != 0;
    p.attest_modes = attest;
    return p;
}

static vmesh_atls_config *make_config(vmesh_atls_role role, const vmesh_atls_provider *p)
{
    vmesh_atls_config *c = NULL;

    assert_int_equal(vmesh_atls_config_new(role, &c), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_svid(c, role == VMESH_ATLS_SERVER ? srv_pem : cli_pem,
                                                role == VMESH_ATLS_SERVER ? srv_key : cli_key),
                     VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_bundle(c, bundle), VMESH_OK);
    if (p)
        assert_int_equal(vmesh_atls_config_set_provider(c, p), VMESH_OK);
    vmesh_atls_config_set_deadline_ms(c, 5000);
    return c;
}

/* ---- harness ------------------------------------------------------------------------------ */

typedef struct {
    vmesh_atls_config *cfg;
    int fd;   /* listening socket (server) */
    bool nonblock;
    bool echo;
    /* server: after its handshake, close at once with a RST (SO_LINGER 0);
     * client: write only once that RST arrived, then read */
    bool rude;
    vmesh_atls_session *session; /* client: resume */
    /* results */
    vmesh_err hs_rc, io_rc, write_rc;
    uint32_t reason;
    bool by_peer;
    char msg[300];
    char peer_id[256];
    char detail[300]; /* vmesh_err_detail() after a failed handshake */
    int peer_mode, own_mode;
    bool resumed, negotiated;
    int tier;
    /* what the result kept: the accepted evidence, its media type, its ak_nonce */
    size_t accepted_len;
    char accepted_mt[128];
    bool accepted_nonce_set;
    int64_t accepted_age;
    char got[256];
    vmesh_atls_session *new_session;
    bool count_tickets; /* client: count the NewSessionTicket messages received */
    int tickets;
    int peer_chain;     /* certificates the peer sent beyond what OpenSSL counts as its leaf */
    bool peer_anchor;   /* one of them self-signed */
} side;

/* Best-effort close_notify (gcc wants warn_unused_result honoured). */
static void shut(vmesh_atls_conn *conn)
{
    vmesh_err e = vmesh_atls_shutdown(conn);

    (void)e;
}

static vmesh_err drive(vmesh_atls_conn *conn, int fd)
{
    vmesh_err rc;

    for (;;) {
        rc = vmesh_atls_handshake(conn);
        if (rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE) {
            struct pollfd p = {.fd = fd, .events = rc == VMESH_ERR_WANT_READ ? POLLIN : POLLOUT};
            int64_t t = vmesh_atls_timeout_ms(conn);

            (void)poll(&p, 1, t < 0 ? 1000 : (int)t + 1);
            continue;
        }
        return rc;
    }
}

static vmesh_err read_some(vmesh_atls_conn *conn, int fd, char *buf, size_t n, size_t *got)
{
    vmesh_err rc;

    for (;;) {
        rc = vmesh_atls_read(conn, buf, n, got);
        if (rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE) {
            struct pollfd p = {.fd = fd, .events = rc == VMESH_ERR_WANT_READ ? POLLIN : POLLOUT};
            (void)poll(&p, 1, 2000);
            continue;
        }
        return rc;
    }
}

static void record(side *s, vmesh_atls_conn *conn)
{
    const char *m = NULL;
    const vmesh_atls_peer_result *r = vmesh_atls_peer_result_get(conn);

    if (s->hs_rc != VMESH_OK)
        snprintf(s->detail, sizeof(s->detail), "%s", vmesh_err_detail());
    s->reason = vmesh_atls_failure(conn, &m, &s->by_peer);
    snprintf(s->msg, sizeof(s->msg), "%s", m ? m : "");
    snprintf(s->peer_id, sizeof(s->peer_id), "%s",
             vmesh_atls_peer_spiffe_id(conn) ? vmesh_atls_peer_spiffe_id(conn) : "");
    s->peer_mode = vmesh_atls_peer_mode(conn);
    s->own_mode = vmesh_atls_own_mode(conn);
    s->resumed = vmesh_atls_resumed(conn);
    s->negotiated = vmesh_atls_negotiated(conn);
    s->tier = r ? (int)r->tier : -1;
    {
        SSL *ssl = vmesh_atls_conn_ssl(conn);
        STACK_OF(X509) *ch = ssl != NULL ? SSL_get_peer_cert_chain(ssl) : NULL;

        s->peer_chain = ch != NULL ? sk_X509_num(ch) : -1;
        s->peer_anchor = false;
        for (int i = 0; ch != NULL && i < sk_X509_num(ch); i++)
            if ((X509_get_extension_flags(sk_X509_value(ch, i)) & EXFLAG_SS) != 0)
                s->peer_anchor = true;
    }
    if (r != NULL) {
        static const uint8_t zero[32];
        s->accepted_len = r->accepted.cmw.len;
        snprintf(s->accepted_mt, sizeof(s->accepted_mt), "%s",
                 r->accepted.media_type.len ? (const char *)r->accepted.media_type.data : "");
        s->accepted_nonce_set = memcmp(r->accepted.ak_nonce, zero, 32) != 0;
        s->accepted_age = r->accepted.evidence_age;
    }
}

static void *server_main(void *arg)
{
    side *s = arg;
    vmesh_atls_conn *conn = NULL;
    int fd = accept(s->fd, NULL, NULL);
    size_t got = 0;
    char reply[300];

    if (fd < 0)
        return NULL;
    if (s->nonblock)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (vmesh_atls_conn_new(s->cfg, fd, &conn) != VMESH_OK) {
        close(fd);
        return NULL;
    }
    s->hs_rc = drive(conn, fd);
    if (s->hs_rc == VMESH_OK && s->echo) {
        s->io_rc = read_some(conn, fd, s->got, sizeof(s->got) - 1, &got);
        s->got[got] = 0;
        if (s->io_rc == VMESH_OK) {
            int n = snprintf(reply, sizeof(reply), "pong:%s", s->got);
            s->io_rc = vmesh_atls_write(conn, reply, (size_t)n);
            while (vmesh_atls_flush(conn) == VMESH_ERR_WANT_WRITE)
                usleep(1000);
        }
        shut(conn);
    }
    record(s, conn);
    vmesh_atls_free(conn);
    if (s->rude) {
        struct linger l = {1, 0};

        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close(fd);
        return NULL;
    }
    /* Lingering close: a close() with unread input would send a RST that
     * can destroy the attestation-failed frame before the peer reads it. */
    shutdown(fd, SHUT_WR);
    {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char sink[4096];

        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        while (poll(&p, 1, 300) > 0 && read(fd, sink, sizeof(sink)) > 0)
            ;
    }
    close(fd);
    return NULL;
}

static int listen_local(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_local(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Counts the NewSessionTicket messages a client reads (msg callback). */
static void ticket_counter(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                           void *arg)
{
    (void)version, (void)ssl;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const uint8_t *)buf)[0] == SSL3_MT_NEWSESSION_TICKET)
        (*(int *)arg)++;
}

static void client_run(side *c, int port)
{
    vmesh_atls_conn *conn = NULL;
    int fd = connect_local(port);
    size_t got = 0;

    if (c->nonblock)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    assert_int_equal(vmesh_atls_conn_new(c->cfg, fd, &conn), VMESH_OK);
    if (c->count_tickets) {
        SSL_set_msg_callback(vmesh_atls_conn_ssl(conn), ticket_counter);
        SSL_set_msg_callback_arg(vmesh_atls_conn_ssl(conn), &c->tickets);
    }
    if (c->session)
        assert_int_equal(vmesh_atls_conn_set_session(conn, c->session), VMESH_OK);
    c->hs_rc = drive(conn, fd);
    if (c->hs_rc == VMESH_OK && c->rude) {
        /* the peer's reset first (POLLERR/POLLHUP), our write second */
        struct pollfd p = {.fd = fd, .events = 0};

        assert_int_equal(poll(&p, 1, 5000), 1);
        c->write_rc = vmesh_atls_write(conn, "ping", 4);
        c->io_rc = read_some(conn, fd, c->got, sizeof(c->got) - 1, &got);
        c->got[got] = 0;
    } else if (c->hs_rc == VMESH_OK) {
        c->io_rc = vmesh_atls_write(conn, "ping", 4);
        if (c->io_rc == VMESH_OK)
            c->io_rc = read_some(conn, fd, c->got, sizeof(c->got) - 1, &got);
        c->got[got] = 0;
        c->new_session = vmesh_atls_conn_get1_session(conn);
        shut(conn);
    }
    record(c, conn);
    vmesh_atls_free(conn);
    close(fd);
}

/* Runs one connection between a server and a client configuration. */
static void run_pair(side *s, side *c)
{
    pthread_t th;
    int port;

    s->fd = listen_local(&port);
    s->echo = true;
    assert_int_equal(pthread_create(&th, NULL, server_main, s), 0);
    client_run(c, port);
    pthread_join(th, NULL);
    close(s->fd);
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmesh-atls-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", tmpdir);
    snprintf(bundle, sizeof(bundle), "%s/bundle.pem", ca_dir);
    snprintf(srv_pem, sizeof(srv_pem), "%s/server.pem", tmpdir);
    snprintf(srv_key, sizeof(srv_key), "%s/server.key", tmpdir);
    snprintf(cli_pem, sizeof(cli_pem), "%s/client.pem", tmpdir);
    snprintf(cli_key, sizeof(cli_key), "%s/client.key", tmpdir);
    if (vmesh_pki_ca_init("example.org", ca_dir, 0, VMESH_KEY_EC_P256) != VMESH_OK)
        return -1;
    {
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s/server", tmpdir);
        if (vmesh_pki_ca_issue(ca_dir, SERVER_ID, prefix, 1, VMESH_KEY_EC_P256) != VMESH_OK)
            return -1;
        snprintf(prefix, sizeof(prefix), "%s/client", tmpdir);
        if (vmesh_pki_ca_issue(ca_dir, CLIENT_ID, prefix, 1, VMESH_KEY_EC_P256) != VMESH_OK)
            return -1;
    }
    if (vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &platform) != VMESH_OK ||
        vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &rogue) != VMESH_OK)
        return -1;
    vmesh_atls_msg_init(&server_sent);
    return 0;
}

static int teardown(void **state)
{
    char cmd[400];

    (void)state;
    vmesh_crypto_key_free(platform);
    vmesh_crypto_key_free(rogue);
    vmesh_atls_msg_free(&server_sent);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const uint8_t ALL_MODES[] = {VMESH_ATLS_MODE_EPOCH_FRESH, VMESH_ATLS_MODE_FRESH,
                                    VMESH_ATLS_MODE_PASSPORT};

/* ---- tests --------------------------------------------------------------------------------- */

static void mutual_attestation(void **state)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0};

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    assert_int_equal(vmesh_atls_config_set_peer_pattern(c.cfg, "spiffe://example.org/ns/prod/*"),
                     VMESH_OK);
    run_pair(&s, &c);
    assert_int_equal(c.hs_rc, VMESH_OK);
    assert_int_equal(s.hs_rc, VMESH_OK);
    assert_int_equal(c.io_rc, VMESH_OK);
    assert_int_equal(s.io_rc, VMESH_OK);
    assert_string_equal(s.got, "ping");
    assert_string_equal(c.got, "pong:ping");
    assert_string_equal(s.peer_id, CLIENT_ID);
    assert_string_equal(c.peer_id, SERVER_ID);
    assert_true(s.negotiated && c.negotiated);
    assert_int_equal(s.peer_mode, VMESH_ATLS_MODE_EPOCH_FRESH);
    assert_int_equal(c.peer_mode, VMESH_ATLS_MODE_EPOCH_FRESH);
    assert_int_equal(s.own_mode, VMESH_ATLS_MODE_EPOCH_FRESH);
    assert_int_equal(c.own_mode, VMESH_ATLS_MODE_EPOCH_FRESH);
    assert_int_equal(s.tier, VMESH_TIER_AFFIRMING);
    assert_int_equal(c.tier, VMESH_TIER_AFFIRMING);
    /* the result keeps what was accepted: atls's part and the provider's */
    assert_true(s.accepted_len > 0 && c.accepted_len > 0);
    assert_string_equal(s.accepted_mt, MT_EVIDENCE);
    assert_true(s.accepted_nonce_set && c.accepted_nonce_set);
    assert_int_equal(s.accepted_age, 7);
    assert_int_equal(sp.attest_calls, 1);
    assert_int_equal(sp.appraise_calls, 1);
    assert_int_equal(cp.attest_calls, 1);
    assert_int_equal(cp.appraise_calls, 1);
    /* Each side signs a binder of its own role: they differ. */
    assert_memory_not_equal(sp.binders[0], cp.binders[0], 32);
    assert_int_equal(s.reason, VMESH_ATLS_R_NONE);
    vmesh_atls_session_free(c.new_session);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* One pairing where the server accepts smodes and the client can produce
 * cattest; both sides accept all modes for the server. Non-blocking
 * server, blocking client (and the other way round via nb). */
static void check_mode(const uint8_t *smodes, size_t n, unsigned cattest, int want_client_mode,
                       int want_server_mode, bool nb)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0};

    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, smodes, n, VMESH_ATLS_MODE_BIT(want_server_mode));
    cpv = provider_for(&cp, ALL_MODES, 3, cattest);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    s.nonblock = !nb;
    c.nonblock = nb;
    run_pair(&s, &c);
    assert_int_equal(c.hs_rc, VMESH_OK);
    assert_int_equal(s.hs_rc, VMESH_OK);
    assert_string_equal(c.got, "pong:ping");
    assert_int_equal(s.peer_mode, want_client_mode);
    assert_int_equal(cp.last_attest_mode, want_client_mode);
    assert_int_equal(sp.last_appraise_mode, want_client_mode);
    assert_int_equal(c.own_mode, want_client_mode);
    assert_int_equal(c.peer_mode, want_server_mode);
    assert_int_equal(s.own_mode, want_server_mode);
    vmesh_atls_session_free(c.new_session);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

static void modes_negotiated(void **state)
{
    const uint8_t fresh[] = {VMESH_ATLS_MODE_FRESH};
    const uint8_t passport_first[] = {VMESH_ATLS_MODE_PASSPORT, VMESH_ATLS_MODE_EPOCH_FRESH};

    (void)state;
    check_mode(fresh, 1, VMESH_ATLS_MODES_ALL, VMESH_ATLS_MODE_FRESH, VMESH_ATLS_MODE_FRESH, false);
    check_mode(passport_first, 2, VMESH_ATLS_MODES_ALL, VMESH_ATLS_MODE_PASSPORT,
               VMESH_ATLS_MODE_PASSPORT, true);
    /* The client cannot do passport: the server's second choice. */
    check_mode(passport_first, 2, VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH),
               VMESH_ATLS_MODE_EPOCH_FRESH, VMESH_ATLS_MODE_FRESH, false);
}

static void no_common_mode(void **state)
{
    const uint8_t fresh[] = {VMESH_ATLS_MODE_FRESH};
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0};

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, fresh, 1, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_PASSPORT));
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    run_pair(&s, &c);
    assert_int_equal(c.hs_rc, VMESH_ERR_POLICY);
    assert_int_equal(c.reason, VMESH_ATLS_R_MODE_REFUSED);
    assert_false(c.by_peer);
    assert_int_equal(s.hs_rc, VMESH_ERR_POLICY);
    assert_int_equal(s.reason, VMESH_ATLS_R_MODE_REFUSED);
    assert_true(s.by_peer);
    assert_int_equal(cp.attest_calls, 0);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* Runs *s and *c (zeroed sides, c->nonblock as the caller set it) on the
 * given configurations, the client offering sess (NULL: a full handshake). */
static void run_with(side *s, side *c, vmesh_atls_config *scfg, vmesh_atls_config *ccfg, vmesh_atls_session *sess)
{
    s->cfg = scfg;
    c->cfg = ccfg;
    c->session = sess;
    run_pair(s, c);
}

/* D48: a chain file that ends with the self-signed root (what `vmesh ca
 * issue` writes) is sent without it, and every other chain certificate
 * still goes; a peer that trusts us has the root already. */
static void chain_sent_without_anchor(void **state)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0};
    char chain[400], cchain[400], mixed[400], cmd[1400];

    (void)state;
    snprintf(chain, sizeof(chain), "%s/server-chain.pem", tmpdir);
    snprintf(cchain, sizeof(cchain), "%s/client-chain.pem", tmpdir);
    snprintf(mixed, sizeof(mixed), "%s/server-mixed.pem", tmpdir);
    /* leaf, a certificate that is not self-signed (the client's leaf: it
     * stands in for an intermediate), then the root */
    snprintf(cmd, sizeof(cmd), "cat '%s' '%s' '%s/ca.pem' > '%s'", srv_pem, cli_pem, ca_dir, mixed);
    assert_int_equal(system(cmd), 0);
    for (int round = 0; round < 2; round++) {
        tprov_init(&sp);
        tprov_init(&cp);
        spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
        cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
        memset(&s, 0, sizeof(s));
        memset(&c, 0, sizeof(c));
        assert_int_equal(vmesh_atls_config_new(VMESH_ATLS_SERVER, &s.cfg), VMESH_OK);
        assert_int_equal(vmesh_atls_config_set_svid(s.cfg, round == 0 ? chain : mixed, srv_key), VMESH_OK);
        assert_int_equal(vmesh_atls_config_set_bundle(s.cfg, bundle), VMESH_OK);
        assert_int_equal(vmesh_atls_config_set_provider(s.cfg, &spv), VMESH_OK);
        assert_int_equal(vmesh_atls_config_new(VMESH_ATLS_CLIENT, &c.cfg), VMESH_OK);
        assert_int_equal(vmesh_atls_config_set_svid(c.cfg, cchain, cli_key), VMESH_OK);
        assert_int_equal(vmesh_atls_config_set_bundle(c.cfg, bundle), VMESH_OK);
        assert_int_equal(vmesh_atls_config_set_provider(c.cfg, &cpv), VMESH_OK);
        run_pair(&s, &c);
        assert_int_equal(c.hs_rc, VMESH_OK);
        assert_int_equal(s.hs_rc, VMESH_OK);
        assert_string_equal(c.got, "pong:ping");
        /* the client's view includes the server's leaf; the server's not */
        assert_int_equal(c.peer_chain, round == 0 ? 1 : 2);
        assert_int_equal(s.peer_chain, 0);
        assert_false(c.peer_anchor);
        assert_false(s.peer_anchor);
        vmesh_atls_session_free(c.new_session);
        vmesh_atls_config_free(s.cfg);
        vmesh_atls_config_free(c.cfg);
        tprov_free(&sp);
        tprov_free(&cp);
    }
}

/* D49, RFC 9149 ticket_request: a client that resumes asks for one ticket
 * after a full handshake and gets it, none after a resumption; a client
 * with resumption off asks for none and gets none; a server with
 * resumption off sends none whatever it is asked. */
static void ticket_request_honoured(void **state)
{
    static const struct {
        bool client_resumes, server_resumes;
        int tickets;
    } cases[] = {
        {true, true, 1},  /* a ticket wanted: one */
        {false, true, 0}, /* the client never resumes: none */
        {true, false, 0}, /* the server never issues: none */
    };
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s0 = {0}, c0 = {0}, s1 = {0}, c1 = {0};

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        side s = {0}, c = {0};

        s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
        c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
        vmesh_atls_config_set_resumption(s.cfg, cases[i].server_resumes);
        vmesh_atls_config_set_resumption(c.cfg, cases[i].client_resumes);
        c.count_tickets = true;
        run_pair(&s, &c);
        assert_int_equal(c.hs_rc, VMESH_OK);
        assert_int_equal(s.hs_rc, VMESH_OK);
        assert_string_equal(c.got, "pong:ping");
        assert_int_equal(c.tickets, cases[i].tickets);
        vmesh_atls_session_free(c.new_session);
        vmesh_atls_config_free(s.cfg);
        vmesh_atls_config_free(c.cfg);
    }
    /* resumed with the ticket of a full handshake: none (D47) */
    s0.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c0.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    c0.count_tickets = true;
    run_pair(&s0, &c0);
    assert_int_equal(c0.tickets, 1);
    assert_non_null(c0.new_session);
    c1.count_tickets = true;
    run_with(&s1, &c1, s0.cfg, c0.cfg, c0.new_session);
    assert_int_equal(c1.hs_rc, VMESH_OK);
    assert_true(c1.resumed);
    assert_int_equal(c1.tickets, 0);
    vmesh_atls_session_free(c1.new_session);
    vmesh_atls_session_free(c0.new_session);
    vmesh_atls_config_free(s0.cfg);
    vmesh_atls_config_free(c0.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* Our server sends one ticket after a full handshake and none after a
 * resumption (DECISIONS D47): the client resumes the next connections
 * with the session it has, which stays resumable although OpenSSL marks
 * a resumed TLS 1.3 session used up (a copy is offered). A server whose
 * ticket keys changed refuses the old ticket: a full handshake, a new
 * ticket, never a failure. */
static void resumption_ticket_reused(void **state)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0}, s2 = {0}, c2 = {0}, s3 = {0}, c3 = {0}, s4 = {0}, c4 = {0}, s5 = {0}, c5 = {0};

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    run_pair(&s, &c);
    assert_int_equal(c.hs_rc, VMESH_OK);
    assert_false(c.resumed);
    assert_non_null(c.new_session);

    /* resumed: no new ticket, the session to go on with is the same one */
    run_with(&s2, &c2, s.cfg, c.cfg, c.new_session);
    assert_int_equal(c2.hs_rc, VMESH_OK);
    assert_true(c2.resumed);
    assert_true(s2.resumed);
    assert_ptr_equal(c2.new_session, c.new_session);

    /* and again with it: still resumable */
    run_with(&s3, &c3, s.cfg, c.cfg, c2.new_session);
    assert_int_equal(c3.hs_rc, VMESH_OK);
    assert_true(c3.resumed);
    assert_string_equal(c3.got, "pong:ping");

    /* a third time from the first reference, as another connection of the
     * same client would */
    run_with(&s4, &c4, s.cfg, c.cfg, c.new_session);
    assert_true(c4.resumed);
    /* each one attested again over its own binder */
    assert_int_equal(sp.attest_calls, 4);
    assert_int_equal(cp.appraise_calls, 4);

    /* new ticket keys at the server (a new configuration): the old ticket
     * is not accepted; a full handshake brings a new one */
    run_with(&s5, &c5, make_config(VMESH_ATLS_SERVER, &spv), c.cfg, c.new_session);
    assert_int_equal(c5.hs_rc, VMESH_OK);
    assert_int_equal(s5.hs_rc, VMESH_OK);
    assert_false(c5.resumed);
    assert_non_null(c5.new_session);
    assert_ptr_not_equal(c5.new_session, c.new_session);

    vmesh_atls_session_free(c.new_session);
    vmesh_atls_session_free(c2.new_session);
    vmesh_atls_session_free(c3.new_session);
    vmesh_atls_session_free(c4.new_session);
    vmesh_atls_session_free(c5.new_session);
    vmesh_atls_config_free(s5.cfg);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

static void resumption_reattests(void **state)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0}, s2 = {0}, c2 = {0};

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    run_pair(&s, &c);
    assert_int_equal(c.hs_rc, VMESH_OK);
    assert_false(c.resumed);
    assert_non_null(c.new_session);

    c2.nonblock = true;
    run_with(&s2, &c2, s.cfg, c.cfg, c.new_session);
    assert_int_equal(c2.hs_rc, VMESH_OK);
    assert_int_equal(s2.hs_rc, VMESH_OK);
    assert_true(c2.resumed);
    assert_true(s2.resumed);
    assert_string_equal(c2.got, "pong:ping");
    /* Attested again, over a new binder, with the identities of the session. */
    assert_int_equal(sp.attest_calls, 2);
    assert_int_equal(cp.attest_calls, 2);
    assert_int_equal(sp.appraise_calls, 2);
    assert_int_equal(cp.appraise_calls, 2);
    assert_true(sp.last_resumed);
    assert_memory_not_equal(sp.binders[0], sp.binders[1], 32);
    assert_memory_not_equal(cp.binders[0], cp.binders[1], 32);
    assert_string_equal(s2.peer_id, CLIENT_ID);
    assert_string_equal(c2.peer_id, SERVER_ID);
    vmesh_atls_session_free(c.new_session);
    vmesh_atls_session_free(c2.new_session);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* The client's provider misbehaves in the second session as `evil`. */
static void attack(int evil, uint32_t want_reason, vmesh_err want_rc, const char *want_msg)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0}, s2 = {0}, c2 = {0};

    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    vmesh_atls_config_set_resumption(c.cfg, false);
    run_pair(&s, &c); /* session A: honest, records messages */
    assert_int_equal(s.hs_rc, VMESH_OK);
    assert_int_equal(c.hs_rc, VMESH_OK);

    cp.evil = evil;
    s2.cfg = s.cfg;
    c2.cfg = c.cfg;
    run_pair(&s2, &c2); /* session B */
    assert_int_equal(s2.hs_rc, want_rc);
    assert_int_equal(s2.reason, want_reason);
    assert_false(s2.by_peer);
    assert_non_null(strstr(s2.msg, want_msg));
    assert_string_equal(s2.got, "");
    /* The client learns why, with its first read, and got no data. */
    assert_int_equal(c2.hs_rc, VMESH_OK);
    assert_int_equal(c2.io_rc, VMESH_ERR_POLICY);
    assert_int_equal(c2.reason, want_reason);
    assert_true(c2.by_peer);
    assert_string_equal(c2.got, "");
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

static void replay_refused(void **state)
{
    (void)state;
    attack(EVIL_REPLAY, VMESH_ATLS_R_BINDER_MISMATCH, VMESH_ERR_MISMATCH,
           "session proof does not verify");
}

static void reflection_refused(void **state)
{
    (void)state;
    attack(EVIL_REFLECT, VMESH_ATLS_R_ROLE_MISMATCH, VMESH_ERR_MISMATCH, "claims role server");
    attack(EVIL_REFLECT_RELABEL, VMESH_ATLS_R_BINDER_MISMATCH, VMESH_ERR_MISMATCH,
           "session proof does not verify");
}

static void evidence_checked(void **state)
{
    (void)state;
    attack(EVIL_ROGUE_PLATFORM, VMESH_ATLS_R_EVIDENCE_INVALID, VMESH_ERR_POLICY,
           "not signed by a trusted platform");
    attack(EVIL_WRONG_NONCE, VMESH_ATLS_R_EVIDENCE_INVALID, VMESH_ERR_POLICY,
           "does not bind the AK");
    attack(EVIL_STALE_EPOCH, VMESH_ATLS_R_STALE_EPOCH, VMESH_ERR_POLICY, "epoch 37 is not current");
}

/* The server refuses the client's attestation, sends its
 * attestation-failed frame and resets the connection (it closed with the
 * client's frames unread, or its linger ran out) before the client's first
 * write. The write fails (the socket was reset), but the refusal is in the
 * receive queue: the client's read must report it, by name, not the failed
 * write as "connection closed". */
static void refusal_read_after_reset(void **state)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0};

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    cp.evil = EVIL_ROGUE_PLATFORM;
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    s.rude = c.rude = true;
    run_pair(&s, &c);
    assert_int_equal(s.hs_rc, VMESH_ERR_POLICY);
    assert_int_equal(s.reason, VMESH_ATLS_R_EVIDENCE_INVALID);
    assert_int_equal(c.hs_rc, VMESH_OK);
    assert_int_equal(c.write_rc, VMESH_ERR_CLOSED);
    if (c.io_rc != VMESH_ERR_POLICY)
        print_message("client read: rc %d: %s\n", c.io_rc, c.msg);
    assert_int_equal(c.io_rc, VMESH_ERR_POLICY);
    assert_int_equal(c.reason, VMESH_ATLS_R_EVIDENCE_INVALID);
    assert_true(c.by_peer);
    assert_non_null(strstr(c.msg, "not signed by a trusted platform"));
    assert_string_equal(c.got, "");
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

static void unattested_client(void **state)
{
    tprov sp;
    vmesh_atls_provider spv, none;
    side s = {0}, c = {0}, s2 = {0}, c2 = {0}, s3 = {0}, c3 = {0};

    (void)state;
    tprov_init(&sp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    /* A client without a provider sends no 0xff4d. */
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, NULL);
    run_pair(&s, &c);
    assert_int_equal(s.hs_rc, VMESH_ERR_POLICY);
    assert_int_equal(s.reason, VMESH_ATLS_R_UNATTESTED_REFUSED);
    if (strstr(s.msg, "no 0xff4d extension") == NULL)
        print_message("server msg: %s (rc %d reason %u)\n", s.msg, s.hs_rc, s.reason);
    assert_non_null(strstr(s.msg, "no 0xff4d extension"));
    assert_false(s.negotiated);
    assert_int_equal(sp.attest_calls, 0); /* no evidence for an unattested peer */
    assert_int_not_equal(c.hs_rc == VMESH_OK ? c.io_rc : c.hs_rc, VMESH_OK);
    assert_string_equal(c.got, "");

    /* A client that negotiates but will not attest gets the reason. */
    memset(&none, 0, sizeof(none));
    none.n_accept_modes = 0;
    none.media_types = media_types;
    vmesh_atls_config_free(c.cfg);
    c2.cfg = make_config(VMESH_ATLS_CLIENT, &none);
    s2.cfg = s.cfg;
    run_pair(&s2, &c2);
    assert_int_equal(s2.hs_rc, VMESH_ERR_POLICY);
    assert_int_equal(s2.reason, VMESH_ATLS_R_UNATTESTED_REFUSED);
    assert_non_null(strstr(s2.msg, "will-attest false"));
    assert_int_equal(c2.hs_rc, VMESH_OK);
    assert_int_equal(c2.io_rc, VMESH_ERR_POLICY);
    assert_int_equal(c2.reason, VMESH_ATLS_R_UNATTESTED_REFUSED);
    assert_true(c2.by_peer);
    vmesh_atls_config_free(s.cfg);

    /* Admitted as tier none when policy allows it. */
    spv.allow_unattested = true;
    s3.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c3.cfg = make_config(VMESH_ATLS_CLIENT, NULL);
    run_pair(&s3, &c3);
    assert_int_equal(s3.hs_rc, VMESH_OK);
    assert_int_equal(c3.hs_rc, VMESH_OK);
    assert_string_equal(c3.got, "pong:ping");
    assert_int_equal(s3.peer_mode, VMESH_ATLS_MODE_NONE);
    assert_int_equal(s3.tier, VMESH_TIER_NONE);
    assert_int_equal(s3.accepted_len, 0); /* nothing was appraised, nothing kept */
    assert_false(s3.accepted_nonce_set);
    assert_int_equal(sp.appraise_calls, 0);
    vmesh_atls_session_free(c3.new_session);
    vmesh_atls_config_free(s3.cfg);
    vmesh_atls_config_free(c3.cfg);
    vmesh_atls_config_free(c2.cfg);
    tprov_free(&sp);
}

/* A plain mTLS server (no provider) and a client that requires attestation. */
static void unattested_server(void **state)
{
    tprov cp;
    vmesh_atls_provider cpv;
    side s = {0}, c = {0}, s2 = {0}, c2 = {0};

    (void)state;
    tprov_init(&cp);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, NULL);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    run_pair(&s, &c);
    assert_int_equal(c.hs_rc, VMESH_ERR_POLICY);
    assert_int_equal(c.reason, VMESH_ATLS_R_UNATTESTED_REFUSED);
    assert_non_null(strstr(c.msg, "the server does not attest (no 0xff4d extension)"));
    assert_false(c.negotiated);
    assert_false(s.negotiated);
    assert_string_equal(s.got, "");
    assert_int_equal(cp.attest_calls, 0);
    /* Admitted when the client's policy allows it: plain mTLS, tier none. */
    cpv.allow_unattested = true;
    s2.cfg = s.cfg;
    c2.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    run_pair(&s2, &c2);
    assert_int_equal(c2.hs_rc, VMESH_OK);
    assert_int_equal(s2.hs_rc, VMESH_OK);
    assert_string_equal(c2.got, "pong:ping");
    assert_int_equal(c2.peer_mode, VMESH_ATLS_MODE_NONE);
    assert_int_equal(c2.tier, VMESH_TIER_NONE);
    assert_int_equal(cp.attest_calls, 0);
    vmesh_atls_session_free(c2.new_session);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    vmesh_atls_config_free(c2.cfg);
    tprov_free(&cp);
}

static void hello_retry_request(void **state)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0};

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    /* The client's first key share is X25519; a P-256-only server must
     * send a HelloRetryRequest. */
    assert_int_equal(SSL_CTX_set1_groups_list(vmesh_atls_config_ssl_ctx(s.cfg), "P-256"), 1);
    assert_int_equal(SSL_CTX_set1_groups_list(vmesh_atls_config_ssl_ctx(c.cfg), "X25519:P-256"), 1);
    s.nonblock = true;
    run_pair(&s, &c);
    assert_int_equal(s.hs_rc, VMESH_OK);
    assert_int_equal(c.hs_rc, VMESH_OK);
    assert_string_equal(c.got, "pong:ping");
    assert_int_equal(sp.attest_calls, 1);
    assert_int_equal(cp.appraise_calls, 1);
    vmesh_atls_session_free(c.new_session);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

static void peer_identity_checked(void **state)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0};

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    assert_int_equal(vmesh_atls_config_set_peer_pattern(c.cfg, "spiffe://example.org/ns/prod/sa/db"),
                     VMESH_OK);
    run_pair(&s, &c);
    assert_int_equal(c.hs_rc, VMESH_ERR_POLICY);
    assert_int_equal(c.reason, VMESH_ATLS_R_PEER_IDENTITY);
    assert_non_null(strstr(c.msg, "does not match the expected spiffe://example.org/ns/prod/sa/db"));
    assert_int_equal(cp.appraise_calls, 0);
    assert_int_equal(s.hs_rc, VMESH_ERR_POLICY);
    assert_int_equal(s.reason, VMESH_ATLS_R_PEER_IDENTITY);
    assert_true(s.by_peer);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* ---- raw peers -------------------------------------------------------------------------------- */

static int raw_add(SSL *s, unsigned int t, unsigned int ctx, const unsigned char **out, size_t *len,
                   X509 *x, size_t ci, int *al, void *arg)
{
    vmesh_atls_ext e;
    vmesh_buf b = {0};

    (void)s, (void)t, (void)ctx, (void)x, (void)ci, (void)al, (void)arg;
    memset(&e, 0, sizeof(e));
    e.will_attest = true;
    if (vmesh_atls_ext_encode(&e, &b) != VMESH_OK)
        return -1;
    *out = vmesh_buf_steal(&b, len);
    return 1;
}

static void raw_free(SSL *s, unsigned int t, unsigned int ctx, const unsigned char *out, void *arg)
{
    (void)s, (void)t, (void)ctx, (void)arg;
    free((void *)out);
}

static int raw_parse(SSL *s, unsigned int t, unsigned int ctx, const unsigned char *in, size_t len,
                     X509 *x, size_t ci, int *al, void *arg)
{
    (void)s, (void)t, (void)ctx, (void)in, (void)len, (void)x, (void)ci, (void)al, (void)arg;
    return 1;
}

/* A raw TLS client that negotiates 0xff4d (will attest, asks nothing),
 * then sends `bytes` instead of a proper preamble, closes if asked, and
 * collects what the server sends back. */
typedef struct {
    const uint8_t *bytes;
    size_t n;
    bool close_after;
    bool send_nothing;
    uint8_t back[4096];
    size_t back_len;
} raw_script;

static void raw_client(int port, raw_script *rs)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl;
    int fd = connect_local(port), r;
    size_t w, got;

    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, cli_pem), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, cli_key, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, bundle, NULL), 1);
    assert_int_equal(SSL_CTX_add_custom_ext(ctx, VMESH_ATLS_EXT_TYPE,
                                            SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS,
                                            raw_add, raw_free, NULL, raw_parse, NULL),
                     1);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    assert_int_equal(SSL_connect(ssl), 1);
    if (!rs->send_nothing && rs->n > 0)
        assert_int_equal(SSL_write_ex(ssl, rs->bytes, rs->n, &w), 1);
    if (rs->close_after)
        SSL_shutdown(ssl);
    rs->back_len = 0;
    for (;;) {
        r = SSL_read_ex(ssl, rs->back + rs->back_len, sizeof(rs->back) - rs->back_len, &got);
        if (r != 1)
            break;
        rs->back_len += got;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    close(fd);
}

/* The reason of the attestation-failed frame in what the server sent, or -1. */
static int failed_reason(const uint8_t *p, size_t n)
{
    vmesh_atls_frame_parser fp;
    size_t off = 0, used;
    int reason = -1;

    assert_int_equal(vmesh_atls_frame_parser_init(&fp, 0), VMESH_OK);
    while (off < n) {
        vmesh_err e = vmesh_atls_frame_parser_feed(&fp, p + off, n - off, &used);

        off += used;
        if (e != VMESH_OK)
            break;
        if (fp.type == VMESH_ATLS_FRAME_FAILED) {
            uint32_t r;
            char msg[VMESH_ATLS_FAIL_MESSAGE_MAX + 1];

            assert_int_equal(vmesh_atls_failed_decode(fp.payload.data, fp.payload.len, &r, msg),
                             VMESH_OK);
            reason = (int)r;
        }
        vmesh_atls_frame_parser_reset(&fp);
    }
    vmesh_atls_frame_parser_free(&fp);
    return reason;
}

static void raw_case(raw_script *rs, uint32_t deadline, side *s)
{
    tprov sp;
    vmesh_atls_provider spv;
    pthread_t th;
    int port;

    tprov_init(&sp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    memset(s, 0, sizeof(*s));
    s->cfg = make_config(VMESH_ATLS_SERVER, &spv);
    vmesh_atls_config_set_deadline_ms(s->cfg, deadline);
    s->fd = listen_local(&port);
    s->echo = true;
    s->nonblock = true;
    assert_int_equal(pthread_create(&th, NULL, server_main, s), 0);
    raw_client(port, rs);
    pthread_join(th, NULL);
    close(s->fd);
    assert_int_equal(sp.appraise_calls, 0);
    vmesh_atls_config_free(s->cfg);
    tprov_free(&sp);
}

static void bad_frames(void **state)
{
    static const uint8_t unknown_type[] = {9, 0, 0, 1, 0};
    static const uint8_t oversized[] = {1, 0x10, 0, 0, 0xa6};
    static const uint8_t truncated[] = {1, 0, 0, 100, 0xa6, 1, 1, 2, 1};
    static const uint8_t garbage_cbor[] = {1, 0, 0, 3, 0xff, 0xff, 0xff};
    static const uint8_t verdict_first[] = {3, 0, 0, 0};
    struct {
        const uint8_t *b;
        size_t n;
        bool close;
        vmesh_err rc;
        const char *msg;
        int reason_back;
    } cases[] = {
        {unknown_type, sizeof(unknown_type), false, VMESH_ERR_PARSE, "unknown frame type 9", 1},
        {oversized, sizeof(oversized), false, VMESH_ERR_PARSE, "above the cap of 65536", 1},
        {truncated, sizeof(truncated), true, VMESH_ERR_CLOSED, "truncated frame", -1},
        {garbage_cbor, sizeof(garbage_cbor), false, VMESH_ERR_PARSE, "attestation message", 1},
        {verdict_first, sizeof(verdict_first), false, VMESH_ERR_PARSE,
         "expected an attestation frame, got frame type 3", 1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        raw_script rs = {.bytes = cases[i].b, .n = cases[i].n, .close_after = cases[i].close};
        side s;

        raw_case(&rs, 5000, &s);
        assert_int_equal(s.hs_rc, cases[i].rc);
        assert_int_equal(s.reason, VMESH_ATLS_R_MALFORMED);
        assert_non_null(strstr(s.msg, cases[i].msg));
        assert_string_equal(s.got, "");
        assert_int_equal(failed_reason(rs.back, rs.back_len), cases[i].reason_back);
    }
}

static void stalled_client_times_out(void **state)
{
    raw_script rs = {.send_nothing = true};
    side s;
    uint64_t t0 = vmesh_time_mono_ns();

    (void)state;
    raw_case(&rs, 400, &s);
    assert_int_equal(s.hs_rc, VMESH_ERR_TIMEOUT);
    assert_int_equal(s.reason, VMESH_ATLS_R_TIMEOUT);
    assert_true(vmesh_time_mono_ns() - t0 >= 400u * 1000000u);
    assert_true(vmesh_time_mono_ns() - t0 < 4000u * 1000000u);
    assert_int_equal(failed_reason(rs.back, rs.back_len), VMESH_ATLS_R_TIMEOUT);
}

static void *silent_server(void *arg)
{
    int *fds = arg;
    int fd = accept(fds[0], NULL, NULL);
    char b[4096];

    /* Reads the ClientHello and never answers, until the client leaves. */
    while (fd >= 0 && read(fd, b, sizeof(b)) > 0)
        ;
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void stalled_server_times_out(void **state)
{
    tprov cp;
    vmesh_atls_provider cpv;
    side c = {0};
    pthread_t th;
    int port, fds[1];

    (void)state;
    tprov_init(&cp);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    vmesh_atls_config_set_deadline_ms(c.cfg, 300);
    fds[0] = listen_local(&port);
    assert_int_equal(pthread_create(&th, NULL, silent_server, fds), 0);
    c.nonblock = true;
    client_run(&c, port);
    pthread_join(th, NULL);
    close(fds[0]);
    assert_int_equal(c.hs_rc, VMESH_ERR_TIMEOUT);
    assert_int_equal(c.reason, VMESH_ATLS_R_TIMEOUT);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&cp);
}

static void openssl_s_client_gets_nothing(void **state)
{
    tprov sp;
    vmesh_atls_provider spv;
    side s = {0};
    pthread_t th;
    int port, out[2], status;
    pid_t pid;
    char portarg[32], buf[512];
    ssize_t n, total = 0;

    (void)state;
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        skip();
    tprov_init(&sp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    s.fd = listen_local(&port);
    s.echo = true;
    assert_int_equal(pthread_create(&th, NULL, server_main, &s), 0);
    snprintf(portarg, sizeof(portarg), "127.0.0.1:%d", port);
    assert_int_equal(pipe(out), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);

        dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(devnull, 2);
        close(out[0]);
        execlp("openssl", "openssl", "s_client", "-connect", portarg, "-tls1_3", "-quiet",
               "-cert", cli_pem, "-key", cli_key, "-CAfile", bundle, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    while ((n = read(out[0], buf, sizeof(buf))) > 0)
        total += n;
    close(out[0]);
    waitpid(pid, &status, 0);
    pthread_join(th, NULL);
    close(s.fd);
    assert_int_equal(total, 0); /* not one byte of application data */
    assert_int_equal(s.hs_rc, VMESH_ERR_POLICY);
    assert_int_equal(s.reason, VMESH_ATLS_R_UNATTESTED_REFUSED);
    assert_int_equal(sp.attest_calls, 0);
    vmesh_atls_config_free(s.cfg);
    tprov_free(&sp);
}


/* ---- latency: no extra round trip ----------------------------------------------------------- */

/* The two ends are driven in lockstep by this one thread, each over its
 * own socket pair whose other end the test holds: a side runs until it
 * waits for its peer, then everything it wrote (one flight) is handed to
 * the peer. Counting flights instead of measuring time makes the property
 * independent of how loaded the machine is. */
typedef struct {
    vmesh_atls_conn *conn;
    int fd, wire;   /* the side's socket and the test's end of its pair */
    bool done;
    vmesh_err rc;
    unsigned got_flights; /* flights delivered to this side when it was done */
} lock_side;

static void lock_pair(lock_side *ls, vmesh_atls_config *cfg)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    ls->fd = sv[0];
    ls->wire = sv[1];
    assert_int_equal(vmesh_atls_conn_new(cfg, ls->fd, &ls->conn), VMESH_OK);
}

/* Moves what `from` wrote to `to`'s socket; the number of bytes moved. */
static size_t lock_carry(lock_side *from, lock_side *to)
{
    uint8_t buf[16384];
    size_t moved = 0;

    for (;;) {
        ssize_t r = read(from->wire, buf, sizeof(buf));

        if (r <= 0)
            return moved;
        assert_int_equal(write(to->wire, buf, (size_t)r), r);
        moved += (size_t)r;
    }
}

/* Runs one side until it waits for its peer (or is done). */
static void lock_step(lock_side *x, unsigned delivered)
{
    while (!x->done) {
        vmesh_err rc = vmesh_atls_handshake(x->conn);

        if (rc == VMESH_ERR_WANT_READ)
            return;
        if (rc == VMESH_ERR_WANT_WRITE) {
            /* the socket pair's buffer is full: cannot happen with
             * handshake-sized flights */
            fail_msg("handshake blocked on write");
        }
        x->done = true;
        x->rc = rc;
        x->got_flights = delivered;
    }
}

/* Runs one mutually attested handshake in lockstep (the server with
 * evidence privacy when after_auth); *c_flights / *s_flights: the flights
 * each side had received when it was established; then "ping" flows. */
static void lockstep_run(bool after_auth, unsigned *c_flights, unsigned *s_flights)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    lock_side s = {0}, c = {0};
    vmesh_atls_config *scfg, *ccfg;
    unsigned to_server = 0, to_client = 0, idle = 0;
    char got[16] = {0};
    size_t n = 0;

    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    cpv = provider_for(&cp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    scfg = make_config(VMESH_ATLS_SERVER, &spv);
    ccfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    vmesh_atls_config_set_evidence_after_auth(scfg, after_auth);
    lock_pair(&s, scfg);
    lock_pair(&c, ccfg);

    /* The client speaks first; then turns alternate until both are done. */
    while (!(c.done && s.done)) {
        bool moved = false;

        lock_step(&c, to_client);
        if (lock_carry(&c, &s) > 0) {
            to_server++;
            moved = true;
        }
        lock_step(&s, to_server);
        if (lock_carry(&s, &c) > 0) {
            to_client++;
            moved = true;
        }
        idle = moved ? 0 : idle + 1;
        assert_true(idle < 3); /* neither side has anything to send: stuck */
    }
    print_message("    %s: client established after %u flights from the server, server after "
                  "%u from the client\n",
                  after_auth ? "evidence after client auth" : "evidence at 0.5-RTT", c.got_flights,
                  s.got_flights);
    assert_int_equal(c.rc, VMESH_OK);
    assert_int_equal(s.rc, VMESH_OK);
    assert_int_equal(sp.appraise_calls, 1);
    assert_int_equal(cp.appraise_calls, 1);
    assert_int_equal(sp.attest_calls, 1);
    *c_flights = c.got_flights;
    *s_flights = s.got_flights;

    /* Application data flows afterwards. */
    assert_int_equal(vmesh_atls_write(c.conn, "ping", 4), VMESH_OK);
    for (int i = 0; i < 8 && n == 0; i++) {
        vmesh_err rc;

        (void)lock_carry(&c, &s);
        rc = vmesh_atls_read(s.conn, got, sizeof(got) - 1, &n);
        assert_true(rc == VMESH_OK || rc == VMESH_ERR_WANT_READ);
        (void)lock_carry(&s, &c);
        if (n == 0) {
            size_t m = 0;
            char sink[64];

            rc = vmesh_atls_read(c.conn, sink, sizeof(sink), &m);
            assert_true(rc == VMESH_OK || rc == VMESH_ERR_WANT_READ);
        }
    }
    assert_string_equal(got, "ping");
    vmesh_atls_free(c.conn);
    vmesh_atls_free(s.conn);
    close(c.fd);
    close(c.wire);
    close(s.fd);
    close(s.wire);
    vmesh_atls_config_free(scfg);
    vmesh_atls_config_free(ccfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* Plain TLS 1.3 lets the client finish after one flight from the server
 * and the server after two from the client (ClientHello, then the
 * client's Finished). Mutual attestation must not change that: the
 * server's attestation rides in its first flight (0.5-RTT), the client's
 * with its Finished. One extra round trip would add a flight each. */
static void no_extra_round_trip(void **state)
{
    unsigned cf, sf;

    (void)state;
    lockstep_run(false, &cf, &sf);
    assert_int_equal(cf, 1);
    assert_int_equal(sf, 2);
}

/* Evidence privacy costs exactly one round trip, no more: the server's
 * attestation follows the client's Finished (the client is established
 * after the server's second flight), and the client, which attests only
 * once it accepted the server, answers with its own in a third flight. */
static void evidence_after_auth_round_trip(void **state)
{
    unsigned cf, sf;

    (void)state;
    lockstep_run(true, &cf, &sf);
    assert_int_equal(cf, 2);
    assert_int_equal(sf, 3);
}

/* ---- evidence privacy: a client without an SVID ------------------------------------------ */

static int anon_ext_add(SSL *ssl, unsigned int type, unsigned int context, const unsigned char **out,
                        size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
    const vmesh_buf *b = arg;

    (void)ssl, (void)type, (void)x, (void)chainidx, (void)al;
    if (context != SSL_EXT_CLIENT_HELLO)
        return 0;
    *out = b->data;
    *outlen = b->len;
    return 1;
}

static void anon_ext_free(SSL *ssl, unsigned int type, unsigned int context,
                          const unsigned char *out, void *arg)
{
    (void)ssl, (void)type, (void)context, (void)out, (void)arg;
}

static int anon_ext_parse(SSL *ssl, unsigned int type, unsigned int context,
                          const unsigned char *in, size_t inlen, X509 *x, size_t chainidx, int *al,
                          void *arg)
{
    (void)ssl, (void)type, (void)context, (void)in, (void)inlen, (void)x, (void)chainidx, (void)al;
    (void)arg;
    return 1;
}

/* A TLS 1.3 client without a certificate whose ClientHello carries 0xff4d
 * (all modes, will attest): how many bytes of application data (the
 * server's 0.5-RTT frames) it can read before the connection ends. */
static size_t anonymous_client_reads_modes(int port, bool fresh_first);

static size_t anonymous_client_reads(int port)
{
    return anonymous_client_reads_modes(port, false);
}

/* As anonymous_client_reads; fresh_first: fresh is the first mode asked
 * for, so the server (which takes the client's first mode it can attest
 * in) makes fresh evidence for this client alone. */
static size_t anonymous_client_reads_modes(int port, bool fresh_first)
{
    vmesh_atls_ext e;
    vmesh_buf ext = {0};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl;
    int fd = connect_local(port);
    struct timeval tv = {.tv_sec = 20};
    uint8_t buf[4096];
    size_t total = 0, n;

    memset(&e, 0, sizeof(e));
    e.modes[0] = fresh_first ? VMESH_ATLS_MODE_FRESH : VMESH_ATLS_MODE_EPOCH_FRESH;
    e.modes[1] = fresh_first ? VMESH_ATLS_MODE_EPOCH_FRESH : VMESH_ATLS_MODE_FRESH;
    e.modes[2] = VMESH_ATLS_MODE_PASSPORT;
    e.n_modes = 3;
    e.will_attest = true;
    assert_int_equal(vmesh_atls_ext_encode(&e, &ext), VMESH_OK);
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    assert_int_equal(SSL_CTX_add_custom_ext(ctx, VMESH_ATLS_EXT_TYPE,
                                            SSL_EXT_CLIENT_HELLO |
                                                SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS,
                                            anon_ext_add, anon_ext_free, &ext, anon_ext_parse,
                                            NULL),
                     1);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssl = SSL_new(ctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
        while (SSL_read_ex(ssl, buf, sizeof(buf), &n) == 1)
            total += n;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    vmesh_buf_free(&ext);
    ERR_clear_error();
    return total;
}

/* Issue 13.4: under evidence privacy an anonymous ClientHello with 0xff4d
 * gets no evidence and makes the server produce none; without it (the
 * control) the same client reads the server's attestation frame. */
static void anonymous_hello_gets_no_evidence(void **state)
{
    for (int after_auth = 1; after_auth >= 0; after_auth--) {
        tprov sp;
        vmesh_atls_provider spv;
        side s = {0};
        pthread_t th;
        int port;
        size_t got;

        (void)state;
        tprov_init(&sp);
        spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
        s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
        vmesh_atls_config_set_evidence_after_auth(s.cfg, after_auth != 0);
        s.fd = listen_local(&port);
        assert_int_equal(pthread_create(&th, NULL, server_main, &s), 0);
        got = anonymous_client_reads(port);
        pthread_join(th, NULL);
        close(s.fd);
        print_message("    evidence %s: an anonymous client read %zu bytes, the server "
                      "attested %d times\n",
                      after_auth ? "after client auth" : "at 0.5-RTT", got, sp.attest_calls);
        assert_true(s.hs_rc != VMESH_OK);
        if (after_auth) {
            assert_int_equal(got, 0);
            assert_int_equal(sp.attest_calls, 0);
        } else {
            assert_true(got > VMESH_ATLS_FRAME_HEADER); /* the attestation frame */
            assert_int_equal(sp.attest_calls, 1);
        }
        vmesh_atls_config_free(s.cfg);
        tprov_free(&sp);
    }
}

/* Issue 13.4: with the server attesting at hello, anonymous ClientHellos
 * that ask for fresh evidence try to make it attest once per connection.
 * The fresh-at-hello bucket (here 3 at once, then one per 1000 s) bounds
 * that: 12 anonymous connections get 3 attestations, the other 9 get no
 * evidence and make none; a client with an SVID asking for fresh
 * evidence beyond the budget still gets it, after its Finished. */
static const uint8_t FRESH_FIRST[] = {VMESH_ATLS_MODE_FRESH, VMESH_ATLS_MODE_EPOCH_FRESH,
                                      VMESH_ATLS_MODE_PASSPORT};

static void fresh_hello_flood_is_limited(void **state)
{
    tprov sp, cp;
    vmesh_atls_provider spv, cpv;
    side s = {0}, c = {0};
    size_t with_evidence = 0;
    const int n_anon = 12;

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    spv = provider_for(&sp, ALL_MODES, 3, VMESH_ATLS_MODES_ALL);
    s.cfg = make_config(VMESH_ATLS_SERVER, &spv);
    assert_int_not_equal(vmesh_atls_config_set_fresh_hello_limit(s.cfg, -1, 3), VMESH_OK);
    assert_int_not_equal(vmesh_atls_config_set_fresh_hello_limit(s.cfg, 5, 0), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_fresh_hello_limit(s.cfg, 0.001, 3), VMESH_OK);
    for (int i = 0; i < n_anon; i++) {
        pthread_t th;
        int port;
        size_t got;

        s.fd = listen_local(&port);
        s.echo = false;
        assert_int_equal(pthread_create(&th, NULL, server_main, &s), 0);
        got = anonymous_client_reads_modes(port, true);
        pthread_join(th, NULL);
        close(s.fd);
        assert_true(s.hs_rc != VMESH_OK); /* no SVID: refused either way */
        if (got > VMESH_ATLS_FRAME_HEADER)
            with_evidence++;
    }
    print_message("    %d anonymous fresh-first hellos: %zu got evidence, the server attested %d times, "
                  "%llu deferred\n",
                  n_anon, with_evidence, sp.attest_calls,
                  (unsigned long long)vmesh_atls_config_fresh_hello_deferred(s.cfg));
    assert_int_equal(sp.attest_calls, 3);
    assert_int_equal(with_evidence, 3);
    assert_int_equal(vmesh_atls_config_fresh_hello_deferred(s.cfg), (uint64_t)(n_anon - 3));

    /* the budget is spent: a client with an SVID still gets fresh evidence */
    cpv = provider_for(&cp, FRESH_FIRST, 3, VMESH_ATLS_MODES_ALL);
    c.cfg = make_config(VMESH_ATLS_CLIENT, &cpv);
    assert_int_equal(vmesh_atls_config_set_peer_pattern(c.cfg, "spiffe://example.org/ns/prod/*"),
                     VMESH_OK);
    run_pair(&s, &c);
    assert_int_equal(s.hs_rc, VMESH_OK);
    assert_int_equal(c.hs_rc, VMESH_OK);
    assert_string_equal(c.got, "pong:ping");
    assert_int_equal(s.own_mode, VMESH_ATLS_MODE_FRESH);
    assert_int_equal(c.peer_mode, VMESH_ATLS_MODE_FRESH);
    assert_int_equal(sp.attest_calls, 4);
    assert_int_equal(vmesh_atls_config_fresh_hello_deferred(s.cfg), (uint64_t)(n_anon - 3 + 1));
    vmesh_atls_session_free(c.new_session);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(c.cfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* ---- D52: the chain-validation cache, tried as an attacker ------------------------------ */

/* A plain mTLS pair (no provider): the cache is about the certificates. */
static void plain_pair(vmesh_atls_config *scfg, vmesh_atls_config *ccfg, vmesh_err *s_rc, vmesh_err *c_rc,
                       char *s_msg, size_t n)
{
    side s = {0}, c = {0};

    run_with(&s, &c, scfg, ccfg, NULL);
    *s_rc = s.hs_rc;
    *c_rc = c.hs_rc;
    if (s_msg != NULL)
        snprintf(s_msg, n, "%s | %s", s.msg, s.detail);
    vmesh_atls_session_free(c.new_session);
    if (s.hs_rc == VMESH_OK && c.hs_rc == VMESH_OK)
        assert_string_equal(c.got, "pong:ping");
}

/* The client's own leaf with the last byte of its CA signature changed:
 * same subject, same SPIFFE ID, same key, not signed by the CA. */
static void forge_client_leaf(const char *out)
{
    FILE *f = fopen(cli_pem, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    const unsigned char *q;
    int len;
    X509 *forged;

    if (f)
        fclose(f);
    assert_non_null(x);
    len = i2d_X509(x, &der);
    assert_true(len > 0);
    der[len - 1] ^= 0x01; /* inside the signature's s: still parses */
    q = der;
    forged = d2i_X509(NULL, &q, len);
    assert_non_null(forged);
    f = fopen(out, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, forged), 1);
    fclose(f);
    X509_free(forged);
    X509_free(x);
    OPENSSL_free(der);
}

/* A validation is reused for the same chain only: the second handshake
 * of a pair validates nothing again (both sides hit); a forged copy of
 * the cached client certificate (one byte of its signature changed, same
 * key and SPIFFE ID) is validated in full and refused; and once the
 * server's trust changes (set_trust to another trust domain), the cached
 * genuine client is refused too. */
static void chain_cache_same_chain_only(void **state)
{
    vmesh_atls_config *scfg = make_config(VMESH_ATLS_SERVER, NULL), *ccfg = make_config(VMESH_ATLS_CLIENT, NULL);
    vmesh_atls_config *forged = NULL;
    vmesh_atls_chain_stats a, b;
    vmesh_err s_rc, c_rc;
    char path[400], other[400], msg[300];
    vmesh_pki_bundle *ob = NULL;
    vmesh_pki_trust *t = NULL;

    (void)state;
    vmesh_atls_chain_cache_stats(&a);
    plain_pair(scfg, ccfg, &s_rc, &c_rc, NULL, 0);
    assert_int_equal(s_rc, VMESH_OK);
    assert_int_equal(c_rc, VMESH_OK);
    assert_int_equal(vmesh_atls_config_chain_cache_used(scfg), 1);
    assert_int_equal(vmesh_atls_config_chain_cache_used(ccfg), 1);
    plain_pair(scfg, ccfg, &s_rc, &c_rc, NULL, 0);
    assert_int_equal(s_rc, VMESH_OK);
    assert_int_equal(c_rc, VMESH_OK);
    vmesh_atls_chain_cache_stats(&b);
    assert_int_equal(b.validated - a.validated, 2); /* the first handshake: both sides validated */
    assert_int_equal(b.stored - a.stored, 2);
    assert_int_equal(b.cached - a.cached, 2);       /* the second: neither did */

    /* the forged leaf: a miss, validated in full, refused */
    snprintf(path, sizeof(path), "%s/forged.pem", tmpdir);
    forge_client_leaf(path);
    assert_int_equal(vmesh_atls_config_new(VMESH_ATLS_CLIENT, &forged), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_svid(forged, path, cli_key), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_bundle(forged, bundle), VMESH_OK);
    vmesh_atls_config_set_deadline_ms(forged, 5000);
    plain_pair(scfg, forged, &s_rc, &c_rc, msg, sizeof(msg));
    assert_int_not_equal(s_rc, VMESH_OK); /* (a TLS 1.3 client finishes before the server judged it) */
    assert_int_equal(vmesh_atls_config_chain_cache_used(scfg), 1);
    vmesh_atls_chain_cache_stats(&a);
    assert_int_equal(a.cached, b.cached); /* the server's lookup of the forged chain missed */
    assert_int_equal(a.validated, b.validated + 2); /* (and the new client configuration's of the server's) */
    assert_non_null(strstr(msg, "peer certificate chain refused: certificate signature failure"));

    /* the server's trust changes: only another trust domain */
    snprintf(other, sizeof(other), "%s/other-ca", tmpdir);
    assert_int_equal(vmesh_pki_ca_init("other.example", other, 0, VMESH_KEY_EC_P256), VMESH_OK);
    snprintf(path, sizeof(path), "%s/bundle.pem", other);
    assert_int_equal(vmesh_pki_bundle_load(path, &ob), VMESH_OK);
    assert_int_equal(vmesh_pki_trust_new(&t), VMESH_OK);
    assert_int_equal(vmesh_pki_trust_add(t, "other.example", ob), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_trust(scfg, t), VMESH_OK);
    assert_int_equal(vmesh_atls_config_chain_cache_used(scfg), 0);
    plain_pair(scfg, ccfg, &s_rc, &c_rc, msg, sizeof(msg));
    assert_int_not_equal(s_rc, VMESH_OK);
    assert_non_null(strstr(msg, "not federated"));

    vmesh_pki_trust_free(t);
    vmesh_pki_bundle_free(ob);
    vmesh_atls_config_free(forged);
    vmesh_atls_config_free(scfg);
    vmesh_atls_config_free(ccfg);
}

/* A cached validation never outlives the certificate: a client leaf valid
 * for 3 s is admitted (and cached), then refused once it has expired,
 * although its chain is on record. */
static void chain_cache_expiry(void **state)
{
    vmesh_atls_config *scfg = make_config(VMESH_ATLS_SERVER, NULL), *ccfg = NULL;
    vmesh_key *k = NULL;
    vmesh_buf chain = {0};
    vmesh_err s_rc, c_rc;
    char msg[300];

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue_for_key_seconds(ca_dir, CLIENT_ID, 3, k, &chain), VMESH_OK);
    assert_int_equal(vmesh_atls_config_new(VMESH_ATLS_CLIENT, &ccfg), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_svid_key(ccfg, chain.data, chain.len, k), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_bundle(ccfg, bundle), VMESH_OK);
    vmesh_atls_config_set_deadline_ms(ccfg, 5000);
    plain_pair(scfg, ccfg, &s_rc, &c_rc, NULL, 0);
    assert_int_equal(s_rc, VMESH_OK);
    assert_int_equal(vmesh_atls_config_chain_cache_used(scfg), 1);
    sleep(5);
    plain_pair(scfg, ccfg, &s_rc, &c_rc, msg, sizeof(msg));
    assert_int_not_equal(s_rc, VMESH_OK);
    assert_non_null(strstr(msg, "peer certificate chain refused: certificate has expired"));
    assert_int_equal(vmesh_atls_config_chain_cache_used(scfg), 0);
    vmesh_buf_free(&chain);
    vmesh_crypto_key_free(k);
    vmesh_atls_config_free(scfg);
    vmesh_atls_config_free(ccfg);
}

/* Many distinct valid clients cannot grow the cache past its size; size 0
 * turns it off (every chain validated, nothing recorded); sizes past the
 * cap are refused. */
static void chain_cache_bounded(void **state)
{
    vmesh_atls_config *scfg = make_config(VMESH_ATLS_SERVER, NULL);
    vmesh_atls_chain_stats a, b;
    vmesh_err s_rc, c_rc;

    (void)state;
    assert_int_equal(vmesh_atls_config_set_chain_cache(scfg, 2), VMESH_OK);
    for (int i = 0; i < 6; i++) {
        vmesh_atls_config *ccfg = NULL;
        vmesh_key *k = NULL;
        vmesh_buf chain = {0};

        assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
        assert_int_equal(vmesh_pki_ca_issue_for_key(ca_dir, CLIENT_ID, 1, k, &chain), VMESH_OK);
        assert_int_equal(vmesh_atls_config_new(VMESH_ATLS_CLIENT, &ccfg), VMESH_OK);
        assert_int_equal(vmesh_atls_config_set_svid_key(ccfg, chain.data, chain.len, k), VMESH_OK);
        assert_int_equal(vmesh_atls_config_set_bundle(ccfg, bundle), VMESH_OK);
        plain_pair(scfg, ccfg, &s_rc, &c_rc, NULL, 0);
        assert_int_equal(s_rc, VMESH_OK);
        assert_int_equal(c_rc, VMESH_OK);
        assert_true(vmesh_atls_config_chain_cache_used(scfg) <= 2);
        vmesh_buf_free(&chain);
        vmesh_crypto_key_free(k);
        vmesh_atls_config_free(ccfg);
    }
    assert_int_equal(vmesh_atls_config_set_chain_cache(scfg, 0), VMESH_OK);
    {
        vmesh_atls_config *ccfg = make_config(VMESH_ATLS_CLIENT, NULL);

        assert_int_equal(vmesh_atls_config_set_chain_cache(ccfg, 0), VMESH_OK);
        vmesh_atls_chain_cache_stats(&a);
        for (int i = 0; i < 2; i++) {
            plain_pair(scfg, ccfg, &s_rc, &c_rc, NULL, 0);
            assert_int_equal(s_rc, VMESH_OK);
            assert_int_equal(c_rc, VMESH_OK);
        }
        vmesh_atls_chain_cache_stats(&b);
        assert_int_equal(b.cached, a.cached);
        assert_int_equal(b.stored, a.stored);
        assert_int_equal(b.validated, a.validated + 4); /* off: both sides, both times */
        assert_int_equal(vmesh_atls_config_chain_cache_used(scfg), 0);
        vmesh_atls_config_free(ccfg);
    }
    assert_int_equal(vmesh_atls_config_set_chain_cache(scfg, (size_t)1 << 30), VMESH_ERR_ARG);
    vmesh_atls_config_free(scfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mutual_attestation),
        cmocka_unit_test(chain_cache_same_chain_only),
        cmocka_unit_test(chain_cache_expiry),
        cmocka_unit_test(chain_cache_bounded),
        cmocka_unit_test(no_extra_round_trip),
        cmocka_unit_test(evidence_after_auth_round_trip),
        cmocka_unit_test(anonymous_hello_gets_no_evidence),
        cmocka_unit_test(fresh_hello_flood_is_limited),
        cmocka_unit_test(modes_negotiated),
        cmocka_unit_test(no_common_mode),
        cmocka_unit_test(resumption_reattests),
        cmocka_unit_test(resumption_ticket_reused),
        cmocka_unit_test(chain_sent_without_anchor),
        cmocka_unit_test(ticket_request_honoured),
        cmocka_unit_test(replay_refused),
        cmocka_unit_test(reflection_refused),
        cmocka_unit_test(evidence_checked),
        cmocka_unit_test(refusal_read_after_reset),
        cmocka_unit_test(unattested_client),
        cmocka_unit_test(unattested_server),
        cmocka_unit_test(hello_retry_request),
        cmocka_unit_test(peer_identity_checked),
        cmocka_unit_test(bad_frames),
        cmocka_unit_test(stalled_client_times_out),
        cmocka_unit_test(stalled_server_times_out),
        cmocka_unit_test(openssl_s_client_gets_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
