/*
 * `vmesh init DIR`: the first ten minutes (issue 15.5). Writes everything a
 * client -> service mesh on 127.0.0.1 needs into a new directory: a CA and
 * two SVIDs, two psa-sim platforms (IAK, claims template, the measured
 * firmware and workload), their reference values as RV JSON (the same
 * enrolment as `vmesh attest psa-sim --reference-values`), an RVP key and
 * a signed bundle (epoch 1) with its first epoch bell, a page for the app,
 * and the two sidecar configurations. Every file comes from the library's
 * own writers (the demo's material.c), so nothing here can drift from the
 * formats the sidecars read. Then it prints the commands that run the mesh
 * (docs/QUICKSTART.md). It never writes into a directory that exists and is
 * not empty.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "demo/demo.h"

#include "vmesh/crypto.h"
#include "vmesh/pki.h"
#include "vmesh/rvp.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INIT_RVP_NAME "quickstart"
#define INIT_CLASS_PREFIX "vmesh-init-"

typedef struct {
    const char *trust_domain;
    unsigned app, service, client, rvp, service_admin, client_admin;
} init_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh init DIR [--trust-domain NAME] [--ports APP,SERVICE,CLIENT,RVP,ADMIN1,ADMIN2]\n"
            "\n"
            "Writes a working client -> service mesh on 127.0.0.1 into the new directory\n"
            "DIR (created; an existing DIR must be empty), then prints the commands that run\n"
            "it (docs/QUICKSTART.md):\n"
            "  ca/                     a CA for the trust domain (vmesh ca init)\n"
            "  service.*, client.*     the SVIDs spiffe://TD/service and spiffe://TD/client\n"
            "  *-iak.pem, *-claims.json, *-fw, *-workload\n"
            "                          two psa-sim platforms: IAK, claims template, and the\n"
            "                          files they measure (BL, workload)\n"
            "  rv/service.json, rv/client.json\n"
            "                          their reference values (RV JSON, as vmesh attest\n"
            "                          psa-sim --reference-values writes them)\n"
            "  rvp.key, rvp.pub, rvp/  the RVP's key and its signed bundle (epoch 1) with an\n"
            "                          epoch bell, the directory `vmesh rvp serve` serves\n"
            "  app/index.html          a page for the app behind the service sidecar\n"
            "  service.yaml, client.yaml\n"
            "                          the two sidecars (vmesh proxy -c FILE): the client\n"
            "                          listens on 127.0.0.1:CLIENT and reaches the service\n"
            "                          sidecar on 127.0.0.1:SERVICE over attested mutual TLS,\n"
            "                          which forwards to the app on 127.0.0.1:APP\n"
            "\n"
            "  --trust-domain NAME   the SPIFFE trust domain (default: quickstart.example)\n"
            "  --ports LIST          six ports: app, service sidecar, client sidecar, RVP,\n"
            "                        service admin, client admin\n"
            "                        (default: 8000,8443,8080,8600,9901,9902)\n"
            "  -h, --help            this text\n"
            "\n"
            "exit codes: 0 written; 1 bad option, DIR not empty, or a file could not be\n"
            "written (nothing is left half-written in a new DIR)\n");
}

static bool parse_ports(const char *s, init_opts *o)
{
    unsigned *p[] = {&o->app, &o->service, &o->client, &o->rvp, &o->service_admin, &o->client_admin};
    const char *at = s;

    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
        char *end;
        unsigned long v;
        if (*at < '0' || *at > '9')
            return false;
        errno = 0;
        v = strtoul(at, &end, 10);
        if (errno != 0 || v < 1 || v > 65535 || (*end != (i + 1 < sizeof(p) / sizeof(p[0]) ? ',' : '\0')))
            return false;
        *p[i] = (unsigned)v;
        at = end + 1;
    }
    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
        for (size_t j = i + 1; j < sizeof(p) / sizeof(p[0]); j++)
            if (*p[i] == *p[j])
                return false;
    return true;
}

/* DIR: created, or an existing empty directory. *created says which. */
static vmesh_err make_dir(const char *dir, bool *created)
{
    vmesh_err rc = VMESH_OK;
    DIR *d;
    struct dirent *e;

    *created = false;
    if (mkdir(dir, 0700) == 0) {
        *created = true;
        return VMESH_OK;
    }
    VMESH_ENSURE(errno == EEXIST, VMESH_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    d = opendir(dir);
    VMESH_ENSURE(d != NULL, VMESH_ERR_IO, "%s exists and cannot be opened: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            closedir(d);
            VMESH_FAIL(VMESH_ERR_ARG, "%s exists and is not empty (vmesh init writes into a new directory)", dir);
        }
    closedir(d);
out:
    return rc;
}

static vmesh_err sidecar_yaml(const char *dir, const init_opts *o, bool service)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf y = {0};
    demo_psa_files f;
    const char *who = service ? "service" : "client";
    char path[PATH_MAX];

    demo_psa_files_of(dir, who, &f);
    VMESH_GUARD(vmesh_buf_printf(
        &y,
        "# The %s sidecar of the quickstart mesh (vmesh init; docs/QUICKSTART.md,\n"
        "# every key: docs/PROXY.md). Run: vmesh proxy -c %s/%s.yaml\n"
        "identity:\n  cert: %s/%s-chain.pem\n  key: %s/%s.key\n  bundle: %s/ca/bundle.pem\n"
        "attester:\n  platform: psa-sim\n  options:\n    iak: %s\n    claims: %s\n"
        "    measure: [ \"BL=%s\", \"workload=%s\" ]\n"
        "verifier:\n  rvps:\n"
        "    - { name: " INIT_RVP_NAME ", url: \"http://127.0.0.1:%u\", key: %s/rvp.pub, schemes: [ psa ] }\n"
        "  poll-interval: 2s\n  state-dir: %s/%s-state\n"
        "  bell: { url: \"http://127.0.0.1:%u/bell.cwt\", key: %s/rvp.pub }\n",
        who, dir, who, dir, who, dir, who, dir, f.iak, f.claims, f.fw, f.workload, o->rvp, dir, dir, who, o->rvp,
        dir));
    if (service)
        VMESH_GUARD(vmesh_buf_printf(&y,
                                     "inbound:\n  - name: app\n    listen: 127.0.0.1:%u\n    app: 127.0.0.1:%u\n"
                                     "    peer: \"spiffe://%s/client\"\n",
                                     o->service, o->app, o->trust_domain));
    else
        VMESH_GUARD(vmesh_buf_printf(&y,
                                     "outbound:\n  - name: service\n    listen: 127.0.0.1:%u\n"
                                     "    upstreams: [ \"127.0.0.1:%u\" ]\n    peer: spiffe://%s/service\n",
                                     o->client, o->service, o->trust_domain));
    VMESH_GUARD(vmesh_buf_printf(&y, "admin:\n  listen: 127.0.0.1:%u\naccess-log:\n  file: %s/%s-access.log\n",
                                 service ? o->service_admin : o->client_admin, dir, who));
    demo_sfmt(path, sizeof(path), "%s/%s.yaml", dir, who);
    VMESH_GUARD(vmesh_file_write(path, y.data, y.len, 0644));
out:
    vmesh_buf_free(&y);
    return rc;
}

/* The RVP: key, bundle epoch 1 with both platforms, and one bell tick (so
 * the sidecars start even before `vmesh rvp tick --every` rang). */
static vmesh_err rvp_files(const char *dir)
{
    vmesh_err rc = VMESH_OK;
    vmesh_key *key = NULL;
    vmesh_rvp_manifest m = {0};
    vmesh_rvp_publish_opts po = {.name = INIT_RVP_NAME};
    vmesh_bell b;
    vmesh_buf jws = {0};
    char in1[PATH_MAX], in2[PATH_MAX], out[PATH_MAX], path[PATH_MAX];
    const char *inputs[] = {in1, in2};

    memset(&b, 0, sizeof(b));
    VMESH_GUARD(demo_keypair(dir, "rvp"));
    demo_sfmt(path, sizeof(path), "%s/rvp.key", dir);
    VMESH_GUARD(vmesh_crypto_key_load(path, &key));
    demo_sfmt(in1, sizeof(in1), "%s/rv/service.json", dir);
    demo_sfmt(in2, sizeof(in2), "%s/rv/client.json", dir);
    demo_sfmt(out, sizeof(out), "%s/rvp", dir);
    VMESH_GUARD(vmesh_rvp_publish(key, inputs, 2, out, &po, &m));
    VMESH_GUARD(vmesh_rvp_bell_next(INIT_RVP_NAME, 0, 60, &b));
    VMESH_GUARD(vmesh_rvp_bell_sign(&b, key, &jws));
    demo_sfmt(path, sizeof(path), "%s/rvp/bell.cwt", dir);
    VMESH_GUARD(vmesh_file_write(path, jws.data, jws.len, 0644));
out:
    vmesh_buf_free(&jws);
    vmesh_rvp_manifest_free(&m);
    vmesh_crypto_key_free(key);
    return rc;
}

static vmesh_err write_all(const char *dir, const init_opts *o)
{
    vmesh_err rc = VMESH_OK;
    char ca[PATH_MAX], prefix[PATH_MAX], id[256], path[PATH_MAX];
    static const char *const whos[] = {"service", "client"};

    VMESH_GUARD(demo_mkdirs(dir, "rv\0app\0"));
    demo_sfmt(ca, sizeof(ca), "%s/ca", dir);
    VMESH_GUARD(vmesh_pki_ca_init(o->trust_domain, ca, 0, VMESH_KEY_EC_P256));
    for (size_t i = 0; i < 2; i++) {
        demo_sfmt(id, sizeof(id), "spiffe://%s/%s", o->trust_domain, whos[i]);
        demo_sfmt(prefix, sizeof(prefix), "%s/%s", dir, whos[i]);
        VMESH_GUARD(vmesh_pki_ca_issue(ca, id, prefix, 0, VMESH_KEY_EC_P256));
    }
    VMESH_GUARD(demo_psa_platform(dir, INIT_CLASS_PREFIX, "service", "the service's workload, v1\n"));
    VMESH_GUARD(demo_psa_platform(dir, INIT_CLASS_PREFIX, "client", "the client's workload, v1\n"));
    for (size_t i = 0; i < 2; i++) {
        const char *one[] = {whos[i], NULL};
        demo_sfmt(path, sizeof(path), "%s/rv/%s.json", dir, whos[i]);
        VMESH_GUARD(demo_psa_rv_file(dir, path, one, NULL));
    }
    VMESH_GUARD(rvp_files(dir));
    demo_sfmt(path, sizeof(path), "%s/app/index.html", dir);
    VMESH_GUARD(demo_write_text(path, "hello from the app behind an attested vmesh sidecar\n"));
    VMESH_GUARD(sidecar_yaml(dir, o, true));
    VMESH_GUARD(sidecar_yaml(dir, o, false));
out:
    return rc;
}

int cli_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trust-domain", required_argument, NULL, 't'},
        {"ports", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    init_opts o = {"quickstart.example", 8000, 8443, 8080, 8600, 9901, 9902};
    char dir[PATH_MAX];
    bool created;
    vmesh_err rc;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': o.trust_domain = optarg; break;
        case 'p':
            if (!parse_ports(optarg, &o))
                return cli_usage_error("init", "--ports takes six different ports 1..65535 separated by commas, "
                                               "not \"%.64s\"",
                                       optarg);
            break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("init", "unknown or incomplete option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("init", optind == argc ? "DIR is required" : "unexpected argument \"%s\"",
                               argv[argc - 1]);
    if (strlen(argv[optind]) > DEMO_TMPDIR_MAX)
        return cli_usage_error("init", "DIR is longer than %d characters", DEMO_TMPDIR_MAX);
    if ((rc = make_dir(argv[optind], &created)) != VMESH_OK)
        return cli_fail("init", rc, argv[optind]);
    if (realpath(argv[optind], dir) == NULL) {
        fprintf(stderr, "vmesh init: %s: %s\n", argv[optind], strerror(errno));
        return CLI_EXIT_ERROR;
    }
    if ((rc = write_all(dir, &o)) != VMESH_OK) {
        int ret = cli_fail("init", rc, dir);
        if (created)
            demo_rm_tree(dir);
        return ret;
    }
    printf("vmesh init: a client -> service mesh on 127.0.0.1 in %s\n"
           "  trust domain %s; SVIDs spiffe://%s/service and spiffe://%s/client\n"
           "  psa-sim platforms, their reference values (rv/), the RVP bundle epoch 1 (rvp/)\n"
           "run it (docs/QUICKSTART.md):\n"
           "  vmesh rvp serve --root %s/rvp --listen 127.0.0.1:%u &\n"
           "  vmesh rvp tick --key %s/rvp.key --out %s/rvp --name " INIT_RVP_NAME " --every 30s &\n"
           "  python3 -m http.server --bind 127.0.0.1 --directory %s/app %u &\n"
           "  vmesh proxy -c %s/service.yaml &\n"
           "  vmesh proxy -c %s/client.yaml &\n"
           "  curl http://127.0.0.1:%u/\n",
           dir, o.trust_domain, o.trust_domain, o.trust_domain, dir, o.rvp, dir, dir, dir, o.app, dir, dir, o.client);
    return CLI_EXIT_OK;
}
