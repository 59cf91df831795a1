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
 * every exit path (SIGINT included). The harness (processes, namespaces,
 * platforms and reference values) is the demo module's (demo.h).
 */
#define _GNU_SOURCE
#include "demo.h"

#include "vmesh/pki.h"
#include "vmesh/vici.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TD "vmesh.test"
#define ID_B "spiffe://" TD "/gw/branch"
#define ID_M "spiffe://" TD "/gw/main"
#define CLASS_PREFIX "ipsec-demo"
#define MARKER "hello from the main data centre, through the attested tunnel"
#define CHARON "/usr/lib/ipsec/charon"

enum { NS_HB, NS_RB, NS_RM, NS_HM, NS__COUNT };
static const char *const ns_role[NS__COUNT] = {"hb", "rb", "rm", "hm"};

typedef struct {
    demo_opts opt;
    demo_account acc;
    char exe[PATH_MAX], dir[PATH_MAX], netlog[PATH_MAX];
    char ns[NS__COUNT][32];
    bool made[NS__COUNT];
    demo_proc charon[2], gw[2], rvp, app;
    char vici[2][PATH_MAX + 8];
    double setup_ms, revoke_ms, restore_ms, rekey_ms;
    int esp_packets, clear_packets;
} idemo;

/* ---- commands ------------------------------------------------------------------------------ */

/* GET url from host-b; true when it answered 200 with the marker. */
static bool request(idemo *d)
{
    char out[PATH_MAX];

    demo_sfmt(out, sizeof(out), "%s/got.txt", d->dir);
    unlink(out);
    return demo_runf(d->dir, d->ns[NS_HB], "curl", 5000, NULL,
                     "curl -sf -m 2 -o %s http://198.18.2.2:8000/index.html", out) == VMESH_OK &&
           demo_file_contains(out, MARKER);
}

/* ---- charon -----------------------------------------------------------------------------------
 */

typedef struct {
    unsigned ike, child;
} sa_count;

static vmesh_err count_sa(void *ctx, const vmesh_vici_msg *ev)
{
    sa_count *n = ctx;

    for (const vmesh_vici_node *ike = vmesh_vici_node_first(vmesh_vici_msg_root(ev)); ike;
         ike = vmesh_vici_node_next(ike)) {
        const char *st = vmesh_vici_node_str(ike, "state");
        if (st == NULL || strcmp(st, "ESTABLISHED") != 0)
            continue;
        n->ike++;
        for (const vmesh_vici_node *c =
                 vmesh_vici_node_first(vmesh_vici_node_get(ike, "child-sas"));
             c; c = vmesh_vici_node_next(c)) {
            const char *cs = vmesh_vici_node_str(c, "state");
            n->child += cs != NULL && strcmp(cs, "INSTALLED") == 0;
        }
    }
    return VMESH_OK;
}

/* Established IKE SAs and installed CHILD_SAs in the charon at vici uri. */
static vmesh_err count_sas(const char *uri, unsigned *ike, unsigned *child)
{
    vmesh_err rc = VMESH_OK;
    vmesh_vici *v = NULL;
    vmesh_vici_msg *m = NULL;
    vmesh_vici_builder b;
    sa_count n = {0, 0};

    vmesh_vici_build_init(&b);
    vmesh_vici_add_str(&b, "noblock", "yes");
    VMESH_GUARD(vmesh_vici_connect(uri, 2000, &v));
    VMESH_GUARD(vmesh_vici_call_stream(v, "list-sas", &b, "list-sa", count_sa, &n, &m));
    *ike = n.ike;
    *child = n.child;
out:
    vmesh_vici_msg_free(m);
    vmesh_vici_close(v);
    vmesh_vici_build_free(&b);
    return rc;
}

/* Established IKE SAs with an installed CHILD_SA in a charon; -1 when it
 * does not answer. */
static int sas_up(const char *vici)
{
    unsigned ike = 0, child = 0;

    if (count_sas(vici, &ike, &child) != VMESH_OK) {
        vmesh_err_clear();
        return -1;
    }
    return child > 0 ? (int)ike : 0;
}

static vmesh_err start_charon(idemo *d, int i)
{
    vmesh_err rc = VMESH_OK;
    const char *r = i == 0 ? "rb" : "rm", *name = i == 0 ? "charon-b" : "charon-m";
    char dir[PATH_MAX], cmd[3 * PATH_MAX];

    demo_sfmt(dir, sizeof(dir), "%s/%s", d->dir, r);
    VMESH_ENSURE(demo_runf(d->dir, NULL, "charon-conf", 10000, NULL,
                           "%s ipsec charon-conf --dir %s", d->exe, dir) == 0,
                 VMESH_ERR_IO, "vmesh ipsec charon-conf failed");
    demo_sfmt(d->vici[i], sizeof(d->vici[i]), "unix://%s/charon.vici", dir);
    /* charon's pid file is fixed at /var/run/charon.pid: each charon gets
     * its own /run through a private mount namespace */
    demo_sfmt(cmd, sizeof(cmd),
              "mount --bind '%s/run' /run && exec env STRONGSWAN_CONF='%s/strongswan.conf' %s", dir,
              dir, CHARON);
    VMESH_GUARD(demo_spawnf(&d->charon[i], d->dir, d->ns[i == 0 ? NS_RB : NS_RM], name,
                            "unshare -m --propagation private sh -c %s", cmd));
    for (int t = 0; t < 100 && sas_up(d->vici[i]) < 0; t++) {
        VMESH_ENSURE(demo_alive(&d->charon[i]) && !demo_interrupted(), VMESH_ERR_IO,
                     "charon in %s stopped (log %s, %s/charon.log)", d->ns[i == 0 ? NS_RB : NS_RM],
                     d->charon[i].log, dir);
        demo_sleep_ms(50);
    }
    VMESH_ENSURE(sas_up(d->vici[i]) >= 0, VMESH_ERR_TIMEOUT, "charon in %s does not answer on %s",
                 r, d->vici[i]);
out:
    return rc;
}

/* ---- set-up -------------------------------------------------------------------------------------
 */

static vmesh_err net_up(idemo *d)
{
    vmesh_err rc = VMESH_OK;
    const char *l = d->netlog, *w = "network";

    demo_sfmt(d->netlog, sizeof(d->netlog), "%s/logs/ip.log", d->dir);
    for (int i = 0; i < NS__COUNT; i++) {
        demo_sfmt(d->ns[i], sizeof(d->ns[i]), "vmdi%ld-%s", (long)getpid(), ns_role[i]);
        d->made[i] = true; /* an add interrupted half-way may have made it */
        VMESH_GUARD(demo_ip(l, w, true, "netns add %s", d->ns[i]));
        VMESH_GUARD(demo_ip(l, w, true, "-n %s link set lo up", d->ns[i]));
    }
    /* every link is created inside the namespaces: nothing in ours */
    VMESH_GUARD(demo_ip(l, w, true, "-n %s link add lan0 type veth peer name eth0 netns %s",
                        d->ns[NS_RB], d->ns[NS_HB]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s link add wan0 type veth peer name wan0 netns %s",
                        d->ns[NS_RB], d->ns[NS_RM]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s link add lan0 type veth peer name eth0 netns %s",
                        d->ns[NS_RM], d->ns[NS_HM]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s addr add 198.18.1.2/24 dev eth0", d->ns[NS_HB]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s addr add 198.18.1.1/24 dev lan0", d->ns[NS_RB]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s addr add 198.18.0.1/24 dev wan0", d->ns[NS_RB]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s addr add 198.18.0.2/24 dev wan0", d->ns[NS_RM]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s addr add 198.18.2.1/24 dev lan0", d->ns[NS_RM]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s addr add 198.18.2.2/24 dev eth0", d->ns[NS_HM]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s link set eth0 up", d->ns[NS_HB]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s link set lan0 up", d->ns[NS_RB]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s link set wan0 up", d->ns[NS_RB]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s link set wan0 up", d->ns[NS_RM]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s link set lan0 up", d->ns[NS_RM]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s link set eth0 up", d->ns[NS_HM]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s route add default via 198.18.1.1", d->ns[NS_HB]));
    VMESH_GUARD(demo_ip(l, w, true, "-n %s route add default via 198.18.2.1", d->ns[NS_HM]));
    /* the routers forward, but neither has a route to the other's LAN:
     * only the tunnel connects the sites */
    for (int i = NS_RB; i <= NS_RM; i++)
        VMESH_ENSURE(demo_runf(d->dir, d->ns[i], "sysctl", 5000, NULL,
                               "sysctl -qw net.ipv4.ip_forward=1") == VMESH_OK,
                     VMESH_ERR_IO, "sysctl ip_forward in %s failed", d->ns[i]);
out:
    return rc;
}

/* The RVP publishes both routers' reference values, the branch's workload
 * approved or not (revoked: it approves a v2 the branch does not run). */
static vmesh_err publish(idemo *d, bool branch_approved)
{
    static const char *const routers[] = {"branch", "main", NULL};
    vmesh_err rc = VMESH_OK;
    char path[PATH_MAX];

    demo_sfmt(path, sizeof(path), "%s/rv/routers.json", d->dir);
    VMESH_GUARD(demo_psa_rv_file(
        d->dir, path, routers,
        branch_approved ? NULL : "branch router workload v2 (not deployed here)\n"));
    VMESH_GUARD(demo_runf(d->dir, NULL, "rvp-publish", 30000, NULL,
                          "%s rvp publish --key %s/rvp.key --in %s/rv --out %s/rvpweb --name acme",
                          d->exe, d->dir, d->dir, d->dir));
out:
    return rc;
}

static vmesh_err tick(idemo *d)
{
    return demo_runf(d->dir, NULL, "rvp-tick", 10000, NULL,
                     "%s rvp tick --key %s/bell.key --out %s/rvpweb", d->exe, d->dir,
                     d->dir) == VMESH_OK
               ? VMESH_OK
               : vmesh_err_set(VMESH_ERR_IO, "vmesh rvp tick failed");
}

static vmesh_err files(idemo *d)
{
    vmesh_err rc = VMESH_OK;
    char path[PATH_MAX], prefix[PATH_MAX];

    VMESH_GUARD(demo_mkdirs(d->dir, "rv\0www\0logs\0rvpweb\0"));
    demo_sfmt(path, sizeof(path), "%s/ca", d->dir);
    VMESH_GUARD(vmesh_pki_ca_init(TD, path, 0, VMESH_KEY_EC_P256));
    demo_sfmt(prefix, sizeof(prefix), "%s/branch", d->dir);
    VMESH_GUARD(vmesh_pki_ca_issue(path, ID_B, prefix, 0, VMESH_KEY_EC_P256));
    demo_sfmt(prefix, sizeof(prefix), "%s/main", d->dir);
    VMESH_GUARD(vmesh_pki_ca_issue(path, ID_M, prefix, 0, VMESH_KEY_EC_P256));
    VMESH_GUARD(demo_keypair(d->dir, "rvp"));
    VMESH_GUARD(demo_keypair(d->dir, "bell"));
    VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, "branch",
                                  "branch router: vmesh ipsec gateway v1\n"));
    VMESH_GUARD(demo_psa_platform(d->dir, CLASS_PREFIX, "main",
                                  "data-centre router: vmesh ipsec gateway v1\n"));
    demo_sfmt(path, sizeof(path), "%s/www/index.html", d->dir);
    VMESH_GUARD(demo_write_text(path, MARKER "\n"));
    VMESH_GUARD(publish(d, true));
    VMESH_GUARD(tick(d));
out:
    return rc;
}

static vmesh_err start_servers(idemo *d)
{
    vmesh_err rc = VMESH_OK;
    int t;

    VMESH_GUARD(demo_spawnf(&d->rvp, d->dir, d->ns[NS_RM], "rvp-serve",
                            "%s rvp serve --root %s/rvpweb --listen 198.18.0.2:8080", d->exe,
                            d->dir));
    VMESH_GUARD(demo_spawnf(&d->app, d->dir, d->ns[NS_HM], "web",
                            "python3 -m http.server --bind 198.18.2.2 --directory %s/www 8000",
                            d->dir));
    for (t = 0; t < 100; t++) {
        if (demo_runf(d->dir, d->ns[NS_RB], "curl-rvp", 3000, NULL,
                      "curl -sf -o /dev/null http://198.18.0.2:8080/manifest.jws") == VMESH_OK)
            break;
        VMESH_ENSURE(demo_alive(&d->rvp) && !demo_interrupted(), VMESH_ERR_IO,
                     "vmesh rvp serve stopped (%s)", d->rvp.log);
        demo_sleep_ms(100);
    }
    VMESH_ENSURE(t < 100, VMESH_ERR_TIMEOUT, "the RVP does not answer on 198.18.0.2:8080");
out:
    return rc;
}

static vmesh_err start_gateway(idemo *d, int i)
{
    vmesh_err rc = VMESH_OK;
    const char *who = i == 0 ? "branch" : "main",
               *name = i == 0 ? "gateway-branch" : "gateway-main";
    char log[PATH_MAX];
    demo_psa_files f;
    demo_argv av = {0};

    demo_psa_files_of(d->dir, who, &f);
    demo_argv_add(&av, "%s ipsec --cert %s/%s-chain.pem --key %s/%s.key --bundle %s/ca/bundle.pem",
                  d->exe, d->dir, who, d->dir, who, d->dir);
    demo_argv_add(&av, "--platform psa --iak %s --claims %s --measure BL=%s --measure workload=%s",
                  f.iak, f.claims, f.fw, f.workload);
    demo_argv_add(&av,
                  "--rvp acme,http://198.18.0.2:8080,%s/rvp.pub --state-dir %s/%s-state --poll %d",
                  d->dir, d->dir, who, d->opt.poll_s);
    demo_argv_add(&av,
                  "--bell-key %s/bell.pub --retry 1 --vici %s --access-log %s/logs/%s-access.log",
                  d->dir, d->vici[i], d->dir, who);
    demo_argv_add(&av, "--admin 127.0.0.1:9100 --peer %s",
                  i == 0
                      ? "name=main,id=" ID_M
                        ",connect=198.18.0.2:7443,local-ts=198.18.1.0/24,remote-ts=198.18.2.0/24"
                      : "name=branch,id=" ID_B
                        ",remote-addr=198.18.0.1,local-ts=198.18.2.0/24,remote-ts=198.18.1.0/24");
    if (i == 1)
        demo_argv_add(&av, "--listen 198.18.0.2:7443");
    demo_sfmt(log, sizeof(log), "%s/logs/%s.log", d->dir, name);
    VMESH_GUARD(demo_spawn(&d->gw[i], name, log, d->dir, d->ns[i == 0 ? NS_RB : NS_RM], &av));
    VMESH_GUARD(demo_wait_log(&d->gw[i], "serving 1 peer gateways", DEMO_START_MS));
out:
    demo_argv_free(&av);
    return rc;
}

/* ---- the scenario
 * -------------------------------------------------------------------------------- */

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
    demo_proc td, *tp = &td;
    char pcap[PATH_MAX], line[512];
    FILE *f = NULL;

    demo_sfmt(pcap, sizeof(pcap), "%s/wan.pcap", d->dir);
    VMESH_GUARD(demo_spawnf(&td, d->dir, d->ns[NS_RM], "tcpdump",
                            "tcpdump --immediate-mode -Z root -n -i wan0 -w %s udp", pcap));
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
    return rc;
}

static vmesh_err prepare(idemo *d)
{
    vmesh_err rc = VMESH_OK;

    VMESH_ENSURE(geteuid() == 0, VMESH_ERR_UNSUPPORTED,
                 "vmesh demo ipsec needs root (network namespaces, charon's TUN device)");
    VMESH_ENSURE(access(CHARON, X_OK) == 0, VMESH_ERR_UNSUPPORTED,
                 "strongSwan's charon is not installed at " CHARON
                 " (apt-get install strongswan-charon libcharon-extra-plugins "
                 "libstrongswan-standard-plugins)");
    VMESH_ENSURE(access("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so", R_OK) == 0 &&
                     access("/usr/lib/ipsec/plugins/libstrongswan-openssl.so", R_OK) == 0,
                 VMESH_ERR_UNSUPPORTED,
                 "charon's kernel-libipsec or openssl plugin is missing (apt-get install "
                 "libcharon-extra-plugins "
                 "libstrongswan-standard-plugins)");
    for (const char *t = "ip\0unshare\0curl\0python3\0tcpdump\0"; *t; t += strlen(t) + 1)
        VMESH_ENSURE(demo_in_path(t), VMESH_ERR_UNSUPPORTED,
                     "%s is not installed (scripts/install-deps.sh)", t);
    VMESH_GUARD(demo_workdir("vmesh-demo-ipsec", d->exe, d->dir));
out:
    return rc;
}

static vmesh_err scenario(idemo *d)
{
    vmesh_err rc = VMESH_OK;
    double t0, ms;

    VMESH_GUARD(prepare(d));
    demo_say(&d->acc,
             "vmesh demo ipsec: branch router and main router over attested IPsec (poll interval "
             "%d s)\n\n",
             d->opt.poll_s);
    demo_say(&d->acc, "1. network: host-b 198.18.1.2 - router-b - underlay 198.18.0.0/24 - "
                      "router-m - host-m 198.18.2.2\n");
    VMESH_GUARD(net_up(d));
    demo_say(&d->acc,
             "   namespaces vmdi%ld-{hb,rb,rm,hm}; the routers forward but have no route to each "
             "other's LAN\n",
             (long)getpid());
    VMESH_GUARD(files(d));
    VMESH_GUARD(start_servers(d));
    demo_say(&d->acc, "2. strongSwan charon in each router namespace (kernel-libipsec: this demo "
                      "does not need ESP in the "
                      "kernel)\n");
    VMESH_GUARD(start_charon(d, 0));
    VMESH_GUARD(start_charon(d, 1));
    demo_check_add(&d->acc, !request(d),
                   "before attestation, host-b's request to host-m fails (no tunnel, no route)");
    demo_say(&d->acc, "3. vmesh ipsec on both routers: attested TLS, each appraises the other; IKE "
                      "credential from the "
                      "session's exporter\n");
    VMESH_GUARD(start_gateway(d, 1));
    t0 = demo_now_ms();
    VMESH_GUARD(start_gateway(d, 0));
    ms = wait_tunnel(d, true, t0, 30000);
    d->setup_ms = ms;
    demo_check_add(&d->acc, ms >= 0,
                   "tunnel up after mutual attestation (%.0f ms from starting the branch gateway)",
                   ms);
    demo_check_add(&d->acc, request(d), "host-b's request reaches host-m through the tunnel");
    VMESH_GUARD(capture_esp(d));
    demo_check_add(
        &d->acc, d->esp_packets > 0 && d->clear_packets == 0,
        "the underlay carries ESP only (%d ESP-in-UDP packets, %d between the LANs in clear)",
        d->esp_packets, d->clear_packets);
    demo_say(&d->acc, "4. the epoch bell rings: both gateways attest again, the IKE SA is "
                      "re-authenticated make-before-break\n");
    {
        const char *log = d->gw[0].log;
        VMESH_GUARD(tick(d));
        t0 = demo_now_ms();
        while (demo_now_ms() - t0 < (d->opt.poll_s + 10) * 1000.0 &&
               !demo_file_contains(log, "re-keyed for epoch 2") && !demo_interrupted())
            demo_sleep_ms(50);
        d->rekey_ms = demo_file_contains(log, "re-keyed for epoch 2") ? demo_now_ms() - t0 : -1;
        demo_check_add(&d->acc, d->rekey_ms >= 0 && request(d),
                       "re-keyed for the new epoch, requests still reach host-m");
    }
    demo_say(&d->acc, "5. the RVP revokes the branch router's workload\n");
    VMESH_GUARD(publish(d, false));
    t0 = demo_now_ms();
    ms = wait_tunnel(d, false, t0, (d->opt.poll_s + 10) * 1000);
    d->revoke_ms = ms;
    demo_check_add(&d->acc, ms >= 0 && ms <= d->opt.poll_s * 1100.0 + 1000.0,
                   "the main gateway cut the tunnel within one poll interval (%.0f ms)", ms);
    demo_check_add(&d->acc, !request(d), "host-b's request fails after the revocation");
    demo_say(&d->acc, "6. the RVP restores it\n");
    VMESH_GUARD(publish(d, true));
    t0 = demo_now_ms();
    ms = wait_tunnel(d, true, t0, (d->opt.poll_s + 15) * 1000);
    d->restore_ms = ms;
    demo_check_add(&d->acc, ms >= 0 && request(d), "tunnel back after the restore (%.0f ms)", ms);
out:
    return rc;
}

/* ---- clean-up and the account's end
 * -------------------------------------------------------------- */

static void stop_all(idemo *d)
{
    /* the gateways first: they remove their credentials from charon */
    demo_proc *gws[] = {&d->gw[0], &d->gw[1]};
    demo_proc *rest[] = {&d->charon[0], &d->charon[1], &d->rvp, &d->app};

    demo_stop(gws, 2, 10000);
    demo_stop(rest, 4, 5000);
    for (int i = NS__COUNT - 1; i >= 0; i--)
        if (d->made[i] &&
            demo_ip(d->netlog, "ip netns del", true, "netns del %s", d->ns[i]) == VMESH_OK)
            d->made[i] = false;
    if (!d->opt.keep)
        demo_rm_tree(d->dir);
}

static void summary(idemo *d)
{
    FILE *f = d->opt.json ? stderr : stdout;

    if (!(d->opt.json && d->opt.quiet)) {
        fprintf(f, "\n== Summary (poll interval %d s)\n\n", d->opt.poll_s);
        fprintf(f, "   %-44s %10s\n", "step", "ms");
        fprintf(f, "   %-44s %10.0f\n", "start branch gateway -> tunnel up", d->setup_ms);
        fprintf(f, "   %-44s %10.0f\n", "bell tick -> re-keyed (make-before-break)", d->rekey_ms);
        fprintf(f, "   %-44s %10.0f\n", "revocation published -> SA gone", d->revoke_ms);
        fprintf(f, "   %-44s %10.0f\n", "restore published -> tunnel back", d->restore_ms);
        demo_print_checks(&d->acc, f, NULL, d->opt.keep, d->dir);
    }
    if (d->opt.json) {
        json_t *o = json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:i, s:i, s:b}", "demo", "ipsec",
                              "poll_seconds", d->opt.poll_s, "setup_ms", d->setup_ms, "rekey_ms",
                              d->rekey_ms, "revocation_ms", d->revoke_ms, "restore_ms",
                              d->restore_ms, "esp_packets", d->esp_packets, "clear_packets",
                              d->clear_packets, "success", demo_all_ok(&d->acc));
        json_t *checks = json_array();
        char *s;
        for (size_t i = 0; o && checks && i < d->acc.n; i++)
            json_array_append_new(checks, json_pack("{s:s, s:b}", "check", d->acc.checks[i].name,
                                                    "ok", d->acc.checks[i].ok));
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

demo_result demo_ipsec_run(const demo_opts *o)
{
    idemo d;
    vmesh_err rc;

    memset(&d, 0, sizeof(d));
    d.opt = *o;
    demo_account_init(&d.acc, o->json, o->quiet, true);
    d.setup_ms = d.revoke_ms = d.restore_ms = d.rekey_ms = -1;
    rc = scenario(&d);
    demo_failed(&d.acc, rc, "vmesh demo ipsec");
    stop_all(&d); /* every process and file, also after an error or SIGINT */
    summary(&d);
    return demo_verdict(&d.acc, rc);
}
