/*
 * What the dashboard remembers after a connection ends: the peers this
 * node talked to in the last minutes (one entry per peer, direction and
 * listener: how its last connection ended, under which epochs it was
 * admitted and, for a re-appraisal, which epochs closed it), the last few
 * refusals with their reasons, and per-minute counts of every way a
 * connection ended other than "ok". Workers note each ended connection
 * (px_access_log); the admin endpoint reads a copy. Bounded: a fixed
 * table (the oldest entry makes room), so a flood of identities cannot
 * grow it. It must never keep anything but identities, tiers, trust
 * vectors, epochs and reasons: no keys, no evidence.
 */
#include "proxy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct px_recent {
    pthread_mutex_t lock;
    px_recent_peer peers[PX_RECENT_PEERS];
    px_recent_refusal refusals[PX_RECENT_REFUSALS]; /* a ring; next is the oldest */
    size_t next_refusal;
    struct {
        int64_t minute; /* wall time / 60; 0: empty */
        uint64_t n[PX_RES__COUNT];
    } minutes[PX_RECENT_MINUTES];
};

px_recent *px_recent_new(void)
{
    px_recent *r = calloc(1, sizeof(*r));

    if (r)
        pthread_mutex_init(&r->lock, NULL);
    return r;
}

void px_recent_free(px_recent *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static bool is_refusal(px_result res)
{
    return res != PX_RES_OK && res != PX_RES_IDLE && res != PX_RES_DRAIN && res != PX_RES_RESET;
}

static px_recent_peer *slot_for(px_recent *r, const px_record *rec)
{
    px_recent_peer *oldest = &r->peers[0];

    for (size_t i = 0; i < PX_RECENT_PEERS; i++) {
        px_recent_peer *e = &r->peers[i];
        if (e->used && e->dir == rec->dir && strcmp(e->peer, rec->peer_id) == 0 &&
            strcmp(e->listener, rec->listener ? rec->listener : "") == 0)
            return e;
        if (!e->used || (oldest->used && e->ended < oldest->ended))
            oldest = e;
    }
    memset(oldest, 0, sizeof(*oldest));
    return oldest;
}

void px_recent_note(px_recent *r, const px_record *rec, px_result res, const char *reason,
                    const char *judged)
{
    int64_t now = vmesh_time_now();
    size_t m;

    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    m = (size_t)(now / 60) % PX_RECENT_MINUTES;
    if (r->minutes[m].minute != now / 60) {
        memset(&r->minutes[m], 0, sizeof(r->minutes[m]));
        r->minutes[m].minute = now / 60;
    }
    if ((unsigned)res < PX_RES__COUNT)
        r->minutes[m].n[res]++;
    if (rec->peer_id != NULL) {
        px_recent_peer *e = slot_for(r, rec);
        /* A peer cut by re-appraisal (revoked) stays shown as such when its
         * next connections are refused: the refusals list has those, the
         * revocation with the epochs that judged it is what the table is for. */
        if (e->used && e->result == PX_RES_REAPPRAISAL && res != PX_RES_OK &&
            res != PX_RES_REAPPRAISAL && is_refusal(res)) {
            e->ended = now;
            e->count++;
            goto refusal;
        }
        e->used = true;
        e->dir = rec->dir;
        snprintf(e->listener, sizeof(e->listener), "%s", rec->listener ? rec->listener : "");
        snprintf(e->peer, sizeof(e->peer), "%s", rec->peer_id);
        e->mode = rec->mode;
        e->tier = rec->tier;
        if (rec->tv)
            e->tv = *rec->tv;
        snprintf(e->epochs, sizeof(e->epochs), "%s", rec->epochs ? rec->epochs : "");
        snprintf(e->judged, sizeof(e->judged), "%s", judged ? judged : "");
        e->result = res;
        snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "");
        e->ended = now;
        e->count++;
    }
refusal:
    if (is_refusal(res)) {
        px_recent_refusal *f = &r->refusals[r->next_refusal];
        r->next_refusal = (r->next_refusal + 1) % PX_RECENT_REFUSALS;
        memset(f, 0, sizeof(*f));
        f->used = true;
        f->dir = rec->dir;
        f->at = now;
        f->result = res;
        snprintf(f->listener, sizeof(f->listener), "%s", rec->listener ? rec->listener : "");
        snprintf(f->peer, sizeof(f->peer), "%s", rec->peer_id ? rec->peer_id : "");
        snprintf(f->remote, sizeof(f->remote), "%s", rec->remote ? rec->remote : "");
        snprintf(f->code, sizeof(f->code), "%s", rec->code ? rec->code : "");
        snprintf(f->reason, sizeof(f->reason), "%s", reason ? reason : "");
    }
    pthread_mutex_unlock(&r->lock);
}

void px_recent_copy(px_recent *r, int64_t now, int64_t window, px_recent_view *out)
{
    memset(out, 0, sizeof(*out));
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < PX_RECENT_PEERS; i++)
        if (r->peers[i].used && now - r->peers[i].ended <= window)
            out->peers[out->npeers++] = r->peers[i];
    /* newest first */
    for (size_t k = 1; k <= PX_RECENT_REFUSALS; k++) {
        const px_recent_refusal *f =
            &r->refusals[(r->next_refusal + PX_RECENT_REFUSALS - k) % PX_RECENT_REFUSALS];
        if (f->used && now - f->at <= window)
            out->refusals[out->nrefusals++] = *f;
    }
    for (size_t i = 0; i < PX_RECENT_MINUTES; i++)
        if (r->minutes[i].minute != 0 && now / 60 - r->minutes[i].minute < window / 60)
            for (int k = 0; k < PX_RES__COUNT; k++)
                out->ended[k] += r->minutes[i].n[k];
    pthread_mutex_unlock(&r->lock);
}
