/*
 * bench_probe.c - the probe's performance targets (issue 5), measured side
 * by side in one run against a local TLS server (ECDSA P-256 certificate)
 * in a separate process:
 *   1. client CPU per implicit-TLS probe vs a minimal raw GnuTLS client
 *      handshake loop (target: ratio <= 1.2);
 *   2. 1,000 probes at concurrency 64 vs the same 1,000 run one process
 *      each with gnutls-cli (and check_imap -S where installed)
 *      (target: >= 20x faster);
 *   3. heap per in-flight probe (target: < 100 KiB).
 * Usage: bench_probe [CPU_ROUNDS [BATCH_PROBES [PROCESS_RUNS]]]
 * (defaults 300, 1000, 1000). Exit status 0 unless --strict is given
 * first and a target is missed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "certgen.h"
#include "mailssl.h"
#include "scriptserver.h"

extern char **environ;

static struct certgen_cert ca, leaf;
static gnutls_x509_crt_t chain[2];
static char cafile[512];

/* An IMAPS server: greeting, answers two commands, closes. */
static const struct ss_step imaps_script[] = {
    {SS_TLS, 0, 0, 0},
    {SS_SEND, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", 0, 0},
    {SS_EXPECT, 0, 0, 0},
    {SS_SEND, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$TAG OK done\r\n", 0, 0},
    {SS_EXPECT, 0, 0, 0},
    {SS_SEND, "* BYE\r\n$TAG OK\r\n", 0, 0},
    {SS_END, 0, 0, 0}};

/* A server that completes the handshake and then says nothing, so that
 * probes stay in flight (memory measurement). */
static const struct ss_step stall_script[] = {
    {SS_TLS, 0, 0, 0}, {SS_SLEEP, 0, 0, 20000}, {SS_END, 0, 0, 0}};

struct server {
    pid_t pid;
    int ctl;
    int port;
};

/* Write ends of the servers' control pipes: a later child must not keep
 * an earlier one open, or that server never sees EOF. */
static int ctl_fds[4];
static int nctl;

/* Runs a scriptserver in a child process (so that its CPU and heap are
 * not the client's). */
static int server_start(struct server *sv, const struct ss_step *script,
                        int threads)
{
    int portpipe[2], ctl[2];

    if (pipe(portpipe) < 0 || pipe(ctl) < 0)
        return -1;
    sv->pid = fork();
    if (sv->pid < 0)
        return -1;
    if (sv->pid == 0) {
        struct ss_config c;
        struct scriptserver *s;
        char x;

        close(portpipe[0]);
        close(ctl[1]);
        for (int k = 0; k < nctl; k++)
            close(ctl_fds[k]);
        memset(&c, 0, sizeof c);
        c.family = 4;
        c.script = script;
        c.chain = chain;
        c.nchain = 2;
        c.key = leaf.key;
        c.threads = threads;
        s = ss_start(&c);
        sv->port = s ? ss_port(s) : -1;
        (void)!write(portpipe[1], &sv->port, sizeof sv->port);
        while (read(ctl[0], &x, 1) > 0)
            ;
        if (s)
            ss_stop(s);
        _exit(0);
    }
    close(portpipe[1]);
    close(ctl[0]);
    sv->ctl = ctl[1];
    if (nctl < 4)
        ctl_fds[nctl++] = ctl[1];
    if (read(portpipe[0], &sv->port, sizeof sv->port) != sizeof sv->port ||
        sv->port <= 0)
        return -1;
    close(portpipe[0]);
    return 0;
}

static void server_stop(struct server *sv)
{
    close(sv->ctl);
    waitpid(sv->pid, NULL, 0);
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double wall_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the floor: a minimal raw GnuTLS client ----------------------------- */

static gnutls_certificate_credentials_t raw_cred;

static int raw_handshake(int port)
{
    struct sockaddr_in a;
    gnutls_session_t s;
    int fd, rc;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, raw_cred);
    gnutls_session_set_verify_cert(s, "127.0.0.1", 0);
    gnutls_transport_set_int(s, fd);
    do
        rc = gnutls_handshake(s);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    gnutls_deinit(s);
    close(fd);
    return rc;
}

static int probe_once(int port, int *diag)
{
    char url[64];
    mailssl_probe *p;
    int rc;

    snprintf(url, sizeof url, "imaps://127.0.0.1:%d", port);
    p = mailssl_probe_new(url);
    if (!p)
        return -1;
    mailssl_probe_set_cafile(p, cafile);
    rc = mailssl_probe_run(p);
    *diag = mailssl_probe_diagnosis(p);
    mailssl_probe_free(p);
    return rc;
}

/* ---- one process each ---------------------------------------------------- */

static double run_processes(char *const argv[], int n, int *failures)
{
    posix_spawn_file_actions_t fa;
    double t0 = wall_seconds();
    int i;

    *failures = 0;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    for (i = 0; i < n; i++) {
        pid_t pid;
        int st;

        if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
            (*failures)++;
            continue;
        }
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0)
            (*failures)++;
    }
    posix_spawn_file_actions_destroy(&fa);
    return wall_seconds() - t0;
}

/* ---- memory --------------------------------------------------------------- */

static double heap_per_probe(int port, int n)
{
    mailssl_probe **p = calloc((size_t)n, sizeof *p);
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    int *want = calloc((size_t)n, sizeof *want);
    char url[64];
    size_t base, peak = 0;
    int i, active;

    snprintf(url, sizeof url, "imaps://127.0.0.1:%d", port);
    base = mallinfo2().uordblks;
    for (i = 0; i < n; i++) {
        p[i] = mailssl_probe_new(url);
        mailssl_probe_set_cafile(p[i], cafile);
        mailssl_probe_set_timeout_ms(p[i], 3000);
        want[i] = mailssl_probe_start(p[i]);
    }
    do {
        size_t used;
        int in_handshake_or_later = 0;

        active = 0;
        for (i = 0; i < n; i++) {
            pfd[i].fd = mailssl_probe_done(p[i]) ? -1 : mailssl_probe_fd(p[i]);
            pfd[i].events = want[i] == MAILSSL_WANT_POLLOUT ? POLLOUT : POLLIN;
            pfd[i].revents = 0;
            if (pfd[i].fd >= 0)
                active++;
            if (mailssl_probe_stage(p[i]) >= 5 /* handshake done */ ||
                mailssl_probe_done(p[i]))
                in_handshake_or_later++;
        }
        used = mallinfo2().uordblks;
        if (used > peak)
            peak = used;
        if (in_handshake_or_later == n)
            break; /* every probe is connected and past its handshake */
        poll(pfd, (nfds_t)n, 100);
        for (i = 0; i < n; i++)
            if (pfd[i].fd >= 0 && (pfd[i].revents ||
                                   mailssl_probe_timeout_left_ms(p[i]) == 0))
                want[i] = mailssl_probe_step(p[i]);
    } while (active > 0);
    for (i = 0; i < n; i++)
        mailssl_probe_free(p[i]);
    free(p);
    free(pfd);
    free(want);
    return (double)(peak - base) / n;
}

static void progress_none(size_t done, size_t total, void *user)
{
    (void)done;
    (void)total;
    (void)user;
}

int main(int argc, char **argv)
{
    static const char *const ips[] = {"127.0.0.1", NULL};
    struct certgen_opts o;
    const struct certgen_cert *cas[1];
    struct server sv, stall;
    int strict = 0, rounds = 300, nbatch = 1000, nproc = 1000, i, r;
    int diag_ok = 0, missed = 0, fails;
    double raw_cpu = 0, probe_cpu = 0, t, batch_wall, cli_wall, mem;
    char *dir;
    char portbuf[16];

    if (argc > 1 && strcmp(argv[1], "--strict") == 0) {
        strict = 1;
        argc--;
        argv++;
    }
    if (argc > 1)
        rounds = atoi(argv[1]);
    if (argc > 2)
        nbatch = atoi(argv[2]);
    if (argc > 3)
        nproc = atoi(argv[3]);
    signal(SIGPIPE, SIG_IGN);
    if (mailssl_init() != MAILSSL_OK)
        return 1;
    dir = certgen_tmpdir();
    memset(&o, 0, sizeof o);
    o.cn = "Bench CA";
    o.is_ca = 1;
    if (certgen_make(&ca, &o, NULL) < 0)
        return 1;
    memset(&o, 0, sizeof o);
    o.cn = "localhost";
    o.ips = ips;
    o.key_type = CERTGEN_ECDSA_P256;
    if (certgen_make(&leaf, &o, &ca) < 0)
        return 1;
    chain[0] = leaf.crt;
    chain[1] = ca.crt;
    snprintf(cafile, sizeof cafile, "%s/ca.pem", dir);
    cas[0] = &ca;
    certgen_write_pem(cafile, cas, 1, NULL);
    gnutls_certificate_allocate_credentials(&raw_cred);
    gnutls_certificate_set_x509_trust_file(raw_cred, cafile,
                                           GNUTLS_X509_FMT_PEM);

    if (server_start(&sv, imaps_script, 64) < 0 ||
        server_start(&stall, stall_script, 64) < 0) {
        fprintf(stderr, "cannot start the servers\n");
        return 1;
    }

    /* 1. CPU per probe, interleaved in 4 slices so that load changes on
     * the machine hit both sides alike */
    for (r = 0; r < 4; r++) {
        t = cpu_seconds();
        for (i = 0; i < rounds / 4; i++)
            if (raw_handshake(sv.port) < 0)
                missed |= 8;
        raw_cpu += cpu_seconds() - t;
        t = cpu_seconds();
        for (i = 0; i < rounds / 4; i++) {
            int d = -1;

            probe_once(sv.port, &d);
            diag_ok += d == MAILSSL_CODE_OK;
        }
        probe_cpu += cpu_seconds() - t;
    }
    rounds = rounds / 4 * 4;
    printf("cpu per implicit-TLS handshake (client side, %d each):\n"
           "  raw GnuTLS loop   %8.1f us\n"
           "  mailssl probe     %8.1f us  (%d/%d ok)\n"
           "  ratio             %8.2f     (target <= 1.20) %s\n",
           rounds, raw_cpu / rounds * 1e6, probe_cpu / rounds * 1e6, diag_ok,
           rounds, probe_cpu / raw_cpu,
           probe_cpu / raw_cpu <= 1.2 ? "PASS" : "MISS");
    if (probe_cpu / raw_cpu > 1.2)
        missed |= 1;

    /* 2. 1,000 probes at concurrency 64 vs one process each */
    {
        mailssl_batch *b = mailssl_batch_new(64);
        mailssl_probe **ps = calloc((size_t)nbatch, sizeof *ps);
        char url[64];
        int ok = 0;

        snprintf(url, sizeof url, "imaps://127.0.0.1:%d", sv.port);
        for (i = 0; i < nbatch; i++) {
            ps[i] = mailssl_probe_new(url);
            mailssl_probe_set_cafile(ps[i], cafile);
            mailssl_batch_add(b, ps[i]);
        }
        t = wall_seconds();
        mailssl_batch_run(b, progress_none, NULL);
        batch_wall = wall_seconds() - t;
        for (i = 0; i < nbatch; i++) {
            ok += mailssl_probe_diagnosis(ps[i]) == MAILSSL_CODE_OK;
            mailssl_probe_free(ps[i]);
        }
        mailssl_batch_free(b);
        free(ps);
        printf("%d probes, concurrency 64: %.2f s wall (%d ok)\n", nbatch,
               batch_wall, ok);
    }
    snprintf(portbuf, sizeof portbuf, "%d", sv.port);
    {
        char *cli[] = {"/usr/bin/gnutls-cli", "--x509cafile", cafile, "--port",
                       portbuf, "127.0.0.1", NULL};

        cli_wall = run_processes(cli, nproc, &fails);
        cli_wall = cli_wall * nbatch / nproc; /* scaled to nbatch */
        printf("%d gnutls-cli processes: %.2f s wall (scaled to %d; %d "
               "failed)\n  speed-up %.1fx (target >= 20x) %s\n",
               nproc, cli_wall * nproc / nbatch, nbatch, fails,
               cli_wall / batch_wall,
               cli_wall / batch_wall >= 20 ? "PASS" : "MISS");
        if (cli_wall / batch_wall < 20)
            missed |= 2;
    }
    if (access("/usr/lib/nagios/plugins/check_imap", X_OK) == 0) {
        char *ci[] = {"/usr/lib/nagios/plugins/check_imap", "-H", "127.0.0.1",
                      "-p", portbuf, "-S", NULL};
        double w = run_processes(ci, nproc, &fails) * nbatch / nproc;

        printf("%d check_imap -S processes: %.2f s wall (scaled to %d; %d "
               "failed)\n  speed-up %.1fx (target >= 20x) %s\n",
               nproc, w * nproc / nbatch, nbatch, fails, w / batch_wall,
               w / batch_wall >= 20 ? "PASS" : "MISS");
        if (w / batch_wall < 20)
            missed |= 2;
    }

    /* 3. heap per in-flight probe */
    mem = heap_per_probe(stall.port, 64);
    printf("heap per in-flight probe (64 past their handshake): %.1f KiB "
           "(target < 100 KiB) %s\n",
           mem / 1024, mem < 100 * 1024 ? "PASS" : "MISS");
    if (mem >= 100 * 1024)
        missed |= 4;

    server_stop(&sv);
    server_stop(&stall);
    gnutls_certificate_free_credentials(raw_cred);
    certgen_free(&leaf);
    certgen_free(&ca);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
    return strict && missed ? 1 : 0;
}
