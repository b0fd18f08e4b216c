/*
 * Tests of the probe engine (lib/probe.c, probe_tls.c, probe_json.c,
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
    struct certgen_opts o = {0};
    const struct certgen_cert *cas[1];

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    o.cn = "Test CA";
    o.is_ca = 1;
    o.not_before = CA_FROM;
    o.not_after = CA_UNTIL;
    ck_assert_int_eq(certgen_make(&ca, &o, NULL), 0);
    memset(&o, 0, sizeof o);
    o.cn = "mail.example.com";
    o.dns = dns;
    o.ips = ips;
    o.not_before = LEAF_FROM;
    o.not_after = LEAF_UNTIL;
    ck_assert_int_eq(certgen_make(&leaf, &o, &ca), 0);
    chain[0] = leaf.crt;
    chain[1] = ca.crt;
    snprintf(cafile, sizeof cafile, "%s/ca.pem", dir);
    cas[0] = &ca;
    ck_assert_int_eq(certgen_write_pem(cafile, cas, 1, NULL), 0);
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

/* Probes service on a scripted server (IPv4) and returns the finished
 * probe; the server is stopped after it went idle. */
static mailssl_probe *probe_script(const char *service,
                                   const struct ss_step *script)
{
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe(service, "127.0.0.1", ss_port(s));

    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_done(p), 1);
    ss_quiesce(s, 1);
    ss_stop(s);
    return p;
}

static void assert_diag(const mailssl_probe *p, int code, int status,
                        int stage, const char *in_message)
{
    const char *m = mailssl_probe_message(p);

    ck_assert_msg(mailssl_probe_diagnosis(p) == code,
                  "diagnosis %s, expected %s (%s)",
                  mailssl_code_name(mailssl_probe_diagnosis(p)),
                  mailssl_code_name(code), m ? m : "");
    ck_assert_int_eq(mailssl_probe_status(p), status);
    ck_assert_msg(mailssl_probe_stage(p) == stage, "stage %s, expected %s",
                  mailssl_stage_name(mailssl_probe_stage(p)),
                  mailssl_stage_name(stage));
    ck_assert_ptr_nonnull(m);
    if (in_message)
        ck_assert_msg(strstr(m, in_message) != NULL,
                      "message \"%s\" lacks \"%s\"", m, in_message);
}

/* ---- TLS handshake failures (implicit TLS) ------------------------------ */

/* The 13002 server: reads the ClientHello, then closes (FIN) or resets. */
static const struct ss_step fin_script[] = {
    {SS_RECV, 0, 0, 0}, {SS_CLOSE, 0, 0, 0}, {SS_END, 0, 0, 0}};
static const struct ss_step rst_script[] = {
    {SS_RECV, 0, 0, 0}, {SS_RST, 0, 0, 0}, {SS_END, 0, 0, 0}};

START_TEST(test_closed_fin)
{
    mailssl_probe *p = probe_script("imaps", fin_script);

    assert_diag(p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT,
                "no valid certificate bound for this address, port and "
                "protocol");
    ck_assert_ptr_nonnull(strstr(mailssl_probe_message(p), "(FIN)"));
    ck_assert_ptr_nonnull(strstr(mailssl_probe_message(p), "13002"));
    ck_assert_str_eq(mailssl_probe_address(p), "127.0.0.1");
    ck_assert_ptr_null(mailssl_probe_tls_version(p));
    ck_assert_ptr_null(mailssl_probe_cert_subject(p));
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_HANDSHAKE), -1);
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_CONNECT), 0);
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_TOTAL), 0);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_closed_rst)
{
    mailssl_probe *p = probe_script("pop3s", rst_script);

    assert_diag(p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT,
                "reset it (RST)");
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_closed_before_hello)
{
    /* closes as soon as it accepts, before reading the ClientHello */
    static const struct ss_step script[] = {{SS_CLOSE, 0, 0, 0},
                                            {SS_END, 0, 0, 0}};
    mailssl_probe *p = probe_script("smtps", script);

    assert_diag(p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT, "smtps");
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_alert)
{
    static const struct ss_step script[] = {{SS_RECV, 0, 0, 0},
                                            {SS_ALERT, 0, 0, 112},
                                            {SS_DRAIN, 0, 0, 0},
                                            {SS_END, 0, 0, 0}};
    mailssl_probe *p = probe_script("imaps", script);

    assert_diag(p, MAILSSL_CODE_TLS_ALERT, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_CONNECT, "fatal TLS alert unrecognized_name (112");
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_alert_handshake_failure)
{
    static const struct ss_step script[] = {{SS_RECV, 0, 0, 0},
                                            {SS_ALERT, 0, 0, 40},
                                            {SS_DRAIN, 0, 0, 0},
                                            {SS_END, 0, 0, 0}};
    mailssl_probe *p = probe_script("imaps", script);

    assert_diag(p, MAILSSL_CODE_TLS_NO_COMMON_PARAMETERS,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT,
                "handshake_failure (40");
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_tls10_only)
{
    static const struct ss_step script[] = {
        {SS_TLS, "NORMAL:-VERS-ALL:+VERS-TLS1.0", 0, 0},
        {SS_END, 0, 0, 0}};
    mailssl_probe *p = probe_script("imaps", script);

    assert_diag(p, MAILSSL_CODE_TLS_NO_COMMON_PARAMETERS,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT, "TLS1.2");
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_no_common_cipher)
{
    /* the server allows only a cipher the probe's priority excludes */
    static const struct ss_step script[] = {
        {SS_TLS, "NORMAL:-CIPHER-ALL:+CHACHA20-POLY1305", 0, 0},
        {SS_END, 0, 0, 0}};
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe("imaps", "127.0.0.1", ss_port(s));

    ck_assert_int_eq(
        mailssl_probe_set_priority(p, "NORMAL:-CIPHER-ALL:+AES-128-GCM"),
        MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ss_quiesce(s, 1);
    ss_stop(s);
    assert_diag(p, MAILSSL_CODE_TLS_NO_COMMON_PARAMETERS,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT, NULL);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_garbage)
{
    static const struct ss_step script[] = {
        {SS_RECV, 0, 0, 0},
        {SS_SEND, "* OK IMAP4rev1 ready\r\n", 0, 0},
        {SS_DRAIN, 0, 0, 0},
        {SS_END, 0, 0, 0}};
    mailssl_probe *p = probe_script("imaps", script);

    assert_diag(p, MAILSSL_CODE_TLS_ERROR, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_CONNECT,
                "not TLS (\"* OK IMAP4rev1 ready\"");
    mailssl_probe_free(p);
}
END_TEST

/* ---- deadlines ---------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_tls_timeout)
{
    /* reads the ClientHello, then says nothing */
    static const struct ss_step script[] = {{SS_RECV, 0, 0, 0},
                                            {SS_SLEEP, 0, 0, 20000},
                                            {SS_END, 0, 0, 0}};
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe("imaps", "127.0.0.1", ss_port(s));
    int64_t t0, el;

    ck_assert_int_eq(mailssl_probe_set_timeout_ms(p, 1500), MAILSSL_OK);
    t0 = mono_ms();
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    el = mono_ms() - t0;
    assert_diag(p, MAILSSL_CODE_TLS_TIMEOUT, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_CONNECT, "probe's deadline");
    ck_assert_int_ge(el, 1490);
    ck_assert_int_le(el, 1650); /* deadline + 10% */
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

START_TEST(test_stage_timeout)
{
    /* a one-byte-a-second "handshake": the stage deadline ends it */
    static const struct ss_step script[] = {
        {SS_RECV, 0, 0, 0},
        {SS_TRICKLE, "\x16\x03\x03\x00\x40xxxxxxxxxxxxxxx", 20, 200},
        {SS_END, 0, 0, 0}};
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe("imaps", "127.0.0.1", ss_port(s));
    int64_t el;

    ck_assert_int_eq(
        mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_HANDSHAKE, 1000),
        MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    assert_diag(p, MAILSSL_CODE_TLS_TIMEOUT, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_CONNECT, "stage deadline");
    /* the stage that timed out reports how long it ran */
    el = mailssl_probe_timing_us(p, MAILSSL_STAGE_HANDSHAKE);
    ck_assert_int_ge(el, 1000000);
    ck_assert_int_le(el, 1100000);
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

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
    assert_diag(p, MAILSSL_CODE_CONNECT_TIMEOUT, MAILSSL_SEVERITY_CRITICAL,
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

/* ---- resolve and connect ------------------------------------------------ */

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
    assert_diag(p, MAILSSL_CODE_CONNECT_REFUSED, MAILSSL_SEVERITY_CRITICAL,
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
    assert_diag(p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL,
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
    assert_diag(p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_NONE, "(IPv6 only)");
    mailssl_probe_free(p);
}
END_TEST

/* ---- misuse ------------------------------------------------------------- */

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

/* ---- JSON --------------------------------------------------------------- */

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

START_TEST(test_json_failure)
{
    mailssl_probe *p = probe_script("imaps", fin_script);
    char *js = mailssl_probe_json(p);

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
    mailssl_probe_free(p);
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

/* ---- the non-blocking API in an external poll loop ---------------------- */

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
    assert_diag(p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT, NULL);
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

/* ---- IPv6 --------------------------------------------------------------- */

START_TEST(test_ipv6)
{
    struct scriptserver *s;
    mailssl_probe *p;
    char *js;

    if (!ss_ipv6_available())
        return; /* no ::1 on this machine */
    s = serve(6, fin_script);
    p = new_probe("imaps", "::1", ss_port(s));
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    assert_diag(p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT,
                "on ::1 port");
    ck_assert_str_eq(mailssl_probe_address(p), "::1");
    js = mailssl_probe_json(p);
    ck_assert_ptr_nonnull(strstr(js, "\"url\":\"imaps://[::1]:"));
    ck_assert_ptr_nonnull(strstr(js, "\"address\":\"::1\""));
    mailssl_free(js);
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

/* Every address of a name is tried in turn: with the server on 127.0.0.1
 * only, "localhost" (often ::1 first) still reaches it, and the address
 * that answered is reported. */
START_TEST(test_addresses_in_turn)
{
    struct scriptserver *s = serve(4, fin_script);
    mailssl_probe *p = new_probe("imaps", "localhost", ss_port(s));

    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ss_quiesce(s, 1);
    assert_diag(p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE,
                MAILSSL_SEVERITY_CRITICAL, MAILSSL_STAGE_CONNECT, NULL);
    ck_assert_str_eq(mailssl_probe_address(p), "127.0.0.1");
    mailssl_probe_free(p);
    ss_stop(s);
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
    assert_diag(p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE,
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

/* ---- batch -------------------------------------------------------------- */

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

/* ---- the nine services, blocking and non-blocking ----------------------- */

#define SMTP_CAPS_PRE "250-mx.example.com\r\n250-PIPELINING\r\n250-STARTTLS\r\n" \
                      "250 8BITMIME\r\n"
#define SMTP_CAPS_POST "250-mx.example.com\r\n250-PIPELINING\r\n" \
                       "250 AUTH PLAIN LOGIN\r\n"

/* scriptserver.c's (SMTP_CAPS_PRE/POST are its capabilities) */
#define smtp_script ss_smtp_script

static const struct ss_step lmtp_script[] = {
    {SS_SEND, "220 mx.example.com LMTP\r\n", 0, 0},
    {SS_EXPECT, "LHLO ", 0, 0},
    {SS_SEND, SMTP_CAPS_PRE, 0, 0},
    {SS_EXPECT, "STARTTLS", 0, 0},
    {SS_SEND, "220 2.0.0 Ready to start TLS\r\n", 0, 0},
    {SS_TLS, 0, 0, 0},
    {SS_EXPECT, "LHLO ", 0, 0},
    {SS_SEND, SMTP_CAPS_POST, 0, 0},
    {SS_EXPECT, "QUIT", 0, 0},
    {SS_SEND, "221 2.0.0 Bye\r\n", 0, 0},
    {SS_END, 0, 0, 0}};

static const struct ss_step smtps_script[] = {
    {SS_TLS, 0, 0, 0},
    {SS_SEND, "220 mx.example.com ESMTP\r\n", 0, 0},
    {SS_EXPECT, "EHLO ", 0, 0},
    {SS_SEND, SMTP_CAPS_POST, 0, 0},
    {SS_EXPECT, "QUIT", 0, 0},
    {SS_SEND, "221 2.0.0 Bye\r\n", 0, 0},
    {SS_END, 0, 0, 0}};

#define IMAP_CAPS_POST "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$TAG OK done\r\n"

static const struct ss_step imap_script[] = {
    {SS_SEND, "* OK IMAP4rev1 ready\r\n", 0, 0},
    {SS_EXPECT, "A1 CAPABILITY", 0, 0},
    {SS_SEND, "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
              "$TAG OK done\r\n", 0, 0},
    {SS_EXPECT, "A2 STARTTLS", 0, 0},
    {SS_SEND, "$TAG OK Begin TLS negotiation now\r\n", 0, 0},
    {SS_TLS, 0, 0, 0},
    {SS_EXPECT, "A3 CAPABILITY", 0, 0},
    {SS_SEND, IMAP_CAPS_POST, 0, 0},
    {SS_EXPECT, "A4 LOGOUT", 0, 0},
    {SS_SEND, "* BYE\r\n$TAG OK\r\n", 0, 0},
    {SS_END, 0, 0, 0}};

static const struct ss_step imaps_script[] = {
    {SS_TLS, 0, 0, 0},
    {SS_SEND, "* OK IMAP4rev1 ready\r\n", 0, 0},
    {SS_EXPECT, "A1 CAPABILITY", 0, 0},
    {SS_SEND, IMAP_CAPS_POST, 0, 0},
    {SS_EXPECT, "A2 LOGOUT", 0, 0},
    {SS_SEND, "* BYE\r\n$TAG OK\r\n", 0, 0},
    {SS_END, 0, 0, 0}};

#define POP3_CAPS_POST "+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n"

static const struct ss_step pop3_script[] = {
    {SS_SEND, "+OK POP3 ready\r\n", 0, 0},
    {SS_EXPECT, "CAPA", 0, 0},
    {SS_SEND, "+OK\r\nSTLS\r\nTOP\r\n.\r\n", 0, 0},
    {SS_EXPECT, "STLS", 0, 0},
    {SS_SEND, "+OK Begin TLS\r\n", 0, 0},
    {SS_TLS, 0, 0, 0},
    {SS_EXPECT, "CAPA", 0, 0},
    {SS_SEND, POP3_CAPS_POST, 0, 0},
    {SS_EXPECT, "QUIT", 0, 0},
    {SS_SEND, "+OK bye\r\n", 0, 0},
    {SS_END, 0, 0, 0}};

static const struct ss_step pop3s_script[] = {
    {SS_TLS, 0, 0, 0},
    {SS_SEND, "+OK POP3 ready\r\n", 0, 0},
    {SS_EXPECT, "CAPA", 0, 0},
    {SS_SEND, POP3_CAPS_POST, 0, 0},
    {SS_EXPECT, "QUIT", 0, 0},
    {SS_SEND, "+OK bye\r\n", 0, 0},
    {SS_END, 0, 0, 0}};

static const struct ss_step sieve_script[] = {
    {SS_SEND, "\"IMPLEMENTATION\" \"test\"\r\n\"SIEVE\" \"fileinto\"\r\n"
              "\"STARTTLS\"\r\nOK \"ready\"\r\n", 0, 0},
    {SS_EXPECT, "STARTTLS", 0, 0},
    {SS_SEND, "OK \"begin TLS\"\r\n", 0, 0},
    {SS_TLS, 0, 0, 0},
    {SS_SEND, "\"IMPLEMENTATION\" \"test\"\r\n\"SIEVE\" \"fileinto\"\r\n"
              "\"SASL\" \"PLAIN\"\r\nOK \"ready\"\r\n", 0, 0},
    {SS_EXPECT, "LOGOUT", 0, 0},
    {SS_SEND, "OK \"bye\"\r\n", 0, 0},
    {SS_END, 0, 0, 0}};

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

/* ---- diagnoses of the dialogue stages ------------------------------------ */

/* Probes service on script with the default settings of new_probe and
 * checks the diagnosis; returns the probe and leaves the server in *sp
 * (stopped by the caller) when sp is not NULL. */
static mailssl_probe *diag_case(const char *service,
                                const struct ss_step *script, int code,
                                int stage, const char *in_message,
                                struct scriptserver **sp)
{
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe(service, "127.0.0.1", ss_port(s));

    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ss_quiesce(s, 1);
    assert_diag(p, code, MAILSSL_SEVERITY_CRITICAL, stage, in_message);
    if (sp)
        *sp = s;
    else
        ss_stop(s);
    return p;
}

START_TEST(test_greeting_timeout)
{
    /* a silent server: greeting-timeout within the deadline + 10% */
    static const struct ss_step script[] = {{SS_SLEEP, 0, 0, 20000},
                                            {SS_END, 0, 0, 0}};
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe("imap", "127.0.0.1", ss_port(s));
    int64_t t0, el;

    ck_assert_int_eq(mailssl_probe_set_timeout_ms(p, 1500), MAILSSL_OK);
    t0 = mono_ms();
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    el = mono_ms() - t0;
    assert_diag(p, MAILSSL_CODE_GREETING_TIMEOUT, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_CONNECT, "no greeting");
    ck_assert_int_ge(el, 1490);
    ck_assert_int_le(el, 1650); /* deadline + 10% */
    ck_assert_str_eq(ss_plain(s, NULL), "");
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

START_TEST(test_slow_greeting)
{
    /* one byte every 100 ms cannot hold the probe past its deadline */
    static const struct ss_step script[] = {
        {SS_TRICKLE, "220 mx.example.com ESMTP a very slow server\r\n", 0,
         100},
        {SS_END, 0, 0, 0}};
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe("smtp", "127.0.0.1", ss_port(s));
    int64_t t0, el;

    ck_assert_int_eq(mailssl_probe_set_timeout_ms(p, 1500), MAILSSL_OK);
    t0 = mono_ms();
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    el = mono_ms() - t0;
    assert_diag(p, MAILSSL_CODE_GREETING_TIMEOUT, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_CONNECT, "probe's deadline");
    ck_assert_int_le(el, 1650);
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

START_TEST(test_greeting_rejected)
{
    static const struct ss_step script[] = {
        {SS_SEND, "554 5.3.2 mx.example.com no service for you\r\n", 0, 0},
        {SS_DRAIN, 0, 0, 0},
        {SS_END, 0, 0, 0}};
    mailssl_probe *p = diag_case("smtp", script,
                                 MAILSSL_CODE_GREETING_REJECTED,
                                 MAILSSL_STAGE_CONNECT, "no service for you",
                                 NULL);

    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_greeting_closed)
{
    static const struct ss_step script[] = {{SS_CLOSE, 0, 0, 0},
                                            {SS_END, 0, 0, 0}};
    mailssl_probe *p = diag_case("pop3", script,
                                 MAILSSL_CODE_GREETING_REJECTED,
                                 MAILSSL_STAGE_CONNECT,
                                 "closed the connection before sending a "
                                 "greeting",
                                 NULL);

    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_greeting_malformed)
{
    static const struct ss_step script[] = {
        {SS_SEND, "HELLO THERE\r\n", 0, 0},
        {SS_DRAIN, 0, 0, 0},
        {SS_END, 0, 0, 0}};
    mailssl_probe *p = diag_case("imap", script,
                                 MAILSSL_CODE_GREETING_MALFORMED,
                                 MAILSSL_STAGE_CONNECT, "HELLO THERE", NULL);

    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_starttls_timeout)
{
    static const struct ss_step script[] = {
        {SS_SEND, "220 mx.example.com ESMTP\r\n", 0, 0},
        {SS_EXPECT, "EHLO ", 0, 0},
        {SS_SLEEP, 0, 0, 20000},
        {SS_END, 0, 0, 0}};
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe("smtp", "127.0.0.1", ss_port(s));

    ck_assert_int_eq(
        mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_STARTTLS, 1000),
        MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    assert_diag(p, MAILSSL_CODE_STARTTLS_TIMEOUT, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_GREETING, "stage deadline");
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_GREETING), 0);
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_STARTTLS),
                     1000000);
    ck_assert_int_le(mailssl_probe_timing_us(p, MAILSSL_STAGE_STARTTLS),
                     1100000);
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

START_TEST(test_starttls_not_offered)
{
    static const struct ss_step script[] = {
        {SS_SEND, "220 mx.example.com ESMTP\r\n", 0, 0},
        {SS_EXPECT, "EHLO ", 0, 0},
        {SS_SEND, "250-mx.example.com\r\n250 8BITMIME\r\n", 0, 0},
        {SS_EXPECT, "QUIT", 0, 0},
        {SS_SEND, "221 bye\r\n", 0, 0},
        {SS_END, 0, 0, 0}};
    struct scriptserver *s;
    mailssl_probe *p = diag_case("submission", script,
                                 MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                                 MAILSSL_STAGE_GREETING, "STARTTLS", &s);

    /* capabilities seen before TLS are never reported */
    ck_assert_uint_eq(mailssl_probe_capability_count(p), 0);
    ck_assert_int_eq(ss_mismatches(s), 0);
    ck_assert_str_eq(ss_plain(s, NULL), "EHLO " CLIENT "\r\nQUIT\r\n");
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

START_TEST(test_starttls_refused)
{
    static const struct ss_step script[] = {
        {SS_SEND, "220 mx.example.com ESMTP\r\n", 0, 0},
        {SS_EXPECT, "EHLO ", 0, 0},
        {SS_SEND, SMTP_CAPS_PRE, 0, 0},
        {SS_EXPECT, "STARTTLS", 0, 0},
        {SS_SEND, "454 4.7.0 TLS not available due to local problem\r\n", 0,
         0},
        {SS_DRAIN, 0, 0, 0},
        {SS_END, 0, 0, 0}};
    mailssl_probe *p = diag_case("smtp", script,
                                 MAILSSL_CODE_STARTTLS_REFUSED,
                                 MAILSSL_STAGE_GREETING,
                                 "454 4.7.0 TLS not available due to local "
                                 "problem",
                                 NULL);

    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_starttls_preauth)
{
    static const struct ss_step script[] = {
        {SS_SEND, "* PREAUTH IMAP4rev1 logged in as mail\r\n", 0, 0},
        {SS_DRAIN, 0, 0, 0},
        {SS_END, 0, 0, 0}};
    mailssl_probe *p = diag_case("imap", script,
                                 MAILSSL_CODE_STARTTLS_PREAUTH,
                                 MAILSSL_STAGE_GREETING, "PREAUTH", NULL);

    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_starttls_injection)
{
    /* the go-ahead and an injected reply arrive in one segment */
    static const struct ss_step script[] = {
        {SS_SEND, "220 mx.example.com ESMTP\r\n", 0, 0},
        {SS_EXPECT, "EHLO ", 0, 0},
        {SS_SEND, SMTP_CAPS_PRE, 0, 0},
        {SS_EXPECT, "STARTTLS", 0, 0},
        {SS_SEND, "220 2.0.0 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n",
         0, 0},
        {SS_DRAIN, 0, 0, 0},
        {SS_END, 0, 0, 0}};
    struct scriptserver *s;
    mailssl_probe *p = diag_case("smtp", script,
                                 MAILSSL_CODE_STARTTLS_INJECTION,
                                 MAILSSL_STAGE_GREETING,
                                 "after the STARTTLS go-ahead", &s);

    /* nothing after STARTTLS: no QUIT, no ClientHello */
    ck_assert_str_eq(ss_plain(s, NULL), "EHLO " CLIENT "\r\nSTARTTLS\r\n");
    ck_assert_str_eq(ss_tls(s, NULL), "");
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

START_TEST(test_starttls_injection_late)
{
    /* the injected bytes follow in a separate segment */
    static const struct ss_step script[] = {
        {SS_SEND, "+OK ready\r\n", 0, 0},
        {SS_EXPECT, "CAPA", 0, 0},
        {SS_SEND, "+OK\r\nSTLS\r\n.\r\n", 0, 0},
        {SS_EXPECT, "STLS", 0, 0},
        {SS_SEND, "+OK go\r\n", 0, 0},
        {SS_SLEEP, 0, 0, 0},
        {SS_SEND, "+OK injected\r\n", 0, 0},
        {SS_DRAIN, 0, 0, 0},
        {SS_END, 0, 0, 0}};
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe("pop3", "127.0.0.1", ss_port(s));

    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ss_quiesce(s, 1);
    /* caught before the handshake, or in place of the ServerHello: in
     * both cases the injected text never reaches the dialogue */
    assert_diag(p, MAILSSL_CODE_STARTTLS_INJECTION, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_GREETING, "STARTTLS go-ahead");
    /* in plaintext: the two commands, then at most a ClientHello */
    {
        size_t n;
        const char *sent = ss_plain(s, &n);

        ck_assert_int_eq(strncmp(sent, "CAPA\r\nSTLS\r\n", 12), 0);
        ck_assert(n == 12 || sent[12] == 0x16);
    }
    ck_assert_uint_eq(mailssl_probe_capability_count(p), 0);
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

START_TEST(test_protocol_error_wrong_tag)
{
    static const struct ss_step script[] = {
        {SS_SEND, "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n", 0, 0},
        {SS_EXPECT, "A1 STARTTLS", 0, 0},
        {SS_SEND, "B7 OK Begin TLS\r\n", 0, 0},
        {SS_DRAIN, 0, 0, 0},
        {SS_END, 0, 0, 0}};
    mailssl_probe *p = diag_case("imap", script, MAILSSL_CODE_PROTOCOL_ERROR,
                                 MAILSSL_STAGE_GREETING, NULL, NULL);

    mailssl_probe_free(p);
}
END_TEST

static char long_line[8200 + 3];

START_TEST(test_protocol_error_long_line)
{
    static struct ss_step script[] = {{SS_SEND, long_line, 0, 0},
                                      {SS_DRAIN, 0, 0, 0},
                                      {SS_END, 0, 0, 0}};
    mailssl_probe *p;

    memset(long_line, 'x', sizeof long_line);
    memcpy(long_line, "220 ", 4);
    memcpy(long_line + sizeof long_line - 3, "\r\n", 3);
    p = diag_case("smtp", script, MAILSSL_CODE_PROTOCOL_ERROR,
                  MAILSSL_STAGE_CONNECT, "longer than 8192 bytes", NULL);
    mailssl_probe_free(p);
}
END_TEST

static char many_lines[1100 * 8 + 32];

START_TEST(test_protocol_error_many_lines)
{
    static struct ss_step script[] = {
        {SS_SEND, "220 mx.example.com ESMTP\r\n", 0, 0},
        {SS_EXPECT, "EHLO ", 0, 0},
        {SS_SEND, many_lines, 0, 0},
        {SS_DRAIN, 0, 0, 0},
        {SS_END, 0, 0, 0}};
    mailssl_probe *p;
    size_t i;

    many_lines[0] = '\0';
    for (i = 0; i < 1100; i++)
        strcat(many_lines, "250-X\r\n");
    strcat(many_lines, "250 END\r\n");
    p = diag_case("smtp", script, MAILSSL_CODE_PROTOCOL_ERROR,
                  MAILSSL_STAGE_GREETING, "more than 1000 lines", NULL);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_post_tls_failed)
{
    /* handshake fine, then the service closes without a greeting */
    static const struct ss_step script[] = {{SS_TLS, 0, 0, 0},
                                            {SS_CLOSE, 0, 0, 0},
                                            {SS_END, 0, 0, 0}};
    mailssl_probe *p = diag_case("imaps", script,
                                 MAILSSL_CODE_POST_TLS_FAILED,
                                 MAILSSL_STAGE_VERIFY,
                                 "after the TLS handshake the server", NULL);

    ck_assert_str_eq(mailssl_probe_cert_subject(p), "CN=mail.example.com");
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_post_tls_timeout)
{
    static const struct ss_step script[] = {{SS_TLS, 0, 0, 0},
                                            {SS_SLEEP, 0, 0, 20000},
                                            {SS_END, 0, 0, 0}};
    struct scriptserver *s = serve(4, script);
    mailssl_probe *p = new_probe("pop3s", "127.0.0.1", ss_port(s));

    ck_assert_int_eq(
        mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_POST_TLS, 300),
        MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    assert_diag(p, MAILSSL_CODE_POST_TLS_FAILED, MAILSSL_SEVERITY_CRITICAL,
                MAILSSL_STAGE_VERIFY, "stalled after TLS");
    mailssl_probe_free(p);
    ss_stop(s);
}
END_TEST

/* A client certificate is presented when the server asks for one. */
START_TEST(test_client_certificate)
{
    static const char *const dns[] = {"client.example.com", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert client;
    const struct certgen_cert *one[1];
    mailssl_credential *cred = mailssl_credential_new();
    struct ss_config c;
    struct scriptserver *s;
    mailssl_probe *p;
    char path[600];

    o.cn = "client.example.com";
    o.dns = dns;
    o.eku = CERTGEN_EKU_CLIENT;
    ck_assert_int_eq(certgen_make(&client, &o, &ca), 0);
    snprintf(path, sizeof path, "%s/client.pem", dir);
    one[0] = &client;
    ck_assert_int_eq(certgen_write_pem(path, one, 1, &client), 0);
    ck_assert_int_eq(mailssl_credential_load_pem_files(cred, path, NULL, NULL),
                     MAILSSL_OK);
    memset(&c, 0, sizeof c);
    c.family = 4;
    c.script = imaps_script;
    c.chain = chain;
    c.nchain = 2;
    c.key = leaf.key;
    c.request_client_cert = 1;
    s = ss_start(&c);
    ck_assert_ptr_nonnull(s);
    p = new_probe("imaps", "127.0.0.1", ss_port(s));
    ck_assert_int_eq(mailssl_probe_set_client_credential(p, cred), MAILSSL_OK);
    mailssl_credential_free(cred); /* the probe holds its own reference */
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ss_quiesce(s, 1);
    assert_diag(p, MAILSSL_CODE_OK, MAILSSL_SEVERITY_OK, MAILSSL_STAGE_DONE,
                NULL);
    ck_assert_int_eq(ss_client_certs(s), 1);
    mailssl_probe_free(p);
    ss_stop(s);
    certgen_free(&client);
}
END_TEST

/* ---- certificate diagnoses ----------------------------------------------- */

/* imaps with the full dialogue, probe settings changed by set(p). */
static mailssl_probe *cert_case(void (*set)(mailssl_probe *), int code,
                                int status, int stage, const char *in_message)
{
    struct scriptserver *s = serve(4, imaps_script);
    mailssl_probe *p = new_probe("imaps", "127.0.0.1", ss_port(s));

    if (set)
        set(p);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ss_quiesce(s, 1);
    ss_stop(s);
    assert_diag(p, code, status, stage, in_message);
    /* the certificate is reported even when verification failed */
    ck_assert_str_eq(mailssl_probe_cert_subject(p), "CN=mail.example.com");
    ck_assert_str_eq(mailssl_probe_cert_issuer(p), "CN=Test CA");
    ck_assert_uint_eq(mailssl_probe_cert_name_count(p), 4);
    ck_assert_int_eq(mailssl_probe_cert_not_before(p), LEAF_FROM);
    ck_assert_ptr_nonnull(mailssl_probe_tls_version(p));
    ck_assert_int_ge(mailssl_report_find(mailssl_probe_findings(p), code, 0),
                     0);
    return p;
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
    ck_assert_int_eq(mailssl_probe_set_time(p, LEAF_UNTIL + 14 * 86400),
                     MAILSSL_OK);
}

static void before_validity(mailssl_probe *p)
{
    ck_assert_int_eq(mailssl_probe_set_time(p, LEAF_FROM - 30 * 86400),
                     MAILSSL_OK);
}

static void ten_days_left(mailssl_probe *p)
{
    ck_assert_int_eq(mailssl_probe_set_time(p, LEAF_UNTIL - 10 * 86400 - 60),
                     MAILSSL_OK);
}

static void three_days_left(mailssl_probe *p)
{
    ck_assert_int_eq(mailssl_probe_set_time(p, LEAF_UNTIL - 3 * 86400 - 60),
                     MAILSSL_OK);
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

START_TEST(test_cert_dane_unusable)
{
    struct scriptserver *s = serve(4, imaps_script);
    mailssl_probe *p = new_probe("imaps", "127.0.0.1", ss_port(s));
    const mailssl_report *r;
    int i;

    unusable_tlsa(p);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ss_quiesce(s, 1);
    ss_stop(s);
    r = mailssl_probe_findings(p);
    i = mailssl_report_find(r, MAILSSL_CODE_DANE_UNUSABLE, 0);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(mailssl_report_severity(r, (size_t)i),
                     MAILSSL_SEVERITY_WARNING);
    ck_assert_int_eq(mailssl_probe_diagnosis(p), MAILSSL_CODE_OK);
    ck_assert_int_eq(mailssl_probe_status(p), MAILSSL_SEVERITY_WARNING);
    ck_assert_int_eq(mailssl_probe_stage(p), MAILSSL_STAGE_DONE);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_cert_untrusted)
{
    mailssl_probe *p = cert_case(no_cafile, MAILSSL_CODE_CERT_UNTRUSTED,
                                 MAILSSL_SEVERITY_CRITICAL,
                                 MAILSSL_STAGE_HANDSHAKE, NULL);
    char *js = mailssl_probe_json(p);

    /* nothing was said to an untrusted server */
    ck_assert_uint_eq(mailssl_probe_capability_count(p), 0);
    ck_assert_ptr_nonnull(strstr(js, "\"certificate\":{\"subject\":"));
    ck_assert_ptr_nonnull(strstr(js, "\"code\":\"cert-untrusted\""));
    mailssl_free(js);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_cert_name_mismatch)
{
    mailssl_probe *p = cert_case(wrong_name, MAILSSL_CODE_CERT_NAME_MISMATCH,
                                 MAILSSL_SEVERITY_CRITICAL,
                                 MAILSSL_STAGE_HANDSHAKE, NULL);

    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_cert_expired)
{
    mailssl_probe *p = cert_case(after_expiry, MAILSSL_CODE_CERT_EXPIRED,
                                 MAILSSL_SEVERITY_CRITICAL,
                                 MAILSSL_STAGE_HANDSHAKE, NULL);

    /* expiry can still be alerted on: days_left is negative */
    ck_assert_int_eq(mailssl_probe_cert_days_left(p), -14);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_cert_not_yet_valid)
{
    mailssl_probe *p = cert_case(before_validity,
                                 MAILSSL_CODE_CERT_NOT_YET_VALID,
                                 MAILSSL_SEVERITY_CRITICAL,
                                 MAILSSL_STAGE_HANDSHAKE, NULL);

    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_cert_expiring_warning)
{
    mailssl_probe *p = cert_case(ten_days_left, MAILSSL_CODE_CERT_EXPIRING,
                                 MAILSSL_SEVERITY_WARNING,
                                 MAILSSL_STAGE_DONE, NULL);

    /* a warning does not stop the probe: the service was still checked */
    ck_assert_int_eq(mailssl_probe_cert_days_left(p), 10);
    ck_assert_uint_eq(mailssl_probe_capability_count(p), 2);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_cert_expiring_critical)
{
    mailssl_probe *p = cert_case(three_days_left, MAILSSL_CODE_CERT_EXPIRING,
                                 MAILSSL_SEVERITY_CRITICAL,
                                 MAILSSL_STAGE_HANDSHAKE, NULL);

    ck_assert_int_eq(mailssl_probe_cert_days_left(p), 3);
    mailssl_probe_free(p);
}
END_TEST

START_TEST(test_dane_mismatch)
{
    mailssl_probe *p = cert_case(bad_tlsa, MAILSSL_CODE_DANE_MISMATCH,
                                 MAILSSL_SEVERITY_CRITICAL,
                                 MAILSSL_STAGE_HANDSHAKE, NULL);

    mailssl_probe_free(p);
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
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tls, setup, teardown);
    tcase_add_test(tls, test_closed_fin);
    tcase_add_test(tls, test_closed_rst);
    tcase_add_test(tls, test_closed_before_hello);
    tcase_add_test(tls, test_alert);
    tcase_add_test(tls, test_alert_handshake_failure);
    tcase_add_test(tls, test_tls10_only);
    tcase_add_test(tls, test_no_common_cipher);
    tcase_add_test(tls, test_garbage);
    suite_add_tcase(s, tls);

    tcase_add_checked_fixture(net, setup, teardown);
    tcase_add_test(net, test_tls_timeout);
    tcase_add_test(net, test_stage_timeout);
    tcase_add_test(net, test_connect_timeout);
    tcase_add_test(net, test_connect_refused);
    tcase_add_test(net, test_resolve_failed);
    tcase_add_test(net, test_family);
    tcase_add_test(net, test_ipv6);
    tcase_add_test(net, test_connect_to);
    tcase_add_test(net, test_addresses_in_turn);
    suite_add_tcase(s, net);

    tcase_add_checked_fixture(svc, setup, teardown);
    tcase_add_loop_test(svc, test_service_blocking, 0,
                        (int)(sizeof cases / sizeof cases[0]));
    tcase_add_loop_test(svc, test_service_nonblocking, 0,
                        (int)(sizeof cases / sizeof cases[0]));
    suite_add_tcase(s, svc);

    tcase_add_checked_fixture(dlg, setup, teardown);
    tcase_add_test(dlg, test_greeting_timeout);
    tcase_add_test(dlg, test_slow_greeting);
    tcase_add_test(dlg, test_greeting_rejected);
    tcase_add_test(dlg, test_greeting_closed);
    tcase_add_test(dlg, test_greeting_malformed);
    tcase_add_test(dlg, test_starttls_timeout);
    tcase_add_test(dlg, test_starttls_not_offered);
    tcase_add_test(dlg, test_starttls_refused);
    tcase_add_test(dlg, test_starttls_preauth);
    tcase_add_test(dlg, test_starttls_injection);
    tcase_add_test(dlg, test_starttls_injection_late);
    tcase_add_test(dlg, test_protocol_error_wrong_tag);
    tcase_add_test(dlg, test_protocol_error_long_line);
    tcase_add_test(dlg, test_protocol_error_many_lines);
    tcase_add_test(dlg, test_post_tls_failed);
    tcase_add_test(dlg, test_post_tls_timeout);
    suite_add_tcase(s, dlg);

    tcase_add_checked_fixture(cert, setup, teardown);
    tcase_add_test(cert, test_cert_untrusted);
    tcase_add_test(cert, test_cert_dane_unusable);
    tcase_add_test(cert, test_cert_name_mismatch);
    tcase_add_test(cert, test_cert_expired);
    tcase_add_test(cert, test_cert_not_yet_valid);
    tcase_add_test(cert, test_cert_expiring_warning);
    tcase_add_test(cert, test_cert_expiring_critical);
    tcase_add_test(cert, test_dane_mismatch);
    tcase_add_test(cert, test_client_certificate);
    suite_add_tcase(s, cert);

    tcase_add_checked_fixture(api, setup, teardown);
    tcase_add_test(api, test_misuse);
    tcase_add_test(api, test_json_failure);
    tcase_add_test(api, test_json_bad_url);
    tcase_add_test(api, test_nonblocking_external_loop);
    tcase_add_test(api, test_batch);
    suite_add_tcase(s, api);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
