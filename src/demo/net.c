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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const role_names[DEMO_NS__COUNT] = {"rvp", "ver", "pop", "cli"};

vmesh_err demo_ip(const char *log, const char *what, bool cleanup, const char *fmt, ...)
{
    vmesh_err rc = VMESH_OK;
    demo_argv av = {0};
    va_list ap;
    int code = -1;

    demo_argv_add(&av, "ip");
    va_start(ap, fmt);
    demo_argv_vadd(&av, fmt, ap);
    va_end(ap);
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
    VMESH_GUARD(demo_ip(log, "ip netns add (needs CAP_SYS_ADMIN)", false, "netns add %s", n->hub));
    VMESH_GUARD(demo_ip(log, "bridge", false, "-n %s link add br0 type bridge", n->hub));
    VMESH_GUARD(demo_ip(log, "bridge up", false, "-n %s link set br0 up", n->hub));
    for (int r = 0; r < DEMO_NS__COUNT; r++) {
        snprintf(n->ns[r], sizeof(n->ns[r]), "vmd%ld-%s", (long)getpid(), role_names[r]);
        snprintf(n->addr[r], sizeof(n->addr[r]), "198.18.0.%d", 10 + r);
        snprintf(host, sizeof(host), "eth-%s", role_names[r]);
        snprintf(peer, sizeof(peer), "br-%s", role_names[r]);
        snprintf(cidr, sizeof(cidr), "%s/24", n->addr[r]);
        n->made[r] = true;
        VMESH_GUARD(demo_ip(log, "ip netns add", false, "netns add %s", n->ns[r]));
        /* Both ends are created in the hub, then one moves: nothing ever
         * appears in the namespace we were started from. */
        VMESH_GUARD(demo_ip(log, "veth", false, "-n %s link add %s type veth peer name %s", n->hub,
                            host, peer));
        VMESH_GUARD(
            demo_ip(log, "veth move", false, "-n %s link set %s netns %s", n->hub, host, n->ns[r]));
        VMESH_GUARD(
            demo_ip(log, "bridge port", false, "-n %s link set %s master br0 up", n->hub, peer));
        VMESH_GUARD(
            demo_ip(log, "address", false, "-n %s addr add %s dev %s", n->ns[r], cidr, host));
        VMESH_GUARD(demo_ip(log, "link up", false, "-n %s link set %s up", n->ns[r], host));
        VMESH_GUARD(demo_ip(log, "loopback up", false, "-n %s link set lo up", n->ns[r]));
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
        if (demo_ip(log, "ip netns del", true, "netns del %s", name) == VMESH_OK)
            n->made[r] = false;
    }
    n->up = false;
}
