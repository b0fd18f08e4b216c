/*
 * certinfo.c - the details of one certificate that reports show (SPEC.md
 * section 5, "certificate"): subject, issuer, names, dates, fingerprints,
 * key and signature algorithm.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "internal.h"

/* More names than this are not shown (a certificate with thousands of
 * SANs is hostile or broken; the count still reaches the report). */
#define CERTINFO_MAX_NAMES 1024

void mailssl__certinfo_clear(struct mailssl_certinfo *ci)
{
    size_t i;

    if (!ci)
        return;
    free(ci->subject);
    free(ci->issuer);
    for (i = 0; i < ci->nnames; i++)
        free(ci->names[i]);
    free(ci->names);
    memset(ci, 0, sizeof(*ci));
}

/* Copies a GnuTLS datum into a NUL-terminated malloc'd string and frees
 * the datum. */
static char *datum_to_string(gnutls_datum_t *d)
{
    char *s = malloc((size_t)d->size + 1);

    if (s) {
        if (d->size)
            memcpy(s, d->data, d->size);
        s[d->size] = '\0';
    }
    gnutls_free(d->data);
    d->data = NULL;
    return s;
}

static int add_name(struct mailssl_certinfo *ci, const char *name)
{
    char **p;

    if (ci->nnames >= CERTINFO_MAX_NAMES)
        return 0;
    p = realloc(ci->names, (ci->nnames + 1) * sizeof(*p));
    if (!p)
        return MAILSSL_ERR_NOMEM;
    ci->names = p;
    ci->names[ci->nnames] = mailssl__strdup(name);
    if (!ci->names[ci->nnames])
        return MAILSSL_ERR_NOMEM;
    ci->nnames++;
    return 0;
}

/* subjectAltName dNSName and iPAddress entries, in certificate order. */
static int collect_names(struct mailssl_certinfo *ci, gnutls_x509_crt_t crt)
{
    unsigned i;

    for (i = 0;; i++) {
        unsigned char buf[512];
        char text[INET6_ADDRSTRLEN];
        size_t len = sizeof buf - 1;
        unsigned critical;
        int type, rc = 0;

        type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &len,
                                                    &critical);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
            continue; /* a name over 511 bytes is not a host name */
        if (type < 0)
            break;
        if (type == GNUTLS_SAN_DNSNAME) {
            if (memchr(buf, '\0', len))
                continue; /* embedded NUL: never a usable name */
            buf[len] = '\0';
            rc = add_name(ci, (const char *)buf);
        } else if (type == GNUTLS_SAN_IPADDRESS &&
                   (len == 4 || len == 16)) {
            if (inet_ntop(len == 4 ? AF_INET : AF_INET6, buf, text,
                          sizeof text))
                rc = add_name(ci, text);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static const char *key_type_name(int pk)
{
    switch (pk) {
    case GNUTLS_PK_RSA:
        return "RSA";
    case GNUTLS_PK_RSA_PSS:
        return "RSA-PSS";
    case GNUTLS_PK_DSA:
        return "DSA";
    case GNUTLS_PK_ECDSA:
        return "ECDSA";
    case GNUTLS_PK_EDDSA_ED25519:
        return "Ed25519";
    case GNUTLS_PK_EDDSA_ED448:
        return "Ed448";
    default:
        return "unknown";
    }
}

/* Standard base64 (RFC 4648) with padding; out must hold 4*ceil(n/3)+1. */
static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

int64_t mailssl__crt_not_after(gnutls_x509_crt_t crt)
{
    time_t t = gnutls_x509_crt_get_expiration_time(crt);

    /* GnuTLS reads 99991231235959Z, "no well-defined expiration date"
     * (RFC 5280 section 4.1.2.5), as (time_t)-1. */
    return t == (time_t)-1 ? MAILSSL__NO_EXPIRY : (int64_t)t;
}

int mailssl__certinfo_init(struct mailssl_certinfo *ci, gnutls_x509_crt_t crt)
{
    gnutls_datum_t d = {NULL, 0};
    unsigned char hash[64];
    size_t len, i;
    unsigned bits = 0;
    int rc, pk, sig;

    if (!ci || !crt)
        return MAILSSL_ERR_INVALID;
    memset(ci, 0, sizeof(*ci));

    if (gnutls_x509_crt_get_dn3(crt, &d, 0) >= 0)
        ci->subject = datum_to_string(&d);
    else
        ci->subject = mailssl__strdup("");
    if (gnutls_x509_crt_get_issuer_dn3(crt, &d, 0) >= 0)
        ci->issuer = datum_to_string(&d);
    else
        ci->issuer = mailssl__strdup("");
    if (!ci->subject || !ci->issuer) {
        rc = MAILSSL_ERR_NOMEM;
        goto fail;
    }
    if ((rc = collect_names(ci, crt)) < 0)
        goto fail;

    ci->not_before = (int64_t)gnutls_x509_crt_get_activation_time(crt);
    ci->not_after = mailssl__crt_not_after(crt);

    len = sizeof hash;
    if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, hash, &len) >=
            0 &&
        len == 32)
        for (i = 0; i < 32; i++)
            snprintf(ci->sha256 + 2 * i, 3, "%02x", hash[i]);

    /* GnuTLS key IDs are the hash of the DER SubjectPublicKeyInfo, which
     * is exactly the RFC 7469 pin ("pin-sha256"). */
    len = sizeof hash;
    if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, hash, &len) >=
            0 &&
        len == 32)
        base64(hash, 32, ci->spki_pin);

    pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
    snprintf(ci->key_type, sizeof ci->key_type, "%s",
             key_type_name(pk < 0 ? 0 : pk));
    ci->key_bits = pk < 0 ? 0 : (int)bits;

    sig = gnutls_x509_crt_get_signature_algorithm(crt);
    snprintf(ci->sig_alg, sizeof ci->sig_alg, "%s",
             sig > 0 && gnutls_sign_get_name(sig) ? gnutls_sign_get_name(sig)
                                                    : "unknown");
    return MAILSSL_OK;
fail:
    mailssl__certinfo_clear(ci);
    return rc;
}

void mailssl__rfc3339(int64_t t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, n, "1970-01-01T00:00:00Z");
}

int64_t mailssl__days_left(int64_t not_after, int64_t now)
{
    int64_t s;

    /* whole days, rounded down; no overflow whatever the two times are */
    if (__builtin_sub_overflow(not_after, now, &s))
        return not_after < now ? -(INT64_MAX / 86400) - 1 : INT64_MAX / 86400;
    return s >= 0 ? s / 86400 : -1 - (-(s + 1)) / 86400;
}

void mailssl__certinfo_json_append(struct mailssl_buf *b,
                                   const struct mailssl_certinfo *ci,
                                   int64_t now_epoch)
{
    char date[40];
    size_t i;

    mailssl__buf_puts(b, "{\"subject\":");
    mailssl__buf_json_string(b, ci->subject ? ci->subject : "");
    mailssl__buf_puts(b, ",\"issuer\":");
    mailssl__buf_json_string(b, ci->issuer ? ci->issuer : "");
    mailssl__buf_puts(b, ",\"names\":[");
    for (i = 0; i < ci->nnames; i++) {
        if (i)
            mailssl__buf_puts(b, ",");
        mailssl__buf_json_string(b, ci->names[i]);
    }
    mailssl__rfc3339(ci->not_before, date, sizeof date);
    mailssl__buf_puts(b, "],\"not_before\":");
    mailssl__buf_json_string(b, date);
    mailssl__rfc3339(ci->not_after, date, sizeof date);
    mailssl__buf_puts(b, ",\"not_after\":");
    mailssl__buf_json_string(b, date);
    mailssl__buf_printf(b, ",\"days_left\":%lld",
                        (long long)mailssl__days_left(ci->not_after, now_epoch));
    mailssl__buf_puts(b, ",\"sha256\":");
    mailssl__buf_json_string(b, ci->sha256);
    mailssl__buf_puts(b, ",\"spki_pin\":");
    mailssl__buf_json_string(b, ci->spki_pin);
    mailssl__buf_puts(b, ",\"key_type\":");
    mailssl__buf_json_string(b, ci->key_type);
    mailssl__buf_printf(b, ",\"key_bits\":%d", ci->key_bits);
    mailssl__buf_puts(b, ",\"signature_algorithm\":");
    mailssl__buf_json_string(b, ci->sig_alg);
    mailssl__buf_puts(b, "}");
}

/* The JSON object of ci, or NULL. */
static char *certinfo_json(gnutls_x509_crt_t crt, int64_t now_epoch)
{
    struct mailssl_certinfo ci;
    struct mailssl_buf b;

    if (now_epoch < 0 || mailssl__certinfo_init(&ci, crt) < 0)
        return NULL;
    mailssl__buf_init(&b);
    mailssl__certinfo_json_append(&b, &ci,
                                  now_epoch ? now_epoch : (int64_t)time(NULL));
    mailssl__certinfo_clear(&ci);
    return mailssl__buf_finish(&b);
}

MAILSSL_EXPORT char *mailssl_certificate_json(const unsigned char *der,
                                              size_t der_len,
                                              int64_t now_epoch)
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t d;
    char *out = NULL;

    if (!der || der_len == 0 || der_len > UINT32_MAX)
        return NULL;
    if (gnutls_x509_crt_init(&crt) < 0)
        return NULL;
    d.data = (unsigned char *)der;
    d.size = (unsigned)der_len;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) >= 0)
        out = certinfo_json(crt, now_epoch);
    gnutls_x509_crt_deinit(crt);
    return out;
}

MAILSSL_EXPORT char *
mailssl_credential_certificate_json(const mailssl_credential *cred,
                                    size_t index, int64_t now_epoch)
{
    if (!cred || !cred->loaded || !cred->certs || index >= cred->ncerts)
        return NULL;
    return certinfo_json(cred->certs[index], now_epoch);
}
