/*
 * The bundle-endpoint client (SPIFFE Trust Domain and Bundle §5): one GET
 * with libcurl over HTTPS, authenticated either by the web PKI (https_web)
 * or by the endpoint's own X509-SVID (https_spiffe), then the bundle
 * parser. The response comes from another organisation's server: it is
 * capped while it is read, and a bundle whose sequence went down is refused
 * (vmesh_pki_bundle_accept). It must never accept an https_spiffe endpoint
 * whose SVID is not exactly the configured ID of a trusted domain.
 */
#include "vmesh/pki.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct {
    vmesh_buf *body;
    bool too_big;
} body_ctx;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    body_ctx *f = ud;
    size_t n = size * nmemb;

    /* Capped during the read: no Content-Length needed to stop a flood. */
    if (n > VMESH_PKI_BUNDLE_MAX || f->body->len > VMESH_PKI_BUNDLE_MAX - n) {
        f->too_big = true;
        return 0;
    }
    return vmesh_buf_append(f->body, p, n) == VMESH_OK ? n : 0;
}

typedef struct {
    const vmesh_pki_endpoint *ep;
    char why[300];
} spiffe_ctx;

/* https_spiffe: the endpoint's SVID must be endpoint_id, verified against
 * the authorities of endpoint_id's trust domain only. */
static int spiffe_verify_cb(X509_STORE_CTX *x, void *arg)
{
    spiffe_ctx *sc = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(x);
    char *id = NULL, *td = NULL;
    STACK_OF(X509) *auth = NULL;
    int ok = 0;

    if (leaf == NULL || vmesh_pki_spiffe_id_from_cert(leaf, &id) != VMESH_OK) {
        snprintf(sc->why, sizeof(sc->why), "the endpoint's certificate is not an X509-SVID");
        goto out;
    }
    if (strcmp(id, sc->ep->endpoint_id) != 0) {
        snprintf(sc->why, sizeof(sc->why), "the endpoint presents %s, not the expected %s", id,
                 sc->ep->endpoint_id);
        goto out;
    }
    if (vmesh_pki_spiffe_id_trust_domain(id, &td) == VMESH_OK)
        auth = vmesh_pki_trust_authorities(sc->ep->trust, td);
    if (auth == NULL) {
        snprintf(sc->why, sizeof(sc->why), "no bundle for the endpoint's trust domain \"%s\"",
                 td ? td : "?");
        goto out;
    }
    X509_STORE_CTX_set0_trusted_stack(x, auth);
    ok = X509_verify_cert(x);
    if (ok != 1)
        snprintf(sc->why, sizeof(sc->why), "the endpoint's SVID %s does not verify: %s", id,
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
out:
    free(id);
    free(td);
    if (ok != 1)
        X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_UNTRUSTED);
    return ok == 1;
}

static CURLcode ssl_ctx_fn(CURL *curl, void *ssl_ctx, void *arg)
{
    (void)curl;
    SSL_CTX_set_cert_verify_callback(ssl_ctx, spiffe_verify_cb, arg);
    return CURLE_OK;
}

vmesh_err vmesh_pki_bundle_fetch(const vmesh_pki_endpoint *ep, vmesh_pki_bundle **out)
{
    vmesh_err rc = VMESH_OK;
    CURL *c = NULL;
    vmesh_buf body = {0};
    body_ctx f = {.body = &body};
    spiffe_ctx sc = {.ep = ep};
    CURLcode cc;
    long status = 0, timeout;

    *out = NULL;
    VMESH_ENSURE(ep != NULL && ep->url != NULL, VMESH_ERR_ARG, "bundle endpoint URL is missing");
    VMESH_ENSURE(strncmp(ep->url, "https://", 8) == 0, VMESH_ERR_ARG,
                 "bundle endpoint %s: must be an https:// URL (SPIFFE Trust Domain and Bundle "
                 "§5)",
                 ep->url);
    if (ep->profile == VMESH_PKI_ENDPOINT_HTTPS_SPIFFE) {
        VMESH_ENSURE(ep->endpoint_id != NULL && ep->trust != NULL, VMESH_ERR_ARG,
                     "bundle endpoint %s: https_spiffe needs the endpoint's SPIFFE ID and a "
                     "bundle for its trust domain",
                     ep->url);
        VMESH_GUARD(vmesh_pki_spiffe_id_validate(ep->endpoint_id));
    }
    pthread_once(&curl_once, curl_init);
    c = curl_easy_init();
    VMESH_ENSURE(c != NULL, VMESH_ERR_NOMEM, "curl_easy_init failed");
    timeout = ep->timeout > 0 ? ep->timeout : 10;
    curl_easy_setopt(c, CURLOPT_URL, ep->url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout < 5 ? timeout : 5L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)VMESH_PKI_BUNDLE_MAX);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vmesh-federation/" VMESH_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (ep->profile == VMESH_PKI_ENDPOINT_HTTPS_SPIFFE) {
        /* §5.2.2: authenticated by SPIFFE ID, not by DNS name. */
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        VMESH_ENSURE(curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_fn) == CURLE_OK,
                     VMESH_ERR_UNSUPPORTED,
                     "https_spiffe needs libcurl built with OpenSSL (CURLOPT_SSL_CTX_FUNCTION)");
        curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &sc);
    } else {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (ep->ca_file)
            curl_easy_setopt(c, CURLOPT_CAINFO, ep->ca_file);
    }
    cc = curl_easy_perform(c);
    if (f.too_big || cc == CURLE_FILESIZE_EXCEEDED)
        VMESH_FAIL(VMESH_ERR_TOO_LARGE, "GET %s: the bundle is larger than %d bytes", ep->url,
                   VMESH_PKI_BUNDLE_MAX);
    VMESH_ENSURE(cc == CURLE_OK, cc == CURLE_OPERATION_TIMEDOUT ? VMESH_ERR_TIMEOUT : VMESH_ERR_IO,
                 "GET %s: %s%s%s", ep->url, curl_easy_strerror(cc), sc.why[0] ? ": " : "",
                 sc.why);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    VMESH_ENSURE(status == 200, VMESH_ERR_IO, "GET %s: HTTP status %ld", ep->url, status);
    rc = vmesh_pki_bundle_parse(body.data, body.len, out);
    if (rc != VMESH_OK)
        rc = vmesh_err_wrap(rc, "%s", ep->url);
out:
    if (c)
        curl_easy_cleanup(c);
    vmesh_buf_free(&body);
    return rc;
}

vmesh_err vmesh_pki_bundle_accept(const vmesh_pki_bundle *cur, const vmesh_pki_bundle *next,
                                  bool *changed)
{
    bool ch, nh;
    uint64_t cs = vmesh_pki_bundle_sequence(cur, &ch), ns = vmesh_pki_bundle_sequence(next, &nh);
    vmesh_buf a = {0}, b = {0};
    vmesh_err rc = VMESH_OK;

    *changed = true;
    if (cur == NULL)
        return VMESH_OK;
    /* §4.1.1: the sequence number is "monotonically increasing". */
    if (ch && nh && ns < cs)
        return vmesh_err_set(VMESH_ERR_STATE,
                             "bundle sequence %llu is lower than the current %llu: rollback refused",
                             (unsigned long long)ns, (unsigned long long)cs);
    VMESH_GUARD(vmesh_pki_bundle_to_pem(cur, &a));
    VMESH_GUARD(vmesh_pki_bundle_to_pem(next, &b));
    *changed = ch != nh || cs != ns || a.len != b.len || memcmp(a.data, b.data, a.len) != 0;
out:
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
    return rc;
}
