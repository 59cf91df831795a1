/*
 * The "tpm2" evidence scheme: the attester (quote with the caller's nonce
 * as qualifying data, PCR values, AK public key, optional event log,
 * packaged as the CBOR map of docs/TPM2.md) and the appraisal:
 *
 *  - malformed evidence, quote or signature structure: an error, no result;
 *  - no AK endorsed for (class, SHA-256(AK SPKI)): instance-identity and
 *    hardware 97 (unrecognized), nothing else judged;
 *  - quote signature (ECDSA P-256 over SHA-256(TPMS_ATTEST)) does not
 *    verify with an endorsed AK, or the PCR values do not produce the quoted
 *    pcrDigest, or they are not exactly the quoted selection: every claim 99;
 *  - qualifying data differs from the expected nonce: every claim 99;
 *  - otherwise hardware 2 and instance-identity 2; executables 2 when every
 *    quoted PCR equals one of its reference values ("pcr<N>", digest alg of
 *    the bank) and every PCR named by the class's reference values is
 *    quoted, else 33 naming the first PCR at fault; configuration from the
 *    class's optional attributes "firmware-version" and "clock-safe".
 * The appraisal must never report a better vector than the evidence
 * supports: PCR values count only once the quote that covers them has been
 * verified with an endorsed key.
 */
#include "tpm2_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tpm2_media_types[] = {VMESH_TPM2_MEDIA_TYPE, NULL};

/* Our media type has no parameters, so one with parameters is another type. */
static bool media_type_ok(const char *mt)
{
    return vmesh_evidence_media_type_eq(mt, VMESH_TPM2_MEDIA_TYPE);
}

static bool tpm2_detect(const uint8_t *p, size_t n)
{
    vmesh_tpm2_evidence ev;
    vmesh_err rc;

    if (p == NULL || n < 8 ||
        !(vmesh_cbor_starts_with(p, n, VMESH_CBOR_MAP, 5, NULL) || vmesh_cbor_starts_with(p, n, VMESH_CBOR_MAP, 6, NULL)))
        return false;
    rc = vmesh_tpm2_evidence_decode(p, n, &ev);
    vmesh_tpm2_evidence_free(&ev);
    return rc == VMESH_OK;
}

/* ---- attester ---------------------------------------------------------------- */

typedef struct {
    tpm2_config cfg;
    char *tcti, *eventlog, *class_id;
    vmesh_buf spki;
} tpm2_attester;

static void tpm2_attester_free(void *ctx)
{
    tpm2_attester *a = ctx;

    if (a == NULL)
        return;
    free(a->tcti);
    free(a->eventlog);
    free(a->class_id);
    vmesh_buf_free(&a->spki);
    free(a);
}

static vmesh_err dup_opt(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return VMESH_OK;
    *out = strdup(s);
    return *out ? VMESH_OK : vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
}

static vmesh_err tpm2_attester_new(const vmesh_kv *cfg, size_t ncfg, void **ctx)
{
    vmesh_err rc = VMESH_OK;
    tpm2_attester *a = NULL;
    tpm2_tpm *t = NULL;

    *ctx = NULL;
    a = calloc(1, sizeof(*a));
    VMESH_ENSURE(a != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(vmesh_tpm2_config_parse(cfg, ncfg, &a->cfg));
    /* own the strings: the configuration may not outlive us */
    VMESH_GUARD(dup_opt(a->cfg.tcti, &a->tcti));
    VMESH_GUARD(dup_opt(a->cfg.eventlog, &a->eventlog));
    VMESH_GUARD(dup_opt(a->cfg.class_id, &a->class_id));
    a->cfg.tcti = a->tcti;
    a->cfg.eventlog = a->eventlog;
    a->cfg.class_id = a->class_id;
    /* Fail at start-up, not at the first attestation: the TPM must answer
     * and the AK must exist (or be created now). */
    VMESH_GUARD(vmesh_tpm2_open(&a->cfg, &t));
    VMESH_GUARD(vmesh_tpm2_ak(t, &a->spki));
    *ctx = a;
    a = NULL;
out:
    vmesh_tpm2_close(t);
    tpm2_attester_free(a);
    return rc;
}

/* One quote whose PCR values are read right after it and checked against
 * its pcrDigest; a PCR extended in between makes us quote again. */
static vmesh_err quote_consistent(tpm2_tpm *t, const tpm2_config *c, const uint8_t *nonce, size_t nonce_len,
                                  vmesh_buf *attest, vmesh_buf *sig, vmesh_tpm2_pcr **pcrs, size_t *npcrs)
{
    vmesh_err rc = VMESH_OK;
    vmesh_tpm2_quote q;
    uint8_t d[32];

    for (int attempt = 0; attempt < 3; attempt++) {
        free(*pcrs);
        *pcrs = NULL;
        VMESH_GUARD(vmesh_tpm2_do_quote(t, nonce, nonce_len, attest, sig));
        VMESH_GUARD(vmesh_tpm2_read_pcrs(t, pcrs, npcrs));
        rc = vmesh_tpm2_quote_parse(attest->data, attest->len, &q);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "TPM: the quote it produced");
            goto out;
        }
        VMESH_ENSURE(q.extra_data_len == nonce_len && memcmp(q.extra_data, nonce, nonce_len) == 0,
                     VMESH_ERR_MISMATCH, "TPM: the quote does not carry the qualifying data we gave");
        VMESH_ENSURE(q.nsel == c->nsel, VMESH_ERR_MISMATCH,
                     "TPM: the quote covers %zu banks, %zu were asked (is every bank allocated?)", q.nsel, c->nsel);
        rc = vmesh_tpm2_pcr_digest(q.sel, q.nsel, *pcrs, *npcrs, d);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "TPM: quote and PCR_Read disagree");
            goto out;
        }
        if (q.pcr_digest_len == 32 && memcmp(q.pcr_digest, d, 32) == 0)
            goto out;
        vmesh_log(VMESH_LOG_DEBUG, "tpm2: a PCR changed between quote and PCR_Read; quoting again");
    }
    VMESH_FAIL(VMESH_ERR_STATE, "TPM: the PCRs keep changing between quote and PCR_Read (3 attempts)");
out:
    return rc;
}

static vmesh_err tpm2_attest(void *ctx, const uint8_t *nonce, size_t nonce_len, vmesh_buf *evidence)
{
    vmesh_err rc = VMESH_OK;
    tpm2_attester *a = ctx;
    tpm2_tpm *t = NULL;
    vmesh_buf attest = {0}, sig = {0}, spki = {0}, log = {0};
    vmesh_tpm2_evidence ev;

    memset(&ev, 0, sizeof(ev));
    VMESH_ENSURE(a != NULL, VMESH_ERR_STATE, "tpm2: attester not initialised");
    VMESH_ENSURE(nonce != NULL && nonce_len >= 1 && nonce_len <= 64, VMESH_ERR_ARG,
                 "tpm2: the nonce must be 1..64 bytes (the quote's qualifying data), got %zu",
                 nonce != NULL ? nonce_len : 0);
    VMESH_GUARD(vmesh_tpm2_open(&a->cfg, &t));
    VMESH_GUARD(vmesh_tpm2_ak(t, &spki));
    VMESH_ENSURE(spki.len == a->spki.len && memcmp(spki.data, a->spki.data, spki.len) == 0, VMESH_ERR_STATE,
                 "tpm2: the key at handle 0x%08x changed since the attester started", (unsigned)a->cfg.ak_handle);
    VMESH_GUARD(quote_consistent(t, &a->cfg, nonce, nonce_len, &attest, &sig, &ev.pcrs, &ev.npcrs));
    if (a->cfg.eventlog != NULL) {
        rc = vmesh_file_read(a->cfg.eventlog, VMESH_TPM2_MAX_EVENTLOG, &log);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "tpm2: reading the event log %s", a->cfg.eventlog);
            goto out;
        }
        ev.eventlog = log.data ? log.data : (const uint8_t *)"";
        ev.eventlog_len = log.len;
    }
    ev.attest = attest.data;
    ev.attest_len = attest.len;
    ev.signature = sig.data;
    ev.signature_len = sig.len;
    ev.ak_spki = a->spki.data;
    ev.ak_spki_len = a->spki.len;
    ev.class_id = (const uint8_t *)a->cfg.class_id;
    ev.class_id_len = strlen(a->cfg.class_id);
    VMESH_GUARD(vmesh_tpm2_evidence_encode(&ev, evidence));
out:
    vmesh_tpm2_close(t);
    free(ev.pcrs);
    vmesh_buf_free(&attest);
    vmesh_buf_free(&sig);
    vmesh_buf_free(&spki);
    vmesh_buf_free(&log);
    return rc;
}

vmesh_err vmesh_tpm2_reference_values(const vmesh_kv *cfg, size_t ncfg, vmesh_buf *rv_json)
{
    vmesh_err rc = VMESH_OK;
    tpm2_config c;
    tpm2_tpm *t = NULL;
    vmesh_buf spki = {0};
    vmesh_tpm2_pcr *pcrs = NULL;
    size_t npcrs = 0;
    vmesh_rv_store *s = NULL;
    vmesh_key *k = NULL;
    uint8_t iid[32];
    vmesh_rv_env env;

    VMESH_GUARD(vmesh_tpm2_config_parse(cfg, ncfg, &c));
    VMESH_GUARD(vmesh_tpm2_open(&c, &t));
    VMESH_GUARD(vmesh_tpm2_ak(t, &spki));
    VMESH_GUARD(vmesh_tpm2_read_pcrs(t, &pcrs, &npcrs));
    VMESH_GUARD(vmesh_rv_store_new(&s));
    memset(&env, 0, sizeof(env));
    env.scheme = "tpm2";
    env.class_id = (const uint8_t *)c.class_id;
    env.class_id_len = strlen(c.class_id);
    for (size_t i = 0; i < npcrs; i++) {
        char name[16];
        vmesh_rv_measurement m;

        memset(&m, 0, sizeof(m));
        snprintf(name, sizeof(name), "pcr%u", (unsigned)pcrs[i].index);
        m.name = name;
        m.digest_alg = vmesh_tpm2_alg_to_rv_hash(pcrs[i].alg);
        m.digest = pcrs[i].digest;
        m.digest_len = pcrs[i].digest_len;
        VMESH_GUARD(vmesh_rv_add_measurement(s, &env, &m));
    }
    VMESH_GUARD(vmesh_crypto_key_from_spki(spki.data, spki.len, &k));
    vmesh_tpm2_instance_id(spki.data, spki.len, iid);
    env.instance_id = iid;
    env.instance_id_len = sizeof(iid);
    VMESH_GUARD(vmesh_rv_add_key(s, &env, k));
    VMESH_GUARD(vmesh_rv_store_to_json(s, rv_json));
out:
    vmesh_tpm2_close(t);
    vmesh_rv_store_free(s);
    vmesh_crypto_key_free(k);
    vmesh_buf_free(&spki);
    free(pcrs);
    return rc;
}

/* ---- verifier ----------------------------------------------------------------- */

/* ECDSA r and s as the fixed 32-byte halves of r||s (leading zeros of a
 * TPM2B_ECC_PARAMETER dropped, short values left-padded). */
static bool to_raw(const uint8_t *v, size_t n, uint8_t out[32])
{
    while (n > 0 && v[0] == 0) {
        v++;
        n--;
    }
    if (n > 32)
        return false;
    memset(out, 0, 32);
    memcpy(out + 32 - n, v, n);
    return true;
}

static int rv_hash_to_tpm(int h)
{
    switch (h) {
    case VMESH_HASH_SHA256: return VMESH_TPM2_ALG_SHA256;
    case VMESH_HASH_SHA384: return VMESH_TPM2_ALG_SHA384;
    case VMESH_HASH_SHA512: return VMESH_TPM2_ALG_SHA512;
    default: return 0;
    }
}

/* "pcr7" -> 7; -1 when the name is not pcr<0..31>. */
static int pcr_index_of(const char *name)
{
    char *end;
    long v;

    if (name == NULL || strncmp(name, "pcr", 3) != 0 || name[3] < '0' || name[3] > '9')
        return -1;
    v = strtol(name + 3, &end, 10);
    return (*end == '\0' && v >= 0 && v < VMESH_TPM2_MAX_PCRS && strlen(name + 3) <= 2) ? (int)v : -1;
}

#define RV_STACK 128

static vmesh_err judge_pcrs(const vmesh_appraisal_in *in, const vmesh_tpm2_evidence *ev, vmesh_appraisal *out)
{
    vmesh_err rc = VMESH_OK;
    const vmesh_rv_measurement *stack[RV_STACK];
    const vmesh_rv_measurement **rv = stack;
    size_t nrv;
    vmesh_buf hex = {0};

    nrv = vmesh_rv_find_measurements(in->rv, "tpm2", ev->class_id, ev->class_id_len, stack, RV_STACK);
    if (nrv > RV_STACK) {
        VMESH_ENSURE(nrv <= VMESH_RV_MAX_ENTRIES, VMESH_ERR_TOO_LARGE, "tpm2: too many reference values");
        rv = malloc(nrv * sizeof(*rv));
        VMESH_ENSURE(rv != NULL, VMESH_ERR_NOMEM, "out of memory");
        nrv = vmesh_rv_find_measurements(in->rv, "tpm2", ev->class_id, ev->class_id_len, rv, nrv);
    }
    if (nrv == 0) {
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                             "no PCR reference values for this TPM's class (%zu-byte class id)", ev->class_id_len);
        goto out;
    }
    for (size_t i = 0; i < ev->npcrs; i++) {
        const vmesh_tpm2_pcr *p = &ev->pcrs[i];
        int idx;
        size_t named = 0;
        bool match = false;

        for (size_t j = 0; j < nrv && !match; j++) {
            idx = pcr_index_of(rv[j]->name);
            if (idx != p->index || rv_hash_to_tpm(rv[j]->digest_alg) != p->alg)
                continue;
            named++;
            match = rv[j]->digest_len == p->digest_len && vmesh_crypto_memeq(rv[j]->digest, p->digest, p->digest_len);
        }
        if (match)
            continue;
        vmesh_buf_reset(&hex);
        VMESH_GUARD(vmesh_hex_encode(p->digest, p->digest_len, &hex));
        VMESH_GUARD(vmesh_buf_terminate(&hex));
        if (named == 0)
            vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                                 "PCR %s:%u (%s) has no reference value", vmesh_tpm2_alg_name(p->alg),
                                 (unsigned)p->index, (const char *)hex.data);
        else
            vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                                 "PCR %s:%u = %s matches none of its %zu reference values",
                                 vmesh_tpm2_alg_name(p->alg), (unsigned)p->index, (const char *)hex.data, named);
        goto out;
    }
    /* The attester chooses the selection: a PCR the reference values
     * constrain must be in the quote, or leaving it out would hide it. */
    for (size_t j = 0; j < nrv; j++) {
        int idx = pcr_index_of(rv[j]->name), alg = rv_hash_to_tpm(rv[j]->digest_alg);
        bool quoted = false;

        if (idx < 0 || alg == 0)
            continue;
        for (size_t i = 0; i < ev->npcrs && !quoted; i++)
            quoted = ev->pcrs[i].index == idx && ev->pcrs[i].alg == alg;
        if (!quoted) {
            vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_UNRECOGNIZED_RUNTIME,
                                 "reference values constrain PCR %s:%d but the quote does not cover it",
                                 vmesh_tpm2_alg_name((uint16_t)alg), idx);
            goto out;
        }
    }
    vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_APPROVED_RUNTIME, NULL);
out:
    if (rv != stack)
        free(rv);
    vmesh_buf_free(&hex);
    return rc;
}

static void judge_config(const vmesh_appraisal_in *in, const vmesh_tpm2_evidence *ev, const vmesh_tpm2_quote *q,
                         vmesh_appraisal *out)
{
    const char *vals[16];
    size_t n;
    char fw[32];
    bool constrained = false;

    n = vmesh_rv_find_attrs(in->rv, "tpm2", ev->class_id, ev->class_id_len, "firmware-version", vals, 16);
    if (n > 0) {
        bool ok = false;

        constrained = true;
        snprintf(fw, sizeof(fw), "0x%016llx", (unsigned long long)q->firmware_version);
        for (size_t i = 0; i < n && i < 16 && !ok; i++)
            ok = strcmp(vals[i], fw) == 0;
        if (!ok) {
            vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSAFE_CONFIG,
                                 "TPM firmware version %s is not an accepted one", fw);
            return;
        }
    }
    n = vmesh_rv_find_attrs(in->rv, "tpm2", ev->class_id, ev->class_id_len, "clock-safe", vals, 16);
    if (n > 0 && strcmp(vals[0], "required") == 0) {
        constrained = true;
        if (!q->safe) {
            /* Part 2 §10.11.1 TPMS_CLOCK_INFO: safe YES means "no value of
             * Clock greater than the current value of Clock has been
             * previously reported by the TPM"; NO follows an unorderly
             * shutdown */
            vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_UNSAFE_CONFIG,
                                 "TPM clock is not safe (clockInfo.safe = NO after an unorderly shutdown)");
            return;
        }
    }
    if (constrained)
        vmesh_appraisal_note(out, VMESH_TV_CONFIGURATION, VMESH_AR_APPROVED_CONFIG, NULL);
}

static vmesh_err tpm2_appraise(const vmesh_appraisal_in *in, vmesh_appraisal *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_tpm2_evidence ev;
    vmesh_tpm2_quote q;
    vmesh_tpm2_signature sig;
    vmesh_key *keys[8];
    size_t nkeys = 0;
    uint8_t iid[32], rs[64], d[32];
    bool verified = false;
    vmesh_buf canon = {0};
    vmesh_err dr;

    memset(&ev, 0, sizeof(ev));
    VMESH_ENSURE(in != NULL && out != NULL, VMESH_ERR_ARG, "TPM2 appraisal: no input or output");
    VMESH_ENSURE(in->media_type == NULL || media_type_ok(in->media_type), VMESH_ERR_UNSUPPORTED,
                 "TPM2 appraisal: media type \"%.200s\" is not %s", in->media_type, VMESH_TPM2_MEDIA_TYPE);
    VMESH_GUARD(vmesh_tpm2_evidence_decode(in->evidence, in->evidence_len, &ev));
    VMESH_GUARD(vmesh_tpm2_quote_parse(ev.attest, ev.attest_len, &q));
    VMESH_GUARD(vmesh_tpm2_signature_parse(ev.signature, ev.signature_len, &sig));

    vmesh_buf_reset(&out->claims_json);
    VMESH_GUARD(vmesh_tpm2_evidence_to_json(&ev, &q, false, &out->claims_json));
    VMESH_GUARD(vmesh_buf_set(&out->nonce, q.extra_data, q.extra_data_len));
    VMESH_GUARD(vmesh_buf_set(&out->class_id, ev.class_id, ev.class_id_len));
    vmesh_tpm2_instance_id(ev.ak_spki, ev.ak_spki_len, iid);
    VMESH_GUARD(vmesh_buf_set(&out->instance_id, iid, sizeof(iid)));

    if (in->rv != NULL)
        nkeys = vmesh_rv_find_keys(in->rv, "tpm2", ev.class_id, ev.class_id_len, iid, sizeof(iid), keys,
                                   sizeof(keys) / sizeof(keys[0]));
    if (nkeys == 0) {
        vmesh_buf_reset(&canon);
        VMESH_GUARD(vmesh_hex_encode(iid, sizeof(iid), &canon));
        VMESH_GUARD(vmesh_buf_terminate(&canon));
        vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_UNRECOGNIZED_INSTANCE,
                             "no attestation key endorsed for this TPM (AK instance id %s)", (char *)canon.data);
        vmesh_appraisal_note(out, VMESH_TV_HARDWARE, VMESH_AR_UNRECOGNIZED_HARDWARE, NULL);
        goto done;
    }
    if (nkeys > sizeof(keys) / sizeof(keys[0]))
        nkeys = sizeof(keys) / sizeof(keys[0]);
    /* Part 3 §18.4 TPM2_Quote: the signature is over the
     * digest of the attestation structure with the scheme's hash
     * (ECDSA-SHA256: SHA-256(TPMS_ATTEST)). */
    if (sig.hash_alg == VMESH_TPM2_ALG_SHA256 && to_raw(sig.r, sig.r_len, rs) && to_raw(sig.s, sig.s_len, rs + 32)) {
        for (size_t i = 0; i < nkeys && !verified; i++) {
            if (vmesh_crypto_key_cose_alg(keys[i]) != VMESH_COSE_ALG_ES256)
                continue;
            vmesh_err vr = vmesh_crypto_verify(keys[i], ev.attest, ev.attest_len, rs, sizeof(rs));
            if (vr == VMESH_ERR_NOMEM) {
                rc = vr;
                goto out;
            }
            verified = vr == VMESH_OK;
            if (verified)
                vmesh_rv_journal_key_used(keys[i]); /* D43: "this key is endorsed" */
        }
    }
    if (!verified) {
        vmesh_tv_set_all(&out->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
        vmesh_appraisal_note(out, VMESH_TV_HARDWARE, VMESH_AR_CRYPTO_VALIDATION_FAILED,
                             "TPM quote signature (%s) does not verify with the endorsed AK",
                             sig.hash_alg == VMESH_TPM2_ALG_SHA256 ? "ECDSA-SHA256" : "not ECDSA-SHA256");
        goto done;
    }
    if (in->nonce != NULL &&
        (in->nonce_len != q.extra_data_len || !vmesh_crypto_memeq(in->nonce, q.extra_data, q.extra_data_len))) {
        vmesh_tv_set_all(&out->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
        vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_CRYPTO_VALIDATION_FAILED,
                             "quote qualifying data does not match the expected nonce (replayed or stale quote)");
        goto done;
    }
    dr = vmesh_tpm2_pcr_digest(q.sel, q.nsel, ev.pcrs, ev.npcrs, d);
    if (dr == VMESH_ERR_NOMEM || dr == VMESH_ERR_CRYPTO) {
        rc = dr;
        goto out;
    }
    if (dr != VMESH_OK || q.pcr_digest_len != 32 || !vmesh_crypto_memeq(q.pcr_digest, d, 32)) {
        vmesh_tv_set_all(&out->tv, VMESH_AR_CRYPTO_VALIDATION_FAILED);
        vmesh_appraisal_note(out, VMESH_TV_EXECUTABLES, VMESH_AR_CRYPTO_VALIDATION_FAILED, "%s",
                             dr != VMESH_OK ? vmesh_err_detail()
                                            : "the reported PCR values do not hash to the quoted pcrDigest");
        vmesh_err_clear();
        goto done;
    }
    /* the endorsed AK is a fixedTPM key: the quote comes from that TPM */
    vmesh_appraisal_note(out, VMESH_TV_HARDWARE, VMESH_AR_GENUINE_HARDWARE, NULL);
    vmesh_appraisal_note(out, VMESH_TV_INSTANCE_IDENTITY, VMESH_AR_TRUSTWORTHY_INSTANCE, NULL);
    judge_config(in, &ev, &q, out);
    VMESH_GUARD(judge_pcrs(in, &ev, out));
done:
    out->status = vmesh_tv_status(&out->tv);
out:
    vmesh_tpm2_evidence_free(&ev);
    vmesh_buf_free(&canon);
    return rc;
}

/* `vmesh attest tpm2 --print`: the decoded evidence. It must never look
 * verified: it checks nothing, and takes no key to check with (vmesh
 * appraise does that). */
static vmesh_err tpm2_describe(const uint8_t *p, size_t n, const vmesh_kv *cfg, size_t ncfg, vmesh_buf *json)
{
    vmesh_err rc = VMESH_OK;
    vmesh_tpm2_evidence ev;
    vmesh_tpm2_quote q;

    (void)cfg;
    memset(&ev, 0, sizeof(ev));
    VMESH_ENSURE(ncfg == 0, VMESH_ERR_ARG, "tpm2: printing evidence checks nothing and takes no TPM option "
                                           "(vmesh appraise checks it)");
    VMESH_GUARD(vmesh_tpm2_evidence_decode(p, n, &ev));
    VMESH_GUARD(vmesh_tpm2_quote_parse(ev.attest, ev.attest_len, &q));
    rc = vmesh_tpm2_evidence_to_json(&ev, &q, true, json);
out:
    vmesh_tpm2_evidence_free(&ev);
    return rc;
}

static const vmesh_evidence_option tpm2_options[] = {
    {"tcti", 'T', "CONF", false,
     "TCTI, e.g. swtpm:host=127.0.0.1,port=2321, device:/dev/tpmrm0, tabrmd (default: tss2's default TCTI)"},
    {"ak-handle", 'H', "HANDLE", false, "persistent handle of the AK (default 0x81010002)"},
    {"ak-hierarchy", 0, "H", false, "endorsement (default) or owner: where a new AK is created"},
    {"pcrs", 'P', "SPEC", false, "PCR selection (default " VMESH_TPM2_DEFAULT_PCRS "), banks joined with '+': "
                                 "sha256:0,7+sha384:0"},
    {"eventlog", 'L', "FILE", false, "carry this event log in the evidence"},
    {"class", 'c', "ID", false, "class id text (default " VMESH_TPM2_DEFAULT_CLASS ")"},
    {NULL, 0, NULL, false, NULL},
};

const vmesh_evidence_scheme vmesh_scheme_tpm2 = {
    .name = "tpm2",
    .media_types = tpm2_media_types,
    .detect = tpm2_detect,
    .attester_options = tpm2_options,
    .attester_new = tpm2_attester_new,
    .attest = tpm2_attest,
    .attester_free = tpm2_attester_free,
    .appraise = tpm2_appraise,
    .describe = tpm2_describe,
    .reference_values = vmesh_tpm2_reference_values,
};
