/*
 * Shared helpers of the `vmesh` command: every subcommand is one function
 * `int cli_<name>(int argc, char **argv)` (argv[0] is the subcommand name)
 * returning the process exit code. Errors are printed with the library's
 * detail message so the user sees what to fix.
 */
#ifndef VMESH_CLI_H
#define VMESH_CLI_H

#include "vmesh/core.h"

/* Exit codes shared by the commands. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1       /* unreadable, malformed or unsupported input */
#define CLI_EXIT_NOT_AFFIRMED 2 /* valid, but the result is not affirming */
#define CLI_EXIT_DRAIN_FORCED 3 /* a daemon stopped, but its drain timed out and closed connections */

/* Prints "vmesh CMD: <what>: <detail>" to stderr and returns CLI_EXIT_ERROR. */
int cli_fail(const char *cmd, vmesh_err e, const char *what);
/* Prints "vmesh CMD: <message>" and a hint to run --help; returns 1. */
int cli_usage_error(const char *cmd, const char *fmt, ...) VMESH_PRINTF(2, 3);

/* A duration option in whole seconds, in the syntax of the configuration
 * files (vmesh_duration_parse_ms: "30s", "5m", "1h", "500ms" or a bare
 * number of seconds), lo..hi seconds; false otherwise. */
bool cli_seconds(const char *s, long lo, long hi, long *out);
#define CLI_DURATION_HELP "durations are written as in the configuration files: 30s, 5m, 1h or bare seconds"

/* Reference values for an in-process verifier v from the command line
 * (`verifier serve`, `ca serve`): the --rv files (checked with corim_key)
 * into one store set on v, then, with --rvp, a bundle sync client (not yet
 * started) whose snapshots replace them, with its bell keys and per-RVP
 * scopes (scopes may be NULL). Returns CLI_EXIT_OK, or the exit status
 * after naming the problem ("vmesh CMD: ..."). The caller frees *store,
 * *bell and *sync (each NULL when not made). */
typedef struct {
    const char *const *rv_files;
    size_t nrv;
    const struct vmesh_key *corim_key;
    const char *const *rvps;
    const char *const *scopes;
    size_t nrvp;
    const char *const *bell_keys;
    size_t nbells;
    const char *state_dir;
    int poll_s;
} cli_rv_sources;
struct vmesh_verifier;
struct vmesh_rv_store;
struct vmesh_bell_view;
struct vmesh_sync;
int cli_verifier_rv(const char *cmd, struct vmesh_verifier *v, const cli_rv_sources *src,
                    struct vmesh_rv_store **store, struct vmesh_bell_view **bell, struct vmesh_sync **sync);

/* --rvp SPEC: one syntax for `rvp sync` and `verifier serve` (both parse it
 * with vmesh_sync_add_rvp_spec); the help text both print. */
#define CLI_RVP_SPEC_HELP                                                                          \
    "  --rvp SPEC          an RVP to poll: NAME,URL,KEYFILE[,scheme1+scheme2], URL,KEYFILE\n"      \
    "                      or URL,{JWK}; without schemes it is trusted for every scheme. A\n"     \
    "                      CoSERV provider: NAME,coserv+URL,KEYFILE,SCHEME,CLASSHEX[+CLASSHEX...]\n" \
    "                      (signed result sets for those class ids; docs/BUNDLES.md)\n"          \
    "                      (repeatable)\n"

/* --log-format text|json: sets the format of the operational log (stderr);
 * 0, or a usage error's exit code. */
int cli_log_format(const char *cmd, const char *arg);
#define CLI_LOG_FORMAT_HELP                                                                        \
    "  --log-format FMT    text (default) or json: the operational log on stderr, one record\n"    \
    "                      per line with an RFC 3339 time and a level\n"

/* Tells the service manager (systemd Type=notify, $NOTIFY_SOCKET) state,
 * e.g. "READY=1\nSTATUS=listening on ..."; a failure is logged as a warning. */
void cli_notify(const char *state);

typedef int (*cli_fn)(int argc, char **argv);
typedef struct {
    const char *name;
    cli_fn fn;
    const char *summary;
} cli_command;

int cli_init(int argc, char **argv); /* cli_init.c */
int cli_keygen(int argc, char **argv);
int cli_attest(int argc, char **argv);
int cli_appraise(int argc, char **argv);
int cli_ear(int argc, char **argv);
int cli_ca(int, char **);
int cli_ca_serve(int argc, char **argv); /* cli_ca_serve.c */
int cli_rvp(int argc, char **argv);
int cli_verifier(int argc, char **argv);
int cli_server(int argc, char **argv);
int cli_client(int argc, char **argv);
int cli_proxy(int argc, char **argv);
int cli_ipsec(int argc, char **argv); /* cli_ipsec.c */
int cli_demo(int argc, char **argv); /* cli_demo.c */
int cli_dashboard(int argc, char **argv); /* cli_dashboard.c */

#endif
