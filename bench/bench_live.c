/*
 * bench_live.c - the live audit of 200 listeners (issue 12), measured side
 * by side in one run: mailssl-serve (a separate process) listens on 200
 * imaps ports of 127.0.0.1; the same mailssl_live audit of its config
 * runs once in one batch (mailssl_live_run, all 200 in flight) and once
 * as 200 sequential probes (mailssl_probe_run one after the other).
 * Prints both wall times, the ratio (sequential / batch) and checks that
 * both audits report 200 ok findings. Each side is measured ROUNDS times,
 * alternating, and the medians are compared.
 * Usage: bench_live MAILSSL_SERVE [LISTENERS [ROUNDS [CONCURRENCY]]]
 * (200, 5, LISTENERS: all in flight at once).
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certgen.h"
#include "mailssl.h"

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n distinct free loopback ports above 10000 (bound at once, released). */
static int free_ports(int *ports, int n)
{
    int *fds = calloc((size_t)n, sizeof *fds), i, rc = 0;

    if (!fds)
        return -1;
    for (i = 0; i < n && rc == 0; i++) {
        struct sockaddr_in sa;
        socklen_t len = sizeof sa;

        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof sa) ||
            getsockname(fds[i], (struct sockaddr *)&sa, &len)) {
            rc = -1;
            break;
        }
        ports[i] = ntohs(sa.sin_port);
        if (ports[i] <= 10000) {
            close(fds[i]); /* below the range: take another */
            fds[i] = 0;
            i--;
        }
    }
    for (i = 0; i < n; i++)
        if (fds[i] > 0)
            close(fds[i]);
    free(fds);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One audit of store: in one batch (batch) or one probe after the other.
 * Returns the seconds it took; *ok gets the number of ok findings. */
static double audit(mailssl_store *store, const char *cafile, int batch,
                    int concurrency, size_t *ok)
{
    mailssl_live *lv = mailssl_live_new(store);
    mailssl_report *r = mailssl_report_new();
    double t0;
    size_t i;

    if (!lv || !r) {
        fprintf(stderr, "bench_live: out of memory\n");
        exit(1);
    }
    for (i = 0; i < mailssl_live_count(lv); i++) {
        mailssl_probe *p = mailssl_live_probe(lv, i);
        if (mailssl_probe_set_cafile(p, cafile) < 0 ||
            mailssl_probe_set_timeout_ms(p, 30000) < 0) {
            fprintf(stderr, "bench_live: %s\n", mailssl_probe_error(p));
            exit(1);
        }
    }
    t0 = now_s();
    if (batch) {
        if (mailssl_live_run(lv, concurrency) < 0)
            exit(1);
    } else {
        for (i = 0; i < mailssl_live_count(lv); i++)
            if (mailssl_probe_run(mailssl_live_probe(lv, i)) < 0)
                exit(1);
    }
    if (mailssl_live_report(lv, r) < 0)
        exit(1);
    t0 = now_s() - t0;
    *ok = 0;
    for (i = 0; i < mailssl_report_count(r); i++)
        *ok += mailssl_report_code(r, i) == MAILSSL_CODE_OK;
    if (*ok != mailssl_live_count(lv) && mailssl_report_count(r))
        fprintf(stderr, "bench_live: %s\n", mailssl_report_message(r, 0));
    mailssl_report_free(r);
    mailssl_live_free(lv);
    return t0;
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 200;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    int conc = argc > 4 ? atoi(argv[4]) : n;
    const char *dns[] = {"mail.bench.test", NULL};
    struct certgen_opts cao = {0}, lo = {0};
    struct certgen_cert ca, leaf;
    const struct certgen_cert *chain[1];
    char *dir, cafile[512], certfile[512], keyfile[512], conf[512], line[256];
    double *tb, *ts;
    int *ports, pipefd[2], i, failed = 0;
    size_t ok_b = 0, ok_s = 0;
    posix_spawn_file_actions_t fa;
    pid_t pid;
    FILE *f, *out;
    mailssl_store *store;

    if (argc < 2 || n < 1 || n > 1000 || rounds < 1 || rounds > 100 ||
        conc < 1) {
        fprintf(stderr, "usage: bench_live MAILSSL_SERVE [LISTENERS 1-1000 "
                        "[ROUNDS 1-100 [CONCURRENCY]]]\n");
        return 2;
    }
    if (mailssl_init() != MAILSSL_OK || !(dir = certgen_tmpdir()))
        return 1;
    cao.cn = "bench CA";
    cao.is_ca = 1;
    lo.cn = "mail.bench.test";
    lo.dns = dns;
    if (certgen_make(&ca, &cao, NULL) < 0 || certgen_make(&leaf, &lo, &ca) < 0)
        return 1;
    snprintf(cafile, sizeof cafile, "%s/ca.pem", dir);
    snprintf(certfile, sizeof certfile, "%s/leaf.pem", dir);
    snprintf(keyfile, sizeof keyfile, "%s/leaf.key", dir);
    snprintf(conf, sizeof conf, "%s/serve.conf", dir);
    chain[0] = &ca;
    if (certgen_write_pem(cafile, chain, 1, NULL) < 0)
        return 1;
    chain[0] = &leaf;
    if (certgen_write_pem(certfile, chain, 1, NULL) < 0 ||
        certgen_write_key(keyfile, &leaf) < 0)
        return 1;
    ports = calloc((size_t)n, sizeof *ports);
    tb = calloc((size_t)rounds, sizeof *tb);
    ts = calloc((size_t)rounds, sizeof *ts);
    if (!ports || !tb || !ts || free_ports(ports, n) < 0 ||
        !(f = fopen(conf, "w")))
        return 1;
    fprintf(f, "bind * * * * cert=%s key=%s\n", certfile, keyfile);
    for (i = 0; i < n; i++)
        fprintf(f, "listen imaps 127.0.0.1 %d\n", ports[i]);
    if (fclose(f) != 0)
        return 1;

    /* the server, its "listening on" line read from a pipe */
    if (pipe(pipefd) < 0)
        return 1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    {
        char *args[] = {argv[1], conf, NULL};
        if (posix_spawn(&pid, argv[1], &fa, NULL, args, environ) != 0) {
            fprintf(stderr, "bench_live: cannot start %s\n", argv[1]);
            return 1;
        }
    }
    close(pipefd[1]);
    out = fdopen(pipefd[0], "r");
    if (!out || !fgets(line, sizeof line, out) ||
        strncmp(line, "mailssl-serve: listening on", 27) != 0) {
        fprintf(stderr, "bench_live: mailssl-serve did not start\n");
        kill(pid, SIGTERM);
        return 1;
    }

    store = mailssl_store_new();
    if (!store || mailssl_store_load_file(store, conf) < 0)
        return 1;
    (void)audit(store, cafile, 1, conc, &ok_b); /* warm-up: trust store, caches */
    for (i = 0; i < rounds; i++) {
        tb[i] = audit(store, cafile, 1, conc, &ok_b);
        ts[i] = audit(store, cafile, 0, 1, &ok_s);
        if (ok_b != (size_t)n || ok_s != (size_t)n)
            failed = 1;
    }
    qsort(tb, (size_t)rounds, sizeof *tb, cmp_double);
    qsort(ts, (size_t)rounds, sizeof *ts, cmp_double);
    printf("live audit of %d listeners (mailssl-serve, imaps on 127.0.0.1), "
           "median of %d rounds:\n",
           n, rounds);
    printf("  one batch (mailssl_live_run, %d in flight): %8.1f ms  (%zu ok)\n",
           conc < n ? conc : n, tb[rounds / 2] * 1e3, ok_b);
    printf("  %d sequential probes (mailssl_probe_run):   %8.1f ms  (%zu ok)\n",
           n, ts[rounds / 2] * 1e3, ok_s);
    printf("  ratio sequential / batch: %.2f\n",
           ts[rounds / 2] / tb[rounds / 2]);
    if (failed)
        printf("  FAILED: not every listener was ok\n");
    fflush(stdout);

    mailssl_store_free(store);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fclose(out);
    posix_spawn_file_actions_destroy(&fa);
    certgen_free(&ca);
    certgen_free(&leaf);
    certgen_rmdir(dir);
    free(dir);
    free(ports);
    free(tb);
    free(ts);
    mailssl_deinit();
    return failed;
}
