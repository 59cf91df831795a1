/*
 * The proxy's metrics: connection results, byte counters, the handshake
 * and attestation histograms (atomic counters that workers bump without a
 * lock), and their Prometheus text for the admin endpoint's /metrics. It
 * must never expose anything but counts: no peer identity, no evidence.
 */
#include "proxy_int.h"

#include "vmesh/rv.h"
#include "vmesh/rvp.h"
#include "vmesh/verifier.h"
#ifdef VMESH_HAVE_SERVICE
#include "vmesh/service.h"
#endif
#ifdef VMESH_HAVE_SYNC
#include "vmesh/sync.h"
#endif

#include <stdio.h>

static const char *const result_names[PX_RES__COUNT] = {
    "ok",           "limit",   "tls-failed",     "refused",
    "peer-refused", "timeout", "connect-failed", "idle-timeout",
    "reappraisal",  "drain",   "reset",          "no-fd",
    "reattestation",
};

const char *px_result_name(px_result r)
{
    return (unsigned)r < PX_RES__COUNT ? result_names[r] : "unknown";
}

/* Bucket bounds in microseconds; hist_le below says the same in seconds. */
static const uint64_t hist_us[PX_HIST_BUCKETS] = {250,    500,     1000,    2500,   5000,
                                                  10000,  25000,   50000,   100000, 250000,
                                                  500000, 1000000, 2500000, 5000000};

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

/* ---- the Prometheus text ------------------------------------------------------------------------
 */

static const char *const hist_le[PX_HIST_BUCKETS] = {
    "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5"};

static vmesh_err hist(vmesh_buf *b, const char *name, const char *help, px_hist *h)
{
    vmesh_err rc = VMESH_OK;
    uint64_t cum = 0;

    VMESH_GUARD(vmesh_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name));
    for (int i = 0; i < PX_HIST_BUCKETS; i++) {
        cum += atomic_load(&h->b[i]);
        VMESH_GUARD(vmesh_buf_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name, hist_le[i],
                                     (unsigned long long)cum));
    }
    cum += atomic_load(&h->b[PX_HIST_BUCKETS]);
    VMESH_GUARD(vmesh_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
                                 name, (unsigned long long)cum, name,
                                 (double)atomic_load(&h->sum_us) / 1e6, name,
                                 (unsigned long long)atomic_load(&h->count)));
out:
    return rc;
}

/* A label value in the exposition format: \\, \" and \n escaped; cut at
 * cap. */
static void label_value(const char *s, char *out, size_t cap)
{
    size_t o = 0;

    for (; *s && o + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            out[o++] = '\\';
            out[o++] = *s;
        } else if (*s == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

/* What an alert needs: can the node admit peers, is each RVP answering,
 * since when, is the bell valid (docs/OPERATIONS.md, deploy/prometheus). */
static vmesh_err render_health(struct vmesh_proxy *p, const px_gen *g, vmesh_buf *b, int64_t now)
{
    vmesh_err rc = VMESH_OK;
    char why[8];

    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_ready 1 when the node can admit peers (as GET /ready answers 200), else 0.\n"
           "# TYPE vmesh_ready gauge\nvmesh_ready %d\n",
        px_ready(p, why, sizeof(why)) ? 1 : 0));
#ifdef VMESH_HAVE_SYNC
    if (p->sync) {
        size_t n = vmesh_sync_rvp_count(p->sync);
        static const char *const fams[] = {
            "# HELP vmesh_rvp_polls_total Polls of each RVP's manifest.\n"
            "# TYPE vmesh_rvp_polls_total counter\n",
            "# HELP vmesh_rvp_poll_failures_total Polls of each RVP that failed: unreachable (no "
            "answer, HTTP error) or refused (a manifest or set that does not verify or is refused).\n"
            "# TYPE vmesh_rvp_poll_failures_total counter\n",
            "# HELP vmesh_rvp_up 1 when the last poll of the RVP succeeded, else 0.\n"
            "# TYPE vmesh_rvp_up gauge\n",
            "# HELP vmesh_rvp_consecutive_failures Polls of the RVP failed since its last good one.\n"
            "# TYPE vmesh_rvp_consecutive_failures gauge\n",
            "# HELP vmesh_rvp_last_success_timestamp_seconds Unix time of the last good poll of the RVP "
            "(0: none yet).\n"
            "# TYPE vmesh_rvp_last_success_timestamp_seconds gauge\n",
            "# HELP vmesh_rvp_manifest_expiry_seconds Seconds until the accepted manifest of the RVP "
            "expires (negative: stale).\n"
            "# TYPE vmesh_rvp_manifest_expiry_seconds gauge\n",
        };
        for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
            VMESH_GUARD(vmesh_buf_printf(b, "%s", fams[f]));
            for (size_t i = 0; i < n; i++) {
                vmesh_sync_rvp_status st;
                char lv[600];
                if (!vmesh_sync_rvp_status_at(p->sync, i, &st))
                    continue;
                label_value(st.name[0] ? st.name : st.url, lv, sizeof(lv));
                switch (f) {
                case 0:
                    VMESH_GUARD(vmesh_buf_printf(b, "vmesh_rvp_polls_total{rvp=\"%s\"} %llu\n", lv,
                                                 (unsigned long long)st.polls));
                    break;
                case 1:
                    VMESH_GUARD(vmesh_buf_printf(
                        b,
                        "vmesh_rvp_poll_failures_total{rvp=\"%s\",kind=\"unreachable\"} %llu\n"
                        "vmesh_rvp_poll_failures_total{rvp=\"%s\",kind=\"refused\"} %llu\n",
                        lv, (unsigned long long)st.failures, lv, (unsigned long long)st.refusals));
                    break;
                case 2:
                    VMESH_GUARD(vmesh_buf_printf(
                        b, "vmesh_rvp_up{rvp=\"%s\"} %d\n", lv,
                        st.last_success_at != 0 && st.consecutive_failures == 0 ? 1 : 0));
                    break;
                case 3:
                    VMESH_GUARD(vmesh_buf_printf(b, "vmesh_rvp_consecutive_failures{rvp=\"%s\"} %llu\n",
                                                 lv, (unsigned long long)st.consecutive_failures));
                    break;
                case 4:
                    VMESH_GUARD(vmesh_buf_printf(
                        b, "vmesh_rvp_last_success_timestamp_seconds{rvp=\"%s\"} %lld\n", lv,
                        (long long)st.last_success_at));
                    break;
                default:
                    if (st.expires_at != 0)
                        VMESH_GUARD(vmesh_buf_printf(
                            b, "vmesh_rvp_manifest_expiry_seconds{rvp=\"%s\"} %lld\n", lv,
                            (long long)(st.expires_at - now)));
                    break;
                }
            }
        }
    }
#endif
    if (g->cfg->central_url != NULL) {
        char lv[600];
        uint64_t cons = atomic_load(&p->central.consecutive);
        int64_t last = atomic_load(&p->central.last_success_at);

        label_value(g->cfg->central_url, lv, sizeof(lv));
        VMESH_GUARD(vmesh_buf_printf(
            b,
            "# HELP vmesh_central_verifier_up 1 when the last request to the central verifier "
            "(verifier.central) got an answer, 0 after a failed one or before the first answer.\n"
            "# TYPE vmesh_central_verifier_up gauge\nvmesh_central_verifier_up{url=\"%s\"} %d\n"
            "# HELP vmesh_central_verifier_requests_total Requests (evidence sent) to the central verifier.\n"
            "# TYPE vmesh_central_verifier_requests_total counter\n"
            "vmesh_central_verifier_requests_total{url=\"%s\"} %llu\n"
            "# HELP vmesh_central_verifier_failures_total Requests to the central verifier without an "
            "answer (unreachable, timeout, HTTP error, problem document).\n"
            "# TYPE vmesh_central_verifier_failures_total counter\n"
            "vmesh_central_verifier_failures_total{url=\"%s\"} %llu\n"
            "# HELP vmesh_central_verifier_consecutive_failures Requests failed since the last answer.\n"
            "# TYPE vmesh_central_verifier_consecutive_failures gauge\n"
            "vmesh_central_verifier_consecutive_failures{url=\"%s\"} %llu\n"
            "# HELP vmesh_central_verifier_last_success_timestamp_seconds Unix time of the last answer "
            "(0: none yet).\n"
            "# TYPE vmesh_central_verifier_last_success_timestamp_seconds gauge\n"
            "vmesh_central_verifier_last_success_timestamp_seconds{url=\"%s\"} %lld\n",
            lv, last != 0 && cons == 0 ? 1 : 0, lv, (unsigned long long)atomic_load(&p->central.requests), lv,
            (unsigned long long)atomic_load(&p->central.failures), lv, (unsigned long long)cons, lv,
            (long long)last));
#ifdef VMESH_HAVE_SERVICE
        /* every URL (D45): its last readiness probe */
        if (g->central_rp != NULL) {
            size_t n = 1 + g->cfg->n_central_replicas;
            VMESH_GUARD(vmesh_buf_printf(b, "# HELP vmesh_central_verifier_reachable 1 when the last readiness probe "
                                            "of the central verifier at url (its discovery document, over its "
                                            "attested link when attested) answered; 0 when not; -1 not probed "
                                            "yet.\n# TYPE vmesh_central_verifier_reachable gauge\n"));
            for (size_t i = 0; i < n && i < 64; i++) {
                label_value(i == 0 ? g->cfg->central_url : g->cfg->central_replicas[i - 1], lv, sizeof(lv));
                VMESH_GUARD(vmesh_buf_printf(b, "vmesh_central_verifier_reachable{url=\"%s\"} %d\n", lv,
                                             (int)atomic_load(&g->central_url_up[i])));
            }
        }
        /* D53: batches and the appraisals they carried (this generation's client) */
        if (g->central_rp != NULL && g->central_rp->batcher != NULL) {
            uint64_t nb = 0, ni = 0;

            vmesh_service_client_batch_stats(g->central_rp, &nb, &ni);
            label_value(g->cfg->central_url, lv, sizeof(lv));
            VMESH_GUARD(vmesh_buf_printf(
                b,
                "# HELP vmesh_central_verifier_batches_total Batch appraisals the central verifier answered "
                "(verifier.central.batch), since the last reload.\n"
                "# TYPE vmesh_central_verifier_batches_total counter\n"
                "vmesh_central_verifier_batches_total{url=\"%s\"} %llu\n"
                "# HELP vmesh_central_verifier_batched_total Appraisals those batches carried, since the last reload.\n"
                "# TYPE vmesh_central_verifier_batched_total counter\n"
                "vmesh_central_verifier_batched_total{url=\"%s\"} %llu\n",
                lv, (unsigned long long)nb, lv, (unsigned long long)ni));
        }
        /* attested URLs (D45): each one's standing as the link watcher saw it */
        if (g->central_rp != NULL && (g->cfg->central_verifier_rv != NULL || g->cfg->central_attested)) {
            size_t n = 1 + g->cfg->n_central_replicas;
            VMESH_GUARD(vmesh_buf_printf(b, "# HELP vmesh_central_verifier_attested 1 while the central verifier at "
                                            "url attests (its platform under its reference values, a trusted EAR "
                                            "key); 0 when it does not: no evidence goes to it; -1 not asked yet.\n"
                                            "# TYPE vmesh_central_verifier_attested gauge\n"));
            for (size_t i = 0; i < n && i < 64; i++) {
                label_value(i == 0 ? g->cfg->central_url : g->cfg->central_replicas[i - 1], lv, sizeof(lv));
                VMESH_GUARD(vmesh_buf_printf(b, "vmesh_central_verifier_attested{url=\"%s\"} %d\n", lv,
                                             (int)atomic_load(&g->central_url_ok[i])));
            }
        }
#endif
    }
    if (p->bell != NULL) {
        vmesh_bell cur;
        bool have = vmesh_bell_view_current(p->bell, &cur) == VMESH_OK;
        if (!have)
            vmesh_err_clear();
        VMESH_GUARD(vmesh_buf_printf(
            b,
            "# HELP vmesh_bell_valid 1 when the epoch bell's current tick is still valid, else 0 "
            "(epoch-fresh attestation fails).\n"
            "# TYPE vmesh_bell_valid gauge\nvmesh_bell_valid %d\n"
            "# HELP vmesh_bell_valid_for_seconds Seconds the current tick stays valid (negative: "
            "expired; absent before the first tick).\n"
            "# TYPE vmesh_bell_valid_for_seconds gauge\n",
            have && cur.valid_until > now ? 1 : 0));
        if (have)
            VMESH_GUARD(vmesh_buf_printf(
                b,
                "vmesh_bell_valid_for_seconds %lld\n"
                "# HELP vmesh_bell_tick The current tick number of the epoch bell.\n"
                "# TYPE vmesh_bell_tick gauge\nvmesh_bell_tick %llu\n",
                (long long)(cur.valid_until - now), (unsigned long long)cur.id));
    }
out:
    return rc;
}

/* In-band re-attestation (reattest.c) and what our attester made. */
static vmesh_err reattest_metrics(struct vmesh_proxy *p, const px_gen *g, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    px_metrics *m = &p->m;
    static const char *const dirs[2] = {"inbound", "outbound"};
    vmesh_agent_stats st;

    vmesh_agent_stats_get(g->agent, &st);
    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_reattestations_total In-band re-attestation requests we sent, and rounds "
           "the peer passed, by direction.\n# TYPE vmesh_reattestations_total counter\n"));
    for (int d = 0; d < 2; d++)
        VMESH_GUARD(vmesh_buf_printf(
            b,
            "vmesh_reattestations_total{direction=\"%s\",result=\"requested\"} %llu\n"
            "vmesh_reattestations_total{direction=\"%s\",result=\"passed\"} %llu\n",
            dirs[d], (unsigned long long)atomic_load(&m->rt_requests[d]), dirs[d],
            (unsigned long long)atomic_load(&m->rt_passed[d])));
    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_reattestation_failures_total Connections cut in re-attestation, by "
           "reason and by whom (local: we refused the peer's answer or it was late; peer: it "
           "refused ours).\n# TYPE vmesh_reattestation_failures_total counter\n"));
    for (uint32_t r = 1; r < VMESH_ATLS_R__COUNT; r++)
        for (int by = 0; by < 2; by++)
            VMESH_GUARD(vmesh_buf_printf(
                b, "vmesh_reattestation_failures_total{reason=\"%s\",by=\"%s\"} %llu\n",
                vmesh_atls_reason_name(r), by ? "peer" : "local",
                (unsigned long long)atomic_load(&m->rt_failures[r][by])));
    VMESH_GUARD(hist(b, "vmesh_reattestation_seconds",
                     "In-band re-attestation round: request sent to answer accepted.",
                     &m->reattestation));
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_attestations_made_total Attestation messages our attester made "
        "(handshakes and re-attestation answers).\n"
        "# TYPE vmesh_attestations_made_total counter\nvmesh_attestations_made_total %llu\n"
        "# HELP vmesh_evidence_generated_total Platform evidence our attester generated (once "
        "per epoch in epoch-fresh and passport modes; per message in fresh mode).\n"
        "# TYPE vmesh_evidence_generated_total counter\nvmesh_evidence_generated_total %llu\n",
        (unsigned long long)(st.attestations_made + atomic_load(&m->agent_made_base)),
        (unsigned long long)(st.evidence_generated + atomic_load(&m->agent_generated_base))));
out:
    return rc;
}

/* The key-bound counters (keybound.c, conn.c; D44). */
static vmesh_err kb_metrics(struct vmesh_proxy *p, const px_gen *g, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    static const char *dirs[2] = {"inbound", "outbound"};

    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_keybound_handshakes_total Full handshakes whose attestation was key-bound (version 3, "
           "the TLS leaf key is the AK), by direction and by whose attestation: the peer's or ours.\n"
           "# TYPE vmesh_keybound_handshakes_total counter\n"));
    for (int d = 0; d < 2; d++)
        VMESH_GUARD(vmesh_buf_printf(b,
                                     "vmesh_keybound_handshakes_total{direction=\"%s\",attester=\"peer\"} %llu\n"
                                     "vmesh_keybound_handshakes_total{direction=\"%s\",attester=\"own\"} %llu\n",
                                     dirs[d], (unsigned long long)atomic_load(&p->m.keybound[d][0]), dirs[d],
                                     (unsigned long long)atomic_load(&p->m.keybound[d][1])));
    if (!g->cfg->kb_issuer)
        goto out;
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_keybound_svid_issued_total SVIDs the attested issuer made for our key-bound AK.\n"
        "# TYPE vmesh_keybound_svid_issued_total counter\nvmesh_keybound_svid_issued_total %llu\n"
        "# HELP vmesh_keybound_svid_failures_total Failed attempts to obtain or renew it.\n"
        "# TYPE vmesh_keybound_svid_failures_total counter\nvmesh_keybound_svid_failures_total %llu\n",
        (unsigned long long)atomic_load(&p->kb.issued), (unsigned long long)atomic_load(&p->kb.failures)));
out:
    return rc;
}

vmesh_err px_metrics_render(struct vmesh_proxy *p, const px_gen *g, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    px_metrics *m = &p->m;
    static const char *const dirs[2] = {"inbound", "outbound"};
    vmesh_agent_stats st;
    vmesh_rv_store *rv = vmesh_verifier_rv(p->verifier);
    int64_t now = vmesh_time_now(), snap = atomic_load(&p->snapshot_at);

    vmesh_agent_stats_get(g->agent, &st);
    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_connections_total Connections by direction and how they ended.\n"
           "# TYPE vmesh_connections_total counter\n"));
    for (int d = 0; d < 2; d++)
        for (int r = 0; r < PX_RES__COUNT; r++)
            VMESH_GUARD(vmesh_buf_printf(
                b, "vmesh_connections_total{direction=\"%s\",result=\"%s\"} %llu\n", dirs[d],
                px_result_name((px_result)r), (unsigned long long)atomic_load(&m->conns[d][r])));
    VMESH_GUARD(vmesh_buf_printf(b, "# HELP vmesh_connections_active Open connections.\n# TYPE "
                                    "vmesh_connections_active gauge\n"));
    for (int d = 0; d < 2; d++)
        VMESH_GUARD(vmesh_buf_printf(b, "vmesh_connections_active{direction=\"%s\"} %lld\n",
                                     dirs[d], (long long)atomic_load(&m->active[d])));
    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_bytes_total Bytes proxied (from / to the attested peer).\n"
           "# TYPE vmesh_bytes_total counter\n"));
    for (int d = 0; d < 2; d++) {
        VMESH_GUARD(
            vmesh_buf_printf(b, "vmesh_bytes_total{direction=\"%s\",flow=\"from_peer\"} %llu\n",
                             dirs[d], (unsigned long long)atomic_load(&m->bytes[d][0])));
        VMESH_GUARD(vmesh_buf_printf(b,
                                     "vmesh_bytes_total{direction=\"%s\",flow=\"to_peer\"} %llu\n",
                                     dirs[d], (unsigned long long)atomic_load(&m->bytes[d][1])));
    }
    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_handshakes_total Attested handshakes completed, by direction and TLS "
           "session: full or resumed (a resumed session is attested again all the same).\n"
           "# TYPE vmesh_handshakes_total counter\n"));
    for (int d = 0; d < 2; d++)
        VMESH_GUARD(vmesh_buf_printf(
            b,
            "vmesh_handshakes_total{direction=\"%s\",session=\"full\"} %llu\n"
            "vmesh_handshakes_total{direction=\"%s\",session=\"resumed\"} %llu\n",
            dirs[d], (unsigned long long)atomic_load(&m->handshakes[d][0]), dirs[d],
            (unsigned long long)atomic_load(&m->handshakes[d][1])));
    VMESH_GUARD(kb_metrics(p, g, b));
    VMESH_GUARD(hist(b, "vmesh_handshake_seconds",
                     "Attested TLS handshake time, accept or connect to established.",
                     &m->handshake));
    VMESH_GUARD(hist(b, "vmesh_attestation_seconds",
                     "Time to appraise one peer attestation (local verifier).", &m->attestation));
    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_attestation_failures_total Attestation failures by reason and by whom.\n"
           "# TYPE vmesh_attestation_failures_total counter\n"));
    for (uint32_t r = 1; r < VMESH_ATLS_R__COUNT; r++)
        for (int by = 0; by < 2; by++)
            VMESH_GUARD(vmesh_buf_printf(
                b, "vmesh_attestation_failures_total{reason=\"%s\",by=\"%s\"} %llu\n",
                vmesh_atls_reason_name(r), by ? "peer" : "local",
                (unsigned long long)atomic_load(&m->failures[r][by])));
    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_refusals_total Peers this proxy refused or cut, one per connection, by "
           "reason code (the access log's \"reason\").\n"
           "# TYPE vmesh_refusals_total counter\n"));
    for (int d = 0; d < 2; d++)
        for (uint32_t r = 1; r < VMESH_ATLS_R__COUNT; r++)
            VMESH_GUARD(vmesh_buf_printf(
                b, "vmesh_refusals_total{direction=\"%s\",reason=\"%s\"} %llu\n",
                d == PX_DIR_IN ? "inbound" : "outbound", vmesh_atls_reason_name(r),
                (unsigned long long)atomic_load(&m->refusals[d][r])));
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_ar_cache_hits_total Attestation-result cache hits.\n"
        "# TYPE vmesh_ar_cache_hits_total counter\nvmesh_ar_cache_hits_total %llu\n"
        "# HELP vmesh_ar_cache_misses_total Attestation-result cache misses (appraisals).\n"
        "# TYPE vmesh_ar_cache_misses_total counter\nvmesh_ar_cache_misses_total %llu\n",
        (unsigned long long)(st.cache_hits + atomic_load(&m->agent_hits_base)),
        (unsigned long long)(st.cache_misses + atomic_load(&m->agent_misses_base))));
    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_rv_epoch Epoch of each RVP in the installed reference-value snapshot.\n"
           "# TYPE vmesh_rv_epoch gauge\n"));
    for (size_t i = 0; rv && i < vmesh_rv_epoch_count(rv); i++) {
        const char *name;
        uint64_t e;
        if (vmesh_rv_epoch_at(rv, i, &name, &e))
            VMESH_GUARD(vmesh_buf_printf(b, "vmesh_rv_epoch{rvp=\"%s\"} %llu\n", name,
                                         (unsigned long long)e));
    }
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_rv_snapshot_age_seconds Seconds since the reference-value snapshot was "
        "installed.\n"
        "# TYPE vmesh_rv_snapshot_age_seconds gauge\nvmesh_rv_snapshot_age_seconds %lld\n",
        (long long)(snap ? now - snap : -1)));
    VMESH_GUARD(render_health(p, g, b, now));
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_certificate_expiry_seconds Seconds until our SVID expires.\n"
        "# TYPE vmesh_certificate_expiry_seconds gauge\nvmesh_certificate_expiry_seconds %lld\n",
        (long long)(g->cert_not_after ? g->cert_not_after - now : -1)));
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_reappraisal_closed_total Connections closed because their peer no longer "
        "passes.\n"
        "# TYPE vmesh_reappraisal_closed_total counter\nvmesh_reappraisal_closed_total %llu\n"
        "# HELP vmesh_reappraisals_total Peer results re-judged after an RV or policy change.\n"
        "# TYPE vmesh_reappraisals_total counter\nvmesh_reappraisals_total %llu\n"
        "# HELP vmesh_reappraisal_undecided_total Re-appraisals the central verifier gave no verdict "
        "for (silent, or behind our RV snapshot): the connection kept, asked again (D41).\n"
        "# TYPE vmesh_reappraisal_undecided_total counter\nvmesh_reappraisal_undecided_total %llu\n"
        "# HELP vmesh_central_behind_total Central verifier answers made under an older RV "
        "snapshot than ours: not cached, not a verdict, asked again (D41).\n"
        "# TYPE vmesh_central_behind_total counter\nvmesh_central_behind_total %llu\n",
        (unsigned long long)atomic_load(&m->reappraisal_closed),
        (unsigned long long)atomic_load(&m->reappraisals),
        (unsigned long long)atomic_load(&m->reappraisal_undecided),
        (unsigned long long)(st.central_behind + atomic_load(&m->agent_behind_base))));
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_rv_journal_replays_total Lookup journals of cached or held appraisals asked again of a "
        "new RV snapshot (D43): same = every answer unchanged (kept, not appraised again), changed = an "
        "answer differs (a held connection is closed), unreadable = appraised as before, foreign = a "
        "central verifier's journal our snapshot contradicted when it answered (not kept).\n"
        "# TYPE vmesh_rv_journal_replays_total counter\n"
        "vmesh_rv_journal_replays_total{result=\"same\"} %llu\n"
        "vmesh_rv_journal_replays_total{result=\"changed\"} %llu\n"
        "vmesh_rv_journal_replays_total{result=\"unreadable\"} %llu\n"
        "vmesh_rv_journal_replays_total{result=\"foreign\"} %llu\n"
        "# HELP vmesh_reappraisal_full_total Re-appraisals that appraised the evidence in full (local "
        "verifier) or asked the central verifier: no journal, or one that could not decide.\n"
        "# TYPE vmesh_reappraisal_full_total counter\nvmesh_reappraisal_full_total %llu\n",
        (unsigned long long)(st.journal_same + atomic_load(&m->agent_journal_base[0])),
        (unsigned long long)(st.journal_changed + atomic_load(&m->agent_journal_base[1])),
        (unsigned long long)(st.journal_unreadable + atomic_load(&m->agent_journal_base[2])),
        (unsigned long long)(st.journal_foreign + atomic_load(&m->agent_journal_base[3])),
        (unsigned long long)(st.reappraise_full + atomic_load(&m->agent_full_base))));
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_reloads_total Configuration reloads (SIGHUP) by outcome.\n"
        "# TYPE vmesh_reloads_total counter\nvmesh_reloads_total{result=\"ok\"} %llu\n"
        "vmesh_reloads_total{result=\"failed\"} %llu\n",
        (unsigned long long)atomic_load(&m->reloads),
        (unsigned long long)atomic_load(&m->reload_failures)));
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_identity_file_changes_total Times the SVID, key or a bundle file changed on "
        "disk (each triggers a reload).\n"
        "# TYPE vmesh_identity_file_changes_total counter\nvmesh_identity_file_changes_total %llu\n"
        "# HELP vmesh_identity_refused_total Changed identity files refused (mismatched or broken "
        "pair, bad bundle): the previous ones stay.\n"
        "# TYPE vmesh_identity_refused_total counter\nvmesh_identity_refused_total %llu\n",
        (unsigned long long)atomic_load(&m->identity_changes),
        (unsigned long long)atomic_load(&m->identity_refused)));
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_peers_admitted_total Peers admitted, by what they showed: attestation, or "
        "their identity alone (a rule's pattern: identity-only).\n"
        "# TYPE vmesh_peers_admitted_total counter\n"
        "vmesh_peers_admitted_total{pattern=\"attested\"} %llu\n"
        "vmesh_peers_admitted_total{pattern=\"identity-only\"} %llu\n"
        "# HELP vmesh_route_refused_total Identity-only peers refused by a route with "
        "min-pattern: attested.\n"
        "# TYPE vmesh_route_refused_total counter\nvmesh_route_refused_total %llu\n",
        (unsigned long long)atomic_load(&m->admitted_attested),
        (unsigned long long)atomic_load(&m->admitted_identity_only),
        (unsigned long long)atomic_load(&m->route_refused)));
    if (g->trust) {
        VMESH_GUARD(vmesh_buf_printf(
            b, "# HELP vmesh_federation_bundle_sequence spiffe_sequence of each trusted domain's "
               "bundle in force (-1: none).\n"
               "# TYPE vmesh_federation_bundle_sequence gauge\n"));
        for (size_t i = 0; i < vmesh_pki_trust_count(g->trust); i++) {
            const vmesh_pki_bundle *tb = NULL;
            const char *td = vmesh_pki_trust_domain(g->trust, i, &tb);
            bool has;
            uint64_t seq = vmesh_pki_bundle_sequence(tb, &has);

            /* Trust-domain names are [a-z0-9._-] (validated): no escaping. */
            VMESH_GUARD(vmesh_buf_printf(
                b, "vmesh_federation_bundle_sequence{trust_domain=\"%s\"} %lld\n", td,
                has ? (long long)seq : -1LL));
        }
    }
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_accept_pauses_total Times a worker stopped accepting for a moment: out of "
        "file "
        "descriptors (the connections it shed count as result=\"no-fd\").\n"
        "# TYPE vmesh_accept_pauses_total counter\nvmesh_accept_pauses_total %llu\n"
        "# HELP vmesh_max_connections The connection limit in force (limits.max-connections or "
        "derived).\n"
        "# TYPE vmesh_max_connections gauge\nvmesh_max_connections %u\n"
        "# HELP vmesh_fd_limit The soft RLIMIT_NOFILE in force.\n"
        "# TYPE vmesh_fd_limit gauge\nvmesh_fd_limit %llu\n"
        "# HELP vmesh_admin_closed_total Admin-endpoint connections we closed before they "
        "completed: "
        "evicted (budget full) or past their deadline.\n"
        "# TYPE vmesh_admin_closed_total counter\nvmesh_admin_closed_total{reason=\"evicted\"} "
        "%llu\n"
        "vmesh_admin_closed_total{reason=\"deadline\"} %llu\n",
        (unsigned long long)atomic_load(&m->accept_pauses), atomic_load(&p->max_conns),
        (unsigned long long)p->nofile, (unsigned long long)atomic_load(&m->admin_closed[0]),
        (unsigned long long)atomic_load(&m->admin_closed[1])));
    VMESH_GUARD(vmesh_buf_printf(
        b,
        "# HELP vmesh_handshake_queue Attested handshake steps waiting for a thread of the "
        "handshake pool.\n"
        "# TYPE vmesh_handshake_queue gauge\nvmesh_handshake_queue %lld\n"
        "# HELP vmesh_handshake_running Attested handshake steps in the handshake pool's threads, those waiting for the central verifier included.\n"
        "# TYPE vmesh_handshake_running gauge\nvmesh_handshake_running %lld\n"
        "# HELP vmesh_handshake_backpressure_total Times a worker stopped accepting for a moment "
        "because more handshakes waited than limits.handshake-queue.\n"
        "# TYPE vmesh_handshake_backpressure_total counter\nvmesh_handshake_backpressure_total "
        "%llu\n",
        (long long)atomic_load(&m->hs_queued), (long long)atomic_load(&m->hs_running),
        (unsigned long long)atomic_load(&m->hs_backpressure)));
    {
        vmesh_atls_chain_stats cs;

        vmesh_atls_chain_cache_stats(&cs);
        VMESH_GUARD(vmesh_buf_printf(
            b,
            "# HELP vmesh_tls_chain_validations_total Peer certificate chains at full TLS handshakes: "
            "validated in full, or accepted from the chain-validation cache (limits.chain-cache).\n"
            "# TYPE vmesh_tls_chain_validations_total counter\n"
            "vmesh_tls_chain_validations_total{result=\"validated\"} %llu\n"
            "vmesh_tls_chain_validations_total{result=\"cached\"} %llu\n",
            (unsigned long long)cs.validated, (unsigned long long)cs.cached));
    }
    VMESH_GUARD(vmesh_buf_printf(
        b, "# HELP vmesh_fresh_hello_deferred_total Inbound connections whose fresh-mode evidence "
           "waited for the client's certificate because the listener's fresh-hello-rate budget was "
           "spent (kept across reloads).\n"
           "# TYPE vmesh_fresh_hello_deferred_total counter\n"));
    for (size_t j = 0; j < g->cfg->nin; j++) {
        char lv[300];

        label_value(g->cfg->in[j].name, lv, sizeof(lv));
        VMESH_GUARD(vmesh_buf_printf(
            b, "vmesh_fresh_hello_deferred_total{listener=\"%s\"} %llu\n", lv,
            (unsigned long long)vmesh_atls_config_fresh_hello_deferred(g->in_cfg[j])));
    }
    VMESH_GUARD(reattest_metrics(p, g, b));
    VMESH_GUARD(
        vmesh_buf_printf(b,
                         "# HELP vmesh_config_generation Configuration generation in force.\n"
                         "# TYPE vmesh_config_generation gauge\nvmesh_config_generation %llu\n",
                         (unsigned long long)g->id));
out:
    vmesh_rv_store_free(rv);
    return rc;
}
