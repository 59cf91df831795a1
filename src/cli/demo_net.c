/*
 * `vmesh demo sase --netns`: one network namespace per role (RVP, central
 * verifier, PoP, clients), each with a veth pair whose other end sits on a
 * bridge in a hub namespace, and an address in 198.18.0.0/24 (RFC 2544's
 * benchmarking range) that exists only inside these namespaces. It must
 * never configure anything in the namespace it was started from (no
 * address, no route, no link) and must delete everything it created.
 */
#define _GNU_SOURCE
#include "demo.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const role_names[DEMO_NS__COUNT] = {"rvp", "ver", "pop", "cli"};

static vmesh_err ip(const char *log, const char *what, bool cleanup, const char *a1, const char *a2, const char *a3,
                    const char *a4, const char *a5, const char *a6, const char *a7, const char *a8,
                    const char *a9, const char *a10)
{
    vmesh_err rc = VMESH_OK;
    demo_argv av = {0};
    const char *args[] = {a1, a2, a3, a4, a5, a6, a7, a8, a9, a10};
    int code = -1;

    demo_argv_add(&av, "ip");
    for (size_t i = 0; i < sizeof(args) / sizeof(args[0]) && args[i]; i++)
        demo_argv_add(&av, "%s", args[i]);
    rc = demo_run("ip", log, NULL, NULL, &av, 10000, cleanup, &code);
    if (rc == VMESH_OK && code != 0)
        rc = vmesh_err_set(VMESH_ERR_IO, "%s: ip exited %d (see %s)", what, code, log);
    demo_argv_free(&av);
    return rc;
}

vmesh_err demo_net_up(demo_net *n, const char *log)
{
    vmesh_err rc = VMESH_OK;
    char host[32], peer[32], cidr[32];

    memset(n, 0, sizeof(*n));
    snprintf(n->hub, sizeof(n->hub), "vmd%ld-hub", (long)getpid());
    /* marked first: an add interrupted half-way may still have made it */
    n->made[DEMO_NS__COUNT] = true;
    VMESH_GUARD(ip(log, "ip netns add (needs CAP_SYS_ADMIN)", false, "netns", "add", n->hub, 0, 0, 0, 0, 0, 0, 0));
    VMESH_GUARD(ip(log, "bridge", false, "-n", n->hub, "link", "add", "br0", "type", "bridge", 0, 0, 0));
    VMESH_GUARD(ip(log, "bridge up", false, "-n", n->hub, "link", "set", "br0", "up", 0, 0, 0, 0));
    for (int r = 0; r < DEMO_NS__COUNT; r++) {
        snprintf(n->ns[r], sizeof(n->ns[r]), "vmd%ld-%s", (long)getpid(), role_names[r]);
        snprintf(n->addr[r], sizeof(n->addr[r]), "198.18.0.%d", 10 + r);
        snprintf(host, sizeof(host), "eth-%s", role_names[r]);
        snprintf(peer, sizeof(peer), "br-%s", role_names[r]);
        snprintf(cidr, sizeof(cidr), "%s/24", n->addr[r]);
        n->made[r] = true;
        VMESH_GUARD(ip(log, "ip netns add", false, "netns", "add", n->ns[r], 0, 0, 0, 0, 0, 0, 0));
        /* Both ends are created in the hub, then one moves: nothing ever
         * appears in the namespace we were started from. */
        VMESH_GUARD(ip(log, "veth", false, "-n", n->hub, "link", "add", host, "type", "veth", "peer", "name", peer));
        VMESH_GUARD(ip(log, "veth move", false, "-n", n->hub, "link", "set", host, "netns", n->ns[r], 0, 0, 0));
        VMESH_GUARD(ip(log, "bridge port", false, "-n", n->hub, "link", "set", peer, "master", "br0", "up", 0, 0));
        VMESH_GUARD(ip(log, "address", false, "-n", n->ns[r], "addr", "add", cidr, "dev", host, 0, 0, 0));
        VMESH_GUARD(ip(log, "link up", false, "-n", n->ns[r], "link", "set", host, "up", 0, 0, 0, 0));
        VMESH_GUARD(ip(log, "loopback up", false, "-n", n->ns[r], "link", "set", "lo", "up", 0, 0, 0, 0));
    }
    n->up = true;
out:
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "network namespaces");
        demo_net_down(n, log);
    }
    return rc;
}

vmesh_err demo_net_enter(const char *ns)
{
    vmesh_err rc = VMESH_OK;
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "/run/netns/%s", ns);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    VMESH_ENSURE(fd >= 0, VMESH_ERR_IO, "%s: %s", path, strerror(errno));
    VMESH_ENSURE(setns(fd, CLONE_NEWNET) == 0, VMESH_ERR_IO, "setns %s: %s", ns, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

void demo_net_down(demo_net *n, const char *log)
{
    for (int r = DEMO_NS__COUNT; r >= 0; r--) {
        const char *name = r == DEMO_NS__COUNT ? n->hub : n->ns[r];
        if (!n->made[r])
            continue;
        if (ip(log, "ip netns del", true, "netns", "del", name, 0, 0, 0, 0, 0, 0, 0) == VMESH_OK)
            n->made[r] = false;
    }
    n->up = false;
}
