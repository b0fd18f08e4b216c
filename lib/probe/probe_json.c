/*
 * probe_json.c - a probe result as the JSON object of SPEC.md section 5.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "probe_internal.h"

static void timing(struct mailssl_buf *b, const mailssl_probe *p)
{
    /* in the order the stages run, "total" last */
    static const int order[] = {
        MAILSSL_STAGE_RESOLVE,   MAILSSL_STAGE_DANE,     MAILSSL_STAGE_CONNECT,
        MAILSSL_STAGE_GREETING,  MAILSSL_STAGE_STARTTLS, MAILSSL_STAGE_HANDSHAKE,
        MAILSSL_STAGE_VERIFY,    MAILSSL_STAGE_POST_TLS, MAILSSL_STAGE_TOTAL,
    };
    size_t k;
    int s, first = 1;

    mailssl__buf_puts(b, "\"timing_ms\":{");
    for (k = 0; k < sizeof order / sizeof order[0]; k++) {
        s = order[k];
        if (p->timing[s] < 0)
            continue;
        mailssl__buf_printf(b, "%s\"%s\":%.3f", first ? "" : ",",
                            mailssl_stage_name(s),
                            (double)p->timing[s] / 1000.0);
        first = 0;
    }
    mailssl__buf_puts(b, "}");
}

/* Appends ,"mx":{"dnssec":...,"hosts":[probe objects]} in MX mode. */
static void mx_json(struct mailssl_buf *b, const mailssl_probe *p)
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

MAILSSL_EXPORT char *mailssl_probe_json(const mailssl_probe *p)
{
    struct mailssl_buf b;
    size_t i;

    if (!p || p->state != PS_DONE)
        return NULL;
    mailssl__buf_init(&b);
    mailssl__buf_puts(&b, "{\"url\":");
    if (p->url_ok) {
        struct mailssl_buf u;
        char *us;

        mailssl__buf_init(&u);
        mailssl__url_format(&u, p->service, p->host, p->port);
        us = mailssl__buf_finish(&u);
        if (!us)
            b.oom = 1;
        mailssl__buf_json_string(&b, us);
        mailssl_free(us);
        mailssl__buf_puts(&b, ",\"protocol\":");
        mailssl__buf_json_string(&b, mailssl_service_name(p->service));
        mailssl__buf_puts(&b, ",\"host\":");
        mailssl__buf_json_string(&b, p->host);
        mailssl__buf_printf(&b, ",\"port\":%d", p->port);
    } else {
        mailssl__buf_puts(&b, "null,\"protocol\":null,\"host\":null,"
                              "\"port\":null");
    }
    mailssl__buf_puts(&b, ",\"address\":");
    mailssl__buf_json_string(&b, p->address[0] ? p->address : NULL);
    mailssl__buf_puts(&b, ",\"status\":");
    mailssl__buf_json_string(&b, mailssl_severity_name(p->status));
    mailssl__buf_puts(&b, ",\"diagnosis\":{\"code\":");
    mailssl__buf_json_string(&b, mailssl_code_name(p->diagnosis));
    mailssl__buf_puts(&b, ",\"message\":");
    mailssl__buf_json_string(&b, p->message);
    mailssl__buf_puts(&b, "},\"stage\":");
    mailssl__buf_json_string(&b, mailssl_stage_name(p->stage));
    if (p->tls_version) {
        mailssl__buf_puts(&b, ",\"tls\":{\"version\":");
        mailssl__buf_json_string(&b, p->tls_version);
        mailssl__buf_puts(&b, ",\"cipher\":");
        mailssl__buf_json_string(&b, p->tls_cipher);
        mailssl__buf_puts(&b, ",\"group\":");
        mailssl__buf_json_string(&b, p->tls_group);
        mailssl__buf_puts(&b, "}");
    }
    if (p->have_cert) {
        mailssl__buf_puts(&b, ",\"certificate\":");
        mailssl__certinfo_json_append(&b, &p->cert, p->now_epoch);
    }
    mailssl__buf_printf(&b, ",\"chain_length\":%zu,\"capabilities\":[",
                        p->chain_length);
    for (i = 0; i < p->ncaps; i++) {
        if (i)
            mailssl__buf_puts(&b, ",");
        mailssl__buf_json_string(&b, p->caps[i]);
    }
    mailssl__buf_puts(&b, "]");
    mailssl__probe_dane_json(&b, p);
    mx_json(&b, p);
    if (p->mx_preference >= 0)
        mailssl__buf_printf(&b, ",\"mx_preference\":%d", p->mx_preference);
    mailssl__buf_puts(&b, ",\"findings\":");
    mailssl__report_json_append(&b, p->findings);
    mailssl__buf_puts(&b, ",");
    timing(&b, p);
    mailssl__buf_puts(&b, "}");
    return mailssl__buf_finish(&b);
}
