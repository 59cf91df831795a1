/*
 * vmesh server / vmesh client: test peers for the attested channel in the
 * spirit of `openssl s_server` / `s_client`. They run the attested
 * handshake with the agent (attester + local verifier + policy), print the
 * peer's SPIFFE ID, mode and trust vector, then echo (server) or send stdin
 * and print the reply (client). Exit status: 0 ok, 2 attestation refused
 * (by either side; the reason is printed), 1 any other error. They connect
 * and listen wherever they are told: tests use 127.0.0.1 only.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "vmesh/agent.h"
#include "vmesh/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_RV 32
#define MAX_KV 40
#define MAX_KEYS 16

typedef struct {
    const char *name; /* "server" or "client" */
    const char *cert, *key, *bundle, *addr, *peer_pattern;
    const char *platform, *policy_path, *bell_path, *bell_key_path, *passport_key_path;
    const char *rv[MAX_RV];
    size_t nrv;
    const char *trust_verifier[MAX_KEYS];
    size_t ntv;
    vmesh_kv kv[MAX_KV];
    size_t nkv;
    unsigned attest_modes;
    bool allow_unattested, no_attest, quiet, plain;
    long deadline_ms, count, resume, ak_rotate;
    const char *message;
    /* re-attestation (docs/ATLS.md): offer it; ask every N ms and/or at each
     * new tick of the bell; the deadline for each answer */
    bool reattest, reattest_on_tick;
    long reattest_every_ms, reattest_deadline_ms;
    /* client: keep the connection open, sending every interval */
    long hold_ms, interval_ms, reattest_rounds;
} peer_opts;

typedef struct {
    vmesh_verifier *verifier;   /* RP local verifier */
    vmesh_verifier *issuer;     /* local passport issuer */
    vmesh_bell_view *bell;
    vmesh_key *bell_key;
    vmesh_policy *policy;
    vmesh_agent *agent;
    vmesh_atls_config *cfg;
} peer_state;

static void usage(FILE *f, const char *name)
{
    bool srv = strcmp(name, "server") == 0;

    fprintf(f,
            "usage: vmesh %s %s --cert SVID.pem --key SVID.key --bundle BUNDLE.pem [options]\n"
            "\n"
            "%s\n"
            "\n"
            "identity:\n"
            "  --cert FILE, --key FILE   our X509-SVID chain and key (vmesh ca issue)\n"
            "  --bundle FILE             trust bundle for the peer's SVID\n"
            "  --expect-peer PATTERN     peer SPIFFE ID, or a prefix ending in /* (default: any)\n"
            "attester (our platform):\n"
            "  --platform NAME           evidence scheme of our platform: psa (psa-sim) (default when\n"
            "                            --iak is given); --no-attest to not attest at all\n"
            "  --iak KEY --claims JSON   psa-sim IAK and claims template\n"
            "  --measure NAME=FILE       psa-sim measured component (repeatable)\n"
            "  --tcti T --ak-handle H --pcrs SPEC  tpm2 (with --platform tpm2): TCTI, AK handle, PCRs\n"
            "  --platform-opt KEY=VALUE  any option of the platform's attester (`vmesh attest NAME\n"
            "                            --help`), e.g. cpak=FILE for --platform cca-sim (repeatable)\n"
            "  --attest-mode MODE        a mode we produce: epoch-fresh, fresh, passport (repeatable;\n"
            "                            default: every mode we can)\n"
            "  --passport-key KEY        sign our own passport EARs with KEY (local verifier; until a\n"
            "                            central verifier is configured)\n"
            "  --ak-rotate DURATION      attestation key lifetime (default 1h; 30s, 5m, 1h or seconds)\n"
            "relying party (judging the peer):\n"
            "  --rv FILE                 reference values: CoRIM or vmesh RV JSON (repeatable)\n"
            "  --policy FILE             RP policy (docs/POLICY.md); default: strict built-in policy\n"
            "  --trust-verifier KEY      trust passport EARs signed by KEY (repeatable)\n"
            "  --allow-unattested        admit a peer that does not attest, as tier none\n"
            "  --bell FILE --bell-key KEY  the epoch bell (bell.cwt) and its signer's public key\n"
            "  --deadline-ms N           handshake + attestation deadline (default 10000)\n"
            "  --plain                   plain mTLS without the 0xff4d extension (a legacy peer,\n"
            "                            for testing downgrade refusal)\n"
            "re-attestation on the open connection (docs/ATLS.md):\n"
            "  --reattest                offer it (0xff4d key 4) and answer the peer's requests\n"
            "  --reattest-every MS       ask the peer for a new attestation every MS ms (implies --reattest)\n"
            "  --reattest-on-tick        ask at each new tick of the bell (--bell; implies --reattest)\n"
            "  --reattest-deadline-ms N  cut a peer that has not answered within N ms (default: --deadline-ms)\n"
            "%s"
            "  -q                        quiet: no peer summary\n"
            "\n"
            "exit status: 0 ok, 2 attestation refused (reason printed), 1 other error\n",
            name, srv ? "--listen ADDR:PORT" : "--connect ADDR:PORT",
            srv ? "Accepts attested TLS 1.3 connections and echoes what each peer sends."
                : "Connects over attested TLS 1.3, sends stdin (or --message) and prints the reply.",
            srv ? "  --count N                 serve N connections then exit (default: forever)\n"
                : "  --message TEXT            send TEXT instead of stdin\n"
                  "  --resume N                reconnect N more times resuming the TLS session\n"
                  "  --hold-ms N               keep the connection open N ms, sending the message every\n"
                  "                            --interval-ms (default 100) and reading the echo; prints the\n"
                  "                            largest gap between echoes and the re-attestation rounds\n"
                  "  --reattest-rounds N       with --hold-ms: stop once the peer re-attested N times\n");
}

static int add_kv(peer_opts *o, const char *k, const char *v)
{
    if (o->nkv == MAX_KV)
        return cli_usage_error(o->name, "too many platform options");
    o->kv[o->nkv].key = k;
    o->kv[o->nkv].value = v;
    o->nkv++;
    return 0;
}

static int parse(peer_opts *o, int argc, char **argv, int *exit_now)
{
    static const struct option opts[] = {
        {"cert", required_argument, NULL, 'c'},       {"key", required_argument, NULL, 'k'},
        {"bundle", required_argument, NULL, 'b'},     {"listen", required_argument, NULL, 'l'},
        {"connect", required_argument, NULL, 'C'},    {"expect-peer", required_argument, NULL, 'e'},
        {"platform", required_argument, NULL, 'p'},   {"iak", required_argument, NULL, 'I'},
        {"claims", required_argument, NULL, 'J'},     {"measure", required_argument, NULL, 'M'},
        {"attest-mode", required_argument, NULL, 'a'}, {"passport-key", required_argument, NULL, 'P'},
        {"rv", required_argument, NULL, 'r'},         {"policy", required_argument, NULL, 'y'},
        {"trust-verifier", required_argument, NULL, 't'}, {"allow-unattested", no_argument, NULL, 'u'},
        {"bell", required_argument, NULL, 'B'},       {"bell-key", required_argument, NULL, 'K'},
        {"deadline-ms", required_argument, NULL, 'd'}, {"count", required_argument, NULL, 'n'},
        {"message", required_argument, NULL, 'm'},    {"resume", required_argument, NULL, 'R'},
        {"no-attest", no_argument, NULL, 'N'},        {"plain", no_argument, NULL, 'L'},        {"ak-rotate", required_argument, NULL, 'A'},
        {"tcti", required_argument, NULL, 0x101},     {"ak-handle", required_argument, NULL, 0x102},
        {"pcrs", required_argument, NULL, 0x103},     {"platform-opt", required_argument, NULL, 0x104},
        {"reattest", no_argument, NULL, 0x110},       {"reattest-every", required_argument, NULL, 0x111},
        {"reattest-on-tick", no_argument, NULL, 0x112}, {"reattest-deadline-ms", required_argument, NULL, 0x113},
        {"hold-ms", required_argument, NULL, 0x114},  {"interval-ms", required_argument, NULL, 0x115},
        {"reattest-rounds", required_argument, NULL, 0x116},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c': o->cert = optarg; break;
        case 'k': o->key = optarg; break;
        case 'b': o->bundle = optarg; break;
        case 'l':
        case 'C': o->addr = optarg; break;
        case 'e': o->peer_pattern = optarg; break;
        case 'p': o->platform = optarg; break;
        case 'I': if (add_kv(o, "iak", optarg)) return 1; break;
        case 'J': if (add_kv(o, "claims", optarg)) return 1; break;
        case 'M': if (add_kv(o, "measure", optarg)) return 1; break;
        case 0x101: if (add_kv(o, "tcti", optarg)) return 1; break;
        case 0x102: if (add_kv(o, "ak-handle", optarg)) return 1; break;
        case 0x103: if (add_kv(o, "pcrs", optarg)) return 1; break;
        case 0x104: {
            char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg)
                return cli_usage_error(o->name, "--platform-opt takes KEY=VALUE, got \"%s\"", optarg);
            *eq = '\0';
            if (add_kv(o, optarg, eq + 1))
                return 1;
            break;
        }
        case 'a': {
            vmesh_mode m;
            if (vmesh_mode_parse(optarg, &m) != VMESH_OK || m == VMESH_MODE_NONE)
                return cli_usage_error(o->name, "--attest-mode: %s", vmesh_err_detail());
            o->attest_modes |= VMESH_MODE_BIT(m);
            break;
        }
        case 'P': o->passport_key_path = optarg; break;
        case 'r':
            if (o->nrv == MAX_RV)
                return cli_usage_error(o->name, "at most %d --rv files", MAX_RV);
            o->rv[o->nrv++] = optarg;
            break;
        case 'y': o->policy_path = optarg; break;
        case 't':
            if (o->ntv == MAX_KEYS)
                return cli_usage_error(o->name, "at most %d --trust-verifier keys", MAX_KEYS);
            o->trust_verifier[o->ntv++] = optarg;
            break;
        case 'u': o->allow_unattested = true; break;
        case 'B': o->bell_path = optarg; break;
        case 'K': o->bell_key_path = optarg; break;
        case 'N': o->no_attest = true; break;
        case 'L': o->plain = true; break;
        case 'q': o->quiet = true; break;
        case 'm': o->message = optarg; break;
        case 0x110: o->reattest = true; break;
        case 0x112: o->reattest = o->reattest_on_tick = true; break;
        case 0x111:
        case 0x113:
        case 0x114:
        case 0x115:
        case 0x116: {
            long v;
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || *end || v < 1 || v > 100000000)
                return cli_usage_error(o->name, "invalid number \"%s\" (1..100000000)", optarg);
            if (c == 0x111) o->reattest_every_ms = v, o->reattest = true;
            else if (c == 0x113) o->reattest_deadline_ms = v;
            else if (c == 0x114) o->hold_ms = v;
            else if (c == 0x115) o->interval_ms = v;
            else o->reattest_rounds = v;
            break;
        }
        case 'd':
        case 'n':
        case 'A': {
            long v;
            if (!cli_seconds(optarg, 0, 100000000, &v))
                return cli_usage_error(o->name, "--ak-rotate: invalid duration \"%s\" (%s)", optarg,
                                       CLI_DURATION_HELP);
            o->ak_rotate = v;
            break;
        }
        case 'R': {
            long v;
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || *end || v < 0 || v > 100000000)
                return cli_usage_error(o->name, "invalid number \"%s\"", optarg);
            if (c == 'd') o->deadline_ms = v;
            else if (c == 'n') o->count = v;
            else o->resume = v;
            break;
        }
        case 'h': usage(stdout, o->name); *exit_now = 1; return 0;
        default: return cli_usage_error(o->name, "unknown or incomplete option");
        }
    }
    if (optind < argc)
        return cli_usage_error(o->name, "unexpected argument \"%s\"", argv[optind]);
    if (!o->cert || !o->key || !o->bundle)
        return cli_usage_error(o->name, "--cert, --key and --bundle are required");
    if (!o->addr)
        return cli_usage_error(o->name, "--%s ADDR:PORT is required", strcmp(o->name, "server") == 0 ? "listen" : "connect");
    if ((o->bell_path == NULL) != (o->bell_key_path == NULL))
        return cli_usage_error(o->name, "--bell and --bell-key go together");
    if (o->reattest_on_tick && o->bell_path == NULL)
        return cli_usage_error(o->name, "--reattest-on-tick needs --bell and --bell-key");
    if (o->reattest && o->plain)
        return cli_usage_error(o->name, "--reattest needs the 0xff4d extension: not with --plain");
    if (o->reattest_rounds > 0 && o->hold_ms == 0)
        return cli_usage_error(o->name, "--reattest-rounds goes with --hold-ms");
    if (o->interval_ms == 0)
        o->interval_ms = 100;
    if (o->platform == NULL && o->nkv > 0)
        o->platform = "psa";
    if (o->platform != NULL && strcmp(o->platform, "psa-sim") == 0)
        o->platform = "psa";
    if (o->no_attest)
        o->platform = NULL;
    return 0;
}

static vmesh_err refresh_bell(peer_opts *o, peer_state *s)
{
    vmesh_buf b = {0};
    vmesh_err rc;

    if (s->bell == NULL)
        return VMESH_OK;
    rc = vmesh_file_read(o->bell_path, VMESH_BELL_MAX, &b);
    if (rc == VMESH_OK)
        rc = vmesh_bell_view_update(s->bell, (const char *)b.data, b.len, vmesh_time_now());
    if (rc != VMESH_OK)
        vmesh_err_wrap(rc, "epoch bell %s", o->bell_path);
    vmesh_buf_free(&b);
    return rc;
}

static vmesh_err setup(peer_opts *o, peer_state *s, vmesh_atls_role role)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *rv = NULL;
    vmesh_key *k = NULL;
    vmesh_verifier_config vc;
    vmesh_agent_config ac;
    vmesh_atls_provider prov;

    VMESH_GUARD(vmesh_rv_store_new(&rv));
    for (size_t i = 0; i < o->nrv; i++)
        VMESH_GUARD(vmesh_verifier_load_rv_file(rv, o->rv[i], NULL));
    vmesh_rv_store_freeze(rv);
    memset(&vc, 0, sizeof(vc));
    VMESH_GUARD(vmesh_verifier_new(&vc, &s->verifier));
    vmesh_verifier_set_rv(s->verifier, rv);
    if (o->passport_key_path) {
        VMESH_GUARD(vmesh_crypto_key_load(o->passport_key_path, &k));
        vc.ear_key = k;
        VMESH_GUARD(vmesh_verifier_new(&vc, &s->issuer));
        vmesh_verifier_set_rv(s->issuer, rv);
        vmesh_crypto_key_free(k);
        k = NULL;
    }
    if (o->policy_path)
        VMESH_GUARD(vmesh_policy_load(o->policy_path, &s->policy));
    else
        VMESH_GUARD(vmesh_policy_default(&s->policy));
    for (size_t i = 0; i < o->ntv; i++) {
        rc = vmesh_crypto_key_load(o->trust_verifier[i], &k);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "--trust-verifier %s", o->trust_verifier[i]);
            goto out;
        }
        VMESH_GUARD(vmesh_policy_add_verifier_key(s->policy, k));
        vmesh_crypto_key_free(k);
        k = NULL;
    }
    if (o->bell_path) {
        VMESH_GUARD(vmesh_crypto_key_load(o->bell_key_path, &s->bell_key));
        VMESH_GUARD(vmesh_bell_view_new(s->bell_key, &s->bell));
        VMESH_GUARD(refresh_bell(o, s));
    }
    memset(&ac, 0, sizeof(ac));
    ac.platform = o->platform;
    ac.platform_cfg = o->kv;
    ac.n_platform_cfg = o->nkv;
    ac.attest_modes = o->attest_modes;
    ac.ak_rotate_seconds = o->ak_rotate;
    ac.passport = s->issuer ? vmesh_agent_local_passport : NULL;
    ac.passport_ctx = s->issuer;
    ac.verifier = s->verifier;
    ac.policy = s->policy;
    ac.bell = s->bell;
    VMESH_GUARD(vmesh_agent_new(&ac, &s->agent));
    vmesh_agent_provider(s->agent, &prov);
    if (o->allow_unattested)
        prov.allow_unattested = true;
    VMESH_GUARD(vmesh_atls_config_new(role, &s->cfg));
    VMESH_GUARD(vmesh_atls_config_set_svid(s->cfg, o->cert, o->key));
    VMESH_GUARD(vmesh_atls_config_set_bundle(s->cfg, o->bundle));
    if (o->peer_pattern)
        VMESH_GUARD(vmesh_atls_config_set_peer_pattern(s->cfg, o->peer_pattern));
    /* --plain: plain mTLS, no 0xff4d extension at all (a legacy peer). */
    if (!o->plain)
        VMESH_GUARD(vmesh_atls_config_set_provider(s->cfg, &prov));
    if (o->deadline_ms > 0)
        vmesh_atls_config_set_deadline_ms(s->cfg, (uint32_t)o->deadline_ms);
    vmesh_atls_config_set_reattest(s->cfg, o->reattest);
out:
    vmesh_crypto_key_free(k);
    vmesh_rv_store_free(rv);
    return rc;
}

static void teardown(peer_state *s)
{
    vmesh_atls_config_free(s->cfg);
    vmesh_agent_free(s->agent);
    vmesh_policy_free(s->policy);
    vmesh_bell_view_free(s->bell);
    vmesh_crypto_key_free(s->bell_key);
    vmesh_verifier_free(s->verifier);
    vmesh_verifier_free(s->issuer);
}

static void print_peer(peer_opts *o, vmesh_atls_conn *c)
{
    const vmesh_atls_peer_result *r = vmesh_atls_peer_result_get(c);
    int mode = vmesh_atls_peer_mode(c);

    if (o->quiet)
        return;
    fprintf(stderr, "vmesh %s: peer %s mode=%s tier=%s resumed=%s own-mode=%s", o->name,
            vmesh_atls_peer_spiffe_id(c) ? vmesh_atls_peer_spiffe_id(c) : "(none)",
            vmesh_atls_mode_name(mode), r ? vmesh_tier_name(r->tier) : "none", vmesh_atls_resumed(c) ? "yes" : "no",
            vmesh_atls_own_mode(c) >= 0 ? vmesh_atls_mode_name(vmesh_atls_own_mode(c)) : "none");
    if (r != NULL) {
        fprintf(stderr, " tv=");
        bool first = true;
        for (int i = 0; i < VMESH_TV__COUNT; i++) {
            if (r->tv.v[i] == 0)
                continue;
            fprintf(stderr, "%s%s:%d", first ? "" : ",", vmesh_tv_claim_name((vmesh_tv_claim)i), r->tv.v[i]);
            first = false;
        }
        if (first)
            fprintf(stderr, "-");
    }
    fputc('\n', stderr);
}

static int report_failure(peer_opts *o, vmesh_atls_conn *c, vmesh_err rc)
{
    const char *msg = NULL;
    bool by_peer = false;
    vmesh_atls_reason r = c ? vmesh_atls_failure(c, &msg, &by_peer) : VMESH_ATLS_R_NONE;

    if (r != VMESH_ATLS_R_NONE) {
        vmesh_atls_reattest_stats st;

        vmesh_atls_reattest_stats_get(c, &st);
        fprintf(stderr, "vmesh %s: %s failed: %s: %s (%s)\n", o->name, st.cut ? "re-attestation" : "attestation",
                vmesh_atls_reason_name(r), msg ? msg : "", by_peer ? "refused by the peer" : "we refused the peer");
        return CLI_EXIT_NOT_AFFIRMED;
    }
    if (c != NULL && !vmesh_atls_negotiated(c) && vmesh_atls_peer_spiffe_id(c) != NULL) {
        /* A legacy (--plain) peer gets no failure frame: the TLS handshake
         * succeeded and the connection was then closed. */
        fprintf(stderr,
                "vmesh %s: the peer closed the connection after the TLS handshake (%s): it requires "
                "attestation (extension 0xff4d) and refuses unattested peers\n",
                o->name, vmesh_err_detail());
        return CLI_EXIT_NOT_AFFIRMED;
    }
    return cli_fail(o->name, rc, "connection failed");
}

/* ---- re-attestation policy of one connection ----------------------------------------- */

#define BELL_CHECK_MS 200

typedef struct {
    uint64_t next_rq_ns, next_bell_ns;
    uint64_t seen_tick;
    uint64_t accepted_seen;
} reattest_clock;

static uint64_t ms_until(uint64_t now, uint64_t t)
{
    return t > now ? (t - now + 999999u) / 1000000u : 0;
}

/* Does what is due on connection c: reads the bell (our attester and our
 * relying party both follow it), reports rounds the peer passed, asks the
 * peer again when our policy says so, and cuts it when its answer is late.
 * *wait_ms: how long the caller may sleep before calling again. */
static vmesh_err reattest_due(peer_opts *o, peer_state *s, vmesh_atls_conn *c, reattest_clock *k, int *wait_ms)
{
    vmesh_err rc = VMESH_OK;
    uint64_t now = vmesh_time_mono_ns(), w = UINT64_MAX;
    vmesh_atls_reattest_stats st;
    bool due = false;
    int64_t t;

    VMESH_GUARD(vmesh_atls_reattest_poll(c));
    if (s->bell != NULL && now >= k->next_bell_ns) {
        vmesh_bell cur;

        (void)refresh_bell(o, s);
        vmesh_err_clear();
        k->next_bell_ns = now + (uint64_t)BELL_CHECK_MS * 1000000u;
        if (vmesh_bell_view_current(s->bell, &cur) == VMESH_OK) {
            if (k->seen_tick != 0 && cur.id > k->seen_tick && o->reattest_on_tick)
                due = true;
            k->seen_tick = cur.id > k->seen_tick ? cur.id : k->seen_tick;
        } else {
            vmesh_err_clear();
        }
    }
    vmesh_atls_reattest_stats_get(c, &st);
    if (st.answers_accepted > k->accepted_seen) {
        const vmesh_atls_peer_result *r = vmesh_atls_peer_result_get(c);

        k->accepted_seen = st.answers_accepted;
        if (!o->quiet)
            fprintf(stderr, "vmesh %s: peer %s re-attested (round %llu): mode=%s tier=%s in %llu us\n", o->name,
                    vmesh_atls_peer_spiffe_id(c), (unsigned long long)st.answers_accepted,
                    vmesh_atls_mode_name(vmesh_atls_peer_mode(c)), r ? vmesh_tier_name(r->tier) : "none",
                    (unsigned long long)st.last_rtt_us);
    }
    if (o->reattest_every_ms > 0) {
        if (k->next_rq_ns == 0)
            k->next_rq_ns = now + (uint64_t)o->reattest_every_ms * 1000000u;
        else if (now >= k->next_rq_ns) {
            due = true;
            k->next_rq_ns = now + (uint64_t)o->reattest_every_ms * 1000000u;
        }
        w = ms_until(now, k->next_rq_ns);
    }
    if (due && !st.pending && vmesh_atls_reattest_supported(c) && vmesh_atls_peer_mode(c) >= 0 &&
        vmesh_atls_peer_mode(c) <= VMESH_ATLS_MODE_PASSPORT)
        VMESH_GUARD(vmesh_atls_reattest_request(c, (uint32_t)o->reattest_deadline_ms));
    if (s->bell != NULL && ms_until(now, k->next_bell_ns) < w)
        w = ms_until(now, k->next_bell_ns);
    t = vmesh_atls_reattest_timeout_ms(c);
    if (t >= 0 && (uint64_t)t < w)
        w = (uint64_t)t;
    *wait_ms = w == UINT64_MAX ? -1 : w > INT32_MAX ? INT32_MAX : (int)w;
out:
    return rc;
}

/* A connection whose loop also runs a clock is non-blocking from the start
 * (atls decides at vmesh_atls_conn_new): the handshake is driven here. */
static vmesh_err set_nonblocking(int fd)
{
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        return vmesh_err_set(VMESH_ERR_IO, "fcntl: %s", strerror(errno));
    return VMESH_OK;
}

static vmesh_err handshake(vmesh_atls_conn *c, int fd)
{
    vmesh_err rc;

    while ((rc = vmesh_atls_handshake(c)) == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE) {
        struct pollfd p = {fd, rc == VMESH_ERR_WANT_READ ? POLLIN : POLLOUT, 0};
        int64_t t = vmesh_atls_timeout_ms(c);

        (void)poll(&p, 1, t < 0 ? 1000 : (int)(t > 100000 ? 100000 : t) + 1);
    }
    return rc;
}

/* Writes all of buf on a non-blocking connection. */
static vmesh_err write_all(vmesh_atls_conn *c, int fd, const void *buf, size_t n)
{
    vmesh_err rc;
    struct pollfd p = {fd, POLLOUT, 0};

    while ((rc = vmesh_atls_write(c, buf, n)) == VMESH_ERR_WANT_WRITE)
        (void)poll(&p, 1, 1000);
    while (rc == VMESH_OK && (rc = vmesh_atls_flush(c)) == VMESH_ERR_WANT_WRITE) {
        (void)poll(&p, 1, 1000);
        rc = VMESH_OK;
    }
    return rc;
}

/* The echo loop of a server that re-attests its peers: non-blocking, woken
 * by data or by the re-attestation clock. */
static int echo_reattesting(peer_opts *o, peer_state *s, vmesh_atls_conn *c, int fd)
{
    reattest_clock k = {0};
    char buf[16384];
    vmesh_err rc;
    int wait_ms;

    for (;;) {
        size_t got = 0;

        rc = reattest_due(o, s, c, &k, &wait_ms);
        if (rc == VMESH_OK)
            rc = vmesh_atls_read(c, buf, sizeof(buf), &got);
        if (rc == VMESH_ERR_WANT_READ) {
            struct pollfd p = {fd, POLLIN, 0};
            (void)poll(&p, 1, wait_ms);
            continue;
        }
        if (rc == VMESH_ERR_CLOSED) {
            /* Say how a held connection ended: a peer that cut us may
             * reset the socket before its failure frame is read. */
            if (!o->quiet)
                fprintf(stderr, "vmesh %s: connection ended: %s\n", o->name, vmesh_err_detail());
            vmesh_err_clear();
            return CLI_EXIT_OK;
        }
        if (rc == VMESH_OK)
            rc = write_all(c, fd, buf, got);
        if (rc != VMESH_OK)
            return report_failure(o, c, rc);
    }
}

static int serve_one(peer_opts *o, peer_state *s, int fd)
{
    vmesh_atls_conn *c = NULL;
    vmesh_err rc;
    char buf[16384];
    int ret = CLI_EXIT_OK;

    (void)refresh_bell(o, s);
    rc = o->reattest ? set_nonblocking(fd) : VMESH_OK;
    if (rc == VMESH_OK)
        rc = vmesh_atls_conn_new(s->cfg, fd, &c);
    if (rc == VMESH_OK)
        rc = handshake(c, fd);
    if (rc != VMESH_OK) {
        ret = report_failure(o, c, rc);
        goto out;
    }
    print_peer(o, c);
    if (o->reattest) {
        ret = echo_reattesting(o, s, c, fd);
        goto done;
    }
    for (;;) {
        size_t got = 0;
        rc = vmesh_atls_read(c, buf, sizeof(buf), &got);
        if (rc == VMESH_ERR_CLOSED)
            break;
        if (rc != VMESH_OK) {
            ret = report_failure(o, c, rc);
            break;
        }
        if ((rc = vmesh_atls_write(c, buf, got)) != VMESH_OK || (rc = vmesh_atls_flush(c)) != VMESH_OK) {
            ret = report_failure(o, c, rc);
            break;
        }
    }
done:
    if (vmesh_atls_shutdown(c) != VMESH_OK)
        vmesh_err_clear(); /* best effort: the peer may already be gone */
out:
    vmesh_atls_free(c);
    return ret;
}

static int run_server(peer_opts *o, peer_state *s)
{
    int lfd = -1, one = 1, ret = CLI_EXIT_ERROR, last = CLI_EXIT_OK;
    vmesh_err rc;

    if ((rc = vmesh_net_listen(o->addr, 128, VMESH_NET_BLOCKING, &lfd)) != VMESH_OK)
        return cli_fail(o->name, rc, "--listen");
    if (!o->quiet)
        fprintf(stderr, "vmesh server: listening on %s (port %u)\n", o->addr, (unsigned)vmesh_net_local_port(lfd));
    for (long n = 0; o->count == 0 || n < o->count; n++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "vmesh server: accept: %s\n", strerror(errno));
            goto out;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        last = serve_one(o, s, fd);
        close(fd);
    }
    ret = last;
out:
    if (lfd >= 0)
        close(lfd);
    return ret;
}

static int connect_to(peer_opts *o)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;
    vmesh_err rc;

    if ((rc = vmesh_net_resolve(o->addr, 0, &ss, &len)) != VMESH_OK) {
        cli_fail(o->name, rc, "--connect");
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        fd = -1;
        errno = e;
    }
    if (fd < 0)
        fprintf(stderr, "vmesh client: cannot connect to %s: %s\n", o->addr, strerror(errno));
    else
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static vmesh_err read_all_stdin(vmesh_buf *out)
{
    char buf[16384];
    size_t n;

    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        vmesh_err rc = vmesh_buf_append(out, buf, n);
        if (rc != VMESH_OK)
            return rc;
    }
    return VMESH_OK;
}

/* --hold-ms: the connection stays open; the message goes out every
 * interval and its echo is read back while the re-attestation clock runs.
 * Prints the largest gap between two echoes and the largest echo round
 * trip, so that a stall during re-attestation shows. */
static int hold(peer_opts *o, peer_state *s, vmesh_atls_conn *c, int fd, const vmesh_buf *data)
{
    reattest_clock k = {0};
    uint64_t start = vmesh_time_mono_ns(), end = start + (uint64_t)o->hold_ms * 1000000u, next_send = start;
    uint64_t last_echo = 0, max_gap = 0, max_rtt = 0, sent = 0, echoed = 0, sends = 0;
    uint64_t send_t[64];
    char buf[16384];
    vmesh_err rc;
    int wait_ms;
    vmesh_atls_reattest_stats st;

    if (data->len == 0)
        return cli_usage_error(o->name, "--hold-ms needs a message (--message or stdin)");
    for (;;) {
        uint64_t now = vmesh_time_mono_ns();
        size_t got = 0;
        bool done_time = now >= end;

        rc = reattest_due(o, s, c, &k, &wait_ms); /* first: it reports a round just passed */
        if (rc != VMESH_OK)
            return report_failure(o, c, rc);
        vmesh_atls_reattest_stats_get(c, &st);
        if (o->reattest_rounds > 0 && (long)st.answers_accepted >= o->reattest_rounds)
            done_time = true;
        if (done_time && echoed == sent)
            break;
        if (!done_time && now >= next_send && sent - echoed < 64 * data->len) {
            send_t[sends % 64] = now;
            sends++;
            rc = write_all(c, fd, data->data, data->len);
            if (rc != VMESH_OK)
                return report_failure(o, c, rc);
            sent += data->len;
            next_send = now + (uint64_t)o->interval_ms * 1000000u;
        }
        rc = vmesh_atls_read(c, buf, sizeof(buf), &got);
        if (rc == VMESH_ERR_WANT_READ) {
            struct pollfd p = {fd, POLLIN, 0};
            uint64_t until_send = ms_until(vmesh_time_mono_ns(), next_send);
            int w = done_time ? 100 : (int)(until_send < 1000 ? until_send : 1000);

            if (wait_ms >= 0 && wait_ms < w)
                w = wait_ms;
            (void)poll(&p, 1, w);
            continue;
        }
        if (rc != VMESH_OK) {
            if (rc == VMESH_ERR_CLOSED)
                vmesh_err_set(VMESH_ERR_CLOSED, "the server closed the connection after %llu of %llu echoed bytes",
                              (unsigned long long)echoed, (unsigned long long)sent);
            return report_failure(o, c, rc);
        }
        now = vmesh_time_mono_ns();
        /* the echo of message i is complete when echoed passes its end */
        for (uint64_t before = echoed / data->len, after = (echoed + got) / data->len; before < after; before++) {
            uint64_t rtt = now - send_t[before % 64];
            if (rtt > max_rtt)
                max_rtt = rtt;
        }
        echoed += got;
        if (last_echo != 0 && now - last_echo > max_gap)
            max_gap = now - last_echo;
        last_echo = now;
    }
    vmesh_atls_reattest_stats_get(c, &st);
    fprintf(stderr,
            "vmesh client: held %llu ms: %llu messages echoed, max gap between echoes %.1f ms (interval %ld ms), "
            "max echo rtt %.1f ms; peer re-attested %llu times (last round %.1f ms), %llu re-attestation bytes out, "
            "%llu in\n",
            (unsigned long long)((vmesh_time_mono_ns() - start) / 1000000u), (unsigned long long)sends,
            (double)max_gap / 1e6, o->interval_ms, (double)max_rtt / 1e6, (unsigned long long)st.answers_accepted,
            (double)st.last_rtt_us / 1e3, (unsigned long long)st.bytes_out, (unsigned long long)st.bytes_in);
    return CLI_EXIT_OK;
}

static int client_once(peer_opts *o, peer_state *s, const vmesh_buf *data, vmesh_atls_session **sess)
{
    vmesh_atls_conn *c = NULL;
    vmesh_err rc;
    int fd, ret = CLI_EXIT_OK;
    size_t want = data->len, have = 0;
    char buf[16384];

    fd = connect_to(o);
    if (fd < 0)
        return CLI_EXIT_ERROR;
    rc = o->hold_ms > 0 ? set_nonblocking(fd) : VMESH_OK;
    if (rc == VMESH_OK)
        rc = vmesh_atls_conn_new(s->cfg, fd, &c);
    if (rc == VMESH_OK && *sess != NULL)
        rc = vmesh_atls_conn_set_session(c, *sess);
    if (rc == VMESH_OK)
        rc = handshake(c, fd);
    if (rc != VMESH_OK) {
        ret = report_failure(o, c, rc);
        goto out;
    }
    print_peer(o, c);
    if (o->hold_ms > 0) {
        ret = hold(o, s, c, fd, data);
        goto done;
    }
    if (want > 0 && ((rc = vmesh_atls_write(c, data->data, data->len)) != VMESH_OK ||
                     (rc = vmesh_atls_flush(c)) != VMESH_OK)) {
        ret = report_failure(o, c, rc);
        goto out;
    }
    /* Read the echo; with nothing to send, one read still delivers the
     * server's verdict on us (refusal) or the session ticket. */
    do {
        size_t got = 0;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (want == 0 && poll(&pfd, 1, 200) <= 0)
            break;
        rc = vmesh_atls_read(c, buf, sizeof(buf), &got);
        if (rc == VMESH_ERR_CLOSED && have < want) {
            /* closed before echoing everything we sent */
            vmesh_err_set(VMESH_ERR_CLOSED, "the server closed the connection after %zu of %zu echoed bytes",
                          have, want);
            ret = report_failure(o, c, rc);
            goto out;
        }
        if (rc == VMESH_ERR_CLOSED)
            break;
        if (rc == VMESH_ERR_WANT_READ)
            continue;
        if (rc != VMESH_OK) {
            ret = report_failure(o, c, rc);
            goto out;
        }
        fwrite(buf, 1, got, stdout);
        have += got;
    } while (have < want);
    fflush(stdout);
done:
    vmesh_atls_session_free(*sess);
    *sess = vmesh_atls_conn_get1_session(c);
    if (vmesh_atls_shutdown(c) != VMESH_OK)
        vmesh_err_clear(); /* best effort: the peer may already be gone */
out:
    vmesh_atls_free(c);
    close(fd);
    return ret;
}

static int run_client(peer_opts *o, peer_state *s)
{
    vmesh_buf data = {0};
    vmesh_atls_session *sess = NULL;
    int ret = CLI_EXIT_OK;
    vmesh_err rc;

    if (o->message)
        rc = vmesh_buf_set(&data, o->message, strlen(o->message));
    else
        rc = read_all_stdin(&data);
    if (rc != VMESH_OK) {
        ret = cli_fail(o->name, rc, "reading input");
        goto out;
    }
    for (long i = 0; i <= o->resume && ret == CLI_EXIT_OK; i++) {
        (void)refresh_bell(o, s);
        ret = client_once(o, s, &data, &sess);
    }
out:
    vmesh_atls_session_free(sess);
    vmesh_buf_free(&data);
    return ret;
}

static int peer_main(const char *name, int argc, char **argv)
{
    peer_opts o;
    peer_state s;
    int exit_now = 0, ret;
    vmesh_err rc;
    bool srv = strcmp(name, "server") == 0;

    memset(&o, 0, sizeof(o));
    memset(&s, 0, sizeof(s));
    o.name = name;
    signal(SIGPIPE, SIG_IGN);
    if (parse(&o, argc, argv, &exit_now) != 0)
        return CLI_EXIT_ERROR;
    if (exit_now)
        return CLI_EXIT_OK;
    rc = setup(&o, &s, srv ? VMESH_ATLS_SERVER : VMESH_ATLS_CLIENT);
    if (rc != VMESH_OK) {
        ret = cli_fail(name, rc, "setup");
        goto out;
    }
    ret = srv ? run_server(&o, &s) : run_client(&o, &s);
out:
    teardown(&s);
    return ret;
}

int cli_server(int argc, char **argv)
{
    return peer_main("server", argc, argv);
}

int cli_client(int argc, char **argv)
{
    return peer_main("client", argc, argv);
}
