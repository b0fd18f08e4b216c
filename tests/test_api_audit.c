/*
 * Bad-input audit of the public API (robustness issue, item 5): every
 * exported function given NULL, empty strings, overlong strings (1 MiB),
 * invalid enums and out-of-range numbers returns an error code (or NULL /
 * does nothing, for accessors and free-like functions, as documented),
 * and where the object exists and has an error accessor, leaves a
 * non-empty message on it. Objects are fresh for each case, so that a
 * message seen is the message of that call.
 *
 * The table audits[] names every symbol of lib/mailssl.map; the first
 * test fails when the map exports a symbol the table does not name (or
 * the table names one the map does not export), so a new function cannot
 * escape the audit. Functions whose object is const (mailssl_validate_*)
 * cannot keep a message: they are checked for the code only.
 *
 * Runs without fork (the case counter is global); prints the number of
 * cases at the end.
 */
#include <check.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl-gnutls.h"
#include "mailssl.h"

#ifndef MAILSSL_MAP_FILE
#error "MAILSSL_MAP_FILE (path of lib/mailssl.map) must be defined"
#endif

#define BIG_LEN (1024u * 1024u)

static size_t ncases, nfailed;

/* A failed case is printed and counted, and the audit goes on, so that one
 * run lists every function that misbehaves. */
#define CHECK_CASE(cond, ...)                                                 \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("line %d: ", __LINE__);                                    \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
            nfailed++;                                                        \
        }                                                                     \
    } while (0)
static char *big;  /* BIG_LEN 'a' characters, NUL-terminated */
static char *bigname; /* a 1 MiB host-name-like string "a.a.a..." */
static char *dir;  /* temporary directory with good files */
static char *cert_pem, *key_pem;
static char good_pem[600], fifo[600], tlsa_data[32];

/* ---- case macros ------------------------------------------------------ */

/* expr returns exactly code */
#define IS(code, expr)                                                        \
    do {                                                                      \
        long long rc_ = (long long)(expr);                                    \
        ncases++;                                                             \
        CHECK_CASE(rc_ == (long long)(code), "%s: %lld, expected %s",      \
                      #expr, rc_, #code);                                     \
    } while (0)

/* expr returns a negative code */
#define NEG(expr)                                                             \
    do {                                                                      \
        long long rc_ = (long long)(expr);                                    \
        ncases++;                                                             \
        CHECK_CASE(rc_ < 0, "%s: %lld, expected an error", #expr, rc_);    \
    } while (0)

#define NUL(expr)                                                             \
    do {                                                                      \
        ncases++;                                                             \
        CHECK_CASE((expr) == NULL, "%s: not NULL", #expr);                 \
    } while (0)

/* a harmless call: it must only not crash (and not leak) */
#define OK_CALL(expr)                                                         \
    do {                                                                      \
        ncases++;                                                             \
        expr;                                                                 \
    } while (0)

/* With a fresh object VAR (made by MAKE, freed by FREEFN): the call returns
 * code and leaves a message (ERRFN); AFTER is checked on the object too. */
#define OBJ_IS(T, VAR, MAKE, ERRFN, FREEFN, AFTER, code, expr)               \
    do {                                                                      \
        T *VAR = MAKE;                                                        \
        long long rc_;                                                        \
        ck_assert_ptr_nonnull(VAR);                                           \
        ck_assert_str_eq(ERRFN(VAR), "");                                     \
        rc_ = (long long)(expr);                                              \
        ncases++;                                                             \
        CHECK_CASE(rc_ == (long long)(code), "%s: %lld, expected %s (%s)",    \
                   #expr, rc_, #code, ERRFN(VAR));                            \
        CHECK_CASE(ERRFN(VAR)[0] != '\0', "%s: no message", #expr);           \
        CHECK_CASE(AFTER, "%s: %s", #expr, #AFTER);                           \
        FREEFN(VAR);                                                          \
    } while (0)

#define STORE_IS(code, expr)                                                  \
    OBJ_IS(mailssl_store, s, mailssl_store_new(), mailssl_store_error,        \
           mailssl_store_free, 1, code, expr)
#define CRED_IS(code, expr)                                                   \
    OBJ_IS(mailssl_credential, c, mailssl_credential_new(),                   \
           mailssl_credential_error, mailssl_credential_free,                 \
           mailssl_credential_usable(c) == 0, code, expr)
#define VAL_IS(code, expr)                                                    \
    OBJ_IS(mailssl_validator, v, mailssl_validator_new(),                     \
           mailssl_validator_error, mailssl_validator_free, 1, code, expr)
/* a probe of a good URL, not started */
#define PROBE_IS(code, expr)                                                  \
    OBJ_IS(mailssl_probe, p, mailssl_probe_new("imaps://mail.example.com"),  \
           mailssl_probe_error, mailssl_probe_free, 1, code, expr)

/* ---- fixture -------------------------------------------------------- */

static void setup(void)
{
    static const char *const names[] = {"mail.example.com", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert leaf;
    const struct certgen_cert *chain[1] = {&leaf};
    size_t i;

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    big = malloc(BIG_LEN + 1);
    bigname = malloc(BIG_LEN + 1);
    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(bigname);
    memset(big, 'a', BIG_LEN);
    big[BIG_LEN] = '\0';
    for (i = 0; i < BIG_LEN; i++)
        bigname[i] = i % 2 ? '.' : 'a';
    bigname[BIG_LEN - 1] = 'a';
    bigname[BIG_LEN] = '\0';
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    o.dns = names;
    ck_assert_int_eq(certgen_make(&leaf, &o, NULL), 0);
    snprintf(good_pem, sizeof good_pem, "%s/both.pem", dir);
    ck_assert_int_eq(certgen_write_pem(good_pem, chain, 1, &leaf), 0);
    cert_pem = certgen_cert_pem(&leaf);
    key_pem = certgen_key_pem(&leaf);
    certgen_free(&leaf);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    memset(tlsa_data, 0x5a, sizeof tlsa_data);
}

static void teardown(void)
{
    free(big);
    free(bigname);
    free(cert_pem);
    free(key_pem);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

static mailssl_credential *good_cred(void)
{
    mailssl_credential *c = mailssl_credential_new();
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(mailssl_credential_load_pem_memory(
                         c, cert_pem, strlen(cert_pem), key_pem,
                         strlen(key_pem), NULL),
                     MAILSSL_OK);
    return c;
}

/* ---- the tables: one row a case ------------------------------------- */

/*
 * R(KIND, CODE, CALL): CALL, given a fresh object where KIND names one
 * (STORE s, CRED c, VAL v, PROBE p: the call returns CODE and leaves a
 * message on the object; a credential stays unusable; REPORT r: the call
 * returns CODE and adds nothing), or no object (IS: returns CODE; NEG: returns a
 * negative code; NUL: returns NULL; CODE 0 for the last two). The calls
 * that need the state of their audit function stay in it, below.
 */
struct row {
    int kind;
    long long code;
    const char *code_name;
    const char *call;
};

enum { K_IS, K_NEG, K_NUL, K_REPORT, K_STORE, K_CRED, K_VAL, K_PROBE };

#define ERR(x) MAILSSL_ERR_##x

/* what a row's call gives, as a number */
#define GIVES_IS(call) (long long)(call)
#define GIVES_NEG(call) (long long)(call)
#define GIVES_NUL(call) (long long)((call) == NULL)
#define GIVES_REPORT(call) (long long)(call)
#define GIVES_STORE(call) (long long)(call)
#define GIVES_CRED(call) (long long)(call)
#define GIVES_VAL(call) (long long)(call)
#define GIVES_PROBE(call) (long long)(call)

#define ROW_DATA(kind, code, call) {K_##kind, (long long)(code), #code, #call},
#define ROW_CALL(kind, code, call)                                            \
    if (row == k++)                                                           \
        return GIVES_##kind(call);

/* A table's rows and the function that makes row's call. */
#define AUDIT_TABLE(area)                                                     \
    static const struct row area##_rows[] = {area##_CASES(ROW_DATA)};         \
    static long long area##_call(size_t row, mailssl_store *s,                \
                                 mailssl_credential *c, mailssl_validator *v, \
                                 mailssl_probe *p, mailssl_report *r)         \
    {                                                                         \
        size_t k = 0;                                                         \
        (void)r;                                                              \
        (void)s;                                                              \
        (void)c;                                                              \
        (void)v;                                                              \
        (void)p;                                                              \
        area##_CASES(ROW_CALL) return 0;                                      \
    }

#define base_CASES(R) \
    R(IS, MAILSSL_VERSION_NUM, mailssl_version_num()) \
    R(IS, ERR(INVALID), mailssl_service_from_name(NULL)) \
    R(IS, ERR(NOT_FOUND), mailssl_service_from_name("")) \
    R(IS, ERR(NOT_FOUND), mailssl_service_from_name(big)) \
    R(IS, ERR(NOT_FOUND), mailssl_service_from_name("imaps ")) \
    R(IS, ERR(INVALID), mailssl_service_default_port(MAILSSL_SERVICE_ANY)) \
    R(IS, ERR(INVALID), mailssl_service_implicit_tls(MAILSSL_SERVICE_ANY)) \
    R(NUL, 0, mailssl_severity_name(-1)) \
    R(NUL, 0, mailssl_severity_name(4)) \
    R(NUL, 0, mailssl_severity_name(INT_MAX)) \
    R(IS, ERR(INVALID), mailssl_code_from_name(NULL)) \
    R(IS, ERR(NOT_FOUND), mailssl_code_from_name("")) \
    R(IS, ERR(NOT_FOUND), mailssl_code_from_name(big))
AUDIT_TABLE(base)

#define report_CASES(R) \
    R(IS, ERR(INVALID), mailssl_report_add(NULL, 0, 0, MAILSSL_NO_CERT, NULL, NULL, "m")) \
    R(IS, 0, mailssl_report_count(NULL)) \
    R(IS, ERR(INVALID), mailssl_report_status(NULL)) \
    R(IS, ERR(INVALID), mailssl_report_code(NULL, 0)) \
    R(IS, ERR(INVALID), mailssl_report_severity(NULL, 0)) \
    R(IS, ERR(INVALID), mailssl_report_cert_index(NULL, 0)) \
    R(NUL, 0, mailssl_report_message(NULL, 0)) \
    R(NUL, 0, mailssl_report_context_kind(NULL, 0)) \
    R(NUL, 0, mailssl_report_context(NULL, 0)) \
    R(NEG, 0, mailssl_report_find(NULL, 0, 0)) \
    R(NUL, 0, mailssl_report_json(NULL)) \
    R(NUL, 0, mailssl_report_nagios(NULL, NULL)) \
    R(NUL, 0, mailssl_report_nagios(NULL, "LABEL")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, -1, 0, MAILSSL_NO_CERT, NULL, NULL, "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 30, 0, MAILSSL_NO_CERT, NULL, NULL, "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, MAILSSL_CODE_MAX + 1, 0, MAILSSL_NO_CERT, NULL, NULL, "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 0, -1, MAILSSL_NO_CERT, NULL, NULL, "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 0, 4, MAILSSL_NO_CERT, NULL, NULL, "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 0, 0, -2, NULL, NULL, "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 0, 0, INT_MIN, NULL, NULL, "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 0, 0, MAILSSL_NO_CERT, NULL, NULL, NULL)) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 0, 0, MAILSSL_NO_CERT, "listener", NULL, "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 0, 0, MAILSSL_NO_CERT, NULL, "x", "m")) \
    R(REPORT, ERR(TOO_LONG), mailssl_report_add(r, 0, 0, MAILSSL_NO_CERT, NULL, NULL, big)) \
    R(REPORT, ERR(TOO_LONG), mailssl_report_add(r, 0, 0, MAILSSL_NO_CERT, "binding", big, "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 0, 0, MAILSSL_NO_CERT, big, "x", "m")) \
    R(REPORT, ERR(INVALID), mailssl_report_add(r, 0, 0, MAILSSL_NO_CERT, "", "x", "m"))
AUDIT_TABLE(report)

#define credential_CASES(R) \
    R(IS, ERR(INVALID), mailssl_credential_load_pem_files(NULL, good_pem, NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pem_files(c, NULL, NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pem_files(c, NULL, good_pem, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pem_files(c, "", NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pem_files(c, good_pem, "", NULL)) \
    R(CRED, ERR(IO), mailssl_credential_load_pem_files(c, big, NULL, NULL)) \
    R(CRED, ERR(IO), mailssl_credential_load_pem_files(c, good_pem, big, NULL)) \
    R(CRED, ERR(IO), mailssl_credential_load_pem_files(c, "/", NULL, NULL)) \
    R(CRED, ERR(IO), mailssl_credential_load_pem_files(c, fifo, NULL, NULL)) \
    R(CRED, ERR(IO), mailssl_credential_load_pem_files(c, "/dev/zero", NULL, NULL)) \
    R(CRED, ERR(TOO_LONG), mailssl_credential_load_pem_files(c, good_pem, NULL, big)) \
    R(IS, ERR(INVALID), mailssl_credential_load_pem_memory(NULL, cert_pem, strlen(cert_pem), NULL, 0, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pem_memory(c, NULL, 10, NULL, 0, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pem_memory(c, cert_pem, 0, NULL, 0, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pem_memory(c, "", 0, NULL, 0, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pem_memory(c, cert_pem, strlen(cert_pem), key_pem, 0, NULL)) \
    R(CRED, ERR(TOO_LONG), mailssl_credential_load_pem_memory(c, cert_pem, SIZE_MAX, NULL, 0, NULL)) \
    R(CRED, ERR(TOO_LONG), mailssl_credential_load_pem_memory(c, cert_pem, strlen(cert_pem), key_pem, SIZE_MAX, NULL)) \
    R(CRED, ERR(CREDENTIAL), mailssl_credential_load_pem_memory(c, big, BIG_LEN, NULL, 0, NULL)) \
    R(CRED, ERR(CREDENTIAL), mailssl_credential_load_pem_memory(c, cert_pem, strlen(cert_pem), big, BIG_LEN, NULL)) \
    R(CRED, ERR(TOO_LONG), mailssl_credential_load_pem_memory(c, cert_pem, strlen(cert_pem), key_pem, strlen(key_pem), big)) \
    R(IS, ERR(INVALID), mailssl_credential_load_pkcs12_file(NULL, good_pem, NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs12_file(c, NULL, NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs12_file(c, "", NULL, NULL)) \
    R(CRED, ERR(IO), mailssl_credential_load_pkcs12_file(c, big, NULL, NULL)) \
    R(CRED, ERR(IO), mailssl_credential_load_pkcs12_file(c, fifo, NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs12_file(c, good_pem, "pw", good_pem)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs12_file(c, good_pem, NULL, "")) \
    R(CRED, ERR(IO), mailssl_credential_load_pkcs12_file(c, good_pem, NULL, big)) \
    R(CRED, ERR(IO), mailssl_credential_load_pkcs12_file(c, good_pem, NULL, fifo)) \
    R(CRED, ERR(TOO_LONG), mailssl_credential_load_pkcs12_file(c, good_pem, big, NULL)) \
    R(IS, ERR(INVALID), mailssl_credential_load_pkcs11(NULL, "pkcs11:token=x", NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs11(c, NULL, NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs11(c, "", NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs11(c, big, NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs11(c, "file:///etc/passwd", NULL, NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs11(c, "pkcs11:token=x", "", NULL)) \
    R(CRED, ERR(INVALID), mailssl_credential_load_pkcs11(c, "pkcs11:token=x", "http://x", NULL)) \
    R(NUL, 0, mailssl_credential_warnings(NULL)) \
    R(IS, 0, mailssl_credential_usable(NULL)) \
    R(NUL, 0, mailssl_credential_certificate_json(NULL, 0, 0))
AUDIT_TABLE(credential)

#define store_CASES(R) \
    R(IS, 0, mailssl_store_count(NULL)) \
    R(IS, 0, mailssl_store_listener_count(NULL)) \
    R(STORE, ERR(INVALID), mailssl_store_add_listener(s, MAILSSL_SERVICE_IMAPS, "192.0.2.1", MAILSSL_PORT_ANY)) \
    R(STORE, ERR(INVALID), mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, "*", 993, "*", NULL)) \
    R(IS, ERR(INVALID), mailssl_store_remove(NULL, MAILSSL_SERVICE_IMAPS, "*", 993, "*")) \
    R(STORE, ERR(INVALID), mailssl_store_remove(s, MAILSSL_SERVICE_IMAPS, NULL, 993, "*")) \
    R(STORE, ERR(INVALID), mailssl_store_remove(s, MAILSSL_SERVICE_IMAPS, big, 993, "*")) \
    R(STORE, ERR(INVALID), mailssl_store_remove(s, MAILSSL_SERVICE_IMAPS, "*", 993, bigname)) \
    R(STORE, ERR(NOT_FOUND), mailssl_store_remove(s, MAILSSL_SERVICE_IMAPS, "*", 993, "*")) \
    R(IS, ERR(INVALID), mailssl_store_add_listener(NULL, MAILSSL_SERVICE_IMAPS, "192.0.2.1", 993)) \
    R(STORE, ERR(INVALID), mailssl_store_add_listener(s, MAILSSL_SERVICE_ANY, "192.0.2.1", 993)) \
    R(STORE, ERR(INVALID), mailssl_store_add_listener(s, MAILSSL_SERVICE_IMAPS, NULL, 993)) \
    R(STORE, ERR(INVALID), mailssl_store_add_listener(s, MAILSSL_SERVICE_IMAPS, "*", 993)) \
    R(STORE, ERR(INVALID), mailssl_store_add_listener(s, MAILSSL_SERVICE_IMAPS, "192.0.2.0/24", 993)) \
    R(STORE, ERR(INVALID), mailssl_store_add_listener(s, MAILSSL_SERVICE_IMAPS, big, 993)) \
    R(IS, ERR(INVALID), mailssl_store_set_strict(NULL, 1)) \
    R(STORE, ERR(INVALID), mailssl_store_set_strict(s, 2)) \
    R(STORE, ERR(INVALID), mailssl_store_set_strict(s, -1)) \
    R(STORE, ERR(INVALID), mailssl_store_set_strict(s, INT_MIN)) \
    R(IS, ERR(INVALID), mailssl_store_load_file(NULL, good_pem)) \
    R(STORE, ERR(INVALID), mailssl_store_load_file(s, NULL)) \
    R(STORE, ERR(IO), mailssl_store_load_file(s, "")) \
    R(STORE, ERR(IO), mailssl_store_load_file(s, big)) \
    R(STORE, ERR(IO), mailssl_store_load_file(s, "/")) \
    R(STORE, ERR(IO), mailssl_store_load_file(s, fifo)) \
    R(STORE, ERR(IO), mailssl_store_load_file(s, "/dev/zero")) \
    R(STORE, ERR(SYNTAX), mailssl_store_load_file(s, good_pem)) \
    R(IS, ERR(INVALID), mailssl_store_load_string(NULL, "", 0, NULL)) \
    R(STORE, ERR(INVALID), mailssl_store_load_string(s, NULL, 5, NULL)) \
    R(STORE, ERR(TOO_LONG), mailssl_store_load_string(s, big, BIG_LEN, NULL)) \
    R(STORE, ERR(SYNTAX), mailssl_store_load_string(s, "bind\n", 5, big)) \
    R(STORE, ERR(SYNTAX), mailssl_store_load_string(s, "bind\0x\n", 7, NULL)) \
    R(STORE, ERR(INVALID), mailssl_store_replace(s, NULL)) \
    R(NUL, 0, mailssl_store_to_string(NULL)) \
    R(IS, ERR(INVALID), mailssl_store_save_file(NULL, "x")) \
    R(STORE, ERR(INVALID), mailssl_store_save_file(s, NULL)) \
    R(STORE, ERR(IO), mailssl_store_save_file(s, "")) \
    R(STORE, ERR(TOO_LONG), mailssl_store_save_file(s, big)) \
    R(STORE, ERR(IO), mailssl_store_save_file(s, "/nonexistent/x")) \
    R(STORE, ERR(IO), mailssl_store_save_file(s, dir)) \
    R(STORE, ERR(INVALID), mailssl_store_audit(s, NULL, NULL))
AUDIT_TABLE(store)

#define validation_CASES(R) \
    R(IS, ERR(INVALID), mailssl_validator_set_cafile(NULL, good_pem)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_cafile(v, "")) \
    R(VAL, ERR(IO), mailssl_validator_set_cafile(v, big)) \
    R(VAL, ERR(IO), mailssl_validator_set_cafile(v, fifo)) \
    R(VAL, ERR(IO), mailssl_validator_set_cafile(v, "/dev/zero")) \
    R(IS, ERR(INVALID), mailssl_validator_set_service(NULL, MAILSSL_SERVICE_IMAPS)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_service(v, -1)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_service(v, MAILSSL_SERVICE_MAX + 1)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_service(v, INT_MIN)) \
    R(IS, ERR(INVALID), mailssl_validator_set_time(NULL, 0)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_time(v, -1)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_time(v, INT64_MIN)) \
    R(IS, ERR(INVALID), mailssl_validator_set_days(NULL, 30, 7)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_days(v, -1, 0)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_days(v, 30, -1)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_days(v, 7, 30)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_days(v, 36501, 7)) \
    R(VAL, ERR(INVALID), mailssl_validator_set_days(v, INT_MAX, INT_MIN)) \
    R(IS, ERR(INVALID), mailssl_validator_set_name(NULL, "x")) \
    R(VAL, ERR(INVALID), mailssl_validator_set_name(v, "")) \
    R(VAL, ERR(SYNTAX), mailssl_validator_set_name(v, "a b")) \
    R(VAL, ERR(SYNTAX), mailssl_validator_set_name(v, "*.example.com")) \
    R(VAL, ERR(SYNTAX), mailssl_validator_set_name(v, "[::1")) \
    R(VAL, ERR(TOO_LONG), mailssl_validator_set_name(v, big)) \
    R(VAL, ERR(TOO_LONG), mailssl_validator_set_name(v, bigname)) \
    R(IS, ERR(INVALID), mailssl_validator_add_tlsa(NULL, 3, 1, 1, (unsigned char *)tlsa_data, 32)) \
    R(VAL, ERR(INVALID), mailssl_validator_add_tlsa(v, 256, 1, 1, (unsigned char *)tlsa_data, 32)) \
    R(VAL, ERR(INVALID), mailssl_validator_add_tlsa(v, -1, 1, 1, (unsigned char *)tlsa_data, 32)) \
    R(VAL, ERR(INVALID), mailssl_validator_add_tlsa(v, 3, INT_MAX, 1, (unsigned char *)tlsa_data, 32)) \
    R(VAL, ERR(INVALID), mailssl_validator_add_tlsa(v, 3, 1, INT_MIN, (unsigned char *)tlsa_data, 32)) \
    R(VAL, ERR(INVALID), mailssl_validator_add_tlsa(v, 3, 1, 1, NULL, 32)) \
    R(VAL, ERR(INVALID), mailssl_validator_add_tlsa(v, 3, 1, 1, (unsigned char *)tlsa_data, 0)) \
    R(VAL, ERR(TOO_LONG), mailssl_validator_add_tlsa(v, 3, 1, 1, (unsigned char *)big, BIG_LEN)) \
    R(VAL, ERR(TOO_LONG), mailssl_validator_add_tlsa(v, 3, 1, 1, (unsigned char *)big, SIZE_MAX)) \
    R(NUL, 0, mailssl_certificate_json(NULL, 0, 0)) \
    R(NUL, 0, mailssl_certificate_json(NULL, 10, 0)) \
    R(NUL, 0, mailssl_certificate_json((unsigned char *)big, BIG_LEN, 0))
AUDIT_TABLE(validation)

#define probe_CASES(R) \
    R(NUL, 0, mailssl_stage_name(-1)) \
    R(NUL, 0, mailssl_stage_name(MAILSSL_STAGE_DANE + 1)) \
    R(NUL, 0, mailssl_stage_name(INT_MIN)) \
    R(IS, ERR(INVALID), mailssl_probe_set_cafile(NULL, good_pem)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_cafile(p, "")) \
    R(PROBE, ERR(TOO_LONG), mailssl_probe_set_cafile(p, big)) \
    R(IS, ERR(INVALID), mailssl_probe_set_servername(NULL, "x")) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_servername(p, "")) \
    R(PROBE, ERR(SYNTAX), mailssl_probe_set_servername(p, "a b")) \
    R(PROBE, ERR(SYNTAX), mailssl_probe_set_servername(p, "a\nb")) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_servername(p, big)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_servername(p, bigname)) \
    R(IS, ERR(INVALID), mailssl_probe_set_connect_to(NULL, "x")) \
    R(PROBE, ERR(SYNTAX), mailssl_probe_set_connect_to(p, "")) \
    R(PROBE, ERR(SYNTAX), mailssl_probe_set_connect_to(p, "x:0")) \
    R(PROBE, ERR(SYNTAX), mailssl_probe_set_connect_to(p, "[::1")) \
    R(PROBE, ERR(SYNTAX), mailssl_probe_set_connect_to(p, big)) \
    R(IS, ERR(INVALID), mailssl_probe_set_family(NULL, 0)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_family(p, 5)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_family(p, -1)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_family(p, INT_MAX)) \
    R(IS, ERR(INVALID), mailssl_probe_set_timeout_ms(NULL, 100)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_timeout_ms(p, 0)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_timeout_ms(p, -1)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_timeout_ms(p, INT32_MIN)) \
    R(IS, ERR(INVALID), mailssl_probe_set_stage_timeout_ms(NULL, MAILSSL_STAGE_CONNECT, 100)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_NONE, 100)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_DONE, 100)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_TOTAL, 100)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_stage_timeout_ms(p, INT_MAX, 100)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_CONNECT, -1)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_CONNECT, INT32_MIN)) \
    R(IS, ERR(INVALID), mailssl_probe_set_days(NULL, 30, 7)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_days(p, -1, 0)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_days(p, 7, 30)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_days(p, 36501, 7)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_days(p, INT_MAX, INT_MIN)) \
    R(IS, ERR(INVALID), mailssl_probe_set_priority(NULL, "NORMAL")) \
    R(PROBE, ERR(SYNTAX), mailssl_probe_set_priority(p, "")) \
    R(PROBE, ERR(SYNTAX), mailssl_probe_set_priority(p, "NOT-A-PRIORITY")) \
    R(PROBE, ERR(SYNTAX), mailssl_probe_set_priority(p, big)) \
    R(IS, ERR(INVALID), mailssl_probe_set_min_version(NULL, "TLS1.2")) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_min_version(p, NULL)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_min_version(p, "")) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_min_version(p, "TLS9")) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_min_version(p, big)) \
    R(IS, ERR(INVALID), mailssl_probe_add_tlsa(NULL, 3, 1, 1, (unsigned char *)tlsa_data, 32)) \
    R(PROBE, ERR(INVALID), mailssl_probe_add_tlsa(p, 256, 1, 1, (unsigned char *)tlsa_data, 32)) \
    R(PROBE, ERR(INVALID), mailssl_probe_add_tlsa(p, 3, -1, 1, (unsigned char *)tlsa_data, 32)) \
    R(PROBE, ERR(INVALID), mailssl_probe_add_tlsa(p, 3, 1, 1, NULL, 32)) \
    R(PROBE, ERR(INVALID), mailssl_probe_add_tlsa(p, 3, 1, 1, (unsigned char *)tlsa_data, 0)) \
    R(PROBE, ERR(TOO_LONG), mailssl_probe_add_tlsa(p, 3, 1, 1, (unsigned char *)big, BIG_LEN)) \
    R(IS, ERR(INVALID), mailssl_probe_set_time(NULL, 0)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_time(p, -1)) \
    R(PROBE, ERR(INVALID), mailssl_probe_set_time(p, INT64_MIN)) \
    R(IS, ERR(INVALID), mailssl_probe_start(NULL)) \
    R(IS, ERR(INVALID), mailssl_probe_step(NULL)) \
    R(IS, ERR(INVALID), mailssl_probe_run(NULL)) \
    R(PROBE, ERR(STATE), mailssl_probe_step(p)) \
    R(IS, -1, mailssl_probe_fd(NULL)) \
    R(IS, -1, mailssl_probe_timeout_left_ms(NULL)) \
    R(IS, MAILSSL_ERR_INVALID, mailssl_probe_done(NULL)) \
    R(IS, ERR(INVALID), mailssl_probe_status(NULL)) \
    R(IS, ERR(INVALID), mailssl_probe_diagnosis(NULL)) \
    R(NUL, 0, mailssl_probe_message(NULL)) \
    R(IS, ERR(INVALID), mailssl_probe_stage(NULL)) \
    R(IS, ERR(INVALID), mailssl_probe_service(NULL)) \
    R(NUL, 0, mailssl_probe_host(NULL)) \
    R(IS, ERR(INVALID), mailssl_probe_port(NULL)) \
    R(NUL, 0, mailssl_probe_address(NULL)) \
    R(NUL, 0, mailssl_probe_tls_version(NULL)) \
    R(NUL, 0, mailssl_probe_tls_cipher(NULL)) \
    R(NUL, 0, mailssl_probe_tls_group(NULL)) \
    R(IS, 0, mailssl_probe_chain_length(NULL)) \
    R(IS, 0, mailssl_probe_capability_count(NULL)) \
    R(NUL, 0, mailssl_probe_capability(NULL, 0)) \
    R(NUL, 0, mailssl_probe_findings(NULL)) \
    R(IS, -1, mailssl_probe_timing_us(NULL, MAILSSL_STAGE_TOTAL)) \
    R(NUL, 0, mailssl_probe_cert_subject(NULL)) \
    R(NUL, 0, mailssl_probe_cert_issuer(NULL)) \
    R(IS, 0, mailssl_probe_cert_name_count(NULL)) \
    R(NUL, 0, mailssl_probe_cert_name(NULL, 0)) \
    R(IS, -1, mailssl_probe_cert_not_before(NULL)) \
    R(IS, -1, mailssl_probe_cert_not_after(NULL)) \
    R(IS, 0, mailssl_probe_cert_days_left(NULL)) \
    R(NUL, 0, mailssl_probe_cert_sha256(NULL)) \
    R(NUL, 0, mailssl_probe_json(NULL)) \
    R(NUL, 0, mailssl_batch_new(0)) \
    R(NUL, 0, mailssl_batch_new(-1)) \
    R(NUL, 0, mailssl_batch_new(INT_MIN))
AUDIT_TABLE(probe)

/* Plays every row of a table (objects fresh for each row). */
static void run_rows(const struct row *rows, size_t n,
                     long long (*call)(size_t, mailssl_store *,
                                       mailssl_credential *,
                                       mailssl_validator *, mailssl_probe *,
                                       mailssl_report *))
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        mailssl_store *s = r->kind == K_STORE ? mailssl_store_new() : NULL;
        mailssl_credential *c =
            r->kind == K_CRED ? mailssl_credential_new() : NULL;
        mailssl_validator *v =
            r->kind == K_VAL ? mailssl_validator_new() : NULL;
        mailssl_probe *p = r->kind == K_PROBE
                               ? mailssl_probe_new("imaps://mail.example.com")
                               : NULL;
        const char *m = s   ? mailssl_store_error(s)
                        : c ? mailssl_credential_error(c)
                        : v ? mailssl_validator_error(v)
                        : p ? mailssl_probe_error(p)
                            : NULL;
        mailssl_report *rep =
            r->kind == K_REPORT ? mailssl_report_new() : NULL;
        long long rc;

        if (r->kind == K_REPORT)
            ck_assert_ptr_nonnull(rep);
        if (r->kind >= K_STORE) {
            ck_assert_msg(m != NULL, "%s: no object", r->call);
            ck_assert_msg(m[0] == '\0', "%s: a message before the call",
                          r->call);
        }
        rc = call(i, s, c, v, p, rep);
        ncases++;
        if (r->kind == K_NEG)
            CHECK_CASE(rc < 0, "%s: %lld, expected an error", r->call, rc);
        else if (r->kind == K_NUL)
            CHECK_CASE(rc == 1, "%s: not NULL", r->call);
        else
            CHECK_CASE(rc == r->code, "%s: %lld, expected %s", r->call, rc,
                       r->code_name);
        if (r->kind >= K_STORE) {
            m = s   ? mailssl_store_error(s)
                : c ? mailssl_credential_error(c)
                : v ? mailssl_validator_error(v)
                    : mailssl_probe_error(p);
            CHECK_CASE(m[0] != '\0', "%s: no message", r->call);
        }
        if (c)
            CHECK_CASE(mailssl_credential_usable(c) == 0,
                       "%s: the credential is usable", r->call);
        if (rep)
            CHECK_CASE(mailssl_report_count(rep) == 0, "%s: a finding was "
                       "added", r->call);
        mailssl_report_free(rep);
        mailssl_store_free(s);
        mailssl_credential_free(c);
        mailssl_validator_free(v);
        mailssl_probe_free(p);
    }
}


/* ---- base ------------------------------------------------------------- */

static void audit_base(void)
{
    run_rows(base_rows, CHECK_COUNT(base_rows), base_call);
    static const int bad_services[] = {-1, MAILSSL_SERVICE_MAX + 1, INT_MIN,
                                       INT_MAX};
    static const int bad_codes[] = {-1, 26, 39, 54, 59, MAILSSL_CODE_MAX + 1,
                                    INT_MIN, INT_MAX};
    size_t i;

    OK_CALL(ck_assert_ptr_nonnull(mailssl_version()));
    OK_CALL(mailssl_free(NULL));
    for (i = 0; i < 5; i++) {
        static const int codes[] = {INT_MIN, -1000, -1, 1, INT_MAX};
        ncases++;
        ck_assert_str_eq(mailssl_strerror(codes[i]), "unknown error");
    }
    for (i = 0; i < sizeof bad_services / sizeof *bad_services; i++) {
        NUL(mailssl_service_name(bad_services[i]));
        IS(MAILSSL_ERR_INVALID,
           mailssl_service_default_port(bad_services[i]));
        IS(MAILSSL_ERR_INVALID,
           mailssl_service_implicit_tls(bad_services[i]));
    }
    for (i = 0; i < sizeof bad_codes / sizeof *bad_codes; i++)
        NUL(mailssl_code_name(bad_codes[i]));
}

/* init/deinit: extra deinit calls are harmless; without init, objects are
 * not made. Leaves the library initialised once, as the fixture does. */
static void audit_init(void)
{
    mailssl_deinit(); /* the fixture's reference */
    OK_CALL(mailssl_deinit());
    OK_CALL(mailssl_deinit());
    NUL(mailssl_store_new());
    NUL(mailssl_credential_new());
    NUL(mailssl_validator_new());
    NUL(mailssl_probe_new("imaps://mail.example.com"));
    IS(MAILSSL_OK, mailssl_init());
}

/* ---- report ----------------------------------------------------------- */

static void audit_report(void)
{
    run_rows(report_rows, CHECK_COUNT(report_rows), report_call);
    mailssl_report *r = mailssl_report_new();
    const size_t bad_index[] = {1, 2, SIZE_MAX};
    size_t i;

    ck_assert_ptr_nonnull(r);
    OK_CALL(mailssl_report_free(NULL));
    IS(0, mailssl_report_count(r)); /* nothing was added */
    ck_assert_int_eq(mailssl_report_add(r, MAILSSL_CODE_CERT_EXPIRED, 2, 0,
                                        NULL, NULL, "m"),
                     0);
    for (i = 0; i < sizeof bad_index / sizeof *bad_index; i++) {
        IS(MAILSSL_ERR_INVALID, mailssl_report_code(r, bad_index[i]));
        IS(MAILSSL_ERR_INVALID, mailssl_report_severity(r, bad_index[i]));
        IS(MAILSSL_ERR_INVALID, mailssl_report_cert_index(r, bad_index[i]));
        NUL(mailssl_report_message(r, bad_index[i]));
        NUL(mailssl_report_context_kind(r, bad_index[i]));
        NUL(mailssl_report_context(r, bad_index[i]));
        IS(MAILSSL_ERR_NOT_FOUND,
           mailssl_report_find(r, MAILSSL_CODE_CERT_EXPIRED, bad_index[i]));
    }
    NEG(mailssl_report_find(r, -1, 0));
    NEG(mailssl_report_find(r, INT_MAX, 0));
    OK_CALL(mailssl_report_clear(NULL));
    {
        /* an overlong label is refused, not copied into a status line */
        char *line = mailssl_report_nagios(r, big);
        ncases++;
        ck_assert_ptr_null(line);
    }
    mailssl_report_free(r);
}

/* ---- credential ------------------------------------------------------- */

static void audit_credential(void)
{
    run_rows(credential_rows, CHECK_COUNT(credential_rows), credential_call);
    mailssl_credential *loaded = good_cred(), *fresh;

    OK_CALL(mailssl_credential_free(NULL));
    OK_CALL(ck_assert_ptr_nonnull(mailssl_credential_error(NULL)));

    /* loaded once */
    IS(MAILSSL_ERR_STATE,
       mailssl_credential_load_pem_memory(loaded, cert_pem, strlen(cert_pem),
                                          key_pem, strlen(key_pem), NULL));
    ck_assert_str_ne(mailssl_credential_error(loaded), "");
    IS(MAILSSL_ERR_STATE,
       mailssl_credential_load_pem_files(loaded, good_pem, NULL, NULL));
    IS(MAILSSL_ERR_STATE,
       mailssl_credential_load_pkcs12_file(loaded, good_pem, NULL, NULL));
    IS(1, mailssl_credential_usable(loaded));



    fresh = mailssl_credential_new();
    IS(0, mailssl_credential_usable(fresh));
    NUL(mailssl_credential_certificate_json(fresh, 0, 0));
    NUL(mailssl_credential_certificate_json(loaded, 1, 0));
    NUL(mailssl_credential_certificate_json(loaded, SIZE_MAX, 0));
    NUL(mailssl_credential_certificate_json(loaded, 0, -1));
    NUL(mailssl_credential_certificate_json(loaded, 0, INT64_MIN));
    mailssl_credential_free(fresh);
    mailssl_credential_free(loaded);
}

/* ---- store ------------------------------------------------------------ */

static void audit_store(void)
{
    run_rows(store_rows, CHECK_COUNT(store_rows), store_call);
    static const int bad_ports[] = {0, -2, 65536, INT_MIN, INT_MAX};
    static const int bad_services[] = {-1, MAILSSL_SERVICE_MAX + 1, INT_MIN,
                                       INT_MAX};
    static const char *const bad_addrs[] = {"", "x", "300.1.1.1",
                                            "192.0.2.0/33", "2001:db8::/129",
                                            "192.0.2.1/24", "192.0.2.0/-1",
                                            " 192.0.2.1"};
    static const char *const bad_names[] = {"", "a b", "*.", "*.*.example.com",
                                            "192.0.2.1", "x..example", ".."};
    mailssl_credential *cr = good_cred(), *fresh = mailssl_credential_new(),
                       *out = NULL;
    mailssl_report *rep = mailssl_report_new();
    mailssl_store *other = mailssl_store_new();
    struct sockaddr_un un;
    struct sockaddr_in in4;
    char why[256];
    size_t i;

    OK_CALL(mailssl_store_free(NULL));
    OK_CALL(ck_assert_ptr_nonnull(mailssl_store_error(NULL)));

    IS(MAILSSL_ERR_INVALID, mailssl_store_add(NULL, MAILSSL_SERVICE_IMAPS,
                                              "*", 993, "*", cr));
    for (i = 0; i < sizeof bad_services / sizeof *bad_services; i++) {
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_add(s, bad_services[i], "*", 993, "*", cr));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_remove(s, bad_services[i], "*", 993, "*"));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_add_listener(s, bad_services[i], "192.0.2.1",
                                            993));
    }
    for (i = 0; i < sizeof bad_ports / sizeof *bad_ports; i++) {
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, "*",
                                   bad_ports[i], "*", cr));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_remove(s, MAILSSL_SERVICE_IMAPS, "*",
                                      bad_ports[i], "*"));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_add_listener(s, MAILSSL_SERVICE_IMAPS,
                                            "192.0.2.1", bad_ports[i]));
    }
    for (i = 0; i < sizeof bad_addrs / sizeof *bad_addrs; i++) {
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, bad_addrs[i],
                                   993, "*", cr));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_remove(s, MAILSSL_SERVICE_IMAPS, bad_addrs[i],
                                      993, "*"));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_add_listener(s, MAILSSL_SERVICE_IMAPS,
                                            bad_addrs[i], 993));
    }
    for (i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, "*", 993,
                                   bad_names[i], cr));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_store_remove(s, MAILSSL_SERVICE_IMAPS, "*", 993,
                                      bad_names[i]));
    }
    STORE_IS(MAILSSL_ERR_INVALID,
             mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, NULL, 993, "*", cr));
    STORE_IS(MAILSSL_ERR_INVALID,
             mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, big, 993, "*", cr));
    STORE_IS(MAILSSL_ERR_INVALID,
             mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, "*", 993, big, cr));
    STORE_IS(MAILSSL_ERR_INVALID,
             mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, "*", 993, bigname,
                               cr));
    STORE_IS(MAILSSL_ERR_CREDENTIAL,
             mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, "*", 993, "*",
                               fresh));


    /* lookups: the reason goes into why */
    memset(&in4, 0, sizeof in4);
    in4.sin_family = AF_INET;
    in4.sin_port = htons(993);
    in4.sin_addr.s_addr = htonl(0xc0000201);
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
#define LOOKUP_IS(code, expr)                                                 \
    do {                                                                      \
        mailssl_store *s = mailssl_store_new();                               \
        long long rc_;                                                        \
        out = (mailssl_credential *)1;                                        \
        why[0] = '\0';                                                        \
        rc_ = (long long)(expr);                                              \
        ncases++;                                                             \
        CHECK_CASE(rc_ == (long long)(code), "%s: %lld (%s)", #expr, rc_,  \
                      why);                                                   \
        CHECK_CASE(why[0] != '\0', "%s: no reason", #expr);                \
        CHECK_CASE(out == NULL, "%s: *out not cleared", #expr);            \
        mailssl_store_free(s);                                                \
    } while (0)
    IS(MAILSSL_ERR_INVALID,
       mailssl_store_lookup(NULL, (struct sockaddr *)&in4,
                            MAILSSL_SERVICE_IMAPS, NULL, &out, why,
                            sizeof why));
    IS(MAILSSL_ERR_INVALID,
       mailssl_store_lookup(other, (struct sockaddr *)&in4,
                            MAILSSL_SERVICE_IMAPS, NULL, NULL, why,
                            sizeof why));
    LOOKUP_IS(MAILSSL_ERR_INVALID,
              mailssl_store_lookup(s, NULL, MAILSSL_SERVICE_IMAPS, NULL, &out,
                                   why, sizeof why));
    LOOKUP_IS(MAILSSL_ERR_INVALID,
              mailssl_store_lookup(s, (struct sockaddr *)&un,
                                   MAILSSL_SERVICE_IMAPS, NULL, &out, why,
                                   sizeof why));
    LOOKUP_IS(MAILSSL_ERR_INVALID,
              mailssl_store_lookup(s, (struct sockaddr *)&in4,
                                   MAILSSL_SERVICE_ANY, NULL, &out, why,
                                   sizeof why));
    LOOKUP_IS(MAILSSL_ERR_INVALID,
              mailssl_store_lookup(s, (struct sockaddr *)&in4, INT_MAX, NULL,
                                   &out, why, sizeof why));
    /* an overlong SNI name is ignored, as any name that is not a host name */
    LOOKUP_IS(MAILSSL_ERR_NOT_FOUND,
              mailssl_store_lookup(s, (struct sockaddr *)&in4,
                                   MAILSSL_SERVICE_IMAPS, big, &out, why,
                                   sizeof why));
    OK_CALL(ck_assert_int_eq(
        mailssl_store_lookup(other, (struct sockaddr *)&in4,
                             MAILSSL_SERVICE_IMAPS, NULL, &out, NULL, 0),
        MAILSSL_ERR_NOT_FOUND));
    OK_CALL(ck_assert_int_eq(
        mailssl_store_lookup(other, (struct sockaddr *)&in4,
                             MAILSSL_SERVICE_IMAPS, NULL, &out, why, 1),
        MAILSSL_ERR_NOT_FOUND));
    IS(MAILSSL_ERR_INVALID,
       mailssl_store_lookup_text(NULL, "192.0.2.1", 993,
                                 MAILSSL_SERVICE_IMAPS, NULL, &out, why,
                                 sizeof why));
    LOOKUP_IS(MAILSSL_ERR_INVALID,
              mailssl_store_lookup_text(s, NULL, 993, MAILSSL_SERVICE_IMAPS,
                                        NULL, &out, why, sizeof why));
    for (i = 0; i < sizeof bad_addrs / sizeof *bad_addrs; i++)
        LOOKUP_IS(MAILSSL_ERR_INVALID,
                  mailssl_store_lookup_text(s, bad_addrs[i], 993,
                                            MAILSSL_SERVICE_IMAPS, NULL, &out,
                                            why, sizeof why));
    LOOKUP_IS(MAILSSL_ERR_INVALID,
              mailssl_store_lookup_text(s, "*", 993, MAILSSL_SERVICE_IMAPS,
                                        NULL, &out, why, sizeof why));
    LOOKUP_IS(MAILSSL_ERR_INVALID,
              mailssl_store_lookup_text(s, big, 993, MAILSSL_SERVICE_IMAPS,
                                        NULL, &out, why, sizeof why));
    for (i = 0; i < sizeof bad_ports / sizeof *bad_ports; i++)
        LOOKUP_IS(MAILSSL_ERR_INVALID,
                  mailssl_store_lookup_text(s, "192.0.2.1", bad_ports[i],
                                            MAILSSL_SERVICE_IMAPS, NULL, &out,
                                            why, sizeof why));
    LOOKUP_IS(MAILSSL_ERR_INVALID,
              mailssl_store_lookup_text(s, "192.0.2.1", MAILSSL_PORT_ANY,
                                        MAILSSL_SERVICE_IMAPS, NULL, &out,
                                        why, sizeof why));
    for (i = 0; i < sizeof bad_services / sizeof *bad_services; i++)
        LOOKUP_IS(MAILSSL_ERR_INVALID,
                  mailssl_store_lookup_text(s, "192.0.2.1", 993,
                                            bad_services[i], NULL, &out, why,
                                            sizeof why));
    LOOKUP_IS(MAILSSL_ERR_NOT_FOUND,
              mailssl_store_lookup_text(s, "192.0.2.1", 993,
                                        MAILSSL_SERVICE_IMAPS, bigname, &out,
                                        why, sizeof why));
#undef LOOKUP_IS

    /* loads: nothing changes on error */
    IS(MAILSSL_ERR_INVALID, mailssl_store_replace(NULL, other));
    IS(MAILSSL_ERR_INVALID, mailssl_store_audit(NULL, NULL, rep));
    /* replacing a store with itself changes nothing and must not hang */
    OK_CALL(ck_assert_int_ge(mailssl_store_replace(other, other),
                             MAILSSL_ERR_INVALID));

    /* the GnuTLS glue */
    {
        gnutls_session_t sess;
        ck_assert_int_eq(gnutls_init(&sess, GNUTLS_SERVER), 0);
        IS(MAILSSL_ERR_INVALID,
           mailssl_gnutls_attach(NULL, other, 0, MAILSSL_SERVICE_IMAPS));
        IS(MAILSSL_ERR_INVALID,
           mailssl_gnutls_attach(sess, NULL, 0, MAILSSL_SERVICE_IMAPS));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_gnutls_attach(sess, s, -1, MAILSSL_SERVICE_IMAPS));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_gnutls_attach(sess, s, 0, MAILSSL_SERVICE_ANY));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_gnutls_attach(sess, s, 0, INT_MAX));
        STORE_IS(MAILSSL_ERR_INVALID,
                 mailssl_gnutls_attach(sess, s, 0, -1));
        gnutls_deinit(sess);
    }
    mailssl_store_free(other);
    mailssl_report_free(rep);
    mailssl_credential_free(cr);
    mailssl_credential_free(fresh);
}

/* ---- validation ------------------------------------------------------- */

static void audit_validation(void)
{
    run_rows(validation_rows, CHECK_COUNT(validation_rows), validation_call);
    mailssl_validator *good = mailssl_validator_new();
    mailssl_credential *cr = good_cred(), *fresh = mailssl_credential_new();
    mailssl_report *rep = mailssl_report_new();
    const unsigned char *ders[33];
    size_t lens[33], i;
    unsigned char junk[4] = {1, 2, 3, 4};

    for (i = 0; i < 33; i++) {
        ders[i] = junk;
        lens[i] = sizeof junk;
    }
    OK_CALL(mailssl_validator_free(NULL));
    OK_CALL(ck_assert_ptr_nonnull(mailssl_validator_error(NULL)));
    {
        mailssl_validator *v = mailssl_validator_new();
        for (i = 0; i < 64; i++)
            ck_assert_int_eq(mailssl_validator_add_tlsa(
                                 v, 3, 1, 1, (unsigned char *)tlsa_data, 32),
                             MAILSSL_OK);
        IS(MAILSSL_ERR_TOO_LONG,
           mailssl_validator_add_tlsa(v, 3, 1, 1, (unsigned char *)tlsa_data,
                                      32));
        ck_assert_str_ne(mailssl_validator_error(v), "");
        mailssl_validator_free(v);
    }

    /* validators are const here: codes only */
    IS(MAILSSL_ERR_INVALID, mailssl_validate_credential(NULL, cr, rep));
    IS(MAILSSL_ERR_INVALID, mailssl_validate_credential(good, NULL, rep));
    IS(MAILSSL_ERR_INVALID, mailssl_validate_credential(good, cr, NULL));
    IS(MAILSSL_ERR_STATE, mailssl_validate_credential(good, fresh, rep));
    IS(MAILSSL_ERR_INVALID,
       mailssl_validate_chain(NULL, ders, lens, 1, NULL, 0, rep));
    IS(MAILSSL_ERR_INVALID,
       mailssl_validate_chain(good, NULL, lens, 1, NULL, 0, rep));
    IS(MAILSSL_ERR_INVALID,
       mailssl_validate_chain(good, ders, NULL, 1, NULL, 0, rep));
    IS(MAILSSL_ERR_INVALID,
       mailssl_validate_chain(good, ders, lens, 0, NULL, 0, rep));
    IS(MAILSSL_ERR_TOO_LONG,
       mailssl_validate_chain(good, ders, lens, 33, NULL, 0, rep));
    IS(MAILSSL_ERR_TOO_LONG,
       mailssl_validate_chain(good, ders, lens, SIZE_MAX, NULL, 0, rep));
    IS(MAILSSL_ERR_INVALID,
       mailssl_validate_chain(good, ders, lens, 1, NULL, 5, rep));
    IS(MAILSSL_ERR_INVALID,
       mailssl_validate_chain(good, ders, lens, 1, NULL, 0, NULL));
    {
        /* a NULL certificate inside the array, a zero length: findings
         * (cert-parse-error), as for any certificate that does not parse */
        const unsigned char *nd[2] = {junk, NULL};
        size_t nl[2] = {sizeof junk, 4}, zl[1] = {0};
        mailssl_report_clear(rep);
        IS(MAILSSL_SEVERITY_CRITICAL,
           mailssl_validate_chain(good, nd, nl, 2, NULL, 0, rep));
        IS(0, mailssl_report_find(rep, MAILSSL_CODE_CERT_PARSE_ERROR, 0));
        mailssl_report_clear(rep);
        IS(MAILSSL_SEVERITY_CRITICAL,
           mailssl_validate_chain(good, ders, zl, 1, NULL, 0, rep));
        IS(0, mailssl_report_find(rep, MAILSSL_CODE_CERT_PARSE_ERROR, 0));
    }
    {
        /* the far ends of the validation time: findings, no overflow */
        mailssl_validator *v = mailssl_validator_new();
        ck_assert_int_eq(mailssl_validator_set_time(v, INT64_MAX),
                         MAILSSL_OK);
        mailssl_report_clear(rep);
        IS(MAILSSL_SEVERITY_CRITICAL, mailssl_validate_credential(v, cr, rep));
        ck_assert_int_ge(
            mailssl_report_find(rep, MAILSSL_CODE_CERT_EXPIRED, 0), 0);
        ck_assert_int_eq(mailssl_validator_set_time(v, 1), MAILSSL_OK);
        mailssl_report_clear(rep);
        IS(MAILSSL_SEVERITY_CRITICAL, mailssl_validate_credential(v, cr, rep));
        ck_assert_int_ge(
            mailssl_report_find(rep, MAILSSL_CODE_CERT_NOT_YET_VALID, 0), 0);
        mailssl_validator_free(v);
    }
    NUL(mailssl_certificate_json(junk, 0, 0));
    NUL(mailssl_certificate_json(junk, sizeof junk, INT64_MIN));
    mailssl_validator_free(good);
    mailssl_credential_free(cr);
    mailssl_credential_free(fresh);
    mailssl_report_free(rep);
}

/* ---- probe and batch -------------------------------------------------- */

static void audit_probe(void)
{
    run_rows(probe_rows, CHECK_COUNT(probe_rows), probe_call);
    static const char *const bad_urls[] = {
        "", "imaps", "imaps://", "imaps://:993", "nntp://x", "imaps://x:0",
        "imaps://x:65536", "imaps://[::1", "imaps://a:b:c", "imaps://x:99x",
        "://x", "imaps://a b"};
    mailssl_credential *fresh = mailssl_credential_new();
    mailssl_probe *p;
    size_t i;

    OK_CALL(mailssl_probe_free(NULL));
    OK_CALL(ck_assert_ptr_nonnull(mailssl_probe_error(NULL)));

    /* a URL that does not parse still gives a probe, refused at start */
    for (i = 0; i < sizeof bad_urls / sizeof *bad_urls + 2; i++) {
        const char *u = i < sizeof bad_urls / sizeof *bad_urls
                            ? bad_urls[i]
                            : i == sizeof bad_urls / sizeof *bad_urls ? NULL
                                                                      : big;
        p = mailssl_probe_new(u);
        ck_assert_ptr_nonnull(p);
        ncases++;
        CHECK_CASE(mailssl_probe_error(p)[0] != '\0', "\"%s\" accepted",
                      u ? u : "(null)");
        IS(MAILSSL_ERR_SYNTAX, mailssl_probe_start(p));
        ck_assert_str_ne(mailssl_probe_error(p), "");
        IS(1, mailssl_probe_done(p));
        IS(MAILSSL_ERR_STATE, mailssl_probe_set_timeout_ms(p, 100));
        mailssl_probe_free(p);
    }
    {
        /* a 1 MiB host name */
        size_t n = BIG_LEN + 16;
        char *u = malloc(n);
        snprintf(u, n, "imaps://%s", bigname);
        p = mailssl_probe_new(u);
        ncases++;
        ck_assert_str_ne(mailssl_probe_error(p), "");
        mailssl_probe_free(p);
        free(u);
    }

    IS(MAILSSL_ERR_INVALID, mailssl_probe_set_client_credential(NULL, fresh));
    PROBE_IS(MAILSSL_ERR_CREDENTIAL,
             mailssl_probe_set_client_credential(p, fresh));

    /* the non-blocking calls */

    /* results of NULL, and of a probe that has not run */
    p = mailssl_probe_new("imaps://mail.example.com");
    NUL(mailssl_probe_capability(p, 0));
    NUL(mailssl_probe_capability(p, SIZE_MAX));
    IS(-1, mailssl_probe_timing_us(p, -1));
    IS(-1, mailssl_probe_timing_us(p, MAILSSL_STAGE_DANE + 1));
    IS(-1, mailssl_probe_timing_us(p, INT_MAX));
    NUL(mailssl_probe_cert_name(p, 0));
    NUL(mailssl_probe_cert_name(p, SIZE_MAX));
    NUL(mailssl_probe_json(p));

    /* batches (no error accessor: codes only) */
    OK_CALL(mailssl_batch_free(NULL));
    {
        mailssl_batch *b = mailssl_batch_new(2);
        mailssl_probe *started = mailssl_probe_new("x");
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(mailssl_probe_start(started), MAILSSL_ERR_SYNTAX);
        IS(MAILSSL_ERR_INVALID, mailssl_batch_add(NULL, p));
        IS(MAILSSL_ERR_INVALID, mailssl_batch_add(b, NULL));
        IS(MAILSSL_ERR_STATE, mailssl_batch_add(b, started));
        IS(MAILSSL_OK, mailssl_batch_add(b, p));
        NEG(mailssl_batch_add(b, p)); /* twice */
        IS(MAILSSL_ERR_INVALID, mailssl_batch_run(NULL, NULL, NULL));
        mailssl_batch_free(b);
        mailssl_probe_free(started);
    }
    {
        /* the largest concurrency: no slot per unit of it (URLs that do
         * not parse finish at start, without network) */
        mailssl_batch *b = mailssl_batch_new(INT_MAX);
        mailssl_probe *q1 = mailssl_probe_new("x"), *q2 = mailssl_probe_new("");
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(mailssl_batch_add(b, q1), MAILSSL_OK);
        ck_assert_int_eq(mailssl_batch_add(b, q2), MAILSSL_OK);
        IS(MAILSSL_OK, mailssl_batch_run(b, NULL, NULL));
        IS(1, mailssl_probe_done(q1) && mailssl_probe_done(q2));
        IS(MAILSSL_SEVERITY_UNKNOWN, mailssl_probe_status(q1));
        mailssl_batch_free(b);
        mailssl_probe_free(q1);
        mailssl_probe_free(q2);
        b = mailssl_batch_new(3);
        IS(MAILSSL_OK, mailssl_batch_run(b, NULL, NULL)); /* empty */
        mailssl_batch_free(b);
    }
    mailssl_probe_free(p);
    mailssl_credential_free(fresh);
}

/* ---- 1.1: listener accessor and live audit (issue 12) ------------------
 * Kept apart from the 1.0 blocks above, to ease merging. */

static void audit_live(void)
{
    static const int bad_concurrency[] = {0, -1, INT_MIN};
    mailssl_store *s = mailssl_store_new();
    mailssl_report *r = mailssl_report_new();
    mailssl_live *lv;
    char addr[MAILSSL_ADDRESS_MAX], tiny[4];
    int svc = 0, port = 0;
    size_t i;

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(r);
    IS(MAILSSL_ERR_INVALID,
       mailssl_store_listener_get(NULL, 0, &svc, addr, sizeof addr, &port));
    IS(MAILSSL_ERR_INVALID, svc);
    IS(MAILSSL_ERR_NOT_FOUND,
       mailssl_store_listener_get(s, 0, &svc, addr, sizeof addr, &port));
    IS(MAILSSL_ERR_NOT_FOUND, mailssl_store_listener_get(s, (size_t)-1, &svc,
                                                         addr, sizeof addr,
                                                         &port));
    ck_assert_int_eq(mailssl_store_add_listener(s, MAILSSL_SERVICE_IMAPS,
                                                "2001:db8:aaaa:bbbb:cccc:"
                                                "dddd:eeee:ffff",
                                                993),
                     MAILSSL_OK);
    IS(MAILSSL_ERR_INVALID,
       mailssl_store_listener_get(s, 0, &svc, NULL, 10, &port));
    memset(tiny, 'x', sizeof tiny);
    IS(MAILSSL_ERR_TOO_LONG,
       mailssl_store_listener_get(s, 0, &svc, tiny, sizeof tiny, &port));
    IS(0, tiny[0]);
    IS(0, port);
    IS(MAILSSL_OK, mailssl_store_listener_get(s, 0, NULL, NULL, 0, NULL));
    IS(MAILSSL_OK,
       mailssl_store_listener_get(s, 0, &svc, addr, sizeof addr, &port));
    IS(MAILSSL_SERVICE_IMAPS, svc);
    IS(993, port);
    IS(0, strcmp(addr, "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"));
    IS(MAILSSL_ERR_NOT_FOUND,
       mailssl_store_listener_get(s, 1, &svc, addr, sizeof addr, &port));

    NUL(mailssl_live_new(NULL));
    OK_CALL(mailssl_live_free(NULL));
    IS(0, mailssl_live_count(NULL));
    NUL(mailssl_live_probe(NULL, 0));
    NUL(mailssl_live_listener(NULL, 0));
    NUL(mailssl_live_name(NULL, 0));
    NUL(mailssl_live_expected_sha256(NULL, 0));
    IS(MAILSSL_ERR_INVALID, mailssl_live_run(NULL, 1));
    IS(MAILSSL_ERR_INVALID, mailssl_live_report(NULL, r));

    lv = mailssl_live_new(s); /* one listener, no binding: one target */
    ck_assert_ptr_nonnull(lv);
    IS(1, mailssl_live_count(lv));
    NUL(mailssl_live_probe(lv, 1));
    NUL(mailssl_live_probe(lv, (size_t)-1));
    NUL(mailssl_live_listener(lv, 1));
    NUL(mailssl_live_name(lv, 0)); /* the target without SNI */
    NUL(mailssl_live_name(lv, 1));
    NUL(mailssl_live_expected_sha256(lv, 0)); /* nothing bound */
    for (i = 0; i < sizeof bad_concurrency / sizeof *bad_concurrency; i++)
        IS(MAILSSL_ERR_INVALID, mailssl_live_run(lv, bad_concurrency[i]));
    IS(MAILSSL_ERR_INVALID, mailssl_live_report(lv, NULL));
    IS(MAILSSL_ERR_STATE, mailssl_live_report(lv, r)); /* not run */
    IS(0, mailssl_report_count(r));
    mailssl_live_free(lv);

    NUL(mailssl_store_export(NULL, "dovecot"));
    NUL(mailssl_store_export(s, NULL));
    ck_assert_ptr_nonnull(strstr(mailssl_store_error(s), "invalid"));
    NUL(mailssl_store_export(s, ""));
    NUL(mailssl_store_export(s, "exim"));
    NUL(mailssl_store_export(s, big));
    ck_assert_ptr_nonnull(strstr(mailssl_store_error(s), "format"));
    mailssl_report_free(r);
    mailssl_store_free(s);
}

/* ---- the table: every exported symbol, and who audits it --------------- */

struct audit {
    const char *symbol;
    void (*run)(void);
};

/* ---- 1.1: DANE from DNS (issue 13) ----------------------------------- */

static void audit_dane(void)
{
    static const char *const bad_resolvers[] = {
        "", "@53", "localhost", "127.0.0.1@", "127.0.0.1@0", "127.0.0.1@65536",
        "127.0.0.1@-1", "127.0.0.1@+53", "127.0.0.1@53x", "::1@ 53",
        "[::1]@53", "127.0.0.1 ", "1.2.3.4.5"};
    size_t i;
    mailssl_probe *p;

    IS(MAILSSL_ERR_INVALID, mailssl_probe_set_dane(NULL, 1));
    PROBE_IS(MAILSSL_ERR_INVALID, mailssl_probe_set_dane(p, -1));
    PROBE_IS(MAILSSL_ERR_INVALID, mailssl_probe_set_dane(p, 3));
    PROBE_IS(MAILSSL_ERR_INVALID, mailssl_probe_set_dane(p, INT_MAX));
    PROBE_IS(MAILSSL_ERR_INVALID, mailssl_probe_set_dane(p, INT_MIN));
    IS(MAILSSL_ERR_INVALID, mailssl_probe_set_dns_anchor_file(NULL, "/x"));
    PROBE_IS(MAILSSL_ERR_INVALID, mailssl_probe_set_dns_anchor_file(p, ""));
    PROBE_IS(MAILSSL_ERR_TOO_LONG, mailssl_probe_set_dns_anchor_file(p, big));
    IS(MAILSSL_ERR_INVALID, mailssl_probe_set_dns_resolver(NULL, "::1"));
    for (i = 0; i < sizeof bad_resolvers / sizeof *bad_resolvers; i++)
        PROBE_IS(MAILSSL_ERR_SYNTAX,
                 mailssl_probe_set_dns_resolver(p, bad_resolvers[i]));
    PROBE_IS(MAILSSL_ERR_SYNTAX, mailssl_probe_set_dns_resolver(p, big));
    /* NULL restores the defaults; good values are taken */
    p = mailssl_probe_new("smtp://127.0.0.1:1"); /* no DNS at all */
    IS(MAILSSL_OK, mailssl_probe_set_dane(p, MAILSSL_DANE_REQUIRED));
    IS(MAILSSL_OK, mailssl_probe_set_dns_anchor_file(p, NULL));
    IS(MAILSSL_OK, mailssl_probe_set_dns_resolver(p, "::1@5353"));
    IS(MAILSSL_OK, mailssl_probe_set_dns_resolver(p, "192.0.2.1"));
    IS(MAILSSL_OK, mailssl_probe_set_dns_resolver(p, NULL));
    IS(MAILSSL_OK,
       mailssl_probe_set_stage_timeout_ms(p, MAILSSL_STAGE_DANE, 100));
    /* once started, the settings are refused */
    IS(MAILSSL_OK, mailssl_probe_set_dns_anchor_file(p, "/nonexistent"));
    (void)mailssl_probe_start(p);
    IS(MAILSSL_ERR_STATE, mailssl_probe_set_dane(p, 0));
    IS(MAILSSL_ERR_STATE, mailssl_probe_set_dns_anchor_file(p, NULL));
    IS(MAILSSL_ERR_STATE, mailssl_probe_set_dns_resolver(p, NULL));
    IS(MAILSSL_ERR_STATE, mailssl_probe_set_mx(p, 0));
    mailssl_probe_free(p);

    /* MX: smtp://DOMAIN only; results of NULL and of other probes */
    IS(MAILSSL_ERR_INVALID, mailssl_probe_set_mx(NULL, 1));
    PROBE_IS(MAILSSL_ERR_INVALID, mailssl_probe_set_mx(p, 1)); /* imaps:// */
    PROBE_IS(MAILSSL_ERR_INVALID, mailssl_probe_set_mx(p, 2));
    PROBE_IS(MAILSSL_ERR_INVALID, mailssl_probe_set_mx(p, -1));
    p = mailssl_probe_new("smtp://[::1]");
    IS(MAILSSL_ERR_INVALID, mailssl_probe_set_mx(p, 1));
    IS(MAILSSL_OK, mailssl_probe_set_mx(p, 0));
    mailssl_probe_free(p);
    p = mailssl_probe_new("bad url");
    IS(MAILSSL_ERR_INVALID, mailssl_probe_set_mx(p, 1));
    mailssl_probe_free(p);
    p = mailssl_probe_new("smtp://example.com");
    IS(MAILSSL_OK, mailssl_probe_set_mx(p, 1));
    IS(0, mailssl_probe_mx_count(p)); /* not run */
    NUL(mailssl_probe_mx_probe(p, 0));
    IS(-1, mailssl_probe_mx_preference(p));
    mailssl_probe_free(p);
    IS(0, mailssl_probe_mx_count(NULL));
    NUL(mailssl_probe_mx_probe(NULL, 0));
    NUL(mailssl_probe_mx_probe(NULL, SIZE_MAX));
    IS(-1, mailssl_probe_mx_preference(NULL));
}

static const struct audit audits[] = {
    /* 1.1: DANE from DNS (issue 13) */
    {"mailssl_probe_set_dane", audit_dane},
    {"mailssl_probe_set_dns_anchor_file", audit_dane},
    {"mailssl_probe_set_dns_resolver", audit_dane},
    {"mailssl_probe_set_mx", audit_dane},
    {"mailssl_probe_mx_count", audit_dane},
    {"mailssl_probe_mx_probe", audit_dane},
    {"mailssl_probe_mx_preference", audit_dane},
    /* 1.0 */
    {"mailssl_version", audit_base},
    {"mailssl_version_num", audit_base},
    {"mailssl_init", audit_init},
    {"mailssl_deinit", audit_init},
    {"mailssl_free", audit_base},
    {"mailssl_strerror", audit_base},
    {"mailssl_service_from_name", audit_base},
    {"mailssl_service_name", audit_base},
    {"mailssl_service_default_port", audit_base},
    {"mailssl_service_implicit_tls", audit_base},
    {"mailssl_severity_name", audit_base},
    {"mailssl_code_name", audit_base},
    {"mailssl_code_from_name", audit_base},
    {"mailssl_report_new", audit_report},
    {"mailssl_report_free", audit_report},
    {"mailssl_report_add", audit_report},
    {"mailssl_report_count", audit_report},
    {"mailssl_report_status", audit_report},
    {"mailssl_report_code", audit_report},
    {"mailssl_report_severity", audit_report},
    {"mailssl_report_cert_index", audit_report},
    {"mailssl_report_message", audit_report},
    {"mailssl_report_context_kind", audit_report},
    {"mailssl_report_context", audit_report},
    {"mailssl_report_find", audit_report},
    {"mailssl_report_clear", audit_report},
    {"mailssl_report_json", audit_report},
    {"mailssl_report_nagios", audit_report},
    {"mailssl_credential_new", audit_credential},
    {"mailssl_credential_free", audit_credential},
    {"mailssl_credential_load_pem_files", audit_credential},
    {"mailssl_credential_error", audit_credential},
    {"mailssl_credential_load_pem_memory", audit_credential},
    {"mailssl_credential_load_pkcs12_file", audit_credential},
    {"mailssl_credential_load_pkcs11", audit_credential},
    {"mailssl_credential_warnings", audit_credential},
    {"mailssl_credential_usable", audit_credential},
    {"mailssl_credential_certificate_json", audit_credential},
    {"mailssl_store_new", audit_store},
    {"mailssl_store_free", audit_store},
    {"mailssl_store_error", audit_store},
    {"mailssl_store_add", audit_store},
    {"mailssl_store_remove", audit_store},
    {"mailssl_store_add_listener", audit_store},
    {"mailssl_store_count", audit_store},
    {"mailssl_store_listener_count", audit_store},
    {"mailssl_store_set_strict", audit_store},
    {"mailssl_store_lookup", audit_store},
    {"mailssl_store_lookup_text", audit_store},
    {"mailssl_store_load_file", audit_store},
    {"mailssl_store_load_string", audit_store},
    {"mailssl_store_replace", audit_store},
    {"mailssl_store_to_string", audit_store},
    {"mailssl_store_save_file", audit_store},
    {"mailssl_store_audit", audit_store},
    {"mailssl_gnutls_attach", audit_store},
    {"mailssl_validator_new", audit_validation},
    {"mailssl_validator_free", audit_validation},
    {"mailssl_validator_error", audit_validation},
    {"mailssl_validator_set_cafile", audit_validation},
    {"mailssl_validator_set_service", audit_validation},
    {"mailssl_validator_set_time", audit_validation},
    {"mailssl_validator_set_days", audit_validation},
    {"mailssl_validator_set_name", audit_validation},
    {"mailssl_validator_add_tlsa", audit_validation},
    {"mailssl_validate_credential", audit_validation},
    {"mailssl_validate_chain", audit_validation},
    {"mailssl_certificate_json", audit_validation},
    {"mailssl_batch_add", audit_probe},
    {"mailssl_batch_free", audit_probe},
    {"mailssl_batch_new", audit_probe},
    {"mailssl_batch_run", audit_probe},
    {"mailssl_probe_add_tlsa", audit_probe},
    {"mailssl_probe_address", audit_probe},
    {"mailssl_probe_capability", audit_probe},
    {"mailssl_probe_capability_count", audit_probe},
    {"mailssl_probe_cert_days_left", audit_probe},
    {"mailssl_probe_cert_issuer", audit_probe},
    {"mailssl_probe_cert_name", audit_probe},
    {"mailssl_probe_cert_name_count", audit_probe},
    {"mailssl_probe_cert_not_after", audit_probe},
    {"mailssl_probe_cert_not_before", audit_probe},
    {"mailssl_probe_cert_sha256", audit_probe},
    {"mailssl_probe_cert_subject", audit_probe},
    {"mailssl_probe_chain_length", audit_probe},
    {"mailssl_probe_diagnosis", audit_probe},
    {"mailssl_probe_done", audit_probe},
    {"mailssl_probe_error", audit_probe},
    {"mailssl_probe_fd", audit_probe},
    {"mailssl_probe_findings", audit_probe},
    {"mailssl_probe_free", audit_probe},
    {"mailssl_probe_host", audit_probe},
    {"mailssl_probe_json", audit_probe},
    {"mailssl_probe_message", audit_probe},
    {"mailssl_probe_new", audit_probe},
    {"mailssl_probe_port", audit_probe},
    {"mailssl_probe_run", audit_probe},
    {"mailssl_probe_service", audit_probe},
    {"mailssl_probe_set_cafile", audit_probe},
    {"mailssl_probe_set_client_credential", audit_probe},
    {"mailssl_probe_set_connect_to", audit_probe},
    {"mailssl_probe_set_days", audit_probe},
    {"mailssl_probe_set_family", audit_probe},
    {"mailssl_probe_set_min_version", audit_probe},
    {"mailssl_probe_set_priority", audit_probe},
    {"mailssl_probe_set_servername", audit_probe},
    {"mailssl_probe_set_stage_timeout_ms", audit_probe},
    {"mailssl_probe_set_time", audit_probe},
    {"mailssl_probe_set_timeout_ms", audit_probe},
    {"mailssl_probe_stage", audit_probe},
    {"mailssl_probe_start", audit_probe},
    {"mailssl_probe_status", audit_probe},
    {"mailssl_probe_step", audit_probe},
    {"mailssl_probe_timeout_left_ms", audit_probe},
    {"mailssl_probe_timing_us", audit_probe},
    {"mailssl_probe_tls_cipher", audit_probe},
    {"mailssl_probe_tls_group", audit_probe},
    {"mailssl_probe_tls_version", audit_probe},
    {"mailssl_stage_name", audit_probe},
    /* 1.1 (issue 12) */
    {"mailssl_store_listener_get", audit_live},
    {"mailssl_live_new", audit_live},
    {"mailssl_live_free", audit_live},
    {"mailssl_live_count", audit_live},
    {"mailssl_live_probe", audit_live},
    {"mailssl_live_listener", audit_live},
    {"mailssl_live_name", audit_live},
    {"mailssl_live_expected_sha256", audit_live},
    {"mailssl_live_run", audit_live},
    {"mailssl_live_report", audit_live},
    {"mailssl_store_export", audit_live},
};
#define NAUDITS (sizeof audits / sizeof *audits)

static int in_table(const char *sym)
{
    size_t i;
    for (i = 0; i < NAUDITS; i++)
        if (strcmp(audits[i].symbol, sym) == 0)
            return 1;
    return 0;
}

/* The global symbols of the version script: "name;" lines between
 * "global:" and "local:", comments removed. */
static size_t map_symbols(char syms[][128], size_t max)
{
    FILE *f = fopen(MAILSSL_MAP_FILE, "r");
    char line[512];
    int global = 0, in_comment = 0;
    size_t n = 0;

    ck_assert_msg(f != NULL, "cannot read %s", MAILSSL_MAP_FILE);
    while (fgets(line, sizeof line, f)) {
        char *s = line, *e;
        /* drop comments, also across lines */
        for (;;) {
            if (in_comment) {
                e = strstr(s, "*/");
                if (!e) {
                    *s = '\0';
                    break;
                }
                memmove(s, e + 2, strlen(e + 2) + 1);
                in_comment = 0;
            }
            e = strstr(s, "/*");
            if (!e)
                break;
            *e = ' ';
            s = e;
            in_comment = 1;
            memmove(e + 1, e + 2, strlen(e + 2) + 1);
        }
        for (s = line; *s == ' ' || *s == '\t'; s++)
            ;
        if (strncmp(s, "global:", 7) == 0) {
            global = 1;
            continue;
        }
        if (strncmp(s, "local:", 6) == 0) {
            global = 0;
            continue;
        }
        if (!global || strncmp(s, "mailssl_", 8) != 0)
            continue;
        e = strchr(s, ';');
        ck_assert_ptr_nonnull(e);
        ck_assert_int_lt(n, max);
        ck_assert_int_lt(e - s, 128);
        memcpy(syms[n], s, (size_t)(e - s));
        syms[n][e - s] = '\0';
        n++;
    }
    fclose(f);
    return n;
}

START_TEST(every_exported_symbol_is_audited)
{
    static char syms[1024][128];
    size_t n = map_symbols(syms, 1024), i, j;

    ck_assert_uint_gt(n, 100);
    for (i = 0; i < n; i++)
        ck_assert_msg(in_table(syms[i]),
                      "%s is exported (lib/mailssl.map) but has no entry in "
                      "the audit table of tests/test_api_audit.c",
                      syms[i]);
    for (i = 0; i < NAUDITS; i++) {
        for (j = 0; j < n; j++)
            if (strcmp(audits[i].symbol, syms[j]) == 0)
                break;
        ck_assert_msg(j < n, "%s is in the audit table but not exported",
                      audits[i].symbol);
    }
}
END_TEST

START_TEST(bad_inputs)
{
    /* each audit function once, in table order */
    void (*done[16])(void);
    size_t ndone = 0, i, j;

    for (i = 0; i < NAUDITS; i++) {
        for (j = 0; j < ndone; j++)
            if (done[j] == audits[i].run)
                break;
        if (j < ndone)
            continue;
        ck_assert_uint_lt(ndone, 16);
        done[ndone++] = audits[i].run;
        audits[i].run();
    }
    printf("api audit: %zu cases over %zu exported functions, %zu failed\n",
           ncases, NAUDITS, nfailed);
    ck_assert_uint_eq(nfailed, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api-audit");
    TCase *tc = tcase_create("audit");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_exported_symbol_is_audited);
    tcase_add_test(tc, bad_inputs);
    suite_add_tcase(s, tc);
    return check_run(s, CK_NOFORK);
}
