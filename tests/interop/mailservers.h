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
