/*
 * vmesh rvp: what a Reference Value Provider runs, and its verifier side for
 * tests. `tick` writes the epoch bell's signed Epoch Marker (bell.cwt) and, with --every,
 * rotates it on a schedule; tick ids continue from the bell already in the
 * output directory, so a restart never rolls the bell back. `publish`
 * writes a trust bundle (manifest.jws + sets/), `serve` serves such a
 * directory over HTTP, `sync` runs the bundle sync client standalone
 * (docs/BUNDLES.md). None of them ever publishes or accepts a lower epoch.
 */
#include "cli.h"
#include "vmesh/rvp.h"
#include "vmesh/sync.h"

#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void tick_usage(FILE *f)
{
    fprintf(f, "usage: vmesh rvp tick --key KEY --out WWWDIR [--every DURATION] [--name NAME]\n"
               "       vmesh rvp tick --show FILE [--key PUBKEY]\n"
               "\n"
               "Writes WWWDIR/bell.cwt, the epoch bell's Epoch Marker\n"
               "(draft-ietf-rats-epoch-markers-05): a COSE_Sign1-signed CWT {iss: NAME, iat, nbf,\n"
               "exp, em: epoch-tick (32 random bytes), tick number, previous tick}. Each tick is\n"
               "valid for two periods, so evidence bound to the previous tick stays fresh for one\n"
               "period after rotation; the marker carries the tick it follows (the one already in\n"
               "WWWDIR/bell.cwt, if signed by KEY) so that a relying party that loads the bell\n"
               "for the first time accepts that tick too. --show prints a marker as JSON\n"
               "(verified when --key is given).\n"
               "\n"
               "  --key KEY         signing key (PEM or JWK, private)\n"
               "  --out DIR         directory served to verifiers (must exist)\n"
               "  --every DURATION  keep running and ring every DURATION (30s, 5m, or bare\n"
               "                    seconds; default: ring once, the period used for validity\n"
               "                    is then 60s)\n"
               "  --name NAME       the bell's name (default: rvp)\n"
               "  --show FILE       print the marker in FILE: {bell, tick, em (base64url), iat, exp,\n"
               "                    prev: {tick, em, iat, exp} when carried}\n"
               "\n"
               "exit status: 0 ok, 1 error\n");
}

/* --show: the marker as one JSON line; verified with key when given. */
static int tick_show(const char *path, const vmesh_key *key)
{
    vmesh_buf b = {0}, em = {0}, pem = {0};
    vmesh_bell bell;
    vmesh_err rc;
    int ret = CLI_EXIT_ERROR;

    if ((rc = vmesh_file_read(path, VMESH_BELL_MAX, &b)) != VMESH_OK) {
        ret = cli_fail("rvp tick", rc, "reading --show");
        goto out;
    }
    rc = key ? vmesh_rvp_bell_read(b.data, b.len, key, &bell) : vmesh_rvp_bell_decode(b.data, b.len, &bell);
    if (rc != VMESH_OK || (rc = vmesh_b64url_encode(bell.nonce, sizeof(bell.nonce), &em)) != VMESH_OK) {
        ret = cli_fail("rvp tick", rc, "reading the marker");
        goto out;
    }
    if (bell.has_prev && (rc = vmesh_b64url_encode(bell.prev.nonce, sizeof(bell.prev.nonce), &pem)) != VMESH_OK) {
        ret = cli_fail("rvp tick", rc, "reading the marker");
        goto out;
    }
    printf("{\"bell\":\"%s\",\"tick\":%llu,\"em\":\"%s\",\"iat\":%lld,\"exp\":%lld,", bell.name,
           (unsigned long long)bell.id, (const char *)em.data, (long long)bell.issued_at, (long long)bell.valid_until);
    if (bell.has_prev)
        printf("\"prev\":{\"tick\":%llu,\"em\":\"%s\",\"iat\":%lld,\"exp\":%lld},", (unsigned long long)bell.prev.id,
               (const char *)pem.data, (long long)bell.prev.issued_at, (long long)bell.prev.valid_until);
    printf("\"verified\":%s}\n", key ? "true" : "false");
    ret = CLI_EXIT_OK;
out:
    vmesh_buf_free(&b);
    vmesh_buf_free(&em);
    vmesh_buf_free(&pem);
    return ret;
}

/* The bell already published (checked with our own key): true when there
 * is one; the next tick continues from it. */
static bool previous_bell(const char *path, const vmesh_key *key, vmesh_bell *bell)
{
    vmesh_buf b = {0};
    bool ok = false;

    if (vmesh_file_read(path, VMESH_BELL_MAX, &b) == VMESH_OK) {
        if (vmesh_rvp_bell_read(b.data, b.len, key, bell) == VMESH_OK)
            ok = true;
        else
            fprintf(stderr, "vmesh rvp tick: ignoring %s: %s\n", path, vmesh_err_detail());
    }
    vmesh_err_clear();
    vmesh_buf_free(&b);
    return ok;
}

static int tick(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},  {"out", required_argument, NULL, 'o'},
        {"every", required_argument, NULL, 'e'}, {"name", required_argument, NULL, 'n'},
        {"show", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *key_path = NULL, *out_dir = NULL, *name = "rvp", *show = NULL;
    long every = 0;
    int c, ret = CLI_EXIT_ERROR;
    vmesh_key *key = NULL;
    vmesh_buf jws = {0};
    char path[4096];
    vmesh_bell last;
    bool have_last;
    vmesh_err rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key_path = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'n': name = optarg; break;
        case 's': show = optarg; break;
        case 'e': {
            if (!cli_seconds(optarg, 1, 86400, &every)) {
                ret = cli_usage_error("rvp tick", "--every must be a duration of 1s..86400s (e.g. 30s, 5m), got \"%s\"",
                                      optarg);
                goto out;
            }
            break;
        }
        case 'h': tick_usage(stdout); ret = CLI_EXIT_OK; goto out;
        default: ret = cli_usage_error("rvp tick", "unknown or incomplete option"); goto out;
        }
    }
    if (show != NULL) {
        if (key_path && (rc = vmesh_crypto_key_load(key_path, &key)) != VMESH_OK) {
            ret = cli_fail("rvp tick", rc, "reading --key");
            goto out;
        }
        ret = tick_show(show, key);
        goto out;
    }
    if (key_path == NULL || out_dir == NULL) {
        ret = cli_usage_error("rvp tick", "--key and --out are required");
        goto out;
    }
    if ((rc = vmesh_crypto_key_load(key_path, &key)) != VMESH_OK) {
        ret = cli_fail("rvp tick", rc, "reading --key");
        goto out;
    }
    if (snprintf(path, sizeof(path), "%s/%s", out_dir, VMESH_BELL_FILE) >= (int)sizeof(path)) {
        ret = cli_usage_error("rvp tick", "--out path too long");
        goto out;
    }
    have_last = previous_bell(path, key, &last);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    do {
        vmesh_bell b;
        /* The marker carries the tick it continues from (claim -65538), so a
         * relying party that loads the bell for the first time still accepts
         * evidence bound to that tick. Not across a rename: that is another
         * bell, which relying parties refuse anyway. */
        if (have_last && strcmp(last.name, name) == 0)
            rc = vmesh_rvp_bell_after(&last, every ? every : 60, &b);
        else
            rc = vmesh_rvp_bell_next(name, have_last ? last.id : 0, every ? every : 60, &b);
        if (rc != VMESH_OK || (rc = vmesh_rvp_bell_sign(&b, key, &jws)) != VMESH_OK ||
            (rc = vmesh_file_write(path, jws.data, jws.len, 0644)) != VMESH_OK) {
            ret = cli_fail("rvp tick", rc, "ringing the bell");
            goto out;
        }
        last = b;
        have_last = true;
        if (every > 0) {
            struct timespec ts = {every, 0};
            while (!stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
    } while (every > 0 && !stop);
    ret = CLI_EXIT_OK;
out:
    vmesh_crypto_key_free(key);
    vmesh_buf_free(&jws);
    return ret;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *out >= min && *out <= max;
}

static void sleep_until_stopped(void)
{
    while (!stop) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---- publish --------------------------------------------------------------- */

static void publish_usage(FILE *f)
{
    fprintf(f, "usage: vmesh rvp publish --key KEY --in DIR|FILE [--in ...] [--ta SCHEME=FILE ...]\n"
               "                         --out WWWDIR [--epoch N] [--name NAME] [--validity DURATION]\n"
               "                         [--json]\n"
               "\n"
               "Writes a trust bundle into WWWDIR: every input as a content-addressed set\n"
               "WWWDIR/sets/<sha256> (kind detected from the content: CoRIM, vmesh RV JSON,\n"
               "trust anchors as PEM/JWK, vmesh RP or verifier policy), then the signed\n"
               "WWWDIR/manifest.jws. Sets named by neither the new nor the previous manifest\n"
               "are removed afterwards. See docs/BUNDLES.md.\n"
               "\n"
               "  --key KEY          the RVP's signing key (PEM or JWK, private; ES256 for P-256)\n"
               "  --in DIR|FILE      input file, or a directory (its regular files, one level);\n"
               "                     repeatable; further inputs may also follow the options\n"
               "  --ta SCHEME=FILE   trust anchors and collateral for SCHEME (sev-snp, tdx, or tsm\n"
               "                     for both): PEM/DER certificates and CRLs, TDX TCB Info / QE\n"
               "                     Identity JSON, public keys; FILE may be a directory;\n"
               "                     repeatable. Sync clients add them to that scheme's trust\n"
               "                     anchors as `vmesh appraise --ta` would\n"
               "  --out WWWDIR       the served directory (created if missing)\n"
               "  --epoch N          the new epoch; default: the published epoch + 1. An epoch\n"
               "                     not above the published one is refused\n"
               "  --name NAME        the RVP name in the manifest (default: the previous\n"
               "                     manifest's, else \"rvp\")\n"
               "  --validity DURATION expires_at = now + DURATION (24h, 30m, or bare seconds;\n"
               "                     default 24h)\n"
               "  --json             print the manifest as JSON\n"
               "\n"
               "exit status: 0 published, 1 error (nothing changed)\n");
}

static int publish(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},      {"in", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},      {"epoch", required_argument, NULL, 'e'},
        {"name", required_argument, NULL, 'n'},     {"validity", required_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},           {"help", no_argument, NULL, 'h'},
        {"ta", required_argument, NULL, 't'},       {NULL, 0, NULL, 0},
    };
    const char *key_path = NULL, *out_dir = NULL;
    const char **inputs = NULL, **tas = NULL;
    size_t nin = 0, nta = 0;
    vmesh_rvp_publish_opts po = {0};
    vmesh_rvp_manifest m = {0};
    vmesh_key *key = NULL;
    bool json = false;
    int c, ret = CLI_EXIT_ERROR;
    long v;
    vmesh_err rc;

    inputs = calloc((size_t)argc + 1, sizeof(*inputs));
    tas = calloc((size_t)argc + 1, sizeof(*tas));
    if (inputs == NULL || tas == NULL) {
        free(inputs);
        free(tas);
        return cli_usage_error("rvp publish", "out of memory");
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key_path = optarg; break;
        case 'i': inputs[nin++] = optarg; break;
        case 't': tas[nta++] = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'n': po.name = optarg; break;
        case 'j': json = true; break;
        case 'e':
            if (!parse_long(optarg, 1, INT64_MAX, &v)) {
                ret = cli_usage_error("rvp publish", "--epoch must be a positive integer, got \"%s\"", optarg);
                goto out;
            }
            po.epoch = (uint64_t)v;
            break;
        case 'v':
            if (!cli_seconds(optarg, 1, 366L * 86400, &v)) {
                ret = cli_usage_error("rvp publish", "--validity must be a duration of 1s..31622400s (e.g. 24h), got \"%s\"",
                                      optarg);
                goto out;
            }
            po.validity = v;
            break;
        case 'h': publish_usage(stdout); ret = CLI_EXIT_OK; goto out;
        default: ret = cli_usage_error("rvp publish", "unknown or incomplete option"); goto out;
        }
    }
    while (optind < argc)
        inputs[nin++] = argv[optind++];
    if (key_path == NULL || out_dir == NULL || nin + nta == 0) {
        ret = cli_usage_error("rvp publish", "--key, --out and at least one --in or --ta are required");
        goto out;
    }
    po.ta_inputs = tas;
    po.nta = nta;
    if ((rc = vmesh_crypto_key_load(key_path, &key)) != VMESH_OK) {
        ret = cli_fail("rvp publish", rc, "reading --key");
        goto out;
    }
    if ((rc = vmesh_rvp_publish(key, inputs, nin, out_dir, &po, &m)) != VMESH_OK) {
        ret = cli_fail("rvp publish", rc, "publishing");
        goto out;
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:[]}", "rvp", m.rvp, "epoch", (json_int_t)m.epoch, "issued_at",
                              (json_int_t)m.issued_at, "expires_at", (json_int_t)m.expires_at, "sets");
        for (size_t i = 0; o != NULL && i < m.nsets; i++)
            json_array_append_new(json_object_get(o, "sets"),
                                  json_pack("{s:s, s:s, s:s, s:I, s:s}", "kind", vmesh_rvp_set_kind_name(m.sets[i].kind),
                                            "scheme", m.sets[i].scheme, "media_type", m.sets[i].media_type, "size",
                                            (json_int_t)m.sets[i].size, "path", m.sets[i].path));
        if (o)
            json_dumpf(o, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(o);
    } else {
        printf("published %s epoch %llu: %zu sets, expires_at %lld\n", m.rvp, (unsigned long long)m.epoch, m.nsets,
               (long long)m.expires_at);
        for (size_t i = 0; i < m.nsets; i++)
            printf("  %-12s %-10s %-40s %8llu %s\n", vmesh_rvp_set_kind_name(m.sets[i].kind),
                   m.sets[i].scheme[0] ? m.sets[i].scheme : "-", m.sets[i].media_type,
                   (unsigned long long)m.sets[i].size, m.sets[i].path);
    }
    ret = CLI_EXIT_OK;
out:
    vmesh_rvp_manifest_free(&m);
    vmesh_crypto_key_free(key);
    free(inputs);
    free(tas);
    return ret;
}

/* ---- serve ----------------------------------------------------------------- */

static void serve_usage(FILE *f)
{
    fprintf(f, "usage: vmesh rvp serve --root WWWDIR --listen ADDR [--coserv-key KEY] [--check]\n"
               "\n"
               "Serves the files under WWWDIR (manifest.jws, sets/, bell.cwt) over HTTP: GET\n"
               "and HEAD only, strong ETag (quoted SHA-256 of the file) and If-None-Match ->\n"
               "304, Cache-Control no-cache for manifest/bell and immutable for sets/, no\n"
               "directory listing, no path outside WWWDIR. README.md shows the same with nginx.\n"
               "\n"
               "  --root DIR     the directory to serve\n"
               "  --listen ADDR  HOST:PORT, [IPv6]:PORT or :PORT (port 0: any free port)\n"
               "  --coserv-key KEY also answer CoSERV (draft-ietf-rats-coserv-07) from the\n"
               "                 published bundle: GET /.well-known/coserv-configuration and\n"
               "                 GET /coserv/{query}, result sets signed (COSE_Sign1) with KEY,\n"
               "                 the RVP's private key that signed manifest.jws; profiles\n"
               "                 \"tag:vmesh.dev,2026:SCHEME\" (docs/BUNDLES.md \"CoSERV\")\n"
               "  --log-format F text (default) or json: the log on stderr, one record per line\n"
               "                 with an RFC 3339 time and a level\n"
               "  --check        dry run: open WWWDIR and resolve ADDR as a start would, bind\n"
               "                 nothing, exit 0 or 1 with the start's message\n"
               "\n"
               "Prints \"listening on PORT\" and serves until SIGTERM or SIGINT. With\n"
               "NOTIFY_SOCKET set (systemd Type=notify): READY=1 once it listens, STOPPING=1.\n"
               "exit status: 0 stopped by a signal, 1 error\n");
}

static int serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"root", required_argument, NULL, 'r'}, {"listen", required_argument, NULL, 'l'},
        {"check", no_argument, NULL, 'k'},      {"help", no_argument, NULL, 'h'},
        {"log-format", required_argument, NULL, 'L'}, {"coserv-key", required_argument, NULL, 'K'},
        {NULL, 0, NULL, 0},
    };
    const char *root = NULL, *listen = NULL, *coserv_key = NULL;
    bool check = false;
    vmesh_rvp_server *srv = NULL;
    vmesh_key *key = NULL;
    int c, ret = CLI_EXIT_ERROR;
    vmesh_err rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': root = optarg; break;
        case 'l': listen = optarg; break;
        case 'k': check = true; break;
        case 'K': coserv_key = optarg; break;
        case 'L':
            if ((ret = cli_log_format("rvp serve", optarg)) != CLI_EXIT_OK)
                goto out;
            ret = CLI_EXIT_ERROR;
            break;
        case 'h': serve_usage(stdout); ret = CLI_EXIT_OK; goto out;
        default: ret = cli_usage_error("rvp serve", "unknown or incomplete option"); goto out;
        }
    }
    if (root == NULL || listen == NULL) {
        ret = cli_usage_error("rvp serve", "--root and --listen are required");
        goto out;
    }
    if (coserv_key != NULL) {
        if ((rc = vmesh_crypto_key_load(coserv_key, &key)) != VMESH_OK) {
            ret = cli_fail("rvp serve", rc, "reading --coserv-key");
            goto out;
        }
        if (!vmesh_crypto_key_is_private(key)) {
            ret = cli_usage_error("rvp serve", "--coserv-key must be the RVP's private key (it signs result sets)");
            goto out;
        }
    }
    if (check) {
        if ((rc = vmesh_rvp_server_check(root, listen)) != VMESH_OK) {
            ret = cli_fail("rvp serve", rc, "starting the server");
            goto out;
        }
        printf("vmesh rvp serve: %s and %s are valid (nothing bound)\n", root, listen);
        ret = CLI_EXIT_OK;
        goto out;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if ((rc = vmesh_rvp_server_start_coserv(root, listen, key, &srv)) != VMESH_OK) {
        ret = cli_fail("rvp serve", rc, "starting the server");
        goto out;
    }
    printf("listening on %u\n", (unsigned)vmesh_rvp_server_port(srv));
    fflush(stdout);
    {
        char st[128];
        snprintf(st, sizeof(st), "READY=1\nSTATUS=serving on port %u", (unsigned)vmesh_rvp_server_port(srv));
        cli_notify(st);
    }
    sleep_until_stopped();
    cli_notify("STOPPING=1");
    ret = CLI_EXIT_OK;
out:
    vmesh_rvp_server_stop(srv);
    vmesh_crypto_key_free(key);
    return ret;
}

/* ---- sync ------------------------------------------------------------------ */

static void sync_usage(FILE *f)
{
    fprintf(f, "usage: vmesh rvp sync --rvp SPEC [--rvp SPEC ...] --state DIR [--interval DURATION]\n"
               "                      [--once] [--json] [--clients N] [--bell-key KEY ...] [-v]\n"
               "                      [--check]\n"
               "\n"
               "Runs the trust-bundle sync client of a verifier: loads the last good state\n"
               "from DIR, then polls every RVP's manifest.jws (If-None-Match), checks\n"
               "signature, epoch (rollback refused), sizes and digests, and builds the RV\n"
               "snapshot. Prints the snapshot (epochs per RVP, entries, stale) each time it\n"
               "changes; refusals go to stderr as log lines. See docs/BUNDLES.md.\n"
               "\n"
               CLI_RVP_SPEC_HELP
               "  --state DIR     state directory (manifests and cached sets)\n"
               "  --interval DURATION  between polls (30s, 5m, or bare seconds; default 30s;\n"
               "                  +-10%% jitter)\n"
               "  --once          load the state, poll once, print the status and exit\n"
               "  --json          JSON output (one object per line)\n"
               "  --clients N     run N independent clients in this process (state DIR/c<i>),\n"
               "                  as N verifiers would (load tests)\n"
               "  --bell-key KEY  also fetch URL/bell.cwt of the first RVP and check it with KEY;\n"
               "                  given again, follow one bell per RVP (URL/bell.cwt of each)\n"
               "  -v              log accepted epochs too (info level)\n"
               "  --log-format F  text (default) or json: the log on stderr (stdout keeps the\n"
               "                  snapshots), one record per line with an RFC 3339 time and a level\n"
               "  --check         dry run: load every --rvp key and --bell-key as a start would,\n"
               "                  poll nothing, exit 0 or 1 with the start's message\n"
               "\n"
               "exit status: 0 ok, 1 error (with --once: some RVP failed or was refused; the\n"
               "last good snapshot is still printed)\n");
}

typedef struct {
    int index;
    bool json;
    vmesh_sync *sync;
    vmesh_bell_view *bell;
} sync_client;

/* The current marker of every bell the client follows, as EARs carry them. */
static json_t *bells_json(const sync_client *c)
{
    vmesh_bell_marker m[VMESH_BELL_MAX_BELLS];
    size_t n = c->bell ? vmesh_bell_view_markers(c->bell, m, VMESH_BELL_MAX_BELLS) : 0;
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < n; i++) {
        vmesh_buf em = {0};
        if (vmesh_b64url_encode(m[i].em, sizeof(m[i].em), &em) == VMESH_OK)
            json_array_append_new(a, json_pack("{s:s, s:I, s:s}", "bell", m[i].bell, "tick", (json_int_t)m[i].tick,
                                               "em", (const char *)em.data));
        vmesh_buf_free(&em);
    }
    return a;
}

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void print_snapshot(const sync_client *c, vmesh_rv_store *rv, bool json, const char *event, bool ok)
{
    json_t *o = json_object(), *ep = json_object(), *rvps = json_array();
    size_t n = rv ? vmesh_rv_epoch_count(rv) : 0;

    pthread_mutex_lock(&print_lock);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        uint64_t e;
        if (vmesh_rv_epoch_at(rv, i, &name, &e))
            json_object_set_new(ep, name, json_integer((json_int_t)e));
    }
    for (size_t i = 0; event[0] == 'o' && i < vmesh_sync_rvp_count(c->sync); i++) {
        vmesh_sync_rvp_status st;
        vmesh_rvp_verifiers vs;
        json_t *names = json_array();
        if (vmesh_sync_rvp_verifiers(c->sync, i, &vs) == VMESH_OK)
            for (size_t k = 0; k < vs.n; k++)
                json_array_append_new(names, json_string(vs.v[k].name));
        vmesh_err_clear();
        vmesh_rvp_verifiers_free(&vs);
        if (vmesh_sync_rvp_status_at(c->sync, i, &st))
            json_array_append_new(
                rvps, json_pack("{s:s, s:s, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:s, s:O}", "name", st.name, "url",
                                st.url, "epoch", (json_int_t)st.epoch, "expires_at", (json_int_t)st.expires_at, "stale",
                                st.stale, "polls", (json_int_t)st.polls, "not_modified",
                                (json_int_t)st.not_modified, "updates", (json_int_t)st.updates, "refusals",
                                (json_int_t)st.refusals, "failures", (json_int_t)st.failures, "last_error",
                                st.last_error, "verifiers", names));
        json_decref(names);
    }
    if (json) {
        char *s;
        json_object_set_new(o, "event", json_string(event));
        json_object_set_new(o, "client", json_integer(c->index));
        json_object_set_new(o, "epochs", json_incref(ep));
        json_object_set_new(o, "size", json_integer((json_int_t)(rv ? vmesh_rv_store_size(rv) : 0)));
        json_object_set_new(o, "stale", json_boolean(vmesh_rv_store_is_stale(rv)));
        json_object_set_new(o, "snapshot", json_boolean(rv != NULL));
        {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            json_object_set_new(o, "at_ms", json_integer((json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
        }
        if (event[0] == 'o') {
            json_object_set_new(o, "ok", json_boolean(ok));
            json_object_set_new(o, "rvps", json_incref(rvps));
            if (c->bell)
                json_object_set_new(o, "bells", bells_json(c));
        }
        s = json_dumps(o, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        const char *k;
        json_t *v;
        printf("client %d: %s: ", c->index, rv ? "snapshot" : "no snapshot");
        json_object_foreach(ep, k, v) printf("%s epoch %lld, ", k, (long long)json_integer_value(v));
        printf("%zu entries%s\n", rv ? vmesh_rv_store_size(rv) : 0, vmesh_rv_store_is_stale(rv) ? ", STALE" : "");
        for (size_t i = 0; i < json_array_size(rvps); i++) {
            json_t *r = json_array_get(rvps, i);
            printf("  rvp %s (%s): epoch %lld, polls %lld, not modified %lld, refusals %lld, failures %lld%s%s\n",
                   json_string_value(json_object_get(r, "name")), json_string_value(json_object_get(r, "url")),
                   (long long)json_integer_value(json_object_get(r, "epoch")),
                   (long long)json_integer_value(json_object_get(r, "polls")),
                   (long long)json_integer_value(json_object_get(r, "not_modified")),
                   (long long)json_integer_value(json_object_get(r, "refusals")),
                   (long long)json_integer_value(json_object_get(r, "failures")),
                   json_string_length(json_object_get(r, "last_error")) ? ": " : "",
                   json_string_value(json_object_get(r, "last_error")));
            if (json_array_size(json_object_get(r, "verifiers")) > 0) {
                printf("  rvp %s: verifier trust set:", json_string_value(json_object_get(r, "name")));
                for (size_t vi = 0; vi < json_array_size(json_object_get(r, "verifiers")); vi++)
                    printf(" %s", json_string_value(json_array_get(json_object_get(r, "verifiers"), vi)));
                printf("\n");
            }
        }
        if (event[0] == 'o' && c->bell) {
            json_t *b = bells_json(c);
            for (size_t i = 0; i < json_array_size(b); i++)
                printf("  bell %s: tick %lld\n", json_string_value(json_object_get(json_array_get(b, i), "bell")),
                       (long long)json_integer_value(json_object_get(json_array_get(b, i), "tick")));
            json_decref(b);
        }
    }
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
    json_decref(o);
    json_decref(ep);
    json_decref(rvps);
}

static void on_snapshot(void *ctx, vmesh_rv_store *rv, vmesh_policy *policy)
{
    sync_client *c = ctx;

    (void)policy;
    print_snapshot(c, rv, c->json, "snapshot", true);
}

static int sync_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rvp", required_argument, NULL, 'r'},      {"state", required_argument, NULL, 's'},
        {"interval", required_argument, NULL, 'i'}, {"once", no_argument, NULL, '1'},
        {"json", no_argument, NULL, 'j'},           {"clients", required_argument, NULL, 'c'},
        {"bell-key", required_argument, NULL, 'b'}, {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},           {"log-format", required_argument, NULL, 'L'},
        {NULL, 0, NULL, 0},
    };
    const char **specs = NULL, *state = NULL, *bell_key_paths[VMESH_BELL_MAX_BELLS];
    size_t nspecs = 0, nbell_keys = 0;
    long interval = 30, nclients = 1, v;
    bool once = false, json = false, verbose = false, check = false;
    sync_client *clients = NULL;
    vmesh_bell_view **bells = NULL;
    vmesh_key *bell_keys[VMESH_BELL_MAX_BELLS] = {0};
    int c, ret = CLI_EXIT_ERROR;
    vmesh_err rc;

    specs = calloc((size_t)argc + 1, sizeof(*specs));
    if (specs == NULL)
        return cli_usage_error("rvp sync", "out of memory");
    optind = 1;
    while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
        switch (c) {
        case 'r': specs[nspecs++] = optarg; break;
        case 's': state = optarg; break;
        case '1': once = true; break;
        case 'j': json = true; break;
        case 'v': verbose = true; break;
        case 'k': check = true; break;
        case 'L':
            if ((ret = cli_log_format("rvp sync", optarg)) != CLI_EXIT_OK)
                goto out;
            ret = CLI_EXIT_ERROR;
            break;
        case 'b':
            if (nbell_keys >= VMESH_BELL_MAX_BELLS) {
                ret = cli_usage_error("rvp sync", "at most %d --bell-key", VMESH_BELL_MAX_BELLS);
                goto out;
            }
            bell_key_paths[nbell_keys++] = optarg;
            break;
        case 'i':
            if (!cli_seconds(optarg, 1, 86400, &v)) {
                ret = cli_usage_error("rvp sync", "--interval must be a duration of 1s..86400s (e.g. 30s), got \"%s\"",
                                      optarg);
                goto out;
            }
            interval = v;
            break;
        case 'c':
            if (!parse_long(optarg, 1, 1000, &v)) {
                ret = cli_usage_error("rvp sync", "--clients must be 1..1000, got \"%s\"", optarg);
                goto out;
            }
            nclients = v;
            break;
        case 'h': sync_usage(stdout); ret = CLI_EXIT_OK; goto out;
        default: ret = cli_usage_error("rvp sync", "unknown or incomplete option"); goto out;
        }
    }
    if (nspecs == 0 || state == NULL) {
        ret = cli_usage_error("rvp sync", "at least one --rvp and --state are required");
        goto out;
    }
    if (once && nclients > 1) {
        ret = cli_usage_error("rvp sync", "--once runs one client; drop --clients");
        goto out;
    }
    if (verbose)
        vmesh_log_set_level(VMESH_LOG_INFO);
    for (size_t k = 0; k < nbell_keys; k++) {
        if ((rc = vmesh_crypto_key_load(bell_key_paths[k], &bell_keys[k])) != VMESH_OK) {
            ret = cli_fail("rvp sync", rc, "reading --bell-key");
            goto out;
        }
    }
    if (nclients > 1 && !check && mkdir(state, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "vmesh rvp sync: cannot create %s: %s\n", state, strerror(errno));
        goto out;
    }
    clients = calloc((size_t)nclients, sizeof(*clients));
    bells = calloc((size_t)nclients, sizeof(*bells));
    if (clients == NULL || bells == NULL) {
        ret = cli_usage_error("rvp sync", "out of memory");
        goto out;
    }
    for (long i = 0; i < nclients; i++) {
        char dir[4096];
        vmesh_sync_config cfg = {0};
        clients[i].index = (int)i;
        clients[i].json = json;
        if (nclients > 1)
            snprintf(dir, sizeof(dir), "%s/c%ld", state, i);
        else
            snprintf(dir, sizeof(dir), "%s", state);
        if (nbell_keys > 0 && (rc = vmesh_bell_view_new(bell_keys[0], &bells[i])) != VMESH_OK) {
            ret = cli_fail("rvp sync", rc, "bell");
            goto out;
        }
        for (size_t k = 1; k < nbell_keys; k++) {
            if ((rc = vmesh_bell_view_add(bells[i], bell_keys[k])) != VMESH_OK) {
                ret = cli_fail("rvp sync", rc, "--bell-key");
                goto out;
            }
        }
        clients[i].bell = bells[i];
        cfg.state_dir = dir;
        cfg.interval = (int)interval;
        cfg.on_snapshot = once ? NULL : on_snapshot;
        cfg.ctx = &clients[i];
        cfg.bell = bells[i];
        if ((rc = vmesh_sync_new(&cfg, &clients[i].sync)) != VMESH_OK) {
            ret = cli_fail("rvp sync", rc, "starting the client");
            goto out;
        }
        for (size_t k = 0; k < nspecs; k++) {
            if ((rc = vmesh_sync_add_rvp_spec(clients[i].sync, specs[k])) != VMESH_OK) {
                ret = cli_fail("rvp sync", rc, "--rvp");
                goto out;
            }
        }
    }
    if (check) {
        printf("vmesh rvp sync: %zu RVP%s and %zu bell key%s loaded (nothing polled)\n", nspecs,
               nspecs == 1 ? "" : "s", nbell_keys, nbell_keys == 1 ? "" : "s");
        ret = CLI_EXIT_OK;
        goto out;
    }
    if (once) {
        vmesh_err prc = vmesh_sync_poll_once(clients[0].sync);
        vmesh_rv_store *rv = vmesh_sync_rv(clients[0].sync);
        print_snapshot(&clients[0], rv, json, "once", prc == VMESH_OK);
        vmesh_rv_store_free(rv);
        ret = prc == VMESH_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
        goto out;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    for (long i = 0; i < nclients; i++) {
        if ((rc = vmesh_sync_start(clients[i].sync)) != VMESH_OK) {
            ret = cli_fail("rvp sync", rc, "starting the client");
            goto out;
        }
    }
    sleep_until_stopped();
    ret = CLI_EXIT_OK;
out:
    for (long i = 0; clients != NULL && i < nclients; i++)
        vmesh_sync_free(clients[i].sync);
    for (long i = 0; bells != NULL && i < nclients; i++)
        vmesh_bell_view_free(bells[i]);
    free(clients);
    free(bells);
    for (size_t k = 0; k < nbell_keys; k++)
        vmesh_crypto_key_free(bell_keys[k]);
    free(specs);
    return ret;
}

int cli_rvp(int argc, char **argv)
{
    static const char usage[] = "usage: vmesh rvp <command> [options]\n"
                                "  publish   write a signed trust bundle (manifest.jws + sets/)\n"
                                "  serve     serve a bundle directory over HTTP (ETag, If-None-Match)\n"
                                "  sync      run the bundle sync client of a verifier\n"
                                "  tick      ring the epoch bell (bell.cwt)\n"
                                "Run 'vmesh rvp <command> --help' for its options and exit status\n"
                                "(exit status: 0 done; 1 bad option, invalid input or cannot serve).\n";

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "tick") == 0)
        return tick(argc - 1, argv + 1);
    if (strcmp(argv[1], "publish") == 0)
        return publish(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve") == 0)
        return serve(argc - 1, argv + 1);
    if (strcmp(argv[1], "sync") == 0)
        return sync_cmd(argc - 1, argv + 1);
    return cli_usage_error("rvp", "unknown subcommand \"%s\" (expected publish, serve, sync or tick)", argv[1]);
}
