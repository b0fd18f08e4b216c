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

/* The fixtures of a test case (NULL: none). */
struct check_fixture {
    void (*once)(void);     /* unchecked: once, in the runner's process */
    void (*once_end)(void);
    void (*each)(void);     /* checked: around each test, in its process */
    void (*each_end)(void);
    int timeout;            /* seconds; 0: CK_DEFAULT_TIMEOUT */
};

/* main() of a suite of one test case: the suite's and the test case's
 * names, its fixtures (fx may be NULL), its tests (NULL-terminated; the
 * test names are variables, so the list is built in main). */
static inline int check_main(const char *suite, const char *tcase,
                             const struct check_fixture *fx,
                             const TTest *const *tests)
{
    Suite *s = suite_create(suite);
    TCase *tc = tcase_create(tcase);

    if (fx && (fx->once || fx->once_end))
        tcase_add_unchecked_fixture(tc, fx->once, fx->once_end);
    if (fx && (fx->each || fx->each_end))
        tcase_add_checked_fixture(tc, fx->each, fx->each_end);
    if (fx && fx->timeout)
        tcase_set_timeout(tc, fx->timeout);
    for (; *tests; tests++)
        tcase_add_test(tc, *tests);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
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
