/*
 * probe_verify.c - the verification of the probe's peer after the
 * handshake: the chain with the probe's settings (trust store, name, time,
 * windows, TLSA records), the findings, and the facts the driver reports
 * (TLS version, cipher, group, certificate block, the diagnosis the
 * certificate earns), so that certificate details are reported even when
 * verification fails. It reads the probe's settings and fills a
 * struct mailssl__tls_facts; lib/probe/probe.c copies it into the results.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "probe_internal.h"

/* The name the leaf must be valid for; NULL (no name check) for a live
 * audit probe that sends no SNI (servername ""): it reaches a listener by
 * its address, and which certificate it got is what the audit compares. */
static const char *verified_name(const mailssl_probe *p)
{
    if (p->servername && !p->servername[0])
        return NULL;
    return p->servername ? p->servername : p->host;
}

/* The primary diagnosis a certificate earns: the worst finding, in this
 * order (SPEC.md section 4 and README "Probe"). */
static const int cert_order[] = {
    MAILSSL_CODE_CERT_REVOKED,       MAILSSL_CODE_CERT_EXPIRED,
    MAILSSL_CODE_CERT_NOT_YET_VALID, MAILSSL_CODE_CERT_UNTRUSTED,
    MAILSSL_CODE_CERT_NAME_MISMATCH, MAILSSL_CODE_DANE_MISMATCH,
    MAILSSL_CODE_DANE_UNUSABLE, /* only when critical (see below) */
    MAILSSL_CODE_CERT_EXPIRING,
};

/* *matched: the TLSA records that matched the chain. */
static int validate(const mailssl_probe *p, const gnutls_datum_t *peers,
                    unsigned n, size_t *matched, char *err, size_t errlen)
{
    const unsigned char *ders[16];
    size_t lens[16];
    gnutls_datum_t ocsp = {NULL, 0};
    mailssl_validator *v;
    unsigned i;
    size_t t;
    int rc = 0;

    if (n > 16) {
        /* GnuTLS and most clients give up past 16 certificates: validating
         * a truncated chain would wrongly blame a missing intermediate */
        char msg[300];

        snprintf(msg, sizeof msg,
                 "the server sent %u certificates; clients stop verifying "
                 "at 16, so this chain cannot be verified: send only the "
                 "leaf and its intermediates",
                 n);
        rc = mailssl_report_add(p->findings, MAILSSL_CODE_CERT_UNTRUSTED,
                                MAILSSL_SEVERITY_CRITICAL, MAILSSL_NO_CERT,
                                NULL, NULL, msg);
        return rc < 0 ? rc : 0;
    }
    for (i = 0; i < n; i++) {
        ders[i] = peers[i].data;
        lens[i] = peers[i].size;
    }
    if (gnutls_ocsp_status_request_get(p->tx.sess, &ocsp) < 0) {
        ocsp.data = NULL;
        ocsp.size = 0;
    }
    if (p->ntlsa == 0) {
        /* the common case: the trust store is loaded once per process
         * (with the DNSSEC-validated records of the dane stage, if any) */
        rc = mailssl__probe_validate_shared_dane(
            p->cafile, verified_name(p), p->vtime,
            p->warn_days, p->crit_days, ders, lens, n, ocsp.data, ocsp.size,
            p->dane_use ? p->dane_recs : NULL, p->dane_use ? p->ndane : 0,
            mailssl__probe_dane_smtp(p) ? MAILSSL_SERVICE_SMTP : p->service,
            p->findings, matched, err, errlen);
        return rc < 0 ? rc : 0;
    }
    /* TLSA records cannot be taken off a validator: a fresh one (matched
     * then counts the caller's records too) */
    v = mailssl_validator_new();
    if (!v)
        return MAILSSL_ERR_NOMEM;
    if (p->cafile)
        rc = mailssl_validator_set_cafile(v, p->cafile);
    if (rc >= 0 && p->vtime)
        rc = mailssl_validator_set_time(v, p->vtime);
    if (rc >= 0)
        rc = mailssl_validator_set_days(v, p->warn_days, p->crit_days);
    if (rc >= 0)
        rc = mailssl_validator_set_name(v, verified_name(p));
    /* RFC 7672's rules for smtp/lmtp, RFC 7671's for the others */
    if (rc >= 0 && p->dane_use)
        rc = mailssl_validator_set_service(v, mailssl__probe_dane_smtp(p)
                                                  ? MAILSSL_SERVICE_SMTP
                                                  : p->service);
    for (t = 0; rc >= 0 && t < p->ntlsa; t++)
        rc = mailssl_validator_add_tlsa(v, p->tlsa[t].usage,
                                        p->tlsa[t].selector,
                                        p->tlsa[t].matching_type,
                                        p->tlsa[t].data, p->tlsa[t].len);
    /* the DNSSEC-validated records of the dane stage */
    for (t = 0; rc >= 0 && p->dane_use && t < p->ndane; t++)
        rc = mailssl_validator_add_tlsa(v, p->dane_recs[t].usage,
                                        p->dane_recs[t].selector,
                                        p->dane_recs[t].matching_type,
                                        p->dane_recs[t].data,
                                        p->dane_recs[t].len);
    if (rc >= 0)
        rc = mailssl__validate_chain_counted(v, ders, lens, n, ocsp.data,
                                             ocsp.size, p->findings, matched);
    if (rc < 0)
        mailssl__set_error(err, errlen, "validation: %s",
                           mailssl_validator_error(v));
    mailssl_validator_free(v);
    return rc < 0 ? rc : 0;
}

void mailssl__probe_tls_verify(const mailssl_probe *p,
                               struct mailssl__tls_facts *f, char *err,
                               size_t errlen)
{
    gnutls_session_t sess = p->tx.sess;
    const gnutls_datum_t *peers;
    unsigned n = 0;
    size_t i, k;
    int rc;

    memset(f, 0, sizeof *f);
    f->version = gnutls_protocol_get_name(gnutls_protocol_get_version(sess));
    f->cipher = gnutls_ciphersuite_get(sess);
    f->group = gnutls_group_get_name(gnutls_group_get(sess));
    f->now_epoch = p->vtime ? p->vtime : (int64_t)time(NULL);
    f->code = MAILSSL_CODE_OK;
    f->severity = MAILSSL_SEVERITY_OK;

    peers = gnutls_certificate_get_peers(sess, &n);
    f->chain_length = peers ? n : 0;
    if (!peers || n == 0) {
        mailssl__set_error(f->message, sizeof f->message,
                           "the server sent no certificate");
        f->severity = MAILSSL_SEVERITY_CRITICAL;
        f->code = MAILSSL_CODE_CERT_UNTRUSTED;
        return;
    }
    {
        gnutls_x509_crt_t crt;

        if (gnutls_x509_crt_init(&crt) == 0) {
            if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) ==
                    0 &&
                mailssl__certinfo_init(&f->cert, crt) == 0)
                f->have_cert = 1;
            gnutls_x509_crt_deinit(crt);
        }
    }
    rc = validate(p, peers, n, &f->dane_matched, err, errlen);
    if (rc < 0) {
        mailssl__set_error(f->message, sizeof f->message, "%s", err);
        f->severity = MAILSSL_SEVERITY_UNKNOWN;
        f->code = MAILSSL_CODE_CERT_UNTRUSTED;
        return;
    }
    f->validated = 1;
    for (k = 0; k < sizeof cert_order / sizeof cert_order[0]; k++) {
        for (i = 0; i < mailssl_report_count(p->findings); i++) {
            if (mailssl_report_code(p->findings, i) != cert_order[k])
                continue;
            /* unusable records alone leave TLS unauthenticated but
             * acceptable (RFC 7672 section 2.2): a finding, not the
             * diagnosis */
            if (cert_order[k] == MAILSSL_CODE_DANE_UNUSABLE &&
                mailssl_report_severity(p->findings, i) <
                    MAILSSL_SEVERITY_CRITICAL)
                continue;
            f->severity = mailssl_report_severity(p->findings, i);
            mailssl__set_error(f->message, sizeof f->message, "%s",
                               mailssl_report_message(p->findings, i));
            f->code = cert_order[k];
            return;
        }
    }
}
