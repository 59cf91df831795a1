/*
 * In-band re-attestation on established attested connections (docs/ATLS.md
 * "Re-attestation"): the wire codecs, then end-to-end over loopback TCP with
 * a test provider whose evidence is a platform-key signature over ak_nonce
 * and a "measurement" byte, so that a changed measurement, a replayed
 * answer (same connection, earlier request; another connection) and a peer
 * that does not answer are all really judged by the channel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmesh/atls.h"
#include "vmesh/crypto.h"
#include "vmesh/pki.h"

#define MT "application/vnd.vmesh.test-evidence"
#define SERVER_ID "spiffe://example.org/ns/prod/sa/server"
#define CLIENT_ID "spiffe://example.org/ns/prod/sa/client"

static char tmpdir[256], ca_dir[300], bundle[320], srv_pem[320], srv_key[320], cli_pem[320], cli_key[320];
static vmesh_key *platform;

/* ---- wire ------------------------------------------------------------------------------ */

static void wire_roundtrip_and_strictness(void **state)
{
    vmesh_buf b = {0};
    uint8_t nonce[32];
    uint64_t counter;
    const uint8_t *p;
    size_t n;
    vmesh_atls_ext e, d;
    vmesh_atls_frame_parser fp;
    size_t used;
    static const uint8_t dup_key[] = {0xa2, 0x01, 0x01, 0x01, 0x02};
    static const uint8_t extra_key[] = {0xa3, 0x01, 0x01, 0x02, 0x41, 0x00, 0x03, 0x00};
    static const uint8_t zero_counter[] = {0xa2, 0x01, 0x00, 0x02, 0x41, 0x00};
    static const uint8_t indefinite[] = {0xbf, 0x01, 0x01, 0x02, 0x41, 0x00, 0xff};

    (void)state;
    memset(nonce, 0x5a, sizeof(nonce));
    assert_int_equal(vmesh_atls_reattest_request_encode(7, nonce, sizeof(nonce), &b), VMESH_OK);
    assert_int_equal(vmesh_atls_reattest_request_decode(b.data, b.len, &counter, &p, &n), VMESH_OK);
    assert_int_equal(counter, 7);
    assert_int_equal(n, 32);
    assert_memory_equal(p, nonce, 32);
    /* trailing byte, short nonce, zero counter, duplicate/unknown keys, indefinite map */
    assert_int_equal(vmesh_buf_append(&b, "\0", 1), VMESH_OK);
    assert_int_not_equal(vmesh_atls_reattest_request_decode(b.data, b.len, &counter, &p, &n), VMESH_OK);
    vmesh_buf_reset(&b);
    assert_int_not_equal(vmesh_atls_reattest_request_encode(1, nonce, 8, &b), VMESH_OK);
    assert_int_not_equal(vmesh_atls_reattest_answer_decode(zero_counter, sizeof(zero_counter), &counter, &p, &n),
                         VMESH_OK);
    assert_int_not_equal(vmesh_atls_reattest_answer_decode(dup_key, sizeof(dup_key), &counter, &p, &n), VMESH_OK);
    assert_int_not_equal(vmesh_atls_reattest_answer_decode(extra_key, sizeof(extra_key), &counter, &p, &n),
                         VMESH_OK);
    assert_int_not_equal(vmesh_atls_reattest_answer_decode(indefinite, sizeof(indefinite), &counter, &p, &n),
                         VMESH_OK);
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_atls_reattest_answer_encode(9, nonce, 5, &b), VMESH_OK);
    assert_int_equal(vmesh_atls_reattest_answer_decode(b.data, b.len, &counter, &p, &n), VMESH_OK);
    assert_int_equal(counter, 9);
    assert_int_equal(n, 5);
    vmesh_buf_free(&b);

    /* 0xff4d key 4: sent only when true, decoded, refused when not a bool */
    memset(&e, 0, sizeof(e));
    e.modes[e.n_modes++] = 0;
    e.will_attest = true;
    e.reattest = true;
    assert_int_equal(vmesh_atls_ext_encode(&e, &b), VMESH_OK);
    assert_int_equal(vmesh_atls_ext_decode(b.data, b.len, &d), VMESH_OK);
    assert_true(d.reattest);
    vmesh_atls_ext_free(&d);
    assert_int_equal(b.data[0], 0xa4);
    b.data[b.len - 1] = 0x01; /* 4 => 1 instead of true */
    assert_int_not_equal(vmesh_atls_ext_decode(b.data, b.len, &d), VMESH_OK);
    vmesh_buf_reset(&b);
    e.reattest = false;
    assert_int_equal(vmesh_atls_ext_encode(&e, &b), VMESH_OK);
    assert_int_equal(b.data[0], 0xa3);
    assert_int_equal(vmesh_atls_ext_decode(b.data, b.len, &d), VMESH_OK);
    assert_false(d.reattest);
    vmesh_atls_ext_free(&d);
    vmesh_buf_free(&b);

    /* frame types: in-band ones refused in the preamble and vice versa;
     * data frames complete at the header; caps judged at the header */
    assert_int_equal(vmesh_atls_frame_parser_init(&fp, 4096), VMESH_OK);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x04\x00\x00\x05", 4, &used),
                     VMESH_ERR_PARSE);
    vmesh_atls_frame_parser_reset(&fp);
    fp.inband = true;
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x04\x00\x00\x05hello", 9, &used),
                     VMESH_OK);
    assert_int_equal(used, 4);
    assert_int_equal(fp.type, VMESH_ATLS_FRAME_DATA);
    assert_int_equal(fp.need, 5);
    vmesh_atls_frame_parser_reset(&fp);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x04\x00\x40\x01", 4, &used),
                     VMESH_ERR_TOO_LARGE);
    vmesh_atls_frame_parser_reset(&fp);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x04\x00\x00\x00", 4, &used),
                     VMESH_ERR_TOO_LARGE);
    vmesh_atls_frame_parser_reset(&fp);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x01\x00\x00\x05", 4, &used),
                     VMESH_ERR_PARSE);
    vmesh_atls_frame_parser_reset(&fp);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x05\x00\x01\x00", 4, &used),
                     VMESH_ERR_TOO_LARGE);
    vmesh_atls_frame_parser_reset(&fp);
    assert_int_equal(vmesh_atls_frame_parser_feed(&fp, (const uint8_t *)"\x06\x01\x00\x00", 4, &used),
                     VMESH_ERR_TOO_LARGE);
    vmesh_atls_frame_parser_free(&fp);
}

/* ---- the test provider ---------------------------------------------------------------- */

enum { EVIL_NONE, EVIL_REPLAY_MSG, EVIL_OLD_COUNTER };

typedef struct {
    vmesh_key *ak;
    vmesh_buf ak_spki;
    atomic_int measurement;      /* what this platform measures now */
    atomic_int expect;           /* what the RP accepts from its peer */
    int evil;
    atomic_int attest_calls, reattest_calls, appraise_calls;
    /* EVIL_*: our first re-attestation answer, recorded */
    vmesh_buf first_msg;
    uint64_t first_counter;
    vmesh_atls_conn *conn;       /* for EVIL_OLD_COUNTER: inject a frame on this conn's TLS */
} tprov;

static vmesh_err t_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *m)
{
    tprov *t = ctx;
    uint8_t nonce[32], tbs[65];
    vmesh_buf sig = {0};
    vmesh_err rc = VMESH_OK;

    atomic_fetch_add(&t->attest_calls, 1);
    if (in->reattest)
        atomic_fetch_add(&t->reattest_calls, 1);
    if (in->reattest && t->evil == EVIL_REPLAY_MSG && t->first_msg.len > 0)
        return vmesh_atls_msg_decode(t->first_msg.data, t->first_msg.len, m);
    if (in->reattest && t->evil == EVIL_OLD_COUNTER && t->first_msg.len > 0) {
        /* The earlier answer, exactly as sent (its counter and message),
         * injected ahead of the honest answer to this request. */
        vmesh_buf pl = {0}, fr = {0};
        size_t w;

        VMESH_GUARD(vmesh_atls_reattest_answer_encode(t->first_counter, t->first_msg.data, t->first_msg.len, &pl));
        VMESH_GUARD(vmesh_atls_frame_encode(VMESH_ATLS_FRAME_REATTEST_ANSWER, pl.data, pl.len, &fr));
        assert_int_equal(SSL_write_ex(vmesh_atls_conn_ssl(t->conn), fr.data, fr.len, &w), 1);
        vmesh_buf_free(&pl);
        vmesh_buf_free(&fr);
    }
    m->fresh = true;
    VMESH_GUARD(vmesh_buf_set(&m->ak_spki, t->ak_spki.data, t->ak_spki.len));
    VMESH_GUARD(vmesh_buf_set(&m->media_type, MT, strlen(MT)));
    VMESH_GUARD(vmesh_atls_ak_nonce(m->ak_spki.data, m->ak_spki.len, in->binder, 32, nonce));
    memcpy(tbs, nonce, 32);
    memset(tbs + 32, 0, 32);
    tbs[64] = (uint8_t)atomic_load(&t->measurement);
    VMESH_GUARD(vmesh_crypto_sign(platform, tbs, sizeof(tbs), &sig));
    VMESH_GUARD(vmesh_buf_set(&m->cmw, tbs, sizeof(tbs)));
    VMESH_GUARD(vmesh_buf_append(&m->cmw, sig.data, sig.len));
    vmesh_buf_reset(&sig);
    VMESH_GUARD(vmesh_crypto_sign(t->ak, in->binder, 32, &sig));
    VMESH_GUARD(vmesh_buf_set(&m->proof, sig.data, sig.len));
    if (in->reattest && t->first_msg.len == 0 && t->evil != EVIL_NONE) {
        VMESH_GUARD(vmesh_atls_msg_encode(m, &t->first_msg));
        t->first_counter = in->reattest;
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

    atomic_fetch_add(&t->appraise_calls, 1);
    *reason = VMESH_ATLS_R_NONE;
    out->mode = VMESH_ATLS_MODE_FRESH;
    if (m->cmw.len != 65 + 64 || !vmesh_crypto_memeq(m->cmw.data, in->ak_nonce, 32) ||
        vmesh_crypto_verify(platform, m->cmw.data, 65, m->cmw.data + 65, 64) != VMESH_OK) {
        *reason = VMESH_ATLS_R_EVIDENCE_INVALID;
        snprintf(out->reason, sizeof(out->reason), "evidence does not bind this AK and binder");
        return VMESH_OK;
    }
    if (m->cmw.data[64] != (uint8_t)atomic_load(&t->expect)) {
        *reason = VMESH_ATLS_R_NOT_AFFIRMING;
        snprintf(out->reason, sizeof(out->reason), "measurement %u is not the reference %u", m->cmw.data[64],
                 (unsigned)atomic_load(&t->expect));
        return VMESH_OK;
    }
    out->tier = VMESH_TIER_AFFIRMING;
    return VMESH_OK;
}

static void tprov_init(tprov *t)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &t->ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(t->ak, &t->ak_spki), VMESH_OK);
    atomic_store(&t->measurement, 1);
    atomic_store(&t->expect, 1);
}

static void tprov_free(tprov *t)
{
    vmesh_crypto_key_free(t->ak);
    vmesh_buf_free(&t->ak_spki);
    vmesh_buf_free(&t->first_msg);
}

static const char *const mts[] = {MT, NULL};

static vmesh_atls_config *make_config(vmesh_atls_role role, tprov *t, bool reattest)
{
    vmesh_atls_config *c = NULL;
    vmesh_atls_provider p;

    memset(&p, 0, sizeof(p));
    p.ctx = t;
    p.attest = t_attest;
    p.appraise = t_appraise;
    p.accept_modes[0] = VMESH_ATLS_MODE_FRESH;
    p.n_accept_modes = 1;
    p.media_types = mts;
    p.will_attest = true;
    p.attest_modes = VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_FRESH);
    assert_int_equal(vmesh_atls_config_new(role, &c), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_svid(c, role == VMESH_ATLS_SERVER ? srv_pem : cli_pem,
                                                role == VMESH_ATLS_SERVER ? srv_key : cli_key),
                     VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_bundle(c, bundle), VMESH_OK);
    assert_int_equal(vmesh_atls_config_set_provider(c, &p), VMESH_OK);
    vmesh_atls_config_set_deadline_ms(c, 5000);
    vmesh_atls_config_set_reattest(c, reattest);
    return c;
}

/* ---- harness: a blocking echo server thread --------------------------------------------- */

typedef struct {
    vmesh_atls_config *cfg;
    tprov *prov;
    int lfd;
    int request_after;      /* >0: the server asks the client to re-attest after this many echoes */
    bool mute;              /* after the handshake: read nothing until `release` */
    atomic_bool release;
    /* results */
    vmesh_err hs_rc, io_rc;
    uint32_t reason;
    bool by_peer;
    char msg[300];
    vmesh_atls_reattest_stats st;
    int echoes;
} server;

static void linger_close(int fd)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = 300000};
    char sink[4096];

    shutdown(fd, SHUT_WR);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (read(fd, sink, sizeof(sink)) > 0)
        ;
    close(fd);
}

static void *server_main(void *arg)
{
    server *s = arg;
    vmesh_atls_conn *conn = NULL;
    int fd = accept(s->lfd, NULL, NULL);
    char buf[70000];
    size_t got;
    const char *m = NULL;

    if (fd < 0)
        return NULL;
    assert_int_equal(vmesh_atls_conn_new(s->cfg, fd, &conn), VMESH_OK);
    if (s->prov)
        s->prov->conn = conn;
    s->hs_rc = vmesh_atls_handshake(conn);
    if (s->hs_rc == VMESH_OK) {
        while (s->mute && !atomic_load(&s->release))
            usleep(10000);
        for (;;) {
            s->io_rc = vmesh_atls_read(conn, buf, sizeof(buf), &got);
            if (s->io_rc != VMESH_OK)
                break;
            s->io_rc = vmesh_atls_write(conn, buf, got);
            if (s->io_rc == VMESH_OK)
                s->io_rc = vmesh_atls_flush(conn);
            if (s->io_rc != VMESH_OK)
                break;
            if (++s->echoes == s->request_after)
                assert_int_equal(vmesh_atls_reattest_request(conn, 0), VMESH_OK);
        }
    }
    s->reason = vmesh_atls_failure(conn, &m, &s->by_peer);
    snprintf(s->msg, sizeof(s->msg), "%s", m ? m : "");
    vmesh_atls_reattest_stats_get(conn, &s->st);
    vmesh_atls_free(conn);
    linger_close(fd);
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

typedef struct {
    vmesh_atls_conn *conn;
    int fd;
    pthread_t th;
} client;

static void client_open(client *c, server *s, vmesh_atls_config *cfg)
{
    int port;

    s->lfd = listen_local(&port);
    assert_int_equal(pthread_create(&c->th, NULL, server_main, s), 0);
    c->fd = connect_local(port);
    assert_int_equal(vmesh_atls_conn_new(cfg, c->fd, &c->conn), VMESH_OK);
    assert_int_equal(vmesh_atls_handshake(c->conn), VMESH_OK);
}

static void client_close(client *c, server *s)
{
    vmesh_err e = vmesh_atls_shutdown(c->conn);

    (void)e;
    vmesh_atls_free(c->conn);
    linger_close(c->fd);
    pthread_join(c->th, NULL);
    close(s->lfd);
}

/* One echo round trip of len bytes; returns the read result. */
static vmesh_err echo(client *c, size_t len, uint8_t seed)
{
    static uint8_t out[40000], in[40000];
    size_t have = 0, got;
    vmesh_err rc;

    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(seed + i * 7);
    rc = vmesh_atls_write(c->conn, out, len);
    if (rc == VMESH_OK)
        rc = vmesh_atls_flush(c->conn);
    while (rc == VMESH_OK && have < len) {
        rc = vmesh_atls_read(c->conn, in + have, len - have, &got);
        have += rc == VMESH_OK ? got : 0;
    }
    if (rc == VMESH_OK)
        assert_memory_equal(in, out, len);
    return rc;
}

/* ---- end-to-end ---------------------------------------------------------------------- */

/* Three re-attestations of the server asked by the client and one of the
 * client asked by the server, while data (including frames larger than a
 * TLS record) keeps flowing; every answer is a new appraisal. */
static void three_rounds_with_data(void **state)
{
    tprov sp, cp;
    server s = {0};
    client c = {0};
    vmesh_atls_config *ccfg;
    vmesh_atls_reattest_stats st;
    const vmesh_atls_peer_result *r;
    int round = 0, i = 0;

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    s.cfg = make_config(VMESH_ATLS_SERVER, &sp, true);
    s.request_after = 5;
    ccfg = make_config(VMESH_ATLS_CLIENT, &cp, true);
    client_open(&c, &s, ccfg);
    assert_true(vmesh_atls_reattest_supported(c.conn));
    vmesh_atls_reattest_stats_get(c.conn, &st);
    assert_true(st.last_attested > 0);
    assert_int_equal(atomic_load(&cp.appraise_calls), 1);
    while (round < 3 || st.pending) {
        vmesh_atls_reattest_stats_get(c.conn, &st);
        if (!st.pending && round < 3 && i % 4 == 1) {
            assert_int_equal(vmesh_atls_reattest_request(c.conn, 0), VMESH_OK);
            assert_int_equal(vmesh_atls_reattest_request(c.conn, 0), VMESH_ERR_STATE); /* one at a time */
            assert_true(vmesh_atls_reattest_timeout_ms(c.conn) > 0);
            round++;
        }
        assert_int_equal(echo(&c, i % 3 == 0 ? 33000 : 100, (uint8_t)i), VMESH_OK);
        i++;
        assert_true(i < 1000);
    }
    vmesh_atls_reattest_stats_get(c.conn, &st);
    assert_int_equal(st.requests_sent, 3);
    assert_int_equal(st.answers_accepted, 3);
    assert_int_equal(vmesh_atls_reattest_timeout_ms(c.conn), -1);
    assert_true(st.bytes_out > 0 && st.bytes_in > st.bytes_out);
    r = vmesh_atls_peer_result_get(c.conn);
    assert_non_null(r);
    assert_int_equal(r->tier, VMESH_TIER_AFFIRMING);
    assert_int_equal(atomic_load(&cp.appraise_calls), 4);
    assert_int_equal(atomic_load(&sp.reattest_calls), 3);
    /* the server's request to the client (after 5 echoes) was answered too */
    assert_int_equal(atomic_load(&cp.reattest_calls), 1);
    print_message("re-attestation: %llu bytes out, %llu in for 3 rounds; last round %llu us\n",
                  (unsigned long long)st.bytes_out, (unsigned long long)st.bytes_in,
                  (unsigned long long)st.last_rtt_us);
    client_close(&c, &s);
    assert_int_equal(s.hs_rc, VMESH_OK);
    assert_int_equal(s.st.answers_accepted, 1);
    assert_int_equal(s.st.answers_sent, 3);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(ccfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* The server's platform changes its measurement mid-connection: the next
 * re-attestation is not affirming and the client cuts the connection,
 * telling the server why. */
static void measurement_change_cuts(void **state)
{
    tprov sp, cp;
    server s = {0};
    client c = {0};
    vmesh_atls_config *ccfg;
    vmesh_err rc = VMESH_OK;
    const char *m;
    bool by_peer;

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    s.cfg = make_config(VMESH_ATLS_SERVER, &sp, true);
    ccfg = make_config(VMESH_ATLS_CLIENT, &cp, true);
    client_open(&c, &s, ccfg);
    assert_int_equal(echo(&c, 10, 1), VMESH_OK);
    assert_int_equal(vmesh_atls_reattest_request(c.conn, 0), VMESH_OK);
    for (int i = 0; i < 3 && rc == VMESH_OK; i++)
        rc = echo(&c, 10, 2);
    assert_int_equal(rc, VMESH_OK); /* still the same measurement: accepted */
    atomic_store(&sp.measurement, 2);
    assert_int_equal(vmesh_atls_reattest_request(c.conn, 0), VMESH_OK);
    for (int i = 0; i < 50 && rc == VMESH_OK; i++)
        rc = echo(&c, 10, 3);
    assert_int_equal(rc, VMESH_ERR_POLICY);
    assert_int_equal(vmesh_atls_failure(c.conn, &m, &by_peer), VMESH_ATLS_R_NOT_AFFIRMING);
    assert_false(by_peer);
    assert_non_null(strstr(m, "measurement 2"));
    assert_null(vmesh_atls_peer_result_get(c.conn));
    assert_int_equal(vmesh_atls_write(c.conn, "x", 1), VMESH_ERR_POLICY); /* no data after the cut */
    client_close(&c, &s);
    assert_int_equal(s.io_rc, VMESH_ERR_POLICY);
    assert_int_equal(s.reason, VMESH_ATLS_R_NOT_AFFIRMING);
    assert_true(s.by_peer);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(ccfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* A replayed answer is refused: (a) the message of an earlier round put
 * in the envelope of the current request, (b) the earlier answer exactly
 * as sent (earlier counter), (c) the answer given on another connection. */
static void replay_refused(void **state)
{
    for (int variant = 0; variant < 3; variant++) {
        tprov sp, cp;
        server s = {0}, s2 = {0};
        client c = {0}, c2 = {0};
        vmesh_atls_config *ccfg;
        vmesh_err rc = VMESH_OK;
        const char *m;
        bool by_peer;

        (void)state;
        tprov_init(&sp);
        tprov_init(&cp);
        sp.evil = variant == 1 ? EVIL_OLD_COUNTER : EVIL_REPLAY_MSG;
        s.cfg = make_config(VMESH_ATLS_SERVER, &sp, true);
        s.prov = &sp;
        ccfg = make_config(VMESH_ATLS_CLIENT, &cp, true);
        client_open(&c, &s, ccfg);
        /* round 1 is honest (and recorded by the evil server) */
        assert_int_equal(vmesh_atls_reattest_request(c.conn, 0), VMESH_OK);
        for (int i = 0; i < 3; i++)
            assert_int_equal(echo(&c, 10, 1), VMESH_OK);
        if (variant == 2) {
            /* (c): a second connection to the same server process, which
             * answers its first request with connection 1's answer */
            s2.cfg = s.cfg;
            s2.prov = &sp;
            client_open(&c2, &s2, ccfg);
            assert_int_equal(vmesh_atls_reattest_request(c2.conn, 0), VMESH_OK);
            for (int i = 0; i < 50 && rc == VMESH_OK; i++)
                rc = echo(&c2, 10, 2);
            assert_int_equal(rc, VMESH_ERR_MISMATCH);
            assert_int_equal(vmesh_atls_failure(c2.conn, &m, &by_peer), VMESH_ATLS_R_BINDER_MISMATCH);
            print_message("another connection's answer: %s\n", m);
            client_close(&c2, &s2);
            assert_int_equal(s2.reason, VMESH_ATLS_R_BINDER_MISMATCH);
            assert_true(s2.by_peer);
        } else {
            assert_int_equal(vmesh_atls_reattest_request(c.conn, 0), VMESH_OK);
            for (int i = 0; i < 50 && rc == VMESH_OK; i++)
                rc = echo(&c, 10, 2);
            assert_int_equal(rc, VMESH_ERR_MISMATCH);
            assert_int_equal(vmesh_atls_failure(c.conn, &m, &by_peer), VMESH_ATLS_R_BINDER_MISMATCH);
            assert_false(by_peer);
            print_message("%s: %s\n", variant == 0 ? "earlier message, current counter" : "earlier answer as sent",
                          m);
            if (variant == 1)
                assert_non_null(strstr(m, "names request 1"));
        }
        client_close(&c, &s);
        vmesh_atls_config_free(s.cfg);
        vmesh_atls_config_free(ccfg);
        tprov_free(&sp);
        tprov_free(&cp);
    }
}

/* A server that stops reading (it is alive, its socket open) is cut at the
 * request's deadline; both the blocking read and the poll report it. */
static void ignored_request_cut_at_deadline(void **state)
{
    tprov sp, cp;
    server s = {0};
    client c = {0};
    vmesh_atls_config *ccfg;
    uint8_t buf[64];
    size_t got;
    uint64_t t0, t1;
    const char *m;
    bool by_peer;

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    s.cfg = make_config(VMESH_ATLS_SERVER, &sp, true);
    s.mute = true;
    ccfg = make_config(VMESH_ATLS_CLIENT, &cp, true);
    client_open(&c, &s, ccfg);
    assert_int_equal(vmesh_atls_reattest_poll(c.conn), VMESH_OK);
    t0 = vmesh_time_mono_ns();
    assert_int_equal(vmesh_atls_reattest_request(c.conn, 300), VMESH_OK);
    assert_int_equal(vmesh_atls_reattest_poll(c.conn), VMESH_OK);
    assert_int_equal(vmesh_atls_read(c.conn, buf, sizeof(buf), &got), VMESH_ERR_TIMEOUT);
    t1 = vmesh_time_mono_ns();
    assert_int_equal(vmesh_atls_failure(c.conn, &m, &by_peer), VMESH_ATLS_R_TIMEOUT);
    assert_false(by_peer);
    assert_true(t1 - t0 >= 300u * 1000000u); /* never before the deadline */
    print_message("ignored request: cut after %llu ms (deadline 300 ms): %s\n",
                  (unsigned long long)((t1 - t0) / 1000000u), m);
    assert_int_equal(vmesh_atls_reattest_poll(c.conn), VMESH_ERR_TIMEOUT);
    atomic_store(&s.release, true);
    client_close(&c, &s);
    /* the server learns why when it reads again */
    assert_int_equal(s.reason, VMESH_ATLS_R_TIMEOUT);
    assert_true(s.by_peer);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(ccfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* Only one side offers it: no in-band stream, data flows unframed as
 * before, and a request is refused locally. */
static void not_negotiated(void **state)
{
    tprov sp, cp;
    server s = {0};
    client c = {0};
    vmesh_atls_config *ccfg;

    (void)state;
    for (int side = 0; side < 2; side++) {
        tprov_init(&sp);
        tprov_init(&cp);
        memset(&s, 0, sizeof(s));
        s.cfg = make_config(VMESH_ATLS_SERVER, &sp, side == 0);
        ccfg = make_config(VMESH_ATLS_CLIENT, &cp, side == 1);
        client_open(&c, &s, ccfg);
        assert_false(vmesh_atls_reattest_supported(c.conn));
        assert_int_equal(vmesh_atls_reattest_request(c.conn, 0), VMESH_ERR_STATE);
        assert_int_equal(echo(&c, 33000, 9), VMESH_OK);
        client_close(&c, &s);
        vmesh_atls_config_free(s.cfg);
        vmesh_atls_config_free(ccfg);
        tprov_free(&sp);
        tprov_free(&cp);
    }
}

/* A requester that repeats a counter (or sends an unsolicited answer) is
 * cut by the other side as malformed. */
static void hostile_requester(void **state)
{
    tprov sp, cp;
    server s = {0};
    client c = {0};
    vmesh_atls_config *ccfg;
    vmesh_buf pl = {0}, fr = {0};
    uint8_t nonce[32] = {1}, buf[16];
    size_t w, got;
    vmesh_err rc;

    (void)state;
    tprov_init(&sp);
    tprov_init(&cp);
    s.cfg = make_config(VMESH_ATLS_SERVER, &sp, true);
    ccfg = make_config(VMESH_ATLS_CLIENT, &cp, true);
    client_open(&c, &s, ccfg);
    assert_int_equal(vmesh_atls_reattest_request_encode(5, nonce, sizeof(nonce), &pl), VMESH_OK);
    assert_int_equal(vmesh_atls_frame_encode(VMESH_ATLS_FRAME_REATTEST_REQUEST, pl.data, pl.len, &fr), VMESH_OK);
    assert_int_equal(vmesh_atls_frame_encode(VMESH_ATLS_FRAME_REATTEST_REQUEST, pl.data, pl.len, &fr), VMESH_OK);
    assert_int_equal(SSL_write_ex(vmesh_atls_conn_ssl(c.conn), fr.data, fr.len, &w), 1);
    assert_int_equal(vmesh_atls_flush(c.conn), VMESH_OK);
    /* the server answers request 5 (unsolicited here: we cut it) or cuts us first */
    rc = vmesh_atls_read(c.conn, buf, sizeof(buf), &got);
    assert_true(rc == VMESH_ERR_PARSE || rc == VMESH_ERR_POLICY);
    client_close(&c, &s);
    assert_int_equal(s.reason, VMESH_ATLS_R_MALFORMED);
    print_message("server: %s (by peer: %d)\n", s.msg, s.by_peer);
    assert_true(strstr(s.msg, "not above") != NULL || s.by_peer);
    vmesh_buf_free(&pl);
    vmesh_buf_free(&fr);
    vmesh_atls_config_free(s.cfg);
    vmesh_atls_config_free(ccfg);
    tprov_free(&sp);
    tprov_free(&cp);
}

/* ---- fixtures --------------------------------------------------------------------------- */

static int setup(void **state)
{
    char prefix[300];

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmesh-reattest-XXXXXX");
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
    snprintf(prefix, sizeof(prefix), "%s/server", tmpdir);
    if (vmesh_pki_ca_issue(ca_dir, SERVER_ID, prefix, 1, VMESH_KEY_EC_P256) != VMESH_OK)
        return -1;
    snprintf(prefix, sizeof(prefix), "%s/client", tmpdir);
    if (vmesh_pki_ca_issue(ca_dir, CLIENT_ID, prefix, 1, VMESH_KEY_EC_P256) != VMESH_OK)
        return -1;
    return vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &platform) == VMESH_OK ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[400];

    (void)state;
    vmesh_crypto_key_free(platform);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wire_roundtrip_and_strictness),
        cmocka_unit_test(three_rounds_with_data),
        cmocka_unit_test(measurement_change_cuts),
        cmocka_unit_test(replay_refused),
        cmocka_unit_test(ignored_request_cut_at_deadline),
        cmocka_unit_test(not_negotiated),
        cmocka_unit_test(hostile_requester),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
