/*
 * url.c - probe URLs "NAME://HOST[:PORT]" (SPEC.md section 2) and the
 * "HOST[:PORT]" form of a connect-to override.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

static int host_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* Parses PORT (decimal, 1-65535) from s[0..n). */
static int parse_port(const char *s, size_t n, int *port)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 5)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int mailssl__hostport_parse(const char *text, char *host, size_t hostlen,
                            int *port, char *err, size_t errlen)
{
    const char *h, *end, *rest;
    size_t hl, i;

    if (!text || !*text) {
        mailssl__set_error(err, errlen, "empty host");
        return MAILSSL_ERR_SYNTAX;
    }
    if (text[0] == '[') {
        unsigned char a[16];

        h = text + 1;
        end = strchr(h, ']');
        if (!end) {
            mailssl__set_error(err, errlen, "'[' without ']' in \"%s\"", text);
            return MAILSSL_ERR_SYNTAX;
        }
        hl = (size_t)(end - h);
        rest = end + 1;
        if (hl == 0 || hl >= hostlen || hl >= 64) {
            mailssl__set_error(err, errlen, "bad IPv6 literal in \"%s\"", text);
            return MAILSSL_ERR_SYNTAX;
        }
        memcpy(host, h, hl);
        host[hl] = '\0';
        if (inet_pton(AF_INET6, host, a) != 1) {
            mailssl__set_error(err, errlen, "\"%s\" is not an IPv6 address",
                               host);
            return MAILSSL_ERR_SYNTAX;
        }
    } else if (strchr(text, ':') != strrchr(text, ':')) {
        /* a bare IPv6 literal (connect-to ::1): no port possible */
        unsigned char a[16];

        hl = strlen(text);
        rest = text + hl;
        if (hl >= hostlen || hl >= 64 || inet_pton(AF_INET6, text, a) != 1) {
            mailssl__set_error(err, errlen, "\"%s\" is not an IPv6 address "
                               "(write [ADDRESS]:PORT)", text);
            return MAILSSL_ERR_SYNTAX;
        }
        memcpy(host, text, hl + 1);
    } else {
        h = text;
        for (end = h; *end && *end != ':' && *end != '/'; end++)
            ;
        hl = (size_t)(end - h);
        rest = end;
        if (hl == 0 || hl >= hostlen || hl > 253) {
            mailssl__set_error(err, errlen, "bad host length in \"%s\"", text);
            return MAILSSL_ERR_SYNTAX;
        }
        for (i = 0; i < hl; i++) {
            if (!host_char((unsigned char)h[i])) {
                mailssl__set_error(err, errlen,
                                   "invalid character in host of \"%s\"",
                                   text);
                return MAILSSL_ERR_SYNTAX;
            }
        }
        memcpy(host, h, hl);
        host[hl] = '\0';
    }
    if (*rest == ':') {
        const char *ps = rest + 1;
        size_t pl = strcspn(ps, "/");

        if (parse_port(ps, pl, port) < 0) {
            mailssl__set_error(err, errlen, "bad port in \"%s\"", text);
            return MAILSSL_ERR_SYNTAX;
        }
        rest = ps + pl;
    }
    if (*rest == '/' && rest[1] == '\0')
        rest++;
    if (*rest != '\0') {
        mailssl__set_error(err, errlen, "unexpected \"%s\" after the host",
                           rest);
        return MAILSSL_ERR_SYNTAX;
    }
    return 0;
}

int mailssl__url_parse(const char *url, int *service, char *host,
                       size_t hostlen, int *port, char *err, size_t errlen)
{
    const char *sep;
    char name[16];
    size_t nl;
    int svc;

    if (!url) {
        mailssl__set_error(err, errlen, "no URL");
        return MAILSSL_ERR_SYNTAX;
    }
    sep = strstr(url, "://");
    if (!sep) {
        mailssl__set_error(err, errlen,
                           "\"%s\" is not NAME://HOST[:PORT]", url);
        return MAILSSL_ERR_SYNTAX;
    }
    nl = (size_t)(sep - url);
    if (nl == 0 || nl >= sizeof name) {
        mailssl__set_error(err, errlen, "unknown service in \"%s\"", url);
        return MAILSSL_ERR_SYNTAX;
    }
    memcpy(name, url, nl);
    name[nl] = '\0';
    svc = mailssl_service_from_name(name);
    if (svc <= MAILSSL_SERVICE_ANY) {
        mailssl__set_error(err, errlen,
                           "unknown service \"%s\" (smtp, submission, smtps, "
                           "lmtp, imap, imaps, pop3, pop3s, sieve)",
                           name);
        return MAILSSL_ERR_SYNTAX;
    }
    if (sep[3] != '[' && strchr(sep + 3, ':') != strrchr(sep + 3, ':')) {
        mailssl__set_error(err, errlen,
                           "IPv6 literals go in brackets: NAME://[ADDRESS]:PORT");
        return MAILSSL_ERR_SYNTAX;
    }
    *port = mailssl_service_default_port(svc);
    if (mailssl__hostport_parse(sep + 3, host, hostlen, port, err, errlen) < 0)
        return MAILSSL_ERR_SYNTAX;
    *service = svc;
    return 0;
}

void mailssl__url_format(struct mailssl_buf *b, int service, const char *host,
                         int port)
{
    const char *name = mailssl_service_name(service);

    if (strchr(host, ':'))
        mailssl__buf_printf(b, "%s://[%s]:%d", name ? name : "?", host, port);
    else
        mailssl__buf_printf(b, "%s://%s:%d", name ? name : "?", host, port);
}
