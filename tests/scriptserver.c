/* scriptserver.c - see scriptserver.h. Test code only. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "scriptserver.h"

#define SS_WAIT_MS 5000

struct rec {
    char *data;
    size_t len, cap;
};

struct scriptserver {
    struct ss_config cfg;
    int lfd;
    int stop_pipe[2];
    int port;
    pthread_t thread[256];
    int nthreads;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int busy;
    int connections, mismatches, tls_failures, client_certs;
    long long mark, sent; /* ss_mark(), ss_sent() */
    struct rec plain, tls;
    gnutls_certificate_credentials_t cred;
};

/* one connection */
struct conn {
    struct scriptserver *s;
    int fd;
    gnutls_session_t sess;
    char buf[16384];
    size_t len;
    char tag[32];
};

static void rec_add(struct scriptserver *s, struct rec *r, const char *d,
                    size_t n)
{
    pthread_mutex_lock(&s->lock);
    if (r->len + n + 1 > r->cap) {
        size_t nc = (r->len + n + 1) * 2;
        char *p = realloc(r->data, nc);

        if (!p) {
            pthread_mutex_unlock(&s->lock);
            return;
        }
        r->data = p;
        r->cap = nc;
    }
    memcpy(r->data + r->len, d, n);
    r->len += n;
    r->data[r->len] = '\0';
    pthread_mutex_unlock(&s->lock);
}

/* Waits for events on fd or the stop pipe, ms at most: 1 ready, 0
 * timeout, -1 stopped. */
static int wait_fd(struct scriptserver *s, int fd, short events, int ms)
{
    struct pollfd p[2];

    p[0].fd = fd;
    p[0].events = events;
    p[1].fd = s->stop_pipe[0];
    p[1].events = POLLIN;
    for (;;) {
        p[0].revents = p[1].revents = 0;
        int n = poll(p, 2, ms);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || p[1].revents)
            return -1;
        return n > 0 ? 1 : 0;
    }
}

static int wait_readable(struct scriptserver *s, int fd, int ms)
{
    return wait_fd(s, fd, POLLIN, ms);
}

/* Reads some bytes (plaintext or TLS) and records them: > 0 bytes, 0 EOF
 * or error, -1 timeout/stop. */
static ssize_t conn_read(struct conn *c, int ms)
{
    ssize_t n;

    if (c->len >= sizeof c->buf)
        return 0;
    if (!(c->sess && gnutls_record_check_pending(c->sess) > 0) &&
        wait_readable(c->s, c->fd, ms) <= 0)
        return -1;
    if (c->sess) {
        do
            n = gnutls_record_recv(c->sess, c->buf + c->len,
                                   sizeof c->buf - c->len);
        while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
        if (n < 0)
            n = 0;
    } else {
        n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n < 0)
            n = 0;
    }
    if (n > 0) {
        rec_add(c->s, c->sess ? &c->s->tls : &c->s->plain, c->buf + c->len,
                (size_t)n);
        c->len += (size_t)n;
    }
    return n;
}

/* Writes everything (plaintext writes never block past ss_stop or a
 * client that stopped reading for SS_WAIT_MS); -1 when the client went
 * away. */
static int conn_write(struct conn *c, const char *d, size_t n)
{
    while (n > 0) {
        ssize_t w;

        if (c->sess) {
            w = gnutls_record_send(c->sess, d, n);
            if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                continue;
        } else {
            w = send(c->fd, d, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                          errno == EINTR)) {
                if (wait_fd(c->s, c->fd, POLLOUT, SS_WAIT_MS) <= 0)
                    return -1;
                continue;
            }
        }
        if (w <= 0)
            return -1;
        pthread_mutex_lock(&c->s->lock);
        c->s->sent += w;
        pthread_mutex_unlock(&c->s->lock);
        d += w;
        n -= (size_t)w;
    }
    return 0;
}

int64_t ss_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits ms, recording whatever the client sends meanwhile (kept for a
 * later SS_EXPECT while there is room). 0 when the time passed, -1 when
 * the client closed or ss_stop was called. */
static int pause_ms(struct conn *c, int ms)
{
    int64_t end = ss_mono_ms() + ms;

    for (;;) {
        int64_t left = end - ss_mono_ms();
        int w;

        if (left <= 0)
            return 0;
        if (c->sess && gnutls_record_check_pending(c->sess) > 0)
            w = 1;
        else
            w = wait_readable(c->s, c->fd, (int)left);
        if (w < 0)
            return -1;
        if (w == 0)
            return 0;
        if (c->len >= sizeof c->buf)
            c->len = 0; /* recorded already; nobody will read it */
        if (conn_read(c, 0) <= 0)
            return -1;
    }
}

/* Sends data count times, in writes of up to 64 KiB. */
static int send_repeated(struct conn *c, const char *d, size_t n,
                         long count)
{
    size_t per = n ? 65536 / n : 0, i;
    char *chunk;
    int rc = 0;

    if (n == 0 || count <= 0)
        return 0;
    if (per == 0)
        per = 1;
    chunk = malloc(per * n);
    if (!chunk)
        return -1;
    for (i = 0; i < per; i++)
        memcpy(chunk + i * n, d, n);
    while (count > 0 && rc == 0) {
        size_t k = (size_t)count < per ? (size_t)count : per;

        rc = conn_write(c, chunk, k * n);
        count -= (long)k;
    }
    free(chunk);
    return rc;
}

/* Sends data with "$TAG" replaced by the last tag seen. */
static int send_expanded(struct conn *c, const char *d, size_t n)
{
    size_t tl = strlen(c->tag), k = 0;
    const char *t;
    char *out;
    int rc;

    /* expanded first, then one write: what a step sends stays in one
     * segment (injection cases rely on that) */
    out = malloc(n + (n / 4 + 1) * tl + 1);
    if (!out)
        return -1;
    while (n > 0 && (t = memmem(d, n, "$TAG", 4)) != NULL) {
        memcpy(out + k, d, (size_t)(t - d));
        k += (size_t)(t - d);
        memcpy(out + k, c->tag, tl);
        k += tl;
        n -= (size_t)(t - d) + 4;
        d = t + 4;
    }
    memcpy(out + k, d, n);
    rc = conn_write(c, out, k + n);
    free(out);
    return rc;
}

/* Reads one line into line (NUL-terminated, without CRLF); -1 when the
 * peer closed or nothing came in time. */
static int read_line(struct conn *c, char *line, size_t max)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);

        if (nl) {
            size_t used = (size_t)(nl - c->buf) + 1, k = used - 1;

            if (k > 0 && c->buf[k - 1] == '\r')
                k--;
            if (k >= max)
                k = max - 1;
            memcpy(line, c->buf, k);
            line[k] = '\0';
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return 0;
        }
        if (conn_read(c, SS_WAIT_MS) <= 0)
            return -1;
    }
}

static void do_rst(struct conn *c)
{
    struct linger l = {1, 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

static int do_tls(struct conn *c, const char *priority)
{
    struct scriptserver *s = c->s;
    int rc;

    if (gnutls_init(&c->sess, GNUTLS_SERVER | GNUTLS_NO_SIGNAL) < 0)
        return -1;
    if (gnutls_priority_set_direct(c->sess,
                                   priority ? priority
                                   : s->cfg.priority ? s->cfg.priority
                                                     : "NORMAL",
                                   NULL) < 0 ||
        gnutls_credentials_set(c->sess, GNUTLS_CRD_CERTIFICATE, s->cred) < 0)
        return -1;
    if (s->cfg.request_client_cert)
        gnutls_certificate_server_set_request(c->sess, GNUTLS_CERT_REQUEST);
    gnutls_transport_set_int(c->sess, c->fd);
    gnutls_handshake_set_timeout(c->sess, SS_WAIT_MS);
    do
        rc = gnutls_handshake(c->sess);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0) {
        /* as a well-behaved server does: say why before closing */
        (void)gnutls_alert_send_appropriate(c->sess, rc);
        pthread_mutex_lock(&s->lock);
        s->tls_failures++;
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    {
        unsigned n = 0;

        if (gnutls_certificate_get_peers(c->sess, &n) && n > 0) {
            pthread_mutex_lock(&s->lock);
            s->client_certs++;
            pthread_mutex_unlock(&s->lock);
        }
    }
    c->len = 0;
    return 0;
}

static void put24(unsigned char *d, size_t v)
{
    d[0] = (unsigned char)(v >> 16);
    d[1] = (unsigned char)(v >> 8);
    d[2] = (unsigned char)v;
}

/* SS_RAW_CERT: ServerHello (TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256, which
 * GnuTLS's NORMAL offers; renegotiation_info and extended_master_secret
 * echoed) and Certificate, fragmented into records of 16 KiB. */
static int send_raw_certificate(struct conn *c)
{
    static const unsigned char hello[] = {
        2, 0, 0, 49,                   /* ServerHello, length */
        3, 3,                          /* TLS 1.2 */
        0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
        0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
        0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
        0,                             /* no session id */
        0xc0, 0x2b,                    /* the cipher suite */
        0,                             /* no compression */
        0, 9,                          /* extensions */
        0xff, 0x01, 0, 1, 0,           /* renegotiation_info, empty */
        0, 0x17, 0, 0};                /* extended_master_secret */
    const struct ss_config *cfg = &c->s->cfg;
    gnutls_datum_t der[256];
    unsigned i, n = cfg->nchain < 256 ? cfg->nchain : 256, got = 0;
    size_t list = 0, total, off;
    unsigned char *msg = NULL;
    int rc = -1;

    for (i = 0; i < n; i++) {
        if (gnutls_x509_crt_export2(cfg->chain[i], GNUTLS_X509_FMT_DER,
                                    &der[i]) < 0)
            goto out;
        got++;
        list += 3 + der[i].size;
    }
    total = sizeof hello + 4 + 3 + list;
    msg = malloc(total);
    if (!msg)
        goto out;
    memcpy(msg, hello, sizeof hello);
    off = sizeof hello;
    msg[off] = 11; /* Certificate */
    put24(msg + off + 1, 3 + list);
    put24(msg + off + 4, list);
    off += 7;
    for (i = 0; i < n; i++) {
        put24(msg + off, der[i].size);
        memcpy(msg + off + 3, der[i].data, der[i].size);
        off += 3 + der[i].size;
    }
    for (off = 0; off < total;) {
        size_t k = total - off > 16384 ? 16384 : total - off;
        unsigned char rh[5] = {22, 3, 3, (unsigned char)(k >> 8),
                               (unsigned char)k};

        if (conn_write(c, (const char *)rh, sizeof rh) < 0 ||
            conn_write(c, (const char *)msg + off, k) < 0)
            goto out;
        off += k;
    }
    rc = 0;
out:
    for (i = 0; i < got; i++)
        gnutls_free(der[i].data);
    free(msg);
    return rc;
}

static void play(struct conn *c)
{
    struct scriptserver *s = c->s;
    const struct ss_step *st;
    char line[16384];
    int closed_by_rst = 0;

    for (st = s->cfg.script; st && st->op != SS_END; st++) {
        size_t n = st->data ? (st->len ? st->len : strlen(st->data)) : 0;

        switch (st->op) {
        case SS_SEND:
            if (send_expanded(c, st->data, n) < 0)
                goto out;
            break;
        case SS_EXPECT:
            if (read_line(c, line, sizeof line) < 0) {
                pthread_mutex_lock(&s->lock);
                s->mismatches++;
                pthread_mutex_unlock(&s->lock);
                goto out;
            }
            {
                size_t k = strcspn(line, " ");

                if (k >= sizeof c->tag)
                    k = sizeof c->tag - 1;
                memcpy(c->tag, line, k);
                c->tag[k] = '\0';
            }
            if (st->data && strncasecmp(line, st->data, n) != 0) {
                pthread_mutex_lock(&s->lock);
                s->mismatches++;
                pthread_mutex_unlock(&s->lock);
            }
            break;
        case SS_CLOSE:
            goto out;
        case SS_RST:
            closed_by_rst = 1;
            goto out;
        case SS_SLEEP:
            if (pause_ms(c, st->arg) < 0)
                goto out;
            break;
        case SS_TRICKLE: {
            size_t i;

            for (i = 0; i < n; i++)
                if (pause_ms(c, st->arg) < 0 ||
                    conn_write(c, st->data + i, 1) < 0)
                    goto out;
            break;
        }
        case SS_RECV:
            if (conn_read(c, SS_WAIT_MS) <= 0)
                goto out;
            break;
        case SS_TLS:
            if (do_tls(c, st->data) < 0)
                goto out;
            break;
        case SS_ALERT: {
            /* TLS 1.2 record: alert(21), version 3.3, length 2, fatal(2) */
            char rec[7] = {21, 3, 3, 0, 2, 2, (char)st->arg};

            if (conn_write(c, rec, sizeof rec) < 0)
                goto out;
            break;
        }
        case SS_DRAIN:
            while (conn_read(c, SS_WAIT_MS) > 0)
                c->len = 0;
            break;
        case SS_MARK:
            pthread_mutex_lock(&s->lock);
            if (s->mark < 0)
                s->mark = (long long)s->plain.len;
            pthread_mutex_unlock(&s->lock);
            break;
        case SS_REPEAT:
            if (send_repeated(c, st->data, n, st->arg) < 0)
                goto out;
            break;
        case SS_RAW_CERT:
            if (send_raw_certificate(c) < 0)
                goto out;
            break;
        default:
            break;
        }
    }
out:
    if (closed_by_rst)
        do_rst(c);
    if (c->sess)
        gnutls_deinit(c->sess);
    close(c->fd);
}

static void *serve(void *arg)
{
    struct scriptserver *s = arg;

    for (;;) {
        struct conn *c;
        int fd, w = wait_readable(s, s->lfd, -1);

        if (w < 0)
            break;
        /* several threads may wake for one connection: the listening
         * socket is non-blocking, the losers go back to waiting */
        fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        /* answers go out at once (no Nagle wait behind a delayed ACK) */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
        pthread_mutex_lock(&s->lock);
        s->busy++;
        s->connections++;
        pthread_mutex_unlock(&s->lock);
        c = calloc(1, sizeof *c);
        if (c) {
            c->s = s;
            c->fd = fd;
            play(c);
            free(c);
        } else {
            close(fd);
        }
        pthread_mutex_lock(&s->lock);
        s->busy--;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

static int listen_on(int family, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    memset(&ss, 0, sizeof ss);
    if (family == 6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(family == 6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                              : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

const struct ss_step ss_smtp_script[] = {
    SEND("220 mx.example.com ESMTP\r\n"), EXPECT("EHLO "),
    SEND("250-mx.example.com\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
    EXPECT("STARTTLS"), SEND("220 2.0.0 Ready to start TLS\r\n"), TLS(NULL),
    EXPECT("EHLO "), SEND("250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n"),
    EXPECT("QUIT"), SEND("221 2.0.0 Bye\r\n"), END};

int ss_ipv6_available(void)
{
    int port, fd = listen_on(6, &port);

    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

struct scriptserver *ss_start(const struct ss_config *cfg)
{
    struct scriptserver *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->mark = -1;
    s->lfd = listen_on(cfg->family, &s->port);
    if (s->lfd < 0 || pipe(s->stop_pipe) < 0) {
        if (s->lfd >= 0)
            close(s->lfd);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (cfg->chain && cfg->key) {
        if (gnutls_certificate_allocate_credentials(&s->cred) < 0 ||
            gnutls_certificate_set_x509_key(s->cred, cfg->chain, cfg->nchain,
                                            cfg->key) < 0)
            goto fail;
    } else if (gnutls_certificate_allocate_credentials(&s->cred) < 0) {
        goto fail;
    }
    for (s->nthreads = 0;
         s->nthreads < (cfg->threads > 0 ? cfg->threads : 1) &&
         s->nthreads < (int)(sizeof s->thread / sizeof s->thread[0]);
         s->nthreads++) {
        if (pthread_create(&s->thread[s->nthreads], NULL, serve, s) != 0) {
            if (s->nthreads == 0)
                goto fail;
            break;
        }
    }
    return s;
fail:
    if (s->cred)
        gnutls_certificate_free_credentials(s->cred);
    close(s->lfd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    free(s);
    return NULL;
}

int ss_port(const struct scriptserver *s)
{
    return s->port;
}

int ss_quiesce(struct scriptserver *s, int n)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&s->lock);
    while (rc == 0 && (s->connections < n || s->busy))
        rc = pthread_cond_timedwait(&s->cond, &s->lock, &until);
    pthread_mutex_unlock(&s->lock);
    return rc == 0 ? 0 : -1;
}

void ss_stop(struct scriptserver *s)
{
    if (!s)
        return;
    (void)!write(s->stop_pipe[1], "x", 1);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->thread[i], NULL);
    close(s->lfd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    gnutls_certificate_free_credentials(s->cred);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->plain.data);
    free(s->tls.data);
    free(s);
}

static const char *rec_get(struct scriptserver *s, struct rec *r, size_t *len)
{
    const char *d;

    pthread_mutex_lock(&s->lock);
    d = r->data ? r->data : "";
    if (len)
        *len = r->len;
    pthread_mutex_unlock(&s->lock);
    return d;
}

const char *ss_plain(struct scriptserver *s, size_t *len)
{
    return rec_get(s, &s->plain, len);
}

const char *ss_tls(struct scriptserver *s, size_t *len)
{
    return rec_get(s, &s->tls, len);
}

static int counter(struct scriptserver *s, const int *v)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = *v;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int ss_mismatches(struct scriptserver *s)
{
    return counter(s, &s->mismatches);
}

int ss_connections(struct scriptserver *s)
{
    return counter(s, &s->connections);
}

int ss_tls_failures(struct scriptserver *s)
{
    return counter(s, &s->tls_failures);
}

int ss_client_certs(struct scriptserver *s)
{
    return counter(s, &s->client_certs);
}

static long long snapshot(struct scriptserver *s, const long long *v)
{
    long long n;

    pthread_mutex_lock(&s->lock);
    n = *v;
    pthread_mutex_unlock(&s->lock);
    return n;
}

long ss_mark(struct scriptserver *s)
{
    return (long)snapshot(s, &s->mark);
}

size_t ss_sent(struct scriptserver *s)
{
    return (size_t)snapshot(s, &s->sent);
}
