/*
 * `vmesh ear verify | sign | print`: check and show EAR attestation results
 * (DESIGN §4), sign an arbitrary claims set (tests, demos), and dump a token
 * without checking it. `verify` must never print a result it has not
 * verified, and its exit code must tell affirming (0) from valid but not
 * affirming (2) from invalid (1); `print` must always say UNVERIFIED.
 */
#include "cli.h"

#include "vmesh/jose.h"
#include "vmesh/rvp.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EAR_MAX_FILE VMESH_JOSE_MAX_COMPACT

static void ear_usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh ear verify --key PUBKEY [--json] [--at TIME]\n"
            "                        [--bell-key KEY ... --bell MARKER ...] EAR\n"
            "       vmesh ear sign --key KEY [--iat TIME] [--exp TIME] [--raw] CLAIMS.json "
            "[-o OUT]\n"
            "       vmesh ear print EAR\n"
            "\n"
            "EAR is a file holding an EAT Attestation Result JWT, or - for stdin.\n"
            "TIME is an RFC 3339 date (2024-01-02T03:04:05Z) or seconds since the epoch.\n"
            "\n"
            "--bell-key KEY (repeatable, one per RVP) and --bell MARKER (bell.cwt files, offered\n"
            "        in the order given, as a relying party polls them): the EAR's epoch markers\n"
            "        (ear.vmesh.epoch-markers) must name, for every bell followed, its current or\n"
            "        previous tick at TIME (docs/BUNDLES.md, Several bells); else exit 1.\n"
            "verify  checks the signature with PUBKEY (PEM, DER or JWK; its algorithm must be\n"
            "        the token's), the EAR profile, iat/nbf/exp at TIME (default: now) and\n"
            "        the submods, then prints a summary (or, with --json, the claims object).\n"
            "        exit codes: 0 valid and affirming; 2 valid but not affirming (warning,\n"
            "        contraindicated or none); 1 invalid (bad signature, expired, malformed,\n"
            "        unreadable) with the problem on stderr.\n"
            "sign    signs the claims in CLAIMS.json (- for stdin) with KEY (private; PEM or JWK)\n"
            "        as a JWT (typ JWT, alg from the key); --iat/--exp set those claims first;\n"
            "        the claims are checked as verify would (except time) unless --raw, which\n"
            "        signs the file's bytes as they are. Writes to OUT or stdout.\n"
            "        exit codes: 0 signed; 1 error.\n"
            "print   shows the protected header and the claims WITHOUT any verification.\n"
            "        exit codes: 0 decoded; 1 not a JWS with a JSON object payload.\n");
}

static vmesh_err read_input(const char *path, vmesh_buf *out)
{
    return vmesh_file_read(strcmp(path, "-") == 0 ? "/dev/stdin" : path, EAR_MAX_FILE, out);
}

static vmesh_err parse_time(const char *s, int64_t *out)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (s[0] != '\0' && errno == 0 && end != NULL && *end == '\0') {
        if (v < 0)
            return vmesh_err_set(VMESH_ERR_ARG, "time %s is negative", s);
        *out = (int64_t)v;
        return VMESH_OK;
    }
    return vmesh_time_parse_rfc3339(s, out);
}

static void fmt_time(int64_t t, char out[40])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 40, "%lld", (long long)t);
}

static void print_summary(const vmesh_ear *e, const vmesh_key *key)
{
    size_t n = vmesh_ear_submod_count(e), ne = vmesh_ear_rv_epoch_count(e);
    vmesh_buf b = {0};
    char t[40];

    printf("EAR signature: valid (%s)\n", vmesh_crypto_key_jws_alg(key));
    printf("profile:       %s\n", vmesh_ear_profile(e));
    fmt_time(vmesh_ear_iat(e), t);
    printf("issued at:     %s (%lld)\n", t, (long long)vmesh_ear_iat(e));
    if (vmesh_ear_exp(e) != 0) {
        fmt_time(vmesh_ear_exp(e), t);
        printf("expires:       %s (%lld)\n", t, (long long)vmesh_ear_exp(e));
    } else {
        printf("expires:       never (no exp claim)\n");
    }
    printf("verifier:      %s, build %s\n", vmesh_ear_verifier_developer(e),
           vmesh_ear_verifier_build(e));
    if (vmesh_ear_nonce(e, &b) == VMESH_OK) {
        vmesh_buf h = {0};
        if (vmesh_hex_encode(b.data, b.len, &h) == VMESH_OK)
            printf("nonce:         %s (%zu bytes)\n", (const char *)h.data, b.len);
        vmesh_buf_free(&h);
    }
    for (size_t i = 0; i < ne; i++) {
        const char *rvp = vmesh_ear_rv_epoch_name(e, i);
        uint64_t ep = 0;
        if (rvp != NULL && vmesh_ear_rv_epoch(e, rvp, &ep) == VMESH_OK)
            printf("rv epoch:      %s = %llu\n", rvp, (unsigned long long)ep);
    }
    printf("status:        %s\n", vmesh_tier_name(vmesh_ear_status(e)));
    for (size_t i = 0; i < n; i++) {
        vmesh_tv tv;
        const char *pol = vmesh_ear_submod_policy_id(e, i);

        printf("\nsubmod %s: %s\n", vmesh_ear_submod_name(e, i),
               vmesh_tier_name(vmesh_ear_submod_status(e, i)));
        if (pol != NULL)
            printf("  appraisal policy: %s\n", pol);
        if (vmesh_ear_submod_akpub(e, i, &b) == VMESH_OK) {
            vmesh_key *ak = NULL;
            if (vmesh_crypto_key_from_spki(b.data, b.len, &ak) == VMESH_OK)
                printf("  attestation key:  %s (%zu-byte SPKI)\n",
                       vmesh_crypto_key_type_name(vmesh_crypto_key_type(ak)), b.len);
            else
                printf("  attestation key:  unreadable SPKI (%zu bytes)\n", b.len);
            vmesh_crypto_key_free(ak);
        }
        vmesh_ear_submod_tv(e, i, &tv);
        printf("  trustworthiness vector:\n");
        for (int c = 0; c < VMESH_TV__COUNT; c++)
            printf("    %-18s %4d  [%s] %s\n", vmesh_tv_claim_name((vmesh_tv_claim)c), tv.v[c],
                   vmesh_tier_name(vmesh_tier_of(tv.v[c])),
                   vmesh_tv_describe((vmesh_tv_claim)c, tv.v[c]));
    }
    vmesh_buf_free(&b);
}

static int ear_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'}, {"json", no_argument, NULL, 'j'},
        {"at", required_argument, NULL, 'a'},  {"help", no_argument, NULL, 'h'},
        {"bell-key", required_argument, NULL, 'B'}, {"bell", required_argument, NULL, 'M'},
        {NULL, 0, NULL, 0},
    };
    const char *keyfile = NULL, *at = NULL, *bell_keys[VMESH_BELL_MAX_BELLS], *bells[64];
    size_t nbk = 0, nb = 0;
    vmesh_bell_view *view = NULL;
    vmesh_key *bk = NULL;
    bool json = false;
    vmesh_key *key = NULL;
    vmesh_ear *e = NULL;
    vmesh_buf in = {0}, out = {0};
    int64_t now;
    vmesh_err rc;
    int c, ret = CLI_EXIT_ERROR;

    optind = 1;
    while ((c = getopt_long(argc, argv, "k:ja:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'j': json = true; break;
        case 'a': at = optarg; break;
        case 'B':
            if (nbk == VMESH_BELL_MAX_BELLS)
                return cli_usage_error("ear", "at most %d --bell-key", VMESH_BELL_MAX_BELLS);
            bell_keys[nbk++] = optarg;
            break;
        case 'M':
            if (nb == sizeof(bells) / sizeof(bells[0]))
                return cli_usage_error("ear", "at most %zu --bell", sizeof(bells) / sizeof(bells[0]));
            bells[nb++] = optarg;
            break;
        case 'h': ear_usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("ear", "invalid option");
        }
    }
    if (keyfile == NULL)
        return cli_usage_error("ear", "verify needs --key PUBKEY");
    if (optind + 1 != argc)
        return cli_usage_error("ear", "verify takes exactly one EAR file (or -)");
    if ((nbk == 0) != (nb == 0))
        return cli_usage_error("ear", "--bell-key and --bell go together");
    now = vmesh_time_now();
    if (at != NULL && parse_time(at, &now) != VMESH_OK)
        return cli_usage_error("ear", "--at %s: %s", at, vmesh_err_detail());
    if ((rc = vmesh_crypto_key_load(keyfile, &key)) != VMESH_OK) {
        ret = cli_fail("ear", rc, "loading the verification key");
        goto out;
    }
    if ((rc = read_input(argv[optind], &in)) != VMESH_OK) {
        ret = cli_fail("ear", rc, "reading the EAR");
        goto out;
    }
    if ((rc = vmesh_ear_verify((const char *)in.data, in.len, key, now, &e)) != VMESH_OK) {
        ret = cli_fail("ear", rc, "EAR is invalid");
        goto out;
    }
    for (size_t i = 0; i < nbk; i++) {
        if ((rc = vmesh_crypto_key_load(bell_keys[i], &bk)) != VMESH_OK ||
            (rc = i == 0 ? vmesh_bell_view_new(bk, &view) : vmesh_bell_view_add(view, bk)) != VMESH_OK) {
            ret = cli_fail("ear", rc, bell_keys[i]);
            goto out;
        }
        vmesh_crypto_key_free(bk);
        bk = NULL;
    }
    for (size_t i = 0; i < nb; i++) {
        vmesh_buf_reset(&out);
        if ((rc = vmesh_file_read(bells[i], 4096, &out)) != VMESH_OK ||
            (rc = vmesh_bell_view_update(view, out.data, out.len, now)) != VMESH_OK) {
            ret = cli_fail("ear", rc, bells[i]);
            goto out;
        }
    }
    if (view != NULL) {
        vmesh_bell_marker m[VMESH_EAR_MAX_MARKERS];
        size_t nm = vmesh_ear_epoch_marker_count(e), eml = 0;
        const char *bn;

        memset(m, 0, sizeof(m));
        for (size_t i = 0; i < nm && i < VMESH_EAR_MAX_MARKERS; i++) {
            if ((rc = vmesh_ear_epoch_marker_at(e, i, &bn, &m[i].tick, m[i].em, sizeof(m[i].em), &eml)) != VMESH_OK) {
                ret = cli_fail("ear", rc, "reading the EAR's epoch markers");
                goto out;
            }
            snprintf(m[i].bell, sizeof(m[i].bell), "%s", bn);
        }
        if ((rc = vmesh_bell_view_check_markers(view, m, nm, now)) != VMESH_OK) {
            ret = cli_fail("ear", rc, "the EAR's epoch markers are not fresh");
            goto out;
        }
        vmesh_buf_reset(&out);
    }
    if (json) {
        if ((rc = vmesh_ear_to_json(e, true, &out)) != VMESH_OK) {
            ret = cli_fail("ear", rc, "printing the claims");
            goto out;
        }
        printf("%s\n", (const char *)out.data);
    } else {
        print_summary(e, key);
    }
    ret = vmesh_ear_status(e) == VMESH_TIER_AFFIRMING ? CLI_EXIT_OK : CLI_EXIT_NOT_AFFIRMED;
    if (ret != CLI_EXIT_OK)
        fprintf(stderr, "vmesh ear: EAR is valid but its status is %s, not affirming\n",
                vmesh_tier_name(vmesh_ear_status(e)));
out:
    vmesh_bell_view_free(view);
    vmesh_crypto_key_free(bk);
    vmesh_ear_free(e);
    vmesh_crypto_key_free(key);
    vmesh_buf_free(&in);
    vmesh_buf_free(&out);
    return ret;
}

static int ear_sign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'}, {"out", required_argument, NULL, 'o'},
        {"iat", required_argument, NULL, 'i'}, {"exp", required_argument, NULL, 'e'},
        {"raw", no_argument, NULL, 'r'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *keyfile = NULL, *outfile = NULL, *iat_s = NULL, *exp_s = NULL;
    bool raw = false;
    int64_t iat = 0, exp = 0;
    vmesh_key *key = NULL;
    vmesh_ear *e = NULL;
    vmesh_buf in = {0}, jwt = {0};
    vmesh_err rc;
    int c, ret = CLI_EXIT_ERROR;

    optind = 1;
    while ((c = getopt_long(argc, argv, "k:o:i:e:rh", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'o': outfile = optarg; break;
        case 'i': iat_s = optarg; break;
        case 'e': exp_s = optarg; break;
        case 'r': raw = true; break;
        case 'h': ear_usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("ear", "invalid option");
        }
    }
    if (keyfile == NULL)
        return cli_usage_error("ear", "sign needs --key KEY");
    if (optind + 1 != argc)
        return cli_usage_error("ear", "sign takes exactly one CLAIMS.json file (or -)");
    if (raw && (iat_s != NULL || exp_s != NULL))
        return cli_usage_error("ear", "--raw signs the file as it is; it cannot be combined "
                                      "with --iat or --exp");
    if (iat_s != NULL && parse_time(iat_s, &iat) != VMESH_OK)
        return cli_usage_error("ear", "--iat %s: %s", iat_s, vmesh_err_detail());
    if (exp_s != NULL && parse_time(exp_s, &exp) != VMESH_OK)
        return cli_usage_error("ear", "--exp %s: %s", exp_s, vmesh_err_detail());
    if ((rc = vmesh_crypto_key_load(keyfile, &key)) != VMESH_OK) {
        ret = cli_fail("ear", rc, "loading the signing key");
        goto out;
    }
    if ((rc = read_input(argv[optind], &in)) != VMESH_OK) {
        ret = cli_fail("ear", rc, "reading the claims");
        goto out;
    }
    if (raw) {
        rc = vmesh_jose_jws_sign(key, "JWT", NULL, in.data, in.len, &jwt);
    } else {
        rc = vmesh_ear_from_json((const char *)in.data, in.len, &e);
        if (rc == VMESH_OK && iat_s != NULL)
            rc = vmesh_ear_set_iat(e, iat);
        if (rc == VMESH_OK && exp_s != NULL)
            rc = vmesh_ear_set_exp(e, exp);
        if (rc == VMESH_OK)
            rc = vmesh_ear_sign(e, key, &jwt);
    }
    if (rc != VMESH_OK) {
        ret = cli_fail("ear", rc, "signing the claims");
        goto out;
    }
    if (outfile != NULL && strcmp(outfile, "-") != 0) {
        /* No trailing newline: `jose jws ver -i FILE` refuses one. */
        if ((rc = vmesh_file_write(outfile, jwt.data, jwt.len, 0644)) != VMESH_OK) {
            ret = cli_fail("ear", rc, "writing the EAR");
            goto out;
        }
    } else {
        printf("%s\n", (const char *)jwt.data);
    }
    ret = CLI_EXIT_OK;
out:
    vmesh_ear_free(e);
    vmesh_crypto_key_free(key);
    vmesh_buf_free(&in);
    vmesh_buf_free(&jwt);
    return ret;
}

static int ear_print(int argc, char **argv)
{
    vmesh_buf in = {0}, hdr = {0}, out = {0};
    vmesh_ear *e = NULL;
    vmesh_err rc;
    int ret = CLI_EXIT_ERROR;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        ear_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc != 2)
        return cli_usage_error("ear", "print takes exactly one EAR file (or -)");
    if ((rc = read_input(argv[1], &in)) != VMESH_OK) {
        ret = cli_fail("ear", rc, "reading the EAR");
        goto out;
    }
    if ((rc = vmesh_ear_parse_unverified((const char *)in.data, in.len, &hdr, &e)) != VMESH_OK ||
        (rc = vmesh_ear_to_json(e, true, &out)) != VMESH_OK) {
        ret = cli_fail("ear", rc, "decoding the EAR");
        goto out;
    }
    printf("UNVERIFIED: signature, profile and validity were NOT checked "
           "(use vmesh ear verify)\n");
    printf("header: %s\n", (const char *)hdr.data);
    printf("claims: %s\n", (const char *)out.data);
    ret = CLI_EXIT_OK;
out:
    vmesh_ear_free(e);
    vmesh_buf_free(&in);
    vmesh_buf_free(&hdr);
    vmesh_buf_free(&out);
    return ret;
}

int cli_ear(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("ear", "missing subcommand (verify, sign or print)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        ear_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "verify") == 0)
        return ear_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "sign") == 0)
        return ear_sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "print") == 0)
        return ear_print(argc - 1, argv + 1);
    return cli_usage_error("ear", "unknown subcommand '%s' (verify, sign or print)", argv[1]);
}
