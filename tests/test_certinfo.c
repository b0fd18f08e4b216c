/* Tests of lib/core/certinfo.c through mailssl_certificate_json() and
 * mailssl_credential_certificate_json(): the "certificate" object of
 * SPEC.md section 5. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl.h"

#define NOT_BEFORE ((int64_t)1767225600) /* 2026-01-01T00:00:00Z */
#define NOT_AFTER ((int64_t)1798761600)  /* 2027-01-01T00:00:00Z */
#define DAY ((int64_t)86400)

static struct certgen_cert root;

static void setup(void)
{
    struct certgen_opts o = {0};

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    o.is_ca = 1;
    o.cn = "Test Root";
    ck_assert_int_eq(certgen_make(&root, &o, NULL), 0);
}

static void teardown(void)
{
    certgen_free(&root);
    mailssl_deinit();
}

/* Hex SHA-256 of the DER and base64 SHA-256 of the SPKI, computed here
 * independently of the library. */
static void fingerprints(const struct certgen_cert *c, char hex[65],
                         char b64[64])
{
    unsigned char h[32];
    gnutls_datum_t d, raw = {h, 32}, enc;
    gnutls_pubkey_t pk;
    int i;

    ck_assert_int_ge(gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_DER, &d),
                     0);
    ck_assert_int_ge(gnutls_hash_fast(GNUTLS_DIG_SHA256, d.data, d.size, h), 0);
    gnutls_free(d.data);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    ck_assert_int_ge(gnutls_pubkey_init(&pk), 0);
    ck_assert_int_ge(gnutls_pubkey_import_x509(pk, c->crt, 0), 0);
    ck_assert_int_ge(gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &d), 0);
    ck_assert_int_ge(gnutls_hash_fast(GNUTLS_DIG_SHA256, d.data, d.size, h), 0);
    gnutls_free(d.data);
    gnutls_pubkey_deinit(pk);
    ck_assert_int_ge(gnutls_base64_encode2(&raw, &enc), 0);
    ck_assert_uint_lt(enc.size, 64);
    memcpy(b64, enc.data, enc.size);
    b64[enc.size] = '\0';
    gnutls_free(enc.data);
}

static char *json_of(const struct certgen_cert *c, int64_t now)
{
    gnutls_datum_t d;
    char *s;

    ck_assert_int_ge(gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_DER, &d),
                     0);
    s = mailssl_certificate_json(d.data, d.size, now);
    gnutls_free(d.data);
    return s;
}

START_TEST(ecdsa_leaf_all_fields)
{
    static const char *const dns[] = {"mail.example.com", "*.example.net",
                                      NULL};
    static const char *const ips[] = {"192.0.2.10", "2001:db8::1", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert leaf;
    char hex[65], b64[64], expect[2048];
    char *s;

    o.cn = "mail.example.com";
    o.dns = dns;
    o.ips = ips;
    o.not_before = NOT_BEFORE;
    o.not_after = NOT_AFTER;
    ck_assert_int_eq(certgen_make(&leaf, &o, &root), 0);
    fingerprints(&leaf, hex, b64);
    s = json_of(&leaf, NOT_AFTER - 12 * DAY + 1); /* 11 days 23:59:59 */
    snprintf(expect, sizeof expect,
             "{\"subject\":\"CN=mail.example.com\",\"issuer\":\"CN=Test "
             "Root\",\"names\":[\"mail.example.com\",\"*.example.net\","
             "\"192.0.2.10\",\"2001:db8::1\"],\"not_before\":"
             "\"2026-01-01T00:00:00Z\",\"not_after\":\"2027-01-01T00:00:00Z\","
             "\"days_left\":11,\"sha256\":\"%s\",\"spki_pin\":\"%s\","
             "\"key_type\":\"ECDSA\",\"key_bits\":256,"
             "\"signature_algorithm\":\"ECDSA-SHA256\"}",
             hex, b64);
    ck_assert_str_eq(s, expect);
    mailssl_free(s);
    certgen_free(&leaf);
}
END_TEST

START_TEST(days_left_rounds_down_and_goes_negative)
{
    struct certgen_opts o = {0};
    struct certgen_cert leaf;
    char *s;

    o.not_before = NOT_BEFORE;
    o.not_after = NOT_AFTER;
    ck_assert_int_eq(certgen_make(&leaf, &o, &root), 0);
    s = json_of(&leaf, NOT_AFTER - 12 * DAY);
    ck_assert_ptr_nonnull(strstr(s, "\"days_left\":12,"));
    mailssl_free(s);
    s = json_of(&leaf, NOT_AFTER);
    ck_assert_ptr_nonnull(strstr(s, "\"days_left\":0,"));
    mailssl_free(s);
    s = json_of(&leaf, NOT_AFTER + 1);
    ck_assert_ptr_nonnull(strstr(s, "\"days_left\":-1,"));
    mailssl_free(s);
    s = json_of(&leaf, NOT_AFTER + 3 * DAY);
    ck_assert_ptr_nonnull(strstr(s, "\"days_left\":-3,"));
    mailssl_free(s);
    /* no SAN: an empty list */
    ck_assert_ptr_nonnull(strstr(s = json_of(&leaf, NOT_AFTER), "\"names\":[]"));
    mailssl_free(s);
    certgen_free(&leaf);
}
END_TEST

START_TEST(no_well_defined_expiry)
{
    struct certgen_opts o = {0};
    struct certgen_cert c;
    char *s;

    o.not_before = NOT_BEFORE;
    o.not_after = -1; /* 99991231235959Z, RFC 5280 4.1.2.5 */
    ck_assert_int_eq(certgen_make(&c, &o, &root), 0);
    s = json_of(&c, NOT_AFTER);
    ck_assert_ptr_nonnull(strstr(s, "\"not_after\":\"9999-12-31T23:59:59Z\","
                                    "\"days_left\":2912077,"));
    mailssl_free(s);
    certgen_free(&c);
}
END_TEST

START_TEST(key_types_and_signature_algorithms)
{
    struct certgen_opts o = {0};
    struct certgen_cert c;
    char *s;

    o.key_type = CERTGEN_RSA;
    o.rsa_bits = 2048;
    o.sha1 = 1;
    ck_assert_int_eq(certgen_make(&c, &o, NULL), 0);
    s = json_of(&c, NOT_BEFORE);
    ck_assert_ptr_nonnull(strstr(s, "\"key_type\":\"RSA\",\"key_bits\":2048,"
                                    "\"signature_algorithm\":\"RSA-SHA1\"}"));
    mailssl_free(s);
    certgen_free(&c);

    memset(&o, 0, sizeof o);
    o.key_type = CERTGEN_ED25519;
    ck_assert_int_eq(certgen_make(&c, &o, NULL), 0);
    s = json_of(&c, NOT_BEFORE);
    ck_assert_ptr_nonnull(strstr(s, "\"key_type\":\"Ed25519\",\"key_bits\":256,"
                                    "\"signature_algorithm\":\"EdDSA-Ed25519\"}"));
    mailssl_free(s);
    certgen_free(&c);

    o.key_type = CERTGEN_ECDSA_P384;
    ck_assert_int_eq(certgen_make(&c, &o, NULL), 0);
    s = json_of(&c, NOT_BEFORE);
    ck_assert_ptr_nonnull(strstr(s, "\"key_type\":\"ECDSA\",\"key_bits\":384,"));
    mailssl_free(s);
    certgen_free(&c);
}
END_TEST

START_TEST(hostile_names_stay_valid_json)
{
    static const char *const dns[] = {"quote\"back\\slash.example", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert c;
    char *s;

    o.cn = "a\"b";
    o.dns = dns;
    ck_assert_int_eq(certgen_make(&c, &o, NULL), 0);
    s = json_of(&c, NOT_BEFORE);
    ck_assert_ptr_nonnull(strstr(s, "\"names\":[\"quote\\\"back\\\\slash.example\"]"));
    ck_assert_ptr_nonnull(strstr(s, "{\"subject\":\"CN=a\\\\\\\"b\""));
    mailssl_free(s);
    certgen_free(&c);
}
END_TEST

START_TEST(credential_certificates_by_index)
{
    struct certgen_opts o = {0};
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &root};
    mailssl_credential *cred = mailssl_credential_new();
    char *dir = certgen_tmpdir(), file[600];
    char *s;

    ck_assert_ptr_nonnull(dir);
    o.cn = "mail.example.com";
    ck_assert_int_eq(certgen_make(&leaf, &o, &root), 0);
    snprintf(file, sizeof file, "%s/both.pem", dir);
    ck_assert_int_eq(certgen_write_pem(file, chain, 2, &leaf), 0);
    ck_assert_ptr_null(mailssl_credential_certificate_json(cred, 0, 0));
    ck_assert_int_eq(mailssl_credential_load_pem_files(cred, file, NULL, NULL),
                     MAILSSL_OK);
    s = mailssl_credential_certificate_json(cred, 0, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(strstr(s, "{\"subject\":\"CN=mail.example.com\","
                                    "\"issuer\":\"CN=Test Root\""));
    mailssl_free(s);
    s = mailssl_credential_certificate_json(cred, 1, 0);
    ck_assert_ptr_nonnull(strstr(s, "{\"subject\":\"CN=Test Root\","
                                    "\"issuer\":\"CN=Test Root\""));
    mailssl_free(s);
    ck_assert_ptr_null(mailssl_credential_certificate_json(cred, 2, 0));
    ck_assert_ptr_null(mailssl_credential_certificate_json(NULL, 0, 0));
    mailssl_credential_free(cred);
    certgen_free(&leaf);
    certgen_rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(garbage_is_null)
{
    static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    ck_assert_ptr_null(mailssl_certificate_json(junk, sizeof junk, 0));
    ck_assert_ptr_null(mailssl_certificate_json(NULL, 5, 0));
    ck_assert_ptr_null(mailssl_certificate_json(junk, 0, 0));
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        ecdsa_leaf_all_fields, days_left_rounds_down_and_goes_negative,
        no_well_defined_expiry, key_types_and_signature_algorithms,
        hostile_names_stay_valid_json, credential_certificates_by_index,
        garbage_is_null, NULL};
    const struct check_fixture fx = {NULL, NULL, setup, teardown, 0};

    return check_main("certinfo", "json", &fx, tests);
}
