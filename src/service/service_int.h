/*
 * Internals of the service module shared by the handler (pure) and the
 * libmicrohttpd glue. Holds the session key: never log or print it.
 */
#ifndef VMESH_SERVICE_INT_H
#define VMESH_SERVICE_INT_H

#include "vmesh/service.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>

/* ---- per-client limits (limits.c) ---- */
#define SVC_UNLIMITED 0xffffffffu

typedef enum {
    SVC_REFUSE_NONE = 0,
    SVC_REFUSE_CONNECTIONS,        /* the verifier's connection limit */
    SVC_REFUSE_CLIENT_CONNECTIONS, /* this client's connection limit */
    SVC_REFUSE_DEADLINE,           /* request not delivered within the deadline: closed */
    SVC_REFUSE_CLIENT_RATE,        /* 429: request budget */
    SVC_REFUSE_CLIENT_BYTES,       /* 429: body-byte budget */
    SVC_REFUSE_BODY,               /* 413: one body over the cap */
    SVC_REFUSE_CLIENTS,            /* no room to track another client */
    SVC_REFUSE_COUNT
} svc_refuse;

typedef struct {
    unsigned max_connections;    /* all clients */
    unsigned client_connections; /* per client; SVC_UNLIMITED: off */
    unsigned request_deadline;   /* seconds from accept (or the previous answer) to a whole request */
    unsigned client_rate;        /* requests per second; SVC_UNLIMITED: off */
    unsigned client_burst;       /* requests */
    unsigned client_bytes;       /* body bytes per second; SVC_UNLIMITED: off */
    unsigned client_bytes_burst; /* bytes */
} svc_limits_config;

/* A client: an IPv4 address, or an IPv6 /64, as an IPv6 address. */
typedef struct {
    uint8_t a[16];
} svc_client_key;

struct svc_client;
typedef struct svc_conn {
    struct svc_conn *prev, *next;
    struct svc_client *client;
    int fd;
    uint64_t deadline_ms; /* monotonic ms; 0: none (the request is in) */
    bool killed;
} svc_conn;

typedef struct svc_limits svc_limits;

typedef struct {
    uint64_t connections, clients, tracked, accepted;
    uint64_t refused[SVC_REFUSE_COUNT];
} svc_limits_stats;

struct sockaddr;
void svc_client_key_from(const struct sockaddr *sa, svc_client_key *k);
void svc_client_key_str(const svc_client_key *k, char *out, size_t n);
const char *svc_refuse_name(svc_refuse r);
vmesh_err svc_limits_new(const svc_limits_config *cfg, svc_limits **out) VMESH_WUR;
void svc_limits_free(svc_limits *l);
const svc_limits_config *svc_limits_cfg(const svc_limits *l);
/* At accept: may this client open one more connection? (counts refusals) */
svc_refuse svc_limits_admit(svc_limits *l, const svc_client_key *k);
/* Registers an accepted connection (its deadline starts); checks the
 * limits again. *out is NULL on refusal. */
svc_refuse svc_limits_open(svc_limits *l, const svc_client_key *k, int fd, uint64_t now_ms, svc_conn **out);
/* Before the connection's socket is closed. NULL is fine. */
void svc_limits_close(svc_limits *l, svc_conn *sc);
/* Charges `requests` requests and `bytes` body bytes, all or nothing:
 * one request and the declared body when the headers are in, a batch's
 * further items (D53) once its body is; on refusal *retry_after is the
 * seconds until the budget allows all of it. */
svc_refuse svc_limits_request(svc_limits *l, svc_conn *sc, uint64_t requests, uint64_t bytes, uint64_t now_ms,
                              unsigned *retry_after);
/* Charges body bytes not declared up front (chunked); does not count. */
svc_refuse svc_limits_bytes(svc_limits *l, svc_conn *sc, uint64_t bytes, uint64_t now_ms, unsigned *retry_after);
void svc_limits_count(svc_limits *l, svc_refuse r);
/* now_ms 0: the request is in (no deadline); else the next request's
 * deadline starts at now_ms. */
void svc_limits_arm(svc_limits *l, svc_conn *sc, uint64_t now_ms);
/* Calls kill(fd) once for each connection past its deadline; returns how many. */
size_t svc_limits_reap(svc_limits *l, uint64_t now_ms, void (*kill)(int fd, void *ctx), void *ctx);
void svc_limits_get_stats(svc_limits *l, svc_limits_stats *out);
/* The client of a connection (all zeros for NULL). */
const svc_client_key *svc_conn_client(const svc_conn *sc);

#define REVOKE_SLOTS 4096
#define REVOKE_PROBE 8

typedef struct {
    uint8_t sid[16];
    int64_t expiry; /* 0: empty */
} revoked_entry;

struct vmesh_service {
    vmesh_verifier *verifier;
    vmesh_key *ear_key;
    uint8_t session_key[32];
    int64_t ttl;
    char *replica_id;
    struct vmesh_bell_view *bell; /* borrowed; NULL: no epoch markers in EARs */
    vmesh_rv_store *(*rv_for)(void *ctx, const char *peer, char *why, size_t why_len);
    void *rv_for_ctx;
    char *well_known;     /* the discovery document, built once */
    size_t well_known_len;
    char *accept_json;    /* ["mt", ...] */
    char *accept_header;  /* mt, mt, ... (415) */
    bool appraise;        /* the one-request appraisal is served (D42) */
    bool signed_answers;  /* ?answer=channel ignored: every EAR signed (D51) */
    bool batch;           /* the batch appraisal is served (D53) */
    /* DELETE: a per-replica list of revoked session ids until they expire. */
    pthread_mutex_t revoke_lock;
    revoked_entry revoked[REVOKE_SLOTS];
    /* HTTP */
    char *listen;
    unsigned threads, max_connections, conn_timeout;
    size_t max_body;
    svc_limits_config limits_cfg;
    svc_limits *limits;   /* while started */
    pthread_t reaper;
    bool reaper_running;
    pthread_mutex_t reaper_lock;
    pthread_cond_t reaper_cv;
    bool reaper_stop;
    _Atomic uint64_t refuse_logged_ms[SVC_REFUSE_COUNT]; /* one warning per reason per 10 s */
    void *daemon; /* struct MHD_Daemon * */
    uint16_t port;
    _Atomic uint64_t n_requests, n_sessions, n_verifications, n_problems, n_revoked, n_oneshot, n_channel;
    _Atomic uint64_t n_batches, n_batch_items;
    /* TLS and the verifier's own attestation (vattest.c, D31) */
    bool tls;
    vmesh_buf tls_cert_pem, tls_key_pem; /* NUL-terminated */
    vmesh_buf ear_spki, tls_spki;        /* SPKI DER */
    const vmesh_evidence_scheme *self_scheme;
    void *self_attester;
    pthread_mutex_t self_lock;
    bool self_lock_init;
};

/* vattest.c */
vmesh_err svc_attestation_setup(vmesh_service *s, const vmesh_service_config *cfg) VMESH_WUR;
void svc_attestation_cleanup(vmesh_service *s);
vmesh_err svc_attestation_answer(vmesh_service *s, const vmesh_service_request *rq,
                                 vmesh_service_response *rs) VMESH_WUR;
/* The relying party's link to an attested verifier, one per URL (i = 0:
 * c->url, i: c->replicas[i - 1], D45): attests it when due, within
 * timeout_ms (<= 0 or over c->timeout_ms: c->timeout_ms); pin gets
 * libcurl's pin of the attested TLS key ("" over http). nowait: while
 * another thread attests this URL, VMESH_ERR_STATE at once instead of
 * waiting for it (a silent replica then holds no one who can try another). */
size_t svc_client_vlink_count(const vmesh_service_client *c);
vmesh_err svc_client_vlink(const vmesh_service_client *c, size_t i, long timeout_ms, bool nowait, char *pin,
                           size_t pin_cap, vmesh_key **ear_key) VMESH_WUR;
/* VMESH_ERR_POLICY naming the URL when a refused URL's attestation bound
 * the EAR key k (D45): its results count for nothing. */
vmesh_err svc_client_vlink_tainted(const vmesh_service_client *c, const vmesh_key *k) VMESH_WUR;
/* The pinned TLS key of URL i was not met: the next svc_client_vlink(i)
 * attests again, unless its last attestation is under a second old
 * (then false). */
bool svc_client_vlink_renew(const vmesh_service_client *c, size_t i);

/* Builds a problem+json response (RFC 9457 §3: type, title, status, detail). */
vmesh_err vmesh_service_problem(vmesh_service_response *rs, unsigned status, const char *fmt, ...)
    VMESH_PRINTF(3, 4) VMESH_WUR;

/* A reply body collected by libcurl (CURLOPT_WRITEFUNCTION svc_body_write,
 * CURLOPT_WRITEDATA the sink): appended up to body's cap; past it, overflow
 * is set and the transfer stops. */
/* ---- the batch appraisal's wire format (batch.c, D53) ---- */
#define SVC_BATCH_PATH "/vmesh/v1/appraise-batch"
#define SVC_BATCH_MT "application/vnd.vmesh.appraise-batch+cbor"
#define SVC_BATCH_MAX 64 /* items in one request */
/* One appraisal of a batch: the one-request appraisal's nonce (its
 * ?nonce=), Content-Type, body, Vmesh-AK (the SPKI itself) and
 * Vmesh-Peer-ID. Decoded items borrow from the body (strings are not
 * NUL-terminated). */
typedef struct {
    const uint8_t *nonce;
    size_t nonce_len;
    const char *media_type;
    size_t media_type_len;
    const uint8_t *evidence;
    size_t evidence_len;
    const uint8_t *ak; /* NULL: none */
    size_t ak_len;
    const char *peer; /* NULL: none */
    size_t peer_len;
} svc_batch_item;
/* One answer: 200 and the EAR, or the status and problem+json document
 * the one-request appraisal would have answered. Borrowed. */
typedef struct {
    unsigned status;
    const char *text;
    size_t text_len;
} svc_batch_answer;
vmesh_err svc_batch_request_encode(const svc_batch_item *it, size_t n, vmesh_buf *out) VMESH_WUR;
/* it: room for SVC_BATCH_MAX items; *n: how many were read. */
vmesh_err svc_batch_request_decode(const uint8_t *p, size_t len, svc_batch_item *it, size_t *n) VMESH_WUR;
/* The item count a body announces (its first head), without reading the
 * items: 0 when it is not an array, SVC_BATCH_MAX + 1 when above the cap.
 * For charging a client's request budget before any work. */
size_t svc_batch_request_count(const uint8_t *p, size_t len);
vmesh_err svc_batch_response_encode(const svc_batch_answer *a, size_t n, vmesh_buf *out) VMESH_WUR;
/* Exactly n answers (the request's items), in order. */
vmesh_err svc_batch_response_decode(const uint8_t *p, size_t len, svc_batch_answer *a, size_t n) VMESH_WUR;

typedef struct {
    vmesh_buf body;
    bool overflow;
} svc_body;
size_t svc_body_write(char *p, size_t size, size_t n, void *sink);

#endif
