/*
 * Internals of the proxy module shared by its files: the parsed
 * configuration, the refcounted configuration generation, workers,
 * connections and metrics. Nothing here is exported from libvmesh.
 */
#ifndef VMESH_PROXY_INT_H
#define VMESH_PROXY_INT_H

#include "vmesh/agent.h"
#include "vmesh/atls.h"
#include "vmesh/proxy.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define PX_MAX_LISTENERS 64
#define PX_MAX_UPSTREAMS 32
#define PX_MAX_WORKERS 64

/* ---- configuration ------------------------------------------------------------ */

typedef struct {
    char *name, *listen, *app, *peer;
} px_inbound;

typedef struct {
    char *name, *listen, *peer;
    char *upstreams[PX_MAX_UPSTREAMS];
    size_t nup;
} px_outbound;

typedef struct {
    char *name, *url, *key, *schemes;
} px_rvp;

typedef struct {
    char *peer;
    json_t *overrides; /* policy fields this rule sets (JSON object) */
} px_rule;

struct vmesh_proxy_config {
    char *source;
    /* identity */
    char *cert, *key, *bundle;
    /* attester */
    char *platform;
    vmesh_kv *kv;
    size_t nkv;
    unsigned attest_modes;
    int64_t ak_rotate; /* seconds, 0 default */
    /* verifier */
    char **rv_files;
    size_t nrv;
    px_rvp *rvps;
    size_t nrvps;
    uint32_t poll_interval_ms;
    char *state_dir;
    char *bell_url, *bell_file, *bell_key;
    uint32_t bell_refresh_ms;
    char **trusted_verifiers;
    size_t ntv;
    char *passport_local_key, *passport_central;
    char *central_url, *central_key; /* verifier.central: background-check at a central verifier */
    int64_t central_cache; /* seconds, 0 default */
    size_t ar_cache_slots;
    /* policy */
    json_t *policy_doc; /* base policy document (file or inline); NULL: default */
    char *policy_source;
    px_rule *rules;
    size_t nrules;
    /* listeners */
    px_inbound *in;
    size_t nin;
    px_outbound *out;
    size_t nout;
    char *admin_listen;
    /* limits */
    uint32_t max_connections;
    uint32_t handshake_timeout_ms, connect_timeout_ms, idle_timeout_ms, drain_timeout_ms;
    uint32_t linger_ms;
    size_t buffer_size;
    uint32_t workers;
    /* access log: NULL off, "-" stderr, else a file */
    char *access_log;
    int log_level;
};

/* ---- metrics ------------------------------------------------------------------ */

enum { PX_DIR_IN = 0, PX_DIR_OUT = 1 };

typedef enum {
    PX_RES_OK = 0,       /* proxied and closed normally */
    PX_RES_LIMIT,        /* refused: connection limit */
    PX_RES_TLS_FAILED,   /* TLS handshake failed */
    PX_RES_REFUSED,      /* attestation refused by us */
    PX_RES_PEER_REFUSED, /* attestation refused by the peer */
    PX_RES_TIMEOUT,      /* handshake / attestation timeout */
    PX_RES_CONNECT_FAILED,
    PX_RES_IDLE,         /* idle timeout */
    PX_RES_REAPPRAISAL,  /* closed after re-appraisal */
    PX_RES_DRAIN,        /* closed at the end of a drain */
    PX_RES_RESET,        /* a side reset or an I/O error */
    PX_RES__COUNT
} px_result;

#define PX_HIST_BUCKETS 14
typedef struct {
    _Atomic uint64_t b[PX_HIST_BUCKETS + 1]; /* last: +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} px_hist;

typedef struct {
    _Atomic uint64_t conns[2][PX_RES__COUNT];
    _Atomic int64_t active[2];
    _Atomic int64_t total_active;
    px_hist handshake, attestation;
    _Atomic uint64_t failures[VMESH_ATLS_R__COUNT + 1][2]; /* [reason][by peer] */
    _Atomic uint64_t reappraisal_closed, reappraisals;
    _Atomic uint64_t reloads, reload_failures;
    _Atomic uint64_t bytes[2][2]; /* [dir][0: from the TLS peer, 1: to the TLS peer] */
    _Atomic uint64_t agent_hits_base, agent_misses_base;
} px_metrics;

const char *px_result_name(px_result r);
void px_hist_observe(px_hist *h, uint64_t ns);

/* ---- configuration generation --------------------------------------------------- */

typedef struct {
    pthread_mutex_t lock;
    vmesh_atls_session *sess[PX_MAX_UPSTREAMS];
} px_sessions;

typedef struct px_gen {
    _Atomic int refs;
    uint64_t id;
    vmesh_proxy_config *cfg;
    vmesh_agent *agent;
    void *issuer; /* vmesh_verifier * for local passports */
    void *central; /* passport client */
    void *central_rp; /* vmesh_service_client * for verifier.central */
    vmesh_policy *policy;
    vmesh_atls_config *in_cfg[PX_MAX_LISTENERS];
    vmesh_atls_config *out_cfg[PX_MAX_LISTENERS];
    px_sessions sessions[PX_MAX_LISTENERS];
    /* resolved addresses: inbound app, outbound upstreams */
    struct sockaddr_storage *app_addr;      /* [nin] */
    unsigned *app_len;
    struct sockaddr_storage *up_addr[PX_MAX_LISTENERS]; /* [nout][nup] */
    unsigned *up_len[PX_MAX_LISTENERS];
    int64_t cert_not_after;
    struct px_prov *provs; /* [nin + nout]: provider wrappers (metrics) */
    struct vmesh_proxy *proxy;
} px_gen;

px_gen *px_gen_ref(px_gen *g);
void px_gen_unref(px_gen *g);

/* ---- the proxy ---------------------------------------------------------------------- */

struct px_worker;

struct vmesh_proxy {
    char *config_path;
    pthread_mutex_t gen_lock;
    px_gen *gen;
    uint64_t next_gen_id;
    /* process-wide RP state */
    void *verifier;  /* vmesh_verifier * */
    void *bell;      /* vmesh_bell_view * */
    void *bell_key;  /* vmesh_key * */
    void *sync;      /* vmesh_sync * */
    void *sync_policy; /* vmesh_policy * from the bundle, or NULL */
    pthread_mutex_t reload_lock;
    vmesh_err ready_err;
    _Atomic int64_t snapshot_at; /* wall time of the installed RV snapshot; 0: none */
    _Atomic bool have_snapshot;
    /* listeners: addresses fixed at start */
    size_t nin, nout;
    struct px_worker *workers[PX_MAX_WORKERS];
    size_t nworkers;
    _Atomic uint64_t rr[PX_MAX_LISTENERS]; /* outbound round robin */
    _Atomic bool draining, force_close, ready;
    _Atomic uint64_t reappraise_gen;
    int admin_fd;
    int stop_fd; /* eventfd: async-signal-safe stop */
    int access_fd;
    px_metrics m;
    _Atomic uint64_t log_refused_at;
};

/* conn.c: workers */
vmesh_err px_workers_start(struct vmesh_proxy *p) VMESH_WUR;
vmesh_err px_workers_open(struct vmesh_proxy *p, const vmesh_proxy_config *cfg) VMESH_WUR;
void px_workers_wake(struct vmesh_proxy *p);
void px_workers_join(struct vmesh_proxy *p);
void px_workers_free(struct vmesh_proxy *p);
size_t px_workers_alive(struct vmesh_proxy *p);
/* Appends the /peers JSON array of open connections. */
vmesh_err px_workers_peers_json(struct vmesh_proxy *p, vmesh_buf *out) VMESH_WUR;

/* admin.c */
vmesh_err px_metrics_render(struct vmesh_proxy *p, vmesh_buf *out) VMESH_WUR;
vmesh_err px_admin_open(const char *addr, int *fd) VMESH_WUR;
void px_admin_accept(struct vmesh_proxy *p, int epfd);
void px_admin_event(struct vmesh_proxy *p, void *conn, uint32_t events);
void px_admin_close_all(void);

/* proxy.c */
px_gen *px_current_gen(struct vmesh_proxy *p);
void px_access_log(struct vmesh_proxy *p, const char *line, size_t n);

#endif
