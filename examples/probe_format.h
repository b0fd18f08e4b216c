/*
 * probe_format.h - command line and output formats of mailssl-probe.
 *
 * Pure functions: they know nothing of sockets or probes. mailssl-probe.c
 * fills one struct probe_view per target from the library's accessors and
 * hands the array to a formatter, so the formats are unit-tested with
 * made-up values (tests/programs/test_probe_format.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_PROBE_FORMAT_H
#define MAILSSL_PROBE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PF_FORMAT_TEXT 0
#define PF_FORMAT_JSON 1
#define PF_FORMAT_NAGIOS 2
#define PF_FORMAT_PROMETHEUS 3

/* The command line of SPEC.md section 6. */
struct probe_options {
    const char *cafile;     /* NULL: system trust store */
    const char *servername; /* NULL: each URL's host */
    const char *connect_to; /* NULL: each URL's host */
    int32_t timeout_ms;     /* whole-probe deadline, default 10000 */
    int warn_days;          /* default 30 */
    int crit_days;          /* default 7 */
    int format;             /* PF_FORMAT_* */
    int concurrency;        /* default PF_DEFAULT_CONCURRENCY */
    int dane;               /* PF_DANE_*, default off */
    const char *dns_anchor; /* NULL: the library's default */
    const char *dns_resolver; /* NULL: /etc/resolv.conf */
    int mx;                 /* --mx: smtp://DOMAIN probes its MX hosts */
    int help;               /* --help was given */
    int version;            /* --version was given */
    char **urls;            /* points into argv */
    size_t nurls;
};

/* the values of MAILSSL_DANE_* */
#define PF_DANE_OFF 0
#define PF_DANE_OPPORTUNISTIC 1
#define PF_DANE_REQUIRED 2

#define PF_DEFAULT_CONCURRENCY 16
#define PF_MAX_CONCURRENCY 1024
#define PF_MAX_DAYS 36500
#define PF_MAX_TIMEOUT_S 86400

/*
 * pf_parse_args - parse argv into opts (defaults first). Accepts "--opt
 * VALUE" and "--opt=VALUE", "--" before URLs that start with '-'.
 * Returns 0, or -1 with a one-line message (no program name, no newline)
 * in err; the options parsed before the error stay set (so that a usage
 * error can still be reported in the --format asked for). With --help or --version it returns 0 at once with that flag
 * set. opts->urls is an array (free() it, also after --help) of
 * pointers into argv.
 */
int pf_parse_args(int argc, char **argv, struct probe_options *opts,
                  char *err, size_t errlen);

/* Number of stages with a timing (resolve .. post-tls, then total, then
 * dane: at the end, so that the indexes of the others stay). */
#define PF_NTIMINGS 9
#define PF_TIMING_TOTAL 7
#define PF_TIMING_DANE 8

struct pf_finding {
    const char *code;     /* "cert-expiring" */
    const char *severity; /* "warning" */
    const char *message;
};

/* What the formatters show of one finished probe. Strings may be NULL
 * when unknown; numbers use -1 for "unknown" where noted. */
struct probe_view {
    const char *url;         /* as given on the command line */
    const char *service;     /* "imaps" */
    const char *host;
    int port;
    const char *address;     /* connected address, NULL when none */
    int status;              /* 0-3 */
    const char *diagnosis;   /* code string, "tls-closed-during-handshake" */
    const char *message;
    const char *stage;       /* last completed stage name */
    const char *tls_version; /* "TLS1.3" or NULL */
    int has_cert;
    int64_t not_before;      /* epoch seconds (has_cert) */
    int64_t not_after;
    int64_t days_left;
    /* microseconds; -1 when the stage did not run. Index 0..6 are the
     * stages resolve, connect, greeting, starttls, handshake, verify,
     * post-tls; PF_TIMING_TOTAL is the whole probe. */
    int64_t timing_us[PF_NTIMINGS];
    const struct pf_finding *findings;
    size_t nfindings;
};

/* The stage names used as labels for timing_us[i]. */
extern const char *const pf_timing_names[PF_NTIMINGS];

/* Worst status over n views, ranked critical > unknown > warning > ok (as
 * mailssl_report_status ranks severities). 0 for n == 0. */
int pf_worst_status(const struct probe_view *v, size_t n);

/* Readable table: TARGET STATUS DIAGNOSIS TLS EXPIRES TIME, then one
 * detail block per target that is not ok. now is used for nothing but
 * kept out: dates print as YYYY-MM-DD in UTC. */
void pf_write_text(FILE *out, const struct probe_view *v, size_t n);

/* One Nagios/monitoring-plugin line with perfdata, newline-terminated. */
void pf_write_nagios(FILE *out, const struct probe_view *v, size_t n,
                     int warn_days, int crit_days);

/* Prometheus text exposition format (version 0.0.4). */
void pf_write_prometheus(FILE *out, const struct probe_view *v, size_t n);

/* The --help text. */
void pf_write_usage(FILE *out, const char *prog);

#endif
