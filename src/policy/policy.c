/*
 * RP appraisal policy: parsing (strict: unknown fields and bad values are
 * errors) and judging a trust vector against it. A missing field takes the
 * default value of vmesh_policy_default, which is the strict one.
 */
#include "vmesh/policy.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_MAX ((size_t)256 * 1024)
#define POLICY_MAX_KEYS 64
#define POLICY_MAX_SCHEMES 32
#define DEFAULT_MAX_AGE (24 * 3600)

struct vmesh_policy {
    int refs;
    char *id;
    unsigned modes;
    bool allow_unattested;
    vmesh_keybound keybound; /* key-bound attestation (DECISIONS D38): off by default */
    vmesh_tier min_status;
    /* VMESH_TIER_NONE: no requirement on that claim */
    vmesh_tier min_tier[VMESH_TV__COUNT];
    int64_t max_age;
    int passport_epoch_lag; /* ticks a passport's epoch marker may lag (0 or 1) */
    vmesh_key *keys[POLICY_MAX_KEYS];
    size_t nkeys;
    /* keys known NOT to be trusted, each with why (named in refusals) */
    vmesh_key *refused[POLICY_MAX_KEYS];
    char *refused_why[POLICY_MAX_KEYS];
    size_t nrefused;
    char *schemes[POLICY_MAX_SCHEMES];
    size_t nschemes; /* 0: all */
};

static const char *const mode_names[] = {"epoch-fresh", "fresh", "passport", "none"};

const char *vmesh_mode_name(vmesh_mode m)
{
    if ((unsigned)m > VMESH_MODE_NONE)
        return "unknown";
    return mode_names[m];
}

vmesh_err vmesh_mode_parse(const char *s, vmesh_mode *out)
{
    for (unsigned i = 0; i <= VMESH_MODE_NONE; i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (vmesh_mode)i;
            return VMESH_OK;
        }
    }
    return vmesh_err_set(VMESH_ERR_PARSE,
                         "unknown attestation mode \"%s\" (expected epoch-fresh, fresh or passport)", s);
}

/* Rank tiers by how good they are, to compare against a minimum:
 * contraindicated < none < warning < affirming. A claim "none" (no claim
 * made) never satisfies a requirement of warning or affirming. */
static int goodness(vmesh_tier t)
{
    switch (t) {
    case VMESH_TIER_AFFIRMING: return 3;
    case VMESH_TIER_WARNING: return 2;
    case VMESH_TIER_NONE: return 1;
    default: return 0;
    }
}

vmesh_err vmesh_policy_default(vmesh_policy **out)
{
    vmesh_policy *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (p == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    p->refs = 1;
    p->id = strdup("policy:vmesh/default");
    if (p->id == NULL) {
        free(p);
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    }
    p->modes = VMESH_MODES_ATTESTED;
    p->min_status = VMESH_TIER_AFFIRMING;
    p->min_tier[VMESH_TV_EXECUTABLES] = VMESH_TIER_AFFIRMING;
    p->min_tier[VMESH_TV_HARDWARE] = VMESH_TIER_AFFIRMING;
    p->max_age = DEFAULT_MAX_AGE;
    p->passport_epoch_lag = 1;
    *out = p;
    return VMESH_OK;
}

vmesh_policy *vmesh_policy_ref(vmesh_policy *p)
{
    if (p)
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

void vmesh_policy_free(vmesh_policy *p)
{
    if (p == NULL || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < p->nkeys; i++)
        vmesh_crypto_key_free(p->keys[i]);
    for (size_t i = 0; i < p->nrefused; i++) {
        vmesh_crypto_key_free(p->refused[i]);
        free(p->refused_why[i]);
    }
    for (size_t i = 0; i < p->nschemes; i++)
        free(p->schemes[i]);
    free(p->id);
    free(p);
}

vmesh_err vmesh_policy_add_verifier_key(vmesh_policy *p, vmesh_key *k)
{
    if (p->nkeys == POLICY_MAX_KEYS)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "policy: more than %d trusted verifier keys", POLICY_MAX_KEYS);
    p->keys[p->nkeys++] = vmesh_crypto_key_ref(k);
    return VMESH_OK;
}

vmesh_err vmesh_policy_add_refused_verifier(vmesh_policy *p, vmesh_key *k, const char *why)
{
    char *w;

    if (p->nrefused == POLICY_MAX_KEYS)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "policy: more than %d untrusted verifier keys", POLICY_MAX_KEYS);
    w = strndup(why ? why : "an untrusted verifier", 300);
    if (w == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    p->refused[p->nrefused] = vmesh_crypto_key_ref(k);
    p->refused_why[p->nrefused++] = w;
    return VMESH_OK;
}

size_t vmesh_policy_refused_verifier_count(const vmesh_policy *p)
{
    return p->nrefused;
}

const vmesh_key *vmesh_policy_refused_verifier(const vmesh_policy *p, size_t i, const char **why)
{
    if (i >= p->nrefused)
        return NULL;
    if (why != NULL)
        *why = p->refused_why[i];
    return p->refused[i];
}

static vmesh_err parse_tier_field(json_t *v, const char *src, const char *field, vmesh_tier *out)
{
    vmesh_err rc;

    if (!json_is_string(v))
        return vmesh_err_set(VMESH_ERR_PARSE, "%s: \"%s\" must be a tier name (affirming, warning, none)", src, field);
    rc = vmesh_tier_parse(json_string_value(v), out);
    if (rc != VMESH_OK)
        return vmesh_err_wrap(rc, "%s: \"%s\"", src, field);
    if (*out == VMESH_TIER_CONTRAINDICATED)
        return vmesh_err_set(VMESH_ERR_PARSE, "%s: \"%s\": contraindicated is not a usable minimum", src, field);
    return VMESH_OK;
}

static vmesh_err parse_key(json_t *v, const char *src, size_t i, vmesh_key **out)
{
    vmesh_err rc;
    char *s = NULL;
    const char *text;
    size_t len;

    if (json_is_string(v)) {
        text = json_string_value(v);
        len = json_string_length(v);
        rc = vmesh_crypto_key_parse((const uint8_t *)text, len, out);
    } else if (json_is_object(v)) {
        s = json_dumps(v, JSON_COMPACT);
        if (s == NULL)
            return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
        rc = vmesh_crypto_key_from_jwk(s, strlen(s), out);
        free(s);
    } else {
        return vmesh_err_set(VMESH_ERR_PARSE,
                             "%s: trusted-verifiers[%zu] must be a PEM string or a JWK object", src, i);
    }
    if (rc != VMESH_OK)
        return vmesh_err_wrap(rc, "%s: trusted-verifiers[%zu]", src, i);
    if (vmesh_crypto_key_is_private(*out)) {
        vmesh_crypto_key_free(*out);
        *out = NULL;
        return vmesh_err_set(VMESH_ERR_PARSE,
                             "%s: trusted-verifiers[%zu] is a private key; a policy holds public keys only", src, i);
    }
    return VMESH_OK;
}

vmesh_err vmesh_policy_parse(const uint8_t *data, size_t n, const char *src, vmesh_policy **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_policy *p = NULL;
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *k;

    *out = NULL;
    VMESH_ENSURE(n <= POLICY_MAX, VMESH_ERR_TOO_LARGE, "%s: policy larger than %zu bytes", src, POLICY_MAX);
    root = json_loadb((const char *)data, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(root != NULL, VMESH_ERR_PARSE, "%s: line %d column %d: %s", src, jerr.line, jerr.column, jerr.text);
    VMESH_ENSURE(json_is_object(root), VMESH_ERR_PARSE, "%s: a policy must be a JSON object", src);
    v = json_object_get(root, "format");
    VMESH_ENSURE(json_is_string(v) && strcmp(json_string_value(v), "vmesh-policy/1") == 0, VMESH_ERR_PARSE,
                 "%s: \"format\" must be \"vmesh-policy/1\"", src);
    VMESH_GUARD(vmesh_policy_default(&p));
    json_object_foreach(root, k, v) {
        if (strcmp(k, "format") == 0) {
            continue;
        } else if (strcmp(k, "id") == 0) {
            VMESH_ENSURE(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= 256,
                         VMESH_ERR_PARSE, "%s: \"id\" must be a string of 1..256 characters", src);
            free(p->id);
            p->id = strdup(json_string_value(v));
            VMESH_ENSURE(p->id != NULL, VMESH_ERR_NOMEM, "out of memory");
        } else if (strcmp(k, "modes") == 0) {
            size_t i;
            json_t *m;
            VMESH_ENSURE(json_is_array(v) && json_array_size(v) > 0, VMESH_ERR_PARSE,
                         "%s: \"modes\" must be a non-empty array of mode names", src);
            p->modes = 0;
            json_array_foreach(v, i, m) {
                vmesh_mode mode;
                VMESH_ENSURE(json_is_string(m), VMESH_ERR_PARSE, "%s: modes[%zu] must be a string", src, i);
                rc = vmesh_mode_parse(json_string_value(m), &mode);
                if (rc != VMESH_OK) {
                    vmesh_err_wrap(rc, "%s: modes[%zu]", src, i);
                    goto out;
                }
                VMESH_ENSURE(mode != VMESH_MODE_NONE, VMESH_ERR_PARSE,
                             "%s: modes[%zu]: use \"allow-unattested\" to admit unattested peers", src, i);
                p->modes |= VMESH_MODE_BIT(mode);
            }
        } else if (strcmp(k, "key-bound") == 0) {
            const char *kv = json_string_value(v);
            VMESH_ENSURE(kv != NULL && (strcmp(kv, "off") == 0 || strcmp(kv, "allow") == 0 ||
                                        strcmp(kv, "require") == 0),
                         VMESH_ERR_PARSE, "%s: \"key-bound\" must be \"off\", \"allow\" or \"require\"", src);
            p->keybound = kv[0] == 'o' ? VMESH_KEYBOUND_OFF : kv[0] == 'a' ? VMESH_KEYBOUND_ALLOW
                                                                           : VMESH_KEYBOUND_REQUIRE;
        } else if (strcmp(k, "allow-unattested") == 0) {
            VMESH_ENSURE(json_is_boolean(v), VMESH_ERR_PARSE, "%s: \"allow-unattested\" must be true or false", src);
            p->allow_unattested = json_is_true(v);
        } else if (strcmp(k, "min-status") == 0) {
            VMESH_GUARD(parse_tier_field(v, src, k, &p->min_status));
        } else if (strcmp(k, "min-tiers") == 0) {
            const char *ck;
            json_t *cv;
            VMESH_ENSURE(json_is_object(v), VMESH_ERR_PARSE,
                         "%s: \"min-tiers\" must be an object of claim name -> tier", src);
            memset(p->min_tier, 0, sizeof(p->min_tier));
            json_object_foreach(v, ck, cv) {
                int c = vmesh_tv_claim_from_name(ck);
                VMESH_ENSURE(c >= 0, VMESH_ERR_PARSE,
                             "%s: min-tiers: unknown trustworthiness claim \"%s\"", src, ck);
                VMESH_GUARD(parse_tier_field(cv, src, ck, &p->min_tier[c]));
            }
        } else if (strcmp(k, "max-evidence-age") == 0) {
            VMESH_ENSURE(json_is_integer(v) && json_integer_value(v) > 0, VMESH_ERR_PARSE,
                         "%s: \"max-evidence-age\" must be a positive number of seconds", src);
            p->max_age = (int64_t)json_integer_value(v);
        } else if (strcmp(k, "passport-epoch-lag") == 0) {
            VMESH_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1,
                         VMESH_ERR_PARSE,
                         "%s: \"passport-epoch-lag\" must be 0 (this epoch's passport) or 1 (this or the "
                         "previous epoch's)", src);
            p->passport_epoch_lag = (int)json_integer_value(v);
        } else if (strcmp(k, "trusted-verifiers") == 0) {
            size_t i;
            json_t *kv;
            VMESH_ENSURE(json_is_array(v), VMESH_ERR_PARSE, "%s: \"trusted-verifiers\" must be an array", src);
            VMESH_ENSURE(json_array_size(v) <= POLICY_MAX_KEYS, VMESH_ERR_TOO_LARGE,
                         "%s: more than %d trusted verifiers", src, POLICY_MAX_KEYS);
            json_array_foreach(v, i, kv) {
                vmesh_key *key = NULL;
                VMESH_GUARD(parse_key(kv, src, i, &key));
                p->keys[p->nkeys++] = key;
            }
        } else if (strcmp(k, "schemes") == 0) {
            size_t i;
            json_t *sv;
            VMESH_ENSURE(json_is_array(v) && json_array_size(v) > 0 && json_array_size(v) <= POLICY_MAX_SCHEMES,
                         VMESH_ERR_PARSE, "%s: \"schemes\" must be an array of 1..%d scheme names", src,
                         POLICY_MAX_SCHEMES);
            json_array_foreach(v, i, sv) {
                VMESH_ENSURE(json_is_string(sv), VMESH_ERR_PARSE, "%s: schemes[%zu] must be a string", src, i);
                p->schemes[p->nschemes] = strdup(json_string_value(sv));
                VMESH_ENSURE(p->schemes[p->nschemes] != NULL, VMESH_ERR_NOMEM, "out of memory");
                p->nschemes++;
            }
        } else {
            VMESH_FAIL(VMESH_ERR_PARSE, "%s: unknown policy field \"%s\"", src, k);
        }
    }
    *out = p;
    p = NULL;
out:
    vmesh_policy_free(p);
    json_decref(root);
    return rc;
}

vmesh_err vmesh_policy_load(const char *path, vmesh_policy **out)
{
    vmesh_buf b = {0};
    vmesh_err rc = vmesh_file_read(path, POLICY_MAX, &b);

    if (rc == VMESH_OK)
        rc = vmesh_policy_parse(b.data, b.len, path, out);
    vmesh_buf_free(&b);
    return rc;
}

const char *vmesh_policy_id(const vmesh_policy *p)
{
    return p->id;
}

unsigned vmesh_policy_modes(const vmesh_policy *p)
{
    return p->modes;
}

vmesh_keybound vmesh_policy_keybound(const vmesh_policy *p)
{
    return p->keybound;
}

bool vmesh_policy_allows_unattested(const vmesh_policy *p)
{
    return p->allow_unattested;
}

int64_t vmesh_policy_max_evidence_age(const vmesh_policy *p)
{
    return p->max_age;
}

int vmesh_policy_passport_epoch_lag(const vmesh_policy *p)
{
    return p->passport_epoch_lag;
}

size_t vmesh_policy_verifier_key_count(const vmesh_policy *p)
{
    return p->nkeys;
}

const vmesh_key *vmesh_policy_verifier_key(const vmesh_policy *p, size_t i)
{
    return i < p->nkeys ? p->keys[i] : NULL;
}

bool vmesh_policy_accepts_scheme(const vmesh_policy *p, const char *scheme)
{
    if (p->nschemes == 0)
        return true;
    for (size_t i = 0; i < p->nschemes; i++)
        if (strcmp(p->schemes[i], scheme) == 0)
            return true;
    return false;
}

vmesh_policy_verdict vmesh_policy_check(const vmesh_policy *p, vmesh_mode mode, const char *scheme,
                                        const vmesh_tv *tv, int64_t age, char *reason, size_t rlen)
{
    char dummy[8];
    vmesh_tier status;

    if (reason == NULL) {
        reason = dummy;
        rlen = sizeof(dummy);
    }
    reason[0] = '\0';
    if (mode == VMESH_MODE_NONE) {
        if (p->allow_unattested)
            return VMESH_POLICY_OK;
        snprintf(reason, rlen, "peer is not attested and policy %s refuses unattested peers", p->id);
        return VMESH_POLICY_UNATTESTED_REFUSED;
    }
    if ((p->modes & VMESH_MODE_BIT(mode)) == 0) {
        snprintf(reason, rlen, "attestation mode %s is not accepted by policy %s", vmesh_mode_name(mode), p->id);
        return VMESH_POLICY_MODE_REFUSED;
    }
    if (scheme != NULL && !vmesh_policy_accepts_scheme(p, scheme)) {
        snprintf(reason, rlen, "evidence scheme %s is not accepted by policy %s", scheme, p->id);
        return VMESH_POLICY_SCHEME_REFUSED;
    }
    status = vmesh_tv_status(tv);
    if (goodness(status) < goodness(p->min_status)) {
        snprintf(reason, rlen, "overall status %s is below the required %s", vmesh_tier_name(status),
                 vmesh_tier_name(p->min_status));
        return VMESH_POLICY_STATUS_TOO_LOW;
    }
    for (int c = 0; c < VMESH_TV__COUNT; c++) {
        vmesh_tier have = vmesh_tier_of(tv->v[c]);
        if (p->min_tier[c] == VMESH_TIER_NONE)
            continue;
        if (goodness(have) < goodness(p->min_tier[c])) {
            snprintf(reason, rlen, "%s is %d (%s, %s), policy requires %s", vmesh_tv_claim_name((vmesh_tv_claim)c),
                     tv->v[c], vmesh_tier_name(have), vmesh_tv_describe((vmesh_tv_claim)c, tv->v[c]),
                     vmesh_tier_name(p->min_tier[c]));
            return VMESH_POLICY_CLAIM_TOO_LOW;
        }
    }
    if (age >= 0 && age > p->max_age) {
        snprintf(reason, rlen, "evidence is %lld s old, policy allows %lld s", (long long)age, (long long)p->max_age);
        return VMESH_POLICY_EVIDENCE_TOO_OLD;
    }
    return VMESH_POLICY_OK;
}
