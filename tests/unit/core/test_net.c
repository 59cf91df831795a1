/* Unit tests for the one HOST:PORT parser and the listening-socket helper:
 * every accepted form, and hostile input of every shape refused with a
 * message that names the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmesh/core.h"

static void accepts(const char *s, unsigned flags, const char *host, uint16_t port, bool v6, bool name)
{
    vmesh_net_hostport hp;

    if (vmesh_net_parse(s, flags, &hp) != VMESH_OK)
        fail_msg("\"%s\" refused: %s", s, vmesh_err_detail());
    assert_string_equal(hp.host, host);
    assert_int_equal(hp.port, port);
    assert_int_equal(hp.v6, v6);
    assert_int_equal(hp.name, name);
}

/* Refused, with a detail containing `why`; the output is zeroed. */
static void refuses(const char *s, unsigned flags, const char *why)
{
    vmesh_net_hostport hp;

    memset(&hp, 0x41, sizeof(hp));
    if (vmesh_net_parse(s, flags, &hp) != VMESH_ERR_ARG)
        fail_msg("\"%s\" accepted", s);
    if (strstr(vmesh_err_detail(), why) == NULL)
        fail_msg("\"%s\": detail \"%s\" lacks \"%s\"", s, vmesh_err_detail(), why);
    assert_int_equal(hp.host[0], '\0');
    assert_int_equal(hp.port, 0);
}

static void net_accepted_forms(void **state)
{
    (void)state;
    accepts("127.0.0.1:8443", 0, "127.0.0.1", 8443, false, false);
    accepts("198.18.0.1:1", 0, "198.18.0.1", 1, false, false);
    accepts("[::1]:443", 0, "::1", 443, true, false);
    accepts("[2001:db8::1:2]:65535", 0, "2001:db8::1:2", 65535, true, false);
    accepts("[::ffff:127.0.0.1]:80", 0, "::ffff:127.0.0.1", 80, true, false);
    accepts("localhost:80", 0, "localhost", 80, false, true);
    accepts("svc-a.ns_1.cluster.local.:9000", 0, "svc-a.ns_1.cluster.local.", 9000, false, true);
    accepts("localhost:80", VMESH_NET_NUMERIC, "localhost", 80, false, true);
}

static void net_listen_forms(void **state)
{
    (void)state;
    accepts(":8443", VMESH_NET_LISTEN, "", 8443, false, false);
    accepts("*:8443", VMESH_NET_LISTEN, "", 8443, false, false);
    accepts("0.0.0.0:0", VMESH_NET_LISTEN, "0.0.0.0", 0, false, false);
    accepts("[::]:0", VMESH_NET_LISTEN, "::", 0, true, false);
    accepts("127.0.0.1:00080", VMESH_NET_LISTEN, "127.0.0.1", 80, false, false);
    /* The same forms are refused where a peer is named. */
    refuses(":8443", 0, "no host");
    refuses("*:8443", 0, "no host");
    refuses("127.0.0.1:0", 0, "port 0 is only valid for a listening address");
}

static void net_hostile(void **state)
{
    char big[600];

    (void)state;
    refuses(NULL, 0, "empty address");
    refuses("", VMESH_NET_LISTEN, "expected HOST:PORT, [IPV6]:PORT or :PORT");
    refuses("127.0.0.1", 0, "no port");
    refuses("127.0.0.1:", 0, "no port after ':'");
    refuses("127.0.0.1:65536", 0, "out of range");
    refuses("127.0.0.1:99999", 0, "out of range");
    refuses("127.0.0.1:123456", 0, "not a number");
    refuses("127.0.0.1:-1", 0, "not a number");
    refuses("127.0.0.1:+80", 0, "not a number");
    refuses("127.0.0.1: 80", 0, "not a number");
    refuses("127.0.0.1:80 ", 0, "not a number");
    refuses("127.0.0.1:0x50", 0, "not a number");
    refuses("127.0.0.1:http", 0, "not a number");
    refuses("::1:80", 0, "must be in brackets");
    refuses("fe80::1", 0, "must be in brackets");
    refuses("[::1:80", 0, "missing ']'");
    refuses("[::1]80", 0, "expected ':PORT' after ']'");
    refuses("[::1]", 0, "expected ':PORT' after ']'");
    refuses("[]:80", VMESH_NET_LISTEN, "empty brackets");
    refuses("[127.0.0.1]:80", 0, "not an IPv6 address");
    refuses("[fe80::1%eth0]:80", 0, "zone ids are not supported");
    refuses("[::1]]:80", 0, "expected ':PORT' after ']'");
    refuses("[[::1]]:80", 0, "expected ':PORT' after ']'");
    refuses("[host.example]:80", 0, "not an IPv6 address");
    refuses("256.1.1.1:80", 0, "not an IPv4 address");
    refuses("1.2.3:80", 0, "not an IPv4 address");
    refuses("01.2.3.4:80", 0, "not an IPv4 address");
    refuses("1.2.3.4.5:80", 0, "not an IPv4 address");
    refuses("...:80", 0, "not an IPv4 address");
    refuses("a..b:80", 0, "empty label");
    refuses(".a:80", 0, "empty label");
    refuses("-a.b:80", 0, "starts with '-'");
    refuses("a-.b:80", 0, "ends with '-'");
    refuses("a.b-:80", 0, "ends with '-'");
    refuses("a b:80", 0, "byte 0x20 is not allowed");
    refuses("user@host:80", 0, "'@' is not allowed");
    refuses("host/path:80", 0, "'/' is not allowed");
    refuses("http://h:80", 0, "must be in brackets");
    refuses("h\n:80", 0, "byte 0x0a is not allowed");
    refuses("h\x1b[31m:80", 0, "byte 0x1b");
    refuses("h\xc3\xa9:80", 0, "byte 0xc3");
    refuses("example.com:80", VMESH_NET_NUMERIC, "host names are not accepted");
    /* A label of 64 characters, a name of 254. */
    memset(big, 'a', 64);
    memcpy(big + 64, ":80", 4);
    refuses(big, 0, "longer than 63");
    for (int i = 0; i < 254; i++)
        big[i] = (i % 50 == 49) ? '.' : 'a';
    memcpy(big + 254, ":80", 4);
    refuses(big, 0, "host name longer than 253");
    /* Longer than the cap: refused without reading it all, and the
     * message shows a shortened, escaped copy only. */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    refuses(big, 0, "longer than 261 characters");
    assert_true(strlen(vmesh_err_detail()) < 200);
    refuses("\x01\x02\"\\:80", 0, "\\x01\\x02\\x22\\x5c:80");
}

static void net_limits(void **state)
{
    char s[VMESH_NET_ADDR_MAX + 2], name[VMESH_NET_HOST_MAX + 1];
    vmesh_net_hostport hp;

    (void)state;
    /* The longest name (253) with the longest port fits exactly. */
    for (int i = 0; i < VMESH_NET_HOST_MAX; i++)
        name[i] = (i % 60 == 59) ? '.' : 'x';
    name[VMESH_NET_HOST_MAX] = '\0';
    snprintf(s, sizeof(s), "%s:65535", name);
    assert_int_equal(vmesh_net_parse(s, 0, &hp), VMESH_OK);
    assert_string_equal(hp.host, name);
    assert_int_equal(strlen(s), VMESH_NET_HOST_MAX + 6);
}

static void net_resolve_forms(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
    char txt[64];

    (void)state;
    assert_int_equal(vmesh_net_resolve("127.0.0.2:81", 0, &ss, &len), VMESH_OK);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(a4->sin_port), 81);
    assert_string_equal(inet_ntop(AF_INET, &a4->sin_addr, txt, sizeof(txt)), "127.0.0.2");
    assert_int_equal(vmesh_net_resolve("localhost:82", 0, &ss, &len), VMESH_OK);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(a4->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    assert_int_equal(vmesh_net_resolve(":83", VMESH_NET_LISTEN, &ss, &len), VMESH_OK);
    assert_int_equal(a4->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(ntohs(a4->sin_port), 83);
    assert_int_equal(vmesh_net_resolve("[::1]:84", 0, &ss, &len), VMESH_OK);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(a6->sin6_port), 84);
    assert_true(IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr));
    /* A name the resolver cannot know (.invalid is reserved, RFC 6761 §6.4). */
    assert_int_equal(vmesh_net_resolve("no-such-host.invalid:80", 0, &ss, &len), VMESH_ERR_NOT_FOUND);
    assert_non_null(strstr(vmesh_err_detail(), "cannot resolve host \"no-such-host.invalid\""));
    assert_int_equal(len, 0);
    assert_int_equal(vmesh_net_resolve("x:80", VMESH_NET_NUMERIC, &ss, &len), VMESH_ERR_ARG);
}

static void net_listen_socket(void **state)
{
    int fd = -1, fd2 = -1, fd3 = -1, c;
    uint16_t port;
    char addr[64];

    (void)state;
    assert_int_equal(vmesh_net_listen("127.0.0.1:0", 0, 0, &fd), VMESH_OK);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    port = vmesh_net_local_port(fd);
    assert_true(port > 0);
    /* Non-blocking: accept with nobody waiting returns at once. */
    c = accept(fd, NULL, NULL);
    assert_int_equal(c, -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    /* The port is taken: a clear reason, no descriptor. */
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    assert_int_equal(vmesh_net_listen(addr, 16, 0, &fd2), VMESH_ERR_IO);
    assert_int_equal(fd2, -1);
    assert_non_null(strstr(vmesh_err_detail(), "another process listens there"));
    /* Not an address of this host (TEST-NET-1 is never local). */
    assert_int_equal(vmesh_net_listen("192.0.2.1:0", 16, 0, &fd2), VMESH_ERR_IO);
    assert_non_null(strstr(vmesh_err_detail(), "not an address of this host"));
    /* Blocking and IPv6 when asked; a malformed address never opens a socket. */
    assert_int_equal(vmesh_net_listen("127.0.0.1:0", 8, VMESH_NET_BLOCKING, &fd3), VMESH_OK);
    assert_false(fcntl(fd3, F_GETFL) & O_NONBLOCK);
    close(fd3);
    if (vmesh_net_listen("[::1]:0", 8, 0, &fd3) == VMESH_OK) {
        int v6only = 0;
        socklen_t l = sizeof(v6only);
        assert_int_equal(getsockopt(fd3, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l), 0);
        assert_int_equal(v6only, 1);
        close(fd3);
    }
    assert_int_equal(vmesh_net_listen("127.0.0.1", 8, 0, &fd3), VMESH_ERR_ARG);
    assert_int_equal(fd3, -1);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(net_accepted_forms), cmocka_unit_test(net_listen_forms),
        cmocka_unit_test(net_hostile),        cmocka_unit_test(net_limits),
        cmocka_unit_test(net_resolve_forms),  cmocka_unit_test(net_listen_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
