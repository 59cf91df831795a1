/*
 * Internals of the service module shared by the handler (pure) and the
 * libmicrohttpd glue. Holds the session key: never log or print it.
 */
#ifndef VMESH_SERVICE_INT_H
#define VMESH_SERVICE_INT_H

#include "vmesh/service.h"

#include <pthread.h>
#include <stdatomic.h>

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
    char *well_known;     /* the discovery document, built once */
    size_t well_known_len;
    char *accept_json;    /* ["mt", ...] */
    char *accept_header;  /* mt, mt, ... (415) */
    /* DELETE: a per-replica list of revoked session ids until they expire. */
    pthread_mutex_t revoke_lock;
    revoked_entry revoked[REVOKE_SLOTS];
    /* HTTP */
    char *listen;
    unsigned threads, max_connections, conn_timeout;
    size_t max_body;
    void *daemon; /* struct MHD_Daemon * */
    uint16_t port;
    _Atomic uint64_t n_requests, n_sessions, n_verifications, n_problems, n_revoked;
};

/* Builds a problem+json response (RFC 9457 §3: type, title, status, detail). */
vmesh_err vmesh_service_problem(vmesh_service_response *rs, unsigned status, const char *fmt, ...)
    VMESH_PRINTF(3, 4) VMESH_WUR;

#endif
