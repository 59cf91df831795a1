/*
 * vmesh rvp: what a Reference Value Provider runs. `tick` writes the signed
 * epoch bell (bell.jws) and, with --every, rotates it on a schedule. Tick
 * ids continue from the bell already in the output directory, so a restart
 * never rolls the bell back.
 */
#include "cli.h"
#include "vmesh/rvp.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void tick_usage(FILE *f)
{
    fprintf(f, "usage: vmesh rvp tick --key KEY --out WWWDIR [--every SECONDS] [--name NAME]\n"
               "\n"
               "Writes WWWDIR/bell.jws, the signed epoch bell {bell, id, nonce, issued_at,\n"
               "valid_until}. Each tick is valid for two periods, so evidence bound to the\n"
               "previous tick stays fresh for one period after rotation.\n"
               "\n"
               "  --key KEY         signing key (PEM or JWK, private)\n"
               "  --out DIR         directory served to verifiers (must exist)\n"
               "  --every SECONDS   keep running and ring every SECONDS (default: ring once;\n"
               "                    the period used for validity is then 60 s)\n"
               "  --name NAME       the bell's name (default: rvp)\n"
               "\n"
               "exit status: 0 ok, 1 error\n");
}

/* The id of the bell already published (checked with our own key), or 0. */
static uint64_t previous_id(const char *path, const vmesh_key *key)
{
    vmesh_buf b = {0};
    vmesh_bell bell;
    uint64_t id = 0;

    if (vmesh_file_read(path, VMESH_BELL_JWS_MAX, &b) == VMESH_OK) {
        if (vmesh_rvp_bell_read((const char *)b.data, b.len, key, &bell) == VMESH_OK)
            id = bell.id;
        else
            fprintf(stderr, "vmesh rvp tick: ignoring %s: %s\n", path, vmesh_err_detail());
    }
    vmesh_buf_free(&b);
    return id;
}

static int tick(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},  {"out", required_argument, NULL, 'o'},
        {"every", required_argument, NULL, 'e'}, {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *key_path = NULL, *out_dir = NULL, *name = "rvp";
    long every = 0;
    int c, ret = CLI_EXIT_ERROR;
    vmesh_key *key = NULL;
    vmesh_buf jws = {0};
    char path[4096];
    uint64_t id;
    vmesh_err rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key_path = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'n': name = optarg; break;
        case 'e': {
            char *end;
            errno = 0;
            every = strtol(optarg, &end, 10);
            if (errno || *end || every < 1 || every > 86400) {
                ret = cli_usage_error("rvp tick", "--every must be 1..86400 seconds, got \"%s\"", optarg);
                goto out;
            }
            break;
        }
        case 'h': tick_usage(stdout); ret = CLI_EXIT_OK; goto out;
        default: ret = cli_usage_error("rvp tick", "unknown or incomplete option"); goto out;
        }
    }
    if (key_path == NULL || out_dir == NULL) {
        ret = cli_usage_error("rvp tick", "--key and --out are required");
        goto out;
    }
    if ((rc = vmesh_crypto_key_load(key_path, &key)) != VMESH_OK) {
        ret = cli_fail("rvp tick", rc, "reading --key");
        goto out;
    }
    if (snprintf(path, sizeof(path), "%s/bell.jws", out_dir) >= (int)sizeof(path)) {
        ret = cli_usage_error("rvp tick", "--out path too long");
        goto out;
    }
    id = previous_id(path, key);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    do {
        vmesh_bell b;
        if ((rc = vmesh_rvp_bell_next(name, id, every ? every : 60, &b)) != VMESH_OK ||
            (rc = vmesh_rvp_bell_sign(&b, key, &jws)) != VMESH_OK ||
            (rc = vmesh_file_write(path, jws.data, jws.len, 0644)) != VMESH_OK) {
            ret = cli_fail("rvp tick", rc, "ringing the bell");
            goto out;
        }
        id = b.id;
        if (every > 0) {
            struct timespec ts = {every, 0};
            while (!stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
    } while (every > 0 && !stop);
    ret = CLI_EXIT_OK;
out:
    vmesh_crypto_key_free(key);
    vmesh_buf_free(&jws);
    return ret;
}

int cli_rvp(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "usage: vmesh rvp tick [options]   (see vmesh rvp tick --help)\n");
        return argc < 2 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "tick") == 0)
        return tick(argc - 1, argv + 1);
    return cli_usage_error("rvp", "unknown subcommand \"%s\" (expected tick)", argv[1]);
}
