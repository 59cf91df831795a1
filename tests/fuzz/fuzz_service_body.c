/*
 * Fuzz target for everything the verification API parses from an untrusted
 * HTTP request, without sockets: the session id (token open), newSession's
 * query, the Accept and Vmesh-AK headers, a CMW body, and the whole handler
 * (routing, media types, evidence appraisal) on a request built from the
 * input. Input layout: byte 0 = flags (bit 0: use a freshly sealed valid
 * session id; bits 1-2: method; bit 3: the one-request appraisal path,
 * D42), then newline-separated fields path-or-id,
 * nonce, nonceSize, Accept, Content-Type, Vmesh-AK, then the body (the
 * rest). Invariants: no crash, no leak; a valid id opens to the sealed
 * nonce; whatever the handler answers is a status we know.
 */
#include "vmesh/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1800000000

static const uint8_t KEY[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
static vmesh_service *svc;
static vmesh_buf valid_id;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void init(void)
{
    vmesh_key *ear = NULL;
    vmesh_verifier *v = NULL;
    vmesh_verifier_config vc = {0};
    vmesh_service_config sc = {0};
    vmesh_service_session s;

    if (vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &ear) != VMESH_OK)
        abort();
    vc.ear_key = ear;
    if (vmesh_verifier_new(&vc, &v) != VMESH_OK)
        abort();
    sc.verifier = v; /* lives for the process */
    sc.ear_key = ear;
    sc.session_key = KEY;
    if (vmesh_service_new(&sc, &svc) != VMESH_OK)
        abort();
    vmesh_crypto_key_free(ear);
    vmesh_service_session_init(&s);
    s.state = VMESH_SESSION_WAITING;
    s.created = NOW;
    s.expiry = NOW + 150;
    s.nonce_len = 32;
    memset(s.nonce, 0x5a, 32);
    if (vmesh_service_token_seal(KEY, &s, &valid_id) != VMESH_OK)
        abort();
    vmesh_service_session_free(&s);
}

/* Next newline-terminated field as a fresh C string (NULL when empty). */
static char *field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = NULL;

    if (n > 0 && memchr(*p, '\0', n) == NULL) {
        s = malloc(n + 1);
        if (s == NULL)
            abort();
        memcpy(s, *p, n);
        s[n] = '\0';
    }
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = {"POST", "GET", "DELETE", "PUT"};
    const uint8_t *p = data + 1, *end = data + size;
    char *f[6], path[VMESH_SERVICE_MAX_TOKEN + 64];
    vmesh_service_session s;
    vmesh_service_request rq;
    vmesh_service_response rs;
    vmesh_buf a = {0}, b = {0};

    if (svc == NULL)
        init();
    if (size == 0)
        return 0;

    /* The raw input as a session id. */
    vmesh_service_session_init(&s);
    if (vmesh_service_token_open(KEY, (const char *)data, size, NOW, &s) == VMESH_OK &&
        (s.nonce_len < VMESH_SERVICE_MIN_NONCE || s.nonce_len > VMESH_SERVICE_MAX_NONCE))
        abort();
    vmesh_service_session_free(&s);
    /* The raw input as a CMW record. */
    (void)!vmesh_service_cmw_unwrap(data, size, &a, &b);

    for (size_t i = 0; i < 6; i++)
        f[i] = field(&p, end);
    (void)!vmesh_service_parse_nonce_query(f[1], f[2], &a);
    if (f[3] != NULL)
        (void)!vmesh_service_accepts(f[3], VMESH_SERVICE_SESSION_MT);
    if (f[5] != NULL)
        (void)!vmesh_service_parse_ak(f[5], &b);

    memset(&rq, 0, sizeof(rq));
    rq.method = methods[(data[0] >> 1) & 3];
    if (data[0] & 8) {
        rq.path = VMESH_SERVICE_APPRAISE_PATH;
    } else if (data[0] & 1) {
        snprintf(path, sizeof(path), "/challenge-response/v1/session/%s", (const char *)valid_id.data);
        rq.path = path;
    } else {
        rq.path = f[0];
    }
    rq.q_nonce = f[1];
    rq.q_nonce_size = f[2];
    rq.accept = f[3];
    rq.content_type = f[4];
    rq.ak = f[5];
    rq.body = p;
    rq.body_len = (size_t)(end - p);
    rq.now = NOW;
    vmesh_service_response_init(&rs);
    if (vmesh_service_handle(svc, &rq, &rs) == VMESH_OK) {
        unsigned st = rs.status;
        if (!(st == 200 || st == 201 || st == 204 || st == 400 || st == 404 || st == 405 || st == 406 ||
              st == 415 || st == 500))
            abort();
    }
    vmesh_service_response_free(&rs);
    for (size_t i = 0; i < 6; i++)
        free(f[i]);
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
    return 0;
}
