/*
 * Trust-anchor files -> RV store attributes and keys (include/vmesh/ccpki.h).
 * Each certificate becomes one "ta-pem" attribute, each CRL one "crl-pem",
 * TDX collateral one "collateral", a public key one endorsed key, all in
 * the environment (scheme, class id = scheme name). It must never store
 * something it could not parse, and never a private key.
 */
#include "vmesh/ccpki.h"
#include "vmesh/crypto.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string.h>

static vmesh_rv_env env_of(const char *scheme)
{
    vmesh_rv_env e;

    memset(&e, 0, sizeof(e));
    e.scheme = scheme;
    e.class_id = (const uint8_t *)scheme;
    e.class_id_len = strlen(scheme);
    return e;
}

static bool has(const uint8_t *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, needle, k) == 0)
            return true;
    return false;
}

static vmesh_err add_pem_objects(vmesh_rv_store *s, const vmesh_rv_env *e, const uint8_t *p, size_t n,
                                 const char *source)
{
    vmesh_err rc = VMESH_OK;
    BIO *in = NULL, *out = NULL;
    STACK_OF(X509_INFO) *infos = NULL;
    vmesh_buf text = {0};
    size_t found = 0;

    in = BIO_new_mem_buf(p, (int)n);
    VMESH_ENSURE(in != NULL, VMESH_ERR_NOMEM, "out of memory");
    infos = PEM_X509_INFO_read_bio(in, NULL, NULL, NULL);
    ERR_clear_error();
    VMESH_ENSURE(infos != NULL, VMESH_ERR_PARSE, "trust anchor %s: unreadable PEM", source);
    for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *xi = sk_X509_INFO_value(infos, i);
        char *mem;
        long len;

        if (xi->x509 == NULL && xi->crl == NULL)
            continue;
        BIO_free(out);
        out = BIO_new(BIO_s_mem());
        VMESH_ENSURE(out != NULL, VMESH_ERR_NOMEM, "out of memory");
        if (xi->x509 != NULL)
            VMESH_ENSURE(PEM_write_bio_X509(out, xi->x509) == 1, VMESH_ERR_CRYPTO, "PEM_write_bio_X509 failed");
        else
            VMESH_ENSURE(PEM_write_bio_X509_CRL(out, xi->crl) == 1, VMESH_ERR_CRYPTO,
                         "PEM_write_bio_X509_CRL failed");
        len = BIO_get_mem_data(out, &mem);
        vmesh_buf_reset(&text);
        VMESH_GUARD(vmesh_buf_append(&text, mem, (size_t)len));
        VMESH_GUARD(vmesh_buf_terminate(&text));
        rc = vmesh_rv_add_attr(s, e, xi->x509 != NULL ? VMESH_CCPKI_ATTR_TA_PEM : VMESH_CCPKI_ATTR_CRL_PEM,
                               (const char *)text.data);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "trust anchor %s, object %d", source, i);
            goto out;
        }
        found++;
    }
    VMESH_ENSURE(found > 0, VMESH_ERR_PARSE, "trust anchor %s: no certificate or CRL in the PEM text", source);
out:
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    BIO_free(in);
    BIO_free(out);
    vmesh_buf_free(&text);
    return rc;
}

vmesh_err vmesh_ccpki_ta_load(vmesh_rv_store *s, const char *scheme, const uint8_t *p, size_t n, const char *source)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_env e;
    vmesh_buf text = {0};
    vmesh_key *k = NULL;
    size_t i = 0;

    VMESH_ENSURE(s != NULL && scheme != NULL && p != NULL, VMESH_ERR_ARG, "trust anchor: missing argument");
    if (source == NULL)
        source = "(memory)";
    if (strcmp(scheme, "tsm") == 0) {
        /* the tsm wrapper is appraised by sev-snp or tdx: both get it */
        VMESH_GUARD(vmesh_ccpki_ta_load(s, "sev-snp", p, n, source));
        VMESH_GUARD(vmesh_ccpki_ta_load(s, "tdx", p, n, source));
        goto out;
    }
    VMESH_ENSURE(n > 0 && n <= VMESH_CCPKI_MAX_TA_FILE, VMESH_ERR_TOO_LARGE, "trust anchor %s is %zu bytes (1 to %zu)",
                 source, n, VMESH_CCPKI_MAX_TA_FILE);
    e = env_of(scheme);
    if (has(p, n, "-----BEGIN CERTIFICATE-----") || has(p, n, "-----BEGIN X509 CRL-----")) {
        VMESH_GUARD(add_pem_objects(s, &e, p, n, source));
        goto out;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    if (i < n && p[i] == '{' && (has(p, n, "\"tcbInfo\"") || has(p, n, "\"enclaveIdentity\""))) {
        size_t end = n;

        while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\n' || p[end - 1] == '\r' || p[end - 1] == '\t'))
            end--;
        VMESH_GUARD(vmesh_buf_append(&text, p + i, end - i));
        VMESH_GUARD(vmesh_buf_terminate(&text));
        VMESH_ENSURE(strlen((const char *)text.data) == text.len, VMESH_ERR_PARSE,
                     "trust anchor %s: collateral contains a NUL byte", source);
        rc = vmesh_rv_add_attr(s, &e, VMESH_CCPKI_ATTR_COLLATERAL, (const char *)text.data);
        if (rc != VMESH_OK)
            vmesh_err_wrap(rc, "trust anchor %s (collateral)", source);
        goto out;
    }
    if (p[0] == 0x30) {
        rc = vmesh_ccpki_der_to_pem(p, n, &text);
        if (rc == VMESH_OK) {
            VMESH_GUARD(add_pem_objects(s, &e, text.data, text.len, source));
            goto out;
        }
    }
    rc = vmesh_crypto_key_parse(p, n, &k);
    VMESH_ENSURE(rc == VMESH_OK, VMESH_ERR_PARSE,
                 "trust anchor %s is not a certificate, CRL, TDX collateral (TCB Info / QE Identity JSON) or "
                 "public key",
                 source);
    VMESH_ENSURE(!vmesh_crypto_key_is_private(k), VMESH_ERR_ARG,
                 "trust anchor %s holds a private key; give the public key only", source);
    VMESH_GUARD(vmesh_rv_add_key(s, &e, k));
out:
    vmesh_crypto_key_free(k);
    vmesh_buf_free(&text);
    return rc;
}

vmesh_err vmesh_ccpki_ta_load_file(vmesh_rv_store *s, const char *scheme, const char *path)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    rc = vmesh_file_read(path, VMESH_CCPKI_MAX_TA_FILE, &b);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "trust anchor %s", path);
        goto out;
    }
    VMESH_GUARD(vmesh_ccpki_ta_load(s, scheme, b.data, b.len, path));
out:
    vmesh_buf_free(&b);
    return rc;
}
