/*
 * attested_echo: the smallest attested client and server written against
 * libvmesh (docs/LIBRARY.md). Both sides present an X509-SVID, attest their
 * psa-sim platform inside the TLS 1.3 handshake and appraise the other
 * side's evidence with a local verifier fed by RV JSON files; application
 * data flows only when both accepted. The files come from `vmesh init DIR`.
 *
 *   attested_echo server DIR PORT   answers one connection: echoes a line
 *   attested_echo client DIR PORT   sends "hello", prints the answer
 *
 * Build:  cc attested_echo.c $(pkg-config --cflags --libs vmesh) -o attested_echo
 * Exit:   0 done; 1 set-up failed; 2 the peer was refused or refused us.
 */
#include <vmesh/agent.h>
#include <vmesh/atls.h>
#include <vmesh/core.h>
#include <vmesh/evidence.h>
#include <vmesh/policy.h>
#include <vmesh/rv.h>
#include <vmesh/verifier.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) != VMESH_OK) {                                                                     \
            fprintf(stderr, "attested_echo: %s: %s\n", #x, vmesh_err_detail());                    \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* One side: its SVID, its platform, and the reference values it appraises the peer with. */
typedef struct {
    vmesh_verifier *verifier;
    vmesh_policy *policy;
    vmesh_agent *agent;
    vmesh_atls_config *cfg;
} side;

static int setup(side *s, const char *dir, int server)
{
    const char *me = server ? "service" : "client", *peer = server ? "client" : "service";
    char chain[512], key[512], bundle[512], iak[512], claims[512], bl[600], wl[600], rvfile[512], peer_id[256];
    vmesh_rv_store *rv = NULL;
    vmesh_verifier_config vc;
    vmesh_agent_config ac;
    vmesh_atls_provider prov;
    int ret = 1;

    snprintf(chain, sizeof(chain), "%s/%s-chain.pem", dir, me);
    snprintf(key, sizeof(key), "%s/%s.key", dir, me);
    snprintf(bundle, sizeof(bundle), "%s/ca/bundle.pem", dir);
    snprintf(iak, sizeof(iak), "%s/%s-iak.pem", dir, me);
    snprintf(claims, sizeof(claims), "%s/%s-claims.json", dir, me);
    snprintf(bl, sizeof(bl), "BL=%s/%s-fw", dir, me);
    snprintf(wl, sizeof(wl), "workload=%s/%s-workload", dir, me);
    snprintf(rvfile, sizeof(rvfile), "%s/rv/%s.json", dir, peer);
    snprintf(peer_id, sizeof(peer_id), "spiffe://quickstart.example/%s", peer);
    {
        /* the attester: psa-sim, as the proxy's attester.options would say */
        const vmesh_kv platform[] = {{"iak", iak}, {"claims", claims}, {"measure", bl}, {"measure", wl}};

        /* the relying party: a local verifier with the peer's reference values */
        CHECK(vmesh_rv_store_new(&rv));
        CHECK(vmesh_verifier_load_rv_file(rv, rvfile, NULL));
        vmesh_rv_store_freeze(rv);
        memset(&vc, 0, sizeof(vc));
        CHECK(vmesh_verifier_new(&vc, &s->verifier));
        vmesh_verifier_set_rv(s->verifier, rv);
        CHECK(vmesh_policy_default(&s->policy));

        /* the agent ties both together and is the attested channel's provider */
        memset(&ac, 0, sizeof(ac));
        ac.platform = "psa-sim";
        ac.platform_cfg = platform;
        ac.n_platform_cfg = sizeof(platform) / sizeof(platform[0]);
        ac.verifier = s->verifier;
        ac.policy = s->policy;
        CHECK(vmesh_agent_new(&ac, &s->agent));
        vmesh_agent_provider(s->agent, &prov);

        CHECK(vmesh_atls_config_new(server ? VMESH_ATLS_SERVER : VMESH_ATLS_CLIENT, &s->cfg));
        CHECK(vmesh_atls_config_set_svid(s->cfg, chain, key)); /* file paths */
        CHECK(vmesh_atls_config_set_bundle(s->cfg, bundle));
        CHECK(vmesh_atls_config_set_peer_pattern(s->cfg, peer_id));
        CHECK(vmesh_atls_config_set_provider(s->cfg, &prov));
    }
    ret = 0;
out:
    vmesh_rv_store_free(rv);
    return ret;
}

static void teardown(side *s)
{
    vmesh_atls_config_free(s->cfg);
    vmesh_agent_free(s->agent);
    vmesh_policy_free(s->policy);
    vmesh_verifier_free(s->verifier);
}

/* The failure of a connection, as the library reports it; returns 2. */
static int refused(vmesh_atls_conn *c)
{
    const char *msg = NULL;
    bool by_peer = false;
    vmesh_atls_reason r = vmesh_atls_failure(c, &msg, &by_peer);

    fprintf(stderr, "attested_echo: %s: %s: %s\n", by_peer ? "the peer refused us" : "we refused the peer",
            vmesh_atls_reason_name(r), msg ? msg : vmesh_err_detail());
    return 2;
}

static void print_peer(vmesh_atls_conn *c)
{
    const vmesh_atls_peer_result *r = vmesh_atls_peer_result_get(c);

    printf("peer %s attested: mode %s, tier %s\n", vmesh_atls_peer_spiffe_id(c),
           vmesh_atls_mode_name(vmesh_atls_peer_mode(c)), r ? vmesh_tier_name(r->tier) : "none");
}

static int serve(side *s, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, ls, fd = -1, ret = 1;
    vmesh_atls_conn *c = NULL;
    char buf[256], answer[300];
    size_t got = 0;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 1) != 0) {
        perror("attested_echo: listen");
        goto out;
    }
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    if ((fd = accept(ls, NULL, NULL)) < 0) {
        perror("attested_echo: accept");
        goto out;
    }
    CHECK(vmesh_atls_conn_new(s->cfg, fd, &c));
    if (vmesh_atls_handshake(c) != VMESH_OK) { /* blocking fd: one call */
        ret = refused(c);
        goto out;
    }
    print_peer(c);
    if (vmesh_atls_read(c, buf, sizeof(buf) - 1, &got) != VMESH_OK) {
        ret = refused(c);
        goto out;
    }
    buf[got] = '\0';
    snprintf(answer, sizeof(answer), "echo from an attested server: %s", buf);
    CHECK(vmesh_atls_write(c, answer, strlen(answer)));
    CHECK(vmesh_atls_flush(c));
    /* best effort: the client has its answer; a failed close_notify changes nothing
     * (tested, not cast to void: gcc warns about a discarded warn_unused_result) */
    if (vmesh_atls_shutdown(c) != VMESH_OK)
        fprintf(stderr, "attested_echo: close_notify not sent: %s\n", vmesh_err_detail());
    ret = 0;
out:
    vmesh_atls_free(c);
    if (fd >= 0)
        close(fd);
    if (ls >= 0)
        close(ls);
    return ret;
}

static int call(side *s, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd, ret = 1;
    vmesh_atls_conn *c = NULL;
    char buf[512];
    size_t got = 0;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("attested_echo: connect");
        goto out;
    }
    CHECK(vmesh_atls_conn_new(s->cfg, fd, &c));
    if (vmesh_atls_handshake(c) != VMESH_OK) {
        ret = refused(c);
        goto out;
    }
    print_peer(c);
    CHECK(vmesh_atls_write(c, "hello\n", 6));
    CHECK(vmesh_atls_flush(c));
    /* the server's verdict on us arrives with the first read */
    if (vmesh_atls_read(c, buf, sizeof(buf) - 1, &got) != VMESH_OK) {
        ret = refused(c);
        goto out;
    }
    buf[got] = '\0';
    printf("%s", buf);
    ret = 0;
out:
    vmesh_atls_free(c);
    if (fd >= 0)
        close(fd);
    return ret;
}

int main(int argc, char **argv)
{
    side s = {0};
    int server, port, ret = 1;

    if (argc != 4 || (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0) ||
        (port = atoi(argv[3])) <= 0 || port > 65535) {
        fprintf(stderr, "usage: attested_echo server|client DIR PORT   (DIR: written by `vmesh init DIR`)\n");
        return 1;
    }
    server = strcmp(argv[1], "server") == 0;
    if (setup(&s, argv[2], server) == 0)
        ret = server ? serve(&s, port) : call(&s, port);
    teardown(&s);
    return ret;
}
