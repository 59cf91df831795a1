/* Unit tests for trust-bundle manifests: encode/verify, the strict parser,
 * classification of inputs, and publishing (epochs, atomic order, GC). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmesh/jose.h"
#include "vmesh/rvp.h"

static const char rv_json[] =
    "{\"format\":\"vmesh-rv/1\",\"reference-values\":[{\"scheme\":\"psa\",\"class-id\":\"text:impl-1\","
    "\"measurements\":[{\"name\":\"BL\",\"digest\":{\"alg\":\"sha-256\",\"value\":"
    "\"0000000000000000000000000000000000000000000000000000000000000001\"}}]},"
    "{\"scheme\":\"tpm2\",\"class-id\":{\"hex\":\"01\"},\"attributes\":{\"a\":\"b\"}}]}";
static const char policy_json[] = "{\"format\":\"vmesh-policy/1\",\"id\":\"policy:unit\"}";

static void one_set(vmesh_rvp_manifest *m, vmesh_rvp_set *s)
{
    memset(m, 0, sizeof(*m));
    assert_int_equal(vmesh_rvp_classify((const uint8_t *)rv_json, strlen(rv_json), "rv.json", s), VMESH_OK);
    snprintf(m->rvp, sizeof(m->rvp), "acme");
    m->epoch = 7;
    m->issued_at = 1700000000;
    m->expires_at = 1700086400;
    m->nsets = 1;
    m->sets = s;
}

static void sign_verify(void **state)
{
    vmesh_key *k = NULL, *other = NULL;
    vmesh_rvp_manifest m, got = {0};
    vmesh_rvp_set s;
    vmesh_buf jws = {0};

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    one_set(&m, &s);
    assert_int_equal(s.kind, VMESH_SET_RV_JSON);
    assert_string_equal(s.scheme, "psa+tpm2");
    assert_string_equal(s.media_type, "application/vnd.vmesh.rv+json");
    assert_int_equal(s.size, strlen(rv_json));
    assert_int_equal(strncmp(s.path, "sets/", 5), 0);
    assert_int_equal(strlen(s.path), 69);
    assert_int_equal(vmesh_rvp_manifest_sign(&m, k, &jws), VMESH_OK);
    assert_int_equal(vmesh_rvp_manifest_verify((char *)jws.data, jws.len, k, &got), VMESH_OK);
    assert_string_equal(got.rvp, "acme");
    assert_int_equal(got.epoch, 7);
    assert_int_equal(got.issued_at, 1700000000);
    assert_int_equal(got.expires_at, 1700086400);
    assert_int_equal(got.nsets, 1);
    assert_memory_equal(got.sets[0].sha256, s.sha256, 32);
    assert_string_equal(got.sets[0].path, s.path);
    assert_true(vmesh_rvp_manifest_same_sets(&got, &m));
    vmesh_rvp_manifest_free(&got);
    assert_int_equal(vmesh_rvp_manifest_verify((char *)jws.data, jws.len, other, &got), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "manifest signature"));
    assert_int_equal(got.nsets, 0);
    jws.data[jws.len - 3] ^= 1;
    assert_int_not_equal(vmesh_rvp_manifest_verify((char *)jws.data, jws.len, k, &got), VMESH_OK);
    /* Epoch 0 is not a valid epoch: refused at signing. */
    m.epoch = 0;
    assert_int_equal(vmesh_rvp_manifest_sign(&m, k, &jws), VMESH_ERR_ARG);
    vmesh_buf_free(&jws);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(other);
}

/* A JWS with the right key but another typ (e.g. a bell) is not a manifest. */
static void typ_checked(void **state)
{
    vmesh_key *k = NULL;
    vmesh_buf jws = {0};
    vmesh_rvp_manifest got;
    const char *payload = "{\"rvp\":\"a\",\"epoch\":1,\"issued_at\":1,\"expires_at\":2,\"sets\":[]}";

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_jose_jws_sign(k, "vmesh-bell+jwt", NULL, (const uint8_t *)payload, strlen(payload), &jws),
                     VMESH_OK);
    assert_int_equal(vmesh_rvp_manifest_verify((char *)jws.data, jws.len, k, &got), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "typ"));
    assert_int_equal(vmesh_jose_jws_sign(k, VMESH_RVP_MANIFEST_TYP, NULL, (const uint8_t *)payload, strlen(payload),
                                         &jws),
                     VMESH_OK);
    assert_int_equal(vmesh_rvp_manifest_verify((char *)jws.data, jws.len, k, &got), VMESH_OK);
    assert_int_equal(got.nsets, 0);
    vmesh_rvp_manifest_free(&got);
    vmesh_buf_free(&jws);
    vmesh_crypto_key_free(k);
}

static void expect_parse(const char *json, vmesh_err want, const char *substr)
{
    vmesh_rvp_manifest m;
    vmesh_err rc = vmesh_rvp_manifest_parse((const uint8_t *)json, strlen(json), &m);

    if (rc != want || (substr && strstr(vmesh_err_detail(), substr) == NULL))
        fail_msg("parse of %s: got %d (%s), want %d with \"%s\"", json, rc, vmesh_err_detail(), want,
                 substr ? substr : "");
    assert_null(m.sets);
    vmesh_rvp_manifest_free(&m);
}

#define H64 "c3b17d5f8a9e32194730154d60622c8e898b20dd1cd0801023c4ccf5018d8a93"
#define SET(kind, sha, size, path)                                                                                    \
    "{\"kind\":\"" kind "\",\"scheme\":\"psa\",\"media_type\":\"application/x\",\"sha256\":\"" sha                  \
    "\",\"size\":" size ",\"path\":\"" path "\"}"
#define MAN(sets) "{\"rvp\":\"acme\",\"epoch\":3,\"issued_at\":10,\"expires_at\":20,\"sets\":[" sets "]}"

static void parse_strict(void **state)
{
    vmesh_rvp_manifest m;
    const char *ok = MAN(SET("corim", H64, "5", "sets/" H64));

    (void)state;
    assert_int_equal(vmesh_rvp_manifest_parse((const uint8_t *)ok, strlen(ok), &m), VMESH_OK);
    assert_int_equal(m.sets[0].kind, VMESH_SET_CORIM);
    assert_int_equal(m.sets[0].size, 5);
    vmesh_rvp_manifest_free(&m);
    expect_parse(MAN(SET("corim", H64, "5", "sets/../../etc/passwd")), VMESH_ERR_PARSE, "named by their sha256");
    expect_parse(MAN(SET("corim", "C3B17D5F8A9E32194730154D60622C8E898B20DD1CD0801023C4CCF5018D8A93", "5",
                         "sets/" H64)),
                 VMESH_ERR_PARSE, "lowercase hex");
    expect_parse(MAN(SET("bogus", H64, "5", "sets/" H64)), VMESH_ERR_PARSE, "unknown set kind");
    expect_parse(MAN(SET("corim", H64, "0", "sets/" H64)), VMESH_ERR_PARSE, "\"size\"");
    expect_parse(MAN(SET("corim", H64, "99999999999", "sets/" H64)), VMESH_ERR_PARSE, "\"size\"");
    expect_parse(MAN(SET("corim", H64, "5", "sets/" H64) "," SET("policy", H64, "5", "sets/" H64)), VMESH_ERR_PARSE,
                 "same sha256");
    expect_parse("{\"rvp\":\"acme\",\"epoch\":0,\"issued_at\":10,\"expires_at\":20,\"sets\":[]}", VMESH_ERR_PARSE,
                 "\"epoch\"");
    expect_parse("{\"rvp\":\"acme\",\"epoch\":-1,\"issued_at\":10,\"expires_at\":20,\"sets\":[]}", VMESH_ERR_PARSE,
                 "\"epoch\"");
    expect_parse("{\"rvp\":\"acme\",\"epoch\":1,\"issued_at\":20,\"expires_at\":20,\"sets\":[]}", VMESH_ERR_PARSE,
                 "not after issued_at");
    expect_parse("{\"rvp\":\"../x\",\"epoch\":1,\"issued_at\":1,\"expires_at\":20,\"sets\":[]}", VMESH_ERR_PARSE,
                 "\"rvp\"");
    expect_parse("{\"rvp\":\"a\",\"epoch\":1,\"issued_at\":1,\"expires_at\":20,\"sets\":[],\"x\":1}", VMESH_ERR_PARSE,
                 "unknown field \"x\"");
    expect_parse("{\"rvp\":\"a\",\"rvp\":\"b\",\"epoch\":1,\"issued_at\":1,\"expires_at\":20,\"sets\":[]}",
                 VMESH_ERR_PARSE, NULL);
    expect_parse("{\"rvp\":\"a\",\"epoch\":1,\"issued_at\":1,\"expires_at\":20}", VMESH_ERR_PARSE, "\"sets\"");
    expect_parse("[1]", VMESH_ERR_PARSE, "not a JSON object");
    expect_parse("{\"rvp\":\"a\",\"epoch\":1,\"issued_at\":1,\"expires_at\":20,\"sets\":[{\"kind\":\"corim\"}]}",
                 VMESH_ERR_PARSE, "sets[0]");
    expect_parse(MAN("{\"kind\":\"corim\",\"scheme\":\"PSA\",\"media_type\":\"application/x\",\"sha256\":\"" H64
                     "\",\"size\":5,\"path\":\"sets/" H64 "\"}"),
                 VMESH_ERR_PARSE, "\"scheme\"");
}

static void classify(void **state)
{
    vmesh_rvp_set s;
    vmesh_key *k = NULL;
    vmesh_buf pem = {0}, jwk = {0};
    const char *garbage = "hello world";

    (void)state;
    assert_int_equal(vmesh_rvp_classify((const uint8_t *)policy_json, strlen(policy_json), "p.json", &s), VMESH_OK);
    assert_int_equal(s.kind, VMESH_SET_POLICY);
    assert_string_equal(s.scheme, "");
    assert_string_equal(s.media_type, "application/vnd.vmesh.policy+json");
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_pem(k, false, &pem), VMESH_OK);
    assert_int_equal(vmesh_rvp_classify(pem.data, pem.len, "pub.pem", &s), VMESH_OK);
    assert_int_equal(s.kind, VMESH_SET_TRUST_ANCHOR);
    assert_string_equal(s.media_type, "application/x-pem-file");
    assert_int_equal(vmesh_crypto_key_to_jwk(k, false, &jwk), VMESH_OK);
    assert_int_equal(vmesh_rvp_classify(jwk.data, jwk.len, "pub.jwk", &s), VMESH_OK);
    assert_string_equal(s.media_type, "application/jwk+json");
    /* Private keys never go into a bundle. */
    vmesh_buf_reset(&pem);
    assert_int_equal(vmesh_crypto_key_to_pem(k, true, &pem), VMESH_OK);
    assert_int_equal(vmesh_rvp_classify(pem.data, pem.len, "key.pem", &s), VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "key.pem"));
    vmesh_buf_reset(&jwk);
    assert_int_equal(vmesh_crypto_key_to_jwk(k, true, &jwk), VMESH_OK);
    assert_int_equal(vmesh_rvp_classify(jwk.data, jwk.len, "key.jwk", &s), VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "PRIVATE"));
    assert_int_equal(vmesh_rvp_classify((const uint8_t *)garbage, strlen(garbage), "x.bin", &s),
                     VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "x.bin: cannot tell what this is"));
    assert_int_equal(vmesh_rvp_classify((const uint8_t *)"{\"format\":\"vmesh-rv/1\"}", 23, "bad.json", &s),
                     VMESH_ERR_PARSE);
    assert_int_equal(vmesh_rvp_classify((const uint8_t *)"", 0, "empty", &s), VMESH_ERR_PARSE);
    vmesh_buf_free(&pem);
    vmesh_buf_free(&jwk);
    vmesh_crypto_key_free(k);
}

/* Trust-anchor sets (issue 14.5): per scheme, only sev-snp / tdx / tsm,
 * never a private key, even beside a public one in the same PEM text. */
static void classify_ta(void **state)
{
    vmesh_rvp_set s;
    vmesh_key *k = NULL;
    vmesh_buf pem = {0}, priv = {0}, both = {0}, jwk = {0};
    const char *tcb = "{\"tcbInfo\":{\"id\":\"TDX\",\"version\":3},\"signature\":\"00\"}\n";

    (void)state;
    assert_true(vmesh_rvp_ta_scheme_ok("sev-snp") && vmesh_rvp_ta_scheme_ok("tdx") && vmesh_rvp_ta_scheme_ok("tsm"));
    assert_false(vmesh_rvp_ta_scheme_ok("cca") || vmesh_rvp_ta_scheme_ok("") || vmesh_rvp_ta_scheme_ok(NULL));
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_to_pem(k, false, &pem), VMESH_OK);
    assert_int_equal(vmesh_rvp_classify_ta(pem.data, pem.len, "tsm", "pub.pem", &s), VMESH_OK);
    assert_int_equal(s.kind, VMESH_SET_TRUST_ANCHOR);
    assert_string_equal(s.scheme, "sev-snp+tdx"); /* tsm: both environments */
    assert_string_equal(s.media_type, "application/x-pem-file");
    assert_int_equal(s.size, pem.len);
    assert_int_equal(vmesh_rvp_classify_ta((const uint8_t *)tcb, strlen(tcb), "tdx", "tcb.json", &s), VMESH_OK);
    assert_string_equal(s.scheme, "tdx");
    assert_string_equal(s.media_type, "application/json");
    assert_int_equal(vmesh_crypto_key_to_jwk(k, false, &jwk), VMESH_OK);
    assert_int_equal(vmesh_rvp_classify_ta(jwk.data, jwk.len, "sev-snp", "k.jwk", &s), VMESH_OK);
    assert_string_equal(s.media_type, "application/jwk+json");
    /* a private key, alone or after a public key */
    assert_int_equal(vmesh_crypto_key_to_pem(k, true, &priv), VMESH_OK);
    assert_int_equal(vmesh_rvp_classify_ta(priv.data, priv.len, "sev-snp", "key.pem", &s), VMESH_ERR_POLICY);
    assert_int_equal(vmesh_buf_append(&both, pem.data, pem.len), VMESH_OK);
    assert_int_equal(vmesh_buf_append(&both, priv.data, priv.len), VMESH_OK);
    assert_int_equal(vmesh_rvp_classify_ta(both.data, both.len, "tdx", "both.pem", &s), VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "both.pem: PEM block 2"));
    /* schemes without trust-anchor sets, junk, empty */
    assert_int_equal(vmesh_rvp_classify_ta(pem.data, pem.len, "cca", "pub.pem", &s), VMESH_ERR_UNSUPPORTED);
    assert_non_null(strstr(vmesh_err_detail(), "CPAK"));
    assert_int_equal(vmesh_rvp_classify_ta((const uint8_t *)"hello", 5, "tdx", "x.bin", &s), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "x.bin is not a certificate"));
    assert_int_equal(vmesh_rvp_classify_ta((const uint8_t *)"", 0, "tdx", "empty", &s), VMESH_ERR_PARSE);
    vmesh_buf_free(&pem);
    vmesh_buf_free(&priv);
    vmesh_buf_free(&both);
    vmesh_buf_free(&jwk);
    vmesh_crypto_key_free(k);
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static size_t count_sets(const char *dir)
{
    char p[700];
    DIR *d;
    struct dirent *e;
    size_t n = 0;

    snprintf(p, sizeof(p), "%s/sets", dir);
    d = opendir(p);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void publish(void **state)
{
    char tmp[] = "/tmp/vmesh-publish-XXXXXX", in[600], out[600], p1[700], p2[700], mpath[700];
    vmesh_key *k = NULL, *other = NULL;
    vmesh_rvp_manifest m = {0};
    vmesh_rvp_publish_opts o = {.name = "acme"};
    const char *inputs[1];
    vmesh_buf b = {0};

    (void)state;
    assert_non_null(mkdtemp(tmp));
    snprintf(in, sizeof(in), "%s/in", tmp);
    snprintf(out, sizeof(out), "%s/www", tmp);
    snprintf(mpath, sizeof(mpath), "%s/manifest.jws", out);
    assert_int_equal(mkdir(in, 0700), 0);
    snprintf(p1, sizeof(p1), "%s/rv.json", in);
    snprintf(p2, sizeof(p2), "%s/policy.json", in);
    write_file(p1, rv_json);
    write_file(p2, policy_json);
    inputs[0] = in;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);

    assert_int_equal(vmesh_rvp_publish(k, inputs, 1, out, &o, &m), VMESH_OK);
    assert_int_equal(m.epoch, 1);
    assert_int_equal(m.nsets, 2);
    assert_int_equal(m.sets[0].kind, VMESH_SET_POLICY); /* name order: policy.json, rv.json */
    assert_int_equal(m.expires_at - m.issued_at, 86400);
    vmesh_rvp_manifest_free(&m);
    assert_int_equal(count_sets(out), 2);

    /* Default: previous + 1, name kept. */
    write_file(p2, "{\"format\":\"vmesh-policy/1\",\"id\":\"policy:two\"}");
    assert_int_equal(vmesh_rvp_publish(k, inputs, 1, out, NULL, &m), VMESH_OK);
    assert_int_equal(m.epoch, 2);
    assert_string_equal(m.rvp, "acme");
    vmesh_rvp_manifest_free(&m);
    assert_int_equal(count_sets(out), 3); /* the previous epoch's policy is kept */

    /* Explicit epochs only go up. */
    o.epoch = 2;
    assert_int_equal(vmesh_rvp_publish(k, inputs, 1, out, &o, NULL), VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "epoch 2 is not above the published epoch 2"));
    o.epoch = 10;
    write_file(p2, "{\"format\":\"vmesh-policy/1\",\"id\":\"policy:three\"}");
    assert_int_equal(vmesh_rvp_publish(k, inputs, 1, out, &o, &m), VMESH_OK);
    assert_int_equal(m.epoch, 10);
    vmesh_rvp_manifest_free(&m);
    assert_int_equal(count_sets(out), 3); /* policy:one collected; two (previous) and three kept */

    /* The published manifest is ours: verify it from disk. */
    assert_int_equal(vmesh_file_read(mpath, 0, &b), VMESH_OK);
    assert_int_equal(vmesh_rvp_manifest_verify((char *)b.data, b.len, k, &m), VMESH_OK);
    assert_int_equal(m.epoch, 10);
    vmesh_rvp_manifest_free(&m);

    /* Another key cannot continue this bundle. */
    assert_int_equal(vmesh_rvp_publish(other, inputs, 1, out, NULL, NULL), VMESH_ERR_STATE);
    assert_non_null(strstr(vmesh_err_detail(), "cannot be continued"));
    /* A bad input publishes nothing. */
    write_file(p2, "not a bundle input");
    assert_int_equal(vmesh_rvp_publish(k, inputs, 1, out, NULL, NULL), VMESH_ERR_UNSUPPORTED);
    assert_int_equal(vmesh_file_read(mpath, 0, &b), VMESH_OK);
    assert_int_equal(vmesh_rvp_manifest_verify((char *)b.data, b.len, k, &m), VMESH_OK);
    assert_int_equal(m.epoch, 10);
    vmesh_rvp_manifest_free(&m);

    vmesh_buf_free(&b);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(other);
    {
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        assert_int_equal(system(cmd), 0);
    }
}

/* The verifier trust set (D40): strict parsing, each refusal named. */
static const char vkey1[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"GNH7HVoeMnDDbdCXJI5lgg8sqHNMwlIErN3KVoVOcS8\","
                            "\"y\":\"83uucTxEEaAGw8GW8EAvX0mt4qdQMq774-OcxESjai0\"}";

static void expect_vset(const char *json, vmesh_err want, const char *substr)
{
    vmesh_rvp_verifiers vs;
    vmesh_err rc = vmesh_rvp_verifiers_parse((const uint8_t *)json, strlen(json), "vs.json", &vs);

    if (rc != want || (substr && strstr(vmesh_err_detail(), substr) == NULL))
        fail_msg("%s: got %d (%s), want %d with \"%s\"", json, rc, vmesh_err_detail(), want, substr ? substr : "");
    if (rc == VMESH_OK)
        vmesh_rvp_verifiers_free(&vs);
    else
        assert_int_equal(vs.n, 0);
}

static void verifiers_strict(void **state)
{
    char ok[1024], buf[2048];
    vmesh_rvp_verifiers vs, copy;
    vmesh_key *k = NULL;
    (void)state;

    snprintf(ok, sizeof(ok),
             "{\"name\":\"v1\",\"url\":\"https://v.example:8443\",\"ear-key\":%s,"
             "\"platform\":{\"scheme\":\"psa\",\"class-id\":\"AQID\"}}",
             vkey1);
    snprintf(buf, sizeof(buf), "{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[%s]}", ok);
    assert_int_equal(vmesh_rvp_verifiers_parse((const uint8_t *)buf, strlen(buf), "vs.json", &vs), VMESH_OK);
    assert_int_equal(vs.n, 1);
    assert_string_equal(vs.v[0].name, "v1");
    assert_string_equal(vs.v[0].url, "https://v.example:8443");
    assert_string_equal(vs.v[0].scheme, "psa");
    assert_int_equal(vs.v[0].class_id_len, 3);
    assert_int_equal(vmesh_crypto_key_from_jwk(vkey1, strlen(vkey1), &k), VMESH_OK);
    assert_true(vmesh_crypto_key_equal(k, vs.v[0].ear_key));
    assert_ptr_equal(vmesh_rvp_verifiers_find(&vs, "v1"), &vs.v[0]);
    assert_null(vmesh_rvp_verifiers_find(&vs, "v2"));
    assert_int_equal(vmesh_rvp_verifiers_copy(&copy, &vs), VMESH_OK);
    assert_true(vmesh_rvp_verifiers_same(&copy, &vs));
    snprintf(copy.v[0].url, sizeof(copy.v[0].url), "https://other");
    assert_false(vmesh_rvp_verifiers_same(&copy, &vs));
    vmesh_rvp_verifiers_free(&copy);
    vmesh_rvp_verifiers_free(&vs);
    vmesh_crypto_key_free(k);

    snprintf(buf, sizeof(buf), "{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[%s,%s]}", ok, ok);
    expect_vset(buf, VMESH_ERR_PARSE, "verifier name \"v1\" is listed twice");
    expect_vset("{\"format\":\"vmesh-verifiers/2\",\"verifiers\":[]}", VMESH_ERR_PARSE, "\"format\" must be");
    expect_vset("{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[]}", VMESH_ERR_PARSE, "is empty");
    expect_vset("{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[],\"x\":1}", VMESH_ERR_PARSE, "unknown field \"x\"");
    expect_vset("{\"format\":\"vmesh-verifiers/1\",\"format\":\"vmesh-verifiers/1\",\"verifiers\":[]}", VMESH_ERR_PARSE,
                NULL);
    expect_vset("[1]", VMESH_ERR_PARSE, "not a JSON object");
    snprintf(buf, sizeof(buf),
             "{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[{\"name\":\".v\",\"url\":\"https://x\",\"ear-key\":%s,"
             "\"platform\":{\"scheme\":\"psa\",\"class-id\":\"AQID\"}}]}",
             vkey1);
    expect_vset(buf, VMESH_ERR_PARSE, "\"name\" must be");
    snprintf(buf, sizeof(buf),
             "{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[{\"name\":\"v\",\"url\":\"ftp://x\",\"ear-key\":%s,"
             "\"platform\":{\"scheme\":\"psa\",\"class-id\":\"AQID\"}}]}",
             vkey1);
    expect_vset(buf, VMESH_ERR_PARSE, "\"url\" must be");
    snprintf(buf, sizeof(buf),
             "{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[{\"name\":\"v\",\"url\":\"https://x\",\"ear-key\":%s,"
             "\"platform\":{\"scheme\":\"PSA\",\"class-id\":\"AQID\"}}]}",
             vkey1);
    expect_vset(buf, VMESH_ERR_PARSE, "\"scheme\" must be");
    snprintf(buf, sizeof(buf),
             "{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[{\"name\":\"v\",\"url\":\"https://x\",\"ear-key\":%s,"
             "\"platform\":{\"scheme\":\"psa\",\"class-id\":\"\"}}]}",
             vkey1);
    expect_vset(buf, VMESH_ERR_PARSE, "\"class-id\"");
    snprintf(buf, sizeof(buf),
             "{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[{\"name\":\"v\",\"url\":\"https://x\",\"ear-key\":%s,"
             "\"platform\":{\"scheme\":\"psa\",\"class-id\":\"AQID\"},\"extra\":true}]}",
             vkey1);
    expect_vset(buf, VMESH_ERR_PARSE, "unknown field \"extra\"");
    expect_vset("{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[{\"name\":\"v\",\"url\":\"https://x\",\"ear-key\":7,"
                "\"platform\":{\"scheme\":\"psa\",\"class-id\":\"AQID\"}}]}",
                VMESH_ERR_PARSE, "PEM string or a JWK object");
    expect_vset("{\"format\":\"vmesh-verifiers/1\",\"verifiers\":[{\"name\":\"v\",\"url\":\"https://x\","
                "\"platform\":{\"scheme\":\"psa\",\"class-id\":\"AQID\"}}]}",
                VMESH_ERR_PARSE, "\"ear-key\" is missing");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sign_verify), cmocka_unit_test(typ_checked), cmocka_unit_test(parse_strict),
        cmocka_unit_test(classify),    cmocka_unit_test(classify_ta), cmocka_unit_test(publish), cmocka_unit_test(verifiers_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
