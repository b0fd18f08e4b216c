/* Unit tests of lib/probe/dialogue.c: the probe's plaintext dialogues, fed
 * line by
 * line, with the exact bytes they send checked after every step. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "dialogue.h"

static struct mailssl_dialogue d;
static struct mailssl_buf out;

static void start(int service, int phase)
{
    ck_assert_int_eq(mailssl__dialogue_init(&d, service), 0);
    mailssl__buf_init(&out);
    ck_assert_int_eq(mailssl__dialogue_begin(&d, phase, &out),
                     MAILSSL_DLG_MORE);
}

static void teardown(void)
{
    mailssl__dialogue_clear(&d);
    mailssl__buf_free(&out);
}

static int feed_len(const char *line, size_t len)
{
    return mailssl__dialogue_line(&d, line, len, &out);
}

static int feed(const char *line)
{
    return feed_len(line, strlen(line));
}

/* Asserts the bytes queued since the last call, then forgets them. */
static void sent(const char *expect)
{
    ck_assert_str_eq(out.len ? out.data : "", expect);
    out.len = 0;
}

/* Feeds lines that must all answer MORE without sending anything. */
static void quiet(const char *const *lines)
{
    for (; *lines; lines++) {
        ck_assert_int_eq(feed(*lines), MAILSSL_DLG_MORE);
        sent("");
    }
}

static void go_post_tls(void)
{
    ck_assert_int_eq(mailssl__dialogue_begin(&d, MAILSSL_PHASE_POST_TLS,
                                             &out),
                     MAILSSL_DLG_MORE);
    ck_assert_uint_eq(d.ncaps, 0);
    ck_assert_int_eq(d.starttls_offered, 0);
}

static void assert_fail(int code, const char *message)
{
    ck_assert_int_eq(d.code, code);
    ck_assert_str_eq(d.message, message);
}

static void assert_caps(const char *const *caps)
{
    size_t i;

    for (i = 0; caps[i]; i++) {
        ck_assert_uint_lt(i, d.ncaps);
        ck_assert_str_eq(d.caps[i], caps[i]);
    }
    ck_assert_uint_eq(d.ncaps, i);
}

/* ---- SMTP --------------------------------------------------------------- */

/* Greeting, EHLO, STARTTLS up to the go-ahead (pre-TLS capabilities say
 * AUTH PLAIN LOGIN, which must not survive). */
static void smtp_to_go_ahead(int service)
{
    static const char *const ehlo[] = {"250-mx.example.com Hello",
                                       "250-PIPELINING", "250-AUTH PLAIN LOGIN",
                                       "250-starttls", NULL};
    const char *hello = service == MAILSSL_SERVICE_LMTP
                            ? "LHLO mailssl-probe.invalid\r\n"
                            : "EHLO mailssl-probe.invalid\r\n";

    start(service, MAILSSL_PHASE_PRE_TLS);
    sent("");
    ck_assert_int_eq(mailssl__dialogue_timeout_code(&d),
                     MAILSSL_CODE_GREETING_TIMEOUT);
    ck_assert_int_eq(feed("220-mx.example.com ESMTP"), MAILSSL_DLG_MORE);
    sent("");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_NONE);
    ck_assert_int_eq(feed("220 ready"), MAILSSL_DLG_MORE);
    sent(hello);
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_GREETING);
    ck_assert_int_eq(mailssl__dialogue_timeout_code(&d),
                     MAILSSL_CODE_STARTTLS_TIMEOUT);
    quiet(ehlo);
    ck_assert_int_eq(feed("250 SIZE 1000"), MAILSSL_DLG_MORE);
    sent("STARTTLS\r\n");
    ck_assert_uint_eq(d.ncaps, 0); /* pre-TLS ones are never kept */
    ck_assert_int_eq(d.starttls_offered, 1);
    ck_assert_int_eq(feed("220 2.0.0 go ahead"), MAILSSL_DLG_STARTTLS);
    sent("");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_STARTTLS);
}

static void smtp_happy(int service)
{
    static const char *const caps[] = {"SIZE 1000", "AUTH PLAIN",
                                       "STARTTLS", NULL};
    const char *hello = service == MAILSSL_SERVICE_LMTP
                            ? "LHLO mailssl-probe.invalid\r\n"
                            : "EHLO mailssl-probe.invalid\r\n";

    smtp_to_go_ahead(service);
    go_post_tls();
    sent(hello);
    ck_assert_int_eq(mailssl__dialogue_timeout_code(&d),
                     MAILSSL_CODE_POST_TLS_FAILED);
    ck_assert_int_eq(feed("250-mx.example.com"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("250-SIZE 1000"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("250-AUTH PLAIN"), MAILSSL_DLG_MORE);
    /* STARTTLS again after TLS: only a capability, nothing is sent */
    ck_assert_int_eq(feed("250 STARTTLS"), MAILSSL_DLG_DONE);
    sent("QUIT\r\n");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_POST_TLS);
    assert_caps(caps);
}

START_TEST(smtp_starttls_happy)
{
    smtp_happy(MAILSSL_SERVICE_SMTP);
}
END_TEST

START_TEST(submission_starttls_happy)
{
    smtp_happy(MAILSSL_SERVICE_SUBMISSION);
}
END_TEST

START_TEST(lmtp_uses_lhlo)
{
    smtp_happy(MAILSSL_SERVICE_LMTP);
}
END_TEST

START_TEST(smtps_greeting_after_tls)
{
    static const char *const caps[] = {"8BITMIME", NULL};

    start(MAILSSL_SERVICE_SMTPS, MAILSSL_PHASE_POST_TLS);
    sent("");
    ck_assert_int_eq(mailssl__dialogue_timeout_code(&d),
                     MAILSSL_CODE_POST_TLS_FAILED);
    ck_assert_int_eq(feed("220 mx ESMTP"), MAILSSL_DLG_MORE);
    sent("EHLO mailssl-probe.invalid\r\n");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_NONE); /* no going backwards */
    ck_assert_int_eq(feed("250-mx"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("250 8BITMIME"), MAILSSL_DLG_DONE);
    sent("QUIT\r\n");
    assert_caps(caps);
}
END_TEST

START_TEST(smtps_has_no_plaintext_phase)
{
    ck_assert_int_eq(mailssl__dialogue_init(&d, MAILSSL_SERVICE_SMTPS), 0);
    mailssl__buf_init(&out);
    ck_assert_int_eq(mailssl__dialogue_begin(&d, MAILSSL_PHASE_PRE_TLS, &out),
                     MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
}
END_TEST

START_TEST(smtp_post_tls_needs_go_ahead)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(mailssl__dialogue_begin(&d, MAILSSL_PHASE_POST_TLS,
                                             &out),
                     MAILSSL_DLG_FAIL);
    sent("");
}
END_TEST

START_TEST(smtp_single_line_ehlo_lacks_starttls)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("220 mx"), MAILSSL_DLG_MORE);
    sent("EHLO mailssl-probe.invalid\r\n");
    /* the first EHLO line is the domain, not a keyword */
    ck_assert_int_eq(feed("250 STARTTLS"), MAILSSL_DLG_FAIL);
    sent("QUIT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                "the server does not offer STARTTLS (not in its EHLO "
                "reply)");
}
END_TEST

START_TEST(smtp_ehlo_refused)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    feed("220 mx");
    sent("EHLO mailssl-probe.invalid\r\n");
    ck_assert_int_eq(feed("502 5.5.2 unrecognized"), MAILSSL_DLG_FAIL);
    sent("QUIT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                "the server does not offer STARTTLS: it refused EHLO: "
                "502 5.5.2 unrecognized");
}
END_TEST

/* Up to STARTTLS sent, then answer with reply. */
static int smtp_starttls_answer(const char *reply)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    feed("220 mx");
    feed("250-mx");
    feed("250 STARTTLS");
    sent("EHLO mailssl-probe.invalid\r\nSTARTTLS\r\n");
    return feed(reply);
}

START_TEST(smtp_starttls_refused_454)
{
    ck_assert_int_eq(smtp_starttls_answer("454 4.7.0 TLS not available due "
                                          "to local problem"),
                     MAILSSL_DLG_FAIL);
    sent("QUIT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_REFUSED,
                "the server refused STARTTLS: 454 4.7.0 TLS not available "
                "due to local problem");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_GREETING);
}
END_TEST

START_TEST(smtp_starttls_refused_501_502)
{
    ck_assert_int_eq(smtp_starttls_answer("501 5.5.4 syntax"),
                     MAILSSL_DLG_FAIL);
    sent("QUIT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_REFUSED,
                "the server refused STARTTLS: 501 5.5.4 syntax");
    teardown();
    ck_assert_int_eq(smtp_starttls_answer("502 not implemented"),
                     MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_STARTTLS_REFUSED,
                "the server refused STARTTLS: 502 not implemented");
}
END_TEST

START_TEST(smtp_multiline_refusal)
{
    ck_assert_int_eq(smtp_starttls_answer("454-4.7.0 TLS not available"),
                     MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("454 4.7.0 try later"), MAILSSL_DLG_FAIL);
    sent("QUIT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_REFUSED,
                "the server refused STARTTLS: 454 4.7.0 TLS not available");
}
END_TEST

START_TEST(smtp_starttls_354_530_are_protocol_errors)
{
    ck_assert_int_eq(smtp_starttls_answer("354 go on"), MAILSSL_DLG_FAIL);
    sent(""); /* nothing after an unexpected answer */
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "unexpected reply to STARTTLS: \"354 go on\"");
    teardown();
    ck_assert_int_eq(smtp_starttls_answer("530 5.7.0 auth first"),
                     MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "unexpected reply to STARTTLS: \"530 5.7.0 auth first\"");
    teardown();
    ck_assert_int_eq(smtp_starttls_answer("250 ok"), MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
}
END_TEST

START_TEST(smtp_go_ahead_only_on_last_line)
{
    ck_assert_int_eq(smtp_starttls_answer("220-wait"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("220-for it"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("220 now"), MAILSSL_DLG_STARTTLS);
    sent("");
    /* a line after the go-ahead is injection if the engine feeds it */
    ck_assert_int_eq(feed("250 injected"), MAILSSL_DLG_FAIL);
    sent("");
    ck_assert_int_eq(d.code, MAILSSL_CODE_STARTTLS_INJECTION);
}
END_TEST

START_TEST(smtp_greeting_rejected)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("554 5.3.2 no service for you"), MAILSSL_DLG_FAIL);
    sent("QUIT\r\n");
    assert_fail(MAILSSL_CODE_GREETING_REJECTED,
                "the server rejected the connection: 554 5.3.2 no service "
                "for you");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_NONE);
    teardown();
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("421 closing"), MAILSSL_DLG_FAIL);
    sent(""); /* 421: the server is closing anyway */
    ck_assert_int_eq(d.code, MAILSSL_CODE_GREETING_REJECTED);
    /* terminal: more lines change nothing */
    ck_assert_int_eq(feed("220 ok now"), MAILSSL_DLG_FAIL);
    sent("");
    ck_assert_int_eq(d.code, MAILSSL_CODE_GREETING_REJECTED);
}
END_TEST

START_TEST(smtp_greeting_unexpected_code)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("354 start mail"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "unexpected greeting: 354 start mail");
}
END_TEST

START_TEST(smtp_greeting_malformed)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("hello there"), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_GREETING_MALFORMED,
                "the greeting is not an SMTP reply: \"hello there\"");
    teardown();
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed(""), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_MALFORMED,
                "the greeting is an empty line");
    teardown();
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed_len("220 mx\0evil", 11), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_MALFORMED,
                "the greeting contains a NUL byte: \"220 mx\\x00evil\"");
    teardown();
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("220-mx"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("554 changed my mind"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_MALFORMED,
                "the greeting changes its reply code from 220: \"554 "
                "changed my mind\"");
}
END_TEST

START_TEST(smtp_greeting_8bit_is_escaped)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("554 \xff\x1b[31m bad"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_REJECTED,
                "the server rejected the connection: 554 \\xff\\x1b[31m "
                "bad");
    teardown();
    /* accepted: 8-bit text is not a reason to stop */
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("220 caf\xc3\xa9 \xfe"), MAILSSL_DLG_MORE);
    sent("EHLO mailssl-probe.invalid\r\n");
}
END_TEST

START_TEST(smtp_multiline_code_mismatch)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    feed("220 mx");
    ck_assert_int_eq(feed("250-mx"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("251 STARTTLS"), MAILSSL_DLG_FAIL);
    sent("EHLO mailssl-probe.invalid\r\n");
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "a multi-line reply changes its code from 250: \"251 "
                "STARTTLS\"");
}
END_TEST

START_TEST(smtp_never_ending_reply)
{
    int i, r = MAILSSL_DLG_MORE;

    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    feed("220 mx");
    for (i = 0; i < MAILSSL_DIALOGUE_MAX_LINES && r == MAILSSL_DLG_MORE; i++)
        r = feed("250-X");
    ck_assert_int_eq(r, MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("250-X"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "the server sent more than 1000 lines in one response");
}
END_TEST

START_TEST(smtp_caps_are_capped)
{
    char line[32];
    int i;

    smtp_to_go_ahead(MAILSSL_SERVICE_SMTP);
    go_post_tls();
    feed("250-mx");
    for (i = 0; i < MAILSSL_DIALOGUE_MAX_CAPS + 10; i++) {
        snprintf(line, sizeof line, "250-X-CAP%d", i);
        ck_assert_int_eq(feed(line), MAILSSL_DLG_MORE);
    }
    ck_assert_int_eq(feed("250 STARTTLS"), MAILSSL_DLG_DONE);
    ck_assert_uint_eq(d.ncaps, MAILSSL_DIALOGUE_MAX_CAPS);
    ck_assert_str_eq(d.caps[MAILSSL_DIALOGUE_MAX_CAPS - 1], "X-CAP255");
    ck_assert_int_eq(d.starttls_offered, 1); /* still seen, unused */
}
END_TEST

START_TEST(smtp_caps_differ_after_tls)
{
    static const char *const caps[] = {"AUTH PLAIN LOGIN", NULL};

    smtp_to_go_ahead(MAILSSL_SERVICE_SMTP);
    go_post_tls();
    sent("EHLO mailssl-probe.invalid\r\n");
    feed("250-mx");
    ck_assert_int_eq(feed("250 AUTH PLAIN LOGIN"), MAILSSL_DLG_DONE);
    assert_caps(caps); /* PIPELINING, SIZE of the plaintext phase gone */
    ck_assert_int_eq(d.starttls_offered, 0);
}
END_TEST

START_TEST(smtp_post_tls_failures)
{
    smtp_to_go_ahead(MAILSSL_SERVICE_SMTP);
    go_post_tls();
    sent("EHLO mailssl-probe.invalid\r\n");
    ck_assert_int_eq(feed("554 go away"), MAILSSL_DLG_FAIL);
    sent(""); /* no QUIT after a failure, and never in plaintext */
    assert_fail(MAILSSL_CODE_POST_TLS_FAILED,
                "after TLS, unexpected reply to EHLO: 554 go away");
    teardown();
    start(MAILSSL_SERVICE_SMTPS, MAILSSL_PHASE_POST_TLS);
    ck_assert_int_eq(feed("554 no"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_POST_TLS_FAILED,
                "after TLS, the server rejected the connection: 554 no");
    teardown();
    start(MAILSSL_SERVICE_SMTPS, MAILSSL_PHASE_POST_TLS);
    ck_assert_int_eq(feed(""), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_POST_TLS_FAILED,
                "after TLS, the greeting is an empty line");
}
END_TEST

START_TEST(smtp_client_name)
{
    ck_assert_int_eq(mailssl__dialogue_init(&d, MAILSSL_SERVICE_SMTP), 0);
    mailssl__buf_init(&out);
    ck_assert_int_eq(mailssl__dialogue_set_client_name(&d, "a b"),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl__dialogue_set_client_name(&d, "x\r\nRCPT"),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl__dialogue_set_client_name(&d, ""),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl__dialogue_set_client_name(&d, "[192.0.2.1]"), 0);
    ck_assert_int_eq(mailssl__dialogue_begin(&d, MAILSSL_PHASE_PRE_TLS, &out),
                     MAILSSL_DLG_MORE);
    feed("220 mx");
    sent("EHLO [192.0.2.1]\r\n");
}
END_TEST

START_TEST(init_rejects_bad_service)
{
    ck_assert_int_eq(mailssl__dialogue_init(&d, MAILSSL_SERVICE_ANY),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl__dialogue_init(&d, MAILSSL_SERVICE_MAX + 1),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl__dialogue_init(NULL, MAILSSL_SERVICE_SMTP),
                     MAILSSL_ERR_INVALID);
    mailssl__buf_init(&out);
    memset(&d, 0, sizeof d);
}
END_TEST

/* ---- IMAP --------------------------------------------------------------- */

static void imap_to_go_ahead(void)
{
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("* OK Dovecot ready."), MAILSSL_DLG_MORE);
    sent("A1 CAPABILITY\r\n");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_GREETING);
    ck_assert_int_eq(feed("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED"),
                     MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("A1 OK done"), MAILSSL_DLG_MORE);
    sent("A2 STARTTLS\r\n");
    ck_assert_uint_eq(d.ncaps, 0);
    ck_assert_int_eq(feed("A2 OK Begin TLS negotiation now"),
                     MAILSSL_DLG_STARTTLS);
    sent("");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_STARTTLS);
}

START_TEST(imap_starttls_happy)
{
    static const char *const caps[] = {"IMAP4rev1", "AUTH=PLAIN", "STARTTLS",
                                       "IDLE", NULL};

    imap_to_go_ahead();
    go_post_tls();
    sent("A3 CAPABILITY\r\n");
    ck_assert_int_eq(feed("* CAPABILITY IMAP4rev1  AUTH=PLAIN STARTTLS"),
                     MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("* CAPABILITY IDLE"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("A3 OK Capability completed."), MAILSSL_DLG_DONE);
    sent("A4 LOGOUT\r\n");
    assert_caps(caps);
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_POST_TLS);
}
END_TEST

START_TEST(imap_greeting_caps_skip_capability)
{
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready"),
                     MAILSSL_DLG_MORE);
    sent("A1 STARTTLS\r\n");
    ck_assert_uint_eq(d.ncaps, 0);
    ck_assert_int_eq(feed("A1 OK go"), MAILSSL_DLG_STARTTLS);
    go_post_tls();
    sent("A2 CAPABILITY\r\n");
    ck_assert_int_eq(feed("A2 OK [CAPABILITY IMAP4rev2 ID] done"),
                     MAILSSL_DLG_DONE);
    sent("A3 LOGOUT\r\n");
    {
        static const char *const caps[] = {"IMAP4rev2", "ID", NULL};
        assert_caps(caps);
    }
}
END_TEST

START_TEST(imap_greeting_caps_without_starttls_still_asks)
{
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    feed("* OK [CAPABILITY IMAP4rev1] ready");
    sent("A1 CAPABILITY\r\n");
    feed("* CAPABILITY IMAP4rev1");
    ck_assert_int_eq(feed("A1 OK done"), MAILSSL_DLG_FAIL);
    sent("A2 LOGOUT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                "the server does not offer STARTTLS (not in its CAPABILITY "
                "list)");
}
END_TEST

START_TEST(imaps_greeting_after_tls)
{
    static const char *const caps[] = {"IMAP4rev1", NULL};

    start(MAILSSL_SERVICE_IMAPS, MAILSSL_PHASE_POST_TLS);
    sent("");
    /* greeting capabilities are not the answer: CAPABILITY is asked */
    ck_assert_int_eq(feed("* OK [CAPABILITY IMAP4rev1 X-GREETING] hi"),
                     MAILSSL_DLG_MORE);
    sent("A1 CAPABILITY\r\n");
    feed("* CAPABILITY IMAP4rev1");
    ck_assert_int_eq(feed("A1 OK"), MAILSSL_DLG_DONE);
    sent("A2 LOGOUT\r\n");
    assert_caps(caps);
}
END_TEST

START_TEST(imaps_preauth_is_fine_after_tls)
{
    start(MAILSSL_SERVICE_IMAPS, MAILSSL_PHASE_POST_TLS);
    ck_assert_int_eq(feed("* PREAUTH welcome back"), MAILSSL_DLG_MORE);
    sent("A1 CAPABILITY\r\n");
    ck_assert_int_eq(feed("A1 OK"), MAILSSL_DLG_DONE);
    ck_assert_uint_eq(d.ncaps, 0);
}
END_TEST

START_TEST(imap_preauth)
{
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi"),
                     MAILSSL_DLG_FAIL);
    sent("A1 LOGOUT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_PREAUTH,
                "the server greeted with PREAUTH, so STARTTLS is impossible "
                "(the session is already authenticated in plaintext): "
                "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi");
}
END_TEST

START_TEST(imap_bye_greeting)
{
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("* BYE too many connections"), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_GREETING_REJECTED,
                "the server rejected the connection: * BYE too many "
                "connections");
}
END_TEST

START_TEST(imap_greeting_malformed)
{
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("+OK POP3 ready"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_MALFORMED,
                "the greeting is not an IMAP greeting: \"+OK POP3 ready\"");
}
END_TEST

/* Greeting and CAPABILITY done, STARTTLS sent as A2. */
static void imap_starttls_sent(void)
{
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    feed("* OK ready");
    feed("* CAPABILITY IMAP4rev1 STARTTLS");
    feed("A1 OK done");
    sent("A1 CAPABILITY\r\nA2 STARTTLS\r\n");
}

START_TEST(imap_starttls_refused)
{
    imap_starttls_sent();
    ck_assert_int_eq(feed("A2 NO not now"), MAILSSL_DLG_FAIL);
    sent("A3 LOGOUT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_REFUSED,
                "the server refused STARTTLS: A2 NO not now");
    teardown();
    imap_starttls_sent();
    ck_assert_int_eq(feed("A2 BAD unknown command"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_STARTTLS_REFUSED,
                "the server refused STARTTLS: A2 BAD unknown command");
}
END_TEST

START_TEST(imap_hidden_ok_is_not_a_go_ahead)
{
    static const char *const noise[] = {
        "* A2 OK Begin TLS",         "* OK A2 OK",
        "* LIST () \"/\" INBOX",     "* STATUS INBOX (MESSAGES 1)",
        "* 3 EXISTS",                "* CAPABILITY IMAP4rev1 STARTTLS",
        NULL};

    imap_starttls_sent();
    quiet(noise);
    ck_assert_int_eq(feed("A2 OK go"), MAILSSL_DLG_STARTTLS);
}
END_TEST

START_TEST(imap_wrong_tag)
{
    imap_starttls_sent();
    ck_assert_int_eq(feed("A1 OK Begin TLS"), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "the server answered with a tag other than A2: \"A1 OK Begin "
                "TLS\"");
    teardown();
    imap_starttls_sent();
    ck_assert_int_eq(feed("A22 OK Begin TLS"), MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
    teardown();
    imap_starttls_sent();
    ck_assert_int_eq(feed("a2 OK Begin TLS"), MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
    teardown();
    imap_starttls_sent();
    ck_assert_int_eq(feed("A2 MAYBE"), MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
}
END_TEST

START_TEST(imap_continuation)
{
    imap_starttls_sent();
    ck_assert_int_eq(feed("+ go on"), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "the server asked for a continuation (\"+\") where none was "
                "expected: + go on");
}
END_TEST

START_TEST(imap_literal)
{
    imap_starttls_sent();
    ck_assert_int_eq(feed("* LIST () \"/\" {4294967295}"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "the server sent a literal, which a probe never needs: "
                "\"* LIST () \"/\" {4294967295}\"");
    teardown();
    /* braces that are not a literal are fine */
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("* OK {x}"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("* OK {}"), MAILSSL_DLG_MORE);
}
END_TEST

START_TEST(imap_bye_mid_dialogue)
{
    imap_starttls_sent();
    ck_assert_int_eq(feed("* BYE shutting down"), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "the server ended the session: * BYE shutting down");
}
END_TEST

START_TEST(imap_capability_refused)
{
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    feed("* OK ready");
    ck_assert_int_eq(feed("A1 BAD what"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "the server refused CAPABILITY: A1 BAD what");
}
END_TEST

START_TEST(imap_untagged_before_starttls_not_trusted_for_caps)
{
    /* untagged CAPABILITY during STARTTLS doesn't add anything */
    imap_starttls_sent();
    feed("* CAPABILITY X-EVIL");
    ck_assert_int_eq(feed("A2 OK"), MAILSSL_DLG_STARTTLS);
    go_post_tls();
    sent("A3 CAPABILITY\r\n");
    ck_assert_int_eq(feed("A3 OK"), MAILSSL_DLG_DONE);
    ck_assert_uint_eq(d.ncaps, 0);
}
END_TEST

START_TEST(imap_post_tls_failure)
{
    imap_to_go_ahead();
    go_post_tls();
    sent("A3 CAPABILITY\r\n");
    ck_assert_int_eq(feed("A3 NO"), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_POST_TLS_FAILED,
                "after TLS, the server refused CAPABILITY: A3 NO");
}
END_TEST

START_TEST(imap_never_ending_response)
{
    int i;

    imap_starttls_sent();
    for (i = 0; i < MAILSSL_DIALOGUE_MAX_LINES; i++)
        ck_assert_int_eq(feed("* 1 EXISTS"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("* 1 EXISTS"), MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
}
END_TEST

/* ---- POP3 --------------------------------------------------------------- */

static void pop3_to_go_ahead(void)
{
    static const char *const capa[] = {"+OK Capability list follows", "TOP",
                                       "SASL PLAIN", "STLS", NULL};

    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>"),
                     MAILSSL_DLG_MORE);
    sent("CAPA\r\n");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_GREETING);
    quiet(capa);
    ck_assert_int_eq(feed("."), MAILSSL_DLG_MORE);
    sent("STLS\r\n");
    ck_assert_uint_eq(d.ncaps, 0);
    ck_assert_int_eq(feed("+OK Begin TLS negotiation"), MAILSSL_DLG_STARTTLS);
    sent("");
}

START_TEST(pop3_starttls_happy)
{
    static const char *const caps[] = {"USER", "SASL PLAIN", "STLS", NULL};

    pop3_to_go_ahead();
    go_post_tls();
    sent("CAPA\r\n");
    feed("+OK");
    feed("USER");
    feed("SASL PLAIN");
    ck_assert_int_eq(feed("STLS"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("."), MAILSSL_DLG_DONE);
    sent("QUIT\r\n");
    assert_caps(caps);
}
END_TEST

START_TEST(pop3s_greeting_after_tls)
{
    static const char *const caps[] = {"UIDL", NULL};

    start(MAILSSL_SERVICE_POP3S, MAILSSL_PHASE_POST_TLS);
    sent("");
    ck_assert_int_eq(feed("+OK"), MAILSSL_DLG_MORE);
    sent("CAPA\r\n");
    feed("+OK");
    feed("UIDL");
    ck_assert_int_eq(feed("."), MAILSSL_DLG_DONE);
    sent("QUIT\r\n");
    assert_caps(caps);
}
END_TEST

START_TEST(pop3s_without_capa_still_answers)
{
    start(MAILSSL_SERVICE_POP3S, MAILSSL_PHASE_POST_TLS);
    feed("+OK hello");
    sent("CAPA\r\n");
    ck_assert_int_eq(feed("-ERR unknown command"), MAILSSL_DLG_DONE);
    sent("QUIT\r\n");
    ck_assert_uint_eq(d.ncaps, 0);
}
END_TEST

START_TEST(pop3_dot_stuffing)
{
    static const char *const caps[] = {".STLS", "X", ".", NULL};

    pop3_to_go_ahead();
    go_post_tls();
    feed("+OK");
    ck_assert_int_eq(feed("..STLS"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed(".X"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed(".."), MAILSSL_DLG_MORE); /* a stuffed "." */
    ck_assert_int_eq(feed("."), MAILSSL_DLG_DONE);
    assert_caps(caps);
    ck_assert_int_eq(d.starttls_offered, 0); /* ".STLS" is not STLS */
    teardown();
    /* pre-TLS: a stuffed "..STLS" does not offer STLS either */
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    feed("+OK");
    feed("+OK");
    feed("..STLS");
    ck_assert_int_eq(feed("."), MAILSSL_DLG_FAIL);
    sent("CAPA\r\nQUIT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                "the server does not offer STLS (not in its CAPA list)");
}
END_TEST

START_TEST(pop3_greeting_rejected_or_malformed)
{
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("-ERR go away"), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_GREETING_REJECTED,
                "the server rejected the connection: -ERR go away");
    teardown();
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("220 smtp here"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_MALFORMED,
                "the greeting is not a POP3 greeting: \"220 smtp here\"");
}
END_TEST

START_TEST(pop3_capa_unsupported)
{
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    feed("+OK");
    ck_assert_int_eq(feed("-ERR what?"), MAILSSL_DLG_FAIL);
    sent("CAPA\r\nQUIT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                "the server does not offer STLS (it does not support CAPA: "
                "-ERR what?)");
}
END_TEST

/* Up to STLS sent. */
static void pop3_stls_sent(void)
{
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    feed("+OK");
    feed("+OK");
    feed("STLS");
    feed(".");
    sent("CAPA\r\nSTLS\r\n");
}

START_TEST(pop3_stls_refused)
{
    pop3_stls_sent();
    ck_assert_int_eq(feed("-ERR TLS not available"), MAILSSL_DLG_FAIL);
    sent("QUIT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_REFUSED,
                "the server refused STLS: -ERR TLS not available");
}
END_TEST

START_TEST(pop3_stls_protocol_error)
{
    pop3_stls_sent();
    ck_assert_int_eq(feed("* OK"), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "unexpected reply to STLS: \"* OK\"");
    teardown();
    pop3_stls_sent();
    ck_assert_int_eq(feed_len("+OK\0", 4), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "the server sent a NUL byte: \"+OK\\x00\"");
}
END_TEST

START_TEST(pop3_never_ending_capa)
{
    int i;

    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    feed("+OK");
    feed("+OK");
    for (i = 1; i < MAILSSL_DIALOGUE_MAX_LINES; i++)
        ck_assert_int_eq(feed("X"), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("X"), MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
}
END_TEST

/* ---- ManageSieve -------------------------------------------------------- */

static void sieve_to_go_ahead(void)
{
    static const char *const greeting[] = {
        "\"IMPLEMENTATION\" \"Example1 ManageSieved v001\"",
        "\"SASL\" \"DIGEST-MD5 GSSAPI\"",
        "\"SIEVE\" \"fileinto vacation\"",
        "\"StartTLS\"",
        "\"VERSION\" \"1.0\"",
        NULL};

    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    sent("");
    quiet(greeting);
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_NONE);
    ck_assert_int_eq(feed("OK"), MAILSSL_DLG_MORE);
    sent("STARTTLS\r\n");
    ck_assert_int_eq(d.stage, MAILSSL_STAGE_GREETING);
    ck_assert_uint_eq(d.ncaps, 0);
    ck_assert_int_eq(feed("OK \"Begin TLS negotiation now\""),
                     MAILSSL_DLG_STARTTLS);
    sent("");
}

START_TEST(sieve_starttls_happy)
{
    static const char *const caps[] = {"IMPLEMENTATION", "SASL", "SIEVE",
                                       "VERSION", NULL};

    sieve_to_go_ahead();
    go_post_tls();
    sent(""); /* the server speaks first again: no CAPABILITY */
    feed("\"IMPLEMENTATION\" \"Example1 ManageSieved v001\"");
    feed("\"SASL\" \"PLAIN\"");
    feed("\"SIEVE\" \"fileinto vacation\"");
    feed("\"VERSION\" \"1.0\"");
    ck_assert_int_eq(feed("OK"), MAILSSL_DLG_DONE);
    sent("LOGOUT\r\n");
    assert_caps(caps);
}
END_TEST

START_TEST(sieve_quoted_strings)
{
    static const char *const caps[] = {"QUO\"TED", "BACK\\SLASH", "ODD NAME",
                                       NULL};

    sieve_to_go_ahead();
    go_post_tls();
    ck_assert_int_eq(feed("\"QUO\\\"TED\" \"a \\\"b\\\" c\""),
                     MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("\"BACK\\\\SLASH\""), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("\"ODD NAME\" \"\""), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("OK (TAG \"x\") \"Done\""), MAILSSL_DLG_DONE);
    assert_caps(caps);
}
END_TEST

START_TEST(sieve_malformed_strings)
{
    static const char *const bad[] = {
        "\"unterminated",   "\"A\" \"B",     "\"A\"\"B\"",
        "\"A\" \"B\" \"C\"", "\"A\\x\"",      "\"A\" B",
        "\"A\" ",           NULL};
    size_t i;

    for (i = 0; bad[i]; i++) {
        start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
        ck_assert_int_eq(feed(bad[i]), MAILSSL_DLG_FAIL);
        ck_assert_int_eq(d.code, MAILSSL_CODE_GREETING_MALFORMED);
        teardown();
    }
    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("\"SASL\" \"PLAIN"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_MALFORMED,
                "malformed capability line in the greeting: \"\"SASL\" "
                "\"PLAIN\"");
}
END_TEST

START_TEST(sieve_literal)
{
    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("\"SIEVE\" {4294967295}"), MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
}
END_TEST

START_TEST(sieve_not_offered)
{
    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    feed("\"IMPLEMENTATION\" \"x\"");
    feed("\"SASL\" \"STARTTLS\""); /* a value, not the capability */
    ck_assert_int_eq(feed("OK"), MAILSSL_DLG_FAIL);
    sent("LOGOUT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                "the server does not offer STARTTLS (not in its "
                "capabilities)");
}
END_TEST

START_TEST(sieve_greeting_rejected_or_malformed)
{
    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("BYE \"busy\""), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_GREETING_REJECTED,
                "the server rejected the connection: BYE \"busy\"");
    teardown();
    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed("* OK imap"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_MALFORMED,
                "the greeting is not a ManageSieve greeting: \"* OK imap\"");
}
END_TEST

/* Greeting with STARTTLS done, STARTTLS sent. */
static void sieve_starttls_sent(void)
{
    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    feed("\"STARTTLS\"");
    feed("OK");
    sent("STARTTLS\r\n");
}

START_TEST(sieve_starttls_refused)
{
    sieve_starttls_sent();
    ck_assert_int_eq(feed("NO \"not today\""), MAILSSL_DLG_FAIL);
    sent("LOGOUT\r\n");
    assert_fail(MAILSSL_CODE_STARTTLS_REFUSED,
                "the server refused STARTTLS: NO \"not today\"");
}
END_TEST

START_TEST(sieve_starttls_protocol_error)
{
    sieve_starttls_sent();
    ck_assert_int_eq(feed("\"STARTTLS\""), MAILSSL_DLG_FAIL);
    sent("");
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
    teardown();
    sieve_starttls_sent();
    ck_assert_int_eq(feed("BYE"), MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
}
END_TEST

START_TEST(sieve_post_tls_failure)
{
    sieve_to_go_ahead();
    go_post_tls();
    ck_assert_int_eq(feed("NO \"sorry\""), MAILSSL_DLG_FAIL);
    sent("");
    assert_fail(MAILSSL_CODE_POST_TLS_FAILED,
                "after TLS, the server rejected the connection: NO "
                "\"sorry\"");
}
END_TEST

START_TEST(sieve_never_ending_greeting)
{
    int i;

    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    for (i = 0; i < MAILSSL_DIALOGUE_MAX_LINES; i++)
        ck_assert_int_eq(feed("\"X\""), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("\"X\""), MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
}
END_TEST

/* ---- all services ------------------------------------------------------- */

START_TEST(caps_are_sanitised_and_cut)
{
    char line[1200];

    start(MAILSSL_SERVICE_POP3S, MAILSSL_PHASE_POST_TLS);
    feed("+OK");
    feed("+OK");
    feed("X-\x1b[2J\xff");
    memset(line, 'A', sizeof line);
    ck_assert_int_eq(feed_len(line, sizeof line), MAILSSL_DLG_MORE);
    ck_assert_int_eq(feed("."), MAILSSL_DLG_DONE);
    ck_assert_uint_eq(d.ncaps, 2);
    ck_assert_str_eq(d.caps[0], "X-\\x1b[2J\\xff");
    ck_assert_uint_eq(strlen(d.caps[1]), 512 + 3);
    ck_assert_str_eq(d.caps[1] + 512, "...");
}
END_TEST

START_TEST(long_server_text_is_cut_in_messages)
{
    char line[600];

    memset(line, 'x', sizeof line);
    memcpy(line, "554 ", 4);
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(feed_len(line, sizeof line), MAILSSL_DLG_FAIL);
    ck_assert_uint_lt(strlen(d.message), 250);
    ck_assert_ptr_nonnull(strstr(d.message, "xxx..."));
}
END_TEST

START_TEST(timeout_codes)
{
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(mailssl__dialogue_timeout_code(&d),
                     MAILSSL_CODE_GREETING_TIMEOUT);
    feed("+OK");
    ck_assert_int_eq(mailssl__dialogue_timeout_code(&d),
                     MAILSSL_CODE_STARTTLS_TIMEOUT);
    teardown();
    start(MAILSSL_SERVICE_IMAPS, MAILSSL_PHASE_POST_TLS);
    ck_assert_int_eq(mailssl__dialogue_timeout_code(&d),
                     MAILSSL_CODE_POST_TLS_FAILED);
}
END_TEST

START_TEST(messages_quote_the_right_line)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    feed("220 mx");
    feed("250-mx");
    ck_assert_int_eq(feed("garbage"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "the server sent a line that is not an SMTP reply: "
                "\"garbage\"");
    teardown();
    imap_starttls_sent();
    feed("* OK noise");
    ck_assert_int_eq(feed("A2 NO refused"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_STARTTLS_REFUSED,
                "the server refused STARTTLS: A2 NO refused");
    teardown();
    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    feed("\"IMPLEMENTATION\" \"x\"");
    ck_assert_int_eq(feed("\"SASL\" PLAIN"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_MALFORMED,
                "malformed capability line in the greeting: \"\"SASL\" "
                "PLAIN\"");
    teardown();
    start(MAILSSL_SERVICE_SIEVE, MAILSSL_PHASE_PRE_TLS);
    feed("\"IMPLEMENTATION\" \"x\"");
    ck_assert_int_eq(feed("BYE \"later\""), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_GREETING_REJECTED,
                "the server rejected the connection: BYE \"later\"");
}
END_TEST

START_TEST(odd_answers_mid_dialogue)
{
    start(MAILSSL_SERVICE_SMTP, MAILSSL_PHASE_PRE_TLS);
    feed("220 mx");
    ck_assert_int_eq(feed("* OK imap?"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "the server sent a line that is not an SMTP reply: \"* OK "
                "imap?\"");
    teardown();
    start(MAILSSL_SERVICE_IMAP, MAILSSL_PHASE_PRE_TLS);
    feed("* OK");
    ck_assert_int_eq(feed("A1 HUH"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "unexpected tagged answer: \"A1 HUH\"");
    teardown();
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    feed("+OK");
    ck_assert_int_eq(feed("STLS"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_PROTOCOL_ERROR,
                "unexpected reply to CAPA: \"STLS\"");
    teardown();
    sieve_to_go_ahead();
    go_post_tls();
    ck_assert_int_eq(feed("\"SASL\" \"PLAIN"), MAILSSL_DLG_FAIL);
    assert_fail(MAILSSL_CODE_POST_TLS_FAILED,
                "after TLS, malformed capability line: \"\"SASL\" "
                "\"PLAIN\"");
}
END_TEST

START_TEST(misuse_is_refused)
{
    ck_assert_int_eq(mailssl__dialogue_init(&d, MAILSSL_SERVICE_POP3), 0);
    mailssl__buf_init(&out);
    ck_assert_int_eq(feed("+OK"), MAILSSL_DLG_FAIL); /* before begin */
    ck_assert_int_eq(d.code, MAILSSL_CODE_PROTOCOL_ERROR);
    teardown();
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(mailssl__dialogue_begin(&d, MAILSSL_PHASE_PRE_TLS, &out),
                     MAILSSL_DLG_FAIL); /* twice */
    teardown();
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(mailssl__dialogue_begin(&d, 7, &out), MAILSSL_DLG_FAIL);
    teardown();
    /* NULL with length 0 is an empty line */
    start(MAILSSL_SERVICE_POP3, MAILSSL_PHASE_PRE_TLS);
    ck_assert_int_eq(mailssl__dialogue_line(&d, NULL, 0, &out),
                     MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_GREETING_MALFORMED);
    ck_assert_int_eq(mailssl__dialogue_line(&d, NULL, 3, &out),
                     MAILSSL_DLG_FAIL);
    /* terminal states are kept by begin() too */
    ck_assert_int_eq(mailssl__dialogue_begin(&d, MAILSSL_PHASE_POST_TLS,
                                             &out),
                     MAILSSL_DLG_FAIL);
    ck_assert_int_eq(d.code, MAILSSL_CODE_GREETING_MALFORMED);
    teardown();
    start(MAILSSL_SERVICE_POP3S, MAILSSL_PHASE_POST_TLS);
    feed("+OK");
    feed("-ERR");
    sent("CAPA\r\nQUIT\r\n");
    ck_assert_int_eq(mailssl__dialogue_begin(&d, MAILSSL_PHASE_POST_TLS,
                                             &out),
                     MAILSSL_DLG_DONE);
    ck_assert_int_eq(feed("+OK"), MAILSSL_DLG_DONE);
    sent("");
}
END_TEST

/* First lines that end the dialogue at once (len 0: strlen). */
#define MALFORMED MAILSSL_CODE_GREETING_MALFORMED
#define REJECTED MAILSSL_CODE_GREETING_REJECTED
#define PROTOCOL MAILSSL_CODE_PROTOCOL_ERROR
#define POST_TLS MAILSSL_CODE_POST_TLS_FAILED
START_TEST(first_lines_that_fail)
{
    static const struct {
        int service;
        const char *line;
        size_t len;
        int code;
    } cases[] = {
        {MAILSSL_SERVICE_SMTP, "2200 mx", 0, MALFORMED},
        {MAILSSL_SERVICE_SMTP, "22 mx", 0, MALFORMED},
        {MAILSSL_SERVICE_SMTP, "620 mx", 0, MALFORMED},
        {MAILSSL_SERVICE_SMTP, "220mx", 0, MALFORMED},
        {MAILSSL_SERVICE_SUBMISSION, "220-mx\0", 7, MALFORMED},
        {MAILSSL_SERVICE_LMTP, "521 no mail here", 0, REJECTED},
        {MAILSSL_SERVICE_LMTP, "250 hello?", 0, PROTOCOL},
        {MAILSSL_SERVICE_SMTPS, "", 0, POST_TLS},
        {MAILSSL_SERVICE_SMTPS, "* OK", 0, POST_TLS},
        {MAILSSL_SERVICE_IMAP, "* OKAY", 0, MALFORMED},
        {MAILSSL_SERVICE_IMAP, "*", 0, MALFORMED},
        {MAILSSL_SERVICE_IMAP, "", 0, MALFORMED},
        {MAILSSL_SERVICE_IMAP, "* OK\0", 5, MALFORMED},
        {MAILSSL_SERVICE_IMAP, "* OK {99999999999999999999+}", 0, PROTOCOL},
        {MAILSSL_SERVICE_IMAPS, "* BYE", 0, POST_TLS},
        {MAILSSL_SERVICE_IMAPS, "* NO", 0, POST_TLS},
        {MAILSSL_SERVICE_POP3, "+OKAY", 0, MALFORMED},
        {MAILSSL_SERVICE_POP3, "", 0, MALFORMED},
        {MAILSSL_SERVICE_POP3, "+OK \0", 5, MALFORMED},
        {MAILSSL_SERVICE_POP3S, "-ERR", 0, POST_TLS},
        {MAILSSL_SERVICE_SIEVE, "{10+}", 0, PROTOCOL},
        {MAILSSL_SERVICE_SIEVE, "NO", 0, REJECTED},
        {MAILSSL_SERVICE_SIEVE, "OKAY", 0, MALFORMED},
        {MAILSSL_SERVICE_SIEVE, "", 0, MALFORMED},
        {MAILSSL_SERVICE_SIEVE, "\"A\0\"", 4, MALFORMED},
    };
    size_t i, len;
    int svc;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        svc = cases[i].service;
        start(svc, svc == MAILSSL_SERVICE_SMTPS ||
                           svc == MAILSSL_SERVICE_IMAPS ||
                           svc == MAILSSL_SERVICE_POP3S
                       ? MAILSSL_PHASE_POST_TLS
                       : MAILSSL_PHASE_PRE_TLS);
        len = cases[i].len ? cases[i].len : strlen(cases[i].line);
        ck_assert_msg(feed_len(cases[i].line, len) == MAILSSL_DLG_FAIL &&
                          d.code == cases[i].code,
                      "case %zu: code %d", i, d.code);
        teardown();
    }
}
END_TEST

static Suite *dialogue_suite(void)
{
    Suite *s = suite_create("dialogue");
    TCase *smtp = tcase_create("smtp"), *imap = tcase_create("imap");
    TCase *pop3 = tcase_create("pop3"), *sieve = tcase_create("sieve");
    TCase *all = tcase_create("all");

    tcase_add_checked_fixture(smtp, NULL, teardown);
    tcase_add_checked_fixture(imap, NULL, teardown);
    tcase_add_checked_fixture(pop3, NULL, teardown);
    tcase_add_checked_fixture(sieve, NULL, teardown);
    tcase_add_checked_fixture(all, NULL, teardown);

    tcase_add_test(smtp, smtp_starttls_happy);
    tcase_add_test(smtp, submission_starttls_happy);
    tcase_add_test(smtp, lmtp_uses_lhlo);
    tcase_add_test(smtp, smtps_greeting_after_tls);
    tcase_add_test(smtp, smtps_has_no_plaintext_phase);
    tcase_add_test(smtp, smtp_post_tls_needs_go_ahead);
    tcase_add_test(smtp, smtp_single_line_ehlo_lacks_starttls);
    tcase_add_test(smtp, smtp_ehlo_refused);
    tcase_add_test(smtp, smtp_starttls_refused_454);
    tcase_add_test(smtp, smtp_starttls_refused_501_502);
    tcase_add_test(smtp, smtp_multiline_refusal);
    tcase_add_test(smtp, smtp_starttls_354_530_are_protocol_errors);
    tcase_add_test(smtp, smtp_go_ahead_only_on_last_line);
    tcase_add_test(smtp, smtp_greeting_rejected);
    tcase_add_test(smtp, smtp_greeting_unexpected_code);
    tcase_add_test(smtp, smtp_greeting_malformed);
    tcase_add_test(smtp, smtp_greeting_8bit_is_escaped);
    tcase_add_test(smtp, smtp_multiline_code_mismatch);
    tcase_add_test(smtp, smtp_never_ending_reply);
    tcase_add_test(smtp, smtp_caps_are_capped);
    tcase_add_test(smtp, smtp_caps_differ_after_tls);
    tcase_add_test(smtp, smtp_post_tls_failures);
    tcase_add_test(smtp, smtp_client_name);
    tcase_add_test(smtp, init_rejects_bad_service);

    tcase_add_test(imap, imap_starttls_happy);
    tcase_add_test(imap, imap_greeting_caps_skip_capability);
    tcase_add_test(imap, imap_greeting_caps_without_starttls_still_asks);
    tcase_add_test(imap, imaps_greeting_after_tls);
    tcase_add_test(imap, imaps_preauth_is_fine_after_tls);
    tcase_add_test(imap, imap_preauth);
    tcase_add_test(imap, imap_bye_greeting);
    tcase_add_test(imap, imap_greeting_malformed);
    tcase_add_test(imap, imap_starttls_refused);
    tcase_add_test(imap, imap_hidden_ok_is_not_a_go_ahead);
    tcase_add_test(imap, imap_wrong_tag);
    tcase_add_test(imap, imap_continuation);
    tcase_add_test(imap, imap_literal);
    tcase_add_test(imap, imap_bye_mid_dialogue);
    tcase_add_test(imap, imap_capability_refused);
    tcase_add_test(imap, imap_untagged_before_starttls_not_trusted_for_caps);
    tcase_add_test(imap, imap_post_tls_failure);
    tcase_add_test(imap, imap_never_ending_response);

    tcase_add_test(pop3, pop3_starttls_happy);
    tcase_add_test(pop3, pop3s_greeting_after_tls);
    tcase_add_test(pop3, pop3s_without_capa_still_answers);
    tcase_add_test(pop3, pop3_dot_stuffing);
    tcase_add_test(pop3, pop3_greeting_rejected_or_malformed);
    tcase_add_test(pop3, pop3_capa_unsupported);
    tcase_add_test(pop3, pop3_stls_refused);
    tcase_add_test(pop3, pop3_stls_protocol_error);
    tcase_add_test(pop3, pop3_never_ending_capa);

    tcase_add_test(sieve, sieve_starttls_happy);
    tcase_add_test(sieve, sieve_quoted_strings);
    tcase_add_test(sieve, sieve_malformed_strings);
    tcase_add_test(sieve, sieve_literal);
    tcase_add_test(sieve, sieve_not_offered);
    tcase_add_test(sieve, sieve_greeting_rejected_or_malformed);
    tcase_add_test(sieve, sieve_starttls_refused);
    tcase_add_test(sieve, sieve_starttls_protocol_error);
    tcase_add_test(sieve, sieve_post_tls_failure);
    tcase_add_test(sieve, sieve_never_ending_greeting);

    tcase_add_test(all, caps_are_sanitised_and_cut);
    tcase_add_test(all, long_server_text_is_cut_in_messages);
    tcase_add_test(all, timeout_codes);
    tcase_add_test(all, first_lines_that_fail);
    tcase_add_test(all, odd_answers_mid_dialogue);
    tcase_add_test(all, misuse_is_refused);
    tcase_add_test(all, messages_quote_the_right_line);

    suite_add_tcase(s, smtp);
    suite_add_tcase(s, imap);
    suite_add_tcase(s, pop3);
    suite_add_tcase(s, sieve);
    suite_add_tcase(s, all);
    return s;
}

int main(void)
{
    return check_run(dialogue_suite(), CK_FORK_GETENV);
}
