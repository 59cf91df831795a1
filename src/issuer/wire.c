/*
 * The issuer's wire (include/vmesh/issuer.h): request and answer payloads
 * through the one CBOR reader (strict: no unknown or duplicate keys,
 * definite lengths, nothing after the map, every length checked against
 * its cap before use), the CSR check and the issuance binder. Pure
 * functions over bytes a hostile peer sends; fuzzed (fuzz.issuer_wire).
 */
#include "issuer_int.h"

#include "vmesh/cbor.h"
#include "vmesh/pki.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

vmesh_err vmesh_issuer_request_encode(const uint8_t *csr, size_t csr_len, uint64_t ttl, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(csr_len >= 1 && csr_len <= VMESH_ISSUER_CSR_MAX, VMESH_ERR_ARG, "issuer request: CSR must be 1..%zu bytes",
                 VMESH_ISSUER_CSR_MAX);
    VMESH_GUARD(vmesh_cbor_put_map(out, ttl ? 3 : 2));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_text(out, VMESH_ISSUER_OP));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, csr, csr_len));
    if (ttl) {
        VMESH_GUARD(vmesh_cbor_put_uint(out, 3));
        VMESH_GUARD(vmesh_cbor_put_uint(out, ttl));
    }
out:
    return rc;
}

vmesh_err vmesh_issuer_request_decode(const uint8_t *p, size_t n, const uint8_t **csr, size_t *csr_len, uint64_t *ttl)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count, key;
    bool seen[4] = {false, false, false, false};
    const char *op;
    size_t oplen;

    *csr = NULL;
    *csr_len = 0;
    *ttl = 0;
    VMESH_ENSURE(n <= VMESH_ISSUER_REQUEST_MAX, VMESH_ERR_TOO_LARGE, "issuer request of %zu bytes is above the cap of %zu",
                 n, VMESH_ISSUER_REQUEST_MAX);
    vmesh_cbor_init(&r, p, n, "issuer request", 0);
    VMESH_GUARD(vmesh_cbor_read_map(&r, &count, 3, "the request"));
    VMESH_ENSURE(count >= 2, VMESH_ERR_PARSE, "issuer request: expected {1: \"%s\", 2: CSR, ? 3: ttl}",
                 VMESH_ISSUER_OP);
    for (uint64_t i = 0; i < count; i++) {
        VMESH_GUARD(vmesh_cbor_read_uint(&r, &key, "a map key"));
        VMESH_ENSURE(key >= 1 && key <= 3, VMESH_ERR_PARSE, "issuer request: unknown key %llu", (unsigned long long)key);
        VMESH_ENSURE(!seen[key], VMESH_ERR_PARSE, "issuer request: duplicate key %llu", (unsigned long long)key);
        seen[key] = true;
        if (key == 1) {
            VMESH_GUARD(vmesh_cbor_read_tstr(&r, 64, &op, &oplen, "operation (key 1)"));
            VMESH_ENSURE(oplen == sizeof(VMESH_ISSUER_OP) - 1 && memcmp(op, VMESH_ISSUER_OP, oplen) == 0,
                         VMESH_ERR_UNSUPPORTED, "issuer request: operation \"%.*s\", this issuer speaks \"%s\"",
                         (int)oplen, op, VMESH_ISSUER_OP);
        } else if (key == 2) {
            VMESH_GUARD(vmesh_cbor_read_bstr(&r, VMESH_ISSUER_CSR_MAX, csr, csr_len, "CSR (key 2)"));
            VMESH_ENSURE(*csr_len > 0, VMESH_ERR_PARSE, "issuer request: the CSR (key 2) is empty");
        } else {
            VMESH_GUARD(vmesh_cbor_read_uint(&r, ttl, "ttl (key 3)"));
            VMESH_ENSURE(*ttl > 0, VMESH_ERR_PARSE, "issuer request: ttl (key 3) is 0; leave it out for the maximum");
        }
    }
    VMESH_ENSURE(seen[1] && seen[2], VMESH_ERR_PARSE, "issuer request: key %d is missing", seen[1] ? 2 : 1);
    VMESH_GUARD(vmesh_cbor_end(&r, "the CBOR map"));
out:
    if (rc != VMESH_OK) {
        *csr = NULL;
        *csr_len = 0;
        *ttl = 0;
    }
    return rc;
}

void vmesh_issuer_answer_init(vmesh_issuer_answer *a)
{
    memset(a, 0, sizeof(*a));
    vmesh_buf_init(&a->chain, VMESH_ISSUER_ANSWER_MAX);
}

void vmesh_issuer_answer_free(vmesh_issuer_answer *a)
{
    vmesh_buf_free(&a->chain);
    memset(a, 0, sizeof(*a));
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > VMESH_ISSUER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

vmesh_err vmesh_issuer_answer_encode(unsigned status, const char *name, const char *detail, const uint8_t *chain,
                                     size_t chain_len, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    size_t dl = detail ? strlen(detail) : 0;

    VMESH_ENSURE(status >= 100 && status <= 599 && name_ok(name, strlen(name)) && (status == 200) == (chain_len > 0),
                 VMESH_ERR_ARG, "issuer answer: bad status, name or chain");
    if (dl > VMESH_ISSUER_DETAIL_MAX)
        dl = VMESH_ISSUER_DETAIL_MAX;
    while (dl > 0 && ((unsigned char)detail[dl] & 0xc0) == 0x80) /* never cut a UTF-8 sequence */
        dl--;
    VMESH_GUARD(vmesh_cbor_put_map(out, chain_len ? 4 : 3));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(out, status));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
    VMESH_GUARD(vmesh_cbor_put_text(out, name));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 3));
    VMESH_GUARD(vmesh_cbor_put_tstr(out, detail ? detail : "", dl));
    if (chain_len) {
        VMESH_GUARD(vmesh_cbor_put_uint(out, 4));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, chain, chain_len));
    }
out:
    return rc;
}

vmesh_err vmesh_issuer_answer_decode(const uint8_t *p, size_t n, vmesh_issuer_answer *a)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count, key, st = 0;
    bool seen[5] = {false, false, false, false, false};
    const char *s;
    size_t sl;
    const uint8_t *b;
    size_t bl;

    vmesh_buf_reset(&a->chain);
    a->status = 0;
    a->name[0] = a->detail[0] = '\0';
    VMESH_ENSURE(n <= VMESH_ISSUER_ANSWER_MAX, VMESH_ERR_TOO_LARGE, "issuer answer of %zu bytes is above the cap of %zu", n,
                 VMESH_ISSUER_ANSWER_MAX);
    vmesh_cbor_init(&r, p, n, "issuer answer", 0);
    VMESH_GUARD(vmesh_cbor_read_map(&r, &count, 4, "the answer"));
    VMESH_ENSURE(count >= 3, VMESH_ERR_PARSE, "issuer answer: expected {1: status, 2: name, 3: detail, ? 4: chain}");
    for (uint64_t i = 0; i < count; i++) {
        VMESH_GUARD(vmesh_cbor_read_uint(&r, &key, "a map key"));
        VMESH_ENSURE(key >= 1 && key <= 4, VMESH_ERR_PARSE, "issuer answer: unknown key %llu", (unsigned long long)key);
        VMESH_ENSURE(!seen[key], VMESH_ERR_PARSE, "issuer answer: duplicate key %llu", (unsigned long long)key);
        seen[key] = true;
        if (key == 1) {
            VMESH_GUARD(vmesh_cbor_read_uint(&r, &st, "status (key 1)"));
            VMESH_ENSURE(st >= 100 && st <= 599, VMESH_ERR_PARSE, "issuer answer: status %llu is not 100..599",
                         (unsigned long long)st);
        } else if (key == 2) {
            VMESH_GUARD(vmesh_cbor_read_tstr(&r, VMESH_ISSUER_NAME_MAX, &s, &sl, "name (key 2)"));
            VMESH_ENSURE(name_ok(s, sl), VMESH_ERR_PARSE, "issuer answer: the name (key 2) is not 1..%d of [a-z0-9-]",
                         VMESH_ISSUER_NAME_MAX);
            memcpy(a->name, s, sl);
            a->name[sl] = '\0';
        } else if (key == 3) {
            VMESH_GUARD(vmesh_cbor_read_tstr(&r, VMESH_ISSUER_DETAIL_MAX, &s, &sl, "detail (key 3)"));
            VMESH_ENSURE(memchr(s, '\0', sl) == NULL, VMESH_ERR_PARSE, "issuer answer: the detail holds a NUL");
            memcpy(a->detail, s, sl);
            a->detail[sl] = '\0';
        } else {
            VMESH_GUARD(vmesh_cbor_read_bstr(&r, VMESH_ISSUER_ANSWER_MAX, &b, &bl, "chain (key 4)"));
            VMESH_ENSURE(bl > 0, VMESH_ERR_PARSE, "issuer answer: the chain (key 4) is empty");
            VMESH_GUARD(vmesh_buf_set(&a->chain, b, bl));
        }
    }
    VMESH_ENSURE(seen[1] && seen[2] && seen[3], VMESH_ERR_PARSE, "issuer answer: status, name and detail are required");
    VMESH_ENSURE((st == 200) == seen[4], VMESH_ERR_PARSE, "issuer answer: status %llu %s a chain",
                 (unsigned long long)st, st == 200 ? "without" : "with");
    VMESH_GUARD(vmesh_cbor_end(&r, "the CBOR map"));
    a->status = (unsigned)st;
out:
    if (rc != VMESH_OK) {
        vmesh_buf_reset(&a->chain);
        a->status = 0;
        a->name[0] = a->detail[0] = '\0';
    }
    return rc;
}

/* ---- CSR ------------------------------------------------------------------------------ */

#define REFUSE(st, nm, ...)                                                                                          \
    do {                                                                                                             \
        *status = (st);                                                                                              \
        *name = (nm);                                                                                                \
        rc = vmesh_err_set(VMESH_ERR_POLICY, __VA_ARGS__);                                                           \
        goto out;                                                                                                    \
    } while (0)

vmesh_err vmesh_issuer_csr_check(const uint8_t *der, size_t n, const char *id, vmesh_buf *spki, unsigned *status,
                                 const char **name)
{
    vmesh_err rc = VMESH_OK;
    const unsigned char *q = der;
    X509_REQ *req = NULL;
    EVP_PKEY *pk = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *sans = NULL;
    unsigned char *sd = NULL;
    int sl, crit = -1;
    char curve[32];
    size_t cl = 0;

    *status = 400;
    *name = "malformed";
    vmesh_buf_reset(spki);
    if (n == 0 || n > VMESH_ISSUER_CSR_MAX)
        REFUSE(400, "malformed", "CSR: %zu bytes, expected 1..%zu", n, VMESH_ISSUER_CSR_MAX);
    req = d2i_X509_REQ(NULL, &q, (long)n);
    ERR_clear_error();
    if (req == NULL)
        REFUSE(400, "malformed", "CSR: not a DER PKCS#10 certification request");
    if ((size_t)(q - der) != n)
        REFUSE(400, "malformed", "CSR: %zu bytes follow the certification request", n - (size_t)(q - der));
    pk = X509_REQ_get_pubkey(req);
    ERR_clear_error();
    if (pk == NULL)
        REFUSE(400, "malformed", "CSR: its public key does not decode");
    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(pk, "group", curve, sizeof(curve), &cl) != 1 || strcmp(curve, "prime256v1") != 0)
        REFUSE(400, "unsupported-key", "CSR: the key is not EC P-256 (a key-bound AK is)");
    if (X509_REQ_verify(req, pk) != 1) {
        ERR_clear_error();
        REFUSE(400, "pop-failed", "CSR: its signature does not verify with its own key (no proof of possession)");
    }
    exts = X509_REQ_get_extensions(req);
    ERR_clear_error();
    if (exts != NULL) {
        sans = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
        ERR_clear_error();
        if (sans == NULL && crit != -1)
            REFUSE(400, "malformed", "CSR: the subjectAltName extension %s", crit == -2 ? "appears twice" : "does not decode");
    }
    if (sans != NULL) {
        int k = sk_GENERAL_NAME_num(sans);
        const GENERAL_NAME *g = k == 1 ? sk_GENERAL_NAME_value(sans, 0) : NULL;
        const unsigned char *u;
        int ul;

        if (g == NULL || g->type != GEN_URI)
            REFUSE(403, "identity-refused", "CSR: asks for %d subjectAltNames or a non-URI one; the SVID names exactly the "
                   "client certificate's SPIFFE ID %s", k, id);
        u = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        ul = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        if (ul < 0 || (size_t)ul != strlen(id) || memcmp(u, id, (size_t)ul) != 0)
            REFUSE(403, "identity-refused", "CSR asks for \"%.*s\"; this client's certificate is %s, the only identity "
                   "it can get", ul > 200 ? 200 : (ul < 0 ? 0 : ul), (const char *)u, id);
    }
    sl = i2d_PUBKEY(pk, &sd);
    if (sl <= 0) {
        ERR_clear_error();
        REFUSE(400, "malformed", "CSR: its public key does not encode");
    }
    rc = vmesh_buf_set(spki, sd, (size_t)sl);
    *status = 200;
    *name = "ok";
out:
    OPENSSL_free(sd);
    GENERAL_NAMES_free(sans);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    EVP_PKEY_free(pk);
    X509_REQ_free(req);
    return rc;
}

vmesh_err vmesh_issuer_csr_make(const vmesh_key *key, const char *id, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_EXTENSION *ext = NULL;
    X509_NAME *nm;
    unsigned char *d = NULL;
    char san[VMESH_PKI_SPIFFE_ID_MAX + 8];
    int dl;

    vmesh_buf_reset(out);
    VMESH_ENSURE(req != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_ENSURE(X509_REQ_set_version(req, 0) == 1 && X509_REQ_set_pubkey(req, vmesh_crypto_key_evp(key)) == 1,
                 VMESH_ERR_CRYPTO, "CSR: setting the key");
    nm = X509_REQ_get_subject_name(req);
    VMESH_ENSURE(X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8, (const unsigned char *)"vmesh", -1, -1, 0) == 1,
                 VMESH_ERR_CRYPTO, "CSR: setting the subject");
    if (id != NULL) {
        snprintf(san, sizeof(san), "URI:%s", id);
        ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        exts = sk_X509_EXTENSION_new_null();
        VMESH_ENSURE(ext != NULL && exts != NULL && sk_X509_EXTENSION_push(exts, ext) > 0, VMESH_ERR_CRYPTO,
                     "CSR: building the subjectAltName");
        ext = NULL;
        VMESH_ENSURE(X509_REQ_add_extensions(req, exts) == 1, VMESH_ERR_CRYPTO, "CSR: adding the extensions");
    }
    /* The AK signs its own CSR: a DER SEQUENCE, never a 32-byte binder or a
     * TLS CertificateVerify input (D44). */
    VMESH_ENSURE(X509_REQ_sign(req, vmesh_crypto_key_evp(key), EVP_sha256()) > 0, VMESH_ERR_CRYPTO, "CSR: signing");
    dl = i2d_X509_REQ(req, &d);
    VMESH_ENSURE(dl > 0, VMESH_ERR_CRYPTO, "CSR: encoding");
    VMESH_GUARD(vmesh_buf_set(out, d, (size_t)dl));
out:
    if (rc != VMESH_OK)
        ERR_clear_error();
    OPENSSL_free(d);
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return rc;
}

vmesh_err vmesh_issuer_conn_binder(vmesh_atls_conn *conn, uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    SSL *ssl = vmesh_atls_conn_ssl(conn);
    X509 *leaf;
    unsigned char *sd = NULL;
    int sl;
    uint8_t exporter[32], ctxb = (uint8_t)VMESH_ATLS_CLIENT;

    VMESH_ENSURE(ssl != NULL, VMESH_ERR_STATE, "issuer: no TLS session");
    /* The client's leaf: our own certificate on the client, the peer's on the server. */
    leaf = SSL_is_server(ssl) ? SSL_get0_peer_certificate(ssl) : SSL_get_certificate(ssl);
    VMESH_ENSURE(leaf != NULL, VMESH_ERR_STATE, "issuer: the client has no certificate");
    sl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &sd);
    VMESH_ENSURE(sl > 0, VMESH_ERR_CRYPTO, "issuer: encoding the client's SPKI");
    VMESH_ENSURE(SSL_export_keying_material(ssl, exporter, sizeof(exporter), VMESH_ATLS_EXPORTER_LABEL,
                                            sizeof(VMESH_ATLS_EXPORTER_LABEL) - 1, &ctxb, 1, 1) == 1,
                 VMESH_ERR_STATE, "issuer: the TLS exporter is not available");
    vmesh_atls_binder_compute(VMESH_ATLS_CLIENT, exporter, sd, (size_t)sl, out);
    OPENSSL_cleanse(exporter, sizeof(exporter));
out:
    if (rc != VMESH_OK)
        ERR_clear_error();
    OPENSSL_free(sd);
    return rc;
}
