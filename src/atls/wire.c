/*
 * The attested channel's wire (DESIGN §3): frames, the attestation message,
 * the attestation-failed payload, the 0xff4d extension, the binder, the AK
 * nonce and the session proof check. Pure functions over bytes: they parse
 * what a hostile peer sends, so they must never read past a length, never
 * allocate more than a cap, never recurse on input, and never accept an
 * ambiguous message (duplicate or unknown keys, wrong types, trailing bytes).
 *
 * CBOR (RFC 8949) goes through the one codec (include/vmesh/cbor.h) with a
 * cursor that refuses indefinite lengths; every structure here is fixed and
 * shallow, so tags and floats are refused by type.
 */
#include "atls_int.h"
#include "vmesh/cmw.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names -------------------------------------------------------------------- */

static const char *const reason_names[VMESH_ATLS_R__COUNT] = {
    [VMESH_ATLS_R_NONE] = "none",
    [VMESH_ATLS_R_MALFORMED] = "malformed",
    [VMESH_ATLS_R_BINDER_MISMATCH] = "binder-mismatch",
    [VMESH_ATLS_R_ROLE_MISMATCH] = "role-mismatch",
    [VMESH_ATLS_R_EVIDENCE_INVALID] = "evidence-invalid",
    [VMESH_ATLS_R_NOT_AFFIRMING] = "not-affirming",
    [VMESH_ATLS_R_POLICY_REFUSED] = "policy-refused",
    [VMESH_ATLS_R_UNATTESTED_REFUSED] = "unattested-refused",
    [VMESH_ATLS_R_MODE_REFUSED] = "mode-refused",
    [VMESH_ATLS_R_MEDIA_TYPE_REFUSED] = "media-type-refused",
    [VMESH_ATLS_R_EAR_UNTRUSTED] = "ear-untrusted",
    [VMESH_ATLS_R_EAR_EXPIRED] = "ear-expired",
    [VMESH_ATLS_R_STALE_EPOCH] = "stale-epoch",
    [VMESH_ATLS_R_EVIDENCE_TOO_OLD] = "evidence-too-old",
    [VMESH_ATLS_R_PEER_IDENTITY] = "peer-identity",
    [VMESH_ATLS_R_TIMEOUT] = "timeout",
    [VMESH_ATLS_R_INTERNAL] = "internal",
    [VMESH_ATLS_R_AK_MISMATCH] = "ak-mismatch",
    [VMESH_ATLS_R_EAR_NONCE] = "ear-nonce",
    [VMESH_ATLS_R_EAR_SUBMOD] = "ear-submod",
    [VMESH_ATLS_R_EAR_ISSUER] = "ear-issuer",
    [VMESH_ATLS_R_EAR_LIFETIME] = "ear-lifetime",
};

const char *vmesh_atls_reason_name(uint32_t code)
{
    return code < VMESH_ATLS_R__COUNT && reason_names[code] ? reason_names[code] : "unknown";
}

const char *vmesh_atls_mode_name(int mode)
{
    switch (mode) {
    case VMESH_ATLS_MODE_EPOCH_FRESH: return "epoch-fresh";
    case VMESH_ATLS_MODE_FRESH: return "fresh";
    case VMESH_ATLS_MODE_PASSPORT: return "passport";
    case VMESH_ATLS_MODE_NONE: return "none";
    default: return "unknown";
    }
}

/* ---- CBOR helpers over the one codec ------------------------------------------------ */

/* A byte or text string of min..max bytes, borrowed from the input. */
static vmesh_err rd_string(vmesh_cbor *r, unsigned major, size_t min, size_t max, const uint8_t **p, size_t *n,
                           const char *field)
{
    vmesh_err rc = VMESH_OK;
    const char *t = NULL;

    if (major == VMESH_CBOR_TSTR) {
        VMESH_GUARD(vmesh_cbor_read_tstr(r, max, &t, n, field));
        *p = (const uint8_t *)t;
    } else {
        VMESH_GUARD(vmesh_cbor_read_bstr(r, max, p, n, field));
    }
    VMESH_ENSURE(*n >= min, VMESH_ERR_PARSE, "%s: %s is %zu bytes, expected %zu..%zu", r->what, field, *n, min, max);
out:
    return rc;
}

/* Map key k (1..30), refusing duplicates and keys outside allowed_mask. */
static vmesh_err rd_key(vmesh_cbor *r, uint32_t allowed_mask, uint32_t *seen, unsigned *key)
{
    vmesh_err rc = VMESH_OK;
    uint64_t k = 0;

    *key = 0;
    VMESH_GUARD(vmesh_cbor_read_uint(r, &k, "a map key"));
    VMESH_ENSURE(k < 32 && (allowed_mask & (1u << k)), VMESH_ERR_PARSE, "%s: unknown key %llu", r->what,
                 (unsigned long long)k);
    VMESH_ENSURE(!(*seen & (1u << k)), VMESH_ERR_PARSE, "%s: duplicate key %llu", r->what, (unsigned long long)k);
    *seen |= 1u << k;
    *key = (unsigned)k;
out:
    return rc;
}

/* A map of exactly `want` entries, whose count the caller checks itself. */
static vmesh_err rd_map(vmesh_cbor *r, uint64_t *count, const char *field)
{
    return vmesh_cbor_read_map(r, count, UINT64_MAX, field);
}

/* ---- attestation message ---------------------------------------------------------- */

void vmesh_atls_msg_init(vmesh_atls_msg *m)
{
    memset(m, 0, sizeof(*m));
    vmesh_buf_init(&m->media_type, VMESH_ATLS_MEDIA_TYPE_MAX + 1);
    vmesh_buf_init(&m->cmw, VMESH_ATLS_FRAME_MAX_LIMIT);
    vmesh_buf_init(&m->ak_spki, VMESH_ATLS_SPKI_MAX);
    vmesh_buf_init(&m->epoch_nonce, VMESH_ATLS_EPOCH_NONCE_MAX);
    vmesh_buf_init(&m->proof, VMESH_ATLS_PROOF_MAX);
}

void vmesh_atls_msg_free(vmesh_atls_msg *m)
{
    vmesh_buf_free(&m->media_type);
    vmesh_buf_free(&m->cmw);
    vmesh_buf_free(&m->ak_spki);
    vmesh_buf_free(&m->epoch_nonce);
    vmesh_buf_free(&m->proof);
}

vmesh_err vmesh_atls_msg_encode(const vmesh_atls_msg *m, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cmw cmw;

    vmesh_cmw_init(&cmw);

    VMESH_ENSURE(m->role == VMESH_ATLS_SERVER || m->role == VMESH_ATLS_CLIENT, VMESH_ERR_ARG,
                 "attestation message: role must be 0 (server) or 1 (client)");
    VMESH_ENSURE(m->media_type.len > 0 && m->media_type.len <= VMESH_ATLS_MEDIA_TYPE_MAX &&
                     memchr(m->media_type.data, 0, m->media_type.len) == NULL,
                 VMESH_ERR_ARG, "attestation message: media type must be 1..%d bytes of text",
                 VMESH_ATLS_MEDIA_TYPE_MAX);
    VMESH_ENSURE(m->ak_spki.len > 0, VMESH_ERR_ARG, "attestation message: no AK");
    VMESH_ENSURE(m->keybound ? m->proof.len == 0 : m->proof.len > 0, VMESH_ERR_ARG,
                 m->keybound ? "attestation message: a key-bound message carries no session proof"
                             : "attestation message: no session proof");
    VMESH_ENSURE(!m->keybound || !m->fresh, VMESH_ERR_ARG,
                 "attestation message: fresh mode is never key-bound");
    VMESH_ENSURE(m->fresh || (m->epoch_nonce.len >= VMESH_ATLS_EPOCH_NONCE_MIN &&
                              m->epoch_nonce.len <= VMESH_ATLS_EPOCH_NONCE_MAX),
                 VMESH_ERR_ARG, "attestation message: epoch nonce must be %d..%d bytes",
                 VMESH_ATLS_EPOCH_NONCE_MIN, VMESH_ATLS_EPOCH_NONCE_MAX);
    VMESH_GUARD(vmesh_cbor_put_map(out, 6));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(out, m->keybound ? VMESH_ATLS_VERSION_KEYBOUND : VMESH_ATLS_VERSION));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
    VMESH_GUARD(vmesh_cbor_put_uint(out, (uint64_t)m->role));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 3));
    if (m->collection) {
        /* the collection as given, once checked to be one */
        VMESH_GUARD(vmesh_cmw_decode_cbor(m->cmw.data, m->cmw.len, &cmw));
        VMESH_ENSURE(cmw.collection, VMESH_ERR_ARG, "attestation message: cmw is a record, not a collection");
        VMESH_GUARD(vmesh_buf_append(out, m->cmw.data, m->cmw.len));
    } else {
        VMESH_GUARD(vmesh_cbor_put_array(out, 2));
        VMESH_GUARD(vmesh_cbor_put_tstr(out, (const char *)m->media_type.data, m->media_type.len));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, m->cmw.data, m->cmw.len));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(out, 4));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, m->ak_spki.data, m->ak_spki.len));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 5));
    if (m->fresh) {
        VMESH_GUARD(vmesh_cbor_put_map(out, 1));
        VMESH_GUARD(vmesh_cbor_put_uint(out, 3));
        VMESH_GUARD(vmesh_cbor_put_bool(out, true));
    } else {
        VMESH_GUARD(vmesh_cbor_put_map(out, 2));
        VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
        VMESH_GUARD(vmesh_cbor_put_uint(out, m->epoch_id));
        VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, m->epoch_nonce.data, m->epoch_nonce.len));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(out, 6));
    /* version 3: an empty key 6 keeps six keys, so that a version-2 decoder
     * stops at key 1 and names the version instead of miscounting keys */
    VMESH_GUARD(vmesh_cbor_put_bstr(out, m->proof.data, m->proof.len));
out:
    vmesh_cmw_free(&cmw);
    return rc;
}

static vmesh_err decode_freshness(vmesh_cbor *r, vmesh_atls_msg *m)
{
    vmesh_err rc = VMESH_OK;
    uint64_t count;
    uint32_t seen = 0;
    unsigned key;
    const uint8_t *p;
    size_t n;
    bool b;

    VMESH_GUARD(rd_map(r, &count, "freshness (key 5)"));
    VMESH_ENSURE(count == 1 || count == 2, VMESH_ERR_PARSE,
                 "%s: freshness must be {1: epoch-id, 2: epoch-nonce} or {3: true}", r->what);
    for (uint64_t i = 0; i < count; i++) {
        VMESH_GUARD(rd_key(r, count == 1 ? 1u << 3 : (1u << 1 | 1u << 2), &seen, &key));
        switch (key) {
        case 1: VMESH_GUARD(vmesh_cbor_read_uint(r, &m->epoch_id, "epoch-id")); break;
        case 2:
            VMESH_GUARD(rd_string(r, VMESH_CBOR_BSTR, VMESH_ATLS_EPOCH_NONCE_MIN,
                                  VMESH_ATLS_EPOCH_NONCE_MAX, &p, &n, "epoch-nonce"));
            VMESH_GUARD(vmesh_buf_set(&m->epoch_nonce, p, n));
            break;
        default:
            VMESH_GUARD(vmesh_cbor_read_bool(r, &b, "fresh"));
            VMESH_ENSURE(b, VMESH_ERR_PARSE, "%s: freshness {3: false} is not defined", r->what);
            m->fresh = true;
            break;
        }
    }
out:
    return rc;
}

/* Key 3: an RFC 9999 CBOR CMW. A record must name a media type (a CoAP
 * Content-Format is refused: atls picks schemes by media type) and, when it
 * has an indicator, say evidence or attestation result. */
static vmesh_err decode_cmw(vmesh_cbor *r, vmesh_atls_msg *m)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor item;
    vmesh_cmw c;
    const vmesh_cmw_record *rec;

    vmesh_cmw_init(&c);
    VMESH_GUARD(vmesh_cbor_read_item(r, &item));
    rc = vmesh_cmw_decode_cbor(item.p + item.off, vmesh_cbor_left(&item), &c);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "attestation message: cmw (key 3)");
        goto out;
    }
    if (c.collection) {
        m->collection = true;
        VMESH_GUARD(vmesh_buf_set(&m->media_type, VMESH_CMW_MEDIA_TYPE_CBOR, strlen(VMESH_CMW_MEDIA_TYPE_CBOR)));
        VMESH_GUARD(vmesh_buf_terminate(&m->media_type));
        VMESH_GUARD(vmesh_buf_set(&m->cmw, item.p + item.off, vmesh_cbor_left(&item)));
        goto out;
    }
    rec = &c.rec[0];
    VMESH_ENSURE(rec->type != NULL, VMESH_ERR_UNSUPPORTED,
                 "attestation message: cmw type is CoAP Content-Format %u; a media type is required", rec->cf);
    VMESH_ENSURE(strlen(rec->type) <= VMESH_ATLS_MEDIA_TYPE_MAX, VMESH_ERR_PARSE,
                 "attestation message: cmw media type longer than %d bytes", VMESH_ATLS_MEDIA_TYPE_MAX);
    VMESH_ENSURE(rec->ind == 0 || (rec->ind & (VMESH_CMW_IND_EVIDENCE | VMESH_CMW_IND_ATTESTATION_RESULTS)) != 0,
                 VMESH_ERR_PARSE,
                 "attestation message: cmw indicator %llu says neither evidence nor attestation result",
                 (unsigned long long)rec->ind);
    VMESH_GUARD(vmesh_buf_set(&m->media_type, rec->type, strlen(rec->type)));
    VMESH_GUARD(vmesh_buf_terminate(&m->media_type));
    VMESH_GUARD(vmesh_buf_set(&m->cmw, rec->value.data, rec->value.len));
out:
    vmesh_cmw_free(&c);
    return rc;
}

vmesh_err vmesh_atls_msg_decode(const uint8_t *data, size_t len, vmesh_atls_msg *m)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count, v;
    uint32_t seen = 0;
    unsigned key;
    const uint8_t *p;
    size_t n;

    vmesh_atls_msg_free(m);
    vmesh_atls_msg_init(m);
    vmesh_cbor_init(&r, data, len, "attestation message", 0);
    VMESH_GUARD(rd_map(&r, &count, "the message"));
    VMESH_ENSURE(count == 6, VMESH_ERR_PARSE,
                 "attestation message: map has %llu entries, expected exactly 6 (keys 1..6)",
                 (unsigned long long)count);
    for (unsigned i = 0; i < 6; i++) {
        VMESH_GUARD(rd_key(&r, 0x7e, &seen, &key));
        switch (key) {
        case 1:
            VMESH_GUARD(vmesh_cbor_read_uint(&r, &v, "version (key 1)"));
            VMESH_ENSURE(v != 1, VMESH_ERR_UNSUPPORTED,
                         "attestation message: version 1 (before RFC 9999 CMW) is no longer accepted; "
                         "this side speaks version %d: upgrade the peer", VMESH_ATLS_VERSION);
            VMESH_ENSURE(v == VMESH_ATLS_VERSION || v == VMESH_ATLS_VERSION_KEYBOUND, VMESH_ERR_UNSUPPORTED,
                         "attestation message: version %llu, only %d and %d (key-bound) are supported",
                         (unsigned long long)v, VMESH_ATLS_VERSION, VMESH_ATLS_VERSION_KEYBOUND);
            m->keybound = v == VMESH_ATLS_VERSION_KEYBOUND;
            break;
        case 2:
            VMESH_GUARD(vmesh_cbor_read_uint(&r, &v, "role (key 2)"));
            VMESH_ENSURE(v <= 1, VMESH_ERR_PARSE,
                         "attestation message: role %llu, expected 0 (server) or 1 (client)",
                         (unsigned long long)v);
            m->role = (vmesh_atls_role)v;
            break;
        case 3: VMESH_GUARD(decode_cmw(&r, m)); break;
        case 4:
            VMESH_GUARD(rd_string(&r, VMESH_CBOR_BSTR, 1, VMESH_ATLS_SPKI_MAX, &p, &n, "AK (key 4)"));
            VMESH_GUARD(vmesh_buf_set(&m->ak_spki, p, n));
            break;
        case 5: VMESH_GUARD(decode_freshness(&r, m)); break;
        default:
            /* length checked against the version once the map is read */
            VMESH_GUARD(rd_string(&r, VMESH_CBOR_BSTR, 0, VMESH_ATLS_PROOF_MAX, &p, &n,
                                  "session proof (key 6)"));
            VMESH_GUARD(vmesh_buf_set(&m->proof, p, n));
            break;
        }
    }
    VMESH_GUARD(vmesh_cbor_end(&r, "the CBOR map"));
    if (m->keybound) {
        VMESH_ENSURE(m->proof.len == 0, VMESH_ERR_PARSE,
                     "attestation message: version 3 (key-bound) must carry an empty session proof (key 6), "
                     "got %zu bytes", m->proof.len);
        VMESH_ENSURE(!m->fresh, VMESH_ERR_PARSE,
                     "attestation message: version 3 (key-bound) with fresh freshness {3: true}: fresh "
                     "evidence is bound to the session's binder and is never key-bound");
    } else {
        VMESH_ENSURE(m->proof.len > 0, VMESH_ERR_PARSE,
                     "attestation message: session proof (key 6) is empty in a version 2 message");
    }
out:
    return rc;
}

/* ---- attestation-failed payload ------------------------------------------------------ */

vmesh_err vmesh_atls_failed_encode(uint32_t reason, const char *message, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    size_t n = message ? strnlen(message, VMESH_ATLS_FAIL_MESSAGE_MAX) : 0;

    VMESH_GUARD(vmesh_cbor_put_map(out, 2));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(out, reason));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
    VMESH_GUARD(vmesh_cbor_put_tstr(out, (const char *)message ? message : "", n));
out:
    return rc;
}

vmesh_err vmesh_atls_failed_decode(const uint8_t *data, size_t len, uint32_t *reason,
                                   char message[VMESH_ATLS_FAIL_MESSAGE_MAX + 1])
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count, v;
    uint32_t seen = 0;
    unsigned key;
    const uint8_t *p;
    size_t n;

    *reason = 0;
    message[0] = 0;
    vmesh_cbor_init(&r, data, len, "attestation-failed", 0);
    VMESH_GUARD(rd_map(&r, &count, "the payload"));
    VMESH_ENSURE(count == 2, VMESH_ERR_PARSE,
                 "attestation-failed: expected {1: reason, 2: message}");
    for (unsigned i = 0; i < 2; i++) {
        VMESH_GUARD(rd_key(&r, 0x6, &seen, &key));
        if (key == 1) {
            VMESH_GUARD(vmesh_cbor_read_uint(&r, &v, "reason (key 1)"));
            VMESH_ENSURE(v <= UINT32_MAX, VMESH_ERR_PARSE, "attestation-failed: reason too large");
            *reason = (uint32_t)v;
        } else {
            VMESH_GUARD(rd_string(&r, VMESH_CBOR_TSTR, 0, VMESH_ATLS_FAIL_MESSAGE_MAX, &p, &n,
                                  "message (key 2)"));
            /* The peer's text ends up in our logs: no control characters. */
            for (size_t j = 0; j < n; j++)
                message[j] = (p[j] < 0x20 || p[j] == 0x7f) ? '?' : (char)p[j];
            message[n] = 0;
        }
    }
    VMESH_GUARD(vmesh_cbor_end(&r, "the CBOR map"));
out:
    return rc;
}

/* ---- frames ------------------------------------------------------------------------- */

#define FAILED_PAYLOAD_MAX 1024

vmesh_err vmesh_atls_frame_encode(uint8_t type, const uint8_t *payload, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    uint8_t h[VMESH_ATLS_FRAME_HEADER];

    VMESH_ENSURE(type >= VMESH_ATLS_FRAME_ATTESTATION && type <= VMESH_ATLS_FRAME_REATTEST_ANSWER,
                 VMESH_ERR_ARG, "frame type %u is not defined", type);
    VMESH_ENSURE(n <= VMESH_ATLS_FRAME_MAX_LIMIT, VMESH_ERR_TOO_LARGE,
                 "frame payload of %zu bytes does not fit a 24-bit length", n);
    h[0] = type;
    h[1] = (uint8_t)(n >> 16);
    h[2] = (uint8_t)(n >> 8);
    h[3] = (uint8_t)n;
    VMESH_GUARD(vmesh_buf_append(out, h, sizeof(h)));
    VMESH_GUARD(vmesh_buf_append(out, payload, n));
out:
    return rc;
}

vmesh_err vmesh_atls_frame_parser_init(vmesh_atls_frame_parser *fp, size_t max)
{
    memset(fp, 0, sizeof(*fp));
    if (max == 0)
        max = VMESH_ATLS_FRAME_MAX_DEFAULT;
    if (max > VMESH_ATLS_FRAME_MAX_LIMIT)
        return vmesh_err_set(VMESH_ERR_ARG, "frame cap %zu is above the 24-bit limit of %zu", max,
                             VMESH_ATLS_FRAME_MAX_LIMIT);
    fp->max = max;
    vmesh_buf_init(&fp->payload, max);
    return VMESH_OK;
}

void vmesh_atls_frame_parser_reset(vmesh_atls_frame_parser *fp)
{
    fp->hdr_len = 0;
    fp->type = 0;
    fp->need = 0;
    fp->done = false;
    vmesh_buf_reset(&fp->payload);
}

void vmesh_atls_frame_parser_free(vmesh_atls_frame_parser *fp)
{
    vmesh_buf_free(&fp->payload);
    fp->hdr_len = 0;
    fp->done = false;
}

static vmesh_err header_check(vmesh_atls_frame_parser *fp)
{
    vmesh_err rc = VMESH_OK;

    fp->type = fp->hdr[0];
    fp->need = (size_t)fp->hdr[1] << 16 | (size_t)fp->hdr[2] << 8 | fp->hdr[3];
    /* The preamble and the in-band stream have disjoint types (but 2). */
    if (fp->inband && (fp->type == VMESH_ATLS_FRAME_ATTESTATION || fp->type == VMESH_ATLS_FRAME_ACCEPTED))
        VMESH_FAIL(VMESH_ERR_PARSE, "frame type %u is not allowed after the preamble", fp->type);
    if (!fp->inband && fp->type >= VMESH_ATLS_FRAME_DATA && fp->type <= VMESH_ATLS_FRAME_REATTEST_ANSWER)
        VMESH_FAIL(VMESH_ERR_PARSE, "frame type %u is not allowed in the preamble", fp->type);
    switch (fp->type) {
    case VMESH_ATLS_FRAME_DATA:
        VMESH_ENSURE(fp->need > 0 && fp->need <= VMESH_ATLS_DATA_FRAME_MAX, VMESH_ERR_TOO_LARGE,
                     "data frame of %zu bytes is outside 1..%d", fp->need, VMESH_ATLS_DATA_FRAME_MAX);
        break;
    case VMESH_ATLS_FRAME_REATTEST_REQUEST:
        VMESH_ENSURE(fp->need <= VMESH_ATLS_REATTEST_REQUEST_MAX, VMESH_ERR_TOO_LARGE,
                     "re-attestation request of %zu bytes is above the cap of %d", fp->need,
                     VMESH_ATLS_REATTEST_REQUEST_MAX);
        break;
    case VMESH_ATLS_FRAME_REATTEST_ANSWER:
        VMESH_ENSURE(fp->need > 0 && fp->need <= fp->max + 64, VMESH_ERR_TOO_LARGE,
                     "re-attestation answer of %zu bytes is outside 1..%zu", fp->need, fp->max + 64);
        break;
    case VMESH_ATLS_FRAME_ATTESTATION:
        VMESH_ENSURE(fp->need > 0, VMESH_ERR_PARSE, "attestation frame is empty");
        VMESH_ENSURE(fp->need <= fp->max, VMESH_ERR_TOO_LARGE,
                     "attestation frame of %zu bytes is above the cap of %zu", fp->need, fp->max);
        break;
    case VMESH_ATLS_FRAME_FAILED:
        VMESH_ENSURE(fp->need <= FAILED_PAYLOAD_MAX, VMESH_ERR_TOO_LARGE,
                     "attestation-failed frame of %zu bytes is above the cap of %d", fp->need,
                     FAILED_PAYLOAD_MAX);
        break;
    case VMESH_ATLS_FRAME_ACCEPTED:
        VMESH_ENSURE(fp->need == 0, VMESH_ERR_PARSE,
                     "attestation-accepted frame must be empty, has %zu bytes", fp->need);
        break;
    default:
        VMESH_FAIL(VMESH_ERR_PARSE, "unknown frame type %u", fp->type);
    }
out:
    return rc;
}

vmesh_err vmesh_atls_frame_parser_feed(vmesh_atls_frame_parser *fp, const uint8_t *p, size_t n,
                                       size_t *used)
{
    vmesh_err rc = VMESH_OK;
    size_t i = 0, take;

    VMESH_ENSURE(!fp->done, VMESH_ERR_STATE, "frame parser: frame already complete; reset first");
    if (fp->hdr_len < VMESH_ATLS_FRAME_HEADER) {
        while (fp->hdr_len < VMESH_ATLS_FRAME_HEADER && i < n)
            fp->hdr[fp->hdr_len++] = p[i++];
        if (fp->hdr_len < VMESH_ATLS_FRAME_HEADER) {
            rc = VMESH_ERR_WANT_READ;
            goto out;
        }
        /* The length is judged before a single payload byte is stored. */
        VMESH_GUARD(header_check(fp));
        if (fp->type == VMESH_ATLS_FRAME_DATA) {
            /* The caller takes the fp->need data bytes itself. */
            fp->done = true;
            goto out;
        }
    }
    take = fp->need - fp->payload.len;
    if (take > n - i)
        take = n - i;
    VMESH_GUARD(vmesh_buf_append(&fp->payload, p + i, take));
    i += take;
    if (fp->payload.len == fp->need)
        fp->done = true;
    else
        rc = VMESH_ERR_WANT_READ;
out:
    *used = i;
    return rc;
}

/* ---- the 0xff4d extension -------------------------------------------------------------- */

void vmesh_atls_ext_free(vmesh_atls_ext *e)
{
    for (size_t i = 0; i < e->n_media_types; i++)
        free(e->media_types[i]);
    memset(e, 0, sizeof(*e));
}

vmesh_err vmesh_atls_ext_encode(const vmesh_atls_ext *e, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    size_t start = out->len;

    VMESH_ENSURE(e->n_modes <= 3 && e->n_media_types <= VMESH_ATLS_EXT_MEDIA_TYPES_MAX,
                 VMESH_ERR_ARG, "0xff4d: at most 3 modes and %d media types",
                 VMESH_ATLS_EXT_MEDIA_TYPES_MAX);
    VMESH_GUARD(vmesh_cbor_put_map(out, e->reattest ? 4 : 3));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_array(out, e->n_modes));
    for (size_t i = 0; i < e->n_modes; i++) {
        VMESH_ENSURE(e->modes[i] <= VMESH_ATLS_MODE_PASSPORT, VMESH_ERR_ARG,
                     "0xff4d: mode %u is not defined", e->modes[i]);
        VMESH_GUARD(vmesh_cbor_put_uint(out, e->modes[i]));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
    VMESH_GUARD(vmesh_cbor_put_array(out, e->n_media_types));
    for (size_t i = 0; i < e->n_media_types; i++) {
        size_t l = strnlen(e->media_types[i], VMESH_ATLS_MEDIA_TYPE_MAX + 1);

        VMESH_ENSURE(l > 0 && l <= VMESH_ATLS_MEDIA_TYPE_MAX, VMESH_ERR_ARG,
                     "0xff4d: media types must be 1..%d bytes", VMESH_ATLS_MEDIA_TYPE_MAX);
        VMESH_GUARD(vmesh_cbor_put_tstr(out, (const char *)e->media_types[i], l));
    }
    VMESH_GUARD(vmesh_cbor_put_uint(out, 3));
    VMESH_GUARD(vmesh_cbor_put_bool(out, e->will_attest));
    if (e->reattest) {
        VMESH_GUARD(vmesh_cbor_put_uint(out, 4));
        VMESH_GUARD(vmesh_cbor_put_bool(out, true));
    }
    VMESH_ENSURE(out->len - start <= VMESH_ATLS_EXT_MAX, VMESH_ERR_TOO_LARGE,
                 "0xff4d extension of %zu bytes is above the cap of %d", out->len - start,
                 VMESH_ATLS_EXT_MAX);
out:
    return rc;
}

vmesh_err vmesh_atls_ext_decode(const uint8_t *data, size_t len, vmesh_atls_ext *e)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count, v;
    uint32_t seen = 0;
    unsigned key, modes_seen = 0, entries;
    const uint8_t *p;
    size_t n;

    memset(e, 0, sizeof(*e));
    VMESH_ENSURE(len <= VMESH_ATLS_EXT_MAX, VMESH_ERR_TOO_LARGE,
                 "0xff4d extension of %zu bytes is above the cap of %d", len, VMESH_ATLS_EXT_MAX);
    vmesh_cbor_init(&r, data, len, "0xff4d extension", 0);
    VMESH_GUARD(rd_map(&r, &count, "the extension"));
    VMESH_ENSURE(count == 3 || count == 4, VMESH_ERR_PARSE,
                 "0xff4d extension: expected {1: modes, 2: media types, 3: will-attest, ? 4: reattest}");
    entries = (unsigned)count;
    for (unsigned i = 0; i < entries; i++) {
        VMESH_GUARD(rd_key(&r, 0x1e, &seen, &key));
        if (key == 1) {
            VMESH_GUARD(vmesh_cbor_read_array(&r, &count, UINT64_MAX, "modes (key 1)"));
            VMESH_ENSURE(count <= 3, VMESH_ERR_PARSE, "0xff4d extension: more than 3 modes");
            for (uint64_t j = 0; j < count; j++) {
                VMESH_GUARD(vmesh_cbor_read_uint(&r, &v, "a mode"));
                VMESH_ENSURE(v <= VMESH_ATLS_MODE_PASSPORT, VMESH_ERR_PARSE,
                             "0xff4d extension: unknown mode %llu", (unsigned long long)v);
                VMESH_ENSURE(!(modes_seen & (1u << v)), VMESH_ERR_PARSE,
                             "0xff4d extension: mode %llu repeated", (unsigned long long)v);
                modes_seen |= 1u << v;
                e->modes[e->n_modes++] = (uint8_t)v;
            }
        } else if (key == 2) {
            VMESH_GUARD(vmesh_cbor_read_array(&r, &count, UINT64_MAX, "media types (key 2)"));
            VMESH_ENSURE(count <= VMESH_ATLS_EXT_MEDIA_TYPES_MAX, VMESH_ERR_PARSE,
                         "0xff4d extension: more than %d media types",
                         VMESH_ATLS_EXT_MEDIA_TYPES_MAX);
            for (uint64_t j = 0; j < count; j++) {
                VMESH_GUARD(rd_string(&r, VMESH_CBOR_TSTR, 1, VMESH_ATLS_MEDIA_TYPE_MAX, &p, &n,
                                      "a media type"));
                e->media_types[e->n_media_types] = strndup((const char *)p, n);
                VMESH_ENSURE(e->media_types[e->n_media_types] != NULL, VMESH_ERR_NOMEM,
                             "out of memory");
                e->n_media_types++;
            }
        } else if (key == 3) {
            VMESH_GUARD(vmesh_cbor_read_bool(&r, &e->will_attest, "will-attest (key 3)"));
        } else {
            VMESH_GUARD(vmesh_cbor_read_bool(&r, &e->reattest, "reattest (key 4)"));
        }
    }
    VMESH_ENSURE((seen & 0xe) == 0xe, VMESH_ERR_PARSE,
                 "0xff4d extension: keys 1, 2 and 3 are required (will-attest (key 3) is missing)");
    VMESH_GUARD(vmesh_cbor_end(&r, "the CBOR map"));
out:
    if (rc != VMESH_OK)
        vmesh_atls_ext_free(e);
    return rc;
}

/* ---- binding --------------------------------------------------------------------------- */

void vmesh_atls_binder_compute(vmesh_atls_role role, const uint8_t exporter[32],
                               const uint8_t *leaf_spki, size_t leaf_spki_len, uint8_t out[32])
{
    uint8_t buf[sizeof(VMESH_ATLS_BINDER_LABEL) - 1 + 1 + 32 + 32];
    size_t off = 0;

    /* DESIGN §3.2: binder = SHA-256("vmesh attestation v1" || role ||
     * TLS-Exporter(...) || SHA-256(SPKI of the sender's TLS leaf)). */
    memcpy(buf, VMESH_ATLS_BINDER_LABEL, sizeof(VMESH_ATLS_BINDER_LABEL) - 1);
    off += sizeof(VMESH_ATLS_BINDER_LABEL) - 1;
    buf[off++] = (uint8_t)role;
    memcpy(buf + off, exporter, 32);
    off += 32;
    vmesh_crypto_sha256(leaf_spki, leaf_spki_len, buf + off);
    off += 32;
    vmesh_crypto_sha256(buf, off, out);
}

vmesh_err vmesh_atls_ak_nonce(const uint8_t *akpub, size_t akpub_len, const uint8_t *value, size_t value_len,
                              uint8_t out[32])
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    VMESH_ENSURE(akpub != NULL && akpub_len > 0, VMESH_ERR_ARG, "ak_nonce: no AK");
    VMESH_ENSURE(value != NULL && value_len > 0, VMESH_ERR_ARG,
                 "ak_nonce: no freshness value (epoch nonce, binder or challenge)");
    /* DESIGN §3.2: ak_nonce = SHA-256("vmesh ak v1" || SPKI(AK) || freshness value). */
    VMESH_GUARD(vmesh_buf_append(&b, VMESH_ATLS_AK_LABEL, sizeof(VMESH_ATLS_AK_LABEL) - 1));
    VMESH_GUARD(vmesh_buf_append(&b, akpub, akpub_len));
    VMESH_GUARD(vmesh_buf_append(&b, value, value_len));
    vmesh_crypto_sha256(b.data, b.len, out);
out:
    vmesh_buf_free(&b);
    return rc;
}

/* Parsed AKs by SPKI. A relying party sees the same AK on every session
 * of a peer until the peer rotates it, and parsing a public key costs a
 * third of the signature check, so the last few are kept (process-wide,
 * direct-mapped on the SPKI digest, compared on the full SPKI). */
#define AK_CACHE_SLOTS 256
static struct {
    uint8_t digest[32];
    size_t len;
    uint8_t spki[VMESH_ATLS_SPKI_MAX];
    vmesh_key *key;
} ak_cache[AK_CACHE_SLOTS];
static pthread_mutex_t ak_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static vmesh_err ak_from_spki(const uint8_t *spki, size_t n, vmesh_key **out)
{
    uint8_t d[32];
    size_t slot;
    vmesh_err rc;

    if (n == 0 || n > VMESH_ATLS_SPKI_MAX)
        return vmesh_crypto_key_from_spki(spki, n, out); /* reports the problem */
    vmesh_crypto_sha256(spki, n, d);
    slot = ((size_t)d[0] << 8 | d[1]) % AK_CACHE_SLOTS;
    pthread_mutex_lock(&ak_cache_lock);
    if (ak_cache[slot].key != NULL && ak_cache[slot].len == n && memcmp(ak_cache[slot].spki, spki, n) == 0) {
        *out = vmesh_crypto_key_ref(ak_cache[slot].key);
        pthread_mutex_unlock(&ak_cache_lock);
        return VMESH_OK;
    }
    pthread_mutex_unlock(&ak_cache_lock);
    rc = vmesh_crypto_key_from_spki(spki, n, out);
    if (rc != VMESH_OK)
        return rc;
    pthread_mutex_lock(&ak_cache_lock);
    vmesh_crypto_key_free(ak_cache[slot].key);
    memcpy(ak_cache[slot].digest, d, 32);
    memcpy(ak_cache[slot].spki, spki, n);
    ak_cache[slot].len = n;
    ak_cache[slot].key = vmesh_crypto_key_ref(*out);
    pthread_mutex_unlock(&ak_cache_lock);
    return VMESH_OK;
}

vmesh_err vmesh_atls_kb_ext_decode(const uint8_t *p, size_t n, uint8_t *flags)
{
    vmesh_err rc = VMESH_OK;

    *flags = 0;
    VMESH_ENSURE(n == 1, VMESH_ERR_PARSE, "key-bound extension (0xff4e): %zu bytes, expected exactly 1", n);
    VMESH_ENSURE(p[0] != 0 && (p[0] & ~(VMESH_ATLS_KB_ACCEPT | VMESH_ATLS_KB_ATTEST)) == 0, VMESH_ERR_PARSE,
                 "key-bound extension (0xff4e): flags 0x%02x, expected 0x01 (accept), 0x02 (attest) or both",
                 p[0]);
    *flags = p[0];
out:
    return rc;
}

vmesh_err vmesh_atls_ticket_request_decode(const uint8_t *p, size_t n, bool client_hello, uint8_t counts[2])
{
    vmesh_err rc = VMESH_OK;

    counts[0] = counts[1] = 0;
    VMESH_ENSURE(n == (client_hello ? 2u : 1u), VMESH_ERR_PARSE,
                 "ticket_request extension (RFC 9149) in the %s: %zu bytes, expected exactly %s",
                 client_hello ? "ClientHello" : "EncryptedExtensions", n,
                 client_hello ? "2 (new_session_count, resumption_count)" : "1 (expected_count)");
    counts[0] = p[0];
    if (client_hello)
        counts[1] = p[1];
out:
    return rc;
}

vmesh_err vmesh_atls_proof_verify(const vmesh_atls_msg *m, const uint8_t binder[32])
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *ak = NULL;

    rc = ak_from_spki(m->ak_spki.data, m->ak_spki.len, &ak);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(VMESH_ERR_PARSE, "attestation message: AK (key 4)");
        goto out;
    }
    /* DESIGN §3.3: "each session is proved by one AK signature over the
     * binder"; vmesh fixes the AK to ECDSA P-256 (raw r||s). */
    VMESH_ENSURE(vmesh_crypto_key_type(ak) == VMESH_KEY_EC_P256, VMESH_ERR_UNSUPPORTED,
                 "attestation message: the AK must be an EC P-256 key");
    VMESH_ENSURE(m->proof.len == 64, VMESH_ERR_SIGNATURE,
                 "session proof is %zu bytes, expected 64 (ECDSA P-256 r||s)", m->proof.len);
    rc = vmesh_crypto_verify(ak, binder, 32, m->proof.data, m->proof.len);
    if (rc != VMESH_OK)
        rc = vmesh_err_set(VMESH_ERR_SIGNATURE,
                           "session proof does not verify over this session's binder with the "
                           "message's AK (replayed or relayed message?)");
out:
    vmesh_crypto_key_free(ak);
    return rc;
}
