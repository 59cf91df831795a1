/*
 * The service manager's readiness protocol (sd_notify(3), systemd's
 * NOTIFY_SOCKET): one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 * Written here rather than linked from libsystemd: the protocol is one
 * sendto(2), and the library stays usable where systemd is absent. Without
 * NOTIFY_SOCKET nothing is sent; a failed send is reported to the caller,
 * who logs it (a daemon never stops because its manager went away).
 */
#define _GNU_SOURCE
#include "vmesh/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

vmesh_err vmesh_notify(const char *state)
{
    vmesh_err rc = VMESH_OK;
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t n, len;
    int fd = -1;

    if (path == NULL || path[0] == '\0' || state == NULL)
        return VMESH_OK;
    n = strlen(path);
    VMESH_ENSURE((path[0] == '/' || path[0] == '@') && n < sizeof(sa.sun_path), VMESH_ERR_ARG,
                 "NOTIFY_SOCKET \"%.80s\" is neither an absolute path nor @abstract of at most %zu bytes", path,
                 sizeof(sa.sun_path) - 1);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    len = offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    VMESH_ENSURE(fd >= 0, VMESH_ERR_IO, "notify socket: %s", strerror(errno));
    VMESH_ENSURE(sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, (socklen_t)len) ==
                     (ssize_t)strlen(state),
                 VMESH_ERR_IO, "notifying the service manager at %s: %s", path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

uint64_t vmesh_notify_watchdog_usec(void)
{
    const char *s = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;
    unsigned long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return 0;
    /* WATCHDOG_PID, when set, names the process meant (not a child of it) */
    if (pid != NULL && pid[0] != '\0' && strtoll(pid, NULL, 10) != (long long)getpid())
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0' ? (uint64_t)v : 0;
}
