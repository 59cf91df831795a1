/*
 * Certificate pools and pinned-root path validation for the CC evidence
 * schemes (include/vmesh/ccpki.h). Trust comes only from root fingerprints
 * pinned in code or by the RV store; certificates carried by evidence or
 * trust-anchor attributes are path material, never trusted by themselves.
 * It must never validate at the wall-clock time when the caller pinned
 * another one, and never accept a chain that OpenSSL did not accept.
 */
#include "vmesh/ccpki.h"
#include "vmesh/crypto.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vmesh_ccpki_pool {
    X509 *certs[VMESH_CCPKI_MAX_CERTS];
    size_t ncerts;
    X509_CRL *crls[VMESH_CCPKI_MAX_CRLS];
    size_t ncrls;
    uint8_t pins[VMESH_CCPKI_MAX_PINS][32];
    size_t npins;
};

vmesh_err vmesh_ccpki_pool_new(vmesh_ccpki_pool **out)
{
    vmesh_err rc = VMESH_OK;

    *out = calloc(1, sizeof(**out));
    VMESH_ENSURE(*out != NULL, VMESH_ERR_NOMEM, "out of memory");
out:
    return rc;
}

void vmesh_ccpki_pool_free(vmesh_ccpki_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->ncerts; i++)
        X509_free(p->certs[i]);
    for (size_t i = 0; i < p->ncrls; i++)
        X509_CRL_free(p->crls[i]);
    free(p);
}

vmesh_err vmesh_ccpki_fingerprint(X509 *x, uint8_t fp[32])
{
    vmesh_err rc = VMESH_OK;
    unsigned int n = 32;

    VMESH_ENSURE(X509_digest(x, EVP_sha256(), fp, &n) == 1 && n == 32, VMESH_ERR_CRYPTO,
                 "cannot compute a certificate fingerprint");
out:
    return rc;
}

void vmesh_ccpki_cn(X509 *x, char *out, size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    if (x == NULL || X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)n) < 0)
        snprintf(out, n, "?");
}

vmesh_err vmesh_ccpki_add_x509(vmesh_ccpki_pool *p, X509 *x)
{
    vmesh_err rc = VMESH_OK;

    for (size_t i = 0; i < p->ncerts; i++)
        if (X509_cmp(p->certs[i], x) == 0)
            goto out; /* already there */
    VMESH_ENSURE(p->ncerts < VMESH_CCPKI_MAX_CERTS, VMESH_ERR_TOO_LARGE,
                 "more than %d certificates for one appraisal", VMESH_CCPKI_MAX_CERTS);
    VMESH_ENSURE(X509_up_ref(x) == 1, VMESH_ERR_CRYPTO, "X509_up_ref failed");
    p->certs[p->ncerts++] = x;
out:
    return rc;
}

/* Parsed certificates by SHA-256 of their DER. With OpenSSL 3.0 parsing a
 * certificate (its public key goes through the provider decoders) costs
 * more than verifying an ECDSA signature, and the same vendor certificates
 * (ARK, ASK, VCEK, PCK chain, TCB signing) arrive with every appraisal of a
 * platform. Identical bytes give an identical certificate, so sharing the
 * parsed, reference-counted object is safe; direct-mapped, bounded. */
#define CERT_CACHE_SLOTS 256
static struct {
    uint8_t key[32];
    X509 *x;
} cert_cache[CERT_CACHE_SLOTS];
static pthread_mutex_t cert_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static X509 *parse_der_cached(const uint8_t *der, size_t n)
{
    uint8_t h[32];
    size_t slot;
    X509 *x = NULL, *old = NULL;
    const unsigned char *q = der;

    vmesh_crypto_sha256(der, n, h);
    slot = ((size_t)h[0] << 8 | h[1]) % CERT_CACHE_SLOTS;
    pthread_mutex_lock(&cert_cache_lock);
    if (cert_cache[slot].x != NULL && memcmp(cert_cache[slot].key, h, 32) == 0) {
        x = cert_cache[slot].x;
        X509_up_ref(x);
    }
    pthread_mutex_unlock(&cert_cache_lock);
    if (x != NULL)
        return x;
    x = d2i_X509(NULL, &q, (long)n);
    if (x == NULL || q != der + n) {
        X509_free(x);
        ERR_clear_error();
        return NULL;
    }
    pthread_mutex_lock(&cert_cache_lock);
    old = cert_cache[slot].x;
    memcpy(cert_cache[slot].key, h, 32);
    cert_cache[slot].x = x;
    X509_up_ref(x);
    pthread_mutex_unlock(&cert_cache_lock);
    X509_free(old);
    return x;
}

vmesh_err vmesh_ccpki_add_der(vmesh_ccpki_pool *p, const uint8_t *der, size_t n)
{
    vmesh_err rc = VMESH_OK;
    X509 *x = NULL;

    VMESH_ENSURE(n > 0 && n <= 64 * 1024, VMESH_ERR_TOO_LARGE, "certificate of %zu bytes (cap 65536)", n);
    x = parse_der_cached(der, n);
    VMESH_ENSURE(x != NULL, VMESH_ERR_PARSE, "not a DER X.509 certificate (%zu bytes)", n);
    VMESH_GUARD(vmesh_ccpki_add_x509(p, x));
out:
    X509_free(x);
    return rc;
}

vmesh_err vmesh_ccpki_add_pem(vmesh_ccpki_pool *p, const char *pem, size_t n)
{
    vmesh_err rc = VMESH_OK;
    BIO *b = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    size_t found = 0;
    X509_CRL *crl = NULL;

    VMESH_ENSURE(n <= VMESH_CCPKI_MAX_PEM, VMESH_ERR_TOO_LARGE, "PEM text of %zu bytes (cap %zu)", n,
                 VMESH_CCPKI_MAX_PEM);
    b = BIO_new_mem_buf(pem, (int)n);
    VMESH_ENSURE(b != NULL, VMESH_ERR_NOMEM, "out of memory");
    while (PEM_read_bio(b, &name, &header, &data, &len) == 1) {
        if (strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0) {
            rc = vmesh_ccpki_add_der(p, data, (size_t)len);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "PEM certificate %zu", found);
                goto out;
            }
            found++;
        } else if (strcmp(name, PEM_STRING_X509_CRL) == 0) {
            const unsigned char *q = data;

            VMESH_ENSURE(p->ncrls < VMESH_CCPKI_MAX_CRLS, VMESH_ERR_TOO_LARGE, "more than %d CRLs",
                         VMESH_CCPKI_MAX_CRLS);
            crl = d2i_X509_CRL(NULL, &q, len);
            VMESH_ENSURE(crl != NULL && q == data + len, VMESH_ERR_PARSE, "PEM CRL %zu is not a DER CRL", found);
            p->crls[p->ncrls++] = crl;
            crl = NULL;
            found++;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        name = header = NULL;
        data = NULL;
    }
    VMESH_ENSURE(found > 0, VMESH_ERR_PARSE, "the PEM text holds no certificate or CRL");
out:
    ERR_clear_error();
    X509_CRL_free(crl);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(b);
    return rc;
}

vmesh_err vmesh_ccpki_pin(vmesh_ccpki_pool *p, const uint8_t fp[32])
{
    vmesh_err rc = VMESH_OK;

    for (size_t i = 0; i < p->npins; i++)
        if (memcmp(p->pins[i], fp, 32) == 0)
            goto out;
    VMESH_ENSURE(p->npins < VMESH_CCPKI_MAX_PINS, VMESH_ERR_TOO_LARGE, "more than %d pinned roots",
                 VMESH_CCPKI_MAX_PINS);
    memcpy(p->pins[p->npins++], fp, 32);
out:
    return rc;
}

static vmesh_err pin_hex(vmesh_ccpki_pool *p, const char *hex)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    rc = vmesh_hex_decode(hex, strlen(hex), &b);
    VMESH_ENSURE(rc == VMESH_OK && b.len == 32, VMESH_ERR_PARSE,
                 "root fingerprint \"%.80s\" is not 64 hex digits (SHA-256)", hex);
    VMESH_GUARD(vmesh_ccpki_pin(p, b.data));
out:
    vmesh_buf_free(&b);
    return rc;
}

#define ATTR_MAX 64

vmesh_err vmesh_ccpki_load_rv(vmesh_ccpki_pool *p, const vmesh_rv_store *rv, const char *scheme,
                              const uint8_t *class_id, size_t class_len, const char *const *builtin_pins)
{
    vmesh_err rc = VMESH_OK;
    const char *v[ATTR_MAX];
    size_t n;
    bool builtin = true;

    if (rv != NULL) {
        n = vmesh_rv_find_attrs(rv, scheme, class_id, class_len, VMESH_CCPKI_ATTR_BUILTIN_ROOTS, v, ATTR_MAX);
        for (size_t i = 0; i < n && i < ATTR_MAX; i++)
            if (strcmp(v[i], "off") == 0)
                builtin = false;
        n = vmesh_rv_find_attrs(rv, scheme, class_id, class_len, VMESH_CCPKI_ATTR_ROOT_SHA256, v, ATTR_MAX);
        VMESH_ENSURE(n <= ATTR_MAX, VMESH_ERR_TOO_LARGE, "%s: more than %d %s attributes", scheme, ATTR_MAX,
                     VMESH_CCPKI_ATTR_ROOT_SHA256);
        for (size_t i = 0; i < n; i++)
            VMESH_GUARD(pin_hex(p, v[i]));
        n = vmesh_rv_find_attrs(rv, scheme, class_id, class_len, VMESH_CCPKI_ATTR_TA_PEM, v, ATTR_MAX);
        VMESH_ENSURE(n <= ATTR_MAX, VMESH_ERR_TOO_LARGE, "%s: more than %d %s attributes", scheme, ATTR_MAX,
                     VMESH_CCPKI_ATTR_TA_PEM);
        for (size_t i = 0; i < n; i++) {
            rc = vmesh_ccpki_add_pem(p, v[i], strlen(v[i]));
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "%s trust anchor %zu", scheme, i);
                goto out;
            }
        }
        n = vmesh_rv_find_attrs(rv, scheme, class_id, class_len, VMESH_CCPKI_ATTR_CRL_PEM, v, ATTR_MAX);
        VMESH_ENSURE(n <= ATTR_MAX, VMESH_ERR_TOO_LARGE, "%s: more than %d %s attributes", scheme, ATTR_MAX,
                     VMESH_CCPKI_ATTR_CRL_PEM);
        for (size_t i = 0; i < n; i++) {
            rc = vmesh_ccpki_add_pem(p, v[i], strlen(v[i]));
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "%s CRL %zu", scheme, i);
                goto out;
            }
        }
    }
    if (builtin && builtin_pins != NULL)
        for (size_t i = 0; builtin_pins[i] != NULL; i++)
            VMESH_GUARD(pin_hex(p, builtin_pins[i]));
out:
    return rc;
}

size_t vmesh_ccpki_count(const vmesh_ccpki_pool *p)
{
    return p->ncerts;
}

X509 *vmesh_ccpki_at(const vmesh_ccpki_pool *p, size_t i)
{
    return i < p->ncerts ? p->certs[i] : NULL;
}

const ASN1_OCTET_STRING *vmesh_ccpki_ext(X509 *x, const char *oid)
{
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    const ASN1_OCTET_STRING *d = NULL;
    int idx;

    if (o == NULL) {
        ERR_clear_error();
        return NULL;
    }
    idx = X509_get_ext_by_OBJ(x, o, -1);
    if (idx >= 0)
        d = X509_EXTENSION_get_data(X509_get_ext(x, idx));
    ASN1_OBJECT_free(o);
    return d;
}

static bool pinned(const vmesh_ccpki_pool *p, X509 *x)
{
    uint8_t fp[32];

    if (vmesh_ccpki_fingerprint(x, fp) != VMESH_OK)
        return false;
    for (size_t i = 0; i < p->npins; i++)
        if (memcmp(p->pins[i], fp, 32) == 0)
            return true;
    return false;
}

static vmesh_err map_verify_error(int e)
{
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
        return VMESH_ERR_EXPIRED;
    case X509_V_ERR_CERT_REVOKED:
        return VMESH_ERR_POLICY;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return VMESH_ERR_NOT_FOUND;
    default:
        return VMESH_ERR_SIGNATURE;
    }
}

vmesh_err vmesh_ccpki_verify(const vmesh_ccpki_pool *p, X509 *leaf, int64_t at, X509 **root)
{
    vmesh_err rc = VMESH_OK;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *untrusted = NULL;
    STACK_OF(X509) *chain;
    size_t nroots = 0;
    bool want_crl = false;
    char cn[128], bad[128];

    if (root != NULL)
        *root = NULL;
    vmesh_ccpki_cn(leaf, cn, sizeof(cn));
    store = X509_STORE_new();
    untrusted = sk_X509_new_null();
    ctx = X509_STORE_CTX_new();
    VMESH_ENSURE(store != NULL && untrusted != NULL && ctx != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->ncerts; i++) {
        X509 *x = p->certs[i];

        if (X509_cmp(x, leaf) == 0)
            continue;
        if (pinned(p, x)) {
            VMESH_ENSURE(X509_STORE_add_cert(store, x) == 1, VMESH_ERR_CRYPTO, "X509_STORE_add_cert failed");
            nroots++;
        } else {
            VMESH_ENSURE(sk_X509_push(untrusted, x) > 0, VMESH_ERR_NOMEM, "out of memory");
        }
    }
    VMESH_ENSURE(nroots > 0, VMESH_ERR_NOT_FOUND,
                 "certificate \"%s\": no pinned root certificate is available (the evidence or the trust "
                 "anchors must carry the root; its SHA-256 must be pinned)",
                 cn);
    for (size_t i = 0; i < p->ncrls; i++) {
        VMESH_ENSURE(X509_STORE_add_crl(store, p->crls[i]) == 1, VMESH_ERR_CRYPTO, "X509_STORE_add_crl failed");
        if (X509_NAME_cmp(X509_CRL_get_issuer(p->crls[i]), X509_get_issuer_name(leaf)) == 0)
            want_crl = true;
    }
    VMESH_ENSURE(X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1, VMESH_ERR_CRYPTO,
                 "X509_STORE_CTX_init failed");
    /* the verification time is the caller's (e.g. --at), never the clock */
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)at);
    if (want_crl)
        X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_CRL_CHECK);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);

        vmesh_ccpki_cn(X509_STORE_CTX_get_current_cert(ctx), bad, sizeof(bad));
        ERR_clear_error();
        VMESH_FAIL(map_verify_error(e), "certificate chain of \"%s\" does not verify: %s (at \"%s\")", cn,
                   X509_verify_cert_error_string(e), bad);
    }
    chain = X509_STORE_CTX_get0_chain(ctx);
    if (root != NULL && chain != NULL && sk_X509_num(chain) > 0) {
        X509 *top = sk_X509_value(chain, sk_X509_num(chain) - 1);

        for (size_t i = 0; i < p->ncerts; i++)
            if (X509_cmp(p->certs[i], top) == 0)
                *root = p->certs[i];
    }
out:
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return rc;
}

vmesh_err vmesh_ccpki_der_to_pem(const uint8_t *der, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    const unsigned char *q = der;
    X509 *x = NULL;
    X509_CRL *crl = NULL;
    BIO *b = NULL;
    char *mem;
    long len;

    VMESH_ENSURE(n > 0 && n <= VMESH_CCPKI_MAX_PEM, VMESH_ERR_TOO_LARGE, "DER object of %zu bytes", n);
    b = BIO_new(BIO_s_mem());
    VMESH_ENSURE(b != NULL, VMESH_ERR_NOMEM, "out of memory");
    x = d2i_X509(NULL, &q, (long)n);
    if (x != NULL && q == der + n) {
        VMESH_ENSURE(PEM_write_bio_X509(b, x) == 1, VMESH_ERR_CRYPTO, "PEM_write_bio_X509 failed");
    } else {
        q = der;
        crl = d2i_X509_CRL(NULL, &q, (long)n);
        VMESH_ENSURE(crl != NULL && q == der + n, VMESH_ERR_PARSE, "not a DER certificate or CRL");
        VMESH_ENSURE(PEM_write_bio_X509_CRL(b, crl) == 1, VMESH_ERR_CRYPTO, "PEM_write_bio_X509_CRL failed");
    }
    len = BIO_get_mem_data(b, &mem);
    VMESH_ENSURE(len > 0, VMESH_ERR_CRYPTO, "empty PEM");
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_buf_append(out, mem, (size_t)len));
    VMESH_GUARD(vmesh_buf_terminate(out));
out:
    ERR_clear_error();
    X509_free(x);
    X509_CRL_free(crl);
    BIO_free(b);
    return rc;
}
