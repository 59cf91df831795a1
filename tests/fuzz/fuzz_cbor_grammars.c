/*
 * Fuzz target: the one CBOR reader, alone and under every format's grammar.
 * The first input byte picks the grammar, the rest is the input:
 *   0-2  the reader by itself (plain, indefinite lengths allowed,
 *        deterministic): every typed read on a flat walk, check/skip/enter
 *        agreeing with each other, and on a deterministic cursor the writer
 *        reproducing the input head by head;
 *   3    COSE_Sign1            4  PSA claims-set       5  CCA token and claims
 *   6    CoRIM (PSA profile)   7  atls message, attestation-failed, 0xff4d
 *   8    SEV-SNP evidence      9  TPM 2.0 evidence map 10 CMW record (tsm)
 * What decodes must re-encode consistently where the format has an encoder.
 * Nothing may crash, hang, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmesh/atls.h"
#include "vmesh/cbor.h"
#include "vmesh/cca.h"
#include "vmesh/corim.h"
#include "vmesh/cose.h"
#include "vmesh/psa.h"
#include "vmesh/snp.h"
#include "vmesh/tpm2.h"
#include "vmesh/tsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A flat walk: every head in turn, each through the typed read of its
 * type (a container's items follow on the same cursor). Re-encodes each
 * item's head (and a string's bytes) into `again` when given. Returns
 * false when a read failed. */
static bool walk(vmesh_cbor *r, vmesh_buf *again, bool *exotic)
{
    while (!vmesh_cbor_at_end(r)) {
        vmesh_cbor_head h;
        uint64_t u;
        int64_t i;
        bool b;
        const uint8_t *p = NULL;
        const char *t;
        size_t n = 0;
        vmesh_err rc;

        if (vmesh_cbor_peek(r, &h) != VMESH_OK)
            return false;
        if (h.indef || (h.major == VMESH_CBOR_SIMPLE && h.ai >= 24))
            *exotic = true; /* floats and indefinite lengths have no writer form */
        switch (h.major) {
        case VMESH_CBOR_UINT:
            if (vmesh_cbor_read_uint(r, &u, "u") != VMESH_OK || u != h.arg)
                abort();
            break;
        case VMESH_CBOR_NEGINT:
            rc = vmesh_cbor_read_int(r, &i, "i");
            if (rc == VMESH_OK ? i != -1 - (int64_t)h.arg : h.arg <= (uint64_t)INT64_MAX)
                abort(); /* refused exactly when beyond int64 */
            if (rc != VMESH_OK && vmesh_cbor_read_head(r, &h) != VMESH_OK)
                abort();
            break;
        case VMESH_CBOR_BSTR:
        case VMESH_CBOR_TSTR:
            if (h.indef) {
                if (vmesh_cbor_read_head(r, &h) != VMESH_OK)
                    return false;
                break;
            }
            if (h.major == VMESH_CBOR_TSTR) {
                rc = vmesh_cbor_read_tstr(r, SIZE_MAX, &t, &n, "t");
                p = (const uint8_t *)t;
                if (rc != VMESH_OK) {
                    /* refused text is not consumed; step over it as bytes */
                    vmesh_cbor_head hh;
                    if (r->off != h.off)
                        abort();
                    if (vmesh_cbor_read_head(r, &hh) != VMESH_OK || hh.arg > vmesh_cbor_left(r))
                        return false;
                    p = r->p + r->off;
                    n = (size_t)hh.arg;
                    r->off += n;
                    rc = VMESH_OK;
                }
            } else {
                rc = vmesh_cbor_read_bstr(r, SIZE_MAX, &p, &n, "b");
            }
            if (rc != VMESH_OK)
                return false;
            if (n != h.arg)
                abort();
            break;
        case VMESH_CBOR_ARRAY:
        case VMESH_CBOR_MAP:
            if (h.indef)
                rc = vmesh_cbor_read_head(r, &h);
            else if (h.major == VMESH_CBOR_ARRAY)
                rc = vmesh_cbor_read_array(r, &u, UINT64_MAX, "a");
            else
                rc = vmesh_cbor_read_map(r, &u, UINT64_MAX, "m");
            if (rc != VMESH_OK)
                return false;
            break;
        case VMESH_CBOR_TAG:
            if (vmesh_cbor_read_tag(r, &u, "t") != VMESH_OK || u != h.arg)
                abort();
            break;
        default:
            if (vmesh_cbor_read_bool(r, &b, "s") != VMESH_OK && vmesh_cbor_read_head(r, &h) != VMESH_OK)
                return false;
            break;
        }
        if (again != NULL && !h.indef) {
            if (vmesh_cbor_put_head(again, h.major, h.arg) != VMESH_OK || vmesh_buf_append(again, p, n) != VMESH_OK)
                abort();
        }
    }
    return true;
}

static void reader(const uint8_t *data, size_t size, unsigned flags)
{
    vmesh_cbor r, s, inner;
    vmesh_buf again = {0};
    bool exotic = false, ok;
    uint64_t count = 0, seen = 0;

    vmesh_cbor_init(&r, data, size, "fuzz", flags);
    ok = vmesh_cbor_check(&r) == VMESH_OK;
    /* a well-formed item is well-formed under looser rules too */
    if (ok && (flags & VMESH_CBOR_DETERMINISTIC)) {
        vmesh_cbor_init(&s, data, size, "fuzz", 0);
        if (vmesh_cbor_check(&s) != VMESH_OK)
            abort();
    }
    if (ok && flags == 0) {
        vmesh_cbor_init(&s, data, size, "fuzz", VMESH_CBOR_INDEFINITE);
        if (vmesh_cbor_check(&s) != VMESH_OK)
            abort();
    }
    /* skip walks the whole item; enter agrees with it on the extent */
    s = r;
    if (ok && (vmesh_cbor_skip(&s) != VMESH_OK || s.off != size))
        abort();
    for (unsigned major = VMESH_CBOR_ARRAY; major <= VMESH_CBOR_MAP; major++) {
        vmesh_cbor item, t = r;

        s = r;
        if (vmesh_cbor_enter(&s, major, &inner, &count, UINT64_MAX, "c") != VMESH_OK)
            continue;
        if (vmesh_cbor_skip(&t) != VMESH_OK || t.off != s.off)
            abort();
        for (seen = 0; !vmesh_cbor_at_end(&inner); seen++)
            if (vmesh_cbor_read_item(&inner, &item) != VMESH_OK)
                abort();
        if (seen != (major == VMESH_CBOR_MAP ? 2 * count : count))
            abort();
    }
    /* the flat walk of a good item reads every head; on a deterministic
     * cursor the writer gives the same bytes back */
    vmesh_cbor_init(&s, data, size, "fuzz", flags);
    if (walk(&s, (flags & VMESH_CBOR_DETERMINISTIC) ? &again : NULL, &exotic) && ok &&
        (flags & VMESH_CBOR_DETERMINISTIC) && !exotic && (again.len != size || memcmp(again.data, data, size) != 0))
        abort();
    vmesh_buf_free(&again);
}

static void cose(const uint8_t *data, size_t size)
{
    vmesh_cose_sign1 *m = NULL;

    if (vmesh_cose_sign1_decode(data, size, 0, &m) == VMESH_OK) {
        size_t n;
        if (vmesh_cose_sign1_payload(m, &n) == NULL)
            abort();
    }
    vmesh_cose_sign1_free(m);
}

static void psa(const uint8_t *data, size_t size)
{
    vmesh_psa_claims c, d;
    vmesh_buf a = {0}, b = {0};

    vmesh_psa_claims_init(&c);
    vmesh_psa_claims_init(&d);
    if (vmesh_psa_claims_decode(data, size, &c) == VMESH_OK) {
        vmesh_cbor r;
        if (vmesh_psa_claims_encode(&c, &a) != VMESH_OK || vmesh_psa_claims_decode(a.data, a.len, &d) != VMESH_OK ||
            vmesh_psa_claims_encode(&d, &b) != VMESH_OK || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort();
        /* the encoder writes deterministic CBOR */
        vmesh_cbor_init(&r, a.data, a.len, "psa", VMESH_CBOR_DETERMINISTIC);
        if (vmesh_cbor_check(&r) != VMESH_OK)
            abort();
    }
    vmesh_psa_claims_free(&c);
    vmesh_psa_claims_free(&d);
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
}

static void cca(const uint8_t *data, size_t size)
{
    vmesh_cca_token *t = NULL;
    vmesh_cca_claims c;

    vmesh_cca_claims_init(&c);
    if (vmesh_cca_token_decode(data, size, &t) == VMESH_OK && vmesh_cca_token_claims(t) == NULL)
        abort();
    vmesh_cca_token_free(t);
    if (vmesh_cca_platform_decode(data, size, &c.platform) == VMESH_OK) {
        vmesh_buf b = {0};
        if (vmesh_cca_platform_encode(&c.platform, &b) != VMESH_OK)
            abort();
        vmesh_buf_free(&b);
    }
    if (vmesh_cca_realm_decode(data, size, &c.realm) == VMESH_OK) {
        vmesh_buf b = {0};
        if (vmesh_cca_realm_encode(&c.realm, &b) != VMESH_OK)
            abort();
        vmesh_buf_free(&b);
    }
    vmesh_cca_claims_free(&c);
}

static void corim(const uint8_t *data, size_t size)
{
    vmesh_rv_store *s = NULL;
    vmesh_corim_info info;

    if (vmesh_rv_store_new(&s) != VMESH_OK)
        return;
    if (vmesh_corim_load(s, data, size, NULL, VMESH_CORIM_ALLOW_UNVERIFIED, vmesh_psa_corim_profiles, "fuzz",
                         &info) == VMESH_OK &&
        vmesh_rv_store_size(s) != info.measurements + info.keys)
        abort();
    vmesh_rv_store_free(s);
}

static void atls(const uint8_t *data, size_t size)
{
    vmesh_atls_msg m;
    vmesh_atls_ext e;
    uint32_t reason;
    char msg[VMESH_ATLS_FAIL_MESSAGE_MAX + 1];
    vmesh_buf b = {0};

    vmesh_atls_msg_init(&m);
    if (vmesh_atls_msg_decode(data, size, &m) == VMESH_OK) {
        vmesh_atls_msg d;
        /* what decodes encodes, and that decodes again */
        vmesh_atls_msg_init(&d);
        if (vmesh_atls_msg_encode(&m, &b) != VMESH_OK || vmesh_atls_msg_decode(b.data, b.len, &d) != VMESH_OK ||
            d.fresh != m.fresh || d.epoch_id != m.epoch_id || d.cmw.len != m.cmw.len)
            abort();
        vmesh_atls_msg_free(&d);
    }
    vmesh_atls_msg_free(&m);
    vmesh_buf_free(&b);
    (void)!vmesh_atls_failed_decode(data, size, &reason, msg);
    if (vmesh_atls_ext_decode(data, size, &e) == VMESH_OK)
        vmesh_atls_ext_free(&e);
}

static void cc(unsigned which, const uint8_t *data, size_t size)
{
    vmesh_snp_evidence ev;
    vmesh_tpm2_evidence tv;
    char mt[128];
    const uint8_t *v;
    size_t vn;
    vmesh_buf b = {0};

    if (which == 8) {
        (void)!vmesh_snp_evidence_decode(data, size, &ev);
    } else if (which == 9) {
        memset(&tv, 0, sizeof(tv));
        /* the decoder takes deterministic CBOR only: the encoder gives it back */
        if (vmesh_tpm2_evidence_decode(data, size, &tv) == VMESH_OK &&
            (vmesh_tpm2_evidence_encode(&tv, &b) != VMESH_OK || b.len != size || memcmp(b.data, data, size) != 0))
            abort();
        vmesh_tpm2_evidence_free(&tv);
    } else if (vmesh_tsm_cmw_decode(data, size, mt, sizeof(mt), &v, &vn) == VMESH_OK && mt[0] != '\0') {
        char mt2[128];
        if (vmesh_tsm_cmw_encode(mt, v, vn, &b) != VMESH_OK ||
            vmesh_tsm_cmw_decode(b.data, b.len, mt2, sizeof(mt2), &v, &vn) != VMESH_OK || strcmp(mt, mt2) != 0)
            abort();
    }
    vmesh_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel;

    if (size == 0)
        return 0;
    sel = data[0] % 11;
    data++;
    size--;
    switch (sel) {
    case 0: reader(data, size, 0); break;
    case 1: reader(data, size, VMESH_CBOR_INDEFINITE); break;
    case 2: reader(data, size, VMESH_CBOR_DETERMINISTIC); break;
    case 3: cose(data, size); break;
    case 4: psa(data, size); break;
    case 5: cca(data, size); break;
    case 6: corim(data, size); break;
    case 7: atls(data, size); break;
    default: cc(sel, data, size); break;
    }
    return 0;
}
