/* Unit tests for the AR cache: hits only under the same RV and epoch generations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmesh/verifier.h"

static void cache(void **state)
{
    vmesh_ar_cache *c = NULL;
    vmesh_ar_entry e = {0}, got;
    uint8_t k1[32], k2[32], k3[32];
    uint64_t hits, misses;
    const uint8_t ev[] = "evidence", n1[] = "nonce-1", n2[] = "nonce-2";

    (void)state;
    assert_int_equal(vmesh_ar_cache_new(0, &c), VMESH_ERR_ARG);
    assert_int_equal(vmesh_ar_cache_new(64, &c), VMESH_OK);
    vmesh_ar_cache_key("application/x", n1, sizeof(n1), ev, sizeof(ev), k1);
    vmesh_ar_cache_key("application/x", n2, sizeof(n2), ev, sizeof(ev), k2);
    vmesh_ar_cache_key("application/y", n1, sizeof(n1), ev, sizeof(ev), k3);
    assert_memory_not_equal(k1, k2, 32);
    assert_memory_not_equal(k1, k3, 32);
    e.tv.v[VMESH_TV_EXECUTABLES] = 2;
    e.status = VMESH_TIER_AFFIRMING;
    assert_false(vmesh_ar_cache_get(c, k1, 1, 1, &got));
    vmesh_ar_cache_put(c, k1, 1, 1, &e);
    assert_true(vmesh_ar_cache_get(c, k1, 1, 1, &got));
    assert_int_equal(got.tv.v[VMESH_TV_EXECUTABLES], 2);
    assert_false(vmesh_ar_cache_get(c, k2, 1, 1, &got));
    assert_false(vmesh_ar_cache_get(c, k1, 2, 1, &got)); /* new RV snapshot */
    assert_false(vmesh_ar_cache_get(c, k1, 1, 1, &got)); /* and the entry is gone */
    vmesh_ar_cache_put(c, k1, 1, 1, &e);
    assert_false(vmesh_ar_cache_get(c, k1, 1, 2, &got)); /* new epoch tick */
    vmesh_ar_cache_put(c, k1, 1, 1, &e);
    vmesh_ar_cache_clear(c);
    assert_false(vmesh_ar_cache_get(c, k1, 1, 1, &got));
    vmesh_ar_cache_stats(c, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 6);
    vmesh_ar_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(cache)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
