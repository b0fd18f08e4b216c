/*
 * test_live.c - the targets of a live audit (mailssl_live_new) and the
 * listener accessor (mailssl_store_listener_get), without a network: which
 * (listener, SNI name) pairs are probed, at which host, expecting which
 * certificate; and that what the accessor copied outlives a replace.
 * The comparison itself runs against real servers: tests/interop/
 * test_live.c and tests/programs/test_check_live.py.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certgen.h"
#include "check_run.h"
#include "mailssl.h"

static char *dir;
static char sha_a[65], sha_b[65];

/* The "sha256" of a certificate file's leaf, through the library. */
static void file_sha256(const char *cert, const char *key, char *out)
{
    mailssl_credential *c = mailssl_credential_new();
    char *json;
    const char *at;

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(mailssl_credential_load_pem_files(c, cert, key, NULL),
                     MAILSSL_OK);
    json = mailssl_credential_certificate_json(c, 0, 0);
    ck_assert_ptr_nonnull(json);
    at = strstr(json, "\"sha256\":\"");
    ck_assert_ptr_nonnull(at);
    memcpy(out, at + 10, 64);
    out[64] = '\0';
    mailssl_free(json);
    mailssl_credential_free(c);
}

static void make_cert(const char *name, char *sha)
{
    const char *dns[] = {"mail.example.com", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert leaf;
    const struct certgen_cert *chain[1] = {&leaf};
    char cert[600], key[600];

    o.dns = dns;
    ck_assert_int_eq(certgen_make(&leaf, &o, NULL), 0);
    snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    ck_assert_int_eq(certgen_write_pem(cert, chain, 1, NULL), 0);
    ck_assert_int_eq(certgen_write_key(key, &leaf), 0);
    certgen_free(&leaf);
    file_sha256(cert, key, sha);
}

static void setup(void)
{
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    make_cert("a", sha_a);
    make_cert("b", sha_b);
}

static void teardown(void)
{
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

/* Config text with @A / @B standing for the credentials of a.pem, b.pem. */
static mailssl_store *store_of(const char *text)
{
    mailssl_store *s = mailssl_store_new();
    char buf[4096], name[600];
    size_t o = 0;

    ck_assert_ptr_nonnull(s);
    for (; *text && o + 700 < sizeof buf; text++) {
        if (*text == '@' && (text[1] == 'A' || text[1] == 'B')) {
            char c = text[1] == 'A' ? 'a' : 'b';
            o += (size_t)snprintf(buf + o, sizeof buf - o,
                                  "cert=%s/%c.pem key=%s/%c.key", dir, c,
                                  dir, c);
            text++;
        } else {
            buf[o++] = *text;
        }
    }
    buf[o] = '\0';
    snprintf(name, sizeof name, "%s/live.conf", dir);
    ck_assert_msg(mailssl_store_load_string(s, buf, o, name) == MAILSSL_OK,
                  "%s", mailssl_store_error(s));
    return s;
}

/* One case a row: a config, then the targets expected in order as
 * "LISTENER|NAME|HOST|CERT" (NAME "-" for no SNI; CERT A, B, or - when no
 * binding covers it). */
static const struct target_case {
    const char *label;
    const char *config;
    const char *targets[6];
} cases[] = {
    {"default only",
     "bind * * * * @A\nlisten imaps 192.0.2.1 993\n",
     {"imaps 192.0.2.1 993|-|192.0.2.1|A"}},
    {"an exact name bound everywhere",
     "bind * * * * @A\nbind * * * mail.example.com @B\n"
     "listen imaps 192.0.2.1 993\nlisten smtp 192.0.2.1 25\n",
     {"imaps 192.0.2.1 993|-|192.0.2.1|A",
      "imaps 192.0.2.1 993|mail.example.com|mail.example.com|B",
      "smtp 192.0.2.1 25|-|192.0.2.1|A",
      "smtp 192.0.2.1 25|mail.example.com|mail.example.com|B"}},
    {"a name bound on another address only",
     "bind * * * * @A\nbind * 192.0.2.2 * mail.example.com @B\n"
     "listen imaps 192.0.2.1 993\nlisten imaps 192.0.2.2 993\n",
     {"imaps 192.0.2.1 993|-|192.0.2.1|A",
      "imaps 192.0.2.2 993|-|192.0.2.2|A",
      "imaps 192.0.2.2 993|mail.example.com|mail.example.com|B"}},
    {"a name bound for another service or port only",
     "bind * * * * @A\nbind smtp * * mail.example.com @B\n"
     "bind imaps * 10993 other.example.com @B\n"
     "listen imaps 192.0.2.1 993\nlisten smtp 192.0.2.1 25\n",
     {"imaps 192.0.2.1 993|-|192.0.2.1|A", "smtp 192.0.2.1 25|-|192.0.2.1|A",
      "smtp 192.0.2.1 25|mail.example.com|mail.example.com|B"}},
    {"a wildcard has no name to send",
     "bind * * * * @A\nbind * * * *.example.com @B\n"
     "listen imaps 192.0.2.1 993\n",
     {"imaps 192.0.2.1 993|-|192.0.2.1|A"}},
    {"one name bound twice is probed once",
     "bind * * * * @A\nbind * 192.0.2.0/24 * mail.example.com @B\n"
     "bind * 192.0.2.1 * mail.example.com @A\nlisten imaps 192.0.2.1 993\n",
     {"imaps 192.0.2.1 993|-|192.0.2.1|A",
      "imaps 192.0.2.1 993|mail.example.com|mail.example.com|A"}},
    {"every address: reached on loopback, that address's binding expected",
     "bind * 0.0.0.0 * * @A\nbind * 127.0.0.1 * * @B\nbind * :: * * @A\n"
     "listen imaps 0.0.0.0 993\nlisten imaps :: 993\n",
     {"imaps 0.0.0.0 993|-|127.0.0.1|B", "imaps :: 993|-|::1|A"}},
    {"IPv6 with a name",
     "bind * :: * * @A\nbind * * * mail.example.com @B\n"
     "listen imaps 2001:db8::1 993\n",
     {"imaps 2001:db8::1 993|-|2001:db8::1|A",
      "imaps 2001:db8::1 993|mail.example.com|mail.example.com|B"}},
    {"no binding covers the listener",
     "bind smtp * * * @A\nlisten imaps 192.0.2.1 993\n",
     {"imaps 192.0.2.1 993|-|192.0.2.1|-"}},
    {"no listener, no target", "bind * * * * @A\n", {NULL}},
};

START_TEST(targets)
{
    const struct target_case *c = &cases[_i];
    mailssl_store *s = store_of(c->config);
    mailssl_live *lv = mailssl_live_new(s);
    size_t n = 0, i;

    ck_assert_ptr_nonnull(lv);
    while (n < 6 && c->targets[n])
        n++;
    ck_assert_msg(mailssl_live_count(lv) == n, "%s: %zu targets, not %zu",
                  c->label, mailssl_live_count(lv), n);
    for (i = 0; i < n; i++) {
        const char *sha = mailssl_live_expected_sha256(lv, i);
        const char *name = mailssl_live_name(lv, i);
        char got[400];

        snprintf(got, sizeof got, "%s|%s|%s|%s", mailssl_live_listener(lv, i),
                 name ? name : "-",
                 mailssl_probe_host(mailssl_live_probe(lv, i)),
                 !sha                       ? "-"
                 : strcmp(sha, sha_a) == 0 ? "A"
                 : strcmp(sha, sha_b) == 0 ? "B"
                                            : "?");
        ck_assert_msg(strcmp(got, c->targets[i]) == 0, "%s: target %zu is %s",
                      c->label, i, got);
    }
    /* the probes are the caller's to configure: not started */
    for (i = 0; i < n; i++)
        ck_assert_int_eq(mailssl_probe_done(mailssl_live_probe(lv, i)), 0);
    mailssl_live_free(lv);
    mailssl_store_free(s);
}
END_TEST

/* A target with SNI connects to the listener's address, not to what the
 * name resolves to; one without SNI to the address too. Nothing listens
 * on the port: both end connect-refused at 127.0.0.1, and the report says
 * so per listener (and the comparison needs every probe finished). */
START_TEST(targets_connect_to_the_listener)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    char conf[200], ctx[64];
    mailssl_store *s;
    mailssl_live *lv;
    mailssl_report *r = mailssl_report_new();
    size_t i;

    /* a port nothing listens on: bound, never listened, closed at the end */
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    snprintf(conf, sizeof conf,
             "bind * * * * @A\nbind * * * nowhere.invalid @B\n"
             "listen imaps 127.0.0.1 %d\n", port);
    s = store_of(conf);
    lv = mailssl_live_new(s);
    ck_assert_uint_eq(mailssl_live_count(lv), 2);
    ck_assert_int_eq(mailssl_live_report(lv, r), MAILSSL_ERR_STATE);
    ck_assert_uint_eq(mailssl_report_count(r), 0);
    ck_assert_int_eq(mailssl_live_run(lv, 2), MAILSSL_OK);
    for (i = 0; i < 2; i++) {
        mailssl_probe *p = mailssl_live_probe(lv, i);
        ck_assert_int_eq(mailssl_probe_diagnosis(p),
                         MAILSSL_CODE_CONNECT_REFUSED);
        ck_assert_str_eq(mailssl_probe_address(p), "127.0.0.1");
    }
    ck_assert_int_eq(mailssl_live_report(lv, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_uint_eq(mailssl_report_count(r), 2);
    snprintf(ctx, sizeof ctx, "imaps 127.0.0.1 %d", port);
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(mailssl_report_code(r, i),
                         MAILSSL_CODE_CONNECT_REFUSED);
        ck_assert_str_eq(mailssl_report_context_kind(r, i), "listener");
        ck_assert_str_eq(mailssl_report_context(r, i), ctx);
    }
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "no server name: "));
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 1),
                                 "server name nowhere.invalid: "));
    mailssl_report_free(r);
    mailssl_live_free(lv);
    mailssl_store_free(s);
    close(fd);
}
END_TEST

/* The targets are a copy: a reload afterwards changes none of them. */
START_TEST(targets_survive_a_reload)
{
    mailssl_store *s = store_of("bind * * * * @A\nlisten imaps 192.0.2.1 993\n");
    mailssl_store *t = store_of("bind * * * * @B\nlisten smtp 192.0.2.9 25\n");
    mailssl_live *lv = mailssl_live_new(s);

    ck_assert_int_eq(mailssl_store_replace(s, t), MAILSSL_OK);
    ck_assert_uint_eq(mailssl_live_count(lv), 1);
    ck_assert_str_eq(mailssl_live_listener(lv, 0), "imaps 192.0.2.1 993");
    ck_assert_str_eq(mailssl_live_expected_sha256(lv, 0), sha_a);
    mailssl_live_free(lv);
    mailssl_store_free(t);
    mailssl_store_free(s);
}
END_TEST

/* What mailssl_store_listener_get copied outlives mailssl_store_replace;
 * afterwards it reads the new table. */
START_TEST(listener_copies_outlive_replace)
{
    mailssl_store *s = store_of("listen imaps 192.0.2.1 993\n"
                                "listen pop3 2001:db8::1 110\n"
                                "listen smtp 0.0.0.0 25\nlisten imap :: 143\n");
    mailssl_store *t = store_of("listen sieve 198.51.100.7 4190\n");
    static const struct {
        int service;
        const char *address;
        int port;
    } want[] = {{MAILSSL_SERVICE_IMAPS, "192.0.2.1", 993},
                {MAILSSL_SERVICE_POP3, "2001:db8::1", 110},
                {MAILSSL_SERVICE_SMTP, "0.0.0.0", 25},
                {MAILSSL_SERVICE_IMAP, "::", 143}};
    char addr[4][MAILSSL_ADDRESS_MAX];
    int svc[4], port[4];
    size_t i;

    ck_assert_uint_eq(mailssl_store_listener_count(s), 4);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(mailssl_store_listener_get(s, i, &svc[i], addr[i],
                                                    sizeof addr[i], &port[i]),
                         MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_replace(s, t), MAILSSL_OK);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(svc[i], want[i].service);
        ck_assert_str_eq(addr[i], want[i].address);
        ck_assert_int_eq(port[i], want[i].port);
    }
    ck_assert_uint_eq(mailssl_store_listener_count(s), 1);
    ck_assert_int_eq(mailssl_store_listener_get(s, 0, &svc[0], addr[0],
                                                sizeof addr[0], &port[0]),
                     MAILSSL_OK);
    ck_assert_int_eq(svc[0], MAILSSL_SERVICE_SIEVE);
    ck_assert_str_eq(addr[0], "198.51.100.7");
    ck_assert_int_eq(port[0], 4190);
    ck_assert_int_eq(mailssl_store_listener_get(s, 1, &svc[0], addr[0],
                                                sizeof addr[0], &port[0]),
                     MAILSSL_ERR_NOT_FOUND);
    mailssl_store_free(t);
    mailssl_store_free(s);
}
END_TEST

/* The export's lines for one config (the interop suite starts the real
 * servers on them). */
START_TEST(export_shapes)
{
    mailssl_store *s = store_of("bind * * * * @A\n"
                                "bind imaps 192.0.2.2 * * @B\n"
                                "bind imap 192.0.2.2 * * @A\n"
                                "bind * * * mail.example.com @B\n"
                                "bind smtps * * * @A\n"
                                "listen imaps 192.0.2.2 993\n"
                                "listen smtps 0.0.0.0 465\n");
    char *d = mailssl_store_export(s, "dovecot");
    char *p = mailssl_store_export(s, "postfix");
    char line[800];

    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(p);
    /* imaps and imap are one Dovecot protocol: the second is a comment */
    ck_assert_ptr_nonnull(strstr(d, "Dovecot cannot tell it apart"));
    ck_assert_ptr_nonnull(strstr(d, "local 192.0.2.2 {\n"));
    ck_assert_ptr_nonnull(strstr(d, "  local_name mail.example.com {\n"));
    ck_assert_ptr_nonnull(strstr(d, "smtps is not served by Dovecot"));
    ck_assert_ptr_nonnull(strstr(d, "inet_listener imaps {\n    port = 0\n"));
    snprintf(line, sizeof line, "465 inet n - n - - smtpd\n"
                                "  -o smtpd_tls_wrappermode=yes\n");
    ck_assert_ptr_nonnull(strstr(p, line));
    snprintf(line, sizeof line, "mail.example.com %s/b.key,%s/b.pem\n", dir,
             dir);
    ck_assert_ptr_nonnull(strstr(p, line));
    mailssl_free(d);
    mailssl_free(p);
    mailssl_store_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("live");
    TCase *tc = tcase_create("live");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, targets, 0, CHECK_COUNT(cases));
    tcase_add_test(tc, targets_connect_to_the_listener);
    tcase_add_test(tc, targets_survive_a_reload);
    tcase_add_test(tc, listener_copies_outlive_replace);
    tcase_add_test(tc, export_shapes);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
