/*
 * The reference-value store: entries (measurements, endorsed keys, named
 * attributes) copied in while the store is being filled, then frozen, indexed
 * by (scheme, class id) and shared read-only between threads by an atomic
 * reference count. It must never hand out a pointer that dies before the
 * store, accept an entry past a cap, or change after freeze.
 */
#include "rv_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Process-wide source of generations: every store gets a fresh value when it
 * is created and on every modification (add, epoch, merge, freeze), so two
 * stores of one process never share a generation and a cache keyed by it
 * can never confuse an old snapshot with a new one. */
static uint64_t g_generation;

static uint64_t next_generation(void)
{
    return __atomic_add_fetch(&g_generation, 1, __ATOMIC_RELAXED);
}

struct vmesh_rv_store {
    int refs; /* atomic */
    bool frozen;
    uint64_t generation;
    rv_entry **ent; /* insertion order; entries never move */
    size_t n, cap;
    rv_entry **idx; /* built at freeze: sorted by (scheme, class id, seq) */
    struct {
        char *rvp;
        uint64_t epoch;
    } *epochs;
    size_t n_epochs;
    bool stale; /* built from an expired manifest (set before freeze) */
};

static const struct {
    int id;
    const char *name;
    size_t len;
} hash_algs[] = {
    /* IANA "Named Information Hash Algorithm Registry" ids, as CoRIM uses. */
    {1, "sha-256", 32},  {7, "sha-384", 48},  {8, "sha-512", 64},
    {9, "sha3-224", 28}, {10, "sha3-256", 32}, {11, "sha3-384", 48},
    {12, "sha3-512", 64},
};

int vmesh_rv_hash_alg_from_name(const char *name)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(hash_algs) / sizeof(hash_algs[0]); i++)
        if (strcmp(hash_algs[i].name, name) == 0)
            return hash_algs[i].id;
    return 0;
}

const char *vmesh_rv_hash_alg_name(int alg)
{
    for (size_t i = 0; i < sizeof(hash_algs) / sizeof(hash_algs[0]); i++)
        if (hash_algs[i].id == alg)
            return hash_algs[i].name;
    return NULL;
}

size_t vmesh_rv_hash_alg_len(int alg)
{
    for (size_t i = 0; i < sizeof(hash_algs) / sizeof(hash_algs[0]); i++)
        if (hash_algs[i].id == alg)
            return hash_algs[i].len;
    return 0;
}

/* ---- validation ---------------------------------------------------------- */

bool vmesh_rv_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false; /* NUL and control characters */
    return vmesh_utf8_valid((const uint8_t *)s, n);
}

static vmesh_err check_text(const char *what, const char *s, size_t max, bool required)
{
    size_t n;

    if (s == NULL) {
        if (required)
            return vmesh_err_set(VMESH_ERR_ARG, "%s is missing", what);
        return VMESH_OK;
    }
    n = strnlen(s, max + 1);
    if (n == 0 && required)
        return vmesh_err_set(VMESH_ERR_ARG, "%s is empty", what);
    if (n > max)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "%s is longer than %zu bytes", what, max);
    if (!vmesh_rv_utf8_valid(s, n))
        return vmesh_err_set(VMESH_ERR_ARG, "%s is not valid UTF-8 text (or has control characters)",
                             what);
    return VMESH_OK;
}

static vmesh_err check_env(const vmesh_rv_env *env)
{
    vmesh_err rc = VMESH_OK;
    size_t n;

    VMESH_ENSURE(env != NULL && env->scheme != NULL, VMESH_ERR_ARG,
                 "reference value has no scheme");
    n = strnlen(env->scheme, VMESH_RV_MAX_SCHEME + 1);
    VMESH_ENSURE(n > 0 && n <= VMESH_RV_MAX_SCHEME, VMESH_ERR_ARG,
                 "scheme name must be 1 to %d characters", VMESH_RV_MAX_SCHEME);
    for (size_t i = 0; i < n; i++) {
        char c = env->scheme[i];
        VMESH_ENSURE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-', VMESH_ERR_ARG,
                     "scheme name \"%.*s\" may only hold a-z, 0-9 and '-'", (int)n, env->scheme);
    }
    VMESH_ENSURE(env->class_id != NULL && env->class_id_len > 0, VMESH_ERR_ARG,
                 "reference value for scheme %s has no class id", env->scheme);
    VMESH_ENSURE(env->class_id_len <= VMESH_RV_MAX_ID, VMESH_ERR_TOO_LARGE,
                 "class id is %zu bytes, the cap is %d", env->class_id_len, VMESH_RV_MAX_ID);
    VMESH_ENSURE(env->instance_id == NULL || env->instance_id_len > 0, VMESH_ERR_ARG,
                 "instance id is empty (omit it to mean any instance)");
    VMESH_ENSURE(env->instance_id_len <= VMESH_RV_MAX_ID, VMESH_ERR_TOO_LARGE,
                 "instance id is %zu bytes, the cap is %d", env->instance_id_len,
                 VMESH_RV_MAX_ID);
out:
    return rc;
}

static vmesh_err check_measurement(const vmesh_rv_measurement *m)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(m != NULL, VMESH_ERR_ARG, "measurement is missing");
    VMESH_GUARD(check_text("measurement name", m->name, VMESH_RV_MAX_NAME, true));
    VMESH_GUARD(check_text("measurement version", m->version, VMESH_RV_MAX_NAME, false));
    VMESH_ENSURE(m->signer_id == NULL || (m->signer_id_len > 0 &&
                                          m->signer_id_len <= VMESH_RV_MAX_DIGEST),
                 VMESH_ERR_ARG, "measurement %s: signer id is %zu bytes, expected 1 to %d",
                 m->name, m->signer_id_len, VMESH_RV_MAX_DIGEST);
    VMESH_ENSURE(m->digest != NULL && m->digest_len > 0, VMESH_ERR_ARG,
                 "measurement %s has no digest", m->name);
    VMESH_ENSURE(m->digest_len <= VMESH_RV_MAX_DIGEST, VMESH_ERR_TOO_LARGE,
                 "measurement %s: value is %zu bytes, the cap is %d", m->name, m->digest_len,
                 VMESH_RV_MAX_DIGEST);
    if (m->digest_alg != 0) {
        size_t want = vmesh_rv_hash_alg_len(m->digest_alg);
        VMESH_ENSURE(want != 0, VMESH_ERR_UNSUPPORTED,
                     "measurement %s: hash algorithm %d is not supported (sha-256 1, sha-384 7, "
                     "sha-512 8, sha3-* 9-12)",
                     m->name, m->digest_alg);
        VMESH_ENSURE(m->digest_len == want, VMESH_ERR_ARG,
                     "measurement %s: %s digest is %zu bytes, expected %zu", m->name,
                     vmesh_rv_hash_alg_name(m->digest_alg), m->digest_len, want);
    }
out:
    return rc;
}

/* ---- entries -------------------------------------------------------------- */

static void *dup_bytes(const void *p, size_t n)
{
    void *d;

    if (p == NULL)
        return NULL;
    d = malloc(n > 0 ? n : 1);
    if (d != NULL && n > 0)
        memcpy(d, p, n);
    return d;
}

static char *dup_str(const char *s)
{
    return s == NULL ? NULL : dup_bytes(s, strlen(s) + 1);
}

static void entry_free(rv_entry *e)
{
    if (e == NULL)
        return;
    free(e->scheme);
    free(e->class_id);
    free(e->instance_id);
    free(e->name);
    free(e->version);
    free(e->signer_id);
    free(e->digest);
    free(e->value);
    vmesh_crypto_key_free(e->key);
    free(e);
}

/* Builds an owned copy; the public views (env, m) point into the copy. */
static vmesh_err entry_new(const vmesh_rv_env *env, rv_entry **out)
{
    vmesh_err rc = VMESH_OK;
    rv_entry *e = calloc(1, sizeof(*e));

    VMESH_ENSURE(e != NULL, VMESH_ERR_NOMEM, "out of memory adding a reference value");
    e->scheme = dup_str(env->scheme);
    e->class_id = dup_bytes(env->class_id, env->class_id_len);
    e->class_len = env->class_id_len;
    if (env->instance_id != NULL) {
        e->instance_id = dup_bytes(env->instance_id, env->instance_id_len);
        e->instance_len = env->instance_id_len;
        VMESH_ENSURE(e->instance_id != NULL, VMESH_ERR_NOMEM, "out of memory");
    }
    VMESH_ENSURE(e->scheme != NULL && e->class_id != NULL, VMESH_ERR_NOMEM, "out of memory");
    *out = e;
    e = NULL;
out:
    entry_free(e);
    return rc;
}

static vmesh_err entry_fill_measurement(rv_entry *e, const vmesh_rv_measurement *m)
{
    vmesh_err rc = VMESH_OK;

    e->kind = VMESH_RV_MEASUREMENT;
    e->name = dup_str(m->name);
    e->version = dup_str(m->version);
    e->signer_id = dup_bytes(m->signer_id, m->signer_id_len);
    e->signer_len = m->signer_id != NULL ? m->signer_id_len : 0;
    e->digest = dup_bytes(m->digest, m->digest_len);
    e->digest_len = m->digest_len;
    e->digest_alg = m->digest_alg;
    VMESH_ENSURE(e->name != NULL && e->digest != NULL && (m->version == NULL || e->version) &&
                     (m->signer_id == NULL || e->signer_id),
                 VMESH_ERR_NOMEM, "out of memory");
out:
    return rc;
}

static void entry_views(rv_entry *e)
{
    e->env.scheme = e->scheme;
    e->env.class_id = e->class_id;
    e->env.class_id_len = e->class_len;
    e->env.instance_id = e->instance_id;
    e->env.instance_id_len = e->instance_len;
    e->m.name = e->name;
    e->m.version = e->version;
    e->m.signer_id = e->signer_id;
    e->m.signer_id_len = e->signer_len;
    e->m.digest_alg = e->digest_alg;
    e->m.digest = e->digest;
    e->m.digest_len = e->digest_len;
}

static vmesh_err entry_clone(const rv_entry *src, rv_entry **out)
{
    vmesh_err rc = VMESH_OK;
    rv_entry *e = NULL;

    VMESH_GUARD(entry_new(&src->env, &e));
    switch (src->kind) {
    case VMESH_RV_MEASUREMENT:
        VMESH_GUARD(entry_fill_measurement(e, &src->m));
        break;
    case VMESH_RV_KEY:
        e->kind = VMESH_RV_KEY;
        e->key = vmesh_crypto_key_ref(src->key);
        memcpy(e->key_digest, src->key_digest, sizeof(e->key_digest));
        e->has_key_digest = src->has_key_digest;
        break;
    case VMESH_RV_ATTR:
        e->kind = VMESH_RV_ATTR;
        e->name = dup_str(src->name);
        e->value = dup_str(src->value);
        VMESH_ENSURE(e->name != NULL && e->value != NULL, VMESH_ERR_NOMEM, "out of memory");
        break;
    }
    entry_views(e);
    *out = e;
    e = NULL;
out:
    entry_free(e);
    return rc;
}

/* ---- store ---------------------------------------------------------------- */

vmesh_err vmesh_rv_store_new(vmesh_rv_store **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *s;

    VMESH_ENSURE(out != NULL, VMESH_ERR_ARG, "vmesh_rv_store_new: out is NULL");
    s = calloc(1, sizeof(*s));
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory creating an RV store");
    s->refs = 1;
    s->generation = next_generation();
    *out = s;
out:
    return rc;
}

vmesh_rv_store *vmesh_rv_store_ref(vmesh_rv_store *s)
{
    if (s != NULL)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void vmesh_rv_store_free(vmesh_rv_store *s)
{
    if (s == NULL)
        return;
    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < s->n; i++)
        entry_free(s->ent[i]);
    free(s->ent);
    free(s->idx);
    for (size_t i = 0; i < s->n_epochs; i++)
        free(s->epochs[i].rvp);
    free(s->epochs);
    free(s);
}

static int cmp_class(const rv_entry *e, const char *scheme, const uint8_t *cid, size_t clen)
{
    int c = strcmp(e->scheme, scheme);

    if (c != 0)
        return c;
    if (e->class_len != clen)
        return e->class_len < clen ? -1 : 1;
    return memcmp(e->class_id, cid, clen);
}

static int cmp_idx(const void *a, const void *b)
{
    const rv_entry *x = *(rv_entry *const *)a, *y = *(rv_entry *const *)b;
    int c = cmp_class(x, y->scheme, y->class_id, y->class_len);

    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

void vmesh_rv_store_freeze(vmesh_rv_store *s)
{
    if (s == NULL || s->frozen)
        return;
    /* The index is an optimisation: without memory for it, lookups fall
     * back to a scan of all entries, which gives the same answers. */
    if (s->n > 0) {
        s->idx = malloc(s->n * sizeof(*s->idx));
        if (s->idx != NULL) {
            memcpy(s->idx, s->ent, s->n * sizeof(*s->idx));
            qsort(s->idx, s->n, sizeof(*s->idx), cmp_idx);
        }
    }
    s->generation = next_generation();
    __atomic_store_n(&s->frozen, true, __ATOMIC_RELEASE);
}

vmesh_err vmesh_rv_store_set_stale(vmesh_rv_store *s, bool stale)
{
    if (s == NULL || vmesh_rv_store_is_frozen(s))
        return vmesh_err_set(VMESH_ERR_STATE, "RV store is frozen: staleness is set while building a snapshot");
    s->stale = stale;
    s->generation = next_generation();
    return VMESH_OK;
}

bool rv_q_is_stale(const vmesh_rv_store *s)
{
    return s != NULL && s->stale;
}

bool vmesh_rv_store_is_frozen(const vmesh_rv_store *s)
{
    return s != NULL && __atomic_load_n(&s->frozen, __ATOMIC_ACQUIRE);
}

static vmesh_err check_writable(const vmesh_rv_store *s, size_t extra)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(s != NULL, VMESH_ERR_ARG, "RV store is NULL");
    VMESH_ENSURE(!s->frozen, VMESH_ERR_STATE,
                 "RV store is frozen (shared read-only); build a new store to change it");
    VMESH_ENSURE(extra <= VMESH_RV_MAX_ENTRIES && s->n <= VMESH_RV_MAX_ENTRIES - extra,
                 VMESH_ERR_TOO_LARGE,
                 "RV store would hold more than %d entries (it has %zu, adding %zu)",
                 VMESH_RV_MAX_ENTRIES, s->n, extra);
out:
    return rc;
}

static vmesh_err reserve(vmesh_rv_store *s, size_t extra)
{
    vmesh_err rc = VMESH_OK;
    size_t want = s->n + extra, ncap;
    rv_entry **p;

    if (want <= s->cap)
        goto out;
    ncap = s->cap ? s->cap : 16;
    while (ncap < want)
        ncap *= 2;
    p = realloc(s->ent, ncap * sizeof(*p));
    VMESH_ENSURE(p != NULL, VMESH_ERR_NOMEM, "out of memory growing the RV store");
    s->ent = p;
    s->cap = ncap;
out:
    return rc;
}

/* Takes ownership of e (freed on failure). */
static vmesh_err push(vmesh_rv_store *s, rv_entry *e)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(check_writable(s, 1));
    VMESH_GUARD(reserve(s, 1));
    entry_views(e);
    e->seq = s->n;
    s->ent[s->n++] = e;
    e = NULL;
    s->generation = next_generation();
out:
    entry_free(e);
    return rc;
}

vmesh_err vmesh_rv_add_measurement(vmesh_rv_store *s, const vmesh_rv_env *env,
                                   const vmesh_rv_measurement *m)
{
    vmesh_err rc = VMESH_OK;
    rv_entry *e = NULL;

    VMESH_GUARD(check_writable(s, 1));
    VMESH_GUARD(check_env(env));
    /* The lookup API has no instance: a per-instance measurement would
     * silently apply to every instance of the class, so refuse it. */
    VMESH_ENSURE(env->instance_id == NULL, VMESH_ERR_UNSUPPORTED,
                 "measurements apply to a whole class; an instance id is only allowed for keys");
    VMESH_GUARD(check_measurement(m));
    VMESH_GUARD(entry_new(env, &e));
    VMESH_GUARD(entry_fill_measurement(e, m));
    rc = push(s, e);
    e = NULL;
out:
    entry_free(e);
    return rc;
}

vmesh_err vmesh_rv_add_key(vmesh_rv_store *s, const vmesh_rv_env *env, vmesh_key *key)
{
    vmesh_err rc = VMESH_OK;
    rv_entry *e = NULL;

    VMESH_GUARD(check_writable(s, 1));
    VMESH_GUARD(check_env(env));
    VMESH_ENSURE(key != NULL, VMESH_ERR_ARG, "endorsed key is missing");
    VMESH_ENSURE(!vmesh_crypto_key_is_private(key), VMESH_ERR_ARG,
                 "endorsed key for scheme %s holds a private key; reference values carry "
                 "public keys only",
                 env->scheme);
    VMESH_GUARD(entry_new(env, &e));
    e->kind = VMESH_RV_KEY;
    e->key = vmesh_crypto_key_ref(key);
    {
        /* its identity for the lookup journal, encoded once here rather
         * than at every replay */
        vmesh_buf spki = {0};
        if (vmesh_crypto_key_to_spki(key, &spki) == VMESH_OK) {
            vmesh_crypto_sha256(spki.data, spki.len, e->key_digest);
            e->has_key_digest = true;
        } else {
            vmesh_err_clear();
        }
        vmesh_buf_free(&spki);
    }
    rc = push(s, e);
    e = NULL;
out:
    entry_free(e);
    return rc;
}

vmesh_err vmesh_rv_add_attr(vmesh_rv_store *s, const vmesh_rv_env *env, const char *name,
                            const char *value)
{
    vmesh_err rc = VMESH_OK;
    rv_entry *e = NULL;

    VMESH_GUARD(check_writable(s, 1));
    VMESH_GUARD(check_env(env));
    VMESH_ENSURE(env->instance_id == NULL, VMESH_ERR_UNSUPPORTED,
                 "attributes apply to a whole class; an instance id is only allowed for keys");
    VMESH_GUARD(check_text("attribute name", name, VMESH_RV_MAX_NAME, true));
    VMESH_GUARD(check_text("attribute value", value, VMESH_RV_MAX_VALUE, false));
    VMESH_ENSURE(value != NULL, VMESH_ERR_ARG, "attribute %s has no value", name);
    VMESH_GUARD(entry_new(env, &e));
    e->kind = VMESH_RV_ATTR;
    e->name = dup_str(name);
    e->value = dup_str(value);
    VMESH_ENSURE(e->name != NULL && e->value != NULL, VMESH_ERR_NOMEM, "out of memory");
    rc = push(s, e);
    e = NULL;
out:
    entry_free(e);
    return rc;
}

static vmesh_err set_epoch(vmesh_rv_store *s, const char *rvp, uint64_t epoch, bool dry)
{
    vmesh_err rc = VMESH_OK;
    void *p;
    char *copy = NULL;

    VMESH_ENSURE(s != NULL, VMESH_ERR_ARG, "RV store is NULL");
    VMESH_ENSURE(!s->frozen, VMESH_ERR_STATE,
                 "RV store is frozen (shared read-only); build a new store to change it");
    VMESH_GUARD(check_text("RVP name", rvp, VMESH_RV_MAX_NAME, true));
    for (size_t i = 0; i < s->n_epochs; i++) {
        if (strcmp(s->epochs[i].rvp, rvp) == 0) {
            if (!dry) {
                s->epochs[i].epoch = epoch;
                s->generation = next_generation();
            }
            goto out;
        }
    }
    VMESH_ENSURE(s->n_epochs < VMESH_RV_MAX_EPOCHS, VMESH_ERR_TOO_LARGE,
                 "RV store already records %d RVP epochs", VMESH_RV_MAX_EPOCHS);
    if (dry)
        goto out;
    copy = dup_str(rvp);
    VMESH_ENSURE(copy != NULL, VMESH_ERR_NOMEM, "out of memory");
    p = realloc(s->epochs, (s->n_epochs + 1) * sizeof(*s->epochs));
    VMESH_ENSURE(p != NULL, VMESH_ERR_NOMEM, "out of memory");
    s->epochs = p;
    s->epochs[s->n_epochs].rvp = copy;
    s->epochs[s->n_epochs].epoch = epoch;
    s->n_epochs++;
    copy = NULL;
    s->generation = next_generation();
out:
    free(copy);
    return rc;
}

vmesh_err vmesh_rv_set_epoch(vmesh_rv_store *s, const char *rvp, uint64_t epoch)
{
    return set_epoch(s, rvp, epoch, false);
}

vmesh_err vmesh_rv_store_merge(vmesh_rv_store *dst, const vmesh_rv_store *src)
{
    vmesh_err rc = VMESH_OK;
    rv_entry **copies = NULL;
    char **names = NULL;
    size_t done = 0, new_rvps = 0;

    VMESH_ENSURE(src != NULL && dst != src, VMESH_ERR_ARG, "cannot merge a store into itself");
    VMESH_GUARD(check_writable(dst, src->n));
    for (size_t i = 0; i < src->n_epochs; i++) {
        bool known = false;
        for (size_t j = 0; j < dst->n_epochs && !known; j++)
            known = strcmp(dst->epochs[j].rvp, src->epochs[i].rvp) == 0;
        new_rvps += known ? 0 : 1;
    }
    VMESH_ENSURE(dst->n_epochs + new_rvps <= VMESH_RV_MAX_EPOCHS, VMESH_ERR_TOO_LARGE,
                 "merged RV store would record more than %d RVP epochs", VMESH_RV_MAX_EPOCHS);
    /* Everything that can fail happens before dst changes. */
    VMESH_GUARD(reserve(dst, src->n));
    if (src->n > 0) {
        copies = calloc(src->n, sizeof(*copies));
        VMESH_ENSURE(copies != NULL, VMESH_ERR_NOMEM, "out of memory merging RV stores");
    }
    for (done = 0; done < src->n; done++)
        VMESH_GUARD(entry_clone(src->ent[done], &copies[done]));
    if (src->n_epochs > 0) {
        void *p;
        names = calloc(src->n_epochs, sizeof(*names));
        VMESH_ENSURE(names != NULL, VMESH_ERR_NOMEM, "out of memory merging RV stores");
        for (size_t i = 0; i < src->n_epochs; i++) {
            names[i] = dup_str(src->epochs[i].rvp);
            VMESH_ENSURE(names[i] != NULL, VMESH_ERR_NOMEM, "out of memory merging RV stores");
        }
        p = realloc(dst->epochs, (dst->n_epochs + new_rvps + 1) * sizeof(*dst->epochs));
        VMESH_ENSURE(p != NULL, VMESH_ERR_NOMEM, "out of memory merging RV stores");
        dst->epochs = p;
    }
    /* From here on nothing can fail. */
    for (size_t i = 0; i < src->n_epochs; i++) {
        bool known = false;
        for (size_t j = 0; j < dst->n_epochs && !known; j++) {
            if (strcmp(dst->epochs[j].rvp, names[i]) == 0) {
                dst->epochs[j].epoch = src->epochs[i].epoch;
                known = true;
            }
        }
        if (known)
            continue;
        dst->epochs[dst->n_epochs].rvp = names[i];
        dst->epochs[dst->n_epochs].epoch = src->epochs[i].epoch;
        dst->n_epochs++;
        names[i] = NULL;
    }
    for (size_t i = 0; i < src->n; i++) {
        copies[i]->seq = dst->n;
        entry_views(copies[i]);
        dst->ent[dst->n++] = copies[i];
        copies[i] = NULL;
    }
    dst->generation = next_generation();
out:
    if (copies != NULL) {
        for (size_t i = 0; i < src->n; i++)
            entry_free(copies[i]);
        free(copies);
    }
    if (names != NULL) {
        for (size_t i = 0; i < src->n_epochs; i++)
            free(names[i]);
        free(names);
    }
    return rc;
}

/* ---- queries -------------------------------------------------------------- */

/* Candidates for (scheme, class): the index range when frozen, else every
 * entry (callers always re-check the class). */
static rv_entry *const *candidates(const vmesh_rv_store *s, const char *scheme,
                                   const uint8_t *cid, size_t clen, size_t *count)
{
    size_t lo = 0, hi, first;

    *count = 0;
    if (s == NULL || scheme == NULL || (cid == NULL && clen > 0))
        return NULL;
    if (!vmesh_rv_store_is_frozen(s) || s->idx == NULL) {
        *count = s->n;
        return s->ent;
    }
    hi = s->n;
    while (lo < hi) { /* first entry >= (scheme, class) */
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_class(s->idx[mid], scheme, cid, clen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    first = lo;
    hi = s->n;
    while (lo < hi) { /* first entry > (scheme, class) */
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_class(s->idx[mid], scheme, cid, clen) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *count = lo - first;
    return s->idx + first;
}

size_t rv_q_find_measurements(const vmesh_rv_store *s, const char *scheme,
                                  const uint8_t *class_id, size_t class_len,
                                  const vmesh_rv_measurement **out, size_t max)
{
    size_t n, found = 0;
    rv_entry *const *c = candidates(s, scheme, class_id, class_len, &n);

    for (size_t i = 0; i < n; i++) {
        if (c[i]->kind != VMESH_RV_MEASUREMENT ||
            cmp_class(c[i], scheme, class_id, class_len) != 0)
            continue;
        if (out != NULL && found < max)
            out[found] = &c[i]->m;
        found++;
    }
    return found;
}

/* The key entries of (scheme, class) endorsed for instance_id or for every
 * instance, each handed to put(out, i, entry) while i < max; returns how
 * many there are. */
static size_t key_entries(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                          const uint8_t *instance_id, size_t instance_len,
                          void (*put)(void *out, size_t i, const rv_entry *e), void *out, size_t max)
{
    size_t n, found = 0;
    rv_entry *const *c = candidates(s, scheme, class_id, class_len, &n);

    for (size_t i = 0; i < n; i++) {
        const rv_entry *e = c[i];
        if (e->kind != VMESH_RV_KEY || cmp_class(e, scheme, class_id, class_len) != 0)
            continue;
        if (e->instance_id != NULL &&
            (instance_id == NULL || e->instance_len != instance_len ||
             memcmp(e->instance_id, instance_id, instance_len) != 0))
            continue;
        if (out != NULL && found < max)
            put(out, found, e);
        found++;
    }
    return found;
}

static void put_key(void *out, size_t i, const rv_entry *e)
{
    ((vmesh_key **)out)[i] = e->key;
}

static void put_key_digest(void *out, size_t i, const rv_entry *e)
{
    ((const uint8_t **)out)[i] = e->has_key_digest ? e->key_digest : NULL;
}

size_t rv_q_find_keys(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                      const uint8_t *instance_id, size_t instance_len, vmesh_key **out, size_t max)
{
    return key_entries(s, scheme, class_id, class_len, instance_id, instance_len, put_key, out, max);
}

size_t rv_q_find_key_digests(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                             const uint8_t *instance_id, size_t instance_len, const uint8_t **out, size_t max)
{
    return key_entries(s, scheme, class_id, class_len, instance_id, instance_len, put_key_digest, out, max);
}

bool rv_q_has_class(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                        size_t class_len)
{
    size_t n;
    rv_entry *const *c = candidates(s, scheme, class_id, class_len, &n);

    for (size_t i = 0; i < n; i++)
        if (cmp_class(c[i], scheme, class_id, class_len) == 0)
            return true;
    return false;
}

size_t rv_q_find_attrs(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                           size_t class_len, const char *name, const char **out, size_t max)
{
    size_t n, found = 0;
    rv_entry *const *c = candidates(s, scheme, class_id, class_len, &n);

    if (name == NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i]->kind != VMESH_RV_ATTR || cmp_class(c[i], scheme, class_id, class_len) != 0 ||
            strcmp(c[i]->name, name) != 0)
            continue;
        if (out != NULL && found < max)
            out[found] = c[i]->value;
        found++;
    }
    return found;
}

vmesh_err rv_q_attr_u64_accepts(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                                    size_t class_len, const char *name, uint64_t v, int *res)
{
    vmesh_err rc = VMESH_OK;
    size_t n;
    rv_entry *const *c;

    *res = 0;
    if (s == NULL || name == NULL)
        return VMESH_OK;
    c = candidates(s, scheme, class_id, class_len, &n);
    for (size_t i = 0; i < n; i++) {
        const char *a;
        char *end;
        unsigned long long x;

        if (c[i]->kind != VMESH_RV_ATTR || cmp_class(c[i], scheme, class_id, class_len) != 0 ||
            strcmp(c[i]->name, name) != 0)
            continue;
        a = c[i]->value;
        errno = 0;
        x = strtoull(a, &end, 0);
        VMESH_ENSURE(end != a && *end == '\0' && a[0] != '-' && errno == 0, VMESH_ERR_PARSE,
                     "%s reference value %s \"%.40s\" is not an unsigned 64-bit integer", scheme, name, a);
        if (*res == 0)
            *res = -1;
        if (x == v)
            *res = 1;
    }
out:
    return rc;
}

size_t vmesh_rv_epoch_count(const vmesh_rv_store *s)
{
    rv_journal_spoil("the RVP epochs");
    return s == NULL ? 0 : s->n_epochs;
}

bool vmesh_rv_epoch_at(const vmesh_rv_store *s, size_t i, const char **rvp, uint64_t *epoch)
{
    rv_journal_spoil("the RVP epochs");
    if (s == NULL || i >= s->n_epochs)
        return false;
    if (rvp != NULL)
        *rvp = s->epochs[i].rvp;
    if (epoch != NULL)
        *epoch = s->epochs[i].epoch;
    return true;
}

uint64_t vmesh_rv_store_generation(const vmesh_rv_store *s)
{
    rv_journal_spoil("the store generation");
    return s == NULL ? 0 : s->generation;
}

size_t vmesh_rv_store_size(const vmesh_rv_store *s)
{
    rv_journal_spoil("the store size");
    return s == NULL ? 0 : s->n;
}

bool vmesh_rv_entry_at(const vmesh_rv_store *s, size_t i, vmesh_rv_entry *out)
{
    const rv_entry *e;

    rv_journal_spoil("iteration over the store");
    if (s == NULL || out == NULL || i >= s->n)
        return false;
    e = s->ent[i];
    memset(out, 0, sizeof(*out));
    out->kind = e->kind;
    out->env = e->env;
    if (e->kind == VMESH_RV_MEASUREMENT)
        out->m = &e->m;
    else if (e->kind == VMESH_RV_KEY)
        out->key = e->key;
    else {
        out->attr_name = e->name;
        out->attr_value = e->value;
    }
    return true;
}

int rv_q_match_measurement(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                               size_t class_len, const char *name, const uint8_t *value, size_t value_len)
{
    const vmesh_rv_measurement *few[64], **m = few;
    size_t cnt, seen = 0;
    int res = 0;

    if (s == NULL)
        return 0;
    cnt = rv_q_find_measurements(s, scheme, class_id, class_len, few, 64);
    if (cnt > 64) {
        m = malloc(cnt * sizeof(*m));
        if (m == NULL)
            return -1; /* cannot tell: never report a match */
        cnt = rv_q_find_measurements(s, scheme, class_id, class_len, m, cnt);
    }
    for (size_t i = 0; i < cnt && res != 1; i++) {
        if (m[i]->name == NULL || strcmp(m[i]->name, name) != 0)
            continue;
        seen++;
        if (m[i]->digest_len == value_len && vmesh_crypto_memeq(m[i]->digest, value, value_len))
            res = 1;
    }
    if (m != few)
        free((void *)m);
    return res == 1 ? 1 : seen > 0 ? -1 : 0;
}

/* ---- semantic measurement queries (D43) ----------------------------------- */

bool vmesh_rv_measurement_accepts(const vmesh_rv_measurement *m, const vmesh_rv_claim *c)
{
    if (m == NULL || c == NULL)
        return false;
    if (m->name != NULL && m->name[0] != '\0' && (c->name == NULL || strcmp(c->name, m->name) != 0))
        return false;
    if (m->digest == NULL || m->digest_len != c->value_len || !vmesh_crypto_memeq(m->digest, c->value, m->digest_len))
        return false;
    /* a 32-byte value is a SHA-256 digest, 48 SHA-384, 64 SHA-512 */
    if (m->digest_alg != 0 && vmesh_rv_hash_alg_len(m->digest_alg) != c->value_len)
        return false;
    if (m->version != NULL && (c->version == NULL || strcmp(c->version, m->version) != 0))
        return false;
    return true;
}

bool rv_q_claim_accepted(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id, size_t class_len,
                         const vmesh_rv_claim *c)
{
    size_t n;
    rv_entry *const *cand = candidates(s, scheme, class_id, class_len, &n);

    for (size_t i = 0; i < n; i++)
        if (cand[i]->kind == VMESH_RV_MEASUREMENT && cmp_class(cand[i], scheme, class_id, class_len) == 0 &&
            vmesh_rv_measurement_accepts(&cand[i]->m, c))
            return true;
    return false;
}

size_t rv_q_count_measurements(const vmesh_rv_store *s, const char *scheme, const uint8_t *class_id,
                               size_t class_len)
{
    return rv_q_find_measurements(s, scheme, class_id, class_len, NULL, 0);
}
