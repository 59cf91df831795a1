/*
 * Full attested-TLS handshakes per second on one thread (both peers driven
 * alternately over a non-blocking socketpair, so the figure is the total CPU
 * cost of one mutual handshake), for plain mTLS (same certificates, no
 * attestation) and each attestation mode, with and without resumption.
 * Usage: bench_handshake DIR MODE RESUME SECONDS
 *   DIR: prepared by bench/handshake/run.sh (CA, SVIDs, psa-sim platforms,
 *        rv.json, bell, keys); MODE: plain (OpenSSL's mTLS: every chain
 *        validated, vmesh's chain-validation cache off) | plain-cached (the
 *        same with the cache, D52) | epoch-fresh | fresh | passport,
 *        or epoch-fresh-kb | passport-kb: key-bound attestation (docs/ATLS.md;
 *        each side's SVID is issued for its agent's in-memory AK, policy
 *        "key-bound": "allow");
 *   RESUME: 0 | 1; SECONDS < 0 runs exactly -SECONDS handshakes. Prints one
 *   JSON line.
 */
#include "vmesh/agent.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char dir[512];

static const char *P(const char *name)
{
    static char buf[8][700];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, 700, "%s/%s", dir, name);
    return p;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_handshake: %s: %s\n", what, vmesh_err_detail());
    exit(1);
}

typedef struct {
    vmesh_verifier *verifier, *issuer;
    vmesh_bell_view *bell;
    vmesh_agent *agent;
    vmesh_policy *policy;
    vmesh_atls_config *cfg;
} side;

static vmesh_rv_store *rv;
static vmesh_key *bell_key, *ear_key;

static void side_init(side *s, vmesh_atls_role role, const char *who, const char *mode)
{
    char iak[64], claims[64], measure[700];
    vmesh_kv kv[3];
    vmesh_verifier_config vc = {0};
    vmesh_agent_config ac = {0};
    vmesh_atls_provider prov;
    vmesh_buf b = {0};
    vmesh_mode m = VMESH_MODE_EPOCH_FRESH;
    char mname[32];
    size_t ml = strlen(mode);
    bool kb = ml > 3 && strcmp(mode + ml - 3, "-kb") == 0;

    memset(s, 0, sizeof(*s));
    if (vmesh_atls_config_new(role, &s->cfg) ||
        (!kb && vmesh_atls_config_set_svid(s->cfg, P(role == VMESH_ATLS_SERVER ? "srv-chain.pem" : "cli-chain.pem"),
                                           P(role == VMESH_ATLS_SERVER ? "srv.key" : "cli.key"))) ||
        vmesh_atls_config_set_bundle(s->cfg, P("ca/bundle.pem")))
        die("atls config");
    /* plain: OpenSSL's own mTLS, every chain validated at every full
     * handshake (the chain-validation cache off, D52); plain-cached: the
     * same with vmesh's default cache, no attestation */
    if (strcmp(mode, "plain") == 0 && vmesh_atls_config_set_chain_cache(s->cfg, 0))
        die("chain cache");
    if (strcmp(mode, "plain") == 0 || strcmp(mode, "plain-cached") == 0)
        return; /* plain mTLS: no provider, no 0xff4d */
    snprintf(mname, sizeof(mname), "%.*s", (int)(kb ? ml - 3 : ml), mode);
    if (vmesh_mode_parse(mname, &m))
        die("mode");
    snprintf(iak, sizeof(iak), "%s-iak.pem", who);
    snprintf(claims, sizeof(claims), "claims.json");
    snprintf(measure, sizeof(measure), "workload=%s", P("workload"));
    kv[0].key = "iak";
    kv[0].value = strdup(P(iak));
    kv[1].key = "claims";
    kv[1].value = strdup(P(claims));
    kv[2].key = "measure";
    kv[2].value = measure;
    if (vmesh_verifier_new(&vc, &s->verifier))
        die("verifier");
    vmesh_verifier_set_rv(s->verifier, rv);
    vc.ear_key = ear_key;
    if (vmesh_verifier_new(&vc, &s->issuer))
        die("issuer");
    vmesh_verifier_set_rv(s->issuer, rv);
    if (vmesh_file_read(P("www/bell.cwt"), 0, &b) || vmesh_bell_view_new(bell_key, &s->bell) ||
        vmesh_bell_view_update(s->bell, (const char *)b.data, b.len, vmesh_time_now()))
        die("bell");
    vmesh_buf_free(&b);
    if (!kb && vmesh_policy_load(P("policy.json"), &s->policy))
        die("policy");
    if (kb) {
        /* the same policy, with key-bound attestation allowed */
        vmesh_buf doc = {0}, d2 = {0};
        static const char kbf[] = "{\"key-bound\": \"allow\", ";
        if (vmesh_file_read(P("policy.json"), 0, &doc) || doc.len < 2 || doc.data[0] != '{' ||
            vmesh_buf_append(&d2, kbf, strlen(kbf)) || vmesh_buf_append(&d2, doc.data + 1, doc.len - 1) ||
            vmesh_policy_parse(d2.data, d2.len, "policy.json + key-bound", &s->policy))
            die("policy");
        vmesh_buf_free(&doc);
        vmesh_buf_free(&d2);
    }
    ac.platform = "psa";
    ac.platform_cfg = kv;
    ac.n_platform_cfg = 3;
    ac.attest_modes = VMESH_ATLS_MODE_BIT(m);
    ac.passport = vmesh_agent_local_passport;
    ac.passport_ctx = s->issuer;
    ac.verifier = s->verifier;
    ac.policy = s->policy;
    ac.bell = s->bell;
    ac.keybound = kb;
    if (vmesh_agent_new(&ac, &s->agent))
        die("agent");
    if (kb) {
        vmesh_key *k = NULL;
        vmesh_buf chain = {0};
        if (vmesh_agent_tls_key(s->agent, &k) ||
            vmesh_pki_ca_issue_for_key(P("ca"), role == VMESH_ATLS_SERVER ? "spiffe://example.org/server"
                                                                          : "spiffe://example.org/client",
                                       1, k, &chain) ||
            vmesh_atls_config_set_svid_key(s->cfg, chain.data, chain.len, k))
            die("key-bound SVID");
        vmesh_crypto_key_free(k);
        vmesh_buf_free(&chain);
    }
    free((char *)kv[0].value);
    free((char *)kv[1].value);
    vmesh_agent_provider(s->agent, &prov);
    if (vmesh_atls_config_set_provider(s->cfg, &prov))
        die("provider");
}

static int one(side *srv, side *cli, vmesh_atls_session **sess, bool resume, bool *resumed)
{
    int sv[2];
    vmesh_atls_conn *s = NULL, *c = NULL;
    vmesh_err rs = VMESH_ERR_WANT_READ, rc = VMESH_ERR_WANT_READ;
    char buf[8];
    size_t got = 0;
    int ok = 0, spins = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        return 0;
    if (vmesh_atls_conn_new(srv->cfg, sv[0], &s) || vmesh_atls_conn_new(cli->cfg, sv[1], &c))
        goto out;
    if (resume && *sess && vmesh_atls_conn_set_session(c, *sess))
        goto out;
    while ((rs != VMESH_OK || rc != VMESH_OK) && spins++ < 10000) {
        if (rc != VMESH_OK) {
            rc = vmesh_atls_handshake(c);
            if (rc != VMESH_OK && rc != VMESH_ERR_WANT_READ && rc != VMESH_ERR_WANT_WRITE)
                goto out;
        }
        if (rs != VMESH_OK) {
            rs = vmesh_atls_handshake(s);
            if (rs != VMESH_OK && rs != VMESH_ERR_WANT_READ && rs != VMESH_ERR_WANT_WRITE)
                goto out;
        }
    }
    /* One byte each way: the client reads the server's verdict and its ticket. */
    if (vmesh_atls_write(c, "x", 1) || vmesh_atls_flush(c))
        goto out;
    for (spins = 0; got == 0 && spins < 10000; spins++) {
        vmesh_err e = vmesh_atls_read(s, buf, sizeof(buf), &got);
        if (e != VMESH_OK && e != VMESH_ERR_WANT_READ)
            goto out;
    }
    if (vmesh_atls_write(s, "y", 1) || vmesh_atls_flush(s))
        goto out;
    for (got = 0, spins = 0; got == 0 && spins < 10000; spins++) {
        vmesh_err e = vmesh_atls_read(c, buf, sizeof(buf), &got);
        if (e != VMESH_OK && e != VMESH_ERR_WANT_READ)
            goto out;
    }
    *resumed = vmesh_atls_resumed(c);
    if (resume) {
        /* Like a real client: resume with the newest ticket received. */
        vmesh_atls_session *fresh = vmesh_atls_conn_get1_session(c);
        if (fresh != NULL) {
            vmesh_atls_session_free(*sess);
            *sess = fresh;
        }
    }
    ok = got == 1;
    /* A connection freed without close_notify marks its session not
     * resumable (OpenSSL's ssl_clear_bad_session): close properly. */
    if (vmesh_atls_shutdown(c) != VMESH_OK || vmesh_atls_shutdown(s) != VMESH_OK)
        vmesh_err_clear();
out:
    if (!ok) {
        const char *m = NULL;
        bool by_peer;
        vmesh_atls_reason r = s ? vmesh_atls_failure(s, &m, &by_peer) : 0;
        fprintf(stderr, "bench_handshake: handshake failed: %s %s / %s\n", vmesh_atls_reason_name(r), m ? m : "",
                vmesh_err_detail());
    }
    vmesh_atls_free(s);
    vmesh_atls_free(c);
    close(sv[0]);
    close(sv[1]);
    return ok;
}

int main(int argc, char **argv)
{
    side srv, cli;
    vmesh_atls_session *sess = NULL;
    bool resume, resumed = false;
    double secs;
    uint64_t t0, deadline, n = 0, nres = 0;

    if (argc != 5) {
        fprintf(stderr, "usage: bench_handshake DIR MODE RESUME SECONDS\n");
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s", argv[1]);
    resume = atoi(argv[3]) != 0;
    secs = strtod(argv[4], NULL);
    if (vmesh_rv_store_new(&rv) || vmesh_verifier_load_rv_file(rv, P("rv.json"), NULL))
        die("rv");
    vmesh_rv_store_freeze(rv);
    if (vmesh_crypto_key_load(P("bell.pub"), &bell_key) || vmesh_crypto_key_load(P("ear.pem"), &ear_key))
        die("keys");
    side_init(&srv, VMESH_ATLS_SERVER, "srv", argv[2]);
    side_init(&cli, VMESH_ATLS_CLIENT, "cli", argv[2]);
    /* warm-up: first evidence, first passport, cache fill, first ticket */
    if (!one(&srv, &cli, &sess, resume, &resumed) || !one(&srv, &cli, &sess, resume, &resumed))
        return 1;
    t0 = vmesh_time_mono_ns();
    /* SECONDS < 0: run exactly -SECONDS handshakes (for instruction counts
     * under callgrind, which do not depend on the machine's load). */
    deadline = secs < 0 ? UINT64_MAX : t0 + (uint64_t)(secs * 1e9);
    while (secs < 0 ? n < (uint64_t)(-secs) : vmesh_time_mono_ns() < deadline) {
        if (!one(&srv, &cli, &sess, resume, &resumed))
            return 1;
        n++;
        nres += resumed;
    }
    printf("{\"mode\": \"%s\", \"resume\": %d, \"handshakes\": %llu, \"resumed\": %llu, \"per_second\": %.1f}\n",
           argv[2], resume, (unsigned long long)n, (unsigned long long)nres,
           (double)n / ((double)(vmesh_time_mono_ns() - t0) / 1e9));
    return 0;
}
