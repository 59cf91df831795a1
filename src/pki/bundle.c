/*
 * SPIFFE bundles and federation (SPIFFE Trust Domain and Bundle §3-§4):
 * the bundle document (a JWK Set whose "x509-svid" keys carry the
 * authority certificate in "x5c", with "spiffe_sequence" and
 * "spiffe_refresh_hint"), its PEM form, and the trust set that maps each
 * federated trust domain to its own bundle. The document comes from a
 * bundle endpoint, i.e. from another organisation: it is hostile input. It
 * must never accept a key whose certificate does not parse exactly, never
 * read past a length, and never let one domain's authorities verify an SVID
 * of another domain.
 */
#include "vmesh/pki.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vmesh_pki_bundle {
    STACK_OF(X509) *certs;
    uint64_t seq;
    bool has_seq;
    int64_t refresh_hint;
};

static vmesh_err bundle_new(vmesh_pki_bundle **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL || ((*out)->certs = sk_X509_new_null()) == NULL) {
        free(*out);
        *out = NULL;
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    }
    return VMESH_OK;
}

void vmesh_pki_bundle_free(vmesh_pki_bundle *b)
{
    if (b == NULL)
        return;
    sk_X509_pop_free(b->certs, X509_free);
    free(b);
}

size_t vmesh_pki_bundle_count(const vmesh_pki_bundle *b)
{
    return b ? (size_t)sk_X509_num(b->certs) : 0;
}

uint64_t vmesh_pki_bundle_sequence(const vmesh_pki_bundle *b, bool *has)
{
    if (has)
        *has = b && b->has_seq;
    return b ? b->seq : 0;
}

int64_t vmesh_pki_bundle_refresh_hint(const vmesh_pki_bundle *b)
{
    return b ? b->refresh_hint : 0;
}

void vmesh_pki_bundle_set_sequence(vmesh_pki_bundle *b, uint64_t seq)
{
    b->seq = seq;
    b->has_seq = true;
}

void vmesh_pki_bundle_set_refresh_hint(vmesh_pki_bundle *b, int64_t seconds)
{
    b->refresh_hint = seconds < 0 ? 0 : seconds;
}

/* Adds x (a reference is taken) unless an equal certificate is there. */
static vmesh_err add_cert(vmesh_pki_bundle *b, X509 *x)
{
    for (int i = 0; i < sk_X509_num(b->certs); i++)
        if (X509_cmp(sk_X509_value(b->certs, i), x) == 0)
            return VMESH_OK;
    if (!X509_up_ref(x))
        return vmesh_err_set(VMESH_ERR_CRYPTO, "X509_up_ref");
    if (sk_X509_push(b->certs, x) <= 0) {
        X509_free(x);
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    }
    return VMESH_OK;
}

/* The JWK "kty" of a certificate's public key. */
static const char *cert_kty(X509 *x)
{
    EVP_PKEY *k = X509_get0_pubkey(x);

    if (k == NULL)
        return NULL;
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_EC:
        return "EC";
    case EVP_PKEY_RSA:
        return "RSA";
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
        return "OKP";
    default:
        return NULL;
    }
}

/* One "x509-svid" JWK: kty, x5c of exactly one certificate. */
static vmesh_err x509_key(vmesh_pki_bundle *b, json_t *k, size_t i)
{
    vmesh_err rc = VMESH_OK;
    json_t *kty = json_object_get(k, "kty"), *x5c = json_object_get(k, "x5c"), *c0;
    vmesh_buf der = {0};
    const unsigned char *p;
    const char *want;
    X509 *x = NULL;

    /* §4.2.1: "kty" MUST be set. */
    VMESH_ENSURE(json_is_string(kty), VMESH_ERR_PARSE,
                 "SPIFFE bundle: keys[%zu] has no \"kty\" string", i);
    /* §4.2.2 (x509-svid): "x5c" MUST hold exactly one element, the
     * base64 DER of the authority's certificate. */
    VMESH_ENSURE(json_is_array(x5c) && json_array_size(x5c) == 1, VMESH_ERR_PARSE,
                 "SPIFFE bundle: keys[%zu] (x509-svid) needs \"x5c\" with exactly one certificate",
                 i);
    c0 = json_array_get(x5c, 0);
    VMESH_ENSURE(json_is_string(c0) && json_string_length(c0) > 0, VMESH_ERR_PARSE,
                 "SPIFFE bundle: keys[%zu].x5c[0] is not a base64 string", i);
    rc = vmesh_b64_decode(json_string_value(c0), json_string_length(c0), &der);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "SPIFFE bundle: keys[%zu].x5c[0]", i);
        goto out;
    }
    VMESH_ENSURE(der.len > 0 && der.len <= 64 * 1024, VMESH_ERR_PARSE,
                 "SPIFFE bundle: keys[%zu].x5c[0] is %zu bytes of DER (1..65536 allowed)", i,
                 der.len);
    p = der.data;
    x = d2i_X509(NULL, &p, (long)der.len);
    VMESH_ENSURE(x != NULL && p == der.data + der.len, VMESH_ERR_PARSE,
                 "SPIFFE bundle: keys[%zu].x5c[0] is not exactly one DER certificate", i);
    want = cert_kty(x);
    VMESH_ENSURE(want != NULL && strcmp(want, json_string_value(kty)) == 0, VMESH_ERR_PARSE,
                 "SPIFFE bundle: keys[%zu] says kty \"%s\" but its certificate holds a %s key", i,
                 json_string_value(kty), want ? want : "unsupported");
    VMESH_GUARD(add_cert(b, x));
out:
    ERR_clear_error();
    X509_free(x);
    vmesh_buf_free(&der);
    return rc;
}

static vmesh_err nonneg_int(json_t *root, const char *name, json_int_t *v, bool *has)
{
    json_t *j = json_object_get(root, name);

    *has = j != NULL;
    if (j == NULL)
        return VMESH_OK;
    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return vmesh_err_set(VMESH_ERR_PARSE,
                             "SPIFFE bundle: \"%s\" must be a non-negative integer", name);
    *v = json_integer_value(j);
    return VMESH_OK;
}

vmesh_err vmesh_pki_bundle_parse(const uint8_t *p, size_t n, vmesh_pki_bundle **out)
{
    vmesh_err rc = VMESH_OK;
    json_t *root = NULL, *keys;
    json_error_t jerr;
    vmesh_pki_bundle *b = NULL;
    json_int_t v = 0;
    bool has;
    size_t skipped = 0;

    *out = NULL;
    VMESH_ENSURE(p != NULL || n == 0, VMESH_ERR_ARG, "SPIFFE bundle: no data");
    VMESH_ENSURE(n <= VMESH_PKI_BUNDLE_MAX, VMESH_ERR_TOO_LARGE,
                 "SPIFFE bundle is %zu bytes, at most %d allowed", n, VMESH_PKI_BUNDLE_MAX);
    root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(root != NULL, VMESH_ERR_PARSE, "SPIFFE bundle: line %d: %s", jerr.line,
                 jerr.text);
    VMESH_ENSURE(json_is_object(root), VMESH_ERR_PARSE,
                 "SPIFFE bundle must be a JSON object (a JWK Set)");
    VMESH_GUARD(bundle_new(&b));
    VMESH_GUARD(nonneg_int(root, "spiffe_sequence", &v, &has));
    if (has)
        vmesh_pki_bundle_set_sequence(b, (uint64_t)v);
    v = 0;
    VMESH_GUARD(nonneg_int(root, "spiffe_refresh_hint", &v, &has));
    b->refresh_hint = v;
    /* §4.1.3: "keys" MUST be present. */
    keys = json_object_get(root, "keys");
    VMESH_ENSURE(json_is_array(keys), VMESH_ERR_PARSE,
                 "SPIFFE bundle has no \"keys\" array");
    VMESH_ENSURE(json_array_size(keys) <= VMESH_PKI_BUNDLE_KEYS_MAX, VMESH_ERR_TOO_LARGE,
                 "SPIFFE bundle has %zu keys, at most %d allowed", json_array_size(keys),
                 VMESH_PKI_BUNDLE_KEYS_MAX);
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *k = json_array_get(keys, i), *use;

        VMESH_ENSURE(json_is_object(k), VMESH_ERR_PARSE,
                     "SPIFFE bundle: keys[%zu] is not a JWK object", i);
        use = json_object_get(k, "use");
        /* §4.2.2: "use" MUST be set. */
        VMESH_ENSURE(json_is_string(use), VMESH_ERR_PARSE,
                     "SPIFFE bundle: keys[%zu] has no \"use\" string", i);
        if (strcmp(json_string_value(use), "x509-svid") == 0)
            VMESH_GUARD(x509_key(b, k, i));
        else
            skipped++; /* jwt-svid, or a use we do not know: ignored */
    }
    VMESH_ENSURE(sk_X509_num(b->certs) > 0, VMESH_ERR_PARSE,
                 "SPIFFE bundle has no x509-svid key (%zu other keys skipped): it cannot "
                 "verify any X509-SVID",
                 skipped);
    *out = b;
    b = NULL;
out:
    vmesh_pki_bundle_free(b);
    json_decref(root);
    return rc;
}

vmesh_err vmesh_pki_bundle_parse_pem(const uint8_t *p, size_t n, vmesh_pki_bundle **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_pki_bundle *b = NULL;
    BIO *bio = NULL;
    X509 *x;

    *out = NULL;
    VMESH_ENSURE(n <= VMESH_PKI_BUNDLE_MAX, VMESH_ERR_TOO_LARGE,
                 "PEM bundle is %zu bytes, at most %d allowed", n, VMESH_PKI_BUNDLE_MAX);
    VMESH_GUARD(bundle_new(&b));
    bio = BIO_new_mem_buf(p, (int)n);
    VMESH_ENSURE(bio != NULL, VMESH_ERR_NOMEM, "out of memory");
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        rc = sk_X509_num(b->certs) < VMESH_PKI_BUNDLE_KEYS_MAX
                 ? add_cert(b, x)
                 : vmesh_err_set(VMESH_ERR_TOO_LARGE, "PEM bundle has more than %d certificates",
                                 VMESH_PKI_BUNDLE_KEYS_MAX);
        X509_free(x);
        VMESH_GUARD(rc);
    }
    ERR_clear_error();
    VMESH_ENSURE(sk_X509_num(b->certs) > 0, VMESH_ERR_PARSE,
                 "PEM bundle holds no certificate");
    *out = b;
    b = NULL;
out:
    BIO_free(bio);
    vmesh_pki_bundle_free(b);
    return rc;
}

vmesh_err vmesh_pki_bundle_load(const char *path, vmesh_pki_bundle **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};
    size_t i = 0;

    *out = NULL;
    VMESH_ENSURE(path != NULL, VMESH_ERR_ARG, "bundle file is missing");
    VMESH_GUARD(vmesh_file_read(path, VMESH_PKI_BUNDLE_MAX, &b));
    while (i < b.len && (b.data[i] == ' ' || b.data[i] == '\n' || b.data[i] == '\r' ||
                         b.data[i] == '\t'))
        i++;
    if (i < b.len && b.data[i] == '{')
        rc = vmesh_pki_bundle_parse(b.data, b.len, out);
    else
        rc = vmesh_pki_bundle_parse_pem(b.data, b.len, out);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "%s", path);
out:
    vmesh_buf_free(&b);
    return rc;
}

vmesh_err vmesh_pki_bundle_to_spiffe(const vmesh_pki_bundle *b, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *root = json_object(), *keys = json_array(), *jwk = NULL;
    json_error_t jerr;
    vmesh_buf tmp = {0};
    vmesh_key *k = NULL;
    char *text = NULL;

    VMESH_ENSURE(root != NULL && keys != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        X509 *x = sk_X509_value(b->certs, i);
        unsigned char *der = NULL;
        int dl;

        VMESH_ENSURE(vmesh_crypto_key_from_evp(X509_get0_pubkey(x), &k) == VMESH_OK,
                     VMESH_ERR_UNSUPPORTED,
                     "bundle certificate %d: its key cannot be written as a JWK", i);
        vmesh_buf_reset(&tmp);
        VMESH_GUARD(vmesh_crypto_key_to_jwk(k, false, &tmp));
        vmesh_crypto_key_free(k);
        k = NULL;
        jwk = json_loadb((const char *)tmp.data, tmp.len, 0, &jerr);
        VMESH_ENSURE(json_is_object(jwk), VMESH_ERR_CRYPTO, "bundle certificate %d: bad JWK", i);
        dl = i2d_X509(x, &der);
        VMESH_ENSURE(dl > 0, VMESH_ERR_CRYPTO, "bundle certificate %d: cannot encode", i);
        vmesh_buf_reset(&tmp);
        rc = vmesh_b64_encode(der, (size_t)dl, &tmp);
        OPENSSL_free(der);
        VMESH_GUARD(rc);
        VMESH_ENSURE(json_object_set_new(jwk, "use", json_string("x509-svid")) == 0 &&
                         json_object_set_new(jwk, "x5c",
                                             json_pack("[s%]", (const char *)tmp.data,
                                                       tmp.len)) == 0 &&
                         json_array_append_new(keys, jwk) == 0,
                     VMESH_ERR_NOMEM, "out of memory");
        jwk = NULL;
    }
    VMESH_ENSURE(json_object_set_new(root, "keys", keys) == 0, VMESH_ERR_NOMEM, "out of memory");
    keys = NULL;
    if (b->has_seq)
        json_object_set_new(root, "spiffe_sequence", json_integer((json_int_t)b->seq));
    if (b->refresh_hint > 0)
        json_object_set_new(root, "spiffe_refresh_hint", json_integer(b->refresh_hint));
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    VMESH_ENSURE(text != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(vmesh_buf_append(out, text, strlen(text)));
    VMESH_GUARD(vmesh_buf_append(out, "\n", 1));
out:
    vmesh_crypto_key_free(k);
    vmesh_buf_free(&tmp);
    json_decref(jwk);
    json_decref(keys);
    json_decref(root);
    free(text);
    return rc;
}

vmesh_err vmesh_pki_bundle_to_pem(const vmesh_pki_bundle *b, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;

    VMESH_ENSURE(bio != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (int i = 0; i < sk_X509_num(b->certs); i++)
        VMESH_ENSURE(PEM_write_bio_X509(bio, sk_X509_value(b->certs, i)) == 1,
                     VMESH_ERR_CRYPTO, "writing PEM");
    n = BIO_get_mem_data(bio, &p);
    if (n > 0)
        VMESH_GUARD(vmesh_buf_append(out, p, (size_t)n));
out:
    BIO_free(bio);
    return rc;
}

/* ---- the trust set ---------------------------------------------------------------- */

#define TRUST_DOMAINS_MAX 64

struct vmesh_pki_trust {
    atomic_uint refs;
    size_t n;
    struct {
        char td[VMESH_PKI_TRUST_DOMAIN_MAX + 1];
        vmesh_pki_bundle *b;
    } d[TRUST_DOMAINS_MAX];
};

vmesh_err vmesh_pki_trust_new(vmesh_pki_trust **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    atomic_init(&(*out)->refs, 1);
    return VMESH_OK;
}

vmesh_pki_trust *vmesh_pki_trust_ref(vmesh_pki_trust *t)
{
    if (t)
        atomic_fetch_add(&t->refs, 1);
    return t;
}

void vmesh_pki_trust_free(vmesh_pki_trust *t)
{
    if (t == NULL || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    for (size_t i = 0; i < t->n; i++)
        vmesh_pki_bundle_free(t->d[i].b);
    free(t);
}

static int find_td(const vmesh_pki_trust *t, const char *td)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->d[i].td, td) == 0)
            return (int)i;
    return -1;
}

vmesh_err vmesh_pki_trust_add(vmesh_pki_trust *t, const char *td, const vmesh_pki_bundle *b)
{
    vmesh_err rc = VMESH_OK;
    vmesh_pki_bundle *c = NULL;

    VMESH_GUARD(vmesh_pki_trust_domain_validate(td));
    VMESH_ENSURE(b != NULL && sk_X509_num(b->certs) > 0, VMESH_ERR_ARG,
                 "trust domain \"%s\": empty bundle", td);
    VMESH_ENSURE(find_td(t, td) < 0, VMESH_ERR_ARG, "trust domain \"%s\" is listed twice", td);
    VMESH_ENSURE(t->n < TRUST_DOMAINS_MAX, VMESH_ERR_TOO_LARGE,
                 "more than %d trust domains", TRUST_DOMAINS_MAX);
    VMESH_GUARD(bundle_new(&c));
    for (int i = 0; i < sk_X509_num(b->certs); i++)
        VMESH_GUARD(add_cert(c, sk_X509_value(b->certs, i)));
    c->seq = b->seq;
    c->has_seq = b->has_seq;
    c->refresh_hint = b->refresh_hint;
    snprintf(t->d[t->n].td, sizeof(t->d[t->n].td), "%s", td);
    t->d[t->n++].b = c;
    c = NULL;
out:
    vmesh_pki_bundle_free(c);
    return rc;
}

size_t vmesh_pki_trust_count(const vmesh_pki_trust *t)
{
    return t ? t->n : 0;
}

const char *vmesh_pki_trust_domain(const vmesh_pki_trust *t, size_t i,
                                   const vmesh_pki_bundle **b)
{
    if (t == NULL || i >= t->n)
        return NULL;
    if (b)
        *b = t->d[i].b;
    return t->d[i].td;
}

STACK_OF(X509) *vmesh_pki_trust_authorities(const vmesh_pki_trust *t, const char *td)
{
    int i = t && td ? find_td(t, td) : -1;

    return i < 0 ? NULL : t->d[i].b->certs;
}

vmesh_err vmesh_pki_trust_verify(const vmesh_pki_trust *t, X509 *leaf,
                                 STACK_OF(X509) *untrusted, char **id_out)
{
    vmesh_err rc = VMESH_OK;
    char *id = NULL, *td = NULL;
    STACK_OF(X509) *auth;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;

    if (id_out)
        *id_out = NULL;
    VMESH_ENSURE(t != NULL && leaf != NULL, VMESH_ERR_ARG, "no trust set or no certificate");
    VMESH_GUARD(vmesh_pki_spiffe_id_from_cert(leaf, &id));
    VMESH_GUARD(vmesh_pki_spiffe_id_trust_domain(id, &td));
    auth = vmesh_pki_trust_authorities(t, td);
    VMESH_ENSURE(auth != NULL, VMESH_ERR_POLICY,
                 "%s is in trust domain \"%s\", which is not federated here", id, td);
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    VMESH_ENSURE(store != NULL && ctx != NULL &&
                     X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1,
                 VMESH_ERR_NOMEM, "out of memory");
    X509_STORE_CTX_set0_trusted_stack(ctx, auth);
    if (X509_verify_cert(ctx) != 1)
        VMESH_FAIL(VMESH_ERR_SIGNATURE, "%s does not verify against the bundle of \"%s\": %s", id,
                   td, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    if (id_out) {
        *id_out = id;
        id = NULL;
    }
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    free(id);
    free(td);
    return rc;
}
