/*
 * The vici codec and client against the protocol description (strongSwan's
 * vici README): the README's own encoding example byte for byte, the
 * builder's refusals, the parser's strictness on hostile messages, packet
 * framing, and the client against a hostile server on a unix socket
 * (oversized segments, garbage, a server that never answers).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmesh/vici.h"

/* README, "Encoding example" */
static const uint8_t readme[] = {
    3,   4,   'k', 'e', 'y', '1', 0,   6,   'v', 'a', 'l', 'u', 'e', '1', 1,   8,
    's', 'e', 'c', 't', 'i', 'o', 'n', '1', 1,   11,  's', 'u', 'b', '-', 's', 'e',
    'c', 't', 'i', 'o', 'n', 3,   4,   'k', 'e', 'y', '2', 0,   6,   'v', 'a', 'l',
    'u', 'e', '2', 2,   4,   5,   'l', 'i', 's', 't', '1', 5,   0,   5,   'i', 't',
    'e', 'm', '1', 5,   0,   5,   'i', 't', 'e', 'm', '2', 6,   2,
};

static void test_readme_example_encode(void **state)
{
    vmesh_vici_builder b;

    (void)state;
    vmesh_vici_build_init(&b);
    vmesh_vici_add_str(&b, "key1", "value1");
    vmesh_vici_section(&b, "section1");
    vmesh_vici_section(&b, "sub-section");
    vmesh_vici_add_str(&b, "key2", "value2");
    vmesh_vici_section_end(&b);
    vmesh_vici_list(&b, "list1");
    vmesh_vici_item_str(&b, "item1");
    vmesh_vici_item_str(&b, "item2");
    vmesh_vici_list_end(&b);
    vmesh_vici_section_end(&b);
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_OK);
    assert_int_equal(b.buf.len, sizeof(readme));
    assert_memory_equal(b.buf.data, readme, sizeof(readme));
    assert_true(b.buf.secret);
    vmesh_vici_build_free(&b);
}

static void test_readme_example_parse(void **state)
{
    vmesh_vici_msg *m = NULL;
    const vmesh_vici_node *root, *sec, *sub, *list, *it;
    size_t len = 0;

    (void)state;
    assert_int_equal(vmesh_vici_msg_parse(readme, sizeof(readme), &m), VMESH_OK);
    root = vmesh_vici_msg_root(m);
    assert_string_equal(vmesh_vici_node_str(root, "key1"), "value1");
    sec = vmesh_vici_node_get(root, "section1");
    assert_non_null(sec);
    assert_int_equal(vmesh_vici_node_kind_of(sec), VMESH_VICI_NODE_SECTION);
    sub = vmesh_vici_node_get(sec, "sub-section");
    assert_string_equal(vmesh_vici_node_str(sub, "key2"), "value2");
    list = vmesh_vici_node_get(sec, "list1");
    assert_int_equal(vmesh_vici_node_kind_of(list), VMESH_VICI_NODE_LIST);
    it = vmesh_vici_node_first(list);
    assert_string_equal(vmesh_vici_node_value(it, &len), "item1");
    assert_int_equal(len, 5);
    it = vmesh_vici_node_next(it);
    assert_string_equal(vmesh_vici_node_value(it, NULL), "item2");
    assert_null(vmesh_vici_node_next(it));
    assert_null(vmesh_vici_node_get(root, "nope"));
    assert_null(vmesh_vici_node_str(root, "section1")); /* a section is no key/value */
    vmesh_vici_msg_free(m);
}

static void test_binary_values(void **state)
{
    vmesh_vici_builder b;
    vmesh_vici_msg *m = NULL;
    uint8_t psk[32];
    const char *v;
    size_t len = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(psk); i++)
        psk[i] = (uint8_t)(i * 7); /* includes a NUL byte */
    vmesh_vici_build_init(&b);
    vmesh_vici_add_kv(&b, "data", psk, sizeof(psk));
    vmesh_vici_add_kv(&b, "empty", "", 0);
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_OK);
    assert_int_equal(vmesh_vici_msg_parse(b.buf.data, b.buf.len, &m), VMESH_OK);
    v = vmesh_vici_node_value(vmesh_vici_node_get(vmesh_vici_msg_root(m), "data"), &len);
    assert_int_equal(len, sizeof(psk));
    assert_memory_equal(v, psk, sizeof(psk));
    /* a value with a NUL inside is not a string */
    assert_null(vmesh_vici_node_str(vmesh_vici_msg_root(m), "data"));
    assert_string_equal(vmesh_vici_node_str(vmesh_vici_msg_root(m), "empty"), "");
    vmesh_vici_msg_free(m);
    vmesh_vici_build_free(&b);
}

static void test_builder_refusals(void **state)
{
    vmesh_vici_builder b;
    char name[300];
    static uint8_t big[70000];

    (void)state;
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    vmesh_vici_build_init(&b);
    vmesh_vici_add_str(&b, name, "x"); /* name over 255 */
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_ERR_ARG);
    vmesh_vici_build_free(&b);

    vmesh_vici_build_init(&b);
    vmesh_vici_add_kv(&b, "k", big, sizeof(big)); /* value over 65535 */
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_ERR_TOO_LARGE);
    vmesh_vici_build_free(&b);

    vmesh_vici_build_init(&b);
    vmesh_vici_list(&b, "l");
    vmesh_vici_add_str(&b, "k", "v"); /* key inside a list */
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_ERR_STATE);
    vmesh_vici_build_free(&b);

    vmesh_vici_build_init(&b);
    vmesh_vici_list(&b, "l");
    vmesh_vici_list(&b, "m"); /* nested list */
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_ERR_STATE);
    vmesh_vici_build_free(&b);

    vmesh_vici_build_init(&b);
    vmesh_vici_section_end(&b); /* nothing open */
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_ERR_STATE);
    vmesh_vici_build_free(&b);

    vmesh_vici_build_init(&b);
    vmesh_vici_section(&b, "s"); /* left open */
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_ERR_STATE);
    vmesh_vici_build_free(&b);

    vmesh_vici_build_init(&b);
    vmesh_vici_item_str(&b, "x"); /* item outside a list */
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_ERR_STATE);
    vmesh_vici_build_free(&b);

    vmesh_vici_build_init(&b);
    for (int i = 0; i <= VMESH_VICI_DEPTH_MAX; i++)
        vmesh_vici_section(&b, "s");
    assert_int_equal(vmesh_vici_build_end(&b), VMESH_ERR_TOO_LARGE);
    vmesh_vici_build_free(&b);
}

static void expect_parse(const uint8_t *p, size_t n, vmesh_err want)
{
    vmesh_vici_msg *m = NULL;

    assert_int_equal(vmesh_vici_msg_parse(p, n, &m), want);
    if (want != VMESH_OK)
        assert_null(m);
    vmesh_vici_msg_free(m);
}

static void test_parser_strict(void **state)
{
    (void)state;
    expect_parse((const uint8_t *)"", 0, VMESH_OK); /* an empty message is fine */
    /* every truncation of the README example is refused */
    for (size_t n = 1; n < sizeof(readme); n++) {
        vmesh_vici_msg *m = NULL;
        vmesh_err rc = vmesh_vici_msg_parse(readme, n, &m);
        /* a few prefixes end on an element boundary at depth 0 */
        if (rc == VMESH_OK)
            assert_true(n == 14);
        vmesh_vici_msg_free(m);
    }
    {
        static const uint8_t unknown[] = {9};
        static const uint8_t end_only[] = {2};
        static const uint8_t list_end_only[] = {6};
        static const uint8_t item_outside[] = {5, 0, 1, 'x'};
        static const uint8_t kv_in_list[] = {4, 1, 'l', 3, 1, 'k', 0, 0, 6};
        static const uint8_t nested_list[] = {4, 1, 'l', 4, 1, 'm', 6, 6};
        static const uint8_t section_in_list[] = {4, 1, 'l', 1, 1, 's', 2, 6};
        static const uint8_t open_list[] = {4, 1, 'l'};
        static const uint8_t empty_name[] = {3, 0, 0, 0};
        static const uint8_t value_past_end[] = {3, 1, 'k', 0xff, 0xff, 'v'};
        static const uint8_t name_past_end[] = {1, 200, 's'};
        expect_parse(unknown, sizeof(unknown), VMESH_ERR_PARSE);
        expect_parse(end_only, sizeof(end_only), VMESH_ERR_PARSE);
        expect_parse(list_end_only, sizeof(list_end_only), VMESH_ERR_PARSE);
        expect_parse(item_outside, sizeof(item_outside), VMESH_ERR_PARSE);
        expect_parse(kv_in_list, sizeof(kv_in_list), VMESH_ERR_PARSE);
        expect_parse(nested_list, sizeof(nested_list), VMESH_ERR_PARSE);
        expect_parse(section_in_list, sizeof(section_in_list), VMESH_ERR_PARSE);
        expect_parse(open_list, sizeof(open_list), VMESH_ERR_PARSE);
        expect_parse(empty_name, sizeof(empty_name), VMESH_ERR_PARSE);
        expect_parse(value_past_end, sizeof(value_past_end), VMESH_ERR_PARSE);
        expect_parse(name_past_end, sizeof(name_past_end), VMESH_ERR_PARSE);
    }
    {
        /* nesting one deeper than the cap */
        uint8_t deep[(VMESH_VICI_DEPTH_MAX + 1) * 4];
        size_t n = 0;
        for (int i = 0; i <= VMESH_VICI_DEPTH_MAX; i++) {
            deep[n++] = 1;
            deep[n++] = 1;
            deep[n++] = 's';
        }
        for (int i = 0; i <= VMESH_VICI_DEPTH_MAX; i++)
            deep[n++] = 2;
        expect_parse(deep, n, VMESH_ERR_TOO_LARGE);
        /* at the cap it parses */
        expect_parse(deep + 3, n - 4, VMESH_OK);
    }
}

static void test_packets(void **state)
{
    vmesh_vici_packet pk;
    static const uint8_t event[] = {7, 7, 'l', 'i', 's', 't', '-', 's', 'a', 3, 1, 'k', 0, 1, 'v'};
    static const uint8_t confirm[] = {5};
    static const uint8_t confirm_extra[] = {5, 0};
    static const uint8_t bad_type[] = {8};
    static const uint8_t no_name[] = {7};
    static const uint8_t short_name[] = {7, 5, 'a'};
    static const uint8_t zero_name[] = {3, 0};

    (void)state;
    assert_int_equal(vmesh_vici_packet_parse(event, sizeof(event), &pk), VMESH_OK);
    assert_int_equal(pk.type, VMESH_VICI_EVENT);
    assert_string_equal(pk.name, "list-sa");
    assert_int_equal(pk.msg_len, 6);
    assert_int_equal(vmesh_vici_packet_parse(confirm, sizeof(confirm), &pk), VMESH_OK);
    assert_int_equal(pk.type, VMESH_VICI_EVENT_CONFIRM);
    assert_int_equal(vmesh_vici_packet_parse(confirm_extra, sizeof(confirm_extra), &pk),
                     VMESH_ERR_PARSE);
    assert_int_equal(vmesh_vici_packet_parse(bad_type, sizeof(bad_type), &pk), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_vici_packet_parse(no_name, sizeof(no_name), &pk), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_vici_packet_parse(short_name, sizeof(short_name), &pk), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_vici_packet_parse(zero_name, sizeof(zero_name), &pk), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_vici_packet_parse(confirm, 0, &pk), VMESH_ERR_PARSE);
}

/* ---- the client against a hostile server ---------------------------------------------------- */

typedef struct {
    int lfd;
    const uint8_t *reply; /* sent after the first request segment */
    size_t reply_len;
    bool silent; /* never answer */
} hostile;

static void *hostile_main(void *arg)
{
    hostile *h = arg;
    int fd = accept(h->lfd, NULL, NULL);
    uint8_t hdr[4], buf[4096];

    if (fd < 0)
        return NULL;
    if (recv(fd, hdr, 4, MSG_WAITALL) == 4) {
        size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
        while (len > 0) {
            ssize_t r = recv(fd, buf, len < sizeof(buf) ? len : sizeof(buf), 0);
            if (r <= 0)
                break;
            len -= (size_t)r;
        }
        if (!h->silent && h->reply_len)
            (void)!send(fd, h->reply, h->reply_len, MSG_NOSIGNAL);
    }
    if (h->silent)
        (void)!recv(fd, buf, sizeof(buf), 0); /* until the client gives up and closes */
    close(fd);
    return NULL;
}

static vmesh_err against(const uint8_t *reply, size_t n, bool silent, int timeout_ms,
                         vmesh_vici_msg **resp)
{
    char path[108];
    struct sockaddr_un sa;
    hostile h = {.reply = reply, .reply_len = n, .silent = silent};
    pthread_t t;
    vmesh_vici *v = NULL;
    vmesh_err rc;

    snprintf(path, sizeof(path), "/tmp/vmesh-vici-test-%ld.sock", (long)getpid());
    unlink(path);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    h.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(h.lfd >= 0);
    assert_int_equal(bind(h.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(h.lfd, 1), 0);
    assert_int_equal(pthread_create(&t, NULL, hostile_main, &h), 0);
    rc = vmesh_vici_connect(path, timeout_ms, &v);
    if (rc == VMESH_OK)
        rc = vmesh_vici_call(v, "version", NULL, resp);
    vmesh_vici_close(v);
    pthread_join(t, NULL);
    close(h.lfd);
    unlink(path);
    return rc;
}

static void test_client_hostile_server(void **state)
{
    vmesh_vici_msg *m = NULL;
    static const uint8_t good[] = {0,   0,   0,   14,  1, 3, 6,   'd', 'a',
                                   'e', 'm', 'o', 'n', 0, 3, 'x', 'y', 'z'};
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1};
    static const uint8_t zero[] = {0, 0, 0, 0};
    static const uint8_t unknown_cmd[] = {0, 0, 0, 1, 2};
    static const uint8_t garbage[] = {0, 0, 0, 3, 1, 9, 9};
    static const uint8_t wrong_type[] = {0, 0, 0, 1, 5};
    static const uint8_t truncated[] = {0, 0, 0, 50, 1, 3};

    (void)state;
    assert_int_equal(against(good, sizeof(good), false, 2000, &m), VMESH_OK);
    assert_string_equal(vmesh_vici_node_str(vmesh_vici_msg_root(m), "daemon"), "xyz");
    vmesh_vici_msg_free(m);
    m = NULL;
    /* a 4 GiB segment is refused before anything is allocated */
    assert_int_equal(against(huge, sizeof(huge), false, 2000, &m), VMESH_ERR_PARSE);
    assert_null(m);
    assert_int_equal(against(zero, sizeof(zero), false, 2000, &m), VMESH_ERR_PARSE);
    assert_int_equal(against(unknown_cmd, sizeof(unknown_cmd), false, 2000, &m),
                     VMESH_ERR_UNSUPPORTED);
    assert_int_equal(against(garbage, sizeof(garbage), false, 2000, &m), VMESH_ERR_PARSE);
    assert_int_equal(against(wrong_type, sizeof(wrong_type), false, 2000, &m), VMESH_ERR_PARSE);
    /* a server that stops half way, and one that never answers: the deadline */
    assert_int_equal(against(truncated, sizeof(truncated), false, 300, &m), VMESH_ERR_CLOSED);
    assert_int_equal(against(NULL, 0, true, 300, &m), VMESH_ERR_TIMEOUT);
    assert_null(m);
}

static void test_connect_errors(void **state)
{
    vmesh_vici *v = NULL;

    (void)state;
    assert_int_equal(vmesh_vici_connect("tcp://127.0.0.1:4502", 100, &v), VMESH_ERR_ARG);
    assert_int_equal(vmesh_vici_connect("unix:///nonexistent/charon.vici", 100, &v), VMESH_ERR_IO);
    assert_non_null(strstr(vmesh_err_detail(), "is charon running"));
    assert_null(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readme_example_encode), cmocka_unit_test(test_readme_example_parse),
        cmocka_unit_test(test_binary_values),         cmocka_unit_test(test_builder_refusals),
        cmocka_unit_test(test_parser_strict),         cmocka_unit_test(test_packets),
        cmocka_unit_test(test_client_hostile_server), cmocka_unit_test(test_connect_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
