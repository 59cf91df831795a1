/*
 * The vmesh ipsec gateway (docs/IPSEC.md): one thread per peer gateway that
 * attests (initiator side), installs the attestation-derived credential
 * into charon, watches charon's SAs, re-keys at each epoch make-before-
 * break and cuts the peer off when a re-appraisal or re-attestation fails;
 * an accept thread that serves peers dialing us (responder side); the
 * relying-party plumbing (local verifier, RV files, bundle sync, bell,
 * policy, agent). It must never install a credential for a session whose
 * peer was not accepted, never keep one for a peer that no longer passes,
 * and never block a peer's thread without a deadline.
 */
#define _GNU_SOURCE
#include "ipsec_int.h"

#include "vmesh/pki.h"
#include "vmesh/rv.h"
#include "vmesh/rvp.h"
#include "vmesh/sync.h"
#include "vmesh/verifier.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_VICI "unix:///var/run/charon.vici"
#define DEFAULT_IKE "aes256gcm16-prfsha256-ecp256"
#define DEFAULT_ESP "aes256gcm16"
#define VICI_TIMEOUT_MS 5000
#define MAX_HANDLERS 32
#define TRANSIENT_RETRY_NS (1000ULL * 1000000ULL)

static const char *const state_names[] = {"down", "installed", "up", "cut"};
static const char *const cut_names[IX_CUT__COUNT] = {
    "reappraisal", "reattestation", "epoch-expired", "sa-lost", "setup-failed", "shutdown"};
static const char *const att_names[IX_ATT__COUNT] = {"ok", "refused", "peer-refused", "error",
                                                     "deferred"};

const char *ix_state_name(ix_state s)
{
    return (unsigned)s < 4 ? state_names[s] : "unknown";
}
const char *ix_cut_name(ix_cut_reason r)
{
    return (unsigned)r < IX_CUT__COUNT ? cut_names[r] : "unknown";
}
const char *ix_att_name(ix_att_result r)
{
    return (unsigned)r < IX_ATT__COUNT ? att_names[r] : "unknown";
}

static uint64_t now_ns(void)
{
    return vmesh_time_mono_ns();
}

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* ---- access log ----------------------------------------------------------------------------- */

void ix_access_log(struct vmesh_ipsec *g, const ix_peer *p, const char *event, void *fields)
{
    json_t *o = fields ? (json_t *)fields : json_object();
    struct timespec ts;
    struct tm tm;
    char when[64];
    char *line;

    if (o == NULL)
        return;
    if (g->access_fd < 0) {
        json_decref(o);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "event", json_string(event));
    if (p != NULL) {
        json_object_set_new(o, "peer", json_string(p->spec.name));
        json_object_set_new(o, "spiffe_id", json_string(p->spec.id));
    }
    /* jansson escapes every string (peer-supplied reasons included) */
    line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (line == NULL)
        return;
    pthread_mutex_lock(&g->log_lock);
    (void)!write(g->access_fd, line, strlen(line));
    (void)!write(g->access_fd, "\n", 1);
    pthread_mutex_unlock(&g->log_lock);
    free(line);
}

/* TESTING ONLY (--keylog): like SSLKEYLOGFILE, lets a test replay a
 * credential to prove it does not authenticate elsewhere. */
static void keylog(struct vmesh_ipsec *g, const ix_peer *p, uint64_t epoch,
                   const uint8_t psk[VMESH_IPSEC_PSK_LEN])
{
    char line[VMESH_IPSEC_NAME_MAX + 128];
    int n;

    if (g->keylog_fd < 0)
        return;
    n = snprintf(line, sizeof(line), "VMESH_IPSEC_PSK %s %" PRIu64 " ", p->spec.name, epoch);
    for (size_t i = 0; i < VMESH_IPSEC_PSK_LEN && n > 0 && (size_t)n + 3 < sizeof(line); i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", psk[i]);
    if (n > 0 && (size_t)n + 1 < sizeof(line)) {
        line[n++] = '\n';
        pthread_mutex_lock(&g->log_lock);
        (void)!write(g->keylog_fd, line, (size_t)n);
        pthread_mutex_unlock(&g->log_lock);
    }
    OPENSSL_cleanse(line, sizeof(line));
}

/* ---- epochs --------------------------------------------------------------------------------- */

/* The epoch a new credential is derived for: the bell's current tick, or
 * (without a bell) our own re-key generation. */
static uint64_t current_epoch(struct vmesh_ipsec *g)
{
    vmesh_bell b;

    if (g->bell == NULL)
        return atomic_load(&g->manual_epoch);
    if (vmesh_bell_view_current(g->bell, &b) != VMESH_OK) {
        vmesh_err_clear();
        return 0;
    }
    return b.id;
}

/* Is a credential of epoch e still in force? With a bell: e is the current
 * or the previous tick (the same window in which epoch-fresh evidence is
 * fresh). Without one: until two re-key periods passed. */
static bool epoch_in_force(struct vmesh_ipsec *g, const ix_peer *p, uint64_t e, uint64_t now)
{
    vmesh_bell cur, prev;

    if (g->bell == NULL)
        return g->cfg.rekey_seconds <= 0 ||
               now - p->cred_ns < 2ULL * (uint64_t)g->cfg.rekey_seconds * 1000000000ULL;
    if (vmesh_bell_view_current(g->bell, &cur) != VMESH_OK) {
        vmesh_err_clear();
        return e == 0;
    }
    if (e == cur.id)
        return true;
    if (vmesh_bell_view_previous(g->bell, &prev) == VMESH_OK)
        return e == prev.id;
    vmesh_err_clear();
    return false;
}

/* Is e the bell's current or previous tick (a credential may be derived
 * for it)? Without a bell every epoch is ours to accept. */
static bool epoch_known(struct vmesh_ipsec *g, uint64_t e)
{
    vmesh_bell cur, prev;
    bool ok = false;

    if (g->bell == NULL)
        return true;
    if (vmesh_bell_view_current(g->bell, &cur) == VMESH_OK)
        ok = e == cur.id || (vmesh_bell_view_previous(g->bell, &prev) == VMESH_OK && e == prev.id);
    vmesh_err_clear();
    return ok;
}

static bool bell_ready(struct vmesh_ipsec *g)
{
    vmesh_bell cur;

    if (g->bell == NULL)
        return true;
    if (vmesh_bell_view_current(g->bell, &cur) == VMESH_OK)
        return true;
    vmesh_err_clear();
    return false;
}

/* ---- charon access
 * -------------------------------------------------------------------------------- */

static vmesh_err vici_open(struct vmesh_ipsec *g, vmesh_vici **v)
{
    return vmesh_vici_connect(g->vici_uri, VICI_TIMEOUT_MS, v);
}

/* A peer thread's own connection, reopened after an error. */
static vmesh_vici *peer_vici(ix_peer *p, vmesh_vici **v)
{
    if (*v != NULL)
        return *v;
    if (vici_open(p->g, v) != VMESH_OK) {
        /* once per outage, not once per monitor tick */
        if (!p->vici_down)
            vmesh_log(VMESH_LOG_ERROR, "ipsec: peer %s: %s", p->spec.name, vmesh_err_detail());
        p->vici_down = true;
        *v = NULL;
        return NULL;
    }
    if (p->vici_down)
        vmesh_log(VMESH_LOG_INFO, "ipsec: peer %s: charon answers again", p->spec.name);
    p->vici_down = false;
    return *v;
}

static void vici_drop_on_error(vmesh_vici **v, vmesh_err rc)
{
    /* a refusal keeps the connection in step; anything else may not */
    if (rc != VMESH_OK && rc != VMESH_ERR_STATE && rc != VMESH_ERR_UNSUPPORTED) {
        vmesh_vici_close(*v);
        *v = NULL;
    }
}

static void wake_all(struct vmesh_ipsec *g)
{
    pthread_mutex_lock(&g->wake_lock);
    pthread_cond_broadcast(&g->wake);
    pthread_mutex_unlock(&g->wake_lock);
}

/* Removes the peer's credential and connection from charon and terminates
 * its IKE SAs. Called with p->lock held. since_ns: when the cause arose
 * (for the cut-time metric); 0: now. */
static void cut_locked(ix_peer *p, vmesh_vici **v, ix_cut_reason why, const char *detail,
                       uint64_t since_ns)
{
    struct vmesh_ipsec *g = p->g;
    vmesh_err rc = VMESH_OK;
    uint64_t t0 = since_ns ? since_ns : now_ns();
    ix_state was = p->st;

    if (peer_vici(p, v) != NULL) {
        /* the credential first, so that nothing can authenticate with it
         * while the SA is being torn down */
        rc = ix_charon_unload(*v, p);
        if (rc == VMESH_OK)
            rc = ix_charon_terminate(*v, p, 1000);
        if (rc != VMESH_OK) {
            vmesh_log(VMESH_LOG_ERROR, "ipsec: peer %s: removing it from charon: %s", p->spec.name,
                      vmesh_err_detail());
            vici_drop_on_error(v, rc);
        }
    }
    p->st = (why == IX_CUT_SA_LOST || why == IX_CUT_SHUTDOWN || why == IX_CUT_SETUP_FAILED)
                ? IX_DOWN
                : IX_CUT;
    p->cuts[why]++;
    p->cut_s = secs(now_ns() - t0);
    p->rekeying = false;
    p->have_result = false;
    vmesh_atls_peer_result_free(&p->result);
    vmesh_atls_peer_result_init(&p->result);
    snprintf(p->reason, sizeof(p->reason), "%s%s%s", ix_cut_name(why),
             detail && *detail ? ": " : "", detail ? detail : "");
    /* after an SA loss the initiator tries again at once (the peer may
     * simply have restarted); after a refusal it waits */
    p->next_attempt_ns =
        now_ns() + (why == IX_CUT_SA_LOST ? 0 : (uint64_t)g->retry_s * 1000000000ULL);
    vmesh_log(why == IX_CUT_SHUTDOWN ? VMESH_LOG_INFO : VMESH_LOG_WARN,
              "ipsec: peer %s (%s): cut off (%s) in %.3f s: IKE SA terminated, credential removed",
              p->spec.name, p->spec.id, p->reason, p->cut_s);
    ix_access_log(g, p, "cut",
                  json_pack("{s:s, s:s, s:s?, s:I, s:f}", "was", ix_state_name(was), "reason",
                            ix_cut_name(why), "detail", detail, "epoch", (json_int_t)p->epoch,
                            "seconds", p->cut_s));
}

/* Installs the credential and the connection. Called with p->lock held. */
static vmesh_err install_locked(ix_peer *p, vmesh_vici **v, const uint8_t psk[VMESH_IPSEC_PSK_LEN])
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(peer_vici(p, v) != NULL, VMESH_ERR_IO, "charon: %s", vmesh_err_detail());
    pthread_mutex_lock(&p->g->id_lock); /* our SVID and the bundle's CAs */
    rc = ix_charon_load_conn(*v, p->g, p);
    pthread_mutex_unlock(&p->g->id_lock);
    VMESH_GUARD(rc);
    VMESH_GUARD(ix_charon_load_psk(*v, p, psk));
out:
    if (rc != VMESH_OK)
        vici_drop_on_error(v, rc);
    return rc;
}

/* The session's result, copied before anything is installed: a peer we
 * could not re-judge later must not get a credential (fail closed). */
static vmesh_err take_result(vmesh_atls_conn *c, vmesh_atls_peer_result *out)
{
    const vmesh_atls_peer_result *r = vmesh_atls_peer_result_get(c);

    vmesh_atls_peer_result_init(out);
    if (r == NULL)
        return vmesh_err_set(VMESH_ERR_STATE,
                             "ipsec: no appraisal result to keep for re-appraisal");
    return vmesh_atls_peer_result_copy(out, r);
}

/* Moves r into the peer (r is left empty). gen0: the re-appraisal
 * generation when the session began; a snapshot that arrived during the
 * session is applied to its result on the next tick rather than assumed to
 * have been seen. */
static void keep_result(ix_peer *p, vmesh_atls_conn *c, vmesh_atls_peer_result *r, uint64_t epoch,
                        uint64_t gen0)
{
    vmesh_atls_peer_result_free(&p->result);
    p->result = *r;
    vmesh_atls_peer_result_init(r);
    p->have_result = true;
    snprintf(p->tier, sizeof(p->tier), "%s", vmesh_tier_name(p->result.tier));
    snprintf(p->mode, sizeof(p->mode), "%s", vmesh_atls_mode_name(vmesh_atls_peer_mode(c)));
    p->epoch = epoch;
    p->cred_ns = now_ns();
    p->reappraise_seen = gen0;
}

/* ---- the attested session
 * ----------------------------------------------------------------------------- */

static vmesh_err drive(vmesh_atls_conn *c, int fd, vmesh_err (*op)(vmesh_atls_conn *),
                       uint64_t deadline)
{
    for (;;) {
        vmesh_err rc = op(c);
        struct pollfd pfd = {fd, 0, 0};
        uint64_t now = now_ns();
        int r;

        if (rc != VMESH_ERR_WANT_READ && rc != VMESH_ERR_WANT_WRITE)
            return rc;
        if (now >= deadline)
            return vmesh_err_set(VMESH_ERR_TIMEOUT, "attested session: deadline passed");
        pfd.events = rc == VMESH_ERR_WANT_READ ? POLLIN : POLLOUT;
        r = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
        if (r < 0 && errno != EINTR)
            return vmesh_err_set(VMESH_ERR_IO, "poll: %s", strerror(errno));
    }
}

static vmesh_err op_handshake(vmesh_atls_conn *c)
{
    return vmesh_atls_handshake(c);
}
static vmesh_err op_flush(vmesh_atls_conn *c)
{
    return vmesh_atls_flush(c);
}
static vmesh_err op_shutdown(vmesh_atls_conn *c)
{
    return vmesh_atls_shutdown(c);
}

static vmesh_err send_msg(vmesh_atls_conn *c, int fd, const vmesh_ipsec_msg *m, uint64_t deadline)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    VMESH_GUARD(vmesh_ipsec_msg_encode(m, &b));
    VMESH_GUARD(vmesh_atls_write(c, b.data, b.len));
    VMESH_GUARD(drive(c, fd, op_flush, deadline));
out:
    vmesh_buf_free(&b);
    return rc;
}

static vmesh_err recv_msg(vmesh_atls_conn *c, int fd, vmesh_ipsec_msg *m, uint64_t deadline)
{
    uint8_t buf[VMESH_IPSEC_MSG_MAX];
    size_t have = 0, used = 0;

    for (;;) {
        size_t got = 0;
        vmesh_err rc = vmesh_ipsec_msg_decode(buf, have, m, &used);
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now;

        if (rc != VMESH_ERR_WANT_READ)
            return rc;
        if (have == sizeof(buf))
            return vmesh_err_set(VMESH_ERR_TOO_LARGE, "ipsec message: longer than %zu bytes",
                                 sizeof(buf));
        rc = vmesh_atls_read(c, buf + have, sizeof(buf) - have, &got);
        if (rc == VMESH_OK) {
            have += got;
            continue;
        }
        if (rc != VMESH_ERR_WANT_READ)
            return rc;
        now = now_ns();
        if (now >= deadline)
            return vmesh_err_set(VMESH_ERR_TIMEOUT, "the peer did not answer within the deadline");
        if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) < 0 && errno != EINTR)
            return vmesh_err_set(VMESH_ERR_IO, "poll: %s", strerror(errno));
    }
}

static vmesh_err connect_to(const char *addr, uint64_t deadline, int *out)
{
    vmesh_err rc = VMESH_OK;
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd = -1, one = 1, err = 0;
    socklen_t el = sizeof(err);

    *out = -1;
    VMESH_GUARD(vmesh_net_resolve(addr, 0, &ss, &sl));
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    VMESH_ENSURE(fd >= 0, VMESH_ERR_IO, "socket: %s", strerror(errno));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        uint64_t now = now_ns();
        VMESH_ENSURE(errno == EINPROGRESS, VMESH_ERR_IO, "connect to %s: %s", addr,
                     strerror(errno));
        VMESH_ENSURE(now < deadline && poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) == 1,
                     VMESH_ERR_TIMEOUT, "connect to %s: no answer within the deadline", addr);
        VMESH_ENSURE(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0, VMESH_ERR_IO,
                     "connect to %s: %s", addr, strerror(err));
    }
    *out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* How an attested session ended, for metrics, logs and what to do next. */
typedef struct {
    ix_att_result res;
    vmesh_atls_reason reason;
    char text[VMESH_ATLS_FAIL_MESSAGE_MAX + 96];
} att_outcome;

static void classify(vmesh_atls_conn *c, vmesh_err rc, att_outcome *o)
{
    const char *msg = NULL;
    bool by_peer = false;

    o->reason = c ? vmesh_atls_failure(c, &msg, &by_peer) : VMESH_ATLS_R_NONE;
    if (o->reason != VMESH_ATLS_R_NONE) {
        o->res = by_peer ? IX_ATT_PEER_REFUSED : IX_ATT_REFUSED;
        snprintf(o->text, sizeof(o->text), "%s: %s (%s)", vmesh_atls_reason_name(o->reason),
                 msg ? msg : "", by_peer ? "refused by the peer" : "we refused the peer");
    } else if (c != NULL && !vmesh_atls_negotiated(c) && vmesh_atls_peer_spiffe_id(c) != NULL) {
        o->res = IX_ATT_PEER_REFUSED;
        snprintf(o->text, sizeof(o->text),
                 "the peer closed the session after the TLS handshake (%s)", vmesh_err_detail());
    } else {
        o->res = IX_ATT_ERROR;
        snprintf(o->text, sizeof(o->text), "%s: %s", vmesh_err_name(rc), vmesh_err_detail());
    }
}

static void log_attestation(ix_peer *p, const att_outcome *o, uint64_t epoch, double ms)
{
    bool quiet = o->res == IX_ATT_OK || o->res == IX_ATT_DEFERRED;

    vmesh_log(quiet ? VMESH_LOG_INFO : VMESH_LOG_WARN, "ipsec: peer %s (%s): attestation %s%s%s",
              p->spec.name, p->spec.id, ix_att_name(o->res), o->res == IX_ATT_OK ? "" : ": ",
              o->res == IX_ATT_OK ? "" : o->text);
    ix_access_log(p->g, p,
                  o->res == IX_ATT_OK         ? "attested"
                  : o->res == IX_ATT_DEFERRED ? "deferred"
                                              : "refused",
                  json_pack("{s:s, s:s?, s:I, s:f}", "result", ix_att_name(o->res), "reason",
                            o->res == IX_ATT_OK ? NULL : o->text, "epoch", (json_int_t)epoch, "ms",
                            ms));
}

/* Initiator: one attested session with the peer; installs the credential
 * for `epoch` on both sides and starts (or re-authenticates) the SA. */
static void attest_and_install(ix_peer *p, vmesh_vici **v, uint64_t epoch)
{
    struct vmesh_ipsec *g = p->g;
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)g->deadline_ms * 1000000u;
    uint64_t gen0 = atomic_load(&g->reappraise_gen);
    vmesh_atls_conn *c = NULL;
    vmesh_ipsec_msg req, resp;
    uint8_t psk[VMESH_IPSEC_PSK_LEN];
    vmesh_atls_peer_result kept;
    att_outcome o;
    vmesh_err rc;
    int fd = -1;
    bool transient = false, refused;

    memset(&o, 0, sizeof(o));
    vmesh_atls_peer_result_init(&kept);
    rc = connect_to(p->spec.connect, deadline, &fd);
    if (rc == VMESH_OK) {
        pthread_mutex_lock(&p->g->id_lock);
        rc = vmesh_atls_conn_new(p->tls, fd, &c);
        pthread_mutex_unlock(&p->g->id_lock);
    }
    if (rc == VMESH_OK)
        rc = drive(c, fd, op_handshake, deadline);
    if (rc != VMESH_OK) {
        classify(c, rc, &o);
        /* evidence bound to a bell tick the other side has not fetched yet
         * (or no longer keeps): both sides poll the bell independently, so
         * try again shortly instead of cutting */
        transient = o.reason == VMESH_ATLS_R_STALE_EPOCH;
        if (transient)
            o.res = IX_ATT_DEFERRED;
        goto failed;
    }
    rc = vmesh_ipsec_derive(c, epoch, psk);
    if (rc != VMESH_OK) {
        /* accepted by the channel but not attested (a policy admitting
         * unattested peers): never a credential */
        o.res = rc == VMESH_ERR_POLICY ? IX_ATT_REFUSED : IX_ATT_ERROR;
        snprintf(o.text, sizeof(o.text), "%s", vmesh_err_detail());
        goto failed;
    }
    memset(&req, 0, sizeof(req));
    req.type = VMESH_IPSEC_MSG_INSTALL;
    req.epoch = epoch;
    rc = send_msg(c, fd, &req, deadline);
    if (rc == VMESH_OK)
        rc = recv_msg(c, fd, &resp, deadline);
    if (rc != VMESH_OK) {
        classify(c, rc, &o);
        goto failed;
    }
    if (resp.type == VMESH_IPSEC_MSG_REFUSED || resp.epoch != epoch) {
        /* an epoch the peer's bell has not reached yet (its answer names
         * its own): retry soon */
        transient = resp.epoch != epoch;
        o.res = transient ? IX_ATT_DEFERRED : IX_ATT_PEER_REFUSED;
        if (transient)
            snprintf(o.text, sizeof(o.text),
                     "the peer is at epoch %" PRIu64 ", not yet %" PRIu64 ": trying again",
                     resp.epoch, epoch);
        else
            snprintf(o.text, sizeof(o.text),
                     "the peer did not install the credential for epoch %" PRIu64 ": %s", epoch,
                     resp.text);
        goto failed;
    }
    o.res = IX_ATT_OK;
    pthread_mutex_lock(&p->lock);
    p->attestations[IX_ATT_OK]++;
    p->transient_retries = 0;
    log_attestation(p, &o, epoch, secs(now_ns() - t0) * 1000);
    rc = take_result(c, &kept);
    if (rc == VMESH_OK)
        rc = install_locked(p, v, psk);
    if (rc != VMESH_OK) {
        vmesh_log(VMESH_LOG_ERROR, "ipsec: peer %s: %s", p->spec.name, vmesh_err_detail());
        snprintf(p->reason, sizeof(p->reason), "charon: %s", vmesh_err_detail());
        p->next_attempt_ns = now_ns() + (uint64_t)g->retry_s * 1000000000ULL;
        pthread_mutex_unlock(&p->lock);
        goto out;
    }
    keylog(g, p, epoch, psk);
    keep_result(p, c, &kept, epoch, gen0);
    p->installs++;
    if (p->st == IX_UP) {
        ix_sas sas;
        /* make-before-break: a new IKE SA under the new credential, then
         * the old one goes (charon.make_before_break = yes) */
        rc = ix_charon_sas(*v, p, &sas);
        if (rc == VMESH_OK && sas.newest_ike_uid > 0)
            rc = ix_charon_reauth(*v, p, sas.newest_ike_uid);
        if (rc == VMESH_OK) {
            p->rekeying = true;
            p->rekey_started_ns = t0;
            p->old_ike_uid = sas.newest_ike_uid;
            ix_access_log(g, p, "rekey", json_pack("{s:I}", "epoch", (json_int_t)epoch));
        } else {
            vici_drop_on_error(v, rc);
            p->rekey_failures++;
            cut_locked(p, v, IX_CUT_REATTESTATION,
                       "re-authentication with the new credential failed", t0);
        }
        pthread_mutex_unlock(&p->lock);
        goto out;
    }
    p->st = IX_INSTALLED;
    p->installed_ns = now_ns();
    p->attest_started_ns = t0;
    pthread_mutex_unlock(&p->lock);
    /* the IKE exchange itself, outside the lock (it waits for the peer) */
    if (peer_vici(p, v) != NULL) {
        vmesh_vici_set_timeout(*v, (int)g->deadline_ms + 2000);
        rc = ix_charon_initiate(*v, p, (int)g->deadline_ms);
        vmesh_vici_set_timeout(*v, VICI_TIMEOUT_MS);
        if (rc != VMESH_OK) {
            char why[320];
            snprintf(why, sizeof(why), "%s", vmesh_err_detail());
            vici_drop_on_error(v, rc);
            /* charon gave up on the IKE exchange: do not wait for the
             * set-up timeout to try again */
            pthread_mutex_lock(&p->lock);
            if (p->st == IX_INSTALLED)
                cut_locked(p, v, IX_CUT_SETUP_FAILED, why, 0);
            pthread_mutex_unlock(&p->lock);
        }
    }
    goto out;
failed:
    refused = o.res == IX_ATT_REFUSED || o.res == IX_ATT_PEER_REFUSED;
    pthread_mutex_lock(&p->lock);
    p->attestations[o.res]++;
    log_attestation(p, &o, epoch, secs(now_ns() - t0) * 1000);
    snprintf(p->reason, sizeof(p->reason), "%s", o.text);
    if (transient && p->transient_retries < 5) {
        /* a few quick retries, then the normal pace (no retry storm
         * against a peer whose bell is broken) */
        p->transient_retries++;
        p->next_attempt_ns = now_ns() + TRANSIENT_RETRY_NS;
    } else if (transient) {
        p->next_attempt_ns = now_ns() + (uint64_t)g->retry_s * 1000000000ULL;
    } else if (refused && (p->st == IX_INSTALLED || p->st == IX_UP)) {
        /* a refused re-attestation ends the tunnel */
        cut_locked(p, v, IX_CUT_REATTESTATION, o.text, t0);
    } else {
        /* not attested: nothing is (or stays) installed for a new peer;
         * an unreachable peer keeps its SA until its epoch expires */
        if (p->st == IX_DOWN && refused)
            p->st = IX_CUT;
        p->next_attempt_ns = now_ns() + (uint64_t)g->retry_s * 1000000000ULL;
    }
    pthread_mutex_unlock(&p->lock);
out:
    OPENSSL_cleanse(psk, sizeof(psk));
    vmesh_atls_peer_result_free(&kept);
    if (c != NULL && fd >= 0 && rc == VMESH_OK)
        (void)drive(c, fd, op_shutdown, now_ns() + 200000000ULL);
    vmesh_err_clear();
    vmesh_atls_free(c);
    if (fd >= 0)
        close(fd);
}

/* ---- the peer thread
 * ---------------------------------------------------------------------------------- */

static void monitor_locked(ix_peer *p, vmesh_vici **v, uint64_t now)
{
    struct vmesh_ipsec *g = p->g;
    ix_sas sas;
    vmesh_err rc;

    if (p->st != IX_INSTALLED && p->st != IX_UP)
        return;
    if (peer_vici(p, v) == NULL)
        return;
    rc = ix_charon_sas(*v, p, &sas);
    if (rc != VMESH_OK) {
        vmesh_log(VMESH_LOG_WARN, "ipsec: peer %s: listing SAs: %s", p->spec.name,
                  vmesh_err_detail());
        vici_drop_on_error(v, rc);
        return;
    }
    if (p->st == IX_INSTALLED) {
        if (sas.ike_established > 0 && sas.child_installed > 0) {
            p->st = IX_UP;
            p->up_ns = now;
            p->setup_s = secs(now - p->attest_started_ns);
            vmesh_log(VMESH_LOG_INFO,
                      "ipsec: peer %s (%s): tunnel up (epoch %" PRIu64
                      ", %.3f s after the attested session began)",
                      p->spec.name, p->spec.id, p->epoch, p->setup_s);
            ix_access_log(g, p, "up",
                          json_pack("{s:I, s:f, s:s, s:s}", "epoch", (json_int_t)p->epoch,
                                    "seconds", p->setup_s, "mode", p->mode, "tier", p->tier));
        } else if (now - p->installed_ns > 3ULL * g->deadline_ms * 1000000u) {
            cut_locked(p, v, IX_CUT_SETUP_FAILED, "no IKE SA came up with the installed credential",
                       0);
        }
        return;
    }
    if (sas.ike_established == 0) {
        cut_locked(p, v, IX_CUT_SA_LOST, "the IKE SA is gone (deleted by the peer or dead)", 0);
        return;
    }
    if (p->rekeying) {
        if (sas.oldest_ike_uid > p->old_ike_uid && sas.child_installed > 0) {
            p->rekeying = false;
            p->rekeys++;
            p->rekey_s = secs(now - p->rekey_started_ns);
            vmesh_log(VMESH_LOG_INFO,
                      "ipsec: peer %s: re-keyed for epoch %" PRIu64
                      " in %.3f s (make-before-break)",
                      p->spec.name, p->epoch, p->rekey_s);
            ix_access_log(
                g, p, "rekeyed",
                json_pack("{s:I, s:f}", "epoch", (json_int_t)p->epoch, "seconds", p->rekey_s));
        } else if (now - p->rekey_started_ns > 3ULL * g->deadline_ms * 1000000u) {
            p->rekey_failures++;
            cut_locked(p, v, IX_CUT_REATTESTATION,
                       "the re-authentication with the new credential did not complete", 0);
        }
    }
}

static void *peer_main(void *arg)
{
    ix_peer *p = arg;
    struct vmesh_ipsec *g = p->g;
    vmesh_vici *v = NULL;

    while (!atomic_load(&g->stopping)) {
        uint64_t now, gen = atomic_load(&g->reappraise_gen);
        struct timespec ts;

        pthread_mutex_lock(&p->lock);
        /* taken under the lock: an install that got the lock first has set
         * installed_ns, and it must never lie in our future */
        now = now_ns();
        /* 1. re-appraisal under a new RV snapshot or policy (DESIGN §5) */
        if (gen != p->reappraise_seen) {
            p->reappraise_seen = gen;
            if ((p->st == IX_INSTALLED || p->st == IX_UP) && p->have_result) {
                char why[256];
                vmesh_atls_reason r =
                    vmesh_agent_reappraise(g->agent, p->spec.id, &p->result, why, sizeof(why));
                if (r != VMESH_ATLS_R_NONE) {
                    char detail[400];
                    snprintf(detail, sizeof(detail), "%s: %s", vmesh_atls_reason_name(r), why);
                    cut_locked(p, &v, IX_CUT_REAPPRAISAL, detail, now);
                }
            }
        }
        /* 2. a credential past its epoch */
        if ((p->st == IX_INSTALLED || p->st == IX_UP) && !epoch_in_force(g, p, p->epoch, now)) {
            char detail[96];
            snprintf(detail, sizeof(detail),
                     "epoch %" PRIu64 " is over and no new credential was installed", p->epoch);
            cut_locked(p, &v, IX_CUT_EPOCH_EXPIRED, detail, 0);
        }
        /* 3. what charon has */
        monitor_locked(p, &v, now);
        pthread_mutex_unlock(&p->lock);
        /* 4. initiator: attest when there is no tunnel, or a new epoch began */
        if (p->initiator) {
            uint64_t cur = current_epoch(g);
            bool need;
            pthread_mutex_lock(&p->lock);
            need = bell_ready(g) && now_ns() >= p->next_attempt_ns &&
                   ((p->st == IX_DOWN || p->st == IX_CUT) ||
                    (p->st == IX_UP && !p->rekeying && cur != p->epoch));
            pthread_mutex_unlock(&p->lock);
            if (need && !atomic_load(&g->stopping))
                attest_and_install(p, &v, cur);
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(g->monitor_ms % 1000) * 1000000L;
        ts.tv_sec += g->monitor_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&g->wake_lock);
        if (!atomic_load(&g->stopping) && atomic_load(&g->reappraise_gen) == gen)
            pthread_cond_timedwait(&g->wake, &g->wake_lock, &ts);
        pthread_mutex_unlock(&g->wake_lock);
    }
    pthread_mutex_lock(&p->lock);
    if (p->st == IX_INSTALLED || p->st == IX_UP)
        cut_locked(p, &v, IX_CUT_SHUTDOWN, "vmesh ipsec is stopping", 0);
    pthread_mutex_unlock(&p->lock);
    vmesh_vici_close(v);
    return NULL;
}

/* ---- the responder
 * ----------------------------------------------------------------------------------- */

typedef struct {
    struct vmesh_ipsec *g;
    int fd;
} handler_arg;

static ix_peer *find_responder(struct vmesh_ipsec *g, const char *id)
{
    for (size_t i = 0; i < g->npeers && id; i++)
        if (!g->peers[i].initiator && strcmp(g->peers[i].spec.id, id) == 0)
            return &g->peers[i];
    return NULL;
}

static void refuse(vmesh_atls_conn *c, int fd, uint64_t epoch, uint64_t deadline, const char *fmt,
                   ...) VMESH_PRINTF(5, 6);
static void refuse(vmesh_atls_conn *c, int fd, uint64_t epoch, uint64_t deadline, const char *fmt,
                   ...)
{
    vmesh_ipsec_msg m;
    va_list ap;

    memset(&m, 0, sizeof(m));
    m.type = VMESH_IPSEC_MSG_REFUSED;
    m.epoch = epoch;
    va_start(ap, fmt);
    vsnprintf(m.text, sizeof(m.text), fmt, ap);
    va_end(ap);
    if (send_msg(c, fd, &m, deadline) != VMESH_OK)
        vmesh_err_clear();
}

static void serve(struct vmesh_ipsec *g, int fd)
{
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)g->deadline_ms * 1000000u;
    uint64_t gen0 = atomic_load(&g->reappraise_gen);
    vmesh_atls_conn *c = NULL;
    vmesh_vici *v = NULL;
    vmesh_ipsec_msg req, ok;
    uint8_t psk[VMESH_IPSEC_PSK_LEN];
    vmesh_atls_peer_result kept;
    att_outcome o;
    ix_peer *p = NULL;
    vmesh_err rc;
    uint64_t cur;

    memset(&o, 0, sizeof(o));
    vmesh_atls_peer_result_init(&kept);
    pthread_mutex_lock(&g->id_lock);
    rc = vmesh_atls_conn_new(g->server_tls, fd, &c);
    pthread_mutex_unlock(&g->id_lock);
    if (rc == VMESH_OK)
        rc = drive(c, fd, op_handshake, deadline);
    p = c ? find_responder(g, vmesh_atls_peer_spiffe_id(c)) : NULL;
    if (rc != VMESH_OK) {
        classify(c, rc, &o);
        if (p != NULL) {
            pthread_mutex_lock(&p->lock);
            p->attestations[o.res]++;
            snprintf(p->reason, sizeof(p->reason), "%s", o.text);
            log_attestation(p, &o, 0, secs(now_ns() - t0) * 1000);
            pthread_mutex_unlock(&p->lock);
        } else {
            vmesh_log(VMESH_LOG_WARN, "ipsec: session from %s refused: %s",
                      c && vmesh_atls_peer_spiffe_id(c) ? vmesh_atls_peer_spiffe_id(c)
                                                        : "an unidentified peer",
                      o.text);
            ix_access_log(g, NULL, "refused",
                          json_pack("{s:s?, s:s, s:s}", "spiffe_id",
                                    c ? vmesh_atls_peer_spiffe_id(c) : NULL, "result",
                                    ix_att_name(o.res), "reason", o.text));
        }
        goto out;
    }
    cur = current_epoch(g);
    rc = recv_msg(c, fd, &req, deadline);
    if (rc != VMESH_OK || req.type != VMESH_IPSEC_MSG_INSTALL) {
        vmesh_log(VMESH_LOG_WARN, "ipsec: %s: no install request after the attested handshake: %s",
                  vmesh_atls_peer_spiffe_id(c),
                  rc != VMESH_OK ? vmesh_err_detail() : "another message type");
        goto out;
    }
    if (p == NULL) {
        atomic_fetch_add(&g->unknown_peers, 1);
        vmesh_log(VMESH_LOG_WARN,
                  "ipsec: %s attested but is not a configured peer gateway: no credential",
                  vmesh_atls_peer_spiffe_id(c));
        ix_access_log(g, NULL, "refused",
                      json_pack("{s:s, s:s}", "spiffe_id", vmesh_atls_peer_spiffe_id(c), "reason",
                                "not a configured peer gateway"));
        refuse(c, fd, req.epoch, deadline, "%s is not a peer gateway of %s",
               vmesh_atls_peer_spiffe_id(c), g->our_id);
        goto out;
    }
    pthread_mutex_lock(&p->lock);
    /* The epoch must be one of ours (with a bell: its current or previous
     * tick); without a bell it may only go up. A refusal for the epoch
     * carries our current one, so the initiator can tell it from others. */
    if (g->bell != NULL ? !epoch_known(g, req.epoch)
                        : ((p->st == IX_INSTALLED || p->st == IX_UP) && req.epoch < p->epoch)) {
        pthread_mutex_unlock(&p->lock);
        vmesh_log(VMESH_LOG_INFO,
                  "ipsec: peer %s asked for epoch %" PRIu64 ", ours is %" PRIu64
                  ": refused for now",
                  p->spec.name, req.epoch, cur);
        refuse(c, fd, req.epoch == cur ? cur + 1 : cur, deadline,
               "epoch %" PRIu64 " is not current here (%" PRIu64 ")", req.epoch, cur);
        goto out;
    }
    rc = vmesh_ipsec_derive(c, req.epoch, psk);
    if (rc != VMESH_OK) {
        o.res = rc == VMESH_ERR_POLICY ? IX_ATT_REFUSED : IX_ATT_ERROR;
        snprintf(o.text, sizeof(o.text), "%s", vmesh_err_detail());
        p->attestations[o.res]++;
        log_attestation(p, &o, req.epoch, secs(now_ns() - t0) * 1000);
        pthread_mutex_unlock(&p->lock);
        refuse(c, fd, req.epoch, deadline, "no credential: %s", o.text);
        goto out;
    }
    o.res = IX_ATT_OK;
    p->attestations[IX_ATT_OK]++;
    log_attestation(p, &o, req.epoch, secs(now_ns() - t0) * 1000);
    rc = take_result(c, &kept);
    if (rc == VMESH_OK)
        rc = install_locked(p, &v, psk);
    if (rc != VMESH_OK) {
        vmesh_log(VMESH_LOG_ERROR, "ipsec: peer %s: %s", p->spec.name, vmesh_err_detail());
        pthread_mutex_unlock(&p->lock);
        refuse(c, fd, req.epoch, deadline, "the responder could not install the credential");
        goto out;
    }
    keylog(g, p, req.epoch, psk);
    keep_result(p, c, &kept, req.epoch, gen0);
    p->installs++;
    if (p->st == IX_UP) {
        ix_sas sas;
        /* the initiator re-authenticates next; watch for the new SA */
        if (ix_charon_sas(v, p, &sas) == VMESH_OK) {
            p->rekeying = true;
            p->rekey_started_ns = t0;
            p->old_ike_uid = sas.newest_ike_uid;
        } else {
            vmesh_err_clear();
        }
    } else {
        p->st = IX_INSTALLED;
        p->installed_ns = now_ns();
        p->attest_started_ns = t0;
    }
    ix_access_log(g, p, "installed",
                  json_pack("{s:I, s:s, s:s}", "epoch", (json_int_t)req.epoch, "mode", p->mode,
                            "tier", p->tier));
    pthread_mutex_unlock(&p->lock);
    memset(&ok, 0, sizeof(ok));
    ok.type = VMESH_IPSEC_MSG_INSTALLED;
    ok.epoch = req.epoch;
    if (send_msg(c, fd, &ok, deadline) == VMESH_OK)
        (void)drive(c, fd, op_shutdown, now_ns() + 200000000ULL);
    wake_all(g);
out:
    OPENSSL_cleanse(psk, sizeof(psk));
    vmesh_atls_peer_result_free(&kept);
    vmesh_err_clear();
    vmesh_vici_close(v);
    vmesh_atls_free(c);
}

static void *handler_main(void *arg)
{
    handler_arg *h = arg;

    serve(h->g, h->fd);
    close(h->fd);
    atomic_fetch_sub(&h->g->handlers, 1);
    free(h);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct vmesh_ipsec *g = arg;

    while (!atomic_load(&g->stopping)) {
        struct pollfd pfd[2] = {{g->listen_fd, POLLIN, 0}, {g->stop_fd, POLLIN, 0}};
        pthread_attr_t attr;
        pthread_t t;
        handler_arg *h;
        int fd, one = 1;

        if (poll(pfd, 2, 1000) <= 0 || (pfd[1].revents & POLLIN))
            continue;
        fd = accept4(g->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        atomic_fetch_add(&g->accepted, 1);
        /* A bounded number of sessions at once: each is bounded by the
         * deadline, so a slow peer holds a slot at most that long. */
        if (atomic_fetch_add(&g->handlers, 1) >= MAX_HANDLERS) {
            atomic_fetch_sub(&g->handlers, 1);
            atomic_fetch_add(&g->accept_refused_busy, 1);
            close(fd);
            continue;
        }
        h = malloc(sizeof(*h));
        if (h == NULL) {
            atomic_fetch_sub(&g->handlers, 1);
            close(fd);
            continue;
        }
        h->g = g;
        h->fd = fd;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, handler_main, h) != 0) {
            atomic_fetch_sub(&g->handlers, 1);
            close(fd);
            free(h);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

/* ---- relying-party plumbing
 * ------------------------------------------------------------------------- */

static void on_snapshot(void *ctx, vmesh_rv_store *rv, vmesh_policy *policy)
{
    struct vmesh_ipsec *g = ctx;

    (void)policy;
    vmesh_verifier_set_rv(g->verifier, rv);
    atomic_store(&g->have_snapshot, true);
    atomic_fetch_add(&g->snapshots, 1);
    vmesh_log(VMESH_LOG_INFO,
              "ipsec: new reference-value snapshot installed; re-appraising every peer gateway");
    atomic_fetch_add(&g->reappraise_gen, 1);
    wake_all(g);
}

static vmesh_err load_rv_files(struct vmesh_ipsec *g)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *rv = NULL;

    if (g->cfg.n_rv_files == 0)
        return VMESH_OK;
    VMESH_GUARD(vmesh_rv_store_new(&rv));
    for (size_t i = 0; i < g->cfg.n_rv_files; i++) {
        rc = vmesh_verifier_load_rv_file(rv, g->cfg.rv_files[i], NULL);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "--rv %s", g->cfg.rv_files[i]);
            goto out;
        }
    }
    vmesh_rv_store_freeze(rv);
    on_snapshot(g, rv, NULL);
out:
    vmesh_rv_store_free(rv);
    return rc;
}

static vmesh_err refresh_bell_file(struct vmesh_ipsec *g)
{
    vmesh_buf b = {0};
    vmesh_err rc;

    if (g->bell == NULL || g->cfg.bell_file == NULL)
        return VMESH_OK;
    rc = vmesh_file_read(g->cfg.bell_file, VMESH_BELL_MAX, &b);
    if (rc == VMESH_OK)
        rc = vmesh_bell_view_update(g->bell, (const char *)b.data, b.len, vmesh_time_now());
    if (rc != VMESH_OK)
        vmesh_err_wrap(rc, "epoch bell %s", g->cfg.bell_file);
    vmesh_buf_free(&b);
    return rc;
}

static vmesh_err make_policy(struct vmesh_ipsec *g)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;

    if (g->cfg.policy_file)
        VMESH_GUARD(vmesh_policy_load(g->cfg.policy_file, &g->policy));
    else
        VMESH_GUARD(vmesh_policy_default(&g->policy));
    for (size_t i = 0; i < g->cfg.n_trusted_verifiers; i++) {
        rc = vmesh_crypto_key_load(g->cfg.trusted_verifiers[i], &k);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "--trust-verifier %s", g->cfg.trusted_verifiers[i]);
            goto out;
        }
        VMESH_GUARD(vmesh_policy_add_verifier_key(g->policy, k));
        vmesh_crypto_key_free(k);
        k = NULL;
    }
out:
    vmesh_crypto_key_free(k);
    return rc;
}

static vmesh_err setup_rp(struct vmesh_ipsec *g)
{
    vmesh_err rc = VMESH_OK;
    vmesh_verifier_config vc;
    vmesh_sync_config sc;

    memset(&vc, 0, sizeof(vc));
    VMESH_GUARD(vmesh_verifier_new(&vc, (vmesh_verifier **)&g->verifier));
    if (g->cfg.bell_key) {
        rc = vmesh_crypto_key_load(g->cfg.bell_key, (vmesh_key **)&g->bell_key);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "--bell-key");
            goto out;
        }
        VMESH_GUARD(vmesh_bell_view_new(g->bell_key, (vmesh_bell_view **)&g->bell));
        if (g->cfg.bell_file && refresh_bell_file(g) != VMESH_OK)
            vmesh_log(VMESH_LOG_WARN, "ipsec: %s (will retry)", vmesh_err_detail());
    }
    VMESH_GUARD(load_rv_files(g));
    if (g->cfg.n_rvps > 0) {
        memset(&sc, 0, sizeof(sc));
        sc.state_dir = g->cfg.state_dir ? g->cfg.state_dir : "vmesh-ipsec-state";
        sc.interval = g->poll_s;
        sc.on_snapshot = on_snapshot;
        sc.ctx = g;
        sc.bell = g->cfg.bell_file ? NULL : g->bell;
        sc.bell_url = g->cfg.bell_url;
        VMESH_GUARD(vmesh_sync_new(&sc, (vmesh_sync **)&g->sync));
        for (size_t i = 0; i < g->cfg.n_rvps; i++) {
            rc = vmesh_sync_add_rvp_spec(g->sync, g->cfg.rvps[i]);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "--rvp %s", g->cfg.rvps[i]);
                goto out;
            }
        }
    }
    if (g->cfg.n_rv_files == 0 && g->cfg.n_rvps == 0)
        atomic_store(&g->have_snapshot, true);
    VMESH_GUARD(make_policy(g));
out:
    return rc;
}

/* Our leaf (DER) for charon's round 1, the bundle's CAs for its trust and
 * our SPIFFE ID, from the configured files (into the caller's buffers). */
static vmesh_err read_certs(const struct vmesh_ipsec *g, vmesh_buf *leaf, vmesh_buf ca[IX_MAX_CERTS], size_t *n_ca,
                            char **id)
{
    vmesh_err rc = VMESH_OK;
    FILE *f = NULL;
    X509 *x = NULL;
    unsigned char *der = NULL;
    int len;

    *n_ca = 0;
    f = fopen(g->cfg.cert, "r");
    VMESH_ENSURE(f != NULL, VMESH_ERR_IO, "--cert %s: %s", g->cfg.cert, strerror(errno));
    x = PEM_read_X509(f, NULL, NULL, NULL);
    VMESH_ENSURE(x != NULL, VMESH_ERR_PARSE, "--cert %s: no PEM certificate", g->cfg.cert);
    len = i2d_X509(x, &der);
    VMESH_ENSURE(len > 0, VMESH_ERR_CRYPTO, "--cert %s: cannot encode", g->cfg.cert);
    VMESH_GUARD(vmesh_buf_set(leaf, der, (size_t)len));
    OPENSSL_free(der);
    der = NULL;
    X509_free(x);
    x = NULL;
    fclose(f);
    f = fopen(g->cfg.bundle, "r");
    VMESH_ENSURE(f != NULL, VMESH_ERR_IO, "--bundle %s: %s", g->cfg.bundle, strerror(errno));
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        VMESH_ENSURE(*n_ca < IX_MAX_CERTS, VMESH_ERR_TOO_LARGE,
                     "--bundle %s: more than %d certificates", g->cfg.bundle, IX_MAX_CERTS);
        len = i2d_X509(x, &der);
        VMESH_ENSURE(len > 0, VMESH_ERR_CRYPTO, "--bundle %s: cannot encode", g->cfg.bundle);
        VMESH_GUARD(vmesh_buf_set(&ca[*n_ca], der, (size_t)len));
        (*n_ca)++;
        OPENSSL_free(der);
        der = NULL;
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    VMESH_ENSURE(*n_ca > 0, VMESH_ERR_PARSE, "--bundle %s: no PEM certificate", g->cfg.bundle);
    VMESH_GUARD(vmesh_pki_spiffe_id_from_pem_file(g->cfg.cert, id));
out:
    OPENSSL_free(der);
    X509_free(x);
    if (f)
        fclose(f);
    return rc;
}

static vmesh_err load_certs(struct vmesh_ipsec *g)
{
    return read_certs(g, &g->leaf_der, g->ca_der, &g->n_ca, &g->our_id);
}

static vmesh_err tls_config(struct vmesh_ipsec *g, vmesh_atls_role role, const char *peer,
                            vmesh_atls_config **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_atls_provider prov;
    vmesh_atls_config *c = NULL;

    VMESH_GUARD(vmesh_atls_config_new(role, &c));
    VMESH_GUARD(vmesh_atls_config_set_svid(c, g->cfg.cert, g->cfg.key));
    VMESH_GUARD(vmesh_atls_config_set_bundle(c, g->cfg.bundle));
    if (peer)
        VMESH_GUARD(vmesh_atls_config_set_peer_pattern(c, peer));
    vmesh_agent_provider_for(g->agent, peer, &prov);
    VMESH_GUARD(vmesh_atls_config_set_provider(c, &prov));
    vmesh_atls_config_set_deadline_ms(c, g->deadline_ms);
    /* every session is attested afresh: nothing to resume */
    vmesh_atls_config_set_resumption(c, false);
    *out = c;
    c = NULL;
out:
    vmesh_atls_config_free(c);
    return rc;
}

static vmesh_err open_listener(struct vmesh_ipsec *g)
{
    vmesh_err rc = vmesh_net_listen(g->cfg.listen, 128, VMESH_NET_LISTEN, &g->listen_fd);

    if (rc != VMESH_OK)
        return vmesh_err_wrap(rc, "--listen");
    g->listen_port = vmesh_net_local_port(g->listen_fd);
    return VMESH_OK;
}

static vmesh_err open_logs(struct vmesh_ipsec *g)
{
    vmesh_err rc = VMESH_OK;

    if (g->cfg.access_log) {
        g->access_fd =
            strcmp(g->cfg.access_log, "-") == 0
                ? dup(STDERR_FILENO)
                : open(g->cfg.access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        VMESH_ENSURE(g->access_fd >= 0, VMESH_ERR_IO, "--access-log %s: %s", g->cfg.access_log,
                     strerror(errno));
    }
    if (g->cfg.keylog) {
        g->keylog_fd = open(g->cfg.keylog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        VMESH_ENSURE(g->keylog_fd >= 0, VMESH_ERR_IO, "--keylog %s: %s", g->cfg.keylog,
                     strerror(errno));
        vmesh_log(VMESH_LOG_WARN,
                  "ipsec: --keylog: every derived IKE credential is written to %s (testing only)",
                  g->cfg.keylog);
    }
out:
    return rc;
}

/* ---- lifecycle
 * ------------------------------------------------------------------------------------------ */

static void signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

static uint64_t files_sig(const struct vmesh_ipsec *g);

vmesh_err vmesh_ipsec_new(const vmesh_ipsec_config *cfg, vmesh_ipsec **out)
{
    vmesh_err rc = VMESH_OK;
    struct vmesh_ipsec *g = NULL;
    vmesh_agent_config ac;
    vmesh_vici *v = NULL;
    unsigned removed = 0;
    sigset_t set;

    *out = NULL;
    /* Before any thread exists (sync, admin, agent): every thread inherits
     * the mask, so only vmesh_ipsec_run's signalfd sees these signals. */
    signal(SIGPIPE, SIG_IGN);
    signal_set(&set);
    VMESH_ENSURE(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, VMESH_ERR_IO,
                 "pthread_sigmask failed");
    VMESH_ENSURE(cfg->cert && cfg->key && cfg->bundle, VMESH_ERR_ARG,
                 "--cert, --key and --bundle are required");
    VMESH_ENSURE(cfg->n_peers > 0 && cfg->n_peers <= VMESH_IPSEC_MAX_PEERS, VMESH_ERR_ARG,
                 "give 1..%d peer gateways (--peer)", VMESH_IPSEC_MAX_PEERS);
    VMESH_ENSURE(cfg->bell_file == NULL || cfg->bell_key != NULL, VMESH_ERR_ARG,
                 "--bell needs --bell-key");
    VMESH_ENSURE(cfg->bell_url == NULL || (cfg->bell_key != NULL && cfg->n_rvps > 0), VMESH_ERR_ARG,
                 "--bell-url needs --bell-key and --rvp (the bell is fetched with the bundles)");
    g = calloc(1, sizeof(*g));
    VMESH_ENSURE(g != NULL, VMESH_ERR_NOMEM, "out of memory");
    g->cfg = *cfg;
    /* The identity files as they are before they are loaded: a change from
     * here on is one the watcher sees. Its baseline used to be taken at the
     * run loop's first tick, so a rotation made before that tick (after the
     * tunnel was up) was never checked as a half-swapped pair. */
    g->id_sig = files_sig(g);
    g->id_sig_set = true;
    g->listen_fd = g->stop_fd = g->access_fd = g->keylog_fd = -1;
    pthread_mutex_init(&g->wake_lock, NULL);
    pthread_mutex_init(&g->id_lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    pthread_mutex_init(&g->log_lock, NULL);
    g->vici_uri = strdup(cfg->vici ? cfg->vici : DEFAULT_VICI);
    g->ike_proposals = strdup(cfg->ike_proposals ? cfg->ike_proposals : DEFAULT_IKE);
    g->esp_proposals = strdup(cfg->esp_proposals ? cfg->esp_proposals : DEFAULT_ESP);
    VMESH_ENSURE(g->vici_uri && g->ike_proposals && g->esp_proposals, VMESH_ERR_NOMEM,
                 "out of memory");
    g->deadline_ms = cfg->deadline_ms ? cfg->deadline_ms : 10000;
    g->monitor_ms = cfg->monitor_ms ? cfg->monitor_ms : 250;
    g->poll_s = cfg->poll_interval > 0 ? cfg->poll_interval : 30;
    g->retry_s = cfg->retry_seconds > 0 ? cfg->retry_seconds : g->poll_s;
    g->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    VMESH_ENSURE(g->stop_fd >= 0, VMESH_ERR_IO, "eventfd: %s", strerror(errno));
    VMESH_GUARD(load_certs(g));
    VMESH_GUARD(setup_rp(g));
    memset(&ac, 0, sizeof(ac));
    ac.platform = cfg->platform;
    ac.platform_cfg = cfg->platform_cfg;
    ac.n_platform_cfg = cfg->n_platform_cfg;
    ac.attest_modes = cfg->attest_modes;
    ac.ak_rotate_seconds = cfg->ak_rotate_seconds;
    ac.verifier = g->verifier;
    ac.policy = g->policy;
    ac.bell = g->bell;
    VMESH_GUARD(vmesh_agent_new(&ac, &g->agent));
    g->peers = calloc(cfg->n_peers, sizeof(*g->peers));
    VMESH_ENSURE(g->peers != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cfg->n_peers; i++) {
        ix_peer *p = &g->peers[i];
        p->spec = cfg->peers[i];
        p->g = g;
        pthread_mutex_init(&p->lock, NULL);
        vmesh_atls_peer_result_init(&p->result);
        p->setup_s = p->rekey_s = p->cut_s = -1;
        g->npeers++;
        for (size_t j = 0; j < i; j++)
            VMESH_ENSURE(strcmp(g->peers[j].spec.name, p->spec.name) != 0 &&
                             strcmp(g->peers[j].spec.id, p->spec.id) != 0,
                         VMESH_ERR_ARG, "--peer %s: two peers with the same name or SPIFFE ID",
                         p->spec.name);
        p->initiator = p->spec.connect[0] != '\0';
        snprintf(p->conn_name, sizeof(p->conn_name), "%s%s", IX_CONN_PREFIX, p->spec.name);
        snprintf(p->local_id, sizeof(p->local_id), "{201}:%s", g->our_id);
        snprintf(p->remote_id, sizeof(p->remote_id), "{201}:%s", p->spec.id);
        if (p->initiator)
            VMESH_GUARD(tls_config(g, VMESH_ATLS_CLIENT, p->spec.id, &p->tls));
        else
            VMESH_ENSURE(cfg->listen != NULL, VMESH_ERR_ARG,
                         "--peer %s has no connect=: it dials us, so give --listen ADDR:PORT",
                         p->spec.name);
    }
    if (cfg->listen) {
        VMESH_GUARD(tls_config(g, VMESH_ATLS_SERVER, NULL, &g->server_tls));
        VMESH_GUARD(open_listener(g));
    }
    /* charon: reachable, our key loaded, nothing left over from before */
    VMESH_GUARD(vici_open(g, &v));
    rc = ix_charon_load_key(v, cfg->key);
    if (rc == VMESH_OK)
        rc = ix_charon_cleanup(v, &removed);
    VMESH_GUARD(rc);
    if (removed)
        vmesh_log(VMESH_LOG_WARN,
                  "ipsec: removed %u vmesh connections or keys an earlier instance left in charon",
                  removed);
    VMESH_GUARD(open_logs(g));
    if (cfg->admin_listen)
        VMESH_GUARD(ix_admin_start(g, cfg->admin_listen));
    *out = g;
    g = NULL;
out:
    vmesh_vici_close(v);
    vmesh_ipsec_free(g);
    return rc;
}

uint16_t vmesh_ipsec_listen_port(const vmesh_ipsec *g)
{
    return g->listen_port;
}

void vmesh_ipsec_stop(vmesh_ipsec *g)
{
    uint64_t one = 1;

    if (g->stop_fd >= 0)
        (void)!write(g->stop_fd, &one, sizeof(one));
}

/* ---- SVID rotation (docs/IPSEC.md "SVID rotation") -----------------------------------------
 * spiffe-helper or cert-manager replace the SVID, its key and the bundle by
 * renaming new files over the old ones, one file at a time. Once a second
 * the main loop compares the files' stat signature; on a change the whole
 * identity is read and checked (the key must match the certificate, the
 * SPIFFE ID must stay ours, the bundle must parse) before anything is
 * swapped: a half-written or mismatched pair is refused and the identity in
 * use stays; the next change (the other file landing) is tried again.
 * Installed SAs and open attested sessions are not touched: new sessions and
 * the next re-authentication use the new SVID. */

static uint64_t files_sig(const struct vmesh_ipsec *g)
{
    const char *files[3] = {g->cfg.cert, g->cfg.key, g->cfg.bundle};
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < 3; i++) {
        struct stat st;
        uint64_t v[5] = {0};
        if (stat(files[i], &st) == 0) {
            v[0] = (uint64_t)st.st_ino;
            v[1] = (uint64_t)st.st_size;
            v[2] = (uint64_t)st.st_mtim.tv_sec;
            v[3] = (uint64_t)st.st_mtim.tv_nsec;
            v[4] = (uint64_t)st.st_ctim.tv_nsec ^ (uint64_t)st.st_dev;
        }
        for (size_t k = 0; k < 5; k++) {
            h ^= v[k];
            h *= 1099511628211ULL;
        }
    }
    return h;
}

static vmesh_err reload_identity(struct vmesh_ipsec *g)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf leaf = {0}, ca[IX_MAX_CERTS];
    size_t n_ca = 0, nnew = 0;
    char *id = NULL;
    vmesh_atls_config **fresh = NULL, *server = NULL, **grown;
    vmesh_vici *v = NULL;

    memset(ca, 0, sizeof(ca));
    VMESH_GUARD(read_certs(g, &leaf, ca, &n_ca, &id));
    VMESH_ENSURE(strcmp(id, g->our_id) == 0, VMESH_ERR_POLICY,
                 "--cert %s now names %.200s, not %.200s: the gateway's identity does not change at run time "
                 "(restart to change it)", g->cfg.cert, id, g->our_id);
    /* every config checks that the key is the certificate's */
    fresh = calloc(g->npeers + 1, sizeof(*fresh));
    VMESH_ENSURE(fresh != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (; nnew < g->npeers; nnew++)
        if (g->peers[nnew].initiator)
            VMESH_GUARD(tls_config(g, VMESH_ATLS_CLIENT, g->peers[nnew].spec.id, &fresh[nnew]));
    if (g->server_tls != NULL)
        VMESH_GUARD(tls_config(g, VMESH_ATLS_SERVER, NULL, &server));
    /* charon signs round 1 with the new key from now on */
    VMESH_GUARD(vici_open(g, &v));
    VMESH_GUARD(ix_charon_load_key(v, g->cfg.key));
    grown = realloc(g->retired, (g->nretired + g->npeers + 1) * sizeof(*grown));
    VMESH_ENSURE(grown != NULL, VMESH_ERR_NOMEM, "out of memory");
    g->retired = grown;
    pthread_mutex_lock(&g->id_lock);
    for (size_t i = 0; i < g->npeers; i++)
        if (fresh[i] != NULL) {
            /* open sessions may still use the old config: kept until the end */
            g->retired[g->nretired++] = g->peers[i].tls;
            g->peers[i].tls = fresh[i];
            fresh[i] = NULL;
        }
    if (server != NULL) {
        g->retired[g->nretired++] = g->server_tls;
        g->server_tls = server;
        server = NULL;
    }
    vmesh_buf_free(&g->leaf_der);
    g->leaf_der = leaf;
    memset(&leaf, 0, sizeof(leaf));
    for (size_t i = 0; i < g->n_ca; i++)
        vmesh_buf_free(&g->ca_der[i]);
    memcpy(g->ca_der, ca, sizeof(ca));
    g->n_ca = n_ca;
    memset(ca, 0, sizeof(ca));
    n_ca = 0;
    pthread_mutex_unlock(&g->id_lock);
out:
    vmesh_vici_close(v);
    for (size_t i = 0; fresh != NULL && i < g->npeers; i++)
        vmesh_atls_config_free(fresh[i]);
    free(fresh);
    vmesh_atls_config_free(server);
    vmesh_buf_free(&leaf);
    for (size_t i = 0; i < n_ca; i++)
        vmesh_buf_free(&ca[i]);
    free(id);
    return rc;
}

static void watch_identity(struct vmesh_ipsec *g)
{
    uint64_t sig = files_sig(g);

    if (!g->id_sig_set) {
        g->id_sig = sig;
        g->id_sig_set = true;
        return;
    }
    if (sig == g->id_sig)
        return;
    g->id_sig = sig;
    atomic_fetch_add(&g->id_changes, 1);
    if (reload_identity(g) != VMESH_OK) {
        atomic_fetch_add(&g->id_refused, 1);
        vmesh_log(VMESH_LOG_WARN, "ipsec: the SVID files changed but were refused; the identity in use stays: %s",
                  vmesh_err_detail());
        return;
    }
    vmesh_log(VMESH_LOG_INFO, "ipsec: identity reloaded from %s (SVID rotation); installed SAs and open sessions "
                              "continue, new sessions use the new SVID",
              g->cfg.cert);
}

vmesh_err vmesh_ipsec_reload(vmesh_ipsec *g)
{
    vmesh_err rc = VMESH_OK;
    vmesh_policy *pol = NULL, *old = g->policy;

    VMESH_GUARD(load_rv_files(g));
    if (g->cfg.policy_file) {
        g->policy = NULL;
        rc = make_policy(g);
        pol = g->policy;
        g->policy = old;
        VMESH_GUARD(rc);
        vmesh_agent_set_policy(g->agent, pol);
        g->policy = pol;
        pol = NULL;
        vmesh_policy_free(old);
    }
    atomic_fetch_add(&g->reappraise_gen, 1);
    wake_all(g);
out:
    vmesh_policy_free(pol);
    return rc;
}

vmesh_err vmesh_ipsec_run(vmesh_ipsec *g)
{
    vmesh_err rc = VMESH_OK;
    uint64_t next_rekey =
        now_ns() + (uint64_t)(g->cfg.rekey_seconds > 0 ? g->cfg.rekey_seconds : 0) * 1000000000ULL;
    sigset_t set;
    int sfd = -1;

    /* Signals arrive through a signalfd in this thread; vmesh_ipsec_new
     * blocked them before it started any thread. */
    signal_set(&set);
    VMESH_ENSURE(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, VMESH_ERR_IO,
                 "pthread_sigmask failed");
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    VMESH_ENSURE(sfd >= 0, VMESH_ERR_IO, "signalfd: %s", strerror(errno));
    if (g->sync)
        VMESH_GUARD(vmesh_sync_start(g->sync));
    for (size_t i = 0; i < g->npeers; i++) {
        VMESH_ENSURE(pthread_create(&g->peers[i].thread, NULL, peer_main, &g->peers[i]) == 0,
                     VMESH_ERR_IO, "pthread_create failed");
        g->peers[i].thread_started = true;
    }
    if (g->listen_fd >= 0) {
        VMESH_ENSURE(pthread_create(&g->accept_thread, NULL, accept_main, g) == 0, VMESH_ERR_IO,
                     "pthread_create failed");
        g->accept_started = true;
    }
    vmesh_log(VMESH_LOG_INFO, "ipsec: %s serving %zu peer gateways (charon at %s)", g->our_id,
              g->npeers, g->vici_uri);
    for (;;) {
        struct pollfd pfd[2] = {{g->stop_fd, POLLIN, 0}, {sfd, POLLIN, 0}};
        bool stop = false;

        if (poll(pfd, 2, 1000) > 0) {
            struct signalfd_siginfo si;
            if (pfd[0].revents & POLLIN)
                stop = true;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo != SIGHUP) {
                    stop = true;
                } else if (vmesh_ipsec_reload(g) != VMESH_OK) {
                    vmesh_log(
                        VMESH_LOG_ERROR,
                        "ipsec: reload failed, the previous reference values and policy stay: %s",
                        vmesh_err_detail());
                } else {
                    vmesh_log(VMESH_LOG_INFO, "ipsec: reloaded; re-appraising every peer gateway");
                }
            }
        }
        if (stop)
            break;
        watch_identity(g);
        if (g->cfg.bell_file && refresh_bell_file(g) != VMESH_OK)
            vmesh_log(VMESH_LOG_DEBUG, "ipsec: %s", vmesh_err_detail());
        if (g->bell == NULL && g->cfg.rekey_seconds > 0 && now_ns() >= next_rekey) {
            atomic_fetch_add(&g->manual_epoch, 1);
            next_rekey = now_ns() + (uint64_t)g->cfg.rekey_seconds * 1000000000ULL;
            wake_all(g);
        }
    }
out:
    atomic_store(&g->stopping, true);
    wake_all(g);
    for (size_t i = 0; i < g->npeers; i++)
        if (g->peers[i].thread_started) {
            pthread_join(g->peers[i].thread, NULL);
            g->peers[i].thread_started = false;
        }
    if (g->accept_started) {
        pthread_join(g->accept_thread, NULL);
        g->accept_started = false;
    }
    /* detached handlers finish within their deadline */
    for (int i = 0; i < 200 && atomic_load(&g->handlers) > 0; i++)
        usleep(50000);
    if (g->sync)
        vmesh_sync_stop(g->sync);
    vmesh_log(VMESH_LOG_INFO,
              "ipsec: stopped; every credential and SA it installed was removed from charon");
    if (sfd >= 0)
        close(sfd);
    return rc;
}

void vmesh_ipsec_free(vmesh_ipsec *g)
{
    if (g == NULL)
        return;
    ix_admin_stop(g);
    vmesh_sync_free(g->sync);
    for (size_t i = 0; i < g->npeers; i++) {
        vmesh_atls_config_free(g->peers[i].tls);
        vmesh_atls_peer_result_free(&g->peers[i].result);
        pthread_mutex_destroy(&g->peers[i].lock);
    }
    free(g->peers);
    vmesh_atls_config_free(g->server_tls);
    for (size_t i = 0; i < g->nretired; i++)
        vmesh_atls_config_free(g->retired[i]);
    free(g->retired);
    vmesh_agent_free(g->agent);
    vmesh_policy_free(g->policy);
    vmesh_verifier_free(g->verifier);
    vmesh_bell_view_free(g->bell);
    vmesh_crypto_key_free(g->bell_key);
    vmesh_buf_free(&g->leaf_der);
    for (size_t i = 0; i < g->n_ca; i++)
        vmesh_buf_free(&g->ca_der[i]);
    free(g->our_id);
    free(g->vici_uri);
    free(g->ike_proposals);
    free(g->esp_proposals);
    if (g->listen_fd >= 0)
        close(g->listen_fd);
    if (g->stop_fd >= 0)
        close(g->stop_fd);
    if (g->access_fd >= 0)
        close(g->access_fd);
    if (g->keylog_fd >= 0)
        close(g->keylog_fd);
    pthread_mutex_destroy(&g->wake_lock);
    pthread_mutex_destroy(&g->id_lock);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->log_lock);
    free(g);
}
