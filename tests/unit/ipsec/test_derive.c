/*
 * The pure parts of vmesh ipsec: the credential derivation over real
 * attested-channel sessions (both ends of one session agree; another
 * session, another epoch or a session whose peer was never accepted by the
 * attested channel never yields the same credential), the exporter
 * context, the control message codec against hostile bytes, and the
 * --peer spec.
 */
#include <fcntl.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmesh/crypto.h"
#include "vmesh/ipsec.h"
#include "vmesh/pki.h"

#define SERVER_ID "spiffe://vmesh.test/gw/main"
#define CLIENT_ID "spiffe://vmesh.test/gw/branch"

static char tmpdir[64], ca_dir[128], bundle[160], srv_pem[160], srv_key[160], cli_pem[160],
    cli_key[160];

/* ---- sessions over a socketpair, driven in one thread --------------------------------------- */

typedef struct {
    vmesh_atls_config *scfg, *ccfg;
    vmesh_atls_conn *s, *c;
    int fds[2];
} session;

#define MT "application/vnd.vmesh.test-evidence"
static const char *const media_types[] = {MT, NULL};
static vmesh_key *ak;
static vmesh_buf ak_spki;

typedef enum { CH_PLAIN, CH_ATTESTED, CH_UNATTESTED } channel;

/* A provider that really signs this session's binder with an AK (the
 * atls layer checks that proof) and judges every such message affirming:
 * the appraisal is the agent's business and tested there; here only the
 * credential derivation over an accepted attested session matters. */
static vmesh_err t_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *m)
{
    vmesh_err rc;

    (void)ctx;
    m->fresh = true;
    if ((rc = vmesh_buf_set(&m->media_type, MT, strlen(MT))) != VMESH_OK ||
        (rc = vmesh_buf_set(&m->cmw, "evidence", 8)) != VMESH_OK ||
        (rc = vmesh_buf_set(&m->ak_spki, ak_spki.data, ak_spki.len)) != VMESH_OK)
        return rc;
    return vmesh_crypto_sign(ak, in->binder, 32, &m->proof);
}

static vmesh_err t_appraise(void *ctx, const vmesh_atls_appraise_in *in,
                            vmesh_atls_peer_result *out, vmesh_atls_reason *reason)
{
    (void)ctx;
    (void)in;
    out->tier = VMESH_TIER_AFFIRMING;
    out->mode = VMESH_ATLS_MODE_FRESH;
    *reason = VMESH_ATLS_R_NONE;
    return VMESH_OK;
}

static vmesh_atls_config *config(vmesh_atls_role role, channel ch)
{
    vmesh_atls_config *cfg = NULL;
    vmesh_atls_provider p;

    assert_int_equal(vmesh_atls_config_new(role, &cfg), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_svid(cfg, role == VMESH_ATLS_SERVER ? srv_pem : cli_pem,
                                                role == VMESH_ATLS_SERVER ? srv_key : cli_key),
                     VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_bundle(cfg, bundle), VMESH_OK);
    memset(&p, 0, sizeof(p));
    p.media_types = media_types;
    if (ch == CH_ATTESTED) {
        p.attest = t_attest;
        p.appraise = t_appraise;
        p.accept_modes[0] = VMESH_ATLS_MODE_FRESH;
        p.n_accept_modes = 1;
        p.will_attest = true;
        p.attest_modes = VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_FRESH);
    } else {
        /* the channel, but nobody asks for evidence: each side admits the
         * other as tier none (what a policy with allow-unattested does) */
        p.allow_unattested = true;
    }
    if (ch != CH_PLAIN)
        assert_int_equal(vmesh_atls_config_set_provider(cfg, &p), VMESH_OK);
    return cfg;
}

static void open_session(session *x, channel ch)
{
    bool s_done = false, c_done = false;

    memset(x, 0, sizeof(*x));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, x->fds), 0);
    x->scfg = config(VMESH_ATLS_SERVER, ch);
    x->ccfg = config(VMESH_ATLS_CLIENT, ch);
    assert_int_equal(vmesh_atls_conn_new(x->scfg, x->fds[0], &x->s), VMESH_OK);
    assert_int_equal(vmesh_atls_conn_new(x->ccfg, x->fds[1], &x->c), VMESH_OK);
    for (int i = 0; i < 10000 && !(s_done && c_done); i++) {
        vmesh_err rc;
        if (!c_done) {
            rc = vmesh_atls_handshake(x->c);
            assert_true(rc == VMESH_OK || rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE);
            c_done = rc == VMESH_OK;
        }
        if (!s_done) {
            rc = vmesh_atls_handshake(x->s);
            assert_true(rc == VMESH_OK || rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE);
            s_done = rc == VMESH_OK;
        }
    }
    assert_true(s_done && c_done);
}

static void close_session(session *x)
{
    vmesh_atls_free(x->s);
    vmesh_atls_free(x->c);
    vmesh_atls_config_free(x->scfg);
    vmesh_atls_config_free(x->ccfg);
    close(x->fds[0]);
    close(x->fds[1]);
}

static void test_both_ends_agree(void **state)
{
    session x;
    uint8_t a[VMESH_IPSEC_PSK_LEN], b[VMESH_IPSEC_PSK_LEN], zero[VMESH_IPSEC_PSK_LEN] = {0};

    (void)state;
    open_session(&x, CH_ATTESTED);
    assert_int_equal(vmesh_ipsec_derive(x.c, 7, a), VMESH_OK);
    assert_int_equal(vmesh_ipsec_derive(x.s, 7, b), VMESH_OK);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    /* another epoch, another credential; the same epoch again, the same */
    assert_int_equal(vmesh_ipsec_derive(x.s, 8, b), VMESH_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(vmesh_ipsec_derive(x.s, 7, b), VMESH_OK);
    assert_memory_equal(a, b, sizeof(a));
    close_session(&x);
}

static void test_other_session_other_credential(void **state)
{
    session x, y;
    uint8_t a[VMESH_IPSEC_PSK_LEN], b[VMESH_IPSEC_PSK_LEN];

    (void)state;
    /* same peers, same certificates, same epoch: only the session differs */
    open_session(&x, CH_ATTESTED);
    open_session(&y, CH_ATTESTED);
    assert_int_equal(vmesh_ipsec_derive(x.c, 1, a), VMESH_OK);
    assert_int_equal(vmesh_ipsec_derive(y.c, 1, b), VMESH_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(vmesh_ipsec_derive(y.s, 1, b), VMESH_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    close_session(&x);
    close_session(&y);
}

static void test_not_from_the_attestation_label(void **state)
{
    session x;
    uint8_t a[VMESH_IPSEC_PSK_LEN], e[32];
    SSL *ssl;
    uint8_t role = 0;

    (void)state;
    /* the credential is not the attestation binder's exporter output (a
     * different label): knowing one reveals nothing of the other */
    open_session(&x, CH_ATTESTED);
    assert_int_equal(vmesh_ipsec_derive(x.c, 0, a), VMESH_OK);
    ssl = vmesh_atls_conn_ssl(x.c);
    assert_int_equal(SSL_export_keying_material(ssl, e, sizeof(e), VMESH_ATLS_EXPORTER_LABEL,
                                                strlen(VMESH_ATLS_EXPORTER_LABEL), &role, 1, 1),
                     1);
    assert_memory_not_equal(a, e, sizeof(a));
    close_session(&x);
}

static void test_unattested_yields_nothing(void **state)
{
    session x;
    uint8_t a[VMESH_IPSEC_PSK_LEN];

    (void)state;
    /* mutual TLS without the attested channel: no credential */
    open_session(&x, CH_PLAIN);
    assert_int_equal(vmesh_ipsec_derive(x.c, 1, a), VMESH_ERR_STATE);
    assert_int_equal(vmesh_ipsec_derive(x.s, 1, a), VMESH_ERR_STATE);
    close_session(&x);
    /* the attested channel with peers admitted unattested: still none */
    open_session(&x, CH_UNATTESTED);
    assert_int_equal(vmesh_atls_peer_mode(x.c), VMESH_ATLS_MODE_NONE);
    assert_int_equal(vmesh_ipsec_derive(x.c, 1, a), VMESH_ERR_POLICY);
    assert_int_equal(vmesh_ipsec_derive(x.s, 1, a), VMESH_ERR_POLICY);
    close_session(&x);
}

static void test_context_layout(void **state)
{
    uint8_t ctx[VMESH_IPSEC_CONTEXT_LEN], h[32];
    static const uint8_t c_spki[] = {1, 2, 3}, s_spki[] = {4, 5};

    (void)state;
    assert_int_equal(VMESH_IPSEC_CONTEXT_LEN, 14 + 32 + 32 + 8);
    vmesh_ipsec_context(c_spki, sizeof(c_spki), s_spki, sizeof(s_spki), 0x0102030405060708ULL, ctx);
    assert_memory_equal(ctx, "vmesh ipsec v1", 14);
    SHA256(c_spki, sizeof(c_spki), h);
    assert_memory_equal(ctx + 14, h, 32);
    SHA256(s_spki, sizeof(s_spki), h);
    assert_memory_equal(ctx + 46, h, 32);
    assert_memory_equal(ctx + 78, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    /* the roles are not interchangeable */
    {
        uint8_t swapped[VMESH_IPSEC_CONTEXT_LEN];
        vmesh_ipsec_context(s_spki, sizeof(s_spki), c_spki, sizeof(c_spki), 0x0102030405060708ULL,
                            swapped);
        assert_memory_not_equal(ctx, swapped, sizeof(ctx));
    }
}

/* ---- the control message -------------------------------------------------------------------- */

static void test_msg_roundtrip(void **state)
{
    vmesh_ipsec_msg m, d;
    vmesh_buf b = {0};
    size_t used = 0;

    (void)state;
    memset(&m, 0, sizeof(m));
    m.type = VMESH_IPSEC_MSG_INSTALL;
    m.epoch = 0xfedcba9876543210ULL;
    assert_int_equal(vmesh_ipsec_msg_encode(&m, &b), VMESH_OK);
    assert_int_equal(b.len, VMESH_IPSEC_MSG_HEADER);
    assert_memory_equal(b.data, "VMIP\x01\x01\xfe\xdc\xba\x98\x76\x54\x32\x10\x00\x00", 16);
    assert_int_equal(vmesh_ipsec_msg_decode(b.data, b.len, &d, &used), VMESH_OK);
    assert_int_equal(used, b.len);
    assert_int_equal(d.type, VMESH_IPSEC_MSG_INSTALL);
    assert_true(d.epoch == m.epoch);
    /* every prefix wants more, and nothing is consumed */
    for (size_t n = 0; n < b.len; n++) {
        used = 99;
        assert_int_equal(vmesh_ipsec_msg_decode(b.data, n, &d, &used), VMESH_ERR_WANT_READ);
        assert_int_equal(used, 0);
    }
    vmesh_buf_reset(&b);
    m.type = VMESH_IPSEC_MSG_REFUSED;
    snprintf(m.text, sizeof(m.text), "not-affirming\n\x01 bad");
    assert_int_equal(vmesh_ipsec_msg_encode(&m, &b), VMESH_OK);
    assert_int_equal(vmesh_ipsec_msg_decode(b.data, b.len, &d, &used), VMESH_OK);
    assert_string_equal(d.text, "not-affirming?? bad"); /* control bytes never travel */
    vmesh_buf_free(&b);
}

static void test_msg_hostile(void **state)
{
    vmesh_ipsec_msg d;
    size_t used;
    uint8_t m[VMESH_IPSEC_MSG_MAX + 8];

    (void)state;
    assert_int_equal(vmesh_ipsec_msg_decode((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &d, &used),
                     VMESH_ERR_PARSE);
    assert_int_equal(vmesh_ipsec_msg_decode((const uint8_t *)"VMIP\x02", 5, &d, &used),
                     VMESH_ERR_UNSUPPORTED);
    assert_int_equal(vmesh_ipsec_msg_decode((const uint8_t *)"VMIP\x01\x09", 6, &d, &used),
                     VMESH_ERR_PARSE);
    memcpy(m, "VMIP\x01\x02\0\0\0\0\0\0\0\x01\x00\x05hello", 21);
    /* installed carries no text */
    assert_int_equal(vmesh_ipsec_msg_decode(m, 21, &d, &used), VMESH_ERR_PARSE);
    /* refused: 1..256 bytes of printable text */
    m[5] = 3;
    assert_int_equal(vmesh_ipsec_msg_decode(m, 21, &d, &used), VMESH_OK);
    assert_string_equal(d.text, "hello");
    m[16] = 0x07;
    assert_int_equal(vmesh_ipsec_msg_decode(m, 21, &d, &used), VMESH_ERR_PARSE);
    m[14] = 0x01, m[15] = 0x01; /* 257 */
    assert_int_equal(vmesh_ipsec_msg_decode(m, sizeof(m), &d, &used), VMESH_ERR_PARSE);
    m[14] = 0, m[15] = 0;
    assert_int_equal(vmesh_ipsec_msg_decode(m, 16, &d, &used), VMESH_ERR_PARSE);
}

/* ---- --peer --------------------------------------------------------------------------------- */

static void test_peer_spec(void **state)
{
    vmesh_ipsec_peer p;

    (void)state;
    assert_int_equal(vmesh_ipsec_peer_parse(
                         "name=main,id=spiffe://vmesh.test/gw/main,connect=198.18.0.2:7443,"
                         "local-ts=198.18.1.0/24,remote-ts=198.18.2.0/24,remote-ts=2001:db8::/32",
                         &p),
                     VMESH_OK);
    assert_string_equal(p.name, "main");
    assert_string_equal(p.remote_addr, "198.18.0.2"); /* from connect= */
    assert_int_equal(p.n_local_ts, 1);
    assert_int_equal(p.n_remote_ts, 2);
    assert_string_equal(p.remote_ts[1], "2001:db8::/32");
    assert_int_equal(vmesh_ipsec_peer_parse(
                         "name=b,id=spiffe://t/b,connect=[2001:db8::1]:7443,local-ts=10.0.0.0/8,"
                         "remote-ts=10.1.0.0/16",
                         &p),
                     VMESH_OK);
    assert_string_equal(p.remote_addr, "2001:db8::1");

    static const char *const bad[] = {
        "",
        "name=x",                                     /* no id, no ts */
        "name=x,id=spiffe://t/x,local-ts=10.0.0.0/8", /* no remote-ts */
        "name=x,id=http://t/x,local-ts=10.0.0.0/8,remote-ts=10.1.0.0/"
        "16,remote-addr=1.2.3.4", /* not SPIFFE */
        "name=x "
        "y,id=spiffe://t/x,local-ts=10.0.0.0/8,remote-ts=10.1.0.0/16,remote-addr=1.2.3.4",
        "name=x,id=spiffe://t/x,local-ts=10.0.0.0,remote-ts=10.1.0.0/"
        "16,remote-addr=1.2.3.4", /* no prefix */
        "name=x,id=spiffe://t/x,local-ts=10.0.0.0/33,remote-ts=10.1.0.0/"
        "16,remote-addr=1.2.3.4",
        "name=x,id=spiffe://t/x,local-ts=host/8,remote-ts=10.1.0.0/16,remote-addr=1.2.3.4",
        "name=x,id=spiffe://t/x,local-ts=10.0.0.0/8,remote-ts=10.1.0.0/16", /* neither
                                                                               connect nor
                                                                               remote-addr
                                                                             */
        "name=x,id=spiffe://t/x,local-ts=10.0.0.0/8,remote-ts=10.1.0.0/"
        "16,connect=gw.example:7443", /* name */
        "name=x,id=spiffe://t/x,local-ts=10.0.0.0/8,remote-ts=10.1.0.0/"
        "16,remote-addr=1.2.3.4,name=y",
        "name=x,id=spiffe://t/x,local-ts=10.0.0.0/8,remote-ts=10.1.0.0/"
        "16,remote-addr=1.2.3.4,bogus=1",
        "name=x,id=spiffe://t/x,local-ts=10.0.0.0/8,remote-ts=10.1.0.0/"
        "16,remote-addr=1.2.3.4,novalue",
        "name=x,id=spiffe://t/x,local-ts=10.0.0.0/8,remote-ts=10.1.0.0/"
        "16,remote-addr=1.2.3.4,local-addr=me",
        "name=x,id=spiffe://t/x,local-ts=1.0.0.0/8,local-ts=2.0.0.0/8,local-ts=3.0.0.0/"
        "8,local-ts=4.0.0.0/8,"
        "local-ts=5.0.0.0/8,local-ts=6.0.0.0/8,local-ts=7.0.0.0/8,local-ts=8.0.0.0/"
        "8,local-ts=9.0.0.0/8,"
        "remote-ts=10.1.0.0/16,remote-addr=1.2.3.4", /* more than 8 subnets */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vmesh_err rc = vmesh_ipsec_peer_parse(bad[i], &p);
        if (rc == VMESH_OK)
            fail_msg("accepted: %s", bad[i]);
        assert_true(vmesh_err_detail()[0] != '\0');
    }
}

static int setup(void **state)
{
    char prefix[200];

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmesh-ipsec-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", tmpdir);
    snprintf(bundle, sizeof(bundle), "%s/bundle.pem", ca_dir);
    snprintf(srv_pem, sizeof(srv_pem), "%s/main.pem", tmpdir);
    snprintf(srv_key, sizeof(srv_key), "%s/main.key", tmpdir);
    snprintf(cli_pem, sizeof(cli_pem), "%s/branch.pem", tmpdir);
    snprintf(cli_key, sizeof(cli_key), "%s/branch.key", tmpdir);
    if (vmesh_pki_ca_init("vmesh.test", ca_dir, 0, VMESH_KEY_EC_P256) != VMESH_OK)
        return -1;
    snprintf(prefix, sizeof(prefix), "%s/main", tmpdir);
    if (vmesh_pki_ca_issue(ca_dir, SERVER_ID, prefix, 1, VMESH_KEY_EC_P256) != VMESH_OK)
        return -1;
    snprintf(prefix, sizeof(prefix), "%s/branch", tmpdir);
    if (vmesh_pki_ca_issue(ca_dir, CLIENT_ID, prefix, 1, VMESH_KEY_EC_P256) != VMESH_OK)
        return -1;
    if (vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ak) != VMESH_OK ||
        vmesh_crypto_key_to_spki(ak, &ak_spki) != VMESH_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    vmesh_crypto_key_free(ak);
    vmesh_buf_free(&ak_spki);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_ends_agree),
        cmocka_unit_test(test_other_session_other_credential),
        cmocka_unit_test(test_not_from_the_attestation_label),
        cmocka_unit_test(test_unattested_yields_nothing),
        cmocka_unit_test(test_context_layout),
        cmocka_unit_test(test_msg_roundtrip),
        cmocka_unit_test(test_msg_hostile),
        cmocka_unit_test(test_peer_spec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
