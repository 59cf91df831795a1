/*
 * The appraisal engine: evidence in, trust vector and signed EAR out. It
 * owns the current reference-value snapshot (swapped atomically under a
 * mutex held only for the pointer swap) and the EAR signing key. It must
 * never report a result better than the scheme's appraisal concluded.
 */
#include "vmesh/verifier.h"
#include "vmesh/corim.h"
#include "vmesh/psa.h"
#include "vmesh/jose.h"
#include "vmesh/schemes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_POLICY_ID "policy:vmesh/default"
#define RV_FILE_MAX ((size_t)16 * 1024 * 1024)

struct vmesh_verifier {
    pthread_mutex_t lock;
    vmesh_rv_store *rv;
    vmesh_key *ear_key;
    int64_t ear_validity;
    char *developer;
    char *build;
    char *policy_id;
    char policy_digest[VMESH_VERIFIER_DIGEST_MAX];
    char id[VMESH_VERIFIER_ID_MAX];
};

vmesh_err vmesh_verifier_load_rv_file(vmesh_rv_store *s, const char *path,
                                      const vmesh_key *corim_key)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};
    size_t i = 0;

    VMESH_GUARD(vmesh_file_read(path, RV_FILE_MAX, &b));
    while (i < b.len && (b.data[i] == ' ' || b.data[i] == '\n' || b.data[i] == '\r' || b.data[i] == '\t'))
        i++;
    VMESH_ENSURE(i < b.len, VMESH_ERR_PARSE, "%s is empty: expected reference values (CoRIM or vmesh RV JSON)", path);
    if (b.data[i] == '{')
        rc = vmesh_rv_load_json(s, b.data, b.len, path);
    else if (vmesh_corim_is_corim(b.data, b.len))
        rc = vmesh_corim_load(s, b.data, b.len, corim_key, VMESH_CORIM_ALLOW_UNSIGNED, vmesh_psa_corim_profiles,
                              path, NULL);
    else
        VMESH_FAIL(VMESH_ERR_PARSE,
                   "%s: not a reference-value file (expected a CoRIM — CBOR tag 501 or a signed "
                   "CoRIM — or vmesh RV JSON)", path);
    if (rc != VMESH_OK)
        vmesh_err_wrap(rc, "loading reference values from %s", path);
out:
    vmesh_buf_free(&b);
    return rc;
}

static void policy_digest(vmesh_verifier *v);

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s != NULL ? s : dflt);
}

vmesh_err vmesh_verifier_new(const vmesh_verifier_config *cfg, vmesh_verifier **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_verifier *v = NULL;

    *out = NULL;
    VMESH_ENSURE(cfg != NULL, VMESH_ERR_ARG, "verifier: no configuration");
    VMESH_ENSURE(cfg->ear_key == NULL || vmesh_crypto_key_is_private(cfg->ear_key), VMESH_ERR_ARG,
                 "verifier: the EAR signing key is a public key; give the private key");
    v = calloc(1, sizeof(*v));
    VMESH_ENSURE(v != NULL, VMESH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&v->lock, NULL);
    v->ear_key = cfg->ear_key ? vmesh_crypto_key_ref(cfg->ear_key) : NULL;
    v->ear_validity = cfg->ear_validity > 0 ? cfg->ear_validity : 3600;
    v->developer = dup_or(cfg->developer, "vmesh");
    v->build = dup_or(cfg->build, "vmesh-" VMESH_VERSION_STRING);
    v->policy_id = dup_or(cfg->policy_id, DEFAULT_POLICY_ID);
    VMESH_ENSURE(v->developer && v->build && v->policy_id, VMESH_ERR_NOMEM, "out of memory");
    policy_digest(v);
    VMESH_GUARD(vmesh_rv_store_new(&v->rv));
    vmesh_rv_store_freeze(v->rv);
    *out = v;
    v = NULL;
out:
    vmesh_verifier_free(v);
    return rc;
}

void vmesh_verifier_free(vmesh_verifier *v)
{
    if (v == NULL)
        return;
    vmesh_rv_store_free(v->rv);
    vmesh_crypto_key_free(v->ear_key);
    free(v->developer);
    free(v->build);
    free(v->policy_id);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

void vmesh_verifier_set_rv(vmesh_verifier *v, vmesh_rv_store *s)
{
    vmesh_rv_store *old;

    vmesh_rv_store_freeze(s);
    vmesh_rv_store_ref(s);
    pthread_mutex_lock(&v->lock);
    old = v->rv;
    v->rv = s;
    pthread_mutex_unlock(&v->lock);
    vmesh_rv_store_free(old);
}

vmesh_rv_store *vmesh_verifier_rv(vmesh_verifier *v)
{
    vmesh_rv_store *s;

    pthread_mutex_lock(&v->lock);
    s = vmesh_rv_store_ref(v->rv);
    pthread_mutex_unlock(&v->lock);
    return s;
}

/* The appraisal policy as one digest (issue 12.4): the policy id, the EAR
 * lifetime and the schemes this build appraises with, each on its own
 * line after a version label. The code itself is named by
 * ear.verifier-id.build; the reference values by ear.vmesh.rv-epochs. */
static void policy_digest(vmesh_verifier *v)
{
    vmesh_buf b;
    uint8_t d[32];
    size_t n = 0;
    const vmesh_evidence_scheme *const *all = vmesh_schemes_all(&n);
    static const char hex[] = "0123456789abcdef";
    size_t o;

    vmesh_buf_init(&b, 64 * 1024);
    if (vmesh_buf_printf(&b, "vmesh-appraisal-policy/1\npolicy-id %s\near-validity %lld\n", v->policy_id,
                         (long long)v->ear_validity) != VMESH_OK)
        vmesh_err_clear();
    for (size_t i = 0; i < n; i++)
        if (vmesh_buf_printf(&b, "scheme %s\n", all[i]->name) != VMESH_OK)
            vmesh_err_clear();
    vmesh_crypto_sha256(b.data, b.len, d);
    vmesh_buf_free(&b);
    o = (size_t)snprintf(v->policy_digest, sizeof(v->policy_digest), "sha-256:");
    for (size_t i = 0; i < 32 && o + 2 < sizeof(v->policy_digest); i++) {
        v->policy_digest[o++] = hex[d[i] >> 4];
        v->policy_digest[o++] = hex[d[i] & 15];
    }
    v->policy_digest[o] = '\0';
    snprintf(v->id, sizeof(v->id), "%s/%s", v->developer, v->build);
}

const char *vmesh_verifier_policy_digest(const vmesh_verifier *v)
{
    return v->policy_digest;
}

const char *vmesh_verifier_id(const vmesh_verifier *v)
{
    return v->id;
}

static vmesh_err make_ear(vmesh_verifier *v, const vmesh_evidence_scheme *scheme,
                          const vmesh_verifier_request *req, const vmesh_rv_store *rv,
                          const vmesh_appraisal *a, int64_t now, vmesh_buf *jwt)
{
    vmesh_err rc = VMESH_OK;
    vmesh_ear *e = NULL;
    size_t nep = vmesh_rv_epoch_count(rv);

    VMESH_GUARD(vmesh_ear_new(&e));
    VMESH_GUARD(vmesh_ear_set_iat(e, now));
    VMESH_GUARD(vmesh_ear_set_exp(e, now + v->ear_validity));
    VMESH_GUARD(vmesh_ear_set_verifier_id(e, v->developer, v->build));
    VMESH_GUARD(vmesh_ear_set_policy_digest(e, v->policy_digest));
    /* eat_nonce answers the question (DESIGN §9): the nonce the caller
     * expected, whatever the evidence carried (its appraisal says whether
     * they match); the evidence's own nonce when none was expected. */
    if (req->nonce != NULL && req->nonce_len > 0)
        VMESH_GUARD(vmesh_ear_set_nonce(e, req->nonce, req->nonce_len));
    else if (a->nonce.len > 0)
        VMESH_GUARD(vmesh_ear_set_nonce(e, a->nonce.data, a->nonce.len));
    for (size_t i = 0; i < nep; i++) {
        const char *rvp;
        uint64_t epoch;
        if (vmesh_rv_epoch_at(rv, i, &rvp, &epoch))
            VMESH_GUARD(vmesh_ear_add_rv_epoch(e, rvp, epoch));
    }
    if (req->peer_id != NULL)
        VMESH_GUARD(vmesh_ear_set_peer(e, req->peer_id, req->peer_scope));
    for (size_t i = 0; i < req->nmarkers; i++)
        VMESH_GUARD(vmesh_ear_add_epoch_marker(e, req->markers[i].bell, req->markers[i].tick, req->markers[i].em,
                                               sizeof(req->markers[i].em)));
    VMESH_GUARD(vmesh_ear_add_submod(e, scheme->name, a->status, &a->tv, v->policy_id,
                                     a->claims_json.len && !req->no_annotated ? (const char *)a->claims_json.data
                                                                              : NULL,
                                     req->akpub, req->akpub_len));
    /* D43: the questions the appraisal asked the reference values, so that
     * a relying party can tell, under its own newer snapshot, whether the
     * result still stands */
    if (a->journal.len > 0 && a->journal.len <= VMESH_EAR_MAX_RV_JOURNAL)
        VMESH_GUARD(vmesh_ear_submod_set_rv_journal(e, scheme->name, a->journal.data, a->journal.len));
    if (req->mac_key != NULL)
        VMESH_GUARD(vmesh_ear_mac(e, req->mac_key, jwt));
    else
        VMESH_GUARD(vmesh_ear_sign(e, v->ear_key, jwt));
out:
    vmesh_ear_free(e);
    return rc;
}

vmesh_err vmesh_verifier_appraise(vmesh_verifier *v, const vmesh_verifier_request *req,
                                  vmesh_appraisal *out, const vmesh_evidence_scheme **scheme_out,
                                  vmesh_buf *ear)
{
    vmesh_err rc = VMESH_OK;
    const vmesh_evidence_scheme *scheme;
    const char *mt = NULL;
    vmesh_rv_store *rv = req->rv ? vmesh_rv_store_ref(req->rv) : vmesh_verifier_rv(v);
    vmesh_appraisal_in in;
    int64_t now = req->now ? req->now : vmesh_time_now();
    vmesh_rv_journal *journal = NULL, *prev;

    if (req->media_type != NULL) {
        /* The scheme is handed its own spelling of the media type. */
        scheme = vmesh_schemes_by_media_type(req->media_type, &mt);
        VMESH_ENSURE(scheme != NULL, VMESH_ERR_UNSUPPORTED,
                     "unsupported evidence media type \"%.200s\"", req->media_type);
    } else {
        scheme = vmesh_schemes_detect(req->evidence, req->evidence_len);
        VMESH_ENSURE(scheme != NULL, VMESH_ERR_UNSUPPORTED,
                     "cannot tell the evidence format; give its media type");
    }
    if (scheme_out)
        *scheme_out = scheme;
    memset(&in, 0, sizeof(in));
    in.evidence = req->evidence;
    in.evidence_len = req->evidence_len;
    in.media_type = mt;
    in.nonce = req->nonce;
    in.nonce_len = req->nonce_len;
    in.rv = rv;
    in.now = now;
    /* The lookup journal (D43): every question the scheme and the
     * staleness check ask the store, with its answer. */
    VMESH_GUARD(vmesh_rv_journal_new(&journal));
    prev = vmesh_rv_journal_record(journal);
    rc = scheme->appraise(&in, out);
    /* Trust-bundle staleness (DESIGN §5): "When a manifest is older than its
     * expires_at, results carry sourced-data warning; policy may refuse." */
    if (rc == VMESH_OK && vmesh_rv_store_is_stale(rv))
        vmesh_appraisal_note(out, VMESH_TV_SOURCED_DATA, VMESH_AR_UNTRUSTED_SOURCES,
                             "reference values are stale: an RVP manifest is past its expires_at");
    vmesh_rv_journal_record(prev);
    VMESH_GUARD(rc);
    vmesh_buf_reset(&out->journal);
    if (vmesh_rv_journal_encode(journal, &out->journal) != VMESH_OK) {
        vmesh_buf_reset(&out->journal); /* not replayable: judged as before */
        vmesh_err_clear();
    }
    /* The scheme's vector is the truth; the status is derived, never set. */
    out->status = vmesh_tv_status(&out->tv);
    if (ear != NULL) {
        VMESH_ENSURE(v->ear_key != NULL, VMESH_ERR_STATE,
                     "this verifier has no EAR signing key: it appraises but cannot issue results");
        VMESH_GUARD(make_ear(v, scheme, req, rv, out, now, ear));
    }
out:
    vmesh_rv_journal_free(journal);
    vmesh_rv_store_free(rv);
    return rc;
}
