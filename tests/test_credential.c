/* Tests of lib/core/credential.c: loading chains and keys from PEM files. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl.h"

static char *dir;
static struct certgen_cert leaf, other;

#define path(name) certgen_path(dir, (name))

static void setup(void)
{
    const struct certgen_cert *chain[1];

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(certgen_two_leaves(&leaf, &other, "mail.example.com"), 0);
    chain[0] = &leaf;
    ck_assert_int_eq(certgen_write_pem(path("cert.pem"), chain, 1, NULL), 0);
    ck_assert_int_eq(certgen_write_pem(path("both.pem"), chain, 1, &leaf), 0);
    ck_assert_int_eq(certgen_write_key(path("key.pem"), &leaf), 0);
    ck_assert_int_eq(certgen_write_key(path("other.key"), &other), 0);
    if (certgen_full_speed()) {
        ck_assert_int_eq(certgen_write_key_encrypted(path("enc.key"), &leaf,
                                                     "s3cret"), 0);
        ck_assert_int_eq(certgen_write_p12(path("a.p12"), chain, 1, &leaf,
                                           "p12pass"), 0);
        ck_assert_int_eq(certgen_write_p12(path("nokey.p12"), chain, 1, NULL,
                                           "p12pass"), 0);
    }
    {
        FILE *f = fopen(path("pass.txt"), "w");
        fputs("p12pass\n", f);
        fclose(f);
        chmod(path("pass.txt"), 0600);
        chmod(path("both.pem"), 0600);
    }
    {
        FILE *f = fopen(path("garbage.pem"), "w");
        fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
              "-----END CERTIFICATE-----\n", f);
        fclose(f);
    }
}

static void teardown(void)
{
    certgen_free(&leaf);
    certgen_free(&other);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

static int load(const char *cert, const char *key, const char *pw,
                char *msg, size_t msglen)
{
    mailssl_credential *c = mailssl_credential_new();
    int rc;

    ck_assert_ptr_nonnull(c);
    rc = mailssl_credential_load_pem_files(c, cert, key, pw);
    snprintf(msg, msglen, "%s", mailssl_credential_error(c));
    mailssl_credential_free(c);
    return rc;
}

START_TEST(cert_and_key_in_two_files)
{
    char msg[512];
    ck_assert_int_eq(load(path("cert.pem"), path("key.pem"), NULL, msg, sizeof msg),
                     MAILSSL_OK);
    ck_assert_str_eq(msg, "");
}
END_TEST

START_TEST(cert_and_key_in_one_file)
{
    char msg[512];
    ck_assert_int_eq(load(path("both.pem"), NULL, NULL, msg, sizeof msg),
                     MAILSSL_OK);
}
END_TEST

START_TEST(missing_file_is_named)
{
    char msg[512];
    ck_assert_int_eq(load(path("absent.pem"), NULL, NULL, msg, sizeof msg),
                     MAILSSL_ERR_IO);
    ck_assert_ptr_nonnull(strstr(msg, "absent.pem: cannot read"));
}
END_TEST

START_TEST(no_key_is_named)
{
    char msg[512];
    ck_assert_int_eq(load(path("cert.pem"), NULL, NULL, msg, sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(msg, "no private key"));
}
END_TEST

START_TEST(no_certificate_is_named)
{
    char msg[512];
    ck_assert_int_eq(load(path("key.pem"), path("key.pem"), NULL, msg, sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(msg, "no certificate"));
}
END_TEST

START_TEST(garbage_is_named)
{
    char msg[512];
    ck_assert_int_eq(load(path("garbage.pem"), path("key.pem"), NULL, msg, sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(msg, "cannot be parsed"));
}
END_TEST

START_TEST(mismatched_key_is_named)
{
    char msg[512];
    ck_assert_int_eq(load(path("cert.pem"), path("other.key"), NULL, msg, sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(msg, "does not match"));
}
END_TEST

START_TEST(null_arguments)
{
    mailssl_credential *c = mailssl_credential_new();
    ck_assert_int_eq(mailssl_credential_load_pem_files(NULL, "a", NULL, NULL),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_credential_load_pem_files(c, NULL, NULL, NULL),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_credential_load_pem_files(c, "", NULL, NULL),
                     MAILSSL_ERR_INVALID);
    ck_assert_ptr_nonnull(mailssl_credential_error(NULL));
    mailssl_credential_free(c);
    mailssl_credential_free(NULL);
}
END_TEST

START_TEST(pem_from_memory)
{
    char *cp = certgen_cert_pem(&leaf), *kp = certgen_key_pem(&leaf);
    char *ok = certgen_key_pem(&other);
    mailssl_credential *c = mailssl_credential_new();
    ck_assert_int_eq(mailssl_credential_load_pem_memory(c, cp, strlen(cp), kp,
                                                        strlen(kp), NULL),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_credential_usable(c), 1);
    ck_assert_ptr_null(mailssl_credential_warnings(c));
    /* loaded once only */
    ck_assert_int_eq(mailssl_credential_load_pem_memory(c, cp, strlen(cp), kp,
                                                        strlen(kp), NULL),
                     MAILSSL_ERR_STATE);
    mailssl_credential_free(c);
    c = mailssl_credential_new();
    ck_assert_int_eq(mailssl_credential_load_pem_memory(c, cp, strlen(cp), ok,
                                                        strlen(ok), NULL),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_str_eq(mailssl_credential_error(c),
                     "memory: the private key (memory (key)) does not match "
                     "the certificate's public key");
    /* a mismatch keeps both, for validation to report */
    ck_assert_int_eq(mailssl_credential_usable(c), 0);
    mailssl_credential_free(c);
    c = mailssl_credential_new();
    ck_assert_int_eq(mailssl_credential_load_pem_memory(c, cp, strlen(cp),
                                                        NULL, 0, NULL),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_str_eq(mailssl_credential_error(c),
                     "memory: no private key in this file (expected a PEM "
                     "block BEGIN ... PRIVATE KEY)");
    ck_assert_int_eq(mailssl_credential_load_pem_memory(c, NULL, 0, NULL, 0,
                                                        NULL),
                     MAILSSL_ERR_INVALID);
    mailssl_credential_free(c);
    free(cp);
    free(kp);
    free(ok);
}
END_TEST

/* A key whose public half (and so its key id) is the certificate's but
 * whose private scalar is damaged: GnuTLS refuses the pair, and the
 * credential must then not be usable (found by fuzz_credential). */
START_TEST(damaged_private_key_is_not_usable)
{
    char *cert = certgen_cert_pem(&leaf), *key = certgen_key_pem(&leaf);
    mailssl_credential *c = mailssl_credential_new();
    mailssl_store *s = mailssl_store_new();

    ck_assert_ptr_nonnull(cert);
    ck_assert_ptr_nonnull(key);
    ck_assert_uint_gt(strlen(key), 0x40);
    key[0x40] = key[0x40] == 'Z' ? 'A' : 'Z';
    ck_assert_int_eq(mailssl_credential_load_pem_memory(
                         c, cert, strlen(cert), key, strlen(key), NULL),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(mailssl_credential_error(c),
                                 "GnuTLS refuses this certificate and key"));
    ck_assert_int_eq(mailssl_credential_usable(c), 0);
    ck_assert_int_eq(mailssl_store_add(s, MAILSSL_SERVICE_IMAPS, "*",
                                       MAILSSL_PORT_ANY, "*", c),
                     MAILSSL_ERR_CREDENTIAL);
    mailssl_store_free(s);
    mailssl_credential_free(c);
    free(cert);
    free(key);
}
END_TEST

START_TEST(encrypted_key)
{
    char msg[512];
    if (!certgen_full_speed())
        return; /* key derivations: see certgen.h */
    ck_assert_int_eq(load(path("cert.pem"), path("enc.key"), NULL, msg,
                          sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(msg, "enc.key: the private key is "
                                      "encrypted and no password was given"));
    ck_assert_int_eq(load(path("cert.pem"), path("enc.key"), "wrong", msg,
                          sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(msg, "cannot be decrypted"));
    ck_assert_int_eq(load(path("cert.pem"), path("enc.key"), "s3cret", msg,
                          sizeof msg),
                     MAILSSL_OK);
}
END_TEST

START_TEST(key_file_permissions_warn)
{
    mailssl_credential *c = mailssl_credential_new();
    const mailssl_report *w;
    char expect[600];
    ck_assert_int_eq(chmod(path("key.pem"), 0640), 0);
    ck_assert_int_eq(mailssl_credential_load_pem_files(c, path("cert.pem"),
                                                       path("key.pem"), NULL),
                     MAILSSL_OK);
    w = mailssl_credential_warnings(c);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(mailssl_report_count(w), 1);
    ck_assert_int_eq(mailssl_report_code(w, 0),
                     MAILSSL_CODE_KEY_FILE_PERMISSIONS);
    ck_assert_int_eq(mailssl_report_severity(w, 0), MAILSSL_SEVERITY_WARNING);
    snprintf(expect, sizeof expect,
             "%s: the private key file is readable by group (mode 0640); "
             "anyone with that access can impersonate this server: chmod "
             "600 it",
             path("key.pem"));
    ck_assert_str_eq(mailssl_report_message(w, 0), expect);
    mailssl_credential_free(c);
    c = mailssl_credential_new();
    ck_assert_int_eq(chmod(path("key.pem"), 0600), 0);
    ck_assert_int_eq(mailssl_credential_load_pem_files(c, path("cert.pem"),
                                                       path("key.pem"), NULL),
                     MAILSSL_OK);
    ck_assert_ptr_null(mailssl_credential_warnings(c));
    mailssl_credential_free(c);
}
END_TEST

static int p12(const char *file, const char *pw, const char *pwfile,
               char *msg, size_t msglen)
{
    mailssl_credential *c = mailssl_credential_new();
    int rc = mailssl_credential_load_pkcs12_file(c, file, pw, pwfile);
    snprintf(msg, msglen, "%s", mailssl_credential_error(c));
    if (rc == MAILSSL_OK)
        ck_assert_int_eq(mailssl_credential_usable(c), 1);
    mailssl_credential_free(c);
    return rc;
}

START_TEST(pkcs12_files)
{
    char msg[512], expect[600];
    if (!certgen_full_speed())
        return; /* key derivations: see certgen.h */
    ck_assert_int_eq(p12(path("a.p12"), "p12pass", NULL, msg, sizeof msg),
                     MAILSSL_OK);
    ck_assert_int_eq(p12(path("a.p12"), NULL, path("pass.txt"), msg,
                         sizeof msg),
                     MAILSSL_OK);
    ck_assert_int_eq(p12(path("a.p12"), NULL, NULL, msg, sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    snprintf(expect, sizeof expect,
             "%s: the PKCS#12 file is protected by a password and none was "
             "given", path("a.p12"));
    ck_assert_str_eq(msg, expect);
    ck_assert_int_eq(p12(path("a.p12"), "nope", NULL, msg, sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    snprintf(expect, sizeof expect,
             "%s: wrong password for this PKCS#12 file", path("a.p12"));
    ck_assert_str_eq(msg, expect);
    ck_assert_int_eq(p12(path("nokey.p12"), "p12pass", NULL, msg, sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    snprintf(expect, sizeof expect,
             "%s: no private key in this PKCS#12 file", path("nokey.p12"));
    ck_assert_str_eq(msg, expect);
    ck_assert_int_eq(p12(path("cert.pem"), "x", NULL, msg, sizeof msg),
                     MAILSSL_ERR_CREDENTIAL);
    ck_assert_ptr_nonnull(strstr(msg, "not a PKCS#12 file"));
    ck_assert_int_eq(p12(path("absent.p12"), "x", NULL, msg, sizeof msg),
                     MAILSSL_ERR_IO);
    ck_assert_int_eq(p12(path("a.p12"), "x", path("pass.txt"), msg,
                         sizeof msg),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(p12(path("a.p12"), NULL, path("absent.txt"), msg,
                         sizeof msg),
                     MAILSSL_ERR_IO);
}
END_TEST

START_TEST(pkcs12_permissions_warn)
{
    mailssl_credential *c;
    if (!certgen_full_speed())
        return; /* key derivations: see certgen.h */
    c = mailssl_credential_new();
    ck_assert_int_eq(chmod(path("a.p12"), 0644), 0);
    ck_assert_int_eq(mailssl_credential_load_pkcs12_file(c, path("a.p12"),
                                                         "p12pass", NULL),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_report_count(mailssl_credential_warnings(c)), 1);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(
                                     mailssl_credential_warnings(c), 0),
                                 "readable by group and other (mode 0644)"));
    mailssl_credential_free(c);
    ck_assert_int_eq(chmod(path("a.p12"), 0600), 0);
}
END_TEST

START_TEST(pkcs11_uri)
{
    mailssl_credential *c = mailssl_credential_new();
    int rc;
    ck_assert_int_eq(mailssl_credential_load_pkcs11(c, "/etc/x.pem", NULL,
                                                    NULL),
                     MAILSSL_ERR_INVALID);
    ck_assert_str_eq(mailssl_credential_error(c),
                     "/etc/x.pem: not a PKCS#11 URI (RFC 7512, "
                     "\"pkcs11:...\")");
    /* no token here: either this GnuTLS cannot open PKCS#11 at all, or
     * the token is not found; both are named, neither loads */
    rc = mailssl_credential_load_pkcs11(
        c, "pkcs11:token=mailssl-absent;object=none", NULL, "1234");
    ck_assert_msg(rc == MAILSSL_ERR_UNSUPPORTED ||
                      rc == MAILSSL_ERR_CREDENTIAL,
                  "rc %d", rc);
    if (rc == MAILSSL_ERR_UNSUPPORTED)
        ck_assert_ptr_nonnull(strstr(mailssl_credential_error(c),
                                     "not supported"));
    else
        ck_assert_ptr_nonnull(strstr(mailssl_credential_error(c),
                                     "cannot load from the PKCS#11 token"));
    ck_assert_int_eq(mailssl_credential_usable(c), 0);
    mailssl_credential_free(c);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        cert_and_key_in_two_files, cert_and_key_in_one_file,
        missing_file_is_named, no_key_is_named, no_certificate_is_named,
        garbage_is_named, mismatched_key_is_named, null_arguments,
        pem_from_memory, damaged_private_key_is_not_usable, encrypted_key,
        key_file_permissions_warn, pkcs12_files, pkcs12_permissions_warn,
        pkcs11_uri, NULL};
    /* the files once (key derivations for PKCS#12 are slow); tests that
     * change a file's mode put it back */
    const struct check_fixture fx = {setup, teardown, NULL, NULL, 0};

    return check_main("credential", "pem", &fx, tests);
}
