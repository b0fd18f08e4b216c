/*
 * dns.c - DNSSEC-validated lookups for the probe (TLSA, MX, addresses)
 * through libunbound, driven from the probe's own event loop: a query is
 * started with ub_resolve_async(), the caller polls ub_fd() and calls
 * mailssl__dns_process(), which runs the callbacks in the caller's thread.
 *
 * Why libunbound directly and not libgnutls-dane's dane_query_tlsa(): that
 * call is blocking (it waits for the answer inside the call), so one slow
 * DNS server would stall a whole batch of probes; it also hides the
 * "insecure" and "bogus" states and the reason of a validation failure
 * behind one error code, which are exactly what a DANE report must say.
 *
 * A context is one libunbound cache: probes that share it (a batch) get
 * warm-cache answers. libunbound resolves in one worker thread per context
 * (ub_ctx_async(ctx, 1)), never a forked process; the thread exists only
 * while a context does, that is only when DANE was asked for.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unbound.h>

#include "net.h"

struct mailssl__dns {
    struct ub_ctx *ctx;
    int refs;
    char *anchor;   /* trust anchor file */
    char *resolver; /* NULL: /etc/resolv.conf */
};

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int mailssl__dns_matches(const struct mailssl__dns *d, const char *anchor,
                         const char *resolver)
{
    return d && same(d->anchor, anchor ? anchor : MAILSSL_DNS_DEFAULT_ANCHOR) &&
           same(d->resolver, resolver);
}

int mailssl__dns_new(const char *anchor, const char *resolver,
                     struct mailssl__dns **out, char *err, size_t errlen)
{
    struct mailssl__dns *d;
    int rc;

    *out = NULL;
    if (!anchor)
        anchor = MAILSSL_DNS_DEFAULT_ANCHOR;
    if (access(anchor, R_OK) != 0) {
        mailssl__set_error(err, errlen,
                           "DNSSEC trust anchor file %s cannot be read (set "
                           "one with --dns-anchor)",
                           anchor);
        return MAILSSL_ERR_IO;
    }
    d = calloc(1, sizeof *d);
    if (!d)
        return MAILSSL_ERR_NOMEM;
    d->refs = 1;
    d->anchor = mailssl__strdup(anchor);
    d->resolver = resolver ? mailssl__strdup(resolver) : NULL;
    d->ctx = ub_ctx_create();
    if (!d->anchor || (resolver && !d->resolver) || !d->ctx) {
        mailssl__dns_unref(d);
        return MAILSSL_ERR_NOMEM;
    }
    /* a thread, not a forked process, and no use of the hosts file: the
     * answers must come from DNSSEC */
    rc = ub_ctx_async(d->ctx, 1);
    /* a resolver on loopback (a local unbound, or the tests' nsd) is a
     * normal setup for a monitoring host */
    if (rc == 0)
        rc = ub_ctx_set_option(d->ctx, "do-not-query-localhost:", "no");
    if (rc == 0) {
        rc = ub_ctx_add_ta_file(d->ctx, anchor);
        if (rc != 0) {
            mailssl__set_error(err, errlen,
                               "DNSSEC trust anchor file %s: %s", anchor,
                               ub_strerror(rc));
            mailssl__dns_unref(d);
            return MAILSSL_ERR_SYNTAX;
        }
    }
    if (rc == 0) {
        rc = resolver ? ub_ctx_set_fwd(d->ctx, resolver)
                      : ub_ctx_resolvconf(d->ctx, NULL);
        if (rc != 0) {
            mailssl__set_error(err, errlen, "DNS resolver %s: %s",
                               resolver ? resolver : "from /etc/resolv.conf",
                               ub_strerror(rc));
            mailssl__dns_unref(d);
            return MAILSSL_ERR_INVALID;
        }
    }
    if (rc != 0) {
        mailssl__set_error(err, errlen, "libunbound: %s", ub_strerror(rc));
        mailssl__dns_unref(d);
        return MAILSSL_ERR_IO;
    }
    *out = d;
    return MAILSSL_OK;
}

struct mailssl__dns *mailssl__dns_ref(struct mailssl__dns *d)
{
    if (d) /* atomic: probes of a batch may be freed by other threads */
        __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
    return d;
}

void mailssl__dns_unref(struct mailssl__dns *d)
{
    if (!d || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (d->ctx)
        ub_ctx_delete(d->ctx);
    free(d->anchor);
    free(d->resolver);
    free(d);
}

int mailssl__dns_fd(const struct mailssl__dns *d)
{
    return d ? ub_fd(d->ctx) : -1;
}

void mailssl__dns_process(struct mailssl__dns *d)
{
    if (d && ub_poll(d->ctx))
        (void)ub_process(d->ctx);
}

int mailssl__dns_query(struct mailssl__dns *d, const char *name, int rrtype,
                       mailssl__dns_cb cb, void *arg, int *id, char *err,
                       size_t errlen)
{
    int rc = ub_resolve_async(d->ctx, name, rrtype, 1 /* IN */, arg,
                              (ub_callback_type)cb, id);

    if (rc != 0) {
        mailssl__set_error(err, errlen, "DNS query for %s: %s", name,
                           ub_strerror(rc));
        return MAILSSL_ERR_IO;
    }
    return MAILSSL_OK;
}

void mailssl__dns_cancel(struct mailssl__dns *d, int id)
{
    if (d)
        (void)ub_cancel(d->ctx, id);
}

void mailssl__dns_result_free(void *result)
{
    ub_resolve_free((struct ub_result *)result);
}
