/*
 * vmesh cmw: the RATS Conceptual Message Wrapper (RFC 9999) in its CBOR and
 * JSON serialisations, the one CMW codec of the project.
 *
 * Supported (RFC 9999 §3.1, §3.3): records `[type, value, ? ind]` and
 * collections `{ ? "__cmwc_t": type, + label => record }`. A collection
 * holds records only (one level; RFC 9999 lets implementations limit
 * nesting); nested collections, tunnels (`["#cmw-c2j-tunnel", ...]`) and
 * the CBOR-tag form (§3.2) are refused with a message naming them.
 *
 * Decoding is strict: definite lengths, no trailing bytes, a record has 2
 * or 3 elements, a JSON value is base64url without padding (§3.1), an
 * indicator is non-zero, labels are unique, "__cmwc_t" is never a label,
 * a collection has 1..VMESH_CMW_MAX_ITEMS members. CBOR goes through
 * src/cbor; JSON through jansson.
 */
#ifndef VMESH_CMW_H
#define VMESH_CMW_H

#include "vmesh/core.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

#define VMESH_CMW_MEDIA_TYPE_CBOR "application/cmw+cbor"
#define VMESH_CMW_MEDIA_TYPE_JSON "application/cmw+json"

#define VMESH_CMW_MAX_ITEMS 16      /* members of a collection */
#define VMESH_CMW_MAX_TYPE 256      /* bytes of a media type, of __cmwc_t, of a label */
#define VMESH_CMW_MAX_VALUE (16u << 20) /* bytes of one value */

/* RFC 9999 cm-type bits of the indicator. */
#define VMESH_CMW_IND_REFERENCE_VALUES 0x1u
#define VMESH_CMW_IND_ENDORSEMENTS 0x2u
#define VMESH_CMW_IND_EVIDENCE 0x4u
#define VMESH_CMW_IND_ATTESTATION_RESULTS 0x8u

/* One record. type is a media type; in CBOR it may instead be a CoAP
 * Content-Format number (cf, with type NULL). */
typedef struct {
    /* member label in a collection: text (label) or, CBOR only, integer */
    char *label;
    int64_t ilabel;
    bool label_is_int;
    char *type;       /* NUL-terminated, or NULL when cf is used */
    uint16_t cf;
    vmesh_buf value;
    uint64_t ind;     /* 0: absent */
} vmesh_cmw_record;

typedef struct {
    bool collection;
    char *ctype;      /* "__cmwc_t" of a collection, or NULL */
    size_t n;         /* a record: 1 */
    vmesh_cmw_record rec[VMESH_CMW_MAX_ITEMS];
} vmesh_cmw;

void vmesh_cmw_init(vmesh_cmw *c);
void vmesh_cmw_free(vmesh_cmw *c);

/* Adds a record (to an empty cmw: it becomes that record; when
 * c->collection: a member with a text label, or an integer label when
 * label is NULL). Copies everything. */
vmesh_err vmesh_cmw_add(vmesh_cmw *c, const char *label, int64_t ilabel, const char *type, const uint8_t *value,
                        size_t n, uint64_t ind) VMESH_WUR;

/* Strict decoders. *c is freed and initialised first. */
vmesh_err vmesh_cmw_decode_cbor(const uint8_t *p, size_t n, vmesh_cmw *c) VMESH_WUR;
vmesh_err vmesh_cmw_decode_json(const char *s, size_t n, vmesh_cmw *c) VMESH_WUR;
/* RFC 9999's one-byte look-ahead: 0x82/0x83 CBOR record, 0x5b JSON
 * record, 0x7b JSON collection, 0xa0..0xbb/0xbf CBOR collection, a tag is
 * refused (not supported), anything else is not a CMW. */
vmesh_err vmesh_cmw_decode(const uint8_t *p, size_t n, vmesh_cmw *c) VMESH_WUR;

/* Encoders (appended to out). CBOR is deterministic (RFC 8949 §4.2.1):
 * shortest heads, collection keys in bytewise order of their encodings.
 * JSON refuses Content-Format types and integer labels (§3.1, §3.3). */
vmesh_err vmesh_cmw_encode_cbor(const vmesh_cmw *c, vmesh_buf *out) VMESH_WUR;
vmesh_err vmesh_cmw_encode_json(const vmesh_cmw *c, vmesh_buf *out) VMESH_WUR;

/* The member with the text label, or the integer label when label is
 * NULL; NULL if none. */
const vmesh_cmw_record *vmesh_cmw_find(const vmesh_cmw *c, const char *label, int64_t ilabel);

VMESH_API_END
#ifdef __cplusplus
}
#endif

#endif
