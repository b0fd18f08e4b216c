/* Tests of lib/store/config.c: the config file of SPEC.md section 3 (one test
 * a
 * message), all-or-nothing loading, reload, save/load round trip. */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl.h"

static char *dir;
static mailssl_store *st;
static mailssl_credential *a_cred; /* a.pem and a.key, loaded once */

#define path(name) certgen_path(dir, (name))

static void write_text(const char *file, const char *text)
{
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    struct certgen_cert leaf, other;
    const struct certgen_cert *chain[1];

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(certgen_two_leaves(&leaf, &other, "mail.example.com"), 0);
    chain[0] = &leaf;
    ck_assert_int_eq(certgen_write_pem(path("a.pem"), chain, 1, NULL), 0);
    ck_assert_int_eq(certgen_write_key(path("a.key"), &leaf), 0);
    ck_assert_int_eq(certgen_write_key(path("other.key"), &other), 0);
    if (certgen_full_speed()) {
        ck_assert_int_eq(certgen_write_key_encrypted(path("enc.key"), &leaf,
                                                     "s3cret"), 0);
        ck_assert_int_eq(certgen_write_p12(path("net.p12"), chain, 1, &leaf,
                                           "p12pass"), 0);
    }
    write_text(path("net.pass"), "p12pass\n");
    chmod(path("net.pass"), 0600);
    write_text(path("garbage.pem"), "-----BEGIN CERTIFICATE-----\nnot "
                                    "base64!\n-----END CERTIFICATE-----\n");
    certgen_free(&leaf);
    certgen_free(&other);
    a_cred = mailssl_credential_new();
    ck_assert_int_eq(mailssl_credential_load_pem_files(a_cred, path("a.pem"),
                                                       path("a.key"), NULL),
                     MAILSSL_OK);
}

static void teardown(void)
{
    mailssl_credential_free(a_cred);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

static void setup_store(void)
{
    st = mailssl_store_new();
    ck_assert_ptr_nonnull(st);
}

static void teardown_store(void)
{
    mailssl_store_free(st);
}

/* Loads text as DIR/t.conf (relative names resolve in DIR). */
static int load(mailssl_store *s, const char *text)
{
    return mailssl_store_load_string(s, text, strlen(text), path("t.conf"));
}

/* ---- one test a message --------------------------------------------- */

struct bad {
    const char *text;   /* the config */
    int rc;
    const char *expect; /* after "DIR/t.conf:"; "%s" is DIR */
};

static const struct bad bads[] = {
    {"frob imaps 192.0.2.1 993\n", MAILSSL_ERR_SYNTAX,
     "1:1: unknown directive \"frob\": expected bind or listen"},
    {"bind imaps 192.0.2.1 993\n", MAILSSL_ERR_SYNTAX,
     "1:26: missing fields: bind SERVICE ADDRESS PORT NAME cert=FILE "
     "[key=FILE] [password=TEXT | password-file=FILE]"},
    {"bind imapz 192.0.2.1 993 * cert=a.pem key=a.key\n", MAILSSL_ERR_SYNTAX,
     "1:6: unknown service \"imapz\": expected smtp, submission, smtps, "
     "submissions, lmtp, imap, imaps, pop3, pop3s, sieve or *"},
    {"bind imaps 192.0.2.300 993 * cert=a.pem\n", MAILSSL_ERR_SYNTAX,
     "1:12: invalid address \"192.0.2.300\": not an IPv4 or IPv6 address, "
     "a CIDR, 0.0.0.0, :: or *"},
    {"bind imaps 10.0.0.0/33 993 * cert=a.pem\n", MAILSSL_ERR_SYNTAX,
     "1:12: invalid address \"10.0.0.0/33\": the prefix length must be a "
     "number from 0 to 32"},
    {"bind imaps ::ffff:10.0.0.0/64 993 * cert=a.pem\n", MAILSSL_ERR_SYNTAX,
     "1:12: invalid address \"::ffff:10.0.0.0/64\": the prefix length must "
     "be a number from 96 to 128"},
    {"bind imaps 2001:0db8:0000:0000:0000:0000:0000:0001:0000:0000:0000:0000:"
     "0000/64 993 * cert=a.pem\n",
     MAILSSL_ERR_SYNTAX,
     "1:12: invalid address \"2001:0db8:0000:0000:0000:0000:0000:0001:0000:"
     "0000:0000:0000:...\": too long"},
    {"bind imaps  10.0.0.1/8 993 * cert=a.pem\n", MAILSSL_ERR_SYNTAX,
     "1:13: invalid address \"10.0.0.1/8\": host bits are set after the "
     "prefix (the network is 10.0.0.0/8)"},
    {"bind imaps * 0 * cert=a.pem\n", MAILSSL_ERR_SYNTAX,
     "1:14: invalid port \"0\": a number from 1 to 65535 or *"},
    {"bind imaps * 993 mail!example.com cert=a.pem\n", MAILSSL_ERR_SYNTAX,
     "1:18: invalid server name \"mail!example.com\": a character that is "
     "not a letter, digit, '-' or '_' (a host name, *.domain or *)"},
    {"bind imaps * 993 192.0.2.1 cert=a.pem\n", MAILSSL_ERR_SYNTAX,
     "1:18: invalid server name \"192.0.2.1\": clients never send an IP "
     "address as a server name (RFC 6066); bind the address with name *"},
    {"bind imaps * 993 * cert=a.pem junk\n", MAILSSL_ERR_SYNTAX,
     "1:31: \"junk\" is not an option: options are NAME=VALUE"},
    {"bind imaps * 993 * cert=a.pem colour=blue\n", MAILSSL_ERR_SYNTAX,
     "1:31: unknown option \"colour\": expected cert, key, password, "
     "password-file or format"},
    {"bind imaps * 993 * cert=a.pem cert=b.pem\n", MAILSSL_ERR_SYNTAX,
     "1:31: option cert is given twice (first at column 20)"},
    {"bind imaps * 993 * cert=a.pem key=\n", MAILSSL_ERR_SYNTAX,
     "1:31: option key has no value"},
    {"bind imaps * 993 * key=a.key\n", MAILSSL_ERR_SYNTAX,
     "1:30: missing cert=FILE: a binding needs a certificate"},
    {"bind imaps * 993 * cert=net.p12 password=x password-file=net.pass\n",
     MAILSSL_ERR_SYNTAX,
     "1:44: give password= or password-file=, not both"},
    {"bind imaps * 993 * cert=a.pem format=der\n", MAILSSL_ERR_SYNTAX,
     "1:31: unknown format \"der\": expected pem or pkcs12"},
    {"bind imaps * 993 * cert=net.p12 key=a.key\n", MAILSSL_ERR_SYNTAX,
     "1:33: key= does not go with a PKCS#12 file, which holds the key "
     "itself"},
    {"bind imaps * 993 * cert=a.pem password-file=net.pass\n",
     MAILSSL_ERR_SYNTAX,
     "1:31: password-file= is for PKCS#12 files; a PEM key takes "
     "password="},
    {"bind imaps * 993 * cert=absent.pem\n", MAILSSL_ERR_IO,
     "1:20: %s/absent.pem: cannot read: No such file or directory"},
    {"bind imaps * 993 * cert=a.pem\n", MAILSSL_ERR_CREDENTIAL,
     "1:20: %s/a.pem: no private key in this file (expected a PEM block "
     "BEGIN ... PRIVATE KEY)"},
    {"bind imaps * 993 * cert=a.key key=a.key\n", MAILSSL_ERR_CREDENTIAL,
     "1:20: %s/a.key: no certificate in this file (expected a PEM block "
     "BEGIN CERTIFICATE)"},
    {"bind imaps * 993 * cert=a.pem key=other.key\n", MAILSSL_ERR_CREDENTIAL,
     "1:20: %s/a.pem: the private key (%s/other.key) does not match the "
     "certificate's public key"},
    {"bind imaps * 993 * cert=a.pem key=enc.key\n", MAILSSL_ERR_CREDENTIAL,
     "1:20: %s/enc.key: the private key is encrypted and no password was "
     "given"},
    {"bind imaps * 993 * cert=net.p12 password=wrong\n",
     MAILSSL_ERR_CREDENTIAL,
     "1:20: %s/net.p12: wrong password for this PKCS#12 file"},
    {"bind imaps * 993 * cert=garbage.pem key=a.key\n", MAILSSL_ERR_CREDENTIAL,
     "1:20: %s/garbage.pem: the certificate cannot be parsed: Base64 "
     "unexpected header error."},
    {"bind imaps * 993 * cert=a.pem key=a.key\n"
     "bind imaps 0.0.0.0/0 993 * cert=a.pem key=a.key\n"
     "bind imaps * 993 * cert=a.pem key=a.key\n",
     MAILSSL_ERR_DUPLICATE,
     "3:6: duplicate binding: line 1 binds the same service, address, port "
     "and name"},
    {"listen imaps 192.0.2.1\n", MAILSSL_ERR_SYNTAX,
     "1:24: missing fields: listen SERVICE ADDRESS PORT"},
    {"listen imaps 192.0.2.1 993 extra\n", MAILSSL_ERR_SYNTAX,
     "1:28: too many fields: listen SERVICE ADDRESS PORT"},
    {"listen imaps * 993\n", MAILSSL_ERR_SYNTAX,
     "1:14: a listener needs an exact address, or 0.0.0.0 / :: for every "
     "address of a family, not \"*\""},
    {"listen imaps 192.0.2.0/24 993\n", MAILSSL_ERR_SYNTAX,
     "1:14: a listener needs an exact address, or 0.0.0.0 / :: for every "
     "address of a family, not a CIDR (\"192.0.2.0/24\")"},
    {"listen * 192.0.2.1 993\n", MAILSSL_ERR_SYNTAX,
     "1:8: a listener serves one service, not *"},
    {"listen imaps 192.0.2.1 *\n", MAILSSL_ERR_SYNTAX,
     "1:24: invalid port \"*\": a number from 1 to 65535"},
    {"listen imaps 192.0.2.1 993\n# comment\nlisten imaps ::ffff:192.0.2.1 "
     "993\n",
     MAILSSL_ERR_DUPLICATE,
     "3:8: duplicate listener: line 1 declares the same service, address "
     "and port"},
    {"bind a b c d e f g h i j k l m n o p q\n", MAILSSL_ERR_SYNTAX,
     "1:1: more than 16 fields on one line"},
};

START_TEST(error_message)
{
    const struct bad *b = &bads[_i];
    char expect[1024], full[1200], before[4096];
    char *saved;

    if (!certgen_full_speed() && (strstr(b->text, "enc.key") ||
                                  strstr(b->text, "password=wrong")))
        return; /* key derivations: see certgen.h */
    /* a store with one binding: a failing load must leave it as it was */
    ck_assert_int_eq(mailssl_store_add(st, MAILSSL_SERVICE_IMAPS, "*", 993,
                                       "*", a_cred),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_add_listener(st, MAILSSL_SERVICE_IMAPS,
                                                "192.0.2.1", 993),
                     MAILSSL_OK);
    saved = mailssl_store_to_string(st);
    ck_assert_ptr_nonnull(saved);
    snprintf(before, sizeof before, "%s", saved);
    mailssl_free(saved);

    ck_assert_int_eq(load(st, b->text), b->rc);
    snprintf(expect, sizeof expect, b->expect, dir, dir);
    snprintf(full, sizeof full, "%s:%s", path("t.conf"), expect);
    ck_assert_str_eq(mailssl_store_error(st), full);

    ck_assert_int_eq(mailssl_store_count(st), 1);
    ck_assert_int_eq(mailssl_store_listener_count(st), 1);
    saved = mailssl_store_to_string(st);
    ck_assert_str_eq(saved, before);
    mailssl_free(saved);
}
END_TEST

START_TEST(error_long_line)
{
    char *text = malloc(5000);
    memset(text, 'x', 4999);
    text[4999] = '\0';
    ck_assert_int_eq(mailssl_store_load_string(st, text, 4999, "long.conf"),
                     MAILSSL_ERR_TOO_LONG);
    ck_assert_str_eq(mailssl_store_error(st),
                     "long.conf:1:4097: line longer than 4096 characters");
    free(text);
}
END_TEST

START_TEST(error_nul_byte)
{
    ck_assert_int_eq(mailssl_store_load_string(st, "listen\0x", 8, NULL),
                     MAILSSL_ERR_SYNTAX);
    ck_assert_str_eq(mailssl_store_error(st),
                     "config:1:7: NUL byte in a config line");
}
END_TEST

START_TEST(error_not_a_regular_file)
{
    char expect[700];
    ck_assert_int_eq(mailssl_store_load_file(st, dir), MAILSSL_ERR_IO);
    snprintf(expect, sizeof expect, "%s: not a regular file of at most 64 MiB",
             dir);
    ck_assert_str_eq(mailssl_store_error(st), expect);
}
END_TEST

START_TEST(error_save_to_missing_directory)
{
    char expect[700];
    ck_assert_int_eq(mailssl_store_add(st, MAILSSL_SERVICE_IMAPS, "*", 993,
                                       "*", a_cred),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_save_file(st, path("no/such.conf")),
                     MAILSSL_ERR_IO);
    snprintf(expect, sizeof expect,
             "%s: cannot write: No such file or directory",
             path("no/such.conf"));
    ck_assert_str_eq(mailssl_store_error(st), expect);
}
END_TEST

START_TEST(error_unreadable_file)
{
    char expect[700];
    ck_assert_int_eq(mailssl_store_load_file(st, path("absent.conf")),
                     MAILSSL_ERR_IO);
    snprintf(expect, sizeof expect,
             "%s: cannot read: No such file or directory",
             path("absent.conf"));
    ck_assert_str_eq(mailssl_store_error(st), expect);
}
END_TEST

/* ---- good files ------------------------------------------------------ */

static const char good[] =
    "# protocol  address      port  name               credential\n"
    "bind pop3s  0.0.0.0      995   *                  cert=a.pem "
    "key=a.key\r\n"
    "bind imaps  192.0.2.10   993   Mail.Example.com.  cert=a.pem key=a.key "
    "# same files: one credential\n"
    "bind *      2001:db8::/64 *    *.example.net      cert=net.p12 "
    "password-file=net.pass\n"
    "bind submissions * 465 * cert=a.pem key=enc.key password=s3cret\n"
    "\n"
    "   # indented comment\n"
    "listen pop3s 192.0.2.10  995\n"
    "listen imaps 192.0.2.10  993\n"
    "listen smtps :: 465";

/* good without its PKCS#12 and encrypted-key lines, under valgrind */
static const char good_fast[] =
    "bind pop3s  0.0.0.0      995   *                  cert=a.pem "
    "key=a.key\r\n"
    "bind imaps  192.0.2.10   993   Mail.Example.com.  cert=a.pem key=a.key\n"
    "bind *      2001:db8::/64 *    *.example.net      cert=a.pem "
    "key=./a.key\n"
    "bind submissions * 465 * cert=a.pem key=a.key\n"
    "listen pop3s 192.0.2.10  995\n"
    "listen imaps 192.0.2.10  993\n"
    "listen smtps :: 465";

static const char *good_text(void)
{
    return certgen_full_speed() ? good : good_fast;
}

START_TEST(good_file_loads)
{
    mailssl_credential *a, *b, *c;
    ck_assert_int_eq(load(st, good_text()), MAILSSL_OK);
    ck_assert_str_eq(mailssl_store_error(st), "");
    ck_assert_int_eq(mailssl_store_count(st), 4);
    ck_assert_int_eq(mailssl_store_listener_count(st), 3);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.10", 995,
                                               MAILSSL_SERVICE_POP3S, NULL,
                                               &a, NULL, 0),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.10", 993,
                                               MAILSSL_SERVICE_IMAPS,
                                               "mail.example.com", &b, NULL,
                                               0),
                     MAILSSL_OK);
    /* the same files give the same credential object */
    ck_assert_ptr_eq(a, b);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "2001:db8::5", 4190,
                                               MAILSSL_SERVICE_SIEVE,
                                               "x.example.net", &c, NULL, 0),
                     MAILSSL_OK);
    ck_assert_ptr_ne(a, c);
    mailssl_credential_free(a);
    mailssl_credential_free(b);
    mailssl_credential_free(c);
}
END_TEST

START_TEST(relative_paths_use_config_directory)
{
    /* load_file: relative names resolve against the file's directory,
     * whatever the current directory */
    write_text(path("rel.conf"), "bind imaps * 993 * cert=a.pem key=a.key\n");
    ck_assert_int_eq(chdir("/"), 0);
    ck_assert_int_eq(mailssl_store_load_file(st, path("rel.conf")),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_count(st), 1);
    /* load_string with a bare name: the current directory ("/") */
    ck_assert_int_eq(mailssl_store_load_string(
                         st, "bind imaps * 993 * cert=a.pem key=a.key\n", 40,
                         "bare"),
                     MAILSSL_ERR_IO);
    ck_assert_str_eq(mailssl_store_error(st),
                     "bare:1:20: a.pem: cannot read: No such file or "
                     "directory");
}
END_TEST

START_TEST(round_trip)
{
    mailssl_store *again = mailssl_store_new();
    char *one, *two, *three;
    ck_assert_int_eq(load(st, good_text()), MAILSSL_OK);
    one = mailssl_store_to_string(st);
    ck_assert_ptr_nonnull(one);
    ck_assert_int_eq(mailssl_store_load_string(again, one, strlen(one),
                                               "copy"),
                     MAILSSL_OK);
    two = mailssl_store_to_string(again);
    ck_assert_str_eq(one, two);
    ck_assert_ptr_nonnull(strstr(one, "bind imaps 192.0.2.10 993 "
                                      "mail.example.com cert="));
    ck_assert_ptr_nonnull(strstr(one, "bind smtps * 465 * cert="));
    if (certgen_full_speed())
        ck_assert_ptr_nonnull(strstr(one, "password-file="));
    ck_assert_ptr_nonnull(strstr(one, "listen smtps :: 465\n"));
    /* through a file too */
    ck_assert_int_eq(mailssl_store_save_file(again, path("saved.conf")),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_load_file(st, path("saved.conf")),
                     MAILSSL_OK);
    three = mailssl_store_to_string(st);
    ck_assert_str_eq(one, three);
    mailssl_free(one);
    mailssl_free(two);
    mailssl_free(three);
    mailssl_store_free(again);
}
END_TEST

START_TEST(memory_credential_cannot_be_saved)
{
    mailssl_credential *c = mailssl_credential_new();
    FILE *f = fopen(path("a.pem"), "r");
    char cert[8192], key[8192];
    size_t n = fread(cert, 1, sizeof cert - 1, f);
    fclose(f);
    cert[n] = '\0';
    f = fopen(path("a.key"), "r");
    n = fread(key, 1, sizeof key - 1, f);
    fclose(f);
    key[n] = '\0';
    ck_assert_int_eq(mailssl_credential_load_pem_memory(c, cert, strlen(cert),
                                                        key, strlen(key),
                                                        NULL),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_add(st, MAILSSL_SERVICE_IMAPS, "*", 993,
                                       "*", c),
                     MAILSSL_OK);
    mailssl_credential_free(c);
    ck_assert_ptr_null(mailssl_store_to_string(st));
    ck_assert_str_eq(mailssl_store_error(st),
                     "binding \"imaps * 993 *\": its credential was loaded "
                     "from memory, a config file cannot name it");
    ck_assert_int_eq(mailssl_store_save_file(st, path("x.conf")),
                     MAILSSL_ERR_STATE);
}
END_TEST

START_TEST(reload_replaces_and_failure_keeps)
{
    mailssl_credential *c;
    write_text(path("r.conf"), "bind imaps * 993 * cert=a.pem key=a.key\n");
    ck_assert_int_eq(mailssl_store_load_file(st, path("r.conf")), MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.1", 993,
                                               MAILSSL_SERVICE_IMAPS, NULL,
                                               &c, NULL, 0),
                     MAILSSL_OK);
    mailssl_credential_free(c);
    /* success: the new table replaces the old one whole */
    write_text(path("r.conf"), "bind pop3s * 995 * cert=a.pem key=a.key\n");
    ck_assert_int_eq(mailssl_store_load_file(st, path("r.conf")), MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.1", 993,
                                               MAILSSL_SERVICE_IMAPS, NULL,
                                               &c, NULL, 0),
                     MAILSSL_ERR_NOT_FOUND);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.1", 995,
                                               MAILSSL_SERVICE_POP3S, NULL,
                                               &c, NULL, 0),
                     MAILSSL_OK);
    mailssl_credential_free(c);
    /* failure on the last line: nothing of the file applies */
    write_text(path("r.conf"), "bind imaps * 993 * cert=a.pem key=a.key\n"
                               "bind smtp * 25 * cert=a.pem key=other.key\n");
    ck_assert_int_eq(mailssl_store_load_file(st, path("r.conf")),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(mailssl_store_error(st), "r.conf:2:18: "));
    ck_assert_int_eq(mailssl_store_count(st), 1);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.1", 995,
                                               MAILSSL_SERVICE_POP3S, NULL,
                                               &c, NULL, 0),
                     MAILSSL_OK);
    mailssl_credential_free(c);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.1", 993,
                                               MAILSSL_SERVICE_IMAPS, NULL,
                                               &c, NULL, 0),
                     MAILSSL_ERR_NOT_FOUND);
}
END_TEST

struct worker {
    mailssl_store *s;
    int stop;
    long lookups, errors;
};

static void *lookup_loop(void *arg)
{
    struct worker *w = arg;
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        mailssl_credential *c = NULL;
        if (mailssl_store_lookup_text(w->s, "192.0.2.10", 993,
                                      MAILSSL_SERVICE_IMAPS,
                                      "mail.example.com", &c, NULL,
                                      0) != MAILSSL_OK ||
            !mailssl_credential_usable(c))
            w->errors++;
        mailssl_credential_free(c);
        __atomic_add_fetch(&w->lookups, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

START_TEST(lookups_during_reload)
{
    /* PEM only: PKCS#12 and encrypted keys cost a key derivation each */
    static const char one[] =
        "bind imaps 192.0.2.10 993 mail.example.com cert=a.pem key=a.key\n"
        "listen imaps 192.0.2.10 993\n";
    static const char other[] =
        "bind * 192.0.2.0/24 * * cert=a.pem key=a.key\n";
    static const char broken[] =
        "bind * 192.0.2.0/24 * * cert=a.pem key=other.key\n";
    struct worker w[2];
    pthread_t th[2];
    int i;

    ck_assert_int_eq(load(st, one), MAILSSL_OK);
    for (i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].s = st;
        ck_assert_int_eq(pthread_create(&th[i], NULL, lookup_loop, &w[i]), 0);
    }
    /* every reader is running before the swaps start */
    for (i = 0; i < 2; i++)
        while (__atomic_load_n(&w[i].lookups, __ATOMIC_ACQUIRE) == 0)
            sched_yield();
    for (i = 0; i < (certgen_full_speed() ? 60 : 10); i++) {
        ck_assert_int_eq(load(st, i % 2 ? one : other), MAILSSL_OK);
        ck_assert_int_eq(load(st, broken), MAILSSL_ERR_CREDENTIAL);
    }
    for (i = 0; i < 2; i++) {
        __atomic_store_n(&w[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].errors, 0);
        ck_assert_int_gt(w[i].lookups, 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *e = tcase_create("errors"), *g = tcase_create("files");

    /* files once per test case (key derivations are slow), a fresh store
     * per test */
    tcase_add_unchecked_fixture(e, setup, teardown);
    tcase_add_unchecked_fixture(g, setup, teardown);
    tcase_add_checked_fixture(e, setup_store, teardown_store);
    tcase_add_checked_fixture(g, setup_store, teardown_store);
    tcase_add_loop_test(e, error_message, 0,
                        (int)(sizeof bads / sizeof bads[0]));
    tcase_add_test(e, error_long_line);
    tcase_add_test(e, error_nul_byte);
    tcase_add_test(e, error_unreadable_file);
    tcase_add_test(e, error_not_a_regular_file);
    tcase_add_test(e, error_save_to_missing_directory);
    tcase_add_test(g, good_file_loads);
    tcase_add_test(g, relative_paths_use_config_directory);
    tcase_add_test(g, round_trip);
    tcase_add_test(g, memory_credential_cannot_be_saved);
    tcase_add_test(g, reload_replaces_and_failure_keeps);
    tcase_add_test(g, lookups_during_reload);
    suite_add_tcase(s, e);
    suite_add_tcase(s, g);
    return check_run(s, CK_FORK_GETENV);
}
