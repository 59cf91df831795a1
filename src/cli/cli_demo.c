/*
 * `vmesh demo SCENARIO`: the command line of the demos (options, usage,
 * exit status); the scenarios and their process harness live in src/demo
 * (docs/DECISIONS.md D16).
 */
#include "cli.h"
#include "demo/demo.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage_sase(FILE *f)
{
    fprintf(f,
            "usage: vmesh demo sase [--clients N] [--requests R] [--poll DURATION] [--platform P]\n"
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
            "  --poll DURATION  bundle poll interval of sidecars and verifier (default 2s)\n"
            "  --platform P     clients' platform: psa-sim, tpm2 (every client on swtpm), or\n"
            "                   auto (default: psa-sim, and 2 clients on tpm2 when swtpm is\n"
            "                   installed)\n"
            "  --netns          give the RVP, the verifier, the PoP and the clients their own\n"
            "                   network namespaces and addresses (198.18.0.0/24, inside those\n"
            "                   namespaces only; needs root); falls back to loopback\n"
            "  --json           print one JSON summary object on stdout (the account goes\n"
            "                   to stderr)\n"
            "  --keep           keep the temporary directory (configurations, logs) and,\n"
            "                   after the scenario, leave the last mode's sidecars, the RVP,\n"
            "                   the verifier and the dashboards up until Ctrl-C or SIGTERM;\n"
            "                   meanwhile SIGUSR1 revokes the PoP's workload at the RVP (a\n"
            "                   new epoch) and SIGUSR2 approves it again\n"
            "  -q               no account, only the summary (or the JSON)\n"
            "\n"
            "The account prints the dashboards' URLs: the mesh page (vmesh dashboard over\n"
            "the PoP's and the clients' admin endpoints) and each node's page\n"
            "(docs/DASHBOARD.md).\n"
            "\n"
            "exit status: 0 every check passed, 2 a check failed, 1 the demo could not run\n",
            DEMO_MAX_CLIENTS);
}

static void usage_ipsec(FILE *f)
{
    fprintf(f,
            "usage: vmesh demo ipsec [--poll DURATION] [--json] [--keep] [-q]\n"
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
            "  --poll DURATION  bundle poll interval of both gateways (default 2s)\n"
            "  --json           print one JSON summary object on stdout (the account to stderr)\n"
            "  --keep           keep the temporary directory (configurations, logs, charon logs)\n"
            "  -q               no account, only the summary (or the JSON)\n"
            "\n"
            "exit status: 0 every check passed, 2 a check failed, 1 the demo could not run\n");
}

static const struct option sase_opts[] = {
    {"clients", required_argument, NULL, 'n'},
    {"requests", required_argument, NULL, 'r'},
    {"poll", required_argument, NULL, 'p'},
    {"platform", required_argument, NULL, 'P'},
    {"netns", no_argument, NULL, 'N'},
    {"json", no_argument, NULL, 'j'},
    {"keep", no_argument, NULL, 'k'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};
static const struct option ipsec_opts[] = {
    {"poll", required_argument, NULL, 'p'},
    {"json", no_argument, NULL, 'j'},
    {"keep", no_argument, NULL, 'k'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct {
    const char *name;
    const struct option *opts;
    void (*usage)(FILE *f);
    demo_result (*run)(const demo_opts *o);
} scenarios[] = {
    {"sase", sase_opts, usage_sase, demo_sase_run},
    {"ipsec", ipsec_opts, usage_ipsec, demo_ipsec_run},
};

/* A whole number in 1..max for option --name. */
static bool number(const char *name, const char *arg, long max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || *end || v < 1 || v > max) {
        cli_usage_error("demo", "--%s must be 1..%ld, got \"%s\"", name, max, arg);
        return false;
    }
    *out = (int)v;
    return true;
}

int cli_demo(int argc, char **argv)
{
    demo_opts o = {.clients = 10, .requests = 5, .poll_s = 2, .platform = DEMO_PLATFORM_AUTO};
    size_t s = 0;
    int c;
    bool ok = true;

    while (argc >= 2 && s < sizeof(scenarios) / sizeof(scenarios[0]) &&
           strcmp(argv[1], scenarios[s].name) != 0)
        s++;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: vmesh demo sase [options]   (vmesh demo sase --help)\n"
                "       vmesh demo ipsec [options]  (vmesh demo ipsec --help)\n"
                "exit status: 0 every check passed, 2 a check failed, 1 the demo could not run\n");
        return argc < 2 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    }
    if (s == sizeof(scenarios) / sizeof(scenarios[0]))
        return cli_usage_error("demo", "unknown scenario \"%s\" (there are: sase, ipsec)", argv[1]);
    optind = 1;
    while (ok && (c = getopt_long(argc - 1, argv + 1, "hq", scenarios[s].opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            ok = number("clients", optarg, DEMO_MAX_CLIENTS, &o.clients);
            break;
        case 'r':
            ok = number("requests", optarg, 1000, &o.requests);
            break;
        case 'p':
            {
                long v;
                ok = cli_seconds(optarg, 1, 60, &v);
                if (ok)
                    o.poll_s = (int)v;
                else
                    cli_usage_error("demo", "--poll must be a duration of 1s..60s (e.g. 2s), got \"%s\"", optarg);
            }
            break;
        case 'P':
            if (strcmp(optarg, "psa-sim") == 0 || strcmp(optarg, "psa") == 0)
                o.platform = DEMO_PLATFORM_PSA;
            else if (strcmp(optarg, "tpm2") == 0)
                o.platform = DEMO_PLATFORM_TPM2;
            else if (strcmp(optarg, "auto") == 0)
                o.platform = DEMO_PLATFORM_AUTO;
            else
                return cli_usage_error("demo", "--platform is psa-sim, tpm2 or auto, got \"%s\"",
                                       optarg);
            break;
        case 'N':
            o.netns = true;
            break;
        case 'j':
            o.json = true;
            break;
        case 'k':
            o.keep = true;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            scenarios[s].usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("demo", "unknown option");
        }
    }
    if (!ok)
        return CLI_EXIT_ERROR;
    if (optind != argc - 1)
        return cli_usage_error("demo", "unexpected argument \"%s\"", argv[optind + 1]);
    switch (scenarios[s].run(&o)) {
    case DEMO_PASSED:
        return CLI_EXIT_OK;
    case DEMO_CHECK_FAILED:
        return CLI_EXIT_NOT_AFFIRMED;
    default:
        return CLI_EXIT_ERROR;
    }
}
