/*
 * `vmesh demo sase`: the SASE scenario of DESIGN §1 on one machine, with
 * real processes of this same binary: an RVP (bundles + epoch bell over
 * HTTP), a central verifier synced from it, a tenant app behind an inbound
 * sidecar at the PoP, and N work-from-home clients, each an outbound
 * sidecar with its own platform (psa-sim, or tpm2 on swtpm) and local
 * verifier. The clients make requests in each mode (central verifier, local
 * verifier, passport), unattested peers try the PoP, the RVP revokes the
 * PoP's measurement and restores it; the demo measures and checks each step
 * and prints an account, a table and optionally one JSON object. It must
 * never reach any address but 127.0.0.1 or those it created in its own
 * network namespaces, and must stop every process and remove every file
 * and namespace it created, on every exit path (SIGINT included). The
 * platforms and reference values come from material.c, the processes from
 * proc.c, the account's end from report.c.
 */
#define _GNU_SOURCE
#include "sase.h"

#include "vmesh/crypto.h"
#include "vmesh/pki.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const sase_mode_names[M__COUNT] = {"central", "local", "passport"};
static const char *const mode_titles[M__COUNT] = {
    "central verifier: both sidecars send background-check evidence to the central verifier",
    "local verifiers: each sidecar appraises its peer itself, reference values synced from the RVP",
    "passport: each side presents an EAR from the central verifier, checked with its public key",
};
/* Order of the phases: local last, so the revocation runs on the distributed verifiers. */
static const demo_mode run_order[M__COUNT] = {M_CENTRAL, M_PASSPORT, M_LOCAL};

/* ---- files ---------------------------------------------------------------------------- */

/* The PoP's reference values: its own workload (approved), or a workload
 * the PoP does not run (revoked: the RVP approves only a v2). */
static vmesh_err pop_rv(demo *d, bool approved)
{
    static const char *const pop[] = {"pop", NULL};
    char path[PATH_MAX];

    demo_sfmt(path, sizeof(path), "%s/rv/pop.json", d->dir);
    return demo_psa_rv_file(d->dir, path, pop,
                            approved ? NULL : "SASE PoP tenant workload v2 (not deployed here)\n");
}

static const char *client_name(int i, char *buf, size_t n)
{
    demo_sfmt(buf, n, "c%03d", i + 1);
    return buf;
}

static vmesh_err setup_files(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char path[PATH_MAX], id[128], who[16], text[128];
    vmesh_key *k = NULL;
    vmesh_rv_store *clients = NULL;
    size_t npsa = 0;

    VMESH_GUARD(vmesh_rv_store_new(&clients));
    for (const char *sub = "rv\0www\0logs\0state\0rvpweb\0"; *sub; sub += strlen(sub) + 1) {
        demo_sfmt(path, sizeof(path), "%s/%s", d->dir, sub);
        VMESH_ENSURE(mkdir(path, 0700) == 0, VMESH_ERR_IO, "mkdir %s: %s", path, strerror(errno));
    }
    demo_sfmt(path, sizeof(path), "%s/ca", d->dir);
    VMESH_GUARD(vmesh_pki_ca_init(TRUST_DOMAIN, path, 0, VMESH_KEY_EC_P256));
    demo_sfmt(text, sizeof(text), "%s/pop", d->dir);
    VMESH_GUARD(vmesh_pki_ca_issue(path, POP_ID, text, 0, VMESH_KEY_EC_P256));
    demo_sfmt(text, sizeof(text), "%s/intruder", d->dir);
    VMESH_GUARD(vmesh_pki_ca_issue(path, "spiffe://" TRUST_DOMAIN "/clients/intruder", text, 0,
                                   VMESH_KEY_EC_P256));
    for (int i = 0; i < d->opt.clients; i++) {
        client_name(i, who, sizeof(who));
        demo_sfmt(id, sizeof(id), "spiffe://%s/clients/%s", TRUST_DOMAIN, who);
        demo_sfmt(text, sizeof(text), "%s/%s", d->dir, who);
        VMESH_GUARD(vmesh_pki_ca_issue(path, id, text, 0, VMESH_KEY_EC_P256));
    }
    /* signing keys: the RVP's and the central verifier's */
    for (const char *who2 = "rvp\0verifier\0"; *who2; who2 += strlen(who2) + 1) {
        VMESH_GUARD(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k));
        demo_sfmt(path, sizeof(path), "%s/%s.key", d->dir, who2);
        VMESH_GUARD(vmesh_crypto_key_save(k, path, true, false));
        demo_sfmt(path, sizeof(path), "%s/%s.pub", d->dir, who2);
        VMESH_GUARD(vmesh_crypto_key_save(k, path, false, false));
        vmesh_crypto_key_free(k);
        k = NULL;
    }
    /* platforms */
    VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, "pop", "SASE PoP tenant workload v1\n"));
    VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, "intruder", "an unknown agent\n"));
    for (int i = 0; i < d->opt.clients; i++) {
        client_name(i, who, sizeof(who));
        demo_sfmt(text, sizeof(text), "work-from-home agent v3 on %s\n", who);
        VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, who, text));
        if (d->cl[i].tpm >= 0)
            continue; /* enrolled from its TPM (start_tpms) */
        VMESH_GUARD(demo_psa_rv(d->dir, who, NULL, clients));
        npsa++;
    }
    demo_sfmt(path, sizeof(path), "%s/rv/clients.json", d->dir);
    if (npsa > 0)
        VMESH_GUARD(demo_rv_write(clients, path));
    VMESH_GUARD(pop_rv(d, true));
    demo_sfmt(path, sizeof(path), "%s/www/index.html", d->dir);
    VMESH_GUARD(demo_write_text(path, APP_MARKER "\n"));
out:
    vmesh_rv_store_free(clients);
    vmesh_crypto_key_free(k);
    return rc;
}

/* ---- processes ------------------------------------------------------------------------------ */

static void log_path(demo *d, const char *name, char *out, size_t n)
{
    demo_sfmt(out, n, "%s/logs/%s.log", d->dir, name);
}

/* Runs av to completion (at most timeout_ms); its exit code in *code. */
static vmesh_err run_vmesh(demo *d, const char *name, const char *netns, demo_argv *av,
                           int timeout_ms, int *code)
{
    char log[PATH_MAX];

    log_path(d, name, log, sizeof(log));
    return demo_run(name, log, d->dir, netns, av, timeout_ms, false, code);
}

static vmesh_err publish(demo *d)
{
    vmesh_err rc = demo_runf(d->dir, d->ns_rvp, "rvp-publish", 30000, NULL,
                             "%s rvp publish --key %s/rvp.key --in %s/rv --out %s/rvpweb --name %s",
                             d->exe, d->dir, d->dir, d->dir, RVP_NAME);

    if (rc == VMESH_OK)
        d->epoch++;
    return rc;
}

/* The swtpm simulators, each enrolled: its AK and PCRs as reference
 * values, as an enrolment would read them. */
static vmesh_err start_tpms(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char state[PATH_MAX], name[32];

    for (int t = 0; t < d->ntpm; t++) {
        unsigned port = d->tpm_port[t] = demo_free_port(true);
        VMESH_ENSURE(port != 0, VMESH_ERR_IO, "no free port pair for swtpm");
        demo_sfmt(name, sizeof(name), "swtpm%d", t);
        demo_sfmt(state, sizeof(state), "%s/state/%s", d->dir, name);
        VMESH_ENSURE(mkdir(state, 0700) == 0, VMESH_ERR_IO, "mkdir %s: %s", state, strerror(errno));
        VMESH_GUARD(
            demo_spawnf(&d->tpm[t], d->dir, d->ns_cli, name,
                        "swtpm socket --tpm2 --server type=tcp,port=%u,bindaddr=127.0.0.1 --ctrl "
                        "type=tcp,port=%u,bindaddr=127.0.0.1 --tpmstate dir=%s --flags "
                        "not-need-init,startup-clear",
                        port, port + 1, state));
        VMESH_GUARD(demo_wait_port(&d->tpm[t], "127.0.0.1", d->tpm_port[t], DEMO_START_MS));
        demo_sfmt(name, sizeof(name), "tpm2-enrol%d", t);
        VMESH_GUARD(
            demo_runf(d->dir, d->ns_cli, name, 30000, NULL,
                      "%s attest tpm2 --tcti swtpm:host=127.0.0.1,port=%u --reference-values "
                      "%s/rv/tpm2-%d.json",
                      d->exe, port, d->dir, t));
    }
out:
    return rc;
}

#define TICK "%s rvp tick --key %s/rvp.key --out %s/rvpweb --name " RVP_NAME

static vmesh_err start_rvp(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char url[128];

    VMESH_GUARD(publish(d));
    VMESH_GUARD(
        demo_runf(d->dir, d->ns_rvp, "rvp-tick-once", 30000, NULL, TICK, d->exe, d->dir, d->dir));
    VMESH_GUARD(demo_spawnf(&d->rvp_tick, d->dir, d->ns_rvp, "rvp-tick", TICK " --every %d", d->exe,
                            d->dir, d->dir, BELL_PERIOD));
    d->rvp_port = demo_free_port(false);
    VMESH_ENSURE(d->rvp_port != 0, VMESH_ERR_IO, "no free port");
    VMESH_GUARD(demo_spawnf(&d->rvp_serve, d->dir, d->ns_rvp, "rvp-serve",
                            "%s rvp serve --root %s/rvpweb --listen %s:%u", d->exe, d->dir,
                            d->rvp_host, (unsigned)d->rvp_port));
    demo_sfmt(url, sizeof(url), "http://%s:%u/manifest.jws", d->rvp_host, (unsigned)d->rvp_port);
    VMESH_GUARD(demo_wait_http(&d->rvp_serve, url, 200, DEMO_START_MS));
out:
    return rc;
}

static bool have_manifest(demo *d)
{
    char path[PATH_MAX];
    DIR *dir;
    struct dirent *e;
    bool found = false;

    demo_sfmt(path, sizeof(path), "%s/state/verifier/rvp", d->dir);
    dir = opendir(path);
    while (dir && (e = readdir(dir)) != NULL)
        if (strstr(e->d_name, ".jws") != NULL)
            found = true;
    if (dir)
        closedir(dir);
    return found;
}

static vmesh_err start_verifier(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char url[128];

    d->ver_port = demo_free_port(false);
    VMESH_ENSURE(d->ver_port != 0, VMESH_ERR_IO, "no free port");
    VMESH_GUARD(demo_spawnf(&d->verifier, d->dir, d->ns_ver, "verifier",
                            "%s verifier serve --key %s/verifier.key --listen %s:%u --state-dir "
                            "%s/state/verifier --poll %d --threads 2 --rvp " RVP_NAME
                            ",http://%s:%u,%s/rvp.pub",
                            d->exe, d->dir, d->ver_host, (unsigned)d->ver_port, d->dir,
                            d->opt.poll_s, d->rvp_host, (unsigned)d->rvp_port, d->dir));
    demo_sfmt(url, sizeof(url), "http://%s:%u/.well-known/veraison/verification", d->ver_host,
              (unsigned)d->ver_port);
    VMESH_GUARD(demo_wait_http(&d->verifier, url, 200, DEMO_START_MS));
    /* Appraisals need the first bundle: the sync client persists a
     * manifest it accepted under state/verifier/rvp/. */
    for (double t0 = demo_now_ms(); !have_manifest(d);) {
        VMESH_ENSURE(demo_alive(&d->verifier), VMESH_ERR_IO, "the verifier stopped (log %s)",
                     d->verifier.log);
        VMESH_ENSURE(demo_now_ms() - t0 < 30000 && !demo_interrupted(), VMESH_ERR_TIMEOUT,
                     "the verifier did not sync the RVP's bundle in 30 s (log %s)",
                     d->verifier.log);
        demo_sleep_ms(50);
    }
out:
    return rc;
}

static vmesh_err start_app(demo *d)
{
    vmesh_err rc = VMESH_OK;

    d->app_port = demo_free_port(false);
    VMESH_ENSURE(d->app_port != 0, VMESH_ERR_IO, "no free port");
    VMESH_GUARD(demo_spawnf(&d->app, d->dir, d->ns_pop, "app",
                            "python3 -m http.server --bind 127.0.0.1 --directory %s/www %u", d->dir,
                            (unsigned)d->app_port));
    if (d->ns_pop == NULL) {
        VMESH_GUARD(demo_wait_port(&d->app, "127.0.0.1", d->app_port, DEMO_START_MS));
    } else {
        /* its 127.0.0.1 is the PoP's: wait for the log line instead */
        VMESH_GUARD(demo_wait_log(&d->app, "Serving HTTP", DEMO_START_MS));
    }
out:
    return rc;
}

/* ---- sidecar configurations -------------------------------------------------------------------
 */

/* The configuration of the PoP's sidecar (client < 0) or of a client's, in
 * mode m (docs/PROXY.md), written to *path. */
static vmesh_err write_config(demo *d, demo_mode m, int client, char *path, size_t path_len)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf y;
    char who[16], central[256] = "", passport[PATH_MAX + 128] = "";
    const char *mode = m == M_PASSPORT ? "passport" : "epoch-fresh";
    demo_psa_files f;

    vmesh_buf_init(&y, 16384);
    if (client < 0)
        demo_sfmt(who, sizeof(who), "pop");
    else
        client_name(client, who, sizeof(who));
    VMESH_GUARD(vmesh_buf_printf(
        &y,
        "# vmesh demo sase: %s sidecar, mode %s\n"
        "identity:\n  cert: %s/%s-chain.pem\n  key: %s/%s.key\n  bundle: %s/ca/bundle.pem\n",
        client < 0 ? "PoP (inbound)" : "client (outbound)", sase_mode_names[m], d->dir, who, d->dir,
        who, d->dir));
    if (client >= 0 && d->cl[client].tpm >= 0) {
        /* A handle per client sharing this TPM (the same primary key, so the
         * same endorsed AK), at most 8 per TPM. */
        VMESH_GUARD(vmesh_buf_printf(
            &y,
            "attester:\n  platform: tpm2\n  options:\n"
            "    tcti: \"swtpm:host=127.0.0.1,port=%u\"\n    ak-handle: \"0x%08x\"\n",
            (unsigned)d->tpm_port[d->cl[client].tpm],
            0x81010010u + (unsigned)((client / d->ntpm) % 8)));
    } else {
        demo_psa_files_of(d->dir, who, &f);
        VMESH_GUARD(vmesh_buf_printf(
            &y,
            "attester:\n  platform: psa-sim\n  options:\n    iak: %s\n    claims: %s\n"
            "    measure: [ \"BL=%s\", \"workload=%s\" ]\n",
            f.iak, f.claims, f.fw, f.workload));
    }
    if (m == M_CENTRAL)
        demo_sfmt(central, sizeof(central),
                  "  central: { url: \"http://%s:%u\", key: %s/verifier.pub, insecure-plain-http: true }\n", d->ver_host,
                  (unsigned)d->ver_port, d->dir);
    if (m == M_PASSPORT)
        demo_sfmt(
            passport, sizeof(passport),
            "  passport: { central: \"http://%s:%u\", insecure-plain-http: true }\n  trusted-verifiers: [ %s/verifier.pub ]\n",
            d->ver_host, (unsigned)d->ver_port, d->dir);
    VMESH_GUARD(vmesh_buf_printf(
        &y,
        "  modes: [ %s ]\nverifier:\n  rvps:\n    - { name: %s, url: \"http://%s:%u\", key: "
        "%s/rvp.pub }\n"
        "  poll-interval: %ds\n  state-dir: %s/state/%s-%s\n"
        "  bell: { url: \"http://%s:%u/bell.cwt\", key: %s/rvp.pub }\n%s%s"
        "policy:\n  inline: { modes: [ %s ] }\naccess-log: { file: %s/logs/%s-%s-access.log }\n"
        "limits: { workers: %d, drain-timeout: 1s, handshake-timeout: 10s, connect-timeout: 5s }\n",
        mode, RVP_NAME, d->rvp_host, (unsigned)d->rvp_port, d->dir, d->opt.poll_s, d->dir, who,
        sase_mode_names[m], d->rvp_host, (unsigned)d->rvp_port, d->dir, central, passport, mode,
        d->dir, who, sase_mode_names[m], client < 0 ? 2 : 1));
    if (client < 0)
        VMESH_GUARD(vmesh_buf_printf(
            &y,
            "inbound:\n  - name: tenant-web\n    listen: %s:%u\n    app: 127.0.0.1:%u\n"
            "    peer: \"spiffe://%s/clients/*\"\nadmin: { listen: \"%s:%u\" }\n",
            d->pop_host, (unsigned)d->pop_port, (unsigned)d->app_port, TRUST_DOMAIN, d->pop_host,
            (unsigned)d->pop_admin));
    else
        VMESH_GUARD(vmesh_buf_printf(
            &y,
            "outbound:\n  - name: pop\n    listen: 127.0.0.1:%u\n    upstreams: [ \"%s:%u\" ]\n"
            "    peer: %s\nadmin: { listen: \"127.0.0.1:%u\" }\n",
            (unsigned)d->cl[client].out_port, d->pop_host, (unsigned)d->pop_port, POP_ID,
            (unsigned)d->cl[client].admin_port));
    demo_sfmt(path, path_len, "%s/%s-%s.yaml", d->dir, who, sase_mode_names[m]);
    VMESH_GUARD(vmesh_file_write(path, y.data, y.len, 0644));
out:
    vmesh_buf_free(&y);
    return rc;
}

static vmesh_err start_sidecar(demo *d, demo_mode m, int client, demo_proc *p)
{
    vmesh_err rc = VMESH_OK;
    char cfg[PATH_MAX], name[48], who[16];

    VMESH_GUARD(write_config(d, m, client, cfg, sizeof(cfg)));
    if (client < 0)
        demo_sfmt(who, sizeof(who), "pop");
    else
        client_name(client, who, sizeof(who));
    demo_sfmt(name, sizeof(name), "%s-%s", who, sase_mode_names[m]);
    VMESH_GUARD(demo_spawnf(p, d->dir, client < 0 ? d->ns_pop : d->ns_cli, name, "%s proxy -c %s",
                            d->exe, cfg));
out:
    return rc;
}

/* Stops the PoP and client sidecars of a phase; each must exit 0 at SIGTERM
 * (a drain) with nothing in its log from a sanitizer. */
static void stop_sidecars(demo *d)
{
    size_t n = (size_t)d->opt.clients + 1;
    demo_proc **all;

    if (d->cl == NULL)
        return; /* prepare() failed before anything started */
    all = calloc(n, sizeof(*all));
    if (all == NULL) {
        demo_proc *one = &d->pop;
        demo_stop(&one, 1, 10000);
        for (int i = 0; i < d->opt.clients; i++) {
            one = &d->cl[i].proc;
            demo_stop(&one, 1, 10000);
        }
        return;
    }
    all[0] = &d->pop;
    for (int i = 0; i < d->opt.clients; i++)
        all[i + 1] = &d->cl[i].proc;
    demo_stop(all, n, 10000);
    for (size_t i = 0; i < n; i++) {
        demo_proc *p = all[i];
        if (p->pid <= 0)
            continue;
        d->sidecar_runs++;
        if (p->reaped && WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0 &&
            !demo_file_contains(p->log, "Sanitizer") &&
            !demo_file_contains(p->log, "runtime error"))
            d->sidecar_clean++;
        else if (d->unclean[0] == '\0') {
            char st[64];
            demo_proc_describe(p, st, sizeof(st));
            demo_sfmt(d->unclean, sizeof(d->unclean), "%s %s (log %s)", p->name, st, p->log);
        }
        p->pid = 0;
    }
    free(all);
}

/* ---- measurements ------------------------------------------------------------------------------
 */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *v, size_t n, double pct)
{
    size_t rank;

    if (n == 0)
        return 0;
    rank = (size_t)((pct / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static bool request(demo *d, int client, double *ms)
{
    char url[64];

    demo_sfmt(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)d->cl[client].out_port);
    return demo_http_get(url, APP_MARKER, 10000, ms);
}

static vmesh_err run_requests(demo *d, demo_mode m)
{
    vmesh_err rc = VMESH_OK;
    mode_stats *s = &d->modes[m];
    size_t total = (size_t)d->opt.clients * (size_t)d->opt.requests;
    double ms;

    s->ran = true;
    s->lat = calloc(total ? total : 1, sizeof(double));
    VMESH_ENSURE(s->lat != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (int r = 0; r < d->opt.requests && !demo_interrupted(); r++)
        for (int i = 0; i < d->opt.clients && !demo_interrupted(); i++) {
            s->attempted++;
            if (request(d, i, &ms)) {
                s->admitted++;
                s->lat[s->nlat++] = ms;
            } else {
                s->refused++;
            }
        }
    VMESH_ENSURE(!demo_interrupted(), VMESH_ERR_IO, "interrupted");
    qsort(s->lat, s->nlat, sizeof(double), cmp_double);
    s->p50 = percentile(s->lat, s->nlat, 50);
    s->p99 = percentile(s->lat, s->nlat, 99);
out:
    return rc;
}

/* `vmesh client` straight at the PoP with this SVID; options may follow. */
static void client_argv(demo *d, demo_argv *av, const char *cert, const char *key)
{
    demo_argv_add(
        av,
        "%s client --connect %s:%u --cert %s --key %s --bundle %s/ca/bundle.pem --deadline-ms 5000",
        d->exe, d->pop_host, (unsigned)d->pop_port, cert, key, d->dir);
}

/* Runs it (av is freed) with one HTTP request: admitted when an HTTP
 * response came back. */
static vmesh_err client_probe(demo *d, const char *name, demo_argv *av, int *code, bool *admitted)
{
    char log[PATH_MAX];
    vmesh_err rc;

    demo_argv_add(av, "--message %s", "GET / HTTP/1.0\r\n\r\n");
    rc = run_vmesh(d, name, d->ns_cli, av, 20000, code);
    demo_argv_free(av);
    log_path(d, name, log, sizeof(log));
    *admitted = rc == VMESH_OK && *code == 0 && demo_file_contains(log, "HTTP/1.");
    return rc;
}

/* (b) Unattested peers straight at the PoP's inbound port. */
static vmesh_err unattested(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char what[160], cert[PATH_MAX], key[PATH_MAX];
    demo_argv av = {0};
    demo_psa_files intruder;
    bool admitted;
    int code = -1;

    demo_say(&d->acc, "\n== Unattested and unendorsed peers try the PoP directly (%s:%u)\n",
             d->pop_host, (unsigned)d->pop_port);
    demo_sfmt(cert, sizeof(cert), "%s/c001-chain.pem", d->dir);
    demo_sfmt(key, sizeof(key), "%s/c001.key", d->dir);
    admitted = demo_tls_probe(d->pop_host, d->pop_port, cert, key, what, sizeof(what));
    demo_say(&d->acc, "   plain TLS 1.3 with a valid client SVID, no 0xff4d extension: %s -> %s\n",
             what, admitted ? "ADMITTED" : "refused");
    d->unattested_admitted += admitted;
    demo_check_add(&d->acc, !admitted,
                   "unattested: plain TLS 1.3 client with a valid SVID refused");
    admitted = demo_tls_probe(d->pop_host, d->pop_port, NULL, NULL, what, sizeof(what));
    demo_say(&d->acc, "   plain TLS 1.3 without a client certificate: %s -> %s\n", what,
             admitted ? "ADMITTED" : "refused");
    d->unattested_admitted += admitted;
    demo_check_add(&d->acc, !admitted, "unattested: TLS client without a certificate refused");

    client_argv(d, &av, cert, key);
    demo_argv_add(&av, "--plain --no-attest --allow-unattested");
    VMESH_GUARD(client_probe(d, "probe-plain", &av, &code, &admitted));
    demo_say(&d->acc, "   vmesh client --plain (mTLS with an SVID, no 0xff4d): exit %d -> %s\n",
             code, admitted ? "ADMITTED" : "refused");
    d->unattested_admitted += admitted;
    demo_check_add(&d->acc, !admitted, "unattested: vmesh client --plain (no 0xff4d) refused");

    /* An attesting client whose platform the RVP never endorsed. */
    demo_psa_files_of(d->dir, "intruder", &intruder);
    demo_sfmt(cert, sizeof(cert), "%s/intruder-chain.pem", d->dir);
    demo_sfmt(key, sizeof(key), "%s/intruder.key", d->dir);
    client_argv(d, &av, cert, key);
    demo_argv_add(
        &av, "--iak %s --claims %s --measure BL=%s --measure workload=%s --attest-mode epoch-fresh",
        intruder.iak, intruder.claims, intruder.fw, intruder.workload);
    demo_argv_add(&av, "--bell %s/rvpweb/bell.cwt --bell-key %s/rvp.pub --rv %s/rv/pop.json",
                  d->dir, d->dir, d->dir);
    VMESH_GUARD(client_probe(d, "probe-intruder", &av, &code, &admitted));
    demo_say(&d->acc, "   vmesh client attesting an unendorsed psa-sim platform: exit %d%s -> %s\n",
             code, code == 2 ? " (attestation refused)" : "", admitted ? "ADMITTED" : "refused");
    demo_check_add(&d->acc, !admitted && code == 2,
                   "untrusted: an attesting client on an unendorsed platform refused");
out:
    demo_argv_free(&av);
    return rc;
}

/* Requests one per client, in rounds, until every client got the outcome
 * `want_admitted` or the deadline; returns the time of the last client's
 * change in ms after t0, or -1. *other_ms: the start (ms after t0) of the
 * latest request that still got the other outcome (-1: none). */
static double converge(demo *d, double t0, bool want_admitted, double deadline_ms,
                       double *other_ms)
{
    bool *done = calloc((size_t)d->opt.clients, sizeof(bool));
    int left = d->opt.clients;
    double last = -1, ms;

    *other_ms = -1;
    if (done == NULL)
        return -1;
    while (left > 0 && demo_now_ms() - t0 < deadline_ms && !demo_interrupted()) {
        for (int i = 0; i < d->opt.clients; i++) {
            double start = demo_now_ms() - t0;

            if (done[i])
                continue;
            if (request(d, i, &ms) == want_admitted) {
                done[i] = true;
                left--;
                last = demo_now_ms() - t0;
            } else if (start > *other_ms) {
                *other_ms = start;
            }
        }
        if (left > 0)
            demo_sleep_ms(50);
    }
    free(done);
    return left == 0 ? last : -1;
}

/* The RVP publishes the PoP's reference values, approving its workload or
 * not; every client must come to that outcome: *ms is how long that took
 * after the publication (-1: not all did in time), *n how many clients
 * have it on one more request each. */
static vmesh_err publish_pop(demo *d, bool approved, double *ms, int *n, double *other_ms)
{
    vmesh_err rc = VMESH_OK;
    double t0, unused;

    VMESH_GUARD(pop_rv(d, approved));
    VMESH_GUARD(publish(d));
    t0 = demo_now_ms();
    /* how long to keep asking (not a judgement: a loaded machine runs the
     * rounds slowly) */
    *ms = converge(d, t0, approved, d->opt.poll_s * 3000.0 + 60000.0, other_ms);
    VMESH_ENSURE(!demo_interrupted(), VMESH_ERR_IO, "interrupted");
    *n = 0;
    for (int i = 0; i < d->opt.clients; i++)
        *n += request(d, i, &unused) == approved;
out:
    return rc;
}

static vmesh_err revocation(demo *d)
{
    vmesh_err rc = VMESH_OK;
    double bound_ms = d->opt.poll_s * 1000.0 * 1.1 + 1000.0, unused;

    d->revocation_ran = true;
    demo_say(&d->acc,
             "\n== Revocation: the RVP publishes epoch %d, whose reference values no longer "
             "approve the PoP's workload\n",
             d->epoch + 1);
    VMESH_GUARD(publish_pop(d, false, &d->cutoff_ms, &d->refused_after, &d->last_admitted_ms));
    if (d->cutoff_ms >= 0)
        demo_say(&d->acc,
                 "   every client refuses the PoP %.0f ms after the publication (poll interval %d "
                 "s; the last request still admitted started after %.0f ms); then %d/%d "
                 "refused\n",
                 d->cutoff_ms, d->opt.poll_s, d->last_admitted_ms, d->refused_after,
                 d->opt.clients);
    else
        demo_say(&d->acc, "   NOT every client cut the PoP off in time; then %d/%d refused\n",
                 d->refused_after, d->opt.clients);
    /* Judged by the requests, not by the round that observes them: no
     * request that started later than one poll interval (+10 % jitter, +1 s)
     * after the publication was admitted, and every client came to refuse. */
    demo_check_add(&d->acc, d->cutoff_ms >= 0 && d->last_admitted_ms <= bound_ms,
                   "revocation: every client refused the PoP within one poll interval (%d s, +10%% "
                   "jitter, +1 s slack)",
                   d->opt.poll_s);
    demo_check_add(&d->acc, d->refused_after == d->opt.clients,
                   "revocation: every client refuses the PoP afterwards");

    demo_say(&d->acc,
             "\n== Restore: the RVP publishes epoch %d approving the PoP's workload again\n",
             d->epoch + 1);
    VMESH_GUARD(publish_pop(d, true, &d->restore_ms, &d->admitted_after_restore, &unused));
    if (d->restore_ms >= 0)
        demo_say(
            &d->acc,
            "   every client admitted again %.0f ms after the publication; then %d/%d admitted\n",
            d->restore_ms, d->admitted_after_restore, d->opt.clients);
    else
        demo_say(&d->acc, "   NOT every client admitted again in time; then %d/%d admitted\n",
                 d->admitted_after_restore, d->opt.clients);
    demo_check_add(&d->acc, d->admitted_after_restore == d->opt.clients,
                   "restore: every client admitted again");
out:
    return rc;
}

/* The mesh page over the PoP's and the clients' admin endpoints (the
 * first DASH_NODES of them): it reads them while the sidecars of each
 * mode come and go on the same ports (docs/DASHBOARD.md). */
#define DASH_NODES 64
static vmesh_err start_dashboard(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char path[PATH_MAX], url[128];
    vmesh_buf b = {0};

    demo_sfmt(path, sizeof(path), "%s/dashboard-nodes.txt", d->dir);
    VMESH_GUARD(vmesh_buf_printf(&b, "# the admin endpoints vmesh dashboard reads\nhttp://%s:%u\n",
                                 d->pop_host, (unsigned)d->pop_admin));
    for (int i = 0; i < d->opt.clients && i < DASH_NODES - 1; i++)
        VMESH_GUARD(vmesh_buf_printf(&b, "http://127.0.0.1:%u\n", (unsigned)d->cl[i].admin_port));
    VMESH_GUARD(vmesh_buf_append_u8(&b, 0));
    VMESH_GUARD(demo_write_text(path, (const char *)b.data));
    VMESH_GUARD(demo_spawnf(&d->dash, d->dir, d->ns_cli, "dashboard",
                            "%s dashboard --nodes-file %s --listen 127.0.0.1:%u --poll 1s",
                            d->exe, path, (unsigned)d->dash_port));
    demo_sfmt(url, sizeof(url), "http://127.0.0.1:%u/mesh/state", (unsigned)d->dash_port);
    if (d->ns_cli == NULL)
        VMESH_GUARD(demo_wait_http(&d->dash, url, 200, DEMO_START_MS));
out:
    vmesh_buf_free(&b);
    return rc;
}

static void say_dashboards(demo *d)
{
    demo_say(&d->acc, "   dashboards%s: mesh http://127.0.0.1:%u/ ; PoP node http://%s:%u/",
             d->net.up ? " (inside the clients' network namespace)" : "", (unsigned)d->dash_port,
             d->pop_host, (unsigned)d->pop_admin);
    for (int i = 0; i < d->opt.clients && i < 3; i++) {
        char name[16];
        demo_say(&d->acc, " ; %s node http://127.0.0.1:%u/", client_name(i, name, sizeof(name)),
                 (unsigned)d->cl[i].admin_port);
    }
    demo_say(&d->acc, "%s\n", d->opt.clients > 3 ? " ; …" : "");
}

/* --keep: the last mode's sidecars, the RVP, the verifier and the
 * dashboard stay up until SIGINT or SIGTERM. */
static void keep_up(demo *d)
{
    demo_user_signals_install();
    demo_say(&d->acc, "\n== Left up (--keep): Ctrl-C or SIGTERM stops everything; SIGUSR1 "
                      "revokes the PoP's workload at the RVP, SIGUSR2 restores it (pid %ld)\n",
             (long)getpid());
    say_dashboards(d);
    for (int i = 0; i < d->opt.clients && i < 3; i++) {
        char name[16];
        demo_say(&d->acc, "   %s outbound http://127.0.0.1:%u/ -> PoP\n",
                 client_name(i, name, sizeof(name)), (unsigned)d->cl[i].out_port);
    }
    fflush(stdout);
    fflush(stderr);
    while (!demo_interrupted()) {
        int sig = demo_user_request();
        double ms = -1, other = -1;
        int n = 0;
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            bool approve = sig == SIGUSR2;
            demo_say(&d->acc, "\n== (--keep) %s: the RVP publishes epoch %d\n",
                     approve ? "Restore" : "Revocation", d->epoch + 1);
            if (publish_pop(d, approve, &ms, &n, &other) != VMESH_OK)
                demo_say(&d->acc, "   publishing failed: %s\n", vmesh_err_detail());
            else if (ms >= 0)
                demo_say(&d->acc, "   every client %s the PoP %.0f ms after the publication; "
                                  "then %d/%d %s\n",
                         approve ? "admits" : "refuses", ms, n, d->opt.clients,
                         approve ? "admitted" : "refused");
            else
                demo_say(&d->acc, "   NOT every client %s the PoP in time; then %d/%d %s\n",
                         approve ? "admits" : "refuses", n, d->opt.clients,
                         approve ? "admitted" : "refused");
            fflush(stdout);
            fflush(stderr);
            continue;
        }
        demo_sleep_ms(200);
    }
}

static vmesh_err run_mode(demo *d, demo_mode m, int step)
{
    vmesh_err rc = VMESH_OK;
    double t0 = demo_now_ms();
    char url[128];
    mode_stats *s = &d->modes[m];

    demo_say(&d->acc, "\n== %d. Mode %s — %s\n", step, sase_mode_names[m], mode_titles[m]);
    VMESH_GUARD(start_sidecar(d, m, -1, &d->pop));
    for (int i = 0; i < d->opt.clients; i++) {
        VMESH_ENSURE(!demo_interrupted(), VMESH_ERR_IO, "interrupted");
        VMESH_GUARD(start_sidecar(d, m, i, &d->cl[i].proc));
    }
    demo_sfmt(url, sizeof(url), "http://%s:%u/ready", d->pop_host, (unsigned)d->pop_admin);
    VMESH_GUARD(demo_wait_http(&d->pop, url, 200, DEMO_START_MS));
    for (int i = 0; i < d->opt.clients; i++) {
        demo_sfmt(url, sizeof(url), "http://127.0.0.1:%u/ready", (unsigned)d->cl[i].admin_port);
        VMESH_GUARD(demo_wait_http(&d->cl[i].proc, url, 200, DEMO_START_MS));
    }
    demo_say(
        &d->acc,
        "   PoP sidecar and %d client sidecars ready in %.1f s (configurations: %s/*-%s.yaml)\n",
        d->opt.clients, (demo_now_ms() - t0) / 1000.0, d->dir, sase_mode_names[m]);
    VMESH_GUARD(run_requests(d, m));
    demo_say(&d->acc,
             "   %u requests, each on a new attested connection: %u admitted, %u refused; p50 %.2f "
             "ms, p99 %.2f ms\n",
             s->attempted, s->admitted, s->refused, s->p50, s->p99);
    demo_check_add(&d->acc, s->attempted > 0 && s->admitted == s->attempted,
                   "%s: every client admitted (%u/%u requests)", sase_mode_names[m], s->admitted,
                   s->attempted);
    if (m == M_LOCAL) {
        VMESH_GUARD(unattested(d));
        VMESH_GUARD(revocation(d));
    }
    if (d->opt.keep && m == run_order[M__COUNT - 1])
        keep_up(d);
out:
    stop_sidecars(d);
    return rc;
}

/* ---- clean-up -----------------------------------------------------------------------------------
 */

/* Processes (other than us) whose command line names our directory. */
static int leftovers(const demo *d)
{
    DIR *proc = opendir("/proc");
    struct dirent *e;
    int n = 0;
    char path[64];
    vmesh_buf b = {0};

    if (proc == NULL)
        return 0;
    while ((e = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == (long)getpid())
            continue;
        demo_sfmt(path, sizeof(path), "/proc/%ld/cmdline", pid);
        vmesh_buf_reset(&b);
        if (vmesh_file_read(path, 65536, &b) != VMESH_OK || b.len == 0)
            continue;
        if (memmem(b.data, b.len, d->dir, strlen(d->dir)) != NULL)
            n++;
    }
    closedir(proc);
    vmesh_buf_free(&b);
    return n;
}

static void stop_all(demo *d)
{
    demo_proc *all[8 + MAX_TPM];
    size_t n = 0;
    bool vmesh_clean = true;
    char st[64], log[PATH_MAX];

    stop_sidecars(d);
    all[n++] = &d->rvp_tick;
    all[n++] = &d->rvp_serve;
    all[n++] = &d->verifier;
    all[n++] = &d->dash;
    all[n++] = &d->app;
    for (int t = 0; t < d->ntpm; t++)
        all[n++] = &d->tpm[t];
    demo_stop(all, n, 10000);
    for (size_t i = 0; i < 4; i++) /* the vmesh services exit 0 at SIGTERM */
        if (all[i]->pid > 0 &&
            !(all[i]->reaped && WIFEXITED(all[i]->status) && WEXITSTATUS(all[i]->status) == 0)) {
            demo_proc_describe(all[i], st, sizeof(st));
            if (d->unclean[0] == '\0')
                demo_sfmt(d->unclean, sizeof(d->unclean), "%s %s (log %s)", all[i]->name, st,
                          all[i]->log);
            vmesh_clean = false;
        }
    if (d->sidecar_runs > 0 || d->verifier.pid > 0)
        demo_check_add(&d->acc, vmesh_clean && d->sidecar_clean == d->sidecar_runs,
                       "every vmesh process exited 0 at SIGTERM (%u sidecar runs, RVP, verifier, dashboard)",
                       d->sidecar_runs);
    if (d->net.up) {
        if (d->home_ns >= 0 && setns(d->home_ns, CLONE_NEWNET) != 0)
            fprintf(stderr, "vmesh demo: cannot return to the original network namespace: %s\n",
                    strerror(errno));
        demo_sfmt(log, sizeof(log), "%s/logs/netns.log", d->dir);
        demo_net_down(&d->net, log);
    }
    if (d->dir[0]) {
        int left = leftovers(d);
        demo_check_add(&d->acc, left == 0, "no process left running");
    }
    if (!d->opt.keep)
        demo_rm_tree(d->dir);
}

/* ---- the scenario -------------------------------------------------------------------------------
 */

static vmesh_err prepare(demo *d)
{
    vmesh_err rc = VMESH_OK;
    int ntpm_clients = 0;

    VMESH_GUARD(demo_workdir("vmesh-demo", d->exe, d->dir));
    d->cl = calloc((size_t)d->opt.clients, sizeof(*d->cl));
    VMESH_ENSURE(d->cl != NULL, VMESH_ERR_NOMEM, "out of memory");
    if (d->opt.platform == DEMO_PLATFORM_TPM2 ||
        (d->opt.platform == DEMO_PLATFORM_AUTO && demo_in_path("swtpm"))) {
        VMESH_ENSURE(demo_in_path("swtpm"), VMESH_ERR_UNSUPPORTED,
                     "--platform tpm2 needs swtpm (apt-get install swtpm swtpm-tools)");
        ntpm_clients = d->opt.platform == DEMO_PLATFORM_TPM2
                           ? d->opt.clients
                           : (d->opt.clients < MAX_TPM ? d->opt.clients : MAX_TPM);
        d->ntpm = ntpm_clients < MAX_TPM ? ntpm_clients : MAX_TPM;
    }
    for (int i = 0; i < d->opt.clients; i++)
        d->cl[i].tpm = i < ntpm_clients ? i % d->ntpm : -1;
out:
    return rc;
}

static vmesh_err setup_network(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char log[PATH_MAX];

    demo_sfmt(d->rvp_host, sizeof(d->rvp_host), "127.0.0.1");
    demo_sfmt(d->ver_host, sizeof(d->ver_host), "127.0.0.1");
    demo_sfmt(d->pop_host, sizeof(d->pop_host), "127.0.0.1");
    if (!d->opt.netns)
        return VMESH_OK;
    demo_sfmt(log, sizeof(log), "%s/logs/netns.log", d->dir);
    d->home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (d->home_ns < 0 || demo_net_up(&d->net, log) != VMESH_OK) {
        demo_say(&d->acc,
                 "   --netns: cannot create network namespaces here (%s); falling back to loopback "
                 "127.0.0.1\n",
                 d->home_ns < 0 ? strerror(errno) : vmesh_err_detail());
        return VMESH_OK;
    }
    d->ns_rvp = d->net.ns[DEMO_NS_RVP];
    d->ns_ver = d->net.ns[DEMO_NS_VERIFIER];
    d->ns_pop = d->net.ns[DEMO_NS_POP];
    d->ns_cli = d->net.ns[DEMO_NS_CLIENTS];
    demo_sfmt(d->rvp_host, sizeof(d->rvp_host), "%s", d->net.addr[DEMO_NS_RVP]);
    demo_sfmt(d->ver_host, sizeof(d->ver_host), "%s", d->net.addr[DEMO_NS_VERIFIER]);
    demo_sfmt(d->pop_host, sizeof(d->pop_host), "%s", d->net.addr[DEMO_NS_POP]);
    /* We drive the clients: live in their namespace (this thread only; we are single-threaded). */
    VMESH_GUARD(demo_net_enter(d->ns_cli));
    demo_say(&d->acc,
             "   network namespaces: RVP %s (%s), verifier %s (%s), PoP %s (%s), clients %s (%s), "
             "joined by a bridge\n",
             d->rvp_host, d->ns_rvp, d->ver_host, d->ns_ver, d->pop_host, d->ns_pop,
             d->net.addr[DEMO_NS_CLIENTS], d->ns_cli);
out:
    return rc;
}

static vmesh_err scenario(demo *d)
{
    vmesh_err rc = VMESH_OK;
    int ntpm_clients = 0, step = 5;

    VMESH_GUARD(prepare(d));
    for (int i = 0; i < d->opt.clients; i++)
        ntpm_clients += d->cl[i].tpm >= 0;
    demo_say(&d->acc,
             "vmesh demo sase: %d clients, %d requests each per mode, poll interval %d s\n",
             d->opt.clients, d->opt.requests, d->opt.poll_s);
    demo_say(&d->acc, "   files: %s%s\n", d->dir,
             d->opt.keep ? " (kept)" : " (removed at the end)");
    VMESH_GUARD(setup_network(d));
    if (!d->net.up)
        demo_say(&d->acc, "   every process listens on 127.0.0.1 (free ports)\n");
    d->pop_port = demo_free_port(false);
    d->pop_admin = demo_free_port(false);
    for (int i = 0; i < d->opt.clients; i++) {
        d->cl[i].out_port = demo_free_port(false);
        d->cl[i].admin_port = demo_free_port(false);
        VMESH_ENSURE(d->cl[i].out_port && d->cl[i].admin_port, VMESH_ERR_IO, "no free port");
    }
    d->dash_port = demo_free_port(false);
    VMESH_ENSURE(d->pop_port && d->pop_admin && d->dash_port, VMESH_ERR_IO, "no free port");

    demo_say(&d->acc, "\n== 1. Identities and platforms\n");
    VMESH_GUARD(setup_files(d));
    demo_say(&d->acc,
             "   CA for trust domain %s; SVIDs for the PoP (%s) and %d clients "
             "(spiffe://%s/clients/cNNN)\n",
             TRUST_DOMAIN, POP_ID, d->opt.clients, TRUST_DOMAIN);
    demo_say(&d->acc, "   platforms: the PoP on psa-sim; %d clients on psa-sim (own IAK each)",
             d->opt.clients - ntpm_clients);
    if (ntpm_clients > 0) {
        VMESH_GUARD(start_tpms(d));
        demo_say(&d->acc, ", %d on tpm2 (%d swtpm simulator%s, AK read at enrolment)", ntpm_clients,
                 d->ntpm, d->ntpm > 1 ? "s" : "");
    }
    demo_say(&d->acc, "\n");

    demo_say(
        &d->acc,
        "\n== 2. RVP: signed bundle of reference values (PoP + clients), epoch bell every %d s\n",
        BELL_PERIOD);
    VMESH_GUARD(start_rvp(d));
    demo_say(
        &d->acc,
        "   epoch %d published; vmesh rvp serve on http://%s:%u (manifest.jws, bell.cwt, sets/)\n",
        d->epoch, d->rvp_host, (unsigned)d->rvp_port);

    demo_say(&d->acc, "\n== 3. Central verifier (Veraison challenge-response API)\n");
    VMESH_GUARD(start_verifier(d));
    demo_say(
        &d->acc,
        "   vmesh verifier serve on http://%s:%u, synced epoch 1 from the RVP, polls every %d s\n",
        d->ver_host, (unsigned)d->ver_port, d->opt.poll_s);

    demo_say(&d->acc, "\n== 4. The SASE PoP's tenant app\n");
    VMESH_GUARD(start_app(d));
    demo_say(
        &d->acc,
        "   python3 -m http.server on 127.0.0.1:%u%s; its inbound sidecar will listen on %s:%u\n",
        (unsigned)d->app_port, d->net.up ? " (in the PoP's namespace)" : "", d->pop_host,
        (unsigned)d->pop_port);

    VMESH_GUARD(start_dashboard(d));
    say_dashboards(d);

    for (int k = 0; k < M__COUNT; k++)
        VMESH_GUARD(run_mode(d, run_order[k], step++));
out:
    return rc;
}

static void demo_free(demo *d)
{
    for (int m = 0; m < M__COUNT; m++)
        free(d->modes[m].lat);
    free(d->cl);
    if (d->home_ns >= 0)
        close(d->home_ns);
}

demo_result demo_sase_run(const demo_opts *o)
{
    demo d;
    vmesh_err rc = VMESH_OK;
    demo_result ret;

    memset(&d, 0, sizeof(d));
    d.opt = *o;
    d.home_ns = -1;
    demo_account_init(&d.acc, d.opt.json, d.opt.quiet, false);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = scenario(&d);
    demo_failed(&d.acc, rc, "vmesh demo");
    stop_all(&d); /* every process and file, also after an error or SIGINT */
    sase_print_summary(&d);
    if (d.opt.json)
        sase_print_json(&d);
    ret = demo_verdict(&d.acc, rc);
    demo_free(&d);
    curl_global_cleanup();
    return ret;
}
