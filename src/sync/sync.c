/*
 * The trust-bundle sync client (include/vmesh/sync.h, docs/BUNDLES.md):
 * polls RVPs' manifests, fetches and checks sets, keeps the last good state
 * on disk and installs one frozen RV store built from every RVP. It must
 * never install content whose manifest signature, epoch, size or digest did
 * not check out, never let an epoch go down (not even across a restart),
 * never take entries of a scheme from an RVP not trusted for it, and never
 * drop the last good snapshot because an RVP misbehaves or disappears.
 */
#include "vmesh/sync.h"
#include "vmesh/pki.h"
#include "vmesh/ccpki.h"
#include "vmesh/corim.h"
#include "vmesh/coserv.h"
#include "vmesh/psa.h"
#include "vmesh/verifier.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATH_LEN 4096
#define ETAG_LEN 128
#define URL_LEN 512
#define MAX_SCHEMES 16
#define FUTURE_LEEWAY 300
#define MAX_CLASSES 16 /* class ids one CoSERV source asks for */

typedef struct {
    char name[VMESH_RVP_NAME_MAX + 1]; /* configured or pinned from the first manifest */
    bool name_fixed;                    /* configured: the manifest must match */
    char url[URL_LEN];
    vmesh_key *key;
    char thumb[65];                     /* hex JWK thumbprint: the state file name */
    char *schemes[MAX_SCHEMES];
    size_t nschemes;                    /* 0: every scheme */
    CURL *curl;
    char etag[ETAG_LEN];                /* of the last manifest.jws received */
    char bell_etag[ETAG_LEN];           /* of the last bell.cwt accepted from it */
    bool etag_refused;                  /* ... and it was refused */
    vmesh_err refused_rc;
    vmesh_rvp_manifest cur;             /* the accepted manifest */
    bool have;
    bool loaded;                        /* rv/policy hold cur's content */
    vmesh_rv_store *rv;                 /* cur's entries of trusted schemes, no epochs */
    vmesh_policy *policy;
    vmesh_rvp_verifiers vs;             /* cur's verifier trust set (D40); n 0: none */
    vmesh_sync_rvp_status st;           /* under vmesh_sync.lock */
    /* A CoSERV provider (URL "coserv+http..."): two queries, reference
     * values and trust anchors of the configured classes, and the last
     * signed answer accepted for each (re-checked on a 304). */
    bool coserv;
    vmesh_buf queries[2];
    vmesh_buf answers[2];
    char q_etag[2][ETAG_LEN];
    char **scope;                       /* trust domains and SPIFFE ID prefixes; NULL: unscoped */
    size_t nscope;
} rvp_t;

#define SCOPE_CACHE 16

struct vmesh_sync {
    char *state_dir;
    int interval, jitter_pct, timeout;
    size_t max_set_size;
    vmesh_sync_snapshot_fn on_snapshot;
    void *ctx;
    vmesh_bell_view *bell;
    char *bell_url;
    CURL *bell_curl;
    char bell_etag[ETAG_LEN];
    rvp_t *rvps[VMESH_SYNC_MAX_RVPS];
    size_t n;
    pthread_mutex_t poll_lock; /* one load/poll at a time */
    pthread_mutex_t lock;      /* snapshot and status */
    vmesh_rv_store *snap;
    vmesh_policy *snap_policy;
    bool snap_stale;
    uint64_t snapshots;
    bool loaded;
    pthread_t thread;
    bool running, stopping;
    pthread_cond_t cond;
    /* Scoped providers, under lock: each RVP's sets as of the installed
     * snapshot, and unions built from them per set of RVPs (bit mask). */
    vmesh_rv_store *scope_rv[VMESH_SYNC_MAX_RVPS];
    uint64_t scope_epoch[VMESH_SYNC_MAX_RVPS];
    vmesh_rvp_verifiers snap_vs[VMESH_SYNC_MAX_RVPS]; /* each RVP's verifier trust set as installed */
    struct {
        uint64_t mask;
        vmesh_rv_store *rv;
    } scope_cache[SCOPE_CACHE];
    size_t nscope_cache;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *rname(const rvp_t *r)
{
    return r->name[0] ? r->name : r->url;
}

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct {
    vmesh_buf *body;
    size_t cap;
    bool too_big;
    char etag[ETAG_LEN];
} fetch_ctx;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    fetch_ctx *f = ud;
    size_t n = size * nmemb;

    /* Checked during the write, not after: a hostile server cannot make us
     * buffer more than the cap even without a Content-Length. */
    if (n > f->cap || f->body->len > f->cap - n) {
        f->too_big = true;
        return 0;
    }
    if (vmesh_buf_append(f->body, p, n) != VMESH_OK)
        return 0;
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    fetch_ctx *f = ud;
    size_t n = size * nmemb, i = 5, end;

    if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        end = n;
        while (end > i && (p[end - 1] == '\r' || p[end - 1] == '\n' || p[end - 1] == ' '))
            end--;
        if (end - i < ETAG_LEN) {
            memcpy(f->etag, p + i, end - i);
            f->etag[end - i] = '\0';
        }
    }
    return n;
}

/* GET url into body (reset). *status is 200 or 304 on success; anything
 * else is an error naming the URL. */
static vmesh_err http_get_accept(CURL *c, const char *url, const char *inm, size_t cap, int timeout, vmesh_buf *body,
                                 long *status, char etag[ETAG_LEN], const char *accept)
{
    vmesh_err rc = VMESH_OK;
    struct curl_slist *hdr = NULL;
    char line[ETAG_LEN + 32];
    fetch_ctx f = {.body = body, .cap = cap};
    CURLcode cc;

    vmesh_buf_reset(body);
    *status = 0;
    curl_easy_reset(c);
    if (inm != NULL && inm[0] != '\0') {
        snprintf(line, sizeof(line), "If-None-Match: %s", inm);
        hdr = curl_slist_append(NULL, line);
        VMESH_ENSURE(hdr != NULL, VMESH_ERR_NOMEM, "out of memory");
    }
    if (accept != NULL) {
        struct curl_slist *h2 = curl_slist_append(hdr, accept);
        VMESH_ENSURE(h2 != NULL, VMESH_ERR_NOMEM, "out of memory");
        hdr = h2;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(timeout < 5 ? timeout : 5));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &f);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vmesh-sync/" VMESH_VERSION_STRING);
    if (hdr)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    cc = curl_easy_perform(c);
    if (f.too_big || cc == CURLE_FILESIZE_EXCEEDED)
        VMESH_FAIL(VMESH_ERR_TOO_LARGE, "GET %s: the response is larger than %zu bytes", url, cap);
    VMESH_ENSURE(cc == CURLE_OK, cc == CURLE_OPERATION_TIMEDOUT ? VMESH_ERR_TIMEOUT : VMESH_ERR_IO, "GET %s: %s", url,
                 curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    VMESH_ENSURE(*status == 200 || *status == 304, VMESH_ERR_IO, "GET %s: HTTP status %ld", url, *status);
    if (etag)
        memcpy(etag, f.etag, ETAG_LEN);
out:
    curl_slist_free_all(hdr);
    return rc;
}

static vmesh_err http_get(CURL *c, const char *url, const char *inm, size_t cap, int timeout, vmesh_buf *body,
                          long *status, char etag[ETAG_LEN])
{
    return http_get_accept(c, url, inm, cap, timeout, body, status, etag, NULL);
}

/* ---- setup ------------------------------------------------------------------ */

vmesh_err vmesh_sync_new(const vmesh_sync_config *cfg, vmesh_sync **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_sync *s = NULL;
    pthread_condattr_t ca;

    *out = NULL;
    pthread_once(&curl_once, curl_init);
    VMESH_ENSURE(curl_init_rc == CURLE_OK, VMESH_ERR_IO, "libcurl initialisation failed");
    VMESH_ENSURE(cfg->state_dir != NULL && cfg->state_dir[0] != '\0', VMESH_ERR_ARG,
                 "the sync client needs a state directory (the last good snapshot lives there)");
    VMESH_ENSURE(cfg->interval >= 0 && cfg->interval <= 86400, VMESH_ERR_ARG, "interval must be 1..86400 seconds");
    VMESH_ENSURE(cfg->jitter_pct >= 0 && cfg->jitter_pct <= 50, VMESH_ERR_ARG, "jitter must be 0..50 percent");
    VMESH_ENSURE(cfg->timeout >= 0 && cfg->timeout <= 600, VMESH_ERR_ARG, "timeout must be 1..600 seconds");
    VMESH_ENSURE(cfg->max_set_size <= VMESH_RVP_SET_MAX, VMESH_ERR_ARG, "max_set_size is at most %zu",
                 VMESH_RVP_SET_MAX);
    s = calloc(1, sizeof(*s));
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->poll_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->state_dir = strdup(cfg->state_dir);
    s->bell_url = cfg->bell_url ? strdup(cfg->bell_url) : NULL;
    VMESH_ENSURE(s->state_dir != NULL && (cfg->bell_url == NULL || s->bell_url != NULL), VMESH_ERR_NOMEM,
                 "out of memory");
    s->interval = cfg->interval ? cfg->interval : 30;
    s->jitter_pct = cfg->jitter_pct ? cfg->jitter_pct : 10;
    s->timeout = cfg->timeout ? cfg->timeout : 10;
    s->max_set_size = cfg->max_set_size ? cfg->max_set_size : VMESH_RVP_SET_MAX;
    s->on_snapshot = cfg->on_snapshot;
    s->ctx = cfg->ctx;
    s->bell = cfg->bell;
    *out = s;
    s = NULL;
out:
    vmesh_sync_free(s);
    return rc;
}

static void rvp_free(rvp_t *r)
{
    if (r == NULL)
        return;
    vmesh_crypto_key_free(r->key);
    for (size_t i = 0; i < r->nschemes; i++)
        free(r->schemes[i]);
    if (r->curl)
        curl_easy_cleanup(r->curl);
    vmesh_rvp_manifest_free(&r->cur);
    vmesh_rv_store_free(r->rv);
    vmesh_policy_free(r->policy);
    vmesh_rvp_verifiers_free(&r->vs);
    for (size_t i = 0; i < 2; i++) {
        vmesh_buf_free(&r->queries[i]);
        vmesh_buf_free(&r->answers[i]);
    }
    for (size_t i = 0; i < r->nscope; i++)
        free(r->scope[i]);
    free(r->scope);
    free(r);
}

static void scope_cache_drop(vmesh_sync *s)
{
    for (size_t i = 0; i < s->nscope_cache; i++)
        vmesh_rv_store_free(s->scope_cache[i].rv);
    s->nscope_cache = 0;
}

void vmesh_sync_free(vmesh_sync *s)
{
    if (s == NULL)
        return;
    vmesh_sync_stop(s);
    for (size_t i = 0; i < s->n; i++)
        rvp_free(s->rvps[i]);
    if (s->bell_curl)
        curl_easy_cleanup(s->bell_curl);
    vmesh_rv_store_free(s->snap);
    vmesh_policy_free(s->snap_policy);
    scope_cache_drop(s);
    for (size_t i = 0; i < VMESH_SYNC_MAX_RVPS; i++) {
        vmesh_rv_store_free(s->scope_rv[i]);
        vmesh_rvp_verifiers_free(&s->snap_vs[i]);
    }
    free(s->state_dir);
    free(s->bell_url);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->poll_lock);
    free(s);
}

static bool scheme_name_ok(const char *p, size_t n)
{
    if (n == 0 || n > VMESH_RV_MAX_SCHEME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
            return false;
    return true;
}

static vmesh_err parse_schemes(rvp_t *r, const char *list)
{
    const char *p = list;

    while (p != NULL && *p != '\0') {
        const char *plus = strchr(p, '+');
        size_t n = plus ? (size_t)(plus - p) : strlen(p);
        if (!scheme_name_ok(p, n))
            return vmesh_err_set(VMESH_ERR_ARG, "scheme list \"%s\": names are [a-z0-9-] joined by '+'", list);
        if (r->nschemes == MAX_SCHEMES)
            return vmesh_err_set(VMESH_ERR_ARG, "scheme list \"%s\": at most %d schemes", list, MAX_SCHEMES);
        r->schemes[r->nschemes] = strndup(p, n);
        if (r->schemes[r->nschemes] == NULL)
            return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
        r->nschemes++;
        p = plus ? plus + 1 : NULL;
    }
    return VMESH_OK;
}

static bool trusted_for(const rvp_t *r, const char *scheme)
{
    if (r->nschemes == 0)
        return true;
    for (size_t i = 0; i < r->nschemes; i++)
        if (strcmp(r->schemes[i], scheme) == 0)
            return true;
    return false;
}

/* A CoSERV source: one scheme, 1..MAX_CLASSES class ids (hex, '+'-separated);
 * its two queries (reference values, trust anchors) are built once. */
static vmesh_err coserv_queries(rvp_t *r, const vmesh_sync_rvp *cfg)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf ids[MAX_CLASSES];
    const uint8_t *p[MAX_CLASSES];
    size_t lens[MAX_CLASSES], n = 0;
    const char *c = cfg->coserv_classes;

    memset(ids, 0, sizeof(ids));
    VMESH_ENSURE(cfg->name != NULL, VMESH_ERR_ARG, "CoSERV provider %s needs a name (NAME,URL,...)", cfg->url);
    VMESH_ENSURE(r->nschemes == 1, VMESH_ERR_ARG,
                 "CoSERV provider %s: name exactly one scheme (its profile is tag:vmesh.dev,2026:<scheme>)", cfg->url);
    while (*c != '\0') {
        size_t len = strcspn(c, "+");
        VMESH_ENSURE(n < MAX_CLASSES, VMESH_ERR_ARG, "CoSERV provider %s: at most %d class ids", cfg->url,
                     MAX_CLASSES);
        rc = vmesh_hex_decode(c, len, &ids[n]);
        if (rc != VMESH_OK || ids[n].len == 0 || ids[n].len > VMESH_RV_MAX_ID) {
            rc = vmesh_err_set(VMESH_ERR_ARG, "CoSERV provider %s: class id \"%.*s\" is not 1..%d bytes of hex",
                               cfg->url, (int)len, c, VMESH_RV_MAX_ID);
            goto out;
        }
        p[n] = ids[n].data;
        lens[n] = ids[n].len;
        n++;
        c += len + (c[len] == '+');
    }
    VMESH_ENSURE(n > 0, VMESH_ERR_ARG, "CoSERV provider %s: no class id", cfg->url);
    VMESH_GUARD(vmesh_coserv_class_query(r->schemes[0], VMESH_COSERV_REFERENCE_VALUES, p, lens, n, &r->queries[0]));
    VMESH_GUARD(vmesh_coserv_class_query(r->schemes[0], VMESH_COSERV_TRUST_ANCHORS, p, lens, n, &r->queries[1]));
out:
    for (size_t i = 0; i < MAX_CLASSES; i++)
        vmesh_buf_free(&ids[i]);
    return rc;
}

vmesh_err vmesh_sync_add_rvp(vmesh_sync *s, const vmesh_sync_rvp *cfg)
{
    vmesh_err rc = VMESH_OK;
    rvp_t *r = NULL;
    const char *url;
    bool coserv;
    uint8_t th[32];
    size_t ul;
    vmesh_buf hex = {0};

    VMESH_ENSURE(!s->running, VMESH_ERR_STATE, "add RVPs before vmesh_sync_start");
    VMESH_ENSURE(s->n < VMESH_SYNC_MAX_RVPS, VMESH_ERR_TOO_LARGE, "at most %d RVPs", VMESH_SYNC_MAX_RVPS);
    VMESH_ENSURE(cfg->url != NULL && cfg->key != NULL, VMESH_ERR_ARG, "an RVP needs a URL and a key");
    coserv = strncmp(cfg->url, VMESH_SYNC_COSERV_PREFIX, strlen(VMESH_SYNC_COSERV_PREFIX)) == 0;
    url = coserv ? cfg->url + strlen(VMESH_SYNC_COSERV_PREFIX) : cfg->url;
    VMESH_ENSURE(strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0, VMESH_ERR_ARG,
                 "RVP URL \"%s\" must start with http://, https:// or coserv+http(s)://", cfg->url);
    ul = strlen(url);
    while (ul > 0 && url[ul - 1] == '/')
        ul--;
    VMESH_ENSURE(ul < URL_LEN - 80, VMESH_ERR_ARG, "RVP URL longer than %d bytes", URL_LEN - 80);
    VMESH_ENSURE(coserv == (cfg->coserv_classes != NULL), VMESH_ERR_ARG,
                 coserv ? "CoSERV provider %s: name the class ids to ask for (hex, '+'-separated)"
                        : "RVP %s: class ids are for CoSERV providers (URL coserv+http://...)",
                 cfg->url);
    r = calloc(1, sizeof(*r));
    VMESH_ENSURE(r != NULL, VMESH_ERR_NOMEM, "out of memory");
    memcpy(r->url, url, ul);
    r->coserv = coserv;
    if (cfg->name != NULL) {
        size_t nl = strlen(cfg->name);
        VMESH_ENSURE(nl > 0 && nl <= VMESH_RVP_NAME_MAX, VMESH_ERR_ARG, "RVP name must be 1..%d characters",
                     VMESH_RVP_NAME_MAX);
        memcpy(r->name, cfg->name, nl);
        r->name_fixed = true;
    }
    r->key = vmesh_crypto_key_ref(cfg->key);
    VMESH_GUARD(parse_schemes(r, cfg->schemes));
    if (coserv)
        VMESH_GUARD(coserv_queries(r, cfg));
    VMESH_GUARD(vmesh_crypto_key_thumbprint(r->key, th));
    VMESH_GUARD(vmesh_hex_encode(th, 32, &hex));
    memcpy(r->thumb, hex.data, 64);
    for (size_t i = 0; i < s->n; i++) {
        VMESH_ENSURE(strcmp(s->rvps[i]->thumb, r->thumb) != 0, VMESH_ERR_ARG,
                     "RVP %s uses the same key as RVP %s: one key, one RVP", cfg->url, rname(s->rvps[i]));
        VMESH_ENSURE(!r->name_fixed || strcmp(s->rvps[i]->name, r->name) != 0, VMESH_ERR_ARG,
                     "two RVPs named \"%s\"", r->name);
    }
    r->curl = curl_easy_init();
    VMESH_ENSURE(r->curl != NULL, VMESH_ERR_NOMEM, "curl_easy_init failed");
    snprintf(r->st.url, sizeof(r->st.url), "%s", r->url);
    memcpy(r->st.name, r->name, sizeof(r->st.name));
    s->rvps[s->n++] = r;
    r = NULL;
out:
    vmesh_buf_free(&hex);
    rvp_free(r);
    return rc;
}

vmesh_err vmesh_sync_add_rvp_spec(vmesh_sync *s, const char *spec)
{
    vmesh_err rc = VMESH_OK;
    char *copy = NULL, *f[4] = {0}, *jwk = NULL;
    size_t nf = 0;
    vmesh_key *key = NULL;
    vmesh_sync_rvp r = {0};
    char *brace, *p;

    copy = strdup(spec);
    VMESH_ENSURE(copy != NULL, VMESH_ERR_NOMEM, "out of memory");
    brace = strchr(copy, '{');
    if (brace != NULL) {
        char *close = strrchr(brace, '}');
        VMESH_ENSURE(close != NULL && brace > copy && brace[-1] == ',', VMESH_ERR_ARG,
                     "RVP \"%s\": an inline JWK must be a whole field: URL,{...}", spec);
        jwk = brace;
        brace[-1] = '\0';
        p = close + 1;
        VMESH_ENSURE(*p == '\0' || *p == ',', VMESH_ERR_ARG, "RVP \"%s\": unexpected text after the JWK", spec);
        if (*p == ',')
            r.schemes = p + 1;
        *p = '\0';
    }
    if (jwk == NULL && strstr(copy, "," VMESH_SYNC_COSERV_PREFIX) != NULL) {
        /* NAME,coserv+URL,KEY,SCHEME,CLASS[+CLASS...] */
        char *g[5] = {0};
        size_t ng = 0;
        for (p = copy; ng < 5;) {
            char *comma = strchr(p, ',');
            g[ng++] = p;
            if (comma == NULL)
                break;
            *comma = '\0';
            p = comma + 1;
        }
        VMESH_ENSURE(ng == 5 && strchr(g[4], ',') == NULL, VMESH_ERR_ARG,
                     "CoSERV provider \"%s\": expected NAME,coserv+URL,KEY,SCHEME,CLASSHEX[+CLASSHEX...]", spec);
        r.name = g[0];
        r.url = g[1];
        r.schemes = g[3];
        r.coserv_classes = g[4];
        rc = vmesh_crypto_key_load(g[2], &key);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "CoSERV provider \"%s\": reading its key", spec);
            goto out;
        }
        r.key = key;
        VMESH_GUARD(vmesh_sync_add_rvp(s, &r));
        goto out;
    }
    for (p = copy; nf < 4;) {
        char *comma = strchr(p, ',');
        f[nf++] = p;
        if (comma == NULL)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    VMESH_ENSURE(nf < 4 || strchr(f[3], ',') == NULL, VMESH_ERR_ARG, "RVP \"%s\": too many fields", spec);
    if (jwk != NULL) {
        /* URL,{jwk}[,schemes] or NAME,URL,{jwk}[,schemes] */
        VMESH_ENSURE(nf == 1 || nf == 2, VMESH_ERR_ARG, "RVP \"%s\": expected [NAME,]URL,{jwk}[,schemes]", spec);
        r.name = nf == 2 ? f[0] : NULL;
        r.url = f[nf - 1];
        VMESH_GUARD(vmesh_crypto_key_from_jwk(jwk, strlen(jwk), &key));
    } else {
        bool url_first = nf >= 1 && strstr(f[0], "://") != NULL;
        VMESH_ENSURE(nf >= 2, VMESH_ERR_ARG, "RVP \"%s\": expected URL,KEY or NAME,URL,KEY[,scheme1+scheme2]", spec);
        VMESH_ENSURE(url_first ? nf <= 3 : nf >= 3, VMESH_ERR_ARG,
                     "RVP \"%s\": expected URL,KEY[,schemes] or NAME,URL,KEY[,schemes]", spec);
        r.name = url_first ? NULL : f[0];
        r.url = url_first ? f[0] : f[1];
        r.schemes = url_first ? (nf == 3 ? f[2] : NULL) : (nf == 4 ? f[3] : NULL);
        VMESH_ENSURE(strncmp(r.url, "http://", 7) == 0 || strncmp(r.url, "https://", 8) == 0, VMESH_ERR_ARG,
                     "RVP \"%s\": the URL must start with http:// or https://", spec);
        rc = vmesh_crypto_key_load(url_first ? f[1] : f[2], &key);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "RVP \"%s\": reading its key", spec);
            goto out;
        }
    }
    r.key = key;
    VMESH_GUARD(vmesh_sync_add_rvp(s, &r));
out:
    vmesh_crypto_key_free(key);
    free(copy);
    return rc;
}

/* ---- state on disk --------------------------------------------------------- */

static vmesh_err state_path(const vmesh_sync *s, char *out, const char *a, const char *b)
{
    if (snprintf(out, PATH_LEN, "%s/%s%s", s->state_dir, a, b) >= PATH_LEN)
        return vmesh_err_set(VMESH_ERR_ARG, "state path too long under %s", s->state_dir);
    return VMESH_OK;
}

/* The last accepted manifest of an RVP: rvp/<key thumbprint>.jws. */
static vmesh_err manifest_path(const vmesh_sync *s, const rvp_t *r, char *out)
{
    if (snprintf(out, PATH_LEN, "%s/rvp/%s.jws", s->state_dir, r->thumb) >= PATH_LEN)
        return vmesh_err_set(VMESH_ERR_ARG, "state path too long under %s", s->state_dir);
    return VMESH_OK;
}

static vmesh_err ensure_dirs(const vmesh_sync *s)
{
    vmesh_err rc = VMESH_OK;
    char p[PATH_LEN];

    VMESH_ENSURE(mkdir(s->state_dir, 0700) == 0 || errno == EEXIST, VMESH_ERR_IO, "cannot create %s: %s",
                 s->state_dir, strerror(errno));
    VMESH_GUARD(state_path(s, p, "sets", ""));
    VMESH_ENSURE(mkdir(p, 0700) == 0 || errno == EEXIST, VMESH_ERR_IO, "cannot create %s: %s", p, strerror(errno));
    VMESH_GUARD(state_path(s, p, "rvp", ""));
    VMESH_ENSURE(mkdir(p, 0700) == 0 || errno == EEXIST, VMESH_ERR_IO, "cannot create %s: %s", p, strerror(errno));
out:
    return rc;
}

/* Removes cached sets that no accepted manifest names. */
static void collect_sets(vmesh_sync *s)
{
    char dir[PATH_LEN], p[PATH_LEN];
    DIR *d;
    struct dirent *e;

    if (state_path(s, dir, "sets", "") != VMESH_OK || (d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        bool used = false;
        if (e->d_name[0] == '.')
            continue;
        for (size_t i = 0; i < s->n && !used; i++)
            for (size_t j = 0; s->rvps[i]->have && j < s->rvps[i]->cur.nsets && !used; j++)
                used = strcmp(s->rvps[i]->cur.sets[j].path + 5, e->d_name) == 0;
        if (!used && snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < (int)sizeof(p))
            (void)unlink(p);
    }
    closedir(d);
}

static void hex32(const uint8_t d[32], char out[65])
{
    static const char hx[] = "0123456789abcdef";

    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[64] = '\0';
}

/* One set's bytes: from the cache when intact, else (fetch) from the RVP.
 * Either way size and digest are checked against the manifest. */
static vmesh_err get_set(vmesh_sync *s, rvp_t *r, const vmesh_rvp_set *set, bool fetch, vmesh_buf *data)
{
    vmesh_err rc = VMESH_OK;
    char path[PATH_LEN], url[URL_LEN + 80], got[65];
    uint8_t d[32];
    long status;

    VMESH_GUARD(state_path(s, path, "", set->path));
    VMESH_ENSURE(set->size <= s->max_set_size, VMESH_ERR_TOO_LARGE,
                 "set %s is %llu bytes, this client accepts at most %zu", set->path, (unsigned long long)set->size,
                 s->max_set_size);
    if (vmesh_file_read(path, (size_t)set->size, data) == VMESH_OK && data->len == set->size) {
        vmesh_crypto_sha256(data->data, data->len, d);
        if (memcmp(d, set->sha256, 32) == 0)
            goto out;
        vmesh_log(VMESH_LOG_WARN, "rvp %s: cached %s is corrupt; fetching it again", rname(r), path);
    }
    vmesh_err_clear();
    (void)unlink(path);
    VMESH_ENSURE(fetch, VMESH_ERR_NOT_FOUND, "set %s is not in the cache %s", set->path, path);
    snprintf(url, sizeof(url), "%s/%s", r->url, set->path);
    rc = http_get(r->curl, url, NULL, (size_t)set->size, s->timeout, data, &status, NULL);
    if (rc == VMESH_ERR_TOO_LARGE) {
        rc = vmesh_err_set(VMESH_ERR_MISMATCH, "set %s is larger than the %llu bytes the manifest says", set->path,
                           (unsigned long long)set->size);
        goto out;
    }
    VMESH_GUARD(rc);
    VMESH_ENSURE(status == 200, VMESH_ERR_IO, "GET %s: HTTP status %ld", url, status);
    VMESH_ENSURE(data->len == set->size, VMESH_ERR_MISMATCH,
                 "set %s is %zu bytes, the manifest says %llu (truncated?)", set->path, data->len,
                 (unsigned long long)set->size);
    vmesh_crypto_sha256(data->data, data->len, d);
    hex32(d, got);
    VMESH_ENSURE(vmesh_crypto_memeq(d, set->sha256, 32), VMESH_ERR_MISMATCH,
                 "set %s digest mismatch: its bytes hash to %s", set->path, got);
    VMESH_GUARD(vmesh_file_write(path, data->data, data->len, 0600));
out:
    return rc;
}

/* Copies the entries of src whose scheme r is trusted for into dst
 * (epochs a document may carry are not copied: the manifest is the only
 * source of an RVP's epoch). */
static vmesh_err take_entries(rvp_t *r, vmesh_rv_store *dst, const vmesh_rv_store *src, const vmesh_rvp_set *set)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_entry e;
    const char *refused = NULL;
    size_t nrefused = 0;

    for (size_t i = 0; vmesh_rv_entry_at(src, i, &e); i++) {
        if (!trusted_for(r, e.env.scheme)) {
            if (refused == NULL)
                refused = e.env.scheme;
            nrefused++;
            continue;
        }
        switch (e.kind) {
        case VMESH_RV_MEASUREMENT: VMESH_GUARD(vmesh_rv_add_measurement(dst, &e.env, e.m)); break;
        case VMESH_RV_KEY: VMESH_GUARD(vmesh_rv_add_key(dst, &e.env, e.key)); break;
        case VMESH_RV_ATTR: VMESH_GUARD(vmesh_rv_add_attr(dst, &e.env, e.attr_name, e.attr_value)); break;
        }
    }
    if (nrefused > 0)
        vmesh_log(VMESH_LOG_WARN,
                  "rvp %s: %s (%s): %zu entries refused (e.g. scheme \"%s\"): this RVP is not trusted for it",
                  rname(r), set->path, vmesh_rvp_set_kind_name(set->kind), nrefused, refused);
out:
    return rc;
}

/* A trust-anchor set into st: each '+'-separated scheme of set->scheme
 * that trust-anchor sets serve (vmesh_rvp_ta_scheme_ok); others are
 * skipped with a log line. */
static vmesh_err load_ta_set(rvp_t *r, vmesh_rv_store *st, const vmesh_rvp_set *set, const vmesh_buf *data)
{
    vmesh_err rc = VMESH_OK;
    const char *p = set->scheme;

    while (*p != '\0') {
        char name[VMESH_RVP_SCHEME_MAX + 1];
        size_t n = strcspn(p, "+");

        memcpy(name, p, n);
        name[n] = '\0';
        p += n + (p[n] == '+');
        if (!vmesh_rvp_ta_scheme_ok(name)) {
            vmesh_log(VMESH_LOG_WARN, "rvp %s: %s (trust-anchor) names scheme \"%s\", which takes no trust-anchor "
                      "sets: ignored", rname(r), set->path, name);
            continue;
        }
        rc = vmesh_ccpki_ta_load(st, name, data->data, data->len, set->path);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "rvp %s: trust-anchor set %s", rname(r), set->path);
            goto out;
        }
    }
out:
    return rc;
}

/* Builds an RVP's content from manifest m: every set fetched or read from
 * the cache, checked, parsed. All or nothing. */
static vmesh_err build_rvp(vmesh_sync *s, rvp_t *r, const vmesh_rvp_manifest *m, bool fetch, vmesh_rv_store **rv_out,
                           vmesh_policy **pol_out, vmesh_rvp_verifiers *vs_out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *rv = NULL, *scratch = NULL;
    vmesh_policy *pol = NULL, *p2 = NULL;
    vmesh_buf data = {0};
    vmesh_rvp_verifiers vs = {0};

    *rv_out = NULL;
    *pol_out = NULL;
    memset(vs_out, 0, sizeof(*vs_out));
    VMESH_GUARD(vmesh_rv_store_new(&rv));
    for (size_t i = 0; i < m->nsets; i++) {
        const vmesh_rvp_set *set = &m->sets[i];
        VMESH_GUARD(get_set(s, r, set, fetch, &data));
        switch (set->kind) {
        case VMESH_SET_CORIM:
        case VMESH_SET_RV_JSON:
            VMESH_GUARD(vmesh_rv_store_new(&scratch));
            /* The manifest signature and the digest authenticate these bytes;
             * an inner CoRIM signature is not checked again here. */
            if (set->kind == VMESH_SET_CORIM)
                VMESH_GUARD(vmesh_corim_load(scratch, data.data, data.len, NULL, VMESH_CORIM_ALLOW_UNVERIFIED,
                                             vmesh_psa_corim_profiles, set->path, NULL));
            else
                VMESH_GUARD(vmesh_rv_load_json(scratch, data.data, data.len, set->path));
            VMESH_GUARD(take_entries(r, rv, scratch, set));
            vmesh_rv_store_free(scratch);
            scratch = NULL;
            break;
        case VMESH_SET_POLICY:
            if (strcmp(set->media_type, VMESH_RVP_POLICY_MEDIA_TYPE) != 0)
                break; /* verifier policies: cached for whoever reads them */
            VMESH_GUARD(vmesh_policy_parse(data.data, data.len, set->path, &p2));
            if (pol == NULL) {
                pol = p2;
            } else {
                vmesh_log(VMESH_LOG_WARN, "rvp %s: epoch %llu has more than one RP policy; using the first",
                          rname(r), (unsigned long long)m->epoch);
                vmesh_policy_free(p2);
            }
            p2 = NULL;
            break;
        case VMESH_SET_TRUST_ANCHOR:
            /* Scheme "": not scheme-specific, cached only. Otherwise into
             * each named scheme's environment, as `vmesh appraise --ta`
             * would, then filtered like any entry by the schemes this RVP
             * is trusted for. */
            if (set->scheme[0] == '\0' && strcmp(set->media_type, VMESH_RVP_VERIFIERS_MEDIA_TYPE) == 0) {
                /* The verifier trust set (D40): parsed here, so a bad one
                 * refuses the whole epoch and the last good one stays. */
                VMESH_ENSURE(vs.n == 0, VMESH_ERR_PARSE,
                             "epoch %llu names two verifier trust sets (a bundle carries one)",
                             (unsigned long long)m->epoch);
                VMESH_GUARD(vmesh_rvp_verifiers_parse(data.data, data.len, set->path, &vs));
                break;
            }
            if (set->scheme[0] == '\0')
                break;
            VMESH_GUARD(vmesh_rv_store_new(&scratch));
            VMESH_GUARD(load_ta_set(r, scratch, set, &data));
            VMESH_GUARD(take_entries(r, rv, scratch, set));
            vmesh_rv_store_free(scratch);
            scratch = NULL;
            break;
        }
        vmesh_buf_free(&data);
    }
    *rv_out = rv;
    *pol_out = pol;
    *vs_out = vs;
    memset(&vs, 0, sizeof(vs));
    rv = NULL;
    pol = NULL;
out:
    vmesh_rvp_verifiers_free(&vs);
    vmesh_buf_free(&data);
    vmesh_rv_store_free(scratch);
    vmesh_rv_store_free(rv);
    vmesh_policy_free(pol);
    vmesh_policy_free(p2);
    return rc;
}

/* ---- snapshots ------------------------------------------------------------- */

static bool any_stale(vmesh_sync *s, int64_t now)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->rvps[i]->have && s->rvps[i]->loaded && now >= s->rvps[i]->cur.expires_at)
            return true;
    return false;
}

static vmesh_err install(vmesh_sync *s, int64_t now)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *st = NULL, *old = NULL;
    vmesh_policy *pol = NULL, *oldp = NULL;
    bool stale = any_stale(s, now), some = false;

    VMESH_GUARD(vmesh_rv_store_new(&st));
    for (size_t i = 0; i < s->n; i++) {
        rvp_t *r = s->rvps[i];
        if (!r->have || !r->loaded)
            continue;
        some = true;
        VMESH_GUARD(vmesh_rv_store_merge(st, r->rv));
        VMESH_GUARD(vmesh_rv_set_epoch(st, r->name, r->cur.epoch));
        if (pol == NULL && r->policy != NULL)
            pol = vmesh_policy_ref(r->policy);
        else if (r->policy != NULL)
            vmesh_log(VMESH_LOG_WARN, "rvp %s also publishes an RP policy; the first RVP's policy is used",
                      rname(r));
    }
    if (!some)
        goto out;
    VMESH_GUARD(vmesh_rv_store_set_stale(st, stale));
    if (stale)
        vmesh_log(VMESH_LOG_WARN, "trust bundle is stale (a manifest is past its expires_at): results will carry a "
                                  "sourced-data warning");
    vmesh_rv_store_freeze(st);
    pthread_mutex_lock(&s->lock);
    old = s->snap;
    oldp = s->snap_policy;
    s->snap = vmesh_rv_store_ref(st);
    s->snap_policy = pol ? vmesh_policy_ref(pol) : NULL;
    s->snap_stale = stale;
    s->snapshots++;
    scope_cache_drop(s);
    for (size_t i = 0; i < s->n; i++) {
        rvp_t *r = s->rvps[i];
        vmesh_rv_store_free(s->scope_rv[i]);
        s->scope_rv[i] = r->have && r->loaded && r->rv != NULL ? vmesh_rv_store_ref(r->rv) : NULL;
        s->scope_epoch[i] = r->have ? r->cur.epoch : 0;
        vmesh_rvp_verifiers_free(&s->snap_vs[i]);
        if (r->have && r->loaded && vmesh_rvp_verifiers_copy(&s->snap_vs[i], &r->vs) != VMESH_OK)
            vmesh_log(VMESH_LOG_ERROR, "rvp %s: out of memory copying its verifier trust set: none installed",
                      rname(r));
    }
    pthread_mutex_unlock(&s->lock);
    if (s->on_snapshot)
        s->on_snapshot(s->ctx, st, pol);
out:
    vmesh_rv_store_free(old);
    vmesh_policy_free(oldp);
    vmesh_rv_store_free(st);
    vmesh_policy_free(pol);
    return rc;
}

static void set_status(vmesh_sync *s, rvp_t *r, const char *err)
{
    pthread_mutex_lock(&s->lock);
    memcpy(r->st.name, r->name, sizeof(r->st.name));
    r->st.epoch = r->have ? r->cur.epoch : 0;
    r->st.expires_at = r->have ? r->cur.expires_at : 0;
    r->st.stale = r->have && vmesh_time_now() >= r->cur.expires_at;
    r->st.sets = r->have ? r->cur.nsets : 0;
    {
        /* Cut, not overflow: a long detail keeps its beginning. */
        size_t n = err ? strnlen(err, sizeof(r->st.last_error) - 1) : 0;
        if (n)
            memcpy(r->st.last_error, err, n);
        r->st.last_error[n] = '\0';
    }
    pthread_mutex_unlock(&s->lock);
}

/* The outcome of one poll of r (err NULL: good). Logs the loss once and the
 * recovery once: a failing RVP is not a line per poll. */
static void polled(vmesh_sync *s, rvp_t *r, const char *err)
{
    int64_t now = vmesh_time_now();
    uint64_t failed = 0;
    int64_t since = 0;

    pthread_mutex_lock(&s->lock);
    if (err == NULL) {
        failed = r->st.consecutive_failures;
        since = r->st.failing_since;
        r->st.consecutive_failures = 0;
        r->st.failing_since = 0;
        r->st.last_success_at = now;
    } else {
        if (r->st.consecutive_failures++ == 0)
            r->st.failing_since = now;
    }
    pthread_mutex_unlock(&s->lock);
    set_status(s, r, err);
    if (failed > 0)
        vmesh_log(VMESH_LOG_INFO, "rvp %s: recovered after %llu failed polls (%lld s); epoch %llu", rname(r),
                  (unsigned long long)failed, (long long)(now - since),
                  (unsigned long long)(r->have ? r->cur.epoch : 0));
}

static void count(vmesh_sync *s, uint64_t *field)
{
    pthread_mutex_lock(&s->lock);
    (*field)++;
    pthread_mutex_unlock(&s->lock);
}

/* Accepts m (verified, checked) as r's current manifest. */
static vmesh_err commit(vmesh_sync *s, rvp_t *r, vmesh_rvp_manifest *m, const vmesh_buf *jws, vmesh_rv_store *rv,
                        vmesh_policy *pol, vmesh_rvp_verifiers *vs, bool persist)
{
    vmesh_err rc = VMESH_OK;
    char path[PATH_LEN];

    if (persist) {
        VMESH_GUARD(manifest_path(s, r, path));
        VMESH_GUARD(vmesh_file_write(path, jws->data, jws->len, 0600));
    }
    vmesh_rvp_manifest_free(&r->cur);
    r->cur = *m;
    memset(m, 0, sizeof(*m));
    r->have = true;
    if (rv != NULL || pol != NULL || !r->loaded) {
        vmesh_rv_store_free(r->rv);
        vmesh_policy_free(r->policy);
        vmesh_rvp_verifiers_free(&r->vs);
        r->rv = rv;
        r->policy = pol;
        r->loaded = rv != NULL;
        if (vs != NULL) {
            r->vs = *vs;
            memset(vs, 0, sizeof(*vs));
        }
    }
    if (!r->name_fixed && r->name[0] == '\0')
        memcpy(r->name, r->cur.rvp, sizeof(r->name));
out:
    return rc;
}

static vmesh_err refuse(vmesh_sync *s, rvp_t *r, vmesh_err e, const char *fmt, ...) VMESH_PRINTF(4, 5);
static vmesh_err refuse(vmesh_sync *s, rvp_t *r, vmesh_err e, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vmesh_log(VMESH_LOG_WARN, "rvp %s: %s", rname(r), msg);
    count(s, &r->st.refusals);
    polled(s, r, msg);
    return vmesh_err_set(e, "rvp %s: %s", rname(r), msg);
}

static vmesh_err name_check(const rvp_t *r, const vmesh_rvp_manifest *m)
{
    if (r->name[0] != '\0' && strcmp(m->rvp, r->name) != 0)
        return vmesh_err_set(VMESH_ERR_MISMATCH, "the manifest is from rvp \"%s\", expected \"%s\"", m->rvp,
                             r->name);
    return VMESH_OK;
}

static void keeping(const rvp_t *r, char *out, size_t n)
{
    if (r->have)
        snprintf(out, n, "; keeping epoch %llu", (unsigned long long)r->cur.epoch);
    else
        snprintf(out, n, "; no epoch accepted yet");
}

/* A refused CoSERV answer: counted and reported each poll, logged once
 * while it stays the same (like a refused manifest's 304s). */
static vmesh_err coserv_refuse(vmesh_sync *s, rvp_t *r, vmesh_err e, const char *msg)
{
    bool again;

    pthread_mutex_lock(&s->lock);
    again = r->st.consecutive_failures > 0 && strncmp(r->st.last_error, msg, sizeof(r->st.last_error) - 1) == 0;
    pthread_mutex_unlock(&s->lock);
    vmesh_log(again ? VMESH_LOG_DEBUG : VMESH_LOG_WARN, "rvp %s: %s", rname(r), msg);
    count(s, &r->st.refusals);
    polled(s, r, msg);
    return vmesh_err_set(e, "rvp %s: %s", rname(r), msg);
}

/* One poll of a CoSERV provider: both queries, each answer verified
 * (signed by the provider key, answering exactly the query, not expired)
 * and loaded; all or nothing, the last good content kept otherwise. A 304
 * re-checks the answer kept for that query (its expiry too). */
static vmesh_err poll_coserv(vmesh_sync *s, rvp_t *r, int64_t now, bool *changed)
{
    static const char *what[2] = {"reference values", "trust anchors"};
    vmesh_err rc = VMESH_OK;
    vmesh_buf body[2] = {{0}}, b64 = {0}, payload = {0};
    vmesh_rv_store *rv = NULL;
    char url[URL_LEN + 8192], etag[2][ETAG_LEN], keep[64], accept[256];
    bool fresh = false;
    int64_t exp = INT64_MAX;
    size_t loaded = 0;

    count(s, &r->st.polls);
    keeping(r, keep, sizeof(keep));
    snprintf(accept, sizeof(accept), "Accept: " VMESH_COSERV_COSE_MEDIA_TYPE "; profile=\"" VMESH_COSERV_PROFILE_PREFIX
             "%s\"", r->schemes[0]);
    VMESH_GUARD(vmesh_rv_store_new(&rv));
    for (size_t i = 0; i < 2; i++) {
        vmesh_coserv c;
        long status;
        const vmesh_buf *ans;

        VMESH_GUARD(vmesh_b64url_encode(r->queries[i].data, r->queries[i].len, &b64));
        VMESH_ENSURE(b64.len < 8000, VMESH_ERR_TOO_LARGE, "CoSERV query too long for a request path");
        snprintf(url, sizeof(url), "%s/coserv/%.*s", r->url, (int)b64.len, (const char *)b64.data);
        vmesh_buf_reset(&b64);
        vmesh_buf_init(&body[i], VMESH_COSERV_MAX + 4096);
        rc = http_get_accept(r->curl, url, r->answers[i].len > 0 ? r->q_etag[i] : NULL, VMESH_COSERV_MAX + 4096,
                             s->timeout, &body[i], &status, etag[i], accept);
        if (rc != VMESH_OK) {
            char msg[768];
            bool again;
            snprintf(msg, sizeof(msg), "CoSERV %s query: %s", what[i], vmesh_err_detail());
            pthread_mutex_lock(&s->lock);
            again = r->st.consecutive_failures > 0 &&
                    strncmp(r->st.last_error, msg, sizeof(r->st.last_error) - 1) == 0;
            pthread_mutex_unlock(&s->lock);
            vmesh_log(again ? VMESH_LOG_DEBUG : VMESH_LOG_WARN, "rvp %s: unreachable or failing: %s%s", rname(r),
                      msg, keep);
            count(s, &r->st.failures);
            polled(s, r, msg);
            rc = vmesh_err_set(rc, "rvp %s: %s%s", rname(r), msg, keep);
            goto out;
        }
        if (status == 304) {
            count(s, &r->st.not_modified);
            ans = &r->answers[i];
        } else {
            fresh = true;
            ans = &body[i];
        }
        rc = vmesh_coserv_verify_signed(ans->data, ans->len, r->key, r->queries[i].data, r->queries[i].len, now,
                                        &payload, &c);
        if (rc == VMESH_OK)
            rc = vmesh_coserv_load_results(&c, rv, r->schemes[0], now);
        if (rc == VMESH_ERR_NOT_FOUND) {
            vmesh_log(VMESH_LOG_DEBUG, "rvp %s: the provider holds no %s for the classes asked", rname(r), what[i]);
            rc = VMESH_OK;
            if (status == 304)
                continue;
        } else if (rc != VMESH_OK) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "CoSERV %s result set refused: %s%s", what[i], vmesh_err_detail(), keep);
            rc = coserv_refuse(s, r, rc, msg);
            goto out;
        } else {
            loaded++;
            if (c.expiry < exp)
                exp = c.expiry;
        }
        if (status == 304) {
            vmesh_buf_reset(&body[i]);
            VMESH_GUARD(vmesh_buf_append(&body[i], r->answers[i].data, r->answers[i].len));
            snprintf(etag[i], ETAG_LEN, "%s", r->q_etag[i]);
        }
    }
    if (loaded == 0) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "the CoSERV provider holds neither reference values nor trust anchors for the classes asked%s", keep);
        rc = coserv_refuse(s, r, VMESH_ERR_NOT_FOUND, msg);
        goto out;
    }
    if (!fresh && r->loaded && exp == r->cur.expires_at) {
        polled(s, r, NULL);
        goto out;
    }
    for (size_t i = 0; i < 2; i++) {
        vmesh_buf t = r->answers[i];
        r->answers[i] = body[i];
        body[i] = t;
        snprintf(r->q_etag[i], ETAG_LEN, "%s", etag[i]);
    }
    {
        uint64_t epoch = r->have ? r->cur.epoch + 1 : 1;
        vmesh_rvp_manifest_free(&r->cur);
        memset(&r->cur, 0, sizeof(r->cur));
        memcpy(r->cur.rvp, r->name, sizeof(r->cur.rvp));
        r->cur.epoch = epoch; /* snapshots accepted from this provider, counted from 1 per process */
        r->cur.issued_at = now;
        r->cur.expires_at = exp;
    }
    r->have = true;
    vmesh_rv_store_free(r->rv);
    r->rv = rv;
    rv = NULL;
    r->loaded = true;
    vmesh_log(VMESH_LOG_INFO, "rvp %s: CoSERV result sets accepted (snapshot %llu, %zu entries, expire %lld)",
              rname(r), (unsigned long long)r->cur.epoch, vmesh_rv_store_size(r->rv), (long long)exp);
    count(s, &r->st.updates);
    polled(s, r, NULL);
    *changed = true;
out:
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&body[0]);
    vmesh_buf_free(&body[1]);
    vmesh_buf_free(&b64);
    vmesh_buf_free(&payload);
    return rc;
}

/* One poll of one RVP. *changed is set when its content changed. */
static vmesh_err poll_rvp(vmesh_sync *s, rvp_t *r, int64_t now, bool *changed)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf body = {0};
    vmesh_rvp_manifest m = {0};
    vmesh_rv_store *rv = NULL;
    vmesh_policy *pol = NULL;
    vmesh_rvp_verifiers vs = {0};
    char url[URL_LEN + 32], etag[ETAG_LEN], keep[64];
    long status;

    count(s, &r->st.polls);
    keeping(r, keep, sizeof(keep));
    snprintf(url, sizeof(url), "%s/manifest.jws", r->url);
    vmesh_buf_init(&body, VMESH_RVP_MANIFEST_MAX);
    rc = http_get(r->curl, url, r->have || r->etag_refused ? r->etag : NULL, VMESH_RVP_MANIFEST_MAX, s->timeout,
                  &body, &status, etag);
    if (rc != VMESH_OK) {
        char msg[768];
        bool again;
        snprintf(msg, sizeof(msg), "%s", vmesh_err_detail());
        pthread_mutex_lock(&s->lock);
        again = r->st.consecutive_failures > 0 && strncmp(r->st.last_error, msg, sizeof(r->st.last_error) - 1) == 0;
        pthread_mutex_unlock(&s->lock);
        /* once when it starts failing (and when the error changes), not every poll */
        vmesh_log(again ? VMESH_LOG_DEBUG : VMESH_LOG_WARN, "rvp %s: unreachable or failing: %s%s", rname(r), msg,
                  keep);
        count(s, &r->st.failures);
        polled(s, r, msg);
        rc = vmesh_err_set(rc, "rvp %s: %s%s", rname(r), msg, keep);
        goto out;
    }
    if (status == 304) {
        count(s, &r->st.not_modified);
        if (r->etag_refused) {
            /* Still the manifest we refused: same answer, logged once. */
            char again[sizeof(r->st.last_error)];
            snprintf(again, sizeof(again), "%s", r->st.last_error);
            rc = vmesh_err_set(r->refused_rc, "rvp %s: %s", rname(r), again);
            polled(s, r, again);
            goto out;
        }
        polled(s, r, NULL);
        goto out;
    }
    snprintf(r->etag, sizeof(r->etag), "%s", etag);
    r->etag_refused = true; /* until accepted below */
    rc = vmesh_rvp_manifest_verify((const char *)body.data, body.len, r->key, &m);
    if (rc == VMESH_OK)
        rc = name_check(r, &m);
    if (rc != VMESH_OK) {
        char msg[768];
        snprintf(msg, sizeof(msg), "%s", vmesh_err_detail());
        rc = refuse(s, r, rc, "manifest refused: %s%s", msg, keep);
        goto out;
    }
    if (m.issued_at > now + FUTURE_LEEWAY) {
        rc = refuse(s, r, VMESH_ERR_EXPIRED, "manifest epoch %llu is issued in the future (%lld > now %lld): refused%s",
                    (unsigned long long)m.epoch, (long long)m.issued_at, (long long)now, keep);
        goto out;
    }
    if (r->have && m.epoch < r->cur.epoch) {
        rc = refuse(s, r, VMESH_ERR_POLICY, "manifest epoch %llu is older than the current %llu: rollback refused",
                    (unsigned long long)m.epoch, (unsigned long long)r->cur.epoch);
        goto out;
    }
    if (r->have && m.epoch == r->cur.epoch && !vmesh_rvp_manifest_same_sets(&m, &r->cur)) {
        rc = refuse(s, r, VMESH_ERR_POLICY,
                    "manifest epoch %llu names other sets than the accepted epoch %llu: refused (new content needs "
                    "a new epoch)",
                    (unsigned long long)m.epoch, (unsigned long long)r->cur.epoch);
        goto out;
    }
    if (r->have && m.epoch == r->cur.epoch && r->loaded) {
        /* Same content, re-signed (e.g. a later expires_at). */
        bool exp_changed = m.expires_at != r->cur.expires_at;
        VMESH_GUARD(commit(s, r, &m, &body, NULL, NULL, NULL, true));
        r->etag_refused = false;
        *changed = exp_changed;
        polled(s, r, NULL);
        goto out;
    }
    rc = build_rvp(s, r, &m, true, &rv, &pol, &vs);
    if (rc != VMESH_OK) {
        char msg[768];
        snprintf(msg, sizeof(msg), "%s", vmesh_err_detail());
        /* A set may be fixed on the server (or a CDN catch up) without the
         * manifest changing: fetch it again next time instead of taking a
         * 304 as the same refusal. */
        r->etag[0] = '\0';
        r->etag_refused = false;
        rc = refuse(s, r, rc, "manifest epoch %llu refused: %s%s", (unsigned long long)m.epoch, msg, keep);
        goto out;
    }
    vmesh_log(VMESH_LOG_INFO, "rvp %s: epoch %llu accepted (%zu sets, %zu entries%s)", m.rvp,
              (unsigned long long)m.epoch, m.nsets, vmesh_rv_store_size(rv), vs.n ? ", a verifier trust set" : "");
    VMESH_GUARD(commit(s, r, &m, &body, rv, pol, &vs, true));
    rv = NULL;
    pol = NULL;
    r->etag_refused = false;
    count(s, &r->st.updates);
    polled(s, r, NULL);
    *changed = true;
out:
    if (r->etag_refused && rc != VMESH_OK)
        r->refused_rc = rc;
    vmesh_rvp_manifest_free(&m);
    vmesh_rv_store_free(rv);
    vmesh_policy_free(pol);
    vmesh_rvp_verifiers_free(&vs);
    vmesh_buf_free(&body);
    return rc;
}

/* One bell marker from url, offered to the view; etag is the last one
 * accepted from there. quiet_404: an RVP that rings no bell. */
static void poll_one_bell(vmesh_sync *s, CURL *c, const char *url, char etag_io[ETAG_LEN], bool quiet_404,
                          int64_t now)
{
    vmesh_buf body = {0};
    char etag[ETAG_LEN];
    long status;
    vmesh_err rc;

    rc = http_get(c, url, etag_io, VMESH_BELL_MAX, s->timeout, &body, &status, etag);
    if (rc != VMESH_OK) {
        vmesh_log(quiet_404 && strstr(vmesh_err_detail(), "HTTP status 404") ? VMESH_LOG_DEBUG : VMESH_LOG_WARN,
                  "bell %s: %s", url, vmesh_err_detail());
    } else if (status == 200) {
        rc = vmesh_bell_view_update(s->bell, body.data, body.len, now);
        if (rc != VMESH_OK)
            vmesh_log(VMESH_LOG_WARN, "bell %s: refused: %s", url, vmesh_err_detail());
        else
            snprintf(etag_io, ETAG_LEN, "%s", etag);
    }
    vmesh_buf_free(&body);
}

/* The bell: bell_url when configured, else the first RVP's URL/bell.cwt;
 * when the view follows several bells (one per RVP, docs/BUNDLES.md
 * "Several bells"), every RVP's URL/bell.cwt. */
static void poll_bell(vmesh_sync *s, int64_t now)
{
    char url[URL_LEN + 32];

    if (s->bell == NULL || (s->bell_url == NULL && s->n == 0))
        return;
    if (s->bell_url) {
        if (s->bell_curl == NULL && (s->bell_curl = curl_easy_init()) == NULL)
            return;
        poll_one_bell(s, s->bell_curl, s->bell_url, s->bell_etag, false, now);
        return;
    }
    for (size_t i = 0; i < s->n && (i == 0 || vmesh_bell_view_bells(s->bell) > 1); i++) {
        rvp_t *r = s->rvps[i];
        if (r->curl == NULL && (r->curl = curl_easy_init()) == NULL)
            return;
        snprintf(url, sizeof(url), "%s/%s", r->url, VMESH_BELL_FILE);
        poll_one_bell(s, r->curl, url, r->bell_etag, i > 0, now);
    }
}

/* ---- load / poll / thread ------------------------------------------------ */

static void load_rvp(vmesh_sync *s, rvp_t *r)
{
    vmesh_err rc;
    char path[PATH_LEN];
    vmesh_buf jws = {0};
    vmesh_rvp_manifest m = {0};
    vmesh_rv_store *rv = NULL;
    vmesh_policy *pol = NULL;
    vmesh_rvp_verifiers vs = {0};

    if (r->coserv) {
        vmesh_log(VMESH_LOG_INFO, "rvp %s: CoSERV provider: nothing persisted, asked at the first poll", rname(r));
        return;
    }
    if (manifest_path(s, r, path) != VMESH_OK)
        return;
    if (access(path, F_OK) != 0) {
        vmesh_log(VMESH_LOG_INFO, "rvp %s: no persisted state yet", rname(r));
        return;
    }
    rc = vmesh_file_read(path, VMESH_RVP_MANIFEST_MAX, &jws);
    if (rc == VMESH_OK)
        rc = vmesh_rvp_manifest_verify((const char *)jws.data, jws.len, r->key, &m);
    if (rc == VMESH_OK)
        rc = name_check(r, &m);
    if (rc != VMESH_OK) {
        vmesh_log(VMESH_LOG_WARN, "rvp %s: persisted manifest %s unusable, ignored: %s", rname(r), path,
                  vmesh_err_detail());
        goto out;
    }
    rc = build_rvp(s, r, &m, false, &rv, &pol, &vs);
    if (rc != VMESH_OK)
        vmesh_log(VMESH_LOG_WARN,
                  "rvp %s: persisted epoch %llu has unusable sets (%s); its epoch still bounds rollback, content "
                  "will be fetched again",
                  rname(r), (unsigned long long)m.epoch, vmesh_err_detail());
    else
        vmesh_log(VMESH_LOG_INFO, "rvp %s: persisted epoch %llu loaded (%zu entries)", m.rvp,
                  (unsigned long long)m.epoch, vmesh_rv_store_size(rv));
    if (commit(s, r, &m, &jws, rv, pol, &vs, false) == VMESH_OK) {
        rv = NULL;
        pol = NULL;
    }
    set_status(s, r, NULL);
out:
    vmesh_rvp_manifest_free(&m);
    vmesh_rv_store_free(rv);
    vmesh_policy_free(pol);
    vmesh_rvp_verifiers_free(&vs);
    vmesh_buf_free(&jws);
}

static vmesh_err load_locked(vmesh_sync *s)
{
    vmesh_err rc = VMESH_OK;

    if (s->loaded)
        goto out;
    VMESH_GUARD(ensure_dirs(s));
    for (size_t i = 0; i < s->n; i++)
        load_rvp(s, s->rvps[i]);
    s->loaded = true;
    VMESH_GUARD(install(s, vmesh_time_now()));
out:
    return rc;
}

vmesh_err vmesh_sync_load(vmesh_sync *s)
{
    vmesh_err rc;

    pthread_mutex_lock(&s->poll_lock);
    rc = load_locked(s);
    pthread_mutex_unlock(&s->poll_lock);
    return rc;
}

vmesh_err vmesh_sync_poll_once(vmesh_sync *s)
{
    vmesh_err rc = VMESH_OK, one;
    bool changed = false;
    int64_t now;
    char detail[1024] = "";

    pthread_mutex_lock(&s->poll_lock);
    VMESH_GUARD(load_locked(s));
    now = vmesh_time_now();
    for (size_t i = 0; i < s->n; i++) {
        bool c = false;
        one = s->rvps[i]->coserv ? poll_coserv(s, s->rvps[i], now, &c) : poll_rvp(s, s->rvps[i], now, &c);
        changed |= c;
        if (one != VMESH_OK) {
            rc = one;
            snprintf(detail, sizeof(detail), "%s", vmesh_err_detail());
        }
    }
    poll_bell(s, now);
    if (changed || any_stale(s, now) != s->snap_stale) {
        one = install(s, now);
        if (one != VMESH_OK) {
            rc = one;
            snprintf(detail, sizeof(detail), "installing the snapshot: %s", vmesh_err_detail());
        }
        collect_sets(s);
    }
    if (rc != VMESH_OK)
        vmesh_err_set(rc, "%s", detail);
out:
    pthread_mutex_unlock(&s->poll_lock);
    return rc;
}

static void *run(void *arg)
{
    vmesh_sync *s = arg;
    uint8_t rnd[4];

    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        struct timespec ts;
        double wait;
        uint32_t v;

        pthread_mutex_unlock(&s->lock);
        if (vmesh_sync_poll_once(s) != VMESH_OK) {
            /* each problem is logged where it happens; keep polling */
        }
        v = 0;
        if (vmesh_crypto_random(rnd, sizeof(rnd)) == VMESH_OK)
            v = (uint32_t)rnd[0] << 24 | (uint32_t)rnd[1] << 16 | (uint32_t)rnd[2] << 8 | rnd[3];
        /* Jitter spreads thousands of verifiers' polls over the interval. */
        wait = s->interval * (1.0 + s->jitter_pct / 100.0 * (2.0 * (v / 4294967295.0) - 1.0));
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)wait;
        ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->lock);
        while (!s->stopping && pthread_cond_timedwait(&s->cond, &s->lock, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

vmesh_err vmesh_sync_start(vmesh_sync *s)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(!s->running, VMESH_ERR_STATE, "the sync client is already running");
    VMESH_ENSURE(s->n > 0, VMESH_ERR_STATE, "no RVP configured");
    VMESH_GUARD(vmesh_sync_load(s));
    s->stopping = false;
    VMESH_ENSURE(pthread_create(&s->thread, NULL, run, s) == 0, VMESH_ERR_NOMEM, "cannot start the sync thread");
    s->running = true;
out:
    return rc;
}

void vmesh_sync_stop(vmesh_sync *s)
{
    if (s == NULL || !s->running)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->running = false;
}

vmesh_rv_store *vmesh_sync_rv(vmesh_sync *s)
{
    vmesh_rv_store *r;

    pthread_mutex_lock(&s->lock);
    r = s->snap ? vmesh_rv_store_ref(s->snap) : NULL;
    pthread_mutex_unlock(&s->lock);
    return r;
}

vmesh_policy *vmesh_sync_policy(vmesh_sync *s)
{
    vmesh_policy *p;

    pthread_mutex_lock(&s->lock);
    p = s->snap_policy ? vmesh_policy_ref(s->snap_policy) : NULL;
    pthread_mutex_unlock(&s->lock);
    return p;
}

size_t vmesh_sync_rvp_count(vmesh_sync *s)
{
    return s->n;
}

bool vmesh_sync_rvp_status_at(vmesh_sync *s, size_t i, vmesh_sync_rvp_status *out)
{
    if (i >= s->n)
        return false;
    pthread_mutex_lock(&s->lock);
    *out = s->rvps[i]->st;
    pthread_mutex_unlock(&s->lock);
    return true;
}

vmesh_rv_store *vmesh_sync_rvp_store(vmesh_sync *s, size_t i)
{
    if (i >= s->n || !s->rvps[i]->have || !s->rvps[i]->loaded || s->rvps[i]->rv == NULL)
        return NULL;
    return vmesh_rv_store_ref(s->rvps[i]->rv);
}

uint64_t vmesh_sync_snapshots(vmesh_sync *s)
{
    uint64_t n;

    pthread_mutex_lock(&s->lock);
    n = s->snapshots;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void vmesh_sync_to_verifier(void *ctx, vmesh_rv_store *rv, vmesh_policy *policy)
{
    (void)policy;
    vmesh_verifier_set_rv((vmesh_verifier *)ctx, rv);
}

/* ---- scoped providers ------------------------------------------------------------ */

vmesh_err vmesh_sync_scope_rvp(vmesh_sync *s, size_t i, const char *list)
{
    vmesh_err rc = VMESH_OK;
    rvp_t *r;
    const char *p, *comma;

    VMESH_ENSURE(s != NULL && list != NULL && i < s->n, VMESH_ERR_ARG, "scope for RVP #%zu: no such RVP", i);
    VMESH_ENSURE(!s->running, VMESH_ERR_STATE, "scopes are set before the sync client starts");
    r = s->rvps[i];
    VMESH_ENSURE(list[0] != '\0', VMESH_ERR_ARG,
                 "scope for RVP %s is empty: name a trust domain or a SPIFFE ID prefix", rname(r));
    for (p = list;; p = comma + 1) {
        size_t len;
        char **grown;
        comma = strchr(p, ',');
        len = comma ? (size_t)(comma - p) : strlen(p);
        rc = vmesh_pki_scope_entry_validate(p, len);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "scope for RVP %s", rname(r));
            goto out;
        }
        VMESH_ENSURE(r->nscope < 64, VMESH_ERR_TOO_LARGE, "scope for RVP %s: at most 64 entries", rname(r));
        grown = realloc(r->scope, (r->nscope + 1) * sizeof(*grown));
        VMESH_ENSURE(grown != NULL, VMESH_ERR_NOMEM, "out of memory");
        r->scope = grown;
        r->scope[r->nscope] = strndup(p, len);
        VMESH_ENSURE(r->scope[r->nscope] != NULL, VMESH_ERR_NOMEM, "out of memory");
        r->nscope++;
        if (comma == NULL)
            break;
    }
out:
    return rc;
}

bool vmesh_sync_scoped(vmesh_sync *s)
{
    for (size_t i = 0; s != NULL && i < s->n; i++)
        if (s->rvps[i]->nscope > 0)
            return true;
    return false;
}

/* The entry of r's scope that covers peer ("unscoped": every peer), NULL
 * when none does. */
static const char *scope_covers(const rvp_t *r, const char *peer)
{
    return r->nscope == 0 ? "unscoped" : vmesh_pki_scope_match(r->scope, r->nscope, peer);
}

vmesh_rv_store *vmesh_sync_scoped_rv(vmesh_sync *s, const char *peer, char *why, size_t why_len)
{
    const char *td = "", *e;
    size_t tdlen = 0, off = 0;
    uint64_t mask = 0;
    vmesh_rv_store *st = NULL;
    bool ok = true, some = false;

    if (peer == NULL)
        peer = "";
    if (strncmp(peer, "spiffe://", 9) == 0) {
        td = peer + 9;
        e = strchr(td, '/');
        tdlen = e ? (size_t)(e - td) : strlen(td);
    }
    for (size_t i = 0; i < s->n && i < 64; i++) {
        const char *hit = scope_covers(s->rvps[i], peer);
        if (hit == NULL)
            continue;
        mask |= (uint64_t)1 << i;
        if (off < why_len)
            off += (size_t)snprintf(why + off, why_len - off, "%sRVP %.40s (scope %.80s)",
                                    off ? ", " : "only the reference values of ", rname(s->rvps[i]), hit);
    }
    if (mask == 0) {
        if (peer[0] == '\0')
            snprintf(why, why_len, "no reference-value provider counts for a request that names no peer "
                                   "identity (every RVP is scoped; send the peer's SPIFFE ID)");
        else
            snprintf(why, why_len, "no reference-value provider is scoped to trust domain %.*s (peer %.120s)",
                     (int)(tdlen > 60 ? 60 : tdlen), td, peer);
        return NULL;
    }
    if (off < why_len)
        snprintf(why + off, why_len - off, " count for this peer");
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->nscope_cache && st == NULL; i++)
        if (s->scope_cache[i].mask == mask)
            st = vmesh_rv_store_ref(s->scope_cache[i].rv);
    if (st == NULL && (ok = vmesh_rv_store_new(&st) == VMESH_OK)) {
        for (size_t i = 0; i < s->n && i < 64 && ok; i++) {
            if (!(mask >> i & 1) || s->scope_rv[i] == NULL)
                continue;
            some = true;
            ok = vmesh_rv_store_merge(st, s->scope_rv[i]) == VMESH_OK &&
                 vmesh_rv_set_epoch(st, s->rvps[i]->name, s->scope_epoch[i]) == VMESH_OK;
        }
        if (ok)
            ok = vmesh_rv_store_set_stale(st, s->snap_stale) == VMESH_OK;
        if (!ok || !some) {
            if (!ok)
                vmesh_log(VMESH_LOG_WARN, "sync: scoped reference values: %s", vmesh_err_detail());
            vmesh_rv_store_free(st);
            st = NULL;
        } else {
            vmesh_rv_store_freeze(st);
            if (s->nscope_cache == SCOPE_CACHE)
                scope_cache_drop(s);
            s->scope_cache[s->nscope_cache].mask = mask;
            s->scope_cache[s->nscope_cache++].rv = vmesh_rv_store_ref(st);
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (st == NULL && !some && ok)
        snprintf(why, why_len, "the reference-value providers scoped to %.120s have no accepted sets yet",
                 peer[0] ? peer : "(no identity)");
    else if (st == NULL)
        snprintf(why, why_len, "the scoped reference values could not be built (see the log)");
    return st;
}

vmesh_err vmesh_sync_rvp_verifiers(vmesh_sync *s, size_t i, vmesh_rvp_verifiers *out)
{
    vmesh_err rc;

    memset(out, 0, sizeof(*out));
    if (s == NULL || i >= s->n)
        return vmesh_err_set(VMESH_ERR_ARG, "no RVP %zu", i);
    pthread_mutex_lock(&s->lock);
    rc = vmesh_rvp_verifiers_copy(out, &s->snap_vs[i]);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
