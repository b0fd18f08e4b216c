/*
 * mailssl-serve - a small mail listener that picks each connection's
 * certificate through a libmailssl binding store (SPEC.md section 6).
 *
 * This is the reference for how a mail server embeds the store:
 *  - one mailssl_store, loaded from CONFIG with mailssl_store_load_file();
 *  - every accepted socket gets a GnuTLS server session attached to the
 *    store with mailssl_gnutls_attach() and the service of its listen
 *    line; the store chooses the certificate after the ClientHello, from
 *    the socket's local address and port and the SNI name;
 *  - when nothing is bound, the handshake is dropped without an alert, as
 *    a real server without a valid certificate does (Exchange event 13002),
 *    and the log line says what was looked up and what binding would fix it;
 *  - SIGHUP reloads CONFIG with mailssl_store_load_file() on the live
 *    store: all or nothing, a bad config is logged with FILE:LINE:COLUMN
 *    and the previous bindings stay; handshakes in flight are unaffected.
 *
 * One thread, one poll() loop, non-blocking sockets and sessions, a state
 * machine per connection (plaintext dialogue, STARTTLS, handshake, dialogue
 * over TLS, QUIT/LOGOUT) and an idle deadline per connection: no client can
 * hold up another.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "mailssl-gnutls.h"
#include "mailssl.h"
#include "serve_dialogue.h"

#define PROG "mailssl-serve"
#define EXIT_RUNTIME 1 /* could not start: a socket cannot be opened */
#define EXIT_USAGE 3   /* bad command line or config, as mailssl-check */

#define MAX_CONNS 1000            /* more wait in the listen backlog */
#define DEFAULT_IDLE_MS 60000     /* idle deadline of a connection */
#define MAX_LINES_PER_TURN 32     /* then other connections get a turn */
#define ACCEPT_PAUSE_MS 200       /* after accept() ran out of resources */
#define IN_MAX (SD_LINE_MAX + 2)  /* a line and its CRLF */
#define OUT_MAX (4 * SD_OUT_MAX)

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr, prefixed with the program name. */
static void logmsg(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    fprintf(stderr, "%s: %s\n", PROG, line);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "127.0.0.1:1234" or "[::1]:1234". */
static void sockaddr_text(const struct sockaddr_storage *sa, char *buf,
                          size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        port = ntohs(s4->sin_port);
        snprintf(buf, len, "%s:%d", host, port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        port = ntohs(s6->sin6_port);
        snprintf(buf, len, "[%s]:%d", host, port);
    } else {
        snprintf(buf, len, "?");
    }
}

/* ------------------------------------------------------------------ */
/* Listen lines                                                        */
/* ------------------------------------------------------------------ */

/* A listen line of the config, as the store hands it out
 * (mailssl_store_listener_get): copied, so a reload does not touch it. */
struct listen_spec {
    int service;
    char address[MAILSSL_ADDRESS_MAX];
    int port;
};

struct listener {
    struct listen_spec spec;
    int fd;
};

/* Copies the listen lines of the store's current table into *out (*n of
 * them). Returns 0, or -1 when memory runs out. */
static int store_listen_lines(const mailssl_store *store,
                              struct listen_spec **out, size_t *n)
{
    size_t count = mailssl_store_listener_count(store), i;
    struct listen_spec *v = calloc(count ? count : 1, sizeof(*v));

    *out = NULL;
    *n = 0;
    if (!v)
        return -1;
    for (i = 0; i < count; i++)
        if (mailssl_store_listener_get(store, i, &v[*n].service,
                                       v[*n].address, sizeof(v[*n].address),
                                       &v[*n].port) == MAILSSL_OK)
            (*n)++;
    *out = v;
    return 0;
}

static int same_spec(const struct listen_spec *a, const struct listen_spec *b)
{
    return a->service == b->service && a->port == b->port &&
           strcmp(a->address, b->address) == 0;
}

/* Opens a non-blocking listening socket for spec; returns the fd or -1
 * with err set. */
static int open_listener(const struct listen_spec *spec, char *err,
                         size_t errlen)
{
    struct addrinfo hints, *ai = NULL;
    char port[16];
    int fd, rc, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", spec->port);
    rc = getaddrinfo(spec->address, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "%s", gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* "::" is every IPv6 address; "0.0.0.0" has its own line and socket
     * (an IPv4-mapped address, which the store reads as IPv4, needs the
     * dual stack) */
    if (ai->ai_family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(
            &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr))
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

#define C_DIALOGUE 0  /* plaintext or TLS dialogue */
#define C_HANDSHAKE 1 /* TLS handshake in progress */
#define C_DEAD 2      /* to be freed */

struct conn {
    int fd;
    int state;
    const struct listener *l; /* the listen line it came in on */
    gnutls_session_t tls;     /* NULL before TLS */
    int tls_up;               /* the session carries the dialogue */
    int after_flush;          /* SD_STARTTLS / SD_CLOSE once out is sent */
    int again;                /* has work without waiting for poll */
    short events;             /* what it waits for */
    int64_t deadline;         /* idle deadline (monotonic ms) */
    struct serve_dialogue d;
    char peer[INET6_ADDRSTRLEN + 8];
    char in[IN_MAX];
    size_t inlen;
    char out[OUT_MAX];
    size_t outlen, outoff;
};

struct server {
    const char *config;
    mailssl_store *store;
    struct listener *ls;
    size_t nls;
    struct conn **conns;
    size_t nconns;
    int idle_ms;
    int strict; /* --strict: mailssl_store_set_strict() */
    int verbose; /* --verbose: one line per TLS connection */
    int64_t accept_paused_until; /* out of descriptors: wait a little */
};

static void conn_free(struct conn *c)
{
    if (c->tls)
        gnutls_deinit(c->tls);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

static void queue(struct conn *c, const char *data, size_t n)
{
    if (c->outoff == c->outlen)
        c->outoff = c->outlen = 0;
    if (n > sizeof(c->out) - c->outlen) /* cannot happen: replies are small */
        n = sizeof(c->out) - c->outlen;
    memcpy(c->out + c->outlen, data, n);
    c->outlen += n;
}

/* Sends or receives through the session once TLS is up. Returns bytes,
 * 0 at EOF, -1 to wait (c->events set), -2 on error. */
static ssize_t conn_io(struct conn *c, int sending, void *buf, size_t n)
{
    ssize_t r;

    if (c->tls_up) {
        r = sending ? gnutls_record_send(c->tls, buf, n)
                    : gnutls_record_recv(c->tls, buf, n);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            c->events = sending ? POLLOUT : POLLIN;
            return -1;
        }
        if (r < 0 && !gnutls_error_is_fatal((int)r)) {
            c->again = 1; /* e.g. a warning alert: call again */
            return -1;
        }
        return r < 0 ? -2 : r;
    }
    r = sending ? send(c->fd, buf, n, MSG_NOSIGNAL) : recv(c->fd, buf, n, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->events = sending ? POLLOUT : POLLIN;
        return -1;
    }
    return r < 0 ? -2 : r;
}

/* Logs why a handshake failed. A miss is explained with the store's own
 * words: that is the line an operator needs (and the server-side half of
 * what the probe diagnoses as tls-closed-during-handshake). */
static void log_handshake_failure(struct server *srv, struct conn *c, int rc)
{
    struct sockaddr_storage local;
    socklen_t sl = sizeof(local);
    mailssl_credential *cred = NULL;
    char sni[256], why[512], at[INET6_ADDRSTRLEN + 8];
    size_t snilen = sizeof(sni) - 1;
    unsigned type;
    int has_sni, lrc = MAILSSL_ERR_INVALID;

    has_sni = gnutls_server_name_get(c->tls, sni, &snilen, &type, 0) == 0 &&
              type == GNUTLS_NAME_DNS;
    if (has_sni)
        sni[snilen < sizeof(sni) ? snilen : sizeof(sni) - 1] = '\0';
    why[0] = '\0';
    if (getsockname(c->fd, (struct sockaddr *)&local, &sl) == 0) {
        sockaddr_text(&local, at, sizeof(at));
        lrc = mailssl_store_lookup(srv->store, (struct sockaddr *)&local,
                                   c->l->spec.service, has_sni ? sni : NULL,
                                   &cred, why, sizeof(why));
        mailssl_credential_free(cred);
    } else {
        snprintf(at, sizeof(at), "?");
    }
    /* the certificate callback failing shows as one of these */
    if (lrc == MAILSSL_ERR_NOT_FOUND &&
        (rc == GNUTLS_E_NO_CIPHER_SUITES ||
         rc == GNUTLS_E_INSUFFICIENT_CREDENTIALS ||
         rc == GNUTLS_E_CERTIFICATE_ERROR ||
         rc == GNUTLS_E_UNRECOGNIZED_NAME))
        logmsg("%s %s: connection from %s dropped during the TLS "
               "handshake: %s",
               mailssl_service_name(c->l->spec.service), at, c->peer,
               why[0] ? why : "no certificate bound");
    else
        logmsg("%s %s: TLS handshake with %s failed: %s",
               mailssl_service_name(c->l->spec.service), at, c->peer,
               gnutls_strerror(rc));
}

/* --verbose: which certificate the store chose for a connection. */
static void log_handshake_done(struct conn *c)
{
    const gnutls_datum_t *ours = gnutls_certificate_get_ours(c->tls);
    gnutls_x509_crt_t crt;
    gnutls_datum_t dn = {NULL, 0};
    struct sockaddr_storage local;
    socklen_t sl = sizeof(local);
    char at[INET6_ADDRSTRLEN + 8] = "?", sni[256] = "";
    size_t snilen = sizeof(sni) - 1;
    unsigned type;

    if (getsockname(c->fd, (struct sockaddr *)&local, &sl) == 0)
        sockaddr_text(&local, at, sizeof(at));
    if (gnutls_server_name_get(c->tls, sni, &snilen, &type, 0) != 0 ||
        type != GNUTLS_NAME_DNS)
        snprintf(sni, sizeof(sni), "(none)");
    else
        sni[snilen < sizeof(sni) ? snilen : sizeof(sni) - 1] = '\0';
    if (ours && gnutls_x509_crt_init(&crt) == 0) {
        if (gnutls_x509_crt_import(crt, ours, GNUTLS_X509_FMT_DER) == 0)
            gnutls_x509_crt_get_dn3(crt, &dn, 0);
        gnutls_x509_crt_deinit(crt);
    }
    logmsg("%s %s: %s: %s, server name %s, certificate %s",
           mailssl_service_name(c->l->spec.service), at, c->peer,
           gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls)),
           sni, dn.data ? (const char *)dn.data : "?");
    gnutls_free(dn.data);
}

/* A fresh server session on c's socket, its certificate chosen by the
 * store. Returns 0 or -1 (logged). */
static int start_tls(struct server *srv, struct conn *c)
{
    int rc = gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK);

    if (rc < 0) {
        c->tls = NULL;
        logmsg("gnutls_init: %s", gnutls_strerror(rc));
        return -1;
    }
    rc = gnutls_set_default_priority(c->tls);
    if (rc < 0) {
        logmsg("gnutls_set_default_priority: %s", gnutls_strerror(rc));
        return -1;
    }
    rc = mailssl_gnutls_attach(c->tls, srv->store, c->fd, c->l->spec.service);
    if (rc < 0) {
        logmsg("mailssl_gnutls_attach: %s", mailssl_strerror(rc));
        return -1;
    }
    c->state = C_HANDSHAKE;
    return 0;
}

/* Drives c as far as it goes without waiting. */
static void conn_run(struct server *srv, struct conn *c)
{
    char reply[SD_OUT_MAX];
    size_t n;
    int turns = 0;
    ssize_t r;

    c->again = 0;
    for (;;) {
        if (c->state == C_HANDSHAKE) {
            int rc = gnutls_handshake(c->tls);
            if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
                c->events = gnutls_record_get_direction(c->tls) ? POLLOUT
                                                                 : POLLIN;
                return;
            }
            if (rc < 0 && !gnutls_error_is_fatal(rc)) {
                c->again = 1; /* e.g. a warning alert: go on */
                return;
            }
            if (rc < 0) {
                log_handshake_failure(srv, c, rc);
                /* No certificate: close without an alert, as a server
                 * without a valid certificate does. An unknown SNI name in
                 * strict mode is refused with unrecognized_name. */
                if (rc == GNUTLS_E_UNRECOGNIZED_NAME)
                    gnutls_alert_send_appropriate(c->tls, rc);
                c->state = C_DEAD;
                return;
            }
            c->state = C_DIALOGUE;
            c->tls_up = 1;
            if (srv->verbose)
                log_handshake_done(c);
            c->deadline = now_ms() + srv->idle_ms;
            n = sd_tls_started(&c->d, reply, sizeof(reply));
            queue(c, reply, n);
        }
        /* 1. send what is queued */
        while (c->outoff < c->outlen) {
            r = conn_io(c, 1, c->out + c->outoff, c->outlen - c->outoff);
            if (r == -1)
                return;
            if (r < 0) {
                c->state = C_DEAD;
                return;
            }
            c->outoff += (size_t)r;
        }
        if (c->after_flush == SD_CLOSE) {
            if (c->tls_up)
                gnutls_bye(c->tls, GNUTLS_SHUT_WR); /* one try, no wait */
            c->state = C_DEAD;
            return;
        }
        if (c->after_flush == SD_STARTTLS) {
            c->after_flush = SD_CONTINUE;
            c->inlen = 0; /* nothing sent before TLS counts */
            if (start_tls(srv, c) < 0) {
                c->state = C_DEAD;
                return;
            }
            continue;
        }
        /* 2. answer one complete line, if there is one */
        {
            char *nl = memchr(c->in, '\n', c->inlen);
            if (nl) {
                size_t len = (size_t)(nl - c->in), used = len + 1;
                int act;
                if (len && c->in[len - 1] == '\r')
                    len--;
                act = sd_line(&c->d, c->in, len, reply, sizeof(reply), &n);
                memmove(c->in, c->in + used, c->inlen - used);
                c->inlen -= used;
                queue(c, reply, n);
                if (act != SD_CONTINUE) {
                    c->after_flush = act;
                    c->inlen = 0;
                }
                if (++turns >= MAX_LINES_PER_TURN) {
                    c->again = 1; /* let the others have a turn first */
                    return;
                }
                continue;
            }
            if (c->inlen == sizeof(c->in)) {
                c->after_flush = sd_line_too_long(&c->d, reply,
                                                  sizeof(reply), &n);
                queue(c, reply, n);
                c->inlen = 0;
                continue;
            }
        }
        /* 3. read more */
        r = conn_io(c, 0, c->in + c->inlen, sizeof(c->in) - c->inlen);
        if (r == -1)
            return;
        if (r <= 0) {
            c->state = C_DEAD; /* EOF or error: the client went */
            return;
        }
        c->inlen += (size_t)r;
        c->deadline = now_ms() + srv->idle_ms;
    }
}

/* The idle deadline passed: say goodbye if a dialogue is running (one
 * non-blocking try), then close. */
static void conn_expire(struct conn *c)
{
    char reply[SD_OUT_MAX];
    size_t n = 0;

    if (c->state == C_DIALOGUE &&
        (c->tls_up || mailssl_service_implicit_tls(c->d.service) != 1)) {
        sd_timeout(&c->d, reply, sizeof(reply), &n);
        if (c->outoff == c->outlen) {
            c->outoff = c->outlen = 0;
            queue(c, reply, n);
            conn_io(c, 1, c->out, c->outlen);
        }
    }
    c->state = C_DEAD;
}

static void accept_all(struct server *srv, struct listener *l)
{
    while (srv->nconns < MAX_CONNS) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        struct conn *c;
        char greeting[SD_OUT_MAX];
        size_t n;
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &pl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* the connection waits in the backlog; polling the
                 * listener meanwhile would only spin */
                if (srv->accept_paused_until == 0)
                    logmsg("accept: %s: pausing new connections",
                           strerror(errno));
                srv->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK &&
                       errno != EINTR && errno != ECONNABORTED) {
                logmsg("accept: %s", strerror(errno));
            }
            return;
        }
        srv->accept_paused_until = 0;
        c = calloc(1, sizeof(*c));
        if (!c) {
            logmsg("out of memory: connection refused");
            close(fd);
            return;
        }
        c->fd = fd;
        c->l = l;
        c->deadline = now_ms() + srv->idle_ms;
        sockaddr_text(&peer, c->peer, sizeof(c->peer));
        n = sd_begin(&c->d, l->spec.service, greeting, sizeof(greeting));
        queue(c, greeting, n);
        c->state = C_DIALOGUE;
        if (mailssl_service_implicit_tls(l->spec.service) == 1 &&
            start_tls(srv, c) < 0) {
            conn_free(c);
            continue;
        }
        c->again = 1;
        srv->conns[srv->nconns++] = c;
    }
}

/* ------------------------------------------------------------------ */
/* Signals: a self-pipe carries them into the loop                     */
/* ------------------------------------------------------------------ */

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    char ch = sig == SIGHUP ? 'H' : 'T';
    ssize_t ignored = write(sig_pipe[1], &ch, 1);
    (void)ignored;
    errno = saved;
}

static int setup_signals(void)
{
    struct sigaction sa;

    if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Config: load, audit the listeners, reload                           */
/* ------------------------------------------------------------------ */

/* Logs the listeners that resolve to nothing: clients of those will see
 * their connection dropped during the handshake. The other findings of the
 * audit are mailssl-check's business. */
static void warn_unbound(struct server *srv)
{
    mailssl_report *r = mailssl_report_new();
    size_t i;

    if (!r)
        return;
    if (mailssl_store_audit(srv->store, NULL, r) >= 0)
        for (i = 0; i < mailssl_report_count(r); i++)
            if (mailssl_report_code(r, i) == MAILSSL_CODE_NO_BINDING)
                logmsg("warning: listener %s: no binding: %s",
                       mailssl_report_context(r, i),
                       mailssl_report_message(r, i));
    mailssl_report_free(r);
}

static void reload(struct server *srv)
{
    struct listen_spec *specs = NULL;
    size_t n = 0, i, k;
    int rc = mailssl_store_load_file(srv->store, srv->config);

    if (rc < 0) {
        logmsg("reload failed, the previous bindings stay in force: %s",
               mailssl_store_error(srv->store));
        return;
    }
    logmsg("reloaded %s: %zu bindings, %zu listeners", srv->config,
           mailssl_store_count(srv->store),
           mailssl_store_listener_count(srv->store));
    /* Sockets are opened at start only (they may need privileges dropped
     * since): say which listen lines changed. */
    if (store_listen_lines(srv->store, &specs, &n) == 0) {
        for (i = 0; i < n; i++) {
            for (k = 0; k < srv->nls && !same_spec(&specs[i], &srv->ls[k].spec);
                 k++)
                ;
            if (k == srv->nls)
                logmsg("listen %s %s %d is new: restart %s to open it",
                       mailssl_service_name(specs[i].service),
                       specs[i].address, specs[i].port, PROG);
        }
        for (k = 0; k < srv->nls; k++) {
            for (i = 0; i < n && !same_spec(&specs[i], &srv->ls[k].spec); i++)
                ;
            if (i == n)
                logmsg("listen %s %s %d was removed: it stays open until "
                       "%s restarts",
                       mailssl_service_name(srv->ls[k].spec.service),
                       srv->ls[k].spec.address, srv->ls[k].spec.port, PROG);
        }
        free(specs);
    }
    warn_unbound(srv);
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [--idle-timeout SECONDS] [--strict] [--verbose] "
            "CONFIG\n"
            "\n"
            "Listens on every 'listen' line of CONFIG (the binding store "
            "format of\nlibmailssl) and speaks just enough of each mail "
            "service for a client to\nsee the greeting, the capabilities, "
            "STARTTLS/STLS and the capabilities\nagain over TLS, then "
            "QUIT/LOGOUT. Each connection's certificate is\nchosen by the "
            "binding store from the local address, port, service and\n"
            "the SNI name; with no binding the handshake is dropped, as a "
            "real server\nwithout a certificate does, and the reason is "
            "logged.\n"
            "\n"
            "  --idle-timeout SECONDS  close a connection idle that long "
            "(default 60)\n"
            "  --strict                refuse a server name (SNI) that no "
            "binding names\n"
            "                          with an unrecognized_name alert\n"
            "  --verbose               log every TLS connection and its "
            "certificate\n"
            "  --help                  this text\n"
            "  --version               the program and library versions\n"
            "\n"
            "Signals: SIGHUP reloads CONFIG atomically (a bad config is "
            "logged with\nFILE:LINE:COLUMN and the previous bindings stay; "
            "new listen lines need a\nrestart); SIGTERM or SIGINT stops.\n"
            "Once every socket is open, one line 'mailssl-serve: listening "
            "on ...'\ngoes to standard output; logs go to standard error.\n"
            "Exit status: 0 after SIGTERM/SIGINT, 1 when a socket cannot be "
            "opened,\n3 for a bad command line or config.\n"
            "See mailssl-serve(1).\n",
            PROG);
}

static int run_loop(struct server *srv)
{
    struct pollfd *pfd = calloc(1 + srv->nls + MAX_CONNS, sizeof(*pfd));
    size_t i;

    if (!pfd) {
        logmsg("out of memory");
        return EXIT_RUNTIME;
    }
    for (;;) {
        size_t np = 0, k;
        int64_t now = now_ms(), next = now + 3600 * 1000;
        int timeout, stop = 0, hup = 0;
        int accepting = srv->nconns < MAX_CONNS &&
                        now >= srv->accept_paused_until;

        if (!accepting && srv->accept_paused_until > now)
            next = srv->accept_paused_until;
        pfd[np].fd = sig_pipe[0];
        pfd[np++].events = POLLIN;
        for (i = 0; i < srv->nls; i++) {
            pfd[np].fd = accepting ? srv->ls[i].fd : -1;
            pfd[np].revents = 0;
            pfd[np++].events = POLLIN;
        }
        for (i = 0; i < srv->nconns; i++) {
            struct conn *c = srv->conns[i];
            pfd[np].fd = c->fd;
            pfd[np].events = c->events;
            pfd[np++].revents = 0;
            if (c->again || c->deadline < next)
                next = c->again ? now : c->deadline;
        }
        timeout = next <= now ? 0 : (int)(next - now);
        if (poll(pfd, np, timeout) < 0 && errno != EINTR) {
            logmsg("poll: %s", strerror(errno));
            free(pfd);
            return EXIT_RUNTIME;
        }
        if (pfd[0].revents & POLLIN) {
            char sig[64];
            ssize_t got;
            while ((got = read(sig_pipe[0], sig, sizeof(sig))) > 0)
                for (k = 0; k < (size_t)got; k++) {
                    if (sig[k] == 'H')
                        hup = 1;
                    else
                        stop = 1;
                }
        }
        if (stop)
            break;
        if (hup)
            reload(srv);
        now = now_ms();
        k = 1 + srv->nls;
        for (i = 0; i < srv->nconns; i++, k++) {
            struct conn *c = srv->conns[i];
            if (c->again || (pfd[k].revents & (POLLIN | POLLOUT | POLLERR |
                                               POLLHUP)))
                conn_run(srv, c);
            else if (now >= c->deadline)
                conn_expire(c);
        }
        /* drop the dead, keep the order of the others */
        for (i = k = 0; i < srv->nconns; i++) {
            if (srv->conns[i]->state == C_DEAD)
                conn_free(srv->conns[i]);
            else
                srv->conns[k++] = srv->conns[i];
        }
        srv->nconns = k;
        for (i = 0; i < srv->nls; i++)
            if (pfd[1 + i].revents & POLLIN)
                accept_all(srv, &srv->ls[i]);
    }
    free(pfd);
    return 0;
}

int main(int argc, char **argv)
{
    struct server srv;
    struct listen_spec *specs = NULL;
    const char *config = NULL;
    size_t n = 0, i;
    int status = EXIT_USAGE, inited = 0, a;
    char line[8192];
    size_t at;

    memset(&srv, 0, sizeof(srv));
    srv.idle_ms = DEFAULT_IDLE_MS;
    for (a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("%s (libmailssl %s)\n", PROG, mailssl_version());
            return 0;
        }
        if (strcmp(arg, "--strict") == 0) {
            srv.strict = 1;
            continue;
        }
        if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
            srv.verbose = 1;
            continue;
        }
        if (strcmp(arg, "--idle-timeout") == 0 ||
            strncmp(arg, "--idle-timeout=", 15) == 0) {
            const char *v = arg[14] == '=' ? arg + 15
                            : a + 1 < argc ? argv[++a] : "";
            char *end;
            double s = strtod(v, &end);
            if (!*v || *end || !(s > 0) || s > 86400) {
                fprintf(stderr, "%s: --idle-timeout: '%s' is not a number "
                                "of seconds from 0 to 86400\n",
                        PROG, v);
                return EXIT_USAGE;
            }
            srv.idle_ms = s * 1000 < 1 ? 1 : (int)(s * 1000);
            continue;
        }
        if (arg[0] == '-' && arg[1] && strcmp(arg, "--") != 0) {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", PROG,
                    arg);
            return EXIT_USAGE;
        }
        if (strcmp(arg, "--") == 0 && a + 1 < argc)
            arg = argv[++a];
        if (config) {
            fprintf(stderr, "%s: one CONFIG only (see --help)\n", PROG);
            return EXIT_USAGE;
        }
        config = arg;
    }
    if (!config) {
        fprintf(stderr, "%s: no CONFIG given: %s CONFIG (see --help)\n",
                PROG, PROG);
        return EXIT_USAGE;
    }
    srv.config = config;
    if (setup_signals() < 0) {
        fprintf(stderr, "%s: cannot set up signals: %s\n", PROG,
                strerror(errno));
        return EXIT_RUNTIME;
    }
    if (mailssl_init() < 0) {
        fprintf(stderr, "%s: cannot initialise the library\n", PROG);
        return EXIT_RUNTIME;
    }
    inited = 1;
    srv.store = mailssl_store_new();
    srv.conns = calloc(MAX_CONNS, sizeof(*srv.conns));
    if (!srv.store || !srv.conns) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        status = EXIT_RUNTIME;
        goto out;
    }
    mailssl_store_set_strict(srv.store, srv.strict);
    if (mailssl_store_load_file(srv.store, config) < 0) {
        /* FILE:LINE:COLUMN: message, as a compiler says it */
        fprintf(stderr, "%s\n", mailssl_store_error(srv.store));
        goto out;
    }
    if (store_listen_lines(srv.store, &specs, &n) < 0) {
        fprintf(stderr, "%s: %s: cannot copy the listen lines: out of "
                        "memory\n", PROG, config);
        status = EXIT_RUNTIME;
        goto out;
    }
    if (n == 0) {
        fprintf(stderr, "%s: %s has no listen line: nothing to serve\n",
                PROG, config);
        goto out;
    }
    srv.ls = calloc(n, sizeof(*srv.ls));
    if (!srv.ls) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        status = EXIT_RUNTIME;
        goto out;
    }
    at = (size_t)snprintf(line, sizeof(line), "%s: listening on", PROG);
    for (i = 0; i < n; i++) {
        char err[256];
        srv.ls[i].spec = specs[i];
        srv.ls[i].fd = open_listener(&specs[i], err, sizeof(err));
        if (srv.ls[i].fd < 0) {
            fprintf(stderr, "%s: cannot listen on %s %s %d: %s\n", PROG,
                    mailssl_service_name(specs[i].service), specs[i].address,
                    specs[i].port, err);
            srv.nls = i;
            status = EXIT_RUNTIME;
            goto out;
        }
        if (at < sizeof(line))
            at += (size_t)snprintf(line + at, sizeof(line) - at, "%s %s %s %d",
                                   i ? "," : "",
                                   mailssl_service_name(specs[i].service),
                                   specs[i].address, specs[i].port);
    }
    srv.nls = n;
    warn_unbound(&srv);
    printf("%s\n", line);
    fflush(stdout);
    status = run_loop(&srv);
    logmsg("stopping");
out:
    for (i = 0; i < srv.nconns; i++)
        conn_free(srv.conns[i]);
    for (i = 0; i < srv.nls; i++)
        close(srv.ls[i].fd);
    free(srv.conns);
    free(srv.ls);
    free(specs);
    mailssl_store_free(srv.store);
    if (inited)
        mailssl_deinit();
    return status;
}
