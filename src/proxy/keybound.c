/*
 * The key-bound identity of the proxy (DECISIONS D44, docs/PROXY.md
 * "Key-bound SVIDs"): with identity.keybound-issuer and attester.keybound
 * the agent's AK, generated in memory, is also the listeners' TLS key; its
 * X509-SVID comes from the attested issuer (vmesh ca serve), never from a
 * file. A thread of its own obtains one at start and a new one at half its
 * lifetime, each for a new AK made by an agent of our platform that attests
 * to the issuer (the bootstrap SVID from identity.cert/key authenticates
 * those exchanges only); each new SVID reaches the listeners through a
 * reload, the path every other identity change takes (a new generation
 * whose agent takes that AK over, D44). A failing issuer: the current SVID is kept
 * until it expires, one line per retry interval, /ready 503 while there is
 * none. The SVID lives in memory only. gen.c puts it into each listener's
 * configuration (kb_svid) and metrics.c shows the counters.
 */
#include "proxy_int.h"

#include "vmesh/issuer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KB_RETRY_MS 5000u

bool px_kb_ready(struct vmesh_proxy *p, char *why, size_t n)
{
    px_gen *g = px_current_gen(p);
    bool kb = g->cfg->kb_issuer, ok = true;
    int64_t now = vmesh_time_now();

    /* An SVID in force and valid is enough: a renewal obtained but not
     * yet in force (the reload follows within 100 ms) is no reason for 503. */
    if (kb && g->cert_not_after <= now) {
        pthread_mutex_lock(&p->kb.lock);
        ok = false;
        if (p->kb.chain.len == 0)
            snprintf(why, n, "no key-bound SVID yet: issuer %s: %s", g->cfg->kb_addr,
                     p->kb.err[0] ? p->kb.err : "not asked yet");
        else if (p->kb.not_after <= now)
            snprintf(why, n, "the key-bound SVID expired %lld s ago: issuer %s: %s",
                     (long long)(now - p->kb.not_after), g->cfg->kb_addr, p->kb.err[0] ? p->kb.err : "");
        else
            snprintf(why, n, "the key-bound SVID is not in force yet");
        pthread_mutex_unlock(&p->kb.lock);
    }
    px_gen_unref(g);
    return ok;
}

static void *kb_thread(void *arg)
{
    struct vmesh_proxy *p = arg;
    int64_t next_try = 0;
    vmesh_buf chain = {0};

    pthread_mutex_lock(&p->kb.lock);
    while (!p->kb.stop) {
        int64_t now = vmesh_time_now(), due = 0, wake;
        struct timespec ts;

        if (p->kb.chain.len > 0)
            due = p->kb.obtained_at + (p->kb.not_after - p->kb.obtained_at) / 2;
        if (now >= due && now >= next_try) {
            px_gen *g = px_current_gen(p);
            const vmesh_proxy_config *cfg = g->cfg;
            vmesh_issuer_client ic = {0};
            vmesh_agent_config ac = {0};
            vmesh_agent *cand = NULL, *old = NULL;
            int64_t na = 0;
            uint32_t retry = cfg->kb_retry_ms ? cfg->kb_retry_ms : KB_RETRY_MS;
            vmesh_err rc;

            pthread_mutex_unlock(&p->kb.lock);
            /* Every SVID certifies a new AK (D38: the key lives as long as
             * its SVID): an agent of our platform made for it attests to the
             * issuer; the next generation's agent takes its AK over. */
            ac.platform = cfg->platform;
            ac.platform_cfg = cfg->kv;
            ac.n_platform_cfg = cfg->nkv;
            ac.attest_modes = VMESH_ATLS_MODE_BIT(VMESH_ATLS_MODE_FRESH);
            ac.keybound = true;
            ic.addr = cfg->kb_addr;
            ic.issuer_id = cfg->kb_id;
            ic.cert_file = cfg->cert;
            ic.key_file = cfg->key;
            ic.bundle_file = cfg->bundle;
            ic.timeout_ms = cfg->kb_timeout_ms;
            ic.ttl = (uint64_t)cfg->kb_ttl;
            rc = vmesh_agent_new(&ac, &cand);
            if (rc == VMESH_OK)
                rc = vmesh_issuer_obtain(&ic, cand, &chain, &na);
            pthread_mutex_lock(&p->kb.lock);
            now = vmesh_time_now();
            if (rc == VMESH_OK) {
                vmesh_buf_free(&p->kb.chain);
                p->kb.chain = chain;
                memset(&chain, 0, sizeof(chain));
                old = p->kb.agent;
                p->kb.agent = cand;
                cand = NULL;
                p->kb.not_after = na;
                p->kb.obtained_at = now;
                p->kb.err[0] = '\0';
                next_try = 0;
                atomic_fetch_add(&p->kb.issued, 1);
                atomic_store(&p->kb.changed, true); /* the control thread reloads within 100 ms */
                vmesh_log(VMESH_LOG_INFO, "proxy: key-bound SVID for a new AK from issuer %s (%s), valid %lld s, "
                          "renewed in %lld s", cfg->kb_addr, cfg->kb_id, (long long)(na - now), (long long)((na - now) / 2));
            } else {
                snprintf(p->kb.err, sizeof(p->kb.err), "%s", vmesh_err_detail());
                atomic_fetch_add(&p->kb.failures, 1);
                next_try = now + (int64_t)((retry + 999) / 1000);
                /* one line per attempt, i.e. per retry interval */
                if (p->kb.chain.len > 0 && p->kb.not_after > now)
                    vmesh_log(VMESH_LOG_WARN, "proxy: key-bound SVID renewal failed (issuer %s): %s; the current SVID "
                              "stays in force until it expires in %lld s; next attempt in %u ms", cfg->kb_addr,
                              p->kb.err, (long long)(p->kb.not_after - now), retry);
                else
                    vmesh_log(VMESH_LOG_WARN, "proxy: no key-bound SVID (issuer %s): %s; /ready says 503; next attempt "
                              "in %u ms", cfg->kb_addr, p->kb.err, retry);
                vmesh_err_clear();
            }
            /* the old agent is no generation's: they hold its AK by reference */
            pthread_mutex_unlock(&p->kb.lock);
            vmesh_agent_free(old);
            vmesh_agent_free(cand);
            pthread_mutex_lock(&p->kb.lock);
            px_gen_unref(g);
            continue;
        }
        wake = p->kb.chain.len > 0 && due > next_try ? due : next_try;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(wake > now ? wake - now : 1);
        (void)pthread_cond_timedwait(&p->kb.cond, &p->kb.lock, &ts);
    }
    pthread_mutex_unlock(&p->kb.lock);
    vmesh_buf_free(&chain);
    return NULL;
}

vmesh_err px_kb_start(struct vmesh_proxy *p)
{
    px_gen *g = px_current_gen(p);
    bool kb = g->cfg->kb_issuer;

    px_gen_unref(g);
    if (!kb || p->kb.running)
        return VMESH_OK;
    p->kb.stop = false;
    if (pthread_create(&p->kb.thread, NULL, kb_thread, p) != 0)
        return vmesh_err_set(VMESH_ERR_IO, "cannot start the key-bound SVID thread");
    p->kb.running = true;
    return VMESH_OK;
}

void px_kb_stop(struct vmesh_proxy *p)
{
    if (!p->kb.running)
        return;
    pthread_mutex_lock(&p->kb.lock);
    p->kb.stop = true;
    pthread_cond_signal(&p->kb.cond);
    pthread_mutex_unlock(&p->kb.lock);
    pthread_join(p->kb.thread, NULL);
    p->kb.running = false;
}
