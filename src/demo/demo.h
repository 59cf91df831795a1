/*
 * The demo harness (src/demo): what `vmesh demo` needs to run a scenario
 * with real processes on one machine — the account and working directory
 * (account.c), child processes with logs and readiness waits (proc.c),
 * network namespaces (net.c), timed HTTP requests and unattested TLS probes
 * (probe.c), platforms and reference values written with the library's own
 * writers (material.c) — and the scenarios (sase.c with report.c, ipsec.c).
 * An internal library linked into the vmesh command only: not part of
 * libvmesh, not a public API, names are demo_* (docs/DECISIONS.md D16). It
 * must never reach anything but 127.0.0.1 or addresses it created inside
 * its own network namespaces, and must never leave a process, a file or a
 * namespace behind.
 */
#ifndef VMESH_DEMO_H
#define VMESH_DEMO_H

#include "vmesh/core.h"
#include "vmesh/rv.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define DEMO_MAX_ARGS 48
/* How long a started process may take to listen or answer. Every wait also
 * watches the process, so one that dies is reported at once; a loaded
 * machine (ASan builds, CI with other jobs) can take tens of seconds. */
#define DEMO_START_MS 60000
#define DEMO_MAX_CLIENTS 200

/* ---- the scenarios (sase.c, ipsec.c) ----------------------------------------- */

typedef enum { DEMO_PLATFORM_AUTO, DEMO_PLATFORM_PSA, DEMO_PLATFORM_TPM2 } demo_platform;

/* Options of `vmesh demo SCENARIO`; a scenario reads those it has. */
typedef struct {
    int clients, requests, poll_s;
    demo_platform platform;
    bool netns, json, keep, quiet;
} demo_opts;

typedef enum {
    DEMO_PASSED,       /* every check passed */
    DEMO_CHECK_FAILED, /* it ran; a check failed */
    DEMO_ERROR,        /* it could not run (the account says why) */
} demo_result;

/* `vmesh demo sase` and `vmesh demo ipsec`: the account on stdout (stderr
 * with json), the JSON summary on stdout with json. Each installs its own
 * SIGINT/SIGTERM/SIGHUP handlers. */
demo_result demo_sase_run(const demo_opts *o);
demo_result demo_ipsec_run(const demo_opts *o);

/* ---- the account and the working directory (account.c) ------------------------ */

#define DEMO_MAX_CHECKS 32

typedef struct {
    char name[200];
    bool ok;
} demo_check;

/* What a scenario tells and what it checked. */
typedef struct {
    FILE *out;  /* stdout, or stderr when stdout carries the JSON */
    bool quiet; /* say nothing (the summary still comes) */
    bool echo;  /* say each check as it is recorded */
    demo_check checks[DEMO_MAX_CHECKS];
    size_t n;
    double t_start;
} demo_account;

/* Starts the account of a run (and installs the signal handlers: SIGINT
 * and friends then stop the scenario, demo_interrupted). */
void demo_account_init(demo_account *a, bool json, bool quiet, bool echo);
/* A line of the account (nothing when quiet). */
void demo_say(demo_account *a, const char *fmt, ...) VMESH_PRINTF(2, 3);
/* Records a check and whether it passed. */
void demo_check_add(demo_account *a, bool ok, const char *fmt, ...) VMESH_PRINTF(3, 4);
/* At least one check, and all passed. */
bool demo_all_ok(const demo_account *a);
size_t demo_passed(const demo_account *a);
/* Prints "[ ok ] name" / "[FAIL] name" for every check (unless they were
 * echoed already), the note (when not NULL), then the verdict. */
void demo_print_checks(const demo_account *a, FILE *f, const char *note, bool kept,
                       const char *dir);

/* After the scenario: an error (rc) is told at once on stderr, prefixed
 * with what (an interruption as "interrupted: stopping everything"), and
 * recorded as a failed check. */
void demo_failed(demo_account *a, vmesh_err rc, const char *what);
/* The verdict: every check passed, or a check failed, or (rc) the
 * scenario could not run. */
demo_result demo_verdict(const demo_account *a, vmesh_err rc);

/* snprintf whose truncation is intended: paths below a directory of at
 * most DEMO_TMPDIR_MAX characters and short names fit PATH_MAX (gcc's
 * -Wformat-truncation cannot know that bound). */
#define DEMO_TMPDIR_MAX 400
void demo_sfmt(char *out, size_t n, const char *fmt, ...) VMESH_PRINTF(3, 4);
/* The running executable (exe) and a new directory TMPDIR/NAME.XXXXXX
 * (dir; "" when it could not be made). */
vmesh_err demo_workdir(const char *name, char exe[PATH_MAX], char dir[PATH_MAX]) VMESH_WUR;
/* Removes dir and everything below it. */
void demo_rm_tree(const char *dir);
/* True when an executable `name` is in PATH. */
bool demo_in_path(const char *name);
vmesh_err demo_write_text(const char *path, const char *text) VMESH_WUR;

/* ---- processes (proc.c) --------------------------------------------------------- */

typedef struct {
    char name[48];
    char log[PATH_MAX];
    pid_t pid;  /* 0: not running (never started or reaped) */
    int status; /* wait status once reaped */
    bool reaped;
} demo_proc;

/* An argv under construction; strings are copied. */
typedef struct {
    char *v[DEMO_MAX_ARGS + 1];
    size_t n;
    bool overflow; /* too many words, no memory or a conversion other than %s %d %u %% */
} demo_argv;

/* Appends the words of fmt (split at spaces) with their conversions
 * filled in: "%s rvp publish --key %s/rvp.key" adds four words. Only %s,
 * %d, %u and %% are known; a value is never split, whatever it contains. */
void demo_argv_add(demo_argv *a, const char *fmt, ...) VMESH_PRINTF(2, 3);
void demo_argv_vadd(demo_argv *a, const char *fmt, va_list ap) VMESH_PRINTF(2, 0);
void demo_argv_free(demo_argv *a);

/* SIGINT/SIGTERM/SIGHUP set a flag (the demo then stops what it started). */
void demo_signals_install(void);
bool demo_interrupted(void);
/* SIGUSR1 and SIGUSR2 as requests to the scenario (demo sase --keep:
 * revoke and restore); demo_user_request returns the last one received,
 * or 0, and forgets it. */
void demo_user_signals_install(void);
int demo_user_request(void);

/* Starts argv (argv[0] a path, or a name looked up in PATH) as a child in
 * its own process group, with stdin from /dev/null and stdout+stderr to
 * log, in directory cwd, inside network namespace netns (NULL: ours). The
 * child dies with the demo (PR_SET_PDEATHSIG). */
vmesh_err demo_spawn(demo_proc *p, const char *name, const char *log, const char *cwd,
                     const char *netns, demo_argv *argv) VMESH_WUR;
/* True while the child runs (reaps it when it exited). */
bool demo_alive(demo_proc *p);
/* SIGTERM to the process groups of procs[0..n), wait up to timeout_ms for
 * all, then SIGKILL to the groups of those left. */
void demo_stop(demo_proc *const *procs, size_t n, int timeout_ms);
/* Runs argv to completion (at most timeout_ms, then killed); *exit_code is
 * its exit status, or -1 when killed by a signal. An interruption (SIGINT)
 * stops it early unless it is part of the clean-up (cleanup true). */
vmesh_err demo_run(const char *name, const char *log, const char *cwd, const char *netns,
                   demo_argv *argv, int timeout_ms, bool cleanup, int *exit_code) VMESH_WUR;
/* The same for the words of fmt (demo_argv_add) as `name`, in directory
 * dir, its output in dir/logs/NAME.log. demo_runf stores the exit status
 * in *code; without code (NULL) the command must exit 0 (else an error
 * naming it and its log). */
vmesh_err demo_spawnf(demo_proc *p, const char *dir, const char *netns, const char *name,
                      const char *fmt, ...) VMESH_PRINTF(5, 6) VMESH_WUR;
vmesh_err demo_runf(const char *dir, const char *netns, const char *name, int timeout_ms, int *code,
                    const char *fmt, ...) VMESH_PRINTF(6, 7) VMESH_WUR;
/* "exited 0", "exited 3", "killed by signal 9", "running". */
void demo_proc_describe(const demo_proc *p, char *out, size_t n);
/* Prints the last `lines` lines of a log file to stderr, indented. */
void demo_log_tail(const char *path, int lines);
/* True when the file contains needle (at most 4 MiB read). */
bool demo_file_contains(const char *path, const char *needle);

/* A TCP port free on 127.0.0.1 now, never handed out before by this process;
 * with pair, port+1 is free too. 0 when none was found. */
uint16_t demo_free_port(bool pair);
/* Waits until a TCP connect to host:port succeeds (proc must stay alive). */
vmesh_err demo_wait_port(demo_proc *p, const char *host, uint16_t port, int timeout_ms) VMESH_WUR;
/* Waits until GET url answers `status` (proc must stay alive). */
vmesh_err demo_wait_http(demo_proc *p, const char *url, long status, int timeout_ms) VMESH_WUR;
/* Waits until the log of p contains needle (p must stay alive). */
vmesh_err demo_wait_log(demo_proc *p, const char *needle, int timeout_ms) VMESH_WUR;
/* Sleeps ms milliseconds, or less when interrupted. */
void demo_sleep_ms(int ms);
double demo_now_ms(void);

/* ---- network namespaces (net.c) ------------------------------------------------- */

enum { DEMO_NS_RVP, DEMO_NS_VERIFIER, DEMO_NS_POP, DEMO_NS_CLIENTS, DEMO_NS__COUNT };

typedef struct {
    bool up;
    char hub[32];                  /* namespace holding the bridge */
    char ns[DEMO_NS__COUNT][32];   /* one per role */
    char addr[DEMO_NS__COUNT][20]; /* its address (198.18.0.0/24: RFC 2544, ours only) */
    bool made[DEMO_NS__COUNT + 1]; /* which namespaces exist (last: hub) */
} demo_net;

/* Tries to create the namespaces, veth pairs and bridge; on failure removes
 * what it made and returns the error (the caller falls back to loopback).
 * log receives the ip commands' output. */
vmesh_err demo_net_up(demo_net *n, const char *log) VMESH_WUR;
/* Runs `ip` with the words of fmt (demo_argv_add), its output appended to
 * log; an exit status other than 0 is an error naming what. */
vmesh_err demo_ip(const char *log, const char *what, bool cleanup, const char *fmt, ...)
    VMESH_PRINTF(4, 5) VMESH_WUR;
/* Moves the calling thread into namespace `ns`. */
vmesh_err demo_net_enter(const char *ns) VMESH_WUR;
/* Deletes every namespace made (their veths and the bridge go with them). */
void demo_net_down(demo_net *n, const char *log);

/* ---- probes (probe.c) ------------------------------------------------------------ */

/* One GET on a new connection: admitted when the status is 200 and the body
 * contains want. *ms is the total time. */
bool demo_http_get(const char *url, const char *want, long timeout_ms, double *ms);
/* A plain TLS 1.3 client (no 0xff4d extension), with an SVID when cert and
 * key are given: connects, sends an HTTP request, and reports whether any
 * HTTP response came back (admitted). what receives what happened. */
bool demo_tls_probe(const char *host, uint16_t port, const char *cert, const char *key, char *what,
                    size_t n);

/* ---- platforms and reference values (material.c) ------------------------------ */

/* The files of a psa-sim platform called `who` in dir: its IAK (private
 * and public), its firmware and workload (measured as BL and workload) and
 * its claims template. */
typedef struct {
    char iak[PATH_MAX], iak_pub[PATH_MAX], fw[PATH_MAX], workload[PATH_MAX], claims[PATH_MAX];
} demo_psa_files;

void demo_psa_files_of(const char *dir, const char *who, demo_psa_files *f);
/* Creates them: a new IAK, a firmware file, workload_text as the workload,
 * and a PSA claims template (TFM profile, implementation id class_prefix
 * + who padded to 32 bytes, lifecycle secured) written with
 * vmesh_psa_claims_to_json. */
vmesh_err demo_psa_platform(const char *dir, const char *class_prefix, const char *who,
                            const char *workload_text) VMESH_WUR;
/* Adds the platform's reference values to rv (vmesh_psa_reference_values
 * over the configuration its sidecar runs with); workload: the file whose
 * digest the RVP approves, NULL for the platform's own. */
vmesh_err demo_psa_rv(const char *dir, const char *who, const char *workload,
                      vmesh_rv_store *rv) VMESH_WUR;
/* Writes the reference values of the platforms whos (NULL-terminated) to
 * path; with v2_text, the first one's is that of a workload v2 (that
 * text), which it does not run: the RVP revoked what it runs. */
vmesh_err demo_psa_rv_file(const char *dir, const char *path, const char *const *whos,
                           const char *v2_text) VMESH_WUR;
/* A new P-256 key pair: dir/NAME.key (private) and dir/NAME.pub. */
vmesh_err demo_keypair(const char *dir, const char *name) VMESH_WUR;
/* Makes the directories dir/SUB for each SUB of the NUL-separated list
 * subs (ending with an empty one: "rv\0logs\0"). */
vmesh_err demo_mkdirs(const char *dir, const char *subs) VMESH_WUR;
/* Writes rv as RV JSON (vmesh_rv_store_to_json). */
vmesh_err demo_rv_write(const vmesh_rv_store *rv, const char *path) VMESH_WUR;

#endif
