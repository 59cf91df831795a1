/* The passport client against a live in-process service on loopback: psa-sim
 * evidence bound to ak_nonce(AK, challenge) goes through newSession?nonce=,
 * the evidence POST with Vmesh-AK, and comes back as an EAR that verifies
 * under the service's key, is affirming, carries ak_nonce and names the AK.
 * Evidence bound to one AK but presented with another is not affirming;
 * transport and media-type failures are errors that name the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmesh/agent.h"
#include "vmesh/jose.h"
#include "vmesh/pki.h"
#include "vmesh/psa.h"
#include "vmesh/service.h"
#include "service/service_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

typedef struct {
    char dir[64];
    vmesh_key *ear_key, *iak;
    vmesh_verifier *verifier;
    vmesh_service *svc;
    void *attester;
    char url[64];
} fixture;

static void write_file(const char *path, const char *s)
{
    assert_int_equal(vmesh_file_write(path, s, strlen(s), 0600), VMESH_OK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char path[128], claims_path[128], iak_path[128], rv[4096], pemq[1024];
    vmesh_buf pem = {0};
    vmesh_rv_store *store = NULL;
    vmesh_verifier_config vc = {0};
    vmesh_service_config sc = {0};
    vmesh_kv cfg[2];
    size_t q = 0;

    snprintf(f->dir, sizeof(f->dir), "/tmp/vmesh-passport.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->ear_key), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->iak), VMESH_OK);
    snprintf(iak_path, sizeof(iak_path), "%s/iak.pem", f->dir);
    assert_int_equal(vmesh_crypto_key_save(f->iak, iak_path, true, false), VMESH_OK);
    snprintf(claims_path, sizeof(claims_path), "%s/claims.json", f->dir);
    write_file(claims_path,
               "{\"eat-profile\": \"tag:psacertified.org,2023:psa#tfm\", \"psa-client-id\": 1,"
               " \"psa-security-lifecycle\": 12288,"
               " \"psa-implementation-id\": \"cGFzc3BvcnQtdGVzdC1pbXBsZW1lbnRhdGlvbi1pZDE=\","
               " \"psa-boot-seed\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
               " \"psa-software-components\": [{\"measurement-type\": \"PRoT\","
               " \"measurement-value\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
               " \"signer-id\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}");
    /* The IAK's public PEM as a JSON string. */
    assert_int_equal(vmesh_crypto_key_to_pem(f->iak, false, &pem), VMESH_OK);
    for (size_t i = 0; i < pem.len && q + 3 < sizeof(pemq); i++) {
        if (pem.data[i] == '\n') {
            pemq[q++] = '\\';
            pemq[q++] = 'n';
        } else {
            pemq[q++] = (char)pem.data[i];
        }
    }
    pemq[q] = '\0';
    snprintf(rv, sizeof(rv),
             "{\"format\": \"vmesh-rv/1\", \"reference-values\": [{\"scheme\": \"psa\","
             " \"class-id\": \"cGFzc3BvcnQtdGVzdC1pbXBsZW1lbnRhdGlvbi1pZDE=\","
             " \"measurements\": [{\"name\": \"PRoT\", \"digest\": {\"alg\": \"sha-256\", \"value\":"
             " \"0000000000000000000000000000000000000000000000000000000000000000\"}}],"
             " \"keys\": [\"%s\"]}]}",
             pemq);
    snprintf(path, sizeof(path), "%s/rv.json", f->dir);
    write_file(path, rv);
    assert_int_equal(vmesh_rv_store_new(&store), VMESH_OK);
    assert_int_equal(vmesh_verifier_load_rv_file(store, path, NULL), VMESH_OK);
    vc.ear_key = f->ear_key;
    assert_int_equal(vmesh_verifier_new(&vc, &f->verifier), VMESH_OK);
    vmesh_verifier_set_rv(f->verifier, store);
    vmesh_rv_store_free(store);

    sc.verifier = f->verifier;
    sc.ear_key = f->ear_key;
    sc.listen = "127.0.0.1:0";
    sc.threads = 2;
    assert_int_equal(vmesh_service_new(&sc, &f->svc), VMESH_OK);
    assert_int_equal(vmesh_service_start(f->svc), VMESH_OK);
    assert_true(vmesh_service_port(f->svc) > 0);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/", (unsigned)vmesh_service_port(f->svc));

    cfg[0].key = "iak";
    cfg[0].value = iak_path;
    cfg[1].key = "claims";
    cfg[1].value = claims_path;
    if (vmesh_scheme_psa.attester_new(cfg, 2, &f->attester) != VMESH_OK)
        fail_msg("psa-sim: %s", vmesh_err_detail());
    vmesh_buf_free(&pem);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    vmesh_scheme_psa.attester_free(f->attester);
    vmesh_service_free(f->svc);
    vmesh_verifier_free(f->verifier);
    vmesh_crypto_key_free(f->ear_key);
    vmesh_crypto_key_free(f->iak);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

/* Evidence for (AK, challenge) as the agent makes it. */
static void make_evidence(fixture *f, const vmesh_buf *ak, const uint8_t ch[32], vmesh_buf *ev)
{
    uint8_t nonce[32];

    assert_int_equal(vmesh_atls_ak_nonce(ak->data, ak->len, ch, 32, nonce), VMESH_OK);
    assert_int_equal(vmesh_scheme_psa.attest(f->attester, nonce, sizeof(nonce), ev), VMESH_OK);
}

#define ASSERT_OK(expr)                                                                                \
    do {                                                                                               \
        if ((expr) != VMESH_OK)                                                                        \
            fail_msg("%s: %s", #expr, vmesh_err_detail());                                             \
    } while (0)

static void passport_names_the_ak(void **state)
{
    fixture *f = *state;
    vmesh_key *ak = NULL;
    vmesh_buf spki = {0}, ev = {0}, jwt = {0}, got = {0};
    vmesh_ear *e = NULL;
    uint8_t ch[32], want[32];
    vmesh_service_client c = {.url = f->url, .timeout_ms = 5000};
    vmesh_service_stats st0, st;

    vmesh_service_stats_get(f->svc, &st0);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(ak, &spki), VMESH_OK);
    assert_int_equal(vmesh_crypto_random(ch, sizeof(ch)), VMESH_OK);
    make_evidence(f, &spki, ch, &ev);
    ASSERT_OK(vmesh_service_passport_client(&c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                            spki.data, spki.len, &jwt));
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, f->ear_key, vmesh_time_now(), &e), VMESH_OK);
    assert_int_equal(vmesh_ear_status(e), VMESH_TIER_AFFIRMING);
    int i = vmesh_ear_submod_find(e, "psa");
    assert_true(i >= 0);
    assert_int_equal(vmesh_ear_submod_akpub(e, (size_t)i, &got), VMESH_OK);
    assert_int_equal(got.len, spki.len);
    assert_memory_equal(got.data, spki.data, spki.len);
    assert_int_equal(vmesh_ear_nonce(e, &got), VMESH_OK);
    assert_int_equal(vmesh_atls_ak_nonce(spki.data, spki.len, ch, sizeof(ch), want), VMESH_OK);
    assert_int_equal(got.len, 32);
    assert_memory_equal(got.data, want, 32);
    vmesh_service_stats_get(f->svc, &st);
    /* The verifier advertises the one-request appraisal (D42): discovery
     * (once per URL) and one POST, no session. */
    assert_int_equal(st.oneshot - st0.oneshot, 1);
    assert_int_equal(st.verifications - st0.verifications, 1);
    assert_int_equal(st.sessions - st0.sessions, 0);
    assert_true(st.requests - st0.requests <= 2);
    /* The next one: the discovery document is not read again. */
    vmesh_buf_reset(&jwt);
    assert_int_equal(vmesh_crypto_random(ch, sizeof(ch)), VMESH_OK);
    vmesh_buf_reset(&ev);
    make_evidence(f, &spki, ch, &ev);
    st0 = st;
    ASSERT_OK(vmesh_service_passport_client(&c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                            spki.data, spki.len, &jwt));
    vmesh_service_stats_get(f->svc, &st);
    assert_int_equal(st.requests - st0.requests, 1);
    assert_int_equal(st.oneshot - st0.oneshot, 1);
    vmesh_ear_free(e);
    vmesh_crypto_key_free(ak);
    vmesh_buf_free(&spki);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&jwt);
    vmesh_buf_free(&got);
}

/* D46: a relying party's own appraisal (the central client) asks for the
 * EAR without ear.veraison.annotated-evidence, which it holds already; a
 * passport keeps it, for the relying parties it travels to. Either EAR is
 * checked the same way. Another value of ?annotated= is a 400. */
static void central_answer_leaves_out_annotated_evidence(void **state)
{
    fixture *f = *state;
    vmesh_key *ak = NULL;
    vmesh_buf spki = {0}, ev = {0}, jwt = {0}, got = {0}, nonce_b64 = {0};
    vmesh_ear *e = NULL;
    uint8_t ch[32];
    char path[256];
    vmesh_service_client c = {.url = f->url, .timeout_ms = 5000};
    vmesh_service_request rq = {0};
    vmesh_service_response rs;
    int i;

    assert_int_equal(vmesh_crypto_random(ch, sizeof(ch)), VMESH_OK);
    assert_int_equal(vmesh_scheme_psa.attest(f->attester, ch, sizeof(ch), &ev), VMESH_OK);
    ASSERT_OK(vmesh_service_central_client(&c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                           NULL, &jwt, NULL, NULL));
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, f->ear_key, vmesh_time_now(), &e), VMESH_OK);
    assert_int_equal(vmesh_ear_status(e), VMESH_TIER_AFFIRMING);
    i = vmesh_ear_submod_find(e, "psa");
    assert_true(i >= 0);
    assert_int_equal(vmesh_ear_submod_evidence_json(e, (size_t)i, &got), VMESH_ERR_NOT_FOUND);
    assert_int_equal(vmesh_ear_nonce(e, &got), VMESH_OK);
    assert_int_equal(got.len, sizeof(ch));
    assert_memory_equal(got.data, ch, sizeof(ch));
    vmesh_ear_free(e);
    e = NULL;

    /* the passport client: annotated evidence kept */
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(ak, &spki), VMESH_OK);
    vmesh_buf_reset(&ev);
    make_evidence(f, &spki, ch, &ev);
    ASSERT_OK(vmesh_service_passport_client(&c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                            spki.data, spki.len, &jwt));
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, f->ear_key, vmesh_time_now(), &e), VMESH_OK);
    i = vmesh_ear_submod_find(e, "psa");
    assert_true(i >= 0);
    assert_int_equal(vmesh_ear_submod_evidence_json(e, (size_t)i, &got), VMESH_OK);
    assert_non_null(strstr((const char *)got.data, "psa-implementation-id"));

    /* ?annotated= takes only "omit" */
    assert_int_equal(vmesh_b64url_encode(ch, sizeof(ch), &nonce_b64), VMESH_OK);
    vmesh_service_response_init(&rs);
    rq.method = "POST";
    rq.path = "/vmesh/v1/appraise";
    rq.q_nonce = (const char *)nonce_b64.data;
    rq.q_annotated = "keep";
    rq.content_type = vmesh_scheme_psa.media_types[0];
    rq.body = ev.data;
    rq.body_len = ev.len;
    assert_int_equal(vmesh_service_handle(f->svc, &rq, &rs), VMESH_OK);
    assert_int_equal(rs.status, 400);
    snprintf(path, sizeof(path), "%.*s", (int)rs.body.len, (const char *)rs.body.data);
    assert_non_null(strstr(path, "annotated=keep: the only value is omit"));
    vmesh_service_response_free(&rs);

    vmesh_ear_free(e);
    vmesh_crypto_key_free(ak);
    vmesh_buf_free(&spki);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&jwt);
    vmesh_buf_free(&got);
    vmesh_buf_free(&nonce_b64);
}

static void evidence_for_another_ak_is_not_affirming(void **state)
{
    fixture *f = *state;
    vmesh_key *ak1 = NULL, *ak2 = NULL;
    vmesh_buf s1 = {0}, s2 = {0}, ev = {0}, jwt = {0};
    vmesh_ear *e = NULL;
    uint8_t ch[32] = {9};
    vmesh_service_client c = {.url = f->url};

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ak1), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ak2), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(ak1, &s1), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(ak2, &s2), VMESH_OK);
    make_evidence(f, &s1, ch, &ev);
    ASSERT_OK(vmesh_service_passport_client(&c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                            s2.data, s2.len, &jwt));
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, f->ear_key, vmesh_time_now(), &e), VMESH_OK);
    assert_int_equal(vmesh_ear_status(e), VMESH_TIER_CONTRAINDICATED);
    vmesh_ear_free(e);
    vmesh_crypto_key_free(ak1);
    vmesh_crypto_key_free(ak2);
    vmesh_buf_free(&s1);
    vmesh_buf_free(&s2);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&jwt);
}

static void errors_name_the_problem(void **state)
{
    fixture *f = *state;
    vmesh_buf jwt = {0};
    uint8_t ch[32] = {1}, ev[4] = {1, 2, 3, 4};
    vmesh_service_client c = {.url = f->url};
    vmesh_service_client down = {.url = "http://127.0.0.1:1", .timeout_ms = 2000};

    assert_int_equal(vmesh_service_passport_client(&c, "application/x-unknown", ev, sizeof(ev), ch, sizeof(ch), NULL,
                                                   0, &jwt),
                     VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "evidence answered 415: no active plugin found for application/x-unknown"));
    assert_int_equal(vmesh_service_passport_client(&c, vmesh_scheme_psa.media_types[0], ev, sizeof(ev), ch,
                                                   sizeof(ch), NULL, 0, &jwt),
                     VMESH_ERR_IO);
    assert_non_null(strstr(vmesh_err_detail(), "evidence answered 400: evidence could not be appraised"));
    assert_int_equal(vmesh_service_passport_client(&c, vmesh_scheme_psa.media_types[0], ev, sizeof(ev), ch, 4, NULL,
                                                   0, &jwt),
                     VMESH_ERR_ARG);
    assert_int_equal(vmesh_service_passport_client(&down, vmesh_scheme_psa.media_types[0], ev, sizeof(ev), ch,
                                                   sizeof(ch), NULL, 0, &jwt),
                     VMESH_ERR_IO);
    assert_non_null(strstr(vmesh_err_detail(), "http://127.0.0.1:1/.well-known/veraison/verification"));
    vmesh_buf_free(&jwt);
}

/* A verifier that serves only Veraison's API (no_appraise): the same client
 * uses newSession, the evidence POST and DELETE -- 3 requests a
 * verification after one discovery read. */
static vmesh_service *start_plain(fixture *f, const char *listen)
{
    vmesh_service_config sc = {0};
    vmesh_service *s = NULL;

    sc.verifier = f->verifier;
    sc.ear_key = f->ear_key;
    sc.listen = listen;
    sc.threads = 2;
    sc.no_appraise = true;
    assert_int_equal(vmesh_service_new(&sc, &s), VMESH_OK);
    assert_int_equal(vmesh_service_start(s), VMESH_OK);
    return s;
}

static void passport(fixture *f, vmesh_service_client *c, vmesh_buf *spki)
{
    uint8_t ch[32];
    vmesh_buf ev = {0}, jwt = {0};
    vmesh_ear *e = NULL;

    assert_int_equal(vmesh_crypto_random(ch, sizeof(ch)), VMESH_OK);
    make_evidence(f, spki, ch, &ev);
    ASSERT_OK(vmesh_service_passport_client(c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                            spki->data, spki->len, &jwt));
    assert_int_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, f->ear_key, vmesh_time_now(), &e), VMESH_OK);
    assert_int_equal(vmesh_ear_status(e), VMESH_TIER_AFFIRMING);
    vmesh_ear_free(e);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&jwt);
}

static void veraison_flow_without_the_endpoint(void **state)
{
    fixture *f = *state;
    vmesh_service *plain = start_plain(f, "127.0.0.1:0");
    vmesh_key *ak = NULL;
    vmesh_buf spki = {0};
    char url[64];
    vmesh_service_stats st0, st;
    vmesh_service_client c = {.url = url, .timeout_ms = 5000};

    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)vmesh_service_port(plain));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(ak, &spki), VMESH_OK);
    vmesh_service_stats_get(plain, &st0);
    passport(f, &c, &spki);
    vmesh_service_stats_get(plain, &st);
    assert_int_equal(st.requests - st0.requests, 4); /* discovery, newSession, evidence, DELETE */
    assert_int_equal(st.sessions - st0.sessions, 1);
    assert_int_equal(st.revoked - st0.revoked, 1);
    assert_int_equal(st.oneshot, 0);
    st0 = st;
    passport(f, &c, &spki);
    vmesh_service_stats_get(plain, &st);
    assert_int_equal(st.requests - st0.requests, 3);
    assert_int_equal(st.verifications - st0.verifications, 1);
    vmesh_service_free(plain);
    vmesh_crypto_key_free(ak);
    vmesh_buf_free(&spki);
}

/* The verifier behind a URL stops serving the endpoint (restarted with
 * no_appraise on the same port): the cached discovery sends the client to
 * a 404, it falls back to the sessions at once and reads the document
 * again the next time. */
static void endpoint_gone_falls_back(void **state)
{
    fixture *f = *state;
    vmesh_service_config sc = {0};
    vmesh_service *s = NULL;
    vmesh_key *ak = NULL;
    vmesh_buf spki = {0};
    char url[64], listen[64];
    vmesh_service_stats st;
    vmesh_service_client c = {.url = url, .timeout_ms = 5000};

    sc.verifier = f->verifier;
    sc.ear_key = f->ear_key;
    sc.listen = "127.0.0.1:0";
    sc.threads = 2;
    assert_int_equal(vmesh_service_new(&sc, &s), VMESH_OK);
    assert_int_equal(vmesh_service_start(s), VMESH_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)vmesh_service_port(s));
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)vmesh_service_port(s));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(ak, &spki), VMESH_OK);
    passport(f, &c, &spki);
    vmesh_service_stats_get(s, &st);
    assert_int_equal(st.oneshot, 1);
    vmesh_service_free(s);
    s = start_plain(f, listen);
    passport(f, &c, &spki); /* 404 at the endpoint, then newSession, evidence, DELETE */
    vmesh_service_stats_get(s, &st);
    assert_int_equal(st.requests, 4);
    assert_int_equal(st.verifications, 1);
    passport(f, &c, &spki); /* discovery read again, then the sessions */
    vmesh_service_stats_get(s, &st);
    assert_int_equal(st.requests, 8);
    assert_int_equal(st.verifications, 2);
    vmesh_service_free(s);
    vmesh_crypto_key_free(ak);
    vmesh_buf_free(&spki);
}

/* An attested verifier over https serving f's verifier (whose engine signs
 * EARs with f->ear_key) but attesting the EAR key `attests` (D31). */
static vmesh_service *start_attested(fixture *f, const vmesh_key *attests, char *url, size_t cap)
{
    vmesh_service_config sc = {0};
    vmesh_service *s = NULL;
    char ca[128], prefix[128], cert[160], key[160];

    snprintf(ca, sizeof(ca), "%s/ca", f->dir);
    snprintf(prefix, sizeof(prefix), "%s/vtls", f->dir);
    snprintf(cert, sizeof(cert), "%s-chain.pem", prefix);
    snprintf(key, sizeof(key), "%s.key", prefix);
    if (access(cert, R_OK) != 0) {
        ASSERT_OK(vmesh_pki_ca_init("example.org", ca, 1, VMESH_KEY_EC_P256));
        ASSERT_OK(vmesh_pki_ca_issue(ca, "spiffe://example.org/verifier", prefix, 1, VMESH_KEY_EC_P256));
    }
    sc.verifier = f->verifier;
    sc.ear_key = (vmesh_key *)attests;
    sc.listen = "127.0.0.1:0";
    sc.threads = 2;
    sc.tls_cert = cert;
    sc.tls_key = key;
    sc.self_scheme = &vmesh_scheme_psa;
    sc.self_attester = f->attester;
    ASSERT_OK(vmesh_service_new(&sc, &s));
    ASSERT_OK(vmesh_service_start(s));
    snprintf(url, cap, "https://127.0.0.1:%u", (unsigned)vmesh_service_port(s));
    return s;
}

/* Attested replicas (D45): each URL is attested on its own and its answer
 * is checked against the EAR key that URL attested, not another URL's. A
 * replica that attests key K2 but answers with an EAR signed by K1 (the
 * key the other replica attests) is refused, and that failure is not
 * retried elsewhere; in the other order the honest replica answers. */
static void attested_replicas_each_answer_under_its_own_key(void **state)
{
    fixture *f = *state;
    vmesh_key *k2 = NULL, *ak = NULL, *got = NULL;
    vmesh_service *honest, *liar;
    vmesh_service_stats st;
    char hu[64], lu[64], rv[128];
    const char *reps[1];
    vmesh_buf spki = {0}, ev = {0}, jwt = {0};
    uint8_t ch[32];
    vmesh_err rc;

    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k2), VMESH_OK);
    honest = start_attested(f, f->ear_key, hu, sizeof(hu));
    liar = start_attested(f, k2, lu, sizeof(lu)); /* attests k2, signs with f->ear_key */
    snprintf(rv, sizeof(rv), "%s/rv.json", f->dir); /* the verifiers' platform: f's psa-sim */
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ak), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_spki(ak, &spki), VMESH_OK);

    /* the liar first: attested (k2), its EAR is not signed by k2 */
    {
        vmesh_service_client c = {.url = lu, .timeout_ms = 5000, .verifier_rv = rv, .attest_recheck = 60};
        reps[0] = hu;
        c.replicas = reps;
        c.n_replicas = 1;
        ASSERT_OK(vmesh_service_client_attest_init(&c));
        ASSERT_OK(vmesh_service_client_attest_url(&c, 0, &got));
        assert_true(vmesh_crypto_key_equal(got, k2));
        vmesh_crypto_key_free(got);
        ASSERT_OK(vmesh_service_client_attest_url(&c, 1, &got));
        assert_true(vmesh_crypto_key_equal(got, f->ear_key));
        vmesh_crypto_key_free(got);
        assert_int_equal(vmesh_crypto_random(ch, sizeof(ch)), VMESH_OK);
        make_evidence(f, &spki, ch, &ev);
        rc = vmesh_service_passport_client(&c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                           spki.data, spki.len, &jwt);
        assert_int_not_equal(rc, VMESH_OK);
        assert_non_null(strstr(vmesh_err_detail(), lu));
        vmesh_service_stats_get(honest, &st);
        assert_int_equal(st.verifications, 0); /* a failed check is not retried at the other replica */
        vmesh_service_client_attest_free(&c);
    }
    /* the honest one first: its EAR is signed by the key it attested */
    {
        vmesh_service_client c = {.url = hu, .timeout_ms = 5000, .verifier_rv = rv, .attest_recheck = 60};
        reps[0] = lu;
        c.replicas = reps;
        c.n_replicas = 1;
        ASSERT_OK(vmesh_service_client_attest_init(&c));
        passport(f, &c, &spki);
        vmesh_service_stats_get(honest, &st);
        assert_int_equal(st.verifications, 1);
        /* the honest one stops: the liar is next and is refused at once */
        vmesh_service_free(honest);
        honest = NULL;
        vmesh_buf_reset(&ev);
        assert_int_equal(vmesh_crypto_random(ch, sizeof(ch)), VMESH_OK);
        make_evidence(f, &spki, ch, &ev);
        rc = vmesh_service_passport_client(&c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                           spki.data, spki.len, &jwt);
        assert_int_not_equal(rc, VMESH_OK);
        assert_non_null(strstr(vmesh_err_detail(), lu));
        vmesh_service_client_attest_free(&c);
    }
    vmesh_service_free(liar);
    vmesh_crypto_key_free(k2);
    vmesh_crypto_key_free(ak);
    vmesh_buf_free(&spki);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&jwt);
}

/* ---- D53: batch appraisal ------------------------------------------------------------------ */

#define BATCH_THREADS 10

typedef struct {
    const vmesh_service_client *c;
    pthread_barrier_t *go;
    uint8_t nonce[32];
    vmesh_buf ev, jwt;
    vmesh_err rc;
    char why[600];
} bthread;

static void *bthread_main(void *arg)
{
    bthread *t = arg;

    pthread_barrier_wait(t->go);
    t->rc = vmesh_service_central_client((void *)t->c, vmesh_scheme_psa.media_types[0], t->ev.data, t->ev.len,
                                         t->nonce, sizeof(t->nonce), NULL, &t->jwt, NULL, NULL);
    snprintf(t->why, sizeof(t->why), "%s", t->rc != VMESH_OK ? vmesh_err_detail() : "");
    return NULL;
}

/* Ten relying-party threads appraise at once through a batcher of at most
 * four items a request: every appraisal goes in a batch; each thread gets
 * the answer to its own question (an EAR under the verifier's key whose
 * nonce is the thread's own), and the two threads that sent junk get the
 * 400 the one-request appraisal would have given them, while the others in
 * their batches are answered. */
static void batch_answers_each_its_own_question(void **state)
{
    fixture *f = *state;
    vmesh_service_client c = {.url = f->url, .timeout_ms = 5000};
    bthread t[BATCH_THREADS];
    pthread_t th[BATCH_THREADS];
    pthread_barrier_t go;
    vmesh_service_stats st0, st;
    uint64_t batches = 0, items = 0;
    vmesh_buf got = {0};

    ASSERT_OK(vmesh_service_client_batch_init(&c, 4));
    assert_int_equal(vmesh_service_client_batch_init(&c, 65), VMESH_ERR_ARG);
    vmesh_service_stats_get(f->svc, &st0);
    pthread_barrier_init(&go, NULL, BATCH_THREADS);
    for (int i = 0; i < BATCH_THREADS; i++) {
        memset(&t[i], 0, sizeof(t[i]));
        t[i].c = &c;
        t[i].go = &go;
        assert_int_equal(vmesh_crypto_random(t[i].nonce, sizeof(t[i].nonce)), VMESH_OK);
        if (i % 5 == 4)
            assert_int_equal(vmesh_buf_set(&t[i].ev, "junk", 4), VMESH_OK);
        else
            assert_int_equal(vmesh_scheme_psa.attest(f->attester, t[i].nonce, sizeof(t[i].nonce), &t[i].ev), VMESH_OK);
    }
    for (int i = 0; i < BATCH_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, bthread_main, &t[i]), 0);
    for (int i = 0; i < BATCH_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < BATCH_THREADS; i++) {
        vmesh_ear *e = NULL;

        if (i % 5 == 4) {
            assert_int_equal(t[i].rc, VMESH_ERR_IO);
            if (strstr(t[i].why, "evidence answered 400 (in a batch): evidence could not be appraised") == NULL)
                fail_msg("thread %d: %s", i, t[i].why);
            continue;
        }
        if (t[i].rc != VMESH_OK)
            fail_msg("thread %d: %s", i, t[i].why);
        assert_int_equal(vmesh_ear_verify((const char *)t[i].jwt.data, t[i].jwt.len, f->ear_key, vmesh_time_now(), &e),
                         VMESH_OK);
        assert_int_equal(vmesh_ear_status(e), VMESH_TIER_AFFIRMING);
        assert_int_equal(vmesh_ear_nonce(e, &got), VMESH_OK);
        assert_int_equal(got.len, 32);
        assert_memory_equal(got.data, t[i].nonce, 32); /* its own question, not a neighbour's */
        vmesh_ear_free(e);
    }
    vmesh_service_client_batch_stats(&c, &batches, &items);
    assert_int_equal(items, BATCH_THREADS);
    assert_true(batches >= 3 && batches <= BATCH_THREADS); /* at most four a request */
    vmesh_service_stats_get(f->svc, &st);
    assert_int_equal(st.batches - st0.batches, batches);
    assert_int_equal(st.batch_items - st0.batch_items, BATCH_THREADS - 2);
    assert_int_equal(st.oneshot - st0.oneshot, 0);
    for (int i = 0; i < BATCH_THREADS; i++) {
        vmesh_buf_free(&t[i].ev);
        vmesh_buf_free(&t[i].jwt);
    }
    pthread_barrier_destroy(&go);
    vmesh_buf_free(&got);
    vmesh_service_client_batch_free(&c);
    vmesh_service_client_batch_free(&c); /* idempotent */
}

/* A verifier without the batch appraisal (no_batch, as one before D53):
 * the first appraisal meets its 404 and is sent by itself; the next one
 * does not ask for a batch again. Both are answered. */
static void batch_falls_back_without_the_endpoint(void **state)
{
    fixture *f = *state;
    vmesh_service_config sc = {0};
    vmesh_service *s = NULL;
    vmesh_service_stats st;
    char url[64];
    vmesh_service_client c = {.url = url, .timeout_ms = 5000};
    vmesh_buf ev = {0}, jwt = {0};
    uint8_t ch[32];
    uint64_t batches, items;

    sc.verifier = f->verifier;
    sc.ear_key = f->ear_key;
    sc.listen = "127.0.0.1:0";
    sc.threads = 2;
    sc.no_batch = true;
    ASSERT_OK(vmesh_service_new(&sc, &s));
    ASSERT_OK(vmesh_service_start(s));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)vmesh_service_port(s));
    ASSERT_OK(vmesh_service_client_batch_init(&c, 0));
    for (int i = 0; i < 2; i++) {
        vmesh_buf_reset(&ev);
        assert_int_equal(vmesh_crypto_random(ch, sizeof(ch)), VMESH_OK);
        assert_int_equal(vmesh_scheme_psa.attest(f->attester, ch, sizeof(ch), &ev), VMESH_OK);
        ASSERT_OK(vmesh_service_central_client(&c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                               NULL, &jwt, NULL, NULL));
    }
    vmesh_service_stats_get(s, &st);
    assert_int_equal(st.oneshot, 2);
    assert_int_equal(st.batches, 0);
    assert_int_equal(st.problems, 1); /* one 404, then no more batches */
    vmesh_service_client_batch_stats(&c, &batches, &items);
    assert_int_equal(batches, 0);
    vmesh_service_client_batch_free(&c);
    vmesh_service_free(s);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&jwt);
}

/* Sends one raw HTTP/1.1 request; returns the status code (0: none). */
static int raw_post(uint16_t port, const char *target, const char *ctype, const vmesh_buf *body, char *resp,
                    size_t cap)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), code = 0;
    char hdr[512];
    size_t got = 0;
    ssize_t k;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    snprintf(hdr, sizeof(hdr),
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n",
             target, SVC_BATCH_MT, ctype, body->len);
    assert_true(write(fd, hdr, strlen(hdr)) == (ssize_t)strlen(hdr));
    assert_true(write(fd, body->data, body->len) == (ssize_t)body->len);
    while (got + 1 < cap && (k = read(fd, resp + got, cap - 1 - got)) > 0)
        got += (size_t)k;
    resp[got] = '\0';
    close(fd);
    if (sscanf(resp, "HTTP/1.1 %d", &code) != 1)
        code = 0;
    return code;
}

/* A batch costs the client's request budget one request per item, before
 * anything is appraised: with a budget of 3 at once, a batch of four is a
 * 429 that says when to come back, not a way around --client-rate; a
 * batch of one passes. A body that is not the format, or a batch without
 * its id, is a 400 naming the problem; another Content-Type is a 415. */
static void batch_charges_every_item(void **state)
{
    fixture *f = *state;
    vmesh_service_config sc = {0};
    vmesh_service *s = NULL;
    svc_batch_item it[4];
    vmesh_buf body = {0}, junk = {0};
    uint8_t nonce[32] = {7};
    char resp[4096];
    const char *target = SVC_BATCH_PATH "?batch=AAAAAAAAAAAAAAAAAAAAAA";

    sc.verifier = f->verifier;
    sc.ear_key = f->ear_key;
    sc.listen = "127.0.0.1:0";
    sc.threads = 2;
    sc.client_rate = 1;
    sc.client_burst = 3;
    ASSERT_OK(vmesh_service_new(&sc, &s));
    ASSERT_OK(vmesh_service_start(s));
    memset(it, 0, sizeof(it));
    for (int i = 0; i < 4; i++) {
        it[i].nonce = nonce;
        it[i].nonce_len = sizeof(nonce);
        it[i].media_type = vmesh_scheme_psa.media_types[0];
        it[i].media_type_len = strlen(it[i].media_type);
        it[i].evidence = (const uint8_t *)"junk";
        it[i].evidence_len = 4;
    }
    ASSERT_OK(svc_batch_request_encode(it, 4, &body));
    assert_int_equal(raw_post(vmesh_service_port(s), target, SVC_BATCH_MT, &body, resp, sizeof(resp)), 429);
    assert_non_null(strstr(resp, "Retry-After: "));
    assert_non_null(strstr(resp, "over its request budget"));
    ASSERT_OK(svc_batch_request_encode(it, 1, &body));
    assert_int_equal(raw_post(vmesh_service_port(s), target, SVC_BATCH_MT, &body, resp, sizeof(resp)), 200);
    sleep(2); /* the budget refills */
    assert_int_equal(vmesh_buf_set(&junk, "\x81\xa1\x01\x41\x00", 5), VMESH_OK);
    assert_int_equal(raw_post(vmesh_service_port(s), target, SVC_BATCH_MT, &junk, resp, sizeof(resp)), 400);
    assert_non_null(strstr(resp, "batch appraisal request"));
    assert_int_equal(raw_post(vmesh_service_port(s), SVC_BATCH_PATH, SVC_BATCH_MT, &body, resp, sizeof(resp)), 400);
    assert_non_null(strstr(resp, "needs ?batch="));
    sleep(2);
    assert_int_equal(raw_post(vmesh_service_port(s), target, "application/cbor", &body, resp, sizeof(resp)), 415);
    vmesh_service_free(s);
    vmesh_buf_free(&body);
    vmesh_buf_free(&junk);
}

/* Over the attested https link (D31) a batch's answers are channel-bound
 * (D51): one key exported with the batch's id; each EAR checks under it and
 * carries its own item's nonce. With signed_answers they are signed. */
static void batch_channel_bound_over_attested_link(void **state)
{
    fixture *f = *state;
    char url[64], rv[128];
    vmesh_service *s = start_attested(f, f->ear_key, url, sizeof(url));
    vmesh_buf ev = {0}, jwt = {0}, got = {0};
    uint8_t ch[32], key[VMESH_JOSE_MAC_KEY_LEN];
    bool channel = false;
    vmesh_ear *e = NULL;
    vmesh_service_stats st;

    snprintf(rv, sizeof(rv), "%s/rv.json", f->dir);
    for (int signed_answers = 0; signed_answers < 2; signed_answers++) {
        vmesh_service_client c = {.url = url, .timeout_ms = 5000, .verifier_rv = rv, .attest_recheck = 60,
                                  .signed_answers = signed_answers};

        ASSERT_OK(vmesh_service_client_attest_init(&c));
        ASSERT_OK(vmesh_service_client_batch_init(&c, 0));
        vmesh_buf_reset(&ev);
        assert_int_equal(vmesh_crypto_random(ch, sizeof(ch)), VMESH_OK);
        assert_int_equal(vmesh_scheme_psa.attest(f->attester, ch, sizeof(ch), &ev), VMESH_OK);
        ASSERT_OK(vmesh_service_central_client(&c, vmesh_scheme_psa.media_types[0], ev.data, ev.len, ch, sizeof(ch),
                                               NULL, &jwt, key, &channel));
        assert_int_equal(channel, !signed_answers);
        if (!signed_answers) {
            ASSERT_OK(vmesh_ear_verify_mac((const char *)jwt.data, jwt.len, key, vmesh_time_now(), &e));
            vmesh_ear *x = NULL;

            /* not signed: the verifier's key does not check it */
            assert_int_not_equal(vmesh_ear_verify((const char *)jwt.data, jwt.len, f->ear_key, vmesh_time_now(), &x),
                                 VMESH_OK);
            vmesh_ear_free(x);
        } else {
            ASSERT_OK(vmesh_ear_verify((const char *)jwt.data, jwt.len, f->ear_key, vmesh_time_now(), &e));
        }
        assert_int_equal(vmesh_ear_nonce(e, &got), VMESH_OK);
        assert_int_equal(got.len, sizeof(ch));
        assert_memory_equal(got.data, ch, sizeof(ch));
        vmesh_ear_free(e);
        e = NULL;
        vmesh_service_client_batch_free(&c);
        vmesh_service_client_attest_free(&c);
    }
    vmesh_service_stats_get(s, &st);
    assert_int_equal(st.batches, 2);
    assert_int_equal(st.channel, 1);
    vmesh_service_free(s);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&jwt);
    vmesh_buf_free(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(passport_names_the_ak),
        cmocka_unit_test(evidence_for_another_ak_is_not_affirming),
        cmocka_unit_test(central_answer_leaves_out_annotated_evidence),
        cmocka_unit_test(errors_name_the_problem),
        cmocka_unit_test(veraison_flow_without_the_endpoint),
        cmocka_unit_test(endpoint_gone_falls_back),
        cmocka_unit_test(attested_replicas_each_answer_under_its_own_key),
        cmocka_unit_test(batch_answers_each_its_own_question),
        cmocka_unit_test(batch_falls_back_without_the_endpoint),
        cmocka_unit_test(batch_charges_every_item),
        cmocka_unit_test(batch_channel_bound_over_attested_link),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
