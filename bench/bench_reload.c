/*
 * bench_reload.c - server handshake throughput through the GnuTLS glue
 * (mailssl_gnutls_attach) with 100,000 bindings loaded against 1 binding,
 * side by side in one process; then the same with config reloads running
 * meanwhile (the benchmark variant of tests/test_reload_load.c).
 *
 * Two stores are loaded from config text: one with a single binding for
 * mail.example.com, one with 100,000 bindings (99,999 other names, spread
 * over addresses and ports, plus mail.example.com). One server thread
 * accepts loopback connections and handshakes with the store of the
 * current block; the main thread is the client (SNI mail.example.com,
 * ECDSA P-256, TLS 1.3). Blocks of the two stores alternate (which one
 * goes first alternates too); the figure is the median over the block
 * pairs of the ratio within a pair, so that noise from other processes
 * hits both alike. Server throughput is handshakes per second of the server
 * thread's CPU time (accept returned to handshake done: attach, lookup,
 * copy of the chain and key, the TLS work), so that the client's share
 * and other processes on the machine do not count.
 *
 * Usage: bench_reload [HANDSHAKES_PER_BLOCK [BLOCKS]]
 * Exit status 0 when 100,000 bindings keep at least 95% of the
 * 1-binding throughput, 1 otherwise (the ratio is printed either way).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "certgen.h"
#include "handshake_helper.h"
#include "mailssl-gnutls.h"
#include "mailssl.h"

#define LIMIT 0.95
#define MANY 100000
#define MAXBLOCKS 200

static int lfd, port;
static mailssl_store *current; /* atomic: the store of this block */
static double server_ns;       /* server CPU time of the block (server only) */
static long server_fail;
static int reloading;          /* atomic: the reload thread runs */
static long reloads;

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of the calling thread: what the server spends, whatever the
 * client and other processes do meanwhile */
static double cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static void *server(void *arg)
{
    (void)arg;
    for (;;) {
        gnutls_session_t s;
        double t0;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            break;
        t0 = cpu_ns();
        if (hs_server_start(fd, __atomic_load_n(&current, __ATOMIC_ACQUIRE),
                            MAILSSL_SERVICE_IMAPS, &s) < 0) {
            server_fail++;
        } else {
            server_ns += cpu_ns() - t0;
            hs_server_end(s, fd);
        }
    }
    return NULL;
}

/* n client handshakes against the server; the server time they took. */
static int block(gnutls_certificate_credentials_t cc, mailssl_store *st,
                 int n, double *ns)
{
    int i;

    __atomic_store_n(&current, st, __ATOMIC_RELEASE);
    server_ns = 0;
    for (i = 0; i < n; i++)
        if (hs_client(port, cc, "mail.example.com", NULL, NULL) < 0)
            return -1;
    *ns = server_ns; /* the server finished: close_notify came after */
    return server_fail ? -1 : 0;
}

static char *config_text(const char *pem, int n)
{
    size_t cap = (size_t)n * 96 + 256, len = 0;
    char *t = malloc(cap);
    int i;

    if (!t)
        return NULL;
    for (i = 1; i < n; i++)
        len += (size_t)snprintf(t + len, cap - len,
                                "bind imaps 10.%d.%d.0/24 %d h%d.example.com "
                                "cert=%s\n",
                                (i >> 8) & 255, i & 255, 1 + i % 65535, i,
                                pem);
    snprintf(t + len, cap - len, "bind imaps * * mail.example.com cert=%s\n",
             pem);
    return t;
}

/* Reloads the 100,000-binding config without pause while blocks run. */
struct reloader {
    mailssl_store *st;
    const char *text;
};

static void *reload_loop(void *arg)
{
    struct reloader *r = arg;
    while (__atomic_load_n(&reloading, __ATOMIC_ACQUIRE)) {
        if (mailssl_store_load_string(r->st, r->text, strlen(r->text),
                                      "bench.conf") != MAILSSL_OK) {
            fprintf(stderr, "reload: %s\n", mailssl_store_error(r->st));
            exit(2);
        }
        __atomic_add_fetch(&reloads, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int per = argc > 1 ? atoi(argv[1]) : 50;
    int blocks = argc > 2 ? atoi(argv[2]) : 41;
    static const char *const names[] = {"mail.example.com", NULL};
    double one[MAXBLOCKS], many[MAXBLOCKS], busy[MAXBLOCKS], ratio[MAXBLOCKS];
    double t_load, m_ratio;
    double m_one, m_many, m_busy;
    struct certgen_opts o = {0};
    struct certgen_cert c;
    const struct certgen_cert *chain[1] = {&c};
    gnutls_certificate_credentials_t cc;
    mailssl_store *s1, *s100k;
    pthread_t th, rt;
    struct reloader rl;
    char *dir, pem[600], *text1, *text100k;
    int i;

    if (per < 1 || blocks < 1 || blocks > MAXBLOCKS) {
        fprintf(stderr, "usage: bench_reload [PER_BLOCK [BLOCKS<=%d]]\n",
                MAXBLOCKS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (mailssl_init() != MAILSSL_OK || !(dir = certgen_tmpdir()))
        return 2;
    o.dns = names;
    if (certgen_make(&c, &o, NULL) != 0)
        return 2;
    snprintf(pem, sizeof pem, "%s/both.pem", dir);
    if (certgen_write_pem(pem, chain, 1, &c) != 0)
        return 2;
    certgen_free(&c);
    text1 = config_text(pem, 1);
    text100k = config_text(pem, MANY);
    s1 = mailssl_store_new();
    s100k = mailssl_store_new();
    if (!text1 || !text100k || !s1 || !s100k)
        return 2;
    t_load = now_ns();
    if (mailssl_store_load_string(s1, text1, strlen(text1), "one.conf") ||
        mailssl_store_load_string(s100k, text100k, strlen(text100k),
                                  "many.conf")) {
        fprintf(stderr, "load: %s%s\n", mailssl_store_error(s1),
                mailssl_store_error(s100k));
        return 2;
    }
    t_load = now_ns() - t_load;
    if (mailssl_store_count(s1) != 1 || mailssl_store_count(s100k) != MANY)
        return 2;

    lfd = hs_listen(16, &port);
    if (lfd < 0)
        return 2;
    if (gnutls_certificate_allocate_credentials(&cc) < 0 ||
        pthread_create(&th, NULL, server, NULL) != 0)
        return 2;

    /* warm-up, not counted */
    if (block(cc, s1, per / 4 + 1, &one[0]) < 0 ||
        block(cc, s100k, per / 4 + 1, &many[0]) < 0) {
        fprintf(stderr, "bench_reload: a handshake failed\n");
        return 2;
    }
    for (i = 0; i < blocks; i++) {
        double ns1, ns2;
        /* alternate which goes first, against drift */
        int first_many = i % 2;
        if (block(cc, first_many ? s100k : s1, per, first_many ? &ns2 : &ns1) <
                0 ||
            block(cc, first_many ? s1 : s100k, per, first_many ? &ns1 : &ns2) <
                0) {
            fprintf(stderr, "bench_reload: a handshake failed\n");
            return 2;
        }
        one[i] = per / (ns1 / 1e9);
        many[i] = per / (ns2 / 1e9);
        ratio[i] = many[i] / one[i];
    }

    /* variant: the same 100,000-binding store reloaded without pause */
    rl.st = s100k;
    rl.text = text100k;
    __atomic_store_n(&reloading, 1, __ATOMIC_RELEASE);
    if (pthread_create(&rt, NULL, reload_loop, &rl) != 0)
        return 2;
    for (i = 0; i < blocks; i++) {
        double ns;
        if (block(cc, s100k, per, &ns) < 0) {
            fprintf(stderr, "bench_reload: a handshake failed during "
                            "reloads\n");
            return 2;
        }
        busy[i] = per / (ns / 1e9);
    }
    __atomic_store_n(&reloading, 0, __ATOMIC_RELEASE);
    pthread_join(rt, NULL);

    shutdown(lfd, SHUT_RDWR);
    pthread_join(th, NULL);
    close(lfd);

    m_one = median(one, blocks);
    m_many = median(many, blocks);
    m_busy = median(busy, blocks);
    m_ratio = median(ratio, blocks); /* sorted: quartiles below */
    printf("server handshakes (TLS 1.3, ECDSA P-256, SNI), %d blocks of %d, "
           "medians:\n", blocks, per);
    printf("  1 binding:                          %8.0f handshakes/s\n",
           m_one);
    printf("  100,000 bindings:                   %8.0f handshakes/s "
           "(config loaded in %.2f s)\n", m_many, t_load / 1e9);
    printf("  100,000 bindings, reloads meanwhile: %7.0f handshakes/s "
           "(%ld reloads meanwhile)\n", m_busy, reloads);
    printf("  ratio 100,000 / 1 binding: %.3f (median of the %d block "
           "pairs; quartiles %.3f %.3f; limit %.2f)\n",
           m_ratio, blocks, ratio[blocks / 4], ratio[(3 * blocks) / 4],
           LIMIT);

    gnutls_certificate_free_credentials(cc);
    mailssl_store_free(s1);
    mailssl_store_free(s100k);
    free(text1);
    free(text100k);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
    return m_ratio >= LIMIT ? 0 : 1;
}
