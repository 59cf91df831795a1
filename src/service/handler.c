/*
 * The verification API as a pure function: request in, response out, no
 * sockets (the libmicrohttpd glue in http.c only copies fields in and out).
 * Paths, status codes, JSON fields and problem details follow Veraison's
 * verification service (veraison/services verification/api/handler.go) so
 * that Veraison clients work unchanged. It must never answer 200 for
 * evidence it did not appraise under the session's nonce, and never act on
 * a session id whose MAC it has not checked.
 */
#include "service_int.h"
#include "vmesh/agent.h"
#include "vmesh/jose.h"
#include "vmesh/pki.h"
#include "vmesh/schemes.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WELL_KNOWN_PATH "/.well-known/veraison/verification"
#define NEW_SESSION_PATH VMESH_SERVICE_API_PREFIX "newSession"
#define SESSION_PATH VMESH_SERVICE_API_PREFIX "session/"
#define WELL_KNOWN_MAX_AGE "max-age=60"
#define APPRAISE_PATH VMESH_SERVICE_APPRAISE_PATH

/* ---- small JSON writer (our own output only) ---------------------------------- */

static vmesh_err js_raw(vmesh_buf *b, const char *s)
{
    return vmesh_buf_append(b, s, strlen(s));
}

static vmesh_err js_cstr(vmesh_buf *b, const char *s)
{
    return vmesh_json_str(b, s, strlen(s));
}

static vmesh_err js_b64(vmesh_buf *b, const uint8_t *p, size_t n, bool url)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf t = {0};

    VMESH_GUARD(url ? vmesh_b64url_encode(p, n, &t) : vmesh_b64_encode(p, n, &t));
    VMESH_GUARD(vmesh_buf_append_u8(b, '"'));
    VMESH_GUARD(vmesh_buf_append(b, t.data, t.len));
    VMESH_GUARD(vmesh_buf_append_u8(b, '"'));
out:
    vmesh_buf_free(&t);
    return rc;
}

static const char *status_title(unsigned status)
{
    /* Go's http.StatusText, which Veraison's problems carry as "title". */
    switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

vmesh_err vmesh_service_problem(vmesh_service_response *rs, unsigned status, const char *fmt, ...)
{
    vmesh_err rc = VMESH_OK;
    char detail[1024];
    char num[16];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    rs->status = status;
    rs->content_type = VMESH_SERVICE_PROBLEM_MT;
    vmesh_buf_reset(&rs->body);
    /* RFC 9457 §3.1: "type" ... "When this member is not present, its value
     * is assumed to be "about:blank"" — Veraison writes it out; so do we. */
    snprintf(num, sizeof(num), "%u", status);
    VMESH_GUARD(js_raw(&rs->body, "{\"type\":\"about:blank\",\"title\":"));
    VMESH_GUARD(js_cstr(&rs->body, status_title(status)));
    VMESH_GUARD(js_raw(&rs->body, ",\"status\":"));
    VMESH_GUARD(js_raw(&rs->body, num));
    VMESH_GUARD(js_raw(&rs->body, ",\"detail\":"));
    VMESH_GUARD(js_cstr(&rs->body, detail));
    VMESH_GUARD(js_raw(&rs->body, "}"));
out:
    return rc;
}

void vmesh_service_response_init(vmesh_service_response *r)
{
    memset(r, 0, sizeof(*r));
    vmesh_buf_init(&r->body, 8 * VMESH_SERVICE_MAX_BODY);
}

void vmesh_service_response_free(vmesh_service_response *r)
{
    vmesh_buf_free(&r->body);
    vmesh_buf_free(&r->location);
    vmesh_buf_free(&r->content_location);
    vmesh_buf_free(&r->accept);
}

/* ---- construction ------------------------------------------------------------ */

static vmesh_err build_media_types(vmesh_service *s)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf j = {0}, h = {0};
    size_t n;
    const vmesh_evidence_scheme *const *schemes = vmesh_schemes_all(&n);
    bool first = true;

    VMESH_GUARD(js_raw(&j, "["));
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; schemes[i]->media_types[k] != NULL; k++) {
            const char *mt = schemes[i]->media_types[k];
            if (!first) {
                VMESH_GUARD(js_raw(&j, ","));
                VMESH_GUARD(js_raw(&h, ", "));
            }
            first = false;
            VMESH_GUARD(js_cstr(&j, mt));
            VMESH_GUARD(js_raw(&h, mt));
        }
    VMESH_GUARD(js_raw(&j, "]"));
    VMESH_GUARD(vmesh_buf_terminate(&j));
    VMESH_GUARD(vmesh_buf_terminate(&h));
    s->accept_json = (char *)vmesh_buf_steal(&j, NULL);
    s->accept_header = (char *)vmesh_buf_steal(&h, NULL);
out:
    vmesh_buf_free(&j);
    vmesh_buf_free(&h);
    return rc;
}

/* The discovery document of capability.WellKnownInfo: ear-verification-key,
 * media-types, attestation-schemes, version, service-state, api-endpoints. */
static vmesh_err build_well_known(vmesh_service *s)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf jwk = {0}, b = {0};
    json_t *key = NULL;
    char *keys = NULL;
    size_t n;
    const vmesh_evidence_scheme *const *schemes = vmesh_schemes_all(&n);

    VMESH_GUARD(vmesh_crypto_key_to_jwk(s->ear_key, false, &jwk));
    key = json_loadb((const char *)jwk.data, jwk.len, 0, NULL);
    VMESH_ENSURE(key != NULL, VMESH_ERR_PARSE, "EAR key: JWK export is not JSON");
    /* Veraison's published key names its algorithm; clients pick it from here. */
    json_object_set_new(key, "alg", json_string(vmesh_crypto_key_jws_alg(s->ear_key)));
    keys = json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS);
    VMESH_ENSURE(keys != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(js_raw(&b, "{\"ear-verification-key\":"));
    VMESH_GUARD(js_raw(&b, keys));
    VMESH_GUARD(js_raw(&b, ",\"media-types\":"));
    VMESH_GUARD(js_raw(&b, s->accept_json));
    VMESH_GUARD(js_raw(&b, ",\"attestation-schemes\":["));
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            VMESH_GUARD(js_raw(&b, ","));
        VMESH_GUARD(js_cstr(&b, schemes[i]->name));
    }
    VMESH_GUARD(js_raw(&b, "],\"version\":\"vmesh-" VMESH_VERSION_STRING "\",\"service-state\":\"READY\","
                           "\"api-endpoints\":{\"newChallengeResponseSession\":\"" NEW_SESSION_PATH "\""));
    /* Veraison's api-endpoints is a map of names to paths: a client that
     * does not know this name ignores it (D42). */
    if (s->appraise)
        VMESH_GUARD(js_raw(&b, ",\"" VMESH_SERVICE_APPRAISE_ENDPOINT "\":\"" APPRAISE_PATH "\""));
    VMESH_GUARD(js_raw(&b, "}}"));
    VMESH_GUARD(vmesh_buf_terminate(&b));
    s->well_known = (char *)vmesh_buf_steal(&b, &s->well_known_len);
out:
    free(keys);
    json_decref(key);
    vmesh_buf_free(&jwk);
    vmesh_buf_free(&b);
    return rc;
}

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

vmesh_err vmesh_service_new(const vmesh_service_config *cfg, vmesh_service **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_service *s = NULL;
    long cores;

    *out = NULL;
    VMESH_ENSURE(cfg != NULL && cfg->verifier != NULL && cfg->ear_key != NULL, VMESH_ERR_ARG,
                 "service: a verifier and its EAR key are required");
    VMESH_ENSURE(cfg->session_ttl >= 0 && cfg->session_ttl <= 86400, VMESH_ERR_ARG,
                 "service: session TTL must be 1..86400 seconds, got %lld", (long long)cfg->session_ttl);
    s = calloc(1, sizeof(*s));
    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->revoke_lock, NULL);
    pthread_mutex_init(&s->reaper_lock, NULL);
    pthread_cond_init(&s->reaper_cv, NULL);
    s->verifier = cfg->verifier;
    s->ear_key = vmesh_crypto_key_ref(cfg->ear_key);
    s->ttl = cfg->session_ttl ? cfg->session_ttl : VMESH_SERVICE_DEFAULT_TTL;
    if (cfg->session_key != NULL)
        memcpy(s->session_key, cfg->session_key, 32);
    else
        VMESH_GUARD(vmesh_service_session_key_derive(cfg->ear_key, s->session_key));
    s->replica_id = dup_opt(cfg->replica_id);
    s->appraise = !cfg->no_appraise;
    s->signed_answers = cfg->signed_answers;
    s->batch = !cfg->no_batch;
    s->bell = cfg->bell;
    s->rv_for = cfg->rv_for;
    s->rv_for_ctx = cfg->rv_for_ctx;
    s->listen = dup_opt(cfg->listen ? cfg->listen : "127.0.0.1:8080");
    VMESH_ENSURE(s->listen != NULL && (cfg->replica_id == NULL || s->replica_id != NULL), VMESH_ERR_NOMEM,
                 "out of memory");
    cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = cfg->threads ? cfg->threads : (unsigned)(cores > 0 ? cores : 1);
    s->max_connections = cfg->max_connections ? cfg->max_connections : 1024;
    s->conn_timeout = cfg->conn_timeout ? cfg->conn_timeout : 30;
    s->max_body = cfg->max_body ? cfg->max_body : VMESH_SERVICE_MAX_BODY;
    VMESH_ENSURE(s->max_body <= 16 * VMESH_SERVICE_MAX_BODY, VMESH_ERR_ARG, "service: body cap over 16 MiB");
    {
        svc_limits_config *lc = &s->limits_cfg;
        lc->max_connections = s->max_connections;
        lc->client_connections = cfg->client_connections ? cfg->client_connections
                                                         : VMESH_SERVICE_DEFAULT_CLIENT_CONNECTIONS;
        lc->request_deadline = cfg->request_deadline ? cfg->request_deadline : VMESH_SERVICE_DEFAULT_REQUEST_DEADLINE;
        VMESH_ENSURE(lc->request_deadline <= 3600, VMESH_ERR_ARG,
                     "service: request deadline must be 1..3600 seconds, got %u", lc->request_deadline);
        lc->client_rate = cfg->client_rate ? cfg->client_rate : VMESH_SERVICE_DEFAULT_CLIENT_RATE;
        if (lc->client_rate == VMESH_SERVICE_UNLIMITED)
            lc->client_burst = 1;
        else if (cfg->client_burst != 0 && cfg->client_burst != VMESH_SERVICE_UNLIMITED)
            lc->client_burst = cfg->client_burst;
        else
            lc->client_burst = lc->client_rate > 1000000u ? 2000000u : 2 * lc->client_rate;
        lc->client_bytes = cfg->client_bytes ? cfg->client_bytes : VMESH_SERVICE_DEFAULT_CLIENT_BYTES;
        /* Room for two bodies at the cap, so a full bucket always takes one. */
        if (lc->client_bytes == VMESH_SERVICE_UNLIMITED) {
            lc->client_bytes_burst = 1;
        } else {
            uint64_t b = 2 * (uint64_t)lc->client_bytes;
            if (b < 2 * (uint64_t)s->max_body)
                b = 2 * (uint64_t)s->max_body;
            lc->client_bytes_burst = b > 0xfffffffeu ? 0xfffffffeu : (unsigned)b;
        }
    }
    VMESH_GUARD(svc_attestation_setup(s, cfg));
    VMESH_GUARD(build_media_types(s));
    VMESH_GUARD(build_well_known(s));
    *out = s;
    s = NULL;
out:
    vmesh_service_free(s);
    return rc;
}

void vmesh_service_free(vmesh_service *s)
{
    if (s == NULL)
        return;
    vmesh_service_stop(s);
    svc_limits_free(s->limits);
    vmesh_crypto_key_free(s->ear_key);
    OPENSSL_cleanse(s->session_key, sizeof(s->session_key));
    free(s->replica_id);
    free(s->well_known);
    free(s->accept_json);
    free(s->accept_header);
    free(s->listen);
    svc_attestation_cleanup(s);
    pthread_mutex_destroy(&s->revoke_lock);
    pthread_mutex_destroy(&s->reaper_lock);
    pthread_cond_destroy(&s->reaper_cv);
    free(s);
}

void vmesh_service_stats_get(vmesh_service *s, vmesh_service_stats *out)
{
    out->requests = atomic_load(&s->n_requests);
    out->sessions = atomic_load(&s->n_sessions);
    out->verifications = atomic_load(&s->n_verifications);
    out->problems = atomic_load(&s->n_problems);
    out->revoked = atomic_load(&s->n_revoked);
    out->oneshot = atomic_load(&s->n_oneshot);
    out->channel = atomic_load(&s->n_channel);
    out->batches = atomic_load(&s->n_batches);
    out->batch_items = atomic_load(&s->n_batch_items);
    out->connections = out->clients = out->accepted = 0;
    out->refused_connections = out->refused_client_connections = out->refused_deadline = 0;
    out->refused_rate = out->refused_bytes = out->refused_body = 0;
    if (s->limits != NULL) {
        svc_limits_stats ls;
        svc_limits_get_stats(s->limits, &ls);
        out->connections = ls.connections;
        out->clients = ls.clients;
        out->accepted = ls.accepted;
        out->refused_connections = ls.refused[SVC_REFUSE_CONNECTIONS] + ls.refused[SVC_REFUSE_CLIENTS];
        out->refused_client_connections = ls.refused[SVC_REFUSE_CLIENT_CONNECTIONS];
        out->refused_deadline = ls.refused[SVC_REFUSE_DEADLINE];
        out->refused_rate = ls.refused[SVC_REFUSE_CLIENT_RATE];
        out->refused_bytes = ls.refused[SVC_REFUSE_CLIENT_BYTES];
        out->refused_body = ls.refused[SVC_REFUSE_BODY];
    }
}

vmesh_err vmesh_service_metrics(vmesh_service *s, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_service_stats st;
    const svc_limits_config *lc = &s->limits_cfg;
    static const char *const refused[] = {"connections", "client-connections", "deadline",
                                          "client-rate", "client-bytes", "body-too-large"};
    uint64_t rv[6];

    vmesh_service_stats_get(s, &st);
    rv[0] = st.refused_connections;
    rv[1] = st.refused_client_connections;
    rv[2] = st.refused_deadline;
    rv[3] = st.refused_rate;
    rv[4] = st.refused_bytes;
    rv[5] = st.refused_body;
    vmesh_buf_reset(out);
#define M(name, type, help, val)                                                                        \
    VMESH_GUARD(vmesh_buf_printf(out, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " %llu\n", \
                                 (unsigned long long)(val)))
    M("vmesh_verifier_requests_total", "counter", "HTTP requests answered by the API handler.", st.requests);
    M("vmesh_verifier_sessions_total", "counter", "Challenge-response sessions created.", st.sessions);
    M("vmesh_verifier_verifications_total", "counter", "Evidence appraisals.", st.verifications);
    M("vmesh_verifier_problems_total", "counter", "Problem (4xx/5xx) responses.", st.problems);
    M("vmesh_verifier_sessions_deleted_total", "counter", "Sessions deleted.", st.revoked);
    M("vmesh_verifier_oneshot_total", "counter",
      "Evidence appraisals answered by the one-request appraisal (" APPRAISE_PATH ").", st.oneshot);
    M("vmesh_verifier_channel_answers_total", "counter",
      "One-request and batch appraisals answered with an EAR authenticated by the TLS session (answer=channel).",
      st.channel);
    M("vmesh_verifier_batches_total", "counter", "Batch appraisal requests answered (" SVC_BATCH_PATH ").",
      st.batches);
    M("vmesh_verifier_batch_items_total", "counter", "Evidence appraisals answered with an EAR inside batches.",
      st.batch_items);
    M("vmesh_verifier_connections", "gauge", "Open client connections.", st.connections);
    M("vmesh_verifier_clients", "gauge", "Clients (IPv4 address or IPv6 /64) with an open connection.",
      st.clients);
    M("vmesh_verifier_connections_accepted_total", "counter", "Connections accepted.", st.accepted);
    M("vmesh_verifier_connections_limit", "gauge", "The verifier's connection limit.", lc->max_connections);
    M("vmesh_verifier_client_connections_limit", "gauge", "Connections per client (4294967295: none).",
      lc->client_connections);
    M("vmesh_verifier_request_deadline_seconds", "gauge", "Time to deliver a whole request.",
      lc->request_deadline);
    M("vmesh_verifier_client_rate_limit", "gauge", "Requests per second per client (4294967295: none).",
      lc->client_rate);
#undef M
    VMESH_GUARD(vmesh_buf_printf(out, "# HELP vmesh_verifier_refused_total Connections and requests refused, by "
                                      "reason.\n# TYPE vmesh_verifier_refused_total counter\n"));
    for (size_t i = 0; i < sizeof(rv) / sizeof(rv[0]); i++)
        VMESH_GUARD(vmesh_buf_printf(out, "vmesh_verifier_refused_total{reason=\"%s\"} %llu\n", refused[i],
                                     (unsigned long long)rv[i]));
out:
    return rc;
}

/* ---- revocation (DELETE) ------------------------------------------------------ */

static size_t revoke_slot(const uint8_t sid[16])
{
    return ((size_t)sid[0] | (size_t)sid[1] << 8) % REVOKE_SLOTS;
}

static void revoke_sid(vmesh_service *s, const uint8_t sid[16], int64_t expiry, int64_t now)
{
    size_t base = revoke_slot(sid), victim = base;

    pthread_mutex_lock(&s->revoke_lock);
    for (size_t i = 0; i < REVOKE_PROBE; i++) {
        revoked_entry *e = &s->revoked[(base + i) % REVOKE_SLOTS];
        if (e->expiry > now && memcmp(e->sid, sid, 16) == 0) {
            victim = (base + i) % REVOKE_SLOTS;
            break;
        }
        /* An empty or expired slot, else the one that expires first: losing it
         * only ends that revocation early; the session still dies at expiry. */
        if (e->expiry <= now || e->expiry < s->revoked[victim].expiry)
            victim = (base + i) % REVOKE_SLOTS;
        if (e->expiry <= now)
            break;
    }
    memcpy(s->revoked[victim].sid, sid, 16);
    s->revoked[victim].expiry = expiry;
    pthread_mutex_unlock(&s->revoke_lock);
}

static bool is_revoked(vmesh_service *s, const uint8_t sid[16], int64_t now)
{
    size_t base = revoke_slot(sid);
    bool found = false;

    pthread_mutex_lock(&s->revoke_lock);
    for (size_t i = 0; i < REVOKE_PROBE && !found; i++) {
        const revoked_entry *e = &s->revoked[(base + i) % REVOKE_SLOTS];
        found = e->expiry > now && memcmp(e->sid, sid, 16) == 0;
    }
    pthread_mutex_unlock(&s->revoke_lock);
    return found;
}

/* ---- the session representation ------------------------------------------------ */

static vmesh_err rfc3339(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return vmesh_err_set(VMESH_ERR_ARG, "time %lld cannot be formatted", (long long)t);
    return VMESH_OK;
}

/* Field order and names as Veraison's ChallengeResponseSession: status,
 * nonce (base64url, unpadded), expiry (RFC 3339), accept, evidence {type,
 * value (standard base64, as Go encodes []byte)}, result. */
static vmesh_err session_json(const vmesh_service *s, const vmesh_service_session *ss, const char *ev_type,
                              const uint8_t *ev, size_t ev_len, const char *result, vmesh_buf *b)
{
    vmesh_err rc = VMESH_OK;
    char when[32];

    VMESH_GUARD(rfc3339(ss->expiry, when));
    vmesh_buf_reset(b);
    VMESH_GUARD(js_raw(b, result ? "{\"status\":\"complete\",\"nonce\":" : "{\"status\":\"waiting\",\"nonce\":"));
    VMESH_GUARD(js_b64(b, ss->nonce, ss->nonce_len, true));
    VMESH_GUARD(js_raw(b, ",\"expiry\":\""));
    VMESH_GUARD(js_raw(b, when));
    VMESH_GUARD(js_raw(b, "\",\"accept\":"));
    VMESH_GUARD(js_raw(b, s->accept_json));
    if (ev_type != NULL) {
        VMESH_GUARD(js_raw(b, ",\"evidence\":{\"type\":"));
        VMESH_GUARD(js_cstr(b, ev_type));
        if (ev != NULL) {
            VMESH_GUARD(js_raw(b, ",\"value\":"));
            VMESH_GUARD(js_b64(b, ev, ev_len, false));
        }
        VMESH_GUARD(js_raw(b, "}"));
    }
    if (result != NULL) {
        VMESH_GUARD(js_raw(b, ",\"result\":"));
        VMESH_GUARD(js_cstr(b, result));
    }
    VMESH_GUARD(js_raw(b, "}"));
out:
    return rc;
}

static vmesh_err set_location(vmesh_buf *hdr, const char *token)
{
    vmesh_err rc = VMESH_OK;

    /* Veraison: c.Header("Location", path.Join("session", id)) — relative
     * to the newSession URL's base, i.e. /challenge-response/v1/. */
    VMESH_GUARD(vmesh_buf_set(hdr, "session/", 8));
    VMESH_GUARD(vmesh_buf_append(hdr, token, strlen(token)));
    VMESH_GUARD(vmesh_buf_terminate(hdr));
out:
    return rc;
}

/* ---- handlers ------------------------------------------------------------------- */

static vmesh_err not_acceptable(vmesh_service_response *rs, const char *mt)
{
    return vmesh_service_problem(rs, 406, "the only supported output format is %s", mt);
}

static vmesh_err new_session(vmesh_service *s, const vmesh_service_request *rq, int64_t now,
                             vmesh_service_response *rs)
{
    vmesh_err rc = VMESH_OK;
    vmesh_service_session ss;
    vmesh_buf nonce = {0}, token = {0};

    vmesh_service_session_init(&ss);
    if (!vmesh_service_accepts(rq->accept, VMESH_SERVICE_SESSION_MT)) {
        rc = not_acceptable(rs, VMESH_SERVICE_SESSION_MT);
        goto out;
    }
    if (vmesh_service_parse_nonce_query(rq->q_nonce, rq->q_nonce_size, &nonce) != VMESH_OK) {
        rc = vmesh_service_problem(rs, 400, "failed handling nonce request: %s", vmesh_err_detail());
        goto out;
    }
    VMESH_GUARD(vmesh_crypto_random(ss.sid, sizeof(ss.sid)));
    ss.state = VMESH_SESSION_WAITING;
    ss.created = now;
    ss.expiry = now + s->ttl;
    memcpy(ss.nonce, nonce.data, nonce.len);
    ss.nonce_len = nonce.len;
    VMESH_GUARD(vmesh_service_token_seal(s->session_key, &ss, &token));
    VMESH_GUARD(set_location(&rs->location, (const char *)token.data));
    VMESH_GUARD(session_json(s, &ss, NULL, NULL, 0, NULL, &rs->body));
    rs->status = 201;
    rs->content_type = VMESH_SERVICE_SESSION_MT;
    atomic_fetch_add(&s->n_sessions, 1);
out:
    vmesh_service_session_free(&ss);
    vmesh_buf_free(&nonce);
    vmesh_buf_free(&token);
    return rc;
}

/* Opens the id of a session path; on failure fills rs with the problem and
 * returns false (rc carries only out-of-memory). expired_ok: DELETE. */
static bool open_session(vmesh_service *s, const char *id, int64_t now, bool expired_ok, vmesh_service_session *ss,
                         vmesh_service_response *rs, vmesh_err *rc)
{
    vmesh_err e = vmesh_service_token_open(s->session_key, id, strlen(id), now, ss);

    *rc = VMESH_OK;
    if (e == VMESH_OK || (expired_ok && e == VMESH_ERR_EXPIRED)) {
        if (!is_revoked(s, ss->sid, now))
            return true;
        *rc = vmesh_service_problem(rs, 404, "session not found: it was deleted");
        return false;
    }
    if (e == VMESH_ERR_PARSE || e == VMESH_ERR_TOO_LARGE)
        *rc = vmesh_service_problem(rs, 400, "invalid session id in path segment: %s", vmesh_err_detail());
    else
        *rc = vmesh_service_problem(rs, 404, "session not found: %s", vmesh_err_detail());
    return false;
}

/* What an evidence request carries, once its body is read (shared by the
 * session's POST and the one-request appraisal). */
typedef struct {
    vmesh_buf cmw_type, cmw_value, ak, ear;
    const char *mt;        /* the registry's spelling of the evidence media type */
    const char *client_mt; /* the client's */
    const uint8_t *ev;
    size_t ev_len;
    bool no_annotated; /* ?annotated=omit on the one-request appraisal (D46) */
    const uint8_t *mac_key; /* ?answer=channel over TLS (D51): the session's exported key */
} evidence_req;

static void evidence_req_init(evidence_req *e)
{
    memset(e, 0, sizeof(*e));
    vmesh_buf_init(&e->ear, VMESH_JOSE_MAX_COMPACT);
}

static void evidence_req_free(evidence_req *e)
{
    vmesh_buf_free(&e->cmw_type);
    vmesh_buf_free(&e->cmw_value);
    vmesh_buf_free(&e->ak);
    vmesh_buf_free(&e->ear);
}

/* The body and its media type (a CMW is unwrapped): false with rs filled
 * (400 empty body or bad CMW, 415 unknown media type). */
static bool read_evidence(vmesh_service *s, const vmesh_service_request *rq, evidence_req *e,
                          vmesh_service_response *rs, vmesh_err *rc)
{
    const char *mt = rq->content_type;

    *rc = VMESH_OK;
    e->ev = rq->body;
    e->ev_len = rq->body_len;
    if (e->ev == NULL || e->ev_len == 0) {
        *rc = vmesh_service_problem(rs, 400, "unable to read evidence from the request body");
        return false;
    }
    if (vmesh_service_is_cmw(mt)) {
        if (vmesh_service_cmw_unwrap(e->ev, e->ev_len, &e->cmw_type, &e->cmw_value) != VMESH_OK) {
            *rc = vmesh_service_problem(rs, 400, "could not unwrap the CMW: %s", vmesh_err_detail());
            return false;
        }
        mt = (const char *)e->cmw_type.data;
        e->ev = e->cmw_value.data;
        e->ev_len = e->cmw_value.len;
    }
    if (mt == NULL || strlen(mt) > VMESH_SERVICE_MAX_MT || vmesh_schemes_by_media_type(mt, &e->mt) == NULL) {
        if ((*rc = vmesh_buf_set(&rs->accept, s->accept_header, strlen(s->accept_header))) == VMESH_OK &&
            (*rc = vmesh_buf_terminate(&rs->accept)) == VMESH_OK)
            *rc = vmesh_service_problem(rs, 415, "no active plugin found for %.300s", mt ? mt : "(no Content-Type)");
        return false;
    }
    /* The verifier hands the scheme its own spelling of the media type
     * (the registry matches canonical forms: quoted or not, any spacing);
     * the answer reports the client's. */
    e->client_mt = mt;
    return true;
}

/* Appraises e's evidence under nonce (the session's or the request's):
 * Vmesh-AK, Vmesh-Peer-ID and the scoped reference values apply. On
 * success e->ear holds the EAR (NUL-terminated) and true is returned;
 * otherwise rs holds the problem (400, 403, 500). */
static bool appraise_evidence(vmesh_service *s, const vmesh_service_request *rq, const uint8_t *nonce,
                              size_t nonce_len, int64_t now, evidence_req *e, vmesh_service_response *rs,
                              vmesh_err *rc)
{
    vmesh_err err;
    vmesh_appraisal ap;
    vmesh_verifier_request vr;
    uint8_t ak_nonce[32];
    vmesh_bell_marker markers[VMESH_BELL_MAX_BELLS];
    vmesh_rv_store *scoped = NULL;
    char why[512];
    bool ok = false;

    *rc = VMESH_OK;
    vmesh_appraisal_init(&ap);
    memset(&vr, 0, sizeof(vr));
    vr.evidence = e->ev;
    vr.evidence_len = e->ev_len;
    vr.media_type = e->mt;
    vr.nonce = nonce;
    vr.nonce_len = nonce_len;
    vr.now = now;
    vr.no_annotated = e->no_annotated;
    vr.mac_key = e->mac_key;
    if (s->bell != NULL) {
        vr.nmarkers = vmesh_bell_view_markers(s->bell, markers, VMESH_BELL_MAX_BELLS);
        vr.markers = markers;
    }
    if (rq->ak != NULL) {
        if (vmesh_service_parse_ak(rq->ak, &e->ak) != VMESH_OK) {
            *rc = vmesh_service_problem(rs, 400, "%s", vmesh_err_detail());
            goto out;
        }
        /* DESIGN §3.2: ak_nonce = SHA-256("vmesh ak v1" || SPKI(AK) || freshness
         * value); here the freshness value is the session (request) nonce. */
        if (vmesh_atls_ak_nonce(e->ak.data, e->ak.len, nonce, nonce_len, ak_nonce) != VMESH_OK) {
            *rc = vmesh_service_problem(rs, 400, "%s", vmesh_err_detail());
            goto out;
        }
        vr.nonce = ak_nonce;
        vr.nonce_len = sizeof(ak_nonce);
        vr.akpub = e->ak.data;
        vr.akpub_len = e->ak.len;
    }
    if (rq->peer != NULL) {
        if (strlen(rq->peer) > VMESH_PKI_SPIFFE_ID_MAX || vmesh_pki_spiffe_id_validate(rq->peer) != VMESH_OK) {
            *rc = vmesh_service_problem(rs, 400, "%s is not a SPIFFE ID: %.200s", VMESH_SERVICE_PEER_HEADER,
                                        strlen(rq->peer) > VMESH_PKI_SPIFFE_ID_MAX ? "too long" : vmesh_err_detail());
            goto out;
        }
        vr.peer_id = rq->peer;
    }
    if (s->rv_for != NULL) {
        /* Scoped providers: only the reference values of the RVPs scoped
         * to this identity count (D28, docs/FEDERATION.md). */
        why[0] = '\0';
        scoped = s->rv_for(s->rv_for_ctx, rq->peer, why, sizeof(why));
        if (scoped == NULL) {
            vmesh_log(VMESH_LOG_INFO, "verifier: refused to appraise for %.200s: %s",
                      rq->peer ? rq->peer : "(no Vmesh-Peer-ID)", why);
            *rc = vmesh_service_problem(rs, 403, "%s", why);
            goto out;
        }
        vr.rv = scoped;
        vr.peer_scope = why;
    }
    err = vmesh_verifier_appraise(s->verifier, &vr, &ap, NULL, &e->ear);
    if (s->rv_for != NULL && err == VMESH_OK && ap.status != VMESH_TIER_AFFIRMING)
        vmesh_log(VMESH_LOG_INFO, "verifier: %.200s: %s: %s: %.300s", rq->peer ? rq->peer : "(no Vmesh-Peer-ID)",
                  vmesh_tier_name(ap.status), why, ap.reason);
    if (err == VMESH_ERR_NOMEM || err == VMESH_ERR_CRYPTO || err == VMESH_ERR_STATE || err == VMESH_ERR_IO) {
        vmesh_log(VMESH_LOG_ERROR, "verifier: appraisal failed: %s", vmesh_err_detail());
        *rc = vmesh_service_problem(rs, 500, "error encountered while processing evidence");
        goto out;
    }
    if (err != VMESH_OK) {
        *rc = vmesh_service_problem(rs, 400, "evidence could not be appraised: %s", vmesh_err_detail());
        goto out;
    }
    if ((*rc = vmesh_buf_terminate(&e->ear)) != VMESH_OK)
        goto out;
    atomic_fetch_add(&s->n_verifications, 1);
    ok = true;
out:
    vmesh_rv_store_free(scoped);
    vmesh_appraisal_free(&ap);
    return ok;
}

static vmesh_err submit_evidence(vmesh_service *s, const vmesh_service_request *rq, const char *id, int64_t now,
                                 vmesh_service_response *rs)
{
    vmesh_err rc = VMESH_OK;
    vmesh_service_session ss;
    evidence_req e;
    vmesh_buf token = {0};

    vmesh_service_session_init(&ss);
    evidence_req_init(&e);
    if (!vmesh_service_accepts(rq->accept, VMESH_SERVICE_SESSION_MT)) {
        rc = not_acceptable(rs, VMESH_SERVICE_SESSION_MT);
        goto out;
    }
    if (!read_evidence(s, rq, &e, rs, &rc))
        goto out;
    if (!open_session(s, id, now, false, &ss, rs, &rc))
        goto out;
    if (!appraise_evidence(s, rq, ss.nonce, ss.nonce_len, now, &e, rs, &rc))
        goto out;
    /* The completed state lives in a new id: RFC 9110 §8.7 "If Content-Location
     * is included in a 2xx (Successful) response message and its field value
     * refers to a URI that differs from the target URI, then the origin server
     * claims that the URI is an identifier for a different resource
     * corresponding to the enclosed representation." */
    if (e.ear.len <= VMESH_SERVICE_MAX_TOKEN_EAR) {
        ss.state = VMESH_SESSION_COMPLETE;
        snprintf(ss.media_type, sizeof(ss.media_type), "%s", e.client_mt);
        VMESH_GUARD(vmesh_buf_set(&ss.ear, e.ear.data, e.ear.len));
        VMESH_GUARD(vmesh_service_token_seal(s->session_key, &ss, &token));
        VMESH_GUARD(set_location(&rs->content_location, (const char *)token.data));
    }
    VMESH_GUARD(session_json(s, &ss, e.client_mt, e.ev, e.ev_len, (const char *)e.ear.data, &rs->body));
    rs->status = 200;
    rs->content_type = VMESH_SERVICE_SESSION_MT;
out:
    evidence_req_free(&e);
    vmesh_service_session_free(&ss);
    vmesh_buf_free(&token);
    return rc;
}

/* D51: ?answer=channel, the relying party on this TLS session asking for
 * answers only it can check, authenticated by the session instead of our
 * signature. False with the 400 in rs; else *mac_key is the session's key
 * when the answers are channel-bound (NULL: signed, also with
 * --signed-answers, which ignores the parameter). */
static bool answer_key(vmesh_service *s, const vmesh_service_request *rq, vmesh_service_response *rs,
                       vmesh_err *rc, const uint8_t **mac_key)
{
    *rc = VMESH_OK;
    *mac_key = NULL;
    if (rq->q_answer != NULL && strcmp(rq->q_answer, "channel") != 0) {
        *rc = vmesh_service_problem(rs, 400, "answer=%.40s: the only value is channel (an EAR authenticated by "
                                             "this TLS session instead of a signature)", rq->q_answer);
        return false;
    }
    if (rq->q_answer == NULL || s->signed_answers)
        return true;
    if (rq->channel_key == NULL) {
        *rc = vmesh_service_problem(rs, 400, "answer=channel needs https: the answer is authenticated by a key "
                                             "exported from the TLS session, and this request has none");
        return false;
    }
    *mac_key = rq->channel_key;
    return true;
}

/* The one-request appraisal (D42): the nonce in the query, the evidence in
 * the body, the EAR in the answer; no session, nothing to delete. The
 * relying party checks the EAR exactly as one from a session. */
static vmesh_err appraise_once(vmesh_service *s, const vmesh_service_request *rq, int64_t now,
                               vmesh_service_response *rs)
{
    vmesh_err rc = VMESH_OK;
    evidence_req e;
    vmesh_buf nonce = {0};

    evidence_req_init(&e);
    if (!vmesh_service_accepts(rq->accept, VMESH_EAR_MEDIA_TYPE)) {
        rc = not_acceptable(rs, VMESH_EAR_MEDIA_TYPE);
        goto out;
    }
    if (rq->q_nonce_size != NULL) {
        rc = vmesh_service_problem(rs, 400, "nonceSize is not accepted by %s: the evidence is already bound to "
                                            "a nonce, send it as ?nonce=", APPRAISE_PATH);
        goto out;
    }
    if (rq->q_nonce == NULL) {
        rc = vmesh_service_problem(rs, 400, "%s needs ?nonce= (base64url, %d..%d bytes): the nonce the evidence "
                                            "is bound to", APPRAISE_PATH, VMESH_SERVICE_MIN_NONCE,
                                   VMESH_SERVICE_MAX_NONCE);
        goto out;
    }
    if (vmesh_service_parse_nonce_query(rq->q_nonce, NULL, &nonce) != VMESH_OK) {
        rc = vmesh_service_problem(rs, 400, "failed handling nonce request: %s", vmesh_err_detail());
        goto out;
    }
    /* D46: a relying party that sent the evidence needs no copy of its
     * claims in the answer */
    if (rq->q_annotated != NULL && strcmp(rq->q_annotated, "omit") != 0) {
        rc = vmesh_service_problem(rs, 400, "annotated=%.40s: the only value is omit (leave the annotated "
                                            "evidence out of the EAR)", rq->q_annotated);
        goto out;
    }
    e.no_annotated = rq->q_annotated != NULL;
    if (!answer_key(s, rq, rs, &rc, &e.mac_key))
        goto out;
    if (!read_evidence(s, rq, &e, rs, &rc))
        goto out;
    if (!appraise_evidence(s, rq, nonce.data, nonce.len, now, &e, rs, &rc))
        goto out;
    VMESH_GUARD(vmesh_buf_set(&rs->body, e.ear.data, e.ear.len));
    rs->status = 200;
    rs->content_type = VMESH_EAR_MEDIA_TYPE;
    rs->cache_control = "no-store";
    atomic_fetch_add(&s->n_oneshot, 1);
    if (e.mac_key != NULL) {
        rs->channel_answer = true;
        atomic_fetch_add(&s->n_channel, 1);
    }
out:
    evidence_req_free(&e);
    vmesh_buf_free(&nonce);
    return rc;
}

/* The batch appraisal (D53): up to SVC_BATCH_MAX one-request appraisals
 * in one CBOR body, each appraised exactly as appraise_once would (its own
 * nonce, media type, AK and peer), each answered in order with the EAR or
 * the problem appraise_once would have sent. A channel-bound answer
 * (answer=channel over TLS) uses one key for the batch, exported with the
 * ?batch= id as its context; each EAR still carries its own item's nonce,
 * which the relying party checks against that item. The client's request
 * budget was charged one request per item (http.c) before this runs. */
static vmesh_err appraise_batch(vmesh_service *s, const vmesh_service_request *rq, int64_t now,
                                vmesh_service_response *rs)
{
    vmesh_err rc = VMESH_OK;
    svc_batch_item *it = NULL;
    svc_batch_answer *ans = NULL;
    vmesh_service_response *one = NULL;
    evidence_req *e = NULL;
    vmesh_buf id = {0}, ak = {0};
    const uint8_t *mac_key = NULL;
    size_t n = 0;

    if (!vmesh_service_accepts(rq->accept, SVC_BATCH_MT)) {
        rc = not_acceptable(rs, SVC_BATCH_MT);
        goto out;
    }
    if (rq->content_type == NULL || strcasecmp(rq->content_type, SVC_BATCH_MT) != 0) {
        VMESH_GUARD(vmesh_buf_set(&rs->accept, SVC_BATCH_MT, strlen(SVC_BATCH_MT)));
        VMESH_GUARD(vmesh_buf_terminate(&rs->accept));
        rc = vmesh_service_problem(rs, 415, "%s takes %s, not %.200s", SVC_BATCH_PATH, SVC_BATCH_MT,
                                   rq->content_type ? rq->content_type : "(no Content-Type)");
        goto out;
    }
    if (rq->q_batch == NULL || vmesh_service_parse_nonce_query(rq->q_batch, NULL, &id) != VMESH_OK) {
        rc = vmesh_service_problem(rs, 400, "%s needs ?batch= (base64url, %d..%d bytes): the batch's id%s%s",
                                   SVC_BATCH_PATH, VMESH_SERVICE_MIN_NONCE, VMESH_SERVICE_MAX_NONCE,
                                   rq->q_batch ? ": " : "", rq->q_batch ? vmesh_err_detail() : "");
        goto out;
    }
    if (!answer_key(s, rq, rs, &rc, &mac_key))
        goto out;
    it = calloc(SVC_BATCH_MAX, sizeof(*it));
    ans = calloc(SVC_BATCH_MAX, sizeof(*ans));
    one = calloc(SVC_BATCH_MAX, sizeof(*one));
    e = calloc(SVC_BATCH_MAX, sizeof(*e));
    VMESH_ENSURE(it && ans && one && e, VMESH_ERR_NOMEM, "out of memory");
    if (svc_batch_request_decode(rq->body, rq->body_len, it, &n) != VMESH_OK) {
        rc = vmesh_service_problem(rs, 400, "%s", vmesh_err_detail());
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        vmesh_service_response_init(&one[i]);
        evidence_req_init(&e[i]);
    }
    for (size_t i = 0; i < n; i++) {
        /* the item as the headers of its one-request appraisal would be */
        vmesh_service_request r1 = *rq;
        char mt[VMESH_SERVICE_MAX_MT + 1], peer[VMESH_PKI_SPIFFE_ID_MAX + 1];
        vmesh_err rc1 = VMESH_OK;

        snprintf(mt, sizeof(mt), "%.*s", (int)it[i].media_type_len, it[i].media_type);
        r1.content_type = mt;
        r1.body = it[i].evidence;
        r1.body_len = it[i].evidence_len;
        r1.peer = NULL;
        if (it[i].peer != NULL) {
            snprintf(peer, sizeof(peer), "%.*s", (int)it[i].peer_len, it[i].peer);
            r1.peer = peer;
        }
        r1.ak = NULL;
        if (it[i].ak != NULL) {
            VMESH_GUARD(vmesh_b64url_encode(it[i].ak, it[i].ak_len, &ak));
            VMESH_GUARD(vmesh_buf_terminate(&ak));
            r1.ak = (const char *)ak.data;
        }
        e[i].no_annotated = true; /* a relying party's own appraisal (D46) */
        e[i].mac_key = mac_key;
        if (read_evidence(s, &r1, &e[i], &one[i], &rc1) &&
            appraise_evidence(s, &r1, it[i].nonce, it[i].nonce_len, now, &e[i], &one[i], &rc1)) {
            ans[i].status = 200;
            ans[i].text = (const char *)e[i].ear.data;
            ans[i].text_len = e[i].ear.len;
            atomic_fetch_add(&s->n_batch_items, 1);
            if (mac_key != NULL)
                atomic_fetch_add(&s->n_channel, 1);
        } else {
            VMESH_GUARD(rc1);
            ans[i].status = one[i].status;
            ans[i].text = (const char *)one[i].body.data;
            ans[i].text_len = one[i].body.len;
        }
    }
    VMESH_GUARD(svc_batch_response_encode(ans, n, &rs->body));
    rs->status = 200;
    rs->content_type = SVC_BATCH_MT;
    rs->cache_control = "no-store";
    rs->channel_answer = mac_key != NULL;
    atomic_fetch_add(&s->n_batches, 1);
out:
    for (size_t i = 0; i < n; i++) {
        evidence_req_free(&e[i]);
        vmesh_service_response_free(&one[i]);
    }
    free(it);
    free(ans);
    free(one);
    free(e);
    vmesh_buf_free(&id);
    vmesh_buf_free(&ak);
    return rc;
}

static vmesh_err get_session(vmesh_service *s, const vmesh_service_request *rq, const char *id, int64_t now,
                             vmesh_service_response *rs)
{
    vmesh_err rc = VMESH_OK;
    vmesh_service_session ss;
    bool done;

    vmesh_service_session_init(&ss);
    if (!vmesh_service_accepts(rq->accept, VMESH_SERVICE_SESSION_MT)) {
        rc = not_acceptable(rs, VMESH_SERVICE_SESSION_MT);
        goto out;
    }
    if (!open_session(s, id, now, false, &ss, rs, &rc))
        goto out;
    done = ss.state == VMESH_SESSION_COMPLETE;
    /* A completed id carries the evidence type and the result, not the
     * evidence bytes (docs/VERIFIER.md). */
    VMESH_GUARD(session_json(s, &ss, done ? ss.media_type : NULL, NULL, 0, done ? (const char *)ss.ear.data : NULL,
                             &rs->body));
    rs->status = 200;
    rs->content_type = VMESH_SERVICE_SESSION_MT;
out:
    vmesh_service_session_free(&ss);
    return rc;
}

static vmesh_err delete_session(vmesh_service *s, const char *id, int64_t now, vmesh_service_response *rs)
{
    vmesh_err rc = VMESH_OK;
    vmesh_service_session ss;

    vmesh_service_session_init(&ss);
    if (!open_session(s, id, now, true, &ss, rs, &rc))
        goto out;
    if (ss.expiry > now) {
        revoke_sid(s, ss.sid, ss.expiry, now);
        atomic_fetch_add(&s->n_revoked, 1);
    }
    rs->status = 204;
    rs->content_type = NULL;
    vmesh_buf_reset(&rs->body);
out:
    vmesh_service_session_free(&ss);
    return rc;
}

static vmesh_err well_known(vmesh_service *s, const vmesh_service_request *rq, vmesh_service_response *rs)
{
    vmesh_err rc = VMESH_OK;

    if (!vmesh_service_accepts(rq->accept, VMESH_SERVICE_DISCOVERY_MT) &&
        !vmesh_service_accepts(rq->accept, "application/json")) {
        rc = not_acceptable(rs, VMESH_SERVICE_DISCOVERY_MT);
        goto out;
    }
    VMESH_GUARD(vmesh_buf_set(&rs->body, s->well_known, s->well_known_len));
    rs->status = 200;
    rs->content_type = VMESH_SERVICE_DISCOVERY_MT;
    rs->cache_control = WELL_KNOWN_MAX_AGE;
out:
    return rc;
}

static bool is(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

vmesh_err vmesh_service_handle(vmesh_service *s, const vmesh_service_request *rq, vmesh_service_response *rs)
{
    vmesh_err rc = VMESH_OK;
    int64_t now = rq->now ? rq->now : vmesh_time_now();
    const char *path = rq->path ? rq->path : "";
    const char *m = rq->method ? rq->method : "";

    atomic_fetch_add(&s->n_requests, 1);
    rs->status = 500;
    rs->content_type = NULL;
    rs->cache_control = NULL;
    vmesh_buf_reset(&rs->body);
    vmesh_buf_reset(&rs->location);
    vmesh_buf_reset(&rs->content_location);
    vmesh_buf_reset(&rs->accept);
    if (strcmp(path, WELL_KNOWN_PATH) == 0) {
        rc = is(m, "GET") ? well_known(s, rq, rs) : vmesh_service_problem(rs, 405, "%s allows GET", path);
    } else if (strcmp(path, VMESH_SERVICE_ATTESTATION_PATH) == 0) {
        rc = is(m, "GET") ? svc_attestation_answer(s, rq, rs) : vmesh_service_problem(rs, 405, "%s allows GET", path);
    } else if (s->appraise && strcmp(path, APPRAISE_PATH) == 0) {
        rc = is(m, "POST") ? appraise_once(s, rq, now, rs) : vmesh_service_problem(rs, 405, "%s allows POST", path);
    } else if (s->appraise && s->batch && strcmp(path, SVC_BATCH_PATH) == 0) {
        rc = is(m, "POST") ? appraise_batch(s, rq, now, rs) : vmesh_service_problem(rs, 405, "%s allows POST", path);
    } else if (strcmp(path, NEW_SESSION_PATH) == 0) {
        rc = is(m, "POST") ? new_session(s, rq, now, rs) : vmesh_service_problem(rs, 405, "%s allows POST", path);
    } else if (strncmp(path, SESSION_PATH, strlen(SESSION_PATH)) == 0 && path[strlen(SESSION_PATH)] != '\0' &&
               strchr(path + strlen(SESSION_PATH), '/') == NULL) {
        const char *id = path + strlen(SESSION_PATH);
        if (is(m, "POST"))
            rc = submit_evidence(s, rq, id, now, rs);
        else if (is(m, "GET"))
            rc = get_session(s, rq, id, now, rs);
        else if (is(m, "DELETE"))
            rc = delete_session(s, id, now, rs);
        else
            rc = vmesh_service_problem(rs, 405, "a session allows POST, GET and DELETE");
    } else {
        rc = vmesh_service_problem(rs, 404, "no such resource: %.200s", path);
    }
    if (rc == VMESH_OK && rs->status >= 400)
        atomic_fetch_add(&s->n_problems, 1);
    return rc;
}
