/*
 * mailservers.h - interop test harness: real Dovecot and Postfix started
 * from private configurations in a temporary directory, on loopback
 * (127.0.0.1 and 127.0.0.2), ports above 10000, with certificates made at
 * run time (tests/certgen.h). Test code only; runs as root.
 *
 * Every server started is stopped by ms_*_stop(), and by an atexit()
 * handler / fatal-signal handler in the process that started it, so a
 * failing test never leaves a daemon behind.
 */
#ifndef MAILSSL_TEST_MAILSERVERS_H
#define MAILSSL_TEST_MAILSERVERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Host names of the certificates (all under the one test CA). */
#define MS_NAME_MAIN "mail.example.test"     /* default certificate */
#define MS_NAME_ADDR2 "mail2.example.test"   /* Dovecot: local 127.0.0.2 */
#define MS_NAME_OTHER "other.example.test"   /* Dovecot: local_name */
#define MS_NAME_EXPIRED "expired.example.test" /* local_name, expired cert */
#define MS_NAME_WRONG "wrong.example.test"   /* no certificate has it */

/* A loopback address and port a server must accept on. */
struct ms_endpoint {
    const char *addr;
    int port;
};

/* Certificates of a run, written in dir. */
struct ms_certs {
    char *dir;
    char *ca;                        /* CA certificate (the probe's cafile) */
    char *main_cert, *main_key;      /* mail.example.test */
    char *addr2_cert, *addr2_key;    /* mail2.example.test */
    char *other_cert, *other_key;    /* other.example.test */
    char *expired_cert, *expired_key;/* expired.example.test, 2020-2021 */
    char *stray_key;                 /* a key that matches no certificate */
    int64_t expired_not_after;       /* explicit past date */
};

/* Makes the CA and leaf certificates in dir. Returns 0 or -1 (message in
 * err). */
int ms_certs_make(struct ms_certs *c, const char *dir, char *err,
                  size_t errlen);
void ms_certs_free(struct ms_certs *c);

/* Dovecot ports (index into ms_dovecot.port). */
enum {
    MS_IMAP, MS_IMAPS, MS_POP3, MS_POP3S, MS_SIEVE, MS_LMTP, MS_DOVECOT_NPORTS
};

struct ms_dovecot {
    char *dir;           /* private directory (config, base_dir, logs) */
    char *config;        /* dovecot.conf */
    char *log;           /* log_path */
    pid_t pid;           /* dovecot -F master (own process group) */
    int ssl;             /* 0: "ssl = no", only imap */
    int port[MS_DOVECOT_NPORTS]; /* 0 when not configured */
};

/* Starts Dovecot. ssl = 1: every protocol with STARTTLS and implicit TLS,
 * the default certificate, "local 127.0.0.2" and "local_name" certificates;
 * ssl = 0: imap only, "ssl = no". Listens on 127.0.0.1 and 127.0.0.2.
 * Returns 0 once every port accepts, or -1 (message in err, the server
 * stopped). */
int ms_dovecot_start(struct ms_dovecot *d, const struct ms_certs *c, int ssl,
                     char *err, size_t errlen);
void ms_dovecot_stop(struct ms_dovecot *d);

/* Postfix ports (index into ms_postfix.port). */
enum {
    MS_SMTP,         /* STARTTLS (smtpd_tls_security_level=may) */
    MS_SMTPS,        /* wrapper mode */
    MS_SMTP_BADKEY,  /* STARTTLS, key does not match the certificate */
    MS_SMTPS_BADKEY, /* wrapper mode, same mismatched key */
    MS_POSTFIX_NPORTS
};

struct ms_postfix {
    char *dir;        /* private root: queue/, data/, maillog */
    char *conf;       /* dir/etc: config_directory, listed in the system
                         main.cf's alternate_config_directories */
    char *log;        /* maillog_file */
    int started;
    int port[MS_POSTFIX_NPORTS];
};

/* Starts Postfix (127.0.0.1 only). Adds dir to alternate_config_directories
 * of the system main.cf (removed again by ms_postfix_stop). Returns 0 once
 * every port accepts, or -1 (message in err, the server stopped). */
int ms_postfix_start(struct ms_postfix *p, const struct ms_certs *c,
                     char *err, size_t errlen);
void ms_postfix_stop(struct ms_postfix *p);

/* ---- custom configurations (live audit, issue 12) ---------------------- */

/* n consecutive ports above 10000, free on 127.0.0.1 and 127.0.0.2 now. */
int ms_pick_ports(int *ports, int n);

/* Starts Dovecot with the harness's base settings (directories, log,
 * users, static auth) followed by tls_conf (protocols, ssl, local and
 * local_name blocks, service blocks with inet_listeners: the caller's,
 * e.g. mailssl-check --export dovecot). Returns 0 once every endpoint
 * accepts, or -1 (message in err). Stop with ms_dovecot_stop(). */
int ms_dovecot_start_with(struct ms_dovecot *d, const char *tls_conf,
                          const struct ms_endpoint *eps, size_t neps,
                          char *err, size_t errlen);

/* Starts Postfix with the harness's main.cf followed by main_extra (in
 * which "@SNI_MAP@" is replaced by the path of the SNI map written from
 * sni_map and compiled with postmap -F; sni_map NULL: none), and a
 * master.cf of the smtpd lines services plus Postfix's own daemons.
 * Returns 0 once every endpoint accepts, or -1. Stop with
 * ms_postfix_stop(). */
int ms_postfix_start_with(struct ms_postfix *p, const struct ms_certs *c,
                          const char *main_extra, const char *sni_map,
                          const char *services,
                          const struct ms_endpoint *eps, size_t neps,
                          char *err, size_t errlen);

/* Exim: Debian's exim4-daemon-light is not installed (it conflicts with
 * postfix); .ci/run unpacks it and names the binary in MAILSSL_EXIM and
 * the directory of the libraries unpacked with it in MAILSSL_EXIM_LIBS.
 * It needs the user Debian-exim, and its certificate files readable by
 * it. */
struct ms_exim {
    char *dir, *config, *log, *pidfile;
    pid_t pid;
};
const char *ms_exim_binary(void); /* NULL when MAILSSL_EXIM is unusable */
int ms_have_exim(void);
/* Starts "exim -C CONF -bd" with private spool, log and pid file and
 * conf_body (daemon_smtp_ports, local_interfaces, tls_* settings) as the
 * main options. Returns 0 once every endpoint accepts, or -1. */
int ms_exim_start(struct ms_exim *e, const char *conf_body,
                  const struct ms_endpoint *eps, size_t neps, char *err,
                  size_t errlen);
void ms_exim_stop(struct ms_exim *e);

/* Registers dir for removal at exit (or on a fatal signal) of this
 * process, with the servers' own directories. */
void ms_remove_at_exit(const char *dir);

/* Whether the server binaries are installed (1) or not (0). */
int ms_have_dovecot(void);
int ms_have_postfix(void);

/* The size of a log file now (to read only what a test caused later). */
long ms_log_size(const char *path);
/* Writes the lines of path from offset on to stderr, each prefixed with
 * label, as the server's own account of a failed dialogue; before them the
 * warnings and errors logged earlier (marked "(earlier)"). */
void ms_log_dump(const char *label, const char *path, long offset);

#endif
