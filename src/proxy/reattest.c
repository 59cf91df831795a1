/*
 * In-band re-attestation of proxied connections (reattest.h). Policy:
 * reattestation.every asks each connection's peer every N ms (the first
 * request N ms after forwarding starts); reattestation.on-tick asks once
 * per new tick of the epoch bell, at a point drawn uniformly from
 * [0, jitter) after the worker saw the tick, so that thousands of
 * connections do not ask at the same instant. The window opens when
 * attesters start binding evidence to the new tick (vmesh_agent_tick_bind_at:
 * half a period after it), so that each tick's round carries that tick's
 * evidence. atls does the exchange
 * (request, binder, appraisal, deadline); the attester side answers from
 * the agent, which makes evidence once per epoch and signs each request's
 * binder with the AK (epoch-fresh, passport), or new evidence per request
 * (fresh).
 */
#include "reattest.h"

#include "vmesh/agent.h"
#include "vmesh/rvp.h"

#include <stdio.h>
#include <string.h>

static uint64_t ms_ns(uint32_t ms)
{
    return (uint64_t)ms * 1000000u;
}

/* A point in [0, span) ns, spread well enough over connections (not a
 * secret: splitmix64 of the clock and the connection's address). */
static uint64_t spread(const void *who, uint64_t span)
{
    uint64_t x = vmesh_time_mono_ns() ^ (uint64_t)(uintptr_t)who;

    if (span == 0)
        return 0;
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x % span;
}

/* Arms the clock at the earliest of what is due; false: out of memory. */
static bool arm(px_rt *rt, px_worker *w, vmesh_atls_conn *tls)
{
    uint64_t t = UINT64_MAX;
    int64_t left = vmesh_atls_reattest_timeout_ms(tls);

    if (rt->next_ns != 0)
        t = rt->next_ns;
    if (rt->tick_ns != 0 && rt->tick_ns < t)
        t = rt->tick_ns;
    if (left >= 0) {
        /* a millisecond past the deadline, so that the poll finds it passed */
        uint64_t d = vmesh_time_mono_ns() + ms_ns((uint32_t)left) + 1000000u;
        if (d < t)
            t = d;
    }
    if (t == UINT64_MAX) {
        px_timer_del(&w->timers, &rt->timer);
        return true;
    }
    return px_timer_set(&w->timers, &rt->timer, t);
}

void px_rt_init(px_rt *rt, px_timer_fn *fn)
{
    memset(rt, 0, sizeof(*rt));
    px_timer_init(&rt->timer, fn);
}

bool px_rt_start(px_rt *rt, px_worker *w, const vmesh_proxy_config *cfg, vmesh_atls_conn *tls)
{
    int mode = vmesh_atls_peer_mode(tls);

    rt->tick_seen = atomic_load(&w->p->bell_tick);
    rt->on = cfg->reattest && vmesh_atls_reattest_supported(tls) &&
             mode >= VMESH_ATLS_MODE_EPOCH_FRESH && mode <= VMESH_ATLS_MODE_PASSPORT &&
             (cfg->reattest_every_ms > 0 || cfg->reattest_on_tick);
    if (!rt->on)
        return true;
    if (cfg->reattest_every_ms > 0)
        rt->next_ns = vmesh_time_mono_ns() + ms_ns(cfg->reattest_every_ms);
    return arm(rt, w, tls);
}

vmesh_err px_rt_run(px_rt *rt, px_worker *w, const vmesh_proxy_config *cfg,
                    vmesh_atls_conn *tls, int dir)
{
    vmesh_err rc = VMESH_OK;
    uint64_t now = vmesh_time_mono_ns();
    bool due = false;
    vmesh_atls_reattest_stats st;

    if (!rt->on)
        return VMESH_OK;
    VMESH_GUARD(vmesh_atls_reattest_poll(tls)); /* a late answer: cut (the peer is told) */
    if (rt->next_ns != 0 && now >= rt->next_ns) {
        due = true;
        rt->next_ns = now + ms_ns(cfg->reattest_every_ms);
    }
    if (rt->tick_ns != 0 && now >= rt->tick_ns) {
        due = true;
        rt->tick_ns = 0;
    }
    vmesh_atls_reattest_stats_get(tls, &st);
    /* One request outstanding at a time: what falls due meanwhile is
     * answered by the one in flight. */
    if (due && !st.pending) {
        VMESH_GUARD(vmesh_atls_reattest_request(tls, cfg->reattest_deadline_ms));
        atomic_fetch_add(&w->p->m.rt_requests[dir], 1);
    }
    if (!arm(rt, w, tls))
        rc = vmesh_err_set(VMESH_ERR_NOMEM, "out of memory (timer heap)");
out:
    return rc;
}

void px_rt_tick(px_rt *rt, px_worker *w, const vmesh_proxy_config *cfg, vmesh_atls_conn *tls,
                uint64_t tick, uint64_t due_ns)
{
    if (tick <= rt->tick_seen)
        return;
    rt->tick_seen = tick;
    if (!rt->on || !cfg->reattest_on_tick || rt->tick_ns != 0)
        return;
    rt->tick_ns = (due_ns > vmesh_time_mono_ns() ? due_ns : vmesh_time_mono_ns()) +
                  spread(rt, ms_ns(cfg->reattest_jitter_ms)) + 1;
    if (!arm(rt, w, tls))
        rt->tick_ns = 0; /* out of memory: this tick is skipped, the next one asks */
}

bool px_rt_progress(px_rt *rt, struct vmesh_proxy *p, vmesh_atls_conn *tls, int dir)
{
    vmesh_atls_reattest_stats st;

    if (!rt->on)
        return false;
    vmesh_atls_reattest_stats_get(tls, &st);
    if (st.answers_accepted == rt->accepted_seen)
        return false;
    atomic_fetch_add(&p->m.rt_passed[dir], st.answers_accepted - rt->accepted_seen);
    rt->accepted_seen = st.answers_accepted;
    px_hist_observe(&p->m.reattestation, st.last_rtt_us * 1000u);
    return true;
}

void px_rt_stop(px_rt *rt, px_worker *w)
{
    px_timer_del(&w->timers, &rt->timer);
    rt->on = false;
}

bool px_rt_cut(struct vmesh_proxy *p, vmesh_atls_conn *tls, char *reason, size_t n)
{
    vmesh_atls_reattest_stats st;
    const char *msg = NULL;
    bool by_peer = false;
    vmesh_atls_reason r;

    if (tls == NULL)
        return false;
    vmesh_atls_reattest_stats_get(tls, &st);
    if (!st.cut)
        return false;
    r = vmesh_atls_failure(tls, &msg, &by_peer);
    if (r < VMESH_ATLS_R__COUNT)
        atomic_fetch_add(&p->m.rt_failures[r][by_peer ? 1 : 0], 1);
    snprintf(reason, n, "re-attestation %s: %s: %s (after %llu rounds passed)",
             by_peer ? "refused by the peer" : "failed", vmesh_atls_reason_name(r),
             msg ? msg : "", (unsigned long long)st.answers_accepted);
    return true;
}

void px_rt_watch_bell(struct vmesh_proxy *p)
{
    vmesh_bell cur;

    if (p->bell == NULL)
        return;
    if (vmesh_bell_view_current(p->bell, &cur) != VMESH_OK) {
        vmesh_err_clear(); /* no current tick: nothing to announce */
        return;
    }
    if (cur.id > atomic_load(&p->bell_tick)) {
        /* Attesters bind evidence to the new tick from its bind time (whole
         * seconds: one more to be past it); asking earlier would get the
         * previous epoch's evidence again. */
        int64_t wait_s = vmesh_agent_tick_bind_at(&cur) + 1 - vmesh_time_now();
        atomic_store(&p->bell_tick_due_ns,
                     vmesh_time_mono_ns() + (wait_s > 0 ? (uint64_t)wait_s * 1000000000u : 0));
        atomic_store(&p->bell_tick, cur.id);
        px_workers_wake(p);
    }
}
