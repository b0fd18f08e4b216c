/* Unit tests of lib/core/base.c: version, init, errors, services, codes. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "mailssl.h"

START_TEST(version_matches_header)
{
    char expect[32];

    snprintf(expect, sizeof expect, "%d.%d.%d", MAILSSL_VERSION_MAJOR,
             MAILSSL_VERSION_MINOR, MAILSSL_VERSION_PATCH);
    ck_assert_str_eq(mailssl_version(), expect);
    ck_assert_uint_eq(mailssl_version_num(), MAILSSL_VERSION_NUM);
    ck_assert_uint_eq(MAILSSL_VERSION_NUM >> 16, MAILSSL_VERSION_MAJOR);
}
END_TEST

START_TEST(init_is_reference_counted)
{
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    mailssl_deinit();
    mailssl_deinit();
    /* one deinit too many does nothing */
    mailssl_deinit();
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    mailssl_deinit();
}
END_TEST

static const int all_errors[] = {
    MAILSSL_ERR_INVALID,     MAILSSL_ERR_NOMEM,     MAILSSL_ERR_IO,
    MAILSSL_ERR_SYNTAX,      MAILSSL_ERR_CREDENTIAL, MAILSSL_ERR_DUPLICATE,
    MAILSSL_ERR_NOT_FOUND,   MAILSSL_ERR_TLS,       MAILSSL_ERR_STATE,
    MAILSSL_ERR_UNSUPPORTED, MAILSSL_ERR_NOT_INITIALIZED, MAILSSL_ERR_TOO_LONG,
    MAILSSL_WANT_POLLIN,     MAILSSL_WANT_POLLOUT,
};

START_TEST(error_codes_have_distinct_messages)
{
    size_t i, j, n = sizeof all_errors / sizeof all_errors[0];

    for (i = 0; i < n; i++) {
        const char *m = mailssl_strerror(all_errors[i]);
        ck_assert_ptr_nonnull(m);
        ck_assert_int_lt(all_errors[i], 0);
        ck_assert_str_ne(m, "unknown error");
        for (j = 0; j < i; j++) {
            ck_assert_int_ne(all_errors[i], all_errors[j]);
            ck_assert_str_ne(m, mailssl_strerror(all_errors[j]));
        }
    }
    ck_assert_str_eq(mailssl_strerror(MAILSSL_OK), "success");
    ck_assert_str_eq(mailssl_strerror(-9999), "unknown error");
    ck_assert_str_eq(mailssl_strerror(12345), "unknown error");
}
END_TEST

/* SPEC.md section 2, written out independently of the library's table. */
static const struct {
    const char *name;
    int constant;
    int port;
    int implicit;
} spec_services[] = {
    {"smtp", MAILSSL_SERVICE_SMTP, 25, 0},
    {"submission", MAILSSL_SERVICE_SUBMISSION, 587, 0},
    {"smtps", MAILSSL_SERVICE_SMTPS, 465, 1},
    {"lmtp", MAILSSL_SERVICE_LMTP, 24, 0},
    {"imap", MAILSSL_SERVICE_IMAP, 143, 0},
    {"imaps", MAILSSL_SERVICE_IMAPS, 993, 1},
    {"pop3", MAILSSL_SERVICE_POP3, 110, 0},
    {"pop3s", MAILSSL_SERVICE_POP3S, 995, 1},
    {"sieve", MAILSSL_SERVICE_SIEVE, 4190, 0},
};

START_TEST(service_table_row)
{
    int i = _i;
    char upper[32];
    size_t k;

    ck_assert_int_eq(mailssl_service_from_name(spec_services[i].name),
                     spec_services[i].constant);
    ck_assert_str_eq(mailssl_service_name(spec_services[i].constant),
                     spec_services[i].name);
    ck_assert_int_eq(mailssl_service_default_port(spec_services[i].constant),
                     spec_services[i].port);
    ck_assert_int_eq(mailssl_service_implicit_tls(spec_services[i].constant),
                     spec_services[i].implicit);
    for (k = 0; spec_services[i].name[k]; k++)
        upper[k] = (char)toupper((unsigned char)spec_services[i].name[k]);
    upper[k] = '\0';
    ck_assert_int_eq(mailssl_service_from_name(upper),
                     spec_services[i].constant);
}
END_TEST

START_TEST(service_alias_unknown_and_null)
{
    ck_assert_int_eq(mailssl_service_from_name("submissions"),
                     MAILSSL_SERVICE_SMTPS);
    ck_assert_str_eq(mailssl_service_name(MAILSSL_SERVICE_SMTPS), "smtps");
    ck_assert_int_eq(mailssl_service_from_name("*"), MAILSSL_SERVICE_ANY);
    ck_assert_str_eq(mailssl_service_name(MAILSSL_SERVICE_ANY), "*");
    ck_assert_int_eq(mailssl_service_from_name("http"), MAILSSL_ERR_NOT_FOUND);
    ck_assert_int_eq(mailssl_service_from_name(""), MAILSSL_ERR_NOT_FOUND);
    ck_assert_int_eq(mailssl_service_from_name("imap "), MAILSSL_ERR_NOT_FOUND);
    ck_assert_int_eq(mailssl_service_from_name(NULL), MAILSSL_ERR_INVALID);
    ck_assert_ptr_null(mailssl_service_name(-1));
    ck_assert_ptr_null(mailssl_service_name(MAILSSL_SERVICE_MAX + 1));
    ck_assert_int_eq(mailssl_service_default_port(MAILSSL_SERVICE_ANY),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_service_default_port(42), MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_service_implicit_tls(-5), MAILSSL_ERR_INVALID);
}
END_TEST

/* SPEC.md section 4 strings. */
static const char *const spec_codes[] = {
    "ok", "resolve-failed", "connect-refused", "connect-timeout",
    "connect-failed", "greeting-timeout", "greeting-rejected",
    "greeting-malformed", "starttls-timeout", "starttls-not-offered",
    "starttls-refused", "starttls-preauth", "starttls-injection",
    "protocol-error", "tls-closed-during-handshake", "tls-alert",
    "tls-no-common-parameters", "tls-timeout", "tls-error", "cert-untrusted",
    "cert-expired", "cert-not-yet-valid", "cert-name-mismatch",
    "cert-revoked", "cert-expiring", "post-tls-failed", "cert-weak-key",
    "cert-weak-signature", "cert-bad-usage", "cert-chain-incomplete",
    "cert-chain-order", "cert-self-signed", "key-cert-mismatch",
    "ocsp-staple-missing", "dane-mismatch", "no-binding",
};

START_TEST(codes_round_trip)
{
    size_t i, n = sizeof spec_codes / sizeof spec_codes[0];
    int c;

    for (i = 0; i < n; i++) {
        c = mailssl_code_from_name(spec_codes[i]);
        ck_assert_msg(c >= 0, "%s has no number", spec_codes[i]);
        ck_assert_str_eq(mailssl_code_name(c), spec_codes[i]);
    }
    ck_assert_int_eq(mailssl_code_from_name("CERT-EXPIRED"),
                     MAILSSL_ERR_NOT_FOUND);
    ck_assert_int_eq(mailssl_code_from_name(NULL), MAILSSL_ERR_INVALID);
    ck_assert_ptr_null(mailssl_code_name(-1));
    ck_assert_ptr_null(mailssl_code_name(30)); /* a gap in the numbering */
    ck_assert_ptr_null(mailssl_code_name(MAILSSL_CODE_MAX + 1));
    ck_assert_int_eq(MAILSSL_CODE_CERT_EXPIRED, 20);
    ck_assert_int_eq(MAILSSL_CODE_NO_BINDING, 49);
}
END_TEST

START_TEST(severity_names)
{
    ck_assert_str_eq(mailssl_severity_name(0), "ok");
    ck_assert_str_eq(mailssl_severity_name(1), "warning");
    ck_assert_str_eq(mailssl_severity_name(2), "critical");
    ck_assert_str_eq(mailssl_severity_name(3), "unknown");
    ck_assert_ptr_null(mailssl_severity_name(4));
    ck_assert_ptr_null(mailssl_severity_name(-1));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("base");

    tcase_add_test(tc, version_matches_header);
    tcase_add_test(tc, init_is_reference_counted);
    tcase_add_test(tc, error_codes_have_distinct_messages);
    tcase_add_loop_test(tc, service_table_row, 0,
                        (int)(sizeof spec_services / sizeof spec_services[0]));
    tcase_add_test(tc, service_alias_unknown_and_null);
    tcase_add_test(tc, codes_round_trip);
    tcase_add_test(tc, severity_names);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
