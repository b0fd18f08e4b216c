/* Unit tests of lib/core/report.c: findings, status, JSON and Nagios output.
 * */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "mailssl.h"

START_TEST(empty_report_is_ok)
{
    mailssl_report *r = mailssl_report_new();
    char *s;

    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(mailssl_report_count(r), 0);
    ck_assert_int_eq(mailssl_report_status(r), MAILSSL_SEVERITY_OK);
    s = mailssl_report_json(r);
    ck_assert_str_eq(s, "[]");
    mailssl_free(s);
    s = mailssl_report_nagios(r, NULL);
    ck_assert_str_eq(s, "MAILSSL OK - no findings");
    mailssl_free(s);
    mailssl_report_free(r);
}
END_TEST

START_TEST(findings_keep_order_and_fields)
{
    mailssl_report *r = mailssl_report_new();

    ck_assert_int_eq(mailssl_report_add(r, MAILSSL_CODE_CERT_EXPIRING,
                                        MAILSSL_SEVERITY_WARNING, 0, NULL,
                                        NULL, "expires in 12 days"),
                     0);
    ck_assert_int_eq(mailssl_report_add(r, MAILSSL_CODE_NO_BINDING,
                                        MAILSSL_SEVERITY_CRITICAL,
                                        MAILSSL_NO_CERT, "listener",
                                        "imaps 192.0.2.10 993", "nothing"),
                     1);
    ck_assert_uint_eq(mailssl_report_count(r), 2);
    ck_assert_int_eq(mailssl_report_code(r, 0), MAILSSL_CODE_CERT_EXPIRING);
    ck_assert_int_eq(mailssl_report_severity(r, 1), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), 0);
    ck_assert_int_eq(mailssl_report_cert_index(r, 1), MAILSSL_NO_CERT);
    ck_assert_str_eq(mailssl_report_message(r, 0), "expires in 12 days");
    ck_assert_ptr_null(mailssl_report_context(r, 0));
    ck_assert_str_eq(mailssl_report_context_kind(r, 1), "listener");
    ck_assert_str_eq(mailssl_report_context(r, 1), "imaps 192.0.2.10 993");
    ck_assert_int_eq(mailssl_report_status(r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_find(r, MAILSSL_CODE_NO_BINDING, 0), 1);
    ck_assert_int_eq(mailssl_report_find(r, MAILSSL_CODE_NO_BINDING, 2),
                     MAILSSL_ERR_NOT_FOUND);
    /* out of range */
    ck_assert_int_eq(mailssl_report_code(r, 2), MAILSSL_ERR_INVALID);
    ck_assert_ptr_null(mailssl_report_message(r, 2));
    mailssl_report_clear(r);
    ck_assert_uint_eq(mailssl_report_count(r), 0);
    mailssl_report_free(r);
}
END_TEST

START_TEST(status_ranks_critical_over_unknown)
{
    mailssl_report *r = mailssl_report_new();

    mailssl_report_add(r, MAILSSL_CODE_TLS_ERROR, MAILSSL_SEVERITY_UNKNOWN,
                       MAILSSL_NO_CERT, NULL, NULL, "u");
    ck_assert_int_eq(mailssl_report_status(r), MAILSSL_SEVERITY_UNKNOWN);
    mailssl_report_add(r, MAILSSL_CODE_CERT_EXPIRED, MAILSSL_SEVERITY_CRITICAL,
                       0, NULL, NULL, "c");
    ck_assert_int_eq(mailssl_report_status(r), MAILSSL_SEVERITY_CRITICAL);
    mailssl_report_add(r, MAILSSL_CODE_CERT_EXPIRING, MAILSSL_SEVERITY_WARNING,
                       0, NULL, NULL, "w");
    ck_assert_int_eq(mailssl_report_status(r), MAILSSL_SEVERITY_CRITICAL);
    mailssl_report_free(r);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    mailssl_report *r = mailssl_report_new();

    ck_assert_int_eq(mailssl_report_add(NULL, 0, 0, -1, NULL, NULL, "m"),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_report_add(r, 31, 0, -1, NULL, NULL, "m"),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_report_add(r, 0, 4, -1, NULL, NULL, "m"),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_report_add(r, 0, 0, -2, NULL, NULL, "m"),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_report_add(r, 0, 0, -1, NULL, NULL, NULL),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_report_add(r, 0, 0, -1, "listener", NULL, "m"),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_report_add(r, 0, 0, -1, "Bad Key", "x", "m"),
                     MAILSSL_ERR_INVALID);
    ck_assert_uint_eq(mailssl_report_count(r), 0);
    ck_assert_int_eq(mailssl_report_status(NULL), MAILSSL_ERR_INVALID);
    ck_assert_ptr_null(mailssl_report_json(NULL));
    ck_assert_ptr_null(mailssl_report_nagios(NULL, NULL));
    mailssl_report_free(NULL);
    mailssl_report_free(r);
}
END_TEST

START_TEST(json_escapes_hostile_text)
{
    mailssl_report *r = mailssl_report_new();
    char *s;

    mailssl_report_add(r, MAILSSL_CODE_STARTTLS_REFUSED,
                       MAILSSL_SEVERITY_CRITICAL, MAILSSL_NO_CERT, "binding",
                       "a.conf:3",
                       "454 \"no\"\\\r\n\x01\xff\xc3\xa9 tab\t");
    s = mailssl_report_json(r);
    ck_assert_str_eq(s, "[{\"code\":\"starttls-refused\",\"severity\":"
                        "\"critical\",\"message\":\"454 \\\"no\\\"\\\\\\r\\n"
                        "\\u0001\\u00ff\xc3\xa9 tab\\t\",\"binding\":"
                        "\"a.conf:3\"}]");
    mailssl_free(s);
    mailssl_report_free(r);
}
END_TEST

START_TEST(nagios_line_worst_first_single_line)
{
    mailssl_report *r = mailssl_report_new();
    char *s;

    mailssl_report_add(r, MAILSSL_CODE_CERT_EXPIRING, MAILSSL_SEVERITY_WARNING,
                       0, NULL, NULL, "expires soon");
    mailssl_report_add(r, MAILSSL_CODE_CERT_WEAK_KEY, MAILSSL_SEVERITY_CRITICAL,
                       0, NULL, NULL, "RSA 1024 | bits\nsecond line");
    s = mailssl_report_nagios(r, "IMAPS");
    ck_assert_str_eq(s, "IMAPS CRITICAL - cert-weak-key: RSA 1024 / bits "
                        "second line; cert-expiring: expires soon");
    mailssl_free(s);
    mailssl_report_free(r);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        empty_report_is_ok, findings_keep_order_and_fields,
        status_ranks_critical_over_unknown, bad_arguments_are_refused,
        json_escapes_hostile_text, nagios_line_worst_first_single_line,
        NULL};

    return check_main("report", "report", NULL, tests);
}
