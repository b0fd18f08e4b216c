/*
 * audit.c - proves that every listener of a store resolves, for a client
 * that sends no SNI, to a credential that validates (SPEC.md section 3).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* The one place that decides how a credential is checked: every check
 * of the validation issue, load warnings (key-file-permissions) included. */
static int check_credential(const struct mailssl_validator *v,
                            const mailssl_credential *c, mailssl_report *r)
{
    return mailssl_validate_credential(v, c, r);
}

/* Copies the findings of from into to with a context. */
static int copy_findings(mailssl_report *to, const mailssl_report *from,
                         const char *kind, const char *ctx)
{
    size_t i;
    for (i = 0; i < mailssl_report_count(from); i++)
        if (mailssl_report_add(to, mailssl_report_code(from, i),
                               mailssl_report_severity(from, i),
                               mailssl_report_cert_index(from, i), kind, ctx,
                               mailssl_report_message(from, i)) < 0)
            return MAILSSL_ERR_NOMEM;
    return MAILSSL_OK;
}

static int no_binding(mailssl_report *out, const struct mailssl__listener *l)
{
    char lt[128], at[64], msg[1024];
    const char *svc = mailssl_service_name(l->service);

    mailssl__listener_text(l, lt, sizeof lt);
    mailssl__addr_text(&l->addr, at, sizeof at);
    if (l->addr.prefix == 0)
        snprintf(msg, sizeof msg,
                 "clients of %s connecting to any %s address of this server "
                 "on port %d that send no server name will see the "
                 "connection dropped during the TLS handshake: no binding "
                 "covers every %s address for this service and port. A "
                 "default-address binding for this port would fix it: "
                 "\"bind %s %s %d * cert=FILE\"",
                 svc, l->addr.family == 4 ? "IPv4" : "IPv6", l->port,
                 l->addr.family == 4 ? "IPv4" : "IPv6", svc, at, l->port);
    else
        snprintf(msg, sizeof msg,
                 "clients of %s on %s port %d that send no server name will "
                 "see the connection dropped during the TLS handshake: no "
                 "binding covers this address, port and service. A "
                 "default-address binding for this port would fix it: "
                 "\"bind %s %s %d * cert=FILE\" (or \"bind %s %s %d * "
                 "cert=FILE\" for this address only)",
                 svc, at, l->port, svc,
                 l->addr.family == 4 ? "0.0.0.0" : "::", l->port, svc, at,
                 l->port);
    return mailssl_report_add(out, MAILSSL_CODE_NO_BINDING,
                              MAILSSL_SEVERITY_CRITICAL, MAILSSL_NO_CERT,
                              "listener", lt, msg) < 0
               ? MAILSSL_ERR_NOMEM
               : MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_store_audit(mailssl_store *s,
                                       const struct mailssl_validator *v,
                                       mailssl_report *out)
{
    const struct mailssl__table *t;
    mailssl_report **per = NULL;
    mailssl_validator *own = NULL; /* defaults when v is NULL */
    size_t i, n;
    int tok, rc = MAILSSL_OK, before;

    if (!s || !out)
        return mailssl__store_invalid(s, "no report for the findings (NULL)");
    if (!v && !(v = own = mailssl_validator_new()))
        return MAILSSL_ERR_NOMEM;
    before = (int)mailssl_report_count(out);
    /* the store lock keeps reloads from swapping the table meanwhile */
    mailssl__store_lock(s);
    t = mailssl__store_read_begin(s, &tok);
    n = mailssl__table_count(t);
    if (n && !(per = calloc(n, sizeof *per)))
        rc = MAILSSL_ERR_NOMEM;
    for (i = 0; i < n && rc == MAILSSL_OK; i++) {
        const struct mailssl__binding *b = mailssl__table_binding(t, i);
        char ctx[400];
        if (!(per[i] = mailssl_report_new())) {
            rc = MAILSSL_ERR_NOMEM;
            break;
        }
        if ((rc = check_credential(v, b->cred, per[i])) < 0)
            break;
        rc = MAILSSL_OK;
        if (b->origin)
            snprintf(ctx, sizeof ctx, "%s", b->origin);
        else
            mailssl__binding_text(b, ctx, sizeof ctx);
        rc = copy_findings(out, per[i], "binding", ctx);
    }
    for (i = 0; i < mailssl__table_listener_count(t) && rc == MAILSSL_OK;
         i++) {
        const struct mailssl__listener *l = mailssl__table_listener(t, i);
        const struct mailssl__binding *b;
        char lt[128];
        size_t k;
        int miss;

        b = mailssl__table_lookup(t, l->service, &l->addr, l->port, NULL, 0,
                                  &miss, NULL);
        if (!b) {
            rc = no_binding(out, l);
            continue;
        }
        for (k = 0; k < n && mailssl__table_binding(t, k) != b; k++)
            ;
        mailssl__listener_text(l, lt, sizeof lt);
        if (k < n)
            rc = copy_findings(out, per[k], "listener", lt);
    }
    mailssl__store_read_end(s, tok);
    if (rc < 0)
        mailssl__set_error(mailssl__store_errbuf(s), MAILSSL_ERRLEN,
                           "audit: out of memory");
    mailssl__store_unlock(s);
    for (i = 0; per && i < n; i++)
        mailssl_report_free(per[i]);
    free(per);
    mailssl_validator_free(own);
    if (rc < 0)
        return rc;
    {
        int worst = MAILSSL_SEVERITY_OK;
        for (i = (size_t)before; i < mailssl_report_count(out); i++)
            worst = mailssl__worse(worst, mailssl_report_severity(out, i));
        return worst;
    }
}
