/*
 * CoSERV over HTTP in `vmesh rvp serve` (draft-ietf-rats-coserv-07 §"Request
 * Response over HTTP"): the discovery document at
 * /.well-known/coserv-configuration (JSON or CBOR by Accept) and
 * GET /coserv/{query}, the base64url CBOR query, answered from the RV store
 * of the bundle the server publishes (manifest.jws verified with the RVP
 * key, every set checked against its digest) as a signed result set
 * (application/coserv+cose, COSE_Sign1 by the RVP key). Errors are concise
 * problem details (RFC 9290) naming the problem. Answers are cached per
 * (query, bundle) so a repeated query gets the same bytes and ETag.
 */
#include "serve_int.h"

#include "vmesh/cbor.h"
#include "vmesh/corim.h"
#include "vmesh/coserv.h"
#include "vmesh/psa.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MT_PROBLEM "application/concise-problem-details+cbor"
#define MT_DISCO_JSON "application/coserv-discovery+json"
#define MT_DISCO_CBOR "application/coserv-discovery+cbor"
#define MAX_QUERY_B64 ((size_t)16 * 1024)
#define ANSWER_SLOTS 64
#define MAX_SCHEMES 16

typedef struct {
    uint8_t qhash[32];
    uint64_t gen;
    uint8_t *body;
    size_t n;
    char etag[67];
} answer_slot;

struct rvp_coserv {
    int root_fd;
    vmesh_key *key;
    uint8_t kid[32];
    pthread_mutex_t lock;
    /* the bundle last loaded, by manifest.jws's identity */
    bool loaded;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char load_error[512];
    vmesh_rv_store *rv;
    int64_t expires_at;
    uint64_t epoch;
    uint64_t gen;
    size_t nschemes;
    char schemes[MAX_SCHEMES][VMESH_RV_MAX_SCHEME + 1];
    answer_slot slots[ANSWER_SLOTS];
};

/* ---- the bundle ------------------------------------------------------------ */

/* A published file, read whole (n bytes, the size fstat gave). */
static vmesh_err read_fd(int fd, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;

    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_buf_reserve(out, n + 1));
    errno = 0;
    VMESH_ENSURE(rvp_read_all(fd, out->data, n), VMESH_ERR_IO, "read: %s", errno ? strerror(errno) : "short file");
    out->len = n;
out:
    return rc;
}

static void add_scheme(rvp_coserv *cs, const char *scheme)
{
    for (size_t i = 0; i < cs->nschemes; i++)
        if (strcmp(cs->schemes[i], scheme) == 0)
            return;
    if (cs->nschemes < MAX_SCHEMES)
        snprintf(cs->schemes[cs->nschemes++], sizeof(cs->schemes[0]), "%s", scheme);
}

/* Loads the published bundle into a new store: manifest verified with the
 * RVP key, each RV set (RV JSON, CoRIM) read from sets/ and checked
 * against its digest and size. Caller holds the lock. */
static vmesh_err load_bundle(rvp_coserv *cs, int fd, const struct stat *st)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf jws = {0}, data = {0};
    vmesh_rvp_manifest m;
    vmesh_rv_store *rv = NULL;
    vmesh_rv_entry e;
    int sfd = -1;

    memset(&m, 0, sizeof(m));
    VMESH_ENSURE((size_t)st->st_size <= VMESH_RVP_MANIFEST_MAX, VMESH_ERR_TOO_LARGE, "manifest.jws is too large");
    VMESH_GUARD(read_fd(fd, (size_t)st->st_size, &jws));
    rc = vmesh_rvp_manifest_verify((const char *)jws.data, jws.len, cs->key, &m);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "the published manifest.jws does not verify with the CoSERV signing key");
        goto out;
    }
    VMESH_GUARD(vmesh_rv_store_new(&rv));
    for (size_t i = 0; i < m.nsets; i++) {
        const vmesh_rvp_set *set = &m.sets[i];
        struct stat sst;
        uint8_t d[32];

        if (set->kind != VMESH_SET_RV_JSON && set->kind != VMESH_SET_CORIM)
            continue;
        char rel[sizeof(set->path)];
        snprintf(rel, sizeof(rel), "%s", set->path);
        sfd = rvp_open_under(cs->root_fd, rel, &sst);
        VMESH_ENSURE(sfd >= 0, VMESH_ERR_NOT_FOUND, "set %s of the published manifest is missing", set->path);
        VMESH_ENSURE((uint64_t)sst.st_size == set->size, VMESH_ERR_MISMATCH, "set %s has %lld bytes, manifest says %llu",
                     set->path, (long long)sst.st_size, (unsigned long long)set->size);
        VMESH_GUARD(read_fd(sfd, (size_t)sst.st_size, &data));
        close(sfd);
        sfd = -1;
        vmesh_crypto_sha256(data.data, data.len, d);
        VMESH_ENSURE(vmesh_crypto_memeq(d, set->sha256, 32), VMESH_ERR_MISMATCH,
                     "set %s does not match its digest in the manifest", set->path);
        if (set->kind == VMESH_SET_CORIM)
            VMESH_GUARD(vmesh_corim_load(rv, data.data, data.len, NULL, VMESH_CORIM_ALLOW_UNVERIFIED,
                                         vmesh_psa_corim_profiles, set->path, NULL));
        else
            VMESH_GUARD(vmesh_rv_load_json(rv, data.data, data.len, set->path));
    }
    vmesh_rv_store_freeze(rv);
    vmesh_rv_store_free(cs->rv);
    cs->rv = rv;
    rv = NULL;
    cs->expires_at = m.expires_at;
    cs->epoch = m.epoch;
    cs->gen++;
    cs->nschemes = 0;
    for (size_t i = 0; vmesh_rv_entry_at(cs->rv, i, &e); i++)
        if (e.kind != VMESH_RV_ATTR)
            add_scheme(cs, e.env.scheme);
    vmesh_log(VMESH_LOG_INFO, "rvp serve: CoSERV answers from manifest %s epoch %llu (%zu schemes, expires %lld)",
              m.rvp, (unsigned long long)m.epoch, cs->nschemes, (long long)m.expires_at);
out:
    if (sfd >= 0)
        close(sfd);
    vmesh_rv_store_free(rv);
    vmesh_rvp_manifest_free(&m);
    vmesh_buf_free(&jws);
    vmesh_buf_free(&data);
    return rc;
}

/* The current bundle's store (a reference) and what goes with it; reloads
 * when manifest.jws changed. NULL with *why set when there is none. */
static vmesh_rv_store *current(rvp_coserv *cs, int64_t *expires_at, uint64_t *gen, char *why, size_t whyn)
{
    struct stat st;
    vmesh_rv_store *rv = NULL;
    char manifest[] = "manifest.jws";
    int fd = rvp_open_under(cs->root_fd, manifest, &st);

    pthread_mutex_lock(&cs->lock);
    if (fd < 0) {
        snprintf(why, whyn, "nothing is published here (no manifest.jws)");
        goto out;
    }
    if (!cs->loaded || st.st_dev != cs->dev || st.st_ino != cs->ino || st.st_size != cs->size ||
        st.st_mtim.tv_sec != cs->mtime.tv_sec || st.st_mtim.tv_nsec != cs->mtime.tv_nsec) {
        vmesh_err rc = load_bundle(cs, fd, &st);
        cs->loaded = true;
        cs->dev = st.st_dev;
        cs->ino = st.st_ino;
        cs->size = st.st_size;
        cs->mtime = st.st_mtim;
        if (rc != VMESH_OK) {
            snprintf(cs->load_error, sizeof(cs->load_error), "%s", vmesh_err_detail());
            vmesh_rv_store_free(cs->rv);
            cs->rv = NULL;
            vmesh_log(VMESH_LOG_ERROR, "rvp serve: CoSERV: %s", cs->load_error);
        } else {
            cs->load_error[0] = '\0';
        }
    }
    if (cs->rv == NULL) {
        snprintf(why, whyn, "the published bundle cannot be served: %s", cs->load_error);
        goto out;
    }
    rv = vmesh_rv_store_ref(cs->rv);
    *expires_at = cs->expires_at;
    *gen = cs->gen;
out:
    pthread_mutex_unlock(&cs->lock);
    if (fd >= 0)
        close(fd);
    return rv;
}

/* ---- replies --------------------------------------------------------------- */

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *ctype, vmesh_buf *body,
                                const char *cache, const char *etag)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_COPY);
    vmesh_buf_free(body);
    if (r == NULL)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache ? cache : "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept");
    if (etag)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* RFC 9290 concise problem details: {-1: title, -2: detail}. */
static enum MHD_Result problem(struct MHD_Connection *c, unsigned status, const char *title, const char *fmt, ...)
    VMESH_PRINTF(4, 5);
static enum MHD_Result problem(struct MHD_Connection *c, unsigned status, const char *title, const char *fmt, ...)
{
    vmesh_buf b = {0};
    char detail[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (vmesh_cbor_put_map(&b, 2) != VMESH_OK || vmesh_cbor_put_int(&b, -1) != VMESH_OK ||
        vmesh_cbor_put_text(&b, title) != VMESH_OK || vmesh_cbor_put_int(&b, -2) != VMESH_OK ||
        vmesh_cbor_put_text(&b, detail) != VMESH_OK) {
        vmesh_buf_free(&b);
        return MHD_NO;
    }
    return send_buf(c, status, MT_PROBLEM, &b, NULL, NULL);
}

/* The media ranges of an Accept field: does one name `type` (exactly, or
 * through a wildcard when wild)? *profile receives its profile parameter
 * ("" when absent). */
static bool accepts(const char *field, const char *type, bool wild, char *profile, size_t pn)
{
    const char *p = field;
    size_t tn = strlen(type);

    profile[0] = '\0';
    if (field == NULL)
        return wild;
    while (*p) {
        const char *end, *semi;
        bool quoted = false;
        size_t n;

        while (*p == ' ' || *p == '\t')
            p++;
        /* the range ends at a comma outside a quoted string */
        for (end = p; *end && (quoted || *end != ','); end++)
            if (*end == '"')
                quoted = !quoted;
        semi = memchr(p, ';', (size_t)(end - p));
        n = (size_t)((semi ? semi : end) - p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if ((n == tn && strncasecmp(p, type, n) == 0) ||
            (wild && ((n == 3 && memcmp(p, "*/*", 3) == 0) || (n == 13 && strncasecmp(p, "application/*", 13) == 0)))) {
            const char *q = semi ? semi : end;
            while (q < end) {
                const char *v;
                q++;
                while (*q == ' ' || *q == '\t')
                    q++;
                if (strncasecmp(q, "profile=", 8) == 0) {
                    size_t vn;
                    v = q + 8;
                    if (*v == '"') {
                        const char *cl = memchr(v + 1, '"', (size_t)(end - v - 1));
                        vn = cl ? (size_t)(cl - v - 1) : 0;
                        v++;
                    } else {
                        const char *sc = memchr(v, ';', (size_t)(end - v));
                        vn = (size_t)((sc ? sc : end) - v);
                    }
                    if (vn >= pn)
                        vn = pn - 1;
                    memcpy(profile, v, vn);
                    profile[vn] = '\0';
                }
                q = memchr(q, ';', (size_t)(end - q));
                if (q == NULL)
                    break;
            }
            return true;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

/* ---- discovery ------------------------------------------------------------- */

static vmesh_err jwk_of(const rvp_coserv *cs, json_t **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf j = {0}, kid = {0};
    json_t *o = NULL;

    VMESH_GUARD(vmesh_crypto_key_to_jwk(cs->key, false, &j));
    o = json_loadb((const char *)j.data, j.len, 0, NULL);
    VMESH_ENSURE(o != NULL && json_is_object(o), VMESH_ERR_PARSE, "JWK of the CoSERV key");
    VMESH_GUARD(vmesh_b64url_encode(cs->kid, sizeof(cs->kid), &kid));
    json_object_set_new(o, "alg", json_string(vmesh_crypto_key_jws_alg(cs->key)));
    json_object_set_new(o, "kid", json_stringn((const char *)kid.data, kid.len));
    *out = o;
    o = NULL;
out:
    json_decref(o);
    vmesh_buf_free(&j);
    vmesh_buf_free(&kid);
    return rc;
}

static vmesh_err put_b64url_bstr(vmesh_buf *b, json_t *o, const char *field)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf d = {0};
    const char *s = json_string_value(json_object_get(o, field));

    VMESH_ENSURE(s != NULL, VMESH_ERR_PARSE, "JWK without %s", field);
    VMESH_GUARD(vmesh_b64_decode(s, strlen(s), &d));
    VMESH_GUARD(vmesh_cbor_put_bstr(b, d.data, d.len));
out:
    vmesh_buf_free(&d);
    return rc;
}

/* The key as a COSE_Key (RFC 9053): EC2 {1: 2, 2: kid, 3: alg, -1: crv,
 * -2: x, -3: y}, OKP {1: 1, 2: kid, 3: alg, -1: 6, -2: x}. */
static vmesh_err put_cose_key(const rvp_coserv *cs, json_t *jwk, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    bool ec = kty && strcmp(kty, "EC") == 0;
    int64_t crv_id;

    VMESH_ENSURE(kty && crv, VMESH_ERR_PARSE, "JWK without kty/crv");
    crv_id = strcmp(crv, "P-256") == 0 ? 1 : strcmp(crv, "P-384") == 0 ? 2 : strcmp(crv, "Ed25519") == 0 ? 6 : 0;
    VMESH_ENSURE(crv_id != 0, VMESH_ERR_UNSUPPORTED, "curve %s has no COSE_Key mapping here", crv);
    VMESH_GUARD(vmesh_cbor_put_map(b, ec ? 6 : 5));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(b, ec ? 2 : 1));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 2));
    VMESH_GUARD(vmesh_cbor_put_bstr(b, cs->kid, sizeof(cs->kid)));
    VMESH_GUARD(vmesh_cbor_put_uint(b, 3));
    VMESH_GUARD(vmesh_cbor_put_int(b, vmesh_crypto_key_cose_alg(cs->key)));
    VMESH_GUARD(vmesh_cbor_put_int(b, -1));
    VMESH_GUARD(vmesh_cbor_put_int(b, crv_id));
    VMESH_GUARD(vmesh_cbor_put_int(b, -2));
    VMESH_GUARD(put_b64url_bstr(b, jwk, "x"));
    if (ec) {
        VMESH_GUARD(vmesh_cbor_put_int(b, -3));
        VMESH_GUARD(put_b64url_bstr(b, jwk, "y"));
    }
out:
    return rc;
}

static enum MHD_Result discovery(rvp_coserv *cs, struct MHD_Connection *c)
{
    const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    char prof[8], why[640], mt[MAX_SCHEMES][VMESH_RV_MAX_SCHEME + 96];
    const char *pj = acc ? strstr(acc, MT_DISCO_JSON) : NULL, *pc = acc ? strstr(acc, MT_DISCO_CBOR) : NULL;
    bool cbor;
    int64_t exp = 0;
    uint64_t gen = 0;
    vmesh_rv_store *rv;
    json_t *jwk = NULL;
    vmesh_buf b = {0};
    size_t ns;
    enum MHD_Result ret;

    if (pc != NULL && (pj == NULL || pc < pj))
        cbor = true;
    else if (pj != NULL || accepts(acc, "-", true, prof, sizeof(prof)))
        cbor = false;
    else
        return problem(c, MHD_HTTP_NOT_ACCEPTABLE, "Not acceptable",
                       "the discovery document is offered as " MT_DISCO_JSON " or " MT_DISCO_CBOR);
    rv = current(cs, &exp, &gen, why, sizeof(why));
    if (rv == NULL)
        return problem(c, MHD_HTTP_SERVICE_UNAVAILABLE, "No bundle", "%s", why);
    pthread_mutex_lock(&cs->lock);
    ns = cs->nschemes;
    for (size_t i = 0; i < ns; i++)
        snprintf(mt[i], sizeof(mt[i]), VMESH_COSERV_COSE_MEDIA_TYPE "; profile=\"" VMESH_COSERV_PROFILE_PREFIX "%s\"",
                 cs->schemes[i]);
    pthread_mutex_unlock(&cs->lock);
    vmesh_rv_store_free(rv);
    if (ns == 0)
        return problem(c, MHD_HTTP_SERVICE_UNAVAILABLE, "No bundle",
                       "the published bundle holds no reference values or keys to answer for");
    if (jwk_of(cs, &jwk) != VMESH_OK)
        return problem(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Key", "%s", vmesh_err_detail());
    if (cbor) {
        vmesh_err rc = VMESH_OK;
        VMESH_GUARD(vmesh_cbor_put_map(&b, 4));
        VMESH_GUARD(vmesh_cbor_put_uint(&b, 1));
        VMESH_GUARD(vmesh_cbor_put_text(&b, VMESH_VERSION_STRING));
        VMESH_GUARD(vmesh_cbor_put_uint(&b, 2));
        VMESH_GUARD(vmesh_cbor_put_array(&b, ns));
        for (size_t i = 0; i < ns; i++) {
            VMESH_GUARD(vmesh_cbor_put_map(&b, 2));
            VMESH_GUARD(vmesh_cbor_put_uint(&b, 1));
            VMESH_GUARD(vmesh_cbor_put_text(&b, mt[i]));
            VMESH_GUARD(vmesh_cbor_put_uint(&b, 2));
            VMESH_GUARD(vmesh_cbor_put_array(&b, 1));
            VMESH_GUARD(vmesh_cbor_put_text(&b, "collected"));
        }
        VMESH_GUARD(vmesh_cbor_put_uint(&b, 3));
        VMESH_GUARD(vmesh_cbor_put_map(&b, 1));
        VMESH_GUARD(vmesh_cbor_put_text(&b, "CoSERVRequestResponse"));
        VMESH_GUARD(vmesh_cbor_put_text(&b, RVP_COSERV_PATH "{query}"));
        VMESH_GUARD(vmesh_cbor_put_uint(&b, 4));
        VMESH_GUARD(vmesh_cbor_put_array(&b, 1));
        VMESH_GUARD(put_cose_key(cs, jwk, &b));
    out:
        json_decref(jwk);
        if (rc != VMESH_OK) {
            vmesh_buf_free(&b);
            return problem(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Discovery", "%s", vmesh_err_detail());
        }
        return send_buf(c, MHD_HTTP_OK, MT_DISCO_CBOR, &b, "no-cache", NULL);
    }
    {
        json_t *doc = json_object(), *caps = json_array(), *eps = json_object(), *keys = json_array();
        char *s;
        for (size_t i = 0; i < ns; i++)
            json_array_append_new(caps, json_pack("{s:s, s:[s]}", "media-type", mt[i], "artifact-support",
                                                  "collected"));
        json_object_set_new(eps, "CoSERVRequestResponse", json_string(RVP_COSERV_PATH "{query}"));
        json_array_append_new(keys, jwk);
        json_object_set_new(doc, "version", json_string(VMESH_VERSION_STRING));
        json_object_set_new(doc, "capabilities", caps);
        json_object_set_new(doc, "api-endpoints", eps);
        json_object_set_new(doc, "result-verification-key", keys);
        s = json_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
        if (s == NULL || vmesh_buf_append(&b, s, strlen(s)) != VMESH_OK || vmesh_buf_append(&b, "\n", 1) != VMESH_OK) {
            free(s);
            vmesh_buf_free(&b);
            return MHD_NO;
        }
        free(s);
        ret = send_buf(c, MHD_HTTP_OK, MT_DISCO_JSON, &b, "no-cache", NULL);
    }
    return ret;
}

/* ---- queries --------------------------------------------------------------- */

static void etag_hex(const uint8_t *p, size_t n, char etag[67])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t d[32];

    vmesh_crypto_sha256(p, n, d);
    etag[0] = '"';
    for (size_t i = 0; i < 32; i++) {
        etag[1 + 2 * i] = hex[d[i] >> 4];
        etag[2 + 2 * i] = hex[d[i] & 15];
    }
    etag[65] = '"';
    etag[66] = '\0';
}

static enum MHD_Result query(rvp_coserv *cs, struct MHD_Connection *c, const char *b64)
{
    const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    char aprof[VMESH_COSERV_MAX_PROFILE + 1], why[640], ctype[VMESH_COSERV_MAX_PROFILE + 64], cache[64], etag[67];
    vmesh_buf qbuf = {0}, ans = {0}, signed_ans = {0};
    vmesh_coserv q;
    vmesh_rv_store *rv = NULL;
    const char *scheme;
    int64_t exp = 0, now = (int64_t)time(NULL);
    uint64_t gen = 0;
    uint8_t qh[32];
    answer_slot *slot;
    bool held = false;
    enum MHD_Result ret;
    size_t bn = strlen(b64);

    if (bn == 0 || bn > MAX_QUERY_B64)
        return problem(c, MHD_HTTP_BAD_REQUEST, "Query validation failed",
                       "the query path segment is %s (1..%zu base64url characters)", bn ? "too long" : "empty",
                       MAX_QUERY_B64);
    if (vmesh_coserv_decode_b64url(b64, bn, &qbuf, &q) != VMESH_OK) {
        ret = problem(c, MHD_HTTP_BAD_REQUEST, "Query validation failed", "%s", vmesh_err_detail());
        goto done;
    }
    if (q.results.n > 0) {
        ret = problem(c, MHD_HTTP_BAD_REQUEST, "Query validation failed",
                      "the query carries a result set (key 2); a query is {0: profile, 1: query}");
        goto done;
    }
    if (!accepts(acc, VMESH_COSERV_COSE_MEDIA_TYPE, false, aprof, sizeof(aprof))) {
        ret = problem(c, MHD_HTTP_NOT_ACCEPTABLE, "Not acceptable",
                      "this provider answers with signed result sets only: send Accept: " VMESH_COSERV_COSE_MEDIA_TYPE
                      "; profile=\"...\" (the query's profile)");
        goto done;
    }
    scheme = vmesh_coserv_profile_scheme(&q);
    if (aprof[0] != '\0' && (q.profile_is_oid || strcmp(aprof, q.profile) != 0)) {
        ret = problem(c, MHD_HTTP_NOT_ACCEPTABLE, "Unsupported profile",
                      "the Accept profile \"%s\" is not the query's profile \"%s\"", aprof,
                      q.profile_is_oid ? "(an OID)" : q.profile);
        goto done;
    }
    rv = current(cs, &exp, &gen, why, sizeof(why));
    if (rv == NULL) {
        ret = problem(c, MHD_HTTP_SERVICE_UNAVAILABLE, "No bundle", "%s", why);
        goto done;
    }
    pthread_mutex_lock(&cs->lock);
    for (size_t i = 0; scheme != NULL && i < cs->nschemes; i++)
        held = held || strcmp(cs->schemes[i], scheme) == 0;
    pthread_mutex_unlock(&cs->lock);
    if (!held) {
        ret = problem(c, MHD_HTTP_NOT_ACCEPTABLE, "Unsupported profile",
                      "profile %s is not served here (profiles: " VMESH_COSERV_PROFILE_PREFIX
                      "<scheme> for the schemes the bundle holds, see /.well-known/coserv-configuration)",
                      q.profile_is_oid ? "(an OID)" : q.profile);
        goto done;
    }
    if (now >= exp) {
        ret = problem(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Bundle expired",
                      "the published bundle expired at %lld; no result set can outlive it", (long long)exp);
        goto done;
    }
    vmesh_crypto_sha256(qbuf.data, qbuf.len, qh);
    slot = &cs->slots[qh[0] % ANSWER_SLOTS];
    pthread_mutex_lock(&cs->lock);
    if (slot->body != NULL && slot->gen == gen && memcmp(slot->qhash, qh, 32) == 0) {
        (void)vmesh_buf_append(&signed_ans, slot->body, slot->n);
        memcpy(etag, slot->etag, sizeof(etag));
    }
    pthread_mutex_unlock(&cs->lock);
    if (signed_ans.len == 0) {
        if (vmesh_coserv_answer(&q, rv, scheme, cs->kid, sizeof(cs->kid), exp, &ans) != VMESH_OK) {
            ret = problem(c, MHD_HTTP_BAD_REQUEST, "Query not served", "%s", vmesh_err_detail());
            goto done;
        }
        if (vmesh_coserv_sign(ans.data, ans.len, cs->key, &signed_ans) != VMESH_OK) {
            ret = problem(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Signing failed", "%s", vmesh_err_detail());
            goto done;
        }
        etag_hex(signed_ans.data, signed_ans.len, etag);
        pthread_mutex_lock(&cs->lock);
        free(slot->body);
        slot->body = malloc(signed_ans.len);
        if (slot->body != NULL) {
            memcpy(slot->body, signed_ans.data, signed_ans.len);
            slot->n = signed_ans.len;
            slot->gen = gen;
            memcpy(slot->qhash, qh, 32);
            memcpy(slot->etag, etag, sizeof(etag));
        }
        pthread_mutex_unlock(&cs->lock);
    }
    /* The HTTP freshness never outlives the result set (draft §Caching). */
    snprintf(cache, sizeof(cache), "public, max-age=%lld", (long long)(exp - now));
    snprintf(ctype, sizeof(ctype), VMESH_COSERV_COSE_MEDIA_TYPE "; profile=\"%s\"", q.profile);
    if (inm != NULL && (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0)) {
        vmesh_buf_free(&signed_ans);
        ret = send_buf(c, MHD_HTTP_NOT_MODIFIED, NULL, &signed_ans, cache, etag);
    } else {
        ret = send_buf(c, MHD_HTTP_OK, ctype, &signed_ans, cache, etag);
    }
done:
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&qbuf);
    vmesh_buf_free(&ans);
    vmesh_buf_free(&signed_ans);
    return ret;
}

enum MHD_Result rvp_coserv_handle(rvp_coserv *cs, struct MHD_Connection *c, const char *url)
{
    if (strcmp(url, RVP_COSERV_WELL_KNOWN) == 0)
        return discovery(cs, c);
    return query(cs, c, url + strlen(RVP_COSERV_PATH));
}

vmesh_err rvp_coserv_new(int root_fd, const vmesh_key *key, rvp_coserv **out)
{
    vmesh_err rc = VMESH_OK;
    rvp_coserv *cs = NULL;

    *out = NULL;
    VMESH_ENSURE(vmesh_crypto_key_is_private(key), VMESH_ERR_ARG,
                 "the CoSERV key must be the RVP's private signing key (it signs result sets)");
    cs = calloc(1, sizeof(*cs));
    VMESH_ENSURE(cs != NULL, VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&cs->lock, NULL);
    cs->root_fd = root_fd;
    cs->key = vmesh_crypto_key_ref((vmesh_key *)key);
    VMESH_GUARD(vmesh_crypto_key_thumbprint(key, cs->kid));
    *out = cs;
    cs = NULL;
out:
    rvp_coserv_free(cs);
    return rc;
}

void rvp_coserv_free(rvp_coserv *cs)
{
    if (cs == NULL)
        return;
    for (size_t i = 0; i < ANSWER_SLOTS; i++)
        free(cs->slots[i].body);
    vmesh_rv_store_free(cs->rv);
    vmesh_crypto_key_free(cs->key);
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}
