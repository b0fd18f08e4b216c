/*
 * probe_mx.c - smtp://DOMAIN with mailssl_probe_set_mx(): the MX RRset of
 * DOMAIN is looked up with DNSSEC (lib/probe/dns.c) in the resolve stage, then
 * each MX host is probed, one after the other in preference order, by a
 * probe of its own (smtp://HOST:PORT, the parent's settings, the parent's
 * DNS context) that does its own TLSA lookup; the parent only drives the
 * current host's probe and exposes its descriptor, wants and deadline.
 * This file looks the MX RRset up and judges it, and judges the hosts'
 * outcomes (mailssl__probe_mx_finish); lib/probe/probe.c makes and drives the
 * hosts' probes.
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

    if (mailssl__probe_dns_ready(p) < 0)
        return -2;
    rc = mailssl__dns_query(p->dns, p->host, RR_MX, on_mx, p, &p->dns_id,
                            p->err, sizeof p->err);
    if (rc < 0)
        return -2;
    p->dns_pending = 1;
    mailssl__dns_process(p->dns);
    return p->dane_answered ? 1 : 0;
}

/* The worst host's outcome becomes the parent's. */
void mailssl__probe_mx_finish(mailssl_probe *p)
{
    size_t i, worst = 0;
    int rank[4] = {0, 1, 3, 2}; /* ok < warning < unknown < critical */

    for (i = 1; i < p->nmxprobes; i++)
        if (rank[p->mxprobes[i]->status & 3] >
            rank[p->mxprobes[worst]->status & 3])
            worst = i;
    if (p->nmxprobes == 0) {
        mailssl__probe_verdict(p, MAILSSL_CODE_RESOLVE_FAILED,
                               MAILSSL_SEVERITY_CRITICAL,
                               "no MX host of %s could be probed", p->host);
        return;
    }
    mailssl__probe_verdict(p, p->mxprobes[worst]->diagnosis,
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

int mailssl__probe_mx_decide(mailssl_probe *p, int *dane_mode)
{
    int dane = p->dane_mode;

    p->timing[MAILSSL_STAGE_RESOLVE] = mailssl__now_us() - p->stage_start;
    if (!p->dane_answered || p->dane_err ||
        p->mx_dnssec == MAILSSL__DNSSEC_NONE) {
        mailssl__probe_verdict(
            p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL,
            "the MX lookup of %s failed: %s", p->host,
            !p->dane_answered ? "no answer within the deadline"
            : p->dane_err     ? ub_strerror(p->dane_err)
            : p->dane_rcode == 2 ? "SERVFAIL"
                                    : "DNS error");
        return 0;
    }
    if (p->mx_dnssec == MAILSSL__DNSSEC_BOGUS) {
        mailssl__probe_verdict(p, MAILSSL_CODE_DANE_BOGUS,
                               MAILSSL_SEVERITY_CRITICAL,
                               "DNSSEC validation of the MX records of %s "
                               "failed: %s",
                               p->host,
                               p->dane_why[0] ? p->dane_why : "bogus answer");
        return 0;
    }
    if (p->dane_rcode == 3) {
        mailssl__probe_verdict(p, MAILSSL_CODE_RESOLVE_FAILED,
                               MAILSSL_SEVERITY_CRITICAL,
                               "the mail domain %s does not exist (NXDOMAIN)",
                               p->host);
        return 0;
    }
    if (p->mx_dnssec == MAILSSL__DNSSEC_INSECURE &&
        dane != MAILSSL_DANE_OFF) {
        if (dane == MAILSSL_DANE_REQUIRED) {
            mailssl__probe_verdict(p, MAILSSL_CODE_DANE_INSECURE,
                                   MAILSSL_SEVERITY_CRITICAL,
                                   "the MX records of %s are not "
                                   "DNSSEC-signed: DANE cannot apply to its "
                                   "MX hosts (RFC 7672 section 2.2.1); DANE "
                                   "was required",
                                   p->host);
            return 0;
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
    *dane_mode = dane;
    return 1;
}

const mailssl_probe *mailssl__probe_mx_current(const mailssl_probe *p)
{
    return p->state == PS_MX && p->mxcur < p->nmxprobes
               ? p->mxprobes[p->mxcur]
               : NULL;
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
