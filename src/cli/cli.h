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

/* Prints "vmesh CMD: <what>: <detail>" to stderr and returns CLI_EXIT_ERROR. */
int cli_fail(const char *cmd, vmesh_err e, const char *what);
/* Prints "vmesh CMD: <message>" and a hint to run --help; returns 1. */
int cli_usage_error(const char *cmd, const char *fmt, ...) VMESH_PRINTF(2, 3);

/* --log-format text|json: sets the format of the operational log (stderr);
 * 0, or a usage error's exit code. */
int cli_log_format(const char *cmd, const char *arg);
#define CLI_LOG_FORMAT_HELP                                                                        \
    "  --log-format FMT    text (default) or json: the operational log on stderr, one record\n"    \
    "                      per line with an RFC 3339 time and a level\n"

typedef int (*cli_fn)(int argc, char **argv);
typedef struct {
    const char *name;
    cli_fn fn;
    const char *summary;
} cli_command;

int cli_keygen(int argc, char **argv);
int cli_attest(int argc, char **argv);
int cli_appraise(int argc, char **argv);
int cli_ear(int argc, char **argv);
int cli_ca(int, char **);
int cli_rvp(int argc, char **argv);
int cli_verifier(int argc, char **argv);
int cli_server(int argc, char **argv);
int cli_client(int argc, char **argv);
int cli_proxy(int argc, char **argv);
int cli_ipsec(int argc, char **argv); /* cli_ipsec.c */
int cli_demo(int argc, char **argv); /* cli_demo.c */
int cli_dashboard(int argc, char **argv); /* cli_dashboard.c */

#endif
