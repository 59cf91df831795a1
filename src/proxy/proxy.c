/*
 * The proxy's control plane: the process-wide relying-party state (local
 * verifier with its RV snapshot, epoch bell, bundle sync client), start,
 * SIGHUP reload (a new generation, gen.c, swapped in whole) with
 * re-appraisal of open connections, and the control thread (signals, the
 * admin endpoint, bell refresh, the drain deadline). It must never install
 * a half-built generation: a reload that fails leaves the previous one in
 * force.
 */
#define _GNU_SOURCE
#include "conn.h"
#include "hspool.h"
#include "reattest.h"

#include "vmesh/rv.h"
#include "vmesh/pki.h"
#include "vmesh/rvp.h"
#include "vmesh/verifier.h"
#ifdef VMESH_HAVE_SYNC
#include "vmesh/sync.h"
#endif
#ifdef VMESH_HAVE_SERVICE
#include "vmesh/service.h"
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* ---- reference values ---------------------------------------------------------------------- */

static void install_rv(struct vmesh_proxy *p, vmesh_rv_store *rv)
{
    px_gen *g;

    vmesh_verifier_set_rv(p->verifier, rv);
    g = p->gen ? px_current_gen(p) : NULL;
    if (g && g->issuer)
        vmesh_verifier_set_rv(g->issuer, rv);
    px_gen_unref(g);
    atomic_store(&p->snapshot_at, vmesh_time_now());
    atomic_store(&p->have_snapshot, true);
    px_links_kick(p); /* attested verifier links judged by the snapshot re-attest now (D39) */
}

static vmesh_err load_rv_files(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *rv = NULL;

    if (cfg->nrv == 0)
        return VMESH_OK;
    VMESH_GUARD(vmesh_rv_store_new(&rv));
    for (size_t i = 0; i < cfg->nrv; i++) {
        rc = vmesh_verifier_load_rv_file(rv, cfg->rv_files[i], NULL);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "verifier.rv-files[%zu]", i);
            goto out;
        }
    }
    vmesh_rv_store_freeze(rv);
    install_rv(p, rv);
out:
    vmesh_rv_store_free(rv);
    return rc;
}

static void request_reappraisal(struct vmesh_proxy *p)
{
    atomic_fetch_add(&p->reappraise_gen, 1);
    px_workers_wake(p);
}

/* ---- scoped providers (docs/FEDERATION.md "Scoped providers") ---------------------- */

bool px_rvps_scoped(const vmesh_proxy_config *cfg)
{
    for (size_t i = 0; i < cfg->nrvps; i++)
        if (cfg->rvps[i].scoped)
            return true;
    return false;
}

static void scope_cache_drop(struct vmesh_proxy *p)
{
    for (size_t i = 0; i < p->nscope_cache; i++)
        vmesh_rv_store_free(p->scope_cache[i].rv);
    p->nscope_cache = 0;
}

/* The entry of RVP r's scope that covers the peer ("unscoped": every peer),
 * NULL when none does. */
static const char *scope_covers(const px_rvp *r, const char *peer)
{
    const char *hit;

    if (!r->scoped)
        return "unscoped";
    hit = vmesh_pki_scope_match(r->scope_tds, r->nscope_tds, peer);
    return hit ? hit : vmesh_pki_scope_match(r->scope_ids, r->nscope_ids, peer);
}

/* The trust domain of a SPIFFE ID (empty when it is none). */
static const char *trust_domain_of(const char *peer, size_t *len)
{
    const char *td, *e;

    *len = 0;
    if (peer == NULL || strncmp(peer, "spiffe://", 9) != 0)
        return "";
    td = peer + 9;
    e = strchr(td, '/');
    *len = e ? (size_t)(e - td) : strlen(td);
    return td;
}

vmesh_rv_store *px_scoped_rv(void *ctx, const char *peer, char *scope, size_t scope_len)
{
    px_gen *g = ctx;
    struct vmesh_proxy *p = g->proxy;
    const vmesh_proxy_config *cfg = g->cfg;
    const char *td;
    size_t tdlen = 0, off = 0;
    uint64_t mask = 0;
    vmesh_rv_store *st = NULL, *snap;

    if (peer == NULL)
        peer = "";
    td = trust_domain_of(peer, &tdlen);
    /* "only the reference values of RVP y (scope y.example) count for this
     * peer": prepended to a refusal's reason, so it survives truncation. */
    for (size_t i = 0; i < cfg->nrvps && i < 64; i++) {
        const char *hit = scope_covers(&cfg->rvps[i], peer);
        if (hit == NULL)
            continue;
        mask |= (uint64_t)1 << i;
        if (off < scope_len)
            off += (size_t)snprintf(scope + off, scope_len - off, "%sRVP %.40s (scope %.80s)",
                                    off ? ", " : "only the reference values of ",
                                    cfg->rvps[i].name ? cfg->rvps[i].name : cfg->rvps[i].url, hit);
    }
    if (mask == 0) {
        snprintf(scope, scope_len, "no reference-value provider is scoped to trust domain %.*s (peer %.120s)",
                 (int)(tdlen > 60 ? 60 : tdlen), td, peer);
        return NULL;
    }
    if (off < scope_len)
        snprintf(scope + off, scope_len - off, " count for this peer");
    pthread_mutex_lock(&p->scope_lock);
    for (size_t i = 0; i < p->nscope_cache && st == NULL; i++)
        if (p->scope_cache[i].mask == mask)
            st = vmesh_rv_store_ref(p->scope_cache[i].rv);
    if (st == NULL && vmesh_rv_store_new(&st) == VMESH_OK) {
        bool ok = true;
        for (size_t i = 0; i < p->nrvp_rv && i < 64 && ok; i++)
            if ((mask >> i & 1) && p->rvp_rv[i] != NULL)
                ok = vmesh_rv_store_merge(st, p->rvp_rv[i]) == VMESH_OK;
        snap = vmesh_verifier_rv(p->verifier);
        if (ok && snap != NULL && vmesh_rv_store_is_stale(snap))
            ok = vmesh_rv_store_set_stale(st, true) == VMESH_OK;
        vmesh_rv_store_free(snap);
        if (!ok) {
            vmesh_log(VMESH_LOG_WARN, "proxy: scoped reference values: %s", vmesh_err_detail());
            vmesh_rv_store_free(st);
            st = NULL;
        } else {
            vmesh_rv_store_freeze(st);
            if (p->nscope_cache == sizeof(p->scope_cache) / sizeof(p->scope_cache[0]))
                scope_cache_drop(p);
            p->scope_cache[p->nscope_cache].mask = mask;
            p->scope_cache[p->nscope_cache++].rv = vmesh_rv_store_ref(st);
        }
    }
    pthread_mutex_unlock(&p->scope_lock);
    if (st == NULL)
        snprintf(scope, scope_len, "the scoped reference values could not be built (see the log)");
    return st;
}

void px_peer_epochs_json(px_gen *g, const char *peer, char out[PX_EPOCHS_MAX])
{
    const vmesh_proxy_config *cfg = g->cfg;
    vmesh_rv_store *rv;
    size_t off;

    if (!px_rvps_scoped(cfg)) {
        px_epochs_json(g->proxy->verifier, out);
        return;
    }
    /* Only the epochs of the providers this peer was appraised with. */
    if (peer == NULL)
        peer = "";
    rv = vmesh_verifier_rv(g->proxy->verifier);
    off = (size_t)snprintf(out, PX_EPOCHS_MAX, "{");
    for (size_t i = 0; rv && i < vmesh_rv_epoch_count(rv); i++) {
        const char *n;
        char name[140];
        uint64_t ep;
        bool covered = false;
        if (!vmesh_rv_epoch_at(rv, i, &n, &ep))
            continue;
        for (size_t j = 0; j < cfg->nrvps && !covered; j++)
            covered = cfg->rvps[j].name && strcmp(cfg->rvps[j].name, n) == 0 &&
                      scope_covers(&cfg->rvps[j], peer) != NULL;
        if (!covered)
            continue;
        vmesh_json_str_to(name, sizeof(name), n);
        if (off + strlen(name) + 30 >= PX_EPOCHS_MAX)
            break;
        off += (size_t)snprintf(out + off, PX_EPOCHS_MAX - off, "%s\"%s\":%llu", off > 1 ? "," : "", name,
                                (unsigned long long)ep);
    }
    snprintf(out + off, PX_EPOCHS_MAX - off, "}");
    vmesh_rv_store_free(rv);
}

#ifdef VMESH_HAVE_SYNC
/* Keeps each RVP's own reference values of the snapshot just installed. */
static void keep_rvp_stores(struct vmesh_proxy *p)
{
    pthread_mutex_lock(&p->scope_lock);
    for (size_t i = 0; i < p->nrvp_rv; i++) {
        vmesh_rv_store_free(p->rvp_rv[i]);
        p->rvp_rv[i] = vmesh_sync_rvp_store(p->sync, i);
    }
    scope_cache_drop(p);
    pthread_mutex_unlock(&p->scope_lock);
}

/* The verifier trust sets (D40) of the snapshot just installed: each RVP's
 * engine gets that RVP's own reference values (its verifiers are judged by
 * them), and a set that changed is logged by name. When issuers come from
 * the bundle, a changed set reloads the configuration (the D37 path: the
 * control thread reloads, the new generation's policies hold the keys of
 * the new set only, and every open connection is re-appraised, so one
 * admitted with a passport of a verifier that left the set is closed). */
static void keep_trust_sets(struct vmesh_proxy *p)
{
    bool changed = false;
    px_gen *g;

    for (size_t i = 0; i < p->nrvp_rv; i++) {
        vmesh_rvp_verifiers vs;
        vmesh_rv_store *rv = vmesh_sync_rvp_store(p->sync, i);
        vmesh_sync_rvp_status st;
        const char *rname;

        if (rv != NULL && p->rvp_eng != NULL && p->rvp_eng[i] != NULL)
            vmesh_verifier_set_rv(p->rvp_eng[i], rv);
        vmesh_rv_store_free(rv);
        if (vmesh_sync_rvp_verifiers(p->sync, i, &vs) != VMESH_OK) {
            vmesh_log(VMESH_LOG_ERROR, "proxy: verifier trust set of rvp %zu: %s", i, vmesh_err_detail());
            continue;
        }
        pthread_mutex_lock(&p->scope_lock);
        if (vmesh_rvp_verifiers_same(&vs, &p->rvp_vs[i])) {
            pthread_mutex_unlock(&p->scope_lock);
            vmesh_rvp_verifiers_free(&vs);
            continue;
        }
        rname = vmesh_sync_rvp_status_at(p->sync, i, &st) && st.name[0] ? st.name : "?";
        for (size_t k = 0; k < p->rvp_vs[i].n; k++) {
            const vmesh_rvp_verifier *o = &p->rvp_vs[i].v[k], *n = vmesh_rvp_verifiers_find(&vs, o->name);
            if (n == NULL || !vmesh_crypto_key_equal(n->ear_key, o->ear_key)) {
                size_t at = p->nleft++ % (sizeof(p->left) / sizeof(p->left[0]));
                vmesh_crypto_key_free(p->left[at].key);
                p->left[at].key = vmesh_crypto_key_ref(o->ear_key);
                snprintf(p->left[at].why, sizeof(p->left[at].why),
                         "verifier %.60s (rvp %.60s), which %s the bundle's verifier trust set at epoch %llu", o->name,
                         rname, n == NULL ? "left" : "has a new key in", (unsigned long long)st.epoch);
            }
            if (n == NULL || !vmesh_crypto_key_equal(n->ear_key, o->ear_key))
                vmesh_log(VMESH_LOG_WARN,
                          "proxy: rvp %s (epoch %llu): verifier %s (%s) %s the bundle's verifier trust set: "
                          "passports signed with its former key are refused and connections they admitted closed",
                          rname, (unsigned long long)st.epoch, o->name, o->url,
                          n == NULL ? "left" : "has a new EAR key in");
        }
        for (size_t k = 0; k < vs.n; k++)
            if (vmesh_rvp_verifiers_find(&p->rvp_vs[i], vs.v[k].name) == NULL)
                vmesh_log(VMESH_LOG_INFO,
                          "proxy: rvp %s (epoch %llu): verifier %s (%s) is in the bundle's verifier trust set: its "
                          "passports are accepted while it attests as its entry says",
                          rname, (unsigned long long)st.epoch, vs.v[k].name, vs.v[k].url);
        vmesh_rvp_verifiers_free(&p->rvp_vs[i]);
        p->rvp_vs[i] = vs;
        pthread_mutex_unlock(&p->scope_lock);
        changed = true;
    }
    g = p->gen ? px_current_gen(p) : NULL;
    if (changed && g != NULL && g->cfg->issuers_bundle)
        atomic_store(&p->iss_changed, true); /* the control thread reloads within 100 ms */
    px_gen_unref(g);
}

static void on_snapshot(void *ctx, vmesh_rv_store *rv, vmesh_policy *policy)
{
    struct vmesh_proxy *p = ctx;
    px_gen *g;

    keep_rvp_stores(p);
    keep_trust_sets(p);
    install_rv(p, rv);
    if (policy != NULL) {
        vmesh_policy *old;
        pthread_mutex_lock(&p->gen_lock);
        old = p->sync_policy;
        p->sync_policy = vmesh_policy_ref(policy);
        pthread_mutex_unlock(&p->gen_lock);
        vmesh_policy_free(old);
        g = p->gen ? px_current_gen(p) : NULL;
        if (g && g->cfg->policy_doc == NULL && g->cfg->ntv == 0)
            vmesh_agent_set_policy(g->agent, policy);
        px_gen_unref(g);
    }
    vmesh_log(VMESH_LOG_INFO,
              "proxy: new reference-value snapshot installed; re-appraising open connections");
    request_reappraisal(p);
}
#endif

static vmesh_err refresh_bell(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    vmesh_buf b = {0};
    vmesh_err rc;

    if (p->bell == NULL || cfg->bell_file == NULL)
        return VMESH_OK;
    rc = vmesh_file_read(cfg->bell_file, VMESH_BELL_JWS_MAX, &b);
    if (rc == VMESH_OK)
        rc = vmesh_bell_view_update(p->bell, (const char *)b.data, b.len, vmesh_time_now());
    if (rc != VMESH_OK)
        vmesh_err_wrap(rc, "verifier.bell.file %s", cfg->bell_file);
    vmesh_buf_free(&b);
    return rc;
}

/* ---- file descriptors ------------------------------------------------------------------------ */

/* The most a soft limit may be set to when the hard one is unlimited. */
static uint64_t nr_open(void)
{
    vmesh_buf b = {0};
    uint64_t n = 1048576;

    if (vmesh_file_read("/proc/sys/fs/nr_open", 64, &b) == VMESH_OK && b.len > 0) {
        char t[65];
        memcpy(t, b.data, b.len < 64 ? b.len : 64);
        t[b.len < 64 ? b.len : 64] = '\0';
        n = strtoull(t, NULL, 10);
    }
    vmesh_err_clear();
    vmesh_buf_free(&b);
    return n > 0 ? n : 1048576;
}

uint64_t px_fd_limit_raise(void)
{
    struct rlimit rl;
    rlim_t old, want;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    old = rl.rlim_cur;
    want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)nr_open() : rl.rlim_max;
    if (want > old) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            vmesh_log(VMESH_LOG_WARN,
                      "proxy: cannot raise the file-descriptor limit from %llu to %llu: %s",
                      (unsigned long long)old, (unsigned long long)want, strerror(errno));
            rl.rlim_cur = old;
        }
    }
    if (rl.rlim_cur != old)
        vmesh_log(
            VMESH_LOG_INFO,
            "proxy: file descriptors: soft limit raised from %llu to %llu (hard limit %s%llu)",
            (unsigned long long)old, (unsigned long long)rl.rlim_cur,
            rl.rlim_max == RLIM_INFINITY ? "unlimited, capped by fs.nr_open at " : "",
            (unsigned long long)want);
    else
        vmesh_log(VMESH_LOG_INFO, "proxy: file descriptors: soft limit %llu (hard limit %s%llu)",
                  (unsigned long long)rl.rlim_cur,
                  rl.rlim_max == RLIM_INFINITY ? "unlimited, " : "",
                  (unsigned long long)(rl.rlim_max == RLIM_INFINITY ? want : rl.rlim_max));
    return rl.rlim_cur == RLIM_INFINITY ? nr_open() : (uint64_t)rl.rlim_cur;
}

/* What the process keeps open besides its connections: stdio, logs,
 * the control thread's descriptors, files and sockets of the bundle sync
 * and verifier clients (PX_FD_MISC), the admin endpoint's budget, and per
 * worker its epoll set, wake-up eventfd, reserve descriptor and listening
 * sockets. */
uint64_t px_fd_headroom(const vmesh_proxy_config *cfg, size_t nworkers)
{
    return PX_FD_MISC + (cfg->admin_listen ? PX_ADMIN_BUDGET + 2 : 0) +
           (uint64_t)nworkers * (3 + cfg->nin + cfg->nout);
}

/* Two descriptors per proxied connection (the TLS side and the plain
 * side) within what the headroom leaves. */
static uint32_t fd_bound(uint64_t nofile, uint64_t head)
{
    uint64_t n = nofile > head + 2 ? (nofile - head) / 2 : 1;

    return n > 1000000 ? 1000000 : (uint32_t)n;
}

uint32_t px_max_connections(const vmesh_proxy_config *cfg, uint64_t nofile, size_t nworkers)
{
    return cfg->max_connections > 0 ? cfg->max_connections
                                    : fd_bound(nofile, px_fd_headroom(cfg, nworkers));
}

uint32_t vmesh_proxy_config_max_connections(const vmesh_proxy_config *c, uint64_t nofile,
                                            uint64_t *needed, bool *derived)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nw = c->workers ? c->workers : (size_t)(ncpu > 0 ? ncpu : 1);
    uint32_t m = px_max_connections(c, nofile, nw);

    if (needed != NULL)
        *needed = 2 * (uint64_t)m + px_fd_headroom(c, nw);
    if (derived != NULL)
        *derived = c->max_connections == 0;
    return m;
}

/* Sets the connection limit in force and says when the configured one
 * cannot be reached with the descriptors there are. */
static void apply_max_connections(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    uint32_t m = px_max_connections(cfg, p->nofile, p->nworkers);
    uint64_t need = 2 * (uint64_t)m + px_fd_headroom(cfg, p->nworkers);

    atomic_store(&p->max_conns, m);
    if (cfg->max_connections == 0)
        vmesh_log(VMESH_LOG_INFO,
                  "proxy: limits.max-connections %u (derived: two descriptors per connection "
                  "within the limit of %llu)",
                  m, (unsigned long long)p->nofile);
    else if (need > p->nofile)
        vmesh_log(VMESH_LOG_WARN,
                  "proxy: limits.max-connections %u needs about %llu file descriptors but the "
                  "limit is %llu: "
                  "beyond about %u connections new ones are shed (raise the limit, e.g. "
                  "LimitNOFILE or ulimit -n, "
                  "or lower limits.max-connections; leaving it out derives it from the limit)",
                  m, (unsigned long long)need, (unsigned long long)p->nofile,
                  fd_bound(p->nofile, px_fd_headroom(cfg, p->nworkers)));
}

/* ---- lifecycle
 * ----------------------------------------------------------------------------------- */

static vmesh_err setup_rp(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    vmesh_err rc = VMESH_OK;
    vmesh_verifier_config vc;

    memset(&vc, 0, sizeof(vc));
    VMESH_GUARD(vmesh_verifier_new(&vc, &p->verifier));
    if (cfg->bell_key) {
        rc = vmesh_crypto_key_load(cfg->bell_key, &p->bell_key);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "verifier.bell.key");
            goto out;
        }
        VMESH_GUARD(vmesh_bell_view_new(p->bell_key, &p->bell));
        if (cfg->bell_file && refresh_bell(p, cfg) != VMESH_OK)
            vmesh_log(VMESH_LOG_WARN, "proxy: %s (will retry)", vmesh_err_detail());
    }
    VMESH_GUARD(load_rv_files(p, cfg));
    if (cfg->nrvps > 0) {
#ifdef VMESH_HAVE_SYNC
        vmesh_sync_config sc;
        char state[1100];
        memset(&sc, 0, sizeof(sc));
        if (cfg->state_dir)
            snprintf(state, sizeof(state), "%s", cfg->state_dir);
        else
            snprintf(state, sizeof(state), "vmesh-state");
        sc.state_dir = state;
        sc.interval = (int)(cfg->poll_interval_ms / 1000);
        sc.on_snapshot = on_snapshot;
        sc.ctx = p;
        sc.bell = cfg->bell_url ? p->bell : NULL;
        sc.bell_url = cfg->bell_url;
        p->rvp_rv = calloc(cfg->nrvps, sizeof(*p->rvp_rv));
        p->rvp_vs = calloc(cfg->nrvps, sizeof(*p->rvp_vs));
        p->rvp_eng = calloc(cfg->nrvps, sizeof(*p->rvp_eng));
        VMESH_ENSURE(p->rvp_rv != NULL && p->rvp_vs != NULL && p->rvp_eng != NULL, VMESH_ERR_NOMEM, "out of memory");
        p->nrvp_rv = cfg->nrvps;
        for (size_t i = 0; i < cfg->nrvps; i++) {
            vmesh_verifier_config ec;
            memset(&ec, 0, sizeof(ec));
            VMESH_GUARD(vmesh_verifier_new(&ec, &p->rvp_eng[i]));
        }
        VMESH_GUARD(vmesh_sync_new(&sc, &p->sync));
        for (size_t i = 0; i < cfg->nrvps; i++) {
            vmesh_sync_rvp r;
            vmesh_key *k = NULL;
            rc = vmesh_crypto_key_load(cfg->rvps[i].key, &k);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "verifier.rvps[%zu].key", i);
                goto out;
            }
            memset(&r, 0, sizeof(r));
            r.name = cfg->rvps[i].name;
            r.url = cfg->rvps[i].url;
            r.key = k;
            r.schemes = cfg->rvps[i].schemes;
            r.coserv_classes = cfg->rvps[i].classes;
            rc = vmesh_sync_add_rvp(p->sync, &r);
            vmesh_crypto_key_free(k);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "verifier.rvps[%zu]", i);
                goto out;
            }
        }
#else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                   "verifier.rvps: this build has no bundle sync client (use rv-files)");
#endif
    }
    if (cfg->nrv == 0 && cfg->nrvps == 0)
        atomic_store(&p->have_snapshot, true); /* nothing to wait for */
out:
    return rc;
}

/* The start, up to the point where descriptors are opened: configuration,
 * relying-party state (bell, RVP and verifier keys, rv-files), then a whole
 * generation (certificates against their keys, policies, the attester
 * instantiated, app and upstream addresses resolved). A dry run (--check)
 * stops there: it opens no listener, admin endpoint or access log, so it
 * can run beside a serving proxy, and it fails with the messages a real
 * start fails with because it is the same code. */
static vmesh_err build(const char *config_path, bool dry, struct vmesh_proxy **out)
{
    vmesh_err rc = VMESH_OK;
    struct vmesh_proxy *p = NULL;
    vmesh_proxy_config *cfg = NULL;
    px_gen *g = NULL;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    VMESH_ENSURE(p != NULL, VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&p->gen_lock, NULL);
    pthread_mutex_init(&p->reload_lock, NULL);
    pthread_mutex_init(&p->fed_lock, NULL);
    pthread_mutex_init(&p->iss_lock, NULL);
    pthread_cond_init(&p->iss_cond, NULL);
    pthread_mutex_init(&p->scope_lock, NULL);
    pthread_cond_init(&p->fed_cond, NULL);
    pthread_mutex_init(&p->central.probe_lock, NULL);
    pthread_cond_init(&p->central.probe_cond, NULL);
    pthread_mutex_init(&p->kb.lock, NULL);
    pthread_cond_init(&p->kb.cond, NULL);
    p->stop_fd = p->access_fd = -1;
    p->recent = px_recent_new();
    VMESH_ENSURE(p->recent != NULL, VMESH_ERR_NOMEM, "out of memory");
    p->config_path = strdup(config_path);
    VMESH_ENSURE(p->config_path != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(vmesh_proxy_config_load(config_path, &cfg));
    if (!dry) {
        vmesh_log_set_level((vmesh_log_level)cfg->log_level);
        p->nofile = px_fd_limit_raise();
    }
    VMESH_GUARD(setup_rp(p, cfg));
    if (!dry) {
        VMESH_GUARD(px_access_log_open(p, cfg));
        if (cfg->admin_listen) {
            rc = px_admin_open(p, cfg->admin_listen, &p->admin);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "admin.listen");
                goto out;
            }
        }
        VMESH_GUARD(px_workers_open(p, cfg, &px_conn_ops));
        apply_max_connections(p, cfg);
        p->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        VMESH_ENSURE(p->stop_fd >= 0, VMESH_ERR_IO, "eventfd: %s", strerror(errno));
    }
    rc = px_gen_build(p, cfg, &g);
    cfg = NULL;
    VMESH_GUARD(rc);
    g->id = ++p->next_gen_id;
    p->gen = g;
    *out = p;
    p = NULL;
out:
    vmesh_proxy_config_free(cfg);
    vmesh_proxy_free(p);
    return rc;
}

vmesh_err vmesh_proxy_new(const char *config_path, vmesh_proxy **out)
{
    return build(config_path, false, out);
}

vmesh_err vmesh_proxy_check(const char *config_path)
{
    struct vmesh_proxy *p = NULL;
    vmesh_err rc = build(config_path, true, &p);

    vmesh_proxy_free(p);
    return rc;
}

/* Keys whose change needs a restart: listener addresses and the
 * process-wide relying-party plumbing. */
static vmesh_err reload_compatible(const vmesh_proxy_config *a, const vmesh_proxy_config *b)
{
#define SAME(x, y)                                                                                 \
    (((x) == NULL && (y) == NULL) || ((x) != NULL && (y) != NULL && strcmp((x), (y)) == 0))
    if (a->nin != b->nin || a->nout != b->nout)
        return vmesh_err_set(VMESH_ERR_STATE, "the number of listeners changed: restart to apply");
    for (size_t i = 0; i < a->nin + a->nout; i++)
        if (!SAME(vmesh_proxy_config_listen(a, i), vmesh_proxy_config_listen(b, i)))
            return vmesh_err_set(VMESH_ERR_STATE, "listener address %s changed: restart to apply",
                                 vmesh_proxy_config_listen(a, i));
    if (!SAME(a->bell_key, b->bell_key) || !SAME(a->bell_url, b->bell_url) ||
        a->nrvps != b->nrvps || !SAME(a->admin_listen, b->admin_listen) ||
        !SAME(a->state_dir, b->state_dir))
        return vmesh_err_set(VMESH_ERR_STATE, "verifier.bell, verifier.rvps, verifier.state-dir or "
                                              "admin.listen changed: restart to apply");
    for (size_t i = 0; i < a->nrvps; i++)
        if (!SAME(a->rvps[i].url, b->rvps[i].url) || !SAME(a->rvps[i].key, b->rvps[i].key))
            return vmesh_err_set(VMESH_ERR_STATE, "verifier.rvps changed: restart to apply");
    return VMESH_OK;
#undef SAME
}

vmesh_err vmesh_proxy_reload(vmesh_proxy *p)
{
    vmesh_err rc = VMESH_OK;
    vmesh_proxy_config *cfg = NULL;
    px_gen *g = NULL, *old;

    pthread_mutex_lock(&p->reload_lock);
    VMESH_GUARD(vmesh_proxy_config_load(p->config_path, &cfg));
    VMESH_GUARD(reload_compatible(p->gen->cfg, cfg));
    VMESH_GUARD(load_rv_files(p, cfg));
    if (cfg->bell_file)
        (void)refresh_bell(p, cfg);
    VMESH_GUARD(px_access_log_open(p, cfg));
    vmesh_log_set_level((vmesh_log_level)cfg->log_level);
    rc = px_gen_build(p, cfg, &g);
    cfg = NULL;
    VMESH_GUARD(rc);
    g->id = ++p->next_gen_id;
    pthread_mutex_lock(&p->gen_lock);
    old = p->gen;
    /* A listener whose fresh-hello limit is unchanged keeps its budget:
     * a reload neither refills it nor resets its deferral count. The
     * listeners are the same ones (reload_compatible). */
    for (size_t j = 0; j < g->cfg->nin; j++)
        if (!vmesh_atls_config_inherit_fresh_hello(g->in_cfg[j], old->in_cfg[j]))
            vmesh_log(VMESH_LOG_INFO, "proxy: inbound %s: fresh-hello limit changed, its budget starts full",
                      g->cfg->in[j].name);
    p->gen = g;
    pthread_mutex_unlock(&p->gen_lock);
    apply_max_connections(p, g->cfg);
    {
        /* Counters of the replaced agent stay in the totals. */
        vmesh_agent_stats st;
        vmesh_agent_stats_get(old->agent, &st);
        atomic_fetch_add(&p->m.agent_hits_base, st.cache_hits);
        atomic_fetch_add(&p->m.agent_misses_base, st.cache_misses);
        atomic_fetch_add(&p->m.agent_made_base, st.attestations_made);
        atomic_fetch_add(&p->m.agent_generated_base, st.evidence_generated);
        atomic_fetch_add(&p->m.agent_behind_base, st.central_behind);
        atomic_fetch_add(&p->m.agent_journal_base[0], st.journal_same);
        atomic_fetch_add(&p->m.agent_journal_base[1], st.journal_changed);
        atomic_fetch_add(&p->m.agent_journal_base[2], st.journal_unreadable);
        atomic_fetch_add(&p->m.agent_journal_base[3], st.journal_foreign);
        atomic_fetch_add(&p->m.agent_full_base, st.reappraise_full);
    }
    px_gen_unref(old);
    atomic_fetch_add(&p->m.reloads, 1);
    vmesh_log(VMESH_LOG_INFO,
              "proxy: configuration %s reloaded (generation %llu); re-appraising open connections",
              p->config_path, (unsigned long long)g->id);
    request_reappraisal(p);
out:
    if (rc != VMESH_OK)
        atomic_fetch_add(&p->m.reload_failures, 1);
    vmesh_proxy_config_free(cfg);
    pthread_mutex_unlock(&p->reload_lock);
    return rc;
}

void vmesh_proxy_stop(vmesh_proxy *p)
{
    uint64_t one = 1;

    if (p->stop_fd >= 0)
        (void)!write(p->stop_fd, &one, sizeof(one));
}

/* The service manager's readiness protocol (vmesh_notify: READY=1,
 * RELOADING=1, STOPPING=1, STATUS=, WATCHDOG=1); a failure is logged once. */
static void notify(const char *fmt, ...) VMESH_PRINTF(1, 2);
static void notify(const char *fmt, ...)
{
    static bool warned;
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (vmesh_notify(msg) != VMESH_OK && !warned) {
        warned = true;
        vmesh_log(VMESH_LOG_WARN, "proxy: %s", vmesh_err_detail());
    }
}

long long vmesh_proxy_drain_forced(const vmesh_proxy *p)
{
    return p ? p->drain_forced : 0;
}

/* The control thread's own event sources (the admin endpoint adds its). */
typedef struct {
    struct vmesh_proxy *p;
    int sfd, tfd;
    bool stop;
    px_ev sig_ev, stop_ev, timer_ev;
    px_timers timers; /* the admin endpoint's deadlines */
} ctl_t;

static void on_signal(px_ev *ev, uint32_t events)
{
    ctl_t *c = PX_OWNER(ev, ctl_t, sig_ev);
    struct signalfd_siginfo si;

    (void)events;
    while (read(c->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
                   (unsigned long long)(vmesh_time_mono_ns() / 1000));
            if (vmesh_proxy_reload(c->p) != VMESH_OK) {
                vmesh_log(VMESH_LOG_ERROR,
                          "proxy: reload failed, the previous configuration stays: %s",
                          vmesh_err_detail());
                notify("READY=1\nSTATUS=serving; the last reload failed, the previous configuration "
                       "stays: %.300s",
                       vmesh_err_detail());
            } else {
                notify("READY=1\nSTATUS=serving %zu inbound and %zu outbound listeners (reloaded)",
                       c->p->nin, c->p->nout);
            }
        } else {
            c->stop = true;
        }
    }
}

static void on_stop(px_ev *ev, uint32_t events)
{
    ctl_t *c = PX_OWNER(ev, ctl_t, stop_ev);
    uint64_t v;

    (void)events;
    (void)!read(c->p->stop_fd, &v, sizeof(v));
    c->stop = true;
}

static void on_tick(px_ev *ev, uint32_t events)
{
    ctl_t *c = PX_OWNER(ev, ctl_t, timer_ev);
    uint64_t v;

    (void)events;
    (void)!read(c->tfd, &v, sizeof(v));
    /* No periodic malloc_trim(): it walks and locks every arena, stalling
     * the workers (bench/proxy p99 rose 4x), and the memory per idle
     * connection is the same without it (atls gives back its handshake
     * buffers itself). */
}

vmesh_err vmesh_proxy_run(vmesh_proxy *p)
{
    vmesh_err rc = VMESH_OK;
    sigset_t set;
    int ep = -1;
    uint64_t drain_deadline = 0, next_bell = 0, next_watch = 0, next_wd = 0;
    uint64_t wd_ns = vmesh_notify_watchdog_usec() * 1000 / 2; /* ping at half the manager's interval */
    struct itimerspec its;
    ctl_t ctl = {.p = p,
                 .sfd = -1,
                 .tfd = -1,
                 .sig_ev = {on_signal},
                 .stop_ev = {on_stop},
                 .timer_ev = {on_tick}};

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    VMESH_ENSURE(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, VMESH_ERR_IO,
                 "pthread_sigmask failed");
    ctl.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    ctl.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    VMESH_ENSURE(ctl.sfd >= 0 && ep >= 0 && ctl.tfd >= 0, VMESH_ERR_IO,
                 "signalfd/epoll/timerfd: %s", strerror(errno));
    memset(&its, 0, sizeof(its));
    its.it_interval.tv_nsec = its.it_value.tv_nsec = 100 * 1000 * 1000;
    (void)timerfd_settime(ctl.tfd, 0, &its, NULL);
    VMESH_GUARD(px_ev_add(ep, ctl.sfd, EPOLLIN, &ctl.sig_ev));
    VMESH_GUARD(px_ev_add(ep, p->stop_fd, EPOLLIN, &ctl.stop_ev));
    VMESH_GUARD(px_ev_add(ep, ctl.tfd, EPOLLIN, &ctl.timer_ev));
    if (p->admin)
        VMESH_GUARD(px_admin_attach(p->admin, ep, &ctl.timers));
#ifdef VMESH_HAVE_SYNC
    if (p->sync)
        VMESH_GUARD(vmesh_sync_start(p->sync));
#endif
    {
        px_gen *g0 = px_current_gen(p); /* the pool is sized at start; a reload keeps it */
        rc = px_hspool_start(p, g0->cfg);
        px_gen_unref(g0);
        VMESH_GUARD(rc);
    }
    VMESH_GUARD(px_workers_start(p));
    VMESH_GUARD(px_fed_start(p));
    VMESH_GUARD(px_cprobe_start(p));
    VMESH_GUARD(px_issuers_start(p));
    VMESH_GUARD(px_kb_start(p));
    px_watch_files(p); /* the first call takes the files as they are */
    atomic_store(&p->ready, true);
    vmesh_log(VMESH_LOG_INFO,
              "proxy: serving %zu inbound and %zu outbound listeners with %zu workers", p->nin,
              p->nout, p->nworkers);
    /* the listeners are open since vmesh_proxy_new; workers now accept */
    notify("READY=1\nSTATUS=serving %zu inbound and %zu outbound listeners\nMAINPID=%lld", p->nin, p->nout,
           (long long)getpid());
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, px_timers_wait_ms(&ctl.timers, vmesh_time_mono_ns()));

        if (n < 0 && errno != EINTR)
            VMESH_FAIL(VMESH_ERR_IO, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            px_ev *ev = evs[i].data.ptr;
            ev->fn(ev, evs[i].events);
        }
        px_timers_run(&ctl.timers, vmesh_time_mono_ns());
        px_admin_reap(p->admin);
        if (ctl.stop && !atomic_load(&p->draining)) {
            px_gen *g = px_current_gen(p);
            drain_deadline = vmesh_time_mono_ns() + (uint64_t)g->cfg->drain_timeout_ms * 1000000u;
            px_gen_unref(g);
            vmesh_log(VMESH_LOG_INFO, "proxy: draining: no new connections; %lld open",
                      (long long)atomic_load(&p->m.total_active));
            notify("STOPPING=1\nSTATUS=draining: %lld connections open",
                   (long long)atomic_load(&p->m.total_active));
            atomic_store(&p->draining, true);
            px_workers_wake(p);
        }
        if (atomic_load(&p->draining)) {
            if (px_workers_alive(p) == 0)
                break;
            if (!atomic_load(&p->force_close) && vmesh_time_mono_ns() >= drain_deadline) {
                p->drain_forced = (long long)atomic_load(&p->m.total_active);
                vmesh_log(VMESH_LOG_WARN, "proxy: drain timeout: closing %lld connections", p->drain_forced);
                notify("STATUS=drain timeout: closing %lld connections", p->drain_forced);
                atomic_store(&p->force_close, true);
                px_workers_wake(p);
            }
        } else if (vmesh_time_mono_ns() >= next_watch) {
            px_watch_files(p);
            next_watch = vmesh_time_mono_ns() + 1000000000ULL;
        }
        if (!atomic_load(&p->draining) && vmesh_time_mono_ns() >= next_bell) {
            px_gen *g = px_current_gen(p);
            if (g->cfg->bell_file && refresh_bell(p, g->cfg) != VMESH_OK)
                vmesh_log(VMESH_LOG_DEBUG, "proxy: %s", vmesh_err_detail());
            next_bell = vmesh_time_mono_ns() + (uint64_t)g->cfg->bell_refresh_ms * 1000000u;
            px_gen_unref(g);
        }
        if (atomic_exchange(&p->iss_changed, false) && !atomic_load(&p->draining)) {
            if (vmesh_proxy_reload(p) != VMESH_OK)
                vmesh_log(VMESH_LOG_ERROR, "proxy: reload after a passport issuer changed failed: %s",
                          vmesh_err_detail());
            atomic_store(&p->iss_asked, true); /* the first round's standing is in force */
        }
        if (atomic_exchange(&p->kb.changed, false) && !atomic_load(&p->draining)) {
            /* a new key-bound SVID: a new generation serves it (keybound.c) */
            if (vmesh_proxy_reload(p) != VMESH_OK)
                vmesh_log(VMESH_LOG_ERROR, "proxy: reload for the new key-bound SVID failed: %s", vmesh_err_detail());
        }
        px_rt_watch_bell(p); /* a new tick: connections re-attest (reattest.c) */
        if (wd_ns != 0 && vmesh_time_mono_ns() >= next_wd) {
            notify("WATCHDOG=1");
            next_wd = vmesh_time_mono_ns() + wd_ns;
        }
    }
    px_workers_join(p);
    vmesh_log(VMESH_LOG_INFO, "proxy: drained, exiting");
out:
    px_fed_stop(p);
    px_cprobe_stop(p);
    px_issuers_stop(p);
    px_kb_stop(p);
#ifdef VMESH_HAVE_SYNC
    if (p->sync)
        vmesh_sync_stop(p->sync);
#endif
    atomic_store(&p->draining, true);
    atomic_store(&p->force_close, true);
    px_workers_wake(p);
    px_workers_join(p);
    /* after the workers: a worker waits for the jobs of its connections */
    px_hspool_stop(p);
    px_admin_free(p->admin); /* its connections live in this thread's epoll set and timers */
    p->admin = NULL;
    px_timers_free(&ctl.timers);
    if (ctl.sfd >= 0)
        close(ctl.sfd);
    if (ep >= 0)
        close(ep);
    if (ctl.tfd >= 0)
        close(ctl.tfd);
    return rc;
}

void vmesh_proxy_free(vmesh_proxy *p)
{
    if (p == NULL)
        return;
#ifdef VMESH_HAVE_SYNC
    vmesh_sync_free(p->sync);
#endif
    px_hspool_stop(p);
    px_workers_free(p);
    px_gen_unref(p->gen);
    vmesh_policy_free(p->sync_policy);
    scope_cache_drop(p);
    for (size_t i = 0; i < p->nrvp_rv; i++) {
        vmesh_rv_store_free(p->rvp_rv[i]);
        if (p->rvp_vs != NULL)
            vmesh_rvp_verifiers_free(&p->rvp_vs[i]);
        if (p->rvp_eng != NULL)
            vmesh_verifier_free(p->rvp_eng[i]);
    }
    for (size_t i = 0; i < sizeof(p->left) / sizeof(p->left[0]); i++)
        vmesh_crypto_key_free(p->left[i].key);
    free(p->rvp_rv);
    free(p->rvp_vs);
    free(p->rvp_eng);
    pthread_mutex_destroy(&p->scope_lock);
    vmesh_verifier_free(p->verifier);
    vmesh_bell_view_free(p->bell);
    vmesh_crypto_key_free(p->bell_key);
    px_admin_free(p->admin);
    px_recent_free(p->recent);
    if (p->stop_fd >= 0)
        close(p->stop_fd);
    if (p->access_fd >= 0)
        close(p->access_fd);
    pthread_mutex_destroy(&p->gen_lock);
    px_fed_stop(p);
    px_issuers_stop(p);
    pthread_mutex_destroy(&p->iss_lock);
    pthread_cond_destroy(&p->iss_cond);
    pthread_mutex_destroy(&p->reload_lock);
    pthread_mutex_destroy(&p->fed_lock);
    pthread_cond_destroy(&p->fed_cond);
    px_cprobe_stop(p);
    pthread_mutex_destroy(&p->central.probe_lock);
    pthread_cond_destroy(&p->central.probe_cond);
    px_kb_stop(p);
    vmesh_buf_free(&p->kb.chain);
    vmesh_agent_free(p->kb.agent);
    pthread_mutex_destroy(&p->kb.lock);
    pthread_cond_destroy(&p->kb.cond);
    free(p->config_path);
    free(p);
}
