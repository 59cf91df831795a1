/*
 * The attested channel with the real agent: psa-sim platforms, the local
 * verifier with its AR cache, the RP policy, the epoch bell and local
 * passports, over a socketpair with the server in a thread. Each refusal
 * case checks its own reason code, so a mix-up between them fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vmesh/agent.h"
#include "vmesh/jose.h"
#include "vmesh/pki.h"
#include "vmesh/psa.h"
#include "vmesh/service.h"

#define SERVER_ID "spiffe://example.org/server"
#define CLIENT_ID "spiffe://example.org/client"

static char dir[128];
static char path_buf[16][256];
static int npath;

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

/* One side of the test mesh. */
typedef struct {
    vmesh_agent *agent;
    vmesh_verifier *verifier, *issuer;
    vmesh_bell_view *bell;
    vmesh_atls_config *cfg;
    vmesh_atls_provider prov, inner;
    int evil; /* tampering applied to our outgoing attestation */
} side;

static vmesh_key *bell_key, *ear_key, *other_ear_key;
static vmesh_rv_store *rv;
static vmesh_buf bell1, bell2, bell3; /* three consecutive ticks */

enum { EVIL_NONE, EVIL_TAMPER_EVIDENCE, EVIL_WRONG_AK, EVIL_REPLAY, EVIL_EXPIRED_EAR, EVIL_UNTRUSTED_EAR, EVIL_SHORT_EAR,
       EVIL_MARKED_EAR /* not evil: a genuine EAR carrying the epoch markers of the side's bell view */ };
static vmesh_atls_msg recorded;
static bool have_recorded;

static void make_platform(const char *who, const char *workload_text)
{
    char name[64], claims[1024], measure[64];
    vmesh_key *iak = NULL;

    snprintf(name, sizeof(name), "%s-iak.pem", who);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &iak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_save(iak, P(name), true, false), VMESH_OK);
    vmesh_crypto_key_free(iak);
    snprintf(measure, sizeof(measure), "%s-workload", who);
    write_file(measure, workload_text);
    snprintf(claims, sizeof(claims),
             "{\"eat-profile\":\"tag:psacertified.org,2023:psa#tfm\",\"psa-client-id\":1,"
             "\"psa-security-lifecycle\":12288,"
             "\"psa-implementation-id\":\"dm1lc2gtdGVzdC1pbXBsZW1lbnRhdGlvbi1pZC0wMDE=\","
             "\"psa-boot-seed\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
             "\"psa-nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
             "\"psa-software-components\":[{\"measurement-type\":\"workload\","
             "\"measurement-value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
             "\"signer-id\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}");
    snprintf(name, sizeof(name), "%s-claims.json", who);
    write_file(name, claims);
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

/* Reference values approving workload text wl, at RV epoch `epoch`. */
static vmesh_rv_store *rv_approving(const char *wl, uint64_t epoch)
{
    vmesh_rv_store *st = NULL;
    uint8_t d[32];
    vmesh_rv_env env = {"psa", (const uint8_t *)"vmesh-test-implementation-id-001", 32, NULL, 0};
    vmesh_rv_measurement m = {"workload", NULL, NULL, 0, VMESH_HASH_SHA256, d, 32};

    assert_int_equal(vmesh_rv_store_new(&st), VMESH_OK);
    vmesh_crypto_sha256((const uint8_t *)wl, strlen(wl), d);
    assert_int_equal(vmesh_rv_add_measurement(st, &env, &m), VMESH_OK);
    add_pub(st, &env, "server-iak.pem");
    add_pub(st, &env, "client-iak.pem");
    add_pub(st, &env, "bad-iak.pem");
    assert_int_equal(vmesh_rv_set_epoch(st, "rvp.test", epoch), VMESH_OK);
    vmesh_rv_store_freeze(st);
    return st;
}

static void build_rv(void)
{
    rv = rv_approving("genuine workload v1\n", 7);
}

static int group_setup(void **state)
{
    vmesh_bell b;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vmesh-agent-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(vmesh_pki_ca_init("example.org", P("ca"), 1, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(P("ca"), SERVER_ID, P("srv"), 1, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(P("ca"), CLIENT_ID, P("cli"), 1, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(P("ca"), "spiffe://example.org/mallory", P("mal"), 1, VMESH_KEY_EC_P256),
                     VMESH_OK);
    make_platform("server", "genuine workload v1\n");
    make_platform("client", "genuine workload v1\n");
    make_platform("bad", "tampered workload\n");
    build_rv();
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &bell_key), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ear_key), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other_ear_key), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("rvp.test", 0, 60, &b), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(&b, bell_key, &bell1), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("rvp.test", 1, 60, &b), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(&b, bell_key, &bell2), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("rvp.test", 2, 60, &b), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(&b, bell_key, &bell3), VMESH_OK);
    vmesh_atls_msg_init(&recorded);
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[300];

    (void)state;
    vmesh_rv_store_free(rv);
    vmesh_crypto_key_free(bell_key);
    vmesh_crypto_key_free(ear_key);
    vmesh_crypto_key_free(other_ear_key);
    vmesh_buf_free(&bell1);
    vmesh_buf_free(&bell2);
    vmesh_buf_free(&bell3);
    vmesh_atls_msg_free(&recorded);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

/* ---- tampering wrapper around the agent's attest ---------------------------------- */

static vmesh_err evil_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg)
{
    side *s = ctx;
    vmesh_err rc = s->inner.attest(s->inner.ctx, in, msg);

    if (rc != VMESH_OK)
        return rc;
    switch (s->evil) {
    case EVIL_TAMPER_EVIDENCE:
        msg->cmw.data[msg->cmw.len - 10] ^= 0x01; /* inside the COSE signature */
        break;
    case EVIL_WRONG_AK: {
        /* Keep the evidence (it binds the real AK) but present and sign
         * with another key: the proof verifies, the binding must not. */
        vmesh_key *k = NULL;
        assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
        vmesh_buf_reset(&msg->ak_spki);
        assert_int_equal(vmesh_crypto_key_to_spki(k, &msg->ak_spki), VMESH_OK);
        vmesh_buf_reset(&msg->proof);
        assert_int_equal(vmesh_crypto_sign(k, in->binder, 32, &msg->proof), VMESH_OK);
        vmesh_crypto_key_free(k);
        break;
    }
    case EVIL_REPLAY:
        if (!have_recorded) {
            have_recorded = true;
            assert_int_equal(vmesh_buf_set(&recorded.media_type, msg->media_type.data, msg->media_type.len), VMESH_OK);
            assert_int_equal(vmesh_buf_set(&recorded.cmw, msg->cmw.data, msg->cmw.len), VMESH_OK);
            assert_int_equal(vmesh_buf_set(&recorded.ak_spki, msg->ak_spki.data, msg->ak_spki.len), VMESH_OK);
            assert_int_equal(vmesh_buf_set(&recorded.epoch_nonce, msg->epoch_nonce.data, msg->epoch_nonce.len), VMESH_OK);
            assert_int_equal(vmesh_buf_set(&recorded.proof, msg->proof.data, msg->proof.len), VMESH_OK);
            recorded.fresh = msg->fresh;
            recorded.epoch_id = msg->epoch_id;
        } else {
            /* session B: inject session A's message verbatim */
            assert_int_equal(vmesh_buf_set(&msg->cmw, recorded.cmw.data, recorded.cmw.len), VMESH_OK);
            assert_int_equal(vmesh_buf_set(&msg->ak_spki, recorded.ak_spki.data, recorded.ak_spki.len), VMESH_OK);
            assert_int_equal(vmesh_buf_set(&msg->epoch_nonce, recorded.epoch_nonce.data, recorded.epoch_nonce.len), VMESH_OK);
            assert_int_equal(vmesh_buf_set(&msg->proof, recorded.proof.data, recorded.proof.len), VMESH_OK);
            msg->fresh = recorded.fresh;
            msg->epoch_id = recorded.epoch_id;
        }
        break;
    default:
        break;
    }
    return VMESH_OK;
}

/* A verifier that answers only while the gate is open: the tests hold a
 * passport renewal in flight with it and count the verifier's calls. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed, gate_entered, passport_fails;
static int passport_calls;

static void gate_pass(void)
{
    pthread_mutex_lock(&gate_mu);
    passport_calls++;
    gate_entered = true;
    pthread_cond_broadcast(&gate_cv);
    while (gate_closed)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

/* Waits for *flag under gate_mu; false after 60 s (a hang, not a timing
 * judgement: the awaited event needs no work but a few signatures). */
static bool gate_wait_for(const bool *flag)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&gate_mu);
    while (!*flag && pthread_cond_timedwait(&gate_cv, &gate_mu, &ts) == 0)
        ;
    ok = *flag;
    pthread_mutex_unlock(&gate_mu);
    return ok;
}

/* A passport issuer that hands out EARs the tests choose. */
static vmesh_err evil_passport(void *ctx, const char *mt, const uint8_t *ev, size_t evlen, const uint8_t *ch,
                               size_t chlen, const uint8_t *akpub, size_t aklen, vmesh_buf *ear)
{
    side *s = ctx;
    vmesh_ear *e = NULL;
    vmesh_tv tv = {{2, 0, 2, 0, 2, 2, 2, 0}};
    vmesh_err rc;

    uint8_t n[32];

    (void)mt, (void)ev, (void)evlen;
    gate_pass();
    if (passport_fails)
        return vmesh_err_set(VMESH_ERR_IO, "test verifier: unreachable");
    if (s->evil != EVIL_EXPIRED_EAR && s->evil != EVIL_UNTRUSTED_EAR && s->evil != EVIL_SHORT_EAR &&
        s->evil != EVIL_MARKED_EAR)
        return vmesh_agent_local_passport(s->issuer, mt, ev, evlen, ch, chlen, akpub, aklen, ear);
    assert_int_equal(vmesh_ear_new(&e), VMESH_OK);
    /* bound to the attester's request (DESIGN §9); only its signer or its time is wrong */
    assert_int_equal(vmesh_atls_ak_nonce(akpub, aklen, ch, chlen, n), VMESH_OK);
    assert_int_equal(vmesh_ear_set_nonce(e, n, sizeof(n)), VMESH_OK);
    assert_int_equal(vmesh_ear_set_verifier_id(e, "test", "1"), VMESH_OK);
    if (s->evil == EVIL_EXPIRED_EAR) {
        /* issued two hours ago, expired an hour ago, by the trusted verifier;
         * the attester is told it is still valid for an hour so it keeps it */
        assert_int_equal(vmesh_ear_set_iat(e, vmesh_time_now() - 7200), VMESH_OK);
        assert_int_equal(vmesh_ear_set_exp(e, vmesh_time_now() - 3600), VMESH_OK);
    } else if (s->evil == EVIL_SHORT_EAR) {
        /* genuine, but inside the attester's renewal margin: every use wants a new one */
        assert_int_equal(vmesh_ear_set_iat(e, vmesh_time_now()), VMESH_OK);
        assert_int_equal(vmesh_ear_set_exp(e, vmesh_time_now() + 40), VMESH_OK);
    } else if (s->evil == EVIL_MARKED_EAR) {
        /* as a verifier that follows the same bell: the current marker */
        vmesh_bell_marker m[4];
        size_t nm = vmesh_bell_view_markers(s->bell, m, 4);
        assert_int_equal(vmesh_ear_set_iat(e, vmesh_time_now()), VMESH_OK);
        assert_int_equal(vmesh_ear_set_exp(e, vmesh_time_now() + 3600), VMESH_OK);
        for (size_t i = 0; i < nm; i++)
            assert_int_equal(vmesh_ear_add_epoch_marker(e, m[i].bell, m[i].tick, m[i].em, sizeof(m[i].em)),
                             VMESH_OK);
    } else {
        assert_int_equal(vmesh_ear_set_exp(e, vmesh_time_now() + 3600), VMESH_OK);
    }
    assert_int_equal(vmesh_ear_add_submod(e, "psa", VMESH_TIER_AFFIRMING, &tv, "p", NULL, akpub, aklen), VMESH_OK);
    rc = vmesh_ear_sign(e, s->evil == EVIL_UNTRUSTED_EAR ? other_ear_key : ear_key, ear);
    vmesh_ear_free(e);
    return rc;
}

static void side_init(side *s, vmesh_atls_role role, const char *platform_who, vmesh_policy *pol, int evil,
                      unsigned attest_modes, const vmesh_buf *bell)
{
    char iak[64], claims[64], measure[80], wl[64];
    vmesh_kv kv[3];
    vmesh_verifier_config vc = {0};
    vmesh_agent_config ac = {0};

    memset(s, 0, sizeof(*s));
    s->evil = evil;
    snprintf(iak, sizeof(iak), "%s-iak.pem", platform_who);
    snprintf(claims, sizeof(claims), "%s-claims.json", platform_who);
    snprintf(wl, sizeof(wl), "%s-workload", platform_who);
    snprintf(measure, sizeof(measure), "workload=%s", P(wl));
    kv[0].key = "iak";
    kv[0].value = strdup(P(iak));
    kv[1].key = "claims";
    kv[1].value = strdup(P(claims));
    kv[2].key = "measure";
    kv[2].value = strdup(measure);
    assert_int_equal(vmesh_verifier_new(&vc, &s->verifier), VMESH_OK);
    vmesh_verifier_set_rv(s->verifier, rv);
    vc.ear_key = ear_key;
    assert_int_equal(vmesh_verifier_new(&vc, &s->issuer), VMESH_OK);
    vmesh_verifier_set_rv(s->issuer, rv);
    assert_int_equal(vmesh_bell_view_new(bell_key, &s->bell), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(s->bell, (const char *)bell->data, bell->len, vmesh_time_now()), VMESH_OK);
    ac.platform = "psa";
    ac.platform_cfg = kv;
    ac.n_platform_cfg = 3;
    ac.attest_modes = attest_modes;
    ac.passport = evil_passport;
    ac.passport_ctx = s;
    ac.verifier = s->verifier;
    ac.policy = pol;
    ac.bell = s->bell;
    assert_int_equal(vmesh_agent_new(&ac, &s->agent), VMESH_OK);
    for (int i = 0; i < 3; i++)
        free((char *)kv[i].value);
    vmesh_agent_provider(s->agent, &s->inner);
    s->prov = s->inner;
    s->prov.ctx = s;
    s->prov.attest = evil_attest;
    s->prov.appraise = NULL;
    assert_int_equal(vmesh_atls_config_new(role, &s->cfg), VMESH_OK);
    if (role == VMESH_ATLS_SERVER)
        assert_int_equal(vmesh_atls_config_set_svid(s->cfg, P("srv-chain.pem"), P("srv.key")), VMESH_OK);
    else
        assert_int_equal(vmesh_atls_config_set_svid(s->cfg, P("cli-chain.pem"), P("cli.key")), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_bundle(s->cfg, P("ca/bundle.pem")), VMESH_OK);
    vmesh_atls_config_set_deadline_ms(s->cfg, 5000);
}

/* The appraise callback goes straight to the agent; only attest is wrapped. */
static vmesh_err pass_appraise(void *ctx, const vmesh_atls_appraise_in *in, vmesh_atls_peer_result *out,
                               vmesh_atls_reason *reason)
{
    side *s = ctx;
    return s->inner.appraise(s->inner.ctx, in, out, reason);
}

static void side_ready(side *s)
{
    s->prov.appraise = pass_appraise;
    assert_int_equal(vmesh_atls_config_set_provider(s->cfg, &s->prov), VMESH_OK);
}

static void side_free(side *s)
{
    vmesh_atls_config_free(s->cfg);
    vmesh_agent_free(s->agent);
    vmesh_bell_view_free(s->bell);
    vmesh_verifier_free(s->verifier);
    vmesh_verifier_free(s->issuer);
}

typedef struct {
    side *s;
    int fd;
    vmesh_err rc;
    vmesh_atls_reason reason;
    bool by_peer;
    int peer_mode;
    vmesh_tier tier;
    char msg[300];
} run;

static void finish_run(run *r, vmesh_atls_conn *c, vmesh_err rc)
{
    const char *m = NULL;

    r->rc = rc;
    r->reason = c ? vmesh_atls_failure(c, &m, &r->by_peer) : VMESH_ATLS_R_NONE;
    snprintf(r->msg, sizeof(r->msg), "%s", m ? m : "");
    r->peer_mode = c ? vmesh_atls_peer_mode(c) : -1;
    r->tier = c && vmesh_atls_peer_result_get(c) ? vmesh_atls_peer_result_get(c)->tier : VMESH_TIER_NONE;
}

/* When set, the server copies its peer result here (re-appraisal tests). */
static vmesh_atls_peer_result *capture_server;

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
    if (capture_server != NULL && c != NULL && vmesh_atls_peer_result_get(c) != NULL)
        assert_int_equal(vmesh_atls_peer_result_copy(capture_server, vmesh_atls_peer_result_get(c)), VMESH_OK);
    if (c && vmesh_atls_shutdown(c) != VMESH_OK)
        vmesh_err_clear();
    vmesh_atls_free(c);
    shutdown(r->fd, SHUT_WR);
    return NULL;
}

/* Connects client side c to server side s once; fills both runs. */
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
    if (rc == VMESH_OK && (rc = vmesh_atls_write(conn, "ping", 4)) == VMESH_OK && (rc = vmesh_atls_flush(conn)) == VMESH_OK) {
        do {
            rc = vmesh_atls_read(conn, buf, sizeof(buf), &got);
        } while (rc == VMESH_ERR_WANT_READ);
        if (rc == VMESH_OK)
            assert_memory_equal(buf, "ping", 4);
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

static vmesh_policy *policy_with(const char *extra)
{
    char doc[1024];
    vmesh_policy *p = NULL;
    vmesh_buf jwk = {0};

    assert_int_equal(vmesh_crypto_key_to_jwk(ear_key, false, &jwk), VMESH_OK);
    assert_int_equal(vmesh_buf_terminate(&jwk), VMESH_OK);
    snprintf(doc, sizeof(doc), "{\"format\":\"vmesh-policy/1\",\"trusted-verifiers\":[%s]%s%s}", (char *)jwk.data,
             extra ? "," : "", extra ? extra : "");
    assert_int_equal(vmesh_policy_parse((const uint8_t *)doc, strlen(doc), "test", &p), VMESH_OK);
    vmesh_buf_free(&jwk);
    return p;
}

static const vmesh_buf *server_bell = &bell3;

static void pair(side *s, side *c, const char *client_platform, unsigned client_modes, int client_evil,
                 const char *server_policy, const vmesh_buf *client_bell)
{
    vmesh_policy *ps = policy_with(server_policy), *pc = policy_with(NULL);

    /* A client with an old tick cannot judge the server's epoch evidence;
     * the server then attests with a passport so that the test isolates the
     * server's verdict on the client. */
    side_init(s, VMESH_ATLS_SERVER, "server", ps, EVIL_NONE,
              client_bell ? VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_PASSPORT) : 0, server_bell);
    side_init(c, VMESH_ATLS_CLIENT, client_platform, pc, client_evil, client_modes, client_bell ? client_bell : &bell3);
    side_ready(s);
    side_ready(c);
    vmesh_policy_free(ps);
    vmesh_policy_free(pc);
}

/* ---- tests ---------------------------------------------------------------------- */

static void modes_and_resumption(void **state)
{
    static const int modes[] = {VMESH_ATLS_MODE_EPOCH_FRESH, VMESH_ATLS_MODE_FRESH, VMESH_ATLS_MODE_PASSPORT};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        side s, c;
        run rs, rc;
        vmesh_atls_session *sess = NULL;
        vmesh_agent_stats before, after;

        pair(&s, &c, "client", VMESH_ATLS_MODE_BIT(modes[i]), EVIL_NONE, NULL, NULL);
        connect_once(&s, &c, &rs, &rc, &sess);
        assert_int_equal(rc.rc, VMESH_OK);
        assert_int_equal(rs.rc, VMESH_OK);
        assert_int_equal(rs.peer_mode, modes[i]);
        assert_int_equal(rs.tier, VMESH_TIER_AFFIRMING);
        assert_int_equal(rc.tier, VMESH_TIER_AFFIRMING);
        assert_non_null(sess);
        /* Resumption: attested again (a new binder), and in epoch-fresh and
         * passport modes at the cost of one AK signature: no new evidence. */
        vmesh_agent_stats_get(c.agent, &before);
        connect_once(&s, &c, &rs, &rc, &sess);
        assert_int_equal(rc.rc, VMESH_OK);
        assert_int_equal(rs.rc, VMESH_OK);
        vmesh_agent_stats_get(c.agent, &after);
        assert_int_equal(after.attestations_made, before.attestations_made + 1);
        if (modes[i] == VMESH_ATLS_MODE_FRESH)
            assert_int_equal(after.evidence_generated, before.evidence_generated + 1);
        else
            assert_int_equal(after.evidence_generated, before.evidence_generated);
        {
            vmesh_agent_stats ss;
            vmesh_agent_stats_get(s.agent, &ss);
            if (modes[i] == VMESH_ATLS_MODE_EPOCH_FRESH)
                assert_true(ss.cache_hits >= 1); /* the RP's AR cache served the second session */
        }
        vmesh_atls_session_free(sess);
        side_free(&s);
        side_free(&c);
    }
}

static void expect_refused(int evil, const char *client_platform, unsigned modes, const char *server_policy,
                           const vmesh_buf *client_bell, vmesh_atls_reason want, const char *msg_part)
{
    side s, c;
    run rs, rc;

    pair(&s, &c, client_platform, modes, evil, server_policy, client_bell);
    connect_once(&s, &c, &rs, &rc, NULL);
    if (want == VMESH_ATLS_R_MODE_REFUSED) {
        /* No common mode: the client sees it in the server's EncryptedExtensions
         * and refuses before attesting; both sides report the same reason. */
        assert_int_equal(rs.reason, want);
        assert_int_equal(rc.reason, want);
        assert_int_not_equal(rs.rc, VMESH_OK);
        assert_int_not_equal(rc.rc, VMESH_OK);
        side_free(&s);
        side_free(&c);
        return;
    }
    if (rs.rc == VMESH_OK || rs.by_peer)
        fail_msg("server: rc %d reason %s by_peer %d (%s); client reason %s (%s)", rs.rc,
                 vmesh_atls_reason_name(rs.reason), rs.by_peer, rs.msg, vmesh_atls_reason_name(rc.reason), rc.msg);
    if (rs.reason != want)
        fail_msg("server refused with %s (%s), expected %s", vmesh_atls_reason_name(rs.reason), rs.msg,
                 vmesh_atls_reason_name(want));
    assert_false(rs.by_peer);
    if (strstr(rs.msg, msg_part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", rs.msg, msg_part);
    /* the client learns the same reason from the server */
    assert_int_not_equal(rc.rc, VMESH_OK);
    assert_int_equal(rc.reason, want);
    assert_true(rc.by_peer);
    side_free(&s);
    side_free(&c);
}

static void refusals(void **state)
{
    const unsigned EF = VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH);
    const unsigned FR = VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_FRESH);
    const unsigned PP = VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_PASSPORT);

    (void)state;
    expect_refused(EVIL_TAMPER_EVIDENCE, "client", EF, NULL, NULL, VMESH_ATLS_R_EVIDENCE_INVALID, "does not verify");
    expect_refused(EVIL_TAMPER_EVIDENCE, "client", FR, NULL, NULL, VMESH_ATLS_R_EVIDENCE_INVALID, "does not verify");
    expect_refused(EVIL_WRONG_AK, "client", EF, NULL, NULL, VMESH_ATLS_R_AK_MISMATCH, "does not bind");
    expect_refused(EVIL_WRONG_AK, "client", FR, NULL, NULL, VMESH_ATLS_R_AK_MISMATCH, "does not bind");
    expect_refused(EVIL_WRONG_AK, "client", PP, NULL, NULL, VMESH_ATLS_R_AK_MISMATCH, "another AK");
    expect_refused(EVIL_UNTRUSTED_EAR, "client", PP, NULL, NULL, VMESH_ATLS_R_EAR_UNTRUSTED, "not signed by a verifier");
    expect_refused(EVIL_EXPIRED_EAR, "client", PP, NULL, NULL, VMESH_ATLS_R_EAR_EXPIRED, "expired");
    expect_refused(EVIL_NONE, "bad", EF, NULL, NULL, VMESH_ATLS_R_NOT_AFFIRMING, "workload");
    expect_refused(EVIL_NONE, "client", EF, NULL, &bell1, VMESH_ATLS_R_STALE_EPOCH, "stale epoch");
    expect_refused(EVIL_NONE, "client", FR, "\"modes\":[\"epoch-fresh\",\"passport\"]", NULL,
                   VMESH_ATLS_R_MODE_REFUSED, "");
}

static void evidence_too_old(void **state)
{
    side s, c;
    run rs, rc;

    (void)state;
    pair(&s, &c, "client", VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH), EVIL_NONE,
         "\"max-evidence-age\":30", NULL);
    /* The tick is fresh for 120 s, but 60 s after it was rung the evidence
     * bound to it is older than this policy's 30 s. */
    vmesh_time_pin(vmesh_time_now() + 60);
    connect_once(&s, &c, &rs, &rc, NULL);
    vmesh_time_pin(0);
    assert_int_equal(rs.reason, VMESH_ATLS_R_EVIDENCE_TOO_OLD);
    assert_non_null(strstr(rs.msg, "old"));
    side_free(&s);
    side_free(&c);
}

static void replay_across_sessions(void **state)
{
    side s, c;
    run rs, rc;

    (void)state;
    have_recorded = false;
    pair(&s, &c, "client", VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH), EVIL_REPLAY, NULL, NULL);
    connect_once(&s, &c, &rs, &rc, NULL); /* session A: recorded, admitted */
    assert_int_equal(rs.rc, VMESH_OK);
    connect_once(&s, &c, &rs, &rc, NULL); /* session B: A's message injected */
    assert_int_equal(rs.reason, VMESH_ATLS_R_BINDER_MISMATCH);
    side_free(&s);
    side_free(&c);
}

/* Diversion: Mallory holds a valid SVID of her own. A genuine client's
 * attestation (recorded from the client's session with Mallory's server)
 * is presented by Mallory in her own session with the real server: the
 * binder covers the exporter and the sender's TLS key, so the proof fails. */
static void diversion_with_another_tls_key(void **state)
{
    side s, c, m;
    run rs, rc;
    vmesh_policy *p = policy_with(NULL);

    (void)state;
    have_recorded = false;
    side_init(&s, VMESH_ATLS_SERVER, "server", p, EVIL_NONE, 0, &bell3);
    side_init(&c, VMESH_ATLS_CLIENT, "client", p, EVIL_REPLAY, VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH), &bell3);
    side_init(&m, VMESH_ATLS_CLIENT, "client", p, EVIL_REPLAY, VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH), &bell3);
    vmesh_atls_config_free(m.cfg);
    assert_int_equal(vmesh_atls_config_new(VMESH_ATLS_CLIENT, &m.cfg), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_svid(m.cfg, P("mal-chain.pem"), P("mal.key")), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_bundle(m.cfg, P("ca/bundle.pem")), VMESH_OK);
    side_ready(&s);
    side_ready(&c);
    side_ready(&m);
    connect_once(&s, &c, &rs, &rc, NULL); /* the genuine client's message is recorded */
    assert_int_equal(rs.rc, VMESH_OK);
    connect_once(&s, &m, &rs, &rc, NULL); /* Mallory presents it under her own TLS key */
    assert_int_equal(rs.reason, VMESH_ATLS_R_BINDER_MISMATCH);
    assert_non_null(strstr(rs.msg, "proof"));
    vmesh_policy_free(p);
    side_free(&s);
    side_free(&c);
    side_free(&m);
}

/* A passport appraised under RV epoch 7 is refused by a relying party that
 * is two epochs further (9): it predates a snapshot the RP has moved past
 * (e.g. a revocation); one epoch of lag (8) is tolerated. */
static void passport_rv_epochs(void **state)
{
    static const uint64_t rp_epochs[] = {8, 9};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        side s, c;
        run rs, rc;
        vmesh_rv_store *newer = NULL;

        pair(&s, &c, "client", VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_PASSPORT), EVIL_NONE, NULL, NULL);
        assert_int_equal(vmesh_rv_store_new(&newer), VMESH_OK);
        assert_int_equal(vmesh_rv_store_merge(newer, rv), VMESH_OK);
        assert_int_equal(vmesh_rv_set_epoch(newer, "rvp.test", rp_epochs[i]), VMESH_OK);
        vmesh_rv_store_freeze(newer);
        vmesh_verifier_set_rv(s.verifier, newer);
        vmesh_rv_store_free(newer);
        connect_once(&s, &c, &rs, &rc, NULL);
        if (rp_epochs[i] == 8) {
            assert_int_equal(rs.rc, VMESH_OK);
        } else {
            assert_int_equal(rs.reason, VMESH_ATLS_R_STALE_EPOCH);
            assert_non_null(strstr(rs.msg, "epoch 7"));
        }
        side_free(&s);
        side_free(&c);
    }
}

/* A client that has just fetched a new tick keeps binding its evidence to
 * the previous one for a while, so that a relying party which has not
 * polled yet still recognises it (instead of refusing a stale epoch). */
static void new_tick_grace(void **state)
{
    side s, c;
    run rs, rc;

    (void)state;
    server_bell = &bell2; /* the server has not seen tick 3 yet */
    pair(&s, &c, "client", VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH), EVIL_NONE, NULL, &bell2);
    assert_int_equal(vmesh_bell_view_update(c.bell, (const char *)bell3.data, bell3.len, vmesh_time_now()), VMESH_OK);
    connect_once(&s, &c, &rs, &rc, NULL);
    server_bell = &bell3;
    assert_int_equal(rs.rc, VMESH_OK);
    assert_int_equal(rs.peer_mode, VMESH_ATLS_MODE_EPOCH_FRESH);
    side_free(&s);
    side_free(&c);
}

/* Central mode: the server's relying party sends the client's evidence to a
 * central verifier (the Veraison API over HTTP on 127.0.0.1) instead of its
 * local verifier, verifies the EAR and judges it; the second session is
 * served from the AR cache. A relying party that does not trust the
 * verifier's EAR key refuses. */
static void central_verifier_mode(void **state)
{
    vmesh_verifier *cv = NULL;
    vmesh_verifier_config vc = {0};
    vmesh_service_config sc = {0};
    vmesh_service *svc = NULL;
    vmesh_service_client cl = {0};
    char url[64];

    (void)state;
    vc.ear_key = ear_key;
    assert_int_equal(vmesh_verifier_new(&vc, &cv), VMESH_OK);
    vmesh_verifier_set_rv(cv, rv);
    sc.verifier = cv;
    sc.ear_key = ear_key;
    sc.listen = "127.0.0.1:0";
    sc.threads = 1;
    assert_int_equal(vmesh_service_new(&sc, &svc), VMESH_OK);
    assert_int_equal(vmesh_service_start(svc), VMESH_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)vmesh_service_port(svc));
    cl.url = url;
    for (int trusted = 1; trusted >= 0; trusted--) {
        side s, c;
        run rs, rc;
        vmesh_policy *ps = policy_with(NULL), *pc = policy_with(NULL);
        vmesh_agent_config ac = {0};
        vmesh_atls_provider prov;
        vmesh_agent_stats st;
        vmesh_kv kv[3];
        char measure[300];

        side_init(&s, VMESH_ATLS_SERVER, "server", ps, EVIL_NONE, 0, &bell3);
        side_init(&c, VMESH_ATLS_CLIENT, "client", pc, EVIL_NONE, VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH), &bell3);
        /* rebuild the server's agent in central mode, without a local verifier */
        vmesh_agent_free(s.agent);
        snprintf(measure, sizeof(measure), "workload=%s", P("server-workload"));
        kv[0].key = "iak";
        kv[0].value = P("server-iak.pem");
        kv[1].key = "claims";
        kv[1].value = P("server-claims.json");
        kv[2].key = "measure";
        kv[2].value = measure;
        ac.platform = "psa";
        ac.platform_cfg = kv;
        ac.n_platform_cfg = 3;
        ac.policy = ps;
        ac.bell = s.bell;
        ac.central = vmesh_service_central_client;
        ac.central_ctx = &cl;
        ac.central_key = trusted ? ear_key : other_ear_key;
        assert_int_equal(vmesh_agent_new(&ac, &s.agent), VMESH_OK);
        vmesh_agent_provider(s.agent, &prov);
        s.inner = prov;
        s.prov = prov;
        s.prov.ctx = &s;
        s.prov.attest = evil_attest;
        side_ready(&s);
        side_ready(&c);
        connect_once(&s, &c, &rs, &rc, NULL);
        if (trusted) {
            assert_int_equal(rs.rc, VMESH_OK);
            assert_int_equal(rs.tier, VMESH_TIER_AFFIRMING);
            connect_once(&s, &c, &rs, &rc, NULL);
            assert_int_equal(rs.rc, VMESH_OK);
            vmesh_agent_stats_get(s.agent, &st);
            assert_int_equal(st.cache_misses, 1); /* one central verification for both sessions */
            assert_int_equal(st.cache_hits, 1);
        } else {
            assert_int_not_equal(rs.rc, VMESH_OK);
            assert_non_null(strstr(rs.msg, "central verifier"));
        }
        vmesh_policy_free(ps);
        vmesh_policy_free(pc);
        side_free(&s);
        side_free(&c);
    }
    vmesh_service_free(svc);
    vmesh_verifier_free(cv);
}

static vmesh_atls_reason reappraise(side *s, const vmesh_atls_peer_result *r, char *why)
{
    return vmesh_agent_reappraise(s->agent, CLIENT_ID, r, why, 300);
}

static void set_rv(side *s, vmesh_rv_store *st)
{
    vmesh_verifier_set_rv(s->verifier, st);
    vmesh_rv_store_free(st);
}

/* D43, central mode: a central verifier in process (ctx: fake_central)
 * that signs its EARs with ear_key; mode 1 signs a journal claim that is
 * not a journal, mode 2 one recorded under another store (whose answers
 * our snapshot contradicts); mode 3 is a forger: the EAR with its journal
 * changed, signed with another key. */
typedef struct {
    vmesh_verifier *v;
    int mode;
    vmesh_rv_store *other;
    int calls;
} fake_central;

static vmesh_err fake_central_fn(void *ctx, const char *mt, const uint8_t *ev, size_t n, const uint8_t *nonce,
                                 size_t nlen, const char *peer, vmesh_buf *jwt, uint8_t *channel_key, bool *channel)
{
    fake_central *f = ctx;
    vmesh_verifier_request req;
    vmesh_appraisal a, b;
    vmesh_ear *e = NULL;
    vmesh_err rc;

    (void)peer;
    (void)channel_key;
    (void)channel; /* signed answers: the agent set *channel false */
    f->calls++;
    memset(&req, 0, sizeof(req));
    req.evidence = ev;
    req.evidence_len = n;
    req.media_type = mt;
    req.nonce = nonce;
    req.nonce_len = nlen;
    vmesh_appraisal_init(&a);
    vmesh_appraisal_init(&b);
    rc = vmesh_verifier_appraise(f->v, &req, &a, NULL, jwt);
    assert_int_equal(rc, VMESH_OK);
    assert_true(a.journal.len > 0);
    if (f->mode != 0) {
        assert_int_equal(vmesh_ear_parse_unverified((const char *)jwt->data, jwt->len, NULL, &e), VMESH_OK);
        if (f->mode == 1 || f->mode == 3) {
            assert_int_equal(vmesh_ear_submod_set_rv_journal(e, "psa", (const uint8_t *)"\x83\x01garbage", 9),
                             VMESH_OK);
        } else {
            req.rv = f->other;
            assert_int_equal(vmesh_verifier_appraise(f->v, &req, &b, NULL, NULL), VMESH_OK);
            assert_int_equal(vmesh_ear_submod_set_rv_journal(e, "psa", b.journal.data, b.journal.len), VMESH_OK);
        }
        /* mode 3: a journal put in by someone without the verifier's key */
        assert_int_equal(vmesh_ear_sign(e, f->mode == 3 ? other_ear_key : ear_key, jwt), VMESH_OK);
        vmesh_ear_free(e);
    }
    vmesh_appraisal_free(&a);
    vmesh_appraisal_free(&b);
    return VMESH_OK;
}

/* D43, central mode: the relying party keeps the lookup journal of the
 * central verifier's EAR (ear.vmesh.rv-journal) when its own snapshot
 * gives the same answers. A new snapshot with the same answers keeps the
 * connection without asking the verifier; one that changes an answer
 * closes it without asking. A journal claim that is not a journal, or
 * whose answers our snapshot contradicts, is never used to keep: the
 * verifier is asked as before (D41); one changed by anyone but the
 * verifier breaks the EAR's signature: refused. */
static void central_journal(void **state)
{
    (void)state;
    for (int mode = 0; mode < 4; mode++) {
        side s, c;
        run rs, rc;
        vmesh_policy *ps = policy_with(NULL), *pc = policy_with(NULL);
        vmesh_agent_config ac = {0};
        vmesh_atls_provider prov;
        vmesh_agent_stats st;
        vmesh_verifier_config vc = {0};
        fake_central fc = {0};
        vmesh_atls_peer_result r;
        vmesh_kv kv[3];
        char measure[300], why[300];
        int calls;

        vc.ear_key = ear_key;
        assert_int_equal(vmesh_verifier_new(&vc, &fc.v), VMESH_OK);
        vmesh_verifier_set_rv(fc.v, rv);
        fc.mode = mode;
        fc.other = rv_approving("another workload\n", 7);
        vmesh_atls_peer_result_init(&r);
        side_init(&s, VMESH_ATLS_SERVER, "server", ps, EVIL_NONE, 0, &bell3);
        side_init(&c, VMESH_ATLS_CLIENT, "client", pc, EVIL_NONE, VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH), &bell3);
        vmesh_agent_free(s.agent);
        snprintf(measure, sizeof(measure), "workload=%s", P("server-workload"));
        kv[0].key = "iak";
        kv[0].value = P("server-iak.pem");
        kv[1].key = "claims";
        kv[1].value = P("server-claims.json");
        kv[2].key = "measure";
        kv[2].value = measure;
        ac.platform = "psa";
        ac.platform_cfg = kv;
        ac.n_platform_cfg = 3;
        ac.policy = ps;
        ac.bell = s.bell;
        ac.verifier = s.verifier; /* the relying party's own synced snapshot */
        ac.central = fake_central_fn;
        ac.central_ctx = &fc;
        ac.central_key = ear_key;
        assert_int_equal(vmesh_agent_new(&ac, &s.agent), VMESH_OK);
        vmesh_agent_provider(s.agent, &prov);
        s.inner = prov;
        s.prov = prov;
        s.prov.ctx = &s;
        s.prov.attest = evil_attest;
        side_ready(&s);
        side_ready(&c);
        capture_server = &r;
        connect_once(&s, &c, &rs, &rc, NULL);
        capture_server = NULL;
        assert_int_equal(fc.calls, 1);
        if (mode == 3) {
            /* a changed journal is a changed EAR: not the verifier's answer */
            assert_int_not_equal(rs.rc, VMESH_OK);
            assert_non_null(strstr(rs.msg, "central verifier"));
            goto next;
        }
        assert_int_equal(rs.rc, VMESH_OK); /* the verdict is the verifier's, whatever its journal */
        vmesh_agent_stats_get(s.agent, &st);
        assert_int_equal(st.journal_unreadable, mode == 1 ? 1 : 0);
        assert_int_equal(st.journal_foreign, mode == 2 ? 1 : 0);
        assert_int_equal(r.accepted.journal.len > 0, mode == 0);

        /* our snapshot moves on with the same reference values */
        set_rv(&s, rv_approving("genuine workload v1\n", 8));
        calls = fc.calls;
        {
            /* what may run on a proxy worker: decides from the journal
             * alone, or says it cannot (never asks) */
            bool decided = false;
            vmesh_atls_reason jr = vmesh_agent_reappraise_journal(s.agent, CLIENT_ID, &r, &decided, why, sizeof(why));
            assert_int_equal(decided, mode == 0);
            if (mode == 0)
                assert_int_equal(jr, VMESH_ATLS_R_NONE);
            assert_int_equal(fc.calls, calls);
        }
        if (mode == 0) {
            assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_NONE);
            assert_int_equal(fc.calls, calls); /* kept without asking */
            vmesh_agent_stats_get(s.agent, &st);
            assert_int_equal(st.journal_same, 1); /* then a hit: re-stamped for epoch 8 */
            assert_int_equal(st.reappraise_full, 0);
            /* the workload withdrawn: closed without asking */
            set_rv(&s, rv_approving("genuine workload v2\n", 9));
            assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_NOT_AFFIRMING);
            assert_non_null(strstr(why, "reference values changed"));
            assert_non_null(strstr(why, "component workload"));
            assert_non_null(strstr(why, "epoch 9"));
            assert_int_equal(fc.calls, calls);
        } else {
            /* never kept on that journal: the verifier is asked (it is
             * behind our epoch 8 now: no verdict, D41) */
            (void)reappraise(&s, &r, why);
            assert_int_equal(fc.calls, calls + 1);
            vmesh_agent_stats_get(s.agent, &st);
            assert_int_equal(st.journal_same, 0);
            assert_int_equal(st.reappraise_full, 1);
        }
    next:
        vmesh_atls_peer_result_free(&r);
        vmesh_policy_free(ps);
        vmesh_policy_free(pc);
        side_free(&s);
        side_free(&c);
        vmesh_rv_store_free(fc.other);
        vmesh_verifier_free(fc.v);
    }
}

/* The result of an admitted session keeps what was accepted, typed (no
 * encoding): the evidence as the peer sent it (a COSE_Sign1 PSA token, or
 * the EAR), its media type and the session's ak_nonce. Re-appraisal judges
 * exactly those bytes again under the RV snapshot of the moment: a
 * snapshot that withdraws the workload cuts the peer off, the next one
 * that approves it again admits it; tampering with the kept bytes or the
 * kept nonce is caught like at the handshake; a passport is cut off once
 * the RP is two RV epochs past the one it was appraised under. */
static void reappraise_kept_result(void **state)
{
    static const int modes[] = {VMESH_ATLS_MODE_EPOCH_FRESH, VMESH_ATLS_MODE_FRESH, VMESH_ATLS_MODE_PASSPORT};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        side s, c;
        run rs, rc;
        vmesh_atls_peer_result r, copy;
        char why[300];
        vmesh_policy *untrusting = NULL;

        vmesh_atls_peer_result_init(&r);
        vmesh_atls_peer_result_init(&copy);
        pair(&s, &c, "client", VMESH_ATLS_MODE_BIT(modes[i]), EVIL_NONE, NULL, NULL);
        capture_server = &r;
        connect_once(&s, &c, &rs, &rc, NULL);
        capture_server = NULL;
        assert_int_equal(rs.rc, VMESH_OK);
        assert_int_equal(r.mode, modes[i]);
        assert_int_equal(r.tier, VMESH_TIER_AFFIRMING);
        assert_true(r.accepted.cmw.len > 0);
        if (modes[i] == VMESH_ATLS_MODE_PASSPORT) {
            assert_memory_equal(r.accepted.cmw.data, "eyJ", 3); /* the EAR JWT itself */
            assert_true(vmesh_evidence_media_type_eq((const char *)r.accepted.media_type.data, VMESH_EAR_MEDIA_TYPE));
        } else {
            assert_memory_equal(r.accepted.cmw.data, "\xd2\x84", 2); /* the COSE_Sign1 token itself */
            assert_string_equal((const char *)r.accepted.media_type.data, vmesh_scheme_psa.media_types[0]);
        }
        assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_NONE);
        assert_string_equal(why, "");
        if (modes[i] != VMESH_ATLS_MODE_PASSPORT) {
            /* the RVP withdraws the workload: cut off; approves it again: admitted */
            set_rv(&s, rv_approving("genuine workload v2\n", 8));
            assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_NOT_AFFIRMING);
            assert_non_null(strstr(why, "workload"));
            set_rv(&s, rv_approving("genuine workload v1\n", 9));
            assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_NONE);
            /* the kept bytes are what is judged */
            r.accepted.cmw.data[r.accepted.cmw.len - 10] ^= 1;
            assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_EVIDENCE_INVALID);
            r.accepted.cmw.data[r.accepted.cmw.len - 10] ^= 1;
            r.accepted.ak_nonce[0] ^= 1;
            assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_AK_MISMATCH);
            r.accepted.ak_nonce[0] ^= 1;
            /* the policy sees the age the evidence had at the handshake */
            assert_true(r.accepted.evidence_age >= 0 && r.accepted.evidence_age < 60);
        } else {
            /* one RV epoch of lag is tolerated, two are not */
            set_rv(&s, rv_approving("genuine workload v1\n", 8));
            assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_NONE);
            set_rv(&s, rv_approving("genuine workload v1\n", 9));
            assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_STALE_EPOCH);
            assert_non_null(strstr(why, "epoch 7"));
            set_rv(&s, rv_approving("genuine workload v1\n", 7));
            /* a policy that no longer trusts the EAR's verifier */
            {
                const char *doc = "{\"format\":\"vmesh-policy/1\",\"modes\":[\"passport\"]}";
                assert_int_equal(vmesh_policy_parse((const uint8_t *)doc, strlen(doc), "t", &untrusting), VMESH_OK);
            }
            vmesh_agent_set_policy(s.agent, untrusting);
            assert_int_equal(reappraise(&s, &r, why), VMESH_ATLS_R_EAR_UNTRUSTED);
            vmesh_policy_free(untrusting);
        }
        /* a copy is judged like the original, and outlives it */
        assert_int_equal(vmesh_atls_peer_result_copy(&copy, &r), VMESH_OK);
        vmesh_atls_peer_result_free(&r);
        assert_int_equal(copy.accepted.cmw.len > 0, true);
        if (modes[i] != VMESH_ATLS_MODE_PASSPORT)
            assert_int_equal(reappraise(&s, &copy, why), VMESH_ATLS_R_NONE);
        vmesh_atls_peer_result_free(&copy);
        side_free(&s);
        side_free(&c);
    }
}

/* ---- the attester's locks: slow platform or verifier work stalls nobody ---------- */

typedef struct {
    side *s;
    vmesh_atls_mode mode;
    vmesh_atls_msg msg;
    vmesh_err rc;
    bool done;
} attest_call;

static void *attest_thread(void *arg)
{
    attest_call *a = arg;
    vmesh_atls_attest_in in;
    uint8_t binder[32];

    memset(&in, 0, sizeof(in));
    memset(binder, 0x5a, sizeof(binder));
    in.role = VMESH_ATLS_SERVER;
    in.mode = a->mode;
    in.binder = binder;
    a->rc = a->s->inner.attest(a->s->inner.ctx, &in, &a->msg);
    pthread_mutex_lock(&gate_mu);
    a->done = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    return NULL;
}

static void attest_start(attest_call *a, side *s, vmesh_atls_mode mode, pthread_t *t)
{
    memset(a, 0, sizeof(*a));
    a->s = s;
    a->mode = mode;
    vmesh_atls_msg_init(&a->msg);
    assert_int_equal(pthread_create(t, NULL, attest_thread, a), 0);
}

/* Runs one attest while the verifier holds a renewal: it must finish
 * before the gate opens (with one global lock it never would). */
static void attest_while_held(side *s, vmesh_atls_mode mode, attest_call *a, const char *what)
{
    pthread_t t;

    attest_start(a, s, mode, &t);
    if (!gate_wait_for(&a->done))
        fail_msg("%s waited for a passport renewal in flight (the attester's lock is held across the verifier)",
                 what);
    pthread_join(t, NULL);
    if (a->rc != VMESH_OK)
        fail_msg("%s: %s", what, vmesh_err_detail());
}

static bool same_bytes(const vmesh_buf *a, const vmesh_buf *b)
{
    return a->len == b->len && a->len > 0 && memcmp(a->data, b->data, a->len) == 0;
}

static void slow_verifier_stalls_nobody(void **state)
{
    side s;
    attest_call first, renewing, other, fresh, epoch, again;
    pthread_t t;
    vmesh_policy *pol = policy_with(NULL);
    vmesh_agent_stats st;
    uint64_t ev_before;

    (void)state;
    side_init(&s, VMESH_ATLS_SERVER, "server", pol, EVIL_SHORT_EAR, VMESH_ATLS_MODES_ALL, &bell3);
    passport_calls = 0;

    /* A passport that expires in 40 s: inside the 60 s renewal margin. */
    attest_start(&first, &s, VMESH_ATLS_MODE_PASSPORT, &t);
    pthread_join(t, NULL);
    assert_int_equal(first.rc, VMESH_OK);
    assert_int_equal(passport_calls, 1);

    /* The next passport handshake renews it; the verifier does not answer. */
    pthread_mutex_lock(&gate_mu);
    gate_closed = true;
    gate_entered = false;
    pthread_mutex_unlock(&gate_mu);
    attest_start(&renewing, &s, VMESH_ATLS_MODE_PASSPORT, &t);
    assert_true(gate_wait_for(&gate_entered));

    /* Meanwhile: another passport handshake presents the current passport
     * (still valid) without a second call; fresh and epoch-fresh handshakes
     * make or reuse platform evidence. */
    vmesh_agent_stats_get(s.agent, &st);
    ev_before = st.evidence_generated;
    attest_while_held(&s, VMESH_ATLS_MODE_PASSPORT, &other, "a passport handshake");
    assert_true(same_bytes(&other.msg.cmw, &first.msg.cmw));
    attest_while_held(&s, VMESH_ATLS_MODE_FRESH, &fresh, "a fresh-mode handshake");
    assert_true(fresh.msg.fresh);
    attest_while_held(&s, VMESH_ATLS_MODE_EPOCH_FRESH, &epoch, "an epoch-fresh handshake");
    assert_int_not_equal(epoch.msg.epoch_id, 0);
    vmesh_agent_stats_get(s.agent, &st);
    assert_true(st.evidence_generated >= ev_before + 2); /* fresh + epoch: the platform was free */
    pthread_mutex_lock(&gate_mu);
    assert_int_equal(passport_calls, 2); /* one renewal, however many handshakes wanted it */
    gate_closed = false;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    pthread_join(t, NULL);
    assert_int_equal(renewing.rc, VMESH_OK);
    assert_false(same_bytes(&renewing.msg.cmw, &first.msg.cmw));

    /* A failed renewal presents the current passport (still valid) rather
     * than failing the handshake. */
    passport_fails = true;
    attest_start(&again, &s, VMESH_ATLS_MODE_PASSPORT, &t);
    pthread_join(t, NULL);
    passport_fails = false;
    assert_int_equal(again.rc, VMESH_OK);
    assert_true(same_bytes(&again.msg.cmw, &renewing.msg.cmw));
    print_message("verifier calls: %d (3 expected: first, one renewal, the failed one)\n", passport_calls);
    assert_int_equal(passport_calls, 3);

    vmesh_atls_msg_free(&first.msg);
    vmesh_atls_msg_free(&renewing.msg);
    vmesh_atls_msg_free(&other.msg);
    vmesh_atls_msg_free(&fresh.msg);
    vmesh_atls_msg_free(&epoch.msg);
    vmesh_atls_msg_free(&again.msg);
    side_free(&s);
    vmesh_policy_free(pol);
}

/* ---- a passport per epoch (issue 19.2) ------------------------------------------ */

/* A tick of the test bell issued `ago` seconds ago, valid 200 s from then
 * (so its bind time, half a period after it, has passed). */
static void old_tick(uint64_t id, int64_t ago, vmesh_buf *out)
{
    vmesh_bell b;

    assert_int_equal(vmesh_rvp_bell_next("rvp.test", id - 1, 100, &b), VMESH_OK);
    b.issued_at = vmesh_time_now() - ago;
    b.valid_until = b.issued_at + 200;
    vmesh_buf_reset(out);
    assert_int_equal(vmesh_rvp_bell_sign(&b, bell_key, out), VMESH_OK);
}

static void both_see(side *s, side *c, side *c2, const vmesh_buf *tick)
{
    assert_int_equal(vmesh_bell_view_update(s->bell, (const char *)tick->data, tick->len, vmesh_time_now()), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(c->bell, (const char *)tick->data, tick->len, vmesh_time_now()), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(c2->bell, (const char *)tick->data, tick->len, vmesh_time_now()),
                     VMESH_OK);
}

/* The client attests with passports from a verifier that follows the bell
 * (its EARs carry the current epoch marker). It fetches one passport per
 * epoch tick, however many sessions it opens in the tick; at a new tick its
 * next session carries the new epoch's passport. When its verifier no
 * longer gives it one (revoked, or unreachable), it presents the previous
 * epoch's: a server whose policy says passport-epoch-lag 0 refuses it
 * (stale-epoch, naming both ticks); a server with the default (lag 1)
 * accepts it, which is why the setting exists. Nothing is timed. */
static void passport_per_epoch(void **state)
{
    side s, s1, c;
    run rs, rc;
    vmesh_buf t10 = {0}, t11 = {0}, t12 = {0};
    vmesh_policy *strict = policy_with("\"passport-epoch-lag\":0"), *lenient = policy_with(NULL);
    vmesh_policy *pc = policy_with(NULL);
    unsigned pp = VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_PASSPORT), ef = VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_EPOCH_FRESH);

    (void)state;
    old_tick(10, 120, &t10);
    old_tick(11, 90, &t11);
    old_tick(12, 60, &t12);
    side_init(&s, VMESH_ATLS_SERVER, "server", strict, EVIL_NONE, ef, &t10);
    side_init(&s1, VMESH_ATLS_SERVER, "server", lenient, EVIL_NONE, ef, &t10);
    side_init(&c, VMESH_ATLS_CLIENT, "client", pc, EVIL_MARKED_EAR, pp, &t10);
    side_ready(&s);
    side_ready(&s1);
    side_ready(&c);
    passport_calls = 0;

    /* tick 10: one fetch for two sessions */
    for (int i = 0; i < 2; i++) {
        connect_once(&s, &c, &rs, &rc, NULL);
        if (rs.rc != VMESH_OK)
            fail_msg("tick 10 session %d: %s", i, rs.msg);
        assert_int_equal(rs.peer_mode, VMESH_ATLS_MODE_PASSPORT);
    }
    assert_int_equal(passport_calls, 1);

    /* tick 11: the next session carries tick 11's passport (one more fetch) */
    both_see(&s, &c, &s1, &t11);
    for (int i = 0; i < 2; i++) {
        connect_once(&s, &c, &rs, &rc, NULL);
        if (rs.rc != VMESH_OK)
            fail_msg("tick 11 session %d: %s", i, rs.msg);
    }
    print_message("verifier calls over ticks 10-11, 4 sessions: %d\n", passport_calls);
    assert_int_equal(passport_calls, 2);

    /* tick 12: the verifier refuses (a revoked platform); the client can
     * only present tick 11's passport */
    both_see(&s, &c, &s1, &t12);
    passport_fails = true;
    connect_once(&s, &c, &rs, &rc, NULL);
    assert_int_not_equal(rs.rc, VMESH_OK);
    assert_int_equal(rs.reason, VMESH_ATLS_R_STALE_EPOCH);
    if (strstr(rs.msg, "tick 11") == NULL || strstr(rs.msg, "tick 12") == NULL)
        fail_msg("refusal does not name both ticks: %s", rs.msg);
    print_message("lag 0 refuses the previous epoch's passport: %s\n", rs.msg);
    connect_once(&s1, &c, &rs, &rc, NULL);
    if (rs.rc != VMESH_OK)
        fail_msg("lag 1 refused the previous epoch's passport: %s", rs.msg);
    /* one attempt per retry interval, not one per session */
    assert_int_equal(passport_calls, 3);
    passport_fails = false;

    side_free(&s);
    side_free(&s1);
    side_free(&c);
    vmesh_policy_free(strict);
    vmesh_policy_free(lenient);
    vmesh_policy_free(pc);
    vmesh_buf_free(&t10);
    vmesh_buf_free(&t11);
    vmesh_buf_free(&t12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(modes_and_resumption),
        cmocka_unit_test(refusals),
        cmocka_unit_test(evidence_too_old),
        cmocka_unit_test(replay_across_sessions),
        cmocka_unit_test(diversion_with_another_tls_key),
        cmocka_unit_test(passport_rv_epochs),
        cmocka_unit_test(new_tick_grace),
        cmocka_unit_test(central_verifier_mode),
        cmocka_unit_test(central_journal),
        cmocka_unit_test(reappraise_kept_result),
        cmocka_unit_test(slow_verifier_stalls_nobody),
        cmocka_unit_test(passport_per_epoch),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
