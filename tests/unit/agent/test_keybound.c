/*
 * Key-bound attestation (docs/ATLS.md "Key-bound attestation", DECISIONS
 * D38) with the real agent: the attestation key is the TLS leaf key, made
 * in the agent's memory and certified without touching a file; the session
 * proof is the TLS 1.3 CertificateVerify. Tried as an attacker would: a
 * genuine key-bound message relayed into another session by a raw TLS
 * client holding its own valid SVID, the server's own message reflected
 * back, evidence that binds another key, a certificate whose key is not
 * the AK, resumption, SVID rotation, and old (no 0xff4e) peers against
 * each policy setting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmesh/agent.h"
#include "vmesh/pki.h"

#define SERVER_ID "spiffe://example.org/server"
#define CLIENT_ID "spiffe://example.org/client"

static char dir[128];
static char path_buf[16][256];
static int npath;
static vmesh_key *bell_key, *ear_key;
static vmesh_rv_store *rv;
static vmesh_buf bell;

static const char *P(const char *name)
{
    char *p = path_buf[npath++ % 16];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const char *text)
{
    assert_int_equal(vmesh_file_write(P(name), text, strlen(text), 0600), VMESH_OK);
}

static void make_platform(const char *who)
{
    char name[64];
    vmesh_key *iak = NULL;

    snprintf(name, sizeof(name), "%s-iak.pem", who);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &iak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_save(iak, P(name), true, false), VMESH_OK);
    vmesh_crypto_key_free(iak);
}

static void add_pub(vmesh_rv_store *st, const vmesh_rv_env *env, const char *file)
{
    vmesh_key *k = NULL, *pub = NULL;
    vmesh_buf spki = {0};

    assert_int_equal(vmesh_crypto_key_load(P(file), &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(k, &spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub), VMESH_OK);
    assert_int_equal(vmesh_rv_add_key(st, env, pub), VMESH_OK);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(pub);
    vmesh_buf_free(&spki);
}

static int group_setup(void **state)
{
    vmesh_bell b;
    uint8_t d[32];
    vmesh_rv_env env = {"psa", (const uint8_t *)"vmesh-test-implementation-id-001", 32, NULL, 0};
    vmesh_rv_measurement m = {"workload", NULL, NULL, 0, VMESH_HASH_SHA256, d, 32};
    static const char *wl = "genuine workload v1\n";

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vmesh-keybound-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(vmesh_pki_ca_init("example.org", P("ca"), 1, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(P("ca"), SERVER_ID, P("srv"), 1, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(P("ca"), CLIENT_ID, P("cli"), 1, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(P("ca"), "spiffe://example.org/mallory", P("mal"), 1, VMESH_KEY_EC_P256),
                     VMESH_OK);
    make_platform("server");
    make_platform("client");
    write_file("workload", wl);
    write_file("claims.json",
               "{\"eat-profile\":\"tag:psacertified.org,2023:psa#tfm\",\"psa-client-id\":1,"
               "\"psa-security-lifecycle\":12288,"
               "\"psa-implementation-id\":\"dm1lc2gtdGVzdC1pbXBsZW1lbnRhdGlvbi1pZC0wMDE=\","
               "\"psa-boot-seed\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
               "\"psa-nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
               "\"psa-software-components\":[{\"measurement-type\":\"workload\","
               "\"measurement-value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
               "\"signer-id\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}");
    assert_int_equal(vmesh_rv_store_new(&rv), VMESH_OK);
    vmesh_crypto_sha256((const uint8_t *)wl, strlen(wl), d);
    assert_int_equal(vmesh_rv_add_measurement(rv, &env, &m), VMESH_OK);
    add_pub(rv, &env, "server-iak.pem");
    add_pub(rv, &env, "client-iak.pem");
    vmesh_rv_store_freeze(rv);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &bell_key), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ear_key), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("rvp.test", 0, 600, &b), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(&b, bell_key, &bell), VMESH_OK);
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[300];

    (void)state;
    vmesh_rv_store_free(rv);
    vmesh_crypto_key_free(bell_key);
    vmesh_crypto_key_free(ear_key);
    vmesh_buf_free(&bell);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- one side: agent, verifier, bell, atls config ----------------------------------- */

enum { SVID_AGENT_KEY, /* key-bound: a certificate for the agent's in-memory AK */
       SVID_FILE };    /* the SVID files (srv/cli.key): an ordinary, copyable key */

enum { EVIL_NONE, EVIL_RECORD, EVIL_OTHER_EVIDENCE };

typedef struct {
    vmesh_agent *agent;
    vmesh_verifier *verifier, *issuer;
    vmesh_bell_view *bell;
    vmesh_atls_config *cfg;
    vmesh_atls_provider prov, inner;
    const char *id;
    int evil;
} side;

/* What EVIL_RECORD keeps: the last message made, as it went on the wire. */
static vmesh_atls_msg recorded;
static bool have_recorded;
/* EVIL_OTHER_EVIDENCE puts this evidence (another key's) in our message. */
static vmesh_buf other_cmw;

static vmesh_err wrap_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg)
{
    side *s = ctx;
    vmesh_err rc = s->inner.attest(s->inner.ctx, in, msg);

    if (rc != VMESH_OK)
        return rc;
    if (s->evil == EVIL_RECORD) {
        vmesh_atls_msg_free(&recorded);
        vmesh_atls_msg_init(&recorded);
        recorded.role = msg->role;
        recorded.keybound = in->keybound;
        assert_int_equal(vmesh_buf_set(&recorded.media_type, msg->media_type.data, msg->media_type.len), VMESH_OK);
        assert_int_equal(vmesh_buf_set(&recorded.cmw, msg->cmw.data, msg->cmw.len), VMESH_OK);
        assert_int_equal(vmesh_buf_set(&recorded.ak_spki, msg->ak_spki.data, msg->ak_spki.len), VMESH_OK);
        assert_int_equal(vmesh_buf_set(&recorded.epoch_nonce, msg->epoch_nonce.data, msg->epoch_nonce.len),
                         VMESH_OK);
        recorded.epoch_id = msg->epoch_id;
        have_recorded = true;
    } else if (s->evil == EVIL_OTHER_EVIDENCE) {
        /* our own leaf key as AK (so the CertificateVerify check passes),
         * but evidence that binds another key */
        assert_int_equal(vmesh_buf_set(&msg->cmw, other_cmw.data, other_cmw.len), VMESH_OK);
    }
    return VMESH_OK;
}

static vmesh_err pass_appraise(void *ctx, const vmesh_atls_appraise_in *in, vmesh_atls_peer_result *out,
                               vmesh_atls_reason *reason)
{
    side *s = ctx;
    return s->inner.appraise(s->inner.ctx, in, out, reason);
}

static vmesh_policy *policy_kb(const char *kb)
{
    char doc[1024];
    vmesh_policy *p = NULL;
    vmesh_buf jwk = {0};

    assert_int_equal(vmesh_crypto_key_to_jwk(ear_key, false, &jwk), VMESH_OK);
    assert_int_equal(vmesh_buf_terminate(&jwk), VMESH_OK);
    snprintf(doc, sizeof(doc), "{\"format\":\"vmesh-policy/1\",\"trusted-verifiers\":[%s]%s%s%s}",
             (char *)jwk.data, kb ? ",\"key-bound\":\"" : "", kb ? kb : "", kb ? "\"" : "");
    assert_int_equal(vmesh_policy_parse((const uint8_t *)doc, strlen(doc), "test", &p), VMESH_OK);
    vmesh_buf_free(&jwk);
    return p;
}

/* Gives side s a certificate for its agent's current AK (from memory). */
static void svid_for_agent(side *s)
{
    vmesh_key *k = NULL;
    vmesh_buf chain = {0};

    assert_int_equal(vmesh_agent_tls_key(s->agent, &k), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue_for_key(P("ca"), s->id, 1, k, &chain), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_svid_key(s->cfg, chain.data, chain.len, k), VMESH_OK);
    vmesh_crypto_key_free(k);
    vmesh_buf_free(&chain);
}

/* kb_policy: the "key-bound" setting of this side's policy for its peer
 * (NULL: absent, i.e. off); keybound: the agent's AK is its TLS key. */
static void side_init(side *s, vmesh_atls_role role, const char *kb_policy, bool keybound, int svid, unsigned modes,
                      int evil)
{
    const char *who = role == VMESH_ATLS_SERVER ? "server" : "client";
    char iak[64], measure[300];
    vmesh_kv kv[3];
    vmesh_verifier_config vc = {0};
    vmesh_agent_config ac = {0};
    vmesh_policy *pol = policy_kb(kb_policy);

    memset(s, 0, sizeof(*s));
    s->id = role == VMESH_ATLS_SERVER ? SERVER_ID : CLIENT_ID;
    s->evil = evil;
    snprintf(iak, sizeof(iak), "%s-iak.pem", who);
    snprintf(measure, sizeof(measure), "workload=%s", P("workload"));
    kv[0].key = "iak";
    kv[0].value = strdup(P(iak));
    kv[1].key = "claims";
    kv[1].value = strdup(P("claims.json"));
    kv[2].key = "measure";
    kv[2].value = strdup(measure);
    assert_int_equal(vmesh_verifier_new(&vc, &s->verifier), VMESH_OK);
    vmesh_verifier_set_rv(s->verifier, rv);
    vc.ear_key = ear_key;
    assert_int_equal(vmesh_verifier_new(&vc, &s->issuer), VMESH_OK);
    vmesh_verifier_set_rv(s->issuer, rv);
    assert_int_equal(vmesh_bell_view_new(bell_key, &s->bell), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(s->bell, (const char *)bell.data, bell.len, vmesh_time_now()), VMESH_OK);
    ac.platform = "psa";
    ac.platform_cfg = kv;
    ac.n_platform_cfg = 3;
    ac.attest_modes = modes;
    ac.passport = vmesh_agent_local_passport;
    ac.passport_ctx = s->issuer;
    ac.verifier = s->verifier;
    ac.policy = pol;
    ac.bell = s->bell;
    ac.keybound = keybound;
    assert_int_equal(vmesh_agent_new(&ac, &s->agent), VMESH_OK);
    for (int i = 0; i < 3; i++)
        free((char *)kv[i].value);
    vmesh_policy_free(pol);
    vmesh_agent_provider(s->agent, &s->inner);
    s->prov = s->inner;
    s->prov.ctx = s;
    s->prov.attest = wrap_attest;
    s->prov.appraise = pass_appraise;
    assert_int_equal(vmesh_atls_config_new(role, &s->cfg), VMESH_OK);
    if (svid == SVID_AGENT_KEY)
        svid_for_agent(s);
    else if (role == VMESH_ATLS_SERVER)
        assert_int_equal(vmesh_atls_config_set_svid(s->cfg, P("srv-chain.pem"), P("srv.key")), VMESH_OK);
    else
        assert_int_equal(vmesh_atls_config_set_svid(s->cfg, P("cli-chain.pem"), P("cli.key")), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_bundle(s->cfg, P("ca/bundle.pem")), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_provider(s->cfg, &s->prov), VMESH_OK);
    vmesh_atls_config_set_deadline_ms(s->cfg, 10000);
}

static void side_free(side *s)
{
    vmesh_atls_config_free(s->cfg);
    vmesh_agent_free(s->agent);
    vmesh_bell_view_free(s->bell);
    vmesh_verifier_free(s->verifier);
    vmesh_verifier_free(s->issuer);
}

/* ---- running a connection --------------------------------------------------------------- */

typedef struct {
    side *s;
    int fd;
    vmesh_err rc;
    vmesh_atls_reason reason;
    bool by_peer, peer_kb, own_kb, resumed;
    int peer_mode;
    char msg[300];
} run;

static void finish_run(run *r, vmesh_atls_conn *c, vmesh_err rc)
{
    const char *m = NULL;

    r->rc = rc;
    r->reason = c ? vmesh_atls_failure(c, &m, &r->by_peer) : VMESH_ATLS_R_NONE;
    snprintf(r->msg, sizeof(r->msg), "%s", m ? m : "");
    r->peer_mode = c ? vmesh_atls_peer_mode(c) : -1;
    r->peer_kb = c && vmesh_atls_peer_keybound(c);
    r->own_kb = c && vmesh_atls_own_keybound(c);
    r->resumed = c && vmesh_atls_resumed(c);
}

static void *server_thread(void *arg)
{
    run *r = arg;
    vmesh_atls_conn *c = NULL;
    vmesh_err rc = vmesh_atls_conn_new(r->s->cfg, r->fd, &c);
    char buf[16];
    size_t got = 0;

    if (rc == VMESH_OK)
        rc = vmesh_atls_handshake(c);
    if (rc == VMESH_OK) {
        rc = vmesh_atls_read(c, buf, sizeof(buf), &got);
        if (rc == VMESH_OK && (rc = vmesh_atls_write(c, buf, got)) == VMESH_OK)
            rc = vmesh_atls_flush(c);
    }
    finish_run(r, c, rc);
    if (c && vmesh_atls_shutdown(c) != VMESH_OK)
        vmesh_err_clear();
    vmesh_atls_free(c);
    shutdown(r->fd, SHUT_WR);
    return NULL;
}

static void connect_once(side *s, side *c, run *rs, run *rc_, vmesh_atls_session **sess)
{
    int sv[2];
    pthread_t th;
    vmesh_atls_conn *conn = NULL;
    vmesh_err rc;
    char buf[16];
    size_t got = 0;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(rs, 0, sizeof(*rs));
    memset(rc_, 0, sizeof(*rc_));
    rs->s = s;
    rs->fd = sv[0];
    assert_int_equal(pthread_create(&th, NULL, server_thread, rs), 0);
    rc = vmesh_atls_conn_new(c->cfg, sv[1], &conn);
    if (rc == VMESH_OK && sess && *sess)
        rc = vmesh_atls_conn_set_session(conn, *sess);
    if (rc == VMESH_OK)
        rc = vmesh_atls_handshake(conn);
    if (rc == VMESH_OK && (rc = vmesh_atls_write(conn, "ping", 4)) == VMESH_OK &&
        (rc = vmesh_atls_flush(conn)) == VMESH_OK) {
        do {
            rc = vmesh_atls_read(conn, buf, sizeof(buf), &got);
        } while (rc == VMESH_ERR_WANT_READ);
    }
    finish_run(rc_, conn, rc);
    if (sess) {
        vmesh_atls_session_free(*sess);
        *sess = vmesh_atls_conn_get1_session(conn);
    }
    if (vmesh_atls_shutdown(conn) != VMESH_OK)
        vmesh_err_clear();
    vmesh_atls_free(conn);
    shutdown(sv[1], SHUT_WR);
    pthread_join(th, NULL);
    close(sv[0]);
    close(sv[1]);
}

/* ---- a raw attacker: its own valid SVID (mallory), any message it likes -------------------- */

static int raw_ff4d_add(SSL *s, unsigned int t, unsigned int ctx, const unsigned char **out, size_t *len, X509 *x,
                        size_t ci, int *al, void *arg)
{
    vmesh_atls_ext e;
    vmesh_buf b = {0};

    (void)s, (void)t, (void)ctx, (void)x, (void)ci, (void)al, (void)arg;
    memset(&e, 0, sizeof(e));
    e.will_attest = true; /* asks nothing of the server, attests itself */
    if (vmesh_atls_ext_encode(&e, &b) != VMESH_OK)
        return -1;
    *out = vmesh_buf_steal(&b, len);
    return 1;
}

static int raw_kb_add(SSL *s, unsigned int t, unsigned int ctx, const unsigned char **out, size_t *len, X509 *x,
                      size_t ci, int *al, void *arg)
{
    uint8_t *b = malloc(1);

    (void)s, (void)t, (void)ctx, (void)x, (void)ci, (void)al, (void)arg;
    if (b == NULL)
        return -1;
    b[0] = VMESH_ATLS_KB_ACCEPT | VMESH_ATLS_KB_ATTEST;
    *out = b;
    *len = 1;
    return 1;
}

static void raw_free(SSL *s, unsigned int t, unsigned int ctx, const unsigned char *out, void *arg)
{
    (void)s, (void)t, (void)ctx, (void)arg;
    free((void *)out);
}

static int raw_parse(SSL *s, unsigned int t, unsigned int ctx, const unsigned char *in, size_t len, X509 *x,
                     size_t ci, int *al, void *arg)
{
    (void)s, (void)t, (void)ctx, (void)in, (void)len, (void)x, (void)ci, (void)al, (void)arg;
    return 1;
}

/* Mallory connects to server side s with her own SVID, announces key-bound
 * attestation, and sends message m as her attestation. The server's run. */
static void raw_attack(side *s, const vmesh_atls_msg *m, run *rs)
{
    int sv[2];
    pthread_t th;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl;
    vmesh_buf payload = {0}, frame = {0};
    uint8_t back[4096];
    size_t w, got;

    assert_int_equal(vmesh_atls_msg_encode(m, &payload), VMESH_OK);
    assert_int_equal(vmesh_atls_frame_encode(VMESH_ATLS_FRAME_ATTESTATION, payload.data, payload.len, &frame),
                     VMESH_OK);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(rs, 0, sizeof(*rs));
    rs->s = s;
    rs->fd = sv[0];
    assert_int_equal(pthread_create(&th, NULL, server_thread, rs), 0);
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, P("mal-chain.pem")), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, P("mal.key"), SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_add_custom_ext(ctx, VMESH_ATLS_EXT_TYPE,
                                            SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS, raw_ff4d_add,
                                            raw_free, NULL, raw_parse, NULL),
                     1);
    assert_int_equal(SSL_CTX_add_custom_ext(ctx, VMESH_ATLS_KEYBOUND_EXT_TYPE,
                                            SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS, raw_kb_add,
                                            raw_free, NULL, raw_parse, NULL),
                     1);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, sv[1]);
    assert_int_equal(SSL_connect(ssl), 1);
    assert_int_equal(SSL_write_ex(ssl, frame.data, frame.len, &w), 1);
    while (SSL_read_ex(ssl, back, sizeof(back), &got) == 1)
        ;
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    shutdown(sv[1], SHUT_WR);
    pthread_join(th, NULL);
    close(sv[0]);
    close(sv[1]);
    vmesh_buf_free(&payload);
    vmesh_buf_free(&frame);
}

/* ---- tests ------------------------------------------------------------------------------------- */

#define EF VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH)
#define PP VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_PASSPORT)

/* Both sides key-bound, in epoch-fresh and in passport mode: admitted, both
 * messages key-bound (no AK signature made); a resumed session carries no
 * CertificateVerify, so it is attested with a version 2 proof instead. */
static void keybound_mutual(void **state)
{
    static const unsigned modes[] = {EF, PP};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        side s, c;
        run rs, rc;
        vmesh_atls_session *sess = NULL;

        side_init(&s, VMESH_ATLS_SERVER, "allow", true, SVID_AGENT_KEY, modes[i], EVIL_NONE);
        side_init(&c, VMESH_ATLS_CLIENT, "require", true, SVID_AGENT_KEY, modes[i], EVIL_NONE);
        connect_once(&s, &c, &rs, &rc, &sess);
        assert_int_equal(rc.rc, VMESH_OK);
        assert_int_equal(rs.rc, VMESH_OK);
        assert_true(rs.peer_kb && rc.peer_kb && rs.own_kb && rc.own_kb);
        assert_int_equal(rs.peer_mode, i == 0 ? VMESH_ATLS_MODE_EPOCH_FRESH : VMESH_ATLS_MODE_PASSPORT);
        assert_non_null(sess);
        connect_once(&s, &c, &rs, &rc, &sess);
        assert_int_equal(rc.rc, VMESH_OK);
        assert_int_equal(rs.rc, VMESH_OK);
        assert_true(rc.resumed);
        assert_false(rs.peer_kb || rc.peer_kb || rs.own_kb || rc.own_kb);
        vmesh_atls_session_free(sess);
        side_free(&s);
        side_free(&c);
    }
}

/* A genuine key-bound message of the real client, relayed by Mallory (her
 * own valid SVID, her own key) into her session with the server: refused,
 * the AK is not the key that signed her CertificateVerify. The server's own
 * message reflected back to it: refused by the role byte. */
static void relay_and_reflection_refused(void **state)
{
    side s, c;
    run rs, rc;

    (void)state;
    side_init(&s, VMESH_ATLS_SERVER, "allow", true, SVID_AGENT_KEY, EF, EVIL_RECORD);
    side_init(&c, VMESH_ATLS_CLIENT, "allow", true, SVID_AGENT_KEY, EF, EVIL_RECORD);
    /* the genuine session: recorded last is the client's message */
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rc.rc, VMESH_OK);
    assert_int_equal(rs.rc, VMESH_OK);
    assert_true(have_recorded && recorded.keybound && recorded.role == VMESH_ATLS_CLIENT);
    s.evil = EVIL_NONE;
    raw_attack(&s, &recorded, &rs);
    assert_int_not_equal(rs.rc, VMESH_OK);
    assert_int_equal(rs.reason, VMESH_ATLS_R_AK_MISMATCH);
    assert_false(rs.by_peer);
    assert_non_null(strstr(rs.msg, "not the key of the peer's certificate"));
    /* reflection: the server's own key-bound message, sent back */
    c.evil = EVIL_NONE;
    s.evil = EVIL_RECORD;
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rs.rc, VMESH_OK);
    assert_true(recorded.keybound && recorded.role == VMESH_ATLS_SERVER);
    s.evil = EVIL_NONE;
    raw_attack(&s, &recorded, &rs);
    assert_int_equal(rs.reason, VMESH_ATLS_R_ROLE_MISMATCH);
    /* and with the role byte rewritten, the key check still refuses it */
    recorded.role = VMESH_ATLS_CLIENT;
    raw_attack(&s, &recorded, &rs);
    assert_int_equal(rs.reason, VMESH_ATLS_R_AK_MISMATCH);
    side_free(&s);
    side_free(&c);
}

/* A key-bound message to a server whose policy does not accept key-bound
 * attestation (it sent no 0xff4e accept): refused before any key check. */
static void keybound_not_negotiated_refused(void **state)
{
    side s, c;
    run rs, rc;

    (void)state;
    side_init(&s, VMESH_ATLS_SERVER, "allow", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    side_init(&c, VMESH_ATLS_CLIENT, "allow", true, SVID_AGENT_KEY, EF, EVIL_RECORD);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rs.rc, VMESH_OK);
    side_free(&s);
    side_init(&s, VMESH_ATLS_SERVER, NULL, true, SVID_AGENT_KEY, EF, EVIL_NONE);
    raw_attack(&s, &recorded, &rs);
    assert_int_equal(rs.reason, VMESH_ATLS_R_MODE_REFUSED);
    assert_non_null(strstr(rs.msg, "was not negotiated"));
    side_free(&s);
    side_free(&c);
}

/* Evidence that binds another key, in a message whose AK is the sender's
 * leaf key (so the CertificateVerify check passes): the evidence's nonce is
 * not ak_nonce(leaf key, epoch), refused. */
static void evidence_of_another_key_refused(void **state)
{
    side s, c, x;
    run rs, rc;

    (void)state;
    /* the other key's evidence: a genuine key-bound attester x */
    side_init(&s, VMESH_ATLS_SERVER, "allow", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    side_init(&x, VMESH_ATLS_CLIENT, "allow", true, SVID_AGENT_KEY, EF, EVIL_RECORD);
    connect_once(&s, &x, &rs, &rc, NULL);
    assert_int_equal(rs.rc, VMESH_OK);
    assert_int_equal(vmesh_buf_set(&other_cmw, recorded.cmw.data, recorded.cmw.len), VMESH_OK);
    side_init(&c, VMESH_ATLS_CLIENT, "allow", true, SVID_AGENT_KEY, EF, EVIL_OTHER_EVIDENCE);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_not_equal(rs.rc, VMESH_OK);
    assert_true(rs.reason == VMESH_ATLS_R_AK_MISMATCH || rs.reason == VMESH_ATLS_R_EVIDENCE_INVALID);
    assert_false(rs.peer_kb);
    vmesh_buf_free(&other_cmw);
    side_free(&s);
    side_free(&c);
    side_free(&x);
}

/* A key-bound agent whose TLS certificate is NOT for its AK (an SVID from a
 * file): our own side refuses to send a key-bound message (it would claim a
 * binding the handshake does not prove); nothing is admitted. */
static void certificate_key_not_ak_refused(void **state)
{
    side s, c;
    run rs, rc;

    (void)state;
    side_init(&s, VMESH_ATLS_SERVER, "allow", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    side_init(&c, VMESH_ATLS_CLIENT, "allow", true, SVID_FILE, EF, EVIL_NONE);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_not_equal(rc.rc, VMESH_OK);
    assert_int_equal(rc.reason, VMESH_ATLS_R_INTERNAL);
    assert_non_null(strstr(rc.msg, "not the attestation key"));
    assert_int_not_equal(rs.rc, VMESH_OK);
    side_free(&s);
    side_free(&c);
}

/* SVID rotation: a new AK means a new certificate and new evidence; the old
 * certificate with the rotated agent no longer attests key-bound. */
static void rotation_needs_new_svid(void **state)
{
    side s, c;
    run rs, rc;
    vmesh_agent_stats before, after;

    (void)state;
    side_init(&s, VMESH_ATLS_SERVER, "allow", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    side_init(&c, VMESH_ATLS_CLIENT, "allow", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rs.rc, VMESH_OK);
    assert_true(rs.peer_kb);
    vmesh_agent_stats_get(c.agent, &before);
    assert_int_equal(vmesh_agent_rotate_ak(c.agent), VMESH_OK);
    connect_once(&s, &c, &rs, &rc, NULL); /* old certificate, new AK */
    assert_int_equal(rc.reason, VMESH_ATLS_R_INTERNAL);
    assert_non_null(strstr(rc.msg, "not the attestation key"));
    svid_for_agent(&c);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rc.rc, VMESH_OK);
    assert_int_equal(rs.rc, VMESH_OK);
    assert_true(rs.peer_kb);
    vmesh_agent_stats_get(c.agent, &after);
    /* one new evidence for the new AK (made for the refused attempt already) */
    assert_int_equal(after.evidence_generated, before.evidence_generated + 1);
    side_free(&s);
    side_free(&c);
}

/* A configuration reload (D44): a new agent takes over a key-bound agent's
 * AK, so the SVID issued for it keeps serving; only between key-bound
 * agents. */
static vmesh_agent *agent_from(const side *like, bool keybound, vmesh_agent *from)
{
    char measure[300];
    vmesh_kv kv[3] = {{"iak", P("client-iak.pem")}, {"claims", P("claims.json")}, {"measure", measure}};
    vmesh_agent_config ac = {0};
    vmesh_agent *a = NULL;
    vmesh_policy *pol = policy_kb("require");

    snprintf(measure, sizeof(measure), "workload=%s", P("workload"));
    ac.platform = "psa";
    ac.platform_cfg = kv;
    ac.n_platform_cfg = 3;
    ac.attest_modes = EF;
    ac.passport = vmesh_agent_local_passport;
    ac.passport_ctx = like->issuer;
    ac.verifier = like->verifier;
    ac.policy = pol;
    ac.bell = like->bell;
    ac.keybound = keybound;
    ac.keybound_from = from;
    if (vmesh_agent_new(&ac, &a) != VMESH_OK)
        a = NULL;
    vmesh_policy_free(pol);
    return a;
}

static void takeover_keeps_the_ak(void **state)
{
    side s, c;
    run rs, rc;
    vmesh_agent *next, *plain;
    vmesh_buf a = {0}, b = {0};
    vmesh_key *k = NULL;

    (void)state;
    side_init(&s, VMESH_ATLS_SERVER, "require", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    side_init(&c, VMESH_ATLS_CLIENT, "require", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    next = agent_from(&c, true, c.agent);
    assert_non_null(next);
    assert_int_equal(vmesh_agent_ak_spki(c.agent, &a), VMESH_OK);
    assert_int_equal(vmesh_agent_ak_spki(next, &b), VMESH_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_int_equal(vmesh_agent_tls_key(next, &k), VMESH_OK);
    vmesh_crypto_key_free(k);
    /* the old agent goes; the certificate made for its AK still serves */
    vmesh_agent_free(c.agent);
    c.agent = next;
    vmesh_agent_provider(c.agent, &c.inner);
    c.prov = c.inner;
    c.prov.ctx = &c;
    c.prov.attest = wrap_attest;
    c.prov.appraise = pass_appraise;
    assert_int_equal(vmesh_atls_config_set_provider(c.cfg, &c.prov), VMESH_OK);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rc.rc, VMESH_OK);
    assert_int_equal(rs.rc, VMESH_OK);
    assert_true(rs.peer_kb && rc.own_kb);
    /* only between key-bound agents */
    assert_null(agent_from(&c, false, c.agent));
    assert_non_null(strstr(vmesh_err_detail(), "key-bound"));
    plain = agent_from(&c, false, NULL);
    assert_non_null(plain);
    assert_null(agent_from(&c, true, plain));
    assert_non_null(strstr(vmesh_err_detail(), "not key-bound"));
    vmesh_agent_free(plain);
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
    side_free(&s);
    side_free(&c);
}

/* Old peers (no 0xff4e: an agent that is not key-bound and a policy that
 * says nothing) against key-bound ones, under each policy setting. */
static void old_and_keybound_peers(void **state)
{
    side s, c;
    run rs, rc;

    (void)state;
    /* key-bound client, old server (no 0xff4e answer): the client falls
     * back to a version 2 message, admitted */
    side_init(&s, VMESH_ATLS_SERVER, NULL, false, SVID_FILE, EF, EVIL_NONE);
    side_init(&c, VMESH_ATLS_CLIENT, "allow", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rc.rc, VMESH_OK);
    assert_int_equal(rs.rc, VMESH_OK);
    assert_false(rs.peer_kb || rc.own_kb);
    side_free(&s);
    side_free(&c);
    /* old client, server that allows key-bound: version 2, admitted */
    side_init(&s, VMESH_ATLS_SERVER, "allow", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    side_init(&c, VMESH_ATLS_CLIENT, NULL, false, SVID_FILE, EF, EVIL_NONE);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rs.rc, VMESH_OK);
    assert_false(rs.peer_kb);
    side_free(&s);
    /* old client, server that requires it: a named refusal */
    side_init(&s, VMESH_ATLS_SERVER, "require", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rs.reason, VMESH_ATLS_R_MODE_REFUSED);
    assert_non_null(strstr(rs.msg, "requires key-bound attestation"));
    assert_non_null(strstr(rs.msg, "no 0xff4e"));
    assert_int_equal(rc.reason, VMESH_ATLS_R_MODE_REFUSED);
    assert_true(rc.by_peer);
    side_free(&s);
    side_free(&c);
    /* key-bound client whose agent is not key-bound (file SVID) against a
     * server that requires it: refused too (it cannot attest key-bound) */
    side_init(&s, VMESH_ATLS_SERVER, "require", true, SVID_AGENT_KEY, EF, EVIL_NONE);
    side_init(&c, VMESH_ATLS_CLIENT, "allow", false, SVID_FILE, EF, EVIL_NONE);
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_equal(rs.reason, VMESH_ATLS_R_MODE_REFUSED);
    side_free(&s);
    side_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keybound_mutual),
        cmocka_unit_test(relay_and_reflection_refused),
        cmocka_unit_test(keybound_not_negotiated_refused),
        cmocka_unit_test(evidence_of_another_key_refused),
        cmocka_unit_test(certificate_key_not_ak_refused),
        cmocka_unit_test(rotation_needs_new_svid),
        cmocka_unit_test(takeover_keeps_the_ak),
        cmocka_unit_test(old_and_keybound_peers),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

    vmesh_atls_msg_free(&recorded);
    return rc;
}
