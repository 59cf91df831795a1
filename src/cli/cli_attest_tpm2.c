/*
 * `vmesh attest tpm2`: quote a TPM (any TCTI: swtpm, device, tabrmd) into
 * tpm2 evidence, write the current PCR values and the AK public key as
 * reference values (RV JSON), or print decoded evidence. It must never
 * present printed evidence as verified: --print decodes only.
 */
#include "cli.h"

#include "vmesh/tpm2.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh attest tpm2 [TPM options] --nonce HEX -o EVIDENCE\n"
            "       vmesh attest tpm2 [TPM options] --reference-values OUT.json\n"
            "       vmesh attest tpm2 --print EVIDENCE\n"
            "\n"
            "Quotes the TPM's PCRs with a restricted ECC P-256 attestation key (created and\n"
            "persisted at the AK handle when absent) and writes tpm2 evidence\n"
            "(" VMESH_TPM2_MEDIA_TYPE ", docs/TPM2.md).\n"
            "\n"
            "TPM options:\n"
            "  -T, --tcti CONF          TCTI, e.g. swtpm:host=127.0.0.1,port=2321, device:/dev/tpmrm0,\n"
            "                           tabrmd (default: tss2's default TCTI)\n"
            "  -H, --ak-handle HANDLE   persistent handle of the AK (default 0x81010002)\n"
            "      --ak-hierarchy H     endorsement (default) or owner: where a new AK is created\n"
            "  -P, --pcrs SPEC          PCR selection (default " VMESH_TPM2_DEFAULT_PCRS "),\n"
            "                           banks joined with '+': sha256:0,7+sha384:0\n"
            "  -L, --eventlog FILE      carry this event log in the evidence\n"
            "  -c, --class ID           class id text (default " VMESH_TPM2_DEFAULT_CLASS ")\n"
            "actions:\n"
            "  -n, --nonce HEX          qualifying data, 1..64 bytes\n"
            "  -o, --out FILE           where to write the evidence ('-': standard output)\n"
            "  -r, --reference-values FILE\n"
            "                           write RV JSON: the current values of the selected PCRs\n"
            "                           (\"pcr<N>\") for the class and the AK public key for its\n"
            "                           instance id SHA-256(SPKI)\n"
            "  -p, --print FILE         print decoded evidence as JSON (no signature check:\n"
            "                           use vmesh appraise for that)\n"
            "\n"
            "exit codes: 0 done; 1 bad option, TPM unreachable or refused, malformed evidence\n");
}

static int write_out(const char *path, const vmesh_buf *b)
{
    vmesh_err rc;

    if (strcmp(path, "-") == 0) {
        if (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout) != 0) {
            fprintf(stderr, "vmesh attest: writing to standard output failed\n");
            return CLI_EXIT_ERROR;
        }
        return CLI_EXIT_OK;
    }
    rc = vmesh_file_write(path, b->data, b->len, 0644);
    return rc == VMESH_OK ? CLI_EXIT_OK : cli_fail("attest", rc, path);
}

static int print_evidence(const char *path)
{
    vmesh_buf in = {0}, json = {0};
    vmesh_tpm2_evidence ev;
    vmesh_tpm2_quote q;
    vmesh_err rc;
    int ret = CLI_EXIT_ERROR;

    memset(&ev, 0, sizeof(ev));
    if ((rc = vmesh_file_read(path, VMESH_TPM2_MAX_EVIDENCE, &in)) != VMESH_OK ||
        (rc = vmesh_tpm2_evidence_decode(in.data, in.len, &ev)) != VMESH_OK ||
        (rc = vmesh_tpm2_quote_parse(ev.attest, ev.attest_len, &q)) != VMESH_OK ||
        (rc = vmesh_tpm2_evidence_to_json(&ev, &q, true, &json)) != VMESH_OK) {
        cli_fail("attest", rc, path);
        goto out;
    }
    printf("%s\n", (const char *)json.data);
    ret = CLI_EXIT_OK;
out:
    vmesh_tpm2_evidence_free(&ev);
    vmesh_buf_free(&in);
    vmesh_buf_free(&json);
    return ret;
}

int cli_attest_tpm2(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tcti", required_argument, NULL, 'T'},      {"ak-handle", required_argument, NULL, 'H'},
        {"ak-hierarchy", required_argument, NULL, 'Y'}, {"pcrs", required_argument, NULL, 'P'},
        {"eventlog", required_argument, NULL, 'L'},  {"class", required_argument, NULL, 'c'},
        {"nonce", required_argument, NULL, 'n'},     {"out", required_argument, NULL, 'o'},
        {"reference-values", required_argument, NULL, 'r'}, {"print", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    vmesh_kv cfg[6];
    size_t ncfg = 0;
    const char *nonce_hex = NULL, *out = NULL, *rv_out = NULL, *print = NULL;
    vmesh_buf nonce = {0}, ev = {0};
    void *ctx = NULL;
    vmesh_err rc;
    int c, ret = CLI_EXIT_ERROR;

    optind = 1;
    while ((c = getopt_long(argc, argv, "T:H:P:L:c:n:o:r:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'T': cfg[ncfg++] = (vmesh_kv){"tcti", optarg}; break;
        case 'H': cfg[ncfg++] = (vmesh_kv){"ak-handle", optarg}; break;
        case 'Y': cfg[ncfg++] = (vmesh_kv){"ak-hierarchy", optarg}; break;
        case 'P': cfg[ncfg++] = (vmesh_kv){"pcrs", optarg}; break;
        case 'L': cfg[ncfg++] = (vmesh_kv){"eventlog", optarg}; break;
        case 'c': cfg[ncfg++] = (vmesh_kv){"class", optarg}; break;
        case 'n': nonce_hex = optarg; break;
        case 'o': out = optarg; break;
        case 'r': rv_out = optarg; break;
        case 'p': print = optarg; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("attest", "invalid option");
        }
        /* each TPM option at most once: ncfg never exceeds the table */
        for (size_t i = 0; i + 1 < ncfg; i++)
            if (strcmp(cfg[i].key, cfg[ncfg - 1].key) == 0)
                return cli_usage_error("attest", "--%s given twice", cfg[i].key);
    }
    if (optind != argc)
        return cli_usage_error("attest", "unexpected argument '%s'", argv[optind]);
    if (print != NULL) {
        if (ncfg > 0 || nonce_hex || out || rv_out)
            return cli_usage_error("attest", "--print takes no other option");
        return print_evidence(print);
    }
    if (rv_out != NULL) {
        if (nonce_hex || out)
            return cli_usage_error("attest", "--reference-values takes no --nonce or -o");
        rc = vmesh_tpm2_reference_values(cfg, ncfg, &ev);
        if (rc != VMESH_OK)
            return cli_fail("attest", rc, "reading reference values from the TPM");
        ret = write_out(rv_out, &ev);
        goto out;
    }
    if (nonce_hex == NULL || out == NULL)
        return cli_usage_error("attest", "--nonce HEX and -o EVIDENCE are required (or --reference-values, --print)");
    if (vmesh_hex_decode(nonce_hex, strlen(nonce_hex), &nonce) != VMESH_OK || nonce.len < 1 || nonce.len > 64) {
        ret = cli_usage_error("attest", "--nonce must be 1..64 bytes of hex (2..128 digits)");
        goto out;
    }
    rc = vmesh_scheme_tpm2.attester_new(cfg, ncfg, &ctx);
    if (rc != VMESH_OK) {
        ret = cli_fail("attest", rc, "setting up the TPM attester");
        goto out;
    }
    rc = vmesh_scheme_tpm2.attest(ctx, nonce.data, nonce.len, &ev);
    if (rc != VMESH_OK) {
        ret = cli_fail("attest", rc, "quoting");
        goto out;
    }
    ret = write_out(out, &ev);
out:
    if (ctx != NULL)
        vmesh_scheme_tpm2.attester_free(ctx);
    vmesh_buf_free(&nonce);
    vmesh_buf_free(&ev);
    return ret;
}
