/*
 * The scheme registry: every scheme by name, by any spelling of one of its
 * media types (the registered spelling is handed back), never by a prefix
 * or by a media type with an extra parameter; detection by content.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmesh/schemes.h"

static void by_name(void **state)
{
    size_t n = 0;
    const vmesh_evidence_scheme *const *all = vmesh_schemes_all(&n);

    (void)state;
    assert_true(n >= 6);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(vmesh_schemes_by_name(all[i]->name), all[i]);
        /* every registered media type parses under the rule and leads back here */
        for (size_t k = 0; all[i]->media_types[k] != NULL; k++) {
            char c[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1];
            const char *reg = NULL;
            assert_int_equal(vmesh_evidence_media_type_canon(all[i]->media_types[k], c), VMESH_OK);
            assert_ptr_equal(vmesh_schemes_by_media_type(c, &reg), all[i]);
            assert_ptr_equal(reg, all[i]->media_types[k]);
        }
        /* no two schemes claim the same media type */
        for (size_t j = 0; j < i; j++)
            for (size_t k = 0; all[i]->media_types[k] != NULL; k++)
                assert_int_equal(vmesh_evidence_media_type_find(all[i]->media_types[k], all[j]->media_types), -1);
    }
    /* a platform is named by its scheme or by its attester */
    assert_ptr_equal(vmesh_schemes_by_platform("psa-sim"), vmesh_schemes_by_name("psa"));
    assert_ptr_equal(vmesh_schemes_by_platform("psa"), vmesh_schemes_by_name("psa"));
    assert_ptr_equal(vmesh_schemes_by_platform("cca-sim"), vmesh_schemes_by_name("cca"));
    assert_ptr_equal(vmesh_schemes_by_platform("tpm2"), vmesh_schemes_by_name("tpm2"));
    assert_null(vmesh_schemes_by_platform("tpm2-sim"));
    assert_null(vmesh_schemes_by_platform(NULL));
    /* every attester describes its options, each key once */
    for (size_t i = 0; i < n; i++) {
        const vmesh_evidence_option *o = all[i]->attester_options;
        if (all[i]->attester_new == NULL)
            continue;
        assert_non_null(o);
        for (size_t k = 0; o[k].key != NULL; k++) {
            assert_non_null(o[k].arg);
            assert_non_null(o[k].help);
            for (size_t j = 0; j < k; j++) {
                assert_string_not_equal(o[j].key, o[k].key);
                assert_true(o[k].short_name == 0 || o[j].short_name != o[k].short_name);
            }
        }
    }
    assert_null(vmesh_schemes_by_name("ps"));
    assert_null(vmesh_schemes_by_name("PSA"));
    assert_null(vmesh_schemes_by_name(NULL));
}

static void by_media_type(void **state)
{
    const char *reg = NULL;
    const vmesh_evidence_scheme *psa = vmesh_schemes_by_name("psa");

    (void)state;
    assert_non_null(psa);
    assert_ptr_equal(vmesh_schemes_by_media_type("Application/Eat+CWT;EAT_PROFILE=\"tag:psacertified.org,2023:psa#tfm\"",
                                                 &reg),
                     psa);
    assert_string_equal(reg, psa->media_types[0]);
    assert_ptr_equal(vmesh_schemes_by_media_type("application/vnd.vmesh.tpm2-quote+cbor", NULL),
                     vmesh_schemes_by_name("tpm2"));
    reg = "unchanged";
    assert_null(vmesh_schemes_by_media_type("application/eat+cwt", &reg));
    assert_string_equal(reg, "unchanged");
    assert_null(vmesh_schemes_by_media_type("application/psa-attestation-token; v=2", NULL));
    assert_null(vmesh_schemes_by_media_type("application/psa-attestation-toke", NULL));
    assert_null(vmesh_schemes_by_media_type("application/psa-attestation-token\n", NULL));
    assert_null(vmesh_schemes_by_media_type("", NULL));
    assert_null(vmesh_schemes_by_media_type(NULL, NULL));
}

static void detect(void **state)
{
    static const uint8_t junk[] = {0xd2, 0x84, 0x00};

    (void)state;
    assert_null(vmesh_schemes_detect(junk, sizeof(junk)));
    assert_null(vmesh_schemes_detect(junk, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(by_name),
        cmocka_unit_test(by_media_type),
        cmocka_unit_test(detect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
