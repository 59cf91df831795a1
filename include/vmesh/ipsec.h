/*
 * vmesh ipsec: attested IPsec between sites (docs/IPSEC.md). For each
 * configured peer gateway, `vmesh ipsec` runs the attested channel (atls +
 * agent) over the underlay, derives the IKE pre-shared key for this peer
 * pair and epoch from that session's TLS exporter, installs it into
 * strongSwan's charon through vici next to the gateway's SVID, and brings
 * the CHILD_SA up. IKEv2 then authenticates in two rounds (RFC 4739): the
 * SVID certificate and the attestation-derived PSK. Each epoch (bell tick)
 * the gateways attest again and re-authenticate make-before-break; a peer
 * whose re-appraisal fails (new reference values, new policy) or whose
 * re-attestation is refused loses its IKE SA and its credential within one
 * poll interval.
 *
 * It must never install a credential for a peer that has not been attested
 * and accepted in this very session, never derive one from anything but the
 * exporter of an attested session, never write one anywhere but charon
 * (except the explicit test-only key log), and never leave a credential in
 * charon for a peer that no longer passes policy.
 */
#ifndef VMESH_IPSEC_H
#define VMESH_IPSEC_H

#include "vmesh/atls.h"
#include "vmesh/core.h"
#include "vmesh/evidence.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* ---- the credential (docs/IPSEC.md "Binding") --------------------------------
 * psk = TLS-Exporter("EXPERIMENTAL-vmesh-ipsec", context, 32) with
 * context = "vmesh ipsec v1" || SHA-256(SPKI of the initiator's (TLS
 * client's) leaf) || SHA-256(SPKI of the responder's (TLS server's) leaf)
 * || epoch (8 bytes, big endian). */
#define VMESH_IPSEC_EXPORTER_LABEL "EXPERIMENTAL-vmesh-ipsec"
#define VMESH_IPSEC_CONTEXT_LABEL "vmesh ipsec v1"
#define VMESH_IPSEC_CONTEXT_LEN (sizeof(VMESH_IPSEC_CONTEXT_LABEL) - 1 + 32 + 32 + 8)
#define VMESH_IPSEC_PSK_LEN 32

/* The exporter context (pure). */
void vmesh_ipsec_context(const uint8_t *client_spki, size_t client_spki_len,
                         const uint8_t *server_spki, size_t server_spki_len, uint64_t epoch,
                         uint8_t out[VMESH_IPSEC_CONTEXT_LEN]);
/* The PSK of an established attested connection (either side computes the
 * same bytes). VMESH_ERR_STATE without the attested channel or before the
 * peer was accepted; VMESH_ERR_POLICY when the peer was admitted without
 * attesting (mode none). */
vmesh_err vmesh_ipsec_derive(vmesh_atls_conn *c, uint64_t epoch,
                             uint8_t psk[VMESH_IPSEC_PSK_LEN]) VMESH_WUR;

/* ---- the control message -----------------------------------------------------
 * After the attested handshake the initiator asks the responder to install
 * the credential of this session for an epoch, and the responder answers:
 *   "VMIP" version:u8=1 type:u8 epoch:u64 text-length:u16 text
 * type 1 install (no text), 2 installed (no text), 3 refused (a reason of
 * 1..256 bytes of printable ASCII). */
#define VMESH_IPSEC_MSG_TEXT_MAX 256
#define VMESH_IPSEC_MSG_HEADER 16
#define VMESH_IPSEC_MSG_MAX (VMESH_IPSEC_MSG_HEADER + VMESH_IPSEC_MSG_TEXT_MAX)

typedef enum {
    VMESH_IPSEC_MSG_INSTALL = 1,
    VMESH_IPSEC_MSG_INSTALLED = 2,
    VMESH_IPSEC_MSG_REFUSED = 3,
} vmesh_ipsec_msg_type;

typedef struct {
    vmesh_ipsec_msg_type type;
    uint64_t epoch;
    char text[VMESH_IPSEC_MSG_TEXT_MAX + 1];
} vmesh_ipsec_msg;

/* Appends the encoding (text is cut to 256 bytes, non-printable bytes
 * replaced by '?'). */
vmesh_err vmesh_ipsec_msg_encode(const vmesh_ipsec_msg *m, vmesh_buf *out) VMESH_WUR;
/* Decodes from the start of p: VMESH_ERR_WANT_READ when more bytes are
 * needed (nothing consumed), else exactly one message (*used bytes) or an
 * error naming the problem (magic, version, type, text length or bytes). */
vmesh_err vmesh_ipsec_msg_decode(const uint8_t *p, size_t n, vmesh_ipsec_msg *m,
                                 size_t *used) VMESH_WUR;

/* ---- peers ---------------------------------------------------------------------------------- */

#define VMESH_IPSEC_MAX_PEERS 64
#define VMESH_IPSEC_MAX_TS 8
#define VMESH_IPSEC_NAME_MAX 32
#define VMESH_IPSEC_ID_MAX 2048
#define VMESH_IPSEC_ADDR_MAX VMESH_NET_ADDR_MAX
#define VMESH_IPSEC_TS_MAX 50 /* "xxxx:...:xxxx/128" */

/* One peer gateway. */
typedef struct {
    char name[VMESH_IPSEC_NAME_MAX + 1];    /* [A-Za-z0-9_-]; charon names "vmesh-<name>" */
    char id[VMESH_IPSEC_ID_MAX + 1];        /* its SPIFFE ID (SVID URI SAN) */
    char connect[VMESH_IPSEC_ADDR_MAX + 1]; /* HOST:PORT (vmesh_net_parse) of its vmesh ipsec
                                             * listener: we initiate; "" when it dials us */
    char local_addr[64], remote_addr[64];   /* IKE endpoints (IP addresses); local ""
                                             * = any; remote "" = the host of connect */
    char local_ts[VMESH_IPSEC_MAX_TS][VMESH_IPSEC_TS_MAX + 1]; /* our subnets (CIDR) */
    size_t n_local_ts;
    char remote_ts[VMESH_IPSEC_MAX_TS][VMESH_IPSEC_TS_MAX + 1]; /* its subnets */
    size_t n_remote_ts;
} vmesh_ipsec_peer;

/* Parses a --peer spec: comma-separated KEY=VALUE, keys name, id,
 * connect, local-addr, remote-addr, local-ts, remote-ts (the last two
 * repeatable). name, id, one local-ts and one remote-ts are required; the
 * id must be a SPIFFE ID, addresses IP literals, subnets CIDR. */
vmesh_err vmesh_ipsec_peer_parse(const char *spec, vmesh_ipsec_peer *out) VMESH_WUR;

/* ---- the gateway daemon --------------------------------------------------------------------- */

typedef struct {
    /* identity: our X509-SVID chain (leaf first), its key, the trust bundle */
    const char *cert, *key, *bundle;
    /* attester (our platform); platform NULL: we do not attest */
    const char *platform;
    const vmesh_kv *platform_cfg;
    size_t n_platform_cfg;
    unsigned attest_modes;     /* VMESH_ATLS_MODE_BIT mask; 0: every mode we can */
    int64_t ak_rotate_seconds; /* 0: the agent's default */
    /* relying party: reference values from files and/or RVPs (sync) */
    const char *const *rv_files;
    size_t n_rv_files;
    const char *const *rvps; /* vmesh_sync_add_rvp_spec specs */
    size_t n_rvps;
    const char *state_dir; /* sync state; NULL: "vmesh-ipsec-state" */
    int poll_interval;     /* seconds between RVP polls; 0: 30 */
    const char *bell_key;  /* the epoch bell's public key; NULL: no bell */
    const char *bell_file; /* bell.cwt read every second, or ... */
    const char *bell_url;  /* ... fetched with the bundles (NULL with rvps: <first RVP>/bell.cwt) */
    const char *policy_file;              /* RP policy; NULL: the strict default */
    const char *const *trusted_verifiers; /* passport EAR keys */
    size_t n_trusted_verifiers;
    /* charon and the peers */
    const char *vici;   /* NULL: unix:///var/run/charon.vici */
    const char *listen; /* HOST:PORT for peers that dial us; NULL: none */
    const vmesh_ipsec_peer *peers;
    size_t n_peers;
    const char *ike_proposals; /* NULL: "aes256gcm16-prfsha256-ecp256" */
    const char *esp_proposals; /* NULL: "aes256gcm16" */
    int retry_seconds;         /* after a refusal or failure; 0: the poll interval */
    int rekey_seconds;         /* without a bell: re-attest and re-key this often; 0: never */
    uint32_t deadline_ms;      /* attested handshake + control exchange; 0: 10000 */
    uint32_t monitor_ms;       /* how often charon's SAs are checked; 0: 250 */
    /* operations */
    const char *admin_listen; /* HOST:PORT: /ready, /metrics, /peers; NULL: none */
    const char *access_log;   /* JSON lines; "-" stderr; NULL: none */
    const char *keylog;       /* TESTING ONLY: append every derived PSK here */
} vmesh_ipsec_config;

typedef struct vmesh_ipsec vmesh_ipsec;

/* Blocks SIGHUP, SIGTERM and SIGINT in the calling thread (every thread
 * it starts inherits that; vmesh_ipsec_run takes them through a signalfd)
 * and ignores SIGPIPE. Builds the agent, the local verifier (RV files, sync client, bell), the
 * attested-channel configurations; connects to charon, loads our SVID key
 * and removes what an earlier instance may have left (connections and
 * keys named vmesh-*); opens the listener and the admin endpoint. */
vmesh_err vmesh_ipsec_new(const vmesh_ipsec_config *cfg, vmesh_ipsec **out) VMESH_WUR;
/* Runs until vmesh_ipsec_stop, SIGTERM or SIGINT (SIGHUP reloads); call it
 * from the thread that called vmesh_ipsec_new. On the way out every credential and SA it installed
 * is removed from charon. */
vmesh_err vmesh_ipsec_run(vmesh_ipsec *g) VMESH_WUR;
/* Async-signal-safe. */
void vmesh_ipsec_stop(vmesh_ipsec *g);
/* Reloads the RV files and the policy file (what SIGHUP does) and
 * re-appraises every peer; on error the previous ones stay in force. Not
 * async-signal-safe: call it from the thread that runs the signal loop. */
vmesh_err vmesh_ipsec_reload(vmesh_ipsec *g) VMESH_WUR;
void vmesh_ipsec_free(vmesh_ipsec *g);
/* The listener's port (for ":0"), 0 without one. */
uint16_t vmesh_ipsec_listen_port(const vmesh_ipsec *g);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
