/*
 * test_serve_dialogue.c - mailssl-serve's service dialogues
 * (examples/serve_dialogue.c), fed lines without a socket.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../check_run.h"
#include "mailssl.h"
#include "serve_dialogue.h"

static char out[SD_OUT_MAX];
static size_t outn;

static int feed(struct serve_dialogue *d, const char *line)
{
    return sd_line(d, line, strlen(line), out, sizeof(out), &outn);
}

#define EXPECT_OUT(s)                                                         \
    do {                                                                      \
        ck_assert_str_eq(out, s);                                             \
        ck_assert_uint_eq(outn, strlen(s));                                   \
    } while (0)

START_TEST(smtp_starttls_then_ehlo_without_starttls)
{
    struct serve_dialogue d;
    outn = sd_begin(&d, MAILSSL_SERVICE_SMTP, out, sizeof(out));
    EXPECT_OUT("220 mailssl-serve ESMTP ready\r\n");
    ck_assert_int_eq(feed(&d, "STARTTLS"), SD_CONTINUE);
    EXPECT_OUT("503 5.5.1 EHLO first\r\n");
    ck_assert_int_eq(feed(&d, "ehlo client.example"), SD_CONTINUE);
    ck_assert_ptr_nonnull(strstr(out, "250-STARTTLS\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\n250 ENHANCEDSTATUSCODES\r\n"));
    ck_assert_int_eq(feed(&d, "STARTTLS"), SD_STARTTLS);
    EXPECT_OUT("220 2.0.0 ready to start TLS\r\n");
    outn = sd_tls_started(&d, out, sizeof(out));
    EXPECT_OUT(""); /* the client speaks first again */
    ck_assert_int_eq(feed(&d, "STARTTLS"), SD_CONTINUE);
    EXPECT_OUT("503 5.5.1 TLS already active\r\n");
    ck_assert_int_eq(feed(&d, "EHLO x"), SD_CONTINUE);
    ck_assert_ptr_null(strstr(out, "STARTTLS"));
    ck_assert_int_eq(feed(&d, "QUIT"), SD_CLOSE);
    EXPECT_OUT("221 2.0.0 mailssl-serve closing\r\n");
}
END_TEST

START_TEST(submission_offers_auth_only_over_tls)
{
    struct serve_dialogue d;
    sd_begin(&d, MAILSSL_SERVICE_SUBMISSION, out, sizeof(out));
    feed(&d, "EHLO x");
    ck_assert_ptr_null(strstr(out, "AUTH"));
    sd_tls_started(&d, out, sizeof(out));
    feed(&d, "EHLO x");
    ck_assert_ptr_nonnull(strstr(out, "250-AUTH PLAIN\r\n"));
}
END_TEST

START_TEST(implicit_tls_greets_after_the_handshake)
{
    struct serve_dialogue d;
    outn = sd_begin(&d, MAILSSL_SERVICE_IMAPS, out, sizeof(out));
    ck_assert_uint_eq(outn, 0);
    outn = sd_tls_started(&d, out, sizeof(out));
    EXPECT_OUT("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN ID] mailssl-serve "
               "ready\r\n");
    ck_assert_int_eq(feed(&d, "a STARTTLS"), SD_CONTINUE);
    EXPECT_OUT("a BAD TLS already active\r\n");
    outn = sd_begin(&d, MAILSSL_SERVICE_SMTPS, out, sizeof(out));
    ck_assert_uint_eq(outn, 0);
    outn = sd_tls_started(&d, out, sizeof(out));
    EXPECT_OUT("220 mailssl-serve ESMTP ready\r\n");
    outn = sd_begin(&d, MAILSSL_SERVICE_POP3S, out, sizeof(out));
    outn = sd_tls_started(&d, out, sizeof(out));
    EXPECT_OUT("+OK mailssl-serve POP3 ready\r\n");
    ck_assert_int_eq(feed(&d, "STLS"), SD_CONTINUE);
    EXPECT_OUT("-ERR TLS already active\r\n");
}
END_TEST

START_TEST(imap_tags_and_logout)
{
    struct serve_dialogue d;
    sd_begin(&d, MAILSSL_SERVICE_IMAP, out, sizeof(out));
    ck_assert_int_eq(feed(&d, "x1 capability"), SD_CONTINUE);
    EXPECT_OUT("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
               "x1 OK CAPABILITY completed\r\n");
    ck_assert_int_eq(feed(&d, "x2 STARTTLS"), SD_STARTTLS);
    EXPECT_OUT("x2 OK begin TLS negotiation now\r\n");
    outn = sd_tls_started(&d, out, sizeof(out));
    EXPECT_OUT(""); /* no second greeting (RFC 9051 section 6.2.1) */
    ck_assert_int_eq(feed(&d, "x3 CAPABILITY"), SD_CONTINUE);
    EXPECT_OUT("* CAPABILITY IMAP4rev1 AUTH=PLAIN ID\r\n"
               "x3 OK CAPABILITY completed\r\n");
    ck_assert_int_eq(feed(&d, "STARTTLS"), SD_CONTINUE);
    EXPECT_OUT("* BAD missing tag or command\r\n");
    ck_assert_int_eq(feed(&d, "x4 LOGOUT"), SD_CLOSE);
    EXPECT_OUT("* BYE mailssl-serve logging out\r\nx4 OK LOGOUT "
               "completed\r\n");
}
END_TEST

START_TEST(pop3_capa_before_and_after_tls)
{
    struct serve_dialogue d;
    outn = sd_begin(&d, MAILSSL_SERVICE_POP3, out, sizeof(out));
    EXPECT_OUT("+OK mailssl-serve POP3 ready\r\n");
    feed(&d, "CAPA");
    EXPECT_OUT("+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
               "STLS\r\nIMPLEMENTATION mailssl-serve\r\n.\r\n");
    ck_assert_int_eq(feed(&d, "stls"), SD_STARTTLS);
    outn = sd_tls_started(&d, out, sizeof(out));
    EXPECT_OUT("");
    feed(&d, "CAPA");
    ck_assert_ptr_null(strstr(out, "STLS"));
    ck_assert_ptr_nonnull(strstr(out, "SASL PLAIN\r\n"));
    ck_assert_int_eq(feed(&d, "QUIT"), SD_CLOSE);
}
END_TEST

START_TEST(sieve_resends_capabilities_after_tls)
{
    struct serve_dialogue d;
    outn = sd_begin(&d, MAILSSL_SERVICE_SIEVE, out, sizeof(out));
    EXPECT_OUT("\"IMPLEMENTATION\" \"mailssl-serve\"\r\n"
               "\"SIEVE\" \"fileinto vacation\"\r\n\"STARTTLS\"\r\n"
               "\"VERSION\" \"1.0\"\r\nOK \"mailssl-serve ready\"\r\n");
    ck_assert_int_eq(feed(&d, "STARTTLS"), SD_STARTTLS);
    EXPECT_OUT("OK \"begin TLS negotiation now\"\r\n");
    outn = sd_tls_started(&d, out, sizeof(out));
    EXPECT_OUT("\"IMPLEMENTATION\" \"mailssl-serve\"\r\n\"SASL\" \"PLAIN\"\r\n"
               "\"SIEVE\" \"fileinto vacation\"\r\n"
               "\"VERSION\" \"1.0\"\r\nOK \"mailssl-serve ready\"\r\n");
    ck_assert_int_eq(feed(&d, "LOGOUT"), SD_CLOSE);
    EXPECT_OUT("OK \"LOGOUT completed\"\r\n");
}
END_TEST

START_TEST(lmtp_wants_lhlo)
{
    struct serve_dialogue d;
    outn = sd_begin(&d, MAILSSL_SERVICE_LMTP, out, sizeof(out));
    EXPECT_OUT("220 mailssl-serve LMTP ready\r\n");
    feed(&d, "EHLO x");
    EXPECT_OUT("500 5.5.1 this is LMTP: use LHLO\r\n");
    feed(&d, "HELO x");
    EXPECT_OUT("502 5.5.2 command not implemented\r\n");
    feed(&d, "LHLO x");
    ck_assert_ptr_nonnull(strstr(out, "250-STARTTLS\r\n"));
    ck_assert_int_eq(feed(&d, "STARTTLS"), SD_STARTTLS);
}
END_TEST

START_TEST(too_long_and_timeout_close)
{
    static const int services[] = {MAILSSL_SERVICE_SMTP, MAILSSL_SERVICE_IMAP,
                                   MAILSSL_SERVICE_POP3, MAILSSL_SERVICE_SIEVE};
    static const char *const too_long[] = {
        "500 5.5.2 line too long\r\n", "* BYE line too long\r\n",
        "-ERR line too long\r\n", "BYE \"line too long\"\r\n"};
    static const char *const idle[] = {
        "421 4.4.2 mailssl-serve idle too long, closing\r\n",
        "* BYE idle too long\r\n", "-ERR idle too long\r\n",
        "BYE \"idle too long\"\r\n"};
    struct serve_dialogue d;
    int i;
    for (i = 0; i < 4; i++) {
        sd_begin(&d, services[i], out, sizeof(out));
        ck_assert_int_eq(sd_line_too_long(&d, out, sizeof(out), &outn),
                         SD_CLOSE);
        EXPECT_OUT(too_long[i]);
        ck_assert_int_eq(sd_timeout(&d, out, sizeof(out), &outn), SD_CLOSE);
        EXPECT_OUT(idle[i]);
    }
}
END_TEST

START_TEST(replies_are_bounded)
{
    struct serve_dialogue d;
    char tag[SD_LINE_MAX];
    memset(tag, 'a', sizeof(tag) - 20);
    strcpy(tag + sizeof(tag) - 20, " CAPABILITY");
    sd_begin(&d, MAILSSL_SERVICE_IMAP, out, sizeof(out));
    feed(&d, tag);
    EXPECT_OUT("* BAD tag too long\r\n");
    memset(tag, 'a', 64);
    strcpy(tag + 64, " NOOP");
    feed(&d, tag);
    ck_assert_uint_eq(outn, 64 + strlen(" OK NOOP completed\r\n"));
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        smtp_starttls_then_ehlo_without_starttls,
        submission_offers_auth_only_over_tls,
        implicit_tls_greets_after_the_handshake, imap_tags_and_logout,
        pop3_capa_before_and_after_tls,
        sieve_resends_capabilities_after_tls, lmtp_wants_lhlo,
        too_long_and_timeout_close, replies_are_bounded, NULL};

    return check_main("serve_dialogue", "dialogues", NULL, tests);
}
