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
    p->tx.fd = -1;
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
    if (p->tx.fd >= 0)
        close(p->tx.fd);
    p->tx.fd = -1;
    mailssl__tx_tls_free(&p->tx);
    if (p->dlg_inited)
        mailssl__dialogue_clear(&p->dlg);
    p->dlg_inited = 0;
    mailssl__buf_free(&p->out);
    p->outoff = 0;
    if (p->ai_list && p->ai_own)
        mailssl__addrinfo_free(p->ai_list);
    else if (p->ai_list)
        freeaddrinfo(p->ai_list);
    p->ai_list = p->ai_cur = NULL;
    mailssl__probe_dane_release(p);
}

static void mx_free(mailssl_probe *p)
{
    size_t i;

    for (i = 0; i < p->nmxprobes; i++)
        mailssl_probe_free(p->mxprobes[i]);
    free(p->mxprobes);
    p->mxprobes = NULL;
    p->nmxprobes = 0;
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
    mx_free(p);
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

MAILSSL_EXPORT int mailssl_probe_set_mx(mailssl_probe *p, int on)
{
    int rc = settable(p);

    if (rc < 0)
        return rc;
    if (on != 0 && on != 1) {
        mailssl__set_error(p->err, sizeof p->err, "MX mode must be 0 or 1");
        return MAILSSL_ERR_INVALID;
    }
    if (on && (!p->url_ok || p->service != MAILSSL_SERVICE_SMTP ||
               mailssl__is_ip_literal(p->host))) {
        mailssl__set_error(p->err, sizeof p->err,
                           "MX lookups need an smtp://DOMAIN URL");
        return MAILSSL_ERR_INVALID;
    }
    p->mx_mode = on;
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

/* Ends the probe with a diagnosis whose message is in p->message. */
static void probe_end(mailssl_probe *p, int code, int severity)
{
    p->diagnosis = code;
    p->status = mailssl__worse(severity,
                               mailssl_report_status(p->findings));
    finish(p);
}

/* Ends the probe with a diagnosis (printf-style message). */
static void MAILSSL_PRINTF(4, 5)
    probe_fail(mailssl_probe *p, int code, int severity, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
    probe_end(p, code, severity);
}

/* Ends the probe with the verdict a DNS stage (lib/probe/probe_dane.c,
 * lib/probe/probe_mx.c) recorded, if it did; returns MAILSSL_OK then,
 * else rc. */
static int settle(mailssl_probe *p, int rc)
{
    if (!p->verdict.set || p->state == PS_DONE)
        return rc;
    p->verdict.set = 0;
    probe_end(p, p->verdict.code, p->verdict.severity);
    return MAILSSL_OK;
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
static int resolved(mailssl_probe *p);

/* After the A/AAAA answers (or a deadline: which says which): ends with
 * the DNS code's verdict, or goes on with the addresses. */
static int addr_decided(mailssl_probe *p, const char *which)
{
    if (!mailssl__probe_addr_decide(p, which))
        return settle(p, MAILSSL_OK);
    return resolved(p);
}

static int connect_failed(mailssl_probe *p)
{
    int e = p->connect_errno;
    const char *target = p->connect_host ? p->connect_host : p->host;
    int port = p->connect_port ? p->connect_port : p->port;

    if (e == ECONNREFUSED)
        probe_fail(p, MAILSSL_CODE_CONNECT_REFUSED,
                   MAILSSL_SEVERITY_CRITICAL,
                   "connection refused by %s port %d (%d address%s "
                   "tried): nothing listens there",
                   p->address[0] ? p->address : target, port,
                   p->naddr_tried, p->naddr_tried == 1 ? "" : "es");
    else if (e == ETIMEDOUT)
        probe_fail(p, MAILSSL_CODE_CONNECT_TIMEOUT,
                   MAILSSL_SEVERITY_CRITICAL,
                   "no TCP connection to %s port %d within the "
                   "deadline (%d address%s tried)",
                   target, port, p->naddr_tried,
                   p->naddr_tried == 1 ? "" : "es");
    else
        probe_fail(p, MAILSSL_CODE_CONNECT_FAILED,
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
        p->tx.fd = fd;
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
        probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
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

    pfd.fd = p->tx.fd;
    pfd.events = POLLOUT;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) == 0)
        return MAILSSL_WANT_POLLOUT; /* called before the socket was ready */
    e = mailssl__connect_result(p->tx.fd);
    if (e == 0)
        return connected(p);
    p->connect_errno = e;
    close(p->tx.fd);
    p->tx.fd = -1;
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
    struct mailssl__tx_result r;

    while (p->outoff < p->out.len) {
        switch (mailssl__tx_send(&p->tx, p->out.data + p->outoff,
                                 p->out.len - p->outoff, &r)) {
        case MAILSSL__TX_DONE:
            p->outoff += r.n;
            break;
        case MAILSSL__TX_WANT_IN:
            return MAILSSL_WANT_POLLIN;
        case MAILSSL__TX_WANT_OUT:
            return MAILSSL_WANT_POLLOUT;
        default:
            if (p->tx.tls_on)
                probe_fail(p, MAILSSL_CODE_POST_TLS_FAILED,
                           MAILSSL_SEVERITY_CRITICAL,
                           "sending over TLS failed: %s", r.text);
            else
                probe_fail(p,
                           mailssl__dialogue_timeout_code(&p->dlg) ==
                                   MAILSSL_CODE_GREETING_TIMEOUT
                               ? MAILSSL_CODE_GREETING_REJECTED
                               : MAILSSL_CODE_PROTOCOL_ERROR,
                           MAILSSL_SEVERITY_CRITICAL,
                           "sending to the server failed: %s", r.text);
            return IO_DONE;
        }
    }
    p->out.len = 0;
    p->outoff = 0;
    return 0;
}

/* One attempt to send a polite QUIT/LOGOUT; never waits. */
static void send_best_effort(mailssl_probe *p)
{
    if (p->out.len > p->outoff && p->tx.fd >= 0)
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
        probe_fail(p, p->dlg.code, MAILSSL_SEVERITY_CRITICAL, "%s",
                   p->dlg.message);
    } else if (p->tx.tls_on)
        probe_fail(p, MAILSSL_CODE_POST_TLS_FAILED,
                   MAILSSL_SEVERITY_CRITICAL,
                   "after the TLS handshake the server %s", why);
    else if (code == MAILSSL_CODE_GREETING_TIMEOUT)
        probe_fail(p, MAILSSL_CODE_GREETING_REJECTED,
                   MAILSSL_SEVERITY_CRITICAL,
                   "the server %s before sending a greeting", why);
    else
        probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                   MAILSSL_SEVERITY_CRITICAL,
                   "the server %s during the capability/STARTTLS "
                   "exchange",
                   why);
}

/* How the server ended the connection, in the words of dialogue_eof(). */
static const char *closed_why(const mailssl_probe *p,
                              const struct mailssl__tx_result *r, char *why,
                              size_t n)
{
    char an[160];

    switch (r->kind) {
    case MAILSSL__TX_CLOSE_NOTIFY:
        return "closed the TLS connection (close_notify)";
    case MAILSSL__TX_ALERT:
        mailssl__probe_alert_text(r->alert, an, sizeof an);
        snprintf(why, n, "sent the fatal alert %s", an);
        return why;
    case MAILSSL__TX_FIN:
        return p->tx.tls_on ? "closed the connection without close_notify"
                            : "closed the connection";
    case MAILSSL__TX_RST:
        return "reset the connection";
    default:
        return r->text;
    }
}

/* Reads what is available into p->in: IO_AGAIN when bytes came, a
 * MAILSSL_WANT_* when none, IO_DONE when the probe finished. */
static int fill_in(mailssl_probe *p)
{
    struct mailssl__tx_result r;
    char why[200];

    switch (mailssl__tx_recv(&p->tx, p->in + p->inlen,
                             sizeof p->in - p->inlen, &r)) {
    case MAILSSL__TX_DONE:
        break;
    case MAILSSL__TX_WANT_IN:
        return MAILSSL_WANT_POLLIN;
    case MAILSSL__TX_WANT_OUT:
        return MAILSSL_WANT_POLLOUT;
    case MAILSSL__TX_AGAIN:
        return IO_AGAIN;
    default:
        dialogue_eof(p, closed_why(p, &r, why, sizeof why));
        return IO_DONE;
    }
    p->inlen += r.n;
    p->phase_bytes += r.n;
    if (p->phase_bytes > MAILSSL_PROBE_MAX_PHASE_BYTES) {
        probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR, MAILSSL_SEVERITY_CRITICAL,
                   "the server sent more than %d bytes in one "
                   "phase of the dialogue",
                   MAILSSL_PROBE_MAX_PHASE_BYTES);
        return IO_DONE;
    }
    return IO_AGAIN;
}

static void take_stage_progress(mailssl_probe *p)
{
    if (!p->tx.tls_on && p->cur_stage == MAILSSL_STAGE_GREETING &&
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
            probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                       MAILSSL_SEVERITY_CRITICAL,
                       "the server sent a line longer than %d "
                       "bytes",
                       MAILSSL_DIALOGUE_MAX_LINE);
            return MAILSSL_OK;
        }
        if (++p->phase_lines > MAILSSL_DIALOGUE_MAX_LINES) {
            probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
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
        if (r == MAILSSL_DLG_STARTTLS && !p->tx.tls_on && unsent) {
            /* a go-ahead sent before our STARTTLS: taking it would start
             * TLS without ever sending STARTTLS */
            p->out.len = p->outoff = 0;
            probe_fail(
                p, MAILSSL_CODE_PROTOCOL_ERROR, MAILSSL_SEVERITY_CRITICAL,
                "the server sent the STARTTLS go-ahead before the probe sent "
                "STARTTLS: a command injection attack or a broken server; "
                "the probe closed the connection");
            return MAILSSL_OK;
        }
        if (r == MAILSSL_DLG_STARTTLS && !p->tx.tls_on) {
            /* RFC 3207 section 5 / RFC 2595: whatever follows the
             * go-ahead before our ClientHello was injected by someone */
            if (pos < p->inlen || mailssl__bytes_waiting(p->tx.fd)) {
                p->out.len = p->outoff = 0; /* send nothing more */
                probe_fail(
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
        if (r == MAILSSL_DLG_DONE && p->tx.tls_on) {
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
            if (!(p->dlg.stage >= MAILSSL_STAGE_STARTTLS && !p->tx.tls_on))
                send_best_effort(p);
            probe_fail(p, p->dlg.code, MAILSSL_SEVERITY_CRITICAL,
                       "%s", p->dlg.message);
            return MAILSSL_OK;
        }
        probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                   MAILSSL_SEVERITY_UNKNOWN,
                   "internal: dialogue result %d out of place", r);
        return MAILSSL_OK;
    }
    if (pos > 0) {
        memmove(p->in, p->in + pos, p->inlen - pos);
        p->inlen -= pos;
    }
    if (p->inlen == sizeof p->in) {
        probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
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

/* The message of the 13002 case: what happened and what to check. */
static void closed_in_handshake(mailssl_probe *p, const char *how)
{
    const char *svc = mailssl_service_name(p->service);

    probe_fail(
        p, MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE, MAILSSL_SEVERITY_CRITICAL,
        "the server accepted the TCP connection on %s port %d (%s) and then "
        "%s during the TLS handshake without sending a TLS alert. The server "
        "most likely has no valid certificate bound for this address, port "
        "and protocol (Exchange event 13002, Outlook 0x800CCC0F \"the server "
        "unexpectedly terminated the connection\"). Check on the server that "
        "a certificate is bound or assigned to %s for this address and port "
        "(or to a default covering it), that it has not expired, and that "
        "its private key is present and readable by the mail service.",
        p->address, p->port, svc ? svc : "?", how, svc ? svc : "?");
}

/* A server that answered the ClientHello with something else than TLS. */
static void not_tls(mailssl_probe *p, const struct mailssl__tx_result *r)
{
    char text[sizeof r->data + 1];
    size_t i, n = r->ndata;

    /* show the operator what the server said: often a plaintext
     * greeting on a port configured for implicit TLS */
    while (n > 0 && (r->data[n - 1] == '\n' || r->data[n - 1] == '\r'))
        n--;
    for (i = 0; i < n; i++)
        text[i] = (r->data[i] >= 0x20 && r->data[i] < 0x7f) ? (char)r->data[i]
                                                            : '.';
    text[n] = '\0';
    if (!p->implicit) {
        /* plaintext after the go-ahead, even if it came after our
         * ClientHello: the same attack (or broken server) as bytes
         * buffered with the go-ahead; GnuTLS read only a record
         * header of it and nothing reached the dialogue. As there,
         * the STARTTLS stage did not complete. */
        p->stage = MAILSSL_STAGE_GREETING;
        probe_fail(p, MAILSSL_CODE_STARTTLS_INJECTION,
                   MAILSSL_SEVERITY_CRITICAL,
                   "the server sent plaintext (\"%s\") after "
                   "the STARTTLS go-ahead instead of a TLS "
                   "handshake: a command injection attack or a "
                   "broken server; the probe closed the "
                   "connection without using it",
                   text);
    } else {
        probe_fail(p, MAILSSL_CODE_TLS_ERROR, MAILSSL_SEVERITY_CRITICAL,
                   "the server answered the TLS ClientHello "
                   "with data that is not TLS (\"%s\"): is "
                   "this a plaintext or STARTTLS port? (%s)",
                   text, r->text);
    }
}

/* The diagnosis of a failed handshake step. */
static void handshake_failed(mailssl_probe *p,
                             const struct mailssl__tx_result *r)
{
    const char *min = mailssl__tx_version_name(p->min_version);
    char an[160] = "";

    if (r->alert >= 0)
        mailssl__probe_alert_text(r->alert, an, sizeof an);
    switch (r->kind) {
    case MAILSSL__TX_NO_COMMON:
        if (r->alert >= 0)
            probe_fail(p, MAILSSL_CODE_TLS_NO_COMMON_PARAMETERS,
                       MAILSSL_SEVERITY_CRITICAL,
                       "the server refused the handshake with the fatal "
                       "alert %s: no protocol version or cipher suite in "
                       "common (this probe's minimum is %s)",
                       an, min);
        else
            probe_fail(p, MAILSSL_CODE_TLS_NO_COMMON_PARAMETERS,
                       MAILSSL_SEVERITY_CRITICAL,
                       "no protocol version or cipher suite in common with "
                       "the server: %s (this probe's minimum is %s; a server "
                       "that speaks only TLS 1.0/1.1 is obsolete, RFC 8996)",
                       r->text, min);
        break;
    case MAILSSL__TX_ALERT:
        probe_fail(p, MAILSSL_CODE_TLS_ALERT, MAILSSL_SEVERITY_CRITICAL,
                   "the server sent the fatal TLS alert %s during the "
                   "handshake",
                   an);
        break;
    case MAILSSL__TX_NOT_TLS:
        not_tls(p, r);
        break;
    case MAILSSL__TX_FIN:
        closed_in_handshake(p, "closed it (FIN)");
        break;
    case MAILSSL__TX_RST:
        closed_in_handshake(p, "reset it (RST)");
        break;
    default:
        probe_fail(p, MAILSSL_CODE_TLS_ERROR, MAILSSL_SEVERITY_CRITICAL,
                   "the TLS handshake failed: %s", r->text);
    }
}

/* Takes what verification found into the results. */
static void take_facts(mailssl_probe *p, struct mailssl__tls_facts *f)
{
    p->tls_version = f->version;
    p->tls_cipher = f->cipher;
    p->tls_group = f->group;
    p->now_epoch = f->now_epoch;
    p->chain_length = f->chain_length;
    if (f->have_cert) {
        p->cert = f->cert; /* taken over */
        p->have_cert = 1;
    }
    if (f->code != MAILSSL_CODE_OK)
        memcpy(p->message, f->message, sizeof p->message);
    if (f->validated)
        mailssl__probe_dane_verified(p, f->dane_matched);
}

static int handshake_step(mailssl_probe *p)
{
    struct mailssl__tx_result r;
    struct mailssl__tls_facts f;
    int rc, sev, code;

    switch (mailssl__tx_handshake(&p->tx, &r)) {
    case MAILSSL__TX_DONE:
        break;
    case MAILSSL__TX_WANT_IN:
        return p->want = MAILSSL_WANT_POLLIN;
    case MAILSSL__TX_WANT_OUT:
        return p->want = MAILSSL_WANT_POLLOUT;
    default:
        handshake_failed(p, &r);
        return MAILSSL_OK;
    }
    stage_end(p, MAILSSL_STAGE_HANDSHAKE);
    stage_begin(p, MAILSSL_STAGE_VERIFY);
    mailssl__probe_tls_verify(p, &f, p->err, sizeof p->err);
    take_facts(p, &f);
    code = f.code;
    sev = f.severity;
    p->timing[MAILSSL_STAGE_VERIFY] = mailssl__now_us() - p->stage_start;
    if (code != MAILSSL_CODE_OK && code != MAILSSL_CODE_CERT_EXPIRING &&
        (sev == MAILSSL_SEVERITY_CRITICAL || sev == MAILSSL_SEVERITY_UNKNOWN)) {
        /* verification failed: a client would stop here, nothing more is
         * said to this server, and verify did not complete (stage
         * handshake). cert-expiring is a valid certificate, inside the
         * critical window too: the service is checked to the end. */
        probe_fail(p, code, sev, "%s", f.message);
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
        probe_fail(p, MAILSSL_CODE_PROTOCOL_ERROR,
                   MAILSSL_SEVERITY_UNKNOWN,
                   "internal: the post-TLS dialogue refused to "
                   "begin");
        return MAILSSL_OK;
    }
    return dialogue_io(p);
}

static int begin_tls(mailssl_probe *p)
{
    struct mailssl__tls_params tp;
    int rc;

    tp.name = p->servername ? p->servername : p->host;
    tp.priority = p->priority;
    tp.min_version = p->min_version;
    tp.client_cred = p->client_cred;
    rc = mailssl__tx_tls_start(&p->tx, &tp, p->err, sizeof p->err);
    if (rc < 0)
        return fail_unknown(p, rc), MAILSSL_OK;
    stage_begin(p, MAILSSL_STAGE_HANDSHAKE);
    p->state = PS_HANDSHAKE;
    return handshake_step(p);
}

/* ---- smtp://DOMAIN: one probe per MX host ------------------------------ */

/* A probe of one MX host with the parent's settings. */
static mailssl_probe *host_probe(mailssl_probe *p,
                                 const struct mailssl__mx_host *h, int dane)
{
    char url[MAILSSL_HOST_MAX + 32];
    mailssl_probe *c;
    int s;

    snprintf(url, sizeof url, "smtp://%s:%d", h->host, p->port);
    c = mailssl_probe_new(url);
    if (!c)
        return NULL;
    if ((p->cafile && mailssl_probe_set_cafile(c, p->cafile) < 0) ||
        (p->connect_host &&
         !(c->connect_host = mailssl__strdup(p->connect_host))) ||
        (p->priority && mailssl_probe_set_priority(c, p->priority) < 0) ||
        (p->dns_anchor && !(c->dns_anchor = mailssl__strdup(p->dns_anchor))) ||
        (p->dns_resolver &&
         !(c->dns_resolver = mailssl__strdup(p->dns_resolver)))) {
        mailssl_probe_free(c);
        return NULL;
    }
    c->connect_port = p->connect_port;
    c->family = p->family;
    c->timeout_ms = p->timeout_ms;
    for (s = 0; s <= MAILSSL_STAGE_DANE; s++)
        c->stage_timeout_ms[s] = p->stage_timeout_ms[s];
    c->warn_days = p->warn_days;
    c->crit_days = p->crit_days;
    c->min_version = p->min_version;
    if (p->client_cred)
        c->client_cred = mailssl__credential_ref(p->client_cred);
    c->vtime = p->vtime;
    c->dane_mode = dane;
    c->dns = mailssl__dns_ref(p->dns);
    c->mx_preference = h->preference;
    return c;
}

/* Starts the current host's probe, or finishes after the last one.
 * Returns what the caller's start/step returns. */
static int next_host(mailssl_probe *p)
{
    while (p->mxcur < p->nmxprobes) {
        mailssl_probe *c = p->mxprobes[p->mxcur];
        int rc = mailssl_probe_start(c);

        if (!mailssl_probe_done(c))
            return p->want = rc;
        p->mxcur++;
    }
    mailssl__probe_mx_finish(p);
    return settle(p, MAILSSL_OK);
}

/* After the MX answer (or the deadline): ends with lib/probe/probe_mx.c's
 * verdict on the RRset, or probes its hosts one after the other. */
static int mx_decided(mailssl_probe *p)
{
    int dane;
    size_t i;

    if (!mailssl__probe_mx_decide(p, &dane))
        return settle(p, MAILSSL_OK);
    p->stage = MAILSSL_STAGE_RESOLVE;
    p->mxprobes = calloc(p->nmx, sizeof *p->mxprobes);
    if (!p->mxprobes) {
        probe_fail(p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_UNKNOWN,
                   "out of memory");
        return MAILSSL_OK;
    }
    for (i = 0; i < p->nmx; i++) {
        mailssl_probe *c = host_probe(p, &p->mx[i], dane);

        if (!c)
            break;
        p->mxprobes[p->nmxprobes++] = c;
    }
    p->state = PS_MX;
    p->deadline = INT64_MAX; /* each host has its own */
    p->stage_deadline = INT64_MAX;
    return next_host(p);
}

static int mx_step(mailssl_probe *p)
{
    mailssl_probe *c = p->mxprobes[p->mxcur];
    int rc = mailssl_probe_step(c);

    if (!mailssl_probe_done(c))
        return p->want = rc;
    p->mxcur++;
    return next_host(p);
}

/* ---- timeouts ----------------------------------------------------------- */

static void timed_out(mailssl_probe *p, int64_t now)
{
    int whole = now >= p->deadline;
    double waited = (double)(now - p->stage_start) / 1000.0;
    const char *which = whole ? "the probe's deadline" : "the stage deadline";

    switch (p->state) {
    case PS_MX_LOOKUP:
        (void)mx_decided(p);
        break;
    case PS_ADDR:
        (void)addr_decided(p, which);
        break;
    case PS_DANE:
        /* only the stage deadline lets an opportunistic probe go on */
        if (settle(p, mailssl__probe_dane_decide(p, !p->dane_answered)) &&
            !whole)
            (void)dane_done(p);
        else if (p->state != PS_DONE)
            probe_fail(p, MAILSSL_CODE_DANE_LOOKUP_FAILED,
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
        probe_fail(p, MAILSSL_CODE_TLS_TIMEOUT,
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
        probe_fail(
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
        return mx_decided(p);
    }
    if (mailssl__probe_addr_wanted(p)) {
        /* the addresses through libunbound, never blocking the loop */
        rc = mailssl__probe_addr_begin(p);
        if (rc == -2)
            return fail_unknown(p, MAILSSL_ERR_IO);
        if (rc == 0) {
            p->state = PS_ADDR;
            return p->want = MAILSSL_WANT_POLLIN;
        }
        return addr_decided(p, NULL);
    }
    rc = mailssl__resolve(p->connect_host ? p->connect_host : p->host,
                          p->connect_port ? p->connect_port : p->port,
                          p->family, &p->ai_list);
    if (rc != 0) {
        p->timing[MAILSSL_STAGE_RESOLVE] = mailssl__now_us() - p->stage_start;
        probe_fail(
            p, MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL,
            "cannot resolve %s%s: %s",
            p->connect_host ? p->connect_host : p->host,
            p->family == 4 ? " (IPv4 only)"
            : p->family == 6 ? " (IPv6 only)"
                    : "",
            gai_strerror(rc));
        return MAILSSL_OK;
    }
    return resolved(p);
}

/* The addresses are in p->ai_list: the TLSA lookup when DANE applies,
 * then connecting. */
static int resolved(mailssl_probe *p)
{
    struct addrinfo *ai;
    int rc;

    stage_end(p, MAILSSL_STAGE_RESOLVE);
    for (ai = p->ai_list; ai; ai = ai->ai_next)
        p->naddr++;
    p->ai_cur = p->ai_list;
    /* RFC 7672 section 2.2.2: no TLSA for insecure addresses (the DNS code
     * recorded the finding, or ended the probe when DANE is required) */
    if (p->dane_mode != MAILSSL_DANE_OFF &&
        p->addr_dnssec != MAILSSL__DNSSEC_INSECURE) {
        stage_begin(p, MAILSSL_STAGE_DANE);
        if (!p->stage_timeout_ms[MAILSSL_STAGE_DANE])
            p->stage_deadline = p->stage_start +
                                (int64_t)p->timeout_ms * 1000 / 2;
        rc = mailssl__probe_dane_begin(p);
        if (rc == -2)
            return fail_unknown(p, MAILSSL_ERR_IO);
        if (rc < 0)
            return settle(p, MAILSSL_OK);
        if (rc == 0) {
            p->state = PS_DANE;
            return p->want = MAILSSL_WANT_POLLIN;
        }
        if (!mailssl__probe_dane_decide(p, 0))
            return settle(p, MAILSSL_OK);
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
        return settle(p, MAILSSL_OK);
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
        return mx_decided(p);
    case PS_MX:
        return mx_step(p);
    case PS_ADDR:
        mailssl__dns_process(p->dns);
        if (!mailssl__probe_addr_answered(p))
            return p->want = MAILSSL_WANT_POLLIN;
        return addr_decided(p, NULL);
    case PS_DANE:
        return dane_step(p);
    case PS_CONNECTING:
        if (now >= p->addr_deadline) {
            p->connect_errno = ETIMEDOUT;
            close(p->tx.fd);
            p->tx.fd = -1;
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
    if (p && (p->state == PS_DANE || p->state == PS_MX_LOOKUP ||
              p->state == PS_ADDR))
        return mailssl__dns_fd(p->dns);
    if (p && p->state == PS_MX)
        return mailssl_probe_fd(mailssl__probe_mx_current(p));
    return p ? p->tx.fd : -1;
}

MAILSSL_EXPORT int32_t mailssl_probe_timeout_left_ms(const mailssl_probe *p)
{
    int64_t d, left;

    if (!p || !p->started || p->state == PS_DONE)
        return -1;
    /* answered through another probe's context: step it now */
    if (((p->state == PS_DANE || p->state == PS_MX_LOOKUP) &&
         p->dane_answered) ||
        (p->state == PS_ADDR && mailssl__probe_addr_answered(p)))
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
