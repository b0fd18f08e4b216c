/*
 * mailssl-exporter - a Prometheus exporter for mail TLS (SPEC.md section 7).
 *
 * GET /probe?target=URL[&module=NAME] runs one probe and answers the
 * metrics of mailssl-probe --format prometheus; GET /metrics the
 * exporter's own; GET / a short HTML page with the modules and the last
 * results.
 *
 * One thread, one poll() loop: libmicrohttpd runs in its external epoll
 * mode (its epoll descriptor is one entry of the loop) and the probes run
 * on the library's non-blocking API next to it. A request that starts a
 * probe suspends its HTTP connection; the loop steps the probe when its
 * descriptor is ready or its deadline passes, and resumes the connection
 * with the answer when the probe is done. No thread or process is made
 * per request; at most --max-probes probes run at once, more get 503.
 * The one step of a probe that blocks, name resolution (getaddrinfo in
 * mailssl_probe_start), runs in a small fixed pool of threads
 * (--resolver-threads) for targets given by host name, so that a slow DNS
 * server never stalls the loop: the other scrapes go on meanwhile.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "exporter_config.h"
#include "mailssl.h"
#include "probe_format.h"
#include "probe_view.h"

#define PROG "mailssl-exporter"
#define EXIT_USAGE 3

#define DEFAULT_LISTEN "127.0.0.1:9725"
#define DEFAULT_MAX_PROBES 128
#define DEFAULT_MAX_CONNECTIONS 2048
#define DEFAULT_HISTORY 50
#define DEFAULT_RESOLVER_THREADS 4
#define DEFAULT_TIMEOUT_OFFSET_MS 500
#define MAX_URL_LENGTH 2048        /* path and query string, bytes */
#define REQUEST_MEMORY (16 * 1024) /* request line and headers, bytes */
#define IDLE_TIMEOUT_S 30
#define MAX_MESSAGE 1024           /* of a probe message kept for / */

#define CONTENT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TEXT "text/plain; charset=utf-8"
#define CONTENT_HTML "text/html; charset=utf-8"

/* Why a request was refused; the label of requests_rejected_total. */
enum reject {
    REJ_BAD_REQUEST, REJ_FORBIDDEN, REJ_NOT_FOUND, REJ_METHOD, REJ_TOO_LONG,
    REJ_OVERLOAD, REJ_INTERNAL, REJ_COUNT
};
static const char *const reject_names[REJ_COUNT] = {
    "bad-request", "forbidden", "not-found", "method", "too-long",
    "overload", "internal",
};

/* Histogram bounds of mailssl_exporter_probe_duration_seconds. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                 0.5,   1,    2.5,   5,    10,  30};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct options {
    const char *listen;
    const char *config;
    struct ec_allow *allow; /* --allow, in addition to the file's */
    size_t nallow;
    int max_probes;
    int resolver_threads;
    int max_connections;
    int history;
    int32_t timeout_offset_ms;
    int verbose;
};

/* One HTTP request; made by the URI callback, freed when MHD is done. */
struct request {
    size_t uri_len;
    int headers_seen;
    struct MHD_Connection *conn;
    mailssl_probe *probe; /* while it runs */
    int want;             /* MAILSSL_WANT_POLLIN / POLLOUT */
    char *target;
    char module[EC_MAX_NAME + 1];
    int64_t started_us;
    struct MHD_Response *resp; /* the answer, once the probe is done */
    unsigned int code;
};

struct result {
    time_t when;
    char *target, *module, *message;
    int status;
    const char *diagnosis, *stage; /* static strings of the library */
    int64_t duration_us;
};

static struct {
    struct options o;
    struct MHD_Daemon *d;
    char listen_text[128];
    struct ec_config cfg;
    struct ec_allow *allow; /* --allow entries, then the file's */
    size_t nallow;
    struct request **inflight;
    size_t ninflight;
    struct request **resolving; /* handed to the resolver threads */
    size_t nresolving;
    /* metrics */
    uint64_t by_code[MAILSSL_CODE_MAX + 2]; /* last: codes out of range */
    uint64_t bucket[NBUCKETS];
    uint64_t nprobes;
    double sum_seconds;
    uint64_t rejected[REJ_COUNT];
    uint64_t reloads_ok, reloads_failed;
    int last_reload_ok;
    time_t last_reload_success;
    /* the last results, a ring */
    struct result *ring;
    size_t ring_next, ring_used;
    int signal_pipe[2];
} X;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logmsg(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- command line ----------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
"Usage: %s [OPTIONS]\n"
"\n"
"Serve the libmailssl probe to Prometheus over HTTP:\n"
"  GET /probe?target=URL[&module=NAME]  one probe, Prometheus text format\n"
"  GET /metrics                         the exporter's own metrics\n"
"  GET /                                modules and the last results\n"
"URL is SERVICE://HOST[:PORT] as for mailssl-probe(1).\n"
"\n"
"Options:\n"
"  --web.listen-address ADDRESS:PORT  where to listen (default %s;\n"
"                       port 0 picks a free one, printed at start)\n"
"  --config.file FILE   the modules file (reloaded on SIGHUP)\n"
"  --allow PATTERN      allow targets whose host is PATTERN: an address,\n"
"                       a CIDR block, a host name, *.domain, or * for any\n"
"                       (repeatable; added to the file's allow lines).\n"
"                       Without any: loopback only\n"
"  --max-probes N       probes running at once; more get HTTP 503\n"
"                       (default %d)\n"
"  --resolver-threads N threads that resolve target host names, so that\n"
"                       DNS never blocks the loop (default %d)\n"
"  --max-connections N  HTTP connections at once (default %d)\n"
"  --timeout-offset SECONDS  subtracted from the scrape's\n"
"                       X-Prometheus-Scrape-Timeout-Seconds (default 0.5)\n"
"  --history N          results shown on / (default %d)\n"
"  --verbose            log every probe on stderr\n"
"  -h, --help           show this help and exit\n"
"  --version            show the program and library versions and exit\n"
"\n"
"See mailssl-exporter(1).\n",
            PROG, DEFAULT_LISTEN, DEFAULT_MAX_PROBES,
            DEFAULT_RESOLVER_THREADS, DEFAULT_MAX_CONNECTIONS,
            DEFAULT_HISTORY);
}

static int parse_count(const char *opt, const char *v, long min, long max,
                       int *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) {
        logmsg("%s: '%s' is not a whole number from %ld to %ld", opt, v, min,
               max);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int add_cli_allow(struct options *o, const char *v)
{
    struct ec_allow *grown;
    char err[512];

    grown = realloc(o->allow, (o->nallow + 1) * sizeof(*o->allow));
    if (!grown) {
        logmsg("out of memory");
        return -1;
    }
    o->allow = grown;
    if (ec_allow_parse(v, &o->allow[o->nallow], err, sizeof(err)) < 0) {
        logmsg("--allow: %s", err);
        return -1;
    }
    o->nallow++;
    return 0;
}

/* Returns 0 to run, 1 for --help/--version done, -1 for bad usage. */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const char *const with_value[] = {
        "web.listen-address", "config.file", "allow", "max-probes",
        "max-connections", "timeout-offset", "history", "resolver-threads",
    };
    int i;
    size_t k;

    memset(o, 0, sizeof(*o));
    o->listen = DEFAULT_LISTEN;
    o->max_probes = DEFAULT_MAX_PROBES;
    o->resolver_threads = DEFAULT_RESOLVER_THREADS;
    o->max_connections = DEFAULT_MAX_CONNECTIONS;
    o->history = DEFAULT_HISTORY;
    o->timeout_offset_ms = DEFAULT_TIMEOUT_OFFSET_MS;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *v = NULL;
        char name[64];
        size_t len;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("%s (libmailssl %s)\n", PROG, mailssl_version());
            return 1;
        }
        if (strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            logmsg("unexpected argument '%s' (see --help)", a);
            return -1;
        }
        a += 2;
        eq = strchr(a, '=');
        len = eq ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof(name)) {
            logmsg("unknown option '%s' (see --help)", argv[i]);
            return -1;
        }
        memcpy(name, a, len);
        name[len] = '\0';
        for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
            if (strcmp(name, with_value[k]) == 0)
                break;
        if (k == sizeof(with_value) / sizeof(with_value[0])) {
            logmsg("unknown option '%s' (see --help)", argv[i]);
            return -1;
        }
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else {
            logmsg("--%s needs a value", name);
            return -1;
        }
        if (strcmp(name, "web.listen-address") == 0) {
            o->listen = v;
        } else if (strcmp(name, "config.file") == 0) {
            o->config = v;
        } else if (strcmp(name, "allow") == 0) {
            if (add_cli_allow(o, v) < 0)
                return -1;
        } else if (strcmp(name, "max-probes") == 0) {
            if (parse_count("--max-probes", v, 1, 10000, &o->max_probes) < 0)
                return -1;
        } else if (strcmp(name, "resolver-threads") == 0) {
            if (parse_count("--resolver-threads", v, 1, 64,
                            &o->resolver_threads) < 0)
                return -1;
        } else if (strcmp(name, "max-connections") == 0) {
            if (parse_count("--max-connections", v, 1, 100000,
                            &o->max_connections) < 0)
                return -1;
        } else if (strcmp(name, "history") == 0) {
            if (parse_count("--history", v, 0, 10000, &o->history) < 0)
                return -1;
        } else {
            char *end;
            double s;
            errno = 0;
            s = strtod(v, &end);
            if (!*v || *end || errno || !isfinite(s) || s < 0 || s > 60) {
                logmsg("--timeout-offset: '%s' is not a number of seconds "
                       "from 0 to 60", v);
                return -1;
            }
            o->timeout_offset_ms = (int32_t)lround(s * 1000.0);
        }
    }
    return 0;
}

/* ---- listening socket ------------------------------------------------- */

/* "HOST:PORT" or "[V6]:PORT"; HOST may be a name. Returns the listening
 * socket, or after logging why -2 (bad usage) or -1 (cannot listen). */
static int open_listener(const char *spec, char *shown, size_t shown_len)
{
    char host[256], serv[16], addr[NI_MAXHOST], port[NI_MAXSERV];
    const char *colon;
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    size_t hl;
    int fd = -1, one = 1, rc;

    colon = strrchr(spec, ':');
    if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(serv)) {
        logmsg("--web.listen-address: '%s' is not ADDRESS:PORT", spec);
        return -2;
    }
    hl = (size_t)(colon - spec);
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(host) || memchr(spec, ']', hl)) {
        logmsg("--web.listen-address: '%s' is not ADDRESS:PORT", spec);
        return -2;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    snprintf(serv, sizeof(serv), "%s", colon + 1);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, serv, &hints, &ai);
    if (rc != 0) {
        logmsg("--web.listen-address: %s:%s: %s", host, serv,
               gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        listen(fd, 4096) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, addr, sizeof(addr), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        logmsg("cannot listen on %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    snprintf(shown, shown_len, strchr(addr, ':') ? "[%s]:%s" : "%s:%s", addr,
             port);
    return fd;
}

/* ---- configuration ---------------------------------------------------- */

/* The allow-list in force: --allow entries, then the file's. */
static int merge_allow(void)
{
    size_t n = X.o.nallow + X.cfg.nallow;
    struct ec_allow *a = malloc((n ? n : 1) * sizeof(*a));

    if (!a)
        return -1;
    if (X.o.nallow)
        memcpy(a, X.o.allow, X.o.nallow * sizeof(*a));
    if (X.cfg.nallow)
        memcpy(a + X.o.nallow, X.cfg.allow, X.cfg.nallow * sizeof(*a));
    free(X.allow);
    X.allow = a;
    X.nallow = n;
    return 0;
}

/* Loads the modules file; on failure the modules in force stay. */
static int load_config(int at_start)
{
    struct ec_config fresh, old;
    char err[1024];
    int rc;

    if (X.o.config)
        rc = ec_load_file(&fresh, X.o.config, err, sizeof(err));
    else
        rc = ec_init_default(&fresh);
    if (rc < 0) {
        if (!X.o.config)
            snprintf(err, sizeof(err), "out of memory");
        X.last_reload_ok = 0;
        X.reloads_failed++;
        if (at_start)
            logmsg("%s", err);
        else
            logmsg("reload failed, the previous modules stay in force: %s",
                   err);
        return -1;
    }
    old = X.cfg;
    X.cfg = fresh;
    if (merge_allow() < 0) {
        X.cfg = old;
        ec_free(&fresh);
        X.last_reload_ok = 0;
        X.reloads_failed++;
        logmsg("reload failed: out of memory");
        return -1;
    }
    ec_free(&old);
    X.last_reload_ok = 1;
    X.reloads_ok++;
    X.last_reload_success = time(NULL);
    logmsg("%s %s: %zu modules, %zu allow entries%s",
           at_start ? "loaded" : "reloaded",
           X.o.config ? X.o.config : "(no modules file)", X.cfg.nmodules,
           X.nallow, X.nallow ? "" : " (loopback targets only)");
    return 0;
}

/* ---- responses -------------------------------------------------------- */

static struct MHD_Response *text_response(const char *type, char *buf,
                                          size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(buf);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return r;
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned int code,
                             struct MHD_Response *r)
{
    enum MHD_Result ret;

    if (!r)
        return MHD_NO; /* out of memory: MHD closes the connection */
    ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* A plain-text error, counted by reason. */
static struct MHD_Response *error_response(enum reject why, const char *fmt,
                                           ...)
    __attribute__((format(printf, 2, 3)));

static struct MHD_Response *error_response(enum reject why, const char *fmt,
                                           ...)
{
    char *msg = NULL, *line = NULL, *c;
    va_list ap;
    int n;

    X.rejected[why]++;
    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    /* peer-controlled text may be inside: one line, no control bytes */
    for (c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    n = asprintf(&line, "%s: %s\n", PROG, msg);
    free(msg);
    if (n < 0)
        return NULL;
    return text_response(CONTENT_TEXT, line, (size_t)n);
}

/* ---- results ---------------------------------------------------------- */

static void record(const struct request *r, const mailssl_probe *p,
                   int64_t duration_us)
{
    int code = mailssl_probe_diagnosis(p);
    double s = (double)duration_us / 1e6;
    struct result *slot;
    const char *msg = mailssl_probe_message(p);
    size_t i;

    X.by_code[code >= 0 && code <= MAILSSL_CODE_MAX ? code
                                                    : MAILSSL_CODE_MAX + 1]++;
    X.nprobes++;
    X.sum_seconds += s;
    for (i = 0; i < NBUCKETS; i++)
        if (s <= buckets[i])
            X.bucket[i]++;
    if (!X.ring)
        return;
    slot = &X.ring[X.ring_next];
    free(slot->target);
    free(slot->module);
    free(slot->message);
    slot->when = time(NULL);
    slot->target = strdup(r->target);
    slot->module = strdup(r->module);
    slot->message = strndup(msg ? msg : "", MAX_MESSAGE);
    slot->status = mailssl_probe_status(p);
    slot->diagnosis = mailssl_code_name(code);
    slot->stage = mailssl_stage_name(mailssl_probe_stage(p));
    slot->duration_us = duration_us;
    X.ring_next = (X.ring_next + 1) % (size_t)X.o.history;
    if (X.ring_used < (size_t)X.o.history)
        X.ring_used++;
}

/* The probe is done: its metrics become the answer; the probe is freed. */
static void finish_probe(struct request *r)
{
    mailssl_probe *p = r->probe;
    int64_t took = now_us() - r->started_us;
    struct pf_finding *fs = NULL;
    struct probe_view v;
    char *buf = NULL;
    size_t len = 0;
    FILE *out;

    record(r, p, took);
    if (X.o.verbose)
        logmsg("probe %s module %s: %s (%s) in %.3f s", r->target, r->module,
               mailssl_code_name(mailssl_probe_diagnosis(p)),
               mailssl_stage_name(mailssl_probe_stage(p)), took / 1e6);
    out = open_memstream(&buf, &len);
    if (out && pv_from_probe(p, r->target, &v, &fs) == 0) {
        pf_write_prometheus(out, &v, 1);
    }
    free(fs);
    if (!out || fclose(out) != 0 || !buf) {
        free(buf);
        r->resp = error_response(REJ_INTERNAL, "out of memory");
        r->code = MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else {
        r->resp = text_response(CONTENT_METRICS, buf, len);
        r->code = MHD_HTTP_OK;
    }
    mailssl_probe_free(p);
    r->probe = NULL;
}

/* ---- name resolution ---------------------------------------------------
 * mailssl_probe_start() resolves the target's host with getaddrinfo(),
 * which blocks, for as long as the DNS server takes. A probe of a host
 * name is therefore started by one of --resolver-threads threads, made
 * once at start; the loop goes on serving and stepping the other probes,
 * and takes the started probe back through a pipe. A thread touches only
 * its job (the probe object and numbers), never the request or
 * libmicrohttpd. Probes of IP addresses start in the loop at once. */

#define JOB_EXPIRED 1 /* waited for a thread past the probe's deadline */

struct job {
    struct request *r; /* read by the loop only */
    mailssl_probe *probe;
    int32_t timeout_ms;
    int64_t queued_us;
    int rc; /* mailssl_probe_start()'s, or JOB_EXPIRED */
    struct job *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work, idle;
    struct job *todo, *todo_tail, *done;
    int stopping; /* the threads end when idle */
    int stopped;  /* resolver_stop()'s answer once it ran, else -1 */
    int wake[2];  /* a byte a finished job */
    int nthreads; /* made (detached: resolver_stop() waits for live) */
    int live;     /* not yet ended */
} R = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
       PTHREAD_COND_INITIALIZER, NULL, NULL, NULL, 0, -1, {-1, -1}, 0, 0};

static void *resolver_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&R.lock);
    for (;;) {
        struct job *j;
        int64_t waited_ms;
        char byte = 'j';

        while (!R.todo && !R.stopping)
            pthread_cond_wait(&R.work, &R.lock);
        if (R.stopping) {
            R.live--;
            pthread_cond_broadcast(&R.idle);
            break;
        }
        j = R.todo;
        R.todo = j->next;
        if (!R.todo)
            R.todo_tail = NULL;
        pthread_mutex_unlock(&R.lock);

        /* the time spent in the queue counts against the deadline */
        waited_ms = (now_us() - j->queued_us) / 1000;
        if (waited_ms >= j->timeout_ms) {
            j->rc = JOB_EXPIRED;
        } else {
            if (waited_ms > 0)
                mailssl_probe_set_timeout_ms(
                    j->probe, j->timeout_ms - (int32_t)waited_ms);
            j->rc = mailssl_probe_start(j->probe);
        }

        pthread_mutex_lock(&R.lock);
        j->next = R.done;
        R.done = j;
        /* the pipe full means the loop has bytes to wake it already */
        if (write(R.wake[1], &byte, 1) < 0 && errno != EAGAIN)
            logmsg("resolver: cannot wake the loop: %s", strerror(errno));
    }
    pthread_mutex_unlock(&R.lock);
    return NULL;
}

/* Makes the threads, detached, with the signals blocked (they go to the
 * loop). */
static int resolver_start(int n)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    int i, rc = 0;

    if (pipe2(R.wake, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    if ((rc = pthread_attr_init(&attr)) != 0 ||
        (rc = pthread_attr_setdetachstate(&attr,
                                          PTHREAD_CREATE_DETACHED)) != 0) {
        errno = rc;
        return -1;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (i = 0; i < n && rc == 0; i++) {
        pthread_mutex_lock(&R.lock);
        rc = pthread_create(&t, &attr, resolver_main, NULL);
        if (rc == 0) {
            R.nthreads++;
            R.live++;
        }
        pthread_mutex_unlock(&R.lock);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

/* Stepped by the loop, or being started by a resolver thread. */
static size_t probes_in_flight(void)
{
    return X.ninflight + X.nresolving;
}

/* The request's answer is a 503 (resp); its connection resumes. */
static void answer_unavailable(struct request *r, struct MHD_Response *resp)
{
    r->resp = resp;
    r->code = MHD_HTTP_SERVICE_UNAVAILABLE;
    MHD_resume_connection(r->conn);
}

/* Hands r's probe, with its whole deadline, to the threads. Returns 0, or
 * -1 out of memory. */
static int resolver_submit(struct request *r, int32_t timeout_ms)
{
    struct job *j = calloc(1, sizeof(*j));

    if (!j)
        return -1;
    j->r = r;
    j->probe = r->probe;
    j->timeout_ms = timeout_ms;
    j->queued_us = r->started_us;
    X.resolving[X.nresolving++] = r;
    pthread_mutex_lock(&R.lock);
    if (R.todo_tail)
        R.todo_tail->next = j;
    else
        R.todo = j;
    R.todo_tail = j;
    pthread_cond_signal(&R.work);
    pthread_mutex_unlock(&R.lock);
    return 0;
}

static void forget_resolving(struct request *r)
{
    size_t i;

    for (i = 0; i < X.nresolving; i++)
        if (X.resolving[i] == r) {
            X.resolving[i] = X.resolving[--X.nresolving];
            break;
        }
}

/* The loop's side: the probes the threads started join the probes in
 * flight, or are answered when they are already done. */
static void resolver_collect(void)
{
    struct job *j, *next;
    char bytes[64];

    while (read(R.wake[0], bytes, sizeof(bytes)) > 0)
        ;
    pthread_mutex_lock(&R.lock);
    j = R.done;
    R.done = NULL;
    pthread_mutex_unlock(&R.lock);
    for (; j; j = next) {
        struct request *r = j->r;
        int rc = j->rc;

        next = j->next;
        forget_resolving(r);
        free(j);
        if (rc == MAILSSL_WANT_POLLIN || rc == MAILSSL_WANT_POLLOUT) {
            r->want = rc;
            X.inflight[X.ninflight++] = r;
            continue;
        }
        if (rc == JOB_EXPIRED) {
            mailssl_probe_free(r->probe);
            r->probe = NULL;
            answer_unavailable(r, error_response(
                REJ_OVERLOAD,
                "the probe waited %.1f s for a name resolution thread, past "
                "its deadline: every one of the %d (--resolver-threads) was "
                "busy with a slow DNS answer",
                (now_us() - r->started_us) / 1e6, R.nthreads));
            continue;
        }
        finish_probe(r);
        MHD_resume_connection(r->conn);
    }
}

/* SIGTERM: the probes with the threads are answered 503; the threads end
 * when idle. Returns 1 when every thread ended (within half a second),
 * 0 when one is still inside getaddrinfo: its probe is left to it, and
 * the program must then exit without freeing what the thread may use. */
static int resolver_stop(void)
{
    struct job *lists[2], *j, *next;
    struct timespec until;
    int ended, k;

    if (R.stopped >= 0)
        return R.stopped;
    if (!R.nthreads)
        return R.stopped = 1;
    pthread_mutex_lock(&R.lock);
    R.stopping = 1;
    pthread_cond_broadcast(&R.work);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 500 * 1000000L; /* half a second */
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (R.live > 0 &&
           pthread_cond_timedwait(&R.idle, &R.lock, &until) == 0)
        ;
    ended = R.live == 0;
    lists[0] = R.todo; /* never started */
    lists[1] = R.done; /* started, not collected */
    R.todo = R.todo_tail = R.done = NULL;
    pthread_mutex_unlock(&R.lock);
    for (k = 0; k < 2; k++)
        for (j = lists[k]; j; j = next) {
            next = j->next;
            mailssl_probe_free(j->probe);
            free(j);
        }
    while (X.nresolving > 0) {
        struct request *r = X.resolving[--X.nresolving];
        r->probe = NULL; /* freed above, or the thread's */
        answer_unavailable(r, error_response(REJ_OVERLOAD, "shutting down"));
    }
    return R.stopped = ended;
}

/* ---- /probe ----------------------------------------------------------- */

struct args {
    const char *target, *module;
    int ntarget, nmodule;
    char unknown[64];
    int bad;
};

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value)
{
    struct args *a = cls;

    (void)kind;
    if (strcmp(key, "target") == 0) {
        a->target = value;
        a->ntarget++;
    } else if (strcmp(key, "module") == 0) {
        a->module = value;
        a->nmodule++;
    } else if (!a->bad) {
        snprintf(a->unknown, sizeof(a->unknown), "%s", key);
        a->bad = 1;
    }
    return MHD_YES;
}

/* The host that the allow-list judges: the module's connect-to when it
 * has one (the probe connects there), else the URL host. */
static void judged_host(const struct ec_module *m, const mailssl_probe *p,
                        char *dst, size_t n)
{
    const char *s = m->connect_to;
    const char *end;

    if (!s) {
        snprintf(dst, n, "%s", mailssl_probe_host(p));
        return;
    }
    if (s[0] == '[' && (end = strchr(s, ']')) != NULL) {
        snprintf(dst, n, "%.*s", (int)(end - s - 1), s + 1);
        return;
    }
    end = strchr(s, ':');
    if (end && !strchr(end + 1, ':'))
        snprintf(dst, n, "%.*s", (int)(end - s), s);
    else
        snprintf(dst, n, "%s", s);
}

/* X-Prometheus-Scrape-Timeout-Seconds, less the offset. Returns the
 * deadline in ms (0: no header) or -1 when it does not parse. */
static int32_t scrape_deadline_ms(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, "X-Prometheus-Scrape-Timeout-Seconds");
    char *end;
    double s;
    int32_t ms;

    if (!h)
        return 0;
    errno = 0;
    s = strtod(h, &end);
    if (!*h || *end || errno || !isfinite(s) || s <= 0 || s > 86400)
        return -1;
    ms = (int32_t)(s * 1000.0) - X.o.timeout_offset_ms;
    /* an offset as long as the timeout itself: keep most of it */
    if (ms < (int32_t)(s * 100.0))
        ms = (int32_t)(s * 900.0);
    return ms > 0 ? ms : 1;
}

static enum MHD_Result handle_probe(struct MHD_Connection *c,
                                    struct request *r)
{
    struct args a;
    const struct ec_module *m;
    mailssl_probe *p;
    char err[1024], host[300];
    int32_t deadline;
    int rc;

    memset(&a, 0, sizeof(a));
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, each_arg, &a);
    if (a.bad)
        return queue(c, MHD_HTTP_BAD_REQUEST,
                     error_response(REJ_BAD_REQUEST,
                                    "unknown parameter '%s' (target, "
                                    "module)", a.unknown));
    if (a.ntarget > 1)
        return queue(c, MHD_HTTP_BAD_REQUEST,
                     error_response(REJ_BAD_REQUEST,
                                    "target given %d times",
                                    a.ntarget));
    if (!a.target || !*a.target)
        return queue(c, MHD_HTTP_BAD_REQUEST,
                     error_response(REJ_BAD_REQUEST,
                                    "target parameter missing or "
                                    "empty"));
    if (a.nmodule > 1 || (a.nmodule == 1 && (!a.module || !*a.module)))
        return queue(c, MHD_HTTP_BAD_REQUEST,
                     error_response(REJ_BAD_REQUEST,
                                    a.nmodule > 1
                                        ? "module given more than once"
                                        : "empty module name"));
    m = ec_find(&X.cfg, a.module ? a.module : "default");
    if (!m)
        return queue(c, MHD_HTTP_BAD_REQUEST,
                     error_response(REJ_BAD_REQUEST,
                                    "unknown module '%.64s'",
                                    a.module));
    deadline = scrape_deadline_ms(c);
    if (deadline < 0)
        return queue(c, MHD_HTTP_BAD_REQUEST,
                     error_response(REJ_BAD_REQUEST,
                                    "bad X-Prometheus-Scrape-Timeout-"
                                    "Seconds header"));
    /* the probe's whole deadline: the module's, or the scrape's if less */
    if (deadline == 0 || deadline > m->timeout_ms)
        deadline = m->timeout_ms;
    p = mailssl_probe_new(a.target);
    if (!p)
        return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     error_response(REJ_INTERNAL, "out of memory"));
    if (mailssl_probe_error(p)[0]) {
        struct MHD_Response *resp = error_response(
            REJ_BAD_REQUEST, "bad target '%.300s': %s", a.target,
            mailssl_probe_error(p));
        mailssl_probe_free(p);
        return queue(c, MHD_HTTP_BAD_REQUEST, resp);
    }
    judged_host(m, p, host, sizeof(host));
    if (!ec_allowed(X.allow, X.nallow, host)) {
        mailssl_probe_free(p);
        return queue(
            c, MHD_HTTP_FORBIDDEN,
            error_response(REJ_FORBIDDEN,
                           "target host '%s' is not in the allow-list (%s)",
                           host,
                           X.nallow ? "see --allow and the allow lines"
                             : "default: loopback only; see --allow"));
    }
    if (ec_apply(m, p, err, sizeof(err)) < 0 ||
        (deadline < m->timeout_ms &&
         mailssl_probe_set_timeout_ms(p, deadline) < 0)) {
        mailssl_probe_free(p);
        return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     error_response(REJ_INTERNAL, "module %s: %s",
                                    m->name, err));
    }
    if (probes_in_flight() >= (size_t)X.o.max_probes) {
        mailssl_probe_free(p);
        return queue(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                     error_response(REJ_OVERLOAD,
                                    "%zu probes are running, the most "
                                    "at once (--max-probes); try "
                                    "again later", probes_in_flight()));
    }
    r->target = strdup(a.target);
    if (!r->target) {
        mailssl_probe_free(p);
        return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     error_response(REJ_INTERNAL, "out of memory"));
    }
    snprintf(r->module, sizeof(r->module), "%s", m->name);
    r->probe = p;
    r->conn = c;
    r->started_us = now_us();
    /* a host name: getaddrinfo may block, a resolver thread starts it */
    if (!ec_address_family(host)) {
        if (resolver_submit(r, deadline) < 0) {
            mailssl_probe_free(p);
            r->probe = NULL;
            return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                         error_response(REJ_INTERNAL, "out of memory"));
        }
        MHD_suspend_connection(c);
        return MHD_YES;
    }
    /* an IP address: nothing here blocks */
    rc = mailssl_probe_start(p);
    if (rc != MAILSSL_WANT_POLLIN && rc != MAILSSL_WANT_POLLOUT) {
        struct MHD_Response *resp;
        finish_probe(r);
        resp = r->resp;
        r->resp = NULL;
        return queue(c, r->code, resp);
    }
    r->want = rc;
    X.inflight[X.ninflight++] = r;
    MHD_suspend_connection(c);
    return MHD_YES;
}

/* ---- /metrics --------------------------------------------------------- */

static void family(FILE *out, const char *name, const char *type,
                   const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static enum MHD_Result handle_metrics(struct MHD_Connection *c)
{
    char *buf = NULL;
    size_t len = 0, i;
    FILE *out = open_memstream(&buf, &len);
    int code;

    if (!out)
        return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     error_response(REJ_INTERNAL, "out of memory"));
    family(out, "mailssl_exporter_probes_total", "counter",
           "Probes finished, by primary diagnosis (label code).");
    for (code = 0; code <= MAILSSL_CODE_MAX; code++) {
        const char *name = mailssl_code_name(code);
        /* the primary diagnoses always, other codes once seen */
        if (!name || (code > MAILSSL_CODE_POST_TLS_FAILED && !X.by_code[code]))
            continue;
        fprintf(out, "mailssl_exporter_probes_total{code=\"%s\"} %llu\n",
                name, (unsigned long long)X.by_code[code]);
    }
    if (X.by_code[MAILSSL_CODE_MAX + 1])
        fprintf(out, "mailssl_exporter_probes_total{code=\"unknown\"} %llu\n",
                (unsigned long long)X.by_code[MAILSSL_CODE_MAX + 1]);
    family(out, "mailssl_exporter_probes_in_flight", "gauge",
           "Probes running now.");
    fprintf(out, "mailssl_exporter_probes_in_flight %zu\n",
            probes_in_flight());
    family(out, "mailssl_exporter_probes_resolving", "gauge",
           "Probes in flight whose target host name is being resolved "
           "(--resolver-threads).");
    fprintf(out, "mailssl_exporter_probes_resolving %zu\n", X.nresolving);
    family(out, "mailssl_exporter_max_probes", "gauge",
           "Probes that may run at once (--max-probes).");
    fprintf(out, "mailssl_exporter_max_probes %d\n", X.o.max_probes);
    family(out, "mailssl_exporter_probe_duration_seconds", "histogram",
           "Wall-clock time of each probe, from its request to its answer.");
    for (i = 0; i < NBUCKETS; i++) /* counted cumulatively by record() */
        fprintf(out,
                "mailssl_exporter_probe_duration_seconds_bucket{le=\"%g\"} "
                "%llu\n", buckets[i], (unsigned long long)X.bucket[i]);
    fprintf(out,
            "mailssl_exporter_probe_duration_seconds_bucket{le=\"+Inf\"} "
            "%llu\n", (unsigned long long)X.nprobes);
    fprintf(out, "mailssl_exporter_probe_duration_seconds_sum %.6f\n",
            X.sum_seconds);
    fprintf(out, "mailssl_exporter_probe_duration_seconds_count %llu\n",
            (unsigned long long)X.nprobes);
    family(out, "mailssl_exporter_requests_rejected_total", "counter",
           "Requests answered with an error, by reason.");
    for (i = 0; i < REJ_COUNT; i++)
        fprintf(out,
                "mailssl_exporter_requests_rejected_total{reason=\"%s\"} "
                "%llu\n", reject_names[i],
                (unsigned long long)X.rejected[i]);
    family(out, "mailssl_exporter_config_reloads_total", "counter",
           "Loads of the modules file, by result.");
    fprintf(out,
            "mailssl_exporter_config_reloads_total{result=\"success\"} %llu\n"
            "mailssl_exporter_config_reloads_total{result=\"failure\"} %llu\n",
            (unsigned long long)X.reloads_ok,
            (unsigned long long)X.reloads_failed);
    family(out, "mailssl_exporter_config_last_reload_successful", "gauge",
           "1 when the last load of the modules file succeeded.");
    fprintf(out, "mailssl_exporter_config_last_reload_successful %d\n",
            X.last_reload_ok);
    family(out,
           "mailssl_exporter_config_last_reload_success_timestamp_seconds",
           "gauge", "When the modules file last loaded, seconds since the "
                    "epoch.");
    fprintf(out,
            "mailssl_exporter_config_last_reload_success_timestamp_seconds "
            "%lld\n", (long long)X.last_reload_success);
    family(out, "mailssl_exporter_modules", "gauge",
           "Modules in force.");
    fprintf(out, "mailssl_exporter_modules %zu\n", X.cfg.nmodules);
    family(out, "mailssl_exporter_build_info", "gauge",
           "The library version (label version); always 1.");
    fprintf(out, "mailssl_exporter_build_info{version=\"%s\"} 1\n",
            mailssl_version());
    if (fclose(out) != 0 || !buf) {
        free(buf);
        return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     error_response(REJ_INTERNAL, "out of memory"));
    }
    return queue(c, MHD_HTTP_OK, text_response(CONTENT_METRICS, buf, len));
}

/* ---- / ---------------------------------------------------------------- */

/* Everything that reaches the page is escaped: targets, messages and
 * module settings may carry any byte. */
static void html(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                fputc(' ', out);
            else
                fputc(ch, out);
        }
    }
}

static void cell(FILE *out, const char *s)
{
    fputs("<td>", out);
    html(out, s ? s : "-");
    fputs("</td>", out);
}

static void module_row(FILE *out, const struct ec_module *m)
{
    char buf[128];

    fputs("<tr>", out);
    cell(out, m->name);
    cell(out, m->cafile ? m->cafile : "(system store)");
    cell(out, m->servername ? m->servername : "(URL host)");
    cell(out, m->connect_to ? m->connect_to : "(URL host)");
    snprintf(buf, sizeof(buf), "%.3g s", m->timeout_ms / 1000.0);
    cell(out, buf);
    snprintf(buf, sizeof(buf), "%d / %d days", m->warn_days, m->crit_days);
    cell(out, buf);
    cell(out, m->min_version ? m->min_version : "TLS1.2");
    snprintf(buf, sizeof(buf), "%zu", m->ntlsa);
    cell(out, buf);
    fputs("</tr>\n", out);
}

static enum MHD_Result handle_index(struct MHD_Connection *c)
{
    static const char *const status_names[] = {"ok", "warning", "critical",
                                               "unknown"};
    char *buf = NULL, when[32], dur[32], entry[300];
    size_t len = 0, i;
    FILE *out = open_memstream(&buf, &len);

    if (!out)
        return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     error_response(REJ_INTERNAL, "out of memory"));
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
          "<title>mailssl-exporter</title>\n<style>body{font-family:sans-"
          "serif}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;"
          "vertical-align:top}table{border-collapse:collapse}"
          ".critical{background:#fdd}.warning{background:#ffd}"
          ".unknown{background:#eee}</style></head><body>\n"
          "<h1>mailssl-exporter</h1>\n<p>libmailssl ", out);
    html(out, mailssl_version());
    fputs(", listening on ", out);
    html(out, X.listen_text);
    fputs(". <a href=\"/metrics\">/metrics</a> &middot; probe with "
          "<code>/probe?target=imaps://HOST:993&amp;module=NAME</code></p>\n"
          "<h2>Modules</h2>\n<table><tr><th>module</th><th>cafile</th>"
          "<th>servername</th><th>connect-to</th><th>timeout</th>"
          "<th>warn / crit</th><th>min-version</th><th>TLSA</th></tr>\n",
          out);
    for (i = 0; i < X.cfg.nmodules; i++)
        module_row(out, &X.cfg.modules[i]);
    fputs("</table>\n<h2>Allowed targets</h2>\n<p>", out);
    if (!X.nallow)
        fputs("loopback only (the default: 127.0.0.0/8, ::1, localhost)",
              out);
    for (i = 0; i < X.nallow; i++) {
        ec_allow_format(&X.allow[i], entry, sizeof(entry));
        if (i)
            fputs(", ", out);
        fputs("<code>", out);
        html(out, entry);
        fputs("</code>", out);
    }
    fprintf(out, "</p>\n<h2>Last %zu probes</h2>\n<table><tr><th>time (UTC)"
                 "</th><th>target</th><th>module</th><th>status</th>"
                 "<th>diagnosis</th><th>last stage completed</th>"
                 "<th>time</th><th>message</th></tr>\n", X.ring_used);
    for (i = 0; i < X.ring_used; i++) {
        size_t k = (X.ring_next + (size_t)X.o.history - 1 - i) %
                   (size_t)X.o.history;
        const struct result *res = &X.ring[k];
        const char *st = status_names[res->status >= 0 && res->status <= 3
                                          ? res->status
                                          : 3];
        struct tm tm;

        if (!gmtime_r(&res->when, &tm) ||
            !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
            snprintf(when, sizeof(when), "?");
        snprintf(dur, sizeof(dur), "%.1f ms", res->duration_us / 1000.0);
        fprintf(out, "<tr class=\"%s\">", st);
        cell(out, when);
        cell(out, res->target);
        cell(out, res->module);
        cell(out, st);
        cell(out, res->diagnosis);
        cell(out, res->stage);
        cell(out, dur);
        cell(out, res->message);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n</body></html>\n", out);
    if (fclose(out) != 0 || !buf) {
        free(buf);
        return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     error_response(REJ_INTERNAL, "out of memory"));
    }
    return queue(c, MHD_HTTP_OK, text_response(CONTENT_HTML, buf, len));
}

/* ---- libmicrohttpd callbacks ------------------------------------------ */

/* Called first for every request with the whole URI: the request struct
 * is made here, so that the URI's length is known. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct request *r = calloc(1, sizeof(*r));

    (void)cls;
    (void)c;
    if (r)
        r->uri_len = strlen(uri);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct request *r = *con_cls;

    (void)cls;
    (void)version;
    (void)upload;
    if (!r)
        return MHD_NO;
    if (r->resp) { /* resumed: the probe is done */
        struct MHD_Response *resp = r->resp;
        r->resp = NULL;
        return queue(c, r->code, resp);
    }
    if (r->probe)
        return MHD_YES; /* still running (spurious call) */
    /* GET and HEAD are answered once the whole request is in (the call
     * with no more upload): an answer queued earlier closes the
     * connection, and Prometheus keeps its connections alive. Any other
     * method is refused at once, without reading its body. */
    if (!r->headers_seen && (strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                             strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)) {
        r->headers_seen = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* a body on GET: ignored */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        struct MHD_Response *resp =
            error_response(REJ_METHOD, "method %.16s not allowed (GET, HEAD)",
                           method);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
    }
    if (r->uri_len > MAX_URL_LENGTH)
        return queue(c, MHD_HTTP_URI_TOO_LONG,
                     error_response(REJ_TOO_LONG,
                                    "request URI of %zu bytes: at most "
                                    "%d", r->uri_len, MAX_URL_LENGTH));
    if (strcmp(url, "/probe") == 0)
        return handle_probe(c, r);
    if (strcmp(url, "/metrics") == 0)
        return handle_metrics(c);
    if (strcmp(url, "/") == 0)
        return handle_index(c);
    return queue(c, MHD_HTTP_NOT_FOUND,
                 error_response(REJ_NOT_FOUND,
                                "no such page (/probe, /metrics, /)"));
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct request *r = *con_cls;

    (void)cls;
    (void)c;
    (void)why;
    if (!r)
        return;
    /* a probe is never running here: its connection stays suspended */
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r->target);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fprintf(stderr, "%s: http: ", PROG);
    vfprintf(stderr, fmt, ap);
}

/* ---- the loop --------------------------------------------------------- */

static void on_signal(int sig)
{
    char c = sig == SIGHUP ? 'H' : 'T';
    int saved = errno;

    if (write(X.signal_pipe[1], &c, 1) < 0) {
        /* the pipe is full: a signal of that kind is pending anyway */
    }
    errno = saved;
}

static int setup_signals(void)
{
    struct sigaction sa;

    if (pipe2(X.signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

/* Steps the probes that are ready or past their deadline; resumes the
 * connections of those that finished. pfd[i] belongs to X.inflight[i]. */
static void step_probes(const struct pollfd *pfd)
{
    size_t i = X.ninflight;

    while (i-- > 0) {
        struct request *r = X.inflight[i];
        int rc;

        if (!pfd[i].revents && mailssl_probe_timeout_left_ms(r->probe) != 0)
            continue;
        rc = mailssl_probe_step(r->probe);
        if (rc == MAILSSL_WANT_POLLIN || rc == MAILSSL_WANT_POLLOUT) {
            r->want = rc;
            continue;
        }
        finish_probe(r);
        X.inflight[i] = X.inflight[--X.ninflight];
        MHD_resume_connection(r->conn);
    }
}

/* SIGTERM: the probes in flight are answered 503 and the loop ends. */
static void abort_probes(void)
{
    while (X.ninflight > 0) {
        struct request *r = X.inflight[--X.ninflight];
        mailssl_probe_free(r->probe);
        r->probe = NULL;
        answer_unavailable(r, error_response(REJ_OVERLOAD, "shutting down"));
    }
}

static int run_loop(void)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(X.d, MHD_DAEMON_INFO_EPOLL_FD);
    struct pollfd *pfd;
    int mhd_fd, stop = 0;

    if (!info) {
        logmsg("libmicrohttpd has no epoll descriptor");
        return -1;
    }
    mhd_fd = info->epoll_fd;
    /* the probes first (pfd[i] for X.inflight[i]), then the signal pipe,
     * libmicrohttpd and the resolver threads' pipe */
    pfd = calloc((size_t)X.o.max_probes + 3, sizeof(*pfd));
    if (!pfd) {
        logmsg("out of memory");
        return -1;
    }
    while (!stop) {
        size_t i, n = X.ninflight;
        MHD_UNSIGNED_LONG_LONG mhd_to;
        int timeout = -1;

        for (i = 0; i < n; i++) {
            const struct request *r = X.inflight[i];
            int32_t left = mailssl_probe_timeout_left_ms(r->probe);
            pfd[i].fd = mailssl_probe_fd(r->probe);
            pfd[i].events = r->want == MAILSSL_WANT_POLLOUT ? POLLOUT : POLLIN;
            pfd[i].revents = 0;
            if (left >= 0 && (timeout < 0 || left < timeout))
                timeout = left;
        }
        pfd[n].fd = X.signal_pipe[0];
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        pfd[n + 1].fd = mhd_fd;
        pfd[n + 1].events = POLLIN;
        pfd[n + 1].revents = 0;
        pfd[n + 2].fd = R.wake[0];
        pfd[n + 2].events = POLLIN;
        pfd[n + 2].revents = 0;
        if (MHD_get_timeout(X.d, &mhd_to) == MHD_YES &&
            (timeout < 0 || mhd_to < (MHD_UNSIGNED_LONG_LONG)timeout))
            timeout = mhd_to > INT32_MAX ? INT32_MAX : (int)mhd_to;
        if (poll(pfd, n + 3, timeout) < 0 && errno != EINTR) {
            logmsg("poll: %s", strerror(errno));
            break;
        }
        if (pfd[n].revents) {
            char sig[16];
            ssize_t got, k;
            int hup = 0;
            while ((got = read(X.signal_pipe[0], sig, sizeof(sig))) > 0)
                for (k = 0; k < got; k++) {
                    if (sig[k] == 'H')
                        hup = 1;
                    else
                        stop = 1;
                }
            if (hup && !stop)
                load_config(0);
        }
        step_probes(pfd);
        if (pfd[n + 2].revents) /* after the steps: it adds to inflight */
            resolver_collect();
        MHD_run(X.d);
    }
    free(pfd);
    abort_probes();
    resolver_stop();
    MHD_run(X.d);
    return 0;
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    int rc, fd, status = EXIT_USAGE;

    rc = parse_args(argc, argv, &X.o);
    if (rc != 0) {
        free(X.o.allow);
        return rc > 0 ? (fflush(stdout) == 0 ? 0 : EXIT_USAGE) : EXIT_USAGE;
    }
    rc = mailssl_init();
    if (rc < 0) {
        logmsg("cannot initialise the library: %s", mailssl_strerror(rc));
        free(X.o.allow);
        return EXIT_USAGE;
    }
    if (load_config(1) < 0)
        goto out;
    if (X.o.history > 0) {
        X.ring = calloc((size_t)X.o.history, sizeof(*X.ring));
        if (!X.ring)
            goto oom;
    }
    X.inflight = calloc((size_t)X.o.max_probes, sizeof(*X.inflight));
    X.resolving = calloc((size_t)X.o.max_probes, sizeof(*X.resolving));
    if (!X.inflight || !X.resolving)
        goto oom;
    /* every probe and connection is a descriptor */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (setup_signals() < 0) {
        logmsg("cannot set up signals: %s", strerror(errno));
        goto out;
    }
    status = 1;
    fd = open_listener(X.o.listen, X.listen_text, sizeof(X.listen_text));
    if (fd < 0) {
        status = fd == -2 ? EXIT_USAGE : 1;
        goto out;
    }
    X.d = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)X.o.max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)IDLE_TIMEOUT_S,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0U, MHD_OPTION_END);
    if (!X.d) {
        logmsg("cannot start the HTTP server on %s", X.listen_text);
        close(fd);
        goto out;
    }
    if (resolver_start(X.o.resolver_threads) < 0) {
        logmsg("cannot start the resolver threads: %s", strerror(errno));
        resolver_stop();
        MHD_stop_daemon(X.d);
        goto out;
    }
    printf("%s: listening on http://%s/\n", PROG, X.listen_text);
    fflush(stdout);
    status = run_loop() == 0 ? 0 : 1;
    MHD_stop_daemon(X.d); /* closes the listening socket too */
    if (resolver_stop() == 0) {
        /* a thread is still inside getaddrinfo with a probe: nothing it
         * may touch is freed, the process just ends */
        logmsg("stopped (a name resolution still running was abandoned)");
        fflush(stdout);
        _exit(status);
    }
    logmsg("stopped");
    goto out;
oom:
    logmsg("out of memory");
out:
    if (X.ring) {
        size_t i;
        for (i = 0; i < (size_t)X.o.history; i++) {
            free(X.ring[i].target);
            free(X.ring[i].module);
            free(X.ring[i].message);
        }
        free(X.ring);
    }
    free(X.inflight);
    free(X.resolving);
    free(X.allow);
    free(X.o.allow);
    ec_free(&X.cfg);
    mailssl_deinit();
    return status;
}
