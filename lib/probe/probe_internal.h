/*
 * probe_internal.h - the probe engine's private definitions, shared by
 * lib/probe/probe.c (the driver: stages, deadlines, results),
 * lib/probe/probe_tls.c (the transport: socket and TLS record I/O,
 * handshake steps), lib/probe/probe_verify.c (verification of the peer),
 * lib/probe/probe_dane.c and lib/probe/probe_mx.c (the DNS stages),
 * lib/probe/probe_json.c (result output) and lib/live.c; what the probe's
 * lowest files (net.c, url.c, dns.c) offer is in lib/probe/net.h.
 * Calls go from the driver down to the others, never back up: what a
 * lower file finds goes back in a result (struct mailssl__tx_result,
 * struct mailssl__tls_facts, p->verdict) that the driver turns into the
 * diagnosis.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_PROBE_INTERNAL_H
#define MAILSSL_PROBE_INTERNAL_H

#include <netdb.h>
#include <stdint.h>

#include "dialogue.h"
#include "internal.h"
#include "net.h"
#include "validation.h"

/* ---- transport (lib/probe/probe_tls.c) ---------------------------------- */
/* The probe's connection below the dialogue: the socket, and once the
 * handshake is done, the TLS session over it. The driver (lib/probe/probe.c)
 * owns the descriptor (it connects and closes it); the transport reads and
 * writes it, plain or through TLS, and says what happened in a
 * struct mailssl__tx_result, never in a diagnosis. */
struct mailssl__transport {
    int fd;                         /* -1: none */
    int tls_on;                     /* send/recv go through TLS */
    gnutls_session_t sess;
    gnutls_certificate_credentials_t xcred;
    int pull_errno;                 /* errno of the last failed recv */
    int pull_eof;                   /* recv returned 0 (FIN) */
    size_t rx;                      /* bytes received by the TLS layer */
    unsigned char first[8];         /* its first bytes (non-TLS answers) */
};

/* What one transport call did (kind), with its details. */
enum {
    MAILSSL__TX_DONE = 0,           /* handshake done; send/recv: n bytes */
    MAILSSL__TX_WANT_IN,            /* wait for POLLIN, call again */
    MAILSSL__TX_WANT_OUT,           /* wait for POLLOUT, call again */
    MAILSSL__TX_AGAIN,              /* nothing moved, call again at once */
    MAILSSL__TX_FIN,                /* the peer closed (FIN, or TLS without
                                       close_notify) */
    MAILSSL__TX_RST,                /* the peer reset the connection */
    MAILSSL__TX_CLOSE_NOTIFY,       /* TLS closed cleanly */
    MAILSSL__TX_ALERT,              /* a fatal alert: alert */
    MAILSSL__TX_NOT_TLS,            /* the answer to the ClientHello is not
                                       TLS: its first bytes in data */
    MAILSSL__TX_NO_COMMON,          /* no common version or cipher suite
                                       (alert >= 0 when said by one) */
    MAILSSL__TX_ERROR               /* anything else: text */
};

struct mailssl__tx_result {
    int kind;                       /* MAILSSL__TX_* */
    size_t n;                       /* bytes moved (send/recv, DONE) */
    int alert;                      /* ALERT, NO_COMMON: its number; -1 */
    unsigned char data[72];         /* NOT_TLS: the first bytes */
    size_t ndata;
    const char *text;               /* the library's words for the error
                                       (static, or strerror's: use it at
                                       once); "" when none */
};

/* What the TLS session is set up with. */
struct mailssl__tls_params {
    const char *name;               /* SNI (none for "" or an IP literal) */
    const char *priority;           /* NULL: "NORMAL" */
    int min_version;                /* gnutls_protocol_t */
    const mailssl_credential *client_cred; /* NULL: none */
};

/* Creates the client session on t->fd. Returns 0 or a negative
 * MAILSSL_ERR_* with err set. */
int mailssl__tx_tls_start(struct mailssl__transport *t,
                          const struct mailssl__tls_params *tp, char *err,
                          size_t errlen);
/* One handshake step: DONE (then t->tls_on is set), WANT_IN/OUT, or the
 * failure's kind. The three calls return r->kind. */
int mailssl__tx_handshake(struct mailssl__transport *t,
                          struct mailssl__tx_result *r);
/* Sends (up to n bytes) / receives (up to room bytes) over the socket or,
 * with t->tls_on, over TLS: DONE with r->n, a WANT, AGAIN, or how the
 * connection ended. */
int mailssl__tx_send(struct mailssl__transport *t, const void *data,
                     size_t n, struct mailssl__tx_result *r);
int mailssl__tx_recv(struct mailssl__transport *t, void *data, size_t room,
                     struct mailssl__tx_result *r);
/* Frees the TLS session (not the descriptor). */
void mailssl__tx_tls_free(struct mailssl__transport *t);
/* "TLS1.2" for a gnutls_protocol_t. */
const char *mailssl__tx_version_name(int version);
/* "unrecognized_name (112: The server name sent was not recognized)" */
void mailssl__probe_alert_text(int alert, char *dst, size_t n);

/* ---- the probe object -------------------------------------------------- */
#define MAILSSL_PROBE_INBUF (MAILSSL_DIALOGUE_MAX_LINE + 2) /* line + CRLF */
#define MAILSSL_PROBE_MAX_PHASE_BYTES (128 * 1024)

/* Engine states. */
enum {
    PS_NEW = 0,
    PS_CONNECTING,
    PS_DIALOGUE,    /* line exchange, plaintext or over TLS */
    PS_HANDSHAKE,
    PS_DANE,        /* waiting for the TLSA answer (lib/probe/probe_dane.c) */
    PS_MX_LOOKUP,   /* waiting for the MX answer (lib/probe/probe_mx.c) */
    PS_MX,          /* driving the probe of one MX host */
    PS_ADDR,        /* waiting for the A/AAAA answers (probe_dane.c) */
    PS_DONE
};

struct mailssl_probe_tlsa {
    int usage, selector, matching_type;
    unsigned char *data;
    size_t len;
};

#define MAILSSL__MX_MAX 16
struct mailssl__mx_host {
    char host[MAILSSL_HOST_MAX];
    int preference;
    size_t order;                   /* in the answer: ties keep it */
};

/* One address lookup (A or AAAA) of the resolve stage with DANE or MX
 * (lib/probe/probe_dane.c). */
struct mailssl__addr_query {
    struct mailssl_probe *p;
    int family;                     /* AF_INET (A), AF_INET6 (AAAA) */
    int asked, pending, id;
    int answered, err, rcode, dnssec; /* MAILSSL__DNSSEC_* */
    struct addrinfo *list;          /* its addresses (own list, net.h) */
};

struct mailssl_probe {
    /* settings */
    int url_ok;
    int service;
    char host[MAILSSL_HOST_MAX];
    int port;
    char *cafile;
    char *servername;               /* NULL: host; "" (lib/live.c only):
                                       no SNI and no name check */
    char *connect_host;             /* NULL: host */
    int connect_port;               /* 0: port */
    int family;
    int32_t timeout_ms;
    int32_t stage_timeout_ms[MAILSSL_STAGE_DANE + 1]; /* 0: none */
    int warn_days, crit_days;
    char *priority;                 /* NULL: "NORMAL" */
    int min_version;                /* gnutls_protocol_t */
    mailssl_credential *client_cred;
    struct mailssl_probe_tlsa *tlsa;
    size_t ntlsa;
    int64_t vtime;
    int dane_mode;                  /* MAILSSL_DANE_* */
    char *dns_anchor;               /* NULL: MAILSSL_DNS_DEFAULT_ANCHOR */
    char *dns_resolver;             /* NULL: /etc/resolv.conf */

    /* DANE lookup (lib/probe/probe_dane.c) */
    struct mailssl__dns *dns;       /* shared by a batch */
    int dns_id, dns_pending;        /* query in flight */
    int dane_answered;              /* the callback ran */
    int dane_err;                   /* libunbound error of the lookup */
    int dane_rcode, dane_secure, dane_bogus, dane_havedata;
    int dane_dnssec;                /* MAILSSL__DNSSEC_* once answered */
    int dane_use;                   /* records go to validation */
    char dane_name[MAILSSL_HOST_MAX + 32];
    char dane_why[256];             /* libunbound's why_bogus */
    struct mailssl_probe_tlsa *dane_recs;
    size_t ndane, dane_total;       /* kept (at most 64), in the answer */
    long dane_matched;              /* -1: not checked */

    /* smtp://DOMAIN with MX lookup (lib/probe/probe_mx.c) */
    int mx_mode;
    int mx_dnssec;                  /* MAILSSL__DNSSEC_* */
    struct mailssl__mx_host mx[MAILSSL__MX_MAX];
    size_t nmx;
    mailssl_probe **mxprobes;       /* one per MX host, preference order */
    size_t nmxprobes, mxcur;
    int mx_preference;              /* of this host's probe; -1: none */

    /* the host's addresses from DNS with DANE or MX (probe_dane.c) */
    struct mailssl__addr_query aq[2]; /* AAAA, A */
    int addr_dnssec;                /* MAILSSL__DNSSEC_* of the addresses;
                                       INSECURE: no TLSA lookup */
    int ai_own;                     /* ai_list is an own list (net.h) */

    /* run state */
    int state;
    int started;
    int want;                       /* MAILSSL_WANT_* while running */
    int64_t t_start, deadline;      /* whole probe (monotonic us) */
    int64_t stage_start, stage_deadline;
    int64_t addr_deadline;          /* this address's share of connect */
    int cur_stage;                  /* stage in progress */
    struct addrinfo *ai_list, *ai_cur;
    int naddr_tried, naddr;
    int connect_errno;
    struct mailssl__transport tx;   /* socket and TLS (probe_tls.c) */
    int implicit;
    unsigned char in[MAILSSL_PROBE_INBUF];
    size_t inlen;
    struct mailssl_buf out;
    size_t outoff;
    struct mailssl_dialogue dlg;
    int dlg_inited;
    size_t phase_lines, phase_bytes;

    int cert_code, cert_severity;   /* what verify found (non-fatal) */
    struct {
        int set;                    /* a DNS stage ended the probe (the
                                       message is in p->message) */
        int code, severity;
    } verdict;

    /* results */
    int status, diagnosis, stage;
    char message[1024];
    char address[64];
    const char *tls_version, *tls_cipher, *tls_group; /* static strings */
    size_t chain_length;
    char **caps;
    size_t ncaps;
    mailssl_report *findings;
    int64_t timing[MAILSSL_STAGE_DANE + 1];
    struct mailssl_certinfo cert;
    int have_cert;
    int64_t now_epoch;              /* wall clock when verified */
    char err[MAILSSL_ERRLEN];
};

/* ---- verification (lib/probe/probe_verify.c) ---------------------------- */
/* What the verification of the peer after a handshake found: the driver
 * copies it into the probe's results. */
struct mailssl__tls_facts {
    const char *version, *cipher, *group; /* static strings */
    int64_t now_epoch;              /* wall clock when verified */
    size_t chain_length;
    struct mailssl_certinfo cert;   /* the leaf's, when have_cert (the
                                       driver takes it over) */
    int have_cert;
    int validated;                  /* the chain validation ran */
    size_t dane_matched;            /* TLSA records that matched */
    int code, severity;             /* the diagnosis the certificate earns */
    char message[1024];             /* its message when not OK */
};
/* Verifies the peer of p's TLS session with p's settings, adds the
 * findings to p->findings and fills f. err receives a local failure. */
void mailssl__probe_tls_verify(const mailssl_probe *p,
                               struct mailssl__tls_facts *f, char *err,
                               size_t errlen);

/* Whole days from the verification time to the leaf's notAfter. */
int64_t mailssl__probe_days_left(const mailssl_probe *p);

/* ---- shared by the probes of a process (lib/probe/probe_cache.c) -------- */
/* The parsed priority for text: 0 and *out set (owned by the cache), or
 * nonzero when it cannot be cached (the caller parses it itself). */
int mailssl__probe_priority(const char *text, gnutls_priority_t *out);
/* mailssl_validate_chain with the trust store of cafile (NULL: system)
 * loaded once per process and the given per-probe settings. Returns what
 * mailssl_validate_chain returns; err set on a negative code. */
int mailssl__probe_validate_shared(const char *cafile, const char *name,
                                   int64_t vtime, int warn_days,
                                   int crit_days,
                                   const unsigned char *const *ders,
                                   const size_t *lens, size_t n,
                                   const unsigned char *ocsp, size_t ocsp_len,
                                   mailssl_report *report, char *err,
                                   size_t errlen);
/* The same with DNSSEC-validated TLSA records and the service whose DANE
 * rules apply (added to the shared validator for this run only). */
int mailssl__probe_validate_shared_dane(
    const char *cafile, const char *name, int64_t vtime, int warn_days,
    int crit_days, const unsigned char *const *ders, const size_t *lens,
    size_t n, const unsigned char *ocsp, size_t ocsp_len,
    const struct mailssl_probe_tlsa *tlsa, size_t ntlsa, int service,
    mailssl_report *report, size_t *dane_matched, char *err, size_t errlen);

/* ---- DANE stage (lib/probe/probe_dane.c) -------------------------------- */
#define MAILSSL__DNSSEC_NONE 0
#define MAILSSL__DNSSEC_SECURE 1
#define MAILSSL__DNSSEC_INSECURE 2
#define MAILSSL__DNSSEC_BOGUS 3
/* Starts the TLSA lookup: 0 (answer awaited on mailssl__dns_fd), 1 when
 * the probe can go on without waiting, or -1 when it finished. */
int mailssl__probe_dane_begin(mailssl_probe *p);
/* After the answer (or a stage timeout, timed_out set): 1 to go on and
 * connect, 0 when the probe finished with a DANE diagnosis. */
int mailssl__probe_dane_decide(mailssl_probe *p, int timed_out);
/* After validation (matched: the records that matched): dane-ok. */
void mailssl__probe_dane_verified(mailssl_probe *p, size_t matched);
/* Cancels a query in flight and drops the DNS context. */
void mailssl__probe_dane_release(mailssl_probe *p);
/* Appends ,"dane":{...} when a lookup ran. */
void mailssl__probe_dane_json(struct mailssl_buf *b, const mailssl_probe *p);
/* 1 for the services whose DANE rules are RFC 7672's (smtp, lmtp). */
int mailssl__probe_dane_smtp(const mailssl_probe *p);

/* ---- the host's addresses from DNS (lib/probe/probe_dane.c) ----------- */
/* 1 when the resolve stage looks the host's A/AAAA up through libunbound
 * (DANE on, or an MX host's probe; not for an IP literal or with
 * connect-to), 0 when it uses getaddrinfo as without DANE. */
int mailssl__probe_addr_wanted(const mailssl_probe *p);
/* Starts the A and/or AAAA lookups (the probe's family): 0 (answers
 * awaited on mailssl__dns_fd), 1 (answered), -2 (local failure, p->err). */
int mailssl__probe_addr_begin(mailssl_probe *p);
/* 1 when every lookup asked has its answer. */
int mailssl__probe_addr_answered(const mailssl_probe *p);
/* After the answers, or at a deadline (which: its words, NULL when not
 * timed out): 1 with p->ai_list set (and p->addr_dnssec; an ok
 * dane-insecure finding when opportunistic and insecure), or 0 with
 * p->verdict set (resolve-failed, dane-insecure, dane-bogus). */
int mailssl__probe_addr_decide(mailssl_probe *p, const char *which);
/* Cancels the lookups in flight and frees their addresses. */
void mailssl__probe_addr_release(mailssl_probe *p);
/* Makes p->dns when the probe has none: 0, or -2 with p->err set. */
int mailssl__probe_dns_ready(mailssl_probe *p);

/* ---- MX (lib/probe/probe_mx.c) ------------------------------------------ */
/* Starts the MX lookup: 0 (answer awaited), 1 (answered), -2 (local
 * failure, p->err set). */
int mailssl__probe_mx_begin(mailssl_probe *p);
/* After the MX answer (or the deadline): 1 when the hosts in p->mx are to
 * be probed, with *dane_mode for their probes, or 0 with p->verdict set. */
int mailssl__probe_mx_decide(mailssl_probe *p, int *dane_mode);
/* After the last host's probe: the worst outcome into p->verdict and
 * p->stage. */
void mailssl__probe_mx_finish(mailssl_probe *p);
/* The host probe being driven, or NULL. */
const mailssl_probe *mailssl__probe_mx_current(const mailssl_probe *p);

/* Takes the common facts of a DNS answer (the callback ran, error,
 * rcode, DNSSEC flags, why_bogus) and returns its MAILSSL__DNSSEC_*. */
int mailssl__probe_dns_take(mailssl_probe *p, int err,
                            const struct ub_result *res);

/* The DNS stages' (lib/probe/probe_dane.c, lib/probe/probe_mx.c) way to
 * end a probe: the verdict is recorded in p->verdict and p->message, and
 * the driver, to which the stage returns, ends the probe with it. */
void mailssl__probe_verdict(mailssl_probe *p, int code, int severity,
                            const char *fmt, ...) MAILSSL_PRINTF(4, 5);

#endif
