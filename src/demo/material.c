/*
 * Platforms and reference values of the demo, made with the library's own
 * writers: a psa-sim platform's claims template through
 * vmesh_psa_claims_to_json, its reference values through
 * vmesh_psa_reference_values (enrolment from the very configuration its
 * sidecar runs with) and vmesh_rv_store_to_json. Nothing here builds JSON
 * or hex by hand, so the demo cannot drift from the formats the sidecars
 * and the RVP read. It must never write outside the demo's directory.
 */
#define _GNU_SOURCE
#include "demo.h"

#include "vmesh/crypto.h"
#include "vmesh/psa.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void demo_psa_files_of(const char *dir, const char *who, demo_psa_files *f)
{
    demo_sfmt(f->iak, sizeof(f->iak), "%s/%s-iak.pem", dir, who);
    demo_sfmt(f->iak_pub, sizeof(f->iak_pub), "%s/%s-iak.pub", dir, who);
    demo_sfmt(f->fw, sizeof(f->fw), "%s/%s-fw", dir, who);
    demo_sfmt(f->workload, sizeof(f->workload), "%s/%s-workload", dir, who);
    demo_sfmt(f->claims, sizeof(f->claims), "%s/%s-claims.json", dir, who);
}

/* The template: everything but the nonce of a session and the measured
 * values, which psa-sim fills in (an all-zero BL is replaced by "measure"). */
static vmesh_err claims_template(const char *class_prefix, const char *who, vmesh_psa_claims *c)
{
    vmesh_err rc = VMESH_OK;
    vmesh_psa_sw_component *bl;
    char impl[33];
    int w = 32 - (int)strlen(class_prefix);

    vmesh_psa_claims_init(c);
    c->profile = VMESH_PSA_PROFILE_TFM;
    c->client_id_present = true;
    c->client_id = 1;
    c->security_lifecycle_present = true;
    c->security_lifecycle = 0x3000; /* secured */
    demo_sfmt(impl, sizeof(impl), "%s%-*.*s", class_prefix, w < 0 ? 0 : w, w < 0 ? 0 : w, who);
    memcpy(c->implementation_id, impl, 32);
    c->implementation_id_len = 32;
    c->boot_seed_len = 32;
    c->nonce_len = 32;
    VMESH_GUARD(vmesh_psa_claims_add_sw(c, &bl));
    bl->measurement_type = strdup("BL");
    bl->measurement_desc = strdup("sha-256");
    VMESH_ENSURE(bl->measurement_type && bl->measurement_desc, VMESH_ERR_NOMEM, "out of memory");
    bl->measurement_value_len = 32;
    bl->signer_id_len = 32;
out:
    return rc;
}

vmesh_err demo_psa_platform(const char *dir, const char *class_prefix, const char *who,
                            const char *workload_text)
{
    vmesh_err rc = VMESH_OK;
    demo_psa_files f;
    vmesh_key *k = NULL;
    vmesh_psa_claims c;
    vmesh_buf json = {0};
    char text[256];

    vmesh_psa_claims_init(&c);
    demo_psa_files_of(dir, who, &f);
    VMESH_GUARD(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k));
    VMESH_GUARD(vmesh_crypto_key_save(k, f.iak, true, false));
    VMESH_GUARD(vmesh_crypto_key_save(k, f.iak_pub, false, false));
    snprintf(text, sizeof(text), "firmware of %s, release 2026.1\n", who);
    VMESH_GUARD(demo_write_text(f.fw, text));
    VMESH_GUARD(demo_write_text(f.workload, workload_text));
    VMESH_GUARD(claims_template(class_prefix, who, &c));
    VMESH_GUARD(vmesh_psa_claims_to_json(&c, true, &json));
    VMESH_GUARD(vmesh_file_write(f.claims, json.data, json.len, 0644));
out:
    vmesh_buf_free(&json);
    vmesh_psa_claims_free(&c);
    vmesh_crypto_key_free(k);
    return rc;
}

vmesh_err demo_psa_rv(const char *dir, const char *who, const char *workload, vmesh_rv_store *rv)
{
    demo_psa_files f;
    char bl[PATH_MAX + 8], wl[PATH_MAX + 16];

    demo_psa_files_of(dir, who, &f);
    snprintf(bl, sizeof(bl), "BL=%s", f.fw);
    snprintf(wl, sizeof(wl), "workload=%s", workload ? workload : f.workload);
    {
        vmesh_kv cfg[] = {{"iak", f.iak}, {"claims", f.claims}, {"measure", bl}, {"measure", wl}};
        return vmesh_psa_reference_values(cfg, sizeof(cfg) / sizeof(cfg[0]), rv);
    }
}

vmesh_err demo_psa_rv_file(const char *dir, const char *path, const char *const *whos,
                           const char *v2_text)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *rv = NULL;
    char v2[PATH_MAX];

    if (v2_text) {
        demo_sfmt(v2, sizeof(v2), "%s/%s-workload-v2", dir, whos[0]);
        VMESH_GUARD(demo_write_text(v2, v2_text));
    }
    VMESH_GUARD(vmesh_rv_store_new(&rv));
    for (size_t i = 0; whos[i]; i++)
        VMESH_GUARD(demo_psa_rv(dir, whos[i], i == 0 && v2_text ? v2 : NULL, rv));
    VMESH_GUARD(demo_rv_write(rv, path));
out:
    vmesh_rv_store_free(rv);
    return rc;
}

vmesh_err demo_keypair(const char *dir, const char *name)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *k = NULL;
    char path[PATH_MAX];

    VMESH_GUARD(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k));
    demo_sfmt(path, sizeof(path), "%s/%s.key", dir, name);
    VMESH_GUARD(vmesh_crypto_key_save(k, path, true, false));
    demo_sfmt(path, sizeof(path), "%s/%s.pub", dir, name);
    VMESH_GUARD(vmesh_crypto_key_save(k, path, false, false));
out:
    vmesh_crypto_key_free(k);
    return rc;
}

vmesh_err demo_mkdirs(const char *dir, const char *subs)
{
    vmesh_err rc = VMESH_OK;
    char path[PATH_MAX];

    for (const char *sub = subs; *sub; sub += strlen(sub) + 1) {
        demo_sfmt(path, sizeof(path), "%s/%s", dir, sub);
        VMESH_ENSURE(mkdir(path, 0700) == 0, VMESH_ERR_IO, "mkdir %s: %s", path, strerror(errno));
    }
out:
    return rc;
}

vmesh_err demo_rv_write(const vmesh_rv_store *rv, const char *path)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf json = {0};

    VMESH_GUARD(vmesh_rv_store_to_json(rv, &json));
    VMESH_GUARD(vmesh_file_write(path, json.data, json.len, 0644));
out:
    vmesh_buf_free(&json);
    return rc;
}
