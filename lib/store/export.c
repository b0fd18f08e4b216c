/*
 * export.c - the bindings and listeners of a store written as the TLS
 * configuration of a server that does not link the store (issue 12):
 * Dovecot (local / local_name / protocol filters, inet_listener blocks)
 * and Postfix (tls_server_sni_maps content, master.cf services with
 * -o smtpd_tls_chain_files). A starting point, not a whole config: what
 * the server cannot express is said in comments, never dropped silently.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* PEM files are the only credentials both servers read by name. */
static int exportable(const struct mailssl__binding *b)
{
    return b->cred && b->cred->format == MAILSSL__CRED_PEM &&
           b->cred->cert_source && b->cred->key_source;
}

static void where(const struct mailssl__binding *b, char *buf, size_t n)
{
    if (b->origin)
        snprintf(buf, n, "%s", b->origin);
    else
        mailssl__binding_text(b, buf, n);
}

static void not_exportable(struct mailssl_buf *o,
                           const struct mailssl__binding *b)
{
    char w[400];

    where(b, w, sizeof w);
    mailssl__buf_printf(o,
                        "# binding %s: not exported: its credential is not "
                        "a PEM certificate and key file (convert PKCS#12, "
                        "PKCS#11 or in-memory credentials to PEM files)\n",
                        w);
}

/* ---- Dovecot ------------------------------------------------------------ */

/* Dovecot's protocol of a service, or NULL when Dovecot does not serve
 * it (SMTP and submission are the MTA's: --export postfix). */
static const char *dovecot_protocol(int service)
{
    switch (service) {
    case MAILSSL_SERVICE_IMAP:
    case MAILSSL_SERVICE_IMAPS:
        return "imap";
    case MAILSSL_SERVICE_POP3:
    case MAILSSL_SERVICE_POP3S:
        return "pop3";
    case MAILSSL_SERVICE_SIEVE:
        return "sieve";
    case MAILSSL_SERVICE_LMTP:
        return "lmtp";
    default:
        return NULL;
    }
}

static const char *dovecot_login_service(int service)
{
    switch (service) {
    case MAILSSL_SERVICE_IMAP:
    case MAILSSL_SERVICE_IMAPS:
        return "imap-login";
    case MAILSSL_SERVICE_POP3:
    case MAILSSL_SERVICE_POP3S:
        return "pop3-login";
    case MAILSSL_SERVICE_SIEVE:
        return "managesieve-login";
    case MAILSSL_SERVICE_LMTP:
        return "lmtp";
    default:
        return NULL;
    }
}

/* The block a binding goes to: "" (global), "local ADDR", "local_name N"
 * and an optional protocol filter inside; equal keys are one Dovecot
 * block, so the second binding there cannot be expressed. */
struct dkey {
    char block[300];
    const char *protocol; /* NULL: every protocol */
    const struct mailssl__binding *b;
};

static void dovecot_block(const struct mailssl__binding *b, struct dkey *k)
{
    char at[64];

    k->b = b;
    k->protocol = b->service == MAILSSL_SERVICE_ANY
                      ? NULL
                      : dovecot_protocol(b->service);
    if (b->name_kind == MAILSSL__NAME_EXACT)
        snprintf(k->block, sizeof k->block, "local_name %s", b->name);
    else if (b->name_kind == MAILSSL__NAME_WILD)
        snprintf(k->block, sizeof k->block, "local_name *.%s", b->name);
    else if (b->addr.family == 0 || b->addr.prefix == 0)
        k->block[0] = '\0';
    else {
        mailssl__addr_text(&b->addr, at, sizeof at);
        snprintf(k->block, sizeof k->block, "local %s", at);
    }
}

static int same_dkey(const struct dkey *a, const struct dkey *b)
{
    return strcmp(a->block, b->block) == 0 &&
           ((!a->protocol && !b->protocol) ||
            (a->protocol && b->protocol &&
             strcmp(a->protocol, b->protocol) == 0));
}

static void dovecot_ssl_lines(struct mailssl_buf *o, const char *indent,
                              const struct mailssl__binding *b)
{
    mailssl__buf_printf(o, "%sssl_cert = <%s\n%sssl_key = <%s\n", indent,
                        b->cred->cert_source, indent, b->cred->key_source);
}

static void dovecot_notes(struct mailssl_buf *o, const char *indent,
                          const struct mailssl__binding *b)
{
    char w[400];

    where(b, w, sizeof w);
    mailssl__buf_printf(o, "%s# binding %s\n", indent, w);
    if (b->port != MAILSSL_PORT_ANY)
        mailssl__buf_printf(o,
                            "%s# (its port %d cannot be expressed in "
                            "Dovecot: this applies to every port)\n",
                            indent, b->port);
    if (b->name_kind != MAILSSL__NAME_ANY &&
        (b->addr.family != 0 && b->addr.prefix != 0))
        mailssl__buf_printf(o,
                            "%s# (its address cannot be expressed together "
                            "with a name: this applies to every address)\n",
                            indent);
}

/* Writes the bindings whose block is `block`, depth levels indented. */
static void dovecot_entries(struct mailssl_buf *o, const struct dkey *k,
                            size_t n, const char *block, int depth)
{
    static const char pad[] = "      ";
    const char *in = pad + 6 - 2 * depth, *in2 = pad + 6 - 2 * (depth + 1);
    size_t i;

    for (i = 0; i < n; i++) {
        if (!k[i].b || strcmp(k[i].block, block) != 0)
            continue;
        dovecot_notes(o, in, k[i].b);
        if (k[i].protocol) {
            mailssl__buf_printf(o, "%sprotocol %s {\n", in, k[i].protocol);
            dovecot_ssl_lines(o, in2, k[i].b);
            mailssl__buf_printf(o, "%s}\n", in);
        } else {
            dovecot_ssl_lines(o, in, k[i].b);
        }
    }
}

/* 1 when entry i is the first of its block. */
static int first_of_block(const struct dkey *k, size_t i)
{
    size_t j;

    if (!k[i].b)
        return 0;
    for (j = 0; j < i; j++)
        if (k[j].b && strcmp(k[j].block, k[i].block) == 0)
            return 0;
    return 1;
}

/* The local_name blocks, nested depth levels deep. */
static void dovecot_names(struct mailssl_buf *o, const struct dkey *k,
                          size_t n, int depth)
{
    const char *in = depth ? "  " : "";
    size_t i;

    for (i = 0; i < n; i++) {
        if (!first_of_block(k, i) ||
            strncmp(k[i].block, "local_name ", 11) != 0)
            continue;
        mailssl__buf_printf(o, "%s%s {\n", in, k[i].block);
        dovecot_entries(o, k, n, k[i].block, depth + 1);
        mailssl__buf_printf(o, "%s}\n", in);
    }
}

/* One "local ADDR { }" with its own bindings and, nested, every name:
 * Dovecot reports a conflict when a local and a top-level local_name
 * block both match a connection. */
static void dovecot_local(struct mailssl_buf *o, const struct dkey *k,
                          size_t n, const char *block)
{
    mailssl__buf_printf(o, "%s {\n", block);
    dovecot_entries(o, k, n, block, 1);
    dovecot_names(o, k, n, 1);
    mailssl__buf_puts(o, "}\n");
}

static void dovecot_blocks(struct mailssl_buf *o, const struct dkey *k,
                           size_t n, const struct mailssl__table *t)
{
    size_t i, j, nl = mailssl__table_listener_count(t);
    int has_local = 0;

    dovecot_entries(o, k, n, "", 0);
    for (i = 0; i < n; i++)
        has_local |= k[i].b && strncmp(k[i].block, "local ", 6) == 0;
    if (!has_local) {
        dovecot_names(o, k, n, 0);
        return;
    }
    mailssl__buf_puts(o, "# names are repeated inside each local block "
                         "(Dovecot: a local and a local_name\n# block "
                         "may not both set ssl_cert for one connection)\n");
    for (i = 0; i < n; i++)
        if (first_of_block(k, i) && strncmp(k[i].block, "local ", 6) == 0)
            dovecot_local(o, k, n, k[i].block);
    /* listen addresses without a binding of their own get the names too */
    for (i = 0; i < nl; i++) {
        const struct mailssl__listener *l = mailssl__table_listener(t, i);
        char at[64], block[80];
        int seen = 0;

        if (l->addr.prefix == 0)
            continue;
        mailssl__addr_text(&l->addr, at, sizeof at);
        snprintf(block, sizeof block, "local %s", at);
        for (j = 0; j < n && !seen; j++)
            seen = k[j].b && strcmp(k[j].block, block) == 0;
        for (j = 0; j < i && !seen; j++) {
            const struct mailssl__listener *e = mailssl__table_listener(t, j);
            seen = e->addr.family == l->addr.family &&
                   e->addr.prefix == l->addr.prefix &&
                   memcmp(e->addr.b, l->addr.b, sizeof e->addr.b) == 0;
        }
        if (!seen)
            dovecot_local(o, k, n, block);
    }
}

static void dovecot_listeners(struct mailssl_buf *o,
                              const struct mailssl__table *t)
{
    static const int order[] = {MAILSSL_SERVICE_IMAP, MAILSSL_SERVICE_POP3,
                                MAILSSL_SERVICE_SIEVE, MAILSSL_SERVICE_LMTP};
    static const char *const defaults[][2] = {
        {"imap", "imaps"}, {"pop3", "pop3s"}, {"sieve", NULL}, {NULL, NULL}};
    size_t nl = mailssl__table_listener_count(t), i, k;

    for (k = 0; k < sizeof order / sizeof *order; k++) {
        const char *svc = dovecot_login_service(order[k]);
        int opened = 0;

        for (i = 0; i < nl; i++) {
            const struct mailssl__listener *l = mailssl__table_listener(t, i);
            const char *ls = dovecot_login_service(l->service);
            char at[64], id[80], *c;
            size_t d;

            if (!ls || strcmp(ls, svc) != 0)
                continue;
            if (!opened) {
                mailssl__buf_printf(o, "service %s {\n", svc);
                /* Dovecot's built-in listeners would open their default
                 * ports next to these */
                for (d = 0; d < 2; d++)
                    if (defaults[k][d])
                        mailssl__buf_printf(o,
                                            "  inet_listener %s {\n"
                                            "    port = 0\n  }\n",
                                            defaults[k][d]);
                opened = 1;
            }
            mailssl__addr_text(&l->addr, at, sizeof at);
            snprintf(id, sizeof id, "%s_%s_%d",
                     mailssl_service_name(l->service), at, l->port);
            for (c = id; *c; c++)
                if (*c == '.' || *c == ':')
                    *c = '_';
            mailssl__buf_printf(o,
                                "  inet_listener %s {\n    address = %s\n"
                                "    port = %d\n%s  }\n",
                                id, l->addr.prefix == 0
                                        ? (l->addr.family == 4 ? "*" : "::")
                                        : at,
                                l->port,
                                mailssl_service_implicit_tls(l->service) == 1
                                    ? "    ssl = yes\n"
                                    : "");
        }
        if (opened)
            mailssl__buf_puts(o, "}\n");
    }
}

static void export_dovecot(struct mailssl_buf *o,
                           const struct mailssl__table *t, const char *src)
{
    size_t n = mailssl__table_count(t), i, j;
    struct dkey *k = calloc(n ? n : 1, sizeof *k);
    static const int protos[] = {MAILSSL_SERVICE_IMAP, MAILSSL_SERVICE_POP3,
                                 MAILSSL_SERVICE_SIEVE, MAILSSL_SERVICE_LMTP};
    int listed = 0;

    if (!k) {
        o->oom = 1;
        return;
    }
    mailssl__buf_printf(o,
                        "# Dovecot TLS configuration exported by libmailssl "
                        "from %s.\n# A starting point: review it, then "
                        "include it from dovecot.conf.\n# Dovecot filters "
                        "by address (local) and by name (local_name) but "
                        "not by port.\n",
                        src);
    for (j = 0; j < sizeof protos / sizeof *protos; j++) {
        const char *p = dovecot_protocol(protos[j]);
        for (i = 0; i < mailssl__table_listener_count(t); i++) {
            const char *lp =
                dovecot_protocol(mailssl__table_listener(t, i)->service);
            if (lp && strcmp(lp, p) == 0)
                break;
        }
        if (i < mailssl__table_listener_count(t))
            mailssl__buf_printf(o, "%s%s", listed++ ? " " : "protocols = ",
                                p);
    }
    if (listed)
        mailssl__buf_puts(o, "\n");
    mailssl__buf_puts(o, "ssl = yes\n");
    for (i = 0; i < n; i++) {
        const struct mailssl__binding *b = mailssl__table_binding(t, i);

        if (b->service != MAILSSL_SERVICE_ANY &&
            !dovecot_protocol(b->service)) {
            char w[400];
            where(b, w, sizeof w);
            mailssl__buf_printf(o,
                                "# binding %s: %s is not served by Dovecot "
                                "(see --export postfix)\n",
                                w, mailssl_service_name(b->service));
            continue;
        }
        if (!exportable(b)) {
            not_exportable(o, b);
            continue;
        }
        dovecot_block(b, &k[i]);
        for (j = 0; j < i; j++)
            if (k[j].b && same_dkey(&k[j], &k[i]))
                break;
        if (j < i) {
            char w[400], w2[400];
            where(b, w, sizeof w);
            where(k[j].b, w2, sizeof w2);
            mailssl__buf_printf(o,
                                "# binding %s: not exported: Dovecot cannot "
                                "tell it apart from binding %s (ports, or "
                                "imap/imaps, pop3/pop3s are one protocol "
                                "there)\n",
                                w, w2);
            k[i].b = NULL;
        }
    }
    dovecot_blocks(o, k, n, t);
    dovecot_listeners(o, t);
    free(k);
}

/* ---- Postfix ------------------------------------------------------------ */

static int postfix_service(int service)
{
    return service == MAILSSL_SERVICE_SMTP ||
           service == MAILSSL_SERVICE_SUBMISSION ||
           service == MAILSSL_SERVICE_SMTPS;
}

/* "KEY,CERT" (Postfix wants each key before its certificates), or the
 * one file when it holds both. */
static void chain_files(struct mailssl_buf *o, const mailssl_credential *c)
{
    if (strcmp(c->key_source, c->cert_source) == 0)
        mailssl__buf_puts(o, c->cert_source);
    else
        mailssl__buf_printf(o, "%s,%s", c->key_source, c->cert_source);
}

#define POSTFIX_SNI_MAP "/etc/postfix/mailssl_sni"

static void export_postfix(struct mailssl_buf *o,
                           const struct mailssl__table *t, const char *src)
{
    size_t n = mailssl__table_count(t), i;
    int names = 0;

    mailssl__buf_printf(o,
                        "# Postfix TLS configuration exported by libmailssl "
                        "from %s.\n# A starting point: review it, then merge "
                        "each part into the file it names.\n",
                        src);
    mailssl__buf_puts(o, "#### main.cf\n");
    for (i = 0; i < n; i++) {
        const struct mailssl__binding *b = mailssl__table_binding(t, i);
        names += b->name_kind != MAILSSL__NAME_ANY &&
                 (b->service == MAILSSL_SERVICE_ANY ||
                  postfix_service(b->service));
    }
    if (names)
        mailssl__buf_puts(o, "tls_server_sni_maps = hash:" POSTFIX_SNI_MAP
                             "\n");
    mailssl__buf_puts(o, "# the certificate of each listener is set in "
                         "master.cf below\n");
    mailssl__buf_printf(o, "#### %s (then: postmap -F hash:%s)\n",
                        POSTFIX_SNI_MAP, POSTFIX_SNI_MAP);
    for (i = 0; i < n; i++) {
        const struct mailssl__binding *b = mailssl__table_binding(t, i);
        char w[400];

        if (b->name_kind == MAILSSL__NAME_ANY ||
            (b->service != MAILSSL_SERVICE_ANY &&
             !postfix_service(b->service)))
            continue;
        if (!exportable(b)) {
            not_exportable(o, b);
            continue;
        }
        where(b, w, sizeof w);
        mailssl__buf_printf(o, "# binding %s%s\n", w,
                            b->addr.family != 0 && b->addr.prefix != 0
                                ? " (its address cannot be expressed: "
                                  "this applies to every listener)"
                                : "");
        /* a leading dot: every name below the domain (Postfix's
         * parent_domain_matches_subdomains form of "*.domain") */
        mailssl__buf_printf(o, "%s%s ",
                            b->name_kind == MAILSSL__NAME_WILD ? "." : "",
                            b->name);
        chain_files(o, b->cred);
        mailssl__buf_puts(o, "\n");
    }
    mailssl__buf_puts(o, "#### master.cf\n");
    for (i = 0; i < mailssl__table_listener_count(t); i++) {
        const struct mailssl__listener *l = mailssl__table_listener(t, i);
        const struct mailssl__binding *b;
        char lt[128], at[64];
        int miss;

        if (!postfix_service(l->service))
            continue;
        mailssl__listener_text(l, lt, sizeof lt);
        mailssl__addr_text(&l->addr, at, sizeof at);
        b = mailssl__table_lookup(t, l->service, &l->addr, l->port, NULL, 0,
                                  &miss, NULL);
        mailssl__buf_printf(o, "# listen %s\n", lt);
        if (l->addr.prefix == 0)
            mailssl__buf_printf(o, "%d inet n - n - - smtpd\n", l->port);
        else
            mailssl__buf_printf(o,
                                l->addr.family == 6
                                    ? "[%s]:%d inet n - n - - smtpd\n"
                                    : "%s:%d inet n - n - - smtpd\n",
                                at, l->port);
        if (l->service == MAILSSL_SERVICE_SMTPS)
            mailssl__buf_puts(o, "  -o smtpd_tls_wrappermode=yes\n"
                                 "  -o smtpd_tls_security_level=encrypt\n");
        else
            mailssl__buf_puts(o, "  -o smtpd_tls_security_level=may\n");
        if (!b) {
            mailssl__buf_puts(o, "  # no binding covers this listener: "
                                 "clients will see the handshake dropped\n");
        } else if (!exportable(b)) {
            not_exportable(o, b);
        } else {
            mailssl__buf_puts(o, "  -o smtpd_tls_chain_files=");
            chain_files(o, b->cred);
            mailssl__buf_puts(o, "\n");
        }
    }
}

MAILSSL_EXPORT char *mailssl_store_export(mailssl_store *s,
                                          const char *format)
{
    const struct mailssl__table *t;
    struct mailssl_buf o;
    char *text;
    int tok, dovecot;

    if (!s || !format) {
        mailssl__store_invalid(s, "NULL store or format");
        return NULL;
    }
    dovecot = strcmp(format, "dovecot") == 0;
    if (!dovecot && strcmp(format, "postfix") != 0) {
        mailssl__store_invalid(s, "export format is not dovecot or "
                                  "postfix");
        return NULL;
    }
    mailssl__buf_init(&o);
    mailssl__store_lock(s);
    t = mailssl__store_read_begin(s, &tok);
    {
        /* FILE of the first binding's "FILE:LINE", for the header */
        const char *origin = mailssl__table_count(t)
                                 ? mailssl__table_binding(t, 0)->origin
                                 : NULL;
        const char *colon = origin ? strrchr(origin, ':') : NULL;
        char file[512];

        if (colon)
            snprintf(file, sizeof file, "%.*s", (int)(colon - origin),
                     origin);
        else
            snprintf(file, sizeof file, "the store");
        if (dovecot)
            export_dovecot(&o, t, file);
        else
            export_postfix(&o, t, file);
    }
    mailssl__store_read_end(s, tok);
    text = mailssl__buf_finish(&o);
    if (!text)
        mailssl__set_error(mailssl__store_errbuf(s), MAILSSL_ERRLEN,
                           "export: out of memory");
    mailssl__store_unlock(s);
    return text;
}
