/*
 * credential.c - certificate chains and private keys loaded for serving.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/pkcs12.h>

#include "internal.h"

/* Files larger than this are not certificates: refuse them rather than
 * read a log file or a disk image into memory by mistake. */
#define CRED_MAX_FILE (4u * 1024u * 1024u)

MAILSSL_EXPORT mailssl_credential *mailssl_credential_new(void)
{
    mailssl_credential *c;

    if (!mailssl__initialized())
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->refs = 1;
    return c;
}

mailssl_credential *mailssl__credential_ref(mailssl_credential *c)
{
    if (c)
        __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

static int check_fresh(mailssl_credential *c);
static int check_password(mailssl_credential *c, const char *password,
                          const char *what);
static int pem_files_done(mailssl_credential *c,
                          const char *key_or_cert_file, const char *password);

static void credential_clear(mailssl_credential *c)
{
    unsigned i;

    for (i = 0; i < c->ncerts; i++)
        gnutls_x509_crt_deinit(c->certs[i]);
    gnutls_free(c->certs);
    c->certs = NULL;
    c->ncerts = 0;
    if (c->privkey)
        gnutls_privkey_deinit(c->privkey);
    c->privkey = NULL;
    if (c->key)
        gnutls_x509_privkey_deinit(c->key);
    c->key = NULL;
    if (c->server_cred)
        gnutls_certificate_free_credentials(c->server_cred);
    c->server_cred = NULL;
    free(c->cert_source);
    free(c->key_source);
    c->cert_source = c->key_source = NULL;
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    c->password = NULL;
    free(c->password_file);
    c->password_file = NULL;
    c->format = MAILSSL__CRED_NONE;
    mailssl_report_free(c->load_warnings);
    c->load_warnings = NULL;
    c->loaded = 0;
    c->key_matches = 0;
}

MAILSSL_EXPORT void mailssl_credential_free(mailssl_credential *c)
{
    if (!c)
        return;
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    credential_clear(c);
    free(c);
}

MAILSSL_EXPORT const char *
mailssl_credential_error(const mailssl_credential *c)
{
    return c ? c->err : "invalid argument: NULL credential";
}

/* Reads a whole file (bounded). Returns 0 or a negative code with the
 * message in c->err. */
static int read_file(mailssl_credential *c, const char *path,
                     gnutls_datum_t *out)
{
    char *buf, why[256];
    size_t n;
    int rc = mailssl__read_file(path, CRED_MAX_FILE, &buf, &n, why,
                                sizeof why);

    if (rc == MAILSSL_ERR_TOO_LONG)
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: %zu bytes is too large for a certificate "
                           "or key file",
                           path, n);
    else if (rc < 0)
        mailssl__set_error(c->err, sizeof c->err, "%s: %s", path, why);
    if (rc < 0)
        return rc;
    out->data = (unsigned char *)buf;
    out->size = (unsigned)n;
    return 0;
}

/* Does the buffer hold any PEM block that looks like a private key? */
static int has_pem_key(const gnutls_datum_t *d)
{
    const char *s = (const char *)d->data;
    return s && (strstr(s, "PRIVATE KEY-----") != NULL);
}

static int parse_chain(mailssl_credential *c, const gnutls_datum_t *d,
                       const char *src)
{
    int rc;

    if (!strstr((const char *)d->data, "-----BEGIN CERTIFICATE-----") &&
        !strstr((const char *)d->data, "-----BEGIN X509 CERTIFICATE-----")) {
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: no certificate in this file (expected a PEM "
                           "block BEGIN CERTIFICATE)",
                           src);
        return MAILSSL_ERR_CREDENTIAL;
    }
    rc = gnutls_x509_crt_list_import2(&c->certs, &c->ncerts, d,
                                      GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || c->ncerts == 0) {
        c->certs = NULL;
        c->ncerts = 0;
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: the certificate cannot be parsed: %s", src,
                           gnutls_strerror(rc));
        return MAILSSL_ERR_CREDENTIAL;
    }
    return 0;
}

static int parse_key(mailssl_credential *c, const gnutls_datum_t *d,
                     const char *src, const char *password)
{
    int rc;

    if (!has_pem_key(d)) {
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: no private key in this file (expected a PEM "
                           "block BEGIN ... PRIVATE KEY)",
                           src);
        return MAILSSL_ERR_CREDENTIAL;
    }
    if (gnutls_x509_privkey_init(&c->key) < 0)
        return MAILSSL_ERR_NOMEM;
    rc = gnutls_x509_privkey_import2(c->key, d, GNUTLS_X509_FMT_PEM, password,
                                     0);
    if (rc < 0) {
        int encrypted = strstr((const char *)d->data, "ENCRYPTED") != NULL;
        gnutls_x509_privkey_deinit(c->key);
        c->key = NULL;
        if (encrypted && !password)
            mailssl__set_error(c->err, sizeof c->err,
                               "%s: the private key is encrypted and no "
                               "password was given",
                               src);
        else if (encrypted)
            mailssl__set_error(c->err, sizeof c->err,
                               "%s: the private key cannot be decrypted "
                               "with the password given: %s",
                               src, gnutls_strerror(rc));
        else
            mailssl__set_error(c->err, sizeof c->err,
                               "%s: the private key cannot be parsed: %s", src,
                               gnutls_strerror(rc));
        return MAILSSL_ERR_CREDENTIAL;
    }
    return 0;
}

/* Compares the leaf's public key with the private key's. */
static int key_matches_leaf(mailssl_credential *c)
{
    unsigned char a[64], b[64];
    size_t alen = sizeof a, blen = sizeof b;
    gnutls_pubkey_t pub;
    int rc;

    if (gnutls_x509_crt_get_key_id(c->certs[0], GNUTLS_KEYID_USE_SHA256, a,
                                   &alen) < 0)
        return 0;
    if (c->key)
        return gnutls_x509_privkey_get_key_id(c->key, GNUTLS_KEYID_USE_SHA256,
                                              b, &blen) >= 0 &&
               alen == blen && memcmp(a, b, alen) == 0;
    /* a token key: compare through its public half */
    if (!c->privkey || gnutls_pubkey_init(&pub) < 0)
        return 0;
    rc = gnutls_pubkey_import_privkey(pub, c->privkey, 0, 0);
    if (rc >= 0)
        rc = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, b, &blen);
    gnutls_pubkey_deinit(pub);
    return rc >= 0 && alen == blen && memcmp(a, b, alen) == 0;
}

/* Builds the abstract key and the server credentials once the chain and
 * key are parsed; checks that they belong together. */
static int finish_load(mailssl_credential *c)
{
    int rc;

    c->loaded = 1;
    c->key_matches = key_matches_leaf(c);
    if (!c->key_matches) {
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: the private key (%s) does not match the "
                           "certificate's public key",
                           c->cert_source,
                           c->key_source ? c->key_source : c->cert_source);
        return MAILSSL_ERR_CREDENTIAL;
    }
    if (gnutls_privkey_init(&c->privkey) < 0 ||
        gnutls_privkey_import_x509(c->privkey, c->key, 0) < 0)
        return MAILSSL_ERR_NOMEM;
    if (gnutls_certificate_allocate_credentials(&c->server_cred) < 0)
        return MAILSSL_ERR_NOMEM;
    rc = gnutls_certificate_set_x509_key(c->server_cred, c->certs, c->ncerts,
                                         c->key);
    if (rc < 0) {
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: GnuTLS refuses this certificate and key: %s",
                           c->cert_source, gnutls_strerror(rc));
        /* no server credentials: mailssl_credential_usable() is 0 and a
         * store refuses it (the key ids matched, the keys did not) */
        gnutls_certificate_free_credentials(c->server_cred);
        c->server_cred = NULL;
        return MAILSSL_ERR_CREDENTIAL;
    }
    c->err[0] = '\0';
    return MAILSSL_OK;
}

int mailssl__credential_load_pem(mailssl_credential *c,
                                 const gnutls_datum_t *cert,
                                 const char *cert_src,
                                 const gnutls_datum_t *key,
                                 const char *key_src, const char *password)
{
    int rc;

    c->cert_source = mailssl__strdup(cert_src);
    c->key_source = mailssl__strdup(key_src ? key_src : cert_src);
    if (!c->cert_source || !c->key_source)
        return MAILSSL_ERR_NOMEM;
    rc = parse_chain(c, cert, cert_src);
    if (rc < 0)
        return rc;
    rc = parse_key(c, key ? key : cert, key_src ? key_src : cert_src,
                   password);
    if (rc < 0)
        return rc;
    return finish_load(c);
}

MAILSSL_EXPORT int mailssl_credential_load_pem_files(mailssl_credential *c,
                                                     const char *cert_file,
                                                     const char *key_file,
                                                     const char *password)
{
    gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
    int rc;

    if (!c)
        return MAILSSL_ERR_INVALID;
    if (!cert_file || !*cert_file || (key_file && !*key_file)) {
        mailssl__set_error(c->err, sizeof c->err,
                           "invalid argument: no certificate file name");
        return MAILSSL_ERR_INVALID;
    }
    if ((rc = check_fresh(c)) < 0 ||
        (rc = check_password(c, password, "password")) < 0)
        return rc;
    rc = read_file(c, cert_file, &cert);
    if (rc == 0 && key_file)
        rc = read_file(c, key_file, &key);
    if (rc == 0)
        rc = mailssl__credential_load_pem(c, &cert, cert_file,
                                          key_file ? &key : NULL, key_file,
                                          password);
    if (rc == 0 || c->loaded) {
        int wrc =
            pem_files_done(c, key_file ? key_file : cert_file, password);
        if (rc == 0)
            rc = wrc;
    }
    if (rc < 0 && !c->loaded)
        credential_clear(c);
    free(cert.data);
    if (key.data) {
        memset(key.data, 0, key.size);
        free(key.data);
    }
    return rc;
}

/* A private key readable by group or other is a warning, not an error:
 * the server still works, but the key may already have leaked. */
static int warn_permissions(mailssl_credential *c, const char *path,
                            const char *what)
{
    struct stat st;
    char msg[MAILSSL_ERRLEN];

    if (stat(path, &st) != 0 || !(st.st_mode & (S_IRGRP | S_IROTH)))
        return MAILSSL_OK;
    if (!c->load_warnings && !(c->load_warnings = mailssl_report_new()))
        return MAILSSL_ERR_NOMEM;
    mailssl__set_error(msg, sizeof msg,
                       "%s: the %s is readable by %s (mode %04o); anyone "
                       "with that access can impersonate this server: "
                       "chmod 600 it",
                       path, what,
                       (st.st_mode & S_IRGRP) && (st.st_mode & S_IROTH)
                           ? "group and other"
                           : (st.st_mode & S_IRGRP) ? "group" : "other",
                       (unsigned)(st.st_mode & 07777));
    return mailssl_report_add(c->load_warnings,
                              MAILSSL_CODE_KEY_FILE_PERMISSIONS,
                              MAILSSL_SEVERITY_WARNING, MAILSSL_NO_CERT, NULL,
                              NULL, msg) < 0
               ? MAILSSL_ERR_NOMEM
               : MAILSSL_OK;
}

static int check_fresh(mailssl_credential *c)
{
    if (c->loaded || c->ncerts) {
        mailssl__set_error(c->err, sizeof c->err,
                           "this credential is already loaded");
        return MAILSSL_ERR_STATE;
    }
    return MAILSSL_OK;
}

/* Passwords and PINs longer than this are refused: no key needs one, and
 * a config line (4096 bytes) could not hold it. */
#define CRED_MAX_PASSWORD 1024

static int check_password(mailssl_credential *c, const char *password,
                          const char *what)
{
    if (password &&
        strnlen(password, CRED_MAX_PASSWORD + 1) > CRED_MAX_PASSWORD) {
        mailssl__set_error(c->err, sizeof c->err,
                           "the %s is longer than %d bytes", what,
                           CRED_MAX_PASSWORD);
        return MAILSSL_ERR_TOO_LONG;
    }
    return MAILSSL_OK;
}

static void wipe_free(gnutls_datum_t *d)
{
    if (d->data) {
        memset(d->data, 0, d->size);
        free(d->data);
    }
    d->data = NULL;
    d->size = 0;
}

static int pem_files_done(mailssl_credential *c,
                          const char *key_or_cert_file, const char *password)
{
    int rc = MAILSSL_OK;

    c->format = MAILSSL__CRED_PEM;
    if (password && !(c->password = mailssl__strdup(password)))
        return MAILSSL_ERR_NOMEM;
    if (c->loaded)
        rc = warn_permissions(c, key_or_cert_file, "private key file");
    return rc;
}

MAILSSL_EXPORT int mailssl_credential_load_pem_memory(
    mailssl_credential *c, const char *cert_pem, size_t cert_len,
    const char *key_pem, size_t key_len, const char *password)
{
    gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
    int rc;

    if (!c)
        return MAILSSL_ERR_INVALID;
    if (!cert_pem || !cert_len || (key_pem && !key_len)) {
        mailssl__set_error(c->err, sizeof c->err,
                           "invalid argument: no certificate data");
        return MAILSSL_ERR_INVALID;
    }
    if (cert_len > CRED_MAX_FILE || key_len > CRED_MAX_FILE) {
        mailssl__set_error(c->err, sizeof c->err,
                           "memory: too large for a certificate or key");
        return MAILSSL_ERR_TOO_LONG;
    }
    if ((rc = check_fresh(c)) < 0 ||
        (rc = check_password(c, password, "password")) < 0)
        return rc;
    /* NUL-terminated copies: the PEM scanners use string functions */
    cert.data = malloc(cert_len + 1);
    key.data = key_pem ? malloc(key_len + 1) : NULL;
    if (!cert.data || (key_pem && !key.data)) {
        free(cert.data);
        free(key.data);
        return MAILSSL_ERR_NOMEM;
    }
    memcpy(cert.data, cert_pem, cert_len);
    cert.data[cert_len] = '\0';
    cert.size = (unsigned)cert_len;
    if (key_pem) {
        memcpy(key.data, key_pem, key_len);
        key.data[key_len] = '\0';
        key.size = (unsigned)key_len;
    }
    rc = mailssl__credential_load_pem(c, &cert, "memory",
                                      key_pem ? &key : NULL,
                                      key_pem ? "memory (key)" : NULL,
                                      password);
    if (rc >= 0 || c->loaded)
        c->format = MAILSSL__CRED_MEMORY;
    if (rc < 0 && !c->loaded)
        credential_clear(c);
    wipe_free(&cert);
    wipe_free(&key);
    return rc;
}

/* The first line of a password file, without its line end. */
static int read_password_file(mailssl_credential *c, const char *path,
                              char **out)
{
    gnutls_datum_t d = {NULL, 0};
    size_t n;
    int rc;

    if ((rc = read_file(c, path, &d)) < 0)
        return rc;
    n = strcspn((const char *)d.data, "\r\n");
    d.data[n] = '\0';
    *out = mailssl__strdup((const char *)d.data);
    wipe_free(&d);
    if (!*out)
        return MAILSSL_ERR_NOMEM;
    return warn_permissions(c, path, "password file");
}

/* A file without a MAC has no password to check (each verification is a
 * key derivation: do not spend one for nothing). */
static int pkcs12_has_mac(gnutls_pkcs12_t p12)
{
    unsigned char salt[128];
    unsigned mac, salt_size = sizeof salt, iter;
    char *oid = NULL;
    int rc = gnutls_pkcs12_mac_info(p12, &mac, salt, &salt_size, &iter, &oid);
    gnutls_free(oid);
    return rc != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE;
}

static int parse_pkcs12(mailssl_credential *c, const gnutls_datum_t *d,
                        const char *src, const char *password)
{
    gnutls_pkcs12_t p12;
    gnutls_x509_crt_t *extra = NULL;
    unsigned nextra = 0, i;
    int rc;

    if (gnutls_pkcs12_init(&p12) < 0)
        return MAILSSL_ERR_NOMEM;
    rc = gnutls_pkcs12_import(p12, d, GNUTLS_X509_FMT_DER, 0);
    if (rc < 0)
        rc = gnutls_pkcs12_import(p12, d, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0) {
        gnutls_pkcs12_deinit(p12);
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: not a PKCS#12 file (cannot be parsed: %s)",
                           src, gnutls_strerror(rc));
        return MAILSSL_ERR_CREDENTIAL;
    }
    if (pkcs12_has_mac(p12) &&
        gnutls_pkcs12_verify_mac(p12, password ? password : "") < 0 &&
        (password || gnutls_pkcs12_verify_mac(p12, NULL) < 0)) {
        gnutls_pkcs12_deinit(p12);
        if (!password)
            mailssl__set_error(c->err, sizeof c->err,
                               "%s: the PKCS#12 file is protected by a "
                               "password and none was given",
                               src);
        else
            mailssl__set_error(c->err, sizeof c->err,
                               "%s: wrong password for this PKCS#12 file",
                               src);
        return MAILSSL_ERR_CREDENTIAL;
    }
    rc = gnutls_pkcs12_simple_parse(p12, password ? password : "", &c->key,
                                    &c->certs, &c->ncerts, &extra, &nextra,
                                    NULL, 0);
    gnutls_pkcs12_deinit(p12);
    for (i = 0; i < nextra; i++)
        gnutls_x509_crt_deinit(extra[i]);
    gnutls_free(extra);
    if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        rc = 0; /* whichever is absent is named below */
    if (rc < 0 || !c->ncerts || !c->key) {
        if (rc >= 0 && !c->key)
            mailssl__set_error(c->err, sizeof c->err,
                               "%s: no private key in this PKCS#12 file", src);
        else if (rc >= 0)
            mailssl__set_error(c->err, sizeof c->err,
                               "%s: no certificate in this PKCS#12 file", src);
        else if (!password)
            mailssl__set_error(c->err, sizeof c->err,
                               "%s: the PKCS#12 file is protected by a "
                               "password and none was given (%s)",
                               src, gnutls_strerror(rc));
        else
            mailssl__set_error(c->err, sizeof c->err,
                               "%s: the PKCS#12 contents cannot be used: %s",
                               src, gnutls_strerror(rc));
        return MAILSSL_ERR_CREDENTIAL;
    }
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_credential_load_pkcs12_file(mailssl_credential *c,
                                                       const char *file,
                                                       const char *password,
                                                       const char *password_file)
{
    gnutls_datum_t d = {NULL, 0};
    char *pw = NULL;
    int rc;

    if (!c)
        return MAILSSL_ERR_INVALID;
    if (!file || !*file || (password && password_file) ||
        (password_file && !*password_file)) {
        mailssl__set_error(c->err, sizeof c->err,
                           "invalid argument: a PKCS#12 file name and at "
                           "most one of password and password file");
        return MAILSSL_ERR_INVALID;
    }
    if ((rc = check_fresh(c)) < 0 ||
        (rc = check_password(c, password, "password")) < 0)
        return rc;
    if (password_file) {
        rc = read_password_file(c, password_file, &pw);
        if (rc == 0)
            rc = check_password(c, pw, "password in the password file");
    }
    else if (password && !(pw = mailssl__strdup(password)))
        rc = MAILSSL_ERR_NOMEM;
    if (rc == 0)
        rc = read_file(c, file, &d);
    if (rc == 0) {
        c->cert_source = mailssl__strdup(file);
        c->key_source = mailssl__strdup(file);
        rc = (c->cert_source && c->key_source) ? 0 : MAILSSL_ERR_NOMEM;
    }
    if (rc == 0)
        rc = parse_pkcs12(c, &d, file, pw);
    if (rc == 0)
        rc = finish_load(c);
    if (c->loaded) {
        int wrc = warn_permissions(c, file, "PKCS#12 file (it holds the "
                                            "private key)");
        c->format = MAILSSL__CRED_PKCS12;
        if (password_file)
            c->password_file = mailssl__strdup(password_file);
        else if (password)
            c->password = mailssl__strdup(password);
        if (rc == 0 && (wrc < 0 || (password_file && !c->password_file) ||
                        (password && !c->password)))
            rc = MAILSSL_ERR_NOMEM;
    } else if (rc < 0) {
        /* keep the message: credential_clear does not touch err */
        credential_clear(c);
    }
    wipe_free(&d);
    if (pw) {
        memset(pw, 0, strlen(pw));
        free(pw);
    }
    return rc;
}

/* PKCS#11 PIN callback: the PIN given at load time, for every token. */
static int give_pin(void *user, int attempt, const char *token_url,
                    const char *token_label, unsigned flags, char *pin,
                    size_t pin_max)
{
    const char *given = user;
    (void)token_url;
    (void)token_label;
    (void)flags;
    if (attempt > 0 || !given || strlen(given) >= pin_max)
        return -1;
    memcpy(pin, given, strlen(given) + 1);
    return 0;
}

MAILSSL_EXPORT int mailssl_credential_load_pkcs11(mailssl_credential *c,
                                                  const char *cert_url,
                                                  const char *key_url,
                                                  const char *pin)
{
    int rc;

    if (!c)
        return MAILSSL_ERR_INVALID;
    if (!cert_url || !*cert_url) {
        mailssl__set_error(c->err, sizeof c->err,
                           "invalid argument: no certificate URL");
        return MAILSSL_ERR_INVALID;
    }
    if (!key_url)
        key_url = cert_url;
    if ((rc = check_fresh(c)) < 0 || (rc = check_password(c, pin, "PIN")) < 0)
        return rc;
    if (strncmp(cert_url, "pkcs11:", 7) != 0 ||
        strncmp(key_url, "pkcs11:", 7) != 0) {
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: not a PKCS#11 URI (RFC 7512, \"pkcs11:...\")",
                           strncmp(cert_url, "pkcs11:", 7) ? cert_url
                                                           : key_url);
        return MAILSSL_ERR_INVALID;
    }
    if (!gnutls_url_is_supported(cert_url) ||
        !gnutls_url_is_supported(key_url)) {
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: PKCS#11 URIs are not supported by the GnuTLS "
                           "this library runs with (built without p11-kit)",
                           cert_url);
        return MAILSSL_ERR_UNSUPPORTED;
    }
    c->cert_source = mailssl__strdup(cert_url);
    c->key_source = mailssl__strdup(key_url);
    if (!c->cert_source || !c->key_source)
        return MAILSSL_ERR_NOMEM;
    if (gnutls_certificate_allocate_credentials(&c->server_cred) < 0 ||
        gnutls_privkey_init(&c->privkey) < 0) {
        credential_clear(c);
        return MAILSSL_ERR_NOMEM;
    }
    if (pin) {
        if (!(c->password = mailssl__strdup(pin))) {
            credential_clear(c);
            return MAILSSL_ERR_NOMEM;
        }
        gnutls_certificate_set_pin_function(c->server_cred, give_pin,
                                            c->password);
        gnutls_privkey_set_pin_function(c->privkey, give_pin, c->password);
    }
    rc = gnutls_certificate_set_x509_key_file2(
        c->server_cred, cert_url, key_url, GNUTLS_X509_FMT_PEM, pin, 0);
    if (rc >= 0)
        rc = gnutls_privkey_import_url(c->privkey, key_url, 0);
    if (rc >= 0) {
        c->certs = gnutls_malloc(sizeof(*c->certs));
        if (!c->certs || gnutls_x509_crt_init(&c->certs[0]) < 0) {
            credential_clear(c);
            return MAILSSL_ERR_NOMEM;
        }
        c->ncerts = 1;
        rc = gnutls_x509_crt_import_url(c->certs[0], cert_url, 0);
    }
    if (rc < 0) {
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: cannot load from the PKCS#11 token: %s",
                           cert_url, gnutls_strerror(rc));
        credential_clear(c);
        return MAILSSL_ERR_CREDENTIAL;
    }
    c->loaded = 1;
    c->format = MAILSSL__CRED_PKCS11;
    c->key_matches = key_matches_leaf(c);
    if (!c->key_matches) {
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: the private key (%s) does not match the "
                           "certificate's public key",
                           cert_url, key_url);
        return MAILSSL_ERR_CREDENTIAL;
    }
    c->err[0] = '\0';
    return MAILSSL_OK;
}

MAILSSL_EXPORT const mailssl_report *
mailssl_credential_warnings(const mailssl_credential *c)
{
    return c ? c->load_warnings : NULL;
}

MAILSSL_EXPORT int mailssl_credential_usable(const mailssl_credential *c)
{
    return c && c->loaded && c->key_matches && c->server_cred;
}

int mailssl__credential_copy_key(const mailssl_credential *c,
                                 gnutls_privkey_t *out)
{
    gnutls_privkey_t pk;
    int rc;

    *out = NULL;
    if (gnutls_privkey_init(&pk) < 0)
        return MAILSSL_ERR_NOMEM;
    if (c->key) {
        rc = gnutls_privkey_import_x509(pk, c->key,
                                        GNUTLS_PRIVKEY_IMPORT_COPY);
    } else {
        /* a token key: open it again, with the PIN given at load time */
        if (c->password)
            gnutls_privkey_set_pin_function(pk, give_pin, c->password);
        rc = gnutls_privkey_import_url(pk, c->key_source, 0);
    }
    if (rc < 0) {
        gnutls_privkey_deinit(pk);
        return MAILSSL_ERR_TLS;
    }
    *out = pk;
    return MAILSSL_OK;
}
