/*
 * The hostile-server suite: the probe against scripted loopback servers
 * (tests/scriptserver.h) that lie, inject, stall, flood and misbehave in
 * TLS, for SMTP, IMAP, POP3 and ManageSieve (and the implicit-TLS
 * services for the TLS-side cases). Poddebniak et al., "Why TLS is better
 * without STARTTLS" (USENIX Security 2021) found most mail clients could
 * be tricked by a hostile server; these tests make sure the probe is not
 * one of them.
 *
 * Every case asserts, besides its exact diagnosis and stage:
 *  - the probe ended within its deadline + 10% (timeouts: not before it);
 *  - nothing of the plaintext phase was trusted: every plaintext string
 *    the servers send carries the marker "PTX", which never appears in a
 *    reported capability, in the certificate block or anywhere in the
 *    JSON except where the diagnosis message quotes the server; no
 *    capability, TLS version or certificate is reported when TLS never
 *    completed; the capabilities reported are exactly the post-TLS ones;
 *  - the probe sent no credentials (no AUTH, LOGIN, USER, PASS, APOP);
 *  - it sent STARTTLS at most once, never over TLS, and after the
 *    go-ahead nothing but TLS records in plaintext (not even QUIT); after
 *    an injection nothing at all;
 *  - it connected once (a REFERRAL is never followed) and its JSON is
 *    printable ASCII (hostile bytes are escaped).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl.h"
#include "scriptserver.h"

/* ---- certificates ------------------------------------------------------- */

/* Validity is explicit: every good certificate is valid 2020-2040 and
 * the probe validates at 2026-06-01, so nothing depends on today. */
#define T_2020 INT64_C(1577836800)
#define T_2021 INT64_C(1609459200)
#define T_2040 INT64_C(2208988800)
#define T_PROBE INT64_C(1780272000) /* 2026-06-01T00:00:00Z */

enum cred {
    CRED_GOOD = 0,      /* leaf for 127.0.0.1 from the trusted CA */
    CRED_SELF_SIGNED,   /* right names, signed by itself */
    CRED_UNKNOWN_ROOT,  /* right names, from a CA nobody trusts */
    CRED_WRONG_NAME,    /* trusted CA, only other.example */
    CRED_EXPIRED,       /* trusted CA, 2020-01-01 .. 2021-01-01 */
    CRED_LONG_CHAIN,    /* 200 certificates: leaf + 199 intermediates */
    CRED_HUGE           /* a 1 MB leaf certificate */
};

#define LONG_CHAIN 200
#define HUGE_BYTES (1024 * 1024)

static char *dir;
static char cafile[512];
static struct certgen_cert ca;
/* the server's chain for the case at hand: certs[0] is the leaf */
static struct certgen_cert certs[LONG_CHAIN + 1];
static size_t ncerts;
static gnutls_x509_crt_t chain[LONG_CHAIN + 1];

static const char *const good_dns[] = {"localhost", NULL};
static const char *const good_ips[] = {"127.0.0.1", NULL};

static void make(struct certgen_cert *out, const char *cn, int is_ca,
                 const char *const *dns, const char *const *ips,
                 int64_t not_before, int64_t not_after, size_t extra,
                 const struct certgen_cert *issuer)
{
    struct certgen_opts o;

    memset(&o, 0, sizeof o);
    o.cn = cn;
    o.is_ca = is_ca;
    o.dns = dns;
    o.ips = ips;
    o.not_before = not_before;
    o.not_after = not_after;
    o.extra_bytes = extra;
    ck_assert_int_eq(certgen_make(out, &o, issuer), 0);
}

static void setup(void)
{
    const struct certgen_cert *cas[1];

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    make(&ca, "Hostile Test CA", 1, NULL, NULL, T_2020, T_2040, 0, NULL);
    snprintf(cafile, sizeof cafile, "%s/ca.pem", dir);
    cas[0] = &ca;
    ck_assert_int_eq(certgen_write_pem(cafile, cas, 1, NULL), 0);
    ncerts = 0;
}

static void teardown(void)
{
    size_t i;

    for (i = 0; i < ncerts; i++)
        certgen_free(&certs[i]);
    ncerts = 0;
    certgen_free(&ca);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

/* Makes the server's chain for kind into certs/chain (leaf first). */
static void make_chain(int kind)
{
    static const char *const other_dns[] = {"other.example", NULL};
    size_t i;

    switch (kind) {
    case CRED_SELF_SIGNED:
        make(&certs[0], "127.0.0.1", 0, good_dns, good_ips, T_2020, T_2040,
             0, NULL);
        ncerts = 1;
        break;
    case CRED_UNKNOWN_ROOT:
        make(&certs[1], "Unknown CA", 1, NULL, NULL, T_2020, T_2040, 0, NULL);
        make(&certs[0], "127.0.0.1", 0, good_dns, good_ips, T_2020, T_2040,
             0, &certs[1]);
        ncerts = 2;
        break;
    case CRED_WRONG_NAME:
        make(&certs[0], "other.example", 0, other_dns, NULL, T_2020, T_2040,
             0, &ca);
        ncerts = 1;
        break;
    case CRED_EXPIRED:
        make(&certs[0], "127.0.0.1", 0, good_dns, good_ips, T_2020, T_2021,
             0, &ca);
        ncerts = 1;
        break;
    case CRED_LONG_CHAIN:
        /* CA <- int 1 <- ... <- int 199 <- leaf; sent leaf first, so the
         * server sends int 199 .. int 1 after the leaf */
        for (i = LONG_CHAIN - 1; i >= 1; i--) {
            char cn[32];

            snprintf(cn, sizeof cn, "Intermediate %zu", LONG_CHAIN - i);
            make(&certs[i], cn, 1, NULL, NULL, T_2020, T_2040, 0,
                 i == LONG_CHAIN - 1 ? &ca : &certs[i + 1]);
        }
        make(&certs[0], "127.0.0.1", 0, good_dns, good_ips, T_2020, T_2040,
             0, &certs[1]);
        ncerts = LONG_CHAIN;
        break;
    case CRED_HUGE:
        make(&certs[0], "127.0.0.1", 0, good_dns, good_ips, T_2020, T_2040,
             HUGE_BYTES, &ca);
        ncerts = 1;
        break;
    default:
        make(&certs[0], "127.0.0.1", 0, good_dns, good_ips, T_2020, T_2040,
             0, &ca);
        ncerts = 1;
        break;
    }
    for (i = 0; i < ncerts; i++)
        chain[i] = certs[i].crt;
}

/* ---- script building blocks --------------------------------------------- */

#define C(x) MAILSSL_CODE_##x
#define AT(x) MAILSSL_STAGE_##x
/* A row names what it expects beyond the defaults (.flags, .msg, ...);
 * the fields it leaves out are 0 / NULL. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* 1000 bytes of line content; FLOOD(s) sends s over and over, 100 MiB in
 * all (the server stops when the probe goes away). */
#define KLINE_BODY \
    "PTX-flood-0123456789abcdef0123456789abcdef0123456789abcdef0123456789" \
    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd" \
    "ef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01" \
    "23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345" \
    "6789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" \
    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd" \
    "ef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01" \
    "23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345" \
    "6789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" \
    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd" \
    "ef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01" \
    "23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345" \
    "6789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" \
    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd" \
    "ef0123456789abcdef"

/* SMTP: greeting and EHLO; the EHLO reply with STARTTLS; the go-ahead. */
#define SMTP_GREETING SEND("220 mx.example ESMTP PTX-greeting\r\n")
#define SMTP_EHLO_STARTTLS                                                  \
    SEND("250-mx.example PTX\r\n250-AUTH PLAIN LOGIN PTX\r\n"              \
         "250-PTX-PRETLS-EXTENSION\r\n250 STARTTLS\r\n")
#define SMTP_HELLO \
    STEPS(SMTP_GREETING, EXPECT("EHLO "))
#define SMTP_TO_STARTTLS \
    STEPS(SMTP_GREETING, EXPECT("EHLO "), SMTP_EHLO_STARTTLS, \
          EXPECT("STARTTLS"))
#define SMTP_GOAHEAD \
    STEPS(SMTP_GREETING, EXPECT("EHLO "), SMTP_EHLO_STARTTLS, \
          EXPECT("STARTTLS"), MARK, SEND("220 2.0.0 Ready to start TLS\r\n"))
#define SMTP_POST \
    STEPS(TLS(NULL), EXPECT("EHLO "), \
          SEND("250-mx.example\r\n250-AUTH PLAIN\r\n250 SIZE 1000\r\n"), \
          EXPECT("QUIT"), SEND("221 bye\r\n"))
#define SMTP_CAPS "AUTH PLAIN|SIZE 1000"

/* IMAP: tags are the probe's (A1 CAPABILITY, A2 STARTTLS, A3 CAPABILITY,
 * A4 LOGOUT); "$TAG" answers the last command received. */
#define IMAP_GREETING SEND("* OK [CAPABILITY IMAP4rev1 PTX-GREETING] ready\r\n")
#define IMAP_CAPS_STARTTLS                                                  \
    SEND("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN PTX-PRETLS\r\n"        \
         "$TAG OK done\r\n")
#define IMAP_HELLO \
    STEPS(IMAP_GREETING, EXPECT("A1 CAPABILITY"))
#define IMAP_TO_STARTTLS \
    STEPS(IMAP_GREETING, EXPECT("A1 CAPABILITY"), IMAP_CAPS_STARTTLS, \
          EXPECT("A2 STARTTLS"))
#define IMAP_GOAHEAD \
    STEPS(IMAP_GREETING, EXPECT("A1 CAPABILITY"), IMAP_CAPS_STARTTLS, \
          EXPECT("A2 STARTTLS"), MARK, SEND("$TAG OK Begin TLS\r\n"))
#define IMAP_POST \
    STEPS(TLS(NULL), EXPECT("A3 CAPABILITY"), \
          SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN ID\r\n$TAG OK\r\n"), \
          EXPECT("A4 LOGOUT"), SEND("* BYE\r\n$TAG OK\r\n"))
#define IMAP_CAPS "IMAP4rev1|AUTH=PLAIN|ID"

/* POP3 */
#define POP3_GREETING SEND("+OK POP3 PTX ready\r\n")
#define POP3_CAPA_STLS SEND("+OK\r\nUSER\r\nSASL PLAIN PTX\r\nSTLS\r\n.\r\n")
#define POP3_HELLO \
    STEPS(POP3_GREETING, EXPECT("CAPA"))
#define POP3_TO_STARTTLS \
    STEPS(POP3_GREETING, EXPECT("CAPA"), POP3_CAPA_STLS, EXPECT("STLS"))
#define POP3_GOAHEAD \
    STEPS(POP3_GREETING, EXPECT("CAPA"), POP3_CAPA_STLS, EXPECT("STLS"), \
          MARK, SEND("+OK Begin TLS\r\n"))
#define POP3_POST \
    STEPS(TLS(NULL), EXPECT("CAPA"), SEND("+OK\r\nSASL PLAIN\r\nTOP\r\n.\r\n"), \
          EXPECT("QUIT"), SEND("+OK bye\r\n"))
#define POP3_CAPS "SASL PLAIN|TOP"

/* ManageSieve: the server speaks first, before and after TLS */
#define SIEVE_GREETING                                                      \
    SEND("\"IMPLEMENTATION\" \"PTX sieve\"\r\n\"SASL\" \"PLAIN PTX\"\r\n"   \
         "\"PTX-PRETLS\"\r\n\"STARTTLS\"\r\nOK\r\n")
#define SIEVE_TO_STARTTLS \
    STEPS(SIEVE_GREETING, EXPECT("STARTTLS"))
#define SIEVE_GOAHEAD \
    STEPS(SIEVE_GREETING, EXPECT("STARTTLS"), MARK, SEND("OK\r\n"))
#define SIEVE_POST \
    STEPS(TLS(NULL), \
          SEND("\"IMPLEMENTATION\" \"x\"\r\n\"SASL\" \"PLAIN\"\r\n" \
               "\"SIEVE\" \"fileinto\"\r\nOK\r\n"), \
          EXPECT("LOGOUT"), SEND("OK\r\n"))
#define SIEVE_CAPS "IMPLEMENTATION|SASL|SIEVE"

/* ---- cases -------------------------------------------------------------- */

#define DEADLINE_MS 1500

#define F_TIMEOUT 1   /* ends at its deadline: elapsed >= deadline */
#define F_SILENT 2    /* the probe sends nothing after the mark */
#define F_FLOOD 4     /* the server streams 100 MB: it must be cut short */
#define F_NO_TLS_DATA 8 /* nothing said over TLS (verification failed) */

/* One row a case: its name, the service, the script parts, the expected
 * code and stage, then by name what differs from the defaults. */
struct hcase {
    const char *name;
    const char *service;
    const struct ss_step *a, *b, *c; /* script parts, played in order */
    int code;                        /* expected MAILSSL_CODE_* */
    int stage;                       /* expected MAILSSL_STAGE_* */
    int flags;
    int deadline_ms;                 /* 0: DEADLINE_MS */
    int cred;                        /* enum cred */
    const char *caps;                /* expected capabilities, '|'-separated;
                                        NULL: none */
    const char *msg;                 /* in the message (NULL: no check) */
    const char *server_prio;         /* SS_TLS priority of the TLS cases */
};

static const struct hcase *cur; /* for the assertion messages */

/* Concatenates the parts of c into one script (malloc'd). */
static struct ss_step *build_script(const struct ss_step *const *parts,
                                    size_t nparts)
{
    size_t n = 0, i, k = 0;
    const struct ss_step *st;
    struct ss_step *out;

    for (i = 0; i < nparts; i++)
        for (st = parts[i]; st && st->op != SS_END; st++)
            n++;
    out = calloc(n + 1, sizeof *out);
    ck_assert_ptr_nonnull(out);
    for (i = 0; i < nparts; i++)
        for (st = parts[i]; st && st->op != SS_END; st++)
            out[k++] = *st;
    out[k].op = SS_END;
    return out;
}

/* Occurrences of needle in hay[0..n), ASCII case-insensitively. */
static size_t count_ci(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle), i, c = 0;

    for (i = 0; k && i + k <= n; i++)
        if (strncasecmp(hay + i, needle, k) == 0)
            c++;
    return c;
}

/* 1 when d[0..n) is a sequence of TLS records (a last one may be cut). */
static int only_tls_records(const unsigned char *d, size_t n)
{
    size_t i = 0;

    while (i < n) {
        if (d[i] < 20 || d[i] > 23 || (i + 1 < n && d[i + 1] != 3))
            return 0;
        if (i + 5 > n)
            return 1;
        i += 5 + ((size_t)d[i + 3] << 8 | d[i + 4]);
    }
    return 1;
}

static void assert_sent(struct scriptserver *s, int implicit)
{
    size_t plen, tlen, before;
    const char *plain = ss_plain(s, &plen), *tls = ss_tls(s, &tlen);
    long mark = ss_mark(s);
    static const char *const creds[] = {"AUTH", "LOGIN", "USER", "PASS",
                                        "APOP"};
    size_t i, stls;

    /* what was said in plaintext before TLS: the commands */
    before = implicit ? 0 : mark >= 0 ? (size_t)mark : plen;
    for (i = 0; i < sizeof creds / sizeof creds[0]; i++) {
        ck_assert_msg(count_ci(plain, before, creds[i]) == 0,
                      "%s: the probe sent %s in plaintext", cur->name,
                      creds[i]);
        ck_assert_msg(count_ci(tls, tlen, creds[i]) == 0,
                      "%s: the probe sent %s over TLS", cur->name, creds[i]);
    }
    stls = count_ci(plain, before, "STARTTLS\r\n") +
           count_ci(plain, before, "STLS\r\n");
    ck_assert_msg(stls <= 1, "%s: STARTTLS sent %zu times", cur->name, stls);
    ck_assert_msg(count_ci(tls, tlen, "STARTTLS\r\n") == 0 &&
                      count_ci(tls, tlen, "STLS\r\n") == 0,
                  "%s: STARTTLS sent again over TLS", cur->name);
    /* after the go-ahead (implicit TLS: from the start) only TLS */
    if (implicit || mark >= 0) {
        size_t from = implicit ? 0 : (size_t)mark;

        if (cur->flags & F_SILENT)
            ck_assert_msg(plen == from,
                          "%s: the probe sent %zu byte(s) after the "
                          "go-ahead/injection",
                          cur->name, plen - from);
        ck_assert_msg(only_tls_records((const unsigned char *)plain + from,
                                       plen - from),
                      "%s: plaintext after the STARTTLS go-ahead: \"%.40s\"",
                      cur->name, plain + from);
    }
    if (cur->flags & F_NO_TLS_DATA)
        ck_assert_msg(tlen == 0, "%s: the probe spoke over TLS: \"%.40s\"",
                      cur->name, tls);
}

/* Certificate verification failed: the probe stops after the handshake. */
static int cert_failure(int code)
{
    switch (code) {
    case MAILSSL_CODE_CERT_UNTRUSTED:
    case MAILSSL_CODE_CERT_EXPIRED:
    case MAILSSL_CODE_CERT_NOT_YET_VALID:
    case MAILSSL_CODE_CERT_NAME_MISMATCH:
    case MAILSSL_CODE_CERT_REVOKED:
        return 1;
    default:
        return 0;
    }
}

static void assert_no_marker(const char *what, const char *s)
{
    ck_assert_msg(!s || !strstr(s, "PTX"),
                  "%s: plaintext data in the %s: \"%s\"", cur->name, what, s);
}

/* Nothing of the plaintext phase is reported; capabilities are exactly
 * the post-TLS ones. */
static void assert_trust(const mailssl_probe *p)
{
    const char *m = mailssl_probe_message(p);
    char *js = mailssl_probe_json(p);
    size_t i, n = mailssl_probe_capability_count(p);

    ck_assert_ptr_nonnull(js);
    /* the expected stage says whether the handshake completed */
    if (cur->stage < MAILSSL_STAGE_HANDSHAKE) {
        ck_assert_msg(mailssl_probe_tls_version(p) == NULL,
                      "%s: a TLS version without TLS", cur->name);
        ck_assert_msg(mailssl_probe_cert_subject(p) == NULL &&
                          mailssl_probe_chain_length(p) == 0,
                      "%s: a certificate without TLS", cur->name);
        ck_assert_msg(!strstr(js, "\"certificate\":"),
                      "%s: a certificate block without TLS", cur->name);
    } else {
        ck_assert_msg(mailssl_probe_tls_version(p) != NULL,
                      "%s: no TLS version", cur->name);
        ck_assert_msg(mailssl_probe_cert_subject(p) != NULL,
                      "%s: no certificate block", cur->name);
    }
    if (!cur->caps) {
        ck_assert_msg(n == 0, "%s: %zu capabilities reported (first: %s)",
                      cur->name, n, mailssl_probe_capability(p, 0));
    } else {
        char want[256], *tok, *save = NULL;

        snprintf(want, sizeof want, "%s", cur->caps);
        for (i = 0, tok = strtok_r(want, "|", &save); tok;
             tok = strtok_r(NULL, "|", &save), i++) {
            ck_assert_msg(i < n, "%s: capability %s missing", cur->name, tok);
            ck_assert_msg(strcmp(mailssl_probe_capability(p, i), tok) == 0,
                          "%s: capability %zu is \"%s\", expected \"%s\"",
                          cur->name, i, mailssl_probe_capability(p, i), tok);
        }
        ck_assert_msg(i == n, "%s: %zu capabilities, expected %zu", cur->name,
                      n, i);
    }
    for (i = 0; i < n; i++)
        assert_no_marker("capabilities", mailssl_probe_capability(p, i));
    assert_no_marker("certificate subject", mailssl_probe_cert_subject(p));
    assert_no_marker("certificate issuer", mailssl_probe_cert_issuer(p));
    for (i = 0; i < mailssl_probe_cert_name_count(p); i++)
        assert_no_marker("certificate names", mailssl_probe_cert_name(p, i));
    /* the marker may appear only where the message quotes the server; the
     * base64 SPKI pin of a run-time key can spell it by chance (about one
     * run in four over the whole suite), so it is left out of the count */
    {
        char *copy = strdup(js), *pin;

        ck_assert_ptr_nonnull(copy);
        if ((pin = strstr(copy, "\"spki_pin\":\"")) != NULL)
            for (pin += 12; *pin && *pin != '"'; pin++)
                *pin = '=';
        ck_assert_msg(count_ci(copy, strlen(copy), "PTX") ==
                          count_ci(m, strlen(m), "PTX"),
                      "%s: plaintext data in the JSON: %s", cur->name, js);
        free(copy);
    }
    for (i = 0; js[i]; i++)
        ck_assert_msg((unsigned char)js[i] >= 0x20 &&
                          (unsigned char)js[i] < 0x7f,
                      "%s: byte 0x%02x in the JSON", cur->name,
                      (unsigned char)js[i]);
    mailssl_free(js);
}

/* Plays c; chain_length, when not 0, is the chain length to report. */
static void run_case(const struct hcase *c, size_t chain_length)
{
    const struct ss_step *parts[3] = {c->a, c->b, c->c};
    struct ss_step *script = build_script(parts, 3);
    struct ss_config cfg;
    struct scriptserver *s;
    mailssl_probe *p;
    char url[128];
    int deadline = c->deadline_ms ? c->deadline_ms : DEADLINE_MS;
    int implicit = mailssl_service_implicit_tls(
                       mailssl_service_from_name(c->service)) == 1;
    int64_t t0, el;
    const char *m;

    cur = c;
    make_chain(c->cred);
    memset(&cfg, 0, sizeof cfg);
    cfg.family = 4;
    cfg.script = script;
    cfg.chain = chain;
    cfg.nchain = (unsigned)ncerts;
    cfg.key = certs[0].key;
    cfg.priority = c->server_prio;
    s = ss_start(&cfg);
    ck_assert_ptr_nonnull(s);
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", c->service, ss_port(s));
    p = mailssl_probe_new(url);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(mailssl_probe_set_cafile(p, cafile), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_time(p, T_PROBE), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_timeout_ms(p, deadline), MAILSSL_OK);

    t0 = ss_mono_ms();
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    el = ss_mono_ms() - t0;
    ck_assert_msg(mailssl_probe_done(p) == 1, "%s: run returned unfinished",
                  c->name);
    ck_assert_msg(ss_quiesce(s, 1) == 0, "%s: the server did not finish",
                  c->name);

    m = mailssl_probe_message(p);
    ck_assert_ptr_nonnull(m);
    if (getenv("HOSTILE_VERBOSE"))
        fprintf(stderr, "%-55s %5lld ms %9zu B %s/%s: %s\n", c->name,
                (long long)el, ss_sent(s),
                mailssl_code_name(mailssl_probe_diagnosis(p)),
                mailssl_stage_name(mailssl_probe_stage(p)), m);
    ck_assert_msg(mailssl_probe_diagnosis(p) == c->code,
                  "%s: diagnosis %s, expected %s (%s)", c->name,
                  mailssl_code_name(mailssl_probe_diagnosis(p)),
                  mailssl_code_name(c->code), m);
    ck_assert_msg(mailssl_probe_status(p) == (c->code == MAILSSL_CODE_OK
                                                  ? MAILSSL_SEVERITY_OK
                                                  : MAILSSL_SEVERITY_CRITICAL),
                  "%s: status %d", c->name, mailssl_probe_status(p));
    ck_assert_msg(mailssl_probe_stage(p) == c->stage,
                  "%s: stage %s, expected %s (%s)", c->name,
                  mailssl_stage_name(mailssl_probe_stage(p)),
                  mailssl_stage_name(c->stage), m);
    if (c->msg)
        ck_assert_msg(strstr(m, c->msg) != NULL,
                      "%s: message \"%s\" lacks \"%s\"", c->name, m, c->msg);
    ck_assert_msg(el <= deadline + deadline / 10,
                  "%s: took %lld ms, deadline %d ms", c->name, (long long)el,
                  deadline);
    if (c->flags & F_TIMEOUT)
        ck_assert_msg(el >= deadline - 5, "%s: gave up after %lld ms, "
                      "before the %d ms deadline", c->name, (long long)el,
                      deadline);
    if (c->flags & F_FLOOD)
        ck_assert_msg(ss_sent(s) < (size_t)16 << 20,
                      "%s: the server could send %zu bytes", c->name,
                      ss_sent(s));
    if (chain_length)
        ck_assert_msg(mailssl_probe_chain_length(p) == chain_length,
                      "%s: chain length %zu, expected %zu", c->name,
                      mailssl_probe_chain_length(p), chain_length);
    ck_assert_msg(ss_connections(s) == 1, "%s: %d connections", c->name,
                  ss_connections(s));
    assert_sent(s, implicit);
    assert_trust(p);

    mailssl_probe_free(p);
    ss_stop(s);
    free(script);
}

/* ---- STARTTLS negotiation: not offered, refused, unexpected answers ----- */

static const struct hcase negotiation[] = {
    {"smtp: STARTTLS not advertised", "smtp", SMTP_HELLO,
     STEPS(SEND("250-mx.example\r\n250-AUTH PLAIN LOGIN PTX\r\n"
                "250 SIZE 10\r\n"),
     EXPECT("QUIT")), NULL, C(STARTTLS_NOT_OFFERED), AT(GREETING),
     .msg = "does not offer STARTTLS"},
    {"smtp: STARTTLS only in the EHLO greeting line", "smtp", SMTP_HELLO,
     STEPS(SEND("250-mx.example STARTTLS\r\n250 XSTARTTLS PTX\r\n"),
     EXPECT("QUIT")), NULL, C(STARTTLS_NOT_OFFERED), AT(GREETING)},
    {"smtp: EHLO refused", "smtp", SMTP_HELLO,
     STEPS(SEND("502 5.5.2 PTX what\r\n"), EXPECT("QUIT")), NULL,
     C(STARTTLS_NOT_OFFERED), AT(GREETING), .msg = "502"},
    {"imap: STARTTLS not advertised", "imap", IMAP_HELLO,
     STEPS(SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN PTX\r\n$TAG OK\r\n"),
     EXPECT("A2 LOGOUT")), NULL, C(STARTTLS_NOT_OFFERED), AT(GREETING),
     .msg = "does not offer STARTTLS"},
    {"imap: STARTTLS only in the greeting text", "imap",
     STEPS(SEND("* OK STARTTLS PTX ready\r\n"), EXPECT("A1 CAPABILITY"),
     SEND("* CAPABILITY IMAP4rev1 XSTARTTLS\r\n$TAG OK\r\n"),
     EXPECT("A2 LOGOUT")), NULL, NULL, C(STARTTLS_NOT_OFFERED), AT(GREETING)},
    {"pop3: STLS not advertised", "pop3", POP3_HELLO,
     STEPS(SEND("+OK\r\nUSER\r\nSASL PLAIN PTX\r\n.\r\n"), EXPECT("QUIT")),
     NULL, C(STARTTLS_NOT_OFFERED), AT(GREETING), .msg = "STLS"},
    {"pop3: CAPA refused", "pop3", POP3_HELLO,
     STEPS(SEND("-ERR PTX no CAPA\r\n"), EXPECT("QUIT")), NULL,
     C(STARTTLS_NOT_OFFERED), AT(GREETING), .msg = "STLS"},
    {"sieve: STARTTLS not advertised", "sieve",
     STEPS(SEND("\"IMPLEMENTATION\" \"PTX\"\r\n\"SASL\" \"PLAIN\"\r\nOK\r\n"),
     EXPECT("LOGOUT")), NULL, NULL, C(STARTTLS_NOT_OFFERED), AT(GREETING),
     .msg = "STARTTLS"},
    {"smtp: STARTTLS refused 454", "smtp", SMTP_TO_STARTTLS,
     STEPS(SEND("454 4.7.0 TLS not available PTX\r\n"), EXPECT("QUIT")), NULL,
     C(STARTTLS_REFUSED), AT(GREETING), .msg = "454"},
    {"smtp: STARTTLS refused 501", "smtp", SMTP_TO_STARTTLS,
     STEPS(SEND("501 5.5.4 PTX syntax\r\n"), EXPECT("QUIT")), NULL,
     C(STARTTLS_REFUSED), AT(GREETING), .msg = "501"},
    {"smtp: STARTTLS refused 502", "smtp", SMTP_TO_STARTTLS,
     STEPS(SEND("502-5.5.1 PTX not\r\n502 5.5.1 implemented\r\n"),
     EXPECT("QUIT")), NULL, C(STARTTLS_REFUSED), AT(GREETING), .msg = "502"},
    {"imap: STARTTLS refused NO", "imap", IMAP_TO_STARTTLS,
     STEPS(SEND("$TAG NO PTX not now\r\n"), EXPECT("A3 LOGOUT")), NULL,
     C(STARTTLS_REFUSED), AT(GREETING), .msg = "NO"},
    {"imap: STARTTLS refused BAD", "imap", IMAP_TO_STARTTLS,
     STEPS(SEND("$TAG BAD PTX unknown command\r\n"), EXPECT("A3 LOGOUT")),
     NULL, C(STARTTLS_REFUSED), AT(GREETING), .msg = "BAD"},
    {"pop3: STLS refused -ERR", "pop3", POP3_TO_STARTTLS,
     STEPS(SEND("-ERR PTX no TLS today\r\n"), EXPECT("QUIT")), NULL,
     C(STARTTLS_REFUSED), AT(GREETING), .msg = "-ERR"},
    {"sieve: STARTTLS refused NO", "sieve", SIEVE_TO_STARTTLS,
     STEPS(SEND("NO \"PTX no TLS\"\r\n"), EXPECT("LOGOUT")), NULL,
     C(STARTTLS_REFUSED), AT(GREETING)},
    {"smtp: 354 to STARTTLS", "smtp", SMTP_TO_STARTTLS,
     STEPS(SEND("354 PTX start mail input\r\n"), DRAIN), NULL,
     C(PROTOCOL_ERROR), AT(GREETING), .msg = "354"},
    {"smtp: 421 to STARTTLS", "smtp", SMTP_TO_STARTTLS,
     STEPS(SEND("421 4.3.2 PTX shutting down\r\n"), DRAIN), NULL,
     C(PROTOCOL_ERROR), AT(GREETING), .msg = "421"},
    {"smtp: 530 to STARTTLS", "smtp", SMTP_TO_STARTTLS,
     STEPS(SEND("530 5.7.0 PTX authentication required\r\n"), DRAIN), NULL,
     C(PROTOCOL_ERROR), AT(GREETING), .msg = "530"},
    {"imap: continuation to STARTTLS", "imap", IMAP_TO_STARTTLS,
     STEPS(SEND("+ PTX go on\r\n"), DRAIN), NULL, C(PROTOCOL_ERROR),
     AT(GREETING), .msg = "continuation"},
    {"imap: wrong tag to STARTTLS", "imap", IMAP_TO_STARTTLS, STEPS(MARK,
     SEND("A1 OK PTX Begin TLS\r\n"), DRAIN), NULL, C(PROTOCOL_ERROR),
     AT(GREETING), .flags = F_SILENT, .msg = "tag other than A2"},
    {"imap: tag prefix to STARTTLS", "imap", IMAP_TO_STARTTLS, STEPS(MARK,
     SEND("A22 OK PTX Begin TLS\r\n"), DRAIN), NULL, C(PROTOCOL_ERROR),
     AT(GREETING), .flags = F_SILENT, .msg = "tag other than A2"},
    {"imap: unknown status to STARTTLS", "imap", IMAP_TO_STARTTLS, STEPS(MARK,
     SEND("$TAG PTXOK Begin TLS\r\n"), DRAIN), NULL, C(PROTOCOL_ERROR),
     AT(GREETING), .flags = F_SILENT},
    {"pop3: unexpected answer to STLS", "pop3", POP3_TO_STARTTLS, STEPS(MARK,
     SEND("PTX OK go\r\n"), DRAIN), NULL, C(PROTOCOL_ERROR), AT(GREETING),
     .flags = F_SILENT, .msg = "STLS"},
    {"sieve: BYE to STARTTLS", "sieve", SIEVE_TO_STARTTLS,
     STEPS(SEND("BYE \"PTX go away\"\r\n"), DRAIN), NULL, C(PROTOCOL_ERROR),
     AT(GREETING), .msg = "STARTTLS"},
};

/* ---- response injection ------------------------------------------------- */

static const struct hcase injection[] = {
    {"smtp: 250 AUTH after the go-ahead", "smtp", SMTP_TO_STARTTLS, STEPS(MARK,
     SEND("220 Ready\r\n250 AUTH LOGIN PTX\r\n"), DRAIN), NULL,
     C(STARTTLS_INJECTION), AT(GREETING), .flags = F_SILENT,
     .msg = "after the STARTTLS go-ahead"},
    {"smtp: one byte after the go-ahead", "smtp", SMTP_TO_STARTTLS, STEPS(MARK,
     SEND("220 Ready\r\nX"), DRAIN), NULL, C(STARTTLS_INJECTION), AT(GREETING),
     .flags = F_SILENT, .msg = "1 byte(s)"},
    {"imap: CAPABILITY after the tagged OK", "imap", IMAP_TO_STARTTLS,
     STEPS(MARK,
     SEND("$TAG OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN " "PTX\r\n"),
     DRAIN), NULL, C(STARTTLS_INJECTION), AT(GREETING), .flags = F_SILENT,
     .msg = "after the STARTTLS go-ahead"},
    {"imap: BYE after the tagged OK", "imap", IMAP_TO_STARTTLS, STEPS(MARK,
     SEND("$TAG OK Begin TLS\r\n* BYE PTX\r\n"), DRAIN), NULL,
     C(STARTTLS_INJECTION), AT(GREETING), .flags = F_SILENT},
    {"pop3: binary garbage after +OK", "pop3", POP3_TO_STARTTLS, STEPS(MARK,
     SENDN("+OK Begin TLS\r\n\x00\xff\xfe\x80PTX\x01\x02"), DRAIN), NULL,
     C(STARTTLS_INJECTION), AT(GREETING), .flags = F_SILENT,
     .msg = "9 byte(s)"},
    {"sieve: capabilities after OK", "sieve", SIEVE_TO_STARTTLS, STEPS(MARK,
     SEND("OK\r\n\"SASL\" \"PLAIN PTX\"\r\nOK\r\n"), DRAIN), NULL,
     C(STARTTLS_INJECTION), AT(GREETING), .flags = F_SILENT},
    {"smtp: go-ahead before STARTTLS was sent", "smtp", SMTP_HELLO,
     STEPS(SEND("250-mx.example\r\n250 STARTTLS\r\n220 PTX Ready\r\n"), MARK,
     DRAIN), NULL, C(PROTOCOL_ERROR), AT(GREETING), .flags = F_SILENT,
     .msg = "before the probe sent STARTTLS"},
    {"imap: go-ahead before STARTTLS was sent", "imap", IMAP_HELLO,
     STEPS(SEND("* CAPABILITY IMAP4rev1 STARTTLS\r\nA1 OK\r\n"
                "A2 OK PTX Begin TLS\r\n"),
     MARK, DRAIN), NULL, C(PROTOCOL_ERROR), AT(GREETING), .flags = F_SILENT,
     .msg = "before the probe sent STARTTLS"},
    {"imap: BYE before the tagged OK", "imap", IMAP_TO_STARTTLS, STEPS(MARK,
     SEND("* BYE PTX\r\n$TAG OK Begin TLS\r\n"), DRAIN), NULL,
     C(PROTOCOL_ERROR), AT(GREETING), .flags = F_SILENT,
     .msg = "ended the session"},
    {"imap: BYE in the CAPABILITY answer", "imap", IMAP_HELLO,
     STEPS(SEND("* CAPABILITY IMAP4rev1 STARTTLS\r\n* BYE PTX\r\n"
                "$TAG OK\r\n"),
     DRAIN), NULL, C(PROTOCOL_ERROR), AT(GREETING),
     .msg = "ended the session"},
};

/* ---- IMAP: PREAUTH, untagged data, hidden OK, REFERRAL, ALERT ----------- */

static const struct hcase imap_cases[] = {
    {"imap: PREAUTH greeting", "imap",
     STEPS(SEND("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] PTX logged in\r\n"),
     EXPECT("A1 LOGOUT")), NULL, NULL, C(STARTTLS_PREAUTH), AT(GREETING),
     .msg = "PREAUTH"},
    {"imap: untagged LIST/STATUS/EXISTS/CAPABILITY before STARTTLS", "imap",
     STEPS(SEND("* OK PTX ready\r\n* 3 EXISTS\r\n"), EXPECT("A1 CAPABILITY"),
     SEND("* LIST () \"/\" PTX-INBOX\r\n* STATUS INBOX (MESSAGES 3)\r\n"
          "* CAPABILITY IMAP4rev1 STARTTLS PTX-PRE\r\n* 4 EXISTS\r\n"
          "$TAG OK done\r\n"),
     EXPECT("A2 STARTTLS"), MARK,
     SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN PTX-INJECTED\r\n"
          "* 5 EXISTS\r\n* LIST () \"/\" PTX\r\n$TAG OK Begin TLS\r\n")),
     IMAP_POST, NULL, C(OK), AT(DONE), .caps = IMAP_CAPS},
    {"imap: STARTTLS OK hidden in a CAPABILITY line", "imap", IMAP_TO_STARTTLS,
     STEPS(MARK, SEND("* CAPABILITY IMAP4rev1 PTX A2 OK Begin TLS\r\n"),
     SILENCE), NULL, C(STARTTLS_TIMEOUT), AT(GREETING),
     .flags = F_TIMEOUT | F_SILENT, .deadline_ms = 1000},
    {"imap: STARTTLS OK as an untagged line", "imap", IMAP_TO_STARTTLS,
     STEPS(MARK, SEND("* A2 OK PTX Begin TLS\r\n* OK Begin TLS\r\n"), SILENCE),
     NULL, C(STARTTLS_TIMEOUT), AT(GREETING), .flags = F_TIMEOUT | F_SILENT,
     .deadline_ms = 1000},
    {"imap: REFERRAL in the greeting", "imap",
     STEPS(SEND("* OK [REFERRAL imap://PTX@evil.example/] ready\r\n"),
     EXPECT("A1 CAPABILITY"), IMAP_CAPS_STARTTLS, EXPECT("A2 STARTTLS"), MARK,
     SEND("$TAG OK Begin TLS\r\n")), IMAP_POST, NULL, C(OK), AT(DONE),
     .caps = IMAP_CAPS},
    {"imap: REFERRAL refusing STARTTLS", "imap", IMAP_TO_STARTTLS,
     STEPS(SEND("$TAG NO [REFERRAL imap://PTX@evil.example/] go there\r\n"),
     EXPECT("A3 LOGOUT")), NULL, C(STARTTLS_REFUSED), AT(GREETING)},
    {"imap: ALERT before TLS", "imap",
     STEPS(SEND("* OK [ALERT] PTX-ALERT your password expired\r\n"),
     EXPECT("A1 CAPABILITY"),
     SEND("* OK [ALERT] PTX-ALERT call 555\r\n"
          "* CAPABILITY IMAP4rev1 STARTTLS\r\n"
          "$TAG OK [ALERT] PTX-ALERT done\r\n"),
     EXPECT("A2 STARTTLS"), MARK,
     SEND("* OK [ALERT] PTX-ALERT\r\n$TAG OK [ALERT] PTX Begin TLS\r\n")),
     IMAP_POST, NULL, C(OK), AT(DONE), .caps = IMAP_CAPS},
    {"imap: ALERT refusing STARTTLS", "imap", IMAP_TO_STARTTLS,
     STEPS(SEND("$TAG NO [ALERT] PTX-ALERT certificate installed, "
                "verified\r\n"),
     EXPECT("A3 LOGOUT")), NULL, C(STARTTLS_REFUSED), AT(GREETING)},
};

/* ---- after TLS: other capabilities, STARTTLS again ---------------------- */

static const struct hcase post_tls[] = {
    {"smtp: capabilities differ after TLS", "smtp", SMTP_GOAHEAD, SMTP_POST,
     NULL, C(OK), AT(DONE), .caps = SMTP_CAPS},
    {"imap: capabilities differ after TLS", "imap", IMAP_GOAHEAD, IMAP_POST,
     NULL, C(OK), AT(DONE), .caps = IMAP_CAPS},
    {"pop3: capabilities differ after TLS", "pop3", POP3_GOAHEAD, POP3_POST,
     NULL, C(OK), AT(DONE), .caps = POP3_CAPS},
    {"sieve: capabilities differ after TLS", "sieve", SIEVE_GOAHEAD,
     SIEVE_POST, NULL, C(OK), AT(DONE), .caps = SIEVE_CAPS},
    {"smtp: STARTTLS advertised again after TLS", "smtp", SMTP_GOAHEAD,
     STEPS(TLS(NULL), EXPECT("EHLO "),
     SEND("250-mx.example\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"), DRAIN),
     NULL, C(OK), AT(DONE), .caps = "STARTTLS|AUTH PLAIN"},
    {"imap: STARTTLS advertised again after TLS", "imap", IMAP_GOAHEAD,
     STEPS(TLS(NULL), EXPECT("A3 CAPABILITY"),
     SEND("* CAPABILITY IMAP4rev1 STARTTLS\r\n$TAG OK\r\n"), DRAIN), NULL,
     C(OK), AT(DONE), .caps = "IMAP4rev1|STARTTLS"},
    {"pop3: STLS advertised again after TLS", "pop3", POP3_GOAHEAD,
     STEPS(TLS(NULL), EXPECT("CAPA"), SEND("+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
     DRAIN), NULL, C(OK), AT(DONE), .caps = "STLS|USER"},
    {"sieve: STARTTLS advertised again after TLS", "sieve", SIEVE_GOAHEAD,
     STEPS(TLS(NULL), SEND("\"STARTTLS\"\r\n\"SASL\" \"PLAIN\"\r\nOK\r\n"),
     DRAIN), NULL, C(OK), AT(DONE), .caps = "STARTTLS|SASL"},
    {"smtp: no capabilities after TLS", "smtp", SMTP_GOAHEAD, STEPS(TLS(NULL),
     EXPECT("EHLO "), SEND("250 mx.example\r\n"), DRAIN), NULL, C(OK),
     AT(DONE)},
    {"imap: no capabilities after TLS", "imap", IMAP_GOAHEAD, STEPS(TLS(NULL),
     EXPECT("A3 CAPABILITY"), SEND("$TAG OK\r\n"), DRAIN), NULL, C(OK),
     AT(DONE)},
    {"pop3: no CAPA after TLS", "pop3", POP3_GOAHEAD, STEPS(TLS(NULL),
     EXPECT("CAPA"), SEND("-ERR\r\n"), DRAIN), NULL, C(OK), AT(DONE)},
    {"sieve: no capabilities after TLS", "sieve", SIEVE_GOAHEAD,
     STEPS(TLS(NULL), SEND("OK\r\n"), DRAIN), NULL, C(OK), AT(DONE)},
    {"smtps: 554 after TLS", "smtps", STEPS(TLS(NULL),
     SEND("554 5.3.2 no service\r\n"), DRAIN), NULL, NULL, C(POST_TLS_FAILED),
     AT(VERIFY), .msg = "after TLS, the server rejected the connection: 554"},
    {"imaps: PREAUTH after TLS", "imaps", STEPS(TLS(NULL),
     SEND("* PREAUTH ready\r\n"), EXPECT("A1 CAPABILITY"),
     SEND("* CAPABILITY IMAP4rev1 ID\r\n$TAG OK\r\n"), DRAIN), NULL, NULL,
     C(OK), AT(DONE), .caps = "IMAP4rev1|ID"},
    {"pop3s: -ERR greeting after TLS", "pop3s", STEPS(TLS(NULL),
     SEND("-ERR busy\r\n"), DRAIN), NULL, NULL, C(POST_TLS_FAILED), AT(VERIFY),
     .msg = "after TLS"},
    {"imap: slow answer after TLS", "imap", IMAP_GOAHEAD, STEPS(TLS(NULL),
     EXPECT("A3 CAPABILITY"), TRICKLE("* CAPABILITY IMAP4rev1\r\n", 300)),
     NULL, C(POST_TLS_FAILED), AT(VERIFY), .flags = F_TIMEOUT,
     .deadline_ms = 1000, .msg = "stalled after TLS"},
};

/* ---- malformed greetings ------------------------------------------------ */

static const struct hcase greetings[] = {
    {"smtp: greeting without CRLF", "smtp", STEPS(SEND("220 mx.example PTX"),
     SILENCE), NULL, NULL, C(GREETING_TIMEOUT), AT(CONNECT),
     .flags = F_TIMEOUT, .deadline_ms = 1000},
    {"imap: greeting without CRLF", "imap", STEPS(SEND("* OK PTX"), SILENCE),
     NULL, NULL, C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT,
     .deadline_ms = 1000},
    {"pop3: greeting without CRLF", "pop3", STEPS(SEND("+OK PTX"), SILENCE),
     NULL, NULL, C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT,
     .deadline_ms = 1000},
    {"sieve: greeting without CRLF", "sieve",
     STEPS(SEND("\"IMPLEMENTATION\" \"PTX\""), SILENCE), NULL, NULL,
     C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT,
     .deadline_ms = 1000},
    {"smtp: closed after connect", "smtp", STEPS(CLOSE), NULL, NULL,
     C(GREETING_REJECTED), AT(CONNECT), .msg = "before sending a greeting"},
    {"pop3: reset after a partial greeting", "pop3", STEPS(SEND("+OK PTX"),
     SLEEP(50), RST), NULL, NULL, C(GREETING_MALFORMED), AT(CONNECT),
     .msg = "reset"},
    {"imap: closed during the CAPABILITY answer", "imap", IMAP_HELLO,
     STEPS(SEND("* CAPABILITY IMAP4rev1 STARTTLS PTX\r\n"), CLOSE), NULL,
     C(PROTOCOL_ERROR), AT(GREETING), .msg = "closed the connection during"},
    {"imap: tagged greeting", "imap", STEPS(SEND("A1 OK PTX hello\r\n"),
     DRAIN), NULL, NULL, C(GREETING_MALFORMED), AT(CONNECT),
     .msg = "not an IMAP greeting"},
    {"imap: BYE greeting", "imap", STEPS(SEND("* BYE PTX go away\r\n"), DRAIN),
     NULL, NULL, C(GREETING_REJECTED), AT(CONNECT), .msg = "BYE"},
    {"sieve: BYE greeting", "sieve", STEPS(SEND("BYE \"PTX go away\"\r\n"),
     DRAIN), NULL, NULL, C(GREETING_REJECTED), AT(CONNECT), .msg = "BYE"},
    {"smtp: 554 greeting", "smtp", STEPS(SEND("554 5.3.2 PTX no service\r\n"),
     DRAIN), NULL, NULL, C(GREETING_REJECTED), AT(CONNECT), .msg = "554"},
    {"smtp: 421 greeting", "smtp",
     STEPS(SEND("421-4.3.2 PTX busy\r\n421 4.3.2 try later\r\n"), DRAIN), NULL,
     NULL, C(GREETING_REJECTED), AT(CONNECT), .msg = "421"},
    {"smtp: 554 greeting, not UTF-8", "smtp",
     STEPS(SEND("554 \xff\xfe\xc3\x28 PTX\r\n"), DRAIN), NULL, NULL,
     C(GREETING_REJECTED), AT(CONNECT), .msg = "\\xff\\xfe\\xc3("},
    {"smtp: greeting changes its code", "smtp",
     STEPS(SEND("220-mx PTX\r\n250 mx\r\n"), DRAIN), NULL, NULL,
     C(GREETING_MALFORMED), AT(CONNECT)},
    {"smtp: not an SMTP greeting", "smtp", STEPS(SEND("HELLO PTX\r\n"), DRAIN),
     NULL, NULL, C(GREETING_MALFORMED), AT(CONNECT)},
    {"pop3: -ERR greeting", "pop3",
     STEPS(SEND("-ERR PTX too many connections\r\n"), DRAIN), NULL, NULL,
     C(GREETING_REJECTED), AT(CONNECT), .msg = "-ERR"},
    {"sieve: not a ManageSieve greeting", "sieve", STEPS(SEND("PTX hello\r\n"),
     DRAIN), NULL, NULL, C(GREETING_MALFORMED), AT(CONNECT)},
    {"smtp: empty greeting", "smtp", STEPS(SEND("\r\n"), DRAIN), NULL, NULL,
     C(GREETING_MALFORMED), AT(CONNECT), .msg = "empty"},
    {"imap: empty greeting", "imap", STEPS(SEND("\r\n"), DRAIN), NULL, NULL,
     C(GREETING_MALFORMED), AT(CONNECT), .msg = "empty"},
    {"pop3: empty greeting", "pop3", STEPS(SEND("\r\n"), DRAIN), NULL, NULL,
     C(GREETING_MALFORMED), AT(CONNECT), .msg = "empty"},
    {"sieve: empty greeting", "sieve", STEPS(SEND("\r\n"), DRAIN), NULL, NULL,
     C(GREETING_MALFORMED), AT(CONNECT), .msg = "empty"},
    {"smtp: NUL in the greeting", "smtp", STEPS(SENDN("220 mx\0PTX ESMTP\r\n"),
     DRAIN), NULL, NULL, C(GREETING_MALFORMED), AT(CONNECT), .msg = "NUL"},
    {"imap: NUL in the greeting", "imap", STEPS(SENDN("* OK \0PTX\r\n"),
     DRAIN), NULL, NULL, C(GREETING_MALFORMED), AT(CONNECT), .msg = "NUL"},
    {"pop3: NUL in the greeting", "pop3", STEPS(SENDN("+OK\0PTX\r\n"), DRAIN),
     NULL, NULL, C(GREETING_MALFORMED), AT(CONNECT), .msg = "NUL"},
    {"sieve: NUL in the greeting", "sieve",
     STEPS(SENDN("\"IMPLEMENTATION\" \"\0PTX\"\r\nOK\r\n"), DRAIN), NULL, NULL,
     C(GREETING_MALFORMED), AT(CONNECT), .msg = "NUL"},
    {"smtp: greeting not UTF-8", "smtp",
     STEPS(SEND("220 mx \xff\xfe\xc3\x28 PTX\r\n"), EXPECT("EHLO "),
     SMTP_EHLO_STARTTLS, EXPECT("STARTTLS"), MARK, SEND("220 Ready\r\n")),
     SMTP_POST, NULL, C(OK), AT(DONE), .caps = SMTP_CAPS},
    {"imap: greeting not UTF-8", "imap",
     STEPS(SEND("* OK \xc0\xaf\xed\xa0\x80 PTX\r\n"), EXPECT("A1 CAPABILITY"),
     IMAP_CAPS_STARTTLS, EXPECT("A2 STARTTLS"), MARK,
     SEND("$TAG OK Begin TLS\r\n")), IMAP_POST, NULL, C(OK), AT(DONE),
     .caps = IMAP_CAPS},
    {"pop3: greeting not UTF-8", "pop3",
     STEPS(SEND("+OK \xfe\xff\x80 PTX\r\n"), EXPECT("CAPA"), POP3_CAPA_STLS,
     EXPECT("STLS"), MARK, SEND("+OK\r\n")), POP3_POST, NULL, C(OK), AT(DONE),
     .caps = POP3_CAPS},
    {"sieve: greeting not UTF-8", "sieve",
     STEPS(SEND("\"IMPLEMENTATION\" \"\xff\xfe PTX\"\r\n\"STARTTLS\"\r\n"
                "OK \"\xc3\x28\"\r\n"),
     EXPECT("STARTTLS"), MARK, SEND("OK\r\n")), SIEVE_POST, NULL, C(OK),
     AT(DONE), .caps = SIEVE_CAPS},
};

/* ---- floods, literals, slowloris, silence ------------------------------- */

/* every cap ends a flood early: the server is stopped by the probe's close */

#define FLOOD(s) REPEAT(s, (int)(104857600 / (sizeof(s) - 1)))
#define ENDLESS FLOOD(KLINE_BODY)
#define KLINE(prefix) FLOOD(prefix KLINE_BODY "\r\n")

static const struct hcase floods[] = {
    {"smtp: endless greeting line", "smtp", STEPS(SEND("220 "), ENDLESS), NULL,
     NULL, C(PROTOCOL_ERROR), AT(CONNECT), .flags = F_FLOOD,
     .msg = "line longer than"},
    {"imap: endless greeting line", "imap", STEPS(SEND("* OK "), ENDLESS),
     NULL, NULL, C(PROTOCOL_ERROR), AT(CONNECT), .flags = F_FLOOD,
     .msg = "line longer than"},
    {"pop3: endless greeting line", "pop3", STEPS(SEND("+OK "), ENDLESS), NULL,
     NULL, C(PROTOCOL_ERROR), AT(CONNECT), .flags = F_FLOOD,
     .msg = "line longer than"},
    {"sieve: endless greeting line", "sieve", STEPS(SEND("\""), ENDLESS), NULL,
     NULL, C(PROTOCOL_ERROR), AT(CONNECT), .flags = F_FLOOD,
     .msg = "line longer than"},
    {"smtp: endless EHLO line", "smtp", SMTP_HELLO, STEPS(SEND("250-"),
     ENDLESS), NULL, C(PROTOCOL_ERROR), AT(GREETING), .flags = F_FLOOD,
     .msg = "line longer than"},
    {"smtp: EHLO reply that never ends", "smtp", SMTP_HELLO,
     STEPS(REPEAT("250-PTX\r\n", 10000000)), NULL, C(PROTOCOL_ERROR),
     AT(GREETING), .flags = F_FLOOD, .msg = "more than 1000 lines"},
    {"imap: CAPABILITY answer that never ends", "imap", IMAP_HELLO,
     STEPS(REPEAT("* CAPABILITY PTX\r\n", 10000000)), NULL, C(PROTOCOL_ERROR),
     AT(GREETING), .flags = F_FLOOD, .msg = "more than 1000 lines"},
    {"pop3: CAPA list that never ends", "pop3", POP3_HELLO,
     STEPS(SEND("+OK\r\n"), REPEAT("PTX\r\n", 10000000)), NULL,
     C(PROTOCOL_ERROR), AT(GREETING), .flags = F_FLOOD,
     .msg = "more than 1000 lines"},
    {"sieve: capability greeting that never ends", "sieve",
     STEPS(REPEAT("\"PTX\"\r\n", 10000000)), NULL, NULL, C(PROTOCOL_ERROR),
     AT(CONNECT), .flags = F_FLOOD, .msg = "more than 1000 lines"},
    {"smtp: 100 MB EHLO reply", "smtp", SMTP_HELLO, STEPS(KLINE("250-")), NULL,
     C(PROTOCOL_ERROR), AT(GREETING), .flags = F_FLOOD},
    {"imap: 100 MB CAPABILITY answer", "imap", IMAP_HELLO,
     STEPS(KLINE("* CAPABILITY ")), NULL, C(PROTOCOL_ERROR), AT(GREETING),
     .flags = F_FLOOD},
    {"pop3: 100 MB CAPA list", "pop3", POP3_HELLO, STEPS(SEND("+OK\r\n"),
     KLINE("")), NULL, C(PROTOCOL_ERROR), AT(GREETING), .flags = F_FLOOD},
    {"sieve: 100 MB greeting", "sieve",
     STEPS(FLOOD("\"X-PTX\" \"" KLINE_BODY "\"\r\n")), NULL, NULL,
     C(PROTOCOL_ERROR), AT(CONNECT), .flags = F_FLOOD},
    /* the caps are protocol-error after TLS too (SPEC.md section 4,
     * README "Caps") */
    {"imap: 100 MB after TLS", "imap", IMAP_GOAHEAD, STEPS(TLS(NULL),
     EXPECT("A3 CAPABILITY"), KLINE("* OK ")), NULL, C(PROTOCOL_ERROR),
     AT(VERIFY), .flags = F_FLOOD},
    {"imap: literal {4294967295} in the greeting", "imap",
     STEPS(SEND("* OK PTX {4294967295}\r\n"), DRAIN), NULL, NULL,
     C(PROTOCOL_ERROR), AT(CONNECT), .msg = "literal"},
    {"imap: literal {4294967295} in CAPABILITY", "imap", IMAP_HELLO,
     STEPS(SEND("* CAPABILITY IMAP4rev1 STARTTLS {4294967295}\r\n"), DRAIN),
     NULL, C(PROTOCOL_ERROR), AT(GREETING), .msg = "literal"},
    {"sieve: literal {4294967295+}", "sieve",
     STEPS(SEND("\"IMPLEMENTATION\" {4294967295+}\r\n"), DRAIN), NULL, NULL,
     C(PROTOCOL_ERROR), AT(CONNECT), .msg = "literal"},
};

/* one byte a second: the deadline still ends the probe */
static const struct hcase slowloris[] = {
    {"smtp: slowloris greeting", "smtp",
     STEPS(TRICKLE("220 mx.example ESMTP PTX\r\n", 1000)), NULL, NULL,
     C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT,
     .deadline_ms = 2500},
    {"imap: slowloris greeting", "imap", STEPS(TRICKLE("* OK PTX ready\r\n",
     1000)), NULL, NULL, C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT,
     .deadline_ms = 2500},
    {"pop3: slowloris greeting", "pop3", STEPS(TRICKLE("+OK PTX ready\r\n",
     1000)), NULL, NULL, C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT,
     .deadline_ms = 2500},
    {"sieve: slowloris greeting", "sieve",
     STEPS(TRICKLE("\"IMPLEMENTATION\" \"PTX\"\r\n", 1000)), NULL, NULL,
     C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT,
     .deadline_ms = 2500},
    {"smtp: slowloris EHLO reply", "smtp", SMTP_HELLO,
     STEPS(TRICKLE("250-mx.example PTX\r\n250 STARTTLS\r\n", 1000)), NULL,
     C(STARTTLS_TIMEOUT), AT(GREETING), .flags = F_TIMEOUT,
     .deadline_ms = 2500},
};

static const struct hcase silence[] = {
    {"smtp: silence after connect", "smtp", STEPS(SILENCE), NULL, NULL,
     C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT, .deadline_ms = 1000,
     .msg = "no greeting"},
    {"imap: silence after connect", "imap", STEPS(SILENCE), NULL, NULL,
     C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT, .deadline_ms = 1000,
     .msg = "no greeting"},
    {"pop3: silence after connect", "pop3", STEPS(SILENCE), NULL, NULL,
     C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT, .deadline_ms = 1000,
     .msg = "no greeting"},
    {"sieve: silence after connect", "sieve", STEPS(SILENCE), NULL, NULL,
     C(GREETING_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT, .deadline_ms = 1000,
     .msg = "no greeting"},
    {"smtp: silence after EHLO", "smtp", SMTP_HELLO, STEPS(SILENCE), NULL,
     C(STARTTLS_TIMEOUT), AT(GREETING), .flags = F_TIMEOUT,
     .deadline_ms = 1000},
    {"imap: silence after STARTTLS", "imap", IMAP_TO_STARTTLS, STEPS(MARK,
     SILENCE), NULL, C(STARTTLS_TIMEOUT), AT(GREETING),
     .flags = F_TIMEOUT | F_SILENT, .deadline_ms = 1000},
    {"smtp: ServerHello one byte a second", "smtp", SMTP_GOAHEAD, STEPS(RECV,
     TRICKLE("\x16\x03\x03\x00\x40PTX-0123456789", 1000)), NULL,
     C(TLS_TIMEOUT), AT(STARTTLS), .flags = F_TIMEOUT, .deadline_ms = 1500},
    {"imaps: ServerHello one byte a second", "imaps", STEPS(RECV,
     TRICKLE("\x16\x03\x03\x00\x40PTX-0123456789", 1000)), NULL, NULL,
     C(TLS_TIMEOUT), AT(CONNECT), .flags = F_TIMEOUT, .deadline_ms = 1500},
    {"smtp: silence after the go-ahead", "smtp", SMTP_GOAHEAD, STEPS(SILENCE),
     NULL, C(TLS_TIMEOUT), AT(STARTTLS), .flags = F_TIMEOUT,
     .deadline_ms = 1000},
    {"imap: silence after the go-ahead", "imap", IMAP_GOAHEAD, STEPS(SILENCE),
     NULL, C(TLS_TIMEOUT), AT(STARTTLS), .flags = F_TIMEOUT,
     .deadline_ms = 1000},
    {"pop3: silence after the go-ahead", "pop3", POP3_GOAHEAD, STEPS(SILENCE),
     NULL, C(TLS_TIMEOUT), AT(STARTTLS), .flags = F_TIMEOUT,
     .deadline_ms = 1000},
    {"sieve: silence after the go-ahead", "sieve", SIEVE_GOAHEAD,
     STEPS(SILENCE), NULL, C(TLS_TIMEOUT), AT(STARTTLS), .flags = F_TIMEOUT,
     .deadline_ms = 1000},
};

/* ---- TLS side: every behaviour after each protocol's go-ahead ----------- */

struct tls_behaviour {
    const char *name;
    const struct ss_step *steps;
    int code;
    int cred;
    const char *msg;
    const char *server_prio;
    size_t chain_length; /* 0: no check */
    int starttls_code;   /* after a STARTTLS go-ahead, when not 0 */
};

static const struct tls_behaviour tls_behaviours[] = {
    {"close with FIN", STEPS(RECV, CLOSE), C(TLS_CLOSED_DURING_HANDSHAKE),
     CRED_GOOD, .msg = "(FIN)"},
    {"close with RST", STEPS(RECV, RST), C(TLS_CLOSED_DURING_HANDSHAKE),
     CRED_GOOD, .msg = "(RST)"},
    {"fatal alert", STEPS(RECV, ALERT(80), DRAIN), C(TLS_ALERT), CRED_GOOD,
     .msg = "internal_error (80"},
    /* plaintext in place of a ServerHello: after a STARTTLS go-ahead it
     * is an injection (README "STARTTLS rules") */
    {"garbage instead of ServerHello",
     STEPS(RECV, SENDN("\x00\xff PTX garbage \x80\x81\r\n"), DRAIN),
     C(TLS_ERROR), CRED_GOOD, .starttls_code = C(STARTTLS_INJECTION)},
    {"garbage in a handshake record",
     STEPS(RECV,
           SENDN("\x16\x03\x03\x00\x10PTX-0123456789ab\x16\x03\x03\x00\x00"),
           DRAIN),
     C(TLS_ERROR), CRED_GOOD},
    /* all 200 are reported; the validator is given the first 16 (so the
     * trusted root is never reached: no client accepts such depth) */
    {"200-certificate chain", STEPS(TLS(NULL), DRAIN), C(CERT_UNTRUSTED),
     CRED_LONG_CHAIN, .msg = "the server sent 200 certificates",
     .chain_length = LONG_CHAIN},
    /* GnuTLS will not send a handshake message over 128 KB: the server
     * builds this Certificate message by hand */
    {"1 MB certificate", STEPS(RECV, RAW_CERT, DRAIN), C(TLS_ERROR),
     CRED_HUGE},
    {"TLS 1.0 only", STEPS(TLS("NORMAL:-VERS-ALL:+VERS-TLS1.0"), DRAIN),
     C(TLS_NO_COMMON_PARAMETERS), CRED_GOOD},
    {"no common cipher",
     STEPS(TLS("NORMAL:-VERS-TLS1.3:-CIPHER-ALL:+CAMELLIA-128-GCM"), DRAIN),
     C(TLS_NO_COMMON_PARAMETERS), CRED_GOOD},
    {"self-signed certificate", STEPS(TLS(NULL), DRAIN), C(CERT_UNTRUSTED),
     CRED_SELF_SIGNED},
    {"unknown root", STEPS(TLS(NULL), DRAIN), C(CERT_UNTRUSTED),
     CRED_UNKNOWN_ROOT},
    {"wrong name", STEPS(TLS(NULL), DRAIN), C(CERT_NAME_MISMATCH),
     CRED_WRONG_NAME},
    {"expired certificate", STEPS(TLS(NULL), DRAIN), C(CERT_EXPIRED),
     CRED_EXPIRED},
};
#define N_TLS_BEHAVIOURS (sizeof tls_behaviours / sizeof tls_behaviours[0])

static const struct {
    const char *service;
    const struct ss_step *prefix; /* NULL: implicit TLS */
} tls_services[] = {
    {"smtp", SMTP_GOAHEAD},  {"imap", IMAP_GOAHEAD},
    {"pop3", POP3_GOAHEAD},  {"sieve", SIEVE_GOAHEAD},
    {"smtps", NULL},          {"imaps", NULL},
    {"pop3s", NULL},
};
#define N_TLS_SERVICES (sizeof tls_services / sizeof tls_services[0])

START_TEST(test_tls_side)
{
    const struct tls_behaviour *b = &tls_behaviours[_i % N_TLS_BEHAVIOURS];
    size_t k = (size_t)_i / N_TLS_BEHAVIOURS;
    char name[128];
    struct hcase c;
    int verified = cert_failure(b->code);

    memset(&c, 0, sizeof c);
    snprintf(name, sizeof name, "%s: %s", tls_services[k].service, b->name);
    c.name = name;
    c.service = tls_services[k].service;
    c.a = tls_services[k].prefix;
    c.b = b->steps;
    c.code = tls_services[k].prefix && b->starttls_code ? b->starttls_code
                                                        : b->code;
    /* the last stage completed: the handshake when verification failed;
     * the greeting after an injection (the STARTTLS stage did not
     * complete); else the go-ahead (STARTTLS) or the connection (implicit
     * TLS) */
    c.stage = verified ? MAILSSL_STAGE_HANDSHAKE
              : c.code == MAILSSL_CODE_STARTTLS_INJECTION
                  ? MAILSSL_STAGE_GREETING
              : tls_services[k].prefix ? MAILSSL_STAGE_STARTTLS
                                       : MAILSSL_STAGE_CONNECT;
    c.flags = verified ? F_NO_TLS_DATA : 0;
    c.cred = b->cred;
    c.msg = b->msg;
    c.server_prio = b->server_prio;
    run_case(&c, b->chain_length);
}
END_TEST

/* run_case with no chain length to check */
static void run_row(const struct hcase *c)
{
    run_case(c, 0);
}

CHECK_TABLE_TEST(test_negotiation, run_row, negotiation)
CHECK_TABLE_TEST(test_injection, run_row, injection)
CHECK_TABLE_TEST(test_imap, run_row, imap_cases)
CHECK_TABLE_TEST(test_post_tls, run_row, post_tls)
CHECK_TABLE_TEST(test_greeting, run_row, greetings)
CHECK_TABLE_TEST(test_flood, run_row, floods)
CHECK_TABLE_TEST(test_slowloris, run_row, slowloris)
CHECK_TABLE_TEST(test_silence, run_row, silence)


static TCase *tcase(Suite *s, const char *name, const TTest *t, int n)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, t, 0, n);
    suite_add_tcase(s, tc);
    return tc;
}

int main(void)
{
    Suite *s = suite_create("hostile");

    tcase(s, "negotiation", test_negotiation, CHECK_COUNT(negotiation));
    tcase(s, "injection", test_injection, CHECK_COUNT(injection));
    tcase(s, "imap", test_imap, CHECK_COUNT(imap_cases));
    tcase(s, "post-tls", test_post_tls, CHECK_COUNT(post_tls));
    tcase(s, "greeting", test_greeting, CHECK_COUNT(greetings));
    tcase(s, "floods", test_flood, CHECK_COUNT(floods));
    tcase(s, "slowloris", test_slowloris, CHECK_COUNT(slowloris));
    tcase(s, "silence", test_silence, CHECK_COUNT(silence));
    tcase(s, "tls", test_tls_side,
          (int)(N_TLS_BEHAVIOURS * N_TLS_SERVICES));
    return check_run(s, CK_FORK_GETENV);
}
