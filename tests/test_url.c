/* Tests of lib/probe/url.c through the probe API: URL forms, defaults, errors.
 * */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "mailssl.h"

static void setup(void)
{
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
}

static void teardown(void)
{
    mailssl_deinit();
}

static void check_url(const char *url, int service, const char *host,
                      int port)
{
    mailssl_probe *p = mailssl_probe_new(url);

    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(mailssl_probe_error(p), "");
    ck_assert_int_eq(mailssl_probe_service(p), service);
    ck_assert_str_eq(mailssl_probe_host(p), host);
    ck_assert_int_eq(mailssl_probe_port(p), port);
    mailssl_probe_free(p);
}

START_TEST(test_good)
{
    check_url("imap://mail.example.com:143", MAILSSL_SERVICE_IMAP,
              "mail.example.com", 143);
    check_url("imap://mail.example.com", MAILSSL_SERVICE_IMAP,
              "mail.example.com", 143);
    check_url("pop3s://[::1]:995", MAILSSL_SERVICE_POP3S, "::1", 995);
    check_url("pop3s://[2001:db8::1]", MAILSSL_SERVICE_POP3S, "2001:db8::1",
              995);
    check_url("smtp://192.0.2.1", MAILSSL_SERVICE_SMTP, "192.0.2.1", 25);
    check_url("submission://mx", MAILSSL_SERVICE_SUBMISSION, "mx", 587);
    check_url("submissions://mx", MAILSSL_SERVICE_SMTPS, "mx", 465);
    check_url("SMTPS://mx:10465/", MAILSSL_SERVICE_SMTPS, "mx", 10465);
    check_url("lmtp://mx", MAILSSL_SERVICE_LMTP, "mx", 24);
    check_url("imaps://mx", MAILSSL_SERVICE_IMAPS, "mx", 993);
    check_url("pop3://mx", MAILSSL_SERVICE_POP3, "mx", 110);
    check_url("sieve://mx", MAILSSL_SERVICE_SIEVE, "mx", 4190);
    check_url("sieve://mx:65535", MAILSSL_SERVICE_SIEVE, "mx", 65535);
}
END_TEST

static void check_bad(const char *url, const char *why)
{
    mailssl_probe *p = mailssl_probe_new(url);

    ck_assert_ptr_nonnull(p);
    ck_assert_msg(strstr(mailssl_probe_error(p), why) != NULL,
                  "%s: error \"%s\" lacks \"%s\"", url ? url : "NULL",
                  mailssl_probe_error(p), why);
    ck_assert_int_eq(mailssl_probe_service(p), MAILSSL_ERR_SYNTAX);
    ck_assert_ptr_null(mailssl_probe_host(p));
    ck_assert_int_eq(mailssl_probe_start(p), MAILSSL_ERR_SYNTAX);
    ck_assert_int_eq(mailssl_probe_done(p), 1);
    ck_assert_int_eq(mailssl_probe_status(p), MAILSSL_SEVERITY_UNKNOWN);
    ck_assert_int_eq(mailssl_probe_stage(p), MAILSSL_STAGE_NONE);
    mailssl_probe_free(p);
}

START_TEST(test_bad)
{
    check_bad(NULL, "no URL");
    check_bad("mail.example.com", "is not NAME://HOST[:PORT]");
    check_bad("http://mx", "unknown service \"http\"");
    check_bad("*://mx", "unknown service \"*\"");
    check_bad("imap://", "empty host");
    check_bad("imap://mx:0", "bad port");
    check_bad("imap://mx:65536", "bad port");
    check_bad("imap://mx:", "bad port");
    check_bad("imap://mx:12a", "bad port");
    check_bad("imap://mx/INBOX", "unexpected \"/INBOX\"");
    check_bad("imap://user@mx", "invalid character");
    check_bad("imap://[::1", "without ']'");
    check_bad("imap://[nothex]:143", "is not an IPv6 address");
    check_bad("imap://::1", "IPv6 literals go in brackets");
    check_bad("imap://mx:143:1", "IPv6 literals go in brackets");
}
END_TEST

START_TEST(test_connect_to)
{
    mailssl_probe *p = mailssl_probe_new("imap://mx");

    ck_assert_int_eq(mailssl_probe_set_connect_to(p, "192.0.2.1"), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_connect_to(p, "[::1]:1143"),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_connect_to(p, "::1"), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_connect_to(p, "host:99999"),
                     MAILSSL_ERR_SYNTAX);
    ck_assert_int_eq(mailssl_probe_set_connect_to(p, NULL), MAILSSL_OK);
    /* the URL host stays the host for SNI and verification */
    ck_assert_str_eq(mailssl_probe_host(p), "mx");
    mailssl_probe_free(p);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        test_good, test_bad, test_connect_to, NULL};
    const struct check_fixture fx = {NULL, NULL, setup, teardown, 0};

    return check_main("url", "url", &fx, tests);
}
