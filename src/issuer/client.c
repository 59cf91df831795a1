/*
 * The attested SVID issuer's client (DECISIONS D44): a key-bound agent
 * obtains an X509-SVID for its in-memory AK. The bootstrap SVID (files)
 * authenticates this one connection to the issuer; the agent attests over
 * it in fresh mode (its evidence binds ak_nonce(AK, this connection's
 * binder)) and the AK signs the CSR. The answer's leaf must carry our AK
 * and the identity we asked with; anything else is refused here too.
 */
#define _GNU_SOURCE
#include "issuer_int.h"

#include "vmesh/pki.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/pem.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

void iss_client_provider(vmesh_agent *agent, vmesh_atls_provider *p)
{
    vmesh_agent_provider(agent, p);
    p->n_accept_modes = 0; /* we ask nothing of the issuer: its SVID is what we check */
    p->attest_modes = VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_FRESH);
    p->keybound_attest = false;
    p->keybound_accept = false;
    p->allow_unattested = true;
}

static vmesh_err connect_to(const char *addr, uint32_t timeout_ms, int *out)
{
    vmesh_err rc = VMESH_OK;
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = -1, one = 1, err = 0;
    socklen_t el = sizeof(err);
    struct pollfd p;

    *out = -1;
    VMESH_GUARD(vmesh_net_resolve(addr, 0, &ss, &len));
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    VMESH_ENSURE(fd >= 0, VMESH_ERR_IO, "issuer %s: socket: %s", addr, strerror(errno));
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        VMESH_ENSURE(errno == EINPROGRESS, VMESH_ERR_IO, "issuer %s: cannot connect: %s", addr, strerror(errno));
        p.fd = fd;
        p.events = POLLOUT;
        p.revents = 0;
        VMESH_ENSURE(poll(&p, 1, (int)timeout_ms) == 1, VMESH_ERR_TIMEOUT, "issuer %s: no connection within %u ms",
                     addr, timeout_ms);
        VMESH_ENSURE(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0, VMESH_ERR_IO,
                     "issuer %s: cannot connect: %s", addr, strerror(err));
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

vmesh_err iss_client_exchange(const vmesh_issuer_client *c, const vmesh_atls_provider *prov, const vmesh_key *csr_key,
                              const char *csr_id, unsigned nreq, vmesh_issuer_answer *last)
{
    vmesh_err rc = VMESH_OK;
    vmesh_atls_config *tls = NULL;
    vmesh_atls_conn *conn = NULL;
    vmesh_buf csr = {0}, req = {0}, ans = {0};
    uint32_t tmo = c->timeout_ms ? c->timeout_ms : 10000;
    uint64_t dl = vmesh_time_mono_ns() + (uint64_t)tmo * 1000000ULL;
    int fd = -1;
    size_t announced;
    vmesh_err wrc = VMESH_OK;
    char werr[300] = "";

    VMESH_ENSURE(c->addr && c->issuer_id && c->bundle_file, VMESH_ERR_ARG,
                 "issuer client: the address, the issuer's SPIFFE ID and the bundle are required");
    VMESH_GUARD(vmesh_atls_config_new(VMESH_ATLS_CLIENT, &tls));
    if (c->cert_file || c->key_file) {
        rc = vmesh_atls_config_set_svid(tls, c->cert_file, c->key_file);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "the bootstrap SVID");
            goto out;
        }
    }
    VMESH_GUARD(vmesh_atls_config_set_bundle(tls, c->bundle_file));
    VMESH_GUARD(vmesh_atls_config_set_peer_pattern(tls, c->issuer_id));
    VMESH_GUARD(vmesh_atls_config_set_provider(tls, prov));
    vmesh_atls_config_set_deadline_ms(tls, tmo);
    vmesh_atls_config_set_resumption(tls, false);
    VMESH_GUARD(vmesh_issuer_csr_make(csr_key, csr_id, &csr));
    VMESH_GUARD(vmesh_issuer_request_encode(csr.data, csr.len, c->ttl, &req));
    VMESH_GUARD(connect_to(c->addr, tmo, &fd));
    VMESH_GUARD(vmesh_atls_conn_new(tls, fd, &conn));
    rc = iss_handshake(conn, fd);
    if (rc != VMESH_OK) {
        const char *m = NULL;
        bool by_peer = false;
        vmesh_atls_reason r = vmesh_atls_failure(conn, &m, &by_peer);
        if (r != VMESH_ATLS_R_NONE)
            rc = vmesh_err_set(VMESH_ERR_POLICY, "issuer %s %s: %s: %s", c->addr,
                               by_peer ? "refused our attestation" : "failed", vmesh_atls_reason_name(r), m ? m : "");
        else
            vmesh_err_wrap(rc, "issuer %s: TLS handshake", c->addr);
        goto out;
    }
    /* Our handshake ends once we attested; the issuer's verdict comes with
     * the first read. An issuer that refused our attestation (or answered
     * and closed) may have closed before our request went out: the write
     * then fails (EPIPE, reset), but its refusal or answer is still ours to
     * read, and is what we report. */
    for (unsigned i = 0; i < nreq && wrc == VMESH_OK; i++)
        wrc = iss_write_msg(conn, fd, req.data, req.len, dl);
    if (wrc != VMESH_OK && wrc != VMESH_ERR_CLOSED) {
        rc = wrc;
        goto out;
    }
    if (wrc != VMESH_OK)
        snprintf(werr, sizeof(werr), " (sending the request: %s)", vmesh_err_detail());
    for (unsigned i = 0; i < nreq; i++) {
        rc = iss_read_msg(conn, fd, VMESH_ISSUER_ANSWER_MAX, dl, &ans, &announced);
        if (rc == VMESH_ERR_CLOSED)
            rc = vmesh_err_set(VMESH_ERR_CLOSED, "issuer %s closed without an answer%s", c->addr, werr);
        VMESH_GUARD(rc);
        VMESH_GUARD(vmesh_issuer_answer_decode(ans.data, ans.len, last));
    }
    if (vmesh_atls_shutdown(conn) != VMESH_OK)
        vmesh_err_clear();
out:
    vmesh_atls_free(conn);
    if (fd >= 0)
        close(fd);
    vmesh_atls_config_free(tls);
    vmesh_buf_free(&csr);
    vmesh_buf_free(&req);
    vmesh_buf_free(&ans);
    return rc;
}

/* The answer's leaf must be for key and name id; *not_after its expiry. */
static vmesh_err check_leaf(const vmesh_buf *chain, const vmesh_key *key, const char *id, int64_t *not_after)
{
    vmesh_err rc = VMESH_OK;
    BIO *b = BIO_new_mem_buf(chain->data, (int)chain->len);
    X509 *leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    char *got = NULL;
    struct tm tm;

    VMESH_ENSURE(leaf != NULL, VMESH_ERR_PARSE, "the issuer's chain does not start with a PEM certificate");
    VMESH_ENSURE(EVP_PKEY_eq(X509_get0_pubkey(leaf), vmesh_crypto_key_evp(key)) == 1, VMESH_ERR_MISMATCH,
                 "the issuer's leaf is not for our AK");
    VMESH_GUARD(vmesh_pki_spiffe_id_from_cert(leaf, &got));
    VMESH_ENSURE(id == NULL || strcmp(got, id) == 0, VMESH_ERR_MISMATCH, "the issuer's leaf names %s, we are %s", got,
                 id);
    VMESH_ENSURE(ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1, VMESH_ERR_PARSE, "the leaf's notAfter");
    if (not_after)
        *not_after = (int64_t)timegm(&tm);
out:
    if (rc != VMESH_OK)
        ERR_clear_error();
    free(got);
    X509_free(leaf);
    BIO_free(b);
    return rc;
}

vmesh_err vmesh_issuer_obtain(const vmesh_issuer_client *c, vmesh_agent *agent, vmesh_buf *chain_pem,
                              int64_t *not_after)
{
    vmesh_err rc = VMESH_OK;
    vmesh_atls_provider prov;
    vmesh_key *ak = NULL;
    vmesh_issuer_answer a;
    char *me = NULL;

    vmesh_issuer_answer_init(&a);
    VMESH_GUARD(vmesh_agent_tls_key(agent, &ak));
    if (c->cert_file)
        VMESH_GUARD(vmesh_pki_spiffe_id_from_pem_file(c->cert_file, &me));
    iss_client_provider(agent, &prov);
    VMESH_GUARD(iss_client_exchange(c, &prov, ak, NULL, 1, &a));
    VMESH_ENSURE(a.status == 200, VMESH_ERR_POLICY, "issuer %s refused the request: %u %s: %s", c->addr, a.status, a.name,
                 a.detail);
    VMESH_GUARD(check_leaf(&a.chain, ak, me, not_after));
    VMESH_GUARD(vmesh_buf_set(chain_pem, a.chain.data, a.chain.len));
out:
    free(me);
    vmesh_issuer_answer_free(&a);
    vmesh_crypto_key_free(ak);
    return rc;
}
