/* Unit tests for the epoch bell: signing, verification, the two-tick view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmesh/rvp.h"

static void sign_verify(void **state)
{
    vmesh_key *k = NULL, *other = NULL;
    vmesh_bell b, got;
    vmesh_buf jws = {0};

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &other), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("rvp.example", 41, 30, &b), VMESH_OK);
    assert_int_equal(b.id, 42);
    assert_int_equal(b.valid_until - b.issued_at, 60);
    assert_int_equal(vmesh_rvp_bell_sign(&b, k, &jws), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, k, b.issued_at, &got), VMESH_OK);
    assert_int_equal(got.id, 42);
    assert_string_equal(got.name, "rvp.example");
    assert_memory_equal(got.nonce, b.nonce, 32);
    assert_int_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, other, b.issued_at, &got), VMESH_ERR_SIGNATURE);
    assert_int_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, k, b.valid_until, &got), VMESH_ERR_EXPIRED);
    assert_non_null(strstr(vmesh_err_detail(), "expired"));
    assert_int_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, k, b.issued_at - 1000, &got), VMESH_ERR_EXPIRED);
    jws.data[jws.len / 2] ^= 1;
    assert_int_not_equal(vmesh_rvp_bell_verify((char *)jws.data, jws.len, k, b.issued_at, &got), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("", 1, 30, &b), VMESH_ERR_ARG);
    assert_int_equal(vmesh_rvp_bell_next("x", 1, 0, &b), VMESH_ERR_ARG);
    vmesh_buf_free(&jws);
    vmesh_crypto_key_free(k);
    vmesh_crypto_key_free(other);
}

static void view(void **state)
{
    vmesh_key *k = NULL;
    vmesh_bell b1, b2, b3, cur;
    vmesh_buf j1 = {0}, j2 = {0}, j3 = {0};
    vmesh_bell_view *v = NULL;
    int64_t now;

    (void)state;
    assert_int_equal(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("b", 0, 60, &b1), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("b", 1, 60, &b2), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_next("b", 2, 60, &b3), VMESH_OK);
    now = b1.issued_at;
    assert_int_equal(vmesh_rvp_bell_sign(&b1, k, &j1), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(&b2, k, &j2), VMESH_OK);
    assert_int_equal(vmesh_rvp_bell_sign(&b3, k, &j3), VMESH_OK);
    assert_int_equal(vmesh_bell_view_new(k, &v), VMESH_OK);
    assert_int_equal(vmesh_bell_view_current(v, &cur), VMESH_ERR_NOT_FOUND);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_ERR_NOT_FOUND);
    assert_int_equal(vmesh_bell_view_update(v, (char *)j1.data, j1.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_OK);
    assert_int_equal(vmesh_bell_view_update(v, (char *)j2.data, j2.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_generation(v), 2);
    assert_int_equal(vmesh_bell_view_update(v, (char *)j2.data, j2.len, now), VMESH_OK); /* same tick: no-op */
    assert_int_equal(vmesh_bell_view_generation(v), 2);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_OK); /* previous tick still fresh */
    assert_int_equal(vmesh_bell_view_check(v, 2, b2.nonce, 32, now, NULL), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 2, b1.nonce, 32, now, NULL), VMESH_ERR_MISMATCH);
    assert_int_equal(vmesh_bell_view_update(v, (char *)j1.data, j1.len, now), VMESH_ERR_POLICY); /* rollback */
    assert_non_null(strstr(vmesh_err_detail(), "rollback"));
    assert_int_equal(vmesh_bell_view_update(v, (char *)j3.data, j3.len, now), VMESH_OK);
    assert_int_equal(vmesh_bell_view_check(v, 1, b1.nonce, 32, now, NULL), VMESH_ERR_EXPIRED); /* stale epoch */
    assert_non_null(strstr(vmesh_err_detail(), "stale epoch"));
    assert_int_equal(vmesh_bell_view_current(v, &cur), VMESH_OK);
    assert_int_equal(cur.id, 3);
    vmesh_bell_view_free(v);
    vmesh_buf_free(&j1);
    vmesh_buf_free(&j2);
    vmesh_buf_free(&j3);
    vmesh_crypto_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sign_verify),
        cmocka_unit_test(view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
