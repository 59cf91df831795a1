/*
 * The node dashboard on the admin endpoint: its page (HTML, CSS and
 * JavaScript compiled into the binary from web/, no external resource)
 * and /dashboard/state, one JSON object with what the page shows beside
 * /peers: who this node is, its listeners, its reference-value epochs and
 * snapshot age, the bundle sync and bell health, the peers of the last
 * minutes and how their last connection ended, the recent refusals and
 * their counts by result (docs/DASHBOARD.md). Read-only, served like every
 * admin answer from the control thread; it must never expose a key or
 * evidence, and every string that a peer or a file supplied goes through
 * the one JSON escaper.
 */
#include "conn.h"

#include "vmesh/pki.h"
#include "vmesh/rv.h"
#include "vmesh/rvp.h"
#include "vmesh/verifier.h"
#ifdef VMESH_HAVE_SYNC
#include "vmesh/sync.h"
#endif

#include <stdlib.h>
#include <string.h>

/* How far back the page looks (seconds) and how often it polls (ms). */
#define DASH_WINDOW_S 300
#define DASH_POLL_MS 2000

static vmesh_err str(vmesh_buf *b, const char *s)
{
    return s ? vmesh_json_str(b, s, strlen(s)) : vmesh_buf_printf(b, "null");
}

static vmesh_err put_self(const px_gen *g, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    const vmesh_proxy_config *cfg = g->cfg;
    char *id = NULL;

    /* A certificate that does not read is shown as null: the page is how
     * an operator finds out. */
    if (cfg->cert && vmesh_pki_spiffe_id_from_pem_file(cfg->cert, &id) != VMESH_OK)
        id = NULL;
    VMESH_GUARD(vmesh_buf_printf(b, "\"self\":{\"id\":"));
    VMESH_GUARD(str(b, id));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"generation\":%llu,\"cert_expires_in_s\":%lld,\"listeners\":[",
                                 (unsigned long long)g->id,
                                 (long long)(g->cert_not_after ? g->cert_not_after - vmesh_time_now()
                                                               : -1)));
    for (size_t i = 0; i < cfg->nin; i++) {
        VMESH_GUARD(vmesh_buf_printf(b, "%s{\"direction\":\"inbound\",\"name\":", i ? "," : ""));
        VMESH_GUARD(str(b, cfg->in[i].name));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"listen\":"));
        VMESH_GUARD(str(b, cfg->in[i].listen));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"peer\":"));
        VMESH_GUARD(str(b, cfg->in[i].peer));
        VMESH_GUARD(vmesh_buf_printf(b, "}"));
    }
    for (size_t i = 0; i < cfg->nout; i++) {
        VMESH_GUARD(vmesh_buf_printf(b, "%s{\"direction\":\"outbound\",\"name\":",
                                     i || cfg->nin ? "," : ""));
        VMESH_GUARD(str(b, cfg->out[i].name));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"listen\":"));
        VMESH_GUARD(str(b, cfg->out[i].listen));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"peer\":"));
        VMESH_GUARD(str(b, cfg->out[i].peer));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"upstreams\":["));
        for (size_t k = 0; k < cfg->out[i].nup; k++) {
            VMESH_GUARD(vmesh_buf_printf(b, "%s", k ? "," : ""));
            VMESH_GUARD(str(b, cfg->out[i].upstreams[k]));
        }
        VMESH_GUARD(vmesh_buf_printf(b, "]}"));
    }
    VMESH_GUARD(vmesh_buf_printf(b, "]}"));
out:
    free(id);
    return rc;
}

static vmesh_err put_rv(struct vmesh_proxy *p, vmesh_buf *b)
{
    char epochs[PX_EPOCHS_MAX];
    int64_t snap = atomic_load(&p->snapshot_at);

    px_epochs_json(p->verifier, epochs);
    return vmesh_buf_printf(
        b, ",\"rv\":{\"epochs\":%s,\"have_snapshot\":%s,\"snapshot_age_s\":%lld}", epochs,
        atomic_load(&p->have_snapshot) ? "true" : "false",
        (long long)(snap ? vmesh_time_now() - snap : -1));
}

static vmesh_err put_sync(struct vmesh_proxy *p, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;

#ifdef VMESH_HAVE_SYNC
    if (p->sync) {
        size_t n = vmesh_sync_rvp_count(p->sync);
        VMESH_GUARD(vmesh_buf_printf(b, ",\"sync\":{\"snapshots\":%llu,\"rvps\":[",
                                     (unsigned long long)vmesh_sync_snapshots(p->sync)));
        for (size_t i = 0; i < n; i++) {
            vmesh_sync_rvp_status st;
            if (!vmesh_sync_rvp_status_at(p->sync, i, &st))
                continue;
            VMESH_GUARD(vmesh_buf_printf(b, "%s{\"name\":", i ? "," : ""));
            VMESH_GUARD(str(b, st.name));
            VMESH_GUARD(vmesh_buf_printf(b, ",\"url\":"));
            VMESH_GUARD(str(b, st.url));
            VMESH_GUARD(vmesh_buf_printf(
                b,
                ",\"epoch\":%llu,\"expires_in_s\":%lld,\"stale\":%s,\"polls\":%llu,"
                "\"not_modified\":%llu,\"updates\":%llu,\"refusals\":%llu,\"failures\":%llu,"
                "\"sets\":%zu,\"last_error\":",
                (unsigned long long)st.epoch,
                (long long)(st.expires_at ? st.expires_at - vmesh_time_now() : 0),
                st.stale ? "true" : "false", (unsigned long long)st.polls,
                (unsigned long long)st.not_modified, (unsigned long long)st.updates,
                (unsigned long long)st.refusals, (unsigned long long)st.failures, st.sets));
            VMESH_GUARD(str(b, st.last_error[0] ? st.last_error : NULL));
            VMESH_GUARD(vmesh_buf_printf(b, "}"));
        }
        VMESH_GUARD(vmesh_buf_printf(b, "]}"));
        goto out;
    }
#endif
    VMESH_GUARD(vmesh_buf_printf(b, ",\"sync\":null"));
out:
    return rc;
}

static vmesh_err put_bell(struct vmesh_proxy *p, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    vmesh_bell_marker m[VMESH_BELL_MAX_BELLS];
    vmesh_bell cur;
    size_t n;
    int64_t now = vmesh_time_now();

    if (p->bell == NULL)
        return vmesh_buf_printf(b, ",\"bell\":null");
    n = vmesh_bell_view_markers(p->bell, m, VMESH_BELL_MAX_BELLS);
    VMESH_GUARD(vmesh_buf_printf(b, ",\"bell\":{\"bells\":%zu,\"markers\":[",
                                 vmesh_bell_view_bells(p->bell)));
    for (size_t i = 0; i < n; i++) {
        VMESH_GUARD(vmesh_buf_printf(b, "%s{\"bell\":", i ? "," : ""));
        VMESH_GUARD(str(b, m[i].bell));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"tick\":%llu}", (unsigned long long)m[i].tick));
    }
    VMESH_GUARD(vmesh_buf_printf(b, "],\"current\":"));
    if (vmesh_bell_view_current(p->bell, &cur) == VMESH_OK) {
        VMESH_GUARD(vmesh_buf_printf(b, "{\"name\":"));
        VMESH_GUARD(str(b, cur.name));
        VMESH_GUARD(vmesh_buf_printf(
            b, ",\"tick\":%llu,\"age_s\":%lld,\"valid_for_s\":%lld,\"fresh\":%s}",
            (unsigned long long)cur.id, (long long)(now - cur.issued_at),
            (long long)(cur.valid_until - now), cur.valid_until > now ? "true" : "false"));
    } else {
        vmesh_err_clear();
        VMESH_GUARD(vmesh_buf_printf(b, "null"));
    }
    VMESH_GUARD(vmesh_buf_printf(b, "}"));
out:
    return rc;
}

static vmesh_err put_recent(struct vmesh_proxy *p, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    int64_t now = vmesh_time_now();
    px_recent_view *v = malloc(sizeof(*v));
    bool first = true;

    VMESH_ENSURE(v != NULL, VMESH_ERR_NOMEM, "out of memory");
    px_recent_copy(p->recent, now, DASH_WINDOW_S, v);
    VMESH_GUARD(vmesh_buf_printf(b, ",\"window_s\":%d,\"ended\":{", DASH_WINDOW_S));
    for (int k = 0; k < PX_RES__COUNT; k++) {
        if (v->ended[k] == 0)
            continue;
        VMESH_GUARD(vmesh_buf_printf(b, "%s\"%s\":%llu", first ? "" : ",",
                                     px_result_name((px_result)k),
                                     (unsigned long long)v->ended[k]));
        first = false;
    }
    VMESH_GUARD(vmesh_buf_printf(b, "},\"refusals\":["));
    for (size_t i = 0; i < v->nrefusals; i++) {
        const px_recent_refusal *f = &v->refusals[i];
        VMESH_GUARD(vmesh_buf_printf(b, "%s\n{\"ago_s\":%lld,\"direction\":\"%s\",\"listener\":",
                                     i ? "," : "", (long long)(now - f->at),
                                     f->dir == PX_DIR_IN ? "inbound" : "outbound"));
        VMESH_GUARD(str(b, f->listener));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"peer\":"));
        VMESH_GUARD(str(b, f->peer[0] ? f->peer : NULL));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"remote\":"));
        VMESH_GUARD(str(b, f->remote[0] ? f->remote : NULL));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"code\":"));
        VMESH_GUARD(str(b, f->code[0] ? f->code : NULL));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"result\":\"%s\",\"reason\":", px_result_name(f->result)));
        VMESH_GUARD(str(b, f->reason));
        VMESH_GUARD(vmesh_buf_printf(b, "}"));
    }
    VMESH_GUARD(vmesh_buf_printf(b, "],\"recent\":["));
    for (size_t i = 0; i < v->npeers; i++) {
        const px_recent_peer *e = &v->peers[i];
        px_record r = {.dir = e->dir,
                       .listener = e->listener,
                       .peer_id = e->peer,
                       .mode = e->mode,
                       .tier = e->tier,
                       .tv = &e->tv,
                       .epochs = e->epochs};
        VMESH_GUARD(vmesh_buf_printf(b, "%s\n{", i ? "," : ""));
        VMESH_GUARD(px_record_json(b, &r));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"result\":\"%s\",\"reason\":",
                                     px_result_name(e->result)));
        VMESH_GUARD(str(b, e->reason));
        VMESH_GUARD(vmesh_buf_printf(b, ",\"judged\":%s,\"ended_ago_s\":%lld,\"connections\":%llu}",
                                     e->judged[0] ? e->judged : "null",
                                     (long long)(now - e->ended), (unsigned long long)e->count));
    }
    VMESH_GUARD(vmesh_buf_printf(b, "]"));
out:
    free(v);
    return rc;
}

static vmesh_err state_json(struct vmesh_proxy *p, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    px_gen *g = px_current_gen(p);
    char why[8];

    VMESH_GUARD(vmesh_buf_printf(b, "{\"kind\":\"vmesh-node\",\"now\":%lld,\"poll_ms\":%d,",
                                 (long long)vmesh_time_now(), DASH_POLL_MS));
    VMESH_GUARD(put_self(g, b));
    VMESH_GUARD(vmesh_buf_printf(
        b, ",\"ready\":%s,\"draining\":%s,\"active\":{\"inbound\":%lld,\"outbound\":%lld}",
        px_ready(p, why, sizeof(why)) ? "true" : "false",
        atomic_load(&p->draining) ? "true" : "false", (long long)atomic_load(&p->m.active[0]),
        (long long)atomic_load(&p->m.active[1])));
    VMESH_GUARD(put_rv(p, b));
    VMESH_GUARD(put_sync(p, b));
    VMESH_GUARD(put_bell(p, b));
    VMESH_GUARD(put_recent(p, b));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"open\":"));
    VMESH_GUARD(px_conns_peers_json(p, b));
    VMESH_GUARD(vmesh_buf_printf(b, "}\n"));
out:
    px_gen_unref(g);
    return rc;
}

int px_dash_serve(struct vmesh_proxy *p, const char *path, vmesh_buf *body, const char **ctype)
{
    const unsigned char *data;
    size_t len;

    if (strcmp(path, "/dashboard/state") == 0) {
        *ctype = "application/json";
        if (state_json(p, body) == VMESH_OK)
            return 200;
        vmesh_log(VMESH_LOG_WARN, "proxy: admin: /dashboard/state: %s", vmesh_err_detail());
        vmesh_buf_reset(body);
        return 500;
    }
    if (strcmp(path, "/") == 0 || strcmp(path, "/dashboard") == 0)
        path = "/dashboard/";
    if (!px_web_asset(path, &data, &len, ctype))
        return 0;
    return vmesh_buf_set(body, data, len) == VMESH_OK ? 200 : 500;
}
