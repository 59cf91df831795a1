/*
 * AR4SI vocabulary (draft-ietf-rats-ar4si §2.3): trustworthiness claim
 * names, the four trust tiers and their value ranges, short descriptions of
 * claim values (as veraison/ear prints them), and the appraisal accumulator
 * every evidence scheme fills. Pure functions of their arguments: nothing
 * here allocates except the appraisal buffers, nothing here may ever make a
 * result look better than the worst claim recorded.
 */
#include "vmesh/evidence.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const claim_names[VMESH_TV__COUNT] = {
    "instance-identity", "configuration", "executables",    "file-system",
    "hardware",          "runtime-opaque", "storage-opaque", "sourced-data",
};

const char *vmesh_tv_claim_name(vmesh_tv_claim c)
{
    if ((int)c < 0 || (int)c >= VMESH_TV__COUNT)
        return NULL;
    return claim_names[c];
}

int vmesh_tv_claim_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < VMESH_TV__COUNT; i++)
        if (strcmp(name, claim_names[i]) == 0)
            return i;
    return -1;
}

vmesh_tier vmesh_tier_of(int8_t claim)
{
    int v = claim;

    /* none = [-1, 1] */
    if (v >= -1 && v <= 1)
        return VMESH_TIER_NONE;
    /* affirming = [-32, -2] U [2, 31] */
    if ((v >= -32 && v <= -2) || (v >= 2 && v <= 31))
        return VMESH_TIER_AFFIRMING;
    /* warning = [-96, -33] U [32, 95] */
    if ((v >= -96 && v <= -33) || (v >= 32 && v <= 95))
        return VMESH_TIER_WARNING;
    /* contraindicated = [-128, -97] U [96, 127] */
    return VMESH_TIER_CONTRAINDICATED;
}

const char *vmesh_tier_name(vmesh_tier t)
{
    switch (t) {
    case VMESH_TIER_NONE:
        return "none";
    case VMESH_TIER_AFFIRMING:
        return "affirming";
    case VMESH_TIER_WARNING:
        return "warning";
    case VMESH_TIER_CONTRAINDICATED:
        return "contraindicated";
    }
    return "invalid";
}

vmesh_err vmesh_tier_parse(const char *s, vmesh_tier *out)
{
    static const vmesh_tier tiers[] = {VMESH_TIER_NONE, VMESH_TIER_AFFIRMING, VMESH_TIER_WARNING,
                                       VMESH_TIER_CONTRAINDICATED};
    char *end = NULL;
    long v;

    if (s == NULL || out == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "trust tier: no value given");
    for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++) {
        if (strcmp(s, vmesh_tier_name(tiers[i])) == 0) {
            *out = tiers[i];
            return VMESH_OK;
        }
    }
    /* veraison/ear also accepts the integer form (0, 2, 32, 96). */
    errno = 0;
    v = strtol(s, &end, 10);
    if (s[0] != '\0' && errno == 0 && end != NULL && *end == '\0') {
        for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++) {
            if (v == (long)tiers[i]) {
                *out = tiers[i];
                return VMESH_OK;
            }
        }
    }
    return vmesh_err_set(VMESH_ERR_PARSE,
                         "'%.64s' is not a trust tier (expected none, affirming, warning or "
                         "contraindicated)",
                         s);
}

vmesh_tier vmesh_tier_worst(vmesh_tier a, vmesh_tier b)
{
    /* The tier values are ordered by badness (none 0 < affirming 2 <
     * warning 32 < contraindicated 96), as veraison/ear's
     * UpdateStatusFromTrustVector compares them; none only wins when the
     * other side is none too. */
    return (int)a > (int)b ? a : b;
}

vmesh_tier vmesh_tv_status(const vmesh_tv *tv)
{
    vmesh_tier t = VMESH_TIER_NONE;

    if (tv == NULL)
        return t;
    for (int i = 0; i < VMESH_TV__COUNT; i++)
        t = vmesh_tier_worst(t, vmesh_tier_of(tv->v[i]));
    return t;
}

void vmesh_tv_set_all(vmesh_tv *tv, int8_t claim)
{
    for (int i = 0; i < VMESH_TV__COUNT; i++)
        tv->v[i] = claim;
}

/* Short descriptions as veraison/ear (trustclaim.go) prints them. */
typedef struct {
    int8_t value;
    const char *text;
} claim_desc;

static const claim_desc desc_instance[] = {
    {2, "recognized and not compromised"},
    {96, "recognized but not trustworthy"},
    {97, "not recognized"},
    {0, NULL},
};
static const claim_desc desc_config[] = {
    {2, "all recognized and approved"},
    {3, "no known vulnerabilities"},
    {32, "known vulnerabilities"},
    {96, "unacceptable security vulnerabilities"},
    {0, NULL},
};
static const claim_desc desc_exec[] = {
    {2, "recognized and approved boot- and run-time"},
    {3, "recognized and approved boot-time"},
    {32, "recognized but known bugs or vulnerabilities"},
    {33, "unrecognized run-time"},
    {96, "contraindicated run-time"},
    {0, NULL},
};
static const claim_desc desc_fs[] = {
    {2, "all recognized and approved"},
    {32, "unrecognized item(s) found"},
    {96, "contraindicated item(s) found"},
    {0, NULL},
};
static const claim_desc desc_hw[] = {
    {2, "genuine"},
    {32, "genuine but known bugs or vulnerabilities"},
    {96, "genuine but contraindicated"},
    {97, "unrecognized"},
    {0, NULL},
};
static const claim_desc desc_rt[] = {
    {2, "memory encryption"},
    {32, "memory isolation"},
    {96, "visible"},
    {0, NULL},
};
static const claim_desc desc_st[] = {
    {2, "encrypted secrets with HW-backed keys"},
    {32, "encrypted secrets with non HW-backed keys"},
    {96, "unencrypted secrets"},
    {0, NULL},
};
static const claim_desc desc_src[] = {
    {2, "from attesters in the affirming tier"},
    {32, "from unattested sources or attesters in the warning tier"},
    {96, "from attesters in the contraindicated tier"},
    {0, NULL},
};

static const claim_desc *const desc_by_claim[VMESH_TV__COUNT] = {
    desc_instance, desc_config, desc_exec, desc_fs, desc_hw, desc_rt, desc_st, desc_src,
};

const char *vmesh_tv_describe(vmesh_tv_claim c, int8_t value)
{
    const claim_desc *d;

    /* The none tier (-1, 0, 1) has the same meaning for every claim. */
    if (value == VMESH_AR_VERIFIER_MALFUNCTION)
        return "verifier malfunction";
    if (value == VMESH_AR_NO_CLAIM)
        return "no claim being made";
    if (value == VMESH_AR_UNEXPECTED_EVIDENCE)
        return "unexpected evidence";
    if (value == VMESH_AR_CRYPTO_VALIDATION_FAILED)
        return "cryptographic validation failed";
    if ((int)c < 0 || (int)c >= VMESH_TV__COUNT)
        return "unknown claim";
    for (d = desc_by_claim[c]; d->text != NULL; d++)
        if (d->value == value)
            return d->text;
    return "unknown code-point";
}

void vmesh_appraisal_init(vmesh_appraisal *a)
{
    memset(a, 0, sizeof(*a));
    a->status = VMESH_TIER_NONE;
    vmesh_buf_init(&a->claims_json, 0);
    vmesh_buf_init(&a->nonce, 0);
    vmesh_buf_init(&a->class_id, 0);
    vmesh_buf_init(&a->instance_id, 0);
    vmesh_buf_init(&a->journal, 0);
}

void vmesh_appraisal_free(vmesh_appraisal *a)
{
    if (a == NULL)
        return;
    vmesh_buf_free(&a->claims_json);
    vmesh_buf_free(&a->nonce);
    vmesh_buf_free(&a->class_id);
    vmesh_buf_free(&a->instance_id);
    vmesh_buf_free(&a->journal);
}

void vmesh_appraisal_note(vmesh_appraisal *a, vmesh_tv_claim c, int8_t v, const char *fmt, ...)
{
    int8_t cur;
    vmesh_tier tv_tier;

    if (a == NULL || (int)c < 0 || (int)c >= VMESH_TV__COUNT)
        return;
    cur = a->tv.v[c];
    tv_tier = vmesh_tier_of(v);
    /* Keep the worse claim. An affirming value never replaces a non-zero
     * none-tier claim (-1 verifier malfunction, 1 unexpected evidence):
     * those are problems even though their tier sorts lowest. */
    if (cur == VMESH_AR_NO_CLAIM ||
        ((int)tv_tier > (int)vmesh_tier_of(cur) && tv_tier != VMESH_TIER_AFFIRMING))
        a->tv.v[c] = v;
    a->status = vmesh_tv_status(&a->tv);
    /* The reason names the first problem, so affirming notes leave it empty. */
    if (fmt != NULL && a->reason[0] == '\0' && tv_tier != VMESH_TIER_AFFIRMING) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
        va_end(ap);
    }
}
