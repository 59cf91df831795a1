/*
 * vmesh atls: the attested channel (DESIGN §3). Mutual TLS 1.3 with SPIFFE
 * X509-SVIDs, the 0xff4d negotiation extension, and one attestation message
 * per attesting side bound to the session by the TLS exporter, exchanged
 * without an extra round trip. Application data flows only after the peer's
 * attestation (or its admitted absence) was accepted. The attestation work
 * itself (producing evidence, appraising it, policy) is delegated to a
 * provider (vmesh_atls_provider); this module checks the channel binding
 * (message structure, role, session proof over this session's binder) and
 * must never hand the provider a message whose proof has not verified, nor
 * deliver an application byte before the peer has been accepted.
 *
 * Wire format and the decisions DESIGN §3 left open: docs/ATLS.md.
 */
#ifndef VMESH_ATLS_H
#define VMESH_ATLS_H

#include "vmesh/core.h"
#include "vmesh/evidence.h"
#include "vmesh/pki.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* ---- constants -------------------------------------------------------------- */

#define VMESH_ATLS_EXT_TYPE 0xff4d
#define VMESH_ATLS_EXPORTER_LABEL "EXPERIMENTAL-vmesh-attestation"
#define VMESH_ATLS_BINDER_LABEL "vmesh attestation v1"
#define VMESH_ATLS_AK_LABEL "vmesh ak v1"
/* Version 2: key 3 is an RFC 9999 CMW (record or collection). Version 1
 * (a bare [media-type, bytes] pair, before CMW) is refused (DECISIONS D21). */
#define VMESH_ATLS_VERSION 2
/* Version 3: the key-bound message (DECISIONS D38, docs/ATLS.md "Key-bound
 * attestation"): the AK is the sender's TLS leaf key, key 6 is empty and
 * the session proof is the leaf's TLS 1.3 CertificateVerify. Sent only to
 * a peer that accepted it in the 0xff4e extension, only on full handshakes,
 * only in epoch-fresh and passport modes. */
#define VMESH_ATLS_VERSION_KEYBOUND 3
/* Key-bound negotiation extension (ClientHello, EncryptedExtensions): one
 * byte of flags. A separate extension so that a peer that does not know it
 * ignores it (RFC 8446 §4.2) and both sides fall back to version 2. */
#define VMESH_ATLS_KEYBOUND_EXT_TYPE 0xff4e
#define VMESH_ATLS_KB_ACCEPT 0x01 /* the sender accepts key-bound messages from its peer */
#define VMESH_ATLS_KB_ATTEST 0x02 /* the sender attests key-bound when its peer accepts it */
/* RFC 9149 "ticket_request" (DECISIONS D49): in the ClientHello the client
 * asks for new_session_count tickets after a full handshake and
 * resumption_count after a resumption (two bytes); a server that follows it
 * says how many it will send in its EncryptedExtensions (one byte). Our
 * client asks for 1 and 0, or 0 and 0 with resumption off; our server sends
 * at most what it would without the request (D47: 1, then 0). */
#define VMESH_ATLS_TICKET_REQUEST_EXT_TYPE 58

typedef enum { VMESH_ATLS_SERVER = 0, VMESH_ATLS_CLIENT = 1 } vmesh_atls_role;

/* Attestation modes; the values are the 0xff4d wire codes and equal
 * vmesh_mode of vmesh/policy.h (EPOCH_FRESH 0, FRESH 1, PASSPORT 2). */
typedef enum {
    VMESH_ATLS_MODE_EPOCH_FRESH = 0, /* background-check, evidence bound to the epoch bell */
    VMESH_ATLS_MODE_FRESH = 1,       /* background-check, new evidence per session */
    VMESH_ATLS_MODE_PASSPORT = 2,    /* an EAR naming the AK */
    VMESH_ATLS_MODE_NONE = 3,        /* unattested peer admitted by policy */
} vmesh_atls_mode;
#define VMESH_ATLS_MODE_BIT(m) (1u << (unsigned)(m))
#define VMESH_ATLS_MODES_ALL                                                                       \
    (VMESH_ATLS_MODE_BIT(0) | VMESH_ATLS_MODE_BIT(1) | VMESH_ATLS_MODE_BIT(2))
const char *vmesh_atls_mode_name(int mode); /* "epoch-fresh", "fresh", "passport", "none" */

/* Frame types (DESIGN §3.2: type:u8 length:u24 payload). Type 3 is a vmesh
 * addition (docs/ATLS.md): the explicit verdict that the peer's
 * attestation, or its absence, was accepted; it carries no payload. */
typedef enum {
    VMESH_ATLS_FRAME_ATTESTATION = 1,
    VMESH_ATLS_FRAME_FAILED = 2,
    VMESH_ATLS_FRAME_ACCEPTED = 3,
    /* In-band stream (docs/ATLS.md "Re-attestation"): only after the
     * preamble, and only when both hellos carried 0xff4d key 4. */
    VMESH_ATLS_FRAME_DATA = 4,            /* application bytes, 1..16384 */
    VMESH_ATLS_FRAME_REATTEST_REQUEST = 5,/* {1: counter, 2: nonce} */
    VMESH_ATLS_FRAME_REATTEST_ANSWER = 6, /* {1: counter, 2: attestation message} */
} vmesh_atls_frame_type;

#define VMESH_ATLS_FRAME_HEADER 4
#define VMESH_ATLS_FRAME_MAX_DEFAULT ((size_t)64 * 1024)
#define VMESH_ATLS_FRAME_MAX_LIMIT ((size_t)16 * 1024 * 1024 - 1) /* u24 */
/* Caps on the fields of the attestation message. */
#define VMESH_ATLS_MEDIA_TYPE_MAX 256
#define VMESH_ATLS_SPKI_MAX 1024
#define VMESH_ATLS_EPOCH_NONCE_MIN 8
#define VMESH_ATLS_EPOCH_NONCE_MAX 64
#define VMESH_ATLS_PROOF_MAX 512
#define VMESH_ATLS_FAIL_MESSAGE_MAX 256
/* Caps on the extension: at most this many modes / media types. */
#define VMESH_ATLS_EXT_MAX 2048
#define VMESH_ATLS_EXT_MEDIA_TYPES_MAX 16
/* Re-attestation: data frame payload cap (one TLS record with its header),
 * request nonce length range, request payload cap. */
#define VMESH_ATLS_DATA_FRAME_MAX 16384
#define VMESH_ATLS_REATTEST_NONCE_MIN 16
#define VMESH_ATLS_REATTEST_NONCE_MAX 64
#define VMESH_ATLS_REATTEST_REQUEST_MAX 128
#define VMESH_ATLS_REATTEST_EXPORTER_LABEL "EXPERIMENTAL-vmesh-reattestation"
#define VMESH_ATLS_REATTEST_BINDER_LABEL "vmesh reattestation v1"

/* Reason codes of attestation-failed frames (wire values, never reuse). */
typedef enum {
    VMESH_ATLS_R_NONE = 0,            /* not a failure */
    VMESH_ATLS_R_MALFORMED = 1,       /* a frame or message that does not parse */
    VMESH_ATLS_R_BINDER_MISMATCH = 2, /* the session proof does not verify over this binder */
    VMESH_ATLS_R_ROLE_MISMATCH = 3,   /* the message claims the wrong role (reflection) */
    VMESH_ATLS_R_EVIDENCE_INVALID = 4,/* evidence does not verify or does not bind the AK */
    VMESH_ATLS_R_NOT_AFFIRMING = 5,   /* appraised, but below the required tier */
    VMESH_ATLS_R_POLICY_REFUSED = 6,  /* refused by another policy rule */
    VMESH_ATLS_R_UNATTESTED_REFUSED = 7, /* the peer does not attest and policy requires it */
    VMESH_ATLS_R_MODE_REFUSED = 8,    /* no common mode, or a mode policy does not accept */
    VMESH_ATLS_R_MEDIA_TYPE_REFUSED = 9, /* evidence media type the RP cannot appraise */
    VMESH_ATLS_R_EAR_UNTRUSTED = 10,  /* passport EAR not signed by a trusted verifier */
    VMESH_ATLS_R_EAR_EXPIRED = 11,
    VMESH_ATLS_R_STALE_EPOCH = 12,    /* evidence bound to an epoch that is not current */
    VMESH_ATLS_R_EVIDENCE_TOO_OLD = 13,
    VMESH_ATLS_R_PEER_IDENTITY = 14,  /* the peer's SPIFFE ID is missing or not expected */
    VMESH_ATLS_R_TIMEOUT = 15,        /* handshake + attestation deadline passed */
    VMESH_ATLS_R_INTERNAL = 16,       /* the sender failed (e.g. could not attest) */
    VMESH_ATLS_R_AK_MISMATCH = 17,    /* evidence / EAR binds another AK, session or role */
    /* A verifier's answer that is not bound to the question (DESIGN §9): */
    VMESH_ATLS_R_EAR_NONCE = 18,      /* the EAR answers another nonce (replayed or relayed) */
    VMESH_ATLS_R_EAR_SUBMOD = 19,     /* the EAR has no submodule for the evidence's scheme */
    VMESH_ATLS_R_EAR_ISSUER = 20,     /* the EAR is from another verifier (issuer or key) */
    VMESH_ATLS_R_EAR_LIFETIME = 21,   /* the EAR is valid longer than policy allows */
    VMESH_ATLS_R__COUNT
} vmesh_atls_reason;
/* "binder-mismatch", ...; "unknown" for codes we do not know. */
const char *vmesh_atls_reason_name(uint32_t code);

/* ---- the attestation message (DESIGN §3.2) ---------------------------------- */

/* A decoded or to-be-encoded attestation message. Every buffer is owned.
 *   {1: 2, 2: role, 3: cbor-cmw, 4: ak_spki,
 *    5: {1: epoch_id, 2: epoch_nonce} | {3: true}, 6: proof}
 * cbor-cmw (RFC 9999 §3.1, §3.3) is a record [media_type, cmw, ? ind] or,
 * when `collection`, a collection whose encoding cmw holds as sent; then
 * media_type is "application/cmw+cbor" (composite evidence, e.g. CCA's
 * platform and realm tokens). */
typedef struct {
    vmesh_atls_role role;
    vmesh_buf media_type; /* text, NUL-terminated after decode, no NUL inside */
    vmesh_buf cmw;        /* evidence or EAR bytes; a collection's CBOR */
    bool collection;      /* cmw is an RFC 9999 CBOR collection */
    vmesh_buf ak_spki;    /* SubjectPublicKeyInfo DER of the AK */
    bool fresh;           /* freshness {3: true} */
    uint64_t epoch_id;    /* when !fresh */
    vmesh_buf epoch_nonce;/* when !fresh: 8..64 bytes */
    vmesh_buf proof;      /* ECDSA P-256 r||s (64 bytes) by the AK over the binder;
                           * empty when keybound */
    bool keybound;        /* version 3: ak_spki is the sender's TLS leaf key, no proof */
} vmesh_atls_msg;

void vmesh_atls_msg_init(vmesh_atls_msg *m);
void vmesh_atls_msg_free(vmesh_atls_msg *m);
/* Encodes to CBOR (definite lengths, shortest heads, keys in order 1..6);
 * version 3 with an empty key 6 when m->keybound, else version 2. */
vmesh_err vmesh_atls_msg_encode(const vmesh_atls_msg *m, vmesh_buf *out) VMESH_WUR;
/* Strict decode: one definite-length map with exactly keys 1..6 (any order,
 * no duplicates, no other key), every value of its type and within its cap,
 * version 2 (1 is refused by name) with a proof of 1..512 bytes, or
 * version 3 (keybound, not fresh) with an empty key 6, key 3 a CMW
 * vmesh_cmw_decode_cbor accepts whose record types are media types,
 * nothing after the map. */
vmesh_err vmesh_atls_msg_decode(const uint8_t *p, size_t n, vmesh_atls_msg *m) VMESH_WUR;

/* attestation-failed payload {1: reason uint, 2: message text <= 256 bytes}. */
vmesh_err vmesh_atls_failed_encode(uint32_t reason, const char *message, vmesh_buf *out) VMESH_WUR;
/* message receives at most VMESH_ATLS_FAIL_MESSAGE_MAX bytes + NUL. */
vmesh_err vmesh_atls_failed_decode(const uint8_t *p, size_t n, uint32_t *reason,
                                   char message[VMESH_ATLS_FAIL_MESSAGE_MAX + 1]) VMESH_WUR;

/* Re-attestation request payload {1: counter uint 1..2^63-1, 2: nonce bstr
 * 16..64}; answer payload {1: counter, 2: attestation message bstr}. The
 * decoders are strict (exactly these keys, no duplicates, definite lengths,
 * nothing after the map); the answer's message bytes are borrowed from p
 * and decoded by vmesh_atls_msg_decode. */
vmesh_err vmesh_atls_reattest_request_encode(uint64_t counter, const uint8_t *nonce, size_t nonce_len,
                                             vmesh_buf *out) VMESH_WUR;
vmesh_err vmesh_atls_reattest_request_decode(const uint8_t *p, size_t n, uint64_t *counter,
                                             const uint8_t **nonce, size_t *nonce_len) VMESH_WUR;
vmesh_err vmesh_atls_reattest_answer_encode(uint64_t counter, const uint8_t *msg, size_t msg_len,
                                            vmesh_buf *out) VMESH_WUR;
vmesh_err vmesh_atls_reattest_answer_decode(const uint8_t *p, size_t n, uint64_t *counter,
                                            const uint8_t **msg, size_t *msg_len) VMESH_WUR;

/* ---- frames ------------------------------------------------------------------- */

/* Appends a frame header + payload (types 1..6). */
vmesh_err vmesh_atls_frame_encode(uint8_t type, const uint8_t *payload, size_t n,
                                  vmesh_buf *out) VMESH_WUR;

/* Incremental frame parser over a byte stream. */
typedef struct {
    size_t max;        /* payload cap for type 1 (others are capped lower) */
    uint8_t hdr[VMESH_ATLS_FRAME_HEADER];
    size_t hdr_len;
    uint8_t type;
    size_t need;       /* payload length announced */
    vmesh_buf payload;
    bool done;
    /* In-band stream after the preamble (set by the caller): types 2, 4, 5,
     * 6 only; a data frame (4) completes at its header (payload not
     * buffered: fp->need bytes of application data follow). */
    bool inband;
} vmesh_atls_frame_parser;

/* max 0 means VMESH_ATLS_FRAME_MAX_DEFAULT; refused above the u24 limit. */
vmesh_err vmesh_atls_frame_parser_init(vmesh_atls_frame_parser *fp, size_t max) VMESH_WUR;
/* Consumes bytes from p; *used says how many (never past the end of one
 * frame). Returns VMESH_ERR_WANT_READ when more bytes are needed, VMESH_OK
 * when a frame is complete (fp->type, fp->payload), or an error: unknown
 * type (PARSE), a length above its cap (TOO_LARGE: type 1 above max,
 * type 2 above 1 KiB, type 3 not 0; in-band: type 4 not 1..16384, type 5
 * above 128, type 6 above max + 64; types 1 and 3 refused in-band, 4..6
 * before). The length is checked as soon as the header is complete,
 * before anything is allocated. */
vmesh_err vmesh_atls_frame_parser_feed(vmesh_atls_frame_parser *fp, const uint8_t *p, size_t n,
                                       size_t *used) VMESH_WUR;
/* Ready for the next frame (keeps the cap). */
void vmesh_atls_frame_parser_reset(vmesh_atls_frame_parser *fp);
void vmesh_atls_frame_parser_free(vmesh_atls_frame_parser *fp);

/* ---- the 0xff4d extension (DESIGN §3.1) --------------------------------------- */

/* {1: [modes accepted for the peer's attestation], 2: [media types the
 * sender can appraise], 3: will-attest-itself bool}. modes is kept as a
 * list in the sender's order of preference. */
typedef struct {
    uint8_t modes[3];
    size_t n_modes;
    char *media_types[VMESH_ATLS_EXT_MEDIA_TYPES_MAX]; /* owned */
    size_t n_media_types;
    bool will_attest;
    bool reattest;       /* key 4 (optional, sent only when true): the sender
                          * speaks the in-band stream (re-attestation) */
} vmesh_atls_ext;

void vmesh_atls_ext_free(vmesh_atls_ext *e);
vmesh_err vmesh_atls_ext_encode(const vmesh_atls_ext *e, vmesh_buf *out) VMESH_WUR;
/* Strict: exactly keys 1, 2, 3 and optionally 4 (bool); modes 0..2 without repetition (at most 3);
 * media types non-empty text <= 256 bytes (at most 16); total <= 2048. */
vmesh_err vmesh_atls_ext_decode(const uint8_t *p, size_t n, vmesh_atls_ext *e) VMESH_WUR;

/* The 0xff4e payload: exactly one byte, flags VMESH_ATLS_KB_ACCEPT |
 * VMESH_ATLS_KB_ATTEST, at least one set, no other bit. */
vmesh_err vmesh_atls_kb_ext_decode(const uint8_t *p, size_t n, uint8_t *flags) VMESH_WUR;

/* The RFC 9149 ticket_request payload. client_hello: exactly two bytes,
 * counts[0] = new_session_count, counts[1] = resumption_count; else (the
 * server's EncryptedExtensions) exactly one byte, counts[0] =
 * expected_count, counts[1] = 0. */
vmesh_err vmesh_atls_ticket_request_decode(const uint8_t *p, size_t n, bool client_hello,
                                           uint8_t counts[2]) VMESH_WUR;

/* ---- binding ------------------------------------------------------------------- */

/* binder = SHA-256("vmesh attestation v1" || role (1 byte) ||
 *   TLS-Exporter("EXPERIMENTAL-vmesh-attestation", context = role byte, 32) ||
 *   SHA-256(SPKI DER of the sender's TLS leaf certificate)).
 * This is the pure part: the exporter output is given. */
void vmesh_atls_binder_compute(vmesh_atls_role role, const uint8_t exporter[32],
                               const uint8_t *leaf_spki, size_t leaf_spki_len, uint8_t out[32]);
/* Re-attestation binder (docs/ATLS.md): SHA-256("vmesh reattestation v1"
 * || role || TLS-Exporter("EXPERIMENTAL-vmesh-reattestation", context =
 * role || counter (u64 big-endian) || request nonce, 32) || SHA-256(SPKI of
 * the answering side's leaf)). Pure part, exporter given; role is the
 * answering (attesting) side's. */
void vmesh_atls_reattest_binder_compute(vmesh_atls_role role, const uint8_t exporter[32],
                                        const uint8_t *leaf_spki, size_t leaf_spki_len, uint8_t out[32]);
/* The exporter context of a re-attestation request: role || counter || nonce. */
size_t vmesh_atls_reattest_context(vmesh_atls_role role, uint64_t counter, const uint8_t *nonce,
                                   size_t nonce_len, uint8_t out[1 + 8 + VMESH_ATLS_REATTEST_NONCE_MAX]);
/* ak_nonce = SHA-256("vmesh ak v1" || SPKI(AK) DER || freshness value)
 * (DESIGN §3.2), the nonce platform evidence carries to bind the AK. The
 * freshness value is the epoch nonce bytes (epoch-fresh: the epoch id is
 * NOT included; the RP checks id and nonce against its bell), this
 * session's 32-byte binder (fresh), or the challenge a verifier issued
 * (passports, central verification: its session nonce). The one
 * implementation: atls, the agent and the verifier service all call it.
 * VMESH_ERR_ARG when the AK or the value is empty. */
vmesh_err vmesh_atls_ak_nonce(const uint8_t *akpub, size_t akpub_len, const uint8_t *value,
                              size_t value_len, uint8_t out[32]) VMESH_WUR;
/* Checks the session proof: m->proof is an ECDSA P-256 signature (r||s) by
 * the key m->ak_spki over the 32-byte binder. VMESH_ERR_SIGNATURE if not. */
vmesh_err vmesh_atls_proof_verify(const vmesh_atls_msg *m, const uint8_t binder[32]) VMESH_WUR;

/* ---- the provider: where attestation work is done ------------------------------ */

/* What the attester side is asked for. */
typedef struct {
    vmesh_atls_role role;          /* our role; msg->role is preset to it */
    vmesh_atls_mode mode;          /* the mode chosen from the peer's list */
    const uint8_t *binder;         /* 32 bytes: THIS session's binder for our role */
    const vmesh_atls_ext *peer;    /* the peer's offer (media types it can appraise) */
    const char *peer_spiffe_id;    /* NULL on the server (0.5-RTT: no client cert yet) */
    bool resumed;
    uint64_t reattest;             /* 0: handshake; else the re-attestation request counter
                                    * (binder is that request's re-attestation binder) */
    bool keybound;                 /* make a key-bound message: AK = our TLS leaf key, no
                                    * proof (atls checks the AK against our leaf) */
} vmesh_atls_attest_in;

/* What the relying-party side is asked to judge. */
typedef struct {
    const vmesh_atls_msg *msg;     /* structure, role and proof already checked */
    const uint8_t *binder;         /* 32 bytes: the binder the proof was checked over */
    uint8_t ak_nonce[32];          /* vmesh_atls_ak_nonce(msg, binder) */
    vmesh_atls_role peer_role;
    const char *peer_spiffe_id;    /* verified SVID identity of the peer */
    bool resumed;
    uint64_t reattest;             /* 0: handshake; else the re-attestation request counter */
    /* The message is key-bound (version 3): atls checked that its AK is
     * the SPKI of the peer certificate whose CertificateVerify this full
     * handshake verified; binder is then all zero and unused. */
    bool keybound;
    /* The peer said (0xff4e) it can attest key-bound. */
    bool peer_kb_capable;
} vmesh_atls_appraise_in;

/* What was accepted: the peer's attestation exactly as it was appraised,
 * kept with the result for the life of the connection so that the peer can
 * be judged again later from the very bytes whose session proof verified
 * (re-appraisal after an RV or policy change: vmesh_agent_reappraise),
 * with no encoding in between. atls records media_type, cmw and ak_nonce
 * when it accepts the peer's message; the provider sets evidence_age,
 * journal and lifetime. Empty (cmw.len == 0) for a peer admitted
 * unattested. */
typedef struct {
    vmesh_buf media_type;          /* as sent, NUL-terminated */
    vmesh_buf cmw;                 /* the evidence or the EAR JWT as sent */
    uint8_t ak_nonce[32];          /* the nonce the evidence had to carry (vmesh_atls_ak_nonce) */
    int64_t evidence_age;          /* seconds, as the policy judged it at admission */
    /* The provider's record of what its appraisal depended on (the agent:
     * the lookup journal of the reference-value store, D43), opaque to
     * atls; empty when none. lifetime: the appraisal result's lifetime as
     * the provider judged it (a central verifier's EAR), 0 when none. */
    vmesh_buf journal;
    int64_t lifetime;
} vmesh_atls_accepted;

#define VMESH_ATLS_VERIFIER_MAX 160
#define VMESH_ATLS_DIGEST_MAX 80
/* The appraisal outcome the provider reports (and the accessor returns). */
typedef struct {
    vmesh_tv tv;
    vmesh_tier tier;               /* overall status */
    int mode;                      /* vmesh_atls_mode the message was appraised as */
    char reason[VMESH_ATLS_FAIL_MESSAGE_MAX + 1]; /* why refused / main warning; sent to the peer on refusal */
    vmesh_atls_accepted accepted;  /* what was appraised (see above) */
    /* What the result was appraised under (issue 12.4), for /peers and the
     * access log: the verifier ("developer/build key:<thumbprint>" for an
     * EAR, "developer/build (local)" for the local verifier) and its policy
     * digest; "" when not known (unattested peer, refused before). */
    char verifier[VMESH_ATLS_VERIFIER_MAX];
    char policy_digest[VMESH_ATLS_DIGEST_MAX];
} vmesh_atls_peer_result;

void vmesh_atls_peer_result_init(vmesh_atls_peer_result *r);
void vmesh_atls_peer_result_free(vmesh_atls_peer_result *r);
/* Replaces *dst (initialised) with a deep copy of *src: for keeping a
 * result beyond its connection (e.g. to re-appraise the peer later). */
vmesh_err vmesh_atls_peer_result_copy(vmesh_atls_peer_result *dst,
                                      const vmesh_atls_peer_result *src) VMESH_WUR;

typedef struct {
    void *ctx;
    /* Attester side: fill msg (media_type, cmw, ak_spki, freshness, proof =
     * AK signature over in->binder). msg->role is preset; leave it. An
     * error makes the connection fail with reason internal. May be NULL
     * when will_attest is false. */
    vmesh_err (*attest)(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg);
    /* Relying-party side: the atls layer has checked the message structure,
     * the role, that the proof verifies over THIS session's binder with the
     * AK of the message, and that the mode the message implies is one we
     * accept. The provider checks that the evidence / EAR binds that AK
     * (evidence nonce == in->ak_nonce, or EAR key-attestation == AK), its
     * freshness (epoch) and policy, and fills out (tv, tier, mode, reason,
     * accepted.evidence_age; atls fills the rest of out->accepted once the
     * peer is admitted). *reason = VMESH_ATLS_R_NONE admits the peer; any other
     * code refuses it (out->reason is sent as the message). A returned
     * error refuses with reason internal. out->mode must be FRESH exactly
     * when msg->fresh; it must be one of our accepted modes. */
    vmesh_err (*appraise)(void *ctx, const vmesh_atls_appraise_in *in,
                          vmesh_atls_peer_result *out, vmesh_atls_reason *reason);
    /* Modes accepted for the peer's attestation, in order of preference
     * (empty: we do not ask the peer to attest and admit it as tier none). */
    uint8_t accept_modes[3];
    size_t n_accept_modes;
    /* Media types we can appraise (advertised in 0xff4d), NULL-terminated. */
    const char *const *media_types;
    bool will_attest;              /* we attest ourselves when the peer asks */
    unsigned attest_modes;         /* VMESH_ATLS_MODE_BIT mask of modes we can produce */
    /* A peer that does not attest although we asked (no 0xff4d, or
     * will-attest false): refused (false, default) or admitted, tier none. */
    bool allow_unattested;
    /* Key-bound attestation (docs/ATLS.md). keybound_attest: our AK is our
     * TLS leaf key, generated in this process and never stored (only the
     * agent may say so: vmesh_agent_config.keybound). keybound_accept:
     * we accept key-bound messages from the peer (its policy may still
     * refuse them, or require them, in appraise). Both false: 0xff4e is not
     * sent and version 3 messages are refused. */
    bool keybound_attest;
    bool keybound_accept;
} vmesh_atls_provider;

/* ---- configuration (one per listener or upstream) ------------------------------ */

typedef struct vmesh_atls_config vmesh_atls_config;

vmesh_err vmesh_atls_config_new(vmesh_atls_role role, vmesh_atls_config **out) VMESH_WUR;
/* Our X509-SVID, read from files: chain_file is the path of a PEM file
 * with the chain (leaf first), key_file the path of its PEM private key
 * (not PEM text: both are paths). */
vmesh_err vmesh_atls_config_set_svid(vmesh_atls_config *c, const char *chain_file,
                                     const char *key_file) VMESH_WUR;
/* Our X509-SVID from memory: chain_pem (leaf first) and the private key
 * object (a reference is taken). For key-bound attestation the key is the
 * agent's in-memory AK (vmesh_agent_tls_key): it never touches a file. */
vmesh_err vmesh_atls_config_set_svid_key(vmesh_atls_config *c, const uint8_t *chain_pem, size_t len,
                                         vmesh_key *key) VMESH_WUR;
/* Trust bundle for the peer's SVID: the path of a PEM file with one or more
 * CA certificates. */
vmesh_err vmesh_atls_config_set_bundle(vmesh_atls_config *c, const char *bundle_file) VMESH_WUR;
/* Federation: verify the peer's X509-SVID against the bundle of the trust
 * domain its SPIFFE ID names, and only that one (a reference is taken).
 * Replaces set_bundle's store for chain verification; a peer of a trust
 * domain t does not hold is refused, with the domain named in the failure. */
vmesh_err vmesh_atls_config_set_trust(vmesh_atls_config *c, vmesh_pki_trust *t) VMESH_WUR;
/* Expected peer identity: a SPIFFE ID, or a prefix pattern ending in "/"
 * "*" (vmesh_pki_spiffe_match). NULL: any SVID of the bundle. */
vmesh_err vmesh_atls_config_set_peer_pattern(vmesh_atls_config *c, const char *pattern) VMESH_WUR;
/* The provider is copied; its ctx must outlive the config's connections. */
vmesh_err vmesh_atls_config_set_provider(vmesh_atls_config *c,
                                         const vmesh_atls_provider *p) VMESH_WUR;
/* Chain-validation cache (DECISIONS D52, docs/ATLS.md): a peer chain that
 * validated against this configuration's trust is not validated again
 * while every certificate of it (anchor included) is valid and for at
 * most 10 minutes; keyed by SHA-256 over the chain's DER as sent, so any
 * other chain is validated in full. entries: its size (default 1024,
 * about 64 bytes each); 0 turns it off (OpenSSL's behaviour: every full
 * handshake validates the chain). Emptied by set_bundle and set_trust. */
vmesh_err vmesh_atls_config_set_chain_cache(vmesh_atls_config *c, size_t entries) VMESH_WUR;
/* Chains on record in c's cache now (tests, diagnostics). */
size_t vmesh_atls_config_chain_cache_used(const vmesh_atls_config *c);
/* Process-wide counters of peer chains at full handshakes, every
 * configuration: cached (accepted from a cache, not validated again),
 * validated (validated in full, whether the cache is on or off), stored
 * (validations recorded in a cache). */
typedef struct {
    uint64_t cached, validated, stored;
} vmesh_atls_chain_stats;
void vmesh_atls_chain_cache_stats(vmesh_atls_chain_stats *out);
/* Deadline for handshake + attestation, from vmesh_atls_conn_new (default 10000 ms). */
void vmesh_atls_config_set_deadline_ms(vmesh_atls_config *c, uint32_t ms);
/* Cap on an attestation frame's payload (default 64 KiB, at most 16 MiB - 1). */
vmesh_err vmesh_atls_config_set_max_frame(vmesh_atls_config *c, size_t max) VMESH_WUR;
/* Server: issue TLS 1.3 session tickets (default on). Client: remember the
 * last ticket so that vmesh_atls_conn_get1_session works (default on). */
void vmesh_atls_config_set_resumption(vmesh_atls_config *c, bool on);
/* Offer in-band re-attestation (0xff4d key 4; default off). When both
 * sides offer it, application data after the preamble travels in data
 * frames and either side may ask the other for a new attestation
 * (vmesh_atls_reattest_request). Callers that use the SSL directly
 * (vmesh_atls_conn_ssl) must leave it off. */
void vmesh_atls_config_set_reattest(vmesh_atls_config *c, bool on);
/* Server: evidence privacy (default off). Our attestation (platform
 * evidence or passport) is produced and sent only once the client has
 * proved possession of an acceptable SVID (its Certificate,
 * CertificateVerify and Finished verified, its SPIFFE ID matching the peer
 * pattern), instead of at 0.5-RTT: a client without one learns nothing
 * about our platform and makes us produce no evidence. Costs one round
 * trip (our attestation arrives after the client's Finished, the
 * client's own after it accepted ours). Meant for
 * listeners reachable by anyone (docs/ATLS.md, "Evidence privacy"). */
void vmesh_atls_config_set_evidence_after_auth(vmesh_atls_config *c, bool on);
/* Server: at most `per_second` connections a second (`burst` at once) get
 * fresh-mode evidence at 0.5-RTT, i.e. made for a client that has not
 * proved an SVID yet (a token bucket shared by every connection of this
 * configuration; default: no limit). Beyond it the connection behaves as
 * under evidence_after_auth: the evidence is made and sent once the
 * client's SVID verified, so an anonymous flood of ClientHellos asking for
 * fresh evidence costs at most that many attestations a second, and a
 * legitimate client pays one round trip. per_second 0: no limit. Other
 * modes (epoch-fresh, passport) reuse evidence and are not limited. */
vmesh_err vmesh_atls_config_set_fresh_hello_limit(vmesh_atls_config *c, double per_second,
                                                  unsigned burst) VMESH_WUR;
/* Connections whose fresh evidence waited for the client's SVID because
 * of that limit, since the configuration was made. */
uint64_t vmesh_atls_config_fresh_hello_deferred(const vmesh_atls_config *c);
/* c replaces prev for the same listener (a reload): when both have the
 * same fresh-hello limit, c shares prev's bucket (tokens, clock and
 * deferral count go on, whichever of the two a handshake uses) and true is
 * returned; otherwise c's bucket starts full under its own limit and
 * prev's deferral count is added to c's (false). Call before c is used. */
bool vmesh_atls_config_inherit_fresh_hello(vmesh_atls_config *c, vmesh_atls_config *prev);
/* The OpenSSL SSL_CTX (borrowed), for ALPN, cipher settings and the like. */
void *vmesh_atls_config_ssl_ctx(vmesh_atls_config *c);
void vmesh_atls_config_free(vmesh_atls_config *c);

/* ---- connections ---------------------------------------------------------------- */

typedef struct vmesh_atls_conn vmesh_atls_conn;
/* A TLS 1.3 session to resume (an OpenSSL SSL_SESSION underneath). */
typedef struct vmesh_atls_session vmesh_atls_session;

/* Wraps a connected socket (blocking or not; the fd stays the caller's).
 * The deadline starts now. */
vmesh_err vmesh_atls_conn_new(vmesh_atls_config *c, int fd, vmesh_atls_conn **out) VMESH_WUR;
/* Client, before the handshake: resume this session (a copy is offered:
 * s stays resumable for other connections). */
vmesh_err vmesh_atls_conn_set_session(vmesh_atls_conn *conn, vmesh_atls_session *s) VMESH_WUR;
/* Client: the session to resume the next connection with: the newest
 * ticket received on this one, or, after a resumption that brought no new
 * ticket (our server sends none then), the session it resumed from. NULL if
 * none yet: tickets arrive after the handshake, with the first reads.
 * Free with vmesh_atls_session_free. */
vmesh_atls_session *vmesh_atls_conn_get1_session(vmesh_atls_conn *conn);
void vmesh_atls_session_free(vmesh_atls_session *s);

/* Drives handshake + attestation. VMESH_OK: established (peer accepted;
 * on the client, the server's verdict on us arrives with the first read).
 * VMESH_ERR_WANT_READ / WANT_WRITE: poll the fd and call again.
 * VMESH_ERR_TIMEOUT: the deadline passed. Any other error: failed; see
 * vmesh_atls_failure for the reason. With a blocking fd it completes in one
 * call (waiting at most until the deadline). */
vmesh_err vmesh_atls_handshake(vmesh_atls_conn *conn) VMESH_WUR;
/* Milliseconds left before the deadline while not established (for the
 * caller's timer); -1 once established or failed. */
int64_t vmesh_atls_timeout_ms(const vmesh_atls_conn *conn);
/* Application data, after vmesh_atls_handshake returned VMESH_OK. read:
 * *got > 0 with VMESH_OK; VMESH_ERR_CLOSED at close_notify or EOF;
 * VMESH_ERR_POLICY when the peer refused us (reason in vmesh_atls_failure).
 * write: accepts all n bytes or returns WANT_WRITE having accepted none
 * (output is buffered up to 256 KiB; vmesh_atls_flush drains it). */
vmesh_err vmesh_atls_read(vmesh_atls_conn *conn, void *buf, size_t n, size_t *got) VMESH_WUR;
vmesh_err vmesh_atls_write(vmesh_atls_conn *conn, const void *buf, size_t n) VMESH_WUR;
vmesh_err vmesh_atls_flush(vmesh_atls_conn *conn) VMESH_WUR;
/* Sends close_notify and flushes (WANT_WRITE: call again). */
vmesh_err vmesh_atls_shutdown(vmesh_atls_conn *conn) VMESH_WUR;
/* Frees the connection (not the fd). Secrets are wiped by OpenSSL. */
void vmesh_atls_free(vmesh_atls_conn *conn);

/* Accessors. */
const char *vmesh_atls_peer_spiffe_id(const vmesh_atls_conn *conn); /* NULL before verified */
/* Mode of the peer's attestation as accepted (VMESH_ATLS_MODE_NONE when
 * admitted unattested, -1 before). */
int vmesh_atls_peer_mode(const vmesh_atls_conn *conn);
/* Whether the peer's / our attestation of the handshake was key-bound. */
bool vmesh_atls_peer_keybound(const vmesh_atls_conn *conn);
bool vmesh_atls_own_keybound(const vmesh_atls_conn *conn);
/* Mode we attested in (-1 when we did not). */
int vmesh_atls_own_mode(const vmesh_atls_conn *conn);
/* NULL until the peer was appraised and accepted (or admitted unattested). */
const vmesh_atls_peer_result *vmesh_atls_peer_result_get(const vmesh_atls_conn *conn);
/* The appraisal of a peer that was refused (its trust vector, tier and
 * mode, for the refusal's record); NULL when no appraisal ran. */
const vmesh_atls_peer_result *vmesh_atls_refused_result(const vmesh_atls_conn *conn);
bool vmesh_atls_resumed(const vmesh_atls_conn *conn);
/* True when 0xff4d was negotiated (CH and EE). */
bool vmesh_atls_negotiated(const vmesh_atls_conn *conn);
/* The failure: reason code (VMESH_ATLS_R_NONE if none), its message, and
 * whether the peer reported it (it refused us) or we did. */
vmesh_atls_reason vmesh_atls_failure(const vmesh_atls_conn *conn, const char **message,
                                     bool *by_peer);
/* The OpenSSL SSL (borrowed). */
void *vmesh_atls_conn_ssl(vmesh_atls_conn *conn);

/* ---- re-attestation on an established connection (docs/ATLS.md) ------------------ */

/* True when both sides offered it and the connection is established. */
bool vmesh_atls_reattest_supported(const vmesh_atls_conn *conn);
/* Asks the peer for a new attestation: sends a request frame (counter,
 * 32 random bytes) and arms a deadline of deadline_ms (0: the config's
 * handshake deadline). The answer is read, checked and appraised by
 * vmesh_atls_read as it arrives between data frames; a refused answer, or
 * none by the deadline, fails the connection (attestation-failed to the
 * peer, then close) and vmesh_atls_read / vmesh_atls_reattest_poll return
 * the error. VMESH_ERR_STATE when unsupported, the peer did not attest, or
 * a request is already outstanding. */
vmesh_err vmesh_atls_reattest_request(vmesh_atls_conn *conn, uint32_t deadline_ms) VMESH_WUR;
/* Milliseconds left for the outstanding request (-1 when none). */
int64_t vmesh_atls_reattest_timeout_ms(const vmesh_atls_conn *conn);
/* Fails the connection with reason timeout when the outstanding request's
 * deadline passed (VMESH_ERR_TIMEOUT; the peer is told); VMESH_OK otherwise.
 * Call it from the caller's timer. */
vmesh_err vmesh_atls_reattest_poll(vmesh_atls_conn *conn) VMESH_WUR;

typedef struct {
    uint64_t requests_sent;    /* by us */
    uint64_t answers_accepted; /* peer answers that verified and were admitted */
    uint64_t answers_sent;     /* our answers to the peer's requests */
    bool pending;              /* a request of ours is outstanding */
    int64_t last_attested;     /* unix seconds: when the peer's attestation was last accepted
                                * (handshake or re-attestation); 0 never */
    uint64_t last_rtt_us;      /* request sent -> answer accepted, last round */
    uint64_t bytes_out, bytes_in; /* re-attestation frames (requests + answers), TLS plaintext */
    bool cut;                  /* the connection failed after the handshake, in re-attestation
                                * (a refused or late answer, or the peer cut us) */
} vmesh_atls_reattest_stats;
void vmesh_atls_reattest_stats_get(const vmesh_atls_conn *conn, vmesh_atls_reattest_stats *out);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
