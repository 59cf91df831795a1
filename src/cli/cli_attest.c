/*
 * `vmesh attest`: produce platform evidence with a software attester
 * (platform psa: the psa-sim attester of the psa scheme) and print the
 * claims of a PSA token. It must never print or log the IAK, and never
 * write a token whose claims do not validate.
 */
#include "cli.h"

#include "vmesh/psa.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define MAX_MEASURE 64

static void attest_usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh attest psa --iak KEY --claims CLAIMS.json [--nonce HEX]\n"
            "                        [--measure NAME=FILE ...] -o TOKEN\n"
            "       vmesh attest psa --print TOKEN [--iak KEY]\n"
            "       vmesh attest tpm2 ... (TPM 2.0 quote: vmesh attest tpm2 --help)\n"
            "\n"
            "Produces a PSA attestation token (RFC 9783, COSE_Sign1; profile\n"
            "tag:psacertified.org,2023:psa#tfm unless the claims name another) signed\n"
            "with the Initial Attestation Key, as a software attester (psa-sim).\n"
            "\n"
            "  -k, --iak KEY          IAK private key: PEM (PKCS#8, SEC1) or JWK\n"
            "  -c, --claims FILE      claims template, JSON as Veraison writes PSA claims\n"
            "                         (\"eat-profile\", \"psa-client-id\", \"psa-security-lifecycle\",\n"
            "                         \"psa-implementation-id\", \"psa-software-components\", ...)\n"
            "  -n, --nonce HEX        the nonce (32, 48 or 64 bytes); replaces \"psa-nonce\"\n"
            "  -m, --measure NAME=FILE\n"
            "                         measurement-value of the component of type NAME becomes\n"
            "                         SHA-256(FILE); a component is appended if there is none\n"
            "                         (repeatable)\n"
            "  -o, --out TOKEN        where to write the token ('-': standard output)\n"
            "  -p, --print TOKEN      print the claims of TOKEN as JSON; with --iak also check\n"
            "                         its signature with that key\n"
            "  -h, --help             this text\n"
            "\n"
            "Without \"psa-instance-id\" in the claims, the instance id is\n"
            "0x01 || SHA-256(SubjectPublicKeyInfo of the IAK).\n"
            "\n"
            "exit codes: 0 token written (or printed, signature good); 1 bad option,\n"
            "unreadable key or claims, invalid claims, bad signature or I/O error\n");
}

static int print_token(const char *path, const char *iak_path)
{
    vmesh_buf tok = {0}, json = {0};
    vmesh_psa_claims c;
    vmesh_cose_sign1 *m = NULL;
    vmesh_key *k = NULL;
    vmesh_err rc;
    int ret = CLI_EXIT_ERROR;

    vmesh_psa_claims_init(&c);
    rc = vmesh_file_read(path, VMESH_PSA_MAX_TOKEN, &tok);
    if (rc != VMESH_OK) {
        cli_fail("attest", rc, "reading the token");
        goto out;
    }
    rc = vmesh_psa_token_decode(tok.data, tok.len, &m, &c);
    if (rc != VMESH_OK) {
        cli_fail("attest", rc, path);
        goto out;
    }
    if (iak_path != NULL) {
        rc = vmesh_crypto_key_load(iak_path, &k);
        if (rc != VMESH_OK) {
            cli_fail("attest", rc, "reading the IAK");
            goto out;
        }
        rc = vmesh_cose_sign1_verify(m, k);
        if (rc != VMESH_OK) {
            cli_fail("attest", rc, "the token signature does not verify with the IAK");
            goto out;
        }
    }
    rc = vmesh_psa_claims_to_json(&c, true, &json);
    if (rc != VMESH_OK) {
        cli_fail("attest", rc, "printing the claims");
        goto out;
    }
    printf("%s\n", (const char *)json.data);
    if (iak_path != NULL)
        fprintf(stderr, "vmesh attest: signature verified with %s\n", iak_path);
    ret = CLI_EXIT_OK;
out:
    vmesh_crypto_key_free(k);
    vmesh_cose_sign1_free(m);
    vmesh_psa_claims_free(&c);
    vmesh_buf_free(&tok);
    vmesh_buf_free(&json);
    return ret;
}

static int attest_psa(int argc, char **argv)
{
    static const struct option opts[] = {
        {"iak", required_argument, NULL, 'k'},     {"claims", required_argument, NULL, 'c'},
        {"nonce", required_argument, NULL, 'n'},   {"measure", required_argument, NULL, 'm'},
        {"out", required_argument, NULL, 'o'},     {"print", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *iak = NULL, *claims = NULL, *nonce_hex = NULL, *out = NULL, *print = NULL;
    vmesh_kv cfg[2 + MAX_MEASURE];
    size_t ncfg = 0;
    const char *measures[MAX_MEASURE];
    size_t nmeasure = 0;
    vmesh_buf nonce = {0}, ev = {0};
    void *ctx = NULL;
    vmesh_err rc;
    int c, ret = CLI_EXIT_ERROR;

    optind = 1;
    while ((c = getopt_long(argc, argv, "k:c:n:m:o:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': iak = optarg; break;
        case 'c': claims = optarg; break;
        case 'n': nonce_hex = optarg; break;
        case 'm':
            if (nmeasure == MAX_MEASURE)
                return cli_usage_error("attest", "more than %d --measure options", MAX_MEASURE);
            measures[nmeasure++] = optarg;
            break;
        case 'o': out = optarg; break;
        case 'p': print = optarg; break;
        case 'h': attest_usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("attest", "invalid option");
        }
    }
    if (optind != argc)
        return cli_usage_error("attest", "unexpected argument '%s'", argv[optind]);
    if (print != NULL) {
        if (claims != NULL || nonce_hex != NULL || nmeasure > 0 || out != NULL)
            return cli_usage_error("attest", "--print takes only --iak");
        return print_token(print, iak);
    }
    if (iak == NULL)
        return cli_usage_error("attest", "--iak KEY is required");
    if (claims == NULL)
        return cli_usage_error("attest", "--claims CLAIMS.json is required");
    if (out == NULL)
        return cli_usage_error("attest", "-o TOKEN is required");
    if (nonce_hex != NULL) {
        if (vmesh_hex_decode(nonce_hex, strlen(nonce_hex), &nonce) != VMESH_OK) {
            ret = cli_usage_error("attest", "--nonce is not valid hex: %s", vmesh_err_detail());
            goto out;
        }
        if (nonce.len != 32 && nonce.len != 48 && nonce.len != 64) {
            ret = cli_usage_error("attest", "--nonce is %zu bytes; a PSA nonce must be 32, 48 or 64 bytes "
                                            "(64, 96 or 128 hex digits)",
                                  nonce.len);
            goto out;
        }
    }
    cfg[ncfg++] = (vmesh_kv){"iak", iak};
    cfg[ncfg++] = (vmesh_kv){"claims", claims};
    for (size_t i = 0; i < nmeasure; i++)
        cfg[ncfg++] = (vmesh_kv){"measure", measures[i]};
    rc = vmesh_scheme_psa.attester_new(cfg, ncfg, &ctx);
    if (rc != VMESH_OK) {
        ret = cli_fail("attest", rc, "setting up the psa-sim attester");
        goto out;
    }
    rc = vmesh_scheme_psa.attest(ctx, nonce_hex ? nonce.data : NULL, nonce.len, &ev);
    if (rc != VMESH_OK) {
        ret = cli_fail("attest", rc, "producing the token");
        goto out;
    }
    if (strcmp(out, "-") == 0) {
        if (fwrite(ev.data, 1, ev.len, stdout) != ev.len || fflush(stdout) != 0) {
            fprintf(stderr, "vmesh attest: writing the token to standard output failed\n");
            goto out;
        }
    } else {
        rc = vmesh_file_write(out, ev.data, ev.len, 0644);
        if (rc != VMESH_OK) {
            ret = cli_fail("attest", rc, "writing the token");
            goto out;
        }
    }
    ret = CLI_EXIT_OK;
out:
    if (ctx != NULL)
        vmesh_scheme_psa.attester_free(ctx);
    vmesh_buf_free(&nonce);
    vmesh_buf_free(&ev);
    return ret;
}

int cli_attest(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        attest_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "psa") == 0 || strcmp(argv[1], "psa-sim") == 0)
        return attest_psa(argc - 1, argv + 1);
    if (strcmp(argv[1], "tpm2") == 0)
        return cli_attest_tpm2(argc - 1, argv + 1);
    return cli_usage_error("attest", "unknown platform '%s' (known: psa, tpm2)", argv[1]);
}
