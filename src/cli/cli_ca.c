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
#include <unistd.h>

static void ca_usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh ca init --trust-domain TD --out DIR [--days N] [--key-type ec-p256]\n"
            "       vmesh ca issue --ca DIR --spiffe-id spiffe://TD/PATH --out PREFIX [--days N]\n"
            "                      [--key-type ec-p256|ec-p384]\n"
            "       vmesh ca bundle --ca DIR [--format pem|spiffe] [--refresh-hint DURATION]\n"
            "                       [--out FILE]\n"
            "       vmesh ca rotate --ca DIR [--days N] [--key-type ec-p256|ec-p384]\n"
            "       vmesh ca fetch --url https://... --out FILE [--endpoint-ca PEM]\n"
            "                      [--endpoint-id spiffe://TD/... --bundle FILE]\n"
            "       vmesh ca serve --ca DIR --listen HOST:PORT --cert CHAIN --key KEY --bundle FILE\n"
            "                      (--rv FILE ... | --rvp SPEC ... --state-dir DIR) [--max-ttl DURATION]\n"
            "\n"
            "init   writes DIR/ca.pem, DIR/ca.key (0600) and DIR/bundle.pem\n"
            "issue  writes PREFIX.pem (X509-SVID leaf), PREFIX-chain.pem (leaf + CA) and\n"
            "       PREFIX.key (0600)\n"
            "bundle prints the trust bundle: PEM, or the SPIFFE bundle format (a JWK Set with\n"
            "       spiffe_sequence and spiffe_refresh_hint) that a bundle endpoint serves;\n"
            "       --out writes it atomically instead (for a web server's document root)\n"
            "rotate replaces the CA key and certificate; the bundle keeps the earlier\n"
            "       authorities and its sequence number rises by one\n"
            "fetch  GETs a SPIFFE bundle from a bundle endpoint and writes it to FILE (SPIFFE\n"
            "       format, atomically) unless its sequence is lower than FILE's (rollback);\n"
            "       https_web by default (system roots or --endpoint-ca), https_spiffe with\n"
            "       --endpoint-id (verified against --bundle, default FILE itself)\n"
            "serve  the attested SVID issuer: certifies a node's key-bound attestation key after\n"
            "       appraising its fresh evidence (vmesh ca serve --help)\n"
            "\n"
            "exit status: 0 done; 1 bad option, unreadable or invalid input, or a file could not be\n"
            "written (vmesh ca <command> --help for each command's options)\n");
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

/* `vmesh ca fetch`: one refresh of a federated bundle. */
static int ca_fetch(const char *url, const char *ep_ca, const char *ep_id, const char *ep_bundle,
                    const char *out)
{
    vmesh_pki_endpoint ep = {.url = url, .ca_file = ep_ca, .endpoint_id = ep_id};
    vmesh_pki_bundle *cur = NULL, *next = NULL, *eb = NULL;
    vmesh_pki_trust *t = NULL;
    vmesh_buf doc = {0};
    char *td = NULL;
    bool changed = false, has;
    vmesh_err e = VMESH_OK;
    int rc = CLI_EXIT_ERROR;
    uint64_t seq;

    if (access(out, F_OK) == 0 && (e = vmesh_pki_bundle_load(out, &cur)) != VMESH_OK)
        goto fail;
    if (ep_id != NULL) {
        ep.profile = VMESH_PKI_ENDPOINT_HTTPS_SPIFFE;
        if ((e = vmesh_pki_spiffe_id_trust_domain(ep_id, &td)) != VMESH_OK ||
            (e = vmesh_pki_trust_new(&t)) != VMESH_OK)
            goto fail;
        if (ep_bundle != NULL && (e = vmesh_pki_bundle_load(ep_bundle, &eb)) != VMESH_OK)
            goto fail;
        if (eb == NULL && cur == NULL) {
            e = vmesh_err_set(VMESH_ERR_ARG, "https_spiffe needs --bundle (or an existing --out) "
                                             "to authenticate the endpoint");
            goto fail;
        }
        if ((e = vmesh_pki_trust_add(t, td, eb ? eb : cur)) != VMESH_OK)
            goto fail;
        ep.trust = t;
    }
    if ((e = vmesh_pki_bundle_fetch(&ep, &next)) != VMESH_OK ||
        (e = vmesh_pki_bundle_accept(cur, next, &changed)) != VMESH_OK)
        goto fail;
    seq = vmesh_pki_bundle_sequence(next, &has);
    if (changed && ((e = vmesh_pki_bundle_to_spiffe(next, &doc)) != VMESH_OK ||
                    (e = vmesh_file_write(out, doc.data, doc.len, 0644)) != VMESH_OK))
        goto fail;
    if (has)
        printf("%s: %zu authorities, sequence %llu, %s\n", out, vmesh_pki_bundle_count(next),
               (unsigned long long)seq, changed ? "updated" : "unchanged");
    else
        printf("%s: %zu authorities, no sequence, %s\n", out, vmesh_pki_bundle_count(next),
               changed ? "updated" : "unchanged");
    rc = CLI_EXIT_OK;
fail:
    if (rc != CLI_EXIT_OK)
        rc = cli_fail("ca", e, "fetch");
    vmesh_pki_bundle_free(cur);
    vmesh_pki_bundle_free(next);
    vmesh_pki_bundle_free(eb);
    vmesh_pki_trust_free(t);
    vmesh_buf_free(&doc);
    free(td);
    return rc;
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
        {"format", required_argument, NULL, 'f'},
        {"refresh-hint", required_argument, NULL, 'r'},
        {"url", required_argument, NULL, 'u'},
        {"endpoint-ca", required_argument, NULL, 'e'},
        {"endpoint-id", required_argument, NULL, 'i'},
        {"bundle", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sub, *td = NULL, *out = NULL, *ca = NULL, *id = NULL;
    vmesh_key_type kt = VMESH_KEY_EC_P256;
    vmesh_buf bundle = {0};
    vmesh_err e;
    int days = 0, c, rc = CLI_EXIT_OK, hint = 0;
    bool spiffe = false;
    const char *url = NULL, *ep_ca = NULL, *ep_id = NULL, *ep_bundle = NULL;

    if (argc < 2) {
        ca_usage(stderr);
        return CLI_EXIT_ERROR;
    }
    sub = argv[1];
    if (strcmp(sub, "serve") == 0)
        return cli_ca_serve(argc - 1, argv + 1);
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
        case 'f':
            if (strcmp(optarg, "spiffe") == 0)
                spiffe = true;
            else if (strcmp(optarg, "pem") != 0)
                return cli_usage_error("ca", "--format must be pem or spiffe");
            break;
        case 'r': {
            long v;
            if (!cli_seconds(optarg, 1, 36500, &v))
                return cli_usage_error("ca", "--refresh-hint must be a duration of 1s..36500s (e.g. 5m), got \"%s\"",
                                       optarg);
            hint = (int)v;
            break;
        }
        case 'u': url = optarg; break;
        case 'e': ep_ca = optarg; break;
        case 'i': ep_id = optarg; break;
        case 'b': ep_bundle = optarg; break;
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
        e = spiffe ? vmesh_pki_ca_bundle_spiffe(ca, hint, &bundle) : vmesh_pki_ca_bundle(ca, &bundle);
        if (e == VMESH_OK && out != NULL)
            e = vmesh_file_write(out, bundle.data, bundle.len, 0644);
        if (e != VMESH_OK) {
            vmesh_buf_free(&bundle);
            return cli_fail("ca", e, "bundle");
        }
        if (out == NULL && fwrite(bundle.data, 1, bundle.len, stdout) != bundle.len)
            rc = CLI_EXIT_ERROR;
        vmesh_buf_free(&bundle);
    } else if (strcmp(sub, "rotate") == 0) {
        if (ca == NULL)
            return cli_usage_error("ca", "rotate needs --ca");
        e = vmesh_pki_ca_rotate(ca, days, kt);
        if (e != VMESH_OK)
            return cli_fail("ca", e, "rotate");
        printf("CA in %s rotated: new ca.pem/ca.key, bundle %s/%s holds the earlier authorities "
               "too\n",
               ca, ca, VMESH_PKI_CA_BUNDLE);
    } else if (strcmp(sub, "fetch") == 0) {
        if (url == NULL || out == NULL)
            return cli_usage_error("ca", "fetch needs --url and --out");
        return ca_fetch(url, ep_ca, ep_id, ep_bundle, out);
    } else {
        return cli_usage_error("ca", "unknown subcommand '%s' (init, issue, bundle, rotate, fetch, serve)", sub);
    }
    return rc;
}
