/*
 * Internals of the proxy module shared by its files: the parsed
 * configuration, metrics, the refcounted configuration generation and the
 * process-wide proxy object, with the functions each file offers the
 * others. Nothing here is exported from libvmesh.
 *
 * Files, each calling only files listed before it (no file calls one
 * listed after it; the worker reaches connections only through the
 * handlers they register, as nginx's event core does):
 *   metrics.c    counters and histograms, the Prometheus text
 *   recent.c     peers and refusals of the last minutes (the dashboard)
 *   accesslog.c  the access-log file and the JSON record of a connection
 *   gen.c        configuration generations: policies, agent, atls configs
 *   timer.c      the per-worker timer heap            (timer.h)
 *   worker.c     worker threads: epoll loop, listeners, accept (worker.h)
 *   keybound.c   the key-bound SVID from the attested issuer: its thread, /ready
 *   hspool.c     the handshake pool: threads that run handshakes (hspool.h)
 *   forward.c    moving bytes between the two sides    (forward.h)
 *   conn.c       the connection state machine          (conn.h)
 *   dashboard.c  the node dashboard: its page and /dashboard/state
 *   admin.c      the admin HTTP endpoint
 *   proxy.c      the control plane: start, reload, drain, signals
 * config.c (the YAML parser) stands apart: it only fills the types below.
 * Types point at each other through forward declarations, never void *.
 */
#ifndef VMESH_PROXY_INT_H
#define VMESH_PROXY_INT_H

#include "vmesh/agent.h"
#include "vmesh/atls.h"
#include "vmesh/policy.h"
#include "vmesh/proxy.h"

#include "timer.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>

#define PX_MAX_LISTENERS 64
#define PX_MAX_UPSTREAMS 32
#define PX_MAX_WORKERS 64
/* The admin endpoint's own budget of connections (admin.c), apart from
 * limits.max-connections. */
#define PX_ADMIN_BUDGET 64
/* Descriptors the process holds besides connections, workers and the admin
 * endpoint (stdio, logs, control thread, sync and verifier clients). */
#define PX_FD_MISC 64

/* Types of other modules the proxy holds (their headers are included by
 * the files that call them; sync and service are optional in a build). */
struct vmesh_verifier;
struct vmesh_bell_view;
struct vmesh_key;
struct vmesh_sync;
struct vmesh_service_client;
/* Our own, defined in the files that own them. */
struct px_worker;
struct px_conn;
struct px_prov;
struct px_admin;
struct px_recent;
struct px_hspool;

/* ---- event sources ------------------------------------------------------------- */

/* What epoll_event.data.ptr points at, in the workers and in the control
 * thread: the handler of the socket's owner, embedded in the owner (a
 * connection, a listener, an admin request); the handler finds its owner
 * with PX_OWNER. */
typedef struct px_ev px_ev;
typedef void px_ev_fn(px_ev *ev, uint32_t events);
struct px_ev {
    px_ev_fn *fn;
};
#define PX_OWNER(ev, type, member) ((type *)(void *)((char *)(ev)-offsetof(type, member)))
/* Registers fd with ev in the epoll set ep. */
vmesh_err px_ev_add(int ep, int fd, uint32_t events, px_ev *ev) VMESH_WUR;

/* ---- configuration ------------------------------------------------------------ */

typedef struct {
    char *name, *listen, *app, *peer;
    char *min_pattern; /* "attested": identity-only peers refused on this route */
    bool evidence_after_auth; /* evidence: after-client-auth (issue 13.4) */
    /* fresh evidence at 0.5-RTT to clients not yet authenticated: per
     * second (0: no limit) and at once; beyond, it waits for their SVID */
    double fresh_hello_rate; /* may be below 1: 0.1 is one every 10 s */
    uint32_t fresh_hello_burst;
    bool fresh_hello_rate_set;
} px_inbound;
#define PX_FRESH_HELLO_RATE 10u     /* default fresh-hello-rate; burst 2x */
#define PX_FRESH_HELLO_MAX 100000u

typedef struct {
    char *name, *listen, *peer;
    char *min_pattern; /* as px_inbound */
    char *upstreams[PX_MAX_UPSTREAMS];
    size_t nup;
    bool no_resumption; /* resumption: false — every connection a full handshake */
} px_outbound;

/* verifier.passport-issuers[] (D31): a passport issuer whose EAR key is
 * trusted only while its own platform attests under verifier-rv. */
typedef struct {
    char *url, *key, *verifier_rv, *tls_pin;
    int64_t attest_recheck;
} px_issuer;

typedef struct {
    char *name, *url, *key, *schemes;
    char *classes; /* a CoSERV source (url coserv+...): class ids, hex, '+'-joined */
    /* scope: the peers whose appraisal this RVP's reference values count for
     * (trust domains, SPIFFE ID prefixes); unscoped: every peer. */
    bool scoped;
    char **scope_tds, **scope_ids;
    size_t nscope_tds, nscope_ids;
} px_rvp;

/* identity.federation[]: a trust domain we federate with. */
typedef struct {
    char *td, *bundle, *endpoint, *profile, *endpoint_ca, *endpoint_id;
    uint32_t refresh_ms; /* 0: the bundle's refresh hint, else 5 min */
} px_fed;

typedef struct {
    char *peer;
    json_t *overrides; /* policy fields this rule sets (JSON object) */
    /* trusted-verifiers: the verifiers whose passports count for these peers
     * (replacing verifier.trusted-verifiers; e.g. the peer's own domain's) */
    char **tv;
    size_t ntv;
} px_rule;

struct vmesh_proxy_config {
    char *source;
    /* identity */
    char *cert, *key, *bundle;
    /* identity.keybound-issuer (D44): with it, cert/key are the bootstrap
     * SVID (toward the issuer only) and the listeners serve an SVID the
     * issuer made for the agent's in-memory AK (attester.keybound). */
    bool kb_issuer, keybound;
    char *kb_addr, *kb_id;
    int64_t kb_ttl;          /* seconds asked for; 0: the issuer's maximum */
    uint32_t kb_retry_ms;    /* after a failure (and the log interval); 0: 5 s */
    uint32_t kb_timeout_ms;  /* one exchange; 0: 10 s */
    px_fed *feds;
    size_t nfeds;
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
    char **central_replicas;         /* verifier.central.replicas: tried after url (same EAR key) */
    size_t n_central_replicas;
    int64_t central_cache;           /* seconds, 0 default */
    int64_t central_verdict_grace;   /* seconds, 0 default (60): D41 */
    uint32_t central_behind_wait_ms; /* verifier.central.behind-wait, default 3000 (D41) */
    char *central_issuer;            /* expected ear.verifier-id.developer; NULL: not checked */
    /* verifier.{central,passport}.insecure-plain-http: the loud opt-in to an
     * http:// verifier link (D23); otherwise only https:// is accepted. */
    bool central_plain_http, passport_plain_http;
    /* verifier.{central,passport}.verifier-rv / tls-pin / attest-recheck
     * (D31): the verifier's own platform is attested against these
     * reference values before evidence goes to it; its TLS key pinned. */
    char *central_verifier_rv, *central_tls_pin, *passport_verifier_rv, *passport_tls_pin;
    int64_t central_attest_recheck, passport_attest_recheck;
    /* verifier.{central,passport}.attested (D39): attest the verifier even
     * without verifier-rv, under the proxy's own RV snapshot; verifier-rv
     * implies it. */
    bool central_attested, passport_attested;
    bool central_signed_answers; /* D51: never channel-bound central EARs */
    bool central_no_batch;       /* D53: verifier.central.batch: false */
    px_issuer *issuers;
    size_t nissuers;
    /* verifier.issuers-from (D40): "config" (default: passport-issuers
     * only) or "bundle" (also every verifier of the synced bundles'
     * verifier trust sets); issuers_bundle is true for "bundle". */
    char *issuers_from;
    bool issuers_bundle;
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
    uint32_t max_connections; /* 0: derived from RLIMIT_NOFILE (px_max_connections) */
    uint32_t handshake_timeout_ms, connect_timeout_ms, idle_timeout_ms, drain_timeout_ms;
    uint32_t linger_ms;
    size_t buffer_size;
    uint32_t workers;
    /* handshake pool: threads (0: derived, px_hs_threads) and the queue
     * length beyond which workers stop accepting */
    uint32_t hs_threads, hs_queue;
    /* chain-validation cache entries per TLS configuration (D52; 0: off) */
    uint32_t chain_cache;
    /* access log: a file, or (access_log NULL) access_std: 1 stdout, 2 stderr, 0 off */
    char *access_log;
    int access_std;
    int log_level;
    /* reattestation (docs/PROXY.md): offered when the section is present;
     * asked every reattest_every_ms (0: never) and/or at each bell tick
     * within reattest_jitter_ms; a peer is cut after reattest_deadline_ms
     * (0: limits.handshake-timeout). */
    bool reattest, reattest_on_tick;
    uint32_t reattest_every_ms, reattest_deadline_ms, reattest_jitter_ms;
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
    PX_RES_IDLE,        /* idle timeout */
    PX_RES_REAPPRAISAL, /* closed after re-appraisal */
    PX_RES_DRAIN,       /* closed at the end of a drain */
    PX_RES_RESET,       /* a side reset or an I/O error */
    PX_RES_NO_FD,       /* shed at accept: out of file descriptors */
    PX_RES_REATTEST,    /* cut in re-attestation: refused, late, or the peer refused us */
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
    /* peers we refused or cut (handshake, unattested, re-appraisal), one per connection */
    _Atomic uint64_t refusals[2][VMESH_ATLS_R__COUNT + 1]; /* [direction][reason] */
    _Atomic uint64_t reappraisal_closed, reappraisals;
    /* D41: re-appraisals without a verdict (central verifier silent or
     * behind our snapshot; the connection kept), those run in the pool */
    _Atomic uint64_t reappraisal_undecided, reappraisal_pooled;
    _Atomic uint64_t agent_behind_base;
    /* D43: replaced agents' journal replays (same, changed, unreadable,
     * foreign)
     * and full re-appraisals */
    _Atomic uint64_t agent_journal_base[4], agent_full_base;
    _Atomic uint64_t reloads, reload_failures;
    _Atomic uint64_t identity_changes, identity_refused; /* federation.c watcher */
    _Atomic uint64_t admitted_attested, admitted_identity_only, route_refused; /* patterns */
    _Atomic uint64_t bytes[2][2]; /* [dir][0: from the TLS peer, 1: to the TLS peer] */
    _Atomic uint64_t handshakes[2][2]; /* attested handshakes done: [dir][0 full, 1 resumed] */
    _Atomic uint64_t keybound[2][2];   /* key-bound attestations: [dir][0 the peer's, 1 ours] */
    _Atomic uint64_t agent_hits_base, agent_misses_base;
    _Atomic uint64_t agent_made_base, agent_generated_base; /* attester counters of replaced agents */
    _Atomic uint64_t accept_pauses; /* a worker stopped accepting: out of descriptors */
    /* The handshake pool (hspool.c): jobs waiting, jobs running, and how
     * often a worker stopped accepting because too many were waiting. */
    _Atomic int64_t hs_queued, hs_running;
    _Atomic uint64_t hs_backpressure;
    _Atomic uint64_t
        admin_closed[2]; /* admin connections closed by us: [0] evicted, [1] deadline */
    /* reattest.c: requests we sent and rounds the peer passed, by direction;
     * cuts by reason and by whom; request -> answer accepted */
    _Atomic uint64_t rt_requests[2], rt_passed[2];
    _Atomic uint64_t rt_failures[VMESH_ATLS_R__COUNT + 1][2];
    px_hist reattestation;
} px_metrics;

/* A log line that may repeat per connection or per event (an accept
 * error, a refused connection, a failed connect, a failed handshake) is
 * written at most PX_LOG_LINES_PER_SECOND times a second per limiter; the
 * next line that gets through says how many were left out, so that a
 * flood never becomes a log flood. */
#define PX_LOG_LINES_PER_SECOND 5
typedef struct {
    _Atomic int64_t sec;         /* the current second (monotonic) */
    _Atomic uint32_t lines;      /* lines tried in it */
    _Atomic uint64_t suppressed; /* lines left out since the last one written */
} px_ratelog;
/* Logs like vmesh_log when rl's budget allows a line this second, else
 * counts it. */
void px_log_limited(px_ratelog *rl, vmesh_log_level level, const char *fmt, ...) VMESH_PRINTF(3, 4);

/* metrics.c */
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
    struct vmesh_verifier *issuer;           /* local passport issuer, or NULL */
    struct vmesh_service_client *central;    /* passport client, or NULL */
    struct vmesh_service_client *central_rp; /* verifier.central, or NULL */
    /* verifier.central attested (D45): each URL's standing as the link
     * watcher last saw it (0: url, i: replicas[i - 1]): 1 attests, 0 does
     * not, -1 not asked yet. Written by the watcher thread. */
    _Atomic signed char central_url_ok[64];
    /* ... and whether its last readiness probe answered (the probe thread) */
    _Atomic signed char central_url_up[64];
    /* verifier.passport-issuers (D31): one attested link per issuer, and
     * whether its attestation affirmed when this generation was built (its
     * key is in the policies only then). */
    struct vmesh_service_client *issuers;
    struct vmesh_key **issuer_keys;
    _Atomic bool *issuer_ok; /* written by the issuer watcher thread */
    /* verifier.passport attested: the last standing the watcher saw (a
     * change is logged once); starts true */
    _Atomic bool passport_ok;
    bool links_asked; /* the link watcher asked this generation's links once (watcher thread only) */
    size_t nissuers;
    /* verifier.issuers-from: bundle (D40): the trust sets this generation
     * was built from (one per RVP; the bundle issuers' url, platform and
     * name point into them), and each issuer's name for log lines
     * ("central-1 (rvp acme)"; NULL for a configured issuer). */
    struct vmesh_rvp_verifiers *bvs;
    size_t nbvs;
    char **issuer_names;
    bool *issuer_asked; /* the watcher asked it in this generation (its first refusal is logged) */
    char *own_id; /* our SVID's SPIFFE ID, sent with passport requests; NULL: unknown */
    vmesh_policy *policy;
    vmesh_pki_trust *trust; /* identity.federation: own + federated domains, or NULL */
    vmesh_atls_config *in_cfg[PX_MAX_LISTENERS];
    vmesh_atls_config *out_cfg[PX_MAX_LISTENERS];
    px_sessions sessions[PX_MAX_LISTENERS];
    /* resolved addresses: inbound app, outbound upstreams */
    struct sockaddr_storage *app_addr; /* [nin] */
    socklen_t *app_len;
    struct sockaddr_storage *up_addr[PX_MAX_LISTENERS]; /* [nout][nup] */
    socklen_t *up_len[PX_MAX_LISTENERS];
    int64_t cert_not_after;
    /* identity.keybound-issuer: the SVID for this generation's AK, copied
     * from keybound.c's state together with the AK (D44) */
    vmesh_buf kb_chain;
    int64_t kb_not_after;
    struct px_prov *provs; /* [nin + nout]: provider wrappers (metrics) */
    struct vmesh_proxy *proxy;
} px_gen;

/* proxy.c: the agent's rv_for (ctx: the px_gen) when some RVP is scoped. */
struct vmesh_rv_store *px_scoped_rv(void *ctx, const char *peer, char *scope, size_t scope_len);
bool px_rvps_scoped(const vmesh_proxy_config *cfg);

/* gen.c. px_gen_build takes cfg (also on error). */
vmesh_err px_gen_build(struct vmesh_proxy *p, vmesh_proxy_config *cfg, px_gen **out) VMESH_WUR;
px_gen *px_gen_ref(px_gen *g);
void px_gen_unref(px_gen *g);
/* The generation in force, referenced (px_gen_unref when done). */
/* Re-attests the passport issuers when due (D31); reloads when one of them
 * turned trusted or untrusted. Control thread. */
/* The passport-issuer watcher thread (D37): attests the issuers about once
 * a second off the control thread; when one changes trusted <-> untrusted
 * it sets iss_changed; the control thread (100 ms ticks) reloads. */
vmesh_err px_issuers_start(struct vmesh_proxy *p) VMESH_WUR;
/* A new RV snapshot: the watcher asks every attested link now. */
void px_links_kick(struct vmesh_proxy *p);
void px_issuers_stop(struct vmesh_proxy *p);
px_gen *px_current_gen(struct vmesh_proxy *p);

/* ---- the proxy ---------------------------------------------------------------------- */

struct vmesh_proxy {
    char *config_path;
    pthread_mutex_t gen_lock;
    px_gen *gen;
    uint64_t next_gen_id;
    /* process-wide RP state */
    struct vmesh_verifier *verifier;
    struct vmesh_bell_view *bell;
    struct vmesh_key *bell_key;
    struct vmesh_sync *sync;
    vmesh_policy *sync_policy; /* the bundle's policy, or NULL */
    /* Scoped providers (verifier.rvps[].scope): each RVP's own reference
     * values from the last snapshot, and the merged stores per set of RVPs
     * (bit i: rvps[i]) built from them, dropped at every snapshot. */
    pthread_mutex_t scope_lock;
    struct vmesh_rv_store **rvp_rv; /* nrvp_rv entries */
    size_t nrvp_rv;
    /* The verifier trust sets (D40) of the last snapshot, one per RVP
     * (under scope_lock), and per RVP an engine holding that RVP's own
     * reference values: a bundle's verifier is judged by them alone. */
    struct vmesh_rvp_verifiers *rvp_vs;
    struct vmesh_verifier **rvp_eng;
    /* The last verifiers that left a trust set (or changed key), under
     * scope_lock: their keys go into the policies as refused verifiers, so
     * a passport they signed is refused naming them (a ring). */
    struct {
        struct vmesh_key *key;
        char why[200];
    } left[16];
    size_t nleft;
    struct {
        uint64_t mask;
        struct vmesh_rv_store *rv;
    } scope_cache[16];
    size_t nscope_cache;
    pthread_mutex_t reload_lock;
    _Atomic int64_t snapshot_at; /* wall time of the installed RV snapshot; 0: none */
    _Atomic bool have_snapshot;
    /* listeners: addresses fixed at start */
    size_t nin, nout;
    struct px_worker *workers[PX_MAX_WORKERS];
    size_t nworkers;
    _Atomic uint64_t rr[PX_MAX_LISTENERS]; /* outbound round robin */
    _Atomic bool draining, force_close, ready;
    long long drain_forced; /* connections the drain timeout closed (control thread) */
    /* verifier.central reachability (gen.c px_central_call): every request's
     * outcome, for /metrics and the loss / recovery log lines */
    struct {
        _Atomic uint64_t requests, failures, consecutive;
        _Atomic int64_t last_success_at; /* unix seconds; 0: none yet */
        /* the reachability probe (gen.c px_cprobe_*): /ready follows it
         * alone, so a peer whose evidence the verifier rejects cannot make
         * the node look not-ready; error text under probe_lock */
        _Atomic bool probe_down;
        char probe_url[256], probe_err[384];
        pthread_t probe_thread;
        pthread_mutex_t probe_lock;
        pthread_cond_t probe_cond;
        bool probe_stop, probe_running;
    } central;
    _Atomic uint64_t reappraise_gen;
    _Atomic uint64_t bell_tick; /* reattest.c: the newest bell tick seen (0: none yet) */
    _Atomic uint64_t bell_tick_due_ns; /* monotonic: attesters bind to it from then */
    struct px_admin *admin;
    struct px_recent *recent; /* recent.c: what the dashboard remembers */
    /* The handshake pool (hspool.h); hs_backlogged: more jobs wait than
     * limits.handshake-queue (workers stop accepting for a moment). */
    struct px_hspool *hs;
    _Atomic bool hs_backlogged;
    int stop_fd; /* eventfd: async-signal-safe stop */
    int access_fd;
    px_metrics m;
    /* File descriptors: the soft RLIMIT_NOFILE after start raised it to
     * the hard limit, and the connection limit in force (limits.max-
     * connections, or derived from nofile). */
    uint64_t nofile;
    _Atomic uint32_t max_conns;
    px_ratelog rl_limit, rl_accept, rl_connect, rl_handshake, rl_reappraisal;
    /* federation.c: identity-file watcher (control thread) and the bundle
     * refresher thread */
    uint64_t watch_sig;
    bool watch_init;
    pthread_t fed_thread;
    pthread_mutex_t fed_lock;
    pthread_cond_t fed_cond;
    bool fed_stop, fed_running;
    /* gen.c: the passport-issuer watcher thread */
    pthread_t iss_thread;
    pthread_mutex_t iss_lock;
    pthread_cond_t iss_cond;
    bool iss_stop, iss_running, iss_kick;
    _Atomic bool iss_changed;
    /* the watcher's first round is done and in force: /ready may say 200
     * (passport issuers are attested off the control thread, also at start) */
    _Atomic bool iss_asked;
    /* keybound.c (D44): the SVID the attested issuer made for our AK, in
     * memory only, and the thread that obtains and renews it */
    struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        vmesh_buf chain;           /* leaf + CA, PEM; empty: none yet */
        vmesh_agent *agent;        /* the agent whose new AK chain certifies (it attested to the
                                    * issuer); each generation's agent takes that AK over */
        int64_t not_after, obtained_at;
        char err[384];             /* the last failure; "" after a success */
        _Atomic bool changed;      /* a new SVID: the control thread reloads */
        _Atomic uint64_t issued, failures;
        pthread_t thread;
        bool stop, running;
    } kb;
};

/* keybound.c: the key-bound SVID (identity.keybound-issuer, D44); gen.c
 * reads p->kb into the listeners' configurations, metrics.c its counters. */
vmesh_err px_kb_start(struct vmesh_proxy *p) VMESH_WUR;
void px_kb_stop(struct vmesh_proxy *p);
/* /ready: false with the cause when key-bound and no valid SVID is in force. */
bool px_kb_ready(struct vmesh_proxy *p, char *why, size_t n);

/* federation.c. px_watch_files: called about once a second from the
 * control thread; reloads when an identity or bundle file changed. */
void px_watch_files(struct vmesh_proxy *p);
/* The refresher thread (only when a federated domain has an endpoint). */
vmesh_err px_fed_start(struct vmesh_proxy *p) VMESH_WUR;
/* gen.c: the central verifier's reachability probe (verifier.central), one
 * GET per verifier.poll-interval over the relying party's client. */
vmesh_err px_cprobe_start(struct vmesh_proxy *p) VMESH_WUR;
void px_cprobe_stop(struct vmesh_proxy *p);
/* /ready: false with the cause in why when the last probe failed. */
bool px_cprobe_ready(struct vmesh_proxy *p, char *why, size_t n);
void px_fed_stop(struct vmesh_proxy *p);

/* proxy.c: raises the soft RLIMIT_NOFILE to the hard one (logs both) and
 * returns the soft limit in force. */
uint64_t px_fd_limit_raise(void);
/* The connection limit for cfg under nofile descriptors: limits.max-
 * connections when set, else two descriptors per proxied connection after
 * the headroom (px_fd_headroom) the process needs besides connections. */
uint32_t px_max_connections(const vmesh_proxy_config *cfg, uint64_t nofile, size_t nworkers);
uint64_t px_fd_headroom(const vmesh_proxy_config *cfg, size_t nworkers);

/* metrics.c: the Prometheus text of /metrics under generation g. */
/* Whether the node can admit peers now (listeners up, not draining, an RV
 * snapshot, a bell tick still valid when a bell is configured); when not,
 * the root cause in why[n] ("no reference-value snapshot yet: rvp acme:
 * manifest refused: ..."). admin.c; /ready, /metrics and the dashboard. */
bool px_ready(struct vmesh_proxy *p, char *why, size_t n);
vmesh_err px_metrics_render(struct vmesh_proxy *p, const px_gen *g, vmesh_buf *out) VMESH_WUR;

/* accesslog.c */

/* What the access log and /peers say about a connection. */
typedef struct {
    int dir;
    const char *listener;
    const char *state;   /* /peers only; NULL in the access log */
    const char *peer_id; /* the verified SPIFFE ID; NULL: not known (yet) */
    const char *remote;  /* the TLS peer's address (inbound: the client; outbound: the upstream) */
    const char *upstream; /* the plaintext side: inbound the app, outbound the upstream named */
    const char *code;    /* the refusal's reason code (vmesh_atls_reason_name); NULL when none */
    int mode;            /* < 0: no attested handshake (yet) */
    vmesh_tier tier;
    const vmesh_tv *tv;
    const char *epochs; /* a JSON object; "" for {} */
    const char *verifier;      /* appraised by (issue 12.4); NULL or "": not known */
    const char *policy_digest; /* appraised under */
    bool resumed;
    uint64_t from_peer, to_peer;
    int64_t attested_at; /* unix seconds of the peer's last accepted attestation; 0: none */
    uint64_t reattested; /* in-band re-attestation rounds it passed */
} px_record;

#define PX_EPOCHS_MAX 96
/* The RVP epochs of v's installed snapshot as a JSON object, at most
 * PX_EPOCHS_MAX - 1 characters ({} when they do not fit). */
void px_epochs_json(struct vmesh_verifier *v, char out[PX_EPOCHS_MAX]);
/* The RV epochs a peer is judged under (px_epochs_json; with scoped
 * providers only those of the RVPs scoped to the peer). */
void px_peer_epochs_json(px_gen *g, const char *peer, char out[PX_EPOCHS_MAX]);

/* recent.c: what the dashboard remembers of ended connections. */
#define PX_RECENT_PEERS 64
#define PX_RECENT_REFUSALS 16
#define PX_RECENT_MINUTES 10
typedef struct px_recent px_recent;
typedef struct {
    bool used;
    int dir;
    char listener[64];
    char peer[256];
    int mode; /* < 0: no attested handshake */
    vmesh_tier tier;
    vmesh_tv tv;
    char epochs[PX_EPOCHS_MAX]; /* admitted under */
    char judged[PX_EPOCHS_MAX]; /* the node's epochs when a re-appraisal closed it, else "" */
    px_result result;           /* how its last connection ended */
    char reason[200];
    int64_t ended; /* wall time */
    uint64_t count;
} px_recent_peer;
typedef struct {
    bool used;
    int dir;
    int64_t at;
    px_result result;
    char listener[64];
    char peer[256];
    char remote[VMESH_NET_ADDR_STR_MAX];
    char code[32]; /* reason code ("" when none) */
    char reason[200];
} px_recent_refusal;
typedef struct {
    px_recent_peer peers[PX_RECENT_PEERS];
    size_t npeers;
    px_recent_refusal refusals[PX_RECENT_REFUSALS]; /* newest first */
    size_t nrefusals;
    uint64_t ended[PX_RES__COUNT]; /* connections ended, by result, in the window */
} px_recent_view;
px_recent *px_recent_new(void);
void px_recent_free(px_recent *r);
/* A connection ended (any thread). judged: the node's epochs when a
 * re-appraisal closed it (NULL otherwise). */
void px_recent_note(px_recent *r, const px_record *rec, px_result res, const char *reason,
                    const char *judged);
/* What ended within the last `window` seconds (the counts in whole minutes). */
void px_recent_copy(px_recent *r, int64_t now, int64_t window, px_recent_view *out);

/* Opens cfg's access log (NULL: off); at a reload the new file takes the
 * old descriptor's number, so workers never see it change. */
vmesh_err px_access_log_open(struct vmesh_proxy *p, const vmesh_proxy_config *cfg) VMESH_WUR;
/* The line of a connection that ended: one write(2) on an O_APPEND
 * descriptor, nothing when the log is off; the dashboard notes it either
 * way (recent.c). */
void px_access_log(struct vmesh_proxy *p, const px_record *r, uint64_t duration_ms,
                   px_result result, const char *reason);
/* The fields a connection's access-log line and /peers entry share, as
 * JSON object members (no braces). */
vmesh_err px_record_json(vmesh_buf *out, const px_record *r) VMESH_WUR;
/* One element of the /peers array (a comma first unless first). */
vmesh_err px_record_peers_json(vmesh_buf *out, const px_record *r, bool first, uint64_t age_ms,
                               size_t worker) VMESH_WUR;

/* admin.c: the admin endpoint. Opened at start (a port conflict is
 * reported there), served from the control thread's epoll set. */
vmesh_err px_admin_open(struct vmesh_proxy *p, const char *addr, struct px_admin **out) VMESH_WUR;
/* Serves a from the control thread's epoll set epfd; its deadlines live on
 * that thread's timer heap. */
vmesh_err px_admin_attach(struct px_admin *a, int epfd, px_timers *timers) VMESH_WUR;
/* Frees the connections closed in the last batch of events (after it). */
void px_admin_reap(struct px_admin *a);
void px_admin_free(struct px_admin *a);

/* dashboard.c: serves GET `path` when it is the dashboard's (its page and
 * assets, /dashboard/state): fills body and *ctype and returns the HTTP
 * status (200, or 500 with an empty body); 0 when path is not its. */
int px_dash_serve(struct vmesh_proxy *p, const char *path, vmesh_buf *body, const char **ctype);
/* The page's files, compiled in (generated from web/ at build time). */
bool px_web_asset(const char *path, const unsigned char **data, size_t *len, const char **ctype);

#endif
