/*
 * vmesh evidence: the AR4SI vocabulary (trustworthiness claims, tiers and
 * vectors; draft-ietf-rats-ar4si §2.3, code points as in veraison/ear) and
 * the one C interface every evidence scheme implements (DESIGN §2): an
 * attester side that produces evidence carrying a caller-given nonce, and a
 * verifier side that appraises evidence against a reference-value store.
 * It also holds the one media-type rule every module compares media types
 * with. Adding a platform touches only src/evidence/<scheme>/ and one line
 * of the scheme registry (src/evidence/schemes, vmesh/schemes.h).
 */
#ifndef VMESH_EVIDENCE_H
#define VMESH_EVIDENCE_H

#include "vmesh/core.h"
#include "vmesh/rv.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* ---- AR4SI ---------------------------------------------------------------- */

typedef enum {
    VMESH_TIER_NONE = 0,
    VMESH_TIER_AFFIRMING = 2,
    VMESH_TIER_WARNING = 32,
    VMESH_TIER_CONTRAINDICATED = 96,
} vmesh_tier;

typedef enum {
    VMESH_TV_INSTANCE_IDENTITY = 0,
    VMESH_TV_CONFIGURATION,
    VMESH_TV_EXECUTABLES,
    VMESH_TV_FILE_SYSTEM,
    VMESH_TV_HARDWARE,
    VMESH_TV_RUNTIME_OPAQUE,
    VMESH_TV_STORAGE_OPAQUE,
    VMESH_TV_SOURCED_DATA,
    VMESH_TV__COUNT
} vmesh_tv_claim;

/* A trustworthiness vector; 0 means "no claim" (AR4SI §2.3.1). */
typedef struct {
    int8_t v[VMESH_TV__COUNT];
} vmesh_tv;

/* Trustworthiness claim code points (draft-ietf-rats-ar4si §2.3). */
enum {
    VMESH_AR_VERIFIER_MALFUNCTION = -1,
    VMESH_AR_NO_CLAIM = 0,
    VMESH_AR_UNEXPECTED_EVIDENCE = 1,
    VMESH_AR_CRYPTO_VALIDATION_FAILED = 99,
    /* instance-identity */
    VMESH_AR_TRUSTWORTHY_INSTANCE = 2,
    VMESH_AR_UNTRUSTWORTHY_INSTANCE = 96,
    VMESH_AR_UNRECOGNIZED_INSTANCE = 97,
    /* configuration */
    VMESH_AR_APPROVED_CONFIG = 2,
    VMESH_AR_NO_CONFIG_VULNS = 3,
    VMESH_AR_UNSAFE_CONFIG = 32,
    VMESH_AR_UNSUPPORTABLE_CONFIG = 96,
    /* executables */
    VMESH_AR_APPROVED_RUNTIME = 2,
    VMESH_AR_APPROVED_BOOT = 3,
    VMESH_AR_UNSAFE_RUNTIME = 32,
    VMESH_AR_UNRECOGNIZED_RUNTIME = 33,
    VMESH_AR_CONTRAINDICATED_RUNTIME = 96,
    /* file-system */
    VMESH_AR_APPROVED_FILES = 2,
    VMESH_AR_UNRECOGNIZED_FILES = 32,
    VMESH_AR_CONTRAINDICATED_FILES = 96,
    /* hardware */
    VMESH_AR_GENUINE_HARDWARE = 2,
    VMESH_AR_UNSAFE_HARDWARE = 32,
    VMESH_AR_CONTRAINDICATED_HARDWARE = 96,
    VMESH_AR_UNRECOGNIZED_HARDWARE = 97,
    /* runtime-opaque */
    VMESH_AR_ENCRYPTED_MEMORY_RUNTIME = 2,
    VMESH_AR_ISOLATED_MEMORY_RUNTIME = 32,
    VMESH_AR_VISIBLE_MEMORY_RUNTIME = 96,
    /* storage-opaque */
    VMESH_AR_HW_KEYS_ENCRYPTED_SECRETS = 2,
    VMESH_AR_SW_KEYS_ENCRYPTED_SECRETS = 32,
    VMESH_AR_UNENCRYPTED_SECRETS = 96,
    /* sourced-data */
    VMESH_AR_TRUSTED_SOURCES = 2,
    VMESH_AR_UNTRUSTED_SOURCES = 32,
    VMESH_AR_CONTRAINDICATED_SOURCES = 96,
};

/* "instance-identity", "configuration", ... as in EAR JSON; NULL if out of range. */
const char *vmesh_tv_claim_name(vmesh_tv_claim c);
/* Claim name -> index, or -1. */
int vmesh_tv_claim_from_name(const char *name);
/* none = [-1,1], affirming = [-32,-2] U [2,31], warning = [-96,-33] U
 * [32,95], contraindicated = [-128,-97] U [96,127] (veraison/ear). */
vmesh_tier vmesh_tier_of(int8_t claim);
const char *vmesh_tier_name(vmesh_tier t); /* "none", "affirming", ... */
vmesh_err vmesh_tier_parse(const char *s, vmesh_tier *out) VMESH_WUR;
/* Worse of two tiers: contraindicated > warning > affirming > none...
 * except that none only wins when nothing else is set. */
vmesh_tier vmesh_tier_worst(vmesh_tier a, vmesh_tier b);
/* Overall status of a vector: the worst tier among its claims; "none" when
 * every claim is in the none tier. */
vmesh_tier vmesh_tv_status(const vmesh_tv *tv);
void vmesh_tv_set_all(vmesh_tv *tv, int8_t claim);
/* Short description of a claim value for a claim ("unrecognized run-time"). */
const char *vmesh_tv_describe(vmesh_tv_claim c, int8_t value);

/* ---- media types (RFC 9110 §8.3.1) ---------------------------------------- */

/* Longest media type accepted (bytes, without the NUL). */
#define VMESH_EVIDENCE_MEDIA_TYPE_MAX 512

/* The canonical form of a media type, which two spellings of the same media
 * type share: type/subtype and parameter names lower-cased, whitespace
 * around ';' dropped, parameters sorted by name, a value written as a token
 * when it is one and as a quoted-string otherwise (values keep their case).
 * Refused (VMESH_ERR_PARSE, naming the byte): anything outside the RFC 9110
 * grammar, control or non-ASCII bytes, a parameter given twice, more than
 * 16 parameters; VMESH_ERR_TOO_LARGE above VMESH_EVIDENCE_MEDIA_TYPE_MAX. */
vmesh_err vmesh_evidence_media_type_canon(const char *mt, char out[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1]) VMESH_WUR;
/* True when both parse and have the same canonical form. */
bool vmesh_evidence_media_type_eq(const char *a, const char *b);
/* Index of the first entry of the NULL-terminated list equal to mt, or -1. */
int vmesh_evidence_media_type_find(const char *mt, const char *const *list);

/* ---- the scheme interface ------------------------------------------------- */

/* What an appraisal needs. */
typedef struct {
    const uint8_t *evidence;
    size_t evidence_len;
    const char *media_type;      /* may be NULL when the caller detected the scheme */
    const uint8_t *nonce;        /* expected nonce; NULL: the caller checks it */
    size_t nonce_len;
    const vmesh_rv_store *rv;    /* reference values and endorsed keys */
    int64_t now;                 /* verification time (epoch seconds) */
} vmesh_appraisal_in;

/* What an appraisal concludes. */
typedef struct {
    vmesh_tv tv;
    vmesh_tier status;           /* vmesh_tv_status(&tv), kept for convenience */
    char reason[512];            /* the most important problem found, "" when affirming */
    vmesh_buf claims_json;       /* the decoded evidence claims as a JSON object (annotated evidence) */
    vmesh_buf nonce;             /* the nonce the evidence carries */
    vmesh_buf class_id;          /* e.g. PSA implementation id */
    vmesh_buf instance_id;       /* e.g. PSA instance id (UEID) */
    /* The lookup journal of the appraisal (vmesh_rv_journal_encode, D43):
     * filled by the verifier engine, empty when the appraisal cannot be
     * replayed (a query the journal cannot ask again, past its caps). */
    vmesh_buf journal;
} vmesh_appraisal;

void vmesh_appraisal_init(vmesh_appraisal *a);
void vmesh_appraisal_free(vmesh_appraisal *a);
/* Lowers claim c to value v (keeping the worse) and records reason if it is
 * the first problem. Returns nothing: appraisal results are not errors. */
void vmesh_appraisal_note(vmesh_appraisal *a, vmesh_tv_claim c, int8_t v, const char *fmt, ...)
    VMESH_PRINTF(4, 5);

/* Attester configuration as key/value strings, so that the CLI and the YAML
 * config can pass anything a scheme needs (e.g. psa-sim: "iak", "claims",
 * "measure" repeated). */
typedef struct {
    const char *key;
    const char *value;
} vmesh_kv;

/* One key of a scheme's attester configuration, described for the command
 * line (`vmesh attest PLATFORM --KEY VALUE`, or --opt KEY=VALUE) and for
 * people writing the proxy's attester.options. */
typedef struct {
    const char *key;   /* "iak"; NULL ends a table */
    char short_name;   /* the command line's one-letter option, or 0 */
    const char *arg;   /* what the value is, for help: "KEY", "NAME=FILE" */
    bool repeatable;   /* may be given more than once */
    const char *help;  /* one line */
} vmesh_evidence_option;

typedef struct vmesh_evidence_scheme {
    const char *name;               /* EAR submod name and platform name ("psa") */
    const char *const *media_types; /* NULL-terminated; [0] is the one we produce */
    /* True when data looks like this scheme's evidence (for detection). */
    bool (*detect)(const uint8_t *p, size_t n);
    /* Attester side; NULL when the scheme has no attester in this build.
     * attester_name is the attester's own platform name ("psa-sim"; NULL:
     * the scheme's name), attester_options the keys attester_new takes. */
    const char *attester_name;
    const vmesh_evidence_option *attester_options;
    vmesh_err (*attester_new)(const vmesh_kv *cfg, size_t ncfg, void **ctx);
    vmesh_err (*attest)(void *ctx, const uint8_t *nonce, size_t nonce_len, vmesh_buf *evidence);
    void (*attester_free)(void *ctx);
    /* Verifier side. Returns an error only when the evidence cannot be
     * appraised at all (malformed, unsupported); every appraisal outcome,
     * including a bad signature, is a result in *out. */
    vmesh_err (*appraise)(const vmesh_appraisal_in *in, vmesh_appraisal *out);
    /* Tools for the command line; NULL when not offered. describe decodes
     * evidence into JSON for people: it verifies nothing unless cfg names a
     * key to check the signature with (attester option names, e.g. psa-sim
     * "iak"), and then fails when the signature does not verify; keys it
     * cannot check with are refused. reference_values writes the platform's
     * current values as RV JSON (docs/RV-JSON.md), read through the same
     * configuration as the attester (e.g. tpm2: PCRs and the AK). */
    vmesh_err (*describe)(const uint8_t *ev, size_t n, const vmesh_kv *cfg, size_t ncfg, vmesh_buf *json);
    vmesh_err (*reference_values)(const vmesh_kv *cfg, size_t ncfg, vmesh_buf *rv_json);
    /* Composite evidence (several tokens, e.g. CCA's platform and realm)
     * rewritten as an RFC 9999 CBOR collection (appended to out) for the
     * attestation message; the scheme then also lists
     * "application/cmw+cbor" among its media types and appraises that
     * collection. NULL: the evidence travels as one CMW record. */
    vmesh_err (*to_cmw_collection)(const uint8_t *ev, size_t n, vmesh_buf *out);
} vmesh_evidence_scheme;

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
