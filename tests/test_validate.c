/* Tests of lib/validate/validate.c and lib/validate/dane.c: every finding code
 * of
 * certificate validation, on certificates made at run time, at an
 * explicit validation time. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl.h"

/* The validation time of every test: 2027-01-15T08:00:00Z. */
#define T0 ((int64_t)1800000000)
#define DAY ((int64_t)86400)

static char *dir;
static char *cafile;       /* the test root */
static char *other_cafile; /* an unrelated root */
static struct certgen_cert root, inter, other_root;
static const char *const mail_names[] = {"mail.example.com", NULL};

#define path(name) certgen_path(dir, (name))

/* The PKI is made once per test case, in the parent process. */
static void pki_setup(void)
{
    struct certgen_opts o = {0};
    const struct certgen_cert *c[1];

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    o.is_ca = 1;
    o.cn = "Test Root";
    o.not_before = T0 - 3650 * DAY;
    o.not_after = T0 + 3650 * DAY;
    ck_assert_int_eq(certgen_make(&root, &o, NULL), 0);
    o.cn = "Test Intermediate";
    ck_assert_int_eq(certgen_make(&inter, &o, &root), 0);
    o.cn = "Other Root";
    ck_assert_int_eq(certgen_make(&other_root, &o, NULL), 0);
    cafile = strdup(path("root.pem"));
    other_cafile = strdup(path("other.pem"));
    c[0] = &root;
    ck_assert_int_eq(certgen_write_pem(cafile, c, 1, NULL), 0);
    c[0] = &other_root;
    ck_assert_int_eq(certgen_write_pem(other_cafile, c, 1, NULL), 0);
}

static void pki_teardown(void)
{
    certgen_free(&root);
    certgen_free(&inter);
    certgen_free(&other_root);
    certgen_rmdir(dir);
    free(dir);
    free(cafile);
    free(other_cafile);
    mailssl_deinit();
}

/* Every test gets a fresh validator (validator()) and report. */
static mailssl_validator *v;
static mailssl_report *r;

static mailssl_validator *validator(void);

static void each_setup(void)
{
    v = validator();
    r = mailssl_report_new();
    ck_assert_ptr_nonnull(r);
}

static void each_teardown(void)
{
    mailssl_report_free(r);
    mailssl_validator_free(v);
    v = NULL;
    r = NULL;
}

/* Options of a leaf valid at T0 for mail.example.com. */
static struct certgen_opts leaf_opts(void)
{
    struct certgen_opts o = {0};
    o.cn = "mail.example.com";
    o.dns = mail_names;
    o.not_before = T0 - 30 * DAY;
    o.not_after = T0 + 365 * DAY;
    return o;
}

/* A validator trusting the test root, at T0, checking mail.example.com. */
static mailssl_validator *validator(void)
{
    mailssl_validator *val = mailssl_validator_new();
    ck_assert_ptr_nonnull(val);
    ck_assert_int_eq(mailssl_validator_set_cafile(val, cafile), MAILSSL_OK);
    ck_assert_int_eq(mailssl_validator_set_time(val, T0), MAILSSL_OK);
    ck_assert_int_eq(mailssl_validator_set_name(val, "mail.example.com"),
                     MAILSSL_OK);
    return val;
}

/* Validates chain[0..n-1] (DER, as a server sends it). */
static int check_chain_ocsp(const mailssl_validator *v,
                            const struct certgen_cert *const *chain,
                            size_t n, const unsigned char *ocsp,
                            size_t ocsp_len, mailssl_report *r)
{
    gnutls_datum_t der[8];
    const unsigned char *p[8];
    size_t lens[8], i;
    int rc;

    ck_assert_uint_le(n, 8);
    for (i = 0; i < n; i++) {
        ck_assert_int_ge(
            gnutls_x509_crt_export2(chain[i]->crt, GNUTLS_X509_FMT_DER, &der[i]),
            0);
        p[i] = der[i].data;
        lens[i] = der[i].size;
    }
    rc = mailssl_validate_chain(v, p, lens, n, ocsp, ocsp_len, r);
    for (i = 0; i < n; i++)
        gnutls_free(der[i].data);
    return rc;
}

static int check_chain(const mailssl_validator *v,
                       const struct certgen_cert *const *chain, size_t n,
                       mailssl_report *r)
{
    return check_chain_ocsp(v, chain, n, NULL, 0, r);
}

/* The codes of the report, comma-separated, in order. */
static const char *codes(const mailssl_report *r)
{
    static _Thread_local char buf[1024]; /* threads_share_a_validator */
    size_t i;

    buf[0] = '\0';
    for (i = 0; i < mailssl_report_count(r); i++) {
        if (i)
            strcat(buf, ",");
        strcat(buf, mailssl_code_name(mailssl_report_code(r, i)));
    }
    return buf;
}

/* Makes a leaf with o, signed by the intermediate, validates [leaf,
 * intermediate] with validator(), and returns the codes found. */
static const char *leaf_codes(struct certgen_opts o, int *status,
                              mailssl_report *r)
{
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2];

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    chain[0] = &leaf;
    chain[1] = &inter;
    *status = check_chain(v, chain, 2, r);
    certgen_free(&leaf);
    return codes(r);
}

/* ---- a good chain ---------------------------------------------------- */

START_TEST(good_chain_has_no_findings)
{
    int st;

    ck_assert_str_eq(leaf_codes(leaf_opts(), &st, r), "");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_OK);
    ck_assert_int_eq(mailssl_report_status(r), MAILSSL_SEVERITY_OK);
}
END_TEST

/* ---- dates ----------------------------------------------------------- */

START_TEST(expired_leaf_is_critical)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.not_before = T0 - 400 * DAY;
    o.not_after = T0 - 3 * DAY; /* 2027-01-12T08:00:00Z */
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-expired");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_severity(r, 0), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), 0);
    ck_assert_str_eq(mailssl_report_message(r, 0),
                     "'CN=mail.example.com' expired on 2027-01-12T08:00:00Z "
                     "(3 days ago): renew it and install the new "
                     "certificate");
}
END_TEST

START_TEST(not_yet_valid_is_critical)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.not_before = T0 + 2 * DAY;
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-not-yet-valid");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_CRITICAL);
    ck_assert_ptr_nonnull(
        strstr(mailssl_report_message(r, 0), "not valid before "
                                             "2027-01-17T08:00:00Z (in 2 days)"));
}
END_TEST

START_TEST(expiring_within_warning_window)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.not_after = T0 + 20 * DAY + 3600;
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-expiring");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(mailssl_report_message(r, 0),
                     "'CN=mail.example.com' expires on 2027-02-04T09:00:00Z, "
                     "in 20 days (warning below 30 days): renew it before "
                     "then");
}
END_TEST

START_TEST(expiring_within_critical_window)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.not_after = T0 + 6 * DAY;
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-expiring");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_CRITICAL);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "in 6 days (critical below 7 days)"));
}
END_TEST

START_TEST(expiry_windows_are_exclusive_and_settable)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};

    o.not_after = T0 + 30 * DAY; /* exactly 30 days left: not "fewer" */
    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_OK);
    ck_assert_str_eq(codes(r), "");
    /* one second later it is within the window */
    ck_assert_int_eq(mailssl_validator_set_time(v, T0 + 1), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(codes(r), "cert-expiring");
    /* wider windows make it critical */
    mailssl_report_clear(r);
    ck_assert_int_eq(mailssl_validator_set_days(v, 60, 31), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_ptr_nonnull(
        strstr(mailssl_report_message(r, 0), "(critical below 31 days)"));
    /* 0/0 disables the windows */
    mailssl_report_clear(r);
    ck_assert_int_eq(mailssl_validator_set_days(v, 0, 0), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_OK);
    certgen_free(&leaf);
}
END_TEST

START_TEST(validation_time_answers_will_it_be_valid)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};

    o.not_after = T0 + 10 * DAY;
    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(mailssl_validator_set_days(v, 0, 0), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_OK);
    /* "will this still be valid in 30 days?" */
    ck_assert_int_eq(mailssl_validator_set_time(v, T0 + 30 * DAY), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-expired");
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0), "(20 days ago)"));
    certgen_free(&leaf);
}
END_TEST

START_TEST(expired_intermediate_is_named)
{
    struct certgen_opts o = {0};
    struct certgen_cert old_inter, leaf;
    const struct certgen_cert *chain[2] = {&leaf, &old_inter};
    struct certgen_opts lo = leaf_opts();

    o.is_ca = 1;
    o.cn = "Old Intermediate";
    o.not_before = T0 - 800 * DAY;
    o.not_after = T0 - 1 * DAY;
    ck_assert_int_eq(certgen_make(&old_inter, &o, &root), 0);
    ck_assert_int_eq(certgen_make(&leaf, &lo, &old_inter), 0);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-expired");
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), 1);
    ck_assert_ptr_nonnull(
        strstr(mailssl_report_message(r, 0), "'CN=Old Intermediate' expired"));
    certgen_free(&leaf);
    certgen_free(&old_inter);
}
END_TEST

START_TEST(no_well_defined_expiry_never_expires)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.not_after = -1; /* 99991231235959Z */
    ck_assert_str_eq(leaf_codes(o, &st, r), "");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_OK);
}
END_TEST

/* ---- names (RFC 9525) -------------------------------------------------- */

/* Validates a leaf with these SANs against ref; returns 1 when the name
 * matches (no finding), 0 on cert-name-mismatch. */
static int name_ok(const char *const *dns, const char *const *ips,
                   const char *cn, const char *ref)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};
    int rc;

    o.dns = dns;
    o.ips = ips;
    if (cn)
        o.cn = cn;
    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(mailssl_validator_set_name(v, ref), MAILSSL_OK);
    mailssl_report_clear(r);
    rc = check_chain(v, chain, 2, r);
    if (rc == MAILSSL_SEVERITY_OK) {
        ck_assert_str_eq(codes(r), "");
        rc = 1;
    } else {
        ck_assert_str_eq(codes(r), "cert-name-mismatch");
        ck_assert_int_eq(rc, MAILSSL_SEVERITY_CRITICAL);
        rc = 0;
    }
    certgen_free(&leaf);
    return rc;
}

START_TEST(wrong_name_is_critical)
{
    struct certgen_cert leaf;
    struct certgen_opts o = leaf_opts();
    const struct certgen_cert *chain[2] = {&leaf, &inter};

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(mailssl_validator_set_name(v, "imap.example.org"),
                     MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-name-mismatch");
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), 0);
    ck_assert_str_eq(mailssl_report_message(r, 0),
                     "'CN=mail.example.com' is not valid for "
                     "imap.example.org: it names mail.example.com; install a "
                     "certificate whose subjectAltName includes "
                     "imap.example.org");
    certgen_free(&leaf);
}
END_TEST

START_TEST(names_match_case_insensitively_without_trailing_dot)
{
    static const char *const dns[] = {"Mail.Example.COM", NULL};
    ck_assert_int_eq(name_ok(dns, NULL, NULL, "mail.example.com"), 1);
    ck_assert_int_eq(name_ok(mail_names, NULL, NULL, "MAIL.example.com."), 1);
    ck_assert_int_eq(name_ok(mail_names, NULL, NULL, "mail.example.co"), 0);
    ck_assert_int_eq(name_ok(mail_names, NULL, NULL, "ail.example.com"), 0);
}
END_TEST

START_TEST(wildcard_matches_exactly_one_leftmost_label)
{
    static const char *const star[] = {"*.example.com", NULL};
    static const char *const partial[] = {"w*.example.com", NULL};
    static const char *const two[] = {"*.*.example.com", NULL};
    static const char *const inner[] = {"mail.*.example.com", NULL};
    static const char *const tld[] = {"*.com", NULL};

    ck_assert_int_eq(name_ok(star, NULL, NULL, "mail.example.com"), 1);
    ck_assert_int_eq(name_ok(star, NULL, NULL, "example.com"), 0);
    ck_assert_int_eq(name_ok(star, NULL, NULL, "a.b.example.com"), 0);
    ck_assert_int_eq(name_ok(star, NULL, NULL, "mail.example.org"), 0);
    ck_assert_int_eq(name_ok(partial, NULL, NULL, "www.example.com"), 0);
    ck_assert_int_eq(name_ok(partial, NULL, NULL, "w.example.com"), 0);
    ck_assert_int_eq(name_ok(two, NULL, NULL, "a.b.example.com"), 0);
    ck_assert_int_eq(name_ok(inner, NULL, NULL, "mail.x.example.com"), 0);
    ck_assert_int_eq(name_ok(tld, NULL, NULL, "example.com"), 0);
}
END_TEST

START_TEST(ip_names_match_octet_for_octet)
{
    static const char *const ips[] = {"192.0.2.10", "2001:db8::1", NULL};
    static const char *const dns_ip[] = {"192.0.2.10", NULL};

    ck_assert_int_eq(name_ok(NULL, ips, NULL, "192.0.2.10"), 1);
    ck_assert_int_eq(name_ok(NULL, ips, NULL, "2001:db8:0:0::1"), 1);
    ck_assert_int_eq(name_ok(NULL, ips, NULL, "[2001:db8::1]"), 1);
    ck_assert_int_eq(name_ok(NULL, ips, NULL, "192.0.2.11"), 0);
    ck_assert_int_eq(name_ok(NULL, ips, NULL, "2001:db8::2"), 0);
    /* an IP written as a DNS-ID is not an IP-ID */
    ck_assert_int_eq(name_ok(dns_ip, NULL, NULL, "192.0.2.10"), 0);
    /* an IP-ID never matches a DNS name */
    ck_assert_int_eq(name_ok(NULL, ips, "192.0.2.10", "mail.example.com"), 0);
}
END_TEST

START_TEST(common_name_is_never_used)
{
    static const char *const other[] = {"other.example.com", NULL};
    struct certgen_opts o = leaf_opts();
    int st;

    /* SANs present: the CN is not a fallback */
    ck_assert_int_eq(name_ok(other, NULL, "mail.example.com",
                             "mail.example.com"),
                     0);
    /* no SAN at all: RFC 9525 has no CN-ID either */
    o.dns = NULL;
    mailssl_report_clear(r);
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-name-mismatch");
    ck_assert_ptr_nonnull(
        strstr(mailssl_report_message(r, 0), "has no subjectAltName"));
}
END_TEST

START_TEST(idn_names_compare_as_a_labels)
{
    static const char *const idn[] = {"xn--bcher-kva.example", NULL};
    static const char *const star[] = {"*.xn--bcher-kva.example", NULL};

    ck_assert_int_eq(name_ok(idn, NULL, NULL, "b\xc3\xbc" "cher.example"), 1);
    ck_assert_int_eq(name_ok(idn, NULL, NULL, "xn--bcher-kva.example"), 1);
    ck_assert_int_eq(name_ok(star, NULL, NULL, "mail.b\xc3\xbc" "cher.example"),
                     1);
    ck_assert_int_eq(name_ok(idn, NULL, NULL, "bucher.example"), 0);
}
END_TEST

START_TEST(no_name_means_no_name_check)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(mailssl_validator_set_name(v, NULL), MAILSSL_OK);
    ck_assert_int_eq(mailssl_validator_set_name(v, "x.example.net"), MAILSSL_OK);
    ck_assert_int_eq(mailssl_validator_set_name(v, NULL), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_OK);
    certgen_free(&leaf);
}
END_TEST

/* ---- chain and trust ------------------------------------------------- */

START_TEST(missing_intermediate_is_reported)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[1] = {&leaf};

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(check_chain(v, chain, 1, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-chain-incomplete,cert-untrusted");
    ck_assert_int_eq(mailssl_report_severity(r, 0), MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(mailssl_report_message(r, 0),
                     "the chain ends at 'CN=mail.example.com', whose issuer "
                     "'CN=Test Intermediate' is neither sent nor a trusted "
                     "root: append the missing intermediate certificate(s) "
                     "to the certificate file, after the leaf (if 'CN=Test "
                     "Intermediate' is a private root, clients must trust it "
                     "instead)");
    ck_assert_int_eq(mailssl_report_severity(r, 1), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 1),
                                 "an intermediate certificate is missing"));
    certgen_free(&leaf);
}
END_TEST

START_TEST(wrong_order_is_a_warning)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[3] = {&leaf, &root, &inter};

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(check_chain(v, chain, 3, r), MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(codes(r), "cert-chain-order");
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), MAILSSL_NO_CERT);
    ck_assert_ptr_nonnull(
        strstr(mailssl_report_message(r, 0), "in the order #0, #2, #1"));
    /* the right order, root included, is fine */
    mailssl_report_clear(r);
    chain[1] = &inter;
    chain[2] = &root;
    ck_assert_int_eq(check_chain(v, chain, 3, r), MAILSSL_SEVERITY_OK);
    certgen_free(&leaf);
}
END_TEST

START_TEST(unrelated_certificate_in_chain)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[3] = {&leaf, &inter, &other_root};

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(check_chain(v, chain, 3, r), MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(codes(r), "cert-chain-order");
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), 2);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "'CN=Other Root' (certificate #2) is not part"));
    certgen_free(&leaf);
}
END_TEST

START_TEST(untrusted_root_is_critical)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(mailssl_validator_set_cafile(v, other_cafile), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-chain-incomplete,cert-untrusted");
    mailssl_report_clear(r);
    /* the root sent along does not make it trusted */
    {
        const struct certgen_cert *full[3] = {&leaf, &inter, &root};
        ck_assert_int_eq(check_chain(v, full, 3, r), MAILSSL_SEVERITY_CRITICAL);
        ck_assert_str_eq(codes(r), "cert-untrusted");
        ck_assert_int_eq(mailssl_report_cert_index(r, 0), 2);
        ck_assert_str_eq(mailssl_report_message(r, 0),
                         "'CN=mail.example.com' is not trusted: its root is "
                         "not in the CA file; install a certificate issued "
                         "by a CA that the clients trust, with its full "
                         "chain");
    }
    certgen_free(&leaf);
}
END_TEST

START_TEST(self_made_root_is_untrusted_by_the_system_store)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[3] = {&leaf, &inter, &root};

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(mailssl_validator_set_cafile(v, NULL), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 3, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-untrusted");
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "its root is not in the system trust store"));
    /* back to the system store after a CA file */
    mailssl_report_clear(r);
    ck_assert_int_eq(mailssl_validator_set_cafile(v, cafile), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 3, r), MAILSSL_SEVERITY_OK);
    ck_assert_int_eq(mailssl_validator_set_cafile(v, NULL), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 3, r), MAILSSL_SEVERITY_CRITICAL);
    /* validators share one copy of the system store: another one works
     * on after the first is freed */
    {
        mailssl_validator *v2 = mailssl_validator_new();
        mailssl_report *r2 = mailssl_report_new();
        ck_assert_int_eq(mailssl_validator_set_time(v2, T0), MAILSSL_OK);
        ck_assert_int_eq(check_chain(v2, chain, 3, r2),
                         MAILSSL_SEVERITY_CRITICAL);
        mailssl_validator_free(v);
        v = NULL;
        mailssl_report_clear(r2);
        ck_assert_int_eq(check_chain(v2, chain, 3, r2),
                         MAILSSL_SEVERITY_CRITICAL);
        ck_assert_str_eq(codes(r2), "cert-untrusted");
        mailssl_validator_free(v2);
        mailssl_report_free(r2);
    }
    certgen_free(&leaf);
}
END_TEST

struct thread_job {
    const struct certgen_cert *const *chain;
    int results[5];
    char codes[5][128];
};

static void *validate_in_thread(void *arg)
{
    struct thread_job *job = arg;
    int i;

    for (i = 0; i < 5; i++) {
        mailssl_report *mine = mailssl_report_new();
        if (!mine)
            return NULL;
        job->results[i] = check_chain(v, job->chain, 3, mine);
        snprintf(job->codes[i], sizeof job->codes[i], "%s", codes(mine));
        mailssl_report_free(mine);
    }
    return NULL;
}

START_TEST(threads_share_a_validator)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[3] = {&leaf, &inter, &root};
    struct thread_job jobs[4];
    pthread_t tid[4];
    int i, k;

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    /* the system store is loaded by whichever thread comes first */
    ck_assert_int_eq(mailssl_validator_set_cafile(v, NULL), MAILSSL_OK);
    for (i = 0; i < 4; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].chain = chain;
        ck_assert_int_eq(
            pthread_create(&tid[i], NULL, validate_in_thread, &jobs[i]), 0);
    }
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
    for (i = 0; i < 4; i++)
        for (k = 0; k < 5; k++) {
            ck_assert_int_eq(jobs[i].results[k], MAILSSL_SEVERITY_CRITICAL);
            ck_assert_str_eq(jobs[i].codes[k], "cert-untrusted");
        }
    certgen_free(&leaf);
}
END_TEST

START_TEST(ca_directory_is_a_trust_store)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};
    const struct certgen_cert *c[1] = {&root};
    char *cadir = certgen_tmpdir();
    char file[600];

    ck_assert_ptr_nonnull(cadir);
    snprintf(file, sizeof file, "%s/root.pem", cadir);
    ck_assert_int_eq(certgen_write_pem(file, c, 1, NULL), 0);
    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(mailssl_validator_set_cafile(v, cadir), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_OK);
    certgen_rmdir(cadir);
    free(cadir);
    certgen_free(&leaf);
}
END_TEST

START_TEST(self_signed_leaf)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[1] = {&leaf};

    ck_assert_int_eq(certgen_make(&leaf, &o, NULL), 0);
    ck_assert_int_eq(check_chain(v, chain, 1, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-untrusted,cert-self-signed");
    ck_assert_int_eq(mailssl_report_severity(r, 0), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_int_eq(mailssl_report_severity(r, 1), MAILSSL_SEVERITY_WARNING);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "it is self-signed and not in the CA file"));
    certgen_free(&leaf);
}
END_TEST

/* ---- usage and strength ---------------------------------------------- */

START_TEST(client_auth_only_eku_is_bad_usage)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.eku = CERTGEN_EKU_CLIENT;
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-bad-usage");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_CRITICAL);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "without TLS server authentication"));
    /* no EKU at all is fine */
    mailssl_report_clear(r);
    o.eku = CERTGEN_EKU_NONE;
    ck_assert_str_eq(leaf_codes(o, &st, r), "");
}
END_TEST

START_TEST(key_usage_must_allow_a_handshake)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.key_usage = GNUTLS_KEY_KEY_ENCIPHERMENT;
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-bad-usage");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_CRITICAL);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "keyUsage without digitalSignature"));
    /* RSA key transport only: usable by TLS 1.2 RSA suites (a small key,
     * quick to make, adds its own finding) */
    mailssl_report_clear(r);
    o.key_type = CERTGEN_RSA;
    o.rsa_bits = 1024;
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-bad-usage,cert-weak-key");
    ck_assert_int_eq(mailssl_report_severity(r, 0), MAILSSL_SEVERITY_WARNING);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "allows only RSA key transport"));
}
END_TEST

START_TEST(dsa_key_is_weak)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.key_type = CERTGEN_DSA;
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-weak-key");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_WARNING);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0), "has a DSA key"));
}
END_TEST

START_TEST(client_only_intermediate_is_bad_usage)
{
    struct certgen_opts o = {0};
    struct certgen_opts lo = leaf_opts();
    struct certgen_cert ci, leaf;
    const struct certgen_cert *chain[2] = {&leaf, &ci};

    o.is_ca = 1;
    o.cn = "Client Intermediate";
    o.eku = CERTGEN_EKU_CLIENT;
    o.not_before = T0 - 100 * DAY;
    o.not_after = T0 + 1000 * DAY;
    ck_assert_int_eq(certgen_make(&ci, &o, &root), 0);
    ck_assert_int_eq(certgen_make(&leaf, &lo, &ci), 0);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-bad-usage");
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), 1);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "the intermediate 'CN=Client Intermediate' "
                                 "limits its extendedKeyUsage"));
    certgen_free(&leaf);
    certgen_free(&ci);
}
END_TEST

START_TEST(weak_rsa_key_is_a_warning)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.key_type = CERTGEN_RSA;
    o.rsa_bits = 1024;
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-weak-key");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_WARNING);
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), 0);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "has a 1024-bit RSA key, below 2048 bits"));
    mailssl_report_clear(r);
    o.rsa_bits = 2048;
    ck_assert_str_eq(leaf_codes(o, &st, r), "");
}
END_TEST

START_TEST(sha1_signature_is_a_warning)
{
    struct certgen_opts o = leaf_opts();
    int st;

    o.sha1 = 1;
    ck_assert_str_eq(leaf_codes(o, &st, r), "cert-weak-signature");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_WARNING);
    ck_assert_ptr_nonnull(
        strstr(mailssl_report_message(r, 0), "is signed with SHA1"));
}
END_TEST

/* ---- parse errors ---------------------------------------------------- */

START_TEST(unparsable_certificates)
{
    static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    gnutls_datum_t der;
    const unsigned char *p[2];
    size_t lens[2];

    p[0] = junk;
    lens[0] = sizeof junk;
    ck_assert_int_eq(mailssl_validate_chain(v, p, lens, 1, NULL, 0, r),
                     MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-parse-error");
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), 0);
    /* a corrupt intermediate: the leaf is still checked */
    {
        struct certgen_opts o = leaf_opts();
        struct certgen_cert leaf;
        ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
        ck_assert_int_ge(
            gnutls_x509_crt_export2(leaf.crt, GNUTLS_X509_FMT_DER, &der), 0);
        p[0] = der.data;
        lens[0] = der.size;
        p[1] = junk;
        lens[1] = sizeof junk;
        mailssl_report_clear(r);
        ck_assert_int_eq(mailssl_validate_chain(v, p, lens, 2, NULL, 0, r),
                         MAILSSL_SEVERITY_CRITICAL);
        ck_assert_str_eq(codes(r),
                         "cert-parse-error,cert-chain-incomplete,cert-untrusted");
        ck_assert_int_eq(mailssl_report_cert_index(r, 0), 1);
        gnutls_free(der.data);
        certgen_free(&leaf);
    }
}
END_TEST

/* ---- OCSP ------------------------------------------------------------ */

START_TEST(must_staple_without_staple)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};
    static const unsigned char junk[] = {0x30, 0x00};

    o.must_staple = 1;
    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "ocsp-staple-missing");
    ck_assert_ptr_nonnull(
        strstr(mailssl_report_message(r, 0), "requires OCSP stapling"));
    /* a staple that is not an OCSP response */
    mailssl_report_clear(r);
    ck_assert_int_eq(check_chain_ocsp(v, chain, 2, junk, sizeof junk, r),
                     MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(codes(r), "ocsp-staple-invalid");
    certgen_free(&leaf);
}
END_TEST

/* Validates [leaf, intermediate] of a must-staple leaf with a staple made
 * by certgen_ocsp_response(); returns the codes. */
static const char *staple_codes(const struct certgen_ocsp_opts *oo,
                                const struct certgen_cert *about, int *st)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};
    unsigned char *der = NULL;
    size_t len = 0;

    o.must_staple = 1;
    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(
        certgen_ocsp_response(&der, &len, about ? about : &leaf, &inter, oo),
        0);
    mailssl_report_clear(r);
    *st = check_chain_ocsp(v, chain, 2, der, len, r);
    free(der);
    certgen_free(&leaf);
    return codes(r);
}

START_TEST(good_staple_is_fine)
{
    struct certgen_ocsp_opts oo = {0};
    int st;

    oo.status = CERTGEN_OCSP_GOOD;
    oo.this_update = T0 - 3600;
    oo.next_update = T0 + 3 * DAY;
    ck_assert_str_eq(staple_codes(&oo, NULL, &st), "");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_OK);
    /* without nextUpdate: fresh for 7 days */
    oo.next_update = 0;
    ck_assert_str_eq(staple_codes(&oo, NULL, &st), "");
}
END_TEST

START_TEST(revoked_staple_is_critical)
{
    struct certgen_ocsp_opts oo = {0};
    int st;

    oo.status = CERTGEN_OCSP_REVOKED;
    oo.this_update = T0 - 3600;
    oo.next_update = T0 + 3 * DAY;
    oo.revoked_at = T0 - 2 * DAY;
    ck_assert_str_eq(staple_codes(&oo, NULL, &st), "cert-revoked");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_CRITICAL);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "'CN=mail.example.com' was revoked on "
                                 "2027-01-13T08:00:00Z"));
}
END_TEST

START_TEST(stale_staple_is_invalid)
{
    struct certgen_ocsp_opts oo = {0};
    int st;

    oo.this_update = T0 - 10 * DAY;
    oo.next_update = T0 - 3 * DAY;
    ck_assert_str_eq(staple_codes(&oo, NULL, &st), "ocsp-staple-invalid");
    ck_assert_int_eq(st, MAILSSL_SEVERITY_WARNING);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "is stale (nextUpdate 2027-01-12T08:00:00Z)"));
    /* no nextUpdate and 8 days old */
    oo.this_update = T0 - 8 * DAY;
    oo.next_update = 0;
    ck_assert_str_eq(staple_codes(&oo, NULL, &st), "ocsp-staple-invalid");
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0), "is stale"));
    /* from the future */
    oo.this_update = T0 + DAY;
    oo.next_update = T0 + 5 * DAY;
    ck_assert_str_eq(staple_codes(&oo, NULL, &st), "ocsp-staple-invalid");
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0), "in the future"));
}
END_TEST

START_TEST(staple_for_another_certificate_is_invalid)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert other;
    struct certgen_ocsp_opts oo = {0};
    int st;

    ck_assert_int_eq(certgen_make(&other, &o, &inter), 0);
    oo.this_update = T0 - 3600;
    oo.next_update = T0 + 3 * DAY;
    ck_assert_str_eq(staple_codes(&oo, &other, &st), "ocsp-staple-invalid");
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "is for another certificate"));
    certgen_free(&other);
}
END_TEST

START_TEST(staple_signed_by_a_stranger_is_invalid)
{
    struct certgen_ocsp_opts oo = {0};
    int st;

    oo.this_update = T0 - 3600;
    oo.next_update = T0 + 3 * DAY;
    oo.signer = &other_root;
    ck_assert_str_eq(staple_codes(&oo, NULL, &st), "ocsp-staple-invalid");
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "is not signed by its issuer"));
    /* a status "unknown" from the right responder */
    oo.signer = NULL;
    oo.status = CERTGEN_OCSP_UNKNOWN;
    ck_assert_str_eq(staple_codes(&oo, NULL, &st), "ocsp-staple-invalid");
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0), "unknown"));
}
END_TEST

/* ---- credentials ----------------------------------------------------- */

static mailssl_credential *load_cred(const struct certgen_cert *cert,
                                     const struct certgen_cert *key)
{
    mailssl_credential *c = mailssl_credential_new();
    const struct certgen_cert *chain[2] = {cert, &inter};

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(certgen_write_pem(path("cred.pem"), chain, 2, NULL), 0);
    ck_assert_int_eq(certgen_write_key(path("cred.key"), key), 0);
    mailssl_credential_load_pem_files(c, path("cred.pem"), path("cred.key"),
                                      NULL);
    return c;
}

START_TEST(credential_good_and_mismatched_key)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf, other;
    mailssl_credential *c;

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(certgen_make(&other, &o, &inter), 0);
    c = load_cred(&leaf, &leaf);
    ck_assert_int_eq(mailssl_validate_credential(v, c, r), MAILSSL_SEVERITY_OK);
    ck_assert_str_eq(codes(r), "");
    mailssl_credential_free(c);

    c = load_cred(&leaf, &other);
    ck_assert_int_eq(mailssl_validate_credential(v, c, r),
                     MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "key-cert-mismatch");
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), 0);
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "cred.key does not belong to "
                                 "'CN=mail.example.com'"));
    mailssl_credential_free(c);

    /* an empty credential cannot be validated */
    c = mailssl_credential_new();
    ck_assert_int_eq(mailssl_validate_credential(v, c, r), MAILSSL_ERR_STATE);
    mailssl_credential_free(c);
    certgen_free(&leaf);
    certgen_free(&other);
}
END_TEST

START_TEST(credential_load_warnings_come_first)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    mailssl_credential *c;

    o.not_after = T0 + 20 * DAY;
    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    c = load_cred(&leaf, &leaf);
    mailssl_credential_free(c);
    /* the same files, the key now readable by everyone */
    ck_assert_int_eq(chmod(path("cred.key"), 0644), 0);
    c = mailssl_credential_new();
    ck_assert_int_eq(mailssl_credential_load_pem_files(
                         c, path("cred.pem"), path("cred.key"), NULL),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_validate_credential(v, c, r),
                     MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(codes(r), "key-file-permissions,cert-expiring");
    ck_assert_int_eq(mailssl_report_cert_index(r, 0), MAILSSL_NO_CERT);
    mailssl_credential_free(c);
    certgen_free(&leaf);
}
END_TEST

START_TEST(credential_expiring_in_an_audit)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    mailssl_credential *c;

    o.not_after = T0 + 40 * DAY;
    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    c = load_cred(&leaf, &leaf);
    ck_assert_int_eq(mailssl_validate_credential(v, c, r), MAILSSL_SEVERITY_OK);
    ck_assert_int_eq(mailssl_validator_set_time(v, T0 + 30 * DAY), MAILSSL_OK);
    ck_assert_int_eq(mailssl_validate_credential(v, c, r),
                     MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(codes(r), "cert-expiring");
    mailssl_credential_free(c);
    certgen_free(&leaf);
}
END_TEST

/* ---- DANE (RFC 7672) --------------------------------------------------- */

/* SHA-256 of the certificate's SubjectPublicKeyInfo (selector 1, type 1). */
static void spki_sha256(const struct certgen_cert *c, unsigned char out[32])
{
    gnutls_pubkey_t pk;
    gnutls_datum_t d;

    ck_assert_int_ge(gnutls_pubkey_init(&pk), 0);
    ck_assert_int_ge(gnutls_pubkey_import_x509(pk, c->crt, 0), 0);
    ck_assert_int_ge(gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &d), 0);
    ck_assert_int_ge(gnutls_hash_fast(GNUTLS_DIG_SHA256, d.data, d.size, out),
                     0);
    gnutls_free(d.data);
    gnutls_pubkey_deinit(pk);
}

/* SHA-256 of the whole certificate (selector 0, type 1). */
static void cert_sha256(const struct certgen_cert *c, unsigned char out[32])
{
    gnutls_datum_t d;

    ck_assert_int_ge(gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_DER, &d),
                     0);
    ck_assert_int_ge(gnutls_hash_fast(GNUTLS_DIG_SHA256, d.data, d.size, out),
                     0);
    gnutls_free(d.data);
}

START_TEST(dane_ee_match_ignores_pkix_names_and_dates)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[1] = {&leaf};
    unsigned char h[32];

    /* self-signed, expired, for another name: DANE-EE pins it anyway */
    o.not_before = T0 - 400 * DAY;
    o.not_after = T0 - 10 * DAY;
    ck_assert_int_eq(certgen_make(&leaf, &o, NULL), 0);
    ck_assert_int_eq(mailssl_validator_set_name(v, "mx.example.net"),
                     MAILSSL_OK);
    spki_sha256(&leaf, h);
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 3, 1, 1, h, 32), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 1, r), MAILSSL_SEVERITY_OK);
    ck_assert_str_eq(codes(r), "");
    certgen_free(&leaf);
}
END_TEST

START_TEST(dane_selectors_and_matching_types)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[1] = {&leaf};
    gnutls_datum_t der;
    unsigned char h[64];

    ck_assert_int_eq(certgen_make(&leaf, &o, NULL), 0);
    ck_assert_int_ge(gnutls_x509_crt_export2(leaf.crt, GNUTLS_X509_FMT_DER,
                                             &der),
                     0);
    /* 3 0 0: the whole certificate */
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 3, 0, 0, der.data, der.size),
                     MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 1, r), MAILSSL_SEVERITY_OK);
    mailssl_validator_free(v);
    /* 3 0 2: SHA-512 of the certificate */
    v = validator();
    ck_assert_int_ge(gnutls_hash_fast(GNUTLS_DIG_SHA512, der.data, der.size, h),
                     0);
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 3, 0, 2, h, 64), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 1, r), MAILSSL_SEVERITY_OK);
    /* a second, non-matching record does not spoil a match */
    h[0] ^= 1;
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 3, 0, 2, h, 64), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 1, r), MAILSSL_SEVERITY_OK);
    ck_assert_str_eq(codes(r), "");
    mailssl_validator_free(v);
    /* 3 1 1 with a wrong length is unusable */
    v = validator();
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 3, 1, 1, h, 31), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 1, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "dane-unusable,cert-untrusted,cert-self-signed");
    gnutls_free(der.data);
    certgen_free(&leaf);
}
END_TEST

START_TEST(dane_ee_mismatch_is_critical)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};
    unsigned char h[32];

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    spki_sha256(&inter, h); /* the wrong certificate's key */
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 3, 1, 1, h, 32), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "dane-mismatch");
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "no usable TLSA record matches the chain of "
                                 "'CN=mail.example.com'"));
    certgen_free(&leaf);
}
END_TEST

START_TEST(dane_ta_needs_the_name)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};
    unsigned char h[32];

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    /* trust only the intermediate, through DANE-TA */
    ck_assert_int_eq(mailssl_validator_set_cafile(v, other_cafile), MAILSSL_OK);
    cert_sha256(&inter, h);
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 2, 0, 1, h, 32), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_OK);
    ck_assert_str_eq(codes(r), "");
    /* unlike DANE-EE, DANE-TA keeps the name check (RFC 7672 3.1.2) */
    ck_assert_int_eq(mailssl_validator_set_name(v, "mx.example.net"),
                     MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-name-mismatch");
    /* a TA that is not sent cannot anchor the chain */
    mailssl_report_clear(r);
    ck_assert_int_eq(check_chain(v, chain, 1, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "dane-mismatch,cert-chain-incomplete,"
                               "cert-untrusted,cert-name-mismatch");
    certgen_free(&leaf);
}
END_TEST

START_TEST(dane_pkix_usages_are_unusable_for_smtp)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};
    unsigned char h[32];

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    spki_sha256(&leaf, h);
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 1, 1, 1, h, 32), MAILSSL_OK);
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 0, 1, 1, h, 32), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(codes(r), "dane-unusable");
    ck_assert_ptr_nonnull(strstr(mailssl_report_message(r, 0),
                                 "none of the 2 TLSA records is usable"));
    certgen_free(&leaf);
}
END_TEST

START_TEST(dane_pkix_usages_for_other_services)
{
    struct certgen_opts o = leaf_opts();
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2] = {&leaf, &inter};
    unsigned char h[32];

    ck_assert_int_eq(certgen_make(&leaf, &o, &inter), 0);
    ck_assert_int_eq(mailssl_validator_set_service(v, MAILSSL_SERVICE_IMAPS),
                     MAILSSL_OK);
    /* PKIX-EE(1) of the leaf: usable for IMAP, PKIX passes */
    spki_sha256(&leaf, h);
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 1, 1, 1, h, 32), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_OK);
    ck_assert_str_eq(codes(r), "");
    /* a PKIX-EE match does not replace the trust store */
    ck_assert_int_eq(mailssl_validator_set_cafile(v, other_cafile), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "cert-chain-incomplete,cert-untrusted");
    mailssl_validator_free(v);

    /* PKIX-TA(0) of the root, which the server does not send: the trust
     * anchor from the store counts */
    v = validator();
    mailssl_report_clear(r);
    ck_assert_int_eq(mailssl_validator_set_service(v, MAILSSL_SERVICE_POP3),
                     MAILSSL_OK);
    cert_sha256(&root, h);
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 0, 0, 1, h, 32), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_OK);
    mailssl_validator_free(v);

    /* PKIX-TA(0) of another root: mismatch */
    v = validator();
    ck_assert_int_eq(mailssl_validator_set_service(v, MAILSSL_SERVICE_SUBMISSION),
                     MAILSSL_OK);
    cert_sha256(&other_root, h);
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 0, 0, 1, h, 32), MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_CRITICAL);
    ck_assert_str_eq(codes(r), "dane-mismatch");
    /* the same record for SMTP is unusable instead */
    mailssl_report_clear(r);
    ck_assert_int_eq(mailssl_validator_set_service(v, MAILSSL_SERVICE_SMTP),
                     MAILSSL_OK);
    ck_assert_int_eq(check_chain(v, chain, 2, r), MAILSSL_SEVERITY_WARNING);
    ck_assert_str_eq(codes(r), "dane-unusable");
    ck_assert_int_eq(mailssl_validator_set_service(v, 10), MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validator_set_service(v, -1), MAILSSL_ERR_INVALID);
    certgen_free(&leaf);
}
END_TEST

/* ---- API misuse ------------------------------------------------------ */

START_TEST(setters_check_their_arguments)
{
    unsigned char h[32] = {0};
    const unsigned char *p[1] = {h};
    size_t lens[1] = {32};

    ck_assert_int_eq(mailssl_validator_set_days(v, 5, 7), MAILSSL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mailssl_validator_error(v), "crit (7)"));
    ck_assert_int_eq(mailssl_validator_set_days(v, 7, -1), MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validator_set_time(v, -1), MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validator_set_name(v, "bad name"),
                     MAILSSL_ERR_SYNTAX);
    ck_assert_int_eq(mailssl_validator_set_name(v, "*.example.com"),
                     MAILSSL_ERR_SYNTAX);
    ck_assert_int_eq(mailssl_validator_set_name(v, "a..example.com"),
                     MAILSSL_ERR_SYNTAX);
    ck_assert_int_eq(mailssl_validator_set_name(v, ""), MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validator_set_cafile(v, path("missing.pem")),
                     MAILSSL_ERR_IO);
    ck_assert_ptr_nonnull(strstr(mailssl_validator_error(v), "missing.pem"));
    {
        char *empty = certgen_tmpdir();
        FILE *f = fopen(path("garbage.pem"), "w");
        char longname[300];
        ck_assert_ptr_nonnull(f);
        fputs("not a certificate\n", f);
        fclose(f);
        ck_assert_int_eq(mailssl_validator_set_cafile(v, empty),
                         MAILSSL_ERR_CREDENTIAL);
        ck_assert_int_eq(mailssl_validator_set_cafile(v, path("garbage.pem")),
                         MAILSSL_ERR_CREDENTIAL);
        ck_assert_ptr_nonnull(strstr(mailssl_validator_error(v),
                                     "no CA certificate could be loaded"));
        certgen_rmdir(empty);
        free(empty);
        memset(longname, 'a', sizeof longname - 1);
        longname[sizeof longname - 1] = '\0';
        ck_assert_int_eq(mailssl_validator_set_name(v, longname),
                         MAILSSL_ERR_TOO_LONG);
        longname[64] = '\0'; /* one label of 64 */
        ck_assert_int_eq(mailssl_validator_set_name(v, longname),
                         MAILSSL_ERR_SYNTAX);
        ck_assert_int_eq(mailssl_validator_set_name(v, "xn--\xc3\xbc.example"),
                         MAILSSL_ERR_SYNTAX);
    }
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 3, 1, 1, NULL, 32),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validator_add_tlsa(v, 256, 1, 1, h, 32),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validate_chain(NULL, p, lens, 1, NULL, 0, r),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validate_chain(v, p, lens, 0, NULL, 0, r),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validate_chain(v, p, lens, 1, NULL, 5, r),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validate_chain(v, p, lens, 1, NULL, 0, NULL),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_validate_chain(v, p, lens, 33, NULL, 0, r),
                     MAILSSL_ERR_TOO_LONG);
    ck_assert_int_eq(mailssl_validate_credential(v, NULL, r),
                     MAILSSL_ERR_INVALID);
    ck_assert_uint_eq(mailssl_report_count(r), 0);
    ck_assert_str_eq(mailssl_validator_error(NULL),
                     "invalid argument: NULL validator");
    mailssl_validator_free(NULL);
}
END_TEST

int main(void)
{
    /* the test names are variables, so the table is built here */
    const struct {
        const char *name;
        const TTest *tests[12];
    } cases[] = {
        {"dates",
         {good_chain_has_no_findings, expired_leaf_is_critical,
          not_yet_valid_is_critical, expiring_within_warning_window,
          expiring_within_critical_window,
          expiry_windows_are_exclusive_and_settable,
          validation_time_answers_will_it_be_valid,
          expired_intermediate_is_named, no_well_defined_expiry_never_expires}},
        {"names",
         {wrong_name_is_critical,
          names_match_case_insensitively_without_trailing_dot,
          wildcard_matches_exactly_one_leftmost_label,
          ip_names_match_octet_for_octet, common_name_is_never_used,
          idn_names_compare_as_a_labels, no_name_means_no_name_check}},
        {"chain",
         {missing_intermediate_is_reported, wrong_order_is_a_warning,
          unrelated_certificate_in_chain, untrusted_root_is_critical,
          self_made_root_is_untrusted_by_the_system_store,
          threads_share_a_validator, ca_directory_is_a_trust_store,
      self_signed_leaf,
          unparsable_certificates}},
        {"usage",
         {client_auth_only_eku_is_bad_usage,
          client_only_intermediate_is_bad_usage, weak_rsa_key_is_a_warning,
          sha1_signature_is_a_warning, key_usage_must_allow_a_handshake,
          dsa_key_is_weak, credential_good_and_mismatched_key,
          credential_expiring_in_an_audit,
          credential_load_warnings_come_first}},
        {"ocsp",
         {must_staple_without_staple, good_staple_is_fine,
          revoked_staple_is_critical, stale_staple_is_invalid,
          staple_for_another_certificate_is_invalid,
          staple_signed_by_a_stranger_is_invalid}},
        {"dane",
         {dane_ee_match_ignores_pkix_names_and_dates,
          dane_selectors_and_matching_types, dane_ee_mismatch_is_critical,
          dane_ta_needs_the_name, dane_pkix_usages_are_unusable_for_smtp,
          dane_pkix_usages_for_other_services,
          setters_check_their_arguments}},
    };
    Suite *s = suite_create("validate");
    size_t i, j;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
        tcase_add_checked_fixture(tc, each_setup, each_teardown);
        for (j = 0; cases[i].tests[j]; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
    }
    return check_run(s, CK_FORK_GETENV);
}
