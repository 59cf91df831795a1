/*
 * EAT Attestation Results (draft-ietf-rats-ear) as JWT, with the claim names
 * of veraison/ear so that Veraison tooling (arc, the ear Go package) reads
 * what we issue and we read what Veraison issues (DESIGN §4). An EAR is kept
 * as its JSON claims object, so claims we do not model (ear.raw-evidence,
 * policy claims, ...) survive a parse/print round trip. This file must never
 * hand out an EAR from vmesh_ear_verify whose signature, profile, validity
 * window or submod statuses it has not checked, and accessors must never
 * report a submod as better than its own trust vector.
 */
#include "jose_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vmesh_ear {
    json_t *claims; /* always a JSON object */
};

#define C_PROFILE "eat_profile"
#define C_IAT "iat"
#define C_EXP "exp"
#define C_NBF "nbf"
#define C_NONCE "eat_nonce"
#define C_VERIFIER "ear.verifier-id"
#define C_SUBMODS "submods"
#define C_EPOCHS "ear.vmesh.rv-epochs"
#define C_MARKERS "ear.vmesh.epoch-markers"
#define C_POLDIG "ear.vmesh.policy-digest"
#define EAR_POLDIG_MAX 80
#define C_PEER "ear.vmesh.peer"
#define EAR_PEER_ID_MAX 2048
#define EAR_PEER_SCOPE_MAX 512
#define C_STATUS "ear.status"
#define C_TV "ear.trustworthiness-vector"
#define C_POLICY "ear.appraisal-policy-id"
#define C_EVIDENCE "ear.veraison.annotated-evidence"
#define C_KEYATT "ear.veraison.key-attestation"
#define C_AKPUB "akpub"
#define C_JOURNAL "ear.vmesh.rv-journal"

#define EAR_MAX_AKPUB 4096 /* SPKI DER bytes; P-384 is 120 */
/* veraison/ear validate(): "if nLen > 88 || nLen < 8" (characters). */
#define EAR_NONCE_MIN_CHARS 8
#define EAR_NONCE_MAX_CHARS 88

static const vmesh_tier all_tiers[] = {VMESH_TIER_NONE, VMESH_TIER_AFFIRMING,
                                       VMESH_TIER_WARNING, VMESH_TIER_CONTRAINDICATED};

static bool tier_valid(int t)
{
    for (size_t i = 0; i < sizeof(all_tiers) / sizeof(all_tiers[0]); i++)
        if (t == (int)all_tiers[i])
            return true;
    return false;
}

/* "ear.status" is a tier name; veraison/ear also reads the integer form. */
static bool tier_from_json(const json_t *j, vmesh_tier *out)
{
    if (json_is_string(j)) {
        for (size_t i = 0; i < sizeof(all_tiers) / sizeof(all_tiers[0]); i++) {
            if (strcmp(json_string_value(j), vmesh_tier_name(all_tiers[i])) == 0) {
                *out = all_tiers[i];
                return true;
            }
        }
        return false;
    }
    if (json_is_integer(j) && json_integer_value(j) >= 0 && json_integer_value(j) <= 96 &&
        tier_valid((int)json_integer_value(j))) {
        *out = (vmesh_tier)json_integer_value(j);
        return true;
    }
    return false;
}

static void fmt_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

static vmesh_err json_nomem(void)
{
    return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory building EAR JSON");
}

/* ---- checks ------------------------------------------------------------- */

static vmesh_err check_tv(const char *name, const json_t *tv)
{
    vmesh_err rc = VMESH_OK;
    const char *k;
    json_t *v;

    VMESH_ENSURE(json_is_object(tv), VMESH_ERR_PARSE, "EAR submods.%.64s: %s is not an object",
                 name, C_TV);
    json_object_foreach((json_t *)tv, k, v) {
        /* Unknown claim names are ignored, as veraison/ear does. */
        if (vmesh_tv_claim_from_name(k) < 0)
            continue;
        VMESH_ENSURE(json_is_integer(v) && json_integer_value(v) >= -128 &&
                         json_integer_value(v) <= 127,
                     VMESH_ERR_PARSE,
                     "EAR submods.%.64s: trust vector claim %s is not an integer in [-128, 127]",
                     name, k);
    }
out:
    return rc;
}

static vmesh_err check_submod(const char *name, const json_t *s)
{
    vmesh_err rc = VMESH_OK;
    vmesh_tier t;
    json_t *v;

    VMESH_ENSURE(json_is_object(s), VMESH_ERR_PARSE, "EAR submods.%.64s is not an object", name);
    v = json_object_get(s, C_STATUS);
    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "EAR submods.%.64s has no %s", name, C_STATUS);
    VMESH_ENSURE(tier_from_json(v, &t), VMESH_ERR_PARSE,
                 "EAR submods.%.64s: %s is not none, affirming, warning or contraindicated",
                 name, C_STATUS);
    if ((v = json_object_get(s, C_TV)) != NULL)
        VMESH_GUARD(check_tv(name, v));
    v = json_object_get(s, C_POLICY);
    VMESH_ENSURE(v == NULL || json_is_string(v), VMESH_ERR_PARSE,
                 "EAR submods.%.64s: %s is not a string", name, C_POLICY);
    v = json_object_get(s, C_EVIDENCE);
    VMESH_ENSURE(v == NULL || json_is_object(v), VMESH_ERR_PARSE,
                 "EAR submods.%.64s: %s is not an object", name, C_EVIDENCE);
    v = json_object_get(s, C_JOURNAL);
    VMESH_ENSURE(v == NULL || json_is_string(v), VMESH_ERR_PARSE, "EAR submods.%.64s: %s is not a string", name,
                 C_JOURNAL);
    v = json_object_get(s, C_KEYATT);
    if (v != NULL) {
        VMESH_ENSURE(json_is_object(v), VMESH_ERR_PARSE, "EAR submods.%.64s: %s is not an object",
                     name, C_KEYATT);
        v = json_object_get(v, C_AKPUB);
        VMESH_ENSURE(v == NULL || json_is_string(v), VMESH_ERR_PARSE,
                     "EAR submods.%.64s: %s.akpub is not a string", name, C_KEYATT);
    }
out:
    return rc;
}

/* "ear.vmesh.epoch-markers": an array of {bell, tick, em}, each bell once. */
static vmesh_err check_markers(const json_t *a)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf em = {0};

    VMESH_ENSURE(json_is_array(a) && json_array_size(a) <= VMESH_EAR_MAX_MARKERS, VMESH_ERR_PARSE,
                 "EAR %s is not an array of at most %d markers", C_MARKERS, VMESH_EAR_MAX_MARKERS);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i), *b = json_object_get(o, "bell"), *t = json_object_get(o, "tick"),
               *m = json_object_get(o, "em");
        VMESH_ENSURE(json_is_object(o) && json_object_size(o) == 3 && json_is_string(b) &&
                         json_string_length(b) > 0 && json_string_length(b) <= 128 && json_is_integer(t) &&
                         json_integer_value(t) >= 1 && json_is_string(m),
                     VMESH_ERR_PARSE, "EAR %s[%zu] must be {bell: name, tick: integer >= 1, em: base64url}",
                     C_MARKERS, i);
        for (size_t j = 0; j < i; j++)
            VMESH_ENSURE(strcmp(json_string_value(json_object_get(json_array_get(a, j), "bell")),
                                json_string_value(b)) != 0,
                         VMESH_ERR_PARSE, "EAR %s names bell %.64s twice", C_MARKERS, json_string_value(b));
        rc = vmesh_b64_decode(json_string_value(m), json_string_length(m), &em);
        VMESH_ENSURE(rc == VMESH_OK && em.len >= 8 && em.len <= 64, VMESH_ERR_PARSE,
                     "EAR %s[%zu].em is not base64url of 8..64 bytes", C_MARKERS, i);
        vmesh_buf_free(&em);
    }
out:
    vmesh_buf_free(&em);
    return rc;
}

/* The structure every EAR must have (veraison/ear validate() plus ours). */
static vmesh_err check_claims(const json_t *c)
{
    vmesh_err rc = VMESH_OK;
    const char *k;
    json_t *v, *w;
    size_t n;

    VMESH_ENSURE(json_is_object(c), VMESH_ERR_PARSE, "EAR claims are not a JSON object");
    v = json_object_get(c, C_PROFILE);
    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "EAR has no %s claim", C_PROFILE);
    VMESH_ENSURE(json_is_string(v) && strcmp(json_string_value(v), VMESH_EAR_PROFILE) == 0,
                 VMESH_ERR_UNSUPPORTED, "EAR %s is '%.128s', expected '%s'", C_PROFILE,
                 json_is_string(v) ? json_string_value(v) : "(not a string)", VMESH_EAR_PROFILE);
    v = json_object_get(c, C_IAT);
    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "EAR has no iat claim");
    VMESH_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0, VMESH_ERR_PARSE,
                 "EAR iat is not a non-negative integer (NumericDate, RFC 7519 §2)");
    v = json_object_get(c, C_EXP);
    VMESH_ENSURE(v == NULL || (json_is_integer(v) && json_integer_value(v) > 0), VMESH_ERR_PARSE,
                 "EAR exp is not a positive integer (NumericDate, RFC 7519 §4.1.4)");
    v = json_object_get(c, C_NBF);
    VMESH_ENSURE(v == NULL || (json_is_integer(v) && json_integer_value(v) >= 0),
                 VMESH_ERR_PARSE, "EAR nbf is not an integer (NumericDate, RFC 7519 §4.1.5)");
    v = json_object_get(c, C_VERIFIER);
    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "EAR has no %s claim", C_VERIFIER);
    VMESH_ENSURE(json_is_object(v) && json_is_string(json_object_get(v, "developer")) &&
                     json_is_string(json_object_get(v, "build")),
                 VMESH_ERR_PARSE, "EAR %s needs string members developer and build", C_VERIFIER);
    v = json_object_get(c, C_POLDIG);
    VMESH_ENSURE(v == NULL || (json_is_string(v) && json_string_length(v) > 0 &&
                               json_string_length(v) <= EAR_POLDIG_MAX),
                 VMESH_ERR_PARSE, "EAR %s is not a string of 1 to %d characters", C_POLDIG, EAR_POLDIG_MAX);
    v = json_object_get(c, C_PEER);
    VMESH_ENSURE(v == NULL || (json_is_object(v) && json_is_string(json_object_get(v, "id")) &&
                               json_string_length(json_object_get(v, "id")) > 9 &&
                               json_string_length(json_object_get(v, "id")) <= EAR_PEER_ID_MAX &&
                               strncmp(json_string_value(json_object_get(v, "id")), "spiffe://", 9) == 0 &&
                               (json_object_get(v, "scope") == NULL ||
                                (json_is_string(json_object_get(v, "scope")) &&
                                 json_string_length(json_object_get(v, "scope")) <= EAR_PEER_SCOPE_MAX))),
                 VMESH_ERR_PARSE, "EAR %s needs a string member id (a SPIFFE ID of at most %d bytes) and "
                 "at most a string member scope (at most %d bytes)", C_PEER, EAR_PEER_ID_MAX, EAR_PEER_SCOPE_MAX);
    v = json_object_get(c, C_NONCE);
    if (v != NULL) {
        VMESH_ENSURE(json_is_string(v), VMESH_ERR_PARSE, "EAR %s is not a string", C_NONCE);
        n = json_string_length(v);
        VMESH_ENSURE(n >= EAR_NONCE_MIN_CHARS && n <= EAR_NONCE_MAX_CHARS, VMESH_ERR_PARSE,
                     "EAR %s is %zu characters, expected %d to %d", C_NONCE, n,
                     EAR_NONCE_MIN_CHARS, EAR_NONCE_MAX_CHARS);
    }
    v = json_object_get(c, C_EPOCHS);
    if (v != NULL) {
        VMESH_ENSURE(json_is_object(v), VMESH_ERR_PARSE, "EAR %s is not an object", C_EPOCHS);
        json_object_foreach(v, k, w)
            VMESH_ENSURE(json_is_integer(w) && json_integer_value(w) >= 0, VMESH_ERR_PARSE,
                         "EAR %s.%.64s is not a non-negative integer", C_EPOCHS, k);
    }
    v = json_object_get(c, C_MARKERS);
    if (v != NULL)
        VMESH_GUARD(check_markers(v));
    v = json_object_get(c, C_SUBMODS);
    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE,
                 "EAR has no submods (at least one appraisal must be present)");
    VMESH_ENSURE(json_is_object(v), VMESH_ERR_PARSE, "EAR submods is not an object");
    n = json_object_size(v);
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE,
                 "EAR submods is empty (at least one appraisal must be present)");
    VMESH_ENSURE(n <= VMESH_EAR_MAX_SUBMODS, VMESH_ERR_TOO_LARGE,
                 "EAR has %zu submods, more than the limit of %d", n, VMESH_EAR_MAX_SUBMODS);
    json_object_foreach(v, k, w)
        VMESH_GUARD(check_submod(k, w));
out:
    return rc;
}

/* RFC 7519 §4.1.4 and §4.1.5 against `now`; the times are formatted for
 * the message only when one fails (this runs on every EAR checked). */
static vmesh_err check_time(const json_t *c, int64_t now)
{
    vmesh_err rc = VMESH_OK;
    char t1[32], t2[32];
    json_t *v;
    int64_t t;

    t = (int64_t)json_integer_value(json_object_get(c, C_IAT));
    if (t > now && t - now > VMESH_EAR_IAT_LEEWAY) {
        fmt_time(t, t1);
        fmt_time(now, t2);
        VMESH_FAIL(VMESH_ERR_EXPIRED, "EAR issued at %s (iat %lld), in the future (now %s)", t1, (long long)t, t2);
    }
    v = json_object_get(c, C_EXP);
    /* RFC 7519 §4.1.4: "the current date/time MUST be before the
     * expiration date/time listed in the "exp" claim." */
    if (v != NULL && !(now < (t = (int64_t)json_integer_value(v)))) {
        fmt_time(t, t1);
        fmt_time(now, t2);
        VMESH_FAIL(VMESH_ERR_EXPIRED, "EAR expired at %s (exp %lld; now %s)", t1, (long long)t, t2);
    }
    v = json_object_get(c, C_NBF);
    /* RFC 7519 §4.1.5: "the current date/time MUST be after or equal to
     * the not-before date/time listed in the "nbf" claim." */
    if (v != NULL && !(now >= (t = (int64_t)json_integer_value(v)))) {
        fmt_time(t, t1);
        fmt_time(now, t2);
        VMESH_FAIL(VMESH_ERR_EXPIRED, "EAR not valid before %s (nbf %lld; now %s)", t1, (long long)t, t2);
    }
out:
    return rc;
}

/* ---- building ----------------------------------------------------------- */

static vmesh_err ear_alloc(json_t *claims, vmesh_ear **out)
{
    vmesh_ear *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory allocating an EAR");
    e->claims = claims;
    *out = e;
    return VMESH_OK;
}

vmesh_err vmesh_ear_new(vmesh_ear **out)
{
    vmesh_err rc = VMESH_OK;
    json_t *c = NULL;

    VMESH_ENSURE(out != NULL, VMESH_ERR_ARG, "vmesh_ear_new: no output");
    *out = NULL;
    c = json_object();
    if (c == NULL || json_object_set_new(c, C_PROFILE, json_string(VMESH_EAR_PROFILE)) != 0 ||
        json_object_set_new(c, C_IAT, json_integer((json_int_t)vmesh_time_now())) != 0)
        VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory building EAR JSON");
    VMESH_GUARD(ear_alloc(c, out));
    c = NULL;
out:
    json_decref(c);
    return rc;
}

void vmesh_ear_free(vmesh_ear *e)
{
    if (e == NULL)
        return;
    json_decref(e->claims);
    free(e);
}

static vmesh_err set_claim(vmesh_ear *e, const char *name, json_t *v)
{
    /* json_object_set_new takes v even when it fails. */
    if (v == NULL || json_object_set_new(e->claims, name, v) != 0)
        return json_nomem();
    return VMESH_OK;
}

vmesh_err vmesh_ear_set_iat(vmesh_ear *e, int64_t iat)
{
    if (e == NULL || iat < 0)
        return vmesh_err_set(VMESH_ERR_ARG, "EAR iat must be a non-negative NumericDate");
    return set_claim(e, C_IAT, json_integer((json_int_t)iat));
}

vmesh_err vmesh_ear_set_exp(vmesh_ear *e, int64_t exp)
{
    if (e == NULL || exp < 0)
        return vmesh_err_set(VMESH_ERR_ARG, "EAR exp must be a positive NumericDate (or 0)");
    if (exp == 0) {
        json_object_del(e->claims, C_EXP);
        return VMESH_OK;
    }
    return set_claim(e, C_EXP, json_integer((json_int_t)exp));
}

vmesh_err vmesh_ear_set_verifier_id(vmesh_ear *e, const char *developer, const char *build)
{
    if (e == NULL || developer == NULL || build == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "EAR verifier-id needs developer and build");
    /* AR4SI §2.2.2 / veraison/ear VerifierIdentity: {"build", "developer"}. */
    return set_claim(e, C_VERIFIER, json_pack("{s:s, s:s}", "developer", developer, "build", build));
}

vmesh_err vmesh_ear_set_policy_digest(vmesh_ear *e, const char *digest)
{
    if (e == NULL || digest == NULL || digest[0] == '\0' || strlen(digest) > EAR_POLDIG_MAX)
        return vmesh_err_set(VMESH_ERR_ARG, "EAR policy digest must be 1 to %d characters", EAR_POLDIG_MAX);
    return set_claim(e, C_POLDIG, json_string(digest));
}

vmesh_err vmesh_ear_set_peer(vmesh_ear *e, const char *id, const char *scope)
{
    if (e == NULL || id == NULL || strncmp(id, "spiffe://", 9) != 0 || strlen(id) <= 9 ||
        strlen(id) > EAR_PEER_ID_MAX)
        return vmesh_err_set(VMESH_ERR_ARG, "EAR peer id must be a SPIFFE ID of at most %d bytes", EAR_PEER_ID_MAX);
    if (scope != NULL && strlen(scope) > EAR_PEER_SCOPE_MAX)
        return vmesh_err_set(VMESH_ERR_ARG, "EAR peer scope must be at most %d bytes", EAR_PEER_SCOPE_MAX);
    return set_claim(e, C_PEER, scope ? json_pack("{s:s, s:s}", "id", id, "scope", scope)
                                      : json_pack("{s:s}", "id", id));
}

vmesh_err vmesh_ear_set_nonce(vmesh_ear *e, const uint8_t *nonce, size_t n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    VMESH_ENSURE(e != NULL && nonce != NULL, VMESH_ERR_ARG, "EAR nonce: no nonce given");
    /* RFC 9711 §4.1: a nonce "MUST have at least 64 bits of entropy" and at
     * most 64 bytes. */
    VMESH_ENSURE(n >= VMESH_EAR_MIN_NONCE && n <= VMESH_EAR_MAX_NONCE, VMESH_ERR_ARG,
                 "EAR nonce is %zu bytes, expected %d to %d", n, VMESH_EAR_MIN_NONCE,
                 VMESH_EAR_MAX_NONCE);
    VMESH_GUARD(vmesh_b64url_encode(nonce, n, &b));
    VMESH_GUARD(set_claim(e, C_NONCE, json_stringn((const char *)b.data, b.len)));
out:
    vmesh_buf_free(&b);
    return rc;
}

vmesh_err vmesh_ear_add_rv_epoch(vmesh_ear *e, const char *rvp, uint64_t epoch)
{
    vmesh_err rc = VMESH_OK;
    json_t *m;

    VMESH_ENSURE(e != NULL && rvp != NULL && rvp[0] != '\0', VMESH_ERR_ARG,
                 "EAR rv-epochs: no RVP name given");
    VMESH_ENSURE(epoch <= (uint64_t)INT64_MAX, VMESH_ERR_ARG,
                 "EAR rv-epochs: epoch %llu of %.64s does not fit a JSON integer",
                 (unsigned long long)epoch, rvp);
    m = json_object_get(e->claims, C_EPOCHS);
    if (!json_is_object(m)) {
        VMESH_GUARD(set_claim(e, C_EPOCHS, json_object()));
        m = json_object_get(e->claims, C_EPOCHS);
    }
    if (json_object_set_new(m, rvp, json_integer((json_int_t)epoch)) != 0)
        rc = json_nomem();
out:
    return rc;
}

vmesh_err vmesh_ear_add_submod(vmesh_ear *e, const char *name, vmesh_tier status,
                               const vmesh_tv *tv, const char *policy_id,
                               const char *annotated_evidence_json, const uint8_t *akpub,
                               size_t akpub_len)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};
    json_error_t jerr;
    json_t *subs, *s = NULL, *j = NULL;

    VMESH_ENSURE(e != NULL && name != NULL && name[0] != '\0', VMESH_ERR_ARG,
                 "EAR submod: no name given");
    VMESH_ENSURE(tier_valid((int)status), VMESH_ERR_ARG, "EAR submod %.64s: %d is not a trust tier",
                 name, (int)status);
    subs = json_object_get(e->claims, C_SUBMODS);
    if (!json_is_object(subs)) {
        VMESH_GUARD(set_claim(e, C_SUBMODS, json_object()));
        subs = json_object_get(e->claims, C_SUBMODS);
    }
    VMESH_ENSURE(json_object_get(subs, name) == NULL, VMESH_ERR_ARG,
                 "EAR already has a submod named %.64s", name);
    VMESH_ENSURE(json_object_size(subs) < VMESH_EAR_MAX_SUBMODS, VMESH_ERR_TOO_LARGE,
                 "EAR cannot hold more than %d submods", VMESH_EAR_MAX_SUBMODS);
    if (tv != NULL)
        status = vmesh_tier_worst(status, vmesh_tv_status(tv));
    s = json_object();
    if (s == NULL || json_object_set_new(s, C_STATUS, json_string(vmesh_tier_name(status))) != 0)
        VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory building EAR JSON");
    if (tv != NULL) {
        j = json_object();
        VMESH_ENSURE(j != NULL, VMESH_ERR_NOMEM, "out of memory building EAR JSON");
        /* veraison/ear TrustVector: every member is `omitempty`. */
        for (int i = 0; i < VMESH_TV__COUNT; i++)
            if (tv->v[i] != 0 &&
                json_object_set_new(j, vmesh_tv_claim_name((vmesh_tv_claim)i),
                                    json_integer(tv->v[i])) != 0)
                VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory building EAR JSON");
        if (json_object_set_new(s, C_TV, j) != 0) {
            j = NULL;
            VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory building EAR JSON");
        }
        j = NULL;
    }
    if (policy_id != NULL && json_object_set_new(s, C_POLICY, json_string(policy_id)) != 0)
        VMESH_FAIL(VMESH_ERR_NOMEM, "EAR submod %.64s: policy id is not UTF-8 or out of memory",
                   name);
    if (annotated_evidence_json != NULL && annotated_evidence_json[0] != '\0') {
        j = json_loads(annotated_evidence_json, JSON_REJECT_DUPLICATES, &jerr);
        VMESH_ENSURE(j != NULL, VMESH_ERR_PARSE,
                     "EAR submod %.64s: annotated evidence is not JSON: %s", name, jerr.text);
        VMESH_ENSURE(json_is_object(j), VMESH_ERR_ARG,
                     "EAR submod %.64s: annotated evidence is not a JSON object", name);
        if (json_object_set_new(s, C_EVIDENCE, j) != 0) {
            j = NULL;
            VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory building EAR JSON");
        }
        j = NULL;
    }
    if (akpub != NULL) {
        VMESH_ENSURE(akpub_len > 0 && akpub_len <= EAR_MAX_AKPUB, VMESH_ERR_ARG,
                     "EAR submod %.64s: akpub is %zu bytes, expected 1 to %d", name, akpub_len,
                     EAR_MAX_AKPUB);
        /* veraison/ear SetKeyAttestation: akpub is
         * base64.RawURLEncoding(x509.MarshalPKIXPublicKey(pub)). */
        VMESH_GUARD(vmesh_b64url_encode(akpub, akpub_len, &b));
        j = json_pack("{s:s%}", C_AKPUB, (const char *)b.data, b.len);
        if (j == NULL || json_object_set_new(s, C_KEYATT, j) != 0) {
            j = NULL;
            VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory building EAR JSON");
        }
        j = NULL;
    }
    if (json_object_set_new(subs, name, s) != 0) {
        s = NULL;
        VMESH_FAIL(VMESH_ERR_NOMEM, "EAR submod name %.64s is not UTF-8 or out of memory", name);
    }
    s = NULL;
out:
    json_decref(j);
    json_decref(s);
    vmesh_buf_free(&b);
    return rc;
}

/* ---- serialisation -------------------------------------------------------- */

/* Compact JSON of v appended to out: what jansson's JSON_COMPACT gives
 * (members in insertion order, UTF-8 unescaped; control characters as
 * \u00XX rather than \n, \t, ...), written straight into one
 * buffer. EAR signing runs once per appraisal; this is several times faster
 * than json_dumpb's per-token callbacks. */
static vmesh_err emit_json(const json_t *v, vmesh_buf *out, int depth)
{
    vmesh_err rc = VMESH_OK;
    char num[32], *real = NULL;
    const char *k;
    json_t *m;
    size_t i;
    int len;

    VMESH_ENSURE(depth < 128, VMESH_ERR_TOO_LARGE, "EAR claims nest deeper than 128 levels");
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        VMESH_GUARD(vmesh_buf_append_u8(out, '{'));
        i = 0;
        json_object_foreach((json_t *)v, k, m) {
            if (i++ > 0)
                VMESH_GUARD(vmesh_buf_append_u8(out, ','));
            VMESH_GUARD(vmesh_json_str(out, k, strlen(k)));
            VMESH_GUARD(vmesh_buf_append_u8(out, ':'));
            VMESH_GUARD(emit_json(m, out, depth + 1));
        }
        VMESH_GUARD(vmesh_buf_append_u8(out, '}'));
        break;
    case JSON_ARRAY:
        VMESH_GUARD(vmesh_buf_append_u8(out, '['));
        for (i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                VMESH_GUARD(vmesh_buf_append_u8(out, ','));
            VMESH_GUARD(emit_json(json_array_get(v, i), out, depth + 1));
        }
        VMESH_GUARD(vmesh_buf_append_u8(out, ']'));
        break;
    case JSON_STRING:
        VMESH_GUARD(vmesh_json_str(out, json_string_value(v), json_string_length(v)));
        break;
    case JSON_INTEGER:
        len = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        VMESH_GUARD(vmesh_buf_append(out, num, (size_t)len));
        break;
    case JSON_REAL:
        /* Rare in an EAR: let jansson choose the shortest exact form. */
        real = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        VMESH_ENSURE(real != NULL, VMESH_ERR_NOMEM, "EAR: cannot serialise a number");
        VMESH_GUARD(vmesh_buf_append(out, real, strlen(real)));
        break;
    case JSON_TRUE:
        VMESH_GUARD(vmesh_buf_append(out, "true", 4));
        break;
    case JSON_FALSE:
        VMESH_GUARD(vmesh_buf_append(out, "false", 5));
        break;
    case JSON_NULL:
        VMESH_GUARD(vmesh_buf_append(out, "null", 4));
        break;
    }
out:
    free(real);
    return rc;
}

/* ---- signing and reading -------------------------------------------------- */

/* Checks and serialises e's claims and authenticates them with a signature
 * key or (key NULL) a MAC key. */
static vmesh_err ear_seal(const vmesh_ear *e, const vmesh_key *key, const uint8_t *mac_key, vmesh_buf *jwt)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf claims = {0};

    VMESH_ENSURE(e != NULL && (key != NULL || mac_key != NULL) && jwt != NULL, VMESH_ERR_ARG,
                 "EAR sign: missing EAR, key or output");
    rc = check_claims(e->claims);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "EAR not signed");
        goto out;
    }
    VMESH_GUARD(vmesh_buf_reserve(&claims, 2048));
    VMESH_GUARD(emit_json(e->claims, &claims, 0));
    /* RFC 7519 §5.1: "typ" ... "it is RECOMMENDED that its value be "JWT"". */
    if (key != NULL)
        VMESH_GUARD(vmesh_jose_jws_sign(key, "JWT", NULL, claims.data, claims.len, jwt));
    else
        VMESH_GUARD(vmesh_jose_jws_mac(mac_key, "JWT", claims.data, claims.len, jwt));
out:
    vmesh_buf_free(&claims);
    return rc;
}

vmesh_err vmesh_ear_sign(const vmesh_ear *e, const vmesh_key *key, vmesh_buf *jwt)
{
    if (key == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "EAR sign: missing EAR, key or output");
    return ear_seal(e, key, NULL, jwt);
}

vmesh_err vmesh_ear_mac(const vmesh_ear *e, const uint8_t key[VMESH_JOSE_MAC_KEY_LEN], vmesh_buf *jwt)
{
    if (key == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "EAR sign: missing EAR, key or output");
    return ear_seal(e, NULL, key, jwt);
}

static vmesh_err load_claims(const uint8_t *p, size_t n, json_t **out)
{
    vmesh_err rc = VMESH_OK;
    json_error_t jerr;
    json_t *c;

    VMESH_ENSURE(n <= VMESH_JOSE_MAX_COMPACT, VMESH_ERR_TOO_LARGE,
                 "EAR claims are %zu bytes, more than the limit of %zu", n,
                 VMESH_JOSE_MAX_COMPACT);
    c = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(c != NULL, VMESH_ERR_PARSE, "EAR claims are not JSON: %s (line %d, column %d)",
                 jerr.text, jerr.line, jerr.column);
    if (!json_is_object(c)) {
        json_decref(c);
        VMESH_FAIL(VMESH_ERR_PARSE, "EAR claims are not a JSON object");
    }
    *out = c;
out:
    return rc;
}

static vmesh_err ear_open(const char *jwt, size_t n, const vmesh_key *pubkey, const uint8_t *mac_key, int64_t now,
                          vmesh_ear **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf payload = {0};
    json_t *c = NULL;

    VMESH_ENSURE(out != NULL, VMESH_ERR_ARG, "EAR verify: no output");
    *out = NULL;
    if (mac_key != NULL)
        VMESH_GUARD(vmesh_jose_jws_verify_mac(jwt, n, mac_key, &payload));
    else
        VMESH_GUARD(vmesh_jose_jws_verify(jwt, n, pubkey, &payload));
    VMESH_GUARD(load_claims(payload.data, payload.len, &c));
    VMESH_GUARD(check_claims(c));
    VMESH_GUARD(check_time(c, now));
    VMESH_GUARD(ear_alloc(c, out));
    c = NULL;
out:
    json_decref(c);
    vmesh_buf_free(&payload);
    return rc;
}

vmesh_err vmesh_ear_verify(const char *jwt, size_t n, const vmesh_key *pubkey, int64_t now, vmesh_ear **out)
{
    if (pubkey == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "JWS verify: missing key or output");
    return ear_open(jwt, n, pubkey, NULL, now, out);
}

vmesh_err vmesh_ear_verify_mac(const char *jwt, size_t n, const uint8_t key[VMESH_JOSE_MAC_KEY_LEN], int64_t now,
                               vmesh_ear **out)
{
    if (key == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "JWS verify: missing MAC key");
    return ear_open(jwt, n, NULL, key, now, out);
}

vmesh_err vmesh_ear_parse_unverified(const char *jwt, size_t n, vmesh_buf *header_json,
                                     vmesh_ear **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf payload = {0};
    json_t *c = NULL;

    VMESH_ENSURE(out != NULL, VMESH_ERR_ARG, "EAR parse: no output");
    *out = NULL;
    VMESH_GUARD(vmesh_jose_jws_peek(jwt, n, header_json, &payload));
    VMESH_GUARD(load_claims(payload.data, payload.len, &c));
    VMESH_GUARD(ear_alloc(c, out));
    c = NULL;
out:
    json_decref(c);
    vmesh_buf_free(&payload);
    return rc;
}

vmesh_err vmesh_ear_from_json(const char *json, size_t n, vmesh_ear **out)
{
    vmesh_err rc = VMESH_OK;
    json_t *c = NULL;

    VMESH_ENSURE(out != NULL && json != NULL, VMESH_ERR_ARG, "EAR from JSON: no input or output");
    *out = NULL;
    VMESH_GUARD(load_claims((const uint8_t *)json, n, &c));
    VMESH_GUARD(check_claims(c));
    VMESH_GUARD(ear_alloc(c, out));
    c = NULL;
out:
    json_decref(c);
    return rc;
}

vmesh_err vmesh_ear_to_json(const vmesh_ear *e, bool pretty, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    char *s = NULL;

    VMESH_ENSURE(e != NULL && out != NULL, VMESH_ERR_ARG, "EAR to JSON: no EAR or output");
    if (!pretty) {
        vmesh_buf_reset(out);
        VMESH_GUARD(emit_json(e->claims, out, 0));
        VMESH_GUARD(vmesh_buf_terminate(out));
        goto out;
    }
    s = json_dumps(e->claims, JSON_INDENT(2));
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "EAR to JSON: cannot serialise the claims");
    VMESH_GUARD(vmesh_buf_set(out, s, strlen(s)));
    VMESH_GUARD(vmesh_buf_terminate(out));
out:
    free(s);
    return rc;
}

/* ---- accessors ------------------------------------------------------------ */

static const char *str_claim(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name)); /* NULL unless a string */
}

static int64_t int_claim(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

const char *vmesh_ear_profile(const vmesh_ear *e)
{
    return e ? str_claim(e->claims, C_PROFILE) : NULL;
}

int64_t vmesh_ear_iat(const vmesh_ear *e)
{
    return e ? int_claim(e->claims, C_IAT) : 0;
}

int64_t vmesh_ear_exp(const vmesh_ear *e)
{
    return e ? int_claim(e->claims, C_EXP) : 0;
}

const char *vmesh_ear_verifier_developer(const vmesh_ear *e)
{
    return e ? str_claim(json_object_get(e->claims, C_VERIFIER), "developer") : NULL;
}

const char *vmesh_ear_verifier_build(const vmesh_ear *e)
{
    return e ? str_claim(json_object_get(e->claims, C_VERIFIER), "build") : NULL;
}

const char *vmesh_ear_policy_digest(const vmesh_ear *e)
{
    return e ? str_claim(e->claims, C_POLDIG) : NULL;
}

const char *vmesh_ear_peer_id(const vmesh_ear *e)
{
    return e ? str_claim(json_object_get(e->claims, C_PEER), "id") : NULL;
}

const char *vmesh_ear_peer_scope(const vmesh_ear *e)
{
    return e ? str_claim(json_object_get(e->claims, C_PEER), "scope") : NULL;
}

vmesh_err vmesh_ear_nonce(const vmesh_ear *e, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *v;

    VMESH_ENSURE(e != NULL && out != NULL, VMESH_ERR_ARG, "EAR nonce: no EAR or output");
    v = json_object_get(e->claims, C_NONCE);
    VMESH_ENSURE(json_is_string(v), VMESH_ERR_NOT_FOUND, "EAR has no %s", C_NONCE);
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_jose_b64url_decode(json_string_value(v), json_string_length(v),
                                         "EAR eat_nonce", out));
out:
    return rc;
}

static json_t *submod_at(const vmesh_ear *e, size_t i, const char **name)
{
    json_t *subs = e ? json_object_get(e->claims, C_SUBMODS) : NULL;
    void *it;

    if (!json_is_object(subs))
        return NULL;
    /* jansson keeps insertion order, so indexes are stable. */
    for (it = json_object_iter(subs); it != NULL && i > 0; i--)
        it = json_object_iter_next(subs, it);
    if (it == NULL)
        return NULL;
    if (name != NULL)
        *name = json_object_iter_key(it);
    return json_object_iter_value(it);
}

size_t vmesh_ear_submod_count(const vmesh_ear *e)
{
    json_t *subs = e ? json_object_get(e->claims, C_SUBMODS) : NULL;

    return json_is_object(subs) ? json_object_size(subs) : 0;
}

const char *vmesh_ear_submod_name(const vmesh_ear *e, size_t i)
{
    const char *name = NULL;

    return submod_at(e, i, &name) != NULL ? name : NULL;
}

int vmesh_ear_submod_find(const vmesh_ear *e, const char *name)
{
    size_t n = vmesh_ear_submod_count(e);

    for (size_t i = 0; name != NULL && i < n && i < VMESH_EAR_MAX_SUBMODS; i++) {
        const char *k = vmesh_ear_submod_name(e, i);
        if (k != NULL && strcmp(k, name) == 0)
            return (int)i;
    }
    return -1;
}

void vmesh_ear_submod_tv(const vmesh_ear *e, size_t i, vmesh_tv *out)
{
    json_t *tv = json_object_get(submod_at(e, i, NULL), C_TV);
    const char *k;
    json_t *v;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(tv))
        return;
    json_object_foreach(tv, k, v) {
        int c = vmesh_tv_claim_from_name(k);
        json_int_t x = json_integer_value(v);

        if (c >= 0 && json_is_integer(v) && x >= -128 && x <= 127)
            out->v[c] = (int8_t)x;
    }
}

vmesh_tier vmesh_ear_submod_status(const vmesh_ear *e, size_t i)
{
    json_t *s = submod_at(e, i, NULL);
    vmesh_tier t = VMESH_TIER_NONE;
    vmesh_tv tv;

    if (s == NULL || !tier_from_json(json_object_get(s, C_STATUS), &t))
        return VMESH_TIER_NONE;
    /* A submod never reads better than its own trust vector (as
     * veraison/ear UpdateStatusFromTrustVector would make it). */
    vmesh_ear_submod_tv(e, i, &tv);
    return vmesh_tier_worst(t, vmesh_tv_status(&tv));
}

vmesh_tier vmesh_ear_status(const vmesh_ear *e)
{
    size_t n = vmesh_ear_submod_count(e);
    vmesh_tier t = VMESH_TIER_NONE;

    for (size_t i = 0; i < n; i++)
        t = vmesh_tier_worst(t, vmesh_ear_submod_status(e, i));
    return t;
}

const char *vmesh_ear_submod_policy_id(const vmesh_ear *e, size_t i)
{
    return str_claim(submod_at(e, i, NULL), C_POLICY);
}

vmesh_err vmesh_ear_submod_akpub(const vmesh_ear *e, size_t i, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *ka, *v;

    VMESH_ENSURE(out != NULL, VMESH_ERR_ARG, "EAR akpub: no output");
    ka = json_object_get(submod_at(e, i, NULL), C_KEYATT);
    v = json_object_get(ka, C_AKPUB);
    VMESH_ENSURE(json_is_string(v), VMESH_ERR_NOT_FOUND, "EAR submod %zu has no %s.%s", i,
                 C_KEYATT, C_AKPUB);
    VMESH_ENSURE(json_string_length(v) <= (EAR_MAX_AKPUB + 2) / 3 * 4, VMESH_ERR_TOO_LARGE,
                 "EAR %s.%s is longer than %d bytes", C_KEYATT, C_AKPUB, EAR_MAX_AKPUB);
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_jose_b64url_decode(json_string_value(v), json_string_length(v),
                                         "EAR akpub", out));
out:
    return rc;
}

vmesh_err vmesh_ear_submod_rv_journal(const vmesh_ear *e, size_t i, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *v;

    VMESH_ENSURE(out != NULL, VMESH_ERR_ARG, "EAR rv-journal: no output");
    vmesh_buf_reset(out);
    v = json_object_get(submod_at(e, i, NULL), C_JOURNAL);
    VMESH_ENSURE(v != NULL, VMESH_ERR_NOT_FOUND, "EAR submod %zu has no %s", i, C_JOURNAL);
    VMESH_ENSURE(json_is_string(v), VMESH_ERR_PARSE, "EAR submod %zu: %s is not a string", i, C_JOURNAL);
    VMESH_ENSURE(json_string_length(v) <= (VMESH_EAR_MAX_RV_JOURNAL + 2) / 3 * 4, VMESH_ERR_TOO_LARGE,
                 "EAR %s is longer than %d bytes", C_JOURNAL, VMESH_EAR_MAX_RV_JOURNAL);
    VMESH_GUARD(vmesh_jose_b64url_decode(json_string_value(v), json_string_length(v), "EAR rv-journal", out));
out:
    return rc;
}

vmesh_err vmesh_ear_submod_set_rv_journal(vmesh_ear *e, const char *name, const uint8_t *p, size_t n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};
    json_t *s;

    VMESH_ENSURE(e != NULL && name != NULL && (p != NULL || n == 0), VMESH_ERR_ARG, "EAR rv-journal: no input");
    VMESH_ENSURE(n > 0 && n <= VMESH_EAR_MAX_RV_JOURNAL, VMESH_ERR_ARG,
                 "EAR submod %.64s: rv-journal is %zu bytes, expected 1 to %d", name, n, VMESH_EAR_MAX_RV_JOURNAL);
    s = json_object_get(json_object_get(e->claims, C_SUBMODS), name);
    VMESH_ENSURE(json_is_object(s), VMESH_ERR_NOT_FOUND, "EAR has no submod %.64s", name);
    VMESH_GUARD(vmesh_b64url_encode(p, n, &b));
    if (json_object_set_new(s, C_JOURNAL, json_stringn((const char *)b.data, b.len)) != 0)
        VMESH_FAIL(VMESH_ERR_NOMEM, "out of memory building EAR JSON");
out:
    vmesh_buf_free(&b);
    return rc;
}

vmesh_err vmesh_ear_submod_evidence_json(const vmesh_ear *e, size_t i, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *v;
    char *s = NULL;

    VMESH_ENSURE(out != NULL, VMESH_ERR_ARG, "EAR evidence: no output");
    v = json_object_get(submod_at(e, i, NULL), C_EVIDENCE);
    VMESH_ENSURE(v != NULL, VMESH_ERR_NOT_FOUND, "EAR submod %zu has no %s", i, C_EVIDENCE);
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "EAR evidence: cannot serialise");
    VMESH_GUARD(vmesh_buf_set(out, s, strlen(s)));
    VMESH_GUARD(vmesh_buf_terminate(out));
out:
    free(s);
    return rc;
}

vmesh_err vmesh_ear_add_epoch_marker(vmesh_ear *e, const char *bell, uint64_t tick, const uint8_t *em,
                                     size_t em_len)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};
    json_t *a, *o;

    VMESH_ENSURE(e != NULL && bell != NULL && bell[0] != '\0' && strlen(bell) <= 128, VMESH_ERR_ARG,
                 "EAR epoch marker: a bell name of 1..128 characters is needed");
    VMESH_ENSURE(tick >= 1 && tick <= (uint64_t)INT64_MAX, VMESH_ERR_ARG, "EAR epoch marker: tick out of range");
    VMESH_ENSURE(em_len >= 8 && em_len <= 64, VMESH_ERR_ARG, "EAR epoch marker: epoch-tick must be 8..64 bytes");
    a = json_object_get(e->claims, C_MARKERS);
    if (!json_is_array(a)) {
        VMESH_GUARD(set_claim(e, C_MARKERS, json_array()));
        a = json_object_get(e->claims, C_MARKERS);
    }
    VMESH_ENSURE(json_array_size(a) < VMESH_EAR_MAX_MARKERS, VMESH_ERR_TOO_LARGE, "EAR: more than %d epoch markers",
                 VMESH_EAR_MAX_MARKERS);
    for (size_t j = 0; j < json_array_size(a); j++)
        VMESH_ENSURE(strcmp(json_string_value(json_object_get(json_array_get(a, j), "bell")), bell) != 0,
                     VMESH_ERR_ARG, "EAR: epoch marker of bell %.64s given twice", bell);
    VMESH_GUARD(vmesh_b64url_encode(em, em_len, &b));
    o = json_pack("{s:s, s:I, s:s}", "bell", bell, "tick", (json_int_t)tick, "em", (const char *)b.data);
    VMESH_ENSURE(o != NULL, VMESH_ERR_NOMEM, "out of memory");
    if (json_array_append_new(a, o) != 0)
        rc = json_nomem();
out:
    vmesh_buf_free(&b);
    return rc;
}

size_t vmesh_ear_epoch_marker_count(const vmesh_ear *e)
{
    json_t *a = e ? json_object_get(e->claims, C_MARKERS) : NULL;

    return json_is_array(a) ? json_array_size(a) : 0;
}

vmesh_err vmesh_ear_epoch_marker_at(const vmesh_ear *e, size_t i, const char **bell, uint64_t *tick, uint8_t *em,
                                    size_t cap, size_t *em_len)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};
    json_t *o = json_array_get(e ? json_object_get(e->claims, C_MARKERS) : NULL, i);

    VMESH_ENSURE(json_is_object(o), VMESH_ERR_NOT_FOUND, "EAR has no epoch marker %zu", i);
    *bell = json_string_value(json_object_get(o, "bell"));
    *tick = (uint64_t)json_integer_value(json_object_get(o, "tick"));
    VMESH_GUARD(vmesh_b64_decode(json_string_value(json_object_get(o, "em")),
                                 json_string_length(json_object_get(o, "em")), &b));
    VMESH_ENSURE(*bell != NULL && b.len <= cap, VMESH_ERR_TOO_LARGE, "EAR epoch marker %zu does not fit", i);
    memcpy(em, b.data, b.len);
    *em_len = b.len;
out:
    vmesh_buf_free(&b);
    return rc;
}

size_t vmesh_ear_rv_epoch_count(const vmesh_ear *e)
{
    json_t *m = e ? json_object_get(e->claims, C_EPOCHS) : NULL;

    return json_is_object(m) ? json_object_size(m) : 0;
}

const char *vmesh_ear_rv_epoch_name(const vmesh_ear *e, size_t i)
{
    json_t *m = e ? json_object_get(e->claims, C_EPOCHS) : NULL;
    void *it;

    if (!json_is_object(m))
        return NULL;
    for (it = json_object_iter(m); it != NULL && i > 0; i--)
        it = json_object_iter_next(m, it);
    return it ? json_object_iter_key(it) : NULL;
}

vmesh_err vmesh_ear_rv_epoch(const vmesh_ear *e, const char *rvp, uint64_t *epoch)
{
    vmesh_err rc = VMESH_OK;
    json_t *v;

    VMESH_ENSURE(e != NULL && rvp != NULL && epoch != NULL, VMESH_ERR_ARG,
                 "EAR rv-epoch: missing argument");
    v = json_object_get(json_object_get(e->claims, C_EPOCHS), rvp);
    VMESH_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0, VMESH_ERR_NOT_FOUND,
                 "EAR has no RV epoch for %.64s", rvp);
    *epoch = (uint64_t)json_integer_value(v);
out:
    return rc;
}
