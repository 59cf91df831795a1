/*
 * The batch appraisal's wire format (DECISIONS D53, docs/VERIFIER.md "Batch
 * appraisal"): one CBOR (RFC 8949, deterministic) body carries several
 * one-request appraisals, one CBOR body carries their answers. The one
 * parser of each, shared by the verifier (handler.c) and the relying party
 * (client.c).
 *
 *   request  = [ 1*64 item ]
 *   item     = { 1: nonce (bstr), 2: media type (tstr), 3: evidence (bstr),
 *                ? 4: AK SubjectPublicKeyInfo (bstr), ? 5: peer SPIFFE ID (tstr) }
 *   response = [ answer, ... ]          ; as many as the request's items, in order
 *   answer   = { 1: HTTP status (uint), 2: text (tstr) }
 *              ; 200: the EAR (compact JWS); else the problem+json document
 *              ; the one-request appraisal would have answered
 *
 * Keys in ascending order, each once; no other keys; every length checked
 * against its cap before use.
 */
#include "service_int.h"
#include "vmesh/cbor.h"
#include "vmesh/pki.h"

#include <string.h>

#define WHAT_REQ "batch appraisal request"
#define WHAT_RES "batch appraisal answer"
#define TEXT_MAX ((size_t)256 * 1024)

vmesh_err svc_batch_request_encode(const svc_batch_item *it, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(n >= 1 && n <= SVC_BATCH_MAX, VMESH_ERR_ARG, WHAT_REQ ": %zu items, 1..%d", n, SVC_BATCH_MAX);
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_cbor_put_array(out, n));
    for (size_t i = 0; i < n; i++) {
        bool ak = it[i].ak != NULL && it[i].ak_len > 0, peer = it[i].peer != NULL && it[i].peer_len > 0;

        VMESH_GUARD(vmesh_cbor_put_map(out, 3u + ak + peer));
        VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, it[i].nonce, it[i].nonce_len));
        VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
        VMESH_GUARD(vmesh_cbor_put_tstr(out, it[i].media_type, it[i].media_type_len));
        VMESH_GUARD(vmesh_cbor_put_uint(out, 3));
        VMESH_GUARD(vmesh_cbor_put_bstr(out, it[i].evidence, it[i].evidence_len));
        if (ak) {
            VMESH_GUARD(vmesh_cbor_put_uint(out, 4));
            VMESH_GUARD(vmesh_cbor_put_bstr(out, it[i].ak, it[i].ak_len));
        }
        if (peer) {
            VMESH_GUARD(vmesh_cbor_put_uint(out, 5));
            VMESH_GUARD(vmesh_cbor_put_tstr(out, it[i].peer, it[i].peer_len));
        }
    }
out:
    return rc;
}

static vmesh_err read_item(vmesh_cbor *r, size_t i, svc_batch_item *it)
{
    vmesh_err rc = VMESH_OK;
    uint64_t pairs;
    int64_t key, last = 0;
    bool is_int;
    char field[48];

    memset(it, 0, sizeof(*it));
    snprintf(field, sizeof(field), "item %zu", i);
    VMESH_GUARD(vmesh_cbor_read_map(r, &pairs, 5, field));
    for (uint64_t k = 0; k < pairs; k++) {
        VMESH_GUARD(vmesh_cbor_read_int_key(r, &key, &is_int));
        VMESH_ENSURE(is_int && key >= 1 && key <= 5, VMESH_ERR_PARSE, WHAT_REQ ": item %zu has a key other than 1..5",
                     i);
        VMESH_ENSURE(key > last, VMESH_ERR_PARSE, WHAT_REQ ": item %zu: key %lld out of order or repeated", i,
                     (long long)key);
        last = key;
        switch (key) {
        case 1:
            VMESH_GUARD(vmesh_cbor_read_bstr(r, VMESH_SERVICE_MAX_NONCE, &it->nonce, &it->nonce_len, "nonce (key 1)"));
            VMESH_ENSURE(it->nonce_len >= VMESH_SERVICE_MIN_NONCE, VMESH_ERR_PARSE,
                         WHAT_REQ ": item %zu: a nonce of %zu bytes, %d..%d", i, it->nonce_len,
                         VMESH_SERVICE_MIN_NONCE, VMESH_SERVICE_MAX_NONCE);
            break;
        case 2:
            VMESH_GUARD(vmesh_cbor_read_tstr(r, VMESH_SERVICE_MAX_MT, &it->media_type, &it->media_type_len,
                                             "media type (key 2)"));
            VMESH_ENSURE(it->media_type_len > 0, VMESH_ERR_PARSE, WHAT_REQ ": item %zu: an empty media type", i);
            break;
        case 3:
            VMESH_GUARD(vmesh_cbor_read_bstr(r, SIZE_MAX, &it->evidence, &it->evidence_len, "evidence (key 3)"));
            VMESH_ENSURE(it->evidence_len > 0, VMESH_ERR_PARSE, WHAT_REQ ": item %zu: empty evidence", i);
            break;
        case 4:
            VMESH_GUARD(vmesh_cbor_read_bstr(r, VMESH_SERVICE_MAX_AK, &it->ak, &it->ak_len, "AK (key 4)"));
            VMESH_ENSURE(it->ak_len > 0, VMESH_ERR_PARSE, WHAT_REQ ": item %zu: an empty AK", i);
            break;
        default:
            VMESH_GUARD(vmesh_cbor_read_tstr(r, VMESH_PKI_SPIFFE_ID_MAX, &it->peer, &it->peer_len, "peer (key 5)"));
            VMESH_ENSURE(it->peer_len > 0, VMESH_ERR_PARSE, WHAT_REQ ": item %zu: an empty peer", i);
            break;
        }
    }
    VMESH_ENSURE(it->nonce != NULL && it->media_type != NULL && it->evidence != NULL, VMESH_ERR_PARSE,
                 WHAT_REQ ": item %zu lacks its %s", i,
                 it->nonce == NULL ? "nonce (key 1)" : it->media_type == NULL ? "media type (key 2)" : "evidence (key 3)");
out:
    if (rc != VMESH_OK)
        vmesh_err_wrap(rc, WHAT_REQ);
    return rc;
}

vmesh_err svc_batch_request_decode(const uint8_t *p, size_t len, svc_batch_item *it, size_t *n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count;

    *n = 0;
    vmesh_cbor_init(&r, p, len, WHAT_REQ, VMESH_CBOR_DETERMINISTIC);
    VMESH_GUARD(vmesh_cbor_read_array(&r, &count, SVC_BATCH_MAX, "items"));
    VMESH_ENSURE(count >= 1, VMESH_ERR_PARSE, WHAT_REQ ": no items");
    for (size_t i = 0; i < count; i++)
        VMESH_GUARD(read_item(&r, i, &it[i]));
    VMESH_GUARD(vmesh_cbor_end(&r, "the items"));
    *n = (size_t)count;
out:
    return rc;
}

size_t svc_batch_request_count(const uint8_t *p, size_t len)
{
    vmesh_cbor r;
    vmesh_cbor_head h;

    vmesh_cbor_init(&r, p, len, WHAT_REQ, VMESH_CBOR_DETERMINISTIC);
    if (vmesh_cbor_peek(&r, &h) != VMESH_OK || h.major != VMESH_CBOR_ARRAY) {
        vmesh_err_clear();
        return 0;
    }
    return h.arg > SVC_BATCH_MAX ? SVC_BATCH_MAX + 1 : (size_t)h.arg;
}

vmesh_err svc_batch_response_encode(const svc_batch_answer *a, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(n >= 1 && n <= SVC_BATCH_MAX, VMESH_ERR_ARG, WHAT_RES ": %zu answers, 1..%d", n, SVC_BATCH_MAX);
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_cbor_put_array(out, n));
    for (size_t i = 0; i < n; i++) {
        VMESH_GUARD(vmesh_cbor_put_map(out, 2));
        VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
        VMESH_GUARD(vmesh_cbor_put_uint(out, a[i].status));
        VMESH_GUARD(vmesh_cbor_put_uint(out, 2));
        VMESH_GUARD(vmesh_cbor_put_tstr(out, a[i].text != NULL ? a[i].text : "", a[i].text != NULL ? a[i].text_len : 0));
    }
out:
    return rc;
}

vmesh_err svc_batch_response_decode(const uint8_t *p, size_t len, svc_batch_answer *a, size_t n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r;
    uint64_t count, pairs, status;
    int64_t key;
    bool is_int;

    vmesh_cbor_init(&r, p, len, WHAT_RES, VMESH_CBOR_DETERMINISTIC);
    VMESH_GUARD(vmesh_cbor_read_array(&r, &count, SVC_BATCH_MAX, "answers"));
    VMESH_ENSURE(count == n, VMESH_ERR_PARSE, WHAT_RES ": %llu answers to %zu items", (unsigned long long)count, n);
    for (size_t i = 0; i < n; i++) {
        memset(&a[i], 0, sizeof(a[i]));
        VMESH_GUARD(vmesh_cbor_read_map(&r, &pairs, 2, "answer"));
        VMESH_ENSURE(pairs == 2, VMESH_ERR_PARSE, WHAT_RES ": answer %zu has %llu fields, not 2", i,
                     (unsigned long long)pairs);
        VMESH_GUARD(vmesh_cbor_read_int_key(&r, &key, &is_int));
        VMESH_ENSURE(is_int && key == 1, VMESH_ERR_PARSE, WHAT_RES ": answer %zu does not start with its status (key 1)",
                     i);
        VMESH_GUARD(vmesh_cbor_read_uint(&r, &status, "status (key 1)"));
        VMESH_ENSURE(status >= 200 && status <= 599, VMESH_ERR_PARSE, WHAT_RES ": answer %zu: status %llu", i,
                     (unsigned long long)status);
        a[i].status = (unsigned)status;
        VMESH_GUARD(vmesh_cbor_read_int_key(&r, &key, &is_int));
        VMESH_ENSURE(is_int && key == 2, VMESH_ERR_PARSE, WHAT_RES ": answer %zu lacks its text (key 2)", i);
        VMESH_GUARD(vmesh_cbor_read_tstr(&r, TEXT_MAX, &a[i].text, &a[i].text_len, "text (key 2)"));
    }
    VMESH_GUARD(vmesh_cbor_end(&r, "the answers"));
out:
    return rc;
}
