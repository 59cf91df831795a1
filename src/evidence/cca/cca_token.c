/*
 * The CCA attestation token as a whole: the outer collection (tag 399, the
 * format the RMM returns and Veraison's media type names; tag 907, the CMW
 * collection of newer veraison/ccatoken), the two COSE_Sign1 tokens, the
 * realm attestation key (RAK) carried in the realm claims, and the binding
 * of the two tokens. Decoding never checks signatures; verification checks
 * the platform signature with a CPAK the caller got from its trust store,
 * never with a key named by the token, and the realm signature only with
 * the RAK that the (then verified) binding ties to the platform.
 */
#include "vmesh/cca.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct vmesh_cca_token {
    vmesh_cca_claims claims;
    vmesh_cose_sign1 *platform;
    vmesh_cose_sign1 *realm;
    unsigned format;
};

/* DER prefixes of SubjectPublicKeyInfo for id-ecPublicKey on P-256 and
 * P-384 (RFC 5480 §2), up to the BIT STRING's unused-bits byte; the
 * uncompressed point follows. */
static const uint8_t spki_p256[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
static const uint8_t spki_p384[] = {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
                                    0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00};

/* ---- accessors -------------------------------------------------------------- */

const vmesh_cca_claims *vmesh_cca_token_claims(const vmesh_cca_token *t)
{
    return &t->claims;
}

const vmesh_cose_sign1 *vmesh_cca_token_platform(const vmesh_cca_token *t)
{
    return t->platform;
}

const vmesh_cose_sign1 *vmesh_cca_token_realm(const vmesh_cca_token *t)
{
    return t->realm;
}

unsigned vmesh_cca_token_format(const vmesh_cca_token *t)
{
    return t->format;
}

void vmesh_cca_token_free(vmesh_cca_token *t)
{
    if (t == NULL)
        return;
    vmesh_cca_claims_free(&t->claims);
    vmesh_cose_sign1_free(t->platform);
    vmesh_cose_sign1_free(t->realm);
    free(t);
}

/* ---- collection --------------------------------------------------------------- */

/* One CMW record: [type, value, ? ind] (draft-ietf-rats-msg-wrap,
 * "cbor-record"); type is a CoAP content format (uint) or a media type. */
static vmesh_err read_record(vmesh_cbor *r, const char *what, const uint8_t **p, size_t *n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor_head h;
    uint64_t count = 0, v = 0;
    const char *t;
    size_t tn;

    rc = vmesh_cbor_read_array(r, &count, 3, what);
    VMESH_ENSURE(rc == VMESH_OK && count >= 2, rc == VMESH_OK || rc == VMESH_ERR_TOO_LARGE ? VMESH_ERR_PARSE : rc,
                 "%s: %s is not a CMW record [type, value, ? indicator]", r->what, what);
    VMESH_GUARD(vmesh_cbor_peek(r, &h));
    if (h.major == VMESH_CBOR_TSTR) {
        VMESH_GUARD(vmesh_cbor_read_tstr(r, VMESH_CCA_MAX_TEXT, &t, &tn, "the record type"));
    } else {
        VMESH_ENSURE(h.major == VMESH_CBOR_UINT, VMESH_ERR_PARSE,
                     "%s: %s type is a %s, expected a content format or media type", r->what, what,
                     vmesh_cbor_type_name(h.major));
        VMESH_GUARD(vmesh_cbor_read_uint(r, &v, "the record type"));
    }
    VMESH_GUARD(vmesh_cbor_read_bstr(r, SIZE_MAX, p, n, what)); /* the token is capped as a whole */
    if (count == 3)
        VMESH_GUARD(vmesh_cbor_read_uint(r, &v, "the record indicator"));
out:
    return rc;
}

static vmesh_err read_collection(const uint8_t *p, size_t n, unsigned *format, const uint8_t **pt, size_t *pn,
                                 const uint8_t **rt, size_t *rn)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    vmesh_cbor_head h;
    uint64_t count = 0;

    *pt = *rt = NULL;
    /* the RMM's token is deterministic CBOR: definite lengths only */
    vmesh_cbor_init(&r, p, n, "CCA token", 0);
    VMESH_GUARD(vmesh_cbor_peek(&r, &h));
    if (h.major == VMESH_CBOR_MAP) {
        /* the CMW collection without its tag, as the attestation message
         * carries it (RFC 9999 cbor-collection) */
        *format = VMESH_CCA_TAG_CMW;
    } else {
        VMESH_GUARD(vmesh_cbor_read_head(&r, &h));
        VMESH_ENSURE(h.major == VMESH_CBOR_TAG && (h.arg == VMESH_CCA_TAG_COLLECTION || h.arg == VMESH_CCA_TAG_CMW),
                     VMESH_ERR_PARSE,
                     "CCA token: expected CBOR tag 399 (collection), 907 (CMW collection) or an untagged CMW "
                     "collection, found a %s%s%llu",
                     vmesh_cbor_type_name(h.major), h.major == VMESH_CBOR_TAG ? " " : " of value ",
                     (unsigned long long)h.arg);
        *format = (unsigned)h.arg;
    }
    VMESH_GUARD(vmesh_cbor_read_map(&r, &count, UINT64_MAX, "the collection"));
    VMESH_ENSURE(count >= 2 && count <= 3, VMESH_ERR_PARSE,
                 "CCA token: the collection has %llu entries, expected the platform and the realm token",
                 (unsigned long long)count);
    for (uint64_t i = 0; i < count; i++) {
        size_t key_off = r.off;
        uint64_t key = 0;

        VMESH_GUARD(vmesh_cbor_peek(&r, &h));
        if (h.major == VMESH_CBOR_TSTR && *format == VMESH_CCA_TAG_CMW) {
            /* "cbor-collection = {? "__cmwc_t", + label => cbor-cmw}" */
            const char *k = NULL, *ctype = NULL;
            size_t kn = 0, cn = 0;

            VMESH_GUARD(vmesh_cbor_read_tstr(&r, VMESH_CCA_MAX_TEXT, &k, &kn, "a collection label"));
            VMESH_ENSURE(kn == 8 && memcmp(k, "__cmwc_t", 8) == 0, VMESH_ERR_PARSE,
                         "CCA token: unknown entry at offset %zu in the CMW collection", key_off);
            VMESH_GUARD(vmesh_cbor_read_tstr(&r, VMESH_CCA_MAX_TEXT, &ctype, &cn, "the collection type"));
            continue;
        }
        VMESH_ENSURE(h.major == VMESH_CBOR_UINT && (h.arg == VMESH_CCA_KEY_PLATFORM || h.arg == VMESH_CCA_KEY_REALM),
                     VMESH_ERR_PARSE,
                     "CCA token: unknown entry at offset %zu in the collection (expected keys 44234 and 44241)",
                     key_off);
        VMESH_GUARD(vmesh_cbor_read_uint(&r, &key, "a collection key"));
        if (key == VMESH_CCA_KEY_PLATFORM) {
            VMESH_ENSURE(*pt == NULL, VMESH_ERR_PARSE, "CCA token: two platform tokens (key 44234)");
            if (*format == VMESH_CCA_TAG_CMW)
                VMESH_GUARD(read_record(&r, "the platform token (key 44234)", pt, pn));
            else
                VMESH_GUARD(vmesh_cbor_read_bstr(&r, SIZE_MAX, pt, pn, "the platform token (key 44234)"));
        } else {
            VMESH_ENSURE(*rt == NULL, VMESH_ERR_PARSE, "CCA token: two realm tokens (key 44241)");
            if (*format == VMESH_CCA_TAG_CMW)
                VMESH_GUARD(read_record(&r, "the realm token (key 44241)", rt, rn));
            else
                VMESH_GUARD(vmesh_cbor_read_bstr(&r, SIZE_MAX, rt, rn, "the realm token (key 44241)"));
        }
    }
    VMESH_ENSURE(*pt != NULL, VMESH_ERR_PARSE, "CCA token: the platform token (key 44234) is missing");
    VMESH_ENSURE(*rt != NULL, VMESH_ERR_PARSE, "CCA token: the realm token (key 44241) is missing");
    VMESH_GUARD(vmesh_cbor_end(&r, "the collection"));
out:
    return rc;
}

vmesh_err vmesh_cca_token_decode(const uint8_t *p, size_t n, vmesh_cca_token **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cca_token *t = NULL;
    const uint8_t *pt = NULL, *rt = NULL, *payload;
    size_t pn = 0, rn = 0, plen = 0;
    unsigned format = 0;

    *out = NULL;
    VMESH_ENSURE(p != NULL && n > 0, VMESH_ERR_PARSE, "CCA token: empty input");
    VMESH_ENSURE(n <= VMESH_CCA_MAX_TOKEN, VMESH_ERR_TOO_LARGE, "CCA token: %zu bytes, the limit is %d", n,
                 VMESH_CCA_MAX_TOKEN);
    VMESH_GUARD(read_collection(p, n, &format, &pt, &pn, &rt, &rn));
    t = calloc(1, sizeof(*t));
    VMESH_ENSURE(t != NULL, VMESH_ERR_NOMEM, "out of memory");
    t->format = format;
    vmesh_cca_claims_init(&t->claims);
    rc = vmesh_cose_sign1_decode(pt, pn, VMESH_CCA_MAX_TOKEN, &t->platform);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "CCA platform token");
        goto out;
    }
    payload = vmesh_cose_sign1_payload(t->platform, &plen);
    VMESH_ENSURE(payload != NULL && plen > 0, VMESH_ERR_PARSE, "CCA platform token: the payload is empty");
    VMESH_GUARD(vmesh_cca_platform_decode(payload, plen, &t->claims.platform));
    rc = vmesh_cose_sign1_decode(rt, rn, VMESH_CCA_MAX_TOKEN, &t->realm);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "CCA realm token");
        goto out;
    }
    payload = vmesh_cose_sign1_payload(t->realm, &plen);
    VMESH_ENSURE(payload != NULL && plen > 0, VMESH_ERR_PARSE, "CCA realm token: the payload is empty");
    VMESH_GUARD(vmesh_cca_realm_decode(payload, plen, &t->claims.realm));
    *out = t;
    t = NULL;
out:
    vmesh_cca_token_free(t);
    return rc;
}

/* ---- keys and binding ------------------------------------------------------------ */

static vmesh_err key_from_point(const uint8_t *pt, size_t n, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    uint8_t der[sizeof(spki_p256) + 97];
    size_t dn;

    if (n == 65) {
        memcpy(der, spki_p256, sizeof(spki_p256));
        memcpy(der + sizeof(spki_p256), pt, n);
        dn = sizeof(spki_p256) + n;
    } else if (n == 97) {
        memcpy(der, spki_p384, sizeof(spki_p384));
        memcpy(der + sizeof(spki_p384), pt, n);
        dn = sizeof(spki_p384) + n;
    } else {
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "CCA realm claims: public key point is %zu bytes (P-256: 65, P-384: 97)", n);
    }
    VMESH_ENSURE(pt[0] == 0x04, VMESH_ERR_UNSUPPORTED,
                 "CCA realm claims: public key is not an uncompressed point (first byte 0x%02x)", pt[0]);
    rc = vmesh_crypto_key_from_spki(der, dn, out);
    if (rc != VMESH_OK)
        vmesh_err_wrap(rc, "CCA realm claims: public key (key 44237)");
out:
    return rc;
}

/* COSE_Key (RFC 9052 §7, RFC 9053 §7.1.1): kty (1) = EC2 (2), crv (-1) =
 * P-256 (1) / P-384 (2), x (-2) and y (-3) as byte strings. Other labels
 * (kid, alg, key_ops) are skipped. */
static vmesh_err key_from_cose_key(const uint8_t *p, size_t n, vmesh_key **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count = 0;
    int64_t kty = 0, crv = 0;
    uint8_t x[48], y[48], pt[97];
    size_t xl = 0, yl = 0, cl;
    unsigned seen = 0;

    vmesh_cbor_init(&r, p, n, "CCA realm claims: public key (COSE_Key)", 0);
    rc = vmesh_cbor_read_map(&r, &count, UINT64_MAX, "the key");
    VMESH_ENSURE(rc == VMESH_OK, VMESH_ERR_PARSE, "%s: not a map", r.what);
    for (uint64_t i = 0; i < count; i++) {
        int64_t key = 0;
        bool is_int = false;
        unsigned bit;

        VMESH_GUARD(vmesh_cbor_read_int_key(&r, &key, &is_int));
        if (!is_int || (key != 1 && key != -1 && key != -2 && key != -3)) {
            VMESH_GUARD(vmesh_cbor_skip(&r));
            continue;
        }
        bit = key == 1 ? 0u : (unsigned)(-key);
        VMESH_ENSURE(!(seen & (1u << bit)), VMESH_ERR_PARSE, "%s: label %lld appears twice", r.what, (long long)key);
        seen |= 1u << bit;
        if (key == 1)
            VMESH_GUARD(vmesh_cbor_read_int(&r, &kty, "kty (1)"));
        else if (key == -1)
            VMESH_GUARD(vmesh_cbor_read_int(&r, &crv, "crv (-1)"));
        else if (key == -2)
            VMESH_GUARD(vmesh_psa_read_bytes(&r, "x (-2)", x, sizeof(x), &xl));
        else
            VMESH_GUARD(vmesh_psa_read_bytes(&r, "y (-3)", y, sizeof(y), &yl));
    }
    VMESH_GUARD(vmesh_cbor_end(&r, "the key"));
    VMESH_ENSURE(kty == 2, VMESH_ERR_UNSUPPORTED, "%s: kty %lld is not EC2 (2)", r.what, (long long)kty);
    VMESH_ENSURE(crv == 1 || crv == 2, VMESH_ERR_UNSUPPORTED, "%s: curve %lld is not P-256 (1) or P-384 (2)", r.what,
                 (long long)crv);
    cl = crv == 1 ? 32 : 48;
    VMESH_ENSURE(xl == cl && yl == cl, VMESH_ERR_PARSE, "%s: x and y must be %zu bytes each, got %zu and %zu", r.what,
                 cl, xl, yl);
    pt[0] = 0x04;
    memcpy(pt + 1, x, cl);
    memcpy(pt + 1 + cl, y, cl);
    VMESH_GUARD(key_from_point(pt, 1 + 2 * cl, out));
out:
    return rc;
}

vmesh_err vmesh_cca_realm_key(const vmesh_cca_realm_claims *r, vmesh_key **out)
{
    *out = NULL;
    if (r->rak_len == 0)
        return vmesh_err_set(VMESH_ERR_PARSE, "CCA realm claims: public key (key 44237) is missing");
    if (r->profile == VMESH_CCA_REALM_PROFILE_LEGACY)
        return key_from_point(r->rak, r->rak_len, out);
    return key_from_cose_key(r->rak, r->rak_len, out);
}

static const EVP_MD *md_of(const char *name)
{
    if (name == NULL)
        return NULL;
    if (strcmp(name, "sha-256") == 0)
        return EVP_sha256();
    if (strcmp(name, "sha-384") == 0)
        return EVP_sha384();
    if (strcmp(name, "sha-512") == 0)
        return EVP_sha512();
    return NULL;
}

/* ccatoken evidence.go computeBinder: the platform nonce is the hash, with
 * the realm's public-key hash algorithm (44240), of the RAK bytes exactly
 * as they appear in claim 44237. */
vmesh_err vmesh_cca_binding(const vmesh_cca_realm_claims *r, uint8_t out[VMESH_CCA_MAX_HASH], size_t *out_len)
{
    const EVP_MD *md = md_of(r->rak_hash_algo);
    unsigned len = 0;

    if (md == NULL)
        return vmesh_err_set(VMESH_ERR_UNSUPPORTED,
                             "CCA realm claims: public key hash algorithm \"%.64s\" is not supported (sha-256, "
                             "sha-384, sha-512)",
                             r->rak_hash_algo ? r->rak_hash_algo : "");
    if (EVP_Digest(r->rak, r->rak_len, out, &len, md, NULL) != 1)
        return vmesh_err_ssl(VMESH_ERR_CRYPTO, "hashing the RAK");
    *out_len = len;
    return VMESH_OK;
}

vmesh_err vmesh_cca_token_verify(const vmesh_cca_token *t, const vmesh_key *cpak)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *rak = NULL;
    uint8_t bind[VMESH_CCA_MAX_HASH];
    size_t blen = 0;
    const vmesh_cca_claims *c = &t->claims;

    VMESH_ENSURE(cpak != NULL, VMESH_ERR_ARG, "CCA token: no CPAK to verify with");
    rc = vmesh_cose_sign1_verify(t->platform, cpak);
    if (rc != VMESH_OK) {
        if (rc == VMESH_ERR_SIGNATURE)
            rc = vmesh_err_set(VMESH_ERR_SIGNATURE, "CCA platform token signature does not verify with the CPAK");
        else
            vmesh_err_wrap(rc, "CCA platform token");
        goto out;
    }
    VMESH_GUARD(vmesh_cca_realm_key(&c->realm, &rak));
    rc = vmesh_cose_sign1_verify(t->realm, rak);
    if (rc != VMESH_OK) {
        if (rc == VMESH_ERR_SIGNATURE)
            rc = vmesh_err_set(VMESH_ERR_SIGNATURE,
                               "CCA realm token signature does not verify with the RAK of its claims");
        else
            vmesh_err_wrap(rc, "CCA realm token");
        goto out;
    }
    VMESH_GUARD(vmesh_cca_binding(&c->realm, bind, &blen));
    VMESH_ENSURE(blen == c->platform.challenge_len && vmesh_crypto_memeq(bind, c->platform.challenge, blen),
                 VMESH_ERR_MISMATCH,
                 "CCA token binding: the platform challenge is not the %s hash of the realm's RAK (the realm token "
                 "does not belong to this platform token)",
                 c->realm.rak_hash_algo);
out:
    vmesh_crypto_key_free(rak);
    return rc;
}

/* ---- encoding ---------------------------------------------------------------------- */

static vmesh_err point_of(const vmesh_key *k, uint8_t *pt, size_t *n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf spki;

    vmesh_buf_init(&spki, 1024);
    VMESH_GUARD(vmesh_crypto_key_to_spki(k, &spki));
    if (spki.len == sizeof(spki_p256) + 65 && memcmp(spki.data, spki_p256, sizeof(spki_p256)) == 0) {
        memcpy(pt, spki.data + sizeof(spki_p256), 65);
        *n = 65;
    } else if (spki.len == sizeof(spki_p384) + 97 && memcmp(spki.data, spki_p384, sizeof(spki_p384)) == 0) {
        memcpy(pt, spki.data + sizeof(spki_p384), 97);
        *n = 97;
    } else {
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "CCA: the RAK must be an EC P-256 or P-384 key");
    }
out:
    vmesh_buf_free(&spki);
    return rc;
}

vmesh_err vmesh_cca_rak_encode(const vmesh_key *rak, vmesh_cca_realm_profile profile, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    uint8_t pt[97];
    size_t n = 0, cl;

    VMESH_ENSURE(rak != NULL, VMESH_ERR_ARG, "CCA: no RAK");
    VMESH_GUARD(point_of(rak, pt, &n));
    if (profile == VMESH_CCA_REALM_PROFILE_LEGACY) {
        VMESH_ENSURE(n == 97, VMESH_ERR_UNSUPPORTED,
                     "CCA: a realm token without profile carries a raw P-384 RAK; this RAK is P-256");
        VMESH_GUARD(vmesh_buf_append(out, pt, n));
        goto out;
    }
    cl = (n - 1) / 2;
    VMESH_GUARD(vmesh_cbor_put_map(out, 4));
    VMESH_GUARD(vmesh_cbor_put_int(out, 1));
    VMESH_GUARD(vmesh_cbor_put_int(out, 2)); /* kty EC2 */
    VMESH_GUARD(vmesh_cbor_put_int(out, -1));
    VMESH_GUARD(vmesh_cbor_put_int(out, n == 65 ? 1 : 2)); /* crv P-256 / P-384 */
    VMESH_GUARD(vmesh_cbor_put_int(out, -2));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, pt + 1, cl));
    VMESH_GUARD(vmesh_cbor_put_int(out, -3));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, pt + 1 + cl, cl));
out:
    return rc;
}

vmesh_err vmesh_cca_collection_encode(unsigned format, const uint8_t *platform, size_t plen, const uint8_t *realm,
                                      size_t rlen, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(format == VMESH_CCA_TAG_COLLECTION || format == VMESH_CCA_TAG_CMW, VMESH_ERR_ARG,
                 "CCA: collection format must be 399 or 907, not %u", format);
    VMESH_GUARD(vmesh_cbor_put_tag(out, format));
    VMESH_GUARD(vmesh_cbor_put_map(out, 2));
    VMESH_GUARD(vmesh_cbor_put_int(out, VMESH_CCA_KEY_PLATFORM));
    if (format == VMESH_CCA_TAG_CMW) {
        /* veraison/ccatoken Sign: CMWCollectionEntry{Coaptype: 263, ...} */
        VMESH_GUARD(vmesh_cbor_put_array(out, 2));
        VMESH_GUARD(vmesh_cbor_put_int(out, 263));
    }
    VMESH_GUARD(vmesh_cbor_put_bstr(out, platform, plen));
    VMESH_GUARD(vmesh_cbor_put_int(out, VMESH_CCA_KEY_REALM));
    if (format == VMESH_CCA_TAG_CMW) {
        VMESH_GUARD(vmesh_cbor_put_array(out, 2));
        VMESH_GUARD(vmesh_cbor_put_int(out, 263));
    }
    VMESH_GUARD(vmesh_cbor_put_bstr(out, realm, rlen));
out:
    return rc;
}

vmesh_err vmesh_cca_token_to_cmw(const uint8_t *p, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    const uint8_t *pt, *rt;
    size_t pn, rn, head = 0;
    unsigned format;
    vmesh_buf tmp;

    vmesh_buf_init(&tmp, VMESH_CCA_MAX_TOKEN + 64);
    VMESH_ENSURE(n <= VMESH_CCA_MAX_TOKEN, VMESH_ERR_TOO_LARGE, "CCA token: %zu bytes, the limit is %d", n,
                 VMESH_CCA_MAX_TOKEN);
    VMESH_GUARD(read_collection(p, n, &format, &pt, &pn, &rt, &rn));
    VMESH_GUARD(vmesh_cca_collection_encode(VMESH_CCA_TAG_CMW, pt, pn, rt, rn, &tmp));
    VMESH_ENSURE(vmesh_cbor_starts_with(tmp.data, tmp.len, VMESH_CBOR_TAG, VMESH_CCA_TAG_CMW, &head), VMESH_ERR_STATE,
                 "CCA token: the CMW collection lost its tag");
    VMESH_GUARD(vmesh_buf_append(out, tmp.data + head, tmp.len - head));
out:
    vmesh_buf_free(&tmp);
    return rc;
}

vmesh_err vmesh_cca_token_sign(vmesh_cca_claims *c, const vmesh_key *cpak, const vmesh_key *rak, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf enc, pay, ptok, rtok;

    vmesh_buf_init(&enc, VMESH_CCA_MAX_RAK);
    vmesh_buf_init(&pay, VMESH_CCA_MAX_TOKEN);
    vmesh_buf_init(&ptok, VMESH_CCA_MAX_TOKEN);
    vmesh_buf_init(&rtok, VMESH_CCA_MAX_TOKEN);
    VMESH_ENSURE(cpak != NULL && vmesh_crypto_key_is_private(cpak), VMESH_ERR_ARG,
                 "CCA token: the CPAK must be a private key to sign");
    VMESH_ENSURE(rak != NULL && vmesh_crypto_key_is_private(rak), VMESH_ERR_ARG,
                 "CCA token: the RAK must be a private key to sign");
    VMESH_GUARD(vmesh_cca_rak_encode(rak, c->realm.profile, &enc));
    memcpy(c->realm.rak, enc.data, enc.len);
    c->realm.rak_len = enc.len;
    VMESH_GUARD(vmesh_cca_binding(&c->realm, c->platform.challenge, &c->platform.challenge_len));
    VMESH_GUARD(vmesh_cca_realm_encode(&c->realm, &pay));
    VMESH_GUARD(vmesh_cose_sign1_create(rak, pay.data, pay.len, NULL, &rtok));
    vmesh_buf_reset(&pay);
    VMESH_GUARD(vmesh_cca_platform_encode(&c->platform, &pay));
    VMESH_GUARD(vmesh_cose_sign1_create(cpak, pay.data, pay.len, NULL, &ptok));
    VMESH_GUARD(vmesh_cca_collection_encode(VMESH_CCA_TAG_COLLECTION, ptok.data, ptok.len, rtok.data, rtok.len, out));
out:
    vmesh_buf_free(&enc);
    vmesh_buf_free(&pay);
    vmesh_buf_free(&ptok);
    vmesh_buf_free(&rtok);
    return rc;
}
