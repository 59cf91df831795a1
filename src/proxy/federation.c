/*
 * Identity files and federated bundles that change under a running proxy
 * (docs/FEDERATION.md). The watcher: once a second the control thread
 * stats the SVID chain, its key, the own bundle and every federated bundle
 * file; when one changed (spiffe-helper and cert-manager replace files by
 * rename) it reloads the configuration, which builds a new generation and
 * checks the pair (a mismatched or half-written pair fails the reload, the
 * old generation stays and open connections keep theirs). The refresher: a
 * thread that fetches each federated domain's bundle from its endpoint at
 * its refresh interval and writes it over the bundle file when it changed
 * and its sequence did not go down; the watcher then picks it up. Neither
 * may ever install something the reload did not check.
 */
#include "proxy_int.h"

#include "vmesh/pki.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DEFAULT_REFRESH_MS (5u * 60 * 1000)
#define RETRY_MS (30u * 1000)

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

static uint64_t file_sig(uint64_t h, const char *path)
{
    struct stat st;

    if (path == NULL)
        return h;
    if (stat(path, &st) != 0)
        return mix(h, (uint64_t)errno);
    h = mix(h, (uint64_t)st.st_ino);
    h = mix(h, (uint64_t)st.st_dev);
    h = mix(h, (uint64_t)st.st_size);
    h = mix(h, (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec);
    return mix(h, (uint64_t)st.st_ctim.tv_sec * 1000000000ULL + (uint64_t)st.st_ctim.tv_nsec);
}

static uint64_t files_sig(const vmesh_proxy_config *cfg)
{
    uint64_t h = 1469598103934665603ULL;

    h = file_sig(h, cfg->cert);
    h = file_sig(h, cfg->key);
    h = file_sig(h, cfg->bundle);
    for (size_t i = 0; i < cfg->nfeds; i++)
        h = file_sig(h, cfg->feds[i].bundle);
    return h;
}

void px_watch_files(struct vmesh_proxy *p)
{
    px_gen *g = px_current_gen(p);
    uint64_t sig = files_sig(g->cfg);

    px_gen_unref(g);
    if (!p->watch_init) {
        p->watch_init = true;
        p->watch_sig = sig;
        return;
    }
    if (sig == p->watch_sig)
        return;
    /* Remember it whatever the outcome: a broken pair is retried when the
     * files change again, not every second. */
    p->watch_sig = sig;
    atomic_fetch_add(&p->m.identity_changes, 1);
    vmesh_log(VMESH_LOG_INFO, "proxy: identity or bundle files changed; reloading");
    if (vmesh_proxy_reload(p) != VMESH_OK) {
        atomic_fetch_add(&p->m.identity_refused, 1);
        vmesh_log(VMESH_LOG_ERROR,
                  "proxy: the changed identity files were refused, the previous SVID and bundles "
                  "stay: %s",
                  vmesh_err_detail());
    }
    /* The reload itself may have changed what we watch. */
    g = px_current_gen(p);
    p->watch_sig = files_sig(g->cfg);
    px_gen_unref(g);
}

/* One refresh of federated domain f; *next_ms: when to try again. */
static void refresh_one(const px_fed *f, uint32_t *next_ms, vmesh_pki_trust *trust)
{
    vmesh_pki_endpoint ep = {.url = f->endpoint, .ca_file = f->endpoint_ca};
    vmesh_pki_bundle *cur = NULL, *next = NULL;
    vmesh_buf doc = {0};
    bool changed = false, has;
    uint64_t seq, cseq;
    int64_t hint;
    vmesh_err rc;

    *next_ms = RETRY_MS;
    if (f->profile && strcmp(f->profile, "https_spiffe") == 0) {
        ep.profile = VMESH_PKI_ENDPOINT_HTTPS_SPIFFE;
        ep.endpoint_id = f->endpoint_id;
        ep.trust = trust;
    }
    rc = vmesh_pki_bundle_load(f->bundle, &cur);
    if (rc == VMESH_OK)
        rc = vmesh_pki_bundle_fetch(&ep, &next);
    if (rc == VMESH_OK)
        rc = vmesh_pki_bundle_accept(cur, next, &changed);
    if (rc == VMESH_OK && changed) {
        rc = vmesh_pki_bundle_to_spiffe(next, &doc);
        if (rc == VMESH_OK)
            rc = vmesh_file_write(f->bundle, doc.data, doc.len, 0644);
    }
    if (rc != VMESH_OK) {
        vmesh_log(VMESH_LOG_WARN, "proxy: federation %s: bundle refresh failed, keeping %s: %s",
                  f->td, f->bundle, vmesh_err_detail());
        goto out;
    }
    seq = vmesh_pki_bundle_sequence(next, &has);
    cseq = vmesh_pki_bundle_sequence(cur, NULL);
    if (changed)
        vmesh_log(VMESH_LOG_INFO,
                  "proxy: federation %s: new bundle from %s (sequence %llu, was %llu, %zu "
                  "authorities) written to %s",
                  f->td, f->endpoint, (unsigned long long)seq, (unsigned long long)cseq,
                  vmesh_pki_bundle_count(next), f->bundle);
    hint = vmesh_pki_bundle_refresh_hint(next);
    if (f->refresh_ms)
        *next_ms = f->refresh_ms;
    else if (hint > 0)
        *next_ms = hint > 7 * 24 * 3600 ? 7u * 24 * 3600 * 1000 : (uint32_t)hint * 1000u;
    else
        *next_ms = DEFAULT_REFRESH_MS;
out:
    (void)has;
    vmesh_pki_bundle_free(cur);
    vmesh_pki_bundle_free(next);
    vmesh_buf_free(&doc);
}

static void *refresher(void *arg)
{
    struct vmesh_proxy *p = arg;
    uint64_t due[32] = {0};

    pthread_mutex_lock(&p->fed_lock);
    while (!p->fed_stop) {
        uint64_t now = vmesh_time_mono_ns(), wait_ns = 1000000000ULL;
        px_gen *g = px_current_gen(p);
        struct timespec ts;

        pthread_mutex_unlock(&p->fed_lock);
        for (size_t i = 0; i < g->cfg->nfeds && i < 32; i++) {
            uint32_t next_ms;

            if (g->cfg->feds[i].endpoint == NULL || now < due[i])
                continue;
            refresh_one(&g->cfg->feds[i], &next_ms, g->trust);
            due[i] = vmesh_time_mono_ns() + (uint64_t)next_ms * 1000000u;
        }
        px_gen_unref(g);
        pthread_mutex_lock(&p->fed_lock);
        if (p->fed_stop)
            break;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(wait_ns / 1000000000ULL);
        (void)pthread_cond_timedwait(&p->fed_cond, &p->fed_lock, &ts);
    }
    pthread_mutex_unlock(&p->fed_lock);
    return NULL;
}

vmesh_err px_fed_start(struct vmesh_proxy *p)
{
    px_gen *g = px_current_gen(p);
    bool any = false;

    for (size_t i = 0; i < g->cfg->nfeds; i++)
        any |= g->cfg->feds[i].endpoint != NULL;
    px_gen_unref(g);
    if (!any || p->fed_running)
        return VMESH_OK;
    p->fed_stop = false;
    if (pthread_create(&p->fed_thread, NULL, refresher, p) != 0)
        return vmesh_err_set(VMESH_ERR_IO, "cannot start the bundle refresher thread");
    p->fed_running = true;
    return VMESH_OK;
}

void px_fed_stop(struct vmesh_proxy *p)
{
    if (!p->fed_running)
        return;
    pthread_mutex_lock(&p->fed_lock);
    p->fed_stop = true;
    pthread_cond_signal(&p->fed_cond);
    pthread_mutex_unlock(&p->fed_lock);
    pthread_join(p->fed_thread, NULL);
    p->fed_running = false;
}
