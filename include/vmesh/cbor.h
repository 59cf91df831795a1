/*
 * vmesh cbor: the one CBOR (RFC 8949) codec of the project. A bounded pull
 * reader over borrowed bytes and a deterministic writer into a vmesh_buf.
 * Every CBOR format (COSE_Sign1, PSA and CCA tokens, CoRIM/CoMID, the atls
 * messages, the SEV-SNP, TPM 2.0 and CMW envelopes) reads and writes through
 * it; a format is a set of functions over the one cursor type, in the way
 * s2n-tls extends its stuffer per format.
 *
 * The reader builds no tree and allocates nothing. It never trusts a length
 * or count read from the input before checking it against the bytes that
 * remain and against the caller's cap, never reads past its input, never
 * recurses on input (skipping uses an explicit stack bounded by a depth
 * cap), and refuses what RFC 8949 calls not well-formed. Every error names
 * the format (the cursor's `what`), the field and the offset.
 */
#ifndef VMESH_CBOR_H
#define VMESH_CBOR_H

#include "vmesh/core.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* RFC 8949 §3.1 major types. */
enum {
    VMESH_CBOR_UINT = 0,
    VMESH_CBOR_NEGINT = 1,
    VMESH_CBOR_BSTR = 2,
    VMESH_CBOR_TSTR = 3,
    VMESH_CBOR_ARRAY = 4,
    VMESH_CBOR_MAP = 5,
    VMESH_CBOR_TAG = 6,
    VMESH_CBOR_SIMPLE = 7, /* simple values and floats */
};

/* RFC 8949 §3.3 simple values. */
#define VMESH_CBOR_FALSE 20
#define VMESH_CBOR_TRUE 21
#define VMESH_CBOR_NULL 22

/* Reader flags. Without flags the reader accepts definite lengths only. */
/* Accept indefinite-length arrays and maps (RFC 8949 §3.2.2), and skip
 * indefinite-length strings made of definite chunks (§3.2.3). */
#define VMESH_CBOR_INDEFINITE 0x1u
/* RFC 8949 §4.2.1 core deterministic encoding: every head in its shortest
 * form, definite lengths only, and (checked by vmesh_cbor_skip, hence by
 * vmesh_cbor_check) the keys of every map in the bytewise order of their
 * encodings, without duplicates. */
#define VMESH_CBOR_DETERMINISTIC 0x2u

#define VMESH_CBOR_DEFAULT_DEPTH 16 /* nesting allowed by vmesh_cbor_init */
#define VMESH_CBOR_MAX_DEPTH 64     /* the most a cursor may be given */

/* The cursor: bytes p[0..n), the read position, the name of the format for
 * error details ("PSA claims"), flags and a nesting cap for skipping.
 * Initialise with vmesh_cbor_init; fields may be read freely. */
typedef struct {
    const uint8_t *p;
    size_t n;
    size_t off;
    const char *what;
    unsigned flags;
    unsigned max_depth; /* 1..VMESH_CBOR_MAX_DEPTH: a top-level item is depth 1 */
} vmesh_cbor;

/* One item head (RFC 8949 §3): major type, additional information and
 * argument (a value, a length, a count, a tag number, a simple value or a
 * float's bits); indef for additional information 31; off = where it
 * starts. */
typedef struct {
    unsigned major;
    unsigned ai;
    uint64_t arg;
    bool indef;
    size_t off;
} vmesh_cbor_head;

void vmesh_cbor_init(vmesh_cbor *r, const uint8_t *p, size_t n, const char *what, unsigned flags);
size_t vmesh_cbor_left(const vmesh_cbor *r);
bool vmesh_cbor_at_end(const vmesh_cbor *r);
/* Refuses bytes after the last item read: "<what>: 3 trailing bytes after
 * <after>". */
vmesh_err vmesh_cbor_end(const vmesh_cbor *r, const char *after) VMESH_WUR;
/* "unsigned integer", "byte string", ... for messages. */
const char *vmesh_cbor_type_name(unsigned major);

/* Reads (or, for peek, only decodes) the next head. Refuses truncation,
 * reserved additional information (28..30), a break outside an indefinite
 * container, two-byte simple values below 32 (§3.3), indefinite lengths
 * unless the cursor allows them, and non-shortest heads when the cursor is
 * deterministic. Does not look past the head. */
vmesh_err vmesh_cbor_peek(const vmesh_cbor *r, vmesh_cbor_head *h) VMESH_WUR;
vmesh_err vmesh_cbor_read_head(vmesh_cbor *r, vmesh_cbor_head *h) VMESH_WUR;

/* True when p starts with the head (major, arg), in any length form: a
 * cheap sniff for detect functions and file-type guesses that looks at
 * nothing after the head. *len (may be NULL) receives the head's length. */
bool vmesh_cbor_starts_with(const uint8_t *p, size_t n, unsigned major, uint64_t arg, size_t *len);

/* True when the next item is null (simple value 22; not a float whose
 * bits happen to be 22). */
bool vmesh_cbor_at_null(const vmesh_cbor *r);

/* Typed reads. `field` names the item in error details ("nonce (key
 * 10)"). A type mismatch reads "<what>: <field> is a text string, expected
 * a byte string". */
vmesh_err vmesh_cbor_read_uint(vmesh_cbor *r, uint64_t *v, const char *field) VMESH_WUR;
/* An unsigned or negative integer that fits int64_t. */
vmesh_err vmesh_cbor_read_int(vmesh_cbor *r, int64_t *v, const char *field) VMESH_WUR;
vmesh_err vmesh_cbor_read_bool(vmesh_cbor *r, bool *v, const char *field) VMESH_WUR;
vmesh_err vmesh_cbor_read_tag(vmesh_cbor *r, uint64_t *tag, const char *field) VMESH_WUR;
/* A definite-length byte string of at most cap bytes (more is
 * VMESH_ERR_TOO_LARGE), borrowed from the input. */
vmesh_err vmesh_cbor_read_bstr(vmesh_cbor *r, size_t cap, const uint8_t **p, size_t *n,
                               const char *field) VMESH_WUR;
/* A definite-length text string of at most cap bytes: valid UTF-8 (RFC
 * 8949 §3.1, major type 3) without NUL, borrowed (not NUL-terminated). */
vmesh_err vmesh_cbor_read_tstr(vmesh_cbor *r, size_t cap, const char **p, size_t *n,
                               const char *field) VMESH_WUR;
/* The same, copied into a new NUL-terminated string (*out is freed first). */
vmesh_err vmesh_cbor_read_tstr_dup(vmesh_cbor *r, size_t cap, char **out, const char *field) VMESH_WUR;
/* A map key: an integer that fits int64_t sets *key and *is_int; any other
 * key (text, a tag, a huge integer) is skipped and *is_int is false, for
 * formats that ignore what they do not know. */
vmesh_err vmesh_cbor_read_int_key(vmesh_cbor *r, int64_t *key, bool *is_int) VMESH_WUR;
/* A definite-length array or map: *count items (a map: pairs), at most cap
 * (more is VMESH_ERR_TOO_LARGE) and no more than the bytes left could hold.
 * The items follow on the same cursor. */
vmesh_err vmesh_cbor_read_array(vmesh_cbor *r, uint64_t *count, uint64_t cap,
                                const char *field) VMESH_WUR;
vmesh_err vmesh_cbor_read_map(vmesh_cbor *r, uint64_t *count, uint64_t cap,
                              const char *field) VMESH_WUR;
/* An array or map (major) of either length form (indefinite only when the
 * cursor allows it): *inner is a cursor over exactly its items, *count their
 * number (a map: pairs); r moves past the whole container. */
vmesh_err vmesh_cbor_enter(vmesh_cbor *r, unsigned major, vmesh_cbor *inner, uint64_t *count, uint64_t cap,
                           const char *field) VMESH_WUR;

/* Skips one whole item, nested at most r->max_depth deep, checking that it
 * is well-formed (and, on a deterministic cursor, that every map's keys are
 * ordered and unique). */
vmesh_err vmesh_cbor_skip(vmesh_cbor *r) VMESH_WUR;
/* Skips one item and returns a cursor over exactly its bytes. */
vmesh_err vmesh_cbor_read_item(vmesh_cbor *r, vmesh_cbor *item) VMESH_WUR;
/* The rest of the cursor is exactly one well-formed item (a pre-check
 * before pulling fields out of a structure). Does not move r. */
vmesh_err vmesh_cbor_check(const vmesh_cbor *r) VMESH_WUR;

/* ---- the writer: deterministic CBOR appended to a vmesh_buf ------------
 * RFC 8949 §4.2.1: every head in its shortest form, definite lengths only.
 * Map keys are written in the order the caller gives them: a format that
 * needs deterministic maps writes its keys sorted (tests check the output
 * with a deterministic cursor). */
vmesh_err vmesh_cbor_put_head(vmesh_buf *b, unsigned major, uint64_t arg) VMESH_WUR;
vmesh_err vmesh_cbor_put_uint(vmesh_buf *b, uint64_t v) VMESH_WUR;
vmesh_err vmesh_cbor_put_int(vmesh_buf *b, int64_t v) VMESH_WUR;
vmesh_err vmesh_cbor_put_bstr(vmesh_buf *b, const void *p, size_t n) VMESH_WUR;
vmesh_err vmesh_cbor_put_tstr(vmesh_buf *b, const char *s, size_t n) VMESH_WUR;
vmesh_err vmesh_cbor_put_text(vmesh_buf *b, const char *s) VMESH_WUR; /* NUL-terminated */
vmesh_err vmesh_cbor_put_array(vmesh_buf *b, uint64_t count) VMESH_WUR;
vmesh_err vmesh_cbor_put_map(vmesh_buf *b, uint64_t pairs) VMESH_WUR;
vmesh_err vmesh_cbor_put_tag(vmesh_buf *b, uint64_t tag) VMESH_WUR;
vmesh_err vmesh_cbor_put_bool(vmesh_buf *b, bool v) VMESH_WUR;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
