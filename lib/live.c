/*
 * live.c - the live audit (mailssl-check --live, issue 12): turns every
 * listen line of a store, and every exact SNI name bound on it, into a
 * probe of the running server, and compares what the server presents
 * with what the bindings say (SPEC.md section 7): no-binding-live when
 * the handshake is dropped, cert-drift when the certificate differs.
 * The probes are ordinary unstarted mailssl_probe objects, so callers
 * drive them with the batch or their own event loop.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_internal.h"
#include "store.h"

struct live_target {
    char listener[128];          /* "imaps 192.0.2.10 993" */
    char *name;                  /* SNI name, NULL: none sent */
    mailssl_probe *probe;
    int expected;                /* a binding covers it */
    char sha256[65];             /* of the bound leaf */
    int64_t not_after;
    char *source;                /* cert file (or "memory") */
    char *origin;                /* "FILE:LINE" or NULL */
};

struct mailssl_live {
    struct live_target *t;
    size_t n, cap;
};

static void target_clear(struct live_target *t)
{
    free(t->name);
    free(t->source);
    free(t->origin);
    mailssl_probe_free(t->probe);
}

MAILSSL_EXPORT void mailssl_live_free(mailssl_live *live)
{
    size_t i;

    if (!live)
        return;
    for (i = 0; i < live->n; i++)
        target_clear(&live->t[i]);
    free(live->t);
    free(live);
}

/* Where a probe connects for a listener: the address itself, or the
 * loopback address of the family for 0.0.0.0 / :: (the one address every
 * host has; a live audit runs on the server). */
static void connect_address(const struct mailssl__listener *l,
                            struct mailssl__addr *a, char *text, size_t n)
{
    char err[128];

    if (l->addr.prefix == 0)
        (void)mailssl__parse_address(l->addr.family == 4 ? "127.0.0.1"
                                                         : "::1",
                                     1, a, err, sizeof err);
    else
        *a = l->addr;
    mailssl__addr_text(a, text, n);
}

/* Records what the winning binding for (listener, name) presents. */
static int expect(struct live_target *t, const struct mailssl__binding *b)
{
    struct mailssl_certinfo ci;

    if (!b || !b->cred || b->cred->ncerts == 0)
        return MAILSSL_OK;
    if (mailssl__certinfo_init(&ci, b->cred->certs[0]) < 0)
        return MAILSSL_ERR_NOMEM;
    t->expected = 1;
    memcpy(t->sha256, ci.sha256, sizeof t->sha256);
    t->not_after = ci.not_after;
    mailssl__certinfo_clear(&ci);
    t->source = mailssl__strdup(b->cred->cert_source
                                    ? b->cred->cert_source
                                    : "memory");
    t->origin = mailssl__strdup(b->origin);
    return t->source && (t->origin || !b->origin) ? MAILSSL_OK
                                                  : MAILSSL_ERR_NOMEM;
}

static int add_target(mailssl_live *lv, const struct mailssl__table *tab,
                      const struct mailssl__listener *l,
                      const struct mailssl__addr *ca, const char *ctext,
                      const char *name, int strict)
{
    struct live_target *t;
    struct mailssl_buf url;
    const struct mailssl__binding *b;
    char *u;
    int miss, rc;

    if (lv->n == lv->cap) {
        size_t nc = lv->cap ? lv->cap * 2 : 16;
        struct live_target *nt = realloc(lv->t, nc * sizeof *nt);
        if (!nt)
            return MAILSSL_ERR_NOMEM;
        lv->t = nt;
        lv->cap = nc;
    }
    t = &lv->t[lv->n];
    memset(t, 0, sizeof *t);
    lv->n++;
    mailssl__listener_text(l, t->listener, sizeof t->listener);
    if (name && !(t->name = mailssl__strdup(name)))
        return MAILSSL_ERR_NOMEM;
    b = mailssl__table_lookup(tab, l->service, ca, l->port, name, strict,
                              &miss, NULL);
    if ((rc = expect(t, b)) < 0)
        return rc;
    mailssl__buf_init(&url);
    mailssl__url_format(&url, l->service, name ? name : ctext, l->port);
    if (!(u = mailssl__buf_finish(&url)))
        return MAILSSL_ERR_NOMEM;
    t->probe = mailssl_probe_new(u);
    free(u);
    if (!t->probe)
        return MAILSSL_ERR_NOMEM;
    if (name) {
        char to[80];
        snprintf(to, sizeof to, ca->family == 6 ? "[%s]" : "%s", ctext);
        rc = mailssl_probe_set_connect_to(t->probe, to);
        if (rc < 0)
            return rc;
    } else {
        /* "" is the engine's own mark: no SNI, no name check */
        if (!(t->probe->servername = mailssl__strdup("")))
            return MAILSSL_ERR_NOMEM;
    }
    return MAILSSL_OK;
}

/* The exact names bound on a listener: those whose lookup with that name
 * as SNI is won by a binding for exactly that name. */
static int add_listener(mailssl_live *lv, const struct mailssl__table *tab,
                        const struct mailssl__listener *l, int strict)
{
    struct mailssl__addr ca;
    char ctext[64];
    size_t i, j, first;
    int rc;

    connect_address(l, &ca, ctext, sizeof ctext);
    first = lv->n;
    if ((rc = add_target(lv, tab, l, &ca, ctext, NULL, strict)) < 0)
        return rc;
    for (i = 0; i < mailssl__table_count(tab); i++) {
        const struct mailssl__binding *b = mailssl__table_binding(tab, i);
        const struct mailssl__binding *w;
        int miss, seen = 0;

        if (b->name_kind != MAILSSL__NAME_EXACT)
            continue;
        for (j = first + 1; j < lv->n && !seen; j++)
            seen = strcmp(lv->t[j].name, b->name) == 0;
        if (seen)
            continue;
        w = mailssl__table_lookup(tab, l->service, &ca, l->port, b->name,
                                  strict, &miss, NULL);
        if (!w || w->name_kind != MAILSSL__NAME_EXACT ||
            strcmp(w->name, b->name) != 0)
            continue;
        if ((rc = add_target(lv, tab, l, &ca, ctext, b->name, strict)) < 0)
            return rc;
    }
    return MAILSSL_OK;
}

MAILSSL_EXPORT mailssl_live *mailssl_live_new(mailssl_store *store)
{
    const struct mailssl__table *tab;
    mailssl_live *lv;
    size_t i;
    int tok, rc = MAILSSL_OK;

    if (!store || !mailssl__initialized())
        return NULL;
    if (!(lv = calloc(1, sizeof *lv)))
        return NULL;
    tab = mailssl__store_read_begin(store, &tok);
    for (i = 0; i < mailssl__table_listener_count(tab) && rc == MAILSSL_OK;
         i++)
        rc = add_listener(lv, tab, mailssl__table_listener(tab, i),
                          mailssl__store_strict(store));
    mailssl__store_read_end(store, tok);
    if (rc < 0) {
        mailssl_live_free(lv);
        return NULL;
    }
    return lv;
}

MAILSSL_EXPORT size_t mailssl_live_count(const mailssl_live *live)
{
    return live ? live->n : 0;
}

MAILSSL_EXPORT mailssl_probe *mailssl_live_probe(mailssl_live *live,
                                                 size_t index)
{
    return live && index < live->n ? live->t[index].probe : NULL;
}

MAILSSL_EXPORT const char *mailssl_live_listener(const mailssl_live *live,
                                                 size_t index)
{
    return live && index < live->n ? live->t[index].listener : NULL;
}

MAILSSL_EXPORT const char *mailssl_live_name(const mailssl_live *live,
                                             size_t index)
{
    return live && index < live->n ? live->t[index].name : NULL;
}

MAILSSL_EXPORT const char *
mailssl_live_expected_sha256(const mailssl_live *live, size_t index)
{
    if (!live || index >= live->n || !live->t[index].expected)
        return NULL;
    return live->t[index].sha256;
}

MAILSSL_EXPORT int mailssl_live_run(mailssl_live *live, int concurrency)
{
    mailssl_batch *b;
    size_t i;
    int rc = MAILSSL_OK;

    if (!live || concurrency < 1)
        return MAILSSL_ERR_INVALID;
    if (!(b = mailssl_batch_new(concurrency)))
        return MAILSSL_ERR_NOMEM;
    for (i = 0; i < live->n && rc == MAILSSL_OK; i++)
        if (!live->t[i].probe->started)
            rc = mailssl_batch_add(b, live->t[i].probe);
    if (rc == MAILSSL_OK)
        rc = mailssl_batch_run(b, NULL, NULL);
    mailssl_batch_free(b);
    return rc;
}

/* ---- comparison ---------------------------------------------------------- */

#define LIVE_MSG 3072

static int add(mailssl_report *out, const struct live_target *t, int code,
               int severity, const char *msg)
{
    return mailssl_report_add(out, code, severity, MAILSSL_NO_CERT,
                              "listener", t->listener, msg) < 0
               ? MAILSSL_ERR_NOMEM
               : MAILSSL_OK;
}

/* "server name mail.example.com" / "no server name" */
static void who(const struct live_target *t, char *buf, size_t n)
{
    if (t->name)
        snprintf(buf, n, "server name %s", t->name);
    else
        snprintf(buf, n, "no server name");
}

static void bound_text(const struct live_target *t, char *buf, size_t n)
{
    char na[32];

    mailssl__rfc3339(t->not_after, na, sizeof na);
    snprintf(buf, n, "sha256 %s, not_after %s, %s%s%s", t->sha256, na,
             t->source, t->origin ? ", bound at " : "",
             t->origin ? t->origin : "");
}

static int dropped(mailssl_report *out, const struct live_target *t)
{
    const mailssl_probe *p = t->probe;
    char msg[LIVE_MSG], w[300], bound[600];
    const char *how = p->diagnosis == MAILSSL_CODE_TLS_ALERT
                          ? p->message
                          : "closed without an alert";

    who(t, w, sizeof w);
    if (t->expected)
        bound_text(t, bound, sizeof bound);
    snprintf(msg, sizeof msg,
             "%s: the running server accepted the TCP connection and "
             "dropped it during the TLS handshake (%s): it has no "
             "certificate for this address, port and protocol, the 13002 "
             "case (clients see \"the server unexpectedly terminated the "
             "connection\"). %s%s%s",
             w, how,
             t->expected ? "The bindings say it should present "
                         : "No binding covers it either: add one, then ",
             t->expected ? bound : "",
             t->expected ? ": install that certificate for this address "
                           "and port in the server's own configuration "
                           "(mailssl-check --export shows one), then "
                           "reload the server"
                         : "install the certificate in the server");
    return add(out, t, MAILSSL_CODE_NO_BINDING_LIVE,
               MAILSSL_SEVERITY_CRITICAL, msg);
}

static int drift(mailssl_report *out, const struct live_target *t)
{
    const mailssl_probe *p = t->probe;
    char msg[LIVE_MSG], w[300], bound[600], na[32];

    who(t, w, sizeof w);
    mailssl__rfc3339(p->cert.not_after, na, sizeof na);
    if (t->expected)
        bound_text(t, bound, sizeof bound);
    snprintf(msg, sizeof msg,
             "%s: the running server presents sha256 %s (not_after %s, "
             "subject %s) %s%s%s",
             w, p->cert.sha256, na, p->cert.subject ? p->cert.subject : "?",
             t->expected ? "but the bindings say " : "",
             t->expected ? bound : "but no binding covers this listener",
             t->expected ? ": renewed on disk but the server was not "
                           "reloaded, or the server's configuration points "
                           "at another file"
                         : "");
    return add(out, t, MAILSSL_CODE_CERT_DRIFT, MAILSSL_SEVERITY_WARNING,
               msg);
}

static int prefixed(mailssl_report *out, const struct live_target *t,
                    int code, int severity, const char *text)
{
    char msg[LIVE_MSG], w[300];

    who(t, w, sizeof w);
    snprintf(msg, sizeof msg, "%s: %s", w, text ? text : "");
    return add(out, t, code, severity, msg);
}

static int compare(mailssl_report *out, const struct live_target *t)
{
    const mailssl_probe *p = t->probe;
    const mailssl_report *f = p->findings;
    size_t i, before = mailssl_report_count(out);
    int rc = MAILSSL_OK;

    if (p->diagnosis == MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE ||
        p->diagnosis == MAILSSL_CODE_TLS_ALERT)
        return dropped(out, t);
    if (p->have_cert &&
        (!t->expected || strcmp(p->cert.sha256, t->sha256) != 0))
        rc = drift(out, t);
    for (i = 0; rc == MAILSSL_OK && i < mailssl_report_count(f); i++)
        rc = prefixed(out, t, mailssl_report_code(f, i),
                      mailssl_report_severity(f, i),
                      mailssl_report_message(f, i));
    if (rc == MAILSSL_OK && p->diagnosis != MAILSSL_CODE_OK &&
        mailssl_report_find(f, p->diagnosis, 0) < 0)
        rc = prefixed(out, t, p->diagnosis, p->status, p->message);
    if (rc == MAILSSL_OK && mailssl_report_count(out) == before) {
        char msg[LIVE_MSG], w[300];
        who(t, w, sizeof w);
        snprintf(msg, sizeof msg,
                 "%s: the running server presents the bound certificate "
                 "(sha256 %s) over %s",
                 w, t->sha256, p->tls_version ? p->tls_version : "TLS");
        rc = add(out, t, MAILSSL_CODE_OK, MAILSSL_SEVERITY_OK, msg);
    }
    return rc;
}

MAILSSL_EXPORT int mailssl_live_report(const mailssl_live *live,
                                       mailssl_report *out)
{
    size_t i, before;
    int worst = MAILSSL_SEVERITY_OK, rc;

    if (!live || !out)
        return MAILSSL_ERR_INVALID;
    for (i = 0; i < live->n; i++)
        if (!mailssl_probe_done(live->t[i].probe))
            return MAILSSL_ERR_STATE;
    before = mailssl_report_count(out);
    for (i = 0; i < live->n; i++)
        if ((rc = compare(out, &live->t[i])) < 0)
            return rc;
    for (i = before; i < mailssl_report_count(out); i++)
        worst = mailssl__worse(worst, mailssl_report_severity(out, i));
    return worst;
}
