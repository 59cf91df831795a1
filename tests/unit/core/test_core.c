/* Unit tests for the core module: buffers, codecs, time, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmesh/core.h"

static void buf_cap_is_enforced(void **state)
{
    vmesh_buf b;
    uint8_t x[32] = {0};

    (void)state;
    vmesh_buf_init(&b, 40);
    assert_int_equal(vmesh_buf_append(&b, x, 32), VMESH_OK);
    assert_int_equal(vmesh_buf_append(&b, x, 8), VMESH_OK);
    assert_int_equal(vmesh_buf_append(&b, x, 1), VMESH_ERR_TOO_LARGE);
    assert_int_equal(b.len, 40);
    assert_non_null(strstr(vmesh_err_detail(), "cap of 40"));
    assert_int_equal(vmesh_buf_reserve(&b, SIZE_MAX), VMESH_ERR_TOO_LARGE);
    vmesh_buf_free(&b);
    assert_null(b.data);
}

static void buf_printf_appends_within_the_cap(void **state)
{
    vmesh_buf b;

    (void)state;
    vmesh_buf_init(&b, 16);
    assert_int_equal(vmesh_buf_printf(&b, "%s=%d", "port", 8443), VMESH_OK);
    assert_int_equal(vmesh_buf_printf(&b, "%s", ""), VMESH_OK);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "port=8443", 9);
    assert_int_equal(b.data[b.len], 0); /* usable as a C string */
    /* 8 more would make 17 bytes, past the cap of 16: refused, nothing appended */
    assert_int_equal(vmesh_buf_printf(&b, ";%07u", 7u), VMESH_ERR_TOO_LARGE);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "port=8443", 9);
    assert_int_equal(vmesh_buf_printf(&b, ";%u", 7u), VMESH_OK);
    assert_int_equal(b.len, 11);
    vmesh_buf_free(&b);
}

static void hex_round_trip(void **state)
{
    vmesh_buf h = {0}, d = {0};
    const uint8_t in[] = {0x00, 0xde, 0xad, 0xbe, 0xef, 0xff};

    (void)state;
    assert_int_equal(vmesh_hex_encode(in, sizeof(in), &h), VMESH_OK);
    assert_string_equal((char *)h.data, "00deadbeefff");
    assert_int_equal(vmesh_hex_decode("00DEADbeefff", 12, &d), VMESH_OK);
    assert_memory_equal(d.data, in, sizeof(in));
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_hex_decode("abc", 3, &d), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_hex_decode("zz", 2, &d), VMESH_ERR_PARSE);
    vmesh_buf_free(&h);
    vmesh_buf_free(&d);
}

static void b64_vectors(void **state)
{
    /* RFC 4648 §10 test vectors. */
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};

    (void)state;
    for (size_t i = 0; i < 7; i++) {
        vmesh_buf e = {0}, u = {0}, d = {0}, d2 = {0};
        size_t n = strlen(plain[i]);
        assert_int_equal(vmesh_b64_encode((const uint8_t *)plain[i], n, &e), VMESH_OK);
        assert_int_equal(vmesh_b64url_encode((const uint8_t *)plain[i], n, &u), VMESH_OK);
        assert_int_equal(e.len, strlen(enc[i]));
        assert_int_equal(u.len, strlen(url[i]));
        if (n) {
            assert_memory_equal(e.data, enc[i], e.len);
            assert_memory_equal(u.data, url[i], u.len);
        }
        assert_int_equal(vmesh_b64_decode(enc[i], strlen(enc[i]), &d), VMESH_OK);
        assert_int_equal(vmesh_b64_decode(url[i], strlen(url[i]), &d2), VMESH_OK);
        assert_int_equal(d.len, n);
        assert_int_equal(d2.len, n);
        if (n) {
            assert_memory_equal(d.data, plain[i], n);
            assert_memory_equal(d2.data, plain[i], n);
        }
        vmesh_buf_free(&e);
        vmesh_buf_free(&u);
        vmesh_buf_free(&d);
        vmesh_buf_free(&d2);
    }
}

static void b64_refuses_garbage(void **state)
{
    vmesh_buf d = {0};

    (void)state;
    assert_int_equal(vmesh_b64_decode("Zm9v!", 5, &d), VMESH_ERR_PARSE);
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_b64_decode("Z", 1, &d), VMESH_ERR_PARSE);
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_b64_decode("Zh==", 4, &d), VMESH_ERR_PARSE); /* trailing bits */
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_b64_decode("Zg===", 5, &d), VMESH_ERR_PARSE);
    vmesh_buf_reset(&d);
    /* a bad character inside a full group of four, in the last 2 or 3,
     * padding in the middle; trailing bits of a 3-character end */
    assert_int_equal(vmesh_b64_decode("Zm!vYmFy", 8, &d), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "offset 2"));
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_b64_decode("Zm9vY\xff", 6, &d), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "offset 5"));
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_b64_decode("Zm9vY.E", 7, &d), VMESH_ERR_PARSE);
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_b64_decode("Zg==Zm9v", 8, &d), VMESH_ERR_PARSE);
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_b64_decode("Zm9=", 4, &d), VMESH_ERR_PARSE);
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_b64_decode("Zm9", 3, &d), VMESH_ERR_PARSE);
    vmesh_buf_free(&d);
}

/* Every length from 0 to 99 bytes of every byte value round-trips through
 * both alphabets, and decoding takes either alphabet's 62 and 63. */
static void b64_roundtrip_lengths(void **state)
{
    uint8_t p[100];
    vmesh_buf e = {0}, u = {0}, d = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)(i * 167 + 13);
    for (size_t n = 0; n <= sizeof(p); n++) {
        vmesh_buf_reset(&e);
        vmesh_buf_reset(&u);
        assert_int_equal(vmesh_b64_encode(p, n, &e), VMESH_OK);
        assert_int_equal(vmesh_b64url_encode(p, n, &u), VMESH_OK);
        vmesh_buf_reset(&d);
        assert_int_equal(vmesh_b64_decode((const char *)e.data, e.len, &d), VMESH_OK);
        assert_int_equal(d.len, n);
        assert_true(n == 0 || memcmp(d.data, p, n) == 0);
        vmesh_buf_reset(&d);
        assert_int_equal(vmesh_b64_decode((const char *)u.data, u.len, &d), VMESH_OK);
        assert_int_equal(d.len, n);
        assert_true(n == 0 || memcmp(d.data, p, n) == 0);
    }
    vmesh_buf_reset(&d);
    assert_int_equal(vmesh_b64_decode("+/-_", 4, &d), VMESH_OK);
    assert_int_equal(d.len, 3);
    assert_memory_equal(d.data, "\xfb\xff\xbf", 3);
    vmesh_buf_free(&e);
    vmesh_buf_free(&u);
    vmesh_buf_free(&d);
}

static void rfc3339(void **state)
{
    int64_t t;

    (void)state;
    assert_int_equal(vmesh_time_parse_rfc3339("2022-09-24T00:00:00Z", &t), VMESH_OK);
    assert_int_equal(t, 1663977600);
    assert_int_equal(vmesh_time_parse_rfc3339("2022-09-24T02:00:00+02:00", &t), VMESH_OK);
    assert_int_equal(t, 1663977600);
    assert_int_equal(vmesh_time_parse_rfc3339("2022-09-24", &t), VMESH_OK);
    assert_int_equal(t, 1663977600);
    assert_int_equal(vmesh_time_parse_rfc3339("2022-13-24T00:00:00Z", &t), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_time_parse_rfc3339("yesterday", &t), VMESH_ERR_PARSE);
    vmesh_time_pin(1000);
    assert_int_equal(vmesh_time_now(), 1000);
    vmesh_time_pin(0);
    assert_true(vmesh_time_now() > 1700000000);
}

static void err_wrap(void **state)
{
    (void)state;
    assert_int_equal(vmesh_err_set(VMESH_ERR_PARSE, "bad byte at %d", 3), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_err_wrap(VMESH_ERR_PARSE, "reading %s", "x.cbor"), VMESH_ERR_PARSE);
    assert_string_equal(vmesh_err_detail(), "reading x.cbor: bad byte at 3");
    assert_string_equal(vmesh_err_name(VMESH_ERR_SIGNATURE), "bad signature");
}

static void file_round_trip(void **state)
{
    char path[] = "/tmp/vmesh-core-test-XXXXXX";
    vmesh_buf b = {0};
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(vmesh_file_write(path, "hello", 5, 0600), VMESH_OK);
    assert_int_equal(vmesh_file_read(path, 0, &b), VMESH_OK);
    assert_int_equal(b.len, 5);
    assert_string_equal((char *)b.data, "hello");
    assert_int_equal(vmesh_file_read(path, 4, &b), VMESH_ERR_TOO_LARGE);
    unlink(path);
    assert_int_equal(vmesh_file_read(path, 0, &b), VMESH_ERR_IO);
    assert_non_null(strstr(vmesh_err_detail(), path));
    vmesh_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_cap_is_enforced), cmocka_unit_test(buf_printf_appends_within_the_cap), cmocka_unit_test(hex_round_trip),
        cmocka_unit_test(b64_vectors),         cmocka_unit_test(b64_refuses_garbage),
        cmocka_unit_test(b64_roundtrip_lengths),
        cmocka_unit_test(rfc3339),             cmocka_unit_test(err_wrap),
        cmocka_unit_test(file_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
