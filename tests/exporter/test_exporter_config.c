/* Tests of examples/exporter_config.c: the modules file of
 * mailssl-exporter (one row a message) and its allow-list. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certgen.h"
#include "exporter_config.h"

static char *dir;

static void setup(void)
{
    struct certgen_opts o = {0};
    struct certgen_cert ca;
    const struct certgen_cert *chain[1];
    char path[512];

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    o.cn = "exporter config test CA";
    o.is_ca = 1;
    ck_assert_int_eq(certgen_make(&ca, &o, NULL), 0);
    chain[0] = &ca;
    snprintf(path, sizeof(path), "%s/ca.pem", dir);
    ck_assert_int_eq(certgen_write_pem(path, chain, 1, NULL), 0);
    certgen_free(&ca);
}

static void teardown(void)
{
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

/* One row a refused file: the text and the whole message. */
static const struct {
    const char *text;
    const char *message;
} bad[] = {
    {"modul x\n", "t.conf:1:1: unknown directive 'modul' (module, allow)"},
    {"module\n", "t.conf:1:8: module: a name is needed"},
    {"module a/b\n",
     "t.conf:1:8: module name 'a/b': 1 to 64 letters, digits, '_', '-' or "
     "'.'"},
    {"module a\nmodule a\n", "t.conf:2:8: module 'a' already defined at "
                             "line 1"},
    {"module a b\n", "t.conf:1:10: 'b' is not OPTION=VALUE"},
    {"module a =x\n", "t.conf:1:10: '=x' is not OPTION=VALUE"},
    {"module a colour=blue\n",
     "t.conf:1:10: unknown option 'colour' (cafile, servername, connect-to, "
     "timeout, warn, crit, min-version, priority, family, tlsa)"},
    {"module a timeout=\n", "t.conf:1:18: timeout: empty value"},
    {"module a timeout=0\n",
     "t.conf:1:18: timeout: '0' is not a number of seconds above 0 and at "
     "most 300"},
    {"module a timeout=1e9\n",
     "t.conf:1:18: timeout: '1e9' is not a number of seconds above 0 and at "
     "most 300"},
    {"module a timeout=nan\n",
     "t.conf:1:18: timeout: 'nan' is not a number of seconds above 0 and at "
     "most 300"},
    {"module a warn=-1\n",
     "t.conf:1:15: warn: '-1' is not a whole number of days from 0 to "
     "36500"},
    {"module a warn=5\n",
     "t.conf:1:10: crit (7 days) must not exceed warn (5 days)"},
    {"module a warn=10 crit=11\n",
     "t.conf:1:18: crit (11 days) must not exceed warn (10 days)"},
    {"module a min-version=TLS9\n",
     "t.conf:1:22: minimum version must be TLS1.0, TLS1.1, TLS1.2 or "
     "TLS1.3"},
    {"module a priority=BOGUS\n",
     "t.conf:1:19: bad priority string at \"BOGUS\""},
    {"module a family=5\n", "t.conf:1:17: family: '5' is not one of any, "
                            "4, 6"},
    {"module a servername=x servername=y\n",
     "t.conf:1:23: option given twice"},
    {"module a connect-to=[::1\n",
     "t.conf:1:21: '[' without ']' in \"[::1\""},
    {"module a cafile=missing.pem\n",
     "t.conf:1:17: cafile: DIR/missing.pem: the CA file or directory cannot "
     "be read"},
    {"module a tlsa=3:1:1\n",
     "t.conf:1:15: tlsa: '3:1:1' is not USAGE:SELECTOR:MTYPE:HEX (three "
     "numbers 0-255, then hex data)"},
    {"module a tlsa=3:1:256:00\n",
     "t.conf:1:15: tlsa: '3:1:256:00' is not USAGE:SELECTOR:MTYPE:HEX (three "
     "numbers 0-255, then hex data)"},
    {"module a tlsa=3:1:1:abc\n",
     "t.conf:1:21: tlsa: the data must be an even, non-zero number of hex "
     "digits"},
    {"module a tlsa=3:1:1:00zz\n", "t.conf:1:23: tlsa: not a hex digit"},
    {"allow\n", "t.conf:1:7: allow: exactly one address, CIDR block, host "
                "name, *.domain or *"},
    {"allow a b\n", "t.conf:1:9: allow: exactly one address, CIDR block, "
                    "host name, *.domain or *"},
    {"allow 10.0.0.1/8\n", "t.conf:1:7: '10.0.0.1/8' has host bits set"},
    {"allow 10.0.0.0/33\n",
     "t.conf:1:7: '10.0.0.0/33': the prefix length must be 0 to 32"},
    {"allow 10.0.0.0/\n",
     "t.conf:1:7: '10.0.0.0/': the prefix length must be 0 to 32"},
    {"allow 2001:db8::/129\n",
     "t.conf:1:7: '2001:db8::/129': the prefix length must be 0 to 128"},
    {"allow ::ffff:10.0.0.0/64\n",
     "t.conf:1:7: '::ffff:10.0.0.0/64': an IPv4-mapped block needs a prefix "
     "of 96 or more"},
    {"allow 300.1.1.1/8\n",
     "t.conf:1:7: '300.1.1.1' is not an IPv4 or IPv6 address"},
    {"allow -x.example\n",
     "t.conf:1:7: '-x.example' is not an address, CIDR block, host name, "
     "*.domain or *"},
    {"allow *x.example\n",
     "t.conf:1:7: '*x.example' is not an address, CIDR block, host name, "
     "*.domain or *"},
    {"# ok\n\nmodule a\tcolour=x\n",
     "t.conf:3:10: unknown option 'colour' (cafile, servername, connect-to, "
     "timeout, warn, crit, min-version, priority, family, tlsa)"},
    {"module a\x01\n", "t.conf:1:9: control character 0x01"},
};

START_TEST(refused)
{
    struct ec_config c;
    char err[1024], want[1024];
    const char *dirpos;

    memset(&c, 0xa5, sizeof(c));
    /* DIR in a message stands for the test directory */
    dirpos = strstr(bad[_i].message, "DIR");
    if (dirpos)
        snprintf(want, sizeof(want), "%.*s%s%s",
                 (int)(dirpos - bad[_i].message), bad[_i].message, dir,
                 dirpos + 3);
    else
        snprintf(want, sizeof(want), "%s", bad[_i].message);
    ck_assert_int_eq(ec_load_string(&c, bad[_i].text, "t.conf", dir, err,
                                    sizeof(err)), -1);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(loads_every_option)
{
    struct ec_config c;
    const struct ec_module *m;
    char err[1024], text[2048];

    snprintf(text, sizeof(text),
             "# modules\n"
             "module mx cafile=ca.pem servername=mx.example.com "
             "connect-to=[::1]:2525 timeout=2.5 warn=21 crit=3 "
             "min-version=TLS1.3 priority=NORMAL family=6 "
             "tlsa=3:1:1:00ff tlsa=2:0:1:AB  # two records\r\n"
             "allow 192.0.2.0/24\n"
             "allow *.Example.NET.\n");
    ck_assert_msg(ec_load_string(&c, text, "t.conf", dir, err,
                                 sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(c.nmodules, 2); /* and the built-in default */
    m = ec_find(&c, "mx");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->line, 2);
    ck_assert_ptr_nonnull(strstr(m->cafile, "/ca.pem"));
    ck_assert_str_eq(m->servername, "mx.example.com");
    ck_assert_str_eq(m->connect_to, "[::1]:2525");
    ck_assert_int_eq(m->timeout_ms, 2500);
    ck_assert_int_eq(m->warn_days, 21);
    ck_assert_int_eq(m->crit_days, 3);
    ck_assert_str_eq(m->min_version, "TLS1.3");
    ck_assert_int_eq(m->family, 6);
    ck_assert_uint_eq(m->ntlsa, 2);
    ck_assert_int_eq(m->tlsa[1].usage, 2);
    ck_assert_uint_eq(m->tlsa[0].len, 2);
    ck_assert_int_eq(m->tlsa[0].data[1], 0xff);
    m = ec_find(&c, "default");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->line, 0);
    ck_assert_int_eq(m->timeout_ms, 10000);
    ck_assert_ptr_null(ec_find(&c, "nope"));
    ck_assert_uint_eq(c.nallow, 2);
    ck_assert_str_eq(c.allow[1].name, "*.example.net");
    ec_free(&c);
}
END_TEST

START_TEST(applies_to_a_probe)
{
    struct ec_config c;
    mailssl_probe *p;
    char err[1024];

    ck_assert_int_eq(ec_load_string(&c, "module m timeout=0.2 "
                                        "min-version=TLS1.3\n",
                                    "t.conf", NULL, err, sizeof(err)), 0);
    p = mailssl_probe_new("imaps://127.0.0.1:1");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(ec_apply(ec_find(&c, "m"), p, err, sizeof(err)), 0);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_diagnosis(p), MAILSSL_CODE_CONNECT_REFUSED);
    mailssl_probe_free(p);
    ec_free(&c);
}
END_TEST

START_TEST(file_errors)
{
    struct ec_config c;
    char err[1024], path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/none.conf", dir);
    ck_assert_int_eq(ec_load_file(&c, path, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "none.conf: No such file"));
    snprintf(path, sizeof(path), "%s/nul.conf", dir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite("module a\nmod\0ule b\n", 1, 19, f);
    fclose(f);
    ck_assert_int_eq(ec_load_file(&c, path, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "nul.conf:2:4: NUL byte"));
    /* a relative cafile is found next to the file */
    snprintf(path, sizeof(path), "%s/ok.conf", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("module a cafile=ca.pem\n", f);
    fclose(f);
    ck_assert_msg(ec_load_file(&c, path, err, sizeof(err)) == 0, "%s", err);
    ec_free(&c);
}
END_TEST

/* Allow-list: entries, host, allowed? */
static const struct {
    const char *entries; /* blank-separated; "" for the default */
    const char *host;
    int allowed;
} allow[] = {
    {"", "127.0.0.1", 1},
    {"", "127.255.0.9", 1},
    {"", "::1", 1},
    {"", "::ffff:127.0.0.1", 1},
    {"", "localhost", 1},
    {"", "LOCALHOST.", 1},
    {"", "128.0.0.1", 0},
    {"", "::2", 0},
    {"", "mail.example.com", 0},
    {"", "127.1", 0}, /* a name, not an address: not matched as one */
    {"", "", 0},
    {"*", "mail.example.com", 1},
    {"*", "192.0.2.1", 1},
    {"192.0.2.0/24", "192.0.2.200", 1},
    {"192.0.2.0/24", "192.0.3.1", 0},
    {"192.0.2.0/24", "::ffff:192.0.2.7", 1},
    {"192.0.2.0/24", "127.0.0.1", 0}, /* a list replaces the default */
    {"192.0.2.128/25", "192.0.2.127", 0},
    {"192.0.2.128/25", "192.0.2.128", 1},
    {"0.0.0.0/0", "10.1.2.3", 1},
    {"0.0.0.0/0", "2001:db8::1", 0},
    {"2001:db8::/32", "2001:db8:ffff::1", 1},
    {"2001:db8::/32", "2001:db9::1", 0},
    {"::ffff:10.0.0.0/104", "10.9.9.9", 1},
    {"192.0.2.1", "192.0.2.1", 1},
    {"192.0.2.1", "192.0.2.2", 0},
    {"mail.example.com", "MAIL.example.com.", 1},
    {"mail.example.com", "mx.example.com", 0},
    {"*.example.com", "mx.example.com", 1},
    {"*.example.com", "a.b.example.com", 1},
    {"*.example.com", "example.com", 0},
    {"*.example.com", "badexample.com", 0},
    {"*.example.com", "192.0.2.1", 0},
    {"example.com 192.0.2.0/24", "192.0.2.9", 1},
};

START_TEST(allow_list)
{
    struct ec_allow list[4];
    char buf[256], err[256], *tok, *save = NULL;
    size_t n = 0;

    snprintf(buf, sizeof(buf), "%s", allow[_i].entries);
    for (tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        ck_assert_msg(ec_allow_parse(tok, &list[n], err, sizeof(err)) == 0,
                      "%s", err);
        n++;
    }
    ck_assert_msg(ec_allowed(list, n, allow[_i].host) == allow[_i].allowed,
                  "[%s] %s: expected %d", allow[_i].entries, allow[_i].host,
                  allow[_i].allowed);
}
END_TEST

START_TEST(allow_format)
{
    static const char *const in[] = {"*", "10.0.0.0/8", "::1",
                                     "*.Example.com", "::ffff:10.0.0.0/104"};
    static const char *const out[] = {"*", "10.0.0.0/8", "::1/128",
                                      "*.example.com", "10.0.0.0/8"};
    struct ec_allow a;
    char buf[128], err[128];
    size_t i;

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        ck_assert_int_eq(ec_allow_parse(in[i], &a, err, sizeof(err)), 0);
        ec_allow_format(&a, buf, sizeof(buf));
        ck_assert_str_eq(buf, out[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("exporter_config");
    TCase *tc = tcase_create("config");
    SRunner *sr;
    int failed;

    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, refused, 0, sizeof(bad) / sizeof(bad[0]));
    tcase_add_test(tc, loads_every_option);
    tcase_add_test(tc, applies_to_a_probe);
    tcase_add_test(tc, file_errors);
    tcase_add_loop_test(tc, allow_list, 0, sizeof(allow) / sizeof(allow[0]));
    tcase_add_test(tc, allow_format);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
