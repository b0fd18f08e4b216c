/*
 * Reload under load (robustness issue, item 4): GnuTLS server threads use
 * the binding store through mailssl_gnutls_attach() while client threads
 * run handshakes over loopback without pause, and the main thread reloads
 * the config 100 times from files, alternating good configs (certificate
 * A, certificate B) and broken ones (each would bind a third certificate
 * C, and each fails in a different way).
 *
 * Asserted: not one handshake fails (client or server side); every
 * presented certificate is A or B, never C, and is the certificate of the
 * config in force when the handshake began or of one loaded while it ran
 * (the old or the new one); every broken reload returns an error and a
 * lookup right after it still gives the certificate of the last good one.
 * Reloads wait for handshakes to go on between them (progress, not time).
 * .ci/run runs this test under ASan, valgrind and ThreadSanitizer too.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "certgen.h"
#include "handshake_helper.h"
#include "mailssl-gnutls.h"
#include "mailssl.h"

#define NSERVERS 3
#define NCLIENTS 3
#define RELOADS 100
#define PROGRESS 2 /* handshakes between two reloads, at least */

enum { CERT_A, CERT_B, CERT_C, NCERTS };

static char *dir;
static gnutls_datum_t der[NCERTS];
static char sha[NCERTS][65];
static int lfd;
static int port;
static mailssl_store *store;

static int stop;           /* atomic: clients stop */
/* Good reload number g (1, 2, ...) binds B when g is odd, A when even;
 * "generation 0" is the initial A. A handshake that began when reloads
 * 1..done had completed, and ended when reloads 1..started had begun, may
 * present only the certificate of a generation in [done, started]. */
static long gen_started;   /* atomic: good reloads begun */
static long gen_done;      /* atomic: good reloads completed */
static long handshakes;    /* atomic: completed on the client side */
static long failures;      /* atomic: failed, either side */
static long presented[NCERTS + 1]; /* atomic; [NCERTS]: unknown */
static long wrong_generation; /* atomic */

#define path(name) certgen_path(dir, (name))

static void write_text(const char *file, const char *text)
{
    FILE *f = fopen(path(file), "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

static void make_cert(int which, const char *cn, const char *file,
                      const char *keyfile)
{
    static const char *const names[] = {"mail.example.com", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert c;
    const struct certgen_cert *chain[1] = {&c};
    unsigned char fp[32];
    size_t fplen = sizeof fp, i;

    o.cn = cn;
    o.dns = names;
    ck_assert_int_eq(certgen_make(&c, &o, NULL), 0);
    ck_assert_int_eq(certgen_write_pem(path(file), chain, 1,
                                       keyfile ? NULL : &c), 0);
    if (keyfile)
        ck_assert_int_eq(certgen_write_key(path(keyfile), &c), 0);
    ck_assert_int_eq(gnutls_x509_crt_export2(c.crt, GNUTLS_X509_FMT_DER,
                                             &der[which]), 0);
    ck_assert_int_eq(gnutls_x509_crt_get_fingerprint(c.crt, GNUTLS_DIG_SHA256,
                                                     fp, &fplen), 0);
    for (i = 0; i < fplen; i++)
        snprintf(sha[which] + 2 * i, 3, "%02x", fp[i]);
    certgen_free(&c);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    make_cert(CERT_A, "A", "a.pem", NULL);
    make_cert(CERT_B, "B", "b.crt", "b.key");
    make_cert(CERT_C, "C", "c.pem", NULL);
    write_text("good-a.conf", "bind imaps * * * cert=a.pem\n");
    write_text("good-b.conf", "bind imaps * * * cert=b.crt key=b.key\n");
    /* each binds C first, then fails further on */
    write_text("broken-syntax.conf", "bind imaps * * * cert=c.pem\n"
                                     "bind imaps 127.0.0.1 * *\n");
    write_text("broken-missing.conf", "bind imaps * * * cert=c.pem\n"
                                      "bind * * 993 * cert=nothing.pem\n");
    write_text("broken-mismatch.conf", "bind imaps * * * cert=c.pem\n"
                                       "bind smtp * * * cert=b.crt "
                                       "key=c.pem\n");
    write_text("broken-duplicate.conf", "bind imaps * * * cert=c.pem\n"
                                        "bind imaps * * * cert=a.pem\n");
    store = mailssl_store_new();
    ck_assert_ptr_nonnull(store);
    ck_assert_int_eq(mailssl_store_load_file(store, path("good-a.conf")),
                     MAILSSL_OK);

    lfd = hs_listen(64, &port);
    ck_assert_int_ge(lfd, 0);
}

static void teardown(void)
{
    int i;

    close(lfd);
    mailssl_store_free(store);
    for (i = 0; i < NCERTS; i++)
        gnutls_free(der[i].data);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

static void count(long *v)
{
    __atomic_add_fetch(v, 1, __ATOMIC_RELAXED);
}

static long get(const long *v)
{
    return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

/* One server: accept, attach, handshake, close_notify, close. Ends when
 * the listening socket is shut down. */
static void *server(void *arg)
{
    (void)arg;
    for (;;) {
        gnutls_session_t s;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        if (hs_server_start(fd, store, MAILSSL_SERVICE_IMAPS, &s) < 0)
            count(&failures);
        else
            hs_server_end(s, fd);
    }
    return NULL;
}

static int which_cert(gnutls_session_t s)
{
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &n);
    int i;

    if (!peers || n == 0)
        return NCERTS;
    for (i = 0; i < NCERTS; i++)
        if (peers[0].size == der[i].size &&
            memcmp(peers[0].data, der[i].data, der[i].size) == 0)
            return i;
    return NCERTS;
}

/* A handshake that began when reloads 1..*arg had completed: the
 * certificate it was shown. */
static void check_presented(gnutls_session_t s, void *arg)
{
    long done = *(const long *)arg, started;
    int w = which_cert(s);

    count(&presented[w]);
    started = get(&gen_started);
    /* one generation in the window: only its certificate; two or more: A
     * or B (C and unknown ones are counted apart) */
    if (started == done && (w == CERT_A || w == CERT_B) &&
        w != (done % 2 ? CERT_B : CERT_A))
        count(&wrong_generation);
    count(&handshakes);
}

/* One client: handshakes one after the other until told to stop. */
static void *client(void *arg)
{
    gnutls_certificate_credentials_t cc;

    (void)arg;
    if (gnutls_certificate_allocate_credentials(&cc) < 0) {
        count(&failures);
        return NULL;
    }
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        long done = get(&gen_done);

        if (hs_client(port, cc, "mail.example.com", check_presented,
                      &done) < 0)
            count(&failures);
    }
    gnutls_certificate_free_credentials(cc);
    return NULL;
}

/* The certificate a lookup gives now, as an index into sha[]. */
static int bound_now(void)
{
    mailssl_credential *c = NULL;
    char why[256], *json;
    int i;

    ck_assert_int_eq(mailssl_store_lookup_text(store, "127.0.0.1", port,
                                               MAILSSL_SERVICE_IMAPS,
                                               "mail.example.com", &c, why,
                                               sizeof why),
                     MAILSSL_OK);
    json = mailssl_credential_certificate_json(c, 0, 0);
    ck_assert_ptr_nonnull(json);
    for (i = 0; i < NCERTS; i++)
        if (strstr(json, sha[i]))
            break;
    mailssl_free(json);
    mailssl_credential_free(c);
    return i;
}

static void wait_progress(long since)
{
    while (get(&handshakes) < since + PROGRESS) {
        struct timespec ts = {0, 1000000};
        ck_assert_int_eq(get(&failures), 0);
        nanosleep(&ts, NULL);
    }
}

START_TEST(reload_100_times_under_handshakes)
{
    static const char *const broken[] = {
        "broken-syntax.conf", "broken-missing.conf", "broken-mismatch.conf",
        "broken-duplicate.conf"};
    static const int broken_rc[] = {MAILSSL_ERR_SYNTAX, MAILSSL_ERR_IO,
                                    MAILSSL_ERR_CREDENTIAL,
                                    MAILSSL_ERR_DUPLICATE};
    pthread_t srv[NSERVERS], cli[NCLIENTS];
    int i, current = CERT_A, nbroken = 0;

    for (i = 0; i < NSERVERS; i++)
        ck_assert_int_eq(pthread_create(&srv[i], NULL, server, NULL), 0);
    for (i = 0; i < NCLIENTS; i++)
        ck_assert_int_eq(pthread_create(&cli[i], NULL, client, NULL), 0);

    for (i = 0; i < RELOADS; i++) {
        wait_progress(get(&handshakes));
        if (i % 2 == 0) {
            int to = (i / 2) % 2 == 0 ? CERT_B : CERT_A;
            __atomic_add_fetch(&gen_started, 1, __ATOMIC_SEQ_CST);
            ck_assert_int_eq(mailssl_store_load_file(
                                 store, path(to == CERT_B ? "good-b.conf"
                                                          : "good-a.conf")),
                             MAILSSL_OK);
            __atomic_add_fetch(&gen_done, 1, __ATOMIC_SEQ_CST);
            current = to;
        } else {
            int k = nbroken++ % 4;
            int rc = mailssl_store_load_file(store, path(broken[k]));
            ck_assert_msg(rc == broken_rc[k], "%s: %d (%s)", broken[k], rc,
                          mailssl_store_error(store));
            /* FILE:2:COLUMN: every broken file fails on its line 2 */
            ck_assert_ptr_nonnull(strstr(mailssl_store_error(store),
                                         ".conf:2:"));
        }
        ck_assert_int_eq(bound_now(), current);
        ck_assert_uint_eq(mailssl_store_count(store), 1);
    }
    wait_progress(get(&handshakes));

    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < NCLIENTS; i++)
        pthread_join(cli[i], NULL);
    shutdown(lfd, SHUT_RDWR);
    for (i = 0; i < NSERVERS; i++)
        pthread_join(srv[i], NULL);

    printf("%d reloads (%d broken), %ld handshakes: A %ld, B %ld, C %ld, "
           "other %ld, failed %ld, wrong generation %ld\n",
           RELOADS, nbroken, get(&handshakes), get(&presented[CERT_A]),
           get(&presented[CERT_B]), get(&presented[CERT_C]),
           get(&presented[NCERTS]), get(&failures), get(&wrong_generation));
    ck_assert_int_eq(get(&failures), 0);
    ck_assert_int_ge(get(&handshakes), RELOADS * PROGRESS);
    ck_assert_int_gt(get(&presented[CERT_A]), 0);
    ck_assert_int_gt(get(&presented[CERT_B]), 0);
    ck_assert_int_eq(get(&presented[CERT_C]), 0);
    ck_assert_int_eq(get(&presented[NCERTS]), 0);
    ck_assert_int_eq(get(&wrong_generation), 0);
    ck_assert_int_eq(get(&presented[CERT_A]) + get(&presented[CERT_B]),
                     get(&handshakes));
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        reload_100_times_under_handshakes, NULL};
    const struct check_fixture fx = {NULL, NULL, setup, teardown, 600};

    return check_main("reload-load", "reload", &fx, tests);
}
