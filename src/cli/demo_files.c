/*
 * Files the demos write: text and JSON, and what a psa-sim platform needs
 * (an IAK, firmware and workload files, a claims template) with the vmesh
 * RV JSON that approves it. Shared by `vmesh demo sase` and `vmesh demo
 * ipsec`. It writes only below the directory it is given.
 */
#define _GNU_SOURCE
#include "demo.h"
#include "vmesh/crypto.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void demo_sfmt(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

vmesh_err demo_write_text(const char *path, const char *text)
{
    return vmesh_file_write(path, text, strlen(text), 0644);
}

vmesh_err demo_write_json(const char *path, json_t *j)
{
    vmesh_err rc = VMESH_OK;
    char *s = j ? json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;

    VMESH_ENSURE(s != NULL, VMESH_ERR_NOMEM, "out of memory");
    rc = demo_write_text(path, s);
out:
    free(s);
    return rc;
}

static vmesh_err b64(const uint8_t *p, size_t n, char *out, size_t out_len)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    VMESH_GUARD(vmesh_b64_encode(p, n, &b));
    VMESH_ENSURE(b.len < out_len, VMESH_ERR_TOO_LARGE, "base64 too long");
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
out:
    vmesh_buf_free(&b);
    return rc;
}

vmesh_err demo_sha256_hex(const char *path, char out[65])
{
    vmesh_err rc = VMESH_OK;
    uint8_t md[32];

    VMESH_GUARD(vmesh_crypto_sha256_file(path, md));
    for (size_t i = 0; i < 32; i++)
        demo_sfmt(out + 2 * i, 3, "%02x", md[i]);
out:
    return rc;
}

/* The implementation id (the platform's class): prefix + who, 32 bytes. */
static void impl_id(const char *prefix, const char *who, char impl[33])
{
    int w = 32 - (int)strlen(prefix);

    demo_sfmt(impl, 33, "%s%-*.*s", prefix, w < 0 ? 0 : w, w < 0 ? 0 : w, who);
}

vmesh_err demo_psa_platform(const char *dir, const char *class_prefix, const char *who,
                            const char *workload_text)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;
    char path[PATH_MAX], impl[33], impl64[64], zero64[64], text[256];
    uint8_t zero[32] = {0};
    json_t *claims = NULL;

    VMESH_GUARD(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k));
    demo_sfmt(path, sizeof(path), "%s/%s-iak.pem", dir, who);
    VMESH_GUARD(vmesh_crypto_key_save(k, path, true, false));
    demo_sfmt(path, sizeof(path), "%s/%s-iak.pub", dir, who);
    VMESH_GUARD(vmesh_crypto_key_save(k, path, false, false));
    demo_sfmt(path, sizeof(path), "%s/%s-fw", dir, who);
    demo_sfmt(text, sizeof(text), "firmware of %s, release 2026.1\n", who);
    VMESH_GUARD(demo_write_text(path, text));
    demo_sfmt(path, sizeof(path), "%s/%s-workload", dir, who);
    VMESH_GUARD(demo_write_text(path, workload_text));
    impl_id(class_prefix, who, impl);
    VMESH_GUARD(b64((const uint8_t *)impl, 32, impl64, sizeof(impl64)));
    VMESH_GUARD(b64(zero, 32, zero64, sizeof(zero64)));
    claims = json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:[{s:s, s:s, s:s}]}", "eat-profile",
                       "tag:psacertified.org,2023:psa#tfm", "psa-client-id", 1,
                       "psa-security-lifecycle", 12288, "psa-implementation-id", impl64,
                       "psa-boot-seed", zero64, "psa-nonce", zero64, "psa-software-components",
                       "measurement-type", "BL", "measurement-value", zero64, "signer-id", zero64);
    demo_sfmt(path, sizeof(path), "%s/%s-claims.json", dir, who);
    VMESH_GUARD(demo_write_json(path, claims));
out:
    json_decref(claims);
    vmesh_crypto_key_free(k);
    return rc;
}

vmesh_err demo_psa_rv_entry(const char *dir, const char *class_prefix, const char *who,
                            const char *workload_digest, json_t *list)
{
    vmesh_err rc = VMESH_OK;
    char path[PATH_MAX], impl[33], impl64[64], fw[65], wl[65];
    vmesh_buf pem = {0};
    json_t *e = NULL;

    impl_id(class_prefix, who, impl);
    VMESH_GUARD(b64((const uint8_t *)impl, 32, impl64, sizeof(impl64)));
    demo_sfmt(path, sizeof(path), "%s/%s-fw", dir, who);
    VMESH_GUARD(demo_sha256_hex(path, fw));
    if (workload_digest == NULL) {
        demo_sfmt(path, sizeof(path), "%s/%s-workload", dir, who);
        VMESH_GUARD(demo_sha256_hex(path, wl));
    } else {
        demo_sfmt(wl, sizeof(wl), "%s", workload_digest);
    }
    demo_sfmt(path, sizeof(path), "%s/%s-iak.pub", dir, who);
    VMESH_GUARD(vmesh_file_read(path, 16384, &pem));
    VMESH_GUARD(vmesh_buf_terminate(&pem));
    e = json_pack("{s:s, s:s, s:[{s:s, s:{s:s, s:s}}, {s:s, s:{s:s, s:s}}], s:[s]}", "scheme",
                  "psa", "class-id", impl64, "measurements", "name", "BL", "digest", "alg",
                  "sha-256", "value", fw, "name", "workload", "digest", "alg", "sha-256", "value",
                  wl, "keys", (const char *)pem.data);
    VMESH_ENSURE(e != NULL && json_array_append_new(list, e) == 0, VMESH_ERR_NOMEM,
                 "out of memory");
out:
    vmesh_buf_free(&pem);
    return rc;
}

vmesh_err demo_rv_file(const char *path, json_t *list)
{
    vmesh_err rc = VMESH_OK;
    json_t *doc = json_pack("{s:s, s:O}", "format", "vmesh-rv/1", "reference-values", list);

    VMESH_ENSURE(doc != NULL, VMESH_ERR_NOMEM, "out of memory");
    rc = demo_write_json(path, doc);
out:
    json_decref(doc);
    return rc;
}
