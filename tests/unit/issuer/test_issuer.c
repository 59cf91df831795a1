/*
 * The attested SVID issuer (DECISIONS D44) over real loopback sockets: a
 * key-bound agent obtains an X509-SVID for its in-memory AK, and an
 * attacker tries each way around the issuer's checks: a CSR for another key
 * than the attested one, a CSR naming another SPIFFE ID, the request sent
 * twice on one connection, a captured attestation relayed into a second
 * connection, an unendorsed platform, no client certificate, an agent that
 * is not key-bound. Each is refused by name. The wire decoders are strict.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "issuer/issuer_int.h"
#include "vmesh/pki.h"

#define ISSUER_ID "spiffe://example.org/issuer"
#define NODE_ID "spiffe://example.org/ns/shop/sa/node"

static char dir[128];
static char path_buf[16][256];
static int npath;
static vmesh_rv_store *rv;
static vmesh_verifier *verifier;
static vmesh_issuer *issuer;
static char addr[64];

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

static void make_iak(const char *name, bool endorse)
{
    vmesh_key *k = NULL, *pub = NULL;
    vmesh_buf spki = {0};
    vmesh_rv_env env = {"psa", (const uint8_t *)"vmesh-test-implementation-id-001", 32, NULL, 0};

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_save(k, P(name), true, false), VMESH_OK);
    if (endorse) {
        assert_int_equal(vmesh_crypto_key_to_spki(k, &spki), VMESH_OK);
        assert_int_equal(vmesh_crypto_key_from_spki(spki.data, spki.len, &pub), VMESH_OK);
        assert_int_equal(vmesh_rv_add_key(rv, &env, pub), VMESH_OK);
    }
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(pub);
    vmesh_buf_free(&spki);
}

static int group_setup(void **state)
{
    uint8_t d[32];
    vmesh_rv_env env = {"psa", (const uint8_t *)"vmesh-test-implementation-id-001", 32, NULL, 0};
    vmesh_rv_measurement m = {"workload", NULL, NULL, 0, VMESH_HASH_SHA256, d, 32};
    static const char *wl = "genuine workload v1\n";
    vmesh_verifier_config vc = {0};
    vmesh_issuer_config ic = {0};

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vmesh-issuer-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(vmesh_pki_ca_init("example.org", P("ca"), 1, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(P("ca"), ISSUER_ID, P("iss"), 1, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(P("ca"), NODE_ID, P("node"), 1, VMESH_KEY_EC_P256), VMESH_OK);
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
    make_iak("good-iak.pem", true);
    make_iak("rogue-iak.pem", false); /* a platform no endorsement names */
    vmesh_rv_store_freeze(rv);
    assert_int_equal(vmesh_verifier_new(&vc, &verifier), VMESH_OK);
    vmesh_verifier_set_rv(verifier, rv);
    ic.ca_dir = P("ca");
    ic.listen = "127.0.0.1:0";
    ic.cert_file = P("iss-chain.pem");
    ic.key_file = P("iss.key");
    ic.bundle_file = P("ca/bundle.pem");
    ic.verifier = verifier;
    ic.max_ttl = 600;
    assert_int_equal(vmesh_issuer_new(&ic, &issuer), VMESH_OK);
    assert_int_equal(vmesh_issuer_start(issuer), VMESH_OK);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", vmesh_issuer_port(issuer));
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[300];

    (void)state;
    vmesh_issuer_free(issuer);
    vmesh_verifier_free(verifier);
    vmesh_rv_store_free(rv);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static vmesh_agent *new_agent(const char *iak, bool keybound)
{
    char measure[300];
    vmesh_kv kv[3];
    vmesh_agent_config ac = {0};
    vmesh_agent *a = NULL;

    snprintf(measure, sizeof(measure), "workload=%s", P("workload"));
    kv[0].key = "iak";
    kv[0].value = strdup(P(iak));
    kv[1].key = "claims";
    kv[1].value = strdup(P("claims.json"));
    kv[2].key = "measure";
    kv[2].value = strdup(measure);
    ac.platform = "psa";
    ac.platform_cfg = kv;
    ac.n_platform_cfg = 3;
    ac.keybound = keybound;
    assert_int_equal(vmesh_agent_new(&ac, &a), VMESH_OK);
    for (int i = 0; i < 3; i++)
        free((char *)kv[i].value);
    return a;
}

static vmesh_issuer_client client(void)
{
    vmesh_issuer_client c = {0};

    c.addr = addr;
    c.issuer_id = ISSUER_ID;
    c.cert_file = P("node-chain.pem");
    c.key_file = P("node.key");
    c.bundle_file = P("ca/bundle.pem");
    c.timeout_ms = 20000;
    return c;
}

static void stats(vmesh_issuer_stats *s)
{
    vmesh_issuer_stats_get(issuer, s);
}

/* The issuer's thread counts a refusal once it has run, which may be after
 * the client saw it: wait (bounded) until the count moved from `before`. */
static void stats_after(const vmesh_issuer_stats *before, vmesh_issuer_stats *s)
{
    for (int i = 0; i < 250; i++) {
        stats(s);
        if (s->refused_attestation != before->refused_attestation || s->refused_request != before->refused_request)
            return;
        usleep(20000);
    }
}

/* ---- the honest path ------------------------------------------------------------------ */

static void issues_for_the_attested_ak(void **state)
{
    vmesh_agent *a = new_agent("good-iak.pem", true);
    vmesh_issuer_client c = client();
    vmesh_buf chain = {0};
    vmesh_key *ak = NULL;
    int64_t na = 0, now = vmesh_time_now();
    BIO *b;
    X509 *leaf;
    char *id = NULL;

    (void)state;
    assert_int_equal(vmesh_issuer_obtain(&c, a, &chain, &na), VMESH_OK);
    b = BIO_new_mem_buf(chain.data, (int)chain.len);
    leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    assert_non_null(leaf);
    assert_int_equal(vmesh_agent_tls_key(a, &ak), VMESH_OK);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), vmesh_crypto_key_evp(ak)), 1);
    assert_int_equal(vmesh_pki_spiffe_id_from_cert(leaf, &id), VMESH_OK);
    assert_string_equal(id, NODE_ID);
    /* max-ttl 600 s: the leaf lives that long, no longer */
    assert_true(na >= now + 590 && na <= now + 610);
    /* the same AK renewed on a new connection (new evidence): issued again */
    assert_int_equal(vmesh_issuer_obtain(&c, a, &chain, &na), VMESH_OK);
    /* a shorter ttl asked for is honoured */
    c.ttl = 120;
    assert_int_equal(vmesh_issuer_obtain(&c, a, &chain, &na), VMESH_OK);
    assert_true(na >= now + 110 && na <= now + 130);
    free(id);
    X509_free(leaf);
    BIO_free(b);
    vmesh_crypto_key_free(ak);
    vmesh_buf_free(&chain);
    vmesh_agent_free(a);
}

/* ---- the attacker at the issuer --------------------------------------------------------- */

static void exchange(vmesh_agent *a, const vmesh_key *csr_key, const char *csr_id, unsigned nreq,
                     vmesh_issuer_answer *ans)
{
    vmesh_issuer_client c = client();
    vmesh_atls_provider p;

    iss_client_provider(a, &p);
    assert_int_equal(iss_client_exchange(&c, &p, csr_key, csr_id, nreq, ans), VMESH_OK);
}

static void csr_for_another_key_is_refused(void **state)
{
    vmesh_agent *a = new_agent("good-iak.pem", true);
    vmesh_key *other = NULL;
    vmesh_issuer_answer ans;
    vmesh_issuer_stats s0, s1;

    (void)state;
    vmesh_issuer_answer_init(&ans);
    stats(&s0);
    /* the agent attests its AK; the CSR (validly self-signed) is for a key
     * the attacker holds in a file */
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    exchange(a, other, NULL, 1, &ans);
    assert_int_equal(ans.status, 403);
    assert_string_equal(ans.name, "key-mismatch");
    assert_non_null(strstr(ans.detail, "not the attestation key"));
    assert_int_equal(ans.chain.len, 0);
    stats_after(&s0, &s1);
    assert_int_equal(s1.issued, s0.issued);
    assert_int_equal(s1.refused_request, s0.refused_request + 1);
    vmesh_issuer_answer_free(&ans);
    vmesh_crypto_key_free(other);
    vmesh_agent_free(a);
}

static void csr_for_another_identity_is_refused(void **state)
{
    vmesh_agent *a = new_agent("good-iak.pem", true);
    vmesh_key *ak = NULL;
    vmesh_issuer_answer ans;

    (void)state;
    vmesh_issuer_answer_init(&ans);
    assert_int_equal(vmesh_agent_tls_key(a, &ak), VMESH_OK);
    exchange(a, ak, "spiffe://example.org/ns/bank/sa/admin", 1, &ans);
    assert_int_equal(ans.status, 403);
    assert_string_equal(ans.name, "identity-refused");
    assert_non_null(strstr(ans.detail, NODE_ID));
    /* naming its own identity is fine */
    exchange(a, ak, NODE_ID, 1, &ans);
    assert_int_equal(ans.status, 200);
    vmesh_issuer_answer_free(&ans);
    vmesh_crypto_key_free(ak);
    vmesh_agent_free(a);
}

static void second_request_on_a_connection_is_a_replay(void **state)
{
    vmesh_agent *a = new_agent("good-iak.pem", true);
    vmesh_key *ak = NULL;
    vmesh_issuer_answer ans;

    (void)state;
    vmesh_issuer_answer_init(&ans);
    assert_int_equal(vmesh_agent_tls_key(a, &ak), VMESH_OK);
    exchange(a, ak, NULL, 2, &ans);
    assert_int_equal(ans.status, 409);
    assert_string_equal(ans.name, "replayed");
    vmesh_issuer_answer_free(&ans);
    vmesh_crypto_key_free(ak);
    vmesh_agent_free(a);
}

/* A provider that records the attestation of its first connection and
 * presents exactly that message on every later one (a relay). */
typedef struct {
    vmesh_atls_provider inner;
    vmesh_atls_msg rec;
    bool have;
} relay;

static vmesh_err relay_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg)
{
    relay *r = ctx;
    vmesh_err rc;

    if (!r->have) {
        rc = r->inner.attest(r->inner.ctx, in, msg);
        if (rc != VMESH_OK)
            return rc;
        r->rec.role = msg->role;
        r->rec.fresh = msg->fresh;
        r->rec.collection = msg->collection;
        assert_int_equal(vmesh_buf_set(&r->rec.media_type, msg->media_type.data, msg->media_type.len), VMESH_OK);
        assert_int_equal(vmesh_buf_set(&r->rec.cmw, msg->cmw.data, msg->cmw.len), VMESH_OK);
        assert_int_equal(vmesh_buf_set(&r->rec.ak_spki, msg->ak_spki.data, msg->ak_spki.len), VMESH_OK);
        assert_int_equal(vmesh_buf_set(&r->rec.proof, msg->proof.data, msg->proof.len), VMESH_OK);
        r->have = true;
        return VMESH_OK;
    }
    msg->fresh = r->rec.fresh;
    msg->collection = r->rec.collection;
    assert_int_equal(vmesh_buf_set(&msg->media_type, r->rec.media_type.data, r->rec.media_type.len), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&msg->cmw, r->rec.cmw.data, r->rec.cmw.len), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&msg->ak_spki, r->rec.ak_spki.data, r->rec.ak_spki.len), VMESH_OK);
    assert_int_equal(vmesh_buf_set(&msg->proof, r->rec.proof.data, r->rec.proof.len), VMESH_OK);
    return VMESH_OK;
}

static void attestation_relayed_into_another_connection_is_refused(void **state)
{
    vmesh_agent *a = new_agent("good-iak.pem", true);
    vmesh_key *ak = NULL;
    vmesh_issuer_client c = client();
    vmesh_issuer_answer ans;
    vmesh_issuer_stats s0, s1;
    relay r;
    vmesh_atls_provider p;
    vmesh_err rc;

    (void)state;
    memset(&r, 0, sizeof(r));
    vmesh_atls_msg_init(&r.rec);
    vmesh_issuer_answer_init(&ans);
    assert_int_equal(vmesh_agent_tls_key(a, &ak), VMESH_OK);
    iss_client_provider(a, &r.inner);
    p = r.inner;
    p.ctx = &r;
    p.attest = relay_attest;
    /* the genuine exchange, captured */
    assert_int_equal(iss_client_exchange(&c, &p, ak, NULL, 1, &ans), VMESH_OK);
    assert_int_equal(ans.status, 200);
    stats(&s0);
    /* the captured attestation and request through a second connection */
    rc = iss_client_exchange(&c, &p, ak, NULL, 1, &ans);
    assert_int_equal(rc, VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "binder-mismatch"));
    stats_after(&s0, &s1);
    assert_int_equal(s1.refused_attestation, s0.refused_attestation + 1);
    assert_int_equal(s1.issued, s0.issued);
    vmesh_atls_msg_free(&r.rec);
    vmesh_issuer_answer_free(&ans);
    vmesh_crypto_key_free(ak);
    vmesh_agent_free(a);
}

static void unendorsed_platform_is_refused(void **state)
{
    vmesh_agent *a = new_agent("rogue-iak.pem", true);
    vmesh_issuer_client c = client();
    vmesh_buf chain = {0};
    vmesh_issuer_stats s0, s1;
    vmesh_err rc;

    (void)state;
    stats(&s0);
    rc = vmesh_issuer_obtain(&c, a, &chain, NULL);
    assert_int_equal(rc, VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "refused by the peer"));
    assert_true(strstr(vmesh_err_detail(), "evidence-invalid") != NULL ||
                strstr(vmesh_err_detail(), "not-affirming") != NULL);
    assert_int_equal(chain.len, 0);
    stats_after(&s0, &s1);
    assert_int_equal(s1.refused_attestation, s0.refused_attestation + 1);
    vmesh_agent_free(a);
}

static void client_without_certificate_is_refused(void **state)
{
    vmesh_agent *a = new_agent("good-iak.pem", true);
    vmesh_issuer_client c = client();
    vmesh_buf chain = {0};
    vmesh_issuer_stats s0, s1;

    (void)state;
    c.cert_file = c.key_file = NULL;
    stats(&s0);
    assert_int_not_equal(vmesh_issuer_obtain(&c, a, &chain, NULL), VMESH_OK);
    assert_int_equal(chain.len, 0);
    stats_after(&s0, &s1);
    assert_int_equal(s1.refused_attestation, s0.refused_attestation + 1);
    assert_int_equal(s1.issued, s0.issued);
    vmesh_agent_free(a);
}

static void agent_not_keybound_has_no_tls_key(void **state)
{
    vmesh_agent *a = new_agent("good-iak.pem", false);
    vmesh_issuer_client c = client();
    vmesh_buf chain = {0};

    (void)state;
    assert_int_equal(vmesh_issuer_obtain(&c, a, &chain, NULL), VMESH_ERR_STATE);
    assert_non_null(strstr(vmesh_err_detail(), "not key-bound"));
    vmesh_agent_free(a);
}

/* ---- the wire ---------------------------------------------------------------------------- */

static void wire_is_strict(void **state)
{
    vmesh_buf b = {0};
    const uint8_t *csr;
    size_t n;
    uint64_t ttl;
    vmesh_issuer_answer a;
    static const uint8_t dup[] = {0xa3, 0x01, 0x6f, 'k', 'e', 'y', 'b', 'o', 'u', 'n', 'd', '-', 's', 'v', 'i', 'd',
                                  '/', '1', 0x02, 0x41, 0x30, 0x02, 0x41, 0x30};
    static const uint8_t unk[] = {0xa3, 0x01, 0x6f, 'k', 'e', 'y', 'b', 'o', 'u', 'n', 'd', '-', 's', 'v', 'i', 'd',
                                  '/', '1', 0x02, 0x41, 0x30, 0x09, 0x01};
    static const uint8_t op[] = {0xa2, 0x01, 0x61, 'x', 0x02, 0x41, 0x30};
    static const uint8_t trail[] = {0xa2, 0x01, 0x6f, 'k', 'e', 'y', 'b', 'o', 'u', 'n', 'd', '-', 's', 'v', 'i', 'd',
                                    '/', '1', 0x02, 0x41, 0x30, 0x00};
    uint8_t big[VMESH_ISSUER_REQUEST_MAX + 1];
    unsigned st;
    const char *name;

    (void)state;
    assert_int_equal(vmesh_issuer_request_encode((const uint8_t *)"0", 1, 30, &b), VMESH_OK);
    assert_int_equal(vmesh_issuer_request_decode(b.data, b.len, &csr, &n, &ttl), VMESH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ttl, 30);
    assert_int_equal(vmesh_issuer_request_decode(dup, sizeof(dup), &csr, &n, &ttl), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "duplicate key 2"));
    assert_int_equal(vmesh_issuer_request_decode(unk, sizeof(unk), &csr, &n, &ttl), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "unknown key 9"));
    assert_int_equal(vmesh_issuer_request_decode(op, sizeof(op), &csr, &n, &ttl), VMESH_ERR_UNSUPPORTED);
    assert_int_not_equal(vmesh_issuer_request_decode(trail, sizeof(trail), &csr, &n, &ttl), VMESH_OK);
    memset(big, 0, sizeof(big));
    assert_int_equal(vmesh_issuer_request_decode(big, sizeof(big), &csr, &n, &ttl), VMESH_ERR_TOO_LARGE);
    /* answers: a chain exactly with 200 */
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_issuer_answer_encode(403, "key-mismatch", "why", NULL, 0, &b), VMESH_OK);
    vmesh_issuer_answer_init(&a);
    assert_int_equal(vmesh_issuer_answer_decode(b.data, b.len, &a), VMESH_OK);
    assert_int_equal(a.status, 403);
    assert_string_equal(a.name, "key-mismatch");
    assert_string_equal(a.detail, "why");
    assert_int_not_equal(vmesh_issuer_answer_encode(200, "issued", "", NULL, 0, &b), VMESH_OK);
    assert_int_not_equal(vmesh_issuer_answer_encode(403, "Bad Name", "", NULL, 0, &b), VMESH_OK);
    vmesh_issuer_answer_free(&a);
    /* CSRs: garbage, and trailing bytes after a good one */
    assert_int_not_equal(vmesh_issuer_csr_check((const uint8_t *)"\x30\x03\x02\x01\x00", 5, NODE_ID, &b, &st, &name),
                         VMESH_OK);
    assert_int_equal(st, 400);
    assert_string_equal(name, "malformed");
    {
        vmesh_key *k = NULL;
        vmesh_buf der = {0};
        assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
        assert_int_equal(vmesh_issuer_csr_make(k, NULL, &der), VMESH_OK);
        assert_int_equal(vmesh_issuer_csr_check(der.data, der.len, NODE_ID, &b, &st, &name), VMESH_OK);
        assert_int_equal(vmesh_buf_append_u8(&der, 0), VMESH_OK);
        assert_int_not_equal(vmesh_issuer_csr_check(der.data, der.len, NODE_ID, &b, &st, &name), VMESH_OK);
        assert_non_null(strstr(vmesh_err_detail(), "follow"));
        /* a signature that does not verify: flip the last byte of the signature */
        der.len--;
        der.data[der.len - 1] ^= 0x01;
        assert_int_not_equal(vmesh_issuer_csr_check(der.data, der.len, NODE_ID, &b, &st, &name), VMESH_OK);
        assert_true(strcmp(name, "pop-failed") == 0 || strcmp(name, "malformed") == 0);
        vmesh_buf_free(&der);
        vmesh_crypto_key_free(k);
    }
    vmesh_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wire_is_strict),
        cmocka_unit_test(issues_for_the_attested_ak),
        cmocka_unit_test(csr_for_another_key_is_refused),
        cmocka_unit_test(csr_for_another_identity_is_refused),
        cmocka_unit_test(second_request_on_a_connection_is_a_replay),
        cmocka_unit_test(attestation_relayed_into_another_connection_is_refused),
        cmocka_unit_test(unendorsed_platform_is_refused),
        cmocka_unit_test(client_without_certificate_is_refused),
        cmocka_unit_test(agent_not_keybound_has_no_tls_key),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
