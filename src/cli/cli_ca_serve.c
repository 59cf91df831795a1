/*
 * `vmesh ca serve`: the attested SVID issuer (DECISIONS D44,
 * include/vmesh/issuer.h). It holds the CA; nodes connect with their
 * bootstrap SVID, attest in fresh mode and get a short-lived X509-SVID for
 * their key-bound AK. Reference values as `vmesh verifier serve` takes
 * them (--rv files, or --rvp bundles synced into a state directory).
 */
#include "cli.h"
#include "vmesh/issuer.h"
#include "vmesh/pki.h"
#ifdef VMESH_HAVE_SYNC
#include "vmesh/sync.h"
#endif

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RV 16
#define MAX_RVP 16

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh ca serve --ca DIR --listen HOST:PORT --cert CHAIN --key KEY --bundle FILE\n"
            "                      (--rv FILE ... [--corim-key FILE] | --rvp SPEC ... --state-dir DIR\n"
            "                       [--bell-key FILE])\n"
            "                      [--max-ttl DURATION] [--policy FILE] [--clients PATTERN]\n"
            "                      [--max-connections N] [--client-connections N] [--deadline DURATION]\n"
            "                      [--poll DURATION] [--log-format text|json] [--check]\n"
            "\n"
            "The attested SVID issuer (docs/ATLS.md \"Key-bound SVIDs\"): a node connects over the\n"
            "attested channel with its bootstrap SVID (a client certificate of this trust domain),\n"
            "attests in fresh mode (evidence bound to that connection and its attestation key) and\n"
            "sends a CSR for that key; it gets an X509-SVID for its certificate's SPIFFE ID, valid\n"
            "--max-ttl at most. The request cannot choose the identity.\n"
            "\n"
            "  --ca DIR             the CA (vmesh ca init): ca.pem, ca.key\n"
            "  --listen HOST:PORT   where to listen (TLS 1.3, client certificate required)\n"
            "  --cert, --key        the issuer's own SVID (chain PEM, key PEM)\n"
            "  --bundle FILE        trust bundle for client certificates\n"
            "  --rv FILE            reference values (RV JSON or CoRIM; repeatable)\n"
            "  --corim-key FILE     key a CoRIM --rv must be signed with\n"
            CLI_RVP_SPEC_HELP
            "  --state-dir DIR      where bundle state persists (with --rvp)\n"
            "  --bell-key FILE      an RVP's bell key (with --rvp)\n"
            "  --max-ttl DURATION   longest validity of an issued SVID (default 1h; 60s..30 days)\n"
            "  --policy FILE        appraisal policy (docs/POLICY.md); must accept mode fresh.\n"
            "                       Default: modes [fresh], affirming\n"
            "  --clients PATTERN    SPIFFE IDs admitted (default: every ID of the CA's domain)\n"
            "  --max-connections N  open exchanges at once (default 64)\n"
            "  --client-connections N  per client address (default 4)\n"
            "  --deadline DURATION  handshake + request + answer (default 10s)\n"
            "  --poll DURATION      RVP poll interval (default 30s)\n"
            CLI_LOG_FORMAT_HELP
            "  --check              load everything, bind nothing, and exit\n"
            "\n" CLI_DURATION_HELP "\n"
            "exit status: 0 stopped by SIGTERM/SIGINT (or --check passed); 1 bad option or input\n");
}

int cli_ca_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ca", required_argument, NULL, 'c'},          {"listen", required_argument, NULL, 'l'},
        {"cert", required_argument, NULL, 'C'},        {"key", required_argument, NULL, 'K'},
        {"bundle", required_argument, NULL, 'b'},      {"rv", required_argument, NULL, 'r'},
        {"corim-key", required_argument, NULL, 'k'},   {"rvp", required_argument, NULL, 'R'},
        {"state-dir", required_argument, NULL, 'S'},   {"bell-key", required_argument, NULL, 'B'},
        {"max-ttl", required_argument, NULL, 't'},     {"policy", required_argument, NULL, 'p'},
        {"clients", required_argument, NULL, 'i'},     {"max-connections", required_argument, NULL, 'm'},
        {"client-connections", required_argument, NULL, 'M'},
        {"deadline", required_argument, NULL, 'd'},    {"poll", required_argument, NULL, 'P'},
        {"log-format", required_argument, NULL, 'L'},  {"check", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
    };
    const char *rv_files[MAX_RV], *rvps[MAX_RVP];
    size_t nrv = 0, nrvp = 0;
    const char *corim_key_path = NULL, *state_dir = NULL, *bell_path = NULL, *policy_path = NULL;
    vmesh_issuer_config ic;
    vmesh_issuer *iss = NULL;
    vmesh_verifier *v = NULL;
    vmesh_verifier_config vcfg;
    vmesh_rv_store *store = NULL;
    vmesh_key *corim_key = NULL;
    vmesh_policy *pol = NULL;
    long ttl = 3600, maxc = 0, perc = 0, dl = 10, poll_s = 30;
    bool check = false;
    int c, ret = CLI_EXIT_ERROR, sig;
    vmesh_err rc;
    sigset_t set;
#ifdef VMESH_HAVE_SYNC
    vmesh_sync *sync = NULL;
    vmesh_bell_view *bell = NULL;
#endif

    memset(&ic, 0, sizeof(ic));
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ic.ca_dir = optarg; break;
        case 'l': ic.listen = optarg; break;
        case 'C': ic.cert_file = optarg; break;
        case 'K': ic.key_file = optarg; break;
        case 'b': ic.bundle_file = optarg; break;
        case 'r':
            if (nrv == MAX_RV)
                return cli_usage_error("ca serve", "at most %d --rv", MAX_RV);
            rv_files[nrv++] = optarg;
            break;
        case 'k': corim_key_path = optarg; break;
        case 'R':
            if (nrvp == MAX_RVP)
                return cli_usage_error("ca serve", "at most %d --rvp", MAX_RVP);
            rvps[nrvp++] = optarg;
            break;
        case 'S': state_dir = optarg; break;
        case 'B': bell_path = optarg; break;
        case 't':
            if (!cli_seconds(optarg, VMESH_ISSUER_MIN_TTL, 30L * 86400, &ttl))
                return cli_usage_error("ca serve", "--max-ttl must be a duration of 60s..30 days (e.g. 1h), got \"%s\"",
                                       optarg);
            break;
        case 'p': policy_path = optarg; break;
        case 'i': ic.clients = optarg; break;
        case 'm':
            if (!cli_seconds(optarg, 1, 100000, &maxc))
                return cli_usage_error("ca serve", "--max-connections must be 1..100000");
            break;
        case 'M':
            if (!cli_seconds(optarg, 1, 100000, &perc))
                return cli_usage_error("ca serve", "--client-connections must be 1..100000");
            break;
        case 'd':
            if (!cli_seconds(optarg, 1, 600, &dl))
                return cli_usage_error("ca serve", "--deadline must be a duration of 1s..10m, got \"%s\"", optarg);
            break;
        case 'P':
            if (!cli_seconds(optarg, 1, 86400, &poll_s))
                return cli_usage_error("ca serve", "--poll must be a duration of 1s..1d, got \"%s\"", optarg);
            break;
        case 'L':
            if (cli_log_format("ca serve", optarg) != 0)
                return CLI_EXIT_ERROR;
            break;
        case 'x': check = true; break;
        case 'h': serve_usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("ca serve", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("ca serve", "unexpected argument '%s'", argv[optind]);
    if (!ic.ca_dir || !ic.listen || !ic.cert_file || !ic.key_file || !ic.bundle_file)
        return cli_usage_error("ca serve", "--ca, --listen, --cert, --key and --bundle are required");
    if (nrv == 0 && nrvp == 0)
        return cli_usage_error("ca serve", "reference values are required: --rv FILE or --rvp SPEC (the issuer "
                                           "appraises every node before it certifies its key)");
    if (nrvp > 0 && state_dir == NULL)
        return cli_usage_error("ca serve", "--rvp needs --state-dir DIR (where the last good bundle is kept)");
#ifndef VMESH_HAVE_SYNC
    if (nrvp > 0)
        return cli_usage_error("ca serve", "--rvp: the bundle sync client is not in this build; use --rv FILE");
#endif
    if (corim_key_path && (rc = vmesh_crypto_key_load(corim_key_path, &corim_key)) != VMESH_OK) {
        ret = cli_fail("ca serve", rc, "--corim-key");
        goto out;
    }
    if (policy_path && (rc = vmesh_policy_load(policy_path, &pol)) != VMESH_OK) {
        ret = cli_fail("ca serve", rc, "--policy");
        goto out;
    }
    memset(&vcfg, 0, sizeof(vcfg));
    if ((rc = vmesh_verifier_new(&vcfg, &v)) != VMESH_OK) {
        ret = cli_fail("ca serve", rc, "verifier");
        goto out;
    }
    {
        const char *bells[1] = {bell_path};
        const cli_rv_sources src = {.rv_files = rv_files, .nrv = nrv, .corim_key = corim_key, .rvps = rvps,
                                    .nrvp = nrvp, .bell_keys = bells, .nbells = bell_path != NULL ? 1 : 0,
                                    .state_dir = state_dir, .poll_s = (int)poll_s};
        if ((ret = cli_verifier_rv("ca serve", v, &src, &store, &bell, &sync)) != CLI_EXIT_OK)
            goto out;
        ret = CLI_EXIT_ERROR;
    }
    ic.verifier = v;
    ic.policy = pol;
    ic.max_ttl = ttl;
    ic.max_connections = (unsigned)maxc;
    ic.client_connections = (unsigned)perc;
    ic.deadline_ms = (uint32_t)(dl * 1000);
    if (check) {
        /* everything but the listener: port 0 on the loopback address */
        vmesh_issuer_config cc = ic;
        struct sockaddr_storage ss;
        socklen_t sl;
        if ((rc = vmesh_net_resolve(ic.listen, VMESH_NET_LISTEN, &ss, &sl)) != VMESH_OK) {
            ret = cli_fail("ca serve", rc, "--listen");
            goto out;
        }
        cc.listen = "127.0.0.1:0";
        if ((rc = vmesh_issuer_new(&cc, &iss)) != VMESH_OK) {
            ret = cli_fail("ca serve", rc, "issuer");
            goto out;
        }
        printf("vmesh ca serve: the configuration is valid (CA, serving SVID, bundle, policy and reference "
               "values loaded; nothing served)\n");
        ret = CLI_EXIT_OK;
        goto out;
    }
    if ((rc = vmesh_issuer_new(&ic, &iss)) != VMESH_OK) {
        ret = cli_fail("ca serve", rc, "issuer");
        goto out;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
#ifdef VMESH_HAVE_SYNC
    if (sync != NULL && (rc = vmesh_sync_start(sync)) != VMESH_OK) {
        ret = cli_fail("ca serve", rc, "bundle sync");
        goto out;
    }
#endif
    if ((rc = vmesh_issuer_start(iss)) != VMESH_OK) {
        ret = cli_fail("ca serve", rc, "listening");
        goto out;
    }
    vmesh_log_status("vmesh ca serve: listening on %s (port %u), SVIDs valid %lds at most", ic.listen,
                     (unsigned)vmesh_issuer_port(iss), ttl);
    {
        char st[128];
        snprintf(st, sizeof(st), "READY=1\nSTATUS=issuing on port %u", (unsigned)vmesh_issuer_port(iss));
        cli_notify(st);
    }
    while (sigwait(&set, &sig) != 0)
        ;
    cli_notify("STOPPING=1");
    vmesh_log_status("vmesh ca serve: %s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    vmesh_issuer_stop(iss);
    {
        vmesh_issuer_stats st;
        vmesh_issuer_stats_get(iss, &st);
        vmesh_log_status("vmesh ca serve: %llu connections, %llu SVIDs issued; refused: %llu attestations, %llu "
                         "requests, %llu busy",
                         (unsigned long long)st.accepted, (unsigned long long)st.issued,
                         (unsigned long long)st.refused_attestation, (unsigned long long)st.refused_request,
                         (unsigned long long)st.refused_busy);
    }
    ret = CLI_EXIT_OK;
out:
    vmesh_issuer_free(iss);
#ifdef VMESH_HAVE_SYNC
    vmesh_sync_free(sync);
    vmesh_bell_view_free(bell);
#endif
    vmesh_verifier_free(v);
    vmesh_rv_store_free(store);
    vmesh_crypto_key_free(corim_key);
    vmesh_policy_free(pol);
    return ret;
}
