/*
 * validate.c - certificate validation shared by the binding store (audit
 * of its credentials) and the probe (the chain a server presented): the
 * checks of one run over a chain. The validator object and its settings
 * are lib/validate/validator.c's.
 *
 * One pass over a chain adds findings with the stable codes of SPEC.md
 * section 4 to a report. PKIX path validation is GnuTLS's
 * (gnutls_x509_trust_list_verify_crt2); dates are checked here against an
 * explicit validation time, since GnuTLS only knows "now"; names follow
 * RFC 9525; TLSA records follow RFC 7672 (lib/validate/dane.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <arpa/inet.h>

#include <gnutls/ocsp.h>

#include "validator.h"

/* Longer chains are refused: real ones have 2-4 certificates. */
#define MAX_CHAIN 32
/* Certificates over this size are refused before parsing. */
#define MAX_CERT_DER (64u * 1024u)
/* Seconds of clock skew tolerated on an OCSP thisUpdate in the future. */
#define OCSP_SKEW 300
/* An OCSP response without nextUpdate is stale after this many seconds. */
#define OCSP_MAX_AGE (7 * 86400)

/* GnuTLS verification flags: dates are checked here against the explicit
 * validation time, and weak algorithms are reported as findings of their
 * own rather than hidden in "untrusted". The benchmark uses the same. */
const unsigned mailssl__verify_flags =
    GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
    GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS | GNUTLS_VERIFY_ALLOW_BROKEN |
    GNUTLS_VERIFY_ALLOW_SIGN_WITH_SHA1 |
    GNUTLS_PROFILE_TO_VFLAGS(GNUTLS_PROFILE_VERY_WEAK);

/* ---- one validation run ------------------------------------------------ */

struct run {
    const mailssl_validator *v;
    mailssl_report *r;
    int worst;
    int err;
    int64_t now;
    gnutls_x509_crt_t *certs; /* as presented; NULL where unparsable */
    size_t n;
    char *subject[MAX_CHAIN]; /* display names, made on demand */
    /* Raw subject and issuer DNs of the presented certificates: path
     * building compares them directly (gnutls_x509_crt_check_issuer
     * decodes extensions on every call, which costs more than the rest of
     * the checks together). */
    gnutls_datum_t sdn[MAX_CHAIN], idn[MAX_CHAIN];
    gnutls_x509_crt_t path[MAX_CHAIN]; /* leaf to top, as it chains */
    size_t path_idx[MAX_CHAIN];        /* presented index of path[i] */
    size_t npath;
    gnutls_x509_trust_list_t trust;
    int trust_rc; /* why trust is NULL */
    int dane_ee; /* a DANE-EE(3) record matched: no PKIX, names, dates */
    int dane_ta; /* a DANE-TA(2) record matched: no PKIX trust store */
    size_t dane_matched; /* TLSA records that matched (probe's JSON) */
};

/* The subject of presented certificate i for messages (RFC 4514, or
 * "certificate #i" when it has none). Never NULL. */
static const char *subj(struct run *c, size_t i)
{
    gnutls_datum_t d = {NULL, 0};

    if (c->subject[i])
        return c->subject[i];
    if (c->certs[i] && gnutls_x509_crt_get_dn3(c->certs[i], &d, 0) >= 0 &&
        d.size > 0) {
        c->subject[i] = malloc((size_t)d.size + 1);
        if (c->subject[i]) {
            memcpy(c->subject[i], d.data, d.size);
            c->subject[i][d.size] = '\0';
        }
    }
    gnutls_free(d.data);
    if (!c->subject[i]) {
        char tmp[48];
        snprintf(tmp, sizeof tmp, "certificate #%zu", i);
        c->subject[i] = mailssl__strdup(tmp);
    }
    return c->subject[i] ? c->subject[i] : "certificate";
}

static void add(struct run *c, int code, int severity, int cert_index,
                const char *fmt, ...) MAILSSL_PRINTF(5, 6);

static void add(struct run *c, int code, int severity, int cert_index,
                const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rc = mailssl_report_add(c->r, code, severity, cert_index, NULL, NULL, msg);
    if (rc < 0) {
        if (!c->err)
            c->err = rc;
        return;
    }
    c->worst = mailssl__worse(c->worst, severity);
}

static void load_dns(struct run *c)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        if (!c->certs[i])
            continue;
        if (gnutls_x509_crt_get_raw_dn(c->certs[i], &c->sdn[i]) < 0)
            c->sdn[i].data = NULL, c->sdn[i].size = 0;
        if (gnutls_x509_crt_get_raw_issuer_dn(c->certs[i], &c->idn[i]) < 0)
            c->idn[i].data = NULL, c->idn[i].size = 0;
    }
}

/* Presented certificate child names presented certificate parent as its
 * issuer (RFC 5280 name chaining; signatures are GnuTLS's to check). */
static int issued_by(const struct run *c, size_t child, size_t parent)
{
    return c->idn[child].size > 0 &&
           c->idn[child].size == c->sdn[parent].size &&
           memcmp(c->idn[child].data, c->sdn[parent].data,
                  c->idn[child].size) == 0;
}

/* Self-issued: subject and issuer names equal (a root, or a self-signed
 * leaf). */
static int self_issued(const struct run *c, size_t i)
{
    return issued_by(c, i, i);
}

/* Trust list of the validator; the system store is taken on first use. */
static gnutls_x509_trust_list_t get_trust(const mailssl_validator *cv,
                                          int *rc_out)
{
    mailssl_validator *v = (mailssl_validator *)cv; /* lock-protected */
    gnutls_x509_trust_list_t tl;
    int rc;

    pthread_mutex_lock(&v->lock);
    if (v->trust_loaded == 0) {
        tl = mailssl__system_trust_acquire(&rc);
        if (!tl) {
            v->trust_loaded = rc < 0 ? rc : GNUTLS_E_INTERNAL_ERROR;
        } else {
            v->trust = tl;
            v->trust_loaded = 1;
            v->shares_system = 1;
        }
    }
    *rc_out = v->trust_loaded;
    tl = v->trust_loaded == 1 ? v->trust : NULL;
    pthread_mutex_unlock(&v->lock);
    return tl;
}

/* Follows issuers from the leaf through the presented certificates:
 * path[] is the chain as it should have been sent. Reports certificates
 * that are out of order or not part of the chain. */
static void build_path(struct run *c)
{
    unsigned char used[MAX_CHAIN] = {0};
    int misordered = 0;
    size_t i, k;

    c->path[0] = c->certs[0];
    c->path_idx[0] = 0;
    c->npath = 1;
    used[0] = 1;
    while (c->npath < c->n) {
        size_t top = c->path_idx[c->npath - 1];
        size_t want = top + 1, found = c->n;

        if (self_issued(c, top))
            break;
        if (want < c->n && !used[want] && issued_by(c, top, want))
            found = want;
        for (k = 1; found == c->n && k < c->n; k++)
            if (!used[k] && issued_by(c, top, k))
                found = k;
        if (found == c->n)
            break;
        if (found != want)
            misordered = 1;
        used[found] = 1;
        c->path[c->npath] = c->certs[found];
        c->path_idx[c->npath++] = found;
    }
    if (misordered) {
        struct mailssl_buf b;
        char *order;
        mailssl__buf_init(&b);
        for (i = 0; i < c->npath; i++)
            mailssl__buf_printf(&b, "%s#%zu", i ? ", " : "", c->path_idx[i]);
        order = mailssl__buf_finish(&b);
        add(c, MAILSSL_CODE_CERT_CHAIN_ORDER, MAILSSL_SEVERITY_WARNING,
            MAILSSL_NO_CERT,
            "the certificates are not in chain order (leaf first, then each "
            "issuer): some clients reject such chains; put them in the "
            "order %s of the certificates as sent",
            order ? order : "leaf, intermediates");
        free(order);
    }
    for (k = 1; k < c->n; k++)
        if (!used[k] && c->certs[k])
            add(c, MAILSSL_CODE_CERT_CHAIN_ORDER, MAILSSL_SEVERITY_WARNING,
                (int)k,
                "'%s' (certificate #%zu) is not part of the chain from the "
                "leaf '%s': remove it from the certificate file",
                subj(c, k), k, subj(c, 0));
}

/* Chain completeness and PKIX trust. */
static void check_trust(struct run *c)
{
    size_t top = c->npath - 1;
    gnutls_x509_crt_t issuer = NULL;
    unsigned status = 0;
    int rc, missing = 0;
    char why[160];

    if (c->dane_ee || c->dane_ta)
        return; /* RFC 7672 section 2.2: TLSA records replace the CAs */
    if (!c->trust) {
        add(c, MAILSSL_CODE_CERT_UNTRUSTED, MAILSSL_SEVERITY_UNKNOWN, 0,
            "trust could not be checked: the %s cannot be loaded (%s); fix "
            "the CA configuration",
            c->v->cafile ? "CA file" : "system trust store",
            gnutls_strerror(c->trust_rc));
        return;
    }
    if (!self_issued(c, c->path_idx[top]) &&
        gnutls_x509_trust_list_get_issuer(c->trust, c->path[top], &issuer,
                                          0) < 0) {
        gnutls_datum_t dn = {NULL, 0};
        missing = 1;
        gnutls_x509_crt_get_issuer_dn3(c->path[top], &dn, 0);
        add(c, MAILSSL_CODE_CERT_CHAIN_INCOMPLETE, MAILSSL_SEVERITY_WARNING,
            (int)c->path_idx[top],
            "the chain ends at '%s', whose issuer '%s' is neither sent nor a "
            "trusted root: append the missing intermediate certificate(s) "
            "to the certificate file, after the leaf (if '%s' is a private "
            "root, clients must trust it instead)",
            subj(c, c->path_idx[top]), dn.data ? (char *)dn.data : "?",
            dn.data ? (char *)dn.data : "?");
        gnutls_free(dn.data);
    }
    rc = gnutls_x509_trust_list_verify_crt2(c->trust, c->path,
                                            (unsigned)c->npath, NULL, 0,
                                            mailssl__verify_flags, &status,
                                            NULL);
    if (rc < 0) {
        add(c, MAILSSL_CODE_CERT_UNTRUSTED, MAILSSL_SEVERITY_UNKNOWN, 0,
            "the chain of '%s' could not be verified: %s", subj(c, 0),
            gnutls_strerror(rc));
        return;
    }
    if (!(status & GNUTLS_CERT_INVALID))
        return;
    if (status & GNUTLS_CERT_REVOKED) {
        add(c, MAILSSL_CODE_CERT_REVOKED, MAILSSL_SEVERITY_CRITICAL, 0,
            "'%s' or a certificate of its chain is revoked: install a new "
            "certificate",
            subj(c, 0));
        return;
    }
    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) {
        if (missing)
            snprintf(why, sizeof why,
                     "an intermediate certificate is missing (see "
                     "cert-chain-incomplete)");
        else if (c->npath == 1)
            snprintf(why, sizeof why,
                     "it is self-signed and not in the %s",
                     c->v->cafile ? "CA file" : "system trust store");
        else
            snprintf(why, sizeof why, "its root is not in the %s",
                     c->v->cafile ? "CA file" : "system trust store");
    } else if (status & GNUTLS_CERT_SIGNER_NOT_CA) {
        snprintf(why, sizeof why, "an issuer in the chain is not a CA");
    } else if (status & GNUTLS_CERT_SIGNATURE_FAILURE) {
        snprintf(why, sizeof why, "a signature in the chain does not verify");
    } else if (status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE) {
        snprintf(why, sizeof why,
                 "an issuer's constraints (path length, name constraints) "
                 "are violated");
    } else if (status & GNUTLS_CERT_INSECURE_ALGORITHM) {
        snprintf(why, sizeof why, "the chain uses an insecure algorithm");
    } else {
        snprintf(why, sizeof why, "GnuTLS status 0x%x", status);
    }
    add(c, MAILSSL_CODE_CERT_UNTRUSTED, MAILSSL_SEVERITY_CRITICAL,
        (int)c->path_idx[(status & GNUTLS_CERT_SIGNER_NOT_FOUND) ? top : 0],
        "'%s' is not trusted: %s; install a certificate issued by a CA that "
        "the clients trust, with its full chain",
        subj(c, 0), why);
}

static void check_dates(struct run *c)
{
    const mailssl_validator *v = c->v;
    size_t i;

    if (c->dane_ee)
        return; /* RFC 7672 section 3.1.1: DANE-EE ignores dates */
    for (i = 0; i < c->npath; i++) {
        size_t idx = c->path_idx[i];
        int64_t nb = (int64_t)gnutls_x509_crt_get_activation_time(c->path[i]);
        int64_t na = mailssl__crt_not_after(c->path[i]);
        int64_t left = na - c->now;
        int64_t days = mailssl__days_left(na, c->now);
        char date[40];

        if (na < c->now) {
            mailssl__rfc3339(na, date, sizeof date);
            add(c, MAILSSL_CODE_CERT_EXPIRED, MAILSSL_SEVERITY_CRITICAL,
                (int)idx,
                "'%s' expired on %s (%lld days ago): renew it and install "
                "the new certificate",
                subj(c, idx), date, (long long)-days);
        } else if (nb > c->now) {
            mailssl__rfc3339(nb, date, sizeof date);
            add(c, MAILSSL_CODE_CERT_NOT_YET_VALID,
                MAILSSL_SEVERITY_CRITICAL, (int)idx,
                "'%s' is not valid before %s (in %lld days): check the "
                "server's clock, or install the certificate currently in "
                "force",
                subj(c, idx), date,
                (long long)((nb - c->now + 86399) / 86400));
        } else if (left < (int64_t)v->warn_days * 86400) {
            int crit = left < (int64_t)v->crit_days * 86400;
            mailssl__rfc3339(na, date, sizeof date);
            add(c, MAILSSL_CODE_CERT_EXPIRING,
                crit ? MAILSSL_SEVERITY_CRITICAL : MAILSSL_SEVERITY_WARNING,
                (int)idx,
                "'%s' expires on %s, in %lld days (%s below %d days): renew "
                "it%s",
                subj(c, idx), date, (long long)days,
                crit ? "critical" : "warning",
                crit ? v->crit_days : v->warn_days,
                crit ? " now" : " before then");
        }
    }
}

/* RFC 9525 section 6.3: a DNS-ID matches the reference name exactly
 * (case-insensitively), or its whole left-most label is "*" and matches
 * exactly one label of the reference. "*.com"-style wildcards (fewer than
 * two labels after the wildcard) and partial-label wildcards never match. */
static int dns_id_matches(const char *id, size_t idlen, const char *ref)
{
    size_t reflen = strlen(ref);
    const char *dot;

    if (idlen > 0 && id[idlen - 1] == '.')
        idlen--;
    if (idlen == 0 || memchr(id, '\0', idlen))
        return 0;
    if (id[0] != '*')
        return !memchr(id, '*', idlen) && idlen == reflen &&
               strncasecmp(id, ref, idlen) == 0;
    if (idlen < 4 || id[1] != '.' || memchr(id + 1, '*', idlen - 1))
        return 0;
    if (!memchr(id + 2, '.', idlen - 2))
        return 0; /* "*.com" */
    dot = strchr(ref, '.');
    if (!dot || dot == ref)
        return 0;
    return (size_t)(reflen - (size_t)(dot - ref)) == idlen - 1 &&
           strncasecmp(dot, id + 1, idlen - 1) == 0;
}

static void check_name(struct run *c)
{
    const mailssl_validator *v = c->v;
    gnutls_x509_crt_t leaf = c->path[0];
    struct mailssl_buf names;
    int any_san = 0, nshown = 0;
    unsigned i;
    char *list;

    if (!v->name || c->dane_ee)
        return; /* RFC 7672 section 3.1.1: DANE-EE ignores names */
    mailssl__buf_init(&names);
    for (i = 0;; i++) {
        unsigned char buf[512];
        size_t len = sizeof buf - 1;
        unsigned critical;
        int type = gnutls_x509_crt_get_subject_alt_name(leaf, i, buf, &len,
                                                        &critical);
        if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
            continue;
        if (type < 0)
            break;
        any_san = 1;
        if (type == GNUTLS_SAN_DNSNAME) {
            if (!v->iplen && dns_id_matches((const char *)buf, len, v->name)) {
                mailssl__buf_free(&names);
                return;
            }
            buf[len] = '\0';
            if (nshown++ < 8)
                mailssl__buf_printf(&names, "%s%.*s", nshown > 1 ? ", " : "",
                                    (int)strnlen((char *)buf, len),
                                    (char *)buf);
        } else if (type == GNUTLS_SAN_IPADDRESS) {
            char text[INET6_ADDRSTRLEN];
            if (v->iplen && len == v->iplen && memcmp(buf, v->ip, len) == 0) {
                mailssl__buf_free(&names);
                return;
            }
            if ((len == 4 || len == 16) &&
                inet_ntop(len == 4 ? AF_INET : AF_INET6, buf, text,
                          sizeof text) &&
                nshown++ < 8)
                mailssl__buf_printf(&names, "%s%s", nshown > 1 ? ", " : "",
                                    text);
        }
    }
    if (nshown > 8)
        mailssl__buf_printf(&names, " and %d more", nshown - 8);
    list = mailssl__buf_finish(&names);
    if (!any_san)
        add(c, MAILSSL_CODE_CERT_NAME_MISMATCH, MAILSSL_SEVERITY_CRITICAL, 0,
            "'%s' has no subjectAltName, so it is valid for no name (clients "
            "ignore the subject CN, RFC 9525): install a certificate whose "
            "subjectAltName includes %s",
            subj(c, 0), v->name);
    else
        add(c, MAILSSL_CODE_CERT_NAME_MISMATCH, MAILSSL_SEVERITY_CRITICAL, 0,
            "'%s' is not valid for %s: it names %s; install a certificate "
            "whose subjectAltName includes %s",
            subj(c, 0), v->name, list && *list ? list : "nothing usable",
            v->name);
    free(list);
}

/* 1 when crt has no extendedKeyUsage or one with serverAuth or
 * anyExtendedKeyUsage, 0 otherwise. */
static int eku_allows_server(gnutls_x509_crt_t crt)
{
    unsigned i, crit;

    for (i = 0;; i++) {
        char oid[128];
        size_t len = sizeof oid;
        int rc = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &len, &crit);
        if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
            continue;
        if (rc < 0)
            return i == 0;
        if (strcmp(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0 ||
            strcmp(oid, GNUTLS_KP_ANY) == 0)
            return 1;
    }
}

/* The leaf must be usable by a TLS server: keyUsage allows a signature
 * (or RSA key transport), extendedKeyUsage includes serverAuth. */
static void check_usage(struct run *c)
{
    gnutls_x509_crt_t leaf = c->path[0];
    unsigned ku = 0, crit = 0, bits = 0;
    size_t i;
    int pk = gnutls_x509_crt_get_pk_algorithm(leaf, &bits);
    int rc;

    rc = gnutls_x509_crt_get_key_usage(leaf, &ku, &crit);
    if (rc >= 0 && !(ku & GNUTLS_KEY_DIGITAL_SIGNATURE)) {
        if (pk == GNUTLS_PK_RSA && (ku & GNUTLS_KEY_KEY_ENCIPHERMENT))
            add(c, MAILSSL_CODE_CERT_BAD_USAGE, MAILSSL_SEVERITY_WARNING, 0,
                "'%s' allows only RSA key transport (keyUsage without "
                "digitalSignature): TLS 1.3 and forward-secret suites cannot "
                "use it; request a certificate with digitalSignature",
                subj(c, 0));
        else
            add(c, MAILSSL_CODE_CERT_BAD_USAGE, MAILSSL_SEVERITY_CRITICAL, 0,
                "'%s' has a keyUsage without digitalSignature, so it cannot "
                "sign a TLS handshake: request a certificate for TLS server "
                "use",
                subj(c, 0));
    }
    if (!eku_allows_server(leaf))
        add(c, MAILSSL_CODE_CERT_BAD_USAGE, MAILSSL_SEVERITY_CRITICAL, 0,
            "'%s' has an extendedKeyUsage without TLS server authentication "
            "(serverAuth): clients refuse it for a server; request a "
            "certificate with serverAuth",
            subj(c, 0));
    /* Clients that chain EKUs (Windows, Mozilla NSS, GnuTLS with a
     * purpose) refuse an intermediate restricted to other purposes. */
    for (i = 1; i < c->npath; i++) {
        size_t idx = c->path_idx[i];
        if (!self_issued(c, idx) && !eku_allows_server(c->path[i]))
            add(c, MAILSSL_CODE_CERT_BAD_USAGE, MAILSSL_SEVERITY_CRITICAL,
                (int)idx,
                "the intermediate '%s' limits its extendedKeyUsage to "
                "purposes without TLS server authentication: clients that "
                "chain key purposes refuse '%s'; use a chain whose "
                "intermediates allow serverAuth",
                subj(c, idx), subj(c, 0));
    }
}

static const char *hash_name(int hash)
{
    const char *n = gnutls_digest_get_name((gnutls_digest_algorithm_t)hash);
    return n ? n : "?";
}

/* Key sizes and signature hashes of the presented chain (trust anchors
 * from the store are not the server's to change). */
static void check_strength(struct run *c)
{
    size_t i;

    for (i = 0; i < c->npath; i++) {
        size_t idx = c->path_idx[i];
        unsigned bits = 0;
        int pk = gnutls_x509_crt_get_pk_algorithm(c->path[i], &bits);
        int sig, hash;

        if ((pk == GNUTLS_PK_RSA || pk == GNUTLS_PK_RSA_PSS) && bits < 2048)
            add(c, MAILSSL_CODE_CERT_WEAK_KEY, MAILSSL_SEVERITY_WARNING,
                (int)idx,
                "'%s' has a %u-bit RSA key, below 2048 bits: replace it with "
                "an RSA key of 2048 bits or more, or an ECDSA P-256 key",
                subj(c, idx), bits);
        else if (pk == GNUTLS_PK_DSA)
            add(c, MAILSSL_CODE_CERT_WEAK_KEY, MAILSSL_SEVERITY_WARNING,
                (int)idx,
                "'%s' has a DSA key, which TLS 1.3 and current clients do "
                "not support: replace it with an RSA (2048+) or ECDSA key",
                subj(c, idx));
        else if (pk == GNUTLS_PK_ECDSA && bits < 256)
            add(c, MAILSSL_CODE_CERT_WEAK_KEY, MAILSSL_SEVERITY_WARNING,
                (int)idx,
                "'%s' has a %u-bit elliptic-curve key, below 256 bits: "
                "replace it with a P-256 or stronger key",
                subj(c, idx), bits);
        if (self_issued(c, idx))
            continue; /* a root's self-signature protects nothing */
        sig = gnutls_x509_crt_get_signature_algorithm(c->path[i]);
        hash = sig > 0 ? (int)gnutls_sign_get_hash_algorithm(
                             (gnutls_sign_algorithm_t)sig)
                       : 0;
        if (hash == GNUTLS_DIG_MD5 || hash == GNUTLS_DIG_MD2 ||
            hash == GNUTLS_DIG_SHA1)
            add(c, MAILSSL_CODE_CERT_WEAK_SIGNATURE, MAILSSL_SEVERITY_WARNING,
                (int)idx,
                "'%s' is signed with %s, which is broken for certificate "
                "signatures and refused by current clients: have it "
                "re-issued with SHA-256",
                subj(c, idx), hash_name(hash));
    }
}

static void check_self_signed(struct run *c)
{
    if (c->dane_ee || !self_issued(c, 0))
        return;
    add(c, MAILSSL_CODE_CERT_SELF_SIGNED, MAILSSL_SEVERITY_WARNING, 0,
        "'%s' is self-signed: clients can trust it only when it is pinned "
        "(trust file, DANE-EE); use a certificate from a CA for public "
        "service",
        subj(c, 0));
}

static int must_staple(gnutls_x509_crt_t crt)
{
    gnutls_x509_tlsfeatures_t f;
    unsigned i, feature, crit;
    int found = 0;

    if (gnutls_x509_tlsfeatures_init(&f) < 0)
        return 0;
    if (gnutls_x509_crt_get_tlsfeatures(crt, f, 0, &crit) >= 0)
        for (i = 0; gnutls_x509_tlsfeatures_get(f, i, &feature) >= 0; i++)
            if (feature == 5) /* status_request, RFC 7633 */
                found = 1;
    gnutls_x509_tlsfeatures_deinit(f);
    return found;
}

static void check_ocsp(struct run *c, const unsigned char *der, size_t len)
{
    gnutls_ocsp_resp_t resp = NULL;
    gnutls_datum_t d;
    gnutls_x509_crt_t issuer = NULL;
    unsigned cert_status = 0, reason = 0, vst = 0;
    time_t this_update = 0, next_update = 0, revoked_at = 0;
    char date[40];
    int rc;

    if (!der || !len) {
        if (must_staple(c->path[0]))
            add(c, MAILSSL_CODE_OCSP_STAPLE_MISSING,
                MAILSSL_SEVERITY_CRITICAL, 0,
                "'%s' requires OCSP stapling (TLS feature status_request, "
                "RFC 7633) but the server sent no OCSP response: clients "
                "that honour it refuse the connection; enable OCSP stapling",
                subj(c, 0));
        return;
    }
    d.data = (unsigned char *)der;
    d.size = (unsigned)len;
    if (len > 1024 * 1024 || gnutls_ocsp_resp_init(&resp) < 0)
        goto unparsable;
    if (gnutls_ocsp_resp_import(resp, &d) < 0)
        goto unparsable;
    if (gnutls_ocsp_resp_get_status(resp) != GNUTLS_OCSP_RESP_SUCCESSFUL) {
        add(c, MAILSSL_CODE_OCSP_STAPLE_INVALID, MAILSSL_SEVERITY_WARNING, 0,
            "the stapled OCSP response is an error answer, not a status: "
            "check the server's OCSP responder settings");
        goto out;
    }
    if (gnutls_ocsp_resp_check_crt(resp, 0, c->path[0]) < 0) {
        add(c, MAILSSL_CODE_OCSP_STAPLE_INVALID, MAILSSL_SEVERITY_WARNING, 0,
            "the stapled OCSP response is for another certificate than '%s': "
            "the server staples a stale response; refresh its OCSP cache",
            subj(c, 0));
        goto out;
    }
    /* The responder is the issuer itself or delegated by it. */
    if (c->npath > 1)
        issuer = c->path[1];
    else if (c->trust)
        gnutls_x509_trust_list_get_issuer(c->trust, c->path[0], &issuer, 0);
    rc = issuer ? gnutls_ocsp_resp_verify_direct(resp, issuer, &vst, 0) : -1;
    if ((rc < 0 || vst != 0) && c->trust) {
        vst = 0;
        rc = gnutls_ocsp_resp_verify(resp, c->trust, &vst, 0);
    }
    if (rc < 0 || vst != 0) {
        add(c, MAILSSL_CODE_OCSP_STAPLE_INVALID, MAILSSL_SEVERITY_WARNING, 0,
            "the stapled OCSP response for '%s' is not signed by its issuer "
            "or a responder it authorized: refresh the server's OCSP "
            "response",
            subj(c, 0));
        goto out;
    }
    if (gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL, NULL,
                                    &cert_status, &this_update, &next_update,
                                    &revoked_at, &reason) < 0)
        goto unparsable;
    if (cert_status == GNUTLS_OCSP_CERT_REVOKED) {
        mailssl__rfc3339((int64_t)revoked_at, date, sizeof date);
        add(c, MAILSSL_CODE_CERT_REVOKED, MAILSSL_SEVERITY_CRITICAL, 0,
            "'%s' was revoked on %s (OCSP, reason %u): install a new "
            "certificate",
            subj(c, 0), date, reason);
        goto out;
    }
    if ((int64_t)this_update > c->now + OCSP_SKEW) {
        mailssl__rfc3339((int64_t)this_update, date, sizeof date);
        add(c, MAILSSL_CODE_OCSP_STAPLE_INVALID, MAILSSL_SEVERITY_WARNING, 0,
            "the stapled OCSP response for '%s' is dated %s, in the future: "
            "check the clocks of the server and the responder",
            subj(c, 0), date);
    } else if ((next_update != (time_t)-1 &&
                (int64_t)next_update < c->now) ||
               (next_update == (time_t)-1 &&
                (int64_t)this_update + OCSP_MAX_AGE < c->now)) {
        mailssl__rfc3339(next_update != (time_t)-1 ? (int64_t)next_update
                                                   : (int64_t)this_update,
                         date, sizeof date);
        add(c, MAILSSL_CODE_OCSP_STAPLE_INVALID, MAILSSL_SEVERITY_WARNING, 0,
            "the stapled OCSP response for '%s' is stale (%s %s): the "
            "server does not refresh it; check its OCSP stapling",
            subj(c, 0),
            next_update != (time_t)-1 ? "nextUpdate" : "produced", date);
    } else if (cert_status != GNUTLS_OCSP_CERT_GOOD) {
        add(c, MAILSSL_CODE_OCSP_STAPLE_INVALID, MAILSSL_SEVERITY_WARNING, 0,
            "the stapled OCSP response says the status of '%s' is unknown to "
            "the responder: check that the server staples the response of "
            "its issuer's responder",
            subj(c, 0));
    }
    goto out;
unparsable:
    add(c, MAILSSL_CODE_OCSP_STAPLE_INVALID, MAILSSL_SEVERITY_WARNING, 0,
        "the stapled OCSP response cannot be parsed: check the server's OCSP "
        "stapling");
out:
    if (resp)
        gnutls_ocsp_resp_deinit(resp);
}

/* RFC 7672 governs DANE for SMTP between MTAs (and LMTP); other services
 * follow the general rules of RFC 7671. */
static int smtp_rules(int service)
{
    return service == MAILSSL_SERVICE_ANY || service == MAILSSL_SERVICE_SMTP ||
           service == MAILSSL_SERVICE_LMTP;
}

static void check_dane(struct run *c)
{
    struct mailssl__dane_result res;
    const mailssl_validator *v = c->v;
    int smtp = smtp_rules(v->service);
    size_t top = c->npath - 1;
    gnutls_x509_crt_t anchor = NULL;

    if (!mailssl__dane_count(&v->dane))
        return;
    if (!smtp && c->trust && !self_issued(c, c->path_idx[top]))
        gnutls_x509_trust_list_get_issuer(c->trust, c->path[top], &anchor, 0);
    mailssl__dane_check(&v->dane, smtp, c->path, c->npath, anchor, &res);
    c->dane_matched = res.matched;
    if (res.ee_match) {
        c->dane_ee = 1;
        return;
    }
    if (res.ta_match) {
        c->dane_ta = 1;
        return;
    }
    if (res.pkix_match)
        return; /* PKIX-TA/PKIX-EE: the usual PKIX checks decide */
    if (res.usable == 0) {
        add(c, MAILSSL_CODE_DANE_UNUSABLE, MAILSSL_SEVERITY_WARNING,
            MAILSSL_NO_CERT,
            smtp ? "none of the %zu TLSA records is usable for SMTP (RFC 7672 "
                   "allows only DANE-TA(2) and DANE-EE(3) with selector 0/1 "
                   "and matching type 0/1/2): publish a 3 1 1 or 2 1 1 record"
                 : "none of the %zu TLSA records is usable (unknown usage, "
                   "selector or matching type, or data of the wrong length): "
                   "publish a 3 1 1 or 2 1 1 record",
            mailssl__dane_count(&v->dane));
        return;
    }
    if (res.unusable)
        add(c, MAILSSL_CODE_DANE_UNUSABLE, MAILSSL_SEVERITY_WARNING,
            MAILSSL_NO_CERT,
            "%zu of the TLSA records are unusable%s and were ignored; remove "
            "them",
            res.unusable,
            smtp ? " for SMTP (usages 0/1 or unknown parameters, RFC 7672)"
                 : " (unknown parameters)");
    add(c, MAILSSL_CODE_DANE_MISMATCH, MAILSSL_SEVERITY_CRITICAL, 0,
        "no usable TLSA record matches the chain of '%s'%s: DANE clients "
        "will not connect; publish TLSA records for the certificate in use "
        "(or install the certificate they describe)",
        subj(c, 0), res.ta_chain_error ? " (a DANE-TA record matches a "
                                         "certificate, but the chain to it "
                                         "does not verify)"
                                       : "");
}

/* The checks common to both entry points; c->certs[0] parsed. */
static void run_checks(struct run *c, const unsigned char *ocsp,
                       size_t ocsp_len, int with_ocsp)
{
    c->trust = get_trust(c->v, &c->trust_rc);
    load_dns(c);
    build_path(c);
    check_dane(c);
    check_trust(c);
    check_dates(c);
    check_name(c);
    check_usage(c);
    check_strength(c);
    check_self_signed(c);
    if (with_ocsp)
        check_ocsp(c, ocsp, ocsp_len);
}

static void run_free(struct run *c)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        free(c->subject[i]);
        gnutls_free(c->sdn[i].data);
        gnutls_free(c->idn[i].data);
    }
}

MAILSSL_EXPORT int mailssl_validate_chain(const mailssl_validator *v,
                                          const unsigned char *const *der_certs,
                                          const size_t *der_lens,
                                          size_t ncerts,
                                          const unsigned char *ocsp_der,
                                          size_t ocsp_len,
                                          mailssl_report *report)
{
    return mailssl__validate_chain_counted(v, der_certs, der_lens, ncerts,
                                           ocsp_der, ocsp_len, report, NULL);
}

int mailssl__validate_chain_counted(const mailssl_validator *v,
                                    const unsigned char *const *der_certs,
                                    const size_t *der_lens, size_t ncerts,
                                    const unsigned char *ocsp_der,
                                    size_t ocsp_len, mailssl_report *report,
                                    size_t *dane_matched)
{
    gnutls_x509_crt_t certs[MAX_CHAIN];
    struct run c;
    size_t i;

    if (!v || !der_certs || !der_lens || ncerts == 0 || !report ||
        (!ocsp_der && ocsp_len))
        return MAILSSL_ERR_INVALID;
    if (ncerts > MAX_CHAIN)
        return MAILSSL_ERR_TOO_LONG;
    memset(&c, 0, sizeof c);
    c.v = v;
    c.r = report;
    c.now = v->time ? v->time : (int64_t)time(NULL);
    c.certs = certs;
    c.n = ncerts;
    for (i = 0; i < ncerts; i++) {
        gnutls_datum_t d;
        int rc;

        certs[i] = NULL;
        if (!der_certs[i] || der_lens[i] == 0 || der_lens[i] > MAX_CERT_DER) {
            rc = GNUTLS_E_ASN1_DER_ERROR;
        } else if ((rc = gnutls_x509_crt_init(&certs[i])) >= 0) {
            d.data = (unsigned char *)der_certs[i];
            d.size = (unsigned)der_lens[i];
            rc = gnutls_x509_crt_import(certs[i], &d, GNUTLS_X509_FMT_DER);
            if (rc < 0) {
                gnutls_x509_crt_deinit(certs[i]);
                certs[i] = NULL;
            }
        }
        if (rc == GNUTLS_E_MEMORY_ERROR) {
            c.err = MAILSSL_ERR_NOMEM;
            continue;
        }
        if (!certs[i])
            add(&c, MAILSSL_CODE_CERT_PARSE_ERROR, MAILSSL_SEVERITY_CRITICAL,
                (int)i,
                "certificate #%zu of the chain cannot be parsed (%s): the "
                "server sends a corrupt certificate; reinstall the "
                "certificate file",
                i, gnutls_strerror(rc));
    }
    if (certs[0] && !c.err)
        run_checks(&c, ocsp_der, ocsp_len, 1);
    if (dane_matched)
        *dane_matched = c.dane_matched;
    run_free(&c);
    for (i = 0; i < ncerts; i++)
        if (certs[i])
            gnutls_x509_crt_deinit(certs[i]);
    return c.err ? c.err : c.worst;
}

MAILSSL_EXPORT int mailssl_validate_credential(const mailssl_validator *v,
                                               const mailssl_credential *cred,
                                               mailssl_report *report)
{
    struct run c;
    size_t i;

    if (!v || !cred || !report)
        return MAILSSL_ERR_INVALID;
    if (!cred->loaded || cred->ncerts == 0 || !cred->certs)
        return MAILSSL_ERR_STATE;
    if (cred->ncerts > MAX_CHAIN)
        return MAILSSL_ERR_TOO_LONG;
    memset(&c, 0, sizeof c);
    c.v = v;
    c.r = report;
    c.now = v->time ? v->time : (int64_t)time(NULL);
    c.certs = cred->certs;
    c.n = cred->ncerts;
    /* Warnings found at load time (e.g. key-file-permissions) belong to
     * the credential's report too. */
    for (i = 0; i < mailssl_report_count(cred->load_warnings); i++) {
        int sev = mailssl_report_severity(cred->load_warnings, i);
        int rc = mailssl_report_add(
            report, mailssl_report_code(cred->load_warnings, i), sev,
            mailssl_report_cert_index(cred->load_warnings, i),
            mailssl_report_context_kind(cred->load_warnings, i),
            mailssl_report_context(cred->load_warnings, i),
            mailssl_report_message(cred->load_warnings, i));
        if (rc < 0) {
            c.err = rc;
            break;
        }
        c.worst = mailssl__worse(c.worst, sev);
    }
    if (!cred->key_matches)
        add(&c, MAILSSL_CODE_KEY_CERT_MISMATCH, MAILSSL_SEVERITY_CRITICAL, 0,
            "the private key%s%s does not belong to '%s': the server cannot "
            "complete a handshake with it; install the key that was "
            "generated with this certificate",
            cred->key_source ? " " : "",
            cred->key_source ? cred->key_source : "", subj(&c, 0));
    if (!c.err)
        run_checks(&c, NULL, 0, 0);
    run_free(&c);
    return c.err ? c.err : c.worst;
}
