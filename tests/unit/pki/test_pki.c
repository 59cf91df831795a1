/* Unit tests for the pki module: SPIFFE ID syntax, X509-SVID identity,
 * pattern matching, and the test CA (init, issue, bundle). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmesh/pki.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmesh-pki-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Scope entries of reference-value providers: one check and one matcher for
 * the proxy, the sync client and the central verifier. */
static void scopes(void **state)
{
    char *e[] = {"y.example", "spiffe://x.example/ml/", "spiffe://x.example/ns/lab"};

    (void)state;
    assert_int_equal(vmesh_pki_scope_entry_validate("y.example", 9), VMESH_OK);
    assert_int_equal(vmesh_pki_scope_entry_validate("spiffe://y.example/ns/", 21), VMESH_OK);
    /* The length counts, not the terminator: "y.ex" is checked, and valid. */
    assert_int_equal(vmesh_pki_scope_entry_validate("y.example,z", 4), VMESH_OK);
    assert_int_equal(vmesh_pki_scope_entry_validate("Not A Domain", 12), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "\"Not A Domain\" is not a trust domain"));
    assert_int_equal(vmesh_pki_scope_entry_validate("spiffe://y.example/", 19), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "it needs a path"));
    assert_int_equal(vmesh_pki_scope_entry_validate("spiffe://y.example/a//b", 23), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "is not a SPIFFE ID prefix"));
    assert_int_equal(vmesh_pki_scope_entry_validate("", 0), VMESH_ERR_ARG);
    assert_int_equal(vmesh_pki_scope_entry_validate(NULL, 3), VMESH_ERR_ARG);

    assert_string_equal(vmesh_pki_scope_match(e, 3, "spiffe://y.example/anything"), "y.example");
    assert_string_equal(vmesh_pki_scope_match(e, 3, "spiffe://y.example"), "y.example");
    assert_string_equal(vmesh_pki_scope_match(e, 3, "spiffe://x.example/ml/srv"), "spiffe://x.example/ml/");
    assert_string_equal(vmesh_pki_scope_match(e, 3, "spiffe://x.example/ns/lab"), "spiffe://x.example/ns/lab");
    assert_string_equal(vmesh_pki_scope_match(e, 3, "spiffe://x.example/ns/lab/a"), "spiffe://x.example/ns/lab");
    /* A prefix ends at a segment boundary; a domain matches exactly. */
    assert_null(vmesh_pki_scope_match(e, 3, "spiffe://x.example/ns/laboratory"));
    assert_null(vmesh_pki_scope_match(e, 3, "spiffe://x.example/mlx"));
    assert_null(vmesh_pki_scope_match(e, 3, "spiffe://y.example.evil/a"));
    assert_null(vmesh_pki_scope_match(e, 3, "spiffe://evily.example/a"));
    assert_null(vmesh_pki_scope_match(e, 3, "y.example"));
    assert_null(vmesh_pki_scope_match(e, 3, ""));
    assert_null(vmesh_pki_scope_match(e, 3, NULL));
    assert_null(vmesh_pki_scope_match(NULL, 0, "spiffe://y.example/a"));
}

static void id_syntax(void **state)
{
    (void)state;
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://example.org/ns/x/sa/y"), VMESH_OK);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://example.org"), VMESH_OK);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://a_b-c.d/A.b-C_9"), VMESH_OK);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://Example.org/x"), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "trust domain has character 0x45"));
    assert_int_equal(vmesh_pki_spiffe_id_validate("SPIFFE://example.org/x"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate("https://example.org/x"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://"), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "empty"));
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe:///x"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://td/"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://td/a//b"), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "empty segment"));
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://td/a/./b"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://td/a/.."), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "'..'"));
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://td/a%20b"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://td:443/a"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://u@td/a"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://td/a?q"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate("spiffe://td/a#f"), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_spiffe_id_validate(NULL), VMESH_ERR_ARG);
    {
        char big[2100];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        memcpy(big, "spiffe://td/", 12);
        assert_int_equal(vmesh_pki_spiffe_id_validate(big), VMESH_ERR_PARSE);
        assert_non_null(strstr(vmesh_err_detail(), "longer than 2048"));
    }
    {
        char *td = NULL;
        assert_int_equal(vmesh_pki_spiffe_id_trust_domain("spiffe://ex.org/a/b", &td), VMESH_OK);
        assert_string_equal(td, "ex.org");
        free(td);
    }
}

static void patterns(void **state)
{
    (void)state;
    assert_true(vmesh_pki_spiffe_match("spiffe://td/ns/x/sa/y", "spiffe://td/ns/x/sa/y"));
    assert_false(vmesh_pki_spiffe_match("spiffe://td/ns/x/sa/y", "spiffe://td/ns/x/sa/yy"));
    assert_false(vmesh_pki_spiffe_match("spiffe://td/ns/x/sa/y", "spiffe://td/ns/x/sa"));
    assert_true(vmesh_pki_spiffe_match("spiffe://td/ns/x/*", "spiffe://td/ns/x/sa/y"));
    assert_true(vmesh_pki_spiffe_match("spiffe://td/ns/x/*", "spiffe://td/ns/x/a"));
    assert_false(vmesh_pki_spiffe_match("spiffe://td/ns/x/*", "spiffe://td/ns/x"));
    assert_false(vmesh_pki_spiffe_match("spiffe://td/ns/x/*", "spiffe://td/ns/xy/a"));
    assert_false(vmesh_pki_spiffe_match("spiffe://td/ns/x/*", "spiffe://tdx/ns/x/a"));
    assert_true(vmesh_pki_spiffe_match("spiffe://td/*", "spiffe://td/a"));
    assert_false(vmesh_pki_spiffe_match("spiffe://td/*", "spiffe://td"));
    assert_false(vmesh_pki_spiffe_match("spiffe://td/*", "spiffe://td.evil/a"));
    /* An invalid ID never matches, even against a permissive pattern. */
    assert_false(vmesh_pki_spiffe_match("spiffe://td/*", "spiffe://td/../a"));
    assert_false(vmesh_pki_spiffe_match("spiffe://td/a*", "spiffe://td/ab"));
    assert_false(vmesh_pki_spiffe_match("*", "spiffe://td/a"));
    assert_false(vmesh_pki_spiffe_match(NULL, "spiffe://td/a"));
    assert_false(vmesh_pki_spiffe_match("spiffe://td/a", NULL));
    assert_int_equal(vmesh_pki_spiffe_pattern_validate("spiffe://td/ns/*"), VMESH_OK);
    assert_int_equal(vmesh_pki_spiffe_pattern_validate("spiffe://td/ns"), VMESH_OK);
    assert_int_equal(vmesh_pki_spiffe_pattern_validate("spiffe://td/n*"), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "pattern"));
}

static X509 *load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static void ca_issue_and_identity(void **state)
{
    char dir[512], path[700], prefix[600];
    struct stat st;
    X509 *ca, *leaf;
    char *id = NULL;
    vmesh_buf b = {0};
    X509_STORE *store;
    X509_STORE_CTX *vctx;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/ca", tmpdir);
    assert_int_equal(vmesh_pki_ca_init("Example.org", dir, 0, VMESH_KEY_EC_P256), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_ca_init("example.org", dir, 0, VMESH_KEY_ED25519),
                     VMESH_ERR_UNSUPPORTED);
    assert_int_equal(vmesh_pki_ca_init("example.org", dir, 0, VMESH_KEY_EC_P256), VMESH_OK);
    snprintf(path, sizeof(path), "%s/ca.key", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Never overwrite a CA key. */
    assert_int_equal(vmesh_pki_ca_init("example.org", dir, 0, VMESH_KEY_EC_P256), VMESH_ERR_STATE);
    assert_non_null(strstr(vmesh_err_detail(), "refusing to overwrite"));

    snprintf(path, sizeof(path), "%s/ca.pem", dir);
    ca = load_cert(path);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
    assert_true(X509_get_key_usage(ca) & KU_CRL_SIGN);
    assert_int_equal(vmesh_pki_spiffe_id_from_cert(ca, &id), VMESH_OK);
    assert_string_equal(id, "spiffe://example.org");
    free(id);
    id = NULL;

    snprintf(prefix, sizeof(prefix), "%s/svc", tmpdir);
    assert_int_equal(vmesh_pki_ca_issue(dir, "spiffe://other.org/a", prefix, 0, VMESH_KEY_EC_P256),
                     VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "trust domain \"other.org\""));
    assert_int_equal(vmesh_pki_ca_issue(dir, "spiffe://example.org/a/..", prefix, 0,
                                        VMESH_KEY_EC_P256),
                     VMESH_ERR_PARSE);
    assert_int_equal(vmesh_pki_ca_issue(dir, "spiffe://example.org/ns/x/sa/y", prefix, 7,
                                        VMESH_KEY_EC_P256),
                     VMESH_OK);
    snprintf(path, sizeof(path), "%s.key", prefix);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s-chain.pem", prefix);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof(path), "%s.pem", prefix);
    assert_int_equal(vmesh_pki_spiffe_id_from_pem_file(path, &id), VMESH_OK);
    assert_string_equal(id, "spiffe://example.org/ns/x/sa/y");
    free(id);
    id = NULL;

    leaf = load_cert(path);
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER | XKU_SSL_CLIENT);
    /* The leaf verifies against the bundle. */
    store = X509_STORE_new();
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    vctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(vctx, store, leaf, NULL), 1);
    assert_int_equal(X509_verify_cert(vctx), 1);
    X509_STORE_CTX_free(vctx);
    X509_STORE_free(store);

    assert_int_equal(vmesh_pki_ca_bundle(dir, &b), VMESH_OK);
    assert_non_null(strstr((char *)b.data, "-----BEGIN CERTIFICATE-----"));
    vmesh_buf_free(&b);
    X509_free(leaf);
    X509_free(ca);
}

/* A certificate with the given SAN extension value, self-signed. */
static X509 *cert_with_san(const char *san)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    assert_non_null(k);
    X509_set_version(x, X509_VERSION_3);
    X509_set_pubkey(x, k);
    if (san) {
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
        assert_non_null(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, k, EVP_sha256());
    EVP_PKEY_free(k);
    return x;
}

static void svid_identity_refusals(void **state)
{
    struct {
        const char *san;
        const char *detail;
    } cases[] = {
        {NULL, "no subjectAltName"},
        {"DNS:example.org", "0 URI SANs"},
        {"URI:spiffe://td/a,URI:spiffe://td/b", "2 URI SANs"},
        {"URI:https://td/a", "not a SPIFFE ID"},
        {"URI:spiffe://td/a/../b", "not a SPIFFE ID"},
    };
    char *id = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = cert_with_san(cases[i].san);

        assert_int_equal(vmesh_pki_spiffe_id_from_cert(x, &id), VMESH_ERR_PARSE);
        assert_null(id);
        assert_non_null(strstr(vmesh_err_detail(), cases[i].detail));
        X509_free(x);
    }
    {
        X509 *x = cert_with_san("DNS:a.example,URI:spiffe://td/ok");

        assert_int_equal(vmesh_pki_spiffe_id_from_cert(x, &id), VMESH_OK);
        assert_string_equal(id, "spiffe://td/ok");
        free(id);
        X509_free(x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(id_syntax),
        cmocka_unit_test(scopes),
        cmocka_unit_test(patterns),
        cmocka_unit_test(ca_issue_and_identity),
        cmocka_unit_test(svid_identity_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
