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
 * and namespace it created, on every exit path (SIGINT included).
 */
#define _GNU_SOURCE
#include "cli.h"
#include "demo.h"
#include "vmesh/crypto.h"
#include "vmesh/pki.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRUST_DOMAIN "sase.example"
#define POP_ID "spiffe://" TRUST_DOMAIN "/pop/tenant-web"
#define APP_MARKER "hello from the tenant app at the SASE PoP"
#define RVP_NAME "sase-rvp"
#define MAX_TPM 2
#define MAX_CHECKS 32
#define BELL_PERIOD 30

typedef enum { M_CENTRAL, M_LOCAL, M_PASSPORT, M__COUNT } demo_mode;
static const char *const mode_names[M__COUNT] = {"central", "local", "passport"};
static const char *const mode_titles[M__COUNT] = {
    "central verifier: both sidecars send background-check evidence to the central verifier",
    "local verifiers: each sidecar appraises its peer itself, with reference values synced from the RVP",
    "passport: each side presents an EAR from the central verifier, checked with its public key",
};
/* Order of the phases: local last, so the revocation runs on the distributed verifiers. */
static const demo_mode run_order[M__COUNT] = {M_CENTRAL, M_PASSPORT, M_LOCAL};

typedef enum { P_AUTO, P_PSA, P_TPM2 } demo_platform;

typedef struct {
    bool ran;
    unsigned attempted, admitted, refused;
    double *lat;
    size_t nlat;
    double p50, p99;
} mode_stats;

typedef struct {
    char name[200];
    bool ok;
} demo_check;

typedef struct {
    /* options */
    int nclients, requests, poll_s;
    bool json, keep, want_netns, quiet;
    demo_platform platform;
    /* environment */
    char exe[PATH_MAX];
    char dir[PATH_MAX];
    FILE *out;
    demo_net net;
    int home_ns;
    const char *ns_rvp, *ns_ver, *ns_pop, *ns_cli; /* NULL: ours */
    char rvp_host[20], ver_host[20], pop_host[20];
    uint16_t rvp_port, ver_port, app_port, pop_port, pop_admin;
    uint16_t *out_port, *admin_port;
    /* TPM simulators */
    int ntpm;
    uint16_t tpm_port[MAX_TPM];
    demo_proc tpm[MAX_TPM];
    int *client_tpm; /* -1: psa-sim, else the swtpm index */
    /* processes */
    demo_proc rvp_serve, rvp_tick, verifier, app, pop;
    demo_proc *clients;
    unsigned sidecar_runs, sidecar_clean;
    char unclean[256];
    int epoch;
    /* results */
    mode_stats modes[M__COUNT];
    bool revocation_ran;
    double cutoff_ms, restore_ms;
    int refused_after, admitted_after_restore, unattested_admitted;
    demo_check checks[MAX_CHECKS];
    size_t nchecks;
    double t_start;
} demo;

/* snprintf for our paths and messages: the directory is at most 512
 * characters (prepare) and names are short, so paths fit PATH_MAX; a
 * message that does not fit is cut (gcc's -Wformat-truncation cannot
 * know the bound, so the call goes through here). */
static void sfmt(char *out, size_t n, const char *fmt, ...) VMESH_PRINTF(3, 4);
static void sfmt(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

static void say(demo *d, const char *fmt, ...) VMESH_PRINTF(2, 3);
static void say(demo *d, const char *fmt, ...)
{
    va_list ap;

    if (d->quiet)
        return;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fflush(d->out);
}

static void add_check(demo *d, bool ok, const char *fmt, ...) VMESH_PRINTF(3, 4);
static void add_check(demo *d, bool ok, const char *fmt, ...)
{
    va_list ap;

    if (d->nchecks >= MAX_CHECKS)
        return;
    va_start(ap, fmt);
    vsnprintf(d->checks[d->nchecks].name, sizeof(d->checks[0].name), fmt, ap);
    va_end(ap);
    d->checks[d->nchecks++].ok = ok;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh demo sase [--clients N] [--requests R] [--poll SECONDS] [--platform P]\n"
            "                       [--netns] [--json] [--keep] [-q]\n"
            "\n"
            "The SASE scenario on one machine, with real processes of this binary on\n"
            "127.0.0.1 (free ports): an RVP (vmesh rvp publish/serve/tick), a central\n"
            "verifier synced from it (vmesh verifier serve), the tenant app at the PoP\n"
            "(python3 -m http.server) behind an inbound sidecar (vmesh proxy, psa-sim\n"
            "platform), and N clients, each an outbound sidecar with its own platform and\n"
            "local verifier. Then: requests through the mesh in each mode (central\n"
            "verifier, local verifiers, passports), unattested peers trying the PoP, the\n"
            "RVP revoking the PoP's measurement (every client must cut it off within one\n"
            "poll interval) and restoring it. Files live in a temporary directory that is\n"
            "removed at the end; every process started is stopped.\n"
            "\n"
            "  --clients N      client sidecars (default 10, 1..%d)\n"
            "  --requests R     requests per client and mode, each on a new attested\n"
            "                   connection (default 5)\n"
            "  --poll SECONDS   bundle poll interval of sidecars and verifier (default 2)\n"
            "  --platform P     clients' platform: psa-sim, tpm2 (every client on swtpm), or\n"
            "                   auto (default: psa-sim, and 2 clients on tpm2 when swtpm is\n"
            "                   installed)\n"
            "  --netns          give the RVP, the verifier, the PoP and the clients their own\n"
            "                   network namespaces and addresses (198.18.0.0/24, inside those\n"
            "                   namespaces only; needs root); falls back to loopback\n"
            "  --json           print one JSON summary object on stdout (the account goes\n"
            "                   to stderr)\n"
            "  --keep           keep the temporary directory (configurations, logs)\n"
            "  -q               no account, only the summary (or the JSON)\n"
            "\n"
            "exit status: 0 every check passed, 2 a check failed, 1 the demo could not run\n",
            DEMO_MAX_CLIENTS);
}

/* ---- files (the psa-sim helpers are in demo_files.c) ---------------------------------------- */

#define CLASS_PREFIX "sase-demo-"

static vmesh_err rv_file(demo *d, const char *name, json_t *list)
{
    char path[PATH_MAX];

    sfmt(path, sizeof(path), "%s/rv/%s", d->dir, name);
    return demo_rv_file(path, list);
}

/* The PoP's reference values: its own workload (approved), or a digest
 * the PoP does not run (revoked: the RVP approves only a v2). */
static vmesh_err pop_rv(demo *d, bool approved)
{
    vmesh_err rc = VMESH_OK;
    json_t *list = json_array();
    uint8_t md[32];
    char hex[65];
    static const char v2[] = "SASE PoP tenant workload v2 (not deployed here)\n";

    VMESH_ENSURE(list != NULL, VMESH_ERR_NOMEM, "out of memory");
    vmesh_crypto_sha256((const uint8_t *)v2, strlen(v2), md);
    for (size_t i = 0; i < 32; i++)
        sfmt(hex + 2 * i, 3, "%02x", md[i]);
    VMESH_GUARD(demo_psa_rv_entry(d->dir, CLASS_PREFIX, "pop", approved ? NULL : hex, list));
    VMESH_GUARD(rv_file(d, "pop.json", list));
out:
    json_decref(list);
    return rc;
}

static const char *client_name(int i, char *buf, size_t n)
{
    sfmt(buf, n, "c%03d", i + 1);
    return buf;
}

static vmesh_err setup_files(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char path[PATH_MAX], id[128], who[16], text[128];
    vmesh_key *k = NULL;
    json_t *list = json_array();

    VMESH_ENSURE(list != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (const char *sub = "rv\0www\0logs\0state\0rvpweb\0"; *sub; sub += strlen(sub) + 1) {
        sfmt(path, sizeof(path), "%s/%s", d->dir, sub);
        VMESH_ENSURE(mkdir(path, 0700) == 0, VMESH_ERR_IO, "mkdir %s: %s", path, strerror(errno));
    }
    sfmt(path, sizeof(path), "%s/ca", d->dir);
    VMESH_GUARD(vmesh_pki_ca_init(TRUST_DOMAIN, path, 0, VMESH_KEY_EC_P256));
    sfmt(text, sizeof(text), "%s/pop", d->dir);
    VMESH_GUARD(vmesh_pki_ca_issue(path, POP_ID, text, 0, VMESH_KEY_EC_P256));
    sfmt(text, sizeof(text), "%s/intruder", d->dir);
    VMESH_GUARD(vmesh_pki_ca_issue(path, "spiffe://" TRUST_DOMAIN "/clients/intruder", text, 0, VMESH_KEY_EC_P256));
    for (int i = 0; i < d->nclients; i++) {
        client_name(i, who, sizeof(who));
        sfmt(id, sizeof(id), "spiffe://%s/clients/%s", TRUST_DOMAIN, who);
        sfmt(text, sizeof(text), "%s/%s", d->dir, who);
        VMESH_GUARD(vmesh_pki_ca_issue(path, id, text, 0, VMESH_KEY_EC_P256));
    }
    /* signing keys: the RVP's and the central verifier's */
    for (const char *who2 = "rvp\0verifier\0"; *who2; who2 += strlen(who2) + 1) {
        VMESH_GUARD(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k));
        sfmt(path, sizeof(path), "%s/%s.key", d->dir, who2);
        VMESH_GUARD(vmesh_crypto_key_save(k, path, true, false));
        sfmt(path, sizeof(path), "%s/%s.pub", d->dir, who2);
        VMESH_GUARD(vmesh_crypto_key_save(k, path, false, false));
        vmesh_crypto_key_free(k);
        k = NULL;
    }
    /* platforms */
    VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, "pop", "SASE PoP tenant workload v1\n"));
    VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, "intruder", "an unknown agent\n"));
    for (int i = 0; i < d->nclients; i++) {
        client_name(i, who, sizeof(who));
        sfmt(text, sizeof(text), "work-from-home agent v3 on %s\n", who);
        VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, who, text));
        if (d->client_tpm[i] < 0)
            VMESH_GUARD(demo_psa_rv_entry(d->dir, CLASS_PREFIX, who, NULL, list));
    }
    if (json_array_size(list) > 0)
        VMESH_GUARD(rv_file(d, "clients.json", list));
    VMESH_GUARD(pop_rv(d, true));
    sfmt(path, sizeof(path), "%s/www/index.html", d->dir);
    VMESH_GUARD(demo_write_text(path, APP_MARKER "\n"));
out:
    json_decref(list);
    vmesh_crypto_key_free(k);
    return rc;
}

/* ---- processes ------------------------------------------------------------------------------ */

static void log_path(demo *d, const char *name, char *out, size_t n)
{
    sfmt(out, n, "%s/logs/%s.log", d->dir, name);
}

static vmesh_err spawn_vmesh(demo *d, demo_proc *p, const char *name, const char *netns, demo_argv *av)
{
    char log[PATH_MAX];

    log_path(d, name, log, sizeof(log));
    return demo_spawn(p, name, log, d->dir, netns, av);
}

/* Runs `vmesh ARGS` to completion; exit code in *code. */
static vmesh_err run_vmesh(demo *d, const char *name, const char *netns, demo_argv *av, int timeout_ms, int *code)
{
    char log[PATH_MAX];

    log_path(d, name, log, sizeof(log));
    return demo_run(name, log, d->dir, netns, av, timeout_ms, false, code);
}

static vmesh_err publish(demo *d)
{
    vmesh_err rc = VMESH_OK;
    demo_argv av = {0};
    int code = -1;

    demo_argv_add(&av, "%s", d->exe);
    demo_argv_add(&av, "rvp");
    demo_argv_add(&av, "publish");
    demo_argv_add(&av, "--key");
    demo_argv_add(&av, "%s/rvp.key", d->dir);
    demo_argv_add(&av, "--in");
    demo_argv_add(&av, "%s/rv", d->dir);
    demo_argv_add(&av, "--out");
    demo_argv_add(&av, "%s/rvpweb", d->dir);
    demo_argv_add(&av, "--name");
    demo_argv_add(&av, RVP_NAME);
    VMESH_GUARD(run_vmesh(d, "rvp-publish", d->ns_rvp, &av, 30000, &code));
    VMESH_ENSURE(code == 0, VMESH_ERR_IO, "vmesh rvp publish exited %d (log %s/logs/rvp-publish.log)", code, d->dir);
    d->epoch++;
out:
    demo_argv_free(&av);
    return rc;
}

static vmesh_err start_tpms(demo *d)
{
    vmesh_err rc = VMESH_OK;
    demo_argv av = {0};
    char log[PATH_MAX], name[32], tcti[96];
    int code = -1;

    for (int t = 0; t < d->ntpm; t++) {
        sfmt(name, sizeof(name), "swtpm%d", t);
        d->tpm_port[t] = demo_free_port(true);
        VMESH_ENSURE(d->tpm_port[t] != 0, VMESH_ERR_IO, "no free port pair for swtpm");
        sfmt(log, sizeof(log), "%s/state/%s", d->dir, name);
        VMESH_ENSURE(mkdir(log, 0700) == 0, VMESH_ERR_IO, "mkdir %s: %s", log, strerror(errno));
        demo_argv_add(&av, "swtpm");
        demo_argv_add(&av, "socket");
        demo_argv_add(&av, "--tpm2");
        demo_argv_add(&av, "--server");
        demo_argv_add(&av, "type=tcp,port=%u,bindaddr=127.0.0.1", (unsigned)d->tpm_port[t]);
        demo_argv_add(&av, "--ctrl");
        demo_argv_add(&av, "type=tcp,port=%u,bindaddr=127.0.0.1", (unsigned)d->tpm_port[t] + 1);
        demo_argv_add(&av, "--tpmstate");
        demo_argv_add(&av, "dir=%s/state/%s", d->dir, name);
        demo_argv_add(&av, "--flags");
        demo_argv_add(&av, "not-need-init,startup-clear");
        log_path(d, name, log, sizeof(log));
        rc = demo_spawn(&d->tpm[t], name, log, d->dir, d->ns_cli, &av);
        demo_argv_free(&av);
        VMESH_GUARD(rc);
        VMESH_GUARD(demo_wait_port(&d->tpm[t], "127.0.0.1", d->tpm_port[t], 10000));
        /* Its AK and PCRs as reference values, as an enrolment would read them. */
        sfmt(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%u", (unsigned)d->tpm_port[t]);
        demo_argv_add(&av, "%s", d->exe);
        demo_argv_add(&av, "attest");
        demo_argv_add(&av, "tpm2");
        demo_argv_add(&av, "--tcti");
        demo_argv_add(&av, "%s", tcti);
        demo_argv_add(&av, "--reference-values");
        demo_argv_add(&av, "%s/rv/tpm2-%d.json", d->dir, t);
        sfmt(name, sizeof(name), "tpm2-enrol%d", t);
        rc = run_vmesh(d, name, d->ns_cli, &av, 30000, &code);
        demo_argv_free(&av);
        VMESH_GUARD(rc);
        VMESH_ENSURE(code == 0, VMESH_ERR_IO, "vmesh attest tpm2 --reference-values exited %d (log %s/logs/%s.log)",
                     code, d->dir, name);
    }
out:
    demo_argv_free(&av);
    return rc;
}

static vmesh_err start_rvp(demo *d)
{
    vmesh_err rc = VMESH_OK;
    demo_argv av = {0};
    int code = -1;
    char url[128];

    VMESH_GUARD(publish(d));
    demo_argv_add(&av, "%s", d->exe);
    demo_argv_add(&av, "rvp");
    demo_argv_add(&av, "tick");
    demo_argv_add(&av, "--key");
    demo_argv_add(&av, "%s/rvp.key", d->dir);
    demo_argv_add(&av, "--out");
    demo_argv_add(&av, "%s/rvpweb", d->dir);
    demo_argv_add(&av, "--name");
    demo_argv_add(&av, RVP_NAME);
    rc = run_vmesh(d, "rvp-tick-once", d->ns_rvp, &av, 30000, &code);
    VMESH_GUARD(rc);
    VMESH_ENSURE(code == 0, VMESH_ERR_IO, "vmesh rvp tick exited %d", code);
    demo_argv_add(&av, "--every");
    demo_argv_add(&av, "%d", BELL_PERIOD);
    VMESH_GUARD(spawn_vmesh(d, &d->rvp_tick, "rvp-tick", d->ns_rvp, &av));
    demo_argv_free(&av);
    d->rvp_port = demo_free_port(false);
    VMESH_ENSURE(d->rvp_port != 0, VMESH_ERR_IO, "no free port");
    demo_argv_add(&av, "%s", d->exe);
    demo_argv_add(&av, "rvp");
    demo_argv_add(&av, "serve");
    demo_argv_add(&av, "--root");
    demo_argv_add(&av, "%s/rvpweb", d->dir);
    demo_argv_add(&av, "--listen");
    demo_argv_add(&av, "%s:%u", d->rvp_host, (unsigned)d->rvp_port);
    VMESH_GUARD(spawn_vmesh(d, &d->rvp_serve, "rvp-serve", d->ns_rvp, &av));
    sfmt(url, sizeof(url), "http://%s:%u/manifest.jws", d->rvp_host, (unsigned)d->rvp_port);
    VMESH_GUARD(demo_wait_http(&d->rvp_serve, url, 200, 30000));
out:
    demo_argv_free(&av);
    return rc;
}

static bool have_manifest(demo *d)
{
    char path[PATH_MAX];
    DIR *dir;
    struct dirent *e;
    bool found = false;

    sfmt(path, sizeof(path), "%s/state/verifier/rvp", d->dir);
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
    demo_argv av = {0};
    char url[128];

    d->ver_port = demo_free_port(false);
    VMESH_ENSURE(d->ver_port != 0, VMESH_ERR_IO, "no free port");
    demo_argv_add(&av, "%s", d->exe);
    demo_argv_add(&av, "verifier");
    demo_argv_add(&av, "serve");
    demo_argv_add(&av, "--key");
    demo_argv_add(&av, "%s/verifier.key", d->dir);
    demo_argv_add(&av, "--listen");
    demo_argv_add(&av, "%s:%u", d->ver_host, (unsigned)d->ver_port);
    demo_argv_add(&av, "--rvp");
    demo_argv_add(&av, "%s,http://%s:%u,%s/rvp.pub", RVP_NAME, d->rvp_host, (unsigned)d->rvp_port, d->dir);
    demo_argv_add(&av, "--state-dir");
    demo_argv_add(&av, "%s/state/verifier", d->dir);
    demo_argv_add(&av, "--poll");
    demo_argv_add(&av, "%d", d->poll_s);
    demo_argv_add(&av, "--threads");
    demo_argv_add(&av, "2");
    VMESH_GUARD(spawn_vmesh(d, &d->verifier, "verifier", d->ns_ver, &av));
    sfmt(url, sizeof(url), "http://%s:%u/.well-known/veraison/verification", d->ver_host, (unsigned)d->ver_port);
    VMESH_GUARD(demo_wait_http(&d->verifier, url, 200, 30000));
    /* Appraisals need the first bundle: the sync client persists a
     * manifest it accepted under state/verifier/rvp/. */
    for (double t0 = demo_now_ms(); !have_manifest(d);) {
        VMESH_ENSURE(demo_alive(&d->verifier), VMESH_ERR_IO, "the verifier stopped (log %s)", d->verifier.log);
        VMESH_ENSURE(demo_now_ms() - t0 < 30000 && !demo_interrupted(), VMESH_ERR_TIMEOUT,
                     "the verifier did not sync the RVP's bundle in 30 s (log %s)", d->verifier.log);
        demo_sleep_ms(50);
    }
out:
    demo_argv_free(&av);
    return rc;
}

static vmesh_err start_app(demo *d)
{
    vmesh_err rc = VMESH_OK;
    demo_argv av = {0};
    char log[PATH_MAX];

    d->app_port = demo_free_port(false);
    VMESH_ENSURE(d->app_port != 0, VMESH_ERR_IO, "no free port");
    demo_argv_add(&av, "python3");
    demo_argv_add(&av, "-m");
    demo_argv_add(&av, "http.server");
    demo_argv_add(&av, "--bind");
    demo_argv_add(&av, "127.0.0.1");
    demo_argv_add(&av, "--directory");
    demo_argv_add(&av, "%s/www", d->dir);
    demo_argv_add(&av, "%u", (unsigned)d->app_port);
    log_path(d, "app", log, sizeof(log));
    VMESH_GUARD(demo_spawn(&d->app, "app (python3 -m http.server)", log, d->dir, d->ns_pop, &av));
    if (d->ns_pop == NULL) {
        VMESH_GUARD(demo_wait_port(&d->app, "127.0.0.1", d->app_port, 15000));
    } else {
        /* its 127.0.0.1 is the PoP's: wait for the log line instead */
        VMESH_GUARD(demo_wait_log(&d->app, "Serving HTTP", 15000));
    }
out:
    demo_argv_free(&av);
    return rc;
}

/* ---- sidecar configurations ------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool overflow;
} text_buf;

static void tb(text_buf *t, const char *fmt, ...) VMESH_PRINTF(2, 3);
static void tb(text_buf *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->overflow = true;
    else
        t->len += (size_t)n;
}

/* The sections every sidecar shares in a mode: verifier (RVP sync, bell,
 * central verifier or passports) and policy. */
static void common_yaml(demo *d, text_buf *t, demo_mode m, const char *who, bool tpm)
{
    tb(t, "verifier:\n");
    tb(t, "  rvps:\n    - { name: %s, url: \"http://%s:%u\", key: %s/rvp.pub }\n", RVP_NAME, d->rvp_host,
       (unsigned)d->rvp_port, d->dir);
    tb(t, "  poll-interval: %ds\n", d->poll_s);
    tb(t, "  state-dir: %s/state/%s-%s\n", d->dir, who, mode_names[m]);
    tb(t, "  bell: { url: \"http://%s:%u/bell.jws\", key: %s/rvp.pub }\n", d->rvp_host, (unsigned)d->rvp_port,
       d->dir);
    if (m == M_CENTRAL)
        tb(t, "  central: { url: \"http://%s:%u\", key: %s/verifier.pub }\n", d->ver_host, (unsigned)d->ver_port,
           d->dir);
    if (m == M_PASSPORT) {
        tb(t, "  passport: { central: \"http://%s:%u\" }\n", d->ver_host, (unsigned)d->ver_port);
        tb(t, "  trusted-verifiers: [ %s/verifier.pub ]\n", d->dir);
    }
    tb(t, "policy:\n  inline: { modes: [ %s ] }\n", m == M_PASSPORT ? "passport" : "epoch-fresh");
    tb(t, "access-log: { file: %s/logs/%s-%s-access.log }\n", d->dir, who, mode_names[m]);
    tb(t, "limits: { workers: %d, drain-timeout: 1s, handshake-timeout: 10s, connect-timeout: 5s }\n",
       strcmp(who, "pop") == 0 ? 2 : 1);
    (void)tpm;
}

static vmesh_err write_config(demo *d, demo_mode m, int client, char *path, size_t path_len)
{
    vmesh_err rc = VMESH_OK;
    char who[16];
    static char mem[16384];
    text_buf t = {mem, 0, sizeof(mem), false};
    bool tpm = client >= 0 && d->client_tpm[client] >= 0;

    if (client < 0)
        sfmt(who, sizeof(who), "pop");
    else
        client_name(client, who, sizeof(who));
    tb(&t, "# vmesh demo sase: %s sidecar, mode %s\n", client < 0 ? "PoP (inbound)" : "client (outbound)",
       mode_names[m]);
    tb(&t, "identity:\n  cert: %s/%s-chain.pem\n  key: %s/%s.key\n  bundle: %s/ca/bundle.pem\n", d->dir, who, d->dir,
       who, d->dir);
    if (tpm) {
        int ti = d->client_tpm[client];
        tb(&t, "attester:\n  platform: tpm2\n  options:\n    tcti: \"swtpm:host=127.0.0.1,port=%u\"\n",
           (unsigned)d->tpm_port[ti]);
        /* A handle per client sharing this TPM (the same primary key, so the
         * same endorsed AK), at most 8 per TPM. */
        tb(&t, "    ak-handle: \"0x%08x\"\n", 0x81010010u + (unsigned)((client / d->ntpm) % 8));
    } else {
        tb(&t, "attester:\n  platform: psa-sim\n  options:\n    iak: %s/%s-iak.pem\n    claims: %s/%s-claims.json\n",
           d->dir, who, d->dir, who);
        tb(&t, "    measure: [ \"BL=%s/%s-fw\", \"workload=%s/%s-workload\" ]\n", d->dir, who, d->dir, who);
    }
    tb(&t, "  modes: [ %s ]\n", m == M_PASSPORT ? "passport" : "epoch-fresh");
    common_yaml(d, &t, m, who, tpm);
    if (client < 0) {
        tb(&t, "inbound:\n  - name: tenant-web\n    listen: %s:%u\n    app: 127.0.0.1:%u\n", d->pop_host,
           (unsigned)d->pop_port, (unsigned)d->app_port);
        tb(&t, "    peer: \"spiffe://%s/clients/*\"\n", TRUST_DOMAIN);
        tb(&t, "admin: { listen: \"%s:%u\" }\n", d->pop_host, (unsigned)d->pop_admin);
    } else {
        tb(&t, "outbound:\n  - name: pop\n    listen: 127.0.0.1:%u\n    upstreams: [ \"%s:%u\" ]\n    peer: %s\n",
           (unsigned)d->out_port[client], d->pop_host, (unsigned)d->pop_port, POP_ID);
        tb(&t, "admin: { listen: \"127.0.0.1:%u\" }\n", (unsigned)d->admin_port[client]);
    }
    VMESH_ENSURE(!t.overflow, VMESH_ERR_TOO_LARGE, "configuration of %s longer than %zu bytes", who, sizeof(mem));
    sfmt(path, path_len, "%s/%s-%s.yaml", d->dir, who, mode_names[m]);
    VMESH_GUARD(vmesh_file_write(path, t.p, t.len, 0644));
out:
    return rc;
}

static vmesh_err start_sidecar(demo *d, demo_mode m, int client, demo_proc *p)
{
    vmesh_err rc = VMESH_OK;
    demo_argv av = {0};
    char cfg[PATH_MAX], name[48], who[16];

    VMESH_GUARD(write_config(d, m, client, cfg, sizeof(cfg)));
    if (client < 0)
        sfmt(who, sizeof(who), "pop");
    else
        client_name(client, who, sizeof(who));
    sfmt(name, sizeof(name), "%s-%s", who, mode_names[m]);
    demo_argv_add(&av, "%s", d->exe);
    demo_argv_add(&av, "proxy");
    demo_argv_add(&av, "-c");
    demo_argv_add(&av, "%s", cfg);
    VMESH_GUARD(spawn_vmesh(d, p, name, client < 0 ? d->ns_pop : d->ns_cli, &av));
out:
    demo_argv_free(&av);
    return rc;
}

/* Stops the PoP and client sidecars of a phase; each must exit 0 at SIGTERM
 * (a drain) with nothing in its log from a sanitizer. */
static void stop_sidecars(demo *d)
{
    size_t n = (size_t)d->nclients + 1;
    demo_proc **all = calloc(n, sizeof(*all));

    if (all == NULL) {
        demo_proc *one = &d->pop;
        demo_stop(&one, 1, 10000);
        for (int i = 0; i < d->nclients; i++) {
            one = &d->clients[i];
            demo_stop(&one, 1, 10000);
        }
        return;
    }
    all[0] = &d->pop;
    for (int i = 0; i < d->nclients; i++)
        all[i + 1] = &d->clients[i];
    demo_stop(all, n, 10000);
    for (size_t i = 0; i < n; i++) {
        demo_proc *p = all[i];
        if (p->pid <= 0)
            continue;
        d->sidecar_runs++;
        if (p->reaped && WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0 &&
            !demo_file_contains(p->log, "Sanitizer") && !demo_file_contains(p->log, "runtime error"))
            d->sidecar_clean++;
        else if (d->unclean[0] == '\0') {
            char st[64];
            demo_proc_describe(p, st, sizeof(st));
            sfmt(d->unclean, sizeof(d->unclean), "%s %s (log %s)", p->name, st, p->log);
        }
        p->pid = 0;
    }
    free(all);
}

/* ---- measurements ------------------------------------------------------------------------------ */

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

    sfmt(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)d->out_port[client]);
    return demo_http_get(url, APP_MARKER, 10000, ms);
}

static vmesh_err run_requests(demo *d, demo_mode m)
{
    vmesh_err rc = VMESH_OK;
    mode_stats *s = &d->modes[m];
    size_t total = (size_t)d->nclients * (size_t)d->requests;
    double ms;

    s->ran = true;
    s->lat = calloc(total ? total : 1, sizeof(double));
    VMESH_ENSURE(s->lat != NULL, VMESH_ERR_NOMEM, "out of memory");
    for (int r = 0; r < d->requests && !demo_interrupted(); r++)
        for (int i = 0; i < d->nclients && !demo_interrupted(); i++) {
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

/* (b) Unattested peers straight at the PoP's inbound port. */
static vmesh_err unattested(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char what[160], cert[PATH_MAX], key[PATH_MAX], log[PATH_MAX], host_port[64];
    demo_argv av = {0};
    bool admitted;
    int code = -1;

    say(d, "\n== Unattested and unendorsed peers try the PoP directly (%s:%u)\n", d->pop_host, (unsigned)d->pop_port);
    sfmt(cert, sizeof(cert), "%s/c001-chain.pem", d->dir);
    sfmt(key, sizeof(key), "%s/c001.key", d->dir);
    admitted = demo_tls_probe(d->pop_host, d->pop_port, cert, key, what, sizeof(what));
    say(d, "   plain TLS 1.3 with a valid client SVID, no 0xff4d extension: %s -> %s\n", what,
        admitted ? "ADMITTED" : "refused");
    d->unattested_admitted += admitted;
    add_check(d, !admitted, "unattested: plain TLS 1.3 client with a valid SVID refused");
    admitted = demo_tls_probe(d->pop_host, d->pop_port, NULL, NULL, what, sizeof(what));
    say(d, "   plain TLS 1.3 without a client certificate: %s -> %s\n", what, admitted ? "ADMITTED" : "refused");
    d->unattested_admitted += admitted;
    add_check(d, !admitted, "unattested: TLS client without a certificate refused");

    sfmt(host_port, sizeof(host_port), "%s:%u", d->pop_host, (unsigned)d->pop_port);
    demo_argv_add(&av, "%s", d->exe);
    demo_argv_add(&av, "client");
    demo_argv_add(&av, "--connect");
    demo_argv_add(&av, "%s", host_port);
    demo_argv_add(&av, "--cert");
    demo_argv_add(&av, "%s", cert);
    demo_argv_add(&av, "--key");
    demo_argv_add(&av, "%s", key);
    demo_argv_add(&av, "--bundle");
    demo_argv_add(&av, "%s/ca/bundle.pem", d->dir);
    demo_argv_add(&av, "--plain");
    demo_argv_add(&av, "--no-attest");
    demo_argv_add(&av, "--allow-unattested");
    demo_argv_add(&av, "--deadline-ms");
    demo_argv_add(&av, "5000");
    demo_argv_add(&av, "--message");
    demo_argv_add(&av, "GET / HTTP/1.0\r\n\r\n");
    VMESH_GUARD(run_vmesh(d, "probe-plain", d->ns_cli, &av, 20000, &code));
    log_path(d, "probe-plain", log, sizeof(log));
    admitted = code == 0 && demo_file_contains(log, "HTTP/1.");
    say(d, "   vmesh client --plain (mTLS with an SVID, no 0xff4d): exit %d -> %s\n", code,
        admitted ? "ADMITTED" : "refused");
    d->unattested_admitted += admitted;
    add_check(d, !admitted, "unattested: vmesh client --plain (no 0xff4d) refused");
    demo_argv_free(&av);

    /* An attesting client whose platform the RVP never endorsed. */
    demo_argv_add(&av, "%s", d->exe);
    demo_argv_add(&av, "client");
    demo_argv_add(&av, "--connect");
    demo_argv_add(&av, "%s", host_port);
    demo_argv_add(&av, "--cert");
    demo_argv_add(&av, "%s/intruder-chain.pem", d->dir);
    demo_argv_add(&av, "--key");
    demo_argv_add(&av, "%s/intruder.key", d->dir);
    demo_argv_add(&av, "--bundle");
    demo_argv_add(&av, "%s/ca/bundle.pem", d->dir);
    demo_argv_add(&av, "--iak");
    demo_argv_add(&av, "%s/intruder-iak.pem", d->dir);
    demo_argv_add(&av, "--claims");
    demo_argv_add(&av, "%s/intruder-claims.json", d->dir);
    demo_argv_add(&av, "--measure");
    demo_argv_add(&av, "BL=%s/intruder-fw", d->dir);
    demo_argv_add(&av, "--measure");
    demo_argv_add(&av, "workload=%s/intruder-workload", d->dir);
    demo_argv_add(&av, "--attest-mode");
    demo_argv_add(&av, "epoch-fresh");
    demo_argv_add(&av, "--bell");
    demo_argv_add(&av, "%s/rvpweb/bell.jws", d->dir);
    demo_argv_add(&av, "--bell-key");
    demo_argv_add(&av, "%s/rvp.pub", d->dir);
    demo_argv_add(&av, "--rv");
    demo_argv_add(&av, "%s/rv/pop.json", d->dir);
    demo_argv_add(&av, "--deadline-ms");
    demo_argv_add(&av, "5000");
    demo_argv_add(&av, "--message");
    demo_argv_add(&av, "GET / HTTP/1.0\r\n\r\n");
    VMESH_GUARD(run_vmesh(d, "probe-intruder", d->ns_cli, &av, 20000, &code));
    log_path(d, "probe-intruder", log, sizeof(log));
    admitted = code == 0 && demo_file_contains(log, "HTTP/1.");
    say(d, "   vmesh client attesting an unendorsed psa-sim platform: exit %d%s -> %s\n", code,
        code == 2 ? " (attestation refused)" : "", admitted ? "ADMITTED" : "refused");
    add_check(d, !admitted && code == 2, "untrusted: an attesting client on an unendorsed platform refused");
out:
    demo_argv_free(&av);
    return rc;
}

/* Requests one per client, in rounds, until every client got the outcome
 * `want_admitted` or the deadline; returns the time of the last client's
 * change in ms after t0, or -1. */
static double converge(demo *d, double t0, bool want_admitted, double deadline_ms)
{
    bool *done = calloc((size_t)d->nclients, sizeof(bool));
    int left = d->nclients;
    double last = -1, ms;

    if (done == NULL)
        return -1;
    while (left > 0 && demo_now_ms() - t0 < deadline_ms && !demo_interrupted()) {
        for (int i = 0; i < d->nclients; i++) {
            if (done[i])
                continue;
            if (request(d, i, &ms) == want_admitted) {
                done[i] = true;
                left--;
                last = demo_now_ms() - t0;
            }
        }
        if (left > 0)
            demo_sleep_ms(50);
    }
    free(done);
    return left == 0 ? last : -1;
}

static vmesh_err revocation(demo *d)
{
    vmesh_err rc = VMESH_OK;
    double t0, bound_ms = d->poll_s * 1000.0 * 1.1 + 1000.0, ms;
    int n;

    d->revocation_ran = true;
    say(d, "\n== Revocation: the RVP publishes epoch %d, whose reference values no longer approve the PoP's workload\n",
        d->epoch + 1);
    VMESH_GUARD(pop_rv(d, false));
    VMESH_GUARD(publish(d));
    t0 = demo_now_ms();
    d->cutoff_ms = converge(d, t0, false, d->poll_s * 3000.0 + 10000.0);
    VMESH_ENSURE(!demo_interrupted(), VMESH_ERR_IO, "interrupted");
    n = 0;
    for (int i = 0; i < d->nclients; i++)
        n += !request(d, i, &ms);
    d->refused_after = n;
    if (d->cutoff_ms >= 0)
        say(d, "   every client refuses the PoP %.0f ms after the publication (poll interval %d s); then %d/%d refused\n",
            d->cutoff_ms, d->poll_s, n, d->nclients);
    else
        say(d, "   NOT every client cut the PoP off in time; then %d/%d refused\n", n, d->nclients);
    add_check(d, d->cutoff_ms >= 0 && d->cutoff_ms <= bound_ms,
              "revocation: every client refused the PoP within one poll interval (%d s, +10%% jitter, +1 s slack)",
              d->poll_s);
    add_check(d, n == d->nclients, "revocation: every client refuses the PoP afterwards");

    say(d, "\n== Restore: the RVP publishes epoch %d approving the PoP's workload again\n", d->epoch + 1);
    VMESH_GUARD(pop_rv(d, true));
    VMESH_GUARD(publish(d));
    t0 = demo_now_ms();
    d->restore_ms = converge(d, t0, true, d->poll_s * 3000.0 + 10000.0);
    VMESH_ENSURE(!demo_interrupted(), VMESH_ERR_IO, "interrupted");
    n = 0;
    for (int i = 0; i < d->nclients; i++)
        n += request(d, i, &ms);
    d->admitted_after_restore = n;
    if (d->restore_ms >= 0)
        say(d, "   every client admitted again %.0f ms after the publication; then %d/%d admitted\n", d->restore_ms, n,
            d->nclients);
    else
        say(d, "   NOT every client admitted again in time; then %d/%d admitted\n", n, d->nclients);
    add_check(d, n == d->nclients, "restore: every client admitted again");
out:
    return rc;
}

static vmesh_err run_mode(demo *d, demo_mode m, int step)
{
    vmesh_err rc = VMESH_OK;
    double t0 = demo_now_ms();
    char url[128];
    mode_stats *s = &d->modes[m];

    say(d, "\n== %d. Mode %s — %s\n", step, mode_names[m], mode_titles[m]);
    VMESH_GUARD(start_sidecar(d, m, -1, &d->pop));
    for (int i = 0; i < d->nclients; i++) {
        VMESH_ENSURE(!demo_interrupted(), VMESH_ERR_IO, "interrupted");
        VMESH_GUARD(start_sidecar(d, m, i, &d->clients[i]));
    }
    sfmt(url, sizeof(url), "http://%s:%u/ready", d->pop_host, (unsigned)d->pop_admin);
    VMESH_GUARD(demo_wait_http(&d->pop, url, 200, 60000));
    for (int i = 0; i < d->nclients; i++) {
        sfmt(url, sizeof(url), "http://127.0.0.1:%u/ready", (unsigned)d->admin_port[i]);
        VMESH_GUARD(demo_wait_http(&d->clients[i], url, 200, 60000));
    }
    say(d, "   PoP sidecar and %d client sidecars ready in %.1f s (configurations: %s/*-%s.yaml)\n", d->nclients,
        (demo_now_ms() - t0) / 1000.0, d->dir, mode_names[m]);
    VMESH_GUARD(run_requests(d, m));
    say(d, "   %u requests, each on a new attested connection: %u admitted, %u refused; p50 %.2f ms, p99 %.2f ms\n",
        s->attempted, s->admitted, s->refused, s->p50, s->p99);
    add_check(d, s->attempted > 0 && s->admitted == s->attempted, "%s: every client admitted (%u/%u requests)",
              mode_names[m], s->admitted, s->attempted);
    if (m == M_LOCAL) {
        VMESH_GUARD(unattested(d));
        VMESH_GUARD(revocation(d));
    }
out:
    stop_sidecars(d);
    return rc;
}

/* ---- clean-up ----------------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

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
        sfmt(path, sizeof(path), "/proc/%ld/cmdline", pid);
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
    all[n++] = &d->app;
    for (int t = 0; t < d->ntpm; t++)
        all[n++] = &d->tpm[t];
    demo_stop(all, n, 10000);
    for (size_t i = 0; i < 3; i++) /* the vmesh services exit 0 at SIGTERM */
        if (all[i]->pid > 0 && !(all[i]->reaped && WIFEXITED(all[i]->status) && WEXITSTATUS(all[i]->status) == 0)) {
            demo_proc_describe(all[i], st, sizeof(st));
            if (d->unclean[0] == '\0')
                sfmt(d->unclean, sizeof(d->unclean), "%s %s (log %s)", all[i]->name, st, all[i]->log);
            vmesh_clean = false;
        }
    if (d->sidecar_runs > 0 || d->verifier.pid > 0)
        add_check(d, vmesh_clean && d->sidecar_clean == d->sidecar_runs,
                  "every vmesh process exited 0 at SIGTERM (%u sidecar runs, RVP, verifier)", d->sidecar_runs);
    if (d->net.up) {
        if (d->home_ns >= 0 && setns(d->home_ns, CLONE_NEWNET) != 0)
            fprintf(stderr, "vmesh demo: cannot return to the original network namespace: %s\n", strerror(errno));
        sfmt(log, sizeof(log), "%s/logs/netns.log", d->dir);
        demo_net_down(&d->net, log);
    }
    if (d->dir[0]) {
        int left = leftovers(d);
        add_check(d, left == 0, "no process left running");
    }
}

/* ---- output ------------------------------------------------------------------------------------- */

static bool all_ok(const demo *d)
{
    if (d->nchecks == 0)
        return false;
    for (size_t i = 0; i < d->nchecks; i++)
        if (!d->checks[i].ok)
            return false;
    return true;
}

static json_t *ms_json(double v, bool have)
{
    return have ? json_real((double)((long long)(v * 100 + 0.5)) / 100.0) : json_null();
}

static void print_json(demo *d)
{
    json_t *o = json_object(), *modes = json_object(), *rev, *checks = json_array();
    char *s;

    for (int m = 0; m < M__COUNT; m++) {
        mode_stats *st = &d->modes[m];
        json_object_set_new(modes, mode_names[m],
                            json_pack("{s:i, s:i, s:i, s:o, s:o}", "attempted", (json_int_t)st->attempted, "admitted",
                                      (json_int_t)st->admitted, "refused", (json_int_t)st->refused, "p50_ms",
                                      ms_json(st->p50, st->nlat > 0), "p99_ms", ms_json(st->p99, st->nlat > 0)));
    }
    rev = json_pack("{s:o, s:i, s:i}", "cutoff_ms", ms_json(d->cutoff_ms, d->revocation_ran && d->cutoff_ms >= 0),
                    "refused_after", (json_int_t)d->refused_after, "admitted_after_restore",
                    (json_int_t)d->admitted_after_restore);
    for (size_t i = 0; i < d->nchecks; i++)
        json_array_append_new(checks, json_pack("{s:s, s:b}", "name", d->checks[i].name, "ok", d->checks[i].ok));
    json_object_set_new(o, "ok", json_boolean(all_ok(d)));
    json_object_set_new(o, "modes", modes);
    json_object_set_new(o, "revocation", rev);
    json_object_set_new(o, "unattested_admitted", json_integer(d->unattested_admitted));
    json_object_set_new(o, "checks", checks);
    s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(8));
    if (s)
        printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(o);
}

static void print_summary(demo *d)
{
    FILE *f = d->json ? stderr : stdout;
    size_t passed = 0;

    if (d->json && d->quiet)
        return;
    fprintf(f, "\n== Summary (%d clients, %d requests each per mode, poll interval %d s)\n\n", d->nclients, d->requests,
            d->poll_s);
    fprintf(f, "   %-9s %9s %9s %8s %9s %9s\n", "mode", "attempted", "admitted", "refused", "p50 ms", "p99 ms");
    for (int m = 0; m < M__COUNT; m++) {
        mode_stats *s = &d->modes[m];
        if (!s->ran) {
            fprintf(f, "   %-9s %9s\n", mode_names[m], "not run");
            continue;
        }
        fprintf(f, "   %-9s %9u %9u %8u %9.2f %9.2f\n", mode_names[m], s->attempted, s->admitted, s->refused, s->p50,
                s->p99);
    }
    if (d->revocation_ran)
        fprintf(f, "\n   revocation: cut off by every client after %.0f ms; refused after: %d/%d; admitted after "
                   "restore: %d/%d (after %.0f ms)\n",
                d->cutoff_ms, d->refused_after, d->nclients, d->admitted_after_restore, d->nclients, d->restore_ms);
    fprintf(f, "   unattested peers admitted: %d\n\n", d->unattested_admitted);
    for (size_t i = 0; i < d->nchecks; i++) {
        fprintf(f, "   [%s] %s\n", d->checks[i].ok ? " ok " : "FAIL", d->checks[i].name);
        passed += d->checks[i].ok;
    }
    if (d->unclean[0])
        fprintf(f, "   (first unclean stop: %s)\n", d->unclean);
    fprintf(f, "\n%s: %zu of %zu checks passed in %.1f s%s\n", all_ok(d) ? "SUCCESS" : "FAILED", passed, d->nchecks,
            (demo_now_ms() - d->t_start) / 1000.0, d->keep ? "" : "; everything stopped and removed");
    if (d->keep)
        fprintf(f, "kept: %s (configurations, logs, bundles)\n", d->dir);
    fflush(f);
}

/* ---- the scenario ------------------------------------------------------------------------------- */

static bool have_swtpm(void)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        sfmt(buf, sizeof(buf), "%.*s/swtpm", (int)len, p);
        if (access(buf, X_OK) == 0)
            return true;
        p = colon ? colon + 1 : NULL;
    }
    return false;
}

static vmesh_err prepare(demo *d)
{
    vmesh_err rc = VMESH_OK;
    ssize_t n;
    const char *tmp = getenv("TMPDIR");
    int ntpm_clients = 0;

    n = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1);
    VMESH_ENSURE(n > 0, VMESH_ERR_IO, "/proc/self/exe: %s", strerror(errno));
    d->exe[n] = '\0';
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    VMESH_ENSURE(strlen(tmp) <= 512, VMESH_ERR_ARG, "TMPDIR is longer than 512 characters");
    sfmt(d->dir, sizeof(d->dir), "%s/vmesh-demo.XXXXXX", tmp);
    if (mkdtemp(d->dir) == NULL) {
        rc = vmesh_err_set(VMESH_ERR_IO, "mkdtemp %s: %s", d->dir, strerror(errno));
        d->dir[0] = '\0';
        goto out;
    }
    d->out_port = calloc((size_t)d->nclients, sizeof(uint16_t));
    d->admin_port = calloc((size_t)d->nclients, sizeof(uint16_t));
    d->client_tpm = calloc((size_t)d->nclients, sizeof(int));
    d->clients = calloc((size_t)d->nclients, sizeof(demo_proc));
    VMESH_ENSURE(d->out_port && d->admin_port && d->client_tpm && d->clients, VMESH_ERR_NOMEM, "out of memory");
    if (d->platform == P_TPM2 || (d->platform == P_AUTO && have_swtpm())) {
        VMESH_ENSURE(have_swtpm(), VMESH_ERR_UNSUPPORTED,
                     "--platform tpm2 needs swtpm (apt-get install swtpm swtpm-tools)");
        ntpm_clients = d->platform == P_TPM2 ? d->nclients : (d->nclients < MAX_TPM ? d->nclients : MAX_TPM);
        d->ntpm = ntpm_clients < MAX_TPM ? ntpm_clients : MAX_TPM;
    }
    for (int i = 0; i < d->nclients; i++)
        d->client_tpm[i] = i < ntpm_clients ? i % d->ntpm : -1;
out:
    return rc;
}

static vmesh_err setup_network(demo *d)
{
    vmesh_err rc = VMESH_OK;
    char log[PATH_MAX];

    sfmt(d->rvp_host, sizeof(d->rvp_host), "127.0.0.1");
    sfmt(d->ver_host, sizeof(d->ver_host), "127.0.0.1");
    sfmt(d->pop_host, sizeof(d->pop_host), "127.0.0.1");
    if (!d->want_netns)
        return VMESH_OK;
    sfmt(log, sizeof(log), "%s/logs/netns.log", d->dir);
    d->home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (d->home_ns < 0 || demo_net_up(&d->net, log) != VMESH_OK) {
        say(d, "   --netns: cannot create network namespaces here (%s); falling back to loopback 127.0.0.1\n",
            d->home_ns < 0 ? strerror(errno) : vmesh_err_detail());
        return VMESH_OK;
    }
    d->ns_rvp = d->net.ns[DEMO_NS_RVP];
    d->ns_ver = d->net.ns[DEMO_NS_VERIFIER];
    d->ns_pop = d->net.ns[DEMO_NS_POP];
    d->ns_cli = d->net.ns[DEMO_NS_CLIENTS];
    sfmt(d->rvp_host, sizeof(d->rvp_host), "%s", d->net.addr[DEMO_NS_RVP]);
    sfmt(d->ver_host, sizeof(d->ver_host), "%s", d->net.addr[DEMO_NS_VERIFIER]);
    sfmt(d->pop_host, sizeof(d->pop_host), "%s", d->net.addr[DEMO_NS_POP]);
    /* We drive the clients: live in their namespace (this thread only; we are single-threaded). */
    VMESH_GUARD(demo_net_enter(d->ns_cli));
    say(d, "   network namespaces: RVP %s (%s), verifier %s (%s), PoP %s (%s), clients %s (%s), joined by a bridge\n",
        d->rvp_host, d->ns_rvp, d->ver_host, d->ns_ver, d->pop_host, d->ns_pop, d->net.addr[DEMO_NS_CLIENTS], d->ns_cli);
out:
    return rc;
}

static vmesh_err scenario(demo *d)
{
    vmesh_err rc = VMESH_OK;
    int ntpm_clients = 0, step = 5;

    for (int i = 0; i < d->nclients; i++)
        ntpm_clients += d->client_tpm[i] >= 0;
    say(d, "vmesh demo sase: %d clients, %d requests each per mode, poll interval %d s\n", d->nclients, d->requests,
        d->poll_s);
    say(d, "   files: %s%s\n", d->dir, d->keep ? " (kept)" : " (removed at the end)");
    VMESH_GUARD(setup_network(d));
    if (!d->net.up)
        say(d, "   every process listens on 127.0.0.1 (free ports)\n");
    d->pop_port = demo_free_port(false);
    d->pop_admin = demo_free_port(false);
    for (int i = 0; i < d->nclients; i++) {
        d->out_port[i] = demo_free_port(false);
        d->admin_port[i] = demo_free_port(false);
        VMESH_ENSURE(d->out_port[i] && d->admin_port[i], VMESH_ERR_IO, "no free port");
    }
    VMESH_ENSURE(d->pop_port && d->pop_admin, VMESH_ERR_IO, "no free port");

    say(d, "\n== 1. Identities and platforms\n");
    VMESH_GUARD(setup_files(d));
    say(d, "   CA for trust domain %s; SVIDs for the PoP (%s) and %d clients (spiffe://%s/clients/cNNN)\n",
        TRUST_DOMAIN, POP_ID, d->nclients, TRUST_DOMAIN);
    say(d, "   platforms: the PoP on psa-sim; %d clients on psa-sim (own IAK each)", d->nclients - ntpm_clients);
    if (ntpm_clients > 0) {
        VMESH_GUARD(start_tpms(d));
        say(d, ", %d on tpm2 (%d swtpm simulator%s, AK read at enrolment)", ntpm_clients, d->ntpm,
            d->ntpm > 1 ? "s" : "");
    }
    say(d, "\n");

    say(d, "\n== 2. RVP: signed bundle of reference values (PoP + clients), epoch bell every %d s\n", BELL_PERIOD);
    VMESH_GUARD(start_rvp(d));
    say(d, "   epoch %d published; vmesh rvp serve on http://%s:%u (manifest.jws, bell.jws, sets/)\n", d->epoch,
        d->rvp_host, (unsigned)d->rvp_port);

    say(d, "\n== 3. Central verifier (Veraison challenge-response API)\n");
    VMESH_GUARD(start_verifier(d));
    say(d, "   vmesh verifier serve on http://%s:%u, synced epoch 1 from the RVP, polls every %d s\n", d->ver_host,
        (unsigned)d->ver_port, d->poll_s);

    say(d, "\n== 4. The SASE PoP's tenant app\n");
    VMESH_GUARD(start_app(d));
    say(d, "   python3 -m http.server on 127.0.0.1:%u%s; its inbound sidecar will listen on %s:%u\n",
        (unsigned)d->app_port, d->net.up ? " (in the PoP's namespace)" : "", d->pop_host, (unsigned)d->pop_port);

    for (int k = 0; k < M__COUNT; k++)
        VMESH_GUARD(run_mode(d, run_order[k], step++));
out:
    return rc;
}

static void demo_free(demo *d)
{
    for (int m = 0; m < M__COUNT; m++)
        free(d->modes[m].lat);
    free(d->out_port);
    free(d->admin_port);
    free(d->client_tpm);
    free(d->clients);
    if (d->home_ns >= 0)
        close(d->home_ns);
}

static int demo_sase(int argc, char **argv)
{
    static const struct option opts[] = {
        {"clients", required_argument, NULL, 'n'}, {"requests", required_argument, NULL, 'r'},
        {"poll", required_argument, NULL, 'p'},    {"platform", required_argument, NULL, 'P'},
        {"netns", no_argument, NULL, 'N'},         {"json", no_argument, NULL, 'j'},
        {"keep", no_argument, NULL, 'k'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    demo d;
    int c, ret = CLI_EXIT_ERROR;
    vmesh_err rc = VMESH_OK;
    long v;
    char *end;

    memset(&d, 0, sizeof(d));
    d.nclients = 10;
    d.requests = 5;
    d.poll_s = 2;
    d.home_ns = -1;
    d.t_start = demo_now_ms();
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
        case 'r':
        case 'p':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || *end || v < 1 || v > (c == 'n' ? DEMO_MAX_CLIENTS : c == 'r' ? 1000 : 60))
                return cli_usage_error("demo", "--%s must be 1..%d, got \"%s\"",
                                       c == 'n' ? "clients" : c == 'r' ? "requests" : "poll",
                                       c == 'n' ? DEMO_MAX_CLIENTS : c == 'r' ? 1000 : 60, optarg);
            if (c == 'n')
                d.nclients = (int)v;
            else if (c == 'r')
                d.requests = (int)v;
            else
                d.poll_s = (int)v;
            break;
        case 'P':
            if (strcmp(optarg, "psa-sim") == 0 || strcmp(optarg, "psa") == 0)
                d.platform = P_PSA;
            else if (strcmp(optarg, "tpm2") == 0)
                d.platform = P_TPM2;
            else if (strcmp(optarg, "auto") == 0)
                d.platform = P_AUTO;
            else
                return cli_usage_error("demo", "--platform is psa-sim, tpm2 or auto, got \"%s\"", optarg);
            break;
        case 'N': d.want_netns = true; break;
        case 'j': d.json = true; break;
        case 'k': d.keep = true; break;
        case 'q': d.quiet = true; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("demo", "unknown option");
        }
    }
    if (optind != argc)
        return cli_usage_error("demo", "unexpected argument \"%s\"", argv[optind]);
    d.out = d.json ? stderr : stdout;
    demo_signals_install();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = prepare(&d);
    if (rc == VMESH_OK)
        rc = scenario(&d);
    if (rc != VMESH_OK) {
        fprintf(stderr, "vmesh demo: %s\n", demo_interrupted() ? "interrupted: stopping everything" : vmesh_err_detail());
        add_check(&d, false, "the demo ran to the end (%s)",
                  demo_interrupted() ? "interrupted" : vmesh_err_detail());
    }
    stop_all(&d);
    if (d.dir[0] && !d.keep)
        nftw(d.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    print_summary(&d);
    if (d.json)
        print_json(&d);
    ret = all_ok(&d) ? CLI_EXIT_OK : rc != VMESH_OK ? CLI_EXIT_ERROR : CLI_EXIT_NOT_AFFIRMED;
    demo_free(&d);
    curl_global_cleanup();
    return ret;
}

int cli_demo(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "usage: vmesh demo sase [options]   (vmesh demo sase --help)\n"
                                            "       vmesh demo ipsec [options]  (vmesh demo ipsec --help)\n");
        return argc < 2 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "sase") == 0)
        return demo_sase(argc - 1, argv + 1);
    if (strcmp(argv[1], "ipsec") == 0)
        return cli_demo_ipsec(argc - 1, argv + 1);
    return cli_usage_error("demo", "unknown scenario \"%s\" (there are: sase, ipsec)", argv[1]);
}
