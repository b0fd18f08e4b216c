/*
 * probe_mx.c - smtp://DOMAIN with mailssl_probe_set_mx(): the MX RRset of
 * DOMAIN is looked up with DNSSEC (lib/dns.c) in the resolve stage, then
 * each MX host is probed, one after the other in preference order, by a
 * probe of its own (smtp://HOST:PORT, the parent's settings, the parent's
 * DNS context) that does its own TLSA lookup; the parent only drives the
 * current host's probe and exposes its descriptor, wants and deadline.
 * RFC 7672 section 2.2.1: the MX host names are trusted for DANE only
 * when the MX RRset is secure; an insecure MX RRset makes DANE unusable
 * (critical when required, the hosts probed without DANE otherwise), a
 * bogus one is dane-bogus. No MX records: the domain itself (RFC 5321
 * section 5.1).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "probe_internal.h"

#define RR_MX 15

/* A wire-format name of rdata (uncompressed in libunbound's results)
 * into text without the final dot. Returns 0, or -1 when malformed. */
static int wire_name(const unsigned char *d, size_t len, char *out,
                     size_t outlen)
{
    size_t i = 0, o = 0;

    while (i < len && d[i]) {
        size_t n = d[i++];

        if (n > 63 || i + n > len || o + n + 2 > outlen)
            return -1;
        if (o)
            out[o++] = '.';
        memcpy(out + o, d + i, n);
        o += n;
        i += n;
    }
    if (i >= len)
        return -1;
    if (o == 0) /* "." : a null MX (RFC 7505) */
        return -1;
    out[o] = '\0';
    return 0;
}

static int by_preference(const void *a, const void *b)
{
    const struct mailssl__mx_host *x = a, *y = b;

    if (x->preference != y->preference)
        return x->preference < y->preference ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void on_mx(void *arg, int err, struct ub_result *res)
{
    mailssl_probe *p = arg;
    int i;

    p->mx_dnssec = mailssl__probe_dns_take(p, err, res);
    if (err || !res) {
        if (res)
            ub_resolve_free(res);
        return;
    }
    for (i = 0; res->havedata && res->data[i] && p->nmx < MAILSSL__MX_MAX;
         i++) {
        struct mailssl__mx_host *h = &p->mx[p->nmx];
        const unsigned char *d = (const unsigned char *)res->data[i];

        if (res->len[i] < 3 ||
            wire_name(d + 2, (size_t)res->len[i] - 2, h->host,
                      sizeof h->host) < 0)
            continue;
        h->preference = d[0] << 8 | d[1];
        h->order = p->nmx++;
    }
    qsort(p->mx, p->nmx, sizeof p->mx[0], by_preference);
    ub_resolve_free(res);
}

int mailssl__probe_mx_begin(mailssl_probe *p)
{
    int rc;

    if (!p->dns) {
        rc = mailssl__dns_new(p->dns_anchor, p->dns_resolver, &p->dns, p->err,
                              sizeof p->err);
        if (rc < 0)
            return -2;
    }
    rc = mailssl__dns_query(p->dns, p->host, RR_MX, on_mx, p, &p->dns_id,
                            p->err, sizeof p->err);
    if (rc < 0)
        return -2;
    p->dns_pending = 1;
    mailssl__dns_process(p->dns);
    return p->dane_answered ? 1 : 0;
}

/* A probe of one MX host with the parent's settings. */
static mailssl_probe *host_probe(mailssl_probe *p,
                                 const struct mailssl__mx_host *h, int dane)
{
    char url[MAILSSL_HOST_MAX + 32];
    mailssl_probe *c;
    int s;

    snprintf(url, sizeof url, "smtp://%s:%d", h->host, p->port);
    c = mailssl_probe_new(url);
    if (!c)
        return NULL;
    if ((p->cafile && mailssl_probe_set_cafile(c, p->cafile) < 0) ||
        (p->connect_host &&
         !(c->connect_host = mailssl__strdup(p->connect_host))) ||
        (p->priority && mailssl_probe_set_priority(c, p->priority) < 0) ||
        (p->dns_anchor && !(c->dns_anchor = mailssl__strdup(p->dns_anchor))) ||
        (p->dns_resolver &&
         !(c->dns_resolver = mailssl__strdup(p->dns_resolver)))) {
        mailssl_probe_free(c);
        return NULL;
    }
    c->connect_port = p->connect_port;
    c->family = p->family;
    c->timeout_ms = p->timeout_ms;
    for (s = 0; s <= MAILSSL_STAGE_DANE; s++)
        c->stage_timeout_ms[s] = p->stage_timeout_ms[s];
    c->warn_days = p->warn_days;
    c->crit_days = p->crit_days;
    c->min_version = p->min_version;
    if (p->client_cred)
        c->client_cred = mailssl__credential_ref(p->client_cred);
    c->vtime = p->vtime;
    c->dane_mode = dane;
    c->dns = mailssl__dns_ref(p->dns);
    c->mx_preference = h->preference;
    return c;
}

/* The worst host's outcome becomes the parent's. */
static void mx_finish(mailssl_probe *p)
{
    size_t i, worst = 0;
    int rank[4] = {0, 1, 3, 2}; /* ok < warning < unknown < critical */

    for (i = 1; i < p->nmxprobes; i++)
        if (rank[p->mxprobes[i]->status & 3] >
            rank[p->mxprobes[worst]->status & 3])
            worst = i;
    if (p->nmxprobes == 0) {
        mailssl__probe_fail(p, MAILSSL_CODE_RESOLVE_FAILED,
                            MAILSSL_SEVERITY_CRITICAL,
                            "no MX host of %s could be probed", p->host);
        return;
    }
    mailssl__probe_fail(p, p->mxprobes[worst]->diagnosis,
                        p->mxprobes[worst]->status,
                        "%zu MX host%s; the worst: %s (preference %d): %s",
                        p->nmxprobes, p->nmxprobes == 1 ? "" : "s",
                        p->mxprobes[worst]->host,
                        p->mxprobes[worst]->mx_preference,
                        p->mxprobes[worst]->message);
    p->stage = MAILSSL_STAGE_DONE;
    for (i = 0; i < p->nmxprobes; i++)
        if (p->mxprobes[i]->stage != MAILSSL_STAGE_DONE)
            p->stage = MAILSSL_STAGE_RESOLVE;
}

/* Starts the current host's probe, or finishes after the last one.
 * Returns what the caller's start/step returns. */
static int next_host(mailssl_probe *p)
{
    while (p->mxcur < p->nmxprobes) {
        mailssl_probe *c = p->mxprobes[p->mxcur];
        int rc = mailssl_probe_start(c);

        if (!mailssl_probe_done(c))
            return p->want = rc;
        p->mxcur++;
    }
    mx_finish(p);
    return MAILSSL_OK;
}

int mailssl__probe_mx_decide(mailssl_probe *p)
{
    int dane = p->dane_mode;
    size_t i;

    p->timing[MAILSSL_STAGE_RESOLVE] = mailssl__now_us() - p->stage_start;
    if (!p->dane_answered || p->dane_err ||
        p->mx_dnssec == MAILSSL__DNSSEC_NONE) {
        mailssl__probe_fail(
            p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL,
            "the MX lookup of %s failed: %s", p->host,
            !p->dane_answered ? "no answer within the deadline"
            : p->dane_err     ? ub_strerror(p->dane_err)
            : p->dane_rcode == 2 ? "SERVFAIL"
                                 : "DNS error");
        return MAILSSL_OK;
    }
    if (p->mx_dnssec == MAILSSL__DNSSEC_BOGUS) {
        mailssl__probe_fail(p, MAILSSL_CODE_DANE_BOGUS,
                            MAILSSL_SEVERITY_CRITICAL,
                            "DNSSEC validation of the MX records of %s "
                            "failed: %s",
                            p->host,
                            p->dane_why[0] ? p->dane_why : "bogus answer");
        return MAILSSL_OK;
    }
    if (p->dane_rcode == 3) {
        mailssl__probe_fail(p, MAILSSL_CODE_RESOLVE_FAILED,
                            MAILSSL_SEVERITY_CRITICAL,
                            "the mail domain %s does not exist (NXDOMAIN)",
                            p->host);
        return MAILSSL_OK;
    }
    if (p->mx_dnssec == MAILSSL__DNSSEC_INSECURE &&
        dane != MAILSSL_DANE_OFF) {
        if (dane == MAILSSL_DANE_REQUIRED) {
            mailssl__probe_fail(p, MAILSSL_CODE_DANE_INSECURE,
                                MAILSSL_SEVERITY_CRITICAL,
                                "the MX records of %s are not DNSSEC-signed: "
                                "DANE cannot apply to its MX hosts (RFC "
                                "7672 section 2.2.1); DANE was required",
                                p->host);
            return MAILSSL_OK;
        }
        (void)mailssl_report_add(p->findings, MAILSSL_CODE_DANE_INSECURE,
                                 MAILSSL_SEVERITY_OK, MAILSSL_NO_CERT, NULL,
                                 NULL,
                                 "the MX records are not DNSSEC-signed: the "
                                 "MX hosts are probed without DANE");
        dane = MAILSSL_DANE_OFF;
    }
    if (p->nmx == 0) { /* RFC 5321 section 5.1: the implicit MX */
        snprintf(p->mx[0].host, sizeof p->mx[0].host, "%s", p->host);
        p->mx[0].preference = 0;
        p->nmx = 1;
    }
    p->stage = MAILSSL_STAGE_RESOLVE;
    p->mxprobes = calloc(p->nmx, sizeof *p->mxprobes);
    if (!p->mxprobes) {
        mailssl__probe_fail(p, MAILSSL_CODE_RESOLVE_FAILED,
                            MAILSSL_SEVERITY_UNKNOWN, "out of memory");
        return MAILSSL_OK;
    }
    for (i = 0; i < p->nmx; i++) {
        mailssl_probe *c = host_probe(p, &p->mx[i], dane);

        if (!c)
            break;
        p->mxprobes[p->nmxprobes++] = c;
    }
    p->state = PS_MX;
    p->deadline = INT64_MAX; /* each host has its own */
    p->stage_deadline = INT64_MAX;
    return next_host(p);
}

int mailssl__probe_mx_step(mailssl_probe *p)
{
    mailssl_probe *c = p->mxprobes[p->mxcur];
    int rc = mailssl_probe_step(c);

    if (!mailssl_probe_done(c))
        return p->want = rc;
    p->mxcur++;
    return next_host(p);
}

const mailssl_probe *mailssl__probe_mx_current(const mailssl_probe *p)
{
    return p->state == PS_MX && p->mxcur < p->nmxprobes
               ? p->mxprobes[p->mxcur]
               : NULL;
}

void mailssl__probe_mx_free(mailssl_probe *p)
{
    size_t i;

    for (i = 0; i < p->nmxprobes; i++)
        mailssl_probe_free(p->mxprobes[i]);
    free(p->mxprobes);
    p->mxprobes = NULL;
    p->nmxprobes = 0;
}

void mailssl__probe_mx_json(struct mailssl_buf *b, const mailssl_probe *p)
{
    static const char *const names[] = {NULL, "secure", "insecure", "bogus"};
    size_t i;

    if (!p->mx_mode)
        return;
    mailssl__buf_puts(b, ",\"mx\":{\"dnssec\":");
    mailssl__buf_json_string(b, names[p->mx_dnssec]);
    mailssl__buf_puts(b, ",\"hosts\":[");
    for (i = 0; i < p->nmxprobes; i++) {
        char *j = mailssl_probe_json(p->mxprobes[i]);

        if (i)
            mailssl__buf_puts(b, ",");
        if (j)
            mailssl__buf_puts(b, j);
        else
            mailssl__buf_puts(b, "null");
        mailssl_free(j);
    }
    mailssl__buf_puts(b, "]}");
}

MAILSSL_EXPORT int mailssl_probe_set_mx(mailssl_probe *p, int on)
{
    int rc = mailssl__probe_settable(p);

    if (rc < 0)
        return rc;
    if (on != 0 && on != 1) {
        mailssl__set_error(p->err, sizeof p->err, "MX mode must be 0 or 1");
        return MAILSSL_ERR_INVALID;
    }
    if (on && (!p->url_ok || p->service != MAILSSL_SERVICE_SMTP ||
               mailssl__is_ip_literal(p->host))) {
        mailssl__set_error(p->err, sizeof p->err,
                           "MX lookups need an smtp://DOMAIN URL");
        return MAILSSL_ERR_INVALID;
    }
    p->mx_mode = on;
    return MAILSSL_OK;
}

MAILSSL_EXPORT size_t mailssl_probe_mx_count(const mailssl_probe *p)
{
    return p && p->state == PS_DONE ? p->nmxprobes : 0;
}

MAILSSL_EXPORT const mailssl_probe *mailssl_probe_mx_probe(const mailssl_probe *p,
                                                           size_t index)
{
    return p && p->state == PS_DONE && index < p->nmxprobes
               ? p->mxprobes[index]
               : NULL;
}

MAILSSL_EXPORT int mailssl_probe_mx_preference(const mailssl_probe *p)
{
    return p && p->mx_preference >= 0 ? p->mx_preference : -1;
}
