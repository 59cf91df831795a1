/*
 * JWS compact serialization (RFC 7515 §7.1) with vmesh keys. The verifier
 * takes its key and algorithm from the caller, never from the token: the
 * header's "alg" must equal the key's algorithm, "none" and any "crit"
 * extension are refused, and every length is checked against a cap before
 * anything is decoded. This file must never accept a token whose signature
 * it has not checked with the caller's key.
 */
#include "jose_int.h"

#include <jansson.h>
#include <string.h>

/* The base64url alphabet (RFC 4648 §5), as a table: every EAR a relying
 * party checks goes through here. */
static const uint8_t b64url_ok[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static bool b64url_char(char c)
{
    return b64url_ok[(unsigned char)c] != 0;
}

vmesh_err vmesh_jose_b64url_decode(const char *s, size_t n, const char *what, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    for (size_t i = 0; i < n; i++)
        VMESH_ENSURE(b64url_char(s[i]), VMESH_ERR_PARSE,
                     "%s: character 0x%02x at offset %zu is not base64url (RFC 7515 §2: "
                     "URL-safe alphabet, no padding)",
                     what, (unsigned)(unsigned char)s[i], i);
    rc = vmesh_b64_decode(s, n, out);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "%s", what);
out:
    return rc;
}

/* out = BASE64URL(header) "." BASE64URL(payload), the JWS Signing Input
 * (RFC 7515 §5.1 step 8), with the protected header {"alg", "typ", "kid"}
 * (typ and kid omitted when NULL). */
static vmesh_err signing_input(const char *alg, const char *typ, const char *kid, const uint8_t *payload, size_t n,
                               vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf hdr = {0};

    /* RFC 7515 §4.1.1: "alg" ... "This Header Parameter MUST be present". */
    VMESH_GUARD(vmesh_buf_append(&hdr, "{\"alg\":", 7));
    VMESH_GUARD(vmesh_json_str(&hdr, alg, strlen(alg)));
    if (typ != NULL) {
        VMESH_GUARD(vmesh_buf_append(&hdr, ",\"typ\":", 7));
        VMESH_GUARD(vmesh_json_str(&hdr, typ, strlen(typ)));
    }
    if (kid != NULL) {
        VMESH_GUARD(vmesh_buf_append(&hdr, ",\"kid\":", 7));
        VMESH_GUARD(vmesh_json_str(&hdr, kid, strlen(kid)));
    }
    VMESH_GUARD(vmesh_buf_append_u8(&hdr, '}'));
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_buf_reserve(out, (hdr.len + n) / 3 * 4 + 8 + 2 + 128));
    VMESH_GUARD(vmesh_b64url_encode(hdr.data, hdr.len, out));
    VMESH_GUARD(vmesh_buf_append_u8(out, '.'));
    VMESH_GUARD(vmesh_b64url_encode(payload, n, out));
out:
    vmesh_buf_free(&hdr);
    return rc;
}

/* Appends "." BASE64URL(sig) to the signing input in out and checks the size. */
static vmesh_err finish_compact(const uint8_t *sig, size_t sig_len, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_buf_append_u8(out, '.'));
    VMESH_GUARD(vmesh_b64url_encode(sig, sig_len, out));
    /* Never issue what no vmesh verifier would accept. */
    VMESH_ENSURE(out->len <= VMESH_JOSE_MAX_COMPACT, VMESH_ERR_TOO_LARGE,
                 "JWS sign: the token would be %zu bytes, more than the limit of %zu", out->len,
                 VMESH_JOSE_MAX_COMPACT);
    rc = vmesh_buf_terminate(out);
out:
    return rc;
}

vmesh_err vmesh_jose_jws_sign(const vmesh_key *key, const char *typ, const char *kid,
                              const uint8_t *payload, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf sig = {0};
    const char *alg;

    VMESH_ENSURE(key != NULL && out != NULL && (payload != NULL || n == 0), VMESH_ERR_ARG,
                 "JWS sign: missing key, payload or output");
    VMESH_ENSURE(vmesh_crypto_key_is_private(key), VMESH_ERR_ARG,
                 "JWS sign: the key is a public key; signing needs the private key");
    alg = vmesh_crypto_key_jws_alg(key);
    VMESH_ENSURE(alg != NULL, VMESH_ERR_UNSUPPORTED, "JWS sign: the key has no JWS algorithm");
    VMESH_GUARD(signing_input(alg, typ, kid, payload, n, out));
    VMESH_GUARD(vmesh_crypto_sign(key, out->data, out->len, &sig));
    VMESH_GUARD(finish_compact(sig.data, sig.len, out));
out:
    if (rc != VMESH_OK && out != NULL)
        vmesh_buf_reset(out);
    vmesh_buf_free(&sig);
    return rc;
}

/* HMAC-SHA-256 of msg under a VMESH_JOSE_MAC_KEY_LEN-byte key (RFC 7518 §3.2). */
static vmesh_err hs256(const uint8_t *key, const uint8_t *msg, size_t n, uint8_t mac[32])
{
    return vmesh_crypto_hmac_sha256(key, VMESH_JOSE_MAC_KEY_LEN, msg, n, mac);
}

vmesh_err vmesh_jose_jws_mac(const uint8_t key[VMESH_JOSE_MAC_KEY_LEN], const char *typ, const uint8_t *payload,
                             size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    uint8_t mac[32];

    VMESH_ENSURE(key != NULL && out != NULL && (payload != NULL || n == 0), VMESH_ERR_ARG,
                 "JWS MAC: missing key, payload or output");
    VMESH_GUARD(signing_input("HS256", typ, NULL, payload, n, out));
    VMESH_GUARD(hs256(key, out->data, out->len, mac));
    VMESH_GUARD(finish_compact(mac, sizeof(mac), out));
out:
    if (rc != VMESH_OK && out != NULL)
        vmesh_buf_reset(out);
    vmesh_crypto_cleanse(mac, sizeof(mac));
    return rc;
}

typedef struct {
    const char *seg[3];
    size_t len[3];
} jws_parts;

static vmesh_err jws_split(const char *compact, size_t n, jws_parts *p)
{
    vmesh_err rc = VMESH_OK;
    size_t dots = 0, start = 0;

    VMESH_ENSURE(compact != NULL, VMESH_ERR_ARG, "JWS: no input");
    VMESH_ENSURE(n <= VMESH_JOSE_MAX_COMPACT, VMESH_ERR_TOO_LARGE,
                 "JWS: %zu bytes is more than the limit of %zu", n, VMESH_JOSE_MAX_COMPACT);
    /* Tolerate one trailing newline, as files and pipes carry one. */
    while (n > 0 && (compact[n - 1] == '\n' || compact[n - 1] == '\r'))
        n--;
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "JWS: empty input");
    for (const char *d = memchr(compact, '.', n); d != NULL;
         d = memchr(d + 1, '.', n - (size_t)(d + 1 - compact))) {
        size_t i = (size_t)(d - compact);
        if (dots < 2) {
            p->seg[dots] = compact + start;
            p->len[dots] = i - start;
        }
        dots++;
        start = i + 1;
    }
    /* RFC 7516 §9: a JWE has four periods, a JWS two. */
    VMESH_ENSURE(dots != 4, VMESH_ERR_UNSUPPORTED,
                 "JWS: input has 5 segments (a JWE); only signed JWS/JWT is supported");
    VMESH_ENSURE(dots == 2, VMESH_ERR_PARSE,
                 "JWS: compact serialization needs 3 dot-separated segments, found %zu", dots + 1);
    p->seg[2] = compact + start;
    p->len[2] = n - start;
    VMESH_ENSURE(p->len[0] > 0, VMESH_ERR_PARSE, "JWS: empty protected header");
out:
    return rc;
}

/* Decodes the protected header into hdr, parses and checks it into *hdr_json. */
static vmesh_err jws_header(const jws_parts *p, vmesh_buf *hdr, json_t **hdr_json)
{
    vmesh_err rc = VMESH_OK;
    json_error_t jerr;
    json_t *h = NULL, *alg;

    VMESH_ENSURE(p->len[0] <= (VMESH_JOSE_MAX_HEADER + 2) / 3 * 4, VMESH_ERR_TOO_LARGE,
                 "JWS: protected header is larger than %zu bytes", VMESH_JOSE_MAX_HEADER);
    VMESH_GUARD(vmesh_jose_b64url_decode(p->seg[0], p->len[0], "JWS protected header", hdr));
    h = json_loadb((const char *)hdr->data, hdr->len, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(h != NULL, VMESH_ERR_PARSE, "JWS protected header is not JSON: %s (column %d)",
                 jerr.text, jerr.column);
    VMESH_ENSURE(json_is_object(h), VMESH_ERR_PARSE, "JWS protected header is not a JSON object");
    alg = json_object_get(h, "alg");
    VMESH_ENSURE(json_is_string(alg), VMESH_ERR_PARSE,
                 "JWS protected header has no \"alg\" string (RFC 7515 §4.1.1)");
    /* RFC 7515 §4.1.11: "If any of the listed extension Header Parameters are
     * not understood and supported by the recipient, then the JWS is
     * invalid." We understand no extension at all. */
    VMESH_ENSURE(json_object_get(h, "crit") == NULL, VMESH_ERR_UNSUPPORTED,
                 "JWS protected header has \"crit\"; no critical extension is supported");
    *hdr_json = h;
    h = NULL;
out:
    json_decref(h);
    return rc;
}

static size_t sig_len_of(const char *alg)
{
    /* RFC 7518 §3.4: ES256 R||S 64 octets, ES384 96; RFC 8037 §3.1 Ed25519 64;
     * RFC 7518 §3.2: HS256 the whole 32-octet HMAC-SHA-256. */
    if (strcmp(alg, "ES384") == 0)
        return 96;
    if (strcmp(alg, "HS256") == 0)
        return 32;
    return 64;
}

/* The one verification path: the caller's key (a signature key, or a MAC
 * key when mac_key is set) decides the algorithm, never the token. */
static vmesh_err jws_verify(const char *compact, size_t n, const vmesh_key *key, const uint8_t *mac_key,
                            vmesh_buf *header_out, vmesh_buf *payload_out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf hdr = {0}, sig = {0};
    json_t *h = NULL;
    jws_parts p;
    const char *alg, *want;

    VMESH_ENSURE((key != NULL || mac_key != NULL) && payload_out != NULL, VMESH_ERR_ARG,
                 "JWS verify: missing key or output");
    VMESH_GUARD(jws_split(compact, n, &p));
    VMESH_GUARD(jws_header(&p, &hdr, &h));
    alg = json_string_value(json_object_get(h, "alg"));
    /* RFC 8725 §3.1: "Libraries MUST enable the caller to specify a supported
     * set of algorithms and MUST NOT use any other algorithms". */
    VMESH_ENSURE(strcmp(alg, "none") != 0, VMESH_ERR_UNSUPPORTED,
                 "JWS \"alg\":\"none\" (unsecured JWS) is refused");
    want = mac_key != NULL ? "HS256" : vmesh_crypto_key_jws_alg(key);
    VMESH_ENSURE(want != NULL, VMESH_ERR_UNSUPPORTED, "JWS verify: the key has no JWS algorithm");
    VMESH_ENSURE(strcmp(alg, want) == 0, VMESH_ERR_MISMATCH,
                 "JWS \"alg\" is %.32s but the verification key is %s", alg, want);
    VMESH_ENSURE(p.len[2] > 0, VMESH_ERR_PARSE, "JWS: empty signature");
    VMESH_ENSURE(p.len[2] <= 256, VMESH_ERR_PARSE, "JWS: signature segment too long (%zu)",
                 p.len[2]);
    VMESH_GUARD(vmesh_jose_b64url_decode(p.seg[2], p.len[2], "JWS signature", &sig));
    VMESH_ENSURE(sig.len == sig_len_of(want), VMESH_ERR_SIGNATURE,
                 "JWS %s signature is %zu bytes, expected %zu", want, sig.len, sig_len_of(want));
    /* The signing input is the first two segments and the dot between them. */
    if (mac_key != NULL) {
        uint8_t mac[32];
        rc = hs256(mac_key, (const uint8_t *)compact, p.len[0] + 1 + p.len[1], mac);
        if (rc == VMESH_OK && !vmesh_crypto_memeq(mac, sig.data, sizeof(mac)))
            rc = vmesh_err_set(VMESH_ERR_SIGNATURE, "JWS HS256 MAC does not verify with the given key");
        vmesh_crypto_cleanse(mac, sizeof(mac));
    } else {
        rc = vmesh_crypto_verify(key, (const uint8_t *)compact, p.len[0] + 1 + p.len[1], sig.data, sig.len);
        if (rc == VMESH_ERR_SIGNATURE)
            rc = vmesh_err_set(rc, "JWS signature does not verify with the given %s key", want);
    }
    if (rc != VMESH_OK)
        goto out;
    vmesh_buf_reset(payload_out);
    VMESH_GUARD(vmesh_jose_b64url_decode(p.seg[1], p.len[1], "JWS payload", payload_out));
    VMESH_GUARD(vmesh_buf_terminate(payload_out));
    if (header_out != NULL) {
        VMESH_GUARD(vmesh_buf_set(header_out, hdr.data, hdr.len));
        VMESH_GUARD(vmesh_buf_terminate(header_out));
    }
out:
    json_decref(h);
    vmesh_buf_free(&hdr);
    vmesh_buf_free(&sig);
    return rc;
}

vmesh_err vmesh_jose_jws_verify_full(const char *compact, size_t n, const vmesh_key *key,
                                     vmesh_buf *header_out, vmesh_buf *payload_out)
{
    if (key == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "JWS verify: missing key or output");
    return jws_verify(compact, n, key, NULL, header_out, payload_out);
}

vmesh_err vmesh_jose_jws_verify_mac(const char *compact, size_t n, const uint8_t key[VMESH_JOSE_MAC_KEY_LEN],
                                    vmesh_buf *payload_out)
{
    if (key == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "JWS verify: missing MAC key");
    return jws_verify(compact, n, NULL, key, NULL, payload_out);
}

vmesh_err vmesh_jose_jws_verify(const char *compact, size_t n, const vmesh_key *key,
                                vmesh_buf *payload_out)
{
    return vmesh_jose_jws_verify_full(compact, n, key, NULL, payload_out);
}

vmesh_err vmesh_jose_jws_peek(const char *compact, size_t n, vmesh_buf *header_json,
                              vmesh_buf *payload)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf hdr = {0};
    json_t *h = NULL;
    jws_parts p;

    VMESH_GUARD(jws_split(compact, n, &p));
    VMESH_GUARD(jws_header(&p, &hdr, &h));
    if (payload != NULL) {
        vmesh_buf_reset(payload);
        VMESH_GUARD(vmesh_jose_b64url_decode(p.seg[1], p.len[1], "JWS payload", payload));
        VMESH_GUARD(vmesh_buf_terminate(payload));
    }
    if (header_json != NULL) {
        VMESH_GUARD(vmesh_buf_set(header_json, hdr.data, hdr.len));
        VMESH_GUARD(vmesh_buf_terminate(header_json));
    }
out:
    json_decref(h);
    vmesh_buf_free(&hdr);
    return rc;
}
