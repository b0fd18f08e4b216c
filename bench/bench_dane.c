/*
 * bench_dane.c - the CPU cost of DANE from DNS (issue 13): SMTP STARTTLS
 * probes with a TLSA lookup (DANE required, DNSSEC-validated by
 * libunbound, warm cache: the probes of a batch share one context) against
 * the same probes without DANE, side by side in one run: rounds of one
 * batch each, alternating, client CPU (user + system of this process,
 * libunbound's worker thread included) summed per kind. Target: ratio
 * <= 1.3. The TLS server runs in a child process, the zone in nsd
 * (tests/dnszone.h), so neither counts as client CPU.
 * Usage: bench_dane [--strict] [ROUNDS [PROBES_PER_ROUND]] (default 10,
 * 100). BENCH_DANE_SYSTEM_STORE=1: the DANE probes get no CA file (the
 * system trust store, as a DANE user would run them). Exit status 0 unless --strict is given and the target is missed
 * (or a probe does not end as expected).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>

#include "certgen.h"
#include "dnszone.h"
#include "mailssl.h"
#include "scriptserver.h"

static struct certgen_cert ca, leaf;
static gnutls_x509_crt_t chain[2];
static char cafile[512];
static struct dnszone zone;

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The SMTP server in a child process; returns its pid, port in *port. */
static pid_t server_start(int *port, int *ctl_out)
{
    int pp[2], ctl[2];
    pid_t pid;

    if (pipe(pp) < 0 || pipe(ctl) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        struct ss_config c = {.script = ss_smtp_script, .chain = chain,
                              .nchain = 2, .key = leaf.key, .threads = 8};
        struct scriptserver *s;
        char x;

        close(pp[0]);
        close(ctl[1]);
        s = ss_start(&c);
        *port = s ? ss_port(s) : -1;
        (void)!write(pp[1], port, sizeof *port);
        while (read(ctl[0], &x, 1) > 0)
            ;
        if (s)
            ss_stop(s);
        _exit(0);
    }
    close(pp[1]);
    close(ctl[0]);
    *ctl_out = ctl[1];
    if (pid < 0 || read(pp[0], port, sizeof *port) != sizeof *port ||
        *port <= 0)
        return -1;
    close(pp[0]);
    return pid;
}

/* One batch of n probes; returns the client CPU it took, or -1 when a
 * probe did not end ok (with the expected dane-ok finding). */
static const char *const hosts[] = {"smtp://ee.dane.example",
                                    "smtp://ee.dane.example",
                                    "smtp://ta.dane.example"};

/* kind 0: no DANE; 1: DANE-EE (3 1 1); 2: DANE-TA (2 0 1) */
static double round_cpu(int port, int n, int dane)
{
    mailssl_probe **ps = calloc((size_t)n, sizeof *ps);
    mailssl_batch *b = mailssl_batch_new(8);
    char to[64];
    double t0, t;
    int i, bad = 0;

    if (!ps || !b)
        return -1;
    snprintf(to, sizeof to, "127.0.0.1:%d", port);
    for (i = 0; i < n; i++) {
        ps[i] = mailssl_probe_new(hosts[dane]);
        mailssl_probe_set_connect_to(ps[i], to);
        if (!dane || !getenv("BENCH_DANE_SYSTEM_STORE"))
            mailssl_probe_set_cafile(ps[i], cafile);
        if (dane) {
            mailssl_probe_set_dane(ps[i], MAILSSL_DANE_REQUIRED);
            mailssl_probe_set_dns_anchor_file(ps[i], zone.anchor);
            mailssl_probe_set_dns_resolver(ps[i], zone.resolver);
        }
        mailssl_batch_add(b, ps[i]);
    }
    t0 = cpu_seconds();
    mailssl_batch_run(b, NULL, NULL);
    t = cpu_seconds() - t0;
    for (i = 0; i < n; i++) {
        if (mailssl_probe_diagnosis(ps[i]) != MAILSSL_CODE_OK ||
            (dane && mailssl_report_find(mailssl_probe_findings(ps[i]),
                                         MAILSSL_CODE_DANE_OK, 0) < 0)) {
            if (!bad++)
                fprintf(stderr, "bench_dane: %s\n",
                        mailssl_probe_message(ps[i]));
        }
        mailssl_probe_free(ps[i]);
    }
    mailssl_batch_free(b);
    free(ps);
    return bad ? -1 : t;
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"*.dane.example", NULL};
    gnutls_datum_t cd;
    int strict = 0, rounds = 10, per = 100, port, ctl, r, k, a = 1;
    struct certgen_opts o = {0};
    const struct certgen_cert *cas[1];
    struct dnszone_def def;
    char records[400], ee[65], ta[65], *dir;
    double cpu[3] = {0, 0, 0}, ratio_ee, ratio_ta;
    gnutls_pubkey_t pk;
    gnutls_datum_t d;
    pid_t pid;
    int64_t now = (int64_t)time(NULL);

    if (argc > 1 && strcmp(argv[1], "--strict") == 0) {
        strict = 1;
        a = 2;
    }
    if (argc > a)
        rounds = atoi(argv[a]);
    if (argc > a + 1)
        per = atoi(argv[a + 1]);
    if (rounds < 1 || per < 1 || mailssl_init() < 0)
        return 2;
    dir = certgen_tmpdir();
    o.cn = "Bench CA";
    o.is_ca = 1;
    o.not_before = now - 86400;
    o.not_after = now + 3650 * 86400;
    if (!dir || certgen_make(&ca, &o, NULL) != 0)
        return 2;
    memset(&o, 0, sizeof o);
    o.cn = "ee.dane.example";
    o.dns = names;
    o.not_before = now - 86400;
    o.not_after = now + 365 * 86400;
    if (certgen_make(&leaf, &o, &ca) != 0)
        return 2;
    chain[0] = leaf.crt;
    chain[1] = ca.crt;
    snprintf(cafile, sizeof cafile, "%s/ca.pem", dir);
    cas[0] = &ca;
    if (certgen_write_pem(cafile, cas, 1, NULL) != 0)
        return 2;
    gnutls_pubkey_init(&pk);
    gnutls_pubkey_import_x509(pk, leaf.crt, 0);
    gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &d);
    dnszone_sha256_hex(d.data, d.size, ee);
    gnutls_free(d.data);
    gnutls_pubkey_deinit(pk);
    gnutls_x509_crt_export2(ca.crt, GNUTLS_X509_FMT_DER, &cd);
    dnszone_sha256_hex(cd.data, cd.size, ta);
    gnutls_free(cd.data);
    snprintf(records, sizeof records,
             "_25._tcp.ee TLSA 3 1 1 %s\n_25._tcp.ta TLSA 2 0 1 %s\n", ee,
             ta);
    def.origin = "dane.example";
    def.records = records;
    def.signing = DNSZONE_SIGNED;
    if (dnszone_start(&zone, &def, 1) != 0)
        return 2;
    pid = server_start(&port, &ctl);
    if (pid < 0)
        return 2;
    /* warm-up: one of each, not counted */
    for (k = 0; k < 3; k++)
        if (round_cpu(port, 4, k) < 0)
            return 2;
    /* the three kinds in turn, starting with another each round */
    for (r = 0; r < rounds; r++)
        for (k = 0; k < 3; k++) {
            double x = round_cpu(port, per, (r + k) % 3);

            if (x < 0)
                return 2;
            cpu[(r + k) % 3] += x;
        }
    ratio_ee = cpu[1] / cpu[0];
    ratio_ta = cpu[2] / cpu[0];
    printf("DANE from DNS, %d rounds of %d SMTP STARTTLS probes each kind, "
           "batch concurrency 8, client CPU:\n"
           "  without DANE               %8.1f us/probe\n"
           "  with DANE-EE 3 1 1 (warm)  %8.1f us/probe  ratio %.2f "
           "(target <= 1.30) %s\n"
           "  with DANE-TA 2 0 1 (warm)  %8.1f us/probe  ratio %.2f "
           "(target <= 1.30) %s\n"
           "  (TLSA lookup, DNSSEC from libunbound's cache, matching; "
           "DANE-EE skips the PKIX path checks)\n",
           rounds, per, cpu[0] / (rounds * per) * 1e6,
           cpu[1] / (rounds * per) * 1e6, ratio_ee,
           ratio_ee <= 1.3 ? "ok" : "MISSED", cpu[2] / (rounds * per) * 1e6,
           ratio_ta, ratio_ta <= 1.3 ? "ok" : "MISSED");
    close(ctl);
    waitpid(pid, NULL, 0);
    dnszone_stop(&zone);
    certgen_free(&leaf);
    certgen_free(&ca);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
    return strict && (ratio_ee > 1.3 || ratio_ta > 1.3) ? 1 : 0;
}
