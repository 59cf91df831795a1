/*
 * Unit tests of the one CBOR codec: the writer's shortest heads, RFC 8949
 * Appendix A values read back, and every kind of hostile input the reader
 * must refuse with a message (huge and 64-bit-overflowing lengths, deep
 * nesting, truncated heads, indefinite lengths where refused, non-shortest
 * heads and unordered keys on a deterministic cursor, invalid UTF-8,
 * reserved and misplaced codes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmesh/cbor.h"

/* Hex text -> bytes in a static buffer (tests are single-threaded). */
static const uint8_t *hx(const char *s, size_t *n)
{
    static vmesh_buf b;

    vmesh_buf_free(&b);
    assert_int_equal(vmesh_hex_decode(s, strlen(s), &b), VMESH_OK);
    *n = b.len;
    return b.data != NULL ? b.data : (const uint8_t *)"";
}

static void expect_detail(const char *needle)
{
    if (strstr(vmesh_err_detail(), needle) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", vmesh_err_detail(), needle);
}

/* vmesh_cbor_check on hex input with flags: expected code and detail. */
static void check_hex(const char *hex, unsigned flags, vmesh_err want, const char *needle)
{
    vmesh_cbor r;
    size_t n;
    const uint8_t *p = hx(hex, &n);
    vmesh_err rc;

    vmesh_cbor_init(&r, p, n, "test", flags);
    rc = vmesh_cbor_check(&r);
    if (rc != want)
        fail_msg("%s: got %d (%s), expected %d", hex, rc, vmesh_err_detail(), want);
    if (needle != NULL)
        expect_detail(needle);
}

static void writer_shortest_heads(void **state)
{
    static const struct {
        uint64_t v;
        const char *hex;
    } uints[] = {{0, "00"},
                 {23, "17"},
                 {24, "1818"},
                 {255, "18ff"},
                 {256, "190100"},
                 {65535, "19ffff"},
                 {65536, "1a00010000"},
                 {0xffffffffu, "1affffffff"},
                 {0x100000000ull, "1b0000000100000000"},
                 {UINT64_MAX, "1bffffffffffffffff"}};
    static const struct {
        int64_t v;
        const char *hex;
    } ints[] = {{-1, "20"}, {-24, "37"}, {-25, "3818"}, {-75000, "3a000124f7"}, {INT64_MIN, "3b7fffffffffffffff"}};
    vmesh_buf b = {0}, hex = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
        vmesh_buf_reset(&b);
        vmesh_buf_reset(&hex);
        assert_int_equal(vmesh_cbor_put_uint(&b, uints[i].v), VMESH_OK);
        assert_int_equal(vmesh_hex_encode(b.data, b.len, &hex), VMESH_OK);
        assert_int_equal(hex.len, strlen(uints[i].hex));
        assert_memory_equal(hex.data, uints[i].hex, hex.len);
    }
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        vmesh_cbor r;
        int64_t v = 0;

        vmesh_buf_reset(&b);
        vmesh_buf_reset(&hex);
        assert_int_equal(vmesh_cbor_put_int(&b, ints[i].v), VMESH_OK);
        assert_int_equal(vmesh_hex_encode(b.data, b.len, &hex), VMESH_OK);
        assert_int_equal(hex.len, strlen(ints[i].hex));
        assert_memory_equal(hex.data, ints[i].hex, hex.len);
        vmesh_cbor_init(&r, b.data, b.len, "test", VMESH_CBOR_DETERMINISTIC);
        assert_int_equal(vmesh_cbor_read_int(&r, &v, "int"), VMESH_OK);
        assert_true(v == ints[i].v);
        assert_true(vmesh_cbor_at_end(&r));
    }
    /* a whole structure: {1: h'0102', 2: "é", 3: [true, false], 4: 18(0)} */
    vmesh_buf_reset(&b);
    vmesh_buf_reset(&hex);
    assert_int_equal(vmesh_cbor_put_map(&b, 4), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(&b, 1), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_bstr(&b, "\x01\x02", 2), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(&b, 2), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_text(&b, "\xc3\xa9"), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(&b, 3), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_array(&b, 2), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_bool(&b, true), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_bool(&b, false), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(&b, 4), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_tag(&b, 18), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(&b, 0), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_bstr(&b, NULL, 0), VMESH_OK);
    assert_int_equal(vmesh_hex_encode(b.data, b.len, &hex), VMESH_OK);
    assert_memory_equal(hex.data, "a4014201020262c3a90382f5f404d20040", hex.len);
    /* a cap on the buffer: a string is written whole or not at all */
    vmesh_buf_free(&b);
    vmesh_buf_init(&b, 8);
    assert_int_equal(vmesh_cbor_put_bstr(&b, "0123456789", 10), VMESH_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    vmesh_buf_free(&b);
    vmesh_buf_free(&hex);
}

static void reader_values(void **state)
{
    vmesh_cbor r;
    size_t n;
    const uint8_t *p;
    uint64_t u = 0, count = 0, tag = 0;
    int64_t i = 0;
    bool b = false;
    const uint8_t *s = NULL;
    const char *t = NULL;
    char *dup = NULL;
    vmesh_cbor_head h;

    (void)state;
    /* RFC 8949 Appendix A: 18446744073709551615, -18446744073709551616 */
    p = hx("1bffffffffffffffff", &n);
    vmesh_cbor_init(&r, p, n, "test", 0);
    assert_int_equal(vmesh_cbor_read_uint(&r, &u, "u"), VMESH_OK);
    assert_true(u == UINT64_MAX);
    vmesh_cbor_init(&r, p, n, "test", 0);
    assert_int_equal(vmesh_cbor_read_int(&r, &i, "big"), VMESH_ERR_PARSE);
    expect_detail("big is out of range");
    p = hx("3bffffffffffffffff", &n);
    vmesh_cbor_init(&r, p, n, "test", 0);
    assert_int_equal(vmesh_cbor_read_int(&r, &i, "neg"), VMESH_ERR_PARSE);
    assert_int_equal(r.off, 0); /* a refused item is not consumed */
    /* type mismatch names both types */
    p = hx("6161", &n);
    vmesh_cbor_init(&r, p, n, "fmt", 0);
    assert_int_equal(vmesh_cbor_read_bstr(&r, 10, &s, &n, "nonce (key 10)"), VMESH_ERR_PARSE);
    expect_detail("fmt: nonce (key 10) is a text string, expected a byte string");
    /* a tagged map with every kind of item */
    p = hx("d812a501f502440102030403656865"
           "6c6c6f0483002020f605a0",
           &n);
    vmesh_cbor_init(&r, p, n - 1, "test", 0); /* all but the last byte: one item */
    assert_int_equal(vmesh_cbor_check(&r), VMESH_OK);
    vmesh_cbor_init(&r, p, n, "test", 0);
    assert_int_equal(vmesh_cbor_read_tag(&r, &tag, "tag"), VMESH_OK);
    assert_true(tag == 18);
    assert_int_equal(vmesh_cbor_read_map(&r, &count, 5, "map"), VMESH_OK);
    assert_true(count == 5);
    assert_int_equal(vmesh_cbor_read_uint(&r, &u, "k1"), VMESH_OK);
    assert_int_equal(vmesh_cbor_read_bool(&r, &b, "true"), VMESH_OK);
    assert_true(b);
    assert_int_equal(vmesh_cbor_read_uint(&r, &u, "k2"), VMESH_OK);
    assert_int_equal(vmesh_cbor_read_bstr(&r, 4, &s, &n, "bytes"), VMESH_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "\x01\x02\x03\x04", 4);
    assert_int_equal(vmesh_cbor_read_uint(&r, &u, "k3"), VMESH_OK);
    assert_int_equal(vmesh_cbor_read_tstr(&r, 5, &t, &n, "text"), VMESH_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(t, "hello", 5);
    assert_int_equal(vmesh_cbor_read_uint(&r, &u, "k4"), VMESH_OK);
    assert_int_equal(vmesh_cbor_read_array(&r, &count, 2, "array"), VMESH_ERR_TOO_LARGE);
    expect_detail("array has 3 entries, the cap is 2");
    assert_int_equal(vmesh_cbor_read_array(&r, &count, 3, "array"), VMESH_OK);
    assert_int_equal(vmesh_cbor_read_int(&r, &i, "0"), VMESH_OK);
    assert_int_equal(vmesh_cbor_read_int(&r, &i, "-1"), VMESH_OK);
    assert_true(i == -1);
    assert_int_equal(vmesh_cbor_read_int(&r, &i, "-1"), VMESH_OK);
    assert_int_equal(vmesh_cbor_peek(&r, &h), VMESH_OK);
    assert_int_equal(h.major, VMESH_CBOR_SIMPLE);
    assert_true(h.arg == VMESH_CBOR_NULL);
    assert_true(vmesh_cbor_at_null(&r));
    assert_int_equal(vmesh_cbor_read_bool(&r, &b, "null"), VMESH_ERR_PARSE);
    expect_detail("null is not a boolean");
    assert_int_equal(vmesh_cbor_skip(&r), VMESH_OK);
    assert_int_equal(vmesh_cbor_read_uint(&r, &u, "k5"), VMESH_OK);
    assert_int_equal(vmesh_cbor_end(&r, "x"), VMESH_ERR_PARSE);
    expect_detail("1 trailing bytes after x");
    assert_int_equal(vmesh_cbor_read_map(&r, &count, 0, "empty"), VMESH_OK);
    assert_int_equal(vmesh_cbor_end(&r, "x"), VMESH_OK);
    /* the text cap and a copy */
    vmesh_cbor_init(&r, (const uint8_t *)"\x63" "abc", 4, "test", 0);
    assert_int_equal(vmesh_cbor_read_tstr_dup(&r, 2, &dup, "t"), VMESH_ERR_TOO_LARGE);
    expect_detail("t is 3 bytes, the cap is 2");
    assert_null(dup);
    vmesh_cbor_init(&r, (const uint8_t *)"\x63" "abc", 4, "test", 0);
    assert_int_equal(vmesh_cbor_read_tstr_dup(&r, 3, &dup, "t"), VMESH_OK);
    assert_string_equal(dup, "abc");
    free(dup);
}

static void hostile_lengths(void **state)
{
    vmesh_cbor r;
    size_t n;
    const uint8_t *p, *s;
    uint64_t count;

    (void)state;
    /* a byte string of 2^63 and of 2^64-1 bytes: nothing wraps */
    check_hex("5b7fffffffffffffff00", 0, VMESH_ERR_PARSE, "declares 9223372036854775807 bytes");
    check_hex("5bffffffffffffffff00", 0, VMESH_ERR_PARSE, "declares 18446744073709551615 bytes");
    check_hex("7bffffffffffffffff00", 0, VMESH_ERR_PARSE, "1 are left");
    p = hx("5bffffffffffffffff00", &n);
    vmesh_cbor_init(&r, p, n, "test", 0);
    assert_int_equal(vmesh_cbor_read_bstr(&r, SIZE_MAX, &s, &n, "b"), VMESH_ERR_PARSE);
    expect_detail("declares 18446744073709551615 bytes");
    /* arrays and maps of 2^32 and 2^64-1 entries (a map's count doubled
     * would wrap) */
    check_hex("9b000000010000000000", 0, VMESH_ERR_PARSE, "declares 4294967296 entries");
    check_hex("bbffffffffffffffff0000", 0, VMESH_ERR_PARSE, "declares 18446744073709551615 entries");
    check_hex("bb800000000000000100", 0, VMESH_ERR_PARSE, "declares 9223372036854775809 entries");
    p = hx("bb80000000000000010000", &n);
    vmesh_cbor_init(&r, p, n, "test", 0);
    assert_int_equal(vmesh_cbor_read_map(&r, &count, UINT64_MAX, "m"), VMESH_ERR_PARSE);
    /* a map that fits the bytes left only as single items */
    check_hex("a2000000", 0, VMESH_ERR_PARSE, "declares 2 entries");
    /* tag chains cost depth */
    check_hex("c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c600", 0, VMESH_ERR_PARSE, "nested deeper than 16");
}

static void hostile_nesting(void **state)
{
    vmesh_buf b = {0};
    vmesh_cbor r;

    (void)state;
    /* exactly 16 levels (15 arrays around an integer) pass, 17 do not */
    for (int i = 0; i < 15; i++)
        assert_int_equal(vmesh_buf_append_u8(&b, 0x81), VMESH_OK);
    assert_int_equal(vmesh_buf_append_u8(&b, 0x00), VMESH_OK);
    vmesh_cbor_init(&r, b.data, b.len, "test", 0);
    assert_int_equal(vmesh_cbor_check(&r), VMESH_OK);
    vmesh_buf_reset(&b);
    for (int i = 0; i < 16; i++)
        assert_int_equal(vmesh_buf_append_u8(&b, 0x81), VMESH_OK);
    assert_int_equal(vmesh_buf_append_u8(&b, 0x00), VMESH_OK);
    vmesh_cbor_init(&r, b.data, b.len, "test", 0);
    assert_int_equal(vmesh_cbor_check(&r), VMESH_ERR_PARSE);
    expect_detail("nested deeper than 16 levels");
    r.max_depth = 17;
    assert_int_equal(vmesh_cbor_check(&r), VMESH_OK);
    /* a million levels, definite and indefinite: refused without recursion */
    vmesh_buf_reset(&b);
    for (int i = 0; i < 1000000; i++)
        assert_int_equal(vmesh_buf_append_u8(&b, i % 2 ? 0x9f : 0xa1), VMESH_OK);
    vmesh_cbor_init(&r, b.data, b.len, "test", VMESH_CBOR_INDEFINITE);
    r.max_depth = 1000; /* clamped to VMESH_CBOR_MAX_DEPTH */
    assert_int_equal(vmesh_cbor_check(&r), VMESH_ERR_PARSE);
    expect_detail("nested deeper than 64 levels");
    vmesh_buf_free(&b);
}

static void hostile_truncation(void **state)
{
    /* every proper prefix of a valid item is refused */
    static const char *const items[] = {"1b0000000100000000", "3a000124f7", "5903e8", "d9d9f700",
                                        "a3018201020261610380", "9f0102ff", "bf01025f4101ff03ff", "f93c00"};
    vmesh_cbor r;

    (void)state;
    for (size_t k = 0; k < sizeof(items) / sizeof(items[0]); k++) {
        size_t n;
        const uint8_t *p = hx(items[k], &n);
        uint8_t copy[64];

        memcpy(copy, p, n);
        if (k != 2) {
            vmesh_cbor_init(&r, copy, n, "test", VMESH_CBOR_INDEFINITE);
            if (vmesh_cbor_check(&r) != VMESH_OK)
                fail_msg("%s: %s", items[k], vmesh_err_detail());
        }
        for (size_t len = 0; len < n; len++) {
            vmesh_cbor_init(&r, copy, len, "test", VMESH_CBOR_INDEFINITE);
            if (vmesh_cbor_check(&r) != VMESH_ERR_PARSE)
                fail_msg("%s cut to %zu bytes was accepted", items[k], len);
        }
    }
    check_hex("", 0, VMESH_ERR_PARSE, "truncated CBOR at offset 0");
    check_hex("19", 0, VMESH_ERR_PARSE, "the head needs 2 more bytes");
}

static void hostile_codes(void **state)
{
    (void)state;
    /* reserved additional information, misplaced 31, bad simple values */
    check_hex("1c", 0, VMESH_ERR_PARSE, "reserved additional information 28");
    check_hex("5d", 0, VMESH_ERR_PARSE, "reserved additional information 29");
    check_hex("fe", 0, VMESH_ERR_PARSE, "reserved additional information 30");
    check_hex("1f", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "invalid additional information 31");
    check_hex("3f", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "invalid additional information 31");
    check_hex("df00", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "invalid additional information 31");
    check_hex("f810", 0, VMESH_ERR_PARSE, "invalid simple value");
    check_hex("f820", 0, VMESH_OK, NULL);
    check_hex("ff", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "unexpected break");
    check_hex("8101ff", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "trailing");
    check_hex("810102", 0, VMESH_ERR_PARSE, "1 trailing bytes after the CBOR item");
}

static void indefinite_lengths(void **state)
{
    vmesh_cbor r, inner;
    uint64_t count = 0, v = 0;
    size_t n;
    const uint8_t *p;

    (void)state;
    /* refused unless the cursor allows them; never on a deterministic one */
    check_hex("9f01ff", 0, VMESH_ERR_PARSE, "indefinite-length array at offset 0 is not allowed here");
    check_hex("bf0101ff", 0, VMESH_ERR_PARSE, "indefinite-length map");
    check_hex("5f4101ff", 0, VMESH_ERR_PARSE, "indefinite-length byte string");
    check_hex("9f01ff", VMESH_CBOR_INDEFINITE | VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, "indefinite-length");
    check_hex("9f01ff", VMESH_CBOR_INDEFINITE, VMESH_OK, NULL);
    check_hex("9f9f01ff820203ff", VMESH_CBOR_INDEFINITE, VMESH_OK, NULL);
    check_hex("5f42010243030405ff", VMESH_CBOR_INDEFINITE, VMESH_OK, NULL);
    check_hex("7f6161ff", VMESH_CBOR_INDEFINITE, VMESH_OK, NULL);
    /* §3.2.3: chunks of the same type, themselves definite */
    check_hex("5f6161ff", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "bad chunk");
    check_hex("5f5f4101ffff", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "bad chunk");
    check_hex("5f01ff", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "bad chunk");
    /* a map's break may not follow a key */
    check_hex("bf01ff", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "key without a value");
    check_hex("9f01", VMESH_CBOR_INDEFINITE, VMESH_ERR_PARSE, "truncated");
    /* enter: the same inner cursor for both length forms */
    p = hx("bf010203040506ff00", &n);
    vmesh_cbor_init(&r, p, n, "test", VMESH_CBOR_INDEFINITE);
    assert_int_equal(vmesh_cbor_enter(&r, VMESH_CBOR_MAP, &inner, &count, 2, "m"), VMESH_ERR_TOO_LARGE);
    assert_int_equal(r.off, 0);
    assert_int_equal(vmesh_cbor_enter(&r, VMESH_CBOR_MAP, &inner, &count, 3, "m"), VMESH_OK);
    assert_true(count == 3);
    assert_int_equal(inner.n, 6);
    assert_int_equal(r.off, 8);
    for (uint64_t i = 0; i < 2 * count; i++) {
        assert_int_equal(vmesh_cbor_read_uint(&inner, &v, "x"), VMESH_OK);
        assert_true(v == i + 1);
    }
    assert_int_equal(vmesh_cbor_end(&inner, "m"), VMESH_OK);
    p = hx("a3010203040506", &n);
    vmesh_cbor_init(&r, p, n, "test", 0);
    assert_int_equal(vmesh_cbor_enter(&r, VMESH_CBOR_MAP, &inner, &count, 3, "m"), VMESH_OK);
    assert_true(count == 3);
    assert_int_equal(inner.n, 6);
    assert_true(vmesh_cbor_at_end(&r));
    /* ... but the definite-only reads still refuse the indefinite form */
    p = hx("9f01ff", &n);
    vmesh_cbor_init(&r, p, n, "test", VMESH_CBOR_INDEFINITE);
    assert_int_equal(vmesh_cbor_read_array(&r, &count, 10, "a"), VMESH_ERR_PARSE);
    expect_detail("a at offset 0 is an indefinite-length array");
}

static void deterministic(void **state)
{
    vmesh_buf b = {0};
    vmesh_cbor r;

    (void)state;
    /* non-shortest heads: accepted by a plain cursor, refused otherwise */
    static const char *const long_forms[] = {"1817", "1900ff", "1a0000ffff", "1b00000000ffffffff", "3800",
                                             "5800", "7800", "9800", "b800", "d800f6"};
    for (size_t i = 0; i < sizeof(long_forms) / sizeof(long_forms[0]); i++) {
        check_hex(long_forms[i], 0, VMESH_OK, NULL);
        check_hex(long_forms[i], VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, "not in its shortest form");
    }
    check_hex("f93c00", VMESH_CBOR_DETERMINISTIC, VMESH_OK, NULL); /* floats are not judged */
    /* key order: bytewise on the encodings, no duplicates, at any depth */
    check_hex("a3010002000a00", VMESH_CBOR_DETERMINISTIC, VMESH_OK, NULL);
    check_hex("a20a002000", VMESH_CBOR_DETERMINISTIC, VMESH_OK, NULL);   /* 10 before -1 */
    check_hex("a2181800190100", VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, NULL); /* bad value */
    check_hex("a2020001", VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, "declares 2 entries");
    check_hex("a2020001f9", VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, "truncated");
    check_hex("a202000100", VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, "not in deterministic order");
    check_hex("a202000100", 0, VMESH_OK, NULL);
    check_hex("a201000100", VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, "duplicate map key at offset 3");
    check_hex("a2616100616100", VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, "duplicate");
    check_hex("a26161000100", VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, "not in deterministic order");
    check_hex("a2616100626161f6", VMESH_CBOR_DETERMINISTIC, VMESH_OK, NULL); /* "a" before "aa" */
    check_hex("81a2020001f6", VMESH_CBOR_DETERMINISTIC, VMESH_ERR_PARSE, "offset 4");
    /* the writer's output passes the check */
    assert_int_equal(vmesh_cbor_put_map(&b, 3), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_int(&b, 10), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_uint(&b, 300), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_int(&b, 2394), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_bstr(&b, "x", 1), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_int(&b, -75000), VMESH_OK);
    assert_int_equal(vmesh_cbor_put_text(&b, "y"), VMESH_OK);
    vmesh_cbor_init(&r, b.data, b.len, "test", VMESH_CBOR_DETERMINISTIC);
    assert_int_equal(vmesh_cbor_check(&r), VMESH_OK);
    vmesh_buf_free(&b);
}

static void utf8(void **state)
{
    static const char *const bad[] = {
        "c080",     /* overlong NUL */
        "e08080",   /* overlong */
        "f0808080", /* overlong */
        "eda080",   /* surrogate U+D800 */
        "f4908080", /* beyond U+10FFFF */
        "f8",       /* no 5-byte forms */
        "80",       /* a lone continuation byte */
        "e282",     /* cut short */
        "c3",       /* cut short */
        "c328",     /* bad continuation */
    };
    static const char *const good[] = {"", "41", "c3a9", "e282ac", "f09f9880", "f48fbfbf", "efbfbf"};
    char text[32];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n;
        const uint8_t *p = hx(bad[i], &n);
        vmesh_cbor r;
        uint8_t enc[16];
        const char *t;

        if (vmesh_utf8_valid(p, n))
            fail_msg("%s accepted as UTF-8", bad[i]);
        enc[0] = (uint8_t)(0x60 | n);
        memcpy(enc + 1, p, n);
        vmesh_cbor_init(&r, enc, n + 1, "test", 0);
        assert_int_equal(vmesh_cbor_read_tstr(&r, 16, &t, &n, "name"), VMESH_ERR_PARSE);
        expect_detail("name is not valid UTF-8");
        assert_int_equal(r.off, 0);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        size_t n;
        const uint8_t *p = hx(good[i], &n);

        snprintf(text, sizeof(text), "%s", good[i]);
        if (!vmesh_utf8_valid(p, n))
            fail_msg("%s refused as UTF-8", text);
    }
    /* NUL is UTF-8 but never accepted in a text string */
    {
        vmesh_cbor r;
        const char *t;
        size_t n;

        assert_true(vmesh_utf8_valid((const uint8_t *)"a\0b", 3));
        vmesh_cbor_init(&r, (const uint8_t *)"\x63" "a\0b", 4, "test", 0);
        assert_int_equal(vmesh_cbor_read_tstr(&r, 16, &t, &n, "name"), VMESH_ERR_PARSE);
        expect_detail("NUL");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writer_shortest_heads), cmocka_unit_test(reader_values),
        cmocka_unit_test(hostile_lengths),       cmocka_unit_test(hostile_nesting),
        cmocka_unit_test(hostile_truncation),    cmocka_unit_test(hostile_codes),
        cmocka_unit_test(indefinite_lengths),    cmocka_unit_test(deterministic),
        cmocka_unit_test(utf8),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
