/*
 * The admin endpoint of vmesh ipsec, like the proxy's: GET /ready (200 once
 * reference values are installed and charon answered), /metrics in the
 * Prometheus text format, /peers as JSON (state, epoch, mode, tier, last
 * reason per peer gateway). libmicrohttpd serves it from its own thread;
 * it exposes identities, states and counters, never a key or a credential.
 */
#define _GNU_SOURCE
#include "ipsec_int.h"

#include "vmesh/sync.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vmesh_err add(vmesh_buf *b, const char *fmt, ...) VMESH_PRINTF(2, 3);
static vmesh_err add(vmesh_buf *b, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return vmesh_err_set(VMESH_ERR_ARG, "metrics: format error");
    return vmesh_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Peer names are [A-Za-z0-9_-] (vmesh_ipsec_peer_parse): safe as label values. */
vmesh_err ix_metrics_render(struct vmesh_ipsec *g, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_agent_stats st;

#define HELP(name, type, text)                                                                     \
    VMESH_GUARD(add(out, "# HELP " name " " text "\n# TYPE " name " " type "\n"))
    HELP("vmesh_ipsec_peer_up", "gauge",
         "1 while an IKE SA with an installed CHILD_SA carries the peer's traffic");
    for (size_t i = 0; i < g->npeers; i++) {
        ix_peer *p = &g->peers[i];
        pthread_mutex_lock(&p->lock);
        rc =
            add(out, "vmesh_ipsec_peer_up{peer=\"%s\"} %d\n", p->spec.name, p->st == IX_UP ? 1 : 0);
        pthread_mutex_unlock(&p->lock);
        VMESH_GUARD(rc);
    }
    HELP("vmesh_identity_file_changes_total", "counter", "changes of the SVID, key or bundle files seen");
    VMESH_GUARD(add(out, "vmesh_identity_file_changes_total %llu\n", (unsigned long long)atomic_load(&g->id_changes)));
    HELP("vmesh_identity_refused_total", "counter",
         "changed SVID files refused (mismatched pair, another SPIFFE ID, unreadable); the old identity stayed");
    VMESH_GUARD(add(out, "vmesh_identity_refused_total %llu\n", (unsigned long long)atomic_load(&g->id_refused)));
    HELP("vmesh_ipsec_peer_epoch", "gauge", "epoch of the installed credential (0: none)");
    for (size_t i = 0; i < g->npeers; i++) {
        ix_peer *p = &g->peers[i];
        pthread_mutex_lock(&p->lock);
        rc = add(out, "vmesh_ipsec_peer_epoch{peer=\"%s\"} %llu\n", p->spec.name,
                 (unsigned long long)(p->st == IX_UP || p->st == IX_INSTALLED ? p->epoch : 0));
        pthread_mutex_unlock(&p->lock);
        VMESH_GUARD(rc);
    }
    HELP("vmesh_ipsec_attestations_total", "counter",
         "attested sessions with the peer gateway, by result");
    for (size_t i = 0; i < g->npeers; i++) {
        ix_peer *p = &g->peers[i];
        pthread_mutex_lock(&p->lock);
        for (int r = 0; r < IX_ATT__COUNT && rc == VMESH_OK; r++)
            rc = add(out, "vmesh_ipsec_attestations_total{peer=\"%s\",result=\"%s\"} %llu\n",
                     p->spec.name, ix_att_name((ix_att_result)r),
                     (unsigned long long)p->attestations[r]);
        pthread_mutex_unlock(&p->lock);
        VMESH_GUARD(rc);
    }
    HELP("vmesh_ipsec_installs_total", "counter",
         "attestation-derived credentials installed into charon");
    HELP("vmesh_ipsec_rekeys_total", "counter",
         "make-before-break re-authentications completed at an epoch change");
    HELP("vmesh_ipsec_rekey_failures_total", "counter", "re-authentications that did not complete");
    for (size_t i = 0; i < g->npeers; i++) {
        ix_peer *p = &g->peers[i];
        pthread_mutex_lock(&p->lock);
        rc =
            add(out,
                "vmesh_ipsec_installs_total{peer=\"%s\"} "
                "%llu\nvmesh_ipsec_rekeys_total{peer=\"%s\"} %llu\n"
                "vmesh_ipsec_rekey_failures_total{peer=\"%s\"} %llu\n",
                p->spec.name, (unsigned long long)p->installs, p->spec.name,
                (unsigned long long)p->rekeys, p->spec.name, (unsigned long long)p->rekey_failures);
        pthread_mutex_unlock(&p->lock);
        VMESH_GUARD(rc);
    }
    HELP("vmesh_ipsec_cuts_total", "counter",
         "IKE SAs terminated and credentials removed, by reason");
    for (size_t i = 0; i < g->npeers; i++) {
        ix_peer *p = &g->peers[i];
        pthread_mutex_lock(&p->lock);
        for (int r = 0; r < IX_CUT__COUNT && rc == VMESH_OK; r++)
            rc = add(out, "vmesh_ipsec_cuts_total{peer=\"%s\",reason=\"%s\"} %llu\n", p->spec.name,
                     ix_cut_name((ix_cut_reason)r), (unsigned long long)p->cuts[r]);
        pthread_mutex_unlock(&p->lock);
        VMESH_GUARD(rc);
    }
    HELP("vmesh_ipsec_last_seconds", "gauge",
         "duration of the last: setup (attested session start to SA up), rekey, cut (cause to SA "
         "down)");
    for (size_t i = 0; i < g->npeers; i++) {
        ix_peer *p = &g->peers[i];
        pthread_mutex_lock(&p->lock);
        rc = add(out,
                 "vmesh_ipsec_last_seconds{peer=\"%s\",what=\"setup\"} %.6f\n"
                 "vmesh_ipsec_last_seconds{peer=\"%s\",what=\"rekey\"} %.6f\n"
                 "vmesh_ipsec_last_seconds{peer=\"%s\",what=\"cut\"} %.6f\n",
                 p->spec.name, p->setup_s, p->spec.name, p->rekey_s, p->spec.name, p->cut_s);
        pthread_mutex_unlock(&p->lock);
        VMESH_GUARD(rc);
    }
    HELP("vmesh_ipsec_sessions_accepted_total", "counter",
         "attested sessions accepted on the listener");
    VMESH_GUARD(add(out, "vmesh_ipsec_sessions_accepted_total %llu\n",
                    (unsigned long long)atomic_load(&g->accepted)));
    HELP("vmesh_ipsec_sessions_busy_total", "counter",
         "sessions closed at once: too many in progress");
    VMESH_GUARD(add(out, "vmesh_ipsec_sessions_busy_total %llu\n",
                    (unsigned long long)atomic_load(&g->accept_refused_busy)));
    HELP("vmesh_ipsec_unknown_peers_total", "counter",
         "attested sessions from SVIDs that are no configured peer");
    VMESH_GUARD(add(out, "vmesh_ipsec_unknown_peers_total %llu\n",
                    (unsigned long long)atomic_load(&g->unknown_peers)));
    HELP("vmesh_rv_snapshots_total", "counter", "reference-value snapshots installed");
    VMESH_GUARD(add(out, "vmesh_rv_snapshots_total %llu\n",
                    (unsigned long long)atomic_load(&g->snapshots)));
    if (g->sync) {
        HELP("vmesh_rv_epoch", "gauge", "epoch of the RVP's accepted manifest");
        for (size_t i = 0; i < vmesh_sync_rvp_count(g->sync); i++) {
            vmesh_sync_rvp_status s;
            if (vmesh_sync_rvp_status_at(g->sync, i, &s))
                VMESH_GUARD(add(out, "vmesh_rv_epoch{rvp=\"%s\"} %llu\n",
                                s.name[0] ? s.name : "unknown", (unsigned long long)s.epoch));
        }
    }
    vmesh_agent_stats_get(g->agent, &st);
    HELP("vmesh_agent_appraisals_total", "counter", "peer attestation messages judged");
    VMESH_GUARD(add(out, "vmesh_agent_appraisals_total %llu\n", (unsigned long long)st.appraisals));
    HELP("vmesh_agent_evidence_generated_total", "counter", "platform evidence generations");
    VMESH_GUARD(add(out, "vmesh_agent_evidence_generated_total %llu\n",
                    (unsigned long long)st.evidence_generated));
#undef HELP
out:
    return rc;
}

vmesh_err ix_peers_json(struct vmesh_ipsec *g, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *a = json_array();
    char *text = NULL;

    VMESH_ENSURE(a != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < g->npeers; i++) {
        ix_peer *p = &g->peers[i];
        json_t *o;
        pthread_mutex_lock(&p->lock);
        o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:b}", "peer", p->spec.name,
                      "spiffe_id", p->spec.id, "role", p->initiator ? "initiator" : "responder",
                      "state", ix_state_name(p->st), "epoch", (json_int_t)p->epoch, "mode", p->mode,
                      "tier", p->tier, "reason", p->reason, "rekeying", p->rekeying);
        pthread_mutex_unlock(&p->lock);
        VMESH_ENSURE(o != NULL && json_array_append_new(a, o) == 0, VMESH_ERR_NOMEM,
                     "out of memory");
    }
    text = json_dumps(a, JSON_COMPACT);
    VMESH_ENSURE(text != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(vmesh_buf_append(out, text, strlen(text)));
    VMESH_GUARD(vmesh_buf_append(out, "\n", 1));
out:
    free(text);
    json_decref(a);
    return rc;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             vmesh_buf *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        body->len, body->data ? body->data : (void *)"", MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **state)
{
    struct vmesh_ipsec *g = cls;
    vmesh_buf b = {0};
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; charset=utf-8";
    vmesh_err rc = VMESH_OK;

    (void)version;
    (void)upload;
    if (*state == NULL) {
        *state = (void *)1; /* headers first; answer on the second call */
        return MHD_YES;
    }
    if (*upload_len != 0) {
        *upload_len = 0; /* no bodies accepted: discard */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        rc = vmesh_buf_set(&b, "GET only\n", 9);
    } else if (strcmp(url, "/ready") == 0) {
        bool ready = atomic_load(&g->have_snapshot);
        status = ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        rc = ready ? vmesh_buf_set(&b, "ready\n", 6)
                   : vmesh_buf_set(&b, "waiting for reference values\n", 29);
    } else if (strcmp(url, "/metrics") == 0) {
        type = "text/plain; version=0.0.4";
        rc = ix_metrics_render(g, &b);
    } else if (strcmp(url, "/peers") == 0) {
        type = "application/json";
        rc = ix_peers_json(g, &b);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        rc = vmesh_buf_set(&b, "not found (/ready, /metrics, /peers)\n", 37);
    }
    if (rc != VMESH_OK) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        vmesh_buf_reset(&b);
        vmesh_err_clear();
    }
    ret = reply(c, status, type, &b);
    vmesh_buf_free(&b);
    return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    vmesh_log(VMESH_LOG_DEBUG, "ipsec admin: %s", line);
}

vmesh_err ix_admin_start(struct vmesh_ipsec *g, const char *listen)
{
    vmesh_err rc = VMESH_OK;
    struct sockaddr_storage ss;
    socklen_t sl;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    rc = vmesh_net_resolve(listen, VMESH_NET_LISTEN, &ss, &sl);
    if (rc != VMESH_OK)
        return vmesh_err_wrap(rc, "--admin");
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    g->admin = MHD_start_daemon(flags, 0, NULL, NULL, on_request, g, MHD_OPTION_SOCK_ADDR,
                                (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                                (unsigned int)16, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)5,
                                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
                                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    VMESH_ENSURE(g->admin != NULL, VMESH_ERR_IO,
                 "--admin %s: cannot listen (in use, or not an address of this host?)", listen);
out:
    return rc;
}

void ix_admin_stop(struct vmesh_ipsec *g)
{
    if (g->admin)
        MHD_stop_daemon(g->admin);
    g->admin = NULL;
}
