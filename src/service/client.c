/*
 * The client side of the challenge-response API on libcurl: what an
 * attester runs to obtain a passport EAR from a central verifier. Every
 * reply is capped and checked (status, media type, nonce echo) before it is
 * used; redirects are not followed and only http/https are spoken. It never
 * judges the EAR it receives: the relying party verifies it.
 */
#include "service_int.h"
#include "vmesh/agent.h"
#include "vmesh/atls.h"
#include "vmesh/jose.h"
#include "vmesh/schemes.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define REPLY_MAX ((size_t)4 * 1024 * 1024)
#define URL_MAX 16384

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
/* One connection cache for the process: a handshake's requests reuse the
 * keep-alive connections of earlier ones, whichever thread made them. */
static CURLSH *curl_share;
/* Idle keep-alive connections the process keeps in that cache. libcurl's
 * default is 5: with more pool threads than that asking at once, a finished
 * request closed someone's connection and the next one connected again
 * (1.4 TCP connects per verification in bench/sase-scale). 64 covers 16 pool
 * threads per CPU on 4 CPUs and equals `vmesh verifier serve`'s default
 * per-client connection limit (--client-connections). */
#define SVC_KEEPALIVE_MAX 64L
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
/* One easy handle per thread, reset and reused by each request: a new one
 * per request cost its allocation, a multi handle and a socketpair (seven
 * system calls) on every verification. The thread-local pointer is what
 * do_request uses; the key frees the handle when its thread ends. */
static pthread_key_t curl_key;
static bool curl_key_ok;
static __thread CURL *curl_mine;

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *ud)
{
    (void)h, (void)a, (void)ud;
    pthread_mutex_lock(&share_locks[(unsigned)d < CURL_LOCK_DATA_LAST ? d : 0]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *ud)
{
    (void)h, (void)ud;
    pthread_mutex_unlock(&share_locks[(unsigned)d < CURL_LOCK_DATA_LAST ? d : 0]);
}

static void curl_handle_free(void *h)
{
    curl_easy_cleanup(h);
}

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (curl_init_rc != CURLE_OK)
        return;
    curl_key_ok = pthread_key_create(&curl_key, curl_handle_free) == 0;
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&share_locks[i], NULL);
    curl_share = curl_share_init();
    if (curl_share == NULL || curl_share_setopt(curl_share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(curl_share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(curl_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(curl_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
        /* without it every request connects anew: slower, still correct */
        if (curl_share != NULL)
            curl_share_cleanup(curl_share);
        curl_share = NULL;
    }
}

/* One try of an exchange at one replica: its base URL, the time it may
 * take, and whether a failure may be retried at the next replica. */
typedef struct {
    const char *url;
    const char *pin;          /* TLS key pin for the requests (D31); NULL or "": none */
    const vmesh_key *attested; /* the attested verifier's EAR key (D31); NULL: none */
    int64_t deadline_ns;
    bool retry;
    bool pin_mismatch; /* the TLS key met is not the pinned one */
    /* D51: where a channel-bound answer's key goes (NULL: ask for signed
     * answers only), and whether the answer is one */
    uint8_t *channel_key;
    bool *channel;
} attempt;

static long attempt_ms(const attempt *t)
{
    int64_t left = (t->deadline_ns - (int64_t)vmesh_time_mono_ns()) / 1000000;

    return left < 1 ? 1 : (long)left;
}

typedef struct {
    svc_body in; /* the write callback's sink */
    vmesh_buf location;
    vmesh_buf content_type;
    /* D51: export the TLS session's channel key with this context (the
     * nonce parameter as sent) while the transfer is live; NULL: not */
    CURL *h;
    const char *export_ctx;
    bool keyed;
    bool channel_answer; /* "Vmesh-Answer: channel" came */
    uint8_t key[VMESH_JOSE_MAC_KEY_LEN];
} reply;

size_t svc_body_write(char *p, size_t size, size_t n, void *sink)
{
    svc_body *b = sink;

    if (vmesh_buf_append(&b->body, p, size * n) != VMESH_OK) {
        b->overflow = true;
        return 0;
    }
    return size * n;
}

static bool header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t l = strlen(name);

    if (n <= l || strncasecmp(line, name, l) != 0 || line[l] != ':')
        return false;
    *val = line + l + 1;
    *vlen = n - l - 1;
    while (*vlen > 0 && (**val == ' ' || **val == '\t')) {
        (*val)++;
        (*vlen)--;
    }
    while (*vlen > 0 && ((*val)[*vlen - 1] == '\r' || (*val)[*vlen - 1] == '\n' || (*val)[*vlen - 1] == ' '))
        (*vlen)--;
    return true;
}

/* D51: the key of an answer=channel EAR, from the TLS session this
 * transfer runs on (the connection the answer comes over). */
static void export_channel_key(reply *r)
{
    struct curl_tlssessioninfo *ti = NULL;
    const char *label = VMESH_SERVICE_CHANNEL_LABEL;

    r->keyed = curl_easy_getinfo(r->h, CURLINFO_TLS_SSL_PTR, &ti) == CURLE_OK && ti != NULL &&
               ti->backend == CURLSSLBACKEND_OPENSSL && ti->internals != NULL &&
               SSL_version(ti->internals) == TLS1_3_VERSION &&
               SSL_export_keying_material(ti->internals, r->key, sizeof(r->key), label, strlen(label),
                                          (const unsigned char *)r->export_ctx, strlen(r->export_ctx), 1) == 1;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    const char *v;
    size_t vl;

    if (r->export_ctx != NULL && !r->keyed && r->h != NULL)
        export_channel_key(r);

    if (header_is(p, size * n, "Location", &v, &vl)) {
        if (vmesh_buf_set(&r->location, v, vl) != VMESH_OK || vmesh_buf_terminate(&r->location) != VMESH_OK)
            return 0;
    } else if (header_is(p, size * n, VMESH_SERVICE_ANSWER_HEADER, &v, &vl)) {
        r->channel_answer = vl == 7 && strncasecmp(v, "channel", 7) == 0;
    } else if (header_is(p, size * n, "Content-Type", &v, &vl)) {
        if (vmesh_buf_set(&r->content_type, v, vl) != VMESH_OK ||
            vmesh_buf_terminate(&r->content_type) != VMESH_OK)
            return 0;
    }
    return size * n;
}

static void reply_init(reply *r)
{
    memset(r, 0, sizeof(*r));
    vmesh_buf_init(&r->in.body, REPLY_MAX);
    vmesh_buf_init(&r->location, URL_MAX);
    vmesh_buf_init(&r->content_type, 1024);
}

static void reply_free(reply *r)
{
    vmesh_crypto_cleanse(r->key, sizeof(r->key));
    vmesh_buf_free(&r->in.body);
    vmesh_buf_free(&r->location);
    vmesh_buf_free(&r->content_type);
}

/* "detail" of a problem+json body, or the start of the body. */
static void problem_text(const char *p, size_t len, char *out, size_t n)
{
    json_t *j = json_loadb(p != NULL ? p : "", p != NULL ? len : 0, 0, NULL);
    const char *d = json_string_value(json_object_get(j, "detail"));

    if (d != NULL)
        snprintf(out, n, "%s", d);
    else
        snprintf(out, n, "%.*s", (int)(len < 200 ? len : 200), p ? p : "");
    json_decref(j);
}

static void problem_detail(const reply *r, char *out, size_t n)
{
    problem_text((const char *)r->in.body.data, r->in.body.len, out, n);
}

/* This thread's easy handle, every option at its default (do_request
 * resets it after each request; the share and the handle's multi stay):
 * NULL when none can be made. */
static CURL *thread_handle(void)
{
    if (curl_mine != NULL)
        return curl_mine;
    if (!curl_key_ok)
        return NULL;
    curl_mine = curl_easy_init();
    if (curl_mine != NULL && pthread_setspecific(curl_key, curl_mine) != 0) {
        curl_easy_cleanup(curl_mine);
        curl_mine = NULL;
    }
    return curl_mine;
}

/* Called by do_request only: a handle of this thread's, or one of its own
 * (*own: clean it up) when the thread cannot keep one. */
static CURL *request_handle(bool *own)
{
    CURL *h = thread_handle();

    *own = h == NULL;
    return h != NULL ? h : curl_easy_init();
}

static vmesh_err do_request(const vmesh_service_client *c, attempt *t, const char *method, const char *url,
                            struct curl_slist *hdrs, const uint8_t *body, size_t body_len, long *status, reply *r)
{
    vmesh_err rc = VMESH_OK;
    bool own = false;
    CURL *h = request_handle(&own);
    CURLcode cc;
    char errbuf[CURL_ERROR_SIZE] = "";

    VMESH_ENSURE(h != NULL, VMESH_ERR_NOMEM, "curl_easy_init failed");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, attempt_ms(t));
    if (curl_share != NULL)
        curl_easy_setopt(h, CURLOPT_SHARE, curl_share);
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, SVC_KEEPALIVE_MAX);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, svc_body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->in);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    r->h = h;
    if (c->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    if (t->pin != NULL && t->pin[0] != '\0') {
        /* The verifier's TLS key is pinned (attested or configured, D31):
         * the pin is the trust, a CA is not needed. */
        curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, t->pin);
        if (c->ca_file == NULL) {
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    cc = curl_easy_perform(h);
    r->h = NULL;
    VMESH_ENSURE(!r->in.overflow, VMESH_ERR_TOO_LARGE, "%s %s: reply larger than %zu bytes", method, url, REPLY_MAX);
    t->retry = cc != CURLE_OK; /* not reached, not answered in time: another replica may */
    t->pin_mismatch = cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
    VMESH_ENSURE(cc == CURLE_OK, cc == CURLE_OPERATION_TIMEDOUT ? VMESH_ERR_TIMEOUT : VMESH_ERR_IO, "%s %s: %s",
                 method, url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    t->retry = *status == 429 || *status >= 500;
out:
    if (h != NULL) {
        /* nothing of this request (its stack buffers, headers, sinks) stays set */
        if (own)
            curl_easy_cleanup(h);
        else
            curl_easy_reset(h);
    }
    return rc;
}

static bool is_session_json(const reply *r)
{
    return r->content_type.len >= strlen(VMESH_SERVICE_SESSION_MT) &&
           strncasecmp((const char *)r->content_type.data, VMESH_SERVICE_SESSION_MT,
                       strlen(VMESH_SERVICE_SESSION_MT)) == 0;
}

/* The EAR answers this request (DESIGN §9). */
static vmesh_err check_answer(const vmesh_service_client *c, const vmesh_key *attested, const char *url,
                              const char *media_type, const uint8_t *nonce, size_t nonce_len, const uint8_t *akpub,
                              size_t akpub_len, const vmesh_buf *jwt)
{
    /* the key this replica's own attestation bound (D45), else the configured one */
    const vmesh_key *ear_key = attested != NULL ? attested : c->ear_key;
    vmesh_err rc = VMESH_OK;
    vmesh_ear *ear = NULL;
    const vmesh_evidence_scheme *scheme = vmesh_schemes_by_media_type(media_type, NULL);
    vmesh_ear_question q;
    vmesh_ear_answer a;
    uint8_t akn[32];

    if (ear_key != NULL) {
        rc = vmesh_ear_verify((const char *)jwt->data, jwt->len, ear_key, vmesh_time_now(), &ear);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "central verifier %s: its EAR", url);
            goto out;
        }
    } else {
        VMESH_GUARD(vmesh_ear_parse_unverified((const char *)jwt->data, jwt->len, NULL, &ear));
    }
    memset(&q, 0, sizeof(q));
    q.nonce = nonce;
    q.nonce_len = nonce_len;
    if (akpub != NULL && akpub_len > 0) {
        VMESH_GUARD(vmesh_atls_ak_nonce(akpub, akpub_len, nonce, nonce_len, akn));
        q.nonce = akn;
        q.nonce_len = sizeof(akn);
        q.akpub = akpub;
        q.akpub_len = akpub_len;
    }
    q.scheme = scheme ? scheme->name : media_type;
    q.issuer = c->issuer;
    q.max_lifetime = c->max_lifetime;
    a = vmesh_ear_check_answer(ear, &q, NULL);
    if (a != VMESH_EAR_ANSWER_OK) {
        rc = vmesh_err_wrap(VMESH_ERR_MISMATCH, "central verifier %s: the answer is not to this request (%s)",
                            url, vmesh_ear_answer_name(a));
        goto out;
    }
out:
    vmesh_ear_free(ear);
    return rc;
}

/* The headers of an evidence POST: Accept, Content-Type, Vmesh-AK (with
 * akpub), Vmesh-Peer-ID (with peer). *out is freed by the caller. */
static vmesh_err evidence_headers(const char *accept, const char *media_type, const uint8_t *akpub, size_t akpub_len,
                                  const char *peer, struct curl_slist **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf hv = {0}, enc = {0};
    struct curl_slist *tmp;

    vmesh_buf_init(&hv, URL_MAX);
    tmp = curl_slist_append(*out, accept);
    VMESH_ENSURE(tmp != NULL, VMESH_ERR_NOMEM, "out of memory");
    *out = tmp;
    VMESH_GUARD(vmesh_buf_set(&hv, "Content-Type: ", 14));
    VMESH_GUARD(vmesh_buf_append(&hv, media_type, strlen(media_type)));
    VMESH_GUARD(vmesh_buf_terminate(&hv));
    tmp = curl_slist_append(*out, (const char *)hv.data);
    VMESH_ENSURE(tmp != NULL, VMESH_ERR_NOMEM, "out of memory");
    if (akpub != NULL && akpub_len > 0) {
        VMESH_GUARD(vmesh_b64url_encode(akpub, akpub_len, &enc));
        VMESH_GUARD(vmesh_buf_set(&hv, VMESH_SERVICE_AK_HEADER ": ", strlen(VMESH_SERVICE_AK_HEADER) + 2));
        VMESH_GUARD(vmesh_buf_append(&hv, enc.data, enc.len));
        VMESH_GUARD(vmesh_buf_terminate(&hv));
        tmp = curl_slist_append(*out, (const char *)hv.data);
        VMESH_ENSURE(tmp != NULL, VMESH_ERR_NOMEM, "out of memory");
    }
    if (peer != NULL) {
        VMESH_GUARD(vmesh_buf_set(&hv, VMESH_SERVICE_PEER_HEADER ": ", strlen(VMESH_SERVICE_PEER_HEADER) + 2));
        VMESH_GUARD(vmesh_buf_append(&hv, peer, strlen(peer)));
        VMESH_GUARD(vmesh_buf_terminate(&hv));
        tmp = curl_slist_append(*out, (const char *)hv.data);
        VMESH_ENSURE(tmp != NULL, VMESH_ERR_NOMEM, "out of memory");
    }
out:
    vmesh_buf_free(&hv);
    vmesh_buf_free(&enc);
    return rc;
}

/* The Veraison flow: newSession?nonce= -> POST the evidence -> DELETE. */
static vmesh_err session_verify_at(const vmesh_service_client *c, attempt *t, const char *media_type,
                                  const uint8_t *evidence, size_t evidence_len, const uint8_t *nonce,
                                  size_t nonce_len, const uint8_t *akpub, size_t akpub_len, const char *peer,
                                  bool check, vmesh_buf *ear_jwt)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf base = {0}, url = {0}, enc = {0}, hv = {0}, got = {0};
    struct curl_slist *h1 = NULL, *h2 = NULL, *h3 = NULL, *tmp;
    reply r;
    long status = 0;
    json_t *j = NULL;
    const char *st, *res, *nonce_s;
    char detail[512];

    reply_init(&r);
    vmesh_buf_init(&url, URL_MAX);
    vmesh_buf_init(&base, URL_MAX);

    /* Base: <url>/challenge-response/v1/ */
    VMESH_GUARD(vmesh_buf_set(&base, t->url, strlen(t->url)));
    while (base.len > 0 && base.data[base.len - 1] == '/')
        base.len--;
    VMESH_GUARD(vmesh_buf_append(&base, VMESH_SERVICE_API_PREFIX, strlen(VMESH_SERVICE_API_PREFIX)));

    /* 1. newSession?nonce=<base64url> (Veraison: the client may pick the nonce). */
    VMESH_GUARD(vmesh_b64url_encode(nonce, nonce_len, &enc));
    VMESH_GUARD(vmesh_buf_set(&url, base.data, base.len));
    VMESH_GUARD(vmesh_buf_append(&url, "newSession?nonce=", 17));
    VMESH_GUARD(vmesh_buf_append(&url, enc.data, enc.len));
    VMESH_GUARD(vmesh_buf_terminate(&url));
    tmp = curl_slist_append(h1, "Accept: " VMESH_SERVICE_SESSION_MT);
    VMESH_ENSURE(tmp != NULL, VMESH_ERR_NOMEM, "out of memory");
    h1 = tmp;
    VMESH_GUARD(do_request(c, t, "POST", (const char *)url.data, h1, NULL, 0, &status, &r));
    if (status != 201) {
        problem_detail(&r, detail, sizeof(detail));
        VMESH_FAIL(VMESH_ERR_IO, "central verifier %s: newSession answered %ld: %s", t->url, status, detail);
    }
    VMESH_ENSURE(r.location.len > 0 && is_session_json(&r), VMESH_ERR_PARSE,
                 "central verifier %s: newSession answer lacks a Location or a session body", t->url);
    j = json_loadb((const char *)r.in.body.data, r.in.body.len, 0, NULL);
    nonce_s = json_string_value(json_object_get(j, "nonce"));
    VMESH_ENSURE(nonce_s != NULL && vmesh_b64_decode(nonce_s, strlen(nonce_s), &got) == VMESH_OK &&
                     got.len == nonce_len && memcmp(got.data, nonce, nonce_len) == 0,
                 VMESH_ERR_MISMATCH, "central verifier %s: the session nonce is not the one requested", t->url);
    json_decref(j);
    j = NULL;

    /* 2. POST the evidence to the session (Location is relative to base). */
    vmesh_buf_reset(&url);
    if (strncmp((const char *)r.location.data, "http://", 7) == 0 ||
        strncmp((const char *)r.location.data, "https://", 8) == 0) {
        VMESH_GUARD(vmesh_buf_set(&url, r.location.data, r.location.len));
    } else if (r.location.data[0] == '/') {
        /* Absolute path: scheme://authority of the configured URL + path. */
        const char *sl = strstr(t->url, "://");
        const char *auth_end = sl ? strchr(sl + 3, '/') : NULL;
        size_t al = auth_end ? (size_t)(auth_end - t->url) : strlen(t->url);
        VMESH_GUARD(vmesh_buf_set(&url, t->url, al));
        VMESH_GUARD(vmesh_buf_append(&url, r.location.data, r.location.len));
    } else {
        VMESH_GUARD(vmesh_buf_set(&url, base.data, base.len));
        VMESH_GUARD(vmesh_buf_append(&url, r.location.data, r.location.len));
    }
    VMESH_GUARD(vmesh_buf_terminate(&url));
    VMESH_GUARD(evidence_headers("Accept: " VMESH_SERVICE_SESSION_MT, media_type, akpub, akpub_len, peer, &h2));
    reply_free(&r);
    reply_init(&r);
    VMESH_GUARD(do_request(c, t, "POST", (const char *)url.data, h2, evidence, evidence_len, &status, &r));
    if (status != 200) {
        problem_detail(&r, detail, sizeof(detail));
        VMESH_FAIL(status == 415 ? VMESH_ERR_UNSUPPORTED : VMESH_ERR_IO,
                   "central verifier %s: evidence answered %ld: %s", t->url, status, detail);
    }
    VMESH_ENSURE(is_session_json(&r), VMESH_ERR_PARSE, "central verifier %s: the answer is not a session", t->url);
    j = json_loadb((const char *)r.in.body.data, r.in.body.len, 0, NULL);
    st = json_string_value(json_object_get(j, "status"));
    res = json_string_value(json_object_get(j, "result"));
    VMESH_ENSURE(st != NULL && strcmp(st, "complete") == 0 && res != NULL, VMESH_ERR_STATE,
                 "central verifier %s: session status \"%s\" without a result", t->url, st ? st : "?");
    VMESH_ENSURE(strlen(res) <= (size_t)256 * 1024, VMESH_ERR_TOO_LARGE, "central verifier: EAR too large");
    VMESH_GUARD(vmesh_buf_set(ear_jwt, res, strlen(res)));
    VMESH_GUARD(vmesh_buf_terminate(ear_jwt));
    if (check)
        VMESH_GUARD(check_answer(c, t->attested, t->url, media_type, nonce, nonce_len, akpub, akpub_len, ear_jwt));

    /* 3. DELETE the session (best effort: it expires anyway). */
    tmp = curl_slist_append(NULL, "Accept: " VMESH_SERVICE_PROBLEM_MT);
    if (tmp != NULL) {
        h3 = tmp;
        reply_free(&r);
        reply_init(&r);
        if (do_request(c, t, "DELETE", (const char *)url.data, h3, NULL, 0, &status, &r) != VMESH_OK || status != 204)
            vmesh_log(VMESH_LOG_DEBUG, "central verifier: DELETE of the session answered %ld", status);
        vmesh_err_clear();
    }
out:
    json_decref(j);
    curl_slist_free_all(h1);
    curl_slist_free_all(h2);
    curl_slist_free_all(h3);
    reply_free(&r);
    vmesh_buf_free(&base);
    vmesh_buf_free(&url);
    vmesh_buf_free(&enc);
    vmesh_buf_free(&hv);
    vmesh_buf_free(&got);
    return rc;
}

/* ---- the one-request appraisal (D42) ------------------------------------------- */

/* What each verifier URL's discovery document advertised, read once per
 * URL and kept for DISCO_TTL_S; forgotten when an exchange there fails as
 * a link (not reached, 5xx, the endpoint gone), so the next verification
 * reads it again. One table for the process, as the connection cache. */
#define DISCO_SLOTS 32
#define DISCO_URL_MAX 1024
#define DISCO_TTL_S 300
typedef struct {
    char url[DISCO_URL_MAX];
    char path[VMESH_SERVICE_MAX_ENDPOINT + 1]; /* "": not advertised */
    int64_t at_ns;                             /* 0: empty */
} disco_entry;
static pthread_mutex_t disco_lock = PTHREAD_MUTEX_INITIALIZER;
static disco_entry disco[DISCO_SLOTS];
static size_t disco_next;

static bool disco_lookup(const char *url, char *path, size_t cap)
{
    int64_t now = (int64_t)vmesh_time_mono_ns();
    bool found = false;

    pthread_mutex_lock(&disco_lock);
    for (size_t i = 0; i < DISCO_SLOTS && !found; i++)
        if (disco[i].at_ns != 0 && now - disco[i].at_ns < (int64_t)DISCO_TTL_S * 1000000000 &&
            strcmp(disco[i].url, url) == 0) {
            snprintf(path, cap, "%s", disco[i].path);
            found = true;
        }
    pthread_mutex_unlock(&disco_lock);
    return found;
}

static void disco_store(const char *url, const char *path)
{
    size_t slot = DISCO_SLOTS;

    if (strlen(url) >= DISCO_URL_MAX)
        return;
    pthread_mutex_lock(&disco_lock);
    for (size_t i = 0; i < DISCO_SLOTS && slot == DISCO_SLOTS; i++)
        if (disco[i].at_ns != 0 && strcmp(disco[i].url, url) == 0)
            slot = i;
    if (slot == DISCO_SLOTS)
        slot = disco_next++ % DISCO_SLOTS;
    snprintf(disco[slot].url, sizeof(disco[slot].url), "%s", url);
    snprintf(disco[slot].path, sizeof(disco[slot].path), "%s", path);
    disco[slot].at_ns = (int64_t)vmesh_time_mono_ns();
    pthread_mutex_unlock(&disco_lock);
}

static void disco_forget(const char *url)
{
    pthread_mutex_lock(&disco_lock);
    for (size_t i = 0; i < DISCO_SLOTS; i++)
        if (disco[i].at_ns != 0 && strcmp(disco[i].url, url) == 0)
            disco[i].at_ns = 0;
    pthread_mutex_unlock(&disco_lock);
}

/* base: the configured URL without trailing slashes. */
static vmesh_err url_base(const char *url, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_buf_set(b, url, strlen(url)));
    while (b->len > 0 && b->data[b->len - 1] == '/')
        b->len--;
out:
    return rc;
}

/* The one-request appraisal path t->url advertises ("" when it does not):
 * from the cache, else from its discovery document. Only a failure to
 * reach the verifier is an error; a document without the endpoint, or one
 * that cannot be read, means the Veraison flow. */
static vmesh_err appraise_path(const vmesh_service_client *c, attempt *t, char *path, size_t cap)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf url = {0};
    struct curl_slist *h = NULL;
    reply r;
    long status = 0;

    path[0] = '\0';
    if (disco_lookup(t->url, path, cap))
        return VMESH_OK;
    reply_init(&r);
    vmesh_buf_init(&url, URL_MAX);
    VMESH_GUARD(url_base(t->url, &url));
    VMESH_GUARD(vmesh_buf_printf(&url, "/.well-known/veraison/verification"));
    VMESH_GUARD(vmesh_buf_terminate(&url));
    h = curl_slist_append(NULL, "Accept: " VMESH_SERVICE_DISCOVERY_MT ", application/json");
    VMESH_ENSURE(h != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(do_request(c, t, "GET", (const char *)url.data, h, NULL, 0, &status, &r));
    if (status == 429 || status >= 500) {
        /* busy: the Veraison flow this time, the document next time */
        vmesh_log(VMESH_LOG_DEBUG, "central verifier %s: discovery answered %ld", t->url, status);
        goto out;
    }
    if (status == 200 && vmesh_service_discovery_appraise_path(r.in.body.data, r.in.body.len, path, cap) != VMESH_OK) {
        vmesh_log(VMESH_LOG_WARN, "central verifier %s: %s; using the challenge-response sessions", t->url,
                  vmesh_err_detail());
        vmesh_err_clear();
        path[0] = '\0';
    }
    disco_store(t->url, path);
    vmesh_log(VMESH_LOG_DEBUG, "central verifier %s: %s%s", t->url,
              path[0] ? "one-request appraisal at " : "no one-request appraisal advertised", path);
out:
    curl_slist_free_all(h);
    reply_free(&r);
    vmesh_buf_free(&url);
    return rc;
}

/* An appraisal's answer, the one-request appraisal's or one item of a
 * batch's (`where` is "" or " (in a batch)" in the errors): a status other
 * than 200 is the error naming the problem's detail; 200 is the EAR, kept
 * in ear_jwt (reset, NUL-terminated). When t asked for channel-bound
 * answers (t->channel_key) and r says they are (Vmesh-Answer: channel),
 * the session's exported key goes to t->channel_key and *t->channel is
 * set; a verifier before D51, or with --signed-answers, signs instead and
 * the EAR is checked as a signature. */
static vmesh_err take_answer(const attempt *t, const reply *r, bool asked_channel, long status, const char *text,
                             size_t len, const char *where, vmesh_buf *ear_jwt)
{
    vmesh_err rc = VMESH_OK;
    char detail[512];

    if (status != 200) {
        problem_text(text, len, detail, sizeof(detail));
        VMESH_FAIL(status == 415 ? VMESH_ERR_UNSUPPORTED : VMESH_ERR_IO, "central verifier %s: evidence answered %ld%s: %s",
                   t->url, status, where, detail);
    }
    VMESH_ENSURE(len > 0 && len <= (size_t)256 * 1024 && memchr(text, '\0', len) == NULL, VMESH_ERR_PARSE,
                 "central verifier %s: the appraisal answer%s is empty, too large or not text", t->url, where);
    VMESH_GUARD(vmesh_buf_set(ear_jwt, text, len));
    VMESH_GUARD(vmesh_buf_terminate(ear_jwt));
    if (asked_channel && r->channel_answer && t->channel_key != NULL) {
        VMESH_ENSURE(r->keyed, VMESH_ERR_CRYPTO, "central verifier %s: no key could be exported from the TLS "
                                                "session for its channel-bound answer", t->url);
        memcpy(t->channel_key, r->key, sizeof(r->key));
        *t->channel = true;
    }
out:
    return rc;
}

/* POST <url><path>?nonce= with the evidence; the EAR is the answer. *gone:
 * the verifier no longer serves the path (404, 405): the caller uses the
 * Veraison flow instead. */
static vmesh_err appraise_at(const vmesh_service_client *c, attempt *t, const char *path, const char *media_type,
                             const uint8_t *evidence, size_t evidence_len, const uint8_t *nonce, size_t nonce_len,
                             const uint8_t *akpub, size_t akpub_len, const char *peer, bool check, vmesh_buf *ear_jwt,
                             bool *gone)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf url = {0}, enc = {0};
    struct curl_slist *h = NULL;
    reply r;
    long status = 0;
    const char *ct;

    *gone = false;
    reply_init(&r);
    vmesh_buf_init(&url, URL_MAX);
    VMESH_GUARD(url_base(t->url, &url));
    VMESH_GUARD(vmesh_buf_append(&url, path, strlen(path)));
    VMESH_GUARD(vmesh_b64url_encode(nonce, nonce_len, &enc));
    VMESH_GUARD(vmesh_buf_append(&url, "?nonce=", 7));
    VMESH_GUARD(vmesh_buf_append(&url, enc.data, enc.len));
    /* A relying party's own appraisal (not a passport, which travels on to
     * others): it holds the evidence, so the EAR need not repeat its claims
     * (D46; a verifier before D46 ignores the parameter) */
    if (!check)
        VMESH_GUARD(vmesh_buf_append(&url, "&annotated=omit", 15));
    /* D51: a relying party's own appraisal over an attested https link (the
     * TLS key pinned is the one the verifier's attestation bound to its EAR
     * key) needs no signature: the EAR is authenticated by this session */
    if (!check && t->channel_key != NULL && t->attested != NULL && !c->signed_answers &&
        strncasecmp(t->url, "https://", 8) == 0) {
        VMESH_GUARD(vmesh_buf_append(&url, "&answer=channel", 15));
        VMESH_GUARD(vmesh_buf_terminate(&enc));
        r.export_ctx = (const char *)enc.data;
    }
    VMESH_GUARD(vmesh_buf_terminate(&url));
    VMESH_GUARD(evidence_headers("Accept: " VMESH_EAR_MEDIA_TYPE, media_type, akpub, akpub_len, peer, &h));
    rc = do_request(c, t, "POST", (const char *)url.data, h, evidence, evidence_len, &status, &r);
    if (rc != VMESH_OK || status == 404 || status == 405 || status >= 500)
        disco_forget(t->url);
    VMESH_GUARD(rc);
    if (status == 404 || status == 405) {
        vmesh_log(VMESH_LOG_INFO, "central verifier %s: %s answered %ld; using the challenge-response sessions",
                  t->url, path, status);
        *gone = true;
        goto out;
    }
    ct = r.content_type.len > 0 ? (const char *)r.content_type.data : "";
    VMESH_ENSURE(status != 200 || (strncasecmp(ct, "application/eat+jwt", 19) == 0 &&
                                   (ct[19] == '\0' || ct[19] == ';' || ct[19] == ' ')),
                 VMESH_ERR_PARSE, "central verifier %s: the appraisal answer is %.100s, not an EAR", t->url,
                 ct[0] ? ct : "(no Content-Type)");
    VMESH_GUARD(take_answer(t, &r, r.export_ctx != NULL, status, (const char *)r.in.body.data, r.in.body.len, "",
                            ear_jwt));
    if (check)
        VMESH_GUARD(check_answer(c, t->attested, t->url, media_type, nonce, nonce_len, akpub, akpub_len, ear_jwt));
out:
    curl_slist_free_all(h);
    reply_free(&r);
    vmesh_buf_free(&url);
    vmesh_buf_free(&enc);
    return rc;
}

/* One verification at one replica: the one-request appraisal when the
 * verifier advertises it, else (or when it is gone) Veraison's flow. */
static vmesh_err client_verify_at(const vmesh_service_client *c, attempt *t, const char *media_type,
                                  const uint8_t *evidence, size_t evidence_len, const uint8_t *nonce,
                                  size_t nonce_len, const uint8_t *akpub, size_t akpub_len, const char *peer,
                                  bool check, vmesh_buf *ear_jwt)
{
    vmesh_err rc = VMESH_OK;
    char path[VMESH_SERVICE_MAX_ENDPOINT + 1];
    bool gone = false;

    VMESH_GUARD(appraise_path(c, t, path, sizeof(path)));
    if (path[0] != '\0') {
        rc = appraise_at(c, t, path, media_type, evidence, evidence_len, nonce, nonce_len, akpub, akpub_len, peer,
                         check, ear_jwt, &gone);
        if (rc != VMESH_OK || !gone)
            goto out;
    }
    rc = session_verify_at(c, t, media_type, evidence, evidence_len, nonce, nonce_len, akpub, akpub_len, peer, check,
                           ear_jwt);
    if (rc != VMESH_OK && t->retry)
        disco_forget(t->url);
out:
    return rc;
}

static const char *replica_url(const vmesh_service_client *c, size_t i)
{
    return i == 0 ? c->url : c->replicas[i - 1];
}

/* URL idx's attested link (D45: each URL is attested on its own): its
 * pin and attested EAR key, unless it is refused, unreachable or attests
 * a key a refused URL also claims. Without a link: the configured pin. */
static vmesh_err replica_link(const vmesh_service_client *c, size_t idx, long timeout_ms, bool nowait, char *pin,
                              size_t pin_cap, vmesh_key **attested)
{
    vmesh_err rc = VMESH_OK;

    pin[0] = '\0';
    *attested = NULL;
    if (c->vlink != NULL) {
        rc = svc_client_vlink(c, idx, timeout_ms, nowait, pin, pin_cap, attested);
        if (rc == VMESH_OK)
            rc = svc_client_vlink_tainted(c, *attested);
        if (rc != VMESH_OK) {
            vmesh_crypto_key_free(*attested);
            *attested = NULL;
            return rc;
        }
    }
    if (pin[0] == '\0' && c->tls_pin != NULL)
        snprintf(pin, pin_cap, "%s", c->tls_pin);
    return rc;
}

/* The exchange at the replica that answered last, then at the others in
 * turn while the failure is one another replica may not have (not
 * reached, timed out, 429, 5xx, or its attested link refused or silent:
 * no evidence goes to a URL whose link does not attest now). The error
 * is VMESH_ERR_POLICY only when every URL was judged and refused.
 * *mismatched: bit i set when URL i's TLS key was not the pinned one. */
static vmesh_err client_verify_once(const vmesh_service_client *c, const char *media_type, const uint8_t *evidence,
                                    size_t evidence_len, const uint8_t *nonce, size_t nonce_len,
                                    const uint8_t *akpub, size_t akpub_len, const char *peer, bool check,
                                    vmesh_buf *ear_jwt, uint8_t *channel_key, bool *channel, uint64_t *mismatched)
{
    vmesh_err rc = VMESH_OK, other = VMESH_OK;
    size_t n, first, i, idx, refused = 0, nbusy = 0;
    uint64_t busy = 0;
    int64_t end, share_ms;
    bool rc_done = false;
    attempt t;
    char pin[80] = "", other_why[600] = "", refused_why[600] = "";
    vmesh_key *attested = NULL;

    *mismatched = 0;
    VMESH_ENSURE(c != NULL && c->url != NULL && c->url[0] != '\0', VMESH_ERR_ARG,
                 "central verifier: no URL configured");
    VMESH_ENSURE(c->n_replicas == 0 || c->replicas != NULL, VMESH_ERR_ARG, "central verifier: replicas missing");
    VMESH_ENSURE(c->vlink == NULL || svc_client_vlink_count(c) == 1 + c->n_replicas, VMESH_ERR_ARG,
                 "central verifier: the attested links are not those of the URLs (replicas changed after "
                 "vmesh_service_client_attest_init)");
    VMESH_ENSURE(media_type != NULL && evidence != NULL && evidence_len > 0, VMESH_ERR_ARG,
                 "central verifier: no evidence to submit");
    if (peer != NULL)
        for (const char *p = peer; *p; p++)
            VMESH_ENSURE((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f, VMESH_ERR_ARG,
                         "central verifier: the peer identity holds a character a header cannot carry");
    VMESH_ENSURE(nonce_len >= VMESH_SERVICE_MIN_NONCE && nonce_len <= VMESH_SERVICE_MAX_NONCE, VMESH_ERR_ARG,
                 "central verifier: a session nonce must be %d..%d bytes, not %zu", VMESH_SERVICE_MIN_NONCE,
                 VMESH_SERVICE_MAX_NONCE, nonce_len);
    pthread_once(&curl_once, curl_init);
    VMESH_ENSURE(curl_init_rc == CURLE_OK, VMESH_ERR_IO, "curl_global_init failed");
    n = 1 + c->n_replicas;
    first = __atomic_load_n(&c->last_good, __ATOMIC_RELAXED) % n;
    end = (int64_t)vmesh_time_mono_ns() + (int64_t)(c->timeout_ms > 0 ? c->timeout_ms : 10000L) * 1000000;
    /* Pass 0 skips a URL another request is attesting right now (a silent
     * replica's attestation holds its link for the whole timeout); pass 1
     * waits for those only when no other URL answered. */
    for (int pass = 0; pass < 2 && rc_done == false; pass++) {
        size_t left = pass == 0 ? n : nbusy;
        for (i = 0; i < n && !rc_done; i++) {
            idx = (first + i) % n;
            if (pass == 1 && (busy & ((uint64_t)1 << idx)) == 0)
                continue;
            memset(&t, 0, sizeof(t));
            t.url = replica_url(c, idx);
            VMESH_ENSURE(t.url != NULL && t.url[0] != '\0', VMESH_ERR_ARG,
                         "central verifier: replica %zu has no URL", idx);
            vmesh_crypto_key_free(attested);
            /* the time left, shared among the replicas not tried yet */
            share_ms = (end - (int64_t)vmesh_time_mono_ns()) / 1000000 / (int64_t)(left > 0 ? left : 1);
            left = left > 0 ? left - 1 : 0;
            /* An attested verifier (D31): its platform is appraised before
             * any evidence goes to it, and its attested TLS key is pinned. */
            rc = replica_link(c, idx, share_ms > 0 ? (long)share_ms : 1, pass == 0 && n > 1, pin, sizeof(pin),
                              &attested);
            if (rc != VMESH_OK) {
                /* refused or silent: logged by the link, once; the next URL */
                if (rc == VMESH_ERR_POLICY) {
                    refused++;
                    snprintf(refused_why, sizeof(refused_why), "%s", vmesh_err_detail());
                } else if (rc == VMESH_ERR_STATE && pass == 0 && c->vlink != NULL) {
                    busy |= (uint64_t)1 << idx;
                    nbusy++;
                } else {
                    other = rc;
                    snprintf(other_why, sizeof(other_why), "%s", vmesh_err_detail());
                }
                if ((int64_t)vmesh_time_mono_ns() >= end)
                    break;
                vmesh_err_clear();
                continue;
            }
            t.pin = pin;
            t.attested = attested;
            t.channel_key = channel_key;
            t.channel = channel;
            t.deadline_ns = (int64_t)vmesh_time_mono_ns() + (share_ms > 0 ? share_ms : 1) * 1000000;
            vmesh_buf_reset(ear_jwt);
            rc = client_verify_at(c, &t, media_type, evidence, evidence_len, nonce, nonce_len, akpub, akpub_len, peer,
                                  check, ear_jwt);
            if (rc == VMESH_OK) {
                if (idx != first)
                    __atomic_store_n((size_t *)&c->last_good, idx, __ATOMIC_RELAXED);
                rc_done = true;
                break;
            }
            if (t.pin_mismatch && idx < 64)
                *mismatched |= (uint64_t)1 << idx;
            other = rc;
            snprintf(other_why, sizeof(other_why), "%s", vmesh_err_detail());
            if (!t.retry || (int64_t)vmesh_time_mono_ns() >= end) {
                rc_done = true; /* fails closed: no other URL */
                break;
            }
            if (pass == 0 && i + 1 < n)
                vmesh_log(VMESH_LOG_WARN, "central verifier %s failed, trying %s: %s", t.url,
                          replica_url(c, (idx + 1) % n), vmesh_err_detail());
            else if (nbusy > 0)
                vmesh_log(VMESH_LOG_WARN, "central verifier %s failed, trying the replicas being attested: %s",
                          t.url, vmesh_err_detail());
            vmesh_err_clear();
        }
        if ((int64_t)vmesh_time_mono_ns() >= end)
            break;
    }
    /* No URL gave an answer to keep: a refusal stands for the whole
     * verifier only when every URL was refused; else the last other
     * failure (a malfunction, D39). */
    if (!rc_done) {
        if (refused == n)
            rc = vmesh_err_set(VMESH_ERR_POLICY, "%s", refused_why);
        else if (other != VMESH_OK)
            rc = vmesh_err_set(other, "%s", other_why);
        else
            rc = vmesh_err_set(VMESH_ERR_TIMEOUT, "central verifier: every URL was being attested by other requests "
                                                  "until the deadline");
    }
out:
    vmesh_crypto_key_free(attested);
    return rc;
}

/* Renews the attested link of every URL whose TLS key was not the pinned
 * one (a restart with a new key): true when one was renewed. */
static bool renew_links(const vmesh_service_client *c, uint64_t mismatched)
{
    bool any = false;

    for (size_t i = 0; i < 64 && mismatched != 0; i++)
        if ((mismatched & ((uint64_t)1 << i)) != 0 && svc_client_vlink_renew(c, i)) {
            vmesh_log(VMESH_LOG_WARN, "verifier %s: its TLS key is not the attested one; attesting it again now",
                      replica_url(c, i));
            any = true;
        }
    return any;
}

/* After an exchange that ended with rc: when it failed on URLs whose TLS key
 * was not the pinned one, renews their links and says to run the exchange
 * once more (the error cleared); otherwise false, rc's message kept. */
static bool renewed_for_retry(const vmesh_service_client *c, vmesh_err rc, uint64_t mismatched)
{
    char why[600];

    if (rc == VMESH_OK || mismatched == 0 || c->vlink == NULL)
        return false;
    snprintf(why, sizeof(why), "%s", vmesh_err_detail());
    if (!renew_links(c, mismatched)) {
        vmesh_err_set(rc, "%s", why);
        return false;
    }
    vmesh_err_clear();
    return true;
}

/* An attested verifier whose TLS key no longer matches the pin (a restart
 * with a new key) is attested again at once, and the exchange tried once
 * more with the key that attestation binds (D39); at most once a second
 * per URL (svc_client_vlink_renew), so a party on the path cannot make
 * every request cost an attestation. */
static vmesh_err client_verify(const vmesh_service_client *c, const char *media_type, const uint8_t *evidence,
                               size_t evidence_len, const uint8_t *nonce, size_t nonce_len, const uint8_t *akpub,
                               size_t akpub_len, const char *peer, bool check, vmesh_buf *ear_jwt,
                               uint8_t *channel_key, bool *channel)
{
    uint64_t mismatched = 0;
    vmesh_err rc = client_verify_once(c, media_type, evidence, evidence_len, nonce, nonce_len, akpub, akpub_len,
                                      peer, check, ear_jwt, channel_key, channel, &mismatched);

    if (!renewed_for_retry(c, rc, mismatched))
        return rc;
    return client_verify_once(c, media_type, evidence, evidence_len, nonce, nonce_len, akpub, akpub_len, peer, check,
                              ear_jwt, channel_key, channel, &mismatched);
}

/* The probe at URLs from .. from + count - 1 in turn until one answers. */
static vmesh_err client_probe_once(const vmesh_service_client *c, size_t from, size_t count, uint64_t *mismatched)
{
    vmesh_err rc = VMESH_OK;
    char pin[80] = "";
    vmesh_key *attested = NULL;
    vmesh_buf url = {0};
    size_t n, i;
    int64_t end;
    attempt t;
    reply r;
    long status = 0;

    *mismatched = 0;
    reply_init(&r);
    vmesh_buf_init(&url, URL_MAX);
    VMESH_ENSURE(c != NULL && c->url != NULL && c->url[0] != '\0', VMESH_ERR_ARG,
                 "central verifier: no URL configured");
    VMESH_ENSURE(c->vlink == NULL || svc_client_vlink_count(c) == 1 + c->n_replicas, VMESH_ERR_ARG,
                 "central verifier: the attested links are not those of the URLs");
    pthread_once(&curl_once, curl_init);
    VMESH_ENSURE(curl_init_rc == CURLE_OK, VMESH_ERR_IO, "curl_global_init failed");
    n = 1 + (c->replicas != NULL ? c->n_replicas : 0);
    VMESH_ENSURE(from < n && count >= 1 && count <= n - from, VMESH_ERR_ARG, "central verifier: no URL %zu", from);
    n = from + count;
    end = (int64_t)vmesh_time_mono_ns() + (int64_t)(c->timeout_ms > 0 ? c->timeout_ms : 10000L) * 1000000;
    for (i = from; i < n; i++) {
        memset(&t, 0, sizeof(t));
        t.url = replica_url(c, i);
        VMESH_ENSURE(t.url != NULL && t.url[0] != '\0', VMESH_ERR_ARG, "central verifier: replica %zu has no URL", i);
        vmesh_crypto_key_free(attested);
        vmesh_err_clear();
        /* ready while one URL attests (when attested) and answers (D45) */
        rc = replica_link(c, i, (long)((end - (int64_t)vmesh_time_mono_ns()) / 1000000 / (int64_t)(n - i)) + 1, false,
                          pin, sizeof(pin), &attested);
        if (rc != VMESH_OK) {
            if ((int64_t)vmesh_time_mono_ns() >= end)
                break;
            continue;
        }
        t.pin = pin;
        t.attested = attested;
        t.deadline_ns = (int64_t)vmesh_time_mono_ns() + (end - (int64_t)vmesh_time_mono_ns()) / (int64_t)(n - i);
        vmesh_buf_reset(&url);
        VMESH_GUARD(vmesh_buf_set(&url, t.url, strlen(t.url)));
        while (url.len > 0 && url.data[url.len - 1] == '/')
            url.len--;
        VMESH_GUARD(vmesh_buf_printf(&url, "/.well-known/veraison/verification"));
        VMESH_GUARD(vmesh_buf_terminate(&url));
        reply_free(&r);
        reply_init(&r);
        rc = do_request(c, &t, "GET", (const char *)url.data, NULL, NULL, 0, &status, &r);
        if (rc == VMESH_OK && status == 200)
            break;
        if (rc == VMESH_OK)
            rc = vmesh_err_set(VMESH_ERR_IO, "GET %s answered %ld", (const char *)url.data, status);
        if (t.pin_mismatch)
            *mismatched |= (uint64_t)1 << i;
        if ((int64_t)vmesh_time_mono_ns() >= end)
            break;
    }
out:
    reply_free(&r);
    vmesh_buf_free(&url);
    vmesh_crypto_key_free(attested);
    return rc;
}

/* The readiness probe renews an attested link on a pin mismatch as an
 * evidence exchange does (client_verify): otherwise a verifier restarted
 * with a new TLS key kept /ready at 503 until attest-recheck while no peer
 * came to renew it. */
static vmesh_err client_probe(const vmesh_service_client *c, size_t from, size_t count)
{
    uint64_t mismatched = 0;
    vmesh_err rc = client_probe_once(c, from, count, &mismatched);

    if (!renewed_for_retry(c, rc, mismatched))
        return rc;
    return client_probe_once(c, from, count, &mismatched);
}

vmesh_err vmesh_service_client_probe(const vmesh_service_client *c)
{
    if (c == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "central verifier: no client");
    return client_probe(c, 0, 1 + (c->replicas != NULL ? c->n_replicas : 0));
}

vmesh_err vmesh_service_client_probe_url(const vmesh_service_client *c, size_t i)
{
    if (c == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "central verifier: no client");
    return client_probe(c, i, 1);
}

vmesh_err vmesh_service_client_verify(const vmesh_service_client *c, const char *media_type, const uint8_t *evidence,
                                      size_t evidence_len, const uint8_t *nonce, size_t nonce_len,
                                      const uint8_t *akpub, size_t akpub_len, vmesh_buf *ear_jwt)
{
    return client_verify(c, media_type, evidence, evidence_len, nonce, nonce_len, akpub, akpub_len,
                         c != NULL ? c->peer : NULL, true, ear_jwt, NULL, NULL);
}

vmesh_err vmesh_service_passport_client(void *ctx, const char *media_type, const uint8_t *evidence,
                                        size_t evidence_len, const uint8_t *challenge, size_t challenge_len,
                                        const uint8_t *akpub, size_t akpub_len, vmesh_buf *ear_jwt)
{
    return vmesh_service_client_verify(ctx, media_type, evidence, evidence_len, challenge, challenge_len, akpub,
                                       akpub_len, ear_jwt);
}

/* ---- batching of central appraisals (D53) ------------------------------------------------ */

#define BATCH_DEFAULT 32u
#define BATCH_OFF_NS (300LL * 1000000000LL) /* a verifier without batches: one request each, this long */
/* evidence bytes in one batch (a verifier's default body cap is 1 MiB,
 * --max-body): a batch holds at least one appraisal whatever its size */
#define BATCH_BYTES ((size_t)512 * 1024)

enum { BI_QUEUED, BI_DONE, BI_ALONE };

/* One appraisal waiting in a batcher: the caller's question and where its
 * answer goes; on the caller's stack, which waits until it is DONE or
 * ALONE (send it by itself). The sender writes `result` and the answer
 * without the batcher's lock, then, holding it, moves result to `state`,
 * the only field a waiting caller reads under the lock. */
typedef struct bitem {
    const char *media_type;
    const uint8_t *evidence;
    size_t evidence_len;
    const uint8_t *nonce;
    size_t nonce_len;
    const char *peer;
    vmesh_buf *ear_jwt;
    uint8_t *channel_key; /* NULL: signed answers only */
    bool *channel;
    int state;  /* under the batcher's lock */
    int result; /* the sender's, until it is the state */
    vmesh_err rc;
    char why[600];
    struct bitem *next;
} bitem;

struct vmesh_service_batcher {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bitem *head, *tail;
    bool leader; /* a waiting thread is sending batches */
    unsigned max_items;
    int64_t off_until_ns;
    _Atomic int64_t warned_ns;
    _Atomic uint64_t batches, items;
};

vmesh_err vmesh_service_client_batch_init(vmesh_service_client *c, unsigned max_items)
{
    struct vmesh_service_batcher *b;

    if (c == NULL || max_items > SVC_BATCH_MAX)
        return vmesh_err_set(VMESH_ERR_ARG, "central verifier: a batch of %u appraisals: at most %d", max_items,
                             SVC_BATCH_MAX);
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->max_items = max_items ? max_items : BATCH_DEFAULT;
    vmesh_service_client_batch_free(c);
    c->batcher = b;
    return VMESH_OK;
}

void vmesh_service_client_batch_free(vmesh_service_client *c)
{
    if (c == NULL || c->batcher == NULL)
        return;
    pthread_mutex_destroy(&c->batcher->lock);
    pthread_cond_destroy(&c->batcher->cv);
    free(c->batcher);
    c->batcher = NULL;
}

void vmesh_service_client_batch_stats(const vmesh_service_client *c, uint64_t *batches, uint64_t *items)
{
    *batches = c != NULL && c->batcher != NULL ? atomic_load(&c->batcher->batches) : 0;
    *items = c != NULL && c->batcher != NULL ? atomic_load(&c->batcher->items) : 0;
}

static void bitem_fail(bitem *it, vmesh_err rc)
{
    it->rc = rc;
    snprintf(it->why, sizeof(it->why), "%s", vmesh_err_detail());
    it->result = BI_DONE;
}

static void bitems_fail(bitem **items, size_t n, vmesh_err rc)
{
    for (size_t i = 0; i < n; i++)
        bitem_fail(items[i], rc);
}

/* Answer i of a batch into its item, as appraise_at hands back a
 * one-request appraisal's answer. */
static void batch_answer(const attempt *t, const reply *r, bool asked_channel, const svc_batch_answer *a, bitem *it)
{
    attempt ti = *t;
    vmesh_err rc;

    ti.channel_key = it->channel_key;
    ti.channel = it->channel;
    vmesh_buf_reset(it->ear_jwt);
    rc = take_answer(&ti, r, asked_channel, a->status, a->text, a->text_len, " (in a batch)", it->ear_jwt);
    if (rc != VMESH_OK)
        bitem_fail(it, rc);
    else
        it->result = BI_DONE;
}

/* After a batch to URL idx that got no answer: the next appraisals start
 * at the next URL (the one-request path's failover goes on from there). */
static void batch_next_url(const vmesh_service_client *c, size_t idx, size_t nurl)
{
    if (nurl > 1)
        __atomic_store_n((size_t *)&c->last_good, (idx + 1) % nurl, __ATOMIC_RELAXED);
}

/* Sends items[0..n) as one batch to the replica that answered last. Each
 * item's result is DONE (answered, or failed with the batch: a timeout or
 * an answer that cannot be read) or ALONE (its caller sends it by itself:
 * the batch was not answered in a way that speaks for the appraisals). */
static void batch_send(const vmesh_service_client *c, bitem **items, size_t n)
{
    struct vmesh_service_batcher *b = c->batcher;
    size_t nurl = 1 + c->n_replicas, idx = __atomic_load_n(&c->last_good, __ATOMIC_RELAXED) % nurl;
    svc_batch_item wire[SVC_BATCH_MAX];
    svc_batch_answer ans[SVC_BATCH_MAX];
    vmesh_buf url = {0}, body = {0}, enc = {0};
    struct curl_slist *h = NULL, *tmp;
    vmesh_key *attested = NULL;
    char pin[80] = "", path[VMESH_SERVICE_MAX_ENDPOINT + 1];
    uint8_t id[16];
    bool asked_channel = true;
    long status = 0;
    attempt t;
    reply r;
    vmesh_err rc = VMESH_OK;
    const char *ct;

    /* unless answered (or failed with the batch), each is sent by itself */
    for (size_t i = 0; i < n; i++)
        items[i]->result = BI_ALONE;
    reply_init(&r);
    vmesh_buf_init(&url, URL_MAX);
    memset(&t, 0, sizeof(t));
    t.url = replica_url(c, idx);
    /* the share of the timeout the one-request path gives its first URL */
    t.deadline_ns = (int64_t)vmesh_time_mono_ns() +
                    (int64_t)(c->timeout_ms > 0 ? c->timeout_ms : 10000L) * 1000000 / (int64_t)nurl;
    /* the link as the one-request path has it: attested now, its pin; a
     * link that is refused, silent or being attested by another request:
     * one by one, from the next replica on (the one-request path's
     * failover, which judges each URL's link) */
    if (replica_link(c, idx, attempt_ms(&t), true, pin, sizeof(pin), &attested) != VMESH_OK) {
        batch_next_url(c, idx, nurl);
        goto out;
    }
    t.pin = pin;
    t.attested = attested;
    if (appraise_path(c, &t, path, sizeof(path)) != VMESH_OK || path[0] == '\0')
        goto out; /* no one-request appraisal: no batches either */
    for (size_t i = 0; i < n; i++) {
        memset(&wire[i], 0, sizeof(wire[i]));
        wire[i].nonce = items[i]->nonce;
        wire[i].nonce_len = items[i]->nonce_len;
        wire[i].media_type = items[i]->media_type;
        wire[i].media_type_len = strlen(items[i]->media_type);
        wire[i].evidence = items[i]->evidence;
        wire[i].evidence_len = items[i]->evidence_len;
        wire[i].peer = items[i]->peer;
        wire[i].peer_len = items[i]->peer != NULL ? strlen(items[i]->peer) : 0;
        asked_channel = asked_channel && items[i]->channel_key != NULL;
    }
    /* D51 over the batch: one key exported with the batch's id as context */
    asked_channel = asked_channel && t.attested != NULL && !c->signed_answers && strncasecmp(t.url, "https://", 8) == 0;
    if (vmesh_crypto_random(id, sizeof(id)) != VMESH_OK || svc_batch_request_encode(wire, n, &body) != VMESH_OK ||
        url_base(t.url, &url) != VMESH_OK || vmesh_buf_append(&url, SVC_BATCH_PATH "?batch=", strlen(SVC_BATCH_PATH) + 7) ||
        vmesh_b64url_encode(id, sizeof(id), &enc) != VMESH_OK || vmesh_buf_append(&url, enc.data, enc.len) ||
        vmesh_buf_terminate(&enc) != VMESH_OK ||
        (asked_channel && vmesh_buf_append(&url, "&answer=channel", 15) != VMESH_OK) ||
        vmesh_buf_terminate(&url) != VMESH_OK)
        goto out;
    if (asked_channel)
        r.export_ctx = (const char *)enc.data;
    h = curl_slist_append(NULL, "Accept: " SVC_BATCH_MT);
    tmp = h != NULL ? curl_slist_append(h, "Content-Type: " SVC_BATCH_MT) : NULL;
    if (tmp == NULL)
        goto out;
    h = tmp;
    rc = do_request(c, &t, "POST", (const char *)url.data, h, body.data, body.len, &status, &r);
    if (rc == VMESH_ERR_TIMEOUT && nurl == 1) {
        /* a slow verifier and no other: these appraisals fail (closed)
         * once, not twice */
        bitems_fail(items, n, rc);
        goto out;
    }
    if (rc != VMESH_OK) {
        /* unreachable or silent: one by one, from the next replica on
         * (the one-request path's failover) */
        int64_t now = (int64_t)vmesh_time_mono_ns(), last = atomic_load(&b->warned_ns);

        batch_next_url(c, idx, nurl);
        /* at most one line every 10 s: a dead verifier fails every batch */
        if ((last == 0 || now - last >= 10LL * 1000000000LL) && atomic_compare_exchange_strong(&b->warned_ns, &last, now))
            vmesh_log(VMESH_LOG_WARN, "central verifier %s: a batch of %zu failed, sending them one by one%s: %s",
                      t.url, n, nurl > 1 ? " from the next replica" : "", vmesh_err_detail());
        vmesh_err_clear();
        goto out;
    }
    if (status == 404 || status == 405 || status == 415) {
        pthread_mutex_lock(&b->lock);
        b->off_until_ns = (int64_t)vmesh_time_mono_ns() + BATCH_OFF_NS;
        pthread_mutex_unlock(&b->lock);
        vmesh_log(VMESH_LOG_INFO, "central verifier %s: %s answered %ld; one request per appraisal for %lld s",
                  t.url, SVC_BATCH_PATH, status, BATCH_OFF_NS / 1000000000LL);
        goto out;
    }
    if (status != 200)
        goto out; /* 429, 5xx: one by one, with the replicas' failover */
    ct = r.content_type.len > 0 ? (const char *)r.content_type.data : "";
    if (strncasecmp(ct, SVC_BATCH_MT, strlen(SVC_BATCH_MT)) != 0) {
        vmesh_err_set(VMESH_ERR_PARSE, "central verifier %s: the batch answer is %.100s, not %s", t.url,
                      ct[0] ? ct : "(no Content-Type)", SVC_BATCH_MT);
        bitems_fail(items, n, VMESH_ERR_PARSE);
        goto out;
    }
    if (svc_batch_response_decode(r.in.body.data, r.in.body.len, ans, n) != VMESH_OK) {
        vmesh_err_wrap(VMESH_ERR_PARSE, "central verifier %s", t.url);
        bitems_fail(items, n, VMESH_ERR_PARSE);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        batch_answer(&t, &r, asked_channel, &ans[i], items[i]);
    atomic_fetch_add(&b->batches, 1);
    atomic_fetch_add(&b->items, n);
out:
    vmesh_err_clear();
    curl_slist_free_all(h);
    reply_free(&r);
    vmesh_buf_free(&url);
    vmesh_buf_free(&body);
    vmesh_buf_free(&enc);
    vmesh_crypto_key_free(attested);
}

/* it waits in c's batcher until answered. The first waiting thread that
 * finds no sender becomes it: it sends what is queued (its own item among
 * it) in batches of at most max_items, and hands the role on once its own
 * item is answered. */
static void batch_wait(const vmesh_service_client *c, bitem *it)
{
    struct vmesh_service_batcher *b = c->batcher;
    bitem *take[SVC_BATCH_MAX];
    size_t n;

    pthread_mutex_lock(&b->lock);
    if (b->tail != NULL)
        b->tail->next = it;
    else
        b->head = it;
    b->tail = it;
    while (it->state != BI_DONE && it->state != BI_ALONE) {
        if (b->leader) {
            pthread_cond_wait(&b->cv, &b->lock);
            continue;
        }
        b->leader = true;
        while (b->head != NULL && it->state != BI_DONE && it->state != BI_ALONE) {
            size_t bytes = 0;

            for (n = 0; n < b->max_items && b->head != NULL; n++) {
                if (n > 0 && bytes + b->head->evidence_len > BATCH_BYTES)
                    break;
                bytes += b->head->evidence_len;
                take[n] = b->head;
                b->head = b->head->next;
            }
            if (b->head == NULL)
                b->tail = NULL;
            pthread_mutex_unlock(&b->lock);
            batch_send(c, take, n);
            pthread_mutex_lock(&b->lock);
            for (size_t i = 0; i < n; i++)
                take[i]->state = take[i]->result;
            pthread_cond_broadcast(&b->cv);
        }
        b->leader = false;
        pthread_cond_broadcast(&b->cv); /* a waiting item takes the role */
    }
    pthread_mutex_unlock(&b->lock);
}

vmesh_err vmesh_service_central_client(void *ctx, const char *media_type, const uint8_t *evidence,
                                       size_t evidence_len, const uint8_t *nonce, size_t nonce_len,
                                       const char *peer, vmesh_buf *ear_jwt, uint8_t *channel_key, bool *channel)
{
    const vmesh_service_client *c = ctx;
    bitem it;
    bool batch = false;

    if (channel != NULL)
        *channel = false;
    /* what the one-request path would refuse as an argument error goes
     * there, to be refused with its message */
    if (c != NULL && c->batcher != NULL && c->url != NULL && (c->n_replicas == 0 || c->replicas != NULL) &&
        media_type != NULL && evidence != NULL && evidence_len > 0 &&
        nonce_len >= VMESH_SERVICE_MIN_NONCE && nonce_len <= VMESH_SERVICE_MAX_NONCE &&
        strlen(media_type) <= VMESH_SERVICE_MAX_MT) {
        pthread_mutex_lock(&c->batcher->lock);
        batch = (int64_t)vmesh_time_mono_ns() >= c->batcher->off_until_ns;
        pthread_mutex_unlock(&c->batcher->lock);
    }
    if (batch) {
        memset(&it, 0, sizeof(it));
        it.media_type = media_type;
        it.evidence = evidence;
        it.evidence_len = evidence_len;
        it.nonce = nonce;
        it.nonce_len = nonce_len;
        it.peer = peer;
        it.ear_jwt = ear_jwt;
        it.channel_key = channel != NULL ? channel_key : NULL;
        it.channel = channel;
        pthread_once(&curl_once, curl_init);
        batch_wait(c, &it);
        if (it.state == BI_DONE) {
            if (it.rc != VMESH_OK)
                return vmesh_err_set(it.rc, "%s", it.why);
            return VMESH_OK;
        }
        if (channel != NULL)
            *channel = false;
    }
    return client_verify(ctx, media_type, evidence, evidence_len, nonce, nonce_len, NULL, 0, peer, false, ear_jwt,
                         channel != NULL ? channel_key : NULL, channel);
}
