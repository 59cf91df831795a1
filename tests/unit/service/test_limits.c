/* Unit tests for the per-client limits of the verifier (src/service/limits.c,
 * issue 12.6) with the clock driven by the test: client keys (IPv4, IPv6
 * /64, IPv4-mapped), the per-client and total connection limits, the request
 * deadline that only a whole request meets, the request and byte budgets with
 * their Retry-After, and a table that stays bounded under an address flood. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "service/service_int.h"

static svc_client_key v4(const char *a)
{
    struct sockaddr_in in;
    svc_client_key k;

    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    inet_pton(AF_INET, a, &in.sin_addr);
    svc_client_key_from((const struct sockaddr *)&in, &k);
    return k;
}

static svc_client_key v6(const char *a)
{
    struct sockaddr_in6 in;
    svc_client_key k;

    memset(&in, 0, sizeof(in));
    in.sin6_family = AF_INET6;
    inet_pton(AF_INET6, a, &in.sin6_addr);
    svc_client_key_from((const struct sockaddr *)&in, &k);
    return k;
}

static svc_limits *mk(unsigned maxc, unsigned per, unsigned rate, unsigned burst, unsigned bytes, unsigned bburst)
{
    svc_limits_config c = {.max_connections = maxc,
                           .client_connections = per,
                           .request_deadline = 10,
                           .client_rate = rate,
                           .client_burst = burst,
                           .client_bytes = bytes,
                           .client_bytes_burst = bburst};
    svc_limits *l = NULL;

    assert_int_equal(svc_limits_new(&c, &l), VMESH_OK);
    return l;
}

static void test_keys(void **st)
{
    char s[64];
    svc_client_key a, b;

    (void)st;
    a = v4("127.0.0.2");
    svc_client_key_str(&a, s, sizeof(s));
    assert_string_equal(s, "127.0.0.2");
    b = v6("::ffff:127.0.0.2");
    assert_memory_equal(a.a, b.a, 16); /* mapped = the IPv4 client */
    a = v6("2001:db8:1:2:aaaa::1");
    b = v6("2001:db8:1:2:bbbb::2");
    assert_memory_equal(a.a, b.a, 16); /* one /64 */
    svc_client_key_str(&a, s, sizeof(s));
    assert_string_equal(s, "2001:db8:1:2::/64");
    b = v6("2001:db8:1:3::1");
    assert_memory_not_equal(a.a, b.a, 16);
}

static void test_connections(void **st)
{
    svc_limits *l = mk(5, 2, SVC_UNLIMITED, 1, SVC_UNLIMITED, 1);
    svc_client_key a = v4("127.0.0.10"), b = v4("127.0.0.2");
    svc_conn *c[8] = {0};
    svc_limits_stats s;

    (void)st;
    assert_int_equal(svc_limits_open(l, &a, 10, 1000, &c[0]), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_open(l, &a, 11, 1000, &c[1]), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_admit(l, &a), SVC_REFUSE_CLIENT_CONNECTIONS);
    /* open() checks again (two threads may both pass admit) */
    assert_int_equal(svc_limits_open(l, &a, 12, 1000, &c[2]), SVC_REFUSE_CLIENT_CONNECTIONS);
    assert_null(c[2]);
    /* another client is not held back by the first */
    assert_int_equal(svc_limits_admit(l, &b), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_open(l, &b, 13, 1000, &c[3]), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_open(l, &b, 14, 1000, &c[4]), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_open(l, &(svc_client_key){.a = {9}}, 15, 1000, &c[5]), SVC_REFUSE_NONE);
    /* five open: the verifier's own limit */
    assert_int_equal(svc_limits_admit(l, &(svc_client_key){.a = {8}}), SVC_REFUSE_CONNECTIONS);
    svc_limits_close(l, c[0]);
    assert_int_equal(svc_limits_admit(l, &a), SVC_REFUSE_NONE);
    svc_limits_get_stats(l, &s);
    assert_int_equal(s.connections, 4);
    assert_int_equal(s.clients, 3);
    assert_int_equal(s.refused[SVC_REFUSE_CLIENT_CONNECTIONS], 2);
    assert_int_equal(s.refused[SVC_REFUSE_CONNECTIONS], 1);
    assert_int_equal(s.accepted, 5);
    for (int i = 1; i < 6; i++)
        svc_limits_close(l, c[i]);
    svc_limits_get_stats(l, &s);
    assert_int_equal(s.connections, 0);
    svc_limits_free(l);
}

static int killed[16], nkilled;
static void kill_rec(int fd, void *ctx)
{
    (void)ctx;
    killed[nkilled++] = fd;
}

static void test_deadline(void **st)
{
    svc_limits *l = mk(10, 10, SVC_UNLIMITED, 1, SVC_UNLIMITED, 1);
    svc_client_key a = v4("127.0.0.10");
    svc_conn *slow = NULL, *done = NULL, *keep = NULL;
    unsigned ra;

    (void)st;
    nkilled = 0;
    assert_int_equal(svc_limits_open(l, &a, 20, 1000, &slow), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_open(l, &a, 21, 1000, &done), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_open(l, &a, 22, 1000, &keep), SVC_REFUSE_NONE);
    /* headers of `done` are in, then its body: no deadline while it is answered */
    assert_int_equal(svc_limits_request(l, done, 1, 0, 2000, &ra), SVC_REFUSE_NONE);
    svc_limits_arm(l, done, 0);
    /* `keep` answered a request at 5 s: its next request has until 15 s */
    svc_limits_arm(l, keep, 5000);
    /* nothing in a slow client's bytes reaches limits.c: only a whole request disarms */
    assert_int_equal(svc_limits_reap(l, 10999, kill_rec, NULL), 0);
    assert_int_equal(svc_limits_reap(l, 11000, kill_rec, NULL), 1);
    assert_int_equal(killed[0], 20);
    /* killed once only, even if MHD takes a while to close it */
    assert_int_equal(svc_limits_reap(l, 12000, kill_rec, NULL), 0);
    assert_int_equal(svc_limits_reap(l, 15000, kill_rec, NULL), 1);
    assert_int_equal(killed[1], 22);
    assert_int_equal(svc_limits_reap(l, 100000, kill_rec, NULL), 0); /* `done` is being answered */
    svc_limits_close(l, slow);
    svc_limits_close(l, done);
    svc_limits_close(l, keep);
    {
        svc_limits_stats s;
        svc_limits_get_stats(l, &s);
        assert_int_equal(s.refused[SVC_REFUSE_DEADLINE], 2);
    }
    svc_limits_free(l);
}

static void test_rate(void **st)
{
    svc_limits *l = mk(10, 10, 2, 4, SVC_UNLIMITED, 1);
    svc_client_key a = v4("127.0.0.12"), b = v4("127.0.0.2");
    svc_conn *ca = NULL, *cb = NULL;
    unsigned ra = 0;

    (void)st;
    assert_int_equal(svc_limits_open(l, &a, 1, 1000, &ca), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_open(l, &b, 2, 1000, &cb), SVC_REFUSE_NONE);
    for (int i = 0; i < 4; i++) /* the burst */
        assert_int_equal(svc_limits_request(l, ca, 1, 0, 1000, &ra), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_request(l, ca, 1, 0, 1000, &ra), SVC_REFUSE_CLIENT_RATE);
    assert_int_equal(ra, 1); /* 2/s: one token in 500 ms, rounded up to 1 s */
    /* the other client has its own budget */
    assert_int_equal(svc_limits_request(l, cb, 1, 0, 1000, &ra), SVC_REFUSE_NONE);
    /* 499 ms: not yet one token; 500 ms: one */
    assert_int_equal(svc_limits_request(l, ca, 1, 0, 1499, &ra), SVC_REFUSE_CLIENT_RATE);
    assert_int_equal(svc_limits_request(l, ca, 1, 0, 1500, &ra), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_request(l, ca, 1, 0, 1500, &ra), SVC_REFUSE_CLIENT_RATE);
    /* a long pause refills to the burst, not beyond */
    for (int i = 0; i < 4; i++)
        assert_int_equal(svc_limits_request(l, ca, 1, 0, 100000, &ra), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_request(l, ca, 1, 0, 100000, &ra), SVC_REFUSE_CLIENT_RATE);
    /* several requests at once (a batch's items, D53): all of them or none */
    assert_int_equal(svc_limits_request(l, ca, 5, 0, 200000, &ra), SVC_REFUSE_CLIENT_RATE);
    assert_int_equal(ra, 1); /* the fifth token comes in 500 ms, rounded up to 1 s */
    assert_int_equal(svc_limits_request(l, ca, 4, 0, 200000, &ra), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_request(l, ca, 1, 0, 200000, &ra), SVC_REFUSE_CLIENT_RATE);
    svc_limits_close(l, ca);
    svc_limits_close(l, cb);
    svc_limits_free(l);
}

static void test_bytes(void **st)
{
    svc_limits *l = mk(10, 10, SVC_UNLIMITED, 1, 1000, 3000);
    svc_client_key a = v4("127.0.0.13");
    svc_conn *c = NULL;
    unsigned ra = 0;

    (void)st;
    assert_int_equal(svc_limits_open(l, &a, 1, 1000, &c), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_request(l, c, 1, 2500, 1000, &ra), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_request(l, c, 1, 2500, 1000, &ra), SVC_REFUSE_CLIENT_BYTES);
    assert_int_equal(ra, 2); /* 2,000 bytes short at 1,000/s */
    /* chunked bodies are charged as they come; over the budget empties it */
    assert_int_equal(svc_limits_bytes(l, c, 400, 1000, &ra), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_bytes(l, c, 400, 1000, &ra), SVC_REFUSE_CLIENT_BYTES);
    assert_int_equal(svc_limits_bytes(l, c, 1, 1000, &ra), SVC_REFUSE_CLIENT_BYTES);
    assert_int_equal(svc_limits_request(l, c, 1, 1000, 2000, &ra), SVC_REFUSE_NONE);
    svc_limits_close(l, c);
    svc_limits_free(l);
}

static void test_table_bounded(void **st)
{
    /* 4 connections: the table holds 4 + 256 clients; 10,000 addresses
     * coming and going reuse entries of clients with no connection. */
    svc_limits *l = mk(4, 1, 1, 1, SVC_UNLIMITED, 1);
    svc_client_key held = v4("127.0.0.2");
    svc_conn *h = NULL, *c = NULL;
    svc_limits_stats s;
    unsigned ra;

    (void)st;
    assert_int_equal(svc_limits_open(l, &held, 1, 1000, &h), SVC_REFUSE_NONE);
    for (unsigned i = 0; i < 10000; i++) {
        svc_client_key k = {.a = {1, (uint8_t)(i >> 8), (uint8_t)i}};
        assert_int_equal(svc_limits_open(l, &k, 2, 1000 + i, &c), SVC_REFUSE_NONE);
        assert_int_equal(svc_limits_request(l, c, 1, 0, 1000 + i, &ra), SVC_REFUSE_NONE);
        svc_limits_close(l, c);
    }
    svc_limits_get_stats(l, &s);
    assert_true(s.tracked <= 4 + 256);
    assert_int_equal(s.connections, 1);
    /* the client with an open connection kept its entry (and its spent budget) */
    assert_int_equal(svc_limits_request(l, h, 1, 0, 1000, &ra), SVC_REFUSE_NONE);
    assert_int_equal(svc_limits_request(l, h, 1, 0, 1000, &ra), SVC_REFUSE_CLIENT_RATE);
    svc_limits_close(l, h);
    svc_limits_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),           cmocka_unit_test(test_connections), cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_rate),           cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_table_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
