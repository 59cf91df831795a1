/*
 * SEV-SNP ATTESTATION_REPORT decoding, signing (tests, simulators), TCB
 * components and the extended-request certificate table. Offsets are those
 * of the SEV-SNP Firmware ABI Specification (Table "ATTESTATION_REPORT
 * Structure"), cross-checked with google/go-sev-guest abi/abi.go. Every
 * field is read at a fixed offset of a buffer whose size was checked first;
 * nothing here may read past the 1184 bytes or accept a report whose
 * must-be-zero bytes are set.
 */
#include "vmesh/snp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* Returns the first non-zero offset in [lo, hi), or hi. */
static size_t first_nonzero(const uint8_t *p, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        if (p[i] != 0)
            return i;
    return hi;
}

#define MBZ(p, lo, hi, what)                                                                                \
    do {                                                                                                    \
        size_t nz_ = first_nonzero((p), (lo), (hi));                                                        \
        VMESH_ENSURE(nz_ == (hi), VMESH_ERR_PARSE,                                                          \
                     "SEV-SNP report: reserved byte 0x%03zx (%s) is 0x%02x; it must be zero", nz_, (what), \
                     (p)[nz_]);                                                                             \
    } while (0)

vmesh_err vmesh_snp_report_parse(const uint8_t *p, size_t n, vmesh_snp_report *r)
{
    vmesh_err rc = VMESH_OK;
    unsigned key;

    memset(r, 0, sizeof(*r));
    VMESH_ENSURE(p != NULL && n == VMESH_SNP_REPORT_SIZE, VMESH_ERR_PARSE,
                 "SEV-SNP report is %zu bytes; an ATTESTATION_REPORT is %d bytes", n, VMESH_SNP_REPORT_SIZE);
    r->version = le32(p + 0x00);
    VMESH_ENSURE(r->version >= 2 && r->version <= 5, VMESH_ERR_UNSUPPORTED,
                 "SEV-SNP report version %u is not supported (2 to 5)", r->version);
    r->guest_svn = le32(p + 0x04);
    r->policy = le64(p + 0x08);
    /* ABI spec, GUEST_POLICY: bit 17 "Reserved. Must be one."; bits 63:26 reserved, MBZ */
    VMESH_ENSURE((r->policy & VMESH_SNP_POLICY_RESERVED1) != 0, VMESH_ERR_PARSE,
                 "SEV-SNP report: guest policy 0x%llx lacks bit 17, which must be one",
                 (unsigned long long)r->policy);
    VMESH_ENSURE((r->policy >> 26) == 0, VMESH_ERR_PARSE,
                 "SEV-SNP report: guest policy 0x%llx sets reserved bits 63:26", (unsigned long long)r->policy);
    memcpy(r->family_id, p + 0x10, 16);
    memcpy(r->image_id, p + 0x20, 16);
    r->vmpl = le32(p + 0x30);
    r->signature_algo = le32(p + 0x34);
    VMESH_ENSURE(r->signature_algo == 1, VMESH_ERR_UNSUPPORTED,
                 "SEV-SNP report: signature algorithm %u is not ECDSA P-384 with SHA-384 (1)", r->signature_algo);
    r->current_tcb = le64(p + 0x38);
    r->platform_info = le64(p + 0x40);
    r->signer_info = le32(p + 0x48);
    VMESH_ENSURE((r->signer_info >> 5) == 0, VMESH_ERR_PARSE,
                 "SEV-SNP report: reserved bits 31:5 of the signer info word are set (0x%x)", r->signer_info);
    key = vmesh_snp_signing_key(r);
    VMESH_ENSURE(key <= VMESH_SNP_KEY_VLEK || key == VMESH_SNP_KEY_NONE, VMESH_ERR_PARSE,
                 "SEV-SNP report: SIGNING_KEY %u is reserved", key);
    MBZ(p, 0x4C, 0x50, "after signer info");
    memcpy(r->report_data, p + 0x50, 64);
    memcpy(r->measurement, p + 0x90, 48);
    memcpy(r->host_data, p + 0xC0, 32);
    memcpy(r->id_key_digest, p + 0xE0, 48);
    memcpy(r->author_key_digest, p + 0x110, 48);
    memcpy(r->report_id, p + 0x140, 32);
    memcpy(r->report_id_ma, p + 0x160, 32);
    r->reported_tcb = le64(p + 0x180);
    if (r->version >= 3) {
        r->cpuid_fam_id = p[0x188];
        r->cpuid_mod_id = p[0x189];
        r->cpuid_step = p[0x18A];
        MBZ(p, 0x18B, 0x1A0, "after CPUID_STEP");
    } else {
        MBZ(p, 0x188, 0x1A0, "after REPORTED_TCB");
    }
    memcpy(r->chip_id, p + 0x1A0, 64);
    r->committed_tcb = le64(p + 0x1E0);
    r->current_build = p[0x1E8];
    r->current_minor = p[0x1E9];
    r->current_major = p[0x1EA];
    MBZ(p, 0x1EB, 0x1EC, "after CURRENT_MAJOR");
    r->committed_build = p[0x1EC];
    r->committed_minor = p[0x1ED];
    r->committed_major = p[0x1EE];
    MBZ(p, 0x1EF, 0x1F0, "after COMMITTED_MAJOR");
    r->launch_tcb = le64(p + 0x1F0);
    /* 0x1F8-0x207: LAUNCH_MIT_VECTOR / CURRENT_MIT_VECTOR (version 5), not used */
    MBZ(p, 0x208, VMESH_SNP_SIGNED_SIZE, "before SIGNATURE");
    memcpy(r->sig_r, p + 0x2A0, 72);
    memcpy(r->sig_s, p + 0x2A0 + 72, 72);
    MBZ(p, 0x2A0 + 144, VMESH_SNP_REPORT_SIZE, "after the ECDSA signature");
out:
    return rc;
}

unsigned vmesh_snp_signing_key(const vmesh_snp_report *r)
{
    return (r->signer_info >> 2) & 7;
}

vmesh_err vmesh_snp_report_sign(uint8_t *report, size_t n, const vmesh_key *key)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf sig = {0};
    const char *alg;

    VMESH_ENSURE(report != NULL && n == VMESH_SNP_REPORT_SIZE, VMESH_ERR_ARG,
                 "SEV-SNP report to sign must be %d bytes", VMESH_SNP_REPORT_SIZE);
    alg = vmesh_crypto_key_jws_alg(key);
    VMESH_ENSURE(alg != NULL && strcmp(alg, "ES384") == 0 && vmesh_crypto_key_is_private(key), VMESH_ERR_ARG,
                 "SEV-SNP reports are signed with a P-384 private key");
    report[0x34] = 1;
    report[0x35] = report[0x36] = report[0x37] = 0;
    VMESH_GUARD(vmesh_crypto_sign(key, report, VMESH_SNP_SIGNED_SIZE, &sig));
    VMESH_ENSURE(sig.len == 96, VMESH_ERR_CRYPTO, "P-384 signature of %zu bytes", sig.len);
    memset(report + 0x2A0, 0, VMESH_SNP_REPORT_SIZE - 0x2A0);
    /* ABI spec, "ECDSA P-384 with SHA-384 Signature": R and S are
     * little-endian, zero-extended to 72 bytes */
    for (size_t i = 0; i < 48; i++) {
        report[0x2A0 + i] = sig.data[47 - i];
        report[0x2A0 + 72 + i] = sig.data[95 - i];
    }
out:
    vmesh_buf_free(&sig);
    return rc;
}

vmesh_snp_tcb vmesh_snp_tcb_of(uint64_t v)
{
    vmesh_snp_tcb t;

    t.bl = (uint8_t)(v & 0xff);
    t.tee = (uint8_t)((v >> 8) & 0xff);
    t.snp = (uint8_t)((v >> 48) & 0xff);
    t.ucode = (uint8_t)((v >> 56) & 0xff);
    return t;
}

vmesh_err vmesh_snp_tcb_parse(const char *s, vmesh_snp_tcb *out)
{
    vmesh_err rc = VMESH_OK;
    const char *p = s;
    unsigned seen = 0;

    memset(out, 0, sizeof(*out));
    VMESH_ENSURE(s != NULL && *s != '\0', VMESH_ERR_PARSE, "empty TCB (expected \"bl=N,tee=N,snp=N,ucode=N\")");
    while (*p != '\0') {
        const char *eq = strchr(p, '=');
        char *end;
        long v;
        size_t klen;
        uint8_t *dst = NULL;
        unsigned bit = 0;

        VMESH_ENSURE(eq != NULL, VMESH_ERR_PARSE, "TCB \"%.100s\": expected NAME=VALUE", s);
        klen = (size_t)(eq - p);
        if (klen == 2 && strncmp(p, "bl", 2) == 0) {
            dst = &out->bl;
            bit = 1;
        } else if (klen == 3 && strncmp(p, "tee", 3) == 0) {
            dst = &out->tee;
            bit = 2;
        } else if (klen == 3 && strncmp(p, "snp", 3) == 0) {
            dst = &out->snp;
            bit = 4;
        } else if (klen == 5 && strncmp(p, "ucode", 5) == 0) {
            dst = &out->ucode;
            bit = 8;
        }
        VMESH_ENSURE(dst != NULL, VMESH_ERR_PARSE, "TCB \"%.100s\": unknown component \"%.*s\" (bl, tee, snp, ucode)",
                     s, (int)(klen > 16 ? 16 : klen), p);
        VMESH_ENSURE((seen & bit) == 0, VMESH_ERR_PARSE, "TCB \"%.100s\": component given twice", s);
        seen |= bit;
        v = strtol(eq + 1, &end, 10);
        VMESH_ENSURE(end != eq + 1 && v >= 0 && v <= 255 && (*end == ',' || *end == '\0'), VMESH_ERR_PARSE,
                     "TCB \"%.100s\": values are integers 0..255", s);
        *dst = (uint8_t)v;
        p = *end == ',' ? end + 1 : end;
    }
out:
    return rc;
}

/* GUIDs of the GHCB specification's certificate table, in the byte order
 * of their string form (as go-sev-guest compares them). */
static const uint8_t guid_vcek[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                      0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
static const uint8_t guid_vlek[16] = {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e,
                                      0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1};
static const uint8_t guid_ask[16] = {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                     0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82};
static const uint8_t guid_ark[16] = {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
                                     0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae};

#define CERTTABLE_MAX_ENTRIES 64

vmesh_err vmesh_snp_certtable_parse(const uint8_t *p, size_t n, vmesh_snp_evidence *ev)
{
    vmesh_err rc = VMESH_OK;
    size_t nent = 0, hdr;
    const uint8_t *ask = NULL, *ark = NULL;
    size_t ask_len = 0, ark_len = 0;

    VMESH_ENSURE(p != NULL || n == 0, VMESH_ERR_ARG, "certificate table: no data");
    /* find the terminating all-zero entry first, so every offset can be checked against the header end */
    for (;;) {
        VMESH_ENSURE(nent < CERTTABLE_MAX_ENTRIES, VMESH_ERR_TOO_LARGE, "certificate table: more than %d entries",
                     CERTTABLE_MAX_ENTRIES);
        VMESH_ENSURE((nent + 1) * 24 <= n, VMESH_ERR_PARSE,
                     "certificate table: entry %zu is cut off (%zu bytes; the table ends with an all-zero entry)",
                     nent, n);
        if (all_zero(p + nent * 24, 24))
            break;
        nent++;
    }
    hdr = (nent + 1) * 24;
    for (size_t i = 0; i < nent; i++) {
        const uint8_t *e = p + i * 24;
        uint32_t off = le32(e + 16), len = le32(e + 20);

        VMESH_ENSURE(off >= hdr && (uint64_t)off + len <= n && len > 0, VMESH_ERR_PARSE,
                     "certificate table entry %zu: offset %u length %u is outside the %zu-byte table", i, off, len,
                     n);
        VMESH_ENSURE(len <= VMESH_SNP_MAX_CERT, VMESH_ERR_TOO_LARGE,
                     "certificate table entry %zu: %u bytes (cap %zu)", i, len, VMESH_SNP_MAX_CERT);
        if (memcmp(e, guid_vcek, 16) == 0 || memcmp(e, guid_vlek, 16) == 0) {
            VMESH_ENSURE(ev->cert == NULL, VMESH_ERR_PARSE, "certificate table: two VCEK/VLEK entries");
            ev->cert = p + off;
            ev->cert_len = len;
        } else if (memcmp(e, guid_ask, 16) == 0) {
            ask = p + off;
            ask_len = len;
        } else if (memcmp(e, guid_ark, 16) == 0) {
            ark = p + off;
            ark_len = len;
        }
        /* other GUIDs (e.g. extra platform info) are not certificates we use */
    }
    if (ask != NULL && ev->nchain < VMESH_SNP_MAX_CHAIN) {
        ev->chain[ev->nchain] = ask;
        ev->chain_len[ev->nchain++] = ask_len;
    }
    if (ark != NULL && ev->nchain < VMESH_SNP_MAX_CHAIN) {
        ev->chain[ev->nchain] = ark;
        ev->chain_len[ev->nchain++] = ark_len;
    }
out:
    return rc;
}
