/*
 * probe_dane.c - the probe's "dane" stage: the TLSA RRset of
 * _PORT._tcp.HOST looked up with DNSSEC (lib/probe/dns.c), what its state
 * means
 * for the probe (RFC 7672 section 2.2 for SMTP, RFC 7671 otherwise), the
 * records handed to validation, and the "dane" block of the JSON.
 *
 * Outcomes (README "DANE"):
 *   bogus                -> dane-bogus, critical, in both modes (a DANE
 *                           client defers delivery)
 *   no answer / SERVFAIL -> dane-lookup-failed: critical when required,
 *                           a warning finding when opportunistic
 *   insecure             -> dane-insecure: critical when required, an ok
 *                           finding when opportunistic (PKIX as usual)
 *   secure, no records   -> dane-no-records: same as insecure
 *   secure, records      -> they go to validation with the caller's;
 *                           dane-ok / dane-mismatch / dane-unusable
 *
 * Before it, in the resolve stage, the host's A and AAAA RRsets are looked
 * up through the same context when DANE is on or the probe is an MX
 * host's (never getaddrinfo, which blocks the caller's loop): RFC 7672
 * section 2.2.2 trusts the TLSA records only when the address records
 * are secure. Insecure addresses -> dane-insecure (critical when
 * required; an ok finding when opportunistic, and no TLSA lookup), bogus
 * -> dane-bogus, no address -> resolve-failed.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "probe_internal.h"

#define RR_A 1
#define RR_AAAA 28
#define RR_TLSA 52
#define ADDR_MAX 16 /* addresses kept per RRset */
#define DANE_MAX_RECORDS 64

static const char *const dnssec_names[] = {NULL, "secure", "insecure",
                                           "bogus"};

int mailssl__probe_dane_smtp(const mailssl_probe *p)
{
    return p->service == MAILSSL_SERVICE_SMTP ||
           p->service == MAILSSL_SERVICE_LMTP;
}

void mailssl__probe_verdict(mailssl_probe *p, int code, int severity,
                            const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
    p->verdict.code = code;
    p->verdict.severity = severity;
    p->verdict.set = 1;
}

int mailssl__probe_dns_take(mailssl_probe *p, int err,
                            const struct ub_result *res)
{
    p->dns_pending = 0;
    p->dane_answered = 1;
    p->dane_err = err;
    if (err || !res)
        return MAILSSL__DNSSEC_NONE;
    p->dane_rcode = res->rcode;
    p->dane_secure = res->secure;
    p->dane_bogus = res->bogus;
    p->dane_havedata = res->havedata;
    if (res->why_bogus)
        snprintf(p->dane_why, sizeof p->dane_why, "%s", res->why_bogus);
    return res->bogus    ? MAILSSL__DNSSEC_BOGUS
           : res->secure ? MAILSSL__DNSSEC_SECURE
           : res->rcode == 0 || res->rcode == 3 ? MAILSSL__DNSSEC_INSECURE
                                                : MAILSSL__DNSSEC_NONE;
}

static void on_answer(void *arg, int err, struct ub_result *res)
{
    mailssl_probe *p = arg;
    int i;

    p->dane_dnssec = mailssl__probe_dns_take(p, err, res);
    if (err || !res) {
        if (res)
            ub_resolve_free(res);
        return;
    }
    for (i = 0; res->havedata && res->data[i]; i++) {
        struct mailssl_probe_tlsa *t;
        const unsigned char *d = (const unsigned char *)res->data[i];

        p->dane_total++;
        if (res->len[i] < 4 || p->ndane >= DANE_MAX_RECORDS)
            continue;
        if (!p->dane_recs) {
            p->dane_recs = calloc(DANE_MAX_RECORDS, sizeof *p->dane_recs);
            if (!p->dane_recs)
                break;
        }
        t = &p->dane_recs[p->ndane];
        t->len = (size_t)res->len[i] - 3;
        t->data = malloc(t->len);
        if (!t->data)
            break;
        memcpy(t->data, d + 3, t->len);
        t->usage = d[0];
        t->selector = d[1];
        t->matching_type = d[2];
        p->ndane++;
    }
    ub_resolve_free(res);
}

int mailssl__probe_dns_ready(mailssl_probe *p)
{
    if (!p->dns && mailssl__dns_new(p->dns_anchor, p->dns_resolver, &p->dns,
                                    p->err, sizeof p->err) < 0)
        return -2;
    return 0;
}

/* ---- the host's addresses (resolve stage) ------------------------------ */

static int outcome(mailssl_probe *p, int code, int fatal, int soft_severity,
                   const char *what, const char *soft_tail,
                   const char *hard_tail);

int mailssl__probe_addr_wanted(const mailssl_probe *p)
{
    return (p->dane_mode != MAILSSL_DANE_OFF || p->mx_preference >= 0) &&
           !p->connect_host && !mailssl__is_ip_literal(p->host);
}

static void on_addr(void *arg, int err, struct ub_result *res)
{
    struct mailssl__addr_query *q = arg;
    mailssl_probe *p = q->p;
    int i, n = 0;
    size_t len = q->family == AF_INET ? 4 : 16;
    int port = p->connect_port ? p->connect_port : p->port;

    q->pending = 0;
    q->answered = 1;
    q->err = err;
    if (err || !res) {
        if (res)
            ub_resolve_free(res);
        return;
    }
    q->rcode = res->rcode;
    q->dnssec = res->bogus    ? MAILSSL__DNSSEC_BOGUS
                : res->secure ? MAILSSL__DNSSEC_SECURE
                : res->rcode == 0 || res->rcode == 3
                    ? MAILSSL__DNSSEC_INSECURE
                    : MAILSSL__DNSSEC_NONE;
    if (res->bogus && res->why_bogus && !p->dane_why[0])
        snprintf(p->dane_why, sizeof p->dane_why, "%s", res->why_bogus);
    /* a bogus answer's data is not to be used, whatever the mode */
    for (i = 0; !res->bogus && res->havedata && res->data[i] && n < ADDR_MAX;
         i++)
        if ((size_t)res->len[i] == len &&
            mailssl__addrinfo_add(&q->list, q->family, res->data[i], port) ==
                MAILSSL_OK)
            n++;
    ub_resolve_free(res);
}

int mailssl__probe_addr_begin(mailssl_probe *p)
{
    static const int families[2] = {AF_INET6, AF_INET};
    static const int types[2] = {RR_AAAA, RR_A};
    int i;

    if (mailssl__probe_dns_ready(p) < 0)
        return -2;
    for (i = 0; i < 2; i++) {
        struct mailssl__addr_query *q = &p->aq[i];

        memset(q, 0, sizeof *q);
        q->p = p;
        q->family = families[i];
        if ((p->family == 4 && q->family != AF_INET) ||
            (p->family == 6 && q->family != AF_INET6))
            continue;
        q->asked = q->pending = 1;
        if (mailssl__dns_query(p->dns, p->host, types[i], on_addr, q, &q->id,
                               p->err, sizeof p->err) < 0) {
            q->pending = 0;
            return -2;
        }
    }
    mailssl__dns_process(p->dns); /* cached answers may be there already */
    return mailssl__probe_addr_answered(p);
}

int mailssl__probe_addr_answered(const mailssl_probe *p)
{
    return (!p->aq[0].asked || p->aq[0].answered) &&
           (!p->aq[1].asked || p->aq[1].answered);
}

void mailssl__probe_addr_release(mailssl_probe *p)
{
    int i;

    for (i = 0; i < 2; i++) {
        if (p->aq[i].pending)
            mailssl__dns_cancel(p->dns, p->aq[i].id);
        p->aq[i].pending = 0;
        mailssl__addrinfo_free(p->aq[i].list);
        p->aq[i].list = NULL;
    }
}

/* Why no address came: the words of the first lookup that says most. */
static void no_address(mailssl_probe *p, const char *rrs)
{
    const struct mailssl__addr_query *q = NULL;
    int i;

    for (i = 0; i < 2; i++)
        if (p->aq[i].asked &&
            (!q || p->aq[i].err || (p->aq[i].rcode && !q->err)))
            q = &p->aq[i];
    if (q && q->err)
        mailssl__probe_verdict(p, MAILSSL_CODE_RESOLVE_FAILED,
                               MAILSSL_SEVERITY_CRITICAL,
                               "the address lookup (%s) of %s failed: %s",
                               rrs, p->host, ub_strerror(q->err));
    else if (q && q->dnssec == MAILSSL__DNSSEC_BOGUS)
        mailssl__probe_verdict(p, MAILSSL_CODE_RESOLVE_FAILED,
                               MAILSSL_SEVERITY_CRITICAL,
                               "DNSSEC validation of the addresses (%s) of "
                               "%s failed: %s",
                               rrs, p->host,
                               p->dane_why[0] ? p->dane_why : "bogus answer");
    else if (q && q->rcode == 3)
        mailssl__probe_verdict(p, MAILSSL_CODE_RESOLVE_FAILED,
                               MAILSSL_SEVERITY_CRITICAL,
                               "cannot resolve %s: the name does not exist "
                               "(NXDOMAIN)",
                               p->host);
    else if (q && q->rcode)
        mailssl__probe_verdict(p, MAILSSL_CODE_RESOLVE_FAILED,
                               MAILSSL_SEVERITY_CRITICAL,
                               "the address lookup (%s) of %s failed with "
                               "DNS rcode %d (%s)",
                               rrs, p->host, q->rcode,
                               q->rcode == 2 ? "SERVFAIL" : "error");
    else
        mailssl__probe_verdict(p, MAILSSL_CODE_RESOLVE_FAILED,
                               MAILSSL_SEVERITY_CRITICAL,
                               "cannot resolve %s: it has no %s records",
                               p->host,
                               rrs);
}

int mailssl__probe_addr_decide(mailssl_probe *p, const char *which)
{
    const char *rrs = p->family == 4   ? "A"
                      : p->family == 6 ? "AAAA"
                                       : "A/AAAA";
    int i, bogus = 0, insecure = 0;

    if (!mailssl__probe_addr_answered(p)) {
        mailssl__probe_verdict(
            p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL,
            "no answer to the address lookup (%s) of %s within %s (%.0f ms "
            "in this stage): the DNS resolver is slow or silent",
            rrs, p->host, which ? which : "the deadline",
            (double)(mailssl__now_us() - p->stage_start) / 1000.0);
        mailssl__probe_addr_release(p);
        return 0;
    }
    for (i = 0; i < 2; i++) {
        bogus |= p->aq[i].asked && p->aq[i].dnssec == MAILSSL__DNSSEC_BOGUS;
        insecure |= p->aq[i].asked && !p->aq[i].err &&
                    p->aq[i].dnssec == MAILSSL__DNSSEC_INSECURE;
    }
    if (bogus && p->dane_mode != MAILSSL_DANE_OFF) {
        mailssl__probe_verdict(
            p, MAILSSL_CODE_DANE_BOGUS, MAILSSL_SEVERITY_CRITICAL,
            "DNSSEC validation of the addresses (%s) of %s failed: %s; DANE "
            "clients will not deliver to this server (RFC 7672 section "
            "2.2.2): re-sign the zone or fix its DS records",
            rrs, p->host, p->dane_why[0] ? p->dane_why : "bogus answer");
        return 0;
    }
    /* AAAA first, as getaddrinfo's default order (RFC 6724) has it */
    {
        struct addrinfo **tail = &p->ai_list;

        *tail = p->aq[0].list;
        while (*tail)
            tail = &(*tail)->ai_next;
        *tail = p->aq[1].list;
    }
    p->aq[0].list = p->aq[1].list = NULL;
    p->ai_own = 1;
    if (!p->ai_list) {
        no_address(p, rrs);
        return 0;
    }
    p->addr_dnssec =
        insecure ? MAILSSL__DNSSEC_INSECURE : MAILSSL__DNSSEC_SECURE;
    if (insecure && p->dane_mode != MAILSSL_DANE_OFF) {
        char what[MAILSSL_HOST_MAX + 160];

        snprintf(what, sizeof what,
                 "the addresses (%s) of %s are not DNSSEC-signed "
                 "(insecure): DANE does not apply to this host (RFC 7672 "
                 "section 2.2.2)",
                 rrs, p->host);
        return outcome(p, MAILSSL_CODE_DANE_INSECURE, 0, MAILSSL_SEVERITY_OK,
                       what,
                       "; no TLSA lookup, the certificate is checked as "
                       "usual",
                       "; DANE was required: sign the zone (and publish "
                       "its DS in the parent)");
    }
    return 1;
}

int mailssl__probe_dane_begin(mailssl_probe *p)
{
    int rc;

    if (mailssl__is_ip_literal(p->host)) {
        p->dane_dnssec = MAILSSL__DNSSEC_NONE;
        if (p->dane_mode == MAILSSL_DANE_REQUIRED) {
            mailssl__probe_verdict(p, MAILSSL_CODE_DANE_NO_RECORDS,
                                   MAILSSL_SEVERITY_CRITICAL,
                                   "%s is an IP address: DANE needs a host "
                                   "name whose TLSA records can be looked "
                                   "up",
                                   p->host);
            return -1;
        }
        return 1;
    }
    snprintf(p->dane_name, sizeof p->dane_name, "_%d._tcp.%s", p->port,
             p->host);
    if (mailssl__probe_dns_ready(p) < 0)
        return -2; /* local failure (p->err): the caller reports it */
    p->dane_matched = -1;
    rc = mailssl__dns_query(p->dns, p->dane_name, RR_TLSA, on_answer, p,
                            &p->dns_id, p->err, sizeof p->err);
    if (rc < 0)
        return -2;
    p->dns_pending = 1;
    mailssl__dns_process(p->dns); /* a cached answer may be there already */
    return p->dane_answered ? 1 : 0;
}

void mailssl__probe_dane_release(mailssl_probe *p)
{
    mailssl__probe_addr_release(p);
    if (p->dns_pending)
        mailssl__dns_cancel(p->dns, p->dns_id);
    p->dns_pending = 0;
    mailssl__dns_unref(p->dns);
    p->dns = NULL;
}

/* A DANE outcome: the probe ends (critical) when required or when fatal,
 * else a finding of soft_severity and the probe goes on. The message is
 * what, then the tail that fits the mode. */
static int outcome(mailssl_probe *p, int code, int fatal, int soft_severity,
                   const char *what, const char *soft_tail,
                   const char *hard_tail)
{
    if (fatal || p->dane_mode == MAILSSL_DANE_REQUIRED) {
        mailssl__probe_verdict(p, code, MAILSSL_SEVERITY_CRITICAL, "%s%s",
                               what, hard_tail);
        return 0;
    }
    {
        char msg[sizeof p->message];

        snprintf(msg, sizeof msg, "%s%s", what, soft_tail);
        (void)mailssl_report_add(p->findings, code, soft_severity,
                                 MAILSSL_NO_CERT, NULL, NULL, msg);
    }
    return 1;
}

/* Usable for this service: RFC 7672 section 3.1 for SMTP (DANE-TA(2),
 * DANE-EE(3)), any known usage otherwise; known selector and type. */
static size_t usable_records(const mailssl_probe *p)
{
    size_t i, n = 0;

    for (i = 0; i < p->ndane; i++) {
        const struct mailssl_probe_tlsa *t = &p->dane_recs[i];
        int usage_ok = mailssl__probe_dane_smtp(p)
                           ? t->usage == 2 || t->usage == 3
                           : t->usage <= 3;
        int len_ok = t->matching_type == 0 ||
                     (t->matching_type == 1 && t->len == 32) ||
                     (t->matching_type == 2 && t->len == 64);

        n += usage_ok && t->selector <= 1 && len_ok;
    }
    return n;
}

int mailssl__probe_dane_decide(mailssl_probe *p, int timed_out)
{
    static const char soft_lookup[] =
        "; the probe went on without DANE (DANE clients defer delivery to "
        "this server)";
    static const char hard_lookup[] =
        ": DANE clients defer delivery to this server";
    static const char soft_plain[] =
        "; DANE does not apply and the certificate is checked as usual";
    const char *n = p->dane_name;
    char what[sizeof p->message - 200];

    if (!n[0])
        return 1; /* an IP literal in opportunistic mode */
    if (timed_out || !p->dane_answered) {
        snprintf(what, sizeof what,
                 "no answer to the TLSA lookup of %s within the DANE "
                 "deadline: the DNS resolver is slow or silent",
                 n);
        return outcome(p, MAILSSL_CODE_DANE_LOOKUP_FAILED, 0,
                       MAILSSL_SEVERITY_WARNING, what, soft_lookup,
                       hard_lookup);
    }
    if (p->dane_err) {
        snprintf(what, sizeof what, "the TLSA lookup of %s failed: %s", n,
                 ub_strerror(p->dane_err));
        return outcome(p, MAILSSL_CODE_DANE_LOOKUP_FAILED, 0,
                       MAILSSL_SEVERITY_WARNING, what, soft_lookup,
                       hard_lookup);
    }
    if (p->dane_dnssec == MAILSSL__DNSSEC_BOGUS) {
        snprintf(what, sizeof what,
                 "DNSSEC validation of the TLSA records of %s failed: %s",
                 n, p->dane_why[0] ? p->dane_why : "bogus answer");
        /* answers with no signatures at all point at the resolver more
         * often than at the zone */
        return outcome(p, MAILSSL_CODE_DANE_BOGUS, 1, 0, what, "",
                       strstr(p->dane_why, "no signatures") ||
                               strstr(p->dane_why, "no DNSSEC records")
                           ? "; a resolver that strips DNSSEC records causes "
                             "this for every signed zone (try "
                             "--dns-resolver with a DNSSEC-aware one), "
                             "otherwise DANE clients will not deliver to "
                             "this server: re-sign the zone"
                           : "; DANE clients will not deliver to this "
                             "server: re-sign the zone or fix its DS "
                             "records");
    }
    if (p->dane_dnssec == MAILSSL__DNSSEC_NONE) {
        snprintf(what, sizeof what,
                 "the TLSA lookup of %s failed with DNS rcode %d (%s): a "
                 "broken zone (e.g. a CNAME loop) or an unreachable name "
                 "server",
                 n, p->dane_rcode,
                 p->dane_rcode == 2   ? "SERVFAIL"
                 : p->dane_rcode == 5 ? "REFUSED"
                                      : "error");
        return outcome(p, MAILSSL_CODE_DANE_LOOKUP_FAILED, 0,
                       MAILSSL_SEVERITY_WARNING, what, soft_lookup,
                       hard_lookup);
    }
    if (p->dane_dnssec == MAILSSL__DNSSEC_INSECURE) {
        snprintf(what, sizeof what,
                 "%s is not DNSSEC-signed (insecure)%s", n,
                 p->dane_havedata ? ": its TLSA records cannot be trusted"
                                  : "");
        return outcome(p, MAILSSL_CODE_DANE_INSECURE, 0, MAILSSL_SEVERITY_OK,
                       what, soft_plain,
                       "; DANE was required: sign the zone (and publish "
                       "its DS in the parent)");
    }
    if (!p->dane_havedata || p->ndane == 0) {
        snprintf(what, sizeof what,
                 "no TLSA records at %s (DNSSEC-signed denial)", n);
        return outcome(p, MAILSSL_CODE_DANE_NO_RECORDS, 0,
                       MAILSSL_SEVERITY_OK, what, soft_plain,
                       "; DANE was required: publish a 3 1 1 record for "
                       "the server's key");
    }
    if (p->dane_total > p->ndane)
        (void)mailssl_report_add(
            p->findings, MAILSSL_CODE_DANE_UNUSABLE, MAILSSL_SEVERITY_WARNING,
            MAILSSL_NO_CERT, NULL, NULL,
            p->dane_total > DANE_MAX_RECORDS
                ? "the TLSA RRset is oversized: only the first 64 records "
                  "are used"
                : "some TLSA records are shorter than 4 bytes and were "
                  "ignored");
    if (p->dane_mode == MAILSSL_DANE_REQUIRED && usable_records(p) == 0) {
        mailssl__probe_verdict(
            p, MAILSSL_CODE_DANE_UNUSABLE, MAILSSL_SEVERITY_CRITICAL,
            "none of the %zu TLSA records at %s is usable%s: DANE cannot "
            "authenticate this server; publish a 3 1 1 or 2 1 1 record",
            p->ndane, n,
            mailssl__probe_dane_smtp(p)
                ? " for SMTP (RFC 7672: DANE-TA(2) and DANE-EE(3) only)"
                : "");
        return 0;
    }
    p->dane_use = 1;
    return 1;
}

void mailssl__probe_dane_verified(mailssl_probe *p, size_t matched)
{
    if (!p->dane_use)
        return;
    p->dane_matched = (long)matched;
    if (p->dane_matched > 0 &&
        mailssl_report_find(p->findings, MAILSSL_CODE_DANE_MISMATCH, 0) < 0) {
        char msg[MAILSSL_HOST_MAX + 160];

        snprintf(msg, sizeof msg,
                 "%ld of the %zu TLSA records at %s (DNSSEC secure) match "
                 "the server's certificate chain",
                 p->dane_matched, p->ndane, p->dane_name);
        (void)mailssl_report_add(p->findings, MAILSSL_CODE_DANE_OK,
                                 MAILSSL_SEVERITY_OK, MAILSSL_NO_CERT, NULL,
                                 NULL, msg);
    }
}

void mailssl__probe_dane_json(struct mailssl_buf *b, const mailssl_probe *p)
{
    size_t i, j;

    if (!p->dane_name[0])
        return;
    mailssl__buf_puts(b, ",\"dane\":{\"name\":");
    mailssl__buf_json_string(b, p->dane_name);
    mailssl__buf_puts(b, ",\"dnssec\":");
    mailssl__buf_json_string(b, dnssec_names[p->dane_dnssec]);
    mailssl__buf_puts(b, ",\"records\":[");
    for (i = 0; i < p->ndane; i++) {
        const struct mailssl_probe_tlsa *t = &p->dane_recs[i];

        mailssl__buf_printf(b, "%s\"%d %d %d ", i ? "," : "", t->usage,
                            t->selector, t->matching_type);
        for (j = 0; j < t->len; j++)
            mailssl__buf_printf(b, "%02x", t->data[j]);
        mailssl__buf_puts(b, "\"");
    }
    mailssl__buf_puts(b, "]");
    if (p->dane_matched >= 0)
        mailssl__buf_printf(b, ",\"matched\":%ld", p->dane_matched);
    else
        mailssl__buf_puts(b, ",\"matched\":null");
    mailssl__buf_puts(b, "}");
}
