/*
 * SPIFFE identities: syntax of SPIFFE IDs (SPIFFE-ID standard §2), the
 * identity of an X509-SVID (exactly one URI SAN, X509-SVID §2) and the
 * pattern matching the proxy's policy rules use. It parses untrusted peer
 * certificates: it must never accept an ambiguous identity (several URI
 * SANs, percent-encoding, dot segments) and never read past a length.
 */
#include "vmesh/pki.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEME "spiffe://"
#define SCHEME_LEN 9

static bool td_char(char c)
{
    /* SPIFFE-ID §2.1: "Trust domain names are ... [composed of] lowercase
     * letters, numbers, dots, dashes, and underscores." */
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool path_char(char c)
{
    /* SPIFFE-ID §2.2: "Valid characters are limited to letters, numbers,
     * dots, dashes, and underscores ([a-zA-Z0-9.-_])." */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static vmesh_err td_check(const char *td, size_t n)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "SPIFFE trust domain is empty");
    VMESH_ENSURE(n <= VMESH_PKI_TRUST_DOMAIN_MAX, VMESH_ERR_PARSE,
                 "SPIFFE trust domain is %zu bytes, at most %d allowed", n,
                 VMESH_PKI_TRUST_DOMAIN_MAX);
    for (size_t i = 0; i < n; i++)
        VMESH_ENSURE(td_char(td[i]), VMESH_ERR_PARSE,
                     "SPIFFE trust domain has character 0x%02x at offset %zu; only lower-case "
                     "letters, digits, '.', '-' and '_' are allowed",
                     (unsigned char)td[i], i);
out:
    return rc;
}

vmesh_err vmesh_pki_trust_domain_validate(const char *td)
{
    if (td == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "SPIFFE trust domain is missing");
    return td_check(td, strnlen(td, VMESH_PKI_TRUST_DOMAIN_MAX + 1));
}

/* Validates id[0..n) and returns the length of its trust domain. */
static vmesh_err id_check(const char *id, size_t n, size_t *td_len)
{
    vmesh_err rc = VMESH_OK;
    const char *td, *slash, *p, *end = id + n;

    VMESH_ENSURE(n <= VMESH_PKI_SPIFFE_ID_MAX, VMESH_ERR_PARSE,
                 "SPIFFE ID is longer than %d bytes", VMESH_PKI_SPIFFE_ID_MAX);
    /* §2: "The scheme and trust domain name are case-insensitive" in URIs,
     * but §2.1 requires them lower case: "spiffe" must be written so. */
    VMESH_ENSURE(n >= SCHEME_LEN && memcmp(id, SCHEME, SCHEME_LEN) == 0, VMESH_ERR_PARSE,
                 "SPIFFE ID must start with \"spiffe://\"");
    td = id + SCHEME_LEN;
    slash = memchr(td, '/', (size_t)(end - td));
    *td_len = (size_t)((slash ? slash : end) - td);
    VMESH_GUARD(td_check(td, *td_len));
    if (slash == NULL)
        goto out;
    /* §2.2: "Paths MUST NOT include percent-encoded characters ... empty
     * segments, or relative path modifiers ('.' and '..')", "MUST NOT
     * end with a trailing /". */
    p = slash;
    while (p < end) {
        const char *seg = p + 1, *next = memchr(seg, '/', (size_t)(end - seg));
        size_t sl = (size_t)((next ? next : end) - seg);

        VMESH_ENSURE(sl > 0, VMESH_ERR_PARSE,
                     "SPIFFE ID path has an empty segment (\"//\" or a trailing '/')");
        VMESH_ENSURE(!(sl == 1 && seg[0] == '.') && !(sl == 2 && seg[0] == '.' && seg[1] == '.'),
                     VMESH_ERR_PARSE, "SPIFFE ID path has a '.' or '..' segment");
        for (size_t i = 0; i < sl; i++)
            VMESH_ENSURE(path_char(seg[i]), VMESH_ERR_PARSE,
                         "SPIFFE ID path has character 0x%02x; only letters, digits, '.', '-' "
                         "and '_' are allowed",
                         (unsigned char)seg[i]);
        p = seg + sl;
    }
out:
    return rc;
}

vmesh_err vmesh_pki_spiffe_id_validate(const char *id)
{
    size_t tdl;

    if (id == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "SPIFFE ID is missing");
    return id_check(id, strnlen(id, VMESH_PKI_SPIFFE_ID_MAX + 1), &tdl);
}

vmesh_err vmesh_pki_spiffe_id_trust_domain(const char *id, char **out)
{
    vmesh_err rc = VMESH_OK;
    size_t tdl = 0;

    *out = NULL;
    VMESH_ENSURE(id != NULL, VMESH_ERR_ARG, "SPIFFE ID is missing");
    VMESH_GUARD(id_check(id, strnlen(id, VMESH_PKI_SPIFFE_ID_MAX + 1), &tdl));
    *out = strndup(id + SCHEME_LEN, tdl);
    VMESH_ENSURE(*out != NULL, VMESH_ERR_NOMEM, "out of memory");
out:
    return rc;
}

vmesh_err vmesh_pki_scope_entry_validate(const char *e, size_t len)
{
    char buf[VMESH_PKI_SPIFFE_ID_MAX + 2];

    if (e == NULL || len == 0 || len >= sizeof(buf))
        return vmesh_err_set(VMESH_ERR_ARG, "an empty or over-long scope entry (at most %d bytes)",
                             VMESH_PKI_SPIFFE_ID_MAX);
    memcpy(buf, e, len);
    buf[len] = '\0';
    if (strncmp(buf, "spiffe://", SCHEME_LEN) != 0) {
        if (vmesh_pki_trust_domain_validate(buf) != VMESH_OK)
            return vmesh_err_set(VMESH_ERR_ARG,
                                 "scope entry \"%.100s\" is not a trust domain (a name like x.example) or a "
                                 "SPIFFE ID prefix (spiffe://<trust-domain>/<path...>): %s",
                                 buf, vmesh_err_detail());
        return VMESH_OK;
    }
    /* A prefix is a SPIFFE ID with a path, a trailing '/' allowed. */
    if (buf[len - 1] == '/')
        buf[--len] = '\0';
    if (len <= SCHEME_LEN || memchr(buf + SCHEME_LEN, '/', len - SCHEME_LEN) == NULL)
        return vmesh_err_set(VMESH_ERR_ARG,
                             "scope entry \"%.100s\" is not a SPIFFE ID prefix: it needs a path "
                             "(spiffe://<trust-domain>/<path...>; a whole domain is written without spiffe://)",
                             buf);
    if (vmesh_pki_spiffe_id_validate(buf) != VMESH_OK)
        return vmesh_err_set(VMESH_ERR_ARG, "scope entry \"%.100s\" is not a SPIFFE ID prefix: %s", buf,
                             vmesh_err_detail());
    return VMESH_OK;
}

const char *vmesh_pki_scope_match(char *const *entries, size_t n, const char *peer)
{
    const char *td, *slash;
    size_t tdlen;

    if (peer == NULL || strncmp(peer, "spiffe://", SCHEME_LEN) != 0)
        return NULL;
    td = peer + SCHEME_LEN;
    slash = strchr(td, '/');
    tdlen = slash ? (size_t)(slash - td) : strlen(td);
    for (size_t i = 0; entries != NULL && i < n; i++) {
        const char *e = entries[i];
        size_t len = strlen(e);
        if (len == 0)
            continue;
        if (strncmp(e, "spiffe://", SCHEME_LEN) != 0) {
            if (len == tdlen && strncmp(e, td, tdlen) == 0)
                return e;
        } else if (strncmp(peer, e, len) == 0 && (e[len - 1] == '/' || peer[len] == '\0' || peer[len] == '/')) {
            return e;
        }
    }
    return NULL;
}

vmesh_err vmesh_pki_spiffe_id_from_cert(X509 *cert, char **out)
{
    vmesh_err rc = VMESH_OK;
    GENERAL_NAMES *sans = NULL;
    const ASN1_IA5STRING *uri = NULL;
    int nuri = 0, crit = -1;
    size_t tdl;

    *out = NULL;
    VMESH_ENSURE(cert != NULL, VMESH_ERR_ARG, "no certificate");
    sans = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
    VMESH_ENSURE(sans != NULL, VMESH_ERR_PARSE,
                 crit == -2 ? "certificate has several subjectAltName extensions"
                            : "certificate has no subjectAltName extension, so no SPIFFE ID");
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

        if (gn->type == GEN_URI) {
            nuri++;
            uri = gn->d.uniformResourceIdentifier;
        }
    }
    /* X509-SVID §2: "An X.509 SVID MUST contain exactly one URI SAN". */
    VMESH_ENSURE(nuri == 1, VMESH_ERR_PARSE,
                 "certificate has %d URI SANs; an X509-SVID must have exactly one", nuri);
    VMESH_ENSURE(uri->length > 0 && uri->length <= VMESH_PKI_SPIFFE_ID_MAX, VMESH_ERR_PARSE,
                 "certificate URI SAN is empty or longer than %d bytes", VMESH_PKI_SPIFFE_ID_MAX);
    VMESH_ENSURE(memchr(uri->data, 0, (size_t)uri->length) == NULL, VMESH_ERR_PARSE,
                 "certificate URI SAN contains a NUL byte");
    rc = id_check((const char *)uri->data, (size_t)uri->length, &tdl);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "certificate URI SAN is not a SPIFFE ID");
        goto out;
    }
    *out = strndup((const char *)uri->data, (size_t)uri->length);
    VMESH_ENSURE(*out != NULL, VMESH_ERR_NOMEM, "out of memory");
out:
    GENERAL_NAMES_free(sans);
    return rc;
}

vmesh_err vmesh_pki_spiffe_id_from_pem_file(const char *path, char **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf pem = {0};
    BIO *bio = NULL;
    X509 *x = NULL;

    *out = NULL;
    VMESH_GUARD(vmesh_file_read(path, 1024 * 1024, &pem));
    bio = BIO_new_mem_buf(pem.data, (int)pem.len);
    VMESH_ENSURE(bio != NULL, VMESH_ERR_NOMEM, "out of memory");
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (x == NULL) {
        rc = vmesh_err_ssl(VMESH_ERR_PARSE, "no PEM certificate");
        rc = vmesh_err_wrap(rc, "%s", path);
        goto out;
    }
    VMESH_GUARD(vmesh_pki_spiffe_id_from_cert(x, out));
out:
    X509_free(x);
    BIO_free(bio);
    vmesh_buf_free(&pem);
    return rc;
}

vmesh_err vmesh_pki_spiffe_pattern_validate(const char *pattern)
{
    vmesh_err rc = VMESH_OK;
    size_t n, tdl;

    VMESH_ENSURE(pattern != NULL, VMESH_ERR_ARG, "SPIFFE ID pattern is missing");
    n = strnlen(pattern, VMESH_PKI_SPIFFE_ID_MAX + 3);
    if (n >= 2 && pattern[n - 2] == '/' && pattern[n - 1] == '*')
        n -= 2;
    rc = id_check(pattern, n, &tdl);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "SPIFFE ID pattern \"%.64s\" (an ID, or an ID followed by /*)",
                            pattern);
out:
    return rc;
}

bool vmesh_pki_spiffe_match(const char *pattern, const char *id)
{
    size_t pn, in, tdl;

    if (pattern == NULL || id == NULL)
        return false;
    pn = strnlen(pattern, VMESH_PKI_SPIFFE_ID_MAX + 3);
    in = strnlen(id, VMESH_PKI_SPIFFE_ID_MAX + 1);
    if (id_check(id, in, &tdl) != VMESH_OK)
        return false;
    if (pn >= 2 && pattern[pn - 2] == '/' && pattern[pn - 1] == '*') {
        size_t base = pn - 2;

        if (id_check(pattern, base, &tdl) != VMESH_OK)
            return false;
        /* Strictly below: the prefix, then '/', then at least a segment. */
        return in > base + 1 && memcmp(pattern, id, base) == 0 && id[base] == '/';
    }
    if (id_check(pattern, pn, &tdl) != VMESH_OK)
        return false;
    return pn == in && memcmp(pattern, id, in) == 0;
}
