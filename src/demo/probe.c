/*
 * The demo's clients: one timed HTTP GET per new connection (libcurl; each
 * request through an outbound sidecar is one attested handshake), and a
 * plain TLS 1.3 client without the 0xff4d extension (libssl) that tries the
 * PoP directly, as an unattested peer would. It must never follow a
 * redirect or talk to anything but the address it was given.
 */
#define _GNU_SOURCE
#include "demo.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define BODY_MAX 65536

typedef struct {
    char data[BODY_MAX + 1];
    size_t len;
} body;

static size_t keep(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t n = size * nmemb, take = n;

    if (take > BODY_MAX - b->len)
        take = BODY_MAX - b->len;
    memcpy(b->data + b->len, ptr, take);
    b->len += take;
    b->data[b->len] = '\0';
    return n;
}

bool demo_http_get(const char *url, const char *want, long timeout_ms, double *ms)
{
    static body b; /* one request at a time; 64 KiB stays off the stack */
    CURL *c = curl_easy_init();
    long code = 0;
    curl_off_t us = 0;
    bool ok = false;
    double t0 = demo_now_ms();

    *ms = 0;
    if (c == NULL)
        return false;
    b.len = 0;
    b.data[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        ok = code == 200 && strstr(b.data, want) != NULL;
    }
    if (curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK && us > 0)
        *ms = (double)us / 1000.0;
    else
        *ms = demo_now_ms() - t0;
    curl_easy_cleanup(c);
    return ok;
}

bool demo_tls_probe(const char *host, uint16_t port, const char *cert, const char *key, char *what,
                    size_t n)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    int s = -1;
    struct sockaddr_in a;
    struct timeval tv = {3, 0};
    static const char req[] = "GET / HTTP/1.0\r\nHost: pop\r\n\r\n";
    char buf[256];
    int r;
    bool admitted = false;

    snprintf(what, n, "setup failed");
    if (ctx == NULL)
        goto out;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE,
                       NULL); /* we are the attacker: we do not care who the PoP is */
    if (cert && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
                 SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1))
        goto out;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        goto out;
    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        goto out;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        snprintf(what, n, "connect: %s", strerror(errno));
        goto out;
    }
    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, s) != 1)
        goto out;
    if (SSL_connect(ssl) != 1) {
        snprintf(what, n, "TLS handshake refused");
        goto out;
    }
    if (SSL_write(ssl, req, (int)strlen(req)) <= 0) {
        snprintf(what, n, "TLS up, request not accepted (connection closed)");
        goto out;
    }
    r = SSL_read(ssl, buf, (int)sizeof(buf) - 1);
    if (r > 0) {
        buf[r] = '\0';
        admitted = strncmp(buf, "HTTP/", 5) == 0;
        snprintf(what, n,
                 admitted ? "got an HTTP response: ADMITTED"
                          : "got %d bytes that are no HTTP response",
                 r);
    } else {
        snprintf(what, n, "TLS up, then closed without application data");
    }
out:
    ERR_clear_error();
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    if (s >= 0)
        close(s);
    SSL_CTX_free(ctx);
    return admitted;
}
