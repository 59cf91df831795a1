/*
 * The lookup journal (D43): what an appraisal asked the RV store and what
 * it was told, recorded by the store's own query functions while a journal
 * records on the thread, encoded as CBOR and asked again of another store.
 * It must never say "same" when some answer differs, never record less
 * than the appraisal read (a query it cannot ask again spoils it), and
 * never trust an encoded journal beyond its caps.
 *
 * Encoding: [1, [env...], [record...]], env = [scheme, class id], record =
 * [kind, env index, ...] (docs/EAR.md "ear.vmesh.rv-journal").
 */
#include "rv_int.h"
#include "vmesh/cbor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    K_FIND_MEAS = 1, /* [1, env, max, count, digest]            measurements found */
    K_MATCH_MEAS,    /* [2, env, name, value, answer -1/0/1]     vmesh_rv_match_measurement */
    K_FIND_KEYS,     /* [3, env, instance|null, max, count, digest] keys found */
    K_KEY_IN,        /* [4, env, instance|null, max, spki digest]  the key that verified is among them */
    K_HAS_CLASS,     /* [5, env, bool] */
    K_FIND_ATTRS,    /* [6, env, name, max, count, digest] */
    K_ATTR_U64,      /* [7, env, name, v, answer -1/0/1] */
    K_STALE,         /* [8, 0, bool]                             the snapshot is stale */
    K_CLAIM,         /* [9, env, name|null, value, version|null, bool] */
    K_HAS_MEAS,      /* [10, env, bool] */
    K__MAX
};

#define JOURNAL_VERSION 1
/* The largest list a recorded query may have asked for: what the schemes
 * ask (8 keys, 16 attributes, 64 measurements) with room to spare, small
 * enough for the stack. */
#define REPLAY_MAX_LIST 256

typedef struct {
    uint8_t kind;
    uint8_t env;
    char *name;       /* measurement/attribute/claim name; NULL: none */
    char *version;    /* claim version; NULL: none */
    uint8_t *bytes;   /* value (match, claim) or instance id (keys) */
    size_t nbytes;
    bool has_bytes;   /* instance id given */
    uint64_t u;       /* max of a list query; v of an attr query */
    uint64_t count;   /* list query: how many were found */
    int64_t answer;   /* yes/no or -1/0/1 */
    uint8_t dig[32];  /* list query: digest of what was returned; key-in: the key's SPKI digest */
} rec;

struct vmesh_rv_journal {
    struct {
        char scheme[VMESH_RV_MAX_SCHEME + 1];
        uint8_t cls[VMESH_RV_MAX_ID];
        size_t len;
    } env[VMESH_RV_JOURNAL_MAX_ENVS];
    size_t nenv;
    rec r[VMESH_RV_JOURNAL_MAX_RECORDS];
    size_t n;
    bool overflow;
    const char *spoiled; /* what spoiled it (a literal) */
};

static _Thread_local vmesh_rv_journal *t_journal;

vmesh_err vmesh_rv_journal_new(vmesh_rv_journal **out)
{
    *out = calloc(1, sizeof(**out));
    return *out == NULL ? vmesh_err_set(VMESH_ERR_NOMEM, "out of memory") : VMESH_OK;
}

static void rec_clear(rec *r)
{
    free(r->name);
    free(r->version);
    free(r->bytes);
    memset(r, 0, sizeof(*r));
}

void vmesh_rv_journal_free(vmesh_rv_journal *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->n; i++)
        rec_clear(&j->r[i]);
    free(j);
}

vmesh_rv_journal *vmesh_rv_journal_record(vmesh_rv_journal *j)
{
    vmesh_rv_journal *old = t_journal;

    t_journal = j;
    return old;
}

void rv_journal_spoil(const char *what)
{
    if (t_journal != NULL && t_journal->spoiled == NULL)
        t_journal->spoiled = what;
}

/* ---- digests of list answers ------------------------------------------------ */

typedef struct {
    vmesh_buf b;
    bool failed;
} dig_ctx;

static void dig_put(dig_ctx *d, const void *p, size_t n)
{
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};

    if (vmesh_buf_append(&d->b, len, 4) != VMESH_OK || (n > 0 && vmesh_buf_append(&d->b, p, n) != VMESH_OK))
        d->failed = true;
}

static void dig_str(dig_ctx *d, const char *s)
{
    if (s == NULL)
        dig_put(d, "\xff", 1); /* not a valid text: NULL is not "" */
    else
        dig_put(d, s, strlen(s) + 1);
}

/* False when it cannot be computed (memory): the caller spoils the journal. */
static bool dig_end(dig_ctx *d, uint8_t out[32])
{
    bool ok = !d->failed;

    if (ok)
        vmesh_crypto_sha256(d->b.data, d->b.len, out);
    vmesh_buf_free(&d->b);
    vmesh_err_clear();
    return ok;
}

static bool digest_measurements(const vmesh_rv_measurement *const *m, size_t n, uint8_t out[32])
{
    dig_ctx d = {{0}, false};

    for (size_t i = 0; i < n; i++) {
        uint8_t alg[4] = {(uint8_t)(m[i]->digest_alg >> 24), (uint8_t)(m[i]->digest_alg >> 16),
                          (uint8_t)(m[i]->digest_alg >> 8), (uint8_t)m[i]->digest_alg};
        dig_str(&d, m[i]->name);
        dig_str(&d, m[i]->version);
        dig_put(&d, m[i]->signer_id, m[i]->signer_id ? m[i]->signer_id_len : 0);
        dig_put(&d, alg, 4);
        dig_put(&d, m[i]->digest, m[i]->digest_len);
    }
    return dig_end(&d, out);
}

static bool digest_key(const vmesh_key *k, uint8_t out[32])
{
    vmesh_buf spki = {0};
    bool ok = vmesh_crypto_key_to_spki(k, &spki) == VMESH_OK;

    if (ok)
        vmesh_crypto_sha256(spki.data, spki.len, out);
    vmesh_buf_free(&spki);
    vmesh_err_clear();
    return ok;
}

/* Over the keys' SPKI digests (rv_q_find_key_digests); false when one has
 * none. */
static bool digest_keys(const uint8_t *const *kd, size_t n, uint8_t out[32])
{
    dig_ctx d = {{0}, false};

    for (size_t i = 0; i < n; i++) {
        if (kd[i] == NULL)
            d.failed = true;
        else
            dig_put(&d, kd[i], 32);
    }
    return dig_end(&d, out);
}

static bool digest_attrs(const char *const *v, size_t n, uint8_t out[32])
{
    dig_ctx d = {{0}, false};

    for (size_t i = 0; i < n; i++)
        dig_str(&d, v[i]);
    return dig_end(&d, out);
}

/* ---- recording ---------------------------------------------------------------- */

/* The next record of the thread's journal for (scheme, class); NULL when
 * none records or it is full (then it is marked so). */
static rec *rec_new(int kind, const char *scheme, const uint8_t *cls, size_t len)
{
    vmesh_rv_journal *j = t_journal;
    size_t e;
    rec *r;

    if (j == NULL || j->spoiled != NULL || j->overflow)
        return NULL;
    if (j->n >= VMESH_RV_JOURNAL_MAX_RECORDS) {
        j->overflow = true;
        return NULL;
    }
    if (kind == K_STALE) {
        e = 0;
    } else {
        if (scheme == NULL || strlen(scheme) > VMESH_RV_MAX_SCHEME || len > VMESH_RV_MAX_ID ||
            (len > 0 && cls == NULL)) {
            j->spoiled = "a query without a valid scheme or class";
            return NULL;
        }
        for (e = 0; e < j->nenv; e++)
            if (strcmp(j->env[e].scheme, scheme) == 0 && j->env[e].len == len &&
                (len == 0 || memcmp(j->env[e].cls, cls, len) == 0))
                break;
        if (e == j->nenv) {
            if (j->nenv >= VMESH_RV_JOURNAL_MAX_ENVS) {
                j->overflow = true;
                return NULL;
            }
            snprintf(j->env[e].scheme, sizeof(j->env[e].scheme), "%s", scheme);
            if (len > 0)
                memcpy(j->env[e].cls, cls, len);
            j->env[e].len = len;
            j->nenv++;
        }
    }
    r = &j->r[j->n++];
    memset(r, 0, sizeof(*r));
    r->kind = (uint8_t)kind;
    r->env = (uint8_t)e;
    return r;
}

/* Copies of the question's strings and bytes; false (and the journal
 * spoiled) when memory runs out. */
static bool rec_text(rec *r, char **dst, const char *s)
{
    if (s == NULL)
        return true;
    *dst = strdup(s);
    if (*dst == NULL) {
        rv_journal_spoil("out of memory");
        return false;
    }
    (void)r;
    return true;
}

static bool rec_bytes(rec *r, const uint8_t *p, size_t n)
{
    r->has_bytes = p != NULL;
    if (p == NULL || n == 0)
        return true;
    r->bytes = malloc(n);
    if (r->bytes == NULL) {
        rv_journal_spoil("out of memory");
        return false;
    }
    memcpy(r->bytes, p, n);
    r->nbytes = n;
    return true;
}

size_t vmesh_rv_find_measurements(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                                  size_t class_len, const vmesh_rv_measurement **out, size_t max)
{
    size_t n = rv_q_find_measurements(s, scheme, class_id, class_len, out, max);
    rec *r = rec_new(K_FIND_MEAS, scheme, class_id, class_len);

    if (r != NULL && out != NULL && max > REPLAY_MAX_LIST) {
        rv_journal_spoil("a measurement query for more than a journal replays");
    } else if (r != NULL) {
        r->u = out != NULL ? max : 0;
        r->count = n;
        if (!digest_measurements(out, n < r->u ? n : r->u, r->dig))
            rv_journal_spoil("out of memory");
    }
    return n;
}

int vmesh_rv_match_measurement(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                               size_t class_len, const char *name, const uint8_t *value, size_t value_len)
{
    int res = rv_q_match_measurement(s, scheme, class_id, class_len, name, value, value_len);
    rec *r = rec_new(K_MATCH_MEAS, scheme, class_id, class_len);

    if (r != NULL && (name == NULL || (value == NULL && value_len > 0)))
        rv_journal_spoil("a measurement query without a name or value");
    else if (r != NULL && rec_text(r, &r->name, name) && rec_bytes(r, value, value_len))
        r->answer = res;
    return res;
}

size_t vmesh_rv_find_keys(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                          const uint8_t *instance_id, size_t instance_len, vmesh_key **out, size_t max)
{
    size_t n = rv_q_find_keys(s, scheme, class_id, class_len, instance_id, instance_len, out, max);
    rec *r = rec_new(K_FIND_KEYS, scheme, class_id, class_len);

    if (r != NULL && rec_bytes(r, instance_len > 0 ? instance_id : NULL, instance_len)) {
        const uint8_t *kd[REPLAY_MAX_LIST];
        r->u = out != NULL ? max : 0;
        r->count = n;
        if (r->u > REPLAY_MAX_LIST) {
            rv_journal_spoil("a key query for more keys than a journal replays");
            return n;
        }
        (void)rv_q_find_key_digests(s, scheme, class_id, class_len, instance_id, instance_len, kd, r->u);
        if (!digest_keys(kd, n < r->u ? n : r->u, r->dig))
            rv_journal_spoil("a key without a public form");
    }
    return n;
}

void vmesh_rv_journal_key_used(const vmesh_key *k)
{
    vmesh_rv_journal *j = t_journal;

    if (j == NULL || j->spoiled != NULL || j->overflow)
        return;
    for (size_t i = j->n; i-- > 0;) {
        if (j->r[i].kind != K_FIND_KEYS)
            continue;
        if (!digest_key(k, j->r[i].dig))
            rv_journal_spoil("a key without a public form");
        j->r[i].kind = K_KEY_IN;
        j->r[i].answer = 1;
        return;
    }
    rv_journal_spoil("a key used that no query returned");
}

bool vmesh_rv_has_class(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len)
{
    bool res = rv_q_has_class(s, scheme, class_id, class_len);
    rec *r = rec_new(K_HAS_CLASS, scheme, class_id, class_len);

    if (r != NULL)
        r->answer = res;
    return res;
}

size_t vmesh_rv_find_attrs(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                           const char *name, const char **out, size_t max)
{
    size_t n = rv_q_find_attrs(s, scheme, class_id, class_len, name, out, max);
    rec *r = rec_new(K_FIND_ATTRS, scheme, class_id, class_len);

    if (r != NULL && (name == NULL || (out != NULL && max > REPLAY_MAX_LIST)))
        rv_journal_spoil("an attribute query without a name or for more than a journal replays");
    else if (r != NULL && rec_text(r, &r->name, name)) {
        r->u = out != NULL ? max : 0;
        r->count = n;
        if (!digest_attrs(out, n < r->u ? n : r->u, r->dig))
            rv_journal_spoil("out of memory");
    }
    return n;
}

vmesh_err vmesh_rv_attr_u64_accepts(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                                    size_t class_len, const char *name, uint64_t v, int *res)
{
    vmesh_err rc = rv_q_attr_u64_accepts(s, scheme, class_id, class_len, name, v, res);
    rec *r;

    if (rc != VMESH_OK) {
        rv_journal_spoil("an attribute that is not an unsigned integer");
        return rc;
    }
    r = rec_new(K_ATTR_U64, scheme, class_id, class_len);
    if (r != NULL && name == NULL)
        rv_journal_spoil("an attribute query without a name");
    else if (r != NULL && rec_text(r, &r->name, name)) {
        r->u = v;
        r->answer = *res;
    }
    return rc;
}

bool vmesh_rv_store_is_stale(const vmesh_rv_store *s)
{
    bool res = rv_q_is_stale(s);
    rec *r = rec_new(K_STALE, NULL, NULL, 0);

    if (r != NULL)
        r->answer = res;
    return res;
}

bool vmesh_rv_claim_accepted(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                             size_t class_len, const vmesh_rv_claim *c)
{
    bool res = rv_q_claim_accepted(s, scheme, class_id, class_len, c);
    rec *r = rec_new(K_CLAIM, scheme, class_id, class_len);

    if (r != NULL && (c == NULL || (c->value == NULL && c->value_len > 0)))
        rv_journal_spoil("a claim without a value");
    else if (r != NULL && rec_text(r, &r->name, c->name) && rec_text(r, &r->version, c->version) &&
             rec_bytes(r, c->value, c->value_len))
        r->answer = res;
    return res;
}

bool vmesh_rv_has_measurements(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                               size_t class_len)
{
    bool res = rv_q_count_measurements(s, scheme, class_id, class_len) > 0;
    rec *r = rec_new(K_HAS_MEAS, scheme, class_id, class_len);

    if (r != NULL)
        r->answer = res;
    return res;
}

/* ---- encoding ------------------------------------------------------------------- */

static vmesh_err put_opt_text(vmesh_buf *b, const char *s)
{
    return s == NULL ? vmesh_cbor_put_head(b, 7, 22) : vmesh_cbor_put_text(b, s);
}

static vmesh_err put_rec(vmesh_buf *b, const rec *r)
{
    vmesh_err rc = VMESH_OK;
    static const uint8_t nfields[K__MAX] = {
        [K_FIND_MEAS] = 5, [K_MATCH_MEAS] = 5, [K_FIND_KEYS] = 6, [K_KEY_IN] = 5, [K_HAS_CLASS] = 3,
        [K_FIND_ATTRS] = 6, [K_ATTR_U64] = 5, [K_STALE] = 3, [K_CLAIM] = 6, [K_HAS_MEAS] = 3,
    };

    VMESH_GUARD(vmesh_cbor_put_array(b, nfields[r->kind]));
    VMESH_GUARD(vmesh_cbor_put_uint(b, r->kind));
    VMESH_GUARD(vmesh_cbor_put_uint(b, r->env));
    switch (r->kind) {
    case K_FIND_MEAS:
        VMESH_GUARD(vmesh_cbor_put_uint(b, r->u));
        VMESH_GUARD(vmesh_cbor_put_uint(b, r->count));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, r->dig, 32));
        break;
    case K_MATCH_MEAS:
        VMESH_GUARD(vmesh_cbor_put_text(b, r->name));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, r->bytes, r->nbytes));
        VMESH_GUARD(vmesh_cbor_put_int(b, r->answer));
        break;
    case K_FIND_KEYS:
    case K_KEY_IN:
        if (r->has_bytes)
            VMESH_GUARD(vmesh_cbor_put_bstr(b, r->bytes, r->nbytes));
        else
            VMESH_GUARD(vmesh_cbor_put_head(b, 7, 22));
        VMESH_GUARD(vmesh_cbor_put_uint(b, r->u));
        if (r->kind == K_FIND_KEYS)
            VMESH_GUARD(vmesh_cbor_put_uint(b, r->count));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, r->dig, 32));
        break;
    case K_HAS_CLASS:
    case K_STALE:
    case K_HAS_MEAS:
        VMESH_GUARD(vmesh_cbor_put_bool(b, r->answer != 0));
        break;
    case K_FIND_ATTRS:
        VMESH_GUARD(vmesh_cbor_put_text(b, r->name));
        VMESH_GUARD(vmesh_cbor_put_uint(b, r->u));
        VMESH_GUARD(vmesh_cbor_put_uint(b, r->count));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, r->dig, 32));
        break;
    case K_ATTR_U64:
        VMESH_GUARD(vmesh_cbor_put_text(b, r->name));
        VMESH_GUARD(vmesh_cbor_put_uint(b, r->u));
        VMESH_GUARD(vmesh_cbor_put_int(b, r->answer));
        break;
    case K_CLAIM:
        VMESH_GUARD(put_opt_text(b, r->name));
        VMESH_GUARD(vmesh_cbor_put_bstr(b, r->bytes, r->nbytes));
        VMESH_GUARD(put_opt_text(b, r->version));
        VMESH_GUARD(vmesh_cbor_put_bool(b, r->answer != 0));
        break;
    default: VMESH_FAIL(VMESH_ERR_STATE, "lookup journal: record of unknown kind %u", r->kind);
    }
out:
    return rc;
}

vmesh_err vmesh_rv_journal_encode(const vmesh_rv_journal *j, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    VMESH_ENSURE(j != NULL, VMESH_ERR_ARG, "no lookup journal");
    VMESH_ENSURE(j->spoiled == NULL, VMESH_ERR_STATE, "the appraisal read %s: its lookup journal cannot be replayed",
                 j->spoiled ? j->spoiled : "");
    VMESH_ENSURE(!j->overflow, VMESH_ERR_TOO_LARGE,
                 "the appraisal asked more than %d questions of more than %d classes: no lookup journal",
                 VMESH_RV_JOURNAL_MAX_RECORDS, VMESH_RV_JOURNAL_MAX_ENVS);
    VMESH_GUARD(vmesh_cbor_put_array(&b, 3));
    VMESH_GUARD(vmesh_cbor_put_uint(&b, JOURNAL_VERSION));
    VMESH_GUARD(vmesh_cbor_put_array(&b, j->nenv));
    for (size_t i = 0; i < j->nenv; i++) {
        VMESH_GUARD(vmesh_cbor_put_array(&b, 2));
        VMESH_GUARD(vmesh_cbor_put_text(&b, j->env[i].scheme));
        VMESH_GUARD(vmesh_cbor_put_bstr(&b, j->env[i].cls, j->env[i].len));
    }
    VMESH_GUARD(vmesh_cbor_put_array(&b, j->n));
    for (size_t i = 0; i < j->n; i++)
        VMESH_GUARD(put_rec(&b, &j->r[i]));
    VMESH_ENSURE(b.len <= VMESH_RV_JOURNAL_MAX, VMESH_ERR_TOO_LARGE,
                 "the lookup journal is %zu bytes, the cap is %d: no lookup journal", b.len, VMESH_RV_JOURNAL_MAX);
    VMESH_GUARD(vmesh_buf_append(out, b.data, b.len));
out:
    vmesh_buf_free(&b);
    return rc;
}

/* ---- replay ----------------------------------------------------------------------- */

typedef struct {
    const char *scheme; /* NUL-terminated copy below */
    char sbuf[VMESH_RV_MAX_SCHEME + 1];
    const uint8_t *cls;
    size_t len;
} env_view;

/* "class 0a1b2c3d…" of an env, for messages. */
static void cls_text(const env_view *e, char *out, size_t n)
{
    size_t o = 0;

    o += (size_t)snprintf(out, n, "%s class ", e->sbuf);
    for (size_t i = 0; i < e->len && i < 6 && o + 3 < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%02x", e->cls[i]);
    if (e->len > 6 && o + 4 < n)
        snprintf(out + o, n - o, "…");
}

static void hex_short(const uint8_t *p, size_t len, char *out, size_t n)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < len && i < 8 && o + 3 < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%02x", p[i]);
    if (len > 8 && o + 4 < n)
        snprintf(out + o, n - o, "…");
}

static void why_set(char *why, size_t n, const vmesh_rv_store *s, const char *fmt, ...) VMESH_PRINTF(4, 5);
static void why_set(char *why, size_t n, const vmesh_rv_store *s, const char *fmt, ...)
{
    va_list ap;
    size_t o;

    if (why == NULL || n == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    o = strlen(why);
    for (size_t i = 0; i < vmesh_rv_epoch_count(s) && o + 1 < n; i++) {
        const char *rvp;
        uint64_t ep;
        if (vmesh_rv_epoch_at(s, i, &rvp, &ep))
            o += (size_t)snprintf(why + o, n - o, "%s RVP %s epoch %llu", i == 0 ? " at" : ",", rvp,
                                  (unsigned long long)ep);
        if (o >= n)
            o = n - 1;
    }
}

static vmesh_err read_opt_text(vmesh_cbor *c, size_t cap, char *buf, bool *present, const char *field)
{
    vmesh_err rc = VMESH_OK;
    const char *p;
    size_t n;

    *present = false;
    if (vmesh_cbor_at_null(c)) {
        vmesh_cbor_head h;
        return vmesh_cbor_read_head(c, &h);
    }
    VMESH_GUARD(vmesh_cbor_read_tstr(c, cap, &p, &n, field));
    memcpy(buf, p, n);
    buf[n] = '\0';
    *present = true;
out:
    return rc;
}

static vmesh_err read_answer_int(vmesh_cbor *c, int64_t *v)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_cbor_read_int(c, v, "answer"));
    VMESH_ENSURE(*v >= -1 && *v <= 1, VMESH_ERR_PARSE, "lookup journal: answer %lld is not -1, 0 or 1",
                 (long long)*v);
out:
    return rc;
}

static vmesh_err read_dig(vmesh_cbor *c, uint8_t out[32], const char *field)
{
    vmesh_err rc = VMESH_OK;
    const uint8_t *p;
    size_t n;

    VMESH_GUARD(vmesh_cbor_read_bstr(c, 32, &p, &n, field));
    VMESH_ENSURE(n == 32, VMESH_ERR_PARSE, "lookup journal: %s is %zu bytes, expected 32", field, n);
    memcpy(out, p, 32);
out:
    return rc;
}

/* One record: *same false and why filled when its answer differs. */
static vmesh_err replay_rec(vmesh_cbor *c, const env_view *envs, size_t nenv, const vmesh_rv_store *s, bool *same,
                            char *why, size_t why_len)
{
    vmesh_err rc = VMESH_OK;
    uint64_t count, kind, ei, max, cnt, v;
    int64_t ans;
    bool b, has_name, has_ver;
    char name[VMESH_RV_MAX_NAME + 1], ver[VMESH_RV_MAX_NAME + 1], where[96], hx[40];
    const uint8_t *val = NULL;
    size_t vlen = 0;
    uint8_t dig[32], now[32];
    const env_view *e;
    const void *list[REPLAY_MAX_LIST];

    VMESH_GUARD(vmesh_cbor_read_array(c, &count, 8, "record"));
    VMESH_ENSURE(count >= 3, VMESH_ERR_PARSE, "lookup journal: a record has %llu fields", (unsigned long long)count);
    VMESH_GUARD(vmesh_cbor_read_uint(c, &kind, "record kind"));
    VMESH_GUARD(vmesh_cbor_read_uint(c, &ei, "record env"));
    VMESH_ENSURE(kind > 0 && kind < K__MAX, VMESH_ERR_PARSE, "lookup journal: unknown record kind %llu",
                 (unsigned long long)kind);
    VMESH_ENSURE(ei < nenv || (kind == K_STALE && ei == 0), VMESH_ERR_PARSE,
                 "lookup journal: record names class %llu of %zu", (unsigned long long)ei, nenv);
    e = ei < nenv ? &envs[ei] : NULL;
    if (e != NULL)
        cls_text(e, where, sizeof(where));
    switch (kind) {
    case K_FIND_MEAS:
        VMESH_ENSURE(count == 5, VMESH_ERR_PARSE, "lookup journal: measurements record has %llu fields",
                     (unsigned long long)count);
        VMESH_GUARD(vmesh_cbor_read_uint(c, &max, "max"));
        VMESH_GUARD(vmesh_cbor_read_uint(c, &cnt, "count"));
        VMESH_GUARD(read_dig(c, dig, "digest"));
        VMESH_ENSURE(max <= REPLAY_MAX_LIST, VMESH_ERR_PARSE, "lookup journal: a list of %llu asked",
                     (unsigned long long)max);
        v = rv_q_find_measurements(s, e->sbuf, e->cls, e->len, (const vmesh_rv_measurement **)list, max);
        if (v != cnt || !digest_measurements((const vmesh_rv_measurement *const *)list, v < max ? v : max, now) ||
            memcmp(now, dig, 32) != 0) {
            *same = false;
            why_set(why, why_len, s, "the reference measurements of %s changed (%llu, were %llu)", where,
                    (unsigned long long)v, (unsigned long long)cnt);
        }
        break;
    case K_MATCH_MEAS:
        VMESH_ENSURE(count == 5, VMESH_ERR_PARSE, "lookup journal: match record has %llu fields",
                     (unsigned long long)count);
        VMESH_GUARD(read_opt_text(c, VMESH_RV_MAX_NAME, name, &has_name, "name"));
        VMESH_ENSURE(has_name, VMESH_ERR_PARSE, "lookup journal: match record without a name");
        VMESH_GUARD(vmesh_cbor_read_bstr(c, VMESH_RV_MAX_DIGEST, &val, &vlen, "value"));
        VMESH_GUARD(read_answer_int(c, &ans));
        if (rv_q_match_measurement(s, e->sbuf, e->cls, e->len, name, val, vlen) != ans) {
            *same = false;
            hex_short(val, vlen, hx, sizeof(hx));
            why_set(why, why_len, s, "reference value for %s (%s) of %s %s", name, hx, where,
                    ans == 1 ? "no longer matches" : "changed");
        }
        break;
    case K_FIND_KEYS:
    case K_KEY_IN: {
        const uint8_t *inst = NULL;
        size_t ilen = 0;
        VMESH_ENSURE(count == (kind == K_FIND_KEYS ? 6u : 5u), VMESH_ERR_PARSE,
                     "lookup journal: keys record has %llu fields", (unsigned long long)count);
        if (vmesh_cbor_at_null(c)) {
            vmesh_cbor_head h;
            VMESH_GUARD(vmesh_cbor_read_head(c, &h));
        } else {
            VMESH_GUARD(vmesh_cbor_read_bstr(c, VMESH_RV_MAX_ID, &inst, &ilen, "instance id"));
            VMESH_ENSURE(ilen > 0, VMESH_ERR_PARSE, "lookup journal: empty instance id");
        }
        VMESH_GUARD(vmesh_cbor_read_uint(c, &max, "max"));
        VMESH_ENSURE(max <= REPLAY_MAX_LIST, VMESH_ERR_PARSE, "lookup journal: a list of %llu asked",
                     (unsigned long long)max);
        cnt = 0;
        if (kind == K_FIND_KEYS)
            VMESH_GUARD(vmesh_cbor_read_uint(c, &cnt, "count"));
        VMESH_GUARD(read_dig(c, dig, "digest"));
        v = rv_q_find_key_digests(s, e->sbuf, e->cls, e->len, inst, ilen, (const uint8_t **)list, max);
        if (kind == K_FIND_KEYS) {
            if (v != cnt || !digest_keys((const uint8_t *const *)list, v < max ? v : max, now) ||
                memcmp(now, dig, 32) != 0) {
                *same = false;
                why_set(why, why_len, s, "the endorsed keys of %s changed (%llu, were %llu)", where,
                        (unsigned long long)v, (unsigned long long)cnt);
            }
        } else {
            bool found = false;
            for (size_t i = 0; i < v && i < max && !found; i++)
                found = list[i] != NULL && memcmp(list[i], dig, 32) == 0;
            if (!found) {
                *same = false;
                hex_short(dig, 32, hx, sizeof(hx));
                why_set(why, why_len, s, "the key that verified the evidence (SPKI sha-256 %s) is no longer "
                        "endorsed for %s", hx, where);
            }
        }
        break;
    }
    case K_HAS_CLASS:
    case K_STALE:
    case K_HAS_MEAS:
        VMESH_ENSURE(count == 3, VMESH_ERR_PARSE, "lookup journal: yes/no record has %llu fields",
                     (unsigned long long)count);
        VMESH_GUARD(vmesh_cbor_read_bool(c, &b, "answer"));
        if (kind == K_HAS_CLASS && rv_q_has_class(s, e->sbuf, e->cls, e->len) != b) {
            *same = false;
            why_set(why, why_len, s, "%s %s", where, b ? "has no reference values any more" : "has reference values now");
        } else if (kind == K_HAS_MEAS && (rv_q_count_measurements(s, e->sbuf, e->cls, e->len) > 0) != b) {
            *same = false;
            why_set(why, why_len, s, "%s %s", where,
                    b ? "has no reference measurements any more" : "has reference measurements now");
        } else if (kind == K_STALE && rv_q_is_stale(s) != b) {
            *same = false;
            why_set(why, why_len, s, "the reference values are %s", b ? "no longer stale" : "stale now");
        }
        break;
    case K_FIND_ATTRS:
        VMESH_ENSURE(count == 6, VMESH_ERR_PARSE, "lookup journal: attributes record has %llu fields",
                     (unsigned long long)count);
        VMESH_GUARD(read_opt_text(c, VMESH_RV_MAX_NAME, name, &has_name, "name"));
        VMESH_ENSURE(has_name, VMESH_ERR_PARSE, "lookup journal: attributes record without a name");
        VMESH_GUARD(vmesh_cbor_read_uint(c, &max, "max"));
        VMESH_GUARD(vmesh_cbor_read_uint(c, &cnt, "count"));
        VMESH_GUARD(read_dig(c, dig, "digest"));
        VMESH_ENSURE(max <= REPLAY_MAX_LIST, VMESH_ERR_PARSE, "lookup journal: a list of %llu asked",
                     (unsigned long long)max);
        v = rv_q_find_attrs(s, e->sbuf, e->cls, e->len, name, (const char **)list, max);
        if (v != cnt || !digest_attrs((const char *const *)list, v < max ? v : max, now) ||
            memcmp(now, dig, 32) != 0) {
            *same = false;
            why_set(why, why_len, s, "reference attribute %s of %s changed", name, where);
        }
        break;
    case K_ATTR_U64: {
        int res = 0;
        VMESH_ENSURE(count == 5, VMESH_ERR_PARSE, "lookup journal: attribute record has %llu fields",
                     (unsigned long long)count);
        VMESH_GUARD(read_opt_text(c, VMESH_RV_MAX_NAME, name, &has_name, "name"));
        VMESH_ENSURE(has_name, VMESH_ERR_PARSE, "lookup journal: attribute record without a name");
        VMESH_GUARD(vmesh_cbor_read_uint(c, &v, "value"));
        VMESH_GUARD(read_answer_int(c, &ans));
        if (rv_q_attr_u64_accepts(s, e->sbuf, e->cls, e->len, name, v, &res) != VMESH_OK) {
            vmesh_err_clear();
            res = 2; /* unreadable now: differs from any recorded answer */
        }
        if (res != ans) {
            *same = false;
            why_set(why, why_len, s, "reference attribute %s of %s %s %llu", name, where,
                    ans == 1 ? "no longer accepts" : "changed for", (unsigned long long)v);
        }
        break;
    }
    case K_CLAIM: {
        vmesh_rv_claim cl;
        VMESH_ENSURE(count == 6, VMESH_ERR_PARSE, "lookup journal: claim record has %llu fields",
                     (unsigned long long)count);
        VMESH_GUARD(read_opt_text(c, VMESH_RV_MAX_NAME, name, &has_name, "name"));
        VMESH_GUARD(vmesh_cbor_read_bstr(c, VMESH_RV_MAX_DIGEST, &val, &vlen, "value"));
        VMESH_GUARD(read_opt_text(c, VMESH_RV_MAX_NAME, ver, &has_ver, "version"));
        VMESH_GUARD(vmesh_cbor_read_bool(c, &b, "answer"));
        cl.name = has_name ? name : NULL;
        cl.value = val;
        cl.value_len = vlen;
        cl.version = has_ver ? ver : NULL;
        if (rv_q_claim_accepted(s, e->sbuf, e->cls, e->len, &cl) != b) {
            *same = false;
            hex_short(val, vlen, hx, sizeof(hx));
            why_set(why, why_len, s, "reference value for component %s (%s) of %s %s", has_name ? name : "(no type)",
                    hx, where, b ? "no longer matches" : "matches now");
        }
        break;
    }
    default: VMESH_FAIL(VMESH_ERR_PARSE, "lookup journal: unknown record kind %llu", (unsigned long long)kind);
    }
out:
    return rc;
}

vmesh_err vmesh_rv_journal_replay(const uint8_t *p, size_t n, const vmesh_rv_store *s, bool *same, char *why,
                                  size_t why_len)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor c;
    uint64_t count, ver, nenv, nrec;
    env_view envs[VMESH_RV_JOURNAL_MAX_ENVS];
    vmesh_rv_journal *saved = vmesh_rv_journal_record(NULL);
    bool differs = false;

    *same = false;
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    VMESH_ENSURE(p != NULL && n > 0, VMESH_ERR_PARSE, "lookup journal: empty");
    VMESH_ENSURE(n <= VMESH_RV_JOURNAL_MAX, VMESH_ERR_PARSE, "lookup journal: %zu bytes, the cap is %d", n,
                 VMESH_RV_JOURNAL_MAX);
    vmesh_cbor_init(&c, p, n, "lookup journal", 0);
    VMESH_GUARD(vmesh_cbor_read_array(&c, &count, 3, "journal"));
    VMESH_ENSURE(count == 3, VMESH_ERR_PARSE, "lookup journal: %llu items, expected 3", (unsigned long long)count);
    VMESH_GUARD(vmesh_cbor_read_uint(&c, &ver, "version"));
    VMESH_ENSURE(ver == JOURNAL_VERSION, VMESH_ERR_PARSE, "lookup journal: version %llu, this build reads %d",
                 (unsigned long long)ver, JOURNAL_VERSION);
    VMESH_GUARD(vmesh_cbor_read_array(&c, &nenv, VMESH_RV_JOURNAL_MAX_ENVS, "classes"));
    for (size_t i = 0; i < nenv; i++) {
        uint64_t two;
        const char *sp;
        size_t sl;
        VMESH_GUARD(vmesh_cbor_read_array(&c, &two, 2, "class"));
        VMESH_ENSURE(two == 2, VMESH_ERR_PARSE, "lookup journal: a class has %llu items", (unsigned long long)two);
        VMESH_GUARD(vmesh_cbor_read_tstr(&c, VMESH_RV_MAX_SCHEME, &sp, &sl, "scheme"));
        memcpy(envs[i].sbuf, sp, sl);
        envs[i].sbuf[sl] = '\0';
        envs[i].scheme = envs[i].sbuf;
        VMESH_GUARD(vmesh_cbor_read_bstr(&c, VMESH_RV_MAX_ID, &envs[i].cls, &envs[i].len, "class id"));
    }
    VMESH_GUARD(vmesh_cbor_read_array(&c, &nrec, VMESH_RV_JOURNAL_MAX_RECORDS, "records"));
    /* Every record is read (and checked) even after a difference: a
     * journal is well-formed as a whole or not at all. */
    for (size_t i = 0; i < nrec; i++) {
        bool s1 = true;
        VMESH_GUARD(replay_rec(&c, envs, nenv, s, &s1, differs ? NULL : why, differs ? 0 : why_len));
        if (!s1)
            differs = true;
    }
    VMESH_GUARD(vmesh_cbor_end(&c, "the journal"));
    *same = !differs;
out:
    vmesh_rv_journal_record(saved);
    if (rc != VMESH_OK) {
        *same = false;
        if (why != NULL && why_len > 0)
            why[0] = '\0';
    }
    return rc;
}
