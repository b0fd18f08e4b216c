/*
 * probe_format.c - command line and output formats of mailssl-probe.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "probe_format.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const pf_timing_names[PF_NTIMINGS] = {
    "resolve", "connect", "greeting", "starttls",
    "handshake", "verify", "post-tls", "total", "dane",
};

/* ---- command line ----------------------------------------------------- */

static void set_err(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;

    if (!err || !n)
        return;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

static int parse_int(const char *opt, const char *s, long min, long max,
                     int *out, char *err, size_t n)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        set_err(err, n, "%s: '%s' is not a whole number from %ld to %ld",
                opt, s, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_seconds(const char *opt, const char *s, int32_t *ms,
                         char *err, size_t n)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v <= 0 ||
        v > PF_MAX_TIMEOUT_S) {
        set_err(err, n,
                "%s: '%s' is not a number of seconds above 0 and at most %d",
                opt, s, PF_MAX_TIMEOUT_S);
        return -1;
    }
    *ms = (int32_t)ceil(v * 1000.0);
    return 0;
}

static int parse_format(const char *s, int *out, char *err, size_t n)
{
    static const char *const names[] = {"text", "json", "nagios",
                                        "prometheus"};
    int i;

    for (i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    set_err(err, n, "--format: '%s' is not one of text, json, nagios, "
                    "prometheus", s);
    return -1;
}

enum opt_id {
    OPT_CAFILE, OPT_SERVERNAME, OPT_CONNECT_TO, OPT_TIMEOUT, OPT_WARN,
    OPT_CRIT, OPT_FORMAT, OPT_CONCURRENCY, OPT_HELP, OPT_VERSION,
    OPT_DANE, OPT_DNS_ANCHOR, OPT_DNS_RESOLVER, OPT_MX,
};

static const struct {
    const char *name;
    int id;
    int has_value;
} options[] = {
    {"cafile", OPT_CAFILE, 1},        {"servername", OPT_SERVERNAME, 1},
    {"connect-to", OPT_CONNECT_TO, 1}, {"timeout", OPT_TIMEOUT, 1},
    {"warn", OPT_WARN, 1},            {"crit", OPT_CRIT, 1},
    {"format", OPT_FORMAT, 1},        {"concurrency", OPT_CONCURRENCY, 1},
    {"help", OPT_HELP, 0},            {"version", OPT_VERSION, 0},
    /* has_value 2: optional, only as --opt=VALUE */
    {"dane", OPT_DANE, 2},            {"dns-anchor", OPT_DNS_ANCHOR, 1},
    {"dns-resolver", OPT_DNS_RESOLVER, 1}, {"mx", OPT_MX, 0},
};

static int set_string(const char *opt, const char *what, const char *value,
                      const char **out, char *err, size_t n)
{
    if (!*value) {
        set_err(err, n, "%s: empty %s", opt, what);
        return -1;
    }
    *out = value;
    return 0;
}

static int apply_option(struct probe_options *o, int id, const char *value,
                        char *err, size_t n)
{
    switch (id) {
    case OPT_CAFILE:
        return set_string("--cafile", "file name", value, &o->cafile, err,
                          n);
    case OPT_SERVERNAME:
        return set_string("--servername", "name", value, &o->servername,
                          err, n);
    case OPT_CONNECT_TO:
        return set_string("--connect-to", "address", value, &o->connect_to,
                          err, n);
    case OPT_TIMEOUT:
        return parse_seconds("--timeout", value, &o->timeout_ms, err, n);
    case OPT_WARN:
        return parse_int("--warn", value, 0, PF_MAX_DAYS, &o->warn_days, err,
                         n);
    case OPT_CRIT:
        return parse_int("--crit", value, 0, PF_MAX_DAYS, &o->crit_days, err,
                         n);
    case OPT_FORMAT:
        return parse_format(value, &o->format, err, n);
    case OPT_CONCURRENCY:
        return parse_int("--concurrency", value, 1, PF_MAX_CONCURRENCY,
                         &o->concurrency, err, n);
    case OPT_DANE:
        if (!value || strcmp(value, "required") == 0)
            o->dane = PF_DANE_REQUIRED;
        else if (strcmp(value, "opportunistic") == 0)
            o->dane = PF_DANE_OPPORTUNISTIC;
        else if (strcmp(value, "off") == 0)
            o->dane = PF_DANE_OFF;
        else {
            set_err(err, n, "--dane: '%s' is not one of required, "
                            "opportunistic, off", value);
            return -1;
        }
        return 0;
    case OPT_DNS_ANCHOR:
        return set_string("--dns-anchor", "file name", value, &o->dns_anchor,
                          err, n);
    case OPT_DNS_RESOLVER:
        return set_string("--dns-resolver", "address", value,
                          &o->dns_resolver, err, n);
    case OPT_MX:
        o->mx = 1;
        return 0;
    case OPT_HELP:
        o->help = 1;
        return 0;
    case OPT_VERSION:
        o->version = 1;
        return 0;
    }
    return -1;
}

int pf_parse_args(int argc, char **argv, struct probe_options *o, char *err,
                  size_t n)
{
    int i, only_urls = 0;
    size_t k;

    memset(o, 0, sizeof(*o));
    o->timeout_ms = 10000;
    o->warn_days = 30;
    o->crit_days = 7;
    o->format = PF_FORMAT_TEXT;
    o->concurrency = PF_DEFAULT_CONCURRENCY;
    if (err && n)
        err[0] = '\0';

    /* The URLs, in order, wherever they stand among the options. */
    o->urls = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *));
    if (!o->urls) {
        set_err(err, n, "out of memory");
        return -1;
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *value = NULL;
        size_t namelen;
        int found = -1;

        if (only_urls || a[0] != '-') {
            o->urls[o->nurls++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_urls = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0) {
            o->help = 1;
            return 0;
        }
        if (a[1] != '-') {
            set_err(err, n, "unknown option '%s' (see --help)", a);
            goto fail;
        }
        a += 2;
        eq = strchr(a, '=');
        namelen = eq ? (size_t)(eq - a) : strlen(a);
        for (k = 0; k < sizeof(options) / sizeof(options[0]); k++) {
            if (strlen(options[k].name) == namelen &&
                memcmp(options[k].name, a, namelen) == 0) {
                found = (int)k;
                break;
            }
        }
        if (found < 0) {
            set_err(err, n, "unknown option '%s' (see --help)", argv[i]);
            goto fail;
        }
        if (options[found].has_value == 2) {
            value = eq ? eq + 1 : NULL;
        } else if (options[found].has_value) {
            if (eq) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                set_err(err, n, "--%s needs a value", options[found].name);
                goto fail;
            }
        } else if (eq) {
            set_err(err, n, "--%s takes no value", options[found].name);
            goto fail;
        }
        if (apply_option(o, options[found].id, value, err, n) < 0)
            goto fail;
        if (o->help || o->version)
            return 0;
    }
    if (o->crit_days > o->warn_days) {
        set_err(err, n, "--crit (%d days) must not exceed --warn (%d days)",
                o->crit_days, o->warn_days);
        goto fail;
    }
    if (o->nurls == 0) {
        set_err(err, n, "no URL given: mailssl-probe [OPTIONS] "
                        "SERVICE://HOST[:PORT]... (see --help)");
        goto fail;
    }
    return 0;
fail:
    free(o->urls);
    o->urls = NULL;
    o->nurls = 0;
    return -1;
}

/* ---- shared helpers --------------------------------------------------- */

/* A status out of 0-3 counts as unknown. */
static int level(int s)
{
    return (s >= 0 && s <= 3) ? s : 3;
}

/* Severity ranks as the library's report status does: critical > unknown
 * > warning > ok. */
static int rank(int status)
{
    switch (status) {
    case 0: return 0;
    case 1: return 1;
    case 3: return 2;
    case 2: return 3;
    }
    return 2; /* anything else counts as unknown */
}

int pf_worst_status(const struct probe_view *v, size_t n)
{
    size_t i;
    int worst = 0;

    for (i = 0; i < n; i++) {
        int s = level(v[i].status);
        if (rank(s) > rank(worst))
            worst = s;
    }
    return worst;
}

static const char *status_name(int s)
{
    static const char *const names[] = {"ok", "warning", "critical",
                                        "unknown"};
    return names[level(s)];
}

static const char *status_upper(int s)
{
    static const char *const names[] = {"OK", "WARNING", "CRITICAL",
                                        "UNKNOWN"};
    return names[level(s)];
}

#define CLEAN_NAGIOS 1 /* also '|' -> '/' (the perfdata separator) */

/* Peer text goes to terminals and monitoring lines: newlines and tabs
 * become spaces, other control bytes '?', so a hostile server can neither
 * break the line structure nor send terminal escapes. */
static void put_clean(FILE *out, const char *s, int flags)
{
    if (!s)
        return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
        else if (c < 0x20 || c == 0x7f)
            c = '?';
        else if ((flags & CLEAN_NAGIOS) && c == '|')
            c = '/';
        fputc(c, out);
    }
}

static size_t clean_len(const char *s)
{
    return s ? strlen(s) : 0;
}

static void format_date(char *dst, size_t n, int64_t epoch)
{
    time_t t = (time_t)epoch;
    struct tm tm;

    if (!gmtime_r(&t, &tm) || !strftime(dst, n, "%Y-%m-%d", &tm))
        snprintf(dst, n, "?");
}

static void format_expiry(char *dst, size_t n, const struct probe_view *v)
{
    char date[32];

    if (!v->has_cert) {
        snprintf(dst, n, "-");
        return;
    }
    format_date(date, sizeof(date), v->not_after);
    if (v->days_left < 0)
        snprintf(dst, n, "%s (expired)", date);
    else
        snprintf(dst, n, "%s (%lldd)", date, (long long)v->days_left);
}

static void format_duration(char *dst, size_t n, int64_t us)
{
    if (us < 0)
        snprintf(dst, n, "-");
    else if (us < 1000000)
        snprintf(dst, n, "%.1f ms", (double)us / 1000.0);
    else
        snprintf(dst, n, "%.2f s", (double)us / 1e6);
}

/* A URL given twice would repeat perfdata labels and Prometheus series,
 * which monitoring systems reject. Returns a malloc'd array where flag i is
 * 1 when v[i].url equals an earlier one (NULL when out of memory). */
static int cmp_url(const void *a, const void *b)
{
    const struct probe_view *const *x = a, *const *y = b;
    int c = strcmp((*x)->url ? (*x)->url : "", (*y)->url ? (*y)->url : "");
    if (c)
        return c;
    return (*x < *y) ? -1 : (*x > *y);
}

static unsigned char *duplicate_flags(const struct probe_view *v, size_t n)
{
    const struct probe_view **sorted = malloc((n ? n : 1) * sizeof(*sorted));
    unsigned char *dup = calloc(n ? n : 1, 1);
    size_t i;

    if (!sorted || !dup) {
        free(sorted);
        free(dup);
        return NULL;
    }
    for (i = 0; i < n; i++)
        sorted[i] = &v[i];
    /* equal URLs sort by position, so the first one stays unflagged */
    qsort(sorted, n, sizeof(*sorted), cmp_url);
    for (i = 1; i < n; i++)
        if (strcmp(sorted[i - 1]->url ? sorted[i - 1]->url : "",
                   sorted[i]->url ? sorted[i]->url : "") == 0)
            dup[sorted[i] - v] = 1;
    free(sorted);
    return dup;
}

/* ---- text ------------------------------------------------------------- */

#define NCOLS 6

static void pad(FILE *out, size_t used, size_t width)
{
    while (used++ < width)
        fputc(' ', out);
}

void pf_write_text(FILE *out, const struct probe_view *v, size_t n)
{
    static const char *const head[NCOLS] = {"TARGET", "STATUS", "DIAGNOSIS",
                                            "TLS", "EXPIRES", "TIME"};
    size_t width[NCOLS], i;
    char expiry[64], dur[32];
    int c;

    for (c = 0; c < NCOLS; c++)
        width[c] = strlen(head[c]);
    for (i = 0; i < n; i++) {
        size_t w[NCOLS];
        format_expiry(expiry, sizeof(expiry), &v[i]);
        format_duration(dur, sizeof(dur), v[i].timing_us[PF_TIMING_TOTAL]);
        w[0] = clean_len(v[i].url);
        w[1] = strlen(status_name(v[i].status));
        w[2] = v[i].diagnosis ? strlen(v[i].diagnosis) : 1;
        w[3] = v[i].tls_version ? strlen(v[i].tls_version) : 1;
        w[4] = strlen(expiry);
        w[5] = strlen(dur);
        for (c = 0; c < NCOLS; c++)
            if (w[c] > width[c])
                width[c] = w[c];
    }
    for (c = 0; c < NCOLS; c++) {
        fputs(head[c], out);
        if (c < NCOLS - 1)
            pad(out, strlen(head[c]), width[c] + 2);
    }
    fputc('\n', out);
    for (i = 0; i < n; i++) {
        const char *diag = v[i].diagnosis ? v[i].diagnosis : "-";
        const char *tls = v[i].tls_version ? v[i].tls_version : "-";
        format_expiry(expiry, sizeof(expiry), &v[i]);
        format_duration(dur, sizeof(dur), v[i].timing_us[PF_TIMING_TOTAL]);
        put_clean(out, v[i].url, 0);
        pad(out, clean_len(v[i].url), width[0] + 2);
        fputs(status_name(v[i].status), out);
        pad(out, strlen(status_name(v[i].status)), width[1] + 2);
        fputs(diag, out);
        pad(out, strlen(diag), width[2] + 2);
        put_clean(out, tls, 0);
        pad(out, strlen(tls), width[3] + 2);
        fputs(expiry, out);
        pad(out, strlen(expiry), width[4] + 2);
        fputs(dur, out);
        fputc('\n', out);
    }
    /* Details: what an operator acts on, for every target that is not ok
     * or has findings. */
    for (i = 0; i < n; i++) {
        size_t f;
        if (v[i].status == 0 && v[i].nfindings == 0)
            continue;
        fputc('\n', out);
        put_clean(out, v[i].url, 0);
        fprintf(out, ": %s, %s", status_name(v[i].status),
                v[i].diagnosis ? v[i].diagnosis : "-");
        if (v[i].stage)
            fprintf(out, " (last stage completed: %s)", v[i].stage);
        if (v[i].address) {
            fputs(" at ", out);
            put_clean(out, v[i].address, 0);
        }
        fputc('\n', out);
        if (v[i].message && *v[i].message) {
            fputs("  ", out);
            put_clean(out, v[i].message, 0);
            fputc('\n', out);
        }
        for (f = 0; f < v[i].nfindings; f++) {
            const struct pf_finding *fi = &v[i].findings[f];
            /* the diagnosis is often one of the findings: say it once */
            if (fi->message && v[i].message &&
                strcmp(fi->message, v[i].message) == 0)
                continue;
            fprintf(out, "  - %s (%s): ", fi->code ? fi->code : "?",
                    fi->severity ? fi->severity : "?");
            put_clean(out, fi->message, 0);
            fputc('\n', out);
        }
    }
}

/* ---- nagios ----------------------------------------------------------- */

/* A perfdata label: quoted, without the two characters the format
 * reserves inside quotes ('=' and the quote itself). */
static void put_label(FILE *out, const struct probe_view *v, size_t n,
                      const char *what)
{
    fputc('\'', out);
    if (n > 1 && v->url) {
        const char *s;
        for (s = v->url; *s; s++) {
            unsigned char c = (unsigned char)*s;
            if (c == '\'' || c == '=' || c < 0x20 || c == 0x7f || c == '|')
                c = '_';
            fputc(c, out);
        }
        fputc(' ', out);
    }
    fputs(what, out);
    fputc('\'', out);
}

static void put_seconds(FILE *out, int64_t us)
{
    fprintf(out, "%lld.%06llds", (long long)(us / 1000000),
            (long long)(us % 1000000));
}

/* Not mailssl_report_nagios() (lib/core/report.c), on purpose: that one is the
 * line of one report, its findings as "code: message" worst first, no
 * perfdata ("no findings" when empty). This one is a plugin run over
 * several targets: each target's primary diagnosis with its URL, a count
 * by status, and perfdata per target (days_left against the --warn/--crit
 * windows, handshake and total time, labels kept unique). What they share
 * is the status word, the worst-first order and folding '|' to '/' and
 * line ends to spaces (here other control bytes also become '?', as in
 * every format of this program). Sharing code would need a new exported
 * symbol, since the programs use only the public API. */
void pf_write_nagios(FILE *out, const struct probe_view *v, size_t n,
                     int warn_days, int crit_days)
{
    static const int order[4] = {2, 3, 1, 0};
    size_t count[4] = {0, 0, 0, 0}, i;
    unsigned char *dup;
    int worst = pf_worst_status(v, n), k, first = 1;

    for (i = 0; i < n; i++)
        count[level(v[i].status)]++;
    fprintf(out, "MAILSSL-PROBE %s - ", status_upper(worst));
    if (n != 1) {
        fprintf(out, "%zu targets:", n);
        for (k = 0; k < 4; k++) {
            if (!count[order[k]])
                continue;
            fprintf(out, "%s %zu %s", first ? "" : ",", count[order[k]],
                    status_name(order[k]));
            first = 0;
        }
    }
    /* One target: always say what happened. Several: the ones that are
     * not ok, worst first. */
    for (k = 0; k < 4; k++) {
        for (i = 0; i < n; i++) {
            int s = level(v[i].status);
            if (s != order[k] || (n != 1 && s == 0))
                continue;
            if (n != 1)
                fputs("; ", out);
            put_clean(out, v[i].url, CLEAN_NAGIOS);
            fputc(' ', out);
            fputs(v[i].diagnosis ? v[i].diagnosis : "-", out);
            if (v[i].message && *v[i].message) {
                fputs(": ", out);
                put_clean(out, v[i].message, CLEAN_NAGIOS);
            }
        }
    }
    /* Perfdata: 'label'=value[UOM];[warn];[crit];[min];[max]. Days left
     * alert below the windows, written as the plugin range "N:". */
    dup = duplicate_flags(v, n);
    fputs(" |", out);
    for (i = 0; dup && i < n; i++) {
        const int64_t hs = v[i].timing_us[4];
        const int64_t total = v[i].timing_us[PF_TIMING_TOTAL];
        if (dup[i])
            continue;
        if (v[i].has_cert) {
            fputc(' ', out);
            put_label(out, &v[i], n, "days_left");
            fprintf(out, "=%lld;%d:;%d:;;", (long long)v[i].days_left,
                    warn_days, crit_days);
        }
        if (hs >= 0) {
            fputc(' ', out);
            put_label(out, &v[i], n, "handshake_time");
            fputc('=', out);
            put_seconds(out, hs);
            fputs(";;;0;", out);
        }
        if (total >= 0) {
            fputc(' ', out);
            put_label(out, &v[i], n, "time");
            fputc('=', out);
            put_seconds(out, total);
            fputs(";;;0;", out);
        }
    }
    free(dup);
    fputc('\n', out);
}

/* ---- prometheus ------------------------------------------------------- */

static void put_label_value(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '"')
            fputs("\\\"", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static void family(FILE *out, const char *name, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* The labels every series of a target carries, without the closing
 * brace so that callers can add their own. */
static void series(FILE *out, const char *name, const struct probe_view *v)
{
    fputs(name, out);
    fputs("{target=", out);
    put_label_value(out, v->url);
    fputs(",service=", out);
    put_label_value(out, v->service ? v->service : "");
}

void pf_write_prometheus(FILE *out, const struct probe_view *v, size_t n)
{
    unsigned char *dup = duplicate_flags(v, n);
    size_t i, s;

    if (!dup)
        return;
    family(out, "mailssl_probe_success",
           "1 when the handshake completed, the certificate verified and "
           "the service answered over TLS (diagnosis ok or cert-expiring).");
    for (i = 0; i < n; i++) {
        if (dup[i])
            continue;
        series(out, "mailssl_probe_success", &v[i]);
        fprintf(out, "} %d\n", v[i].stage && strcmp(v[i].stage, "done") == 0);
    }
    family(out, "mailssl_probe_status",
           "Probe status as a monitoring-plugin level: 0 ok, 1 warning, "
           "2 critical, 3 unknown.");
    for (i = 0; i < n; i++) {
        if (dup[i])
            continue;
        series(out, "mailssl_probe_status", &v[i]);
        fprintf(out, "} %d\n", level(v[i].status));
    }
    family(out, "mailssl_probe_diagnosis",
           "The primary diagnosis of the probe (label code) and the last "
           "stage completed (label stage); always 1.");
    for (i = 0; i < n; i++) {
        if (dup[i])
            continue;
        series(out, "mailssl_probe_diagnosis", &v[i]);
        fputs(",code=", out);
        put_label_value(out, v[i].diagnosis ? v[i].diagnosis : "unknown");
        fputs(",stage=", out);
        put_label_value(out, v[i].stage ? v[i].stage : "none");
        fputs("} 1\n", out);
    }
    family(out, "mailssl_probe_tls_version_info",
           "The negotiated TLS version (label version); always 1.");
    for (i = 0; i < n; i++) {
        if (dup[i])
            continue;
        if (!v[i].tls_version)
            continue;
        series(out, "mailssl_probe_tls_version_info", &v[i]);
        fputs(",version=", out);
        put_label_value(out, v[i].tls_version);
        fputs("} 1\n", out);
    }
    family(out, "mailssl_probe_findings",
           "Number of findings of the probe by severity.");
    for (i = 0; i < n; i++) {
        if (dup[i])
            continue;
        for (s = 0; s < 4; s++) {
            size_t f, c = 0;
            for (f = 0; f < v[i].nfindings; f++)
                if (v[i].findings[f].severity &&
                    strcmp(v[i].findings[f].severity,
                           status_name((int)s)) == 0)
                    c++;
            series(out, "mailssl_probe_findings", &v[i]);
            fprintf(out, ",severity=\"%s\"} %zu\n", status_name((int)s), c);
        }
    }
    family(out, "mailssl_cert_not_before_seconds",
           "Start of the leaf certificate's validity, seconds since the "
           "epoch.");
    for (i = 0; i < n; i++) {
        if (dup[i])
            continue;
        if (!v[i].has_cert)
            continue;
        series(out, "mailssl_cert_not_before_seconds", &v[i]);
        fprintf(out, "} %lld\n", (long long)v[i].not_before);
    }
    family(out, "mailssl_cert_not_after_seconds",
           "Expiry of the leaf certificate, seconds since the epoch.");
    for (i = 0; i < n; i++) {
        if (dup[i])
            continue;
        if (!v[i].has_cert)
            continue;
        series(out, "mailssl_cert_not_after_seconds", &v[i]);
        fprintf(out, "} %lld\n", (long long)v[i].not_after);
    }
    family(out, "mailssl_probe_duration_seconds",
           "Time spent in each probe stage that ran (label stage), and in "
           "the whole probe (stage total).");
    for (i = 0; i < n; i++) {
        if (dup[i])
            continue;
        for (s = 0; s < PF_NTIMINGS; s++) {
            int64_t us = v[i].timing_us[s];
            if (us < 0)
                continue;
            series(out, "mailssl_probe_duration_seconds", &v[i]);
            fprintf(out, ",stage=\"%s\"} %lld.%06lld\n", pf_timing_names[s],
                    (long long)(us / 1000000), (long long)(us % 1000000));
        }
    }
    free(dup);
}

/* ---- usage ------------------------------------------------------------ */

void pf_write_usage(FILE *out, const char *prog)
{
    fprintf(out,
"Usage: %s [OPTIONS] URL...\n"
"\n"
"Probe mail services over implicit TLS and STARTTLS and say which stage\n"
"failed and why. URL is SERVICE://HOST[:PORT] (IPv6 literals in brackets)\n"
"with SERVICE one of smtp, submission, smtps (or submissions), lmtp, imap,\n"
"imaps, pop3, pop3s, sieve; PORT defaults to the service's IANA port.\n"
"All URLs are probed concurrently, in one thread.\n"
"\n"
"Options:\n"
"  --cafile FILE        trust the CA certificates in FILE (PEM, or a\n"
"                       directory of them) instead of the system store\n"
"  --servername NAME    send NAME as SNI and verify the certificate for\n"
"                       it (default: the URL host); applies to every URL\n"
"  --connect-to ADDRESS connect to ADDRESS (an IP address or a host name)\n"
"                       instead of the URL host, which is kept for SNI and\n"
"                       verification; applies to every URL\n"
"  --timeout SECONDS    deadline of each whole probe (default 10; decimals\n"
"                       allowed)\n"
"  --warn DAYS          warning when the certificate expires in fewer\n"
"                       than DAYS days (default 30)\n"
"  --crit DAYS          critical when it expires in fewer than DAYS days\n"
"                       (default 7; at most --warn)\n"
"  --format FORMAT      text (default): a table and the details of every\n"
"                       target that is not ok;\n"
"                       json: one JSON object a target, one a line;\n"
"                       nagios: one monitoring-plugin line with perfdata;\n"
"                       prometheus: text exposition format for the\n"
"                       node_exporter textfile collector\n"
"  --concurrency N      probes running at once (default %d, at most %d)\n"
"  --dane[=MODE]        look up the TLSA records of _PORT._tcp.HOST with\n"
"                       DNSSEC and check the server against them (RFC\n"
"                       7672 for smtp/lmtp); MODE required (the default\n"
"                       of --dane: no secure, usable, matching record is\n"
"                       critical), opportunistic (use them when the zone\n"
"                       is signed) or off\n"
"  --dns-anchor FILE    DNSSEC trust anchor (DS/DNSKEY records, default\n"
"                       /usr/share/dns/root.key)\n"
"  --dns-resolver ADDR[@PORT]  send the DANE lookups to this resolver (an\n"
"                       IP address; default: /etc/resolv.conf)\n"
"  --mx                 smtp://DOMAIN: look up the MX records of DOMAIN\n"
"                       (with DNSSEC) and probe every mail host in\n"
"                       preference order, one result a host\n"
"  -h, --help           show this help and exit\n"
"  --version            show the program and library versions and exit\n"
"\n"
"Exit status: the worst status over all targets, ranked critical >\n"
"unknown > warning > ok: 0 ok, 1 warning, 2 critical, 3 unknown. Bad usage\n"
"(unknown option, bad value, bad URL) prints a message and exits 3\n"
"(with --format nagios also as an UNKNOWN status line).\n"
"\n"
"Examples:\n"
"  %s imaps://mail.example.com smtp://mx.example.com:25\n"
"  %s --format nagios --warn 21 --crit 7 submission://mail.example.com\n"
"  %s --connect-to 192.0.2.10 pop3s://mail.example.com\n"
"  %s --dane smtp://mx.example.com\n"
"\n"
"See mailssl-probe(1) for the output formats and diagnosis codes.\n",
            prog, PF_DEFAULT_CONCURRENCY, PF_MAX_CONCURRENCY, prog, prog,
            prog, prog);
}
