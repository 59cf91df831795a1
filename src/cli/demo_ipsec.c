/*
 * `vmesh demo ipsec`: branch to data centre over attested IPsec
 * (docs/IPSEC.md), on one machine with network namespaces:
 *
 *   host-b 198.18.1.2 ── router-b 198.18.1.1 | 198.18.0.1 ══ underlay ══
 *        198.18.0.2 | 198.18.2.1 router-m ── host-m 198.18.2.2 (web server)
 *
 * Each router runs a real strongSwan charon (kernel-libipsec) and `vmesh
 * ipsec`; router-m also serves the RVP's bundle and bell. The demo checks:
 * a request from host-b to host-m fails before attestation, works once the
 * gateways attested each other, fails again within one poll interval after
 * the RVP revokes the branch's workload, and works again after the restore;
 * and that the underlay carried ESP. It must never configure anything
 * outside the namespaces it creates (all addresses in 198.18.0.0/15), and
 * stops every process and removes every namespace and file it created, on
 * every exit path (SIGINT included).
 */
#define _GNU_SOURCE
#include "cli.h"
#include "demo.h"
#include "vmesh/crypto.h"
#include "vmesh/pki.h"
#include "vmesh/vici.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TD "vmesh.test"
#define ID_B "spiffe://" TD "/gw/branch"
#define ID_M "spiffe://" TD "/gw/main"
#define CLASS_PREFIX "ipsec-demo"
#define MARKER "hello from the main data centre, through the attested tunnel"
#define CHARON "/usr/lib/ipsec/charon"
#define MAX_CHECKS 16

enum { NS_HB, NS_RB, NS_RM, NS_HM, NS__COUNT };
static const char *const ns_role[NS__COUNT] = {"hb", "rb", "rm", "hm"};

typedef struct {
    char name[200];
    bool ok;
} check;

typedef struct {
    int poll_s;
    bool json, keep, quiet;
    char exe[PATH_MAX], dir[PATH_MAX], netlog[PATH_MAX];
    FILE *out;
    char ns[NS__COUNT][32];
    bool made[NS__COUNT];
    demo_proc charon[2], gw[2], rvp, app;
    char vici[2][PATH_MAX + 8];
    check checks[MAX_CHECKS];
    size_t nchecks;
    double t_start, setup_ms, revoke_ms, restore_ms, rekey_ms;
    int esp_packets, clear_packets;
} idemo;

static void say(idemo *d, const char *fmt, ...) VMESH_PRINTF(2, 3);
static void say(idemo *d, const char *fmt, ...)
{
    va_list ap;

    if (d->quiet)
        return;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fflush(d->out);
}

static void add_check(idemo *d, bool ok, const char *fmt, ...) VMESH_PRINTF(3, 4);
static void add_check(idemo *d, bool ok, const char *fmt, ...)
{
    va_list ap;

    if (d->nchecks >= MAX_CHECKS)
        return;
    va_start(ap, fmt);
    vsnprintf(d->checks[d->nchecks].name, sizeof(d->checks[0].name), fmt, ap);
    va_end(ap);
    d->checks[d->nchecks++].ok = ok;
    say(d, "   [%s] %s\n", ok ? " ok " : "FAIL", d->checks[d->nchecks - 1].name);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh demo ipsec [--poll SECONDS] [--json] [--keep] [-q]\n"
            "\n"
            "Branch to data centre over attested IPsec, on this machine (needs root). Four\n"
            "network namespaces (host-b, router-b, router-m, host-m; addresses in 198.18.0.0/15\n"
            "that exist only inside them), a real strongSwan charon in each router namespace\n"
            "(kernel-libipsec: ESP in user space), `vmesh ipsec` beside each charon, the RVP's\n"
            "bundle and bell served from router-m, a web server on host-m. Then: host-b's\n"
            "request to host-m fails before the routers attested each other and works after;\n"
            "the underlay carries only ESP; an epoch change re-keys the tunnel; the RVP revokes\n"
            "the branch router's workload and the tunnel is cut within one poll interval; the\n"
            "RVP restores it and the tunnel comes back. docs/IPSEC.md.\n"
            "\n"
            "  --poll SECONDS   bundle poll interval of both gateways (default 2)\n"
            "  --json           print one JSON summary object on stdout (the account to stderr)\n"
            "  --keep           keep the temporary directory (configurations, logs, charon logs)\n"
            "  -q               no account, only the summary (or the JSON)\n"
            "\n"
            "exit status: 0 every check passed, 2 a check failed, 1 the demo could not run\n");
}

/* ---- commands ------------------------------------------------------------------------------ */

static void log_path(idemo *d, const char *name, char *out, size_t n)
{
    demo_sfmt(out, n, "%s/logs/%s.log", d->dir, name);
}

/* Runs a command to completion in namespace ns (NULL: ours); its exit code. */
static int run(idemo *d, const char *name, int ns, demo_argv *av, int timeout_ms)
{
    char log[PATH_MAX];
    int code = -1;

    log_path(d, name, log, sizeof(log));
    if (demo_run(name, log, d->dir, ns >= 0 ? d->ns[ns] : NULL, av, timeout_ms, false, &code) != VMESH_OK)
        code = -1;
    demo_argv_free(av);
    return code;
}

static vmesh_err ip(idemo *d, const char *fmt, ...) VMESH_PRINTF(2, 3);
static vmesh_err ip(idemo *d, const char *fmt, ...)
{
    demo_argv av = {0};
    char line[512], *save = NULL, *w;
    va_list ap;
    int code = -1;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    demo_argv_add(&av, "ip");
    for (w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save))
        demo_argv_add(&av, "%s", w);
    if (demo_run("ip", d->netlog, NULL, NULL, &av, 10000, true, &code) != VMESH_OK || code != 0) {
        demo_argv_free(&av);
        return vmesh_err_set(VMESH_ERR_IO, "ip %s: failed (see %s)", line, d->netlog);
    }
    demo_argv_free(&av);
    return VMESH_OK;
}

/* GET url from host-b; true when it answered 200 with the marker. */
static bool request(idemo *d)
{
    demo_argv av = {0};
    char out[PATH_MAX];
    bool ok;

    demo_sfmt(out, sizeof(out), "%s/got.txt", d->dir);
    unlink(out);
    demo_argv_add(&av, "curl");
    demo_argv_add(&av, "-sf");
    demo_argv_add(&av, "-m");
    demo_argv_add(&av, "2");
    demo_argv_add(&av, "-o");
    demo_argv_add(&av, "%s", out);
    demo_argv_add(&av, "http://198.18.2.2:8000/index.html");
    ok = run(d, "curl", NS_HB, &av, 5000) == 0 && demo_file_contains(out, MARKER);
    return ok;
}

static void vmesh_argv(idemo *d, demo_argv *av)
{
    demo_argv_add(av, "%s", d->exe);
}

/* ---- charon ----------------------------------------------------------------------------------- */

/* Established IKE SAs with an installed CHILD_SA in a charon; -1 when it
 * does not answer. */
static int sas_up(const char *vici)
{
    unsigned ike = 0, child = 0;

    if (cli_ipsec_sas(vici, &ike, &child) != VMESH_OK) {
        vmesh_err_clear();
        return -1;
    }
    return child > 0 ? (int)ike : 0;
}

static vmesh_err start_charon(idemo *d, int i)
{
    vmesh_err rc = VMESH_OK;
    const char *r = i == 0 ? "rb" : "rm";
    char dir[PATH_MAX], log[PATH_MAX], cmd[3 * PATH_MAX];
    demo_argv av = {0};

    demo_sfmt(dir, sizeof(dir), "%s/%s", d->dir, r);
    vmesh_argv(d, &av);
    demo_argv_add(&av, "ipsec");
    demo_argv_add(&av, "charon-conf");
    demo_argv_add(&av, "--dir");
    demo_argv_add(&av, "%s", dir);
    VMESH_ENSURE(run(d, "charon-conf", -1, &av, 10000) == 0, VMESH_ERR_IO, "vmesh ipsec charon-conf failed");
    demo_sfmt(d->vici[i], sizeof(d->vici[i]), "unix://%s/charon.vici", dir);
    /* charon's pid file is fixed at /var/run/charon.pid: each charon gets
     * its own /run through a private mount namespace */
    demo_sfmt(cmd, sizeof(cmd), "mount --bind '%s/run' /run && exec env STRONGSWAN_CONF='%s/strongswan.conf' %s", dir,
              dir, CHARON);
    demo_argv_add(&av, "unshare");
    demo_argv_add(&av, "-m");
    demo_argv_add(&av, "--propagation");
    demo_argv_add(&av, "private");
    demo_argv_add(&av, "sh");
    demo_argv_add(&av, "-c");
    demo_argv_add(&av, "%s", cmd);
    log_path(d, i == 0 ? "charon-b" : "charon-m", log, sizeof(log));
    VMESH_GUARD(demo_spawn(&d->charon[i], i == 0 ? "charon-b" : "charon-m", log, d->dir, d->ns[i == 0 ? NS_RB : NS_RM],
                           &av));
    for (int t = 0; t < 100 && sas_up(d->vici[i]) < 0; t++) {
        VMESH_ENSURE(demo_alive(&d->charon[i]) && !demo_interrupted(), VMESH_ERR_IO,
                     "charon in %s stopped (log %s, %s/charon.log)", d->ns[i == 0 ? NS_RB : NS_RM], log, dir);
        demo_sleep_ms(50);
    }
    VMESH_ENSURE(sas_up(d->vici[i]) >= 0, VMESH_ERR_TIMEOUT, "charon in %s does not answer on %s", r, d->vici[i]);
out:
    demo_argv_free(&av);
    return rc;
}

/* ---- set-up ------------------------------------------------------------------------------------- */

static vmesh_err net_up(idemo *d)
{
    vmesh_err rc = VMESH_OK;

    demo_sfmt(d->netlog, sizeof(d->netlog), "%s/logs/ip.log", d->dir);
    for (int i = 0; i < NS__COUNT; i++) {
        demo_sfmt(d->ns[i], sizeof(d->ns[i]), "vmdi%ld-%s", (long)getpid(), ns_role[i]);
        d->made[i] = true; /* an add interrupted half-way may have made it */
        VMESH_GUARD(ip(d, "netns add %s", d->ns[i]));
        VMESH_GUARD(ip(d, "-n %s link set lo up", d->ns[i]));
    }
    /* every link is created inside the namespaces: nothing in ours */
    VMESH_GUARD(ip(d, "-n %s link add lan0 type veth peer name eth0 netns %s", d->ns[NS_RB], d->ns[NS_HB]));
    VMESH_GUARD(ip(d, "-n %s link add wan0 type veth peer name wan0 netns %s", d->ns[NS_RB], d->ns[NS_RM]));
    VMESH_GUARD(ip(d, "-n %s link add lan0 type veth peer name eth0 netns %s", d->ns[NS_RM], d->ns[NS_HM]));
    VMESH_GUARD(ip(d, "-n %s addr add 198.18.1.2/24 dev eth0", d->ns[NS_HB]));
    VMESH_GUARD(ip(d, "-n %s addr add 198.18.1.1/24 dev lan0", d->ns[NS_RB]));
    VMESH_GUARD(ip(d, "-n %s addr add 198.18.0.1/24 dev wan0", d->ns[NS_RB]));
    VMESH_GUARD(ip(d, "-n %s addr add 198.18.0.2/24 dev wan0", d->ns[NS_RM]));
    VMESH_GUARD(ip(d, "-n %s addr add 198.18.2.1/24 dev lan0", d->ns[NS_RM]));
    VMESH_GUARD(ip(d, "-n %s addr add 198.18.2.2/24 dev eth0", d->ns[NS_HM]));
    VMESH_GUARD(ip(d, "-n %s link set eth0 up", d->ns[NS_HB]));
    VMESH_GUARD(ip(d, "-n %s link set lan0 up", d->ns[NS_RB]));
    VMESH_GUARD(ip(d, "-n %s link set wan0 up", d->ns[NS_RB]));
    VMESH_GUARD(ip(d, "-n %s link set wan0 up", d->ns[NS_RM]));
    VMESH_GUARD(ip(d, "-n %s link set lan0 up", d->ns[NS_RM]));
    VMESH_GUARD(ip(d, "-n %s link set eth0 up", d->ns[NS_HM]));
    VMESH_GUARD(ip(d, "-n %s route add default via 198.18.1.1", d->ns[NS_HB]));
    VMESH_GUARD(ip(d, "-n %s route add default via 198.18.2.1", d->ns[NS_HM]));
    for (int i = NS_RB; i <= NS_RM; i++) {
        /* the routers forward, but neither has a route to the other's LAN:
         * only the tunnel connects the sites */
        demo_argv av = {0};
        demo_argv_add(&av, "sysctl");
        demo_argv_add(&av, "-qw");
        demo_argv_add(&av, "net.ipv4.ip_forward=1");
        VMESH_ENSURE(run(d, "sysctl", i, &av, 5000) == 0, VMESH_ERR_IO, "sysctl ip_forward in %s failed", d->ns[i]);
    }
out:
    return rc;
}

static vmesh_err publish(idemo *d, bool branch_approved)
{
    vmesh_err rc = VMESH_OK;
    json_t *list = json_array();
    char path[PATH_MAX], hex[65];
    uint8_t md[32];
    static const char v2[] = "branch router workload v2 (not deployed here)\n";
    demo_argv av = {0};

    VMESH_ENSURE(list != NULL, VMESH_ERR_NOMEM, "out of memory");
    vmesh_crypto_sha256((const uint8_t *)v2, strlen(v2), md);
    for (size_t i = 0; i < 32; i++)
        demo_sfmt(hex + 2 * i, 3, "%02x", md[i]);
    VMESH_GUARD(demo_psa_rv_entry(d->dir, CLASS_PREFIX, "branch", branch_approved ? NULL : hex, list));
    VMESH_GUARD(demo_psa_rv_entry(d->dir, CLASS_PREFIX, "main", NULL, list));
    demo_sfmt(path, sizeof(path), "%s/rv/routers.json", d->dir);
    VMESH_GUARD(demo_rv_file(path, list));
    vmesh_argv(d, &av);
    demo_argv_add(&av, "rvp");
    demo_argv_add(&av, "publish");
    demo_argv_add(&av, "--key");
    demo_argv_add(&av, "%s/rvp.key", d->dir);
    demo_argv_add(&av, "--in");
    demo_argv_add(&av, "%s/rv", d->dir);
    demo_argv_add(&av, "--out");
    demo_argv_add(&av, "%s/rvpweb", d->dir);
    demo_argv_add(&av, "--name");
    demo_argv_add(&av, "acme");
    VMESH_ENSURE(run(d, "rvp-publish", -1, &av, 30000) == 0, VMESH_ERR_IO, "vmesh rvp publish failed (%s/logs)", d->dir);
out:
    json_decref(list);
    return rc;
}

static vmesh_err tick(idemo *d)
{
    demo_argv av = {0};

    vmesh_argv(d, &av);
    demo_argv_add(&av, "rvp");
    demo_argv_add(&av, "tick");
    demo_argv_add(&av, "--key");
    demo_argv_add(&av, "%s/bell.key", d->dir);
    demo_argv_add(&av, "--out");
    demo_argv_add(&av, "%s/rvpweb", d->dir);
    return run(d, "rvp-tick", -1, &av, 10000) == 0 ? VMESH_OK : vmesh_err_set(VMESH_ERR_IO, "vmesh rvp tick failed");
}

static vmesh_err files(idemo *d)
{
    vmesh_err rc = VMESH_OK;
    char path[PATH_MAX], prefix[PATH_MAX];
    vmesh_key *k = NULL;

    for (const char *sub = "rv\0www\0logs\0rvpweb\0"; *sub; sub += strlen(sub) + 1) {
        demo_sfmt(path, sizeof(path), "%s/%s", d->dir, sub);
        VMESH_ENSURE(mkdir(path, 0700) == 0, VMESH_ERR_IO, "mkdir %s: %s", path, strerror(errno));
    }
    demo_sfmt(path, sizeof(path), "%s/ca", d->dir);
    VMESH_GUARD(vmesh_pki_ca_init(TD, path, 0, VMESH_KEY_EC_P256));
    demo_sfmt(prefix, sizeof(prefix), "%s/branch", d->dir);
    VMESH_GUARD(vmesh_pki_ca_issue(path, ID_B, prefix, 0, VMESH_KEY_EC_P256));
    demo_sfmt(prefix, sizeof(prefix), "%s/main", d->dir);
    VMESH_GUARD(vmesh_pki_ca_issue(path, ID_M, prefix, 0, VMESH_KEY_EC_P256));
    for (const char *who = "rvp\0bell\0"; *who; who += strlen(who) + 1) {
        VMESH_GUARD(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k));
        demo_sfmt(path, sizeof(path), "%s/%s.key", d->dir, who);
        VMESH_GUARD(vmesh_crypto_key_save(k, path, true, false));
        demo_sfmt(path, sizeof(path), "%s/%s.pub", d->dir, who);
        VMESH_GUARD(vmesh_crypto_key_save(k, path, false, false));
        vmesh_crypto_key_free(k);
        k = NULL;
    }
    VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, "branch", "branch router: vmesh ipsec gateway v1\n"));
    VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, "main", "data-centre router: vmesh ipsec gateway v1\n"));
    demo_sfmt(path, sizeof(path), "%s/www/index.html", d->dir);
    VMESH_GUARD(demo_write_text(path, MARKER "\n"));
    VMESH_GUARD(publish(d, true));
    VMESH_GUARD(tick(d));
out:
    vmesh_crypto_key_free(k);
    return rc;
}

static vmesh_err start_servers(idemo *d)
{
    vmesh_err rc = VMESH_OK;
    demo_argv av = {0};
    char log[PATH_MAX];
    int t;

    vmesh_argv(d, &av);
    demo_argv_add(&av, "rvp");
    demo_argv_add(&av, "serve");
    demo_argv_add(&av, "--root");
    demo_argv_add(&av, "%s/rvpweb", d->dir);
    demo_argv_add(&av, "--listen");
    demo_argv_add(&av, "198.18.0.2:8080");
    log_path(d, "rvp-serve", log, sizeof(log));
    VMESH_GUARD(demo_spawn(&d->rvp, "rvp-serve", log, d->dir, d->ns[NS_RM], &av));
    demo_argv_free(&av);
    demo_argv_add(&av, "python3");
    demo_argv_add(&av, "-m");
    demo_argv_add(&av, "http.server");
    demo_argv_add(&av, "--bind");
    demo_argv_add(&av, "198.18.2.2");
    demo_argv_add(&av, "--directory");
    demo_argv_add(&av, "%s/www", d->dir);
    demo_argv_add(&av, "8000");
    log_path(d, "web", log, sizeof(log));
    VMESH_GUARD(demo_spawn(&d->app, "web", log, d->dir, d->ns[NS_HM], &av));
    demo_argv_free(&av);
    for (t = 0; t < 100; t++) {
        demo_argv_add(&av, "curl");
        demo_argv_add(&av, "-sf");
        demo_argv_add(&av, "-o");
        demo_argv_add(&av, "/dev/null");
        demo_argv_add(&av, "http://198.18.0.2:8080/manifest.jws");
        if (run(d, "curl-rvp", NS_RB, &av, 3000) == 0)
            break;
        VMESH_ENSURE(demo_alive(&d->rvp) && !demo_interrupted(), VMESH_ERR_IO, "vmesh rvp serve stopped (%s)", log);
        demo_sleep_ms(100);
    }
    VMESH_ENSURE(t < 100, VMESH_ERR_TIMEOUT, "the RVP does not answer on 198.18.0.2:8080");
out:
    demo_argv_free(&av);
    return rc;
}

static vmesh_err start_gateway(idemo *d, int i)
{
    vmesh_err rc = VMESH_OK;
    const char *who = i == 0 ? "branch" : "main";
    char log[PATH_MAX];
    demo_argv av = {0};

    vmesh_argv(d, &av);
    demo_argv_add(&av, "ipsec");
    demo_argv_add(&av, "--cert");
    demo_argv_add(&av, "%s/%s-chain.pem", d->dir, who);
    demo_argv_add(&av, "--key");
    demo_argv_add(&av, "%s/%s.key", d->dir, who);
    demo_argv_add(&av, "--bundle");
    demo_argv_add(&av, "%s/ca/bundle.pem", d->dir);
    demo_argv_add(&av, "--platform");
    demo_argv_add(&av, "psa");
    demo_argv_add(&av, "--iak");
    demo_argv_add(&av, "%s/%s-iak.pem", d->dir, who);
    demo_argv_add(&av, "--claims");
    demo_argv_add(&av, "%s/%s-claims.json", d->dir, who);
    demo_argv_add(&av, "--measure");
    demo_argv_add(&av, "BL=%s/%s-fw", d->dir, who);
    demo_argv_add(&av, "--measure");
    demo_argv_add(&av, "workload=%s/%s-workload", d->dir, who);
    demo_argv_add(&av, "--rvp");
    demo_argv_add(&av, "acme,http://198.18.0.2:8080,%s/rvp.pub", d->dir);
    demo_argv_add(&av, "--state-dir");
    demo_argv_add(&av, "%s/%s-state", d->dir, who);
    demo_argv_add(&av, "--poll");
    demo_argv_add(&av, "%d", d->poll_s);
    demo_argv_add(&av, "--bell-key");
    demo_argv_add(&av, "%s/bell.pub", d->dir);
    demo_argv_add(&av, "--retry");
    demo_argv_add(&av, "1");
    demo_argv_add(&av, "--vici");
    demo_argv_add(&av, "%s", d->vici[i]);
    demo_argv_add(&av, "--access-log");
    demo_argv_add(&av, "%s/logs/%s-access.log", d->dir, who);
    demo_argv_add(&av, "--admin");
    demo_argv_add(&av, "127.0.0.1:9100");
    demo_argv_add(&av, "--peer");
    if (i == 0) {
        demo_argv_add(&av, "name=main,id=" ID_M ",connect=198.18.0.2:7443,local-ts=198.18.1.0/24,"
                           "remote-ts=198.18.2.0/24");
    } else {
        demo_argv_add(&av, "name=branch,id=" ID_B ",remote-addr=198.18.0.1,local-ts=198.18.2.0/24,"
                           "remote-ts=198.18.1.0/24");
        demo_argv_add(&av, "--listen");
        demo_argv_add(&av, "198.18.0.2:7443");
    }
    log_path(d, i == 0 ? "gateway-branch" : "gateway-main", log, sizeof(log));
    VMESH_GUARD(demo_spawn(&d->gw[i], i == 0 ? "gateway-branch" : "gateway-main", log, d->dir,
                           d->ns[i == 0 ? NS_RB : NS_RM], &av));
    VMESH_GUARD(demo_wait_log(&d->gw[i], "serving 1 peer gateways", 30000));
out:
    demo_argv_free(&av);
    return rc;
}

/* ---- the scenario -------------------------------------------------------------------------------- */

/* Waits until both charons have (want true) or neither has (false) a
 * working SA; the time it took in ms, or -1 at the deadline. */
static double wait_tunnel(idemo *d, bool want, double t0, int timeout_ms)
{
    while (demo_now_ms() - t0 < timeout_ms && !demo_interrupted()) {
        int b = sas_up(d->vici[0]), m = sas_up(d->vici[1]);
        if (want ? (b > 0 && m > 0) : (m == 0))
            return demo_now_ms() - t0;
        demo_sleep_ms(20);
    }
    return -1;
}

static vmesh_err capture_esp(idemo *d)
{
    vmesh_err rc = VMESH_OK;
    demo_argv av = {0};
    demo_proc td, *tp = &td;
    char log[PATH_MAX], pcap[PATH_MAX], line[512];
    FILE *f = NULL;

    demo_sfmt(pcap, sizeof(pcap), "%s/wan.pcap", d->dir);
    demo_argv_add(&av, "tcpdump");
    demo_argv_add(&av, "--immediate-mode");
    demo_argv_add(&av, "-Z");
    demo_argv_add(&av, "root");
    demo_argv_add(&av, "-n");
    demo_argv_add(&av, "-i");
    demo_argv_add(&av, "wan0");
    demo_argv_add(&av, "-w");
    demo_argv_add(&av, "%s", pcap);
    demo_argv_add(&av, "udp");
    log_path(d, "tcpdump", log, sizeof(log));
    VMESH_GUARD(demo_spawn(&td, "tcpdump", log, d->dir, d->ns[NS_RM], &av));
    demo_argv_free(&av);
    demo_sleep_ms(1000);
    for (int i = 0; i < 3; i++)
        (void)request(d);
    demo_sleep_ms(500);
    demo_stop(&tp, 1, 3000);
    demo_sfmt(line, sizeof(line), "tcpdump -n -r '%s' 2>/dev/null", pcap);
    f = popen(line, "r");
    VMESH_ENSURE(f != NULL, VMESH_ERR_IO, "tcpdump -r: %s", strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "UDP-encap: ESP") != NULL)
            d->esp_packets++;
        else if (strstr(line, "198.18.1.") != NULL || strstr(line, "198.18.2.") != NULL)
            d->clear_packets++;
    }
    pclose(f);
out:
    demo_argv_free(&av);
    return rc;
}

static bool have(const char *path)
{
    return access(path, X_OK) == 0;
}

static bool in_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        demo_sfmt(buf, sizeof(buf), "%.*s/%s", (int)len, p, name);
        if (have(buf))
            return true;
        p = colon ? colon + 1 : NULL;
    }
    return false;
}

static vmesh_err prepare(idemo *d)
{
    vmesh_err rc = VMESH_OK;
    const char *tmp = getenv("TMPDIR");
    ssize_t n;

    VMESH_ENSURE(geteuid() == 0, VMESH_ERR_UNSUPPORTED,
                 "vmesh demo ipsec needs root (network namespaces, charon's TUN device)");
    VMESH_ENSURE(have(CHARON), VMESH_ERR_UNSUPPORTED, "strongSwan's charon is not installed at " CHARON
                 " (apt-get install strongswan-charon libcharon-extra-plugins libstrongswan-standard-plugins)");
    VMESH_ENSURE(access("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so", R_OK) == 0 &&
                     access("/usr/lib/ipsec/plugins/libstrongswan-openssl.so", R_OK) == 0,
                 VMESH_ERR_UNSUPPORTED,
                 "charon's kernel-libipsec or openssl plugin is missing (apt-get install libcharon-extra-plugins "
                 "libstrongswan-standard-plugins)");
    for (const char *t = "ip\0unshare\0curl\0python3\0tcpdump\0"; *t; t += strlen(t) + 1)
        VMESH_ENSURE(in_path(t), VMESH_ERR_UNSUPPORTED, "%s is not installed (scripts/install-deps.sh)", t);
    n = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1);
    VMESH_ENSURE(n > 0, VMESH_ERR_IO, "/proc/self/exe: %s", strerror(errno));
    d->exe[n] = '\0';
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    VMESH_ENSURE(strlen(tmp) <= 400, VMESH_ERR_ARG, "TMPDIR is longer than 400 characters");
    demo_sfmt(d->dir, sizeof(d->dir), "%s/vmesh-demo-ipsec.XXXXXX", tmp);
    if (mkdtemp(d->dir) == NULL) {
        rc = vmesh_err_set(VMESH_ERR_IO, "mkdtemp %s: %s", d->dir, strerror(errno));
        d->dir[0] = '\0';
    }
out:
    return rc;
}

static vmesh_err scenario(idemo *d)
{
    vmesh_err rc = VMESH_OK;
    double t0, ms;

    say(d, "vmesh demo ipsec: branch router and main router over attested IPsec (poll interval %d s)\n\n",
        d->poll_s);
    say(d, "1. network: host-b 198.18.1.2 - router-b - underlay 198.18.0.0/24 - router-m - host-m 198.18.2.2\n");
    VMESH_GUARD(net_up(d));
    say(d, "   namespaces vmdi%ld-{hb,rb,rm,hm}; the routers forward but have no route to each other's LAN\n",
        (long)getpid());
    VMESH_GUARD(files(d));
    VMESH_GUARD(start_servers(d));
    say(d, "2. strongSwan charon in each router namespace (kernel-libipsec: this demo does not need ESP in the "
           "kernel)\n");
    VMESH_GUARD(start_charon(d, 0));
    VMESH_GUARD(start_charon(d, 1));
    add_check(d, !request(d), "before attestation, host-b's request to host-m fails (no tunnel, no route)");
    say(d, "3. vmesh ipsec on both routers: attested TLS, each appraises the other; IKE credential from the "
           "session's exporter\n");
    VMESH_GUARD(start_gateway(d, 1));
    t0 = demo_now_ms();
    VMESH_GUARD(start_gateway(d, 0));
    ms = wait_tunnel(d, true, t0, 30000);
    d->setup_ms = ms;
    add_check(d, ms >= 0, "tunnel up after mutual attestation (%.0f ms from starting the branch gateway)", ms);
    add_check(d, request(d), "host-b's request reaches host-m through the tunnel");
    VMESH_GUARD(capture_esp(d));
    add_check(d, d->esp_packets > 0 && d->clear_packets == 0,
              "the underlay carries ESP only (%d ESP-in-UDP packets, %d between the LANs in clear)", d->esp_packets,
              d->clear_packets);
    say(d, "4. the epoch bell rings: both gateways attest again, the IKE SA is re-authenticated make-before-break\n");
    {
        char log[PATH_MAX];
        log_path(d, "gateway-branch", log, sizeof(log));
        VMESH_GUARD(tick(d));
        t0 = demo_now_ms();
        while (demo_now_ms() - t0 < (d->poll_s + 10) * 1000.0 && !demo_file_contains(log, "re-keyed for epoch 2") &&
               !demo_interrupted())
            demo_sleep_ms(50);
        d->rekey_ms = demo_file_contains(log, "re-keyed for epoch 2") ? demo_now_ms() - t0 : -1;
        add_check(d, d->rekey_ms >= 0 && request(d), "re-keyed for the new epoch, requests still reach host-m");
    }
    say(d, "5. the RVP revokes the branch router's workload\n");
    VMESH_GUARD(publish(d, false));
    t0 = demo_now_ms();
    ms = wait_tunnel(d, false, t0, (d->poll_s + 10) * 1000);
    d->revoke_ms = ms;
    add_check(d, ms >= 0 && ms <= d->poll_s * 1100.0 + 1000.0,
              "the main gateway cut the tunnel within one poll interval (%.0f ms)", ms);
    add_check(d, !request(d), "host-b's request fails after the revocation");
    say(d, "6. the RVP restores it\n");
    VMESH_GUARD(publish(d, true));
    t0 = demo_now_ms();
    ms = wait_tunnel(d, true, t0, (d->poll_s + 15) * 1000);
    d->restore_ms = ms;
    add_check(d, ms >= 0 && request(d), "tunnel back after the restore (%.0f ms)", ms);
out:
    return rc;
}

/* ---- clean-up ------------------------------------------------------------------------------------- */

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

static void stop_all(idemo *d)
{
    /* the gateways first: they remove their credentials from charon */
    demo_proc *gws[] = {&d->gw[0], &d->gw[1]};
    demo_proc *rest[] = {&d->charon[0], &d->charon[1], &d->rvp, &d->app};

    demo_stop(gws, 2, 10000);
    demo_stop(rest, 4, 5000);
    for (int i = NS__COUNT - 1; i >= 0; i--) {
        demo_argv av = {0};
        int code;
        if (!d->made[i])
            continue;
        demo_argv_add(&av, "ip");
        demo_argv_add(&av, "netns");
        demo_argv_add(&av, "del");
        demo_argv_add(&av, "%s", d->ns[i]);
        if (demo_run("ip", d->netlog, NULL, NULL, &av, 10000, true, &code) == VMESH_OK && code == 0)
            d->made[i] = false;
        demo_argv_free(&av);
    }
}

static bool all_ok(const idemo *d)
{
    if (d->nchecks == 0)
        return false;
    for (size_t i = 0; i < d->nchecks; i++)
        if (!d->checks[i].ok)
            return false;
    return true;
}

static void summary(idemo *d)
{
    FILE *f = d->json ? stderr : stdout;
    size_t passed = 0;

    for (size_t i = 0; i < d->nchecks; i++)
        passed += d->checks[i].ok;
    if (!(d->json && d->quiet)) {
        fprintf(f, "\n== Summary (poll interval %d s)\n\n", d->poll_s);
        fprintf(f, "   %-44s %10s\n", "step", "ms");
        fprintf(f, "   %-44s %10.0f\n", "start branch gateway -> tunnel up", d->setup_ms);
        fprintf(f, "   %-44s %10.0f\n", "bell tick -> re-keyed (make-before-break)", d->rekey_ms);
        fprintf(f, "   %-44s %10.0f\n", "revocation published -> SA gone", d->revoke_ms);
        fprintf(f, "   %-44s %10.0f\n", "restore published -> tunnel back", d->restore_ms);
        fprintf(f, "\n%s: %zu of %zu checks passed in %.1f s%s\n", all_ok(d) ? "SUCCESS" : "FAILED", passed,
                d->nchecks, (demo_now_ms() - d->t_start) / 1000.0,
                d->keep ? "" : "; everything stopped and removed");
        if (d->keep)
            fprintf(f, "kept: %s (logs/, rb/ and rm/ hold each charon's strongswan.conf and charon.log)\n", d->dir);
    }
    if (d->json) {
        json_t *o = json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:i, s:i, s:b}", "demo", "ipsec", "poll_seconds",
                              d->poll_s, "setup_ms", d->setup_ms, "rekey_ms", d->rekey_ms, "revocation_ms",
                              d->revoke_ms, "restore_ms", d->restore_ms, "esp_packets", d->esp_packets,
                              "clear_packets", d->clear_packets, "success", all_ok(d));
        json_t *checks = json_array();
        char *s;
        for (size_t i = 0; o && checks && i < d->nchecks; i++)
            json_array_append_new(checks, json_pack("{s:s, s:b}", "check", d->checks[i].name, "ok", d->checks[i].ok));
        if (o && checks)
            json_object_set_new(o, "checks", checks);
        s = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(8)) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    }
    fflush(NULL);
}

int cli_demo_ipsec(int argc, char **argv)
{
    static const struct option opts[] = {
        {"poll", required_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'}, {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    idemo d;
    vmesh_err rc;
    int c, ret;

    memset(&d, 0, sizeof(d));
    d.poll_s = 2;
    d.setup_ms = d.revoke_ms = d.restore_ms = d.rekey_ms = -1;
    d.t_start = demo_now_ms();
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 60)
                return cli_usage_error("demo ipsec", "--poll: 1..60 seconds, got \"%s\"", optarg);
            d.poll_s = (int)v;
            break;
        }
        case 'j': d.json = true; break;
        case 'k': d.keep = true; break;
        case 'q': d.quiet = true; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("demo ipsec", "unknown option");
        }
    }
    if (optind != argc)
        return cli_usage_error("demo ipsec", "unexpected argument \"%s\"", argv[optind]);
    d.out = d.json ? stderr : stdout;
    demo_signals_install();
    rc = prepare(&d);
    if (rc == VMESH_OK)
        rc = scenario(&d);
    if (rc != VMESH_OK) {
        fprintf(stderr, "vmesh demo ipsec: %s\n",
                demo_interrupted() ? "interrupted: stopping everything" : vmesh_err_detail());
        add_check(&d, false, "the demo ran to the end (%s)", demo_interrupted() ? "interrupted" : vmesh_err_detail());
    }
    stop_all(&d);
    if (d.dir[0] && !d.keep)
        nftw(d.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    summary(&d);
    ret = all_ok(&d) ? CLI_EXIT_OK : rc != VMESH_OK ? CLI_EXIT_ERROR : CLI_EXIT_NOT_AFFIRMED;
    return ret;
}
