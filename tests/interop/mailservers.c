/* mailservers.c - see mailservers.h. */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "../certgen.h"
#include "mailservers.h"

#define DOVECOT_BIN "/usr/sbin/dovecot"
#define POSTFIX_BIN "/usr/sbin/postfix"
#define POSTCONF_BIN "/usr/sbin/postconf"
#define SYSTEM_POSTFIX_DIR "/etc/postfix"
#define LOCK_FILE "/run/mailssl-interop.lock"

/* ---- small helpers ------------------------------------------------------ */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *path_join(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (!f)
        return -1;
    if (fputs(text, f) < 0)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0)
        chmod(path, mode);
    return rc;
}

/* Runs argv with stdout (and, with_stderr, stderr; else stderr goes to
 * /dev/null) into out (NUL-terminated, truncated to outlen). Returns the
 * exit status, or -1 when it could not run. */
static int run_capture2(char *const argv[], int with_stderr, char *out,
                        size_t outlen)
{
    int fds[2];
    pid_t pid;
    size_t used = 0;
    int status;

    if (out && outlen)
        out[0] = '\0';
    if (pipe(fds) < 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fds[1], 1);
        if (with_stderr)
            dup2(fds[1], 2);
        else if (devnull >= 0)
            dup2(devnull, 2);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        char buf[512];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (out && used + 1 < outlen) {
            size_t k = (size_t)n;
            if (k > outlen - 1 - used)
                k = outlen - 1 - used;
            memcpy(out + used, buf, k);
            used += k;
            out[used] = '\0';
        }
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* run_capture2 with stderr: a command's whole account, for messages. */
static int run_capture(char *const argv[], char *out, size_t outlen)
{
    return run_capture2(argv, 1, out, outlen);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A TCP socket and addr:port filled in; returns the socket or -1. */
static int tcp_socket(struct sockaddr_in *sa, const char *addr, int port)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1)
        return -1;
    return socket(AF_INET, SOCK_STREAM, 0);
}

/* 1 when addr:port can be bound now (so is free), else 0. */
static int port_free(const char *addr, int port)
{
    struct sockaddr_in sa;
    int fd = tcp_socket(&sa, addr, port), ok;
    if (fd < 0)
        return 0;
    ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* Picks n consecutive ports in 10001..32000 (above 10000 and below the
 * kernel's ephemeral range, so no test's port-0 socket takes them between
 * the pick and the server's bind), free on both loopback addresses.
 * attempt varies the choice between retries. */
static int pick_ports(int *ports, int n, unsigned attempt)
{
    unsigned seed = (unsigned)getpid() * 2654435761u + attempt * 40503u +
                    (unsigned)monotonic_ms();
    for (int tries = 0; tries < 200; tries++) {
        int base = 10001 + (int)((seed + (unsigned)tries * 977u) % 22000u);
        int i;
        for (i = 0; i < n; i++)
            if (!port_free("127.0.0.1", base + i) ||
                !port_free("127.0.0.2", base + i))
                break;
        if (i == n) {
            for (i = 0; i < n; i++)
                ports[i] = base + i;
            return 0;
        }
    }
    return -1;
}

/* 1 when addr:port accepts a TCP connection. */
static int port_accepts(const char *addr, int port)
{
    struct sockaddr_in sa;
    int fd = tcp_socket(&sa, addr, port), ok;
    if (fd < 0)
        return 0;
    ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

long ms_log_size(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) < 0)
        return 0;
    return (long)st.st_size;
}

void ms_log_dump(const char *label, const char *path, long offset)
{
    char line[2048];
    FILE *f;

    if (!path)
        return;
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "[%s] (no log at %s)\n", label, path);
        return;
    }
    fprintf(stderr, "[%s] ---- server log %s ----\n", label, path);
    /* Problems logged earlier (e.g. when a daemon started and loaded its
     * key) are often the cause: show those first. */
    while (ftell(f) < offset && fgets(line, sizeof line, f))
        if (strstr(line, "warning:") || strstr(line, "error:") ||
            strstr(line, "fatal:") || strstr(line, "panic:") ||
            strstr(line, "Error:") || strstr(line, "Fatal:") ||
            strstr(line, "Warning:"))
            fprintf(stderr, "[%s] (earlier) %s%s", label, line,
                    strchr(line, '\n') ? "" : "\n");
    if (offset > 0)
        fseek(f, offset, SEEK_SET);
    while (fgets(line, sizeof line, f))
        fprintf(stderr, "[%s] %s%s", label, line,
                strchr(line, '\n') ? "" : "\n");
    fprintf(stderr, "[%s] ---- end of server log ----\n", label);
    fclose(f);
}

/* The last lines of a log, for an error message. */
static void log_tail(const char *path, char *out, size_t outlen)
{
    long size = ms_log_size(path);
    FILE *f;
    size_t n;

    if (!outlen)
        return;
    out[0] = '\0';
    if (!path || !(f = fopen(path, "r")))
        return;
    if (size > (long)outlen - 1)
        fseek(f, size - (long)outlen + 1, SEEK_SET);
    n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* ---- cleanup of everything this process started ------------------------- */

#define MAX_TRACKED 8
static pid_t dovecot_groups[MAX_TRACKED];
static char *postfix_dirs[MAX_TRACKED];
static char *removable_dirs[MAX_TRACKED]; /* removed at exit or signal */
static pid_t owner_pid; /* the process that started the servers */
static int cleanup_installed;

static void stop_dovecot_group(pid_t pgid)
{
    int64_t deadline;

    if (pgid <= 0)
        return;
    kill(-pgid, SIGTERM);
    deadline = monotonic_ms() + 5000;
    while (monotonic_ms() < deadline) {
        int status;
        pid_t r = waitpid(pgid, &status, WNOHANG);
        if (r == pgid || (r < 0 && errno == ECHILD)) {
            if (kill(-pgid, 0) < 0)
                return; /* the whole group is gone */
        }
        sleep_ms(20);
    }
    kill(-pgid, SIGKILL);
    waitpid(pgid, NULL, 0);
}

/* dir: the private root; its configuration is in dir/etc. */
static void postfix_stop_dir(const char *dir)
{
    char *conf = path_join(dir, "etc");
    char *const argv[] = {POSTFIX_BIN, "-c", conf, "stop", NULL};
    char *pidfile = NULL;
    FILE *f;
    long pid = 0;

    if (!conf)
        return;
    if (asprintf(&pidfile, "%s/queue/pid/master.pid", dir) < 0)
        pidfile = NULL;
    if (pidfile && (f = fopen(pidfile, "r"))) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    run_capture(argv, NULL, 0);
    if (pid > 0) {
        int64_t deadline = monotonic_ms() + 5000;
        while (kill((pid_t)pid, 0) == 0 && monotonic_ms() < deadline)
            sleep_ms(20);
        if (kill((pid_t)pid, 0) == 0)
            kill((pid_t)pid, SIGKILL);
    }
    free(pidfile);
    free(conf);
}

static int system_alternate_dirs(const char *dir, int add, char *err,
                                 size_t errlen);

static void install_cleanup(void);
static void track_dir(const char *dir, int add);

static void cleanup_all(void)
{
    if (getpid() != owner_pid)
        return; /* a forked test child: the parent owns the servers */
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (dovecot_groups[i] > 0) {
            stop_dovecot_group(dovecot_groups[i]);
            dovecot_groups[i] = 0;
        }
        if (postfix_dirs[i]) {
            char *conf = path_join(postfix_dirs[i], "etc");
            postfix_stop_dir(postfix_dirs[i]);
            if (conf)
                system_alternate_dirs(conf, 0, NULL, 0);
            free(conf);
            free(postfix_dirs[i]);
            postfix_dirs[i] = NULL;
        }
    }
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (removable_dirs[i]) {
            certgen_rmdir(removable_dirs[i]);
            free(removable_dirs[i]);
            removable_dirs[i] = NULL;
        }
    }
}

/* Adds dir to (add) or removes it from a list of MAX_TRACKED strings. */
static void track_string(char **list, const char *dir, int add)
{
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (add && !list[i]) {
            list[i] = strdup(dir);
            return;
        }
        if (!add && list[i] && strcmp(list[i], dir) == 0) {
            free(list[i]);
            list[i] = NULL;
            return;
        }
    }
}

static void track_dir(const char *dir, int add)
{
    track_string(removable_dirs, dir, add);
}

void ms_remove_at_exit(const char *dir)
{
    install_cleanup();
    track_dir(dir, 1);
}

static void on_fatal_signal(int sig)
{
    cleanup_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_cleanup(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGABRT, SIGSEGV};
    if (cleanup_installed && owner_pid == getpid())
        return;
    owner_pid = getpid();
    if (!cleanup_installed)
        atexit(cleanup_all);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on_fatal_signal);
    cleanup_installed = 1;
}

static void track_dovecot(pid_t pgid, int add)
{
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (add && dovecot_groups[i] == 0) {
            dovecot_groups[i] = pgid;
            return;
        }
        if (!add && dovecot_groups[i] == pgid) {
            dovecot_groups[i] = 0;
            return;
        }
    }
}

static void track_postfix(const char *dir, int add)
{
    track_string(postfix_dirs, dir, add);
}

/* ---- certificates ------------------------------------------------------- */

void ms_certs_free(struct ms_certs *c)
{
    char **fields[] = {&c->dir, &c->ca, &c->main_cert, &c->main_key,
                       &c->addr2_cert, &c->addr2_key, &c->other_cert,
                       &c->other_key, &c->expired_cert, &c->expired_key,
                       &c->stray_key};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

static int make_leaf(const char *dir, const char *name, int64_t nb,
                     int64_t na, const struct certgen_cert *ca, char **cert,
                     char **key)
{
    const char *dns[] = {name, NULL};
    struct certgen_opts o = {0};
    struct certgen_cert leaf;
    const struct certgen_cert *chain[1];
    char file[256];
    int rc;

    o.cn = name;
    o.dns = dns;
    o.not_before = nb;
    o.not_after = na;
    if (certgen_make(&leaf, &o, ca) < 0)
        return -1;
    chain[0] = &leaf;
    snprintf(file, sizeof file, "%s.pem", name);
    *cert = path_join(dir, file);
    snprintf(file, sizeof file, "%s.key", name);
    *key = path_join(dir, file);
    rc = (*cert && *key && certgen_write_pem(*cert, chain, 1, NULL) == 0 &&
          certgen_write_key(*key, &leaf) == 0)
             ? 0
             : -1;
    certgen_free(&leaf);
    return rc;
}

int ms_certs_make(struct ms_certs *c, const char *dir, char *err,
                  size_t errlen)
{
    struct certgen_opts cao = {0};
    struct certgen_cert ca, stray;
    const struct certgen_cert *chain[1];
    /* Explicit past dates: 2020-01-01 .. 2021-01-01 UTC. */
    const int64_t exp_nb = 1577836800, exp_na = 1609459200;
    int rc = -1;

    memset(c, 0, sizeof *c);
    cao.cn = "mailssl interop CA";
    cao.is_ca = 1;
    if (certgen_make(&ca, &cao, NULL) < 0) {
        seterr(err, errlen, "cannot make the CA");
        return -1;
    }
    if (certgen_make(&stray, NULL, NULL) < 0) {
        certgen_free(&ca);
        seterr(err, errlen, "cannot make the stray key");
        return -1;
    }
    c->dir = strdup(dir);
    c->ca = path_join(dir, "ca.pem");
    c->stray_key = path_join(dir, "stray.key");
    chain[0] = &ca;
    c->expired_not_after = exp_na;
    if (c->dir && c->ca && c->stray_key &&
        certgen_write_pem(c->ca, chain, 1, NULL) == 0 &&
        certgen_write_key(c->stray_key, &stray) == 0 &&
        make_leaf(dir, MS_NAME_MAIN, 0, 0, &ca, &c->main_cert,
                  &c->main_key) == 0 &&
        make_leaf(dir, MS_NAME_ADDR2, 0, 0, &ca, &c->addr2_cert,
                  &c->addr2_key) == 0 &&
        make_leaf(dir, MS_NAME_OTHER, 0, 0, &ca, &c->other_cert,
                  &c->other_key) == 0 &&
        make_leaf(dir, MS_NAME_EXPIRED, exp_nb, exp_na, &ca, &c->expired_cert,
                  &c->expired_key) == 0)
        rc = 0;
    else
        seterr(err, errlen, "cannot write certificates in %s", dir);
    certgen_free(&ca);
    certgen_free(&stray);
    if (rc < 0)
        ms_certs_free(c);
    return rc;
}

/* ---- Dovecot ------------------------------------------------------------ */

int ms_have_dovecot(void)
{
    return access(DOVECOT_BIN, X_OK) == 0 &&
           access("/usr/lib/dovecot/imap-login", X_OK) == 0 &&
           access("/usr/lib/dovecot/pop3-login", X_OK) == 0 &&
           access("/usr/lib/dovecot/managesieve-login", X_OK) == 0 &&
           access("/usr/lib/dovecot/lmtp", X_OK) == 0 &&
           getpwnam("dovenull") && getpwnam("dovecot");
}

int ms_have_postfix(void)
{
    return access(POSTFIX_BIN, X_OK) == 0 && access(POSTCONF_BIN, X_OK) == 0 &&
           access("/usr/lib/postfix/sbin/smtpd", X_OK) == 0 &&
           getpwnam("postfix") && getgrnam("postdrop");
}

/* What every private Dovecot shares: its directories, log, users and a
 * static password database. */
static char *dovecot_base(const struct ms_dovecot *d, const char *instance)
{
    char *s = NULL;
    int n = asprintf(
        &s,
        "# private Dovecot for the libmailssl interop tests\n"
        "base_dir = %1$s/run\n"
        "state_dir = %1$s/state\n"
        "log_path = %2$s\n"
        "instance_name = %3$s\n"
        "default_login_user = dovenull\n"
        "default_internal_user = dovecot\n"
        "default_internal_group = dovecot\n"
        "auth_mechanisms = plain\n"
        "passdb {\n  driver = static\n  args = password=interop\n}\n"
        "userdb {\n  driver = static\n"
        "  args = uid=dovecot gid=dovecot home=%1$s/home/%%u\n}\n"
        "mail_location = maildir:~/Maildir\n",
        d->dir, d->log, instance);
    return n < 0 ? NULL : s;
}

static char *dovecot_specific(const struct ms_dovecot *d,
                              const struct ms_certs *c)
{
    char *s = NULL;
    const int *p = d->port;
    int n;

    if (d->ssl)
        n = asprintf(
            &s,
            "protocols = imap pop3 sieve lmtp\n"
            "listen = 127.0.0.1 127.0.0.2\n"
            "ssl = yes\n"
            "ssl_cert = <%1$s\n"
            "ssl_key = <%2$s\n"
            "ssl_min_protocol = TLSv1.2\n"
            "disable_plaintext_auth = yes\n"
            "service imap-login {\n"
            "  inet_listener imap {\n    port = %7$d\n  }\n"
            "  inet_listener imaps {\n    port = %8$d\n    ssl = yes\n  }\n"
            "}\n"
            "service pop3-login {\n"
            "  inet_listener pop3 {\n    port = %9$d\n  }\n"
            "  inet_listener pop3s {\n    port = %10$d\n    ssl = yes\n  }\n"
            "}\n"
            "service managesieve-login {\n"
            "  inet_listener sieve {\n    port = %11$d\n  }\n"
            "}\n"
            "service lmtp {\n"
            "  inet_listener lmtp {\n    port = %12$d\n  }\n"
            "}\n"
            "local 127.0.0.2 {\n  ssl_cert = <%3$s\n  ssl_key = <%4$s\n}\n"
            "local_name " MS_NAME_OTHER " {\n"
            "  ssl_cert = <%5$s\n  ssl_key = <%6$s\n}\n"
            "local_name " MS_NAME_EXPIRED " {\n"
            "  ssl_cert = <%13$s\n  ssl_key = <%14$s\n}\n",
            c->main_cert, c->main_key, c->addr2_cert, c->addr2_key,
            c->other_cert, c->other_key, p[MS_IMAP], p[MS_IMAPS], p[MS_POP3],
            p[MS_POP3S], p[MS_SIEVE], p[MS_LMTP], c->expired_cert,
            c->expired_key);
    else
        n = asprintf(
            &s,
            "protocols = imap\n"
            "listen = 127.0.0.1 127.0.0.2\n"
            "ssl = no\n"
            "disable_plaintext_auth = no\n"
            "service imap-login {\n"
            "  inet_listener imap {\n    port = %1$d\n  }\n"
            "  inet_listener imaps {\n    port = 0\n  }\n"
            "}\n",
            p[MS_IMAP]);
    return n < 0 ? NULL : s;
}

/* The base settings followed by specific (NULL when memory ran out). */
static char *dovecot_compose(const struct ms_dovecot *d, const char *instance,
                             const char *specific)
{
    char *base = dovecot_base(d, instance), *s = NULL;

    if (base && specific && asprintf(&s, "%s%s", base, specific) < 0)
        s = NULL;
    free(base);
    return s;
}

static char *dovecot_config(const struct ms_dovecot *d,
                            const struct ms_certs *c)
{
    char *specific = dovecot_specific(d, c);
    char *s = dovecot_compose(d, d->ssl ? "mailssl-interop"
                                        : "mailssl-interop-nossl",
                              specific);
    free(specific);
    return s;
}

static void dovecot_free(struct ms_dovecot *d)
{
    if (d->dir) {
        certgen_rmdir(d->dir);
        track_dir(d->dir, 0);
    }
    free(d->dir);
    free(d->config);
    free(d->log);
    d->dir = d->config = d->log = NULL;
}

void ms_dovecot_stop(struct ms_dovecot *d)
{
    if (d->pid > 0) {
        stop_dovecot_group(d->pid);
        track_dovecot(d->pid, 0);
        d->pid = 0;
    }
    dovecot_free(d);
}

/* Writes conf and starts Dovecot on it; waits until every endpoint
 * accepts. 0 started, 1 a port was taken (retry elsewhere), -1 failed. */
static int dovecot_launch(struct ms_dovecot *d, const char *conf,
                          const struct ms_endpoint *eps, size_t neps,
                          char *err, size_t errlen)
{
    int64_t deadline;
    pid_t pid;

    if (!conf || write_file(d->config, conf, 0644) < 0) {
        seterr(err, errlen, "cannot write %s", d->config);
        return -1;
    }
    truncate(d->log, 0);
    pid = fork();
    if (pid < 0) {
        seterr(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_APPEND | O_CREAT, 0644);
        setsid(); /* own process group: stopped as a whole */
        /* Even if the test process is killed outright, Dovecot goes. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(DOVECOT_BIN, "dovecot", "-c", d->config, "-F", (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    track_dovecot(pid, 1);
    deadline = monotonic_ms() + 15000;
    for (;;) {
        int status;
        size_t up = 0;
        for (size_t i = 0; i < neps; i++)
            up += port_accepts(eps[i].addr, eps[i].port);
        if (up == neps)
            return 0;
        if (waitpid(pid, &status, WNOHANG) == pid || monotonic_ms() > deadline) {
            char tail[1024];
            int in_use;
            log_tail(d->log, tail, sizeof tail);
            in_use = strstr(tail, "in use") != NULL;
            seterr(err, errlen, "dovecot did not start listening: %s", tail);
            stop_dovecot_group(pid);
            track_dovecot(pid, 0);
            d->pid = 0;
            return in_use ? 1 : -1;
        }
        sleep_ms(50);
    }
}

/* One attempt on the ports in d->port, on both loopback addresses. */
static int dovecot_try(struct ms_dovecot *d, const struct ms_certs *c,
                       char *err, size_t errlen)
{
    struct ms_endpoint eps[2 * MS_DOVECOT_NPORTS];
    char *conf = dovecot_config(d, c);
    int nports = d->ssl ? MS_DOVECOT_NPORTS : 1, rc;

    for (int i = 0; i < nports; i++) {
        eps[2 * i].addr = "127.0.0.1";
        eps[2 * i + 1].addr = "127.0.0.2";
        eps[2 * i].port = eps[2 * i + 1].port = d->port[i];
    }
    rc = dovecot_launch(d, conf, eps, (size_t)nports * 2, err, errlen);
    free(conf);
    return rc;
}

/* The private directory and file names of a new Dovecot; 0 or -1. */
static int dovecot_prepare(struct ms_dovecot *d, char *err, size_t errlen)
{
    install_cleanup();
    if (!ms_have_dovecot()) {
        seterr(err, errlen, "dovecot is not installed");
        return -1;
    }
    d->dir = certgen_tmpdir();
    if (!d->dir) {
        seterr(err, errlen, "cannot make a temporary directory");
        return -1;
    }
    track_dir(d->dir, 1);
    /* The login and internal users must reach base_dir below it. */
    chmod(d->dir, 0755);
    d->config = path_join(d->dir, "dovecot.conf");
    d->log = path_join(d->dir, "dovecot.log");
    if (!d->config || !d->log) {
        dovecot_free(d);
        seterr(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int ms_dovecot_start(struct ms_dovecot *d, const struct ms_certs *c, int ssl,
                     char *err, size_t errlen)
{
    int rc = -1;

    memset(d, 0, sizeof *d);
    d->ssl = ssl;
    if (dovecot_prepare(d, err, errlen) < 0)
        return -1;
    for (unsigned attempt = 0; attempt < 5; attempt++) {
        if (pick_ports(d->port, ssl ? MS_DOVECOT_NPORTS : 1, attempt) < 0) {
            seterr(err, errlen, "no free ports above 10000");
            break;
        }
        rc = dovecot_try(d, c, err, errlen);
        if (rc != 1)
            break;
    }
    if (rc != 0) {
        /* Keep the log readable for the caller's message, then tidy. */
        dovecot_free(d);
        return -1;
    }
    return 0;
}

int ms_pick_ports(int *ports, int n)
{
    static unsigned attempt;
    return pick_ports(ports, n, attempt++);
}

int ms_dovecot_start_with(struct ms_dovecot *d, const char *tls_conf,
                          const struct ms_endpoint *eps, size_t neps,
                          char *err, size_t errlen)
{
    char *conf;
    int rc;

    memset(d, 0, sizeof *d);
    d->ssl = 1;
    if (dovecot_prepare(d, err, errlen) < 0)
        return -1;
    conf = dovecot_compose(d, "mailssl-live", tls_conf);
    rc = dovecot_launch(d, conf, eps, neps, err, errlen);
    free(conf);
    if (rc != 0) {
        dovecot_free(d);
        return -1;
    }
    return 0;
}

/* ---- Postfix ------------------------------------------------------------ */

/* Runs "postconf -c /etc/postfix -h alternate_config_directories" and
 * rewrites it with dir added (add) or removed, dropping entries whose
 * directory no longer exists. Serialised by a lock file. */
static int system_alternate_dirs(const char *dir, int add, char *err,
                                 size_t errlen)
{
    char *const get[] = {POSTCONF_BIN, "-c", SYSTEM_POSTFIX_DIR, "-h",
                         "alternate_config_directories", NULL};
    char cur[4096], next[4200], *setting = NULL, *tok, *save = NULL;
    int lock, rc = -1, present = 0;

    lock = open(LOCK_FILE, O_RDWR | O_CREAT, 0600);
    if (lock >= 0)
        flock(lock, LOCK_EX);
    /* Debian's "No configuration" install leaves no main.cf, and postfix
     * -c DIR reads that file to find DIR listed. */
    if (add && access(SYSTEM_POSTFIX_DIR "/main.cf", F_OK) < 0 &&
        write_file(SYSTEM_POSTFIX_DIR "/main.cf",
                   "# created by the libmailssl interop tests\n", 0644) < 0) {
        seterr(err, errlen, "cannot create %s/main.cf", SYSTEM_POSTFIX_DIR);
        goto out;
    }
    /* Only the value: a warning on stderr must never be written back. */
    if (run_capture2(get, 0, cur, sizeof cur) != 0) {
        seterr(err, errlen, "postconf -h alternate_config_directories failed");
        goto out;
    }
    next[0] = '\0';
    for (tok = strtok_r(cur, " ,\t\n", &save); tok;
         tok = strtok_r(NULL, " ,\t\n", &save)) {
        struct stat st;
        if (tok[0] != '/')
            continue; /* not a directory name: never kept */
        if (strcmp(tok, dir) == 0) {
            if (!add)
                continue;
            present = 1;
        } else if (strncmp(tok, "/tmp/mailssl-test-", 18) == 0 &&
                   stat(tok, &st) < 0) {
            continue; /* left over by a killed run */
        }
        if (strlen(next) + strlen(tok) + 2 >= sizeof next)
            break;
        if (next[0])
            strcat(next, " ");
        strcat(next, tok);
    }
    if (add && !present && strlen(next) + strlen(dir) + 2 < sizeof next) {
        if (next[0])
            strcat(next, " ");
        strcat(next, dir);
    }
    /* Nothing left: remove the parameter, as it was before the tests. */
    if (next[0] == '\0')
        setting = strdup("alternate_config_directories");
    else if (asprintf(&setting, "alternate_config_directories = %s", next) < 0)
        setting = NULL;
    if (!setting)
        goto out;
    {
        char *const set[] = {POSTCONF_BIN, "-c", SYSTEM_POSTFIX_DIR,
                             next[0] ? "-e" : "-X", setting, NULL};
        char out[1024];
        if (run_capture(set, out, sizeof out) != 0) {
            seterr(err, errlen, "postconf %s failed: %s", set[3], out);
            goto out;
        }
    }
    rc = 0;
out:
    free(setting);
    if (lock >= 0)
        close(lock); /* releases the lock */
    return rc;
}

static char *postfix_main_cf(const struct ms_postfix *p,
                             const struct ms_certs *c)
{
    char *s = NULL;
    int n = asprintf(
        &s,
        "# private Postfix for the libmailssl interop tests\n"
        "compatibility_level = 3.6\n"
        "queue_directory = %1$s/queue\n"
        "data_directory = %1$s/data\n"
        "maillog_file_prefixes = %2$s\n"
        "maillog_file = %3$s\n"
        "notify_classes =\n"
        "default_transport = error:interop tests deliver nothing\n"
        "mail_owner = postfix\n"
        "setgid_group = postdrop\n"
        "myhostname = " MS_NAME_MAIN "\n"
        "mydomain = example.test\n"
        "myorigin = $myhostname\n"
        "mydestination =\n"
        "relayhost =\n"
        "inet_interfaces = 127.0.0.1\n"
        "inet_protocols = ipv4\n"
        "mynetworks = 127.0.0.0/8\n"
        "smtpd_banner = $myhostname ESMTP mailssl-interop\n"
        "smtpd_tls_cert_file = %4$s\n"
        "smtpd_tls_key_file = %5$s\n"
        "smtpd_tls_security_level = may\n"
        "smtpd_tls_loglevel = 1\n"
        "smtpd_tls_mandatory_protocols = >=TLSv1.2\n"
        "smtpd_tls_protocols = >=TLSv1.2\n"
        "smtp_tls_security_level = none\n"
        "biff = no\n"
        "append_dot_mydomain = no\n"
        "alias_maps =\n"
        "alias_database =\n"
        "local_recipient_maps =\n",
        p->dir, p->dir, p->log, c->main_cert, c->main_key);
    return n < 0 ? NULL : s;
}

/* master.cf: the smtpd services given, then Postfix's own daemons. */
static char *postfix_master_with(const char *services)
{
    char *s = NULL;
    int n = asprintf(
        &s,
        "# service type private unpriv chroot wakeup maxproc command\n"
        "%s"
        "pickup unix n - n 60 1 pickup\n"
        "cleanup unix n - n - 0 cleanup\n"
        "qmgr unix n - n 300 1 qmgr\n"
        "tlsmgr unix - - n 1000? 1 tlsmgr\n"
        "rewrite unix - - n - - trivial-rewrite\n"
        "bounce unix - - n - 0 bounce\n"
        "defer unix - - n - 0 bounce\n"
        "trace unix - - n - 0 bounce\n"
        "verify unix - - n - 1 verify\n"
        "flush unix n - n 1000? 0 flush\n"
        "proxymap unix - - n - - proxymap\n"
        "proxywrite unix - - n - 1 proxymap\n"
        "smtp unix - - n - - smtp\n"
        "relay unix - - n - - smtp\n"
        "showq unix n - n - - showq\n"
        "error unix - - n - - error\n"
        "retry unix - - n - - error\n"
        "discard unix - - n - - discard\n"
        "local unix - n n - - local\n"
        "virtual unix - n n - - virtual\n"
        "lmtp unix - - n - - lmtp\n"
        "anvil unix - - n - 1 anvil\n"
        "scache unix - - n - 1 scache\n"
        "postlog unix-dgram n - n - 1 postlogd\n",
        services);
    return n < 0 ? NULL : s;
}

static char *postfix_master_cf(const struct ms_postfix *p,
                               const struct ms_certs *c)
{
    char *services = NULL, *s;
    if (asprintf(&services,
                 "127.0.0.1:%1$d inet n - n - - smtpd\n"
                 "  -o smtpd_tls_security_level=may\n"
                 "127.0.0.1:%2$d inet n - n - - smtpd\n"
                 "  -o smtpd_tls_wrappermode=yes\n"
                 "  -o smtpd_tls_security_level=encrypt\n"
                 "127.0.0.1:%3$d inet n - n - - smtpd\n"
                 "  -o smtpd_tls_security_level=may\n"
                 "  -o smtpd_tls_key_file=%5$s\n"
                 "127.0.0.1:%4$d inet n - n - - smtpd\n"
                 "  -o smtpd_tls_wrappermode=yes\n"
                 "  -o smtpd_tls_security_level=encrypt\n"
                 "  -o smtpd_tls_key_file=%5$s\n",
                 p->port[MS_SMTP], p->port[MS_SMTPS],
                 p->port[MS_SMTP_BADKEY], p->port[MS_SMTPS_BADKEY],
                 c->stray_key) < 0)
        return NULL;
    s = postfix_master_with(services);
    free(services);
    return s;
}

static void postfix_free(struct ms_postfix *p)
{
    if (p->dir) {
        if (p->conf)
            system_alternate_dirs(p->conf, 0, NULL, 0);
        certgen_rmdir(p->dir);
        track_dir(p->dir, 0);
    }
    free(p->dir);
    free(p->log);
    free(p->conf);
    p->dir = p->log = p->conf = NULL;
}

void ms_postfix_stop(struct ms_postfix *p)
{
    if (p->started && p->dir) {
        postfix_stop_dir(p->dir);
        track_postfix(p->dir, 0);
        p->started = 0;
    }
    postfix_free(p);
}

/* Runs "postfix -c DIR CMD" on a pseudo-terminal (script -qc) so that its
 * fatal errors are printed rather than sent only to syslog. */
static int postfix_cmd(const struct ms_postfix *p, const char *cmd, char *out,
                       size_t outlen)
{
    char *line = NULL;
    int rc;
    if (asprintf(&line, POSTFIX_BIN " -c '%s' %s", p->conf, cmd) < 0)
        return -1;
    {
        char *const argv[] = {"/usr/bin/script", "-qec", line, "/dev/null",
                              NULL};
        if (access("/usr/bin/script", X_OK) == 0) {
            rc = run_capture(argv, out, outlen);
        } else {
            char *const plain[] = {POSTFIX_BIN, "-c", p->conf, (char *)cmd,
                                   NULL};
            rc = run_capture(plain, out, outlen);
        }
    }
    free(line);
    return rc;
}

/* Writes main.cf and master.cf, starts Postfix and waits until every
 * endpoint accepts: 0, 1 a port was taken (retry elsewhere), -1 failed. */
static int postfix_launch(struct ms_postfix *p, const char *main_cf,
                          const char *master_cf,
                          const struct ms_endpoint *eps, size_t neps,
                          char *err, size_t errlen)
{
    char *f_main = path_join(p->conf, "main.cf");
    char *f_master = path_join(p->conf, "master.cf");
    char out[2048];
    int64_t deadline;
    int rc = -1;

    if (!main_cf || !master_cf || !f_main || !f_master ||
        write_file(f_main, main_cf, 0644) < 0 ||
        write_file(f_master, master_cf, 0644) < 0) {
        seterr(err, errlen, "cannot write the Postfix configuration");
        goto out;
    }
    truncate(p->log, 0);
    if (postfix_cmd(p, "start", out, sizeof out) != 0) {
        char tail[1024];
        log_tail(p->log, tail, sizeof tail);
        seterr(err, errlen, "postfix start failed: %s%s", out, tail);
        postfix_stop_dir(p->dir);
        rc = strstr(out, "in use") || strstr(tail, "in use") ? 1 : -1;
        goto out;
    }
    p->started = 1;
    track_postfix(p->dir, 1);
    deadline = monotonic_ms() + 15000;
    for (;;) {
        size_t up = 0;
        for (size_t i = 0; i < neps; i++)
            up += port_accepts(eps[i].addr, eps[i].port);
        if (up == neps) {
            rc = 0;
            break;
        }
        if (monotonic_ms() > deadline) {
            char tail[1024];
            log_tail(p->log, tail, sizeof tail);
            seterr(err, errlen, "postfix did not start listening: %s", tail);
            postfix_stop_dir(p->dir);
            track_postfix(p->dir, 0);
            p->started = 0;
            rc = strstr(tail, "in use") ? 1 : -1;
            break;
        }
        sleep_ms(50);
    }
out:
    free(f_main);
    free(f_master);
    return rc;
}

static int postfix_try(struct ms_postfix *p, const struct ms_certs *c,
                       char *err, size_t errlen)
{
    char *main_cf = postfix_main_cf(p, c), *master_cf = postfix_master_cf(p, c);
    struct ms_endpoint eps[MS_POSTFIX_NPORTS];
    int rc;

    for (int i = 0; i < MS_POSTFIX_NPORTS; i++) {
        eps[i].addr = "127.0.0.1";
        eps[i].port = p->port[i];
    }
    rc = postfix_launch(p, main_cf, master_cf, eps, MS_POSTFIX_NPORTS, err,
                        errlen);
    free(main_cf);
    free(master_cf);
    return rc;
}

/* The private root of a new Postfix, listed in the system main.cf's
 * alternate_config_directories; 0 or -1 (then tidied). */
static int postfix_prepare(struct ms_postfix *p, char *err, size_t errlen)
{
    struct passwd *pw;
    char *data = NULL, *queue = NULL;
    int rc = -1;

    install_cleanup();
    if (!ms_have_postfix()) {
        seterr(err, errlen, "postfix is not installed");
        return -1;
    }
    p->dir = certgen_tmpdir();
    if (!p->dir) {
        seterr(err, errlen, "cannot make a temporary directory");
        return -1;
    }
    track_dir(p->dir, 1);
    chmod(p->dir, 0755);
    p->log = path_join(p->dir, "maillog");
    data = path_join(p->dir, "data");
    queue = path_join(p->dir, "queue");
    p->conf = path_join(p->dir, "etc");
    pw = getpwnam("postfix");
    if (!p->log || !data || !queue || !p->conf || !pw ||
        mkdir(p->conf, 0755) < 0 || mkdir(data, 0700) < 0 ||
        chown(data, pw->pw_uid, pw->pw_gid) < 0 || mkdir(queue, 0755) < 0) {
        seterr(err, errlen, "cannot prepare %s", p->dir);
        goto out;
    }
    if (system_alternate_dirs(p->conf, 1, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    free(data);
    free(queue);
    if (rc != 0)
        postfix_free(p);
    return rc;
}

int ms_postfix_start(struct ms_postfix *p, const struct ms_certs *c,
                     char *err, size_t errlen)
{
    int rc = -1;

    memset(p, 0, sizeof *p);
    if (postfix_prepare(p, err, errlen) < 0)
        return -1;
    for (unsigned attempt = 0; attempt < 5; attempt++) {
        if (pick_ports(p->port, MS_POSTFIX_NPORTS, attempt) < 0) {
            seterr(err, errlen, "no free ports above 10000");
            rc = -1;
            break;
        }
        rc = postfix_try(p, c, err, errlen);
        if (rc != 1)
            break;
    }
    if (rc != 0) {
        postfix_free(p);
        return -1;
    }
    return 0;
}

/* Replaces every "@SNI_MAP@" of text with path (a new string). */
static char *with_map_path(const char *text, const char *path)
{
    struct { char *p; size_t n; } o = {NULL, 0};
    FILE *f = open_memstream(&o.p, &o.n);
    const char *at;

    if (!f)
        return NULL;
    while ((at = strstr(text, "@SNI_MAP@"))) {
        fwrite(text, 1, (size_t)(at - text), f);
        fputs(path, f);
        text = at + strlen("@SNI_MAP@");
    }
    fputs(text, f);
    if (fclose(f) != 0) {
        free(o.p);
        return NULL;
    }
    return o.p;
}

int ms_postfix_start_with(struct ms_postfix *p, const struct ms_certs *c,
                          const char *main_extra, const char *sni_map,
                          const char *services,
                          const struct ms_endpoint *eps, size_t neps,
                          char *err, size_t errlen)
{
    char *base = NULL, *main_cf = NULL, *master_cf = NULL, *extra = NULL;
    char *map = NULL;
    int rc = -1;

    memset(p, 0, sizeof *p);
    if (postfix_prepare(p, err, errlen) < 0)
        return -1;
    map = path_join(p->conf, "mailssl_sni");
    base = postfix_main_cf(p, c);
    extra = map ? with_map_path(main_extra ? main_extra : "", map) : NULL;
    if (!base || !extra || asprintf(&main_cf, "%s%s", base, extra) < 0) {
        main_cf = NULL;
        seterr(err, errlen, "out of memory");
        goto out;
    }
    if (sni_map) {
        char *hashed = NULL, out[1024];
        if (write_file(map, sni_map, 0644) < 0 ||
            asprintf(&hashed, "hash:%s", map) < 0) {
            seterr(err, errlen, "cannot write %s", map);
            goto out;
        }
        {
            char *const argv[] = {"/usr/sbin/postmap", "-F", hashed, NULL};
            int st = run_capture(argv, out, sizeof out);
            free(hashed);
            if (st != 0) {
                seterr(err, errlen, "postmap -F %s failed: %s", map, out);
                goto out;
            }
        }
    }
    master_cf = postfix_master_with(services);
    rc = postfix_launch(p, main_cf, master_cf, eps, neps, err, errlen);
out:
    free(base);
    free(extra);
    free(main_cf);
    free(master_cf);
    free(map);
    if (rc != 0) {
        postfix_free(p);
        return -1;
    }
    return 0;
}

/* ---- Exim (fetched, not installed: .ci/run, MAILSSL_EXIM) ---------------- */

const char *ms_exim_binary(void)
{
    const char *bin = getenv("MAILSSL_EXIM");
    return bin && bin[0] && access(bin, X_OK) == 0 ? bin : NULL;
}

int ms_have_exim(void)
{
    return ms_exim_binary() && getpwnam("Debian-exim") != NULL;
}

int ms_exim_start(struct ms_exim *e, const char *conf_body,
                  const struct ms_endpoint *eps, size_t neps, char *err,
                  size_t errlen)
{
    struct passwd *pw = getpwnam("Debian-exim");
    const char *bin = ms_exim_binary();
    char *conf = NULL, *spool = NULL, *logdir = NULL;
    int64_t deadline;
    int rc = -1;

    memset(e, 0, sizeof *e);
    install_cleanup();
    if (!bin || !pw) {
        seterr(err, errlen, "exim is not available (MAILSSL_EXIM=%s, user "
               "Debian-exim %s)", getenv("MAILSSL_EXIM") ?
               getenv("MAILSSL_EXIM") : "unset", pw ? "present" : "missing");
        return -1;
    }
    e->dir = certgen_tmpdir();
    if (!e->dir) {
        seterr(err, errlen, "cannot make a temporary directory");
        return -1;
    }
    track_dir(e->dir, 1);
    chmod(e->dir, 0755);
    e->config = path_join(e->dir, "exim.conf");
    e->log = path_join(e->dir, "mainlog");
    e->pidfile = path_join(e->dir, "exim.pid");
    spool = path_join(e->dir, "spool");
    logdir = path_join(e->dir, "%slog");
    if (!e->config || !e->log || !e->pidfile || !spool || !logdir ||
        mkdir(spool, 0750) < 0 || chown(spool, pw->pw_uid, pw->pw_gid) < 0 ||
        chown(e->dir, pw->pw_uid, pw->pw_gid) < 0 ||
        asprintf(&conf,
                 "# private Exim for the libmailssl interop tests\n"
                 "primary_hostname = " MS_NAME_MAIN "\n"
                 "spool_directory = %s\n"
                 "log_file_path = %s\n"
                 "pid_file_path = %s\n"
                 "keep_environment =\n"
                 "acl_smtp_rcpt = refuse\n"
                 "%s\n"
                 "begin acl\nrefuse:\n  deny\n"
                 "begin routers\nbegin transports\n",
                 spool, logdir, e->pidfile, conf_body) < 0) {
        conf = NULL;
        seterr(err, errlen, "cannot prepare %s", e->dir);
        goto out;
    }
    if (write_file(e->config, conf, 0644) < 0) {
        seterr(err, errlen, "cannot write %s", e->config);
        goto out;
    }
    /* the unpacked package's own libraries (libidn12 is not installed
     * with the package either) */
    if (getenv("MAILSSL_EXIM_LIBS"))
        setenv("LD_LIBRARY_PATH", getenv("MAILSSL_EXIM_LIBS"), 1);
    {
        /* "-bd" forks the daemon and returns; -C is a private config,
         * allowed for root */
        char *const argv[] = {(char *)bin, "-C", e->config, "-bd", "-oP",
                              e->pidfile, NULL};
        char out[1024];
        if (run_capture(argv, out, sizeof out) != 0) {
            seterr(err, errlen, "exim -bd failed: %s", out);
            goto out;
        }
    }
    deadline = monotonic_ms() + 15000;
    for (;;) {
        size_t up = 0;
        FILE *f;
        if (!e->pid && (f = fopen(e->pidfile, "r"))) {
            long pid = 0;
            if (fscanf(f, "%ld", &pid) == 1 && pid > 0)
                e->pid = (pid_t)pid;
            fclose(f);
        }
        for (size_t i = 0; i < neps; i++)
            up += port_accepts(eps[i].addr, eps[i].port);
        if (up == neps && e->pid) {
            rc = 0;
            break;
        }
        if (monotonic_ms() > deadline) {
            char tail[1024];
            log_tail(e->log, tail, sizeof tail);
            seterr(err, errlen, "exim did not start listening: %s", tail);
            break;
        }
        sleep_ms(50);
    }
out:
    free(conf);
    free(spool);
    free(logdir);
    if (rc != 0)
        ms_exim_stop(e);
    return rc;
}

void ms_exim_stop(struct ms_exim *e)
{
    if (e->pid > 0) {
        int64_t deadline = monotonic_ms() + 5000;
        kill(e->pid, SIGTERM);
        while (kill(e->pid, 0) == 0 && monotonic_ms() < deadline)
            sleep_ms(20);
        if (kill(e->pid, 0) == 0)
            kill(e->pid, SIGKILL);
        e->pid = 0;
    }
    if (e->dir) {
        certgen_rmdir(e->dir);
        track_dir(e->dir, 0);
    }
    free(e->dir);
    free(e->config);
    free(e->log);
    free(e->pidfile);
    memset(e, 0, sizeof *e);
}
