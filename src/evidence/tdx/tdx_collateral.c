/*
 * TDX collateral: TCB Info (v3, id "TDX") and QE Identity (v2, id "TD_QE")
 * as Intel's PCS serves them ({"tcbInfo"|"enclaveIdentity": {...},
 * "signature": hex r||s}), the PCK certificate's SGX extensions
 * (1.2.840.113741.1.13.1) and the TCB-level matching of Intel's
 * "TDX TCB status" rules as go-tdx-guest verify/verify.go implements them:
 * the first level (levels are sorted, highest first) whose SGX components
 * and PCE SVN are <= the PCK certificate's and whose TDX components are <=
 * TEE_TCB_SVN (skipping the first two when TEE_TCB_SVN[1] > 0, where the
 * TDX module identity decides instead). The signature covers the exact
 * bytes of the signed member, so they are located in the text, never
 * re-serialised. Nothing here trusts collateral that was not checked with
 * vmesh_tdx_collateral_check.
 */
#include "vmesh/tdx.h"
#include "vmesh/ccpki.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COLLATERAL_MAX ((size_t)1024 * 1024)

struct vmesh_tdx_collateral {
    char *text;
    json_t *root;
    json_t *body; /* borrowed from root */
    bool tcb_info;
    size_t signed_off, signed_len;
    uint8_t sig[64];
    int64_t issue, next;
};

const char *vmesh_tdx_tcb_status_name(vmesh_tdx_tcb_status s)
{
    switch (s) {
    case VMESH_TDX_TCB_UP_TO_DATE: return "UpToDate";
    case VMESH_TDX_TCB_SW_HARDENING_NEEDED: return "SWHardeningNeeded";
    case VMESH_TDX_TCB_CONFIGURATION_NEEDED: return "ConfigurationNeeded";
    case VMESH_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED: return "ConfigurationAndSWHardeningNeeded";
    case VMESH_TDX_TCB_OUT_OF_DATE: return "OutOfDate";
    case VMESH_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED: return "OutOfDateConfigurationNeeded";
    case VMESH_TDX_TCB_REVOKED: return "Revoked";
    default: return "unknown";
    }
}

int8_t vmesh_tdx_tcb_claim(vmesh_tdx_tcb_status s)
{
    switch (s) {
    case VMESH_TDX_TCB_UP_TO_DATE: return 2;
    case VMESH_TDX_TCB_SW_HARDENING_NEEDED:
    case VMESH_TDX_TCB_CONFIGURATION_NEEDED:
    case VMESH_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED: return 32;
    default: return 96;
    }
}

static vmesh_tdx_tcb_status status_of(const char *s)
{
    static const vmesh_tdx_tcb_status all[] = {
        VMESH_TDX_TCB_UP_TO_DATE, VMESH_TDX_TCB_SW_HARDENING_NEEDED, VMESH_TDX_TCB_CONFIGURATION_NEEDED,
        VMESH_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED, VMESH_TDX_TCB_OUT_OF_DATE,
        VMESH_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED, VMESH_TDX_TCB_REVOKED,
    };

    for (size_t i = 0; s != NULL && i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, vmesh_tdx_tcb_status_name(all[i])) == 0)
            return all[i];
    return VMESH_TDX_TCB_UNKNOWN;
}

/* ---- the exact text of a top-level member ------------------------------ */

static size_t skip_ws(const char *t, size_t i, size_t n)
{
    while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

/* End (exclusive) of the JSON string starting at t[i] == '"', or 0. */
static size_t string_end(const char *t, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return 0;
}

/* End (exclusive) of the value starting at t[i] (object, array, string or scalar), or 0. */
static size_t value_end(const char *t, size_t i, size_t n)
{
    size_t depth = 0;

    if (i >= n)
        return 0;
    if (t[i] == '"')
        return string_end(t, i, n);
    if (t[i] != '{' && t[i] != '[') {
        while (i < n && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\n')
            i++;
        return i;
    }
    for (; i < n; i++) {
        if (t[i] == '"') {
            size_t e = string_end(t, i, n);

            if (e == 0)
                return 0;
            i = e - 1;
        } else if (t[i] == '{' || t[i] == '[') {
            depth++;
        } else if (t[i] == '}' || t[i] == ']') {
            if (--depth == 0)
                return i + 1;
        }
    }
    return 0;
}

static bool member_span(const char *t, size_t n, const char *key, size_t *off, size_t *len)
{
    size_t i = skip_ws(t, 0, n), klen = strlen(key);

    if (i >= n || t[i] != '{')
        return false;
    i++;
    for (;;) {
        size_t ks, ke, ve;

        i = skip_ws(t, i, n);
        if (i >= n || t[i] != '"')
            return false;
        ks = i + 1;
        ke = string_end(t, i, n);
        if (ke == 0)
            return false;
        i = skip_ws(t, ke, n);
        if (i >= n || t[i] != ':')
            return false;
        i = skip_ws(t, i + 1, n);
        ve = value_end(t, i, n);
        if (ve == 0)
            return false;
        if (ke - 1 - ks == klen && memcmp(t + ks, key, klen) == 0) {
            *off = i;
            *len = ve - i;
            return true;
        }
        i = skip_ws(t, ve, n);
        if (i >= n || t[i] != ',')
            return false;
        i++;
    }
}

/* ---- parsing ----------------------------------------------------------- */

static vmesh_err hex_exact(const char *what, const char *s, uint8_t *out, size_t want)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    VMESH_ENSURE(s != NULL, VMESH_ERR_PARSE, "TDX collateral: %s is missing or not a string", what);
    rc = vmesh_hex_decode(s, strlen(s), &b);
    VMESH_ENSURE(rc == VMESH_OK && b.len == want, VMESH_ERR_PARSE, "TDX collateral: %s is not %zu bytes of hex",
                 what, want);
    memcpy(out, b.data, want);
out:
    vmesh_buf_free(&b);
    return rc;
}

void vmesh_tdx_collateral_free(vmesh_tdx_collateral *c)
{
    if (c == NULL)
        return;
    json_decref(c->root);
    free(c->text);
    free(c);
}

vmesh_err vmesh_tdx_collateral_parse(const char *json, size_t n, vmesh_tdx_collateral **out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_tdx_collateral *c = NULL;
    json_error_t jerr;
    const char *key;
    json_t *v;

    *out = NULL;
    VMESH_ENSURE(json != NULL && n > 0 && n <= COLLATERAL_MAX, VMESH_ERR_TOO_LARGE,
                 "TDX collateral of %zu bytes (1 to %zu)", n, COLLATERAL_MAX);
    c = calloc(1, sizeof(*c));
    VMESH_ENSURE(c != NULL, VMESH_ERR_NOMEM, "out of memory");
    c->text = malloc(n + 1);
    VMESH_ENSURE(c->text != NULL, VMESH_ERR_NOMEM, "out of memory");
    memcpy(c->text, json, n);
    c->text[n] = '\0';
    c->root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
    VMESH_ENSURE(c->root != NULL && json_is_object(c->root), VMESH_ERR_PARSE,
                 "TDX collateral is not a JSON object: %.200s", c->root ? "" : jerr.text);
    if ((v = json_object_get(c->root, "tcbInfo")) != NULL) {
        c->tcb_info = true;
        key = "tcbInfo";
    } else {
        v = json_object_get(c->root, "enclaveIdentity");
        key = "enclaveIdentity";
    }
    VMESH_ENSURE(json_is_object(v), VMESH_ERR_PARSE,
                 "TDX collateral has neither a \"tcbInfo\" nor an \"enclaveIdentity\" object");
    VMESH_ENSURE(json_object_size(c->root) == 2, VMESH_ERR_PARSE,
                 "TDX collateral: expected exactly the members \"%s\" and \"signature\"", key);
    c->body = v;
    VMESH_GUARD(hex_exact("signature", json_string_value(json_object_get(c->root, "signature")), c->sig, 64));
    VMESH_ENSURE(member_span(c->text, n, key, &c->signed_off, &c->signed_len), VMESH_ERR_PARSE,
                 "TDX collateral: cannot locate the text of \"%s\"", key);
    rc = vmesh_time_parse_rfc3339(json_string_value(json_object_get(v, "issueDate")) ?: "", &c->issue);
    VMESH_ENSURE(rc == VMESH_OK, VMESH_ERR_PARSE, "TDX collateral: issueDate is not an RFC 3339 time");
    rc = vmesh_time_parse_rfc3339(json_string_value(json_object_get(v, "nextUpdate")) ?: "", &c->next);
    VMESH_ENSURE(rc == VMESH_OK, VMESH_ERR_PARSE, "TDX collateral: nextUpdate is not an RFC 3339 time");
    VMESH_ENSURE(json_is_array(json_object_get(v, "tcbLevels")), VMESH_ERR_PARSE,
                 "TDX collateral: tcbLevels is missing");
    *out = c;
    c = NULL;
out:
    vmesh_tdx_collateral_free(c);
    return rc;
}

bool vmesh_tdx_collateral_is_tcb_info(const vmesh_tdx_collateral *c)
{
    return c->tcb_info;
}

bool vmesh_tdx_collateral_fmspc(const vmesh_tdx_collateral *c, uint8_t fmspc[6])
{
    return c->tcb_info &&
           hex_exact("fmspc", json_string_value(json_object_get(c->body, "fmspc")), fmspc, 6) == VMESH_OK;
}

vmesh_err vmesh_tdx_collateral_check(const vmesh_tdx_collateral *c, void *signer, int64_t at)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;
    EVP_PKEY *pk = X509_get0_pubkey((X509 *)signer);

    ERR_clear_error();
    VMESH_ENSURE(pk != NULL, VMESH_ERR_CRYPTO, "TDX collateral: the signing certificate has no usable key");
    VMESH_GUARD(vmesh_crypto_key_from_evp(pk, &k));
    rc = vmesh_crypto_verify(k, (const uint8_t *)c->text + c->signed_off, c->signed_len, c->sig, 64);
    if (rc != VMESH_OK) {
        rc = vmesh_err_set(VMESH_ERR_SIGNATURE, "TDX %s: the signature does not verify with the TCB signing key",
                           c->tcb_info ? "TCB Info" : "QE Identity");
        goto out;
    }
    VMESH_ENSURE(at >= c->issue && at <= c->next, VMESH_ERR_EXPIRED,
                 "TDX %s is valid from issueDate %s to nextUpdate %s, not at the verification time",
                 c->tcb_info ? "TCB Info" : "QE Identity", json_string_value(json_object_get(c->body, "issueDate")),
                 json_string_value(json_object_get(c->body, "nextUpdate")));
out:
    vmesh_crypto_key_free(k);
    return rc;
}

/* ---- PCK certificate extensions ------------------------------------------ */

#define SGX_EXT "1.2.840.113741.1.13.1"

static STACK_OF(ASN1_TYPE) *seq_of(const unsigned char *p, long n)
{
    const unsigned char *q = p;
    STACK_OF(ASN1_TYPE) *s = d2i_ASN1_SEQUENCE_ANY(NULL, &q, n);

    if (s != NULL && q != p + n) {
        sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free);
        s = NULL;
    }
    return s;
}

/* Each element of seq is SEQUENCE {OID, value}; calls back with the OID
 * text and value. */
typedef vmesh_err (*pair_fn)(const char *oid, const ASN1_TYPE *v, vmesh_tdx_pck_info *out);

static vmesh_err walk_pairs(STACK_OF(ASN1_TYPE) *seq, pair_fn fn, vmesh_tdx_pck_info *out)
{
    vmesh_err rc = VMESH_OK;
    STACK_OF(ASN1_TYPE) *pair = NULL;
    char oid[80];

    for (int i = 0; i < sk_ASN1_TYPE_num(seq); i++) {
        ASN1_TYPE *t = sk_ASN1_TYPE_value(seq, i);
        ASN1_TYPE *o;

        VMESH_ENSURE(t->type == V_ASN1_SEQUENCE, VMESH_ERR_PARSE, "PCK certificate: SGX extension entry %d is not a SEQUENCE", i);
        sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
        pair = seq_of(t->value.sequence->data, t->value.sequence->length);
        VMESH_ENSURE(pair != NULL && sk_ASN1_TYPE_num(pair) == 2, VMESH_ERR_PARSE,
                     "PCK certificate: SGX extension entry %d is not {OID, value}", i);
        o = sk_ASN1_TYPE_value(pair, 0);
        VMESH_ENSURE(o->type == V_ASN1_OBJECT && OBJ_obj2txt(oid, sizeof(oid), o->value.object, 1) > 0,
                     VMESH_ERR_PARSE, "PCK certificate: SGX extension entry %d has no OID", i);
        VMESH_GUARD(fn(oid, sk_ASN1_TYPE_value(pair, 1), out));
    }
out:
    sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
    return rc;
}

static vmesh_err tcb_pair(const char *oid, const ASN1_TYPE *v, vmesh_tdx_pck_info *out)
{
    vmesh_err rc = VMESH_OK;
    static const char prefix[] = SGX_EXT ".2.";
    char *end;
    long idx, val;

    if (strncmp(oid, prefix, sizeof(prefix) - 1) != 0)
        goto out;
    idx = strtol(oid + sizeof(prefix) - 1, &end, 10);
    if (*end != '\0')
        goto out;
    if (idx >= 1 && idx <= 17) {
        VMESH_ENSURE(v->type == V_ASN1_INTEGER, VMESH_ERR_PARSE, "PCK certificate: TCB component %ld is not an INTEGER", idx);
        val = ASN1_INTEGER_get(v->value.integer);
        VMESH_ENSURE(val >= 0 && val <= (idx == 17 ? 65535 : 255), VMESH_ERR_PARSE,
                     "PCK certificate: TCB component %ld is out of range", idx);
        if (idx == 17)
            out->pcesvn = (uint16_t)val;
        else
            out->cpusvn_components[idx - 1] = (uint8_t)val;
    }
out:
    return rc;
}

static vmesh_err top_pair(const char *oid, const ASN1_TYPE *v, vmesh_tdx_pck_info *out)
{
    vmesh_err rc = VMESH_OK;
    STACK_OF(ASN1_TYPE) *tcb = NULL;

    if (strcmp(oid, SGX_EXT ".2") == 0) {
        VMESH_ENSURE(v->type == V_ASN1_SEQUENCE, VMESH_ERR_PARSE, "PCK certificate: TCB is not a SEQUENCE");
        tcb = seq_of(v->value.sequence->data, v->value.sequence->length);
        VMESH_ENSURE(tcb != NULL, VMESH_ERR_PARSE, "PCK certificate: malformed TCB");
        VMESH_GUARD(walk_pairs(tcb, tcb_pair, out));
    } else if (strcmp(oid, SGX_EXT ".3") == 0) {
        VMESH_ENSURE(v->type == V_ASN1_OCTET_STRING && v->value.octet_string->length == 2, VMESH_ERR_PARSE,
                     "PCK certificate: PCE-ID is not 2 bytes");
        memcpy(out->pceid, v->value.octet_string->data, 2);
    } else if (strcmp(oid, SGX_EXT ".4") == 0) {
        VMESH_ENSURE(v->type == V_ASN1_OCTET_STRING && v->value.octet_string->length == 6, VMESH_ERR_PARSE,
                     "PCK certificate: FMSPC is not 6 bytes");
        memcpy(out->fmspc, v->value.octet_string->data, 6);
    }
out:
    sk_ASN1_TYPE_pop_free(tcb, ASN1_TYPE_free);
    return rc;
}

vmesh_err vmesh_tdx_pck_info_of(void *pck_x509, vmesh_tdx_pck_info *out)
{
    vmesh_err rc = VMESH_OK;
    const ASN1_OCTET_STRING *d = vmesh_ccpki_ext((X509 *)pck_x509, SGX_EXT);
    STACK_OF(ASN1_TYPE) *seq = NULL;

    memset(out, 0, sizeof(*out));
    VMESH_ENSURE(d != NULL, VMESH_ERR_PARSE, "PCK certificate has no SGX extension (" SGX_EXT ")");
    seq = seq_of(ASN1_STRING_get0_data(d), ASN1_STRING_length(d));
    VMESH_ENSURE(seq != NULL, VMESH_ERR_PARSE, "PCK certificate: malformed SGX extension");
    VMESH_GUARD(walk_pairs(seq, top_pair, out));
out:
    ERR_clear_error();
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return rc;
}

/* ---- TCB status ----------------------------------------------------------- */

static bool svn_array(json_t *a, uint8_t out[16])
{
    if (!json_is_array(a) || json_array_size(a) != 16)
        return false;
    for (size_t i = 0; i < 16; i++) {
        json_t *s = json_object_get(json_array_get(a, i), "svn");

        if (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > 255)
            return false;
        out[i] = (uint8_t)json_integer_value(s);
    }
    return true;
}

vmesh_err vmesh_tdx_tcb_info_status(const vmesh_tdx_collateral *c, const vmesh_tdx_pck_info *pck,
                                    const vmesh_tdx_quote *q, vmesh_tdx_tcb_status *status, char *why, size_t whyn)
{
    vmesh_err rc = VMESH_OK;
    json_t *b = c->body, *levels, *mod;
    uint8_t fmspc[6], pceid[2], mrsigner[48], attr[8], mask[8];
    const char *id = json_string_value(json_object_get(b, "id"));

    *status = VMESH_TDX_TCB_UNKNOWN;
    why[0] = '\0';
    VMESH_ENSURE(c->tcb_info && id != NULL && strcmp(id, "TDX") == 0, VMESH_ERR_PARSE,
                 "TDX collateral: not a TDX TCB Info (id \"TDX\")");
    VMESH_ENSURE(json_integer_value(json_object_get(b, "version")) == 3, VMESH_ERR_UNSUPPORTED,
                 "TDX TCB Info version %lld is not supported (3)",
                 (long long)json_integer_value(json_object_get(b, "version")));
    VMESH_GUARD(hex_exact("fmspc", json_string_value(json_object_get(b, "fmspc")), fmspc, 6));
    VMESH_GUARD(hex_exact("pceId", json_string_value(json_object_get(b, "pceId")), pceid, 2));
    VMESH_ENSURE(memcmp(fmspc, pck->fmspc, 6) == 0, VMESH_ERR_MISMATCH,
                 "TDX TCB Info is for another FMSPC than the PCK certificate's");
    VMESH_ENSURE(memcmp(pceid, pck->pceid, 2) == 0, VMESH_ERR_MISMATCH,
                 "TDX TCB Info is for another PCE-ID than the PCK certificate's");
    mod = json_object_get(b, "tdxModule");
    VMESH_ENSURE(json_is_object(mod), VMESH_ERR_PARSE, "TDX TCB Info has no tdxModule");
    VMESH_GUARD(hex_exact("tdxModule.mrsigner", json_string_value(json_object_get(mod, "mrsigner")), mrsigner, 48));
    VMESH_GUARD(hex_exact("tdxModule.attributes", json_string_value(json_object_get(mod, "attributes")), attr, 8));
    VMESH_GUARD(hex_exact("tdxModule.attributesMask", json_string_value(json_object_get(mod, "attributesMask")), mask, 8));
    VMESH_ENSURE(memcmp(mrsigner, q->mrsignerseam, 48) == 0, VMESH_ERR_MISMATCH,
                 "MRSIGNERSEAM is not the TDX module signer of the TCB Info");
    for (int i = 0; i < 8; i++)
        VMESH_ENSURE((q->seam_attributes[i] & mask[i]) == attr[i], VMESH_ERR_MISMATCH,
                     "SEAMATTRIBUTES do not match the TCB Info's TDX module attributes");
    levels = json_object_get(b, "tcbLevels");
    for (size_t i = 0; i < json_array_size(levels); i++) {
        json_t *l = json_array_get(levels, i), *t = json_object_get(l, "tcb");
        uint8_t sgx[16], tdx[16];
        json_t *pcesvn = json_object_get(t, "pcesvn");
        bool ok = true;

        VMESH_ENSURE(svn_array(json_object_get(t, "sgxtcbcomponents"), sgx) &&
                         svn_array(json_object_get(t, "tdxtcbcomponents"), tdx) && json_is_integer(pcesvn),
                     VMESH_ERR_PARSE, "TDX TCB Info: tcbLevels[%zu] is malformed", i);
        for (int k = 0; k < 16 && ok; k++)
            ok = pck->cpusvn_components[k] >= sgx[k];
        ok = ok && pck->pcesvn >= json_integer_value(pcesvn);
        for (int k = q->tee_tcb_svn[1] > 0 ? 2 : 0; k < 16 && ok; k++)
            ok = q->tee_tcb_svn[k] >= tdx[k];
        if (ok) {
            *status = status_of(json_string_value(json_object_get(l, "tcbStatus")));
            snprintf(why, whyn, "TDX TCB level %zu of the TCB Info (tcbDate %s): %s", i,
                     json_string_value(json_object_get(l, "tcbDate")) ?: "?", vmesh_tdx_tcb_status_name(*status));
            break;
        }
    }
    if (*status == VMESH_TDX_TCB_UNKNOWN) {
        snprintf(why, whyn, "no TCB level of the TCB Info matches the platform (older than every listed level)");
        goto out;
    }
    if (q->tee_tcb_svn[1] > 0) {
        /* the TDX module identity "TDX_<TEE_TCB_SVN[1] in hex>" decides */
        json_t *ids = json_object_get(b, "tdxModuleIdentities");
        char want[16];
        bool found = false;

        snprintf(want, sizeof(want), "TDX_%02X", q->tee_tcb_svn[1]);
        *status = VMESH_TDX_TCB_UNKNOWN;
        for (size_t i = 0; i < json_array_size(ids) && !found; i++) {
            json_t *m = json_array_get(ids, i), *ml = json_object_get(m, "tcbLevels");
            const char *mid = json_string_value(json_object_get(m, "id"));

            if (mid == NULL || strcasecmp(mid, want) != 0)
                continue;
            found = true;
            for (size_t k = 0; k < json_array_size(ml); k++) {
                json_t *l = json_array_get(ml, k);
                json_t *isv = json_object_get(json_object_get(l, "tcb"), "isvsvn");

                if (json_is_integer(isv) && q->tee_tcb_svn[0] >= json_integer_value(isv)) {
                    *status = status_of(json_string_value(json_object_get(l, "tcbStatus")));
                    snprintf(why, whyn, "TDX module %s TCB level %zu: %s", want, k, vmesh_tdx_tcb_status_name(*status));
                    break;
                }
            }
        }
        if (*status == VMESH_TDX_TCB_UNKNOWN)
            snprintf(why, whyn, "no TDX module identity level of the TCB Info matches %s ISVSVN %u", want,
                     q->tee_tcb_svn[0]);
    }
out:
    return rc;
}

vmesh_err vmesh_tdx_qe_identity_status(const vmesh_tdx_collateral *c, const uint8_t *r, vmesh_tdx_tcb_status *status,
                                       char *why, size_t whyn)
{
    vmesh_err rc = VMESH_OK;
    json_t *b = c->body, *levels;
    uint8_t misc[4], miscmask[4], attr[16], mask[16], mrsigner[32];
    const char *id = json_string_value(json_object_get(b, "id"));
    json_int_t prodid = json_integer_value(json_object_get(b, "isvprodid"));
    unsigned isvsvn = (unsigned)(r[258] | r[259] << 8);

    *status = VMESH_TDX_TCB_UNKNOWN;
    why[0] = '\0';
    VMESH_ENSURE(!c->tcb_info && id != NULL && strcmp(id, "TD_QE") == 0, VMESH_ERR_PARSE,
                 "TDX collateral: not a TD_QE identity");
    VMESH_GUARD(hex_exact("miscselect", json_string_value(json_object_get(b, "miscselect")), misc, 4));
    VMESH_GUARD(hex_exact("miscselectMask", json_string_value(json_object_get(b, "miscselectMask")), miscmask, 4));
    VMESH_GUARD(hex_exact("attributes", json_string_value(json_object_get(b, "attributes")), attr, 16));
    VMESH_GUARD(hex_exact("attributesMask", json_string_value(json_object_get(b, "attributesMask")), mask, 16));
    VMESH_GUARD(hex_exact("mrsigner", json_string_value(json_object_get(b, "mrsigner")), mrsigner, 32));
    /* MISCSELECT is a little-endian u32 in the report; the hex is its bytes as written */
    for (int i = 0; i < 4; i++)
        VMESH_ENSURE((r[16 + i] & miscmask[i]) == misc[i], VMESH_ERR_MISMATCH,
                     "QE report MISCSELECT does not match the QE Identity");
    for (int i = 0; i < 16; i++)
        VMESH_ENSURE((r[48 + i] & mask[i]) == attr[i], VMESH_ERR_MISMATCH,
                     "QE report ATTRIBUTES do not match the QE Identity");
    VMESH_ENSURE(memcmp(r + 128, mrsigner, 32) == 0, VMESH_ERR_MISMATCH,
                 "QE report MRSIGNER is not the QE Identity's (not Intel's quoting enclave)");
    VMESH_ENSURE(prodid == (json_int_t)(r[256] | r[257] << 8), VMESH_ERR_MISMATCH,
                 "QE report ISVPRODID %u is not the QE Identity's %lld", (unsigned)(r[256] | r[257] << 8),
                 (long long)prodid);
    levels = json_object_get(b, "tcbLevels");
    for (size_t i = 0; i < json_array_size(levels); i++) {
        json_t *l = json_array_get(levels, i);
        json_t *isv = json_object_get(json_object_get(l, "tcb"), "isvsvn");

        VMESH_ENSURE(json_is_integer(isv), VMESH_ERR_PARSE, "QE Identity: tcbLevels[%zu] has no isvsvn", i);
        if (json_integer_value(isv) <= isvsvn) {
            *status = status_of(json_string_value(json_object_get(l, "tcbStatus")));
            snprintf(why, whyn, "QE ISVSVN %u: %s", isvsvn, vmesh_tdx_tcb_status_name(*status));
            goto out;
        }
    }
    snprintf(why, whyn, "no QE Identity TCB level matches QE ISVSVN %u", isvsvn);
out:
    return rc;
}
