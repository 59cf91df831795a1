/*
 * Configuration generations: everything a connection needs that a reload
 * may change (the policies and per-peer rules, the agent, one atls
 * configuration per listener with its session cache, the resolved app and
 * upstream addresses), built complete before it is installed and
 * refcounted: a connection keeps the generation it was accepted under, so a
 * reload never changes an open connection's TLS configuration. It must
 * never hand out a half-built generation.
 */
#define _GNU_SOURCE
#include "proxy_int.h"
#include "hspool.h"
#include "worker.h"

#include "vmesh/rv.h"
#include "vmesh/verifier.h"
#ifdef VMESH_HAVE_SERVICE
#include "vmesh/service.h"
#endif
#ifdef VMESH_HAVE_SYNC
#include "vmesh/sync.h"
#endif

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct px_prov {
    vmesh_atls_provider inner;
    struct vmesh_proxy *p;
} px_prov;

/* ---- verifier.central: reachability ------------------------------------------------------- */

#ifdef VMESH_HAVE_SERVICE
/* The central client's context with the proxy it reports to; sc first, so
 * that the generation frees it as the client it is. */
typedef struct {
    vmesh_service_client sc;
    struct vmesh_proxy *p;
} px_central_ctx;

/* One outcome (a peer's request or a probe): the loss and recovery lines,
 * once each, and the consecutive failures and last success for /metrics. */
static void px_central_outcome(struct vmesh_proxy *p, const char *url, vmesh_err rc)
{
    uint64_t before;

    if (rc != VMESH_OK) {
        if (atomic_fetch_add(&p->central.consecutive, 1) == 0)
            vmesh_log(VMESH_LOG_WARN, "proxy: central verifier %s unreachable: %s (peers are refused until it "
                      "answers; vmesh_central_verifier_up 0)", url, vmesh_err_detail());
        return;
    }
    atomic_store(&p->central.last_success_at, vmesh_time_now());
    before = atomic_exchange(&p->central.consecutive, 0);
    if (before > 0)
        vmesh_log(VMESH_LOG_INFO, "proxy: central verifier %s answers again after %llu failed requests or probes",
                  url, (unsigned long long)before);
}

/* A vmesh_agent_central_fn: the request, counted. An answer (VMESH_OK: an
 * EAR came back, whatever it says) is a success; no answer, an HTTP error
 * or a problem document is a failure. The first failure after a success and
 * the first success after failures are logged (WARN, INFO), once each. */
static vmesh_err px_central_call(void *ctx, const char *media_type, const uint8_t *evidence, size_t evidence_len,
                                 const uint8_t *nonce, size_t nonce_len, const char *peer, vmesh_buf *ear_jwt,
                                 uint8_t *channel_key, bool *channel)
{
    px_central_ctx *c = ctx;
    vmesh_err rc;
    uint64_t before;

    px_hspool_wait_begin(); /* D50: waiting for the verifier is not running */
    rc = vmesh_service_central_client(&c->sc, media_type, evidence, evidence_len, nonce, nonce_len, peer, ear_jwt,
                                      channel_key, channel);
    px_hspool_wait_end();

    atomic_fetch_add(&c->p->central.requests, 1);
    if (rc != VMESH_OK)
        atomic_fetch_add(&c->p->central.failures, 1);
    (void)before;
    px_central_outcome(c->p, c->sc.url, rc);
    return rc;
}

/* The probe thread: GET the verifier's well-known document over the relying
 * party's client (attested link and pin included) once per poll interval. */
static void *cprobe_main(void *arg)
{
    struct vmesh_proxy *p = arg;
    struct timespec ts;
    uint64_t wait_ms = 30000;

    for (;;) {
        px_gen *g = px_current_gen(p);
        if (g->central_rp != NULL) {
            vmesh_err rc;
            wait_ms = g->cfg->poll_interval_ms > 0 ? g->cfg->poll_interval_ms : 30000;
            vmesh_err_clear();
            if (g->central_rp->n_replicas == 0) {
                rc = vmesh_service_client_probe(g->central_rp);
                atomic_store(&g->central_url_up[0], (signed char)(rc == VMESH_OK));
            } else {
                /* each URL on its own, for its vmesh_central_verifier_reachable
                 * (D45); ready while one answers (attested: and attests) */
                char why[sizeof(p->central.probe_err)] = "";
                bool any = false;
                for (size_t i = 0; i <= g->central_rp->n_replicas && i < 64; i++) {
                    vmesh_err r1 = vmesh_service_client_probe_url(g->central_rp, i);
                    atomic_store(&g->central_url_up[i], (signed char)(r1 == VMESH_OK));
                    any = any || r1 == VMESH_OK;
                    if (r1 != VMESH_OK && why[0] == '\0')
                        snprintf(why, sizeof(why), "%s", vmesh_err_detail());
                    vmesh_err_clear();
                }
                rc = any ? VMESH_OK : vmesh_err_set(VMESH_ERR_IO, "%s", why);
            }
            pthread_mutex_lock(&p->central.probe_lock);
            snprintf(p->central.probe_url, sizeof(p->central.probe_url), "%s", g->central_rp->url);
            snprintf(p->central.probe_err, sizeof(p->central.probe_err), "%s",
                     rc == VMESH_OK ? "" : vmesh_err_detail());
            pthread_mutex_unlock(&p->central.probe_lock);
            atomic_store(&p->central.probe_down, rc != VMESH_OK);
            px_central_outcome(p, g->central_rp->url, rc);
            vmesh_err_clear();
        }
        px_gen_unref(g);
        pthread_mutex_lock(&p->central.probe_lock);
        if (p->central.probe_stop)
            break;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(wait_ms / 1000);
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&p->central.probe_cond, &p->central.probe_lock, &ts);
        if (p->central.probe_stop)
            break;
        pthread_mutex_unlock(&p->central.probe_lock);
    }
    pthread_mutex_unlock(&p->central.probe_lock);
    return NULL;
}
#endif

vmesh_err px_cprobe_start(struct vmesh_proxy *p)
{
#ifdef VMESH_HAVE_SERVICE
    px_gen *g = px_current_gen(p);
    bool any = g->central_rp != NULL;

    px_gen_unref(g);
    if (!any || p->central.probe_running)
        return VMESH_OK;
    p->central.probe_stop = false;
    if (pthread_create(&p->central.probe_thread, NULL, cprobe_main, p) != 0)
        return vmesh_err_set(VMESH_ERR_IO, "cannot start the central verifier probe thread");
    p->central.probe_running = true;
#else
    (void)p;
#endif
    return VMESH_OK;
}

void px_cprobe_stop(struct vmesh_proxy *p)
{
    if (!p->central.probe_running)
        return;
    pthread_mutex_lock(&p->central.probe_lock);
    p->central.probe_stop = true;
    pthread_cond_signal(&p->central.probe_cond);
    pthread_mutex_unlock(&p->central.probe_lock);
    pthread_join(p->central.probe_thread, NULL);
    p->central.probe_running = false;
}

bool px_cprobe_ready(struct vmesh_proxy *p, char *why, size_t n)
{
    if (!atomic_load(&p->central.probe_down))
        return true;
    pthread_mutex_lock(&p->central.probe_lock);
    snprintf(why, n, "central verifier %s unreachable: %s (peers are refused until it answers)",
             p->central.probe_url, p->central.probe_err);
    pthread_mutex_unlock(&p->central.probe_lock);
    return false;
}

/* ---- provider wrapper: attestation latency ------------------------------------------------ */

static vmesh_err prov_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg)
{
    px_prov *pv = ctx;

    return pv->inner.attest(pv->inner.ctx, in, msg);
}

static vmesh_err prov_appraise(void *ctx, const vmesh_atls_appraise_in *in,
                               vmesh_atls_peer_result *out, vmesh_atls_reason *reason)
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
    vmesh_buf_free(&g->kb_chain);
    vmesh_agent_free(g->agent);
    vmesh_verifier_free(g->issuer);
#ifdef VMESH_HAVE_SERVICE
    for (size_t i = 0; i < g->nissuers; i++) {
        vmesh_service_client_attest_free(&g->issuers[i]);
        vmesh_crypto_key_free(g->issuer_keys[i]);
        free(g->issuer_names[i]);
    }
    for (size_t i = 0; i < g->nbvs; i++)
        vmesh_rvp_verifiers_free(&g->bvs[i]);
    free(g->bvs);
    free(g->issuer_names);
    free(g->issuer_asked);
    free(g->issuers);
    free(g->issuer_keys);
    free(g->issuer_ok);
    vmesh_service_client_attest_free(g->central);
    vmesh_service_client_attest_free(g->central_rp);
    vmesh_service_client_batch_free(g->central_rp);
    free(g->central);
    free(g->central_rp);
    free(g->own_id);
#endif
    vmesh_policy_free(g->policy);
    vmesh_pki_trust_free(g->trust);
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
static vmesh_err make_policy(const vmesh_proxy_config *cfg, const px_gen *g, const px_rule *rule,
                             vmesh_policy **out)
{
    const json_t *overrides = rule ? rule->overrides : NULL;
    const char *id_suffix = rule ? rule->peer : NULL;
    /* a rule's own trusted verifiers replace the global list */
    char *const *tv = rule && rule->ntv > 0 ? rule->tv : cfg->trusted_verifiers;
    size_t ntv = rule && rule->ntv > 0 ? rule->ntv : cfg->ntv;
    vmesh_err rc = VMESH_OK;
    json_t *doc = cfg->policy_doc ? json_deep_copy(cfg->policy_doc)
                                  : json_pack("{s:s}", "format", "vmesh-policy/1");
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
            snprintf(buf, sizeof(buf), "%s#%s",
                     json_is_string(id) ? json_string_value(id) : "policy:vmesh/default",
                     id_suffix);
            json_object_set_new(doc, "id", json_string(buf));
        }
    }
    text = json_dumps(doc, JSON_COMPACT);
    VMESH_ENSURE(text != NULL, VMESH_ERR_NOMEM, "out of memory");
    snprintf(src, sizeof(src), "%s%s%s", cfg->policy_source ? cfg->policy_source : "policy",
             id_suffix ? " + rule for " : "", id_suffix ? id_suffix : "");
    VMESH_GUARD(vmesh_policy_parse((const uint8_t *)text, strlen(text), src, out));
    for (size_t i = 0; i < ntv; i++) {
        rc = vmesh_crypto_key_load(tv[i], &key);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "%s[%zu]", rule && rule->ntv > 0 ? "trusted-verifiers" : "verifier.trusted-verifiers",
                           i);
            goto out;
        }
        VMESH_GUARD(vmesh_policy_add_verifier_key(*out, key));
        vmesh_crypto_key_free(key);
        key = NULL;
    }
    /* attested passport issuers: only those affirming now (D31); a rule
     * with its own trusted verifiers trusts those only */
    for (size_t i = 0; !(rule && rule->ntv > 0) && i < g->nissuers; i++)
        if (atomic_load(&g->issuer_ok[i]))
            VMESH_GUARD(vmesh_policy_add_verifier_key(*out, g->issuer_keys[i]));
    /* keys known not to be trusted, so that a refusal names the verifier
     * (D40): issuers that do not attest now, verifiers that left a set */
#ifdef VMESH_HAVE_SERVICE
    for (size_t i = 0; i < g->nissuers; i++) {
        char why[400];
        if (atomic_load(&g->issuer_ok[i]))
            continue;
        if (g->issuer_names[i] != NULL)
            snprintf(why, sizeof(why), "verifier %s (%s), which does not attest as its trust-set entry says",
                     g->issuer_names[i], g->issuers[i].url);
        else
            snprintf(why, sizeof(why), "issuer %s, which does not attest", g->issuers[i].url);
        VMESH_GUARD(vmesh_policy_add_refused_verifier(*out, g->issuer_keys[i], why));
    }
#endif
    pthread_mutex_lock(&g->proxy->scope_lock);
    for (size_t i = 0; i < g->proxy->nleft && i < sizeof(g->proxy->left) / sizeof(g->proxy->left[0]) && rc == VMESH_OK;
         i++)
        rc = vmesh_policy_add_refused_verifier(*out, g->proxy->left[i].key, g->proxy->left[i].why);
    pthread_mutex_unlock(&g->proxy->scope_lock);
    VMESH_GUARD(rc);
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

/* identity.federation: our own trust domain (the SVID's) with
 * identity.bundle, and each federated domain with its bundle file. */
static vmesh_err build_trust(const vmesh_proxy_config *cfg, vmesh_pki_trust **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_pki_trust *t = NULL;
    vmesh_pki_bundle *b = NULL;
    char *id = NULL, *td = NULL;

    *out = NULL;
    if (cfg->nfeds == 0)
        goto out;
    VMESH_GUARD(vmesh_pki_trust_new(&t));
    rc = vmesh_pki_spiffe_id_from_pem_file(cfg->cert, &id);
    if (rc == VMESH_OK)
        rc = vmesh_pki_spiffe_id_trust_domain(id, &td);
    if (rc == VMESH_OK)
        rc = vmesh_pki_bundle_load(cfg->bundle, &b);
    if (rc == VMESH_OK)
        rc = vmesh_pki_trust_add(t, td, b);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "identity");
        goto out;
    }
    for (size_t i = 0; i < cfg->nfeds; i++) {
        vmesh_pki_bundle_free(b);
        b = NULL;
        rc = vmesh_pki_bundle_load(cfg->feds[i].bundle, &b);
        if (rc == VMESH_OK)
            rc = vmesh_pki_trust_add(t, cfg->feds[i].td, b);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "identity.federation[%zu] (%s)", i, cfg->feds[i].td);
            goto out;
        }
    }
    *out = t;
    t = NULL;
out:
    vmesh_pki_trust_free(t);
    vmesh_pki_bundle_free(b);
    free(id);
    free(td);
    return rc;
}

/* The leaf of chain is for key. */
static bool leaf_is_for(const vmesh_buf *chain, const vmesh_key *key)
{
    BIO *b = BIO_new_mem_buf(chain->data, (int)chain->len);
    X509 *leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    bool ok = leaf != NULL && EVP_PKEY_eq(X509_get0_pubkey(leaf), vmesh_crypto_key_evp(key)) == 1;

    ERR_clear_error();
    X509_free(leaf);
    BIO_free(b);
    return ok;
}

/* identity.keybound-issuer (D44): c gets the issuer's SVID for the
 * generation's AK (taken, with the AK, from keybound.c's state in one
 * step) when there is one. */
static vmesh_err kb_svid(px_gen *g, vmesh_atls_config *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;

    VMESH_GUARD(vmesh_agent_tls_key(g->agent, &k));
    if (g->kb_chain.len > 0 && leaf_is_for(&g->kb_chain, k)) {
        VMESH_GUARD(vmesh_atls_config_set_svid_key(c, g->kb_chain.data, g->kb_chain.len, k));
        g->cert_not_after = g->kb_not_after;
    }
    /* else no SVID yet: handshakes fail, /ready says why */
out:
    vmesh_crypto_key_free(k);
    return rc;
}

static vmesh_err listener_config(struct vmesh_proxy *p, px_gen *g, size_t j,
                                 vmesh_atls_config **out)
{
    vmesh_err rc = VMESH_OK;
    const vmesh_proxy_config *cfg = g->cfg;
    bool in = j < cfg->nin;
    const char *peer = in ? cfg->in[j].peer : cfg->out[j - cfg->nin].peer;
    px_prov *pv = &g->provs[j];
    vmesh_atls_provider prov;
    vmesh_atls_config *c = NULL;

    VMESH_GUARD(vmesh_atls_config_new(in ? VMESH_ATLS_SERVER : VMESH_ATLS_CLIENT, &c));
    VMESH_GUARD(vmesh_atls_config_set_chain_cache(c, cfg->chain_cache));
    if (cfg->keybound)
        VMESH_GUARD(kb_svid(g, c)); /* the issuer's SVID for our AK (D44) */
    else
        VMESH_GUARD(vmesh_atls_config_set_svid(c, cfg->cert, cfg->key));
    VMESH_GUARD(vmesh_atls_config_set_bundle(c, cfg->bundle));
    if (g->trust)
        VMESH_GUARD(vmesh_atls_config_set_trust(c, g->trust));
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
    if (in) {
        vmesh_atls_config_set_evidence_after_auth(c, cfg->in[j].evidence_after_auth);
        VMESH_GUARD(vmesh_atls_config_set_fresh_hello_limit(c, cfg->in[j].fresh_hello_rate,
                                                            cfg->in[j].fresh_hello_burst));
    } else if (cfg->out[j - cfg->nin].no_resumption) {
        vmesh_atls_config_set_resumption(c, false);
    }
    vmesh_atls_config_set_reattest(c, cfg->reattest); /* in-band stream (reattest.c) */
    /* Idle connections give their record buffers back. */
    SSL_CTX_set_mode((SSL_CTX *)vmesh_atls_config_ssl_ctx(c), SSL_MODE_RELEASE_BUFFERS);
    *out = c;
    c = NULL;
out:
    vmesh_atls_config_free(c);
    return rc;
}

/* verifier.passport-issuers (D31): each issuer's platform is attested now;
 * its EAR key goes into the policies only when that affirms. */
#ifdef VMESH_HAVE_SERVICE
static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The index of the issuer in old that is sc as is (same url, EAR key,
 * reference values, pin, platform); old->nissuers: none. */
static size_t old_issuer(const px_gen *old, const vmesh_service_client *sc)
{
    for (size_t j = 0; j < old->nissuers; j++) {
        const vmesh_service_client *o = &old->issuers[j];
        if (strcmp(o->url, sc->url) == 0 && vmesh_crypto_key_equal(o->ear_key, sc->ear_key) &&
            same_str(o->verifier_rv, sc->verifier_rv) && same_str(o->tls_pin, sc->tls_pin) &&
            o->rv_source == sc->rv_source && same_str(o->platform_scheme, sc->platform_scheme) &&
            o->platform_class_len == sc->platform_class_len &&
            (sc->platform_class_len == 0 || memcmp(o->platform_class, sc->platform_class, sc->platform_class_len) == 0))
            return j;
    }
    return old->nissuers;
}

/* verifier.issuers-from: bundle (D40): copies the trust sets of the last
 * snapshot into g (its bundle issuers point into them); returns how many
 * verifiers they name. */
static vmesh_err take_trust_sets(px_gen *g, size_t *count)
{
    vmesh_err rc = VMESH_OK;
    struct vmesh_proxy *p = g->proxy;

    *count = 0;
    if (!g->cfg->issuers_bundle || p->nrvp_rv == 0 || p->rvp_vs == NULL)
        return VMESH_OK;
    g->bvs = calloc(p->nrvp_rv, sizeof(*g->bvs));
    VMESH_ENSURE(g->bvs != NULL, VMESH_ERR_NOMEM, "out of memory");
    g->nbvs = p->nrvp_rv;
    pthread_mutex_lock(&p->scope_lock);
    for (size_t i = 0; i < p->nrvp_rv && rc == VMESH_OK; i++) {
        rc = vmesh_rvp_verifiers_copy(&g->bvs[i], &p->rvp_vs[i]);
        *count += g->bvs[i].n;
    }
    pthread_mutex_unlock(&p->scope_lock);
out:
    return rc;
}
#endif

static vmesh_err build_issuers(px_gen *g, const vmesh_proxy_config *cfg)
{
    vmesh_err rc = VMESH_OK;
    px_gen *old = NULL;

#ifdef VMESH_HAVE_SERVICE
    size_t j, nb = 0, n;
    VMESH_GUARD(take_trust_sets(g, &nb));
    n = cfg->nissuers + nb;
    if (n == 0)
        return VMESH_OK;
    g->issuers = calloc(n, sizeof(*g->issuers));
    g->issuer_keys = calloc(n, sizeof(*g->issuer_keys));
    g->issuer_ok = calloc(n, sizeof(*g->issuer_ok));
    g->issuer_names = calloc(n, sizeof(*g->issuer_names));
    g->issuer_asked = calloc(n, sizeof(*g->issuer_asked));
    VMESH_ENSURE(g->issuers && g->issuer_keys && g->issuer_ok && g->issuer_names && g->issuer_asked, VMESH_ERR_NOMEM,
                 "out of memory");
    old = g->proxy->gen != NULL ? px_current_gen(g->proxy) : NULL;
    for (size_t i = 0; i < cfg->nissuers; i++) {
        vmesh_service_client *sc = &g->issuers[i];
        const px_issuer *is = &cfg->issuers[i];
        rc = vmesh_crypto_key_load(is->key, &g->issuer_keys[i]);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "verifier.passport-issuers[%zu].key", i);
            goto out;
        }
        g->nissuers = i + 1;
        sc->url = is->url;
        /* asked from the control thread: keep a dead issuer's cost small */
        sc->timeout_ms = cfg->handshake_timeout_ms < 2000 ? cfg->handshake_timeout_ms : 2000;
        sc->tls_pin = is->tls_pin;
        sc->verifier_rv = is->verifier_rv;
        if (is->verifier_rv == NULL)
            sc->rv_source = g->proxy->verifier; /* the synced snapshot (D37) */
        sc->attest_recheck = is->attest_recheck;
        sc->ear_key = g->issuer_keys[i];
        rc = vmesh_service_client_attest_init(sc);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "verifier.passport-issuers[%zu]", i);
            goto out;
        }
        /* A reload takes the standing of an issuer the running generation
         * knows (the watcher thread keeps it current and re-asks this
         * generation's link within a second): no round trip here on the
         * control thread. Only the first generation asks at once. */
        if (old != NULL && (j = old_issuer(old, sc)) < old->nissuers) {
            atomic_store(&g->issuer_ok[i], atomic_load(&old->issuer_ok[j]));
            continue;
        }
        /* A new issuer is untrusted until the watcher thread asked it (the
         * first generation: before /ready, px_links_ready) */
        atomic_store(&g->issuer_ok[i], false);
    }
    /* the verifiers of the bundles' trust sets (D40), each judged by the
     * reference values of its own RVP's bundle, as the class it names */
    for (size_t r = 0, i = cfg->nissuers; r < g->nbvs; r++) {
        const char *rvp_name = "?";
#ifdef VMESH_HAVE_SYNC
        vmesh_sync_rvp_status st;
        if (vmesh_sync_rvp_status_at(g->proxy->sync, r, &st) && st.name[0])
            rvp_name = st.name;
#endif
        for (size_t k = 0; k < g->bvs[r].n; k++, i++) {
            vmesh_service_client *sc = &g->issuers[i];
            const vmesh_rvp_verifier *v = &g->bvs[r].v[k];
            char name[300];
            g->issuer_keys[i] = vmesh_crypto_key_ref(v->ear_key);
            g->nissuers = i + 1;
            snprintf(name, sizeof(name), "%s (rvp %.140s)", v->name, rvp_name);
            g->issuer_names[i] = strdup(name);
            VMESH_ENSURE(g->issuer_names[i] != NULL, VMESH_ERR_NOMEM, "out of memory");
            sc->url = v->url;
            sc->timeout_ms = cfg->handshake_timeout_ms < 2000 ? cfg->handshake_timeout_ms : 2000;
            sc->rv_source = g->proxy->rvp_eng[r]; /* that RVP's own reference values */
            sc->platform_scheme = v->scheme;
            sc->platform_class = v->class_id;
            sc->platform_class_len = v->class_id_len;
            sc->ear_key = v->ear_key;
            rc = vmesh_service_client_attest_init(sc);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "verifier %s of the bundle's verifier trust set", name);
                goto out;
            }
            /* A standing the running generation knows carries over; a new
             * verifier is asked by the watcher thread within a second (not
             * here: a reload runs on the control thread). */
            if (old != NULL && (j = old_issuer(old, sc)) < old->nissuers)
                atomic_store(&g->issuer_ok[i], atomic_load(&old->issuer_ok[j]));
        }
    }
#else
    (void)g;
    VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "verifier.passport-issuers: this build has no verifier client");
#endif
out:
    px_gen_unref(old);
    return rc;
}

#ifdef VMESH_HAVE_SERVICE
/* The same verifier.central replicas, in the same order. */
static bool same_replicas(const vmesh_proxy_config *a, const vmesh_proxy_config *b)
{
    if (a->n_central_replicas != b->n_central_replicas)
        return false;
    for (size_t i = 0; i < a->n_central_replicas; i++)
        if (strcmp(a->central_replicas[i], b->central_replicas[i]) != 0)
            return false;
    return true;
}

/* The central verifier of verifier.central (D39): while its platform does
 * not attest under the current reference values, the agent refuses every
 * appraisal without asking it and has dropped its cached results, and the
 * workers re-judge every open connection at once: those it admitted are
 * closed (ear-untrusted). Back to affirming: it is asked again.
 * With replicas (D45) each URL is attested on its own and the verifier
 * attests while one URL does with the EAR key verifier.central.key names
 * (every replica must attest that key) and no refused URL's evidence binds
 * that key: a replica refused for its platform alone is skipped (logged
 * once, here and by the link) while the others serve; a refused replica
 * that holds the shared key makes the key itself untrusted, which is the
 * whole verifier's distrust above. */
static void watch_central(struct vmesh_proxy *p, px_gen *g)
{
    bool ok, was;
    size_t n;

    if (g->central_rp == NULL || g->central_rp->vlink == NULL)
        return;
    ok = vmesh_service_client_attest(g->central_rp, NULL) == VMESH_OK;
    was = vmesh_agent_central_trusted(g->agent);
    if (ok != was) {
        vmesh_agent_central_trust(g->agent, ok, ok ? NULL : vmesh_err_detail());
        vmesh_log(VMESH_LOG_WARN, "proxy: central verifier %s %s%s%s", g->central_rp->url,
                  ok ? "attests again: its appraisals are accepted" : "no longer attests: ",
                  ok ? "" : vmesh_err_detail(),
                  ok ? "" : "; its results are dropped, new peers refused and the connections it admitted "
                            "re-appraised");
        if (!ok) {
            atomic_fetch_add(&p->reappraise_gen, 1);
            px_workers_wake(p);
        }
    }
    vmesh_err_clear();
    /* each URL's standing (cached by the call above: no round trip) */
    n = 1 + g->central_rp->n_replicas;
    for (size_t i = 0; i < n && i < 64; i++) {
        bool u = vmesh_service_client_attest_url(g->central_rp, i, NULL) == VMESH_OK;
        signed char before = atomic_exchange(&g->central_url_ok[i], (signed char)u);
        if (n > 1 && before != (signed char)u && (before != -1 || !u))
            vmesh_log(VMESH_LOG_WARN, "proxy: central verifier replica %s %s%s", i == 0 ? g->central_rp->url
                                                                                      : g->central_rp->replicas[i - 1],
                      u ? "attests again: evidence goes to it" : "does not attest: no evidence goes to it: ",
                      u ? "" : vmesh_err_detail());
        vmesh_err_clear();
    }
}

/* Our own passport issuer (verifier.passport with attestation): asked here
 * too, so that a new snapshot re-attests it off the handshake path; a
 * change is logged once (passport requests are refused by the link). */
static void watch_passport(px_gen *g)
{
    bool ok;

    if (g->central == NULL || g->central->vlink == NULL)
        return;
    ok = vmesh_service_client_attest(g->central, NULL) == VMESH_OK;
    if (ok != atomic_exchange(&g->passport_ok, ok))
        vmesh_log(VMESH_LOG_WARN, "proxy: our passport issuer %s %s%s", g->central->url,
                  ok ? "attests again: passports are fetched from it" : "no longer attests: no passport is "
                                                                        "fetched from it: ",
                  ok ? "" : vmesh_err_detail());
    vmesh_err_clear();
}
#endif

/* Every attested verifier link of the generation in force: the passport
 * issuers, the central verifier, our passport issuer. */
static bool watch_links(struct vmesh_proxy *p)
{
    px_gen *g = px_current_gen(p);
    bool changed = false;

#ifdef VMESH_HAVE_SERVICE
    if (g != NULL) {
        watch_central(p, g);
        watch_passport(g);
    }
#endif
    for (size_t i = 0; g != NULL && i < g->nissuers; i++) {
#ifdef VMESH_HAVE_SERVICE
        bool ok = vmesh_service_client_attest(&g->issuers[i], NULL) == VMESH_OK;
        bool first = g->issuer_names[i] != NULL && !g->issuer_asked[i];
        g->issuer_asked[i] = true; /* this thread alone */
        if (first && !ok && !atomic_load(&g->issuer_ok[i]))
            vmesh_log(VMESH_LOG_WARN, "proxy: passport issuer %s = verifier %s: its passports are refused until it "
                      "attests: %s", g->issuers[i].url, g->issuer_names[i], vmesh_err_detail());
        if (ok != atomic_exchange(&g->issuer_ok[i], ok)) {
            vmesh_log(VMESH_LOG_WARN, "proxy: passport issuer %s%s%s %s%s%s", g->issuers[i].url,
                      g->issuer_names[i] ? " = verifier " : "", g->issuer_names[i] ? g->issuer_names[i] : "",
                      ok ? "attests again: its passports are accepted" : "no longer attests: ",
                      ok ? "" : vmesh_err_detail(), ok ? "" : "; its passports are refused and the connections "
                                                              "they admitted re-appraised");
            /* at once: the next issuer may take its whole timeout */
            atomic_store(&p->iss_changed, true);
            changed = true;
        } else if (!ok && !g->links_asked) {
            vmesh_log(VMESH_LOG_WARN, "proxy: passports signed by issuer %s are refused until it attests: %s",
                      g->issuers[i].url, vmesh_err_detail());
        }
        vmesh_err_clear();
#endif
    }
    if (g != NULL)
        g->links_asked = true; /* this thread only */
    px_gen_unref(g); /* the control thread reloads: its tick comes within 100 ms */
    return changed;
}

/* The issuers (and the central verifier, our passport issuer) are asked on
 * a thread of their own, about once a second and at once after a new RV
 * snapshot (px_links_kick): a dead or slow issuer (up to min(2 s,
 * handshake-timeout) per round trip) never stalls the control thread, its
 * admin endpoint, its timers or a worker. */
static void *issuer_watcher(void *arg)
{
    struct vmesh_proxy *p = arg;

    pthread_mutex_lock(&p->iss_lock);
    while (!p->iss_stop) {
        struct timespec ts;

        pthread_mutex_unlock(&p->iss_lock);
        /* the first round done: ready now, or once the reload it asked for
         * is in force (the control thread sets iss_asked then) */
        if (!watch_links(p))
            atomic_store(&p->iss_asked, true);
        pthread_mutex_lock(&p->iss_lock);
        if (p->iss_stop)
            break;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        if (!p->iss_kick)
            (void)pthread_cond_timedwait(&p->iss_cond, &p->iss_lock, &ts);
        p->iss_kick = false;
    }
    pthread_mutex_unlock(&p->iss_lock);
    return NULL;
}

void px_links_kick(struct vmesh_proxy *p)
{
    pthread_mutex_lock(&p->iss_lock);
    p->iss_kick = true;
    pthread_cond_signal(&p->iss_cond);
    pthread_mutex_unlock(&p->iss_lock);
}

vmesh_err px_issuers_start(struct vmesh_proxy *p)
{
    if (p->iss_running)
        return VMESH_OK;
    p->iss_stop = false;
    if (pthread_create(&p->iss_thread, NULL, issuer_watcher, p) != 0)
        return vmesh_err_set(VMESH_ERR_IO, "cannot start the passport-issuer watcher thread");
    p->iss_running = true;
    return VMESH_OK;
}

void px_issuers_stop(struct vmesh_proxy *p)
{
    if (!p->iss_running)
        return;
    pthread_mutex_lock(&p->iss_lock);
    p->iss_stop = true;
    pthread_cond_signal(&p->iss_cond);
    pthread_mutex_unlock(&p->iss_lock);
    pthread_join(p->iss_thread, NULL);
    p->iss_running = false;
}

vmesh_err px_gen_build(struct vmesh_proxy *p, vmesh_proxy_config *cfg, px_gen **out)
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
    atomic_store(&g->passport_ok, true);
    g->cfg = cfg;
    g->proxy = p;
    for (size_t i = 0; i < PX_MAX_LISTENERS; i++)
        pthread_mutex_init(&g->sessions[i].lock, NULL);
    /* policies */
    VMESH_GUARD(build_issuers(g, cfg));
    if (cfg->policy_doc == NULL && p->sync_policy != NULL && cfg->ntv == 0 && cfg->nissuers == 0 &&
        !cfg->issuers_bundle)
        g->policy = vmesh_policy_ref(p->sync_policy);
    else
        VMESH_GUARD(make_policy(cfg, g, NULL, &g->policy));
    for (; nr < cfg->nrules; nr++) {
        rc = make_policy(cfg, g, &cfg->rules[nr], &rpol[nr]);
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
        rc = vmesh_verifier_new(&vc, &g->issuer);
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
        if (strncmp(cfg->passport_central, "http://", 7) == 0)
            vmesh_log(VMESH_LOG_WARN, "INSECURE: verifier.passport.central %s is plain http:// "
                      "(insecure-plain-http: true): the evidence travels in clear", cfg->passport_central);
        /* a call runs in the handshake pool for one connection: it never
         * needs to outlive that connection's deadline */
        sc->timeout_ms = cfg->handshake_timeout_ms;
        g->central = sc;
        sc->tls_pin = cfg->passport_tls_pin;
        if (cfg->passport_verifier_rv != NULL || cfg->passport_attested) {
            sc->verifier_rv = cfg->passport_verifier_rv;
            if (sc->verifier_rv == NULL)
                sc->rv_source = p->verifier; /* the synced snapshot (D39) */
            sc->attest_recheck = cfg->passport_attest_recheck;
            rc = vmesh_service_client_attest_init(sc);
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "verifier.passport.%s", cfg->passport_verifier_rv ? "verifier-rv" : "attested");
                goto out;
            }
        }
        /* our SPIFFE ID goes with each passport request: a verifier with
         * scoped RVPs appraises us with our domain's (docs/FEDERATION.md) */
        if (vmesh_pki_spiffe_id_from_pem_file(cfg->cert, &g->own_id) == VMESH_OK)
            sc->peer = g->own_id;
        else
            vmesh_err_clear();
        ac.passport = vmesh_service_passport_client;
        ac.passport_ctx = sc;
#else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                   "verifier.passport.central: this build has no central-verifier client");
#endif
    }
    if (cfg->central_url) {
#ifdef VMESH_HAVE_SERVICE
        px_central_ctx *cc = calloc(1, sizeof(*cc));
        vmesh_service_client *sc = cc ? &cc->sc : NULL;
        VMESH_ENSURE(cc != NULL, VMESH_ERR_NOMEM, "out of memory");
        cc->p = p;
        sc->url = cfg->central_url;
        sc->replicas = (const char *const *)cfg->central_replicas;
        sc->n_replicas = cfg->n_central_replicas;
        sc->timeout_ms = cfg->handshake_timeout_ms;
        g->central_rp = sc;
        for (size_t i = 0; i < 64; i++) {
            atomic_store(&g->central_url_ok[i], (signed char)-1);
            atomic_store(&g->central_url_up[i], (signed char)-1);
        }
        rc = vmesh_crypto_key_load(cfg->central_key, &ck);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "verifier.central.key");
            goto out;
        }
        ac.central = px_central_call;
        ac.central_ctx = cc;
        ac.central_key = ck;
        ac.central_cache_seconds = cfg->central_cache;
        ac.central_behind_wait_ms = cfg->central_behind_wait_ms > 0 ? (int64_t)cfg->central_behind_wait_ms : -1;
        ac.central_issuer = cfg->central_issuer;
        sc->tls_pin = cfg->central_tls_pin;
        sc->signed_answers = cfg->central_signed_answers;
        if (!cfg->central_no_batch) {
            rc = vmesh_service_client_batch_init(sc, 0); /* D53 */
            if (rc != VMESH_OK)
                goto out;
        }
        if (cfg->central_verifier_rv != NULL || cfg->central_attested) {
            /* the attested EAR key must be the configured one (D31) */
            sc->ear_key = ck;
            sc->verifier_rv = cfg->central_verifier_rv;
            if (sc->verifier_rv == NULL)
                sc->rv_source = p->verifier; /* the synced snapshot (D39) */
            sc->attest_recheck = cfg->central_attest_recheck;
            rc = vmesh_service_client_attest_init(sc); /* takes its own reference */
            sc->ear_key = NULL; /* the agent checks the answers with ck */
            if (rc != VMESH_OK) {
                vmesh_err_wrap(rc, "verifier.central.%s", cfg->central_verifier_rv ? "verifier-rv" : "attested");
                goto out;
            }
        }
        if (strncmp(cfg->central_url, "http://", 7) == 0)
            vmesh_log(VMESH_LOG_WARN, "INSECURE: verifier.central %s is plain http:// (insecure-plain-http: true): "
                      "the evidence travels in clear and anyone on the path can delay or drop the verifier's "
                      "answers", cfg->central_url);
#else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                   "verifier.central: this build has no central-verifier client");
#endif
    }
    ac.cache_slots = cfg->ar_cache_slots;
    ac.platform = cfg->platform;
    ac.platform_cfg = cfg->kv;
    ac.n_platform_cfg = cfg->nkv;
    ac.attest_modes = cfg->attest_modes;
    ac.ak_rotate_seconds = cfg->ak_rotate;
    ac.verifier = p->verifier;
    if (px_rvps_scoped(cfg)) {
        ac.rv_for = px_scoped_rv;
        ac.rv_for_ctx = g;
    }
    ac.policy = g->policy;
    ac.bell = p->bell;
    ac.keybound = cfg->keybound;
    if (cfg->keybound) {
        /* the agent goes on with the AK the SVID in p->kb certifies (made by
         * keybound.c's agent for the issuance, D44); none yet: a new AK */
        pthread_mutex_lock(&p->kb.lock);
        ac.keybound_from = p->kb.agent;
        rc = vmesh_agent_new(&ac, &g->agent);
        if (rc == VMESH_OK && p->kb.agent != NULL) {
            rc = vmesh_buf_set(&g->kb_chain, p->kb.chain.data, p->kb.chain.len);
            g->kb_not_after = p->kb.not_after;
        }
        pthread_mutex_unlock(&p->kb.lock);
    } else {
        rc = vmesh_agent_new(&ac, &g->agent);
    }
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "attester");
        goto out;
    }
    VMESH_GUARD(vmesh_agent_set_rules(g->agent, rules, nr));
#ifdef VMESH_HAVE_SERVICE
    /* A reload keeps the standing of the same attested central verifier
     * (the watcher re-asks within a second); no round trip here. */
    if (g->central_rp != NULL && g->central_rp->vlink != NULL && p->gen != NULL) {
        px_gen *old = px_current_gen(p);
        const vmesh_proxy_config *oc = old->cfg;
        if (old->central_rp != NULL && old->central_rp->vlink != NULL && !vmesh_agent_central_trusted(old->agent) &&
            strcmp(oc->central_url, cfg->central_url) == 0 && strcmp(oc->central_key, cfg->central_key) == 0 &&
            same_str(oc->central_verifier_rv, cfg->central_verifier_rv) &&
            same_str(oc->central_tls_pin, cfg->central_tls_pin) && same_replicas(oc, cfg))
            vmesh_agent_central_trust(g->agent, false, "it did not attest before this reload");
        px_gen_unref(old);
    }
#endif
    VMESH_GUARD(build_trust(cfg, &g->trust));
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
            vmesh_err_wrap(rc, "%s listener %s", in ? "inbound" : "outbound",
                           in ? cfg->in[li].name : cfg->out[li].name);
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
    if (!cfg->keybound)
        g->cert_not_after = cert_not_after(cfg->cert);
    if (cfg->kb_issuer) {
        /* the bootstrap SVID must load: the issuer is reached with it */
        vmesh_atls_config *bc = NULL;
        rc = vmesh_atls_config_new(VMESH_ATLS_CLIENT, &bc);
        if (rc == VMESH_OK)
            rc = vmesh_atls_config_set_svid(bc, cfg->cert, cfg->key);
        vmesh_atls_config_free(bc);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "identity (the bootstrap SVID for identity.keybound-issuer)");
            goto out;
        }
    }
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
