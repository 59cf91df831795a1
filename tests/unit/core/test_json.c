/* Unit tests for the one JSON string escaper: what RFC 8259 demands, and
 * hostile text (quotes, control characters, broken UTF-8, truncation in the
 * middle of a character) that must never produce broken JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmesh/core.h"

static void esc(const char *in, size_t n, const char *want)
{
    vmesh_buf b = {0};

    assert_int_equal(vmesh_json_str(&b, in, n), VMESH_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    vmesh_buf_free(&b);
}

static void json_escapes_what_rfc8259_demands(void **state)
{
    (void)state;
    esc("", 0, "\"\"");
    esc("spiffe://td/ns/a", 16, "\"spiffe://td/ns/a\"");
    esc("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    esc("\n\t\x01\x1f", 4, "\"\\u000a\\u0009\\u0001\\u001f\"");
    esc("a\0b", 3, "\"a\\u0000b\"");
    esc("\x7f/", 2, "\"\x7f/\"");
    /* Valid UTF-8 as is: 2, 3 and 4 byte forms. */
    esc("\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92\"");
}

static void json_replaces_broken_utf8(void **state)
{
    (void)state;
    esc("\xff", 1, "\"\\ufffd\"");
    esc("\xc3", 1, "\"\\ufffd\"");               /* truncated sequence */
    esc("\xc3(", 2, "\"\\ufffd(\"");             /* bad continuation */
    esc("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");    /* overlong '/' */
    esc("\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\"");
    esc("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* a UTF-16 surrogate */
    esc("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
    esc("\x80\"", 2, "\"\\ufffd\\\"\"");
}

static void json_respects_the_buffer_cap(void **state)
{
    vmesh_buf b;

    (void)state;
    vmesh_buf_init(&b, 8);
    assert_int_equal(vmesh_json_str(&b, "abcdef", 6), VMESH_OK);
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_json_str(&b, "abcdefg", 7), VMESH_ERR_TOO_LARGE);
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_json_str(&b, "\n", 1), VMESH_OK);
    vmesh_buf_reset(&b);
    assert_int_equal(vmesh_json_str(&b, "\n\n", 2), VMESH_ERR_TOO_LARGE);
    vmesh_buf_free(&b);
}

static void json_fixed_array_cuts_whole_characters(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(vmesh_json_str_to(out, sizeof(out), NULL), 0);
    assert_string_equal(out, "");
    assert_int_equal(vmesh_json_str_to(out, sizeof(out), "a\"b"), 4);
    assert_string_equal(out, "a\\\"b");
    /* 7 bytes of room: "abcde" + an escape of 6 does not fit, so it stops
     * before the escape, not inside it. */
    assert_int_equal(vmesh_json_str_to(out, sizeof(out), "abcde\n"), 5);
    assert_string_equal(out, "abcde");
    /* A 4-byte character that does not fit whole is left out whole. */
    assert_int_equal(vmesh_json_str_to(out, sizeof(out), "abcd\xf0\x9f\x94\x92"), 4);
    assert_string_equal(out, "abcd");
    assert_int_equal(vmesh_json_str_to(out, sizeof(out), "abc\xf0\x9f\x94\x92"), 7);
    assert_int_equal(vmesh_json_str_to(out, 1, "abc"), 0);
    assert_string_equal(out, "");
    assert_int_equal(vmesh_json_str_to(out, 0, "abc"), 0);
    assert_int_equal(vmesh_json_str_to(out, sizeof(out), "\xff\xfe"), 6);
    assert_string_equal(out, "\\ufffd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_escapes_what_rfc8259_demands),
        cmocka_unit_test(json_replaces_broken_utf8),
        cmocka_unit_test(json_respects_the_buffer_cap),
        cmocka_unit_test(json_fixed_array_cuts_whole_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
