/*
 * `vmesh ca`: a small CA for tests and demos that issues SPIFFE
 * X509-SVIDs (init, issue, bundle). It only wraps the pki module; it must
 * never print a private key.
 */
#include "cli.h"
#include "vmesh/pki.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ca_usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh ca init --trust-domain TD --out DIR [--days N] [--key-type ec-p256]\n"
            "       vmesh ca issue --ca DIR --spiffe-id spiffe://TD/PATH --out PREFIX [--days N]\n"
            "                      [--key-type ec-p256|ec-p384]\n"
            "       vmesh ca bundle --ca DIR\n"
            "\n"
            "init   writes DIR/ca.pem, DIR/ca.key (0600) and DIR/bundle.pem\n"
            "issue  writes PREFIX.pem (X509-SVID leaf), PREFIX-chain.pem (leaf + CA) and\n"
            "       PREFIX.key (0600)\n"
            "bundle prints the trust bundle (PEM)\n");
}

static int parse_days(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 36500)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_ca(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trust-domain", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},
        {"ca", required_argument, NULL, 'c'},
        {"spiffe-id", required_argument, NULL, 's'},
        {"days", required_argument, NULL, 'd'},
        {"key-type", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sub, *td = NULL, *out = NULL, *ca = NULL, *id = NULL;
    vmesh_key_type kt = VMESH_KEY_EC_P256;
    vmesh_buf bundle = {0};
    vmesh_err e;
    int days = 0, c, rc = CLI_EXIT_OK;

    if (argc < 2) {
        ca_usage(stderr);
        return CLI_EXIT_ERROR;
    }
    sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        ca_usage(stdout);
        return CLI_EXIT_OK;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': td = optarg; break;
        case 'o': out = optarg; break;
        case 'c': ca = optarg; break;
        case 's': id = optarg; break;
        case 'd':
            if (parse_days(optarg, &days) != 0)
                return cli_usage_error("ca", "--days must be an integer 1..36500");
            break;
        case 'k':
            if (vmesh_crypto_key_type_parse(optarg, &kt) != VMESH_OK ||
                (kt != VMESH_KEY_EC_P256 && kt != VMESH_KEY_EC_P384))
                return cli_usage_error("ca", "--key-type must be ec-p256 or ec-p384");
            break;
        case 'h': ca_usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("ca", "unknown option");
        }
    }
    if (optind < argc - 1)
        return cli_usage_error("ca", "unexpected argument '%s'", argv[optind + 1]);
    if (strcmp(sub, "init") == 0) {
        if (td == NULL || out == NULL)
            return cli_usage_error("ca", "init needs --trust-domain and --out");
        e = vmesh_pki_ca_init(td, out, days, kt);
        if (e != VMESH_OK)
            return cli_fail("ca", e, "init");
        printf("CA for spiffe://%s in %s (trust bundle %s/%s)\n", td, out, out,
               VMESH_PKI_CA_BUNDLE);
    } else if (strcmp(sub, "issue") == 0) {
        if (ca == NULL || id == NULL || out == NULL)
            return cli_usage_error("ca", "issue needs --ca, --spiffe-id and --out");
        e = vmesh_pki_ca_issue(ca, id, out, days, kt);
        if (e != VMESH_OK)
            return cli_fail("ca", e, "issue");
        printf("X509-SVID %s: %s.pem, %s.key, %s-chain.pem\n", id, out, out, out);
    } else if (strcmp(sub, "bundle") == 0) {
        if (ca == NULL)
            return cli_usage_error("ca", "bundle needs --ca");
        e = vmesh_pki_ca_bundle(ca, &bundle);
        if (e != VMESH_OK)
            return cli_fail("ca", e, "bundle");
        if (fwrite(bundle.data, 1, bundle.len, stdout) != bundle.len)
            rc = CLI_EXIT_ERROR;
        vmesh_buf_free(&bundle);
    } else {
        return cli_usage_error("ca", "unknown subcommand '%s' (init, issue, bundle)", sub);
    }
    return rc;
}
