/*
 * dnszone.c - DNS zones made, signed and served at test time (dnszone.h).
 * Test code only.
 */
#include "dnszone.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "certgen.h"

#define ALG "ECDSAP256SHA256"

void dnszone_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[32];
    size_t i;

    gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d);
    for (i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* Runs a shell command in dir; its first output line into out. */
static int run(const char *dir, const char *cmd, char *out, size_t outlen)
{
    char line[2048];
    FILE *f;
    int rc;

    snprintf(line, sizeof line, "cd '%s' && %s", dir, cmd);
    f = popen(line, "r");
    if (!f)
        return -1;
    if (out && outlen) {
        out[0] = '\0';
        if (fgets(out, (int)outlen, f))
            out[strcspn(out, "\r\n")] = '\0';
    }
    while (fgets(line, sizeof line, f))
        ;
    rc = pclose(f);
    if (rc != 0)
        fprintf(stderr, "dnszone: '%s' failed (%d)\n", cmd, rc);
    return rc == 0 ? 0 : -1;
}

static int append_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");

    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

/* 1 when child lies under parent ("a.b.example" under "b.example"). */
static int under(const char *child, const char *parent)
{
    size_t c = strlen(child), p = strlen(parent);

    return c > p + 1 && strcmp(child + c - p, parent) == 0 &&
           child[c - p - 1] == '.';
}

/* Opens DIR/NAME.SUFFIX for writing. */
static FILE *create_in(const struct dnszone *z, const char *name,
                       const char *suffix)
{
    char path[700];

    snprintf(path, sizeof path, "%s/%s%s", z->dir, name, suffix);
    return fopen(path, "w");
}

static int write_zone(const struct dnszone *z, const struct dnszone_def *d,
                      const char *top)
{
    FILE *f = create_in(z, d->origin, ".zone");

    if (!f)
        return -1;
    fprintf(f,
            "$ORIGIN %s.\n$TTL 300\n"
            "@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n"
            "@ NS ns.%s.\n",
            d->origin, top, top, top);
    if (strcmp(d->origin, top) == 0)
        fprintf(f, "ns A 127.0.0.1\n");
    fputs(d->records ? d->records : "", f);
    fputs("\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

/* Signs ORIGIN.zone into ORIGIN.signed; the KSK's DS text into ds. */
static int sign_zone(const struct dnszone *z, const struct dnszone_def *d,
                     char *ds, size_t dslen)
{
    char cmd[1500], ksk[300], zsk[300];
    int64_t now = (int64_t)time(NULL), from, until;

    snprintf(cmd, sizeof cmd, "ldns-keygen -a %s -k %s", ALG, d->origin);
    if (run(z->dir, cmd, ksk, sizeof ksk) < 0 || !ksk[0])
        return -1;
    snprintf(cmd, sizeof cmd, "ldns-keygen -a %s %s", ALG, d->origin);
    if (run(z->dir, cmd, zsk, sizeof zsk) < 0 || !zsk[0])
        return -1;
    if (d->signing == DNSZONE_EXPIRED) {
        from = now - 60 * 86400;
        until = now - 30 * 86400;
    } else {
        from = now - 86400;
        until = now + 30 * 86400;
    }
    snprintf(cmd, sizeof cmd,
             "ldns-signzone -i %lld -e %lld -f %s.signed %s.zone %s %s",
             (long long)from, (long long)until, d->origin, d->origin, ksk,
             zsk);
    if (run(z->dir, cmd, NULL, 0) < 0)
        return -1;
    snprintf(cmd, sizeof cmd, "cat %s.ds", ksk);
    return run(z->dir, cmd, ds, dslen);
}

/* A free port for UDP and TCP on 127.0.0.1 (race accepted: nsd failing
 * to bind is retried with another). */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int u = socket(AF_INET, SOCK_DGRAM, 0), t, port = -1;

    if (u < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(u, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(u, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
        t = socket(AF_INET, SOCK_STREAM, 0);
        if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof a) != 0 ||
            port <= 10000)
            port = -1;
        if (t >= 0)
            close(t);
    }
    close(u);
    return port;
}

/* 1 when nsd answers a SOA query for origin on port. */
static int answers(int port, const char *origin)
{
    unsigned char q[300], r[512];
    size_t n = 12;
    const char *l = origin;
    struct sockaddr_in a;
    struct pollfd pfd;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), ok = 0;

    if (fd < 0)
        return 0;
    memset(q, 0, sizeof q);
    q[0] = 0x4d;
    q[1] = 0x53;
    q[5] = 1; /* one question */
    while (*l && n < sizeof q - 10) {
        size_t k = strcspn(l, ".");
        q[n++] = (unsigned char)k;
        memcpy(q + n, l, k);
        n += k;
        l += k;
        if (*l == '.')
            l++;
    }
    q[n++] = 0;
    q[n++] = 0;
    q[n++] = 6; /* SOA */
    q[n++] = 0;
    q[n++] = 1; /* IN */
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sendto(fd, q, n, 0, (struct sockaddr *)&a, sizeof a) == (ssize_t)n) {
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 200) == 1 && recv(fd, r, sizeof r, 0) >= 12 &&
            r[0] == 0x4d && r[1] == 0x53 && (r[3] & 0x0f) == 0)
            ok = 1;
    }
    close(fd);
    return ok;
}

static int write_conf(struct dnszone *z, const struct dnszone_def *zones,
                      size_t n)
{
    FILE *f = create_in(z, "nsd", ".conf");
    size_t i;

    if (!f)
        return -1;
    fprintf(f,
            "server:\n  ip-address: 127.0.0.1\n  port: %d\n"
            "  username: \"\"\n  chroot: \"\"\n  zonesdir: \"%s\"\n"
            "  pidfile: \"%s/nsd.pid\"\n  database: \"\"\n"
            "  zonelistfile: \"%s/zone.list\"\n"
            "  xfrdfile: \"%s/xfrd.state\"\n  xfrdir: \"%s\"\n"
            "  logfile: \"%s/nsd.log\"\n  server-count: 1\n"
            "  do-ip6: no\n  verbosity: 1\n"
            "remote-control:\n  control-enable: no\n",
            z->port, z->dir, z->dir, z->dir, z->dir, z->dir, z->dir);
    for (i = 0; i < n; i++)
        fprintf(f, "zone:\n  name: %s\n  zonefile: %s.%s\n", zones[i].origin,
                zones[i].origin,
                zones[i].signing == DNSZONE_UNSIGNED ? "zone" : "signed");
    return fclose(f) == 0 ? 0 : -1;
}

static int start_nsd(struct dnszone *z, const struct dnszone_def *zones,
                     size_t n)
{
    int attempt, i;

    for (attempt = 0; attempt < 8; attempt++) {
        char conf[700];
        int status;

        z->port = free_port();
        if (z->port < 0 || write_conf(z, zones, n) < 0)
            continue;
        snprintf(conf, sizeof conf, "%s/nsd.conf", z->dir);
        z->pid = fork();
        if (z->pid < 0)
            return -1;
        if (z->pid == 0) {
            /* a test that dies (a crash, SIGPIPE) takes its nsd along */
            (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
            execlp("nsd", "nsd", "-d", "-c", conf, (char *)NULL);
            _exit(127);
        }
        for (i = 0; i < 100; i++) { /* up to 10 s */
            if (answers(z->port, zones[0].origin)) {
                snprintf(z->resolver, sizeof z->resolver, "127.0.0.1@%d",
                         z->port);
                return 0;
            }
            if (waitpid(z->pid, &status, WNOHANG) == z->pid)
                break; /* exited: port taken? try another */
            usleep(100000);
        }
        if (i == 100) {
            kill(z->pid, SIGTERM);
            waitpid(z->pid, &status, 0);
        }
        z->pid = 0;
    }
    fprintf(stderr, "dnszone: nsd did not start (see %s/nsd.log)\n", z->dir);
    return -1;
}

int dnszone_start(struct dnszone *z, const struct dnszone_def *zones,
                  size_t n)
{
    char *ds;
    size_t i, j;

    memset(z, 0, sizeof *z);
    if (n == 0)
        return -1;
    z->dir = certgen_tmpdir();
    ds = calloc(n, 512);
    if (!z->dir || !ds) {
        free(ds);
        return -1;
    }
    for (i = 0; i < n; i++)
        if (write_zone(z, &zones[i], zones[0].origin) < 0)
            goto fail;
    /* children first: a parent needs their NS and DS before signing */
    for (i = n; i-- > 0;) {
        char path[700];

        for (j = i + 1; j < n; j++) {
            char text[900];
            size_t k;
            int nearest = under(zones[j].origin, zones[i].origin);

            /* delegated by the nearest enclosing zone only */
            for (k = i + 1; nearest && k < j; k++)
                if (under(zones[j].origin, zones[k].origin))
                    nearest = 0;
            if (!nearest)
                continue;
            snprintf(text, sizeof text, "%s. NS ns.%s.\n%s\n",
                     zones[j].origin, zones[0].origin, ds + 512 * j);
            snprintf(path, sizeof path, "%s/%s.zone", z->dir,
                     zones[i].origin);
            if (append_file(path, text) < 0)
                goto fail;
        }
        if (zones[i].signing != DNSZONE_UNSIGNED &&
            sign_zone(z, &zones[i], ds + 512 * i, 512) < 0)
            goto fail;
    }
    snprintf(z->anchor, sizeof z->anchor, "%s/anchor.ds", z->dir);
    if (append_file(z->anchor, ds) < 0 || append_file(z->anchor, "\n") < 0)
        goto fail;
    free(ds);
    return start_nsd(z, zones, n);
fail:
    free(ds);
    return -1;
}

void dnszone_stop(struct dnszone *z)
{
    if (z->pid > 0) {
        int status;

        kill(z->pid, SIGTERM);
        waitpid(z->pid, &status, 0);
    }
    z->pid = 0;
    if (z->dir) {
        certgen_rmdir(z->dir);
        free(z->dir);
    }
    z->dir = NULL;
}

int dnszone_silent_server(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

struct dnszone_hostile {
    int mode, fd, stop[2], queries, upstream;
    pthread_t thread;
};

/* The query cut after its question (no EDNS: no DO bit), sent to the
 * upstream on 127.0.0.1; its answer into out. Returns the length or 0. */
static size_t strip_and_forward(int upstream, unsigned char *q, size_t n,
                                unsigned char *out, size_t outlen)
{
    size_t i = 12;
    struct sockaddr_in a;
    struct pollfd pfd;
    ssize_t r = 0;
    int fd;

    while (i < n && q[i]) /* the question's name */
        i += (size_t)q[i] + 1;
    i += 5; /* the root label, type, class */
    if (i > n)
        return 0;
    q[10] = q[11] = 0; /* ARCOUNT: the OPT record is gone */
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)upstream);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pfd.fd = fd;
    pfd.events = POLLIN;
    if (sendto(fd, q, i, 0, (struct sockaddr *)&a, sizeof a) == (ssize_t)i &&
        poll(&pfd, 1, 1000) == 1)
        r = recv(fd, out, outlen, 0);
    close(fd);
    return r > 0 ? (size_t)r : 0;
}

static void *hostile_main(void *arg)
{
    struct dnszone_hostile *h = arg;
    static unsigned char out[65000];

    for (;;) {
        struct pollfd pfd[2] = {{h->fd, POLLIN, 0}, {h->stop[0], POLLIN, 0}};
        unsigned char q[1500];
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        ssize_t n;
        size_t len, i;

        if (poll(pfd, 2, -1) < 0 && errno != EINTR)
            break;
        if (pfd[1].revents)
            break;
        n = recvfrom(h->fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
        if (n < 12)
            continue;
        h->queries++;
        if (h->mode == DNSZONE_HOSTILE_STRIPPING) {
            len = strip_and_forward(h->upstream, q, (size_t)n, out,
                                    sizeof out);
            if (len == 0)
                continue;
        } else if (h->mode == DNSZONE_HOSTILE_HUGE) {
            for (i = 0; i < sizeof out; i++)
                out[i] = (unsigned char)(i * 131 + 7);
            memcpy(out, q, (size_t)n); /* the query, then junk */
            out[2] = 0x84;             /* QR, AA */
            out[3] = 0x00;
            out[6] = out[7] = 0xff;    /* 65,535 answers */
            len = sizeof out;
        } else {
            memcpy(out, q, (size_t)n);
            out[2] = 0x86; /* QR, AA, TC */
            out[3] = 0x00;
            len = (size_t)n;
        }
        (void)sendto(h->fd, out, len, 0, (struct sockaddr *)&from, flen);
    }
    return NULL;
}

struct dnszone_hostile *dnszone_hostile_start(int mode, int *port)
{
    struct dnszone_hostile *h = calloc(1, sizeof *h);
    int sz = 1 << 20;

    if (!h)
        return NULL;
    h->mode = mode;
    h->fd = dnszone_silent_server(port);
    if (h->fd < 0 || pipe(h->stop) < 0) {
        if (h->fd >= 0)
            close(h->fd);
        free(h);
        return NULL;
    }
    (void)setsockopt(h->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    if (pthread_create(&h->thread, NULL, hostile_main, h) != 0) {
        close(h->fd);
        close(h->stop[0]);
        close(h->stop[1]);
        free(h);
        return NULL;
    }
    return h;
}

void dnszone_hostile_set_upstream(struct dnszone_hostile *h, int port)
{
    h->upstream = port;
}

int dnszone_hostile_queries(const struct dnszone_hostile *h)
{
    return h->queries;
}

void dnszone_hostile_stop(struct dnszone_hostile *h)
{
    if (!h)
        return;
    (void)!write(h->stop[1], "x", 1);
    pthread_join(h->thread, NULL);
    close(h->fd);
    close(h->stop[0]);
    close(h->stop[1]);
    free(h);
}
