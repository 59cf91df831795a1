/*
 * `vmesh`: one command, many subcommands (DESIGN §2). This file only
 * dispatches; each subcommand lives in its own cli_<name>.c.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const cli_command commands[] = {
    {"init", cli_init, "the first ten minutes: write a working client -> service mesh on 127.0.0.1 (vmesh init DIR)"},
    {"keygen", cli_keygen, "generate a signing key (EC P-256/P-384, Ed25519) as PEM or JWK"},
    {"attest", cli_attest, "produce platform evidence (psa-sim, cca-sim, tpm2, tsm), print it, read reference values"},
    {"appraise", cli_appraise, "appraise evidence against reference values into a signed EAR"},
    {"ca", cli_ca, "a small CA for tests and demos: SPIFFE X509-SVIDs"},
    {"ear", cli_ear, "verify and print an EAR attestation result"},
    {"server", cli_server, "attested TLS test server: attests, appraises the client, echoes"},
    {"client", cli_client, "attested TLS test client: attests, appraises the server, sends stdin"},
    {"proxy", cli_proxy, "the sidecar: attested mTLS listeners in front of a local app (-c CONFIG.yaml)"},
    {"ipsec", cli_ipsec, "attested IPsec gateway: IKE credentials from attested sessions, into strongSwan's charon"},
    {"rvp", cli_rvp, "trust bundles: publish, serve, sync; the epoch bell (tick)"},
    {"verifier", cli_verifier, "central verifier: Veraison challenge-response API issuing EARs"},
    {"dashboard", cli_dashboard, "the mesh page: reads the nodes' admin endpoints, draws who trusts whom"},
    {"demo", cli_demo, "scenarios on one machine: vmesh demo sase [--clients N] [--json], vmesh demo ipsec"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: vmesh <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'vmesh <command> --help' for the options of a command.\n");
}

int cli_fail(const char *cmd, vmesh_err e, const char *what)
{
    const char *d = vmesh_err_detail();

    /* A daemon asked for JSON logs: its last words are a record too. */
    if (vmesh_log_get_format() == VMESH_LOG_JSON)
        vmesh_log(VMESH_LOG_ERROR, "vmesh %s: %s: %s", cmd, what, d[0] ? d : vmesh_err_name(e));
    else
        fprintf(stderr, "vmesh %s: %s: %s\n", cmd, what, d[0] ? d : vmesh_err_name(e));
    return CLI_EXIT_ERROR;
}

bool cli_seconds(const char *s, long lo, long hi, long *out)
{
    uint64_t ms;

    if (!vmesh_duration_parse_ms(s, &ms) || ms % 1000 != 0 || ms / 1000 < (uint64_t)lo || ms / 1000 > (uint64_t)hi)
        return false;
    *out = (long)(ms / 1000);
    return true;
}

void cli_notify(const char *state)
{
    if (vmesh_notify(state) != VMESH_OK)
        vmesh_log(VMESH_LOG_WARN, "%s", vmesh_err_detail());
}

int cli_log_format(const char *cmd, const char *arg)
{
    vmesh_log_format f;

    if (vmesh_log_format_parse(arg, &f) != VMESH_OK)
        return cli_usage_error(cmd, "--log-format: %s", vmesh_err_detail());
    vmesh_log_set_format(f);
    return CLI_EXIT_OK;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "vmesh %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'vmesh %s --help' for usage.\n", cmd);
    return CLI_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_ERROR;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("vmesh %s\n", VMESH_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "vmesh: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_ERROR;
}
