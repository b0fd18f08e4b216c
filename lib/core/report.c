/*
 * report.c - ordered lists of findings, with JSON and Nagios output.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct finding {
    int code;
    int severity;
    int cert_index;
    char *context_kind;
    char *context;
    char *message;
};

struct mailssl_report {
    struct finding *items;
    size_t count;
    size_t cap;
};

MAILSSL_EXPORT mailssl_report *mailssl_report_new(void)
{
    return calloc(1, sizeof(mailssl_report));
}

static void finding_free(struct finding *f)
{
    free(f->context_kind);
    free(f->context);
    free(f->message);
}

MAILSSL_EXPORT void mailssl_report_clear(mailssl_report *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->count; i++)
        finding_free(&r->items[i]);
    r->count = 0;
}

MAILSSL_EXPORT void mailssl_report_free(mailssl_report *r)
{
    if (!r)
        return;
    mailssl_report_clear(r);
    free(r->items);
    free(r);
}

/* A context kind becomes a JSON key: keep it to [a-z_]. */
static int valid_kind(const char *k)
{
    if (!*k || strlen(k) > 32)
        return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || *k == '_'))
            return 0;
    return 1;
}

MAILSSL_EXPORT int mailssl_report_add(mailssl_report *r, int code,
                                      int severity, int cert_index,
                                      const char *context_kind,
                                      const char *context,
                                      const char *message)
{
    struct finding f;

    if (!r || !mailssl_code_name(code) || !mailssl_severity_name(severity) ||
        cert_index < MAILSSL_NO_CERT || !message ||
        (!context_kind) != (!context) ||
        (context_kind && !valid_kind(context_kind)))
        return MAILSSL_ERR_INVALID;
    if (r->count > 1000000 ||
        strnlen(message, MAILSSL_REPORT_MAX_TEXT + 1) > MAILSSL_REPORT_MAX_TEXT ||
        (context &&
         strnlen(context, MAILSSL_REPORT_MAX_TEXT + 1) > MAILSSL_REPORT_MAX_TEXT))
        return MAILSSL_ERR_TOO_LONG;
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        struct finding *p = realloc(r->items, cap * sizeof(*p));
        if (!p)
            return MAILSSL_ERR_NOMEM;
        r->items = p;
        r->cap = cap;
    }
    f.code = code;
    f.severity = severity;
    f.cert_index = cert_index;
    f.message = mailssl__strdup(message);
    f.context_kind = mailssl__strdup(context_kind);
    f.context = mailssl__strdup(context);
    if (!f.message || (context && (!f.context || !f.context_kind))) {
        finding_free(&f);
        return MAILSSL_ERR_NOMEM;
    }
    r->items[r->count] = f;
    return (int)r->count++;
}

MAILSSL_EXPORT size_t mailssl_report_count(const mailssl_report *r)
{
    return r ? r->count : 0;
}

/* Order of badness: ok < warning < unknown < critical, as Nagios ranks
 * them when it aggregates; the numeric status is still 0-3. */
static int rank(int severity)
{
    static const int ranks[4] = {0, 1, 3, 2};
    return ranks[severity & 3];
}

int mailssl__worse(int a, int b)
{
    return rank(b) > rank(a) ? b : a;
}

MAILSSL_EXPORT int mailssl_report_status(const mailssl_report *r)
{
    size_t i;
    int worst = MAILSSL_SEVERITY_OK;

    if (!r)
        return MAILSSL_ERR_INVALID;
    for (i = 0; i < r->count; i++)
        worst = mailssl__worse(worst, r->items[i].severity);
    return worst;
}

static const struct finding *item(const mailssl_report *r, size_t i)
{
    return (r && i < r->count) ? &r->items[i] : NULL;
}

MAILSSL_EXPORT int mailssl_report_code(const mailssl_report *r, size_t i)
{
    const struct finding *f = item(r, i);
    return f ? f->code : MAILSSL_ERR_INVALID;
}

MAILSSL_EXPORT int mailssl_report_severity(const mailssl_report *r, size_t i)
{
    const struct finding *f = item(r, i);
    return f ? f->severity : MAILSSL_ERR_INVALID;
}

MAILSSL_EXPORT int mailssl_report_cert_index(const mailssl_report *r,
                                             size_t i)
{
    const struct finding *f = item(r, i);
    return f ? f->cert_index : MAILSSL_ERR_INVALID;
}

MAILSSL_EXPORT const char *mailssl_report_message(const mailssl_report *r,
                                                  size_t i)
{
    const struct finding *f = item(r, i);
    return f ? f->message : NULL;
}

MAILSSL_EXPORT const char *
mailssl_report_context_kind(const mailssl_report *r, size_t i)
{
    const struct finding *f = item(r, i);
    return f ? f->context_kind : NULL;
}

MAILSSL_EXPORT const char *mailssl_report_context(const mailssl_report *r,
                                                  size_t i)
{
    const struct finding *f = item(r, i);
    return f ? f->context : NULL;
}

MAILSSL_EXPORT int mailssl_report_find(const mailssl_report *r, int code,
                                       size_t start)
{
    size_t i;

    if (!r)
        return MAILSSL_ERR_INVALID;
    for (i = start; i < r->count; i++)
        if (r->items[i].code == code)
            return (int)i;
    return MAILSSL_ERR_NOT_FOUND;
}

void mailssl__report_json_append(struct mailssl_buf *b,
                                 const mailssl_report *r)
{
    size_t i;

    mailssl__buf_puts(b, "[");
    for (i = 0; i < r->count; i++) {
        const struct finding *f = &r->items[i];
        if (i)
            mailssl__buf_puts(b, ",");
        mailssl__buf_puts(b, "{\"code\":");
        mailssl__buf_json_string(b, mailssl_code_name(f->code));
        mailssl__buf_puts(b, ",\"severity\":");
        mailssl__buf_json_string(b, mailssl_severity_name(f->severity));
        mailssl__buf_puts(b, ",\"message\":");
        mailssl__buf_json_string(b, f->message);
        if (f->cert_index != MAILSSL_NO_CERT)
            mailssl__buf_printf(b, ",\"cert_index\":%d", f->cert_index);
        if (f->context_kind) {
            mailssl__buf_puts(b, ",");
            mailssl__buf_json_string(b, f->context_kind);
            mailssl__buf_puts(b, ":");
            mailssl__buf_json_string(b, f->context);
        }
        mailssl__buf_puts(b, "}");
    }
    mailssl__buf_puts(b, "]");
}

MAILSSL_EXPORT char *mailssl_report_json(const mailssl_report *r)
{
    struct mailssl_buf b;

    if (!r)
        return NULL;
    mailssl__buf_init(&b);
    mailssl__report_json_append(&b, r);
    return mailssl__buf_finish(&b);
}

/* Nagios plugin output is one line: fold CR/LF and '|' (the perfdata
 * separator) out of peer-controlled text. */
static void nagios_text(struct mailssl_buf *b, const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
        else if (c == '|')
            c = '/';
        mailssl__buf_append(b, &c, 1);
    }
}

MAILSSL_EXPORT char *mailssl_report_nagios(const mailssl_report *r,
                                           const char *label)
{
    static const int order[4] = {MAILSSL_SEVERITY_CRITICAL,
                                 MAILSSL_SEVERITY_UNKNOWN,
                                 MAILSSL_SEVERITY_WARNING,
                                 MAILSSL_SEVERITY_OK};
    struct mailssl_buf b;
    const char *status;
    size_t i, shown = 0;
    int k;

    if (!r || (label && strnlen(label, MAILSSL_REPORT_MAX_LABEL + 1) >
                                 MAILSSL_REPORT_MAX_LABEL))
        return NULL;
    mailssl__buf_init(&b);
    status = mailssl_severity_name(mailssl_report_status(r));
    nagios_text(&b, label ? label : "MAILSSL");
    mailssl__buf_puts(&b, " ");
    for (; *status; status++) {
        char c = (char)(*status - 'a' + 'A');
        mailssl__buf_append(&b, &c, 1);
    }
    mailssl__buf_puts(&b, " - ");
    for (k = 0; k < 4; k++) {
        for (i = 0; i < r->count; i++) {
            const struct finding *f = &r->items[i];
            if (f->severity != order[k])
                continue;
            if (shown++)
                mailssl__buf_puts(&b, "; ");
            mailssl__buf_puts(&b, mailssl_code_name(f->code));
            mailssl__buf_puts(&b, ": ");
            nagios_text(&b, f->message);
        }
    }
    if (!shown)
        mailssl__buf_puts(&b, "no findings");
    return mailssl__buf_finish(&b);
}
