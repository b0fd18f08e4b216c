/* Tests of lib/store/audit.c: every listener must resolve, for a client that
 * sends no SNI, to a credential that validates. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl.h"

static char *dir;
static mailssl_store *st;
static mailssl_report *rep;

#define path(name) certgen_path(dir, (name))

/* A CA, a leaf valid 2020-2040 and one that expired in 2021, and a
 * validator that trusts the CA and validates at 2030-01-01: every date is
 * explicit. */
static mailssl_validator *val;

static void setup(void)
{
    static const char *const names[] = {"mail.example.com", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert ca, good, old;
    const struct certgen_cert *chain[1];

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    o.not_before = 1577836800; /* 2020-01-01 */
    o.not_after = 2208988800;  /* 2040-01-01 */
    o.is_ca = 1;
    o.cn = "Audit Test CA";
    ck_assert_int_eq(certgen_make(&ca, &o, NULL), 0);
    o.is_ca = 0;
    o.cn = "mail.example.com";
    o.dns = names;
    ck_assert_int_eq(certgen_make(&good, &o, &ca), 0);
    o.not_after = 1609459200; /* 2021-01-01 */
    ck_assert_int_eq(certgen_make(&old, &o, &ca), 0);
    chain[0] = &ca;
    ck_assert_int_eq(certgen_write_pem(path("ca.pem"), chain, 1, NULL), 0);
    chain[0] = &good;
    ck_assert_int_eq(certgen_write_pem(path("good.pem"), chain, 1, &good), 0);
    chmod(path("good.pem"), 0600);
    chain[0] = &old;
    ck_assert_int_eq(certgen_write_pem(path("old.pem"), chain, 1, &old), 0);
    chmod(path("old.pem"), 0600);
    certgen_free(&ca);
    certgen_free(&good);
    certgen_free(&old);
    val = mailssl_validator_new();
    ck_assert_ptr_nonnull(val);
    ck_assert_int_eq(mailssl_validator_set_cafile(val, path("ca.pem")),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_validator_set_time(val, 1893456000), MAILSSL_OK);
}

static void teardown(void)
{
    mailssl_validator_free(val);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

/* files once (unchecked fixture; tests that change a mode put it back),
 * a store and a report per test */
static void setup_store(void)
{
    st = mailssl_store_new();
    rep = mailssl_report_new();
    ck_assert_ptr_nonnull(st);
    ck_assert_ptr_nonnull(rep);
}

static void teardown_store(void)
{
    mailssl_report_free(rep);
    mailssl_store_free(st);
}

static void load(const char *text)
{
    int rc = mailssl_store_load_string(st, text, strlen(text),
                                       path("a.conf"));
    ck_assert_msg(rc == MAILSSL_OK, "%s", mailssl_store_error(st));
}

START_TEST(every_listener_resolves)
{
    load("bind imaps 0.0.0.0 993 * cert=good.pem\n"
         "bind pop3s :: 995 * cert=good.pem\n"
         "listen imaps 192.0.2.10 993\n"
         "listen imaps 0.0.0.0 993\n"
         "listen pop3s 2001:db8::1 995\n"
         "listen pop3s :: 995\n");
    ck_assert_int_eq(mailssl_store_audit(st, val, rep),
                     MAILSSL_SEVERITY_OK);
    ck_assert_int_eq(mailssl_report_count(rep), 0);
}
END_TEST

START_TEST(listener_without_binding)
{
    load("bind imaps 192.0.2.10 993 * cert=good.pem\n"
         "listen imaps 192.0.2.10 993\n"
         "listen pop3s 192.0.2.10 995\n");
    ck_assert_int_eq(mailssl_store_audit(st, val, rep),
                     MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_count(rep), 1);
    ck_assert_int_eq(mailssl_report_code(rep, 0), MAILSSL_CODE_NO_BINDING);
    ck_assert_int_eq(mailssl_report_severity(rep, 0),
                     MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(mailssl_report_context_kind(rep, 0), "listener");
    ck_assert_str_eq(mailssl_report_context(rep, 0), "pop3s 192.0.2.10 995");
    ck_assert_str_eq(mailssl_report_message(rep, 0),
                     "clients of pop3s on 192.0.2.10 port 995 that send no "
                     "server name will see the connection dropped during "
                     "the TLS handshake: no binding covers this address, "
                     "port and service. A default-address binding for this "
                     "port would fix it: \"bind pop3s 0.0.0.0 995 * "
                     "cert=FILE\" (or \"bind pop3s 192.0.2.10 995 * "
                     "cert=FILE\" for this address only)");
}
END_TEST

START_TEST(family_listener_needs_family_binding)
{
    /* an exact-address binding does not cover 0.0.0.0 */
    load("bind imaps 192.0.2.10 993 * cert=good.pem\n"
         "bind imaps 192.0.2.0/24 993 * cert=good.pem\n"
         "listen imaps 0.0.0.0 993\n");
    ck_assert_int_eq(mailssl_store_audit(st, val, rep),
                     MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_count(rep), 1);
    ck_assert_str_eq(mailssl_report_context(rep, 0), "imaps 0.0.0.0 993");
    ck_assert_str_eq(mailssl_report_message(rep, 0),
                     "clients of imaps connecting to any IPv4 address of "
                     "this server on port 993 that send no server name will "
                     "see the connection dropped during the TLS handshake: "
                     "no binding covers every IPv4 address for this service "
                     "and port. A default-address binding for this port "
                     "would fix it: \"bind imaps 0.0.0.0 993 * cert=FILE\"");
    /* "*" covers it; an IPv6 default does not */
    mailssl_report_clear(rep);
    load("bind imaps :: 993 * cert=good.pem\n"
         "listen imaps 0.0.0.0 993\n");
    ck_assert_int_eq(mailssl_store_audit(st, val, rep),
                     MAILSSL_SEVERITY_CRITICAL);
    mailssl_report_clear(rep);
    load("bind * * * * cert=good.pem\n"
         "listen imaps 0.0.0.0 993\n");
    ck_assert_int_eq(mailssl_store_audit(st, val, rep),
                     MAILSSL_SEVERITY_OK);
}
END_TEST

START_TEST(named_binding_does_not_cover_no_sni)
{
    load("bind imaps 0.0.0.0 993 mail.example.com cert=good.pem\n"
         "listen imaps 192.0.2.10 993\n");
    ck_assert_int_eq(mailssl_store_audit(st, val, rep),
                     MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_code(rep, 0), MAILSSL_CODE_NO_BINDING);
}
END_TEST

START_TEST(expired_credential_is_reported_twice)
{
    char ctx[600];
    load("# an expired certificate\n"
         "bind imaps 0.0.0.0 993 * cert=old.pem\n"
         "listen imaps 192.0.2.10 993\n");
    ck_assert_int_eq(mailssl_store_audit(st, val, rep),
                     MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_count(rep), 2);
    snprintf(ctx, sizeof ctx, "%s:2", path("a.conf"));
    ck_assert_int_eq(mailssl_report_code(rep, 0), MAILSSL_CODE_CERT_EXPIRED);
    ck_assert_str_eq(mailssl_report_context_kind(rep, 0), "binding");
    ck_assert_str_eq(mailssl_report_context(rep, 0), ctx);
    ck_assert_int_eq(mailssl_report_cert_index(rep, 0), 0);
    ck_assert_int_eq(mailssl_report_code(rep, 1), MAILSSL_CODE_CERT_EXPIRED);
    ck_assert_str_eq(mailssl_report_context_kind(rep, 1), "listener");
    ck_assert_str_eq(mailssl_report_context(rep, 1), "imaps 192.0.2.10 993");
}
END_TEST

START_TEST(key_permissions_reach_the_audit)
{
    ck_assert_int_eq(chmod(path("good.pem"), 0644), 0);
    load("bind imaps * 993 * cert=good.pem\n");
    ck_assert_int_eq(mailssl_store_audit(st, val, rep),
                     MAILSSL_SEVERITY_WARNING);
    ck_assert_int_eq(mailssl_report_count(rep), 1);
    ck_assert_int_eq(mailssl_report_code(rep, 0),
                     MAILSSL_CODE_KEY_FILE_PERMISSIONS);
    ck_assert_int_eq(chmod(path("good.pem"), 0600), 0);
}
END_TEST

START_TEST(api_bindings_and_listeners)
{
    mailssl_credential *c = mailssl_credential_new();
    char *json;
    ck_assert_int_eq(mailssl_credential_load_pem_files(c, path("old.pem"),
                                                       NULL, NULL),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_add(st, MAILSSL_SERVICE_SMTP, "*", 25,
                                       "*", c),
                     MAILSSL_OK);
    mailssl_credential_free(c);
    ck_assert_int_eq(mailssl_store_add_listener(st, MAILSSL_SERVICE_SMTP,
                                                "::", 25),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_add_listener(st,
                                                MAILSSL_SERVICE_SUBMISSION,
                                                "::1", 587),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_audit(st, val, rep),
                     MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_count(rep), 3);
    ck_assert_str_eq(mailssl_report_context(rep, 0), "smtp * 25 *");
    ck_assert_str_eq(mailssl_report_context(rep, 1), "smtp :: 25");
    ck_assert_int_eq(mailssl_report_code(rep, 2), MAILSSL_CODE_NO_BINDING);
    ck_assert_str_eq(mailssl_report_context(rep, 2), "submission ::1 587");
    json = mailssl_report_json(rep);
    ck_assert_ptr_nonnull(strstr(json, "\"listener\":\"submission ::1 587\""));
    ck_assert_ptr_nonnull(strstr(json, "\"binding\":\"smtp * 25 *\""));
    mailssl_free(json);
    ck_assert_int_eq(mailssl_store_audit(NULL, NULL, rep),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_audit(st, NULL, NULL), MAILSSL_ERR_INVALID);
}
END_TEST

START_TEST(null_validator_means_defaults)
{
    /* the system trust store does not know the test CA */
    load("bind imaps * 993 * cert=good.pem\n"
         "listen imaps 192.0.2.10 993\n");
    ck_assert_int_ge(mailssl_store_audit(st, NULL, rep), 0);
    ck_assert_int_ge(mailssl_report_find(rep, MAILSSL_CODE_CERT_UNTRUSTED, 0),
                     0);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        every_listener_resolves, listener_without_binding,
        family_listener_needs_family_binding,
        named_binding_does_not_cover_no_sni,
        expired_credential_is_reported_twice,
        key_permissions_reach_the_audit, api_bindings_and_listeners,
        null_validator_means_defaults, NULL};
    const struct check_fixture fx = {setup, teardown, setup_store, teardown_store, 0};

    return check_main("audit", "audit", &fx, tests);
}
