/* Unit tests for the bundle sync client against the in-process bundle
 * server: first fetch, 304s, new epochs, rollback, same-epoch tampering,
 * digest and size mismatches, scheme trust, staleness, persistence across a
 * restart with the server down, the verifier hook and the polling thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmesh/sync.h"
#include "vmesh/verifier.h"
#include "vmesh/schemes.h"

static const char rv_json[] =
    "{\"format\":\"vmesh-rv/1\",\"reference-values\":[{\"scheme\":\"psa\",\"class-id\":\"text:impl-1\","
    "\"measurements\":[{\"name\":\"BL\",\"digest\":{\"alg\":\"sha-256\",\"value\":"
    "\"00000000000000000000000000000000000000000000000000000000000000%02d\"}}]},"
    "{\"scheme\":\"tpm2\",\"class-id\":{\"hex\":\"01\"},\"attributes\":{\"a\":\"b\"}}]}";

typedef struct {
    char tmp[64], in[128], www[128], state[128], rvfile[160], polfile[160];
    vmesh_key *key;
    vmesh_rvp_server *srv;
    char url[64];
    int calls;
    uint64_t last_epoch;
    bool last_stale;
    bool last_policy;
} fixture;

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void write_rv(fixture *f, int version)
{
    char buf[1024];

    snprintf(buf, sizeof(buf), rv_json, version);
    write_file(f->rvfile, buf);
}

static void publish(fixture *f, const char *out, uint64_t epoch, int64_t validity)
{
    const char *in[1] = {f->in};
    vmesh_rvp_publish_opts o = {.name = "acme", .epoch = epoch, .validity = validity};

    assert_int_equal(vmesh_rvp_publish(f->key, in, 1, out, &o, NULL), VMESH_OK);
}

static void on_snap(void *ctx, vmesh_rv_store *rv, vmesh_policy *pol)
{
    fixture *f = ctx;
    const char *name;

    f->calls++;
    assert_true(vmesh_rv_store_is_frozen(rv));
    assert_int_equal(vmesh_rv_epoch_count(rv), 1);
    assert_true(vmesh_rv_epoch_at(rv, 0, &name, &f->last_epoch));
    assert_string_equal(name, "acme");
    f->last_stale = vmesh_rv_store_is_stale(rv);
    f->last_policy = pol != NULL;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/vmesh-sync-XXXXXX");
    assert_non_null(mkdtemp(f->tmp));
    snprintf(f->in, sizeof(f->in), "%s/in", f->tmp);
    snprintf(f->www, sizeof(f->www), "%s/www", f->tmp);
    snprintf(f->state, sizeof(f->state), "%s/state", f->tmp);
    snprintf(f->rvfile, sizeof(f->rvfile), "%s/rv.json", f->in);
    snprintf(f->polfile, sizeof(f->polfile), "%s/policy.json", f->in);
    assert_int_equal(mkdir(f->in, 0700), 0);
    write_rv(f, 1);
    write_file(f->polfile, "{\"format\":\"vmesh-policy/1\",\"id\":\"policy:bundle\"}");
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &f->key), VMESH_OK);
    publish(f, f->www, 0, 0);
    assert_int_equal(vmesh_rvp_server_start(f->www, "127.0.0.1:0", &f->srv), VMESH_OK);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", (unsigned)vmesh_rvp_server_port(f->srv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    vmesh_rvp_server_stop(f->srv);
    vmesh_crypto_key_free(f->key);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static vmesh_sync *client(fixture *f, const char *schemes)
{
    vmesh_sync_config cfg = {.state_dir = f->state, .interval = 1, .timeout = 5, .on_snapshot = on_snap, .ctx = f};
    vmesh_sync_rvp r = {.name = "acme", .url = f->url, .key = f->key, .schemes = schemes};
    vmesh_sync *s = NULL;

    assert_int_equal(vmesh_sync_new(&cfg, &s), VMESH_OK);
    assert_int_equal(vmesh_sync_add_rvp(s, &r), VMESH_OK);
    return s;
}

static uint64_t current_epoch(vmesh_sync *s)
{
    vmesh_rv_store *rv = vmesh_sync_rv(s);
    const char *name;
    uint64_t e = 0;

    if (rv != NULL)
        assert_true(vmesh_rv_epoch_at(rv, 0, &name, &e));
    vmesh_rv_store_free(rv);
    return e;
}

static void copy_file(const char *from, const char *to)
{
    vmesh_buf b = {0};

    assert_int_equal(vmesh_file_read(from, 0, &b), VMESH_OK);
    assert_int_equal(vmesh_file_write(to, b.data, b.len, 0644), VMESH_OK);
    vmesh_buf_free(&b);
}

static void set_file_of(fixture *f, char *out, size_t n)
{
    vmesh_buf b = {0};
    vmesh_rvp_set s;
    assert_int_equal(vmesh_file_read(f->rvfile, 0, &b), VMESH_OK);
    assert_int_equal(vmesh_rvp_classify(b.data, b.len, "rv", &s), VMESH_OK);
    snprintf(out, n, "%s/%s", f->www, s.path);
    vmesh_buf_free(&b);
}

static void flow(void **state)
{
    fixture *f = *state;
    vmesh_sync *s = client(f, NULL);
    vmesh_sync_rvp_status st;
    vmesh_policy *pol;
    vmesh_rv_store *rv;
    char m1[200], m2[200], mpath[200], other[200], setpath[300];

    snprintf(mpath, sizeof(mpath), "%s/manifest.jws", f->www);
    snprintf(m1, sizeof(m1), "%s/m1.jws", f->tmp);
    snprintf(m2, sizeof(m2), "%s/m2.jws", f->tmp);
    copy_file(mpath, m1);

    /* First poll: epoch 1, both schemes, the bundle's RP policy. */
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_OK);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->last_epoch, 1);
    assert_true(f->last_policy);
    assert_false(f->last_stale);
    rv = vmesh_sync_rv(s);
    assert_int_equal(vmesh_rv_store_size(rv), 2);
    vmesh_rv_store_free(rv);
    pol = vmesh_sync_policy(s);
    assert_non_null(pol);
    assert_string_equal(vmesh_policy_id(pol), "policy:bundle");
    vmesh_policy_free(pol);

    /* Unchanged: a 304, no new snapshot. */
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_OK);
    assert_int_equal(f->calls, 1);
    assert_true(vmesh_sync_rvp_status_at(s, 0, &st));
    assert_int_equal(st.polls, 2);
    assert_int_equal(st.not_modified, 1);
    assert_int_equal(st.epoch, 1);
    assert_string_equal(st.name, "acme");

    /* A new epoch. */
    write_rv(f, 2);
    publish(f, f->www, 0, 0);
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_OK);
    assert_int_equal(f->calls, 2);
    assert_int_equal(f->last_epoch, 2);

    /* Rollback: the epoch-1 manifest replayed. Refused, epoch 2 kept; a
     * second poll gets a 304 for the same bad file and the same answer. */
    copy_file(mpath, m2);
    copy_file(m1, mpath);
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(),
                           "rvp acme: manifest epoch 1 is older than the current 2: rollback refused"));
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "rollback refused"));
    assert_true(vmesh_sync_rvp_status_at(s, 0, &st));
    assert_int_equal(st.refusals, 1);
    assert_int_equal(current_epoch(s), 2);
    assert_int_equal(f->calls, 2);
    copy_file(m2, mpath);
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_OK);
    assert_int_equal(current_epoch(s), 2);

    /* Same epoch, other content (published elsewhere with the same key). */
    snprintf(other, sizeof(other), "%s/www-b", f->tmp);
    write_rv(f, 3);
    publish(f, other, 2, 0);
    {
        char from[300];
        snprintf(from, sizeof(from), "%s/manifest.jws", other);
        copy_file(from, mpath);
    }
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_ERR_POLICY);
    assert_non_null(strstr(vmesh_err_detail(), "names other sets than the accepted epoch 2"));

    /* Epoch 3 with a set whose bytes do not match its digest. */
    publish(f, f->www, 3, 0);
    set_file_of(f, setpath, sizeof(setpath));
    write_rv(f, 4); /* same length, other bytes */
    copy_file(f->rvfile, setpath);
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_ERR_MISMATCH);
    assert_non_null(strstr(vmesh_err_detail(), "digest mismatch"));
    assert_non_null(strstr(vmesh_err_detail(), "keeping epoch 2"));
    /* ... and truncated. */
    write_file(setpath, "{\"format\"");
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_ERR_MISMATCH);
    if (strstr(vmesh_err_detail(), "is 9 bytes, the manifest says") == NULL)
        fail_msg("detail: %s", vmesh_err_detail());
    assert_int_equal(current_epoch(s), 2);
    assert_int_equal(f->calls, 2);

    /* Repaired: epoch 4 goes through. */
    write_rv(f, 5);
    publish(f, f->www, 0, 0);
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_OK);
    assert_int_equal(current_epoch(s), 4);
    vmesh_sync_free(s);

    /* Restart with the server down: the persisted epoch 4 is there at once. */
    vmesh_rvp_server_stop(f->srv);
    f->srv = NULL;
    f->calls = 0;
    s = client(f, NULL);
    assert_int_equal(vmesh_sync_load(s), VMESH_OK);
    assert_int_equal(f->calls, 1);
    assert_int_equal(current_epoch(s), 4);
    assert_int_not_equal(vmesh_sync_poll_once(s), VMESH_OK);
    assert_non_null(strstr(vmesh_err_detail(), "rvp acme: "));
    assert_non_null(strstr(vmesh_err_detail(), "keeping epoch 4"));
    assert_int_equal(current_epoch(s), 4);
    assert_true(vmesh_sync_rvp_status_at(s, 0, &st));
    assert_int_equal(st.failures, 1);
    vmesh_sync_free(s);
}

static void schemes_and_stale(void **state)
{
    fixture *f = *state;
    vmesh_sync *s = client(f, "psa");
    vmesh_rv_store *rv;
    int64_t now = vmesh_time_now();

    /* Trusted for psa only: the tpm2 entry is dropped. */
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_OK);
    rv = vmesh_sync_rv(s);
    assert_int_equal(vmesh_rv_store_size(rv), 1);
    assert_false(vmesh_rv_store_is_stale(rv));
    vmesh_rv_store_free(rv);
    /* Two days later the manifest (valid one day) has expired: a stale
     * snapshot is installed although nothing was fetched. */
    vmesh_time_pin(now + 2 * 86400);
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_OK);
    assert_int_equal(f->calls, 2);
    assert_true(f->last_stale);
    rv = vmesh_sync_rv(s);
    assert_true(vmesh_rv_store_is_stale(rv));
    vmesh_rv_store_free(rv);
    vmesh_time_pin(0);
    vmesh_sync_free(s);
}

static void verifier_hook_and_thread(void **state)
{
    fixture *f = *state;
    vmesh_verifier_config vc = {0};
    vmesh_verifier *v = NULL;
    vmesh_sync_config cfg = {.state_dir = f->state, .interval = 1, .on_snapshot = vmesh_sync_to_verifier};
    vmesh_sync *s = NULL;
    vmesh_rv_store *rv;
    const char *name;
    uint64_t e = 0;
    char spec[512], keyfile[200];

    assert_int_equal(vmesh_verifier_new(&vc, &v), VMESH_OK);
    cfg.ctx = v;
    snprintf(keyfile, sizeof(keyfile), "%s/rvp.pub", f->tmp);
    assert_int_equal(vmesh_crypto_key_save(f->key, keyfile, false, false), VMESH_OK);
    assert_int_equal(vmesh_sync_new(&cfg, &s), VMESH_OK);
    /* Spec forms: bad ones are refused with a reason. */
    assert_int_equal(vmesh_sync_add_rvp_spec(s, "acme"), VMESH_ERR_ARG);
    assert_int_equal(vmesh_sync_add_rvp_spec(s, "acme,ftp://x,k"), VMESH_ERR_ARG);
    assert_non_null(strstr(vmesh_err_detail(), "http://"));
    assert_int_equal(vmesh_sync_add_rvp_spec(s, "acme,http://x,/nonexistent/key"), VMESH_ERR_IO);
    assert_int_equal(vmesh_sync_add_rvp_spec(s, "acme,http://x,{\"kty\":\"EC\"}"), VMESH_ERR_PARSE);
    snprintf(spec, sizeof(spec), "%s,%s,psa+tpm2", f->url, keyfile);
    assert_int_equal(vmesh_sync_add_rvp_spec(s, spec), VMESH_OK);
    assert_int_equal(vmesh_sync_add_rvp_spec(s, spec), VMESH_ERR_ARG); /* same key twice */
    assert_non_null(strstr(vmesh_err_detail(), "same key"));
    assert_int_equal(vmesh_sync_start(s), VMESH_OK);
    /* The first poll happens at once; then a new epoch within ~1 interval. */
    for (int i = 0; i < 100 && vmesh_sync_snapshots(s) < 1; i++)
        usleep(50 * 1000);
    assert_int_equal(vmesh_sync_snapshots(s), 1);
    write_rv(f, 7);
    publish(f, f->www, 0, 0);
    for (int i = 0; i < 100 && vmesh_sync_snapshots(s) < 2; i++)
        usleep(50 * 1000);
    vmesh_sync_stop(s);
    assert_int_equal(vmesh_sync_snapshots(s), 2);
    rv = vmesh_verifier_rv(v);
    assert_non_null(rv);
    assert_true(vmesh_rv_epoch_at(rv, 0, &name, &e));
    assert_string_equal(name, "acme"); /* pinned from the manifest */
    assert_int_equal(e, 2);
    vmesh_rv_store_free(rv);
    vmesh_sync_free(s);
    vmesh_verifier_free(v);
}

/* A stale snapshot (manifest past expires_at) makes the verifier lower
 * sourced-data to 32 (UNTRUSTED_SOURCES): affirming becomes warning. */
static void stale_results(void **state)
{
    fixture *f = *state;
    vmesh_key *iak = NULL;
    vmesh_buf pub = {0}, ev = {0};
    vmesh_verifier_config vc = {0};
    vmesh_verifier *v = NULL;
    vmesh_sync_config cfg = {.state_dir = f->state, .on_snapshot = vmesh_sync_to_verifier};
    vmesh_sync_rvp r = {.name = "acme", .url = f->url, .key = f->key};
    vmesh_sync *s = NULL;
    const vmesh_evidence_scheme *psa = vmesh_schemes_by_name("psa");
    char iak_path[200], claims_path[200], doc[4096], *pem_json;
    uint8_t nonce[32] = {1, 2, 3};
    vmesh_kv kv[2];
    void *att = NULL;
    vmesh_verifier_request req = {0};
    vmesh_appraisal a;
    const char *in[1] = {f->in};
    vmesh_rvp_publish_opts po = {.validity = 60};
    int64_t now = vmesh_time_now();

    assert_non_null(psa);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &iak), VMESH_OK);
    snprintf(iak_path, sizeof(iak_path), "%s/iak.pem", f->tmp);
    snprintf(claims_path, sizeof(claims_path), "%s/claims.json", f->tmp);
    assert_int_equal(vmesh_crypto_key_save(iak, iak_path, true, false), VMESH_OK);
    write_file(claims_path,
               "{\"eat-profile\": \"tag:psacertified.org,2023:psa#tfm\", \"psa-client-id\": 1,"
               " \"psa-security-lifecycle\": 12288, \"psa-implementation-id\": \"aW1wbC1zdGFsZS0wMDAwMDAwMDAwMDAwMDAwMDAwMDE=\","
               " \"psa-boot-seed\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
               " \"psa-software-components\": [{\"measurement-type\": \"BL\", \"measurement-value\":"
               " \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"signer-id\":"
               " \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}");
    assert_int_equal(vmesh_crypto_key_to_pem(iak, false, &pub), VMESH_OK);
    assert_int_equal(vmesh_buf_terminate(&pub), VMESH_OK);
    /* The PEM as a JSON string: escape the newlines. */
    pem_json = calloc(1, pub.len * 2 + 1);
    assert_non_null(pem_json);
    for (size_t i = 0, j = 0; i < pub.len; i++) {
        if (pub.data[i] == '\n') {
            pem_json[j++] = '\\';
            pem_json[j++] = 'n';
        } else {
            pem_json[j++] = (char)pub.data[i];
        }
    }
    snprintf(doc, sizeof(doc),
             "{\"format\":\"vmesh-rv/1\",\"reference-values\":[{\"scheme\":\"psa\",\"class-id\":"
             "\"aW1wbC1zdGFsZS0wMDAwMDAwMDAwMDAwMDAwMDAwMDE=\",\"measurements\":[{\"name\":\"BL\",\"digest\":{\"alg\":"
             "\"sha-256\",\"value\":\"%064d\"}}],\"keys\":[\"%s\"]}]}",
             0, pem_json);
    free(pem_json);
    write_file(f->rvfile, doc);
    remove(f->polfile);
    assert_int_equal(vmesh_rvp_publish(f->key, in, 1, f->www, &po, NULL), VMESH_OK);

    assert_int_equal(vmesh_verifier_new(&vc, &v), VMESH_OK);
    cfg.ctx = v;
    assert_int_equal(vmesh_sync_new(&cfg, &s), VMESH_OK);
    assert_int_equal(vmesh_sync_add_rvp(s, &r), VMESH_OK);
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_OK);

    kv[0].key = "iak";
    kv[0].value = iak_path;
    kv[1].key = "claims";
    kv[1].value = claims_path;
    if (psa->attester_new(kv, 2, &att) != VMESH_OK)
        fail_msg("attester: %s", vmesh_err_detail());
    assert_int_equal(psa->attest(att, nonce, sizeof(nonce), &ev), VMESH_OK);
    req.evidence = ev.data;
    req.evidence_len = ev.len;
    req.nonce = nonce;
    req.nonce_len = sizeof(nonce);

    vmesh_appraisal_init(&a);
    assert_int_equal(vmesh_verifier_appraise(v, &req, &a, NULL, NULL), VMESH_OK);
    if (a.status != VMESH_TIER_AFFIRMING)
        fail_msg("fresh bundle: status %d, reason %s", a.status, a.reason);
    assert_int_not_equal(a.tv.v[VMESH_TV_SOURCED_DATA], VMESH_AR_UNTRUSTED_SOURCES);
    vmesh_appraisal_free(&a);

    /* Two minutes later the 60 s manifest has expired; the RVP still
     * answers 304, and the client installs the same content marked stale. */
    vmesh_time_pin(now + 120);
    assert_int_equal(vmesh_sync_poll_once(s), VMESH_OK);
    vmesh_appraisal_init(&a);
    assert_int_equal(vmesh_verifier_appraise(v, &req, &a, NULL, NULL), VMESH_OK);
    assert_int_equal(a.tv.v[VMESH_TV_SOURCED_DATA], VMESH_AR_UNTRUSTED_SOURCES);
    assert_int_equal(a.status, VMESH_TIER_WARNING);
    assert_non_null(strstr(a.reason, "stale"));
    vmesh_appraisal_free(&a);
    vmesh_time_pin(0);

    psa->attester_free(att);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&pub);
    vmesh_crypto_key_free(iak);
    vmesh_sync_free(s);
    vmesh_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(flow, setup, teardown),
        cmocka_unit_test_setup_teardown(schemes_and_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(verifier_hook_and_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_results, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
