/*
 * probe.c - the handshake probe: settings, the non-blocking state machine
 * (resolve, connect, plaintext dialogue, STARTTLS, handshake, verify,
 * post-TLS dialogue), deadlines, and the result accessors.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "probe_internal.h"

#define NO_DEADLINE INT64_MAX

static const char *const stage_names[] = {
    "none",      "resolve", "connect",  "greeting", "starttls",
    "handshake", "verify",  "post-tls", "done",     "total",
    "dane",
};

MAILSSL_EXPORT const char *mailssl_stage_name(int stage)
{
    if (stage < 0 || stage > MAILSSL_STAGE_DANE)
        return NULL;
    return stage_names[stage];
}

/* ---- object and settings ------------------------------------------------ */

MAILSSL_EXPORT mailssl_probe *mailssl_probe_new(const char *url)
{
    mailssl_probe *p;
    int i;

    if (!mailssl__initialized())
        return NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->findings = mailssl_report_new();
    if (!p->findings) {
        free(p);
        return NULL;
    }
    p->fd = -1;
    p->timeout_ms = 10000;
    p->warn_days = 30;
    p->crit_days = 7;
    p->min_version = GNUTLS_TLS1_2;
    p->status = MAILSSL_SEVERITY_UNKNOWN;
    p->diagnosis = MAILSSL_ERR_STATE;
    for (i = 0; i <= MAILSSL_STAGE_DANE; i++)
        p->timing[i] = -1;
    p->dane_matched = -1;
    p->mx_preference = -1;
    mailssl__buf_init(&p->out);
    p->url_ok = mailssl__url_parse(url, &p->service, p->host, sizeof p->host,
                                   &p->port, p->err, sizeof p->err) == 0;
    if (!p->url_ok) {
        p->service = MAILSSL_SERVICE_ANY;
        p->host[0] = '\0';
        p->port = 0;
    }
    return p;
}

/* Releases what a running probe holds (socket, TLS, dialogue, buffers). */
static void release_run(mailssl_probe *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    mailssl__probe_tls_free(p);
    if (p->dlg_inited)
        mailssl__dialogue_clear(&p->dlg);
    p->dlg_inited = 0;
    mailssl__buf_free(&p->out);
    p->outoff = 0;
    if (p->ai_list)
        freeaddrinfo(p->ai_list);
    p->ai_list = p->ai_cur = NULL;
    mailssl__probe_dane_release(p);
}

MAILSSL_EXPORT void mailssl_probe_free(mailssl_probe *p)
{
    size_t i;

    if (!p)
        return;
    release_run(p);
    free(p->cafile);
    free(p->servername);
    free(p->connect_host);
    free(p->priority);
    if (p->client_cred)
        mailssl_credential_free(p->client_cred);
    for (i = 0; i < p->ntlsa; i++)
        free(p->tlsa[i].data);
    free(p->tlsa);
    for (i = 0; i < p->ndane; i++)
        free(p->dane_recs[i].data);
    free(p->dane_recs);
    free(p->dns_anchor);
    free(p->dns_resolver);
    mailssl__probe_mx_free(p);
    mailssl__dialogue_caps_free(p->caps, p->ncaps);
    if (p->have_cert)
        mailssl__certinfo_clear(&p->cert);
    mailssl_report_free(p->findings);
    free(p);
}

MAILSSL_EXPORT const char *mailssl_probe_error(const mailssl_probe *p)
{
    return p ? p->err : "";
}

/* Common checks of the setters. */
static int settable(mailssl_probe *p)
{
    if (!p)
        return MAILSSL_ERR_INVALID;
    if (p->started) {
        mailssl__set_error(p->err, sizeof p->err,
                           "the probe has already started");
        return MAILSSL_ERR_STATE;
    }
    return MAILSSL_OK;
}

int mailssl__probe_settable(mailssl_probe *p)
{
    return settable(p);
}

static int set_string(mailssl_probe *p, char **dst, const char *value)
{
    char *copy = NULL;

    if (value) {
        copy = mailssl__strdup(value);
        if (!copy)
            return MAILSSL_ERR_NOMEM;
    }
    free(*dst);
    *dst = copy;
    (void)p;
    return MAILSSL_OK;
}

/* A file name setting: NULL (the default), or 1 to PATH_MAX - 1 bytes. */
static int set_path(mailssl_probe *p, char **dst, const char *path,
                    const char *what)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (path && (!*path || strnlen(path, PATH_MAX) >= PATH_MAX)) {
        mailssl__set_error(p->err, sizeof p->err,
                           *path ? "%s file name too long"
                                 : "empty %s file name",
                           what);
        return *path ? MAILSSL_ERR_TOO_LONG : MAILSSL_ERR_INVALID;
    }
    return set_string(p, dst, path);
}

MAILSSL_EXPORT int mailssl_probe_set_cafile(mailssl_probe *p, const char *path)
{
    return p ? set_path(p, &p->cafile, path, "CA") : MAILSSL_ERR_INVALID;
}

MAILSSL_EXPORT int mailssl_probe_set_servername(mailssl_probe *p,
                                                const char *name)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (name && (!*name || strlen(name) > 253)) {
        mailssl__set_error(p->err, sizeof p->err, "bad server name");
        return MAILSSL_ERR_INVALID;
    }
    if (name) {
        /* never sent as SNI nor checked: blanks and control characters */
        const unsigned char *c;
        for (c = (const unsigned char *)name; *c; c++)
            if (*c <= ' ' || *c == 0x7f) {
                mailssl__set_error(p->err, sizeof p->err,
                                   "bad server name: blank or control "
                                   "character");
                return MAILSSL_ERR_SYNTAX;
            }
    }
    return set_string(p, &p->servername, name);
}

MAILSSL_EXPORT int mailssl_probe_set_connect_to(mailssl_probe *p,
                                                const char *address)
{
    char host[MAILSSL_HOST_MAX];
    int port = 0, rc = settable(p);

    if (rc < 0)
        return rc;
    if (!address) {
        p->connect_port = 0;
        return set_string(p, &p->connect_host, NULL);
    }
    if (mailssl__hostport_parse(address, host, sizeof host, &port, p->err,
                                sizeof p->err) < 0)
        return MAILSSL_ERR_SYNTAX;
    rc = set_string(p, &p->connect_host, host);
    if (rc == MAILSSL_OK)
        p->connect_port = port;
    return rc;
}

MAILSSL_EXPORT int mailssl_probe_set_family(mailssl_probe *p, int family)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (family != 0 && family != 4 && family != 6) {
        mailssl__set_error(p->err, sizeof p->err,
                           "family must be 0, 4 or 6");
        return MAILSSL_ERR_INVALID;
    }
    p->family = family;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_probe_set_timeout_ms(mailssl_probe *p, int32_t ms)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (ms <= 0) {
        mailssl__set_error(p->err, sizeof p->err, "timeout must be > 0");
        return MAILSSL_ERR_INVALID;
    }
    p->timeout_ms = ms;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_probe_set_stage_timeout_ms(mailssl_probe *p,
                                                      int stage, int32_t ms)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (((stage < MAILSSL_STAGE_CONNECT || stage > MAILSSL_STAGE_POST_TLS) &&
         stage != MAILSSL_STAGE_DANE) ||
        ms < 0) {
        mailssl__set_error(p->err, sizeof p->err,
                           "stage must be CONNECT..POST_TLS or DANE and ms "
                           ">= 0 (0: no limit of the stage's own)");
        return MAILSSL_ERR_INVALID;
    }
    p->stage_timeout_ms[stage] = ms;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_probe_set_days(mailssl_probe *p, int warn_days,
                                          int crit_days)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (crit_days < 0 || warn_days < crit_days || warn_days > 36500) {
        mailssl__set_error(p->err, sizeof p->err,
                           "need 0 <= crit_days <= warn_days <= 36500");
        return MAILSSL_ERR_INVALID;
    }
    p->warn_days = warn_days;
    p->crit_days = crit_days;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_probe_set_priority(mailssl_probe *p,
                                              const char *priority)
{
    gnutls_priority_t pc;
    const char *where = NULL;
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (priority) {
        if (gnutls_priority_init(&pc, priority, &where) < 0) {
            mailssl__set_error(p->err, sizeof p->err,
                               "bad priority string at \"%s\"",
                               where ? where : priority);
            return MAILSSL_ERR_SYNTAX;
        }
        gnutls_priority_deinit(pc);
    }
    return set_string(p, &p->priority, priority);
}

MAILSSL_EXPORT int mailssl_probe_set_min_version(mailssl_probe *p,
                                                 const char *version)
{
    static const struct {
        const char *name;
        int v;
    } versions[] = {{"TLS1.0", GNUTLS_TLS1_0},
                    {"TLS1.1", GNUTLS_TLS1_1},
                    {"TLS1.2", GNUTLS_TLS1_2},
                    {"TLS1.3", GNUTLS_TLS1_3}};
    size_t i;
    int rc = settable(p);

    if (rc < 0)
        return rc;
    for (i = 0; version && i < sizeof versions / sizeof versions[0]; i++) {
        if (strcmp(version, versions[i].name) == 0) {
            p->min_version = versions[i].v;
            return MAILSSL_OK;
        }
    }
    mailssl__set_error(p->err, sizeof p->err,
                       "minimum version must be TLS1.0, TLS1.1, TLS1.2 or "
                       "TLS1.3");
    return MAILSSL_ERR_INVALID;
}

MAILSSL_EXPORT int mailssl_probe_set_client_credential(mailssl_probe *p,
                                                       mailssl_credential *c)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (c && (!c->loaded || !c->key_matches || c->ncerts == 0)) {
        mailssl__set_error(p->err, sizeof p->err,
                           "the client credential is not loaded");
        return MAILSSL_ERR_CREDENTIAL;
    }
    if (p->client_cred)
        mailssl_credential_free(p->client_cred);
    p->client_cred = c ? mailssl__credential_ref(c) : NULL;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_probe_add_tlsa(mailssl_probe *p, int usage,
                                          int selector, int matching_type,
                                          const unsigned char *data,
                                          size_t data_len)
{
    struct mailssl_probe_tlsa *t;
    int rc = settable(p);

    if (rc < 0)
        return rc;
    /* the same rules as mailssl_validator_add_tlsa(): any field value of
     * RFC 6698 is taken, and validation reports the records RFC 7672 makes
     * unusable (usages 0/1, unknown values) as dane-unusable */
    if (usage < 0 || usage > 255 || selector < 0 || selector > 255 ||
        matching_type < 0 || matching_type > 255 || !data || data_len == 0) {
        mailssl__set_error(p->err, sizeof p->err,
                           "invalid TLSA record: usage, selector and "
                           "matching type are 0-255 and data is not empty");
        return MAILSSL_ERR_INVALID;
    }
    if (data_len > 65535 - 3) {
        mailssl__set_error(p->err, sizeof p->err,
                           "TLSA data of %zu bytes: at most 65532", data_len);
        return MAILSSL_ERR_TOO_LONG;
    }
    if (p->ntlsa >= 64) {
        mailssl__set_error(p->err, sizeof p->err,
                           "at most 64 TLSA records a probe");
        return MAILSSL_ERR_TOO_LONG;
    }
    t = realloc(p->tlsa, (p->ntlsa + 1) * sizeof *t);
    if (!t)
        return MAILSSL_ERR_NOMEM;
    p->tlsa = t;
    t = &p->tlsa[p->ntlsa];
    t->data = malloc(data_len);
    if (!t->data)
        return MAILSSL_ERR_NOMEM;
    memcpy(t->data, data, data_len);
    t->len = data_len;
    t->usage = usage;
    t->selector = selector;
    t->matching_type = matching_type;
    p->ntlsa++;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_probe_set_time(mailssl_probe *p,
                                          int64_t epoch_seconds)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (epoch_seconds < 0) {
        mailssl__set_error(p->err, sizeof p->err,
                           "the validation time must be >= 0 (0: now)");
        return MAILSSL_ERR_INVALID;
    }
    p->vtime = epoch_seconds;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_probe_set_dane(mailssl_probe *p, int mode)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (mode != MAILSSL_DANE_OFF && mode != MAILSSL_DANE_OPPORTUNISTIC &&
        mode != MAILSSL_DANE_REQUIRED) {
        mailssl__set_error(p->err, sizeof p->err,
                           "DANE mode must be MAILSSL_DANE_OFF (0), "
                           "_OPPORTUNISTIC (1) or _REQUIRED (2)");
        return MAILSSL_ERR_INVALID;
    }
    p->dane_mode = mode;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_probe_set_dns_anchor_file(mailssl_probe *p,
                                                     const char *path)
{
    return p ? set_path(p, &p->dns_anchor, path, "trust anchor")
             : MAILSSL_ERR_INVALID;
}

/* "ADDR" or "ADDR@PORT" with ADDR an IP literal: libunbound's form. */
static int resolver_parse(const char *text, char *err, size_t errlen)
{
    char addr[64];
    const char *at = strchr(text, '@');
    size_t n = at ? (size_t)(at - text) : strlen(text);

    if (n == 0 || n >= sizeof addr) {
        mailssl__set_error(err, errlen,
                           "bad DNS resolver \"%.80s\": ADDR[@PORT] with "
                           "ADDR an IPv4 or IPv6 address",
                           text);
        return MAILSSL_ERR_SYNTAX;
    }
    memcpy(addr, text, n);
    addr[n] = '\0';
    if (!mailssl__is_ip_literal(addr)) {
        mailssl__set_error(err, errlen,
                           "bad DNS resolver \"%.80s\": %s is not an IP "
                           "address",
                           text, addr);
        return MAILSSL_ERR_SYNTAX;
    }
    if (at) {
        char *end;
        long port;

        errno = 0;
        port = strtol(at + 1, &end, 10);
        if (!at[1] || *end || errno || port < 1 || port > 65535 ||
            at[1] == '+' || at[1] == '-' || at[1] == ' ') {
            mailssl__set_error(err, errlen,
                               "bad DNS resolver \"%.80s\": the port must "
                               "be 1-65535",
                               text);
            return MAILSSL_ERR_SYNTAX;
        }
    }
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_probe_set_dns_resolver(mailssl_probe *p,
                                                  const char *address)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (address && resolver_parse(address, p->err, sizeof p->err) < 0)
        return MAILSSL_ERR_SYNTAX;
    return set_string(p, &p->dns_resolver, address);
}

/* ---- ending a probe ----------------------------------------------------- */

static void finish(mailssl_probe *p)
{
    int64_t now = mailssl__now_us();

    if (p->dlg_inited && p->dlg.stage == MAILSSL_STAGE_POST_TLS &&
        p->dlg.ncaps > 0 && !p->caps) {
        /* take the post-TLS capabilities (never the pre-TLS ones), and
         * only from a post-TLS dialogue that completed: a list cut short
         * is not what the server announced */
        p->caps = p->dlg.caps;
        p->ncaps = p->dlg.ncaps;
        p->dlg.caps = NULL;
        p->dlg.ncaps = 0;
    }
    release_run(p);
    /* the stage that failed ran too: its time says how long it waited */
    if (p->stage_start && p->cur_stage > MAILSSL_STAGE_NONE &&
        (p->cur_stage < MAILSSL_STAGE_DONE ||
         p->cur_stage == MAILSSL_STAGE_DANE) &&
        p->timing[p->cur_stage] < 0)
        p->timing[p->cur_stage] = now - p->stage_start;
    if (p->t_start)
        p->timing[MAILSSL_STAGE_TOTAL] = now - p->t_start;
    p->state = PS_DONE;
    p->want = MAILSSL_OK;
}

void mailssl__probe_fail(mailssl_probe *p, int code, int severity,
                         const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
    p->diagnosis = code;
    p->status = mailssl__worse(severity,
                               mailssl_report_status(p->findings));
    finish(p);
}

/* Misuse or a local failure: status unknown, no diagnosis code. */
static int fail_unknown(mailssl_probe *p, int err)
{
    mailssl__set_error(p->message, sizeof p->message, "%s", p->err);
    p->diagnosis = MAILSSL_ERR_STATE;
    p->status = MAILSSL_SEVERITY_UNKNOWN;
    finish(p);
    return err;
}

/* ---- stages and deadlines ----------------------------------------------- */

static void stage_begin(mailssl_probe *p, int stage)
{
    int64_t now = mailssl__now_us();

    p->cur_stage = stage;
    p->stage_start = now;
    p->stage_deadline = p->stage_timeout_ms[stage]
                            ? now + (int64_t)p->stage_timeout_ms[stage] * 1000
                            : NO_DEADLINE;
}

static void stage_end(mailssl_probe *p, int stage)
{
    p->timing[stage] = mailssl__now_us() - p->stage_start;
    p->stage = stage;
}

static int64_t deadline_of(const mailssl_probe *p)
{
    int64_t d = p->deadline;

    if (p->stage_deadline < d)
        d = p->stage_deadline;
    return d;
}

/* Per-address deadline while connecting: the connect budget left is
 * shared among the addresses not yet tried. */
static int64_t connect_deadline(const mailssl_probe *p, int64_t now)
{
    int64_t d = deadline_of(p);
    int left = p->naddr - p->naddr_tried + 1;

    if (d == NO_DEADLINE || left <= 1)
        return d;
    return now + (d - now) / left;
}

/* ---- connect ------------------------------------------------------------ */

static int begin_tls(mailssl_probe *p);
static int dialogue_io(mailssl_probe *p);
static int begin_connect(mailssl_probe *p);
static int dane_done(mailssl_probe *p);
static int try_next_address(mailssl_probe *p);

static int connect_failed(mailssl_probe *p)
{
    int e = p->connect_errno;
    const char *target = p->connect_host ? p->connect_host : p->host;
    int port = p->connect_port ? p->connect_port : p->port;

    if (e == ECONNREFUSED)
        mailssl__probe_fail(p, MAILSSL_CODE_CONNECT_REFUSED,
                            MAILSSL_SEVERITY_CRITICAL,
                            "connection refused by %s port %d (%d address%s "
                            "tried): nothing listens there",
                            p->address[0] ? p->address : target, port,
                            p->naddr_tried, p->naddr_tried == 1 ? "" : "es");
    else if (e == ETIMEDOUT)
        mailssl__probe_fail(p, MAILSSL_CODE_CONNECT_TIMEOUT,
                            MAILSSL_SEVERITY_CRITICAL,
                            "no TCP connection to %s port %d within the "
                            "deadline (%d address%s tried)",
                            target, port, p->naddr_tried,
                            p->naddr_tried == 1 ? "" : "es");
    else
        mailssl__probe_fail(p, MAILSSL_CODE_CONNECT_FAILED,
                            MAILSSL_SEVERITY_CRITICAL,
                            "cannot connect to %s port %d: %s", target, port,
                            strerror(e));
    return MAILSSL_OK;
}

/* Starts connecting to the next address; returns WANT_POLLOUT or OK when
 * every address failed (probe finished). */
static int try_next_address(mailssl_probe *p)
{
    while (p->ai_cur) {
        struct addrinfo *ai = p->ai_cur;
        int fd;

        p->ai_cur = ai->ai_next;
        p->naddr_tried++;
        mailssl__sockaddr_text(ai->ai_addr, p->address, sizeof p->address);
        fd = mailssl__connect_start(ai);
        if (fd < 0) {
            p->connect_errno = -fd;
            continue;
        }
        p->fd = fd;
        p->state = PS_CONNECTING;
        p->want = MAILSSL_WANT_POLLOUT;
        p->addr_deadline = connect_deadline(p, mailssl__now_us());
        return MAILSSL_WANT_POLLOUT;
    }
    return connect_failed(p);
}

static int connected(mailssl_probe *p)
{
    stage_end(p, MAILSSL_STAGE_CONNECT);
    if (p->implicit)
        return begin_tls(p);
    if (mailssl__dialogue_init(&p->dlg, p->service) < 0) {
        mailssl__set_error(p->err, sizeof p->err, "no dialogue for service");
        fail_unknown(p, MAILSSL_ERR_INVALID);
        return MAILSSL_OK;
    }
    p->dlg_inited = 1;
    stage_begin(p, MAILSSL_STAGE_GREETING);
    p->state = PS_DIALOGUE;
    p->phase_lines = p->phase_bytes = 0;
    switch (mailssl__dialogue_begin(&p->dlg, MAILSSL_PHASE_PRE_TLS, &p->out)) {
    case MAILSSL_DLG_MORE:
        break;
    default:
        mailssl__probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                            MAILSSL_SEVERITY_UNKNOWN,
                            "internal: the dialogue refused to begin");
        return MAILSSL_OK;
    }
    return dialogue_io(p);
}

static int connect_step(mailssl_probe *p)
{
    struct pollfd pfd;
    int e;

    pfd.fd = p->fd;
    pfd.events = POLLOUT;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) == 0)
        return MAILSSL_WANT_POLLOUT; /* called before the socket was ready */
    e = mailssl__connect_result(p->fd);
    if (e == 0)
        return connected(p);
    p->connect_errno = e;
    close(p->fd);
    p->fd = -1;
    return try_next_address(p);
}

/* ---- dialogue I/O ------------------------------------------------------- */

/* Internal results of the I/O helpers, apart from MAILSSL_WANT_*. */
#define IO_AGAIN 1 /* keep looping */
#define IO_DONE 2  /* the probe finished (diagnosis set) */

/* Sends what is queued; 0 when all is sent, or a MAILSSL_WANT_*, or
 * IO_DONE (failure, probe finished). */
static int flush_out(mailssl_probe *p)
{
    while (p->outoff < p->out.len) {
        const char *d = p->out.data + p->outoff;
        size_t n = p->out.len - p->outoff;
        ssize_t w;

        if (p->tls_on) {
            w = gnutls_record_send(p->sess, d, n);
            if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                return gnutls_record_get_direction(p->sess)
                           ? MAILSSL_WANT_POLLOUT
                           : MAILSSL_WANT_POLLIN;
            if (w < 0) {
                mailssl__probe_fail(p, MAILSSL_CODE_POST_TLS_FAILED,
                                    MAILSSL_SEVERITY_CRITICAL,
                                    "sending over TLS failed: %s",
                                    gnutls_strerror((int)w));
                return IO_DONE;
            }
        } else {
            w = send(p->fd, d, n, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                          errno == EINTR))
                return MAILSSL_WANT_POLLOUT;
            if (w < 0) {
                int code = mailssl__dialogue_timeout_code(&p->dlg);

                mailssl__probe_fail(p,
                                    code == MAILSSL_CODE_GREETING_TIMEOUT
                                        ? MAILSSL_CODE_GREETING_REJECTED
                                        : MAILSSL_CODE_PROTOCOL_ERROR,
                                    MAILSSL_SEVERITY_CRITICAL,
                                    "sending to the server failed: %s",
                                    strerror(errno));
                return IO_DONE;
            }
        }
        p->outoff += (size_t)w;
    }
    p->out.len = 0;
    p->outoff = 0;
    return 0;
}

/* One attempt to send a polite QUIT/LOGOUT; never waits. */
static void send_best_effort(mailssl_probe *p)
{
    if (p->out.len > p->outoff && p->fd >= 0)
        (void)flush_out(p);
}

static void dialogue_eof(mailssl_probe *p, const char *why)
{
    int code = mailssl__dialogue_timeout_code(&p->dlg);

    if (p->inlen > 0) {
        /* complete lines were all fed: what is left is a line cut off,
         * quoted with the code of its phase */
        (void)mailssl__dialogue_cut_off(&p->dlg, (const char *)p->in,
                                        p->inlen, why);
        mailssl__probe_fail(p, p->dlg.code, MAILSSL_SEVERITY_CRITICAL, "%s",
                            p->dlg.message);
    } else if (p->tls_on)
        mailssl__probe_fail(p, MAILSSL_CODE_POST_TLS_FAILED,
                            MAILSSL_SEVERITY_CRITICAL,
                            "after the TLS handshake the server %s", why);
    else if (code == MAILSSL_CODE_GREETING_TIMEOUT)
        mailssl__probe_fail(p, MAILSSL_CODE_GREETING_REJECTED,
                            MAILSSL_SEVERITY_CRITICAL,
                            "the server %s before sending a greeting", why);
    else
        mailssl__probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                            MAILSSL_SEVERITY_CRITICAL,
                            "the server %s during the capability/STARTTLS "
                            "exchange",
                            why);
}

/* Reads what is available into p->in: IO_AGAIN when bytes came, a
 * MAILSSL_WANT_* when none, IO_DONE when the probe finished. */
static int fill_in(mailssl_probe *p)
{
    size_t room = sizeof p->in - p->inlen;
    ssize_t n;

    if (p->tls_on) {
        n = gnutls_record_recv(p->sess, p->in + p->inlen, room);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            return gnutls_record_get_direction(p->sess) ? MAILSSL_WANT_POLLOUT
                                                        : MAILSSL_WANT_POLLIN;
        if (n == GNUTLS_E_REHANDSHAKE || n == GNUTLS_E_WARNING_ALERT_RECEIVED)
            return IO_AGAIN;
        if (n == 0) {
            dialogue_eof(p, "closed the TLS connection (close_notify)");
            return IO_DONE;
        }
        if (n == GNUTLS_E_FATAL_ALERT_RECEIVED) {
            char an[160], why[200];

            mailssl__probe_alert_text((int)gnutls_alert_get(p->sess), an,
                                      sizeof an);
            snprintf(why, sizeof why, "sent the fatal alert %s", an);
            dialogue_eof(p, why);
            return IO_DONE;
        }
        if (n < 0) {
            dialogue_eof(p, n == GNUTLS_E_PREMATURE_TERMINATION
                                ? "closed the connection without close_notify"
                                : gnutls_strerror((int)n));
            return IO_DONE;
        }
    } else {
        n = recv(p->fd, p->in + p->inlen, room, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                      errno == EINTR))
            return MAILSSL_WANT_POLLIN;
        if (n == 0) {
            dialogue_eof(p, "closed the connection");
            return IO_DONE;
        }
        if (n < 0) {
            dialogue_eof(p, errno == ECONNRESET ? "reset the connection"
                                                : strerror(errno));
            return IO_DONE;
        }
    }
    p->inlen += (size_t)n;
    p->phase_bytes += (size_t)n;
    if (p->phase_bytes > MAILSSL_PROBE_MAX_PHASE_BYTES) {
        mailssl__probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                            MAILSSL_SEVERITY_CRITICAL,
                            "the server sent more than %d bytes in one "
                            "phase of the dialogue",
                            MAILSSL_PROBE_MAX_PHASE_BYTES);
        return IO_DONE;
    }
    return IO_AGAIN;
}

static void take_stage_progress(mailssl_probe *p)
{
    if (!p->tls_on && p->cur_stage == MAILSSL_STAGE_GREETING &&
        p->dlg.stage >= MAILSSL_STAGE_GREETING) {
        stage_end(p, MAILSSL_STAGE_GREETING);
        stage_begin(p, MAILSSL_STAGE_STARTTLS);
    }
}

static void probe_done_ok(mailssl_probe *p);

/* Feeds the complete lines of p->in to the dialogue. Returns IO_AGAIN
 * when more input is needed, otherwise the value for the caller (probe
 * finished: MAILSSL_OK; handshake started: its WANT). */
static int feed_lines(mailssl_probe *p)
{
    size_t pos = 0;
    int r = MAILSSL_DLG_MORE, unsent;

    while (p->state == PS_DIALOGUE) {
        unsigned char *nl = memchr(p->in + pos, '\n', p->inlen - pos);
        size_t len, used;

        if (!nl)
            break;
        used = (size_t)(nl - (p->in + pos)) + 1;
        len = used - 1;
        if (len > 0 && p->in[pos + len - 1] == '\r')
            len--;
        if (len > MAILSSL_DIALOGUE_MAX_LINE) {
            mailssl__probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                                MAILSSL_SEVERITY_CRITICAL,
                                "the server sent a line longer than %d "
                                "bytes",
                                MAILSSL_DIALOGUE_MAX_LINE);
            return MAILSSL_OK;
        }
        if (++p->phase_lines > MAILSSL_DIALOGUE_MAX_LINES) {
            mailssl__probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                                MAILSSL_SEVERITY_CRITICAL,
                                "the server sent more than %d lines in one "
                                "phase of the dialogue",
                                MAILSSL_DIALOGUE_MAX_LINES);
            return MAILSSL_OK;
        }
        /* out is empty when this function starts (dialogue_io flushes
         * first): bytes queued now are a command the server has not seen,
         * and this line came before it */
        unsent = p->out.len > p->outoff;
        r = mailssl__dialogue_line(&p->dlg, (const char *)p->in + pos, len,
                                   &p->out);
        pos += used;
        if (p->out.oom) {
            mailssl__set_error(p->err, sizeof p->err, "out of memory");
            return fail_unknown(p, MAILSSL_ERR_NOMEM), MAILSSL_OK;
        }
        take_stage_progress(p);
        if (r == MAILSSL_DLG_MORE)
            continue;
        if (r == MAILSSL_DLG_STARTTLS && !p->tls_on && unsent) {
            /* a go-ahead sent before our STARTTLS: taking it would start
             * TLS without ever sending STARTTLS */
            p->out.len = p->outoff = 0;
            mailssl__probe_fail(
                p, MAILSSL_CODE_PROTOCOL_ERROR, MAILSSL_SEVERITY_CRITICAL,
                "the server sent the STARTTLS go-ahead before the probe sent "
                "STARTTLS: a command injection attack or a broken server; "
                "the probe closed the connection");
            return MAILSSL_OK;
        }
        if (r == MAILSSL_DLG_STARTTLS && !p->tls_on) {
            /* RFC 3207 section 5 / RFC 2595: whatever follows the
             * go-ahead before our ClientHello was injected by someone */
            if (pos < p->inlen || mailssl__bytes_waiting(p->fd)) {
                p->out.len = p->outoff = 0; /* send nothing more */
                mailssl__probe_fail(
                    p, MAILSSL_CODE_STARTTLS_INJECTION,
                    MAILSSL_SEVERITY_CRITICAL,
                    "the server sent %zu byte(s) after the STARTTLS "
                    "go-ahead and before the TLS handshake: a command "
                    "injection attack or a broken server; the probe "
                    "closed the connection without using them",
                    p->inlen - pos);
                return MAILSSL_OK;
            }
            p->inlen = 0;
            p->out.len = p->outoff = 0;
            stage_end(p, MAILSSL_STAGE_STARTTLS);
            return begin_tls(p);
        }
        if (r == MAILSSL_DLG_DONE && p->tls_on) {
            send_best_effort(p);
            stage_end(p, MAILSSL_STAGE_POST_TLS);
            probe_done_ok(p);
            return MAILSSL_OK;
        }
        if (r == MAILSSL_DLG_FAIL && p->dlg.oom) {
            mailssl__set_error(p->err, sizeof p->err, "out of memory");
            return fail_unknown(p, MAILSSL_ERR_NOMEM), MAILSSL_OK;
        }
        if (r == MAILSSL_DLG_FAIL) {
            if (!(p->dlg.stage >= MAILSSL_STAGE_STARTTLS && !p->tls_on))
                send_best_effort(p);
            mailssl__probe_fail(p, p->dlg.code, MAILSSL_SEVERITY_CRITICAL,
                                "%s", p->dlg.message);
            return MAILSSL_OK;
        }
        mailssl__probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                            MAILSSL_SEVERITY_UNKNOWN,
                            "internal: dialogue result %d out of place", r);
        return MAILSSL_OK;
    }
    if (pos > 0) {
        memmove(p->in, p->in + pos, p->inlen - pos);
        p->inlen -= pos;
    }
    if (p->inlen == sizeof p->in) {
        mailssl__probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                            MAILSSL_SEVERITY_CRITICAL,
                            "the server sent a line longer than %d bytes",
                            MAILSSL_DIALOGUE_MAX_LINE);
        return MAILSSL_OK;
    }
    return IO_AGAIN;
}

static int dialogue_io(mailssl_probe *p)
{
    int rc;

    for (;;) {
        rc = flush_out(p);
        if (rc == IO_DONE)
            return MAILSSL_OK;
        if (rc != 0)
            return p->want = rc;
        rc = feed_lines(p);
        if (rc != IO_AGAIN)
            return rc;
        if (p->out.len > 0)
            continue;
        rc = fill_in(p);
        if (rc == IO_DONE)
            return MAILSSL_OK;
        if (rc != IO_AGAIN)
            return p->want = rc;
    }
}

/* ---- TLS ---------------------------------------------------------------- */

static void probe_done_ok(mailssl_probe *p)
{
    int sev = p->cert_severity;

    p->stage = MAILSSL_STAGE_DONE;
    p->diagnosis = p->cert_code;
    if (p->cert_code == MAILSSL_CODE_OK)
        mailssl__set_error(p->message, sizeof p->message,
                           "%s answered over %s; certificate valid",
                           mailssl_service_name(p->service),
                           p->tls_version ? p->tls_version : "TLS");
    p->status = mailssl__worse(sev, mailssl_report_status(p->findings));
    finish(p);
}

static int handshake_step(mailssl_probe *p)
{
    int rc = mailssl__probe_tls_handshake(p), sev, code;

    if (rc == MAILSSL_WANT_POLLIN || rc == MAILSSL_WANT_POLLOUT)
        return p->want = rc;
    if (rc < 0)
        return MAILSSL_OK; /* classified and finished */
    stage_end(p, MAILSSL_STAGE_HANDSHAKE);
    p->tls_on = 1;
    stage_begin(p, MAILSSL_STAGE_VERIFY);
    code = mailssl__probe_tls_verify(p, &sev);
    p->timing[MAILSSL_STAGE_VERIFY] = mailssl__now_us() - p->stage_start;
    if (code != MAILSSL_CODE_OK && code != MAILSSL_CODE_CERT_EXPIRING &&
        (sev == MAILSSL_SEVERITY_CRITICAL || sev == MAILSSL_SEVERITY_UNKNOWN)) {
        /* verification failed: a client would stop here, nothing more is
         * said to this server, and verify did not complete (stage
         * handshake). cert-expiring is a valid certificate, inside the
         * critical window too: the service is checked to the end. */
        char msg[sizeof p->message];

        memcpy(msg, p->message, sizeof msg);
        mailssl__probe_fail(p, code, sev, "%s", msg);
        return MAILSSL_OK;
    }
    p->stage = MAILSSL_STAGE_VERIFY;
    p->cert_code = code;
    p->cert_severity = sev;
    if (!p->dlg_inited) {
        if (mailssl__dialogue_init(&p->dlg, p->service) < 0) {
            mailssl__set_error(p->err, sizeof p->err, "no dialogue");
            return fail_unknown(p, MAILSSL_ERR_INVALID), MAILSSL_OK;
        }
        p->dlg_inited = 1;
    }
    stage_begin(p, MAILSSL_STAGE_POST_TLS);
    p->state = PS_DIALOGUE;
    p->phase_lines = p->phase_bytes = 0;
    p->inlen = 0;
    p->out.len = p->outoff = 0;
    rc = mailssl__dialogue_begin(&p->dlg, MAILSSL_PHASE_POST_TLS, &p->out);
    if (rc != MAILSSL_DLG_MORE) {
        mailssl__probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                            MAILSSL_SEVERITY_UNKNOWN,
                            "internal: the post-TLS dialogue refused to "
                            "begin");
        return MAILSSL_OK;
    }
    return dialogue_io(p);
}

static int begin_tls(mailssl_probe *p)
{
    int rc = mailssl__probe_tls_setup(p);

    if (rc < 0)
        return fail_unknown(p, rc), MAILSSL_OK;
    stage_begin(p, MAILSSL_STAGE_HANDSHAKE);
    p->state = PS_HANDSHAKE;
    return handshake_step(p);
}

/* ---- timeouts ----------------------------------------------------------- */

static void timed_out(mailssl_probe *p, int64_t now)
{
    int whole = now >= p->deadline;
    double waited = (double)(now - p->stage_start) / 1000.0;
    const char *which = whole ? "the probe's deadline" : "the stage deadline";

    switch (p->state) {
    case PS_MX_LOOKUP:
        (void)mailssl__probe_mx_decide(p);
        break;
    case PS_DANE:
        /* only the stage deadline lets an opportunistic probe go on */
        if (mailssl__probe_dane_decide(p, !p->dane_answered) && !whole)
            (void)dane_done(p);
        else if (p->state != PS_DONE)
            mailssl__probe_fail(p, MAILSSL_CODE_DANE_LOOKUP_FAILED,
                                MAILSSL_SEVERITY_CRITICAL,
                                "no answer to the TLSA lookup of %s within "
                                "%s (%.0f ms in this stage): the DNS "
                                "resolver is slow or silent",
                                p->dane_name, which, waited);
        break;
    case PS_CONNECTING:
        p->connect_errno = ETIMEDOUT;
        connect_failed(p);
        break;
    case PS_HANDSHAKE:
        mailssl__probe_fail(p, MAILSSL_CODE_TLS_TIMEOUT,
                            MAILSSL_SEVERITY_CRITICAL,
                            "the TLS handshake did not complete within %s "
                            "(%.0f ms in this stage)",
                            which, waited);
        break;
    default: {
        int code = mailssl__dialogue_timeout_code(&p->dlg);
        char q[200], pending[sizeof q + 48] = "";

        if (p->inlen > 0) {
            /* a line begun and never ended: show how far it got */
            mailssl__dialogue_quote(q, sizeof q, (const char *)p->in,
                                    p->inlen);
            snprintf(pending, sizeof pending,
                     "; it sent \"%s\" without a line end", q);
        }
        mailssl__probe_fail(
            p, code, MAILSSL_SEVERITY_CRITICAL,
            "%s: no complete answer from the server within %s (%.0f ms in "
            "this stage)%s",
            code == MAILSSL_CODE_GREETING_TIMEOUT ? "no greeting"
            : code == MAILSSL_CODE_STARTTLS_TIMEOUT
                ? "the capability/STARTTLS exchange stalled"
                : "the service stalled after TLS",
            which, waited, pending);
        break;
    }
    }
}

/* ---- driving ------------------------------------------------------------ */

MAILSSL_EXPORT int mailssl_probe_start(mailssl_probe *p)
{
    int64_t now;
    struct addrinfo *ai;
    int rc;

    if (!p)
        return MAILSSL_ERR_INVALID;
    if (p->started) {
        mailssl__set_error(p->err, sizeof p->err,
                           "the probe has already started");
        return MAILSSL_ERR_STATE;
    }
    p->started = 1;
    now = mailssl__now_us();
    p->t_start = now;
    p->deadline = now + (int64_t)p->timeout_ms * 1000;
    p->stage_deadline = NO_DEADLINE;
    if (!p->url_ok)
        return fail_unknown(p, MAILSSL_ERR_SYNTAX);
    p->implicit = mailssl_service_implicit_tls(p->service) == 1;

    stage_begin(p, MAILSSL_STAGE_RESOLVE);
    if (p->mx_mode) {
        rc = mailssl__probe_mx_begin(p);
        if (rc == -2)
            return fail_unknown(p, MAILSSL_ERR_IO);
        if (rc == 0) {
            p->state = PS_MX_LOOKUP;
            return p->want = MAILSSL_WANT_POLLIN;
        }
        return mailssl__probe_mx_decide(p);
    }
    rc = mailssl__resolve(p->connect_host ? p->connect_host : p->host,
                          p->connect_port ? p->connect_port : p->port,
                          p->family, &p->ai_list);
    if (rc != 0) {
        p->timing[MAILSSL_STAGE_RESOLVE] = mailssl__now_us() - p->stage_start;
        mailssl__probe_fail(
            p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL,
            "cannot resolve %s%s: %s",
            p->connect_host ? p->connect_host : p->host,
            p->family == 4 ? " (IPv4 only)"
            : p->family == 6 ? " (IPv6 only)"
                             : "",
            gai_strerror(rc));
        return MAILSSL_OK;
    }
    stage_end(p, MAILSSL_STAGE_RESOLVE);
    for (ai = p->ai_list; ai; ai = ai->ai_next)
        p->naddr++;
    p->ai_cur = p->ai_list;
    if (p->dane_mode != MAILSSL_DANE_OFF) {
        stage_begin(p, MAILSSL_STAGE_DANE);
        if (!p->stage_timeout_ms[MAILSSL_STAGE_DANE])
            p->stage_deadline = p->stage_start +
                                (int64_t)p->timeout_ms * 1000 / 2;
        rc = mailssl__probe_dane_begin(p);
        if (rc == -2)
            return fail_unknown(p, MAILSSL_ERR_IO);
        if (rc < 0)
            return MAILSSL_OK;
        if (rc == 0) {
            p->state = PS_DANE;
            return p->want = MAILSSL_WANT_POLLIN;
        }
        if (!mailssl__probe_dane_decide(p, 0))
            return MAILSSL_OK;
        return dane_done(p);
    }
    return begin_connect(p);
}

static int begin_connect(mailssl_probe *p)
{
    stage_begin(p, MAILSSL_STAGE_CONNECT);
    if (mailssl__now_us() >= p->deadline) {
        p->connect_errno = ETIMEDOUT;
        return connect_failed(p);
    }
    return try_next_address(p);
}

/* The TLSA answer is taken: on to connecting. */
static int dane_done(mailssl_probe *p)
{
    if (p->dns_pending)
        mailssl__dns_cancel(p->dns, p->dns_id);
    p->dns_pending = 0;
    stage_end(p, MAILSSL_STAGE_DANE);
    return begin_connect(p);
}

static int dane_step(mailssl_probe *p)
{
    mailssl__dns_process(p->dns);
    if (!p->dane_answered)
        return p->want = MAILSSL_WANT_POLLIN;
    if (!mailssl__probe_dane_decide(p, 0))
        return MAILSSL_OK;
    return dane_done(p);
}

MAILSSL_EXPORT int mailssl_probe_step(mailssl_probe *p)
{
    int64_t now;

    if (!p)
        return MAILSSL_ERR_INVALID;
    if (!p->started) {
        mailssl__set_error(p->err, sizeof p->err, "the probe has not started");
        return MAILSSL_ERR_STATE;
    }
    if (p->state == PS_DONE)
        return MAILSSL_OK;
    now = mailssl__now_us();
    if (now >= deadline_of(p)) {
        timed_out(p, now);
        /* an opportunistic DANE stage that ran out goes on connecting */
        return p->state == PS_DONE ? MAILSSL_OK : p->want;
    }
    switch (p->state) {
    case PS_MX_LOOKUP:
        mailssl__dns_process(p->dns);
        if (!p->dane_answered)
            return p->want = MAILSSL_WANT_POLLIN;
        return mailssl__probe_mx_decide(p);
    case PS_MX:
        return mailssl__probe_mx_step(p);
    case PS_DANE:
        return dane_step(p);
    case PS_CONNECTING:
        if (now >= p->addr_deadline) {
            p->connect_errno = ETIMEDOUT;
            close(p->fd);
            p->fd = -1;
            return try_next_address(p);
        }
        return connect_step(p);
    case PS_HANDSHAKE:
        return handshake_step(p);
    case PS_DIALOGUE:
        return dialogue_io(p);
    default:
        return MAILSSL_ERR_STATE;
    }
}

MAILSSL_EXPORT int mailssl_probe_fd(const mailssl_probe *p)
{
    if (p && (p->state == PS_DANE || p->state == PS_MX_LOOKUP))
        return mailssl__dns_fd(p->dns);
    if (p && p->state == PS_MX)
        return mailssl_probe_fd(mailssl__probe_mx_current(p));
    return p ? p->fd : -1;
}

MAILSSL_EXPORT int32_t mailssl_probe_timeout_left_ms(const mailssl_probe *p)
{
    int64_t d, left;

    if (!p || !p->started || p->state == PS_DONE)
        return -1;
    /* answered through another probe's context: step it now */
    if ((p->state == PS_DANE || p->state == PS_MX_LOOKUP) &&
        p->dane_answered)
        return 0;
    if (p->state == PS_MX)
        return mailssl_probe_timeout_left_ms(mailssl__probe_mx_current(p));
    d = deadline_of(p);
    if (p->state == PS_CONNECTING && p->addr_deadline < d)
        d = p->addr_deadline;
    left = d - mailssl__now_us();
    if (left <= 0)
        return 0;
    left = (left + 999) / 1000; /* round up: poll must not spin */
    return left > INT32_MAX ? INT32_MAX : (int32_t)left;
}

MAILSSL_EXPORT int mailssl_probe_done(const mailssl_probe *p)
{
    if (!p)
        return MAILSSL_ERR_INVALID; /* as every int accessor */
    return p->started && p->state == PS_DONE;
}

MAILSSL_EXPORT int mailssl_probe_run(mailssl_probe *p)
{
    int rc = mailssl_probe_start(p);

    while (rc == MAILSSL_WANT_POLLIN || rc == MAILSSL_WANT_POLLOUT) {
        struct pollfd pfd;

        pfd.fd = mailssl_probe_fd(p);
        pfd.events = rc == MAILSSL_WANT_POLLIN ? POLLIN : POLLOUT;
        pfd.revents = 0;
        if (poll(&pfd, 1, mailssl_probe_timeout_left_ms(p)) < 0 &&
            errno != EINTR) {
            mailssl__set_error(p->err, sizeof p->err, "poll: %s",
                               strerror(errno));
            return fail_unknown(p, MAILSSL_ERR_IO);
        }
        rc = mailssl_probe_step(p);
    }
    return rc;
}

/* ---- results ------------------------------------------------------------ */

MAILSSL_EXPORT int mailssl_probe_status(const mailssl_probe *p)
{
    if (!p)
        return MAILSSL_ERR_INVALID;
    return p->state == PS_DONE ? p->status : MAILSSL_ERR_STATE;
}

MAILSSL_EXPORT int mailssl_probe_diagnosis(const mailssl_probe *p)
{
    if (!p)
        return MAILSSL_ERR_INVALID;
    return p->state == PS_DONE ? p->diagnosis : MAILSSL_ERR_STATE;
}

MAILSSL_EXPORT const char *mailssl_probe_message(const mailssl_probe *p)
{
    return p && p->state == PS_DONE ? p->message : NULL;
}

MAILSSL_EXPORT int mailssl_probe_stage(const mailssl_probe *p)
{
    return p ? p->stage : MAILSSL_ERR_INVALID;
}

MAILSSL_EXPORT int mailssl_probe_service(const mailssl_probe *p)
{
    if (!p)
        return MAILSSL_ERR_INVALID;
    return p->url_ok ? p->service : MAILSSL_ERR_SYNTAX;
}

MAILSSL_EXPORT const char *mailssl_probe_host(const mailssl_probe *p)
{
    return p && p->url_ok ? p->host : NULL;
}

MAILSSL_EXPORT int mailssl_probe_port(const mailssl_probe *p)
{
    if (!p)
        return MAILSSL_ERR_INVALID;
    return p->url_ok ? p->port : MAILSSL_ERR_SYNTAX;
}

MAILSSL_EXPORT const char *mailssl_probe_address(const mailssl_probe *p)
{
    return p && p->address[0] ? p->address : NULL;
}

MAILSSL_EXPORT const char *mailssl_probe_tls_version(const mailssl_probe *p)
{
    return p ? p->tls_version : NULL;
}

MAILSSL_EXPORT const char *mailssl_probe_tls_cipher(const mailssl_probe *p)
{
    return p ? p->tls_cipher : NULL;
}

MAILSSL_EXPORT const char *mailssl_probe_tls_group(const mailssl_probe *p)
{
    return p ? p->tls_group : NULL;
}

MAILSSL_EXPORT size_t mailssl_probe_chain_length(const mailssl_probe *p)
{
    return p ? p->chain_length : 0;
}

MAILSSL_EXPORT size_t mailssl_probe_capability_count(const mailssl_probe *p)
{
    return p ? p->ncaps : 0;
}

MAILSSL_EXPORT const char *mailssl_probe_capability(const mailssl_probe *p,
                                                    size_t index)
{
    return p && index < p->ncaps ? p->caps[index] : NULL;
}

MAILSSL_EXPORT const mailssl_report *
mailssl_probe_findings(const mailssl_probe *p)
{
    return p ? p->findings : NULL;
}

MAILSSL_EXPORT int64_t mailssl_probe_timing_us(const mailssl_probe *p,
                                               int stage)
{
    if (!p || stage < MAILSSL_STAGE_RESOLVE || stage > MAILSSL_STAGE_DANE ||
        stage == MAILSSL_STAGE_DONE)
        return -1;
    return p->timing[stage];
}

MAILSSL_EXPORT const char *mailssl_probe_cert_subject(const mailssl_probe *p)
{
    return p && p->have_cert ? p->cert.subject : NULL;
}

MAILSSL_EXPORT const char *mailssl_probe_cert_issuer(const mailssl_probe *p)
{
    return p && p->have_cert ? p->cert.issuer : NULL;
}

MAILSSL_EXPORT size_t mailssl_probe_cert_name_count(const mailssl_probe *p)
{
    return p && p->have_cert ? p->cert.nnames : 0;
}

MAILSSL_EXPORT const char *mailssl_probe_cert_name(const mailssl_probe *p,
                                                   size_t index)
{
    return p && p->have_cert && index < p->cert.nnames ? p->cert.names[index]
                                                       : NULL;
}

MAILSSL_EXPORT int64_t mailssl_probe_cert_not_before(const mailssl_probe *p)
{
    return p && p->have_cert ? p->cert.not_before : -1;
}

MAILSSL_EXPORT int64_t mailssl_probe_cert_not_after(const mailssl_probe *p)
{
    return p && p->have_cert ? p->cert.not_after : -1;
}

int64_t mailssl__probe_days_left(const mailssl_probe *p)
{
    int64_t d = p->cert.not_after - p->now_epoch;

    /* rounded down, also below zero */
    return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

MAILSSL_EXPORT int64_t mailssl_probe_cert_days_left(const mailssl_probe *p)
{
    return p && p->have_cert ? mailssl__probe_days_left(p) : 0;
}

MAILSSL_EXPORT const char *mailssl_probe_cert_sha256(const mailssl_probe *p)
{
    return p && p->have_cert ? p->cert.sha256 : NULL;
}
