/*
 * Internals of the demos shared by their files (cli_demo.c: `vmesh demo
 * sase`; demo_ipsec.c: `vmesh demo ipsec`; demo_proc.c: child processes,
 * readiness, ports; demo_net.c: network namespaces; demo_probe.c: timed
 * HTTP requests and unattested TLS probes; demo_files.c: psa-sim platforms
 * and RV files). The demo runs on one machine and must never reach anything but
 * 127.0.0.1 or addresses it created inside its own network namespaces, and
 * must never leave a process or a namespace behind.
 */
#ifndef VMESH_CLI_DEMO_H
#define VMESH_CLI_DEMO_H

#include "vmesh/core.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define DEMO_MAX_ARGS 48
#define DEMO_MAX_CLIENTS 200

/* ---- processes (demo_proc.c) ------------------------------------------------ */

typedef struct {
    char name[48];
    char log[PATH_MAX];
    pid_t pid;     /* 0: not running (never started or reaped) */
    int status;    /* wait status once reaped */
    bool reaped;
} demo_proc;

/* An argv under construction; strings are copied. */
typedef struct {
    char *v[DEMO_MAX_ARGS + 1];
    size_t n;
    bool overflow;
} demo_argv;

void demo_argv_add(demo_argv *a, const char *fmt, ...) VMESH_PRINTF(2, 3);
void demo_argv_free(demo_argv *a);

/* SIGINT/SIGTERM/SIGHUP set a flag (the demo then stops what it started). */
void demo_signals_install(void);
bool demo_interrupted(void);

/* Starts argv (argv[0] a path, or a name looked up in PATH) as a child in
 * its own process group, with stdin from /dev/null and stdout+stderr to
 * log, in directory cwd, inside network namespace netns (NULL: ours). The
 * child dies with the demo (PR_SET_PDEATHSIG). */
vmesh_err demo_spawn(demo_proc *p, const char *name, const char *log, const char *cwd, const char *netns,
                     demo_argv *argv) VMESH_WUR;
/* True while the child runs (reaps it when it exited). */
bool demo_alive(demo_proc *p);
/* SIGTERM to the process groups of procs[0..n), wait up to timeout_ms for
 * all, then SIGKILL to the groups of those left. */
void demo_stop(demo_proc *const *procs, size_t n, int timeout_ms);
/* Runs argv to completion (at most timeout_ms, then killed); *exit_code is
 * its exit status, or -1 when killed by a signal. An interruption (SIGINT)
 * stops it early unless it is part of the clean-up (cleanup true). */
vmesh_err demo_run(const char *name, const char *log, const char *cwd, const char *netns, demo_argv *argv,
                   int timeout_ms, bool cleanup, int *exit_code) VMESH_WUR;
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

/* ---- network namespaces (demo_net.c) ----------------------------------------- */

enum { DEMO_NS_RVP, DEMO_NS_VERIFIER, DEMO_NS_POP, DEMO_NS_CLIENTS, DEMO_NS__COUNT };

typedef struct {
    bool up;
    char hub[32];                    /* namespace holding the bridge */
    char ns[DEMO_NS__COUNT][32];     /* one per role */
    char addr[DEMO_NS__COUNT][20];   /* its address (198.18.0.0/24: RFC 2544, ours only) */
    bool made[DEMO_NS__COUNT + 1];   /* which namespaces exist (last: hub) */
} demo_net;

/* Tries to create the namespaces, veth pairs and bridge; on failure removes
 * what it made and returns the error (the caller falls back to loopback).
 * log receives the ip commands' output. */
vmesh_err demo_net_up(demo_net *n, const char *log) VMESH_WUR;
/* Moves the calling thread into namespace `ns`. */
vmesh_err demo_net_enter(const char *ns) VMESH_WUR;
/* Deletes every namespace made (their veths and the bridge go with them). */
void demo_net_down(demo_net *n, const char *log);

/* ---- probes (demo_probe.c) ---------------------------------------------------- */

/* One GET on a new connection: admitted when the status is 200 and the body
 * contains want. *ms is the total time. */
bool demo_http_get(const char *url, const char *want, long timeout_ms, double *ms);
/* A plain TLS 1.3 client (no 0xff4d extension), with an SVID when cert and
 * key are given: connects, sends an HTTP request, and reports whether any
 * HTTP response came back (admitted). what receives what happened. */
bool demo_tls_probe(const char *host, uint16_t port, const char *cert, const char *key, char *what, size_t n);

/* ---- files (demo_files.c) ------------------------------------------------------ */

/* snprintf whose truncation is intended (paths below a directory of at most
 * 512 characters, short names). */
void demo_sfmt(char *out, size_t n, const char *fmt, ...) VMESH_PRINTF(3, 4);
vmesh_err demo_write_text(const char *path, const char *text) VMESH_WUR;
vmesh_err demo_write_json(const char *path, json_t *j) VMESH_WUR;
vmesh_err demo_sha256_hex(const char *path, char out[65]) VMESH_WUR;
/* A psa-sim platform in dir: WHO-iak.pem/.pub, WHO-fw, WHO-workload (the
 * given text), WHO-claims.json with implementation id class_prefix + WHO
 * (32 bytes). */
vmesh_err demo_psa_platform(const char *dir, const char *class_prefix, const char *who,
                            const char *workload_text) VMESH_WUR;
/* Appends to list the RV JSON entry approving WHO's platform; workload_digest
 * (hex) NULL: the digest of its workload file. */
vmesh_err demo_psa_rv_entry(const char *dir, const char *class_prefix, const char *who,
                            const char *workload_digest, json_t *list) VMESH_WUR;
/* Writes {"format": "vmesh-rv/1", "reference-values": list}. */
vmesh_err demo_rv_file(const char *path, json_t *list) VMESH_WUR;

#endif
