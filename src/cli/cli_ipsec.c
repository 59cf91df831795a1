/*
 * vmesh ipsec: the attested IPsec gateway (docs/IPSEC.md) in front of
 * strongSwan's charon, and `vmesh ipsec charon-conf`, which writes the
 * strongswan.conf such a charon needs (vici socket, make-before-break,
 * kernel-libipsec where the kernel has no ESP). The options follow `vmesh
 * client / server` for identity, attester and relying party.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "vmesh/ipsec.h"
#include "vmesh/policy.h"
#include "vmesh/vici.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LIST 32
#define MAX_KV 40

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh ipsec --cert SVID.pem --key SVID.key --bundle BUNDLE.pem --peer SPEC... [options]\n"
            "       vmesh ipsec charon-conf --dir DIR [--xfrm]\n"
            "       vmesh ipsec status [--vici URI]\n"
            "\n"
            "For each peer gateway: an attested mutual TLS session over the underlay (both gateways\n"
            "attest, each appraises the other with its local verifier), an IKE pre-shared key derived\n"
            "from that session's TLS exporter, installed into charon over vici with the SVID (IKEv2\n"
            "in two authentication rounds, RFC 4739), the CHILD_SA brought up. Each epoch (bell tick)\n"
            "it attests and re-keys make-before-break; a peer that fails re-appraisal or re-attestation\n"
            "loses its IKE SA and credential. docs/IPSEC.md.\n"
            "\n"
            "peers (repeatable):\n"
            "  --peer name=N,id=SPIFFE_ID,local-ts=CIDR,remote-ts=CIDR[,connect=ADDR:PORT]\n"
            "         [,local-addr=IP][,remote-addr=IP]\n"
            "                            connect=: we dial its vmesh ipsec listener and initiate IKE\n"
            "                            (remote-addr defaults to that host); without it the peer dials\n"
            "                            our --listen; local-ts / remote-ts repeatable\n"
            "  --listen ADDR:PORT        accept attested sessions from peers without connect=\n"
            "  --vici URI                charon's vici socket (default unix:///var/run/charon.vici)\n"
            "  --ike-proposals P --esp-proposals P  (default aes256gcm16-prfsha256-ecp256, aes256gcm16)\n"
            "identity:\n"
            "  --cert FILE --key FILE --bundle FILE  our X509-SVID chain, its key, the trust bundle\n"
            "attester (our platform):\n"
            "  --platform NAME           psa (psa-sim) or tpm2; --iak KEY --claims JSON --measure NAME=FILE\n"
            "  --tcti T --ak-handle H --pcrs SPEC  (tpm2)\n"
            "  --attest-mode MODE        epoch-fresh, fresh, passport (repeatable; default: all we can)\n"
            "  --ak-rotate DURATION      attestation key lifetime\n"
            "relying party (judging the peers):\n"
            "  --rv FILE                 reference values, CoRIM or RV JSON (repeatable; SIGHUP reloads)\n"
            "  --rvp SPEC                trust-bundle source URL,KEY or NAME,URL,KEY[,schemes] (repeatable)\n"
            "  --state-dir DIR --poll DURATION  sync state and poll interval (default 30s)\n"
            "  --bell-key KEY            the epoch bell's key; with --bell FILE (read each second) or\n"
            "                            --bell-url URL (fetched with the bundles; default <first rvp>/bell.cwt)\n"
            "  --policy FILE --trust-verifier KEY\n"
            "lifecycle:\n"
            "  --retry DURATION          after a refusal (default: the poll interval)\n"
            "  --rekey DURATION          without a bell: re-attest and re-key this often\n"
            "  --deadline-ms N           attested session deadline (default 10000)\n"
            "  --monitor-ms N            how often charon's SAs are checked (default 250)\n"
            "operations:\n"
            "  --admin ADDR:PORT         /ready, /metrics, /peers\n"
            "  --access-log FILE|-       one JSON line per event (attested, refused, installed, up,\n"
            "                            rekey, rekeyed, cut)\n"
            "  --keylog FILE             TESTING ONLY: append every derived IKE credential to FILE\n"
            "  -v, -q                    more / less logging\n"
            "\n"
            "charon-conf writes DIR/strongswan.conf for a charon that vmesh ipsec drives (vici socket\n"
            "DIR/charon.vici, log DIR/charon.log, make_before_break, kernel-libipsec unless --xfrm) and\n"
            "creates DIR/run (bind-mount it on /run to run several charons on one host).\n"
            "status prints what charon holds, one line each: `conn NAME` and `shared ID` for what was\n"
            "loaded over vici (ids only, never a secret), `sa NAME #ID STATE children=N`.\n"
            "\n"
            "exit status: 0 stopped by SIGTERM / SIGINT, or done (charon-conf, status); 1 bad\n"
            "option, invalid input, charon unreachable, or stopped by an error.\n");
}

static int charon_conf(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"xfrm", no_argument, NULL, 'x'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    bool xfrm = false;
    char path[PATH_MAX], conf[4096];
    int c, n;
    vmesh_err rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'x': xfrm = true; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("ipsec charon-conf", "unknown or incomplete option");
        }
    }
    if (dir == NULL || dir[0] != '/')
        return cli_usage_error("ipsec charon-conf", "--dir ABSOLUTE_DIR is required");
    if (strpbrk(dir, " \t\n\"{}#") != NULL)
        return cli_usage_error("ipsec charon-conf", "--dir: no spaces, quotes, braces or '#' in the path");
    /* The plugins charon needs and nothing else: openssl (ECDSA P-256
     * SVIDs, ECDH, AES-GCM), kdf (strongSwan 5.9.8 moved prf+ there),
     * x509/pem/pkcs8 for the SVID, vici for vmesh, and either the kernel's
     * XFRM or kernel-libipsec: ESP in user space over a TUN device, for
     * kernels without ESP transforms. */
    n = snprintf(conf, sizeof(conf),
                 "# written by `vmesh ipsec charon-conf` (docs/IPSEC.md)\n"
                 "charon {\n"
                 "  load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints sha1 sha2 hmac kdf "
                 "%skernel-netlink socket-default vici\n"
                 "  # re-authentication at an epoch change: the new IKE SA first, then the old one goes\n"
                 "  make_before_break = yes\n"
                 "  install_routes = yes\n"
                 "  filelog {\n"
                 "    log {\n"
                 "      path = %s/charon.log\n"
                 "      time_format = %%H:%%M:%%S\n"
                 "      time_add_ms = yes\n"
                 "      default = 1\n"
                 "      ike = 2\n"
                 "      cfg = 2\n"
                 "      flush_line = yes\n"
                 "    }\n"
                 "  }\n"
                 "  plugins {\n"
                 "    vici {\n"
                 "      socket = unix://%s/charon.vici\n"
                 "    }\n"
                 "  }\n"
                 "}\n"
                 "swanctl {\n"
                 "  load = pem pkcs1 pkcs8 x509 pubkey openssl random\n"
                 "}\n",
                 xfrm ? "" : "kernel-libipsec ", dir, dir);
    if (n < 0 || (size_t)n >= sizeof(conf))
        return cli_usage_error("ipsec charon-conf", "--dir: path too long");
    snprintf(path, sizeof(path), "%s/run", dir);
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || (mkdir(path, 0700) != 0 && errno != EEXIST)) {
        fprintf(stderr, "vmesh ipsec charon-conf: %s: %s\n", path, strerror(errno));
        return CLI_EXIT_ERROR;
    }
    snprintf(path, sizeof(path), "%s/strongswan.conf", dir);
    rc = vmesh_file_write(path, conf, (size_t)n, 0644);
    if (rc != VMESH_OK)
        return cli_fail("ipsec charon-conf", rc, path);
    printf("%s\nvici: unix://%s/charon.vici\n", path, dir);
    return CLI_EXIT_OK;
}

static vmesh_err print_sa(void *ctx, const vmesh_vici_msg *ev)
{
    (void)ctx;
    for (const vmesh_vici_node *ike = vmesh_vici_node_first(vmesh_vici_msg_root(ev)); ike;
         ike = vmesh_vici_node_next(ike)) {
        const char *uid = vmesh_vici_node_str(ike, "uniqueid"), *st = vmesh_vici_node_str(ike, "state");
        unsigned children = 0;
        for (const vmesh_vici_node *c = vmesh_vici_node_first(vmesh_vici_node_get(ike, "child-sas")); c;
             c = vmesh_vici_node_next(c)) {
            const char *cs = vmesh_vici_node_str(c, "state");
            children += cs != NULL && strcmp(cs, "INSTALLED") == 0;
        }
        printf("sa %s #%s %s children=%u\n", vmesh_vici_node_name(ike), uid ? uid : "?", st ? st : "?", children);
    }
    return VMESH_OK;
}

static int status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"vici", required_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *uri = "unix:///var/run/charon.vici";
    static const char *const lists[][3] = {{"get-conns", "conns", "conn"}, {"get-shared", "keys", "shared"}};
    vmesh_vici *v = NULL;
    vmesh_vici_msg *m = NULL;
    vmesh_err rc;
    int c, ret = CLI_EXIT_OK;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'V': uri = optarg; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("ipsec status", "unknown or incomplete option");
        }
    }
    rc = vmesh_vici_connect(uri, 5000, &v);
    for (size_t i = 0; rc == VMESH_OK && i < sizeof(lists) / sizeof(lists[0]); i++) {
        rc = vmesh_vici_call(v, lists[i][0], NULL, &m);
        if (rc != VMESH_OK)
            break;
        for (const vmesh_vici_node *n = vmesh_vici_node_first(vmesh_vici_node_get(vmesh_vici_msg_root(m), lists[i][1]));
             n; n = vmesh_vici_node_next(n))
            printf("%s %s\n", lists[i][2], vmesh_vici_node_value(n, NULL) ? vmesh_vici_node_value(n, NULL) : "");
        vmesh_vici_msg_free(m);
        m = NULL;
    }
    if (rc == VMESH_OK) {
        vmesh_vici_builder b;
        vmesh_vici_build_init(&b);
        vmesh_vici_add_str(&b, "noblock", "yes");
        rc = vmesh_vici_call_stream(v, "list-sas", &b, "list-sa", print_sa, NULL, &m);
        vmesh_vici_build_free(&b);
        vmesh_vici_msg_free(m);
    }
    if (rc != VMESH_OK)
        ret = cli_fail("ipsec status", rc, uri);
    vmesh_vici_close(v);
    return ret;
}

typedef struct {
    vmesh_ipsec_config cfg;
    const char *rv[MAX_LIST], *rvps[MAX_LIST], *tv[MAX_LIST];
    vmesh_ipsec_peer *peers;
    vmesh_kv kv[MAX_KV];
    size_t nkv;
} ipsec_opts;

static int add_kv(ipsec_opts *o, const char *k, const char *v)
{
    if (o->nkv == MAX_KV)
        return cli_usage_error("ipsec", "too many platform options");
    o->kv[o->nkv].key = k;
    o->kv[o->nkv].value = v;
    o->nkv++;
    return 0;
}

static int number(const char *s, long max, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(s, &end, 10);
    if (errno || *end || end == s || *out < 0 || *out > max)
        return cli_usage_error("ipsec", "invalid number \"%s\" (0..%ld)", s, max);
    return 0;
}

/* A duration option (CLI_DURATION_HELP: 30s, 5m, 1h or bare seconds). */
static int seconds(const char *opt, const char *s, long max, long *out)
{
    if (!cli_seconds(s, 0, max, out))
        return cli_usage_error("ipsec", "%s: invalid duration \"%s\" (whole seconds 0..%ld: 30s, 5m, 1h or a "
                                        "bare number of seconds)", opt, s, max);
    return 0;
}

static int parse(ipsec_opts *o, int argc, char **argv, int *exit_now)
{
    static const struct option opts[] = {
        {"cert", required_argument, NULL, 'c'},          {"key", required_argument, NULL, 'k'},
        {"bundle", required_argument, NULL, 'b'},        {"peer", required_argument, NULL, 'P'},
        {"listen", required_argument, NULL, 'l'},        {"vici", required_argument, NULL, 'V'},
        {"ike-proposals", required_argument, NULL, 0x201}, {"esp-proposals", required_argument, NULL, 0x202},
        {"platform", required_argument, NULL, 'p'},      {"iak", required_argument, NULL, 'I'},
        {"claims", required_argument, NULL, 'J'},        {"measure", required_argument, NULL, 'M'},
        {"tcti", required_argument, NULL, 0x101},        {"ak-handle", required_argument, NULL, 0x102},
        {"pcrs", required_argument, NULL, 0x103},        {"attest-mode", required_argument, NULL, 'a'},
        {"ak-rotate", required_argument, NULL, 'A'},     {"rv", required_argument, NULL, 'r'},
        {"rvp", required_argument, NULL, 'R'},           {"state-dir", required_argument, NULL, 'S'},
        {"poll", required_argument, NULL, 'o'},          {"bell-key", required_argument, NULL, 'K'},
        {"bell", required_argument, NULL, 'B'},          {"bell-url", required_argument, NULL, 'U'},
        {"policy", required_argument, NULL, 'y'},        {"trust-verifier", required_argument, NULL, 't'},
        {"retry", required_argument, NULL, 0x301},       {"rekey", required_argument, NULL, 0x302},
        {"deadline-ms", required_argument, NULL, 0x303}, {"monitor-ms", required_argument, NULL, 0x304},
        {"admin", required_argument, NULL, 0x401},       {"access-log", required_argument, NULL, 0x402},
        {"keylog", required_argument, NULL, 0x403},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    vmesh_ipsec_config *cfg = &o->cfg;
    int c, verbosity = 0;
    long v;

    optind = 1;
    while ((c = getopt_long(argc, argv, "hvq", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfg->cert = optarg; break;
        case 'k': cfg->key = optarg; break;
        case 'b': cfg->bundle = optarg; break;
        case 'P': {
            vmesh_err rc;
            if (cfg->n_peers == VMESH_IPSEC_MAX_PEERS)
                return cli_usage_error("ipsec", "at most %d --peer", VMESH_IPSEC_MAX_PEERS);
            rc = vmesh_ipsec_peer_parse(optarg, &o->peers[cfg->n_peers]);
            if (rc != VMESH_OK)
                return cli_usage_error("ipsec", "%s", vmesh_err_detail());
            cfg->n_peers++;
            break;
        }
        case 'l': cfg->listen = optarg; break;
        case 'V': cfg->vici = optarg; break;
        case 0x201: cfg->ike_proposals = optarg; break;
        case 0x202: cfg->esp_proposals = optarg; break;
        case 'p': cfg->platform = optarg; break;
        case 'I': if (add_kv(o, "iak", optarg)) return 1; break;
        case 'J': if (add_kv(o, "claims", optarg)) return 1; break;
        case 'M': if (add_kv(o, "measure", optarg)) return 1; break;
        case 0x101: if (add_kv(o, "tcti", optarg)) return 1; break;
        case 0x102: if (add_kv(o, "ak-handle", optarg)) return 1; break;
        case 0x103: if (add_kv(o, "pcrs", optarg)) return 1; break;
        case 'a': {
            vmesh_mode m;
            if (vmesh_mode_parse(optarg, &m) != VMESH_OK || m == VMESH_MODE_NONE)
                return cli_usage_error("ipsec", "--attest-mode: %s", vmesh_err_detail());
            cfg->attest_modes |= VMESH_MODE_BIT(m);
            break;
        }
        case 'A': if (seconds("--ak-rotate", optarg, 100000000, &v)) return 1; cfg->ak_rotate_seconds = v; break;
        case 'r':
            if (cfg->n_rv_files == MAX_LIST)
                return cli_usage_error("ipsec", "at most %d --rv", MAX_LIST);
            o->rv[cfg->n_rv_files++] = optarg;
            break;
        case 'R':
            if (cfg->n_rvps == MAX_LIST)
                return cli_usage_error("ipsec", "at most %d --rvp", MAX_LIST);
            o->rvps[cfg->n_rvps++] = optarg;
            break;
        case 'S': cfg->state_dir = optarg; break;
        case 'o': if (seconds("--poll", optarg, 86400, &v)) return 1; cfg->poll_interval = (int)v; break;
        case 'K': cfg->bell_key = optarg; break;
        case 'B': cfg->bell_file = optarg; break;
        case 'U': cfg->bell_url = optarg; break;
        case 'y': cfg->policy_file = optarg; break;
        case 't':
            if (cfg->n_trusted_verifiers == MAX_LIST)
                return cli_usage_error("ipsec", "at most %d --trust-verifier", MAX_LIST);
            o->tv[cfg->n_trusted_verifiers++] = optarg;
            break;
        case 0x301: if (seconds("--retry", optarg, 86400, &v)) return 1; cfg->retry_seconds = (int)v; break;
        case 0x302: if (seconds("--rekey", optarg, 86400 * 30, &v)) return 1; cfg->rekey_seconds = (int)v; break;
        case 0x303: if (number(optarg, 600000, &v)) return 1; cfg->deadline_ms = (uint32_t)v; break;
        case 0x304: if (number(optarg, 60000, &v)) return 1; cfg->monitor_ms = (uint32_t)v; break;
        case 0x401: cfg->admin_listen = optarg; break;
        case 0x402: cfg->access_log = optarg; break;
        case 0x403: cfg->keylog = optarg; break;
        case 'v': verbosity++; break;
        case 'q': verbosity--; break;
        case 'h': usage(stdout); *exit_now = 1; return 0;
        default: return cli_usage_error("ipsec", "unknown or incomplete option");
        }
    }
    if (optind < argc)
        return cli_usage_error("ipsec", "unexpected argument \"%s\"", argv[optind]);
    if (!cfg->cert || !cfg->key || !cfg->bundle)
        return cli_usage_error("ipsec", "--cert, --key and --bundle are required");
    if (cfg->n_peers == 0)
        return cli_usage_error("ipsec", "give at least one --peer");
    if (cfg->n_rv_files == 0 && cfg->n_rvps == 0)
        return cli_usage_error("ipsec", "give reference values for the peers: --rv FILE or --rvp SPEC");
    if (cfg->bell_file && cfg->bell_url)
        return cli_usage_error("ipsec", "--bell and --bell-url exclude each other");
    if (cfg->platform == NULL && o->nkv > 0)
        cfg->platform = "psa";
    if (cfg->platform != NULL && strcmp(cfg->platform, "psa-sim") == 0)
        cfg->platform = "psa";
    cfg->platform_cfg = o->kv;
    cfg->n_platform_cfg = o->nkv;
    cfg->rv_files = o->rv;
    cfg->rvps = o->rvps;
    cfg->trusted_verifiers = o->tv;
    cfg->peers = o->peers;
    vmesh_log_set_level(verbosity > 0 ? VMESH_LOG_DEBUG : verbosity < 0 ? VMESH_LOG_WARN : VMESH_LOG_INFO);
    return 0;
}

int cli_ipsec(int argc, char **argv)
{
    ipsec_opts o;
    vmesh_ipsec *g = NULL;
    int exit_now = 0, ret = CLI_EXIT_OK;
    vmesh_err rc;

    if (argc >= 2 && strcmp(argv[1], "charon-conf") == 0)
        return charon_conf(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "status") == 0)
        return status(argc - 1, argv + 1);
    memset(&o, 0, sizeof(o));
    o.peers = calloc(VMESH_IPSEC_MAX_PEERS, sizeof(*o.peers));
    if (o.peers == NULL)
        return cli_fail("ipsec", VMESH_ERR_NOMEM, "out of memory");
    if (parse(&o, argc, argv, &exit_now) != 0) {
        ret = CLI_EXIT_ERROR;
        goto out;
    }
    if (exit_now)
        goto out;
    rc = vmesh_ipsec_new(&o.cfg, &g);
    if (rc != VMESH_OK) {
        ret = cli_fail("ipsec", rc, "setup");
        goto out;
    }
    rc = vmesh_ipsec_run(g);
    if (rc != VMESH_OK)
        ret = cli_fail("ipsec", rc, "run");
out:
    vmesh_ipsec_free(g);
    free(o.peers);
    return ret;
}
