/* certgen.c - see certgen.h. */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "certgen.h"
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
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
    case CERTGEN_DSA:
        return gnutls_x509_privkey_generate(*key, GNUTLS_PK_DSA, 1024, 0);
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
        /* a CA restricted to client authentication (EKU chaining) */
        if (o->eku == CERTGEN_EKU_CLIENT)
            gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
    } else {
        gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
        gnutls_x509_crt_set_key_usage(
            crt, o->key_usage ? o->key_usage
                              : GNUTLS_KEY_DIGITAL_SIGNATURE |
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

/* Moves an exported datum into a malloc'd NUL-terminated string. */
static char *datum_to_string(int rc, gnutls_datum_t *d)
{
    char *s;

    if (rc < 0)
        return NULL;
    s = malloc(d->size + 1);
    if (s) {
        memcpy(s, d->data, d->size);
        s[d->size] = '\0';
    }
    gnutls_free(d->data);
    return s;
}

char *certgen_cert_pem(const struct certgen_cert *c)
{
    gnutls_datum_t d;
    int rc = gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_PEM, &d);

    return datum_to_string(rc, &d);
}

char *certgen_key_pem(const struct certgen_cert *c)
{
    gnutls_datum_t d;
    int rc = gnutls_x509_privkey_export2(c->key, GNUTLS_X509_FMT_PEM, &d);

    return datum_to_string(rc, &d);
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

/* ---- OCSP responses: a minimal DER writer --------------------------- */

struct der {
    unsigned char *p;
    size_t len;
    int bad;
};

static void der_raw(struct der *d, const void *data, size_t n)
{
    unsigned char *q;

    if (d->bad)
        return;
    q = realloc(d->p, d->len + n + 1);
    if (!q) {
        d->bad = 1;
        return;
    }
    d->p = q;
    if (n)
        memcpy(d->p + d->len, data, n);
    d->len += n;
}

/* Appends tag, length and content. */
static void der_tlv(struct der *d, unsigned char tag, const void *data,
                    size_t n)
{
    unsigned char h[6];
    size_t hl = 0;

    h[hl++] = tag;
    if (n < 0x80) {
        h[hl++] = (unsigned char)n;
    } else if (n < 0x100) {
        h[hl++] = 0x81;
        h[hl++] = (unsigned char)n;
    } else if (n < 0x10000) {
        h[hl++] = 0x82;
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        d->bad = 1;
        return;
    }
    der_raw(d, h, hl);
    der_raw(d, data, n);
}

/* Wraps the whole of inner in tag, appending to d; frees inner. */
static void der_wrap(struct der *d, unsigned char tag, struct der *inner)
{
    if (inner->bad)
        d->bad = 1;
    der_tlv(d, tag, inner->p, inner->len);
    free(inner->p);
    memset(inner, 0, sizeof(*inner));
}

static void der_time(struct der *d, int64_t t)
{
    char s[32];
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(s, sizeof s, "%Y%m%d%H%M%SZ", &tm);
    der_tlv(d, 0x18, s, strlen(s));
}

/* Length of the TLV header at p (0 when malformed). */
static size_t tlv_header(const unsigned char *p, size_t n, size_t *content)
{
    if (n < 2)
        return 0;
    if (p[1] < 0x80) {
        *content = p[1];
        return 2;
    }
    if (p[1] == 0x81 && n >= 3) {
        *content = p[2];
        return 3;
    }
    if (p[1] == 0x82 && n >= 4) {
        *content = (size_t)p[2] << 8 | p[3];
        return 4;
    }
    return 0;
}

/* SHA-1 of the subjectPublicKey BIT STRING value of c (RFC 6960 KeyHash). */
static int key_hash(const struct certgen_cert *c, unsigned char out[20])
{
    gnutls_pubkey_t pk;
    gnutls_datum_t spki = {NULL, 0};
    size_t h, clen, alg_h, alg_len, bs_h, bs_len;
    const unsigned char *p;
    int rc = -1;

    if (gnutls_pubkey_init(&pk) < 0)
        return -1;
    if (gnutls_pubkey_import_x509(pk, c->crt, 0) < 0 ||
        gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &spki) < 0)
        goto out;
    /* SEQUENCE { AlgorithmIdentifier, BIT STRING } */
    if (!(h = tlv_header(spki.data, spki.size, &clen)))
        goto out;
    p = spki.data + h;
    if (!(alg_h = tlv_header(p, clen, &alg_len)))
        goto out;
    p += alg_h + alg_len;
    if (!(bs_h = tlv_header(p, spki.size - (size_t)(p - spki.data), &bs_len)) ||
        bs_len < 1)
        goto out;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, p + bs_h + 1, bs_len - 1, out) < 0)
        goto out;
    rc = 0;
out:
    gnutls_free(spki.data);
    gnutls_pubkey_deinit(pk);
    return rc;
}

int certgen_ocsp_response(unsigned char **out, size_t *out_len,
                          const struct certgen_cert *cert,
                          const struct certgen_cert *issuer,
                          const struct certgen_ocsp_opts *o)
{
    static const unsigned char sha1_alg[] = {0x30, 0x09, 0x06, 0x05, 0x2b,
                                             0x0e, 0x03, 0x02, 0x1a, 0x05,
                                             0x00};
    static const unsigned char ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08,
                                                 0x2a, 0x86, 0x48, 0xce,
                                                 0x3d, 0x04, 0x03, 0x02};
    static const unsigned char basic_oid[] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                              0x07, 0x30, 0x01, 0x01};
    const struct certgen_cert *signer = o->signer ? o->signer : issuer;
    struct der certid = {0}, single = {0}, singles = {0}, tbs = {0};
    struct der tmp = {0}, basic = {0}, rb = {0}, resp = {0}, top = {0};
    unsigned char name_hash[20], ikey_hash[20], skey_hash[20], serial[64];
    size_t serial_len = sizeof serial;
    gnutls_datum_t dn = {NULL, 0}, sig = {NULL, 0}, tbs_d;
    gnutls_privkey_t pk = NULL;
    int rc = -1;

    if (gnutls_x509_crt_get_raw_dn(issuer->crt, &dn) < 0 ||
        gnutls_hash_fast(GNUTLS_DIG_SHA1, dn.data, dn.size, name_hash) < 0 ||
        key_hash(issuer, ikey_hash) < 0 || key_hash(signer, skey_hash) < 0 ||
        gnutls_x509_crt_get_serial(cert->crt, serial, &serial_len) < 0)
        goto out;
    /* CertID */
    der_raw(&certid, sha1_alg, sizeof sha1_alg);
    der_tlv(&certid, 0x04, name_hash, 20);
    der_tlv(&certid, 0x04, ikey_hash, 20);
    der_tlv(&certid, 0x02, serial, serial_len);
    der_wrap(&single, 0x30, &certid);
    /* certStatus */
    if (o->status == CERTGEN_OCSP_REVOKED) {
        der_time(&tmp, o->revoked_at);
        der_wrap(&single, 0xa1, &tmp);
    } else {
        der_tlv(&single, o->status == CERTGEN_OCSP_UNKNOWN ? 0x82 : 0x80,
                NULL, 0);
    }
    der_time(&single, o->this_update);
    if (o->next_update) {
        der_time(&tmp, o->next_update);
        der_wrap(&single, 0xa0, &tmp);
    }
    der_wrap(&singles, 0x30, &single);
    /* ResponseData: responderID byKey, producedAt, responses */
    der_tlv(&tmp, 0x04, skey_hash, 20);
    der_wrap(&tbs, 0xa2, &tmp);
    der_time(&tbs, o->this_update);
    der_wrap(&tbs, 0x30, &singles);
    der_wrap(&tmp, 0x30, &tbs); /* tmp = the whole ResponseData */
    if (tmp.bad)
        goto out;
    /* signature (the signer's key must be ECDSA P-256 here) */
    if (gnutls_privkey_init(&pk) < 0 ||
        gnutls_privkey_import_x509(pk, signer->key, 0) < 0)
        goto out;
    tbs_d.data = tmp.p;
    tbs_d.size = (unsigned)tmp.len;
    if (gnutls_privkey_sign_data(pk, GNUTLS_DIG_SHA256, 0, &tbs_d, &sig) < 0)
        goto out;
    der_raw(&basic, tmp.p, tmp.len);
    der_raw(&basic, ecdsa_sha256, sizeof ecdsa_sha256);
    {
        struct der bits = {0};
        unsigned char zero = 0;
        der_raw(&bits, &zero, 1);
        der_raw(&bits, sig.data, sig.size);
        der_wrap(&basic, 0x03, &bits);
    }
    /* OCSPResponse */
    der_tlv(&rb, 0x06, basic_oid, sizeof basic_oid);
    {
        struct der b2 = {0};
        der_wrap(&b2, 0x30, &basic);
        der_wrap(&rb, 0x04, &b2);
    }
    der_tlv(&resp, 0x0a, "\0", 1); /* successful */
    {
        struct der seq = {0};
        der_wrap(&seq, 0x30, &rb);
        der_wrap(&resp, 0xa0, &seq);
    }
    der_wrap(&top, 0x30, &resp);
    if (top.bad)
        goto out;
    *out = top.p;
    *out_len = top.len;
    top.p = NULL;
    rc = 0;
out:
    free(certid.p);
    free(single.p);
    free(singles.p);
    free(tbs.p);
    free(tmp.p);
    free(basic.p);
    free(rb.p);
    free(resp.p);
    free(top.p);
    gnutls_free(dn.data);
    gnutls_free(sig.data);
    if (pk)
        gnutls_privkey_deinit(pk);
    return rc;
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
    /* plain bags, protected by the MAC only: encrypted bags cost key
     * derivations that take seconds under valgrind */
    if (key && gnutls_pkcs12_bag_set_privkey(keys, key->key, NULL,
                                             GNUTLS_PKCS_PLAIN) < 0)
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

int certgen_full_speed(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return !(pre && strstr(pre, "vgpreload"));
}

const char *certgen_path(const char *dir, const char *name)
{
    static char buf[8][512];
    static int k;

    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

int certgen_ca_and_leaf(struct certgen_cert *ca, const struct certgen_opts *ca_opts,
                        struct certgen_cert *leaf,
                        const struct certgen_opts *leaf_opts, const char *cafile)
{
    const struct certgen_cert *cas[1];

    if (certgen_make(ca, ca_opts, NULL) != 0)
        return -1;
    cas[0] = ca;
    if (certgen_make(leaf, leaf_opts, ca) != 0) {
        certgen_free(ca);
        return -1;
    }
    if (certgen_write_pem(cafile, cas, 1, NULL) != 0) {
        certgen_free(leaf);
        certgen_free(ca);
        return -1;
    }
    return 0;
}

int certgen_two_leaves(struct certgen_cert *leaf, struct certgen_cert *other,
                       const char *name)
{
    const char *names[2];
    struct certgen_opts o = {0};

    names[0] = name;
    names[1] = NULL;
    o.dns = names;
    if (certgen_make(leaf, &o, NULL) != 0)
        return -1;
    if (certgen_make(other, &o, NULL) != 0) {
        certgen_free(leaf);
        return -1;
    }
    return 0;
}
