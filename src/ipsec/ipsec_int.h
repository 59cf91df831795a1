/*
 * Internals of the ipsec module shared by its files: the gateway, its
 * peers and their state, the charon adapter (charon.c) and the admin
 * endpoint (admin.c). Nothing here is exported from libvmesh.
 */
#ifndef VMESH_IPSEC_INT_H
#define VMESH_IPSEC_INT_H

#include "vmesh/agent.h"
#include "vmesh/ipsec.h"
#include "vmesh/vici.h"

#include <pthread.h>
#include <stdatomic.h>

#define IX_CONN_PREFIX "vmesh-"
#define IX_CHILD_NAME "net"
#define IX_MAX_CERTS 16

/* ---- peers ---------------------------------------------------------------------------------- */

typedef enum {
    IX_DOWN = 0,  /* no credential in charon */
    IX_INSTALLED, /* credential and connection loaded, no IKE SA yet */
    IX_UP,        /* an IKE SA with an installed CHILD_SA */
    IX_CUT,       /* refused or revoked: nothing in charon, retry later */
} ix_state;

typedef enum {
    IX_CUT_REAPPRAISAL = 0, /* a new RV snapshot or policy no longer admits the peer */
    IX_CUT_REATTESTATION,   /* the re-attestation at an epoch change was refused */
    IX_CUT_EPOCH_EXPIRED,   /* the credential's epoch is neither the current nor the previous one */
    IX_CUT_SA_LOST,         /* the IKE SA went away (the peer deleted it, DPD) */
    IX_CUT_SETUP_FAILED,    /* installed but no SA came up in time */
    IX_CUT_SHUTDOWN,
    IX_CUT__COUNT
} ix_cut_reason;

/* deferred: the peer has not reached our epoch yet (bells are polled
 * independently); tried again within a second */
typedef enum {
    IX_ATT_OK = 0,
    IX_ATT_REFUSED,
    IX_ATT_PEER_REFUSED,
    IX_ATT_ERROR,
    IX_ATT_DEFERRED,
    IX_ATT__COUNT
} ix_att_result;

struct vmesh_ipsec;

typedef struct ix_peer {
    vmesh_ipsec_peer spec;
    struct vmesh_ipsec *g;
    bool initiator; /* spec.connect given: we dial, we initiate IKE */
    char conn_name[VMESH_IPSEC_NAME_MAX + 8];
    char local_id[VMESH_IPSEC_ID_MAX + 8]; /* "{201}:spiffe://..." */
    char remote_id[VMESH_IPSEC_ID_MAX + 8];
    vmesh_atls_config *tls; /* initiator: client config expecting spec.id */

    pthread_mutex_t lock; /* everything below */
    ix_state st;
    uint64_t epoch; /* of the installed credential */
    bool have_result;
    vmesh_atls_peer_result result; /* the appraisal that installed it (for re-appraisal) */
    uint64_t installed_ns, up_ns, attest_started_ns;
    uint64_t cred_ns;           /* when the current credential was installed (set-up or re-key) */
    uint64_t next_attempt_ns;   /* initiator: when to (re)attest */
    unsigned transient_retries; /* quick retries after an epoch mismatch */
    uint64_t reappraise_seen;
    bool rekeying; /* a make-before-break re-authentication runs */
    uint64_t rekey_started_ns;
    uint64_t old_ike_uid; /* the IKE SA being replaced */
    char reason[512];     /* last refusal or cut */
    char mode[16], tier[24];
    /* metrics */
    uint64_t attestations[IX_ATT__COUNT];
    uint64_t installs, rekeys, rekey_failures, cuts[IX_CUT__COUNT];
    double setup_s, rekey_s, cut_s; /* the last ones; -1: none yet */

    pthread_t thread;
    bool thread_started;
    bool vici_down; /* logged that charon is unreachable */
} ix_peer;

/* ---- the gateway ---------------------------------------------------------------------------- */

struct vmesh_ipsec {
    vmesh_ipsec_config cfg; /* strings copied below */
    char *vici_uri;
    char *ike_proposals, *esp_proposals;
    uint32_t deadline_ms, monitor_ms;
    int retry_s, poll_s;
    /* our SVID (DER) and the bundle's CA certificates for charon; with the
     * peers' and the server's TLS configs, swapped by the identity watcher
     * under id_lock (docs/IPSEC.md "SVID rotation") */
    pthread_mutex_t id_lock;
    vmesh_atls_config **retired; /* configs replaced while connections may use them; freed at the end */
    size_t nretired;
    uint64_t id_sig;             /* the files' stat signature last looked at */
    bool id_sig_set;
    _Atomic uint64_t id_changes, id_refused;
    vmesh_buf leaf_der;
    vmesh_buf ca_der[IX_MAX_CERTS];
    size_t n_ca;
    char *our_id; /* our SPIFFE ID */
    /* relying party */
    void *verifier; /* vmesh_verifier * */
    void *bell;     /* vmesh_bell_view * */
    void *bell_key; /* vmesh_key * */
    void *sync;     /* vmesh_sync * */
    vmesh_policy *policy;
    vmesh_agent *agent;
    vmesh_atls_config *server_tls;
    _Atomic uint64_t reappraise_gen;
    _Atomic bool have_snapshot;
    _Atomic uint64_t snapshots;
    _Atomic uint64_t manual_epoch; /* without a bell: our re-key generation */
    /* peers */
    ix_peer *peers;
    size_t npeers;
    /* listener, accept threads */
    int listen_fd;
    uint16_t listen_port;
    pthread_t accept_thread;
    bool accept_started;
    _Atomic int handlers; /* accepted connections being served */
    _Atomic uint64_t accepted, accept_refused_busy, unknown_peers;
    /* lifecycle */
    _Atomic bool stopping;
    int stop_fd; /* eventfd */
    pthread_mutex_t wake_lock;
    pthread_cond_t wake;
    /* operations */
    void *admin; /* struct MHD_Daemon * */
    int access_fd;
    int keylog_fd;
    pthread_mutex_t log_lock;
};

/* ---- charon.c: what vmesh ipsec asks charon through vici ------------------------------------ */

typedef struct {
    unsigned ike_established; /* IKE SAs of this connection in state ESTABLISHED */
    unsigned ike_total;
    unsigned child_installed; /* CHILD_SAs in state INSTALLED */
    uint64_t newest_ike_uid;  /* highest unique id of an established IKE SA */
    uint64_t oldest_ike_uid;
} ix_sas;

vmesh_err ix_charon_load_key(vmesh_vici *v, const char *key_path) VMESH_WUR;
vmesh_err ix_charon_load_conn(vmesh_vici *v, const struct vmesh_ipsec *g,
                              const ix_peer *p) VMESH_WUR;
vmesh_err ix_charon_load_psk(vmesh_vici *v, const ix_peer *p,
                             const uint8_t psk[VMESH_IPSEC_PSK_LEN]) VMESH_WUR;
/* Unloads the PSK and the connection; missing ones are fine. */
vmesh_err ix_charon_unload(vmesh_vici *v, const ix_peer *p) VMESH_WUR;
/* Terminates every IKE SA of the connection (DELETE sent, at most
 * timeout_ms waited for the answer). */
vmesh_err ix_charon_terminate(vmesh_vici *v, const ix_peer *p, int timeout_ms) VMESH_WUR;
vmesh_err ix_charon_initiate(vmesh_vici *v, const ix_peer *p, int timeout_ms) VMESH_WUR;
/* Make-before-break re-authentication of the IKE SA (charon.make_before_break = yes). */
vmesh_err ix_charon_reauth(vmesh_vici *v, const ix_peer *p, uint64_t ike_uid) VMESH_WUR;
vmesh_err ix_charon_sas(vmesh_vici *v, const ix_peer *p, ix_sas *out) VMESH_WUR;
/* Removes vmesh-* connections and keys an earlier instance left behind. */
vmesh_err ix_charon_cleanup(vmesh_vici *v, unsigned *removed) VMESH_WUR;

/* ---- admin.c -------------------------------------------------------------------------------- */

vmesh_err ix_admin_start(struct vmesh_ipsec *g, const char *listen) VMESH_WUR;
void ix_admin_stop(struct vmesh_ipsec *g);
vmesh_err ix_metrics_render(struct vmesh_ipsec *g, vmesh_buf *out) VMESH_WUR;
vmesh_err ix_peers_json(struct vmesh_ipsec *g, vmesh_buf *out) VMESH_WUR;

/* ---- gateway.c ------------------------------------------------------------------------------ */

const char *ix_state_name(ix_state s);
const char *ix_cut_name(ix_cut_reason r);
const char *ix_att_name(ix_att_result r);
/* One JSON line in the access log: event, peer and extra fields (a jansson object, stolen). */
void ix_access_log(struct vmesh_ipsec *g, const ix_peer *p, const char *event, void *fields);

#endif
