/*
 * The epoch bell: signing, verifying, and a relying party's two-tick view.
 * It must never accept an unsigned or rolled-back tick, and never report a
 * tick as fresh once its validity has passed.
 */
#include "vmesh/rvp.h"
#include "vmesh/jose.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BELL_TYP "vmesh-bell+jwt"
#define FUTURE_LEEWAY 300

vmesh_err vmesh_rvp_bell_sign(const vmesh_bell *b, const vmesh_key *key, vmesh_buf *jws)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf nonce = {0};
    json_t *o = NULL;
    char *s = NULL;

    VMESH_ENSURE(b->id <= (uint64_t)INT64_MAX, VMESH_ERR_ARG, "bell id %llu too large", (unsigned long long)b->id);
    VMESH_ENSURE(b->name[0] != '\0', VMESH_ERR_ARG, "a bell needs a name");
    VMESH_GUARD(vmesh_b64url_encode(b->nonce, sizeof(b->nonce), &nonce));
    o = json_pack("{s:s, s:I, s:s, s:I, s:I}", "bell", b->name, "id", (json_int_t)b->id, "nonce",
                  (const char *)nonce.data, "issued_at", (json_int_t)b->issued_at, "valid_until",
                  (json_int_t)b->valid_until);
    VMESH_ENSURE(o != NULL, VMESH_ERR_NOMEM, "out of memory");
    s = json_dumps(o, JSON_COMPACT);
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(vmesh_jose_jws_sign(key, BELL_TYP, NULL, (const uint8_t *)s, strlen(s), jws));
out:
    free(s);
    json_decref(o);
    vmesh_buf_free(&nonce);
    return rc;
}

vmesh_err vmesh_rvp_bell_next(const char *name, uint64_t prev_id, int64_t period, vmesh_bell *out)
{
    vmesh_err rc;
    size_t n = strlen(name);

    memset(out, 0, sizeof(*out));
    if (n == 0 || n > VMESH_BELL_NAME_MAX)
        return vmesh_err_set(VMESH_ERR_ARG, "bell name must be 1..%d characters", VMESH_BELL_NAME_MAX);
    if (period <= 0 || period > 86400 * 7)
        return vmesh_err_set(VMESH_ERR_ARG, "bell period must be 1..604800 seconds");
    memcpy(out->name, name, n);
    out->id = prev_id + 1;
    rc = vmesh_crypto_random(out->nonce, sizeof(out->nonce));
    if (rc != VMESH_OK)
        return rc;
    out->issued_at = vmesh_time_now();
    out->valid_until = out->issued_at + 2 * period;
    return VMESH_OK;
}

static vmesh_err get_int(json_t *o, const char *k, int64_t min, json_int_t *out)
{
    json_t *v = json_object_get(o, k);

    if (!json_is_integer(v) || json_integer_value(v) < min)
        return vmesh_err_set(VMESH_ERR_PARSE, "bell: \"%s\" must be an integer >= %lld", k, (long long)min);
    *out = json_integer_value(v);
    return VMESH_OK;
}

vmesh_err vmesh_rvp_bell_read(const char *jws, size_t n, const vmesh_key *key, vmesh_bell *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf payload = {0}, nonce = {0};
    json_t *o = NULL, *v;
    json_int_t id, iat, until;
    json_error_t jerr;

    memset(out, 0, sizeof(*out));
    VMESH_ENSURE(n <= VMESH_BELL_JWS_MAX, VMESH_ERR_TOO_LARGE, "bell larger than %zu bytes", VMESH_BELL_JWS_MAX);
    rc = vmesh_jose_jws_verify(jws, n, key, &payload);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "bell signature");
        goto out;
    }
    o = json_loadb((const char *)payload.data, payload.len, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(json_is_object(o), VMESH_ERR_PARSE, "bell: payload is not a JSON object");
    v = json_object_get(o, "bell");
    VMESH_ENSURE(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= VMESH_BELL_NAME_MAX,
                 VMESH_ERR_PARSE, "bell: \"bell\" must be a name of 1..%d characters", VMESH_BELL_NAME_MAX);
    memcpy(out->name, json_string_value(v), json_string_length(v));
    VMESH_GUARD(get_int(o, "id", 1, &id));
    VMESH_GUARD(get_int(o, "issued_at", 0, &iat));
    VMESH_GUARD(get_int(o, "valid_until", 0, &until));
    v = json_object_get(o, "nonce");
    VMESH_ENSURE(json_is_string(v), VMESH_ERR_PARSE, "bell: \"nonce\" must be a base64url string");
    rc = vmesh_b64_decode(json_string_value(v), json_string_length(v), &nonce);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "bell: \"nonce\"");
        goto out;
    }
    VMESH_ENSURE(nonce.len == VMESH_BELL_NONCE_LEN, VMESH_ERR_PARSE, "bell: nonce is %zu bytes, expected %d",
                 nonce.len, VMESH_BELL_NONCE_LEN);
    VMESH_ENSURE(until > iat, VMESH_ERR_PARSE, "bell: valid_until is not after issued_at");
    out->id = (uint64_t)id;
    out->issued_at = iat;
    out->valid_until = until;
    memcpy(out->nonce, nonce.data, VMESH_BELL_NONCE_LEN);
out:
    json_decref(o);
    vmesh_buf_free(&payload);
    vmesh_buf_free(&nonce);
    return rc;
}

vmesh_err vmesh_rvp_bell_verify(const char *jws, size_t n, const vmesh_key *key, int64_t now, vmesh_bell *out)
{
    vmesh_err rc = vmesh_rvp_bell_read(jws, n, key, out);

    if (rc != VMESH_OK)
        return rc;
    if (out->issued_at > now + FUTURE_LEEWAY)
        return vmesh_err_set(VMESH_ERR_EXPIRED, "bell %llu is issued in the future (%lld > now %lld)",
                             (unsigned long long)out->id, (long long)out->issued_at, (long long)now);
    if (out->valid_until <= now)
        return vmesh_err_set(VMESH_ERR_EXPIRED, "bell %llu expired at %lld (now %lld): has the RVP stopped ticking?",
                             (unsigned long long)out->id, (long long)out->valid_until, (long long)now);
    return VMESH_OK;
}

struct vmesh_bell_view {
    pthread_mutex_t lock;
    vmesh_key *key;
    vmesh_bell cur, prev;
    bool have_cur, have_prev;
    uint64_t generation;
};

vmesh_err vmesh_bell_view_new(const vmesh_key *key, vmesh_bell_view **out)
{
    vmesh_bell_view *v = calloc(1, sizeof(*v));

    *out = NULL;
    if (v == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&v->lock, NULL);
    v->key = vmesh_crypto_key_ref((vmesh_key *)key);
    *out = v;
    return VMESH_OK;
}

void vmesh_bell_view_free(vmesh_bell_view *v)
{
    if (v == NULL)
        return;
    vmesh_crypto_key_free(v->key);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

vmesh_err vmesh_bell_view_update(vmesh_bell_view *v, const char *jws, size_t n, int64_t now)
{
    vmesh_bell b;
    vmesh_err rc = vmesh_rvp_bell_verify(jws, n, v->key, now, &b);

    if (rc != VMESH_OK)
        return rc;
    pthread_mutex_lock(&v->lock);
    if (v->have_cur && b.id < v->cur.id) {
        rc = vmesh_err_set(VMESH_ERR_POLICY, "bell rollback refused: tick %llu is older than the current %llu",
                           (unsigned long long)b.id, (unsigned long long)v->cur.id);
    } else if (v->have_cur && b.id == v->cur.id) {
        if (memcmp(b.nonce, v->cur.nonce, sizeof(b.nonce)) != 0)
            rc = vmesh_err_set(VMESH_ERR_POLICY, "bell tick %llu seen twice with different nonces",
                               (unsigned long long)b.id);
    } else {
        v->prev = v->cur;
        v->have_prev = v->have_cur;
        v->cur = b;
        v->have_cur = true;
        v->generation++;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

vmesh_err vmesh_bell_view_current(vmesh_bell_view *v, vmesh_bell *out)
{
    vmesh_err rc = VMESH_OK;

    pthread_mutex_lock(&v->lock);
    if (v->have_cur)
        *out = v->cur;
    else
        rc = vmesh_err_set(VMESH_ERR_NOT_FOUND, "no epoch bell received yet");
    pthread_mutex_unlock(&v->lock);
    return rc;
}

vmesh_err vmesh_bell_view_previous(vmesh_bell_view *v, vmesh_bell *out)
{
    vmesh_err rc = VMESH_OK;

    pthread_mutex_lock(&v->lock);
    if (v->have_prev)
        *out = v->prev;
    else
        rc = vmesh_err_set(VMESH_ERR_NOT_FOUND, "no previous epoch tick");
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static bool tick_ok(const vmesh_bell *b, uint64_t id, const uint8_t *nonce, size_t nonce_len, int64_t now)
{
    return b->id == id && nonce_len == VMESH_BELL_NONCE_LEN && vmesh_crypto_memeq(b->nonce, nonce, nonce_len) &&
           b->valid_until > now;
}

vmesh_err vmesh_bell_view_check(vmesh_bell_view *v, uint64_t id, const uint8_t *nonce, size_t nonce_len,
                                int64_t now, int64_t *issued_at)
{
    vmesh_err rc = VMESH_OK;

    pthread_mutex_lock(&v->lock);
    if (!v->have_cur)
        rc = vmesh_err_set(VMESH_ERR_NOT_FOUND, "no epoch bell received yet: cannot judge epoch freshness");
    else if (tick_ok(&v->cur, id, nonce, nonce_len, now)) {
        if (issued_at)
            *issued_at = v->cur.issued_at;
    } else if (v->have_prev && tick_ok(&v->prev, id, nonce, nonce_len, now)) {
        if (issued_at)
            *issued_at = v->prev.issued_at;
    }
    else if (id < v->cur.id)
        rc = vmesh_err_set(VMESH_ERR_EXPIRED, "stale epoch: evidence is bound to tick %llu, current tick is %llu",
                           (unsigned long long)id, (unsigned long long)v->cur.id);
    else
        rc = vmesh_err_set(VMESH_ERR_MISMATCH, "evidence is bound to epoch %llu with a nonce that matches no known tick",
                           (unsigned long long)id);
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
