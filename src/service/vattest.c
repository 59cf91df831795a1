/*
 * The verifier's own attestation (issue 12.2, DECISIONS D31). The verifier
 * answers GET VMESH_SERVICE_ATTESTATION_PATH?nonce= with evidence from its
 * own platform whose nonce binds the client's nonce, its EAR key and its
 * TLS key; a relying party appraises that evidence against reference
 * values for the verifier's workload before it sends any evidence of its
 * own, then pins the attested TLS key for every request and accepts only
 * the attested EAR key. The HTTP client is libcurl, which cannot carry
 * vmesh's attestation extension inside the handshake: the binding to the
 * TLS key is what ties the channel to the attested platform (an on-path
 * party relaying the attestation cannot then terminate TLS with that key).
 */
#include "service_int.h"
#include "vmesh/schemes.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BINDING_LABEL "vmesh-verifier-attestation/1"
#define DEFAULT_RECHECK 30
#define FAILURE_RETRY 5 /* at most this many seconds (and at most attest_recheck) a failed attestation
                          * is answered from memory: a dead verifier costs one timeout per period */

/* ---- shared ------------------------------------------------------------------- */


void vmesh_service_attestation_binding(const uint8_t *nonce, size_t nonce_len, const uint8_t *ear_spki,
                                       size_t ear_spki_len, const uint8_t *tls_spki, size_t tls_spki_len,
                                       uint8_t out[32])
{
    uint8_t msg[sizeof(BINDING_LABEL) - 1 + 3 * 2 + VMESH_SERVICE_MAX_NONCE + 64], he[32], ht[32];
    size_t n = 0;

    if (nonce_len > VMESH_SERVICE_MAX_NONCE)
        nonce_len = VMESH_SERVICE_MAX_NONCE; /* callers check; never overflow */
    vmesh_crypto_sha256(ear_spki, ear_spki_len, he);
    vmesh_crypto_sha256(tls_spki, tls_spki_len, ht);
    memcpy(msg, BINDING_LABEL, sizeof(BINDING_LABEL) - 1);
    n = sizeof(BINDING_LABEL) - 1;
    msg[n++] = (uint8_t)(nonce_len >> 8);
    msg[n++] = (uint8_t)nonce_len;
    memcpy(msg + n, nonce, nonce_len);
    n += nonce_len;
    msg[n++] = 0;
    msg[n++] = 32;
    memcpy(msg + n, he, 32);
    n += 32;
    msg[n++] = 0;
    msg[n++] = 32;
    memcpy(msg + n, ht, 32);
    n += 32;
    vmesh_crypto_sha256(msg, n, out);
}

void vmesh_service_attestation_init(vmesh_service_attestation *a)
{
    memset(a, 0, sizeof(*a));
    vmesh_buf_init(&a->nonce, VMESH_SERVICE_MAX_NONCE);
    vmesh_buf_init(&a->evidence, VMESH_SERVICE_ATTESTATION_MAX);
    vmesh_buf_init(&a->ear_spki, VMESH_SERVICE_MAX_AK);
    vmesh_buf_init(&a->tls_spki, VMESH_SERVICE_MAX_AK);
}

void vmesh_service_attestation_free(vmesh_service_attestation *a)
{
    if (a == NULL)
        return;
    vmesh_buf_free(&a->nonce);
    vmesh_buf_free(&a->evidence);
    vmesh_buf_free(&a->ear_spki);
    vmesh_buf_free(&a->tls_spki);
}

static vmesh_err member_b64(json_t *j, const char *name, vmesh_buf *out, size_t min)
{
    vmesh_err rc = VMESH_OK;
    const char *v = json_string_value(json_object_get(j, name));

    VMESH_ENSURE(v != NULL, VMESH_ERR_PARSE, "verifier attestation: \"%s\" is missing or not a string", name);
    vmesh_buf_reset(out);
    VMESH_ENSURE(vmesh_b64_decode(v, strlen(v), out) == VMESH_OK, VMESH_ERR_PARSE,
                 "verifier attestation: \"%s\" is not base64url within its bound (%s)", name, vmesh_err_detail());
    VMESH_ENSURE(out->len >= min, VMESH_ERR_PARSE, "verifier attestation: \"%s\" is %zu bytes, under %zu", name,
                 out->len, min);
out:
    return rc;
}

vmesh_err vmesh_service_attestation_parse(const uint8_t *p, size_t n, vmesh_service_attestation *out)
{
    vmesh_err rc = VMESH_OK;
    json_t *j = NULL;
    json_error_t je;
    const char *mt;

    VMESH_ENSURE(p != NULL && n > 0, VMESH_ERR_PARSE, "verifier attestation: empty answer");
    VMESH_ENSURE(n <= VMESH_SERVICE_ATTESTATION_MAX, VMESH_ERR_TOO_LARGE,
                 "verifier attestation: answer of %zu bytes, over %zu", n, VMESH_SERVICE_ATTESTATION_MAX);
    j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
    VMESH_ENSURE(j != NULL && json_is_object(j), VMESH_ERR_PARSE, "verifier attestation: not a JSON object (%s)",
                 j == NULL ? je.text : "another type");
    mt = json_string_value(json_object_get(j, "media-type"));
    VMESH_ENSURE(mt != NULL && mt[0] != '\0' && strlen(mt) <= VMESH_SERVICE_MAX_MT, VMESH_ERR_PARSE,
                 "verifier attestation: \"media-type\" is missing, empty or over %d bytes", VMESH_SERVICE_MAX_MT);
    snprintf(out->media_type, sizeof(out->media_type), "%s", mt);
    VMESH_GUARD(member_b64(j, "nonce", &out->nonce, VMESH_SERVICE_MIN_NONCE));
    VMESH_GUARD(member_b64(j, "evidence", &out->evidence, 1));
    VMESH_GUARD(member_b64(j, "ear-key", &out->ear_spki, 16));
    VMESH_GUARD(member_b64(j, "tls-key", &out->tls_spki, 16));
out:
    json_decref(j);
    return rc;
}

/* ---- the verifier's side -------------------------------------------------------- */

vmesh_err svc_attestation_setup(vmesh_service *s, const vmesh_service_config *cfg)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *tk = NULL;

    pthread_mutex_init(&s->self_lock, NULL);
    s->self_lock_init = true;
    vmesh_buf_init(&s->ear_spki, VMESH_SERVICE_MAX_AK);
    vmesh_buf_init(&s->tls_spki, VMESH_SERVICE_MAX_AK);
    VMESH_ENSURE((cfg->tls_cert == NULL) == (cfg->tls_key == NULL), VMESH_ERR_ARG,
                 "service: TLS needs both a certificate and its key");
    if (cfg->tls_cert != NULL) {
        VMESH_GUARD(vmesh_file_read(cfg->tls_cert, 1024 * 1024, &s->tls_cert_pem));
        VMESH_GUARD(vmesh_buf_terminate(&s->tls_cert_pem));
        VMESH_GUARD(vmesh_file_read(cfg->tls_key, 1024 * 1024, &s->tls_key_pem));
        VMESH_GUARD(vmesh_buf_terminate(&s->tls_key_pem));
        rc = vmesh_crypto_key_load(cfg->tls_key, &tk);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "service: TLS key %s", cfg->tls_key);
            goto out;
        }
        VMESH_GUARD(vmesh_crypto_key_to_spki(tk, &s->tls_spki));
        s->tls = true;
    }
    VMESH_GUARD(vmesh_crypto_key_to_spki(cfg->ear_key, &s->ear_spki));
    if (cfg->self_scheme != NULL) {
        VMESH_ENSURE(cfg->self_scheme->attest != NULL && cfg->self_attester != NULL, VMESH_ERR_ARG,
                     "service: the verifier's platform \"%s\" has no attester", cfg->self_scheme->name);
        VMESH_ENSURE(s->tls, VMESH_ERR_ARG,
                     "service: attesting the verifier binds its TLS key: serve TLS (a certificate and key)");
        s->self_scheme = cfg->self_scheme;
        s->self_attester = cfg->self_attester;
    }
out:
    vmesh_crypto_key_free(tk);
    return rc;
}

void svc_attestation_cleanup(vmesh_service *s)
{
    if (s->self_lock_init)
        pthread_mutex_destroy(&s->self_lock);
    vmesh_buf_free(&s->ear_spki);
    vmesh_buf_free(&s->tls_spki);
    if (s->tls_key_pem.data != NULL)
        memset(s->tls_key_pem.data, 0, s->tls_key_pem.len);
    vmesh_buf_free(&s->tls_key_pem);
    vmesh_buf_free(&s->tls_cert_pem);
}

static vmesh_err js_b64m(vmesh_buf *b, const char *name, const uint8_t *p, size_t n, bool last)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf t = {0};

    VMESH_GUARD(vmesh_b64url_encode(p, n, &t));
    VMESH_GUARD(vmesh_json_str(b, name, strlen(name)));
    VMESH_GUARD(vmesh_buf_append_u8(b, ':'));
    VMESH_GUARD(vmesh_json_str(b, (const char *)t.data, t.len));
    VMESH_GUARD(vmesh_buf_append(b, last ? "}" : ",", 1));
out:
    vmesh_buf_free(&t);
    return rc;
}

vmesh_err svc_attestation_answer(vmesh_service *s, const vmesh_service_request *rq, vmesh_service_response *rs)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf nonce = {0}, ev = {0};
    uint8_t bind[32];
    vmesh_err arc;

    if (s->self_scheme == NULL)
        return vmesh_service_problem(rs, 404, "this verifier does not attest its platform (no --attest)");
    vmesh_buf_init(&nonce, VMESH_SERVICE_MAX_NONCE);
    if (rq->q_nonce == NULL || rq->q_nonce[0] == '\0' ||
        vmesh_service_parse_nonce_query(rq->q_nonce, NULL, &nonce) != VMESH_OK) {
        rc = vmesh_service_problem(rs, 400, "a verifier attestation needs ?nonce= (base64url, %d..%d bytes)%s%s",
                                   VMESH_SERVICE_MIN_NONCE, VMESH_SERVICE_MAX_NONCE,
                                   rq->q_nonce ? ": " : "", rq->q_nonce ? vmesh_err_detail() : "");
        vmesh_err_clear();
        goto out;
    }
    vmesh_service_attestation_binding(nonce.data, nonce.len, s->ear_spki.data, s->ear_spki.len, s->tls_spki.data,
                                      s->tls_spki.len, bind);
    pthread_mutex_lock(&s->self_lock);
    arc = s->self_scheme->attest(s->self_attester, bind, sizeof(bind), &ev);
    pthread_mutex_unlock(&s->self_lock);
    if (arc != VMESH_OK) {
        vmesh_log(VMESH_LOG_WARN, "verifier: attesting its own platform failed: %s", vmesh_err_detail());
        rc = vmesh_service_problem(rs, 500, "the verifier could not attest its platform: %.200s",
                                   vmesh_err_detail());
        vmesh_err_clear();
        goto out;
    }
    vmesh_buf_reset(&rs->body);
    VMESH_GUARD(vmesh_buf_append(&rs->body, "{\"media-type\":", 14));
    VMESH_GUARD(vmesh_json_str(&rs->body, s->self_scheme->media_types[0], strlen(s->self_scheme->media_types[0])));
    VMESH_GUARD(vmesh_buf_append_u8(&rs->body, ','));
    VMESH_GUARD(js_b64m(&rs->body, "nonce", nonce.data, nonce.len, false));
    VMESH_GUARD(js_b64m(&rs->body, "evidence", ev.data, ev.len, false));
    VMESH_GUARD(js_b64m(&rs->body, "ear-key", s->ear_spki.data, s->ear_spki.len, false));
    VMESH_GUARD(js_b64m(&rs->body, "tls-key", s->tls_spki.data, s->tls_spki.len, true));
    rs->status = 200;
    rs->content_type = VMESH_SERVICE_ATTESTATION_MT;
    rs->cache_control = "no-store";
out:
    vmesh_buf_free(&nonce);
    vmesh_buf_free(&ev);
    return rc;
}

/* ---- the relying party's side --------------------------------------------------- */

/* One URL's link (the url, or a replica: each is attested on its own, D45). */
typedef struct {
    const char *url;            /* borrowed from the client */
    pthread_mutex_t lock;       /* held through an attestation */
    vmesh_verifier *engine;     /* appraises the verifier's evidence (signs nothing) */
    vmesh_rv_store *rv;
    struct stat rv_st;          /* of verifier_rv when loaded */
    bool ok;                    /* the last attestation affirmed under rv */
    vmesh_err fail_rc;          /* when not ok: VMESH_ERR_POLICY (the verifier was judged and
                                 * refused) or the error that kept it from being judged */
    int64_t checked;            /* when (epoch seconds); 0: never */
    char pin[80];               /* "sha256//<base64>" of the attested TLS key; "" for http:// */
    vmesh_key *ear_key;         /* the attested EAR key */
    char why[512];              /* the last failure */
    char logged[512];           /* the last failure logged as a warning: logged once */
    /* The EAR key a refused attestation named (VMESH_ERR_POLICY after the
     * answer was read): a platform that is not trusted claims to hold it,
     * so no replica's result signed by it counts until this URL attests
     * again (D45). Under klock, never held across I/O. */
    pthread_mutex_t klock;
    vmesh_key *refused_key;
} vlink_one;

struct vmesh_service_vlink {
    vmesh_key *want_key;        /* the EAR key every URL must attest (c->ear_key at init), or NULL */
    size_t n;                   /* 1 + c->n_replicas */
    vlink_one l[];              /* [0]: c->url; [i]: c->replicas[i - 1] */
};

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* (Re)loads the verifier's reference values when the file changed. */
static vmesh_err vlink_load_rv(const vmesh_service_client *c, vlink_one *v, bool *changed)
{
    vmesh_err rc = VMESH_OK;
    struct stat st;
    vmesh_rv_store *s = NULL;

    *changed = false;
    if (c->verifier_rv == NULL) {
        /* the engine's current snapshot; the reference held in v->rv keeps
         * the old one alive, so a new snapshot never reuses its address */
        s = c->rv_source != NULL ? vmesh_verifier_rv(c->rv_source) : NULL;
        VMESH_ENSURE(s != NULL, VMESH_ERR_STATE,
                     "verifier %s: no reference values for it yet (no snapshot from the RVPs)", v->url);
        if (s != v->rv) {
            vmesh_rv_store_free(v->rv);
            v->rv = s;
            s = NULL;
            *changed = true;
        }
        goto out;
    }
    VMESH_ENSURE(stat(c->verifier_rv, &st) == 0, VMESH_ERR_IO, "the verifier's reference values %s: %s",
                 c->verifier_rv, strerror(errno));
    if (v->rv != NULL && same_file(&st, &v->rv_st))
        goto out;
    VMESH_GUARD(vmesh_rv_store_new(&s));
    rc = vmesh_verifier_load_rv_file(s, c->verifier_rv, NULL);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "the verifier's reference values %s", c->verifier_rv);
        goto out;
    }
    vmesh_rv_store_free(v->rv);
    v->rv = s;
    s = NULL;
    v->rv_st = st;
    *changed = true;
out:
    vmesh_rv_store_free(s);
    return rc;
}

static void vlink_one_free(vlink_one *v)
{
    vmesh_verifier_free(v->engine);
    vmesh_rv_store_free(v->rv);
    vmesh_crypto_key_free(v->ear_key);
    vmesh_crypto_key_free(v->refused_key);
    pthread_mutex_destroy(&v->lock);
    pthread_mutex_destroy(&v->klock);
}

static void vlink_free(struct vmesh_service_vlink *v, size_t done)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < done; i++)
        vlink_one_free(&v->l[i]);
    vmesh_crypto_key_free(v->want_key);
    free(v);
}

vmesh_err vmesh_service_client_attest_init(vmesh_service_client *c)
{
    vmesh_err rc = VMESH_OK;
    struct vmesh_service_vlink *v = NULL;
    vmesh_verifier_config vc;
    size_t n = 0, done = 0;
    bool changed;

    VMESH_ENSURE(c != NULL && (c->verifier_rv != NULL || c->rv_source != NULL) && c->vlink == NULL, VMESH_ERR_ARG,
                 "verifier link: reference values for the verifier are required");
    VMESH_ENSURE(c->url != NULL && c->url[0] != '\0' && (c->n_replicas == 0 || c->replicas != NULL), VMESH_ERR_ARG,
                 "verifier link: no URL");
    VMESH_ENSURE(c->n_replicas < 64, VMESH_ERR_ARG, "verifier link: %zu replicas, at most 63", c->n_replicas);
    n = 1 + c->n_replicas;
    v = calloc(1, sizeof(*v) + n * sizeof(v->l[0]));
    VMESH_ENSURE(v != NULL, VMESH_ERR_NOMEM, "out of memory");
    v->n = n;
    if (c->ear_key != NULL)
        v->want_key = vmesh_crypto_key_ref((vmesh_key *)c->ear_key);
    memset(&vc, 0, sizeof(vc));
    for (done = 0; done < n; done++) {
        vlink_one *l = &v->l[done];
        l->url = done == 0 ? c->url : c->replicas[done - 1];
        VMESH_ENSURE(l->url != NULL && l->url[0] != '\0', VMESH_ERR_ARG, "verifier link: replica %zu has no URL",
                     done);
        pthread_mutex_init(&l->lock, NULL);
        pthread_mutex_init(&l->klock, NULL);
        rc = vmesh_verifier_new(&vc, &l->engine);
        if (rc == VMESH_OK && c->verifier_rv != NULL)
            rc = vlink_load_rv(c, l, &changed); /* a snapshot may come later */
        if (rc != VMESH_OK) {
            done++;
            goto out;
        }
    }
    c->vlink = v;
    v = NULL;
out:
    vlink_free(v, done);
    return rc;
}

void vmesh_service_client_attest_free(vmesh_service_client *c)
{
    if (c == NULL || c->vlink == NULL)
        return;
    vlink_free(c->vlink, c->vlink->n);
    c->vlink = NULL;
}

/* GET the attestation for nonce (the TLS key is not known yet: nothing but
 * a configured pin is checked here; the evidence binds the key). */
static vmesh_err fetch(const vmesh_service_client *c, const char *u, long timeout_ms, const uint8_t *nonce,
                       size_t nonce_len, vmesh_buf *body)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf url = {0}, enc = {0};
    CURL *h = NULL;
    CURLcode cc;
    long status = 0;
    char errbuf[CURL_ERROR_SIZE] = "";
    svc_body r;
    size_t ul = strlen(u);

    memset(&r, 0, sizeof(r));
    vmesh_buf_init(&r.body, VMESH_SERVICE_ATTESTATION_MAX);
    vmesh_buf_init(&url, 16384);
    while (ul > 0 && u[ul - 1] == '/')
        ul--;
    VMESH_GUARD(vmesh_b64url_encode(nonce, nonce_len, &enc));
    VMESH_GUARD(vmesh_buf_set(&url, u, ul));
    VMESH_GUARD(vmesh_buf_append(&url, VMESH_SERVICE_ATTESTATION_PATH "?nonce=",
                                 strlen(VMESH_SERVICE_ATTESTATION_PATH "?nonce=")));
    VMESH_GUARD(vmesh_buf_append(&url, enc.data, enc.len));
    VMESH_GUARD(vmesh_buf_terminate(&url));
    h = curl_easy_init();
    VMESH_ENSURE(h != NULL, VMESH_ERR_NOMEM, "curl_easy_init failed");
    curl_easy_setopt(h, CURLOPT_URL, (const char *)url.data);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, svc_body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    /* The key is judged by the attestation (and a configured pin), not by a CA. */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    if (c->tls_pin != NULL)
        curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, c->tls_pin);
    cc = curl_easy_perform(h);
    VMESH_ENSURE(!r.overflow, VMESH_ERR_TOO_LARGE, "verifier %s: attestation larger than %zu bytes", u,
                 VMESH_SERVICE_ATTESTATION_MAX);
    VMESH_ENSURE(cc == CURLE_OK, cc == CURLE_OPERATION_TIMEDOUT ? VMESH_ERR_TIMEOUT : VMESH_ERR_IO,
                 "verifier %s: fetching its attestation: %s", u, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    VMESH_ENSURE(status == 200, VMESH_ERR_IO, "verifier %s: its attestation answered %ld: %.200s", u, status,
                 r.body.len ? (const char *)r.body.data : "");
    VMESH_GUARD(vmesh_buf_set(body, r.body.data, r.body.len));
out:
    if (h != NULL)
        curl_easy_cleanup(h);
    vmesh_buf_free(&r.body);
    vmesh_buf_free(&url);
    vmesh_buf_free(&enc);
    return rc;
}

/* One attestation of the verifier; fills v->pin and v->ear_key. */
static vmesh_err attest_once(const vmesh_service_client *c, const struct vmesh_service_vlink *all, vlink_one *v,
                             long timeout_ms, vmesh_key **claimed)
{
    vmesh_err rc = VMESH_OK;
    uint8_t nonce[32], bind[32], h[32];
    vmesh_buf body = {0}, spki = {0}, b64 = {0};
    vmesh_service_attestation a;
    vmesh_verifier_request req;
    vmesh_appraisal ap;
    vmesh_key *ek = NULL;
    const vmesh_evidence_scheme *scheme = NULL;
    bool https = strncmp(v->url, "https://", 8) == 0;

    *claimed = NULL;

    vmesh_service_attestation_init(&a);
    vmesh_appraisal_init(&ap);
    vmesh_buf_init(&body, VMESH_SERVICE_ATTESTATION_MAX);
    VMESH_GUARD(vmesh_crypto_random(nonce, sizeof(nonce)));
    VMESH_GUARD(fetch(c, v->url, timeout_ms, nonce, sizeof(nonce), &body));
    rc = vmesh_service_attestation_parse(body.data, body.len, &a);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "verifier %s", v->url);
        goto out;
    }
    VMESH_ENSURE(a.nonce.len == sizeof(nonce) && vmesh_crypto_memeq(a.nonce.data, nonce, sizeof(nonce)),
                 VMESH_ERR_MISMATCH, "verifier %s: its attestation answers another nonce (replayed?)", v->url);
    vmesh_service_attestation_binding(nonce, sizeof(nonce), a.ear_spki.data, a.ear_spki.len, a.tls_spki.data,
                                      a.tls_spki.len, bind);
    memset(&req, 0, sizeof(req));
    req.evidence = a.evidence.data;
    req.evidence_len = a.evidence.len;
    req.media_type = a.media_type;
    req.nonce = bind;
    req.nonce_len = sizeof(bind);
    req.rv = v->rv;
    rc = vmesh_verifier_appraise(v->engine, &req, &ap, &scheme, NULL);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "verifier %s: its platform evidence", v->url);
        goto out;
    }
    VMESH_ENSURE(ap.nonce.len == sizeof(bind) && vmesh_crypto_memeq(ap.nonce.data, bind, sizeof(bind)),
                 VMESH_ERR_MISMATCH,
                 "verifier %s: its evidence does not bind this nonce, its EAR key and its TLS key", v->url);
    /* The EAR key this platform's evidence binds, whatever the judgement
     * below: a refused platform that claims a key taints it (D45). */
    if (vmesh_crypto_key_from_spki(a.ear_spki.data, a.ear_spki.len, &ek) != VMESH_OK)
        vmesh_err_clear(); /* refused below */
    else
        *claimed = vmesh_crypto_key_ref(ek);
    VMESH_ENSURE(ap.status == VMESH_TIER_AFFIRMING, VMESH_ERR_POLICY,
                 "verifier %s: its platform is not endorsed by its reference values (%s): %s", v->url,
                 vmesh_tier_name(ap.status), ap.reason[0] ? ap.reason : "no reason given");
    /* A verifier of a bundle's trust set (D40) is judged by the reference
     * values of the class the set names, and by no other class. */
    VMESH_ENSURE(c->platform_scheme == NULL || (scheme != NULL && strcmp(scheme->name, c->platform_scheme) == 0),
                 VMESH_ERR_POLICY, "verifier %s: its platform attests with scheme %s, its trust-set entry requires %s",
                 v->url, scheme ? scheme->name : "(unknown)", c->platform_scheme);
    VMESH_ENSURE(c->platform_class_len == 0 || (ap.class_id.len == c->platform_class_len &&
                                                memcmp(ap.class_id.data, c->platform_class, ap.class_id.len) == 0),
                 VMESH_ERR_POLICY,
                 "verifier %s: its platform is of another class than its trust-set entry names (not judged by that "
                 "class's reference values)",
                 v->url);
    if (ek == NULL)
        VMESH_GUARD(vmesh_crypto_key_from_spki(a.ear_spki.data, a.ear_spki.len, &ek));
    VMESH_ENSURE(all->want_key == NULL || vmesh_crypto_key_equal(all->want_key, ek), VMESH_ERR_MISMATCH,
                 "verifier %s: the EAR key its platform attests is not the configured one", v->url);
    if (https) {
        /* libcurl's pin: sha256// + base64 of SHA-256 over the SPKI DER */
        vmesh_crypto_sha256(a.tls_spki.data, a.tls_spki.len, h);
        VMESH_GUARD(vmesh_b64_encode(h, sizeof(h), &b64));
        snprintf(v->pin, sizeof(v->pin), "sha256//%.*s", (int)b64.len, (const char *)b64.data);
        VMESH_ENSURE(c->tls_pin == NULL || strcmp(c->tls_pin, v->pin) == 0, VMESH_ERR_MISMATCH,
                     "verifier %s: the TLS key its platform attests is not the configured tls-pin", v->url);
    } else {
        v->pin[0] = '\0';
    }
    vmesh_crypto_key_free(v->ear_key);
    v->ear_key = ek;
    ek = NULL;
out:
    vmesh_crypto_key_free(ek);
    vmesh_service_attestation_free(&a);
    vmesh_appraisal_free(&ap);
    vmesh_buf_free(&body);
    vmesh_buf_free(&spki);
    vmesh_buf_free(&b64);
    return rc;
}

size_t svc_client_vlink_count(const vmesh_service_client *c)
{
    return c->vlink != NULL ? c->vlink->n : 0;
}

vmesh_err svc_client_vlink(const vmesh_service_client *c, size_t i, long timeout_ms, bool nowait, char *pin,
                           size_t pin_cap, vmesh_key **ear_key)
{
    vmesh_err rc = VMESH_OK;
    vlink_one *v;
    int64_t now = vmesh_time_now(), recheck = c->attest_recheck > 0 ? c->attest_recheck : DEFAULT_RECHECK;
    bool changed = false;
    vmesh_key *claimed = NULL;

    if (ear_key != NULL)
        *ear_key = NULL;
    if (c->vlink == NULL || i >= c->vlink->n)
        return vmesh_err_set(VMESH_ERR_ARG, "verifier link: no URL %zu", i);
    v = &c->vlink->l[i];
    if (timeout_ms <= 0 || timeout_ms > (c->timeout_ms > 0 ? c->timeout_ms : 10000L))
        timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 10000L;
    if (nowait) {
        if (pthread_mutex_trylock(&v->lock) != 0)
            return vmesh_err_set(VMESH_ERR_STATE, "verifier %s: being attested by another request", v->url);
    } else {
        pthread_mutex_lock(&v->lock);
    }
    rc = vlink_load_rv(c, v, &changed);
    if (rc != VMESH_OK) {
        v->ok = false;
        goto out;
    }
    if (!changed && v->checked != 0) {
        if (v->ok && now - v->checked < recheck)
            goto done;
        if (!v->ok && now - v->checked < (recheck < FAILURE_RETRY ? recheck : FAILURE_RETRY)) {
            rc = vmesh_err_set(v->fail_rc, "%s", v->why);
            goto out;
        }
    }
    v->ok = false;
    v->checked = now;
    rc = attest_once(c, c->vlink, v, timeout_ms, &claimed);
    if (rc != VMESH_OK) {
        /* an answer that was judged and refused is the verifier's fault
         * (VMESH_ERR_POLICY); no answer is not (D39) */
        snprintf(v->why, sizeof(v->why), "%s", vmesh_err_detail());
        if (rc != VMESH_ERR_IO && rc != VMESH_ERR_TIMEOUT && rc != VMESH_ERR_NOMEM)
            rc = vmesh_err_set(VMESH_ERR_POLICY, "%s", v->why);
        v->fail_rc = rc;
        if (rc == VMESH_ERR_POLICY && claimed != NULL) {
            /* sticky until this URL attests again (D45) */
            pthread_mutex_lock(&v->klock);
            vmesh_crypto_key_free(v->refused_key);
            v->refused_key = claimed;
            claimed = NULL;
            pthread_mutex_unlock(&v->klock);
        }
        /* once per reason: a refused replica among good ones is re-asked
         * every recheck period and must not flood the log */
        if (strcmp(v->logged, v->why) != 0) {
            vmesh_log(VMESH_LOG_WARN, "%s; no evidence is sent to it", v->why);
            snprintf(v->logged, sizeof(v->logged), "%s", v->why);
        } else {
            vmesh_log(VMESH_LOG_DEBUG, "%s; no evidence is sent to it", v->why);
        }
        vmesh_err_set(rc, "%s", v->why);
        goto out;
    }
    v->ok = true;
    v->logged[0] = '\0';
    pthread_mutex_lock(&v->klock);
    vmesh_crypto_key_free(v->refused_key);
    v->refused_key = NULL;
    pthread_mutex_unlock(&v->klock);
    vmesh_log(VMESH_LOG_INFO, "verifier %s: platform attested under its reference values (EAR key and %s bound)",
              v->url, v->pin[0] ? "TLS key" : "no TLS: plain http");
done:
    snprintf(pin, pin_cap, "%s", v->pin);
    if (ear_key != NULL && v->ear_key != NULL)
        *ear_key = vmesh_crypto_key_ref(v->ear_key);
out:
    pthread_mutex_unlock(&v->lock);
    vmesh_crypto_key_free(claimed);
    return rc;
}

vmesh_err svc_client_vlink_tainted(const vmesh_service_client *c, const vmesh_key *k)
{
    const struct vmesh_service_vlink *all = c->vlink;
    vmesh_err rc = VMESH_OK;

    for (size_t i = 0; all != NULL && k != NULL && i < all->n && rc == VMESH_OK; i++) {
        vlink_one *v = (vlink_one *)&all->l[i];
        pthread_mutex_lock(&v->klock);
        if (v->refused_key != NULL && vmesh_crypto_key_equal(v->refused_key, k))
            rc = vmesh_err_set(VMESH_ERR_POLICY,
                               "verifier %s, refused, attests the same EAR key: no result signed by it is trusted "
                               "until it attests again",
                               v->url);
        pthread_mutex_unlock(&v->klock);
    }
    return rc;
}

bool svc_client_vlink_renew(const vmesh_service_client *c, size_t i)
{
    vlink_one *v;
    bool renew;

    if (c->vlink == NULL || i >= c->vlink->n)
        return false;
    v = &c->vlink->l[i];
    pthread_mutex_lock(&v->lock);
    renew = v->checked != 0 && vmesh_time_now() - v->checked >= 1;
    if (renew)
        v->checked = 0; /* re-attest at the next use */
    pthread_mutex_unlock(&v->lock);
    return renew;
}

vmesh_err vmesh_service_client_attest_url(const vmesh_service_client *c, size_t i, vmesh_key **ear_key)
{
    char pin[80];
    vmesh_key *k = NULL;
    vmesh_err rc;

    if (ear_key != NULL)
        *ear_key = NULL;
    if (c == NULL || c->vlink == NULL)
        return vmesh_err_set(VMESH_ERR_STATE, "verifier link: not prepared (vmesh_service_client_attest_init)");
    rc = svc_client_vlink(c, i, 0, false, pin, sizeof(pin), &k);
    if (rc == VMESH_OK)
        rc = svc_client_vlink_tainted(c, k);
    if (rc == VMESH_OK && ear_key != NULL)
        *ear_key = k;
    else
        vmesh_crypto_key_free(k);
    return rc;
}

vmesh_err vmesh_service_client_attest(const vmesh_service_client *c, vmesh_key **ear_key)
{
    vmesh_err rc, first = VMESH_OK;
    char why[600] = "", pin[80];
    size_t n;

    if (ear_key != NULL)
        *ear_key = NULL;
    if (c == NULL || c->vlink == NULL)
        return vmesh_err_set(VMESH_ERR_STATE, "verifier link: not prepared (vmesh_service_client_attest_init)");
    n = c->vlink->n;
    /* every URL's standing first (a refusal may taint the key another
     * URL attests), then the first that attests an untainted key */
    for (size_t i = 0; i < n; i++) {
        rc = svc_client_vlink(c, i, 0, false, pin, sizeof(pin), NULL);
        if (rc != VMESH_OK && (first == VMESH_OK || (rc == VMESH_ERR_POLICY && first != VMESH_ERR_POLICY))) {
            first = rc; /* the first refusal (judged) wins over the first silence */
            snprintf(why, sizeof(why), "%s", vmesh_err_detail());
        }
        vmesh_err_clear();
    }
    for (size_t i = 0; i < n; i++) {
        rc = vmesh_service_client_attest_url(c, i, ear_key);
        if (rc == VMESH_OK)
            return VMESH_OK;
        if (rc == VMESH_ERR_POLICY && first != VMESH_ERR_POLICY) {
            first = rc;
            snprintf(why, sizeof(why), "%s", vmesh_err_detail());
        }
        vmesh_err_clear();
    }
    if (first == VMESH_OK) /* attested, but every key is tainted: not reached (a taint is a refusal) */
        first = VMESH_ERR_POLICY;
    if (n > 1)
        return vmesh_err_set(first, "none of the %zu verifier URLs attests a trusted EAR key: %s", n, why);
    return vmesh_err_set(first, "%s", why);
}
