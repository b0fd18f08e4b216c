/*
 * mailssl-probe - probe mail services over TLS (SPEC.md section 6).
 *
 * Every URL becomes one mailssl_probe; a mailssl_batch runs them all in
 * this thread, at most --concurrency at once; the results go through one
 * of the formatters of probe_format.c. The exit status is the worst status
 * over all targets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailssl.h"
#include "probe_format.h"
#include "probe_view.h"

#define PROG "mailssl-probe"
#define EXIT_USAGE 3 /* the monitoring-plugin "unknown" */

/* More than a handful of targets on a terminal: show progress. */
#define PROGRESS_MIN_TARGETS 5

static void progress(size_t done, size_t total, void *user)
{
    (void)user;
    fprintf(stderr, "\r%s: %zu/%zu probes done", PROG, done, total);
    fflush(stderr);
}

/* Says why the program cannot go on: on stderr, and for --format nagios
 * also as the UNKNOWN status line a monitoring system shows. */
static void fail(int format, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(int format, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    char *c;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", PROG, msg);
    if (format == PF_FORMAT_NAGIOS) {
        for (c = msg; *c; c++)
            if (*c == '\n' || *c == '|')
                *c = *c == '|' ? '/' : ' ';
        printf("MAILSSL-PROBE UNKNOWN - %s\n", msg);
        fflush(stdout);
    }
}

/* Applies the command line to one probe; on failure prints why. */
static int configure(mailssl_probe *p, const struct probe_options *o,
                     const char *url)
{
    int rc;

    if (mailssl_probe_error(p)[0]) {
        fail(o->format, "bad URL '%s': %s", url, mailssl_probe_error(p));
        return -1;
    }
#define SET(call, what)                                                       \
    do {                                                                      \
        rc = (call);                                                          \
        if (rc < 0) {                                                         \
            fail(o->format, "%s: %s", what,                                   \
                 mailssl_probe_error(p)[0] ? mailssl_probe_error(p)           \
                                           : mailssl_strerror(rc));           \
            return -1;                                                        \
        }                                                                     \
    } while (0)
    if (o->cafile)
        SET(mailssl_probe_set_cafile(p, o->cafile), "--cafile");
    if (o->servername)
        SET(mailssl_probe_set_servername(p, o->servername), "--servername");
    if (o->connect_to)
        SET(mailssl_probe_set_connect_to(p, o->connect_to), "--connect-to");
    SET(mailssl_probe_set_timeout_ms(p, o->timeout_ms), "--timeout");
    if (o->dane)
        SET(mailssl_probe_set_dane(p, o->dane), "--dane");
    if (o->dns_anchor)
        SET(mailssl_probe_set_dns_anchor_file(p, o->dns_anchor),
            "--dns-anchor");
    if (o->dns_resolver)
        SET(mailssl_probe_set_dns_resolver(p, o->dns_resolver),
            "--dns-resolver");
    if (o->mx)
        SET(mailssl_probe_set_mx(p, 1), "--mx");
    SET(mailssl_probe_set_days(p, o->warn_days, o->crit_days),
        "--warn/--crit");
#undef SET
    return 0;
}

int main(int argc, char **argv)
{
    struct probe_options o;
    char err[512];
    mailssl_probe **probes = NULL;
    mailssl_batch *batch = NULL;
    const mailssl_probe **res = NULL; /* what is reported */
    char **labels = NULL;             /* their URL labels (MX hosts) */
    struct probe_view *rviews = NULL;
    struct pf_finding **rfs = NULL;
    size_t i, made = 0, nres = 0, capres = 0;
    int rc, status = EXIT_USAGE, inited = 0, show_progress;

    if (pf_parse_args(argc, argv, &o, err, sizeof(err)) < 0) {
        fail(o.format, "%s", err);
        return EXIT_USAGE;
    }
    if (o.help) {
        pf_write_usage(stdout, PROG);
        free(o.urls);
        return fflush(stdout) == 0 ? 0 : EXIT_USAGE;
    }
    if (o.version) {
        printf("%s (libmailssl %s)\n", PROG, mailssl_version());
        free(o.urls);
        return fflush(stdout) == 0 ? 0 : EXIT_USAGE;
    }
    rc = mailssl_init();
    if (rc < 0) {
        fail(o.format, "cannot initialise the library: %s",
             mailssl_strerror(rc));
        goto out;
    }
    inited = 1;
    probes = calloc(o.nurls, sizeof(*probes));
    batch = mailssl_batch_new(o.concurrency);
    if (!probes || !batch) {
        fail(o.format, "out of memory");
        goto out;
    }
    for (made = 0; made < o.nurls; made++) {
        probes[made] = mailssl_probe_new(o.urls[made]);
        if (!probes[made]) {
            fail(o.format, "out of memory");
            goto out;
        }
        if (configure(probes[made], &o, o.urls[made]) < 0) {
            made++;
            goto out;
        }
        rc = mailssl_batch_add(batch, probes[made]);
        if (rc < 0) {
            fail(o.format, "%s: %s", o.urls[made], mailssl_strerror(rc));
            made++;
            goto out;
        }
    }
    show_progress = o.nurls > PROGRESS_MIN_TARGETS && isatty(2);
    if (show_progress)
        progress(0, o.nurls, NULL);
    rc = mailssl_batch_run(batch, show_progress ? progress : NULL, NULL);
    if (show_progress) {
        fputs("\r\033[K", stderr); /* erase the progress line */
        fflush(stderr);
    }
    if (rc < 0) {
        fail(o.format, "probing failed: %s", mailssl_strerror(rc));
        goto out;
    }
    /* one result a target; with --mx one a mail host of the domain */
    nres = 0;
    for (i = 0; i < o.nurls; i++) {
        size_t k, n = mailssl_probe_mx_count(probes[i]);

        if (n == 0)
            n = 1;
        for (k = 0; k < n; k++) {
            if (nres == capres) {
                size_t nc = capres ? 2 * capres : 16;
                const mailssl_probe **nr = realloc(res, nc * sizeof(*nr));
                char **nl = realloc(labels, nc * sizeof(*nl));

                if (nr)
                    res = nr;
                if (nl)
                    labels = nl;
                if (!nr || !nl) {
                    fail(o.format, "out of memory");
                    goto out;
                }
                capres = nc;
            }
            res[nres] = mailssl_probe_mx_count(probes[i])
                            ? mailssl_probe_mx_probe(probes[i], k)
                            : probes[i];
            if (res[nres] == probes[i])
                labels[nres] = strdup(o.urls[i]);
            else if (asprintf(&labels[nres], "%s (MX %d: %s)", o.urls[i],
                              mailssl_probe_mx_preference(res[nres]),
                              mailssl_probe_host(res[nres])) < 0)
                labels[nres] = NULL;
            if (!labels[nres++]) {
                fail(o.format, "out of memory");
                goto out;
            }
        }
    }
    rviews = calloc(nres ? nres : 1, sizeof(*rviews));
    rfs = calloc(nres ? nres : 1, sizeof(*rfs));
    if (!rviews || !rfs) {
        fail(o.format, "out of memory");
        goto out;
    }
    for (i = 0; i < nres; i++) {
        if (pv_from_probe(res[i], labels[i], &rviews[i], &rfs[i]) < 0) {
            fail(o.format, "out of memory");
            goto out;
        }
    }
    switch (o.format) {
    case PF_FORMAT_JSON:
        for (i = 0; i < nres; i++) {
            char *json = mailssl_probe_json(res[i]);
            if (!json) {
                fprintf(stderr, "%s: %s: cannot make the JSON result\n",
                        PROG, rviews[i].url);
                rviews[i].status = MAILSSL_SEVERITY_UNKNOWN;
                continue;
            }
            puts(json);
            mailssl_free(json);
        }
        break;
    case PF_FORMAT_NAGIOS:
        pf_write_nagios(stdout, rviews, nres, o.warn_days, o.crit_days);
        break;
    case PF_FORMAT_PROMETHEUS:
        pf_write_prometheus(stdout, rviews, nres);
        break;
    default:
        pf_write_text(stdout, rviews, nres);
        break;
    }
    status = pf_worst_status(rviews, nres);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: cannot write the results\n", PROG);
        status = EXIT_USAGE;
    }
out:
    for (i = 0; i < nres; i++) {
        free(labels[i]);
        if (rfs)
            free(rfs[i]);
    }
    free(labels);
    free(res);
    free(rfs);
    free(rviews);
    mailssl_batch_free(batch);
    for (i = 0; probes && i < made; i++)
        mailssl_probe_free(probes[i]);
    free(probes);
    free(o.urls);
    if (inited)
        mailssl_deinit();
    return status;
}
