/*
 * probe_tls.c - the probe's transport: the socket below the dialogue,
 * plain or through the TLS client session (SNI, priority, client
 * certificate), the non-blocking handshake and the record I/O. Each call
 * says what happened in a struct mailssl__tx_result (done, want in/out,
 * FIN/RST, close_notify, fatal alert N, not TLS with the first bytes, no
 * common parameters, error text); lib/probe/probe.c, the driver, turns that
 * into a diagnosis. Nothing here knows the probe object.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>

#include "probe_internal.h"

static ssize_t probe_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
    struct mailssl__transport *t = ptr;
    ssize_t n = recv(t->fd, data, len, 0);

    if (n < 0) {
        t->pull_errno = errno;
        gnutls_transport_set_errno(t->sess, errno);
        return -1;
    }
    if (n == 0)
        t->pull_eof = 1;
    if (t->rx < sizeof t->first) {
        size_t k = sizeof t->first - t->rx;

        if (k > (size_t)n)
            k = (size_t)n;
        memcpy(t->first + t->rx, data, k);
    }
    t->rx += (size_t)n;
    return n;
}

static ssize_t probe_push(gnutls_transport_ptr_t ptr, const void *data,
                          size_t len)
{
    struct mailssl__transport *t = ptr;
    ssize_t n = send(t->fd, data, len, MSG_NOSIGNAL);

    if (n < 0) {
        t->pull_errno = errno == EPIPE ? ECONNRESET : errno;
        gnutls_transport_set_errno(t->sess, errno);
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

int mailssl__tx_tls_start(struct mailssl__transport *t,
                          const struct mailssl__tls_params *tp, char *err,
                          size_t errlen)
{
    struct mailssl_buf prio;
    const char *name = tp->name;
    char *ps;
    int rc;

    if (gnutls_certificate_allocate_credentials(&t->xcred) < 0) {
        t->xcred = NULL;
        mailssl__set_error(err, errlen, "out of memory");
        return MAILSSL_ERR_NOMEM;
    }
    if (tp->client_cred) {
        const mailssl_credential *c = tp->client_cred;

        if (!c->key ||
            gnutls_certificate_set_x509_key(t->xcred, c->certs, c->ncerts,
                                            c->key) < 0) {
            mailssl__set_error(err, errlen,
                               "the client certificate cannot be used");
            return MAILSSL_ERR_CREDENTIAL;
        }
    }
    /* One key share (x25519 first, as OpenSSL's default client does; a
     * server without it costs a HelloRetryRequest), and no session
     * tickets: a probe never resumes, so the server need not mint them. */
    if (gnutls_init(&t->sess, GNUTLS_CLIENT | GNUTLS_NONBLOCK |
                                  GNUTLS_KEY_SHARE_TOP | GNUTLS_NO_TICKETS) <
        0) {
        t->sess = NULL;
        mailssl__set_error(err, errlen, "out of memory");
        return MAILSSL_ERR_NOMEM;
    }
    mailssl__buf_init(&prio);
    mailssl__buf_puts(&prio, tp->priority ? tp->priority : "NORMAL");
    append_min_version(&prio, tp->min_version);
    ps = mailssl__buf_finish(&prio);
    if (!ps) {
        mailssl__set_error(err, errlen, "out of memory");
        return MAILSSL_ERR_NOMEM;
    }
    {
        gnutls_priority_t cached;

        if (mailssl__probe_priority(ps, &cached) == 0)
            rc = gnutls_priority_set(t->sess, cached);
        else
            rc = gnutls_priority_set_direct(t->sess, ps, NULL);
    }
    free(ps);
    if (rc < 0) {
        mailssl__set_error(err, errlen, "priority string: %s",
                           gnutls_strerror(rc));
        return MAILSSL_ERR_SYNTAX;
    }
    /* RFC 6066: no SNI for an IP literal */
    if (name[0] && !mailssl__is_ip_literal(name))
        (void)gnutls_server_name_set(t->sess, GNUTLS_NAME_DNS, name,
                                     strlen(name));
    if (gnutls_credentials_set(t->sess, GNUTLS_CRD_CERTIFICATE, t->xcred) <
        0) {
        mailssl__set_error(err, errlen, "cannot set credentials");
        return MAILSSL_ERR_TLS;
    }
    gnutls_transport_set_ptr(t->sess, t);
    gnutls_transport_set_pull_function(t->sess, probe_pull);
    gnutls_transport_set_push_function(t->sess, probe_push);
    t->pull_errno = 0;
    t->pull_eof = 0;
    t->rx = 0;
    return 0;
}

void mailssl__tx_tls_free(struct mailssl__transport *t)
{
    if (t->sess)
        gnutls_deinit(t->sess);
    t->sess = NULL;
    if (t->xcred)
        gnutls_certificate_free_credentials(t->xcred);
    t->xcred = NULL;
}

const char *mailssl__tx_version_name(int version)
{
    return gnutls_protocol_get_name((gnutls_protocol_t)version);
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

static int result(struct mailssl__tx_result *r, int kind, const char *text)
{
    r->kind = kind;
    r->n = 0;
    r->alert = -1;
    r->ndata = 0;
    r->text = text ? text : "";
    return kind;
}

/* A GnuTLS call that would block: which way it waits. */
static int tls_want(const struct mailssl__transport *t)
{
    return gnutls_record_get_direction(t->sess) ? MAILSSL__TX_WANT_OUT
                                                : MAILSSL__TX_WANT_IN;
}

static int valid_record_type(unsigned char t)
{
    return t >= 20 && t <= 23; /* change_cipher_spec .. application_data */
}

static int is_no_common_alert(int alert)
{
    return alert == GNUTLS_A_PROTOCOL_VERSION ||
           alert == GNUTLS_A_HANDSHAKE_FAILURE ||
           alert == GNUTLS_A_INSUFFICIENT_SECURITY;
}

/* What a fatal handshake error rc means, most telling first. */
static void classify(struct mailssl__transport *t, int rc,
                     struct mailssl__tx_result *r)
{
    const char *s = gnutls_strerror(rc);

    if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        int alert = (int)gnutls_alert_get(t->sess);

        result(r, is_no_common_alert(alert) ? MAILSSL__TX_NO_COMMON
                                            : MAILSSL__TX_ALERT,
               s);
        r->alert = alert;
        return;
    }
    if (t->rx > 0 && !valid_record_type(t->first[0])) {
        /* the bytes the server said instead (often a plaintext greeting):
         * what GnuTLS read of them, and what is waiting */
        size_t n = t->rx < sizeof t->first ? t->rx : sizeof t->first;
        ssize_t more;

        result(r, MAILSSL__TX_NOT_TLS, s);
        memcpy(r->data, t->first, n);
        more = recv(t->fd, r->data + n, sizeof r->data - n, MSG_DONTWAIT);
        if (more > 0)
            n += (size_t)more;
        r->ndata = n;
        return;
    }
    if (t->pull_eof || rc == GNUTLS_E_PREMATURE_TERMINATION) {
        result(r, MAILSSL__TX_FIN, s);
        return;
    }
    if ((rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PUSH_ERROR) &&
        (t->pull_errno == ECONNRESET || t->pull_errno == EPIPE)) {
        result(r, MAILSSL__TX_RST, s);
        return;
    }
    switch (rc) {
    case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
    case GNUTLS_E_NO_CIPHER_SUITES:
    case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
    case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
    case GNUTLS_E_NO_COMMON_KEY_SHARE:
    case GNUTLS_E_INSUFFICIENT_SECURITY:
        result(r, MAILSSL__TX_NO_COMMON, s);
        return;
    default:
        result(r, MAILSSL__TX_ERROR, s);
    }
}

int mailssl__tx_handshake(struct mailssl__transport *t,
                          struct mailssl__tx_result *r)
{
    int rc = gnutls_handshake(t->sess);

    if (rc == 0) {
        t->tls_on = 1;
        return result(r, MAILSSL__TX_DONE, NULL);
    }
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
        return result(r, tls_want(t), NULL);
    if (!gnutls_error_is_fatal(rc))
        return result(r, MAILSSL__TX_WANT_IN, NULL); /* e.g. a warning alert */
    classify(t, rc, r);
    return r->kind;
}

static int would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

int mailssl__tx_send(struct mailssl__transport *t, const void *data,
                     size_t n, struct mailssl__tx_result *r)
{
    ssize_t w;

    if (t->tls_on) {
        w = gnutls_record_send(t->sess, data, n);
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
            return result(r, tls_want(t), NULL);
        if (w < 0)
            return result(r, MAILSSL__TX_ERROR, gnutls_strerror((int)w));
    } else {
        w = send(t->fd, data, n, MSG_NOSIGNAL);
        if (w < 0 && would_block(errno))
            return result(r, MAILSSL__TX_WANT_OUT, NULL);
        if (w < 0)
            return result(r, MAILSSL__TX_ERROR, strerror(errno));
    }
    r->n = (size_t)w;
    return r->kind = MAILSSL__TX_DONE;
}

int mailssl__tx_recv(struct mailssl__transport *t, void *data, size_t room,
                     struct mailssl__tx_result *r)
{
    ssize_t n;

    if (t->tls_on) {
        n = gnutls_record_recv(t->sess, data, room);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            return result(r, tls_want(t), NULL);
        if (n == GNUTLS_E_REHANDSHAKE || n == GNUTLS_E_WARNING_ALERT_RECEIVED)
            return result(r, MAILSSL__TX_AGAIN, NULL);
        if (n == 0)
            return result(r, MAILSSL__TX_CLOSE_NOTIFY, NULL);
        if (n == GNUTLS_E_FATAL_ALERT_RECEIVED) {
            result(r, MAILSSL__TX_ALERT, gnutls_strerror((int)n));
            r->alert = (int)gnutls_alert_get(t->sess);
            return r->kind;
        }
        if (n == GNUTLS_E_PREMATURE_TERMINATION)
            return result(r, MAILSSL__TX_FIN, gnutls_strerror((int)n));
        if (n < 0)
            return result(r, MAILSSL__TX_ERROR, gnutls_strerror((int)n));
    } else {
        n = recv(t->fd, data, room, 0);
        if (n < 0 && would_block(errno))
            return result(r, MAILSSL__TX_WANT_IN, NULL);
        if (n == 0)
            return result(r, MAILSSL__TX_FIN, NULL);
        if (n < 0 && errno == ECONNRESET)
            return result(r, MAILSSL__TX_RST, strerror(errno));
        if (n < 0)
            return result(r, MAILSSL__TX_ERROR, strerror(errno));
    }
    r->n = (size_t)n;
    return r->kind = MAILSSL__TX_DONE;
}
