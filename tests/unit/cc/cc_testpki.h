/* Test-only certificate factory for the cc tests: EC keys and X.509
 * certificates with arbitrary extensions, so that the tests can build a
 * test chain (root -> intermediate -> leaf) and sign reports and quotes
 * with keys they generate. Included by the test files only. */
#ifndef CC_TESTPKI_H
#define CC_TESTPKI_H

#include "vmesh/ccpki.h"
#include "vmesh/crypto.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

typedef struct {
    const char *oid;
    const uint8_t *der; /* extension value (the content of the OCTET STRING) */
    size_t len;
} tp_ext;

/* 2020-01-01 .. 2040-01-01 unless told otherwise */
static inline X509 *tp_cert(const char *cn, vmesh_key *subject, vmesh_key *issuer_key, X509 *issuer, bool ca,
                     const tp_ext *exts, size_t nexts, int64_t not_before, int64_t not_after)
{
    X509 *x = X509_new();
    X509_NAME *n;
    X509V3_CTX v3;
    X509_EXTENSION *e;
    static long serial = 1;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(not_before ? not_before : 1577836800));
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(not_after ? not_after : 2208988800));
    X509_set_pubkey(x, vmesh_crypto_key_evp(subject));
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (ca) {
        e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    for (size_t i = 0; i < nexts; i++) {
        ASN1_OBJECT *o = OBJ_txt2obj(exts[i].oid, 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

        ASN1_OCTET_STRING_set(os, exts[i].der, (int)exts[i].len);
        e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, os);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(o);
    }
    X509_sign(x, vmesh_crypto_key_evp(issuer_key), EVP_sha384());
    return x;
}

static inline void tp_der(X509 *x, vmesh_buf *out)
{
    unsigned char *p = NULL;
    int n = i2d_X509(x, &p);

    vmesh_buf_reset(out);
    if (n > 0 && vmesh_buf_append(out, p, (size_t)n) != VMESH_OK)
        n = 0;
    OPENSSL_free(p);
}

static inline char *tp_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *mem, *s;
    long n;

    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &mem);
    s = calloc(1, (size_t)n + 1);
    memcpy(s, mem, (size_t)n);
    BIO_free(b);
    return s;
}

static inline void tp_fp_hex(X509 *x, char out[65])
{
    uint8_t fp[32];
    static const char hx[] = "0123456789abcdef";

    if (vmesh_ccpki_fingerprint(x, fp) != VMESH_OK)
        memset(fp, 0, 32);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[fp[i] >> 4];
        out[2 * i + 1] = hx[fp[i] & 15];
    }
    out[64] = '\0';
}

static inline bool tp_read(const char *path, vmesh_buf *out)
{
    return vmesh_file_read(path, 0, out) == VMESH_OK;
}

#endif
