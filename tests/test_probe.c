/*
 * Tests of the probe engine (lib/probe/probe.c, probe_tls.c, probe_json.c,
 * batch.c, net.c) against scripted loopback servers (scriptserver.h).
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl.h"
#include "scriptserver.h"

/* Explicit dates (never "now plus luck"): the CA covers 2025-2035, the
 * leaf 2026-01-01 .. 2027-01-01, and probes validate at 2026-06-01. */
#define CA_FROM 1735689600    /* 2025-01-01 */
#define CA_UNTIL 2051222400   /* 2035-01-01 */
#define LEAF_FROM 1767225600  /* 2026-01-01 */
#define LEAF_UNTIL 1798761600 /* 2027-01-01 */
#define T_VALID 1780272000    /* 2026-06-01 */

static char *dir;
static char cafile[512];
static struct certgen_cert ca, leaf;
static gnutls_x509_crt_t chain[2];

static void setup(void)
{
    static const char *const dns[] = {"localhost", "mail.example.com", NULL};
    static const char *const ips[] = {"127.0.0.1", "::1", NULL};
    struct certgen_opts ca_o = {0}, o = {0};

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ca_o.cn = "Test CA";
    ca_o.is_ca = 1;
    ca_o.not_before = CA_FROM;
    ca_o.not_after = CA_UNTIL;
    o.cn = "mail.example.com";
    o.dns = dns;
    o.ips = ips;
    o.not_before = LEAF_FROM;
    o.not_after = LEAF_UNTIL;
    snprintf(cafile, sizeof cafile, "%s/ca.pem", dir);
    ck_assert_int_eq(certgen_ca_and_leaf(&ca, &ca_o, &leaf, &o, cafile), 0);
    chain[0] = leaf.crt;
    chain[1] = ca.crt;
}

static void teardown(void)
{
    certgen_free(&leaf);
    certgen_free(&ca);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

static struct scriptserver *serve(int family, const struct ss_step *script)
{
    struct ss_config c;
    struct scriptserver *s;

    memset(&c, 0, sizeof c);
    c.family = family;
    c.script = script;
    c.chain = chain;
    c.nchain = 2;
    c.key = leaf.key;
    s = ss_start(&c);
    ck_assert_ptr_nonnull(s);
    return s;
}

static mailssl_probe *new_probe(const char *service, const char *host,
                                int port)
{
    char url[128];
    mailssl_probe *p;

    if (strchr(host, ':'))
        snprintf(url, sizeof url, "%s://[%s]:%d", service, host, port);
    else
        snprintf(url, sizeof url, "%s://%s:%d", service, host, port);
    p = mailssl_probe_new(url);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(mailssl_probe_set_cafile(p, cafile), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_timeout_ms(p, 5000), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_time(p, T_VALID), MAILSSL_OK);
    return p;
}

/* The diagnosis, status and stage of a finished probe; the case's name
 * leads every failure message. */
static void assert_diag(const char *name, const mailssl_probe *p, int code,
                        int status, int stage, const char *in_message)
{
    const char *m = mailssl_probe_message(p);

    ck_assert_msg(mailssl_probe_diagnosis(p) == code,
                  "%s: diagnosis %s, expected %s (%s)", name,
                  mailssl_code_name(mailssl_probe_diagnosis(p)),
                  mailssl_code_name(code), m ? m : "");
    ck_assert_msg(mailssl_probe_status(p) == status, "%s: status %d, "
                  "expected %d", name, mailssl_probe_status(p), status);
    ck_assert_msg(mailssl_probe_stage(p) == stage,
                  "%s: stage %s, expected %s", name,
                  mailssl_stage_name(mailssl_probe_stage(p)),
                  mailssl_stage_name(stage));
    ck_assert_msg(m != NULL, "%s: no message", name);
    if (in_message)
        ck_assert_msg(strstr(m, in_message) != NULL,
                      "%s: message \"%s\" lacks \"%s\"", name, m,
                      in_message);
}

/* A small strict JSON reader: checks the syntax and collects the keys of
 * the top-level object (in order) into keys, comma-separated. */
struct jr {
    const char *s;
    int depth;
    char keys[512];
};

static int j_value(struct jr *j);

static void j_ws(struct jr *j)
{
    while (*j->s == ' ' || *j->s == '\n' || *j->s == '\t' || *j->s == '\r')
        j->s++;
}

static int j_string(struct jr *j, char *out, size_t n)
{
    size_t k = 0;

    if (*j->s != '"')
        return -1;
    j->s++;
    while (*j->s && *j->s != '"') {
        if ((unsigned char)*j->s < 0x20)
            return -1;
        if (*j->s == '\\') {
            j->s++;
            if (!strchr("\"\\/bfnrtu", *j->s) || !*j->s)
                return -1;
        }
        if (out && k + 1 < n)
            out[k++] = *j->s;
        j->s++;
    }
    if (*j->s != '"')
        return -1;
    j->s++;
    if (out)
        out[k] = '\0';
    return 0;
}

static int j_object(struct jr *j)
{
    int top = j->depth == 0;

    j->depth++;
    j->s++;
    j_ws(j);
    if (*j->s == '}') {
        j->s++;
        j->depth--;
        return 0;
    }
    for (;;) {
        char key[64];

        j_ws(j);
        if (j_string(j, key, sizeof key) < 0)
            return -1;
        if (top) {
            if (j->keys[0])
                strcat(j->keys, ",");
            strcat(j->keys, key);
        }
        j_ws(j);
        if (*j->s++ != ':')
            return -1;
        if (j_value(j) < 0)
            return -1;
        j_ws(j);
        if (*j->s == ',') {
            j->s++;
            continue;
        }
        if (*j->s++ != '}')
            return -1;
        j->depth--;
        return 0;
    }
}

static int j_value(struct jr *j)
{
    j_ws(j);
    if (*j->s == '{')
        return j_object(j);
    if (*j->s == '[') {
        j->s++;
        j_ws(j);
        if (*j->s == ']') {
            j->s++;
            return 0;
        }
        for (;;) {
            j->depth++;
            if (j_value(j) < 0)
                return -1;
            j->depth--;
            j_ws(j);
            if (*j->s == ',') {
                j->s++;
                continue;
            }
            return *j->s++ == ']' ? 0 : -1;
        }
    }
    if (*j->s == '"')
        return j_string(j, NULL, 0);
    if (strncmp(j->s, "null", 4) == 0 || strncmp(j->s, "true", 4) == 0) {
        j->s += 4;
        return 0;
    }
    if (strncmp(j->s, "false", 5) == 0) {
        j->s += 5;
        return 0;
    }
    if (*j->s == '-' || (*j->s >= '0' && *j->s <= '9')) {
        char *end;

        strtod(j->s, &end);
        if (end == j->s)
            return -1;
        j->s = end;
        return 0;
    }
    return -1;
}

/* Parses json and returns its top-level keys ("" when invalid). */
static const char *json_keys(const char *json)
{
    static struct jr j;

    memset(&j, 0, sizeof j);
    j.s = json;
    if (*json != '{' || j_value(&j) < 0 || *j.s != '\0')
        return "";
    return j.keys;
}

/* ---- the nine services, blocking and non-blocking ----------------------- */

#define SMTP_CAPS_PRE "250-mx.example.com\r\n250-PIPELINING\r\n250-STARTTLS\r\n" \
                      "250 8BITMIME\r\n"
#define SMTP_CAPS_POST "250-mx.example.com\r\n250-PIPELINING\r\n" \
                       "250 AUTH PLAIN LOGIN\r\n"

/* SMTP and LMTP: greeting, hello, STARTTLS, hello again over TLS, QUIT */
#define SMTP_DIALOGUE(greeting, hello)                                      \
    SEND(greeting), EXPECT(hello), SEND(SMTP_CAPS_PRE), EXPECT("STARTTLS"),  \
        SEND("220 2.0.0 Ready to start TLS\r\n"), TLS(NULL), EXPECT(hello),  \
        SEND(SMTP_CAPS_POST), EXPECT("QUIT"), SEND("221 2.0.0 Bye\r\n")
#define BYE_IMAP SEND("* BYE\r\n$TAG OK\r\n")
#define IMAP_CAPS_POST "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$TAG OK done\r\n"
#define POP3_CAPS_POST "+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n"

static const struct ss_step smtp_script[] = {
    SMTP_DIALOGUE("220 mx.example.com ESMTP\r\n", "EHLO "), END};
static const struct ss_step lmtp_script[] = {
    SMTP_DIALOGUE("220 mx.example.com LMTP\r\n", "LHLO "), END};
static const struct ss_step smtps_script[] = {
    TLS(NULL), SEND("220 mx.example.com ESMTP\r\n"), EXPECT("EHLO "),
    SEND(SMTP_CAPS_POST), EXPECT("QUIT"), SEND("221 2.0.0 Bye\r\n"), END};
static const struct ss_step imap_script[] = {
    SEND("* OK IMAP4rev1 ready\r\n"), EXPECT("A1 CAPABILITY"),
    SEND("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n$TAG OK done\r\n"),
    EXPECT("A2 STARTTLS"), SEND("$TAG OK Begin TLS negotiation now\r\n"),
    TLS(NULL), EXPECT("A3 CAPABILITY"), SEND(IMAP_CAPS_POST),
    EXPECT("A4 LOGOUT"), BYE_IMAP, END};
static const struct ss_step imaps_script[] = {
    TLS(NULL), SEND("* OK IMAP4rev1 ready\r\n"), EXPECT("A1 CAPABILITY"),
    SEND(IMAP_CAPS_POST), EXPECT("A2 LOGOUT"), BYE_IMAP, END};
static const struct ss_step pop3_script[] = {
    SEND("+OK POP3 ready\r\n"), EXPECT("CAPA"),
    SEND("+OK\r\nSTLS\r\nTOP\r\n.\r\n"), EXPECT("STLS"),
    SEND("+OK Begin TLS\r\n"), TLS(NULL), EXPECT("CAPA"),
    SEND(POP3_CAPS_POST), EXPECT("QUIT"), SEND("+OK bye\r\n"), END};
static const struct ss_step pop3s_script[] = {
    TLS(NULL), SEND("+OK POP3 ready\r\n"), EXPECT("CAPA"),
    SEND(POP3_CAPS_POST), EXPECT("QUIT"), SEND("+OK bye\r\n"), END};
static const struct ss_step sieve_script[] = {
    SEND("\"IMPLEMENTATION\" \"test\"\r\n\"SIEVE\" \"fileinto\"\r\n"
         "\"STARTTLS\"\r\nOK \"ready\"\r\n"),
    EXPECT("STARTTLS"), SEND("OK \"begin TLS\"\r\n"), TLS(NULL),
    SEND("\"IMPLEMENTATION\" \"test\"\r\n\"SIEVE\" \"fileinto\"\r\n"
         "\"SASL\" \"PLAIN\"\r\nOK \"ready\"\r\n"),
    EXPECT("LOGOUT"), SEND("OK \"bye\"\r\n"), END};

#define CLIENT "mailssl-probe.invalid" /* the EHLO name */

struct service_case {
    const char *service;
    const struct ss_step *script;
    const char *plain;  /* exactly what the client says in plaintext */
    const char *tls;    /* and over TLS */
    const char *caps;   /* capabilities after TLS, joined with '|' */
};

static const struct service_case cases[] = {
    {"smtp", smtp_script, "EHLO " CLIENT "\r\nSTARTTLS\r\n", "EHLO " CLIENT "\r\nQUIT\r\n",
     "PIPELINING|AUTH PLAIN LOGIN"},
    {"submission", smtp_script, "EHLO " CLIENT "\r\nSTARTTLS\r\n", "EHLO " CLIENT "\r\nQUIT\r\n",
     "PIPELINING|AUTH PLAIN LOGIN"},
    {"smtps", smtps_script, "", "EHLO " CLIENT "\r\nQUIT\r\n",
     "PIPELINING|AUTH PLAIN LOGIN"},
    {"lmtp", lmtp_script, "LHLO " CLIENT "\r\nSTARTTLS\r\n", "LHLO " CLIENT "\r\nQUIT\r\n",
     "PIPELINING|AUTH PLAIN LOGIN"},
    {"imap", imap_script, "A1 CAPABILITY\r\nA2 STARTTLS\r\n",
     "A3 CAPABILITY\r\nA4 LOGOUT\r\n", "IMAP4rev1|AUTH=PLAIN"},
    {"imaps", imaps_script, "", "A1 CAPABILITY\r\nA2 LOGOUT\r\n",
     "IMAP4rev1|AUTH=PLAIN"},
    {"pop3", pop3_script, "CAPA\r\nSTLS\r\n", "CAPA\r\nQUIT\r\n",
     "USER|SASL PLAIN"},
    {"pop3s", pop3s_script, "", "CAPA\r\nQUIT\r\n", "USER|SASL PLAIN"},
    {"sieve", sieve_script, "STARTTLS\r\n", "LOGOUT\r\n",
     "IMPLEMENTATION|SIEVE|SASL"},
};

/* Drives p with the non-blocking API from a poll loop of our own. */
static void run_nonblocking(mailssl_probe *p)
{
    int rc = mailssl_probe_start(p);

    while (rc == MAILSSL_WANT_POLLIN || rc == MAILSSL_WANT_POLLOUT) {
        struct pollfd pfd = {mailssl_probe_fd(p),
                             rc == MAILSSL_WANT_POLLIN ? POLLIN : POLLOUT, 0};

        ck_assert_int_eq(mailssl_probe_done(p), 0);
        ck_assert_int_ge(poll(&pfd, 1, mailssl_probe_timeout_left_ms(p)), 0);
        rc = mailssl_probe_step(p);
    }
    ck_assert_int_eq(rc, MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_done(p), 1);
}

static void check_service(int i, int nonblocking)
{
    const struct service_case *c = &cases[i];
    struct scriptserver *s = serve(4, c->script);
    mailssl_probe *p = new_probe(c->service, "127.0.0.1", ss_port(s));
    char caps[256] = "";
    size_t k;
    char *js;

    if (nonblocking)
        run_nonblocking(p);
    else
        ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ck_assert_int_eq(ss_quiesce(s, 1), 0);
    ck_assert_msg(mailssl_probe_diagnosis(p) == MAILSSL_CODE_OK,
                  "%s: %s: %s", c->service,
                  mailssl_code_name(mailssl_probe_diagnosis(p)),
                  mailssl_probe_message(p));
    ck_assert_int_eq(mailssl_probe_status(p), MAILSSL_SEVERITY_OK);
    ck_assert_int_eq(mailssl_probe_stage(p), MAILSSL_STAGE_DONE);
    ck_assert_int_eq(ss_mismatches(s), 0);
    ck_assert_msg(strcmp(ss_plain(s, NULL), c->plain) == 0, "%s: plaintext \"%s\"",
                  c->service, ss_plain(s, NULL));
    ck_assert_msg(strcmp(ss_tls(s, NULL), c->tls) == 0, "%s: over TLS \"%s\"",
                  c->service, ss_tls(s, NULL));
    for (k = 0; k < mailssl_probe_capability_count(p); k++) {
        if (k)
            strcat(caps, "|");
        strncat(caps, mailssl_probe_capability(p, k),
                sizeof caps - strlen(caps) - 2);
    }
    ck_assert_msg(strcmp(caps, c->caps) == 0, "%s: capabilities \"%s\"",
                  c->service, caps);
    ck_assert_ptr_nonnull(mailssl_probe_tls_version(p));
    ck_assert_ptr_nonnull(mailssl_probe_tls_cipher(p));
    ck_assert_ptr_nonnull(mailssl_probe_tls_group(p));
    ck_assert_uint_eq(mailssl_probe_chain_length(p), 2);
    ck_assert_str_eq(mailssl_probe_cert_subject(p), "CN=mail.example.com");
    ck_assert_int_eq(mailssl_probe_cert_not_after(p), LEAF_UNTIL);
    ck_assert_int_eq(mailssl_probe_cert_days_left(p),
                     (LEAF_UNTIL - T_VALID) / 86400);
    ck_assert_uint_eq(strlen(mailssl_probe_cert_sha256(p)), 64);
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_HANDSHAKE), 0);
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_POST_TLS), 0);
    if (mailssl_service_implicit_tls(mailssl_probe_service(p)))
        ck_assert_int_eq(mailssl_probe_timing_us(p, MAILSSL_STAGE_GREETING),
                         -1);
    else
        ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_STARTTLS),
                         0);
    js = mailssl_probe_json(p);
    ck_assert_ptr_nonnull(js);
    ck_assert_msg(strcmp(json_keys(js),
                         "url,protocol,host,port,address,status,diagnosis,"
                         "stage,tls,certificate,chain_length,capabilities,"
                         "findings,timing_ms") == 0,
                  "%s", js);
    ck_assert_ptr_nonnull(strstr(js, "\"status\":\"ok\",\"diagnosis\":"
                                     "{\"code\":\"ok\""));
    ck_assert_ptr_nonnull(strstr(js, "\"stage\":\"done\""));
    ck_assert_ptr_nonnull(strstr(js, "\"not_after\":\"2027-01-01T00:00:00Z\""));
    mailssl_free(js);
    mailssl_probe_free(p);
    ss_stop(s);
}

START_TEST(test_service_blocking)
{
    check_service(_i, 0);
}
END_TEST

START_TEST(test_service_nonblocking)
{
    check_service(_i, 1);
}
END_TEST

/* ---- the scripted cases: one row a case, one runner -------------------- */

#define C(x) MAILSSL_CODE_##x
#define AT(x) MAILSSL_STAGE_##x
#define CRIT MAILSSL_SEVERITY_CRITICAL
#define WARN MAILSSL_SEVERITY_WARNING
#define FINE MAILSSL_SEVERITY_OK

#define F_DEADLINE 1    /* a 1500 ms probe deadline: the run ends at it */
#define F_CERT 2        /* the certificate block is reported (and the
                           diagnosis is among the findings) */
#define F_CLIENT_CERT 4 /* the server asks for a client certificate */

struct pcase {
    const char *name;
    const char *service;
    const char *host;              /* NULL: 127.0.0.1; "::1": IPv6 */
    const struct ss_step *script;
    void (*set)(mailssl_probe *);  /* settings beyond new_probe's, or NULL */
    int code, status, stage;
    const char *msg;               /* in the message (NULL: not checked) */
    int flags;                     /* F_* */
    void (*check)(mailssl_probe *, struct scriptserver *); /* more, or NULL */
};

/* The 13002 server: reads the ClientHello, then closes (FIN) or resets. */
static const struct ss_step fin_script[] = {RECV, CLOSE, END};
static const struct ss_step rst_script[] = {RECV, RST, END};

#define SMTP_PRE "220 mx.example.com ESMTP\r\n"
#define SMTP_TO_STARTTLS SEND(SMTP_PRE), EXPECT("EHLO "), SEND(SMTP_CAPS_PRE), \
                         EXPECT("STARTTLS")

static char long_line[8200 + 3];     /* one 8200-byte SMTP greeting line */
static char many_lines[1100 * 8 + 32]; /* an EHLO reply of 1101 lines */

static void fill_long_replies(void)
{
    size_t i;

    if (many_lines[0])
        return;
    memset(long_line, 'x', sizeof long_line);
    memcpy(long_line, "220 ", 4);
    memcpy(long_line + sizeof long_line - 3, "\r\n", 3);
    many_lines[0] = '\0';
    for (i = 0; i < 1100; i++)
        strcat(many_lines, "250-X\r\n");
    strcat(many_lines, "250 END\r\n");
}

/* Bounds on how long one stage ran, in microseconds. */
static void stage_took(const mailssl_probe *p, int stage, int64_t lo,
                       int64_t hi)
{
    int64_t us = mailssl_probe_timing_us(p, stage);

    ck_assert_msg(us >= lo && us <= hi, "stage %s took %lld us, expected "
                  "%lld..%lld", mailssl_stage_name(stage), (long long)us,
                  (long long)lo, (long long)hi);
}

/* -- settings (set) -- */

static void aes_only(mailssl_probe *p)
{
    ck_assert_int_eq(
        mailssl_probe_set_priority(p, "NORMAL:-CIPHER-ALL:+AES-128-GCM"),
        MAILSSL_OK);
}

static void stage_timeout(mailssl_probe *p, int stage, int32_t ms)
{
    ck_assert_int_eq(mailssl_probe_set_stage_timeout_ms(p, stage, ms),
                     MAILSSL_OK);
}

static void handshake_1s(mailssl_probe *p)
{
    stage_timeout(p, MAILSSL_STAGE_HANDSHAKE, 1000);
}

static void starttls_1s(mailssl_probe *p)
{
    stage_timeout(p, MAILSSL_STAGE_STARTTLS, 1000);
}

static void post_tls_300ms(mailssl_probe *p)
{
    stage_timeout(p, MAILSSL_STAGE_POST_TLS, 300);
}

static void set_time(mailssl_probe *p, int64_t t)
{
    ck_assert_int_eq(mailssl_probe_set_time(p, t), MAILSSL_OK);
}

static void no_cafile(mailssl_probe *p)
{
    ck_assert_int_eq(mailssl_probe_set_cafile(p, NULL), MAILSSL_OK);
}

static void wrong_name(mailssl_probe *p)
{
    ck_assert_int_eq(mailssl_probe_set_servername(p, "other.example.net"),
                     MAILSSL_OK);
}

static void after_expiry(mailssl_probe *p)
{
    set_time(p, LEAF_UNTIL + 14 * 86400);
}

static void before_validity(mailssl_probe *p)
{
    set_time(p, LEAF_FROM - 30 * 86400);
}

static void ten_days_left(mailssl_probe *p)
{
    set_time(p, LEAF_UNTIL - 10 * 86400 - 60);
}

static void three_days_left(mailssl_probe *p)
{
    set_time(p, LEAF_UNTIL - 3 * 86400 - 60);
}

static void bad_tlsa(mailssl_probe *p)
{
    unsigned char digest[32];

    memset(digest, 0x5a, sizeof digest);
    ck_assert_int_eq(mailssl_probe_add_tlsa(p, 3, 1, 1, digest, sizeof digest),
                     MAILSSL_OK);
}

/* RFC 7672: PKIX-EE (1) and unknown usages are unusable for SMTP; such
 * records are reported and ignored, PKIX trust still decides */
static void unusable_tlsa(mailssl_probe *p)
{
    unsigned char digest[32];

    memset(digest, 0x5a, sizeof digest);
    ck_assert_int_eq(mailssl_probe_add_tlsa(p, 1, 1, 1, digest, sizeof digest),
                     MAILSSL_OK);
    ck_assert_int_eq(
        mailssl_probe_add_tlsa(p, 200, 1, 1, digest, sizeof digest),
        MAILSSL_OK);
}

/* A client certificate from the test CA, presented when asked for. */
static void client_cert(mailssl_probe *p)
{
    static const char *const dns[] = {"client.example.com", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert client;
    const struct certgen_cert *one[1];
    mailssl_credential *cred = mailssl_credential_new();
    char path[600];

    o.cn = "client.example.com";
    o.dns = dns;
    o.eku = CERTGEN_EKU_CLIENT;
    ck_assert_int_eq(certgen_make(&client, &o, &ca), 0);
    snprintf(path, sizeof path, "%s/client.pem", dir);
    one[0] = &client;
    ck_assert_int_eq(certgen_write_pem(path, one, 1, &client), 0);
    certgen_free(&client);
    ck_assert_int_eq(mailssl_credential_load_pem_files(cred, path, NULL, NULL),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_client_credential(p, cred), MAILSSL_OK);
    mailssl_credential_free(cred); /* the probe holds its own reference */
}

/* -- further assertions (check) -- */

static void closed_fin_more(mailssl_probe *p, struct scriptserver *s)
{
    (void)s;
    ck_assert_ptr_nonnull(strstr(mailssl_probe_message(p), "(FIN)"));
    ck_assert_ptr_nonnull(strstr(mailssl_probe_message(p), "13002"));
    ck_assert_str_eq(mailssl_probe_address(p), "127.0.0.1");
    ck_assert_ptr_null(mailssl_probe_tls_version(p));
    ck_assert_ptr_null(mailssl_probe_cert_subject(p));
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_HANDSHAKE), -1);
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_CONNECT), 0);
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_TOTAL), 0);
}

static void json_of_failure(mailssl_probe *p, struct scriptserver *s)
{
    char *js = mailssl_probe_json(p);

    (void)s;
    ck_assert_ptr_nonnull(js);
    ck_assert_str_eq(json_keys(js),
                     "url,protocol,host,port,address,status,diagnosis,stage,"
                     "chain_length,capabilities,findings,timing_ms");
    ck_assert_ptr_nonnull(strstr(js, "\"protocol\":\"imaps\",\"host\":"
                                     "\"127.0.0.1\""));
    ck_assert_ptr_nonnull(strstr(js, "\"status\":\"critical\",\"diagnosis\":"
                                     "{\"code\":\"tls-closed-during-"
                                     "handshake\",\"message\":\"the server"));
    ck_assert_ptr_nonnull(strstr(js, "\"stage\":\"connect\""));
    ck_assert_ptr_nonnull(strstr(js, "\"capabilities\":[],\"findings\":[]"));
    ck_assert_ptr_nonnull(strstr(js, "\"timing_ms\":{\"resolve\":"));
    ck_assert_ptr_nonnull(strstr(js, ",\"total\":"));
    ck_assert_ptr_null(strchr(js, '\n'));
    mailssl_free(js);
}

static void handshake_took_1s(mailssl_probe *p, struct scriptserver *s)
{
    (void)s;
    /* the stage that timed out reports how long it ran */
    stage_took(p, MAILSSL_STAGE_HANDSHAKE, 1000000, 1100000);
}

static void ipv6_more(mailssl_probe *p, struct scriptserver *s)
{
    char *js = mailssl_probe_json(p);

    (void)s;
    ck_assert_str_eq(mailssl_probe_address(p), "::1");
    ck_assert_ptr_nonnull(strstr(js, "\"url\":\"imaps://[::1]:"));
    ck_assert_ptr_nonnull(strstr(js, "\"address\":\"::1\""));
    mailssl_free(js);
}

static void answered_on_ipv4(mailssl_probe *p, struct scriptserver *s)
{
    (void)s;
    ck_assert_str_eq(mailssl_probe_address(p), "127.0.0.1");
}

static void said_nothing(mailssl_probe *p, struct scriptserver *s)
{
    (void)p;
    ck_assert_str_eq(ss_plain(s, NULL), "");
}

static void starttls_took_1s(mailssl_probe *p, struct scriptserver *s)
{
    (void)s;
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_GREETING), 0);
    stage_took(p, MAILSSL_STAGE_STARTTLS, 1000000, 1100000);
}

static void ehlo_quit_only(mailssl_probe *p, struct scriptserver *s)
{
    /* capabilities seen before TLS are never reported */
    ck_assert_uint_eq(mailssl_probe_capability_count(p), 0);
    ck_assert_int_eq(ss_mismatches(s), 0);
    ck_assert_str_eq(ss_plain(s, NULL), "EHLO " CLIENT "\r\nQUIT\r\n");
}

static void nothing_after_starttls(mailssl_probe *p, struct scriptserver *s)
{
    (void)p;
    /* nothing after STARTTLS: no QUIT, no ClientHello */
    ck_assert_str_eq(ss_plain(s, NULL), "EHLO " CLIENT "\r\nSTARTTLS\r\n");
    ck_assert_str_eq(ss_tls(s, NULL), "");
}

static void at_most_a_hello(mailssl_probe *p, struct scriptserver *s)
{
    size_t n;
    const char *sent = ss_plain(s, &n);

    /* caught before the handshake, or in place of the ServerHello: in
     * both cases the injected text never reaches the dialogue; in
     * plaintext: the two commands, then at most a ClientHello */
    ck_assert_int_eq(strncmp(sent, "CAPA\r\nSTLS\r\n", 12), 0);
    ck_assert(n == 12 || sent[12] == 0x16);
    ck_assert_uint_eq(mailssl_probe_capability_count(p), 0);
}

static void cert_seen(mailssl_probe *p, struct scriptserver *s)
{
    (void)s;
    ck_assert_str_eq(mailssl_probe_cert_subject(p), "CN=mail.example.com");
}

static void dane_unusable_warns(mailssl_probe *p, struct scriptserver *s)
{
    const mailssl_report *r = mailssl_probe_findings(p);
    int i = mailssl_report_find(r, MAILSSL_CODE_DANE_UNUSABLE, 0);

    (void)s;
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(mailssl_report_severity(r, (size_t)i),
                     MAILSSL_SEVERITY_WARNING);
}

static void untrusted_more(mailssl_probe *p, struct scriptserver *s)
{
    char *js = mailssl_probe_json(p);

    (void)s;
    /* nothing was said to an untrusted server */
    ck_assert_uint_eq(mailssl_probe_capability_count(p), 0);
    ck_assert_ptr_nonnull(strstr(js, "\"certificate\":{\"subject\":"));
    ck_assert_ptr_nonnull(strstr(js, "\"code\":\"cert-untrusted\""));
    mailssl_free(js);
}

static void expired_14_days(mailssl_probe *p, struct scriptserver *s)
{
    (void)s;
    /* expiry can still be alerted on: days_left is negative */
    ck_assert_int_eq(mailssl_probe_cert_days_left(p), -14);
}

static void warned_and_served(mailssl_probe *p, struct scriptserver *s)
{
    (void)s;
    /* a warning does not stop the probe: the service was still checked */
    ck_assert_int_eq(mailssl_probe_cert_days_left(p), 10);
    ck_assert_uint_eq(mailssl_probe_capability_count(p), 2);
}

static void three_days(mailssl_probe *p, struct scriptserver *s)
{
    (void)s;
    ck_assert_int_eq(mailssl_probe_cert_days_left(p), 3);
}

static void client_cert_sent(mailssl_probe *p, struct scriptserver *s)
{
    (void)p;
    ck_assert_int_eq(ss_client_certs(s), 1);
}

/* -- the tables -- */

/* TLS handshake failures (implicit TLS) */
static const struct pcase handshake_cases[] = {
    {"FIN after the ClientHello", "imaps", NULL, fin_script, NULL,
     C(TLS_CLOSED_DURING_HANDSHAKE), CRIT, AT(CONNECT),
     "no valid certificate bound for this address, port and protocol", 0,
     closed_fin_more},
    {"RST after the ClientHello", "pop3s", NULL, rst_script, NULL,
     C(TLS_CLOSED_DURING_HANDSHAKE), CRIT, AT(CONNECT), "reset it (RST)", 0,
     NULL},
    {"closed before the ClientHello", "smtps", NULL, STEPS(CLOSE), NULL,
     C(TLS_CLOSED_DURING_HANDSHAKE), CRIT, AT(CONNECT), "smtps", 0, NULL},
    {"alert unrecognized_name", "imaps", NULL, STEPS(RECV, ALERT(112), DRAIN),
     NULL, C(TLS_ALERT), CRIT, AT(CONNECT),
     "fatal TLS alert unrecognized_name (112", 0, NULL},
    {"alert handshake_failure", "imaps", NULL, STEPS(RECV, ALERT(40), DRAIN),
     NULL, C(TLS_NO_COMMON_PARAMETERS), CRIT, AT(CONNECT),
     "handshake_failure (40", 0, NULL},
    {"TLS 1.0 only", "imaps", NULL, STEPS(TLS("NORMAL:-VERS-ALL:+VERS-TLS1.0")),
     NULL, C(TLS_NO_COMMON_PARAMETERS), CRIT, AT(CONNECT), "TLS1.2", 0, NULL},
    /* the server allows only a cipher the probe's priority excludes */
    {"no common cipher", "imaps", NULL,
     STEPS(TLS("NORMAL:-CIPHER-ALL:+CHACHA20-POLY1305")), aes_only,
     C(TLS_NO_COMMON_PARAMETERS), CRIT, AT(CONNECT), NULL, 0, NULL},
    {"plaintext instead of TLS", "imaps", NULL,
     STEPS(RECV, SEND("* OK IMAP4rev1 ready\r\n"), DRAIN), NULL, C(TLS_ERROR),
     CRIT, AT(CONNECT), "not TLS (\"* OK IMAP4rev1 ready\"", 0, NULL},
    {"JSON of a failure", "imaps", NULL, fin_script, NULL,
     C(TLS_CLOSED_DURING_HANDSHAKE), CRIT, AT(CONNECT), NULL, 0,
     json_of_failure},
};

/* deadlines and addresses */
static const struct pcase net_cases[] = {
    /* reads the ClientHello, then says nothing */
    {"handshake past the deadline", "imaps", NULL, STEPS(RECV, SILENCE), NULL,
     C(TLS_TIMEOUT), CRIT, AT(CONNECT), "probe's deadline", F_DEADLINE, NULL},
    /* a one-byte-a-second "handshake": the stage deadline ends it */
    {"handshake past its stage deadline", "imaps", NULL,
     STEPS(RECV, {SS_TRICKLE, "\x16\x03\x03\x00\x40xxxxxxxxxxxxxxx", 20, 200}),
     handshake_1s, C(TLS_TIMEOUT), CRIT, AT(CONNECT), "stage deadline", 0,
     handshake_took_1s},
    {"IPv6", "imaps", "::1", fin_script, NULL, C(TLS_CLOSED_DURING_HANDSHAKE),
     CRIT, AT(CONNECT), "on ::1 port", 0, ipv6_more},
    /* every address of a name is tried in turn: with the server on
     * 127.0.0.1 only, "localhost" (often ::1 first) still reaches it, and
     * the address that answered is reported */
    {"addresses in turn", "imaps", "localhost", fin_script, NULL,
     C(TLS_CLOSED_DURING_HANDSHAKE), CRIT, AT(CONNECT), NULL, 0,
     answered_on_ipv4},
};

/* diagnoses of the dialogue stages */
static const struct pcase dialogue_cases[] = {
    /* a silent server: greeting-timeout within the deadline + 10% */
    {"silent server", "imap", NULL, STEPS(SILENCE), NULL, C(GREETING_TIMEOUT),
     CRIT, AT(CONNECT), "no greeting", F_DEADLINE, said_nothing},
    /* one byte every 100 ms cannot hold the probe past its deadline */
    {"slow greeting", "smtp", NULL,
     STEPS(TRICKLE("220 mx.example.com ESMTP a very slow server\r\n", 100)),
     NULL, C(GREETING_TIMEOUT), CRIT, AT(CONNECT), "probe's deadline",
     F_DEADLINE, NULL},
    {"greeting 554", "smtp", NULL,
     STEPS(SEND("554 5.3.2 mx.example.com no service for you\r\n"), DRAIN),
     NULL, C(GREETING_REJECTED), CRIT, AT(CONNECT), "no service for you", 0,
     NULL},
    {"closed before the greeting", "pop3", NULL, STEPS(CLOSE), NULL,
     C(GREETING_REJECTED), CRIT, AT(CONNECT),
     "closed the connection before sending a greeting", 0, NULL},
    {"not a greeting", "imap", NULL, STEPS(SEND("HELLO THERE\r\n"), DRAIN),
     NULL, C(GREETING_MALFORMED), CRIT, AT(CONNECT), "HELLO THERE", 0, NULL},
    {"silence after EHLO", "smtp", NULL,
     STEPS(SEND(SMTP_PRE), EXPECT("EHLO "), SILENCE), starttls_1s,
     C(STARTTLS_TIMEOUT), CRIT, AT(GREETING), "stage deadline", 0,
     starttls_took_1s},
    {"STARTTLS not offered", "submission", NULL,
     STEPS(SEND(SMTP_PRE), EXPECT("EHLO "),
           SEND("250-mx.example.com\r\n250 8BITMIME\r\n"), EXPECT("QUIT"),
           SEND("221 bye\r\n")),
     NULL, C(STARTTLS_NOT_OFFERED), CRIT, AT(GREETING), "STARTTLS", 0,
     ehlo_quit_only},
    {"STARTTLS refused 454", "smtp", NULL,
     STEPS(SMTP_TO_STARTTLS,
           SEND("454 4.7.0 TLS not available due to local problem\r\n"),
           DRAIN),
     NULL, C(STARTTLS_REFUSED), CRIT, AT(GREETING),
     "454 4.7.0 TLS not available due to local problem", 0, NULL},
    {"PREAUTH", "imap", NULL,
     STEPS(SEND("* PREAUTH IMAP4rev1 logged in as mail\r\n"), DRAIN), NULL,
     C(STARTTLS_PREAUTH), CRIT, AT(GREETING), "PREAUTH", 0, NULL},
    /* the go-ahead and an injected reply arrive in one segment */
    {"injection in the go-ahead's segment", "smtp", NULL,
     STEPS(SMTP_TO_STARTTLS,
           SEND("220 2.0.0 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n"),
           DRAIN),
     NULL, C(STARTTLS_INJECTION), CRIT, AT(GREETING),
     "after the STARTTLS go-ahead", 0, nothing_after_starttls},
    /* the injected bytes follow in a separate segment */
    {"injection in a later segment", "pop3", NULL,
     STEPS(SEND("+OK ready\r\n"), EXPECT("CAPA"), SEND("+OK\r\nSTLS\r\n.\r\n"),
           EXPECT("STLS"), SEND("+OK go\r\n"), SLEEP(0),
           SEND("+OK injected\r\n"), DRAIN),
     NULL, C(STARTTLS_INJECTION), CRIT, AT(GREETING), "STARTTLS go-ahead", 0,
     at_most_a_hello},
    {"STARTTLS answered with the wrong tag", "imap", NULL,
     STEPS(SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"),
           EXPECT("A1 STARTTLS"), SEND("B7 OK Begin TLS\r\n"), DRAIN),
     NULL, C(PROTOCOL_ERROR), CRIT, AT(GREETING), NULL, 0, NULL},
    {"greeting line over 8192 bytes", "smtp", NULL,
     STEPS(SEND(long_line), DRAIN), NULL, C(PROTOCOL_ERROR), CRIT,
     AT(CONNECT), "longer than 8192 bytes", 0, NULL},
    {"EHLO reply over 1000 lines", "smtp", NULL,
     STEPS(SEND(SMTP_PRE), EXPECT("EHLO "), SEND(many_lines), DRAIN), NULL,
     C(PROTOCOL_ERROR), CRIT, AT(GREETING), "more than 1000 lines", 0, NULL},
    /* handshake fine, then the service closes without a greeting */
    {"closed after TLS", "imaps", NULL, STEPS(TLS(NULL), CLOSE), NULL,
     C(POST_TLS_FAILED), CRIT, AT(VERIFY),
     "after the TLS handshake the server", 0, cert_seen},
    {"silence after TLS", "pop3s", NULL, STEPS(TLS(NULL), SILENCE),
     post_tls_300ms, C(POST_TLS_FAILED), CRIT, AT(VERIFY),
     "stalled after TLS", 0, NULL},
};

/* certificate diagnoses: imaps with the full dialogue */
static const struct pcase cert_cases[] = {
    {"untrusted", "imaps", NULL, imaps_script, no_cafile, C(CERT_UNTRUSTED),
     CRIT, AT(HANDSHAKE), NULL, F_CERT, untrusted_more},
    {"unusable TLSA records", "imaps", NULL, imaps_script, unusable_tlsa,
     C(OK), WARN, AT(DONE), NULL, 0, dane_unusable_warns},
    {"name mismatch", "imaps", NULL, imaps_script, wrong_name,
     C(CERT_NAME_MISMATCH), CRIT, AT(HANDSHAKE), NULL, F_CERT, NULL},
    {"expired", "imaps", NULL, imaps_script, after_expiry, C(CERT_EXPIRED),
     CRIT, AT(HANDSHAKE), NULL, F_CERT, expired_14_days},
    {"not yet valid", "imaps", NULL, imaps_script, before_validity,
     C(CERT_NOT_YET_VALID), CRIT, AT(HANDSHAKE), NULL, F_CERT, NULL},
    {"expiring: warning", "imaps", NULL, imaps_script, ten_days_left,
     C(CERT_EXPIRING), WARN, AT(DONE), NULL, F_CERT, warned_and_served},
    {"expiring: critical", "imaps", NULL, imaps_script, three_days_left,
     C(CERT_EXPIRING), CRIT, AT(DONE), NULL, F_CERT, three_days},
    {"DANE mismatch", "imaps", NULL, imaps_script, bad_tlsa,
     C(DANE_MISMATCH), CRIT, AT(HANDSHAKE), NULL, F_CERT, NULL},
    {"client certificate", "imaps", NULL, imaps_script, client_cert, C(OK),
     FINE, AT(DONE), NULL, F_CLIENT_CERT, client_cert_sent},
};

/* the certificate is reported even when verification failed */
static void assert_cert_block(const mailssl_probe *p, int code)
{
    ck_assert_str_eq(mailssl_probe_cert_subject(p), "CN=mail.example.com");
    ck_assert_str_eq(mailssl_probe_cert_issuer(p), "CN=Test CA");
    ck_assert_uint_eq(mailssl_probe_cert_name_count(p), 4);
    ck_assert_int_eq(mailssl_probe_cert_not_before(p), LEAF_FROM);
    ck_assert_ptr_nonnull(mailssl_probe_tls_version(p));
    ck_assert_int_ge(mailssl_report_find(mailssl_probe_findings(p), code, 0),
                     0);
}

#define DEADLINE_MS 1500

static void run_pcase(const struct pcase *c)
{
    const char *host = c->host ? c->host : "127.0.0.1";
    int family = strchr(host, ':') ? 6 : 4;
    struct ss_config cfg;
    struct scriptserver *s;
    mailssl_probe *p;
    int64_t t0, el;

    fill_long_replies();
    if (family == 6 && !ss_ipv6_available())
        return; /* no ::1 on this machine */
    memset(&cfg, 0, sizeof cfg);
    cfg.family = family;
    cfg.script = c->script;
    cfg.chain = chain;
    cfg.nchain = 2;
    cfg.key = leaf.key;
    cfg.request_client_cert = (c->flags & F_CLIENT_CERT) != 0;
    s = ss_start(&cfg);
    ck_assert_msg(s != NULL, "%s: no server", c->name);
    p = new_probe(c->service, host, ss_port(s));
    if (c->flags & F_DEADLINE)
        ck_assert_int_eq(mailssl_probe_set_timeout_ms(p, DEADLINE_MS),
                         MAILSSL_OK);
    if (c->set)
        c->set(p);
    t0 = ss_mono_ms();
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    el = ss_mono_ms() - t0;
    ck_assert_int_eq(mailssl_probe_done(p), 1);
    ss_quiesce(s, 1);
    assert_diag(c->name, p, c->code, c->status, c->stage, c->msg);
    if (c->flags & F_DEADLINE) {
        ck_assert_msg(el >= DEADLINE_MS - 10, "%s: gave up after %lld ms",
                      c->name, (long long)el);
        ck_assert_msg(el <= DEADLINE_MS + DEADLINE_MS / 10,
                      "%s: took %lld ms", c->name, (long long)el);
    }
    if (c->flags & F_CERT)
        assert_cert_block(p, c->code);
    if (c->check)
        c->check(p, s);
    mailssl_probe_free(p);
    ss_stop(s);
}

CHECK_TABLE_TEST(test_handshake_case, run_pcase, handshake_cases)
CHECK_TABLE_TEST(test_net_case, run_pcase, net_cases)
CHECK_TABLE_TEST(test_dialogue_case, run_pcase, dialogue_cases)
CHECK_TABLE_TEST(test_cert_case, run_pcase, cert_cases)

/* ---- cases of their own shape ---------------------------------------- */

/* A listener whose accept queue is full drops further SYNs on Linux, so
 * connecting to it hangs: the connect stage must time out. */
START_TEST(test_connect_timeout)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int lfd, fill[8], i, port;
    mailssl_probe *p;
    int64_t el;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(lfd, 0), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    for (i = 0; i < 8; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    usleep(100000);
    p = new_probe("imaps", "127.0.0.1", port);
    ck_assert_int_eq(
        mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_CONNECT, 1000),
        MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    assert_diag("-", p, MAILSSL_CODE_CONNECT_TIMEOUT, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_RESOLVE, "within the deadline");
    el = mailssl_probe_timing_us(p, MAILSSL_STAGE_CONNECT);
    ck_assert_int_ge(el, 1000000);
    ck_assert_int_le(el, 1100000);
    mailssl_probe_free(p);
    for (i = 0; i < 8; i++)
        close(fill[i]);
    close(lfd);
}
END_TEST

START_TEST(test_connect_refused)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    mailssl_probe *p;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd); /* nothing listens on that port now */
    p = new_probe("imap", "127.0.0.1", port);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    assert_diag("-", p, MAILSSL_CODE_CONNECT_REFUSED, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_RESOLVE, "connection refused by 127.0.0.1");
    ck_assert_int_eq(mailssl_probe_fd(p), -1);
    ck_assert_int_eq(mailssl_probe_timeout_left_ms(p), -1);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_resolve_failed)
{
    mailssl_probe *p = mailssl_probe_new("imaps://no-such-host.invalid");

    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    assert_diag("-", p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_NONE, "cannot resolve no-such-host.invalid");
    ck_assert_ptr_null(mailssl_probe_address(p));
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_RESOLVE), 0);
    ck_assert_int_eq(mailssl_probe_timing_us(p, MAILSSL_STAGE_CONNECT), -1);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_family)
{
    mailssl_probe *p = mailssl_probe_new("imaps://127.0.0.1:1");

    /* an IPv4 literal has no IPv6 address */
    ck_assert_int_eq(mailssl_probe_set_family(p, 6), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_family(p, 5), MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    assert_diag("-", p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_NONE, "(IPv6 only)");
    mailssl_probe_free(p);
}
END_TEST

/* connect-to: the URL names a host that does not exist; the probe
 * connects to the given address and keeps the name. */
START_TEST(test_connect_to)
{
    struct scriptserver *s = serve(4, fin_script);
    mailssl_probe *p = new_probe("imaps", "mail.example.invalid", 993);
    char to[64];

    snprintf(to, sizeof to, "127.0.0.1:%d", ss_port(s));
    ck_assert_int_eq(mailssl_probe_set_connect_to(p, to), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ss_quiesce(s, 1);
    assert_diag("-", p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT, NULL);
    ck_assert_str_eq(mailssl_probe_host(p), "mail.example.invalid");
    ck_assert_int_eq(mailssl_probe_port(p), 993);
    ck_assert_str_eq(mailssl_probe_address(p), "127.0.0.1");
    /* the ClientHello carried the URL host as SNI */
    {
        size_t n;
        const char *hello = ss_plain(s, &n);

        ck_assert_ptr_nonnull(memmem(hello, n, "mail.example.invalid", 20));
    }
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

START_TEST(test_misuse)
{
    mailssl_probe *p = mailssl_probe_new("imaps://no-such-host.invalid");

    ck_assert_int_eq(mailssl_probe_status(p), MAILSSL_ERR_STATE);
    ck_assert_int_eq(mailssl_probe_diagnosis(p), MAILSSL_ERR_STATE);
    ck_assert_ptr_null(mailssl_probe_json(p));
    ck_assert_int_eq(mailssl_probe_step(p), MAILSSL_ERR_STATE);
    ck_assert_int_eq(mailssl_probe_set_timeout_ms(p, 0), MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_probe_set_days(p, 5, 7), MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_probe_set_min_version(p, "SSL3.0"),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_probe_set_min_version(p, "TLS1.3"), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_priority(p, "NORMAL:+NONSENSE"),
                     MAILSSL_ERR_SYNTAX);
    ck_assert_int_eq(mailssl_probe_set_stage_timeout_ms(
                         p, MAILSSL_STAGE_RESOLVE, 10),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_probe_add_tlsa(p, 3, 1, 1, NULL, 0),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_start(p), MAILSSL_ERR_STATE);
    ck_assert_int_eq(mailssl_probe_set_cafile(p, cafile), MAILSSL_ERR_STATE);
    ck_assert_str_eq(mailssl_probe_error(p), "the probe has already started");
    mailssl_probe_free(p);
    ck_assert_str_eq(mailssl_stage_name(MAILSSL_STAGE_POST_TLS), "post-tls");
    ck_assert_str_eq(mailssl_stage_name(MAILSSL_STAGE_NONE), "none");
    ck_assert_str_eq(mailssl_stage_name(MAILSSL_STAGE_TOTAL), "total");
    ck_assert_str_eq(mailssl_stage_name(MAILSSL_STAGE_DANE), "dane");
    ck_assert_ptr_null(mailssl_stage_name(MAILSSL_STAGE_DANE + 1));
    ck_assert_ptr_null(mailssl_stage_name(-1));
}
END_TEST

START_TEST(test_json_bad_url)
{
    mailssl_probe *p = mailssl_probe_new("bogus");
    char *js;

    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_ERR_SYNTAX);
    js = mailssl_probe_json(p);
    ck_assert_ptr_nonnull(js);
    ck_assert_str_eq(json_keys(js),
                     "url,protocol,host,port,address,status,diagnosis,stage,"
                     "chain_length,capabilities,findings,timing_ms");
    ck_assert_ptr_nonnull(strstr(js, "\"status\":\"unknown\""));
    ck_assert_ptr_nonnull(strstr(js, "\"code\":null"));
    mailssl_free(js);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_nonblocking_external_loop)
{
    struct scriptserver *s = serve(4, rst_script);
    mailssl_probe *p = new_probe("pop3s", "127.0.0.1", ss_port(s));
    int rc, waits = 0;

    rc = mailssl_probe_start(p);
    ck_assert_int_eq(rc, MAILSSL_WANT_POLLOUT); /* connect in progress */
    while (rc == MAILSSL_WANT_POLLIN || rc == MAILSSL_WANT_POLLOUT) {
        struct pollfd pfd = {mailssl_probe_fd(p),
                             rc == MAILSSL_WANT_POLLIN ? POLLIN : POLLOUT, 0};
        int32_t left = mailssl_probe_timeout_left_ms(p);

        ck_assert_int_ge(pfd.fd, 0);
        ck_assert_int_gt(left, 0);
        ck_assert_int_le(left, 5000);
        ck_assert_int_eq(mailssl_probe_done(p), 0);
        ck_assert_int_ge(poll(&pfd, 1, left), 0);
        rc = mailssl_probe_step(p);
        waits++;
    }
    ck_assert_int_eq(rc, MAILSSL_OK);
    ck_assert_int_ge(waits, 1);
    ck_assert_int_eq(mailssl_probe_done(p), 1);
    ck_assert_int_eq(mailssl_probe_step(p), MAILSSL_OK);
    assert_diag("-", p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT, NULL);
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

static void count_progress(size_t done, size_t total, void *user)
{
    size_t *last = user;

    ck_assert_uint_eq(done, last[0] + 1);
    ck_assert_uint_eq(total, 12);
    last[0] = done;
}

START_TEST(test_batch)
{
    struct scriptserver *s = serve(4, fin_script);
    mailssl_batch *b = mailssl_batch_new(4);
    mailssl_probe *p[12];
    size_t last = 0;
    int i;

    ck_assert_ptr_null(mailssl_batch_new(0));
    for (i = 0; i < 12; i++) {
        p[i] = i == 5 ? mailssl_probe_new("bogus")
                      : new_probe("imaps", "127.0.0.1", ss_port(s));
        ck_assert_int_eq(mailssl_batch_add(b, p[i]), MAILSSL_OK);
    }
    ck_assert_int_eq(mailssl_batch_add(b, p[0]), MAILSSL_ERR_DUPLICATE);
    ck_assert_int_eq(mailssl_batch_run(b, count_progress, &last), MAILSSL_OK);
    ck_assert_uint_eq(last, 12);
    for (i = 0; i < 12; i++) {
        ck_assert_int_eq(mailssl_probe_done(p[i]), 1);
        if (i == 5)
            ck_assert_int_eq(mailssl_probe_status(p[i]),
                             MAILSSL_SEVERITY_UNKNOWN);
        else
            ck_assert_int_eq(mailssl_probe_diagnosis(p[i]),
                             MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE);
        mailssl_probe_free(p[i]);
    }
    mailssl_batch_free(b);
    ss_quiesce(s, 11);
    ck_assert_int_eq(ss_connections(s), 11);
    ss_stop(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("probe");
    TCase *tls = tcase_create("handshake failures");
    TCase *net = tcase_create("resolve, connect, deadlines");
    TCase *api = tcase_create("api");
    TCase *svc = tcase_create("services");
    TCase *dlg = tcase_create("dialogue diagnoses");
    TCase *cert = tcase_create("certificate diagnoses");

    tcase_add_checked_fixture(tls, setup, teardown);
    tcase_add_loop_test(tls, test_handshake_case, 0, CHECK_COUNT(handshake_cases));
    suite_add_tcase(s, tls);

    tcase_add_checked_fixture(net, setup, teardown);
    tcase_add_loop_test(net, test_net_case, 0, CHECK_COUNT(net_cases));
    tcase_add_test(net, test_connect_timeout);
    tcase_add_test(net, test_connect_refused);
    tcase_add_test(net, test_resolve_failed);
    tcase_add_test(net, test_family);
    tcase_add_test(net, test_connect_to);
    suite_add_tcase(s, net);

    tcase_add_checked_fixture(svc, setup, teardown);
    tcase_add_loop_test(svc, test_service_blocking, 0, CHECK_COUNT(cases));
    tcase_add_loop_test(svc, test_service_nonblocking, 0, CHECK_COUNT(cases));
    suite_add_tcase(s, svc);

    tcase_add_checked_fixture(dlg, setup, teardown);
    tcase_add_loop_test(dlg, test_dialogue_case, 0, CHECK_COUNT(dialogue_cases));
    suite_add_tcase(s, dlg);

    tcase_add_checked_fixture(cert, setup, teardown);
    tcase_add_loop_test(cert, test_cert_case, 0, CHECK_COUNT(cert_cases));
    suite_add_tcase(s, cert);

    tcase_add_checked_fixture(api, setup, teardown);
    tcase_add_test(api, test_misuse);
    tcase_add_test(api, test_json_bad_url);
    tcase_add_test(api, test_nonblocking_external_loop);
    tcase_add_test(api, test_batch);
    suite_add_tcase(s, api);

    return check_run(s, CK_FORK_GETENV);
}
