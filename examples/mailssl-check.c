/*
 * mailssl-check - check a binding store config before a server uses it
 * (SPEC.md section 6): load it (a syntax or credential error is
 * FILE:LINE:COLUMN: message and exit 3), validate every credential and
 * prove every listen line resolves (mailssl_store_audit), print the
 * findings as text or JSON lines, and exit with the worst severity.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailssl.h"

#define PROG "mailssl-check"
#define EXIT_USAGE 3 /* the monitoring-plugin "unknown" */
#define MAX_DAYS 36500

#define FORMAT_TEXT 0
#define FORMAT_JSON 1
#define FORMAT_NAGIOS 2

#define MAX_TIMEOUT_S 3600
#define MAX_CONCURRENCY 4096

struct options {
    const char *config;
    const char *cafile;
    const char *export_to;  /* --export dovecot|postfix */
    int format;
    int warn_days, crit_days;
    int live;               /* --live: probe the running servers too */
    int timeout_s;          /* per probe */
    int concurrency;
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: %s CONFIG [--live] [--cafile FILE] "
            "[--format text|json|nagios]\n"
            "       [--warn DAYS] [--crit DAYS] [--timeout SECONDS] "
            "[--concurrency N]\n"
            "       %s --export dovecot|postfix CONFIG\n"
            "\n"
            "Loads CONFIG (the binding store format of libmailssl), "
            "validates every\ncredential it binds and proves that every "
            "'listen' line resolves to a\nvalid certificate for a client "
            "that sends no server name.\n"
            "\n"
            "  --live               also probe every listen line of the "
            "running server\n"
            "                       (without SNI and with every exact name "
            "bound on it)\n"
            "                       and compare: ok, no-binding-live, "
            "cert-drift, probe\n"
            "                       diagnoses\n"
            "  --export dovecot|postfix\n"
            "                       print that server's TLS configuration "
            "for the same\n"
            "                       bindings and listeners (a starting "
            "point), exit 0\n"
            "  --cafile FILE        trust the CA certificates of FILE (or of "
            "every file\n"
            "                       of a directory) instead of the system "
            "trust store\n"
            "  --format text|json|nagios\n"
            "                       text (default): one line a finding and "
            "a summary;\n"
            "                       json: one object a line, one a finding;\n"
            "                       nagios: one monitoring-plugin status "
            "line\n"
            "  --timeout SECONDS    --live: deadline of each probe (10)\n"
            "  --concurrency N      --live: probes at once (64)\n"
            "  --warn DAYS          cert-expiring is a warning below DAYS "
            "days left (30)\n"
            "  --crit DAYS          ... and critical below DAYS days left "
            "(7)\n"
            "  --help, --version\n"
            "\n"
            "Exit status: the worst severity found: 0 ok, 1 warning, 2 "
            "critical,\n3 unknown. A config that does not load prints "
            "FILE:LINE:COLUMN: message\non standard error and exits 3, as "
            "does a bad command line.\n"
            "See mailssl-check(1).\n",
            PROG, PROG);
}

static int bad_usage(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s: ", PROG);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return -1;
}

/* A whole number from lo to max (the message names the range). */
static int parse_number(const char *opt, const char *v, long lo, long max,
                        int *out)
{
    char *end, range[48];
    long n = strtol(v, &end, 10);

    if (!*v || *end || n < lo || n > max) {
        snprintf(range, sizeof(range), "%ld to %ld", lo, max);
        fprintf(stderr, "%s: %s: '%s' is not a whole number from %s\n",
                PROG, opt, v, range);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* Returns 0, 1 for --help/--version (done), -1 for bad usage (said). */
static int parse_args(int argc, char **argv, struct options *o)
{
    int a, only_args = 0;

    memset(o, 0, sizeof(*o));
    o->warn_days = 30;
    o->crit_days = 7;
    o->timeout_s = 10;
    o->concurrency = 64;
    for (a = 1; a < argc; a++) {
        const char *arg = argv[a], *eq, *v;
        char name[32];
        size_t nl;

        if (only_args || arg[0] != '-' || !arg[1]) {
            if (o->config)
                return bad_usage("one CONFIG only, not '%s'%s (see --help)",
                                 arg, "");
            o->config = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_args = 1;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("%s (libmailssl %s)\n", PROG, mailssl_version());
            return 1;
        }
        if (strcmp(arg, "--live") == 0) {
            o->live = 1;
            continue;
        }
        eq = strchr(arg, '=');
        nl = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nl >= sizeof(name))
            nl = sizeof(name) - 1;
        memcpy(name, arg, nl);
        name[nl] = '\0';
        if (strcmp(name, "--cafile") != 0 && strcmp(name, "--format") != 0 &&
            strcmp(name, "--warn") != 0 && strcmp(name, "--crit") != 0 &&
            strcmp(name, "--export") != 0 && strcmp(name, "--timeout") != 0 &&
            strcmp(name, "--concurrency") != 0)
            return bad_usage("unknown option '%s'%s (see --help)", arg, "");
        if (eq)
            v = eq + 1;
        else if (a + 1 < argc)
            v = argv[++a];
        else
            return bad_usage("%s needs a value%s", name, "");
        if (strcmp(name, "--cafile") == 0) {
            o->cafile = v;
        } else if (strcmp(name, "--export") == 0) {
            if (strcmp(v, "dovecot") != 0 && strcmp(v, "postfix") != 0)
                return bad_usage("--export: '%s' is not one of dovecot, "
                                 "postfix%s",
                                 v, "");
            o->export_to = v;
        } else if (strcmp(name, "--format") == 0) {
            if (strcmp(v, "text") == 0)
                o->format = FORMAT_TEXT;
            else if (strcmp(v, "json") == 0)
                o->format = FORMAT_JSON;
            else if (strcmp(v, "nagios") == 0)
                o->format = FORMAT_NAGIOS;
            else
                return bad_usage("--format: '%s' is not one of text, "
                                 "json, nagios%s",
                                 v, "");
        } else if (strcmp(name, "--timeout") == 0) {
            if (parse_number(name, v, 1, MAX_TIMEOUT_S, &o->timeout_s) < 0)
                return -1;
        } else if (strcmp(name, "--concurrency") == 0) {
            if (parse_number(name, v, 1, MAX_CONCURRENCY, &o->concurrency) <
                0)
                return -1;
        } else if (parse_number(name, v, 0, MAX_DAYS,
                                strcmp(name, "--warn") == 0
                                    ? &o->warn_days
                                    : &o->crit_days) < 0) {
            return -1;
        }
    }
    if (!o->config)
        return bad_usage("no CONFIG given: %s CONFIG [OPTIONS]%s "
                         "(see --help)",
                         PROG, "");
    if (o->crit_days > o->warn_days) {
        char c[16], w[16];
        snprintf(c, sizeof(c), "%d", o->crit_days);
        snprintf(w, sizeof(w), "%d", o->warn_days);
        return bad_usage("--crit (%s days) must not exceed --warn (%s days)",
                         c, w);
    }
    if (o->export_to && o->live)
        return bad_usage("--export and --live do not go together%s%s", "",
                         "");
    return 0;
}

/* Prints the array of mailssl_report_json() one object a line: the
 * library writes the JSON, this only splits it at the top level. */
static void print_json_lines(const char *json)
{
    const char *p = json, *start = NULL;
    int depth = 0, in_string = 0;

    for (; *p; p++) {
        if (in_string) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_string = 0;
            continue;
        }
        if (*p == '"') {
            in_string = 1;
        } else if (*p == '{' || *p == '[') {
            if (depth++ == 1 && *p == '{')
                start = p;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 1 && start) {
                fwrite(start, 1, (size_t)(p + 1 - start), stdout);
                fputc('\n', stdout);
                start = NULL;
            }
        }
    }
}

static void print_text(const struct options *o, mailssl_store *store,
                       const mailssl_report *r, int status)
{
    size_t i, n = mailssl_report_count(r), count[4] = {0, 0, 0, 0};

    for (i = 0; i < n; i++) {
        const char *kind = mailssl_report_context_kind(r, i);
        const char *ctx = mailssl_report_context(r, i);
        int sev = mailssl_report_severity(r, i);

        if (sev >= 0 && sev <= 3)
            count[sev]++;
        /* a binding's context is FILE:LINE: compiler style */
        if (kind && ctx && strcmp(kind, "binding") == 0 && strchr(ctx, ':') &&
            !strchr(ctx, ' '))
            printf("%s: ", ctx);
        else if (kind && ctx)
            printf("%s %s: ", kind, ctx);
        printf("%s: %s: %s\n", mailssl_severity_name(sev),
               mailssl_code_name(mailssl_report_code(r, i)),
               mailssl_report_message(r, i));
    }
    if (o->live) {
        /* what was probed, from the store itself (not the file again) */
        size_t k, nl = mailssl_store_listener_count(store);
        printf("live: %zu listener%s probed:", nl, nl == 1 ? "" : "s");
        for (k = 0; k < nl; k++) {
            char addr[MAILSSL_ADDRESS_MAX];
            int svc, port;
            if (mailssl_store_listener_get(store, k, &svc, addr, sizeof addr,
                                           &port) == MAILSSL_OK)
                printf("%s %s %s %d", k ? "," : "", mailssl_service_name(svc),
                       addr, port);
        }
        printf("\n");
    }
    printf("%s: %s: %zu binding%s, %zu listener%s", o->config,
           mailssl_severity_name(status), mailssl_store_count(store),
           mailssl_store_count(store) == 1 ? "" : "s",
           mailssl_store_listener_count(store),
           mailssl_store_listener_count(store) == 1 ? "" : "s");
    if (n == 0)
        printf(", no findings\n");
    else
        printf("; %zu critical, %zu warning, %zu unknown, %zu ok "
               "finding%s\n",
               count[MAILSSL_SEVERITY_CRITICAL],
               count[MAILSSL_SEVERITY_WARNING],
               count[MAILSSL_SEVERITY_UNKNOWN], count[MAILSSL_SEVERITY_OK],
               n == 1 ? "" : "s");
}

/* --live: probe every listen line (and name bound on it) of the running
 * server with the library's live audit, in one batch. Returns the worst
 * severity added or a negative error (said). */
static int live_audit(const struct options *o, mailssl_store *store,
                      mailssl_report *report)
{
    mailssl_live *lv = mailssl_live_new(store);
    size_t i;
    int rc = MAILSSL_OK;

    if (!lv) {
        fprintf(stderr, "%s: --live: out of memory\n", PROG);
        return MAILSSL_ERR_NOMEM;
    }
    for (i = 0; i < mailssl_live_count(lv) && rc == MAILSSL_OK; i++) {
        mailssl_probe *p = mailssl_live_probe(lv, i);

        rc = mailssl_probe_set_timeout_ms(p, (int32_t)o->timeout_s * 1000);
        if (rc == MAILSSL_OK)
            rc = mailssl_probe_set_days(p, o->warn_days, o->crit_days);
        if (rc == MAILSSL_OK && o->cafile)
            rc = mailssl_probe_set_cafile(p, o->cafile);
        if (rc < 0)
            fprintf(stderr, "%s: --live: %s\n", PROG, mailssl_probe_error(p));
    }
    if (rc == MAILSSL_OK && (rc = mailssl_live_run(lv, o->concurrency)) < 0)
        fprintf(stderr, "%s: --live: %s\n", PROG, mailssl_strerror(rc));
    if (rc == MAILSSL_OK && (rc = mailssl_live_report(lv, report)) < 0)
        fprintf(stderr, "%s: --live: %s\n", PROG, mailssl_strerror(rc));
    mailssl_live_free(lv);
    return rc;
}

/* One monitoring-plugin line: the library's, with each message led by
 * what it is about ("listener imaps 192.0.2.10 993: ..."). */
static char *nagios_line(const mailssl_report *r)
{
    mailssl_report *copy = mailssl_report_new();
    char *line = NULL;
    size_t i;

    if (!copy)
        return NULL;
    for (i = 0; i < mailssl_report_count(r); i++) {
        const char *kind = mailssl_report_context_kind(r, i);
        const char *ctx = mailssl_report_context(r, i);
        const char *msg = mailssl_report_message(r, i);
        size_t n = (kind ? strlen(kind) : 0) + (ctx ? strlen(ctx) : 0) +
                   strlen(msg) + 8;
        char *text = malloc(n);

        if (!text)
            goto out;
        if (kind && ctx)
            snprintf(text, n, "%s %s: %s", kind, ctx, msg);
        else
            snprintf(text, n, "%s", msg);
        if (mailssl_report_add(copy, mailssl_report_code(r, i),
                               mailssl_report_severity(r, i),
                               mailssl_report_cert_index(r, i), kind, ctx,
                               text) < 0) {
            free(text);
            goto out;
        }
        free(text);
    }
    line = mailssl_report_nagios(copy, "MAILSSL-CHECK");
out:
    mailssl_report_free(copy);
    return line;
}

int main(int argc, char **argv)
{
    struct options o;
    mailssl_store *store = NULL;
    mailssl_validator *v = NULL;
    mailssl_report *report = NULL;
    int rc, status = EXIT_USAGE;

    rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? (fflush(stdout) == 0 ? 0 : EXIT_USAGE) : EXIT_USAGE;
    if ((rc = mailssl_init()) < 0) {
        fprintf(stderr, "%s: cannot initialise the library: %s\n", PROG,
                mailssl_strerror(rc));
        return EXIT_USAGE;
    }
    store = mailssl_store_new();
    v = mailssl_validator_new();
    report = mailssl_report_new();
    if (!store || !v || !report) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        goto out;
    }
    if (o.cafile && mailssl_validator_set_cafile(v, o.cafile) < 0) {
        fprintf(stderr, "%s: --cafile: %s\n", PROG, mailssl_validator_error(v));
        goto out;
    }
    if (mailssl_validator_set_days(v, o.warn_days, o.crit_days) < 0) {
        fprintf(stderr, "%s: --warn/--crit: %s\n", PROG,
                mailssl_validator_error(v));
        goto out;
    }
    if (mailssl_store_load_file(store, o.config) < 0) {
        fprintf(stderr, "%s\n", mailssl_store_error(store));
        goto out;
    }
    if (o.export_to) {
        char *text = mailssl_store_export(store, o.export_to);
        if (!text) {
            fprintf(stderr, "%s: --export %s: %s\n", PROG, o.export_to,
                    mailssl_store_error(store));
            goto out;
        }
        fputs(text, stdout);
        mailssl_free(text);
        status = fflush(stdout) == 0 && !ferror(stdout) ? 0 : EXIT_USAGE;
        goto out;
    }
    rc = mailssl_store_audit(store, v, report);
    if (rc < 0) {
        fprintf(stderr, "%s: audit failed: %s\n", PROG,
                mailssl_store_error(store)[0] ? mailssl_store_error(store)
                                              : mailssl_strerror(rc));
        goto out;
    }
    if (o.live && live_audit(&o, store, report) < 0)
        goto out;
    status = mailssl_report_status(report);
    if (o.format == FORMAT_NAGIOS) {
        char *line = nagios_line(report);
        if (!line) {
            fprintf(stderr, "%s: out of memory\n", PROG);
            status = EXIT_USAGE;
            goto out;
        }
        printf("%s\n", line);
        mailssl_free(line);
    } else if (o.format == FORMAT_JSON) {
        char *json = mailssl_report_json(report);
        if (!json) {
            fprintf(stderr, "%s: out of memory\n", PROG);
            status = EXIT_USAGE;
            goto out;
        }
        print_json_lines(json);
        mailssl_free(json);
    } else {
        print_text(&o, store, report, status);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: cannot write the results\n", PROG);
        status = EXIT_USAGE;
    }
out:
    mailssl_report_free(report);
    mailssl_validator_free(v);
    mailssl_store_free(store);
    mailssl_deinit();
    return status;
}
