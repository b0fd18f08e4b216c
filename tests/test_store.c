/* Tests of lib/store.c: every row of the precedence table of SPEC.md
 * section 3, every normalization rule, duplicates, removal, misses,
 * strict mode, and lookups in threads while the table is swapped. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl.h"

#define NCRED 8
static mailssl_credential *cred[NCRED];
static mailssl_store *st;
static char *cert_pem, *key_pem;

/* The credentials once for the whole run (unchecked fixture: loading
 * checks each key against its certificate, which is slow under
 * valgrind); a fresh store per test. */
static void setup_creds(void)
{
    static const char *const names[] = {"mail.example.com", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert leaf;
    int i;

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    o.dns = names;
    ck_assert_int_eq(certgen_make(&leaf, &o, NULL), 0);
    cert_pem = certgen_cert_pem(&leaf);
    key_pem = certgen_key_pem(&leaf);
    certgen_free(&leaf);
    /* distinct objects with the same content: the winner is told apart by
     * the pointer a lookup returns */
    for (i = 0; i < NCRED; i++) {
        cred[i] = mailssl_credential_new();
        ck_assert_int_eq(mailssl_credential_load_pem_memory(
                             cred[i], cert_pem, strlen(cert_pem), key_pem,
                             strlen(key_pem), NULL),
                         MAILSSL_OK);
    }
}

static void teardown_creds(void)
{
    int i;
    for (i = 0; i < NCRED; i++)
        mailssl_credential_free(cred[i]);
    free(cert_pem);
    free(key_pem);
    mailssl_deinit();
}

static void setup(void)
{
    st = mailssl_store_new();
    ck_assert_ptr_nonnull(st);
}

static void teardown(void)
{
    mailssl_store_free(st);
}

static void add(int k, int service, const char *addr, int port,
                const char *name)
{
    int rc = mailssl_store_add(st, service, addr, port, name, cred[k]);
    ck_assert_msg(rc == MAILSSL_OK, "add %s %d %s: %s", addr, port,
                  name ? name : "(null)", mailssl_store_error(st));
}

/* Index of the credential a lookup returns, -1 on a miss. */
static int who_in(mailssl_store *s, const char *addr, int port, int service,
                  const char *sni)
{
    mailssl_credential *c = NULL;
    char why[512];
    int rc = mailssl_store_lookup_text(s, addr, port, service, sni, &c, why,
                                       sizeof why);
    int i;
    if (rc == MAILSSL_ERR_NOT_FOUND) {
        ck_assert_ptr_null(c);
        ck_assert_msg(why[0] != '\0', "a miss says why");
        return -1;
    }
    ck_assert_int_eq(rc, MAILSSL_OK);
    for (i = 0; i < NCRED; i++)
        if (c == cred[i])
            break;
    mailssl_credential_free(c);
    ck_assert_int_lt(i, NCRED);
    return i;
}

static int who(const char *addr, int port, int service, const char *sni)
{
    return who_in(st, addr, port, service, sni);
}

#define IMAPS MAILSSL_SERVICE_IMAPS
#define ANYS MAILSSL_SERVICE_ANY
#define ANYP MAILSSL_PORT_ANY

/* ---- precedence: one test a row of the table, then across fields ---- */

START_TEST(name_exact_beats_wildcard)
{
    add(0, IMAPS, "*", ANYP, "*.example.com");
    add(1, IMAPS, "*", ANYP, "mail.example.com");
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "mail.example.com"), 1);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "imap.example.com"), 0);
}
END_TEST

START_TEST(name_wildcard_beats_any)
{
    add(0, IMAPS, "*", ANYP, "*");
    add(1, IMAPS, "*", ANYP, "*.example.com");
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "imap.example.com"), 1);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "imap.example.org"), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, NULL), 0);
}
END_TEST

START_TEST(name_wildcard_is_one_label)
{
    add(1, IMAPS, "*", ANYP, "*.example.com");
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "a.example.com"), 1);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "example.com"), -1);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "a.b.example.com"), -1);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "aexample.com"), -1);
}
END_TEST

START_TEST(address_exact_beats_cidr)
{
    add(0, IMAPS, "192.0.2.0/24", ANYP, "*");
    add(1, IMAPS, "192.0.2.10", ANYP, "*");
    ck_assert_int_eq(who("192.0.2.10", 993, IMAPS, NULL), 1);
    ck_assert_int_eq(who("192.0.2.11", 993, IMAPS, NULL), 0);
}
END_TEST

START_TEST(address_longer_prefix_wins)
{
    add(0, IMAPS, "10.0.0.0/8", ANYP, "*");
    add(1, IMAPS, "10.1.0.0/16", ANYP, "*");
    add(2, IMAPS, "10.1.2.0/24", ANYP, "*");
    add(3, IMAPS, "2001:db8::/32", ANYP, "*");
    add(4, IMAPS, "2001:db8:1::/48", ANYP, "*");
    add(5, IMAPS, "2001:db8:1:2::/64", ANYP, "*");
    ck_assert_int_eq(who("10.1.2.3", 993, IMAPS, NULL), 2);
    ck_assert_int_eq(who("10.1.3.3", 993, IMAPS, NULL), 1);
    ck_assert_int_eq(who("10.2.3.3", 993, IMAPS, NULL), 0);
    ck_assert_int_eq(who("11.2.3.3", 993, IMAPS, NULL), -1);
    ck_assert_int_eq(who("2001:db8:1:2::5", 993, IMAPS, NULL), 5);
    ck_assert_int_eq(who("2001:db8:1:3::5", 993, IMAPS, NULL), 4);
    ck_assert_int_eq(who("2001:db8:2::5", 993, IMAPS, NULL), 3);
    ck_assert_int_eq(who("2001:db9::5", 993, IMAPS, NULL), -1);
}
END_TEST

START_TEST(address_cidr_beats_family_default)
{
    add(0, IMAPS, "0.0.0.0", ANYP, "*");
    add(1, IMAPS, "192.0.2.0/24", ANYP, "*");
    add(2, IMAPS, "::", ANYP, "*");
    add(3, IMAPS, "2001:db8::/64", ANYP, "*");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 1);
    ck_assert_int_eq(who("198.51.100.7", 993, IMAPS, NULL), 0);
    ck_assert_int_eq(who("2001:db8::7", 993, IMAPS, NULL), 3);
    ck_assert_int_eq(who("2001:db9::7", 993, IMAPS, NULL), 2);
}
END_TEST

START_TEST(address_family_default_beats_star)
{
    add(0, IMAPS, "*", ANYP, "*");
    add(1, IMAPS, "0.0.0.0", ANYP, "*");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 1);
    /* 0.0.0.0 is every IPv4 address, never an IPv6 one */
    ck_assert_int_eq(who("2001:db8::7", 993, IMAPS, NULL), 0);
}
END_TEST

START_TEST(address_ipv6_default_is_ipv6_only)
{
    add(2, IMAPS, "::", ANYP, "*");
    ck_assert_int_eq(who("2001:db8::7", 993, IMAPS, NULL), 2);
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), -1);
}
END_TEST

START_TEST(port_number_beats_star)
{
    add(0, IMAPS, "*", ANYP, "*");
    add(1, IMAPS, "*", 993, "*");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 1);
    ck_assert_int_eq(who("192.0.2.7", 1993, IMAPS, NULL), 0);
}
END_TEST

START_TEST(service_beats_star)
{
    add(0, ANYS, "*", ANYP, "*");
    add(1, IMAPS, "*", ANYP, "*");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 1);
    ck_assert_int_eq(who("192.0.2.7", 993, MAILSSL_SERVICE_POP3S, NULL), 0);
}
END_TEST

START_TEST(name_beats_address)
{
    add(0, IMAPS, "192.0.2.7", 993, "*");
    add(1, ANYS, "*", ANYP, "*.example.com");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, "mail.example.com"), 1);
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 0);
}
END_TEST

START_TEST(address_beats_port)
{
    add(0, IMAPS, "0.0.0.0", 993, "*");
    add(1, ANYS, "192.0.2.0/24", ANYP, "*");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 1);
    ck_assert_int_eq(who("198.51.100.7", 993, IMAPS, NULL), 0);
}
END_TEST

START_TEST(port_beats_service)
{
    add(0, IMAPS, "*", ANYP, "*");
    add(1, ANYS, "*", 993, "*");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 1);
    ck_assert_int_eq(who("192.0.2.7", 994, IMAPS, NULL), 0);
}
END_TEST

START_TEST(nothing_matches_other_service_or_port)
{
    add(0, IMAPS, "192.0.2.7", 993, "mail.example.com");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, "mail.example.com"), 0);
    ck_assert_int_eq(who("192.0.2.7", 993, MAILSSL_SERVICE_POP3S,
                         "mail.example.com"), -1);
    ck_assert_int_eq(who("192.0.2.7", 995, IMAPS, "mail.example.com"), -1);
    ck_assert_int_eq(who("192.0.2.8", 993, IMAPS, "mail.example.com"), -1);
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), -1);
}
END_TEST

/* ---- normalization ---------------------------------------------------- */

START_TEST(norm_mapped_ipv6_is_ipv4)
{
    add(0, IMAPS, "192.0.2.7", 993, "*");
    add(1, IMAPS, "::ffff:198.51.100.0/120", 993, "*");
    ck_assert_int_eq(who("::ffff:192.0.2.7", 993, IMAPS, NULL), 0);
    ck_assert_int_eq(who("198.51.100.9", 993, IMAPS, NULL), 1);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "::ffff:192.0.2.7", 993,
                                       "*", cred[2]),
                     MAILSSL_ERR_DUPLICATE);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "198.51.100.0/24", 993,
                                       "*", cred[2]),
                     MAILSSL_ERR_DUPLICATE);
}
END_TEST

START_TEST(norm_mapped_sockaddr_is_ipv4)
{
    struct sockaddr_in6 s6;
    struct sockaddr_in s4;
    mailssl_credential *c;
    add(0, IMAPS, "192.0.2.7", 993, "*");
    add(1, IMAPS, "2001:db8::1", 993, "*");
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(993);
    inet_pton(AF_INET6, "::ffff:192.0.2.7", &s6.sin6_addr);
    ck_assert_int_eq(mailssl_store_lookup(st, (struct sockaddr *)&s6, IMAPS,
                                          NULL, &c, NULL, 0),
                     MAILSSL_OK);
    ck_assert_ptr_eq(c, cred[0]);
    mailssl_credential_free(c);
    inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
    ck_assert_int_eq(mailssl_store_lookup(st, (struct sockaddr *)&s6, IMAPS,
                                          NULL, &c, NULL, 0),
                     MAILSSL_OK);
    ck_assert_ptr_eq(c, cred[1]);
    mailssl_credential_free(c);
    memset(&s4, 0, sizeof s4);
    s4.sin_family = AF_INET;
    s4.sin_port = htons(993);
    inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
    ck_assert_int_eq(mailssl_store_lookup(st, (struct sockaddr *)&s4, IMAPS,
                                          NULL, &c, NULL, 0),
                     MAILSSL_OK);
    ck_assert_ptr_eq(c, cred[0]);
    mailssl_credential_free(c);
    s4.sin_port = htons(994);
    ck_assert_int_eq(mailssl_store_lookup(st, (struct sockaddr *)&s4, IMAPS,
                                          NULL, &c, NULL, 0),
                     MAILSSL_ERR_NOT_FOUND);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(norm_names_lowercase_no_trailing_dot)
{
    add(0, IMAPS, "*", ANYP, "Mail.Example.COM.");
    add(1, IMAPS, "*", ANYP, "*.Example.NET.");
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "mail.example.com"), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "MAIL.example.com."), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "A.EXAMPLE.NET"), 1);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", ANYP,
                                       "mail.example.com", cred[2]),
                     MAILSSL_ERR_DUPLICATE);
}
END_TEST

START_TEST(norm_invalid_sni_is_ignored)
{
    add(0, IMAPS, "*", ANYP, "*");
    add(1, IMAPS, "*", ANYP, "mail.example.com");
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "bad name!"), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "a..b"), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, ""), 0);
    /* RFC 952/1123: no label starts or ends with a hyphen */
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "-mail.example.com"), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "mail-.example.com"), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "mail.example.com-"), 0);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", ANYP,
                                       "-mail.example.com", cred[1]),
                     MAILSSL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mailssl_store_error(st), "starts with '-'"));
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", ANYP,
                                       "mail.example-.com", cred[1]),
                     MAILSSL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mailssl_store_error(st), "ends with '-'"));
    /* strict mode refuses unknown names, but an invalid one is none */
    ck_assert_int_eq(mailssl_store_set_strict(st, 1), MAILSSL_OK);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "bad name!"), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "-mail.example.com"), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "mail-.example.com"), 0);
    /* a valid unknown name gets nothing in strict mode */
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "mail2.example.com"), -1);
}
END_TEST

START_TEST(norm_ip_literal_sni_is_ignored)
{
    add(0, IMAPS, "*", ANYP, "*");
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "192.0.2.1"), 0);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "2001:db8::1"), 0);
    ck_assert_int_eq(mailssl_store_set_strict(st, 1), MAILSSL_OK);
    ck_assert_int_eq(who("192.0.2.1", 993, IMAPS, "192.0.2.1"), 0);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", ANYP, "192.0.2.1",
                                       cred[1]),
                     MAILSSL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mailssl_store_error(st), "RFC 6066"));
}
END_TEST

START_TEST(norm_full_prefix_is_exact)
{
    add(0, IMAPS, "192.0.2.7/32", 993, "*");
    add(1, IMAPS, "2001:db8::7/128", 993, "*");
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "192.0.2.7", 993, "*",
                                       cred[2]),
                     MAILSSL_ERR_DUPLICATE);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "2001:db8::7", 993, "*",
                                       cred[2]),
                     MAILSSL_ERR_DUPLICATE);
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 0);
    ck_assert_int_eq(who("2001:db8::7", 993, IMAPS, NULL), 1);
}
END_TEST

START_TEST(norm_zero_prefix_is_family_default)
{
    add(0, IMAPS, "0.0.0.0/0", 993, "*");
    add(1, IMAPS, "::/0", 993, "*");
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "0.0.0.0", 993, "*",
                                       cred[2]),
                     MAILSSL_ERR_DUPLICATE);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "::", 993, "*", cred[2]),
                     MAILSSL_ERR_DUPLICATE);
    ck_assert_int_eq(who("203.0.113.1", 993, IMAPS, NULL), 0);
    ck_assert_int_eq(who("2001:db8::1", 993, IMAPS, NULL), 1);
}
END_TEST

START_TEST(norm_cidr_host_bits_is_error)
{
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "192.0.2.1/24", 993, "*",
                                       cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_str_eq(mailssl_store_error(st),
                     "invalid address \"192.0.2.1/24\": host bits are set "
                     "after the prefix (the network is 192.0.2.0/24)");
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "2001:db8::1/64", 993, "*",
                                       cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_count(st), 0);
}
END_TEST

START_TEST(norm_submissions_is_smtps)
{
    ck_assert_int_eq(mailssl_service_from_name("submissions"),
                     MAILSSL_SERVICE_SMTPS);
    add(0, MAILSSL_SERVICE_SMTPS, "*", 465, "*");
    ck_assert_int_eq(who("192.0.2.1", 465,
                         mailssl_service_from_name("submissions"), NULL),
                     0);
}
END_TEST

/* ---- add, remove, misses ------------------------------------------- */

START_TEST(duplicate_is_rejected_with_message)
{
    add(0, IMAPS, "192.0.2.7", 993, "mail.example.com");
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "192.0.2.7", 993,
                                       "mail.example.com", cred[1]),
                     MAILSSL_ERR_DUPLICATE);
    ck_assert_str_eq(mailssl_store_error(st),
                     "duplicate binding: \"imaps 192.0.2.7 993 "
                     "mail.example.com\" is already bound");
    ck_assert_int_eq(mailssl_store_count(st), 1);
    /* the first one stays */
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, "mail.example.com"), 0);
}
END_TEST

START_TEST(remove_and_readd)
{
    add(0, IMAPS, "192.0.2.0/24", 993, "*");
    add(1, IMAPS, "192.0.2.7", 993, "*");
    ck_assert_int_eq(mailssl_store_remove(st, IMAPS, "192.0.2.7", 993, "*"),
                     MAILSSL_OK);
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 0);
    ck_assert_int_eq(mailssl_store_remove(st, IMAPS, "192.0.2.7", 993, "*"),
                     MAILSSL_ERR_NOT_FOUND);
    ck_assert_str_eq(mailssl_store_error(st),
                     "no binding \"imaps 192.0.2.7 993 *\" to remove");
    ck_assert_int_eq(mailssl_store_remove(st, IMAPS, "192.0.2.0/24", 993,
                                          NULL),
                     MAILSSL_OK);
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), -1);
    ck_assert_int_eq(mailssl_store_count(st), 0);
    add(2, IMAPS, "192.0.2.7", 993, "*");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 2);
}
END_TEST

START_TEST(miss_says_why)
{
    mailssl_credential *c;
    char why[512];
    add(0, IMAPS, "192.0.2.7", 993, "*");
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.8", 993, IMAPS,
                                               NULL, &c, why, sizeof why),
                     MAILSSL_ERR_NOT_FOUND);
    ck_assert_str_eq(why, "no certificate: none of the 1 bindings covers "
                          "imaps on 192.0.2.8 port 993 for a client "
                          "sending no server name");
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.8", 993, IMAPS,
                                               "Mail.Example.com", &c, why,
                                               sizeof why),
                     MAILSSL_ERR_NOT_FOUND);
    ck_assert_str_eq(why, "no certificate: none of the 1 bindings covers "
                          "imaps on 192.0.2.8 port 993 for server name "
                          "\"mail.example.com\"");
}
END_TEST

START_TEST(strict_refuses_unknown_names)
{
    mailssl_credential *c;
    char why[512];
    add(0, IMAPS, "*", ANYP, "*");
    add(1, IMAPS, "*", ANYP, "mail.example.com");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, "other.example.com"), 0);
    ck_assert_int_eq(mailssl_store_set_strict(st, 1), MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.7", 993, IMAPS,
                                               "other.example.com", &c, why,
                                               sizeof why),
                     MAILSSL_ERR_NOT_FOUND);
    ck_assert_str_eq(why, "no certificate: server name \"other.example.com\" "
                          "is not bound for imaps on 192.0.2.7 port 993 "
                          "(strict mode refuses unknown names)");
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, "mail.example.com"), 1);
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, NULL), 0);
    ck_assert_int_eq(mailssl_store_set_strict(st, 2), MAILSSL_ERR_INVALID);
}
END_TEST

START_TEST(bad_arguments)
{
    mailssl_credential *c = mailssl_credential_new(), *out;
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", ANYP, "*", c),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_str_eq(mailssl_store_error(st),
                     "the credential cannot be bound: it is not loaded");
    mailssl_credential_free(c);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", 0, "*", cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", 65536, "*", cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add(st, 99, "*", 1, "*", cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "mail", 1, "*", cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "10.0.0.0/33", 1, "*",
                                       cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", 1, "*.", cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", 1, "a b", cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add(st, IMAPS, "*", 1, "*", NULL),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add(NULL, IMAPS, "*", 1, "*", cred[0]),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "*", 1, IMAPS, NULL, &out,
                                               NULL, 0),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.1", 1, ANYS,
                                               NULL, &out, NULL, 0),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_count(st), 0);
    mailssl_store_free(NULL);
}
END_TEST

START_TEST(listeners_api)
{
    ck_assert_int_eq(mailssl_store_add_listener(st, IMAPS, "192.0.2.7", 993),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_add_listener(st, IMAPS, "0.0.0.0", 993),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_add_listener(st, IMAPS, "192.0.2.7", 993),
                     MAILSSL_ERR_DUPLICATE);
    ck_assert_int_eq(mailssl_store_add_listener(st, IMAPS, "*", 993),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add_listener(st, IMAPS, "10.0.0.0/8", 993),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add_listener(st, ANYS, "10.0.0.1", 993),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_add_listener(st, IMAPS, "10.0.0.1", ANYP),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_store_listener_count(st), 2);
}
END_TEST

/* ---- the store against a linear reference ---------------------------- */

struct ref {
    int service, port, kind; /* kind 0 exact 1 wild 2 any */
    char name[32];
    int fam, prefix;
    unsigned char b[16];
    int k;
};

static int ref_addr_match(const struct ref *r, const unsigned char *a4)
{
    int i;
    if (r->fam == 0)
        return 1;
    if (r->fam != 4)
        return 0;
    for (i = 0; i < r->prefix; i++) {
        int bit = 7 - i % 8;
        if (((a4[i / 8] >> bit) & 1) != ((r->b[i / 8] >> bit) & 1))
            return 0;
    }
    return 1;
}

/* rank of a match, larger is more specific: name, address, port, service */
static long ref_rank(const struct ref *r)
{
    long name = r->kind == 0 ? 2 : r->kind == 1 ? 1 : 0;
    long addr = r->fam == 0 ? 0 : r->prefix + 1;
    return ((name * 200 + addr) * 2 + (r->port != ANYP)) * 2 +
           (r->service != ANYS);
}

START_TEST(random_against_reference)
{
    static struct ref refs[2000];
    static const char *const names[] = {"a.x.test", "b.x.test", "x.test",
                                        "c.y.test"};
    int n = 0, i, q;
    int nadd = certgen_full_speed() ? 2000 : 300;
    int nq = certgen_full_speed() ? 5000 : 600;
    unsigned seed = 12345;
    char addr[64], name[40];

#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
    for (i = 0; i < nadd; i++) {
        struct ref r;
        int pre[] = {8, 16, 20, 24, 28, 32, 0};
        memset(&r, 0, sizeof r);
        r.service = RND() % 3 == 0 ? ANYS : IMAPS + (int)(RND() % 2);
        r.port = RND() % 3 == 0 ? ANYP : 993 + (int)(RND() % 2);
        r.kind = (int)(RND() % 3);
        if (r.kind == 0)
            snprintf(r.name, sizeof r.name, "%s", names[RND() % 4]);
        else if (r.kind == 1)
            snprintf(r.name, sizeof r.name, "*.%s",
                     RND() % 2 ? "x.test" : "y.test");
        else
            snprintf(r.name, sizeof r.name, "*");
        if (RND() % 8 == 0) {
            r.fam = 0;
            snprintf(addr, sizeof addr, "*");
        } else {
            r.fam = 4;
            r.prefix = pre[RND() % 7];
            r.b[0] = 10;
            r.b[1] = (unsigned char)(RND() % 2);
            r.b[2] = (unsigned char)(RND() % 4);
            r.b[3] = (unsigned char)(RND() % 4);
            {
                int j;
                for (j = r.prefix; j < 32; j++)
                    r.b[j / 8] &= (unsigned char)~(1u << (7 - j % 8));
            }
            snprintf(addr, sizeof addr, "%u.%u.%u.%u/%d", r.b[0], r.b[1],
                     r.b[2], r.b[3], r.prefix);
        }
        r.k = (int)(RND() % NCRED);
        if (mailssl_store_add(st, r.service, addr, r.port, r.name,
                              cred[r.k]) == MAILSSL_OK)
            refs[n++] = r;
        else
            ck_assert_str_ne(mailssl_store_error(st), "");
    }
    ck_assert_int_eq((int)mailssl_store_count(st), n);
    for (q = 0; q < nq; q++) {
        unsigned char a4[4] = {10, (unsigned char)(RND() % 2),
                               (unsigned char)(RND() % 4),
                               (unsigned char)(RND() % 4)};
        int service = IMAPS + (int)(RND() % 2), port = 993 + (int)(RND() % 2);
        int which = (int)(RND() % 6), best = -1;
        long best_rank = -1;
        const char *sni = which < 4 ? names[which] : which == 4 ? "z.y.test"
                                                                : NULL;
        mailssl_credential *c;
        snprintf(addr, sizeof addr, "%u.%u.%u.%u", a4[0], a4[1], a4[2], a4[3]);
        for (i = 0; i < n; i++) {
            const struct ref *r = &refs[i];
            int name_ok;
            if (r->kind == 2)
                name_ok = 1;
            else if (!sni)
                name_ok = 0;
            else if (r->kind == 0)
                name_ok = strcmp(r->name, sni) == 0;
            else
                name_ok = strchr(sni, '.') &&
                          strcmp(r->name + 2, strchr(sni, '.') + 1) == 0;
            if (!name_ok || !ref_addr_match(r, a4) ||
                (r->port != ANYP && r->port != port) ||
                (r->service != ANYS && r->service != service))
                continue;
            if (ref_rank(r) > best_rank) {
                best_rank = ref_rank(r);
                best = i;
            }
        }
        snprintf(name, sizeof name, "%s", sni ? sni : "-");
        if (mailssl_store_lookup_text(st, addr, port, service, sni, &c, NULL,
                                      0) == MAILSSL_OK) {
            ck_assert_msg(best >= 0, "lookup %s %d %s hit, reference missed",
                          addr, port, name);
            ck_assert_msg(c == cred[refs[best].k], "lookup %s %d %d %s", addr,
                          port, service, name);
            mailssl_credential_free(c);
        } else {
            ck_assert_msg(best < 0, "lookup %s %d %s missed", addr, port,
                          name);
        }
        /* remove a few as we go, in the reference too */
        if (q % 50 == 0 && n > 0) {
            const struct ref *r = &refs[n - 1];
            if (r->fam == 0)
                snprintf(addr, sizeof addr, "*");
            else
                snprintf(addr, sizeof addr, "%u.%u.%u.%u/%d", r->b[0],
                         r->b[1], r->b[2], r->b[3], r->prefix);
            ck_assert_int_eq(mailssl_store_remove(st, r->service, addr,
                                                  r->port, r->name),
                             MAILSSL_OK);
            n--;
        }
    }
#undef RND
}
END_TEST

/* ---- lookups in threads while tables are swapped ---------------------- */

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
        int rc = mailssl_store_lookup_text(w->s, "192.0.2.7", 993, IMAPS,
                                           "mail.example.com", &c, NULL, 0);
        /* every table has a binding for this: never a miss or an error */
        if (rc != MAILSSL_OK || !c)
            w->errors++;
        mailssl_credential_free(c);
        __atomic_add_fetch(&w->lookups, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

START_TEST(lookups_during_replace)
{
    mailssl_store *a = mailssl_store_new(), *b = mailssl_store_new();
    struct worker w[3];
    pthread_t th[3];
    int i;

    add(0, IMAPS, "192.0.2.7", 993, "*");
    ck_assert_int_eq(mailssl_store_add(a, IMAPS, "*", ANYP, "*", cred[1]),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_add(b, ANYS, "192.0.2.0/24", 993,
                                       "*.example.com", cred[2]),
                     MAILSSL_OK);
    for (i = 0; i < 3; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].s = st;
        ck_assert_int_eq(pthread_create(&th[i], NULL, lookup_loop, &w[i]), 0);
    }
    /* every reader is running before the swaps start */
    for (i = 0; i < 3; i++)
        while (__atomic_load_n(&w[i].lookups, __ATOMIC_ACQUIRE) == 0)
            sched_yield();
    for (i = 0; i < (certgen_full_speed() ? 2000 : 100); i++)
        ck_assert_int_eq(mailssl_store_replace(st, i % 2 ? a : b),
                         MAILSSL_OK);
    for (i = 0; i < 3; i++) {
        __atomic_store_n(&w[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].errors, 0);
        ck_assert_int_gt(w[i].lookups, 0);
    }
    ck_assert_int_eq(who("192.0.2.7", 993, IMAPS, "mail.example.com"), 1);
    mailssl_store_free(a);
    mailssl_store_free(b);
}
END_TEST

START_TEST(reference_survives_replace_and_free)
{
    mailssl_store *empty = mailssl_store_new();
    mailssl_credential *c;
    add(0, IMAPS, "*", ANYP, "*");
    ck_assert_int_eq(mailssl_store_lookup_text(st, "192.0.2.7", 993, IMAPS,
                                               NULL, &c, NULL, 0),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_replace(st, empty), MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_count(st), 0);
    ck_assert_int_eq(mailssl_credential_usable(c), 1);
    mailssl_credential_free(c);
    mailssl_store_free(empty);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *p = tcase_create("precedence"), *n = tcase_create("normalize"),
          *o = tcase_create("operations"), *t = tcase_create("threads");

    tcase_add_unchecked_fixture(p, setup_creds, teardown_creds);
    tcase_add_unchecked_fixture(n, setup_creds, teardown_creds);
    tcase_add_unchecked_fixture(o, setup_creds, teardown_creds);
    tcase_add_unchecked_fixture(t, setup_creds, teardown_creds);
    tcase_add_checked_fixture(p, setup, teardown);
    tcase_add_checked_fixture(n, setup, teardown);
    tcase_add_checked_fixture(o, setup, teardown);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(p, name_exact_beats_wildcard);
    tcase_add_test(p, name_wildcard_beats_any);
    tcase_add_test(p, name_wildcard_is_one_label);
    tcase_add_test(p, address_exact_beats_cidr);
    tcase_add_test(p, address_longer_prefix_wins);
    tcase_add_test(p, address_cidr_beats_family_default);
    tcase_add_test(p, address_family_default_beats_star);
    tcase_add_test(p, address_ipv6_default_is_ipv6_only);
    tcase_add_test(p, port_number_beats_star);
    tcase_add_test(p, service_beats_star);
    tcase_add_test(p, name_beats_address);
    tcase_add_test(p, address_beats_port);
    tcase_add_test(p, port_beats_service);
    tcase_add_test(p, nothing_matches_other_service_or_port);
    tcase_add_test(n, norm_mapped_ipv6_is_ipv4);
    tcase_add_test(n, norm_mapped_sockaddr_is_ipv4);
    tcase_add_test(n, norm_names_lowercase_no_trailing_dot);
    tcase_add_test(n, norm_invalid_sni_is_ignored);
    tcase_add_test(n, norm_ip_literal_sni_is_ignored);
    tcase_add_test(n, norm_full_prefix_is_exact);
    tcase_add_test(n, norm_zero_prefix_is_family_default);
    tcase_add_test(n, norm_cidr_host_bits_is_error);
    tcase_add_test(n, norm_submissions_is_smtps);
    tcase_add_test(o, duplicate_is_rejected_with_message);
    tcase_add_test(o, remove_and_readd);
    tcase_add_test(o, miss_says_why);
    tcase_add_test(o, strict_refuses_unknown_names);
    tcase_add_test(o, bad_arguments);
    tcase_add_test(o, listeners_api);
    tcase_add_test(o, random_against_reference);
    tcase_add_test(t, lookups_during_replace);
    tcase_add_test(t, reference_survives_replace_and_free);
    suite_add_tcase(s, p);
    suite_add_tcase(s, n);
    suite_add_tcase(s, o);
    suite_add_tcase(s, t);
    return check_run(s, CK_FORK_GETENV);
}
