/*
 * test_interop.c - the probe against real Dovecot and Postfix (issue 7).
 *
 * Each test case (dovecot, dovecot-nossl, postfix) writes a private
 * configuration, starts its server (tests/interop/mailservers.h) in an
 * unchecked fixture - in the runner's process, before the tests are forked
 * - and stops it afterwards, whatever the tests did; the harness's
 * atexit/fatal-signal handlers stop it if the runner dies. Each test
 * probes one row of its case's table and asserts the exact diagnosis
 * code and the certificate seen; on a mismatch the server's own log lines from the
 * probe's time are written to the test output.
 *
 * Without the server binaries the suite exits 77 (skipped), unless
 * MAILSSL_REQUIRE_INTEROP=1, which makes that a failure.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mailssl.h"
#include "../certgen.h"
#include "../check_run.h"
#include "mailservers.h"

static struct ms_certs certs;
static struct ms_dovecot dovecot, dovecot_nossl;
static struct ms_postfix postfix;
/* Why a server did not start ("" once it runs). */
static char dovecot_err[2048] = "not started", nossl_err[2048] = "not started",
            postfix_err[2048] = "not started";

/* Unchecked fixtures: they run in the Check runner's own process, around
 * the forked tests of their test case, so a server is stopped after its
 * tests whatever they did (and by the harness's exit/signal handlers if
 * the runner itself dies). */
static void start_msg(const char *what, const char *err)
{
    if (err[0])
        fprintf(stderr, "interop: %s did not start: %s\n", what, err);
}

static void dovecot_up(void)
{
    if (ms_dovecot_start(&dovecot, &certs, 1, dovecot_err,
                         sizeof dovecot_err) == 0) {
        dovecot_err[0] = '\0';
        fprintf(stderr,
                "interop: dovecot imap %d imaps %d pop3 %d pop3s %d "
                "sieve %d lmtp %d (log %s)\n",
                dovecot.port[MS_IMAP], dovecot.port[MS_IMAPS],
                dovecot.port[MS_POP3], dovecot.port[MS_POP3S],
                dovecot.port[MS_SIEVE], dovecot.port[MS_LMTP], dovecot.log);
    }
    start_msg("dovecot", dovecot_err);
}

static void dovecot_down(void)
{
    ms_dovecot_stop(&dovecot);
}

static void nossl_up(void)
{
    if (ms_dovecot_start(&dovecot_nossl, &certs, 0, nossl_err,
                         sizeof nossl_err) == 0) {
        nossl_err[0] = '\0';
        fprintf(stderr, "interop: dovecot (ssl = no) imap %d\n",
                dovecot_nossl.port[MS_IMAP]);
    }
    start_msg("dovecot (ssl = no)", nossl_err);
}

static void nossl_down(void)
{
    ms_dovecot_stop(&dovecot_nossl);
}

static void postfix_up(void)
{
    if (ms_postfix_start(&postfix, &certs, postfix_err,
                         sizeof postfix_err) == 0) {
        postfix_err[0] = '\0';
        fprintf(stderr,
                "interop: postfix smtp %d smtps %d, mismatched key smtp %d "
                "smtps %d (log %s)\n",
                postfix.port[MS_SMTP], postfix.port[MS_SMTPS],
                postfix.port[MS_SMTP_BADKEY], postfix.port[MS_SMTPS_BADKEY],
                postfix.log);
    }
    start_msg("postfix", postfix_err);
}

static void postfix_down(void)
{
    ms_postfix_stop(&postfix);
}

/* One probe and the server log it is checked against. */
struct run {
    mailssl_probe *p;
    const char *log;  /* the server's log file */
    long log_from;    /* its size before the probe */
    char label[600];
};

static void run_probe(struct run *r, const char *start_err,
                      const char *service, int port, const char *host,
                      const char *connect_to, const char *log)
{
    char url[256];

    /* The server of this test case did not start: fail, never skip. */
    if (start_err[0])
        ck_abort_msg("%s://%s: the server did not start: %s", service, host,
                     start_err);

    snprintf(url, sizeof url, "%s://%s:%d", service, host, port);
    snprintf(r->label, sizeof r->label, "%s via %s", url, connect_to);
    r->log = log;
    r->log_from = ms_log_size(log);
    r->p = mailssl_probe_new(url);
    ck_assert_ptr_nonnull(r->p);
    ck_assert_int_eq(mailssl_probe_set_cafile(r->p, certs.ca), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_connect_to(r->p, connect_to),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_timeout_ms(r->p, 15000), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_run(r->p), MAILSSL_OK);
}

/* On a failed expectation: the probe's view, then the server's. */
static void explain(const struct run *r)
{
    char *json = mailssl_probe_json(r->p);
    struct timespec ts = {0, 300 * 1000000L};

    fprintf(stderr, "[%s] probe: %s\n", r->label, json ? json : "(no JSON)");
    mailssl_free(json);
    nanosleep(&ts, NULL); /* servers log asynchronously */
    ms_log_dump(r->label, r->log, r->log_from);
}

#define EXPECT(r, cond, ...)                                                   \
    do {                                                                       \
        if (!(cond)) {                                                         \
            explain(r);                                                        \
            ck_abort_msg(__VA_ARGS__);                                         \
        }                                                                      \
    } while (0)

static const char *code_name(int code)
{
    const char *n = mailssl_code_name(code);
    return n ? n : "(no code: probe unfinished or failed locally)";
}

static void expect_code(const struct run *r, int code)
{
    int got = mailssl_probe_diagnosis(r->p);
    EXPECT(r, got == code, "%s: diagnosis %s (%s), expected %s", r->label,
           code_name(got),
           mailssl_probe_message(r->p) ? mailssl_probe_message(r->p) : "",
           mailssl_code_name(code));
}

static void expect_str(const struct run *r, const char *what,
                       const char *got, const char *want)
{
    EXPECT(r, got && strcmp(got, want) == 0, "%s: %s is \"%s\", expected \"%s\"",
           r->label, what, got ? got : "(null)", want);
}

/* The certificate seen: subject CN=name, its one DNS name, our CA. */
static void expect_cert(const struct run *r, const char *name)
{
    char subject[128];

    snprintf(subject, sizeof subject, "CN=%s", name);
    expect_str(r, "certificate subject", mailssl_probe_cert_subject(r->p),
               subject);
    expect_str(r, "certificate issuer", mailssl_probe_cert_issuer(r->p),
               "CN=mailssl interop CA");
    EXPECT(r, mailssl_probe_cert_name_count(r->p) == 1,
           "%s: %zu certificate names, expected 1", r->label,
           mailssl_probe_cert_name_count(r->p));
    expect_str(r, "certificate name", mailssl_probe_cert_name(r->p, 0), name);
    EXPECT(r, strlen(mailssl_probe_cert_sha256(r->p)
                         ? mailssl_probe_cert_sha256(r->p)
                         : "") == 64,
           "%s: no SHA-256 fingerprint", r->label);
}

static int has_cap(const struct run *r, const char *word)
{
    size_t n = mailssl_probe_capability_count(r->p), len = strlen(word);
    for (size_t i = 0; i < n; i++) {
        const char *c = mailssl_probe_capability(r->p, i);
        if (c && strncasecmp(c, word, len) == 0 &&
            (c[len] == '\0' || c[len] == ' '))
            return 1;
    }
    return 0;
}

/* ok: TLS details and the capabilities read after TLS (present has to be
 * there, absent - a pre-TLS-only capability - must not). */
static void expect_ok(const struct run *r, const char *cert_name,
                      const char *present, const char *absent)
{
    const char *v = mailssl_probe_tls_version(r->p);
    const char *c = mailssl_probe_tls_cipher(r->p);

    expect_code(r, MAILSSL_CODE_OK);
    EXPECT(r, mailssl_probe_status(r->p) == 0, "%s: status %d", r->label,
           mailssl_probe_status(r->p));
    EXPECT(r, mailssl_probe_stage(r->p) == MAILSSL_STAGE_DONE,
           "%s: stage %s", r->label,
           mailssl_stage_name(mailssl_probe_stage(r->p)));
    /* Debian's Dovecot and Postfix (OpenSSL 3) and GnuTLS agree on 1.3. */
    EXPECT(r, v && strcmp(v, "TLS1.3") == 0, "%s: TLS version %s",
           r->label, v ? v : "(null)");
    EXPECT(r, c && strncmp(c, "TLS_", 4) == 0, "%s: cipher %s", r->label,
           c ? c : "(null)");
    EXPECT(r, mailssl_probe_tls_group(r->p) != NULL,
           "%s: no key exchange group", r->label);
    EXPECT(r, mailssl_probe_chain_length(r->p) == 1,
           "%s: chain length %zu, expected 1", r->label,
           mailssl_probe_chain_length(r->p));
    expect_cert(r, cert_name);
    EXPECT(r, has_cap(r, present),
           "%s: capability %s missing after TLS (%zu read)", r->label,
           present, mailssl_probe_capability_count(r->p));
    if (absent)
        EXPECT(r, !has_cap(r, absent),
               "%s: capability %s (pre-TLS only) reported after TLS",
               r->label, absent);
}

/* ---- the cases: one row a probe ----------------------------------------- */

enum server { DOVECOT, NOSSL, POSTFIX };

struct icase {
    enum server server;
    const char *service;
    int port;               /* MS_IMAP ... of that server */
    const char *host;       /* the URL host: SNI and the name verified */
    const char *connect_to; /* the address asked for */
    int code;               /* the diagnosis */
    const char *cert;       /* the certificate's name; NULL: none seen */
    const char *present;    /* ok: a capability read after TLS */
    const char *absent;     /* ok: a pre-TLS-only capability, or NULL */
    void (*check)(const struct run *); /* more, or NULL */
};

/* not ok: the probe's status is critical */
static void critical(const struct run *r)
{
    EXPECT(r, mailssl_probe_status(r->p) == 2, "%s: status %d", r->label,
           mailssl_probe_status(r->p));
}

static void no_starttls_after_tls(const struct run *r)
{
    EXPECT(r, !has_cap(r, "STARTTLS"), "%s: STARTTLS after TLS", r->label);
}

static void no_pre_tls_capabilities(const struct run *r)
{
    EXPECT(r, mailssl_probe_capability_count(r->p) == 0,
           "%s: pre-TLS capabilities reported", r->label);
}

/* 2020-01-01 .. 2021-01-01, details reported */
static void expired_dates(const struct run *r)
{
    EXPECT(r, mailssl_probe_cert_not_after(r->p) == certs.expired_not_after,
           "%s: not_after %lld, expected %lld", r->label,
           (long long)mailssl_probe_cert_not_after(r->p),
           (long long)certs.expired_not_after);
    EXPECT(r, mailssl_probe_cert_days_left(r->p) < 0, "%s: days_left %lld",
           r->label, (long long)mailssl_probe_cert_days_left(r->p));
    critical(r);
}

static void postfix_454_text(const struct run *r)
{
    const char *m = mailssl_probe_message(r->p);

    EXPECT(r, m && strstr(m, "454") &&
                  strstr(m, "TLS not available due to local problem"),
           "%s: message \"%s\" lacks Postfix's 454 text", r->label,
           m ? m : "(null)");
}

#define C(x) MAILSSL_CODE_##x
#define LOCAL "127.0.0.1"

static const struct icase dovecot_cases[] = {
    /* disable_plaintext_auth: AUTH=PLAIN only once TLS is up */
    {DOVECOT, "imap", MS_IMAP, MS_NAME_MAIN, LOCAL, C(OK), MS_NAME_MAIN,
     "AUTH=PLAIN", "LOGINDISABLED", no_starttls_after_tls},
    {DOVECOT, "imaps", MS_IMAPS, MS_NAME_MAIN, LOCAL, C(OK), MS_NAME_MAIN,
     "IMAP4rev1", "LOGINDISABLED", NULL},
    /* USER is offered only over TLS here */
    {DOVECOT, "pop3", MS_POP3, MS_NAME_MAIN, LOCAL, C(OK), MS_NAME_MAIN,
     "USER", "STLS", NULL},
    {DOVECOT, "pop3s", MS_POP3S, MS_NAME_MAIN, LOCAL, C(OK), MS_NAME_MAIN,
     "USER", "STLS", NULL},
    {DOVECOT, "sieve", MS_SIEVE, MS_NAME_MAIN, LOCAL, C(OK), MS_NAME_MAIN,
     "SIEVE", "STARTTLS", NULL},
    {DOVECOT, "lmtp", MS_LMTP, MS_NAME_MAIN, LOCAL, C(OK), MS_NAME_MAIN,
     "PIPELINING", "STARTTLS", NULL},
    /* "local 127.0.0.2 { ssl_cert = ... }": the address asked for decides */
    {DOVECOT, "imaps", MS_IMAPS, MS_NAME_ADDR2, "127.0.0.2", C(OK),
     MS_NAME_ADDR2, "IMAP4rev1", NULL, NULL},
    {DOVECOT, "imap", MS_IMAP, MS_NAME_ADDR2, "127.0.0.2", C(OK),
     MS_NAME_ADDR2, "AUTH=PLAIN", "LOGINDISABLED", NULL},
    /* "local_name other.example.test { ... }": the SNI name asked for */
    {DOVECOT, "imaps", MS_IMAPS, MS_NAME_OTHER, LOCAL, C(OK), MS_NAME_OTHER,
     "IMAP4rev1", NULL, NULL},
    {DOVECOT, "pop3", MS_POP3, MS_NAME_OTHER, LOCAL, C(OK), MS_NAME_OTHER,
     "USER", "STLS", NULL},
    {DOVECOT, "imaps", MS_IMAPS, MS_NAME_EXPIRED, LOCAL, C(CERT_EXPIRED),
     MS_NAME_EXPIRED, NULL, NULL, expired_dates},
    /* a name the server has no certificate for: Dovecot falls back to its
     * default certificate, which does not carry the name */
    {DOVECOT, "imap", MS_IMAP, MS_NAME_WRONG, LOCAL, C(CERT_NAME_MISMATCH),
     MS_NAME_MAIN, NULL, NULL, critical},
};

/* ssl = no: the capability list lacks STARTTLS */
static const struct icase nossl_cases[] = {
    {NOSSL, "imap", MS_IMAP, MS_NAME_MAIN, LOCAL, C(STARTTLS_NOT_OFFERED),
     NULL, NULL, NULL, no_pre_tls_capabilities},
};

static const struct icase postfix_cases[] = {
    {POSTFIX, "smtp", MS_SMTP, MS_NAME_MAIN, LOCAL, C(OK), MS_NAME_MAIN,
     "PIPELINING", "STARTTLS", NULL},
    {POSTFIX, "smtps", MS_SMTPS, MS_NAME_MAIN, LOCAL, C(OK), MS_NAME_MAIN,
     "PIPELINING", "STARTTLS", NULL},
    /* key not matching the certificate, wrapper mode: smtpd drops the
     * connection in the handshake - the 13002 situation */
    {POSTFIX, "smtps", MS_SMTPS_BADKEY, MS_NAME_MAIN, LOCAL,
     C(TLS_CLOSED_DURING_HANDSHAKE), NULL, NULL, NULL, critical},
    /* same key on the STARTTLS port: Postfix answers 454 with its text */
    {POSTFIX, "smtp", MS_SMTP_BADKEY, MS_NAME_MAIN, LOCAL,
     C(STARTTLS_REFUSED), NULL, NULL, NULL, postfix_454_text},
};

static void run_icase(const struct icase *c)
{
    const char *err = c->server == DOVECOT ? dovecot_err
                      : c->server == NOSSL ? nossl_err
                                           : postfix_err;
    const int *port = c->server == DOVECOT ? dovecot.port
                      : c->server == NOSSL ? dovecot_nossl.port
                                           : postfix.port;
    const char *log = c->server == DOVECOT ? dovecot.log
                      : c->server == NOSSL ? dovecot_nossl.log
                                           : postfix.log;
    struct run r;

    run_probe(&r, err, c->service, port[c->port], c->host, c->connect_to,
              log);
    if (c->code == MAILSSL_CODE_OK) {
        expect_ok(&r, c->cert, c->present, c->absent);
    } else {
        expect_code(&r, c->code);
        if (c->cert)
            expect_cert(&r, c->cert);
        else
            EXPECT(&r, mailssl_probe_cert_subject(r.p) == NULL,
                   "%s: a certificate without a completed handshake",
                   r.label);
    }
    if (c->check)
        c->check(&r);
    mailssl_probe_free(r.p);
}

CHECK_TABLE_TEST(dovecot_case, run_icase, dovecot_cases)
CHECK_TABLE_TEST(nossl_case, run_icase, nossl_cases)
CHECK_TABLE_TEST(postfix_case, run_icase, postfix_cases)

/* One test case a server, its server up around its rows. */
static void server_tcase(Suite *s, const char *name, void (*up)(void),
                         void (*down)(void), const TTest *t, int n)
{
    TCase *tc = tcase_create(name);

    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, up, down);
    tcase_add_loop_test(tc, t, 0, n);
    suite_add_tcase(s, tc);
}

static Suite *interop_suite(void)
{
    Suite *s = suite_create("interop");

    server_tcase(s, "dovecot", dovecot_up, dovecot_down, dovecot_case,
                 CHECK_COUNT(dovecot_cases));
    server_tcase(s, "dovecot-nossl", nossl_up, nossl_down, nossl_case,
                 CHECK_COUNT(nossl_cases));
    server_tcase(s, "postfix", postfix_up, postfix_down, postfix_case,
                 CHECK_COUNT(postfix_cases));
    return s;
}

/* Missing servers: skipped (77), or a failure when CI requires them. */
static int unavailable(const char *why)
{
    const char *req = getenv("MAILSSL_REQUIRE_INTEROP");
    if (req && strcmp(req, "1") == 0) {
        fprintf(stderr,
                "interop: %s, and MAILSSL_REQUIRE_INTEROP=1: failing\n", why);
        return 1;
    }
    fprintf(stderr, "interop: %s: skipped\n", why);
    return 77;
}

int main(void)
{
    char err[4096], *dir;
    int failed;

    if (!ms_have_dovecot())
        return unavailable("Dovecot (dovecot-imapd, -pop3d, -lmtpd, "
                           "-managesieved) is not installed");
    if (!ms_have_postfix())
        return unavailable("Postfix is not installed");
    if (geteuid() != 0)
        return unavailable("the servers need root");
    if (mailssl_init() != MAILSSL_OK) {
        fprintf(stderr, "interop: mailssl_init failed\n");
        return 1;
    }
    dir = certgen_tmpdir();
    if (!dir) {
        fprintf(stderr, "interop: no temporary directory\n");
        return 1;
    }
    ms_remove_at_exit(dir);
    if (ms_certs_make(&certs, dir, err, sizeof err) < 0) {
        fprintf(stderr, "interop: certificates: %s\n", err);
        return 1;
    }

    failed = check_run(interop_suite(), CK_FORK_GETENV);

    ms_certs_free(&certs);
    free(dir); /* removed at exit */
    mailssl_deinit();
    return failed;
}
