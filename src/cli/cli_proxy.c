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

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh proxy -c CONFIG.yaml [--check | --check-syntax]\n"
            "       vmesh proxy --inbound|--outbound --listen ADDR:PORT --target ADDR:PORT\n"
            "                   --svid CHAIN.pem --key KEY.pem --bundle CA.pem [--peer SPIFFE-ID]\n"
            "                   --platform NAME [--platform-option KEY=VALUE...]\n"
            "                   --rvp NAME,URL,KEYFILE[,schemes] [--bell URL,KEYFILE] [OPTIONS]\n"
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
            "Flag mode (one listener, no file; docs/PROXY.md \"Flags instead of a file\"): the flags\n"
            "are turned into the configuration file they stand for and started the same way;\n"
            "--check works with them; -c and these flags are exclusive. Relative paths are taken\n"
            "against the working directory.\n"
            "  --inbound           server side: attested mTLS on --listen, plaintext to the app at\n"
            "                      --target (YAML inbound[0])\n"
            "  --outbound          client side: plaintext on --listen (loopback), attested mTLS to\n"
            "                      --target (YAML outbound[0]; --target repeatable: upstreams)\n"
            "  --listen ADDR:PORT  the listening address\n"
            "  --target ADDR:PORT  the app (inbound) or the upstream sidecar (outbound)\n"
            "  --peer SPIFFE-ID    the peer's SPIFFE ID or pattern (required with --outbound; with\n"
            "                      --inbound any ID of the trust domain when absent)\n"
            "  --svid FILE         this workload's certificate chain (identity.cert)\n"
            "  --key FILE          its private key (identity.key)\n"
            "  --bundle FILE       the trust bundle (identity.bundle)\n"
            "  --platform NAME     the attester (attester.platform), e.g. psa-sim, tpm2\n"
            "  --platform-option KEY=VALUE\n"
            "                      one attester option (attester.options); a repeated KEY makes a\n"
            "                      list, e.g. --platform-option measure=BL=... (repeatable)\n"
            "  --rvp NAME,URL,KEYFILE[,scheme1+scheme2]\n"
            "                      an RVP to poll (verifier.rvps; repeatable)\n"
            "  --rv-file FILE      a local reference-value file (verifier.rv-files; repeatable)\n"
            "  --bell URL,KEYFILE  the epoch bell, or FILE,KEYFILE for a local file (verifier.bell)\n"
            "  --poll DURATION     RVP poll interval (verifier.poll-interval; 30s, 5m, 1h)\n"
            "  --state-dir DIR     where snapshots are kept (verifier.state-dir)\n"
            "  --admin ADDR:PORT   /ready, /metrics, /peers (admin.listen)\n"
            "  --access-log FILE   the access log file, - for stdout (access-log)\n"
            "  --print-config      print the configuration the flags stand for and exit 0 (a start\n"
            "                      for a configuration file)\n"
            "\n"
            "signals: SIGHUP reloads configuration, certificates, policy and rv-files without\n"
            "dropping open connections; SIGTERM / SIGINT drain (stop accepting, finish open\n"
            "connections up to limits.drain-timeout, then close the rest).\n"
            "systemd: with NOTIFY_SOCKET set (Type=notify) it sends READY=1 once it accepts,\n"
            "RELOADING=1 and READY=1 around a reload, STOPPING=1 at the drain, STATUS= lines,\n"
            "and WATCHDOG=1 when WatchdogSec= is set.\n"
            "\n"
            "exit status: 0 valid (--check), printed (--print-config) or drained; 1 bad option\n"
            "(a missing or contradictory flag is named), invalid configuration,\n"
            "cannot start, or stopped by an error; 3 drained, but limits.drain-timeout passed\n"
            "and the connections still open were closed.\n");
}

/* ---- flag-only mode (docs/PROXY.md "Flags instead of a file") ---------------------
 * The flags are written into the YAML a user would write (the one parser and
 * the one start: vmesh_proxy_config_load / vmesh_proxy_new read it), in a
 * private temporary file that is removed when the proxy exits. Every value is
 * a double-quoted (JSON-escaped) YAML scalar, so no flag can add a key. */

#define PFLAG_MAX 32

typedef struct {
    int role; /* 0 unset, 'i' inbound, 'o' outbound */
    bool role_twice;
    const char *listen, *peer, *svid, *key, *bundle, *platform, *bell, *state_dir, *poll, *admin, *access_log;
    const char *targets[PFLAG_MAX], *opts[PFLAG_MAX], *rvps[PFLAG_MAX], *rv_files[PFLAG_MAX];
    size_t ntargets, nopts, nrvps, nrv_files;
    bool print;
    const char *first; /* the first flag-mode option seen, for the -c conflict message */
} proxy_flags;

static int pf_add(const char **list, size_t *n, const char *v, const char *flag)
{
    if (*n == PFLAG_MAX)
        return cli_usage_error("proxy", "more than %d %s options", PFLAG_MAX, flag);
    list[(*n)++] = v;
    return CLI_EXIT_OK;
}

/* A quoted scalar; a relative path made absolute against the working
 * directory (the generated file lives elsewhere; paths in a YAML file are
 * relative to the file's directory). */
static vmesh_err pf_str(vmesh_buf *y, const char *s, bool path)
{
    vmesh_err rc = VMESH_OK;
    char cwd[PATH_MAX];
    vmesh_buf t = {0};

    if (path && s[0] != '/') {
        VMESH_ENSURE(getcwd(cwd, sizeof(cwd)) != NULL, VMESH_ERR_IO, "cannot read the working directory: %s",
                     strerror(errno));
        VMESH_GUARD(vmesh_buf_printf(&t, "%s/%s", cwd, s));
        VMESH_GUARD(vmesh_json_str(y, (const char *)t.data, t.len));
    } else
        VMESH_GUARD(vmesh_json_str(y, s, strlen(s)));
out:
    vmesh_buf_free(&t);
    return rc;
}

static vmesh_err pf_key(vmesh_buf *y, const char *indent_key, const char *v, bool path)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_buf_printf(y, "%s", indent_key));
    VMESH_GUARD(pf_str(y, v, path));
    VMESH_GUARD(vmesh_buf_printf(y, "\n"));
out:
    return rc;
}

/* Splits s at commas into at most max fields (copies in buf). */
static size_t pf_split(char *buf, size_t cap, const char *s, char **f, size_t max)
{
    size_t n = 0;
    char *p;

    snprintf(buf, cap, "%s", s);
    for (p = buf; n < max;) {
        f[n++] = p;
        p = strchr(p, ',');
        if (p == NULL)
            return n;
        *p++ = '\0';
    }
    return max + 1; /* too many */
}

/* Checks the flags (each message names the flag) and writes the YAML. */
static int pf_yaml(const proxy_flags *f, vmesh_buf *y)
{
    vmesh_err rc = VMESH_OK;
    char buf[4096], *fl[5];
    size_t n;

    if (f->role_twice)
        return cli_usage_error("proxy", "--inbound and --outbound are exclusive: one sidecar role per process "
                                        "(use a configuration file for both)");
    if (f->role == 0)
        return cli_usage_error("proxy", "flag mode needs --inbound (server side: attested TLS on --listen to "
                                        "the app at --target) or --outbound (client side: plaintext on "
                                        "--listen to attested TLS at --target)");
    if (f->listen == NULL)
        return cli_usage_error("proxy", "--listen ADDR:PORT is required");
    if (f->ntargets == 0)
        return cli_usage_error("proxy", "--target ADDR:PORT is required");
    if (f->role == 'i' && f->ntargets > 1)
        return cli_usage_error("proxy", "--target: an --inbound listener forwards to one app (one --target)");
    if (f->role == 'o' && f->peer == NULL)
        return cli_usage_error("proxy", "--peer SPIFFE-ID is required with --outbound (the identity the "
                                        "upstream must prove)");
    if (f->svid == NULL || f->key == NULL || f->bundle == NULL)
        return cli_usage_error("proxy", "%s is required", f->svid == NULL ? "--svid CHAIN.pem"
                                                          : f->key == NULL ? "--key KEY.pem"
                                                                           : "--bundle CA.pem");
    if (f->nopts > 0 && f->platform == NULL)
        return cli_usage_error("proxy", "--platform-option is given but no --platform");
    if (f->nrvps == 0 && f->nrv_files == 0)
        return cli_usage_error("proxy", "--rvp NAME,URL,KEYFILE (or --rv-file FILE) is required: without "
                                        "reference values no peer can be appraised");
    if (f->bell != NULL && f->nrvps == 0 && strncmp(f->bell, "http", 4) == 0)
        return cli_usage_error("proxy", "--bell URL is fetched by the RVP sync client: it needs --rvp");

    VMESH_GUARD(vmesh_buf_printf(y, "# generated by vmesh proxy from its flags\nidentity:\n"));
    VMESH_GUARD(pf_key(y, "  cert: ", f->svid, true));
    VMESH_GUARD(pf_key(y, "  key: ", f->key, true));
    VMESH_GUARD(pf_key(y, "  bundle: ", f->bundle, true));
    if (f->platform != NULL) {
        VMESH_GUARD(vmesh_buf_printf(y, "attester:\n"));
        VMESH_GUARD(pf_key(y, "  platform: ", f->platform, false));
        if (f->nopts > 0)
            VMESH_GUARD(vmesh_buf_printf(y, "  options:\n"));
        for (size_t i = 0; i < f->nopts; i++) {
            const char *eq = strchr(f->opts[i], '=');
            bool seen = false;
            if (eq == NULL || eq == f->opts[i])
                return cli_usage_error("proxy", "--platform-option \"%s\": expected KEY=VALUE", f->opts[i]);
            for (size_t j = 0; j < i; j++)
                seen |= strncmp(f->opts[j], f->opts[i], (size_t)(eq - f->opts[i]) + 1) == 0;
            if (seen)
                continue; /* written with the first one, as a list */
            VMESH_GUARD(vmesh_buf_printf(y, "    "));
            VMESH_GUARD(vmesh_json_str(y, f->opts[i], (size_t)(eq - f->opts[i])));
            VMESH_GUARD(vmesh_buf_printf(y, ": ["));
            for (size_t j = i; j < f->nopts; j++)
                if (strncmp(f->opts[j], f->opts[i], (size_t)(eq - f->opts[i]) + 1) == 0) {
                    VMESH_GUARD(vmesh_buf_printf(y, j == i ? " " : ", "));
                    VMESH_GUARD(pf_str(y, f->opts[j] + (eq - f->opts[i]) + 1, false));
                }
            VMESH_GUARD(vmesh_buf_printf(y, " ]\n"));
        }
    }
    VMESH_GUARD(vmesh_buf_printf(y, "verifier:\n"));
    if (f->nrv_files > 0)
        VMESH_GUARD(vmesh_buf_printf(y, "  rv-files:\n"));
    for (size_t i = 0; i < f->nrv_files; i++)
        VMESH_GUARD(pf_key(y, "    - ", f->rv_files[i], true));
    if (f->nrvps > 0)
        VMESH_GUARD(vmesh_buf_printf(y, "  rvps:\n"));
    for (size_t i = 0; i < f->nrvps; i++) {
        n = pf_split(buf, sizeof(buf), f->rvps[i], fl, 4);
        if (n < 3 || n > 4 || !*fl[0] || !*fl[1] || !*fl[2])
            return cli_usage_error("proxy", "--rvp \"%s\": expected NAME,URL,KEYFILE[,scheme1+scheme2]",
                                   f->rvps[i]);
        VMESH_GUARD(pf_key(y, "    - name: ", fl[0], false));
        VMESH_GUARD(pf_key(y, "      url: ", fl[1], false));
        VMESH_GUARD(pf_key(y, "      key: ", fl[2], true));
        if (n == 4) {
            VMESH_GUARD(vmesh_buf_printf(y, "      schemes: ["));
            for (char *s = fl[3], *e; s != NULL; s = e) {
                if ((e = strchr(s, '+')) != NULL)
                    *e++ = '\0';
                VMESH_GUARD(vmesh_buf_printf(y, s == fl[3] ? " " : ", "));
                VMESH_GUARD(pf_str(y, s, false));
            }
            VMESH_GUARD(vmesh_buf_printf(y, " ]\n"));
        }
    }
    if (f->poll != NULL)
        VMESH_GUARD(pf_key(y, "  poll-interval: ", f->poll, false));
    if (f->state_dir != NULL)
        VMESH_GUARD(pf_key(y, "  state-dir: ", f->state_dir, true));
    if (f->bell != NULL) {
        n = pf_split(buf, sizeof(buf), f->bell, fl, 2);
        if (n != 2 || !*fl[0] || !*fl[1])
            return cli_usage_error("proxy", "--bell \"%s\": expected URL,KEYFILE or FILE,KEYFILE", f->bell);
        VMESH_GUARD(vmesh_buf_printf(y, "  bell:\n"));
        if (strncmp(fl[0], "http://", 7) == 0 || strncmp(fl[0], "https://", 8) == 0)
            VMESH_GUARD(pf_key(y, "    url: ", fl[0], false));
        else
            VMESH_GUARD(pf_key(y, "    file: ", fl[0], true));
        VMESH_GUARD(pf_key(y, "    key: ", fl[1], true));
    }
    VMESH_GUARD(vmesh_buf_printf(y, "%s:\n", f->role == 'i' ? "inbound" : "outbound"));
    VMESH_GUARD(pf_key(y, "  - listen: ", f->listen, false));
    if (f->role == 'i') {
        VMESH_GUARD(pf_key(y, "    app: ", f->targets[0], false));
    } else {
        VMESH_GUARD(vmesh_buf_printf(y, "    upstreams:\n"));
        for (size_t i = 0; i < f->ntargets; i++)
            VMESH_GUARD(pf_key(y, "      - ", f->targets[i], false));
    }
    if (f->peer != NULL)
        VMESH_GUARD(pf_key(y, "    peer: ", f->peer, false));
    if (f->admin != NULL) {
        VMESH_GUARD(vmesh_buf_printf(y, "admin:\n"));
        VMESH_GUARD(pf_key(y, "  listen: ", f->admin, false));
    }
    if (f->access_log != NULL) {
        VMESH_GUARD(vmesh_buf_printf(y, "access-log:\n"));
        if (strcmp(f->access_log, "-") == 0)
            VMESH_GUARD(vmesh_buf_printf(y, "  stdout: true\n"));
        else
            VMESH_GUARD(pf_key(y, "  file: ", f->access_log, true));
    }
out:
    return rc == VMESH_OK ? CLI_EXIT_OK : cli_fail("proxy", rc, "cannot build the configuration from the flags");
}

/* Writes the YAML into a private temporary file; its path in tmp. */
static int pf_write(const vmesh_buf *y, char *tmp, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    int fd;
    bool ok;

    snprintf(tmp, cap, "%s/vmesh-proxy-flags-XXXXXX.yaml", dir && *dir ? dir : "/tmp");
    fd = mkstemps(tmp, 5);
    if (fd < 0) {
        fprintf(stderr, "vmesh proxy: cannot create %s: %s\n", tmp, strerror(errno));
        tmp[0] = '\0';
        return CLI_EXIT_ERROR;
    }
    ok = write(fd, y->data, y->len) == (ssize_t)y->len;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "vmesh proxy: cannot write %s: %s\n", tmp, strerror(errno));
        unlink(tmp);
        tmp[0] = '\0';
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

int cli_proxy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"check-syntax", no_argument, NULL, 'K'},
        {"log-format", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"inbound", no_argument, NULL, 1},
        {"outbound", no_argument, NULL, 2},
        {"listen", required_argument, NULL, 3},
        {"target", required_argument, NULL, 4},
        {"peer", required_argument, NULL, 5},
        {"svid", required_argument, NULL, 6},
        {"key", required_argument, NULL, 7},
        {"bundle", required_argument, NULL, 8},
        {"platform", required_argument, NULL, 9},
        {"platform-option", required_argument, NULL, 10},
        {"rvp", required_argument, NULL, 11},
        {"rv-file", required_argument, NULL, 12},
        {"bell", required_argument, NULL, 13},
        {"poll", required_argument, NULL, 14},
        {"state-dir", required_argument, NULL, 15},
        {"admin", required_argument, NULL, 16},
        {"access-log", required_argument, NULL, 17},
        {"print-config", no_argument, NULL, 18},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool check = false, syntax = false;
    vmesh_proxy *p = NULL;
    vmesh_err rc;
    int c, ret, idx;
    proxy_flags f;
    char tmp[PATH_MAX] = "";
    vmesh_buf y = {0};

    memset(&f, 0, sizeof(f));

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, &idx)) != -1) {
        if (c >= 1 && c <= 18 && f.first == NULL)
            f.first = opts[idx].name;
        ret = CLI_EXIT_OK;
        switch (c) {
        case 1:
        case 2:
            f.role_twice |= f.role != 0 && f.role != (c == 1 ? 'i' : 'o');
            f.role = c == 1 ? 'i' : 'o';
            break;
        case 3:
            f.listen = optarg;
            break;
        case 4:
            ret = pf_add(f.targets, &f.ntargets, optarg, "--target");
            break;
        case 5:
            f.peer = optarg;
            break;
        case 6:
            f.svid = optarg;
            break;
        case 7:
            f.key = optarg;
            break;
        case 8:
            f.bundle = optarg;
            break;
        case 9:
            f.platform = optarg;
            break;
        case 10:
            ret = pf_add(f.opts, &f.nopts, optarg, "--platform-option");
            break;
        case 11:
            ret = pf_add(f.rvps, &f.nrvps, optarg, "--rvp");
            break;
        case 12:
            ret = pf_add(f.rv_files, &f.nrv_files, optarg, "--rv-file");
            break;
        case 13:
            f.bell = optarg;
            break;
        case 14:
            f.poll = optarg;
            break;
        case 15:
            f.state_dir = optarg;
            break;
        case 16:
            f.admin = optarg;
            break;
        case 17:
            f.access_log = optarg;
            break;
        case 18:
            f.print = true;
            break;
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
        if (ret != CLI_EXIT_OK)
            return ret;
    }
    if (optind < argc)
        return cli_usage_error("proxy", "unexpected argument \"%s\"", argv[optind]);
    if (path != NULL && f.first != NULL)
        return cli_usage_error("proxy", "-c and --%s are exclusive: the configuration comes from the file or "
                                        "from the flags, not both", f.first);
    if (path == NULL && f.first == NULL)
        return cli_usage_error("proxy", "-c CONFIG.yaml (or the flags of flag mode, see --help) is required");
    if (syntax && path == NULL)
        return cli_usage_error("proxy", "--check-syntax reads a configuration file (-c); use --check or "
                                        "--print-config with flags");
    if (path == NULL) {
        if ((ret = pf_yaml(&f, &y)) != CLI_EXIT_OK)
            goto out;
        if (f.print) {
            fwrite(y.data, 1, y.len, stdout);
            ret = CLI_EXIT_OK;
            goto out;
        }
        if ((ret = pf_write(&y, tmp, sizeof(tmp))) != CLI_EXIT_OK)
            goto out;
        path = tmp;
    }
    if (check) {
        vmesh_proxy_config *cfg = NULL;
        struct rlimit rl;
        uint64_t nofile = 1024, need = 0;
        uint32_t m;
        bool derived = false;
        /* The dry run fails with the real start's words. */
        if (!syntax && (rc = vmesh_proxy_check(path)) != VMESH_OK) {
            ret = cli_fail("proxy", rc,
                           tmp[0] ? "cannot start (the configuration from the flags; --print-config shows it)"
                                  : "cannot start");
            goto out;
        }
        rc = vmesh_proxy_config_load(path, &cfg);
        if (rc != VMESH_OK) {
            vmesh_proxy_config_free(cfg);
            ret = cli_fail("proxy", rc, "invalid configuration");
            goto out;
        }
        /* The proxy raises its soft limit to the hard one at start. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
            nofile = rl.rlim_max == RLIM_INFINITY ? 1048576 : (uint64_t)rl.rlim_max;
        m = vmesh_proxy_config_max_connections(cfg, nofile, &need, &derived);
        printf("vmesh proxy: %s is valid%s\n", tmp[0] ? "the configuration from the flags" : path,
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
        ret = CLI_EXIT_OK;
        goto out;
    }
    rc = vmesh_proxy_new(path, &p);
    if (rc != VMESH_OK) {
        ret = cli_fail("proxy", rc,
                       tmp[0] ? "cannot start (the configuration from the flags; --print-config shows it)"
                              : "cannot start");
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
    if (tmp[0])
        unlink(tmp);
    vmesh_buf_free(&y);
    return ret;
}
