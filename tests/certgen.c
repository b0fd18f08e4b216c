/* certgen.c - see certgen.h. */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "certgen.h"
#include <gnutls/x509-ext.h>
#include <gnutls/pkcs12.h>

static unsigned next_serial = 1;

static int make_key(gnutls_x509_privkey_t *key, const struct certgen_opts *o)
{
    int rc = gnutls_x509_privkey_init(key);
    if (rc < 0)
        return rc;
    switch (o->key_type) {
    case CERTGEN_RSA:
        return gnutls_x509_privkey_generate(*key, GNUTLS_PK_RSA,
                                            o->rsa_bits ? o->rsa_bits : 2048,
                                            0);
    case CERTGEN_ED25519:
        return gnutls_x509_privkey_generate(*key, GNUTLS_PK_EDDSA_ED25519, 0,
                                            0);
    case CERTGEN_ECDSA_P384:
        return gnutls_x509_privkey_generate(
            *key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1),
            0);
    default:
        return gnutls_x509_privkey_generate(
            *key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
            0);
    }
}

int certgen_make(struct certgen_cert *out, const struct certgen_opts *o,
                 const struct certgen_cert *issuer)
{
    static const struct certgen_opts defaults;
    gnutls_x509_crt_t crt = NULL;
    time_t now = time(NULL);
    unsigned char serial[4];
    unsigned s;
    size_t i;
    int rc;

    if (!o)
        o = &defaults;
    memset(out, 0, sizeof(*out));
    if ((rc = make_key(&out->key, o)) < 0)
        goto fail;
    if ((rc = gnutls_x509_crt_init(&crt)) < 0)
        goto fail;
    gnutls_x509_crt_set_version(crt, 3);
    s = o->serial ? o->serial : __atomic_fetch_add(&next_serial, 1, __ATOMIC_RELAXED);
    serial[0] = (unsigned char)(0x10 | ((s >> 24) & 0x0f));
    serial[1] = (unsigned char)(s >> 16);
    serial[2] = (unsigned char)(s >> 8);
    serial[3] = (unsigned char)s;
    if ((rc = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) < 0)
        goto fail;
    if ((rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                            o->cn ? o->cn : "test",
                                            (unsigned)strlen(o->cn ? o->cn : "test"))) < 0)
        goto fail;
    gnutls_x509_crt_set_activation_time(
        crt, (time_t)(o->not_before ? o->not_before : (int64_t)now - 86400));
    gnutls_x509_crt_set_expiration_time(
        crt, (time_t)(o->not_after ? o->not_after : (int64_t)now + 365 * 86400));
    if ((rc = gnutls_x509_crt_set_key(crt, out->key)) < 0)
        goto fail;
    for (i = 0; o->dns && o->dns[i]; i++)
        if ((rc = gnutls_x509_crt_set_subject_alt_name(
                 crt, GNUTLS_SAN_DNSNAME, o->dns[i], (unsigned)strlen(o->dns[i]),
                 GNUTLS_FSAN_APPEND)) < 0)
            goto fail;
    for (i = 0; o->ips && o->ips[i]; i++) {
        unsigned char a[16];
        unsigned len = 0;
        if (inet_pton(AF_INET, o->ips[i], a) == 1)
            len = 4;
        else if (inet_pton(AF_INET6, o->ips[i], a) == 1)
            len = 16;
        if (!len) {
            rc = GNUTLS_E_INVALID_REQUEST;
            goto fail;
        }
        if ((rc = gnutls_x509_crt_set_subject_alt_name(
                 crt, GNUTLS_SAN_IPADDRESS, a, len, GNUTLS_FSAN_APPEND)) < 0)
            goto fail;
    }
    if (o->is_ca) {
        gnutls_x509_crt_set_basic_constraints(crt, 1, -1);
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN |
                                               GNUTLS_KEY_CRL_SIGN |
                                               GNUTLS_KEY_DIGITAL_SIGNATURE);
    } else {
        gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                               (o->key_type == CERTGEN_RSA
                                                    ? GNUTLS_KEY_KEY_ENCIPHERMENT
                                                    : 0));
        if (o->eku == CERTGEN_EKU_SERVER)
            gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
        else if (o->eku == CERTGEN_EKU_CLIENT)
            gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
    }
    if (o->must_staple) {
        gnutls_x509_tlsfeatures_t f;
        if ((rc = gnutls_x509_tlsfeatures_init(&f)) < 0)
            goto fail;
        gnutls_x509_tlsfeatures_add(f, 5); /* status_request */
        rc = gnutls_x509_crt_set_tlsfeatures(crt, f);
        gnutls_x509_tlsfeatures_deinit(f);
        if (rc < 0)
            goto fail;
    }
    if (o->extra_bytes > 0) {
        /* DER OCTET STRING: tag, length in 4 bytes, zero filler */
        size_t n = o->extra_bytes;
        unsigned char *v = calloc(1, n + 6);
        if (!v) {
            rc = GNUTLS_E_MEMORY_ERROR;
            goto fail;
        }
        v[0] = 0x04;
        v[1] = 0x84;
        v[2] = (unsigned char)(n >> 24);
        v[3] = (unsigned char)(n >> 16);
        v[4] = (unsigned char)(n >> 8);
        v[5] = (unsigned char)n;
        rc = gnutls_x509_crt_set_extension_by_oid(
            crt, "1.3.6.1.4.1.32473.1.1", v, n + 6, 0);
        free(v);
        if (rc < 0)
            goto fail;
    }
    {
        unsigned char id[64];
        size_t idlen = sizeof id;
        if (gnutls_x509_crt_get_key_id(crt, 0, id, &idlen) >= 0)
            gnutls_x509_crt_set_subject_key_id(crt, id, idlen);
        if (issuer) {
            idlen = sizeof id;
            if (gnutls_x509_crt_get_key_id(issuer->crt, 0, id, &idlen) >= 0)
                gnutls_x509_crt_set_authority_key_id(crt, id, idlen);
        }
    }
    {
        gnutls_x509_privkey_t signer = issuer ? issuer->key : out->key;
        gnutls_digest_algorithm_t dig =
            o->sha1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256;
        /* Ed25519 signs the message itself: GnuTLS wants SHA-512 here */
        if (gnutls_x509_privkey_get_pk_algorithm(signer) ==
            GNUTLS_PK_EDDSA_ED25519)
            dig = GNUTLS_DIG_SHA512;
        rc = gnutls_x509_crt_sign2(crt, issuer ? issuer->crt : crt, signer,
                                   dig, 0);
    }
    if (rc < 0)
        goto fail;
    out->crt = crt;
    return 0;
fail:
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (out->key)
        gnutls_x509_privkey_deinit(out->key);
    out->key = NULL;
    return rc < 0 ? rc : GNUTLS_E_INTERNAL_ERROR;
}

void certgen_free(struct certgen_cert *c)
{
    if (!c)
        return;
    if (c->crt)
        gnutls_x509_crt_deinit(c->crt);
    if (c->key)
        gnutls_x509_privkey_deinit(c->key);
    c->crt = NULL;
    c->key = NULL;
}

char *certgen_cert_pem(const struct certgen_cert *c)
{
    gnutls_datum_t d;
    char *s;

    if (gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_PEM, &d) < 0)
        return NULL;
    s = malloc(d.size + 1);
    if (s) {
        memcpy(s, d.data, d.size);
        s[d.size] = '\0';
    }
    gnutls_free(d.data);
    return s;
}

char *certgen_key_pem(const struct certgen_cert *c)
{
    gnutls_datum_t d;
    char *s;

    if (gnutls_x509_privkey_export2(c->key, GNUTLS_X509_FMT_PEM, &d) < 0)
        return NULL;
    s = malloc(d.size + 1);
    if (s) {
        memcpy(s, d.data, d.size);
        s[d.size] = '\0';
    }
    gnutls_free(d.data);
    return s;
}

int certgen_write_pem(const char *path, const struct certgen_cert *const *chain,
                      size_t n, const struct certgen_cert *key)
{
    FILE *f = fopen(path, "w");
    size_t i;
    int ok = f != NULL;

    for (i = 0; ok && i < n; i++) {
        char *s = certgen_cert_pem(chain[i]);
        ok = s && fputs(s, f) >= 0;
        free(s);
    }
    if (ok && key) {
        char *s = certgen_key_pem(key);
        ok = s && fputs(s, f) >= 0;
        free(s);
    }
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

int certgen_write_key(const char *path, const struct certgen_cert *c)
{
    int rc = certgen_write_pem(path, NULL, 0, c);
    if (rc == 0)
        chmod(path, 0600);
    return rc;
}

char *certgen_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *p;

    if (!base || !*base)
        base = "/tmp";
    if (asprintf(&p, "%s/mailssl-test-XXXXXX", base) < 0)
        return NULL;
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void certgen_rmdir(const char *dir)
{
    if (dir)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_datum(const char *path, const gnutls_datum_t *d)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(d->data, 1, d->size, f) == d->size;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok)
        chmod(path, 0600);
    return ok ? 0 : -1;
}

int certgen_write_key_encrypted(const char *path, const struct certgen_cert *c,
                                const char *password)
{
    gnutls_datum_t d;
    int rc;

    if (gnutls_x509_privkey_export2_pkcs8(c->key, GNUTLS_X509_FMT_PEM,
                                          password, GNUTLS_PKCS_PBES2_AES_256,
                                          &d) < 0)
        return -1;
    rc = write_datum(path, &d);
    gnutls_free(d.data);
    return rc;
}

int certgen_write_p12(const char *path, const struct certgen_cert *const *chain,
                      size_t n, const struct certgen_cert *key,
                      const char *password)
{
    gnutls_pkcs12_t p12 = NULL;
    gnutls_pkcs12_bag_t certs = NULL, keys = NULL;
    gnutls_datum_t d = {NULL, 0};
    size_t i;
    int rc = -1;

    if (!password)
        password = "";
    if (gnutls_pkcs12_init(&p12) < 0 || gnutls_pkcs12_bag_init(&certs) < 0 ||
        gnutls_pkcs12_bag_init(&keys) < 0)
        goto done;
    for (i = 0; i < n; i++)
        if (gnutls_pkcs12_bag_set_crt(certs, chain[i]->crt) < 0)
            goto done;
    if (gnutls_pkcs12_bag_encrypt(certs, password, GNUTLS_PKCS_PBES2_AES_256) <
        0)
        goto done;
    if (key && gnutls_pkcs12_bag_set_privkey(keys, key->key, password,
                                             GNUTLS_PKCS_PBES2_AES_256) < 0)
        goto done;
    if (gnutls_pkcs12_set_bag(p12, certs) < 0 ||
        (key && gnutls_pkcs12_set_bag(p12, keys) < 0) ||
        gnutls_pkcs12_generate_mac(p12, password) < 0 ||
        gnutls_pkcs12_export2(p12, GNUTLS_X509_FMT_DER, &d) < 0)
        goto done;
    rc = write_datum(path, &d);
done:
    gnutls_free(d.data);
    if (certs)
        gnutls_pkcs12_bag_deinit(certs);
    if (keys)
        gnutls_pkcs12_bag_deinit(keys);
    if (p12)
        gnutls_pkcs12_deinit(p12);
    return rc;
}
