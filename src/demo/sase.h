/*
 * The SASE scenario's own state, shared by its files (sase.c: the
 * scenario; report.c: the account's summary and the JSON object). Not
 * used by anything else in the demo harness.
 */
#ifndef VMESH_DEMO_SASE_H
#define VMESH_DEMO_SASE_H

#include "demo.h"

#include <stdio.h>

#define TRUST_DOMAIN "sase.example"
#define POP_ID "spiffe://" TRUST_DOMAIN "/pop/tenant-web"
#define APP_MARKER "hello from the tenant app at the SASE PoP"
#define RVP_NAME "sase-rvp"
#define CLASS_PREFIX "sase-demo-" /* + the platform's name: its implementation id */
#define MAX_TPM 2
#define BELL_PERIOD 30

typedef enum { M_CENTRAL, M_LOCAL, M_PASSPORT, M__COUNT } demo_mode;
extern const char *const sase_mode_names[M__COUNT];

typedef struct {
    bool ran;
    unsigned attempted, admitted, refused;
    double *lat;
    size_t nlat;
    double p50, p99;
} mode_stats;

/* A work-from-home client: its outbound sidecar and platform. */
typedef struct {
    uint16_t out_port, admin_port; /* its sidecar's plaintext listener and admin endpoint */
    int tpm;                       /* -1: psa-sim, else the swtpm index */
    demo_proc proc;                /* its sidecar in the current mode */
} sase_client;

typedef struct {
    demo_opts opt;
    demo_account acc;
    /* environment */
    char exe[PATH_MAX];
    char dir[PATH_MAX];
    demo_net net;
    int home_ns;
    const char *ns_rvp, *ns_ver, *ns_pop, *ns_cli; /* NULL: ours */
    char rvp_host[20], ver_host[20], pop_host[20];
    uint16_t rvp_port, ver_port, app_port, pop_port, pop_admin;
    /* TPM simulators */
    int ntpm;
    uint16_t tpm_port[MAX_TPM];
    demo_proc tpm[MAX_TPM];
    /* processes */
    demo_proc rvp_serve, rvp_tick, verifier, app, pop;
    demo_proc dash;     /* vmesh dashboard: the mesh page over the PoP and the clients */
    uint16_t dash_port; /* its page, on 127.0.0.1 (in the clients' namespace with --netns) */
    sase_client *cl; /* [opt.clients] */
    unsigned sidecar_runs, sidecar_clean;
    char unclean[256];
    int epoch;
    /* results */
    mode_stats modes[M__COUNT];
    bool revocation_ran;
    double cutoff_ms, restore_ms;
    /* Start of the latest request that was still admitted after the
     * revocation's publication (ms after it; -1: none): what the deadline
     * check judges, because a request admitted that started after the
     * deadline proves a late cut-off whatever the machine's load, while
     * cutoff_ms also counts the demo's own round over the clients. */
    double last_admitted_ms;
    int refused_after, admitted_after_restore, unattested_admitted;
} demo;

/* report.c */
void sase_print_summary(demo *d);
void sase_print_json(demo *d);

#endif
