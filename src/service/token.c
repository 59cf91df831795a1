/*
 * Stateless session ids: the session's state sealed under an HMAC key that
 * all replicas share, so that no replica needs storage to serve a step.
 * A token is opened only after its MAC has been checked in constant time;
 * no field of an unauthenticated token is ever used. Session keys are
 * secrets: they are wiped after use and never logged.
 */
#include "vmesh/service.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#define TOKEN_VERSION 1
#define MAC_LEN 32
#define MAC_LABEL "vmesh challenge-response session v1"
#define KEY_FILE_MAX 4096
/* version, state, sid, created, expiry, nonce length */
#define FIXED_LEN (1 + 1 + 16 + 8 + 8 + 1)

void vmesh_service_session_init(vmesh_service_session *s)
{
    memset(s, 0, sizeof(*s));
    vmesh_buf_init(&s->ear, VMESH_SERVICE_MAX_TOKEN_EAR + 1);
}

void vmesh_service_session_free(vmesh_service_session *s)
{
    vmesh_buf_free(&s->ear);
}

static vmesh_err key_from_secret(const uint8_t *p, size_t n, const char *label, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 32;
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(md != NULL, VMESH_ERR_NOMEM, "out of memory");
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, label, strlen(label) + 1) != 1 ||
        EVP_DigestUpdate(md, p, n) != 1 || EVP_DigestFinal_ex(md, out, &len) != 1)
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "deriving the session key");
out:
    EVP_MD_CTX_free(md);
    return rc;
}

vmesh_err vmesh_service_session_key_load(const char *path, uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b;

    vmesh_buf_init(&b, KEY_FILE_MAX);
    b.secret = true;
    rc = vmesh_file_read(path, KEY_FILE_MAX, &b);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "session key %s", path);
        goto out;
    }
    VMESH_ENSURE(b.len >= 32, VMESH_ERR_ARG,
                 "session key %s is %zu bytes; give at least 32 random bytes (e.g. head -c 32 /dev/urandom)",
                 path, b.len);
    VMESH_GUARD(key_from_secret(b.data, b.len, "vmesh session key file", out));
out:
    vmesh_buf_free(&b);
    return rc;
}

vmesh_err vmesh_service_session_key_derive(const vmesh_key *ear_key, uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf pem = {0};

    pem.secret = true;
    VMESH_ENSURE(ear_key != NULL && vmesh_crypto_key_is_private(ear_key), VMESH_ERR_ARG,
                 "deriving the session key needs the EAR private key (or give --session-key FILE)");
    VMESH_GUARD(vmesh_crypto_key_to_pem(ear_key, true, &pem));
    VMESH_GUARD(key_from_secret(pem.data, pem.len, "vmesh session key from EAR key", out));
out:
    vmesh_buf_free(&pem);
    return rc;
}

/* HMAC-SHA-256 under the session key of MAC_LABEL (with its NUL) || p. */
static vmesh_err mac(const uint8_t key[32], const uint8_t *p, size_t n, uint8_t out[MAC_LEN])
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf m = {0};

    VMESH_GUARD(vmesh_buf_append(&m, MAC_LABEL, sizeof(MAC_LABEL)));
    VMESH_GUARD(vmesh_buf_append(&m, p, n));
    VMESH_GUARD(vmesh_crypto_hmac_sha256(key, 32, m.data, m.len, out));
out:
    vmesh_buf_free(&m);
    return rc;
}

static void put_i64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(u & 0xff);
        u >>= 8;
    }
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)u;
}

vmesh_err vmesh_service_token_seal(const uint8_t key[32], const vmesh_service_session *s, vmesh_buf *token)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf p = {0};
    uint8_t fixed[FIXED_LEN], tag[MAC_LEN], len2[2];
    size_t mtl = strnlen(s->media_type, sizeof(s->media_type));

    vmesh_buf_reset(token);
    VMESH_ENSURE(s->nonce_len >= VMESH_SERVICE_MIN_NONCE && s->nonce_len <= VMESH_SERVICE_MAX_NONCE,
                 VMESH_ERR_ARG, "session nonce is %zu bytes; it must be %d..%d", s->nonce_len,
                 VMESH_SERVICE_MIN_NONCE, VMESH_SERVICE_MAX_NONCE);
    VMESH_ENSURE(s->state == VMESH_SESSION_WAITING || s->state == VMESH_SESSION_COMPLETE, VMESH_ERR_ARG,
                 "session state %d is not waiting or complete", (int)s->state);
    VMESH_ENSURE(mtl <= VMESH_SERVICE_MAX_MT, VMESH_ERR_TOO_LARGE, "media type over %d bytes",
                 VMESH_SERVICE_MAX_MT);
    VMESH_ENSURE(s->ear.len <= VMESH_SERVICE_MAX_TOKEN_EAR, VMESH_ERR_TOO_LARGE,
                 "EAR of %zu bytes is too large to carry in a session id (max %zu)", s->ear.len,
                 VMESH_SERVICE_MAX_TOKEN_EAR);
    fixed[0] = TOKEN_VERSION;
    fixed[1] = (uint8_t)s->state;
    memcpy(fixed + 2, s->sid, 16);
    put_i64(fixed + 18, s->created);
    put_i64(fixed + 26, s->expiry);
    fixed[34] = (uint8_t)s->nonce_len;
    VMESH_GUARD(vmesh_buf_append(&p, fixed, sizeof(fixed)));
    VMESH_GUARD(vmesh_buf_append(&p, s->nonce, s->nonce_len));
    if (s->state == VMESH_SESSION_COMPLETE) {
        len2[0] = (uint8_t)(mtl >> 8);
        len2[1] = (uint8_t)mtl;
        VMESH_GUARD(vmesh_buf_append(&p, len2, 2));
        VMESH_GUARD(vmesh_buf_append(&p, s->media_type, mtl));
        len2[0] = (uint8_t)(s->ear.len >> 8);
        len2[1] = (uint8_t)s->ear.len;
        VMESH_GUARD(vmesh_buf_append(&p, len2, 2));
        VMESH_GUARD(vmesh_buf_append(&p, s->ear.data, s->ear.len));
    }
    VMESH_GUARD(mac(key, p.data, p.len, tag));
    VMESH_GUARD(vmesh_buf_append(&p, tag, sizeof(tag)));
    VMESH_GUARD(vmesh_b64url_encode(p.data, p.len, token));
    VMESH_GUARD(vmesh_buf_terminate(token));
out:
    vmesh_buf_free(&p);
    return rc;
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

vmesh_err vmesh_service_token_open(const uint8_t key[32], const char *token, size_t n, int64_t now,
                                   vmesh_service_session *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf raw = {0};
    uint8_t tag[MAC_LEN];
    const uint8_t *p;
    size_t body, off, l;

    vmesh_buf_reset(&out->ear);
    memset(out->sid, 0, sizeof(out->sid));
    out->nonce_len = 0;
    out->media_type[0] = '\0';
    out->state = 0;
    VMESH_ENSURE(n <= VMESH_SERVICE_MAX_TOKEN, VMESH_ERR_TOO_LARGE, "session id of %zu characters (max %zu)", n,
                 VMESH_SERVICE_MAX_TOKEN);
    /* Only the unpadded URL-safe alphabet: the id is a path segment. */
    for (size_t i = 0; i < n; i++)
        VMESH_ENSURE(b64url_char(token[i]), VMESH_ERR_PARSE, "session id is not base64url");
    vmesh_buf_init(&raw, VMESH_SERVICE_MAX_TOKEN);
    rc = vmesh_b64_decode(token, n, &raw);
    if (rc != VMESH_OK)
        VMESH_FAIL(VMESH_ERR_PARSE, "session id is not base64url");
    VMESH_ENSURE(raw.len >= FIXED_LEN + VMESH_SERVICE_MIN_NONCE + MAC_LEN, VMESH_ERR_PARSE,
                 "session id is too short (%zu bytes)", raw.len);
    body = raw.len - MAC_LEN;
    VMESH_GUARD(mac(key, raw.data, body, tag));
    VMESH_ENSURE(vmesh_crypto_memeq(tag, raw.data + body, MAC_LEN), VMESH_ERR_SIGNATURE,
                 "session id does not verify (unknown, tampered with, or issued under another session key)");
    /* Authenticated from here on; still parsed defensively. */
    p = raw.data;
    VMESH_ENSURE(p[0] == TOKEN_VERSION, VMESH_ERR_PARSE, "session id version %u is not supported", p[0]);
    VMESH_ENSURE(p[1] == VMESH_SESSION_WAITING || p[1] == VMESH_SESSION_COMPLETE, VMESH_ERR_PARSE,
                 "session id state %u is unknown", p[1]);
    out->state = (vmesh_session_state)p[1];
    memcpy(out->sid, p + 2, 16);
    out->created = get_i64(p + 18);
    out->expiry = get_i64(p + 26);
    l = p[34];
    off = FIXED_LEN;
    VMESH_ENSURE(l >= VMESH_SERVICE_MIN_NONCE && l <= VMESH_SERVICE_MAX_NONCE && off + l <= body, VMESH_ERR_PARSE,
                 "session id nonce length %zu is invalid", l);
    memcpy(out->nonce, p + off, l);
    out->nonce_len = l;
    off += l;
    if (out->state == VMESH_SESSION_COMPLETE) {
        VMESH_ENSURE(off + 2 <= body, VMESH_ERR_PARSE, "session id truncated");
        l = ((size_t)p[off] << 8) | p[off + 1];
        off += 2;
        VMESH_ENSURE(l <= VMESH_SERVICE_MAX_MT && off + l <= body, VMESH_ERR_PARSE,
                     "session id media type is invalid");
        memcpy(out->media_type, p + off, l);
        out->media_type[l] = '\0';
        VMESH_ENSURE(strlen(out->media_type) == l, VMESH_ERR_PARSE, "session id media type contains NUL");
        off += l;
        VMESH_ENSURE(off + 2 <= body, VMESH_ERR_PARSE, "session id truncated");
        l = ((size_t)p[off] << 8) | p[off + 1];
        off += 2;
        VMESH_ENSURE(l <= VMESH_SERVICE_MAX_TOKEN_EAR && off + l <= body, VMESH_ERR_PARSE,
                     "session id result is invalid");
        VMESH_GUARD(vmesh_buf_set(&out->ear, p + off, l));
        VMESH_GUARD(vmesh_buf_terminate(&out->ear));
        off += l;
    }
    VMESH_ENSURE(off == body, VMESH_ERR_PARSE, "session id has %zu trailing bytes", body - off);
    VMESH_ENSURE(out->expiry > now, VMESH_ERR_EXPIRED, "session expired %lld s ago",
                 (long long)(now - out->expiry));
out:
    OPENSSL_cleanse(tag, sizeof(tag));
    vmesh_buf_free(&raw);
    return rc;
}
