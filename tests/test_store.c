/* Tests of lib/store/store.c: every row of the precedence table of SPEC.md
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

/* ---- the cases as tables: one row a case, a script of steps ----------- */

/*
 * A row's script is a list of steps separated by ';', each a word and its
 * arguments, fields in the order of a config line (SERVICE ADDRESS PORT
 * NAME; SERVICE a name of SPEC.md section 2 or *, PORT a number or *, a
 * NAME or SNI of - is none, an SNI may hold blanks at the end of a step,
 * "" is the empty name):
 *   bind K SERVICE ADDRESS PORT NAME   binds credential K (must succeed)
 *   add K SERVICE ADDRESS PORT NAME = CODE     the add returns CODE
 *   remove SERVICE ADDRESS PORT NAME = CODE    the remove returns CODE
 *   who SERVICE ADDRESS PORT SNI = K   a lookup finds K (-1: a miss)
 *   why SERVICE ADDRESS PORT SNI = TEXT  a lookup misses and says TEXT
 *   listen SERVICE ADDRESS PORT = CODE  add_listener returns CODE
 *   error= TEXT / error~ TEXT  the store's message is / contains TEXT
 *   count N / listeners N      bindings / listeners in the store
 *   strict V                   set_strict(V) returns OK (V 2: INVALID)
 *   alias NAME SERVICE         the two service names are one service
 * CODE is OK, DUPLICATE, INVALID or NOT_FOUND.
 */
struct store_case {
    const char *name;
    const char *script;
};

static int step_service(const char *w)
{
    int id = strcmp(w, "*") == 0 ? ANYS : mailssl_service_from_name(w);

    ck_assert_msg(id >= 0 || id == ANYS, "unknown service %s", w);
    return id;
}

static int step_port(const char *w)
{
    return strcmp(w, "*") == 0 ? ANYP : atoi(w);
}

static const char *step_name(const char *w)
{
    return strcmp(w, "-") == 0 ? NULL : strcmp(w, "\"\"") == 0 ? "" : w;
}

static int step_code(const char *w)
{
    static const struct {
        const char *name;
        int code;
    } codes[] = {{"OK", MAILSSL_OK},
                 {"DUPLICATE", MAILSSL_ERR_DUPLICATE},
                 {"INVALID", MAILSSL_ERR_INVALID},
                 {"NOT_FOUND", MAILSSL_ERR_NOT_FOUND}};
    size_t i;

    for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(w, codes[i].name) == 0)
            return codes[i].code;
    ck_abort_msg("unknown code %s", w);
    return 0;
}

/* Plays one step (NUL-terminated, trimmed) of case c. */
static void play_step(const struct store_case *c, char *step)
{
    char *w[8], *rest = NULL, *save = NULL, *eq;
    int n = 0, rc;

    if (strncmp(step, "error", 5) == 0) {
        const char *m = mailssl_store_error(st);
        const char *text = step + 7;

        if (step[5] == '=')
            ck_assert_msg(strcmp(m, text) == 0, "%s: error \"%s\", expected "
                          "\"%s\"", c->name, m, text);
        else
            ck_assert_msg(strstr(m, text) != NULL, "%s: error \"%s\" lacks "
                          "\"%s\"", c->name, m, text);
        return;
    }
    if ((eq = strstr(step, " = ")) != NULL) { /* what the step gives */
        *eq = '\0';
        rest = eq + 3;
    }
    for (w[n] = strtok_r(step, " ", &save); w[n] && n < 7;
         w[++n] = strtok_r(NULL, " ", &save))
        ;
    /* who/why: an SNI with blanks is the rest of the step */
    if ((strcmp(w[0], "who") == 0 || strcmp(w[0], "why") == 0) && n > 5) {
        for (; n > 5; n--)
            w[n - 1][-1] = ' ';
    }
    ck_assert_msg(n >= 2, "%s: bad step", c->name);
    if (strcmp(w[0], "bind") == 0 && n == 6) {
        add(atoi(w[1]), step_service(w[2]), w[3], step_port(w[4]),
            step_name(w[5]));
    } else if (strcmp(w[0], "add") == 0 && n == 6 && rest) {
        rc = mailssl_store_add(st, step_service(w[2]), w[3], step_port(w[4]),
                               step_name(w[5]), cred[atoi(w[1])]);
        ck_assert_msg(rc == step_code(rest), "%s: add %s %s %s %s: %d (%s)",
                      c->name, w[2], w[3], w[4], w[5], rc,
                      mailssl_store_error(st));
    } else if (strcmp(w[0], "remove") == 0 && n == 5 && rest) {
        rc = mailssl_store_remove(st, step_service(w[1]), w[2],
                                  step_port(w[3]), step_name(w[4]));
        ck_assert_msg(rc == step_code(rest), "%s: remove %s %s %s %s: %d",
                      c->name, w[1], w[2], w[3], w[4], rc);
    } else if (strcmp(w[0], "who") == 0 && n == 5 && rest) {
        int got = who(w[2], step_port(w[3]), step_service(w[1]),
                      step_name(w[4]));

        ck_assert_msg(got == atoi(rest), "%s: who %s %s %s %s: %d, expected "
                      "%s", c->name, w[1], w[2], w[3], w[4], got, rest);
    } else if (strcmp(w[0], "why") == 0 && n == 5 && rest) {
        mailssl_credential *out;
        char why[512];

        rc = mailssl_store_lookup_text(st, w[2], step_port(w[3]),
                                       step_service(w[1]), step_name(w[4]),
                                       &out, why, sizeof why);
        ck_assert_msg(rc == MAILSSL_ERR_NOT_FOUND, "%s: why: %d", c->name,
                      rc);
        ck_assert_msg(strcmp(why, rest) == 0, "%s: why \"%s\", expected "
                      "\"%s\"", c->name, why, rest);
    } else if (strcmp(w[0], "listen") == 0 && n == 4 && rest) {
        rc = mailssl_store_add_listener(st, step_service(w[1]), w[2],
                                        step_port(w[3]));
        ck_assert_msg(rc == step_code(rest), "%s: listen %s %s %s: %d",
                      c->name, w[1], w[2], w[3], rc);
    } else if (strcmp(w[0], "count") == 0 && n == 2) {
        ck_assert_int_eq(mailssl_store_count(st), atoi(w[1]));
    } else if (strcmp(w[0], "listeners") == 0 && n == 2) {
        ck_assert_int_eq(mailssl_store_listener_count(st), atoi(w[1]));
    } else if (strcmp(w[0], "strict") == 0 && n == 2) {
        ck_assert_int_eq(mailssl_store_set_strict(st, atoi(w[1])),
                         atoi(w[1]) == 2 ? MAILSSL_ERR_INVALID : MAILSSL_OK);
    } else if (strcmp(w[0], "alias") == 0 && n == 3) {
        ck_assert_int_eq(step_service(w[1]), step_service(w[2]));
    } else {
        ck_abort_msg("%s: bad step \"%s\"", c->name, w[0]);
    }
}

static void play(const struct store_case *c)
{
    char buf[2048], *step, *save = NULL;

    ck_assert_uint_lt(strlen(c->script), sizeof buf);
    strcpy(buf, c->script);
    for (step = strtok_r(buf, ";", &save); step;
         step = strtok_r(NULL, ";", &save)) {
        char *end;

        while (*step == ' ')
            step++;
        for (end = step + strlen(step); end > step && end[-1] == ' ';)
            *--end = '\0';
        if (*step)
            play_step(c, step);
    }
}

/* precedence: one row of the table of SPEC.md section 3, then across
 * fields */
static const struct store_case precedence[] = {
    {"name: exact beats wildcard",
     "bind 0 imaps * * *.example.com; bind 1 imaps * * mail.example.com;"
     "who imaps 192.0.2.1 993 mail.example.com = 1;"
     "who imaps 192.0.2.1 993 imap.example.com = 0"},
    {"name: wildcard beats any",
     "bind 0 imaps * * *; bind 1 imaps * * *.example.com;"
     "who imaps 192.0.2.1 993 imap.example.com = 1;"
     "who imaps 192.0.2.1 993 imap.example.org = 0;"
     "who imaps 192.0.2.1 993 - = 0"},
    {"name: a wildcard is one label",
     "bind 1 imaps * * *.example.com;"
     "who imaps 192.0.2.1 993 a.example.com = 1;"
     "who imaps 192.0.2.1 993 example.com = -1;"
     "who imaps 192.0.2.1 993 a.b.example.com = -1;"
     "who imaps 192.0.2.1 993 aexample.com = -1"},
    {"address: exact beats CIDR",
     "bind 0 imaps 192.0.2.0/24 * *; bind 1 imaps 192.0.2.10 * *;"
     "who imaps 192.0.2.10 993 - = 1; who imaps 192.0.2.11 993 - = 0"},
    {"address: the longer prefix wins",
     "bind 0 imaps 10.0.0.0/8 * *; bind 1 imaps 10.1.0.0/16 * *;"
     "bind 2 imaps 10.1.2.0/24 * *; bind 3 imaps 2001:db8::/32 * *;"
     "bind 4 imaps 2001:db8:1::/48 * *; bind 5 imaps 2001:db8:1:2::/64 * *;"
     "who imaps 10.1.2.3 993 - = 2; who imaps 10.1.3.3 993 - = 1;"
     "who imaps 10.2.3.3 993 - = 0; who imaps 11.2.3.3 993 - = -1;"
     "who imaps 2001:db8:1:2::5 993 - = 5;"
     "who imaps 2001:db8:1:3::5 993 - = 4;"
     "who imaps 2001:db8:2::5 993 - = 3; who imaps 2001:db9::5 993 - = -1"},
    {"address: CIDR beats the family default",
     "bind 0 imaps 0.0.0.0 * *; bind 1 imaps 192.0.2.0/24 * *;"
     "bind 2 imaps :: * *; bind 3 imaps 2001:db8::/64 * *;"
     "who imaps 192.0.2.7 993 - = 1; who imaps 198.51.100.7 993 - = 0;"
     "who imaps 2001:db8::7 993 - = 3; who imaps 2001:db9::7 993 - = 2"},
    /* 0.0.0.0 is every IPv4 address, never an IPv6 one */
    {"address: the family default beats *",
     "bind 0 imaps * * *; bind 1 imaps 0.0.0.0 * *;"
     "who imaps 192.0.2.7 993 - = 1; who imaps 2001:db8::7 993 - = 0"},
    {"address: :: is IPv6 only",
     "bind 2 imaps :: * *;"
     "who imaps 2001:db8::7 993 - = 2; who imaps 192.0.2.7 993 - = -1"},
    {"port: a number beats *",
     "bind 0 imaps * * *; bind 1 imaps * 993 *;"
     "who imaps 192.0.2.7 993 - = 1; who imaps 192.0.2.7 1993 - = 0"},
    {"service: a name beats *",
     "bind 0 * * * *; bind 1 imaps * * *;"
     "who imaps 192.0.2.7 993 - = 1; who pop3s 192.0.2.7 993 - = 0"},
    {"name beats address",
     "bind 0 imaps 192.0.2.7 993 *; bind 1 * * * *.example.com;"
     "who imaps 192.0.2.7 993 mail.example.com = 1;"
     "who imaps 192.0.2.7 993 - = 0"},
    {"address beats port",
     "bind 0 imaps 0.0.0.0 993 *; bind 1 * 192.0.2.0/24 * *;"
     "who imaps 192.0.2.7 993 - = 1; who imaps 198.51.100.7 993 - = 0"},
    {"port beats service",
     "bind 0 imaps * * *; bind 1 * * 993 *;"
     "who imaps 192.0.2.7 993 - = 1; who imaps 192.0.2.7 994 - = 0"},
    {"nothing matches another service, port, address or no name",
     "bind 0 imaps 192.0.2.7 993 mail.example.com;"
     "who imaps 192.0.2.7 993 mail.example.com = 0;"
     "who pop3s 192.0.2.7 993 mail.example.com = -1;"
     "who imaps 192.0.2.7 995 mail.example.com = -1;"
     "who imaps 192.0.2.8 993 mail.example.com = -1;"
     "who imaps 192.0.2.7 993 - = -1"},
};

static const struct store_case normalize[] = {
    {"IPv4-mapped IPv6 is IPv4",
     "bind 0 imaps 192.0.2.7 993 *; bind 1 imaps ::ffff:198.51.100.0/120 993 *;"
     "who imaps ::ffff:192.0.2.7 993 - = 0; who imaps 198.51.100.9 993 - = 1;"
     "add 2 imaps ::ffff:192.0.2.7 993 * = DUPLICATE;"
     "add 2 imaps 198.51.100.0/24 993 * = DUPLICATE"},
    {"names lower-cased, no trailing dot",
     "bind 0 imaps * * Mail.Example.COM.; bind 1 imaps * * *.Example.NET.;"
     "who imaps 192.0.2.1 993 mail.example.com = 0;"
     "who imaps 192.0.2.1 993 MAIL.example.com. = 0;"
     "who imaps 192.0.2.1 993 A.EXAMPLE.NET = 1;"
     "add 2 imaps * * mail.example.com = DUPLICATE"},
    /* RFC 952/1123: no label starts or ends with a hyphen; strict mode
     * refuses unknown names, but an invalid one is none; a valid unknown
     * name gets nothing in strict mode */
    {"an invalid SNI name is ignored",
     "bind 0 imaps * * *; bind 1 imaps * * mail.example.com;"
     "who imaps 192.0.2.1 993 bad name! = 0;"
     "who imaps 192.0.2.1 993 a..b = 0; who imaps 192.0.2.1 993 \"\" = 0;"
     "who imaps 192.0.2.1 993 -mail.example.com = 0;"
     "who imaps 192.0.2.1 993 mail-.example.com = 0;"
     "who imaps 192.0.2.1 993 mail.example.com- = 0;"
     "add 1 imaps * * -mail.example.com = INVALID; error~ starts with '-';"
     "add 1 imaps * * mail.example-.com = INVALID; error~ ends with '-';"
     "strict 1; who imaps 192.0.2.1 993 bad name! = 0;"
     "who imaps 192.0.2.1 993 -mail.example.com = 0;"
     "who imaps 192.0.2.1 993 mail-.example.com = 0;"
     "who imaps 192.0.2.1 993 mail2.example.com = -1"},
    {"an IP literal as SNI is ignored",
     "bind 0 imaps * * *; who imaps 192.0.2.1 993 192.0.2.1 = 0;"
     "who imaps 192.0.2.1 993 2001:db8::1 = 0; strict 1;"
     "who imaps 192.0.2.1 993 192.0.2.1 = 0;"
     "add 1 imaps * * 192.0.2.1 = INVALID; error~ RFC 6066"},
    {"/32 and /128 are the exact address",
     "bind 0 imaps 192.0.2.7/32 993 *; bind 1 imaps 2001:db8::7/128 993 *;"
     "add 2 imaps 192.0.2.7 993 * = DUPLICATE;"
     "add 2 imaps 2001:db8::7 993 * = DUPLICATE;"
     "who imaps 192.0.2.7 993 - = 0; who imaps 2001:db8::7 993 - = 1"},
    {"/0 is the family default",
     "bind 0 imaps 0.0.0.0/0 993 *; bind 1 imaps ::/0 993 *;"
     "add 2 imaps 0.0.0.0 993 * = DUPLICATE; add 2 imaps :: 993 * = DUPLICATE;"
     "who imaps 203.0.113.1 993 - = 0; who imaps 2001:db8::1 993 - = 1"},
    {"host bits after the prefix are an error",
     "add 0 imaps 192.0.2.1/24 993 * = INVALID;"
     "error= invalid address \"192.0.2.1/24\": host bits are set after the "
     "prefix (the network is 192.0.2.0/24);"
     "add 0 imaps 2001:db8::1/64 993 * = INVALID; count 0"},
    {"submissions is smtps",
     "alias submissions smtps; bind 0 smtps * 465 *;"
     "who submissions 192.0.2.1 465 - = 0"},
};

static const struct store_case operations[] = {
    /* the first one stays */
    {"a duplicate is rejected with a message",
     "bind 0 imaps 192.0.2.7 993 mail.example.com;"
     "add 1 imaps 192.0.2.7 993 mail.example.com = DUPLICATE;"
     "error= duplicate binding: \"imaps 192.0.2.7 993 mail.example.com\" is "
     "already bound; count 1; who imaps 192.0.2.7 993 mail.example.com = 0"},
    {"remove and add again",
     "bind 0 imaps 192.0.2.0/24 993 *; bind 1 imaps 192.0.2.7 993 *;"
     "remove imaps 192.0.2.7 993 * = OK; who imaps 192.0.2.7 993 - = 0;"
     "remove imaps 192.0.2.7 993 * = NOT_FOUND;"
     "error= no binding \"imaps 192.0.2.7 993 *\" to remove;"
     "remove imaps 192.0.2.0/24 993 - = OK; who imaps 192.0.2.7 993 - = -1;"
     "count 0; bind 2 imaps 192.0.2.7 993 *; who imaps 192.0.2.7 993 - = 2"},
    {"a miss says why",
     "bind 0 imaps 192.0.2.7 993 *;"
     "why imaps 192.0.2.8 993 - = no certificate: none of the 1 bindings "
     "covers imaps on 192.0.2.8 port 993 for a client sending no server name;"
     "why imaps 192.0.2.8 993 Mail.Example.com = no certificate: none of the "
     "1 bindings covers imaps on 192.0.2.8 port 993 for server name "
     "\"mail.example.com\""},
    {"strict mode refuses unknown names",
     "bind 0 imaps * * *; bind 1 imaps * * mail.example.com;"
     "who imaps 192.0.2.7 993 other.example.com = 0; strict 1;"
     "why imaps 192.0.2.7 993 other.example.com = no certificate: server "
     "name \"other.example.com\" is not bound for imaps on 192.0.2.7 port 993 "
     "(strict mode refuses unknown names);"
     "who imaps 192.0.2.7 993 mail.example.com = 1;"
     "who imaps 192.0.2.7 993 - = 0; strict 2"},
    {"listeners",
     "listen imaps 192.0.2.7 993 = OK; listen imaps 0.0.0.0 993 = OK;"
     "listen imaps 192.0.2.7 993 = DUPLICATE; listen imaps * 993 = INVALID;"
     "listen imaps 10.0.0.0/8 993 = INVALID;"
     "listen * 10.0.0.1 993 = INVALID; listen imaps 10.0.0.1 * = INVALID;"
     "listeners 2"},
};

CHECK_TABLE_TEST(precedence_case, play, precedence)
CHECK_TABLE_TEST(normalize_case, play, normalize)
CHECK_TABLE_TEST(operations_case, play, operations)

/* ---- cases of their own shape ---------------------------------------- */

/* Lookups by socket address (as a server has them from getsockname): an
 * IPv4-mapped IPv6 address is the IPv4 one. */
START_TEST(norm_mapped_sockaddr_is_ipv4)
{
    static const struct {
        int family;
        const char *addr;
        int port, want; /* credential index, -1: a miss */
    } rows[] = {{AF_INET6, "::ffff:192.0.2.7", 993, 0},
                {AF_INET6, "2001:db8::1", 993, 1},
                {AF_INET, "192.0.2.7", 993, 0},
                {AF_INET, "192.0.2.7", 994, -1}};
    size_t i;

    add(0, IMAPS, "192.0.2.7", 993, "*");
    add(1, IMAPS, "2001:db8::1", 993, "*");
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct sockaddr_storage ss;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        mailssl_credential *c;
        int rc;

        memset(&ss, 0, sizeof ss);
        if (rows[i].family == AF_INET6) {
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)rows[i].port);
            ck_assert_int_eq(inet_pton(AF_INET6, rows[i].addr,
                                       &s6->sin6_addr), 1);
        } else {
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)rows[i].port);
            ck_assert_int_eq(inet_pton(AF_INET, rows[i].addr, &s4->sin_addr),
                             1);
        }
        rc = mailssl_store_lookup(st, (struct sockaddr *)&ss, IMAPS, NULL, &c,
                                  NULL, 0);
        if (rows[i].want < 0) {
            ck_assert_msg(rc == MAILSSL_ERR_NOT_FOUND, "%s port %d: %d",
                          rows[i].addr, rows[i].port, rc);
            ck_assert_ptr_null(c);
        } else {
            ck_assert_msg(rc == MAILSSL_OK, "%s port %d: %d", rows[i].addr,
                          rows[i].port, rc);
            ck_assert_ptr_eq(c, cred[rows[i].want]);
            mailssl_credential_free(c);
        }
    }
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
    TCase *all[] = {p, n, o, t};
    size_t i;

    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        tcase_add_unchecked_fixture(all[i], setup_creds, teardown_creds);
        tcase_add_checked_fixture(all[i], setup, teardown);
        suite_add_tcase(s, all[i]);
    }
    tcase_add_loop_test(p, precedence_case, 0, CHECK_COUNT(precedence));
    tcase_add_loop_test(n, normalize_case, 0, CHECK_COUNT(normalize));
    tcase_add_test(n, norm_mapped_sockaddr_is_ipv4);
    tcase_add_loop_test(o, operations_case, 0, CHECK_COUNT(operations));
    tcase_add_test(o, bad_arguments);
    tcase_add_test(o, random_against_reference);
    tcase_add_test(t, lookups_during_replace);
    tcase_add_test(t, reference_survives_replace_and_free);
    return check_run(s, CK_FORK_GETENV);
}
