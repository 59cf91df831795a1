/*
 * The configfs-tsm attester ("tsm" platform) and its CMW wrapper scheme.
 * Linux configfs-tsm (Documentation/ABI/testing/configfs-tsm): "inblob: (WO)
 * Up to 64 bytes of user specified binary data"; "outblob: (RO) Binary
 * attestation report generated from @inblob and other options"; "auxblob:
 * (RO) Optional supplemental data that a TSM may emit, ... e.g. an
 * SEV-SNP certificate table"; "provider: (RO) A name for the format-owner
 * of the generated report"; "generation: (RO) The value in this attribute
 * increments each time @inblob or any option is written. Userspace can
 * detect conflicts by checking generation before writing to any attribute
 * and making sure the number of writes matches expectations after reading
 * @outblob". We read generation around the reads and, beyond that, check
 * that the report carries exactly the REPORT_DATA we wrote, which also
 * holds for a prepared (fake) tree in tests. It must never return evidence
 * for someone else's inblob, and never follow an entry name out of
 * <root>/report.
 */
#include "vmesh/tsm.h"
#include "vmesh/cbor.h"
#include "vmesh/snp.h"
#include "vmesh/tdx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MT_MAX 128
#define TRIES 3

/* ---- CMW record ------------------------------------------------------------ */

vmesh_err vmesh_tsm_cmw_encode(const char *media_type, const uint8_t *p, size_t n, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    size_t ml = strlen(media_type);

    VMESH_ENSURE(ml > 0 && ml < MT_MAX, VMESH_ERR_ARG, "CMW: media type of %zu bytes", ml);
    vmesh_buf_reset(out);
    VMESH_GUARD(vmesh_cbor_put_array(out, 2));
    VMESH_GUARD(vmesh_cbor_put_tstr(out, media_type, ml));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, p, n));
out:
    return rc;
}

vmesh_err vmesh_tsm_cmw_decode(const uint8_t *p, size_t n, char *mt_buf, size_t mt_cap, const uint8_t **value,
                               size_t *value_len)
{
    vmesh_err rc = VMESH_OK;
    vmesh_cbor c;
    uint64_t count = 0;
    const char *mt;
    size_t mtl;

    VMESH_ENSURE(p != NULL && mt_cap > 0, VMESH_ERR_ARG, "CMW: no input");
    vmesh_cbor_init(&c, p, n, "CMW", 0);
    rc = vmesh_cbor_read_array(&c, &count, 2, "the record");
    VMESH_ENSURE(rc == VMESH_OK && count == 2, VMESH_ERR_PARSE,
                 "tsm evidence is not a CMW record [media type, evidence]");
    VMESH_GUARD(vmesh_cbor_read_tstr(&c, mt_cap - 1, &mt, &mtl, "the media type"));
    for (size_t i = 0; i < mtl; i++)
        VMESH_ENSURE((unsigned char)mt[i] >= 0x20 && (unsigned char)mt[i] < 0x7f, VMESH_ERR_PARSE, "CMW: media type with a control character");
    memcpy(mt_buf, mt, mtl);
    mt_buf[mtl] = '\0';
    VMESH_GUARD(vmesh_cbor_read_bstr(&c, VMESH_TSM_MAX_BLOB * 2, value, value_len, "the evidence"));
    VMESH_GUARD(vmesh_cbor_end(&c, "the record"));
out:
    return rc;
}

/* ---- appraisal: the inner scheme decides ------------------------------------- */

static const vmesh_evidence_scheme *inner_scheme(const char *mt)
{
    const vmesh_evidence_scheme *all[] = {&vmesh_scheme_snp, &vmesh_scheme_tdx};

    for (size_t i = 0; i < 2; i++)
        if (vmesh_evidence_media_type_find(mt, all[i]->media_types) >= 0)
            return all[i];
    return NULL;
}

static bool tsm_detect(const uint8_t *p, size_t n)
{
    char mt[MT_MAX];
    const uint8_t *v;
    size_t vn;

    if (p == NULL || n < 2 || !vmesh_cbor_starts_with(p, n, VMESH_CBOR_ARRAY, 2, NULL))
        return false;
    return vmesh_tsm_cmw_decode(p, n, mt, sizeof(mt), &v, &vn) == VMESH_OK && inner_scheme(mt) != NULL;
}

static vmesh_err tsm_appraise(const vmesh_appraisal_in *in, vmesh_appraisal *out)
{
    vmesh_err rc = VMESH_OK;
    char mt[MT_MAX];
    const uint8_t *v;
    size_t vn;
    const vmesh_evidence_scheme *s;
    vmesh_appraisal_in inner;

    VMESH_ENSURE(in != NULL && out != NULL, VMESH_ERR_ARG, "tsm appraisal: no input or output");
    VMESH_ENSURE(in->media_type == NULL || vmesh_evidence_media_type_eq(in->media_type, VMESH_TSM_MEDIA_TYPE),
                 VMESH_ERR_UNSUPPORTED, "tsm appraisal: media type \"%.200s\" is not %s", in->media_type,
                 VMESH_TSM_MEDIA_TYPE);
    VMESH_GUARD(vmesh_tsm_cmw_decode(in->evidence, in->evidence_len, mt, sizeof(mt), &v, &vn));
    s = inner_scheme(mt);
    VMESH_ENSURE(s != NULL, VMESH_ERR_UNSUPPORTED, "tsm evidence: inner media type \"%s\" is neither sev-snp nor tdx",
                 mt);
    inner = *in;
    inner.evidence = v;
    inner.evidence_len = vn;
    inner.media_type = mt;
    VMESH_GUARD(s->appraise(&inner, out));
out:
    return rc;
}

/* ---- attester ------------------------------------------------------------------ */

typedef struct {
    char *dir;       /* <root>/report/<entry> */
    char *privlevel; /* NULL: not written */
} tsm_ctx;

static void tsm_attester_free(void *p)
{
    tsm_ctx *c = p;

    if (c == NULL)
        return;
    free(c->dir);
    free(c->privlevel);
    free(c);
}

static bool entry_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

static vmesh_err tsm_attester_new(const vmesh_kv *cfg, size_t ncfg, void **out)
{
    vmesh_err rc = VMESH_OK;
    const char *root = VMESH_TSM_DEFAULT_ROOT, *entry = NULL, *priv = NULL;
    char def[64], *dir = NULL;
    tsm_ctx *c = NULL;
    size_t n;

    *out = NULL;
    for (size_t i = 0; i < ncfg; i++) {
        VMESH_ENSURE(cfg[i].key != NULL && cfg[i].value != NULL, VMESH_ERR_ARG, "tsm: configuration entry %zu is empty", i);
        if (strcmp(cfg[i].key, "tsm-root") == 0)
            root = cfg[i].value;
        else if (strcmp(cfg[i].key, "entry") == 0)
            entry = cfg[i].value;
        else if (strcmp(cfg[i].key, "privlevel") == 0)
            priv = cfg[i].value;
        else
            VMESH_FAIL(VMESH_ERR_ARG, "tsm: unknown configuration key \"%.64s\" (known: tsm-root, entry, privlevel)",
                       cfg[i].key);
    }
    if (entry == NULL) {
        /* pid plus random bytes: containers run their main process as pid
         * 1, and two of them on one guest must not share a report entry. */
        uint8_t r[6];
        VMESH_GUARD(vmesh_crypto_random(r, sizeof(r)));
        snprintf(def, sizeof(def), "vmesh-%ld-%02x%02x%02x%02x%02x%02x", (long)getpid(), r[0], r[1], r[2], r[3],
                 r[4], r[5]);
        entry = def;
    }
    VMESH_ENSURE(entry_name_ok(entry), VMESH_ERR_ARG,
                 "tsm: entry name \"%.80s\" must be 1-64 characters of [A-Za-z0-9._-]", entry);
    VMESH_ENSURE(root[0] != '\0' && strlen(root) < 3000, VMESH_ERR_ARG, "tsm: bad tsm-root");
    n = strlen(root) + strlen(entry) + 16;
    dir = malloc(n);
    c = calloc(1, sizeof(*c));
    VMESH_ENSURE(dir != NULL && c != NULL, VMESH_ERR_NOMEM, "out of memory");
    snprintf(dir, n, "%s/report", root);
    VMESH_ENSURE(access(dir, F_OK) == 0, VMESH_ERR_UNSUPPORTED,
                 "tsm: %s does not exist (not a confidential VM with configfs-tsm, or configfs not mounted)", dir);
    snprintf(dir, n, "%s/report/%s", root, entry);
    c->dir = dir;
    dir = NULL;
    if (priv != NULL) {
        c->privlevel = strdup(priv);
        VMESH_ENSURE(c->privlevel != NULL, VMESH_ERR_NOMEM, "out of memory");
    }
    *out = c;
    c = NULL;
out:
    free(dir);
    tsm_attester_free(c);
    return rc;
}

static vmesh_err attr_path(const tsm_ctx *c, const char *name, char *buf, size_t n)
{
    vmesh_err rc = VMESH_OK;
    int k = snprintf(buf, n, "%s/%s", c->dir, name);

    VMESH_ENSURE(k > 0 && (size_t)k < n, VMESH_ERR_TOO_LARGE, "tsm: path too long");
out:
    return rc;
}

static vmesh_err write_attr(const tsm_ctx *c, const char *name, const void *p, size_t n)
{
    vmesh_err rc = VMESH_OK;
    char path[4096];
    int fd = -1;
    ssize_t w;

    VMESH_GUARD(attr_path(c, name, path, sizeof(path)));
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    VMESH_ENSURE(fd >= 0, VMESH_ERR_IO, "tsm: cannot open %s for writing: %s", path, strerror(errno));
    /* configfs binary attributes take the whole value in one write */
    w = write(fd, p, n);
    VMESH_ENSURE(w == (ssize_t)n, VMESH_ERR_IO, "tsm: writing %s: %s", path, w < 0 ? strerror(errno) : "short write");
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static vmesh_err read_attr(const tsm_ctx *c, const char *name, bool optional, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    char path[4096];

    vmesh_buf_reset(out);
    VMESH_GUARD(attr_path(c, name, path, sizeof(path)));
    if (optional && access(path, F_OK) != 0)
        goto out;
    rc = vmesh_file_read(path, VMESH_TSM_MAX_BLOB, out);
    if (rc != VMESH_OK)
        vmesh_err_wrap(rc, "tsm: reading %s", name);
out:
    return rc;
}

static vmesh_err read_u64(const tsm_ctx *c, const char *name, uint64_t *v)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};
    char *end;

    VMESH_GUARD(read_attr(c, name, false, &b));
    VMESH_GUARD(vmesh_buf_terminate(&b));
    errno = 0;
    *v = strtoull((const char *)b.data, &end, 10);
    VMESH_ENSURE(errno == 0 && end != (char *)b.data && (*end == '\n' || *end == '\0'), VMESH_ERR_PARSE,
                 "tsm: %s is not a number", name);
out:
    vmesh_buf_free(&b);
    return rc;
}

static vmesh_err snp_evidence(const uint8_t *inblob, const vmesh_buf *outblob, const vmesh_buf *aux, vmesh_buf *ev)
{
    vmesh_err rc = VMESH_OK;
    vmesh_snp_report r;
    vmesh_snp_evidence certs;

    VMESH_GUARD(vmesh_snp_report_parse(outblob->data, outblob->len, &r));
    VMESH_ENSURE(memcmp(r.report_data, inblob, 64) == 0, VMESH_ERR_MISMATCH,
                 "tsm: the SEV-SNP report does not carry the REPORT_DATA we wrote (another writer on the entry?)");
    memset(&certs, 0, sizeof(certs));
    if (aux->len > 0) {
        rc = vmesh_snp_certtable_parse(aux->data, aux->len, &certs);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "tsm: auxblob");
            goto out;
        }
    }
    VMESH_GUARD(vmesh_snp_evidence_encode(outblob->data, certs.cert, certs.cert_len, certs.chain, certs.chain_len,
                                          certs.nchain, ev));
out:
    return rc;
}

static vmesh_err tsm_attest(void *ctx, const uint8_t *nonce, size_t nonce_len, vmesh_buf *evidence)
{
    vmesh_err rc = VMESH_OK;
    tsm_ctx *c = ctx;
    uint8_t inblob[64];
    uint64_t g1 = 0, g2 = 0;
    vmesh_buf provider = {0}, outblob = {0}, aux = {0}, inner = {0};
    const char *mt = NULL;
    int tries = 0;

    VMESH_ENSURE(c != NULL, VMESH_ERR_STATE, "tsm: attester not initialised");
    VMESH_ENSURE(nonce != NULL && nonce_len > 0 && nonce_len <= 64, VMESH_ERR_ARG,
                 "tsm: the nonce is %zu bytes; REPORT_DATA holds 1 to 64", nonce_len);
    memset(inblob, 0, sizeof(inblob));
    memcpy(inblob, nonce, nonce_len);
    if (mkdir(c->dir, 0700) != 0 && errno != EEXIST)
        VMESH_FAIL(VMESH_ERR_IO, "tsm: cannot create report entry %s: %s", c->dir, strerror(errno));
    for (;;) {
        if (c->privlevel != NULL)
            VMESH_GUARD(write_attr(c, "privlevel", c->privlevel, strlen(c->privlevel)));
        VMESH_GUARD(write_attr(c, "inblob", inblob, sizeof(inblob)));
        VMESH_GUARD(read_u64(c, "generation", &g1));
        VMESH_GUARD(read_attr(c, "provider", false, &provider));
        VMESH_GUARD(read_attr(c, "outblob", false, &outblob));
        VMESH_GUARD(read_attr(c, "auxblob", true, &aux));
        VMESH_GUARD(read_u64(c, "generation", &g2));
        if (g1 == g2)
            break;
        /* another process wrote the entry between our write and our reads */
        VMESH_ENSURE(++tries < TRIES, VMESH_ERR_STATE,
                     "tsm: report entry %s keeps changing (generation %llu -> %llu); use an entry of your own",
                     c->dir, (unsigned long long)g1, (unsigned long long)g2);
    }
    while (provider.len > 0 && (provider.data[provider.len - 1] == '\n' || provider.data[provider.len - 1] == 0))
        provider.len--;
    VMESH_GUARD(vmesh_buf_terminate(&provider));
    if (strcmp((const char *)provider.data, "sev_guest") == 0) {
        VMESH_GUARD(snp_evidence(inblob, &outblob, &aux, &inner));
        mt = VMESH_SNP_MEDIA_TYPE_CBOR;
    } else if (strcmp((const char *)provider.data, "tdx_guest") == 0) {
        vmesh_tdx_quote q;

        VMESH_GUARD(vmesh_tdx_quote_parse(outblob.data, outblob.len, &q));
        VMESH_ENSURE(memcmp(q.report_data, inblob, 64) == 0, VMESH_ERR_MISMATCH,
                     "tsm: the TDX quote does not carry the REPORTDATA we wrote (another writer on the entry?)");
        VMESH_GUARD(vmesh_buf_set(&inner, outblob.data, outblob.len));
        mt = VMESH_TDX_MEDIA_TYPE;
    } else {
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "tsm: provider \"%.64s\" is not supported (sev_guest, tdx_guest)",
                   (const char *)provider.data);
    }
    VMESH_GUARD(vmesh_tsm_cmw_encode(mt, inner.data, inner.len, evidence));
out:
    vmesh_buf_free(&provider);
    vmesh_buf_free(&outblob);
    vmesh_buf_free(&aux);
    vmesh_buf_free(&inner);
    return rc;
}

static const char *const tsm_media_types[] = {
    VMESH_TSM_MEDIA_TYPE,
    NULL,
};

static const vmesh_evidence_option tsm_options[] = {
    {"tsm-root", 0, "DIR", false, "configfs-tsm mount point (default /sys/kernel/config/tsm)"},
    {"entry", 0, "NAME", false, "report entry under <root>/report/ ([A-Za-z0-9._-], 1-64; default vmesh-<pid>-<random>)"},
    {"privlevel", 0, "N", false, "written to privlevel before each report (SEV-SNP VMPL)"},
    {NULL, 0, NULL, false, NULL},
};

const vmesh_evidence_scheme vmesh_scheme_tsm = {
    .name = "tsm",
    .media_types = tsm_media_types,
    .detect = tsm_detect,
    .attester_options = tsm_options,
    .attester_new = tsm_attester_new,
    .attest = tsm_attest,
    .attester_free = tsm_attester_free,
    .appraise = tsm_appraise,
};
