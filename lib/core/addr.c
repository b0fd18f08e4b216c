/*
 * addr.c - addresses and names of the ground layer, shared by the binding
 * store (lib/store/) and the probe (lib/probe/url.c, net.c, probe_tls.c):
 * IP literals, address keys ("*", 0.0.0.0, ::, exact, CIDR) with their
 * normalisation (IPv4-mapped IPv6 is IPv4, host bits, /32 and /128),
 * host names and SNI (lower case, no trailing dot, IP literals ignored:
 * SPEC.md section 3), and a socket address as an address key.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

int mailssl__is_ip_literal(const char *s)
{
    unsigned char a[16];

    return s && (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1);
}

/* ---- parsing and normalization ----------------------------------------- */

int mailssl__addr_bits(int family)
{
    return family == 4 ? 32 : family == 6 ? 128 : 0;
}

/* Zeroes the bits after prefix; returns 1 when some were set. */
int mailssl__clear_host_bits(struct mailssl__addr *a)
{
    int bytes = mailssl__addr_bits(a->family) / 8, i, set = 0;
    for (i = 0; i < bytes; i++) {
        int keep = a->prefix - i * 8;
        unsigned char m = keep >= 8 ? 0xff
                          : keep <= 0 ? 0
                                      : (unsigned char)(0xff << (8 - keep));
        if (a->b[i] & ~m)
            set = 1;
        a->b[i] &= m;
    }
    return set;
}

int mailssl__parse_ip(const char *text, struct mailssl__addr *a)
{
    unsigned char b[16];
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, text, b) == 1) {
        a->family = 4;
        memcpy(a->b, b, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, b) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                                 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0) {
            a->family = 4;
            memcpy(a->b, b + 12, 4);
        } else {
            a->family = 6;
            memcpy(a->b, b, 16);
        }
        return 0;
    }
    return -1;
}

void mailssl__addr_text(const struct mailssl__addr *a, char *buf, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->family == 0) {
        snprintf(buf, n, "*");
        return;
    }
    inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, ip, sizeof ip);
    if (a->prefix == 0 || a->prefix == mailssl__addr_bits(a->family))
        snprintf(buf, n, "%s", ip);
    else
        snprintf(buf, n, "%s/%d", ip, a->prefix);
}

int mailssl__parse_address(const char *text, int listener,
                           struct mailssl__addr *out, char *err, size_t n)
{
    char ip[64];
    const char *slash;
    int prefix = -1, was_mapped;

    if (!text || !*text) {
        mailssl__set_error(err, n, "missing address");
        return MAILSSL_ERR_INVALID;
    }
    if (strcmp(text, "*") == 0) {
        if (listener) {
            mailssl__set_error(err, n,
                               "a listener needs an exact address, or "
                               "0.0.0.0 / :: for every address of a "
                               "family, not \"*\"");
            return MAILSSL_ERR_INVALID;
        }
        memset(out, 0, sizeof *out);
        return MAILSSL_OK;
    }
    slash = strchr(text, '/');
    if (strlen(text) >= sizeof ip) {
        mailssl__set_error(err, n, "invalid address \"%.60s...\": too long",
                           text);
        return MAILSSL_ERR_INVALID;
    }
    snprintf(ip, sizeof ip, "%s", text);
    if (slash) {
        const char *p = slash + 1;
        ip[slash - text] = '\0';
        if (listener) {
            mailssl__set_error(err, n,
                               "a listener needs an exact address, or "
                               "0.0.0.0 / :: for every address of a "
                               "family, not a CIDR (\"%s\")",
                               text);
            return MAILSSL_ERR_INVALID;
        }
        prefix = 0;
        if (!*p || strlen(p) > 3)
            prefix = -2;
        for (; *p && prefix >= 0; p++)
            prefix = isdigit((unsigned char)*p) ? prefix * 10 + (*p - '0')
                                                : -2;
    }
    was_mapped = strchr(ip, ':') != NULL;
    if (mailssl__parse_ip(ip, out) < 0) {
        mailssl__set_error(err, n,
                           "invalid address \"%s\": not an IPv4 or IPv6 "
                           "address, a CIDR, 0.0.0.0, :: or *",
                           text);
        return MAILSSL_ERR_INVALID;
    }
    was_mapped = was_mapped && out->family == 4;
    if (prefix == -2 ||
        prefix > (was_mapped ? 128 : mailssl__addr_bits(out->family)) ||
        (was_mapped && prefix >= 0 && prefix < 96)) {
        mailssl__set_error(err, n,
                           "invalid address \"%s\": the prefix length must "
                           "be a number from %d to %d",
                           text, was_mapped ? 96 : 0,
                           was_mapped ? 128 : mailssl__addr_bits(out->family));
        return MAILSSL_ERR_INVALID;
    }
    if (was_mapped && prefix >= 0)
        prefix -= 96;
    if (prefix < 0) {
        /* an exact address; 0.0.0.0 and :: mean the whole family */
        static const unsigned char zero[16];
        out->prefix = memcmp(out->b, zero, 16) == 0 ? 0
                                                    : mailssl__addr_bits(out->family);
        return MAILSSL_OK;
    }
    out->prefix = prefix;
    if (mailssl__clear_host_bits(out)) {
        char fixed[64];
        mailssl__addr_text(out, fixed, sizeof fixed);
        mailssl__set_error(err, n,
                           "invalid address \"%s\": host bits are set after "
                           "the prefix (the network is %s)",
                           text, fixed);
        return MAILSSL_ERR_INVALID;
    }
    return MAILSSL_OK;
}

/* Lower-cases a host name into buf, drops one trailing dot, checks the
 * syntax (labels of 1-63 letters, digits, '-' or '_', neither starting
 * nor ending with '-' (RFC 952/1123), 253 in all).
 * Returns 0, or -1 with the reason in *why. */
static int host_normalize(const char *in, char *buf, size_t n,
                          const char **why)
{
    size_t len = strlen(in), i, label = 0;

    if (len && in[len - 1] == '.')
        len--;
    if (len == 0 || len > 253 || len >= n) {
        *why = len == 0 ? "empty" : "longer than 253 characters";
        return -1;
    }
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '.') {
            if (label == 0) {
                *why = "an empty label";
                return -1;
            }
            if (in[i - 1] == '-') {
                *why = "a label that ends with '-'";
                return -1;
            }
            label = 0;
        } else if (ch == '-' && label == 0) {
            *why = "a label that starts with '-'";
            return -1;
        } else if (isalnum(ch) || ch == '-' || ch == '_') {
            if (++label > 63) {
                *why = "a label longer than 63 characters";
                return -1;
            }
        } else {
            *why = "a character that is not a letter, digit, '-' or '_'";
            return -1;
        }
        buf[i] = (char)tolower(ch);
    }
    if (label == 0) {
        *why = "an empty label";
        return -1;
    }
    if (in[len - 1] == '-') {
        *why = "a label that ends with '-'";
        return -1;
    }
    buf[len] = '\0';
    return 0;
}

/* A name with a ':' is taken for an IPv6 attempt (a zone index, a typo),
 * so that its message points at RFC 6066, not at a bad character. */
static int is_ip_literal(const char *s)
{
    return strchr(s, ':') != NULL || mailssl__is_ip_literal(s);
}

const char *mailssl__sni_normalize(const char *sni, char *buf, size_t n)
{
    const char *why;
    if (!sni || !*sni || is_ip_literal(sni) ||
        host_normalize(sni, buf, n, &why) < 0)
        return NULL;
    return buf;
}

int mailssl__parse_name(const char *text, int *kind, char **out, char *err,
                        size_t n)
{
    char buf[256];
    const char *why = NULL, *host = text;

    *out = NULL;
    if (!text || strcmp(text, "*") == 0) {
        *kind = MAILSSL__NAME_ANY;
        return MAILSSL_OK;
    }
    *kind = MAILSSL__NAME_EXACT;
    if (strncmp(text, "*.", 2) == 0) {
        *kind = MAILSSL__NAME_WILD;
        host = text + 2;
    }
    if (is_ip_literal(host)) {
        mailssl__set_error(err, n,
                           "invalid server name \"%s\": clients never send "
                           "an IP address as a server name (RFC 6066); bind "
                           "the address with name *",
                           text);
        return MAILSSL_ERR_INVALID;
    }
    if (host_normalize(host, buf, sizeof buf, &why) < 0) {
        mailssl__set_error(err, n,
                           "invalid server name \"%s\": %s (a host name, "
                           "*.domain or *)",
                           text, why);
        return MAILSSL_ERR_INVALID;
    }
    if (!(*out = mailssl__strdup(buf)))
        return MAILSSL_ERR_NOMEM;
    return MAILSSL_OK;
}

int mailssl__sockaddr_addr(const struct sockaddr *sa, struct mailssl__addr *a,
                           int *port)
{
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a->family = 4;
        a->prefix = 32;
        memcpy(a->b, &in->sin_addr, 4);
        *port = ntohs(in->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                                 0, 0, 0, 0, 0xff, 0xff};
        const unsigned char *b = in6->sin6_addr.s6_addr;
        if (memcmp(b, mapped, 12) == 0) {
            a->family = 4;
            a->prefix = 32;
            memcpy(a->b, b + 12, 4);
        } else {
            a->family = 6;
            a->prefix = 128;
            memcpy(a->b, b, 16);
        }
        *port = ntohs(in6->sin6_port);
        return 0;
    }
    return -1;
}
