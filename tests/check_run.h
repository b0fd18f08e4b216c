/*
 * check_run.h - test helper: the end of every Check suite's main(). Runs
 * the suite (CK_RUN_CASE, CK_FORK and the other CK_* variables are read
 * by Check as usual), frees the runner, and returns the exit status.
 * Test code only.
 */
#ifndef MAILSSL_TEST_CHECK_RUN_H
#define MAILSSL_TEST_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* fork: CK_FORK_GETENV (Check's default: CK_FORK decides) or CK_NOFORK
 * for suites that keep counters across tests. */
static inline int check_run(Suite *s, enum fork_status fork)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_set_fork_status(sr, fork);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Rows in a static table. */
#define CHECK_COUNT(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* A loop test over a table (tcase_add_loop_test(tc, fn, 0,
 * CHECK_COUNT(table))): iteration _i gives row _i to runner, whose
 * assertion messages name the row. */
#define CHECK_TABLE_TEST(fn, runner, table)                                 \
    START_TEST(fn)                                                          \
    {                                                                       \
        runner(&(table)[_i]);                                               \
    }                                                                       \
    END_TEST

#endif
