/*
 * probe_tls.c - the probe's TLS client: session set-up (SNI, priority,
 * client certificate), the non-blocking handshake, the classification of
 * handshake failures into SPEC.md section 4 codes, and the verification of
 * the peer chain after the handshake (so that certificate details are
 * reported even when verification fails).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "probe_internal.h"

static ssize_t probe_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
    mailssl_probe *p = ptr;
    ssize_t n = recv(p->fd, data, len, 0);

    if (n < 0) {
        p->pull_errno = errno;
        gnutls_transport_set_errno(p->sess, errno);
        return -1;
    }
    if (n == 0)
        p->pull_eof = 1;
    if (p->tls_rx < sizeof p->tls_first) {
        size_t k = sizeof p->tls_first - p->tls_rx;

        if (k > (size_t)n)
            k = (size_t)n;
        memcpy(p->tls_first + p->tls_rx, data, k);
    }
    p->tls_rx += (size_t)n;
    return n;
}

static ssize_t probe_push(gnutls_transport_ptr_t ptr, const void *data,
                          size_t len)
{
    mailssl_probe *p = ptr;
    ssize_t n = send(p->fd, data, len, MSG_NOSIGNAL);

    if (n < 0) {
        p->pull_errno = errno == EPIPE ? ECONNRESET : errno;
        gnutls_transport_set_errno(p->sess, errno);
        return -1;
    }
    return n;
}

/* Versions below the minimum, removed from whatever priority is used. */
static void append_min_version(struct mailssl_buf *b, int min)
{
    if (min > GNUTLS_TLS1_0)
        mailssl__buf_puts(b, ":-VERS-TLS1.0");
    if (min > GNUTLS_TLS1_1)
        mailssl__buf_puts(b, ":-VERS-TLS1.1");
    if (min > GNUTLS_TLS1_2)
        mailssl__buf_puts(b, ":-VERS-TLS1.2");
    if (min <= GNUTLS_TLS1_1)
        mailssl__buf_puts(b, ":+VERS-TLS1.1");
    if (min <= GNUTLS_TLS1_0)
        mailssl__buf_puts(b, ":+VERS-TLS1.0");
}

/* The name the leaf must be valid for; NULL (no name check) for a live
 * audit probe that sends no SNI (servername ""): it reaches a listener by
 * its address, and which certificate it got is what the audit compares. */
static const char *verified_name(const mailssl_probe *p)
{
    if (p->servername && !p->servername[0])
        return NULL;
    return p->servername ? p->servername : p->host;
}

int mailssl__probe_tls_setup(mailssl_probe *p)
{
    struct mailssl_buf prio;
    const char *name = p->servername ? p->servername : p->host;
    char *ps;
    int rc;

    if (gnutls_certificate_allocate_credentials(&p->xcred) < 0) {
        p->xcred = NULL;
        mailssl__set_error(p->err, sizeof p->err, "out of memory");
        return MAILSSL_ERR_NOMEM;
    }
    if (p->client_cred) {
        mailssl_credential *c = p->client_cred;

        if (!c->key ||
            gnutls_certificate_set_x509_key(p->xcred, c->certs, c->ncerts,
                                            c->key) < 0) {
            mailssl__set_error(p->err, sizeof p->err,
                               "the client certificate cannot be used");
            return MAILSSL_ERR_CREDENTIAL;
        }
    }
    /* One key share (x25519 first, as OpenSSL's default client does; a
     * server without it costs a HelloRetryRequest), and no session
     * tickets: a probe never resumes, so the server need not mint them. */
    if (gnutls_init(&p->sess, GNUTLS_CLIENT | GNUTLS_NONBLOCK |
                                  GNUTLS_KEY_SHARE_TOP | GNUTLS_NO_TICKETS) <
        0) {
        p->sess = NULL;
        mailssl__set_error(p->err, sizeof p->err, "out of memory");
        return MAILSSL_ERR_NOMEM;
    }
    mailssl__buf_init(&prio);
    mailssl__buf_puts(&prio, p->priority ? p->priority : "NORMAL");
    append_min_version(&prio, p->min_version);
    ps = mailssl__buf_finish(&prio);
    if (!ps) {
        mailssl__set_error(p->err, sizeof p->err, "out of memory");
        return MAILSSL_ERR_NOMEM;
    }
    {
        gnutls_priority_t cached;

        if (mailssl__probe_priority(ps, &cached) == 0)
            rc = gnutls_priority_set(p->sess, cached);
        else
            rc = gnutls_priority_set_direct(p->sess, ps, NULL);
    }
    free(ps);
    if (rc < 0) {
        mailssl__set_error(p->err, sizeof p->err, "priority string: %s",
                           gnutls_strerror(rc));
        return MAILSSL_ERR_SYNTAX;
    }
    /* RFC 6066: no SNI for an IP literal */
    if (name[0] && !mailssl__is_ip_literal(name))
        (void)gnutls_server_name_set(p->sess, GNUTLS_NAME_DNS, name,
                                     strlen(name));
    if (gnutls_credentials_set(p->sess, GNUTLS_CRD_CERTIFICATE, p->xcred) <
        0) {
        mailssl__set_error(p->err, sizeof p->err, "cannot set credentials");
        return MAILSSL_ERR_TLS;
    }
    gnutls_transport_set_ptr(p->sess, p);
    gnutls_transport_set_pull_function(p->sess, probe_pull);
    gnutls_transport_set_push_function(p->sess, probe_push);
    p->pull_errno = 0;
    p->pull_eof = 0;
    p->tls_rx = 0;
    return 0;
}

void mailssl__probe_tls_free(mailssl_probe *p)
{
    if (p->sess)
        gnutls_deinit(p->sess);
    p->sess = NULL;
    if (p->xcred)
        gnutls_certificate_free_credentials(p->xcred);
    p->xcred = NULL;
}

static int valid_record_type(unsigned char t)
{
    return t >= 20 && t <= 23; /* change_cipher_spec .. application_data */
}

/* The message of the 13002 case: what happened and what to check. */
static void closed_message(mailssl_probe *p, const char *how)
{
    const char *svc = mailssl_service_name(p->service);

    mailssl__probe_fail(
        p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE, MAILSSL_SEVERITY_CRITICAL,
        "the server accepted the TCP connection on %s port %d (%s) and then "
        "%s during the TLS handshake without sending a TLS alert. The server "
        "most likely has no valid certificate bound for this address, port "
        "and protocol (Exchange event 13002, Outlook 0x800CCC0F \"the server "
        "unexpectedly terminated the connection\"). Check on the server that "
        "a certificate is bound or assigned to %s for this address and port "
        "(or to a default covering it), that it has not expired, and that "
        "its private key is present and readable by the mail service.",
        p->address, p->port, svc ? svc : "?", how, svc ? svc : "?");
}

void mailssl__probe_alert_text(int alert, char *dst, size_t n)
{
    const char *str = gnutls_alert_get_strname((gnutls_alert_description_t)alert);
    const char *desc = gnutls_alert_get_name((gnutls_alert_description_t)alert);
    char rfc[48];
    size_t i;

    /* "GNUTLS_A_UNRECOGNIZED_NAME" -> "unrecognized_name" (RFC 8446) */
    if (str && strncmp(str, "GNUTLS_A_", 9) == 0)
        str += 9;
    for (i = 0; str && str[i] && i + 1 < sizeof rfc; i++)
        rfc[i] = (char)(str[i] >= 'A' && str[i] <= 'Z' ? str[i] + 32 : str[i]);
    rfc[i] = '\0';
    snprintf(dst, n, "%s (%d%s%s)", i ? rfc : "unknown", alert,
             desc ? ": " : "", desc ? desc : "");
}

static int is_no_common_alert(int alert)
{
    return alert == GNUTLS_A_PROTOCOL_VERSION ||
           alert == GNUTLS_A_HANDSHAKE_FAILURE ||
           alert == GNUTLS_A_INSUFFICIENT_SECURITY;
}

static void classify(mailssl_probe *p, int rc)
{
    const char *s = gnutls_strerror(rc);

    if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        int alert = (int)gnutls_alert_get(p->sess);
        char an[160];

        mailssl__probe_alert_text(alert, an, sizeof an);
        if (is_no_common_alert(alert))
            mailssl__probe_fail(
                p, MAILSSL_CODE_TLS_NO_COMMON_PARAMETERS,
                MAILSSL_SEVERITY_CRITICAL,
                "the server refused the handshake with the fatal alert %s: "
                "no protocol version or cipher suite in common "
                "(this probe's minimum is %s)",
                an,
                gnutls_protocol_get_name((gnutls_protocol_t)p->min_version));
        else
            mailssl__probe_fail(p, MAILSSL_CODE_TLS_ALERT,
                                MAILSSL_SEVERITY_CRITICAL,
                                "the server sent the fatal TLS alert %s "
                                "during the handshake",
                                an);
        return;
    }
    if (p->tls_rx > 0 && !valid_record_type(p->tls_first[0])) {
        /* show the operator what the server said: often a plaintext
         * greeting on a port configured for implicit TLS */
        unsigned char raw[sizeof p->tls_first + 64];
        char text[sizeof raw + 1];
        size_t i, n = p->tls_rx < sizeof p->tls_first ? p->tls_rx
                                                       : sizeof p->tls_first;
        ssize_t more;

        memcpy(raw, p->tls_first, n);
        more = recv(p->fd, raw + n, sizeof raw - n, MSG_DONTWAIT);
        if (more > 0)
            n += (size_t)more;
        while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r'))
            n--;
        for (i = 0; i < n; i++)
            text[i] = (raw[i] >= 0x20 && raw[i] < 0x7f) ? (char)raw[i] : '.';
        text[n] = '\0';
        if (!p->implicit) {
            /* plaintext after the go-ahead, even if it came after our
             * ClientHello: the same attack (or broken server) as bytes
             * buffered with the go-ahead; GnuTLS read only a record
             * header of it and nothing reached the dialogue. As there,
             * the STARTTLS stage did not complete. */
            p->stage = MAILSSL_STAGE_GREETING;
            mailssl__probe_fail(p, MAILSSL_CODE_STARTTLS_INJECTION,
                                MAILSSL_SEVERITY_CRITICAL,
                                "the server sent plaintext (\"%s\") after "
                                "the STARTTLS go-ahead instead of a TLS "
                                "handshake: a command injection attack or a "
                                "broken server; the probe closed the "
                                "connection without using it",
                                text);
        } else {
            mailssl__probe_fail(p, MAILSSL_CODE_TLS_ERROR,
                                MAILSSL_SEVERITY_CRITICAL,
                                "the server answered the TLS ClientHello "
                                "with data that is not TLS (\"%s\"): is "
                                "this a plaintext or STARTTLS port? (%s)",
                                text, s);
        }
        return;
    }
    if (p->pull_eof || rc == GNUTLS_E_PREMATURE_TERMINATION) {
        closed_message(p, "closed it (FIN)");
        return;
    }
    if ((rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PUSH_ERROR) &&
        (p->pull_errno == ECONNRESET || p->pull_errno == EPIPE)) {
        closed_message(p, "reset it (RST)");
        return;
    }
    switch (rc) {
    case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
    case GNUTLS_E_NO_CIPHER_SUITES:
    case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
    case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
    case GNUTLS_E_NO_COMMON_KEY_SHARE:
    case GNUTLS_E_INSUFFICIENT_SECURITY:
        mailssl__probe_fail(
            p, MAILSSL_CODE_TLS_NO_COMMON_PARAMETERS, MAILSSL_SEVERITY_CRITICAL,
            "no protocol version or cipher suite in common with the server: "
            "%s (this probe's minimum is %s; a server that speaks only TLS "
            "1.0/1.1 is obsolete, RFC 8996)",
            s, gnutls_protocol_get_name((gnutls_protocol_t)p->min_version));
        return;
    default:
        mailssl__probe_fail(p, MAILSSL_CODE_TLS_ERROR,
                            MAILSSL_SEVERITY_CRITICAL,
                            "the TLS handshake failed: %s", s);
    }
}

int mailssl__probe_tls_handshake(mailssl_probe *p)
{
    int rc = gnutls_handshake(p->sess);

    if (rc == 0)
        return 0;
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
        return gnutls_record_get_direction(p->sess) ? MAILSSL_WANT_POLLOUT
                                                    : MAILSSL_WANT_POLLIN;
    if (!gnutls_error_is_fatal(rc)) {
        /* e.g. a warning alert: keep going */
        return MAILSSL_WANT_POLLIN;
    }
    classify(p, rc);
    return -1;
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
static int validate(mailssl_probe *p, const gnutls_datum_t *peers,
                    unsigned n, size_t *matched)
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
    if (gnutls_ocsp_status_request_get(p->sess, &ocsp) < 0) {
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
            p->findings, matched, p->err, sizeof p->err);
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
        mailssl__set_error(p->err, sizeof p->err, "validation: %s",
                           mailssl_validator_error(v));
    mailssl_validator_free(v);
    return rc < 0 ? rc : 0;
}

int mailssl__probe_tls_verify(mailssl_probe *p, int *severity)
{
    const gnutls_datum_t *peers;
    unsigned n = 0;
    size_t i, k, matched = 0;
    int rc;

    p->tls_version =
        gnutls_protocol_get_name(gnutls_protocol_get_version(p->sess));
    p->tls_cipher = gnutls_ciphersuite_get(p->sess);
    p->tls_group = gnutls_group_get_name(gnutls_group_get(p->sess));
    p->now_epoch = p->vtime ? p->vtime : (int64_t)time(NULL);
    *severity = MAILSSL_SEVERITY_OK;

    peers = gnutls_certificate_get_peers(p->sess, &n);
    p->chain_length = peers ? n : 0;
    if (!peers || n == 0) {
        mailssl__set_error(p->message, sizeof p->message,
                           "the server sent no certificate");
        *severity = MAILSSL_SEVERITY_CRITICAL;
        return MAILSSL_CODE_CERT_UNTRUSTED;
    }
    {
        gnutls_x509_crt_t crt;

        if (gnutls_x509_crt_init(&crt) == 0) {
            if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) ==
                    0 &&
                mailssl__certinfo_init(&p->cert, crt) == 0)
                p->have_cert = 1;
            gnutls_x509_crt_deinit(crt);
        }
    }
    rc = validate(p, peers, n, &matched);
    if (rc >= 0)
        mailssl__probe_dane_verified(p, matched);
    if (rc < 0) {
        mailssl__set_error(p->message, sizeof p->message, "%s", p->err);
        *severity = MAILSSL_SEVERITY_UNKNOWN;
        return MAILSSL_CODE_CERT_UNTRUSTED;
    }
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
            *severity = mailssl_report_severity(p->findings, i);
            mailssl__set_error(p->message, sizeof p->message, "%s",
                               mailssl_report_message(p->findings, i));
            return cert_order[k];
        }
    }
    return MAILSSL_CODE_OK;
}
