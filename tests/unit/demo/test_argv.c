/* Unit tests for the demo harness's command lines (demo_argv_add): words
 * split at the spaces of the format only, never inside a value; the known
 * conversions; overflow on too many words or an unknown conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "demo/demo.h"

static void words_and_values(void **state)
{
    demo_argv av = {0};

    (void)state;
    demo_argv_add(&av, "%s client  --connect %s:%u --id %d --message %s", "/usr/bin/vmesh", "198.18.0.12", 8443u,
                  -3, "GET / HTTP/1.0\r\n\r\n");
    demo_argv_add(&av, "--empty %s --pct 100%%", "");
    assert_false(av.overflow);
    assert_int_equal(av.n, 12);
    assert_string_equal(av.v[0], "/usr/bin/vmesh");
    assert_string_equal(av.v[1], "client");
    assert_string_equal(av.v[2], "--connect"); /* two spaces: no empty word */
    assert_string_equal(av.v[3], "198.18.0.12:8443");
    assert_string_equal(av.v[5], "-3");
    assert_string_equal(av.v[7], "GET / HTTP/1.0\r\n\r\n"); /* a value is never split */
    assert_string_equal(av.v[9], "");                      /* an empty value is a word */
    assert_string_equal(av.v[11], "100%");
    assert_null(av.v[12]);
    demo_argv_free(&av);
    assert_int_equal(av.n, 0);
    assert_null(av.v[0]);
}

static void a_path_with_spaces_stays_one_word(void **state)
{
    demo_argv av = {0};

    (void)state;
    demo_argv_add(&av, "%s proxy -c %s/pop-local.yaml", "/usr/bin/vmesh", "/tmp/my dir");
    assert_false(av.overflow);
    assert_int_equal(av.n, 4);
    assert_string_equal(av.v[3], "/tmp/my dir/pop-local.yaml");
    demo_argv_free(&av);
}

static void overflow_is_reported(void **state)
{
    demo_argv av = {0};

    (void)state;
    for (int i = 0; i < DEMO_MAX_ARGS; i++)
        demo_argv_add(&av, "w%d", i);
    assert_false(av.overflow);
    assert_int_equal(av.n, DEMO_MAX_ARGS);
    demo_argv_add(&av, "one-too-many");
    assert_true(av.overflow);
    assert_int_equal(av.n, DEMO_MAX_ARGS);
    assert_null(av.v[DEMO_MAX_ARGS]);
    demo_argv_free(&av);

    av.overflow = false;
    demo_argv_add(&av, "%x", 1u); /* valid printf, not a conversion the harness knows */
    assert_true(av.overflow);
    demo_argv_free(&av);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_and_values),
        cmocka_unit_test(a_path_with_spaces_stays_one_word),
        cmocka_unit_test(overflow_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
