/*
 * `vmesh verifier serve`: the central verifier (DESIGN §6), Veraison's
 * challenge-response API over HTTP with reference values from files and/or
 * trust bundles pulled from RVPs. It holds the EAR key and the session key
 * in memory only and never prints either; SIGTERM/SIGINT stop it cleanly.
 */
#include "cli.h"
#include "vmesh/schemes.h"
#include "vmesh/service.h"
#include "vmesh/verifier.h"
#ifdef VMESH_HAVE_SYNC
#include "vmesh/sync.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RV 64
#define MAX_ATTEST_OPT 32
#define MAX_RVP 16

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh verifier serve --key EAR_KEY [--listen ADDR] [--rv FILE ...]\n"
            "                            [--rvp SPEC ... --state-dir DIR]   [--session-key FILE]\n"
            "                            [--threads N] [options]\n"
            "\n"
            "Serves Veraison's challenge-response verification API:\n"
            "  POST   /challenge-response/v1/newSession?nonceSize=N | ?nonce=B64URL\n"
            "  POST   /challenge-response/v1/session/ID   (evidence; Content-Type = its media type)\n"
            "  GET    /challenge-response/v1/session/ID\n"
            "  DELETE /challenge-response/v1/session/ID\n"
            "  GET    /.well-known/veraison/verification\n"
            "and, as a vmesh extension advertised in that document (DECISIONS D42):\n"
            "  POST   /vmesh/v1/appraise?nonce=B64URL   (evidence; the answer is the EAR)\n"
            "Session ids are self-authenticating: replicas sharing --key (or --session-key)\n"
            "serve each other's sessions without shared storage (docs/VERIFIER.md).\n"
            "\n"
            "  --listen ADDR        HOST:PORT, [V6]:PORT or :PORT (default 127.0.0.1:8080;\n"
            "                       port 0 picks a free port, printed at start)\n"
            "  --key KEY            EAR signing key (PEM or JWK, private)\n"
            "  --rv FILE            reference values: CoRIM or vmesh RV JSON (repeatable)\n"
            "  --corim-key KEY      public key that signs signed CoRIMs given with --rv\n"
            CLI_RVP_SPEC_HELP
            "  --rvp-scope LIST     scope the --rvp just before: its reference values count only\n"
            "                       for these trust domains / SPIFFE ID prefixes (comma-\n"
            "                       separated: y.example,spiffe://x.example/ns/lab); requests\n"
            "                       name their identity in the Vmesh-Peer-ID header, which the\n"
            "                       EAR repeats (ear.vmesh.peer); docs/FEDERATION.md\n"
            "  --state-dir DIR      where bundle state persists (required with --rvp)\n"
            "  --poll DURATION      bundle poll interval (default 30s)\n"
            "  --bell-key KEY       follow an RVP's epoch bell (repeatable: one bell per RVP,\n"
            "                       fetched from each --rvp URL/bell.cwt); every EAR carries\n"
            "                       the current epoch marker of each (ear.vmesh.epoch-markers)\n"
            "  --session-key FILE   >= 32 random bytes shared by replicas (default: derived\n"
            "                       from the EAR key)\n"
            "  --session-ttl DURATION  session lifetime (default 150s, as Veraison)\n"
            "  --validity DURATION  EAR lifetime (default 1h)\n"
            "  --threads N          worker threads (default: online cores)\n"
            "  --max-connections N  concurrent connections, all clients (default 1024)\n"
            "  --timeout DURATION   idle timeout per connection while an answer is sent\n"
            "                       (default 30s)\n"
            "  --max-body BYTES     evidence size cap, else 413 (default 1048576)\n"
            "Hostile clients (a client = an IPv4 address or an IPv6 /64; refusals are\n"
            "counted in vmesh_verifier_refused_total{reason} at GET /metrics):\n"
            "  --client-connections N|off  open connections per client; more are closed at\n"
            "                       accept (default 64)\n"
            "  --request-deadline DURATION  time from accept (or the previous answer) to a whole\n"
            "                       request, headers and body; slow bytes do not extend it;\n"
            "                       then the connection is closed (default 10s)\n"
            "  --client-rate N|off  requests per second per client, then 429 with\n"
            "                       Retry-After (default 500)\n"
            "  --client-burst N     requests a client may send at once (default 2 x rate)\n"
            "  --client-bytes N|off evidence bytes per second per client, then 429 with\n"
            "                       Retry-After (default 16777216; the burst holds two\n"
            "                       bodies at the cap)\n"
            "  --tls-cert FILE      serve https (TLS 1.3 only) with this PEM certificate chain\n"
            "  --tls-key FILE       ... and its private key (PEM)\n"
            "  --attest PLATFORM    attest the verifier's own platform to relying parties\n"
            "                       (GET /vmesh/v1/verifier-attestation?nonce=): the evidence\n"
            "                       binds their nonce, the EAR key and the TLS key (needs\n"
            "                       --tls-cert); e.g. psa-sim, tpm2 (DECISIONS D31)\n"
            "  --attest-opt KEY=VALUE  the attester's options, as `vmesh attest PLATFORM`\n"
            "                       takes them (repeatable), e.g. iak=FILE, measure=NAME=FILE\n"
            "  --no-one-shot        serve only Veraison's API: no POST /vmesh/v1/appraise, and\n"
            "                       the discovery document does not name it\n"
            "  --signed-answers     sign every EAR: ignore a relying party's answer=channel (an\n"
            "                       EAR authenticated by the TLS session instead, DECISIONS D51)\n"
            "  --no-batch           no POST /vmesh/v1/appraise-batch (several one-request\n"
            "                       appraisals in one CBOR body, DECISIONS D53): relying parties\n"
            "                       send one request per appraisal, as to a verifier before D53\n"
            "  --id NAME            replica name, sent in the Vmesh-Replica response header\n"
            "  -v, --verbose        log at debug level\n"
            "  --log-format FMT     text (default) or json: the log on stderr, one record per\n"
            "                       line with an RFC 3339 time and a level\n"
            "  --check              dry run: load every key, reference value and --rvp as a\n"
            "                       start would and resolve --listen; bind nothing, poll\n"
            "                       nothing; exit 0 or 1 with the start's message\n"
            "\n"
            "\n" CLI_DURATION_HELP ".\n"
            "systemd: with NOTIFY_SOCKET set (Type=notify) it sends READY=1 once it listens\n"
            "and STOPPING=1 at SIGTERM.\n"
            "exit status: 0 after SIGTERM/SIGINT, 1 error\n");
}

static bool parse_num(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

#ifdef VMESH_HAVE_SYNC
static vmesh_rv_store *scoped_rv(void *ctx, const char *peer, char *why, size_t why_len)
{
    return vmesh_sync_scoped_rv(ctx, peer, why, why_len);
}
#endif

static int serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},      {"key", required_argument, NULL, 'k'},
        {"rv", required_argument, NULL, 'r'},          {"corim-key", required_argument, NULL, 'c'},
        {"rvp", required_argument, NULL, 'R'},         {"state-dir", required_argument, NULL, 'S'},
        {"poll", required_argument, NULL, 'P'},        {"session-key", required_argument, NULL, 's'},
        {"session-ttl", required_argument, NULL, 'T'}, {"validity", required_argument, NULL, 'V'},
        {"threads", required_argument, NULL, 't'},     {"max-connections", required_argument, NULL, 'C'},
        {"timeout", required_argument, NULL, 'o'},     {"max-body", required_argument, NULL, 'B'},
        {"id", required_argument, NULL, 'i'},          {"verbose", no_argument, NULL, 'v'},
        {"bell-key", required_argument, NULL, 'b'},    {"help", no_argument, NULL, 'h'},
        {"check", no_argument, NULL, 'K'},             {"log-format", required_argument, NULL, 'L'},
        {"client-connections", required_argument, NULL, 1001}, {"request-deadline", required_argument, NULL, 1002},
        {"client-rate", required_argument, NULL, 1003},        {"client-burst", required_argument, NULL, 1004},
        {"client-bytes", required_argument, NULL, 1005},
        {"tls-cert", required_argument, NULL, 1006},           {"tls-key", required_argument, NULL, 1007},
        {"attest", required_argument, NULL, 1008},             {"attest-opt", required_argument, NULL, 1009},
        {"rvp-scope", required_argument, NULL, 1010},
        {"no-one-shot", no_argument, NULL, 1011},
        {"signed-answers", no_argument, NULL, 1012},
        {"no-batch", no_argument, NULL, 1013},
        {NULL, 0, NULL, 0},
    };
    const char *rv_files[MAX_RV], *rvps[MAX_RVP], *bell_paths[VMESH_BELL_MAX_BELLS];
    const char *scopes[MAX_RVP] = {0};
    size_t nrv = 0, nrvp = 0, nbells = 0;
    vmesh_bell_view *bell = NULL;
    const char *listen = "127.0.0.1:8080", *key_path = NULL, *corim_key_path = NULL, *state_dir = NULL;
    const char *session_key_path = NULL, *id = NULL;
    const char *tls_cert = NULL, *tls_key = NULL, *attest = NULL;
    vmesh_kv attest_kv[MAX_ATTEST_OPT];
    char *attest_kv_mem[MAX_ATTEST_OPT];
    size_t nattest_kv = 0;
    const vmesh_evidence_scheme *self_scheme = NULL;
    void *self_attester = NULL;
    long poll = 30, ttl = 0, validity = 0, threads = 0, maxconn = 0, timeout = 0, max_body = 0;
    long client_conns = 0, deadline = 0, client_rate = 0, client_burst = 0, client_bytes = 0;
    int c, ret = CLI_EXIT_ERROR, sig = 0;
    bool no_one_shot = false, signed_answers = false, no_batch = false;
    vmesh_err rc;
    vmesh_key *key = NULL, *corim_key = NULL;
    vmesh_rv_store *store = NULL;
    vmesh_verifier *v = NULL;
    vmesh_service *svc = NULL;
    vmesh_verifier_config vcfg;
    vmesh_service_config scfg;
    uint8_t session_key[32];
    bool have_session_key = false, check = false;
    sigset_t set;
#ifdef VMESH_HAVE_SYNC
    vmesh_sync *sync = NULL;
#endif

    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'k': key_path = optarg; break;
        case 'c': corim_key_path = optarg; break;
        case 'S': state_dir = optarg; break;
        case 's': session_key_path = optarg; break;
        case 'i': id = optarg; break;
        case 1006: tls_cert = optarg; break;
        case 1007: tls_key = optarg; break;
        case 1008: attest = optarg; break;
        case 1009: {
            char *eq = strchr(optarg, '='), *dup;
            if (eq == NULL || eq == optarg) {
                ret = cli_usage_error("verifier", "--attest-opt takes KEY=VALUE, not \"%s\"", optarg);
                goto out;
            }
            if (nattest_kv == MAX_ATTEST_OPT) {
                ret = cli_usage_error("verifier", "at most %d --attest-opt", MAX_ATTEST_OPT);
                goto out;
            }
            if ((dup = strdup(optarg)) == NULL) {
                ret = cli_usage_error("verifier", "out of memory");
                goto out;
            }
            attest_kv_mem[nattest_kv] = dup;
            dup[eq - optarg] = '\0';
            attest_kv[nattest_kv].key = dup;
            attest_kv[nattest_kv].value = dup + (eq - optarg) + 1;
            nattest_kv++;
            break;
        }
        case 'v': vmesh_log_set_level(VMESH_LOG_DEBUG); break;
        case 'K': check = true; break;
        case 'L':
            if ((ret = cli_log_format("verifier", optarg)) != CLI_EXIT_OK)
                goto out;
            ret = CLI_EXIT_ERROR;
            break;
        case 'r':
            if (nrv == MAX_RV) {
                ret = cli_usage_error("verifier", "at most %d --rv files", MAX_RV);
                goto out;
            }
            rv_files[nrv++] = optarg;
            break;
        case 'b':
            if (nbells == VMESH_BELL_MAX_BELLS) {
                ret = cli_usage_error("verifier", "at most %d --bell-key", VMESH_BELL_MAX_BELLS);
                goto out;
            }
            bell_paths[nbells++] = optarg;
            break;
        case 'R':
            if (nrvp == MAX_RVP) {
                ret = cli_usage_error("verifier", "at most %d --rvp", MAX_RVP);
                goto out;
            }
            rvps[nrvp++] = optarg;
            break;
        case 1010:
            if (nrvp == 0 || scopes[nrvp - 1] != NULL) {
                ret = cli_usage_error("verifier", "--rvp-scope scopes the --rvp just before it (one --rvp-scope "
                                                  "per --rvp; entries comma-separated)");
                goto out;
            }
            scopes[nrvp - 1] = optarg;
            break;
        case 1011: no_one_shot = true; break;
        case 1012: signed_answers = true; break;
        case 1013: no_batch = true; break;
#define NUM(ch, var, lo, hi, name)                                                                     \
    case ch:                                                                                           \
        if (!parse_num(optarg, lo, hi, &var)) {                                                        \
            ret = cli_usage_error("verifier", "%s must be %ld..%ld, got \"%s\"", name, (long)(lo),     \
                                  (long)(hi), optarg);                                                 \
            goto out;                                                                                  \
        }                                                                                              \
        break;
            NUM('t', threads, 1, 1024, "--threads")
            NUM('C', maxconn, 1, 1000000, "--max-connections")
            NUM('B', max_body, 1, 16L * 1024 * 1024, "--max-body")
            NUM(1004, client_burst, 1, 100000000L, "--client-burst")
#undef NUM
#define SECS(ch, var, lo, hi, name)                                                                    \
    case ch:                                                                                           \
        if (!cli_seconds(optarg, lo, hi, &var)) {                                                      \
            ret = cli_usage_error("verifier", "%s must be a duration of %lds..%lds (e.g. 30s, 5m), got \"%s\"", \
                                  name, (long)(lo), (long)(hi), optarg);                               \
            goto out;                                                                                  \
        }                                                                                              \
        break;
            SECS('P', poll, 1, 86400, "--poll")
            SECS('T', ttl, 1, 86400, "--session-ttl")
            SECS('V', validity, 1, 366L * 86400, "--validity")
            SECS('o', timeout, 1, 3600, "--timeout")
            SECS(1002, deadline, 1, 3600, "--request-deadline")
#undef SECS
#define NUM_OFF(ch, var, lo, hi, name)                                                                 \
    case ch:                                                                                           \
        if (strcmp(optarg, "off") == 0) {                                                              \
            var = (long)VMESH_SERVICE_UNLIMITED;                                                       \
        } else if (!parse_num(optarg, lo, hi, &var)) {                                                 \
            ret = cli_usage_error("verifier", "%s must be %ld..%ld or off, got \"%s\"", name, (long)(lo), \
                                  (long)(hi), optarg);                                                 \
            goto out;                                                                                  \
        }                                                                                              \
        break;
            NUM_OFF(1001, client_conns, 1, 1000000, "--client-connections")
            NUM_OFF(1003, client_rate, 1, 1000000, "--client-rate")
            NUM_OFF(1005, client_bytes, 1, 1024L * 1024 * 1024, "--client-bytes")
#undef NUM_OFF
        case 'h': usage(stdout); ret = CLI_EXIT_OK; goto out;
        default: ret = cli_usage_error("verifier", "unknown or incomplete option"); goto out;
        }
    }
    if (optind < argc) {
        ret = cli_usage_error("verifier", "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    if (key_path == NULL) {
        ret = cli_usage_error("verifier", "--key EAR_KEY is required");
        goto out;
    }
    if (nbells > 0 && nrvp == 0) {
        ret = cli_usage_error("verifier", "--bell-key needs --rvp (each RVP's bell.cwt is fetched with its bundle)");
        goto out;
    }
    if (nrvp > 0 && state_dir == NULL) {
        ret = cli_usage_error("verifier", "--rvp needs --state-dir DIR (where the last good bundle is kept)");
        goto out;
    }
#ifndef VMESH_HAVE_SYNC
    if (nrvp > 0) {
        fprintf(stderr, "vmesh verifier: --rvp: the bundle sync client is not built yet in this build; "
                        "use --rv FILE\n");
        goto out;
    }
#endif
    if ((rc = vmesh_crypto_key_load(key_path, &key)) != VMESH_OK) {
        ret = cli_fail("verifier", rc, "reading the EAR key");
        goto out;
    }
    if (!vmesh_crypto_key_is_private(key)) {
        fprintf(stderr, "vmesh verifier: %s is a public key; --key needs the EAR private key\n", key_path);
        goto out;
    }
    if (corim_key_path && (rc = vmesh_crypto_key_load(corim_key_path, &corim_key)) != VMESH_OK) {
        ret = cli_fail("verifier", rc, "reading --corim-key");
        goto out;
    }
    if (session_key_path != NULL) {
        if ((rc = vmesh_service_session_key_load(session_key_path, session_key)) != VMESH_OK) {
            ret = cli_fail("verifier", rc, "--session-key");
            goto out;
        }
        have_session_key = true;
    }
    memset(&vcfg, 0, sizeof(vcfg));
    vcfg.ear_key = key;
    vcfg.ear_validity = validity;
    if ((rc = vmesh_verifier_new(&vcfg, &v)) != VMESH_OK) {
        ret = cli_fail("verifier", rc, "verifier");
        goto out;
    }
    {
        const cli_rv_sources src = {.rv_files = rv_files, .nrv = nrv, .corim_key = corim_key, .rvps = rvps,
                                    .scopes = scopes, .nrvp = nrvp, .bell_keys = bell_paths, .nbells = nbells,
                                    .state_dir = state_dir, .poll_s = (int)poll};
        if ((ret = cli_verifier_rv("verifier", v, &src, &store, &bell, &sync)) != CLI_EXIT_OK)
            goto out;
        ret = CLI_EXIT_ERROR;
    }
    memset(&scfg, 0, sizeof(scfg));
    scfg.verifier = v;
    scfg.ear_key = key;
    scfg.session_key = have_session_key ? session_key : NULL;
    scfg.session_ttl = ttl;
    scfg.replica_id = id;
    scfg.bell = bell;
#ifdef VMESH_HAVE_SYNC
    if (sync != NULL && vmesh_sync_scoped(sync)) {
        scfg.rv_for = scoped_rv;
        scfg.rv_for_ctx = sync;
    }
#endif
    scfg.listen = listen;
    scfg.threads = (unsigned)threads;
    scfg.max_connections = (unsigned)maxconn;
    scfg.conn_timeout = (unsigned)timeout;
    scfg.max_body = (size_t)max_body;
    scfg.client_connections = (unsigned)client_conns;
    scfg.request_deadline = (unsigned)deadline;
    scfg.client_rate = (unsigned)client_rate;
    scfg.client_burst = (unsigned)client_burst;
    scfg.client_bytes = (unsigned)client_bytes;
    scfg.tls_cert = tls_cert;
    scfg.tls_key = tls_key;
    scfg.no_appraise = no_one_shot;
    scfg.signed_answers = signed_answers;
    scfg.no_batch = no_batch;
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        ret = cli_usage_error("verifier", "--tls-cert and --tls-key go together");
        goto out;
    }
    if (nattest_kv > 0 && attest == NULL) {
        ret = cli_usage_error("verifier", "--attest-opt needs --attest PLATFORM");
        goto out;
    }
    if (attest != NULL) {
        if (tls_cert == NULL) {
            ret = cli_usage_error("verifier", "--attest binds the verifier's TLS key: it needs --tls-cert and --tls-key");
            goto out;
        }
        self_scheme = vmesh_schemes_by_platform(attest);
        if (self_scheme == NULL || self_scheme->attester_new == NULL) {
            ret = cli_usage_error("verifier", "--attest %s: no such platform with an attester in this build", attest);
            goto out;
        }
        if ((rc = self_scheme->attester_new(attest_kv, nattest_kv, &self_attester)) != VMESH_OK) {
            ret = cli_fail("verifier", rc, "--attest");
            goto out;
        }
        scfg.self_scheme = self_scheme;
        scfg.self_attester = self_attester;
    }
    if ((rc = vmesh_service_new(&scfg, &svc)) != VMESH_OK) {
        ret = cli_fail("verifier", rc, "service");
        goto out;
    }
    if (check) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if ((rc = vmesh_net_resolve(listen, VMESH_NET_LISTEN, &ss, &sl)) != VMESH_OK) {
            ret = cli_fail("verifier", rc, "listening");
            goto out;
        }
        printf("vmesh verifier: the configuration is valid (keys, reference values and RVPs "
               "loaded; nothing bound or polled)\n");
        ret = CLI_EXIT_OK;
        goto out;
    }
    /* Block the stop signals in every thread (MHD's and the sync thread
     * inherit the mask), then wait for them here. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
#ifdef VMESH_HAVE_SYNC
    if (sync != NULL && (rc = vmesh_sync_start(sync)) != VMESH_OK) {
        ret = cli_fail("verifier", rc, "bundle sync");
        goto out;
    }
#endif
    if ((rc = vmesh_service_start(svc)) != VMESH_OK) {
        ret = cli_fail("verifier", rc, "listening");
        goto out;
    }
    vmesh_log_status("vmesh verifier: listening on %s (port %u)%s%s%s%s%s", listen, (unsigned)vmesh_service_port(svc),
                     id ? ", replica " : "", id ? id : "", tls_cert ? ", https (TLS 1.3)" : ", plain http",
                     attest ? ", attesting its platform as " : "", attest ? attest : "");
    {
        char st[128];
        snprintf(st, sizeof(st), "READY=1\nSTATUS=listening on port %u", (unsigned)vmesh_service_port(svc));
        cli_notify(st);
    }
    while (sigwait(&set, &sig) != 0)
        ;
    cli_notify("STOPPING=1");
    vmesh_log_status("vmesh verifier: %s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    vmesh_service_stop(svc);
    {
        vmesh_service_stats st;
        vmesh_service_stats_get(svc, &st);
        vmesh_log_status(
                "vmesh verifier: %llu requests, %llu sessions, %llu verifications (%llu one-request), %llu problems, "
                "%llu deleted",
                (unsigned long long)st.requests, (unsigned long long)st.sessions,
                (unsigned long long)st.verifications, (unsigned long long)st.oneshot,
                (unsigned long long)st.problems, (unsigned long long)st.revoked);
        vmesh_log_status("vmesh verifier: %llu connections accepted; refused: %llu over the connection limit, "
                         "%llu over a client's, %llu past the request deadline, %llu 429 (rate), %llu 429 "
                         "(bytes), %llu 413",
                         (unsigned long long)st.accepted, (unsigned long long)st.refused_connections,
                         (unsigned long long)st.refused_client_connections,
                         (unsigned long long)st.refused_deadline, (unsigned long long)st.refused_rate,
                         (unsigned long long)st.refused_bytes, (unsigned long long)st.refused_body);
    }
    ret = CLI_EXIT_OK;
out:
#ifdef VMESH_HAVE_SYNC
    vmesh_sync_free(sync);
#endif
    vmesh_service_free(svc);
    if (self_attester != NULL)
        self_scheme->attester_free(self_attester);
    for (size_t i = 0; i < nattest_kv; i++)
        free(attest_kv_mem[i]);
    vmesh_bell_view_free(bell);
    vmesh_verifier_free(v);
    vmesh_rv_store_free(store);
    vmesh_crypto_key_free(key);
    vmesh_crypto_key_free(corim_key);
    OPENSSL_cleanse(session_key, sizeof(session_key));
    (void)rvps;
    (void)scopes;
    (void)poll;
    (void)state_dir;
    return ret;
}

int cli_verifier(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "serve") == 0)
        return serve(argc - 1, argv + 1);
    return cli_usage_error("verifier", "unknown subcommand '%s' (serve)", argv[1]);
}
