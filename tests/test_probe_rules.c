/*
 * The probe's rules of issue 14, as tables (one row a case, one runner):
 *  - stage: the last stage that really completed, for every diagnosis
 *    code (SPEC.md section 5; the rule per code is the table of the
 *    README's "Stages" entry). cert-expiring is a valid certificate, also
 *    inside the critical window: the service dialogue runs to the end;
 *  - a line cut off by the end of the connection (bytes without a line
 *    end, then FIN) is quoted, with the code of its phase, for every
 *    service and every phase (README "Cut-off lines");
 *  - API corners: mailssl_probe_done(NULL), a started probe given to a
 *    batch, a stage timeout of 0.
 * Scripted loopback servers (scriptserver.h), certificates made at run
 * time (certgen.h), explicit validation dates.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certgen.h"
#include "check_run.h"
#include "mailssl.h"
#include "scriptserver.h"

/* the CA covers 2025-2035, the leaf 2026-01-01 .. 2027-01-01 */
#define CA_FROM 1735689600
#define CA_UNTIL 2051222400
#define LEAF_FROM 1767225600
#define LEAF_UNTIL 1798761600
#define T_VALID 1780272000 /* 2026-06-01: 214 days left */

static char *tmp;
static char ca_path[512];
static struct certgen_cert root, server;
static gnutls_x509_crt_t served[2];

static void fixture_up(void)
{
    static const char *const names[] = {"mail.example.test", "localhost",
                                        NULL};
    static const char *const addrs[] = {"127.0.0.1", NULL};
    const struct certgen_opts ca_opts = {.cn = "Rules CA",
                                         .is_ca = 1,
                                         .not_before = CA_FROM,
                                         .not_after = CA_UNTIL};
    const struct certgen_opts leaf_opts = {.cn = "mail.example.test",
                                           .dns = names,
                                           .ips = addrs,
                                           .not_before = LEAF_FROM,
                                           .not_after = LEAF_UNTIL};
    const struct certgen_cert *trust[] = {&root};

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    tmp = certgen_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    ck_assert_int_eq(certgen_make(&root, &ca_opts, NULL), 0);
    ck_assert_int_eq(certgen_make(&server, &leaf_opts, &root), 0);
    served[0] = server.crt;
    served[1] = root.crt;
    snprintf(ca_path, sizeof ca_path, "%s/rules-ca.pem", tmp);
    ck_assert_int_eq(certgen_write_pem(ca_path, trust, 1, NULL), 0);
}

static void fixture_down(void)
{
    certgen_free(&server);
    certgen_free(&root);
    certgen_rmdir(tmp);
    free(tmp);
    mailssl_deinit();
}

/* ---- scripts ------------------------------------------------------------ */

/* Step lists by protocol: greeting, up to the capability reply, up to the
 * STARTTLS reply, into TLS (waiting for the first post-TLS command or, for
 * Sieve, about to re-send the capabilities), and the rest of a good
 * post-TLS dialogue. */
#define SMTP_GREETS SEND("220 mx.example.test ESMTP\r\n")
#define SMTP_HELLO(h) SMTP_GREETS, EXPECT(h)
#define SMTP_TO_GO(h) \
    SMTP_HELLO(h), SEND("250-mx.example.test\r\n250 STARTTLS\r\n"), \
        EXPECT("STARTTLS")
#define SMTP_IN_TLS(h) \
    SMTP_TO_GO(h), SEND("220 2.0.0 go ahead\r\n"), TLS(NULL), EXPECT(h)
#define SMTP_DONE \
    SEND("250-mx.example.test\r\n250 AUTH PLAIN\r\n"), EXPECT("QUIT"), \
        SEND("221 bye\r\n")
#define SMTP_CAPS "AUTH PLAIN"

#define IMAP_GREETS SEND("* OK IMAP4rev1 ready\r\n")
#define IMAP_HELLO IMAP_GREETS, EXPECT("A1 CAPABILITY")
#define IMAP_TO_GO \
    IMAP_HELLO, SEND("* CAPABILITY IMAP4rev1 STARTTLS\r\n$TAG OK\r\n"), \
        EXPECT("A2 STARTTLS")
#define IMAP_IN_TLS \
    IMAP_TO_GO, SEND("$TAG OK begin TLS\r\n"), TLS(NULL), \
        EXPECT("A3 CAPABILITY")
#define IMAP_DONE(logout) \
    SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$TAG OK\r\n"), \
        EXPECT(logout), SEND("* BYE\r\n$TAG OK\r\n")
#define IMAP_CAPS "IMAP4rev1|AUTH=PLAIN"

#define POP3_GREETS SEND("+OK POP3 ready\r\n")
#define POP3_HELLO POP3_GREETS, EXPECT("CAPA")
#define POP3_TO_GO POP3_HELLO, SEND("+OK\r\nSTLS\r\n.\r\n"), EXPECT("STLS")
#define POP3_IN_TLS \
    POP3_TO_GO, SEND("+OK begin TLS\r\n"), TLS(NULL), EXPECT("CAPA")
#define POP3_DONE \
    SEND("+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n"), EXPECT("QUIT"), \
        SEND("+OK bye\r\n")
#define POP3_CAPS "USER|SASL PLAIN"

#define SIEVE_IMPL "\"IMPLEMENTATION\" \"rules\"\r\n"
#define SIEVE_TO_GO \
    SEND(SIEVE_IMPL "\"STARTTLS\"\r\nOK\r\n"), EXPECT("STARTTLS")
#define SIEVE_IN_TLS SIEVE_TO_GO, SEND("OK \"begin TLS\"\r\n"), TLS(NULL)
#define SIEVE_DONE \
    SEND(SIEVE_IMPL "\"SASL\" \"PLAIN\"\r\nOK\r\n"), EXPECT("LOGOUT"), \
        SEND("OK\r\n")
#define SIEVE_CAPS "IMPLEMENTATION|SASL"

/* implicit TLS: the handshake, then the greeting and the first command */
#define SMTPS_HELLO TLS(NULL), SMTP_HELLO("EHLO ")
#define IMAPS_HELLO TLS(NULL), IMAP_HELLO
#define POP3S_HELLO TLS(NULL), POP3_HELLO

/* the whole good dialogue of each service */
#define SMTP_FULL STEPS(SMTP_IN_TLS("EHLO "), SMTP_DONE)
#define LMTP_FULL STEPS(SMTP_IN_TLS("LHLO "), SMTP_DONE)
#define SMTPS_FULL STEPS(SMTPS_HELLO, SMTP_DONE)
#define IMAP_FULL STEPS(IMAP_IN_TLS, IMAP_DONE("A4 LOGOUT"))
#define IMAPS_FULL STEPS(IMAPS_HELLO, IMAP_DONE("A2 LOGOUT"))
#define POP3_FULL STEPS(POP3_IN_TLS, POP3_DONE)
#define POP3S_FULL STEPS(POP3S_HELLO, POP3_DONE)
#define SIEVE_FULL STEPS(SIEVE_IN_TLS, SIEVE_DONE)

#define SILENT STEPS(SLEEP(20000))

/* ---- one row a case ----------------------------------------------------- */

#define CRIT MAILSSL_SEVERITY_CRITICAL
#define WARN MAILSSL_SEVERITY_WARNING

struct rule_case {
    const char *name;
    const char *service;
    const struct ss_step *script; /* the whole script, or with cut: what
                                     comes before the cut-off line */
    const char *cut;   /* not NULL: these bytes, no line end, then FIN */
    int days_left;     /* not 0: validate when the leaf has that many days
                          left (negative: expired that long ago); 0:
                          T_VALID */
    int deadline_ms;   /* 0: 5000 */
    int limit_stage;   /* not 0: set a 300 ms timeout on this stage, then
                          limit_ms (the last call wins) */
    int32_t limit_ms;
    int code, status, stage;
    const char *caps;  /* the capabilities, '|'-joined; NULL: none */
    const char *msg;   /* in the message (NULL: not checked) */
};

/* The script of c: c->script, plus the cut-off line and FIN. */
static const struct ss_step *script_of(const struct rule_case *c,
                                       struct ss_step *buf, size_t n)
{
    size_t k = 0;
    const struct ss_step *st;

    if (!c->cut)
        return c->script;
    for (st = c->script; st && st->op != SS_END; st++) {
        ck_assert_uint_lt(k, n - 3);
        buf[k++] = *st;
    }
    buf[k++] = (struct ss_step){SS_SEND, c->cut, 0, 0};
    buf[k++] = (struct ss_step){SS_CLOSE, NULL, 0, 0};
    buf[k] = (struct ss_step){SS_END, NULL, 0, 0};
    return buf;
}

static void caps_of(const mailssl_probe *p, char *out, size_t n)
{
    size_t i;

    out[0] = '\0';
    for (i = 0; i < mailssl_probe_capability_count(p); i++) {
        if (i)
            strncat(out, "|", n - strlen(out) - 1);
        strncat(out, mailssl_probe_capability(p, i), n - strlen(out) - 1);
    }
}

/* A probe of c->service at port with the settings of c. */
static mailssl_probe *rule_probe(const struct rule_case *c, int port)
{
    char url[128];
    int64_t when = c->days_left
                       ? LEAF_UNTIL - (int64_t)c->days_left * 86400 - 60
                       : T_VALID;
    mailssl_probe *p;

    snprintf(url, sizeof url, "%s://127.0.0.1:%d", c->service, port);
    p = mailssl_probe_new(url);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(mailssl_probe_set_cafile(p, ca_path), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_time(p, when), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_timeout_ms(
                         p, c->deadline_ms ? c->deadline_ms : 5000),
                     MAILSSL_OK);
    if (c->limit_stage) {
        ck_assert_int_eq(
            mailssl_probe_set_stage_timeout_ms(p, c->limit_stage, 300),
            MAILSSL_OK);
        ck_assert_int_eq(mailssl_probe_set_stage_timeout_ms(p, c->limit_stage,
                                                            c->limit_ms),
                         MAILSSL_OK);
    }
    return p;
}

static void run_rule(const struct rule_case *c)
{
    struct ss_step buf[40];
    struct ss_config cfg = {.family = 4, .chain = served, .nchain = 2};
    struct scriptserver *s;
    mailssl_probe *p;
    char caps[512];
    const char *m;

    cfg.key = server.key;
    cfg.script = script_of(c, buf, sizeof buf / sizeof buf[0]);
    s = ss_start(&cfg);
    ck_assert_ptr_nonnull(s);
    p = rule_probe(c, ss_port(s));
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ck_assert_int_eq(ss_quiesce(s, 1), 0);
    m = mailssl_probe_message(p);
    ck_assert_ptr_nonnull(m);
    ck_assert_msg(mailssl_probe_diagnosis(p) == c->code,
                  "%s: diagnosis %s, expected %s (%s)", c->name,
                  mailssl_code_name(mailssl_probe_diagnosis(p)),
                  mailssl_code_name(c->code), m);
    ck_assert_msg(mailssl_probe_stage(p) == c->stage,
                  "%s: stage %s, expected %s (%s)", c->name,
                  mailssl_stage_name(mailssl_probe_stage(p)),
                  mailssl_stage_name(c->stage), m);
    ck_assert_msg(mailssl_probe_status(p) == c->status,
                  "%s: status %d, expected %d", c->name,
                  mailssl_probe_status(p), c->status);
    caps_of(p, caps, sizeof caps);
    ck_assert_msg(strcmp(caps, c->caps ? c->caps : "") == 0,
                  "%s: capabilities \"%s\", expected \"%s\"", c->name, caps,
                  c->caps ? c->caps : "");
    ck_assert_msg(!c->msg || strstr(m, c->msg),
                  "%s: message \"%s\" lacks \"%s\"", c->name, m, c->msg);
    mailssl_probe_free(p);
    ss_stop(s);
}

/* ---- stage: the last stage that really completed ------------------------ */

/* server bytes as a message quotes them */
#define QUOTED(s) "\"" s "\" without a line end"

#define NONE_SET 0, 0, 0, 0
#define DAYS(n) n, 0, 0, 0
#define LIMIT(deadline, stage, ms) 0, deadline, stage, ms

static const struct rule_case stages[] = {
    /* cert-expiring is a valid certificate: the dialogue runs to the end,
     * inside the critical window too (3 days left, crit 7) */
    {"smtp: expiring, critical", "smtp", SMTP_FULL, NULL, DAYS(3),
     MAILSSL_CODE_CERT_EXPIRING, CRIT, MAILSSL_STAGE_DONE, SMTP_CAPS, NULL},
    {"submission: expiring, critical", "submission", SMTP_FULL, NULL, DAYS(3),
     MAILSSL_CODE_CERT_EXPIRING, CRIT, MAILSSL_STAGE_DONE, SMTP_CAPS, NULL},
    {"smtps: expiring, critical", "smtps", SMTPS_FULL, NULL, DAYS(3),
     MAILSSL_CODE_CERT_EXPIRING, CRIT, MAILSSL_STAGE_DONE, SMTP_CAPS, NULL},
    {"lmtp: expiring, critical", "lmtp", LMTP_FULL, NULL, DAYS(3),
     MAILSSL_CODE_CERT_EXPIRING, CRIT, MAILSSL_STAGE_DONE, SMTP_CAPS, NULL},
    {"imap: expiring, critical", "imap", IMAP_FULL, NULL, DAYS(3),
     MAILSSL_CODE_CERT_EXPIRING, CRIT, MAILSSL_STAGE_DONE, IMAP_CAPS, NULL},
    {"imaps: expiring, critical", "imaps", IMAPS_FULL, NULL, DAYS(3),
     MAILSSL_CODE_CERT_EXPIRING, CRIT, MAILSSL_STAGE_DONE, IMAP_CAPS,
     "expires"},
    {"pop3: expiring, critical", "pop3", POP3_FULL, NULL, DAYS(3),
     MAILSSL_CODE_CERT_EXPIRING, CRIT, MAILSSL_STAGE_DONE, POP3_CAPS, NULL},
    {"pop3s: expiring, critical", "pop3s", POP3S_FULL, NULL, DAYS(3),
     MAILSSL_CODE_CERT_EXPIRING, CRIT, MAILSSL_STAGE_DONE, POP3_CAPS, NULL},
    {"sieve: expiring, critical", "sieve", SIEVE_FULL, NULL, DAYS(3),
     MAILSSL_CODE_CERT_EXPIRING, CRIT, MAILSSL_STAGE_DONE, SIEVE_CAPS, NULL},
    {"imaps: expiring, warning", "imaps", IMAPS_FULL, NULL, DAYS(10),
     MAILSSL_CODE_CERT_EXPIRING, WARN, MAILSSL_STAGE_DONE, IMAP_CAPS, NULL},
    /* expiring and then the service fails: the dialogue decides */
    {"imaps: expiring, critical, then closed", "imaps", STEPS(TLS(NULL)),
     NULL, DAYS(3), MAILSSL_CODE_POST_TLS_FAILED, CRIT, MAILSSL_STAGE_VERIFY,
     NULL, "after the TLS handshake"},
    {"imaps: ok", "imaps", IMAPS_FULL, NULL, NONE_SET, MAILSSL_CODE_OK,
     MAILSSL_SEVERITY_OK, MAILSSL_STAGE_DONE, IMAP_CAPS, NULL},
    {"smtp: ok", "smtp", SMTP_FULL, NULL, NONE_SET, MAILSSL_CODE_OK,
     MAILSSL_SEVERITY_OK, MAILSSL_STAGE_DONE, SMTP_CAPS, NULL},
    /* verification failed: the handshake completed, verify did not */
    {"imaps: expired", "imaps", IMAPS_FULL, NULL, DAYS(-14),
     MAILSSL_CODE_CERT_EXPIRED, CRIT, MAILSSL_STAGE_HANDSHAKE, NULL, NULL},
    {"smtp: expired", "smtp", SMTP_FULL, NULL, DAYS(-14),
     MAILSSL_CODE_CERT_EXPIRED, CRIT, MAILSSL_STAGE_HANDSHAKE, NULL, NULL},
    {"pop3: not yet valid", "pop3", POP3_FULL, NULL, DAYS(400),
     MAILSSL_CODE_CERT_NOT_YET_VALID, CRIT, MAILSSL_STAGE_HANDSHAKE, NULL,
     NULL},
    /* the handshake failed: the stage before it */
    {"imaps: closed in the handshake", "imaps",
     STEPS(RECV, CLOSE), NULL, NONE_SET,
     MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE, CRIT, MAILSSL_STAGE_CONNECT,
     NULL, NULL},
    {"smtp: closed in the handshake", "smtp",
     STEPS(SMTP_TO_GO("EHLO "), SEND("220 go ahead\r\n"), RECV,
             CLOSE),
     NULL, NONE_SET, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE, CRIT,
     MAILSSL_STAGE_STARTTLS, NULL, NULL},
    /* the post-TLS dialogue failed: verify completed */
    {"pop3s: closed after the handshake", "pop3s", STEPS(TLS(NULL)), NULL,
     NONE_SET, MAILSSL_CODE_POST_TLS_FAILED, CRIT, MAILSSL_STAGE_VERIFY, NULL,
     NULL},
    {"sieve: post-TLS timeout", "sieve", STEPS(SIEVE_IN_TLS, SLEEP(20000)),
     NULL, LIMIT(5000, MAILSSL_STAGE_POST_TLS, 300),
     MAILSSL_CODE_POST_TLS_FAILED, CRIT, MAILSSL_STAGE_VERIFY, NULL,
     "stage deadline"},
    /* the plaintext dialogue */
    {"smtp: greeting rejected", "smtp",
     STEPS(SEND("554 no service\r\n"), DRAIN), NULL, NONE_SET,
     MAILSSL_CODE_GREETING_REJECTED, CRIT, MAILSSL_STAGE_CONNECT, NULL, NULL},
    {"imap: greeting malformed", "imap",
     STEPS(SEND("HELLO\r\n"), DRAIN), NULL, NONE_SET,
     MAILSSL_CODE_GREETING_MALFORMED, CRIT, MAILSSL_STAGE_CONNECT, NULL,
     NULL},
    {"pop3: closed before the greeting", "pop3", STEPS(CLOSE), NULL,
     NONE_SET, MAILSSL_CODE_GREETING_REJECTED, CRIT, MAILSSL_STAGE_CONNECT,
     NULL, "before sending a greeting"},
    {"imap: PREAUTH", "imap",
     STEPS(SEND("* PREAUTH hi\r\n"), DRAIN), NULL, NONE_SET,
     MAILSSL_CODE_STARTTLS_PREAUTH, CRIT, MAILSSL_STAGE_GREETING, NULL, NULL},
    {"pop3: STLS not offered", "pop3",
     STEPS(POP3_HELLO, SEND("+OK\r\nUSER\r\n.\r\n"), DRAIN), NULL,
     NONE_SET, MAILSSL_CODE_STARTTLS_NOT_OFFERED, CRIT,
     MAILSSL_STAGE_GREETING, NULL, NULL},
    {"smtp: STARTTLS refused", "smtp",
     STEPS(SMTP_TO_GO("EHLO "), SEND("454 4.7.0 no TLS\r\n"), DRAIN),
     NULL, NONE_SET, MAILSSL_CODE_STARTTLS_REFUSED, CRIT,
     MAILSSL_STAGE_GREETING, NULL, NULL},
    {"imap: STARTTLS answered by another tag", "imap",
     STEPS(IMAP_TO_GO, SEND("B9 OK begin\r\n"), DRAIN), NULL,
     NONE_SET, MAILSSL_CODE_PROTOCOL_ERROR, CRIT, MAILSSL_STAGE_GREETING,
     NULL, NULL},
    {"pop3: STARTTLS injection", "pop3",
     STEPS(POP3_TO_GO, SEND("+OK go\r\n+OK injected\r\n"), DRAIN), NULL,
     NONE_SET, MAILSSL_CODE_STARTTLS_INJECTION, CRIT, MAILSSL_STAGE_GREETING,
     NULL, NULL},
    {"smtp: STARTTLS timeout", "smtp",
     STEPS(SMTP_HELLO("EHLO "), SLEEP(20000)), NULL,
     LIMIT(5000, MAILSSL_STAGE_STARTTLS, 300), MAILSSL_CODE_STARTTLS_TIMEOUT,
     CRIT, MAILSSL_STAGE_GREETING, NULL, "stage deadline"},
    /* a line begun, then silence: the phase's timeout, the bytes quoted */
    {"smtp: greeting begun, then silence", "smtp",
     STEPS(SEND("220 mail.example.test"), SLEEP(20000)), NULL,
     LIMIT(5000, MAILSSL_STAGE_GREETING, 300), MAILSSL_CODE_GREETING_TIMEOUT,
     CRIT, MAILSSL_STAGE_CONNECT, NULL,
     "; it sent " QUOTED("220 mail.example.test")},
    {"pop3: CAPA reply begun, then silence", "pop3",
     STEPS(POP3_HELLO, SEND("+OK\r\nST"), SLEEP(20000)), NULL,
     LIMIT(5000, MAILSSL_STAGE_STARTTLS, 300), MAILSSL_CODE_STARTTLS_TIMEOUT,
     CRIT, MAILSSL_STAGE_GREETING, NULL, QUOTED("ST")},
    {"imaps: greeting begun after TLS, then silence", "imaps",
     STEPS(TLS(NULL), SEND("* OK IMAP"), SLEEP(20000)), NULL,
     LIMIT(5000, MAILSSL_STAGE_POST_TLS, 300), MAILSSL_CODE_POST_TLS_FAILED,
     CRIT, MAILSSL_STAGE_VERIFY, NULL, QUOTED("* OK IMAP")},
    /* a stage timeout of 0 is no limit of its own: the whole deadline */
    {"imap: greeting stage limit 300 ms", "imap", SILENT, NULL,
     LIMIT(1000, MAILSSL_STAGE_GREETING, 300), MAILSSL_CODE_GREETING_TIMEOUT,
     CRIT, MAILSSL_STAGE_CONNECT, NULL, "the stage deadline"},
    {"imap: greeting stage limit 0", "imap", SILENT, NULL,
     LIMIT(1000, MAILSSL_STAGE_GREETING, 0), MAILSSL_CODE_GREETING_TIMEOUT,
     CRIT, MAILSSL_STAGE_CONNECT, NULL, "the probe's deadline"},
};

START_TEST(test_stage)
{
    run_rule(&stages[_i]);
}
END_TEST

/* ---- cut-off lines: a row per service and phase ------------------------- */

#define CUT(prefix, bytes) prefix, bytes, NONE_SET
#define GREETING_CUT(bytes) \
    CUT(NULL, bytes), MAILSSL_CODE_GREETING_MALFORMED, CRIT, \
        MAILSSL_STAGE_CONNECT, NULL
#define PRE_TLS_CUT(prefix, bytes) \
    CUT(STEPS(prefix), bytes), MAILSSL_CODE_PROTOCOL_ERROR, CRIT, \
        MAILSSL_STAGE_GREETING, NULL
#define POST_TLS_CUT(prefix, bytes) \
    CUT(STEPS(prefix), bytes), MAILSSL_CODE_POST_TLS_FAILED, CRIT, \
        MAILSSL_STAGE_VERIFY, NULL
#define A40 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct rule_case cutoffs[] = {
    {"smtp greeting", "smtp", GREETING_CUT("220 mail.example.test ESMTP"),
     QUOTED("220 mail.example.test ESMTP") ", then closed the connection"},
    {"smtp EHLO reply", "smtp",
     PRE_TLS_CUT(SMTP_HELLO("EHLO "), "250-mx\r\n250 PIPELI"),
     QUOTED("250 PIPELI")},
    {"smtp STARTTLS reply", "smtp",
     PRE_TLS_CUT(SMTP_TO_GO("EHLO "), "220 2.0.0 Ready to st"),
     QUOTED("220 2.0.0 Ready to st")},
    {"smtp after TLS", "smtp",
     POST_TLS_CUT(SMTP_IN_TLS("EHLO "), "250-mx\r\n250 AUTH PL"),
     QUOTED("250 AUTH PL")},
    {"submission greeting", "submission",
     GREETING_CUT("220 mail.example.test ESMTP"),
     QUOTED("220 mail.example.test ESMTP")},
    {"submission EHLO reply", "submission",
     PRE_TLS_CUT(SMTP_HELLO("EHLO "), "250-mx\r\n250 PIPELI"),
     QUOTED("250 PIPELI")},
    {"submission STARTTLS reply", "submission",
     PRE_TLS_CUT(SMTP_TO_GO("EHLO "), "220 2.0.0 Ready to st"),
     QUOTED("220 2.0.0 Ready to st")},
    {"submission after TLS", "submission",
     POST_TLS_CUT(SMTP_IN_TLS("EHLO "), "250-mx\r\n250 AUTH PL"),
     QUOTED("250 AUTH PL")},
    {"lmtp greeting", "lmtp", GREETING_CUT("220 mail.example.test LMTP"),
     QUOTED("220 mail.example.test LMTP")},
    {"lmtp LHLO reply", "lmtp",
     PRE_TLS_CUT(SMTP_HELLO("LHLO "), "250-mx\r\n250 PIPELI"),
     QUOTED("250 PIPELI")},
    {"lmtp STARTTLS reply", "lmtp",
     PRE_TLS_CUT(SMTP_TO_GO("LHLO "), "220 2.0.0 Ready to st"),
     QUOTED("220 2.0.0 Ready to st")},
    {"lmtp after TLS", "lmtp",
     POST_TLS_CUT(SMTP_IN_TLS("LHLO "), "250-mx\r\n250 AUTH PL"),
     QUOTED("250 AUTH PL")},
    {"smtps greeting", "smtps",
     POST_TLS_CUT(TLS(NULL), "220 mail.example.test ESMTP"),
     "after TLS, the greeting was cut off: the server sent "
     QUOTED("220 mail.example.test ESMTP")},
    {"smtps EHLO reply", "smtps",
     POST_TLS_CUT(SMTPS_HELLO, "250-mx\r\n250 AUTH PL"),
     QUOTED("250 AUTH PL")},
    {"imap greeting", "imap", GREETING_CUT("* OK IMAP4rev1 rea"),
     QUOTED("* OK IMAP4rev1 rea")},
    {"imap CAPABILITY reply", "imap",
     PRE_TLS_CUT(IMAP_HELLO, "* CAPABILITY IMAP4rev1 STARTT"),
     QUOTED("* CAPABILITY IMAP4rev1 STARTT")},
    {"imap STARTTLS reply", "imap", PRE_TLS_CUT(IMAP_TO_GO, "$TAG OK Begin TL"),
     QUOTED("A2 OK Begin TL")},
    {"imap after TLS", "imap",
     POST_TLS_CUT(IMAP_IN_TLS, "* CAPABILITY IMAP4rev1 AUTH=PL"),
     QUOTED("* CAPABILITY IMAP4rev1 AUTH=PL")},
    {"imaps greeting", "imaps", POST_TLS_CUT(TLS(NULL), "* OK IMAP4rev1 rea"),
     QUOTED("* OK IMAP4rev1 rea")},
    {"imaps CAPABILITY reply", "imaps",
     POST_TLS_CUT(IMAPS_HELLO, "* CAPABILITY IMAP4rev1 AUTH=PL"),
     QUOTED("* CAPABILITY IMAP4rev1 AUTH=PL")},
    {"pop3 greeting", "pop3", GREETING_CUT("+OK POP3 rea"),
     QUOTED("+OK POP3 rea")},
    {"pop3 CAPA reply", "pop3", PRE_TLS_CUT(POP3_HELLO, "+OK\r\nSTL"),
     QUOTED("STL")},
    {"pop3 STLS reply", "pop3", PRE_TLS_CUT(POP3_TO_GO, "+OK Begin T"),
     QUOTED("+OK Begin T")},
    {"pop3 after TLS", "pop3",
     POST_TLS_CUT(POP3_IN_TLS, "+OK\r\nUSER\r\nSASL PL"), QUOTED("SASL PL")},
    {"pop3s greeting", "pop3s", POST_TLS_CUT(TLS(NULL), "+OK POP3 rea"),
     QUOTED("+OK POP3 rea")},
    {"pop3s CAPA reply", "pop3s",
     POST_TLS_CUT(POP3S_HELLO, "+OK\r\nSASL PL"),
     QUOTED("SASL PL")},
    /* Sieve's capabilities before TLS are its greeting */
    {"sieve greeting", "sieve", GREETING_CUT("\"IMPLEMENTATION\" \"rul"),
     QUOTED("\"IMPLEMENTATION\" \"rul")},
    {"sieve greeting capabilities", "sieve",
     CUT(STEPS(SEND(SIEVE_IMPL)), "\"STARTT"),
     MAILSSL_CODE_GREETING_MALFORMED, CRIT, MAILSSL_STAGE_CONNECT, NULL,
     QUOTED("\"STARTT")},
    {"sieve STARTTLS reply", "sieve", PRE_TLS_CUT(SIEVE_TO_GO, "OK \"begin T"),
     QUOTED("OK \"begin T")},
    {"sieve after TLS", "sieve",
     POST_TLS_CUT(SIEVE_IN_TLS, SIEVE_IMPL "\"SASL\" \"PL"),
     QUOTED("\"SASL\" \"PL")},
    /* the quote is escaped and bounded */
    {"smtp greeting, control byte", "smtp",
     GREETING_CUT("220 mail\x01.example.test\r"),
     QUOTED("220 mail\\x01.example.test\\x0d")},
    {"smtp greeting, long", "smtp",
     GREETING_CUT("220 " A40 A40 A40 A40 A40 A40),
     "aaaa...\" without a line end"},
};

START_TEST(test_cutoff)
{
    run_rule(&cutoffs[_i]);
}
END_TEST

/* ---- API corners -------------------------------------------------------- */

enum subject { NO_PROBE, NEW_PROBE, FINISHED_PROBE };
enum call { DONE, BATCH_ADD, STAGE_TIMEOUT };

struct api_case {
    const char *name;
    enum subject subject; /* the probe the call is given */
    enum call call;
    int stage;            /* STAGE_TIMEOUT: its arguments */
    int32_t ms;
    int expected;
};

static const struct api_case api_cases[] = {
    {"done(NULL)", NO_PROBE, DONE, 0, 0, MAILSSL_ERR_INVALID},
    {"done(not started)", NEW_PROBE, DONE, 0, 0, 0},
    {"done(finished)", FINISHED_PROBE, DONE, 0, 0, 1},
    {"batch_add(started)", FINISHED_PROBE, BATCH_ADD, 0, 0,
     MAILSSL_ERR_STATE},
    {"batch_add(NULL)", NO_PROBE, BATCH_ADD, 0, 0, MAILSSL_ERR_INVALID},
    {"batch_add(new)", NEW_PROBE, BATCH_ADD, 0, 0, MAILSSL_OK},
    {"stage timeout 0: no limit of its own", NEW_PROBE, STAGE_TIMEOUT,
     MAILSSL_STAGE_HANDSHAKE, 0, MAILSSL_OK},
    {"stage timeout -1", NEW_PROBE, STAGE_TIMEOUT, MAILSSL_STAGE_HANDSHAKE,
     -1, MAILSSL_ERR_INVALID},
    {"stage timeout 0, resolve", NEW_PROBE, STAGE_TIMEOUT,
     MAILSSL_STAGE_RESOLVE, 0, MAILSSL_ERR_INVALID},
    {"stage timeout 0, started", FINISHED_PROBE, STAGE_TIMEOUT,
     MAILSSL_STAGE_CONNECT, 0, MAILSSL_ERR_STATE},
};

START_TEST(test_api)
{
    const struct api_case *c = &api_cases[_i];
    mailssl_probe *p = NULL;
    mailssl_batch *b = mailssl_batch_new(1);
    int r;

    ck_assert_ptr_nonnull(b);
    if (c->subject != NO_PROBE) {
        /* a URL that does not parse: the probe finishes at start */
        p = mailssl_probe_new(c->subject == NEW_PROBE ? "imaps://127.0.0.1:1"
                                                      : "not a url");
        ck_assert_ptr_nonnull(p);
        if (c->subject == FINISHED_PROBE)
            ck_assert_int_eq(mailssl_probe_start(p), MAILSSL_ERR_SYNTAX);
    }
    r = c->call == DONE        ? mailssl_probe_done(p)
        : c->call == BATCH_ADD ? mailssl_batch_add(b, p)
                               : mailssl_probe_set_stage_timeout_ms(
                                     p, c->stage, c->ms);
    ck_assert_msg(r == c->expected, "%s: %d (%s), expected %d (%s)", c->name,
                  r, r < 0 ? mailssl_strerror(r) : "", c->expected,
                  c->expected < 0 ? mailssl_strerror(c->expected) : "");
    mailssl_batch_free(b);
    mailssl_probe_free(p);
}
END_TEST

int main(void)
{
    const struct {
        const char *name;
        const TTest *test;
        int rows;
    } groups[] = {{"stage", test_stage, CHECK_COUNT(stages)},
                  {"cut-off", test_cutoff, CHECK_COUNT(cutoffs)},
                  {"api", test_api, CHECK_COUNT(api_cases)}};
    Suite *suite = suite_create("probe_rules");
    size_t i;

    for (i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        TCase *tc = tcase_create(groups[i].name);

        tcase_add_checked_fixture(tc, fixture_up, fixture_down);
        tcase_add_loop_test(tc, groups[i].test, 0, groups[i].rows);
        suite_add_tcase(suite, tc);
    }
    return check_run(suite, CK_FORK_GETENV);
}
