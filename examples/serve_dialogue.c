/*
 * serve_dialogue.c - the server side of the mail dialogues of
 * mailssl-serve (serve_dialogue.h).
 *
 * Each service answers the few commands a client needs to reach TLS and
 * see the service over it; everything else is refused politely with the
 * service's usual "not implemented" reply, so a real mail client can
 * connect and quit cleanly. Capabilities differ before and after TLS as on
 * real servers: STARTTLS/STLS only before, authentication only after.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mailssl.h"
#include "serve_dialogue.h"

#define NAME "mailssl-serve"

static size_t put(char *out, size_t outlen, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends to out at offset at; returns the new length (bounded). */
static size_t put(char *out, size_t outlen, size_t at, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (at >= outlen)
        return at;
    va_start(ap, fmt);
    n = vsnprintf(out + at, outlen - at, fmt, ap);
    va_end(ap);
    if (n < 0)
        return at;
    return (size_t)n >= outlen - at ? outlen - 1 : at + (size_t)n;
}

static int is_smtp(int service)
{
    return service == MAILSSL_SERVICE_SMTP ||
           service == MAILSSL_SERVICE_SUBMISSION ||
           service == MAILSSL_SERVICE_SMTPS || service == MAILSSL_SERVICE_LMTP;
}

static int is_imap(int service)
{
    return service == MAILSSL_SERVICE_IMAP || service == MAILSSL_SERVICE_IMAPS;
}

static int is_pop3(int service)
{
    return service == MAILSSL_SERVICE_POP3 || service == MAILSSL_SERVICE_POP3S;
}

/* The word at the start of s (len bytes) equals w, case-insensitively,
 * and is followed by a blank or the end; *rest points after the blank. */
static int word_is(const char *s, size_t len, const char *w,
                   const char **rest)
{
    size_t n = strlen(w);
    if (len < n || strncasecmp(s, w, n) != 0 ||
        (len > n && s[n] != ' ' && s[n] != '\t'))
        return 0;
    if (rest)
        *rest = len > n ? s + n + 1 : s + n;
    return 1;
}

/* ---- capabilities --------------------------------------------------- */

static size_t imap_caps(const struct serve_dialogue *d, char *out,
                        size_t outlen, size_t at)
{
    return put(out, outlen, at, "IMAP4rev1 %s",
               d->tls ? "AUTH=PLAIN ID" : "STARTTLS LOGINDISABLED");
}

static size_t sieve_caps(const struct serve_dialogue *d, char *out,
                         size_t outlen, size_t at)
{
    at = put(out, outlen, at, "\"IMPLEMENTATION\" \"" NAME "\"\r\n");
    if (d->tls)
        at = put(out, outlen, at, "\"SASL\" \"PLAIN\"\r\n");
    at = put(out, outlen, at, "\"SIEVE\" \"fileinto vacation\"\r\n");
    if (!d->tls)
        at = put(out, outlen, at, "\"STARTTLS\"\r\n");
    return put(out, outlen, at, "\"VERSION\" \"1.0\"\r\n");
}

/* ---- greetings ------------------------------------------------------ */

static size_t greeting(struct serve_dialogue *d, char *out, size_t outlen)
{
    size_t at = 0;

    if (is_smtp(d->service))
        return put(out, outlen, 0, "220 " NAME " %s ready\r\n",
                   d->service == MAILSSL_SERVICE_LMTP ? "LMTP" : "ESMTP");
    if (is_imap(d->service)) {
        at = put(out, outlen, 0, "* OK [CAPABILITY ");
        at = imap_caps(d, out, outlen, at);
        return put(out, outlen, at, "] " NAME " ready\r\n");
    }
    if (is_pop3(d->service))
        return put(out, outlen, 0, "+OK " NAME " POP3 ready\r\n");
    at = sieve_caps(d, out, outlen, 0);
    return put(out, outlen, at, "OK \"" NAME " ready\"\r\n");
}

size_t sd_begin(struct serve_dialogue *d, int service, char *out,
                size_t outlen)
{
    memset(d, 0, sizeof(*d));
    d->service = service;
    if (outlen)
        out[0] = '\0';
    if (mailssl_service_implicit_tls(service) == 1)
        return 0;
    return greeting(d, out, outlen);
}

size_t sd_tls_started(struct serve_dialogue *d, char *out, size_t outlen)
{
    int implicit = mailssl_service_implicit_tls(d->service) == 1;

    d->tls = 1;
    d->greeted = 0; /* RFC 3207: the client starts over with EHLO */
    if (outlen)
        out[0] = '\0';
    if (implicit)
        return greeting(d, out, outlen);
    if (d->service == MAILSSL_SERVICE_SIEVE) /* RFC 5804 section 2.2 */
        return greeting(d, out, outlen);
    return 0;
}

/* ---- SMTP, submission, LMTP ----------------------------------------- */

static int smtp_line(struct serve_dialogue *d, const char *l, size_t len,
                     char *out, size_t outlen, size_t *outn)
{
    int lmtp = d->service == MAILSSL_SERVICE_LMTP;
    const char *hello = lmtp ? "LHLO" : "EHLO";

    if (word_is(l, len, hello, NULL)) {
        size_t at = put(out, outlen, 0, "250-" NAME "\r\n");
        at = put(out, outlen, at, "250-PIPELINING\r\n250-SIZE 10240000\r\n");
        if (!d->tls && d->service != MAILSSL_SERVICE_SMTPS)
            at = put(out, outlen, at, "250-STARTTLS\r\n");
        if (d->tls && d->service == MAILSSL_SERVICE_SUBMISSION)
            at = put(out, outlen, at, "250-AUTH PLAIN\r\n");
        *outn = put(out, outlen, at, "250-8BITMIME\r\n250 "
                                     "ENHANCEDSTATUSCODES\r\n");
        d->greeted = 1;
        return SD_CONTINUE;
    }
    if (!lmtp && word_is(l, len, "HELO", NULL)) {
        *outn = put(out, outlen, 0, "250 " NAME "\r\n");
        d->greeted = 1;
        return SD_CONTINUE;
    }
    if (word_is(l, len, "QUIT", NULL)) {
        *outn = put(out, outlen, 0, "221 2.0.0 " NAME " closing\r\n");
        return SD_CLOSE;
    }
    if (word_is(l, len, "STARTTLS", NULL)) {
        if (d->tls || d->service == MAILSSL_SERVICE_SMTPS) {
            *outn = put(out, outlen, 0, "503 5.5.1 TLS already active\r\n");
            return SD_CONTINUE;
        }
        if (!d->greeted) {
            *outn = put(out, outlen, 0, "503 5.5.1 %s first\r\n", hello);
            return SD_CONTINUE;
        }
        *outn = put(out, outlen, 0, "220 2.0.0 ready to start TLS\r\n");
        return SD_STARTTLS;
    }
    if (word_is(l, len, "NOOP", NULL) || word_is(l, len, "RSET", NULL)) {
        *outn = put(out, outlen, 0, "250 2.0.0 OK\r\n");
        return SD_CONTINUE;
    }
    if (lmtp && word_is(l, len, "EHLO", NULL)) {
        *outn = put(out, outlen, 0, "500 5.5.1 this is LMTP: use LHLO\r\n");
        return SD_CONTINUE;
    }
    *outn = put(out, outlen, 0, "502 5.5.2 command not implemented\r\n");
    return SD_CONTINUE;
}

/* ---- IMAP ----------------------------------------------------------- */

static int imap_line(struct serve_dialogue *d, const char *l, size_t len,
                     char *out, size_t outlen, size_t *outn)
{
    const char *sp = memchr(l, ' ', len), *cmd;
    int taglen;
    size_t at, clen;

    if (!sp || sp == l) {
        *outn = put(out, outlen, 0, "* BAD missing tag or command\r\n");
        return SD_CONTINUE;
    }
    taglen = (int)(sp - l);
    if (taglen > 64) { /* keeps every reply well inside SD_OUT_MAX */
        *outn = put(out, outlen, 0, "* BAD tag too long\r\n");
        return SD_CONTINUE;
    }
    cmd = sp + 1;
    clen = len - (size_t)(cmd - l);
    if (word_is(cmd, clen, "CAPABILITY", NULL)) {
        at = put(out, outlen, 0, "* CAPABILITY ");
        at = imap_caps(d, out, outlen, at);
        *outn = put(out, outlen, at, "\r\n%.*s OK CAPABILITY completed\r\n",
                    taglen, l);
        return SD_CONTINUE;
    }
    if (word_is(cmd, clen, "STARTTLS", NULL)) {
        if (d->tls) {
            *outn = put(out, outlen, 0, "%.*s BAD TLS already active\r\n",
                        taglen, l);
            return SD_CONTINUE;
        }
        *outn = put(out, outlen, 0, "%.*s OK begin TLS negotiation now\r\n",
                    taglen, l);
        return SD_STARTTLS;
    }
    if (word_is(cmd, clen, "LOGOUT", NULL)) {
        *outn = put(out, outlen, 0,
                    "* BYE " NAME " logging out\r\n%.*s OK LOGOUT "
                    "completed\r\n",
                    taglen, l);
        return SD_CLOSE;
    }
    if (word_is(cmd, clen, "NOOP", NULL)) {
        *outn = put(out, outlen, 0, "%.*s OK NOOP completed\r\n", taglen, l);
        return SD_CONTINUE;
    }
    *outn = put(out, outlen, 0,
                "%.*s BAD command unknown or not implemented\r\n", taglen, l);
    return SD_CONTINUE;
}

/* ---- POP3 ----------------------------------------------------------- */

static int pop3_line(struct serve_dialogue *d, const char *l, size_t len,
                     char *out, size_t outlen, size_t *outn)
{
    size_t at;

    if (word_is(l, len, "CAPA", NULL)) {
        at = put(out, outlen, 0, "+OK capability list follows\r\n"
                                 "TOP\r\nUIDL\r\nRESP-CODES\r\n");
        at = put(out, outlen, at, "%s", d->tls ? "SASL PLAIN\r\nUSER\r\n"
                 : d->service == MAILSSL_SERVICE_POP3 ? "STLS\r\n" : "");
        *outn = put(out, outlen, at, "IMPLEMENTATION " NAME "\r\n.\r\n");
        return SD_CONTINUE;
    }
    if (word_is(l, len, "STLS", NULL)) {
        if (d->tls) {
            *outn = put(out, outlen, 0, "-ERR TLS already active\r\n");
            return SD_CONTINUE;
        }
        *outn = put(out, outlen, 0, "+OK begin TLS negotiation\r\n");
        return SD_STARTTLS;
    }
    if (word_is(l, len, "QUIT", NULL)) {
        *outn = put(out, outlen, 0, "+OK " NAME " signing off\r\n");
        return SD_CLOSE;
    }
    *outn = put(out, outlen, 0, "-ERR command not implemented\r\n");
    return SD_CONTINUE;
}

/* ---- ManageSieve ---------------------------------------------------- */

static int sieve_line(struct serve_dialogue *d, const char *l, size_t len,
                      char *out, size_t outlen, size_t *outn)
{
    size_t at;

    if (word_is(l, len, "CAPABILITY", NULL)) {
        at = sieve_caps(d, out, outlen, 0);
        *outn = put(out, outlen, at, "OK \"CAPABILITY completed\"\r\n");
        return SD_CONTINUE;
    }
    if (word_is(l, len, "STARTTLS", NULL)) {
        if (d->tls) {
            *outn = put(out, outlen, 0, "NO \"TLS already active\"\r\n");
            return SD_CONTINUE;
        }
        *outn = put(out, outlen, 0, "OK \"begin TLS negotiation now\"\r\n");
        return SD_STARTTLS;
    }
    if (word_is(l, len, "LOGOUT", NULL)) {
        *outn = put(out, outlen, 0, "OK \"LOGOUT completed\"\r\n");
        return SD_CLOSE;
    }
    if (word_is(l, len, "NOOP", NULL)) {
        *outn = put(out, outlen, 0, "OK \"NOOP completed\"\r\n");
        return SD_CONTINUE;
    }
    *outn = put(out, outlen, 0, "NO \"command not implemented\"\r\n");
    return SD_CONTINUE;
}

int sd_line(struct serve_dialogue *d, const char *line, size_t len,
            char *out, size_t outlen, size_t *outn)
{
    *outn = 0;
    if (outlen)
        out[0] = '\0';
    if (is_smtp(d->service))
        return smtp_line(d, line, len, out, outlen, outn);
    if (is_imap(d->service))
        return imap_line(d, line, len, out, outlen, outn);
    if (is_pop3(d->service))
        return pop3_line(d, line, len, out, outlen, outn);
    return sieve_line(d, line, len, out, outlen, outn);
}

int sd_line_too_long(struct serve_dialogue *d, char *out, size_t outlen,
                     size_t *outn)
{
    const char *msg = is_smtp(d->service)   ? "500 5.5.2 line too long\r\n"
                      : is_imap(d->service) ? "* BYE line too long\r\n"
                      : is_pop3(d->service) ? "-ERR line too long\r\n"
                                            : "BYE \"line too long\"\r\n";
    *outn = put(out, outlen, 0, "%s", msg);
    return SD_CLOSE;
}

int sd_timeout(struct serve_dialogue *d, char *out, size_t outlen,
               size_t *outn)
{
    const char *msg = is_smtp(d->service)
                          ? "421 4.4.2 " NAME " idle too long, closing\r\n"
                      : is_imap(d->service) ? "* BYE idle too long\r\n"
                      : is_pop3(d->service) ? "-ERR idle too long\r\n"
                                            : "BYE \"idle too long\"\r\n";
    *outn = put(out, outlen, 0, "%s", msg);
    return SD_CLOSE;
}
