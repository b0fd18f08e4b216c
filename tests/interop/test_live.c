/*
 * test_live.c - the live audit (issue 12) against real Dovecot, Postfix
 * and Exim: each server runs a configuration of its own, the store holds
 * what the bindings say, and mailssl_live_* must report per listener
 * (and per SNI name bound on it) exactly the findings of the table row:
 * ok, no-binding-live (the 13002 case: Dovecot without a certificate for
 * one address), cert-drift (a certificate file replaced without a
 * reload), and the servers started from mailssl_store_export() output
 * (--export) all ok.
 *
 * Every server is private (tests/interop/mailservers.h): loopback
 * 127.0.0.1 / 127.0.0.2, ports above 10000 picked at run time,
 * certificates made at run time. Exim is Debian's exim4-daemon-light,
 * unpacked by .ci/run and named by MAILSSL_EXIM. Without the binaries
 * the suite exits 77 (skipped), unless MAILSSL_REQUIRE_INTEROP=1.
 */
#include <check.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mailssl.h"
#include "../certgen.h"
#include "../check_run.h"
#include "mailservers.h"

static struct ms_certs certs;
static char *certdir;

#define MAX_ROWS 16

/* ---- helpers ------------------------------------------------------------ */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, f);
    n = vasprintf(&s, f, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    return s;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out;
    char buf[4096];
    size_t n;

    ck_assert_msg(in != NULL, "cannot read %s", from);
    out = fopen(to, "wb");
    ck_assert_msg(out != NULL, "cannot write %s", to);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

static mailssl_store *store_of(const char *text)
{
    mailssl_store *s = mailssl_store_new();

    ck_assert_ptr_nonnull(s);
    ck_assert_msg(mailssl_store_load_string(s, text, strlen(text), "live.conf")
                      == MAILSSL_OK,
                  "%s\n%s", mailssl_store_error(s), text);
    return s;
}

/* Runs the live audit of store and returns its findings as rows
 * "LISTENER|WHO|CODE" (WHO: the message up to its first ':', "no server
 * name" or "server name NAME"). */
static size_t live_rows(mailssl_store *store, char rows[][200],
                        mailssl_report *r)
{
    mailssl_live *lv = mailssl_live_new(store);
    size_t i, n;

    ck_assert_ptr_nonnull(lv);
    for (i = 0; i < mailssl_live_count(lv); i++) {
        mailssl_probe *p = mailssl_live_probe(lv, i);
        ck_assert_int_eq(mailssl_probe_set_cafile(p, certs.ca), MAILSSL_OK);
        ck_assert_int_eq(mailssl_probe_set_timeout_ms(p, 5000), MAILSSL_OK);
    }
    ck_assert_int_eq(mailssl_live_run(lv, 16), MAILSSL_OK);
    ck_assert_int_ge(mailssl_live_report(lv, r), 0);
    mailssl_live_free(lv);
    n = mailssl_report_count(r);
    ck_assert_uint_le(n, MAX_ROWS);
    for (i = 0; i < n; i++) {
        const char *msg = mailssl_report_message(r, i);
        const char *colon = strchr(msg, ':');
        snprintf(rows[i], sizeof rows[i], "%s|%.*s|%s",
                 mailssl_report_context(r, i),
                 (int)(colon ? colon - msg : 0), msg,
                 mailssl_code_name(mailssl_report_code(r, i)));
    }
    return n;
}

/* The live audit of store_text must give exactly want (NULL-terminated);
 * on a mismatch every finding and the server's log are printed. */
static void expect_live(const char *store_text, char *const *want,
                        const char *label, const char *log, long log_at)
{
    mailssl_store *s = store_of(store_text);
    mailssl_report *r = mailssl_report_new();
    char rows[MAX_ROWS][200];
    size_t n, i, nwant = 0;
    int same;

    ck_assert_ptr_nonnull(r);
    n = live_rows(s, rows, r);
    while (want[nwant])
        nwant++;
    same = n == nwant;
    for (i = 0; same && i < n; i++)
        same = strcmp(rows[i], want[i]) == 0;
    if (!same) {
        fprintf(stderr, "[%s] expected:\n", label);
        for (i = 0; i < nwant; i++)
            fprintf(stderr, "  %s\n", want[i]);
        fprintf(stderr, "[%s] got:\n", label);
        for (i = 0; i < n; i++)
            fprintf(stderr, "  %s\n    %s\n", rows[i],
                    mailssl_report_message(r, i));
        ms_log_dump(label, log, log_at);
    }
    ck_assert_msg(same, "%s: the live audit differs (see above)", label);
    mailssl_report_free(r);
    mailssl_store_free(s);
}

/* "bind SERVICE ADDRESS * NAME cert=C key=K" */
static char *bind_line(const char *service, const char *address,
                       const char *name, const char *cert, const char *key)
{
    return fmt("bind %s %s * %s cert=%s key=%s\n", service, address, name,
               cert, key);
}

/* The bindings of text exported for format (a new string). */
static char *export_of(const char *text, const char *format)
{
    mailssl_store *s = store_of(text);
    char *out = mailssl_store_export(s, format);

    ck_assert_msg(out != NULL, "export: %s", mailssl_store_error(s));
    mailssl_store_free(s);
    return out;
}

/* Appends the rows of a listener where both probes, without SNI and with
 * MS_NAME_OTHER, see the bound certificate. */
static void want_both_ok(char **want, int *k, const char *service,
                         const char *address, int port)
{
    want[(*k)++] = fmt("%s %s %d|no server name|ok", service, address, port);
    want[(*k)++] = fmt("%s %s %d|server name " MS_NAME_OTHER "|ok", service,
                       address, port);
}

/* The bindings of the export tests: the default certificate, the addr2
 * one for (service, address), the other one for MS_NAME_OTHER. */
static void three_bindings(char **b, const char *service, const char *address)
{
    b[0] = bind_line("*", "*", "*", certs.main_cert, certs.main_key);
    b[1] = bind_line(service, address, "*", certs.addr2_cert,
                     certs.addr2_key);
    b[2] = bind_line("*", "*", MS_NAME_OTHER, certs.other_cert,
                     certs.other_key);
}

static void free_all(char **v)
{
    for (; *v; v++)
        free(*v);
}

/* ---- Dovecot -------------------------------------------------------------- */

/* One address has its certificate (local 127.0.0.1), the other none: the
 * login process drops the handshake there (Dovecot logs "The certificate
 * is empty"), the 13002 case. */
START_TEST(dovecot_one_address_without_certificate)
{
    struct ms_dovecot d;
    struct ms_endpoint eps[3];
    char err[2048], *conf, *store;
    char *want[4] = {NULL};
    int port[2];

    ck_assert_int_eq(ms_pick_ports(port, 2), 0);
    conf = fmt("protocols = imap\nssl = yes\n"
               "local 127.0.0.1 {\n  ssl_cert = <%s\n  ssl_key = <%s\n}\n"
               "service imap-login {\n"
               "  inet_listener imap {\n    port = 0\n  }\n"
               "  inet_listener imaps {\n    port = 0\n  }\n"
               "  inet_listener a1 {\n    address = 127.0.0.1\n"
               "    port = %d\n    ssl = yes\n  }\n"
               "  inet_listener a2 {\n    address = 127.0.0.2\n"
               "    port = %d\n    ssl = yes\n  }\n"
               "  inet_listener s1 {\n    address = 127.0.0.1\n"
               "    port = %d\n  }\n"
               "}\n",
               certs.main_cert, certs.main_key, port[0], port[0], port[1]);
    eps[0] = (struct ms_endpoint){"127.0.0.1", port[0]};
    eps[1] = (struct ms_endpoint){"127.0.0.2", port[0]};
    eps[2] = (struct ms_endpoint){"127.0.0.1", port[1]};
    ck_assert_msg(ms_dovecot_start_with(&d, conf, eps, 3, err, sizeof err) ==
                      0,
                  "%s", err);
    {
        char *b1 = bind_line("*", "127.0.0.1", "*", certs.main_cert,
                             certs.main_key);
        char *b2 = bind_line("*", "127.0.0.2", "*", certs.addr2_cert,
                             certs.addr2_key);
        store = fmt("%s%slisten imaps 127.0.0.1 %d\nlisten imaps 127.0.0.2 "
                    "%d\nlisten imap 127.0.0.1 %d\n",
                    b1, b2, port[0], port[0], port[1]);
        free(b1);
        free(b2);
    }
    want[0] = fmt("imaps 127.0.0.1 %d|no server name|ok", port[0]);
    want[1] = fmt("imaps 127.0.0.2 %d|no server name|no-binding-live",
                  port[0]);
    want[2] = fmt("imap 127.0.0.1 %d|no server name|ok", port[1]);
    expect_live(store, want, "dovecot", d.log, 0);
    ms_dovecot_stop(&d);
    free_all(want);
    free(store);
    free(conf);
}
END_TEST

/* The certificate file is replaced ("renewed on disk") but Dovecot is not
 * reloaded: cert-drift with both fingerprints; after SIGHUP: ok. */
START_TEST(dovecot_renewed_not_reloaded)
{
    struct ms_dovecot d;
    struct ms_endpoint ep;
    char err[2048], *conf, *store, *cert, *key, *b;
    char *want_drift[2] = {NULL}, *want_ok[2] = {NULL};
    int port[1];

    ck_assert_int_eq(ms_pick_ports(port, 1), 0);
    cert = fmt("%s/renewed.pem", certdir);
    key = fmt("%s/renewed.key", certdir);
    copy_file(certs.main_cert, cert);
    copy_file(certs.main_key, key);
    conf = fmt("protocols = imap\nssl = yes\nssl_cert = <%s\nssl_key = <%s\n"
               "service imap-login {\n"
               "  inet_listener imap {\n    port = 0\n  }\n"
               "  inet_listener imaps {\n    address = 127.0.0.1\n"
               "    port = %d\n    ssl = yes\n  }\n}\n",
               cert, key, port[0]);
    ep = (struct ms_endpoint){"127.0.0.1", port[0]};
    ck_assert_msg(ms_dovecot_start_with(&d, conf, &ep, 1, err, sizeof err) ==
                      0,
                  "%s", err);
    b = bind_line("*", "*", "*", cert, key);
    store = fmt("%slisten imaps 127.0.0.1 %d\n", b, port[0]);
    want_ok[0] = fmt("imaps 127.0.0.1 %d|no server name|ok", port[0]);
    /* first the server must have read its certificate (Dovecot reads the
     * files when the first login asks for its settings, not at start):
     * a live audit finds the bound one in force */
    expect_live(store, want_ok, "dovecot-before-renewal", d.log, 0);
    /* renewal: new certificate and key under the same names */
    copy_file(certs.addr2_cert, cert);
    copy_file(certs.addr2_key, key);
    want_drift[0] = fmt("imaps 127.0.0.1 %d|no server name|cert-drift",
                        port[0]);
    expect_live(store, want_drift, "dovecot-drift", d.log, 0);
    {
        /* the message holds both fingerprints and the hint */
        mailssl_store *s = store_of(store);
        mailssl_report *r = mailssl_report_new();
        mailssl_live *lv = mailssl_live_new(s);
        const char *bound = mailssl_live_expected_sha256(lv, 0);
        char rows[MAX_ROWS][200];

        ck_assert_ptr_nonnull(bound);
        ck_assert_uint_eq(live_rows(s, rows, r), 1);
        ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0), bound));
        ck_assert_ptr_nonnull(
            strstr(mailssl_report_message(r, 0), "not reloaded"));
        ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                     "not_after"));
        mailssl_live_free(lv);
        mailssl_report_free(r);
        mailssl_store_free(s);
    }
    /* reload: the drift goes (new logins get the new settings) */
    ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
    {
        mailssl_store *s = store_of(store);
        char rows[MAX_ROWS][200];
        int tries;
        for (tries = 0; tries < 100; tries++) {
            mailssl_report *r = mailssl_report_new();
            size_t n = live_rows(s, rows, r);
            mailssl_report_free(r);
            if (n == 1 && strcmp(rows[0], want_ok[0]) == 0)
                break;
            usleep(100000);
        }
        ck_assert_msg(tries < 100, "still %s 10 s after SIGHUP", rows[0]);
        mailssl_store_free(s);
    }
    ms_dovecot_stop(&d);
    free_all(want_drift);
    free_all(want_ok);
    free(b);
    free(store);
    free(conf);
    free(cert);
    free(key);
}
END_TEST

/* The store's bindings exported for Dovecot, Dovecot started on exactly
 * that: every listener and name is ok. */
START_TEST(dovecot_from_export)
{
    struct ms_dovecot d;
    struct ms_endpoint eps[4];
    char err[2048], *store, *exported, *b[3];
    char *want[16] = {NULL};
    int port[3], k = 0;

    ck_assert_int_eq(ms_pick_ports(port, 3), 0);
    three_bindings(b, "*", "127.0.0.2");
    store = fmt("%s%s%slisten imaps 127.0.0.1 %d\nlisten imaps 127.0.0.2 %d\n"
                "listen imap 127.0.0.1 %d\nlisten pop3s 127.0.0.2 %d\n",
                b[0], b[1], b[2], port[0], port[0], port[1], port[2]);
    exported = export_of(store, "dovecot");
    eps[0] = (struct ms_endpoint){"127.0.0.1", port[0]};
    eps[1] = (struct ms_endpoint){"127.0.0.2", port[0]};
    eps[2] = (struct ms_endpoint){"127.0.0.1", port[1]};
    eps[3] = (struct ms_endpoint){"127.0.0.2", port[2]};
    ck_assert_msg(ms_dovecot_start_with(&d, exported, eps, 4, err,
                                        sizeof err) == 0,
                  "%s\n--- exported:\n%s", err, exported);
    want_both_ok(want, &k, "imaps", "127.0.0.1", port[0]);
    want_both_ok(want, &k, "imaps", "127.0.0.2", port[0]);
    want_both_ok(want, &k, "imap", "127.0.0.1", port[1]);
    want_both_ok(want, &k, "pop3s", "127.0.0.2", port[2]);
    expect_live(store, want, "dovecot-export", d.log, 0);
    ms_dovecot_stop(&d);
    free_all(want);
    free_all((char *[]){b[0], b[1], b[2], NULL});
    free(exported);
    free(store);
}
END_TEST

/* ---- Postfix -------------------------------------------------------------- */

/* A per-name certificate from tls_server_sni_maps, the default from
 * smtpd_tls_chain_files: both names and no-SNI probes are ok. */
START_TEST(postfix_sni_map)
{
    struct ms_postfix p;
    struct ms_endpoint eps[2];
    char err[2048], *services, *map, *store, *b[2];
    char *want[5] = {NULL};
    int port[2], k = 0;

    ck_assert_int_eq(ms_pick_ports(port, 2), 0);
    services = fmt("127.0.0.1:%d inet n - n - - smtpd\n"
                   "  -o smtpd_tls_security_level=may\n"
                   "  -o smtpd_tls_chain_files=%s,%s\n"
                   "127.0.0.1:%d inet n - n - - smtpd\n"
                   "  -o smtpd_tls_wrappermode=yes\n"
                   "  -o smtpd_tls_security_level=encrypt\n"
                   "  -o smtpd_tls_chain_files=%s,%s\n",
                   port[0], certs.main_key, certs.main_cert, port[1],
                   certs.main_key, certs.main_cert);
    map = fmt(MS_NAME_OTHER " %s,%s\n", certs.other_key, certs.other_cert);
    eps[0] = (struct ms_endpoint){"127.0.0.1", port[0]};
    eps[1] = (struct ms_endpoint){"127.0.0.1", port[1]};
    ck_assert_msg(ms_postfix_start_with(&p, &certs,
                                        "tls_server_sni_maps = hash:@SNI_MAP@\n",
                                        map, services, eps, 2, err,
                                        sizeof err) == 0,
                  "%s", err);
    b[0] = bind_line("*", "*", "*", certs.main_cert, certs.main_key);
    b[1] = bind_line("*", "*", MS_NAME_OTHER, certs.other_cert,
                     certs.other_key);
    store = fmt("%s%slisten smtp 127.0.0.1 %d\nlisten smtps 127.0.0.1 %d\n",
                b[0], b[1], port[0], port[1]);
    want_both_ok(want, &k, "smtp", "127.0.0.1", port[0]);
    want_both_ok(want, &k, "smtps", "127.0.0.1", port[1]);
    expect_live(store, want, "postfix-sni", p.log, 0);
    ms_postfix_stop(&p);
    free_all(want);
    free_all((char *[]){b[0], b[1], services, map, store, NULL});
}
END_TEST

/* The text after the "#### TITLE" line of an export, up to the next one
 * (a new string). */
static char *export_part(const char *text, const char *title)
{
    char *head = fmt("#### %s", title);
    const char *at = strstr(text, head), *end;
    char *part;

    ck_assert_msg(at != NULL, "no part %s in:\n%s", title, text);
    at = strchr(at, '\n');
    ck_assert_ptr_nonnull(at);
    at++;
    end = strstr(at, "#### ");
    part = strndup(at, end ? (size_t)(end - at) : strlen(at));
    ck_assert_ptr_nonnull(part);
    free(head);
    return part;
}

/* Replaces the export's SNI map path by the harness's placeholder. */
static char *placeholder_map(const char *main_cf)
{
    const char *path = "/etc/postfix/mailssl_sni";
    const char *at = strstr(main_cf, path);
    if (!at)
        return strdup(main_cf);
    return fmt("%.*s@SNI_MAP@%s", (int)(at - main_cf), main_cf,
               at + strlen(path));
}

START_TEST(postfix_from_export)
{
    struct ms_postfix p;
    struct ms_endpoint eps[3];
    char err[2048], *store, *exported, *main_cf, *map, *master, *b[3];
    char *want[8] = {NULL};
    int port[3], k = 0;

    ck_assert_int_eq(ms_pick_ports(port, 3), 0);
    three_bindings(b, "smtps", "127.0.0.1");
    store = fmt("%s%s%slisten smtp 127.0.0.1 %d\nlisten smtps 127.0.0.1 %d\n"
                "listen submission 127.0.0.1 %d\n",
                b[0], b[1], b[2], port[0], port[1], port[2]);
    exported = export_of(store, "postfix");
    {
        char *m = export_part(exported, "main.cf");
        main_cf = placeholder_map(m);
        free(m);
    }
    map = export_part(exported, "/etc/postfix/mailssl_sni");
    master = export_part(exported, "master.cf");
    for (k = 0; k < 3; k++)
        eps[k] = (struct ms_endpoint){"127.0.0.1", port[k]};
    ck_assert_msg(ms_postfix_start_with(&p, &certs, main_cf, map, master, eps,
                                        3, err, sizeof err) == 0,
                  "%s\n--- exported:\n%s", err, exported);
    k = 0;
    want_both_ok(want, &k, "smtp", "127.0.0.1", port[0]);
    want_both_ok(want, &k, "smtps", "127.0.0.1", port[1]);
    want_both_ok(want, &k, "submission", "127.0.0.1", port[2]);
    expect_live(store, want, "postfix-export", p.log, 0);
    ms_postfix_stop(&p);
    free_all(want);
    free_all((char *[]){b[0], b[1], b[2], exported, main_cf, map, master,
                        store, NULL});
}
END_TEST

/* ---- Exim ----------------------------------------------------------------- */

/* Exim's daemon reads its certificates after dropping to Debian-exim:
 * copies of the files it may read. */
static char *exim_copy(const char *dir, const char *file, const char *name)
{
    struct group *g = getgrnam("Debian-exim");
    char *to = fmt("%s/%s", dir, name);

    copy_file(file, to);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(chown(to, 0, g->gr_gid), 0);
    ck_assert_int_eq(chmod(to, 0640), 0);
    return to;
}

/* Rows: what Exim presents for the name (its tls_certificate expansion)
 * against what the store binds: equal is ok; the default certificate for
 * the name is cert-drift, and the probe's own cert-name-mismatch, on the
 * name's targets only. */
static const struct exim_case {
    const char *label;
    int name_gets_other; /* Exim: other.example.test gets its own cert */
    const char *name_codes[3];
} exim_cases[] = {
    {"exim-sni", 1, {"ok", NULL}},
    {"exim-sni-missing", 0, {"cert-drift", "cert-name-mismatch", NULL}},
};

START_TEST(exim_sni)
{
    const struct exim_case *c = &exim_cases[_i];
    struct ms_exim e;
    struct ms_endpoint eps[2];
    char err[2048], *dir, *mc, *mk, *oc, *ok_, *body, *store, *b[2];
    char *want[8] = {NULL};
    int port[2];

    if (!ms_have_exim()) {
        if (getenv("MAILSSL_REQUIRE_INTEROP") &&
            strcmp(getenv("MAILSSL_REQUIRE_INTEROP"), "1") == 0)
            ck_abort_msg("exim is required: set MAILSSL_EXIM to the "
                         "unpacked exim4 binary (.ci/run does) and create "
                         "the user Debian-exim");
        fprintf(stderr, "interop: exim not available, %s skipped\n",
                c->label);
        return;
    }
    ck_assert_int_eq(ms_pick_ports(port, 2), 0);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ms_remove_at_exit(dir);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    mc = exim_copy(dir, certs.main_cert, "main.pem");
    mk = exim_copy(dir, certs.main_key, "main.key");
    oc = exim_copy(dir, certs.other_cert, "other.pem");
    ok_ = exim_copy(dir, certs.other_key, "other.key");
    body = fmt("daemon_smtp_ports = %d : %d\nlocal_interfaces = 127.0.0.1\n"
               "tls_on_connect_ports = %d\ntls_advertise_hosts = *\n"
               "tls_certificate = ${if eq{$tls_in_sni}{%s}{%s}{%s}}\n"
               "tls_privatekey = ${if eq{$tls_in_sni}{%s}{%s}{%s}}\n",
               port[0], port[1], port[1], MS_NAME_OTHER,
               c->name_gets_other ? oc : mc, mc, MS_NAME_OTHER,
               c->name_gets_other ? ok_ : mk, mk);
    eps[0] = (struct ms_endpoint){"127.0.0.1", port[0]};
    eps[1] = (struct ms_endpoint){"127.0.0.1", port[1]};
    ck_assert_msg(ms_exim_start(&e, body, eps, 2, err, sizeof err) == 0,
                  "%s", err);
    b[0] = bind_line("*", "*", "*", certs.main_cert, certs.main_key);
    b[1] = bind_line("*", "*", MS_NAME_OTHER, certs.other_cert,
                     certs.other_key);
    store = fmt("%s%slisten smtp 127.0.0.1 %d\nlisten smtps 127.0.0.1 %d\n",
                b[0], b[1], port[0], port[1]);
    for (int l = 0, k = 0; l < 2; l++) {
        const char *svc = l ? "smtps" : "smtp";
        want[k++] = fmt("%s 127.0.0.1 %d|no server name|ok", svc, port[l]);
        for (const char *const *code = c->name_codes; *code; code++)
            want[k++] = fmt("%s 127.0.0.1 %d|server name " MS_NAME_OTHER
                            "|%s",
                            svc, port[l], *code);
    }
    expect_live(store, want, c->label, e.log, 0);
    ms_exim_stop(&e);
    free_all(want);
    free_all((char *[]){b[0], b[1], body, store, mc, mk, oc, ok_, NULL});
    certgen_rmdir(dir);
    free(dir);
}
END_TEST

/* ---- suite ------------------------------------------------------------------ */

int main(void)
{
    Suite *s = suite_create("interop-live");
    TCase *tc = tcase_create("live");
    char err[512];
    int failed, require = getenv("MAILSSL_REQUIRE_INTEROP") &&
                          strcmp(getenv("MAILSSL_REQUIRE_INTEROP"), "1") == 0;

    if (!ms_have_dovecot() || !ms_have_postfix() || geteuid() != 0) {
        fprintf(stderr, "interop-live: needs root, dovecot and postfix%s\n",
                require ? " (MAILSSL_REQUIRE_INTEROP=1: failing)" : "");
        return require ? 1 : 77;
    }
    if (mailssl_init() != MAILSSL_OK)
        return 1;
    certdir = certgen_tmpdir();
    if (!certdir || chmod(certdir, 0755) != 0 ||
        ms_certs_make(&certs, certdir, err, sizeof err) != 0) {
        fprintf(stderr, "interop-live: %s\n", err);
        return 1;
    }
    /* not ms_remove_at_exit(): the forked tests would remove it when the
     * first of them exits (each test owns the servers it starts) */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dovecot_one_address_without_certificate);
    tcase_add_test(tc, dovecot_renewed_not_reloaded);
    tcase_add_test(tc, dovecot_from_export);
    tcase_add_test(tc, postfix_sni_map);
    tcase_add_test(tc, postfix_from_export);
    tcase_add_loop_test(tc, exim_sni, 0, CHECK_COUNT(exim_cases));
    suite_add_tcase(s, tc);
    failed = check_run(s, CK_FORK_GETENV);
    certgen_rmdir(certdir);
    ms_certs_free(&certs);
    free(certdir);
    mailssl_deinit();
    return failed ? 1 : 0;
}
