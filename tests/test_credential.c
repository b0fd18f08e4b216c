/* Tests of lib/credential.c: loading chains and keys from PEM files. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certgen.h"
#include "mailssl.h"

static char *dir;
static struct certgen_cert leaf, other;

static char *path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void setup(void)
{
    static const char *const names[] = {"mail.example.com", NULL};
    struct certgen_opts o = {0};
    const struct certgen_cert *chain[1];

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    o.dns = names;
    ck_assert_int_eq(certgen_make(&leaf, &o, NULL), 0);
    ck_assert_int_eq(certgen_make(&other, &o, NULL), 0);
    chain[0] = &leaf;
    ck_assert_int_eq(certgen_write_pem(path("cert.pem"), chain, 1, NULL), 0);
    ck_assert_int_eq(certgen_write_pem(path("both.pem"), chain, 1, &leaf), 0);
    ck_assert_int_eq(certgen_write_key(path("key.pem"), &leaf), 0);
    ck_assert_int_eq(certgen_write_key(path("other.key"), &other), 0);
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

int main(void)
{
    Suite *s = suite_create("credential");
    TCase *tc = tcase_create("pem");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cert_and_key_in_two_files);
    tcase_add_test(tc, cert_and_key_in_one_file);
    tcase_add_test(tc, missing_file_is_named);
    tcase_add_test(tc, no_key_is_named);
    tcase_add_test(tc, no_certificate_is_named);
    tcase_add_test(tc, garbage_is_named);
    tcase_add_test(tc, mismatched_key_is_named);
    tcase_add_test(tc, null_arguments);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
