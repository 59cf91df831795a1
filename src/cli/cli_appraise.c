/*
 * vmesh appraise: evidence + reference values -> signed EAR. Exit 0 when
 * the result is affirming, 2 when it is not, 1 when the evidence or the
 * reference values could not be read or appraised at all.
 */
#include "cli.h"
#include "vmesh/verifier.h"
#include "vmesh/jose.h"
#include "vmesh/ccpki.h"
#include "vmesh/schemes.h"
#include "vmesh/sync.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RV 64
#define EVIDENCE_MAX ((size_t)1024 * 1024)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh appraise --rv FILE [--rv FILE ...] --evidence FILE --key VERIFIER_KEY\n"
            "       vmesh appraise --rvp SPEC [--rvp SPEC ...] --state DIR --evidence FILE --key KEY\n"
            "                      [--media-type MT] [--nonce HEX] [--corim-key KEY]\n"
            "                      [--ta FILE ...] [--at RFC3339] [--validity DURATION] [-o EAR] [-q]\n"
            "\n"
            "Appraises evidence against reference values and writes the attestation result\n"
            "as an EAR (a JWT signed with VERIFIER_KEY) to EAR, or to stdout.\n"
            "\n"
            "  --rv FILE          reference values and endorsed keys: CoRIM (unsigned, tag 501,\n"
            "                     or signed COSE_Sign1 with --corim-key) or vmesh RV JSON\n"
            "                     (docs/RV-JSON.md); repeatable\n"
            "  --rvp SPEC         take reference values and trust anchors from trust bundles, as\n"
            "                     a verifier's sync client does (`vmesh rvp sync`; SPEC\n"
            "                     NAME,URL,KEYFILE[,schemes] or URL,KEYFILE, or a CoSERV provider\n"
            "                     NAME,coserv+URL,KEYFILE,SCHEME,CLASSHEX[+...]): the state in DIR\n"
            "                     is loaded, every RVP polled once; an RVP that fails keeps its\n"
            "                     last good content (docs/BUNDLES.md); repeatable\n"
            "  --state DIR        the sync state directory (with --rvp)\n"
            "  --evidence FILE    the evidence (e.g. a PSA attestation token)\n"
            "  --media-type MT    its media type; detected when omitted\n"
            "  --nonce HEX        the nonce the evidence must carry (not checked when omitted)\n"
            "  --key KEY          EAR signing key (PEM or JWK, private)\n"
            "  --corim-key KEY    public key that signs signed CoRIMs\n"
            "  --ta FILE          trust anchor for the evidence's scheme (sev-snp, tdx, ...):\n"
            "                     certificates (PEM or DER), CRLs, TDX TCB Info / QE Identity\n"
            "                     collateral, public keys (docs/CC.md); repeatable\n"
            "  --at RFC3339       appraise as of this time (default: now)\n"
            "  --validity DURATION EAR lifetime (1h, 30m, or bare seconds; default 1h)\n"
            "  -o FILE            write the EAR to FILE instead of stdout\n"
            "  -q                 do not print the summary on stderr\n"
            "\n"
            "exit status: 0 affirming, 2 not affirming, 1 error (unreadable, malformed or\n"
            "unsupported input)\n");
}

int cli_appraise(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rv", required_argument, NULL, 'r'},        {"evidence", required_argument, NULL, 'e'},
        {"media-type", required_argument, NULL, 'm'}, {"nonce", required_argument, NULL, 'n'},
        {"key", required_argument, NULL, 'k'},       {"corim-key", required_argument, NULL, 'c'},
        {"at", required_argument, NULL, 'a'},        {"validity", required_argument, NULL, 'V'},
        {"output", required_argument, NULL, 'o'},    {"quiet", no_argument, NULL, 'q'},
        {"ta", required_argument, NULL, 't'},        {"rvp", required_argument, NULL, 'R'},
        {"state", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    const char *rv_files[MAX_RV], *ta_files[MAX_RV], *rvps[MAX_RV];
    size_t nrv = 0, nta = 0, nrvp = 0;
    const char *state_dir = NULL;
    vmesh_sync *sync = NULL;
    vmesh_rv_store *snap = NULL;
    const char *evidence_path = NULL, *media_type = NULL, *nonce_hex = NULL, *key_path = NULL;
    const char *corim_key_path = NULL, *at = NULL, *out_path = NULL;
    long validity = 0;
    bool quiet = false;
    int c, ret = CLI_EXIT_ERROR;
    vmesh_err rc;
    vmesh_key *key = NULL, *corim_key = NULL;
    vmesh_rv_store *store = NULL;
    vmesh_verifier *v = NULL;
    vmesh_buf evidence = {0}, nonce = {0}, ear = {0};
    vmesh_appraisal a;
    vmesh_verifier_config cfg;
    vmesh_verifier_request req;
    const vmesh_evidence_scheme *scheme = NULL;
    int64_t now = 0;

    vmesh_appraisal_init(&a);
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (nrv == MAX_RV) {
                ret = cli_usage_error("appraise", "at most %d --rv files", MAX_RV);
                goto out;
            }
            rv_files[nrv++] = optarg;
            break;
        case 't':
            if (nta == MAX_RV) {
                ret = cli_usage_error("appraise", "at most %d --ta files", MAX_RV);
                goto out;
            }
            ta_files[nta++] = optarg;
            break;
        case 'R':
            if (nrvp == MAX_RV) {
                ret = cli_usage_error("appraise", "at most %d --rvp", MAX_RV);
                goto out;
            }
            rvps[nrvp++] = optarg;
            break;
        case 'S': state_dir = optarg; break;
        case 'e': evidence_path = optarg; break;
        case 'm': media_type = optarg; break;
        case 'n': nonce_hex = optarg; break;
        case 'k': key_path = optarg; break;
        case 'c': corim_key_path = optarg; break;
        case 'a': at = optarg; break;
        case 'o': out_path = optarg; break;
        case 'q': quiet = true; break;
        case 'V': {
            if (!cli_seconds(optarg, 1, 366L * 86400, &validity)) {
                ret = cli_usage_error("appraise", "--validity must be a duration of 1s..31622400s (e.g. 1h), got \"%s\"",
                                      optarg);
                goto out;
            }
            break;
        }
        case 'h': usage(stdout); ret = CLI_EXIT_OK; goto out;
        default: ret = cli_usage_error("appraise", "unknown or incomplete option"); goto out;
        }
    }
    if (optind < argc) {
        ret = cli_usage_error("appraise", "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    if (evidence_path == NULL || key_path == NULL) {
        ret = cli_usage_error("appraise", "--evidence and --key are required");
        goto out;
    }
    if (nrv == 0 && nrvp == 0) {
        ret = cli_usage_error("appraise", "at least one --rv file or --rvp is required");
        goto out;
    }
    if ((nrvp > 0) != (state_dir != NULL)) {
        ret = cli_usage_error("appraise", "--rvp and --state go together");
        goto out;
    }
    if (at != NULL && (rc = vmesh_time_parse_rfc3339(at, &now)) != VMESH_OK) {
        ret = cli_fail("appraise", rc, "--at");
        goto out;
    }
    if (nonce_hex != NULL && (rc = vmesh_hex_decode(nonce_hex, strlen(nonce_hex), &nonce)) != VMESH_OK) {
        ret = cli_fail("appraise", rc, "--nonce");
        goto out;
    }
    if ((rc = vmesh_crypto_key_load(key_path, &key)) != VMESH_OK) {
        ret = cli_fail("appraise", rc, "reading the EAR signing key");
        goto out;
    }
    if (corim_key_path && (rc = vmesh_crypto_key_load(corim_key_path, &corim_key)) != VMESH_OK) {
        ret = cli_fail("appraise", rc, "reading --corim-key");
        goto out;
    }
    if ((rc = vmesh_rv_store_new(&store)) != VMESH_OK) {
        ret = cli_fail("appraise", rc, "reference values");
        goto out;
    }
    for (size_t i = 0; i < nrv; i++) {
        if ((rc = vmesh_verifier_load_rv_file(store, rv_files[i], corim_key)) != VMESH_OK) {
            ret = cli_fail("appraise", rc, "reference values refused");
            goto out;
        }
    }
    if (nrvp > 0) {
        vmesh_sync_config sc;

        memset(&sc, 0, sizeof(sc));
        sc.state_dir = state_dir;
        if ((rc = vmesh_sync_new(&sc, &sync)) != VMESH_OK) {
            ret = cli_fail("appraise", rc, "--state");
            goto out;
        }
        for (size_t i = 0; i < nrvp; i++) {
            if ((rc = vmesh_sync_add_rvp_spec(sync, rvps[i])) != VMESH_OK) {
                ret = cli_fail("appraise", rc, "--rvp");
                goto out;
            }
        }
        /* A failing RVP keeps its last good content, as in a verifier;
         * the failure is logged by the sync client. */
        if (vmesh_sync_poll_once(sync) != VMESH_OK)
            vmesh_err_clear();
        snap = vmesh_sync_rv(sync);
        if (snap == NULL) {
            ret = cli_fail("appraise",
                           vmesh_err_set(VMESH_ERR_NOT_FOUND,
                                         "no trust bundle accepted yet (every --rvp failed and %s holds no good state)",
                                         state_dir),
                           "--rvp");
            goto out;
        }
        if ((rc = vmesh_rv_store_merge(store, snap)) != VMESH_OK ||
            (rc = vmesh_rv_store_set_stale(store, vmesh_rv_store_is_stale(snap))) != VMESH_OK) {
            ret = cli_fail("appraise", rc, "trust bundles");
            goto out;
        }
    }
    if ((rc = vmesh_file_read(evidence_path, EVIDENCE_MAX, &evidence)) != VMESH_OK) {
        ret = cli_fail("appraise", rc, "reading evidence");
        goto out;
    }
    if (nta > 0) {
        /* trust anchors go to the scheme that will appraise the evidence */
        scheme = media_type ? vmesh_schemes_by_media_type(media_type, NULL)
                            : vmesh_schemes_detect(evidence.data, evidence.len);
        if (scheme == NULL) {
            ret = cli_fail("appraise",
                           vmesh_err_set(VMESH_ERR_UNSUPPORTED, "cannot tell the evidence format; give --media-type"),
                           "--ta");
            goto out;
        }
        for (size_t i = 0; i < nta; i++) {
            if ((rc = vmesh_ccpki_ta_load_file(store, scheme->name, ta_files[i])) != VMESH_OK) {
                ret = cli_fail("appraise", rc, "trust anchor refused");
                goto out;
            }
        }
    }
    vmesh_rv_store_freeze(store);
    memset(&cfg, 0, sizeof(cfg));
    cfg.ear_key = key;
    cfg.ear_validity = validity;
    if ((rc = vmesh_verifier_new(&cfg, &v)) != VMESH_OK) {
        ret = cli_fail("appraise", rc, "verifier");
        goto out;
    }
    vmesh_verifier_set_rv(v, store);
    memset(&req, 0, sizeof(req));
    req.evidence = evidence.data;
    req.evidence_len = evidence.len;
    req.media_type = media_type;
    req.nonce = nonce_hex ? nonce.data : NULL;
    req.nonce_len = nonce.len;
    req.now = now;
    if ((rc = vmesh_verifier_appraise(v, &req, &a, &scheme, &ear)) != VMESH_OK) {
        ret = cli_fail("appraise", rc, "evidence not appraised");
        goto out;
    }
    if (out_path != NULL) {
        if ((rc = vmesh_file_write(out_path, ear.data, ear.len, 0644)) != VMESH_OK) {
            ret = cli_fail("appraise", rc, "writing the EAR");
            goto out;
        }
    } else {
        fwrite(ear.data, 1, ear.len, stdout);
        fputc('\n', stdout);
    }
    if (!quiet) {
        fprintf(stderr, "vmesh appraise: %s: %s", scheme->name, vmesh_tier_name(a.status));
        for (int i = 0; i < VMESH_TV__COUNT; i++)
            if (a.tv.v[i] != 0)
                fprintf(stderr, " %s=%d", vmesh_tv_claim_name((vmesh_tv_claim)i), a.tv.v[i]);
        fputc('\n', stderr);
        if (a.reason[0] != '\0')
            fprintf(stderr, "vmesh appraise: %s\n", a.reason);
    }
    ret = a.status == VMESH_TIER_AFFIRMING ? CLI_EXIT_OK : CLI_EXIT_NOT_AFFIRMED;
out:
    vmesh_appraisal_free(&a);
    vmesh_verifier_free(v);
    vmesh_rv_store_free(store);
    vmesh_rv_store_free(snap);
    vmesh_sync_free(sync);
    vmesh_crypto_key_free(key);
    vmesh_crypto_key_free(corim_key);
    vmesh_buf_free(&evidence);
    vmesh_buf_free(&nonce);
    vmesh_buf_free(&ear);
    return ret;
}
