/* Unit tests of the deinit hooks of lib/core/base.c (mailssl__at_deinit): the
 * files above base.c register what the last mailssl_deinit() frees, so
 * that base.c calls nothing above it. The hooks are internal (hidden in
 * the shared object): like the dialogue suite, this one compiles
 * lib/core/base.c
 * and lib/core/buf.c into the test. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "internal.h"

/* Which hook ran, in order. */
static char ran[64];

static void note(char c)
{
    size_t n = strlen(ran);
    if (n + 1 < sizeof ran) {
        ran[n] = c;
        ran[n + 1] = '\0';
    }
}
static void hook_a(void) { note('a'); }
static void hook_b(void) { note('b'); }

/* The hook table is process-wide and hooks stay registered: each test
 * relies on Check running it in a process of its own (its default fork
 * mode, as for every suite here). */
START_TEST(runs_at_the_last_deinit_only)
{
    ran[0] = '\0';
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    ck_assert_int_eq(mailssl__at_deinit(hook_a), 0);
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    mailssl_deinit();
    ck_assert_str_eq(ran, "");
    mailssl_deinit();
    ck_assert_str_eq(ran, "a");
    /* one deinit too many runs nothing */
    mailssl_deinit();
    ck_assert_str_eq(ran, "a");
    /* still registered for the next init/deinit cycle */
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    mailssl_deinit();
    ck_assert_str_eq(ran, "aa");
}
END_TEST

START_TEST(last_registered_runs_first_and_once)
{
    ran[0] = '\0';
    ck_assert_int_eq(mailssl__at_deinit(hook_a), 0);
    ck_assert_int_eq(mailssl__at_deinit(hook_b), 0);
    /* once more changes nothing */
    ck_assert_int_eq(mailssl__at_deinit(hook_a), 0);
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    mailssl_deinit();
    ck_assert_str_eq(ran, "ba");
}
END_TEST

/* Distinct functions for the slots (8 in all). */
static void h0(void) { note('0'); }
static void h1(void) { note('1'); }
static void h2(void) { note('2'); }
static void h3(void) { note('3'); }
static void h4(void) { note('4'); }
static void h5(void) { note('5'); }
static void h6(void) { note('6'); }

START_TEST(bad_input_and_a_full_table)
{
    static void (*const hooks[])(void) = {hook_a, hook_b, h0, h1,
                                          h2,     h3,     h4, h5};
    size_t i;

    ck_assert_int_eq(mailssl__at_deinit(NULL), MAILSSL_ERR_INVALID);
    for (i = 0; i < sizeof hooks / sizeof hooks[0]; i++)
        ck_assert_int_eq(mailssl__at_deinit(hooks[i]), 0);
    ck_assert_int_eq(mailssl__at_deinit(h6), MAILSSL_ERR_NOMEM);
    /* a registered one is still accepted when the table is full */
    ck_assert_int_eq(mailssl__at_deinit(hook_b), 0);
    ran[0] = '\0';
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    mailssl_deinit();
    ck_assert_str_eq(ran, "543210ba");
}
END_TEST

int main(void)
{
    const TTest *tests[] = {runs_at_the_last_deinit_only,
                            last_registered_runs_first_and_once,
                            bad_input_and_a_full_table, NULL};

    return check_main("init_hooks", "hooks", NULL, tests);
}
