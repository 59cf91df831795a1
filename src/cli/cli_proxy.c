/*
 * vmesh proxy -c CONFIG.yaml: the sidecar (docs/PROXY.md). Parses the
 * options, loads the configuration (every error names the key and line),
 * opens the listeners and serves until SIGTERM / SIGINT drains it; SIGHUP
 * reloads. --check is a dry run of the start (the same loading path and
 * messages, no listener opened); --check-syntax reads the configuration
 * file alone. It never serves with a configuration it could not fully load.
 */
#include "cli.h"
#include "vmesh/proxy.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh proxy -c CONFIG.yaml [--check | --check-syntax]\n"
            "\n"
            "The sidecar: inbound listeners terminate attested mutual TLS and forward to a local\n"
            "app; outbound listeners take local plaintext and open attested TLS to upstreams.\n"
            "Every configuration key is documented in docs/PROXY.md.\n"
            "\n"
            "  -c, --config FILE   the YAML configuration\n"
            "  --check             dry run of a start: load the configuration, certificates and\n"
            "                      their keys, the attester, RVP/bell/verifier keys, rv-files and\n"
            "                      policy, resolve app and upstream addresses; open no socket;\n"
            "                      fail with the message a start would give\n"
            "  --check-syntax      read the configuration file alone (for files that name paths\n"
            "                      of another machine, e.g. a ConfigMap checked in CI)\n"
            CLI_LOG_FORMAT_HELP
            "\n"
            "signals: SIGHUP reloads configuration, certificates, policy and rv-files without\n"
            "dropping open connections; SIGTERM / SIGINT drain (stop accepting, finish open\n"
            "connections up to limits.drain-timeout, then close the rest).\n"
            "systemd: with NOTIFY_SOCKET set (Type=notify) it sends READY=1 once it accepts,\n"
            "RELOADING=1 and READY=1 around a reload, STOPPING=1 at the drain, STATUS= lines,\n"
            "and WATCHDOG=1 when WatchdogSec= is set.\n"
            "\n"
            "exit status: 0 valid (--check) or drained; 1 bad option, invalid configuration,\n"
            "cannot start, or stopped by an error; 3 drained, but limits.drain-timeout passed\n"
            "and the connections still open were closed.\n");
}

int cli_proxy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"check-syntax", no_argument, NULL, 'K'},
        {"log-format", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool check = false, syntax = false;
    vmesh_proxy *p = NULL;
    vmesh_err rc;
    int c, ret;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 'K':
            check = syntax = true;
            break;
        case 'L':
            if ((ret = cli_log_format("proxy", optarg)) != CLI_EXIT_OK)
                return ret;
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("proxy", "unknown or incomplete option");
        }
    }
    if (optind < argc)
        return cli_usage_error("proxy", "unexpected argument \"%s\"", argv[optind]);
    if (path == NULL)
        return cli_usage_error("proxy", "-c CONFIG.yaml is required");
    if (check) {
        vmesh_proxy_config *cfg = NULL;
        struct rlimit rl;
        uint64_t nofile = 1024, need = 0;
        uint32_t m;
        bool derived = false;
        /* The dry run fails with the real start's words. */
        if (!syntax && (rc = vmesh_proxy_check(path)) != VMESH_OK)
            return cli_fail("proxy", rc, "cannot start");
        rc = vmesh_proxy_config_load(path, &cfg);
        if (rc != VMESH_OK) {
            vmesh_proxy_config_free(cfg);
            return cli_fail("proxy", rc, "invalid configuration");
        }
        /* The proxy raises its soft limit to the hard one at start. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
            nofile = rl.rlim_max == RLIM_INFINITY ? 1048576 : (uint64_t)rl.rlim_max;
        m = vmesh_proxy_config_max_connections(cfg, nofile, &need, &derived);
        printf("vmesh proxy: %s is valid%s\n", path,
               syntax ? " (the file only: nothing it names was opened)"
                      : " (certificates, keys, attester, policy and addresses loaded as a "
                        "start would)");
        printf("limits.max-connections: %u (%s), needing about %llu file descriptors; the hard "
               "limit here is %llu%s\n",
               m, derived ? "derived from the limit" : "configured", (unsigned long long)need,
               (unsigned long long)nofile,
               need > nofile
                   ? ": too few, raise it (ulimit -n, LimitNOFILE) or lower max-connections"
                   : "");
        vmesh_proxy_config_free(cfg);
        return CLI_EXIT_OK;
    }
    rc = vmesh_proxy_new(path, &p);
    if (rc != VMESH_OK) {
        ret = cli_fail("proxy", rc, "cannot start");
        goto out;
    }
    rc = vmesh_proxy_run(p);
    ret = rc == VMESH_OK ? CLI_EXIT_OK : cli_fail("proxy", rc, "stopped");
    if (ret == CLI_EXIT_OK && vmesh_proxy_drain_forced(p) > 0) {
        vmesh_log(VMESH_LOG_ERROR, "proxy: exit status %d: the drain timed out and closed %lld connections",
                  CLI_EXIT_DRAIN_FORCED, vmesh_proxy_drain_forced(p));
        ret = CLI_EXIT_DRAIN_FORCED;
    }
out:
    vmesh_proxy_free(p);
    return ret;
}
