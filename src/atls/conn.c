/*
 * The attested channel's connection (DESIGN §3): OpenSSL 3.0 TLS 1.3 over
 * memory BIOs driven by an explicit non-blocking state machine, the 0xff4d
 * extension callbacks, the server's attestation at 0.5-RTT, the preamble of
 * frames each side reads before any application byte, and failure frames.
 * It must never deliver or accept application data before the peer was
 * accepted, never treat the 0.5-RTT point as "client authenticated", never
 * let a provider see a message whose session proof has not verified, and
 * never block past the deadline.
 *
 * Stream layout once 0xff4d is negotiated (docs/ATLS.md):
 *   server -> client: [attestation if the server attests] ... [verdict]
 *   client -> server: [attestation if the client attests] [verdict]
 * where a verdict is an attestation-accepted frame (3) or an
 * attestation-failed frame (2, then close); a failed frame may also replace
 * an expected attestation. Without 0xff4d there are no frames at all.
 */
#include "atls_int.h"
#include "vmesh/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IO_CHUNK 16384
#define WRITE_BACKPRESSURE ((size_t)256 * 1024)
#define OUTQ_MAX ((size_t)32 * 1024 * 1024)
#define DEADLINE_DEFAULT_MS 10000u
#define CHAIN_CACHE_DEFAULT 1024u
#define CHAIN_CACHE_MAX (1024u * 1024u)

struct vmesh_atls_config {
    vmesh_atls_role role;
    SSL_CTX *ctx;
    vmesh_atls_provider prov;
    bool has_provider; /* without one: plain mTLS, no 0xff4d */
    char *peer_pattern;
    vmesh_pki_trust *trust; /* federation: one bundle per trust domain */
    uint32_t deadline_ms;
    size_t max_frame;
    bool resumption;
    bool reattest; /* offer the in-band stream (0xff4d key 4) */
    bool evidence_after_auth; /* server: attest only after the client's SVID verified */
    /* Server: fresh evidence at 0.5-RTT (for a client not yet
     * authenticated) is limited by a token bucket; beyond it the evidence
     * waits for the client's SVID, as under evidence_after_auth. */
    struct fresh_bucket *fresh_hello; /* shared by a reload's successor (inherit) */
    atls_chain_cache *chains;         /* D52; NULL: every chain validated in full */
};

static int chain_verify_cb(X509_STORE_CTX *x, void *arg);

/* The token bucket behind vmesh_atls_config_set_fresh_hello_limit; a
 * configuration that replaces another for the same listener shares it
 * (vmesh_atls_config_inherit_fresh_hello), so a reload neither refills
 * nor resets it. */
struct fresh_bucket {
    pthread_mutex_t lock;
    double rate, burst, tokens; /* rate 0: no limit */
    uint64_t last_ns;
    uint64_t deferred; /* connections whose fresh evidence waited (atomic) */
    unsigned refs;     /* atomic */
};

static struct fresh_bucket *fresh_bucket_new(void)
{
    struct fresh_bucket *b = calloc(1, sizeof(*b));

    if (b != NULL) {
        pthread_mutex_init(&b->lock, NULL);
        b->refs = 1;
    }
    return b;
}

static void fresh_bucket_unref(struct fresh_bucket *b)
{
    if (b == NULL || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

typedef enum {
    ST_TLS,        /* server: SSL_read_early_data to 0.5-RTT; client: SSL_connect */
    ST_SRV_HRR,    /* server after HelloRetryRequest: SSL_do_handshake until export works */
    ST_SRV_FINISH, /* server: SSL_do_handshake until the client's Finished */
    ST_READ_PEER,  /* reading the peer's preamble frames */
    ST_ESTABLISHED,
    ST_FAILING,    /* flushing a failure frame / close_notify */
    ST_FAILED,
} conn_state;

struct vmesh_atls_conn {
    vmesh_atls_config *cfg;
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    int fd;
    bool blocking;
    uint64_t deadline_ns;
    conn_state state;

    /* negotiation */
    bool peer_ext_seen;
    bool ext_sent;       /* we added 0xff4d to our CH / EE */
    vmesh_atls_ext peer_ext;
    bool framing;        /* 0xff4d in CH and EE: frames are exchanged */
    /* key-bound negotiation (0xff4e, docs/ATLS.md "Key-bound attestation") */
    bool kb_seen;        /* the peer's 0xff4e */
    uint8_t kb_peer;     /* its flags */
    uint8_t kb_sent;     /* the flags of the 0xff4e we sent (0: none) */
    /* RFC 9149 ticket_request (D49): server: the client's counts (a
     * client only checks the server's answer is well formed) */
    bool tr_seen;
    uint8_t tr_counts[2];
    bool own_keybound, peer_keybound;
    bool peer_attests;   /* an attestation frame from the peer is expected */
    bool we_attest;
    bool defer_evidence; /* server: our attestation waits for the client's SVID */
    int own_mode, peer_mode;

    /* preamble reading */
    bool expect_att, expect_verdict, verdict_pending;
    vmesh_atls_frame_parser fp;
    vmesh_buf in;        /* plaintext read from TLS not yet consumed */
    size_t in_off;

    vmesh_buf outq;      /* TLS records not yet written to the fd */
    size_t outq_off;

    char *peer_id;
    vmesh_atls_peer_result result;
    bool result_set;
    bool appraised; /* the provider appraised the peer's message into result */

    /* failure */
    uint32_t fail_reason;
    char fail_msg[VMESH_ATLS_FAIL_MESSAGE_MAX + 1];
    char fail_detail[512];
    char verify_msg[400]; /* why the federation check refused the chain */
    bool fail_by_peer;
    vmesh_err fail_err;
    bool shutdown_sent;

    SSL_SESSION *last_session;
    SSL_SESSION *offered; /* client: the caller's session it resumes from (a copy went to OpenSSL) */

    /* re-attestation: the in-band stream after the preamble */
    bool inband;            /* both hellos offered 0xff4d key 4 (and framing) */
    bool reattesting;       /* judging a re-attestation answer (failure wording) */
    size_t data_left;       /* application bytes left in the current data frame */
    uint64_t rq_counter;    /* counter of our last request */
    uint8_t rq_nonce[32];
    bool rq_pending;
    uint64_t rq_deadline_ns, rq_sent_ns;
    uint32_t rq_deadline_ms;
    uint64_t peer_rq_counter; /* highest counter the peer asked with */
    vmesh_atls_reattest_stats st;
};

/* ---- small helpers ------------------------------------------------------------------ */

static uint64_t deadline_left_ms(const vmesh_atls_conn *c)
{
    uint64_t now = vmesh_time_mono_ns();

    return now >= c->deadline_ns ? 0 : (c->deadline_ns - now) / 1000000u;
}

/* Waits are bounded by the deadline until established (failing included). */
static bool in_handshake(const vmesh_atls_conn *c)
{
    return c->state != ST_ESTABLISHED;
}

/* Waits for fd readiness on a blocking fd, bounded by the deadline while
 * the handshake runs. */
static vmesh_err wait_fd(vmesh_atls_conn *c, short events)
{
    vmesh_err rc = VMESH_OK;
    struct pollfd pfd = {.fd = c->fd, .events = events};
    int r, timeout = -1;

    if (!c->blocking)
        goto out;
    for (;;) {
        if (in_handshake(c)) {
            uint64_t left = deadline_left_ms(c);

            VMESH_ENSURE(left > 0, VMESH_ERR_TIMEOUT, "attested TLS: deadline passed");
            timeout = left > INT32_MAX ? INT32_MAX : (int)left;
        } else if (c->rq_pending) {
            /* An outstanding re-attestation request bounds the wait too. */
            uint64_t now = vmesh_time_mono_ns();
            uint64_t left = now >= c->rq_deadline_ns ? 0 : (c->rq_deadline_ns - now) / 1000000u + 1;

            VMESH_ENSURE(left > 0, VMESH_ERR_TIMEOUT, "attested TLS: re-attestation deadline passed");
            timeout = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        r = poll(&pfd, 1, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        VMESH_ENSURE(r >= 0, VMESH_ERR_IO, "poll: %s", strerror(errno));
        VMESH_ENSURE(r > 0, VMESH_ERR_TIMEOUT, "attested TLS: deadline passed");
        break;
    }
out:
    return rc;
}

/* Moves TLS output from the memory BIO to outq, then writes outq to the fd. */
static vmesh_err flush_out(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;
    uint8_t chunk[IO_CHUNK];
    int n;

    if (c->outq.len == c->outq_off && BIO_ctrl_pending(c->wbio) > 0) {
        /* Fast path: nothing queued, so send the TLS records straight from
         * the memory BIO and queue only what the socket did not take. */
        char *p = NULL;
        long len = BIO_get_mem_data(c->wbio, &p);
        ssize_t w = len > 0 ? send(c->fd, p, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOTSOCK)
            VMESH_FAIL(errno == EPIPE || errno == ECONNRESET ? VMESH_ERR_CLOSED : VMESH_ERR_IO,
                       "attested TLS: write: %s", strerror(errno));
        if (w < 0)
            w = 0;
        if (w < len) {
            vmesh_buf_free(&c->outq);
            vmesh_buf_init(&c->outq, OUTQ_MAX);
            c->outq_off = 0;
            VMESH_GUARD(vmesh_buf_append(&c->outq, p + w, (size_t)(len - w)));
        }
        (void)BIO_reset(c->wbio);
    }
    while (BIO_ctrl_pending(c->wbio) > 0) {
        n = BIO_read(c->wbio, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        VMESH_GUARD(vmesh_buf_append(&c->outq, chunk, (size_t)n));
    }
    while (c->outq_off < c->outq.len) {
        ssize_t w = send(c->fd, c->outq.data + c->outq_off, c->outq.len - c->outq_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (w < 0 && errno == ENOTSOCK)
            w = write(c->fd, c->outq.data + c->outq_off, c->outq.len - c->outq_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->blocking) {
                rc = VMESH_ERR_WANT_WRITE;
                goto out;
            }
            VMESH_GUARD(wait_fd(c, POLLOUT));
            continue;
        }
        VMESH_ENSURE(w >= 0, errno == EPIPE || errno == ECONNRESET ? VMESH_ERR_CLOSED : VMESH_ERR_IO,
                     "attested TLS: write: %s", strerror(errno));
        c->outq_off += (size_t)w;
    }
    if (c->outq.cap > 0) {
        /* Drained: give the memory back, an idle connection holds none. */
        vmesh_buf_free(&c->outq);
        vmesh_buf_init(&c->outq, OUTQ_MAX);
    }
    c->outq_off = 0;
out:
    return rc;
}

/* Reads what the fd has into the TLS input BIO. */
static vmesh_err fill_in(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;
    uint8_t chunk[IO_CHUNK];
    ssize_t r;

    for (;;) {
        r = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (r < 0 && errno == ENOTSOCK)
            r = read(c->fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->blocking) {
                rc = VMESH_ERR_WANT_READ;
                goto out;
            }
            VMESH_GUARD(wait_fd(c, POLLIN));
            continue;
        }
        VMESH_ENSURE(r >= 0, errno == ECONNRESET ? VMESH_ERR_CLOSED : VMESH_ERR_IO,
                     "attested TLS: read: %s", strerror(errno));
        VMESH_ENSURE(r > 0, VMESH_ERR_CLOSED, "attested TLS: the peer closed the connection");
        VMESH_ENSURE(BIO_write(c->rbio, chunk, (int)r) == (int)r, VMESH_ERR_NOMEM,
                     "out of memory");
        break;
    }
out:
    return rc;
}

/* After an SSL call failed with SSL_get_error() == e (taken right after the
 * call): moves bytes and returns VMESH_OK when the call should be retried,
 * WANT_* to yield, or the failure. */
static vmesh_err ssl_progress(vmesh_atls_conn *c, int e, const char *what)
{
    vmesh_err rc = VMESH_OK;

    switch (e) {
    case SSL_ERROR_WANT_READ:
        /* A peer that refused us and closed makes our pending write fail
         * (EPIPE, reset), but what it sent before closing (its
         * attestation-failed frame, close_notify) is still in the socket's
         * receive queue: read it, so that the caller learns the refusal and
         * not the failed write. fill_in ends at the peer's EOF or reset. */
        rc = flush_out(c);
        if (rc == VMESH_ERR_CLOSED) {
            vmesh_err_clear();
            rc = VMESH_OK;
        }
        VMESH_GUARD(rc);
        VMESH_GUARD(fill_in(c));
        break;
    case SSL_ERROR_WANT_WRITE: VMESH_GUARD(flush_out(c)); break;
    case SSL_ERROR_ZERO_RETURN:
        VMESH_FAIL(VMESH_ERR_CLOSED, "attested TLS: the peer sent close_notify");
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0)
            VMESH_FAIL(VMESH_ERR_CLOSED, "attested TLS: %s: unexpected end of stream", what);
        /* fall through */
    default:
        rc = vmesh_err_ssl(VMESH_ERR_IO, what);
        /* Let the alert OpenSSL queued reach the peer, best effort. */
        if (flush_out(c) != VMESH_OK)
            vmesh_err_set(rc, "attested TLS: %s failed (TLS error)", what);
        break;
    }
out:
    return rc;
}

static vmesh_err spki_of(X509 *x, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    unsigned char *der = NULL;
    int n;

    VMESH_ENSURE(x != NULL, VMESH_ERR_STATE, "attested TLS: no certificate");
    /* The certificate's own SubjectPublicKeyInfo, re-encoded from its ASN.1
     * structure: the same DER as i2d_PUBKEY(X509_get0_pubkey(x)) without
     * OpenSSL 3's provider encoder, which costs as much as an ECDSA verify. */
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    VMESH_ENSURE(n > 0, VMESH_ERR_CRYPTO, "attested TLS: cannot encode a certificate key");
    VMESH_GUARD(vmesh_buf_set(out, der, (size_t)n));
out:
    OPENSSL_free(der);
    return rc;
}

/* binder for `role`, whose sender's leaf certificate is `leaf`. */
static vmesh_err binder_for(vmesh_atls_conn *c, vmesh_atls_role role, X509 *leaf,
                            uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    uint8_t exporter[32], ctxb = (uint8_t)role;
    vmesh_buf spki = {0};

    VMESH_GUARD(spki_of(leaf, &spki));
    /* RFC 8446 §7.5: TLS-Exporter(label, context_value, key_length). */
    VMESH_ENSURE(SSL_export_keying_material(c->ssl, exporter, sizeof(exporter),
                                            VMESH_ATLS_EXPORTER_LABEL,
                                            sizeof(VMESH_ATLS_EXPORTER_LABEL) - 1, &ctxb, 1,
                                            1) == 1,
                 VMESH_ERR_STATE, "attested TLS: the exporter is not available yet");
    vmesh_atls_binder_compute(role, exporter, spki.data, spki.len, out);
    OPENSSL_cleanse(exporter, sizeof(exporter));
out:
    vmesh_buf_free(&spki);
    return rc;
}

static bool exporter_ready(vmesh_atls_conn *c)
{
    uint8_t x[32], ctxb = 0;
    int ok = SSL_export_keying_material(c->ssl, x, sizeof(x), VMESH_ATLS_EXPORTER_LABEL,
                                        sizeof(VMESH_ATLS_EXPORTER_LABEL) - 1, &ctxb, 1, 1);

    OPENSSL_cleanse(x, sizeof(x));
    ERR_clear_error();
    return ok == 1;
}

static bool accepts_mode(const vmesh_atls_provider *p, int mode)
{
    for (size_t i = 0; i < p->n_accept_modes; i++)
        if (p->accept_modes[i] == mode)
            return true;
    return false;
}

/* An empty list accepts any media type (the provider decides). Media
 * types compare by the one rule of vmesh/evidence.h. */
static bool media_type_ok(const vmesh_atls_provider *p, const char *mt)
{
    if (p->media_types == NULL || p->media_types[0] == NULL)
        return true;
    return vmesh_evidence_media_type_find(mt, p->media_types) >= 0;
}

static void swap_buf(vmesh_buf *a, vmesh_buf *b)
{
    vmesh_buf t = *a;

    *a = *b;
    *b = t;
}

/* ---- failure ------------------------------------------------------------------------- */

static vmesh_err reason_err(uint32_t reason)
{
    switch (reason) {
    case VMESH_ATLS_R_MALFORMED: return VMESH_ERR_PARSE;
    case VMESH_ATLS_R_BINDER_MISMATCH:
    case VMESH_ATLS_R_ROLE_MISMATCH: return VMESH_ERR_MISMATCH;
    case VMESH_ATLS_R_TIMEOUT: return VMESH_ERR_TIMEOUT;
    default: return VMESH_ERR_POLICY;
    }
}

/* Records a failure; when `tell` and the peer speaks our framing, queues an
 * attestation-failed frame; queues close_notify when the handshake is done.
 * Returns the error the API reports (after the flush, see fail_flush). */
static vmesh_err fail(vmesh_atls_conn *c, uint32_t reason, vmesh_err err, bool tell,
                      const char *fmt, ...) VMESH_PRINTF(5, 6);
static vmesh_err fail(vmesh_atls_conn *c, uint32_t reason, vmesh_err err, bool tell,
                      const char *fmt, ...)
{
    va_list ap;
    vmesh_buf payload = {0}, frame = {0};
    size_t w;

    if (c->state >= ST_FAILING)
        return c->fail_err;
    va_start(ap, fmt);
    vsnprintf(c->fail_msg, sizeof(c->fail_msg), fmt, ap);
    va_end(ap);
    c->fail_reason = reason;
    c->fail_err = err != VMESH_OK ? err : reason_err(reason);
    snprintf(c->fail_detail, sizeof(c->fail_detail), "%s %s (%s): %s",
             c->reattesting ? "re-attestation" : "attestation",
             c->fail_by_peer ? "refused by the peer" : "failed",
             vmesh_atls_reason_name(reason), c->fail_msg);
    if (tell && c->framing && !c->fail_by_peer &&
        vmesh_atls_failed_encode(reason, c->fail_msg, &payload) == VMESH_OK &&
        vmesh_atls_frame_encode(VMESH_ATLS_FRAME_FAILED, payload.data, payload.len, &frame) ==
            VMESH_OK) {
        /* The server may fail at 0.5-RTT, before the client's Finished. */
        if (SSL_is_init_finished(c->ssl))
            (void)SSL_write_ex(c->ssl, frame.data, frame.len, &w);
        else
            (void)SSL_write_early_data(c->ssl, frame.data, frame.len, &w);
    }
    if (SSL_is_init_finished(c->ssl) && !c->shutdown_sent) {
        (void)SSL_shutdown(c->ssl);
        c->shutdown_sent = true;
    }
    ERR_clear_error();
    vmesh_buf_free(&payload);
    vmesh_buf_free(&frame);
    c->state = ST_FAILING;
    /* debug: the caller logs the event once, with its context (listener,
     * address, peer), so a refusal is one record, not two */
    vmesh_log(VMESH_LOG_DEBUG, "%s", c->fail_detail);
    return vmesh_err_set(c->fail_err, "%s", c->fail_detail);
}

/* In ST_FAILING: flush what fail() queued; then the failure for good. A
 * timeout does not wait for the peer to drain. */
static vmesh_err fail_flush(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;

    if (c->fail_reason == VMESH_ATLS_R_TIMEOUT || deadline_left_ms(c) == 0) {
        bool blocking = c->blocking;

        c->blocking = false; /* one attempt, no wait */
        (void)flush_out(c);
        c->blocking = blocking;
    } else {
        rc = flush_out(c);
        if (rc == VMESH_ERR_WANT_WRITE)
            return rc;
    }
    c->state = ST_FAILED;
    return vmesh_err_set(c->fail_err, "%s", c->fail_detail);
}

/* Turns a TLS-level error into the connection's failure. */
static vmesh_err fail_tls(vmesh_atls_conn *c, vmesh_err rc)
{
    char d[400];

    if (rc == VMESH_ERR_TIMEOUT)
        return fail(c, VMESH_ATLS_R_TIMEOUT, VMESH_ERR_TIMEOUT, true,
                    "handshake and attestation did not complete within %u ms",
                    c->cfg->deadline_ms);
    if (c->verify_msg[0])
        snprintf(d, sizeof(d), "%.240s (%s)", c->verify_msg, vmesh_err_detail());
    else
        snprintf(d, sizeof(d), "%s", vmesh_err_detail());
    c->state = ST_FAILED;
    c->fail_err = rc;
    snprintf(c->fail_detail, sizeof(c->fail_detail), "%s", d);
    return vmesh_err_set(rc, "%s", d);
}

/* ---- the 0xff4d extension callbacks ------------------------------------------------ */

static void fill_own_ext(const vmesh_atls_provider *p, vmesh_atls_ext *e, bool will_attest, bool reattest)
{
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; i < p->n_accept_modes && i < 3; i++)
        e->modes[e->n_modes++] = p->accept_modes[i];
    for (size_t i = 0; p->media_types && p->media_types[i] &&
                       e->n_media_types < VMESH_ATLS_EXT_MEDIA_TYPES_MAX;
         i++)
        e->media_types[e->n_media_types++] = (char *)p->media_types[i];
    e->will_attest = will_attest;
    e->reattest = reattest;
}

static bool can_attest(const vmesh_atls_provider *p)
{
    return p->will_attest && p->attest != NULL && (p->attest_modes & VMESH_ATLS_MODES_ALL) != 0;
}

/* The mode we attest in: the first in the peer's order we can produce. */
static int choose_mode(const vmesh_atls_provider *p, const vmesh_atls_ext *peer)
{
    for (size_t i = 0; i < peer->n_modes; i++)
        if (p->attest_modes & VMESH_ATLS_MODE_BIT(peer->modes[i]))
            return peer->modes[i];
    return -1;
}

static int ext_add(SSL *s, unsigned int ext_type, unsigned int context, const unsigned char **out,
                   size_t *outlen, X509 *x, size_t chainidx, int *al, void *add_arg)
{
    vmesh_atls_conn *c = SSL_get_app_data(s);
    vmesh_atls_ext e;
    vmesh_buf b = {0};
    bool will;

    (void)ext_type;
    (void)x;
    (void)chainidx;
    (void)add_arg;
    if (c == NULL || !c->cfg->has_provider)
        return 0;
    if (context & SSL_EXT_CLIENT_HELLO) {
        will = can_attest(&c->cfg->prov);
    } else {
        /* EncryptedExtensions: OpenSSL calls us only when the ClientHello
         * carried 0xff4d. We attest iff the client asks (a non-empty mode
         * list) and we can produce one of its modes. */
        c->own_mode = c->peer_ext.n_modes > 0 && can_attest(&c->cfg->prov)
                          ? choose_mode(&c->cfg->prov, &c->peer_ext)
                          : -1;
        will = c->own_mode >= 0;
    }
    /* Key 4: the client offers the in-band stream when configured; the
     * server answers with it only when the client offered it too. */
    fill_own_ext(&c->cfg->prov, &e, will,
                 c->cfg->reattest && ((context & SSL_EXT_CLIENT_HELLO) || c->peer_ext.reattest));
    if (vmesh_atls_ext_encode(&e, &b) != VMESH_OK) {
        vmesh_buf_free(&b);
        *al = SSL_AD_INTERNAL_ERROR;
        return -1;
    }
    *out = vmesh_buf_steal(&b, outlen);
    c->ext_sent = true;
    return 1;
}

/* Our 0xff4e flags: what the provider says, when it says anything. */
static uint8_t kb_flags(const vmesh_atls_config *cfg)
{
    if (!cfg->has_provider)
        return 0;
    return (uint8_t)((cfg->prov.keybound_accept ? VMESH_ATLS_KB_ACCEPT : 0) |
                     (cfg->prov.keybound_attest && can_attest(&cfg->prov) ? VMESH_ATLS_KB_ATTEST : 0));
}

static int kb_ext_add(SSL *s, unsigned int ext_type, unsigned int context, const unsigned char **out,
                      size_t *outlen, X509 *x, size_t chainidx, int *al, void *add_arg)
{
    vmesh_atls_conn *c = SSL_get_app_data(s);
    uint8_t f, *b;

    (void)ext_type;
    (void)x;
    (void)chainidx;
    (void)add_arg;
    /* EncryptedExtensions: OpenSSL calls us only when the ClientHello had it. */
    if (c == NULL || (f = kb_flags(c->cfg)) == 0 || ((context & SSL_EXT_CLIENT_HELLO) == 0 && !c->kb_seen))
        return 0;
    b = malloc(1);
    if (b == NULL) {
        *al = SSL_AD_INTERNAL_ERROR;
        return -1;
    }
    b[0] = f;
    *out = b;
    *outlen = 1;
    c->kb_sent = f;
    return 1;
}

static int kb_ext_parse(SSL *s, unsigned int ext_type, unsigned int context, const unsigned char *in,
                        size_t inlen, X509 *x, size_t chainidx, int *al, void *parse_arg)
{
    vmesh_atls_conn *c = SSL_get_app_data(s);

    (void)ext_type;
    (void)context;
    (void)x;
    (void)chainidx;
    (void)parse_arg;
    if (c == NULL)
        return 1;
    c->kb_seen = false;
    if (vmesh_atls_kb_ext_decode(in, inlen, &c->kb_peer) != VMESH_OK) {
        vmesh_log(VMESH_LOG_INFO, "attested TLS: %s", vmesh_err_detail());
        *al = SSL_AD_DECODE_ERROR;
        return 0;
    }
    c->kb_seen = true;
    return 1;
}

/* RFC 9149 ticket_request (D49). Client, ClientHello: one ticket after a
 * full handshake when we resume (we keep only the newest, D47), none after a
 * resumption, none at all with resumption off. Server, EncryptedExtensions
 * (OpenSSL calls us only when the ClientHello had it): the tickets we will
 * send, never more than without the request, and set to that. */
static int tr_ext_add(SSL *s, unsigned int ext_type, unsigned int context, const unsigned char **out,
                      size_t *outlen, X509 *x, size_t chainidx, int *al, void *add_arg)
{
    vmesh_atls_conn *c = SSL_get_app_data(s);
    uint8_t v[2] = {0, 0}, *b;
    size_t n;

    (void)ext_type;
    (void)x;
    (void)chainidx;
    (void)add_arg;
    if (c == NULL)
        return 0;
    if (c->cfg->role == VMESH_ATLS_CLIENT) {
        if ((context & SSL_EXT_CLIENT_HELLO) == 0)
            return 0;
        v[0] = c->cfg->resumption ? 1 : 0; /* resumption_count v[1]: 0 */
        n = 2;
    } else {
        size_t want, would = SSL_get_num_tickets(s);

        if ((context & SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS) == 0 || !c->tr_seen)
            return 0;
        want = SSL_session_reused(s) == 1 ? c->tr_counts[1] : c->tr_counts[0];
        v[0] = (uint8_t)(want < would ? want : would);
        (void)SSL_set_num_tickets(s, v[0]);
        n = 1;
    }
    b = malloc(n);
    if (b == NULL) {
        *al = SSL_AD_INTERNAL_ERROR;
        return -1;
    }
    memcpy(b, v, n);
    *out = b;
    *outlen = n;
    return 1;
}

static int tr_ext_parse(SSL *s, unsigned int ext_type, unsigned int context, const unsigned char *in,
                        size_t inlen, X509 *x, size_t chainidx, int *al, void *parse_arg)
{
    vmesh_atls_conn *c = SSL_get_app_data(s);
    bool ch = (context & SSL_EXT_CLIENT_HELLO) != 0;

    (void)ext_type;
    (void)x;
    (void)chainidx;
    (void)parse_arg;
    if (c == NULL)
        return 1;
    c->tr_seen = false;
    if (vmesh_atls_ticket_request_decode(in, inlen, ch, c->tr_counts) != VMESH_OK) {
        vmesh_log(VMESH_LOG_INFO, "attested TLS: %s", vmesh_err_detail());
        *al = SSL_AD_DECODE_ERROR;
        return 0;
    }
    c->tr_seen = true;
    return 1;
}

/* Whether our attestation of this handshake is key-bound: both sides sent
 * 0xff4e, the peer accepts, we can, a full handshake (its CertificateVerify
 * is the session proof), a mode whose evidence is not per session. */
static bool kb_ours(vmesh_atls_conn *c)
{
    return c->framing && c->kb_seen && (c->kb_peer & VMESH_ATLS_KB_ACCEPT) &&
           (c->kb_sent & VMESH_ATLS_KB_ATTEST) && SSL_session_reused(c->ssl) != 1 &&
           (c->own_mode == VMESH_ATLS_MODE_EPOCH_FRESH || c->own_mode == VMESH_ATLS_MODE_PASSPORT);
}

static void ext_free(SSL *s, unsigned int ext_type, unsigned int context, const unsigned char *out,
                     void *add_arg)
{
    (void)s;
    (void)ext_type;
    (void)context;
    (void)add_arg;
    free((void *)out);
}

static int ext_parse(SSL *s, unsigned int ext_type, unsigned int context,
                     const unsigned char *in, size_t inlen, X509 *x, size_t chainidx, int *al,
                     void *parse_arg)
{
    vmesh_atls_conn *c = SSL_get_app_data(s);

    (void)ext_type;
    (void)context;
    (void)x;
    (void)chainidx;
    (void)parse_arg;
    if (c == NULL)
        return 1;
    /* A second ClientHello (after HelloRetryRequest) replaces the first. */
    vmesh_atls_ext_free(&c->peer_ext);
    c->peer_ext_seen = false;
    if (vmesh_atls_ext_decode(in, inlen, &c->peer_ext) != VMESH_OK) {
        vmesh_log(VMESH_LOG_INFO, "attested TLS: %s", vmesh_err_detail());
        *al = SSL_AD_DECODE_ERROR;
        return 0;
    }
    c->peer_ext_seen = true;
    return 1;
}

static int new_session_cb(SSL *s, SSL_SESSION *sess)
{
    vmesh_atls_conn *c = SSL_get_app_data(s);

    if (c == NULL || !c->cfg->resumption)
        return 0;
    SSL_SESSION_free(c->last_session);
    c->last_session = sess;
    return 1; /* we keep the reference */
}

/* Server: a client that resumed keeps the ticket it has; no new one.
 * Issuing a ticket copies the session through d2i_SSL_SESSION, which
 * decodes the client's certificate again (OpenSSL 3.0): about a fifth of a
 * resumed handshake's instructions (docs/ATLS.md, Resumption). */
static SSL_TICKET_RETURN ticket_decrypted(SSL *s, SSL_SESSION *ss, const unsigned char *name, size_t name_len,
                                          SSL_TICKET_STATUS st, void *arg)
{
    (void)ss, (void)name, (void)name_len, (void)arg;
    switch (st) {
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW:
        (void)SSL_set_num_tickets(s, 0);
        return SSL_TICKET_RETURN_USE;
    case SSL_TICKET_FATAL_ERR_MALLOC:
    case SSL_TICKET_FATAL_ERR_OTHER:
        return SSL_TICKET_RETURN_ABORT;
    default: /* none, empty, not decryptable: a full handshake and a new ticket */
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }
}

/* ---- configuration --------------------------------------------------------------------- */

vmesh_err vmesh_atls_config_new(vmesh_atls_role role, vmesh_atls_config **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_atls_config *c = NULL;
    static const unsigned char sid_ctx[] = "vmesh-atls";

    *out = NULL;
    VMESH_ENSURE(role == VMESH_ATLS_SERVER || role == VMESH_ATLS_CLIENT, VMESH_ERR_ARG,
                 "attested TLS: role must be server or client");
    c = calloc(1, sizeof(*c));
    VMESH_ENSURE(c != NULL, VMESH_ERR_NOMEM, "out of memory");
    c->role = role;
    c->fresh_hello = fresh_bucket_new();
    VMESH_ENSURE(c->fresh_hello != NULL, VMESH_ERR_NOMEM, "out of memory");
    c->deadline_ms = DEADLINE_DEFAULT_MS;
    c->max_frame = VMESH_ATLS_FRAME_MAX_DEFAULT;
    c->resumption = true;
    c->chains = atls_chain_cache_new(CHAIN_CACHE_DEFAULT);
    c->ctx = SSL_CTX_new(role == VMESH_ATLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (c->ctx == NULL) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "SSL_CTX_new");
        goto out;
    }
    /* DESIGN §3.1: "TLS 1.3 only". */
    VMESH_ENSURE(SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION) == 1 &&
                     SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION) == 1,
                 VMESH_ERR_CRYPTO, "attested TLS: cannot restrict to TLS 1.3");
    /* DESIGN §3.2: "Leave 0-RTT off: early data is replayable". */
    SSL_CTX_set_max_early_data(c->ctx, 0);
    SSL_CTX_set_cert_verify_callback(c->ctx, chain_verify_cb, c);
    SSL_CTX_set_verify(c->ctx,
                       SSL_VERIFY_PEER |
                           (role == VMESH_ATLS_SERVER ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       NULL);
    if (role == VMESH_ATLS_SERVER) {
        VMESH_ENSURE(SSL_CTX_set_session_id_context(c->ctx, sid_ctx, sizeof(sid_ctx) - 1) == 1,
                     VMESH_ERR_CRYPTO, "SSL_CTX_set_session_id_context");
        /* one ticket per full handshake: our client keeps only the newest */
        SSL_CTX_set_num_tickets(c->ctx, 1);
        VMESH_ENSURE(SSL_CTX_set_session_ticket_cb(c->ctx, NULL, ticket_decrypted, NULL) == 1,
                     VMESH_ERR_CRYPTO, "SSL_CTX_set_session_ticket_cb");
    } else {
        SSL_CTX_set_session_cache_mode(c->ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c->ctx, new_session_cb);
    }
    if (SSL_CTX_add_custom_ext(c->ctx, VMESH_ATLS_EXT_TYPE,
                               SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS, ext_add,
                               ext_free, NULL, ext_parse, NULL) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "registering the 0xff4d extension");
        goto out;
    }
    if (SSL_CTX_add_custom_ext(c->ctx, VMESH_ATLS_KEYBOUND_EXT_TYPE,
                               SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS, kb_ext_add,
                               ext_free, NULL, kb_ext_parse, NULL) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "registering the 0xff4e extension");
        goto out;
    }
    if (SSL_CTX_add_custom_ext(c->ctx, VMESH_ATLS_TICKET_REQUEST_EXT_TYPE,
                               SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS,
                               tr_ext_add, ext_free, NULL, tr_ext_parse, NULL) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "registering the ticket_request extension (RFC 9149)");
        goto out;
    }
    *out = c;
    c = NULL;
out:
    vmesh_atls_config_free(c);
    return rc;
}

/* D48: the chain we send leaves out self-signed certificates. Those are
 * trust anchors, which a peer that can trust us holds already (RFC 8446
 * §4.4.2 lets a sender omit them); sending one made every peer decode it
 * again, at every full handshake. A chain given with the SVID is then sent
 * as it is, never rebuilt per handshake from the trust store
 * (SSL_MODE_NO_AUTO_CHAIN). An SVID given without its chain keeps
 * OpenSSL's chain building, as before. */
static vmesh_err chain_without_anchors(vmesh_atls_config *c)
{
    vmesh_err rc = VMESH_OK;
    STACK_OF(X509) *chain = NULL, *keep = NULL;

    VMESH_ENSURE(SSL_CTX_get0_chain_certs(c->ctx, &chain) == 1, VMESH_ERR_CRYPTO,
                 "attested TLS: cannot read the SVID chain");
    if (sk_X509_num(chain) <= 0)
        return VMESH_OK;
    keep = sk_X509_new_null();
    VMESH_ENSURE(keep != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);

        if ((X509_get_extension_flags(x) & EXFLAG_SS) != 0)
            continue;
        VMESH_ENSURE(X509_up_ref(x) == 1, VMESH_ERR_CRYPTO, "attested TLS: X509_up_ref");
        if (sk_X509_push(keep, x) <= 0) {
            X509_free(x);
            VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory");
        }
    }
    VMESH_ENSURE(SSL_CTX_set0_chain(c->ctx, keep) == 1, VMESH_ERR_CRYPTO, "attested TLS: cannot set the SVID chain");
    keep = NULL;
    SSL_CTX_set_mode(c->ctx, SSL_MODE_NO_AUTO_CHAIN);
out:
    sk_X509_pop_free(keep, X509_free);
    return rc;
}

vmesh_err vmesh_atls_config_set_svid(vmesh_atls_config *c, const char *chain_file,
                                     const char *key_file)
{
    vmesh_err rc = VMESH_OK;

    if (SSL_CTX_use_certificate_chain_file(c->ctx, chain_file) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_IO, "loading the certificate chain");
        rc = vmesh_err_wrap(rc, "%s", chain_file);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(c->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_IO, "loading the private key");
        rc = vmesh_err_wrap(rc, "%s", key_file);
        goto out;
    }
    if (SSL_CTX_check_private_key(c->ctx) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_MISMATCH, "the key does not match the certificate");
        rc = vmesh_err_wrap(rc, "%s", key_file);
        goto out;
    }
    rc = chain_without_anchors(c);
out:
    return rc;
}

vmesh_err vmesh_atls_config_set_svid_key(vmesh_atls_config *c, const uint8_t *chain_pem, size_t len,
                                         vmesh_key *key)
{
    vmesh_err rc = VMESH_OK;
    BIO *bio = NULL;
    X509 *x = NULL;
    bool first = true;

    VMESH_ENSURE(chain_pem != NULL && len > 0 && len <= INT32_MAX && key != NULL, VMESH_ERR_ARG,
                 "attested TLS: an in-memory SVID needs its chain and its key");
    bio = BIO_new_mem_buf(chain_pem, (int)len);
    VMESH_ENSURE(bio != NULL, VMESH_ERR_NOMEM, "out of memory");
    SSL_CTX_clear_chain_certs(c->ctx);
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (first) {
            VMESH_ENSURE(SSL_CTX_use_certificate(c->ctx, x) == 1, VMESH_ERR_CRYPTO,
                         "attested TLS: cannot use the SVID certificate");
            X509_free(x);
            first = false;
        } else {
            VMESH_ENSURE(SSL_CTX_add0_chain_cert(c->ctx, x) == 1, VMESH_ERR_CRYPTO,
                         "attested TLS: cannot add a chain certificate");
        }
        x = NULL;
    }
    ERR_clear_error();
    VMESH_ENSURE(!first, VMESH_ERR_PARSE, "attested TLS: the SVID chain has no PEM certificate");
    VMESH_ENSURE(SSL_CTX_use_PrivateKey(c->ctx, vmesh_crypto_key_evp(key)) == 1, VMESH_ERR_CRYPTO,
                 "attested TLS: cannot use the SVID key");
    if (SSL_CTX_check_private_key(c->ctx) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_MISMATCH, "the key does not match the SVID certificate");
        goto out;
    }
    rc = chain_without_anchors(c);
out:
    X509_free(x);
    BIO_free(bio);
    return rc;
}

vmesh_err vmesh_atls_config_set_bundle(vmesh_atls_config *c, const char *bundle_file)
{
    vmesh_err rc = VMESH_OK;
    STACK_OF(X509_NAME) *names = NULL;

    atls_chain_cache_clear(c->chains);
    if (SSL_CTX_load_verify_locations(c->ctx, bundle_file, NULL) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_IO, "loading the trust bundle");
        rc = vmesh_err_wrap(rc, "%s", bundle_file);
        goto out;
    }
    if (c->role == VMESH_ATLS_SERVER) {
        names = SSL_load_client_CA_file(bundle_file);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(c->ctx, names);
    }
    ERR_clear_error();
out:
    return rc;
}

/* The connection whose peer chain x verifies (NULL outside a handshake). */
static vmesh_atls_conn *conn_of_store(X509_STORE_CTX *x)
{
    SSL *s = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());

    return s != NULL ? SSL_get_app_data(s) : NULL;
}

/* Chain verification under federation: the trusted certificates of this
 * verification are the authorities of the trust domain the leaf's SPIFFE
 * ID names, nothing else; libssl's parameters (purpose, depth, time) stay. */
static int trust_verify(X509_STORE_CTX *x, vmesh_atls_config *cfg)
{
    X509 *leaf = X509_STORE_CTX_get0_cert(x);
    vmesh_atls_conn *c = conn_of_store(x);
    STACK_OF(X509) *auth = NULL;
    char *id = NULL, *td = NULL;

    if (leaf != NULL && vmesh_pki_spiffe_id_from_cert(leaf, &id) == VMESH_OK &&
        vmesh_pki_spiffe_id_trust_domain(id, &td) == VMESH_OK)
        auth = vmesh_pki_trust_authorities(cfg->trust, td);
    if (auth == NULL) {
        if (c != NULL)
            snprintf(c->verify_msg, sizeof(c->verify_msg),
                     td ? "peer %s is in trust domain \"%s\", which is not federated here"
                        : "peer certificate is not an X509-SVID%s%s",
                     td ? id : "", td ? td : "");
        free(id);
        free(td);
        X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_UNTRUSTED);
        return 0;
    }
    free(id);
    free(td);
    X509_STORE_CTX_set0_trusted_stack(x, auth);
    return X509_verify_cert(x);
}

/* Every peer chain comes here (SSL_CTX_set_cert_verify_callback): a chain
 * this configuration validated already, still within its window, is not
 * validated again (D52, chaincache.c); any other is, against the trust
 * set (federation) or the bundle's store, and recorded when it validates.
 * OpenSSL has set the store context's purpose (the peer's role), depth,
 * time and security level from this configuration before calling. */
static int chain_verify_cb(X509_STORE_CTX *x, void *arg)
{
    vmesh_atls_config *cfg = arg;
    uint8_t key[32];
    bool keyed = cfg->chains != NULL && atls_chain_cache_key(x, key);
    int64_t now = vmesh_time_now();
    int ok;

    if (keyed && atls_chain_cache_hit(cfg->chains, key, now)) {
        atls_chain_count(true);
        X509_STORE_CTX_set_error(x, X509_V_OK);
        return 1;
    }
    atls_chain_count(false);
    ok = cfg->trust != NULL ? trust_verify(x, cfg) : X509_verify_cert(x);
    if (ok == 1 && keyed)
        atls_chain_cache_put(cfg->chains, key, x, now);
    if (ok != 1) {
        /* name the reason (expired, bad signature, unknown CA ...) in the
         * handshake's failure, not only OpenSSL's "verify failed" */
        vmesh_atls_conn *c = conn_of_store(x);

        if (c != NULL && c->verify_msg[0] == '\0')
            snprintf(c->verify_msg, sizeof(c->verify_msg), "peer certificate chain refused: %s",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
    }
    return ok;
}

vmesh_err vmesh_atls_config_set_trust(vmesh_atls_config *c, vmesh_pki_trust *t)
{
    if (t == NULL || vmesh_pki_trust_count(t) == 0)
        return vmesh_err_set(VMESH_ERR_ARG, "attested TLS: an empty trust set");
    vmesh_pki_trust_free(c->trust);
    c->trust = vmesh_pki_trust_ref(t);
    atls_chain_cache_clear(c->chains);
    return VMESH_OK;
}

vmesh_err vmesh_atls_config_set_chain_cache(vmesh_atls_config *c, size_t entries)
{
    vmesh_err rc = VMESH_OK;
    atls_chain_cache *n = NULL;

    VMESH_ENSURE(entries <= CHAIN_CACHE_MAX, VMESH_ERR_ARG,
                 "attested TLS: chain cache of %zu entries: at most %u", entries, CHAIN_CACHE_MAX);
    if (entries > 0) {
        n = atls_chain_cache_new(entries);
        VMESH_ENSURE(n != NULL, VMESH_ERR_NOMEM, "out of memory");
    }
    atls_chain_cache_free(c->chains);
    c->chains = n;
out:
    return rc;
}

size_t vmesh_atls_config_chain_cache_used(const vmesh_atls_config *c)
{
    return atls_chain_cache_used(c->chains);
}

vmesh_err vmesh_atls_config_set_peer_pattern(vmesh_atls_config *c, const char *pattern)
{
    vmesh_err rc = VMESH_OK;

    free(c->peer_pattern);
    c->peer_pattern = NULL;
    if (pattern == NULL)
        goto out;
    VMESH_GUARD(vmesh_pki_spiffe_pattern_validate(pattern));
    c->peer_pattern = strdup(pattern);
    VMESH_ENSURE(c->peer_pattern != NULL, VMESH_ERR_NOMEM, "out of memory");
out:
    return rc;
}

vmesh_err vmesh_atls_config_set_provider(vmesh_atls_config *c, const vmesh_atls_provider *p)
{
    vmesh_err rc = VMESH_OK;
    unsigned seen = 0;

    VMESH_ENSURE(p->n_accept_modes <= 3, VMESH_ERR_ARG, "attested TLS: at most 3 accepted modes");
    for (size_t i = 0; i < p->n_accept_modes; i++) {
        VMESH_ENSURE(p->accept_modes[i] <= VMESH_ATLS_MODE_PASSPORT &&
                         !(seen & VMESH_ATLS_MODE_BIT(p->accept_modes[i])),
                     VMESH_ERR_ARG, "attested TLS: accepted modes must be distinct, 0..2");
        seen |= VMESH_ATLS_MODE_BIT(p->accept_modes[i]);
    }
    VMESH_ENSURE(p->n_accept_modes == 0 || p->appraise != NULL, VMESH_ERR_ARG,
                 "attested TLS: a provider that accepts modes needs an appraise callback");
    c->prov = *p;
    c->has_provider = true;
out:
    return rc;
}

void vmesh_atls_config_set_deadline_ms(vmesh_atls_config *c, uint32_t ms)
{
    c->deadline_ms = ms ? ms : DEADLINE_DEFAULT_MS;
}

vmesh_err vmesh_atls_config_set_max_frame(vmesh_atls_config *c, size_t max)
{
    if (max == 0 || max > VMESH_ATLS_FRAME_MAX_LIMIT)
        return vmesh_err_set(VMESH_ERR_ARG, "attested TLS: frame cap must be 1..%zu bytes",
                             VMESH_ATLS_FRAME_MAX_LIMIT);
    c->max_frame = max;
    return VMESH_OK;
}

void vmesh_atls_config_set_resumption(vmesh_atls_config *c, bool on)
{
    c->resumption = on;
    if (c->role == VMESH_ATLS_SERVER) {
        SSL_CTX_set_num_tickets(c->ctx, on ? 1 : 0);
        if (on)
            SSL_CTX_clear_options(c->ctx, SSL_OP_NO_TICKET);
        else
            SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET);
    }
}

void vmesh_atls_config_set_reattest(vmesh_atls_config *c, bool on)
{
    c->reattest = on;
}

void vmesh_atls_config_set_evidence_after_auth(vmesh_atls_config *c, bool on)
{
    c->evidence_after_auth = on;
}

vmesh_err vmesh_atls_config_set_fresh_hello_limit(vmesh_atls_config *c, double per_second, unsigned burst)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(per_second >= 0 && per_second <= 1e6 && (per_second == 0 || burst >= 1), VMESH_ERR_ARG,
                 "attested TLS: fresh evidence at hello: rate %g/s and burst %u (rate 0..1e6, burst >= 1)",
                 per_second, burst);
    pthread_mutex_lock(&c->fresh_hello->lock);
    c->fresh_hello->rate = per_second;
    c->fresh_hello->burst = burst;
    c->fresh_hello->tokens = burst;
    c->fresh_hello->last_ns = vmesh_time_mono_ns();
    pthread_mutex_unlock(&c->fresh_hello->lock);
out:
    return rc;
}

uint64_t vmesh_atls_config_fresh_hello_deferred(const vmesh_atls_config *c)
{
    return __atomic_load_n(&c->fresh_hello->deferred, __ATOMIC_RELAXED);
}

bool vmesh_atls_config_inherit_fresh_hello(vmesh_atls_config *c, vmesh_atls_config *prev)
{
    struct fresh_bucket *mine = c->fresh_hello, *theirs = prev->fresh_hello;
    bool same;

    if (mine == theirs)
        return true;
    pthread_mutex_lock(&theirs->lock);
    pthread_mutex_lock(&mine->lock); /* mine is not shared yet: no lock order to keep */
    same = mine->rate == theirs->rate && mine->burst == theirs->burst;
    if (!same) /* a new limit starts full; the count goes on */
        __atomic_add_fetch(&mine->deferred, __atomic_load_n(&theirs->deferred, __ATOMIC_RELAXED),
                           __ATOMIC_RELAXED);
    pthread_mutex_unlock(&mine->lock);
    if (same)
        __atomic_add_fetch(&theirs->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&theirs->lock);
    if (same) {
        c->fresh_hello = theirs;
        fresh_bucket_unref(mine);
    }
    return same;
}

/* One token of the fresh-at-hello bucket, if there is one. */
static bool fresh_hello_take(vmesh_atls_config *c)
{
    bool ok;
    uint64_t now = vmesh_time_mono_ns();
    struct fresh_bucket *b = c->fresh_hello;

    pthread_mutex_lock(&b->lock);
    if (b->rate <= 0) {
        ok = true;
    } else {
        b->tokens += (double)(now - b->last_ns) / 1e9 * b->rate;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ns = now;
        ok = b->tokens >= 1.0;
        if (ok)
            b->tokens -= 1.0;
    }
    pthread_mutex_unlock(&b->lock);
    if (!ok)
        __atomic_add_fetch(&b->deferred, 1, __ATOMIC_RELAXED);
    return ok;
}

void *vmesh_atls_config_ssl_ctx(vmesh_atls_config *c)
{
    return c->ctx;
}

void vmesh_atls_config_free(vmesh_atls_config *c)
{
    if (c == NULL)
        return;
    SSL_CTX_free(c->ctx);
    free(c->peer_pattern);
    vmesh_pki_trust_free(c->trust);
    fresh_bucket_unref(c->fresh_hello);
    atls_chain_cache_free(c->chains);
    free(c);
}

/* ---- connection lifecycle -------------------------------------------------------------- */

void vmesh_atls_peer_result_init(vmesh_atls_peer_result *r)
{
    memset(r, 0, sizeof(*r));
    r->mode = -1;
    vmesh_buf_init(&r->accepted.media_type, VMESH_ATLS_MEDIA_TYPE_MAX + 1);
    vmesh_buf_init(&r->accepted.cmw, VMESH_ATLS_FRAME_MAX_LIMIT);
    vmesh_buf_init(&r->accepted.journal, VMESH_ATLS_FRAME_MAX_LIMIT);
}

void vmesh_atls_peer_result_free(vmesh_atls_peer_result *r)
{
    vmesh_buf_free(&r->accepted.media_type);
    vmesh_buf_free(&r->accepted.cmw);
    vmesh_buf_free(&r->accepted.journal);
}

vmesh_err vmesh_atls_peer_result_copy(vmesh_atls_peer_result *dst, const vmesh_atls_peer_result *src)
{
    vmesh_err rc = VMESH_OK;
    vmesh_atls_peer_result r;

    vmesh_atls_peer_result_init(&r);
    r.tv = src->tv;
    r.tier = src->tier;
    r.mode = src->mode;
    memcpy(r.reason, src->reason, sizeof(r.reason));
    memcpy(r.verifier, src->verifier, sizeof(r.verifier));
    memcpy(r.policy_digest, src->policy_digest, sizeof(r.policy_digest));
    memcpy(r.accepted.ak_nonce, src->accepted.ak_nonce, sizeof(r.accepted.ak_nonce));
    r.accepted.evidence_age = src->accepted.evidence_age;
    VMESH_GUARD(vmesh_buf_set(&r.accepted.media_type, src->accepted.media_type.data, src->accepted.media_type.len));
    if (r.accepted.media_type.len > 0)
        VMESH_GUARD(vmesh_buf_terminate(&r.accepted.media_type));
    VMESH_GUARD(vmesh_buf_set(&r.accepted.cmw, src->accepted.cmw.data, src->accepted.cmw.len));
    VMESH_GUARD(vmesh_buf_set(&r.accepted.journal, src->accepted.journal.data, src->accepted.journal.len));
    r.accepted.lifetime = src->accepted.lifetime;
    vmesh_atls_peer_result_free(dst);
    *dst = r;
    vmesh_atls_peer_result_init(&r);
out:
    vmesh_atls_peer_result_free(&r);
    return rc;
}

vmesh_err vmesh_atls_conn_new(vmesh_atls_config *cfg, int fd, vmesh_atls_conn **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_atls_conn *c = NULL;
    int fl;

    *out = NULL;
    VMESH_ENSURE(cfg != NULL && fd >= 0, VMESH_ERR_ARG, "attested TLS: config and fd required");
    fl = fcntl(fd, F_GETFL);
    VMESH_ENSURE(fl >= 0, VMESH_ERR_ARG, "attested TLS: fd %d: %s", fd, strerror(errno));
    c = calloc(1, sizeof(*c));
    VMESH_ENSURE(c != NULL, VMESH_ERR_NOMEM, "out of memory");
    c->cfg = cfg;
    c->fd = fd;
    c->blocking = !(fl & O_NONBLOCK);
    c->deadline_ns = vmesh_time_mono_ns() + (uint64_t)cfg->deadline_ms * 1000000u;
    c->own_mode = c->peer_mode = -1;
    c->state = ST_TLS;
    vmesh_atls_peer_result_init(&c->result);
    vmesh_buf_init(&c->in, cfg->max_frame + 2 * IO_CHUNK);
    vmesh_buf_init(&c->outq, OUTQ_MAX);
    VMESH_GUARD(vmesh_atls_frame_parser_init(&c->fp, cfg->max_frame));
    c->ssl = SSL_new(cfg->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory");
    }
    /* An empty input BIO means "retry", not end of stream. */
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_app_data(c->ssl, c);
    if (cfg->role == VMESH_ATLS_SERVER)
        SSL_set_accept_state(c->ssl);
    else
        SSL_set_connect_state(c->ssl);
    *out = c;
    c = NULL;
out:
    vmesh_atls_free(c);
    return rc;
}

vmesh_err vmesh_atls_conn_set_session(vmesh_atls_conn *c, vmesh_atls_session *s)
{
    vmesh_err rc = VMESH_OK;

    SSL_SESSION *copy = NULL;

    VMESH_ENSURE(c->cfg->role == VMESH_ATLS_CLIENT && c->state == ST_TLS && SSL_in_before(c->ssl),
                 VMESH_ERR_STATE, "attested TLS: a session is set on a client before its handshake");
    /* A copy: a TLS 1.3 client marks the session it resumed as used up
     * (SSL_CTX_remove_session at the end of the handshake), and the
     * caller's is for the next connections too: our server sends no new
     * ticket after a resumption (ticket_decrypted). */
    copy = SSL_SESSION_dup((SSL_SESSION *)s);
    VMESH_ENSURE(copy != NULL, VMESH_ERR_NOMEM, "attested TLS: cannot copy the session: out of memory");
    if (SSL_set_session(c->ssl, copy) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_ARG, "SSL_set_session");
        goto out;
    }
    if (SSL_SESSION_up_ref((SSL_SESSION *)s) == 1) {
        SSL_SESSION_free(c->offered);
        c->offered = (SSL_SESSION *)s;
    }
out:
    SSL_SESSION_free(copy);
    return rc;
}

vmesh_atls_session *vmesh_atls_conn_get1_session(vmesh_atls_conn *c)
{
    /* the newest ticket; after a resumption without one, the session
     * resumed from, still good for the next connection */
    SSL_SESSION *s = c->last_session;

    if (s == NULL && c->offered != NULL && SSL_session_reused(c->ssl) == 1)
        s = c->offered;
    if (s == NULL || SSL_SESSION_up_ref(s) != 1)
        return NULL;
    return (vmesh_atls_session *)s;
}

void vmesh_atls_session_free(vmesh_atls_session *s)
{
    SSL_SESSION_free((SSL_SESSION *)s);
}

void vmesh_atls_free(vmesh_atls_conn *c)
{
    if (c == NULL)
        return;
    if (c->ssl)
        SSL_set_app_data(c->ssl, NULL);
    SSL_free(c->ssl);
    SSL_SESSION_free(c->last_session);
    SSL_SESSION_free(c->offered);
    vmesh_atls_ext_free(&c->peer_ext);
    vmesh_atls_frame_parser_free(&c->fp);
    vmesh_buf_free(&c->in);
    vmesh_buf_free(&c->outq);
    vmesh_atls_peer_result_free(&c->result);
    free(c->peer_id);
    free(c);
}

/* ---- attestation steps ---------------------------------------------------------------- */

/* Writes bytes on the TLS stream: at 0.5-RTT through SSL_write_early_data
 * (DESIGN §3.2), afterwards SSL_write_ex. Memory BIOs accept everything. */
static vmesh_err tls_send(vmesh_atls_conn *c, const vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    size_t w = 0;
    int ok;

    if (SSL_is_init_finished(c->ssl))
        ok = SSL_write_ex(c->ssl, b->data, b->len, &w);
    else
        ok = SSL_write_early_data(c->ssl, b->data, b->len, &w);
    if (ok != 1 || w != b->len)
        rc = vmesh_err_ssl(VMESH_ERR_IO, "attested TLS: writing a frame");
    return rc;
}

static vmesh_err send_own_attestation(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_atls_msg m;
    vmesh_atls_attest_in in;
    vmesh_buf payload = {0}, frame = {0};
    uint8_t binder[32];
    vmesh_atls_role role = c->cfg->role;

    vmesh_atls_msg_init(&m);
    m.role = role;
    memset(binder, 0, sizeof(binder));
    c->own_keybound = kb_ours(c);
    /* Key-bound: no binder, no AK signature; the session proof is our
     * CertificateVerify, so the AK must be our leaf key (checked below). */
    if (!c->own_keybound)
        VMESH_GUARD(binder_for(c, role, SSL_get_certificate(c->ssl), binder));
    memset(&in, 0, sizeof(in));
    in.keybound = c->own_keybound;
    in.role = role;
    in.mode = (vmesh_atls_mode)c->own_mode;
    in.binder = binder;
    in.peer = &c->peer_ext;
    in.peer_spiffe_id = c->peer_id;
    in.resumed = SSL_session_reused(c->ssl) == 1;
    rc = c->cfg->prov.attest(c->cfg->prov.ctx, &in, &m);
    if (rc == VMESH_OK && c->own_keybound) {
        vmesh_buf leaf = {0};

        m.keybound = true;
        rc = spki_of(SSL_get_certificate(c->ssl), &leaf);
        if (rc == VMESH_OK && (leaf.len != m.ak_spki.len || memcmp(leaf.data, m.ak_spki.data, leaf.len) != 0))
            rc = vmesh_err_set(VMESH_ERR_MISMATCH, "key-bound attestation: our TLS leaf key is not the "
                                                   "attestation key (SVID rotated without the agent's key?)");
        vmesh_buf_free(&leaf);
    }
    if (rc == VMESH_OK)
        rc = vmesh_atls_msg_encode(&m, &payload);
    if (rc == VMESH_OK)
        rc = vmesh_atls_frame_encode(VMESH_ATLS_FRAME_ATTESTATION, payload.data, payload.len,
                                     &frame);
    if (rc != VMESH_OK) {
        rc = fail(c, VMESH_ATLS_R_INTERNAL, rc, true, "could not attest: %s", vmesh_err_detail());
        goto out;
    }
    VMESH_GUARD(tls_send(c, &frame));
    c->we_attest = true;
out:
    vmesh_atls_msg_free(&m);
    vmesh_buf_free(&payload);
    vmesh_buf_free(&frame);
    return rc;
}

static vmesh_err send_frame(vmesh_atls_conn *c, uint8_t type)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf frame = {0};

    VMESH_GUARD(vmesh_atls_frame_encode(type, NULL, 0, &frame));
    VMESH_GUARD(tls_send(c, &frame));
out:
    vmesh_buf_free(&frame);
    return rc;
}

static void admit_unattested(vmesh_atls_conn *c)
{
    c->peer_mode = VMESH_ATLS_MODE_NONE;
    c->result.tier = VMESH_TIER_NONE;
    c->result.mode = VMESH_ATLS_MODE_NONE;
    snprintf(c->result.reason, sizeof(c->result.reason), "%s",
             c->cfg->prov.n_accept_modes ? "unattested peer admitted by policy"
                                         : "peer attestation not requested");
    c->result_set = true;
}

/* Whether a peer that does not attest is acceptable. */
static bool unattested_ok(const vmesh_atls_conn *c)
{
    return c->cfg->prov.n_accept_modes == 0 || c->cfg->prov.allow_unattested;
}

/* The verified peer certificate's SPIFFE ID, checked against the pattern. */
static vmesh_err check_peer_identity(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    long vr = SSL_get_verify_result(c->ssl);

    if (peer == NULL || vr != X509_V_OK) {
        rc = fail(c, VMESH_ATLS_R_PEER_IDENTITY, VMESH_ERR_POLICY, true,
                  "peer certificate %s", peer ? X509_verify_cert_error_string(vr) : "missing");
        goto out;
    }
    if (vmesh_pki_spiffe_id_from_cert(peer, &c->peer_id) != VMESH_OK) {
        rc = fail(c, VMESH_ATLS_R_PEER_IDENTITY, VMESH_ERR_POLICY, true,
                  "peer certificate is not an X509-SVID: %s", vmesh_err_detail());
        goto out;
    }
    if (c->cfg->peer_pattern && !vmesh_pki_spiffe_match(c->cfg->peer_pattern, c->peer_id))
        rc = fail(c, VMESH_ATLS_R_PEER_IDENTITY, VMESH_ERR_POLICY, true,
                  "peer %s does not match the expected %s", c->peer_id, c->cfg->peer_pattern);
out:
    return rc;
}

/* The decision the server takes at 0.5-RTT, when ClientHello is known. */
static vmesh_err srv_half_rtt(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;
    const vmesh_atls_provider *p = &c->cfg->prov;

    /* Frames flow only when both hellos carried 0xff4d: theirs and our EE. */
    c->framing = c->peer_ext_seen && c->ext_sent;
    c->inband = c->framing && c->cfg->reattest && c->peer_ext.reattest;
    c->peer_attests = c->framing && c->peer_ext.will_attest && p->n_accept_modes > 0;
    if (!c->peer_attests && !unattested_ok(c)) {
        rc = fail(c, VMESH_ATLS_R_UNATTESTED_REFUSED, VMESH_ERR_POLICY, true,
                  "the client does not attest (%s) and policy requires attestation",
                  c->framing ? "will-attest false" : "no 0xff4d extension");
        goto out;
    }
    /* Evidence privacy (vmesh_atls_config_set_evidence_after_auth): the
     * client has proved nothing yet, so nothing about our platform leaves
     * and no evidence is made for it until ST_SRV_FINISH. */
    c->defer_evidence = c->cfg->evidence_after_auth;
    /* Fresh evidence is made for this connection alone: to a client that
     * has proved nothing yet, only at the configured rate; beyond it, ours
     * waits for the client's SVID (one round trip later, as above). */
    if (c->framing && c->own_mode == VMESH_ATLS_MODE_FRESH && !c->defer_evidence &&
        !fresh_hello_take(c->cfg))
        c->defer_evidence = true;
    if (c->framing && c->own_mode >= 0 && !c->defer_evidence)
        VMESH_GUARD(send_own_attestation(c));
    c->state = ST_SRV_FINISH;
    /* Our flight and the attestation leave now; WANT_WRITE is taken up by
     * the next read, which flushes first. */
    rc = flush_out(c);
    if (rc == VMESH_ERR_WANT_WRITE)
        rc = VMESH_OK;
out:
    return rc;
}

static vmesh_err cli_after_connect(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;
    const vmesh_atls_provider *p = &c->cfg->prov;

    /* The server may send 0xff4d in EE only in answer to ours (RFC 8446
     * §4.2: "Implementations MUST NOT send extension responses if the
     * remote endpoint did not send the corresponding extension requests"). */
    c->framing = c->peer_ext_seen && c->ext_sent;
    c->inband = c->framing && c->cfg->reattest && c->peer_ext.reattest;
    VMESH_GUARD(check_peer_identity(c));
    c->peer_attests = c->framing && p->n_accept_modes > 0 && c->peer_ext.will_attest;
    if (!c->peer_attests && !unattested_ok(c)) {
        rc = fail(c, VMESH_ATLS_R_UNATTESTED_REFUSED, VMESH_ERR_POLICY, true,
                  "the server does not attest (%s) and policy requires attestation",
                  c->framing ? "will-attest false" : "no 0xff4d extension");
        goto out;
    }
    if (c->framing && can_attest(p) && c->peer_ext.n_modes > 0) {
        c->own_mode = choose_mode(p, &c->peer_ext);
        if (c->own_mode < 0) {
            rc = fail(c, VMESH_ATLS_R_MODE_REFUSED, VMESH_ERR_POLICY, true,
                      "the server accepts none of the modes this client can attest in");
            goto out;
        }
    }
    c->expect_att = c->peer_attests;
    c->expect_verdict = false;
    c->state = ST_READ_PEER;
out:
    return rc;
}

/* The checks and the appraisal common to the handshake and re-attestation:
 * message p/n, whose proof must verify over `binder`; on acceptance *res
 * holds the outcome and what was accepted. Any refusal fails the
 * connection. */
static vmesh_err judge_attestation(vmesh_atls_conn *c, const uint8_t *p, size_t n, const uint8_t *binder,
                                   uint64_t reattest, vmesh_atls_peer_result *res)
{
    uint8_t hs_binder[32] = {0};
    vmesh_buf leaf = {0};
    vmesh_err rc = VMESH_OK;
    vmesh_atls_msg m;
    vmesh_atls_appraise_in in;
    vmesh_atls_reason reason = VMESH_ATLS_R_NONE;
    vmesh_atls_role peer_role = c->cfg->role == VMESH_ATLS_SERVER ? VMESH_ATLS_CLIENT
                                                                   : VMESH_ATLS_SERVER;
    const vmesh_atls_provider *pv = &c->cfg->prov;
    vmesh_err prc;

    vmesh_atls_msg_init(&m);
    if (vmesh_atls_msg_decode(p, n, &m) != VMESH_OK) {
        rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true, "%s", vmesh_err_detail());
        goto out;
    }
    /* DESIGN §3.2: "the role byte stops reflection". */
    if (m.role != peer_role) {
        rc = fail(c, VMESH_ATLS_R_ROLE_MISMATCH, VMESH_OK, true,
                  "attestation message claims role %s, expected %s (reflected?)",
                  m.role == VMESH_ATLS_SERVER ? "server" : "client",
                  peer_role == VMESH_ATLS_SERVER ? "server" : "client");
        goto out;
    }
    if (m.keybound) {
        /* Key-bound (version 3): the AK must be the key of the peer
         * certificate whose CertificateVerify signed this handshake's
         * transcript; only then is the message bound to this session. */
        if (!(c->kb_sent & VMESH_ATLS_KB_ACCEPT) || !c->kb_seen || !(c->kb_peer & VMESH_ATLS_KB_ATTEST)) {
            rc = fail(c, VMESH_ATLS_R_MODE_REFUSED, VMESH_OK, true,
                      "key-bound attestation (version 3) was not negotiated: %s",
                      !(c->kb_sent & VMESH_ATLS_KB_ACCEPT) ? "this side does not accept it (no 0xff4e accept)"
                                                           : "the peer did not announce it (0xff4e)");
            goto out;
        }
        if (reattest != 0 || SSL_session_reused(c->ssl) == 1) {
            rc = fail(c, VMESH_ATLS_R_BINDER_MISMATCH, VMESH_OK, true,
                      "key-bound attestation on a %s: no CertificateVerify proves the key in it; "
                      "a version 2 message with a session proof is required",
                      reattest ? "re-attestation" : "resumed session");
            goto out;
        }
        VMESH_GUARD(spki_of(SSL_get0_peer_certificate(c->ssl), &leaf));
        if (leaf.len != m.ak_spki.len || memcmp(leaf.data, m.ak_spki.data, leaf.len) != 0) {
            rc = fail(c, VMESH_ATLS_R_AK_MISMATCH, VMESH_OK, true,
                      "key-bound attestation: the AK is not the key of the peer's certificate "
                      "(relayed from another session or another key?)");
            goto out;
        }
        binder = hs_binder; /* unused: zeros */
    } else {
        if (binder == NULL) {
            VMESH_GUARD(binder_for(c, peer_role, SSL_get0_peer_certificate(c->ssl), hs_binder));
            binder = hs_binder;
        }
        if (vmesh_atls_proof_verify(&m, binder) != VMESH_OK) {
            rc = fail(c, VMESH_ATLS_R_BINDER_MISMATCH, VMESH_OK, true, "%s", vmesh_err_detail());
            goto out;
        }
    }
    if (!media_type_ok(pv, (const char *)m.media_type.data)) {
        rc = fail(c, VMESH_ATLS_R_MEDIA_TYPE_REFUSED, VMESH_OK, true,
                  "evidence media type \"%s\" is not one this relying party appraises",
                  (const char *)m.media_type.data);
        goto out;
    }
    if (m.fresh ? !accepts_mode(pv, VMESH_ATLS_MODE_FRESH)
                : !accepts_mode(pv, VMESH_ATLS_MODE_EPOCH_FRESH) &&
                      !accepts_mode(pv, VMESH_ATLS_MODE_PASSPORT)) {
        rc = fail(c, VMESH_ATLS_R_MODE_REFUSED, VMESH_OK, true,
                  "%s freshness is not accepted by policy", m.fresh ? "fresh" : "epoch");
        goto out;
    }
    memset(&in, 0, sizeof(in));
    in.msg = &m;
    in.binder = binder;
    in.peer_role = peer_role;
    in.peer_spiffe_id = c->peer_id;
    in.resumed = SSL_session_reused(c->ssl) == 1;
    in.reattest = reattest;
    in.keybound = m.keybound;
    in.peer_kb_capable = c->kb_seen && (c->kb_peer & VMESH_ATLS_KB_ATTEST);
    VMESH_GUARD(vmesh_atls_ak_nonce(m.ak_spki.data, m.ak_spki.len, m.fresh ? binder : m.epoch_nonce.data,
                                    m.fresh ? 32 : m.epoch_nonce.len, in.ak_nonce));
    vmesh_buf_reset(&res->accepted.media_type);
    vmesh_buf_reset(&res->accepted.cmw);
    vmesh_buf_reset(&res->accepted.journal);
    res->accepted.evidence_age = 0;
    res->accepted.lifetime = 0;
    res->reason[0] = 0;
    res->mode = -1;
    prc = pv->appraise(pv->ctx, &in, res, &reason);
    if (prc == VMESH_OK && res == &c->result)
        c->appraised = true;
    if (prc != VMESH_OK) {
        rc = fail(c, VMESH_ATLS_R_INTERNAL, VMESH_ERR_POLICY, true, "appraisal failed: %s",
                  vmesh_err_detail());
        goto out;
    }
    if (reason != VMESH_ATLS_R_NONE) {
        rc = fail(c, reason, VMESH_OK, true, "%s",
                  res->reason[0] ? res->reason : vmesh_atls_reason_name(reason));
        goto out;
    }
    if (res->mode < 0 || res->mode > VMESH_ATLS_MODE_PASSPORT ||
        !accepts_mode(pv, res->mode) ||
        (res->mode == VMESH_ATLS_MODE_FRESH) != m.fresh) {
        rc = fail(c, VMESH_ATLS_R_MODE_REFUSED, VMESH_OK, true,
                  "appraised as mode %s, which policy or the message's freshness does not allow",
                  vmesh_atls_mode_name(res->mode));
        goto out;
    }
    /* Keep what was accepted with the result (vmesh_atls_accepted): the
     * message's buffers move, nothing is copied. */
    swap_buf(&res->accepted.media_type, &m.media_type);
    swap_buf(&res->accepted.cmw, &m.cmw);
    memcpy(res->accepted.ak_nonce, in.ak_nonce, sizeof(in.ak_nonce));
    if (res == &c->result)
        c->peer_keybound = m.keybound;
out:
    vmesh_atls_msg_free(&m);
    vmesh_buf_free(&leaf);
    OPENSSL_cleanse(hs_binder, sizeof(hs_binder));
    return rc;
}

/* Checks and appraises the peer's attestation message of the preamble. */
static vmesh_err accept_attestation(vmesh_atls_conn *c, const uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;

    /* the binder (an exporter call) is computed only for a version 2 message */
    VMESH_GUARD(judge_attestation(c, p, n, NULL, 0, &c->result));
    c->peer_mode = c->result.mode;
    c->result_set = true;
    c->st.last_attested = vmesh_time_now();
out:
    return rc;
}

/* Reads one complete frame of the preamble into c->fp. */
static vmesh_err read_frame(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK, frc;
    uint8_t chunk[IO_CHUNK];
    size_t used, got;
    int ret;

    for (;;) {
        if (c->in_off < c->in.len) {
            frc = vmesh_atls_frame_parser_feed(&c->fp, c->in.data + c->in_off,
                                               c->in.len - c->in_off, &used);
            c->in_off += used;
            if (c->in_off == c->in.len) {
                vmesh_buf_reset(&c->in);
                c->in_off = 0;
            }
            if (frc == VMESH_OK)
                goto out;
            if (frc != VMESH_ERR_WANT_READ) {
                rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true, "%s", vmesh_err_detail());
                goto out;
            }
        }
        ret = SSL_read_ex(c->ssl, chunk, sizeof(chunk), &got);
        if (ret == 1) {
            VMESH_GUARD(vmesh_buf_append(&c->in, chunk, got));
            continue;
        }
        rc = ssl_progress(c, SSL_get_error(c->ssl, ret), "reading the attestation preamble");
        if (rc == VMESH_ERR_CLOSED) {
            rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_ERR_CLOSED, false,
                      "the peer closed the connection during attestation%s",
                      c->fp.hdr_len > 0 ? " (truncated frame)" : "");
            goto out;
        }
        if (rc != VMESH_OK)
            goto out;
    }
out:
    return rc;
}

/* The peer's attestation-failed frame: it refused us. */
static vmesh_err peer_refused(vmesh_atls_conn *c)
{
    uint32_t reason = 0;
    char msg[VMESH_ATLS_FAIL_MESSAGE_MAX + 1];

    if (vmesh_atls_failed_decode(c->fp.payload.data, c->fp.payload.len, &reason, msg) !=
        VMESH_OK) {
        reason = VMESH_ATLS_R_MALFORMED;
        snprintf(msg, sizeof(msg), "(unreadable attestation-failed frame)");
    }
    c->fail_by_peer = true;
    return fail(c, reason ? reason : VMESH_ATLS_R_INTERNAL, VMESH_ERR_POLICY, false, "%s", msg);
}

/* Reads the expected preamble frames (c->expect_att, c->expect_verdict). */
static vmesh_err read_peer(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;

    while (c->expect_att || c->expect_verdict) {
        VMESH_GUARD(read_frame(c));
        if (c->fp.type == VMESH_ATLS_FRAME_FAILED) {
            rc = peer_refused(c);
            goto out;
        }
        if (c->expect_att) {
            if (c->fp.type != VMESH_ATLS_FRAME_ATTESTATION) {
                rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true,
                          "expected an attestation frame, got frame type %u", c->fp.type);
                goto out;
            }
            VMESH_GUARD(accept_attestation(c, c->fp.payload.data, c->fp.payload.len));
            c->expect_att = false;
        } else {
            if (c->fp.type != VMESH_ATLS_FRAME_ACCEPTED) {
                rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true,
                          "expected an attestation-accepted frame, got frame type %u",
                          c->fp.type);
                goto out;
            }
            c->expect_verdict = false;
        }
        vmesh_atls_frame_parser_reset(&c->fp);
    }
out:
    return rc;
}

/* Once established, the memory the handshake needed (memory BIOs grown to
 * a flight of certificates and evidence, the frame parser) is given back:
 * a mesh holds thousands of mostly idle connections. Only what is empty is
 * replaced, so no byte is lost. */
static void release_handshake_memory(vmesh_atls_conn *c)
{
    vmesh_atls_frame_parser_free(&c->fp);
    if (vmesh_atls_frame_parser_init(&c->fp, c->cfg->max_frame) != VMESH_OK)
        vmesh_err_clear();
    /* The client still reads the server's verdict (preamble) first. */
    c->fp.inband = c->inband && !c->verdict_pending;
    if (c->in_off == c->in.len) {
        vmesh_buf_free(&c->in);
        c->in_off = 0;
    }
    if (BIO_ctrl_pending(c->rbio) == 0 && BIO_ctrl_pending(c->wbio) == 0) {
        BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
        if (r != NULL && w != NULL) {
            BIO_set_mem_eof_return(r, -1);
            SSL_set_bio(c->ssl, r, w); /* frees the old pair */
            c->rbio = r;
            c->wbio = w;
        } else {
            BIO_free(r);
            BIO_free(w);
        }
    }
}

/* Both sides, once the peer was judged: our frames, then established. */
static vmesh_err finish_preamble(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;

    if (!c->result_set)
        admit_unattested(c);
    if (c->framing) {
        if (c->cfg->role == VMESH_ATLS_CLIENT && c->own_mode >= 0)
            VMESH_GUARD(send_own_attestation(c));
        VMESH_GUARD(send_frame(c, VMESH_ATLS_FRAME_ACCEPTED));
        /* The server's verdict on us comes with the client's first read. */
        c->verdict_pending = c->cfg->role == VMESH_ATLS_CLIENT;
    }
    c->state = ST_ESTABLISHED;
    rc = flush_out(c);
    if (rc == VMESH_ERR_WANT_WRITE)
        rc = VMESH_OK; /* queued; flushed by the next call */
    release_handshake_memory(c);
out:
    return rc;
}

/* ---- the state machine ------------------------------------------------------------------- */

static vmesh_err step(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;
    uint8_t dummy[1];
    size_t n = 0;
    int r, e;

    switch (c->state) {
    case ST_TLS:
        if (c->cfg->role == VMESH_ATLS_CLIENT) {
            r = SSL_connect(c->ssl);
            if (r == 1) {
                    rc = flush_out(c);
                if (rc == VMESH_OK || rc == VMESH_ERR_WANT_WRITE)
                    rc = cli_after_connect(c);
            } else {
                rc = ssl_progress(c, SSL_get_error(c->ssl, r), "TLS handshake");
            }
            break;
        }
        /* DESIGN §3.2: the server "loops on SSL_read_early_data() (max_early_data
         * left at 0) until its first SUCCESS/FINISH; once
         * SSL_export_keying_material() returns 1 the exporter is final". */
        r = SSL_read_early_data(c->ssl, dummy, sizeof(dummy), &n);
        if (r == SSL_READ_EARLY_DATA_ERROR) {
            rc = ssl_progress(c, SSL_get_error(c->ssl, 0), "TLS handshake");
        } else if (n > 0) {
            VMESH_FAIL(VMESH_ERR_PARSE, "attested TLS: the client sent 0-RTT data, which is off");
        } else if (exporter_ready(c)) {
            rc = srv_half_rtt(c);
        } else if (r == SSL_READ_EARLY_DATA_FINISH) {
            /* "After a HelloRetryRequest, FINISH comes before the server's
             * Finished and the export fails: drive SSL_do_handshake()". */
            c->state = ST_SRV_HRR;
        }
        break;
    case ST_SRV_HRR:
        r = SSL_do_handshake(c->ssl);
        e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        if (r == 1 || (e == SSL_ERROR_WANT_READ && exporter_ready(c)))
            rc = srv_half_rtt(c);
        else
            rc = ssl_progress(c, e, "TLS handshake");
        break;
    case ST_SRV_FINISH:
        r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            rc = ssl_progress(c, SSL_get_error(c->ssl, r), "TLS handshake");
            break;
        }
        /* Only now is the client authenticated (its Certificate,
         * CertificateVerify and Finished were read). */
        VMESH_GUARD(check_peer_identity(c));
        if (c->framing && c->own_mode >= 0 && c->defer_evidence) {
            /* the client holds an acceptable SVID: our attestation goes
             * now, one round trip later for the client than at 0.5-RTT */
            VMESH_GUARD(send_own_attestation(c));
            rc = flush_out(c);
            if (rc == VMESH_ERR_WANT_WRITE)
                rc = VMESH_OK;
            VMESH_GUARD(rc);
        }
        c->expect_att = c->peer_attests;
        c->expect_verdict = c->framing;
        c->state = ST_READ_PEER;
        break;
    case ST_READ_PEER:
        VMESH_GUARD(read_peer(c));
        rc = finish_preamble(c);
        break;
    default: VMESH_FAIL(VMESH_ERR_STATE, "attested TLS: bad state %d", (int)c->state);
    }
out:
    return rc;
}

vmesh_err vmesh_atls_handshake(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;

    for (;;) {
        switch (c->state) {
        case ST_ESTABLISHED:
            rc = flush_out(c);
            goto out;
        case ST_FAILING:
            rc = fail_flush(c);
            goto out;
        case ST_FAILED:
            rc = vmesh_err_set(c->fail_err, "%s", c->fail_detail);
            goto out;
        default: break;
        }
        if (deadline_left_ms(c) == 0) {
            (void)fail_tls(c, VMESH_ERR_TIMEOUT);
            continue;
        }
        rc = step(c);
        if (rc == VMESH_OK || c->state >= ST_FAILING)
            continue;
        if (rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE)
            goto out;
        /* TLS-level failure (handshake alert, I/O, deadline in a wait). */
        (void)fail_tls(c, rc);
    }
out:
    return rc;
}

int64_t vmesh_atls_timeout_ms(const vmesh_atls_conn *c)
{
    if (!in_handshake(c))
        return -1;
    return (int64_t)deadline_left_ms(c);
}

/* ---- application data ----------------------------------------------------------------------- */

static vmesh_err app_state(vmesh_atls_conn *c)
{
    if (c->state == ST_ESTABLISHED)
        return VMESH_OK;
    if (c->state >= ST_FAILING)
        return vmesh_err_set(c->fail_err, "%s", c->fail_detail);
    return vmesh_err_set(VMESH_ERR_STATE, "attested TLS: handshake not complete");
}

/* ---- re-attestation: the in-band stream ------------------------------------------------ */

static void consume_in(vmesh_atls_conn *c, size_t k)
{
    c->in_off += k;
    if (c->in_off == c->in.len) {
        vmesh_buf_reset(&c->in);
        c->in_off = 0;
    }
}

/* The re-attestation binder of request (counter, nonce) for the answering
 * side `role`, whose leaf is `leaf`. */
static vmesh_err reattest_binder_for(vmesh_atls_conn *c, vmesh_atls_role role, X509 *leaf, uint64_t counter,
                                     const uint8_t *nonce, size_t nonce_len, uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    uint8_t exporter[32], ctxb[1 + 8 + VMESH_ATLS_REATTEST_NONCE_MAX];
    size_t ctxn = vmesh_atls_reattest_context(role, counter, nonce, nonce_len, ctxb);
    vmesh_buf spki = {0};

    VMESH_GUARD(spki_of(leaf, &spki));
    VMESH_ENSURE(SSL_export_keying_material(c->ssl, exporter, sizeof(exporter), VMESH_ATLS_REATTEST_EXPORTER_LABEL,
                                            sizeof(VMESH_ATLS_REATTEST_EXPORTER_LABEL) - 1, ctxb, ctxn, 1) == 1,
                 VMESH_ERR_STATE, "attested TLS: the exporter is not available");
    vmesh_atls_reattest_binder_compute(role, exporter, spki.data, spki.len, out);
    OPENSSL_cleanse(exporter, sizeof(exporter));
out:
    vmesh_buf_free(&spki);
    return rc;
}

/* The peer asks us for a new attestation: answer it, bound to its request. */
static vmesh_err answer_request(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;
    uint64_t counter;
    const uint8_t *nonce;
    size_t nonce_len;
    uint8_t binder[32];
    vmesh_atls_msg m;
    vmesh_atls_attest_in in;
    vmesh_buf msg = {0}, payload = {0}, frame = {0};

    vmesh_atls_msg_init(&m);
    if (vmesh_atls_reattest_request_decode(c->fp.payload.data, c->fp.payload.len, &counter, &nonce, &nonce_len) !=
        VMESH_OK) {
        rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true, "%s", vmesh_err_detail());
        goto out;
    }
    c->st.bytes_in += VMESH_ATLS_FRAME_HEADER + c->fp.payload.len;
    if (counter <= c->peer_rq_counter) {
        rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true,
                  "re-attestation request counter %llu is not above the previous %llu", (unsigned long long)counter,
                  (unsigned long long)c->peer_rq_counter);
        goto out;
    }
    c->peer_rq_counter = counter;
    if (!c->we_attest || c->own_mode < 0) {
        rc = fail(c, VMESH_ATLS_R_MODE_REFUSED, VMESH_OK, true,
                  "asked to re-attest, but this side did not attest at the handshake");
        goto out;
    }
    VMESH_GUARD(reattest_binder_for(c, c->cfg->role, SSL_get_certificate(c->ssl), counter, nonce, nonce_len,
                                    binder));
    m.role = c->cfg->role;
    memset(&in, 0, sizeof(in));
    in.role = c->cfg->role;
    in.mode = (vmesh_atls_mode)c->own_mode;
    in.binder = binder;
    in.peer = &c->peer_ext;
    in.peer_spiffe_id = c->peer_id;
    in.resumed = SSL_session_reused(c->ssl) == 1;
    in.reattest = counter;
    rc = c->cfg->prov.attest(c->cfg->prov.ctx, &in, &m);
    if (rc == VMESH_OK)
        rc = vmesh_atls_msg_encode(&m, &msg);
    if (rc == VMESH_OK)
        rc = vmesh_atls_reattest_answer_encode(counter, msg.data, msg.len, &payload);
    if (rc == VMESH_OK)
        rc = vmesh_atls_frame_encode(VMESH_ATLS_FRAME_REATTEST_ANSWER, payload.data, payload.len, &frame);
    if (rc != VMESH_OK) {
        c->reattesting = true;
        rc = fail(c, VMESH_ATLS_R_INTERNAL, rc, true, "could not re-attest: %s", vmesh_err_detail());
        goto out;
    }
    VMESH_GUARD(tls_send(c, &frame));
    c->st.answers_sent++;
    c->st.bytes_out += frame.len;
    rc = flush_out(c);
    if (rc == VMESH_ERR_WANT_WRITE)
        rc = VMESH_OK;
out:
    OPENSSL_cleanse(binder, sizeof(binder));
    vmesh_atls_msg_free(&m);
    vmesh_buf_free(&msg);
    vmesh_buf_free(&payload);
    vmesh_buf_free(&frame);
    return rc;
}

/* The peer's answer to our outstanding request: check it is the answer to
 * THIS request on THIS connection, then appraise it like a handshake's. */
static vmesh_err take_answer(vmesh_atls_conn *c)
{
    vmesh_err rc = VMESH_OK;
    uint64_t counter;
    const uint8_t *msg;
    size_t msg_len;
    uint8_t binder[32];
    vmesh_atls_role peer_role = c->cfg->role == VMESH_ATLS_SERVER ? VMESH_ATLS_CLIENT : VMESH_ATLS_SERVER;
    vmesh_atls_peer_result res;
    uint64_t now;

    vmesh_atls_peer_result_init(&res);
    c->reattesting = true;
    if (vmesh_atls_reattest_answer_decode(c->fp.payload.data, c->fp.payload.len, &counter, &msg, &msg_len) !=
        VMESH_OK) {
        rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true, "%s", vmesh_err_detail());
        goto out;
    }
    c->st.bytes_in += VMESH_ATLS_FRAME_HEADER + c->fp.payload.len;
    if (!c->rq_pending) {
        rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true,
                  "re-attestation answer (counter %llu) without an outstanding request", (unsigned long long)counter);
        goto out;
    }
    if (counter != c->rq_counter) {
        rc = fail(c, VMESH_ATLS_R_BINDER_MISMATCH, VMESH_OK, true,
                  "re-attestation answer names request %llu, the outstanding request is %llu (replayed?)",
                  (unsigned long long)counter, (unsigned long long)c->rq_counter);
        goto out;
    }
    VMESH_GUARD(reattest_binder_for(c, peer_role, SSL_get0_peer_certificate(c->ssl), c->rq_counter, c->rq_nonce,
                                    sizeof(c->rq_nonce), binder));
    VMESH_GUARD(judge_attestation(c, msg, msg_len, binder, counter, &res));
    vmesh_atls_peer_result_free(&c->result);
    c->result = res;
    vmesh_atls_peer_result_init(&res);
    c->peer_mode = c->result.mode;
    now = vmesh_time_mono_ns();
    c->rq_pending = false;
    c->st.answers_accepted++;
    c->st.last_attested = vmesh_time_now();
    c->st.last_rtt_us = (now - c->rq_sent_ns) / 1000u;
    c->reattesting = false;
out:
    OPENSSL_cleanse(binder, sizeof(binder));
    vmesh_atls_peer_result_free(&res);
    return rc;
}

/* A complete in-band frame in c->fp (a data frame: its header). */
static vmesh_err inband_frame(vmesh_atls_conn *c)
{
    switch (c->fp.type) {
    case VMESH_ATLS_FRAME_DATA: c->data_left = c->fp.need; return VMESH_OK;
    case VMESH_ATLS_FRAME_REATTEST_REQUEST: return answer_request(c);
    case VMESH_ATLS_FRAME_REATTEST_ANSWER: return take_answer(c);
    case VMESH_ATLS_FRAME_FAILED: c->reattesting = true; return peer_refused(c);
    default:
        return fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true, "frame type %u after the preamble", c->fp.type);
    }
}

static vmesh_err reattest_expire(vmesh_atls_conn *c)
{
    c->reattesting = true;
    return fail(c, VMESH_ATLS_R_TIMEOUT, VMESH_ERR_TIMEOUT, true,
                "the peer did not answer re-attestation request %llu within %u ms", (unsigned long long)c->rq_counter,
                c->rq_deadline_ms);
}

/* Application data from the in-band stream: data frames are delivered,
 * requests answered, answers judged, in the order they arrive. */
static vmesh_err inband_read(vmesh_atls_conn *c, uint8_t *buf, size_t n, size_t *got)
{
    vmesh_err rc = VMESH_OK, frc;
    uint8_t chunk[IO_CHUNK];
    size_t want, used, g;
    int r;

    for (;;) {
        if (c->rq_pending && vmesh_time_mono_ns() >= c->rq_deadline_ns) {
            rc = reattest_expire(c);
            goto out;
        }
        if (c->data_left > 0) {
            want = n < c->data_left ? n : c->data_left;
            if (c->in_off < c->in.len) {
                *got = c->in.len - c->in_off < want ? c->in.len - c->in_off : want;
                memcpy(buf, c->in.data + c->in_off, *got);
                consume_in(c, *got);
            } else {
                r = SSL_read_ex(c->ssl, buf, want, got);
                if (r != 1) {
                    rc = ssl_progress(c, SSL_get_error(c->ssl, r), "reading");
                    if (rc == VMESH_OK)
                        continue;
                    goto out;
                }
            }
            c->data_left -= *got;
            goto out;
        }
        /* A frame header, or the payload of a control frame: from what the
         * preamble left over, else exactly what the frame still needs. */
        if (c->in_off < c->in.len) {
            frc = vmesh_atls_frame_parser_feed(&c->fp, c->in.data + c->in_off, c->in.len - c->in_off, &used);
            consume_in(c, used);
        } else {
            want = c->fp.hdr_len < VMESH_ATLS_FRAME_HEADER ? VMESH_ATLS_FRAME_HEADER - c->fp.hdr_len
                                                           : c->fp.need - c->fp.payload.len;
            if (want > sizeof(chunk))
                want = sizeof(chunk);
            r = SSL_read_ex(c->ssl, chunk, want, &g);
            if (r != 1) {
                rc = ssl_progress(c, SSL_get_error(c->ssl, r), "reading");
                if (rc == VMESH_OK)
                    continue;
                goto out;
            }
            frc = vmesh_atls_frame_parser_feed(&c->fp, chunk, g, &used);
        }
        if (frc == VMESH_ERR_WANT_READ)
            continue;
        if (frc != VMESH_OK) {
            rc = fail(c, VMESH_ATLS_R_MALFORMED, VMESH_OK, true, "%s", vmesh_err_detail());
            goto out;
        }
        rc = inband_frame(c);
        vmesh_atls_frame_parser_reset(&c->fp);
        if (rc != VMESH_OK)
            goto out;
    }
out:
    if (rc == VMESH_ERR_TIMEOUT && c->state == ST_ESTABLISHED)
        rc = reattest_expire(c); /* a blocking wait ran into the request's deadline */
    return rc;
}

vmesh_err vmesh_atls_read(vmesh_atls_conn *c, void *buf, size_t n, size_t *got)
{
    vmesh_err rc = VMESH_OK;
    int r;

    *got = 0;
    VMESH_GUARD(app_state(c));
    (void)flush_out(c);
    if (c->verdict_pending) {
        c->expect_verdict = true;
        rc = read_peer(c);
        if (rc != VMESH_OK) {
            if (c->state == ST_FAILING)
                (void)fail_flush(c);
            goto out;
        }
        c->verdict_pending = false;
        c->fp.inband = c->inband;
    }
    if (c->inband) {
        rc = inband_read(c, buf, n, got);
        if (rc != VMESH_OK && c->state == ST_FAILING)
            (void)fail_flush(c);
        goto out;
    }
    if (c->in_off < c->in.len) {
        *got = c->in.len - c->in_off < n ? c->in.len - c->in_off : n;
        memcpy(buf, c->in.data + c->in_off, *got);
        c->in_off += *got;
        if (c->in_off == c->in.len) {
            vmesh_buf_reset(&c->in);
            c->in_off = 0;
        }
        goto out;
    }
    for (;;) {
        r = SSL_read_ex(c->ssl, buf, n, got);
        if (r == 1)
            break;
        VMESH_GUARD(ssl_progress(c, SSL_get_error(c->ssl, r), "reading"));
    }
out:
    return rc;
}

vmesh_err vmesh_atls_write(vmesh_atls_conn *c, const void *buf, size_t n)
{
    vmesh_err rc = VMESH_OK;
    size_t w = 0;

    VMESH_GUARD(app_state(c));
    if (c->outq.len - c->outq_off + BIO_ctrl_pending(c->wbio) > WRITE_BACKPRESSURE)
        VMESH_GUARD(flush_out(c));
    if (c->inband) {
        /* Data frames of at most one TLS record each (header included). */
        uint8_t fr[VMESH_ATLS_DATA_FRAME_MAX];
        const uint8_t *p = buf;

        while (n > 0) {
            size_t take = n < sizeof(fr) - VMESH_ATLS_FRAME_HEADER ? n : sizeof(fr) - VMESH_ATLS_FRAME_HEADER;

            fr[0] = VMESH_ATLS_FRAME_DATA;
            fr[1] = (uint8_t)(take >> 16);
            fr[2] = (uint8_t)(take >> 8);
            fr[3] = (uint8_t)take;
            memcpy(fr + VMESH_ATLS_FRAME_HEADER, p, take);
            if (SSL_write_ex(c->ssl, fr, take + VMESH_ATLS_FRAME_HEADER, &w) != 1 ||
                w != take + VMESH_ATLS_FRAME_HEADER) {
                rc = vmesh_err_ssl(VMESH_ERR_IO, "attested TLS: writing");
                goto out;
            }
            p += take;
            n -= take;
        }
    } else if (n > 0 && (SSL_write_ex(c->ssl, buf, n, &w) != 1 || w != n)) {
        rc = vmesh_err_ssl(VMESH_ERR_IO, "attested TLS: writing");
        goto out;
    }
    rc = flush_out(c);
    if (rc == VMESH_ERR_WANT_WRITE)
        rc = VMESH_OK; /* accepted and queued */
out:
    return rc;
}

vmesh_err vmesh_atls_flush(vmesh_atls_conn *c)
{
    return flush_out(c);
}

vmesh_err vmesh_atls_shutdown(vmesh_atls_conn *c)
{
    if (!c->shutdown_sent && SSL_is_init_finished(c->ssl)) {
        (void)SSL_shutdown(c->ssl);
        ERR_clear_error();
        c->shutdown_sent = true;
    }
    return flush_out(c);
}

/* ---- accessors --------------------------------------------------------------------------------- */

const char *vmesh_atls_peer_spiffe_id(const vmesh_atls_conn *c)
{
    return c->peer_id;
}

int vmesh_atls_peer_mode(const vmesh_atls_conn *c)
{
    return c->peer_mode;
}

bool vmesh_atls_peer_keybound(const vmesh_atls_conn *c)
{
    return c->result_set && c->peer_keybound;
}

bool vmesh_atls_own_keybound(const vmesh_atls_conn *c)
{
    return c->we_attest && c->own_keybound;
}

int vmesh_atls_own_mode(const vmesh_atls_conn *c)
{
    return c->we_attest ? c->own_mode : -1;
}

const vmesh_atls_peer_result *vmesh_atls_peer_result_get(const vmesh_atls_conn *c)
{
    return c->result_set && c->state == ST_ESTABLISHED ? &c->result : NULL;
}

const vmesh_atls_peer_result *vmesh_atls_refused_result(const vmesh_atls_conn *c)
{
    return c->appraised && c->state != ST_ESTABLISHED ? &c->result : NULL;
}

bool vmesh_atls_resumed(const vmesh_atls_conn *c)
{
    return SSL_session_reused(c->ssl) == 1;
}

bool vmesh_atls_negotiated(const vmesh_atls_conn *c)
{
    return c->framing;
}

vmesh_atls_reason vmesh_atls_failure(const vmesh_atls_conn *c, const char **message,
                                     bool *by_peer)
{
    if (message)
        *message = c->fail_msg;
    if (by_peer)
        *by_peer = c->fail_by_peer;
    return (vmesh_atls_reason)c->fail_reason;
}

void *vmesh_atls_conn_ssl(vmesh_atls_conn *c)
{
    return c->ssl;
}

/* ---- re-attestation: API ------------------------------------------------------------------------- */

bool vmesh_atls_reattest_supported(const vmesh_atls_conn *c)
{
    return c->inband && c->state == ST_ESTABLISHED;
}

vmesh_err vmesh_atls_reattest_request(vmesh_atls_conn *c, uint32_t deadline_ms)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf payload = {0}, frame = {0};
    uint64_t now;

    VMESH_GUARD(app_state(c));
    VMESH_ENSURE(c->inband, VMESH_ERR_STATE,
                 "attested TLS: re-attestation was not negotiated on this connection (0xff4d key 4)");
    VMESH_ENSURE(c->peer_mode >= VMESH_ATLS_MODE_EPOCH_FRESH && c->peer_mode <= VMESH_ATLS_MODE_PASSPORT,
                 VMESH_ERR_STATE, "attested TLS: the peer did not attest at the handshake; nothing to renew");
    VMESH_ENSURE(!c->rq_pending, VMESH_ERR_STATE, "attested TLS: re-attestation request %llu is outstanding",
                 (unsigned long long)c->rq_counter);
    VMESH_GUARD(vmesh_crypto_random(c->rq_nonce, sizeof(c->rq_nonce)));
    VMESH_GUARD(vmesh_atls_reattest_request_encode(c->rq_counter + 1, c->rq_nonce, sizeof(c->rq_nonce), &payload));
    VMESH_GUARD(vmesh_atls_frame_encode(VMESH_ATLS_FRAME_REATTEST_REQUEST, payload.data, payload.len, &frame));
    VMESH_GUARD(tls_send(c, &frame));
    c->rq_counter++;
    now = vmesh_time_mono_ns();
    c->rq_pending = true;
    c->rq_sent_ns = now;
    c->rq_deadline_ms = deadline_ms ? deadline_ms : c->cfg->deadline_ms;
    c->rq_deadline_ns = now + (uint64_t)c->rq_deadline_ms * 1000000u;
    c->st.requests_sent++;
    c->st.bytes_out += frame.len;
    rc = flush_out(c);
    if (rc == VMESH_ERR_WANT_WRITE)
        rc = VMESH_OK;
out:
    vmesh_buf_free(&payload);
    vmesh_buf_free(&frame);
    return rc;
}

int64_t vmesh_atls_reattest_timeout_ms(const vmesh_atls_conn *c)
{
    uint64_t now;

    if (!c->rq_pending || c->state != ST_ESTABLISHED)
        return -1;
    now = vmesh_time_mono_ns();
    return now >= c->rq_deadline_ns ? 0 : (int64_t)((c->rq_deadline_ns - now + 999999u) / 1000000u);
}

vmesh_err vmesh_atls_reattest_poll(vmesh_atls_conn *c)
{
    vmesh_err rc;

    if (c->state >= ST_FAILING)
        return vmesh_err_set(c->fail_err, "%s", c->fail_detail);
    if (c->state != ST_ESTABLISHED || !c->rq_pending || vmesh_time_mono_ns() < c->rq_deadline_ns)
        return VMESH_OK;
    rc = reattest_expire(c);
    (void)fail_flush(c);
    return rc;
}

void vmesh_atls_reattest_stats_get(const vmesh_atls_conn *c, vmesh_atls_reattest_stats *out)
{
    *out = c->st;
    out->pending = c->rq_pending;
    out->cut = c->reattesting && c->state >= ST_FAILING;
}
