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

struct options {
    const char *config;
    const char *cafile;
    int format;
    int warn_days, crit_days;
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: %s CONFIG [--cafile FILE] [--format text|json] "
            "[--warn DAYS] [--crit DAYS]\n"
            "\n"
            "Loads CONFIG (the binding store format of libmailssl), "
            "validates every\ncredential it binds and proves that every "
            "'listen' line resolves to a\nvalid certificate for a client "
            "that sends no server name.\n"
            "\n"
            "  --cafile FILE        trust the CA certificates of FILE (or of "
            "every file\n"
            "                       of a directory) instead of the system "
            "trust store\n"
            "  --format text|json   text (default): one line a finding and "
            "a summary;\n"
            "                       json: one object a line, one a finding\n"
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
            PROG);
}

static int bad_usage(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s: ", PROG);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return -1;
}

static int parse_days(const char *opt, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 0 || n > MAX_DAYS)
        return bad_usage("%s: '%s' is not a whole number from 0 to 36500",
                         opt, v);
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
        eq = strchr(arg, '=');
        nl = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nl >= sizeof(name))
            nl = sizeof(name) - 1;
        memcpy(name, arg, nl);
        name[nl] = '\0';
        if (strcmp(name, "--cafile") != 0 && strcmp(name, "--format") != 0 &&
            strcmp(name, "--warn") != 0 && strcmp(name, "--crit") != 0)
            return bad_usage("unknown option '%s'%s (see --help)", arg, "");
        if (eq)
            v = eq + 1;
        else if (a + 1 < argc)
            v = argv[++a];
        else
            return bad_usage("%s needs a value%s", name, "");
        if (strcmp(name, "--cafile") == 0) {
            o->cafile = v;
        } else if (strcmp(name, "--format") == 0) {
            if (strcmp(v, "text") == 0)
                o->format = FORMAT_TEXT;
            else if (strcmp(v, "json") == 0)
                o->format = FORMAT_JSON;
            else
                return bad_usage("--format: '%s' is not one of text, "
                                 "json%s",
                                 v, "");
        } else if (parse_days(name, v,
                              strcmp(name, "--warn") == 0 ? &o->warn_days
                                                          : &o->crit_days) <
                   0) {
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
    rc = mailssl_store_audit(store, v, report);
    if (rc < 0) {
        fprintf(stderr, "%s: audit failed: %s\n", PROG,
                mailssl_store_error(store)[0] ? mailssl_store_error(store)
                                              : mailssl_strerror(rc));
        goto out;
    }
    status = mailssl_report_status(report);
    if (o.format == FORMAT_JSON) {
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
