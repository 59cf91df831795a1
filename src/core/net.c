/*
 * The one HOST:PORT parser and the one listening-socket helper. Every
 * daemon, configuration key and command-line option that names a TCP
 * endpoint goes through here, so the syntax, the limits and the error
 * messages are the same everywhere. The parser never calls the resolver and
 * never reads past VMESH_NET_ADDR_MAX + 1 bytes of its input; an address it
 * refuses is echoed back only in escaped, shortened form.
 */
#include "vmesh/core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The address as it may appear in an error message: at most 80 characters,
 * anything outside printable ASCII as \xHH (no log injection). */
static const char *shown(const char *s, char buf[128])
{
    size_t o = 0;

    for (size_t i = 0; s[i] != '\0' && o + 8 < 128; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 80) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, 128 - o, "\\x%02x", c);
    }
    buf[o] = '\0';
    return buf;
}

/* Refuses address s with a reason; returns VMESH_ERR_ARG. */
static vmesh_err bad(const char *s, const char *fmt, ...) VMESH_PRINTF(2, 3);
static vmesh_err bad(const char *s, const char *fmt, ...)
{
    char why[256], b[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return vmesh_err_set(VMESH_ERR_ARG, "address \"%s\": %s", shown(s, b), why);
}

static bool all_digits_dots(const char *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
            return false;
    return true;
}

/* RFC 1123 §2.1 host names (letters, digits, hyphen; "a valid host name can
 * never have the dotted-decimal form #.#.#.#"), plus '_' which service
 * discovery names use; one trailing dot allowed. */
static vmesh_err check_name(const char *s, const char *h, size_t n)
{
    size_t label = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (c == '.') {
            if (label == 0)
                return bad(s, "empty label in the host name");
            if (h[i - 1] == '-')
                return bad(s, "a label of the host name ends with '-'");
            label = 0;
            continue;
        }
        if (!alnum && c != '-' && c != '_') {
            if (c == ':')
                return bad(s, "IPv6 addresses must be in brackets, e.g. [::1]:8443");
            if (c == '%')
                return bad(s, "zone ids are not supported");
            if (c >= 0x21 && c < 0x7f)
                return bad(s, "'%c' is not allowed in a host name", c);
            return bad(s, "byte 0x%02x is not allowed in a host name", c);
        }
        if (c == '-' && label == 0)
            return bad(s, "a label of the host name starts with '-'");
        if (++label > 63)
            return bad(s, "a label of the host name is longer than 63 characters");
    }
    if (n > 0 && h[n - 1] == '-')
        return bad(s, "the host name ends with '-'");
    return VMESH_OK;
}

static vmesh_err parse(const char *s, unsigned flags, vmesh_net_hostport *out)
{
    const char *h, *p, *end;
    size_t len, hl, pl;
    unsigned long port = 0;
    bool listen = (flags & VMESH_NET_LISTEN) != 0;
    const char *forms = listen ? "HOST:PORT, [IPV6]:PORT or :PORT" : "HOST:PORT or [IPV6]:PORT";

    memset(out, 0, sizeof(*out));
    if (s == NULL || s[0] == '\0')
        return vmesh_err_set(VMESH_ERR_ARG, "empty address: expected %s", forms);
    len = strnlen(s, VMESH_NET_ADDR_MAX + 1);
    if (len > VMESH_NET_ADDR_MAX)
        return bad(s, "longer than %d characters", VMESH_NET_ADDR_MAX);
    end = s + len;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL)
            return bad(s, "missing ']' after the IPv6 address");
        h = s + 1;
        hl = (size_t)(rb - h);
        if (rb[1] != ':')
            return bad(s, "expected ':PORT' after ']'");
        p = rb + 2;
        out->v6 = true;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon == NULL)
            return bad(s, "no port: expected %s", forms);
        if (memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL)
            return bad(s, "IPv6 addresses must be in brackets, e.g. [::1]:8443");
        h = s;
        hl = (size_t)(colon - s);
        p = colon + 1;
    }
    pl = (size_t)(end - p);
    if (pl == 0)
        return bad(s, "no port after ':'");
    if (pl > 5)
        return bad(s, "the port is not a number in 1..65535");
    for (size_t i = 0; i < pl; i++) {
        if (p[i] < '0' || p[i] > '9')
            return bad(s, "the port is not a number in 1..65535");
        port = port * 10 + (unsigned long)(p[i] - '0');
    }
    if (port > 65535)
        return bad(s, "port %lu is out of range 1..65535", port);
    if (port == 0 && !listen)
        return bad(s, "port 0 is only valid for a listening address");
    out->port = (uint16_t)port;

    if (out->v6) {
        struct in6_addr a6;
        if (hl == 0)
            return bad(s, "empty brackets: use [::]:PORT for every IPv6 interface");
        if (memchr(h, '%', hl) != NULL)
            return bad(s, "zone ids are not supported");
        if (hl >= INET6_ADDRSTRLEN)
            return bad(s, "the part in brackets is not an IPv6 address");
        memcpy(out->host, h, hl);
        out->host[hl] = '\0';
        if (inet_pton(AF_INET6, out->host, &a6) != 1)
            return bad(s, "the part in brackets is not an IPv6 address");
        return VMESH_OK;
    }
    if (hl == 0 || (hl == 1 && h[0] == '*')) {
        if (!listen)
            return bad(s, "no host: expected %s", forms);
        return VMESH_OK; /* host "" = every IPv4 interface */
    }
    if (hl > VMESH_NET_HOST_MAX)
        return bad(s, "host name longer than %d characters", VMESH_NET_HOST_MAX);
    memcpy(out->host, h, hl);
    out->host[hl] = '\0';
    if (all_digits_dots(h, hl)) {
        struct in_addr a4;
        if (inet_pton(AF_INET, out->host, &a4) != 1)
            return bad(s, "\"%s\" is not an IPv4 address (four decimal numbers 0..255)", out->host);
        return VMESH_OK;
    }
    {
        vmesh_err rc = check_name(s, h, hl);
        if (rc != VMESH_OK)
            return rc;
    }
    out->name = true;
    if ((flags & VMESH_NET_NUMERIC) && strcmp(out->host, "localhost") != 0)
        return bad(s, "host names are not accepted here; give an IP address");
    return VMESH_OK;
}

/* The output is written only when the whole address is valid. */
vmesh_err vmesh_net_parse(const char *s, unsigned flags, vmesh_net_hostport *out)
{
    vmesh_net_hostport hp;
    vmesh_err rc = parse(s, flags, &hp);

    if (rc == VMESH_OK)
        *out = hp;
    else
        memset(out, 0, sizeof(*out));
    return rc;
}

vmesh_err vmesh_net_resolve(const char *s, unsigned flags, struct sockaddr_storage *ss, socklen_t *len)
{
    vmesh_net_hostport hp;
    vmesh_err rc = vmesh_net_parse(s, flags, &hp);

    memset(ss, 0, sizeof(*ss));
    *len = 0;
    if (rc != VMESH_OK)
        return rc;
    if (hp.v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(hp.port);
        if (inet_pton(AF_INET6, hp.host, &a->sin6_addr) != 1)
            return vmesh_err_set(VMESH_ERR_ARG, "\"%s\" is not an IPv6 address", hp.host);
        *len = sizeof(*a);
        return VMESH_OK;
    }
    if (!hp.name || strcmp(hp.host, "localhost") == 0) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(hp.port);
        /* RFC 6761 §6.3: "Name resolution APIs and libraries SHOULD
         * recognize localhost names as special and SHOULD always return
         * the IP loopback address". */
        if (hp.name)
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (hp.host[0] == '\0')
            a->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, hp.host, &a->sin_addr) != 1)
            return vmesh_err_set(VMESH_ERR_ARG, "\"%s\" is not an IPv4 address", hp.host);
        *len = sizeof(*a);
        return VMESH_OK;
    }
    {
        struct addrinfo hints, *res = NULL;
        int e;

        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = (flags & VMESH_NET_LISTEN) ? AI_PASSIVE : 0;
        e = getaddrinfo(hp.host, NULL, &hints, &res);
        if (e != 0 || res == NULL || res->ai_addrlen > sizeof(*ss) ||
            (res->ai_family != AF_INET && res->ai_family != AF_INET6)) {
            char b[128];
            if (res != NULL)
                freeaddrinfo(res);
            return vmesh_err_set(VMESH_ERR_NOT_FOUND, "cannot resolve host \"%s\" of address \"%s\": %s", hp.host,
                                 shown(s, b), e != 0 ? gai_strerror(e) : "no IPv4 or IPv6 address");
        }
        memcpy(ss, res->ai_addr, res->ai_addrlen);
        *len = (socklen_t)res->ai_addrlen;
        freeaddrinfo(res);
        if (ss->ss_family == AF_INET)
            ((struct sockaddr_in *)ss)->sin_port = htons(hp.port);
        else
            ((struct sockaddr_in6 *)ss)->sin6_port = htons(hp.port);
    }
    return VMESH_OK;
}

static const char *bind_hint(int e)
{
    switch (e) {
    case EADDRINUSE:
        return " (another process listens there; pick another port or stop it)";
    case EADDRNOTAVAIL:
        return " (not an address of this host)";
    case EACCES:
        return " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    default:
        return "";
    }
}

vmesh_err vmesh_net_listen(const char *s, int backlog, unsigned flags, int *fd)
{
    vmesh_err rc = VMESH_OK;
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, sock = -1, type = SOCK_STREAM | SOCK_CLOEXEC;
    char b[128];

    *fd = -1;
    VMESH_GUARD(vmesh_net_resolve(s, (flags & VMESH_NET_NUMERIC) | VMESH_NET_LISTEN, &ss, &len));
    if (!(flags & VMESH_NET_BLOCKING))
        type |= SOCK_NONBLOCK;
    sock = socket(ss.ss_family, type, 0);
    VMESH_ENSURE(sock >= 0, VMESH_ERR_IO, "cannot listen on %s: socket: %s", shown(s, b), strerror(errno));
    VMESH_ENSURE(setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0, VMESH_ERR_IO,
                 "cannot listen on %s: SO_REUSEADDR: %s", shown(s, b), strerror(errno));
    if (flags & VMESH_NET_REUSEPORT)
        VMESH_ENSURE(setsockopt(sock, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0, VMESH_ERR_IO,
                     "cannot listen on %s: SO_REUSEPORT: %s", shown(s, b), strerror(errno));
    /* [::]:PORT means IPv6 only, whatever net.ipv6.bindv6only says (as in
     * nginx): a second listener can then take 0.0.0.0:PORT. */
    if (ss.ss_family == AF_INET6)
        VMESH_ENSURE(setsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0, VMESH_ERR_IO,
                     "cannot listen on %s: IPV6_V6ONLY: %s", shown(s, b), strerror(errno));
    if (bind(sock, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        VMESH_FAIL(VMESH_ERR_IO, "cannot listen on %s: %s%s", shown(s, b), strerror(e), bind_hint(e));
    }
    VMESH_ENSURE(listen(sock, backlog > 0 ? backlog : 1024) == 0, VMESH_ERR_IO, "cannot listen on %s: %s",
                 shown(s, b), strerror(errno));
    *fd = sock;
    sock = -1;
out:
    if (sock >= 0)
        close(sock);
    return rc;
}

void vmesh_net_addr_str(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char a[INET6_ADDRSTRLEN];
    int n = -1;

    if (cap == 0)
        return;
    out[0] = '\0';
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        if (inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)) != NULL)
            n = snprintf(out, cap, "%s:%u", a, (unsigned)ntohs(s4->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        if (inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)) != NULL)
            n = snprintf(out, cap, "[%s]:%u", a, (unsigned)ntohs(s6->sin6_port));
    }
    if (n < 0 || (size_t)n >= cap)
        out[0] = '\0';
}

uint16_t vmesh_net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}
