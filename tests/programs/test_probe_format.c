/* Unit tests of examples/probe_format.c: the command line and the four
 * output formats of mailssl-probe, fed with made-up results. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check_run.h"
#include "probe_format.h"

/* ---- command line ----------------------------------------------------- */

static int parse(struct probe_options *o, char *err, size_t n, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    char *a;

    argv[argc++] = "mailssl-probe";
    va_start(ap, n);
    while ((a = va_arg(ap, char *)) != NULL)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return pf_parse_args(argc, argv, o, err, n);
}

START_TEST(defaults)
{
    struct probe_options o;
    char err[256];

    ck_assert_int_eq(parse(&o, err, sizeof(err), "imaps://a.example", NULL),
                     0);
    ck_assert_ptr_null(o.cafile);
    ck_assert_ptr_null(o.servername);
    ck_assert_ptr_null(o.connect_to);
    ck_assert_int_eq(o.timeout_ms, 10000);
    ck_assert_int_eq(o.warn_days, 30);
    ck_assert_int_eq(o.crit_days, 7);
    ck_assert_int_eq(o.format, PF_FORMAT_TEXT);
    ck_assert_int_eq(o.concurrency, PF_DEFAULT_CONCURRENCY);
    ck_assert_int_eq(o.help, 0);
    ck_assert_uint_eq(o.nurls, 1);
    ck_assert_str_eq(o.urls[0], "imaps://a.example");
    free(o.urls);
}
END_TEST

START_TEST(every_option_both_forms)
{
    struct probe_options o;
    char err[256];

    ck_assert_int_eq(parse(&o, err, sizeof(err), "smtp://a", "--cafile",
                           "/ca.pem", "--servername=mx.example",
                           "--connect-to", "192.0.2.1", "--timeout=2.5",
                           "--warn", "21", "--crit=3", "--format", "nagios",
                           "pop3://b", "--concurrency=4", "--", "-odd://c",
                           NULL),
                     0);
    ck_assert_str_eq(o.cafile, "/ca.pem");
    ck_assert_str_eq(o.servername, "mx.example");
    ck_assert_str_eq(o.connect_to, "192.0.2.1");
    ck_assert_int_eq(o.timeout_ms, 2500);
    ck_assert_int_eq(o.warn_days, 21);
    ck_assert_int_eq(o.crit_days, 3);
    ck_assert_int_eq(o.format, PF_FORMAT_NAGIOS);
    ck_assert_int_eq(o.concurrency, 4);
    ck_assert_uint_eq(o.nurls, 3);
    ck_assert_str_eq(o.urls[0], "smtp://a");
    ck_assert_str_eq(o.urls[1], "pop3://b");
    ck_assert_str_eq(o.urls[2], "-odd://c");
    free(o.urls);

    ck_assert_int_eq(parse(&o, err, sizeof(err), "--format=json", "x://y",
                           NULL), 0);
    ck_assert_int_eq(o.format, PF_FORMAT_JSON);
    free(o.urls);
    ck_assert_int_eq(parse(&o, err, sizeof(err), "--format=prometheus",
                           "x://y", "--timeout", "0.0001", NULL), 0);
    ck_assert_int_eq(o.format, PF_FORMAT_PROMETHEUS);
    ck_assert_int_eq(o.timeout_ms, 1); /* rounded up, never 0 */
    free(o.urls);
}
END_TEST

START_TEST(help_and_version)
{
    struct probe_options o;
    char err[256];

    ck_assert_int_eq(parse(&o, err, sizeof(err), "--help", NULL), 0);
    ck_assert_int_eq(o.help, 1);
    free(o.urls);
    ck_assert_int_eq(parse(&o, err, sizeof(err), "--bogus=1", "-h", NULL),
                     -1);
    ck_assert_int_eq(parse(&o, err, sizeof(err), "-h", "--bogus", NULL), 0);
    ck_assert_int_eq(o.help, 1);
    free(o.urls);
    ck_assert_int_eq(parse(&o, err, sizeof(err), "--version", NULL), 0);
    ck_assert_int_eq(o.version, 1);
    free(o.urls);
}
END_TEST

static const struct {
    const char *args[4];
    const char *message;
} bad[] = {
    {{NULL}, "no URL given: mailssl-probe [OPTIONS] SERVICE://HOST[:PORT]... "
             "(see --help)"},
    {{"--bogus", "imap://a", NULL}, "unknown option '--bogus' (see --help)"},
    {{"-x", "imap://a", NULL}, "unknown option '-x' (see --help)"},
    {{"imap://a", "--cafile", NULL}, "--cafile needs a value"},
    {{"--help=yes", NULL}, "--help takes no value"},
    {{"--format", "xml", "imap://a", NULL},
     "--format: 'xml' is not one of text, json, nagios, prometheus"},
    {{"--warn", "ten", "imap://a", NULL},
     "--warn: 'ten' is not a whole number from 0 to 36500"},
    {{"--crit", "-1", "imap://a", NULL},
     "--crit: '-1' is not a whole number from 0 to 36500"},
    {{"--warn", "5", "imap://a", NULL},
     "--crit (7 days) must not exceed --warn (5 days)"},
    {{"--concurrency", "0", "imap://a", NULL},
     "--concurrency: '0' is not a whole number from 1 to 1024"},
    {{"--timeout", "0", "imap://a", NULL},
     "--timeout: '0' is not a number of seconds above 0 and at most 86400"},
    {{"--timeout", "nan", "imap://a", NULL},
     "--timeout: 'nan' is not a number of seconds above 0 and at most "
     "86400"},
    {{"--timeout=", "imap://a", NULL},
     "--timeout: '' is not a number of seconds above 0 and at most 86400"},
    {{"--servername=", "imap://a", NULL}, "--servername: empty name"},
    /* DANE from DNS (issue 13) */
    {{"--dane=yes", "smtp://a", NULL},
     "--dane: 'yes' is not one of required, opportunistic, off"},
    {{"--dane=", "smtp://a", NULL},
     "--dane: '' is not one of required, opportunistic, off"},
    {{"--dns-anchor=", "smtp://a", NULL}, "--dns-anchor: empty file name"},
    {{"smtp://a", "--dns-resolver", NULL}, "--dns-resolver needs a value"},
    {{"--mx=1", "smtp://a", NULL}, "--mx takes no value"},
};

/* --dane alone is required; its value only after '=' (a URL may follow) */
START_TEST(dane_options)
{
    static const struct {
        const char *arg;
        int mode;
    } rows[] = {{"--dane", PF_DANE_REQUIRED},
                {"--dane=required", PF_DANE_REQUIRED},
                {"--dane=opportunistic", PF_DANE_OPPORTUNISTIC},
                {"--dane=off", PF_DANE_OFF}};
    struct probe_options o;
    char err[256];
    size_t i;

    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ck_assert_int_eq(parse(&o, err, sizeof(err), rows[i].arg, "smtp://a",
                               "--dns-anchor", "/k", "--dns-resolver=::1@53",
                               "--mx", NULL),
                         0);
        ck_assert_int_eq(o.dane, rows[i].mode);
        ck_assert_uint_eq(o.nurls, 1);
        ck_assert_str_eq(o.dns_anchor, "/k");
        ck_assert_str_eq(o.dns_resolver, "::1@53");
        ck_assert_int_eq(o.mx, 1);
        free(o.urls);
    }
    ck_assert_int_eq(parse(&o, err, sizeof(err), "smtp://a", NULL), 0);
    ck_assert_int_eq(o.dane, PF_DANE_OFF);
    ck_assert_int_eq(o.mx, 0);
    free(o.urls);
}
END_TEST

START_TEST(bad_usage)
{
    struct probe_options o;
    char err[256];
    char *argv[8];
    int argc = 0;

    argv[argc++] = "mailssl-probe";
    for (; argc < 5 && bad[_i].args[argc - 1]; argc++)
        argv[argc] = (char *)bad[_i].args[argc - 1];
    argv[argc] = NULL;
    ck_assert_int_eq(pf_parse_args(argc, argv, &o, err, sizeof(err)), -1);
    ck_assert_str_eq(err, bad[_i].message);
    ck_assert_ptr_null(o.urls);
}
END_TEST

START_TEST(format_survives_a_later_error)
{
    struct probe_options o;
    char err[256];

    ck_assert_int_eq(parse(&o, err, sizeof(err), "--format", "nagios",
                           "--warn", "x", "imap://a", NULL), -1);
    ck_assert_int_eq(o.format, PF_FORMAT_NAGIOS);
    ck_assert_str_eq(err, "--warn: 'x' is not a whole number from 0 to "
                          "36500");
}
END_TEST

/* ---- results ---------------------------------------------------------- */

/* The output of one formatter as a string (free it). */
static char *render(int format, const struct probe_view *v, size_t n,
                    int warn, int crit)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(f);
    if (format == PF_FORMAT_NAGIOS)
        pf_write_nagios(f, v, n, warn, crit);
    else if (format == PF_FORMAT_PROMETHEUS)
        pf_write_prometheus(f, v, n);
    else if (format == PF_FORMAT_TEXT)
        pf_write_text(f, v, n);
    else
        pf_write_usage(f, "mailssl-probe");
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

/* 2026-01-01T00:00:00Z and 2026-12-31T00:00:00Z */
#define T_2026_01_01 INT64_C(1767225600)
#define T_2026_12_31 INT64_C(1798675200)

static const struct pf_finding expiring[] = {
    {"cert-expiring", "warning", "expires in 12 days"},
};

static const struct pf_finding same_as_message[] = {
    {"tls-closed-during-handshake", "critical", "bad\033[31m peer\ttext"},
};

static void ok_view(struct probe_view *v)
{
    int i;

    memset(v, 0, sizeof(*v));
    v->url = "imaps://mail.example.com:993";
    v->service = "imaps";
    v->host = "mail.example.com";
    v->port = 993;
    v->address = "192.0.2.10";
    v->status = 0;
    v->diagnosis = "ok";
    v->message = "TLS1.3 handshake done; certificate valid";
    v->stage = "done";
    v->tls_version = "TLS1.3";
    v->has_cert = 1;
    v->not_before = T_2026_01_01;
    v->not_after = T_2026_12_31;
    v->days_left = 300;
    for (i = 0; i < PF_NTIMINGS; i++)
        v->timing_us[i] = 1000 * (i + 1);
    v->timing_us[2] = -1; /* no greeting for implicit TLS */
    v->timing_us[3] = -1;
    v->timing_us[PF_TIMING_TOTAL] = 5200;
}

static void closed_view(struct probe_view *v)
{
    int i;

    memset(v, 0, sizeof(*v));
    v->url = "pop3s://[2001:db8::1]:995";
    v->service = "pop3s";
    v->host = "2001:db8::1";
    v->port = 995;
    v->address = "2001:db8::1";
    v->status = 2;
    v->diagnosis = "tls-closed-during-handshake";
    v->message = "closed | no alert\nno certificate bound";
    v->stage = "connect";
    for (i = 0; i < PF_NTIMINGS; i++)
        v->timing_us[i] = -1;
    v->timing_us[0] = 0;
    v->timing_us[1] = 300;
    v->timing_us[4] = 1500;
    v->timing_us[PF_TIMING_TOTAL] = 12345678;
}

static void expiring_view(struct probe_view *v)
{
    ok_view(v);
    v->url = "smtp://mx.example.com";
    v->service = "smtp";
    v->status = 1;
    v->diagnosis = "cert-expiring";
    v->message = "certificate expires in 12 days";
    v->days_left = 12;
    v->findings = expiring;
    v->nfindings = 1;
}

START_TEST(worst_status_ranks_critical_over_unknown)
{
    struct probe_view v[3];

    ok_view(&v[0]);
    ok_view(&v[1]);
    ok_view(&v[2]);
    ck_assert_int_eq(pf_worst_status(v, 0), 0);
    ck_assert_int_eq(pf_worst_status(v, 3), 0);
    v[1].status = 1;
    ck_assert_int_eq(pf_worst_status(v, 3), 1);
    v[2].status = 3;
    ck_assert_int_eq(pf_worst_status(v, 3), 3);
    v[0].status = 2;
    ck_assert_int_eq(pf_worst_status(v, 3), 2);
    v[0].status = 42; /* out of range counts as unknown */
    ck_assert_int_eq(pf_worst_status(v, 1), 3);
}
END_TEST

START_TEST(nagios_one_target)
{
    struct probe_view v;
    char *buf;

    ok_view(&v);
    buf = render(PF_FORMAT_NAGIOS, &v, 1, 30, 7);
    ck_assert_str_eq(buf,
                     "MAILSSL-PROBE OK - imaps://mail.example.com:993 ok: "
                     "TLS1.3 handshake done; certificate valid | "
                     "'days_left'=300;30:;7:;; "
                     "'handshake_time'=0.005000s;;;0; "
                     "'time'=0.005200s;;;0;\n");
    free(buf);
}
END_TEST

START_TEST(nagios_many_targets_worst_first)
{
    struct probe_view v[3];
    char *buf;

    ok_view(&v[0]);
    expiring_view(&v[1]);
    closed_view(&v[2]);
    buf = render(PF_FORMAT_NAGIOS, v, 3, 21, 3);
    ck_assert_str_eq(
        buf,
        "MAILSSL-PROBE CRITICAL - 3 targets: 1 critical, 1 warning, 1 ok; "
        "pop3s://[2001:db8::1]:995 tls-closed-during-handshake: closed / no "
        "alert no certificate bound; smtp://mx.example.com cert-expiring: "
        "certificate expires in 12 days | "
        "'imaps://mail.example.com:993 days_left'=300;21:;3:;; "
        "'imaps://mail.example.com:993 handshake_time'=0.005000s;;;0; "
        "'imaps://mail.example.com:993 time'=0.005200s;;;0; "
        "'smtp://mx.example.com days_left'=12;21:;3:;; "
        "'smtp://mx.example.com handshake_time'=0.005000s;;;0; "
        "'smtp://mx.example.com time'=0.005200s;;;0; "
        "'pop3s://[2001:db8::1]:995 handshake_time'=0.001500s;;;0; "
        "'pop3s://[2001:db8::1]:995 time'=12.345678s;;;0;\n");
    free(buf);
}
END_TEST

START_TEST(nagios_labels_lose_quotes_and_equals)
{
    struct probe_view v[2];
    char *buf;

    ok_view(&v[0]);
    ok_view(&v[1]);
    v[1].url = "imap://it's=odd";
    v[1].has_cert = 0;
    v[1].timing_us[4] = -1;
    buf = render(PF_FORMAT_NAGIOS, v, 2, 30, 7);
    ck_assert_ptr_nonnull(strstr(buf, "2 targets: 2 ok | "));
    ck_assert_ptr_nonnull(strstr(buf, " 'imap://it_s_odd time'=0.005200s;"));
    ck_assert_ptr_null(strstr(buf, "it_s_odd days_left"));
    free(buf);
}
END_TEST

START_TEST(text_table)
{
    struct probe_view v[3];
    char *buf;

    ok_view(&v[0]);
    expiring_view(&v[1]);
    closed_view(&v[2]);
    v[2].message = "bad\033[31m peer\ttext";
    v[2].findings = same_as_message;
    v[2].nfindings = 1;
    buf = render(PF_FORMAT_TEXT, v, 3, 0, 0);
    ck_assert_str_eq(
        buf,
        "TARGET                        STATUS    DIAGNOSIS                    "
        "TLS     EXPIRES            TIME\n"
        "imaps://mail.example.com:993  ok        ok                           "
        "TLS1.3  2026-12-31 (300d)  5.2 ms\n"
        "smtp://mx.example.com         warning   cert-expiring                "
        "TLS1.3  2026-12-31 (12d)   5.2 ms\n"
        "pop3s://[2001:db8::1]:995     critical  tls-closed-during-handshake  "
        "-       -                  12.35 s\n"
        "\n"
        "smtp://mx.example.com: warning, cert-expiring (last stage "
        "completed: done) at 192.0.2.10\n"
        "  certificate expires in 12 days\n"
        "  - cert-expiring (warning): expires in 12 days\n"
        "\n"
        "pop3s://[2001:db8::1]:995: critical, tls-closed-during-handshake "
        "(last stage completed: connect) at 2001:db8::1\n"
        "  bad?[31m peer text\n");
    free(buf);
}
END_TEST

START_TEST(text_expired)
{
    struct probe_view v;
    char *buf;

    ok_view(&v);
    v.days_left = -2;
    v.status = 2;
    v.diagnosis = "cert-expired";
    buf = render(PF_FORMAT_TEXT, &v, 1, 0, 0);
    ck_assert_ptr_nonnull(strstr(buf, "  2026-12-31 (expired)  5.2 ms\n"));
    free(buf);
}
END_TEST

START_TEST(prometheus_one_target)
{
    struct probe_view v;
    char *buf;

    expiring_view(&v);
    v.url = "smtp://mx.example.com";
    buf = render(PF_FORMAT_PROMETHEUS, &v, 1, 0, 0);
#define L "{target=\"smtp://mx.example.com\",service=\"smtp\""
    ck_assert_ptr_nonnull(
        strstr(buf, "# TYPE mailssl_probe_success gauge\n"
                    "mailssl_probe_success" L "} 1\n"));
    ck_assert_ptr_nonnull(strstr(buf, "mailssl_probe_status" L "} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(buf, "mailssl_probe_diagnosis" L
                    ",code=\"cert-expiring\",stage=\"done\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        buf, "mailssl_probe_tls_version_info" L ",version=\"TLS1.3\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        buf, "mailssl_probe_findings" L ",severity=\"warning\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        buf, "mailssl_probe_findings" L ",severity=\"critical\"} 0\n"));
    ck_assert_ptr_nonnull(
        strstr(buf, "mailssl_cert_not_after_seconds" L "} 1798675200\n"));
    ck_assert_ptr_nonnull(
        strstr(buf, "mailssl_cert_not_before_seconds" L "} 1767225600\n"));
    ck_assert_ptr_nonnull(strstr(
        buf, "mailssl_probe_duration_seconds" L ",stage=\"resolve\"} "
             "0.001000\n"));
    ck_assert_ptr_nonnull(strstr(
        buf, "mailssl_probe_duration_seconds" L ",stage=\"post-tls\"} "
             "0.007000\n"));
    ck_assert_ptr_nonnull(strstr(
        buf, "mailssl_probe_duration_seconds" L ",stage=\"total\"} "
             "0.005200\n"));
    ck_assert_ptr_null(strstr(buf, "stage=\"greeting\""));
#undef L
    free(buf);
}
END_TEST

START_TEST(prometheus_escapes_and_deduplicates)
{
    struct probe_view v[3];
    char *buf;
    const char *p;
    int n = 0;

    closed_view(&v[0]);
    ok_view(&v[1]);
    v[1].url = "imap://a\"b\\c\nd";
    closed_view(&v[2]); /* same URL again */
    buf = render(PF_FORMAT_PROMETHEUS, v, 3, 0, 0);
    ck_assert_ptr_nonnull(
        strstr(buf, "mailssl_probe_success{target=\"imap://a\\\"b\\\\c\\nd\","
                    "service=\"imaps\"} 1\n"));
    for (p = buf; (p = strstr(p, "mailssl_probe_success{target=\"pop3s"));
         p++)
        n++;
    ck_assert_int_eq(n, 1);
    /* no certificate: no expiry series for it */
    ck_assert_ptr_null(strstr(buf, "not_after_seconds{target=\"pop3s"));
    free(buf);
}
END_TEST

START_TEST(usage_mentions_every_option)
{
    static const char *const opts[] = {
        "--cafile FILE", "--servername NAME", "--connect-to ADDRESS",
        "--timeout SECONDS", "--warn DAYS", "--crit DAYS",
        "--format FORMAT", "--concurrency N", "--help", "--version",
        "--dane[=MODE]", "--dns-anchor FILE", "--dns-resolver ADDR[@PORT]",
        "--mx", "Exit status"};
    size_t i;
    char *buf;

    buf = render(-1, NULL, 0, 0, 0);
    ck_assert_ptr_nonnull(strstr(buf, "Usage: mailssl-probe [OPTIONS] URL"));
    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        ck_assert_msg(strstr(buf, opts[i]) != NULL, "missing %s", opts[i]);
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("probe_format");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, defaults);
    tcase_add_test(tc, every_option_both_forms);
    tcase_add_test(tc, dane_options);
    tcase_add_test(tc, help_and_version);
    tcase_add_loop_test(tc, bad_usage, 0, sizeof(bad) / sizeof(bad[0]));
    tcase_add_test(tc, format_survives_a_later_error);
    tcase_add_test(tc, worst_status_ranks_critical_over_unknown);
    tcase_add_test(tc, nagios_one_target);
    tcase_add_test(tc, nagios_many_targets_worst_first);
    tcase_add_test(tc, nagios_labels_lose_quotes_and_equals);
    tcase_add_test(tc, text_table);
    tcase_add_test(tc, text_expired);
    tcase_add_test(tc, prometheus_one_target);
    tcase_add_test(tc, prometheus_escapes_and_deduplicates);
    tcase_add_test(tc, usage_mentions_every_option);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
