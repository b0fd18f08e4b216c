/*
 * credential.c - certificate chains and private keys loaded for serving.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    FILE *f;
    struct stat st;
    unsigned char *buf;
    size_t n;

    f = fopen(path, "rb");
    if (!f) {
        mailssl__set_error(c->err, sizeof c->err, "%s: cannot read: %s",
                           path, strerror(errno));
        return MAILSSL_ERR_IO;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        mailssl__set_error(c->err, sizeof c->err, "%s: not a regular file",
                           path);
        fclose(f);
        return MAILSSL_ERR_IO;
    }
    if ((unsigned long long)st.st_size > CRED_MAX_FILE) {
        mailssl__set_error(c->err, sizeof c->err,
                           "%s: %lld bytes is too large for a certificate "
                           "or key file",
                           path, (long long)st.st_size);
        fclose(f);
        return MAILSSL_ERR_TOO_LONG;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return MAILSSL_ERR_NOMEM;
    }
    n = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        mailssl__set_error(c->err, sizeof c->err, "%s: read error", path);
        free(buf);
        fclose(f);
        return MAILSSL_ERR_IO;
    }
    fclose(f);
    buf[n] = '\0';
    out->data = buf;
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

    if (gnutls_x509_crt_get_key_id(c->certs[0], GNUTLS_KEYID_USE_SHA256, a,
                                   &alen) < 0)
        return 0;
    if (gnutls_x509_privkey_get_key_id(c->key, GNUTLS_KEYID_USE_SHA256, b,
                                       &blen) < 0)
        return 0;
    return alen == blen && memcmp(a, b, alen) == 0;
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
    if (c->loaded || c->ncerts) {
        mailssl__set_error(c->err, sizeof c->err,
                           "this credential is already loaded");
        return MAILSSL_ERR_STATE;
    }
    rc = read_file(c, cert_file, &cert);
    if (rc == 0 && key_file)
        rc = read_file(c, key_file, &key);
    if (rc == 0)
        rc = mailssl__credential_load_pem(c, &cert, cert_file,
                                          key_file ? &key : NULL, key_file,
                                          password);
    if (rc < 0 && !c->loaded)
        credential_clear(c);
    free(cert.data);
    if (key.data) {
        memset(key.data, 0, key.size);
        free(key.data);
    }
    return rc;
}
