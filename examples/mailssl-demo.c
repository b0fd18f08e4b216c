/*
 * mailssl-demo - the 13002 case, caught and fixed, in a few seconds, with
 * no arguments and no setup (SPEC.md section 6).
 *
 * 1. makes a throwaway CA and a server certificate (GnuTLS) in a temporary
 *    directory;
 * 2. writes a binding store config for six services on 127.0.0.1 (smtp,
 *    smtps, imap, imaps, pop3, pop3s) in which pop3s is listened on but
 *    bound to nothing, and starts mailssl-serve (found next to this
 *    program) on it;
 * 3. audits the config (mailssl_store_audit): no-binding for pop3s;
 * 4. probes every listener (a mailssl_batch): pop3s is diagnosed as
 *    tls-closed-during-handshake, what a mail client shows as "the server
 *    unexpectedly terminated the connection";
 * 5. adds the missing default-address binding, reloads mailssl-serve
 *    (SIGHUP), audits and probes again: everything is ok;
 * 6. prints the report, stops the server and removes the directory (also
 *    on failure or Ctrl-C).
 * Exit status 0 when the story played out as expected, 1 otherwise.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "mailssl.h"

#define PROG "mailssl-demo"
#define SERVER_NAME "mail.demo.test"
#define NSERVICES 6
#define UNBOUND 5 /* index of the listener left without a binding */
#define WAIT_MS 10000

struct svc {
    const char *name;
    int port;
};

static struct svc svcs[NSERVICES] = {
    {"smtp", 0}, {"smtps", 0}, {"imap", 0},
    {"imaps", 0}, {"pop3", 0}, {"pop3s", 0},
};

/* Everything cleanup() needs, also from a signal handler. */
static char dir[PATH_MAX];
static char path_ca[PATH_MAX], path_cert[PATH_MAX], path_key[PATH_MAX];
static char path_conf[PATH_MAX], path_tmp[PATH_MAX];
static volatile pid_t child = -1;
static int child_out = -1; /* mailssl-serve's stdout and stderr */

static void cleanup(void)
{
    if (child > 0) {
        int st;
        kill(child, SIGTERM);
        waitpid(child, &st, 0);
        child = -1;
    }
    if (dir[0]) {
        unlink(path_ca);
        unlink(path_cert);
        unlink(path_key);
        unlink(path_conf);
        unlink(path_tmp);
        rmdir(dir);
    }
}

static void on_signal(int sig)
{
    /* only async-signal-safe calls: kill, waitpid, unlink, rmdir */
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Prints text wrapped at 78 columns, every line indented by indent. */
static void wrap(const char *text, int indent)
{
    const int width = 78 - indent;
    const char *p = text;

    while (*p) {
        int len = (int)strlen(p), cut = len;
        if (len > width) {
            for (cut = width; cut > 0 && p[cut] != ' '; cut--)
                ;
            if (cut == 0)
                cut = width;
        }
        printf("%*s%.*s\n", indent, "", cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

/* ------------------------------------------------------------------ */
/* Certificates                                                        */
/* ------------------------------------------------------------------ */

static int write_file(const char *path, const gnutls_datum_t *d, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int ok = fd >= 0 && write(fd, d->data, d->size) == (ssize_t)d->size;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* A certificate for key, signed by issuer (NULL: self-signed CA). */
static int make_cert(gnutls_x509_crt_t *out, gnutls_x509_privkey_t key,
                     const char *cn, gnutls_x509_crt_t issuer,
                     gnutls_x509_privkey_t issuer_key, unsigned char serial)
{
    time_t now = time(NULL);
    unsigned char id[64];
    size_t idlen = sizeof(id);
    gnutls_x509_crt_t crt;
    int rc;

    if ((rc = gnutls_x509_crt_init(&crt)) < 0)
        return rc;
    gnutls_x509_crt_set_version(crt, 3);
    gnutls_x509_crt_set_serial(crt, &serial, 1);
    gnutls_x509_crt_set_activation_time(crt, now - 3600);
    gnutls_x509_crt_set_expiration_time(crt, now + 90 * 86400);
    rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                       (unsigned)strlen(cn));
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key(crt, key);
    if (rc >= 0 && !issuer) {
        gnutls_x509_crt_set_basic_constraints(crt, 1, -1);
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN |
                                               GNUTLS_KEY_CRL_SIGN);
    } else if (rc >= 0) {
        struct in_addr lo;
        inet_pton(AF_INET, "127.0.0.1", &lo);
        gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
        gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
        rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, cn,
                                                  (unsigned)strlen(cn),
                                                  GNUTLS_FSAN_APPEND);
        if (rc >= 0)
            rc = gnutls_x509_crt_set_subject_alt_name(
                crt, GNUTLS_SAN_IPADDRESS, &lo, 4, GNUTLS_FSAN_APPEND);
        if (rc >= 0 &&
            gnutls_x509_crt_get_subject_key_id(issuer, id, &idlen, NULL) >= 0)
            gnutls_x509_crt_set_authority_key_id(crt, id, idlen);
        idlen = sizeof(id);
    }
    if (rc >= 0 && gnutls_x509_crt_get_key_id(crt, 0, id, &idlen) >= 0)
        gnutls_x509_crt_set_subject_key_id(crt, id, idlen);
    if (rc >= 0)
        rc = gnutls_x509_crt_sign2(crt, issuer ? issuer : crt,
                                   issuer ? issuer_key : key,
                                   GNUTLS_DIG_SHA256, 0);
    if (rc < 0) {
        gnutls_x509_crt_deinit(crt);
        return rc;
    }
    *out = crt;
    return 0;
}

/* ca.pem (the CA, for the probe and the audit), mail.pem (the server
 * certificate then the CA) and mail.key (mode 0600). */
static int make_certificates(void)
{
    gnutls_x509_privkey_t cakey = NULL, key = NULL;
    gnutls_x509_crt_t ca = NULL, leaf = NULL;
    gnutls_datum_t d1 = {NULL, 0}, d2 = {NULL, 0}, d3 = {NULL, 0};
    gnutls_datum_t chain;
    int rc;

    rc = gnutls_x509_privkey_init(&cakey);
    if (rc >= 0)
        rc = gnutls_x509_privkey_generate(
            cakey, GNUTLS_PK_ECDSA,
            GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (rc >= 0)
        rc = gnutls_x509_privkey_init(&key);
    if (rc >= 0)
        rc = gnutls_x509_privkey_generate(
            key, GNUTLS_PK_ECDSA,
            GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (rc >= 0)
        rc = make_cert(&ca, cakey, "mailssl-demo throwaway CA", NULL, NULL,
                       1);
    if (rc >= 0)
        rc = make_cert(&leaf, key, SERVER_NAME, ca, cakey, 2);
    if (rc >= 0)
        rc = gnutls_x509_crt_export2(ca, GNUTLS_X509_FMT_PEM, &d1);
    if (rc >= 0)
        rc = gnutls_x509_crt_export2(leaf, GNUTLS_X509_FMT_PEM, &d2);
    if (rc >= 0)
        rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d3);
    if (rc >= 0 && write_file(path_ca, &d1, 0644) < 0)
        rc = GNUTLS_E_FILE_ERROR;
    if (rc >= 0 && write_file(path_key, &d3, 0600) < 0)
        rc = GNUTLS_E_FILE_ERROR;
    if (rc >= 0) {
        /* the leaf then the CA, as a server sends its chain */
        chain.size = d1.size + d2.size;
        chain.data = malloc(chain.size);
        if (!chain.data) {
            rc = GNUTLS_E_MEMORY_ERROR;
        } else {
            memcpy(chain.data, d2.data, d2.size);
            memcpy(chain.data + d2.size, d1.data, d1.size);
            if (write_file(path_cert, &chain, 0644) < 0)
                rc = GNUTLS_E_FILE_ERROR;
            free(chain.data);
        }
    }
    if (rc < 0)
        fail("cannot make the certificates in %s: %s", dir,
             gnutls_strerror(rc));
    gnutls_free(d1.data);
    gnutls_free(d2.data);
    gnutls_free(d3.data);
    if (ca)
        gnutls_x509_crt_deinit(ca);
    if (leaf)
        gnutls_x509_crt_deinit(leaf);
    if (cakey)
        gnutls_x509_privkey_deinit(cakey);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Config and server                                                   */
/* ------------------------------------------------------------------ */

/* Free loopback ports above 10000: bound all at once (so they differ),
 * then released for mailssl-serve. */
static int pick_ports(void)
{
    int fds[NSERVICES], i, ok = 1, tries;

    for (tries = 0; tries < 20; tries++) {
        ok = 1;
        for (i = 0; i < NSERVICES; i++) {
            struct sockaddr_in a;
            socklen_t al = sizeof(a);
            memset(&a, 0, sizeof(a));
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, al) != 0 ||
                getsockname(fds[i], (struct sockaddr *)&a, &al) != 0) {
                ok = 0;
                svcs[i].port = 0;
            } else {
                svcs[i].port = ntohs(a.sin_port);
            }
            if (svcs[i].port <= 10000)
                ok = 0;
        }
        for (i = 0; i < NSERVICES; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        if (ok)
            return 0;
    }
    fail("cannot find free ports on 127.0.0.1");
    return -1;
}

static int write_config(int fixed)
{
    FILE *f = fopen(path_tmp, "w");
    int i;

    if (!f)
        return -1;
    fprintf(f, "# written by mailssl-demo: six services on 127.0.0.1\n"
               "# protocol address  port   name  credential\n");
    for (i = 0; i < NSERVICES; i++)
        if (i != UNBOUND)
            fprintf(f, "bind %-6s 127.0.0.1 %5d  *     cert=mail.pem "
                       "key=mail.key\n",
                    svcs[i].name, svcs[i].port);
    if (fixed)
        fprintf(f, "bind %-6s 0.0.0.0   %5d  *     cert=mail.pem "
                   "key=mail.key\n",
                svcs[UNBOUND].name, svcs[UNBOUND].port);
    for (i = 0; i < NSERVICES; i++)
        fprintf(f, "listen %-6s 127.0.0.1 %5d\n", svcs[i].name, svcs[i].port);
    if (fclose(f) != 0)
        return -1;
    /* replaced whole, so the server never reads half a file */
    return rename(path_tmp, path_conf);
}

/* The server's output, kept to show its log. */
static char server_log[16384];
static size_t server_log_len;

/* Reads mailssl-serve's lines until one contains want (returned in line)
 * or timeout_ms passes or the server exits. Returns 0 when found. */
static int wait_for(const char *want, char *line, size_t linelen,
                    int timeout_ms)
{
    static char buf[8192];
    static size_t len;
    int64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', len)) != NULL) {
            size_t n = (size_t)(nl - buf);
            int hit;
            *nl = '\0';
            hit = strstr(buf, want) != NULL;
            if (server_log_len + n + 1 < sizeof(server_log)) {
                memcpy(server_log + server_log_len, buf, n + 1);
                server_log[server_log_len + n] = '\n';
                server_log_len += n + 1;
                server_log[server_log_len] = '\0';
            }
            if (hit && linelen) {
                size_t k = n < linelen - 1 ? n : linelen - 1;
                memcpy(line, buf, k);
                line[k] = '\0';
            }
            memmove(buf, nl + 1, len - n - 1);
            len -= n + 1;
            if (hit)
                return 0;
        }
        {
            struct pollfd p = {child_out, POLLIN, 0};
            int64_t left = deadline - now_ms();
            ssize_t r;
            if (left <= 0 || poll(&p, 1, (int)left) <= 0)
                return -1;
            if (len == sizeof(buf) - 1)
                len = 0; /* an absurdly long line: forget it */
            r = read(child_out, buf + len, sizeof(buf) - 1 - len);
            if (r <= 0)
                return -1; /* the server went away */
            len += (size_t)r;
        }
    }
}

/* mailssl-serve next to this program, else from PATH. */
static void serve_path(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    snprintf(out, len, "mailssl-serve");
    if (n <= 0)
        return;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return;
    slash[1] = '\0';
    {
        char cand[PATH_MAX];
        int w = snprintf(cand, sizeof(cand), "%smailssl-serve", self);
        if (w > 0 && (size_t)w < sizeof(cand) && (size_t)w < len &&
            access(cand, X_OK) == 0)
            memcpy(out, cand, (size_t)w + 1);
    }
}

/* Starts mailssl-serve CONFIG; returns 0 once it said it listens. */
static int start_server(char *ready, size_t readylen)
{
    char exe[PATH_MAX];
    int p[2];
    pid_t pid;

    serve_path(exe, sizeof(exe));
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the demo */
        dup2(p[1], 1);
        dup2(p[1], 2);
        execlp(exe, "mailssl-serve", "--idle-timeout", "10", path_conf,
               (char *)NULL);
        fprintf(stderr, "mailssl-demo: cannot run %s: %s\n", exe,
                strerror(errno));
        _exit(127);
    }
    close(p[1]);
    child = pid;
    child_out = p[0];
    if (wait_for("listening on", ready, readylen, WAIT_MS) == 0)
        return 0;
    {
        int st;
        kill(pid, SIGTERM);
        waitpid(pid, &st, 0);
        child = -1;
        close(child_out);
        child_out = -1;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Audit and probes                                                    */
/* ------------------------------------------------------------------ */

/* Audits CONFIG as mailssl-check would; returns the number of critical
 * findings, sets *nobinding to the number of no-binding findings for the
 * unbound listener, -1 on error. */
static int audit(mailssl_store *store, mailssl_validator *v, int *nobinding,
                 int *total)
{
    mailssl_report *r = mailssl_report_new();
    char want[64];
    size_t i;
    int crit = 0;

    *nobinding = *total = 0;
    if (!r)
        return -1;
    if (mailssl_store_load_file(store, path_conf) < 0) {
        fail("%s", mailssl_store_error(store));
        mailssl_report_free(r);
        return -1;
    }
    if (mailssl_store_audit(store, v, r) < 0) {
        fail("audit failed: %s", mailssl_store_error(store));
        mailssl_report_free(r);
        return -1;
    }
    snprintf(want, sizeof(want), "%s 127.0.0.1 %d", svcs[UNBOUND].name,
             svcs[UNBOUND].port);
    *total = (int)mailssl_report_count(r);
    if (*total == 0)
        printf("   no findings: every listener resolves to a valid "
               "certificate\n");
    for (i = 0; i < mailssl_report_count(r); i++) {
        const char *ctx = mailssl_report_context(r, i);
        int sev = mailssl_report_severity(r, i);
        int code = mailssl_report_code(r, i);
        printf("   %s %s  %s %s\n", mailssl_severity_name(sev),
               mailssl_code_name(code),
               ctx ? mailssl_report_context_kind(r, i) : "",
               ctx ? ctx : "");
        wrap(mailssl_report_message(r, i), 5);
        if (sev == MAILSSL_SEVERITY_CRITICAL)
            crit++;
        if (code == MAILSSL_CODE_NO_BINDING && ctx && strcmp(ctx, want) == 0)
            (*nobinding)++;
    }
    mailssl_report_free(r);
    return crit;
}

/* Probes every listener at once; fills diag[] with the diagnosis codes
 * and prints a table. Returns the number of listeners that are ok, or -1. */
static int probe_all(int diag[NSERVICES])
{
    mailssl_probe *p[NSERVICES] = {NULL};
    mailssl_batch *b = mailssl_batch_new(NSERVICES);
    char url[NSERVICES][64];
    int i, ok = 0, rc = 0;

    if (!b)
        return -1;
    for (i = 0; i < NSERVICES && rc == 0; i++) {
        snprintf(url[i], sizeof(url[i]), "%s://127.0.0.1:%d", svcs[i].name,
                 svcs[i].port);
        p[i] = mailssl_probe_new(url[i]);
        if (!p[i] || mailssl_probe_set_cafile(p[i], path_ca) < 0 ||
            mailssl_probe_set_timeout_ms(p[i], 5000) < 0 ||
            mailssl_batch_add(b, p[i]) < 0)
            rc = -1;
    }
    if (rc == 0 && mailssl_batch_run(b, NULL, NULL) < 0)
        rc = -1;
    if (rc < 0)
        fail("cannot run the probes");
    for (i = 0; i < NSERVICES && rc == 0; i++) {
        int code = mailssl_probe_diagnosis(p[i]);
        const char *tls = mailssl_probe_tls_version(p[i]);
        diag[i] = code;
        printf("   %-26s %-9s %-28s %s\n", url[i],
               mailssl_severity_name(mailssl_probe_status(p[i])),
               mailssl_code_name(code), tls ? tls : "-");
        if (code == MAILSSL_CODE_OK)
            ok++;
    }
    for (i = 0; i < NSERVICES && rc == 0; i++)
        if (diag[i] != MAILSSL_CODE_OK) {
            printf("   %s:\n", url[i]);
            wrap(mailssl_probe_message(p[i]), 5);
        }
    for (i = 0; i < NSERVICES; i++)
        mailssl_probe_free(p[i]);
    mailssl_batch_free(b);
    return rc < 0 ? -1 : ok;
}

/* Prints the server's log lines that mention needle. */
static void show_log(const char *needle)
{
    const char *l = server_log;
    while (*l) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char line[2048];
        snprintf(line, sizeof(line), "%.*s", (int)n, l);
        if (strstr(line, needle)) {
            printf("   server log:\n");
            wrap(line, 5);
        }
        l += n + (nl ? 1 : 0);
    }
}

/* ------------------------------------------------------------------ */

static int story(void)
{
    mailssl_store *store = NULL;
    mailssl_validator *v = NULL;
    char line[4096], needle[128];
    int diag1[NSERVICES], diag2[NSERVICES], i, tries;
    int crit1, nb1, total1, crit2, nb2, total2, ok1, ok2, good = 1;

    printf("mailssl-demo (libmailssl %s): the 13002 case, caught and "
           "fixed\n\n",
           mailssl_version());
    if (make_certificates() < 0)
        return 1;
    printf("1. A throwaway CA and a certificate for %s and 127.0.0.1,\n"
           "   in %s\n\n",
           SERVER_NAME, dir);

    for (tries = 0;; tries++) {
        if (pick_ports() < 0 || write_config(0) < 0) {
            fail("cannot write %s", path_conf);
            return 1;
        }
        if (start_server(line, sizeof(line)) == 0)
            break;
        if (tries == 2) {
            fail("mailssl-serve did not start:\n%s", server_log);
            return 1;
        }
        server_log_len = 0; /* a port was taken meanwhile: again */
        server_log[0] = '\0';
    }
    printf("2. The server's config (mailssl.conf there): pop3s is "
           "listened on but bound\n   to nothing, on purpose:\n\n");
    {
        FILE *f = fopen(path_conf, "r");
        char l[512];
        while (f && fgets(l, sizeof(l), f))
            if (l[0] != '#')
                printf("     %s", l);
        if (f)
            fclose(f);
    }
    printf("\n   mailssl-serve (pid %d) started:\n", (int)child);
    wrap(line, 5);
    printf("\n");

    store = mailssl_store_new();
    v = mailssl_validator_new();
    if (!store || !v || mailssl_validator_set_cafile(v, path_ca) < 0) {
        fail("cannot set up the audit");
        good = 0;
        goto out;
    }
    printf("3. The audit of the config (mailssl_store_audit, what "
           "mailssl-check runs):\n\n");
    crit1 = audit(store, v, &nb1, &total1);
    printf("\n4. Every listener probed at once (a mailssl_batch, what "
           "mailssl-probe runs):\n\n");
    ok1 = probe_all(diag1);
    snprintf(needle, sizeof(needle), "%s 127.0.0.1:%d: connection",
             svcs[UNBOUND].name, svcs[UNBOUND].port);
    wait_for(needle, line, sizeof(line), 2000);
    show_log(needle);

    printf("\n5. The fix: a default-address binding for the pop3s port, "
           "then a reload\n   (SIGHUP; the new config is applied whole or "
           "not at all):\n\n");
    printf("     bind pop3s 0.0.0.0 %d * cert=mail.pem key=mail.key\n\n",
           svcs[UNBOUND].port);
    if (write_config(1) < 0 || kill(child, SIGHUP) != 0 ||
        wait_for("reload", line, sizeof(line), WAIT_MS) < 0) {
        fail("the reload did not happen");
        good = 0;
        goto out;
    }
    wrap(line, 5);
    printf("\n6. The audit again:\n\n");
    crit2 = audit(store, v, &nb2, &total2);
    printf("\n7. Every listener probed again:\n\n");
    ok2 = probe_all(diag2);

    /* did the story play out? */
    if (crit1 != 1 || nb1 != 1 || total1 != 1 || ok1 != NSERVICES - 1 ||
        diag1[UNBOUND] != MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE ||
        crit2 != 0 || total2 != 0 || ok2 != NSERVICES ||
        strstr(line, "reloaded") == NULL)
        good = 0;
    for (i = 0; i < NSERVICES; i++)
        if (i != UNBOUND && ok1 >= 0 && diag1[i] != MAILSSL_CODE_OK)
            good = 0;

    printf("\nReport\n\n");
    printf("   The 13002 case: a server that listens where no certificate "
           "is bound\n   accepts the connection, then drops it during the "
           "handshake; clients\n   only say \"the server unexpectedly "
           "terminated the connection\".\n\n");
    printf("   before the fix: the audit found %d no-binding (%s 127.0.0.1 "
           "%d), the\n   probe diagnosed it as %s; %d of %d listeners ok\n",
           nb1, svcs[UNBOUND].name, svcs[UNBOUND].port,
           mailssl_code_name(diag1[UNBOUND]), ok1, NSERVICES);
    printf("   after the fix:  the audit found %d finding%s; %d of %d "
           "listeners ok\n\n",
           total2, total2 == 1 ? "" : "s", ok2, NSERVICES);
    if (good)
        printf("   All %d listeners ok: the story played out as expected.\n",
               NSERVICES);
    else
        printf("   The story did NOT play out as expected: see above.\n");
out:
    mailssl_validator_free(v);
    mailssl_store_free(store);
    return good ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    int status;

    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            printf("Usage: %s\n\n"
                   "With no arguments and no setup: makes a throwaway CA "
                   "and certificate in a\ntemporary directory, serves six "
                   "mail services on 127.0.0.1 with\nmailssl-serve (one "
                   "listener left without a binding on purpose), audits\n"
                   "the config, probes every listener, adds the missing "
                   "binding, reloads,\naudits and probes again, prints the "
                   "report and cleans up.\nExit status 0 when the story "
                   "played out as expected, 1 otherwise.\n"
                   "See mailssl-demo(1).\n",
                   PROG);
            return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
            printf("%s (libmailssl %s)\n", PROG, mailssl_version());
            return 0;
        }
        fail("takes no arguments (see --help)");
        return 3;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(dir, sizeof(dir), "%s/mailssl-demo.XXXXXX",
             getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR")
                                                     : "/tmp");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        fail("cannot make a temporary directory: %s", strerror(errno));
        return 1;
    }
    if (snprintf(path_ca, sizeof(path_ca), "%s/ca.pem", dir) >=
            (int)sizeof(path_ca) ||
        snprintf(path_cert, sizeof(path_cert), "%s/mail.pem", dir) >=
            (int)sizeof(path_cert) ||
        snprintf(path_key, sizeof(path_key), "%s/mail.key", dir) >=
            (int)sizeof(path_key) ||
        snprintf(path_conf, sizeof(path_conf), "%s/mailssl.conf", dir) >=
            (int)sizeof(path_conf) ||
        snprintf(path_tmp, sizeof(path_tmp), "%s/mailssl.conf.new", dir) >=
            (int)sizeof(path_tmp)) {
        fail("the temporary directory's name is too long: %s", dir);
        rmdir(dir);
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    /* "mailssl-demo | head" must not kill the demo before it cleans up:
     * a write to a closed pipe fails instead */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (mailssl_init() < 0) {
        fail("cannot initialise the library");
        cleanup();
        return 1;
    }
    status = story();
    cleanup();
    if (child_out >= 0)
        close(child_out);
    printf("\nStopped mailssl-serve and removed %s.\n", dir);
    mailssl_deinit();
    return status;
}
