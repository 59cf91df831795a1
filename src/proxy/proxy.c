/*
 * The proxy's control plane: building a configuration generation (policies
 * and per-peer rules, the agent, one atls configuration per listener), the
 * process-wide relying-party state (local verifier with its RV snapshot,
 * epoch bell, bundle sync client), the control thread (signals, admin
 * endpoint, bell refresh, drain deadline), SIGHUP reload and re-appraisal.
 * Generations are refcounted: a connection keeps the generation it was
 * accepted under, so a reload never changes an open connection's TLS
 * configuration. It must never install a half-built generation: a reload
 * that fails leaves the previous one in force.
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include "vmesh/pki.h"
#include "vmesh/rv.h"
#include "vmesh/rvp.h"
#include "vmesh/verifier.h"
#ifdef VMESH_HAVE_SYNC
#include "vmesh/sync.h"
#endif
#ifdef VMESH_HAVE_SERVICE
#include "vmesh/service.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

typedef struct px_prov {
    vmesh_atls_provider inner;
    struct vmesh_proxy *p;
} px_prov;

/* ---- metrics helpers ----------------------------------------------------------------- */

static const char *const result_names[PX_RES__COUNT] = {
    "ok", "limit", "tls-failed", "refused", "peer-refused", "timeout", "connect-failed", "idle-timeout",
    "reappraisal", "drain", "reset",
};

const char *px_result_name(px_result r)
{
    return (unsigned)r < PX_RES__COUNT ? result_names[r] : "unknown";
}

/* Bucket bounds in microseconds (see admin.c for the seconds). */
static const uint64_t hist_us[PX_HIST_BUCKETS] = {250,   500,    1000,   2500,   5000,    10000,   25000,
                                                  50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};

void px_hist_observe(px_hist *h, uint64_t ns)
{
    uint64_t us = ns / 1000u;
    size_t i = 0;

    while (i < PX_HIST_BUCKETS && us > hist_us[i])
        i++;
    atomic_fetch_add(&h->b[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_us, us);
}

/* ---- provider wrapper: attestation latency ------------------------------------------------ */

static vmesh_err prov_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg)
{
    px_prov *pv = ctx;

    return pv->inner.attest(pv->inner.ctx, in, msg);
}

static vmesh_err prov_appraise(void *ctx, const vmesh_atls_appraise_in *in, vmesh_atls_peer_result *out,
                               vmesh_atls_reason *reason)
{
    px_prov *pv = ctx;
    uint64_t t0 = vmesh_time_mono_ns();
    vmesh_err rc = pv->inner.appraise(pv->inner.ctx, in, out, reason);

    px_hist_observe(&pv->p->m.attestation, vmesh_time_mono_ns() - t0);
    return rc;
}

/* ---- generations ----------------------------------------------------------------------- */

px_gen *px_gen_ref(px_gen *g)
{
    if (g)
        atomic_fetch_add(&g->refs, 1);
    return g;
}

void px_gen_unref(px_gen *g)
{
    size_t nl;

    if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    nl = g->cfg ? g->cfg->nin + g->cfg->nout : 0;
    for (size_t i = 0; i < PX_MAX_LISTENERS; i++) {
        vmesh_atls_config_free(g->in_cfg[i]);
        vmesh_atls_config_free(g->out_cfg[i]);
        for (size_t j = 0; j < PX_MAX_UPSTREAMS; j++)
            vmesh_atls_session_free(g->sessions[i].sess[j]);
        pthread_mutex_destroy(&g->sessions[i].lock);
        free(g->up_addr[i]);
        free(g->up_len[i]);
    }
    (void)nl;
    free(g->app_addr);
    free(g->app_len);
    free(g->provs);
    vmesh_agent_free(g->agent);
    vmesh_verifier_free(g->issuer);
#ifdef VMESH_HAVE_SERVICE
    free(g->central);
    free(g->central_rp);
#endif
    vmesh_policy_free(g->policy);
    vmesh_proxy_config_free(g->cfg);
    free(g);
}

px_gen *px_current_gen(struct vmesh_proxy *p)
{
    px_gen *g;

    pthread_mutex_lock(&p->gen_lock);
    g = px_gen_ref(p->gen);
    pthread_mutex_unlock(&p->gen_lock);
    return g;
}

/* A policy from the base document with a rule's overrides and the trusted
 * verifier keys. */
static vmesh_err make_policy(const vmesh_proxy_config *cfg, const json_t *overrides, const char *id_suffix,
                             vmesh_policy **out)
{
    vmesh_err rc = VMESH_OK;
    json_t *doc = cfg->policy_doc ? json_deep_copy(cfg->policy_doc) : json_pack("{s:s}", "format", "vmesh-policy/1");
    char *text = NULL, src[512];
    const char *k;
    json_t *v;
    vmesh_key *key = NULL;

    *out = NULL;
    VMESH_ENSURE(doc != NULL, VMESH_ERR_NOMEM, "out of memory");
    if (overrides) {
        json_object_foreach((json_t *)overrides, k, v) json_object_set(doc, k, v);
        if (id_suffix) {
            json_t *id = json_object_get(doc, "id");
            char buf[300];
            snprintf(buf, sizeof(buf), "%s#%s", json_is_string(id) ? json_string_value(id) : "policy:vmesh/default",
                     id_suffix);
            json_object_set_new(doc, "id", json_string(buf));
        }
    }
    text = json_dumps(doc, JSON_COMPACT);
    VMESH_ENSURE(text != NULL, VMESH_ERR_NOMEM, "out of memory");
    snprintf(src, sizeof(src), "%s%s%s", cfg->policy_source ? cfg->policy_source : "policy",
             id_suffix ? " + rule for " : "", id_suffix ? id_suffix : "");
    VMESH_GUARD(vmesh_policy_parse((const uint8_t *)text, strlen(text), src, out));
    for (size_t i = 0; i < cfg->ntv; i++) {
        rc = vmesh_crypto_key_load(cfg->trusted_verifiers[i], &key);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "verifier.trusted-verifiers[%zu]", i);
            goto out;
        }
        VMESH_GUARD(vmesh_policy_add_verifier_key(*out, key));
        vmesh_crypto_key_free(key);
        key = NULL;
    }
out:
    if (rc != VMESH_OK) {
        vmesh_policy_free(*out);
        *out = NULL;
    }
    vmesh_crypto_key_free(key);
    free(text);
    json_decref(doc);
    return rc;
}

static int64_t cert_not_after(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    int64_t t = 0;
    struct tm tm;

    if (x != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        t = (int64_t)timegm(&tm);
    X509_free(x);
    if (f)
        fclose(f);
    return t;
}

static vmesh_err listener_config(struct vmesh_proxy *p, px_gen *g, size_t j, vmesh_atls_config **out)
{
    vmesh_err rc = VMESH_OK;
    const vmesh_proxy_config *cfg = g->cfg;
    bool in = j < cfg->nin;
    const char *peer = in ? cfg->in[j].peer : cfg->out[j - cfg->nin].peer;
    px_prov *pv = &g->provs[j];
    vmesh_atls_provider prov;
    vmesh_atls_config *c = NULL;

    VMESH_GUARD(vmesh_atls_config_new(in ? VMESH_ATLS_SERVER : VMESH_ATLS_CLIENT, &c));
    VMESH_GUARD(vmesh_atls_config_set_svid(c, cfg->cert, cfg->key));
    VMESH_GUARD(vmesh_atls_config_set_bundle(c, cfg->bundle));
    if (peer)
        VMESH_GUARD(vmesh_atls_config_set_peer_pattern(c, peer));
    vmesh_agent_provider_for(g->agent, in ? NULL : peer, &pv->inner);
    pv->p = p;
    prov = pv->inner;
    prov.ctx = pv;
    prov.attest = pv->inner.attest ? prov_attest : NULL;
    prov.appraise = pv->inner.appraise ? prov_appraise : NULL;
    VMESH_GUARD(vmesh_atls_config_set_provider(c, &prov));
    vmesh_atls_config_set_deadline_ms(c, cfg->handshake_timeout_ms);
    /* Idle connections give their record buffers back. */
    SSL_CTX_set_mode((SSL_CTX *)vmesh_atls_config_ssl_ctx(c), SSL_MODE_RELEASE_BUFFERS);
    *out = c;
    c = NULL;
out:
    vmesh_atls_config_free(c);
    return rc;
}

static vmesh_err build_gen(struct vmesh_proxy *p, vmesh_proxy_config *cfg, px_gen **out)
{
    vmesh_err rc = VMESH_OK;
    px_gen *g = calloc(1, sizeof(*g));
    vmesh_agent_rule rules[VMESH_AGENT_MAX_RULES];
    vmesh_policy *rpol[VMESH_AGENT_MAX_RULES];
    size_t nr = 0;
    vmesh_agent_config ac;
    vmesh_key *k = NULL, *ck = NULL;

    *out = NULL;
    if (g == NULL) {
        vmesh_proxy_config_free(cfg);
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    }
    g->refs = 1;
    g->cfg = cfg;
    g->proxy = p;
    for (size_t i = 0; i < PX_MAX_LISTENERS; i++)
        pthread_mutex_init(&g->sessions[i].lock, NULL);
    /* policies */
    if (cfg->policy_doc == NULL && p->sync_policy != NULL && cfg->ntv == 0)
        g->policy = vmesh_policy_ref(p->sync_policy);
    else
        VMESH_GUARD(make_policy(cfg, NULL, NULL, &g->policy));
    for (; nr < cfg->nrules; nr++) {
        rc = make_policy(cfg, cfg->rules[nr].overrides, cfg->rules[nr].peer, &rpol[nr]);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "policy.rules[%zu]", nr);
            goto out;
        }
        rules[nr].peer = cfg->rules[nr].peer;
        rules[nr].policy = rpol[nr];
    }
    /* passport issuer */
    memset(&ac, 0, sizeof(ac));
    if (cfg->passport_local_key) {
        vmesh_verifier_config vc;
        vmesh_rv_store *rv = vmesh_verifier_rv(p->verifier);
        rc = vmesh_crypto_key_load(cfg->passport_local_key, &k);
        if (rc != VMESH_OK) {
            vmesh_rv_store_free(rv);
            vmesh_err_wrap(rc, "verifier.passport.local-key");
            goto out;
        }
        memset(&vc, 0, sizeof(vc));
        vc.ear_key = k;
        rc = vmesh_verifier_new(&vc, (vmesh_verifier **)&g->issuer);
        if (rc == VMESH_OK && rv != NULL)
            vmesh_verifier_set_rv(g->issuer, rv);
        vmesh_rv_store_free(rv);
        VMESH_GUARD(rc);
        ac.passport = vmesh_agent_local_passport;
        ac.passport_ctx = g->issuer;
    } else if (cfg->passport_central) {
#ifdef VMESH_HAVE_SERVICE
        vmesh_service_client *sc = calloc(1, sizeof(*sc));
        VMESH_ENSURE(sc != NULL, VMESH_ERR_NOMEM, "out of memory");
        sc->url = cfg->passport_central;
        g->central = sc;
        ac.passport = vmesh_service_passport_client;
        ac.passport_ctx = sc;
#else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "verifier.passport.central: this build has no central-verifier client");
#endif
    }
    if (cfg->central_url) {
#ifdef VMESH_HAVE_SERVICE
        vmesh_service_client *sc = calloc(1, sizeof(*sc));
        VMESH_ENSURE(sc != NULL, VMESH_ERR_NOMEM, "out of memory");
        sc->url = cfg->central_url;
        g->central_rp = sc;
        rc = vmesh_crypto_key_load(cfg->central_key, &ck);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "verifier.central.key");
            goto out;
        }
        ac.central = vmesh_service_central_client;
        ac.central_ctx = sc;
        ac.central_key = ck;
        ac.central_cache_seconds = cfg->central_cache;
#else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "verifier.central: this build has no central-verifier client");
#endif
    }
    ac.cache_slots = cfg->ar_cache_slots;
    ac.platform = cfg->platform;
    ac.platform_cfg = cfg->kv;
    ac.n_platform_cfg = cfg->nkv;
    ac.attest_modes = cfg->attest_modes;
    ac.ak_rotate_seconds = cfg->ak_rotate;
    ac.verifier = p->verifier;
    ac.policy = g->policy;
    ac.bell = p->bell;
    rc = vmesh_agent_new(&ac, &g->agent);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "attester");
        goto out;
    }
    VMESH_GUARD(vmesh_agent_set_rules(g->agent, rules, nr));
    /* listeners */
    g->provs = calloc(cfg->nin + cfg->nout, sizeof(px_prov));
    g->app_addr = calloc(cfg->nin ? cfg->nin : 1, sizeof(struct sockaddr_storage));
    g->app_len = calloc(cfg->nin ? cfg->nin : 1, sizeof(unsigned));
    VMESH_ENSURE(g->provs && g->app_addr && g->app_len, VMESH_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < cfg->nin + cfg->nout; j++) {
        bool in = j < cfg->nin;
        size_t li = in ? j : j - cfg->nin;
        rc = listener_config(p, g, j, in ? &g->in_cfg[li] : &g->out_cfg[li]);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "%s listener %s", in ? "inbound" : "outbound", in ? cfg->in[li].name : cfg->out[li].name);
            goto out;
        }
        if (in) {
            rc = vmesh_net_resolve(cfg->in[li].app, 0, &g->app_addr[li], &g->app_len[li]);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "inbound %s: app", cfg->in[li].name);
                goto out;
            }
        } else {
            const px_outbound *o = &cfg->out[li];
            g->up_addr[li] = calloc(o->nup, sizeof(struct sockaddr_storage));
            g->up_len[li] = calloc(o->nup, sizeof(unsigned));
            VMESH_ENSURE(g->up_addr[li] && g->up_len[li], VMESH_ERR_NOMEM, "out of memory");
            for (size_t u = 0; u < o->nup; u++) {
                rc = vmesh_net_resolve(o->upstreams[u], 0, &g->up_addr[li][u], &g->up_len[li][u]);
                if (rc != VMESH_OK) {
                    vmesh_err_wrap(rc, "outbound %s: upstreams[%zu]", o->name, u);
                    goto out;
                }
            }
        }
    }
    g->cert_not_after = cert_not_after(cfg->cert);
    *out = g;
    g = NULL;
out:
    for (size_t i = 0; i < nr; i++)
        vmesh_policy_free(rpol[i]);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(ck);
    px_gen_unref(g);
    return rc;
}

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

#ifdef VMESH_HAVE_SYNC
static void on_snapshot(void *ctx, vmesh_rv_store *rv, vmesh_policy *policy)
{
    struct vmesh_proxy *p = ctx;
    px_gen *g;

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
    vmesh_log(VMESH_LOG_INFO, "proxy: new reference-value snapshot installed; re-appraising open connections");
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

/* ---- access log ------------------------------------------------------------------------------ */

static vmesh_err open_access_log(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    int fd;

    if (cfg->access_log == NULL)
        return VMESH_OK;
    if (strcmp(cfg->access_log, "-") == 0)
        fd = dup(STDERR_FILENO);
    else
        fd = open(cfg->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return vmesh_err_set(VMESH_ERR_IO, "access-log %s: %s", cfg->access_log, strerror(errno));
    if (p->access_fd < 0) {
        p->access_fd = fd;
    } else {
        /* Replace in place: workers keep writing to the same number. */
        (void)dup2(fd, p->access_fd);
        close(fd);
    }
    return VMESH_OK;
}

void px_access_log(struct vmesh_proxy *p, const char *line, size_t n)
{
    if (p->access_fd >= 0)
        (void)!write(p->access_fd, line, n);
}

/* ---- lifecycle ----------------------------------------------------------------------------------- */

static vmesh_err setup_rp(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    vmesh_err rc = VMESH_OK;
    vmesh_verifier_config vc;

    memset(&vc, 0, sizeof(vc));
    VMESH_GUARD(vmesh_verifier_new(&vc, (vmesh_verifier **)&p->verifier));
    if (cfg->bell_key) {
        rc = vmesh_crypto_key_load(cfg->bell_key, (vmesh_key **)&p->bell_key);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "verifier.bell.key");
            goto out;
        }
        VMESH_GUARD(vmesh_bell_view_new(p->bell_key, (vmesh_bell_view **)&p->bell));
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
        VMESH_GUARD(vmesh_sync_new(&sc, (vmesh_sync **)&p->sync));
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
            rc = vmesh_sync_add_rvp(p->sync, &r);
            vmesh_crypto_key_free(k);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "verifier.rvps[%zu]", i);
                goto out;
            }
        }
#else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "verifier.rvps: this build has no bundle sync client (use rv-files)");
#endif
    }
    if (cfg->nrv == 0 && cfg->nrvps == 0)
        atomic_store(&p->have_snapshot, true); /* nothing to wait for */
out:
    return rc;
}

vmesh_err vmesh_proxy_new(const char *config_path, vmesh_proxy **out)
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
    p->admin_fd = p->stop_fd = p->access_fd = -1;
    p->config_path = strdup(config_path);
    VMESH_ENSURE(p->config_path != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(vmesh_proxy_config_load(config_path, &cfg));
    vmesh_log_set_level((vmesh_log_level)cfg->log_level);
    VMESH_GUARD(setup_rp(p, cfg));
    VMESH_GUARD(open_access_log(p, cfg));
    if (cfg->admin_listen) {
        rc = px_admin_open(cfg->admin_listen, &p->admin_fd);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "admin.listen");
            goto out;
        }
    }
    VMESH_GUARD(px_workers_open(p, cfg));
    p->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    VMESH_ENSURE(p->stop_fd >= 0, VMESH_ERR_IO, "eventfd: %s", strerror(errno));
    rc = build_gen(p, cfg, &g);
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

/* Keys whose change needs a restart: listener addresses and the
 * process-wide relying-party plumbing. */
static vmesh_err reload_compatible(const vmesh_proxy_config *a, const vmesh_proxy_config *b)
{
#define SAME(x, y) (((x) == NULL && (y) == NULL) || ((x) != NULL && (y) != NULL && strcmp((x), (y)) == 0))
    if (a->nin != b->nin || a->nout != b->nout)
        return vmesh_err_set(VMESH_ERR_STATE, "the number of listeners changed: restart to apply");
    for (size_t i = 0; i < a->nin + a->nout; i++)
        if (!SAME(vmesh_proxy_config_listen(a, i), vmesh_proxy_config_listen(b, i)))
            return vmesh_err_set(VMESH_ERR_STATE, "listener address %s changed: restart to apply",
                                 vmesh_proxy_config_listen(a, i));
    if (!SAME(a->bell_key, b->bell_key) || !SAME(a->bell_url, b->bell_url) || a->nrvps != b->nrvps ||
        !SAME(a->admin_listen, b->admin_listen) || !SAME(a->state_dir, b->state_dir))
        return vmesh_err_set(VMESH_ERR_STATE,
                             "verifier.bell, verifier.rvps, verifier.state-dir or admin.listen changed: restart to apply");
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
    VMESH_GUARD(open_access_log(p, cfg));
    vmesh_log_set_level((vmesh_log_level)cfg->log_level);
    rc = build_gen(p, cfg, &g);
    cfg = NULL;
    VMESH_GUARD(rc);
    g->id = ++p->next_gen_id;
    pthread_mutex_lock(&p->gen_lock);
    old = p->gen;
    p->gen = g;
    pthread_mutex_unlock(&p->gen_lock);
    {
        /* Counters of the replaced agent stay in the totals. */
        vmesh_agent_stats st;
        vmesh_agent_stats_get(old->agent, &st);
        atomic_fetch_add(&p->m.agent_hits_base, st.cache_hits);
        atomic_fetch_add(&p->m.agent_misses_base, st.cache_misses);
    }
    px_gen_unref(old);
    atomic_fetch_add(&p->m.reloads, 1);
    vmesh_log(VMESH_LOG_INFO, "proxy: configuration %s reloaded (generation %llu); re-appraising open connections",
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

static void ep_add(int ep, int fd, void *tag)
{
    struct epoll_event e;

    memset(&e, 0, sizeof(e));
    e.events = EPOLLIN;
    e.data.ptr = tag;
    (void)epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static char tag_signal, tag_stop, tag_admin, tag_timer;

vmesh_err vmesh_proxy_run(vmesh_proxy *p)
{
    vmesh_err rc = VMESH_OK;
    sigset_t set;
    int sfd = -1, ep = -1, tfd = -1;
    uint64_t drain_deadline = 0, next_bell = 0;
    struct itimerspec its;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    VMESH_ENSURE(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, VMESH_ERR_IO, "pthread_sigmask failed");
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    VMESH_ENSURE(sfd >= 0 && ep >= 0 && tfd >= 0, VMESH_ERR_IO, "signalfd/epoll/timerfd: %s", strerror(errno));
    memset(&its, 0, sizeof(its));
    its.it_interval.tv_nsec = its.it_value.tv_nsec = 100 * 1000 * 1000;
    (void)timerfd_settime(tfd, 0, &its, NULL);
    ep_add(ep, sfd, &tag_signal);
    ep_add(ep, p->stop_fd, &tag_stop);
    ep_add(ep, tfd, &tag_timer);
    if (p->admin_fd >= 0)
        ep_add(ep, p->admin_fd, &tag_admin);
#ifdef VMESH_HAVE_SYNC
    if (p->sync)
        VMESH_GUARD(vmesh_sync_start(p->sync));
#endif
    VMESH_GUARD(px_workers_start(p));
    atomic_store(&p->ready, true);
    vmesh_log(VMESH_LOG_INFO, "proxy: serving %zu inbound and %zu outbound listeners with %zu workers", p->nin,
              p->nout, p->nworkers);
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        bool stop = false;

        if (n < 0 && errno != EINTR)
            VMESH_FAIL(VMESH_ERR_IO, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &tag_signal) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    if (si.ssi_signo == SIGHUP) {
                        if (vmesh_proxy_reload(p) != VMESH_OK)
                            vmesh_log(VMESH_LOG_ERROR, "proxy: reload failed, the previous configuration stays: %s",
                                      vmesh_err_detail());
                    } else {
                        stop = true;
                    }
                }
            } else if (tag == &tag_stop) {
                uint64_t v;
                (void)!read(p->stop_fd, &v, sizeof(v));
                stop = true;
            } else if (tag == &tag_admin) {
                px_admin_accept(p, ep);
            } else if (tag == &tag_timer) {
                uint64_t v;
                (void)!read(tfd, &v, sizeof(v));
                /* No periodic malloc_trim(): it walks and locks every
                 * arena, stalling the workers (bench/proxy p99 rose 4x),
                 * and the memory per idle connection is the same without
                 * it (atls gives back its handshake buffers itself). */
            } else {
                px_admin_event(p, tag, evs[i].events);
            }
        }
        if (stop && !atomic_load(&p->draining)) {
            px_gen *g = px_current_gen(p);
            drain_deadline = vmesh_time_mono_ns() + (uint64_t)g->cfg->drain_timeout_ms * 1000000u;
            px_gen_unref(g);
            vmesh_log(VMESH_LOG_INFO, "proxy: draining: no new connections; %lld open",
                      (long long)atomic_load(&p->m.total_active));
            atomic_store(&p->draining, true);
            px_workers_wake(p);
        }
        if (atomic_load(&p->draining)) {
            if (px_workers_alive(p) == 0)
                break;
            if (!atomic_load(&p->force_close) && vmesh_time_mono_ns() >= drain_deadline) {
                vmesh_log(VMESH_LOG_WARN, "proxy: drain timeout: closing %lld connections",
                          (long long)atomic_load(&p->m.total_active));
                atomic_store(&p->force_close, true);
                px_workers_wake(p);
            }
        } else if (vmesh_time_mono_ns() >= next_bell) {
            px_gen *g = px_current_gen(p);
            if (g->cfg->bell_file && refresh_bell(p, g->cfg) != VMESH_OK)
                vmesh_log(VMESH_LOG_DEBUG, "proxy: %s", vmesh_err_detail());
            next_bell = vmesh_time_mono_ns() + (uint64_t)g->cfg->bell_refresh_ms * 1000000u;
            px_gen_unref(g);
        }
    }
    px_workers_join(p);
    vmesh_log(VMESH_LOG_INFO, "proxy: drained, exiting");
out:
#ifdef VMESH_HAVE_SYNC
    if (p->sync)
        vmesh_sync_stop(p->sync);
#endif
    atomic_store(&p->draining, true);
    atomic_store(&p->force_close, true);
    px_workers_wake(p);
    px_workers_join(p);
    px_admin_close_all();
    if (sfd >= 0)
        close(sfd);
    if (ep >= 0)
        close(ep);
    if (tfd >= 0)
        close(tfd);
    return rc;
}

void vmesh_proxy_free(vmesh_proxy *p)
{
    if (p == NULL)
        return;
#ifdef VMESH_HAVE_SYNC
    vmesh_sync_free(p->sync);
#endif
    px_workers_free(p);
    px_gen_unref(p->gen);
    vmesh_policy_free(p->sync_policy);
    vmesh_verifier_free(p->verifier);
    vmesh_bell_view_free(p->bell);
    vmesh_crypto_key_free(p->bell_key);
    if (p->admin_fd >= 0)
        close(p->admin_fd);
    if (p->stop_fd >= 0)
        close(p->stop_fd);
    if (p->access_fd >= 0)
        close(p->access_fd);
    pthread_mutex_destroy(&p->gen_lock);
    pthread_mutex_destroy(&p->reload_lock);
    free(p->config_path);
    free(p);
}
