/*
 * Parsers for the untrusted parts of a verification request other than the
 * session id: newSession's query, the Accept header, the Vmesh-AK header
 * and a JSON CMW wrapping the evidence. Pure functions with hard caps; they
 * never allocate more than their cap, whatever a length field claims.
 */
#include "vmesh/service.h"
#include "vmesh/cmw.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ACCEPT_MAX 4096
#define CMW_MAX_TYPE 512

vmesh_err vmesh_service_parse_nonce_query(const char *nonce, const char *nonce_size, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    bool has_nonce = nonce != NULL && nonce[0] != '\0';
    bool has_size = nonce_size != NULL && nonce_size[0] != '\0';

    vmesh_buf_reset(out);
    /* Veraison parseNonceRequest: "nonce and nonceSize are mutually exclusive". */
    VMESH_ENSURE(!(has_nonce && has_size), VMESH_ERR_ARG, "nonce and nonceSize are mutually exclusive");
    if (has_nonce) {
        size_t n = strlen(nonce);
        VMESH_ENSURE(n <= 128, VMESH_ERR_ARG, "nonce must be between %d and %d bytes long; got more",
                     VMESH_SERVICE_MIN_NONCE, VMESH_SERVICE_MAX_NONCE);
        if (vmesh_b64_decode(nonce, n, out) != VMESH_OK)
            VMESH_FAIL(VMESH_ERR_ARG, "nonce must be valid base64");
        VMESH_ENSURE(out->len >= VMESH_SERVICE_MIN_NONCE && out->len <= VMESH_SERVICE_MAX_NONCE, VMESH_ERR_ARG,
                     "nonce must be between %d and %d bytes long; got %zu", VMESH_SERVICE_MIN_NONCE,
                     VMESH_SERVICE_MAX_NONCE, out->len);
        goto out;
    }
    size_t sz = VMESH_SERVICE_DEFAULT_NONCE;
    if (has_size) {
        char *end = NULL;
        long v;
        /* Go's strconv.ParseUint: digits only, no sign, no space. */
        VMESH_ENSURE(isdigit((unsigned char)nonce_size[0]), VMESH_ERR_ARG, "nonceSize must be in range %d..%d",
                     VMESH_SERVICE_MIN_NONCE, VMESH_SERVICE_MAX_NONCE);
        errno = 0;
        v = strtol(nonce_size, &end, 10);
        VMESH_ENSURE(errno == 0 && end != NULL && *end == '\0' && v >= VMESH_SERVICE_MIN_NONCE &&
                         v <= VMESH_SERVICE_MAX_NONCE,
                     VMESH_ERR_ARG, "nonceSize must be in range %d..%d", VMESH_SERVICE_MIN_NONCE,
                     VMESH_SERVICE_MAX_NONCE);
        sz = (size_t)v;
    }
    VMESH_GUARD(vmesh_buf_reserve(out, sz));
    VMESH_GUARD(vmesh_crypto_random(out->data, sz));
    out->len = sz;
out:
    if (rc != VMESH_OK)
        vmesh_buf_reset(out);
    return rc;
}

static size_t type_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t')
        i++;
    return i;
}

bool vmesh_service_accepts(const char *accept, const char *media_type)
{
    const char *p = accept, *end;
    size_t mtl = type_len(media_type, strlen(media_type));

    if (accept == NULL)
        return true;
    end = accept + strnlen(accept, ACCEPT_MAX + 1);
    if (end - accept > ACCEPT_MAX)
        return false;
    bool empty = true;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        size_t l = type_len(p, (size_t)(e - p));
        if (l > 0) {
            empty = false;
            if ((l == 3 && memcmp(p, "*/*", 3) == 0) || (l == mtl && strncasecmp(p, media_type, l) == 0))
                return true;
            /* a type wildcard: "application/" then a star */
            if (l >= 2 && p[l - 1] == '*' && p[l - 2] == '/' && l - 1 <= mtl &&
                strncasecmp(p, media_type, l - 1) == 0)
                return true;
        }
        p = comma ? comma + 1 : end;
    }
    return empty;
}

vmesh_err vmesh_service_parse_ak(const char *value, vmesh_buf *spki)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;
    size_t n = strnlen(value, VMESH_SERVICE_MAX_AK * 2);

    vmesh_buf_reset(spki);
    VMESH_ENSURE(n > 0 && n < VMESH_SERVICE_MAX_AK * 2, VMESH_ERR_TOO_LARGE,
                 VMESH_SERVICE_AK_HEADER " is empty or longer than %zu bytes", VMESH_SERVICE_MAX_AK);
    if (vmesh_b64_decode(value, n, spki) != VMESH_OK)
        VMESH_FAIL(VMESH_ERR_PARSE, VMESH_SERVICE_AK_HEADER " is not base64url");
    VMESH_ENSURE(spki->len <= VMESH_SERVICE_MAX_AK, VMESH_ERR_TOO_LARGE,
                 VMESH_SERVICE_AK_HEADER " is longer than %zu bytes", VMESH_SERVICE_MAX_AK);
    rc = vmesh_crypto_key_from_spki(spki->data, spki->len, &k);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, VMESH_SERVICE_AK_HEADER " is not a SubjectPublicKeyInfo");
        goto out;
    }
out:
    vmesh_crypto_key_free(k);
    if (rc != VMESH_OK)
        vmesh_buf_reset(spki);
    return rc;
}

static const char *const cmw_types[] = {
    "application/cmw+json",
    "application/cmw+cbor",
    "application/vnd.veraison.cmw+json",
    NULL,
};

bool vmesh_service_is_cmw(const char *content_type)
{
    size_t l;

    if (content_type == NULL)
        return false;
    l = type_len(content_type, strlen(content_type));
    for (size_t i = 0; cmw_types[i] != NULL; i++)
        if (strlen(cmw_types[i]) == l && strncasecmp(content_type, cmw_types[i], l) == 0)
            return true;
    return false;
}

vmesh_err vmesh_service_cmw_unwrap(const uint8_t *body, size_t n, vmesh_buf *media_type, vmesh_buf *value)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cmw c;
    const vmesh_cmw_record *r;

    vmesh_cmw_init(&c);
    vmesh_buf_reset(media_type);
    vmesh_buf_reset(value);
    VMESH_ENSURE(n <= VMESH_SERVICE_MAX_BODY * 2, VMESH_ERR_TOO_LARGE, "CMW of %zu bytes is too large", n);
    /* RFC 9999 §3: JSON or CBOR, record or collection, told apart by the first byte */
    VMESH_GUARD(vmesh_cmw_decode(body, n, &c));
    if (c.collection) {
        /* composite evidence: the scheme that lists application/cmw+cbor appraises the CBOR collection */
        VMESH_GUARD(vmesh_buf_set(media_type, VMESH_CMW_MEDIA_TYPE_CBOR, strlen(VMESH_CMW_MEDIA_TYPE_CBOR)));
        VMESH_GUARD(vmesh_buf_terminate(media_type));
        VMESH_GUARD(vmesh_cmw_encode_cbor(&c, value));
        goto out;
    }
    r = &c.rec[0];
    VMESH_ENSURE(r->type != NULL, VMESH_ERR_UNSUPPORTED,
                 "CMW: the type is CoAP Content-Format %u; the verifier needs a media type", r->cf);
    VMESH_ENSURE(strlen(r->type) <= CMW_MAX_TYPE, VMESH_ERR_PARSE, "CMW: type longer than %d bytes", CMW_MAX_TYPE);
    VMESH_ENSURE(r->value.len > 0, VMESH_ERR_PARSE, "CMW: value is empty");
    VMESH_GUARD(vmesh_buf_set(media_type, r->type, strlen(r->type)));
    VMESH_GUARD(vmesh_buf_terminate(media_type));
    VMESH_GUARD(vmesh_buf_set(value, r->value.data, r->value.len));
out:
    vmesh_cmw_free(&c);
    return rc;
}

/* RFC 3986 §2.3 unreserved, plus "/" between segments. */
static bool path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

vmesh_err vmesh_service_discovery_appraise_path(const uint8_t *p, size_t n, char *path, size_t cap)
{
    vmesh_err rc = VMESH_OK;
    json_t *doc = NULL, *eps, *ep;
    json_error_t je;
    const char *v;
    size_t l;

    VMESH_ENSURE(path != NULL && cap > 0, VMESH_ERR_ARG, "discovery: no room for the path");
    path[0] = '\0';
    VMESH_ENSURE(p != NULL && n > 0, VMESH_ERR_PARSE, "discovery: empty document");
    VMESH_ENSURE(n <= VMESH_SERVICE_DISCOVERY_MAX, VMESH_ERR_TOO_LARGE,
                 "discovery: document of %zu bytes, more than %zu", n, VMESH_SERVICE_DISCOVERY_MAX);
    doc = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
    VMESH_ENSURE(doc != NULL, VMESH_ERR_PARSE, "discovery: not JSON: %s (line %d)", je.text, je.line);
    VMESH_ENSURE(json_is_object(doc), VMESH_ERR_PARSE, "discovery: not a JSON object");
    eps = json_object_get(doc, "api-endpoints");
    if (eps == NULL)
        goto out;
    VMESH_ENSURE(json_is_object(eps), VMESH_ERR_PARSE, "discovery: \"api-endpoints\" is not an object");
    ep = json_object_get(eps, VMESH_SERVICE_APPRAISE_ENDPOINT);
    if (ep == NULL)
        goto out;
    VMESH_ENSURE(json_is_string(ep), VMESH_ERR_PARSE,
                 "discovery: api-endpoints \"" VMESH_SERVICE_APPRAISE_ENDPOINT "\" is not a string");
    v = json_string_value(ep);
    l = json_string_length(ep);
    VMESH_ENSURE(l > 0 && l <= VMESH_SERVICE_MAX_ENDPOINT && l < cap, VMESH_ERR_PARSE,
                 "discovery: api-endpoints \"" VMESH_SERVICE_APPRAISE_ENDPOINT "\" is empty or longer than %d bytes",
                 VMESH_SERVICE_MAX_ENDPOINT);
    VMESH_ENSURE(v[0] == '/' && (l == 1 || v[1] != '/') && strstr(v, "//") == NULL, VMESH_ERR_PARSE,
                 "discovery: api-endpoints \"" VMESH_SERVICE_APPRAISE_ENDPOINT
                 "\" is not an absolute path on the verifier (\"/...\", no \"//\")");
    for (size_t i = 0; i < l; i++)
        VMESH_ENSURE(path_char((unsigned char)v[i]), VMESH_ERR_PARSE,
                     "discovery: api-endpoints \"" VMESH_SERVICE_APPRAISE_ENDPOINT
                     "\" holds a character other than letters, digits, '-', '.', '_', '~' and '/' (byte %zu)", i);
    memcpy(path, v, l);
    path[l] = '\0';
out:
    json_decref(doc);
    return rc;
}
