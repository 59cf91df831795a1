/* Unit tests for SPIFFE bundles and the federation trust set: the bundle
 * format (SPIFFE Trust Domain and Bundle §4) both ways, its refusals, CA
 * rotation (sequence rises, old authorities kept), and verification of an
 * SVID against its own trust domain's bundle only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/pki.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vmesh-bundle-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static vmesh_err parse_str(const char *s, vmesh_pki_bundle **b)
{
    return vmesh_pki_bundle_parse((const uint8_t *)s, strlen(s), b);
}

static X509 *load_leaf(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

    if (f)
        fclose(f);
    return x;
}

static void refusals(void **state)
{
    vmesh_pki_bundle *b = NULL;

    (void)state;
    assert_int_equal(parse_str("[]", &b), VMESH_ERR_PARSE);
    assert_int_equal(parse_str("{}", &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "no \"keys\""));
    assert_int_equal(parse_str("{\"keys\":[]}", &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "no x509-svid key"));
    assert_int_equal(parse_str("{\"keys\":[{\"kty\":\"EC\"}]}", &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "\"use\""));
    assert_int_equal(parse_str("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\"}]}", &b),
                     VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "exactly one certificate"));
    assert_int_equal(
        parse_str("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"x5c\":[\"AAAA\",\"AAAA\"]}]}",
                  &b),
        VMESH_ERR_PARSE);
    assert_int_equal(
        parse_str("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"x5c\":[\"AAAA\"]}]}", &b),
        VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "not exactly one DER certificate"));
    assert_int_equal(parse_str("{\"keys\":[],\"spiffe_sequence\":-1}", &b), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "spiffe_sequence"));
    assert_int_equal(parse_str("{\"keys\":[],\"spiffe_refresh_hint\":\"1\"}", &b), VMESH_ERR_PARSE);
    assert_int_equal(parse_str("{\"keys\":[],\"keys\":[]}", &b), VMESH_ERR_PARSE);
    /* jwt-svid and unknown uses are skipped, not errors, but alone they
     * verify nothing */
    assert_int_equal(parse_str("{\"keys\":[{\"use\":\"jwt-svid\"},{\"use\":\"x\"}]}", &b),
                     VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "2 other keys skipped"));
    assert_null(b);
}

static void roundtrip_rotate(void **state)
{
    char ca[300], path[400];
    vmesh_buf doc = {0}, doc2 = {0};
    vmesh_pki_bundle *b = NULL, *b2 = NULL;
    bool has = false, changed = false;
    char *bad;

    (void)state;
    snprintf(ca, sizeof(ca), "%s/ca", dir);
    assert_int_equal(vmesh_pki_ca_init("y.example", ca, 0, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_bundle_spiffe(ca, 300, &doc), VMESH_OK);
    assert_int_equal(vmesh_pki_bundle_parse(doc.data, doc.len, &b), VMESH_OK);
    assert_int_equal(vmesh_pki_bundle_count(b), 1);
    assert_int_equal(vmesh_pki_bundle_sequence(b, &has), 1);
    assert_true(has);
    assert_int_equal(vmesh_pki_bundle_refresh_hint(b), 300);
    /* kty must match the certificate's key */
    bad = strndup((const char *)doc.data, doc.len);
    assert_non_null(bad);
    memcpy(strstr(bad, "\"EC\""), "\"OK\"", 4);
    assert_int_equal(parse_str(bad, &b2), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "kty"));
    free(bad);
    /* rotation: sequence 2, both authorities */
    assert_int_equal(vmesh_pki_ca_rotate(ca, 0, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_bundle_spiffe(ca, 0, &doc2), VMESH_OK);
    assert_int_equal(vmesh_pki_bundle_parse(doc2.data, doc2.len, &b2), VMESH_OK);
    assert_int_equal(vmesh_pki_bundle_count(b2), 2);
    assert_int_equal(vmesh_pki_bundle_sequence(b2, NULL), 2);
    assert_int_equal(vmesh_pki_bundle_accept(b, b2, &changed), VMESH_OK);
    assert_true(changed);
    assert_int_equal(vmesh_pki_bundle_accept(b2, b, &changed), VMESH_ERR_STATE);
    assert_non_null(strstr(vmesh_err_detail(), "rollback"));
    assert_int_equal(vmesh_pki_bundle_accept(b2, b2, &changed), VMESH_OK);
    assert_false(changed);
    snprintf(path, sizeof(path), "%s/ca-1.pem", ca);
    vmesh_pki_bundle_free(b);
    b = NULL;
    assert_int_equal(vmesh_pki_bundle_load(path, &b), VMESH_OK); /* PEM form */
    assert_int_equal(vmesh_pki_bundle_sequence(b, &has), 0);
    assert_false(has);
    vmesh_pki_bundle_free(b);
    vmesh_pki_bundle_free(b2);
    vmesh_buf_free(&doc);
    vmesh_buf_free(&doc2);
}

static void trust_own_domain_only(void **state)
{
    char cx[300], cy[300], px[300], py[300], path[400];
    vmesh_pki_bundle *bx = NULL, *by = NULL;
    vmesh_pki_trust *t = NULL, *wrong = NULL;
    X509 *lx, *ly;
    char *id = NULL;

    (void)state;
    snprintf(cx, sizeof(cx), "%s/cx", dir);
    snprintf(cy, sizeof(cy), "%s/cy", dir);
    snprintf(px, sizeof(px), "%s/lx", dir);
    snprintf(py, sizeof(py), "%s/ly", dir);
    assert_int_equal(vmesh_pki_ca_init("x.example", cx, 0, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_init("y.example", cy, 0, VMESH_KEY_EC_P256), VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(cx, "spiffe://x.example/a", px, 0, VMESH_KEY_EC_P256),
                     VMESH_OK);
    assert_int_equal(vmesh_pki_ca_issue(cy, "spiffe://y.example/b", py, 0, VMESH_KEY_EC_P256),
                     VMESH_OK);
    snprintf(path, sizeof(path), "%s/bundle.pem", cx);
    assert_int_equal(vmesh_pki_bundle_load(path, &bx), VMESH_OK);
    snprintf(path, sizeof(path), "%s/bundle.pem", cy);
    assert_int_equal(vmesh_pki_bundle_load(path, &by), VMESH_OK);
    snprintf(path, sizeof(path), "%s.pem", px);
    lx = load_leaf(path);
    snprintf(path, sizeof(path), "%s.pem", py);
    ly = load_leaf(path);
    assert_non_null(lx);
    assert_non_null(ly);

    assert_int_equal(vmesh_pki_trust_new(&t), VMESH_OK);
    assert_int_equal(vmesh_pki_trust_add(t, "x.example", bx), VMESH_OK);
    assert_int_equal(vmesh_pki_trust_add(t, "x.example", by), VMESH_ERR_ARG);
    assert_int_equal(vmesh_pki_trust_verify(t, lx, NULL, &id), VMESH_OK);
    assert_string_equal(id, "spiffe://x.example/a");
    free(id);
    assert_int_equal(vmesh_pki_trust_verify(t, ly, NULL, NULL), VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "\"y.example\", which is not federated"));
    assert_int_equal(vmesh_pki_trust_add(t, "y.example", by), VMESH_OK);
    assert_int_equal(vmesh_pki_trust_verify(t, ly, NULL, NULL), VMESH_OK);
    /* the bundles swapped: each domain's SVID fails under the other's CA
     * although that CA is trusted (for its own domain) */
    assert_int_equal(vmesh_pki_trust_new(&wrong), VMESH_OK);
    assert_int_equal(vmesh_pki_trust_add(wrong, "x.example", by), VMESH_OK);
    assert_int_equal(vmesh_pki_trust_add(wrong, "y.example", bx), VMESH_OK);
    assert_int_equal(vmesh_pki_trust_verify(wrong, lx, NULL, NULL), VMESH_ERR_SIGNATURE);
    assert_non_null(strstr(vmesh_err_detail(), "bundle of \"x.example\""));
    assert_int_equal(vmesh_pki_trust_verify(wrong, ly, NULL, NULL), VMESH_ERR_SIGNATURE);
    X509_free(lx);
    X509_free(ly);
    vmesh_pki_trust_free(t);
    vmesh_pki_trust_free(wrong);
    vmesh_pki_bundle_free(bx);
    vmesh_pki_bundle_free(by);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refusals),
        cmocka_unit_test(roundtrip_rotate),
        cmocka_unit_test(trust_own_domain_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
