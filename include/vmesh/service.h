/*
 * vmesh service: the central verifier's HTTP API (DESIGN §6), Veraison's
 * challenge-response verification API on libmicrohttpd, and its client (a
 * passport issuer for the agent, on libcurl). Sessions are stateless
 * towards storage: a session id is a self-authenticating token (its nonce,
 * times and state under an HMAC that every replica shares), so any replica
 * serves any step (docs/VERIFIER.md). The request handler is a pure function
 * of the request, so parsing is tested and fuzzed without sockets. Nothing
 * here trusts a session id, header, query or body before it is checked
 * against its cap and, for ids, its MAC.
 */
#ifndef VMESH_SERVICE_H
#define VMESH_SERVICE_H

#include "vmesh/core.h"
#include "vmesh/crypto.h"
#include "vmesh/verifier.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* Media types as Veraison's verification service uses them
 * (veraison/services verification/api/handler.go, capability/well-known.go). */
#define VMESH_SERVICE_SESSION_MT "application/vnd.veraison.challenge-response-session+json"
#define VMESH_SERVICE_DISCOVERY_MT "application/vnd.veraison.discovery+json"
#define VMESH_SERVICE_PROBLEM_MT "application/problem+json"
/* vmesh extension: the attestation key (SPKI DER, base64url) the evidence
 * binds; the expected nonce becomes vmesh_atls_ak_nonce(AK, session nonce)
 * and the EAR's key-attestation names the AK (passport, DESIGN §3.3). */
#define VMESH_SERVICE_AK_HEADER "Vmesh-AK"
/* vmesh extension: the SPIFFE ID the evidence is appraised for — the peer
 * a relying party verified (background check) or the attester's own
 * (passport). Chooses the scoped reference values (rv_for) and is written
 * to the EAR as ear.vmesh.peer, which the relying party checks against the
 * peer it verified (docs/FEDERATION.md "Scopes at the central verifier"). */
#define VMESH_SERVICE_PEER_HEADER "Vmesh-Peer-ID"
/* Response header naming the replica that answered (when configured). */
#define VMESH_SERVICE_REPLICA_HEADER "Vmesh-Replica"
/* "channel" on an answer=channel appraisal that was answered channel-bound
 * (D51); absent, the EAR is signed (a verifier before D51, or one started
 * with --signed-answers) and the relying party checks its signature. */
#define VMESH_SERVICE_ANSWER_HEADER "Vmesh-Answer"

#define VMESH_SERVICE_API_PREFIX "/challenge-response/v1/"
#define VMESH_SERVICE_MAX_BODY ((size_t)1024 * 1024) /* default evidence cap */
#define VMESH_SERVICE_MIN_NONCE 8                    /* Veraison: nonceSize 8..64 */
#define VMESH_SERVICE_MAX_NONCE 64
#define VMESH_SERVICE_DEFAULT_NONCE 32
#define VMESH_SERVICE_DEFAULT_TTL 150 /* seconds; Veraison's ConfigSessionTTL 2m30s */
#define VMESH_SERVICE_MAX_MT 256      /* media type bytes carried in a token */
#define VMESH_SERVICE_MAX_TOKEN_EAR ((size_t)8192) /* EAR bytes carried in a completed token */
#define VMESH_SERVICE_MAX_TOKEN ((size_t)12 * 1024)  /* token characters */
#define VMESH_SERVICE_MAX_AK ((size_t)1024)          /* AK SPKI DER bytes */

/* ---- session tokens ---------------------------------------------------------- */

typedef enum {
    VMESH_SESSION_WAITING = 1,
    VMESH_SESSION_COMPLETE = 2,
} vmesh_session_state;

/* The state a session id carries. Initialise with vmesh_service_session_init,
 * release with vmesh_service_session_free. */
typedef struct {
    uint8_t sid[16];            /* random, kept across states (DELETE revokes it) */
    vmesh_session_state state;
    int64_t created, expiry;    /* epoch seconds */
    uint8_t nonce[VMESH_SERVICE_MAX_NONCE];
    size_t nonce_len;
    char media_type[VMESH_SERVICE_MAX_MT + 1]; /* complete: the evidence media type */
    vmesh_buf ear;              /* complete: the EAR JWT (NUL-terminated) */
} vmesh_service_session;

void vmesh_service_session_init(vmesh_service_session *s);
void vmesh_service_session_free(vmesh_service_session *s);

/* Session keys (32 bytes) all replicas share: from a file of at least 32
 * bytes (hashed with a label), or derived from the EAR private key. */
vmesh_err vmesh_service_session_key_load(const char *path, uint8_t out[32]) VMESH_WUR;
vmesh_err vmesh_service_session_key_derive(const vmesh_key *ear_key, uint8_t out[32]) VMESH_WUR;

/* token = base64url(payload || HMAC-SHA256(key, label || payload)); token
 * is reset and NUL-terminated. Refuses a nonce outside 8..64 bytes, a media
 * type over VMESH_SERVICE_MAX_MT, an EAR over VMESH_SERVICE_MAX_TOKEN_EAR. */
vmesh_err vmesh_service_token_seal(const uint8_t key[32], const vmesh_service_session *s,
                                   vmesh_buf *token) VMESH_WUR;
/* Opens a token: VMESH_ERR_TOO_LARGE (over VMESH_SERVICE_MAX_TOKEN),
 * VMESH_ERR_PARSE (not base64url, too short, bad version or fields),
 * VMESH_ERR_SIGNATURE (MAC does not verify: forged, tampered or another
 * key), VMESH_ERR_EXPIRED (expiry <= now). *out is reset first. */
vmesh_err vmesh_service_token_open(const uint8_t key[32], const char *token, size_t n, int64_t now,
                                   vmesh_service_session *out) VMESH_WUR;

/* ---- request parsing (pure functions) ---------------------------------------- */

/* The session nonce from newSession's query (Veraison parseNonceRequest):
 * both given: ARG "nonce and nonceSize are mutually exclusive"; none: 32
 * random bytes; nonceSize: decimal 8..64, random bytes; nonce: base64url
 * (or base64) of 8..64 bytes. Parameters are NULL when absent. */
vmesh_err vmesh_service_parse_nonce_query(const char *nonce, const char *nonce_size,
                                          vmesh_buf *out) VMESH_WUR;
/* True when an Accept header admits media_type: absent or empty, "*\/\*",
 * "type/\*" or the type itself (parameters ignored, case-insensitive), as
 * gin's NegotiateFormat that Veraison uses. */
bool vmesh_service_accepts(const char *accept, const char *media_type);
/* Decodes the Vmesh-AK header (base64url SPKI DER, at most
 * VMESH_SERVICE_MAX_AK bytes) and checks it is a public key. */
vmesh_err vmesh_service_parse_ak(const char *value, vmesh_buf *spki) VMESH_WUR;
/* Unwraps an RFC 9999 CMW (vmesh/cmw.h) in JSON or CBOR, given as
 * application/cmw+json, application/cmw+cbor or
 * application/vnd.veraison.cmw+json. A record: media_type receives its
 * type (NUL-terminated), value its bytes. A collection (composite evidence):
 * media_type "application/cmw+cbor", value the collection in CBOR. */
vmesh_err vmesh_service_cmw_unwrap(const uint8_t *body, size_t n, vmesh_buf *media_type,
                                   vmesh_buf *value) VMESH_WUR;
bool vmesh_service_is_cmw(const char *content_type);

/* ---- the service ----------------------------------------------------------- */

typedef struct vmesh_service vmesh_service;

typedef struct {
    vmesh_verifier *verifier;     /* appraisal engine (borrowed; outlives the service) */
    vmesh_key *ear_key;           /* the verifier's EAR key: its public half is published
                                   * (reference taken); private when session_key is NULL */
    const uint8_t *session_key;   /* 32 bytes shared by replicas; NULL: derived from ear_key */
    int64_t session_ttl;          /* seconds; 0: VMESH_SERVICE_DEFAULT_TTL */
    const char *replica_id;       /* sent as Vmesh-Replica; NULL: not sent */
    /* Epoch bells the verifier follows (borrowed; may be NULL): every EAR
     * carries their current markers (ear.vmesh.epoch-markers). */
    struct vmesh_bell_view *bell;
    /* Scoped providers (optional): the reference values evidence for peer
     * (the Vmesh-Peer-ID header; NULL when absent) is appraised with, as
     * vmesh_sync_scoped_rv; NULL refuses the request (403) with `why`. */
    vmesh_rv_store *(*rv_for)(void *ctx, const char *peer, char *why, size_t why_len);
    void *rv_for_ctx;
    /* HTTP (vmesh_service_start only). */
    const char *listen;           /* "HOST:PORT", "[V6]:PORT", ":PORT"; port 0: any */
    unsigned threads;             /* worker threads; 0: online cores */
    unsigned max_connections;     /* 0: 1024 */
    unsigned conn_timeout;        /* idle seconds per connection; 0: 30 */
    size_t max_body;              /* evidence bytes; 0: VMESH_SERVICE_MAX_BODY */
    /* What one client (an IPv4 address, an IPv6 /64) may take (issue 12.6,
     * docs/VERIFIER.md "Hostile clients"). 0: the default;
     * VMESH_SERVICE_UNLIMITED: no limit (benchmarks where every client
     * shares 127.0.0.1). Refusals are counted at GET /metrics. */
    unsigned client_connections;  /* open connections; 0: 64 */
    unsigned request_deadline;    /* seconds from accept (or the previous answer) until the
                                   * whole request (headers and body) is in; bytes do not
                                   * extend it; closed after; 0: 10 */
    unsigned client_rate;         /* requests per second, then 429 + Retry-After; 0: 500 */
    unsigned client_burst;        /* requests at once; 0: 2 x client_rate */
    unsigned client_bytes;        /* body bytes per second, then 429; 0: 16 MiB */
    /* TLS 1.3 (issue 12.2, DECISIONS D31): with both set the API is served
     * over https only (GnuTLS via libmicrohttpd, TLS 1.3 and nothing
     * older). PEM files: the certificate (chain) and its private key. */
    const char *tls_cert;
    const char *tls_key;
    /* The verifier's own platform (key attestation, D31): when set, GET
     * VMESH_SERVICE_ATTESTATION_PATH?nonce= answers evidence from this
     * attester whose nonce is vmesh_service_attestation_binding(the
     * client's nonce, the EAR key, the TLS key). NULL: that path is 404. */
    const struct vmesh_evidence_scheme *self_scheme;
    void *self_attester;          /* the scheme's attester context (borrowed) */
    /* The one-request appraisal (VMESH_SERVICE_APPRAISE_PATH, DECISIONS
     * D42) is served and advertised unless this is set (then that path is
     * 404 and the discovery document does not name it). */
    bool no_appraise;
    /* Every EAR signed: ?answer=channel is ignored (D51), as a verifier
     * before D51 does; for operators who archive the EARs they issue. */
    bool signed_answers;
    /* The batch appraisal (SVC_BATCH_PATH "/vmesh/v1/appraise-batch",
     * DECISIONS D53) is served with the one-request appraisal unless this
     * is set (then it is 404, and relying parties fall back to one request
     * per appraisal). */
    bool no_batch;
} vmesh_service_config;

#define VMESH_SERVICE_UNLIMITED 0xffffffffu
#define VMESH_SERVICE_DEFAULT_CLIENT_CONNECTIONS 64u
#define VMESH_SERVICE_DEFAULT_REQUEST_DEADLINE 10u
#define VMESH_SERVICE_DEFAULT_CLIENT_RATE 500u
#define VMESH_SERVICE_DEFAULT_CLIENT_BYTES (16u * 1024u * 1024u)

vmesh_err vmesh_service_new(const vmesh_service_config *cfg, vmesh_service **out) VMESH_WUR;
void vmesh_service_free(vmesh_service *s); /* stops it first; NULL is fine */

/* One HTTP request as the handler sees it. Strings are NUL-terminated,
 * NULL when absent. */
typedef struct {
    const char *method;
    const char *path;            /* without the query */
    const char *q_nonce;         /* ?nonce= */
    const char *q_nonce_size;    /* ?nonceSize= */
    const char *q_annotated;     /* ?annotated= (D46: "omit" on the one-request appraisal) */
    const char *q_answer;        /* ?answer= (D51: "channel" on the one-request appraisal) */
    const char *q_batch;         /* ?batch= (D53: the batch appraisal's id, base64url) */
    /* VMESH_JOSE_MAC_KEY_LEN bytes exported from the TLS session the request
     * came on (VMESH_SERVICE_CHANNEL_LABEL, context q_nonce, or q_batch for
     * a batch appraisal) when it asked answer=channel over TLS and the
     * service answers so (not signed_answers); NULL otherwise. */
    const uint8_t *channel_key;
    const char *accept;
    const char *content_type;
    const char *ak;              /* Vmesh-AK */
    const char *peer;            /* Vmesh-Peer-ID */
    const uint8_t *body;
    size_t body_len;
    int64_t now;                 /* 0: vmesh_time_now() */
} vmesh_service_request;

typedef struct {
    unsigned status;
    const char *content_type;    /* static string; NULL: no body */
    vmesh_buf body;
    vmesh_buf location;          /* "Location" when len > 0 */
    vmesh_buf content_location;  /* "Content-Location" when len > 0 */
    vmesh_buf accept;            /* "Accept" (415) when len > 0 */
    const char *cache_control;   /* static string or NULL */
    unsigned retry_after;        /* "Retry-After" seconds (429) when > 0 */
    bool channel_answer;         /* "Vmesh-Answer: channel": the EAR is channel-bound (D51) */
} vmesh_service_response;

void vmesh_service_response_init(vmesh_service_response *r);
void vmesh_service_response_free(vmesh_service_response *r);

/* Answers one request: every outcome, errors included, is a response
 * (problem+json for errors). Returns an error only when no response could
 * be built (out of memory); the caller then sends a bare 500. */
vmesh_err vmesh_service_handle(vmesh_service *s, const vmesh_service_request *rq,
                               vmesh_service_response *rs) VMESH_WUR;

/* Starts serving cfg->listen on libmicrohttpd (thread pool, epoll). */
vmesh_err vmesh_service_start(vmesh_service *s) VMESH_WUR;
/* The bound port (after start). */
uint16_t vmesh_service_port(const vmesh_service *s);
/* Stops accepting and finishes; idempotent. */
void vmesh_service_stop(vmesh_service *s);

typedef struct {
    uint64_t requests, sessions, verifications, problems, revoked;
    uint64_t oneshot; /* verifications answered by the one-request appraisal (D42) */
    uint64_t channel; /* of those (and of batch items), answered with a channel-bound EAR (D51) */
    uint64_t batches, batch_items; /* batch appraisals answered, and their items answered with an EAR (D53) */
    /* HTTP layer (after start): open connections, clients with one open,
     * connections accepted, and refusals: over the verifier's connection
     * limit, over a client's, past the request deadline (closed), 429 for
     * the request or byte budget, 413 for a body over the cap. */
    uint64_t connections, clients, accepted;
    uint64_t refused_connections, refused_client_connections, refused_deadline, refused_rate,
            refused_bytes, refused_body;
} vmesh_service_stats;
/* The stats in the Prometheus text format (what GET /metrics answers). */
vmesh_err vmesh_service_metrics(vmesh_service *s, vmesh_buf *out) VMESH_WUR;
void vmesh_service_stats_get(vmesh_service *s, vmesh_service_stats *out);

/* ---- the verifier's own attestation (issue 12.2, DECISIONS D31) ------------- */

/* GET <base>/vmesh/v1/verifier-attestation?nonce=<base64url, 16..64 bytes>
 * answers VMESH_SERVICE_ATTESTATION_MT: {"nonce", "media-type", "evidence",
 * "ear-key", "tls-key"} (binary values base64url; keys as SPKI DER). The
 * evidence's own nonce is the binding below, so the evidence proves that
 * the platform holding it produced it for this client's nonce, for this
 * EAR key and this TLS key. */
#define VMESH_SERVICE_ATTESTATION_PATH "/vmesh/v1/verifier-attestation"
#define VMESH_SERVICE_ATTESTATION_MT "application/vnd.vmesh.verifier-attestation+json"
#define VMESH_SERVICE_ATTESTATION_MAX ((size_t)256 * 1024) /* answer bytes */

/* SHA-256 over "vmesh-verifier-attestation/1", then each of the client's
 * nonce, SHA-256(EAR key SPKI DER) and SHA-256(TLS key SPKI DER) as a
 * 2-byte big-endian length and its bytes. */
void vmesh_service_attestation_binding(const uint8_t *nonce, size_t nonce_len, const uint8_t *ear_spki,
                                       size_t ear_spki_len, const uint8_t *tls_spki, size_t tls_spki_len,
                                       uint8_t out[32]);

typedef struct {
    char media_type[VMESH_SERVICE_MAX_MT + 1];
    vmesh_buf nonce, evidence, ear_spki, tls_spki;
} vmesh_service_attestation;

void vmesh_service_attestation_init(vmesh_service_attestation *a);
void vmesh_service_attestation_free(vmesh_service_attestation *a);
/* Parses an answer (at most VMESH_SERVICE_ATTESTATION_MAX bytes): every
 * member present, of its type, decodable, within its bound; unknown
 * members are ignored. Checks nothing else. */
vmesh_err vmesh_service_attestation_parse(const uint8_t *p, size_t n, vmesh_service_attestation *out) VMESH_WUR;

/* ---- one-request appraisal (vmesh extension, DECISIONS D42) ----------------- */

/* POST <base>/vmesh/v1/appraise?nonce=<base64url, 8..64 bytes> with the
 * evidence as the body, Content-Type its media type (or a CMW, as for a
 * session), Vmesh-AK and Vmesh-Peer-ID as for a session: the evidence is
 * appraised under that nonce at once and the answer is the EAR itself
 * (200, VMESH_EAR_MEDIA_TYPE). No session is created, so there is nothing
 * to delete. Advertised in the discovery document's "api-endpoints" under
 * VMESH_SERVICE_APPRAISE_ENDPOINT; Veraison's API is unchanged beside it. */
#define VMESH_SERVICE_APPRAISE_PATH "/vmesh/v1/appraise"
/* ?answer=channel on the one-request appraisal over https (DECISIONS D51):
 * the EAR is authenticated with HS256 under the key both ends export from
 * the TLS session (RFC 8446 §7.5: this label, the request's nonce parameter
 * as sent, base64url text, as the context, VMESH_JOSE_MAC_KEY_LEN bytes)
 * instead of the verifier's signature. Only the relying party on that
 * session can check it; plain http is refused (400). */
#define VMESH_SERVICE_CHANNEL_LABEL "EXPORTER-vmesh-ear-channel/1"
#define VMESH_SERVICE_APPRAISE_ENDPOINT "vmeshAppraise"
#define VMESH_SERVICE_MAX_ENDPOINT 256 /* bytes of an advertised path */
#define VMESH_SERVICE_DISCOVERY_MAX ((size_t)64 * 1024)

/* Reads a discovery document (GET /.well-known/veraison/verification, at
 * most VMESH_SERVICE_DISCOVERY_MAX bytes): a JSON object whose
 * "api-endpoints", when present, is an object of strings. path receives
 * the advertised one-request appraisal path ("" when not advertised); an
 * advertised path must be an absolute path on the same origin ("/" then
 * unreserved characters and "/", no "//", at most
 * VMESH_SERVICE_MAX_ENDPOINT bytes). VMESH_ERR_PARSE naming the problem
 * otherwise. */
vmesh_err vmesh_service_discovery_appraise_path(const uint8_t *p, size_t n, char *path, size_t cap) VMESH_WUR;

/* ---- client: a passport issuer over HTTP ------------------------------------- */

typedef struct vmesh_service_client {
    const char *url;             /* service base URL, e.g. "http://verifier:8080" */
    /* Further replicas of the same verifier (same EAR key), tried in turn
     * when one cannot be reached, times out or answers 429 or 5xx, or (an
     * attested link, D45) does not attest now; never after an answer that
     * fails a check (that one fails closed). */
    const char *const *replicas;
    size_t n_replicas;
    /* Kept by the client (zero it once, then leave it): the replica that
     * answered last (0: url, i: replicas[i - 1]), where the next exchange
     * starts. Read and written atomically. */
    size_t last_good;
    long timeout_ms;             /* whole exchange, failovers included; 0: 10000 */
    const char *ca_file;         /* https trust anchors; NULL: the system's */
    /* The answer's checks (DESIGN §9, vmesh_ear_check_answer): */
    const vmesh_key *ear_key;    /* the verifier's EAR key: the signature is checked; NULL: not here */
    const char *issuer;          /* expected ear.verifier-id.developer; NULL: not checked */
    int64_t max_lifetime;        /* seconds; > 0: exp - iat at most this */
    /* The verifier link (issue 12.2, DECISIONS D31). */
    const char *tls_pin;         /* "sha256//<base64 SHA-256 of the SPKI>": every https request
                                  * must meet this TLS key; NULL: none configured */
    const char *verifier_rv;     /* reference values (RV JSON / CoRIM file) for the verifier's own
                                  * platform: when set, the verifier is attested before any evidence
                                  * is sent (vmesh_service_client_attest_init) */
    /* Or, when verifier_rv is NULL: the reference values installed in this
     * engine now (a relying party's snapshot synced from its RVPs, D37):
     * a new snapshot counts as a change, like a changed file. */
    vmesh_verifier *rv_source;
    /* What the verifier's own platform must attest as (a verifier of a
     * bundle's trust set, D40): the scheme and the class id of its
     * appraisal; NULL / 0: any that affirms. */
    const char *platform_scheme;
    const uint8_t *platform_class;
    size_t platform_class_len;
    int64_t attest_recheck;      /* seconds an affirming attestation of the verifier is reused
                                  * while its reference values are unchanged; 0: 30 */
    struct vmesh_service_vlink *vlink; /* state of the attested link (vmesh_service_client_attest_init) */
    /* Passport requests: our own SPIFFE ID, sent as Vmesh-Peer-ID so that a
     * scoped verifier appraises with our domain's providers and names it in
     * the EAR (ear.vmesh.peer); NULL: not sent. */
    const char *peer;
    /* Central appraisals always as signed EARs, never channel-bound (D51):
     * for a relying party that keeps EARs as evidence for third parties. */
    bool signed_answers;
    /* Batching of central appraisals (D53; vmesh_service_client_batch_init):
     * NULL, one request per appraisal. */
    struct vmesh_service_batcher *batcher;
} vmesh_service_client;

/* Prepares c for an attested verifier link (c->verifier_rv set): loads the
 * reference values; the first request attests the verifier. With an https
 * URL the TLS key the attestation binds is pinned for every later request;
 * with c->ear_key set at init the attested EAR key must be that key (a
 * reference is kept). With replicas (set before this call, then left
 * alone), each URL gets its own link (D45): attested on its own under the
 * same reference values, its own TLS pin and attested EAR key, re-checked
 * and renewed on its own. Evidence goes only to a URL whose link attests
 * now; an answer is checked against the EAR key that URL attested. A URL
 * that is judged and refused while its evidence binds an EAR key taints
 * that key: no URL attesting the same key is sent evidence (nor counts as
 * attesting) until the refused one attests again. */
vmesh_err vmesh_service_client_attest_init(vmesh_service_client *c) VMESH_WUR;
void vmesh_service_client_attest_free(vmesh_service_client *c); /* NULL-safe; keeps c */
/* Attests the verifier now unless an affirming result for the current
 * reference values is fresh (c->attest_recheck); on success *ear_key (may
 * be NULL) gets a reference to the attested EAR key. Errors name the
 * reason: not affirming under the RVs, nonce not ours, binding, EAR key;
 * every one of those (the verifier answered and was refused) is
 * VMESH_ERR_POLICY, also from every request over the link (D39); no
 * answer is VMESH_ERR_IO / VMESH_ERR_TIMEOUT. */
vmesh_err vmesh_service_client_attest(const vmesh_service_client *c, vmesh_key **ear_key) VMESH_WUR;
/* With replicas, vmesh_service_client_attest asks every URL and succeeds
 * when one attests an untainted EAR key (the first such one's key in
 * *ear_key); VMESH_ERR_POLICY when none does and one was refused (or its
 * key is tainted); VMESH_ERR_IO / TIMEOUT when none answered. The same for
 * one URL (0: c->url, i: c->replicas[i - 1]): */
vmesh_err vmesh_service_client_attest_url(const vmesh_service_client *c, size_t i, vmesh_key **ear_key) VMESH_WUR;
/* Connections to verifiers are kept alive and reused by every client of
 * the process (one connection cache, safe across threads), so a handshake
 * does not pay a TCP (and TLS) connect per request. A replica is tried
 * with the remaining time divided among the replicas not tried yet, so a
 * silent one cannot use up the whole timeout. */

/* One challenge-response verification: newSession?nonce=<nonce> → POST the
 * evidence (with Vmesh-AK when akpub is given) → the EAR JWT from "result"
 * (ear_jwt reset, NUL-terminated) → DELETE the session. Errors name the
 * HTTP status and the problem detail. The EAR must answer this request:
 * eat_nonce is the nonce (with akpub: ak_nonce(akpub, nonce)), the
 * submodule of the evidence's scheme exists and, with akpub, attests it,
 * and c's ear_key / issuer / max_lifetime when set; otherwise
 * VMESH_ERR_MISMATCH (VMESH_ERR_SIGNATURE, VMESH_ERR_EXPIRED from the
 * signature check) naming what does not match. */
vmesh_err vmesh_service_client_verify(const vmesh_service_client *c, const char *media_type,
                                      const uint8_t *evidence, size_t evidence_len,
                                      const uint8_t *nonce, size_t nonce_len, const uint8_t *akpub,
                                      size_t akpub_len, vmesh_buf *ear_jwt) VMESH_WUR;

/* A vmesh_agent_passport_fn (ctx: const vmesh_service_client *): the
 * challenge is the session nonce, the AK goes in Vmesh-AK, so the central
 * verifier checks the evidence nonce ak_nonce(akpub, challenge) and names
 * the AK in the EAR (checked as vmesh_service_client_verify does). */
vmesh_err vmesh_service_passport_client(void *ctx, const char *media_type, const uint8_t *evidence,
                                        size_t evidence_len, const uint8_t *challenge,
                                        size_t challenge_len, const uint8_t *akpub, size_t akpub_len,
                                        vmesh_buf *ear_jwt) VMESH_WUR;

/* A vmesh_agent_central_fn (ctx: const vmesh_service_client *): a relying
 * party's background-check appraisal at the central verifier, with the
 * session's ak_nonce as the Veraison session nonce and the peer's verified
 * SPIFFE ID in Vmesh-Peer-ID (when not NULL). It hands back the EAR
 * unchecked: the agent checks the answer itself (signature, nonce, submod,
 * issuer, lifetime), each failure with its own reason code. Over an
 * attested https link (vlink) with channel not NULL and signed_answers
 * unset, it asks for a channel-bound answer (D51: answer=channel) and, when
 * one came, sets *channel and writes the session's exported key
 * (VMESH_JOSE_MAC_KEY_LEN bytes) to channel_key; otherwise *channel is
 * false and the EAR is signed. */
vmesh_err vmesh_service_central_client(void *ctx, const char *media_type, const uint8_t *evidence,
                                       size_t evidence_len, const uint8_t *nonce, size_t nonce_len,
                                       const char *peer, vmesh_buf *ear_jwt, uint8_t *channel_key,
                                       bool *channel) VMESH_WUR;

/* Batching (D53, docs/VERIFIER.md "Batch appraisal"): after this, the
 * central appraisals of vmesh_service_central_client that wait at the same
 * time go to the verifier together, up to max_items (1..64; 0: 32) and
 * 512 KiB of evidence (one appraisal at least) in one
 * POST /vmesh/v1/appraise-batch, sent by one of the waiting threads while
 * the others wait for their answers (no thread of its own). Each answer is
 * handed back exactly as the one-request appraisal's would be, and checked
 * by the agent against its own question. A verifier that does not serve
 * batches (404, 405, 415) is asked one request per appraisal for the next
 * 5 minutes; any other failure of a batch (unreachable, 429, 5xx) sends its
 * appraisals one by one, with the replicas' failover; a batch that timed
 * out fails its appraisals (a slow verifier fails closed, once). */
vmesh_err vmesh_service_client_batch_init(vmesh_service_client *c, unsigned max_items) VMESH_WUR;
void vmesh_service_client_batch_free(vmesh_service_client *c); /* NULL-safe; keeps c */
/* Batches sent and appraisals they carried, since init. */
void vmesh_service_client_batch_stats(const vmesh_service_client *c, uint64_t *batches, uint64_t *items);

/* Is the central verifier reachable the way an appraisal would reach it?
 * Over the same client: the attested verifier link first when configured
 * (its platform appraised, its TLS key pinned, D31), the TLS pin, then
 * GET /.well-known/veraison/verification at the url and each replica in
 * turn until one answers 200 (with attested links: one whose link attests
 * now, D45). VMESH_OK when one did; else the last error (naming the URL).
 * No evidence is sent. */
vmesh_err vmesh_service_client_probe(const vmesh_service_client *c) VMESH_WUR;
/* The same at one URL only (0: c->url, i: c->replicas[i - 1]; D45). */
vmesh_err vmesh_service_client_probe_url(const vmesh_service_client *c, size_t i) VMESH_WUR;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
