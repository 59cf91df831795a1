/*
 * The epoch bell as an Epoch Marker (draft-ietf-rats-epoch-markers-05): a
 * CWT (RFC 8392) signed with COSE_Sign1 (RFC 9052) whose `em` claim holds
 * an epoch-tick; its signing, strict decoding and verification, and a
 * relying party's view of one or more bells (current and previous tick of
 * each). It must never accept an unsigned or rolled-back tick, never report
 * a tick as fresh once its validity has passed, and never call a result
 * fresh when a bell it depends on has moved on by more than one tick.
 */
#include "vmesh/rvp.h"

#include "vmesh/cbor.h"
#include "vmesh/cose.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FUTURE_LEEWAY 300
#define CWT_MAX_CLAIMS 32

/* ---- the marker CWT ------------------------------------------------------ */

/* The previous tick a marker carries must be the one just before it: id - 1,
 * a different epoch-tick, issued no later and valid no longer than this
 * tick. Anything else is refused by name (rc: ARG when signing, PARSE when
 * reading). */
static vmesh_err prev_check(const vmesh_bell *b, vmesh_err rc)
{
    const vmesh_bell_tick *p = &b->prev;

    if (b->id < 2 || p->id != b->id - 1)
        return vmesh_err_set(rc,
                             "epoch marker: previous tick (claim -65538) is %llu, but this is tick "
                             "%llu: it must be %llu",
                             (unsigned long long)p->id, (unsigned long long)b->id,
                             (unsigned long long)(b->id - 1));
    if (vmesh_crypto_memeq(p->nonce, b->nonce, sizeof(p->nonce)))
        return vmesh_err_set(rc, "epoch marker: previous tick (claim -65538) has the same "
                                 "epoch-tick as this tick");
    if (p->issued_at < 0 || p->valid_until <= p->issued_at)
        return vmesh_err_set(rc, "epoch marker: previous tick (claim -65538): exp is not after iat");
    if (p->issued_at > b->issued_at)
        return vmesh_err_set(rc,
                             "epoch marker: previous tick (claim -65538) is issued after this tick "
                             "(%lld > %lld)",
                             (long long)p->issued_at, (long long)b->issued_at);
    if (p->valid_until > b->valid_until)
        return vmesh_err_set(rc,
                             "epoch marker: previous tick (claim -65538) is valid longer than this "
                             "tick (exp %lld > %lld)",
                             (long long)p->valid_until, (long long)b->valid_until);
    return VMESH_OK;
}

vmesh_err vmesh_rvp_bell_sign(const vmesh_bell *b, const vmesh_key *key, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf cwt = {0};
    size_t n = strnlen(b->name, sizeof(b->name));

    VMESH_ENSURE(b->id >= 1 && b->id <= (uint64_t)INT64_MAX, VMESH_ERR_ARG,
                 "bell id %llu out of range 1..2^63-1", (unsigned long long)b->id);
    VMESH_ENSURE(n > 0 && n <= VMESH_BELL_NAME_MAX, VMESH_ERR_ARG,
                 "a bell needs a name of 1..%d characters", VMESH_BELL_NAME_MAX);
    VMESH_ENSURE(b->issued_at >= 0 && b->valid_until > b->issued_at, VMESH_ERR_ARG,
                 "bell validity must end after it starts");
    if (b->has_prev)
        VMESH_GUARD(prev_check(b, VMESH_ERR_ARG));
    /* RFC 8392 §7.1: "Create a CWT Claims Set containing the desired
     * claims." Keys in the bytewise order of their encodings (RFC 8949
     * §4.2.1), so the claims set is deterministic: 1, 4, 5, 6, 2000, -65537
     * and, when the previous tick is carried, -65538 (0x3a00010000 sorts
     * before 0x3a00010001). */
    VMESH_GUARD(vmesh_cbor_put_map(&cwt, b->has_prev ? 7 : 6));
    VMESH_GUARD(vmesh_cbor_put_uint(&cwt, VMESH_CWT_ISS));
    VMESH_GUARD(vmesh_cbor_put_tstr(&cwt, b->name, n));
    VMESH_GUARD(vmesh_cbor_put_uint(&cwt, VMESH_CWT_EXP));
    VMESH_GUARD(vmesh_cbor_put_int(&cwt, b->valid_until));
    VMESH_GUARD(vmesh_cbor_put_uint(&cwt, VMESH_CWT_NBF));
    VMESH_GUARD(vmesh_cbor_put_int(&cwt, b->issued_at));
    VMESH_GUARD(vmesh_cbor_put_uint(&cwt, VMESH_CWT_IAT));
    VMESH_GUARD(vmesh_cbor_put_int(&cwt, b->issued_at));
    /* draft-ietf-rats-epoch-markers §"Epoch Tick": "Either a string, a byte
     * string, or an integer used by RATS roles within a trust domain as
     * extra data (handle) included in conceptual messages". */
    VMESH_GUARD(vmesh_cbor_put_uint(&cwt, VMESH_CWT_EM));
    VMESH_GUARD(vmesh_cbor_put_tag(&cwt, VMESH_EM_TAG_EPOCH_TICK));
    VMESH_GUARD(vmesh_cbor_put_bstr(&cwt, b->nonce, sizeof(b->nonce)));
    VMESH_GUARD(vmesh_cbor_put_int(&cwt, VMESH_CWT_VMESH_TICK));
    VMESH_GUARD(vmesh_cbor_put_uint(&cwt, b->id));
    if (b->has_prev) {
        VMESH_GUARD(vmesh_cbor_put_int(&cwt, VMESH_CWT_VMESH_PREV));
        VMESH_GUARD(vmesh_cbor_put_array(&cwt, 4));
        VMESH_GUARD(vmesh_cbor_put_uint(&cwt, b->prev.id));
        VMESH_GUARD(vmesh_cbor_put_bstr(&cwt, b->prev.nonce, sizeof(b->prev.nonce)));
        VMESH_GUARD(vmesh_cbor_put_int(&cwt, b->prev.issued_at));
        VMESH_GUARD(vmesh_cbor_put_int(&cwt, b->prev.valid_until));
    }
    /* §"Signature Requirements": "The signature over an Epoch Marker MUST be
     * generated by the Epoch Bell." */
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_cose_sign1_create(key, cwt.data, cwt.len, NULL, out));
out:
    vmesh_buf_free(&cwt);
    return rc;
}

vmesh_err vmesh_rvp_bell_next(const char *name, uint64_t prev_id, int64_t period, vmesh_bell *out)
{
    vmesh_err rc;
    size_t n = strlen(name);

    memset(out, 0, sizeof(*out));
    if (n == 0 || n > VMESH_BELL_NAME_MAX)
        return vmesh_err_set(VMESH_ERR_ARG, "bell name must be 1..%d characters",
                             VMESH_BELL_NAME_MAX);
    if (period <= 0 || period > 86400 * 7)
        return vmesh_err_set(VMESH_ERR_ARG, "bell period must be 1..604800 seconds");
    if (prev_id >= (uint64_t)INT64_MAX)
        return vmesh_err_set(VMESH_ERR_ARG, "bell id %llu cannot go higher",
                             (unsigned long long)prev_id);
    memcpy(out->name, name, n);
    out->id = prev_id + 1;
    /* §"Nonce Requirements": "The generated value MUST have at least 64
     * bits of entropy ... generated via a cryptographically secure random
     * number generator." 256 bits. */
    rc = vmesh_crypto_random(out->nonce, sizeof(out->nonce));
    if (rc != VMESH_OK)
        return rc;
    out->issued_at = vmesh_time_now();
    out->valid_until = out->issued_at + 2 * period;
    return VMESH_OK;
}

vmesh_err vmesh_rvp_bell_after(const vmesh_bell *last, int64_t period, vmesh_bell *out)
{
    vmesh_err rc = vmesh_rvp_bell_next(last->name, last->id, period, out);

    if (rc != VMESH_OK)
        return rc;
    out->has_prev = true;
    out->prev.id = last->id;
    memcpy(out->prev.nonce, last->nonce, sizeof(out->prev.nonce));
    out->prev.issued_at = last->issued_at;
    out->prev.valid_until =
        last->valid_until < out->valid_until ? last->valid_until : out->valid_until;
    /* A clock that stepped back between rings, or a reused epoch-tick (never
     * with 256 random bits): ring without a previous tick rather than sign
     * one the relying parties would refuse. */
    if (prev_check(out, VMESH_ERR_ARG) != VMESH_OK) {
        vmesh_err_clear();
        out->has_prev = false;
        memset(&out->prev, 0, sizeof(out->prev));
    }
    return VMESH_OK;
}

/* The claims set: every claim vmesh needs present once, iat <= nbf is not
 * required (nbf optional), unknown claims skipped (RFC 8392 §7.2: claims
 * not understood are ignored), duplicate keys refused. */
static vmesh_err decode_claims(const uint8_t *p, size_t n, vmesh_bell *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor r, m;
    uint64_t count, count_prev, tag, u;
    int64_t seen[CWT_MAX_CLAIMS], key;
    size_t nseen = 0;
    bool is_int, have_iss = false, have_exp = false, have_iat = false, have_em = false,
                 have_tick = false;
    vmesh_cbor a;
    const char *s;
    const uint8_t *bp;
    size_t sn, bn;
    int64_t nbf = 0;
    bool have_nbf = false;

    vmesh_cbor_init(&r, p, n, "epoch marker CWT", 0);
    r.max_depth = 8;
    VMESH_GUARD(vmesh_cbor_check(&r));
    VMESH_GUARD(vmesh_cbor_enter(&r, VMESH_CBOR_MAP, &m, &count, CWT_MAX_CLAIMS, "the claims set"));
    VMESH_GUARD(vmesh_cbor_end(&r, "the claims set"));
    for (uint64_t i = 0; i < count; i++) {
        VMESH_GUARD(vmesh_cbor_read_int_key(&m, &key, &is_int));
        if (!is_int) {
            VMESH_GUARD(vmesh_cbor_skip(&m));
            continue;
        }
        for (size_t j = 0; j < nseen; j++)
            VMESH_ENSURE(seen[j] != key, VMESH_ERR_PARSE,
                         "epoch marker CWT: claim %lld appears twice", (long long)key);
        seen[nseen++] = key;
        switch (key) {
        case VMESH_CWT_ISS:
            VMESH_GUARD(vmesh_cbor_read_tstr(&m, VMESH_BELL_NAME_MAX, &s, &sn, "iss (claim 1)"));
            VMESH_ENSURE(sn > 0, VMESH_ERR_PARSE, "epoch marker CWT: iss (claim 1) is empty");
            memcpy(out->name, s, sn);
            out->name[sn] = '\0';
            have_iss = true;
            break;
        case VMESH_CWT_EXP:
            VMESH_GUARD(vmesh_cbor_read_int(&m, &out->valid_until, "exp (claim 4)"));
            have_exp = true;
            break;
        case VMESH_CWT_NBF:
            VMESH_GUARD(vmesh_cbor_read_int(&m, &nbf, "nbf (claim 5)"));
            have_nbf = true;
            break;
        case VMESH_CWT_IAT:
            VMESH_GUARD(vmesh_cbor_read_int(&m, &out->issued_at, "iat (claim 6)"));
            have_iat = true;
            break;
        case VMESH_CWT_EM:
            VMESH_GUARD(vmesh_cbor_read_tag(&m, &tag, "em (claim 2000)"));
            if (tag == VMESH_EM_TAG_COUNTER)
                VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                           "epoch marker: em is a strictly-monotonic-counter (tag 26984); a vmesh "
                           "bell needs an "
                           "epoch-tick (tag 26982): a counter is predictable, evidence bound to it "
                           "is not fresh");
            VMESH_ENSURE(tag == VMESH_EM_TAG_EPOCH_TICK, VMESH_ERR_UNSUPPORTED,
                         "epoch marker: em has tag %llu; vmesh bells use an epoch-tick (tag 26982)",
                         (unsigned long long)tag);
            VMESH_GUARD(vmesh_cbor_read_bstr(&m, 64, &bp, &bn, "em epoch-tick"));
            VMESH_ENSURE(bn == VMESH_BELL_NONCE_LEN, VMESH_ERR_PARSE,
                         "epoch marker: epoch-tick is %zu bytes, a vmesh bell's is %d", bn,
                         VMESH_BELL_NONCE_LEN);
            memcpy(out->nonce, bp, bn);
            have_em = true;
            break;
        case VMESH_CWT_VMESH_TICK:
            VMESH_GUARD(vmesh_cbor_read_uint(&m, &u, "tick (claim -65537)"));
            VMESH_ENSURE(u >= 1 && u <= (uint64_t)INT64_MAX, VMESH_ERR_PARSE,
                         "epoch marker: tick (claim -65537) must be 1..2^63-1");
            out->id = u;
            have_tick = true;
            break;
        case VMESH_CWT_VMESH_PREV:
            /* [id, h'epoch-tick', iat, exp], exactly. */
            VMESH_GUARD(vmesh_cbor_enter(&m, VMESH_CBOR_ARRAY, &a, &count_prev, 4,
                                         "previous tick (claim -65538)"));
            VMESH_ENSURE(count_prev == 4, VMESH_ERR_PARSE,
                         "epoch marker: previous tick (claim -65538) has %llu items, needs 4: "
                         "[id, epoch-tick, iat, exp]",
                         (unsigned long long)count_prev);
            VMESH_GUARD(vmesh_cbor_read_uint(&a, &out->prev.id, "previous tick id"));
            VMESH_GUARD(vmesh_cbor_read_bstr(&a, 64, &bp, &bn, "previous epoch-tick"));
            VMESH_ENSURE(bn == VMESH_BELL_NONCE_LEN, VMESH_ERR_PARSE,
                         "epoch marker: previous epoch-tick (claim -65538) is %zu bytes, a vmesh "
                         "bell's is %d",
                         bn, VMESH_BELL_NONCE_LEN);
            memcpy(out->prev.nonce, bp, bn);
            VMESH_GUARD(vmesh_cbor_read_int(&a, &out->prev.issued_at, "previous tick iat"));
            VMESH_GUARD(vmesh_cbor_read_int(&a, &out->prev.valid_until, "previous tick exp"));
            VMESH_GUARD(vmesh_cbor_end(&a, "previous tick (claim -65538)"));
            out->has_prev = true;
            break;
        default:
            VMESH_GUARD(vmesh_cbor_skip(&m));
            break;
        }
    }
    VMESH_ENSURE(have_em, VMESH_ERR_PARSE, "epoch marker CWT has no em claim (2000)");
    VMESH_ENSURE(have_iss, VMESH_ERR_PARSE,
                 "epoch marker CWT has no iss claim (1): the bell's name");
    VMESH_ENSURE(have_iat && have_exp, VMESH_ERR_PARSE,
                 "epoch marker CWT needs iat (6) and exp (4)");
    VMESH_ENSURE(have_tick, VMESH_ERR_PARSE, "epoch marker CWT has no tick number (claim -65537)");
    VMESH_ENSURE(out->issued_at >= 0 && out->valid_until > out->issued_at, VMESH_ERR_PARSE,
                 "epoch marker: exp is not after iat");
    if (have_nbf)
        VMESH_ENSURE(nbf <= out->valid_until, VMESH_ERR_PARSE, "epoch marker: nbf is after exp");
    if (out->has_prev)
        VMESH_GUARD(prev_check(out, VMESH_ERR_PARSE));
out:
    return rc;
}

static vmesh_err bell_open(const void *marker, size_t n, vmesh_cose_sign1 **msg, vmesh_bell *out)
{
    vmesh_err rc = VMESH_OK;
    const uint8_t *payload;
    size_t plen;

    memset(out, 0, sizeof(*out));
    *msg = NULL;
    VMESH_ENSURE(n <= VMESH_BELL_MAX, VMESH_ERR_TOO_LARGE, "epoch marker larger than %zu bytes",
                 VMESH_BELL_MAX);
    rc = vmesh_cose_sign1_decode(marker, n, VMESH_BELL_MAX, msg);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "epoch marker");
        goto out;
    }
    payload = vmesh_cose_sign1_payload(*msg, &plen);
    VMESH_GUARD(decode_claims(payload, plen, out));
out:
    if (rc != VMESH_OK) {
        vmesh_cose_sign1_free(*msg);
        *msg = NULL;
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

vmesh_err vmesh_rvp_bell_decode(const void *marker, size_t n, vmesh_bell *out)
{
    vmesh_cose_sign1 *msg = NULL;
    vmesh_err rc = bell_open(marker, n, &msg, out);

    vmesh_cose_sign1_free(msg);
    return rc;
}

vmesh_err vmesh_rvp_bell_read(const void *marker, size_t n, const vmesh_key *key, vmesh_bell *out)
{
    vmesh_cose_sign1 *msg = NULL;
    vmesh_err rc = bell_open(marker, n, &msg, out);

    if (rc == VMESH_OK && (rc = vmesh_cose_sign1_verify(msg, key)) != VMESH_OK) {
        vmesh_err_wrap(rc, "epoch marker signature");
        memset(out, 0, sizeof(*out));
    }
    vmesh_cose_sign1_free(msg);
    return rc;
}

static vmesh_err time_check(const vmesh_bell *b, int64_t now)
{
    if (b->issued_at > now + FUTURE_LEEWAY)
        return vmesh_err_set(VMESH_ERR_EXPIRED,
                             "bell %s tick %llu is issued in the future (%lld > now %lld)", b->name,
                             (unsigned long long)b->id, (long long)b->issued_at, (long long)now);
    if (b->valid_until <= now)
        return vmesh_err_set(
            VMESH_ERR_EXPIRED,
            "bell %s tick %llu expired at %lld (now %lld): has the RVP stopped ticking?", b->name,
            (unsigned long long)b->id, (long long)b->valid_until, (long long)now);
    return VMESH_OK;
}

vmesh_err vmesh_rvp_bell_verify(const void *marker, size_t n, const vmesh_key *key, int64_t now,
                                vmesh_bell *out)
{
    vmesh_err rc = vmesh_rvp_bell_read(marker, n, key, out);

    return rc != VMESH_OK ? rc : time_check(out, now);
}

/* ---- the view ------------------------------------------------------------ */

typedef struct {
    vmesh_key *key;
    vmesh_bell cur, prev;
    bool have_cur, have_prev;
} bell_slot;

struct vmesh_bell_view {
    pthread_mutex_t lock;
    bell_slot bells[VMESH_BELL_MAX_BELLS];
    size_t n;
    uint64_t generation;
};

vmesh_err vmesh_bell_view_new(const vmesh_key *key, vmesh_bell_view **out)
{
    vmesh_bell_view *v = calloc(1, sizeof(*v));

    *out = NULL;
    if (v == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&v->lock, NULL);
    v->bells[0].key = vmesh_crypto_key_ref((vmesh_key *)key);
    v->n = 1;
    *out = v;
    return VMESH_OK;
}

vmesh_err vmesh_bell_view_add(vmesh_bell_view *v, const vmesh_key *key)
{
    vmesh_err rc = VMESH_OK;

    pthread_mutex_lock(&v->lock);
    if (v->n >= VMESH_BELL_MAX_BELLS)
        rc = vmesh_err_set(VMESH_ERR_TOO_LARGE, "a view follows at most %d bells",
                           VMESH_BELL_MAX_BELLS);
    for (size_t i = 0; rc == VMESH_OK && i < v->n; i++)
        if (vmesh_crypto_key_equal(v->bells[i].key, key))
            rc = vmesh_err_set(VMESH_ERR_ARG, "this bell key is already followed");
    if (rc == VMESH_OK)
        v->bells[v->n++].key = vmesh_crypto_key_ref((vmesh_key *)key);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

void vmesh_bell_view_free(vmesh_bell_view *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++)
        vmesh_crypto_key_free(v->bells[i].key);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

size_t vmesh_bell_view_bells(vmesh_bell_view *v)
{
    size_t n;

    pthread_mutex_lock(&v->lock);
    n = v->n;
    pthread_mutex_unlock(&v->lock);
    return n;
}

/* The previous tick carried by marker b (checked by decode_claims: id - 1,
 * sane validity) becomes slot s's previous tick. */
static void install_prev(bell_slot *s, const vmesh_bell *b)
{
    memset(&s->prev, 0, sizeof(s->prev));
    memcpy(s->prev.name, b->name, sizeof(s->prev.name));
    s->prev.id = b->prev.id;
    memcpy(s->prev.nonce, b->prev.nonce, sizeof(s->prev.nonce));
    s->prev.issued_at = b->prev.issued_at;
    s->prev.valid_until = b->prev.valid_until;
    s->have_prev = true;
}

vmesh_err vmesh_bell_view_update(vmesh_bell_view *v, const void *marker, size_t n, int64_t now)
{
    vmesh_bell b;
    vmesh_cose_sign1 *msg = NULL;
    vmesh_err rc = bell_open(marker, n, &msg, &b);
    bell_slot *s = NULL;

    if (rc != VMESH_OK)
        return rc;
    /* The keys are fixed once the view is in use (add happens at set-up),
     * so the signature work is done outside the lock. */
    for (size_t i = 0; i < v->n && s == NULL; i++)
        if (vmesh_cose_sign1_verify(msg, v->bells[i].key) == VMESH_OK)
            s = &v->bells[i];
    vmesh_cose_sign1_free(msg);
    if (s == NULL)
        return vmesh_err_set(VMESH_ERR_SIGNATURE,
                             "epoch marker of bell \"%s\" is not signed by a bell key we follow",
                             b.name);
    if ((rc = time_check(&b, now)) != VMESH_OK)
        return rc;
    pthread_mutex_lock(&v->lock);
    if (s->have_cur && strcmp(b.name, s->cur.name) != 0) {
        rc = vmesh_err_set(VMESH_ERR_POLICY,
                           "bell renamed from \"%s\" to \"%s\" under the same key: refused",
                           s->cur.name, b.name);
    } else if (s->have_cur && b.id < s->cur.id) {
        rc = vmesh_err_set(VMESH_ERR_POLICY,
                           "bell %s rollback refused: tick %llu is older than the current %llu",
                           b.name, (unsigned long long)b.id, (unsigned long long)s->cur.id);
    } else if (s->have_cur && b.id == s->cur.id) {
        if (memcmp(b.nonce, s->cur.nonce, sizeof(b.nonce)) != 0)
            rc = vmesh_err_set(VMESH_ERR_POLICY,
                               "bell %s tick %llu seen twice with different epoch-ticks", b.name,
                               (unsigned long long)b.id);
        else if (!s->have_prev && b.has_prev)
            install_prev(s, &b);
    } else if (s->have_cur && b.id == s->cur.id + 1) {
        /* The tick we held is the previous one: keep what we saw. */
        s->prev = s->cur;
        s->have_prev = true;
        s->cur = b;
        v->generation++;
    } else {
        /* First marker of this bell, or ticks were skipped: what we held
         * (if anything) is older than id - 1 and no longer fresh. The
         * previous tick is the one the marker carries, signed with it. */
        s->cur = b;
        s->have_cur = true;
        s->have_prev = false;
        memset(&s->prev, 0, sizeof(s->prev));
        if (b.has_prev)
            install_prev(s, &b);
        v->generation++;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

vmesh_err vmesh_bell_view_current(vmesh_bell_view *v, vmesh_bell *out)
{
    vmesh_err rc = VMESH_OK;

    pthread_mutex_lock(&v->lock);
    if (v->bells[0].have_cur)
        *out = v->bells[0].cur;
    else
        rc = vmesh_err_set(VMESH_ERR_NOT_FOUND, "no epoch bell received yet");
    pthread_mutex_unlock(&v->lock);
    return rc;
}

vmesh_err vmesh_bell_view_previous(vmesh_bell_view *v, vmesh_bell *out)
{
    vmesh_err rc = VMESH_OK;

    pthread_mutex_lock(&v->lock);
    if (v->bells[0].have_prev)
        *out = v->bells[0].prev;
    else
        rc = vmesh_err_set(VMESH_ERR_NOT_FOUND, "no previous epoch tick");
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static bool tick_ok(const vmesh_bell *b, uint64_t id, const uint8_t *nonce, size_t nonce_len,
                    int64_t now)
{
    return b->id == id && nonce_len == VMESH_BELL_NONCE_LEN &&
           vmesh_crypto_memeq(b->nonce, nonce, nonce_len) && b->valid_until > now;
}

/* Current or previous tick of slot s? */
static bool slot_ok(const bell_slot *s, uint64_t id, const uint8_t *nonce, size_t nonce_len,
                    int64_t now, int64_t *issued_at)
{
    if (s->have_cur && tick_ok(&s->cur, id, nonce, nonce_len, now)) {
        if (issued_at)
            *issued_at = s->cur.issued_at;
        return true;
    }
    if (s->have_prev && tick_ok(&s->prev, id, nonce, nonce_len, now)) {
        if (issued_at)
            *issued_at = s->prev.issued_at;
        return true;
    }
    return false;
}

vmesh_err vmesh_bell_view_check(vmesh_bell_view *v, uint64_t id, const uint8_t *nonce,
                                size_t nonce_len, int64_t now, int64_t *issued_at)
{
    vmesh_err rc = VMESH_OK;
    bool any = false, ok = false;

    pthread_mutex_lock(&v->lock);
    /* Epoch-ticks are 32 random bytes: the one that matches tells which
     * bell the evidence was bound to. */
    for (size_t i = 0; i < v->n && !ok; i++) {
        any = any || v->bells[i].have_cur;
        ok = slot_ok(&v->bells[i], id, nonce, nonce_len, now, issued_at);
    }
    if (ok)
        rc = VMESH_OK;
    else if (!any)
        rc = vmesh_err_set(VMESH_ERR_NOT_FOUND,
                           "no epoch bell received yet: cannot judge epoch freshness");
    else if (v->bells[0].have_cur && id < v->bells[0].cur.id)
        rc = vmesh_err_set(VMESH_ERR_EXPIRED,
                           "stale epoch: evidence is bound to tick %llu, current tick is %llu",
                           (unsigned long long)id, (unsigned long long)v->bells[0].cur.id);
    else
        rc = vmesh_err_set(VMESH_ERR_MISMATCH,
                           "evidence is bound to epoch %llu with an epoch-tick that matches no "
                           "current or previous "
                           "tick of the bells we follow",
                           (unsigned long long)id);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

size_t vmesh_bell_view_markers(vmesh_bell_view *v, vmesh_bell_marker *out, size_t max)
{
    size_t k = 0;

    pthread_mutex_lock(&v->lock);
    for (size_t i = 0; i < v->n && k < max; i++) {
        if (!v->bells[i].have_cur)
            continue;
        memset(&out[k], 0, sizeof(out[k]));
        memcpy(out[k].bell, v->bells[i].cur.name, sizeof(out[k].bell));
        out[k].tick = v->bells[i].cur.id;
        memcpy(out[k].em, v->bells[i].cur.nonce, sizeof(out[k].em));
        k++;
    }
    pthread_mutex_unlock(&v->lock);
    return k;
}

vmesh_err vmesh_bell_view_check_markers(vmesh_bell_view *v, const vmesh_bell_marker *m, size_t n,
                                        int64_t now)
{
    vmesh_err rc = VMESH_OK;
    size_t common = 0;

    pthread_mutex_lock(&v->lock);
    for (size_t j = 0; j < n && rc == VMESH_OK; j++) {
        const bell_slot *s = NULL;
        for (size_t i = 0; i < v->n && s == NULL; i++)
            if (v->bells[i].have_cur && strcmp(v->bells[i].cur.name, m[j].bell) == 0)
                s = &v->bells[i];
        if (s == NULL)
            continue; /* a bell we do not follow tells us nothing */
        common++;
        if (slot_ok(s, m[j].tick, m[j].em, sizeof(m[j].em), now, NULL))
            continue;
        if (m[j].tick < s->cur.id)
            rc = vmesh_err_set(
                VMESH_ERR_EXPIRED,
                "stale epoch marker: produced under bell %s tick %llu, the bell is at tick %llu "
                "(only the current and previous tick are fresh)",
                m[j].bell, (unsigned long long)m[j].tick, (unsigned long long)s->cur.id);
        else
            rc = vmesh_err_set(
                VMESH_ERR_MISMATCH,
                "epoch marker of bell %s tick %llu matches no tick we received (current %llu)",
                m[j].bell, (unsigned long long)m[j].tick, (unsigned long long)s->cur.id);
    }
    if (rc == VMESH_OK && common == 0)
        rc = vmesh_err_set(
            VMESH_ERR_NOT_FOUND,
            "the result names no epoch marker of a bell we follow: cannot judge its freshness");
    pthread_mutex_unlock(&v->lock);
    return rc;
}

uint64_t vmesh_bell_view_generation(vmesh_bell_view *v)
{
    uint64_t g;

    pthread_mutex_lock(&v->lock);
    g = v->generation;
    pthread_mutex_unlock(&v->lock);
    return g;
}
