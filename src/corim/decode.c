/*
 * Reading CoRIM (draft-ietf-rats-corim) into an RV store, generic part: the
 * optional COSE_Sign1 envelope, the corim-map, its CoMID tags and their
 * triples maps; each reference or attest-key triple goes to the profile
 * the CoRIM names (include/vmesh/corim.h). Everything goes to a scratch
 * store first and is merged only when the whole CoRIM is valid. It must
 * never accept something it cannot enforce (an unknown triple type, a
 * profile nobody maps): silently dropping a constraint would make
 * appraisal weaker than the RVP meant.
 */
#include "vmesh/corim.h"

#include <stdio.h>
#include <string.h>

#include "vmesh/cose.h"

/* CBOR tags used by CoRIM (draft-ietf-rats-corim, IANA CBOR tags). */
#define TAG_EPOCH_TIME 1
#define TAG_URI 32
#define TAG_UUID 37
#define TAG_OID 111

typedef struct {
    const char *source;
    vmesh_corim_info *info;
    const vmesh_corim_profile *const *profiles;
    const vmesh_corim_profile *profile; /* the one the CoRIM names */
} ctx;

/* ---- small accessors ------------------------------------------------------ */

#define BIT(k) (1u << (k))
#define NAMES(a) a, sizeof(a) / sizeof(a[0])

/* A cursor for CoRIM CBOR: RFC 8949 lets a CoRIM use indefinite lengths
 * (generators other than vmesh's use them), nesting is capped. */
static vmesh_err corim_cursor(vmesh_cbor *r, const uint8_t *p, size_t n, const char *what)
{
    vmesh_err rc = VMESH_OK;

    vmesh_cbor_init(r, p, n, what, VMESH_CBOR_INDEFINITE);
    r->max_depth = VMESH_CORIM_MAX_DEPTH;
    VMESH_ENSURE(n > 0, VMESH_ERR_PARSE, "%s is empty", what);
    VMESH_ENSURE(n <= VMESH_CORIM_MAX_SIZE, VMESH_ERR_TOO_LARGE, "%s is %zu bytes, the cap is %zu", what, n,
                 VMESH_CORIM_MAX_SIZE);
    rc = vmesh_cbor_check(r);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "%s is not well-formed CBOR", what);
out:
    return rc;
}

static vmesh_err get_time(const vmesh_cbor *it, const char *what, int64_t *t)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor v;

    /* RFC 8610 prelude: time = #6.1(number) */
    VMESH_ENSURE(vmesh_corim_is_tag(it, TAG_EPOCH_TIME), VMESH_ERR_PARSE,
                 "%s must be an epoch time (CBOR tag 1)", what);
    VMESH_GUARD(vmesh_corim_untag(it, &v));
    if (vmesh_cbor_read_int(&v, t, what) != VMESH_OK)
        VMESH_FAIL(VMESH_ERR_PARSE, "%s must be an integer number of seconds", what);
out:
    return rc;
}

/* validity-map = { ? &(not-before: 0) => time, &(not-after: 1) => time } */
static vmesh_err check_validity(const vmesh_cbor *m, const char *what)
{
    static const char *const names[] = {"not-before", "not-after"};
    vmesh_err rc = VMESH_OK;
    vmesh_cbor f[VMESH_CORIM_MAX_KEYS];
    int64_t now = vmesh_time_now(), t;

    VMESH_GUARD(vmesh_corim_fields(m, what, BIT(0) | BIT(1), NAMES(names), f));
    VMESH_ENSURE(f[1].n > 0, VMESH_ERR_PARSE, "%s has no not-after", what);
    VMESH_GUARD(get_time(&f[1], "not-after", &t));
    VMESH_ENSURE(now <= t, VMESH_ERR_EXPIRED, "%s: not-after (%lld) has passed (now %lld)", what,
                 (long long)t, (long long)now);
    if (f[0].n > 0) {
        VMESH_GUARD(get_time(&f[0], "not-before", &t));
        VMESH_ENSURE(now >= t, VMESH_ERR_EXPIRED, "%s: not valid before %lld (now %lld)", what,
                     (long long)t, (long long)now);
    }
out:
    return rc;
}

static void uuid_text(const uint8_t *u, char *out, size_t max)
{
    snprintf(out, max,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

/* The triples of one kind (reference, attest-key) through the profile. */
static vmesh_err load_triples(vmesh_rv_store *s, const vmesh_cbor *list, const char *kind, size_t ci, ctx *c,
                              vmesh_err (*handler)(vmesh_rv_store *, vmesh_cbor *, size_t, size_t,
                                                   vmesh_corim_info *))
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor items, t;
    uint64_t n = 0;

    VMESH_GUARD(vmesh_corim_array(list, kind, true, &items, &n));
    VMESH_ENSURE(handler != NULL, VMESH_ERR_UNSUPPORTED, "CoMID %zu: the %s profile does not map %s", ci,
                 c->profile->name, kind);
    for (uint64_t i = 0; i < n; i++) {
        VMESH_GUARD(vmesh_cbor_read_item(&items, &t));
        VMESH_GUARD(handler(s, &t, ci, (size_t)i, c->info));
    }
out:
    return rc;
}

/* concise-mid-tag = { ? 0 language, 1 tag-identity, ? 2 entities,
 *                     ? 3 linked-tags, 4 triples } */
static vmesh_err load_comid(vmesh_rv_store *s, const vmesh_cbor *tag, size_t ci, ctx *c)
{
    static const char *const names[] = {"language", "tag-identity", "entities", "linked-tags",
                                        "triples"};
    static const char *const tnames[] = {
        "reference-triples", "endorsed-triples", "identity-triples", "attest-key-triples",
        "dependency-triples", "membership-triples", "coswid-triples", NULL,
        "conditional-endorsement-series-triples", NULL, "conditional-endorsement-triples"};
    static const char *const inames[] = {"tag-id", "tag-version"};
    vmesh_err rc = VMESH_OK;
    vmesh_cbor inner, comid, f[VMESH_CORIM_MAX_KEYS], t[VMESH_CORIM_MAX_KEYS], idf[VMESH_CORIM_MAX_KEYS];
    vmesh_cbor_head h;
    const uint8_t *p;
    size_t n;
    char what[48], tmp[VMESH_RV_MAX_NAME + 1];

    snprintf(what, sizeof(what), "CoMID %zu", ci);
    /* tagged-concise-mid-tag = #6.506(bytes .cbor concise-mid-tag) */
    VMESH_ENSURE(vmesh_corim_is_tag(tag, VMESH_CORIM_COMID_TAG), VMESH_ERR_UNSUPPORTED,
                 "tag %zu is not a CoMID (tag 506)%s; vmesh reads only CoMID tags", ci,
                 vmesh_corim_is_tag(tag, 505)   ? " but a CoSWID (505)"
                 : vmesh_corim_is_tag(tag, 508) ? " but a CoTL (508)"
                                                : "");
    VMESH_GUARD(vmesh_corim_untag(tag, &inner));
    VMESH_GUARD(vmesh_corim_bytes(&inner, what, &p, &n));
    VMESH_GUARD(corim_cursor(&comid, p, n, what));
    VMESH_GUARD(vmesh_corim_fields(&comid, what, BIT(0) | BIT(1) | BIT(2) | BIT(3) | BIT(4), NAMES(names), f));
    if (f[0].n > 0)
        VMESH_GUARD(vmesh_corim_text(&f[0], "CoMID language", tmp, sizeof(tmp)));
    VMESH_ENSURE(f[1].n > 0, VMESH_ERR_PARSE, "%s has no tag-identity", what);
    VMESH_GUARD(vmesh_corim_fields(&f[1], "tag-identity", BIT(0) | BIT(1), NAMES(inames), idf));
    VMESH_ENSURE(idf[0].n > 0 && vmesh_cbor_peek(&idf[0], &h) == VMESH_OK &&
                     (h.major == VMESH_CBOR_TSTR || h.major == VMESH_CBOR_BSTR),
                 VMESH_ERR_PARSE, "%s: tag-identity has no tag-id (text or UUID)", what);
    VMESH_ENSURE(f[4].n > 0, VMESH_ERR_PARSE, "%s has no triples", what);
    rc = vmesh_corim_fields(&f[4], "triples", BIT(0) | BIT(3), NAMES(tnames), t);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "%s", what);
        goto out;
    }
    VMESH_ENSURE(t[0].n > 0 || t[3].n > 0, VMESH_ERR_PARSE, "%s: triples map is empty", what);
    if (t[0].n > 0)
        VMESH_GUARD(load_triples(s, &t[0], "reference-triples", ci, c, c->profile->reference_triple));
    if (t[3].n > 0)
        VMESH_GUARD(load_triples(s, &t[3], "attest-key-triples", ci, c, c->profile->attest_key_triple));
    c->info->comids++;
out:
    return rc;
}

/* The profiles vmesh was given, as text for messages. */
static void profile_list(const ctx *c, char *out, size_t max)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; c->profiles != NULL && c->profiles[i] != NULL; i++)
        for (size_t j = 0; c->profiles[i]->uris[j] != NULL && used < max; j++) {
            int k = snprintf(out + used, max - used, "%s\"%s\"", used > 0 ? ", " : "", c->profiles[i]->uris[j]);
            used += k > 0 ? (size_t)k : 0;
        }
    if (out[0] == '\0')
        snprintf(out, max, "(none)");
}

/* profile: uri = #6.32(tstr) (older CoRIMs: a one-element array, or an
 * untagged text). It selects the profile that maps the triples. */
static vmesh_err read_profile(const vmesh_cbor *item, char *out, size_t max, ctx *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor it = *item, items;
    uint64_t n = 0;
    char known[512];

    profile_list(c, known, sizeof(known));
    if (vmesh_corim_array(&it, "profile", false, &items, &n) == VMESH_OK && n == 1)
        VMESH_GUARD(vmesh_cbor_read_item(&items, &it));
    if (vmesh_corim_is_tag(&it, TAG_URI)) {
        vmesh_cbor inner;
        VMESH_GUARD(vmesh_corim_untag(&it, &inner));
        it = inner;
    }
    VMESH_ENSURE(!vmesh_corim_is_tag(&it, TAG_OID), VMESH_ERR_UNSUPPORTED,
                 "profile is an OID; vmesh maps only the profiles %s", known);
    VMESH_GUARD(vmesh_corim_text(&it, "profile", out, max));
    for (size_t i = 0; c->profiles != NULL && c->profiles[i] != NULL; i++)
        for (size_t j = 0; c->profiles[i]->uris[j] != NULL; j++)
            if (strcmp(out, c->profiles[i]->uris[j]) == 0) {
                c->profile = c->profiles[i];
                goto out;
            }
    VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
               "profile \"%.100s\" is not supported; vmesh maps CoRIM for %s (use RV JSON for other platforms)",
               out, known);
out:
    return rc;
}

/* corim-map = { 0 id, 1 tags, ? 2 dependent-rims, ? 3 profile,
 *               ? 4 rim-validity, ? 5 entities } */
static vmesh_err load_corim_map(vmesh_rv_store *s, const uint8_t *p, size_t n, ctx *c)
{
    static const char *const names[] = {"id", "tags", "dependent-rims", "profile",
                                        "rim-validity", "entities"};
    vmesh_err rc = VMESH_OK;
    vmesh_cbor root, map, tags, tag, f[VMESH_CORIM_MAX_KEYS];
    vmesh_cbor_head h;
    char profile[128] = "", id[128] = "", known[512];
    uint64_t nt = 0;

    VMESH_GUARD(corim_cursor(&root, p, n, "CoRIM"));
    VMESH_ENSURE(vmesh_corim_is_tag(&root, VMESH_CORIM_TAG), VMESH_ERR_PARSE,
                 "not an unsigned CoRIM (CBOR tag 501 expected)");
    VMESH_GUARD(vmesh_corim_untag(&root, &map));
    VMESH_GUARD(vmesh_corim_fields(&map, "corim-map", 0x3f, NAMES(names), f));
    VMESH_ENSURE(f[0].n > 0, VMESH_ERR_PARSE, "corim-map has no id");
    VMESH_GUARD(vmesh_cbor_peek(&f[0], &h));
    if (h.major == VMESH_CBOR_TSTR) {
        VMESH_GUARD(vmesh_corim_text(&f[0], "corim id", id, sizeof(id)));
    } else {
        const uint8_t *u;
        size_t ul;
        vmesh_cbor x = f[0];
        if (vmesh_corim_is_tag(&f[0], TAG_UUID))
            VMESH_GUARD(vmesh_corim_untag(&f[0], &x));
        VMESH_GUARD(vmesh_corim_bytes(&x, "corim id (text or UUID)", &u, &ul));
        VMESH_ENSURE(ul == 16, VMESH_ERR_PARSE, "corim id UUID is %zu bytes, expected 16", ul);
        uuid_text(u, id, sizeof(id));
    }
    profile_list(c, known, sizeof(known));
    VMESH_ENSURE(f[3].n > 0, VMESH_ERR_UNSUPPORTED,
                 "CoRIM has no profile; vmesh maps CoRIM only for the profiles %s (use RV JSON for other "
                 "platforms)",
                 known);
    VMESH_GUARD(read_profile(&f[3], profile, sizeof(profile), c));
    if (f[4].n > 0)
        VMESH_GUARD(check_validity(&f[4], "rim-validity"));
    VMESH_ENSURE(f[1].n > 0, VMESH_ERR_PARSE, "corim-map has no tags");
    VMESH_GUARD(vmesh_corim_array(&f[1], "corim tags", true, &tags, &nt));
    for (uint64_t i = 0; i < nt; i++) {
        VMESH_GUARD(vmesh_cbor_read_item(&tags, &tag));
        VMESH_GUARD(load_comid(s, &tag, (size_t)i, c));
    }
    memcpy(c->info->id, id, sizeof(c->info->id));
    memcpy(c->info->profile, profile, sizeof(c->info->profile));
out:
    return rc;
}

/* ---- signed CoRIM ---------------------------------------------------------- */

/* signed-corim = #6.18(COSE-Sign1-corim) */
static bool is_signed(const uint8_t *p, size_t n)
{
    return vmesh_cbor_starts_with(p, n, VMESH_CBOR_TAG, VMESH_COSE_SIGN1_TAG, NULL);
}

/* protected-corim-header-map: "needs to contain at least one of corim-meta
 * (8) or CWT-Claims (15)" (cddl/protected-corim-header-map.cddl); a
 * hash-envelope payload (258) is not supported. */
static vmesh_err check_protected(const vmesh_cose_sign1 *m)
{
    static const char *const names[] = {"signer", "signature-validity"};
    vmesh_err rc = VMESH_OK;
    vmesh_cbor hdr, meta, f[VMESH_CORIM_MAX_KEYS];
    const uint8_t *p;
    size_t n;
    uint64_t np = 0;
    bool has_meta = false, has_cwt = false;

    p = vmesh_cose_sign1_protected(m, &n);
    VMESH_GUARD(corim_cursor(&hdr, p, n, "protected header"));
    rc = vmesh_cbor_read_map(&hdr, &np, UINT64_MAX, "protected header");
    VMESH_ENSURE(rc == VMESH_OK, VMESH_ERR_PARSE, "protected header is not a map");
    for (uint64_t i = 0; i < np; i++) {
        vmesh_cbor_head h;
        vmesh_cbor value;

        VMESH_GUARD(vmesh_cbor_peek(&hdr, &h));
        VMESH_GUARD(vmesh_cbor_skip(&hdr));
        VMESH_GUARD(vmesh_cbor_read_item(&hdr, &value));
        if (h.major != VMESH_CBOR_UINT)
            continue;
        switch (h.arg) {
        case 8: {
            const uint8_t *mp;
            size_t mn;
            vmesh_cbor_head sh;
            VMESH_GUARD(vmesh_corim_bytes(&value, "corim-meta", &mp, &mn));
            VMESH_GUARD(corim_cursor(&meta, mp, mn, "corim-meta"));
            VMESH_GUARD(vmesh_corim_fields(&meta, "corim-meta", BIT(0) | BIT(1), NAMES(names), f));
            VMESH_ENSURE(f[0].n > 0 && vmesh_cbor_peek(&f[0], &sh) == VMESH_OK && sh.major == VMESH_CBOR_MAP,
                         VMESH_ERR_PARSE, "corim-meta has no signer map");
            if (f[1].n > 0)
                VMESH_GUARD(check_validity(&f[1], "corim-meta signature-validity"));
            has_meta = true;
            break;
        }
        case 15:
            has_cwt = true;
            break;
        case 258:
            VMESH_FAIL(VMESH_ERR_UNSUPPORTED,
                       "hash-envelope CoRIM (payload_hash_alg, 258) is not supported");
        default:
            break;
        }
    }
    VMESH_ENSURE(has_meta || has_cwt, VMESH_ERR_PARSE,
                 "protected header has neither corim-meta (8) nor CWT claims (15)");
out:
    return rc;
}

static vmesh_err open_signed(const uint8_t *p, size_t n, const vmesh_key *key, vmesh_buf *payload)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cose_sign1 *m = NULL;
    const char *ct;
    const uint8_t *pl;
    size_t pn;

    /* signed-corim = #6.18(COSE-Sign1-corim) */
    VMESH_ENSURE(is_signed(p, n), VMESH_ERR_PARSE,
                 "a signed CoRIM must be a COSE_Sign1 with CBOR tag 18");
    VMESH_GUARD(vmesh_cose_sign1_decode(p, n, VMESH_CORIM_MAX_SIZE, &m));
    ct = vmesh_cose_sign1_content_type(m);
    VMESH_ENSURE(ct != NULL && strcmp(ct, VMESH_CORIM_MEDIA_TYPE) == 0, VMESH_ERR_PARSE,
                 "content type is %s%.64s%s, expected \"" VMESH_CORIM_MEDIA_TYPE "\"",
                 ct ? "\"" : "", ct ? ct : "absent", ct ? "\"" : "");
    VMESH_GUARD(check_protected(m));
    if (key != NULL)
        VMESH_GUARD(vmesh_cose_sign1_verify(m, key));
    pl = vmesh_cose_sign1_payload(m, &pn);
    VMESH_ENSURE(pl != NULL && pn > 0, VMESH_ERR_PARSE, "signed CoRIM has no payload");
    VMESH_GUARD(vmesh_buf_append(payload, pl, pn));
out:
    vmesh_cose_sign1_free(m);
    return rc;
}

vmesh_err vmesh_corim_verify_signed(const uint8_t *p, size_t n, const vmesh_key *key,
                                    vmesh_buf *payload)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(p != NULL && key != NULL && payload != NULL, VMESH_ERR_ARG,
                 "vmesh_corim_verify_signed: NULL argument");
    VMESH_ENSURE(n <= VMESH_CORIM_MAX_SIZE, VMESH_ERR_TOO_LARGE,
                 "signed CoRIM is %zu bytes, the cap is %zu", n, VMESH_CORIM_MAX_SIZE);
    rc = open_signed(p, n, key, payload);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "signed CoRIM");
out:
    return rc;
}

bool vmesh_corim_is_corim(const uint8_t *p, size_t n)
{
    return is_signed(p, n) || vmesh_cbor_starts_with(p, n, VMESH_CBOR_TAG, VMESH_CORIM_TAG, NULL);
}

vmesh_err vmesh_corim_load(vmesh_rv_store *s, const uint8_t *p, size_t n, const vmesh_key *signer,
                           unsigned flags, const vmesh_corim_profile *const *profiles, const char *source,
                           vmesh_corim_info *info)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *tmp = NULL;
    vmesh_buf payload = {0};
    vmesh_corim_info local;
    ctx c;

    if (source == NULL)
        source = "(memory)";
    memset(&local, 0, sizeof(local));
    c.source = source;
    c.info = &local;
    c.profiles = profiles;
    c.profile = NULL;
    VMESH_ENSURE(s != NULL && (p != NULL || n == 0), VMESH_ERR_ARG, "CoRIM %s: bad arguments",
                 source);
    VMESH_ENSURE(!vmesh_rv_store_is_frozen(s), VMESH_ERR_STATE,
                 "CoRIM %s: the RV store is frozen; load into a new store", source);
    VMESH_ENSURE(n <= VMESH_CORIM_MAX_SIZE, VMESH_ERR_TOO_LARGE,
                 "CoRIM %s: %zu bytes, the cap is %zu", source, n, VMESH_CORIM_MAX_SIZE);
    VMESH_ENSURE(vmesh_corim_is_corim(p, n), VMESH_ERR_PARSE,
                 "CoRIM %s: not a CoRIM (expected CBOR tag 501, or tag 18 for a signed one)",
                 source);
    if (is_signed(p, n)) {
        local.was_signed = true;
        VMESH_ENSURE(signer != NULL || (flags & VMESH_CORIM_ALLOW_UNVERIFIED), VMESH_ERR_POLICY,
                     "CoRIM %s: signed, but no key was given to check its signature (give the "
                     "RVP's key, or explicitly allow unverified CoRIMs)",
                     source);
        rc = open_signed(p, n, signer, &payload);
        if (rc != VMESH_OK) {
            rc = vmesh_err_wrap(rc, "CoRIM %s: signature envelope", source);
            goto out;
        }
        local.verified = signer != NULL;
    } else {
        VMESH_ENSURE(signer == NULL || (flags & VMESH_CORIM_ALLOW_UNSIGNED), VMESH_ERR_POLICY,
                     "CoRIM %s: unsigned, but a signer key was given: refusing unauthenticated "
                     "reference values",
                     source);
        VMESH_GUARD(vmesh_buf_append(&payload, p, n));
    }
    VMESH_GUARD(vmesh_rv_store_new(&tmp));
    rc = load_corim_map(tmp, payload.data, payload.len, &c);
    if (rc == VMESH_OK)
        rc = vmesh_rv_store_merge(s, tmp);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "CoRIM %s", source);
        goto out;
    }
    if (info != NULL)
        *info = local;
out:
    vmesh_buf_free(&payload);
    vmesh_rv_store_free(tmp);
    return rc;
}
